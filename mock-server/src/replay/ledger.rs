//! What a replay has actually sent, as dialogs, so receipts are validated against it exactly
//! as in live mode (the same [`check_receipt`](crate::validation) rules).

use std::collections::HashMap;

use serde_json::Value;

use crate::model::{Dialog, Role, StoredEvent};
use crate::validation::DialogView;

/// The originator id the ledger gives the consumer's own events: the recording's consumer id
/// came from a token that was redacted, so ownership is judged by role.
pub(crate) use crate::conn::CONSUMER;

/// The dialogs seen in frames sent to one client.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    dialogs: HashMap<String, Dialog>,
    closed: HashMap<String, bool>,
}

impl Ledger {
    /// Takes note of a frame sent to the client.
    pub(crate) fn observe(&mut self, frame: &Value) {
        match frame.get("type").and_then(Value::as_str) {
            Some("ms.MessagingEventNotification") => self.messaging(frame),
            Some("cqm.ExConversationChangeNotification") => self.metadata(frame),
            _ => {}
        }
    }

    fn messaging(&mut self, frame: &Value) {
        let Some(changes) = frame.pointer("/body/changes").and_then(Value::as_array) else {
            return;
        };
        for change in changes {
            let (Some(dialog_id), Some(sequence), Some(event)) = (
                change.get("dialogId").and_then(Value::as_str),
                change.get("sequence").and_then(Value::as_u64),
                change.get("event"),
            ) else {
                continue;
            };
            // Chat states are not stored (no serverTimestamp, sequence 0).
            if change.get("serverTimestamp").is_none() {
                continue;
            }
            let role = match change
                .pointer("/originatorMetadata/role")
                .and_then(Value::as_str)
            {
                Some("CONSUMER") => Role::Consumer,
                _ => Role::AssignedAgent,
            };
            let originator_id = match role {
                Role::Consumer => CONSUMER.to_owned(),
                Role::AssignedAgent | Role::Agent | Role::Reader | Role::Manager => change
                    .get("originatorId")
                    .and_then(Value::as_str)
                    .unwrap_or("agent")
                    .to_owned(),
            };
            let dialog = self
                .dialogs
                .entry(dialog_id.to_owned())
                .or_insert_with(|| Dialog::new(dialog_id.to_owned(), 0));
            // History sent again after a subscribe is already there: insert ignores it.
            dialog.insert(StoredEvent {
                sequence,
                originator_id,
                role,
                server_timestamp: change
                    .get("serverTimestamp")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
                event: event.clone(),
                metadata: None,
            });
        }
    }

    /// Conversation states from metadata notifications: a closed MAIN dialog refuses receipts.
    fn metadata(&mut self, frame: &Value) {
        let Some(changes) = frame.pointer("/body/changes").and_then(Value::as_array) else {
            return;
        };
        for change in changes {
            let Some(result) = change.get("result") else {
                continue;
            };
            let Some(id) = result.get("convId").and_then(Value::as_str) else {
                continue;
            };
            let state = result
                .pointer("/conversationDetails/state")
                .and_then(Value::as_str);
            self.closed.insert(id.to_owned(), state == Some("CLOSE"));
        }
    }

    /// The dialog a receipt names, as the validator sees it.
    pub(crate) fn view(&self, dialog_id: Option<&str>) -> DialogView<'_> {
        let Some(id) = dialog_id else {
            return DialogView::Unnamed;
        };
        match self.dialogs.get(id) {
            None => DialogView::NotYours,
            Some(dialog) => DialogView::Found {
                dialog,
                dialog_open: !self.closed.get(id).copied().unwrap_or(false),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sent_events_become_dialogs_with_gaps_allowed() {
        let mut ledger = Ledger::default();
        let change = |seq: u64, role: &str| {
            json!({"sequence": seq, "originatorId": "a", "originatorMetadata": {"role": role},
                   "serverTimestamp": 1, "event": {"type": "ContentEvent", "message": "x"}, "dialogId": "d"})
        };
        ledger.observe(&json!({"type": "ms.MessagingEventNotification",
            "body": {"changes": [change(5, "ASSIGNED_AGENT"), change(7, "CONSUMER")]}}));
        let DialogView::Found {
            dialog,
            dialog_open,
        } = ledger.view(Some("d"))
        else {
            panic!("dialog d is known")
        };
        assert!(dialog_open);
        assert_eq!(dialog.event(5).unwrap().originator_id, "a");
        assert_eq!(dialog.event(7).unwrap().originator_id, CONSUMER);
        assert!(dialog.event(6).is_none());
        assert!(matches!(ledger.view(Some("other")), DialogView::NotYours));
    }
}
