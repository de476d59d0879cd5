//! How a relayed connection ended ([`RelayOutcome`]), and what both directions share to
//! decide it ([`Ending`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use tokio_util::sync::CancellationToken;

use super::direction::{EndedBy, Peer};
use crate::error::{Error, Phase, Side};

/// How a relayed connection ended: a value, not an error (R5).
#[derive(Debug)]
pub struct RelayOutcome {
    /// Who ended it first: the side that sent the first close frame or dropped first, or the
    /// proxy (shutdown, oversized frame).
    pub ended_by: EndedBy,
    /// What went wrong, when the end was not a close handshake: the side and phase (a relay
    /// failure is [`crate::Phase::Relay`]) and the cause.
    pub error: Option<Error>,
}

/// The first ending event wins; the std mutexes are held for an assignment only.
pub(super) struct Ending {
    outcome: Mutex<Option<RelayOutcome>>,
    /// Whether the client ([0]) and the upstream ([1]) sent a close frame.
    closes: [AtomicBool; 2],
    /// Fired to make both pumps send [`Ending::goodbye`] to their peer: shutdown (a child of
    /// the proxy's token) or a pump that gave up on the connection (oversized frame).
    pub(super) stop: CancellationToken,
    /// The close the proxy sends each peer (client [0], upstream [1]) when stopping: 1001
    /// for shutdown unless a pump or a fault set another; `None`: no close frame, the
    /// connection is cut (a `drop` fault).
    goodbye: Mutex<[Option<(u16, String)>; 2]>,
}

impl Ending {
    pub(super) fn new(cancel: &CancellationToken) -> Self {
        Self {
            outcome: Mutex::new(None),
            closes: Default::default(),
            stop: cancel.child_token(),
            goodbye: Mutex::new(std::array::from_fn(|_| {
                Some((1001, "wiretape is shutting down".into()))
            })),
        }
    }

    /// Notes that `peer` sent a close frame.
    pub(super) fn closed(&self, peer: Peer) {
        self.closes[peer as usize].store(true, Ordering::Relaxed);
    }

    /// Whether `peer` sent a close frame.
    pub(super) fn sent_close(&self, peer: Peer) -> bool {
        self.closes[peer as usize].load(Ordering::Relaxed)
    }

    /// Records how the connection ended, unless something ended it before.
    pub(super) fn first(&self, ended_by: EndedBy, error: Option<Error>) {
        let mut slot = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(RelayOutcome { ended_by, error });
        }
    }

    /// Stops both directions, each sending close `code` with `reason` to its peer.
    pub(super) fn abort(&self, code: u16, reason: String) {
        self.abort_each(Some((code, reason.clone())), Some((code, reason)));
    }

    /// Stops both directions with a close of its own for each peer (`None`: cut without one).
    pub(super) fn abort_each(
        &self,
        client: Option<(u16, String)>,
        upstream: Option<(u16, String)>,
    ) {
        *self.goodbye.lock().unwrap_or_else(|e| e.into_inner()) = [client, upstream];
        self.stop.cancel();
    }

    /// The close the proxy sends `peer` when stopping (`None`: none, the connection is cut).
    pub(super) fn goodbye(&self, peer: Peer) -> Option<(u16, String)> {
        self.goodbye.lock().unwrap_or_else(|e| e.into_inner())[peer as usize].clone()
    }

    pub(super) fn take(&self) -> RelayOutcome {
        let mut slot = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
        slot.take().unwrap_or_else(|| RelayOutcome {
            ended_by: EndedBy::Proxy,
            error: Some(Error::new(
                Side::Local,
                Phase::Relay,
                "relay ended without a close",
            )),
        })
    }
}
