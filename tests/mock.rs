//! The mock (`wiretape_mock_server` and `wiretape mock`): the tutorial over TLS with
//! snapshots, every receipt rule, every bad input (`bad_input.rs`), auth, the control API and
//! the real wscat.

mod bad_input;
mod protocol;
mod tutorial;
mod validation;
mod wscat;

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use wiretape_mock_server::client::{self, ConsumerSocket};
use wiretape_mock_server::MockServer;

/// How long any single frame may take to arrive.
const FRAME_TIMEOUT: Duration = Duration::from_secs(5);

/// A consumer connection that sorts responses from notifications.
pub(crate) struct Consumer {
    ws: ConsumerSocket,
    /// Frames read while looking for something else, in arrival order.
    pending: VecDeque<Value>,
}

impl Consumer {
    /// Connects to the server's consumer URL with `Authorization: jwt <jwt>`.
    pub(crate) async fn connect(server: &MockServer, jwt: Option<&str>) -> Self {
        let ws = client::connect(&server.consumer_url(), server.client_tls(), jwt)
            .await
            .expect("connect to the mock");
        Self {
            ws,
            pending: VecDeque::new(),
        }
    }

    /// Sends `cm.ConsumerRequestConversation` with request id `id` and returns the new
    /// conversation's id.
    pub(crate) async fn create_conversation(&mut self, id: Value) -> String {
        let created = self
            .request(json!({"kind": "req", "id": id, "type": "cm.ConsumerRequestConversation"}))
            .await;
        created["body"]["conversationId"]
            .as_str()
            .unwrap_or_else(|| panic!("no conversationId in {created}"))
            .to_owned()
    }

    pub(crate) async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    pub(crate) async fn send(&mut self, frame: &Value) {
        self.send_text(&frame.to_string()).await;
    }

    /// The next frame from the wire (not the pending ones).
    async fn read(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(FRAME_TIMEOUT, self.ws.next())
                .await
                .expect("a frame within 5s")
                .expect("the socket is open")
                .expect("a frame");
            match msg {
                Message::Text(text) => return serde_json::from_str(text.as_str()).expect("JSON"),
                Message::Close(frame) => panic!("unexpected close: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// Sends a request and returns its response; notifications read meanwhile stay pending.
    pub(crate) async fn request(&mut self, frame: Value) -> Value {
        let id = match &frame["id"] {
            Value::String(s) => Value::String(s.clone()),
            other => Value::String(other.to_string()),
        };
        self.send(&frame).await;
        self.response_to(&id).await
    }

    /// Waits for the response with this `reqId` (`null` for id-less errors).
    pub(crate) async fn response_to(&mut self, req_id: &Value) -> Value {
        if let Some(i) = self
            .pending
            .iter()
            .position(|f| f["kind"] == "resp" && f["reqId"] == *req_id)
        {
            return self.pending.remove(i).unwrap();
        }
        loop {
            let frame = self.read().await;
            if frame["kind"] == "resp" && frame["reqId"] == *req_id {
                return frame;
            }
            self.pending.push_back(frame);
        }
    }

    /// The next notification of this type; other frames stay pending.
    pub(crate) async fn notification(&mut self, notification_type: &str) -> Value {
        if let Some(i) = self
            .pending
            .iter()
            .position(|f| f["kind"] == "notification" && f["type"] == notification_type)
        {
            return self.pending.remove(i).unwrap();
        }
        loop {
            let frame = self.read().await;
            if frame["kind"] == "notification" && frame["type"] == notification_type {
                return frame;
            }
            self.pending.push_back(frame);
        }
    }

    /// Waits for the server's Close and returns its code and reason.
    pub(crate) async fn closed(&mut self) -> (u16, String) {
        loop {
            let msg = tokio::time::timeout(FRAME_TIMEOUT, self.ws.next())
                .await
                .expect("a close within 5s");
            match msg {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (frame.code.into(), frame.reason.to_string())
                }
                Some(Ok(Message::Close(None))) => return (1005, String::new()),
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    /// Whether the connection still answers (a GetClock round trip).
    pub(crate) async fn assert_alive(&mut self) {
        let resp = self
            .request(json!({"kind":"req","id":"alive","type":"GetClock"}))
            .await;
        assert_eq!(resp["code"], 200, "{resp}");
    }

    pub(crate) fn into_socket(self) -> ConsumerSocket {
        self.ws
    }

    pub(crate) fn socket_mut(&mut self) -> &mut ConsumerSocket {
        &mut self.ws
    }
}

/// `{"kind":"req","id":ID,"type":"ms.PublishEvent","body":{"dialogId":D,"event":EVENT}}`.
pub(crate) fn publish(id: u64, dialog_id: &str, event: Value) -> Value {
    json!({"kind":"req","id":id,"type":"ms.PublishEvent","body":{"dialogId":dialog_id,"event":event}})
}

/// An `AcceptStatusEvent` publish request.
pub(crate) fn receipt(id: u64, dialog_id: &str, status: &str, sequences: Value) -> Value {
    publish(
        id,
        dialog_id,
        json!({"type":"AcceptStatusEvent","status":status,"sequenceList":sequences}),
    )
}

/// Replaces each `(value, placeholder)` inside every string of `frame` (ids inside error
/// messages included), so snapshots are stable.
pub(crate) fn normalize(frame: &Value, names: &[(&str, &str)]) -> Value {
    match frame {
        Value::String(s) => {
            let mut s = s.clone();
            for (value, placeholder) in names {
                s = s.replace(value, placeholder);
            }
            Value::String(s)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| normalize(v, names)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), normalize(v, names)))
                .collect(),
        ),
        other => other.clone(),
    }
}
