//! Agent sockets in the shared state: who a bearer names ([`AgentDirectory`]), what each agent
//! socket is subscribed to ([`AgentConn`]), and the agent side of the fan-out:
//! `.ams.ms.OnlineEventDistribution` to the agents taking part in a conversation and
//! `.ams.aam.ExConversationChangeNotification` to the agents' metadata subscriptions.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::State;
use crate::model::{AgentIdentity, Availability, Conversation, DialogAt, Role};
use crate::protocol::notification;

/// `.ams.ms.OnlineEventDistribution`: one event of a conversation the agent takes part in.
pub(crate) const ONLINE_EVENT_DISTRIBUTION: &str = ".ams.ms.OnlineEventDistribution";
/// `.ams.aam.ExConversationChangeNotification`: conversation metadata for an agent.
pub(crate) const AGENT_EX_CONVERSATION_CHANGE: &str = ".ams.aam.ExConversationChangeNotification";

/// Who the bearer of an agent socket (`/messaging/brand/{bearer}`) is.
///
/// The one place a bearer becomes an [`AgentIdentity`]: the agent a login on this account
/// issued it to (`discovery`'s sessions), else, for a bearer no login issued (the SDK's token
/// mode, a hand-made URL), an identity derived from the account and the bearer: stable, and
/// never containing the bearer.
#[derive(Debug, Default)]
pub(crate) struct AgentDirectory {}

impl AgentDirectory {
    /// The agent `bearer` names on `account`, given the login sessions.
    pub(crate) fn identity_for(
        &self,
        sessions: &crate::discovery::sessions::Sessions,
        account: &str,
        bearer: &str,
    ) -> AgentIdentity {
        sessions
            .lookup(bearer)
            .filter(|identity| identity.account == account)
            .unwrap_or_else(|| AgentIdentity::derived(account, bearer))
    }
}

/// An agent socket's state.
#[derive(Debug)]
pub(crate) struct AgentConn {
    pub identity: AgentIdentity,
    /// `SetAgentState`; only ONLINE agents are rung.
    pub availability: Availability,
    /// The `SubscribeRoutingTasks` subscription, once made: rings go to it.
    pub routing: Option<String>,
    /// `SubscribeExConversations` subscriptions.
    pub ex_subscriptions: Vec<AgentExSubscription>,
    /// The `SubscribeAgentsState` subscription, once made: state changes go to it.
    pub state_subscription: Option<String>,
}

impl AgentConn {
    /// A socket of `identity` that has not said anything yet (OFFLINE, no subscriptions).
    pub(crate) fn new(identity: AgentIdentity) -> Self {
        Self {
            identity,
            availability: Availability::Offline,
            routing: None,
            ex_subscriptions: Vec::new(),
            state_subscription: None,
        }
    }

    /// Whether it is rung: ONLINE with a routing subscription.
    pub(crate) fn takes_rings(&self) -> bool {
        self.availability == Availability::Online && self.routing.is_some()
    }
}

/// What an agent's `SubscribeExConversations` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AgentExFilter {
    /// `agentIds` (old ids, `"{account}.{userId}"`): conversations one of them takes part in;
    /// `None` for every conversation of the account.
    pub agent_ids: Option<Vec<String>>,
    /// `convState`: which MAIN-dialog states (`true` = OPEN); `None` for both.
    pub open: Option<Vec<bool>>,
}

/// One `SubscribeExConversations` subscription of an agent socket.
#[derive(Debug)]
pub(crate) struct AgentExSubscription {
    pub id: String,
    pub filter: AgentExFilter,
    /// Conversations it has shown (a later non-match becomes a DELETE).
    pub shown: HashSet<String>,
}

impl State {
    /// The id the agent API shows for participant `id` in `role`: the consumer's own id, an
    /// agent's `"{account}.{userId}"`.
    pub(crate) fn old_id(&self, account: &str, id: &str, role: Role) -> String {
        if role == Role::Consumer {
            return id.to_owned();
        }
        self.agents.get(id).map_or_else(
            || AgentIdentity::built_in(account, id).old_id(),
            AgentIdentity::old_id,
        )
    }

    /// The agent-side rendering of a conversation (an ExConversationChange result).
    pub(crate) fn agent_view(&self, conv: usize) -> Value {
        let c = &self.conversations[conv];
        c.agent_ex_conversation(&|id, role| self.old_id(&c.brand_id, id, role))
    }

    /// Whether the subscription's filter matches a conversation.
    fn ex_matches(&self, filter: &AgentExFilter, c: &Conversation) -> bool {
        if let Some(open) = &filter.open {
            if !open.contains(&c.main_open()) {
                return false;
            }
        }
        filter.agent_ids.as_ref().is_none_or(|ids| {
            c.participants
                .iter()
                .filter(|p| p.role != Role::Consumer)
                .any(|p| ids.contains(&self.old_id(&c.brand_id, &p.id, p.role)))
        })
    }

    /// The changes a new subscription starts with: an UPSERT of every matching conversation of
    /// `account`; marks them shown.
    pub(crate) fn agent_ex_snapshot(&mut self, conn: u64, sub: usize) -> Vec<Value> {
        let Some(agent) = self.connections.get(&conn).and_then(|c| c.agent.as_ref()) else {
            return Vec::new();
        };
        let filter = agent.ex_subscriptions[sub].filter.clone();
        let account = agent.identity.account.clone();
        let matching: Vec<usize> = self
            .conversations
            .indices()
            .filter(|&i| self.conversations[i].brand_id == account)
            .filter(|&i| self.ex_matches(&filter, &self.conversations[i]))
            .collect();
        let changes = matching
            .iter()
            .map(|&i| json!({"type": "UPSERT", "result": self.agent_view(i)}))
            .collect();
        let ids = matching.iter().map(|&i| self.conversations[i].id.clone());
        if let Some(a) = self
            .connections
            .get_mut(&conn)
            .and_then(|c| c.agent.as_mut())
        {
            a.ex_subscriptions[sub].shown.extend(ids);
        }
        changes
    }

    /// Sends a conversation's new metadata to the agents' subscriptions on its account: UPSERT
    /// while it matches, DELETE (with the whole result, as the SDK requires) once it stops.
    pub(crate) fn notify_agent_metadata(&mut self, conv: usize) {
        let c = &self.conversations[conv];
        let (account, conv_id) = (c.brand_id.clone(), c.id.clone());
        let result = self.agent_view(conv);
        let mut verdicts = Vec::new();
        for (&id, conn) in &self.connections {
            let Some(agent) = conn
                .agent
                .as_ref()
                .filter(|a| a.identity.account == account)
            else {
                continue;
            };
            for (i, sub) in agent.ex_subscriptions.iter().enumerate() {
                let matches = self.ex_matches(&sub.filter, c);
                if matches || sub.shown.contains(&conv_id) {
                    verdicts.push((id, i, matches));
                }
            }
        }
        for (id, i, matches) in verdicts {
            let Some(agent) = self.connections.get_mut(&id).and_then(|c| c.agent.as_mut()) else {
                continue;
            };
            let sub = &mut agent.ex_subscriptions[i];
            let kind = if matches {
                sub.shown.insert(conv_id.clone());
                "UPSERT"
            } else {
                sub.shown.remove(&conv_id);
                "DELETE"
            };
            let body = json!({
                "subscriptionId": sub.id,
                "changes": [{"type": kind, "result": result}],
            });
            self.send(id, notification(AGENT_EX_CONVERSATION_CHANGE, body));
        }
    }

    /// Sends a stored event to every agent socket taking part in its conversation, as
    /// `.ams.ms.OnlineEventDistribution` (API v2.1 pushes these without a subscription, as
    /// the SDK's agent-bot example relies on).
    pub(crate) fn distribute(&mut self, at: DialogAt, sequence: u64) {
        let c = &self.conversations[at.conv];
        let Some(event) = c.dialogs[at.dialog].event(sequence) else {
            return;
        };
        let body = c.online_event(at.dialog, event, &|id, role| {
            self.old_id(&c.brand_id, id, role)
        });
        self.send_to_agents(at.conv, &notification(ONLINE_EVENT_DISTRIBUTION, body));
    }

    /// Sends a chat state (a consumer-side change: not stored, no sequence) to the agents
    /// taking part, as `.ams.ms.OnlineEventDistribution` with the agent side's ids: typing
    /// reaches the Agent Workspace and bots as any other event does.
    pub(crate) fn distribute_chat_state(&mut self, conv: usize, change: &Value) {
        let c = &self.conversations[conv];
        let mut body = change.clone();
        let pid = change["originatorId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let role = match change["originatorMetadata"]["role"].as_str() {
            Some("CONSUMER") => Role::Consumer,
            _ => Role::AssignedAgent,
        };
        body["originatorId"] = Value::String(self.old_id(&c.brand_id, &pid, role));
        body["originatorPId"] = Value::String(pid);
        self.send_to_agents(conv, &notification(ONLINE_EVENT_DISTRIBUTION, body));
    }

    /// Queues `frame` for every agent socket of the conversation's account taking part in it.
    fn send_to_agents(&mut self, conv: usize, frame: &str) {
        let c = &self.conversations[conv];
        let targets: Vec<u64> = self
            .connections
            .iter()
            .filter(|(_, conn)| {
                conn.agent.as_ref().is_some_and(|a| {
                    a.identity.account == c.brand_id
                        && c.participants
                            .iter()
                            .any(|p| p.role != Role::Consumer && p.id == a.identity.user_pid)
                })
            })
            .map(|(id, _)| *id)
            .collect();
        for id in targets {
            self.send(id, frame.to_owned());
        }
    }
}
