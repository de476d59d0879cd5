//! `wiretape record` (being written).

use std::process::ExitCode;

/// Arguments of `wiretape record`.
#[derive(Debug, clap::Args)]
pub(crate) struct RecordArgs {}

pub(crate) async fn run(_args: RecordArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet available")
}
