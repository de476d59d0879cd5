//! The test API itself: the library's `client::Consumer`, the waits, and the expectations
//! verified when the server is dropped. Their failure messages are API, pinned here.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use serde_json::json;
use wiretape_mock_server::client::{self, Consumer};
use wiretape_mock_server::{ExpectedReceipt, MockServer, ReceiptStatus, Rule};

/// The text of a caught panic.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("<not a string>")
}

// A receipt in a dialog that is nobody's: its record and violation carry no random id, so the
// whole message is pinned.
#[tokio::test]
#[should_panic(expected = "Verifications failed:
- expected READ of sequence 0 (accepted): no such receipt arrived
- expected no invalid receipt: 1 arrived (#0)

Received receipts:
- #0 READ [0] in dialog not-a-dialog (request 1): Invalid -> 400
    Violation dialog: dialog not-a-dialog is not a dialog of your conversations

Violations:
- #0 on connection 1 (request 1): dialog at body.dialogId: dialog not-a-dialog is not a dialog of your conversations")]
async fn unmet_expectations_fail_the_test_when_the_server_is_dropped() {
    let server = MockServer::builder().manual_agent().start().await;
    server.expect(ExpectedReceipt::read(0));
    server.expect_no_invalid_receipts();
    let mut consumer = Consumer::connect(&server).await;
    let refused = consumer
        .request(client::receipt(1, "not-a-dialog", ReceiptStatus::Read, [0]))
        .await;
    assert_eq!(refused["code"], 400, "{refused}");
}

#[tokio::test]
async fn verify_checks_now_and_the_drop_passes_once_everything_arrived() {
    let server = MockServer::builder().manual_agent().start().await;
    server.expect(ExpectedReceipt::accept(0));
    server.expect_no_invalid_receipts();
    let early = catch_unwind(AssertUnwindSafe(|| server.verify())).expect_err("nothing yet");
    assert_eq!(
        panic_text(early.as_ref()),
        "Verifications failed:\n\
         - expected ACCEPT of sequence 0 (accepted): no such receipt arrived\n\
         \n\
         Received receipts: none"
    );

    let mut consumer = Consumer::connect(&server).await;
    let conversation = consumer.create_conversation().await;
    server.agent().join(&conversation).unwrap();
    server.agent().say(&conversation, "hello").unwrap();
    let accept = client::receipt(2, &conversation, ReceiptStatus::Accept, [0]);
    assert_eq!(consumer.request(accept).await["code"], 200);
    server.verify();
}

#[tokio::test]
#[should_panic(expected = "the test's own failure")]
async fn a_test_that_already_fails_keeps_its_own_message() {
    let server = MockServer::builder().manual_agent().start().await;
    server.expect(ExpectedReceipt::read(0));
    panic!("the test's own failure");
}

#[tokio::test]
async fn wait_for_violation_returns_it_or_says_what_arrived() {
    let server = MockServer::builder().manual_agent().start().await;
    let mut consumer = Consumer::connect(&server).await;
    consumer.send_text("not json").await;
    let violation = server
        .wait_for_violation_within(Rule::Frame, Duration::from_secs(5))
        .await
        .unwrap_or_else(|unmet| panic!("{unmet}"));
    assert_eq!(violation.connection, 1);
    let unmet = server
        .wait_for_violation_within(Rule::Dialog, Duration::from_millis(20))
        .await
        .unwrap_err();
    assert_eq!(
        unmet.to_string(),
        "expected a violation of rule dialog within 20ms, but it did not arrive; 1 arrived:\n  \
         #0 on connection 1: frame at frame: frame \"not json\" is not JSON \
         (expected ident at line 1 column 2)"
    );
}

#[tokio::test]
#[should_panic(
    expected = "the consumer awaited a ms.MessagingEventNotification notification, \
                           but no frame arrived within 200ms; 1 frame(s) arrived unclaimed:\n  \
                           {\"kind\":\"resp\",\"reqId\":\"1\",\"code\":200,\"body\":{\"currentTime\":"
)]
async fn the_consumer_says_what_it_awaited_and_what_arrived_instead() {
    let server = MockServer::builder().manual_agent().start().await;
    let mut consumer = Consumer::connect(&server)
        .await
        .with_frame_timeout(Duration::from_millis(200));
    consumer
        .send(&json!({"kind":"req","id":1,"type":"GetClock"}))
        .await;
    consumer.notification("ms.MessagingEventNotification").await;
}

#[tokio::test]
async fn the_consumer_keeps_what_it_skipped_for_later_waits() {
    let server = MockServer::builder().manual_agent().start().await;
    let mut consumer = Consumer::connect(&server).await;
    let conversation = consumer.create_conversation().await;
    server.agent().join(&conversation).unwrap();
    let said = server.agent().say(&conversation, "hello").unwrap();
    // The agent's message arrives before this response; awaiting the response keeps it.
    let clock = consumer
        .request(json!({"kind":"req","id":"c","type":"GetClock"}))
        .await;
    assert_eq!(clock["code"], 200);
    let note = consumer.notification("ms.MessagingEventNotification").await;
    assert_eq!(note["body"]["changes"][0]["sequence"], said.sequence);
}

#[tokio::test]
#[should_panic(expected = "the consumer could not connect to wss://127.0.0.1:")]
async fn a_refused_connection_panics_with_the_url_and_the_cause() {
    let server = MockServer::builder()
        .manual_agent()
        .jwt("right")
        .start()
        .await;
    let _refused = Consumer::connect(&server).await;
}
