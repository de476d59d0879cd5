//! What to record and show: [`RecordConfig`].

use std::path::PathBuf;

use wiretape_fixtures::redact::Redactor;

/// What to record and show.
#[derive(Debug, Clone)]
pub struct RecordConfig {
    /// Where cassettes go; `None` records nothing to disk.
    pub dir: Option<PathBuf>,
    /// The redaction rules applied before anything is written.
    pub redactor: Redactor,
    /// Print one line per message on stderr.
    pub live_view: bool,
    /// Capacity of the queue between the relay and the recorder thread, in chunks.
    pub queue: usize,
    /// Bytes of frames that may wait in that queue; a relay that would exceed it waits.
    pub queue_bytes: usize,
}

impl Default for RecordConfig {
    fn default() -> Self {
        Self {
            dir: None,
            redactor: Redactor::default(),
            live_view: false,
            queue: 4096,
            queue_bytes: 16 << 20,
        }
    }
}

impl RecordConfig {
    /// Whether anything at all needs the frames.
    pub fn is_active(&self) -> bool {
        self.dir.is_some() || self.live_view
    }
}
