//! Unit tests of the parent module.

use super::*;

fn conversation() -> Conversation {
    Conversation::new("c".into(), "me".into(), "1".into(), "-1".into())
}

#[test]
fn sequences_count_from_zero_and_receipts_share_the_counter() {
    let mut conv = conversation();
    let msg = json!({"type": "ContentEvent", "message": "hi", "contentType": "text/plain"});
    assert_eq!(conv.store("agent", Role::AssignedAgent, msg, None), 0);
    let receipt = json!({"type": "AcceptStatusEvent", "status": "ACCEPT", "sequenceList": [0]});
    assert_eq!(conv.store("me", Role::Consumer, receipt, None), 1);
    assert_eq!(
        conv.main().receipt_statuses(0, "me"),
        vec![ReceiptStatus::Accept]
    );
    assert!(conv.main().receipt_statuses(0, "agent").is_empty());
    assert_eq!(
        conv.main().id,
        conv.id,
        "MAIN dialog id is the conversation id"
    );
}

#[test]
fn status_parsing_is_case_sensitive() {
    assert_eq!(ReceiptStatus::parse("READ"), Some(ReceiptStatus::Read));
    assert_eq!(ReceiptStatus::parse("read"), None);
}

#[test]
fn chat_state_changes_have_neither_sequence_nor_timestamp_as_captured() {
    let conv = conversation();
    let change = conv.chat_state_change(
        0,
        ("me", Role::Consumer),
        json!({"type": "ChatStateEvent", "chatState": "COMPOSING"}),
    );
    assert!(change.get("sequence").is_none(), "{change}");
    assert!(change.get("serverTimestamp").is_none(), "{change}");
}

/// A conversation whose MAIN dialog closed and whose survey dialog `s1` is open.
fn with_survey() -> Conversation {
    let mut conv = conversation();
    conv.add_participant("agent", Role::AssignedAgent);
    conv.store(
        "agent",
        Role::AssignedAgent,
        json!({"type": "ContentEvent"}),
        None,
    );
    conv.close_dialog(0, ClosedBy::Consumer, "Closed by consumer", 10);
    conv.add_participant("agent", Role::Reader);
    conv.add_participant("bot", Role::Agent);
    conv.dialogs
        .push(Dialog::of_type("s1".into(), DialogType::PostSurvey, 10));
    conv
}

#[test]
fn each_dialog_has_its_own_sequences() {
    let mut conv = with_survey();
    let question = json!({"type": "ContentEvent", "message": "How?"});
    assert_eq!(conv.store_in(1, ("bot", Role::Agent), question, None), 0);
    assert_eq!(conv.main().next_sequence(), 1);
    assert_eq!(conv.dialog_index("s1"), Some(1));
    assert_eq!(conv.change(1, &conv.dialogs[1].events[0])["dialogId"], "s1");
}

#[test]
fn state_is_the_main_dialog_and_stage_the_whole_conversation() {
    let mut conv = with_survey();
    assert!(!conv.main_open());
    assert!(conv.is_open(), "the survey keeps the stage open");
    assert_eq!(conv.end_ts(), None);
    let ex = conv.ex_conversation();
    let details = &ex["conversationDetails"];
    assert_eq!(details["state"], "CLOSE");
    assert_eq!(details["stage"], "OPEN");
    assert_eq!(details["closeReason"], "CONSUMER");
    assert!(details.get("endTs").is_none());
    assert_eq!(details["dialogs"][0]["closedBy"], "CONSUMER");
    assert_eq!(details["dialogs"][1]["dialogType"], "POST_SURVEY");
    assert_eq!(details["dialogs"][1]["state"], "OPEN");
    let roles = |d: usize| -> Vec<Value> {
        details["dialogs"][d]["participantsDetails"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["role"].clone())
            .collect()
    };
    assert_eq!(roles(0), [json!("CONSUMER"), json!("ASSIGNED_AGENT")]);
    assert_eq!(
        roles(1),
        [json!("CONSUMER"), json!("READER"), json!("AGENT")]
    );

    conv.close_dialog(1, ClosedBy::Agent, "Completed", 20);
    assert!(!conv.is_open());
    assert_eq!(conv.end_ts(), Some(20));
    let ex = conv.ex_conversation();
    let details = &ex["conversationDetails"];
    assert_eq!(details["stage"], "CLOSE");
    assert_eq!(details["endTs"], 20);
    assert_eq!(
        details["closeReason"], "CONSUMER",
        "the MAIN dialog's closer"
    );
    assert_eq!(details["dialogs"][1]["closedBy"], "AGENT");
    assert_eq!(details["dialogs"][1]["closedCause"], "Completed");
    assert_eq!(details["dialogs"][0]["endTs"], 10, "MAIN keeps its own end");
}

#[test]
fn closing_all_closes_every_dialog_once() {
    let mut conv = with_survey();
    conv.close_all(ClosedBy::Consumer, "Closed by consumer");
    assert!(!conv.is_open());
    assert_eq!(
        conv.dialogs[0].closed.as_ref().unwrap().at,
        10,
        "already closed"
    );
    assert_eq!(
        conv.dialogs[1].closed.as_ref().unwrap().by,
        ClosedBy::Consumer
    );
}
