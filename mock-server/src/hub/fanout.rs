//! The fan-out: storing an event in a dialog and sending each change to the sockets that see
//! it (`ms.MessagingEventNotification` to a dialog's subscribers, `cqm.ExConversationChange
//! Notification` to the owner's metadata subscriptions), under the state lock so every socket
//! sees changes in the order they were made.

use serde_json::{json, Value};

use super::State;
use crate::model::{DialogAt, Role};
use crate::protocol::{notification, types};

impl State {
    /// Stores an event in a dialog and notifies every socket subscribed to it; returns its
    /// sequence. Consumers, the built-in agent, the survey bot and agent sockets all publish
    /// through here; agents taking part get it as `.ams.ms.OnlineEventDistribution`.
    pub(crate) fn publish(
        &mut self,
        at: DialogAt,
        who: (&str, Role),
        event: Value,
        metadata: Option<Value>,
    ) -> u64 {
        let c = &mut self.conversations[at.conv];
        let sequence = c.store_in(at.dialog, who, event, metadata);
        let stored = c.dialogs[at.dialog].event(sequence);
        if let Some(change) = stored.map(|e| c.change(at.dialog, e)) {
            self.notify_dialog(at, change);
        }
        self.distribute(at, sequence);
        sequence
    }

    /// Relays a chat state (not stored): to the dialog's subscribers and to the agents taking
    /// part, from whichever side it came.
    pub(crate) fn relay_chat_state(&mut self, at: DialogAt, change: Value) {
        self.distribute_chat_state(at.conv, &change);
        self.notify_dialog(at, change);
    }

    /// Sends one `ms.MessagingEventNotification` change to every socket subscribed to the
    /// dialog, the publisher included.
    pub(crate) fn notify_dialog(&mut self, at: DialogAt, change: Value) {
        let dialog = self.conversations[at.conv].dialogs[at.dialog].id.clone();
        let frame = notification(
            types::MESSAGING_EVENT_NOTIFICATION,
            json!({"changes": [change]}),
        );
        let targets: Vec<u64> = self
            .connections
            .iter()
            .filter(|(_, c)| c.dialogs.contains(&dialog))
            .map(|(id, _)| *id)
            .collect();
        for id in targets {
            self.send(id, frame.clone());
        }
    }

    /// Sends the conversation's new metadata to every metadata subscription of its consumer
    /// and of the agents on its account: UPSERT while it matches the filter, DELETE once it
    /// stops matching.
    pub(crate) fn notify_metadata(&mut self, conv: usize) {
        let conversation = &self.conversations[conv];
        let (consumer, conv_id) = (conversation.consumer_id.clone(), conversation.id.clone());
        let account = conversation.brand_id.clone();
        let state = (conversation.main_open(), conversation.is_open());
        let ts = conversation.last_update_ts;
        let upsert = conversation.ex_conversation();
        let close_reason = conversation.closed().map(|c| json!(c.by));
        let mut frames = Vec::new();
        for (id, conn) in &mut self.connections {
            if conn.consumer_id.as_deref() != Some(consumer.as_str()) || conn.account != account {
                continue;
            }
            for sub in &mut conn.ex_subscriptions {
                let change = if sub.filter.matches(state, ts) {
                    sub.shown.insert(conv_id.clone());
                    json!({"type": "UPSERT", "result": upsert})
                } else if sub.shown.remove(&conv_id) {
                    // aam/subscribeExConversationsNotification.json requires
                    // conversationDetails in every result, DELETE included.
                    json!({"type": "DELETE", "result": {
                        "convId": conv_id,
                        "conversationDetails": upsert["conversationDetails"],
                        "closeReason": close_reason,
                    }})
                } else {
                    continue;
                };
                frames.push((
                    *id,
                    notification(
                        types::EX_CONVERSATION_CHANGE_NOTIFICATION,
                        json!({"subscriptionId": sub.id, "changes": [change]}),
                    ),
                ));
            }
        }
        for (id, frame) in frames {
            self.send(id, frame);
        }
        self.notify_agent_metadata(conv);
    }
}
