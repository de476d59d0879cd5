//! Client properties and the post-conversation survey (multi-dialog conversations): every
//! frame is sent exactly as LivePerson's pages print it (placeholders such as
//! `__YOUR_CONVERSATION_ID__` filled in, as the pages ask), each test quoting its page.

use serde_json::{json, Value};
use wiretape_mock_server::client::{self, Consumer};
use wiretape_mock_server::{ClientProperties, MockServer, Rule, Scenario};

// "PCS" below is the post-conversation survey tutorial,
// https://developers.liveperson.com/messaging-window-api-tutorials-post-conversation-survey-pcs.html
// (now served as messaging-window-api-tutorials-legacy-post-conversation-survey-pcs.html, which
// redirects from it and prints the same frames through step 12).

/// PCS step 1: the client properties announcing MULTI_DIALOG, verbatim.
const LP_PROPS: &str = r#"{"type":".ClientProperties","appId":"webAsync","integrationVersion":"3.0.5","integration":"WEB_SDK","features":["AUTO_MESSAGES","RICH_CONTENT","CO_BROWSE","PHOTO_SHARING","QUICK_REPLIES","MULTI_DIALOG"]}"#;

/// A frame as the page prints it, its placeholders filled in.
fn page(frame: &str, conversation: &str, survey: &str) -> Value {
    let text = frame
        .replace("__YOUR_CONVERSATION_ID__", conversation)
        .replace("__YOUR_POST_SURVEY_DIALOG_ID__", survey);
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{err}: {text}"))
}

/// PCS step 3: `wscat -H "Authorization:jwt $LP_JWT" -H "Client-Properties:$LP_PROPS"`.
async fn multi_dialog_consumer(server: &MockServer) -> Consumer {
    Consumer::connect_with_headers(
        &server.consumer_url(),
        server.client_tls(),
        Some(client::DEFAULT_TOKEN),
        &[("Client-Properties", LP_PROPS)],
    )
    .await
}

/// The next metadata notification whose first change satisfies `matches`.
async fn ex_change(consumer: &mut Consumer, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
    let frame = consumer
        .frame_matching(what, |f| {
            f["type"] == "cqm.ExConversationChangeNotification"
                && matches(&f["body"]["changes"][0]["result"]["conversationDetails"])
        })
        .await;
    frame["body"]["changes"][0]["result"]["conversationDetails"].clone()
}

/// A conversation with the agent's greeting, its MAIN dialog closed by the consumer (PCS step
/// 9's DialogChange frame, verbatim); returns the conversation id and the close's response.
async fn close_main(server: &MockServer, consumer: &mut Consumer) -> (String, Value) {
    let conversation = consumer.create_conversation().await;
    server.agent().join(&conversation).unwrap();
    server
        .agent()
        .say(&conversation, "Hello from the agent")
        .unwrap();
    // PCS step 9, "Then the user types": https://developers.liveperson.com/messaging-window-api-tutorials-post-conversation-survey-pcs.html
    let close = page(
        r#"{"kind":"req","id":"2","type":"cm.UpdateConversationField","body":{"conversationId":"__YOUR_CONVERSATION_ID__","conversationField":{"field":"DialogChange","type":"UPDATE","dialog":{"dialogId":"__YOUR_CONVERSATION_ID__","state":"CLOSE","closedCause":"Closed by consumer"}}}}"#,
        &conversation,
        "",
    );
    let response = consumer.request(close).await;
    (conversation, response)
}

/// The latest conversation is over (`state` and `stage` CLOSE) and had no survey dialog.
fn assert_closed_without_survey(server: &MockServer) {
    let snapshot = server.latest_conversation().unwrap();
    let states = (snapshot.state.as_str(), snapshot.stage.as_str());
    assert_eq!(states, ("CLOSE", "CLOSE"));
    assert!(snapshot.dialogs.is_empty(), "no survey: {snapshot:?}");
}

/// Creates a conversation and returns the client properties it kept.
async fn created_with_properties(server: &MockServer, consumer: &mut Consumer) -> ClientProperties {
    consumer.create_conversation().await;
    let conversation = server.latest_conversation().expect("a conversation");
    conversation.client_properties.expect("client properties")
}

/// The survey dialog of the (only) conversation, once opened.
fn survey_dialog(server: &MockServer) -> String {
    let conversation = server.latest_conversation().expect("a conversation");
    conversation.dialogs[0].dialog_id.clone()
}

#[tokio::test]
async fn the_post_conversation_survey_tutorial_end_to_end() {
    // Every frame below is PCS's, steps 3 to 12, in the page's order: https://developers.liveperson.com/messaging-window-api-tutorials-post-conversation-survey-pcs.html
    let server = MockServer::builder().manual_agent().start().await;
    let mut consumer = multi_dialog_consumer(&server).await;

    // Step 4.
    let subscribed = consumer
        .request(page(
            r#"{"kind":"req","id":"3","type":"cqm.SubscribeExConversations","body":{"stage":["OPEN","CLOSE"],"convState":["OPEN","CLOSE"]}}"#,
            "",
            "",
        ))
        .await;
    assert_eq!(subscribed["type"], "cqm.SubscribeExConversationsResponse");
    let empty = consumer
        .notification("cqm.ExConversationChangeNotification")
        .await;
    assert_eq!(empty["body"]["changes"], json!([]));

    // Step 5.
    let created = consumer
        .request(page(
            r#"{"kind":"req","id":"0","type":"cm.ConsumerRequestConversation","body":{"channelType":"MESSAGING","ttrDefName":null,"campaignInfo":{"campaignId":418732213,"engagementId":425842913},"conversationContext":{"visitorId":"NmNDQ5OWU1MjM1NjBlZTAz","sessionId":"DHE_fICSTZ2gx5IsljFcwQ","interactionContextId":"1","type":"SharkContext","lang":"en-US"}}}"#,
            "",
            "",
        ))
        .await;
    assert_eq!(created["type"], "cm.RequestConversationResponse");
    let conv = created["body"]["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();

    // Step 6: the agent accepts and writes.
    server.agent().join(&conv).unwrap();
    server.agent().say(&conv, "Hello from the agent").unwrap();

    // Step 7.
    let sub = page(
        r#"{"kind":"req","id":"2","type":"ms.SubscribeMessagingEvents","body":{"dialogId":"__YOUR_CONVERSATION_ID__","conversationId":"__YOUR_CONVERSATION_ID__","fromSeq":0}}"#,
        &conv,
        "",
    );
    assert_eq!(consumer.request(sub).await["code"], 200);

    // Step 8.
    let hello = page(
        r#"{"kind":"req","id":"4","type":"ms.PublishEvent","body":{"dialogId":"__YOUR_CONVERSATION_ID__","conversationId":"__YOUR_CONVERSATION_ID__","event":{"type":"ContentEvent","contentType":"text/plain","message":"Hello from the consumer"}}}"#,
        &conv,
        "",
    );
    assert_eq!(consumer.request(hello).await["code"], 200);

    // Step 9: the optional chat state, then the DialogChange closing MAIN.
    let active = page(
        r#"{"kind":"req","id":"2","type":"ms.PublishEvent","body":{"dialogId":"__YOUR_CONVERSATION_ID__","conversationId":"__YOUR_CONVERSATION_ID__","event":{"type":"ChatStateEvent","chatState":"ACTIVE"}}}"#,
        &conv,
        "",
    );
    assert_eq!(
        consumer.request(active).await["body"],
        json!({"sequence": 0})
    );
    let close = page(
        r#"{"kind":"req","id":"2","type":"cm.UpdateConversationField","body":{"conversationId":"__YOUR_CONVERSATION_ID__","conversationField":{"field":"DialogChange","type":"UPDATE","dialog":{"dialogId":"__YOUR_CONVERSATION_ID__","state":"CLOSE","closedCause":"Closed by consumer"}}}}"#,
        &conv,
        "",
    );
    let resolved = consumer.request(close).await;
    assert_eq!(
        resolved,
        json!({"kind":"resp","reqId":"2","code":200,"body":"OK Conversation resolved successfully","type":"StringResponse"})
    );
    // "Notification on the Step-4 subscription": MAIN closed, POST_SURVEY open.
    let details = ex_change(&mut consumer, "MAIN closed, survey open", |d| {
        d["dialogs"].as_array().is_some_and(|l| l.len() == 2)
    })
    .await;
    assert_eq!(details["state"], "CLOSE");
    assert_eq!(details["stage"], "OPEN");
    assert_eq!(details["closeReason"], "CONSUMER");
    assert!(details.get("endTs").is_none(), "{details}");
    let (main, survey) = (&details["dialogs"][0], &details["dialogs"][1]);
    assert_eq!(main["dialogId"], conv.as_str());
    assert_eq!(main["dialogType"], "MAIN");
    assert_eq!(main["state"], "CLOSE");
    assert_eq!(main["closedBy"], "CONSUMER");
    assert_eq!(survey["dialogType"], "POST_SURVEY");
    assert_eq!(survey["channelType"], "MESSAGING");
    assert_eq!(survey["state"], "OPEN");
    assert!(survey["metaData"]["appInstallId"].is_string());
    let roles: Vec<&Value> = details["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["role"])
        .collect();
    for role in ["CONSUMER", "ASSIGNED_AGENT", "READER", "AGENT"] {
        assert!(roles.contains(&&json!(role)), "{role} in {details}");
    }
    let survey_id = survey["dialogId"].as_str().unwrap().to_owned();
    assert_eq!(
        survey_id.len(),
        22,
        "like the captured PwT_YK91Sum3vu5H6T3YnA"
    );
    assert!(survey_id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));

    // Step 10: subscribe to the survey dialog; the bot's greeting and question, from 0.
    let sub = page(
        r#"{"kind":"req","id":"2","type":"ms.SubscribeMessagingEvents","body":{"dialogId":"__YOUR_POST_SURVEY_DIALOG_ID__","conversationId":"__YOUR_CONVERSATION_ID__","fromSeq":0}}"#,
        &conv,
        &survey_id,
    );
    assert_eq!(
        consumer.request(sub).await,
        json!({"kind":"resp","reqId":"2","code":200,"body":{},"type":"GenericSubscribeResponse"})
    );
    let history = consumer
        .frame_matching("the survey's history", |f| {
            f["body"]["changes"][0]["dialogId"] == survey_id.as_str()
        })
        .await;
    let changes = history["body"]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{history}");
    assert_eq!(changes[0]["sequence"], 0);
    assert_eq!(changes[0]["originatorMetadata"]["role"], "AGENT");
    assert!(changes[0]["event"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Hello, I’m the survey bot"));
    let question = &changes[1];
    assert_eq!(question["sequence"], 1);
    assert_eq!(question["event"]["contentType"], "text/plain");
    assert_eq!(
        question["event"]["message"],
        "How would you rate your overall experience?"
    );
    assert_eq!(
        question["event"]["quickReplies"]["replies"][0]["title"],
        "1"
    );
    assert_eq!(question["metadata"][0]["type"], "Question");
    assert_eq!(question["metadata"][0]["surveyId"], "499706313");

    // Step 12: the ACTION receipt for the question, with the button's metadata.
    let action = page(
        r#"{"kind":"req","id":"22","type":"ms.PublishEvent","body":{"dialogId":"__YOUR_POST_SURVEY_DIALOG_ID__","conversationId":"__YOUR_CONVERSATION_ID__","event":{"type":"AcceptStatusEvent","status":"ACTION","sequenceList":[1]}},"metadata":[{"type":"Answer","questionId":"3e70da9b-76de-4c2a-911e-a41aee698b82","id":"4f7c6a7b-033b-4171-a361-abf99e0ea493","provider":"AC"}]}"#,
        &conv,
        &survey_id,
    );
    assert_eq!(
        question["event"]["quickReplies"]["replies"][0]["click"]["metadata"], action["metadata"],
        "the page's metadata is the button's"
    );
    let acted = consumer.request(action).await;
    assert_eq!(acted["body"], json!({"sequence": 2}), "{acted}");
    let echo = consumer
        .frame_matching("the ACTION echo", |f| {
            f["body"]["changes"][0]["event"]["status"] == "ACTION"
        })
        .await;
    assert_eq!(echo["body"]["changes"][0]["metadata"][0]["type"], "Answer");

    // Step 12, second request: the button's text with the same metadata.
    let answer = page(
        r#"{"kind":"req","id":"3","type":"ms.PublishEvent","body":{"dialogId":"__YOUR_POST_SURVEY_DIALOG_ID__","conversationId":"__YOUR_CONVERSATION_ID__","event":{"type":"ContentEvent","contentType":"text/plain","message":"1"}},"metadata":[{"type":"Answer","questionId":"3e70da9b-76de-4c2a-911e-a41aee698b82","id":"4f7c6a7b-033b-4171-a361-abf99e0ea493","provider":"AC"}]}"#,
        &conv,
        &survey_id,
    );
    assert_eq!(
        consumer.request(answer).await,
        json!({"kind":"resp","reqId":"3","code":200,"body":{"sequence":3},"type":"ms.PublishEventResponse"})
    );
    // The page's notifications, in its order: echo, READ by the bot, COMPOSING, thanks, ACTIVE.
    let mut survey_events = Vec::new();
    while survey_events.len() < 5 {
        let note = consumer.notification("ms.MessagingEventNotification").await;
        let change = note["body"]["changes"][0].clone();
        if change["dialogId"] == survey_id.as_str() && change["event"]["status"] != "ACTION" {
            survey_events.push(change);
        }
    }
    let shape: Vec<(Value, Value, Value)> = survey_events
        .iter()
        .map(|c| {
            let what = match c["event"]["type"].as_str() {
                Some("ChatStateEvent") => c["event"]["chatState"].clone(),
                Some("AcceptStatusEvent") => c["event"]["status"].clone(),
                _ => c["event"]["message"].clone(),
            };
            (
                c["sequence"].clone(),
                c["originatorMetadata"]["role"].clone(),
                what,
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            (json!(3), json!("CONSUMER"), json!("1")),
            (json!(4), json!("AGENT"), json!("READ")),
            // Chat states carry no sequence, as captured.
            (Value::Null, json!("AGENT"), json!("COMPOSING")),
            (json!(5), json!("AGENT"), json!("Thank you for your time.")),
            (Value::Null, json!("AGENT"), json!("ACTIVE")),
        ]
    );
    assert_eq!(survey_events[1]["event"]["sequenceList"], json!([3]));

    // "Conversation closed - Survey completed".
    let done = ex_change(&mut consumer, "the survey closed", |d| {
        d["stage"] == "CLOSE"
    })
    .await;
    let survey = &done["dialogs"][1];
    assert_eq!(survey["state"], "CLOSE");
    assert_eq!(survey["closedBy"], "AGENT");
    assert_eq!(survey["closedCause"], "Completed");
    assert_eq!(done["state"], "CLOSE");
    assert_eq!(done["closeReason"], "CONSUMER");
    assert_eq!(done["endTs"], survey["endTs"]);
    assert_eq!(done["dialogs"][0]["closedCause"], "Closed by consumer");

    let snapshot = server.latest_conversation().unwrap();
    assert_eq!(snapshot.stage, "CLOSE");
    assert_eq!(snapshot.dialogs[0].receipts.len(), 1, "the ACTION receipt");
    assert!(snapshot.dialogs[0].receipts[0].findings.is_empty());
    let properties = snapshot.client_properties.unwrap();
    assert!(properties.has_feature("MULTI_DIALOG"));
    assert_eq!(properties.get("appId"), Some("webAsync"));
    // The consumer may start again once the survey is over.
    consumer.create_conversation().await;
}

#[tokio::test]
async fn with_multi_dialog_closing_main_opens_the_survey_without_it_not() {
    // The issue's "done when"; frames: PCS step 9, https://developers.liveperson.com/messaging-window-api-tutorials-post-conversation-survey-pcs.html
    let server = MockServer::builder().manual_agent().start().await;
    let mut with = multi_dialog_consumer(&server).await;
    let (conv, resolved) = close_main(&server, &mut with).await;
    assert_eq!(resolved["body"], "OK Conversation resolved successfully");
    let snapshot = server.latest_conversation().unwrap();
    assert_eq!(
        (snapshot.state.as_str(), snapshot.stage.as_str()),
        ("CLOSE", "OPEN")
    );
    assert_eq!(snapshot.dialogs.len(), 1, "{conv}: one POST_SURVEY dialog");
    assert_eq!(
        serde_json::to_value(snapshot.dialogs[0].dialog_type).unwrap(),
        "POST_SURVEY"
    );

    let other = MockServer::builder().manual_agent().start().await;
    let mut without = Consumer::connect(&other).await;
    let (_, resolved) = close_main(&other, &mut without).await;
    assert_eq!(resolved["body"], "OK Conversation resolved successfully");
    let snapshot = other.latest_conversation().unwrap();
    assert_eq!(
        (snapshot.state.as_str(), snapshot.stage.as_str()),
        ("CLOSE", "CLOSE")
    );
    assert!(
        snapshot.dialogs.is_empty(),
        "no survey without MULTI_DIALOG"
    );
}

#[tokio::test]
async fn closing_the_stage_skips_the_survey_even_with_multi_dialog() {
    // PCS "Additional Notes": field Stage with conversationState CLOSE, verbatim:
    // https://developers.liveperson.com/messaging-window-api-tutorials-post-conversation-survey-pcs.html
    let server = MockServer::builder().manual_agent().start().await;
    let mut consumer = multi_dialog_consumer(&server).await;
    let conv = consumer.create_conversation().await;
    let stage = page(
        r#"{"kind":"req","id":"11","body":{"conversationId":"__YOUR_CONVERSATION_ID__","conversationField":{"field":"Stage","conversationState":"CLOSE"}},"type":"cm.UpdateConversationField"}"#,
        &conv,
        "",
    );
    assert_eq!(
        consumer.request(stage).await["body"],
        "OK Conversation resolved successfully"
    );
    assert_closed_without_survey(&server);
}

#[tokio::test]
async fn survey_receipts_are_validated_like_any_other() {
    // PCS step 12's ACTION receipt, for a sequence the survey has, then for one it does not
    // have: https://developers.liveperson.com/messaging-window-api-tutorials-post-conversation-survey-pcs.html
    let server = MockServer::builder().manual_agent().start().await;
    let mut consumer = multi_dialog_consumer(&server).await;
    let (conv, _) = close_main(&server, &mut consumer).await;
    let survey = survey_dialog(&server);
    let action = |id: &str, sequence: u64| {
        page(
            &format!(
                r#"{{"kind":"req","id":"{id}","type":"ms.PublishEvent","body":{{"dialogId":"__YOUR_POST_SURVEY_DIALOG_ID__","conversationId":"__YOUR_CONVERSATION_ID__","event":{{"type":"AcceptStatusEvent","status":"ACTION","sequenceList":[{sequence}]}}}},"metadata":[{{"type":"Answer","questionId":"3e70da9b-76de-4c2a-911e-a41aee698b82","id":"4f7c6a7b-033b-4171-a361-abf99e0ea493","provider":"AC"}}]}}"#
            ),
            &conv,
            &survey,
        )
    };
    let accepted = consumer.request(action("22", 1)).await;
    assert_eq!(accepted["code"], 200, "{accepted}");
    let refused = consumer.request(action("23", 9)).await;
    assert_eq!(refused["code"], 400, "{refused}");
    let records = server.latest_conversation().unwrap().dialogs[0]
        .receipts
        .clone();
    assert_eq!(records.len(), 2);
    assert!(records[0].findings.is_empty(), "{records:?}");
    assert_eq!(records[1].findings[0].rule, Rule::SequenceExists);
    // The MAIN dialog is closed: a receipt there is refused as for any closed conversation.
    let main = client::receipt(24, &conv, wiretape_mock_server::ReceiptStatus::Read, [0]);
    let closed = consumer.request(main).await;
    assert_eq!(closed["body"], "Bad Request, Conversation is close");
}

#[tokio::test]
async fn a_scenario_defines_the_questions_and_skip_ends_the_survey() {
    let scenario = Scenario::from_json(
        r#"{"survey": {"greeting": "", "questions": [
              {"text": "Was your issue resolved?", "replies": ["Yes", "No"]},
              {"text": "Anything else?"}],
            "closing": "Bye!"}}"#,
    )
    .unwrap();
    let server = MockServer::builder().scenario(scenario).start().await;
    let mut consumer = multi_dialog_consumer(&server).await;
    let (conv, _) = close_main(&server, &mut consumer).await;
    let survey = survey_dialog(&server);
    let sub = json!({"kind":"req","id":"s","type":"ms.SubscribeMessagingEvents","body":{"dialogId":survey,"conversationId":conv,"fromSeq":0}});
    consumer.request(sub).await;
    let say = |id: &str, text: &str| json!({"kind":"req","id":id,"type":"ms.PublishEvent","body":{"dialogId":survey,"conversationId":conv,"event":{"type":"ContentEvent","contentType":"text/plain","message":text}}});
    consumer.request(say("a1", "Yes")).await;
    let snapshot = server.latest_conversation().unwrap();
    let texts: Vec<&str> = snapshot.dialogs[0]
        .events
        .iter()
        .filter_map(|e| e.event["message"].as_str())
        .collect();
    assert_eq!(texts, ["Was your issue resolved?", "Yes", "Anything else?"]);
    assert!(snapshot.dialogs[0].events[2]
        .event
        .get("quickReplies")
        .is_none());
    consumer.request(say("a2", "skip")).await;
    let snapshot = server.latest_conversation().unwrap();
    assert_eq!(snapshot.stage, "CLOSE");
    let last = snapshot.dialogs[0].events.last().unwrap();
    assert_eq!(last.event["message"], "Bye!");
}

#[tokio::test]
async fn a_scenario_without_a_survey_closes_as_before() {
    let scenario = Scenario::from_json(r#"{"survey": null}"#).unwrap();
    let server = MockServer::builder().scenario(scenario).start().await;
    let mut consumer = multi_dialog_consumer(&server).await;
    close_main(&server, &mut consumer).await;
    assert_closed_without_survey(&server);
}

/// Client-properties tutorial: `-H "Client-Properties:$LP_PROPS"` with
/// `LP_PROPS='{"type":".ClientProperties","deviceFamily":"MOBILE","os":"ANDROID"}'`,
/// https://developers.liveperson.com/messaging-window-api-tutorials-client-properties.html
#[tokio::test]
async fn the_client_properties_tutorial_header_is_kept_with_the_conversation() {
    let server = MockServer::builder().manual_agent().start().await;
    let props = r#"{"type":".ClientProperties","deviceFamily":"MOBILE","os":"ANDROID"}"#;
    let mut consumer = Consumer::connect_with_headers(
        &server.consumer_url(),
        server.client_tls(),
        Some(client::DEFAULT_TOKEN),
        &[("Client-Properties", props)],
    )
    .await;
    let properties = created_with_properties(&server, &mut consumer).await;
    assert_eq!(properties.get("deviceFamily"), Some("MOBILE"));
    assert_eq!(properties.get("os"), Some("ANDROID"));
}

#[tokio::test]
async fn malformed_client_properties_are_refused_at_the_upgrade_with_400() {
    let server = MockServer::builder().manual_agent().start().await;
    for (props, names) in [
        (
            r#"{"type":".ClientProperties","deviceFamily":"PHONE"}"#,
            "deviceFamily",
        ),
        (
            r#"{"appVersion":"123456789012345678901234567890123"}"#,
            "appVersion",
        ),
        ("not json", "not JSON"),
    ] {
        let err = client::connect_with_headers(
            &server.consumer_url(),
            server.client_tls(),
            Some(client::DEFAULT_TOKEN),
            &[("Client-Properties", props)],
        )
        .await
        .expect_err("refused");
        let client::ClientError::Handshake(tokio_tungstenite::tungstenite::Error::Http(resp)) =
            &err
        else {
            panic!("{props}: {err:?}")
        };
        assert_eq!(resp.status(), 400, "{props}");
        let body = String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default()).into_owned();
        assert!(body.contains(names), "{props}: {body}");
    }
    let url = format!("{}&deviceFamily=PHONE", server.consumer_url());
    let err = client::connect(&url, server.client_tls(), Some(client::DEFAULT_TOKEN))
        .await
        .expect_err("refused");
    assert!(format!("{err:?}").contains("400"), "{err:?}");
}

/// API reference overview: "Client properties can be added to the connection URL as query
/// params." (no syntax is shown; the mock's is in docs/protocol-decisions.md),
/// https://developers.liveperson.com/messaging-window-api-api-reference-overview.html
#[tokio::test]
async fn query_parameters_carry_client_properties_too() {
    let server = MockServer::builder().manual_agent().start().await;
    let url = format!(
        "{}&features=MULTI_DIALOG,QUICK_REPLIES&deviceFamily=DESKTOP",
        server.consumer_url()
    );
    let mut consumer =
        Consumer::connect_to(&url, server.client_tls(), Some(client::DEFAULT_TOKEN)).await;
    close_main(&server, &mut consumer).await;
    let snapshot = server.latest_conversation().unwrap();
    assert_eq!(snapshot.dialogs.len(), 1, "MULTI_DIALOG from the query");
    let properties = snapshot.client_properties.unwrap();
    assert_eq!(properties.get("deviceFamily"), Some("DESKTOP"));
}

/// The InitConnection reference sample, verbatim (no `kind`, no `id`), with its
/// `.ams.headers.ClientProperties` header,
/// https://developers.liveperson.com/messaging-window-api-api-reference-init-connection.html
#[tokio::test]
async fn init_connection_takes_client_properties() {
    let server = MockServer::builder().manual_agent().start().await;
    let mut consumer = Consumer::connect_with_token(&server, None).await;
    let init = crate::harness::json::reference_init_connection();
    consumer.send_text(&init).await;
    assert_eq!(consumer.response_to("0").await["code"], 200);
    let properties = created_with_properties(&server, &mut consumer).await;
    assert_eq!(properties.get("os"), Some("WINDOWS"));
    assert!(!properties.has_feature("MULTI_DIALOG"));
}

/// The avoid-websocket-headers tutorial's InitConnection with MULTI_DIALOG added to its
/// ClientProperties (the PCS page shows the feature only in the header form),
/// https://developers.liveperson.com/messaging-window-api-tutorials-avoid-websocket-headers.html
#[tokio::test]
async fn init_connection_features_open_the_survey_and_bad_ones_are_refused() {
    let server = MockServer::builder().manual_agent().start().await;
    let mut consumer = Consumer::connect_with_token(&server, None).await;
    let bad = r#"{"kind":"req","id":"0","type":"InitConnection","headers":[{"type":".ams.headers.ClientProperties","deviceFamily":"PHONE","os":"ANDROID"},{"type":".ams.headers.ConsumerAuthentication","jwt":"__YOUR_JWT__"}]}"#;
    consumer.send_text(bad).await;
    let refused = consumer.response_to("0").await;
    assert_eq!(refused["code"], 400, "{refused}");
    assert!(
        refused["body"].as_str().unwrap().contains("deviceFamily"),
        "{refused}"
    );
    let good = r#"{"kind":"req","id":"1","type":"InitConnection","headers":[{"type":".ams.headers.ClientProperties","deviceFamily":"MOBILE","os":"ANDROID","features":["MULTI_DIALOG"]},{"type":".ams.headers.ConsumerAuthentication","jwt":"__YOUR_JWT__"}]}"#;
    consumer.send_text(good).await;
    assert_eq!(consumer.response_to("1").await["code"], 200);
    close_main(&server, &mut consumer).await;
    assert_eq!(server.latest_conversation().unwrap().dialogs.len(), 1);
}
