//! LivePerson's own agent SDK (`node-agent-sdk` 1.2.0, from npm) against the mock: the
//! project's bot (`tests/node/bot.js`, modelled on the SDK's agent-bot and greeting-bot
//! examples) logs in through CSDS and agentVep exactly as the SDK does and talks to a
//! consumer on the same mock (issue 11, item 5). The SDK's transforms throw on shapes they
//! do not expect, so each flow is also a check of the agent side's shapes.

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;
use wiretape_fixtures::pki::LocalCa;
use wiretape_mock_server::client::{self, Consumer};
use wiretape_mock_server::{MockServer, ReceiptStatus, TlsIdentity};

/// How long one bot event may take.
const EVENT_TIMEOUT: Duration = Duration::from_secs(15);

/// A mock with a manual built-in agent and the CA file the SDK is told to trust.
async fn mock(login: Option<(&str, &str)>) -> (MockServer, tempfile::TempDir) {
    let ca = LocalCa::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.cert_pem()).unwrap();
    let mut builder = MockServer::builder()
        .tls(TlsIdentity::from_ca(&ca).unwrap())
        .manual_agent();
    if let Some((user, pass)) = login {
        builder = builder.agent_login(user, pass);
    }
    (builder.start().await, dir)
}

/// The bot process, its stdout events on a channel; killed on drop.
struct Bot {
    child: Child,
    events: mpsc::UnboundedReceiver<Value>,
    /// Every event read so far, for failure messages.
    seen: Vec<Value>,
}

impl Bot {
    /// Runs `node tests/node/bot.js MODE 12345678 USER PASS 127.0.0.1:PORT`.
    fn start(
        server: &MockServer,
        ca_dir: &std::path::Path,
        mode: &str,
        login: (&str, &str),
    ) -> Self {
        let mut child = Command::new("node")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node/bot.js"))
            .args([mode, server.account(), login.0, login.1])
            .arg(server.address().to_string())
            .env("NODE_PATH", crate::harness::npm::require())
            .env("NODE_EXTRA_CA_CERTS", ca_dir.join("ca.pem"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs");
        let stdout = child.stdout.take().unwrap();
        let (tx, events) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Ok(event) = serde_json::from_str::<Value>(&line) {
                    if tx.send(event).is_err() {
                        break;
                    }
                }
            }
        });
        Self {
            child,
            events,
            seen: Vec::new(),
        }
    }

    /// The next event named `name` that satisfies `check`; an `error` event fails the test.
    async fn event(&mut self, name: &str, check: impl Fn(&Value) -> bool) -> Value {
        loop {
            let next = tokio::time::timeout(EVENT_TIMEOUT, self.events.recv()).await;
            let Ok(Some(event)) = next else {
                panic!("the bot sent no {name} event; it sent: {:#?}", self.seen);
            };
            self.seen.push(event.clone());
            if event["event"] == "error" && name != "error" {
                panic!(
                    "the SDK reported an error: {event}; before: {:#?}",
                    self.seen
                );
            }
            if event["event"] == name && check(&event) {
                return event;
            }
        }
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The agent-bot flow with the real SDK: login through CSDS, ONLINE, routing tasks, the ring
/// accepted, the greeting; the consumer's message echoed and READ; the consumer's ACCEPT and
/// READ of the greeting reach the bot as `ms.MessagingEventNotification`; the bot's READ
/// reaches the consumer.
#[tokio::test]
async fn an_sdk_echo_bot_takes_the_consumers_conversation() {
    let (server, dir) = mock(None).await;
    let mut bot = Bot::start(&server, dir.path(), "echo", ("a", "b"));
    bot.event("connected", |_| true).await;
    bot.event("routing", |e| e["ok"] == true).await;

    let mut consumer = Consumer::connect(&server).await;
    let conv = consumer.create_conversation().await;
    bot.event("ring", |e| e["conversationId"] == conv.as_str())
        .await;
    bot.event("accepted", |e| e["ok"] == true).await;
    bot.event("joined", |e| e["role"] == "ASSIGNED_AGENT").await;
    let profile = bot.event("profile", |_| true).await;
    assert_eq!(profile["ok"], true, "{profile}");

    let greeting = consumer
        .frame_matching("the bot's greeting", |f| {
            f["body"]["changes"][0]["event"]["message"] == "hello from the bot"
        })
        .await;
    let greeting_seq = greeting["body"]["changes"][0]["sequence"].as_u64().unwrap();
    for (id, status) in [(10, ReceiptStatus::Accept), (11, ReceiptStatus::Read)] {
        let resp = consumer
            .request(client::receipt(id, &conv, status, [greeting_seq]))
            .await;
        assert_eq!(resp["code"], 200, "{resp}");
    }
    for status in ["ACCEPT", "READ"] {
        bot.event("message", |e| {
            e["type"] == "AcceptStatusEvent" && e["status"] == status && e["mine"] == false
        })
        .await;
    }

    let text = json!({"type":"ContentEvent","contentType":"text/plain","message":"hi bot"});
    let sent = consumer.request(client::publish(12, &conv, text)).await;
    let my_seq = sent["body"]["sequence"].as_u64().unwrap();
    consumer
        .frame_matching("the echo", |f| {
            f["body"]["changes"][0]["event"]["message"] == "echo : hi bot"
        })
        .await;
    let read = consumer
        .frame_matching("the bot's READ", |f| {
            let event = &f["body"]["changes"][0]["event"];
            event["status"] == "READ" && event["sequenceList"] == json!([my_seq])
        })
        .await;
    assert_eq!(
        read["body"]["changes"][0]["originatorMetadata"]["role"],
        "ASSIGNED_AGENT"
    );
    assert!(
        !server.report().has_invalid_receipts(),
        "{}",
        server.report()
    );
}

/// The greeting-bot flow: AWAY (never rung), every open conversation, joins as MANAGER and
/// greets; the consumer sees the greeting.
#[tokio::test]
async fn an_sdk_greeting_bot_joins_as_manager_and_greets() {
    let (server, dir) = mock(None).await;
    let mut bot = Bot::start(&server, dir.path(), "greet", ("greeter", "pw"));
    bot.event("subscribed", |e| e["ok"] == true).await;
    let mut consumer = Consumer::connect(&server).await;
    let conv = consumer.create_conversation().await;
    bot.event("joined", |e| {
        e["convId"] == conv.as_str() && e["ok"] == true
    })
    .await;
    let welcome = consumer
        .frame_matching("the bot's welcome", |f| {
            f["body"]["changes"][0]["event"]["message"] == "welcome from bot"
        })
        .await;
    assert_eq!(
        welcome["body"]["changes"][0]["originatorMetadata"]["role"],
        "MANAGER"
    );
}

/// node-agent-sdk's `reconnect()` after a 4401 (`close 4401 after 1s times 1`), as its
/// greeting-bot example calls it on `closed`: the SDK logs in again (a new bearer), opens a new
/// socket, resubscribes, and the bot goes on greeting new conversations (issue 14).
#[tokio::test]
async fn the_sdk_reconnects_after_4401_logs_in_again_and_resubscribes() {
    let ca = LocalCa::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.cert_pem()).unwrap();
    let server = MockServer::builder()
        .tls(TlsIdentity::from_ca(&ca).unwrap())
        .manual_agent()
        .fault(wiretape_mock_server::Fault::parse("close 4401 after 1s times 1").unwrap())
        .start()
        .await;
    let mut bot = Bot::start(&server, dir.path(), "reconnect", ("greeter", "pw"));
    let first = bot.event("connected", |_| true).await;
    let opened = tokio::time::Instant::now();
    bot.event("subscribed", |e| e["ok"] == true).await;
    bot.event("closed", |e| e["code"] == 4401).await;
    let closed_after = opened.elapsed();
    assert!(
        closed_after >= Duration::from_millis(500) && closed_after < Duration::from_secs(3),
        "closed after {closed_after:?}"
    );
    let again = bot.event("connected", |_| true).await;
    assert_eq!(again["agentId"], first["agentId"]);
    assert_eq!(again["newToken"], true, "logged in again: {again}");
    bot.event("subscribed", |e| e["ok"] == true).await;
    // The new subscription works: a new conversation is greeted.
    let mut consumer = Consumer::connect(&server).await;
    let conv = consumer.create_conversation().await;
    bot.event("joined", |e| {
        e["convId"] == conv.as_str() && e["ok"] == true
    })
    .await;
    consumer
        .frame_matching("the bot's welcome", |f| {
            f["body"]["changes"][0]["event"]["message"] == "welcome from bot"
        })
        .await;
    assert_eq!(server.faults()[0].fired, 1);
}

/// The SDK refreshes its session (csrf and the login cookie) every 200 ms here: no error in a
/// second means the refreshes were accepted.
#[tokio::test]
async fn the_sdk_refreshes_its_session() {
    let (server, dir) = mock(None).await;
    let mut bot = Bot::start(&server, dir.path(), "refresh", ("a", "b"));
    bot.event("connected", |_| true).await;
    bot.event("refreshed", |e| e["ok"] == true).await;
}

/// A wrong password: the SDK reports its error, and the mock goes on serving.
#[tokio::test]
async fn a_wrong_password_is_the_sdks_error_and_nothing_crashes() {
    let (server, dir) = mock(Some(("bot", "right"))).await;
    let mut bot = Bot::start(&server, dir.path(), "login", ("bot", "wrong"));
    let error = bot.event("error", |_| true).await;
    assert!(
        !error.to_string().contains("right"),
        "the pinned password never shows: {error}"
    );
    let mut ok = Bot::start(&server, dir.path(), "login", ("bot", "right"));
    ok.event("connected", |_| true).await;
    Consumer::connect(&server).await.assert_alive().await;
}
