//! [`Consumer`]: a test client that sorts what the server sends into responses (by request id)
//! and notifications (by type), so a test awaits exactly what it needs.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use rustls::ClientConfig;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use super::{causes, connect_with_headers, request_conversation, ConsumerSocket};
use crate::MockServer;

/// How long [`Consumer`] waits for any single frame unless told otherwise
/// ([`Consumer::with_frame_timeout`]).
pub const DEFAULT_FRAME_TIMEOUT: Duration = Duration::from_secs(5);

/// The token [`Consumer::connect`] authenticates with: an opaque test token, which the mock
/// turns into a stable consumer id (the same token is always the same consumer).
pub const DEFAULT_TOKEN: &str = "test";

/// How many characters of each unclaimed frame a failure message shows.
const SHOWN_FRAME_CHARS: usize = 300;

/// A consumer connection for tests: sends requests and awaits their responses, awaits
/// notifications by type, and keeps every frame it read while waiting for something else, so
/// nothing is lost and the order of arrival does not matter to the test.
///
/// It is a *test* client: instead of returning errors, its methods panic with what was awaited
/// and what arrived instead (the frames nobody claimed, the close code, or the timeout). Each
/// frame must arrive within [`DEFAULT_FRAME_TIMEOUT`] (settable with
/// [`Consumer::with_frame_timeout`]).
///
/// ```
/// use wiretape_mock_server::client::{self, Consumer};
/// use wiretape_mock_server::{MockServer, ReceiptStatus};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = MockServer::builder().manual_agent().start().await;
/// let mut consumer = Consumer::connect(&server).await;
/// let conversation = consumer.create_conversation().await;
/// server.agent().join(&conversation).unwrap();
/// let said = server.agent().say(&conversation, "hello").unwrap();
///
/// let note = consumer.notification("ms.MessagingEventNotification").await;
/// assert_eq!(note["body"]["changes"][0]["event"]["message"], "hello");
/// let read = client::receipt(7, &conversation, ReceiptStatus::Read, [said.sequence]);
/// let response = consumer.request(read).await;
/// assert_eq!(response["code"], 200);
/// # }
/// ```
#[derive(Debug)]
#[must_use = "dropping a Consumer closes its connection"]
pub struct Consumer {
    ws: ConsumerSocket,
    /// Frames read while awaiting something else, in arrival order: what one wait skips, a
    /// later wait still finds.
    pending: VecDeque<Value>,
    frame_timeout: Duration,
    /// Numbers the requests the client makes on its own ([`Consumer::create_conversation`],
    /// [`Consumer::assert_alive`]), so their ids never repeat.
    own_requests: u64,
    /// Who the client is in failure messages and its own request ids ("consumer", "agent").
    who: &'static str,
}

impl Consumer {
    /// Connects to `server`'s consumer endpoint with `Authorization: jwt test`
    /// ([`DEFAULT_TOKEN`]), over TLS when the server has it.
    ///
    /// # Panics
    /// When the connection or the WebSocket upgrade fails (e.g. a server pinned to another
    /// token answers 401; use [`Consumer::connect_with_token`]).
    pub async fn connect(server: &MockServer) -> Self {
        Self::connect_with_token(server, Some(DEFAULT_TOKEN)).await
    }

    /// Connects to `server`'s consumer endpoint with `Authorization: jwt <token>`, or with no
    /// `Authorization` header at all when `token` is `None` (the client must then send
    /// `InitConnection` first).
    ///
    /// # Panics
    /// When the connection or the WebSocket upgrade fails.
    pub async fn connect_with_token(server: &MockServer, token: Option<&str>) -> Self {
        Self::connect_to(&server.consumer_url(), server.client_tls(), token).await
    }

    /// Connects to any `ws://` or `wss://` URL (a proxy in front of the mock, a replay path),
    /// trusting `tls` for `wss://`, with `Authorization: jwt <token>` when `token` is given.
    ///
    /// # Panics
    /// When the URL is unusable, `wss://` comes without `tls`, or the connection, TLS
    /// handshake or WebSocket upgrade fails. The message has the URL and the whole cause.
    pub async fn connect_to(
        url: &str,
        tls: Option<Arc<ClientConfig>>,
        token: Option<&str>,
    ) -> Self {
        Self::connect_with_headers(url, tls, token, &[]).await
    }

    /// As [`Consumer::connect_to`], with extra upgrade headers sent as given, e.g. the PCS
    /// tutorial's `("Client-Properties", r#"{"type":".ClientProperties",...}"#)`.
    ///
    /// # Panics
    /// As [`Consumer::connect_to`], and when a header cannot be sent as given.
    pub async fn connect_with_headers(
        url: &str,
        tls: Option<Arc<ClientConfig>>,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Self {
        match connect_with_headers(url, tls, token, headers).await {
            Ok(ws) => Self::from_socket(ws),
            Err(err) => panic!("the consumer could not connect to {url}: {}", causes(&err)),
        }
    }

    /// Wraps a socket connected some other way.
    pub fn from_socket(ws: ConsumerSocket) -> Self {
        Self {
            ws,
            pending: VecDeque::new(),
            frame_timeout: DEFAULT_FRAME_TIMEOUT,
            own_requests: 0,
            who: "consumer",
        }
    }

    /// Names the client in failure messages and own request ids (the agent client's "agent").
    pub(crate) fn named(self, who: &'static str) -> Self {
        Self { who, ..self }
    }

    /// Waits up to `timeout` for each frame instead of [`DEFAULT_FRAME_TIMEOUT`].
    pub fn with_frame_timeout(mut self, timeout: Duration) -> Self {
        self.frame_timeout = timeout;
        self
    }

    /// The raw socket, e.g. to send a binary or malformed frame. Frames read from it directly
    /// bypass the ones this client keeps for later waits.
    pub fn socket_mut(&mut self) -> &mut ConsumerSocket {
        &mut self.ws
    }

    /// The raw socket; frames read but not yet claimed are dropped.
    pub fn into_socket(self) -> ConsumerSocket {
        self.ws
    }

    /// Sends `frame` as a text frame.
    ///
    /// # Panics
    /// When the connection is closed or broken.
    pub async fn send(&mut self, frame: &Value) {
        self.send_text(&frame.to_string()).await;
    }

    /// Sends `text` as a text frame exactly as given (it need not be JSON).
    ///
    /// # Panics
    /// When the connection is closed or broken.
    pub async fn send_text(&mut self, text: &str) {
        if let Err(err) = self.ws.send(Message::text(text)).await {
            panic!("the consumer could not send {}: {err}", shorten(text));
        }
    }

    /// Sends a request and returns its response (the frame whose `reqId` is the request's
    /// `id`, or `"0"`, the schema's default, when it has none); notifications read meanwhile
    /// are kept for [`Consumer::notification`].
    ///
    /// # Panics
    /// When `frame` has an `id` that is neither a string nor an integer, or as
    /// [`Consumer::response_to`].
    pub async fn request(&mut self, frame: Value) -> Value {
        let id = match frame.get("id") {
            Some(Value::String(id)) => id.clone(),
            Some(Value::Number(id)) if id.is_u64() || id.is_i64() => id.to_string(),
            None => "0".to_owned(),
            Some(other) => panic!(
                "Consumer::request needs a string or integer \"id\" to find the response, got \
                 {other} in {frame}; use send and response_to(Value::Null) for frames without a \
                 readable id"
            ),
        };
        self.send(&frame).await;
        self.response_to(id).await
    }

    /// Awaits the response to request `request_id` (an integer id is compared as the string
    /// the server answers with; `Value::Null` awaits a response without `reqId`, the error to
    /// a frame without a readable id).
    /// Other frames read meanwhile are kept.
    ///
    /// # Panics
    /// When no such response arrives within the frame timeout (of any frame), or the
    /// connection closes first; the message lists the frames that did arrive.
    pub async fn response_to(&mut self, request_id: impl Into<Value>) -> Value {
        let id = match request_id.into() {
            Value::Number(n) => Value::String(n.to_string()),
            other => other,
        };
        let awaited = format!("the response to request {id}");
        self.frame_matching(&awaited, |f| f["kind"] == "resp" && f["reqId"] == id)
            .await
    }

    /// Awaits the next notification of `notification_type` (e.g.
    /// `ms.MessagingEventNotification`), the oldest kept one first. Other frames read
    /// meanwhile are kept.
    ///
    /// # Panics
    /// As [`Consumer::response_to`].
    pub async fn notification(&mut self, notification_type: &str) -> Value {
        let awaited = format!("a {notification_type} notification");
        self.frame_matching(&awaited, |f| {
            f["kind"] == "notification" && f["type"] == notification_type
        })
        .await
    }

    /// Awaits the oldest frame (kept or new) that `matches`; the others are kept.
    /// `description` says what was awaited in the panic message.
    ///
    /// # Panics
    /// As [`Consumer::response_to`].
    pub async fn frame_matching(
        &mut self,
        description: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(i) = self.pending.iter().position(&matches) {
            if let Some(frame) = self.pending.remove(i) {
                return frame;
            }
        }
        loop {
            let frame = self.read(description).await;
            if matches(&frame) {
                return frame;
            }
            self.pending.push_back(frame);
        }
    }

    /// The next frame in arrival order: the oldest kept one, or else the next from the wire.
    ///
    /// # Panics
    /// As [`Consumer::response_to`].
    pub async fn next_frame(&mut self) -> Value {
        match self.pending.pop_front() {
            Some(frame) => frame,
            None => self.read("any frame").await,
        }
    }

    /// Sends `cm.ConsumerRequestConversation` and returns the new conversation's id (which is
    /// also its MAIN dialog's id).
    ///
    /// # Panics
    /// When the request is refused (e.g. this consumer already has an open conversation), or
    /// as [`Consumer::response_to`].
    pub async fn create_conversation(&mut self) -> String {
        let id = self.own_request_id();
        let created = self.request(request_conversation(id)).await;
        match created["body"]["conversationId"].as_str() {
            Some(conversation) => conversation.to_owned(),
            None => panic!("cm.ConsumerRequestConversation was refused: {created}"),
        }
    }

    /// Awaits the server's Close and returns its code and reason (1005 and `""` when the
    /// frame had no code). Frames read meanwhile are kept.
    ///
    /// # Panics
    /// When the connection ends without a Close frame, or none arrives within the frame
    /// timeout.
    pub async fn closed(&mut self) -> (u16, String) {
        const AWAITED: &str = "a close frame";
        loop {
            match self.next_message(AWAITED).await {
                Message::Close(Some(frame)) => {
                    return (frame.code.into(), frame.reason.to_string())
                }
                Message::Close(None) => return (1005, String::new()),
                Message::Text(text) => {
                    let frame = self.parse(AWAITED, text.as_str());
                    self.pending.push_back(frame);
                }
                _ => {}
            }
        }
    }

    /// Asserts that the connection still answers: a `GetClock` round trip with code 200.
    ///
    /// # Panics
    /// When the answer is not a 200, or as [`Consumer::response_to`].
    pub async fn assert_alive(&mut self) {
        let id = self.own_request_id();
        let clock = serde_json::json!({"kind": "req", "id": id, "type": "GetClock"});
        let response = self.request(clock).await;
        assert_eq!(response["code"], 200, "GetClock answered {response}");
    }

    /// A fresh id for a request this client makes on its own.
    pub(crate) fn own_request_id(&mut self) -> String {
        self.own_requests += 1;
        format!("{}-{}", self.who, self.own_requests)
    }

    /// The next JSON frame from the wire.
    async fn read(&mut self, awaited: &str) -> Value {
        loop {
            match self.next_message(awaited).await {
                Message::Text(text) => return self.parse(awaited, text.as_str()),
                Message::Close(frame) => {
                    let (code, reason) = frame.map_or((1005, String::new()), |f| {
                        (f.code.into(), f.reason.to_string())
                    });
                    self.fail(
                        awaited,
                        format_args!("the server closed the connection ({code} {reason:?})"),
                    )
                }
                Message::Binary(bytes) => self.fail(
                    awaited,
                    format_args!("a binary frame of {} bytes arrived", bytes.len()),
                ),
                // Pings are answered by tungstenite; pongs and raw frames carry nothing here.
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }

    /// The next message from the wire, within the frame timeout.
    async fn next_message(&mut self, awaited: &str) -> Message {
        match tokio::time::timeout(self.frame_timeout, self.ws.next()).await {
            Ok(Some(Ok(message))) => message,
            Ok(Some(Err(err))) => self.fail(awaited, format_args!("the connection failed: {err}")),
            Ok(None) => self.fail(awaited, "the connection ended"),
            Err(_) => self.fail(
                awaited,
                format_args!("no frame arrived within {:?}", self.frame_timeout),
            ),
        }
    }

    fn parse(&self, awaited: &str, text: &str) -> Value {
        serde_json::from_str(text).unwrap_or_else(|err| {
            self.fail(
                awaited,
                format_args!(
                    "a text frame that is not JSON arrived ({err}): {}",
                    shorten(text)
                ),
            )
        })
    }

    /// Panics with what was awaited, what happened, and every frame nobody claimed.
    fn fail(&self, awaited: &str, happened: impl fmt::Display) -> ! {
        let mut message = format!("the {} awaited {awaited}, but {happened}", self.who);
        if self.pending.is_empty() {
            message.push_str("; no other frame arrived unclaimed");
        } else {
            message.push_str(&format!(
                "; {} frame(s) arrived unclaimed:",
                self.pending.len()
            ));
            for frame in &self.pending {
                message.push_str(&format!("\n  {}", shorten(&frame.to_string())));
            }
        }
        panic!("{message}")
    }
}

/// `text`, cut to [`SHOWN_FRAME_CHARS`] characters with `…` when longer.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(SHOWN_FRAME_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}
