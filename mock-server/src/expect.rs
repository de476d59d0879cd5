//! What a test expects: [`ExpectedReceipt`] ("the client acknowledged sequence N with
//! READ"), and what it gets when that does not happen ([`Unmet`], [`UnmetViolation`]).

use std::fmt;
use std::time::Duration;

use crate::journal::{ReceiptRecord, ViolationRecord};
use crate::model::ReceiptStatus;
use crate::validation::{Rule, Verdict};

/// A description of a receipt a test expects the client to publish.
///
/// `ExpectedReceipt::read(3)` means: a READ receipt listing sequence 3 that was accepted (its
/// verdict is not [`Verdict::Invalid`]). Narrow it further with the builder methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedReceipt {
    status: Option<ReceiptStatus>,
    sequence: Option<u64>,
    dialog_id: Option<String>,
    verdict: VerdictFilter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VerdictFilter {
    Any,
    NotInvalid,
    Exactly(Verdict),
}

impl ExpectedReceipt {
    /// Any receipt at all, valid or not.
    pub fn any() -> Self {
        Self {
            status: None,
            sequence: None,
            dialog_id: None,
            verdict: VerdictFilter::Any,
        }
    }

    /// An accepted receipt with `status` listing `sequence`.
    pub fn new(status: ReceiptStatus, sequence: u64) -> Self {
        Self {
            status: Some(status),
            sequence: Some(sequence),
            dialog_id: None,
            verdict: VerdictFilter::NotInvalid,
        }
    }

    /// An accepted ACCEPT receipt listing `sequence`.
    pub fn accept(sequence: u64) -> Self {
        Self::new(ReceiptStatus::Accept, sequence)
    }

    /// An accepted READ receipt listing `sequence`.
    pub fn read(sequence: u64) -> Self {
        Self::new(ReceiptStatus::Read, sequence)
    }

    /// Only receipts for this dialog.
    pub fn in_dialog(mut self, dialog_id: impl Into<String>) -> Self {
        self.dialog_id = Some(dialog_id.into());
        self
    }

    /// Only receipts with exactly this verdict (e.g. to wait for an invalid one).
    pub fn with_verdict(mut self, verdict: Verdict) -> Self {
        self.verdict = VerdictFilter::Exactly(verdict);
        self
    }

    /// Whether a record satisfies the expectation (a consumer's receipt: the agent side's
    /// are recorded, never expected).
    pub fn matches(&self, record: &ReceiptRecord) -> bool {
        let verdict_ok = match self.verdict {
            VerdictFilter::Any => true,
            VerdictFilter::NotInvalid => record.verdict != Verdict::Invalid,
            VerdictFilter::Exactly(v) => record.verdict == v,
        };
        verdict_ok
            && record.side == crate::conn::Side::Consumer
            && self.status.is_none_or(|s| record.status == Some(s))
            && self
                .sequence
                .is_none_or(|seq| record.sequence_list.contains(&seq))
            && self
                .dialog_id
                .as_deref()
                .is_none_or(|d| record.dialog_id.as_deref() == Some(d))
    }
}

impl fmt::Display for ExpectedReceipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => write!(f, "{status}")?,
            None => f.write_str("any receipt")?,
        }
        if let Some(seq) = self.sequence {
            write!(f, " of sequence {seq}")?;
        }
        if let Some(dialog) = &self.dialog_id {
            write!(f, " in dialog {dialog}")?;
        }
        match self.verdict {
            VerdictFilter::Any => Ok(()),
            VerdictFilter::NotInvalid => f.write_str(" (accepted)"),
            VerdictFilter::Exactly(v) => write!(f, " (verdict {v:?})"),
        }
    }
}

/// An expected receipt that did not arrive: what was expected and everything that did arrive.
#[derive(Debug, Clone, PartialEq)]
pub struct Unmet {
    /// What was expected.
    pub expected: ExpectedReceipt,
    /// How long was waited, when it was a timed wait.
    pub waited: Option<Duration>,
    /// Every receipt the mock received, in order.
    pub arrived: Vec<ReceiptRecord>,
}

impl fmt::Display for Unmet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {}", self.expected)?;
        if let Some(waited) = self.waited {
            write!(f, " within {waited:?}")?;
        }
        write_arrived(f, "receipt", &self.arrived, |r| r.to_string())
    }
}

impl std::error::Error for Unmet {}

/// An awaited violation that did not arrive: its rule, how long was waited, and every
/// violation that did arrive.
#[derive(Debug, Clone, PartialEq)]
pub struct UnmetViolation {
    /// The rule the awaited violation breaks.
    pub rule: Rule,
    /// How long was waited.
    pub waited: Duration,
    /// Every violation the mock recorded, in order.
    pub arrived: Vec<ViolationRecord>,
}

impl fmt::Display for UnmetViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expected a violation of rule {} within {:?}",
            self.rule, self.waited
        )?;
        write_arrived(f, "violation", &self.arrived, ToString::to_string)
    }
}

/// The end of an unmet wait's message: `, but no {noun} arrived`, or `, but it did not
/// arrive; N arrived:` and one indented line per record.
fn write_arrived<T>(
    f: &mut fmt::Formatter<'_>,
    noun: &str,
    arrived: &[T],
    line: impl Fn(&T) -> String,
) -> fmt::Result {
    if arrived.is_empty() {
        return write!(f, ", but no {noun} arrived");
    }
    write!(f, ", but it did not arrive; {} arrived:", arrived.len())?;
    for record in arrived {
        write!(f, "\n  {}", line(record))?;
    }
    Ok(())
}

impl std::error::Error for UnmetViolation {}
