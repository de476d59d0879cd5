//! Faults on the mock: the project's consumer client recovers from a 4401, a delayed
//! notification comes after its response, a duplicated one twice; `wiretape mock --fault`.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;
use wiretape_fixtures::pki::LocalCa;
use wiretape_mock_server::client::{self, Consumer};
use wiretape_mock_server::{Fault, FaultStatus, MockServer};

use super::{changes_until, is_greeting, recover_from_4401, subscribe};
use crate::harness::json::fake_jwt;
use crate::harness::process::Wiretape;

fn text(message: &str) -> Value {
    json!({"type":"ContentEvent","contentType":"text/plain","message":message})
}

/// The sequences of `changes`, asserting none is there twice.
fn sequences_once(changes: &[Value]) -> BTreeSet<u64> {
    let mut seen = BTreeSet::new();
    for change in changes {
        let sequence = change["sequence"].as_u64().unwrap();
        assert!(
            seen.insert(sequence),
            "sequence {sequence} twice: {changes:?}"
        );
    }
    seen
}

#[tokio::test]
async fn the_consumer_client_reconnects_after_4401_resubscribes_from_0_and_gets_every_event_once() {
    let server = MockServer::builder()
        .auto_agent(Duration::ZERO)
        .fault(
            Fault::close(4401, "token expired")
                .after(Duration::from_secs(1))
                .times(1),
        )
        .start()
        .await;
    let opened = Instant::now();
    let mut first = Consumer::connect(&server).await;
    let conversation = first.create_conversation().await;
    subscribe(&mut first, &conversation, 0).await;
    let sent = first
        .request(client::publish("one", &conversation, text("one")))
        .await;
    assert_eq!(sent["code"], 200, "{sent}");
    let echoed = |c: &Value| c["event"]["message"] == "You said: one";
    let before = changes_until(&mut first, echoed).await;
    let (code, reason) = first.closed().await;
    let closed_after = opened.elapsed();
    assert_eq!((code, reason.as_str()), (4401, "token expired"));
    assert!(
        closed_after >= Duration::from_millis(950) && closed_after < Duration::from_secs(3),
        "closed after {closed_after:?}"
    );

    let mut again = Consumer::connect(&server).await;
    subscribe(&mut again, &conversation, 0).await;
    let history = again.notification("ms.MessagingEventNotification").await;
    let history = history["body"]["changes"].as_array().unwrap().clone();
    let got = sequences_once(&history);
    // Every event the first connection saw is in the history, once, with nothing missing.
    assert!(
        sequences_once(&before).is_subset(&got),
        "{before:?} / {history:?}"
    );
    let last = *got.iter().next_back().unwrap();
    assert_eq!(got, (0..=last).collect(), "{history:?}");
    assert!(history.iter().any(is_greeting) && history.iter().any(echoed));
    // Live events go on after the history, without repeating it.
    let sent = again
        .request(client::publish("two", &conversation, text("two")))
        .await;
    assert_eq!(sent["code"], 200, "{sent}");
    let live = changes_until(&mut again, |c| c["event"]["message"] == "You said: two").await;
    let live = sequences_once(&live);
    assert!(live.iter().all(|s| *s > last), "{live:?} after {last}");
    assert_eq!(
        server.faults(),
        [FaultStatus {
            rule: r#"close 4401 "token expired" after 1s times 1"#.into(),
            fired: 1
        }]
    );
    assert_eq!(server.report().faults.len(), 1);
}

#[tokio::test]
async fn a_delayed_notification_arrives_after_its_response_later_by_at_least_the_delay() {
    let server = MockServer::builder().manual_agent().start().await;
    server.inject(Fault::parse("delay 300ms on ms.MessagingEventNotification").unwrap());
    let mut c = Consumer::connect(&server).await;
    let conversation = c.create_conversation().await;
    subscribe(&mut c, &conversation, 0).await;
    let answered = Instant::now();
    let history = c.notification("ms.MessagingEventNotification").await;
    let held = answered.elapsed();
    assert_eq!(history["body"]["changes"], json!([]));
    assert!(
        held >= Duration::from_millis(290) && held < Duration::from_secs(2),
        "the history came {held:?} after the subscription's response"
    );

    let published = c
        .request(client::publish("p", &conversation, text("hello")))
        .await;
    let answered = Instant::now();
    let note = c.notification("ms.MessagingEventNotification").await;
    let held = answered.elapsed();
    assert_eq!(published["code"], 200, "{published}");
    assert_eq!(
        note["body"]["changes"][0]["sequence"], published["body"]["sequence"],
        "{note}"
    );
    assert!(
        held >= Duration::from_millis(290) && held < Duration::from_secs(2),
        "the notification came {held:?} after its response"
    );
    assert!(server.faults()[0].fired >= 2);
}

#[tokio::test]
async fn a_duplicated_notification_arrives_twice_with_the_same_sequence() {
    let server = MockServer::builder()
        .manual_agent()
        .fault(Fault::parse("duplicate on ms.MessagingEventNotification times 1").unwrap())
        .start()
        .await;
    let mut c = Consumer::connect(&server).await;
    let conversation = c.create_conversation().await;
    let agent = server.agent();
    agent.join(&conversation).unwrap();
    // The creator of a conversation gets its events without subscribing.
    let said = agent.say(&conversation, "once").unwrap();
    let first = c.notification("ms.MessagingEventNotification").await;
    let second = c.notification("ms.MessagingEventNotification").await;
    assert_eq!(first, second);
    assert_eq!(
        first["body"]["changes"][0]["sequence"], said.sequence,
        "{first}"
    );
    // `times 1`: the next one comes once.
    let next = agent.say(&conversation, "twice?").unwrap();
    let live = c.notification("ms.MessagingEventNotification").await;
    assert_eq!(
        live["body"]["changes"][0]["sequence"], next.sequence,
        "{live}"
    );
    c.assert_alive().await;
}

/// Done when: `wiretape mock --fault 'close 4401 after 2s times 1'` closes a consumer with 4401
/// after about 2 s; it reconnects with the same token, resubscribes from 0, sees the agent's
/// greeting again and its ACCEPT is answered 200. The exit code stays 0; the report lists the
/// fault.
#[tokio::test]
async fn wiretape_mock_fault_close_4401_after_2s_and_the_consumer_recovers() {
    let home = tempfile::tempdir().unwrap();
    let report = home.path().join("report.json");
    let mock = Wiretape::start(
        home.path(),
        &[
            "mock",
            "--listen",
            "127.0.0.1:0",
            "--agent-delay",
            "0",
            "--report",
            report.to_str().unwrap(),
            "--fault",
            "close 4401 after 2s times 1",
        ],
    );
    let url = format!(
        "{}/ws_api/account/12345678/messaging/consumer?v=3",
        mock.url
    );
    let tls = LocalCa::load_or_create(home.path())
        .unwrap()
        .client_config();
    let jwt = fake_jwt("c0000000-0000-4000-8000-000000000014");
    let closed_after = recover_from_4401(&url, tls, &jwt).await;
    assert!(
        closed_after >= Duration::from_millis(1900) && closed_after < Duration::from_secs(4),
        "closed after {closed_after:?}"
    );
    let (status, stderr) = mock.terminate();
    assert!(status.success(), "{status}: {stderr}");
    // The streamed report ends with its summary line, which carries the faults that fired.
    let text = std::fs::read_to_string(&report).unwrap();
    let report: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(
        report["faults"],
        json!([{"rule": "close 4401 after 2s times 1", "fired": 1}]),
        "{report}"
    );
}

#[test]
fn a_rule_that_does_not_parse_is_a_startup_error_quoting_it() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_wiretape"))
        .args([
            "mock",
            "--listen",
            "127.0.0.1:0",
            "--fault",
            "close 4401 after soon",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(r#"invalid fault rule "close 4401 after soon": expected a duration such as 300ms, 2s, 1.5s or 1m, found "soon""#),
        "{stderr}"
    );
}

/// The real wscat against `wiretape mock --fault 'refuse 503 times 1'`: the first try shows
/// `Unexpected server response: 503`, the next one connects and is answered.
#[tokio::test]
async fn wscat_is_refused_with_503_once_then_connects() {
    let home = tempfile::tempdir().unwrap();
    let mock = Wiretape::start(
        home.path(),
        &[
            "mock",
            "--listen",
            "127.0.0.1:0",
            "--fault",
            "refuse 503 times 1",
        ],
    );
    let url = format!(
        "{}/ws_api/account/12345678/messaging/consumer?v=3",
        mock.url
    );
    let ca = home.path().join("ca.pem");
    let clock = r#"{"kind":"req","id":"c","type":"GetClock"}"#;
    let auth = ["Authorization: jwt test"];
    let refused = crate::harness::wscat::exchange(&ca, &url, &auth, clock).await;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&refused.stdout),
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(said.contains("Unexpected server response: 503"), "{said}");
    let answered = crate::harness::wscat::exchange(&ca, &url, &auth, clock).await;
    let said = String::from_utf8_lossy(&answered.stdout);
    assert!(
        said.contains(r#""reqId":"c""#) && said.contains(r#""code":200"#),
        "{said}"
    );
    let (status, stderr) = mock.terminate();
    assert!(status.success(), "{status}: {stderr}");
}

/// The control API: `POST /mock/api/faults` adds a rule (400 quoting one that does not parse),
/// `GET` lists each with how often it fired, `DELETE` clears them; a 429 refusal carries
/// `Retry-After`.
#[tokio::test]
async fn the_control_api_adds_lists_and_clears_fault_rules() {
    use crate::harness::https;
    let server = MockServer::builder().manual_agent().start().await;
    let json = ["Content-Type: application/json"];
    let bad = https::request(
        &server,
        "POST",
        "/mock/api/faults",
        &json,
        br#"{"rule":"refuse 42"}"#,
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert_eq!(
        bad.json()["error"],
        r#"invalid fault rule "refuse 42": expected an HTTP error status (400-599, e.g. 503, 401, 429, 502), found "42""#
    );
    let added = https::request(
        &server,
        "POST",
        "/mock/api/faults",
        &json,
        br#"{"rule":"refuse 429 2s times 1"}"#,
    )
    .await;
    assert_eq!(added.status, 201, "{}", added.text());

    let refused = https::request(
        &server,
        "GET",
        &server.consumer_url().replace(&server.url(), ""),
        &[
            "Connection: Upgrade",
            "Upgrade: websocket",
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        ],
        b"",
    )
    .await;
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert_eq!(refused.header("retry-after"), Some("2"));
    Consumer::connect(&server).await.assert_alive().await;

    let listed = https::request(&server, "GET", "/mock/api/faults", &[], b"").await;
    assert_eq!(
        listed.json(),
        json!([{"rule": "refuse 429 2s times 1", "fired": 1}])
    );
    let cleared = https::request(&server, "DELETE", "/mock/api/faults", &[], b"").await;
    assert_eq!(cleared.json(), json!({"cleared": 1}));
    assert!(server.faults().is_empty());
}

/// A scenario file's `faults` apply from the start; `drop` cuts the connection without a
/// close frame, `stall` keeps it open but answers nothing.
#[tokio::test]
async fn scenario_faults_drop_without_a_close_and_stall_without_an_answer() {
    let scenario = wiretape_mock_server::Scenario::from_json(
        r#"{"description":"flaky","faults":["drop after 300ms times 1","stall on GetClock times 1"]}"#,
    )
    .unwrap();
    let server = MockServer::builder().scenario(scenario).start().await;
    let opened = Instant::now();
    let mut dropped = Consumer::connect(&server).await.into_socket();
    use futures_util::StreamExt as _;
    let end = tokio::time::timeout(Duration::from_secs(3), dropped.next())
        .await
        .unwrap();
    let after = opened.elapsed();
    assert!(
        !matches!(
            end,
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_)))
        ),
        "a close frame came: {end:?}"
    );
    assert!(
        after >= Duration::from_millis(290) && after < Duration::from_secs(2),
        "{after:?}"
    );

    // `stall on GetClock`: the GetClock that triggers it is answered (a triggering frame
    // passes first), then nothing more is; the socket stays open and takes frames.
    let mut stalled = Consumer::connect(&server).await;
    let answered = stalled
        .request(json!({"kind":"req","id":"s1","type":"GetClock"}))
        .await;
    assert_eq!(answered["code"], 200, "{answered}");
    stalled
        .send(&json!({"kind":"req","id":"s2","type":"GetClock"}))
        .await;
    let silent = tokio::time::timeout(Duration::from_millis(700), stalled.next_frame()).await;
    assert!(silent.is_err(), "the stalled mock answered: {silent:?}");
    stalled
        .send(&json!({"kind":"req","id":"s3","type":"GetClock"}))
        .await;
    let names: Vec<String> = server
        .faults()
        .into_iter()
        .map(|f| format!("{} {}", f.rule, f.fired))
        .collect();
    assert_eq!(
        names,
        ["drop after 300ms times 1 1", "stall on GetClock times 1 1"]
    );
}

/// Faults apply to replayed sessions too: the same socket loop serves them.
#[tokio::test]
async fn a_replayed_session_is_closed_by_a_fault_as_a_live_one() {
    let cassette = wiretape_fixtures::Cassette::open(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/cassettes/tutorial.jsonl"
    ))
    .unwrap();
    let url = cassette.open.url.clone();
    let server = MockServer::builder()
        .replay(wiretape_mock_server::Replay::new(vec![cassette]))
        .fault(
            Fault::parse("close 1011 \"replay fault\" on cm.RequestConversationResponse").unwrap(),
        )
        .start()
        .await;
    let mut c = Consumer::connect_to(
        &format!("{}{url}", server.url()),
        server.client_tls(),
        Some(client::DEFAULT_TOKEN),
    )
    .await;
    let created = c
        .request(json!({"kind":"req","id":1,"type":"cm.ConsumerRequestConversation"}))
        .await;
    // The replayed response is the trigger: it passes, then the close comes.
    assert_eq!(created["code"], 200, "{created}");
    assert_eq!(c.closed().await, (1011, "replay fault".to_owned()));
    assert_eq!(server.report().faults[0].fired, 1);
}
