//! The agent side (issue 11, items 2–3): node-agent-sdk's examples, in Rust, against the one
//! conversation model. `AgentClient` sends what the SDK sends (agent-api.md §2 and
//! agent-sdk-requests.jsonl); a `Consumer` is the other side of the same conversations.

use std::time::Duration;

use serde_json::{json, Value};
use wiretape_mock_server::client::{self, AgentClient, Consumer};
use wiretape_mock_server::{Agent, MockServer, ReceiptStatus, Role, Rule, Side, Timeouts};

/// The next metadata notification (agent side) whose first change satisfies `matches`.
async fn ex_change(agent: &mut AgentClient, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
    let frame = agent
        .frame_matching(what, |f| {
            f["type"] == ".ams.aam.ExConversationChangeNotification"
                && f["body"]["changes"].get(0).is_some_and(&matches)
        })
        .await;
    frame["body"]["changes"][0].clone()
}

/// The next event of `event_type` an agent published, as the consumer sees it (the consumer
/// sees its own events too).
async fn consumer_event(consumer: &mut Consumer, event_type: &str) -> Value {
    let frame = consumer
        .frame_matching(event_type, |f| {
            let change = &f["body"]["changes"][0];
            f["type"] == "ms.MessagingEventNotification"
                && change["event"]["type"] == event_type
                && change["originatorMetadata"]["role"] != "CONSUMER"
        })
        .await;
    frame["body"]["changes"][0].clone()
}

#[tokio::test]
async fn agent_bot_takes_the_ring_greets_echoes_and_sees_the_consumers_receipts() {
    let server = MockServer::builder().manual_agent().start().await;
    let mut bot = AgentClient::connect(&server, "agent-bot-bearer").await;
    bot.go_online().await;
    let mut consumer = Consumer::connect(&server).await;
    let profile = json!({"kind":"req","id":"p","type":"userprofile.SetUserProfile",
        "body":{"firstName":"Con","lastName":"Sumer"}});
    assert_eq!(consumer.request(profile).await["code"], 200);
    let conversation = consumer.create_conversation().await;

    // The ring, accepted: the bot is the ASSIGNED_AGENT, in the shapes the SDK requires.
    assert_eq!(bot.accept_ring().await, conversation);
    let upsert = ex_change(&mut bot, "the UPSERT naming the bot", |c| {
        c["result"]["conversationDetails"]["participantsPId"]["ASSIGNED_AGENT"].is_array()
    })
    .await;
    let details = &upsert["result"]["conversationDetails"];
    let bot_pid = details["participantsPId"]["ASSIGNED_AGENT"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let bot_old = details["participants"]["ASSIGNED_AGENT"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let consumer_id = details["participantsPId"]["CONSUMER"][0]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        bot_old.starts_with(&format!("{}.", server.account())),
        "{bot_old}"
    );
    assert_eq!(details["participants"]["CONSUMER"][0], consumer_id.as_str());
    let shown = details["dialogs"][0]["participantsDetails"]
        .as_array()
        .unwrap();
    assert!(shown
        .iter()
        .any(|p| p["role"] == "ASSIGNED_AGENT" && p["state"] == "ACTIVE"));

    // "Just joined to conversation with {profile}".
    let profile = bot
        .ok(".ams.userprofile.GetUserProfile", json!(consumer_id))
        .await;
    assert_eq!(profile["type"], ".ams.userprofile.GetUserProfile$Response");
    assert_eq!(profile["body"]["firstName"], "Con");
    let greeting = bot
        .say(&conversation, "Just joined to conversation with Con")
        .await;
    let seen = consumer_event(&mut consumer, "ContentEvent").await;
    assert_eq!(seen["sequence"], greeting);
    assert_eq!(
        seen["originatorMetadata"],
        json!({"id": bot_pid, "role": "ASSIGNED_AGENT"})
    );

    // The consumer's message reaches the bot, with both ids.
    let hello = client::publish(5, &conversation, client::text_message("hi"));
    let hello_seq = consumer.request(hello).await["body"]["sequence"]
        .as_u64()
        .unwrap();
    // Its own greeting came first: the bot sees every event, as node-agent-sdk's bots do.
    assert_eq!(bot.event("ContentEvent").await["sequence"], greeting);
    let message = bot.event("ContentEvent").await;
    assert_eq!(message["sequence"], hello_seq);
    assert_eq!(message["originatorPId"], consumer_id.as_str());
    assert_eq!(message["originatorMetadata"]["role"], "CONSUMER");
    assert_eq!(message["dialogId"], conversation.as_str());
    assert!(message["serverTimestamp"].is_u64());

    // The consumer's ACCEPT and READ of the greeting: the Agent Workspace's "V"s.
    for (id, status) in [(6, ReceiptStatus::Accept), (7, ReceiptStatus::Read)] {
        let receipt = client::receipt(id, &conversation, status, [greeting]);
        assert_eq!(consumer.request(receipt).await["code"], 200);
        let seen = bot.event("AcceptStatusEvent").await;
        assert_eq!(seen["event"]["status"], status.as_str());
        assert_eq!(seen["event"]["sequenceList"], json!([greeting]));
        assert_eq!(seen["originatorPId"], consumer_id.as_str());
    }

    // History, from sequence 0 inclusive, as agent-bot asks for it.
    let history = bot
        .ok(
            ".ams.ms.QueryMessages",
            json!({"dialogId": conversation, "newerThanSequence": 0}),
        )
        .await;
    assert_eq!(history["type"], ".ams.ms.QueryMessages$Response");
    let events = history["body"].as_array().unwrap();
    assert_eq!(events[0]["sequence"], 0);
    assert_eq!(events.len(), 4, "greeting, hi, ACCEPT, READ: {history}");
    assert_eq!(events[0]["originatorId"], bot_old.as_str());

    // The bot READs and echoes; its READ reaches the consumer and is recorded as the agent's.
    let read = bot
        .receipt(&conversation, ReceiptStatus::Read, &[hello_seq])
        .await;
    assert_eq!(read["code"], 200, "{read}");
    let seen = consumer_event(&mut consumer, "AcceptStatusEvent").await;
    assert_eq!(seen["originatorId"], bot_pid.as_str());
    assert_eq!(seen["event"]["sequenceList"], json!([hello_seq]));
    bot.say(&conversation, "echo : hi").await;
    let echo = consumer_event(&mut consumer, "ContentEvent").await;
    assert_eq!(echo["event"]["message"], "echo : hi");
    let records = server.receipts();
    let agent_record = records.iter().find(|r| r.side == Side::Agent).unwrap();
    assert_eq!(agent_record.agent_id.as_deref(), Some(bot_pid.as_str()));
    assert!(!agent_record.is_invalid());

    // "#close": the subscription (convState OPEN) gets a DELETE with the whole result.
    let close = json!({"conversationId": conversation,
        "conversationField": [{"field": "ConversationStateField", "conversationState": "CLOSE"}]});
    bot.ok(".ams.cm.UpdateConversationField", close).await;
    let delete = ex_change(&mut bot, "the DELETE", |c| c["type"] == "DELETE").await;
    assert_eq!(delete["result"]["convId"], conversation.as_str());
    assert_eq!(delete["result"]["conversationDetails"]["state"], "CLOSE");
    assert!(delete["result"]["conversationDetails"]["participantsPId"].is_object());
}

#[tokio::test]
async fn greeting_bot_stays_away_joins_as_manager_and_greets() {
    // The built-in agent holds the conversation; the greeter only watches and helps.
    let server = MockServer::builder()
        .auto_agent(Duration::ZERO)
        .start()
        .await;
    let mut greeter = AgentClient::connect(&server, "greeting-bot-bearer").await;
    greeter
        .ok(
            ".ams.routing.SetAgentState",
            json!({"availability": "AWAY"}),
        )
        .await;
    greeter
        .ok(
            ".ams.aam.SubscribeExConversations",
            json!({"convState": ["OPEN"]}),
        )
        .await;
    let mut consumer = Consumer::connect(&server).await;
    let conversation = consumer.create_conversation().await;

    ex_change(&mut greeter, "the new conversation", |c| {
        c["result"]["convId"] == conversation.as_str()
    })
    .await;
    let join = json!({"conversationId": conversation, "conversationField":
        [{"field": "ParticipantsChange", "type": "ADD", "role": "MANAGER"}]});
    greeter.ok(".ams.cm.UpdateConversationField", join).await;
    let joined = ex_change(&mut greeter, "the UPSERT with the MANAGER", |c| {
        c["result"]["conversationDetails"]["participantsPId"]["MANAGER"].is_array()
    })
    .await;
    let manager = joined["result"]["conversationDetails"]["participantsPId"]["MANAGER"][0].clone();
    greeter.say(&conversation, "welcome from bot").await;
    let welcome = consumer
        .frame_matching("the greeter's welcome", |f| {
            f["body"]["changes"][0]["event"]["message"] == "welcome from bot"
        })
        .await;
    let change = &welcome["body"]["changes"][0];
    assert_eq!(
        change["originatorMetadata"],
        json!({"id": manager, "role": "MANAGER"})
    );
    // An AWAY agent is never rung: the built-in agent (auto) took the conversation (in its own
    // task, which may come after the greeter's welcome: wait for it).
    let agent = Agent::id_on(server.account());
    let took = server.wait_for_conversation(|c| {
        c.participants
            .iter()
            .any(|p| p.id == agent && p.role == Role::AssignedAgent)
            .then_some(())
    });
    tokio::time::timeout(Duration::from_secs(10), took)
        .await
        .expect("the built-in agent took the conversation");
}

#[tokio::test]
async fn an_unanswered_ring_expires_and_the_conversation_rings_again() {
    let timeouts = Timeouts {
        ring: Duration::from_millis(300),
        ..Timeouts::default()
    };
    let server = MockServer::builder()
        .manual_agent()
        .timeouts(timeouts)
        .start()
        .await;
    let mut agent = AgentClient::connect(&server, "slow-agent").await;
    agent.go_online().await;
    let mut consumer = Consumer::connect(&server).await;
    let conversation = consumer.create_conversation().await;

    let ring_of = |frame: &Value| frame["body"]["changes"][0]["result"].clone();
    let first = ring_of(
        &agent
            .notification(".ams.routing.RoutingTaskNotification")
            .await,
    );
    let details = &first["ringsDetails"][0];
    assert_eq!(first["conversationId"], conversation.as_str());
    assert_eq!(details["ringState"], "WAITING");
    assert!(details["ringExpiration"].as_u64().unwrap() > 0);
    // Not answered: the ring expires (300 ms) and a new one arrives.
    let second = ring_of(
        &agent
            .notification(".ams.routing.RoutingTaskNotification")
            .await,
    );
    let ring_id = second["ringsDetails"][0]["ringId"].clone();
    assert_ne!(ring_id, details["ringId"]);

    let late = json!({"ringId": details["ringId"], "ringState": "ACCEPTED"});
    let refused = agent.call(".ams.routing.UpdateRingState", late).await;
    assert_eq!(refused["code"], 400, "{refused}");
    assert!(
        refused["body"]
            .as_str()
            .unwrap()
            .contains("is not a waiting ring"),
        "{refused}"
    );
    let accepted = agent
        .ok(
            ".ams.routing.UpdateRingState",
            json!({"ringId": ring_id, "ringState": "ACCEPTED"}),
        )
        .await;
    assert_eq!(accepted["code"], 202);
    assert_eq!(accepted["type"], ".ReqBody$StringResp");
    assert_eq!(accepted["body"], "Ring state updated successfully");
}

#[tokio::test]
async fn bad_input_on_the_agent_socket_gets_one_precise_error_and_the_socket_serves_on() {
    let server = MockServer::builder().manual_agent().start().await;
    let mut agent = AgentClient::connect(&server, "careless-agent").await;

    agent.send_text("not json").await;
    let error = agent.response_to(Value::Null).await;
    assert_eq!(error["code"], 400);
    let state = agent
        .call(
            ".ams.routing.SetAgentState",
            json!({"availability": "online"}),
        )
        .await;
    assert_eq!(state["code"], 400);
    assert_eq!(state["type"], ".ReqBody$StringResp");
    let body = state["body"].as_str().unwrap();
    assert!(
        body.contains("availability must be") && body.contains("\"online\""),
        "{body}"
    );
    let unknown = agent.call(".ams.nothing.Like.This", json!({})).await;
    assert!(
        unknown["body"]
            .as_str()
            .unwrap()
            .contains(".ams.nothing.Like.This"),
        "{unknown}"
    );

    // Its own message is not the agent's to acknowledge: the consumer's rule, the agent's record.
    agent.go_online().await;
    let mut consumer = Consumer::connect(&server).await;
    let conversation = consumer.create_conversation().await;
    agent.accept_ring().await;
    let own = agent.say(&conversation, "hello").await;
    let read = agent
        .receipt(&conversation, ReceiptStatus::Read, &[own])
        .await;
    assert_eq!(read["code"], 400, "{read}");
    agent.assert_alive().await;

    let violations = server.violations();
    assert!(
        violations.iter().all(|v| v.side == Side::Agent),
        "{violations:?}"
    );
    let last = violations.last().unwrap();
    assert_eq!(last.finding.rule, Rule::OtherSide);
    assert_eq!(last.request_type.as_deref(), Some(".ams.ms.PublishEvent"));
    assert!(violations
        .iter()
        .any(|v| v.finding.field == "body.availability"));
    assert!(server
        .receipts()
        .iter()
        .any(|r| r.side == Side::Agent && r.is_invalid()));
}

#[tokio::test]
async fn auto_stands_back_while_an_external_agent_is_online_with_a_routing_subscription() {
    let server = MockServer::builder()
        .auto_agent(Duration::ZERO)
        .start()
        .await;
    let mut agent = AgentClient::connect(&server, "external-agent").await;
    agent.go_online().await;
    let mut consumer = Consumer::connect(&server).await;
    let conversation = consumer.create_conversation().await;
    assert_eq!(agent.accept_ring().await, conversation);
    let own = agent
        .say(&conversation, "the external agent speaks first")
        .await;
    assert_eq!(agent.event("ContentEvent").await["sequence"], own);

    // Auto greets at once when it acts; the first message the consumer gets is the agent's.
    let first = consumer_event(&mut consumer, "ContentEvent").await;
    assert_eq!(first["event"]["message"], "the external agent speaks first");
    let hello = client::publish(3, &conversation, client::text_message("anyone else?"));
    assert_eq!(consumer.request(hello).await["code"], 200);
    agent.event("ContentEvent").await;
    // The built-in agent never joined.
    let built_in = Agent::id_on(server.account());
    let snapshot = server.latest_conversation().unwrap();
    assert!(
        snapshot.participants.iter().all(|p| p.id != built_in),
        "{snapshot:?}"
    );
}

#[tokio::test]
async fn the_first_accept_wins_and_a_conversation_sent_back_to_the_queue_rings_again() {
    let server = MockServer::builder().manual_agent().start().await;
    let mut first = AgentClient::connect(&server, "first-agent").await;
    let mut second = AgentClient::connect(&server, "second-agent").await;
    let state = second
        .ok(".ams.routing.SubscribeAgentsState", json!({}))
        .await;
    assert_eq!(state["type"], ".ams.GenericSubscribe$Response");
    first.go_online().await;
    second.go_online().await;
    // The state now (OFFLINE), then every change.
    for expected in ["OFFLINE", "ONLINE"] {
        let state = second
            .notification(".ams.routing.AgentStateNotification")
            .await;
        assert_eq!(
            state["body"]["changes"][0]["result"]["availability"],
            expected
        );
    }
    let mut consumer = Consumer::connect(&server).await;
    let conversation = consumer.create_conversation().await;

    assert_eq!(first.accept_ring().await, conversation);
    let ring = second
        .notification(".ams.routing.RoutingTaskNotification")
        .await;
    let ring_id = ring["body"]["changes"][0]["result"]["ringsDetails"][0]["ringId"].clone();
    let late = json!({"ringId": ring_id, "ringState": "ACCEPTED"});
    assert_eq!(
        second.call(".ams.routing.UpdateRingState", late).await["code"],
        400
    );

    // Back to the queue: the assigned agent leaves, and both agents are rung again.
    let leave = json!({"conversationId": conversation, "conversationField":
        [{"field": "ParticipantsChange", "type": "REMOVE", "role": "ASSIGNED_AGENT"}]});
    first.ok(".ams.cm.UpdateConversationField", leave).await;
    assert_eq!(second.accept_ring().await, conversation);
    let again = first
        .notification(".ams.routing.RoutingTaskNotification")
        .await;
    assert_eq!(
        again["body"]["changes"][0]["result"]["conversationId"],
        conversation.as_str()
    );
    let holder = server.latest_conversation().unwrap();
    let assigned: Vec<_> = holder
        .participants
        .iter()
        .filter(|p| p.role == Role::AssignedAgent)
        .collect();
    assert_eq!(assigned.len(), 1, "{holder:?}");
}

/// node-agent-sdk's `generateURLForUploadFile` / `generateURLForDownloadFile` (the SDK's
/// filesharing-bot example): the same signed URLs and storage as the consumer's.
#[tokio::test]
async fn an_agent_shares_a_file_through_the_same_storage() {
    let server = MockServer::builder().manual_agent().start().await;
    let mut agent = AgentClient::connect(&server, "file-bearer").await;
    let upload = agent
        .ok(
            ".ams.ms.GenerateURLForUploadFile",
            json!({"fileSize": 5, "fileType": "PNG"}),
        )
        .await;
    let upload = &upload["body"];
    let put = crate::harness::https::storage(&server, "PUT", upload, b"\x89PNG!").await;
    assert_eq!(put.status, 201, "{}", put.text());
    let path = upload["relativePath"].clone();
    let download = agent
        .ok(
            ".ams.ms.GenerateURLForDownloadFile",
            json!({"relativePath": path}),
        )
        .await;
    let get = crate::harness::https::storage(&server, "GET", &download["body"], b"").await;
    assert_eq!(get.body, b"\x89PNG!");
    let refused = agent
        .call(
            ".ams.ms.GenerateURLForUploadFile",
            json!({"fileSize": 5, "fileType": "EXE"}),
        )
        .await;
    assert_eq!(refused["code"], 400, "{refused}");
    agent.assert_alive().await;
}

/// An agent changes the conversation's TTR (`UpdateConversationField` `TTRField`, as consumers
/// do): the consumer's metadata subscription sees it; a bad `ttrType` is refused precisely.
#[tokio::test]
async fn an_agent_sets_the_ttr_and_the_consumer_sees_it() {
    let server = MockServer::builder().manual_agent().start().await;
    let mut agent = AgentClient::connect(&server, "ttr-bearer").await;
    agent.go_online().await;
    let mut consumer = Consumer::connect(&server).await;
    consumer
        .request(
            json!({"id":"m","type":"cqm.SubscribeExConversations","body":{"convState":["OPEN"]}}),
        )
        .await;
    let conversation = consumer.create_conversation().await;
    agent.accept_ring().await;
    let ttr = json!({"conversationId": conversation,
        "conversationField": [{"field": "TTRField", "ttrType": "URGENT", "value": 600}]});
    agent.ok(".ams.cm.UpdateConversationField", ttr).await;
    let change = consumer
        .frame_matching("the TTR change", |f| {
            f["type"] == "cqm.ExConversationChangeNotification"
                && f["body"]["changes"][0]["result"]["conversationDetails"]["ttr"]["ttrType"]
                    == "URGENT"
        })
        .await;
    assert_eq!(
        change["body"]["changes"][0]["result"]["conversationDetails"]["ttr"]["value"],
        600
    );
    let bad = json!({"conversationId": conversation,
        "conversationField": [{"field": "TTRField", "ttrType": "SOON"}]});
    let refused = agent.call(".ams.cm.UpdateConversationField", bad).await;
    assert_eq!(refused["code"], 400, "{refused}");
    assert!(
        refused["body"]
            .as_str()
            .unwrap()
            .contains("ttrType \"SOON\""),
        "{refused}"
    );
}

/// Typing reaches the other side: the consumer's COMPOSING arrives at the assigned agent as
/// `.ams.ms.OnlineEventDistribution` (with `originatorPId`, no sequence), and the agent's
/// reaches the consumer as in the captures.
#[tokio::test]
async fn chat_states_reach_the_other_side() {
    let server = MockServer::builder().manual_agent().start().await;
    let mut agent = AgentClient::connect(&server, "typing-bearer").await;
    agent.go_online().await;
    let mut consumer = Consumer::connect(&server).await;
    let conversation = consumer.create_conversation().await;
    agent.accept_ring().await;
    let typing = json!({"type": "ChatStateEvent", "chatState": "COMPOSING"});
    consumer
        .request(client::publish("t", &conversation, typing.clone()))
        .await;
    let seen = agent
        .frame_matching("the consumer typing", |f| {
            f["type"] == ".ams.ms.OnlineEventDistribution"
                && f["body"]["event"]["type"] == "ChatStateEvent"
        })
        .await;
    assert_eq!(seen["body"]["event"]["chatState"], "COMPOSING");
    assert_eq!(seen["body"]["originatorMetadata"]["role"], "CONSUMER");
    assert!(seen["body"]["originatorPId"].is_string(), "{seen}");
    assert!(seen["body"].get("sequence").is_none(), "{seen}");
    agent
        .ok(
            ".ams.ms.PublishEvent",
            json!({"dialogId": conversation, "event": {"type": "ChatStateEvent", "chatState": "PAUSE"}}),
        )
        .await;
    let paused = consumer_event(&mut consumer, "ChatStateEvent").await;
    assert_eq!(paused["event"]["chatState"], "PAUSE");
}
