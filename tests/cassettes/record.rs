//! The regenerator of `fixtures/cassettes/` (`#[ignore]`d, like tokio-rustls' certificate
//! regenerator): every canonical conversation, typed by a consumer through the recording proxy
//! in front of the mock, with the agent driven by the test so that the order of frames is
//! fixed. Each step waits for its response and notifications before the next one.
//!
//! ```sh
//! cargo test --test integration -- --ignored regenerate_canonical_cassettes
//! ```

use std::path::{Path, PathBuf};

use futures_util::StreamExt as _;
use serde_json::Value;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use wiretape_fixtures::pki::LocalCa;
use wiretape_mock_server::{client, MockServer, ReceiptStatus, TlsIdentity};

use crate::harness::json::fake_jwt;
use crate::harness::proxy::Proxied;

/// The consumer every canonical cassette is recorded as (the JWT's `sub`).
const CONSUMER: &str = "f0000000-0000-4000-8000-00000000c0de";

/// A mock with a manual agent, the recording proxy in front of it, and a temporary directory
/// for the proxy's (timestamped) cassettes.
struct Recording {
    mock: MockServer,
    proxied: Proxied,
}

impl Recording {
    async fn start() -> Self {
        let ca = LocalCa::generate().unwrap();
        let mock = MockServer::builder()
            .tls(TlsIdentity::from_ca(&ca).unwrap())
            .manual_agent()
            .start()
            .await;
        let proxied = Proxied::in_front_of(ca, &mock.url()).await;
        Self { mock, proxied }
    }

    /// A consumer connected through the proxy with a fake JWT for [`CONSUMER`] (the proxy
    /// redacts it).
    async fn consumer(&self) -> Consumer {
        let path = format!(
            "/ws_api/account/{}/messaging/consumer?v=3",
            self.mock.account()
        );
        let jwt = fake_jwt(CONSUMER);
        let tls = Some(self.proxied.ca.client_config());
        Consumer {
            client: client::Consumer::connect_to(&self.proxied.url(&path), tls, Some(&jwt)).await,
        }
    }

    /// Asserts how many receipts the mock found invalid and the rule of the last one, stops
    /// the proxy and copies its cassettes, in connection order, to `out` under `names`.
    async fn finish(self, invalid_rule: Option<&str>, out: &Path, names: &[&str]) {
        let report = self.mock.report();
        match invalid_rule {
            None => assert_eq!(report.summary.invalid, 0, "{report}"),
            Some(rule) => {
                assert_eq!(report.summary.invalid, 1, "{report}");
                let last = self.mock.receipts().pop().unwrap();
                assert_eq!(last.findings[0].rule.to_string(), rule, "{last}");
            }
        }
        let (recorded, _dir) = self.proxied.finish().await;
        assert_eq!(recorded.len(), names.len(), "one cassette per connection");
        for (cassette, name) in recorded.iter().zip(names) {
            assert!(cassette.complete, "{}", cassette.path.display());
            std::fs::copy(&cassette.path, out.join(name)).unwrap();
        }
    }
}

/// A consumer typing frames and waiting for what each one brings, in arrival order.
struct Consumer {
    client: client::Consumer,
}

impl Consumer {
    async fn next(&mut self) -> Value {
        self.client.next_frame().await
    }

    /// Sends `typed` exactly as written, then reads its response and `notifications`
    /// notifications (in whatever order the server sends them); returns the response.
    async fn send(&mut self, typed: &str, notifications: usize) -> Value {
        self.client.send_text(typed).await;
        let mut response = None;
        for _ in 0..=notifications {
            let frame = self.next().await;
            match frame["kind"].as_str() {
                Some("resp") if response.is_none() => response = Some(frame),
                Some("notification") => {}
                _ => panic!("unexpected after {typed}: {frame}"),
            }
        }
        response.unwrap_or_else(|| panic!("no response to {typed}"))
    }

    /// Sends a request that must be refused with 400, and returns the error body.
    async fn refused(&mut self, typed: &str) -> String {
        let resp = self.send(typed, 0).await;
        assert_eq!(resp["code"], 400, "{typed} -> {resp}");
        resp["body"].as_str().unwrap().to_owned()
    }

    async fn notification(&mut self) -> Value {
        let frame = self.next().await;
        assert_eq!(frame["kind"], "notification", "{frame}");
        frame
    }

    /// `cm.ConsumerRequestConversation` with request id 1; returns the conversation id.
    async fn create_conversation(&mut self) -> String {
        let resp = self
            .send(
                r#"{"kind":"req","id":1,"type":"cm.ConsumerRequestConversation"}"#,
                0,
            )
            .await;
        assert_eq!(resp["code"], 200, "{resp}");
        resp["body"]["conversationId"].as_str().unwrap().to_owned()
    }

    /// Closes normally (1000) and reads until the server's close reply.
    async fn close(self) {
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        let mut ws = self.client.into_socket();
        ws.close(Some(frame)).await.unwrap();
        while ws.next().await.is_some() {}
    }
}

/// A consumer `ms.PublishEvent` of an `AcceptStatusEvent`, compact as a client library sends it.
fn receipt(id: u32, dialog: &str, status: &str, sequences: &str) -> String {
    format!(
        r#"{{"kind":"req","id":{id},"type":"ms.PublishEvent","body":{{"dialogId":"{dialog}","event":{{"type":"AcceptStatusEvent","status":"{status}","sequenceList":{sequences}}}}}}}"#
    )
}

/// A consumer text message.
fn message(id: u32, dialog: &str, text: &str) -> String {
    format!(
        r#"{{"kind":"req","id":{id},"type":"ms.PublishEvent","body":{{"dialogId":"{dialog}","event":{{"type":"ContentEvent","contentType":"text/plain","message":"{text}"}}}}}}"#
    )
}

/// The seed tutorial exactly as typed: create, the agent's message, ACCEPT then READ with
/// the tutorial's spacing and its reused request id 2.
async fn tutorial(out: &Path) {
    let rec = Recording::start().await;
    let mut c = rec.consumer().await;
    let conv = c.create_conversation().await;
    let agent = rec.mock.agent();
    agent.join(&conv).unwrap();
    let said = agent.say(&conv, "some agent text").unwrap();
    c.notification().await;
    for status in ["ACCEPT", "READ"] {
        let typed = format!(
            r#"{{"kind":"req","id":2,"type":"ms.PublishEvent","body":{{"dialogId":"{conv}","event":{{"type" : "AcceptStatusEvent" , "status" : "{status}", "sequenceList" : [ {} ]}}}}}}"#,
            said.sequence
        );
        assert_eq!(c.send(&typed, 1).await["code"], 200);
    }
    c.close().await;
    rec.finish(None, out, &["tutorial.jsonl"]).await;
}

/// Several messages each way, with receipts from both sides.
async fn several_messages(out: &Path) {
    let rec = Recording::start().await;
    let mut c = rec.consumer().await;
    let conv = c.create_conversation().await;
    let d = conv.as_str();
    let agent = rec.mock.agent();
    agent.join(d).unwrap();
    for text in ["Hi, I'm Alex. How can I help?", "Is it about an order?"] {
        agent.say(d, text).unwrap(); // sequences 0 and 1
        c.notification().await;
    }
    c.send(&receipt(2, d, "ACCEPT", "[0,1]"), 1).await; // 2
    c.send(&receipt(3, d, "READ", "[0,1]"), 1).await; // 3
    c.send(&message(4, d, "Yes, order 1234 has not arrived."), 1)
        .await; // 4
    for status in [ReceiptStatus::Accept, ReceiptStatus::Read] {
        agent.receipt(d, status, &[4]).unwrap(); // 5, 6
        c.notification().await;
    }
    agent.say(d, "Let me check that for you.").unwrap(); // 7
    c.notification().await;
    c.send(&receipt(5, d, "ACCEPT", "[7]"), 1).await; // 8
    c.send(&message(6, d, "Thank you!"), 1).await; // 9
    agent.acknowledge_all(d, ReceiptStatus::Accept).unwrap(); // 10
    c.notification().await;
    c.send(&receipt(7, d, "READ", "[7]"), 1).await; // 11
    c.close().await;
    rec.finish(None, out, &["several-messages.jsonl"]).await;
}

/// Makes a frame to type from the dialog id.
type Make = fn(&str) -> String;

/// What happens between the agent's first message and the invalid receipt.
enum Step {
    /// The consumer sends this (answered 200, with one notification).
    Send(Make),
    /// The agent publishes ACCEPT for this sequence.
    AgentAccepts(u64),
    /// The consumer closes the conversation (no notification: it has no metadata
    /// subscription).
    Close,
}

/// One invalid receipt after the agent's first message (sequence 0): `setup` may add events
/// first, then `typed` (given the dialog id) is refused naming `rule`.
async fn receipt_error(out: &Path, name: &str, rule: &str, setup: &[Step], typed: Make) {
    let rec = Recording::start().await;
    let mut c = rec.consumer().await;
    let conv = c.create_conversation().await;
    let agent = rec.mock.agent();
    agent.join(&conv).unwrap();
    agent.say(&conv, "some agent text").unwrap();
    c.notification().await;
    for step in setup {
        match step {
            Step::Send(make) => {
                let resp = c.send(&make(&conv), 1).await;
                assert_eq!(resp["code"], 200, "{resp}");
            }
            Step::AgentAccepts(seq) => {
                agent
                    .receipt(&conv, ReceiptStatus::Accept, &[*seq])
                    .unwrap();
                c.notification().await;
            }
            Step::Close => {
                let typed = format!(
                    r#"{{"kind":"req","id":2,"type":"cm.UpdateConversationField","body":{{"conversationId":"{conv}","conversationField":{{"field":"ConversationStateField","conversationState":"CLOSE"}}}}}}"#
                );
                let resp = c.send(&typed, 0).await;
                assert_eq!(resp["code"], 200, "{resp}");
            }
        }
    }
    let body = c.refused(&typed(&conv)).await;
    assert!(
        body.contains(&format!("rule {rule}")) || rule == "conversation-open",
        "{body}"
    );
    c.close().await;
    rec.finish(Some(rule), out, &[name]).await;
}

/// A client reconnects: the first connection creates the conversation, gets two agent
/// messages, accepts them and leaves; the agent writes again meanwhile; the second connection
/// (same token) subscribes from the first sequence it has not seen, gets that history, then a
/// live message, and acknowledges both.
async fn reconnect(out: &Path) {
    let rec = Recording::start().await;
    let agent = rec.mock.agent();
    let mut first = rec.consumer().await;
    let conv = first.create_conversation().await;
    let d = conv.as_str();
    agent.join(d).unwrap();
    for text in ["Hi, I'm Alex.", "What is your order number?"] {
        agent.say(d, text).unwrap(); // 0, 1
        first.notification().await;
    }
    first.send(&receipt(2, d, "ACCEPT", "[0,1]"), 1).await; // 2
    first.close().await;

    let missed = agent.say(d, "Are you still there?").unwrap(); // 3, while offline
    let mut second = rec.consumer().await;
    let subscribe = format!(
        r#"{{"kind":"req","id":1,"type":"ms.SubscribeMessagingEvents","body":{{"dialogId":"{d}","fromSeq":{}}}}}"#,
        missed.sequence
    );
    let resp = second.send(&subscribe, 1).await; // the history: sequence 3
    assert_eq!(resp["type"], "GenericSubscribeResponse", "{resp}");
    agent.say(d, "I will keep this open for you.").unwrap(); // 4, live
    second.notification().await;
    second.send(&receipt(2, d, "ACCEPT", "[3,4]"), 1).await; // 5
    second.send(&receipt(3, d, "READ", "[3,4]"), 1).await; // 6
    second.close().await;
    rec.finish(None, out, &["reconnect-1.jsonl", "reconnect-2.jsonl"])
        .await;
}

/// Every canonical cassette, written to `out` under its fixed name.
pub(super) async fn record_all(out: &Path) {
    tutorial(out).await;
    several_messages(out).await;
    let cases: [(&str, &str, &[Step], Make); 10] = [
        (
            "receipt-unknown-sequence.jsonl",
            "sequence-exists",
            &[],
            |d| receipt(2, d, "ACCEPT", "[99]"),
        ),
        (
            "receipt-own-message.jsonl",
            "other-side",
            &[Step::Send(|d| message(2, d, "hello"))],
            |d| receipt(3, d, "ACCEPT", "[1]"),
        ),
        (
            "receipt-of-a-receipt.jsonl",
            "acknowledges-message",
            // The agent's ACCEPT of the consumer's message is sequence 2.
            &[
                Step::Send(|d| message(2, d, "hello")),
                Step::AgentAccepts(1),
            ],
            |d| receipt(3, d, "READ", "[2]"),
        ),
        ("receipt-unknown-dialog.jsonl", "dialog", &[], |_| {
            receipt(2, "00000000-0000-4000-8000-000000000000", "ACCEPT", "[0]")
        }),
        (
            "receipt-closed-conversation.jsonl",
            "conversation-open",
            &[Step::Close],
            |d| receipt(3, d, "ACCEPT", "[0]"),
        ),
        ("receipt-bad-status.jsonl", "status", &[], |d| {
            receipt(2, d, "read", "[0]")
        }),
        (
            "receipt-empty-list.jsonl",
            "sequence-list-empty",
            &[],
            |d| receipt(2, d, "READ", "[]"),
        ),
        (
            "receipt-sequence-as-string.jsonl",
            "sequence-list",
            &[],
            |d| receipt(2, d, "READ", r#"["0"]"#),
        ),
        ("receipt-missing-dialog.jsonl", "receipt-shape", &[], |_| {
            r#"{"kind":"req","id":2,"type":"ms.PublishEvent","body":{"event":{"type":"AcceptStatusEvent","status":"ACCEPT","sequenceList":[0]}}}"#.to_owned()
        }),
        (
            "receipt-action-without-metadata.jsonl",
            "action-metadata",
            &[],
            |d| receipt(2, d, "ACTION", "[0]"),
        ),
    ];
    for (name, rule, setup, typed) in cases {
        receipt_error(out, name, rule, setup, typed).await;
    }
    reconnect(out).await;
}

#[tokio::test]
#[ignore = "rewrites fixtures/cassettes/*.jsonl; run after a protocol change, then review the snapshots"]
async fn regenerate_canonical_cassettes() {
    let out = PathBuf::from(super::CASSETTES);
    // The directory is this test's output: a cassette dropped from the list goes away too.
    for entry in std::fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "jsonl") {
            std::fs::remove_file(path).unwrap();
        }
    }
    record_all(&out).await;
}
