//! `wiretape export`: cassettes (WebSocket connections, HTTP exchanges) as one HAR 1.2 file
//! that Chromium DevTools opens.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use wiretape_fixtures::{har, Cassette};

/// Arguments of `wiretape export`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "One entry per cassette, valid HAR 1.2. A WebSocket connection is shaped \
    as Chromium DevTools writes it (_resourceType \"websocket\", _webSocketMessages): open \
    the file in DevTools (Network panel, Import HAR) and read the frames under Messages. An \
    HTTP exchange (`wiretape record --forward`) is an ordinary HTTP entry: method, URL, \
    headers, postData, response content (base64 for a binary body; only the size for a body \
    the cassette kept as its length), _resourceType \"document\" for an HTML answer, \
    \"fetch\" otherwise. A cassette's fault lines travel in the entry's _wiretape object. \
    Secrets are redacted again on the way out. `wiretape import` reads it back to the same \
    snapshot.\n\
    stdout: `wrote OUT.har: N entries, M messages`.\n  \
    wiretape export recordings/*.jsonl --har session.har"
)]
pub(crate) struct ExportArgs {
    /// The cassettes (.jsonl) to export, one entry each, in this order.
    #[arg(value_name = "CASSETTE", required = true)]
    cassettes: Vec<PathBuf>,
    /// The HAR file to write (replaced if it exists).
    #[arg(long, value_name = "OUT.har")]
    har: PathBuf,
}

pub(crate) fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let mut cassettes = Vec::with_capacity(args.cassettes.len());
    for path in &args.cassettes {
        let cassette = Cassette::open(path).context("cannot read the cassette")?;
        if !cassette.complete {
            eprintln!(
                "wiretape: warning: {} is incomplete (the recording did not finish)",
                path.display()
            );
        }
        cassettes.push(cassette);
    }
    let text = har::export_json(&cassettes);
    // Written beside the target and renamed over it: a reader never sees half a file.
    let dir = match args.har.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile_in(&dir, &args.har)?;
    tmp.1
        .write_all(text.as_bytes())
        .and_then(|()| tmp.1.sync_all())
        .with_context(|| format!("cannot write {}", tmp.0.display()))?;
    std::fs::rename(&tmp.0, &args.har).with_context(|| {
        let _ = std::fs::remove_file(&tmp.0);
        format!("cannot write {}", args.har.display())
    })?;
    let messages: usize = cassettes.iter().map(|c| c.frames.len()).sum();
    println!(
        "wrote {}: {} {}, {messages} messages",
        args.har.display(),
        cassettes.len(),
        if cassettes.len() == 1 {
            "entry"
        } else {
            "entries"
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// A new file `.<name>.<pid>.tmp` in `dir`.
fn tempfile_in(
    dir: &std::path::Path,
    target: &std::path::Path,
) -> anyhow::Result<(PathBuf, std::fs::File)> {
    let name = target
        .file_name()
        .map_or_else(|| "export.har".into(), |n| n.to_string_lossy().into_owned());
    let path = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let file = std::fs::File::create(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    Ok((path, file))
}
