//! [`MockServer`] and its builder: start (bound and ready on return), addresses, handles,
//! records, and shutdown (explicit, or on drop, which also verifies the registered
//! expectations). Waits and expectations are in `verify`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::ClientConfig;
use tokio_rustls::TlsAcceptor;
use wiretape_fixtures::pki::LocalCa;

use crate::config::{Config, Listen, TlsIdentity, Transport, DEFAULT_ACCOUNT};
use crate::hub::{Hub, Settings};
use crate::journal::{ReceiptRecord, Report, ViolationRecord};
use crate::scenario::runner;
use crate::snapshot::ConversationSnapshot;
use crate::verify::Expectation;
use wiretape_fixtures::fault::{Fault, FaultStatus};

mod builder;

use crate::{Agent, Error};
pub use builder::MockServerBuilder;

/// A running mock of the Messaging Window API consumer side.
///
/// Dropping it stops the server (connections get close 1001) and verifies the expectations
/// registered with [`MockServer::expect`] and [`MockServer::expect_no_invalid_receipts`],
/// panicking with every unmet one unless the thread is already panicking;
/// [`MockServer::shutdown`] also waits for connections to finish. Use one server per test.
#[derive(Debug)]
#[must_use = "the server stops when dropped, and verifies its expectations then"]
pub struct MockServer {
    pub(crate) hub: Arc<Hub>,
    address: SocketAddr,
    /// `Some` for `wss://`.
    tls: Option<TlsIdentity>,
    /// What [`Drop`] verifies: registered through `&self`, hence the lock (never held across
    /// an `.await`).
    pub(crate) expectations: Mutex<Vec<Expectation>>,
}

impl MockServer {
    /// Starts a `wss://` server on `127.0.0.1` (a free port) with its own in-memory CA, the
    /// automatic agent and default settings. It accepts connections when this returns.
    ///
    /// # Panics
    /// When the server cannot start (no free port, TLS setup failure); use
    /// [`MockServer::start_with`] to get the error instead.
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    /// A builder for anything but the defaults.
    pub fn builder() -> MockServerBuilder {
        MockServerBuilder::new()
    }

    /// Starts a server from a complete configuration (what `wiretape mock` does).
    ///
    /// # Errors
    /// When the address cannot be bound, a given listener cannot be used, or TLS cannot be
    /// set up.
    pub async fn start_with(config: Config) -> Result<Self, Error> {
        let tls = match config.transport {
            Transport::GeneratedCa => Some(TlsIdentity::from_ca(&LocalCa::generate()?)?),
            Transport::Tls(identity) => Some(identity),
            Transport::Plain => None,
        };
        let listener = match config.listen {
            Listen::Addr(addr) => tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| Error::Bind { addr, source })?,
            Listen::Std(listener) => {
                listener.set_nonblocking(true).map_err(Error::Listener)?;
                tokio::net::TcpListener::from_std(listener).map_err(Error::Listener)?
            }
            Listen::Tokio(listener) => listener,
        };
        let address = listener.local_addr().map_err(Error::Listener)?;
        let scenario = config.agent.scenario();
        let settings = Settings {
            account: config.account,
            auth: config.auth,
            strictness: config.strictness,
            timeouts: config.timeouts,
            max_message_bytes: config.max_message_bytes,
            rate_limit: config.rate_limit,
            control_api: config.control_api,
            files: config.files,
            survey: scenario.survey.clone(),
            discovery: config.discovery,
            keep_closed: config.retention.closed_conversations,
        };
        let journal =
            crate::journal::Journal::open(config.retention.records, config.report.as_deref())?;
        let replay = config
            .replay
            .map(|r| Arc::new(crate::replay::Library::new(r)));
        let triggers = scenario.rules.iter().map(|r| r.on).collect();
        let faults = wiretape_fixtures::Faults::with_rules(
            config
                .faults
                .into_iter()
                .chain(scenario.faults.iter().cloned()),
            config.fault_seed,
        );
        let (hub, agent_events) = Hub::new(settings, triggers, journal, faults);
        let hub = Arc::new(hub);
        hub.tracker.spawn(runner::run(
            scenario,
            Agent::new(hub.clone()),
            agent_events,
            hub.tracker.clone(),
            hub.cancel.clone(),
        ));
        hub.tracker.spawn(crate::hub::expire_rings(hub.clone()));
        let acceptor = tls.as_ref().map(|t| TlsAcceptor::from(t.server.clone()));
        let router = crate::endpoint::router(hub.clone(), replay);
        hub.tracker.spawn(crate::listener::run(
            listener,
            acceptor,
            router,
            hub.clone(),
        ));
        tracing::info!(%address, tls = tls.is_some(), "mock server listening");
        Ok(Self {
            hub,
            address,
            tls,
            expectations: Mutex::new(Vec::new()),
        })
    }

    /// The base URL, e.g. `wss://127.0.0.1:PORT` (`ws://` when plain).
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        format!("{scheme}://{}", self.address)
    }

    /// The consumer endpoint on [`MockServer::account`]:
    /// `wss://127.0.0.1:PORT/ws_api/account/{account}/messaging/consumer?v=3`.
    pub fn consumer_url(&self) -> String {
        self.consumer_url_for(self.account())
    }

    /// The consumer endpoint on another account (served unless an account was pinned).
    pub fn consumer_url_for(&self, account: &str) -> String {
        format!(
            "{}/ws_api/account/{account}/messaging/consumer?v=3",
            self.url()
        )
    }

    /// The agent endpoint on [`MockServer::account`] for `bearer` (node-agent-sdk's URL):
    /// `wss://127.0.0.1:PORT/ws_api/account/{account}/messaging/brand/{bearer}?v=2.1`.
    pub fn agent_url(&self, bearer: &str) -> String {
        let (url, account) = (self.url(), self.account());
        format!("{url}/ws_api/account/{account}/messaging/brand/{bearer}?v=2.1")
    }

    /// The control API's base URL, e.g. `https://127.0.0.1:PORT/mock/api`.
    pub fn control_url(&self) -> String {
        format!("{}/mock/api", self.http_url())
    }

    /// The Agent Workspace page, e.g. `https://127.0.0.1:PORT/` (`http://` when plain): a
    /// browser agent client of this server (not served when replaying).
    pub fn workspace_url(&self) -> String {
        format!("{}/", self.http_url())
    }

    /// `https://ADDR:PORT` (`http://` when plain).
    fn http_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.address)
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The pinned account, or [`DEFAULT_ACCOUNT`] when every account is served: the account
    /// [`MockServer::consumer_url`] names.
    pub fn account(&self) -> &str {
        self.hub
            .settings
            .account
            .as_deref()
            .unwrap_or(DEFAULT_ACCOUNT)
    }

    /// Whether only one account is served (the builder's `account`, `--account`).
    pub fn pins_account(&self) -> bool {
        self.hub.settings.account.is_some()
    }

    /// A rustls client configuration that trusts this server (`None` when plain, or when the
    /// TLS identity was given without one).
    pub fn client_tls(&self) -> Option<Arc<ClientConfig>> {
        self.tls.as_ref().and_then(|t| t.client.clone())
    }

    /// The CA certificate file to give clients (`wscat --ca`), when the CA is stored.
    pub fn ca_cert_path(&self) -> Option<&Path> {
        self.tls.as_ref().and_then(|t| t.ca_cert_path.as_deref())
    }

    /// How many agent sockets are connected now (node-agent-sdk bots, the Agent Workspace
    /// page, [`AgentClient`](crate::client::AgentClient)s).
    pub fn agent_connections(&self) -> usize {
        self.hub
            .read(|s| s.connections.values().filter(|c| c.agent.is_some()).count())
    }

    /// A handle to act as the agent (on every account).
    pub fn agent(&self) -> Agent {
        Agent::new(self.hub.clone())
    }

    /// Every conversation, with events and receipts.
    pub fn conversations(&self) -> Vec<ConversationSnapshot> {
        self.hub.read(|s| ConversationSnapshot::every(s, |_| true))
    }

    /// The newest conversation.
    pub fn latest_conversation(&self) -> Option<ConversationSnapshot> {
        self.hub.read(|s| {
            s.conversations
                .last()
                .map(|c| ConversationSnapshot::of(c, s))
        })
    }

    /// Every consumer receipt with its verdict, in arrival order (the newest
    /// [`Retention::records`](crate::Retention) when more arrived).
    pub fn receipts(&self) -> Vec<ReceiptRecord> {
        self.hub.read(|s| s.journal.receipts().cloned().collect())
    }

    /// Every violation (bad frames and requests included), in arrival order (the newest
    /// [`Retention::records`](crate::Retention) when more arrived).
    pub fn violations(&self) -> Vec<ViolationRecord> {
        self.hub.read(|s| s.journal.violations().cloned().collect())
    }

    /// Summary (exact counts), the receipts and violations kept in memory, and the fault rules
    /// that fired.
    pub fn report(&self) -> Report {
        self.hub.report()
    }

    /// Adds a fault rule to the running server: it applies to handshakes and to connections
    /// opened from now on (`POST /mock/api/faults`).
    pub fn inject(&self, fault: Fault) {
        self.hub.faults.add(fault);
    }

    /// Every fault rule and how often it fired (`GET /mock/api/faults`).
    pub fn faults(&self) -> Vec<FaultStatus> {
        self.hub.faults.status()
    }

    /// Removes every fault rule (`DELETE /mock/api/faults`).
    pub fn clear_faults(&self) {
        self.hub.faults.clear();
    }

    /// Ends the `--report` stream (the builder's [`report`](MockServerBuilder::report)) with
    /// its summary line and returns the report; records arriving later are kept in memory
    /// only. Without a report file, the same as [`MockServer::report`].
    ///
    /// # Errors
    /// [`Error::Report`] when any line of the stream could not be written.
    pub fn finish_report(&self) -> Result<Report, Error> {
        self.hub.finish_report()
    }

    /// Completes when the server is asked to stop (`POST /mock/api/shutdown`, or
    /// [`MockServer::shutdown`] elsewhere).
    pub async fn stopped(&self) {
        self.hub.cancel.cancelled().await;
    }

    /// [`MockServer::shutdown`], then [`MockServer::finish_report`]: the report stream's
    /// summary line comes after the last record any closing connection made
    /// (`wiretape mock` exits so).
    ///
    /// # Errors
    /// [`Error::Report`] when any line of the stream could not be written.
    pub async fn shutdown_with_report(self) -> Result<Report, Error> {
        let hub = self.hub.clone();
        self.shutdown().await;
        hub.finish_report()
    }

    /// Stops accepting, closes every socket with 1001, and waits (up to the configured grace
    /// period) for connections to finish.
    pub async fn shutdown(self) {
        self.hub.cancel.cancel();
        self.hub.tracker.close();
        let grace = self.hub.settings.timeouts.shutdown_grace;
        if tokio::time::timeout(grace, self.hub.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after the {grace:?} shutdown grace period");
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.hub.cancel.cancel();
        // A test that is already failing keeps its own message (and a second panic would
        // abort the process).
        if !std::thread::panicking() {
            if let Err(failed) = self.verification() {
                panic!("{failed}");
            }
        }
    }
}
