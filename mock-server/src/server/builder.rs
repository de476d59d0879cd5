//! [`MockServerBuilder`]: every setting of a [`MockServer`], with defaults suitable for tests.

use std::net::SocketAddr;
use std::time::Duration;

use super::MockServer;
use crate::config::{
    AgentMode, Auth, Config, ControlAccess, Listen, Strictness, Timeouts, TlsIdentity, Transport,
};
use crate::discovery::{AgentLogin, Discovery};
use crate::replay::Replay;
use crate::scenario::Scenario;
use crate::Error;

/// Configures a [`MockServer`]; every setting has a default suitable for tests.
#[derive(Debug)]
#[must_use = "a builder does nothing until .start().await"]
pub struct MockServerBuilder {
    config: Config,
}

impl MockServerBuilder {
    /// Every setting at its default.
    pub(super) fn new() -> Self {
        Self {
            config: Config::default(),
        }
    }

    /// Listen on this address (default `127.0.0.1:0`).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.config.listen = Listen::Addr(addr);
        self
    }

    /// Serve on an already bound std listener.
    pub fn listener(mut self, listener: std::net::TcpListener) -> Self {
        self.config.listen = Listen::Std(listener);
        self
    }

    /// Serve on an already bound tokio listener.
    pub fn tokio_listener(mut self, listener: tokio::net::TcpListener) -> Self {
        self.config.listen = Listen::Tokio(listener);
        self
    }

    /// Plain `ws://` instead of TLS.
    pub fn plain(mut self) -> Self {
        self.config.transport = Transport::Plain;
        self
    }

    /// TLS with this identity instead of a generated CA.
    pub fn tls(mut self, identity: TlsIdentity) -> Self {
        self.config.transport = Transport::Tls(identity);
        self
    }

    /// The agent's behaviour (default: automatic, 250 ms between actions).
    pub fn agent(mut self, mode: AgentMode) -> Self {
        self.config.agent = mode;
        self
    }

    /// The automatic agent with this pause before each action.
    pub fn auto_agent(self, delay: Duration) -> Self {
        self.agent(AgentMode::Auto { delay })
    }

    /// An agent that only acts when driven.
    pub fn manual_agent(self) -> Self {
        self.agent(AgentMode::Manual)
    }

    /// An agent following a scenario.
    pub fn scenario(self, scenario: Scenario) -> Self {
        self.agent(AgentMode::Scenario(scenario))
    }

    /// Serve only this account; any other gets 404 (default: every account is served, each
    /// with its own conversations).
    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.config.account = Some(account.into());
        self
    }

    /// Accept only this token.
    pub fn jwt(mut self, token: impl Into<String>) -> Self {
        self.config.auth = Auth::Pinned(token.into());
        self
    }

    /// What happens to invalid receipts (default [`Strictness::Standard`]).
    pub fn strictness(mut self, strictness: Strictness) -> Self {
        self.config.strictness = strictness;
        self
    }

    /// Connection timeouts.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.config.timeouts = timeouts;
        self
    }

    /// Largest message accepted (default 1 MiB); larger ones close with 1009.
    pub fn max_message_bytes(mut self, limit: usize) -> Self {
        self.config.max_message_bytes = limit;
        self
    }

    /// At most `per_second` requests per second from one consumer; the excess is answered
    /// with code 429 (default: no limit).
    pub fn rate_limit(mut self, per_second: u32) -> Self {
        self.config.rate_limit = Some(per_second);
        self
    }

    /// File sharing settings: how long upload/download URLs stay valid (default 1 minute) and
    /// how many bytes and files the in-memory store keeps.
    pub fn file_sharing(mut self, files: crate::FileSharing) -> Self {
        self.config.files = files;
        self
    }

    /// CSDS, IdP and agent login settings (default: any agent credentials, 1 h tokens,
    /// 30 min sessions).
    pub fn discovery(mut self, discovery: Discovery) -> Self {
        self.config.discovery = discovery;
        self
    }

    /// Agents must log in with exactly this username and password (`--agent-login`).
    pub fn agent_login(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.config.discovery.agent_login = Some(AgentLogin {
            username: username.into(),
            password: password.into(),
        });
        self
    }

    /// Replays cassettes instead of simulating the conversation.
    pub fn replay(mut self, replay: Replay) -> Self {
        self.config.replay = Some(replay);
        self
    }

    /// Who may use the control API (default loopback only).
    pub fn control_api(mut self, access: ControlAccess) -> Self {
        self.config.control_api = access;
        self
    }

    /// Keep only the newest `n` receipt records and `n` violation records in memory
    /// (default 10,000); counters stay exact (`--keep-records`).
    pub fn keep_records(mut self, n: usize) -> Self {
        self.config.retention.records = n;
        self
    }

    /// Forget the oldest closed conversations beyond `n` (default 10,000); open ones are
    /// never forgotten (`--keep-closed`).
    pub fn keep_closed(mut self, n: usize) -> Self {
        self.config.retention.closed_conversations = n;
        self
    }

    /// Stream every record to `path` as JSON Lines, the summary line at
    /// [`MockServer::finish_report`] or when the server's state is dropped (`--report`).
    pub fn report(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.config.report = Some(path.into());
        self
    }

    /// Adds a fault rule (the same as `--fault`); see [`MockServer::inject`] for a running
    /// server.
    pub fn fault(mut self, fault: wiretape_fixtures::Fault) -> Self {
        self.config.faults.push(fault);
        self
    }

    /// Seeds the generator probabilistic fault rules (`p=`) draw from (`--fault-seed`).
    pub fn fault_seed(mut self, seed: u64) -> Self {
        self.config.fault_seed = Some(seed);
        self
    }

    /// Starts the server.
    ///
    /// # Panics
    /// When it cannot start; use [`MockServerBuilder::try_start`] to get the error.
    pub async fn start(self) -> MockServer {
        match self.try_start().await {
            Ok(server) => server,
            Err(err) => panic!("the mock server did not start: {err}"),
        }
    }

    /// Starts the server.
    ///
    /// # Errors
    /// As [`MockServer::start_with`].
    pub async fn try_start(self) -> Result<MockServer, Error> {
        MockServer::start_with(self.config).await
    }
}
