//! Shared test harness: test PKI, WebSocket clients, the real `wscat`, fake upstreams.

pub mod wscat;
