//! `wiretape mock`: the Messaging Window API consumer mock, with a simulated agent and receipt
//! validation. Converts flags into `wiretape_mock_server::Config` and runs it (R10); exit code
//! 0 when no receipt was invalid, 3 when any was.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::Context as _;
use wiretape_fixtures::cassette::Cassette;
use wiretape_mock_server::{
    AgentLogin, AgentMode, Auth, Config, ControlAccess, Discovery, FileSharing, Listen, MatchMode,
    MockServer, Replay, ReplayFallback, Retention, Scenario, Speed, Strictness, Timeouts,
    TlsIdentity, Transport,
};
use wiretape_proxy::{tls, Forwarder, UpstreamTrust, UpstreamUrl};

/// Exit code when at least one receipt was invalid.
const EXIT_INVALID_RECEIPTS: u8 = 3;

/// Arguments of `wiretape mock`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    wiretape mock\n  \
    wscat --ca \"$(wiretape ca)\" -H \"Authorization: jwt test\" \\\n    \
    -c \"wss://127.0.0.1:8443/ws_api/account/12345678/messaging/consumer?v=3\"\n  \
    > {\"kind\":\"req\",\"id\":1,\"type\":\"cm.ConsumerRequestConversation\"}\n  \
    curl --cacert \"$(wiretape ca)\" https://127.0.0.1:8443/mock/api/receipts\n\n\
    The record lists page: /mock/api/receipts and /mock/api/violations take ?since=INDEX&limit=N\n\
    (and &account=ID) and answer the records in memory from INDEX on; the headers\n\
    X-Wiretape-Total, X-Wiretape-Dropped (the oldest, no longer in memory), X-Wiretape-Next\n\
    (the next poll's since) and Link: <...>; rel=\"next\" say the rest.\n\n\
    stdout: the first line is `listening on wss://ADDR:PORT` (ws:// with --plain), then the\n\
    consumer URL, the CA, the control API, the CSDS domain and the Agent Workspace page\n\
    (`agent workspace: https://ADDR:PORT/`, a browser agent: accept, type, watch the receipts;\n\
    not when replaying). On SIGINT/SIGTERM (or POST /mock/api/shutdown)\n\
    the --report summary line is written and the exit code is 0 if no receipt was invalid, 3 if any was\n\
    (or, replaying, if a client frame did not match or a recorded one was never sent),\n\
    2 on a tool error.\n\n\
    Any account id works in the URL (12345678 above is only an example); --account ID pins one.\n\n\
    The tutorial's prerequisites, offline (CSDS, then the IdP's signup):\n  \
    curl --cacert \"$(wiretape ca)\" \"https://127.0.0.1:8443/api/account/12345678/service/baseURI.json?version=1.0\"\n  \
    curl --cacert \"$(wiretape ca)\" -X POST https://127.0.0.1:8443/api/account/12345678/signup\n\n\
    Replay: wiretape mock --replay recordings/20261124T101500Z-0001-consumer.jsonl --speed 0\n\n\
    Faults: wiretape mock --fault 'close 4401 after 2s times 1' --fault 'refuse 503 times 1'\n\
    (live and replayed sessions; also POST/GET/DELETE /mock/api/faults; the report lists each\n\
    fault fired; faults alone never change the exit code).")]
pub(crate) struct MockArgs {
    /// Address to listen on. Port 0 picks a free port (printed on the first line).
    #[arg(long, default_value = "127.0.0.1:8443", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Plain ws:// instead of wss:// with the wiretape CA's certificate.
    #[arg(long)]
    plain: bool,
    /// The simulated agent: `auto` (joins, greets, acknowledges and answers each message),
    /// `manual` (acts only through the control API), or a scenario file (JSON, see
    /// fixtures/scenarios/README.md), which may also define the post-conversation survey that
    /// MULTI_DIALOG clients get when they close the MAIN dialog (default: the PCS tutorial's).
    /// It is one agent among others: it stands back from a conversation while an external
    /// agent (/ws_api/account/{ID}/messaging/brand/{BEARER}?v=2.1) is ONLINE with a routing
    /// subscription on that account, or holds the conversation.
    #[arg(long, default_value = "auto", value_name = "auto|manual|SCENARIO_FILE")]
    agent: String,
    /// Pause before each action of `--agent auto`, in milliseconds.
    #[arg(long, default_value_t = 250, value_name = "MS")]
    agent_delay: u64,
    /// Serve only this account at /ws_api/account/{ID}/... (others get 404). Without it,
    /// every account is served, each with its own conversations; --replay serves the
    /// accounts the cassettes were recorded on.
    #[arg(long, value_name = "ID")]
    account: Option<String>,
    /// Accept only this token (any well-formed token is accepted otherwise).
    #[arg(long, value_name = "TOKEN")]
    jwt: Option<String>,
    /// Agents (node-agent-sdk's login, POST /api/account/{ID}/login) must log in with this
    /// username and password (or app key's secret); others get the login service's 401 error
    /// body. Without it, any non-empty pair logs in, one stable agent per login name.
    #[arg(long, value_name = "USER:PASS")]
    agent_login: Option<AgentLogin>,
    /// Answer invalid receipts as the live service most plausibly would (accept unknown or
    /// own sequences), still recording every violation; also take PDF/TXT uploads and files
    /// up to 10 MB (the tutorial's limit is JPG/JPEG/PNG/GIF, 3 MB), recorded as warnings.
    #[arg(long, conflicts_with = "strict")]
    lenient: bool,
    /// Also close a connection that sent an invalid receipt or request, with 1008.
    #[arg(long)]
    strict: bool,
    /// Stream the validation report to this file (JSON Lines): each receipt and violation
    /// record is appended as one line the moment it exists ({"receipt":{...}} or
    /// {"violation":{...}}), so a killed mock still leaves every verdict; the summary line
    /// ({"summary":{...}}: exact counts by verdict and rule, what was dropped from memory)
    /// is written at exit.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Keep only the newest N receipt records and N violation records in memory (for the
    /// control API); older ones are dropped from memory and counted, counters stay exact, and
    /// --report still gets every record.
    #[arg(long, default_value_t = wiretape_mock_server::DEFAULT_KEEP_RECORDS, value_name = "N")]
    keep_records: usize,
    /// Keep at most N closed conversations; beyond that the oldest closed ones are forgotten
    /// (and counted in the report); open conversations are never forgotten.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    keep_closed: usize,
    /// Close sockets without any traffic for this many seconds (GetClock, KeepAlive or a
    /// WebSocket ping keep them open).
    #[arg(long, default_value_t = 90, value_name = "SECS")]
    idle_timeout: u64,
    /// Seconds a client without an Authorization header has to send InitConnection.
    #[arg(long, default_value_t = 5, value_name = "SECS")]
    init_timeout: u64,
    /// At most N requests per second from one consumer (a burst of N passes); the excess is
    /// answered with code 429 ("Too Many Requests, ...") and recorded, never dropped.
    #[arg(long, value_name = "N/s", value_parser = parse_rate)]
    rate_limit: Option<u32>,
    /// Seconds an upload or download URL (ms.GenerateURLFor*File) stays valid; the file is
    /// PUT to and read back from https://ADDR:PORT/v1/AUTH_async-images/... on this port.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    file_url_validity: u64,
    /// Let non-loopback peers use the control API (/mock/api/...) and the Agent Workspace
    /// page (/).
    #[arg(long)]
    open_control_api: bool,
    /// Replay this cassette instead of simulating (repeatable): each connection is matched to
    /// an unused cassette by its path, query (volatile values ignored) and subprotocol.
    /// WebSocket cassettes only: an HTTP exchange's (`record --forward`, a HAR) is refused.
    #[arg(long, value_name = "CASSETTE.jsonl")]
    replay: Vec<PathBuf>,
    /// Replay timing: 1 as recorded, 0 everything at once, N (e.g. 2, 0.5) N times as fast.
    #[arg(long, default_value_t = 1.0, value_name = "1|0|N", value_parser = parse_speed)]
    speed: f64,
    /// How replayed client frames are compared with the recording: `strict` (all but ids,
    /// UUIDs, timestamps and redacted values) or `loose` (kind, type and body keys).
    #[arg(long = "match", value_enum, default_value_t = MatchArg::Strict, value_name = "strict|loose")]
    match_mode: MatchArg,
    /// Forward connections no cassette matches to --upstream and record them into DIR (like
    /// VCR's new_episodes); without it they are refused with a message listing the cassettes.
    #[arg(long, value_name = "DIR", requires = "upstream")]
    record_missing: Option<PathBuf>,
    /// The real endpoint for --record-missing, `wss://HOST[:PORT]`.
    #[arg(long, value_name = "URL", requires = "record_missing")]
    upstream: Option<String>,
    /// Extra CA certificate (PEM) to trust for --upstream; a self-signed certificate given
    /// here is pinned (accepted when the upstream presents exactly it). Repeatable.
    #[arg(long, value_name = "FILE.pem", requires = "upstream")]
    upstream_ca: Vec<PathBuf>,
    #[command(flatten)]
    fault: super::fault::FaultArgs,
}

/// `--match`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum MatchArg {
    Strict,
    Loose,
}

fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "{s:?} is not a speed: use 1 (as recorded), 0 (at once) or a positive factor"
        )),
    }
}

fn parse_rate(s: &str) -> Result<u32, String> {
    let n = s.strip_suffix("/s").unwrap_or(s);
    match n.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "{s:?} is not a rate: use requests per second, e.g. 10/s"
        )),
    }
}

/// `--record-missing`: unmatched connections go through the recording proxy's forwarding.
struct RecordMissing(Forwarder);

impl ReplayFallback for RecordMissing {
    fn forward(
        &self,
        request: http::Request<axum::body::Body>,
    ) -> Pin<Box<dyn Future<Output = http::Response<axum::body::Body>> + Send>> {
        let forwarder = self.0.clone();
        Box::pin(async move { forwarder.forward(request).await.map(axum::body::Body::new) })
    }
}

impl MockArgs {
    /// Checks and loads everything (scenario, CA) before anything binds.
    fn into_config(self) -> anyhow::Result<(Config, Option<Forwarder>)> {
        let (replay, forwarder) = self.replay_config()?;
        let agent = match self.agent.as_str() {
            "auto" => AgentMode::Auto {
                delay: Duration::from_millis(self.agent_delay),
            },
            "manual" => AgentMode::Manual,
            path => AgentMode::Scenario(
                Scenario::load(path.as_ref()).context("--agent: cannot use the scenario")?,
            ),
        };
        let transport = if self.plain {
            Transport::Plain
        } else {
            let ca = super::local_ca()?;
            Transport::Tls(TlsIdentity::from_ca(&ca).context("cannot issue the TLS certificate")?)
        };
        let strictness = match (self.lenient, self.strict) {
            (true, _) => Strictness::Lenient,
            (_, true) => Strictness::Strict,
            _ => Strictness::Standard,
        };
        let config = Config {
            listen: Listen::Addr(self.listen),
            transport,
            account: self.account,
            auth: self.jwt.map_or(Auth::AnyToken, Auth::Pinned),
            strictness,
            agent,
            timeouts: Timeouts {
                idle: Duration::from_secs(self.idle_timeout),
                init_connection: Duration::from_secs(self.init_timeout),
                ..Timeouts::default()
            },
            rate_limit: self.rate_limit,
            control_api: if self.open_control_api {
                ControlAccess::Anyone
            } else {
                ControlAccess::LoopbackOnly
            },
            files: FileSharing {
                url_validity: Duration::from_secs(self.file_url_validity),
                ..FileSharing::default()
            },
            discovery: Discovery {
                agent_login: self.agent_login,
                ..Discovery::default()
            },
            retention: Retention {
                records: self.keep_records,
                closed_conversations: self.keep_closed,
            },
            report: self.report,
            faults: self.fault.faults,
            fault_seed: self.fault.fault_seed,
            ..Config::default()
        };
        Ok((Config { replay, ..config }, forwarder))
    }

    /// Loads the cassettes and, with --record-missing, the forwarder for unmatched connections.
    fn replay_config(&self) -> anyhow::Result<(Option<Replay>, Option<Forwarder>)> {
        if self.replay.is_empty() {
            if self.record_missing.is_some() {
                anyhow::bail!("--record-missing needs at least one --replay cassette");
            }
            return Ok((None, None));
        }
        let cassettes = self
            .replay
            .iter()
            .map(|path| {
                Cassette::open(path).with_context(|| format!("--replay {}", path.display()))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        if let Some(http) = cassettes.iter().find(|c| c.is_http_exchange()) {
            anyhow::bail!(
                "--replay {}: an HTTP exchange ({} {}{}, recorded by `wiretape record --forward` \
                 or imported from a HAR), not a WebSocket connection: replay serves WebSocket \
                 cassettes only; leave it out",
                http.path.display(),
                http.open.method.as_deref().unwrap_or("GET"),
                http.open.upstream.as_deref().unwrap_or(""),
                http.open.url,
            );
        }
        let mut replay =
            Replay::new(cassettes)
                .speed(Speed(self.speed))
                .matching(match self.match_mode {
                    MatchArg::Strict => MatchMode::Strict,
                    MatchArg::Loose => MatchMode::Loose,
                });
        let mut forwarder = None;
        if let (Some(dir), Some(upstream)) = (&self.record_missing, &self.upstream) {
            let url =
                UpstreamUrl::parse(upstream).map_err(|e| super::flag_error("--upstream", &e))?;
            let upstream_tls =
                tls::upstream_client_config(&UpstreamTrust::VerifyWith(self.upstream_ca.clone()))
                    .map_err(|e| super::flag_error("--upstream-ca", &e))?;
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let mut config = wiretape_proxy::Config::new(url, upstream_tls, None);
            config.record.dir = Some(dir.clone());
            config.advice = super::upstream_advice();
            let f = Forwarder::new(config).map_err(|e| anyhow::anyhow!(e.one_line()))?;
            replay = replay.fallback(Arc::new(RecordMissing(f.clone())));
            forwarder = Some(f);
        }
        Ok((Some(replay), forwarder))
    }
}

pub(crate) async fn run(args: MockArgs) -> anyhow::Result<ExitCode> {
    let listen = args.listen;
    let (config, forwarder) = args.into_config()?;
    let replayed: Option<Vec<String>> = config
        .replay
        .as_ref()
        .map(|r| r.cassettes.iter().map(|c| c.open.url.clone()).collect());
    let server = MockServer::start_with(config)
        .await
        .with_context(|| format!("cannot start the mock on {listen}"))?;
    announce(&server, replayed.as_deref())?;

    let why = tokio::select! {
        signal = super::shutdown_signal() => signal,
        () = server.stopped() => "POST /mock/api/shutdown",
    };
    tracing::info!("{why}: shutting down");
    let report = server.shutdown_with_report().await.context("--report")?;
    if let Some(forwarder) = forwarder {
        forwarder.shutdown().await;
    }
    eprintln!("wiretape mock: {}", report.summary_line());
    Ok(
        if report.has_invalid_receipts() || report.has_replay_deviations() {
            ExitCode::from(EXIT_INVALID_RECEIPTS)
        } else {
            ExitCode::SUCCESS
        },
    )
}

/// The stdout contract: `listening on ...` first, then how to connect: the consumer URL (the
/// recorded one when replaying) and which accounts are served.
fn announce(server: &MockServer, replayed: Option<&[String]>) -> anyhow::Result<()> {
    let mut rest = Vec::new();
    match replayed {
        Some(paths) => {
            rest.push(format!("consumer URL: {}{}", server.url(), paths[0]));
            rest.push(format!(
                "accounts: those the {} cassette(s) were recorded on",
                paths.len()
            ));
        }
        None => {
            rest.push(format!("consumer URL: {}", server.consumer_url()));
            rest.push(if server.pins_account() {
                format!("accounts: {} only (--account)", server.account())
            } else {
                format!(
                    "accounts: any (put yours in place of {} in the URL)",
                    server.account()
                )
            });
        }
    }
    if let Some(ca) = server.ca_cert_path() {
        rest.push(format!(
            "CA certificate: {} (wscat --ca \"{}\")",
            ca.display(),
            ca.display()
        ));
    }
    rest.push(format!(
        "control API: {}/conversations",
        server.control_url()
    ));
    rest.push(format!(
        "CSDS domain: LP_CSDS={} (CSDS, IdP signup and agent login are served on this port)",
        server.address()
    ));
    if replayed.is_none() {
        rest.push(format!("agent workspace: {}", server.workspace_url()));
    }
    super::print_banner(&format!("listening on {}", server.url()), &rest)
}
