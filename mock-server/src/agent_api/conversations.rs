//! `.ams.aam.SubscribeExConversations` / `UnsubscribeExConversations` (conversation metadata
//! for agents) and `.ams.cm.UpdateConversationField` (join as MANAGER or READER, leave, back
//! to the queue, close).

use serde_json::{json, Value};
use uuid::Uuid;

use super::requests::FieldChange;
use super::routing::agent_mut;
use super::{string, types, ConnCtx, Reply};
use crate::handler::subscription::{remove_subscription, unknown_subscription};
use crate::hub::{AgentExFilter, Hub};
use crate::model::{now_ms, ClosedBy, Role};
use crate::protocol::{notification, response, Rejection, ReqId};
use crate::validation::{Finding, Rule};

/// `SubscribeExConversations`: `{subscriptionId}`, then one notification with an UPSERT of
/// every matching conversation (`changes: []` when none), then every change.
pub(super) fn subscribe(hub: &Hub, ctx: &ConnCtx, id: &ReqId, filter: AgentExFilter) -> Reply {
    let subscription = Uuid::new_v4().to_string();
    let changes = hub.with_state(|s| {
        let agent = agent_mut(s, ctx)?;
        agent
            .ex_subscriptions
            .push(crate::hub::AgentExSubscription {
                id: subscription.clone(),
                filter,
                shown: std::collections::HashSet::new(),
            });
        let index = agent.ex_subscriptions.len() - 1;
        Some(s.agent_ex_snapshot(ctx.id, index))
    });
    Reply::texts([
        response(
            Some(id),
            200,
            types::SUBSCRIBE_EX_CONVERSATIONS_RESPONSE,
            json!({"subscriptionId": subscription}),
        ),
        notification(
            crate::hub::AGENT_EX_CONVERSATION_CHANGE,
            json!({"subscriptionId": subscription, "changes": changes.unwrap_or_default()}),
        ),
    ])
}

/// `UnsubscribeExConversations`.
pub(super) fn unsubscribe(
    hub: &Hub,
    ctx: &ConnCtx,
    id: &ReqId,
    subscription_id: &str,
) -> Result<Reply, Rejection> {
    let removed = hub.with_state(|s| {
        let agent = agent_mut(s, ctx)?;
        Some(remove_subscription(
            &mut agent.ex_subscriptions,
            subscription_id,
            |x| &x.id,
        ))
    });
    if removed != Some(true) {
        return Err(unknown_subscription(subscription_id));
    }
    Ok(string(id, 200, "OK"))
}

/// `UpdateConversationField`: every change applied in order, or none (the first refusal is
/// answered). ADD ASSIGNED_AGENT takes a conversation nobody holds; REMOVE ASSIGNED_AGENT sends
/// it back to the queue (it rings again); CLOSE closes it (closeReason AGENT).
pub(super) fn update_field(
    hub: &Hub,
    ctx: &ConnCtx,
    id: &ReqId,
    conversation_id: &str,
    changes: &[FieldChange],
) -> Result<Reply, Rejection> {
    let Some(me) = ctx.agent.as_ref().map(|a| a.user_pid.clone()) else {
        return Ok(Reply::default());
    };
    hub.with_state(|s| {
        let conv = s
            .conversation_index(conversation_id)
            .filter(|&c| s.conversations[c].brand_id == ctx.account)
            .ok_or_else(|| {
                refuse(
                    Rule::Dialog,
                    conversation_id,
                    "is not a conversation of this account",
                )
            })?;
        if !s.conversations[conv].main_open() {
            return Err(Rejection::closed(
                "body.conversationId",
                conversation_id,
                format!("conversation {conversation_id} is closed"),
            ));
        }
        // Checked first, so that a refused change leaves the conversation as it was.
        let c = &s.conversations[conv];
        for change in changes {
            match change {
                FieldChange::Join(Role::AssignedAgent) if c.is_assigned() => {
                    return Err(refuse(
                        Rule::State,
                        conversation_id,
                        "already has an ASSIGNED_AGENT",
                    ))
                }
                FieldChange::Leave(role) if !c.has_participant(&me, *role) => {
                    let message = format!("does not have you as {}", role.as_str());
                    return Err(refuse(Rule::State, conversation_id, &message));
                }
                _ => {}
            }
        }
        let mut closed = false;
        for change in changes {
            let c = &mut s.conversations[conv];
            match change {
                FieldChange::Join(role) => c.add_participant(&me, *role),
                FieldChange::Leave(role) => {
                    c.remove_participant(&me, *role);
                }
                FieldChange::Close => closed = true,
                FieldChange::Ttr(ttr) => c.ttr = ttr.clone(),
            }
            c.last_update_ts = now_ms();
        }
        if closed {
            s.close_conversation(conv, ClosedBy::Agent, "Closed by agent");
        } else {
            s.notify_metadata(conv);
            s.route_conversation(conv);
        }
        Ok(string(id, 200, "OK"))
    })
}

fn refuse(rule: Rule, conversation_id: &str, what: &str) -> Rejection {
    Rejection::from(Finding::violation(
        rule,
        "body.conversationId",
        Value::String(conversation_id.to_owned()),
        format!("conversation {conversation_id} {what}"),
    ))
}
