//! Fault rules (issue 14): real clients recover from what `--fault` does to them, on the mock
//! and through the recording proxy. Every wait is bounded; elapsed times are measured and
//! asserted within ranges, never slept.

// The mock: the consumer client after a 4401, delay and duplicate, the binary's Done-when.
mod mock;
// The recording proxy: the same recovery through `wiretape record --fault`; the cassette's line.
mod proxy;

use std::time::Duration;

use serde_json::{json, Value};
use wiretape_mock_server::client::{self, Consumer};
use wiretape_mock_server::ReceiptStatus;

/// What the built-in agent (`--agent auto`) says first in every conversation.
pub(crate) const GREETING: &str = "Hi, I'm the wiretape agent. How can I help you?";

/// `ms.SubscribeMessagingEvents` from `from`; asserts the subscription is answered.
pub(crate) async fn subscribe(c: &mut Consumer, conversation: &str, from: u64) {
    let response = c
        .request(
            json!({"kind":"req","id":format!("sub-{from}"),"type":"ms.SubscribeMessagingEvents",
            "body":{"dialogId":conversation,"fromSeq":from}}),
        )
        .await;
    assert_eq!(response["code"], 200, "{response}");
}

/// The changes of `ms.MessagingEventNotification`s, read until one satisfies `done`.
pub(crate) async fn changes_until(c: &mut Consumer, done: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let note = c.notification("ms.MessagingEventNotification").await;
        let changes = note["body"]["changes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let finished = changes.iter().any(&done);
        seen.extend(changes);
        if finished {
            return seen;
        }
    }
}

/// Whether a change is the built-in agent's greeting.
pub(crate) fn is_greeting(change: &Value) -> bool {
    change["event"]["message"] == GREETING
        && change["originatorMetadata"]["role"] == "ASSIGNED_AGENT"
}

/// The Done-when of issue 14, against any consumer URL (the mock, or the proxy in front of
/// it) where `close 4401 after 2s times 1` is set: the consumer is closed with 4401 about two
/// seconds after it connected, reconnects with the same token, resubscribes from 0, sees the
/// agent's greeting again and its ACCEPT of it is answered 200. Returns the close's delay.
pub(crate) async fn recover_from_4401(
    url: &str,
    tls: std::sync::Arc<rustls::ClientConfig>,
    jwt: &str,
) -> Duration {
    let opened = tokio::time::Instant::now();
    let mut first = Consumer::connect_to(url, Some(tls.clone()), Some(jwt)).await;
    let conversation = first.create_conversation().await;
    subscribe(&mut first, &conversation, 0).await;
    let before = changes_until(&mut first, is_greeting).await;
    let (code, reason) = first.closed().await;
    let after = opened.elapsed();
    drop(first);
    assert_eq!(code, 4401, "closed with {code} {reason:?}");

    let mut again = Consumer::connect_to(url, Some(tls), Some(jwt)).await;
    subscribe(&mut again, &conversation, 0).await;
    let history = changes_until(&mut again, is_greeting).await;
    let greeting = history.iter().find(|c| is_greeting(c)).unwrap();
    let greeted_before = before.iter().find(|c| is_greeting(c)).unwrap();
    assert_eq!(
        greeting["sequence"], greeted_before["sequence"],
        "{history:?}"
    );
    let sequence = greeting["sequence"].as_u64().unwrap();
    let accept = again
        .request(client::receipt(
            "accept",
            &conversation,
            ReceiptStatus::Accept,
            [sequence],
        ))
        .await;
    assert_eq!(accept["code"], 200, "{accept}");
    // `times 1`: the second connection is left alone.
    again.assert_alive().await;
    after
}
