//! The proxy's forwarding without a listener of its own, for a server that accepts connections
//! itself and hands some over: `wiretape mock --replay ... --record-missing DIR` forwards the
//! connections no cassette matches to the real upstream and records them (VCR's
//! `new_episodes`).

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, Mode};
use crate::connection::{self, Shared};
use crate::error::{Error, Phase, Side};
use crate::recorder::Recorder;
use crate::upstream::UpstreamUrl;

/// Forwards upgrade requests to the upstream and records the connections. Cheap to clone.
#[derive(Clone)]
pub struct Forwarder {
    shared: Arc<Shared>,
    upstream: Arc<UpstreamUrl>,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("upstream", &self.upstream.origin())
            .finish()
    }
}

impl Forwarder {
    /// A forwarder with `config` (its `server_tls` is not used: the caller terminates TLS).
    ///
    /// # Errors
    /// When `config` is a forward proxy's (there is no one upstream to forward to) or the
    /// recorder thread cannot start.
    pub fn new(config: Config) -> Result<Self, Error> {
        let Mode::Reverse(upstream) = &config.mode else {
            return Err(Error::new(
                Side::Local,
                Phase::Config,
                "a Forwarder needs a reverse proxy's configuration (one upstream)",
            ));
        };
        let upstream = Arc::new(upstream.clone());
        let (recorder, _thread) = Recorder::start(config.record.clone())
            .map_err(|e| Error::new(Side::Local, Phase::Record, e))?;
        Ok(Self {
            shared: Arc::new(Shared {
                config,
                recorder,
                tracker: TaskTracker::new(),
                cancel: CancellationToken::new(),
                next_id: AtomicU64::new(0),
            }),
            upstream,
        })
    }

    /// Answers a WebSocket upgrade request as `wiretape record` would: the upstream's 101 (and
    /// the relay takes over the connection once the caller's server upgrades it), its refusal,
    /// or 502. The request must carry hyper's upgrade hook, as requests served by hyper (axum
    /// included) do.
    pub async fn forward<B>(&self, request: Request<B>) -> Response<Full<Bytes>> {
        connection::forward(request, &self.upstream, true, self.shared.clone()).await
    }

    /// Closes the forwarded connections with 1001, waits for them (up to the grace period),
    /// and returns once every cassette is written.
    pub async fn shutdown(&self) {
        self.shared.cancel.cancel();
        self.shared.tracker.close();
        let _ = tokio::time::timeout(self.shared.config.grace, self.shared.tracker.wait()).await;
        self.shared.recorder.flush().await;
    }
}
