//! The streamed report (`--report FILE`): JSON Lines, one record per line, written the moment
//! the record exists, then one summary line at exit.
//!
//! ```text
//! {"receipt":{"index":0,"connection":1,"account":"12345678",...,"verdict":"valid",...}}
//! {"receipt":{"index":1,...,"verdict":"invalid",...}}
//! {"violation":{"index":0,...,"receipt":1,...}}
//! {"summary":{"receipts":2,"valid":1,...,"rules":{"sequence-exists":1},...}}
//! ```
//!
//! Each line goes to the file in one `write` call with no buffer in between, so a mock that
//! is killed (even with SIGKILL) leaves every verdict it gave, each on a whole line; only the
//! summary line is missing then. Serializing and writing a record costs the mock about 2 µs of
//! CPU per receipt, a few percent of what validating and answering it costs, with no measurable
//! change in receipts per second (docs/performance.md, "Soak"), so there is no batching and no
//! window in which a verdict exists only in memory. The write happens under the state lock, so
//! the file's order is the order the verdicts were given.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::{ReceiptRecord, Report, ViolationRecord};
use crate::Error;

/// An open report file.
#[derive(Debug)]
pub(crate) struct ReportStream {
    path: PathBuf,
    file: File,
    /// The first write error (later records are not written; the error is returned by
    /// [`ReportStream::finish`]).
    failed: Option<std::io::Error>,
}

/// One line of the file: `{"receipt": ...}` or `{"violation": ...}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum Line<'a> {
    Receipt(&'a ReceiptRecord),
    Violation(&'a ViolationRecord),
}

impl ReportStream {
    /// Creates (or truncates) `path`.
    ///
    /// # Errors
    /// [`Error::Report`] when the file cannot be created.
    pub(crate) fn create(path: &Path) -> Result<Self, Error> {
        let file = File::create(path).map_err(|source| Error::Report {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            path: path.to_owned(),
            file,
            failed: None,
        })
    }

    pub(crate) fn receipt(&mut self, record: &ReceiptRecord) {
        self.write(&Line::Receipt(record));
    }

    pub(crate) fn violation(&mut self, record: &ViolationRecord) {
        self.write(&Line::Violation(record));
    }

    fn write(&mut self, line: &impl Serialize) {
        if self.failed.is_some() {
            return;
        }
        let written = serde_json::to_vec(line)
            .map_err(std::io::Error::from)
            .and_then(|mut bytes| {
                bytes.push(b'\n');
                self.file.write_all(&bytes)
            });
        if let Err(err) = written {
            tracing::error!(path = %self.path.display(), cause = %err, "the report stream stopped");
            self.failed = Some(err);
        }
    }

    /// Writes the summary line: the report's JSON without its record lists (every other field
    /// of [`Report`] included, so fields added to it reach the file too), and syncs the file.
    ///
    /// # Errors
    /// [`Error::Report`] for the first write that failed, this one's included.
    pub(crate) fn finish(mut self, report: &Report) -> Result<(), Error> {
        let mut end = serde_json::to_value(report).unwrap_or(Value::Null);
        if let Value::Object(fields) = &mut end {
            fields.remove("receipts");
            fields.remove("violations");
        }
        self.write(&end);
        let synced = self.file.sync_data();
        match self.failed.take().map_or(synced, Err) {
            Ok(()) => Ok(()),
            Err(source) => Err(Error::Report {
                path: self.path,
                source,
            }),
        }
    }
}
