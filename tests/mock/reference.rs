//! LivePerson's published samples, sent exactly as the pages print them (issue 10): the API
//! reference's request samples (most have no `kind`, the InitConnection one no `id` either),
//! the schema points where the mock used to differ (`contentType`, chat states, RichContent's
//! `message`, DELETE changes, user profiles), and the getting-started and conversation-metadata
//! tutorials end to end.
//!
//! Pages are cited by their developers.liveperson.com permalink; the samples are the pages'
//! `startval` sources in LivePersonInc/developer-center (see docs/protocol-decisions.md).
//! `__ID__` in a sample stands for the conversation id the page asks the reader to paste.

use std::time::Duration;

use serde_json::{json, Value};
use wiretape_mock_server::client::{self, Consumer};
use wiretape_mock_server::{MockServer, Rule, Strictness};

use crate::harness::json::{reference_init_connection, REFERENCE_JWT};

/// A sample as printed, with `__ID__` replaced by the conversation id.
fn sample(text: &str, conversation: &str) -> Value {
    serde_json::from_str(&text.replace("__ID__", conversation)).expect("the sample is JSON")
}

async fn manual() -> MockServer {
    MockServer::builder().manual_agent().start().await
}

#[tokio::test]
async fn the_reference_init_connection_sample_authenticates_a_header_less_client() {
    let server = manual().await;
    let mut c = Consumer::connect_with_token(&server, None).await;
    // messaging-window-api-api-reference-init-connection.html: neither `kind` nor `id`.
    c.send_text(&reference_init_connection()).await;
    let resp = c.response_to("0").await;
    assert_eq!(
        (resp["code"].clone(), resp["type"].clone()),
        (json!(200), json!("StringResponse")),
        "answered as the schema's default id \"0\": {resp}"
    );
    // Authenticated: a request that needs it is served.
    let created = c.request(client::request_conversation("after-init")).await;
    assert_eq!(created["code"], 200, "{created}");
    assert!(server.violations().is_empty(), "{:?}", server.violations());
}

/// The issue's check, with a real header-less client: Node's `ws` (what browsers' WebSocket
/// behaves like: no custom headers) sends the reference's InitConnection verbatim.
#[tokio::test]
async fn a_node_ws_client_authenticates_with_the_verbatim_init_connection() {
    let ca = wiretape_fixtures::pki::LocalCa::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.cert_pem()).unwrap();
    let server = MockServer::builder()
        .manual_agent()
        .tls(wiretape_mock_server::TlsIdentity::from_ca(&ca).unwrap())
        .start()
        .await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/node/header_less_init.js"
    );
    let (url, node_path) = (
        server.consumer_url(),
        crate::harness::npm::node_path_for_ws(),
    );
    // The client runs on a blocking thread; the server keeps serving on this runtime.
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(script)
            .arg(url)
            .arg(&ca_file)
            .arg(REFERENCE_JWT)
            .env("NODE_PATH", node_path)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let frames: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(frames[0]["reqId"], "0", "{frames:?}");
    assert_eq!(frames[0]["code"], 200, "{frames:?}");
    let created = server
        .latest_conversation()
        .expect("a conversation was created");
    assert_eq!(created.consumer_id, "1234567890", "the sample token's sub");
}

#[tokio::test]
async fn every_kind_less_reference_sample_is_answered_2xx() {
    let server = manual().await;
    let mut c = Consumer::connect(&server).await;
    // messaging-window-api-api-reference-new-conversation.html
    let created = c
        .request(sample(
            r#"{"type":"cm.ConsumerRequestConversation","id":"A3HC"}"#,
            "",
        ))
        .await;
    assert_eq!(created["code"], 200, "{created}");
    let conv = created["body"]["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    server.agent().join(&conv).unwrap();

    for (page, text) in [
        (
            "messaging-window-api-api-reference-subscribe-to-conversation-metadata.html \
             (its `type` key twice, as printed)",
            r#"{"type":"cqm.SubscribeExConversations","id":"33","body":{"minLastUpdatedTime":1478089679,"convState":["OPEN"]},"type":"cqm.SubscribeExConversations" }"#,
        ),
        (
            "messaging-window-api-api-reference-publishing-text-content.html",
            r#"{"type":"ms.PublishEvent","id":"A3FA","body":{"dialogId":"__ID__","event":{"type":"ContentEvent","contentType":"text/plain","message":"hi there"}}}"#,
        ),
        (
            "messaging-window-api-api-reference-subscribe-to-messaging-events.html",
            r#"{"type":"ms.SubscribeMessagingEvents","id":"2SA2","body":{"fromSeq":0,"dialogId":"__ID__"}}"#,
        ),
        (
            "messaging-window-api-api-reference-close-conversationttr.html",
            r#"{"id":"0","type":"cm.UpdateConversationField","body":{"conversationId":"__ID__","conversationField":[{"field":"TTRField","ttrType":"URGENT","value":300}]}}"#,
        ),
        (
            "messaging-window-api-api-reference-close-conversation.html (this one has `kind`)",
            r#"{"kind":"req","id":"0","type":"cm.UpdateConversationField","body":{"conversationId":"__ID__","conversationField":[{"field":"ConversationStateField","conversationState":"CLOSE"}]}}"#,
        ),
        (
            "messaging-window-api-api-reference-send-consumer-satisfaction-csat.html",
            r#"{"id":"0","type":"cm.UpdateConversationField","body":{"conversationId":"__ID__","conversationField":[{"field":"CSATRate","csatRate":1,"csatResolutionConfirmation":false,"status":"FILLED"}]}}"#,
        ),
    ] {
        let resp = c.request(sample(text, &conv)).await;
        let code = resp["code"].as_u64().unwrap_or(0);
        assert!((200..300).contains(&code), "{page}: {resp}");
    }
    // messaging-window-api-api-reference-unsubscribe-from-conversation-metadata.html, with the
    // subscription id the subscribe sample got.
    let subscription = server.violations();
    assert!(subscription.is_empty(), "no violation: {subscription:?}");
    let mut other = Consumer::connect(&server).await;
    let sub = other
        .request(sample(
            r#"{"type":"cqm.SubscribeExConversations","id":"33","body":{"minLastUpdatedTime":1478089679,"convState":["OPEN"]},"type":"cqm.SubscribeExConversations" }"#,
            "",
        ))
        .await;
    let id = sub["body"]["subscriptionId"].as_str().unwrap();
    let unsub = other
        .request(sample(
            &format!(
                r#"{{"id":"0","type":"cqm.UnsubscribeExConversations","body":{{"subscriptionId":"{id}"}}}}"#
            ),
            "",
        ))
        .await;
    assert_eq!(unsub["code"], 200, "{unsub}");
}

#[tokio::test]
async fn a_content_event_without_content_type_is_refused_unless_lenient() {
    // ms/TextValue.json requires contentType.
    let event = json!({"type": "ContentEvent", "message": "no type"});
    let server = manual().await;
    let mut c = Consumer::connect(&server).await;
    let conv = c.create_conversation().await;
    let refused = c.request(client::publish(1, &conv, event.clone())).await;
    assert_eq!(refused["code"], 400, "{refused}");
    assert_eq!(
        refused["body"],
        "Bad Request, contentType is missing; ms/TextValue.json requires it (text/plain for text) \
         (rule schema)"
    );

    let server = MockServer::builder()
        .manual_agent()
        .strictness(Strictness::Lenient)
        .start()
        .await;
    let mut c = Consumer::connect(&server).await;
    let conv = c.create_conversation().await;
    let stored = c.request(client::publish(1, &conv, event)).await;
    assert_eq!(stored["code"], 200, "{stored}");
    let echo = c.notification("ms.MessagingEventNotification").await;
    assert_eq!(
        echo["body"]["changes"][0]["event"]["contentType"], "text/plain",
        "notified as the schema requires: {echo}"
    );
    let warning = server
        .wait_for_violation_within(Rule::Schema, Duration::from_secs(5))
        .await
        .unwrap_or_else(|unmet| panic!("{unmet}"));
    assert!(!warning.finding.is_violation(), "a warning: {warning}");
    let report = server.report();
    assert_eq!((report.summary.violations, report.summary.warnings), (0, 1));
}

#[tokio::test]
async fn chat_states_follow_the_schema_and_the_captures() {
    let server = manual().await;
    let mut c = Consumer::connect(&server).await;
    let conv = c.create_conversation().await;
    // messaging-window-api-tutorials-post-conversation-survey.html captures: a chat state is
    // answered with sequence 0 (and notified without sequence or serverTimestamp, unlike
    // what the schema requires); ms/ChatStateEvent.json lists five states.
    for state in ["ACTIVE", "INACTIVE", "GONE", "COMPOSING", "PAUSE"] {
        let event = json!({"type": "ChatStateEvent", "chatState": state});
        let resp = c.request(client::publish(state, &conv, event)).await;
        assert_eq!(resp["body"], json!({"sequence": 0}), "{state}: {resp}");
    }
    // BACKGROUND is a state the service sends agents itself; a consumer sending it breaks the
    // schema (refused by default).
    let event = json!({"type": "ChatStateEvent", "chatState": "BACKGROUND"});
    let resp = c.request(client::publish("bg", &conv, event)).await;
    assert_eq!(resp["code"], 400, "{resp}");
    assert_eq!(
        resp["body"],
        "Bad Request, chatState BACKGROUND is not in ms/ChatStateEvent.json \
         (rule schema, field body.event.chatState)"
    );
}

#[tokio::test]
async fn rich_content_is_accepted_under_content_or_message() {
    let server = manual().await;
    let mut c = Consumer::connect(&server).await;
    let conv = c.create_conversation().await;
    let card = json!({"type": "vertical", "elements": [{"type": "text", "text": "hi"}]});
    // MWSDK and node-agent-sdk read `content`; ms/RichContent.json names it `message`.
    for (id, key) in [(1, "content"), (2, "message")] {
        let event = json!({"type": "RichContentEvent", key: card});
        let resp = c.request(client::publish(id, &conv, event)).await;
        assert_eq!(resp["code"], 200, "{key}: {resp}");
    }
}

#[tokio::test]
async fn a_set_user_profile_is_kept_and_read_back() {
    let server = manual().await;
    let mut c = Consumer::connect(&server).await;
    // The SetUserProfile sample of the Connector API (connectorapi/setUserProfile.json): the
    // only published one; the Messaging Window API reference has none.
    let set = c
        .request(json!({"kind":"req","id":"1,","type":"userprofile.SetUserProfile","body":{"authenticatedData":{"lp_sdes":[{"type":"ctmrinfo","info":{"socialId":"1234567890","ctype":"vip"}},{"type":"personal","personal":{"firstname":"John","lastname":"Doe","gender":"MALE"}}]}}}))
        .await;
    assert_eq!(set["code"], 200, "{set}");
    c.request(json!({"kind":"req","id":2,"type":"userprofile.SetUserProfile","body":{"firstName":"John","lastName":"Doe","userId":"someone-else"}}))
        .await;
    let got = c
        .request(json!({"kind":"req","id":3,"type":"userprofile.GetUserProfile"}))
        .await;
    let body = &got["body"];
    assert_eq!(
        (body["firstName"].clone(), body["lastName"].clone()),
        (json!("John"), json!("Doe"))
    );
    assert_eq!(
        body["authenticatedData"]["lp_sdes"][1]["personal"]["gender"],
        "MALE"
    );
    assert_eq!(body["role"], "CONSUMER");
    assert_ne!(
        body["userId"], "someone-else",
        "a consumer cannot change its own id"
    );
    // Another consumer does not see it.
    let mut other = Consumer::connect_with_token(&server, Some("another-consumer")).await;
    let theirs = other
        .request(json!({"kind":"req","id":1,"type":"userprofile.GetUserProfile"}))
        .await;
    assert_eq!(theirs["body"]["firstName"], "", "{theirs}");
}

#[tokio::test]
async fn a_delete_change_carries_conversation_details() {
    let server = manual().await;
    let mut c = Consumer::connect(&server).await;
    let sub = c
        .request(
            json!({"id":"s","type":"cqm.SubscribeExConversations","body":{"convState":["OPEN"]}}),
        )
        .await;
    assert_eq!(sub["code"], 200, "{sub}");
    let _initial = c.notification("cqm.ExConversationChangeNotification").await;
    let conv = c.create_conversation().await;
    let _upsert = c.notification("cqm.ExConversationChangeNotification").await;
    server.agent().close(&conv).unwrap();
    let deleted = c.notification("cqm.ExConversationChangeNotification").await;
    let change = &deleted["body"]["changes"][0];
    assert_eq!(change["type"], "DELETE", "{deleted}");
    // aam/subscribeExConversationsNotification.json: conversationDetails with participants,
    // state and startTs in every result.
    let details = &change["result"]["conversationDetails"];
    assert_eq!(change["result"]["convId"], conv.as_str());
    assert_eq!(details["state"], "CLOSE", "{deleted}");
    assert!(details["participants"].is_array(), "{deleted}");
    assert!(details["startTs"].is_u64(), "{deleted}");
}

/// messaging-window-api-getting-started.html, its frames as printed: create a conversation,
/// publish a message; then the agent closes the conversation.
#[tokio::test]
async fn the_getting_started_tutorial_runs_as_printed() {
    let server = MockServer::builder()
        .auto_agent(Duration::ZERO)
        .start()
        .await;
    server.expect_no_invalid_receipts();
    let mut c = Consumer::connect(&server).await;
    let created = c
        .request(json!({"kind":"req","id":1,"type":"cm.ConsumerRequestConversation"}))
        .await;
    assert_eq!(
        created["reqId"], "1",
        "a numeric id is answered as a string"
    );
    assert_eq!(created["type"], "cm.RequestConversationResponse");
    let conv = created["body"]["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let published = c
        .request(sample(
            r#"{"kind":"req","id":2,"type":"ms.PublishEvent","body":{"dialogId":"__ID__","event":{"type":"ContentEvent","contentType":"text/plain","message":"hi there"}}}"#,
            &conv,
        ))
        .await;
    assert!(published["body"]["sequence"].is_u64(), "{published}");
    server.agent().close(&conv).unwrap();
    let closed = server
        .conversations()
        .into_iter()
        .find(|s| s.conversation_id == conv)
        .unwrap();
    assert_eq!(closed.state, "CLOSE");
}

/// messaging-window-api-tutorials-conversation-metadata.html, its frames as printed: subscribe,
/// create a conversation (UPSERT, OPEN, the consumer), the agent accepts (UPSERT with the
/// ASSIGNED_AGENT), the agent closes (state CLOSE). The page's 2016 captures show an older
/// `participantsPId` map; the mock follows the current schema's `participants` array (and the
/// 2018 captures of the post-conversation-survey tutorial).
#[tokio::test]
async fn the_conversation_metadata_tutorial_runs_as_printed() {
    let server = manual().await;
    let mut c = Consumer::connect(&server).await;
    let sub = c
        .request(sample(
            r#"{"kind":"req","id":"33","body":{"minLastUpdatedTime":0,"convState":["OPEN","CLOSE"]},"type":"cqm.SubscribeExConversations"    }"#,
            "",
        ))
        .await;
    assert_eq!(sub["type"], "cqm.SubscribeExConversationsResponse", "{sub}");
    let _initial = c.notification("cqm.ExConversationChangeNotification").await;
    let roles = |note: &Value| -> Vec<String> {
        let details = &note["body"]["changes"][0]["result"]["conversationDetails"];
        let mut roles: Vec<String> = details["participants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["role"].as_str().unwrap().to_owned())
            .collect();
        roles.sort();
        roles
    };
    let created = c
        .request(json!({"kind":"req","id":1,"type":"cm.ConsumerRequestConversation"}))
        .await;
    let conv = created["body"]["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let upsert = c.notification("cqm.ExConversationChangeNotification").await;
    let change = &upsert["body"]["changes"][0];
    assert_eq!(
        (change["type"].clone(), change["result"]["convId"].clone()),
        (json!("UPSERT"), json!(conv))
    );
    assert_eq!(change["result"]["conversationDetails"]["state"], "OPEN");
    assert_eq!(roles(&upsert), vec!["CONSUMER"]);

    server.agent().join(&conv).unwrap();
    let accepted = c.notification("cqm.ExConversationChangeNotification").await;
    assert_eq!(roles(&accepted), vec!["ASSIGNED_AGENT", "CONSUMER"]);

    server.agent().close(&conv).unwrap();
    let closed = c.notification("cqm.ExConversationChangeNotification").await;
    let details = &closed["body"]["changes"][0]["result"]["conversationDetails"];
    assert_eq!(details["state"], "CLOSE", "{closed}");
}

/// Typing indicators, as the post-conversation-survey tutorial captures them
/// (messaging-window-api-tutorials-post-conversation-survey.html; the series has no typing
/// tutorial of its own): the consumer's chat state is answered with sequence 0, and the
/// agent's COMPOSING arrives with neither sequence nor serverTimestamp.
#[tokio::test]
async fn typing_indicators_look_as_captured() {
    let server = manual().await;
    let mut c = Consumer::connect(&server).await;
    let conv = c.create_conversation().await;
    server.agent().join(&conv).unwrap();
    let active = c
        .request(sample(
            r#"{"kind":"req","id":"2","type":"ms.PublishEvent","body":{"dialogId":"__ID__","conversationId":"__ID__","event":{"type":"ChatStateEvent","chatState":"ACTIVE"}}}"#,
            &conv,
        ))
        .await;
    assert_eq!(active["body"], json!({"sequence": 0}), "{active}");
    let _own = c.notification("ms.MessagingEventNotification").await;
    server.agent().chat_state(&conv, "COMPOSING").unwrap();
    let typing = c.notification("ms.MessagingEventNotification").await;
    let agent = server.agent().id().to_owned();
    assert_eq!(
        typing["body"]["changes"][0],
        json!({
            "originatorId": agent,
            "originatorMetadata": {"id": agent, "role": "ASSIGNED_AGENT"},
            "event": {"type": "ChatStateEvent", "chatState": "COMPOSING"},
            "conversationId": conv,
            "dialogId": conv,
        })
    );
}

/// Rate limits (messaging-window-api-api-reference-overview.html, "Rate-Limiting": "you can
/// expect to receive a 429 status code in an error response"): over the limit, every request
/// is still answered, with 429; the budget is per consumer, not per socket.
#[tokio::test]
async fn over_the_rate_limit_requests_are_answered_429_never_dropped() {
    let server = MockServer::builder()
        .manual_agent()
        .rate_limit(2)
        .start()
        .await;
    let mut first = Consumer::connect(&server).await;
    let mut second = Consumer::connect(&server).await; // the same consumer ("test")
    let clock = |id: usize| json!({"kind":"req","id":id,"type":"GetClock"});
    // A burst of 2 passes (a token comes back every 500 ms, far more than this takes).
    for id in 0..2 {
        first.send(&clock(id)).await;
    }
    for id in 0..2 {
        assert_eq!(first.response_to(id.to_string()).await["code"], 200, "{id}");
    }
    // At once, from the consumer's other socket.
    let throttled = second.request(clock(3)).await;
    assert_eq!(throttled["code"], 429, "{throttled}");
    assert_eq!(
        throttled["body"],
        "Too Many Requests, more than 2 requests per second; retry after at least 1 second \
         (rule rate-limit, field type)"
    );
    let record = server
        .wait_for_violation_within(Rule::RateLimit, Duration::from_secs(5))
        .await
        .unwrap_or_else(|unmet| panic!("{unmet}"));
    assert_eq!(record.response_code, Some(429));
    // Another consumer has its own budget.
    let mut other = Consumer::connect_with_token(&server, Some("another-consumer")).await;
    other.assert_alive().await;
}
