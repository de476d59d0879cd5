//! The limits of one relayed connection.

use std::time::Duration;

/// Limits of one relayed connection.
#[derive(Debug, Clone, Copy)]
pub struct RelayLimits {
    /// Largest frame payload accepted; a larger one ends the connection with 1009 to both.
    pub max_frame: u64,
    /// How long the second direction may take to finish after the first ended, and how long
    /// a peer has to answer a close the proxy sent.
    pub close_timeout: Duration,
    /// Initial read buffer per direction.
    pub read_buffer: usize,
    /// What the client gets when the upstream drops the connection without a close frame.
    pub upstream_drop: UpstreamDrop,
}

/// What the client gets when the upstream drops the TCP connection without a close frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UpstreamDrop {
    /// A close 1011 saying so (the default: a person at `wscat` learns what happened).
    #[default]
    Close,
    /// The same: its connection is dropped without a close frame (`--mirror-drops`), what
    /// conformance suites expect from a transparent intermediary.
    Mirror,
}

impl Default for RelayLimits {
    fn default() -> Self {
        Self {
            max_frame: 64 << 20,
            close_timeout: Duration::from_secs(5),
            read_buffer: 8 << 10,
            upstream_drop: UpstreamDrop::Close,
        }
    }
}
