//! One client connection, from accept to the end of its relay.
//!
//! ```text
//! TCP accept ─▶ TLS accept ─▶ read upgrade request ─▶ dial upstream ─▶ TLS ─▶ upgrade upstream
//!   (listener)   (tls_handshake)   (upgrade)           (connect)  (tls_handshake)  (upgrade)
//!                                                                             │
//!     ┌────────────── 101: answer the client with the upstream's 101 ◀───────┤
//!     │                refusal (e.g. 401): pass status and body back ◀───────┤
//!     │                unreachable / bad certificate: 502 with the reason ◀──┘
//!     ▼
//!  relay::run (both directions) ─▶ recorder end line
//! ```
//! Every attempt is recorded, refused or not.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::either::Either;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wiretape_fixtures::cassette::{is_recorded_header, Open};

use crate::config::{Config, Mode};
use crate::error::{Context, Error, Phase, Side};
use crate::recorder::Recorder;
use crate::relay::{self, EndedBy, RelayOutcome};
use crate::timeouts::with_timeout;
use crate::upstream::{self, is_end_to_end, Handshake, UpstreamUrl};

/// What every connection of one proxy shares.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) recorder: Recorder,
    /// Relays run as tracked tasks so shutdown can wait for their close handshakes.
    pub(crate) tracker: TaskTracker,
    /// The proxy's shutdown signal; each relay gets a child.
    pub(crate) cancel: CancellationToken,
    pub(crate) next_id: AtomicU64,
}

/// Serves one accepted TCP connection: a forward proxy's plain HTTP, or a reverse proxy's
/// TLS (unless plain) and upgrade requests relayed to its one upstream.
#[tracing::instrument(name = "conn", skip_all, fields(%peer))]
pub(crate) async fn serve(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let upstream = match &shared.config.mode {
        Mode::Forward(_) => return crate::forward::serve(stream, shared).await,
        Mode::Reverse(upstream) => Arc::new(upstream.clone()),
    };
    let io = match &shared.config.server_tls {
        Some(tls) => {
            let accept = TlsAcceptor::from(tls.clone()).accept(stream);
            match with_timeout(
                Side::Client,
                Phase::TlsHandshake,
                shared.config.timeouts.tls_handshake,
                accept,
            )
            .await
            {
                Ok(tls) => Either::Left(tls),
                Err(err) => {
                    // Typical cause: a client that does not trust the wiretape CA.
                    tracing::info!(cause = %err.one_line(), "client TLS handshake failed");
                    return;
                }
            }
        }
        None => Either::Right(stream),
    };
    let handler_shared = shared.clone();
    serve_http(io, &shared, move |req| {
        let (shared, upstream) = (handler_shared.clone(), upstream.clone());
        async move {
            if !is_websocket_upgrade(&req) {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "wiretape record relays WebSocket connections to {}; connect with a \
                         WebSocket client, e.g. wscat -c wss://HOST:PORT/ws_api/...\n",
                        upstream.origin()
                    ),
                );
            }
            forward(req, &upstream, true, shared).await
        }
    })
    .await;
}

/// Serves HTTP/1.1 on `io` (upgrades included) until the client is done, each request
/// answered by `handle`; on shutdown, the exchange in flight finishes first. One function for
/// a reverse proxy's connections and for every connection a forward proxy serves (its own,
/// and the requests inside each intercepted `CONNECT`).
pub(crate) async fn serve_http<I, F, Fut, B>(io: I, shared: &Shared, handle: F)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    F: Fn(Request<Incoming>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Response<B>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let service = service_fn(move |req| {
        let answer = handle(req);
        async move { Ok::<_, Infallible>(answer.await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(shared.config.timeouts.upgrade)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        // The HTTP exchange ended: either the connection was upgraded (the relay task owns it
        // now) or it was a plain request that got its answer.
        res = conn.as_mut() => {
            if let Err(err) = res {
                tracing::debug!(cause = %err, "client HTTP connection ended with an error");
            }
        }
        // Shutdown before the upgrade: let hyper finish the exchange in flight.
        () = shared.cancel.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

pub(crate) fn is_websocket_upgrade<B>(req: &Request<B>) -> bool {
    let has = |name: header::HeaderName, token: &str| {
        req.headers().get_all(name).iter().any(|v| {
            v.to_str()
                .map(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
                .unwrap_or(false)
        })
    };
    has(header::CONNECTION, "upgrade") && has(header::UPGRADE, "websocket")
}

pub(crate) fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Answers one WebSocket upgrade request: dials `upstream` with it, passes the upstream's
/// answer back, and (on 101) spawns the relay for when the client's side is upgraded. Any
/// request type hyper can upgrade works, so a server of another kind can hand requests over.
/// The reverse proxy, the forward proxy (inside a `CONNECT` and for absolute-form `ws://`) and
/// [`crate::Forwarder`] all come here: one relay, recorder, redaction and live view.
pub(crate) async fn forward<B>(
    mut req: Request<B>,
    upstream: &UpstreamUrl,
    record: bool,
    shared: Arc<Shared>,
) -> Response<Full<Bytes>> {
    let config = &shared.config;
    let recorder = if record {
        shared.recorder.clone()
    } else {
        Recorder::off()
    };
    let conn = shared.next_id.fetch_add(1, Ordering::Relaxed) + 1;
    let started = Instant::now();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    // The cassette keeps the URL without credentials (the agent socket's bearer is in its path).
    let mut open = Open::new(conn, config.record.redactor.url(&path_and_query));
    open.headers = req
        .headers()
        .iter()
        .filter(|(name, _)| is_recorded_header(name.as_str()))
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes());
            (
                name.as_str().to_owned(),
                config.record.redactor.header(name.as_str(), &value),
            )
        })
        .collect();

    open.upstream = Some(upstream.origin());
    if let Some(refusal) = config.faults.handshake() {
        return refused_by_fault(&recorder, conn, started, open, &refusal).await;
    }
    let answer = upstream::handshake(
        upstream,
        &config.upstream_tls,
        &path_and_query,
        req.headers(),
        &config.timeouts,
    )
    .await;
    match answer {
        Ok(Handshake::Accepted { io, headers }) => {
            open.subprotocol = headers
                .get(header::SEC_WEBSOCKET_PROTOCOL)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            recorder.open(conn, open).await;
            let on_client = hyper::upgrade::on(&mut req);
            let mut resp = Response::new(Full::new(Bytes::new()));
            *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            for (name, value) in &headers {
                if is_end_to_end(name.as_str()) {
                    resp.headers_mut().append(name, value.clone());
                }
            }
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            resp.headers_mut()
                .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            let relay_shared = shared.clone();
            let recorder = recorder.clone();
            // The connection's fault engine: `after` counts from the upgrade.
            let faults = config.faults.connection();
            shared.tracker.spawn(async move {
                let shared = relay_shared;
                let outcome = match on_client.await {
                    Ok(client) => {
                        let tap = recorder.tap(conn);
                        relay::run_with_faults(
                            TokioIo::new(client),
                            io,
                            tap,
                            shared.cancel.child_token(),
                            shared.config.limits,
                            faults,
                        )
                        .await
                    }
                    Err(err) => RelayOutcome {
                        ended_by: EndedBy::Client,
                        error: Some(Error::new(
                            Side::Client,
                            Phase::WsUpgrade,
                            Context::new("client upgrade failed", err),
                        )),
                    },
                };
                match &outcome.error {
                    Some(err) => tracing::debug!(conn, ended_by = ?outcome.ended_by, side = %err.side, phase = %err.phase, cause = %err.cause_text(), "relay ended"),
                    None => tracing::debug!(conn, ended_by = ?outcome.ended_by, "relay ended"),
                }
                recorder.end(conn, started.elapsed(), outcome).await;
            });
            resp
        }
        Ok(Handshake::Refused {
            status,
            headers,
            body,
        }) => {
            tracing::info!(conn, %status, "upstream refused the WebSocket upgrade");
            open.status = status.as_u16();
            recorder.open(conn, open).await;
            let outcome = RelayOutcome {
                ended_by: EndedBy::Upstream,
                error: Some(Error::new(
                    Side::Upstream,
                    Phase::WsUpgrade,
                    format!("upstream refused the WebSocket upgrade: {status}"),
                )),
            };
            recorder.end(conn, started.elapsed(), outcome).await;
            let mut resp = Response::new(Full::new(body));
            *resp.status_mut() = status;
            for (name, value) in &headers {
                if is_end_to_end(name.as_str()) {
                    resp.headers_mut().append(name, value.clone());
                }
            }
            resp
        }
        Err(err) => {
            unreachable(
                &shared,
                &recorder,
                &upstream.origin(),
                conn,
                started,
                open,
                &err,
            )
            .await
        }
    }
}

/// A `refuse` fault rule fired: the client's handshake is answered with its status (and
/// `Retry-After`) without contacting the upstream; the cassette has the refused open, the
/// fault line and the end.
async fn refused_by_fault(
    recorder: &Recorder,
    conn: u64,
    started: Instant,
    mut open: Open,
    refusal: &wiretape_fixtures::fault::Refusal,
) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    tracing::info!(conn, rule = %refusal.fired.rule, %status, "fault fired: handshake refused");
    open.status = status.as_u16();
    recorder.open(conn, open).await;
    recorder
        .fault(conn, started.elapsed(), &refusal.fired)
        .await;
    let outcome = RelayOutcome {
        ended_by: EndedBy::Proxy,
        error: Some(Error::new(
            Side::Local,
            Phase::WsUpgrade,
            format!("refused by the fault rule `{}`", refusal.fired.rule),
        )),
    };
    recorder.end(conn, started.elapsed(), outcome).await;
    let mut resp = text(
        status,
        format!(
            "{status}: refused by the fault rule `{}` (wiretape)\n",
            refusal.fired.rule
        ),
    );
    if let Some(secs) = refusal.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// The upstream could not be reached or its certificate was refused: 502 with one line,
/// recorded as the connection's (or HTTP exchange's) cassette.
pub(crate) async fn unreachable(
    shared: &Shared,
    recorder: &Recorder,
    upstream: &str,
    conn: u64,
    started: Instant,
    mut open: Open,
    err: &Error,
) -> Response<Full<Bytes>> {
    let mut reason = err.one_line();
    if let Some(advice) = shared.config.advice.about(err) {
        reason = format!("{reason}; {advice}");
    }
    tracing::warn!(conn, %upstream, cause = %reason, "upstream unavailable");
    open.status = 502;
    recorder.open(conn, open).await;
    let outcome = RelayOutcome {
        ended_by: EndedBy::Proxy,
        error: Some(Error::new(err.side, err.phase, reason.clone())),
    };
    recorder.end(conn, started.elapsed(), outcome).await;
    text(
        StatusCode::BAD_GATEWAY,
        format!("wiretape: upstream {upstream} unavailable: {reason}\n"),
    )
}
