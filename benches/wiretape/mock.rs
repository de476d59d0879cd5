//! The mock server's figures: time from process start to accepting connections, receipts
//! validated per second, conversations created per second, and replay of a large cassette.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use wiretape_fixtures::cassette::{self, Cassette, Frame, Kind, Line, Open, Sender, Writer};
use wiretape_fixtures::pki::LocalCa;
use wiretape_mock_server::client::{self, ConsumerSocket};
use wiretape_mock_server::{MockServer, Replay, Speed};

/// Median, over `rounds` starts of `wiretape mock`, of the time from spawning the process to
/// (a) its `listening on` line and (b) the first completed TLS WebSocket handshake, in ms.
pub(crate) async fn startup(home: &Path, rounds: usize) -> (f64, f64) {
    let ca = LocalCa::load_or_create(home).unwrap();
    let mut listening = Vec::new();
    let mut accepting = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        let (mut child, url) = crate::start_listening(
            Command::new(env!("CARGO_BIN_EXE_wiretape"))
                .args(["mock", "--listen", "127.0.0.1:0"])
                .env("WIRETAPE_HOME", home)
                .stderr(Stdio::null()),
        );
        listening.push(started.elapsed().as_secs_f64() * 1e3);
        let consumer = format!("{url}/ws_api/account/12345678/messaging/consumer?v=3");
        client::connect(&consumer, Some(ca.client_config()), Some("bench"))
            .await
            .unwrap();
        accepting.push(started.elapsed().as_secs_f64() * 1e3);
        let _ = child.kill();
        let _ = child.wait();
    }
    (median(&mut listening), median(&mut accepting))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

async fn next_json(ws: &mut ConsumerSocket) -> Value {
    let msg = ws.next().await.expect("open").expect("valid");
    serde_json::from_str(msg.to_text().unwrap()).unwrap()
}

async fn send(ws: &mut ConsumerSocket, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

/// What the receipts run measured.
pub(crate) struct Receipts {
    /// Receipts answered 200 (all of them: the run asserts every one was valid).
    pub validated: u64,
    /// Wall time of the receipt phase.
    pub seconds: f64,
    /// CPU time the mock process spent in that phase.
    pub mock_cpu: Duration,
    /// CPU time this process (the load clients) spent in that phase.
    pub client_cpu: Duration,
}

/// `clients` consumers each acknowledge `messages` agent messages with ACCEPT then READ, 64
/// receipts in flight per consumer, against `wiretape mock` running as its own process (so its
/// CPU time is its own). The agent is a scenario that says `messages` lines on creation.
/// With `report`, the mock streams every record to that file (`--report`).
pub(crate) async fn receipts(
    home: &Path,
    clients: usize,
    messages: u64,
    report: Option<&Path>,
) -> Receipts {
    let ca = LocalCa::load_or_create(home).unwrap();
    let scenario = home.join("bench-scenario.json");
    let says: Vec<Value> = (0..messages)
        .map(|_| json!({"do": "say", "text": "a message to acknowledge"}))
        .collect();
    let mut steps = vec![json!({"do": "join"})];
    steps.extend(says);
    let rules =
        json!({"description": "bench", "rules": [{"on": "conversation_created", "steps": steps}]});
    std::fs::write(&scenario, rules.to_string()).unwrap();
    let (mut child, url) = crate::start_listening(
        Command::new(env!("CARGO_BIN_EXE_wiretape"))
            .args(["mock", "--listen", "127.0.0.1:0", "--agent"])
            .arg(&scenario)
            .args(report.into_iter().flat_map(|r| [Path::new("--report"), r]))
            .env("WIRETAPE_HOME", home)
            .stderr(Stdio::null()),
    );
    let consumer = format!("{url}/ws_api/account/12345678/messaging/consumer?v=3");

    let mut sockets = Vec::new();
    for i in 0..clients {
        let token = format!("bench-consumer-{i}");
        let mut ws = client::connect(&consumer, Some(ca.client_config()), Some(&token))
            .await
            .unwrap();
        send(
            &mut ws,
            json!({"kind":"req","id":1,"type":"cm.ConsumerRequestConversation"}),
        )
        .await;
        let conversation = next_json(&mut ws).await["body"]["conversationId"]
            .as_str()
            .unwrap()
            .to_owned();
        sockets.push((ws, conversation));
    }
    // Every agent line has arrived before the clock starts.
    for (ws, _) in &mut sockets {
        let mut seen = 0;
        while seen < messages {
            let frame = next_json(ws).await;
            if frame["type"] == "ms.MessagingEventNotification" {
                seen += 1;
            }
        }
    }
    let cpu0 = crate::procstat::cpu(child.id()).unwrap_or_default();
    let own0 = crate::procstat::cpu(std::process::id()).unwrap_or_default();
    let start = Instant::now();
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|(ws, conversation)| tokio::spawn(acknowledge_all(ws, conversation, messages)))
        .collect();
    let mut validated = 0;
    for t in tasks {
        validated += t.await.unwrap();
    }
    let seconds = start.elapsed().as_secs_f64();
    let mock_cpu = crate::procstat::cpu(child.id())
        .unwrap_or_default()
        .saturating_sub(cpu0);
    let client_cpu = crate::procstat::cpu(std::process::id())
        .unwrap_or_default()
        .saturating_sub(own0);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        validated,
        clients as u64 * messages * 2,
        "every receipt was valid"
    );
    Receipts {
        validated,
        seconds,
        mock_cpu,
        client_cpu,
    }
}

/// ACCEPT then READ for each of the agent's lines (sequences 0..messages: joining takes no
/// sequence), 64 in flight. Returns the receipts answered 200.
async fn acknowledge_all(ws: ConsumerSocket, conversation: String, messages: u64) -> u64 {
    let (mut tx, mut rx) = ws.split();
    let total = messages * 2;
    let window = std::sync::Arc::new(tokio::sync::Semaphore::new(64));
    let writer = {
        let window = window.clone();
        tokio::spawn(async move {
            for i in 0..total {
                window.acquire().await.unwrap().forget();
                let status = if i < messages { "ACCEPT" } else { "READ" };
                let req = json!({"kind":"req","id":i + 2,"type":"ms.PublishEvent","body":{
                    "dialogId": conversation,
                    "event":{"type":"AcceptStatusEvent","status":status,"sequenceList":[i % messages]}}});
                tx.send(Message::text(req.to_string())).await.unwrap();
            }
            tx
        })
    };
    let mut ok = 0u64;
    let mut answered = 0u64;
    while answered < total {
        let msg = rx.next().await.unwrap().unwrap();
        // A cheap client, as a load generator should be: the mock writes responses as
        // `{"kind":"resp","reqId":..,"code":..`, so no full parse.
        let text = msg.to_text().unwrap();
        if text.starts_with(r#"{"kind":"resp""#) {
            answered += 1;
            if text.contains(r#","code":200,"#) {
                ok += 1;
            }
            window.add_permits(1);
        }
    }
    drop(writer.await);
    ok
}

/// `clients` consumers each create and close conversations for `window`. Returns the
/// conversations created per second.
pub(crate) async fn conversations(clients: usize, window: Duration) -> f64 {
    let server = MockServer::builder().manual_agent().start().await;
    let deadline = Instant::now() + window;
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let url = server.consumer_url();
            let tls = server.client_tls();
            tokio::spawn(async move {
                let token = format!("bench-conversations-{i}");
                let mut ws = client::connect(&url, tls, Some(&token)).await.unwrap();
                let mut created = 0u64;
                let mut id = 0u64;
                while Instant::now() < deadline {
                    id += 1;
                    send(&mut ws, json!({"kind":"req","id":id,"type":"cm.ConsumerRequestConversation"})).await;
                    let resp = next_json(&mut ws).await;
                    let conversation = resp["body"]["conversationId"].as_str().unwrap().to_owned();
                    created += 1;
                    id += 1;
                    send(&mut ws, json!({"kind":"req","id":id,"type":"cm.UpdateConversationField","body":{
                        "conversationId": conversation,
                        "conversationField": {"field":"ConversationStateField","conversationState":"CLOSE"}}}))
                    .await;
                    while next_json(&mut ws).await["kind"] != "resp" {}
                }
                created
            })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        created += t.await.unwrap();
    }
    created as f64 / start.elapsed().as_secs_f64()
}

/// Writes a cassette of `pairs` request/response pairs (2 × pairs frames).
fn large_cassette(dir: &Path, pairs: u64) -> Cassette {
    let open = Open::new(1, "/ws_api/account/12345678/messaging/consumer?v=3");
    let mut writer = Writer::create(dir, &open).unwrap();
    for i in 0..pairs {
        let req = json!({"kind":"req","id":i,"type":"GetClock"}).to_string();
        let resp =
            json!({"kind":"resp","reqId":i.to_string(),"code":200,"type":".GetClock$Response",
            "body":{"currentTime": 1_795_792_084_246u64 + i}})
            .to_string();
        for (from, text) in [(Sender::Client, req), (Sender::Server, resp)] {
            let frame = Frame::from_payload(i, from, Kind::Text, text.as_bytes());
            writer.write(&Line::Frame(frame)).unwrap();
        }
    }
    writer
        .write(&Line::End(cassette::End {
            ms: pairs,
            by: cassette::EndedBy::Client,
            code: Some(1000),
            reason: Some(String::new()),
            error: None,
        }))
        .unwrap();
    Cassette::open(writer.path()).unwrap()
}

/// Replays a cassette of `frames` frames at `--speed 0` to a pipelining client (64 in
/// flight). Returns (seconds to load the cassette, seconds to replay it).
pub(crate) async fn replay(frames: u64) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let pairs = frames / 2;
    large_cassette(dir.path(), pairs);
    let path = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let load = Instant::now();
    let cassette = Cassette::open(&path).unwrap();
    let loaded = load.elapsed().as_secs_f64();
    let server = MockServer::builder()
        .replay(Replay::new(vec![cassette]).speed(Speed::INSTANT))
        .start()
        .await;
    let ws = client::connect(&server.consumer_url(), server.client_tls(), Some("bench"))
        .await
        .unwrap();
    let (mut tx, mut rx) = ws.split();
    let window = std::sync::Arc::new(tokio::sync::Semaphore::new(64));
    let start = Instant::now();
    let writer = {
        let window = window.clone();
        tokio::spawn(async move {
            for i in 0..pairs {
                window.acquire().await.unwrap().forget();
                let req = json!({"kind":"req","id":i,"type":"GetClock"}).to_string();
                tx.send(Message::text(req)).await.unwrap();
            }
            tx
        })
    };
    for _ in 0..pairs {
        let msg = rx.next().await.unwrap().unwrap();
        let v: Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
        assert_eq!(v["code"], 200, "{v}");
        window.add_permits(1);
    }
    let elapsed = start.elapsed().as_secs_f64();
    drop(writer.await);
    assert!(
        !server.report().has_replay_deviations(),
        "{}",
        server.report()
    );
    (loaded, elapsed)
}
