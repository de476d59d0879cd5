//! The hot path: two pumps moving whole WebSocket frames between the client and the upstream.
//!
//! # Policy (what each peer sees)
//! The relay is transparent at the frame level. It forwards the bytes of every frame exactly as
//! received: text, binary, continuation, ping, pong and close, in order, with their masking
//! keys, fragmentation and RSV bits. It never answers a ping and never acknowledges a close
//! itself, so the client sees the upstream's own pong and the upstream's own close reply (a
//! WebSocket library on the proxy's legs would answer both by itself; tungstenite has no switch
//! for that, which is why the relay works below it).
//!
//! The proxy originates a frame in three cases only, always a close, never recorded as a frame
//! (the cassette's end line says what happened instead):
//! - the upstream drops the connection without a close frame: the client gets `1011`
//!   (unexpected condition) with a reason, unless it had sent its own close already (then
//!   its connection just ends, as the upstream ended it) or the relay mirrors drops
//!   ([`UpstreamDrop::Mirror`], `--mirror-drops`). `1014` (bad gateway) would say it better, but
//!   tungstenite-based clients reject it as invalid and answer with a protocol error;
//! - the client drops without a close frame: the upstream gets `1001` (going away);
//! - shutdown (Ctrl-C, SIGTERM, [`crate::ProxyHandle::shutdown`]): both get `1001`.
//!
//! Once a close frame went to a peer, nothing more is written to it. After the first pump ends,
//! the other gets [`RelayLimits::close_timeout`] to finish its side of the close handshake.
//!
//! # Backpressure
//! Each pump writes what it read before it reads again, and hands each chunk to the [`Tap`]
//! (the recorder, whose queue is bounded in bytes) before reading again, so a slow reader
//! slows its writer and a slow disk slows the relay. Each direction reuses one read buffer,
//! which grows only to hold the largest frame seen (at most [`RelayLimits::max_frame`]).
//!
//! # Layout
//! - this file: [`run`], which pairs the two directions;
//! - `pump`: one direction, a loop over its `State`;
//! - `ending`: [`RelayOutcome`], and what both directions share to decide it;
//! - `direction`: [`Peer`], [`Direction`], [`EndedBy`];
//! - `tap`: the [`Tap`] hook the recorder implements;
//! - `limits`: [`RelayLimits`], [`UpstreamDrop`].

mod direction;
mod ending;
mod faults;
mod limits;
mod pump;
mod tap;
#[cfg(test)]
mod tests;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use wiretape_fixtures::fault::{Action, ConnectionFaults, Faults};

pub use direction::{Direction, EndedBy, Peer};
use ending::Ending;
pub use ending::RelayOutcome;
use faults::FaultStage;
pub use limits::{RelayLimits, UpstreamDrop};
use pump::Pump;
pub use tap::{NoTap, Tap};

/// Relays frames between `client` and `upstream` until both directions are done, a peer
/// stops answering, or `cancel` fires (then both peers get close 1001).
pub async fn run<C, U, T>(
    client: C,
    upstream: U,
    tap: T,
    cancel: CancellationToken,
    limits: RelayLimits,
) -> RelayOutcome
where
    C: AsyncRead + AsyncWrite + Send,
    U: AsyncRead + AsyncWrite + Send,
    T: Tap,
{
    let no_faults = Faults::new(None).connection();
    run_with_faults(client, upstream, tap, cancel, limits, no_faults).await
}

/// As [`run`], with the fault rules of this connection (`--fault`) applied between the legs:
/// see `faults` for what each peer sees.
pub async fn run_with_faults<C, U, T>(
    client: C,
    upstream: U,
    tap: T,
    cancel: CancellationToken,
    limits: RelayLimits,
    faults: ConnectionFaults,
) -> RelayOutcome
where
    C: AsyncRead + AsyncWrite + Send,
    U: AsyncRead + AsyncWrite + Send,
    T: Tap,
{
    let (client_rd, client_wr) = tokio::io::split(client);
    let (upstream_rd, upstream_wr) = tokio::io::split(upstream);
    let ending = Ending::new(&cancel);
    let started = Instant::now();
    let stage = FaultStage::new(faults, started);
    let shared = (&ending, &stage);
    let pump = |direction, tap| Pump::new(direction, tap, limits, shared, started);
    let c2u = pump(Direction::ClientToUpstream, tap.clone()).run(client_rd, upstream_wr);
    let u2c = pump(Direction::UpstreamToClient, tap.clone()).run(upstream_rd, client_wr);
    let timer = fault_timer(&stage, &ending, tap, started);
    tokio::pin!(c2u, u2c, timer);
    let late = tokio::select! {
        // A fault timer never ends; what it does, the pumps carry out.
        () = &mut timer => false,
        // The client side finished (closed, dropped or timed out): the upstream side gets the
        // close timeout to finish the handshake.
        () = &mut c2u => tokio::time::timeout(limits.close_timeout, &mut u2c).await.is_err(),
        // The mirror case.
        () = &mut u2c => tokio::time::timeout(limits.close_timeout, &mut c2u).await.is_err(),
    };
    if late {
        tracing::debug!("a peer did not finish the close handshake in time");
    }
    ending.take()
}

/// Fires the connection's timed faults (`close`, `drop`, `stall`) when they are due: tells
/// the tap, then has the pumps do it. Never returns.
async fn fault_timer<T: Tap>(stage: &FaultStage, ending: &Ending, mut tap: T, started: Instant) {
    if stage.is_empty() {
        return std::future::pending().await;
    }
    loop {
        let due = stage.next_due();
        tokio::select! {
            // A timer is due.
            () = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {}
            // A frame scheduled a fault (`close ... on TYPE`): look again.
            () = stage.scheduled.notified() => continue,
        }
        while let Some(fired) = stage.due() {
            tracing::info!(rule = %fired.rule, "fault fired");
            tap.fault(started.elapsed(), &fired, Peer::Client).await;
            match fired.action {
                Action::Close { code, reason } => ending.abort_each(
                    Some((code, reason)),
                    Some((1000, UPSTREAM_GOODBYE.to_owned())),
                ),
                Action::Drop => ending.abort_each(None, Some((1001, UPSTREAM_GOODBYE.to_owned()))),
                Action::Stall => stage.stall(),
                _ => {}
            }
        }
    }
}

/// The reason of the close the upstream gets when a fault ends the client's connection.
const UPSTREAM_GOODBYE: &str = "wiretape: a fault rule ended the client's connection";
