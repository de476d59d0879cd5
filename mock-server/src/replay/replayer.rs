//! [`Replayer`]: one replayed connection as a socket's [`Service`]: expects the recorded
//! client frames, releases the recorded server frames, validates receipts against what was
//! sent. The socket loop is the live one (`session`); only what is served differs.
//!
//! Server frames are scheduled in chains: each at its recorded delay (scaled by the speed)
//! after the step it followed; the frames of one exchange are always sent before those of the
//! next, even when a fast client moves on early.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use wiretape_fixtures::cassette::{Frame, Kind};

use super::ledger::{Ledger, CONSUMER};
use super::matcher::{self, short};
use super::script::{Script, Step};
use super::Library;
use crate::conn::ConnCtx;
use crate::handler::{close_reason, record_violation, Reply, CLOSE_POLICY};
use crate::hub::Hub;
use crate::journal::NewReceipt;
use crate::protocol::{response, types, ConsumerRequest, Envelope, PublishKind, ReqId};
use crate::session::Service;
use crate::validation::{self, Finding, Rule};

/// How many recorded client frames ahead a frame may match (the client skipped some).
const LOOKAHEAD: usize = 3;

/// Replays one script on one connection.
pub(crate) struct Replayer {
    library: Arc<Library>,
    script: Arc<Script>,
    ctx: ConnCtx,
    /// The next step not yet scheduled or matched.
    next: usize,
    /// Server steps scheduled, with when they are due.
    pending: VecDeque<(Instant, usize)>,
    /// Recorded request ids → the ids the client actually used.
    ids: HashMap<String, String>,
    ledger: Ledger,
}

impl Replayer {
    /// A replay of `script` for `ctx`; the server frames recorded before the client's first
    /// frame are scheduled from now.
    pub(crate) fn new(library: Arc<Library>, script: Arc<Script>, ctx: ConnCtx) -> Self {
        tracing::debug!(connection = ctx.id, cassette = %script.name, "replaying");
        let mut replayer = Self {
            library,
            script,
            ctx,
            next: 0,
            pending: VecDeque::new(),
            ids: HashMap::new(),
            ledger: Ledger::default(),
        };
        replayer.schedule(Instant::now());
        replayer
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

    /// The first pending server step, as a reply: its frame, or the recorded close.
    fn send_next(&mut self) -> Reply {
        let mut reply = Reply::default();
        self.release_next(&mut reply);
        reply
    }

    /// Adds the first pending server step to `reply`; `false` once the reply closes.
    fn release_next(&mut self, reply: &mut Reply) -> bool {
        let Some((_, index)) = self.pending.pop_front() else {
            return true;
        };
        let script = self.script.clone();
        let Some(Step::Server { frame, .. }) = script.steps.get(index) else {
            return true;
        };
        match self.outgoing(frame) {
            Some(Message::Close(close_frame)) => {
                let code = close_frame.as_ref().map_or(1000, |f| u16::from(f.code));
                let reason = close_frame.map(|f| f.reason.to_string());
                reply.close = Some((code, reason.unwrap_or_default()));
                false
            }
            Some(message) => {
                reply.frames.push(message);
                true
            }
            None => true,
        }
    }

    /// Every pending frame, now (a client that moves on gets the rest of the previous exchange
    /// first); `false` when the recording closed the connection meanwhile.
    fn flush(&mut self, reply: &mut Reply) -> bool {
        while !self.pending.is_empty() {
            if !self.release_next(reply) {
                return false;
            }
        }
        true
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

    /// A text or binary frame from the client: the pending server frames first, then the
    /// frame is matched against the recording.
    fn client_frame(&mut self, hub: &Hub, kind: Kind, payload: &[u8]) -> Reply {
        let mut reply = Reply::default();
        if !self.flush(&mut reply) {
            return reply;
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
            let expected = candidates.first().copied();
            let answer = self.mismatch(hub, expected, kind, payload, actual);
            reply.frames.extend(answer.frames);
            reply.close = answer.close;
            return reply;
        };
        let index = candidates[k];
        for &skipped in &candidates[..k] {
            self.report_unsent_step(hub, skipped, "the client went on with a later frame");
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
            self.validate_receipt(hub, actual);
        }
        self.next = index + 1;
        self.schedule(Instant::now());
        reply
    }

    /// A client frame that matches nothing: one precise error response and a record.
    fn mismatch(
        &mut self,
        hub: &Hub,
        expected: Option<usize>,
        kind: Kind,
        payload: &[u8],
        actual: Option<Value>,
    ) -> Reply {
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
                // What differs first: an error body keeps only its first 128 characters.
                format!(
                    "replay mismatch {why}; expected frame #{number} of {} {shown}, got {got}",
                    self.script.name
                )
            }
            _ => format!(
                "replay mismatch: the recording {} expects no more frames, got {got}",
                self.script.name
            ),
        };
        let receipt_finding = actual.as_ref().and_then(|a| self.validate_receipt(hub, a));
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
        tracing::warn!(connection = self.ctx.id, "{}", finding.message);
        let request = (req_id.as_ref(), req_type.as_deref());
        record_violation(hub, &self.ctx, request, &finding, Some(400));
        // A receipt the validator refuses is answered with the validator's words; any other
        // deviation with the diff.
        let body = receipt_finding.as_ref().unwrap_or(&finding).error_body();
        let resp_type = types::response_type_for(req_type.as_deref().unwrap_or(""));
        let frame = response(req_id.as_ref(), 400, resp_type, Value::String(body));
        let close = hub
            .settings
            .closes_on_violation()
            .then(|| (CLOSE_POLICY, close_reason(&finding)));
        Reply::one(frame).closing(close)
    }

    /// Validates an `AcceptStatusEvent` against what the replay has sent and records it.
    /// Returns the first violation, if any.
    fn validate_receipt(&mut self, hub: &Hub, actual: &Value) -> Option<Finding> {
        let text = actual.to_string();
        let env = Envelope::parse(&text).ok()?;
        let Ok(ConsumerRequest::PublishEvent(publish)) = ConsumerRequest::parse(&env) else {
            return None;
        };
        if publish.kind != PublishKind::Receipt {
            return None;
        }
        let dialog_id = publish.dialog_id.as_ref().and_then(Value::as_str);
        let checked = validation::check_receipt(
            publish.dialog_id.as_ref(),
            &publish.event,
            publish.metadata.as_ref(),
            CONSUMER,
            self.ledger.view(dialog_id),
        );
        let first = checked.findings.iter().find(|f| f.is_violation()).cloned();
        let response = match &first {
            Some(finding) => (400, Value::String(finding.error_body())),
            None => (200, Value::Null),
        };
        let receipt = NewReceipt {
            request_type: "ms.PublishEvent",
            request_id: &env.id.0,
            dialog_id,
            event: Value::Object(publish.event.clone()),
            checked,
            stored_sequence: None,
            response,
        };
        hub.with_state(|s| s.journal.receipt(&self.ctx, receipt));
        first
    }

    /// Records every recorded client frame from step `from` on as never sent.
    fn report_unsent(&self, hub: &Hub, from: usize, why: &str) {
        for index in from..self.script.steps.len() {
            self.report_unsent_step(hub, index, why);
        }
    }

    fn report_unsent_step(&self, hub: &Hub, index: usize, why: &str) {
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
        record_violation(hub, &self.ctx, (None, None), &finding, None);
    }
}

impl Service for Replayer {
    fn ctx(&self) -> &ConnCtx {
        &self.ctx
    }

    fn text(&mut self, hub: &Hub, text: &str) -> Reply {
        self.client_frame(hub, Kind::Text, text.as_bytes())
    }

    fn binary(&mut self, hub: &Hub, data: &[u8]) -> Reply {
        self.client_frame(hub, Kind::Binary, data)
    }

    fn deadline(&self) -> Option<Instant> {
        self.pending.front().map(|(at, _)| *at)
    }

    fn on_deadline(&mut self, _hub: &Hub, _now: Instant) -> Reply {
        self.send_next()
    }

    fn on_end(&mut self, hub: &Hub) {
        self.report_unsent(hub, self.next, "the connection ended before it was sent");
    }
}

/// A request id as text: `1` and `"1"` are the same id.
fn id_text(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
