//! The journal: every receipt with its verdict, and every violation (bad frames and requests
//! included), in arrival order. [`Report`] is its serializable summary, used by
//! `GET /mock/api/report`, `--report FILE` and the library API.
//!
//! This is the one place records are built: live sessions, replayed ones and agent sockets
//! (records say their [`Side`]) hand [`Journal::receipt`] and [`Journal::violation`] the raw
//! parts, and every string and JSON value a client chose goes through `wiretape_fixtures::redact` here, so
//! nothing unscrubbed can reach a record, the report or the control API.
//!
//! Memory stays bounded however long the mock runs: the counters of the [`Summary`] (every
//! verdict, every rule) are always exact, while only the newest records are kept in memory
//! (`window`, `--keep-records N`); older ones are dropped from memory and counted. Nothing is
//! lost: with `--report FILE` every record is streamed to the file the moment it exists
//! (`stream`), and the summary follows at exit.

mod stream;
mod window;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use wiretape_fixtures::redact::{redact_text, redacted_json};

use crate::conn::{ConnCtx, Side};
use crate::model::{now_ms, ReceiptStatus};
use crate::validation::{Checked, Finding, Rule, Verdict};
use stream::ReportStream;
pub use window::Page;
pub(crate) use window::PageRequest;
use window::Window;

/// Records of each kind kept in memory unless told otherwise (`--keep-records`).
pub const DEFAULT_KEEP_RECORDS: usize = 10_000;

/// One `AcceptStatusEvent` a consumer published, with its verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptRecord {
    /// Position among every receipt the mock recorded, from 0 (records dropped from memory
    /// keep their numbers, so this is also the record's place in the `--report` stream).
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
    /// Position among every violation the mock recorded, from 0 (kept when older records are
    /// dropped from memory).
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

/// Counts of a [`Report`]: always exact, whatever was dropped from memory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Violation records (violations and warnings) by rule.
    #[serde(default)]
    pub rules: BTreeMap<Rule, usize>,
    /// The oldest receipt records no longer kept in memory (`--keep-records`); every one is in
    /// the `--report` file. Their indexes are `0..droppedReceipts`.
    #[serde(default)]
    pub dropped_receipts: usize,
    /// The oldest violation records no longer kept in memory.
    #[serde(default)]
    pub dropped_violations: usize,
    /// Closed conversations forgotten, oldest first, beyond `--keep-closed`.
    #[serde(default)]
    pub forgotten_conversations: usize,
}

/// Everything the mock validated: exact counts, and the records still kept in memory (all of
/// them unless more than `--keep-records` arrived: `summary.droppedReceipts` and
/// `summary.droppedViolations` say how many of the oldest are gone from memory).
///
/// `--report FILE` streams the same records as JSON Lines and ends with this report's JSON
/// without its record lists (see [`Report::read_stream`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The counts.
    pub summary: Summary,
    /// The receipts kept in memory, in arrival order.
    #[serde(default)]
    pub receipts: Vec<ReceiptRecord>,
    /// The violations kept in memory, in arrival order.
    #[serde(default)]
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
        [Rule::ReplayMismatch, Rule::ReplayUnsent]
            .iter()
            .any(|rule| self.summary.rules.get(rule).is_some_and(|&n| n > 0))
    }

    /// Reads a `--report FILE` stream back into one report: every record line in order (all
    /// of them, whatever the mock kept in memory), and the summary line when the mock wrote
    /// it at exit. A file without one (a killed mock) gets a summary counted from the records.
    ///
    /// # Errors
    /// [`Error::Report`](crate::Error::Report) when the file cannot be read or a line is not
    /// one the stream writes.
    pub fn read_stream(path: &Path) -> Result<Self, crate::Error> {
        let report_error = |source| crate::Error::Report {
            path: path.to_owned(),
            source,
        };
        let text = std::fs::read_to_string(path).map_err(report_error)?;
        let mut report = Report::default();
        let mut summary = None;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut value: Value =
                serde_json::from_str(line).map_err(|e| report_error(e.into()))?;
            let parsed = if let Some(r) = value.get_mut("receipt") {
                serde_json::from_value(r.take()).map(|r| report.receipts.push(r))
            } else if let Some(v) = value.get_mut("violation") {
                serde_json::from_value(v.take()).map(|v| report.violations.push(v))
            } else {
                serde_json::from_value::<Report>(value).map(|end| summary = Some(end.summary))
            };
            parsed.map_err(|e| report_error(e.into()))?;
        }
        report.summary = summary.unwrap_or_else(|| {
            let mut counts = Counts::default();
            for r in &report.receipts {
                counts.receipt(r.verdict);
            }
            for v in &report.violations {
                counts.violation(&v.finding);
            }
            counts.0
        });
        Ok(report)
    }

    /// Writes the report as pretty JSON (what `GET /mock/api/report` answers), replacing the
    /// file.
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

/// The exact counts, kept as records arrive.
#[derive(Debug, Default)]
struct Counts(Summary);

impl Counts {
    fn receipt(&mut self, verdict: Verdict) {
        let s = &mut self.0;
        s.receipts += 1;
        match verdict {
            Verdict::Valid => s.valid += 1,
            Verdict::ValidWithWarnings => s.with_warnings += 1,
            Verdict::Invalid => s.invalid += 1,
        }
    }

    fn violation(&mut self, finding: &Finding) {
        let s = &mut self.0;
        if finding.is_violation() {
            s.violations += 1;
        } else {
            s.warnings += 1;
        }
        *s.rules.entry(finding.rule).or_default() += 1;
    }
}

/// The journal itself (kept inside the server's shared state).
#[derive(Debug)]
pub(crate) struct Journal {
    receipts: Window<ReceiptRecord>,
    violations: Window<ViolationRecord>,
    counts: Counts,
    /// `--report FILE`, while open.
    stream: Option<ReportStream>,
}

impl Default for Journal {
    fn default() -> Self {
        Self::new(DEFAULT_KEEP_RECORDS, None)
    }
}

impl Journal {
    /// A journal keeping the newest `keep` records of each kind in memory, and streaming every
    /// record to `report` when given (the file is created or truncated now).
    ///
    /// # Errors
    /// [`Error::Report`](crate::Error::Report) when the report file cannot be created.
    pub(crate) fn open(keep: usize, report: Option<&Path>) -> Result<Self, crate::Error> {
        let stream = report.map(ReportStream::create).transpose()?;
        Ok(Self::new(keep, stream))
    }

    fn new(keep: usize, stream: Option<ReportStream>) -> Self {
        Self {
            receipts: Window::new(keep),
            violations: Window::new(keep),
            counts: Counts::default(),
            stream,
        }
    }

    /// Keeps a violation record: counted, streamed, then in memory.
    fn push_violation(&mut self, record: ViolationRecord) {
        self.counts.violation(&record.finding);
        if let Some(stream) = &mut self.stream {
            stream.violation(&record);
        }
        self.violations.push(record);
    }

    /// Records a receipt published on `ctx` and one violation record per violation it holds
    /// (with the response code when the receipt was refused); returns its index. The receipt
    /// line precedes its violations' lines in the report stream.
    pub(crate) fn receipt(&mut self, ctx: &ConnCtx, receipt: NewReceipt<'_>) -> usize {
        let index = self.receipts.next_index();
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
        self.counts.receipt(record.verdict);
        if let Some(stream) = &mut self.stream {
            stream.receipt(&record);
        }
        for finding in record.findings.iter().filter(|f| f.is_violation()) {
            self.push_violation(ViolationRecord {
                index: self.violations.next_index(),
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
        self.push_violation(ViolationRecord {
            index: self.violations.next_index(),
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

    /// The receipts kept in memory, oldest first.
    pub(crate) fn receipts(&self) -> impl Iterator<Item = &ReceiptRecord> {
        self.receipts.iter()
    }

    /// The violations kept in memory, oldest first.
    pub(crate) fn violations(&self) -> impl Iterator<Item = &ViolationRecord> {
        self.violations.iter()
    }

    /// A page of the receipts kept in memory (`GET /mock/api/receipts`).
    pub(crate) fn receipt_page(
        &self,
        request: PageRequest,
        keeps: impl Fn(&ReceiptRecord) -> bool,
    ) -> Page<ReceiptRecord> {
        self.receipts.page(request, keeps)
    }

    /// A page of the violations kept in memory (`GET /mock/api/violations`).
    pub(crate) fn violation_page(
        &self,
        request: PageRequest,
        keeps: impl Fn(&ViolationRecord) -> bool,
    ) -> Page<ViolationRecord> {
        self.violations.page(request, keeps)
    }

    /// Counts a closed conversation forgotten beyond `--keep-closed`.
    pub(crate) fn conversation_forgotten(&mut self) {
        self.counts.0.forgotten_conversations += 1;
    }

    /// The exact counts, with what was dropped from memory.
    pub(crate) fn summary(&self) -> Summary {
        Summary {
            dropped_receipts: self.receipts.dropped(),
            dropped_violations: self.violations.dropped(),
            ..self.counts.0.clone()
        }
    }

    /// A snapshot report: the counts and the records kept in memory.
    pub(crate) fn report(&self) -> Report {
        Report {
            summary: self.summary(),
            receipts: self.receipts.iter().cloned().collect(),
            violations: self.violations.iter().cloned().collect(),
            faults: Vec::new(),
        }
    }

    /// Ends the `--report` stream, if any, with its summary line; later records are kept in
    /// memory only.
    ///
    /// # Errors
    /// [`Error::Report`](crate::Error::Report) when any line could not be written.
    pub(crate) fn finish(
        &mut self,
        faults: Vec<wiretape_fixtures::fault::FaultStatus>,
    ) -> Result<(), crate::Error> {
        match self.stream.take() {
            Some(stream) => stream.finish(&Report {
                summary: self.summary(),
                faults,
                ..Report::default()
            }),
            None => Ok(()),
        }
    }
}

/// A journal dropped with its stream still open (a library user who never called
/// `MockServer::finish_report`) still ends the file with its summary line (without the
/// faults, which the journal does not see).
impl Drop for Journal {
    fn drop(&mut self) {
        if let Err(err) = self.finish(Vec::new()) {
            tracing::error!(cause = %err, "the report stream could not be finished");
        }
    }
}
