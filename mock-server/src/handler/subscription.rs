//! `cqm.SubscribeExConversations` and `cqm.UnsubscribeExConversations`.

use std::collections::HashSet;

use serde_json::{json, Value};
use uuid::Uuid;

use super::{ConnCtx, Reply};
use crate::hub::{ExSubscription, Hub};
use crate::protocol::{notification, response, string_response, types, ExFilter, Rejection, ReqId};
use crate::validation::{Finding, Rule};

/// Subscribes the socket to its consumer's conversation metadata: the response, then one
/// notification with every matching conversation (`changes: []` when none), then changes.
pub(super) fn subscribe(
    hub: &Hub,
    ctx: &ConnCtx,
    consumer: &str,
    id: &ReqId,
    filter: ExFilter,
) -> Reply {
    let subscription_id = Uuid::new_v4().to_string();
    hub.with_state(|s| {
        let mut shown = HashSet::new();
        let changes: Vec<Value> = s
            .conversations
            .iter()
            .filter(|c| {
                let state = (c.main_open(), c.is_open());
                c.consumer_id == consumer && filter.matches(state, c.last_update_ts)
            })
            .map(|c| {
                shown.insert(c.id.clone());
                json!({"type": "UPSERT", "result": c.ex_conversation()})
            })
            .collect();
        if let Some(conn) = s.connections.get_mut(&ctx.id) {
            conn.ex_subscriptions.push(ExSubscription {
                id: subscription_id.clone(),
                filter,
                shown,
            });
        }
        Reply::texts([
            response(
                Some(id),
                200,
                types::SUBSCRIBE_EX_CONVERSATIONS_RESPONSE,
                json!({"subscriptionId": subscription_id}),
            ),
            notification(
                types::EX_CONVERSATION_CHANGE_NOTIFICATION,
                json!({"subscriptionId": subscription_id, "changes": changes}),
            ),
        ])
    })
}

/// Ends one of the socket's metadata subscriptions.
pub(super) fn unsubscribe(
    hub: &Hub,
    ctx: &ConnCtx,
    id: &ReqId,
    subscription_id: &str,
) -> Result<Reply, Rejection> {
    let removed = hub.with_state(|s| {
        let conn = s.connections.get_mut(&ctx.id);
        conn.is_some_and(|c| {
            remove_subscription(&mut c.ex_subscriptions, subscription_id, |x| &x.id)
        })
    });
    if !removed {
        return Err(unknown_subscription(subscription_id));
    }
    Ok(Reply::texts([string_response(Some(id), 200, "OK")]))
}

/// Removes the subscription `id` from `list` (its id read by `id_of`); whether it was there.
/// Both sides' `UnsubscribeExConversations` end subscriptions this way.
pub(crate) fn remove_subscription<T>(
    list: &mut Vec<T>,
    id: &str,
    id_of: impl Fn(&T) -> &String,
) -> bool {
    let before = list.len();
    list.retain(|sub| id_of(sub) != id);
    list.len() != before
}

/// The refusal of an unsubscribe naming no subscription of the socket.
pub(crate) fn unknown_subscription(subscription_id: &str) -> Rejection {
    Rejection::from(Finding::violation(
        Rule::Body,
        "body.subscriptionId",
        Value::String(subscription_id.to_owned()),
        format!("{subscription_id} is not a subscription of this connection"),
    ))
}
