//! The agent side: LivePerson's agent messaging API as node-agent-sdk 1.2.0 speaks it, at
//! `/ws_api/account/{account}/messaging/brand/{bearer}?v=2.1` (agent-api.md §2).
//!
//! An agent socket is one more participant of the one conversation model (`hub`, `model`):
//! it sets its availability, subscribes to routing tasks and is rung for new conversations,
//! accepts a ring to become the ASSIGNED_AGENT or joins as MANAGER/READER, publishes messages
//! and receipts (validated by the consumer's receipt rules and recorded with their side), and
//! receives every event of its conversations as `.ams.ms.OnlineEventDistribution`.
//!
//! - `session`: [`AgentSession`], the socket's `session::Service`.
//! - `requests`: envelope → typed [`requests::AgentRequest`].
//! - `routing`: availability, routing subscriptions, rings.
//! - `conversations`: metadata subscriptions, `UpdateConversationField`.
//! - `messaging`: `PublishEvent`, `QueryMessages`, `GetUserProfile`.
//!
//! Bad input goes through the consumer side's `handler::reject`: one error response naming
//! the field and the value, one violation record (side `agent`), the socket keeps serving.

mod conversations;
mod messaging;
mod requests;
mod routing;
mod session;

pub(crate) use session::AgentSession;

use crate::handler::{self, reject, ConnCtx, Reply};
use crate::hub::Hub;
use crate::protocol::{response, Envelope, ReqId};
use requests::AgentRequest;

/// Response and notification types of the agent socket (agent-api.md §2: the types the SDK
/// accepted, LivePerson's "Messaging Agent API – Getting Started").
mod types {
    pub(super) const STRING_RESPONSE: &str = crate::protocol::types::AGENT_STRING_RESPONSE;
    pub(super) const GENERIC_SUBSCRIBE_RESPONSE: &str = ".ams.GenericSubscribe$Response";
    pub(super) const SUBSCRIBE_EX_CONVERSATIONS_RESPONSE: &str =
        ".ams.aam.SubscribeExConversations$Response";
    pub(super) const PUBLISH_EVENT_RESPONSE: &str = ".ams.ms.PublishEvent$Response";
    pub(super) const QUERY_MESSAGES_RESPONSE: &str = ".ams.ms.QueryMessages$Response";
    pub(super) const GET_USER_PROFILE_RESPONSE: &str = ".ams.userprofile.GetUserProfile$Response";
    pub(super) const AGENT_STATE_NOTIFICATION: &str = ".ams.routing.AgentStateNotification";
}

/// Serves one text frame of an agent socket.
pub(crate) fn handle_text(hub: &Hub, ctx: &ConnCtx, text: &str) -> Reply {
    let env = match Envelope::parse(text) {
        Ok(env) => env,
        Err(unparsed) => {
            let (id, req_type) = (unparsed.id.as_ref(), unparsed.req_type.as_deref());
            return reject(hub, ctx, id, req_type, &unparsed.rejection);
        }
    };
    let Some(agent) = ctx.agent.as_ref() else {
        return Reply::default();
    };
    let request = match AgentRequest::parse(&env, &agent.old_id()) {
        Ok(request) => request,
        Err(rejection) => return reject(hub, ctx, Some(&env.id), Some(&env.req_type), &rejection),
    };
    let id = &env.id;
    let result = match request {
        AgentRequest::GetClock => Ok(handler::get_clock(id)),
        AgentRequest::SetAgentState(availability) => {
            Ok(routing::set_state(hub, ctx, id, availability))
        }
        AgentRequest::SubscribeRoutingTasks => Ok(routing::subscribe(hub, ctx, id)),
        AgentRequest::UpdateRoutingTaskSubscription => Ok(string(id, 200, "OK")),
        AgentRequest::SubscribeAgentsState => Ok(routing::subscribe_state(hub, ctx, id)),
        AgentRequest::UpdateRingState { ring_id, accepted } => {
            routing::ring_state(hub, ctx, id, &ring_id, accepted)
        }
        AgentRequest::SubscribeExConversations(filter) => {
            Ok(conversations::subscribe(hub, ctx, id, filter))
        }
        AgentRequest::UnsubscribeExConversations { subscription_id } => {
            conversations::unsubscribe(hub, ctx, id, &subscription_id)
        }
        AgentRequest::UpdateConversationField {
            conversation_id,
            changes,
        } => conversations::update_field(hub, ctx, id, &conversation_id, &changes),
        AgentRequest::PublishEvent {
            dialog_id,
            event,
            metadata,
        } => return messaging::publish(hub, ctx, id, (dialog_id, event, metadata)),
        AgentRequest::QueryMessages {
            dialog_id,
            newer_than,
        } => messaging::query(hub, ctx, id, &dialog_id, newer_than),
        AgentRequest::GetUserProfile { user_id } => messaging::profile(hub, ctx, id, &user_id),
        AgentRequest::GenerateUploadUrl(body) => handler::files::upload_url(hub, ctx, id, &body),
        AgentRequest::GenerateDownloadUrl(body) => {
            handler::files::download_url(hub, ctx, id, &body)
        }
    };
    result.unwrap_or_else(|rejection| reject(hub, ctx, Some(id), Some(&env.req_type), &rejection))
}

/// A `.ReqBody$StringResp`.
fn string(id: &ReqId, code: u16, text: &str) -> Reply {
    Reply::one(response(
        Some(id),
        code,
        types::STRING_RESPONSE,
        serde_json::Value::String(text.to_owned()),
    ))
}
