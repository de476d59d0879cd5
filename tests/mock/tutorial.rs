//! The read/accept receipts tutorial (seed-tutorial.txt), step by step, over TLS with a real
//! client, asserting the exact frames with insta snapshots (ids and timestamps redacted).

use std::time::Duration;

use serde_json::json;
use wiretape_mock_server::client::{self, Consumer};
use wiretape_mock_server::{ExpectedReceipt, MockServer, ReceiptStatus, Scenario, Verdict};

use wiretape_fixtures::Normalizer;

/// Snapshots sit next to the other integration snapshots (tests/snapshots/*mock*). Ids and
/// times are normalized by the transcripts' own [`Normalizer`] (`<uuid:N>`, `<timestamp>`),
/// as in every cassette snapshot.
fn settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots");
    settings
}

#[tokio::test]
async fn tutorial_over_tls_step_by_step() {
    let server = MockServer::builder()
        .auto_agent(Duration::ZERO)
        .start()
        .await;
    let mut consumer = Consumer::connect(&server).await;

    // Step 1: create a conversation.
    let created = consumer.request(client::request_conversation(1)).await;
    let conv = created["body"]["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut n = Normalizer::new();
    let _guard = settings().bind_to_scope();
    insta::assert_json_snapshot!("mock_tutorial_1_create", n.value(&created));

    // Step 2: the agent's message arrives on this socket without subscribing; MAIN dialog
    // id == conversation id.
    let message = consumer.notification("ms.MessagingEventNotification").await;
    let change = &message["body"]["changes"][0];
    assert_eq!(change["dialogId"], conv.as_str());
    let sequence = change["sequence"].as_u64().unwrap();
    insta::assert_json_snapshot!("mock_tutorial_2_agent_message", n.value(&message));

    // Step 3: ACCEPT, then READ, for that sequence; each is stored (next sequence) and echoed.
    let accept = consumer
        .request(client::receipt(2, &conv, ReceiptStatus::Accept, [sequence]))
        .await;
    let accept_echo = consumer.notification("ms.MessagingEventNotification").await;
    let read = consumer
        .request(client::receipt(3, &conv, ReceiptStatus::Read, [sequence]))
        .await;
    let read_echo = consumer.notification("ms.MessagingEventNotification").await;
    insta::assert_json_snapshot!(
        "mock_tutorial_3_receipts",
        n.value(&json!([accept, accept_echo, read, read_echo]))
    );

    // A receipt for a sequence that does not exist: 400 naming the rule, field and value.
    let invalid = consumer
        .request(client::receipt(4, &conv, ReceiptStatus::Read, [99]))
        .await;
    insta::assert_json_snapshot!("mock_tutorial_4_invalid_receipt", n.value(&invalid));

    // The records, through the library API.
    server
        .wait_for_receipt_within(&ExpectedReceipt::read(sequence), Duration::from_secs(5))
        .await
        .unwrap_or_else(|unmet| panic!("{unmet}"));
    let records = server.receipts();
    assert_eq!(
        records.iter().map(|r| r.verdict).collect::<Vec<_>>(),
        vec![Verdict::Valid, Verdict::Valid, Verdict::Invalid]
    );
    let report = server.report();
    assert!(report.has_invalid_receipts());
    insta::assert_json_snapshot!(
        "mock_tutorial_5_report",
        n.value(&serde_json::to_value(&report).unwrap())
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_header_less_client_authenticates_with_init_connection() {
    let server = MockServer::builder().manual_agent().start().await;
    let mut consumer = Consumer::connect_with_token(&server, None).await;
    let refused = consumer.request(client::request_conversation(1)).await;
    assert_eq!(refused["code"], 401, "{refused}");
    let init = consumer
        .request(
            json!({"kind":"req","id":"0","type":"InitConnection","headers":[
            {"type":".ams.headers.ClientProperties","deviceFamily":"DESKTOP","os":"WINDOWS"},
            {"type":".ams.headers.ConsumerAuthentication","jwt":"test"}]}),
        )
        .await;
    let _guard = settings().bind_to_scope();
    insta::assert_json_snapshot!("mock_init_connection", init);
    let created = consumer.request(client::request_conversation(2)).await;
    assert_eq!(created["code"], 200, "{created}");
    // The same token on the header path is the same consumer: it sees the conversation.
    let mut again = Consumer::connect(&server).await;
    let conv = created["body"]["conversationId"].as_str().unwrap();
    let sub = again
        .request(json!({"kind":"req","id":1,"type":"ms.SubscribeMessagingEvents","body":{"dialogId":conv,"fromSeq":0}}))
        .await;
    assert_eq!(sub["code"], 200, "{sub}");
}

#[tokio::test]
async fn metadata_subscription_sees_the_agent_join_and_the_close() {
    let server = MockServer::builder().manual_agent().start().await;
    let mut consumer = Consumer::connect(&server).await;
    let sub = consumer
        .request(json!({"kind":"req","id":1,"type":"cqm.SubscribeExConversations","body":{"convState":["OPEN","CLOSE"]}}))
        .await;
    let initial = consumer
        .notification("cqm.ExConversationChangeNotification")
        .await;
    assert_eq!(initial["body"]["changes"], json!([]));

    let conv = consumer.create_conversation().await;
    let _created_upsert = consumer
        .notification("cqm.ExConversationChangeNotification")
        .await;
    server.agent().join(&conv).unwrap();
    let joined = consumer
        .notification("cqm.ExConversationChangeNotification")
        .await;
    let closed = consumer
        .request(json!({"kind":"req","id":3,"type":"cm.UpdateConversationField","body":{
            "conversationId":conv,"conversationField":{"field":"ConversationStateField","conversationState":"CLOSE"}}}))
        .await;
    let close_upsert = consumer
        .notification("cqm.ExConversationChangeNotification")
        .await;
    let again = consumer
        .request(json!({"kind":"req","id":4,"type":"cm.UpdateConversationField","body":{
            "conversationId":conv,"conversationField":[{"field":"ConversationStateField","conversationState":"CLOSE"}]}}))
        .await;
    let _guard = settings().bind_to_scope();
    insta::assert_json_snapshot!(
        "mock_metadata_join_and_close",
        Normalizer::new().value(&json!([sub, joined, closed, close_upsert, again]))
    );
}

#[tokio::test]
async fn a_reconnecting_client_gets_history_from_seq() {
    let server = MockServer::builder().manual_agent().start().await;
    let mut first = Consumer::connect(&server).await;
    let conv = first.create_conversation().await;
    let agent = server.agent();
    agent.join(&conv).unwrap();
    for text in ["one", "two", "three"] {
        agent.say(&conv, text).unwrap();
    }
    drop(first);

    let mut second = Consumer::connect(&server).await;
    let sub = second
        .request(json!({"kind":"req","id":"s","type":"ms.SubscribeMessagingEvents","body":{"dialogId":conv,"fromSeq":1}}))
        .await;
    assert_eq!(sub["type"], "GenericSubscribeResponse");
    let history = second.notification("ms.MessagingEventNotification").await;
    let sequences: Vec<u64> = history["body"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(sequences, vec![1, 2], "fromSeq is inclusive");
    // Then live events.
    let live = agent.say(&conv, "four").unwrap();
    let next = second.notification("ms.MessagingEventNotification").await;
    assert_eq!(next["body"]["changes"][0]["sequence"], live.sequence);
}

#[tokio::test]
async fn a_scenario_scripts_the_agent() {
    let scenario = Scenario::from_json(
        r#"{"rules":[
          {"on":"conversation_created","steps":[{"do":"join"},{"do":"say","text":"hello"}]},
          {"on":"consumer_message","contains":"BYE","steps":[
             {"do":"receipt","status":"READ"},{"after_ms":10,"do":"close"}]},
          {"on":"consumer_message","steps":[{"do":"say","text":"echo: {message}"}]}]}"#,
    )
    .unwrap();
    let server = MockServer::builder().scenario(scenario).start().await;
    let mut consumer = Consumer::connect(&server).await;
    let conv = consumer.create_conversation().await;
    let agent_text = |note: &serde_json::Value| {
        note["body"]["changes"][0]["event"]["message"]
            .as_str()
            .map(str::to_owned)
    };
    let hello = consumer.notification("ms.MessagingEventNotification").await;
    assert_eq!(agent_text(&hello).as_deref(), Some("hello"));
    let text = json!({"type":"ContentEvent","contentType":"text/plain","message":"ping"});
    consumer.request(client::publish(2, &conv, text)).await;
    let _own_echo = consumer.notification("ms.MessagingEventNotification").await;
    let echo = consumer.notification("ms.MessagingEventNotification").await;
    assert_eq!(agent_text(&echo).as_deref(), Some("echo: ping"));
    let bye = json!({"type":"ContentEvent","contentType":"text/plain","message":"ok bye"});
    consumer.request(client::publish(3, &conv, bye)).await;
    let closed = tokio::time::timeout(
        Duration::from_secs(5),
        server.wait_for_conversation(|c| (c.state == "CLOSE").then(|| c.events.clone())),
    )
    .await
    .expect("the scenario closes the conversation");
    let last = &closed.last().unwrap().event;
    assert_eq!(
        last["status"], "READ",
        "READ of both messages before closing: {last}"
    );
    assert_eq!(last["sequenceList"], json!([1, 3]));
}
