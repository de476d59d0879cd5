//! Shared test harness: TLS WebSocket clients, fake upstreams, the proxy in-process, the real
//! `wscat`, the built `wiretape` binary, and a headless Chromium (`browser`).

#![allow(dead_code)]

pub(crate) mod browser;
pub(crate) mod client;
pub(crate) mod https;
pub(crate) mod json;
pub(crate) mod mitmproxy;
pub(crate) mod npm;
pub(crate) mod process;
pub(crate) mod proxy;
pub(crate) mod upstream;
pub(crate) mod wscat;

pub(crate) use proxy::spawn_proxy;

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
