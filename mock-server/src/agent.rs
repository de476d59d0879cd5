//! The simulated agent's hands: the [`Agent`] handle used by tests, the control API and the
//! scenario runner alike.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::DEFAULT_ACCOUNT;
use crate::hub::{Hub, State};
use crate::model::{DialogAt, ReceiptStatus, Role};
use crate::AgentError;

/// What the agent published: where, and under which sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Published {
    /// The conversation.
    pub conversation_id: String,
    /// The dialog (the MAIN dialog, whose id is the conversation id).
    pub dialog_id: String,
    /// The sequence the event was stored under.
    pub sequence: u64,
}

pub(crate) use crate::model::built_in_agent_id as agent_id;

/// Acts as the agent in the mock's conversations (on every account). Cheap to clone.
///
/// Every method acts at once and returns when the event is stored and queued to the
/// subscribed sockets.
#[derive(Debug, Clone)]
pub struct Agent {
    hub: Arc<Hub>,
    /// Its id on the account [`MockServer::account`](crate::MockServer::account) names.
    id: String,
}

impl Agent {
    pub(crate) fn new(hub: Arc<Hub>) -> Self {
        let id = agent_id(hub.settings.account.as_deref().unwrap_or(DEFAULT_ACCOUNT));
        Self { hub, id }
    }

    /// The agent's participant id (`originatorId` of its events) on the account
    /// [`MockServer::account`](crate::MockServer::account) names; see [`Agent::id_on`].
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The agent's participant id on `account`.
    pub fn id_on(account: &str) -> String {
        agent_id(account)
    }

    /// Joins the conversation as ASSIGNED_AGENT; metadata subscribers get an UPSERT.
    /// Joining twice is a no-op.
    ///
    /// # Errors
    /// When the conversation does not exist or is closed.
    pub fn join(&self, conversation_id: &str) -> Result<(), AgentError> {
        self.hub.with_state(|s| {
            let conv = open_conversation(s, conversation_id)?;
            let c = &mut s.conversations[conv];
            let agent = agent_id(&c.brand_id);
            if c.has_participant(&agent, Role::AssignedAgent) {
                return Ok(());
            }
            let id = c.id.clone();
            // One model for every agent: joining ends the rings offering it to external ones.
            s.rings.end_conversation(&id);
            let c = &mut s.conversations[conv];
            c.participants.push(crate::model::Participant {
                id: agent,
                role: Role::AssignedAgent,
            });
            c.last_update_ts = crate::model::now_ms();
            s.notify_metadata(conv);
            Ok(())
        })
    }

    /// Sends a text message (`ContentEvent`, `text/plain`).
    ///
    /// # Errors
    /// When the conversation does not exist, is closed, or the agent has not joined.
    pub fn say(&self, conversation_id: &str, text: &str) -> Result<Published, AgentError> {
        self.publish(
            conversation_id,
            json!({"type": "ContentEvent", "message": text, "contentType": "text/plain"}),
        )
    }

    /// Publishes any event object (e.g. a `RichContentEvent`).
    ///
    /// # Errors
    /// As [`Agent::say`], and when `event` is not an object with a `type`.
    pub fn publish(&self, conversation_id: &str, event: Value) -> Result<Published, AgentError> {
        if event.get("type").and_then(Value::as_str).is_none() {
            return Err(AgentError::BadEvent);
        }
        self.hub.with_state(|s| {
            let (conv, agent) = joined_conversation(s, conversation_id)?;
            Ok(store(s, conv, &agent, event))
        })
    }

    /// Publishes a receipt for the given sequences. Not validated: tests may use it to make
    /// the agent misbehave.
    ///
    /// # Errors
    /// As [`Agent::say`], and when `sequences` is empty.
    pub fn receipt(
        &self,
        conversation_id: &str,
        status: ReceiptStatus,
        sequences: &[u64],
    ) -> Result<Published, AgentError> {
        if sequences.is_empty() {
            return Err(AgentError::EmptySequenceList);
        }
        self.publish(
            conversation_id,
            json!({"type": "AcceptStatusEvent", "status": status, "sequenceList": sequences}),
        )
    }

    /// Publishes a receipt with `status` for every consumer message the agent has not yet
    /// marked with it. Returns `None` when there was nothing to acknowledge.
    ///
    /// # Errors
    /// As [`Agent::say`].
    pub fn acknowledge_all(
        &self,
        conversation_id: &str,
        status: ReceiptStatus,
    ) -> Result<Option<Published>, AgentError> {
        self.hub.with_state(|s| {
            let (conv, agent) = joined_conversation(s, conversation_id)?;
            let dialog = s.conversations[conv].main();
            let pending: Vec<u64> = dialog
                .events
                .iter()
                .filter(|e| e.role == Role::Consumer && e.is_message())
                .map(|e| e.sequence)
                .filter(|&seq| !dialog.receipt_statuses(seq, &agent).contains(&status))
                .collect();
            if pending.is_empty() {
                return Ok(None);
            }
            let event =
                json!({"type": "AcceptStatusEvent", "status": status, "sequenceList": pending});
            Ok(Some(store(s, conv, &agent, event)))
        })
    }

    /// Publishes a chat state (`COMPOSING`, `PAUSE`, ...): sequence 0, not stored.
    ///
    /// # Errors
    /// As [`Agent::say`].
    pub fn chat_state(&self, conversation_id: &str, state: &str) -> Result<(), AgentError> {
        self.hub.with_state(|s| {
            let (conv, agent) = joined_conversation(s, conversation_id)?;
            let change = s.conversations[conv].chat_state_change(
                0,
                (&agent, Role::AssignedAgent),
                json!({"type": "ChatStateEvent", "chatState": state}),
            );
            s.relay_chat_state(DialogAt::main(conv), change);
            Ok(())
        })
    }

    /// Closes the conversation (closeReason AGENT).
    ///
    /// # Errors
    /// When the conversation does not exist or is already closed.
    pub fn close(&self, conversation_id: &str) -> Result<(), AgentError> {
        self.hub.with_state(|s| {
            let conv = open_conversation(s, conversation_id)?;
            s.close_conversation(conv, crate::model::ClosedBy::Agent, "Closed by agent");
            Ok(())
        })
    }
}

fn open_conversation(s: &State, id: &str) -> Result<usize, AgentError> {
    let conv = s
        .conversation_index(id)
        .ok_or_else(|| AgentError::UnknownConversation(id.to_owned()))?;
    // The agent's dialog is MAIN: once it closes (a survey may follow), the agent is done.
    if s.conversations[conv].main_open() {
        Ok(conv)
    } else {
        Err(AgentError::ConversationClosed(id.to_owned()))
    }
}

/// An open conversation the agent has joined, and the agent's id in it.
fn joined_conversation(s: &State, id: &str) -> Result<(usize, String), AgentError> {
    let conv = open_conversation(s, id)?;
    let agent = agent_id(&s.conversations[conv].brand_id);
    if s.conversations[conv].has_participant(&agent, Role::AssignedAgent) {
        Ok((conv, agent))
    } else {
        Err(AgentError::NotJoined(id.to_owned()))
    }
}

fn store(s: &mut State, conv: usize, agent: &str, event: Value) -> Published {
    let sequence = s.publish(
        DialogAt::main(conv),
        (agent, Role::AssignedAgent),
        event,
        None,
    );
    let c = &s.conversations[conv];
    Published {
        conversation_id: c.id.clone(),
        dialog_id: c.main().id.clone(),
        sequence,
    }
}
