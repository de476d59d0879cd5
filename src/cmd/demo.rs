//! `wiretape demo` (being written).

use std::process::ExitCode;

/// Arguments of `wiretape demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {}

pub(crate) async fn run(_args: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet available")
}
