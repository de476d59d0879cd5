//! The conversation model: conversations, their dialogs (MAIN, then POST_SURVEY), participants
//! and stored events. Pure: no sockets, no locks.
//!
//! - `dialog`: [`Dialog`] and [`StoredEvent`]: one dialog's sequences, events and receipts.
//! - `agents`: the agent side's view: [`AgentIdentity`], availability and rings (routing).
//! - `agent_wire`: the agent socket's renderings (participants by role, `originatorPId`).
//! - `wire`: the JSON renderings (`ms.MessagingEventNotification` changes and
//!   `cqm.ExConversationChangeNotification` results, reference §4, PCS tutorial captures).

mod agent_wire;
mod agents;
mod conversations;
mod dialog;
mod wire;

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::client_properties::ClientProperties;

pub(crate) use agents::{built_in_agent_id, AgentIdentity, Availability, Ring, Rings};
pub(crate) use conversations::Conversations;
pub use dialog::DialogType;
pub(crate) use dialog::{Dialog, StoredEvent};

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
    /// A bot agent of a later dialog: the post-conversation survey bot (PCS captures).
    Agent,
    /// The previous assigned agent, watching the survey dialog (PCS captures); or an agent
    /// that joined to watch (`ParticipantsChange` ADD READER on the agent side).
    Reader,
    /// An agent that joined to help (`ParticipantsChange` ADD MANAGER on the agent side).
    Manager,
}

impl Role {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Consumer => "CONSUMER",
            Role::AssignedAgent => "ASSIGNED_AGENT",
            Role::Agent => "AGENT",
            Role::Reader => "READER",
            Role::Manager => "MANAGER",
        }
    }
}

/// Who closed a dialog or a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ClosedBy {
    /// The consumer (`cm.UpdateConversationField`).
    Consumer,
    /// An agent (control API, library handle or scenario), or the survey bot completing
    /// its survey.
    Agent,
}

/// A participant of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Participant {
    pub id: String,
    pub role: Role,
}

/// How and when a dialog was closed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Closed {
    pub by: ClosedBy,
    pub cause: String,
    pub at: u64,
}

/// Where an event goes: a conversation and one of its dialogs, by index (the hub's
/// `conversations[conv].dialogs[dialog]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DialogAt {
    pub conv: usize,
    pub dialog: usize,
}

impl DialogAt {
    /// The MAIN dialog of conversation `conv`.
    pub(crate) fn main(conv: usize) -> Self {
        Self { conv, dialog: 0 }
    }
}

/// A conversation: its MAIN dialog first, then the dialogs that followed it.
///
/// Two states, as the PCS tutorial explains them: `state` is the MAIN dialog's (OPEN until
/// it closes), `stage` the conversation container's (OPEN while any dialog is). Without a
/// survey both change together.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Conversation {
    pub id: String,
    pub consumer_id: String,
    pub brand_id: String,
    pub skill_id: String,
    pub participants: Vec<Participant>,
    /// MAIN (index 0, id = conversation id), then POST_SURVEY when one was opened.
    pub dialogs: Vec<Dialog>,
    pub start_ts: u64,
    pub last_update_ts: u64,
    pub ttr: Value,
    pub csat: Option<Value>,
    /// The client properties of the socket that created it (the Agent Workspace shows the
    /// device and OS from them).
    pub client_properties: Option<ClientProperties>,
}

impl Conversation {
    /// A new open conversation of `consumer_id`, whose MAIN dialog reuses its id.
    pub(crate) fn new(id: String, consumer_id: String, brand_id: String, skill_id: String) -> Self {
        let now = now_ms();
        Self {
            dialogs: vec![Dialog::new(id.clone(), now)],
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
            ttr: json!({"ttrType": "NORMAL", "value": 3600}),
            csat: None,
            client_properties: None,
        }
    }

    /// The MAIN dialog.
    pub(crate) fn main(&self) -> &Dialog {
        &self.dialogs[0]
    }

    /// Whether the conversation (its `stage`) is open: some dialog still is. A consumer has
    /// at most one such conversation.
    pub(crate) fn is_open(&self) -> bool {
        self.dialogs.iter().any(Dialog::is_open)
    }

    /// Whether the MAIN dialog (the conversation's `state`) is open: the agent's dialog.
    pub(crate) fn main_open(&self) -> bool {
        self.main().is_open()
    }

    /// How the MAIN dialog was closed (the conversation's `closeReason`).
    pub(crate) fn closed(&self) -> Option<&Closed> {
        self.main().closed.as_ref()
    }

    /// When the last dialog closed, once every dialog is closed (the conversation's `endTs`).
    pub(crate) fn end_ts(&self) -> Option<u64> {
        self.dialogs
            .iter()
            .map(|d| d.closed.as_ref().map(|c| c.at))
            .collect::<Option<Vec<u64>>>()
            .and_then(|ends| ends.into_iter().max())
    }

    /// The index of the dialog with this id.
    pub(crate) fn dialog_index(&self, dialog_id: &str) -> Option<usize> {
        self.dialogs.iter().position(|d| d.id == dialog_id)
    }

    /// Whether `id` takes part with `role`.
    pub(crate) fn has_participant(&self, id: &str, role: Role) -> bool {
        self.participants
            .iter()
            .any(|p| p.id == id && p.role == role)
    }

    /// Removes participant `id` in `role`; whether it was there.
    pub(crate) fn remove_participant(&mut self, id: &str, role: Role) -> bool {
        let before = self.participants.len();
        self.participants
            .retain(|p| !(p.id == id && p.role == role));
        self.participants.len() != before
    }

    /// Whether an agent holds the conversation (an ASSIGNED_AGENT participant).
    pub(crate) fn is_assigned(&self) -> bool {
        self.participants
            .iter()
            .any(|p| p.role == Role::AssignedAgent)
    }

    /// Adds a participant unless it is already there with that role.
    pub(crate) fn add_participant(&mut self, id: &str, role: Role) {
        if !self.has_participant(id, role) {
            self.participants.push(Participant {
                id: id.to_owned(),
                role,
            });
        }
    }

    /// Stores an event in the MAIN dialog and returns its sequence.
    pub(crate) fn store(
        &mut self,
        originator_id: &str,
        role: Role,
        event: Value,
        metadata: Option<Value>,
    ) -> u64 {
        self.store_in(0, (originator_id, role), event, metadata)
    }

    /// Stores an event in dialog `dialog` and returns its sequence.
    pub(crate) fn store_in(
        &mut self,
        dialog: usize,
        (originator_id, role): (&str, Role),
        event: Value,
        metadata: Option<Value>,
    ) -> u64 {
        let dialog = &mut self.dialogs[dialog];
        let sequence = dialog.next_sequence();
        dialog.insert(StoredEvent {
            sequence,
            originator_id: originator_id.to_owned(),
            role,
            server_timestamp: now_ms(),
            event,
            metadata,
        });
        sequence
    }

    /// Closes dialog `dialog` (if open) at `at`.
    pub(crate) fn close_dialog(&mut self, dialog: usize, by: ClosedBy, cause: &str, at: u64) {
        let dialog = &mut self.dialogs[dialog];
        if dialog.is_open() {
            dialog.closed = Some(Closed {
                by,
                cause: cause.to_owned(),
                at,
            });
        }
        self.last_update_ts = at;
    }

    /// Closes every open dialog: the conversation is over, and no survey follows.
    pub(crate) fn close_all(&mut self, by: ClosedBy, cause: &str) {
        let now = now_ms();
        for dialog in 0..self.dialogs.len() {
            self.close_dialog(dialog, by, cause, now);
        }
    }
}

#[cfg(test)]
mod tests;
