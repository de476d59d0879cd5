//! Read-only views of the conversations, as the control API and the library return them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::hub::State;
use crate::journal::ReceiptRecord;
use crate::model::{ClosedBy, Conversation, Role};

/// A conversation with its events and the consumer receipts sent for its dialog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationSnapshot {
    /// The conversation id.
    pub conversation_id: String,
    /// The account it belongs to (`/ws_api/account/{account}/...` of its consumer).
    pub account: String,
    /// The MAIN dialog's id (equal to the conversation id).
    pub dialog_id: String,
    /// The consumer.
    pub consumer_id: String,
    /// `OPEN` or `CLOSE`.
    pub state: String,
    /// Who closed it, when closed.
    pub closed_by: Option<ClosedBy>,
    /// Participants.
    pub participants: Vec<ParticipantSnapshot>,
    /// Every stored event of the MAIN dialog, by sequence.
    pub events: Vec<EventSnapshot>,
    /// Every consumer receipt naming this dialog (accepted or not), with its verdict.
    pub receipts: Vec<ReceiptRecord>,
}

/// A participant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantSnapshot {
    /// The participant id.
    pub id: String,
    /// The role.
    pub role: Role,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSnapshot {
    /// Its sequence in the dialog.
    pub sequence: u64,
    /// Who published it.
    pub originator_id: String,
    /// The publisher's role.
    pub role: Role,
    /// When it was stored (epoch ms).
    pub server_timestamp: u64,
    /// The `event` object.
    pub event: Value,
}

impl ConversationSnapshot {
    pub(crate) fn of(conversation: &Conversation, state: &State) -> Self {
        Self {
            conversation_id: conversation.id.clone(),
            account: conversation.brand_id.clone(),
            dialog_id: conversation.dialog.id.clone(),
            consumer_id: conversation.consumer_id.clone(),
            state: if conversation.is_open() {
                "OPEN"
            } else {
                "CLOSE"
            }
            .to_owned(),
            closed_by: conversation.closed.as_ref().map(|c| c.by),
            participants: conversation
                .participants
                .iter()
                .map(|p| ParticipantSnapshot {
                    id: p.id.clone(),
                    role: p.role,
                })
                .collect(),
            events: conversation
                .dialog
                .events
                .iter()
                .map(|e| EventSnapshot {
                    sequence: e.sequence,
                    originator_id: e.originator_id.clone(),
                    role: e.role,
                    server_timestamp: e.server_timestamp,
                    event: e.event.clone(),
                })
                .collect(),
            receipts: state
                .journal
                .receipts()
                .iter()
                .filter(|r| {
                    r.account == conversation.brand_id
                        && r.dialog_id.as_deref() == Some(conversation.dialog.id.as_str())
                })
                .cloned()
                .collect(),
        }
    }

    /// The agent's text messages, in order (handy in tests).
    pub fn agent_messages(&self) -> Vec<(u64, String)> {
        self.events
            .iter()
            .filter(|e| e.role == Role::AssignedAgent)
            .filter_map(|e| {
                let text = e.event.get("message")?.as_str()?;
                Some((e.sequence, text.to_owned()))
            })
            .collect()
    }
}
