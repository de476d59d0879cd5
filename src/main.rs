//! `wiretape`: record, mock and replay LivePerson Messaging Window API WebSocket sessions.
//!
//! Exit codes: 0 success; 1 reserved; 2 tool error (bad arguments, cannot bind, ...);
//! 3 the mock saw at least one invalid receipt.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// Record, mock and replay LivePerson Messaging Window API (UMS) WebSocket sessions offline.
#[derive(Debug, Parser)]
#[command(name = "wiretape", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a TLS-terminating proxy in front of a real wss:// endpoint and record every
    /// connection to a cassette.
    Record(cmd::record::RecordArgs),
    /// Run a mock of LivePerson messaging, both sides (consumer Messaging Window API, agent API
    /// as node-agent-sdk speaks it, CSDS, IdP, login), with a built-in agent, validating every
    /// AcceptStatusEvent.
    Mock(cmd::mock::MockArgs),
    /// Print the path of wiretape's local CA certificate (PEM), creating the CA on first use.
    Ca(cmd::ca::CaArgs),
    /// Run the read/accept receipts tutorial offline: mock + recording proxy + a built-in
    /// consumer, printing every step and frame.
    Demo(cmd::demo::DemoArgs),
    /// Print a cassette's normalized transcript (pretty JSON: no timing, stable placeholders
    /// for ids and timestamps, secrets redacted), the text snapshot tests commit and diff.
    Snapshot(cmd::snapshot::SnapshotArgs),
    /// Turn a HAR file (saved by Chromium DevTools, Firefox or mitmproxy's hardump) into
    /// cassettes, secrets redacted: each WebSocket connection one, ready for `wiretape mock
    /// --replay`, and each HTTP exchange one.
    Import(cmd::import::ImportArgs),
    /// Write cassettes as one HAR 1.2 file (one entry each, shaped as Chromium DevTools writes
    /// WebSocket and HTTP entries), to open in DevTools' Network panel or import back.
    Export(cmd::export::ExportArgs),
}

/// mimalloc instead of glibc's malloc: under sustained load glibc's per-thread arenas let the
/// mock's RSS creep for minutes after its stores are full (about 16 MiB over 2.5 minutes in the
/// soak; flat with one arena), mimalloc returns what the forgotten records and conversations
/// held (docs/performance.md, "Soak").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    cmd::init_tracing();
    // A proxy holds two sockets (and a cassette) per connection: allow as many as the system
    // lets this process have.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("wiretape: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Record(args) => cmd::record::run(args).await,
            Command::Mock(args) => cmd::mock::run(args).await,
            Command::Ca(args) => cmd::ca::run(args),
            Command::Demo(args) => cmd::demo::run(args).await,
            Command::Snapshot(args) => cmd::snapshot::run(args),
            Command::Import(args) => cmd::import::run(args),
            Command::Export(args) => cmd::export::run(args),
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("wiretape: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
