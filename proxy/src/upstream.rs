//! The upstream leg: map the client's handshake onto the upstream, dial, TLS, upgrade.
//!
//! The client's path and query are forwarded unchanged (after the upstream URL's own path
//! prefix, if it has one), and so are its end-to-end headers: `Authorization`,
//! `Sec-WebSocket-Protocol`, `Sec-WebSocket-Key`/`-Version`, `Origin`, `User-Agent`, cookies
//! and custom headers. `Host` names the upstream. Hop-by-hop headers ([`is_end_to_end`]) are not
//! forwarded; neither is `Sec-WebSocket-Extensions`: a compression extension would make the
//! recorded payloads unreadable, so the two peers talk without one.

use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Empty};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_util::either::Either;

use crate::error::{Error, Phase, Side};
use crate::timeouts::{with_timeout, Timeouts};

/// Whether an upgrade request header is forwarded end to end: the cassette format's rule, so
/// what is forwarded and what is recorded follow one list.
pub use wiretape_fixtures::cassette::is_end_to_end_on_upgrade as is_end_to_end;

/// Largest refusal body passed back to the client.
const MAX_REFUSAL_BODY: usize = 64 << 10;

/// A parsed `wss://host[:port][/prefix]` (or `ws://` for plain upstreams).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamUrl {
    /// TLS (`wss`) or plain (`ws`).
    pub tls: bool,
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Path prefix put before the client's path ("" for none).
    pub prefix: String,
}

impl UpstreamUrl {
    /// Parses an upstream URL.
    ///
    /// # Errors
    /// When the scheme is not `ws`/`wss` or there is no host.
    pub fn parse(url: &str) -> Result<Self, Error> {
        let bad = |what: String| Error::new(Side::Local, Phase::Config, what);
        let uri: http::Uri = url
            .parse()
            .map_err(|e| bad(format!("upstream URL {url:?} is not a URL: {e}")))?;
        let tls = match uri.scheme_str() {
            Some("wss") | Some("https") => true,
            Some("ws") | Some("http") => false,
            _ => {
                return Err(bad(format!(
                    "upstream URL {url:?} must start with wss:// or ws://"
                )))
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| bad(format!("upstream URL {url:?} has no host")))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let prefix = uri.path().trim_end_matches('/').to_owned();
        Ok(Self {
            tls,
            host,
            port,
            prefix,
        })
    }

    /// `wss://host:port` as shown to users and stored in cassettes.
    pub fn origin(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!(
            "{scheme}://{}:{}{}",
            self.host_for_url(),
            self.port,
            self.prefix
        )
    }

    fn host_for_url(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }

    /// An upstream at `host:port` (IPv6 without brackets), TLS or not, without a prefix.
    pub fn host_port(tls: bool, host: &str, port: u16) -> Self {
        Self {
            tls,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            prefix: String::new(),
        }
    }

    /// `https://host:port` (or `http://`): the origin of an HTTP exchange with this host.
    pub fn http_origin(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.host_for_url(), self.port)
    }

    /// The `Host` header value for the upstream.
    pub(crate) fn host_header(&self) -> String {
        let default = if self.tls { 443 } else { 80 };
        if self.port == default {
            self.host_for_url()
        } else {
            format!("{}:{}", self.host_for_url(), self.port)
        }
    }
}

/// What the upstream answered to the upgrade.
pub(crate) enum Handshake {
    /// 101: the upgraded connection and the response's headers.
    Accepted {
        io: TokioIo<Upgraded>,
        headers: HeaderMap,
    },
    /// Anything else: passed back to the client as it is.
    Refused {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    },
}

/// A connection to an upstream: TLS, or plain TCP for `ws://` and `http://`.
pub(crate) type UpstreamIo = Either<tokio_rustls::client::TlsStream<TcpStream>, TcpStream>;

/// Dials `url`'s host and port and, for a TLS upstream, performs the handshake with `tls`
/// (its verifier explains a refused certificate in plain words).
pub(crate) async fn dial(
    url: &UpstreamUrl,
    tls: &Arc<ClientConfig>,
    timeouts: &Timeouts,
) -> Result<UpstreamIo, Error> {
    let tcp = with_timeout(
        Side::Upstream,
        Phase::Connect,
        timeouts.connect,
        TcpStream::connect((url.host.as_str(), url.port)),
    )
    .await?;
    let _ = tcp.set_nodelay(true);
    if !url.tls {
        return Ok(Either::Right(tcp));
    }
    let name = ServerName::try_from(url.host.clone())
        .map_err(|e| Error::new(Side::Upstream, Phase::TlsHandshake, e))?;
    let stream = with_timeout(
        Side::Upstream,
        Phase::TlsHandshake,
        timeouts.tls_handshake,
        async {
            let host = url.host.as_str();
            TlsConnector::from(tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| crate::tls::problem::explain(host, e))
        },
    )
    .await?;
    Ok(Either::Left(stream))
}

/// Dials the upstream and performs the WebSocket upgrade with the client's request.
pub(crate) async fn handshake(
    url: &UpstreamUrl,
    tls: &Arc<ClientConfig>,
    path_and_query: &str,
    client_headers: &HeaderMap,
    timeouts: &Timeouts,
) -> Result<Handshake, Error> {
    let io = dial(url, tls, timeouts).await?;
    let upgrade = |e: hyper::Error| Error::new(Side::Upstream, Phase::WsUpgrade, e);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(upgrade)?;
    tokio::spawn(async move {
        if let Err(err) = conn.with_upgrades().await {
            tracing::debug!(cause = %err, "upstream HTTP connection ended");
        }
    });

    let mut request = Request::builder()
        .method(Method::GET)
        .uri(format!("{}{}", url.prefix, path_and_query));
    for (name, value) in client_headers {
        if is_end_to_end(name.as_str()) {
            request = request.header(name, value);
        }
    }
    let request = request
        .header(header::HOST, url.host_header())
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "websocket")
        .body(Empty::<Bytes>::new())
        .map_err(|e| Error::new(Side::Client, Phase::WsUpgrade, e))?;
    let mut response = with_timeout(
        Side::Upstream,
        Phase::WsUpgrade,
        timeouts.upgrade,
        sender.send_request(request),
    )
    .await?;

    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let on_upgrade = hyper::upgrade::on(&mut response);
        let headers = response.headers().clone();
        let io = on_upgrade.await.map_err(upgrade)?;
        return Ok(Handshake::Accepted {
            io: TokioIo::new(io),
            headers,
        });
    }
    let status = response.status();
    let headers = response.headers().clone();
    let body = read_refusal_body(response.into_body(), timeouts.upgrade).await;
    Ok(Handshake::Refused {
        status,
        headers,
        body,
    })
}

/// Reads a refusal's body, keeping what arrived even when the upstream then drops the
/// connection uncleanly (many servers close without a TLS close_notify after an error answer).
async fn read_refusal_body(
    mut body: hyper::body::Incoming,
    deadline: std::time::Duration,
) -> Bytes {
    let mut out = Vec::new();
    let read = async {
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { break };
            if let Some(data) = frame.data_ref() {
                let room = MAX_REFUSAL_BODY.saturating_sub(out.len());
                out.extend_from_slice(&data[..data.len().min(room)]);
                if room <= data.len() {
                    break;
                }
            }
        }
    };
    let _ = tokio::time::timeout(deadline, read).await;
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls_parse_with_defaults() {
        let u = UpstreamUrl::parse("wss://va.msg.liveperson.net").unwrap();
        assert_eq!((u.tls, u.port, u.prefix.as_str()), (true, 443, ""));
        assert_eq!(u.host_header(), "va.msg.liveperson.net");
        let u = UpstreamUrl::parse("ws://127.0.0.1:9000/base/").unwrap();
        assert_eq!((u.tls, u.port, u.prefix.as_str()), (false, 9000, "/base"));
        assert_eq!(u.origin(), "ws://127.0.0.1:9000/base");
        assert_eq!(u.host_header(), "127.0.0.1:9000");
        let u = UpstreamUrl::parse("wss://[::1]:8443").unwrap();
        assert_eq!(u.host, "::1");
        assert_eq!(u.origin(), "wss://[::1]:8443");
        assert!(UpstreamUrl::parse("https//nope").is_err());
        assert!(UpstreamUrl::parse("ftp://x").is_err());
    }
}
