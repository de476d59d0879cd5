//! Request builders: the consumer requests a test sends most, as JSON values ready for
//! [`Consumer::request`](super::Consumer::request) or [`Consumer::send`](super::Consumer::send).
//!
//! Request ids are anything JSON (`1`, `"a-7"`): the mock answers with `reqId` as a string
//! either way. The key order is the one LivePerson's examples use, so a frame reads (and
//! snapshots) as a person would type it. For a deliberately malformed request, build a valid
//! one and edit the value (`frame["body"]["event"]["status"] = "read".into()`).

use serde_json::{json, Value};

use crate::model::ReceiptStatus;

/// `cm.ConsumerRequestConversation`: `{"kind":"req","id":ID,"type":"cm.ConsumerRequestConversation"}`.
///
/// ```
/// use wiretape_mock_server::client;
///
/// assert_eq!(
///     client::request_conversation(1).to_string(),
///     r#"{"kind":"req","id":1,"type":"cm.ConsumerRequestConversation"}"#
/// );
/// ```
pub fn request_conversation(id: impl Into<Value>) -> Value {
    json!({"kind": "req", "id": id.into(), "type": "cm.ConsumerRequestConversation"})
}

/// `ms.PublishEvent` of `event` in a dialog:
/// `{"kind":"req","id":ID,"type":"ms.PublishEvent","body":{"dialogId":D,"event":EVENT}}`.
pub fn publish(id: impl Into<Value>, dialog_id: &str, event: Value) -> Value {
    json!({
        "kind": "req",
        "id": id.into(),
        "type": "ms.PublishEvent",
        "body": {"dialogId": dialog_id, "event": event}
    })
}

/// A receipt: `ms.PublishEvent` of an `AcceptStatusEvent` with `status` for `sequences`.
///
/// ```
/// use wiretape_mock_server::{client, ReceiptStatus};
///
/// let read = client::receipt(2, "dialog-1", ReceiptStatus::Read, [0, 1]);
/// assert_eq!(
///     read.to_string(),
///     r#"{"kind":"req","id":2,"type":"ms.PublishEvent","body":{"dialogId":"dialog-1","event":{"type":"AcceptStatusEvent","status":"READ","sequenceList":[0,1]}}}"#
/// );
/// ```
pub fn receipt(
    id: impl Into<Value>,
    dialog_id: &str,
    status: ReceiptStatus,
    sequences: impl IntoIterator<Item = u64>,
) -> Value {
    publish(id, dialog_id, accept_status_event(status, sequences))
}

/// The event of a receipt:
/// `{"type":"AcceptStatusEvent","status":STATUS,"sequenceList":[...]}`.
pub fn accept_status_event(
    status: ReceiptStatus,
    sequences: impl IntoIterator<Item = u64>,
) -> Value {
    let sequences: Vec<u64> = sequences.into_iter().collect();
    json!({"type": "AcceptStatusEvent", "status": status.as_str(), "sequenceList": sequences})
}

/// The event of a plain text message, for [`publish`]:
/// `{"type":"ContentEvent","contentType":"text/plain","message":TEXT}`.
pub fn text_message(text: &str) -> Value {
    json!({"type": "ContentEvent", "contentType": "text/plain", "message": text})
}
