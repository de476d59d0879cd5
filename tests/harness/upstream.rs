//! Fake upstreams on `127.0.0.1:0` over TLS: an echo server built on tokio-tungstenite, a
//! raw one that answers pings and closes with frames of its own (to prove whose pong and close
//! the client sees), and one that refuses the upgrade.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderMap, StatusCode};
use tokio_tungstenite::tungstenite::Message;
use wiretape_fixtures::pki::LocalCa;
use wiretape_proxy::frame::{self, FrameHeader, OP_CLOSE, OP_PING, OP_PONG};

/// What the upstream does with a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behavior {
    /// Echo text and binary messages (tungstenite answers pings by itself).
    Echo,
    /// Refuse the upgrade with this status.
    Refuse(u16),
    /// Accept, then drop the TCP connection after the first message, without a close frame.
    DropAfterFirst,
}

/// What one upstream connection saw.
#[derive(Debug, Default, Clone)]
pub(crate) struct Seen {
    /// Path and query of the upgrade request.
    pub(crate) uri: String,
    /// The upgrade request's headers.
    pub(crate) headers: HeaderMap,
    /// Every message, control frames included, in order.
    pub(crate) messages: Vec<Message>,
}

/// A running fake upstream.
pub(crate) struct Upstream {
    /// Its address.
    pub(crate) addr: SocketAddr,
    /// One entry per connection.
    pub(crate) seen: Arc<Mutex<Vec<Seen>>>,
    /// Notified whenever a connection's messages grow.
    arrived: Arc<tokio::sync::Notify>,
    task: JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    /// `wss://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("wss://{}", self.addr)
    }

    /// Waits until `check` holds for what the connections saw, checking again whenever a
    /// message arrives; returns how long that took, or `None` after `within`.
    pub(crate) async fn wait_until(
        &self,
        within: std::time::Duration,
        check: impl Fn(&[Seen]) -> bool,
    ) -> Option<std::time::Duration> {
        let start = tokio::time::Instant::now();
        let wait = async {
            loop {
                // Registered before checking, so a message arriving in between is not missed.
                let arrived = self.arrived.notified();
                tokio::pin!(arrived);
                arrived.as_mut().enable();
                if check(&self.seen.lock().unwrap()) {
                    return start.elapsed();
                }
                arrived.await;
            }
        };
        tokio::time::timeout(within, wait).await.ok()
    }

    /// What the `i`-th connection saw.
    pub(crate) fn seen(&self, i: usize) -> Seen {
        self.seen.lock().unwrap()[i].clone()
    }

    /// Starts a tokio-tungstenite upstream with a leaf for 127.0.0.1 signed by `ca`.
    pub(crate) async fn start(ca: &LocalCa, behavior: Behavior) -> Self {
        let tls = ca.local_leaf().unwrap().server_config().unwrap();
        Self::start_with_tls(tls, behavior).await
    }

    /// As [`Upstream::start`] with any server config (a wrong-host or expired certificate).
    pub(crate) async fn start_with_tls(tls: Arc<rustls::ServerConfig>, behavior: Behavior) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(tokio::sync::Notify::new());
        let acceptor = TlsAcceptor::from(tls);
        let seen_task = seen.clone();
        let arrived_task = arrived.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let seen = seen_task.clone();
                let arrived = arrived_task.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    serve(tls, seen, &arrived, behavior).await;
                });
            }
        });
        Self {
            addr,
            seen,
            arrived,
            task,
        }
    }
}

// The callback's error type is tungstenite's, large or not.
#[allow(clippy::result_large_err)]
async fn serve(
    tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    seen: Arc<Mutex<Vec<Seen>>>,
    arrived: &tokio::sync::Notify,
    behavior: Behavior,
) {
    let index = {
        let mut seen = seen.lock().unwrap();
        seen.push(Seen::default());
        seen.len() - 1
    };
    let seen_cb = seen.clone();
    let callback = move |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        {
            let mut seen = seen_cb.lock().unwrap();
            seen[index].uri = req.uri().to_string();
            seen[index].headers = req.headers().clone();
        }
        if let Behavior::Refuse(status) = behavior {
            let mut refusal = ErrorResponse::new(Some("go away: bad token".into()));
            *refusal.status_mut() = StatusCode::from_u16(status).unwrap();
            return Err(refusal);
        }
        // Choose the first subprotocol offered, as servers do.
        if let Some(offered) = req.headers().get("sec-websocket-protocol") {
            let first = offered
                .to_str()
                .unwrap()
                .split(',')
                .next()
                .unwrap()
                .trim()
                .to_owned();
            resp.headers_mut()
                .insert("sec-websocket-protocol", first.parse().unwrap());
        }
        Ok(resp)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tls, callback).await else {
        return;
    };
    while let Some(Ok(msg)) = ws.next().await {
        seen.lock().unwrap()[index].messages.push(msg.clone());
        arrived.notify_waiters();
        if behavior == Behavior::DropAfterFirst {
            return; // drops the socket: no close frame
        }
        match msg {
            Message::Text(_) | Message::Binary(_) if ws.send(msg.clone()).await.is_err() => return,
            Message::Close(_) => {
                // tungstenite queues the close reply; flushing sends it.
                let _ = ws.flush().await;
            }
            _ => {}
        }
    }
}

/// A raw upstream that answers a ping with pong `upstream-pong` and a close with close 1000
/// `upstream says bye`: frames no WebSocket library would produce by itself, so a client that
/// receives them got the upstream's answers, not the proxy's.
pub(crate) async fn start_raw(ca: &LocalCa) -> (SocketAddr, JoinHandle<Vec<u8>>) {
    let tls = ca.local_leaf().unwrap().server_config().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut io = TlsAcceptor::from(tls).accept(tcp).await.unwrap();
        let mut buf = Vec::new();
        let key = loop {
            let mut chunk = [0u8; 1024];
            let n = io.read(&mut chunk).await.unwrap();
            buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                buf.drain(..end + 4);
                let key = head
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("sec-websocket-key: ")
                            .or(l.strip_prefix("Sec-WebSocket-Key: "))
                    })
                    .expect("a websocket key")
                    .trim()
                    .to_owned();
                break key;
            }
        };
        let accept = derive_accept_key(key.as_bytes());
        io.write_all(
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {accept}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let mut opcodes = Vec::new();
        loop {
            while let Some(h) = FrameHeader::parse(&buf) {
                if (buf.len() as u64) < h.frame_len() {
                    break;
                }
                buf.drain(..h.frame_len() as usize);
                opcodes.push(h.opcode);
                match h.opcode {
                    OP_PING => {
                        io.write_all(&frame::encode(OP_PONG, b"upstream-pong", None))
                            .await
                            .unwrap();
                    }
                    OP_CLOSE => {
                        let payload = frame::close_payload(1000, "upstream says bye");
                        io.write_all(&frame::encode(OP_CLOSE, &payload, None))
                            .await
                            .unwrap();
                        let _ = io.shutdown().await;
                        return opcodes;
                    }
                    _ => {}
                }
            }
            let mut chunk = [0u8; 4096];
            match io.read(&mut chunk).await {
                Ok(0) | Err(_) => return opcodes,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    });
    (addr, task)
}

/// A self-signed certificate for an upstream on 127.0.0.1: its PEM file (what a user passes
/// with `--upstream-ca`) and a server config serving it. Generated at test time; no key is
/// committed.
pub(crate) struct SelfSigned {
    /// The certificate, PEM.
    pub(crate) pem_file: std::path::PathBuf,
    /// Serves the certificate.
    pub(crate) tls: Arc<rustls::ServerConfig>,
}

impl SelfSigned {
    /// Made the usual way, `openssl req -x509 ...`: self-signed and marked as a CA
    /// (basicConstraints CA:TRUE), as OpenSSL's default configuration does.
    pub(crate) fn openssl(dir: &std::path::Path, name: &str) -> Self {
        let pem_file = dir.join(format!("{name}.pem"));
        let key_file = dir.join(format!("{name}-key.pem"));
        let status = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "2"])
            .args([
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .arg("-keyout")
            .arg(&key_file)
            .arg("-out")
            .arg(&pem_file)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run openssl (/usr/bin/openssl)");
        assert!(status.success(), "openssl req -x509 failed");
        let (chain, key) = wiretape_fixtures::pki::load_cert_and_key(&pem_file, &key_file).unwrap();
        Self {
            pem_file,
            tls: wiretape_fixtures::pki::server_config(chain, key).unwrap(),
        }
    }

    /// Made by rcgen: a self-signed end-entity certificate (not a CA) for `names`.
    pub(crate) fn rcgen(dir: &std::path::Path, name: &str, names: &[&str]) -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let cert = rcgen::CertificateParams::new(names)
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let pem_file = dir.join(format!("{name}.pem"));
        std::fs::write(&pem_file, cert.pem()).unwrap();
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        Self {
            pem_file,
            tls: wiretape_fixtures::pki::server_config(vec![cert.der().clone()], key).unwrap(),
        }
    }
}
