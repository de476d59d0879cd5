//! Typed consumer requests (reference §3), one variant per request `type`.
//!
//! `ConsumerRequest::parse` checks the body's shape; state-dependent checks (does the dialog
//! exist, is the conversation open) happen in the handlers.

use serde_json::{Map, Value};

use super::conversation::{ex_filter, field_changes};
pub(crate) use super::conversation::{ExFilter, FieldChange};
use super::{Envelope, Rejection};
use crate::validation::{short, Finding, Rule};

/// A consumer request with a body of the documented shape.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ConsumerRequest {
    /// `GetClock` or `.GetClock`.
    GetClock,
    /// `KeepAlive`.
    KeepAlive,
    /// `cm.ConsumerRequestConversation`.
    RequestConversation { skill_id: String },
    /// `ms.PublishEvent`.
    PublishEvent(Publish),
    /// `ms.SubscribeMessagingEvents`.
    SubscribeMessagingEvents { dialog_id: String, from_seq: u64 },
    /// `cqm.SubscribeExConversations`.
    SubscribeExConversations(ExFilter),
    /// `cqm.UnsubscribeExConversations`.
    UnsubscribeExConversations { subscription_id: String },
    /// `cm.UpdateConversationField`.
    UpdateConversationField {
        conversation_id: String,
        changes: Vec<FieldChange>,
    },
    /// `userprofile.GetUserProfile` (body: a consumer id string, or nothing for oneself).
    GetUserProfile { user_id: Option<String> },
    /// `userprofile.SetUserProfile`: the profile object (`firstName`, `lastName`,
    /// `authenticatedData.lp_sdes`, `privateData`, ...) to keep for the consumer.
    SetUserProfile { profile: Map<String, Value> },
    /// `ms.GenerateURLForUploadFile` (the body object).
    GenerateUploadUrl(Map<String, Value>),
    /// `ms.GenerateURLForDownloadFile` (the body object).
    GenerateDownloadUrl(Map<String, Value>),
}

/// An `ms.PublishEvent` body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Publish {
    /// `body.dialogId` as sent (receipts record a wrong one instead of refusing it outright).
    pub dialog_id: Option<Value>,
    /// `body.conversationId`, when sent.
    pub conversation_id: Option<String>,
    /// `body.event`.
    pub event: Map<String, Value>,
    /// What kind of event it is.
    pub kind: PublishKind,
    /// The request's top-level `metadata`.
    pub metadata: Option<Value>,
    /// Where the event breaks the published schema in a way the live service most plausibly
    /// tolerates ([`Rule::Schema`] warnings, the event already completed as it would be):
    /// the caller refuses the first one unless it is lenient.
    pub tolerated: Vec<Finding>,
}

/// The event kinds a consumer may publish.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PublishKind {
    /// `ContentEvent`.
    Content,
    /// `RichContentEvent`.
    RichContent,
    /// `ChatStateEvent`.
    ChatState,
    /// `AcceptStatusEvent`, validated by [`crate::validation`].
    Receipt,
}

/// The chat states of `ms/ChatStateEvent.json`.
const CHAT_STATES: [&str; 5] = ["ACTIVE", "INACTIVE", "GONE", "COMPOSING", "PAUSE"];

/// A chat state the service itself sends (to agents, when a consumer's socket closes) but the
/// schema does not list for consumers: tolerated, not valid.
const SERVER_CHAT_STATE: &str = "BACKGROUND";

impl ConsumerRequest {
    /// Parses the request the envelope names. An unknown type is a [`Rule::UnknownType`]
    /// rejection, never silence.
    pub(crate) fn parse(env: &Envelope) -> Result<Self, Rejection> {
        let body = env.body.as_ref();
        Ok(match env.req_type.as_str() {
            "GetClock" | ".GetClock" => ConsumerRequest::GetClock,
            "KeepAlive" => ConsumerRequest::KeepAlive,
            "cm.ConsumerRequestConversation" => {
                let skill_id = match body.and_then(|b| b.get("skillId")) {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => "-1".to_owned(),
                };
                ConsumerRequest::RequestConversation { skill_id }
            }
            "ms.PublishEvent" => {
                ConsumerRequest::PublishEvent(publish(body, env.metadata.clone())?)
            }
            "ms.SubscribeMessagingEvents" => {
                let body = object(body, "body")?;
                let dialog_id = string_field(body, "dialogId")?;
                let from_seq = match body.get("fromSeq") {
                    None | Some(Value::Null) => 0,
                    Some(v) => v.as_u64().ok_or_else(|| {
                        bad(
                            "body.fromSeq",
                            v,
                            format!("fromSeq must be a non-negative integer, got {}", short(v)),
                        )
                    })?,
                };
                ConsumerRequest::SubscribeMessagingEvents {
                    dialog_id,
                    from_seq,
                }
            }
            "cqm.SubscribeExConversations" => {
                ConsumerRequest::SubscribeExConversations(ex_filter(body)?)
            }
            "cqm.UnsubscribeExConversations" => {
                let body = object(body, "body")?;
                ConsumerRequest::UnsubscribeExConversations {
                    subscription_id: string_field(body, "subscriptionId")?,
                }
            }
            "cm.UpdateConversationField" => {
                let body = object(body, "body")?;
                let conversation_id = string_field(body, "conversationId")?;
                let changes = field_changes(body.get("conversationField"))?;
                ConsumerRequest::UpdateConversationField {
                    conversation_id,
                    changes,
                }
            }
            "userprofile.GetUserProfile" => ConsumerRequest::GetUserProfile {
                user_id: body.and_then(Value::as_str).map(str::to_owned),
            },
            "userprofile.SetUserProfile" => ConsumerRequest::SetUserProfile {
                profile: object(body, "body")?.clone(),
            },
            // Checked by `files`, which knows the strictness and the account.
            "ms.GenerateURLForUploadFile" => {
                ConsumerRequest::GenerateUploadUrl(object(body, "body")?.clone())
            }
            "ms.GenerateURLForDownloadFile" => {
                ConsumerRequest::GenerateDownloadUrl(object(body, "body")?.clone())
            }
            other => {
                return Err(Rejection::from(Finding::violation(
                    Rule::UnknownType,
                    "type",
                    Value::String(other.to_owned()),
                    format!("unknown request type {other:?} for the consumer endpoint"),
                )))
            }
        })
    }
}

pub(super) fn bad(field: &str, value: &Value, message: String) -> Rejection {
    Rejection::from(Finding::violation(
        Rule::Body,
        field,
        value.clone(),
        message,
    ))
}

pub(super) fn object<'a>(
    value: Option<&'a Value>,
    field: &str,
) -> Result<&'a Map<String, Value>, Rejection> {
    match value {
        Some(Value::Object(map)) => Ok(map),
        Some(other) => Err(bad(
            field,
            other,
            format!("{field} must be an object, got {}", short(other)),
        )),
        None => Err(bad(field, &Value::Null, format!("{field} is missing"))),
    }
}

pub(super) fn string_field(map: &Map<String, Value>, key: &str) -> Result<String, Rejection> {
    let field = format!("body.{key}");
    match map.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(other) => Err(bad(
            &field,
            other,
            format!("{key} must be a non-empty string, got {}", short(other)),
        )),
        None => Err(bad(&field, &Value::Null, format!("{key} is missing"))),
    }
}

/// The JWT of an InitConnection's `.ams.headers.ConsumerAuthentication` header.
pub(crate) fn init_jwt(headers: Option<&Value>) -> Result<Option<String>, Rejection> {
    let headers: Vec<&Value> = match headers {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items.iter().collect(),
        // A one-element array may be sent as the bare element (reference §2).
        Some(obj @ Value::Object(_)) => vec![obj],
        Some(other) => {
            return Err(bad(
                "headers",
                other,
                format!("headers must be a list of objects, got {}", short(other)),
            ))
        }
    };
    for header in headers {
        let kind = header.get("type").and_then(Value::as_str).unwrap_or("");
        if kind.ends_with("ConsumerAuthentication") {
            return match header.get("jwt") {
                Some(Value::String(jwt)) => Ok(Some(jwt.clone())),
                other => Err(Rejection::unauthorized(
                    "headers[].jwt",
                    other.cloned().unwrap_or(Value::Null),
                    "the ConsumerAuthentication header has no jwt string",
                )),
            };
        }
    }
    Ok(None)
}

fn publish(body: Option<&Value>, metadata: Option<Value>) -> Result<Publish, Rejection> {
    let body = object(body, "body")?;
    let mut event = object(body.get("event"), "body.event")?.clone();
    let kind = match event.get("type") {
        Some(Value::String(t)) => match t.as_str() {
            "ContentEvent" => PublishKind::Content,
            "RichContentEvent" => PublishKind::RichContent,
            "ChatStateEvent" => PublishKind::ChatState,
            "AcceptStatusEvent" => PublishKind::Receipt,
            other => {
                return Err(bad(
                    "body.event.type",
                    &Value::String(other.to_owned()),
                    format!(
                        "event type {other:?} is not one of ContentEvent, RichContentEvent, \
                         ChatStateEvent, AcceptStatusEvent"
                    ),
                ))
            }
        },
        other => {
            let value = other.cloned().unwrap_or(Value::Null);
            return Err(bad(
                "body.event.type",
                &value,
                format!("event type is missing or not a string: {}", short(&value)),
            ));
        }
    };
    let conversation_id = match body.get("conversationId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(bad(
                "body.conversationId",
                other,
                format!("conversationId must be a string, got {}", short(other)),
            ))
        }
    };
    let dialog_id = body.get("dialogId").cloned();
    let mut tolerated = Vec::new();
    if kind != PublishKind::Receipt {
        // Receipts record a bad dialogId as a receipt finding; other events are refused here.
        string_field(body, "dialogId")?;
        tolerated = check_event(&kind, &mut event)?;
    }
    Ok(Publish {
        dialog_id,
        conversation_id,
        event,
        kind,
        metadata,
        tolerated,
    })
}

/// Checks an event against its schema: an error refuses it; the findings returned are what the
/// live service most plausibly tolerates (the event is completed as it would be).
fn check_event(
    kind: &PublishKind,
    event: &mut Map<String, Value>,
) -> Result<Vec<Finding>, Rejection> {
    let mut tolerated = Vec::new();
    match kind {
        PublishKind::Content => {
            let content_type = match event.get("contentType") {
                None => {
                    tolerated.push(Finding::violation(
                        Rule::Schema,
                        "body.event.contentType",
                        Value::Null,
                        "contentType is missing; ms/TextValue.json requires it (text/plain for text)",
                    ).into_warning());
                    event.insert("contentType".into(), Value::from("text/plain"));
                    "text/plain"
                }
                Some(Value::String(s)) => s.as_str(),
                Some(other) => {
                    return Err(bad(
                        "body.event.contentType",
                        other,
                        format!("contentType must be a string, got {}", short(other)),
                    ))
                }
            };
            match (content_type, event.get("message")) {
                (_, None) => Err(bad(
                    "body.event.message",
                    &Value::Null,
                    "message is missing".into(),
                )),
                ("text/plain", Some(m)) if !m.is_string() => Err(bad(
                    "body.event.message",
                    m,
                    format!("a text/plain message must be a string, got {}", short(m)),
                )),
                _ => Ok(tolerated),
            }
        }
        // The schema (ms/RichContent.json) says `message`, MWSDK and node-agent-sdk `content`.
        PublishKind::RichContent => match (event.get("content"), event.get("message")) {
            (Some(Value::Object(_)), _) | (None, Some(Value::Object(_))) => Ok(tolerated),
            (other, _) => Err(bad(
                "body.event.content",
                other.unwrap_or(&Value::Null),
                "RichContentEvent needs a content (or message) object".into(),
            )),
        },
        PublishKind::ChatState => match event.get("chatState") {
            Some(Value::String(s)) if CHAT_STATES.contains(&s.as_str()) => Ok(tolerated),
            Some(Value::String(s)) if s == SERVER_CHAT_STATE => {
                tolerated.push(
                    Finding::violation(
                        Rule::Schema,
                        "body.event.chatState",
                        Value::from(s.as_str()),
                        format!("chatState {s} is not in ms/ChatStateEvent.json"),
                    )
                    .into_warning(),
                );
                Ok(tolerated)
            }
            other => {
                let value = other.cloned().unwrap_or(Value::Null);
                Err(bad(
                    "body.event.chatState",
                    &value,
                    format!(
                        "chatState {} is not one of {}",
                        short(&value),
                        CHAT_STATES.join(", ")
                    ),
                ))
            }
        },
        PublishKind::Receipt => Ok(tolerated),
    }
}

#[cfg(test)]
mod tests;
