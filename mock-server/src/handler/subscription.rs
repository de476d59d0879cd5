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
    hub.with_state(|s| {
        let removed = s.connections.get_mut(&ctx.id).is_some_and(|conn| {
            let before = conn.ex_subscriptions.len();
            conn.ex_subscriptions
                .retain(|sub| sub.id != subscription_id);
            conn.ex_subscriptions.len() != before
        });
        if removed {
            Ok(Reply::texts([string_response(Some(id), 200, "OK")]))
        } else {
            Err(Rejection::from(Finding::violation(
                Rule::Body,
                "body.subscriptionId",
                Value::String(subscription_id.to_owned()),
                format!("{subscription_id} is not a subscription of this connection"),
            )))
        }
    })
}
