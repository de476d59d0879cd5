//! `.ams.routing.*`: availability (`SetAgentState`, `SubscribeAgentsState`), the routing
//! subscription that rings arrive on (`SubscribeRoutingTasks`), and answering a ring
//! (`UpdateRingState`).

use serde_json::{json, Value};
use uuid::Uuid;

use super::{string, types, ConnCtx, Reply};
use crate::hub::{AgentConn, Hub, State};
use crate::model::Availability;
use crate::protocol::{notification, response, Rejection, ReqId};
use crate::validation::{Finding, Rule};

/// `SetAgentState`: an ONLINE agent with a routing subscription is rung for every waiting
/// conversation of its account at once.
pub(super) fn set_state(hub: &Hub, ctx: &ConnCtx, id: &ReqId, availability: Availability) -> Reply {
    hub.with_state(|s| {
        let Some(agent) = agent_mut(s, ctx) else {
            return;
        };
        agent.availability = availability;
        if let Some(frame) = state_notification(agent) {
            s.send(ctx.id, frame);
        }
        s.route_account(&ctx.account);
    });
    string(id, 200, "Agent state updated successfully")
}

/// `SubscribeRoutingTasks`: `{subscriptionId}`, then rings (when ONLINE).
pub(super) fn subscribe(hub: &Hub, ctx: &ConnCtx, id: &ReqId) -> Reply {
    let subscription = Uuid::new_v4().to_string();
    hub.with_state(|s| {
        if let Some(agent) = agent_mut(s, ctx) {
            agent.routing = Some(subscription.clone());
        }
    });
    let reply = Reply::one(response(
        Some(id),
        200,
        types::GENERIC_SUBSCRIBE_RESPONSE,
        json!({"subscriptionId": subscription}),
    ));
    // Rings for conversations already waiting follow the response.
    hub.with_state(|s| s.route_account(&ctx.account));
    reply
}

/// `SubscribeAgentsState`: `{subscriptionId}`, then the agent's state now and on every change.
pub(super) fn subscribe_state(hub: &Hub, ctx: &ConnCtx, id: &ReqId) -> Reply {
    let subscription = Uuid::new_v4().to_string();
    let note = hub.with_state(|s| {
        let agent = agent_mut(s, ctx)?;
        agent.state_subscription = Some(subscription.clone());
        state_notification(agent)
    });
    let first = response(
        Some(id),
        200,
        types::GENERIC_SUBSCRIBE_RESPONSE,
        json!({"subscriptionId": subscription}),
    );
    Reply::texts(std::iter::once(first).chain(note))
}

/// `UpdateRingState`: ACCEPTED makes the agent the conversation's ASSIGNED_AGENT (202, the
/// string the SDK's docs show); REJECTED keeps it from ringing this agent until it expires.
pub(super) fn ring_state(
    hub: &Hub,
    ctx: &ConnCtx,
    id: &ReqId,
    ring_id: &str,
    accepted: bool,
) -> Result<Reply, Rejection> {
    hub.with_state(|s| {
        if accepted {
            s.accept_ring(ctx.id, ring_id)
        } else if s.rings.waiting(ring_id, ctx.id).is_some() {
            s.rings.reject(ring_id);
            Ok(())
        } else {
            Err(format!("ring {ring_id} is not a waiting ring of yours"))
        }
    })
    .map_err(|message| {
        Rejection::from(Finding::violation(
            Rule::State,
            "body.ringId",
            Value::String(ring_id.to_owned()),
            message,
        ))
    })?;
    Ok(string(id, 202, "Ring state updated successfully"))
}

/// The agent state of the socket, for handlers that change it.
pub(super) fn agent_mut<'a>(s: &'a mut State, ctx: &ConnCtx) -> Option<&'a mut AgentConn> {
    s.connections.get_mut(&ctx.id)?.agent.as_mut()
}

/// `.ams.routing.AgentStateNotification` of the agent's state, when it subscribed to it.
fn state_notification(agent: &AgentConn) -> Option<String> {
    let subscription = agent.state_subscription.as_ref()?;
    let result = json!({
        "agentUserId": agent.identity.old_id(),
        "channels": ["MESSAGING"],
        "availability": agent.availability.as_str(),
    });
    Some(notification(
        types::AGENT_STATE_NOTIFICATION,
        json!({"subscriptionId": subscription, "changes": [{"type": "UPSERT", "result": result}]}),
    ))
}
