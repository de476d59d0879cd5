//! Entry points for the fuzz targets in `fuzz/` (not part of the API: hidden, unstable).
//!
//! Each runs the real parser or validator on arbitrary bytes and checks the invariants every
//! answer must keep, panicking when one breaks (a panic is what the fuzzer reports). Nothing
//! here changes behaviour; it only exposes crate-private code to an external crate.

use serde_json::{Map, Value};

use crate::model::{Conversation, Role};
use crate::protocol::{init_jwt, ConsumerRequest, Envelope, Rejection};
use crate::validation::{check_receipt, DialogView, Finding, Verdict, MAX_FINDINGS};

/// Parses `data` as a client text frame exactly as a session does (envelope, then the typed
/// request, or InitConnection's headers) and renders the error response a rejection gets.
pub fn parse_request(data: &[u8]) {
    // A session only ever sees valid UTF-8 here (tungstenite closes 1007 otherwise).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Envelope::parse(text) {
        Ok(env) if env.req_type == "InitConnection" => {
            if let Err(rejection) = init_jwt(env.headers.as_ref()) {
                check_rejection(&rejection);
            }
        }
        Ok(env) => {
            if let Err(rejection) = ConsumerRequest::parse(&env) {
                check_rejection(&rejection);
            }
        }
        Err(unparsed) => check_rejection(&unparsed.rejection),
    }
}

/// Runs the receipt validator on `data`: the first byte picks what the dialog lookup found
/// (not yours, or yours in an open or a closed conversation with four events), the rest is
/// read as the request body `{"dialogId": …, "event": {…}, "metadata": …}` (any JSON object;
/// other input is ignored, the request parser refuses it before validation).
pub fn check_receipt_bytes(data: &[u8]) {
    let Some((&selector, json)) = data.split_first() else {
        return;
    };
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(json) else {
        return;
    };
    let event = match body.get("event") {
        Some(Value::Object(event)) => event.clone(),
        _ => Map::new(),
    };
    // As the handler does: no string dialogId, nothing to look up; otherwise the selector
    // says whether the lookup found this consumer's dialog, open or closed.
    let conversation = conversation(selector & 2 == 0);
    let view = match (body.get("dialogId"), selector % 3) {
        (Some(Value::String(_)), 0) => DialogView::NotYours,
        (Some(Value::String(_)), _) => DialogView::Found {
            dialog: conversation.main(),
            dialog_open: conversation.is_open(),
        },
        _ => DialogView::Unnamed,
    };
    let checked = check_receipt(
        body.get("dialogId"),
        &event,
        body.get("metadata"),
        CONSUMER,
        view,
    );
    assert!(checked.findings.len() <= MAX_FINDINGS, "{checked:?}");
    let violations = checked.findings.iter().filter(|f| f.is_violation()).count();
    // Violations come first: the error response names the first one.
    assert!(
        checked.findings[..violations]
            .iter()
            .all(Finding::is_violation),
        "{checked:?}"
    );
    let verdict = Verdict::of(&checked.findings);
    assert_eq!(verdict == Verdict::Invalid, violations > 0);
    if matches!(view, DialogView::Unnamed | DialogView::NotYours) {
        assert_eq!(verdict, Verdict::Invalid, "no dialog, no valid receipt");
    }
    for finding in &checked.findings {
        let body = finding.error_body();
        assert!(body.starts_with("Bad Request, "), "{body}");
    }
}

const CONSUMER: &str = "fuzz-consumer";

/// Agent message 0, consumer message 1, agent receipt 2 (ACCEPT of 1), agent message 3.
fn conversation(open: bool) -> Conversation {
    let mut c = Conversation::new("d1".into(), CONSUMER.into(), "1".into(), "-1".into());
    let agent = "fuzz-agent";
    let message = |text: &str| serde_json::json!({"type": "ContentEvent", "message": text});
    c.store(agent, Role::AssignedAgent, message("hi"), None);
    c.store(CONSUMER, Role::Consumer, message("yo"), None);
    let accept =
        serde_json::json!({"type": "AcceptStatusEvent", "status": "ACCEPT", "sequenceList": [1]});
    c.store(agent, Role::AssignedAgent, accept, None);
    c.store(agent, Role::AssignedAgent, message("bye"), None);
    if !open {
        c.close_all(crate::model::ClosedBy::Agent, "fuzz");
    }
    c
}

/// Every rejection answers 400 or 401 with a body of at most 128 characters naming its rule
/// (and its field, when that fits).
fn check_rejection(rejection: &Rejection) {
    assert!(matches!(rejection.code, 400 | 401), "{rejection:?}");
    let body = rejection.body();
    let finding = &rejection.finding;
    let named = format!("(rule {}, field {})", finding.rule, finding.field);
    let rule_only = format!("(rule {})", finding.rule);
    assert!(body.chars().count() <= crate::MAX_ERROR_BODY, "{body}");
    assert!(
        body.ends_with(&named) || body.ends_with(&rule_only),
        "{body}"
    );
}
