//! Configuration: what the CLI converts its flags into and what the builder fills in.
//! Everything is validated before anything binds.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::{ClientConfig, ServerConfig};
use wiretape_fixtures::pki::LocalCa;

use crate::discovery::Discovery;
use crate::files::FileSharing;
use crate::replay::Replay;
use crate::scenario::Scenario;
use crate::Error;

/// The account [`MockServer::consumer_url`](crate::MockServer::consumer_url) names when none
/// is pinned (LivePerson account ids are numeric strings). Any other account is served too.
pub const DEFAULT_ACCOUNT: &str = "12345678";

/// Everything [`MockServer::start_with`](crate::MockServer::start_with) needs.
#[derive(Debug)]
pub struct Config {
    /// Where to listen.
    pub listen: Listen,
    /// TLS or plain WebSocket.
    pub transport: Transport,
    /// `None` (the default): every account in `/ws_api/account/{account}/...` is served, each
    /// with its own conversations. `Some(id)`: only that account; others get 404.
    pub account: Option<String>,
    /// Which tokens are accepted.
    pub auth: Auth,
    /// What happens to a receipt that breaks a rule.
    pub strictness: Strictness,
    /// How the simulated agent behaves.
    pub agent: AgentMode,
    /// Named timeouts of a connection's phases.
    pub timeouts: Timeouts,
    /// Largest WebSocket message (and frame) accepted; larger ones close the socket with 1009.
    pub max_message_bytes: usize,
    /// At most this many requests per second from one consumer (one socket while it is not
    /// authenticated); the excess is answered with code 429. `None`: no limit.
    pub rate_limit: Option<u32>,
    /// Who may use the control API under `/mock/api/`.
    pub control_api: ControlAccess,
    /// Replay cassettes instead of simulating the conversation (`wiretape mock --replay`).
    pub replay: Option<Replay>,
    /// File sharing: upload/download URL validity and the in-memory store's bounds.
    pub files: FileSharing,
    /// CSDS, the IdP and the agent login service: pinned agent credentials, validities.
    pub discovery: Discovery,
    /// Fault rules applied to every socket and handshake (`--fault`), before the scenario's.
    pub faults: Vec<wiretape_fixtures::Fault>,
    /// Seed of the generator probabilistic fault rules draw from (`--fault-seed`).
    pub fault_seed: Option<u64>,
    /// How much history is kept in memory (`--keep-records`, `--keep-closed`).
    pub retention: Retention,
    /// Stream every receipt and violation record to this file (JSON Lines, one line per
    /// record the moment it exists, a summary line at exit): `--report FILE`.
    pub report: Option<PathBuf>,
}

/// How much history the mock keeps in memory, so a long run stays bounded. Counters stay
/// exact and `--report FILE` gets every record whatever is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// The newest receipt records, and as many violation records, kept in memory (for the
    /// control API, [`MockServer::report`](crate::MockServer::report) and the waits); older
    /// ones are dropped from memory and counted (`--keep-records`, default 10,000).
    pub records: usize,
    /// Closed conversations kept; beyond this the oldest closed ones are forgotten and
    /// counted; open ones never are (`--keep-closed`, default 10,000).
    pub closed_conversations: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            records: crate::journal::DEFAULT_KEEP_RECORDS,
            closed_conversations: 10_000,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: Listen::Addr(SocketAddr::from(([127, 0, 0, 1], 0))),
            transport: Transport::GeneratedCa,
            account: None,
            auth: Auth::AnyToken,
            strictness: Strictness::Standard,
            agent: AgentMode::Auto {
                delay: Duration::from_millis(250),
            },
            timeouts: Timeouts::default(),
            max_message_bytes: 1024 * 1024,
            rate_limit: None,
            control_api: ControlAccess::LoopbackOnly,
            replay: None,
            files: FileSharing::default(),
            discovery: Discovery::default(),
            retention: Retention::default(),
            report: None,
            faults: Vec::new(),
            fault_seed: None,
        }
    }
}

/// Where the server listens.
#[derive(Debug)]
pub enum Listen {
    /// Bind this address (port 0 picks a free port).
    Addr(SocketAddr),
    /// Use an already bound std listener (it is switched to non-blocking mode).
    Std(std::net::TcpListener),
    /// Use an already bound tokio listener.
    Tokio(tokio::net::TcpListener),
}

/// TLS (`wss://`) or plain (`ws://`).
#[derive(Debug, Default)]
pub enum Transport {
    /// TLS with a fresh in-memory CA and a leaf for localhost (what tests want).
    #[default]
    GeneratedCa,
    /// TLS with the given identity (the CLI uses wiretape's CA).
    Tls(TlsIdentity),
    /// Plain `ws://`.
    Plain,
}

/// A TLS server configuration and what clients need to trust it.
#[derive(Debug, Clone)]
pub struct TlsIdentity {
    /// The rustls server configuration (ALPN `http/1.1`).
    pub server: Arc<ServerConfig>,
    /// A client configuration trusting the server, when known.
    pub client: Option<Arc<ClientConfig>>,
    /// The CA certificate file clients can be pointed at (`wscat --ca`), when stored.
    pub ca_cert_path: Option<PathBuf>,
}

impl TlsIdentity {
    /// A leaf for `localhost`, `127.0.0.1` and `::1` signed by `ca`.
    ///
    /// # Errors
    /// When the leaf cannot be issued or rustls rejects it.
    pub fn from_ca(ca: &LocalCa) -> Result<Self, Error> {
        Ok(Self {
            server: ca.local_leaf()?.server_config()?,
            client: Some(ca.client_config()),
            ca_cert_path: ca.cert_path().map(PathBuf::from),
        })
    }
}

/// Which tokens authenticate a consumer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Auth {
    /// Any well-formed token (signatures are not checked).
    #[default]
    AnyToken,
    /// Only this exact token (`--jwt`).
    Pinned(String),
}

/// What happens to a receipt that breaks a rule (every violation is recorded in all modes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Strictness {
    /// Answer as the live service most plausibly would: semantic violations (unknown or own
    /// sequences, ...) are accepted, stored and notified; structural ones get the error.
    Lenient,
    /// Every violation gets a 400 response naming the rule, the field and the value.
    #[default]
    Standard,
    /// Like `Standard`, and the offending connection is then closed with 1008.
    Strict,
}

/// How the simulated agent behaves.
#[derive(Debug, Clone)]
pub enum AgentMode {
    /// Join each new conversation, greet, answer every consumer message, and publish ACCEPT
    /// then READ for the consumer's messages, pausing `delay` before each action.
    Auto {
        /// The pause before each of the agent's actions.
        delay: Duration,
    },
    /// Do nothing until driven through the control API or an [`Agent`](crate::Agent) handle.
    Manual,
    /// Follow a scenario.
    Scenario(Scenario),
}

impl AgentMode {
    /// The scenario this mode runs.
    pub(crate) fn scenario(&self) -> Scenario {
        match self {
            AgentMode::Auto { delay } => Scenario::auto(*delay),
            AgentMode::Manual => Scenario::default(),
            AgentMode::Scenario(s) => s.clone(),
        }
    }
}

/// Who may use the control API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ControlAccess {
    /// Only peers on a loopback address; others get 403.
    #[default]
    LoopbackOnly,
    /// Anyone who can reach the port.
    Anyone,
}

/// Named timeouts of a connection's phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TLS handshake.
    pub tls_handshake: Duration,
    /// Reading a request's head (request line and headers), from the moment the server waits
    /// for it (after the handshake, or after the previous response on a kept-alive connection):
    /// a client that sends half a request, or none, is dropped then, as the proxy does.
    pub request_head: Duration,
    /// A client that connected without an `Authorization` header must authenticate with
    /// `InitConnection` within this time, or is closed with 4401.
    pub init_connection: Duration,
    /// A socket without any traffic (frames or pings) for this long is closed with 1000.
    pub idle: Duration,
    /// How long shutdown waits for connections to finish their close handshake.
    pub shutdown_grace: Duration,
    /// How long a ring (`.ams.routing.RoutingTaskNotification`, WAITING) waits for the agent
    /// to accept it; then the conversation rings again (`ringExpiration`).
    pub ring: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            tls_handshake: Duration::from_secs(10),
            request_head: Duration::from_secs(10),
            init_connection: Duration::from_secs(5),
            idle: Duration::from_secs(90),
            shutdown_grace: Duration::from_secs(3),
            ring: Duration::from_secs(30),
        }
    }
}
