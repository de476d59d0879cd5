//! The one integration test binary (ripgrep style): one module per feature area.

mod harness;
// The recording proxy between a client and fake upstreams, in-process over TLS.
mod record;
// The `wiretape` binary itself: record under kill -9, the real wscat through the proxy.
mod cli;
// The LivePerson consumer mock: tutorial snapshots, receipt rules, bad input, wscat.
mod mock;
// The seed tutorial end to end: record in front of mock (snapshot), and `wiretape demo`
// (`--workspace` watched in headless Chromium).
mod tutorial;
// The canonical cassettes in fixtures/cassettes/: snapshots, `wiretape snapshot`, the regenerator.
mod cassettes;
// The forward proxy (`record --forward`) with wscat --proxy, curl -x, node-agent-sdk under
// HTTPS_PROXY (issue 13, item 1).
mod forward;
// Replay: cassettes drive the mock; deviations, timing, the real wscat.
mod replay;
// Faults through the proxy: vanished and slow clients, bad upstream certificates, a cassette
// that cannot be written (issue 6).
mod faults;
// Scripted faults (`--fault`) and real clients recovering from them (issue 14).
mod resilience;
// Security defaults on the built binary: loopback, the CA key, no token anywhere (issue 6).
mod security;
// The Agent Workspace page in headless Chromium (WebDriver): accept, type, the "V"s, verdicts.
mod workspace;
// The committed fuzz corpus, crash regressions included, through the fuzz targets' entry points.
mod fuzz_corpus;
// HAR in and out (issue 13): export checked by har-validator and imported back, bad files,
// mitmproxy's hardump of the tutorial imported and replayed.
mod har;
