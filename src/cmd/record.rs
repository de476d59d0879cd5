//! `wiretape record`: the recording proxy in front of a real `wss://` endpoint.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use wiretape_fixtures::pki;
use wiretape_fixtures::redact::Redactor;
use wiretape_proxy::{tls, Config, ForwardConfig, HostPattern, Proxy, UpstreamTrust, UpstreamUrl};

/// Arguments of `wiretape record`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    wiretape record --upstream wss://va.msg.liveperson.net\n  \
    wscat --ca \"$(wiretape ca)\" -H \"Authorization: jwt $LP_JWT\" \\\n    \
    -c \"wss://127.0.0.1:8443/ws_api/account/$LP_ACCOUNT/messaging/consumer?v=3\"\n\n\
    Forward proxy (the client keeps its real URLs):\n  \
    wiretape record --forward --hosts '*.liveperson.net'\n  \
    wscat --proxy http://127.0.0.1:8080 --ca \"$(wiretape ca)\" -c wss://HOST/ws_api/...\n  \
    curl -x http://127.0.0.1:8080 --cacert \"$(wiretape ca)\" https://HOST/...\n  \
    HTTPS_PROXY=http://127.0.0.1:8080 NODE_EXTRA_CA_CERTS=\"$(wiretape ca)\" node bot.js\n\n\
    stdout: the first line is `listening on wss://ADDR:PORT` (`listening on http://ADDR:PORT`\n\
    with --forward), then where cassettes go and the CA.\n\
    stderr: one line per frame (> client to server, < server to client), unless --quiet.\n\n\
    --fault RULE injects a fault between the client and the upstream (the upstream is untouched):\n  \
    wiretape record --upstream wss://va.msg.liveperson.net --fault 'close 4401 after 2s times 1'\n\
    Each injected fault is a `fault` line in the cassette and a `! fault` line on stderr.")]
pub(crate) struct RecordArgs {
    /// The real endpoint, `wss://HOST[:PORT]` (`ws://` for a plain one). The client's path and
    /// query are appended unchanged. Required unless --forward.
    #[arg(long, value_name = "URL", required_unless_present = "forward")]
    upstream: Option<String>,
    /// Be an HTTP forward proxy instead (plain HTTP on the listening address): clients keep their real
    /// URLs and are told to use the proxy (`wscat --proxy`, `curl -x`, `HTTPS_PROXY`). Each
    /// `CONNECT host:port` is answered 200 and TLS is terminated with a leaf for that host
    /// signed by the wiretape CA (`wiretape ca`); a WebSocket upgrade inside is relayed and
    /// recorded as in reverse mode, any other request is forwarded and recorded as an HTTP
    /// exchange (one cassette each). Absolute-form `http://` requests and `ws://` upgrades
    /// are handled the same way without TLS.
    #[arg(long, conflicts_with_all = ["upstream", "cert", "key", "plain", "mirror_drops"])]
    forward: bool,
    /// With --forward: intercept only hosts matching PATTERN, a glob on the host
    /// (`*.liveperson.net`) or on host and port (`127.0.0.1:8443`); every other CONNECT is
    /// tunnelled byte for byte, unrecorded. Repeatable; default: every host.
    #[arg(long, value_name = "PATTERN", conflicts_with = "upstream", value_parser = parse_host_pattern)]
    hosts: Vec<HostPattern>,
    /// Address to listen on [default: 127.0.0.1:8443, or 127.0.0.1:8080 with --forward].
    /// Port 0 picks a free port (printed on the first line).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// Directory for cassettes, one JSON Lines file per connection.
    #[arg(long, default_value = "recordings", value_name = "DIR")]
    out: PathBuf,
    /// Extra CA certificate (PEM) to trust for the upstream, on top of the platform's and
    /// Mozilla's roots; a self-signed certificate given here (e.g. made by `openssl req -x509`)
    /// is pinned: accepted when the upstream presents exactly it, its host name still checked.
    /// Repeatable.
    #[arg(long, value_name = "FILE.pem")]
    upstream_ca: Vec<PathBuf>,
    /// Do not verify the upstream's certificate (logged as a warning).
    #[arg(long)]
    insecure_upstream: bool,
    /// Serve this certificate chain (PEM) instead of a leaf signed by the wiretape CA.
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// The private key (PEM) of --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// Listen for plain ws:// instead of wss:// (for test suites that cannot speak TLS).
    #[arg(long, conflicts_with_all = ["cert", "key"])]
    plain: bool,
    /// Also replace the value at this JSON pointer in every JSON frame (e.g. /body/message).
    /// Repeatable. Authorization headers and JWTs are always redacted unless --no-redact.
    #[arg(long, value_name = "JSON_POINTER", value_parser = parse_pointer)]
    redact: Vec<String>,
    /// Store secrets as they are (Authorization header, JWTs inside frames).
    #[arg(long, conflicts_with = "redact")]
    no_redact: bool,
    /// When the upstream drops the connection without a close frame, drop the client's the
    /// same way instead of sending it close 1011 (a transparent intermediary, as WebSocket
    /// conformance suites expect; the default tells a person what happened).
    #[arg(long)]
    mirror_drops: bool,
    /// Relay (and show the live view) without writing cassettes.
    #[arg(long)]
    no_record: bool,
    /// No live view of frames on stderr.
    #[arg(long, short)]
    quiet: bool,
    // Faults injected between the client and the real upstream (the upstream is untouched;
    // each fault is a `fault` line in the cassette and a `!` line in the live view).
    #[command(flatten)]
    fault: super::fault::FaultArgs,
}

/// Where the reverse proxy listens unless told otherwise.
const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8443);
/// Where the forward proxy listens unless told otherwise (the usual proxy port).
const DEFAULT_FORWARD_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

/// The reverse proxy's listening TLS: none (--plain), --cert/--key, or a leaf of the CA.
fn reverse_tls(
    args: &RecordArgs,
) -> anyhow::Result<(Option<std::sync::Arc<rustls::ServerConfig>>, String)> {
    Ok(if args.plain {
        (None, "plain ws:// (no TLS)".to_owned())
    } else if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        let (chain, key) = pki::load_cert_and_key(cert, key)?;
        (
            Some(pki::server_config(chain, key)?),
            format!("certificate: {}", cert.display()),
        )
    } else {
        let ca = super::local_ca()?;
        let leaf = ca
            .local_leaf()
            .context("cannot issue the localhost certificate")?;
        let path = ca
            .cert_path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        (
            Some(leaf.server_config()?),
            format!("CA certificate: {path}"),
        )
    })
}

fn parse_host_pattern(s: &str) -> Result<HostPattern, String> {
    HostPattern::parse(s)
}

fn parse_pointer(s: &str) -> Result<String, String> {
    if s.is_empty() || s.starts_with('/') {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{s:?} is not a JSON pointer; they start with '/', e.g. /body/message"
        ))
    }
}

pub(crate) async fn run(args: RecordArgs) -> anyhow::Result<ExitCode> {
    // Everything is checked and loaded before binding (R10).
    let upstream = match (&args.upstream, args.forward) {
        (Some(url), false) => {
            Some(UpstreamUrl::parse(url).map_err(|e| super::flag_error("--upstream", &e))?)
        }
        _ => None,
    };
    let trust = if args.insecure_upstream {
        tracing::warn!(
            upstream = %upstream.as_ref().map_or_else(|| "every host (--forward)".to_owned(), UpstreamUrl::origin),
            "--insecure-upstream: the upstream's certificate is NOT verified"
        );
        UpstreamTrust::Insecure
    } else {
        UpstreamTrust::VerifyWith(args.upstream_ca.clone())
    };
    let upstream_tls =
        tls::upstream_client_config(&trust).map_err(|e| super::flag_error("--upstream-ca", &e))?;
    let (mut config, cert_note, target) = match upstream {
        None => {
            let ca = super::local_ca()?;
            let path = ca
                .cert_path()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let hosts = if args.hosts.is_empty() {
                "intercepting: every host".to_owned()
            } else {
                let list: Vec<String> = args.hosts.iter().map(ToString::to_string).collect();
                format!(
                    "intercepting: {} (other CONNECTs tunnelled, unrecorded)",
                    list.join(", ")
                )
            };
            let forward = ForwardConfig::new(ca, args.hosts.clone());
            (
                Config::forward(forward, upstream_tls),
                format!("CA certificate: {path}"),
                hosts,
            )
        }
        Some(upstream) => {
            let (server_tls, cert_note) = reverse_tls(&args)?;
            let target = format!("upstream: {}", upstream.origin());
            (
                Config::new(upstream, upstream_tls, server_tls),
                cert_note,
                target,
            )
        }
    };
    config.advice = if args.forward {
        super::forward_advice()
    } else {
        super::upstream_advice()
    };
    if args.mirror_drops {
        config.limits.upstream_drop = wiretape_proxy::UpstreamDrop::Mirror;
    }
    if !args.no_record {
        std::fs::create_dir_all(&args.out).with_context(|| {
            format!(
                "cannot create the cassette directory {}",
                args.out.display()
            )
        })?;
        config.record.dir = Some(args.out.clone());
    }
    config.record.live_view = !args.quiet;
    config.faults = wiretape_fixtures::Faults::with_rules(
        args.fault.faults.iter().cloned(),
        args.fault.fault_seed,
    );
    config.record.redactor = if args.no_redact {
        Redactor::disabled()
    } else {
        Redactor::new(args.redact.clone())
    };

    let listen = args.listen.unwrap_or(if args.forward {
        DEFAULT_FORWARD_LISTEN
    } else {
        DEFAULT_LISTEN
    });
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let proxy = Proxy::start(listener, config)
        .await
        .map_err(|e| anyhow::anyhow!(e.one_line()))?;
    {
        let mut banner = vec![if args.no_record {
            "not recording (--no-record)".to_owned()
        } else {
            format!(
                "recording to {} (one cassette per connection)",
                args.out.display()
            )
        }];
        banner.push(cert_note);
        banner.push(target);
        if args.no_redact {
            banner.push("redaction: OFF (--no-redact): cassettes will contain secrets".into());
        }
        super::print_banner(&format!("listening on {}", proxy.url()), &banner)?;
    }
    let signal = super::shutdown_signal().await;
    tracing::info!(signal, "shutting down: closing connections with 1001");
    proxy.shutdown().await;
    super::print_banner(
        &format!("stopped; cassettes are in {}", args.out.display()),
        &[],
    )
    .ok();
    Ok(ExitCode::SUCCESS)
}
