//! Unit tests of the receipt rules: one passing and one failing case per rule.

use serde_json::{json, Map, Value};

use super::*;
use crate::model::{Conversation, Role};

const ME: &str = "consumer-1";
const AGENT: &str = "agent-1";

/// A conversation with: 0 agent message, 1 consumer message, 2 agent ACCEPT of 1.
fn conversation() -> Conversation {
    let mut c = Conversation::new("d1".into(), ME.into(), "1".into(), "-1".into());
    c.store(
        AGENT,
        Role::AssignedAgent,
        json!({"type": "ContentEvent", "message": "hi"}),
        None,
    );
    c.store(
        ME,
        Role::Consumer,
        json!({"type": "ContentEvent", "message": "yo"}),
        None,
    );
    c.store(
        AGENT,
        Role::AssignedAgent,
        json!({"type": "AcceptStatusEvent", "status": "ACCEPT", "sequenceList": [1]}),
        None,
    );
    c
}

fn event(status: Value, list: Value) -> Map<String, Value> {
    let Value::Object(map) =
        json!({"type": "AcceptStatusEvent", "status": status, "sequenceList": list})
    else {
        unreachable!()
    };
    map
}

fn check(c: &Conversation, status: Value, list: Value, metadata: Option<Value>) -> Checked {
    check_receipt(
        Some(&json!(c.main().id)),
        &event(status, list),
        metadata.as_ref(),
        ME,
        DialogView::Found {
            dialog: c.main(),
            dialog_open: c.is_open(),
        },
    )
}

fn rules(checked: &Checked) -> Vec<(Rule, Severity)> {
    checked
        .findings
        .iter()
        .map(|f| (f.rule, f.severity))
        .collect()
}

#[test]
fn a_receipt_for_the_agents_message_is_valid() {
    let c = conversation();
    let checked = check(&c, json!("ACCEPT"), json!([0]), None);
    assert!(checked.findings.is_empty(), "{:?}", checked.findings);
    assert_eq!(checked.sequences, vec![0]);
    assert_eq!(Verdict::of(&checked.findings), Verdict::Valid);
}

#[test]
fn status_must_be_one_of_five_case_sensitive() {
    let c = conversation();
    for bad in [json!("read"), json!("SEEN"), json!(3), Value::Null] {
        let checked = check(&c, bad.clone(), json!([0]), None);
        assert_eq!(
            rules(&checked),
            vec![(Rule::Status, Severity::Violation)],
            "{bad}"
        );
    }
    for good in ["ACCEPT", "READ", "ACCESS", "NACK"] {
        let checked = check(&c, json!(good), json!([0]), None);
        assert!(
            !checked.findings.iter().any(Finding::is_violation),
            "{good}"
        );
    }
}

#[test]
fn action_needs_top_level_metadata() {
    let c = conversation();
    let checked = check(&c, json!("ACTION"), json!([0]), None);
    assert_eq!(
        rules(&checked),
        vec![(Rule::ActionMetadata, Severity::Violation)]
    );
    let metadata = json!([{"type": "ExternalId", "id": "button-1"}]);
    assert!(check(&c, json!("ACTION"), json!([0]), Some(metadata))
        .findings
        .is_empty());
}

#[test]
fn sequence_list_must_hold_safe_non_negative_integers() {
    let c = conversation();
    for (bad, says) in [
        (json!([-1]), "is negative"),
        (json!([1.5]), "is not an integer"),
        (json!(["0"]), "is a string"),
        (json!([9_007_199_254_740_992_u64]), "larger than 2^53-1"),
        (json!([1e30]), "larger than 2^53-1"),
        (json!(0), "must be a list"),
        (Value::Null, "must be a list"),
    ] {
        let checked = check(&c, json!("READ"), bad.clone(), None);
        assert_eq!(checked.findings[0].rule, Rule::SequenceList, "{bad}");
        assert!(
            checked.findings[0].message.contains(says),
            "{bad}: {}",
            checked.findings[0].message
        );
    }
    let f = &check(&c, json!("READ"), json!([0, "x"]), None).findings[0];
    assert_eq!(f.field, "body.event.sequenceList[1]");
}

#[test]
fn missing_sequence_list_is_named() {
    let c = conversation();
    let mut ev = event(json!("READ"), json!([0]));
    ev.remove("sequenceList");
    let checked = check_receipt(
        Some(&json!("d1")),
        &ev,
        None,
        ME,
        DialogView::Found {
            dialog: c.main(),
            dialog_open: true,
        },
    );
    assert_eq!(checked.findings[0].message, "sequenceList is missing");
}

#[test]
fn empty_and_oversized_lists_are_violations_the_live_service_would_accept() {
    let c = conversation();
    let checked = check(&c, json!("READ"), json!([]), None);
    assert_eq!(
        rules(&checked),
        vec![(Rule::SequenceListEmpty, Severity::Violation)]
    );
    assert!(Rule::SequenceListEmpty.live_service_accepts());
    let many: Vec<u64> = vec![0; MAX_SEQUENCES + 1];
    let checked = check(&c, json!("READ"), json!(many), None);
    assert_eq!(checked.findings[0].rule, Rule::SequenceLimit);
    assert!(checked.findings.len() <= 20, "findings are capped");
}

#[test]
fn sequences_must_exist_in_the_dialog() {
    let c = conversation();
    let checked = check(&c, json!("ACCEPT"), json!([99]), None);
    assert_eq!(
        rules(&checked),
        vec![(Rule::SequenceExists, Severity::Violation)]
    );
    assert_eq!(
        checked.findings[0].error_body(),
        "Bad Request, sequence 99 does not exist in dialog d1 (rule sequence-exists, field body.event.sequenceList[0])"
    );
}

#[test]
fn receipts_acknowledge_the_other_sides_messages_only() {
    let c = conversation();
    let own = check(&c, json!("ACCEPT"), json!([1]), None);
    assert_eq!(rules(&own), vec![(Rule::OtherSide, Severity::Violation)]);
    let receipt = check(&c, json!("ACCEPT"), json!([2]), None);
    assert_eq!(
        rules(&receipt),
        vec![(Rule::AcknowledgesMessage, Severity::Violation)]
    );
    assert!(receipt.findings[0].message.contains("AcceptStatusEvent"));
}

#[test]
fn dialog_must_be_the_consumers() {
    let checked = check_receipt(
        Some(&json!("someone-elses")),
        &event(json!("READ"), json!([0])),
        None,
        ME,
        DialogView::NotYours,
    );
    assert_eq!(rules(&checked), vec![(Rule::Dialog, Severity::Violation)]);
    let checked = check_receipt(
        Some(&json!(7)),
        &event(json!("READ"), json!([0])),
        None,
        ME,
        DialogView::Unnamed,
    );
    assert_eq!(
        rules(&checked),
        vec![(Rule::ReceiptShape, Severity::Violation)]
    );
    let checked = check_receipt(
        None,
        &event(json!("READ"), json!([0])),
        None,
        ME,
        DialogView::Unnamed,
    );
    assert_eq!(checked.findings[0].field, "body.dialogId");
}

#[test]
fn closed_conversations_refuse_receipts_with_the_live_string() {
    let c = conversation();
    let checked = check_receipt(
        Some(&json!("d1")),
        &event(json!("READ"), json!([0])),
        None,
        ME,
        DialogView::Found {
            dialog: c.main(),
            dialog_open: false,
        },
    );
    assert_eq!(checked.findings[0].rule, Rule::ConversationOpen);
    assert_eq!(checked.findings[0].error_body(), CONVERSATION_IS_CLOSE);
}

#[test]
fn read_before_accept_repeats_and_duplicates_are_warnings() {
    let mut c = conversation();
    let read_first = check(&c, json!("READ"), json!([0]), None);
    assert_eq!(
        rules(&read_first),
        vec![(Rule::Transition, Severity::Warning)]
    );
    assert_eq!(
        Verdict::of(&read_first.findings),
        Verdict::ValidWithWarnings
    );

    c.store(
        ME,
        Role::Consumer,
        json!({"type": "AcceptStatusEvent", "status": "ACCEPT", "sequenceList": [0]}),
        None,
    );
    assert!(check(&c, json!("READ"), json!([0]), None)
        .findings
        .is_empty());
    let again = check(&c, json!("ACCEPT"), json!([0]), None);
    assert_eq!(rules(&again), vec![(Rule::Repeat, Severity::Warning)]);

    c.store(
        ME,
        Role::Consumer,
        json!({"type": "AcceptStatusEvent", "status": "READ", "sequenceList": [0]}),
        None,
    );
    let _ = &mut c;
    let dup = check(&c, json!("ACCESS"), json!([0, 0]), None);
    assert_eq!(
        rules(&dup),
        vec![(Rule::DuplicateSequence, Severity::Warning)]
    );
}

#[test]
fn violations_come_before_warnings() {
    let c = conversation();
    let checked = check(&c, json!("READ"), json!([0, 99]), None);
    assert_eq!(
        rules(&checked),
        vec![
            (Rule::SequenceExists, Severity::Violation),
            (Rule::Transition, Severity::Warning)
        ]
    );
}

#[test]
fn findings_never_carry_a_token() {
    // Built in pieces: no JWT-shaped literal in the source.
    let jwt = ["eyJhbGciOiJub25lIn0", "eyJzdWIiOiJ4In0", "c2lnbmF0dXJl"].join(".");
    let finding = Finding::violation(
        Rule::Envelope,
        "kind",
        json!({"kind": jwt, "list": [format!("jwt {jwt}")]}),
        format!(
            "kind must be \"req\", got {}",
            short(&Value::String(jwt.repeat(3)))
        ),
    );
    let text = serde_json::to_string(&finding).unwrap() + &finding.error_body();
    assert!(!text.contains("eyJzdWIiOiJ4In0"), "{text}");
    assert!(text.contains("<redacted:jwt>"), "{text}");
}

#[test]
fn error_bodies_fit_128_characters_and_always_name_the_rule() {
    let dialog = "2e74be31-5a0b-4c6e-9d1e-000000000001";
    let finding = Finding::violation(
        Rule::SequenceExists,
        "body.event.sequenceList[0]",
        Value::from(99),
        format!("sequence 99 does not exist in dialog {dialog}"),
    );
    let body = finding.error_body();
    assert!(
        body.chars().count() <= MAX_ERROR_BODY,
        "{} {body}",
        body.len()
    );
    assert!(
        body.starts_with("Bad Request, sequence 99 does not exist"),
        "{body}"
    );
    assert_eq!(
        body,
        format!(
            "Bad Request, sequence 99 does not exist in dialog {dialog} (rule sequence-exists)"
        ),
        "the field gives way first"
    );
    let short = Finding::violation(Rule::Body, "body", Value::Null, "body is missing");
    assert_eq!(
        short.error_body(),
        "Bad Request, body is missing (rule body, field body)"
    );
    let huge = Finding::violation(Rule::Body, "x".repeat(200), Value::Null, "y".repeat(500));
    assert!(
        huge.error_body().chars().count() <= MAX_ERROR_BODY,
        "{}",
        huge.error_body()
    );
}
