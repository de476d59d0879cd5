//! The relay's side of the recorder: the [`RecorderTap`] of each connection and the bounded
//! queue it feeds the writer thread through.
//!
//! The queue is bounded twice: in messages (the channel) and in bytes (a semaphore whose
//! permits each queued chunk holds until the writer is done with it). A full queue makes the
//! relay wait, so memory stays bounded however slow the disk is.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use wiretape_fixtures::cassette::{EndedBy, Open, Sender};

use super::config::RecordConfig;
use crate::relay::{Direction, Tap};

/// What goes from the relay to the writer thread.
pub(super) enum Msg {
    /// A connection was answered (or refused): its cassette's header.
    Open(u64, Box<Open>),
    /// Frames of one connection; the permit holds their share of the byte budget until the
    /// writer thread is done with them.
    Chunk(u64, Sender, Duration, Bytes, OwnedSemaphorePermit),
    /// A connection ended: its cassette's end line.
    End(u64, Box<Ending>),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

/// How a connection ended, in the cassette's terms.
pub(super) struct Ending {
    /// Time since the connection opened.
    pub(super) at: Duration,
    /// Who ended it.
    pub(super) by: EndedBy,
    /// What went wrong, if anything.
    pub(super) error: Option<String>,
}

/// The writer thread's end of the queue.
pub(super) type Receiver = mpsc::Receiver<Msg>;

/// The relay's end of the queue. Cheap to clone.
#[derive(Debug, Clone)]
pub(super) struct Queue {
    tx: mpsc::Sender<Msg>,
    /// The byte budget of the queue (see [`RecordConfig::queue_bytes`]).
    budget: Arc<Semaphore>,
    /// Its size.
    limit: usize,
}

impl Queue {
    pub(super) fn new(config: &RecordConfig) -> (Self, Receiver) {
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let limit = config.queue_bytes.clamp(1 << 16, u32::MAX as usize);
        let budget = Arc::new(Semaphore::new(limit));
        (Self { tx, budget, limit }, rx)
    }

    /// Queues a message other than frames (waits while the queue is full).
    pub(super) async fn send(&self, msg: Msg) {
        let _ = self.tx.send(msg).await;
    }

    /// Queues a copy of `frames` (waits while the queue is full, in messages or in bytes).
    async fn chunk(&self, conn: u64, from: Sender, at: Duration, frames: &[u8]) {
        // A chunk larger than the whole budget takes all of it (and so waits for an empty
        // queue) rather than never fitting.
        let want = frames.len().clamp(1, self.limit) as u32;
        let Ok(permit) = self.budget.clone().acquire_many_owned(want).await else {
            return;
        };
        let chunk = Bytes::copy_from_slice(frames);
        self.send(Msg::Chunk(conn, from, at, chunk, permit)).await;
    }
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Msg")
    }
}

/// The [`Tap`] of one connection: queues what the relay forwarded for the writer thread.
#[derive(Debug, Clone)]
pub(crate) struct RecorderTap {
    pub(super) conn: u64,
    /// `None` when nothing needs frames (no cassettes, no live view).
    pub(super) queue: Option<Queue>,
}

impl Tap for RecorderTap {
    async fn relayed(&mut self, direction: Direction, at: Duration, frames: &[u8]) {
        if let Some(queue) = &self.queue {
            queue.chunk(self.conn, sender(direction), at, frames).await;
        }
    }
}

/// The cassette's name for who sent the frames going `direction`.
fn sender(direction: Direction) -> Sender {
    match direction {
        Direction::ClientToUpstream => Sender::Client,
        Direction::UpstreamToClient => Sender::Server,
    }
}
