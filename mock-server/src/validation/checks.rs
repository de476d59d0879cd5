//! The individual receipt checks behind [`check_receipt`](super::check_receipt).

use std::collections::HashSet;

use serde_json::Value;

use super::{short, Finding, Rule, MAX_FINDINGS, MAX_SAFE_SEQUENCE, MAX_SEQUENCES};
use crate::model::{Dialog, ReceiptStatus};

pub(super) fn check_status(
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

pub(super) fn has_metadata(metadata: Option<&Value>) -> bool {
    match metadata {
        Some(Value::Array(items)) => !items.is_empty(),
        Some(Value::Object(map)) => !map.is_empty(),
        _ => false,
    }
}

/// Parses `sequenceList`. Returns `None` when it is structurally unusable.
pub(super) fn check_sequence_list(
    list: Option<&Value>,
    findings: &mut Vec<Finding>,
) -> Option<Vec<u64>> {
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
pub(super) fn sequence_of(item: &Value) -> Result<u64, &'static str> {
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

pub(super) fn check_sequences(
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
            findings.push(
                Finding::violation(
                    Rule::DuplicateSequence,
                    at,
                    Value::from(seq),
                    format!("sequence {seq} is listed more than once"),
                )
                .into_warning(),
            );
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
                format!("sequence {seq} in dialog {} is your own event", dialog.id),
            ));
            continue;
        }
        if !event.is_message() {
            findings.push(Finding::violation(
                Rule::AcknowledgesMessage,
                at,
                Value::from(seq),
                // The dialog is the request's own: naming the type keeps it under 128.
                format!(
                    "sequence {seq} (an {}) is not a message",
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

pub(super) fn transition_warnings(
    dialog: &Dialog,
    seq: u64,
    status: ReceiptStatus,
    consumer_id: &str,
    at: &str,
    findings: &mut Vec<Finding>,
) {
    let earlier = dialog.receipt_statuses(seq, consumer_id);
    if earlier.contains(&status) {
        findings.push(
            Finding::violation(
                Rule::Repeat,
                at,
                Value::from(seq),
                format!("{status} of sequence {seq} was already published; stored again"),
            )
            .into_warning(),
        );
        return;
    }
    match status {
        ReceiptStatus::Read if !earlier.contains(&ReceiptStatus::Accept) => {
            findings.push(
                Finding::violation(
                    Rule::Transition,
                    at,
                    Value::from(seq),
                    format!("READ of sequence {seq} without an earlier ACCEPT"),
                )
                .into_warning(),
            );
        }
        ReceiptStatus::Accept if earlier.contains(&ReceiptStatus::Read) => {
            findings.push(
                Finding::violation(
                    Rule::Transition,
                    at,
                    Value::from(seq),
                    format!("ACCEPT of sequence {seq} after its READ"),
                )
                .into_warning(),
            );
        }
        _ => {}
    }
}
