//! wiretape-proxy: a TLS-terminating WebSocket relay that records every connection.
//!
//! The proxy is protocol-agnostic: it knows WebSocket framing and nothing of LivePerson. A
//! client connects to it as it would to the real endpoint; the proxy dials the upstream with
//! the client's path, query and end-to-end headers, answers the client with the upstream's
//! handshake answer, and then relays every frame unchanged in both directions while the
//! recorder writes the connection to a cassette (see `wiretape_fixtures::cassette`).
//!
//! # Layout
//! - [`config`]: [`Config`], [`Timeouts`]; built and validated before anything binds.
//! - `listener`: [`Proxy::start`] and the accept loop; [`ProxyHandle`] stops it.
//! - `connection`: one connection's phases, TLS accept to relay (phase chart there); the one
//!   WebSocket forwarding path every mode uses.
//! - `forward`: forward-proxy mode ([`Mode::Forward`], `wiretape record --forward`): `CONNECT`
//!   intercepted with a leaf per host or tunnelled ([`HostPattern`]), absolute-form requests,
//!   HTTP exchanges streamed and recorded.
//! - `forwarder`: [`Forwarder`], the same forwarding for a server that accepts by itself.
//! - [`upstream`]: maps the handshake onto the upstream and dials it.
//! - [`tls`]: the upstream's trust ([`UpstreamTrust`], pinning) and why a certificate was
//!   refused ([`UpstreamCertError`]).
//! - [`relay`]: the hot path and its policy on control frames (read its docs): two
//!   directions, each a small state machine, and the [`relay::Tap`] that sees what passed.
//! - [`frame`]: the bits of RFC 6455 framing the relay and the recorder need.
//! - [`recorder`]: the tap and its bounded queue, the writer thread that owns the
//!   cassettes, and the live view.
//! - [`error`]: [`Error`] with the [`Side`] and [`Phase`] that failed.
//! - [`timeouts`]: [`Timeouts`], the deadline of each network phase.
//!
//! # Example
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use wiretape_fixtures::pki::LocalCa;
//! use wiretape_proxy::{Config, Proxy, UpstreamTrust, UpstreamUrl};
//!
//! let ca = LocalCa::generate()?;
//! let upstream = UpstreamUrl::parse("wss://va.msg.liveperson.net")?;
//! let mut config = Config::new(
//!     upstream,
//!     wiretape_proxy::tls::upstream_client_config(&UpstreamTrust::Verify)?,
//!     Some(ca.local_leaf()?.server_config()?),
//! );
//! config.record.dir = Some("recordings".into());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let proxy = Proxy::start(listener, config).await?;
//! println!("listening on {}", proxy.url());
//! // ... point a client at proxy.url() ...
//! proxy.shutdown().await; // every cassette is complete now
//! # Ok(()) }
//! ```

pub mod config;
mod connection;
pub mod error;
mod forward;
mod forwarder;
pub mod frame;
mod listener;
pub mod recorder;
pub mod relay;
pub mod timeouts;
pub mod tls;
pub mod upstream;

pub use config::{Advice, Config, Mode, Timeouts};
pub use error::{Error, Phase, Side};
pub use forward::{ForwardConfig, HostPattern};
pub use forwarder::Forwarder;
pub use listener::{Proxy, ProxyHandle};
pub use recorder::RecordConfig;
pub use relay::{RelayLimits, UpstreamDrop};
pub use tls::{CertProblem, UpstreamCertError, UpstreamTrust};
pub use upstream::UpstreamUrl;
