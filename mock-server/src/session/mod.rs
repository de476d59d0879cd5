//! The one socket loop: every WebSocket of the mock, live or replayed, from the completed
//! upgrade to the close.
//!
//! What a socket *serves* is a [`Service`]: the live protocol ([`Live`]) or a replayed
//! cassette (`replay::Replayer`). The loop owns everything else and is the same for both:
//! it `select!`s over server shutdown, the socket's queue overflowing, the service's own
//! timer (an InitConnection or idle deadline, the next recorded frame), frames queued for the
//! socket by the hub (notifications), and frames from the client. A [`Reply`] is written to
//! completion, with the frames already queued for the socket, before anything else is looked
//! at, so a response always precedes the notifications its request caused.
//!
//! Fault rules (`--fault`, [`crate::MockServer::inject`]) apply here, once for every service:
//! the loop asks the socket's engine (`wiretape_fixtures::fault`) about each frame in and out
//! and keeps its timer beside the service's ([`faults`]).
//!
//! Bad input never ends the session, except where the WebSocket protocol says so: invalid
//! UTF-8 in a text frame closes with 1007, a message over the size limit with 1009 (both
//! recorded); a service may close after answering (strict mode's 1008).

mod faults;
mod live;

pub(crate) use live::Live;

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc::Receiver;
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::auth::Identity;
use crate::conn::{ConnCtx, Peer};
use crate::handler::{record_violation, truncate_utf8, Reply};
use crate::hub::{Hub, Outgoing};
use crate::validation::{Finding, Rule};
use faults::SocketFaults;
use wiretape_fixtures::fault::{Action, FrameFate};
use wiretape_fixtures::frame::Sender;

/// How long the close handshake may take once the server has sent its Close.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);

/// At most this many queued frames go out behind one reply, so a busy dialog cannot starve
/// the client's own requests.
const QUEUED_PER_REPLY: usize = 64;

/// What a socket serves: one frame (or one timer) in, a [`Reply`] out. Implementations hold
/// no socket; the loop in [`run`] does all I/O.
pub(crate) trait Service {
    /// Who is on the socket (for records of protocol errors).
    fn ctx(&self) -> &ConnCtx;

    /// A text frame from the client.
    fn text(&mut self, hub: &Hub, text: &str) -> Reply;

    /// A binary frame from the client.
    fn binary(&mut self, hub: &Hub, data: &[u8]) -> Reply;

    /// When the service next wants to act by itself, if ever.
    fn deadline(&self) -> Option<Instant>;

    /// The deadline has passed.
    fn on_deadline(&mut self, hub: &Hub, now: Instant) -> Reply;

    /// The client sent something (any frame, pings included).
    fn on_traffic(&mut self, _now: Instant) {}

    /// The connection has ended, however it ended.
    fn on_end(&mut self, _hub: &Hub) {}
}

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

/// Registers the socket with the hub for `peer` (its account; the consumer when the upgrade
/// was authenticated), builds its service for that [`ConnCtx`], and serves it until it closes.
pub(crate) async fn run<S, V>(
    ws: WebSocketStream<S>,
    hub: &Hub,
    peer: Peer,
    service: impl FnOnce(ConnCtx) -> V,
) where
    S: AsyncRead + AsyncWrite + Unpin,
    V: Service,
{
    let (consumer_id, expires_at) = match peer.identity {
        Some(Identity {
            consumer_id,
            expires_at,
        }) => (Some(consumer_id), expires_at),
        None => (None, None),
    };
    let (id, queue, overflow) = hub.register(&peer.account, consumer_id.clone());
    let mut service = service(ConnCtx {
        id,
        account: peer.account,
        consumer_id,
        expires_at,
        client_properties: peer.client_properties,
        agent: peer.agent,
    });
    let faults = SocketFaults::new(hub, id);
    let ending = serve(ws, hub, &mut service, (queue, overflow), faults).await;
    service.on_end(hub);
    hub.unregister(id);
    tracing::debug!(connection = id, ending = %ending, "session ended");
}

async fn serve<S, V>(
    mut ws: WebSocketStream<S>,
    hub: &Hub,
    service: &mut V,
    (mut queue, overflow): (Receiver<Outgoing>, tokio_util::sync::CancellationToken),
    mut faults: SocketFaults,
) -> Ending
where
    S: AsyncRead + AsyncWrite + Unpin,
    V: Service,
{
    loop {
        // A fault a frame made due (`stall on GetClock`) acts before the next frame is read.
        if faults.next_due().is_some_and(|due| due <= Instant::now()) {
            match fire(&mut ws, hub, &mut queue, &mut faults).await {
                Some(ending) => return ending,
                None => continue,
            }
        }
        let deadline = service.deadline();
        let fault_due = faults.next_due();
        let reply = tokio::select! {
            // The server is shutting down.
            () = hub.cancel.cancelled() => Reply::close(1001, "mock server shutting down"),
            // Our queue overflowed: the client does not read fast enough.
            () = overflow.cancelled() => {
                Reply::close(1013, "client too slow: notification queue full")
            }
            // The service's own timer: a deadline, or the next scheduled frame.
            () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                service.on_deadline(hub, Instant::now())
            }
            // A fault rule's time has come (`close`, `drop`, `stall`).
            () = sleep_until(fault_due.unwrap_or_else(Instant::now)), if fault_due.is_some() => {
                match fire(&mut ws, hub, &mut queue, &mut faults).await {
                    Some(ending) => return ending,
                    None => continue,
                }
            }
            // A notification (or other frame) queued for this socket: it and whatever else is
            // queued already go out with one flush.
            Some(Outgoing::Frame(frame)) = queue.recv() => Reply::one(frame),
            // A frame from the client; `None` means the TCP connection is gone.
            incoming = ws.next() => {
                service.on_traffic(Instant::now());
                match incoming {
                    None => return Ending::Gone("connection ended".to_owned()),
                    Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => {
                        match faults.frame(Sender::Client, &message) {
                            FrameFate::Pass => serve_frame(service, hub, &message),
                            FrameFate::Drop(_) => continue,
                            FrameFate::Delay(delay, _) => {
                                tokio::time::sleep(delay).await;
                                serve_frame(service, hub, &message)
                            }
                            FrameFate::Duplicate(_) => {
                                let first = serve_frame(service, hub, &message);
                                if first.close.is_some() {
                                    first
                                } else {
                                    let second = serve_frame(service, hub, &message);
                                    let mut frames = first.frames;
                                    frames.extend(second.frames);
                                    Reply { frames, close: second.close }
                                }
                            }
                        }
                    }
                    // tungstenite answers pings itself; they only count as traffic.
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Ok(Message::Close(_))) => {
                        // tungstenite queued the Close echo; flushing it completes the handshake.
                        let _ = ws.flush().await;
                        return Ending::ClientClosed;
                    }
                    Some(Err(err)) => match protocol_error(hub, service.ctx(), err) {
                        Ok(reply) => reply,
                        Err(ending) => return ending,
                    },
                }
            }
        };
        if let Some(ending) = answer(&mut ws, reply, &mut queue, &mut faults).await {
            return ending;
        }
    }
}

/// Does the connection fault that is due (`close`, `drop`, `stall`); `None` when none fired.
async fn fire<S>(
    ws: &mut WebSocketStream<S>,
    hub: &Hub,
    queue: &mut Receiver<Outgoing>,
    faults: &mut SocketFaults,
) -> Option<Ending>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match faults.due()?.action {
        Action::Close { code, reason } => {
            answer(ws, Reply::close(code, reason), queue, faults).await
        }
        // Dropping the socket cuts the TCP connection, without a close frame.
        Action::Drop => Some(Ending::Gone("fault: dropped".to_owned())),
        Action::Stall => Some(stall(ws, hub).await),
        _ => None,
    }
}

/// A data frame from the client, to the service.
fn serve_frame<V: Service>(service: &mut V, hub: &Hub, message: &Message) -> Reply {
    match message {
        Message::Text(text) => service.text(hub, text.as_str()),
        Message::Binary(data) => service.binary(hub, data),
        _ => Reply::default(),
    }
}

/// A `stall` fault: nothing is sent any more, the socket stays open and what the client sends
/// is read and ignored, as a frozen server would; until the client leaves or the server stops.
async fn stall<S>(ws: &mut WebSocketStream<S>, hub: &Hub) -> Ending
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        tokio::select! {
            () = hub.cancel.cancelled() => {
                return Ending::Gone("stalled (fault) until the server stopped".to_owned())
            }
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Close(_))) => return Ending::ClientClosed,
                Some(Ok(_)) => {}
                None | Some(Err(_)) => {
                    return Ending::Gone("stalled (fault) until the connection ended".to_owned())
                }
            },
        }
    }
}

/// Sends a reply's frames, then the frames already queued for the socket (notifications its
/// request caused come after its response), with one flush; then the reply's close, if any.
async fn answer<S>(
    ws: &mut WebSocketStream<S>,
    reply: Reply,
    queue: &mut Receiver<Outgoing>,
    faults: &mut SocketFaults,
) -> Option<Ending>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let queued = std::iter::from_fn(|| match queue.try_recv() {
        Ok(Outgoing::Frame(frame)) => Some(Message::text(frame)),
        Err(_) => None,
    });
    let closing = reply.close.is_some();
    // A closing reply sends nothing queued after its own frames: the close comes next.
    let queued = queued.take(if closing { 0 } else { QUEUED_PER_REPLY });
    for frame in reply.frames.into_iter().chain(queued) {
        let copies = match faults.frame(Sender::Server, &frame) {
            FrameFate::Pass => 1,
            FrameFate::Drop(_) => 0,
            FrameFate::Duplicate(_) => 2,
            // What went before goes out now; this frame and everything after it waits (the
            // socket's queue, bounded, holds what arrives meanwhile).
            FrameFate::Delay(delay, _) => {
                if let Err(err) = ws.flush().await {
                    return Some(Ending::Gone(err.to_string()));
                }
                tokio::time::sleep(delay).await;
                1
            }
        };
        for _ in 0..copies {
            if let Err(err) = ws.feed(frame.clone()).await {
                return Some(Ending::Gone(err.to_string()));
            }
        }
    }
    if let Err(err) = ws.flush().await {
        return Some(Ending::Gone(err.to_string()));
    }
    let (code, reason) = reply.close?;
    send_close(ws, code, &reason).await;
    Some(Ending::ServerClosed(code, reason))
}

/// What tungstenite refused to decode: invalid UTF-8 is answered with 1007 and a message over
/// the limit with 1009 (both recorded); anything else means the connection is unusable.
fn protocol_error(hub: &Hub, ctx: &ConnCtx, err: WsError) -> Result<Reply, Ending> {
    let (code, reason, detail) = match err {
        WsError::Utf8(detail) => (
            1007,
            "invalid UTF-8 in a text frame".to_owned(),
            format!("invalid UTF-8 in a text frame ({detail})"),
        ),
        WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => {
            let reason = format!("message of {size} bytes exceeds the limit of {max_size} bytes");
            (1009, reason.clone(), reason)
        }
        // The peer vanished or broke the protocol: nothing can be sent any more.
        other => return Err(Ending::Gone(other.to_string())),
    };
    let finding = Finding::violation(Rule::Frame, "frame", Value::Null, detail);
    record_violation(hub, ctx, (None, None), &finding, None);
    Ok(Reply::close(code, reason))
}

/// Sends a Close (reason cut to fit) and waits, briefly, for the client's, so the close
/// handshake completes.
async fn send_close<S>(ws: &mut WebSocketStream<S>, code: u16, reason: &str)
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

/// The idle deadline every service keeps (reference §1.4: the server closes a socket without
/// traffic): moved by every frame, a close 1000 when it passes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Idle {
    limit: Duration,
    deadline: Instant,
}

impl Idle {
    /// A deadline `limit` from now.
    pub(crate) fn new(limit: Duration) -> Self {
        Self {
            limit,
            deadline: Instant::now() + limit,
        }
    }

    /// When the socket closes if nothing arrives.
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Something arrived at `now`.
    pub(crate) fn touch(&mut self, now: Instant) {
        self.deadline = now + self.limit;
    }

    /// The close, once the deadline has passed at `now`.
    pub(crate) fn expired(&self, now: Instant) -> Option<Reply> {
        (now >= self.deadline).then(|| {
            Reply::close(
                1000,
                format!("idle timeout: no traffic for {:?}", self.limit),
            )
        })
    }
}
