//! Load clients: tokio-tungstenite over rustls, the same code for direct and proxied runs.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// A TLS WebSocket client.
pub(crate) type Client = WebSocketStream<TlsStream<TcpStream>>;

/// Where the load goes.
#[derive(Clone)]
pub(crate) struct Target {
    /// `wss://127.0.0.1:PORT/path`.
    pub(crate) url: String,
    /// Trust for that endpoint.
    pub(crate) tls: Arc<ClientConfig>,
    /// A forward proxy to reach it through (`CONNECT`), or `None` for a direct connection.
    pub(crate) via: Option<std::net::SocketAddr>,
}

/// Opens one connection.
pub(crate) async fn connect(target: &Target) -> Client {
    let uri: tokio_tungstenite::tungstenite::http::Uri = target.url.parse().unwrap();
    let port = uri.port_u16().unwrap();
    let tcp = match target.via {
        None => TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect"),
        Some(proxy) => tunnel(proxy, port).await,
    };
    let _ = tcp.set_nodelay(true);
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tls = TlsConnector::from(target.tls.clone())
        .connect(name, tcp)
        .await
        .expect("TLS");
    let (ws, _) = tokio_tungstenite::client_async(target.url.as_str(), tls)
        .await
        .expect("WebSocket upgrade");
    ws
}

/// A `CONNECT 127.0.0.1:PORT` tunnel through the forward proxy at `proxy`, answered 200.
async fn tunnel(proxy: std::net::SocketAddr, port: u16) -> TcpStream {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut tcp = TcpStream::connect(proxy)
        .await
        .expect("connect to the proxy");
    let request = format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.expect("CONNECT");
    // The answer's head, byte by byte: nothing after it may be read from the tunnel here.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tcp.read_u8().await.expect("the CONNECT answer"));
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "CONNECT refused: {}",
        String::from_utf8_lossy(&head)
    );
    tcp
}

/// Opens `n` connections, at most 100 handshakes at a time.
pub(crate) async fn connect_many(target: &Target, n: usize) -> Vec<Client> {
    let gate = Arc::new(Semaphore::new(100));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let target = target.clone();
            let gate = gate.clone();
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await.unwrap();
                connect(&target).await
            })
        })
        .collect();
    let mut clients = Vec::with_capacity(n);
    for t in tasks {
        clients.push(t.await.unwrap());
    }
    clients
}

/// A JSON text message of exactly `size` bytes, shaped like a UMS request.
pub(crate) fn payload(size: usize) -> Message {
    let head = r#"{"kind":"req","id":"1","type":"ms.PublishEvent","body":{"pad":""#;
    let tail = r#""}}"#;
    let pad = size.saturating_sub(head.len() + tail.len());
    Message::text(format!("{head}{}{tail}", "x".repeat(pad)))
}

/// What a load run measured.
#[derive(Debug, Default)]
pub(crate) struct Measured {
    /// Round trips completed.
    pub(crate) frames: u64,
    /// Wall time of the measuring window.
    pub(crate) elapsed: Duration,
    /// Round-trip times (all of them, or a sample).
    pub(crate) rtts: Vec<Duration>,
}

impl Measured {
    /// Round trips per second.
    pub(crate) fn rate(&self) -> f64 {
        self.frames as f64 / self.elapsed.as_secs_f64()
    }

    /// The `q`-quantile of the round-trip times, in microseconds.
    pub(crate) fn quantile_us(&mut self, q: f64) -> f64 {
        if self.rtts.is_empty() {
            return f64::NAN;
        }
        self.rtts.sort_unstable();
        let i = ((self.rtts.len() as f64 - 1.0) * q).round() as usize;
        self.rtts[i].as_secs_f64() * 1e6
    }
}

/// Runs `clients` for `window`, each with `in_flight` messages outstanding (1 = ping-pong).
pub(crate) async fn run(
    clients: Vec<Client>,
    size: usize,
    in_flight: usize,
    window: Duration,
) -> Measured {
    let msg = payload(size);
    let start = Instant::now();
    let deadline = start + window;
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|client| {
            let msg = msg.clone();
            tokio::spawn(async move {
                if in_flight == 1 {
                    ping_pong(client, msg, deadline).await
                } else {
                    pipelined(client, msg, in_flight, deadline).await
                }
            })
        })
        .collect();
    let mut total = Measured::default();
    for t in tasks {
        let (frames, rtts) = t.await.unwrap();
        total.frames += frames;
        total.rtts.extend(rtts);
    }
    total.elapsed = start.elapsed().min(window).max(Duration::from_millis(1));
    total
}

/// Ping-pong over one connection per target, the targets taking turns in short blocks:
/// `cycles` times, each target runs back-to-back round trips for `block`, then the next one
/// does (which goes first rotates). Returns, per target, the round-trip times of each cycle.
/// Adjacent blocks see the same machine, so comparing targets cycle by cycle is fair even when
/// its load changes from one second to the next (idle vCPUs are slow to wake).
pub(crate) async fn ping_pong_in_blocks(
    targets: &[Target],
    size: usize,
    block: Duration,
    cycles: usize,
) -> Vec<Vec<Vec<Duration>>> {
    let mut clients = Vec::new();
    for target in targets {
        clients.push(connect(target).await);
    }
    let msg = payload(size);
    let mut rtts = vec![Vec::new(); clients.len()];
    for cycle in 0..cycles {
        for k in 0..clients.len() {
            let i = (cycle + k) % clients.len();
            let mut these = Vec::new();
            let deadline = Instant::now() + block;
            while Instant::now() < deadline {
                let sent = Instant::now();
                clients[i].send(msg.clone()).await.expect("send");
                match clients[i].next().await {
                    Some(Ok(Message::Text(_) | Message::Binary(_))) => {
                        these.push(sent.elapsed());
                    }
                    other => panic!("expected an echo, got {other:?}"),
                }
            }
            rtts[i].push(these);
        }
    }
    for mut client in clients {
        let _ = client.close(None).await;
    }
    rtts
}

async fn ping_pong(mut client: Client, msg: Message, deadline: Instant) -> (u64, Vec<Duration>) {
    let mut rtts = Vec::new();
    while Instant::now() < deadline {
        let sent = Instant::now();
        if client.send(msg.clone()).await.is_err() {
            break;
        }
        match client.next().await {
            Some(Ok(Message::Text(_) | Message::Binary(_))) => rtts.push(sent.elapsed()),
            _ => break,
        }
    }
    let _ = client.close(None).await;
    (rtts.len() as u64, rtts)
}

async fn pipelined(
    client: Client,
    msg: Message,
    in_flight: usize,
    deadline: Instant,
) -> (u64, Vec<Duration>) {
    let (mut tx, mut rx) = client.split();
    let window = Arc::new(Semaphore::new(in_flight));
    let sent_at = Arc::new(Mutex::new(VecDeque::<Instant>::with_capacity(in_flight)));
    let writer = {
        let window = window.clone();
        let sent_at = sent_at.clone();
        tokio::spawn(async move {
            while Instant::now() < deadline {
                let Ok(permit) = window.clone().acquire_owned().await else {
                    break;
                };
                permit.forget();
                // Take every free slot at once and flush once: what a pipelining client does.
                let extra = window.available_permits();
                if let Ok(more) = window.try_acquire_many(extra as u32) {
                    more.forget();
                }
                for _ in 0..=extra {
                    sent_at.lock().unwrap().push_back(Instant::now());
                    if tx.feed(msg.clone()).await.is_err() {
                        return tx;
                    }
                }
                if tx.flush().await.is_err() {
                    break;
                }
            }
            // The echo keeps order: once this comes back, every message has.
            let _ = tx.send(Message::text(END)).await;
            tx
        })
    };
    let mut rtts = Vec::new();
    let mut done = 0u64;
    while let Some(Ok(m)) = rx.next().await {
        if let Message::Text(text) = &m {
            if text.as_str() == END {
                break;
            }
        }
        if matches!(m, Message::Text(_) | Message::Binary(_)) {
            if let Some(at) = sent_at.lock().unwrap().pop_front() {
                if rtts.len() < 200_000 {
                    rtts.push(at.elapsed());
                }
            }
            done += 1;
            window.add_permits(1);
        }
    }
    if let Ok(mut tx) = writer.await {
        let _ = tx.close().await;
    }
    (done, rtts)
}

/// The last message of a pipelined run.
const END: &str = "end-of-run";
