//! Agent requests (agent-api.md §2, node-agent-sdk 1.2.0's `Const.js`): an [`Envelope`] into a
//! typed [`AgentRequest`], or a [`Rejection`] naming the field and the value.

use serde_json::{Map, Value};

use crate::hub::AgentExFilter;
use crate::model::{Availability, Role};
use crate::protocol::{Envelope, Rejection};
use crate::validation::{short, Finding, Rule};

/// One agent request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AgentRequest {
    GetClock,
    SetAgentState(Availability),
    SubscribeRoutingTasks,
    /// `.ams.routing.UpdateRoutingTaskSubscription`: accepted, changes nothing.
    UpdateRoutingTaskSubscription,
    UpdateRingState {
        ring_id: String,
        accepted: bool,
    },
    SubscribeExConversations(AgentExFilter),
    UnsubscribeExConversations {
        subscription_id: String,
    },
    UpdateConversationField {
        conversation_id: String,
        changes: Vec<FieldChange>,
    },
    /// `.ams.ms.PublishEvent`: `dialogId` as sent (a receipt's is checked by the receipt
    /// rules), the event object, the top-level `metadata`.
    PublishEvent {
        dialog_id: Option<Value>,
        event: Map<String, Value>,
        metadata: Option<Value>,
    },
    QueryMessages {
        dialog_id: String,
        newer_than: u64,
    },
    GetUserProfile {
        user_id: String,
    },
    SubscribeAgentsState,
    /// `.ams.ms.GenerateURLForUploadFile`: the body, checked as the consumer's is.
    GenerateUploadUrl(Map<String, Value>),
    /// `.ams.ms.GenerateURLForDownloadFile`: the body, checked as the consumer's is.
    GenerateDownloadUrl(Map<String, Value>),
}

/// One `conversationField` entry an agent may send.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FieldChange {
    /// `ParticipantsChange` ADD (MANAGER, READER; ASSIGNED_AGENT when nobody holds it).
    Join(Role),
    /// `ParticipantsChange` REMOVE: leaving; an ASSIGNED_AGENT leaving sends the conversation
    /// back to the queue.
    Leave(Role),
    /// `ConversationStateField` CLOSE.
    Close,
    /// `TTRField`: the conversation's time to respond, as consumers set it.
    Ttr(Value),
}

impl AgentRequest {
    /// Parses the request the envelope names; `old_id` is the agent's own
    /// `"{account}.{userId}"` (a `ParticipantsChange` may only name it).
    pub(crate) fn parse(env: &Envelope, old_id: &str) -> Result<Self, Rejection> {
        let body = env.body.as_ref();
        Ok(match env.req_type.as_str() {
            ".GetClock" => Self::GetClock,
            ".ams.routing.SetAgentState" => {
                let value = field(body, "availability")?;
                let parsed = value.as_str().and_then(Availability::parse);
                Self::SetAgentState(parsed.ok_or_else(|| {
                    bad(
                        "body.availability",
                        value,
                        "availability must be ONLINE, AWAY, BACK_SOON, OFFLINE or OCCUPIED",
                    )
                })?)
            }
            ".ams.routing.SubscribeRoutingTasks" => Self::SubscribeRoutingTasks,
            ".ams.routing.UpdateRoutingTaskSubscription" => Self::UpdateRoutingTaskSubscription,
            ".ams.routing.SubscribeAgentsState" => Self::SubscribeAgentsState,
            ".ams.routing.UpdateRingState" => {
                let ring_id = string(body, "ringId")?;
                let state = field(body, "ringState")?;
                let accepted = match state.as_str() {
                    Some("ACCEPTED") => true,
                    Some("REJECTED") => false,
                    _ => {
                        return Err(bad(
                            "body.ringState",
                            state,
                            "ringState must be ACCEPTED or REJECTED",
                        ))
                    }
                };
                Self::UpdateRingState { ring_id, accepted }
            }
            ".ams.aam.SubscribeExConversations" => Self::SubscribeExConversations(ex_filter(body)?),
            ".ams.aam.UnsubscribeExConversations" => Self::UnsubscribeExConversations {
                subscription_id: string(body, "subscriptionId")?,
            },
            ".ams.cm.UpdateConversationField" => {
                let conversation_id = string(body, "conversationId")?;
                let fields = field(body, "conversationField")?;
                let list = match fields {
                    Value::Array(list) => list.clone(),
                    one @ Value::Object(_) => vec![one.clone()],
                    other => {
                        return Err(bad(
                            "body.conversationField",
                            other,
                            "conversationField must be an array of changes",
                        ))
                    }
                };
                let changes = list
                    .iter()
                    .enumerate()
                    .map(|(i, c)| field_change(i, c, old_id))
                    .collect::<Result<_, _>>()?;
                Self::UpdateConversationField {
                    conversation_id,
                    changes,
                }
            }
            ".ams.ms.PublishEvent" => {
                let event = match field(body, "event")? {
                    Value::Object(event) if event.get("type").is_some_and(Value::is_string) => {
                        event.clone()
                    }
                    other => {
                        return Err(bad(
                            "body.event",
                            other,
                            "event must be an object with a string type",
                        ))
                    }
                };
                Self::PublishEvent {
                    dialog_id: body.and_then(|b| b.get("dialogId")).cloned(),
                    event,
                    metadata: env.metadata.clone(),
                }
            }
            ".ams.ms.QueryMessages" => {
                let dialog_id = string(body, "dialogId")?;
                let newer = body
                    .and_then(|b| b.get("newerThanSequence"))
                    .unwrap_or(&Value::Null);
                let newer_than = match newer {
                    Value::Null => 0,
                    n => n.as_u64().ok_or_else(|| {
                        bad(
                            "body.newerThanSequence",
                            n,
                            "newerThanSequence must be a non-negative integer",
                        )
                    })?,
                };
                Self::QueryMessages {
                    dialog_id,
                    newer_than,
                }
            }
            ".ams.userprofile.GetUserProfile" => match body {
                Some(Value::String(user_id)) => Self::GetUserProfile {
                    user_id: user_id.clone(),
                },
                other => {
                    let value = other.cloned().unwrap_or(Value::Null);
                    return Err(bad(
                        "body",
                        &value,
                        "body must be the consumer id as a string",
                    ));
                }
            },
            // The same file sharing as the consumer's (the agent's files live in the account).
            ".ams.ms.GenerateURLForUploadFile" => Self::GenerateUploadUrl(object(body)?),
            ".ams.ms.GenerateURLForDownloadFile" => Self::GenerateDownloadUrl(object(body)?),
            unsupported @ ".ams.cm.AgentRequestConversation" => {
                return Err(Rejection::from(Finding::violation(
                    Rule::UnknownType,
                    "type",
                    Value::String(unsupported.to_owned()),
                    format!("{unsupported} is not supported by the mock's agent endpoint"),
                )))
            }
            other => {
                return Err(Rejection::from(Finding::violation(
                    Rule::UnknownType,
                    "type",
                    Value::String(other.to_owned()),
                    format!("unknown request type {other:?} for the agent endpoint"),
                )))
            }
        })
    }
}

fn field_change(i: usize, change: &Value, old_id: &str) -> Result<FieldChange, Rejection> {
    let at = |name: &str| format!("body.conversationField[{i}].{name}");
    let get = |name: &str| change.get(name).unwrap_or(&Value::Null);
    match get("field").as_str() {
        Some("ConversationStateField") => match get("conversationState").as_str() {
            Some("CLOSE") => Ok(FieldChange::Close),
            _ => Err(bad(
                &at("conversationState"),
                get("conversationState"),
                "conversationState must be CLOSE",
            )),
        },
        Some("ParticipantsChange") => {
            let role = match get("role").as_str() {
                Some("MANAGER") => Role::Manager,
                Some("READER") => Role::Reader,
                Some("ASSIGNED_AGENT") => Role::AssignedAgent,
                _ => {
                    return Err(bad(
                        &at("role"),
                        get("role"),
                        "role must be MANAGER, READER or ASSIGNED_AGENT",
                    ))
                }
            };
            if let Some(user) = change.get("userId").filter(|u| u.as_str() != Some(old_id)) {
                let message = format!("an agent changes only its own participation ({old_id})");
                return Err(bad(&at("userId"), user, &message));
            }
            match get("type").as_str() {
                Some("ADD") => Ok(FieldChange::Join(role)),
                Some("REMOVE") => Ok(FieldChange::Leave(role)),
                _ => Err(bad(&at("type"), get("type"), "type must be ADD or REMOVE")),
            }
        }
        Some("TTRField") => crate::protocol::ttr(change, &format!("body.conversationField[{i}]"))
            .map(FieldChange::Ttr),
        _ => Err(bad(
            &at("field"),
            get("field"),
            "field must be ParticipantsChange, ConversationStateField or TTRField",
        )),
    }
}

fn ex_filter(body: Option<&Value>) -> Result<AgentExFilter, Rejection> {
    let mut filter = AgentExFilter::default();
    if let Some(ids) = body.and_then(|b| b.get("agentIds")) {
        let list = ids.as_array().filter(|l| l.iter().all(Value::is_string));
        let list =
            list.ok_or_else(|| bad("body.agentIds", ids, "agentIds must be an array of strings"))?;
        filter.agent_ids = Some(
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        );
    }
    if let Some(states) = body.and_then(|b| b.get("convState")) {
        let open: Option<Vec<bool>> = states.as_array().and_then(|l| {
            l.iter()
                .map(|s| match s.as_str() {
                    Some("OPEN") => Some(true),
                    Some("CLOSE") => Some(false),
                    _ => None,
                })
                .collect()
        });
        filter.open = Some(open.ok_or_else(|| {
            bad(
                "body.convState",
                states,
                "convState must be an array of OPEN and CLOSE",
            )
        })?);
    }
    Ok(filter)
}

fn field<'a>(body: Option<&'a Value>, name: &str) -> Result<&'a Value, Rejection> {
    body.and_then(|b| b.get(name)).ok_or_else(|| {
        bad(
            &format!("body.{name}"),
            &Value::Null,
            &format!("{name} is missing"),
        )
    })
}

fn string(body: Option<&Value>, name: &str) -> Result<String, Rejection> {
    let value = field(body, name)?;
    match value {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        other => Err(bad(
            &format!("body.{name}"),
            other,
            &format!("{name} must be a non-empty string"),
        )),
    }
}

fn bad(field: &str, value: &Value, message: &str) -> Rejection {
    let message = if value.is_null() {
        message.to_owned()
    } else {
        format!("{message}, got {}", short(value))
    };
    Rejection::from(Finding::violation(
        Rule::Body,
        field,
        value.clone(),
        message,
    ))
}

/// The request's `body` as an object.
fn object(body: Option<&Value>) -> Result<Map<String, Value>, Rejection> {
    match body {
        Some(Value::Object(map)) => Ok(map.clone()),
        other => Err(bad(
            "body",
            other.unwrap_or(&Value::Null),
            "body must be an object",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(frame: Value) -> Result<AgentRequest, Rejection> {
        let env = Envelope::parse(&frame.to_string()).unwrap();
        AgentRequest::parse(&env, "123.1111111111")
    }

    #[test]
    fn the_sdk_samples_parse() {
        let r = parse(
            json!({"kind":"req","id":"1","type":".ams.routing.SetAgentState","body":{"availability":"ONLINE","channels":["MESSAGING"],"agentUserId":"123.1111111111"}}),
        );
        assert_eq!(
            r.unwrap(),
            AgentRequest::SetAgentState(Availability::Online)
        );
        let r = parse(
            json!({"id":"2","type":".ams.aam.SubscribeExConversations","body":{"agentIds":["123.1111111111"],"convState":["OPEN"]}}),
        );
        let AgentRequest::SubscribeExConversations(f) = r.unwrap() else {
            panic!()
        };
        assert_eq!(f.open, Some(vec![true]));
        let r = parse(
            json!({"id":"3","type":".ams.cm.UpdateConversationField","body":{"conversationId":"c","conversationField":[{"field":"ParticipantsChange","type":"ADD","role":"MANAGER","userId":"123.1111111111"}]}}),
        );
        assert!(
            matches!(r.unwrap(), AgentRequest::UpdateConversationField { changes, .. } if changes == vec![FieldChange::Join(Role::Manager)])
        );
        let r = parse(json!({"id":"4","type":".ams.userprofile.GetUserProfile","body":"cons"}));
        assert_eq!(
            r.unwrap(),
            AgentRequest::GetUserProfile {
                user_id: "cons".into()
            }
        );
    }

    #[test]
    fn every_refusal_names_the_field_and_the_value() {
        let r = parse(
            json!({"id":"1","type":".ams.routing.SetAgentState","body":{"availability":"online"}}),
        )
        .unwrap_err();
        assert_eq!(r.finding.field, "body.availability");
        assert!(
            r.finding.message.contains("\"online\""),
            "{}",
            r.finding.message
        );
        let r =
            parse(json!({"id":"1","type":".ams.routing.UpdateRingState","body":{"ringId":"r"}}))
                .unwrap_err();
        assert_eq!(r.finding.field, "body.ringState");
        let r = parse(json!({"id":"1","type":".ams.nope"})).unwrap_err();
        assert_eq!(r.finding.rule, Rule::UnknownType);
        let r = parse(json!({"id":"1","type":".ams.cm.UpdateConversationField","body":{"conversationId":"c","conversationField":[{"field":"ParticipantsChange","type":"ADD","role":"MANAGER","userId":"123.9"}]}})).unwrap_err();
        assert_eq!(r.finding.field, "body.conversationField[0].userId");
    }
}
