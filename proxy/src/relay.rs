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

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::{Buf as _, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use wiretape_fixtures::cassette::{EndedBy, Sender};

use crate::frame::{self, FrameHeader, OP_CLOSE};

/// Sees every chunk of complete frames the relay forwarded. The recorder implements it.
pub trait Tap: Clone + Send + 'static {
    /// Called after `frames` (one or more whole frames, raw as on the wire) from `from` were
    /// written to the other peer; `at` is the time since the connection opened. The slice is
    /// the relay's read buffer: copy what you keep. Awaiting here applies backpressure to
    /// that direction.
    fn relayed(
        &mut self,
        from: Sender,
        at: Duration,
        frames: &[u8],
    ) -> impl Future<Output = ()> + Send;
}

/// A tap that looks at nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTap;

impl Tap for NoTap {
    async fn relayed(&mut self, _: Sender, _: Duration, _: &[u8]) {}
}

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

/// How a relayed connection ended: a value, not an error (R5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayOutcome {
    /// Who ended it first: the side that sent the first close frame or dropped first, or the
    /// proxy (shutdown, oversized frame).
    pub ended_by: EndedBy,
    /// What went wrong, when the end was not a close handshake.
    pub error: Option<String>,
}

/// What both pumps share about the end of the connection. The first ending event wins; the
/// std mutexes are held for an assignment only.
struct Ending {
    outcome: Mutex<Option<RelayOutcome>>,
    /// Whether the client ([0]) and the upstream ([1]) sent a close frame.
    closes: [AtomicBool; 2],
    /// Fired to make both pumps send [`Ending::goodbye`] to their peer: shutdown (a child of
    /// the proxy's token) or a pump that gave up on the connection (oversized frame).
    stop: CancellationToken,
    /// The close the proxy sends when stopping: 1001 for shutdown unless a pump set another.
    goodbye: Mutex<(u16, String)>,
}

impl Ending {
    fn new(cancel: &CancellationToken) -> Self {
        Self {
            outcome: Mutex::new(None),
            closes: Default::default(),
            stop: cancel.child_token(),
            goodbye: Mutex::new((1001, "wiretape is shutting down".into())),
        }
    }

    /// Notes that `from` sent a close frame.
    fn closed(&self, from: Sender) {
        self.closes[from as usize].store(true, Ordering::Relaxed);
    }

    /// Whether `from` sent a close frame.
    fn sent_close(&self, from: Sender) -> bool {
        self.closes[from as usize].load(Ordering::Relaxed)
    }

    fn first(&self, ended_by: EndedBy, error: Option<String>) {
        let mut slot = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(RelayOutcome { ended_by, error });
        }
    }

    /// Stops both directions, each sending close `code` with `reason` to its peer.
    fn abort(&self, code: u16, reason: String) {
        *self.goodbye.lock().unwrap_or_else(|e| e.into_inner()) = (code, reason);
        self.stop.cancel();
    }

    fn goodbye(&self) -> (u16, String) {
        self.goodbye
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn take(&self) -> RelayOutcome {
        let mut slot = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
        slot.take().unwrap_or(RelayOutcome {
            ended_by: EndedBy::Proxy,
            error: Some("relay ended without a close".into()),
        })
    }
}

fn side(from: Sender) -> EndedBy {
    match from {
        Sender::Client => EndedBy::Client,
        Sender::Server => EndedBy::Server,
    }
}

fn name(from: Sender) -> &'static str {
    match from {
        Sender::Client => "client",
        Sender::Server => "upstream",
    }
}

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
    let (client_rd, client_wr) = tokio::io::split(client);
    let (upstream_rd, upstream_wr) = tokio::io::split(upstream);
    let ending = Ending::new(&cancel);
    let started = Instant::now();
    let c2u = Pump {
        from: Sender::Client,
        tap: tap.clone(),
        limits,
        ending: &ending,
        started,
    }
    .run(client_rd, upstream_wr);
    let u2c = Pump {
        from: Sender::Server,
        tap,
        limits,
        ending: &ending,
        started,
    }
    .run(upstream_rd, client_wr);
    tokio::pin!(c2u, u2c);
    let late = tokio::select! {
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

/// One direction: reads frames from `src`, writes them to `dst`.
struct Pump<'a, T> {
    from: Sender,
    tap: T,
    limits: RelayLimits,
    ending: &'a Ending,
    started: Instant,
}

impl<T: Tap> Pump<'_, T> {
    async fn run<R, W>(mut self, mut src: R, mut dst: W)
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut buf = BytesMut::with_capacity(self.limits.read_buffer);
        // The source sent its close frame.
        let mut src_closed = false;
        // A close frame (forwarded or our own) went to dst, or dst failed: write nothing more.
        let mut dst_done = false;
        let mut deadline: Option<Instant> = None;
        let mut cancelled = false;
        loop {
            // Forward every complete frame in the buffer, in one write.
            let (ready, close, oversized) = self.complete_frames(&mut buf);
            if ready > 0 {
                let chunk = &buf[..ready];
                if !dst_done {
                    if let Err(err) = dst.write_all(chunk).await {
                        dst_done = true;
                        let peer = name(self.from.peer());
                        self.ending.first(
                            side(self.from.peer()),
                            Some(format!("writing to the {peer} failed: {err}")),
                        );
                    } else {
                        self.tap
                            .relayed(self.from, self.started.elapsed(), chunk)
                            .await;
                    }
                }
                // The buffer is reused in place: no allocation per read.
                buf.advance(ready);
                if close {
                    self.ending.closed(self.from);
                    src_closed = true;
                    dst_done = true;
                    self.ending.first(side(self.from), None);
                    deadline.get_or_insert(Instant::now() + self.limits.close_timeout);
                }
            }
            if oversized {
                let reason = format!(
                    "wiretape: frame from the {} exceeds {} bytes",
                    name(self.from),
                    self.limits.max_frame
                );
                self.ending.first(EndedBy::Proxy, Some(reason.clone()));
                self.ending.abort(1009, reason);
                // The stop branch below sends the 1009; nothing more is read from this source.
                src_closed = true;
                buf.clear();
            }
            if src_closed && cancelled {
                let _ = dst.shutdown().await;
                return;
            }
            if buf.capacity() - buf.len() < 1024 {
                buf.reserve(self.limits.read_buffer);
            }
            let read = tokio::select! {
                biased;
                // Shutdown or abort: say goodbye to dst once, then wait for the peers' close
                // replies (bounded by the deadline).
                () = self.ending.stop.cancelled(), if !cancelled => {
                    cancelled = true;
                    self.ending.first(EndedBy::Proxy, None);
                    if !dst_done {
                        dst_done = true;
                        let (code, reason) = self.ending.goodbye();
                        let _ = self.send_close(&mut dst, code, &reason).await;
                    }
                    deadline.get_or_insert(Instant::now() + self.limits.close_timeout);
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
                Ok(0) | Err(_) if src_closed => {
                    // End of a clean close: pass the TCP end on.
                    let _ = dst.shutdown().await;
                    return;
                }
                // A clean EOF, or a TLS peer that vanished without close_notify: either way the
                // peer is gone without a close frame.
                Ok(0) => {
                    self.dropped(&mut dst, dst_done, WITHOUT_CLOSE).await;
                    return;
                }
                Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => {
                    self.dropped(&mut dst, dst_done, WITHOUT_CLOSE).await;
                    return;
                }
                Err(err) => {
                    self.dropped(&mut dst, dst_done, &format!("connection failed: {err}"))
                        .await;
                    return;
                }
                Ok(_) => {}
            }
        }
    }

    /// Finds the whole frames at the start of `buf`: their total length, whether the last one
    /// is a close frame (nothing after a close is forwarded), and whether the next frame is
    /// over the size limit. Reserves room for a partly received frame.
    fn complete_frames(&self, buf: &mut BytesMut) -> (usize, bool, bool) {
        let mut ready = 0usize;
        while let Some(header) = FrameHeader::parse(&buf[ready..]) {
            if header.payload_len > self.limits.max_frame {
                return (ready, false, true);
            }
            let len = header.frame_len() as usize;
            let have = buf.len() - ready;
            if have < len {
                buf.reserve(len - have);
                break;
            }
            ready += len;
            if header.opcode == OP_CLOSE {
                return (ready, true, false);
            }
        }
        (ready, false, false)
    }

    /// The source went away without a close frame: tell dst with a close of our own.
    async fn dropped<W: AsyncWrite + Unpin>(&self, dst: &mut W, dst_done: bool, what: &str) {
        let (code, reason) = match self.from {
            Sender::Server => (1011, "wiretape: the upstream dropped the connection"),
            Sender::Client => (1001, "wiretape: the client went away"),
        };
        self.ending
            .first(side(self.from), Some(format!("{} {what}", name(self.from))));
        // No close of our own to a peer that already sent its close (a 1011 cannot answer
        // it: the connection simply ends, as the other side ended it), nor when told to
        // mirror drops.
        let mirror =
            self.from == Sender::Server && self.limits.upstream_drop == UpstreamDrop::Mirror;
        if !dst_done && !mirror && !self.ending.sent_close(self.from.peer()) {
            let _ = self.send_close(dst, code, reason).await;
        }
        let _ = dst.shutdown().await;
    }

    /// Writes a close frame of the proxy's own to dst, masked when dst is the upstream.
    async fn send_close<W: AsyncWrite + Unpin>(
        &self,
        dst: &mut W,
        code: u16,
        reason: &str,
    ) -> std::io::Result<()> {
        let mask = match self.from {
            Sender::Client => Some(random_mask()),
            Sender::Server => None,
        };
        let bytes = frame::encode(OP_CLOSE, &frame::close_payload(code, reason), mask);
        dst.write_all(&bytes).await?;
        dst.flush().await
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

/// Decodes the frames of a relayed chunk (whole frames, as given to [`Tap::relayed`]).
pub fn frames(chunk: &[u8]) -> impl Iterator<Item = (FrameHeader, &[u8])> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let header = FrameHeader::parse(&chunk[at..])?;
        let start = at + header.header_len;
        let end = start.checked_add(usize::try_from(header.payload_len).ok()?)?;
        let payload = chunk.get(start..end)?;
        at = end;
        Some((header, payload))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{encode, OP_BINARY, OP_PING, OP_PONG, OP_TEXT};
    use std::sync::Arc;
    use tokio::io::{duplex, DuplexStream};

    type Chunks = Vec<(Sender, Vec<u8>)>;

    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Chunks>>);

    impl Tap for Seen {
        async fn relayed(&mut self, from: Sender, _: Duration, frames: &[u8]) {
            self.0.lock().unwrap().push((from, frames.to_vec()));
        }
    }

    struct Peers {
        client: DuplexStream,
        upstream: DuplexStream,
        relay: tokio::task::JoinHandle<RelayOutcome>,
        seen: Seen,
        cancel: CancellationToken,
    }

    fn start() -> Peers {
        let (client, proxy_client) = duplex(1 << 16);
        let (upstream, proxy_upstream) = duplex(1 << 16);
        let seen = Seen::default();
        let cancel = CancellationToken::new();
        let limits = RelayLimits {
            close_timeout: Duration::from_millis(300),
            max_frame: 1 << 20,
            ..RelayLimits::default()
        };
        let relay = tokio::spawn(run(
            proxy_client,
            proxy_upstream,
            seen.clone(),
            cancel.clone(),
            limits,
        ));
        Peers {
            client,
            upstream,
            relay,
            seen,
            cancel,
        }
    }

    async fn read_frame(io: &mut DuplexStream) -> Vec<u8> {
        let mut buf = Vec::new();
        loop {
            if let Some(h) = FrameHeader::parse(&buf) {
                if buf.len() as u64 >= h.frame_len() {
                    assert_eq!(buf.len() as u64, h.frame_len(), "one frame at a time");
                    return buf;
                }
            }
            let mut byte = [0u8; 1];
            assert_eq!(io.read(&mut byte).await.unwrap(), 1, "unexpected EOF");
            buf.push(byte[0]);
        }
    }

    #[tokio::test]
    async fn every_frame_type_passes_unchanged_and_nothing_is_answered_by_the_relay() {
        let mut p = start();
        let mask = Some([9, 8, 7, 6]);
        let client_frames = [
            encode(OP_TEXT, b"{\"kind\":\"req\"}", mask),
            encode(OP_BINARY, &[0, 0xff, 0xfe], mask),
            encode(OP_PING, b"are you there", mask),
        ];
        for f in &client_frames {
            p.client.write_all(f).await.unwrap();
            assert_eq!(&read_frame(&mut p.upstream).await, f);
        }
        // The upstream's pong is the only pong the client gets.
        let pong = encode(OP_PONG, b"are you there", None);
        p.upstream.write_all(&pong).await.unwrap();
        assert_eq!(read_frame(&mut p.client).await, pong);

        // Close from the client passes with its code and reason; the upstream's reply too.
        let close = encode(OP_CLOSE, &frame::close_payload(4001, "done"), mask);
        p.client.write_all(&close).await.unwrap();
        assert_eq!(read_frame(&mut p.upstream).await, close);
        let reply = encode(OP_CLOSE, &frame::close_payload(4001, "done"), None);
        p.upstream.write_all(&reply).await.unwrap();
        assert_eq!(read_frame(&mut p.client).await, reply);
        drop(p.upstream);
        let mut rest = Vec::new();
        p.client.read_to_end(&mut rest).await.unwrap();
        assert!(
            rest.is_empty(),
            "nothing after the upstream's close: {rest:?}"
        );
        drop(p.client);
        let outcome = p.relay.await.unwrap();
        assert_eq!(
            outcome,
            RelayOutcome {
                ended_by: EndedBy::Client,
                error: None
            }
        );
        let seen = p.seen.0.lock().unwrap();
        assert_eq!(seen.len(), 6);
        assert_eq!(seen[3], (Sender::Server, pong));
    }

    #[tokio::test]
    async fn frames_split_across_reads_are_forwarded_whole() {
        let mut p = start();
        let frame = encode(OP_TEXT, &vec![b'x'; 5000], Some([1, 2, 3, 4]));
        for piece in frame.chunks(7) {
            p.client.write_all(piece).await.unwrap();
        }
        assert_eq!(read_frame(&mut p.upstream).await, frame);
        let seen = p.seen.0.lock().unwrap();
        assert_eq!(seen.len(), 1, "the tap sees the frame once, whole");
    }

    #[tokio::test]
    async fn an_upstream_that_vanishes_gets_the_client_a_1011() {
        let mut p = start();
        drop(p.upstream);
        let close = read_frame(&mut p.client).await;
        let (h, payload) = frames(&close).next().unwrap();
        assert_eq!(h.opcode, OP_CLOSE);
        assert_eq!(&payload[..2], &1011u16.to_be_bytes());
        drop(p.client);
        let outcome = p.relay.await.unwrap();
        assert_eq!(outcome.ended_by, EndedBy::Server);
        assert!(outcome.error.unwrap().contains("without a close frame"));
    }

    #[tokio::test]
    async fn an_upstream_drop_after_the_clients_close_ends_the_client_without_a_1011() {
        let mut p = start();
        let close = encode(
            OP_CLOSE,
            &frame::close_payload(1000, "bye"),
            Some([1, 2, 3, 4]),
        );
        p.client.write_all(&close).await.unwrap();
        assert_eq!(read_frame(&mut p.upstream).await, close);
        drop(p.upstream); // no close reply: the upstream just goes
        let mut rest = Vec::new();
        p.client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "nothing of the proxy's own: {rest:?}");
        drop(p.client);
        assert_eq!(p.relay.await.unwrap().ended_by, EndedBy::Client);
    }

    #[tokio::test]
    async fn mirrored_drops_end_the_client_without_a_close_frame() {
        let (mut client, proxy_client) = duplex(1 << 16);
        let (upstream, proxy_upstream) = duplex(1 << 16);
        let limits = RelayLimits {
            upstream_drop: UpstreamDrop::Mirror,
            ..RelayLimits::default()
        };
        let relay = tokio::spawn(run(
            proxy_client,
            proxy_upstream,
            NoTap,
            CancellationToken::new(),
            limits,
        ));
        drop(upstream);
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "dropped like the upstream did: {rest:?}");
        drop(client);
        let outcome = relay.await.unwrap();
        assert_eq!(outcome.ended_by, EndedBy::Server);
        assert!(outcome.error.unwrap().contains("without a close frame"));
    }

    #[tokio::test]
    async fn a_client_that_vanishes_gets_the_upstream_a_masked_1001() {
        let mut p = start();
        drop(p.client);
        let close = read_frame(&mut p.upstream).await;
        let (h, payload) = frames(&close).next().unwrap();
        assert_eq!(h.opcode, OP_CLOSE);
        let mut payload = payload.to_vec();
        frame::apply_mask(
            &mut payload,
            h.mask.expect("frames to the upstream are masked"),
            0,
        );
        assert_eq!(&payload[..2], &1001u16.to_be_bytes());
        drop(p.upstream);
        assert_eq!(p.relay.await.unwrap().ended_by, EndedBy::Client);
    }

    #[tokio::test]
    async fn shutdown_sends_1001_both_ways() {
        let mut p = start();
        p.cancel.cancel();
        for io in [&mut p.client, &mut p.upstream] {
            let close = read_frame(io).await;
            let (h, payload) = frames(&close).next().unwrap();
            let mut payload = payload.to_vec();
            if let Some(mask) = h.mask {
                frame::apply_mask(&mut payload, mask, 0);
            }
            assert_eq!(&payload[..2], &1001u16.to_be_bytes());
        }
        let outcome = p.relay.await.unwrap();
        assert_eq!(outcome.ended_by, EndedBy::Proxy);
    }

    #[tokio::test]
    async fn an_oversized_frame_ends_the_connection_with_1009() {
        let mut p = start();
        // Only the header is needed to know the frame is too large.
        let header = &encode(OP_BINARY, &vec![0; (1 << 20) + 1], Some([1, 1, 1, 1]))[..14];
        p.client.write_all(header).await.unwrap();
        let close = read_frame(&mut p.upstream).await;
        let (_, payload) = frames(&close).next().unwrap();
        let mut payload = payload.to_vec();
        frame::apply_mask(
            &mut payload,
            frames(&close).next().unwrap().0.mask.unwrap(),
            0,
        );
        assert_eq!(&payload[..2], &1009u16.to_be_bytes());
    }
}
