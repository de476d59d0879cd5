//! The named rules, with their wire names and what the live service most plausibly does.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A named rule a frame, request or receipt can break. The kebab-case name (its `Display` and
/// its JSON form) appears in error responses, records and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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
    /// `sequenceList` names more than [`MAX_SEQUENCES`](super::MAX_SEQUENCES) sequences.
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
    /// The request breaks the published schema where the live service most plausibly
    /// tolerates it (a `ContentEvent` without `contentType`, the server-only chat state
    /// `BACKGROUND`): refused by default, accepted with a warning when lenient.
    Schema,
    /// The consumer sent more requests per second than `--rate-limit` allows (answered 429).
    RateLimit,
    /// File sharing: `fileType` is not JPG, JPEG, PNG or GIF, or a hosted file's `fileType` is
    /// not its uploaded file's type.
    FileType,
    /// File sharing: `fileSize` is not a number of bytes, or is over 3 MB.
    FileSize,
    /// File sharing: `relativePath` is not a file path of this account, or (in a hosted file)
    /// names no uploaded file.
    FilePath,
    /// File sharing: a `hosted/file` event's `message` lacks `caption`, or its `preview` is not
    /// a base64 image data URL under 30 KB.
    HostedFile,
    /// Replay: a client frame does not match the recorded frame expected next.
    ReplayMismatch,
    /// Replay: a recorded client frame was never sent.
    ReplayUnsent,
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
            Rule::Schema => "schema",
            Rule::RateLimit => "rate-limit",
            Rule::FileType => "file-type",
            Rule::FileSize => "file-size",
            Rule::FilePath => "file-path",
            Rule::HostedFile => "hosted-file",
            Rule::ReplayMismatch => "replay-mismatch",
            Rule::ReplayUnsent => "replay-unsent",
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
                | Rule::Schema
        )
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
