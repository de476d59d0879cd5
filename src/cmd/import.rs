//! `wiretape import`: the WebSocket connections of a HAR file (Chromium DevTools, Firefox,
//! mitmproxy's `hardump`, `wiretape export`) as cassettes.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use wiretape_fixtures::cassette::{EndedBy, Sender, Writer};
use wiretape_fixtures::har;

/// Arguments of `wiretape import`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Every entry with _webSocketMessages becomes a cassette: path and \
    query, request headers (redacted: cookies, Authorization, JWTs anywhere), status, and the \
    messages as frames (send -> client, receive -> server, opcode 1 text, 2 binary), their \
    times counted from the first message. Other entries are counted and skipped.\n\
    stdout: one line per cassette written, then a summary. A file that is not JSON or not a \
    HAR: exit 2 with the reason, nothing written.\n  \
    wiretape import session.har --out recordings\n  \
    wiretape mock --replay recordings"
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
        println!(
            "wrote {}: {} ({}), {} frames ({} from the client, {} from the server), {ended}",
            path.display(),
            cassette.open.url,
            cassette.open.status,
            cassette.frames.len(),
            from_client,
            cassette.frames.len() - from_client,
        );
    }
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut summary = format!(
        "imported {} from {}",
        plural(
            written.len(),
            "WebSocket connection",
            "WebSocket connections"
        ),
        args.har.display()
    );
    summary.push_str(&format!(
        "; skipped {} without WebSocket messages",
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
