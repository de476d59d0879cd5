//! A mock of LivePerson's Messaging Window API, consumer side (UMS, `v=3`): a client connects
//! exactly as it would to LivePerson, a simulated agent answers, and every `AcceptStatusEvent`
//! the client publishes is validated and recorded.
//!
//! The protocol reference is `docs/liveperson-protocol.md` (shared); decisions where it is
//! silent are in `docs/protocol-decisions.md`.
//!
//! # Getting started
//!
//! ```
//! use std::time::Duration;
//! use futures_util::{SinkExt as _, StreamExt as _};
//! use tokio_tungstenite::tungstenite::Message;
//! use wiretape_mock_server::{client, ExpectedReceipt, MockServer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // wss:// on 127.0.0.1, a free port, its own CA, an agent that answers at once.
//! let server = MockServer::builder().auto_agent(Duration::ZERO).start().await;
//! let mut ws = client::connect(&server.consumer_url(), server.client_tls(), Some("test"))
//!     .await
//!     .unwrap();
//!
//! ws.send(Message::text(r#"{"kind":"req","id":1,"type":"cm.ConsumerRequestConversation"}"#))
//!     .await
//!     .unwrap();
//! // The response, then the agent's greeting arrives on the same socket, unsubscribed.
//! let greeting = loop {
//!     let frame: serde_json::Value =
//!         serde_json::from_str(ws.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
//!     if frame["type"] == "ms.MessagingEventNotification" {
//!         break frame["body"]["changes"][0].clone();
//!     }
//! };
//! let (dialog, seq) = (greeting["dialogId"].as_str().unwrap(), greeting["sequence"].clone());
//! let read = format!(
//!     r#"{{"kind":"req","id":2,"type":"ms.PublishEvent","body":{{"dialogId":"{dialog}","event":{{"type":"AcceptStatusEvent","status":"READ","sequenceList":[{seq}]}}}}}}"#
//! );
//! ws.send(Message::text(read)).await.unwrap();
//!
//! let receipt = server
//!     .wait_for_receipt_within(&ExpectedReceipt::read(0), Duration::from_secs(5))
//!     .await
//!     .unwrap_or_else(|unmet| panic!("{unmet}"));
//! assert_eq!(receipt.stored_sequence, Some(1));
//! assert!(!server.report().has_invalid_receipts());
//! # }
//! ```
//!
//! Act as the agent with [`MockServer::agent`] (join, say, publish receipts, close), or over
//! HTTP with the control API (`/mock/api/...`, see the `control` module docs in the source).
//!
//! # Layout
//! - `server`: [`MockServer`] and [`MockServerBuilder`]: start, addresses, records, waits,
//!   shutdown.
//! - `config`: [`Config`] and its parts (transport, auth, strictness, agent mode, timeouts).
//! - `listener`: the accept loop; TLS, then hyper serving the router with upgrades.
//! - `endpoint`: the router: the consumer WebSocket upgrade (any account unless one is pinned;
//!   auth), replay's upgrade, and the control API mount.
//! - `session`: the one socket loop every WebSocket runs (live or replayed): queued
//!   notifications, timers, closes, protocol errors; `session::Live` serves the live protocol.
//! - `conn`: who is on a socket (connection, account, consumer), as handlers and records see it.
//! - `handler`: one request in, response frames out; one file per request family.
//! - `protocol`: the wire model: envelope and request parsing, response and notification
//!   building.
//! - `model`: conversations, dialogs, stored events, and their JSON renderings.
//! - `hub`: the shared state behind a mutex and the fan-out to subscribed sockets.
//! - `validation`: the receipt rules ([`Rule`], [`Finding`], [`Verdict`]).
//! - `journal`: the one place receipt and violation records are built and redacted; the
//!   [`Report`].
//! - `expect`: [`ExpectedReceipt`] and [`Unmet`] for waits and verification.
//! - `agent`: the [`Agent`] handle.
//! - `scenario`: [`Scenario`] files and the runner playing them.
//! - `control`: the HTTP control API under `/mock/api/`.
//! - `replay`: cassettes drive the mock ([`Replay`]): handshake matching, frame matching,
//!   scheduling, receipt validation against what was replayed; a replayed connection is a
//!   `session::Service` like a live one.
//! - `snapshot`: [`ConversationSnapshot`], the read-only view of a conversation.
//! - [`client`]: a minimal ws/wss consumer connector for tests and demos.
//! - `auth`: tokens and consumer ids. `error`: [`Error`] and [`AgentError`].

mod agent;
mod auth;
pub mod client;
mod config;
mod conn;
mod control;
mod endpoint;
mod error;
mod expect;
#[doc(hidden)]
pub mod fuzzing;
mod handler;
mod hub;
mod journal;
mod listener;
mod model;
mod protocol;
mod replay;
mod scenario;
mod server;
mod session;
mod snapshot;
mod validation;

pub use agent::{Agent, Published};
pub use config::{
    AgentMode, Auth, Config, ControlAccess, Listen, Strictness, Timeouts, TlsIdentity, Transport,
    DEFAULT_ACCOUNT,
};
pub use error::{AgentError, Error};
pub use expect::{ExpectedReceipt, Unmet};
pub use journal::{ReceiptRecord, Report, Summary, ViolationRecord};
pub use model::{ClosedBy, ReceiptStatus, Role};
pub use replay::{MatchMode, Replay, ReplayFallback, Speed};
pub use scenario::{Action, Scenario, ScenarioRule, Step, Trigger};
pub use server::{MockServer, MockServerBuilder};
pub use snapshot::{ConversationSnapshot, EventSnapshot, ParticipantSnapshot};
pub use validation::{
    Finding, Rule, Severity, Verdict, CONVERSATION_IS_CLOSE, MAX_SAFE_SEQUENCE, MAX_SEQUENCES,
};
