//! `.ams.ms.PublishEvent` (messages, chat states, and receipts validated by the consumer's
//! rules), `.ams.ms.QueryMessages` and `.ams.userprofile.GetUserProfile`.

use serde_json::{json, Map, Value};

use super::{types, ConnCtx, Reply};
use crate::handler::{reject, settle_receipt, Receipt};
use crate::hub::{Hub, State};
use crate::model::{DialogAt, Role};
use crate::protocol::{response, Rejection, ReqId};
use crate::validation::{Finding, Rule};

const PUBLISH: &str = ".ams.ms.PublishEvent";

/// Serves `PublishEvent`: the ASSIGNED_AGENT or a MANAGER of the dialog's conversation may
/// write; a READER may only publish receipts.
pub(super) fn publish(
    hub: &Hub,
    ctx: &ConnCtx,
    id: &ReqId,
    (dialog_id, event, metadata): (Option<Value>, Map<String, Value>, Option<Value>),
) -> Reply {
    let Some(me) = ctx.agent.as_ref().map(|a| a.user_pid.clone()) else {
        return Reply::default();
    };
    if event.get("type").and_then(Value::as_str) == Some("AcceptStatusEvent") {
        return receipt(hub, ctx, (id, &me), (dialog_id, event, metadata));
    }
    let dialog = dialog_id.as_ref().and_then(Value::as_str).unwrap_or("");
    let result = hub.with_state(|s| {
        let (at, role) = writable(s, ctx, dialog, &me)?;
        let event = Value::Object(event);
        if event["type"] == "ChatStateEvent" {
            let c = &s.conversations[at.conv];
            let change = c.chat_state_change(at.dialog, (&me, role), event);
            s.relay_chat_state(at, change);
            return Ok(0);
        }
        if event["type"] == "ContentEvent" && event.get("message").is_none() {
            return Err(Rejection::from(Finding::violation(
                Rule::Body,
                "body.event.message",
                Value::Null,
                "a ContentEvent needs a message",
            )));
        }
        Ok(s.publish(at, (&me, role), event, metadata))
    });
    match result {
        Ok(sequence) => sequence_response(id, 200, json!({"sequence": sequence})),
        Err(rejection) => reject(hub, ctx, Some(id), Some(PUBLISH), &rejection),
    }
}

/// Validates, then stores or refuses, one agent `AcceptStatusEvent` with the consumer's rules
/// (the agent's own messages are the "other side" it may not acknowledge); recorded with side
/// `agent` either way.
fn receipt(
    hub: &Hub,
    ctx: &ConnCtx,
    (id, me): (&ReqId, &str),
    (dialog_id, event, metadata): (Option<Value>, Map<String, Value>, Option<Value>),
) -> Reply {
    let strictness = hub.settings.strictness;
    hub.with_state(|s| {
        let name = dialog_id.as_ref().and_then(Value::as_str);
        let found = name.and_then(|d| participant_in(s, ctx, d, me));
        let receipt = Receipt {
            request: (id, PUBLISH, types::PUBLISH_EVENT_RESPONSE),
            by: (me, found.map_or(Role::AssignedAgent, |(_, role)| role)),
            found: found.map(|(at, _)| at),
            dialog_id: dialog_id.as_ref(),
            event,
            metadata,
        };
        settle_receipt(s, ctx, strictness, receipt, |_, _, _| {})
    })
}

/// Serves `QueryMessages`: the dialog's events with a sequence of at least
/// `newerThanSequence` (inclusive: the SDK's examples ask with 0 for the whole history, and a
/// dialog's first event has sequence 0), as `OnlineEventDistribution` bodies.
pub(super) fn query(
    hub: &Hub,
    ctx: &ConnCtx,
    id: &ReqId,
    dialog_id: &str,
    newer_than: u64,
) -> Result<Reply, Rejection> {
    hub.read(|s| {
        let at = on_account(s, ctx, dialog_id).ok_or_else(|| not_found(dialog_id))?;
        let c = &s.conversations[at.conv];
        let old_id = |pid: &str, role: Role| s.old_id(&c.brand_id, pid, role);
        let events: Vec<Value> = c.dialogs[at.dialog]
            .events
            .iter()
            .filter(|e| e.sequence >= newer_than)
            .map(|e| c.online_event(at.dialog, e, &old_id))
            .collect();
        Ok(Reply::one(response(
            Some(id),
            200,
            types::QUERY_MESSAGES_RESPONSE,
            Value::Array(events),
        )))
    })
}

/// Serves `GetUserProfile` (body: a consumer id): what that consumer set with
/// `SetUserProfile`, over the consumer side's defaults, for a consumer of this account.
pub(super) fn profile(
    hub: &Hub,
    ctx: &ConnCtx,
    id: &ReqId,
    user_id: &str,
) -> Result<Reply, Rejection> {
    let known = hub.read(|s| {
        s.conversations
            .iter()
            .any(|c| c.brand_id == ctx.account && c.consumer_id == user_id)
    });
    if !known {
        return Err(Rejection::from(Finding::violation(
            Rule::Body,
            "body",
            Value::String(user_id.to_owned()),
            format!(
                "no consumer {user_id} has a conversation on account {}",
                ctx.account
            ),
        )));
    }
    let mut body = crate::handler::own_profile(hub, &ctx.account, user_id);
    if body.get("privateData").is_none() {
        body["privateData"] = json!({"email": "", "mobileNum": "", "userId": user_id});
    }
    Ok(Reply::one(response(
        Some(id),
        200,
        types::GET_USER_PROFILE_RESPONSE,
        body,
    )))
}

/// The dialog, on the socket's account.
fn on_account(s: &State, ctx: &ConnCtx, dialog_id: &str) -> Option<DialogAt> {
    s.dialog_at(dialog_id)
        .filter(|at| s.conversations[at.conv].brand_id == ctx.account)
}

/// The dialog, when the agent takes part in its conversation, and the agent's role there.
fn participant_in(s: &State, ctx: &ConnCtx, dialog_id: &str, me: &str) -> Option<(DialogAt, Role)> {
    let at = on_account(s, ctx, dialog_id)?;
    let c = &s.conversations[at.conv];
    [Role::AssignedAgent, Role::Manager, Role::Reader]
        .into_iter()
        .find(|&role| c.has_participant(me, role))
        .map(|role| (at, role))
}

/// An open dialog the agent may write in, and its role there.
fn writable(
    s: &State,
    ctx: &ConnCtx,
    dialog_id: &str,
    me: &str,
) -> Result<(DialogAt, Role), Rejection> {
    let (at, role) = participant_in(s, ctx, dialog_id, me).ok_or_else(|| not_found(dialog_id))?;
    if role == Role::Reader {
        return Err(Rejection::from(Finding::violation(
            Rule::State,
            "body.dialogId",
            Value::String(dialog_id.to_owned()),
            format!("a READER cannot write in dialog {dialog_id}; join as MANAGER"),
        )));
    }
    if !s.conversations[at.conv].dialogs[at.dialog].is_open() {
        let message = format!("dialog {dialog_id} is closed");
        return Err(Rejection::closed("body.dialogId", dialog_id, message));
    }
    Ok((at, role))
}

fn not_found(dialog_id: &str) -> Rejection {
    Rejection::from(Finding::violation(
        Rule::Dialog,
        "body.dialogId",
        Value::String(dialog_id.to_owned()),
        format!(
            "dialog {dialog_id} is not a dialog of a conversation you take part in \
             (accept its ring, or join as MANAGER or READER)"
        ),
    ))
}

fn sequence_response(id: &ReqId, code: u16, body: Value) -> Reply {
    Reply::one(response(
        Some(id),
        code,
        types::PUBLISH_EVENT_RESPONSE,
        body,
    ))
}
