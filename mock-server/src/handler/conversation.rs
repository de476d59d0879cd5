//! `cm.ConsumerRequestConversation` and `cm.UpdateConversationField`.

use serde_json::{json, Value};
use uuid::Uuid;

use super::{ConnCtx, Reply};
use crate::hub::Hub;
use crate::model::{now_ms, ClosedBy, Conversation};
use crate::protocol::{response, string_response, types, FieldChange, Rejection, ReqId};
use crate::scenario::runner::ConsumerEvent;
use crate::scenario::Trigger;
use crate::validation::{Finding, Rule};

/// Creates a conversation; the creating socket is subscribed to its MAIN dialog at once (as
/// in the seed tutorial). A consumer has at most one open conversation.
pub(super) fn request(
    hub: &Hub,
    ctx: &ConnCtx,
    consumer: &str,
    id: &ReqId,
    skill_id: String,
) -> Result<Reply, Rejection> {
    let account = ctx.account.clone();
    hub.with_state(|s| {
        if let Some(open) = s.open_conversation_of(&account, consumer) {
            let open_id = s.conversations[open].id.clone();
            return Err(Rejection::bad_request(
                Rule::State,
                "type",
                Value::String("cm.ConsumerRequestConversation".into()),
                format!("consumer already has an open conversation {open_id}; close it first"),
            ));
        }
        let conversation_id = Uuid::new_v4().to_string();
        let conv = s.add_conversation(Conversation::new(
            conversation_id.clone(),
            consumer.to_owned(),
            account,
            skill_id,
        ));
        if let Some(conn) = s.connections.get_mut(&ctx.id) {
            conn.dialogs.insert(conversation_id.clone());
        }
        s.notify_metadata(conv);
        s.events.push(ConsumerEvent {
            trigger: Trigger::ConversationCreated,
            conversation_id: conversation_id.clone(),
            message: None,
            status: None,
        });
        Ok(Reply::texts([response(
            Some(id),
            200,
            types::REQUEST_CONVERSATION_RESPONSE,
            json!({"conversationId": conversation_id}),
        )]))
    })
}

/// Applies `conversationField` changes (all or nothing) to one of the consumer's
/// conversations.
pub(super) fn update_field(
    hub: &Hub,
    consumer: &str,
    id: &ReqId,
    conversation_id: &str,
    changes: Vec<FieldChange>,
) -> Result<Reply, Rejection> {
    hub.with_state(|s| {
        let conv = s
            .conversation_index(conversation_id)
            .filter(|&i| s.conversations[i].consumer_id == consumer)
            .ok_or_else(|| {
                Rejection::bad_request(
                    Rule::Dialog,
                    "body.conversationId",
                    Value::String(conversation_id.to_owned()),
                    format!("conversation {conversation_id} is not one of your conversations"),
                )
            })?;
        let open = s.conversations[conv].is_open();
        // Closing or re-timing a closed conversation fails like the live service does; a CSAT
        // rating is what comes after closing, so it is accepted either way.
        let needs_open = changes
            .iter()
            .any(|c| matches!(c, FieldChange::Close { .. } | FieldChange::Ttr(_)));
        if needs_open && !open {
            return Err(Rejection {
                code: 400,
                finding: Box::new(Finding::violation(
                    Rule::ConversationOpen,
                    "body.conversationId",
                    Value::String(conversation_id.to_owned()),
                    format!("conversation {conversation_id} is closed"),
                )),
            });
        }
        let mut closed = false;
        for change in changes {
            match change {
                FieldChange::Close { cause } if !closed => {
                    s.close_conversation(conv, ClosedBy::Consumer, &cause);
                    closed = true;
                }
                FieldChange::Close { .. } => {}
                FieldChange::Csat(csat) => s.conversations[conv].csat = Some(csat),
                FieldChange::Ttr(ttr) => s.conversations[conv].ttr = ttr,
            }
        }
        if !closed {
            s.conversations[conv].last_update_ts = now_ms();
            s.notify_metadata(conv);
        }
        let body = if closed {
            "OK Conversation resolved successfully"
        } else {
            "OK Conversation updated successfully"
        };
        Ok(Reply::texts([string_response(Some(id), 200, body)]))
    })
}
