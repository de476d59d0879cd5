//! `wiretape import`: the WebSocket connections and HTTP exchanges of a HAR file (Chromium
//! DevTools, Firefox, mitmproxy's `hardump`, `wiretape export`) as cassettes.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use wiretape_fixtures::cassette::{Body, Cassette, EndedBy, Sender, Writer};
use wiretape_fixtures::har;

/// Arguments of `wiretape import`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Every entry with _webSocketMessages becomes a cassette: path and \
    query, request headers (redacted: cookies, Authorization, JWTs anywhere), status, and the \
    messages as frames (send -> client, receive -> server, opcode 1 text, 2 binary), their \
    times counted from the first message. Every other http(s) entry that was answered becomes \
    an HTTP exchange's cassette, as `wiretape record --forward` writes them (method, URL, \
    redacted headers, JSON bodies as JSON, other bodies up to 64 KiB); entries without a \
    response (status 0), non-http(s) URLs (data:, blob:) and answers from the browser's cache \
    are counted and skipped.\n\
    stdout: one line per cassette written, then a summary. A file that is not JSON or not a \
    HAR: exit 2 with the reason, nothing written. `wiretape mock --replay` serves the \
    WebSocket cassettes only.\n  \
    wiretape import session.har --out recordings\n  \
    wiretape mock --replay recordings/20261201T224900Z-0003-consumer.jsonl"
)]
pub(crate) struct ImportArgs {
    /// The HAR file to read.
    #[arg(value_name = "FILE.har")]
    har: PathBuf,
    /// Directory for the cassettes (created if missing).
    #[arg(long, default_value = "recordings", value_name = "DIR")]
    out: PathBuf,
}

pub(crate) fn run(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let bytes =
        std::fs::read(&args.har).with_context(|| format!("cannot read {}", args.har.display()))?;
    // Everything is converted (and refused) before the first file is written.
    let imported = har::import(&bytes).with_context(|| format!("{}", args.har.display()))?;
    let mut written = Vec::new();
    for cassette in &imported.cassettes {
        match Writer::save(&args.out, cassette) {
            Ok(path) => written.push(path),
            Err(err) => {
                // Nothing half-written: the cassettes of this import go with it.
                for path in &written {
                    let _ = std::fs::remove_file(path);
                }
                return Err(err).context(format!("cannot write into {}", args.out.display()));
            }
        }
    }
    for (path, cassette) in written.iter().zip(&imported.cassettes) {
        println!("wrote {}: {}", path.display(), describe(cassette));
    }
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let exchanges = imported
        .cassettes
        .iter()
        .filter(|c| c.is_http_exchange())
        .count();
    let mut summary = format!(
        "imported {} and {} from {}",
        plural(
            written.len() - exchanges,
            "WebSocket connection",
            "WebSocket connections"
        ),
        plural(exchanges, "HTTP exchange", "HTTP exchanges"),
        args.har.display()
    );
    summary.push_str(&format!(
        "; skipped {} (no response, not http(s), or from the browser's cache)",
        plural(imported.skipped, "entry", "entries")
    ));
    if imported.duplicates > 0 {
        summary.push_str(&format!(
            " and {} repeating a connection",
            plural(imported.duplicates, "entry", "entries")
        ));
    }
    println!("{summary}");
    Ok(ExitCode::SUCCESS)
}

/// What a written cassette holds, for its line: a WebSocket connection's path, status, frames
/// and end; an HTTP exchange's method, URL, status and body sizes.
fn describe(cassette: &Cassette) -> String {
    let open = &cassette.open;
    if cassette.is_http_exchange() {
        let size = |body: Option<&Body>| match body {
            Some(b) => format!("{} bytes", b.length),
            None => "no body".to_owned(),
        };
        let exchange = cassette.exchanges.first();
        return format!(
            "HTTP {} {}{} ({}), request {}, response {}",
            open.method.as_deref().unwrap_or("GET"),
            open.upstream.as_deref().unwrap_or(""),
            open.url,
            open.status,
            size(exchange.and_then(|e| e.request_body.as_ref())),
            size(exchange.and_then(|e| e.response_body.as_ref())),
        );
    }
    let from_client = cassette
        .frames
        .iter()
        .filter(|f| f.from == Sender::Client)
        .count();
    let ended = match &cassette.end {
        Some(end) => format!(
            "ended by the {}{}",
            match end.by {
                EndedBy::Client => "client",
                EndedBy::Server => "server",
                EndedBy::Proxy => "proxy",
            },
            end.code.map(|c| format!(" with {c}")).unwrap_or_default()
        ),
        None => "the HAR does not say how it ended".to_owned(),
    };
    format!(
        "{} ({}), {} frames ({} from the client, {} from the server), {ended}",
        open.url,
        open.status,
        cassette.frames.len(),
        from_client,
        cassette.frames.len() - from_client,
    )
}
