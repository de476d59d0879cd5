//! [`Dialog`]: one dialog of a conversation (MAIN, or the POST_SURVEY that follows it), with its
//! own sequence counter, its stored events and how it was closed.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Closed, ReceiptStatus, Role};

/// The `dialogType` of a dialog (PCS tutorial captures: `MAIN`, `POST_SURVEY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DialogType {
    /// The conversation itself; its id is the conversation id.
    Main,
    /// The post-conversation survey, opened when a `MULTI_DIALOG` client closes MAIN.
    PostSurvey,
}

impl DialogType {
    /// The wire name, e.g. `POST_SURVEY`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DialogType::Main => "MAIN",
            DialogType::PostSurvey => "POST_SURVEY",
        }
    }

    /// The roles listed in the dialog's `participantsDetails` (PCS captures: MAIN has the
    /// consumer and the assigned agent, and managers who joined; POST_SURVEY the consumer, the survey bot and the
    /// previous agent as READER).
    pub(crate) fn shows(self, role: Role) -> bool {
        match self {
            DialogType::Main => {
                matches!(role, Role::Consumer | Role::AssignedAgent | Role::Manager)
            }
            DialogType::PostSurvey => matches!(role, Role::Consumer | Role::Agent | Role::Reader),
        }
    }
}

/// One stored dialog event: a message or a receipt, with the sequence it was given.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredEvent {
    pub sequence: u64,
    pub originator_id: String,
    pub role: Role,
    pub server_timestamp: u64,
    /// The `event` object exactly as published (consumer) or built (agent).
    pub event: Value,
    /// The request's top-level `metadata`, when it had one.
    pub metadata: Option<Value>,
}

impl StoredEvent {
    /// The event's `type`, e.g. `ContentEvent`.
    pub(crate) fn event_type(&self) -> &str {
        self.event
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("event")
    }

    /// Whether the event is a message a receipt can acknowledge.
    pub(crate) fn is_message(&self) -> bool {
        matches!(self.event_type(), "ContentEvent" | "RichContentEvent")
    }

    /// For a receipt: its status and sequence list.
    pub(crate) fn receipt(&self) -> Option<(ReceiptStatus, Vec<u64>)> {
        if self.event_type() != "AcceptStatusEvent" {
            return None;
        }
        let status = ReceiptStatus::parse(self.event.get("status")?.as_str()?)?;
        let list = self
            .event
            .get("sequenceList")?
            .as_array()?
            .iter()
            .filter_map(Value::as_u64)
            .collect();
        Some((status, list))
    }
}

/// A dialog: its own sequence counter (from 0) and its events. The MAIN dialog's id is the
/// conversation id (reference §7); a POST_SURVEY dialog has its own.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Dialog {
    pub id: String,
    pub kind: DialogType,
    pub creation_ts: u64,
    /// Set when the dialog is closed; a closed dialog takes no more events.
    pub closed: Option<Closed>,
    /// The dialog's `metaData` object, when it has one (POST_SURVEY: `appInstallId`).
    pub meta_data: Option<Value>,
    /// In sequence order; add through [`Dialog::insert`] so the receipt index stays right.
    pub events: Vec<StoredEvent>,
    /// For each acknowledged sequence, who published which status, in order: validating a
    /// receipt looks up earlier statuses here instead of scanning every event.
    receipts: HashMap<u64, Vec<(String, ReceiptStatus)>>,
}

impl Dialog {
    /// An empty open MAIN dialog (or a dialog of unknown type, as a replay sees it).
    pub(crate) fn new(id: String, creation_ts: u64) -> Self {
        Self::of_type(id, DialogType::Main, creation_ts)
    }

    /// An empty open dialog of type `kind`.
    pub(crate) fn of_type(id: String, kind: DialogType, creation_ts: u64) -> Self {
        Self {
            id,
            kind,
            creation_ts,
            closed: None,
            meta_data: None,
            events: Vec::new(),
            receipts: HashMap::new(),
        }
    }

    /// Whether the dialog takes events.
    pub(crate) fn is_open(&self) -> bool {
        self.closed.is_none()
    }

    /// Adds an event at its place in sequence order (the end, normally) and indexes it if it
    /// is a receipt. An event whose sequence is already there is ignored.
    pub(crate) fn insert(&mut self, event: StoredEvent) {
        let appends = self
            .events
            .last()
            .is_none_or(|l| l.sequence < event.sequence);
        if !appends && self.event(event.sequence).is_some() {
            return;
        }
        if let Some((status, list)) = event.receipt() {
            for sequence in list {
                self.receipts
                    .entry(sequence)
                    .or_default()
                    .push((event.originator_id.clone(), status));
            }
        }
        if appends {
            self.events.push(event);
        } else {
            let at = self.events.partition_point(|e| e.sequence < event.sequence);
            self.events.insert(at, event);
        }
    }

    /// The event stored under `sequence`. Events are normally stored at the index of their
    /// sequence; a dialog rebuilt from a replay may have gaps, hence the (binary) search.
    pub(crate) fn event(&self, sequence: u64) -> Option<&StoredEvent> {
        let at = usize::try_from(sequence).ok()?;
        match self.events.get(at) {
            Some(event) if event.sequence == sequence => Some(event),
            _ => self
                .events
                .binary_search_by_key(&sequence, |e| e.sequence)
                .ok()
                .map(|i| &self.events[i]),
        }
    }

    /// The sequence the next stored event gets (sequences count from 0 with no gaps).
    pub(crate) fn next_sequence(&self) -> u64 {
        self.events.len() as u64
    }

    /// Statuses `originator` has already published for `sequence`, in order.
    pub(crate) fn receipt_statuses(&self, sequence: u64, originator: &str) -> Vec<ReceiptStatus> {
        self.receipts
            .get(&sequence)
            .map(|by| {
                by.iter()
                    .filter(|(who, _)| who == originator)
                    .map(|(_, status)| *status)
                    .collect()
            })
            .unwrap_or_default()
    }
}
