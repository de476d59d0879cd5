//! Forward-proxy mode (`wiretape record --forward`): clients name the host themselves.
//!
//! ```text
//! plain HTTP on the listener ─┬─ CONNECT host:port ─┬─ intercepted (--hosts): 200, TLS with a
//!                             │                     │  leaf for host (CA-signed, cached), then
//!                             │                     │  each request inside as below, https/wss
//!                             │                     │  (plain http/ws when the client's first
//!                             │                     │  byte is not a TLS handshake)
//!                             │                     └─ otherwise: 200, bytes tunnelled, unrecorded
//!                             ├─ absolute-form http://host/… (ws:// upgrades too): as below
//!                             └─ anything else: 400
//!
//! a request ─┬─ WebSocket upgrade: connection::forward (the reverse proxy's relay, recorder,
//!            │  redaction and live view) to wss://host:port (ws:// without TLS)
//!            └─ other: exchange::forward, streamed both ways, one cassette per exchange
//! ```
//! An unreachable host or a refused certificate answers 502 with one line, recorded; the
//! upstream leg is verified as in reverse mode ([`Config::upstream_tls`]).
//!
//! [`Config::upstream_tls`]: crate::Config::upstream_tls

mod exchange;
mod hosts;
mod leaves;
mod sniff;

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use wiretape_fixtures::pki::LocalCa;

use crate::connection::{self, is_websocket_upgrade, serve_http, text, Shared};
use crate::error::{Error, Phase, Side};
use crate::timeouts::with_timeout;
use crate::upstream::UpstreamUrl;
pub use hosts::HostPattern;
use leaves::Leaves;

/// Any body the forward proxy answers with: its own short texts, upstream bodies streamed.
pub(crate) type ProxyBody = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// A forward proxy's own settings (the rest of [`crate::Config`] applies as in reverse mode).
#[derive(Debug, Clone)]
pub struct ForwardConfig {
    /// Only `CONNECT`s (and absolute-form requests) to matching hosts are intercepted and
    /// recorded; empty: every host.
    pub hosts: Vec<HostPattern>,
    leaves: Arc<Leaves>,
}

impl ForwardConfig {
    /// Intercepts the hosts matching `hosts` (all when empty), with leaves signed by `ca`.
    pub fn new(ca: LocalCa, hosts: Vec<HostPattern>) -> Self {
        Self {
            hosts,
            leaves: Arc::new(Leaves::new(ca)),
        }
    }

    /// Whether the proxy intercepts (terminates, relays and records) `host:port`.
    pub fn intercepts(&self, host: &str, port: u16) -> bool {
        self.hosts.is_empty() || self.hosts.iter().any(|p| p.matches(host, port))
    }
}

/// Serves one connection to the forward proxy (plain HTTP, keep-alive).
pub(crate) async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let crate::config::Mode::Forward(forward) = &shared.config.mode else {
        return;
    };
    let forward = Arc::new(forward.clone());
    let handler_shared = shared.clone();
    serve_http(stream, &shared, move |req| {
        proxy_request(req, forward.clone(), handler_shared.clone())
    })
    .await;
}

/// A short text answer from wiretape itself.
pub(crate) fn own(status: StatusCode, body: String) -> Response<ProxyBody> {
    text(status, body).map(|b| b.map_err(|never| match never {}).boxed_unsync())
}

/// One request to the proxy itself: `CONNECT`, absolute-form, or a 400.
async fn proxy_request(
    req: Request<Incoming>,
    forward: Arc<ForwardConfig>,
    shared: Arc<Shared>,
) -> Response<ProxyBody> {
    if req.method() == Method::CONNECT {
        return connect(req, &forward, shared).await;
    }
    let uri = req.uri();
    let tls = match uri.scheme_str() {
        Some("http" | "ws") => false,
        Some("https" | "wss") => true,
        _ => {
            return own(
                StatusCode::BAD_REQUEST,
                "wiretape record --forward is a forward proxy: send CONNECT host:port or an \
                 absolute-form request (e.g. curl -x http://127.0.0.1:8080 https://HOST/...)\n"
                    .into(),
            )
        }
    };
    let Some(host) = uri.host() else {
        return own(
            StatusCode::BAD_REQUEST,
            "the request URL has no host\n".into(),
        );
    };
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let upstream = UpstreamUrl::host_port(tls, host, port);
    let record = forward.intercepts(&upstream.host, port);
    to_origin(req, upstream, record, shared).await
}

/// A request for `upstream`: a WebSocket upgrade goes through the reverse proxy's path, any
/// other request is forwarded as an HTTP exchange.
async fn to_origin(
    req: Request<Incoming>,
    upstream: UpstreamUrl,
    record: bool,
    shared: Arc<Shared>,
) -> Response<ProxyBody> {
    if is_websocket_upgrade(&req) {
        connection::forward(req, &upstream, record, shared)
            .await
            .map(|b| b.map_err(|never| match never {}).boxed_unsync())
    } else {
        exchange::forward(req, upstream, record, shared).await
    }
}

/// `CONNECT host:port`: intercepted (TLS terminated with a leaf for `host`) or tunnelled.
async fn connect(
    req: Request<Incoming>,
    forward: &Arc<ForwardConfig>,
    shared: Arc<Shared>,
) -> Response<ProxyBody> {
    let Some((host, port)) = req
        .uri()
        .authority()
        .and_then(|a| Some((a.host().to_owned(), a.port_u16()?)))
    else {
        return own(
            StatusCode::BAD_REQUEST,
            format!("CONNECT needs host:port, got {:?}\n", req.uri().to_string()),
        );
    };
    let upstream = UpstreamUrl::host_port(true, &host, port);
    if !forward.intercepts(&upstream.host, port) {
        return tunnel(req, &upstream, shared).await;
    }
    let forward = forward.clone();
    let on_client = hyper::upgrade::on(req);
    let task_shared = shared.clone();
    shared.tracker.spawn(async move {
        let shared = task_shared;
        let Ok(client) = on_client.await else { return };
        let timeout = shared.config.timeouts.tls_handshake;
        let first = with_timeout(Side::Client, Phase::Tunnel, timeout, sniff::sniff(sniff::unwrap(client)));
        let (tls_inside, client) = match first.await {
            Ok(Some(found)) => found,
            Ok(None) => return,
            Err(err) => {
                tracing::debug!(host = %upstream.host, cause = %err.one_line(), "client sent nothing inside CONNECT");
                return;
            }
        };
        if !tls_inside {
            // Plain HTTP inside the tunnel (a ws:// URL through a proxy agent): no TLS either way.
            let upstream = Arc::new(UpstreamUrl::host_port(false, &upstream.host, upstream.port));
            let handler_shared = shared.clone();
            serve_http(client, &shared, move |req| {
                to_origin(req, (*upstream).clone(), true, handler_shared.clone())
            })
            .await;
            return;
        }
        let tls = match forward.leaves.for_host(&upstream.host) {
            Ok(tls) => tls,
            Err(err) => {
                tracing::warn!(host = %upstream.host, cause = %err, "cannot issue a certificate; closing the tunnel");
                return;
            }
        };
        let accept = TlsAcceptor::from(tls).accept(client);
        let io = match with_timeout(Side::Client, Phase::TlsHandshake, timeout, accept).await {
            Ok(io) => io,
            Err(err) => {
                // Typical cause: a client that does not trust the wiretape CA.
                tracing::info!(host = %upstream.host, cause = %err.one_line(), "client TLS handshake inside CONNECT failed");
                return;
            }
        };
        let upstream = Arc::new(upstream);
        let handler_shared = shared.clone();
        serve_http(io, &shared, move |req| {
            to_origin(req, (*upstream).clone(), true, handler_shared.clone())
        })
        .await;
    });
    Response::new(
        http_body_util::Empty::new()
            .map_err(|never| match never {})
            .boxed_unsync(),
    )
}

/// A `CONNECT` not intercepted: dial, answer 200, then copy bytes both ways until either side
/// is done (or the proxy shuts down). Nothing is recorded.
async fn tunnel(
    req: Request<Incoming>,
    upstream: &UpstreamUrl,
    shared: Arc<Shared>,
) -> Response<ProxyBody> {
    let timeout = shared.config.timeouts.connect;
    let dial = TcpStream::connect((upstream.host.as_str(), upstream.port));
    let mut tcp = match with_timeout(Side::Upstream, Phase::Connect, timeout, dial).await {
        Ok(tcp) => tcp,
        Err(err) => return unavailable(&upstream.http_origin(), &err),
    };
    let _ = tcp.set_nodelay(true);
    let on_client = hyper::upgrade::on(req);
    let cancel = shared.cancel.child_token();
    shared.tracker.spawn(async move {
        let Ok(client) = on_client.await else { return };
        let mut client = sniff::unwrap(client);
        tokio::select! {
            // Either side closed (or failed): the tunnel is done.
            res = tokio::io::copy_bidirectional(&mut client, &mut tcp) => {
                if let Err(err) = res {
                    tracing::debug!(cause = %err, "tunnel ended with an error");
                }
            }
            // Shutdown: drop both sockets.
            () = cancel.cancelled() => {}
        }
    });
    Response::new(
        http_body_util::Empty::new()
            .map_err(|never| match never {})
            .boxed_unsync(),
    )
}

/// 502 for a host that cannot be reached, unrecorded (a tunnel's).
fn unavailable(origin: &str, err: &Error) -> Response<ProxyBody> {
    tracing::info!(%origin, cause = %err.one_line(), "tunnel target unavailable");
    own(
        StatusCode::BAD_GATEWAY,
        format!("wiretape: {origin} unavailable: {}\n", err.one_line()),
    )
}
