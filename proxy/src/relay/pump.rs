//! One direction of the relay: reads whole frames from its source and writes them to its
//! destination, as a loop over its [`State`].

use bytes::{Buf as _, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::time::Instant;

use super::direction::{Direction, EndedBy, Peer};
use super::ending::Ending;
use super::faults::FaultStage;
use super::limits::{RelayLimits, UpstreamDrop};
use super::tap::Tap;
use crate::error::{Context, Error, Phase};
use crate::frame::{self, FrameHeader, OP_CLOSE};
use wiretape_fixtures::fault::FrameFate;

/// Where one direction is in the connection's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Every whole frame read from the source is written to the destination, then tapped.
    Relaying,
    /// Writing to the destination failed: the source is still read, and its frames dropped,
    /// until it ends.
    DestinationFailed,
    /// The source sent its close frame (forwarded, if the destination could take it): nothing
    /// more goes to the destination, and the source has until `deadline` to end its side.
    SourceClosed {
        /// When the proxy stops waiting.
        deadline: Instant,
    },
    /// The proxy is stopping the connection (shutdown, or the other direction gave up): its
    /// close went to the destination (if it could take one), and the source has until
    /// `deadline` to answer with its own close.
    Stopping {
        /// When the proxy stops waiting.
        deadline: Instant,
    },
}

impl State {
    /// Whether frames may still be written to the destination.
    fn writable(self) -> bool {
        self == State::Relaying
    }

    fn deadline(self) -> Option<Instant> {
        match self {
            State::SourceClosed { deadline } | State::Stopping { deadline } => Some(deadline),
            State::Relaying | State::DestinationFailed => None,
        }
    }
}

/// One direction of a relayed connection.
pub(super) struct Pump<'a, T> {
    direction: Direction,
    tap: T,
    limits: RelayLimits,
    ending: &'a Ending,
    faults: &'a FaultStage,
    started: Instant,
}

impl<'a, T: Tap> Pump<'a, T> {
    pub(super) fn new(
        direction: Direction,
        tap: T,
        limits: RelayLimits,
        (ending, faults): (&'a Ending, &'a FaultStage),
        started: Instant,
    ) -> Self {
        Self {
            direction,
            tap,
            limits,
            ending,
            faults,
            started,
        }
    }

    /// Relays from `src` to `dst` until this direction is done.
    pub(super) async fn run<R, W>(mut self, mut src: R, mut dst: W)
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut buf = BytesMut::with_capacity(self.limits.read_buffer);
        let mut state = State::Relaying;
        loop {
            // Forward every complete frame in the buffer, in one write.
            let scan = frame::scan(&mut buf, self.limits.max_frame);
            if scan.ready > 0 {
                state = self.forward(&buf[..scan.ready], &mut dst, state).await;
                // The buffer is reused in place: no allocation per read.
                buf.advance(scan.ready);
                if scan.close {
                    let Some(next) = self.source_closed(state) else {
                        let _ = dst.shutdown().await;
                        return;
                    };
                    state = next;
                }
            }
            if scan.oversized {
                self.give_up(&mut dst, state).await;
                return;
            }
            if buf.capacity() - buf.len() < 1024 {
                buf.reserve(self.limits.read_buffer);
            }
            let deadline = state.deadline();
            let read = tokio::select! {
                biased;
                // Shutdown, or the other direction gave up: say goodbye to the destination
                // once, then wait for the source's close (bounded by the deadline).
                () = self.ending.stop.cancelled(), if !matches!(state, State::Stopping { .. }) => {
                    match self.stop(&mut dst, state).await {
                        Some(next) => state = next,
                        None => return,
                    }
                    continue;
                }
                // The peer did not finish the close handshake in time.
                () = sleep_until(deadline), if deadline.is_some() => {
                    let _ = dst.shutdown().await;
                    return;
                }
                // More bytes (or EOF) from the source.
                read = src.read_buf(&mut buf) => read,
            };
            match read {
                // End of a clean close: pass the TCP end on.
                Ok(0) | Err(_) if matches!(state, State::SourceClosed { .. }) => {
                    let _ = dst.shutdown().await;
                    return;
                }
                // A clean EOF, or a TLS peer that vanished without close_notify: either way the
                // peer is gone without a close frame.
                Ok(0) => return self.dropped(&mut dst, state, None).await,
                Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return self.dropped(&mut dst, state, None).await;
                }
                Err(err) => return self.dropped(&mut dst, state, Some(err)).await,
                Ok(_) => {}
            }
        }
    }

    /// Writes `chunk` (whole frames) to the destination if it still takes frames, then
    /// hands it to the tap. A failed write ends the destination's part.
    async fn forward<W: AsyncWrite + Unpin>(
        &mut self,
        chunk: &[u8],
        dst: &mut W,
        state: State,
    ) -> State {
        if !state.writable() || self.faults.swallows(self.direction) {
            return state;
        }
        if !self.faults.is_empty() {
            return self.forward_faulted(chunk, dst, state).await;
        }
        self.write_tapped(chunk, dst, state).await
    }

    /// Writes whole frames to the destination, then hands them to the tap.
    async fn write_tapped<W: AsyncWrite + Unpin>(
        &mut self,
        chunk: &[u8],
        dst: &mut W,
        state: State,
    ) -> State {
        if let Err(err) = dst.write_all(chunk).await {
            let peer = self.direction.destination();
            let what = format!("writing to the {} failed", peer.name());
            let error = Error::new(peer.into(), Phase::Relay, Context::new(what, err));
            self.ending.first(peer.into(), Some(error));
            return State::DestinationFailed;
        }
        self.tap
            .relayed(self.direction, self.started.elapsed(), chunk)
            .await;
        state
    }

    /// With fault rules: frame by frame through the fault stage, which may hold a frame back
    /// (the frames after it wait: order is kept, and nothing more is read meanwhile), send
    /// it twice or not at all. Each fault goes to the tap before the frame's fate is done.
    async fn forward_faulted<W: AsyncWrite + Unpin>(
        &mut self,
        chunk: &[u8],
        dst: &mut W,
        mut state: State,
    ) -> State {
        let mut at = 0usize;
        while let Some(header) = FrameHeader::parse(&chunk[at..]) {
            let Ok(len) = usize::try_from(header.frame_len()) else {
                break;
            };
            let Some(raw) = chunk.get(at..at + len) else {
                break;
            };
            at += len;
            let copies = match self.faults.frame(self.direction, &header, raw) {
                FrameFate::Pass => 1,
                FrameFate::Drop(fired) => {
                    self.fault(&fired).await;
                    0
                }
                FrameFate::Duplicate(fired) => {
                    self.fault(&fired).await;
                    2
                }
                FrameFate::Delay(delay, fired) => {
                    self.fault(&fired).await;
                    tokio::time::sleep(delay).await;
                    1
                }
            };
            for _ in 0..copies {
                state = self.write_tapped(raw, dst, state).await;
                if !state.writable() {
                    return state;
                }
            }
        }
        state
    }

    /// Tells the tap a fault was done to this direction's destination.
    async fn fault(&mut self, fired: &wiretape_fixtures::fault::Fired) {
        let to = self.direction.destination();
        tracing::info!(rule = %fired.rule, to = to.name(), "fault fired");
        self.tap.fault(self.started.elapsed(), fired, to).await;
    }

    /// The source's close frame went by; `None` when this direction is done with it.
    fn source_closed(&self, state: State) -> Option<State> {
        let source = self.direction.source();
        self.ending.closed(source);
        self.ending.first(source.into(), None);
        match state {
            // The proxy's own close was answered.
            State::Stopping { .. } => None,
            State::SourceClosed { deadline } => Some(State::SourceClosed { deadline }),
            State::Relaying | State::DestinationFailed => Some(State::SourceClosed {
                deadline: self.close_deadline(),
            }),
        }
    }

    /// The stop signal fired; `None` when this direction is done.
    async fn stop<W: AsyncWrite + Unpin>(&self, dst: &mut W, state: State) -> Option<State> {
        self.ending.first(EndedBy::Proxy, None);
        match state {
            State::Relaying => {
                match self.ending.goodbye(self.direction.destination()) {
                    Some((code, reason)) => {
                        let _ = self.send_close(dst, code, &reason).await;
                    }
                    // A `drop` fault: no close frame, the destination's stream just ends.
                    None => {
                        let _ = dst.shutdown().await;
                    }
                }
                Some(State::Stopping {
                    deadline: self.close_deadline(),
                })
            }
            State::DestinationFailed => Some(State::Stopping {
                deadline: self.close_deadline(),
            }),
            // The source closed and now the proxy stops too: nothing to wait for.
            State::SourceClosed { .. } => {
                let _ = dst.shutdown().await;
                None
            }
            State::Stopping { .. } => Some(state),
        }
    }

    /// A frame over the size limit: stop both directions with 1009; nothing more is read from
    /// this source.
    async fn give_up<W: AsyncWrite + Unpin>(&self, dst: &mut W, state: State) {
        let reason = format!(
            "wiretape: frame from the {} exceeds {} bytes",
            self.direction.source().name(),
            self.limits.max_frame
        );
        let error = Error::new(self.direction.source().into(), Phase::Relay, reason.clone());
        self.ending.first(EndedBy::Proxy, Some(error));
        self.ending.abort(1009, reason);
        if let (true, Some((code, reason))) = (
            state.writable(),
            self.ending.goodbye(self.direction.destination()),
        ) {
            let _ = self.send_close(dst, code, &reason).await;
        }
        let _ = dst.shutdown().await;
    }

    /// The source went away without a close frame (`failure` says how, when it was not a
    /// plain end of stream): tell the destination with a close of the proxy's own.
    async fn dropped<W: AsyncWrite + Unpin>(
        &self,
        dst: &mut W,
        state: State,
        failure: Option<std::io::Error>,
    ) {
        let source = self.direction.source();
        let (code, reason) = match source {
            Peer::Upstream => (1011, "wiretape: the upstream dropped the connection"),
            Peer::Client => (1001, "wiretape: the client went away"),
        };
        let error = match failure {
            None => Error::new(
                source.into(),
                Phase::Relay,
                format!("{} {WITHOUT_CLOSE}", source.name()),
            ),
            Some(err) => Error::new(
                source.into(),
                Phase::Relay,
                Context::new(format!("{} connection failed", source.name()), err),
            ),
        };
        self.ending.first(source.into(), Some(error));
        // No close of our own to a peer that already sent its close (a 1011 cannot answer
        // it: the connection simply ends, as the other side ended it), nor when told to
        // mirror drops.
        let mirror = source == Peer::Upstream && self.limits.upstream_drop == UpstreamDrop::Mirror;
        if state.writable() && !mirror && !self.ending.sent_close(source.other()) {
            let _ = self.send_close(dst, code, reason).await;
        }
        let _ = dst.shutdown().await;
    }

    /// Writes a close frame of the proxy's own to the destination, masked when that is the
    /// upstream.
    async fn send_close<W: AsyncWrite + Unpin>(
        &self,
        dst: &mut W,
        code: u16,
        reason: &str,
    ) -> std::io::Result<()> {
        let mask = match self.direction.destination() {
            Peer::Upstream => Some(random_mask()),
            Peer::Client => None,
        };
        let bytes = frame::encode(OP_CLOSE, &frame::close_payload(code, reason), mask);
        dst.write_all(&bytes).await?;
        dst.flush().await
    }

    fn close_deadline(&self) -> Instant {
        Instant::now() + self.limits.close_timeout
    }
}

const WITHOUT_CLOSE: &str = "dropped the connection without a close frame";

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A masking key from the operating system's random source (RFC 6455 wants it unpredictable).
fn random_mask() -> [u8; 4] {
    let mut key = [0u8; 4];
    if wiretape_fixtures::pki::crypto_provider()
        .secure_random
        .fill(&mut key)
        .is_err()
    {
        key = (Instant::now().elapsed().subsec_nanos() | 1).to_ne_bytes();
    }
    key
}
