//! The recorder: turns relayed chunks into cassette lines and the live view, off the hot path.
//!
//! The relay hands each chunk of whole frames to its connection's [`tap::RecorderTap`], which
//! queues a copy on a bounded queue; one thread, `wiretape-recorder` ([`writer`]), owns every
//! open cassette, writes one line per message and prints the [`live`] view. A full queue makes
//! the relay wait (backpressure), so memory stays bounded however slow the disk is.
//!
//! When a cassette cannot be written (disk full, directory removed or made read-only), the
//! recorder says so loudly on stderr and in the log, stops writing that cassette (what was
//! written so far stays a readable cassette) and the relay carries on.
//!
//! This is the one place where the relay's terms ([`crate::relay::Direction`],
//! [`crate::relay::EndedBy`]) become the cassette's ([`Sender`], [`EndedBy`]).
//!
//! [`Sender`]: wiretape_fixtures::cassette::Sender

mod config;
mod live;
mod tap;
mod writer;

use std::time::Duration;

use wiretape_fixtures::cassette::{EndedBy, Exchange, Open};

use crate::relay::{self, RelayOutcome};
pub use config::RecordConfig;
pub(crate) use tap::RecorderTap;
use tap::{Ending, Msg, Queue};

/// The sending side of the recorder, cloned into every connection.
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    /// `None` when nothing needs frames (no cassettes, no live view): the taps do nothing.
    queue: Option<Queue>,
}

impl Recorder {
    /// Starts the recorder thread. Dropping every [`Recorder`] clone ends it; join the handle
    /// to know every cassette is finished.
    pub(crate) fn start(
        config: RecordConfig,
    ) -> std::io::Result<(Self, std::thread::JoinHandle<()>)> {
        let (queue, rx) = Queue::new(&config);
        let active = config.is_active();
        let thread = writer::spawn(config, rx)?;
        Ok((
            Self {
                queue: active.then_some(queue),
            },
            thread,
        ))
    }

    pub(crate) async fn open(&self, conn: u64, open: Open) {
        if let Some(queue) = &self.queue {
            queue.send(Msg::Open(conn, Box::new(open))).await;
        }
    }

    /// Queues the `http` line of `conn`, an HTTP exchange of the forward proxy (already
    /// redacted: its bodies are made by [`wiretape_fixtures::redact::Redactor::body`]).
    pub(crate) async fn exchange(&self, conn: u64, exchange: Exchange) {
        if let Some(queue) = &self.queue {
            queue.send(Msg::Http(conn, Box::new(exchange))).await;
        }
    }

    /// A recorder that records nothing: for what a forward proxy passes on without
    /// intercepting it (`--hosts`).
    pub(crate) fn off() -> Self {
        Self { queue: None }
    }

    /// Queues the end line of `conn`, `at` after it opened.
    pub(crate) async fn end(&self, conn: u64, at: Duration, outcome: RelayOutcome) {
        if let Some(queue) = &self.queue {
            let ending = Ending {
                at,
                by: match outcome.ended_by {
                    relay::EndedBy::Client => EndedBy::Client,
                    relay::EndedBy::Upstream => EndedBy::Server,
                    relay::EndedBy::Proxy => EndedBy::Proxy,
                },
                error: outcome.error.map(|e| e.cause_text()),
            };
            queue.send(Msg::End(conn, Box::new(ending))).await;
        }
    }

    /// Queues a fault line for `conn` (one fired outside the relay: a refused handshake).
    pub(crate) async fn fault(
        &self,
        conn: u64,
        at: Duration,
        fired: &wiretape_fixtures::fault::Fired,
    ) {
        let mut tap = self.tap(conn);
        relay::Tap::fault(&mut tap, at, fired, relay::Peer::Client).await;
    }

    /// Waits until everything queued so far is written.
    pub(crate) async fn flush(&self) {
        if let Some(queue) = &self.queue {
            let (done, written) = tokio::sync::oneshot::channel();
            queue.send(Msg::Flush(done)).await;
            let _ = written.await;
        }
    }

    pub(crate) fn tap(&self, conn: u64) -> RecorderTap {
        RecorderTap {
            conn,
            queue: self.queue.clone(),
        }
    }
}
