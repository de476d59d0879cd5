//! The mock (`wiretape_mock_server` and `wiretape mock`): the tutorial over TLS with
//! snapshots, every receipt rule, every bad input (`bad_input.rs`), auth, the control API,
//! the test API itself (`test_api.rs`: the client, waits, expectations verified on drop) and
//! the real wscat; client properties and the post-conversation survey (`survey.rs`).

// The agent side: node-agent-sdk's examples in Rust, rings, bad input, auto standing back.
mod agent_side;
// LivePerson's node-agent-sdk 1.2.0 bots against the mock (issue 11).
mod agent_sdk;
// Agent sockets through the recording proxy: secrets, replay, stable snapshots.
mod agent_record;
mod bad_input;
// CSDS, the IdP and the agent login service (issue 11, item 1); curl against the binary.
mod discovery;
mod files;
// Authentication first, bounded memory, the streamed report, paging (issue 15).
mod load;
mod protocol;
// LivePerson's published samples and tutorials, as printed (issue 10).
mod reference;
// Client properties and the post-conversation survey (multi-dialog conversations).
mod survey;
mod test_api;
// The token lifecycle: exp at the upgrade, at InitConnection and on an open socket; step-up.
mod tokens;
mod tutorial;
mod validation;
pub(crate) mod wscat;

use serde_json::{json, Value};
use wiretape_mock_server::client;

/// A receipt exactly as given: any status text and any `sequenceList` value, for the
/// malformed cases the typed [`client::receipt`] cannot build.
pub(crate) fn receipt_as_sent(id: u64, dialog_id: &str, status: &str, sequences: Value) -> Value {
    client::publish(
        id,
        dialog_id,
        json!({"type":"AcceptStatusEvent","status":status,"sequenceList":sequences}),
    )
}
