//! The relay's side of the recorder: the [`RecorderTap`] of each connection and the bounded
//! queue it feeds the writer thread through.
//!
//! The queue is bounded twice, in messages ([`RecordConfig::queue`]) and in bytes of frames
//! ([`RecordConfig::queue_bytes`]): each queued message holds its permits until the writer
//! is done with it, and a relay that would exceed either waits (backpressure), so memory stays
//! bounded however slow the disk is.
//!
//! # Waking the writer
//! Waking a sleeping thread costs the relay a system call and, on a machine with few cores,
//! a context switch on the path of the next frame. So the relay does not wake the writer for
//! every chunk: a writer that just worked *lingers* (sleeps at most [`LINGER`]) and picks up
//! whatever arrived meanwhile, in one batch; only a writer that found nothing to do during a
//! whole linger goes to sleep for good, and is woken by the next message. Control messages
//! (open, end, flush) and a queue a quarter full (at most [`WAKE_BYTES`]) wake it at once. The
//! cassette therefore trails the relay by at most about a millisecond, and each batch still
//! reaches the file as whole lines.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use wiretape_fixtures::cassette::{EndedBy, Exchange, FaultLine, Open, Sender};
use wiretape_fixtures::fault::Fired;

use super::config::RecordConfig;
use crate::relay::{Direction, Peer, Tap};

/// How long a writer that just worked waits for more before going to sleep until woken.
pub(super) const LINGER: Duration = Duration::from_millis(1);

/// Queued frame bytes that wake a lingering writer at once (or a quarter of the byte budget,
/// if that is less).
const WAKE_BYTES: usize = 256 << 10;

/// What goes from the relay to the writer thread.
pub(super) enum Msg {
    /// A connection was answered (or refused): its cassette's header.
    Open(u64, Box<Open>),
    /// Frames of one connection, `at` after it opened; the permit holds their share of the
    /// byte budget until the writer is done with them.
    Chunk(u64, Sender, Duration, Bytes, OwnedSemaphorePermit),
    /// An HTTP exchange of the forward proxy: its cassette's `http` line.
    Http(u64, Box<Exchange>),
    /// A fault rule fired on a connection: its cassette's fault line.
    Fault(u64, Box<FaultLine>),
    /// A connection ended: its cassette's end line.
    End(u64, Box<Ending>),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

/// A queued message and its place in the queue.
pub(super) struct Queued {
    pub(super) msg: Msg,
    _slot: OwnedSemaphorePermit,
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

/// What the relay and the writer share. The mutex is held to push or to take the queue,
/// never across an `.await` or a write.
struct Shared {
    state: Mutex<State>,
    /// One permit per queued message.
    slots: Arc<Semaphore>,
    /// One permit per queued byte of frames.
    bytes: Arc<Semaphore>,
    /// Size of the byte budget.
    limit: usize,
    /// Queued bytes, or messages, that wake a lingering writer at once: a quarter of either
    /// budget (at most [`WAKE_BYTES`]), so a full queue never waits out a linger.
    wake_at: (usize, usize),
    /// The writer thread, to wake it.
    writer: OnceLock<Thread>,
}

struct State {
    queue: VecDeque<Queued>,
    /// Frame bytes in `queue`.
    queued_bytes: usize,
    /// Live [`Queue`] handles; the writer ends when none is left and the queue is empty.
    senders: usize,
    /// The writer sleeps until woken (it does not linger).
    asleep: bool,
}

/// The relay's end of the queue. Cheap to clone; the writer ends once every clone is gone.
#[derive(Debug)]
pub(super) struct Queue {
    shared: Arc<Shared>,
}

/// The writer thread's end of the queue.
pub(super) struct Receiver {
    shared: Arc<Shared>,
    /// Whether the last batch had work in it: then wait at most [`LINGER`] for the next.
    lingering: bool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("limit", &self.limit)
            .finish()
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Queue {
    /// A queue bounded as `config` says, and the receiver the writer thread must
    /// [`Receiver::attach`] to.
    pub(super) fn new(config: &RecordConfig) -> (Self, Receiver) {
        let limit = config.queue_bytes.clamp(1 << 16, u32::MAX as usize);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                queued_bytes: 0,
                senders: 1,
                asleep: false,
            }),
            slots: Arc::new(Semaphore::new(config.queue.max(1))),
            bytes: Arc::new(Semaphore::new(limit)),
            limit,
            wake_at: (WAKE_BYTES.min(limit / 4), (config.queue / 4).max(1)),
            writer: OnceLock::new(),
        });
        let receiver = Receiver {
            shared: shared.clone(),
            lingering: false,
        };
        (Self { shared }, receiver)
    }

    /// Queues a message other than frames (waits while the queue is full) and wakes the
    /// writer.
    pub(super) async fn send(&self, msg: Msg) {
        let Ok(slot) = self.shared.slots.clone().acquire_owned().await else {
            return;
        };
        self.push(Queued { msg, _slot: slot }, 0, true);
    }

    /// Queues a copy of `frames` (waits while the queue is full, in messages or in bytes).
    async fn chunk(&self, conn: u64, from: Sender, at: Duration, frames: &[u8]) {
        // A chunk larger than the whole budget takes all of it (and so waits for an empty
        // queue) rather than never fitting.
        let want = frames.len().clamp(1, self.shared.limit);
        let Ok(bytes) = self
            .shared
            .bytes
            .clone()
            .acquire_many_owned(want as u32)
            .await
        else {
            return;
        };
        let Ok(slot) = self.shared.slots.clone().acquire_owned().await else {
            return;
        };
        let chunk = Bytes::copy_from_slice(frames);
        let msg = Msg::Chunk(conn, from, at, chunk, bytes);
        self.push(Queued { msg, _slot: slot }, want, false);
    }

    fn push(&self, queued: Queued, bytes: usize, urgent: bool) {
        let wake = {
            let mut state = self.shared.state();
            state.queue.push_back(queued);
            state.queued_bytes += bytes;
            let (bytes_at, messages_at) = self.shared.wake_at;
            let wake = state.asleep
                || urgent
                || state.queued_bytes >= bytes_at
                || state.queue.len() >= messages_at;
            if wake {
                state.asleep = false;
            }
            wake
        };
        if wake {
            self.shared.wake();
        }
    }
}

impl Shared {
    fn wake(&self) {
        if let Some(writer) = self.writer.get() {
            writer.unpark();
        }
    }
}

impl Clone for Queue {
    fn clone(&self) -> Self {
        self.shared.state().senders += 1;
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        let last = {
            let mut state = self.shared.state();
            state.senders -= 1;
            state.senders == 0
        };
        if last {
            self.shared.wake();
        }
    }
}

impl Receiver {
    /// Makes the calling thread the one the relay wakes.
    pub(super) fn attach(&self) {
        let _ = self.shared.writer.set(std::thread::current());
    }

    /// Moves everything queued into `batch`, waiting for something first (see the module
    /// docs for how long); `false` once every sender is gone and nothing is left.
    pub(super) fn next_batch(&mut self, batch: &mut Vec<Queued>) -> bool {
        loop {
            let mut state = self.shared.state();
            if !state.queue.is_empty() {
                batch.extend(state.queue.drain(..));
                state.queued_bytes = 0;
                self.lingering = true;
                return true;
            }
            if state.senders == 0 {
                return false;
            }
            if self.lingering {
                drop(state);
                std::thread::park_timeout(LINGER);
                self.lingering = false;
            } else {
                state.asleep = true;
                drop(state);
                std::thread::park();
            }
        }
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

    async fn fault(&mut self, at: Duration, fired: &Fired, to: Peer) {
        if let Some(queue) = &self.queue {
            let to = match to {
                Peer::Client => Sender::Client,
                Peer::Upstream => Sender::Server,
            };
            let ms = u64::try_from(at.as_millis()).unwrap_or(u64::MAX);
            let line = FaultLine::new(ms, fired, to);
            queue.send(Msg::Fault(self.conn, Box::new(line))).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer thread that counts frame bytes until every sender is gone.
    fn counting_writer(rx: Receiver) -> std::thread::JoinHandle<(usize, usize)> {
        let mut rx = rx;
        std::thread::spawn(move || {
            rx.attach();
            let (mut bytes, mut others) = (0, 0);
            let mut batch = Vec::new();
            while rx.next_batch(&mut batch) {
                for queued in batch.drain(..) {
                    match queued.msg {
                        Msg::Chunk(_, _, _, chunk, _) => bytes += chunk.len(),
                        Msg::Flush(done) => {
                            others += 1;
                            let _ = done.send(());
                        }
                        _ => others += 1,
                    }
                }
            }
            (bytes, others)
        })
    }

    #[tokio::test]
    async fn everything_queued_reaches_the_writer_and_the_budget_comes_back() {
        let config = RecordConfig {
            queue: 8,
            queue_bytes: 1 << 16,
            ..RecordConfig::default()
        };
        let (queue, rx) = Queue::new(&config);
        let writer = counting_writer(rx);
        // More chunks and bytes than the queue holds at once: the relay waits, never fails.
        for _ in 0..100 {
            queue
                .chunk(1, Sender::Client, Duration::ZERO, &[7; 4096])
                .await;
        }
        let (done, flushed) = oneshot::channel();
        queue.send(Msg::Flush(done)).await;
        flushed
            .await
            .expect("a flush is answered once all before it is handled");
        let shared = queue.shared.clone();
        drop(queue);
        assert_eq!(writer.join().unwrap(), (100 * 4096, 1));
        assert_eq!(shared.bytes.available_permits(), 1 << 16);
        assert_eq!(shared.slots.available_permits(), 8);
    }
}
