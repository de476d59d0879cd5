//! The test API's waits and expectations on [`MockServer`]: await a receipt, a violation or a
//! conversation state; register expectations that are verified when the server is dropped
//! (wiremock's `expect` + `Drop`), or now with [`MockServer::verify`].

use std::fmt;
use std::sync::PoisonError;
use std::time::Duration;

use crate::expect::{ExpectedReceipt, Unmet, UnmetViolation};
use crate::hub::State;
use crate::journal::{ReceiptRecord, ViolationRecord};
use crate::snapshot::ConversationSnapshot;
use crate::validation::Rule;
use crate::MockServer;

/// An expectation registered on a server, verified on drop.
#[derive(Debug, Clone)]
pub(crate) enum Expectation {
    /// A receipt matching this arrives.
    Receipt(ExpectedReceipt),
    /// No receipt is invalid.
    NoInvalidReceipts,
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expectation::Receipt(expected) => write!(f, "expected {expected}"),
            Expectation::NoInvalidReceipts => f.write_str("expected no invalid receipt"),
        }
    }
}

/// Why a verification failed: the unmet expectations, each with what was found instead,
/// then every receipt (and, when invalid receipts were not expected, every violation).
/// Its `Display` is the panic message of [`MockServer::verify`] and of the drop.
#[derive(Debug)]
pub(crate) struct VerificationFailed {
    /// Each unmet expectation with a short note of what was found.
    unmet: Vec<(Expectation, String)>,
    receipts: Vec<ReceiptRecord>,
    /// `Some` when an unmet expectation is about invalid receipts.
    violations: Option<Vec<ViolationRecord>>,
}

impl fmt::Display for VerificationFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Verifications failed:")?;
        for (expectation, found) in &self.unmet {
            write!(f, "\n- {expectation}: {found}")?;
        }
        if self.receipts.is_empty() {
            f.write_str("\n\nReceived receipts: none")?;
        } else {
            f.write_str("\n\nReceived receipts:")?;
            for receipt in &self.receipts {
                write!(f, "\n- {receipt}")?;
            }
        }
        if let Some(violations) = &self.violations {
            f.write_str("\n\nViolations:")?;
            for violation in violations {
                write!(f, "\n- {violation}")?;
            }
        }
        Ok(())
    }
}

impl MockServer {
    /// Registers an expectation: a receipt matching `expected` arrives before the server is
    /// dropped (or [`MockServer::verify`] is called).
    ///
    /// ```
    /// use wiretape_mock_server::client::{self, Consumer};
    /// use wiretape_mock_server::{ExpectedReceipt, MockServer, ReceiptStatus};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = MockServer::builder().manual_agent().start().await;
    /// server.expect(ExpectedReceipt::accept(0));
    ///
    /// let mut consumer = Consumer::connect(&server).await;
    /// let conversation = consumer.create_conversation().await;
    /// server.agent().join(&conversation).unwrap();
    /// server.agent().say(&conversation, "hello").unwrap();
    /// consumer.request(client::receipt(2, &conversation, ReceiptStatus::Accept, [0])).await;
    /// # }
    /// // Dropping `server` verifies: a missing ACCEPT would panic here, listing the receipts.
    /// ```
    pub fn expect(&self, expected: ExpectedReceipt) {
        self.register(Expectation::Receipt(expected));
    }

    /// Registers an expectation: no receipt the server receives is invalid. When one is, the
    /// verification lists the receipts and every violation.
    pub fn expect_no_invalid_receipts(&self) {
        self.register(Expectation::NoInvalidReceipts);
    }

    fn register(&self, expectation: Expectation) {
        self.expectations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(expectation);
    }

    /// Verifies the registered expectations now (the drop does it again).
    ///
    /// # Panics
    /// When any is unmet, with one message: `Verifications failed:`, one line per unmet
    /// expectation, then the numbered receipts that did arrive (and the violations, when
    /// invalid receipts were not expected).
    pub fn verify(&self) {
        if let Err(failed) = self.verification() {
            panic!("{failed}");
        }
    }

    /// Checks every registered expectation against the journal.
    pub(crate) fn verification(&self) -> Result<(), VerificationFailed> {
        let expectations = self
            .expectations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if expectations.is_empty() {
            return Ok(());
        }
        let receipts = self.receipts();
        let mut invalid: Vec<String> = receipts
            .iter()
            .filter(|r| r.is_invalid())
            .map(|r| format!("#{}", r.index))
            .collect();
        // Invalid receipts dropped from memory (`--keep-records`) still count.
        let all_invalid = self.hub.read(|s| s.journal.summary().invalid);
        if all_invalid > invalid.len() {
            invalid.push(format!(
                "{} more dropped from memory",
                all_invalid - invalid.len()
            ));
        }
        let mut unmet = Vec::new();
        let mut show_violations = false;
        for expectation in expectations {
            let found = match &expectation {
                Expectation::Receipt(expected) if !receipts.iter().any(|r| expected.matches(r)) => {
                    "no such receipt arrived".to_owned()
                }
                Expectation::NoInvalidReceipts if !invalid.is_empty() => {
                    show_violations = true;
                    format!("{all_invalid} arrived ({})", invalid.join(", "))
                }
                _ => continue,
            };
            unmet.push((expectation, found));
        }
        if unmet.is_empty() {
            return Ok(());
        }
        Err(VerificationFailed {
            unmet,
            receipts,
            violations: show_violations.then(|| self.violations()),
        })
    }

    /// Checks, now, that every expected receipt has arrived.
    ///
    /// # Errors
    /// The first expectation not met, with every receipt that did arrive.
    pub fn verify_receipts(&self, expected: &[ExpectedReceipt]) -> Result<(), Unmet> {
        let arrived = self.receipts();
        match expected
            .iter()
            .find(|e| !arrived.iter().any(|r| e.matches(r)))
        {
            None => Ok(()),
            Some(missing) => Err(Unmet {
                expected: missing.clone(),
                waited: None,
                arrived,
            }),
        }
    }

    /// Waits until a receipt matching `expected` has arrived and returns it. No built-in
    /// timeout: wrap it in `tokio::time::timeout`, or use
    /// [`MockServer::wait_for_receipt_within`].
    pub async fn wait_for_receipt(&self, expected: &ExpectedReceipt) -> ReceiptRecord {
        self.wait_until(|s| s.journal.receipts().find(|r| expected.matches(r)).cloned())
            .await
    }

    /// [`MockServer::wait_for_receipt`] with a deadline.
    ///
    /// # Errors
    /// [`Unmet`] listing what was expected and every receipt that arrived.
    pub async fn wait_for_receipt_within(
        &self,
        expected: &ExpectedReceipt,
        limit: Duration,
    ) -> Result<ReceiptRecord, Unmet> {
        tokio::time::timeout(limit, self.wait_for_receipt(expected))
            .await
            .map_err(|_| Unmet {
                expected: expected.clone(),
                waited: Some(limit),
                arrived: self.receipts(),
            })
    }

    /// Waits until a violation of `rule` has been recorded (a bad frame, a bad request, a
    /// receipt rule broken, a replay deviation) and returns the first one. No built-in
    /// timeout: wrap it in `tokio::time::timeout`, or use
    /// [`MockServer::wait_for_violation_within`].
    pub async fn wait_for_violation(&self, rule: Rule) -> ViolationRecord {
        self.wait_until(|s| {
            s.journal
                .violations()
                .find(|v| v.finding.rule == rule)
                .cloned()
        })
        .await
    }

    /// [`MockServer::wait_for_violation`] with a deadline.
    ///
    /// # Errors
    /// [`UnmetViolation`] naming the rule and listing every violation that arrived.
    pub async fn wait_for_violation_within(
        &self,
        rule: Rule,
        limit: Duration,
    ) -> Result<ViolationRecord, UnmetViolation> {
        tokio::time::timeout(limit, self.wait_for_violation(rule))
            .await
            .map_err(|_| UnmetViolation {
                rule,
                waited: limit,
                arrived: self.violations(),
            })
    }

    /// Waits until `check` finds something in a conversation snapshot, e.g. the agent's
    /// first message. No built-in timeout.
    pub async fn wait_for_conversation<T>(
        &self,
        check: impl Fn(&ConversationSnapshot) -> Option<T>,
    ) -> T {
        self.wait_until(|s| {
            s.conversations
                .iter()
                .find_map(|c| check(&ConversationSnapshot::of(c, s)))
        })
        .await
    }

    async fn wait_until<T>(&self, check: impl Fn(&State) -> Option<T>) -> T {
        let mut changes = self.hub.subscribe_changes();
        loop {
            if let Some(found) = self.hub.read(&check) {
                return found;
            }
            if changes.changed().await.is_err() {
                // The hub (owned by self) outlives this call, so this cannot happen; waiting
                // forever is the documented behaviour of an unmet wait anyway.
                std::future::pending::<()>().await;
            }
        }
    }
}
