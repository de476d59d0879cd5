//! `--fault RULE` and `--fault-seed N`, the same flags on `wiretape mock` and `wiretape record`:
//! one fault language (`wiretape_fixtures::fault`). A rule that does not parse is a usage
//! error (exit 2) quoting the rule and saying what was expected.

use wiretape_fixtures::Fault;

/// The fault flags.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct FaultArgs {
    /// Inject a fault (repeatable): `ACTION [ARGS] [on TRIGGER] [after DURATION] [times N]
    /// [p=P]`. Actions: `close CODE ["reason"]` (4401, 4407, 1000, 1001, 1011...),
    /// `refuse STATUS` (503, 401, 429 with Retry-After, 502), `drop` (cut TCP, no close frame),
    /// `stall` (stop sending, keep the socket open), `delay DURATION`, `duplicate`,
    /// `drop-frame`. Triggers: `open` (default), `frame N`, or a frame's `type` (e.g.
    /// `ms.MessagingEventNotification`, either direction). Examples: 'close 4401 after 2s
    /// times 1', 'refuse 503 times 1', 'delay 300ms on ms.MessagingEventNotification'.
    /// See README "Test your client's resilience" and docs/faults.md.
    #[arg(long = "fault", value_name = "RULE", value_parser = parse_fault)]
    pub faults: Vec<Fault>,
    /// Seed of the generator probabilistic rules (`p=0.1`) draw from, so a run repeats.
    #[arg(long, value_name = "N")]
    pub fault_seed: Option<u64>,
}

fn parse_fault(rule: &str) -> Result<Fault, String> {
    Fault::parse(rule).map_err(|err| err.to_string())
}
