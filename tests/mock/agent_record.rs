//! Agent sockets through the recording proxy (issue 11, item 4): the login's bearer (in the
//! URL path) and secrets never reach the cassette, its snapshot or the mock's report; the
//! cassette replays for an agent with another bearer; two recordings of the same session give
//! the same snapshot.

use serde_json::{json, Value};
use wiretape_fixtures::pki::LocalCa;
use wiretape_fixtures::{transcript, Cassette};
use wiretape_mock_server::client::{AgentClient, Consumer};
use wiretape_mock_server::{MockServer, Replay, Speed, TlsIdentity};

use crate::harness::https;
use crate::harness::proxy::Proxied;

const PASSWORD: &str = "agent-password-s3cr3t";

/// Logs `bot` in on the mock (as node-agent-sdk does) and returns the login response.
async fn login(server: &MockServer) -> Value {
    let body = json!({"username": "bot", "password": PASSWORD}).to_string();
    let target = format!("/api/account/{}/login?v=1.3", server.account());
    let headers = ["Content-Type: application/json"];
    let resp = https::request(server, "POST", &target, &headers, body.as_bytes()).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.json()
}

/// One agent session recorded through the proxy: login, ONLINE, a consumer's conversation
/// rung and accepted, a greeting. Returns the cassette (with the directory that holds it), the
/// login's secrets and the mock's report.
async fn record_session() -> (Cassette, tempfile::TempDir, Vec<String>, Value) {
    let ca = LocalCa::generate().unwrap();
    let server = MockServer::builder()
        .tls(TlsIdentity::from_ca(&ca).unwrap())
        .manual_agent()
        .start()
        .await;
    let login = login(&server).await;
    let bearer = login["bearer"].as_str().unwrap().to_owned();
    let secrets = vec![
        bearer.clone(),
        login["csrf"].as_str().unwrap().to_owned(),
        PASSWORD.to_owned(),
    ];
    let proxied = Proxied::in_front_of(ca, &server.url()).await;
    let path = format!(
        "/ws_api/account/{}/messaging/brand/{bearer}?v=2.1",
        server.account()
    );
    let mut agent =
        AgentClient::connect_to(&proxied.url(&path), Some(proxied.ca.client_config())).await;
    agent.go_online().await;
    let mut consumer = Consumer::connect(&server).await;
    let conversation = consumer.create_conversation().await;
    assert_eq!(agent.accept_ring().await, conversation);
    agent
        .say(&conversation, "hello from the recorded bot")
        .await;
    consumer
        .frame_matching("the greeting", |f| {
            f["body"]["changes"][0]["event"]["message"] == "hello from the recorded bot"
        })
        .await;
    drop(agent);
    let (mut cassettes, dir) = proxied.finish().await;
    let report = serde_json::to_value(server.report()).unwrap();
    (cassettes.remove(0), dir, secrets, report)
}

#[tokio::test]
async fn an_agent_session_is_recorded_without_its_secrets_and_replays_for_another_bearer() {
    let (cassette, _dir, secrets, report) = record_session().await;
    assert_eq!(
        cassette.open.url,
        format!(
            "/ws_api/account/{}/messaging/brand/<redacted>?v=2.1",
            wiretape_mock_server::DEFAULT_ACCOUNT
        )
    );
    let file = std::fs::read_to_string(&cassette.path).unwrap();
    let snapshot = transcript(&cassette).to_string();
    for secret in &secrets {
        assert!(
            !file.contains(secret.as_str()),
            "the cassette keeps a secret"
        );
        assert!(
            !snapshot.contains(secret.as_str()),
            "the snapshot keeps a secret"
        );
        assert!(
            !report.to_string().contains(secret.as_str()),
            "the report keeps a secret"
        );
        let name = cassette.path.file_name().unwrap().to_string_lossy();
        assert!(!name.contains(secret.as_str()), "{name}");
    }

    // Replayed: an agent with another bearer gets the recorded answers.
    let url = cassette.open.url.replace("<redacted>", "another-bearer");
    let replay = MockServer::builder()
        .replay(Replay::new(vec![cassette]).speed(Speed::INSTANT))
        .start()
        .await;
    let mut agent =
        AgentClient::connect_to(&format!("{}{url}", replay.url()), replay.client_tls()).await;
    let state = agent
        .ok(
            ".ams.routing.SetAgentState",
            json!({"availability": "ONLINE"}),
        )
        .await;
    assert_eq!(state["code"], 200, "{state}");
}

#[tokio::test]
async fn two_recordings_of_the_same_agent_session_have_the_same_snapshot() {
    let (first, _, _, _) = record_session().await;
    let (second, _, _, _) = record_session().await;
    assert_eq!(
        transcript(&first),
        transcript(&second),
        "everything that differs between two runs is normalized"
    );
}
