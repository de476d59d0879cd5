//! Receipt validation: the rules every consumer `AcceptStatusEvent` is checked against.
//!
//! [`check_receipt`] is pure: it reads the publish request and a read-only view of the dialog
//! the receipt names, and returns [`Finding`]s. What happens next (a 400 response, a lenient
//! acceptance, a 1008 close) is decided by the caller from the findings and the
//! [`Strictness`](crate::Strictness). The rules and the reasoning behind each are listed in
//! `docs/protocol-decisions.md`.

mod checks;
mod rule;

pub use rule::Rule;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use wiretape_fixtures::redact::{redact_text, redacted_json};

use crate::model::{Dialog, ReceiptStatus};
use checks::{check_sequence_list, check_sequences, check_status};

/// The largest sequence a receipt may name: 2^53 - 1, the largest integer every JSON parser
/// (JavaScript included) represents exactly.
pub const MAX_SAFE_SEQUENCE: u64 = (1 << 53) - 1;

/// The most sequences one receipt may list. Larger lists are recorded as a violation (the live
/// service would most plausibly accept them, so `--lenient` does).
pub const MAX_SEQUENCES: usize = 1000;

/// At most this many findings are kept per receipt, so that a 10,000-entry list does not
/// produce 10,000 records.
pub(crate) const MAX_FINDINGS: usize = 20;

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
    /// A violation of `rule`. `value` and `message` go through the one redaction policy
    /// (`wiretape_fixtures::redact`: JWT-shaped text, credential keys, URL tokens), so no
    /// secret reaches a response, record, report or log through it.
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
            value: redacted_json(value),
            message: redact_text(&message.into()).into_owned(),
        }
    }

    /// The same finding as a warning: accepted, but worth a look.
    pub fn into_warning(self) -> Self {
        Self {
            severity: Severity::Warning,
            ..self
        }
    }

    /// The same finding as a violation (a tolerated deviation refused when not lenient).
    pub(crate) fn into_violation(self) -> Self {
        Self {
            severity: Severity::Violation,
            ..self
        }
    }

    /// Whether this is a violation (not a warning).
    pub fn is_violation(&self) -> bool {
        self.severity == Severity::Violation
    }

    /// The string body of the error response for this finding: the message, then the rule and
    /// the field, in at most [`MAX_ERROR_BODY`] characters (the message is shortened in the
    /// middle when needed; the record keeps it whole). A closed conversation is answered with
    /// the live service's exact string.
    pub fn error_body(&self) -> String {
        if self.rule == Rule::ConversationOpen {
            return CONVERSATION_IS_CLOSE.to_owned();
        }
        self.body_with("Bad Request")
    }

    /// `"{status}, {message} (rule {rule}, field {field})"` in at most [`MAX_ERROR_BODY`]
    /// characters: the field gives way first (the message names what was wrong, the record
    /// keeps the field), then the end of the message.
    pub(crate) fn body_with(&self, status: &str) -> String {
        let full = format!(
            "{status}, {} (rule {}, field {})",
            self.message, self.rule, self.field
        );
        if full.chars().count() <= MAX_ERROR_BODY {
            return full;
        }
        let suffix = format!(" (rule {})", self.rule);
        let room = MAX_ERROR_BODY.saturating_sub(status.chars().count() + 2 + suffix.len());
        format!("{status}, {}{suffix}", clip(&self.message, room))
    }
}

/// The longest string body of a response (`infra/stringRespBody.json`: 128 characters).
pub const MAX_ERROR_BODY: usize = 128;

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
    /// The dialog, and whether it is still open (a dialog closes with its conversation, or
    /// alone when the MAIN dialog gives way to a survey).
    Found {
        dialog: &'a Dialog,
        dialog_open: bool,
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

impl Checked {
    /// Whether a receipt of a dialog that was found is stored: without violations, or with
    /// only those the live service accepts when `lenient` (`--lenient`).
    pub(crate) fn accepted(&self, lenient: bool) -> bool {
        self.findings
            .iter()
            .all(|f| !f.is_violation() || (lenient && f.rule.live_service_accepts()))
    }
}

/// Checks one receipt (a consumer's, or an agent's: the rules are the same).
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
                dialog_open,
            } => {
                if !dialog_open {
                    findings.push(Finding::violation(
                        Rule::ConversationOpen,
                        "body.dialogId",
                        Value::String(dialog_label.clone()),
                        format!("dialog {dialog_label} is closed"),
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

/// A compact rendering of a JSON value for messages (see [`clip`]).
pub(crate) fn short(value: &Value) -> String {
    clip(&value.to_string(), 60)
}

/// `text` redacted, then cut to `max` characters with `...` (redaction first, so a cut never
/// leaves part of a secret). Every excerpt of client input in a message goes through it.
pub(crate) fn clip(text: &str, max: usize) -> String {
    let text = redact_text(text);
    if text.chars().count() > max {
        let cut: String = text.chars().take(max.saturating_sub(3)).collect();
        format!("{cut}...")
    } else {
        text.into_owned()
    }
}

#[cfg(test)]
mod tests;
