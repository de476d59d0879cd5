//! `ms.PublishEvent` (messages, chat states and validated receipts) and
//! `ms.SubscribeMessagingEvents`.

use serde_json::{json, Value};

use super::receipt::{settle, Receipt};
use super::{record_violation, reject, ConnCtx, Reply};
use crate::config::Strictness;
use crate::hub::{Hub, State};
use crate::model::{DialogAt, Role};
use crate::protocol::{notification, response, types, Publish, PublishKind, Rejection, ReqId};
use crate::scenario::runner::ConsumerEvent;
use crate::scenario::Trigger;
use crate::validation::{Finding, Rule};

/// Serves `ms.PublishEvent`.
pub(super) fn publish(
    hub: &Hub,
    ctx: &ConnCtx,
    consumer: &str,
    id: &ReqId,
    publish: Publish,
) -> Reply {
    if publish.kind == PublishKind::Receipt {
        return receipt(hub, ctx, consumer, id, publish);
    }
    // Deviations from the schema the live service most plausibly tolerates: refused unless
    // lenient, and then recorded as warnings.
    if let Some(first) = publish.tolerated.first() {
        let request = (Some(id), Some("ms.PublishEvent"));
        if hub.settings.strictness != Strictness::Lenient {
            let rejection = Rejection {
                code: 400,
                finding: Box::new(first.clone().into_violation()),
            };
            return reject(hub, ctx, request.0, request.1, &rejection);
        }
        for warning in &publish.tolerated {
            record_violation(hub, ctx, request, warning, None);
        }
    }
    if super::files::is_hosted_file(&publish.event) {
        if let Err(rejection) = super::files::check_hosted_file(hub, ctx, id, &publish.event) {
            return reject(hub, ctx, Some(id), Some("ms.PublishEvent"), &rejection);
        }
    }
    let result = hub.with_state(|s| {
        let dialog_id = publish
            .dialog_id
            .as_ref()
            .and_then(Value::as_str)
            .unwrap_or("");
        let at = own_dialog(
            s,
            (&ctx.account, consumer),
            dialog_id,
            publish.conversation_id.as_deref(),
        )?;
        let c = &s.conversations[at.conv];
        if !c.dialogs[at.dialog].is_open() {
            return Err(closed(dialog_id));
        }
        let event = Value::Object(publish.event);
        if publish.kind == PublishKind::ChatState {
            // Chat states are relayed, not stored: sequence 0, no serverTimestamp.
            let change = c.chat_state_change(at.dialog, (consumer, Role::Consumer), event);
            s.relay_chat_state(at, change);
            return Ok(0);
        }
        // What the agent reads: the text, or a hosted file's caption.
        let text = match event.get("message") {
            Some(Value::String(text)) => Some(text.clone()),
            Some(file) => file
                .get("caption")
                .and_then(Value::as_str)
                .map(str::to_owned),
            None => None,
        };
        let sequence = s.publish(at, (consumer, Role::Consumer), event, publish.metadata);
        if at.dialog != 0 {
            // A later dialog is the survey bot's, not the agent's.
            if let Some(survey) = &hub.settings.survey {
                s.survey_answered(at, survey, (sequence, text.as_deref()));
            }
            return Ok(sequence);
        }
        s.events.push(ConsumerEvent {
            trigger: Trigger::ConsumerMessage,
            conversation_id: s.conversations[at.conv].id.clone(),
            message: text,
            status: None,
        });
        Ok(sequence)
    });
    match result {
        Ok(sequence) => Reply::texts([sequence_response(id, sequence)]),
        Err(rejection) => reject(hub, ctx, Some(id), Some("ms.PublishEvent"), &rejection),
    }
}

/// Validates, then stores or refuses, one consumer `AcceptStatusEvent`; records it either way.
fn receipt(hub: &Hub, ctx: &ConnCtx, consumer: &str, id: &ReqId, publish: Publish) -> Reply {
    let strictness = hub.settings.strictness;
    hub.with_state(|s| {
        let dialog_id = publish.dialog_id.as_ref().and_then(Value::as_str);
        let found = dialog_id.and_then(|d| s.consumer_dialog(&ctx.account, consumer, d));
        let receipt = Receipt {
            request: (id, "ms.PublishEvent", types::PUBLISH_EVENT_RESPONSE),
            by: (consumer, Role::Consumer),
            found,
            dialog_id: publish.dialog_id.as_ref(),
            event: publish.event,
            metadata: publish.metadata,
        };
        settle(s, ctx, strictness, receipt, |s, at, checked| {
            // Receipts in a later (survey) dialog are not the agent's business.
            if at.dialog == 0 {
                s.events.push(ConsumerEvent {
                    trigger: Trigger::ConsumerReceipt,
                    conversation_id: s.conversations[at.conv].id.clone(),
                    message: None,
                    status: checked.status,
                });
            }
        })
    })
}

/// Serves `ms.SubscribeMessagingEvents`: the response, then one notification with the
/// dialog's events from `fromSeq` (inclusive; `changes: []` when none), then live events.
pub(super) fn subscribe(
    hub: &Hub,
    ctx: &ConnCtx,
    consumer: &str,
    id: &ReqId,
    dialog_id: &str,
    from_seq: u64,
) -> Result<Reply, Rejection> {
    hub.with_state(|s| {
        let at = own_dialog(s, (&ctx.account, consumer), dialog_id, None)?;
        if let Some(conn) = s.connections.get_mut(&ctx.id) {
            conn.dialogs.insert(dialog_id.to_owned());
        }
        let c = &s.conversations[at.conv];
        let history: Vec<Value> = c.dialogs[at.dialog]
            .events
            .iter()
            .filter(|e| e.sequence >= from_seq)
            .map(|e| c.change(at.dialog, e))
            .collect();
        Ok(Reply::texts([
            response(Some(id), 200, types::GENERIC_SUBSCRIBE_RESPONSE, json!({})),
            notification(
                types::MESSAGING_EVENT_NOTIFICATION,
                json!({"changes": history}),
            ),
        ]))
    })
}

/// Where the consumer's dialog `dialog_id` is; `conversation_id`, when given, must be its
/// conversation.
fn own_dialog(
    s: &State,
    (account, consumer): (&str, &str),
    dialog_id: &str,
    conversation_id: Option<&str>,
) -> Result<DialogAt, Rejection> {
    let at = s
        .consumer_dialog(account, consumer, dialog_id)
        .ok_or_else(|| {
            Rejection::from(Finding::violation(
                Rule::Dialog,
                "body.dialogId",
                Value::String(dialog_id.to_owned()),
                format!("dialog {dialog_id} is not a dialog of your conversations"),
            ))
        })?;
    if let Some(given) = conversation_id {
        if given != s.conversations[at.conv].id {
            return Err(Rejection::from(Finding::violation(
                Rule::Body,
                "body.conversationId",
                Value::String(given.to_owned()),
                format!("conversationId {given} does not own dialog {dialog_id}"),
            )));
        }
    }
    Ok(at)
}

fn closed(dialog_id: &str) -> Rejection {
    Rejection::closed(
        "body.dialogId",
        dialog_id,
        format!("dialog {dialog_id} is closed"),
    )
}

fn sequence_response(id: &ReqId, sequence: u64) -> String {
    response(
        Some(id),
        200,
        types::PUBLISH_EVENT_RESPONSE,
        json!({"sequence": sequence}),
    )
}
