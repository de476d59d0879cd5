//! One replayed connection: expects the recorded client frames, releases the recorded server
//! frames, validates receipts against what was sent.
//!
//! The loop `select!`s over: server shutdown, the next scheduled server frame, and frames from
//! the client. Server frames are scheduled in chains: each at its recorded delay (scaled by the
//! speed) after the step it followed; the frames of one exchange are always sent before those
//! of the next, even when a fast client moves on early.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::WebSocketStream;
use wiretape_fixtures::cassette::{Frame, Kind};

use super::ledger::{Ledger, CONSUMER};
use super::matcher::{self, short};
use super::script::{Script, Step};
use super::Library;
use crate::config::Strictness;
use crate::handler::{close_reason, CLOSE_POLICY};
use crate::hub::Hub;
use crate::journal::{ReceiptRecord, ViolationRecord};
use crate::model::now_ms;
use crate::protocol::{response, types, ConsumerRequest, Envelope, PublishKind, ReqId};
use crate::session::send_close;
use crate::validation::{self, Finding, Rule, Verdict};

/// How many recorded client frames ahead a frame may match (the client skipped some).
const LOOKAHEAD: usize = 3;

/// Replays `script` on an upgraded socket until either side closes.
pub(crate) async fn run<S>(
    ws: WebSocketStream<S>,
    hub: Arc<Hub>,
    library: Arc<Library>,
    script: Arc<Script>,
    consumer_id: Option<String>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (conn, _queue, _overflow) = hub.register(consumer_id.clone());
    tracing::debug!(connection = conn, cassette = %script.name, "replaying");
    let mut replayer = Replayer {
        hub: &hub,
        library: &library,
        script: &script,
        conn,
        consumer: consumer_id,
        next: 0,
        pending: VecDeque::new(),
        ids: HashMap::new(),
        ledger: Ledger::default(),
    };
    replayer.schedule(Instant::now());
    replayer.serve(ws).await;
    hub.unregister(conn);
}

struct Replayer<'a> {
    hub: &'a Hub,
    library: &'a Library,
    script: &'a Script,
    conn: u64,
    consumer: Option<String>,
    /// The next step not yet scheduled or matched.
    next: usize,
    /// Server steps scheduled, with when they are due.
    pending: VecDeque<(Instant, usize)>,
    /// Recorded request ids → the ids the client actually used.
    ids: HashMap<String, String>,
    ledger: Ledger,
}

/// What the loop does after handling something.
enum Flow {
    Continue,
    Stop,
}

impl Replayer<'_> {
    async fn serve<S>(&mut self, mut ws: WebSocketStream<S>)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        loop {
            let due = self.pending.front().map(|(at, _)| *at);
            let flow = tokio::select! {
                // The server is shutting down.
                () = self.hub.cancel.cancelled() => {
                    send_close(&mut ws, 1001, "mock server shutting down").await;
                    Flow::Stop
                }
                // The next recorded server frame is due.
                () = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    self.send_next(&mut ws).await
                }
                // A frame from the client; `None` means the connection is gone.
                incoming = ws.next() => match incoming {
                    Some(Ok(Message::Text(text))) => {
                        self.client_frame(&mut ws, Kind::Text, text.as_bytes()).await
                    }
                    Some(Ok(Message::Binary(data))) => {
                        self.client_frame(&mut ws, Kind::Binary, &data).await
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Flow::Continue,
                    Some(Ok(Message::Close(_))) => {
                        let _ = ws.flush().await;
                        Flow::Stop
                    }
                    Some(Err(_)) | None => Flow::Stop,
                },
            };
            if let Flow::Stop = flow {
                break;
            }
        }
        self.report_unsent(self.next, "the connection ended before it was sent");
    }

    /// Schedules the server steps that follow `next`, chained from `from`.
    fn schedule(&mut self, from: Instant) {
        let mut at = from;
        while let Some(Step::Server { after_ms, .. }) = self.script.steps.get(self.next) {
            at += self.library.speed.scale(*after_ms);
            self.pending.push_back((at, self.next));
            self.next += 1;
        }
    }

    /// Sends the first pending server step.
    async fn send_next<S>(&mut self, ws: &mut WebSocketStream<S>) -> Flow
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let Some((_, index)) = self.pending.pop_front() else {
            return Flow::Continue;
        };
        let Some(Step::Server { frame, .. }) = self.script.steps.get(index) else {
            return Flow::Continue;
        };
        let Some(message) = self.outgoing(frame) else {
            return Flow::Continue;
        };
        if let Message::Close(close_frame) = message {
            let code = close_frame.as_ref().map_or(1000, |f| u16::from(f.code));
            let reason = close_frame
                .map(|f| f.reason.to_string())
                .unwrap_or_default();
            send_close(ws, code, &reason).await;
            return Flow::Stop;
        }
        match ws.send(message).await {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Stop,
        }
    }

    /// Sends every pending frame now (a client that moves on gets the rest of the previous
    /// exchange first).
    async fn flush<S>(&mut self, ws: &mut WebSocketStream<S>) -> Flow
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        while !self.pending.is_empty() {
            if let Flow::Stop = self.send_next(ws).await {
                return Flow::Stop;
            }
        }
        Flow::Continue
    }

    /// The message for a recorded server frame: `reqId` rewritten to the client's id, the
    /// exact recorded bytes otherwise. Notes what is sent in the ledger.
    fn outgoing(&mut self, frame: &Frame) -> Option<Message> {
        match frame.kind {
            Kind::Text => {
                let Some(json) = &frame.json else {
                    return Some(Message::text(frame.text.clone().unwrap_or_default()));
                };
                self.ledger.observe(json);
                let recorded = json.get("reqId").map(id_text);
                let actual = recorded.as_ref().and_then(|r| self.ids.get(r));
                match actual {
                    Some(actual) if Some(actual) != recorded.as_ref() => {
                        let mut json = json.clone();
                        json["reqId"] = Value::String(actual.clone());
                        Some(Message::text(json.to_string()))
                    }
                    _ => Some(Message::text(
                        frame.payload_text().unwrap_or_else(|| json.to_string()),
                    )),
                }
            }
            Kind::Binary => {
                let bytes = frame.payload_bytes().ok()?;
                Some(Message::Binary(Bytes::from(bytes)))
            }
            Kind::Close => Some(Message::Close(frame.code.map(|code| CloseFrame {
                code: CloseCode::from(code),
                reason: frame.reason.clone().unwrap_or_default().into(),
            }))),
            Kind::Ping | Kind::Pong => None,
        }
    }

    /// A text or binary frame from the client.
    async fn client_frame<S>(
        &mut self,
        ws: &mut WebSocketStream<S>,
        kind: Kind,
        payload: &[u8],
    ) -> Flow
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        if let Flow::Stop = self.flush(ws).await {
            return Flow::Stop;
        }
        let actual: Option<Value> = match kind {
            Kind::Text => serde_json::from_slice(payload).ok(),
            _ => None,
        };
        let candidates: Vec<usize> = (self.next..self.script.steps.len())
            .filter(|&i| matches!(self.script.steps[i], Step::Client { .. }))
            .take(LOOKAHEAD)
            .collect();
        let matched = candidates.iter().position(|&i| {
            let Step::Client { frame, .. } = &self.script.steps[i] else {
                return false;
            };
            matcher::compare(frame, kind, payload, self.library.matching).is_ok()
        });
        let Some(k) = matched else {
            return self
                .mismatch(ws, candidates.first().copied(), kind, payload, actual)
                .await;
        };
        let index = candidates[k];
        for &skipped in &candidates[..k] {
            self.report_unsent_step(skipped, "the client went on with a later frame");
        }
        if let (Step::Client { frame, .. }, Some(actual)) = (&self.script.steps[index], &actual) {
            if let (Some(recorded), Some(used)) = (
                frame.json.as_ref().and_then(|j| j.get("id")),
                actual.get("id"),
            ) {
                self.ids.insert(id_text(recorded), id_text(used));
            }
        }
        if let Some(actual) = &actual {
            self.validate_receipt(actual);
        }
        self.next = index + 1;
        self.schedule(Instant::now());
        Flow::Continue
    }

    /// A client frame that matches nothing: one precise error response and a record.
    async fn mismatch<S>(
        &mut self,
        ws: &mut WebSocketStream<S>,
        expected: Option<usize>,
        kind: Kind,
        payload: &[u8],
        actual: Option<Value>,
    ) -> Flow
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let got = match &actual {
            Some(json) => short(json),
            None => format!("a {kind:?} frame of {} bytes", payload.len()).to_lowercase(),
        };
        let message = match expected.map(|i| &self.script.steps[i]) {
            Some(Step::Client { number, frame }) => {
                let why = matcher::compare(frame, kind, payload, self.library.matching)
                    .err()
                    .map(|m| m.to_string())
                    .unwrap_or_default();
                let shown = frame
                    .json
                    .as_ref()
                    .map_or_else(|| frame.payload_text().unwrap_or_default(), short);
                format!(
                    "replay mismatch: expected frame #{number} of {} {shown}, got {got} ({why})",
                    self.script.name
                )
            }
            _ => format!(
                "replay mismatch: the recording {} expects no more frames, got {got}",
                self.script.name
            ),
        };
        let receipt_finding = actual.as_ref().and_then(|a| self.validate_receipt(a));
        let finding = Finding::violation(
            Rule::ReplayMismatch,
            "frame",
            actual.clone().unwrap_or(Value::Null),
            message,
        );
        let req_id = actual
            .as_ref()
            .and_then(|a| a.get("id"))
            .map(|id| ReqId(id_text(id)));
        let req_type = actual
            .as_ref()
            .and_then(|a| a.get("type"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        tracing::warn!(connection = self.conn, "{}", finding.message);
        self.record(&finding, req_id.as_ref(), req_type.as_deref(), Some(400));
        // A receipt the validator refuses is answered with the validator's words; any other
        // deviation with the diff.
        let body = receipt_finding.as_ref().unwrap_or(&finding).error_body();
        let resp_type = types::response_type_for(req_type.as_deref().unwrap_or(""));
        let frame = response(req_id.as_ref(), 400, resp_type, Value::String(body));
        if ws.send(Message::text(frame)).await.is_err() {
            return Flow::Stop;
        }
        if self.hub.settings.strictness == Strictness::Strict {
            send_close(ws, CLOSE_POLICY, &close_reason(&finding)).await;
            return Flow::Stop;
        }
        Flow::Continue
    }

    /// Validates an `AcceptStatusEvent` against what the replay has sent and records it.
    /// Returns the first violation, if any.
    fn validate_receipt(&mut self, actual: &Value) -> Option<Finding> {
        let text = actual.to_string();
        let env = Envelope::parse(&text).ok()?;
        let Ok(ConsumerRequest::PublishEvent(publish)) = ConsumerRequest::parse(&env) else {
            return None;
        };
        if publish.kind != PublishKind::Receipt {
            return None;
        }
        let dialog_id = publish
            .dialog_id
            .as_ref()
            .and_then(Value::as_str)
            .map(str::to_owned);
        let checked = validation::check_receipt(
            publish.dialog_id.as_ref(),
            &publish.event,
            publish.metadata.as_ref(),
            CONSUMER,
            self.ledger.view(dialog_id.as_deref()),
        );
        let verdict = Verdict::of(&checked.findings);
        let first = checked.findings.iter().find(|f| f.is_violation()).cloned();
        let record = ReceiptRecord {
            index: 0,
            connection: self.conn,
            consumer_id: self.consumer.clone().unwrap_or_else(|| CONSUMER.to_owned()),
            received_at: now_ms(),
            request_id: env.id.0.clone(),
            dialog_id,
            status: checked.status,
            sequence_list: checked.sequences,
            event: Value::Object(publish.event),
            verdict,
            findings: checked.findings,
            stored_sequence: None,
            response_code: if first.is_some() { 400 } else { 200 },
            response_body: first
                .as_ref()
                .map_or(Value::Null, |f| Value::String(f.error_body())),
        };
        self.hub
            .with_state(|s| s.journal.record_receipt(record, first.is_none()));
        first
    }

    fn record(
        &self,
        finding: &Finding,
        id: Option<&ReqId>,
        req_type: Option<&str>,
        code: Option<u16>,
    ) {
        let record = ViolationRecord {
            index: 0,
            connection: self.conn,
            consumer_id: self.consumer.clone(),
            at: now_ms(),
            request_id: id.map(|i| i.0.clone()),
            request_type: req_type.map(str::to_owned),
            finding: finding.clone(),
            receipt: None,
            response_code: code,
        };
        self.hub.with_state(|s| s.journal.record_violation(record));
    }

    /// Records every recorded client frame from step `from` on as never sent.
    fn report_unsent(&self, from: usize, why: &str) {
        for index in from..self.script.steps.len() {
            self.report_unsent_step(index, why);
        }
    }

    fn report_unsent_step(&self, index: usize, why: &str) {
        let Some(Step::Client { number, frame }) = self.script.steps.get(index) else {
            return;
        };
        let shown = frame
            .json
            .as_ref()
            .map_or_else(|| frame.payload_text().unwrap_or_default(), short);
        let message = format!(
            "frame #{number} of {} was never sent by the client ({why}): {shown}",
            self.script.name
        );
        let finding = Finding::violation(
            Rule::ReplayUnsent,
            "frame",
            frame.json.clone().unwrap_or(Value::Null),
            message,
        );
        self.record(&finding, None, None, None);
    }
}

/// A request id as text: `1` and `"1"` are the same id.
fn id_text(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
