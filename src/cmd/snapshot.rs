//! `wiretape snapshot`: print a cassette's normalized transcript, the text that
//! `assert_cassette_snapshot!` commits, for tests written in other languages.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use wiretape_fixtures::transcript::{transcript_text, Timing, TranscriptOptions};
use wiretape_fixtures::Cassette;

/// Arguments of `wiretape snapshot`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The output is stable across recordings of the same conversation: \
    timing dropped, UUIDs as <uuid:N> by first appearance, timestamps as <timestamp>, request \
    ids as <req:N>, secrets redacted, volatile headers left out. Commit it and diff it:\n  \
    wiretape snapshot recordings/20261127T101500Z-0001-consumer.jsonl > tutorial.snapshot.json"
)]
pub(crate) struct SnapshotArgs {
    /// The cassette (.jsonl) to print.
    #[arg(value_name = "CASSETTE")]
    cassette: PathBuf,
    /// Keep timing: an `ms` on every frame, rounded down to a multiple of MS milliseconds.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    timing_bucket: Option<u64>,
}

pub(crate) fn run(args: SnapshotArgs) -> anyhow::Result<ExitCode> {
    // The error names the file (and the line of a malformed one); the OS cause follows.
    let cassette = Cassette::open(&args.cassette).context("cannot read the cassette")?;
    if !cassette.complete {
        eprintln!(
            "wiretape: warning: {} is incomplete (the recording did not finish)",
            args.cassette.display()
        );
    }
    let options = TranscriptOptions::default().timing(match args.timing_bucket {
        Some(ms) => Timing::Bucket(ms),
        None => Timing::Drop,
    });
    let text = transcript_text(&cassette, &options);
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        // `wiretape snapshot x | head` is not an error.
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        result => {
            result.context("cannot write to stdout")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
