//! The token lifecycle (issue 10, item 11): a JWT's `exp` at the upgrade, at InitConnection and
//! on an open socket (4401 for an authenticated consumer, 4407 for an unauthenticated
//! identity, as the protocol overview defines them), and step-up from an unauthenticated
//! identity to an authenticated consumer.

use serde_json::json;
use wiretape_mock_server::client::{self, Consumer};
use wiretape_mock_server::MockServer;

use crate::harness::json::fake_jwt_with;

/// An authenticated consumer's id (LivePerson's are 64 hex characters).
const CONSUMER: &str = "6f1c2b3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8";
/// An unauthenticated identity's id (the IdP's signup issues UUIDs).
const IDENTITY: &str = "592631a0-5fae-46a3-8964-1c4c3e720a4a";

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(sub: &str, exp: u64) -> String {
    fake_jwt_with(&json!({"sub": sub, "exp": exp}))
}

#[tokio::test]
async fn an_expired_token_is_refused_at_the_upgrade_with_401() {
    let server = MockServer::builder().manual_agent().start().await;
    let expired = token(CONSUMER, now_secs() - 60);
    let err = client::connect(&server.consumer_url(), server.client_tls(), Some(&expired))
        .await
        .expect_err("refused");
    assert!(format!("{err:?}").contains("401"), "{err:?}");
}

#[tokio::test]
async fn an_expired_token_in_init_connection_is_refused_and_closes_4401() {
    let server = MockServer::builder().manual_agent().start().await;
    let mut c = Consumer::connect_with_token(&server, None).await;
    let expired = token(CONSUMER, now_secs() - 60);
    let resp = c
        .request(
            json!({"kind":"req","id":"0","type":"InitConnection","headers":[
            {"type":".ams.headers.ConsumerAuthentication","jwt":expired}]}),
        )
        .await;
    assert_eq!(resp["code"], 401, "{resp}");
    assert!(
        resp["body"].as_str().unwrap().contains("the token expired"),
        "{resp}"
    );
    assert_eq!(c.closed().await.0, 4401);
}

#[tokio::test]
async fn a_token_that_expires_on_an_open_socket_closes_it_4401_or_4407() {
    let server = MockServer::builder().manual_agent().start().await;
    for (sub, code) in [(CONSUMER, 4401), (IDENTITY, 4407)] {
        // Two seconds, so the upgrade is never refused for a token about to expire.
        let soon = token(sub, now_secs() + 2);
        let mut c = Consumer::connect_with_token(&server, Some(&soon)).await;
        c.assert_alive().await;
        let (closed, reason) = c.closed().await;
        assert_eq!(closed, code, "{sub}: {reason}");
    }
}

#[tokio::test]
async fn step_up_gives_the_unauthenticated_conversation_to_the_consumer() {
    let server = MockServer::builder().manual_agent().start().await;
    let far = now_secs() + 3600;
    let mut c = Consumer::connect_with_token(&server, Some(&token(IDENTITY, far))).await;
    c.request(json!({"kind":"req","id":"m","type":"cqm.SubscribeExConversations","body":{"convState":["OPEN"]}}))
        .await;
    let _initial = c.notification("cqm.ExConversationChangeNotification").await;
    let conv = c.create_conversation().await;
    let _created = c.notification("cqm.ExConversationChangeNotification").await;
    server.agent().join(&conv).unwrap();
    let _joined = c.notification("cqm.ExConversationChangeNotification").await;
    server.agent().say(&conv, "please log in").unwrap();

    // The consumer logs in: the same socket authenticates with the consumer's token.
    let init = c
        .request(
            json!({"kind":"req","id":"up","type":"InitConnection","headers":[
            {"type":".ams.headers.ConsumerAuthentication","jwt":token(CONSUMER, far)}]}),
        )
        .await;
    assert_eq!(init["code"], 200, "{init}");
    let upsert = c.notification("cqm.ExConversationChangeNotification").await;
    let result = &upsert["body"]["changes"][0]["result"];
    assert_eq!(result["convId"], conv.as_str(), "the same conversation");
    let consumers: Vec<_> = result["conversationDetails"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["role"] == "CONSUMER")
        .map(|p| p["id"].clone())
        .collect();
    assert_eq!(consumers, vec![json!(CONSUMER)], "{upsert}");

    // The history stays, and the consumer goes on in it.
    let snapshot = server.latest_conversation().unwrap();
    assert_eq!(snapshot.consumer_id, CONSUMER);
    assert_eq!(snapshot.agent_messages().len(), 1);
    let text = json!({"type":"ContentEvent","contentType":"text/plain","message":"logged in"});
    let sent = c.request(client::publish("after", &conv, text)).await;
    assert_eq!(sent["code"], 200, "{sent}");

    // An authenticated consumer cannot become another one.
    let other = "0".repeat(64);
    let again = c
        .request(
            json!({"kind":"req","id":"again","type":"InitConnection","headers":[
            {"type":".ams.headers.ConsumerAuthentication","jwt":token(&other, far)}]}),
        )
        .await;
    assert_eq!(again["code"], 401, "{again}");
}
