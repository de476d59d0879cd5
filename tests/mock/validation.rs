//! Every receipt rule: a passing and a failing case on a real socket, asserting the response
//! and the record; plus the lenient and strict modes.

use std::time::Duration;

use serde_json::{json, Value};
use wiretape_mock_server::client::{self, Consumer};
use wiretape_mock_server::{
    ExpectedReceipt, MockServer, ReceiptStatus, Rule, Strictness, Verdict, CONVERSATION_IS_CLOSE,
};

use super::receipt_as_sent;

/// A server with a manual agent, a consumer with an open conversation in which the agent said
/// two messages (0, 1), the consumer one (2) and the agent acknowledged it (3).
pub(crate) async fn setup(strictness: Strictness) -> (MockServer, Consumer, String) {
    let server = MockServer::builder()
        .manual_agent()
        .strictness(strictness)
        .start()
        .await;
    let mut consumer = Consumer::connect(&server).await;
    let conv = consumer.create_conversation().await;
    let agent = server.agent();
    agent.join(&conv).unwrap();
    agent.say(&conv, "first").unwrap();
    agent.say(&conv, "second").unwrap();
    let own = consumer
        .request(client::publish(
            100,
            &conv,
            json!({"type":"ContentEvent","contentType":"text/plain","message":"mine"}),
        ))
        .await;
    assert_eq!(own["body"]["sequence"], 2, "{own}");
    agent.receipt(&conv, ReceiptStatus::Accept, &[2]).unwrap();
    (server, consumer, conv)
}

/// Sends `request`, asserts the response code and (for errors) that the body names the rule
/// and the field, and that the newest record has the verdict and rule.
async fn check(
    server: &MockServer,
    consumer: &mut Consumer,
    request: Value,
    code: u16,
    rule: Option<(Rule, &str)>,
) -> Value {
    let resp = consumer.request(request.clone()).await;
    assert_eq!(resp["code"], code, "{request} -> {resp}");
    assert_eq!(resp["type"], "ms.PublishEventResponse", "{resp}");
    let record = server.receipts().pop().expect("a record");
    match rule {
        None => {
            assert_ne!(record.verdict, Verdict::Invalid, "{record}");
            assert!(resp["body"]["sequence"].is_u64(), "{resp}");
            assert_eq!(record.stored_sequence, resp["body"]["sequence"].as_u64());
        }
        Some((rule, field)) => {
            assert_eq!(record.verdict, Verdict::Invalid, "{record}");
            assert_eq!(record.findings[0].rule, rule, "{record}");
            assert_eq!(record.findings[0].field, field, "{record}");
            let body = resp["body"].as_str().expect("a string body");
            if rule != Rule::ConversationOpen {
                assert!(body.starts_with("Bad Request, "), "{body}");
                assert!(body.chars().count() <= 128, "{body}");
                let named = format!("(rule {rule}, field {field})");
                let rule_only = format!("(rule {rule})");
                assert!(
                    body.ends_with(&named) || body.ends_with(&rule_only),
                    "{body}"
                );
            }
            assert_eq!(record.response_body, resp["body"]);
        }
    }
    resp
}

/// A request, the expected code, and for errors the rule and field the record names.
type Case<'a> = (Value, u16, Option<(Rule, &'a str)>);

#[tokio::test]
async fn each_receipt_rule_passes_and_fails() {
    let (server, mut c, conv) = setup(Strictness::Standard).await;
    let d = conv.as_str();
    let seq = "body.event.sequenceList";
    let item = "body.event.sequenceList[0]";
    let many: Vec<u64> = vec![0; 1001];
    let cases: Vec<Case<'_>> = vec![
        // status: one of five, case-sensitive.
        (client::receipt(1, d, ReceiptStatus::Accept, [0]), 200, None),
        (
            receipt_as_sent(2, d, "read", json!([0])),
            400,
            Some((Rule::Status, "body.event.status")),
        ),
        (
            receipt_as_sent(3, d, "SEEN", json!([0])),
            400,
            Some((Rule::Status, "body.event.status")),
        ),
        // ACTION carries top-level metadata.
        (
            {
                let mut r = client::receipt(4, d, ReceiptStatus::Action, [1]);
                r["metadata"] = json!([{"type":"ExternalId","id":"yes-button"}]);
                r
            },
            200,
            None,
        ),
        (
            client::receipt(5, d, ReceiptStatus::Action, [1]),
            400,
            Some((Rule::ActionMetadata, "metadata")),
        ),
        // sequenceList: non-empty list of safe non-negative integers.
        (client::receipt(6, d, ReceiptStatus::Read, [0]), 200, None),
        (
            receipt_as_sent(7, d, "READ", json!([-1])),
            400,
            Some((Rule::SequenceList, item)),
        ),
        (
            receipt_as_sent(8, d, "READ", json!([0.5])),
            400,
            Some((Rule::SequenceList, item)),
        ),
        (
            receipt_as_sent(9, d, "READ", json!(["0"])),
            400,
            Some((Rule::SequenceList, item)),
        ),
        (
            client::receipt(10, d, ReceiptStatus::Read, [9_007_199_254_740_993_u64]),
            400,
            Some((Rule::SequenceList, item)),
        ),
        (
            receipt_as_sent(11, d, "READ", json!(0)),
            400,
            Some((Rule::SequenceList, seq)),
        ),
        (
            receipt_as_sent(12, d, "READ", json!([])),
            400,
            Some((Rule::SequenceListEmpty, seq)),
        ),
        (
            receipt_as_sent(13, d, "READ", json!(many)),
            400,
            Some((Rule::SequenceLimit, seq)),
        ),
        // The sequences exist, were sent by the other side, and are messages.
        (
            client::receipt(14, d, ReceiptStatus::Accept, [1]),
            200,
            None,
        ),
        (
            client::receipt(15, d, ReceiptStatus::Accept, [99]),
            400,
            Some((Rule::SequenceExists, item)),
        ),
        (
            client::receipt(16, d, ReceiptStatus::Accept, [2]),
            400,
            Some((Rule::OtherSide, item)),
        ),
        (
            client::receipt(17, d, ReceiptStatus::Accept, [3]),
            400,
            Some((Rule::AcknowledgesMessage, item)),
        ),
        // The dialog is one of this consumer's.
        (
            client::receipt(18, "not-a-dialog", ReceiptStatus::Read, [0]),
            400,
            Some((Rule::Dialog, "body.dialogId")),
        ),
        (
            json!({"kind":"req","id":19,"type":"ms.PublishEvent","body":{"event":{"type":"AcceptStatusEvent","status":"READ","sequenceList":[0]}}}),
            400,
            Some((Rule::ReceiptShape, "body.dialogId")),
        ),
    ];
    for (request, code, rule) in cases {
        check(&server, &mut c, request, code, rule).await;
    }
    c.assert_alive().await;
    let violations = server.violations();
    assert!(
        violations.iter().all(|v| v.receipt.is_some()),
        "only receipt violations here"
    );
    assert_eq!(server.report().summary.invalid, 15);
}

#[tokio::test]
async fn the_exact_error_body_names_rule_field_and_value() {
    let (_server, mut c, conv) = setup(Strictness::Standard).await;
    let resp = c
        .request(client::receipt(1, &conv, ReceiptStatus::Read, [99]))
        .await;
    assert_eq!(
        resp["body"],
        format!("Bad Request, sequence 99 does not exist in dialog {conv} (rule sequence-exists)")
    );
    assert_eq!(resp["reqId"], "1");
}

#[tokio::test]
async fn transitions_and_repeats_are_warnings_not_errors() {
    let (server, mut c, conv) = setup(Strictness::Standard).await;
    let read_first = c
        .request(client::receipt(1, &conv, ReceiptStatus::Read, [0]))
        .await;
    assert_eq!(read_first["code"], 200);
    let record = server.receipts().pop().unwrap();
    assert_eq!(record.verdict, Verdict::ValidWithWarnings);
    assert_eq!(record.findings[0].rule, Rule::Transition);
    let repeat = c
        .request(client::receipt(2, &conv, ReceiptStatus::Read, [0]))
        .await;
    assert_eq!(repeat["code"], 200);
    assert_eq!(
        server.receipts().pop().unwrap().findings[0].rule,
        Rule::Repeat
    );
    assert!(!server.report().has_invalid_receipts());
}

#[tokio::test]
async fn a_closed_conversation_refuses_receipts_with_the_live_string() {
    let (server, mut c, conv) = setup(Strictness::Standard).await;
    server.agent().close(&conv).unwrap();
    let resp = check(
        &server,
        &mut c,
        client::receipt(1, &conv, ReceiptStatus::Read, [0]),
        400,
        Some((Rule::ConversationOpen, "body.dialogId")),
    )
    .await;
    assert_eq!(resp["body"], CONVERSATION_IS_CLOSE);
}

#[tokio::test]
async fn another_consumers_dialog_is_not_yours() {
    let (server, mut c, _conv) = setup(Strictness::Standard).await;
    let mut other = Consumer::connect_with_token(&server, Some("someone-else")).await;
    let theirs = other.create_conversation().await;
    check(
        &server,
        &mut c,
        client::receipt(1, &theirs, ReceiptStatus::Read, [0]),
        400,
        Some((Rule::Dialog, "body.dialogId")),
    )
    .await;
}

#[tokio::test]
async fn lenient_accepts_what_the_live_service_would_and_still_records_it() {
    let (server, mut c, conv) = setup(Strictness::Lenient).await;
    let unknown = c
        .request(client::receipt(1, &conv, ReceiptStatus::Read, [99]))
        .await;
    assert_eq!(unknown["code"], 200, "{unknown}");
    // The setup's agent events are notified first; the stored receipt is echoed after them.
    let echo = loop {
        let note = c.notification("ms.MessagingEventNotification").await;
        let change = &note["body"]["changes"][0];
        if change["originatorId"] != server.agent().id()
            && change["event"]["type"] == "AcceptStatusEvent"
        {
            break note;
        }
    };
    assert_eq!(
        echo["body"]["changes"][0]["event"]["sequenceList"],
        json!([99])
    );
    let record = server.receipts().pop().unwrap();
    assert_eq!(record.verdict, Verdict::Invalid);
    assert_eq!(record.stored_sequence, unknown["body"]["sequence"].as_u64());
    assert_eq!(
        server.violations()[0].response_code,
        None,
        "accepted anyway"
    );
    // Structural errors are refused even when lenient.
    let lower = c
        .request(receipt_as_sent(2, &conv, "read", json!([0])))
        .await;
    assert_eq!(lower["code"], 400, "{lower}");
}

#[tokio::test]
async fn strict_closes_the_offending_connection_with_1008() {
    let (server, mut c, conv) = setup(Strictness::Strict).await;
    let resp = c
        .request(client::receipt(1, &conv, ReceiptStatus::Read, [99]))
        .await;
    assert_eq!(resp["code"], 400);
    let (code, reason) = c.closed().await;
    assert_eq!(code, 1008);
    assert!(
        reason.starts_with("sequence-exists: sequence 99"),
        "{reason}"
    );
    // The server keeps serving others.
    let mut other = Consumer::connect(&server).await;
    other.assert_alive().await;
}

#[tokio::test]
async fn an_unmet_expectation_says_what_was_expected_and_what_arrived() {
    let (server, mut c, conv) = setup(Strictness::Standard).await;
    c.request(client::receipt(1, &conv, ReceiptStatus::Accept, [0]))
        .await;
    let unmet = server
        .wait_for_receipt_within(&ExpectedReceipt::read(0), Duration::from_millis(50))
        .await
        .unwrap_err();
    assert_eq!(
        unmet.to_string(),
        format!(
            "expected READ of sequence 0 (accepted) within 50ms, but it did not arrive; 1 arrived:\n  \
             #0 ACCEPT [0] in dialog {conv} (request 1): Valid -> 200"
        )
    );
    assert!(server
        .verify_receipts(&[ExpectedReceipt::accept(0)])
        .is_ok());
    let err = server
        .verify_receipts(&[ExpectedReceipt::accept(0), ExpectedReceipt::read(1)])
        .unwrap_err();
    assert_eq!(err.expected, ExpectedReceipt::read(1));
}
