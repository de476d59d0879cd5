//! One consumer WebSocket, from the completed upgrade to the close.
//!
//! The loop `select!`s over: server shutdown, the socket's queue overflowing, the
//! InitConnection deadline (header-less clients only), the idle deadline, frames queued for the
//! socket (notifications), and frames from the client. A request is served to completion (its
//! response frames written) before the next queued notification, so a response always
//! precedes the notifications its request caused.
//!
//! Bad input never ends the session, except where the WebSocket protocol says so: invalid
//! UTF-8 in a text frame closes with 1007, a message over the size limit with 1009; strict
//! mode closes with 1008 after answering a violation.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::handler::{self, truncate_utf8, ConnCtx, Reply, CLOSE_UNAUTHORIZED};
use crate::hub::{Hub, Outgoing};
use crate::validation::{Finding, Rule};

/// How long the close handshake may take once the server has sent its Close.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);

/// How a session ended (logged at debug).
#[derive(Debug)]
enum Ending {
    ClientClosed,
    ServerClosed(u16, String),
    Gone(String),
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::ClientClosed => f.write_str("closed by the client"),
            Ending::ServerClosed(code, reason) => write!(f, "closed by the mock: {code} {reason}"),
            Ending::Gone(why) => write!(f, "connection lost: {why}"),
        }
    }
}

/// Serves one upgraded socket until it closes. `consumer_id` is set when the upgrade carried a
/// valid `Authorization` header.
pub(crate) async fn run<S>(ws: WebSocketStream<S>, hub: Arc<Hub>, consumer_id: Option<String>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (id, queue, overflow) = hub.register(consumer_id.clone());
    let mut ctx = ConnCtx { id, consumer_id };
    let ending = serve(ws, &hub, &mut ctx, queue, overflow).await;
    hub.unregister(id);
    tracing::debug!(connection = id, ending = %ending, "session ended");
}

async fn serve<S>(
    mut ws: WebSocketStream<S>,
    hub: &Hub,
    ctx: &mut ConnCtx,
    mut queue: tokio::sync::mpsc::Receiver<Outgoing>,
    overflow: tokio_util::sync::CancellationToken,
) -> Ending
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let timeouts = hub.settings.timeouts;
    let init_deadline = Instant::now() + timeouts.init_connection;
    let mut idle_deadline = Instant::now() + timeouts.idle;
    loop {
        let unauthenticated = ctx.consumer_id.is_none();
        tokio::select! {
            // The server is shutting down.
            () = hub.cancel.cancelled() => {
                return close(ws, 1001, "mock server shutting down").await;
            }
            // Our queue overflowed: the client does not read fast enough.
            () = overflow.cancelled() => {
                return close(ws, 1013, "client too slow: notification queue full").await;
            }
            // A header-less client did not authenticate in time (reference §1.2, option B).
            () = sleep_until(init_deadline), if unauthenticated => {
                let reason = format!(
                    "InitConnection with a ConsumerAuthentication header not received within {:?}",
                    timeouts.init_connection
                );
                record(hub, ctx, Rule::Auth, "InitConnection", &reason);
                return close(ws, CLOSE_UNAUTHORIZED, &reason).await;
            }
            // No traffic at all for the idle timeout (reference §1.4).
            () = sleep_until(idle_deadline) => {
                let reason = format!("idle timeout: no traffic for {:?}", timeouts.idle);
                return close(ws, 1000, &reason).await;
            }
            // A notification (or other frame) queued for this socket: it and whatever else is
            // queued already go out with one flush.
            Some(Outgoing::Frame(frame)) = queue.recv() => {
                let reply = Reply { frames: vec![frame], close: None };
                if let Some(ending) = answer(&mut ws, reply, &mut queue).await {
                    return ending;
                }
            }
            // A frame from the client; `None` means the TCP connection is gone.
            incoming = ws.next() => {
                idle_deadline = Instant::now() + timeouts.idle;
                let reply = match incoming {
                    None => return Ending::Gone("connection ended".to_owned()),
                    Some(Ok(Message::Text(text))) => handler::handle_text(hub, ctx, text.as_str()),
                    Some(Ok(Message::Binary(data))) => handler::handle_binary(hub, ctx, data.len()),
                    // tungstenite answers pings itself; they only count as traffic.
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Ok(Message::Close(_))) => {
                        // tungstenite queued the Close echo; flushing it completes the handshake.
                        let _ = ws.flush().await;
                        return Ending::ClientClosed;
                    }
                    Some(Err(err)) => return protocol_error(ws, hub, ctx, err).await,
                };
                if let Some(ending) = answer(&mut ws, reply, &mut queue).await {
                    return ending;
                }
            }
        }
    }
}

/// Sends a reply's frames, then the frames already queued for the socket (notifications its
/// request caused come after its response), with one flush; then the reply's close, if any.
async fn answer<S>(
    ws: &mut WebSocketStream<S>,
    reply: Reply,
    queue: &mut tokio::sync::mpsc::Receiver<Outgoing>,
) -> Option<Ending>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    for frame in reply.frames {
        if let Err(err) = ws.feed(Message::text(frame)).await {
            return Some(Ending::Gone(err.to_string()));
        }
    }
    // Bounded, so a busy dialog cannot starve the client's own requests.
    for _ in 0..64 {
        let Ok(Outgoing::Frame(frame)) = queue.try_recv() else {
            break;
        };
        if let Err(err) = ws.feed(Message::text(frame)).await {
            return Some(Ending::Gone(err.to_string()));
        }
    }
    if let Err(err) = ws.flush().await {
        return Some(Ending::Gone(err.to_string()));
    }
    let (code, reason) = reply.close?;
    Some(close_ref(ws, code, &reason).await)
}

/// Answers what tungstenite refused to decode: 1007 for invalid UTF-8, 1009 for a message
/// over the limit; anything else means the connection is unusable.
async fn protocol_error<S>(ws: WebSocketStream<S>, hub: &Hub, ctx: &ConnCtx, err: WsError) -> Ending
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match err {
        WsError::Utf8(detail) => {
            let reason = format!("invalid UTF-8 in a text frame ({detail})");
            record(hub, ctx, Rule::Frame, "frame", &reason);
            close(ws, 1007, "invalid UTF-8 in a text frame").await
        }
        WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => {
            let reason = format!("message of {size} bytes exceeds the limit of {max_size} bytes");
            record(hub, ctx, Rule::Frame, "frame", &reason);
            close(ws, 1009, &reason).await
        }
        other => Ending::Gone(other.to_string()),
    }
}

fn record(hub: &Hub, ctx: &ConnCtx, rule: Rule, field: &str, message: &str) {
    let finding = Finding::violation(rule, field, serde_json::Value::Null, message);
    handler::record_violation(hub, ctx, None, None, &finding, None);
}

async fn close<S>(mut ws: WebSocketStream<S>, code: u16, reason: &str) -> Ending
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    close_ref(&mut ws, code, reason).await
}

/// Sends a Close and waits (briefly) for the client's Close so the handshake completes.
async fn close_ref<S>(ws: &mut WebSocketStream<S>, code: u16, reason: &str) -> Ending
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    send_close(ws, code, reason).await;
    Ending::ServerClosed(code, reason.to_owned())
}

/// Sends a Close (reason cut to fit) and waits, briefly, for the client's, so the close
/// handshake completes. Shared with the replay session.
pub(crate) async fn send_close<S>(ws: &mut WebSocketStream<S>, code: u16, reason: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: truncate_utf8(reason.to_owned(), 123).into(),
    };
    if ws.close(Some(frame)).await.is_ok() {
        let drain = async { while let Some(Ok(_)) = ws.next().await {} };
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE, drain).await;
    }
}
