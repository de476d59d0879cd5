//! The proxy's configuration: one struct per concern, composed here, validated before binding.

use std::sync::Arc;
use std::time::Duration;

use rustls::{ClientConfig, ServerConfig};

use crate::error::Error;
pub use crate::forward::ForwardConfig;
use crate::recorder::RecordConfig;
use crate::relay::RelayLimits;
pub use crate::timeouts::Timeouts;
use crate::upstream::UpstreamUrl;

/// What the proxy is in front of.
#[derive(Debug, Clone)]
pub enum Mode {
    /// A reverse proxy: every connection is relayed to this one upstream.
    Reverse(UpstreamUrl),
    /// A forward proxy: clients name the host (`CONNECT host:port`, absolute-form requests).
    Forward(ForwardConfig),
}

/// Everything the proxy needs, checked before anything binds.
#[derive(Debug, Clone)]
pub struct Config {
    /// Reverse proxy to one upstream, or forward proxy.
    pub mode: Mode,
    /// TLS client configuration for the upstream leg (see [`crate::tls`]).
    pub upstream_tls: Arc<ClientConfig>,
    /// TLS server configuration for the listening side; `None` listens for plain `ws://`
    /// (for conformance suites that cannot speak TLS). A forward proxy listens for plain HTTP
    /// and terminates TLS inside each `CONNECT` with a leaf of its own (this is unused).
    pub server_tls: Option<Arc<ServerConfig>>,
    /// Recording and live view.
    pub record: RecordConfig,
    /// Per-phase deadlines.
    pub timeouts: Timeouts,
    /// Relay limits (frame size, close handshake deadline, buffers).
    pub limits: RelayLimits,
    /// Connections served at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// How long shutdown waits for connections to finish their close handshakes.
    pub grace: Duration,
    /// Advice added to the reason a client gets when the upstream is unavailable.
    pub advice: Advice,
    /// Fault rules injected between the legs (`--fault`); empty by default. Cheap to clone:
    /// every clone is the same set, with the same counts.
    pub faults: wiretape_fixtures::Faults,
}

/// Advice for an upstream failure, added after its reason in the client's 502 and the log:
/// the library says what failed, its user (the command line) says what to do about it.
#[derive(Clone, Default)]
pub struct Advice(Option<Arc<AdviceFn>>);

type AdviceFn = dyn Fn(&Error) -> Option<String> + Send + Sync;

impl Advice {
    /// Advice given by `advise`, which returns `None` when it has nothing to say.
    pub fn new(advise: impl Fn(&Error) -> Option<String> + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(advise)))
    }

    /// What to say about `err`, if anything.
    pub(crate) fn about(&self, err: &Error) -> Option<String> {
        self.0.as_ref().and_then(|advise| advise(err))
    }
}

impl std::fmt::Debug for Advice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Advice(..)"
        } else {
            "Advice(none)"
        })
    }
}

impl Config {
    /// A configuration relaying to `upstream` with the given TLS legs and default limits.
    pub fn new(
        upstream: UpstreamUrl,
        upstream_tls: Arc<ClientConfig>,
        server_tls: Option<Arc<ServerConfig>>,
    ) -> Self {
        Self::with_mode(Mode::Reverse(upstream), upstream_tls, server_tls)
    }

    /// A forward proxy: plain HTTP on the listening side, hosts intercepted as `forward`
    /// says, every upstream verified with `upstream_tls`.
    pub fn forward(forward: ForwardConfig, upstream_tls: Arc<ClientConfig>) -> Self {
        Self::with_mode(Mode::Forward(forward), upstream_tls, None)
    }

    fn with_mode(
        mode: Mode,
        upstream_tls: Arc<ClientConfig>,
        server_tls: Option<Arc<ServerConfig>>,
    ) -> Self {
        Self {
            mode,
            upstream_tls,
            server_tls,
            record: RecordConfig::default(),
            timeouts: Timeouts::default(),
            limits: RelayLimits::default(),
            max_connections: 50_000,
            grace: Duration::from_secs(5),
            advice: Advice::default(),
            faults: wiretape_fixtures::Faults::new(None),
        }
    }
}
