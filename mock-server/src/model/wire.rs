//! How a conversation looks on the wire: the `changes[]` entries of
//! `ms.MessagingEventNotification` and the `result` of a `cqm.ExConversationChangeNotification`
//! UPSERT (reference §4; dialogs, `stage` and survey roles as the PCS tutorial captures them).

use serde_json::{json, Map, Value};

use super::{Conversation, Dialog, StoredEvent};
use crate::model::Role;

impl Conversation {
    /// One `changes[]` entry of `ms.MessagingEventNotification` for an event stored in dialog
    /// `dialog`.
    pub(crate) fn change(&self, dialog: usize, event: &StoredEvent) -> Value {
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
        change.insert("dialogId".into(), self.dialogs[dialog].id.clone().into());
        if let Some(metadata) = &event.metadata {
            change.insert("metadata".into(), metadata.clone());
        }
        Value::Object(change)
    }

    /// The `changes[]` entry of a chat state in dialog `dialog`.
    pub(crate) fn chat_state_change(
        &self,
        dialog: usize,
        (originator_id, role): (&str, Role),
        event: Value,
    ) -> Value {
        // No sequence and no serverTimestamp: every captured chat-state change has neither
        // (the schema asks for both; protocol-decisions).
        json!({
            "originatorId": originator_id,
            "originatorMetadata": {"id": originator_id, "role": role.as_str()},
            "event": event,
            "conversationId": self.id,
            "dialogId": self.dialogs[dialog].id,
        })
    }

    /// The `result` of a `cqm.ExConversationChangeNotification` UPSERT (reference §4.2): every
    /// dialog, `state` of the MAIN dialog, `stage` of the whole conversation, `endTs` once
    /// every dialog is closed (PCS captures).
    pub(crate) fn ex_conversation(&self) -> Value {
        let open_close = |open: bool| if open { "OPEN" } else { "CLOSE" };
        let participants: Vec<Value> = self
            .participants
            .iter()
            .map(|p| json!({"id": p.id, "role": p.role.as_str()}))
            .collect();
        let dialogs: Vec<Value> = self.dialogs.iter().map(|d| self.dialog_json(d)).collect();
        let mut details = json!({
            "skillId": self.skill_id,
            "brandId": self.brand_id,
            "participants": participants,
            "dialogs": dialogs,
            "state": open_close(self.main_open()),
            "stage": open_close(self.is_open()),
            "startTs": self.start_ts,
            "metaDataLastUpdateTs": self.last_update_ts,
            "ttr": self.ttr,
        });
        if let Some(closed) = self.closed() {
            details["closeReason"] = json!(closed.by);
        }
        if let Some(end) = self.end_ts() {
            details["endTs"] = end.into();
        }
        if let Some(csat) = &self.csat {
            details["csat"] = csat.clone();
        }
        json!({
            "convId": self.id,
            "effectiveTTR": -1,
            "conversationDetails": details,
        })
    }

    /// One entry of `conversationDetails.dialogs`.
    fn dialog_json(&self, dialog: &Dialog) -> Value {
        let details: Vec<Value> = self
            .participants
            .iter()
            .filter(|p| dialog.kind.shows(p.role))
            .map(|p| json!({"id": p.id, "role": p.role.as_str(), "state": "ACTIVE"}))
            .collect();
        let mut out = Map::new();
        out.insert("dialogId".into(), dialog.id.clone().into());
        out.insert("participantsDetails".into(), details.into());
        out.insert("dialogType".into(), dialog.kind.as_str().into());
        out.insert("channelType".into(), "MESSAGING".into());
        if let Some(meta) = &dialog.meta_data {
            out.insert("metaData".into(), meta.clone());
        }
        let state = if dialog.is_open() { "OPEN" } else { "CLOSE" };
        out.insert("state".into(), state.into());
        out.insert("creationTs".into(), dialog.creation_ts.into());
        let updated = dialog.closed.as_ref().map_or(self.last_update_ts, |c| c.at);
        out.insert("metaDataLastUpdateTs".into(), updated.into());
        if let Some(closed) = &dialog.closed {
            out.insert("endTs".into(), closed.at.into());
            out.insert("closedBy".into(), json!(closed.by));
            out.insert("closedCause".into(), closed.cause.clone().into());
        }
        Value::Object(out)
    }
}
