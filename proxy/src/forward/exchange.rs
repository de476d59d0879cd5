//! A forward proxy's plain HTTP exchange: the request streamed to the host, the answer
//! streamed back, and (when intercepted) the exchange recorded as one cassette, bodies capped
//! at [`BODY_CAP`] and redacted by the one policy.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::time::Instant;
use wiretape_fixtures::cassette::{is_recorded_exchange_header, Exchange, Open, BODY_CAP};

use super::{own, ProxyBody};
use crate::connection::{unreachable, Shared};
use crate::error::{Error, Phase, Side};
use crate::recorder::Recorder;
use crate::relay::{EndedBy, RelayOutcome};
use crate::timeouts::with_timeout;
use crate::upstream::{self, UpstreamUrl};

/// Whether a header of an HTTP exchange is passed on (both directions) and recorded: the one
/// rule ([`is_recorded_exchange_header`]) that `wiretape import` keeps too. Unlike an
/// upgrade's, `content-length` passes: the body is streamed unchanged.
fn passes(name: &header::HeaderName) -> bool {
    is_recorded_exchange_header(name.as_str())
}

/// Forwards `req` to `upstream` and streams the answer back; records the exchange when
/// `record`. An unreachable host or a refused certificate gets 502 with one line.
pub(super) async fn forward(
    req: Request<Incoming>,
    upstream: UpstreamUrl,
    record: bool,
    shared: Arc<Shared>,
) -> Response<ProxyBody> {
    let started = Instant::now();
    let recorder = if record {
        shared.recorder.clone()
    } else {
        Recorder::off()
    };
    let conn = shared
        .next_id
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        + 1;
    let redactor = &shared.config.record.redactor;
    let (parts, body) = req.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    let mut open = Open::new(conn, redactor.url(&path_and_query));
    open.upstream = Some(upstream.http_origin());
    open.method = Some(parts.method.as_str().to_owned());
    open.headers = parts
        .headers
        .iter()
        .filter(|(name, _)| passes(name))
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes());
            (
                name.as_str().to_owned(),
                redactor.header(name.as_str(), &value),
            )
        })
        .collect();
    let origin = upstream.http_origin();

    let timeouts = &shared.config.timeouts;
    let io = match upstream::dial(&upstream, &shared.config.upstream_tls, timeouts).await {
        Ok(io) => io,
        Err(err) => return gateway(&shared, &recorder, &origin, conn, started, open, &err).await,
    };
    let handshake = hyper::client::conn::http1::handshake(TokioIo::new(io)).await;
    let (mut sender, connection) = match handshake {
        Ok(pair) => pair,
        Err(err) => {
            let err = Error::new(Side::Upstream, Phase::Http, err);
            return gateway(&shared, &recorder, &origin, conn, started, open, &err).await;
        }
    };
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(cause = %err, "upstream HTTP connection ended");
        }
    });

    // The request, its body streamed through a tap that keeps the first BODY_CAP bytes.
    let request_capture = Arc::new(Mutex::new(None));
    let request_tap = BodyTap::new(body, {
        let slot = request_capture.clone();
        move |captured| *lock(&slot) = Some(captured)
    });
    let request = Request::builder()
        .method(parts.method.clone())
        .uri(&path_and_query)
        .body(request_tap.boxed_unsync());
    let mut request = match request {
        Ok(request) => request,
        Err(err) => {
            return own(
                StatusCode::BAD_REQUEST,
                format!("wiretape: cannot forward {path_and_query:?}: {err}\n"),
            )
        }
    };
    for (name, value) in &parts.headers {
        if passes(name) {
            request.headers_mut().append(name, value.clone());
        }
    }
    if !request.headers().contains_key(header::HOST) {
        if let Ok(host) = HeaderValue::from_str(&upstream.host_header()) {
            request.headers_mut().insert(header::HOST, host);
        }
    }
    let sent = with_timeout(
        Side::Upstream,
        Phase::Http,
        timeouts.response,
        sender.send_request(request),
    )
    .await;
    let response = match sent {
        Ok(response) => response,
        Err(err) => return gateway(&shared, &recorder, &origin, conn, started, open, &err).await,
    };

    let (parts, body) = response.into_parts();
    let status = parts.status;
    let mut answer = Response::new(());
    *answer.status_mut() = status;
    *answer.version_mut() = http::Version::HTTP_11;
    for (name, value) in &parts.headers {
        if passes(name) {
            answer.headers_mut().append(name, value.clone());
        }
    }
    let response_headers = parts.headers;
    let request_headers = std::mem::take(&mut open.headers);
    open.status = status.as_u16();
    let done_shared = shared.clone();
    let response_tap = BodyTap::new(body, move |response: Captured| {
        let shared = done_shared;
        let request = lock(&request_capture).take().unwrap_or_default();
        let redactor = &shared.config.record.redactor;
        let exchange = Exchange {
            ms: started.elapsed().as_millis() as u64,
            status: status.as_u16(),
            request_body: redactor.body(
                header_str(&request_headers, "content-type"),
                header_str(&request_headers, "content-encoding"),
                &request.bytes,
                request.length,
            ),
            response_headers: response_headers
                .iter()
                .filter(|(name, _)| passes(name))
                .map(|(name, value)| {
                    let value = String::from_utf8_lossy(value.as_bytes());
                    (
                        name.as_str().to_owned(),
                        redactor.header(name.as_str(), &value),
                    )
                })
                .collect(),
            response_body: redactor.body(
                response_headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok()),
                response_headers
                    .get(header::CONTENT_ENCODING)
                    .and_then(|v| v.to_str().ok()),
                &response.bytes,
                response.length,
            ),
        };
        let mut open = open;
        open.headers = request_headers;
        let outcome = RelayOutcome {
            ended_by: if response.complete {
                EndedBy::Upstream
            } else {
                EndedBy::Client
            },
            error: (!response.complete).then(|| {
                Error::new(
                    Side::Client,
                    Phase::Http,
                    "the answer's body was not relayed to its end",
                )
            }),
        };
        let tracker = shared.tracker.clone();
        tracker.spawn(async move {
            recorder.open(conn, open).await;
            recorder.exchange(conn, exchange).await;
            recorder.end(conn, started.elapsed(), outcome).await;
        });
    });
    answer.map(|()| response_tap.boxed_unsync())
}

fn header_str<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// 502 with the reason, recorded as in reverse mode.
async fn gateway(
    shared: &Shared,
    recorder: &Recorder,
    origin: &str,
    conn: u64,
    started: Instant,
    open: Open,
    err: &Error,
) -> Response<ProxyBody> {
    unreachable(shared, recorder, origin, conn, started, open, err)
        .await
        .map(|b| b.map_err(|never| match never {}).boxed_unsync())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What a [`BodyTap`] kept of a body.
#[derive(Debug, Default)]
struct Captured {
    /// The first [`BODY_CAP`] bytes (and at most one more frame's worth is never kept).
    bytes: Vec<u8>,
    /// Every byte that passed.
    length: u64,
    /// Whether the body reached its end (not cut short by an error or a drop).
    complete: bool,
}

type Done = Box<dyn FnOnce(Captured) + Send>;

/// A body passed through unchanged while its first [`BODY_CAP`] bytes are kept; `done` gets
/// them once, at the body's end, error or drop.
struct BodyTap<B> {
    inner: B,
    captured: Captured,
    done: Option<Done>,
}

impl<B> BodyTap<B> {
    fn new(inner: B, done: impl FnOnce(Captured) + Send + 'static) -> Self {
        Self {
            inner,
            captured: Captured::default(),
            done: Some(Box::new(done)),
        }
    }

    fn finish(&mut self, complete: bool) {
        if let Some(done) = self.done.take() {
            let mut captured = std::mem::take(&mut self.captured);
            captured.complete = complete;
            done(captured);
        }
    }
}

impl<B> Drop for BodyTap<B> {
    fn drop(&mut self) {
        self.finish(false);
    }
}

impl<B> Body for BodyTap<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.captured.length += data.len() as u64;
                    let room = (BODY_CAP + 1).saturating_sub(this.captured.bytes.len());
                    this.captured
                        .bytes
                        .extend_from_slice(&data[..data.len().min(room)]);
                }
                if this.inner.is_end_stream() {
                    this.finish(true);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => {
                this.finish(false);
                Poll::Ready(Some(Err(err.into())))
            }
            Poll::Ready(None) => {
                this.finish(true);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
