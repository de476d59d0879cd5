//! One module per subcommand, plus what they share: logging, the local CA, shutdown signals.

pub(crate) mod ca;
pub(crate) mod demo;
pub(crate) mod export;
pub(crate) mod fault;
pub(crate) mod import;
pub(crate) mod mock;
pub(crate) mod record;
pub(crate) mod snapshot;

use anyhow::Context as _;
use wiretape_fixtures::pki::{wiretape_home, LocalCa};

/// Installs the `tracing` subscriber: warnings by default, `RUST_LOG` to change it. Logs go to
/// stderr so that stdout stays machine-readable (`listening on ...` is its first line).
///
/// The WebSocket library's `trace` events are dropped whatever `RUST_LOG` says: they print
/// every frame and handshake request whole, tokens included.
pub(crate) fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let no_frames = tracing_subscriber::filter::filter_fn(|meta| {
        !(*meta.level() == tracing::Level::TRACE && meta.target().contains("tungstenite"))
    });
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(filter)
        .with_filter(no_frames);
    tracing_subscriber::registry().with(stderr).init();
}

/// A proxy error about the value of `flag`, in the command line's words: `--upstream:
/// configuration (wiretape) failed: upstream URL "ftp://x" must start with wss:// or ws://`.
pub(crate) fn flag_error(flag: &str, err: &wiretape_proxy::Error) -> anyhow::Error {
    anyhow::anyhow!("{flag}: {}", err.one_line())
}

/// What to do about a refused upstream certificate, naming the flags that do it (the proxy
/// library says what failed; this adds the advice to the client's 502 and the log).
pub(crate) fn upstream_advice() -> wiretape_proxy::Advice {
    advice(false)
}

/// [`upstream_advice`] for `record --forward`, where the client, not `--upstream`, names
/// the host.
pub(crate) fn forward_advice() -> wiretape_proxy::Advice {
    advice(true)
}

fn advice(forward: bool) -> wiretape_proxy::Advice {
    use wiretape_proxy::{CertProblem, UpstreamCertError};
    wiretape_proxy::Advice::new(move |err| {
        let refused = err.cause::<UpstreamCertError>()?;
        Some(match &refused.problem {
            CertProblem::CaUsedAsEndEntity { .. } => {
                "pass it with --upstream-ca to pin it".to_owned()
            }
            CertProblem::UnknownIssuer => "pass the CA that signed it (or the certificate itself, \
                 if it is self-signed) with --upstream-ca"
                .to_owned(),
            CertProblem::NotValidForName { .. } if forward => {
                "the client must ask for one of the certificate's hosts".to_owned()
            }
            CertProblem::NotValidForName { .. } => {
                "--upstream must name one of the certificate's hosts".to_owned()
            }
            _ => return None,
        })
    })
}

/// Loads wiretape's CA from `$WIRETAPE_HOME` (default `~/.wiretape`), creating it on first use.
pub(crate) fn local_ca() -> anyhow::Result<LocalCa> {
    let home = wiretape_home();
    LocalCa::load_or_create(&home).with_context(|| {
        format!(
            "cannot load or create the wiretape CA in {}",
            home.display()
        )
    })
}

/// Prints the first stdout line (scripts wait for it, so a failure is an error) and then
/// informational lines, best effort: a script that read the first line and closed the pipe
/// must not bring the server down.
pub(crate) fn print_banner(first: &str, rest: &[String]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{first}")?;
    out.flush()?;
    for line in rest {
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    let _ = out.flush();
    Ok(())
}

/// Completes on the first SIGINT (Ctrl-C) or SIGTERM, and says which.
pub(crate) async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                // Ctrl-C in a terminal, or `kill -INT`.
                _ = tokio::signal::ctrl_c() => "SIGINT",
                // `kill`, systemd, CI runners stopping a job.
                _ = term.recv() => "SIGTERM",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
