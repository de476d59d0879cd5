//! Unit tests of the parent module.

use super::*;

#[test]
fn sequences_count_from_zero_and_receipts_share_the_counter() {
    let mut conv = Conversation::new("c".into(), "me".into(), "1".into(), "-1".into());
    let msg = json!({"type": "ContentEvent", "message": "hi", "contentType": "text/plain"});
    assert_eq!(conv.store("agent", Role::AssignedAgent, msg, None), 0);
    let receipt = json!({"type": "AcceptStatusEvent", "status": "ACCEPT", "sequenceList": [0]});
    assert_eq!(conv.store("me", Role::Consumer, receipt, None), 1);
    assert_eq!(
        conv.dialog.receipt_statuses(0, "me"),
        vec![ReceiptStatus::Accept]
    );
    assert!(conv.dialog.receipt_statuses(0, "agent").is_empty());
    assert_eq!(
        conv.dialog.id, conv.id,
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
    let conv = Conversation::new("c".into(), "me".into(), "1".into(), "-1".into());
    let change = conv.chat_state_change(
        "me",
        Role::Consumer,
        json!({"type": "ChatStateEvent", "chatState": "COMPOSING"}),
    );
    assert!(change.get("sequence").is_none(), "{change}");
    assert!(change.get("serverTimestamp").is_none(), "{change}");
}
