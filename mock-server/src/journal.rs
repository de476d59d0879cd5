//! The journal: every receipt with its verdict, and every violation (bad frames and requests
//! included), in arrival order. [`Report`] is its serializable summary, used by
//! `GET /mock/api/report`, `--report FILE` and the library API.
//!
//! This is the one place records are built: live sessions, replayed ones and agent sockets
//! (records say their [`Side`]) hand [`Journal::receipt`] and [`Journal::violation`] the raw
//! parts, and every string and JSON value a client chose goes through `wiretape_fixtures::redact` here, so
//! nothing unscrubbed can reach a record, the report or the control API.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use wiretape_fixtures::redact::{redact_text, redacted_json};

use crate::conn::{ConnCtx, Side};
use crate::model::{now_ms, ReceiptStatus};
use crate::validation::{Checked, Finding, Verdict};

/// One `AcceptStatusEvent` a consumer published, with its verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptRecord {
    /// Position in the journal's receipt list, from 0.
    pub index: usize,
    /// The connection it came on (numbered from 1 in accept order).
    pub connection: u64,
    /// The account the connection was for (`/ws_api/account/{account}/...`).
    pub account: String,
    /// The publishing consumer (empty when an agent published it).
    pub consumer_id: String,
    /// Which socket it came from; absent in JSON for the consumer's.
    #[serde(default, skip_serializing_if = "Side::is_consumer")]
    pub side: Side,
    /// The publishing agent's participant id (`userPid`), on the agent side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// When it arrived (epoch ms).
    pub received_at: u64,
    /// The request id, as answered in `reqId`.
    pub request_id: String,
    /// `body.dialogId`, when it was a string.
    pub dialog_id: Option<String>,
    /// The status, when it is one of the five.
    pub status: Option<ReceiptStatus>,
    /// The sequences, when the list was well-formed.
    pub sequence_list: Vec<u64>,
    /// The `event` object exactly as sent.
    pub event: Value,
    /// Valid, valid with warnings, or invalid.
    pub verdict: Verdict,
    /// Everything found (violations first).
    pub findings: Vec<Finding>,
    /// The sequence the receipt was stored under, when it was stored.
    pub stored_sequence: Option<u64>,
    /// The `code` of the response it got.
    pub response_code: u16,
    /// The `body` of the response it got.
    pub response_body: Value,
}

impl ReceiptRecord {
    /// Whether the verdict is [`Verdict::Invalid`].
    pub fn is_invalid(&self) -> bool {
        self.verdict == Verdict::Invalid
    }
}

impl fmt::Display for ReceiptRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.status.map_or("?", ReceiptStatus::as_str);
        write!(
            f,
            "#{} {status} {:?} in dialog {} (request {}): {:?} -> {}",
            self.index,
            self.sequence_list,
            self.dialog_id.as_deref().unwrap_or("?"),
            self.request_id,
            self.verdict,
            self.response_code,
        )?;
        for finding in &self.findings {
            write!(
                f,
                "\n    {:?} {}: {}",
                finding.severity, finding.rule, finding.message
            )?;
        }
        Ok(())
    }
}

/// One violation: a bad frame, a bad request, or a receipt rule broken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ViolationRecord {
    /// Position in the journal's violation list, from 0.
    pub index: usize,
    /// The connection it came on.
    pub connection: u64,
    /// The account the connection was for.
    pub account: String,
    /// The consumer, once authenticated.
    pub consumer_id: Option<String>,
    /// Which socket it came from; absent in JSON for the consumer's.
    #[serde(default, skip_serializing_if = "Side::is_consumer")]
    pub side: Side,
    /// The agent's participant id (`userPid`), on the agent side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// When (epoch ms).
    pub at: u64,
    /// The request id, when the frame had a usable one.
    pub request_id: Option<String>,
    /// The request type, when the frame had one.
    pub request_type: Option<String>,
    /// What was wrong.
    pub finding: Finding,
    /// The receipt record this belongs to, for receipt violations.
    pub receipt: Option<usize>,
    /// The `code` of the error response, or `null` when the receipt was accepted anyway
    /// (`--lenient`).
    pub response_code: Option<u16>,
}

/// One line: `#0 on connection 1 (request 4): sequence-exists at body.event.sequenceList[0]:
/// sequence 99 does not exist in dialog …`.
impl fmt::Display for ViolationRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} on connection {}", self.index, self.connection)?;
        if let Some(request) = &self.request_id {
            write!(f, " (request {request})")?;
        }
        let finding = &self.finding;
        write!(
            f,
            ": {} at {}: {}",
            finding.rule, finding.field, finding.message
        )
    }
}

/// Counts of a [`Report`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Receipts received.
    pub receipts: usize,
    /// Receipts without findings.
    pub valid: usize,
    /// Receipts with warnings only.
    pub with_warnings: usize,
    /// Invalid receipts.
    pub invalid: usize,
    /// Violations of any kind (receipt violations included).
    pub violations: usize,
    /// Warnings recorded outside receipts (deviations from the schema a lenient mock
    /// tolerated); they are listed with the violations, with severity `warning`.
    #[serde(default)]
    pub warnings: usize,
}

/// Everything the mock validated: what `--report FILE` holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The counts.
    pub summary: Summary,
    /// Every receipt, in arrival order.
    pub receipts: Vec<ReceiptRecord>,
    /// Every violation, in arrival order.
    pub violations: Vec<ViolationRecord>,
    /// The fault rules that fired (`--fault`), with how often; faults never count as
    /// violations and never change the exit code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<wiretape_fixtures::fault::FaultStatus>,
}

/// Text a client chose, through the one redaction policy.
fn text(s: &str) -> String {
    redact_text(s).into_owned()
}

/// A finding through the one redaction policy (findings are built scrubbed; this makes sure).
fn scrub(finding: Finding) -> Finding {
    Finding {
        value: redacted_json(finding.value),
        message: text(&finding.message),
        ..finding
    }
}

impl Report {
    /// Whether any receipt was invalid (what makes `wiretape mock` exit 3).
    pub fn has_invalid_receipts(&self) -> bool {
        self.summary.invalid > 0
    }

    /// Whether a replay saw a client frame that matched nothing, or a recorded client frame
    /// that was never sent.
    pub fn has_replay_deviations(&self) -> bool {
        self.violations.iter().any(|v| {
            matches!(
                v.finding.rule,
                crate::validation::Rule::ReplayMismatch | crate::validation::Rule::ReplayUnsent
            )
        })
    }

    /// Writes the report as pretty JSON (what `--report FILE` holds), replacing the file.
    ///
    /// # Errors
    /// [`Error::Report`](crate::Error::Report) when the file cannot be written.
    pub fn write_to(&self, path: &std::path::Path) -> Result<(), crate::Error> {
        let report_error = |source| crate::Error::Report {
            path: path.to_owned(),
            source,
        };
        let json = serde_json::to_string_pretty(self).map_err(|e| report_error(e.into()))?;
        std::fs::write(path, json + "\n").map_err(report_error)
    }

    /// One line: `3 receipts: 2 valid, 0 valid with warnings, 1 invalid; 1 violations` (then
    /// `, N warnings` when a lenient mock tolerated deviations from the schema).
    pub fn summary_line(&self) -> String {
        let s = &self.summary;
        let mut line = format!(
            "{} receipts: {} valid, {} valid with warnings, {} invalid; {} violations",
            s.receipts, s.valid, s.with_warnings, s.invalid, s.violations
        );
        if s.warnings > 0 {
            line.push_str(&format!(", {} warnings", s.warnings));
        }
        line
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary_line())?;
        for receipt in &self.receipts {
            write!(f, "\n  {receipt}")?;
        }
        for v in self.violations.iter().filter(|v| v.receipt.is_none()) {
            write!(f, "\n  violation {v}")?;
        }
        for fault in &self.faults {
            write!(f, "\n  fault fired {}x: {}", fault.fired, fault.rule)?;
        }
        Ok(())
    }
}

/// One receipt as a session saw it, before it is recorded: the raw parts, unscrubbed.
#[derive(Debug)]
pub(crate) struct NewReceipt<'a> {
    /// The request id as the client sent it.
    pub request_id: &'a str,
    /// `ms.PublishEvent`, or `.ams.ms.PublishEvent` on the agent side.
    pub request_type: &'a str,
    /// `body.dialogId`, when it was a string.
    pub dialog_id: Option<&'a str>,
    /// The `event` object exactly as sent.
    pub event: Value,
    /// What the rules found.
    pub checked: Checked,
    /// The sequence it was stored under, when it was stored.
    pub stored_sequence: Option<u64>,
    /// The response it got: code and body.
    pub response: (u16, Value),
}

/// The journal itself (kept inside the server's shared state).
#[derive(Debug, Default)]
pub(crate) struct Journal {
    receipts: Vec<ReceiptRecord>,
    violations: Vec<ViolationRecord>,
}

impl Journal {
    /// Records a receipt published on `ctx` and one violation record per violation it holds
    /// (with the response code when the receipt was refused); returns its index.
    pub(crate) fn receipt(&mut self, ctx: &ConnCtx, receipt: NewReceipt<'_>) -> usize {
        let index = self.receipts.len();
        let received_at = now_ms();
        let verdict = Verdict::of(&receipt.checked.findings);
        let findings: Vec<Finding> = receipt.checked.findings.into_iter().map(scrub).collect();
        let (response_code, response_body) = receipt.response;
        let accepted = receipt.stored_sequence.is_some();
        let (side, agent_id) = ctx.side();
        let consumer_id = if ctx.agent.is_some() {
            ""
        } else {
            ctx.consumer()
        };
        let record = ReceiptRecord {
            index,
            connection: ctx.id,
            account: ctx.account.clone(),
            consumer_id: consumer_id.to_owned(),
            side,
            agent_id,
            received_at,
            request_id: text(receipt.request_id),
            dialog_id: receipt.dialog_id.map(text),
            status: receipt.checked.status,
            sequence_list: receipt.checked.sequences,
            event: redacted_json(receipt.event),
            verdict,
            findings,
            stored_sequence: receipt.stored_sequence,
            response_code,
            response_body: redacted_json(response_body),
        };
        for finding in record.findings.iter().filter(|f| f.is_violation()) {
            self.violations.push(ViolationRecord {
                index: self.violations.len(),
                connection: record.connection,
                account: record.account.clone(),
                consumer_id: Some(record.consumer_id.clone()).filter(|c| !c.is_empty()),
                side: record.side,
                agent_id: record.agent_id.clone(),
                at: received_at,
                request_id: Some(record.request_id.clone()),
                request_type: Some(receipt.request_type.to_owned()),
                finding: finding.clone(),
                receipt: Some(index),
                response_code: (!accepted).then_some(response_code),
            });
        }
        self.receipts.push(record);
        index
    }

    /// Records a violation that is not a receipt's: a bad frame or request, a replay
    /// deviation, a missing authentication. `response_code` is the code of the error
    /// response, `None` when none was sent.
    pub(crate) fn violation(
        &mut self,
        ctx: &ConnCtx,
        request: (Option<&str>, Option<&str>),
        finding: Finding,
        response_code: Option<u16>,
    ) {
        let (request_id, request_type) = request;
        let (side, agent_id) = ctx.side();
        self.violations.push(ViolationRecord {
            index: self.violations.len(),
            connection: ctx.id,
            account: ctx.account.clone(),
            consumer_id: ctx.consumer_id.clone(),
            side,
            agent_id,
            at: now_ms(),
            request_id: request_id.map(text),
            request_type: request_type.map(text),
            finding: scrub(finding),
            receipt: None,
            response_code,
        });
    }

    /// All receipts.
    pub(crate) fn receipts(&self) -> &[ReceiptRecord] {
        &self.receipts
    }

    /// All violations.
    pub(crate) fn violations(&self) -> &[ViolationRecord] {
        &self.violations
    }

    /// A snapshot report.
    pub(crate) fn report(&self) -> Report {
        let count = |v: Verdict| self.receipts.iter().filter(|r| r.verdict == v).count();
        Report {
            summary: Summary {
                receipts: self.receipts.len(),
                valid: count(Verdict::Valid),
                with_warnings: count(Verdict::ValidWithWarnings),
                invalid: count(Verdict::Invalid),
                violations: self
                    .violations
                    .iter()
                    .filter(|v| v.finding.is_violation())
                    .count(),
                warnings: self
                    .violations
                    .iter()
                    .filter(|v| !v.finding.is_violation())
                    .count(),
            },
            receipts: self.receipts.clone(),
            violations: self.violations.clone(),
            faults: Vec::new(),
        }
    }
}
