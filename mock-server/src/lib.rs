//! A mock of LivePerson's Messaging Window API, consumer side (UMS, `v=3`): a client connects
//! exactly as it would to LivePerson, a simulated agent answers, and every `AcceptStatusEvent`
//! the client publishes is validated and recorded. Agents connect too (the agent API as
//! node-agent-sdk speaks it) and take part in the same conversations.
//!
//! The protocol reference is `docs/liveperson-protocol.md` (shared); decisions where it is
//! silent are in `docs/protocol-decisions.md`.
//!
//! # Getting started
//!
//! ```
//! use std::time::Duration;
//! use wiretape_mock_server::client::{self, Consumer};
//! use wiretape_mock_server::{ExpectedReceipt, MockServer, ReceiptStatus};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // wss:// on 127.0.0.1, a free port, its own CA, an agent that answers at once.
//! let server = MockServer::builder().auto_agent(Duration::ZERO).start().await;
//! // Verified when `server` is dropped: a panic lists what was unmet and every receipt.
//! server.expect(ExpectedReceipt::read(0));
//! server.expect_no_invalid_receipts();
//!
//! // The client under test; here the library's test consumer plays it.
//! let mut consumer = Consumer::connect(&server).await;
//! let conversation = consumer.create_conversation().await;
//! // The agent's greeting arrives on the same socket, unsubscribed.
//! let greeting = consumer.notification("ms.MessagingEventNotification").await;
//! let sequence = greeting["body"]["changes"][0]["sequence"].as_u64().unwrap();
//! let read = client::receipt(2, &conversation, ReceiptStatus::Read, [sequence]);
//! assert_eq!(consumer.request(read).await["code"], 200);
//!
//! // Or wait for it explicitly, and look at the record.
//! let receipt = server
//!     .wait_for_receipt_within(&ExpectedReceipt::read(sequence), Duration::from_secs(5))
//!     .await
//!     .unwrap_or_else(|unmet| panic!("{unmet}"));
//! assert_eq!(receipt.stored_sequence, Some(sequence + 1));
//! # }
//! ```
//!
//! Act as the agent with [`MockServer::agent`] (join, say, publish receipts, close), or over
//! HTTP with the control API (`/mock/api/...`, see the `control` module docs in the source).
//!
//! # Layout
//! - `server`: [`MockServer`] and [`MockServerBuilder`]: start, addresses, records,
//!   shutdown (which verifies the registered expectations).
//! - `verify`: the waits (`wait_for_receipt`, `wait_for_violation`, ...) and the
//!   expectations verified on drop (`expect`, `expect_no_invalid_receipts`, `verify`).
//! - `config`: [`Config`] and its parts (transport, auth, strictness, agent mode, timeouts).
//! - `listener`: the accept loop; TLS, then hyper serving the router with upgrades.
//! - `endpoint`: the router: the consumer WebSocket upgrade (any account unless one is pinned;
//!   auth), the agent's (`/messaging/brand/{bearer}`), replay's upgrade, and the control API
//!   mount.
//! - `session`: the one socket loop every WebSocket runs (live or replayed): queued
//!   notifications, timers, closes, protocol errors; `session::Live` serves the live protocol,
//!   `agent_api::AgentSession` an agent socket.
//! - `agent_api`: the agent side: requests (availability, routing and rings, metadata
//!   subscriptions, UpdateConversationField, PublishEvent, QueryMessages, GetUserProfile) on
//!   the one conversation model; its receipts go through the same rules and journal.
//! - `conn`: who is on a socket (connection, account, consumer, client properties), as
//!   handlers and records see it.
//! - `client_properties`: [`ClientProperties`] from the `Client-Properties` header, the query
//!   or `InitConnection`, validated against LivePerson's schema.
//! - `handler`: one request in, response frames out; one file per request family.
//! - `protocol`: the wire model: envelope and request parsing, response and notification
//!   building.
//! - `model`: conversations, dialogs (MAIN, POST_SURVEY), stored events, agent identities and
//!   rings, and their JSON renderings for both sides.
//! - `survey`: the post-conversation survey bot of `MULTI_DIALOG` clients.
//! - `hub`: the shared state behind a mutex and the fan-out to subscribed sockets of both
//!   sides; `hub::AgentDirectory::identity_for` turns an agent's bearer into its identity;
//!   routing rings ONLINE agents and expires rings.
//! - `validation`: the receipt rules ([`Rule`], [`Finding`], [`Verdict`]).
//! - `journal`: the one place receipt and violation records are built and redacted; exact
//!   counters, the newest records in memory (`--keep-records`), every record streamed to the
//!   `--report` file; the [`Report`].
//! - `expect`: [`ExpectedReceipt`], and [`Unmet`] / [`UnmetViolation`] for waits that time out.
//! - `agent`: the [`Agent`] handle of the built-in agent.
//! - `scenario`: [`Scenario`] files (rules and the [`Survey`]) and the runner playing them.
//! - `control`: the HTTP control API under `/mock/api/`.
//! - `workspace`: the Agent Workspace page at `/` (embedded HTML/CSS/JS): one more agent
//!   client of the agent API, served under the control API's access rule.
//! - `discovery`: CSDS (`baseURI.json`, JSONP), the consumer IdP (`signup`, `authenticate`)
//!   and the agent login service (`login`, `refresh`, `logout`) on the same port
//!   ([`Discovery`]); its `sessions` tell the agent socket who a bearer is.
//! - `replay`: cassettes drive the mock ([`Replay`]): handshake matching, frame matching,
//!   scheduling, receipt validation against what was replayed; a replayed connection is a
//!   `session::Service` like a live one.
//! - `files`: file sharing's settings ([`FileSharing`]), signed temporary URLs and the
//!   in-memory store; `handler::files` serves the two `GenerateURLFor*File` requests and
//!   checks `hosted/file` events; `storage` is the PUT/GET side on the same port.
//! - `snapshot`: [`ConversationSnapshot`], the read-only view of a conversation.
//! - [`client`]: the test consumer ([`client::Consumer`]), the test agent
//!   ([`client::AgentClient`]), request builders
//!   ([`client::receipt`], ...) and the bare ws/wss connector.
//! - `rate`: the per-consumer request budget of `--rate-limit`.
//! - `auth`: tokens and consumer ids. `error`: [`Error`] and [`AgentError`].

mod agent;
mod agent_api;
mod auth;
pub mod client;
mod client_properties;
mod config;
mod conn;
mod control;
mod discovery;
mod endpoint;
mod error;
mod expect;
mod files;
#[doc(hidden)]
pub mod fuzzing;
mod handler;
mod hub;
mod journal;
mod listener;
mod model;
mod protocol;
mod rate;
mod replay;
mod scenario;
mod server;
mod session;
mod snapshot;
mod storage;
mod survey;
mod validation;
mod verify;
mod workspace;

// Every ```rust block of the README compiles (and runs, unless marked otherwise) as a doctest
// of this crate, so the README's "Testing from Rust" cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

pub use agent::{Agent, Published};
pub use client_properties::{ClientProperties, MULTI_DIALOG, SCHEMA_FEATURES};
pub use config::{
    AgentMode, Auth, Config, ControlAccess, Listen, Retention, Strictness, Timeouts, TlsIdentity,
    Transport, DEFAULT_ACCOUNT,
};
pub use conn::Side;
pub use discovery::{AgentLogin, Discovery};
pub use error::{AgentError, Error};
pub use expect::{ExpectedReceipt, Unmet, UnmetViolation};
pub use files::{FileSharing, LENIENT_MAX_FILE_BYTES, MAX_FILE_BYTES, MAX_PREVIEW_BYTES};
pub use journal::{Page, ReceiptRecord, Report, Summary, ViolationRecord, DEFAULT_KEEP_RECORDS};
pub use model::{ClosedBy, DialogType, ReceiptStatus, Role};
pub use replay::{MatchMode, Replay, ReplayFallback, Speed};
pub use scenario::{Action, Scenario, ScenarioRule, Step, Survey, SurveyQuestion, Trigger};
pub use server::{MockServer, MockServerBuilder};
pub use snapshot::{ConversationSnapshot, DialogSnapshot, EventSnapshot, ParticipantSnapshot};
pub use validation::{
    Finding, Rule, Severity, Verdict, CONVERSATION_IS_CLOSE, MAX_ERROR_BODY, MAX_SAFE_SEQUENCE,
    MAX_SEQUENCES,
};
/// The fault language (`--fault`, [`MockServer::inject`]), shared with the recording proxy.
pub use wiretape_fixtures::fault::{self, Fault, FaultStatus};
