//! Routing: an open conversation no agent holds rings every agent socket that is ONLINE with
//! a routing subscription (`.ams.routing.RoutingTaskNotification`, ringState WAITING); the
//! first to accept becomes its ASSIGNED_AGENT; unanswered rings expire
//! ([`Timeouts::ring`](crate::Timeouts)) and the conversation rings again. The built-in agent
//! stands back while an external agent takes rings ([`State::built_in_agent_takes`]).

use std::sync::Arc;

use serde_json::json;
use tokio::time::{sleep_until, Instant};

use super::{Hub, State};
use crate::model::{built_in_agent_id, now_ms, Ring, Role};
use crate::protocol::notification;
use crate::scenario::runner::ConsumerEvent;

/// `.ams.routing.RoutingTaskNotification`: a ring.
pub(crate) const ROUTING_TASK_NOTIFICATION: &str = ".ams.routing.RoutingTaskNotification";

impl State {
    /// Rings every agent taking rings on the conversation's account, unless the conversation is
    /// held, closed, or already ringing.
    pub(crate) fn route_conversation(&mut self, conv: usize) {
        let c = &self.conversations[conv];
        if !c.main_open() || c.is_assigned() || self.rings.rings_conversation(&c.id) {
            return;
        }
        let (conv_id, account) = (c.id.clone(), c.brand_id.clone());
        let agents: Vec<(u64, String)> = self
            .connections
            .iter()
            .filter_map(|(&id, conn)| {
                let agent = conn.agent.as_ref()?;
                (agent.identity.account == account && agent.takes_rings())
                    .then(|| (id, agent.routing.clone().unwrap_or_default()))
            })
            .collect();
        let now = (Instant::now(), now_ms());
        for (conn, subscription) in agents {
            let ring = self.rings.ring((&conv_id, &account), conn, now).clone();
            let frame = self.ring_notification(&subscription, conv, &ring);
            self.send(conn, frame);
        }
    }

    /// Routes every open conversation of `account` (an agent became available).
    pub(crate) fn route_account(&mut self, account: &str) {
        let convs: Vec<usize> = self
            .conversations
            .indices()
            .filter(|&i| self.conversations[i].brand_id == account)
            .collect();
        for conv in convs {
            self.route_conversation(conv);
        }
    }

    fn ring_notification(&self, subscription: &str, conv: usize, ring: &Ring) -> String {
        let c = &self.conversations[conv];
        let details = json!({
            "ringId": ring.id,
            "ringState": "WAITING",
            "ringExpiration": ring.expiration_ms,
            "weight": 1.0,
        });
        let result = json!({
            "conversationId": c.id,
            "consumerId": c.consumer_id,
            "skillId": c.skill_id,
            "ringsDetails": [details],
        });
        let body = json!({"subscriptionId": subscription, "changes": [
            {"type": "UPSERT", "result": result}
        ]});
        notification(ROUTING_TASK_NOTIFICATION, body)
    }

    /// The agent on `conn` accepts ring `ring_id`: it becomes the conversation's ASSIGNED_AGENT
    /// and every ring of the conversation ends.
    ///
    /// # Errors
    /// The reason, when the ring is not a waiting ring of this agent.
    pub(crate) fn accept_ring(&mut self, conn: u64, ring_id: &str) -> Result<(), String> {
        let ring = self.rings.waiting(ring_id, conn).cloned().ok_or_else(|| {
            format!("ring {ring_id} is not a waiting ring of yours (expired, or never yours)")
        })?;
        let Some(pid) = self.connections.get(&conn).and_then(|c| c.agent.as_ref()) else {
            return Err("not an agent socket".to_owned());
        };
        let pid = pid.identity.user_pid.clone();
        self.rings.end_conversation(&ring.conversation_id);
        let conv = self
            .conversation_index(&ring.conversation_id)
            .ok_or_else(|| format!("conversation {} is gone", ring.conversation_id))?;
        let c = &mut self.conversations[conv];
        c.add_participant(&pid, Role::AssignedAgent);
        c.last_update_ts = now_ms();
        self.notify_metadata(conv);
        Ok(())
    }

    /// Expires the rings due at `now`; their conversations ring again.
    pub(crate) fn expire_rings(&mut self, now: Instant) {
        let expired = self.rings.expire(now);
        for ring in expired {
            if let Some(conv) = self.conversation_index(&ring.conversation_id) {
                self.route_conversation(conv);
            }
        }
    }

    /// An agent socket closed: it takes no more rings, and what it was rung for rings again.
    pub(crate) fn agent_gone(&mut self, conn: u64) {
        let account = match self.connections.get_mut(&conn).and_then(|c| c.agent.take()) {
            Some(agent) => agent.identity.account,
            None => return,
        };
        self.rings.end_connection(conn);
        self.route_account(&account);
    }

    /// Whether the built-in agent (auto, scenario) acts on a consumer event: when it holds the
    /// conversation, or when nobody does and no external agent on the account takes rings.
    pub(crate) fn built_in_agent_takes(&self, event: &ConsumerEvent) -> bool {
        let Some(conv) = self.conversation_index(&event.conversation_id) else {
            return true;
        };
        let c = &self.conversations[conv];
        let built_in = built_in_agent_id(&c.brand_id);
        if c.has_participant(&built_in, Role::AssignedAgent) {
            return true;
        }
        if c.is_assigned() {
            return false;
        }
        let external = self.connections.values().any(|conn| {
            conn.agent
                .as_ref()
                .is_some_and(|a| a.identity.account == c.brand_id && a.takes_rings())
        });
        !external
    }
}

/// Expires rings on time until the server shuts down (one task per server).
pub(crate) async fn expire_rings(hub: Arc<Hub>) {
    loop {
        let next = hub.read(|s| s.rings.next_expiry());
        tokio::select! {
            // The server is shutting down.
            () = hub.cancel.cancelled() => return,
            // The earliest ring is due.
            () = sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                hub.with_state(|s| s.expire_rings(Instant::now()));
            }
            // A ring started or ended (a permit is kept if none was waiting): look again.
            () = hub.rings_changed.notified() => {}
        }
    }
}
