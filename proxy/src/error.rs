//! Errors of the proxy: each says which leg ([`Side`]) and which [`Phase`] failed.

use std::fmt;

/// Which leg of a proxied connection an error happened on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Between the client and the proxy.
    Client,
    /// Between the proxy and the upstream.
    Upstream,
    /// Inside the proxy (configuration, binding, recording).
    Local,
}

/// The phase of a connection's life an error happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading the configuration (URLs, certificates, directories).
    Config,
    /// Binding or accepting on the listening socket.
    Listen,
    /// TCP connect to the upstream.
    Connect,
    /// TLS handshake.
    TlsHandshake,
    /// The HTTP/1.1 WebSocket upgrade.
    WsUpgrade,
    /// Relaying frames.
    Relay,
    /// A forward proxy's plain HTTP exchange: the request sent, the answer's head awaited.
    Http,
    /// A forward proxy's `CONNECT` (its target, its tunnel).
    Tunnel,
    /// Writing cassettes.
    Record,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Config => "configuration",
            Phase::Listen => "listening",
            Phase::Connect => "connecting",
            Phase::TlsHandshake => "TLS handshake",
            Phase::WsUpgrade => "WebSocket upgrade",
            Phase::Relay => "relay",
            Phase::Http => "HTTP exchange",
            Phase::Tunnel => "CONNECT tunnel",
            Phase::Record => "recording",
        })
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Client => "client",
            Side::Upstream => "upstream",
            Side::Local => "wiretape",
        })
    }
}

/// An error of the proxy: this layer's message in `Display`, the cause in `source()`.
#[derive(Debug, thiserror::Error)]
#[error("{phase} ({side}) failed")]
pub struct Error {
    /// The leg.
    pub side: Side,
    /// The phase.
    pub phase: Phase,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl Error {
    /// An error of `phase` on `side` caused by `source`.
    pub fn new(
        side: Side,
        phase: Phase,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            side,
            phase,
            source: source.into(),
        }
    }

    /// The first cause of type `E` in the chain, e.g. a
    /// refused upstream certificate (`tls::UpstreamCertError`) to give advice about.
    pub fn cause<E: std::error::Error + 'static>(&self) -> Option<&E> {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self.source.as_ref());
        while let Some(err) = cause {
            if let Some(found) = err.downcast_ref::<E>() {
                return Some(found);
            }
            cause = err.source();
        }
        None
    }

    /// The message and every cause on one line: `TLS handshake (upstream) failed: upstream
    /// certificate for 127.0.0.1 is not signed by a trusted authority`.
    pub fn one_line(&self) -> String {
        let mut out = self.to_string();
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self.source.as_ref());
        while let Some(err) = cause {
            let text = err.to_string();
            if !out.ends_with(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            cause = err.source();
        }
        out
    }

    /// The direct cause alone, without this layer's words: what a cassette's end line says
    /// (`upstream dropped the connection without a close frame`).
    pub fn cause_text(&self) -> String {
        self.source.to_string()
    }
}

/// A cause with a few words of context: `writing to the client failed: Broken pipe`.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub(crate) struct Context {
    what: String,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl Context {
    /// `source`, said to have happened while doing `what`.
    pub(crate) fn new(
        what: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            what: what.into(),
            source: source.into(),
        }
    }
}
