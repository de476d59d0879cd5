//! The recording proxy in-process, in front of an upstream: the setup most proxy tests share.
//!
//! [`Proxied`] holds a test CA (the proxy serves a leaf of it, and trusts it for the upstream
//! unless told otherwise), a cassette directory and the proxy; [`Proxied::echo`] and
//! [`Proxied::behind`] start a fake [`Upstream`] too.

use std::path::Path;

use http::Response;
use tokio_tungstenite::tungstenite::Error as WsError;
use wiretape_fixtures::cassette::Cassette;
use wiretape_fixtures::pki::LocalCa;
use wiretape_proxy::{tls, Config, Proxy, ProxyHandle, UpstreamTrust, UpstreamUrl};

use super::client::{connect, Client};
use super::upstream::{Behavior, Upstream};

/// Starts the recording proxy in-process on `127.0.0.1:0`: it serves a leaf of `ca` and
/// trusts only `ca` for the upstream at `upstream`, recording to `dir`.
pub(crate) async fn spawn_proxy(ca: &LocalCa, upstream: &str, dir: &Path) -> ProxyHandle {
    spawn_proxy_with(ca, upstream, dir, |_| {}).await
}

/// As [`spawn_proxy`], with `configure` changing the configuration before the proxy starts.
pub(crate) async fn spawn_proxy_with(
    ca: &LocalCa,
    upstream: &str,
    dir: &Path,
    configure: impl FnOnce(&mut Config),
) -> ProxyHandle {
    let upstream_tls = tls::upstream_client_config(&UpstreamTrust::Roots(ca.root_store())).unwrap();
    let server_tls = ca.local_leaf().unwrap().server_config().unwrap();
    let mut config = Config::new(
        UpstreamUrl::parse(upstream).unwrap(),
        upstream_tls,
        Some(server_tls),
    );
    config.record.dir = Some(dir.to_path_buf());
    configure(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Proxy::start(listener, config).await.unwrap()
}

/// The proxy in front of an upstream, with its CA and cassette directory.
pub(crate) struct Proxied {
    /// Signs the proxy's certificate (clients trust it) and, by default, the upstream's.
    pub(crate) ca: LocalCa,
    /// Where the proxy records.
    pub(crate) dir: tempfile::TempDir,
    /// The proxy.
    pub(crate) proxy: ProxyHandle,
}

impl Proxied {
    /// The proxy in front of `upstream` (a `wss://` URL whose certificate `ca` signed).
    pub(crate) async fn in_front_of(ca: LocalCa, upstream: &str) -> Self {
        Self::configured(ca, upstream, |_| {}).await
    }

    /// As [`Proxied::in_front_of`], with `configure` changing the configuration.
    pub(crate) async fn configured(
        ca: LocalCa,
        upstream: &str,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let proxy = spawn_proxy_with(&ca, upstream, dir.path(), configure).await;
        Self { ca, dir, proxy }
    }

    /// A new CA, a fake upstream behaving as `behavior` with a leaf of it, and the proxy.
    pub(crate) async fn behind(behavior: Behavior) -> (Self, Upstream) {
        let ca = LocalCa::generate().unwrap();
        let upstream = Upstream::start(&ca, behavior).await;
        (Self::in_front_of(ca, &upstream.url()).await, upstream)
    }

    /// [`Proxied::behind`] an echoing upstream.
    pub(crate) async fn echo() -> (Self, Upstream) {
        Self::behind(Behavior::Echo).await
    }

    /// `wss://127.0.0.1:PORT{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.proxy.url())
    }

    /// Connects a client to `path` through the proxy, sending `headers`.
    pub(crate) async fn connect_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<(Client, Response<Option<Vec<u8>>>), WsError> {
        connect(&self.url(path), self.ca.client_config(), headers).await
    }

    /// A client connected to `path` through the proxy.
    pub(crate) async fn connect(&self, path: &str) -> Client {
        self.connect_with(path, &[]).await.unwrap().0
    }

    /// The HTTP answer to an upgrade the proxy refuses: its status and its body as text.
    pub(crate) async fn refused(&self, path: &str) -> (u16, String) {
        match self.connect_with(path, &[]).await {
            Err(WsError::Http(resp)) => {
                let body = resp.body().clone().unwrap_or_default();
                (resp.status().as_u16(), String::from_utf8(body).unwrap())
            }
            Err(other) => panic!("expected an HTTP refusal, got {other:?}"),
            Ok(_) => panic!("expected an HTTP refusal, the upgrade succeeded"),
        }
    }

    /// Stops the proxy (every cassette is complete then) and returns the cassettes, with
    /// their directory (deleted when dropped).
    pub(crate) async fn finish(self) -> (Vec<Cassette>, tempfile::TempDir) {
        self.proxy.shutdown().await;
        (super::cassettes(self.dir.path()), self.dir)
    }
}

/// Waits until the cassettes in `dir` satisfy `check`: for a proxy in another process, whose
/// cassette lines are the only sign of what it did. Reads them every 10 ms; returns how long
/// it took, or `None` after `within`.
pub(crate) async fn wait_for_cassettes(
    dir: &Path,
    within: std::time::Duration,
    check: impl Fn(&[Cassette]) -> bool,
) -> Option<std::time::Duration> {
    let start = tokio::time::Instant::now();
    while start.elapsed() < within {
        if check(&super::cassettes(dir)) {
            return Some(start.elapsed());
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    None
}
