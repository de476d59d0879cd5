//! `wiretape mock`: the Messaging Window API consumer mock, with a simulated agent and receipt
//! validation. Converts flags into `wiretape_mock_server::Config` and runs it (R10); exit code
//! 0 when no receipt was invalid, 3 when any was.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use wiretape_mock_server::{
    AgentMode, Auth, Config, ControlAccess, Listen, MockServer, Report, Scenario, Strictness,
    Timeouts, TlsIdentity, Transport, DEFAULT_ACCOUNT,
};

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
    stdout: the first line is `listening on wss://ADDR:PORT` (ws:// with --plain), then the\n\
    consumer URL, the CA and the control API. On SIGINT/SIGTERM (or POST /mock/api/shutdown)\n\
    the --report is written and the exit code is 0 if no receipt was invalid, 3 if any was,\n\
    2 on a tool error.")]
pub(crate) struct MockArgs {
    /// Address to listen on. Port 0 picks a free port (printed on the first line).
    #[arg(long, default_value = "127.0.0.1:8443", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Plain ws:// instead of wss:// with the wiretape CA's certificate.
    #[arg(long)]
    plain: bool,
    /// The simulated agent: `auto` (joins, greets, acknowledges and answers each message),
    /// `manual` (acts only through the control API), or a scenario file (JSON, see
    /// fixtures/scenarios/README.md).
    #[arg(long, default_value = "auto", value_name = "auto|manual|SCENARIO_FILE")]
    agent: String,
    /// Pause before each action of `--agent auto`, in milliseconds.
    #[arg(long, default_value_t = 250, value_name = "MS")]
    agent_delay: u64,
    /// The account id served at /ws_api/account/{ID}/...; other accounts get 404.
    #[arg(long, default_value = DEFAULT_ACCOUNT, value_name = "ID")]
    account: String,
    /// Accept only this token (any well-formed token is accepted otherwise).
    #[arg(long, value_name = "TOKEN")]
    jwt: Option<String>,
    /// Answer invalid receipts as the live service most plausibly would (accept unknown or
    /// own sequences), still recording every violation.
    #[arg(long, conflicts_with = "strict")]
    lenient: bool,
    /// Also close a connection that sent an invalid receipt or request, with 1008.
    #[arg(long)]
    strict: bool,
    /// Write the validation report (JSON) to this file at exit.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Close sockets without any traffic for this many seconds (GetClock, KeepAlive or a
    /// WebSocket ping keep them open).
    #[arg(long, default_value_t = 90, value_name = "SECS")]
    idle_timeout: u64,
    /// Seconds a client without an Authorization header has to send InitConnection.
    #[arg(long, default_value_t = 5, value_name = "SECS")]
    init_timeout: u64,
    /// Let non-loopback peers use the control API (/mock/api/...).
    #[arg(long)]
    open_control_api: bool,
}

impl MockArgs {
    /// Checks and loads everything (scenario, CA) before anything binds.
    fn into_config(self) -> anyhow::Result<(Config, Option<PathBuf>)> {
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
            control_api: if self.open_control_api {
                ControlAccess::Anyone
            } else {
                ControlAccess::LoopbackOnly
            },
            ..Config::default()
        };
        Ok((config, self.report))
    }
}

pub(crate) async fn run(args: MockArgs) -> anyhow::Result<ExitCode> {
    let listen = args.listen;
    let (config, report_path) = args.into_config()?;
    let server = MockServer::start_with(config)
        .await
        .with_context(|| format!("cannot start the mock on {listen}"))?;
    announce(&server)?;

    let why = tokio::select! {
        signal = super::shutdown_signal() => signal,
        () = server.stopped() => "POST /mock/api/shutdown",
    };
    tracing::info!("{why}: shutting down");
    let report = server.report();
    if let Some(path) = &report_path {
        write_report(path, &report)?;
    }
    server.shutdown().await;
    eprintln!("wiretape mock: {}", report.summary_line());
    Ok(if report.has_invalid_receipts() {
        ExitCode::from(EXIT_INVALID_RECEIPTS)
    } else {
        ExitCode::SUCCESS
    })
}

/// The stdout contract: `listening on ...` first, then how to connect; flushed at once.
fn announce(server: &MockServer) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {}", server.url())?;
    writeln!(out, "consumer URL: {}", server.consumer_url())?;
    if let Some(ca) = server.ca_cert_path() {
        writeln!(
            out,
            "CA certificate: {} (wscat --ca \"{}\")",
            ca.display(),
            ca.display()
        )?;
    }
    writeln!(out, "control API: {}/conversations", server.control_url())?;
    out.flush().context("cannot write to stdout")
}

fn write_report(path: &std::path::Path, report: &Report) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(report).context("cannot serialize the report")?;
    std::fs::write(path, json + "\n")
        .with_context(|| format!("cannot write the report to {}", path.display()))
}
