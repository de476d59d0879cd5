//! The relay over in-memory pipes: every frame type, splits, drops, shutdown, limits.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{duplex, AsyncReadExt as _, AsyncWriteExt as _, DuplexStream};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::frame::{
    self, encode, frames, FrameHeader, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT,
};

type Chunks = Vec<(Direction, Vec<u8>)>;

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Chunks>>);

impl Tap for Seen {
    async fn relayed(&mut self, direction: Direction, _: Duration, frames: &[u8]) {
        self.0.lock().unwrap().push((direction, frames.to_vec()));
    }
}

struct Peers {
    client: DuplexStream,
    upstream: DuplexStream,
    relay: tokio::task::JoinHandle<RelayOutcome>,
    seen: Seen,
    cancel: CancellationToken,
}

/// The relay between two in-memory peers, with short limits for tests.
fn start() -> Peers {
    start_with(RelayLimits {
        close_timeout: Duration::from_millis(300),
        max_frame: 1 << 20,
        ..RelayLimits::default()
    })
}

fn start_with(limits: RelayLimits) -> Peers {
    let (client, proxy_client) = duplex(1 << 16);
    let (upstream, proxy_upstream) = duplex(1 << 16);
    let seen = Seen::default();
    let cancel = CancellationToken::new();
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

/// The outcome says `by` dropped the connection without a close frame.
fn assert_dropped(outcome: RelayOutcome, by: EndedBy) {
    assert_eq!(outcome.ended_by, by);
    let cause = outcome.error.expect("an error").cause_text();
    assert!(cause.contains("without a close frame"), "{cause}");
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
    assert_eq!(outcome.ended_by, EndedBy::Client);
    assert!(outcome.error.is_none(), "{outcome:?}");
    let seen = p.seen.0.lock().unwrap();
    assert_eq!(seen.len(), 6);
    assert_eq!(seen[3], (Direction::UpstreamToClient, pong));
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
    assert_dropped(p.relay.await.unwrap(), EndedBy::Upstream);
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
    let mut p = start_with(RelayLimits {
        upstream_drop: UpstreamDrop::Mirror,
        ..RelayLimits::default()
    });
    drop(p.upstream);
    let mut rest = Vec::new();
    p.client.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "dropped like the upstream did: {rest:?}");
    drop(p.client);
    assert_dropped(p.relay.await.unwrap(), EndedBy::Upstream);
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

/// The relay between two in-memory peers with fault rules.
fn start_faulted(rules: &[&str]) -> Peers {
    let (client, proxy_client) = duplex(1 << 16);
    let (upstream, proxy_upstream) = duplex(1 << 16);
    let seen = Seen::default();
    let cancel = CancellationToken::new();
    let faults = wiretape_fixtures::Faults::with_rules(
        rules
            .iter()
            .map(|r| wiretape_fixtures::Fault::parse(r).unwrap()),
        None,
    );
    let relay = tokio::spawn(run_with_faults(
        proxy_client,
        proxy_upstream,
        seen.clone(),
        cancel.clone(),
        RelayLimits {
            close_timeout: Duration::from_millis(300),
            ..RelayLimits::default()
        },
        faults.connection(),
    ));
    Peers {
        client,
        upstream,
        relay,
        seen,
        cancel,
    }
}

#[tokio::test]
async fn frame_faults_duplicate_drop_and_delay_frames_in_order_on_their_way() {
    let mut p = start_faulted(&[
        "duplicate on note times 1",
        "drop-frame on frame 2",
        "delay 200ms on late",
    ]);
    let note = encode(OP_TEXT, br#"{"type":"note","n":1}"#, None);
    let dropped = encode(OP_TEXT, br#"{"type":"other"}"#, None);
    let late = encode(OP_TEXT, br#"{"type":"late"}"#, None);
    let after = encode(OP_TEXT, br#"{"type":"after"}"#, None);
    let mut all = Vec::new();
    for f in [&note, &dropped, &late, &after] {
        all.extend_from_slice(f);
    }
    let sent = tokio::time::Instant::now();
    p.upstream.write_all(&all).await.unwrap();
    assert_eq!(read_frame(&mut p.client).await, note);
    assert_eq!(read_frame(&mut p.client).await, note, "duplicated");
    assert_eq!(
        read_frame(&mut p.client).await,
        late,
        "the dropped frame never came"
    );
    assert!(
        sent.elapsed() >= Duration::from_millis(190),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(
        read_frame(&mut p.client).await,
        after,
        "the frame after waited"
    );
    // A client's frame named by type is faulted on its way to the upstream too.
    let masked = encode(OP_TEXT, br#"{"type":"note"}"#, Some([1, 2, 3, 4]));
    p.client.write_all(&masked).await.unwrap();
    assert_eq!(
        read_frame(&mut p.upstream).await,
        masked,
        "times 1: once only"
    );
    let seen = p.seen.0.lock().unwrap();
    // The tap sees what was delivered: the note twice, no dropped frame.
    let delivered: Vec<&Vec<u8>> = seen.iter().map(|(_, f)| f).collect();
    assert_eq!(delivered, [&note, &note, &late, &after, &masked]);
    drop(seen);
    p.cancel.cancel();
}

#[tokio::test]
async fn a_close_fault_closes_the_client_with_its_code_and_the_upstream_with_1000() {
    let mut p = start_faulted(&[r#"close 4401 "token expired" after 100ms"#]);
    let opened = tokio::time::Instant::now();
    let to_client = read_frame(&mut p.client).await;
    assert!(
        opened.elapsed() >= Duration::from_millis(95),
        "{:?}",
        opened.elapsed()
    );
    assert_eq!(
        to_client,
        encode(OP_CLOSE, &frame::close_payload(4401, "token expired"), None)
    );
    let to_upstream = read_frame(&mut p.upstream).await;
    let (header, payload) = frames(&to_upstream).next().unwrap();
    assert_eq!(header.opcode, OP_CLOSE);
    let mut payload = payload.to_vec();
    frame::apply_mask(
        &mut payload,
        header.mask.expect("masked to the upstream"),
        0,
    );
    assert_eq!(&payload[..2], &1000u16.to_be_bytes());
    // Both answer; the relay ends, by the proxy, without an error.
    p.client
        .write_all(&encode(
            OP_CLOSE,
            &frame::close_payload(4401, ""),
            Some([1, 1, 1, 1]),
        ))
        .await
        .unwrap();
    p.upstream
        .write_all(&encode(OP_CLOSE, &frame::close_payload(1000, ""), None))
        .await
        .unwrap();
    let outcome = p.relay.await.unwrap();
    assert_eq!(outcome.ended_by, EndedBy::Proxy);
    assert!(outcome.error.is_none(), "{outcome:?}");
}
