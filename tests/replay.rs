//! Replay: cassettes recorded through the proxy drive the mock; clients that deviate get a
//! diff; timing follows the recording; the real wscat replays the tutorial.

use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt as _;
use serde_json::Value;
use tokio::time::Instant;
use wiretape_fixtures::cassette::Cassette;
use wiretape_fixtures::pki::LocalCa;
use wiretape_fixtures::transcript;
use wiretape_mock_server::client::{self, Consumer};
use wiretape_mock_server::{MockServer, ReceiptStatus, Replay, Rule, Speed, TlsIdentity};

use crate::harness::client::connect;
use crate::harness::json::fake_jwt;
use crate::harness::process::Wiretape;
use crate::harness::{cassettes, spawn_proxy};
use crate::mock::wscat::wscat_run;

/// The consumer the tutorial client authenticates as (its fake JWT's `sub`).
const CONSUMER: &str = "f0000000-0000-4000-8000-000000000001";

/// Reads frames in arrival order, dropping them, until one satisfies `want`.
async fn until(consumer: &mut Consumer, want: impl Fn(&Value) -> bool) -> Value {
    loop {
        let frame = consumer.next_frame().await;
        if want(&frame) {
            return frame;
        }
    }
}

/// Closes the consumer's socket and reads it to the end.
async fn hang_up(consumer: Consumer) {
    let mut ws = consumer.into_socket();
    ws.close(None).await.unwrap();
    while ws.next().await.is_some() {}
}

fn is_resp(id: &'static str) -> impl Fn(&Value) -> bool {
    move |f| f["kind"] == "resp" && f["reqId"] == id
}

fn agent_message(f: &Value) -> bool {
    f["type"] == "ms.MessagingEventNotification"
        && f["body"]["changes"][0]["event"]["type"] == "ContentEvent"
        && f["body"]["changes"][0]["originatorMetadata"]["role"] == "ASSIGNED_AGENT"
}

/// What a tutorial client may do differently.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Variant {
    /// Exactly as recorded.
    Faithful,
    /// Writes "hi there" instead of "hello".
    OtherText,
    /// Acknowledges sequence 5 instead of the agent's message.
    WrongSequence,
    /// Never sends the READ.
    NoRead,
}

/// The tutorial plus a consumer message: create, the agent's message, "hello", ACCEPT, READ.
/// Waits for every answer before the next frame, so the frame order is fixed. Returns the
/// error responses it got.
pub(crate) async fn tutorial_client(url: &str, ca: &LocalCa, variant: Variant) -> Vec<Value> {
    let jwt = fake_jwt(CONSUMER);
    let mut c = Consumer::connect_to(url, Some(ca.client_config()), Some(&jwt)).await;
    let mut errors = Vec::new();
    c.send(&client::request_conversation(1)).await;
    let conversation = until(&mut c, is_resp("1")).await["body"]["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let greeting = until(&mut c, agent_message).await;
    let sequence = greeting["body"]["changes"][0]["sequence"].as_u64().unwrap();
    let text = if variant == Variant::OtherText {
        "hi there"
    } else {
        "hello"
    };
    c.send(&client::publish(
        2,
        &conversation,
        client::text_message(text),
    ))
    .await;
    let resp = until(&mut c, is_resp("2")).await;
    if resp["code"] != 200 {
        errors.push(resp);
    } else {
        // The agent acknowledges and answers ("You said: ..."): wait for all of it, so the
        // recorded order does not depend on who is faster.
        until(&mut c, |f| {
            agent_message(f)
                && f["body"]["changes"][0]["event"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("You said"))
        })
        .await;
    }
    let acked = if variant == Variant::WrongSequence {
        5
    } else {
        sequence
    };
    for (id, status) in [(3, ReceiptStatus::Accept), (4, ReceiptStatus::Read)] {
        if status == ReceiptStatus::Read && variant == Variant::NoRead {
            break;
        }
        c.send(&client::receipt(id, &conversation, status, [acked]))
            .await;
        let id = id.to_string();
        let resp = until(&mut c, move |f| f["kind"] == "resp" && f["reqId"] == id).await;
        if resp["code"] != 200 {
            errors.push(resp);
        } else {
            until(&mut c, |f| f["type"] == "ms.MessagingEventNotification").await;
            // the echo
        }
    }
    hang_up(c).await;
    errors
}

pub(crate) fn consumer_url(base: &str) -> String {
    format!("{base}/ws_api/account/12345678/messaging/consumer?v=3")
}

/// Records the tutorial client through the proxy in front of the live mock (agent on auto,
/// greeting after `greeting_delay`), and returns the cassette.
pub(crate) async fn record_tutorial(
    ca: &LocalCa,
    dir: &Path,
    greeting_delay: Duration,
) -> Cassette {
    let mock = MockServer::builder()
        .tls(TlsIdentity::from_ca(ca).unwrap())
        .auto_agent(greeting_delay)
        .start()
        .await;
    let proxy = spawn_proxy(ca, &mock.url(), dir).await;
    let errors = tutorial_client(&consumer_url(&proxy.url()), ca, Variant::Faithful).await;
    assert!(errors.is_empty(), "{errors:?}");
    proxy.shutdown().await;
    mock.shutdown().await;
    let mut all = cassettes(dir);
    assert_eq!(all.len(), 1);
    all.remove(0)
}

/// A mock replaying `cassette` with `speed`.
pub(crate) async fn replay_mock(ca: &LocalCa, cassette: Cassette, speed: Speed) -> MockServer {
    MockServer::builder()
        .tls(TlsIdentity::from_ca(ca).unwrap())
        .replay(Replay::new(vec![cassette]).speed(speed))
        .start()
        .await
}

#[tokio::test]
async fn a_replayed_session_records_the_same_transcript_as_the_original() {
    let ca = LocalCa::generate().unwrap();
    let original_dir = tempfile::tempdir().unwrap();
    let original = record_tutorial(&ca, original_dir.path(), Duration::ZERO).await;

    let replayed_dir = tempfile::tempdir().unwrap();
    let mock = replay_mock(&ca, original.clone(), Speed::INSTANT).await;
    let proxy = spawn_proxy(&ca, &mock.url(), replayed_dir.path()).await;
    let errors = tutorial_client(&consumer_url(&proxy.url()), &ca, Variant::Faithful).await;
    assert!(errors.is_empty(), "{errors:?}");
    proxy.shutdown().await;
    let report = mock.report();
    assert!(report.violations.is_empty(), "{report}");
    assert_eq!(
        report.summary.valid, 2,
        "the replay validated ACCEPT and READ: {report}"
    );

    let replayed = &cassettes(replayed_dir.path())[0];
    assert_eq!(transcript(replayed), transcript(&original));
    insta::assert_json_snapshot!("replay_round_trip", transcript(replayed));
}

#[tokio::test]
async fn a_client_that_deviates_gets_the_diff_and_the_report_names_it() {
    let ca = LocalCa::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let original = record_tutorial(&ca, dir.path(), Duration::ZERO).await;

    // Different message text: the error response carries the diff.
    let mock = replay_mock(&ca, original.clone(), Speed::INSTANT).await;
    let errors = tutorial_client(&consumer_url(&mock.url()), &ca, Variant::OtherText).await;
    let body = errors[0]["body"].as_str().unwrap();
    assert_eq!(errors[0]["code"], 400);
    assert!(body.chars().count() <= 128, "{body}");
    assert!(
        body.starts_with(
            r#"Bad Request, replay mismatch at body.event.message: expected "hello", got "hi there"; "#
        ),
        "what differs comes first: {body}"
    );
    let report = mock.report();
    assert!(report.has_replay_deviations());
    let mismatch = report
        .violations
        .iter()
        .find(|v| v.finding.rule == Rule::ReplayMismatch)
        .expect("a replay-mismatch record");
    assert!(
        mismatch.finding.message.contains("expected frame #4"),
        "the record keeps the whole message: {}",
        mismatch.finding.message
    );

    // A receipt for a sequence the replay never sent: the validator's words, and a record.
    let mock = replay_mock(&ca, original.clone(), Speed::INSTANT).await;
    let errors = tutorial_client(&consumer_url(&mock.url()), &ca, Variant::WrongSequence).await;
    assert!(
        errors[0]["body"]
            .as_str()
            .unwrap()
            .contains("sequence 5 does not exist"),
        "{errors:?}"
    );
    let report = mock.report();
    assert!(report.has_invalid_receipts(), "{report}");
    assert!(report
        .violations
        .iter()
        .any(|v| v.finding.rule == Rule::ReplayMismatch));

    // A missing READ: reported, when the connection ends, as never sent.
    let mock = replay_mock(&ca, original, Speed::INSTANT).await;
    let errors = tutorial_client(&consumer_url(&mock.url()), &ca, Variant::NoRead).await;
    assert!(errors.is_empty(), "{errors:?}");
    mock.wait_for_violation_within(Rule::ReplayUnsent, Duration::from_secs(3))
        .await
        .unwrap_or_else(|unmet| panic!("{unmet}"));
    let unsent: Vec<_> = mock
        .violations()
        .into_iter()
        .filter(|v| v.finding.rule == Rule::ReplayUnsent)
        .map(|v| v.finding.message)
        .collect();
    assert_eq!(unsent.len(), 1, "{unsent:?}");
    assert!(unsent[0].contains(r#""status":"READ""#), "{}", unsent[0]);
    assert!(unsent[0].contains("was never sent"), "{}", unsent[0]);
}

#[tokio::test]
async fn replay_timing_follows_the_recording_at_speed_1_and_is_immediate_at_speed_0() {
    let ca = LocalCa::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The agent greets 400 ms after the conversation is created.
    let original = record_tutorial(&ca, dir.path(), Duration::from_millis(400)).await;
    let recorded_gap = {
        let at = |want: &dyn Fn(&Value) -> bool| {
            original
                .frames
                .iter()
                .find(|f| f.json.as_ref().is_some_and(want))
                .unwrap()
                .ms
        };
        at(&agent_message) - at(&is_resp("1"))
    };
    assert!(
        recorded_gap >= 350,
        "the recording has the delay: {recorded_gap} ms"
    );

    // The real clock, not tokio::time::pause: a paused clock auto-advances whenever the
    // runtime waits, socket I/O in flight included, so the consumer's 5 s frame timeout fires
    // before the mock has even read the request (tried: the test then fails at once).

    for (speed, low, high) in [
        (
            Speed::REAL_TIME,
            recorded_gap as f64 * 0.8,
            recorded_gap as f64 * 1.5 + 100.0,
        ),
        (Speed::INSTANT, 0.0, 100.0),
    ] {
        let mock = replay_mock(&ca, original.clone(), speed).await;
        let mut c =
            Consumer::connect_to(&consumer_url(&mock.url()), Some(ca.client_config()), None).await;
        c.send(&client::request_conversation(1)).await;
        until(&mut c, is_resp("1")).await;
        let start = Instant::now();
        until(&mut c, agent_message).await;
        let gap = start.elapsed().as_secs_f64() * 1000.0;
        assert!(
            (low..=high).contains(&gap),
            "speed {speed:?}: greeting {gap:.0} ms after the response, expected {low:.0}..{high:.0} (recorded {recorded_gap} ms)"
        );
    }
}

#[tokio::test]
async fn an_unmatched_connection_is_refused_with_the_list_of_cassettes() {
    let ca = LocalCa::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let original = record_tutorial(&ca, dir.path(), Duration::ZERO).await;
    let mock = replay_mock(&ca, original, Speed::INSTANT).await;
    let other = format!("{}/ws_api/account/999/messaging/consumer?v=3", mock.url());
    let err = connect(&other, ca.client_config(), &[]).await.unwrap_err();
    let tokio_tungstenite::tungstenite::Error::Http(resp) = err else {
        panic!("expected a refusal, got {err:?}")
    };
    assert_eq!(resp.status(), 404);
    // The cassette is claimed once; a second connection is refused too.
    let (c, _) = connect(&consumer_url(&mock.url()), ca.client_config(), &[])
        .await
        .unwrap();
    drop(c);
    let err = connect(&consumer_url(&mock.url()), ca.client_config(), &[])
        .await
        .unwrap_err();
    assert!(matches!(err, tokio_tungstenite::tungstenite::Error::Http(ref r) if r.status() == 404));
}

#[tokio::test]
async fn real_wscat_replays_the_tutorial_against_wiretape_mock_replay() {
    let ca = LocalCa::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let original = record_tutorial(&ca, dir.path(), Duration::ZERO).await;
    let home = tempfile::tempdir().unwrap();
    let mock = Wiretape::start(
        home.path(),
        &[
            "mock",
            "--listen",
            "127.0.0.1:0",
            "--speed",
            "0",
            "--replay",
            original.path.to_str().unwrap(),
        ],
    );
    // What the recording says the client will need: the conversation and the agent's sequence.
    let server_json = |want: &dyn Fn(&Value) -> bool| {
        original
            .frames
            .iter()
            .filter_map(|f| f.json.clone())
            .find(|j| want(j))
            .unwrap()
    };
    let conversation = server_json(&is_resp("1"))["body"]["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let sequence = server_json(&agent_message)["body"]["changes"][0]["sequence"].clone();
    let lines = [
        r#"{"kind":"req","id":1,"type":"cm.ConsumerRequestConversation"}"#.to_owned(),
        format!(
            r#"{{"kind":"req","id":2,"type":"ms.PublishEvent","body":{{"dialogId":"{conversation}","event":{{"type":"ContentEvent","contentType":"text/plain","message":"hello"}}}}}}"#
        ),
        format!(
            r#"{{"kind":"req","id":3,"type":"ms.PublishEvent","body":{{"dialogId":"{conversation}","event":{{"type" : "AcceptStatusEvent" , "status" : "ACCEPT", "sequenceList" : [ {sequence} ]}}}}}}"#
        ),
        format!(
            r#"{{"kind":"req","id":4,"type":"ms.PublishEvent","body":{{"dialogId":"{conversation}","event":{{"type" : "AcceptStatusEvent" , "status" : "READ", "sequenceList" : [ {sequence} ]}}}}}}"#
        ),
    ];
    let url = consumer_url(&mock.url);
    let ca_file = home.path().join("ca.pem");
    // wscat sends the lines as soon as it is connected (-x), then waits a second for the
    // answers: no guessing how long its connection takes.
    let replies = tokio::task::spawn_blocking(move || wscat_run(&ca_file, &url, &lines))
        .await
        .unwrap();
    let (status, stderr) = mock.terminate();
    for id in ["1", "2", "3", "4"] {
        assert!(
            replies.iter().any(|r| r["reqId"] == id && r["code"] == 200),
            "no 200 for request {id}: {replies:?}\n{stderr}"
        );
    }
    assert!(replies.iter().any(agent_message), "{replies:?}");
    assert!(
        status.success(),
        "replay saw no deviation, so mock exits 0: {status:?}\n{stderr}"
    );
}

#[tokio::test]
async fn record_missing_forwards_an_unmatched_connection_upstream_and_records_it() {
    let ca = LocalCa::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let original = record_tutorial(&ca, dir.path(), Duration::ZERO).await;
    // The real endpoint, for connections the cassette does not cover.
    let live = MockServer::builder()
        .tls(TlsIdentity::from_ca(&ca).unwrap())
        .auto_agent(Duration::ZERO)
        .start()
        .await;
    let home = tempfile::tempdir().unwrap();
    let upstream_ca = home.path().join("upstream-ca.pem");
    std::fs::write(&upstream_ca, ca.cert_pem()).unwrap();
    let missing = home.path().join("new-episodes");
    let replay = Wiretape::start(
        home.path(),
        &[
            "mock",
            "--listen",
            "127.0.0.1:0",
            "--speed",
            "0",
            "--replay",
            original.path.to_str().unwrap(),
            "--record-missing",
            missing.to_str().unwrap(),
            "--upstream",
            &live.url(),
            "--upstream-ca",
            upstream_ca.to_str().unwrap(),
        ],
    );
    let wiretape_ca = LocalCa::load_or_create(home.path()).unwrap();
    let url = consumer_url(&replay.url);
    // The first connection takes the cassette; the second finds none left and is forwarded.
    let errors = tutorial_client(&url, &wiretape_ca, Variant::Faithful).await;
    assert!(errors.is_empty(), "{errors:?}");
    let errors = tutorial_client(&url, &wiretape_ca, Variant::OtherText).await;
    assert!(
        errors.is_empty(),
        "the live upstream accepts any text: {errors:?}"
    );
    let (status, stderr) = replay.terminate();
    assert!(status.success(), "{status:?}\n{stderr}");
    assert_eq!(
        live.report().summary.valid,
        2,
        "the forwarded receipts reached the live mock"
    );
    let recorded = cassettes(&missing);
    assert_eq!(recorded.len(), 1, "the forwarded connection was recorded");
    assert!(recorded[0].complete);
    let said: Vec<_> = recorded[0]
        .frames
        .iter()
        .filter_map(|f| {
            f.json
                .as_ref()?
                .pointer("/body/event/message")?
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert!(said.contains(&"hi there".to_owned()), "{said:?}");
}
