//! Test clients of the consumer and agent endpoints.
//!
//! - [`AgentClient`]: an agent (the agent socket, as node-agent-sdk speaks it) on the same
//!   frame-sorting core as [`Consumer`].
//! - [`Consumer`]: the client a test drives: connects (`ws://` or `wss://`), sends requests
//!   and awaits their responses or notifications by type, with a per-frame timeout, and
//!   panics with what it awaited and what arrived instead.
//! - Request builders ([`receipt`], [`publish`], [`text_message`], ...) so a test does not
//!   hand-write JSON envelopes.
//! - [`connect`]: the bare connector under both, returning the raw [`ConsumerSocket`]:
//!   `ws://` or `wss://` (with a given rustls client configuration), optionally with the
//!   `Authorization: jwt <token>` header; [`connect_with_headers`] adds any other upgrade
//!   header (`Client-Properties`).
//!
//! The connector exists because the workspace builds tokio-tungstenite without its TLS
//! features (rustls is pinned once and wired by hand): TLS is done here with tokio-rustls, then
//! the WebSocket handshake runs over the TLS stream.

mod agent;
mod consumer;
mod requests;

pub use agent::AgentClient;
pub use consumer::{Consumer, DEFAULT_FRAME_TIMEOUT, DEFAULT_TOKEN};
pub use requests::{accept_status_event, publish, receipt, request_conversation, text_message};

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::WebSocketStream;

/// A consumer WebSocket as returned by [`connect`].
pub type ConsumerSocket = WebSocketStream<ClientIo>;

/// Why [`connect`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL is not a usable `ws://` or `wss://` URL.
    #[error("invalid URL {0}")]
    Url(String),
    /// `wss://` without a TLS configuration.
    #[error("a wss:// URL needs a TLS client configuration")]
    NoTls,
    /// TCP connect or TLS handshake failed.
    #[error("cannot connect to {addr}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The WebSocket handshake failed (for instance a 401 from the server).
    #[error("WebSocket handshake failed")]
    Handshake(#[source] tokio_tungstenite::tungstenite::Error),
}

/// The byte stream under a [`ConsumerSocket`]: plain TCP or TLS over TCP.
#[derive(Debug)]
pub enum ClientIo {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://`.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// Connects to `url` (`ws://` or `wss://host:port/path?query`). With `jwt`, the upgrade
/// carries `Authorization: jwt <jwt>`; without, the client must send `InitConnection`.
///
/// # Errors
/// See [`ClientError`].
pub async fn connect(
    url: &str,
    tls: Option<Arc<ClientConfig>>,
    jwt: Option<&str>,
) -> Result<ConsumerSocket, ClientError> {
    connect_with_headers(url, tls, jwt, &[]).await
}

/// As [`connect`], with extra upgrade headers sent as given, e.g.
/// `("Client-Properties", r#"{"type":".ClientProperties","features":["MULTI_DIALOG"]}"#)`.
///
/// # Errors
/// See [`ClientError`]; a header name or value HTTP cannot carry is [`ClientError::Url`].
pub async fn connect_with_headers(
    url: &str,
    tls: Option<Arc<ClientConfig>>,
    jwt: Option<&str>,
    headers: &[(&str, &str)],
) -> Result<ConsumerSocket, ClientError> {
    let mut request = url
        .into_client_request()
        .map_err(|_| ClientError::Url(url.to_owned()))?;
    if let Some(jwt) = jwt {
        let value = HeaderValue::from_str(&format!("jwt {jwt}"))
            .map_err(|_| ClientError::Url("the token is not a valid header value".to_owned()))?;
        request.headers_mut().insert("Authorization", value);
    }
    for (name, value) in headers {
        let bad = || ClientError::Url(format!("header {name} cannot be sent as given"));
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
        let value = HeaderValue::from_str(value).map_err(|_| bad())?;
        request.headers_mut().append(name, value);
    }
    let uri = request.uri().clone();
    let host = uri
        .host()
        .ok_or_else(|| ClientError::Url(url.to_owned()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let secure = uri.scheme_str() == Some("wss");
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let addr = format!("{host}:{port}");
    let connect_err = |source| ClientError::Connect {
        addr: addr.clone(),
        source,
    };
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(connect_err)?;
    let io = if secure {
        let config = tls.ok_or(ClientError::NoTls)?;
        let name =
            ServerName::try_from(host.clone()).map_err(|_| ClientError::Url(url.to_owned()))?;
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(connect_err)?;
        ClientIo::Tls(Box::new(stream))
    } else {
        ClientIo::Plain(tcp)
    };
    let (socket, _response) = tokio_tungstenite::client_async(request, io)
        .await
        .map_err(ClientError::Handshake)?;
    Ok(socket)
}

/// An error and all its sources, `: `-separated.
pub(super) fn causes(err: &dyn std::error::Error) -> String {
    let mut cause = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        cause.push_str(&format!(": {inner}"));
        source = inner.source();
    }
    cause
}

impl AsyncRead for ClientIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientIo::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ClientIo::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ClientIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientIo::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ClientIo::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientIo::Plain(s) => Pin::new(s).poll_flush(cx),
            ClientIo::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientIo::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ClientIo::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
