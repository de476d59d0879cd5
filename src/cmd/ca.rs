//! `wiretape ca`: print the CA certificate's path, creating the CA on first use.

use std::process::ExitCode;

use anyhow::Context as _;

/// Arguments of `wiretape ca`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Trust it from wscat with either of:\n  \
    wscat --ca \"$(wiretape ca)\" -c wss://127.0.0.1:8443/...\n  \
    NODE_EXTRA_CA_CERTS=\"$(wiretape ca)\" wscat -c wss://127.0.0.1:8443/...\n\
    The CA lives in $WIRETAPE_HOME (default ~/.wiretape); its key file is mode 0600.")]
pub(crate) struct CaArgs {
    /// Print the certificate itself (PEM) instead of its path.
    #[arg(long)]
    pem: bool,
}

pub(crate) fn run(args: CaArgs) -> anyhow::Result<ExitCode> {
    let ca = super::local_ca()?;
    if args.pem {
        print!("{}", ca.cert_pem());
    } else {
        let path = ca.cert_path().context("the CA has no file")?;
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
