//! `wiretape mock` (being written).

use std::process::ExitCode;

/// Arguments of `wiretape mock`.
#[derive(Debug, clap::Args)]
pub(crate) struct MockArgs {}

pub(crate) async fn run(_args: MockArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet available")
}
