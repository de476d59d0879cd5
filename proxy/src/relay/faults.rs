//! The fault stage between the two legs (`--fault`): the pure engine of
//! `wiretape_fixtures::fault` on the relay's clock, shared by both pumps and the fault timer.
//! The proxy knows nothing of the frames' meaning: a rule naming a `type` matches the JSON
//! `type` field of a text frame, whatever protocol it is.
//!
//! What each peer sees (docs/faults.md):
//! - `close CODE`: the client gets the close CODE from the proxy; the upstream gets 1000
//!   ("wiretape: a fault rule closed the client's connection"), so the real server sees a
//!   normal end;
//! - `drop`: the client's connection ends without a close frame; the upstream gets 1001;
//! - `stall`: nothing more reaches the client (frames from the upstream are read and
//!   discarded, unrecorded); the client's frames still reach the upstream;
//! - `delay`, `duplicate`, `drop-frame`: on the frame's way to its destination; the cassette
//!   records what was actually delivered, and a fault line for each.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio::time::Instant;
use wiretape_fixtures::fault::{ConnectionFaults, Fired, FrameFate};
use wiretape_fixtures::frame::Sender;

use super::direction::Direction;
use crate::frame::{apply_mask, FrameHeader, OP_BINARY, OP_TEXT};

/// One connection's fault engine.
pub(super) struct FaultStage {
    engine: Mutex<ConnectionFaults>,
    /// No rule applies: the relay's fast path stays as it is.
    empty: bool,
    /// When the connection opened (what `after` counts from).
    started: Instant,
    /// A `stall` fired: nothing more goes to the client.
    stalled: AtomicBool,
    /// Wakes the fault timer when a frame scheduled a connection fault (`close ... on TYPE`).
    pub(super) scheduled: tokio::sync::Notify,
}

impl FaultStage {
    pub(super) fn new(engine: ConnectionFaults, started: Instant) -> Self {
        Self {
            empty: engine.is_empty(),
            engine: Mutex::new(engine),
            started,
            stalled: AtomicBool::new(false),
            scheduled: tokio::sync::Notify::new(),
        }
    }

    fn engine(&self) -> std::sync::MutexGuard<'_, ConnectionFaults> {
        self.engine.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether no rule applies to this connection.
    pub(super) fn is_empty(&self) -> bool {
        self.empty
    }

    /// When a connection fault is next due.
    pub(super) fn next_due(&self) -> Option<Instant> {
        if self.empty {
            return None;
        }
        self.engine().next_due().map(|after| self.started + after)
    }

    /// The connection fault that fires now, if any.
    pub(super) fn due(&self) -> Option<Fired> {
        self.engine().due(self.started.elapsed())
    }

    /// A `stall` fired.
    pub(super) fn stall(&self) {
        self.stalled.store(true, Ordering::Relaxed);
    }

    /// Whether frames going `direction` are swallowed by a stall.
    pub(super) fn swallows(&self, direction: Direction) -> bool {
        direction == Direction::UpstreamToClient && self.stalled.load(Ordering::Relaxed)
    }

    /// What happens to one whole frame (`raw`, as on the wire) going `direction`. Only
    /// unfragmented text and binary frames count as frames; the others always pass.
    pub(super) fn frame(
        &self,
        direction: Direction,
        header: &FrameHeader,
        raw: &[u8],
    ) -> FrameFate {
        if self.empty || !header.fin || !matches!(header.opcode, OP_TEXT | OP_BINARY) {
            return FrameFate::Pass;
        }
        let mut payload = raw[header.header_len..].to_vec();
        if let Some(mask) = header.mask {
            apply_mask(&mut payload, mask, 0);
        }
        let text = (header.opcode == OP_TEXT)
            .then(|| std::str::from_utf8(&payload).ok())
            .flatten();
        let from = match direction {
            Direction::ClientToUpstream => Sender::Client,
            Direction::UpstreamToClient => Sender::Server,
        };
        let mut engine = self.engine();
        let before = engine.next_due();
        let fate = engine.frame(self.started.elapsed(), from, text);
        if engine.next_due() != before {
            self.scheduled.notify_one();
        }
        fate
    }
}
