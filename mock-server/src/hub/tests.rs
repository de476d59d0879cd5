//! Unit tests of the parent module.

use super::*;

#[test]
fn each_account_has_its_own_conversations_for_the_same_consumer() {
    let mut state = State::default();
    let a = state.add_conversation(Conversation::new(
        "c-a".into(),
        "same-consumer".into(),
        "87654321".into(),
        "-1".into(),
    ));
    assert_eq!(
        state.open_conversation_of("87654321", "same-consumer"),
        Some(a)
    );
    assert_eq!(
        state.open_conversation_of("12345678", "same-consumer"),
        None
    );
    assert_eq!(
        state.consumer_dialog("87654321", "same-consumer", "c-a"),
        Some(DialogAt::main(a))
    );
    assert_eq!(
        state.consumer_dialog("12345678", "same-consumer", "c-a"),
        None,
        "another account's dialog is not found"
    );
    let b = state.add_conversation(Conversation::new(
        "c-b".into(),
        "same-consumer".into(),
        "12345678".into(),
        "-1".into(),
    ));
    assert_eq!(
        state.open_conversation_of("12345678", "same-consumer"),
        Some(b)
    );
    state.close_conversation(a, ClosedBy::Consumer, "done");
    assert_eq!(
        state.open_conversation_of("87654321", "same-consumer"),
        None
    );
    assert_eq!(
        state.open_conversation_of("12345678", "same-consumer"),
        Some(b)
    );
}

#[test]
fn any_account_is_served_unless_one_is_pinned() {
    let settings = |account: Option<&str>| Settings {
        account: account.map(str::to_owned),
        auth: Auth::AnyToken,
        strictness: Strictness::Standard,
        timeouts: Timeouts::default(),
        max_message_bytes: 1024,
        rate_limit: None,
        control_api: ControlAccess::LoopbackOnly,
        files: crate::FileSharing::default(),
        survey: None,
        discovery: crate::Discovery::default(),
        keep_closed: 10,
    };
    assert!(settings(None).serves("87654321"));
    assert!(settings(Some("12345678")).serves("12345678"));
    assert!(!settings(Some("12345678")).serves("87654321"));
}
