//! `cm.ConsumerRequestConversation` and `cm.UpdateConversationField`.

use serde_json::{json, Value};
use uuid::Uuid;

use super::{ConnCtx, Reply};
use crate::client_properties::MULTI_DIALOG;
use crate::hub::{Hub, State};
use crate::model::{now_ms, ClosedBy, Conversation};
use crate::protocol::{
    response, string_response, types, FieldChange, Rejection, ReqId, CLOSED_BY_CONSUMER,
};
use crate::scenario::runner::ConsumerEvent;
use crate::scenario::{Survey, Trigger};
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
            return Err(Rejection::from(Finding::violation(
                Rule::State,
                "type",
                Value::String("cm.ConsumerRequestConversation".into()),
                format!("consumer already has an open conversation {open_id}; close it first"),
            )));
        }
        let conversation_id = Uuid::new_v4().to_string();
        let mut conversation = Conversation::new(
            conversation_id.clone(),
            consumer.to_owned(),
            account,
            skill_id,
        );
        conversation.client_properties = ctx.client_properties.clone();
        let conv = s.add_conversation(conversation);
        if let Some(conn) = s.connections.get_mut(&ctx.id) {
            conn.dialogs.insert(conversation_id.clone());
        }
        s.notify_metadata(conv);
        s.route_conversation(conv);
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
/// conversations. Closing the MAIN dialog (`DialogChange`) of a `MULTI_DIALOG` client opens
/// the post-conversation survey instead of ending the conversation.
pub(super) fn update_field(
    hub: &Hub,
    ctx: &ConnCtx,
    consumer: &str,
    id: &ReqId,
    conversation_id: &str,
    changes: Vec<FieldChange>,
) -> Result<Reply, Rejection> {
    let survey = hub
        .settings
        .survey
        .as_ref()
        .filter(|_| ctx.has_feature(MULTI_DIALOG));
    hub.with_state(|s| {
        let conv = s
            .conversation_index(conversation_id)
            .filter(|&i| s.conversations[i].consumer_id == consumer)
            .ok_or_else(|| {
                Rejection::from(Finding::violation(
                    Rule::Dialog,
                    "body.conversationId",
                    Value::String(conversation_id.to_owned()),
                    format!("conversation {conversation_id} is not one of your conversations"),
                ))
            })?;
        // Every change is checked before any is applied.
        let c = &s.conversations[conv];
        let mut closes = None;
        for change in &changes {
            match change {
                FieldChange::CloseConversation => {
                    require_open(c.is_open(), conversation_id)?;
                    closes.get_or_insert(Close::All);
                }
                FieldChange::CloseDialog { dialog_id, cause } => {
                    let dialog = dialog_of(c, dialog_id.as_deref())?;
                    require_open(c.dialogs[dialog].is_open(), conversation_id)?;
                    closes.get_or_insert(Close::Dialog(dialog, cause.clone()));
                }
                // Re-timing needs the agent's dialog open; a CSAT rating is what comes after
                // closing, so it is accepted either way.
                FieldChange::Ttr(_) => require_open(c.main_open(), conversation_id)?,
                FieldChange::Csat(_) => {}
            }
        }
        for change in changes {
            match change {
                FieldChange::Csat(csat) => s.conversations[conv].csat = Some(csat),
                FieldChange::Ttr(ttr) => s.conversations[conv].ttr = ttr,
                FieldChange::CloseConversation | FieldChange::CloseDialog { .. } => {}
            }
        }
        let body = match closes {
            Some(close) => {
                apply_close(s, conv, close, survey);
                "OK Conversation resolved successfully"
            }
            None => {
                s.conversations[conv].last_update_ts = now_ms();
                s.notify_metadata(conv);
                "OK Conversation updated successfully"
            }
        };
        Ok(Reply::texts([string_response(Some(id), 200, body)]))
    })
}

/// What one request closes (the first close it names).
enum Close {
    /// Every dialog (`Stage`, `ConversationStateField`).
    All,
    /// One dialog, by index, with its `closedCause`.
    Dialog(usize, String),
}

/// Closes what `close` names and tells metadata subscribers once: closing MAIN opens the
/// survey when `survey` is set (a `MULTI_DIALOG` client) and none was opened before;
/// otherwise closing MAIN ends the conversation as it always did.
fn apply_close(s: &mut State, conv: usize, close: Close, survey: Option<&Survey>) {
    let c = &mut s.conversations[conv];
    match close {
        Close::Dialog(0, cause) if c.dialogs.len() == 1 && survey.is_some() => {
            c.close_dialog(0, ClosedBy::Consumer, &cause, now_ms());
            if let Some(survey) = survey {
                s.open_survey(conv, survey);
            }
        }
        Close::Dialog(0, cause) => {
            c.close_all(ClosedBy::Consumer, &cause);
        }
        Close::Dialog(dialog, cause) => {
            c.close_dialog(dialog, ClosedBy::Consumer, &cause, now_ms());
        }
        Close::All => c.close_all(ClosedBy::Consumer, CLOSED_BY_CONSUMER),
    }
    s.forget_if_closed(conv);
    s.notify_metadata(conv);
}

/// The index of dialog `dialog_id` of `c` (MAIN when not named).
fn dialog_of(c: &Conversation, dialog_id: Option<&str>) -> Result<usize, Rejection> {
    let Some(dialog_id) = dialog_id else {
        return Ok(0);
    };
    c.dialog_index(dialog_id).ok_or_else(|| {
        Rejection::from(Finding::violation(
            Rule::Dialog,
            "body.conversationField.dialog.dialogId",
            Value::String(dialog_id.to_owned()),
            format!(
                "dialog {dialog_id} is not a dialog of conversation {}",
                c.id
            ),
        ))
    })
}

/// Closing or re-timing what is closed fails like the live service does.
fn require_open(open: bool, conversation_id: &str) -> Result<(), Rejection> {
    if open {
        return Ok(());
    }
    Err(Rejection::closed(
        "body.conversationId",
        conversation_id,
        format!("conversation {conversation_id} is closed"),
    ))
}
