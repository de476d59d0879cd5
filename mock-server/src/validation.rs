//! Receipt validation: the rules every consumer `AcceptStatusEvent` is checked against.
//!
//! [`check_receipt`] is pure: it reads the publish request and a read-only view of the dialog
//! the receipt names, and returns [`Finding`]s. What happens next (a 400 response, a lenient
//! acceptance, a 1008 close) is decided by the caller from the findings and the
//! [`Strictness`](crate::Strictness). The rules and the reasoning behind each are listed in
//! `docs/protocol-decisions.md`.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::{Dialog, ReceiptStatus};

/// The largest sequence a receipt may name: 2^53 - 1, the largest integer every JSON parser
/// (JavaScript included) represents exactly.
pub const MAX_SAFE_SEQUENCE: u64 = (1 << 53) - 1;

/// The most sequences one receipt may list. Larger lists are recorded as a violation (the live
/// service would most plausibly accept them, so `--lenient` does).
pub const MAX_SEQUENCES: usize = 1000;

/// At most this many findings are kept per receipt, so that a 10,000-entry list does not
/// produce 10,000 records.
const MAX_FINDINGS: usize = 20;

/// A named rule a frame, request or receipt can break. The kebab-case name (its `Display` and
/// its JSON form) appears in error responses, records and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// The WebSocket frame is not a JSON object in a text frame.
    Frame,
    /// The envelope lacks `kind`, `id` or `type`, or one of them has the wrong type.
    Envelope,
    /// The request `type` is not one the consumer endpoint knows.
    UnknownType,
    /// Authentication is missing or wrong, or a request came before `InitConnection`.
    Auth,
    /// The request body does not have the documented shape.
    Body,
    /// The request is not allowed in the conversation's current state.
    State,
    /// A receipt's `dialogId` or `event` is missing or not of the right type.
    ReceiptShape,
    /// A receipt's `status` is not ACCEPT, READ, ACCESS, NACK or ACTION (case-sensitive).
    Status,
    /// An ACTION receipt lacks the top-level `metadata` it must carry.
    ActionMetadata,
    /// `sequenceList` is not a list of non-negative integers up to 2^53 - 1.
    SequenceList,
    /// `sequenceList` is empty.
    SequenceListEmpty,
    /// `sequenceList` names more than [`MAX_SEQUENCES`] sequences.
    SequenceLimit,
    /// The dialog does not exist or does not belong to this consumer's conversations.
    Dialog,
    /// The conversation is closed.
    ConversationOpen,
    /// A listed sequence does not exist in the dialog.
    SequenceExists,
    /// A listed sequence names the consumer's own event: receipts acknowledge the other side.
    OtherSide,
    /// A listed sequence names an event that is not a message (e.g. another receipt).
    AcknowledgesMessage,
    /// Warning: a READ before any ACCEPT of that sequence, or an ACCEPT after its READ.
    Transition,
    /// Warning: the same status was already published for that sequence (stored again).
    Repeat,
    /// Warning: the same sequence appears twice in one list.
    DuplicateSequence,
}

impl Rule {
    /// The kebab-case name of the rule.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Frame => "frame",
            Rule::Envelope => "envelope",
            Rule::UnknownType => "unknown-type",
            Rule::Auth => "auth",
            Rule::Body => "body",
            Rule::State => "state",
            Rule::ReceiptShape => "receipt-shape",
            Rule::Status => "status",
            Rule::ActionMetadata => "action-metadata",
            Rule::SequenceList => "sequence-list",
            Rule::SequenceListEmpty => "sequence-list-empty",
            Rule::SequenceLimit => "sequence-limit",
            Rule::Dialog => "dialog",
            Rule::ConversationOpen => "conversation-open",
            Rule::SequenceExists => "sequence-exists",
            Rule::OtherSide => "other-side",
            Rule::AcknowledgesMessage => "acknowledges-message",
            Rule::Transition => "transition",
            Rule::Repeat => "repeat",
            Rule::DuplicateSequence => "duplicate-sequence",
        }
    }

    /// Whether the live service most plausibly accepts a receipt breaking only rules like this
    /// one (what `--lenient` imitates). Structural errors are rejected by its schema
    /// validation; semantic ones (unknown or own sequences) are most likely stored as sent.
    pub fn live_service_accepts(self) -> bool {
        matches!(
            self,
            Rule::ActionMetadata
                | Rule::SequenceListEmpty
                | Rule::SequenceLimit
                | Rule::SequenceExists
                | Rule::OtherSide
                | Rule::AcknowledgesMessage
                | Rule::Transition
                | Rule::Repeat
                | Rule::DuplicateSequence
        )
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The input is invalid: by default it is answered with an error.
    Violation,
    /// Accepted, but worth a look.
    Warning,
}

/// One broken rule: which, where (`field`, a path into the request) and the offending value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule.
    pub rule: Rule,
    /// Violation or warning.
    pub severity: Severity,
    /// Path of the offending field, e.g. `body.event.sequenceList[0]`.
    pub field: String,
    /// The offending value (`null` when the field is missing).
    pub value: Value,
    /// A sentence naming the field and the value, e.g. `sequence 99 does not exist in dialog …`.
    pub message: String,
}

impl Finding {
    /// A violation of `rule`.
    pub fn violation(
        rule: Rule,
        field: impl Into<String>,
        value: Value,
        message: impl Into<String>,
    ) -> Self {
        Self {
            rule,
            severity: Severity::Violation,
            field: field.into(),
            value,
            message: message.into(),
        }
    }

    /// A warning about `rule`.
    pub fn warning(
        rule: Rule,
        field: impl Into<String>,
        value: Value,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::violation(rule, field, value, message)
        }
    }

    /// Whether this is a violation (not a warning).
    pub fn is_violation(&self) -> bool {
        self.severity == Severity::Violation
    }

    /// The string body of the error response for this finding: the message, then the rule and
    /// the field. A closed conversation is answered with the live service's exact string.
    pub fn error_body(&self) -> String {
        if self.rule == Rule::ConversationOpen {
            return CONVERSATION_IS_CLOSE.to_owned();
        }
        format!(
            "Bad Request, {} (rule {}, field {})",
            self.message, self.rule, self.field
        )
    }
}

/// The live service's error body for a request on a closed conversation (reference §5).
pub const CONVERSATION_IS_CLOSE: &str = "Bad Request, Conversation is close";

/// The verdict on one receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// No finding.
    Valid,
    /// Only warnings.
    ValidWithWarnings,
    /// At least one violation.
    Invalid,
}

impl Verdict {
    /// The verdict for a set of findings.
    pub fn of(findings: &[Finding]) -> Self {
        if findings.iter().any(Finding::is_violation) {
            Verdict::Invalid
        } else if findings.is_empty() {
            Verdict::Valid
        } else {
            Verdict::ValidWithWarnings
        }
    }
}

/// What [`check_receipt`] knows about the dialog a receipt names.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DialogView<'a> {
    /// `dialogId` is missing or not a string, so nothing could be looked up.
    Unnamed,
    /// No dialog of this consumer has that id (it does not exist, or it is someone else's).
    NotYours,
    /// The dialog, and whether its conversation is still open.
    Found {
        dialog: &'a Dialog,
        conversation_open: bool,
    },
}

/// The outcome of [`check_receipt`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Checked {
    /// Everything found, violations first in the order the rules are checked.
    pub findings: Vec<Finding>,
    /// The status, when it is one of the five.
    pub status: Option<ReceiptStatus>,
    /// The sequences, when the list is well-formed.
    pub sequences: Vec<u64>,
}

/// Checks one consumer receipt.
///
/// `event` is the request's `body.event` object (already known to have
/// `"type":"AcceptStatusEvent"`), `dialog_id` the raw `body.dialogId`, `metadata` the request's
/// top-level `metadata`, `consumer_id` the publisher.
pub(crate) fn check_receipt(
    dialog_id: Option<&Value>,
    event: &Map<String, Value>,
    metadata: Option<&Value>,
    consumer_id: &str,
    view: DialogView<'_>,
) -> Checked {
    let mut findings = Vec::new();
    let dialog_label = match dialog_id {
        Some(Value::String(id)) => id.clone(),
        Some(other) => {
            findings.push(Finding::violation(
                Rule::ReceiptShape,
                "body.dialogId",
                other.clone(),
                format!("dialogId must be a string, got {}", short(other)),
            ));
            String::new()
        }
        None => {
            findings.push(Finding::violation(
                Rule::ReceiptShape,
                "body.dialogId",
                Value::Null,
                "dialogId is missing",
            ));
            String::new()
        }
    };

    let status = check_status(event.get("status"), metadata, &mut findings);
    let sequences = check_sequence_list(event.get("sequenceList"), &mut findings);

    if let Some(sequences) = &sequences {
        match view {
            DialogView::Unnamed => {}
            DialogView::NotYours => findings.push(Finding::violation(
                Rule::Dialog,
                "body.dialogId",
                Value::String(dialog_label.clone()),
                format!("dialog {dialog_label} is not a dialog of your conversations"),
            )),
            DialogView::Found {
                dialog,
                conversation_open,
            } => {
                if !conversation_open {
                    findings.push(Finding::violation(
                        Rule::ConversationOpen,
                        "body.dialogId",
                        Value::String(dialog_label.clone()),
                        format!("the conversation of dialog {dialog_label} is closed"),
                    ));
                }
                check_sequences(dialog, sequences, status, consumer_id, &mut findings);
            }
        }
    }
    // Violations first (the error response names the first one), each group in check order.
    findings.sort_by_key(|f| !f.is_violation());
    findings.truncate(MAX_FINDINGS);
    Checked {
        findings,
        status,
        sequences: sequences.unwrap_or_default(),
    }
}

fn check_status(
    status: Option<&Value>,
    metadata: Option<&Value>,
    findings: &mut Vec<Finding>,
) -> Option<ReceiptStatus> {
    let field = "body.event.status";
    let parsed = match status {
        None => {
            findings.push(Finding::violation(
                Rule::Status,
                field,
                Value::Null,
                "status is missing",
            ));
            return None;
        }
        Some(Value::String(s)) => ReceiptStatus::parse(s),
        Some(_) => None,
    };
    let Some(parsed) = parsed else {
        let value = status.cloned().unwrap_or(Value::Null);
        findings.push(Finding::violation(
            Rule::Status,
            field,
            value.clone(),
            format!(
                "status {} is not one of ACCEPT, READ, ACCESS, NACK, ACTION (case-sensitive)",
                short(&value)
            ),
        ));
        return None;
    };
    if parsed == ReceiptStatus::Action && !has_metadata(metadata) {
        findings.push(Finding::violation(
            Rule::ActionMetadata,
            "metadata",
            metadata.cloned().unwrap_or(Value::Null),
            "status ACTION needs a non-empty top-level metadata array",
        ));
    }
    Some(parsed)
}

fn has_metadata(metadata: Option<&Value>) -> bool {
    match metadata {
        Some(Value::Array(items)) => !items.is_empty(),
        Some(Value::Object(map)) => !map.is_empty(),
        _ => false,
    }
}

/// Parses `sequenceList`. Returns `None` when it is structurally unusable.
fn check_sequence_list(list: Option<&Value>, findings: &mut Vec<Finding>) -> Option<Vec<u64>> {
    let field = "body.event.sequenceList";
    let items = match list {
        Some(Value::Array(items)) => items,
        Some(other) => {
            findings.push(Finding::violation(
                Rule::SequenceList,
                field,
                other.clone(),
                format!(
                    "sequenceList must be a list of integers, got {}",
                    short(other)
                ),
            ));
            return None;
        }
        None => {
            findings.push(Finding::violation(
                Rule::SequenceList,
                field,
                Value::Null,
                "sequenceList is missing",
            ));
            return None;
        }
    };
    if items.is_empty() {
        findings.push(Finding::violation(
            Rule::SequenceListEmpty,
            field,
            Value::Array(Vec::new()),
            "sequenceList is empty; name at least one sequence",
        ));
        return Some(Vec::new());
    }
    let mut sequences = Vec::with_capacity(items.len().min(MAX_SEQUENCES));
    let mut broken = false;
    for (i, item) in items.iter().enumerate() {
        match sequence_of(item) {
            Ok(seq) => sequences.push(seq),
            Err(why) => {
                broken = true;
                if findings.len() < MAX_FINDINGS {
                    findings.push(Finding::violation(
                        Rule::SequenceList,
                        format!("{field}[{i}]"),
                        item.clone(),
                        format!("sequence {} {why}", short(item)),
                    ));
                }
            }
        }
    }
    if broken {
        return None;
    }
    if items.len() > MAX_SEQUENCES {
        findings.push(Finding::violation(
            Rule::SequenceLimit,
            field,
            Value::from(items.len()),
            format!(
                "sequenceList has {} entries, at most {MAX_SEQUENCES} are accepted",
                items.len()
            ),
        ));
    }
    Some(sequences)
}

/// Why a JSON value is not a usable sequence.
fn sequence_of(item: &Value) -> Result<u64, &'static str> {
    match item {
        Value::Number(n) => {
            if let Some(v) = n.as_u64() {
                if v > MAX_SAFE_SEQUENCE {
                    Err("is larger than 2^53-1")
                } else {
                    Ok(v)
                }
            } else if n.as_i64().is_some() {
                Err("is negative")
            } else if n.as_f64().is_some_and(|f| f.fract() == 0.0 && f >= 0.0) {
                // Integral but beyond u64 (e.g. 1e30): too large, not fractional.
                Err("is larger than 2^53-1")
            } else if n.as_f64().is_some_and(|f| f < 0.0) {
                Err("is negative")
            } else {
                Err("is not an integer")
            }
        }
        Value::String(_) => Err("is a string, not an integer"),
        _ => Err("is not an integer"),
    }
}

fn check_sequences(
    dialog: &Dialog,
    sequences: &[u64],
    status: Option<ReceiptStatus>,
    consumer_id: &str,
    findings: &mut Vec<Finding>,
) {
    let field = "body.event.sequenceList";
    let mut seen = HashSet::new();
    for (i, &seq) in sequences.iter().enumerate() {
        if findings.len() >= MAX_FINDINGS {
            return;
        }
        let at = format!("{field}[{i}]");
        if !seen.insert(seq) {
            findings.push(Finding::warning(
                Rule::DuplicateSequence,
                at,
                Value::from(seq),
                format!("sequence {seq} is listed more than once"),
            ));
            continue;
        }
        let Some(event) = dialog.event(seq) else {
            findings.push(Finding::violation(
                Rule::SequenceExists,
                at,
                Value::from(seq),
                format!("sequence {seq} does not exist in dialog {}", dialog.id),
            ));
            continue;
        };
        if event.originator_id == consumer_id {
            findings.push(Finding::violation(
                Rule::OtherSide,
                at,
                Value::from(seq),
                format!(
                    "sequence {seq} in dialog {} is your own event; receipts acknowledge the other side's messages",
                    dialog.id
                ),
            ));
            continue;
        }
        if !event.is_message() {
            findings.push(Finding::violation(
                Rule::AcknowledgesMessage,
                at,
                Value::from(seq),
                format!(
                    "sequence {seq} in dialog {} is a {}, not a message",
                    dialog.id,
                    event.event_type()
                ),
            ));
            continue;
        }
        if let Some(status) = status {
            transition_warnings(dialog, seq, status, consumer_id, &at, findings);
        }
    }
}

fn transition_warnings(
    dialog: &Dialog,
    seq: u64,
    status: ReceiptStatus,
    consumer_id: &str,
    at: &str,
    findings: &mut Vec<Finding>,
) {
    let earlier = dialog.receipt_statuses(seq, consumer_id);
    if earlier.contains(&status) {
        findings.push(Finding::warning(
            Rule::Repeat,
            at,
            Value::from(seq),
            format!("{status} of sequence {seq} was already published; stored again"),
        ));
        return;
    }
    match status {
        ReceiptStatus::Read if !earlier.contains(&ReceiptStatus::Accept) => {
            findings.push(Finding::warning(
                Rule::Transition,
                at,
                Value::from(seq),
                format!("READ of sequence {seq} without an earlier ACCEPT"),
            ));
        }
        ReceiptStatus::Accept if earlier.contains(&ReceiptStatus::Read) => {
            findings.push(Finding::warning(
                Rule::Transition,
                at,
                Value::from(seq),
                format!("ACCEPT of sequence {seq} after its READ"),
            ));
        }
        _ => {}
    }
}

/// A compact rendering of a JSON value for messages (long values are cut).
pub(crate) fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 {
        let cut: String = text.chars().take(57).collect();
        format!("{cut}...")
    } else {
        text
    }
}

#[cfg(test)]
#[path = "validation_tests.rs"]
mod tests;
