//! Read-only views of the conversations, as the control API and the library return them.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client_properties::ClientProperties;
use crate::hub::State;
use crate::journal::ReceiptRecord;
use crate::model::{ClosedBy, Conversation, Dialog, DialogType, Role};

/// A conversation with its events and the consumer receipts sent for its dialog.
///
/// `dialog_id`, `state`, `closed_by`, `events` and `receipts` describe the MAIN dialog (the
/// conversation's `state`); the dialogs that followed it (a post-conversation survey) are in
/// `dialogs`.
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
    /// `OPEN` or `CLOSE`: the MAIN dialog's state (the wire's conversation `state`).
    pub state: String,
    /// `OPEN` while any dialog is open, then `CLOSE` (the wire's `stage`).
    #[serde(default)]
    pub stage: String,
    /// Who closed the MAIN dialog, when closed.
    pub closed_by: Option<ClosedBy>,
    /// Participants.
    pub participants: Vec<ParticipantSnapshot>,
    /// Every stored event of the MAIN dialog, by sequence.
    pub events: Vec<EventSnapshot>,
    /// Every consumer receipt naming the MAIN dialog (accepted or not), with its verdict.
    pub receipts: Vec<ReceiptRecord>,
    /// The dialogs after MAIN (POST_SURVEY), in creation order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dialogs: Vec<DialogSnapshot>,
    /// The client properties of the socket that created the conversation, when it sent any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_properties: Option<ClientProperties>,
}

/// A dialog after MAIN (a post-conversation survey).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DialogSnapshot {
    /// The dialog id (22 base64url characters).
    pub dialog_id: String,
    /// Its type, e.g. `POST_SURVEY`.
    pub dialog_type: DialogType,
    /// `OPEN` or `CLOSE`.
    pub state: String,
    /// Who closed it, when closed.
    pub closed_by: Option<ClosedBy>,
    /// Why, when closed (`Completed` when the survey bot finished).
    pub closed_cause: Option<String>,
    /// Every stored event, by sequence (from 0 again).
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

fn open_close(open: bool) -> String {
    if open { "OPEN" } else { "CLOSE" }.to_owned()
}

fn events(dialog: &Dialog) -> Vec<EventSnapshot> {
    dialog
        .events
        .iter()
        .map(|e| EventSnapshot {
            sequence: e.sequence,
            originator_id: e.originator_id.clone(),
            role: e.role,
            server_timestamp: e.server_timestamp,
            event: e.event.clone(),
        })
        .collect()
}

/// The receipts in memory of the dialogs asked for, by account and dialog id: built in one
/// pass over the journal, so listing every conversation does not scan it once per dialog
/// (10,000 conversations and 10,000 records would be 10^8 comparisons under the state lock).
struct Receipts<'a>(HashMap<(&'a str, &'a str), Vec<&'a ReceiptRecord>>);

impl<'a> Receipts<'a> {
    fn of(state: &'a State, conversations: &[&'a Conversation]) -> Self {
        let mut by_dialog: HashMap<(&str, &str), Vec<&ReceiptRecord>> = conversations
            .iter()
            .flat_map(|c| {
                c.dialogs
                    .iter()
                    .map(|d| ((c.brand_id.as_str(), d.id.as_str()), Vec::new()))
            })
            .collect();
        for r in state.journal.receipts() {
            let Some(dialog) = r.dialog_id.as_deref() else {
                continue;
            };
            if let Some(list) = by_dialog.get_mut(&(r.account.as_str(), dialog)) {
                list.push(r);
            }
        }
        Self(by_dialog)
    }

    fn of_dialog(&self, account: &str, dialog: &Dialog) -> Vec<ReceiptRecord> {
        self.0
            .get(&(account, dialog.id.as_str()))
            .map(|list| list.iter().map(|r| (*r).clone()).collect())
            .unwrap_or_default()
    }
}

impl ConversationSnapshot {
    /// One conversation.
    pub(crate) fn of(conversation: &Conversation, state: &State) -> Self {
        Self::with(conversation, &Receipts::of(state, &[conversation]))
    }

    /// The conversations `keep` accepts, oldest first.
    pub(crate) fn every(state: &State, keep: impl Fn(&Conversation) -> bool) -> Vec<Self> {
        let conversations: Vec<&Conversation> =
            state.conversations.iter().filter(|c| keep(c)).collect();
        let receipts = Receipts::of(state, &conversations);
        conversations
            .into_iter()
            .map(|c| Self::with(c, &receipts))
            .collect()
    }

    fn with(conversation: &Conversation, receipts: &Receipts<'_>) -> Self {
        let account = &conversation.brand_id;
        let main = conversation.main();
        Self {
            conversation_id: conversation.id.clone(),
            account: account.clone(),
            dialog_id: main.id.clone(),
            consumer_id: conversation.consumer_id.clone(),
            state: open_close(conversation.main_open()),
            stage: open_close(conversation.is_open()),
            closed_by: conversation.closed().map(|c| c.by),
            participants: conversation
                .participants
                .iter()
                .map(|p| ParticipantSnapshot {
                    id: p.id.clone(),
                    role: p.role,
                })
                .collect(),
            events: events(main),
            receipts: receipts.of_dialog(account, main),
            dialogs: conversation.dialogs[1..]
                .iter()
                .map(|d| DialogSnapshot {
                    dialog_id: d.id.clone(),
                    dialog_type: d.kind,
                    state: open_close(d.is_open()),
                    closed_by: d.closed.as_ref().map(|c| c.by),
                    closed_cause: d.closed.as_ref().map(|c| c.cause.clone()),
                    events: events(d),
                    receipts: receipts.of_dialog(account, d),
                })
                .collect(),
            client_properties: conversation.client_properties.clone(),
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
