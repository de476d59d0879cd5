//! [`AgentClient`]: a test client of the agent endpoint, speaking what node-agent-sdk 1.2.0
//! sends (agent-api.md §2), on the same frame-sorting core as [`Consumer`].

use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use serde_json::{json, Value};

use super::Consumer;
use crate::{MockServer, ReceiptStatus};

/// An agent connection for tests, like a bot built on node-agent-sdk: requests by type and
/// body, notifications awaited by type, every other frame kept for later waits.
///
/// Like [`Consumer`], it panics (naming "the agent") instead of returning errors.
///
/// ```
/// use wiretape_mock_server::client::{AgentClient, Consumer};
/// use wiretape_mock_server::MockServer;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = MockServer::builder().manual_agent().start().await;
/// let mut agent = AgentClient::connect(&server, "bearer-1").await;
/// agent.go_online().await;
/// let mut consumer = Consumer::connect(&server).await;
/// let conversation = consumer.create_conversation().await;
/// assert_eq!(agent.accept_ring().await, conversation);
/// let said = agent.say(&conversation, "hello").await;
/// let note = consumer.notification("ms.MessagingEventNotification").await;
/// assert_eq!(note["body"]["changes"][0]["sequence"], said);
/// # }
/// ```
#[derive(Debug)]
#[must_use = "dropping an AgentClient closes its connection"]
pub struct AgentClient {
    inner: Consumer,
}

impl AgentClient {
    /// Connects to `server`'s agent endpoint with `bearer` in the path
    /// ([`MockServer::agent_url`]), over TLS when the server has it.
    ///
    /// # Panics
    /// When the connection or the WebSocket upgrade fails.
    pub async fn connect(server: &MockServer, bearer: &str) -> Self {
        Self::connect_to(&server.agent_url(bearer), server.client_tls()).await
    }

    /// Connects to any agent URL (`ws://` or `wss://`, trusting `tls`).
    ///
    /// # Panics
    /// As [`Consumer::connect_to`].
    pub async fn connect_to(url: &str, tls: Option<Arc<ClientConfig>>) -> Self {
        let inner = Consumer::connect_to(url, tls, None).await.named("agent");
        Self { inner }
    }

    /// Waits up to `timeout` for each frame.
    pub fn with_frame_timeout(self, timeout: Duration) -> Self {
        Self {
            inner: self.inner.with_frame_timeout(timeout),
        }
    }

    /// Sends `{"kind":"req","id":…,"type":request_type,"body":body}` and returns the response.
    ///
    /// # Panics
    /// As [`Consumer::response_to`].
    pub async fn call(&mut self, request_type: &str, body: Value) -> Value {
        let id = self.inner.own_request_id();
        let frame = json!({"kind": "req", "id": id, "type": request_type, "body": body});
        self.inner.request(frame).await
    }

    /// As [`AgentClient::call`], and asserts the response's code is below 400.
    ///
    /// # Panics
    /// When the request is refused, or as [`Consumer::response_to`].
    pub async fn ok(&mut self, request_type: &str, body: Value) -> Value {
        let response = self.call(request_type, body).await;
        let code = response["code"].as_u64().unwrap_or(0);
        assert!(code < 400, "{request_type} was refused: {response}");
        response
    }

    /// Sends any frame and returns its response (see [`Consumer::request`]).
    pub async fn request(&mut self, frame: Value) -> Value {
        self.inner.request(frame).await
    }

    /// Sends `text` as a text frame exactly as given.
    pub async fn send_text(&mut self, text: &str) {
        self.inner.send_text(text).await;
    }

    /// Awaits the response to a request sent with [`AgentClient::send_text`].
    pub async fn response_to(&mut self, request_id: impl Into<Value>) -> Value {
        self.inner.response_to(request_id).await
    }

    /// Awaits the next notification of `notification_type`, e.g.
    /// `.ams.ms.OnlineEventDistribution`.
    pub async fn notification(&mut self, notification_type: &str) -> Value {
        self.inner.notification(notification_type).await
    }

    /// Awaits the oldest frame that `matches` (see [`Consumer::frame_matching`]).
    pub async fn frame_matching(
        &mut self,
        description: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        self.inner.frame_matching(description, matches).await
    }

    /// Awaits the next `.ams.ms.OnlineEventDistribution` whose event has `event_type` and
    /// returns its body (one event, as node-agent-sdk receives it).
    pub async fn event(&mut self, event_type: &str) -> Value {
        let awaited = format!("an OnlineEventDistribution of a {event_type}");
        let frame = self
            .frame_matching(&awaited, |f| {
                f["type"] == ".ams.ms.OnlineEventDistribution"
                    && f["body"]["event"]["type"] == event_type
            })
            .await;
        frame["body"].clone()
    }

    /// What agent-bot does on connect: ONLINE, then its metadata subscription (`convState`
    /// OPEN) and the routing subscription. Returns nothing; rings arrive as notifications.
    pub async fn go_online(&mut self) {
        self.ok(
            ".ams.routing.SetAgentState",
            json!({"availability": "ONLINE"}),
        )
        .await;
        self.ok(
            ".ams.aam.SubscribeExConversations",
            json!({"convState": ["OPEN"]}),
        )
        .await;
        self.ok(".ams.routing.SubscribeRoutingTasks", json!({}))
            .await;
    }

    /// Awaits the next WAITING ring, accepts it, and returns its conversation id.
    ///
    /// # Panics
    /// When no ring arrives, or accepting it is refused.
    pub async fn accept_ring(&mut self) -> String {
        let ring = self
            .notification(".ams.routing.RoutingTaskNotification")
            .await;
        let result = &ring["body"]["changes"][0]["result"];
        let ring_id = result["ringsDetails"][0]["ringId"].clone();
        let body = json!({"ringId": ring_id, "ringState": "ACCEPTED"});
        self.ok(".ams.routing.UpdateRingState", body).await;
        result["conversationId"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Publishes a text message in `dialog_id` and returns its sequence.
    pub async fn say(&mut self, dialog_id: &str, text: &str) -> u64 {
        let event = json!({"type": "ContentEvent", "contentType": "text/plain", "message": text});
        let r = self
            .ok(
                ".ams.ms.PublishEvent",
                json!({"dialogId": dialog_id, "event": event}),
            )
            .await;
        r["body"]["sequence"].as_u64().unwrap_or_default()
    }

    /// Publishes a receipt and returns the whole response (refusals included).
    pub async fn receipt(
        &mut self,
        dialog_id: &str,
        status: ReceiptStatus,
        sequences: &[u64],
    ) -> Value {
        let event =
            json!({"type": "AcceptStatusEvent", "status": status, "sequenceList": sequences});
        self.call(
            ".ams.ms.PublishEvent",
            json!({"dialogId": dialog_id, "event": event}),
        )
        .await
    }

    /// Asserts that the connection still answers: a `.GetClock` round trip with code 200.
    pub async fn assert_alive(&mut self) {
        let clock = self.call(".GetClock", json!({})).await;
        assert_eq!(clock["code"], 200, ".GetClock answered {clock}");
    }
}
