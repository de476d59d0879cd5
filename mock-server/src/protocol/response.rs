//! Outgoing frames: responses and notifications, serialized with the field order of the
//! reference's captures (`kind`, `reqId`, `code`, `body`, `type`, as in the seed tutorial).

use serde_json::{json, Value};

use super::{types, ReqId};

/// A response frame. `req_id` is `None` only when the frame had no readable id (not JSON, not
/// an object, an id of the wrong type); the frame then has no `reqId` at all, so it can never
/// be taken for the answer to another request (see protocol-decisions).
pub(crate) fn response(req_id: Option<&ReqId>, code: u16, resp_type: &str, body: Value) -> String {
    match req_id {
        Some(id) => json!({
            "kind": "resp",
            "reqId": id.0,
            "code": code,
            "body": body,
            "type": resp_type,
        }),
        None => json!({
            "kind": "resp",
            "code": code,
            "body": body,
            "type": resp_type,
        }),
    }
    .to_string()
}

/// A `StringResponse` (success or error).
pub(crate) fn string_response(req_id: Option<&ReqId>, code: u16, body: &str) -> String {
    response(
        req_id,
        code,
        types::STRING_RESPONSE,
        Value::String(body.to_owned()),
    )
}

/// A notification frame.
pub(crate) fn notification(notification_type: &str, body: Value) -> String {
    json!({
        "kind": "notification",
        "body": body,
        "type": notification_type,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_order_follows_the_tutorial() {
        let frame = response(
            Some(&ReqId("1".into())),
            200,
            types::REQUEST_CONVERSATION_RESPONSE,
            json!({"conversationId": "c"}),
        );
        assert_eq!(
            frame,
            r#"{"kind":"resp","reqId":"1","code":200,"body":{"conversationId":"c"},"type":"cm.RequestConversationResponse"}"#
        );
    }

    #[test]
    fn a_frame_without_a_readable_id_is_answered_without_req_id() {
        let frame = string_response(None, 400, "Bad Request, x (rule frame, field frame)");
        assert_eq!(
            frame,
            r#"{"kind":"resp","code":400,"body":"Bad Request, x (rule frame, field frame)","type":"StringResponse"}"#
        );
    }
}
