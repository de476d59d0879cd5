//! The Messaging Window API wire model (reference §2–§4): parsing client frames into
//! [`Envelope`]s and typed [`ConsumerRequest`]s, and building responses and notifications.
//!
//! Parsing never fails silently: every way a frame can be wrong is a [`Rejection`] that names
//! the rule, the field and the value, and that the session turns into one error response.

mod conversation;
mod envelope;
mod request;
mod response;

pub(crate) use conversation::{ttr, CLOSED_BY_CONSUMER};
pub(crate) use envelope::{Envelope, ReqId};
pub(crate) use request::{init_jwt, ConsumerRequest, ExFilter, FieldChange, Publish, PublishKind};
pub(crate) use response::{notification, response, string_response};

use serde_json::Value;

use crate::validation::{Finding, Rule};

/// Request, response and notification `type` names used on the consumer socket.
pub(crate) mod types {
    /// Response to `cm.ConsumerRequestConversation`.
    pub(crate) const REQUEST_CONVERSATION_RESPONSE: &str = "cm.RequestConversationResponse";
    /// Response to `ms.PublishEvent`.
    pub(crate) const PUBLISH_EVENT_RESPONSE: &str = "ms.PublishEventResponse";
    /// Response to `ms.SubscribeMessagingEvents`.
    pub(crate) const GENERIC_SUBSCRIBE_RESPONSE: &str = "GenericSubscribeResponse";
    /// Response to `cqm.SubscribeExConversations`.
    pub(crate) const SUBSCRIBE_EX_CONVERSATIONS_RESPONSE: &str =
        "cqm.SubscribeExConversationsResponse";
    /// Response carrying a string body (InitConnection, KeepAlive, UpdateConversationField,
    /// Unsubscribe, and every error without a more specific type).
    pub(crate) const STRING_RESPONSE: &str = "StringResponse";
    /// Response to `GetClock` (reference §1.4: the AMSC constant; see protocol-decisions).
    pub(crate) const GET_CLOCK_RESPONSE: &str = ".GetClock$Response";
    /// Response to the two `ms.GenerateURLFor*File` requests: the name in the file-sharing
    /// tutorial's captures (the schema and reference say `ms.GenerateURLResponse`; see
    /// protocol-decisions).
    pub(crate) const GENERATE_URL_RESPONSE: &str = "ms.BaseGenerateURLResponse";
    /// Response to `userprofile.GetUserProfile`.
    pub(crate) const GET_USER_PROFILE_RESPONSE: &str = "userprofile.GetUserProfileResponse";
    /// The agent API's string response (agent-api.md §2: UpdateRingState's 202, and every
    /// other agent request without a more specific type, errors included).
    pub(crate) const AGENT_STRING_RESPONSE: &str = ".ReqBody$StringResp";
    /// Messaging events of a dialog.
    pub(crate) const MESSAGING_EVENT_NOTIFICATION: &str = "ms.MessagingEventNotification";
    /// Conversation metadata changes.
    pub(crate) const EX_CONVERSATION_CHANGE_NOTIFICATION: &str =
        "cqm.ExConversationChangeNotification";

    /// The response type of a request type; errors are answered with it too, so a client
    /// that dispatches on `type` sees the error where it expects the answer (see
    /// protocol-decisions). Unknown types get `StringResponse`.
    pub(crate) fn response_type_for(request_type: &str) -> &'static str {
        match request_type {
            "GetClock" | ".GetClock" => GET_CLOCK_RESPONSE,
            "cm.ConsumerRequestConversation" => REQUEST_CONVERSATION_RESPONSE,
            "ms.PublishEvent" => PUBLISH_EVENT_RESPONSE,
            "ms.SubscribeMessagingEvents" => GENERIC_SUBSCRIBE_RESPONSE,
            "cqm.SubscribeExConversations" => SUBSCRIBE_EX_CONVERSATIONS_RESPONSE,
            "ms.GenerateURLForUploadFile" | "ms.GenerateURLForDownloadFile" => {
                GENERATE_URL_RESPONSE
            }
            "userprofile.GetUserProfile" => GET_USER_PROFILE_RESPONSE,
            agent if agent.starts_with(".ams.") => AGENT_STRING_RESPONSE,
            _ => STRING_RESPONSE,
        }
    }
}

/// A request, or a frame, that cannot be served: the error response to send and the
/// finding to record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rejection {
    /// The HTTP-style `code` of the error response (400 or 401).
    pub code: u16,
    /// What was wrong.
    pub finding: Box<Finding>,
}

/// A violation answered with a 400, the usual refusal.
impl From<Finding> for Rejection {
    fn from(finding: Finding) -> Self {
        Self {
            code: 400,
            finding: Box::new(finding),
        }
    }
}

impl Rejection {
    /// A 400 for a request on a closed conversation or dialog: answered with the live
    /// service's exact string (rule `conversation-open`).
    pub(crate) fn closed(field: &str, id: &str, message: impl Into<String>) -> Self {
        Self::from(Finding::violation(
            Rule::ConversationOpen,
            field,
            Value::String(id.to_owned()),
            message,
        ))
    }

    /// A 401 (authentication).
    pub(crate) fn unauthorized(
        field: impl Into<String>,
        value: Value,
        message: impl Into<String>,
    ) -> Self {
        Self {
            code: 401,
            finding: Box::new(Finding::violation(Rule::Auth, field, value, message)),
        }
    }

    /// A 429: the consumer is over its request rate (`--rate-limit`).
    pub(crate) fn too_many_requests(per_second: u32) -> Self {
        Self {
            code: 429,
            finding: Box::new(Finding::violation(
                Rule::RateLimit,
                "type",
                Value::from(per_second),
                format!(
                    "more than {per_second} requests per second; retry after at least 1 second"
                ),
            )),
        }
    }

    /// The string body of the error response (at most 128 characters).
    pub(crate) fn body(&self) -> String {
        match self.code {
            401 => self.finding.body_with("Unauthorized"),
            429 => self.finding.body_with("Too Many Requests"),
            _ => self.finding.error_body(),
        }
    }
}
