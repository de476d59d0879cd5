//! How a conversation looks on the agent socket (agent-api.md §2, the shapes node-agent-sdk
//! 1.2.0's transforms require): `.ams.aam.ExConversationChangeNotification` results with
//! `participants` as role → old ids and `participantsPId` as role → participant ids, and
//! `.ams.ms.OnlineEventDistribution` events with `originatorPId`.
//!
//! The consumer side's renderings (`wire`) are the base; only the ids differ. `old_id` maps a
//! participant id to the id the agent API shows for it (`"{account}.{userId}"` for agents, the
//! consumer's own id for the consumer).

use serde_json::{json, Map, Value};

use super::{Conversation, Role, StoredEvent};

impl Conversation {
    /// The `result` of an agent-side `ExConversationChangeNotification` change.
    pub(crate) fn agent_ex_conversation(&self, old_id: &dyn Fn(&str, Role) -> String) -> Value {
        let mut result = self.ex_conversation();
        let mut by_role: Map<String, Value> = Map::new();
        let mut pids_by_role: Map<String, Value> = Map::new();
        for p in &self.participants {
            push(&mut by_role, p.role.as_str(), old_id(&p.id, p.role));
            push(&mut pids_by_role, p.role.as_str(), p.id.clone());
        }
        let details = &mut result["conversationDetails"];
        details["participants"] = Value::Object(by_role);
        details["participantsPId"] = Value::Object(pids_by_role);
        result
    }

    /// The body of an `.ams.ms.OnlineEventDistribution` (and one entry of
    /// `.ams.ms.QueryMessages$Response`) for an event stored in dialog `dialog`.
    pub(crate) fn online_event(
        &self,
        dialog: usize,
        event: &StoredEvent,
        old_id: &dyn Fn(&str, Role) -> String,
    ) -> Value {
        let mut change = self.change(dialog, event);
        change["originatorId"] = old_id(&event.originator_id, event.role).into();
        change["originatorPId"] = json!(event.originator_id);
        change
    }
}

fn push(map: &mut Map<String, Value>, role: &str, id: String) {
    match map.entry(role).or_insert_with(|| json!([])) {
        Value::Array(ids) => ids.push(id.into()),
        other => *other = json!([id]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn old(id: &str, role: Role) -> String {
        match role {
            Role::Consumer => id.to_owned(),
            _ => format!("123.{id}"),
        }
    }

    #[test]
    fn participants_are_grouped_by_role_with_both_kinds_of_id() {
        let mut c = Conversation::new("c".into(), "cons".into(), "123".into(), "-1".into());
        c.add_participant("pid-a", Role::AssignedAgent);
        c.add_participant("pid-m", Role::Manager);
        let r = c.agent_ex_conversation(&old);
        let d = &r["conversationDetails"];
        assert_eq!(d["participants"]["ASSIGNED_AGENT"], json!(["123.pid-a"]));
        assert_eq!(d["participants"]["CONSUMER"], json!(["cons"]));
        assert_eq!(d["participantsPId"]["MANAGER"], json!(["pid-m"]));
        let shown = d["dialogs"][0]["participantsDetails"].as_array().unwrap();
        assert_eq!(shown.len(), 3);
    }

    #[test]
    fn an_online_event_names_the_originator_both_ways() {
        let mut c = Conversation::new("c".into(), "cons".into(), "123".into(), "-1".into());
        let seq = c.store(
            "pid-a",
            Role::AssignedAgent,
            json!({"type":"ContentEvent"}),
            None,
        );
        let e = c.online_event(0, c.main().event(seq).unwrap(), &old);
        assert_eq!(e["originatorId"], "123.pid-a");
        assert_eq!(e["originatorPId"], "pid-a");
        assert_eq!(
            e["originatorMetadata"],
            json!({"id":"pid-a","role":"ASSIGNED_AGENT"})
        );
        assert_eq!(e["dialogId"], "c");
        assert!(e["serverTimestamp"].is_u64());
    }
}
