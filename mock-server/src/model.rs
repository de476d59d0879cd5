//! The conversation model: conversations, dialogs, participants and stored events, and their
//! JSON renderings on the wire (`ms.MessagingEventNotification` changes and
//! `cqm.ExConversationChangeNotification` results, reference §4).

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Milliseconds since the Unix epoch, the unit of every timestamp on the wire.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The status of an `AcceptStatusEvent` (reference §5). Parsing is case-sensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ReceiptStatus {
    /// Delivered to the device.
    Accept,
    /// Read (shown to the user).
    Read,
    /// A shared file was opened.
    Access,
    /// Not received.
    Nack,
    /// A reply to structured content; carries top-level `metadata`.
    Action,
}

impl ReceiptStatus {
    /// The wire name, e.g. `READ`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptStatus::Accept => "ACCEPT",
            ReceiptStatus::Read => "READ",
            ReceiptStatus::Access => "ACCESS",
            ReceiptStatus::Nack => "NACK",
            ReceiptStatus::Action => "ACTION",
        }
    }

    /// Parses a wire name, case-sensitively (`read` is not a status).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ACCEPT" => ReceiptStatus::Accept,
            "READ" => ReceiptStatus::Read,
            "ACCESS" => ReceiptStatus::Access,
            "NACK" => ReceiptStatus::Nack,
            "ACTION" => ReceiptStatus::Action,
            _ => return None,
        })
    }
}

impl fmt::Display for ReceiptStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A participant role (reference §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    /// The consumer.
    Consumer,
    /// The agent the conversation is assigned to (the simulated agent).
    AssignedAgent,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Consumer => "CONSUMER",
            Role::AssignedAgent => "ASSIGNED_AGENT",
        }
    }
}

/// Who closed a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ClosedBy {
    /// The consumer (`cm.UpdateConversationField`).
    Consumer,
    /// The agent (control API, library handle or scenario).
    Agent,
}

/// A participant of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Participant {
    pub id: String,
    pub role: Role,
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

/// A dialog: its own sequence counter and its events. The MAIN dialog's id is the
/// conversation id (reference §7).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Dialog {
    pub id: String,
    pub creation_ts: u64,
    /// In sequence order; add through [`Dialog::insert`] so the receipt index stays right.
    pub events: Vec<StoredEvent>,
    /// For each acknowledged sequence, who published which status, in order: validating a
    /// receipt looks up earlier statuses here instead of scanning every event.
    receipts: HashMap<u64, Vec<(String, ReceiptStatus)>>,
}

impl Dialog {
    /// An empty dialog.
    pub(crate) fn new(id: String, creation_ts: u64) -> Self {
        Self {
            id,
            creation_ts,
            events: Vec::new(),
            receipts: HashMap::new(),
        }
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

/// A conversation with its single MAIN dialog.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Conversation {
    pub id: String,
    pub consumer_id: String,
    pub brand_id: String,
    pub skill_id: String,
    pub participants: Vec<Participant>,
    pub dialog: Dialog,
    pub start_ts: u64,
    pub last_update_ts: u64,
    pub closed: Option<Closed>,
    pub ttr: Value,
    pub csat: Option<Value>,
}

/// How and when a conversation was closed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Closed {
    pub by: ClosedBy,
    pub cause: String,
    pub at: u64,
}

impl Conversation {
    /// A new open conversation of `consumer_id`, whose MAIN dialog reuses its id.
    pub(crate) fn new(id: String, consumer_id: String, brand_id: String, skill_id: String) -> Self {
        let now = now_ms();
        Self {
            dialog: Dialog::new(id.clone(), now),
            participants: vec![Participant {
                id: consumer_id.clone(),
                role: Role::Consumer,
            }],
            id,
            consumer_id,
            brand_id,
            skill_id,
            start_ts: now,
            last_update_ts: now,
            closed: None,
            ttr: json!({"ttrType": "NORMAL", "value": 3600}),
            csat: None,
        }
    }

    /// Whether the conversation is open.
    pub(crate) fn is_open(&self) -> bool {
        self.closed.is_none()
    }

    /// Whether `id` takes part with `role`.
    pub(crate) fn has_participant(&self, id: &str, role: Role) -> bool {
        self.participants
            .iter()
            .any(|p| p.id == id && p.role == role)
    }

    /// Stores an event in the MAIN dialog and returns its sequence.
    pub(crate) fn store(
        &mut self,
        originator_id: &str,
        role: Role,
        event: Value,
        metadata: Option<Value>,
    ) -> u64 {
        let sequence = self.dialog.next_sequence();
        self.dialog.insert(StoredEvent {
            sequence,
            originator_id: originator_id.to_owned(),
            role,
            server_timestamp: now_ms(),
            event,
            metadata,
        });
        sequence
    }

    /// One `changes[]` entry of `ms.MessagingEventNotification` for a stored event.
    pub(crate) fn change(&self, event: &StoredEvent) -> Value {
        let mut change = Map::new();
        change.insert("sequence".into(), event.sequence.into());
        change.insert("originatorId".into(), event.originator_id.clone().into());
        change.insert(
            "originatorMetadata".into(),
            json!({"id": event.originator_id, "role": event.role.as_str()}),
        );
        change.insert("serverTimestamp".into(), event.server_timestamp.into());
        change.insert("event".into(), event.event.clone());
        change.insert("conversationId".into(), self.id.clone().into());
        change.insert("dialogId".into(), self.dialog.id.clone().into());
        if let Some(metadata) = &event.metadata {
            change.insert("metadata".into(), metadata.clone());
        }
        Value::Object(change)
    }

    /// The `changes[]` entry of a chat state: sequence 0, no `serverTimestamp` (reference §4.1).
    pub(crate) fn chat_state_change(&self, originator_id: &str, role: Role, event: Value) -> Value {
        // No sequence and no serverTimestamp: every captured chat-state change has neither
        // (the schema asks for both; protocol-decisions).
        json!({
            "originatorId": originator_id,
            "originatorMetadata": {"id": originator_id, "role": role.as_str()},
            "event": event,
            "conversationId": self.id,
            "dialogId": self.dialog.id,
        })
    }

    /// The `result` of a `cqm.ExConversationChangeNotification` UPSERT (reference §4.2).
    pub(crate) fn ex_conversation(&self) -> Value {
        let state = if self.is_open() { "OPEN" } else { "CLOSE" };
        let participants: Vec<Value> = self
            .participants
            .iter()
            .map(|p| json!({"id": p.id, "role": p.role.as_str()}))
            .collect();
        let details: Vec<Value> = self
            .participants
            .iter()
            .map(|p| json!({"id": p.id, "role": p.role.as_str(), "state": "ACTIVE"}))
            .collect();
        let mut dialog = json!({
            "dialogId": self.dialog.id,
            "participantsDetails": details,
            "dialogType": "MAIN",
            "channelType": "MESSAGING",
            "state": state,
            "creationTs": self.dialog.creation_ts,
            "metaDataLastUpdateTs": self.last_update_ts,
        });
        let mut details = json!({
            "skillId": self.skill_id,
            "brandId": self.brand_id,
            "participants": participants,
            "dialogs": [],
            "state": state,
            "stage": state,
            "startTs": self.start_ts,
            "metaDataLastUpdateTs": self.last_update_ts,
            "ttr": self.ttr,
        });
        if let Some(closed) = &self.closed {
            dialog["endTs"] = closed.at.into();
            dialog["closedBy"] = json!(closed.by);
            dialog["closedCause"] = closed.cause.clone().into();
            details["closeReason"] = json!(closed.by);
            details["endTs"] = closed.at.into();
        }
        if let Some(csat) = &self.csat {
            details["csat"] = csat.clone();
        }
        details["dialogs"] = Value::Array(vec![dialog]);
        json!({
            "convId": self.id,
            "effectiveTTR": -1,
            "conversationDetails": details,
        })
    }
}

#[cfg(test)]
mod tests;
