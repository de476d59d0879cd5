//! Shared test harness: TLS WebSocket clients, fake upstreams, the proxy in-process, the real
//! `wscat`, and the built `wiretape` binary.

#![allow(dead_code)]

pub(crate) mod client;
pub(crate) mod json;
pub(crate) mod process;
pub(crate) mod upstream;
pub(crate) mod wscat;

use std::path::Path;

use wiretape_fixtures::cassette::Cassette;

/// Every cassette in `dir`, sorted by file name (= by time).
pub(crate) fn cassettes(dir: &Path) -> Vec<Cassette> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths
        .iter()
        .map(|p| Cassette::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect()
}

/// Starts the recording proxy in-process on `127.0.0.1:0`: it serves a leaf of `ca` and
/// trusts only `ca` for the upstream at `upstream`, recording to `dir`.
pub(crate) async fn spawn_proxy(
    ca: &wiretape_fixtures::pki::LocalCa,
    upstream: &str,
    dir: &Path,
) -> wiretape_proxy::ProxyHandle {
    use wiretape_proxy::{tls, Config, Proxy, UpstreamTrust, UpstreamUrl};
    let upstream_tls = tls::upstream_client_config(&UpstreamTrust::Roots(ca.root_store())).unwrap();
    let server_tls = ca.local_leaf().unwrap().server_config().unwrap();
    let mut config = Config::new(
        UpstreamUrl::parse(upstream).unwrap(),
        upstream_tls,
        Some(server_tls),
    );
    config.record.dir = Some(dir.to_path_buf());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Proxy::start(listener, config).await.unwrap()
}
