//! Unit tests of the parent module.

use super::*;

fn parse(text: &str) -> Result<ConsumerRequest, Rejection> {
    ConsumerRequest::parse(&Envelope::parse(text).unwrap())
}

#[test]
fn conversation_field_may_be_an_object_or_an_array() {
    let obj = r#"{"kind":"req","id":1,"type":"cm.UpdateConversationField","body":{"conversationId":"c","conversationField":{"field":"ConversationStateField","conversationState":"CLOSE"}}}"#;
    let arr = r#"{"kind":"req","id":1,"type":"cm.UpdateConversationField","body":{"conversationId":"c","conversationField":[{"field":"ConversationStateField","conversationState":"CLOSE"}]}}"#;
    assert_eq!(parse(obj).unwrap(), parse(arr).unwrap());
}

#[test]
fn unknown_types_are_rejected_by_name() {
    let err = parse(r#"{"kind":"req","id":1,"type":"ms.Nope"}"#).unwrap_err();
    assert_eq!(err.finding.rule, Rule::UnknownType);
    assert!(err.body().contains("\"ms.Nope\""), "{}", err.body());
}

#[test]
fn publish_needs_body_event_and_dialog() {
    for (text, field) in [
        (r#"{"kind":"req","id":1,"type":"ms.PublishEvent"}"#, "body"),
        (
            r#"{"kind":"req","id":1,"type":"ms.PublishEvent","body":{"dialogId":"d"}}"#,
            "body.event",
        ),
        (
            r#"{"kind":"req","id":1,"type":"ms.PublishEvent","body":{"event":{"type":"ContentEvent","message":"x"}}}"#,
            "body.dialogId",
        ),
        (
            r#"{"kind":"req","id":1,"type":"ms.PublishEvent","body":{"dialogId":"d","event":{"type":"ChatStateEvent","chatState":"typing"}}}"#,
            "body.event.chatState",
        ),
    ] {
        assert_eq!(parse(text).unwrap_err().finding.field, field, "{text}");
    }
}

#[test]
fn receipts_keep_a_bad_dialog_id_for_the_validator() {
    let req = parse(r#"{"kind":"req","id":1,"type":"ms.PublishEvent","body":{"dialogId":5,"event":{"type":"AcceptStatusEvent"}}}"#).unwrap();
    let ConsumerRequest::PublishEvent(publish) = req else {
        panic!("not a publish")
    };
    assert_eq!(publish.kind, PublishKind::Receipt);
    assert_eq!(publish.dialog_id, Some(Value::from(5)));
}

#[test]
fn init_connection_reads_the_jwt_header() {
    let env = Envelope::parse(r#"{"kind":"req","id":"0","type":"InitConnection","headers":[{"type":".ams.headers.ClientProperties"},{"type":".ams.headers.ConsumerAuthentication","jwt":"abc"}]}"#).unwrap();
    assert_eq!(init_jwt(env.headers.as_ref()).unwrap(), Some("abc".into()));
    let env = Envelope::parse(r#"{"kind":"req","id":"0","type":"InitConnection","headers":{"type":".ams.headers.ConsumerAuthentication","jwt":"abc"}}"#).unwrap();
    assert_eq!(init_jwt(env.headers.as_ref()).unwrap(), Some("abc".into()));
}
