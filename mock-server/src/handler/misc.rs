//! InitConnection, GetClock and user profiles (file URLs: `crate::files`).

use serde_json::{json, Value};

use super::{reject, ConnCtx, Reply, CLOSE_UNAUTHORIZED};
use wiretape_fixtures::redact::MARK;

use crate::agent::agent_id;
use crate::auth;
use crate::client_properties::ClientProperties;
use crate::config::Auth;
use crate::hub::Hub;
use crate::model::now_ms;
use crate::protocol::{response, string_response, types, Rejection, ReqId};
use crate::validation::Finding;

/// `InitConnection`: authenticates a header-less socket, re-confirms an authenticated one, or
/// steps an unauthenticated identity up to an authenticated consumer (see [`step_up`]); takes
/// its client properties (added to the upgrade's, later values replacing earlier).
pub(super) fn init_connection(
    hub: &Hub,
    ctx: &mut ConnCtx,
    id: &ReqId,
    (jwt, properties): (Option<&str>, Option<ClientProperties>),
) -> Reply {
    let pinned = match &hub.settings.auth {
        Auth::AnyToken => None,
        Auth::Pinned(token) => Some(token.as_str()),
    };
    let identity = match (jwt, &ctx.consumer_id) {
        (Some(jwt), _) => match auth::authenticate(jwt, pinned, auth::now_secs()) {
            Ok(identity) => identity,
            Err(refused) => {
                let rejection = Rejection::unauthorized(
                    "headers[].jwt",
                    json!(MARK),
                    format!("InitConnection refused: {}", refused.0),
                );
                return refuse_init(hub, ctx, id, &rejection);
            }
        },
        // Client properties only, on a socket that is already authenticated.
        (None, Some(_)) => return Reply::one(string_response(Some(id), 200, "OK")),
        (None, None) => {
            let rejection = Rejection::unauthorized(
                "headers",
                Value::Null,
                "InitConnection has no .ams.headers.ConsumerAuthentication header with a jwt",
            );
            return refuse_init(hub, ctx, id, &rejection);
        }
    };
    let consumer = identity.consumer_id.clone();
    match ctx.consumer_id.clone() {
        Some(current) if current != consumer => {
            let steps_up = auth::is_unauthenticated(&current) && !identity.is_unauthenticated();
            if !steps_up {
                let rejection = Rejection::unauthorized(
                    "headers[].jwt",
                    json!(MARK),
                    "this connection is already authenticated as another consumer",
                );
                return reject(hub, ctx, Some(id), Some("InitConnection"), &rejection);
            }
            step_up(hub, ctx, &current, &consumer);
        }
        _ => {}
    }
    ctx.consumer_id = Some(consumer.clone());
    ctx.expires_at = identity.expires_at;
    if let Some(properties) = properties {
        let known = ctx
            .client_properties
            .get_or_insert_with(ClientProperties::default);
        known.merge(properties);
    }
    hub.with_state(|s| {
        if let Some(conn) = s.connections.get_mut(&ctx.id) {
            conn.consumer_id = Some(consumer);
        }
    });
    Reply::one(string_response(Some(id), 200, "OK"))
}

/// Step-up: a socket of an unauthenticated identity authenticates as a consumer (an
/// InitConnection with the consumer's token). Its open conversation becomes the consumer's,
/// history included, and every metadata subscriber (the agent side too) sees an UPSERT whose
/// CONSUMER participant has the new id, which is how node-agent-sdk's agent-bot example
/// recognises a step-up.
fn step_up(hub: &Hub, ctx: &ConnCtx, from: &str, to: &str) {
    hub.with_state(|s| {
        if let Some(conn) = s.connections.get_mut(&ctx.id) {
            conn.consumer_id = Some(to.to_owned());
        }
        s.transfer_open_conversation(&ctx.account, from, to);
    });
}

/// A failed InitConnection: the error response, then close 4401 when the socket is still
/// unauthenticated (reference §1.5).
pub(super) fn refuse_init(hub: &Hub, ctx: &ConnCtx, id: &ReqId, rejection: &Rejection) -> Reply {
    let mut reply = reject(hub, ctx, Some(id), Some("InitConnection"), rejection);
    if ctx.consumer_id.is_none() {
        reply.close = Some((CLOSE_UNAUTHORIZED, super::close_reason(&rejection.finding)));
    }
    reply
}

/// `GetClock`: the server time in epoch milliseconds.
pub(crate) fn get_clock(id: &ReqId) -> Reply {
    Reply::texts([response(
        Some(id),
        200,
        types::GET_CLOCK_RESPONSE,
        json!({"currentTime": now_ms()}),
    )])
}

/// `userprofile.GetUserProfile`: the consumer's own profile (no body, or its own id), with what
/// it set, or the simulated agent's. The body is the flat object the service sends (what
/// node-agent-sdk's transform turns into the schema's SDE array), not that array.
pub(super) fn user_profile(
    hub: &Hub,
    ctx: &ConnCtx,
    consumer: &str,
    id: &ReqId,
    user_id: Option<&str>,
) -> Result<Reply, Rejection> {
    let agent = &agent_id(&ctx.account);
    let body = match user_id {
        None => own_profile(hub, &ctx.account, consumer),
        Some(user) if user == consumer => own_profile(hub, &ctx.account, consumer),
        Some(user) if user == agent => profile(agent, "ASSIGNED_AGENT", "wiretape", "agent"),
        Some(user) => {
            return Err(Rejection::from(Finding::violation(
                crate::validation::Rule::Body,
                "body",
                Value::String(user.to_owned()),
                format!("no user profile for {user:?}; known: yourself and agent {agent}"),
            )))
        }
    };
    Ok(Reply::one(response(
        Some(id),
        200,
        types::GET_USER_PROFILE_RESPONSE,
        body,
    )))
}

/// `userprofile.SetUserProfile`: keeps the profile for this consumer on this account (the
/// agent side sees it too); each call replaces the fields it names.
pub(super) fn set_user_profile(
    hub: &Hub,
    ctx: &ConnCtx,
    consumer: &str,
    id: &ReqId,
    profile: serde_json::Map<String, Value>,
) -> Reply {
    let key = (ctx.account.clone(), consumer.to_owned());
    hub.with_state(|s| s.profiles.entry(key).or_default().extend(profile));
    Reply::one(string_response(Some(id), 200, "OK"))
}

/// The consumer's profile: the defaults, then what it set (its `userId` and `role` stay its
/// own). The agent side's `GetUserProfile` answers with it too.
pub(crate) fn own_profile(hub: &Hub, account: &str, consumer: &str) -> Value {
    let mut body = profile(consumer, "CONSUMER", "", "");
    let key = (account.to_owned(), consumer.to_owned());
    if let (Some(stored), Value::Object(out)) =
        (hub.read(|s| s.profiles.get(&key).cloned()), &mut body)
    {
        for (field, value) in stored {
            if field != "userId" && field != "role" {
                out.insert(field, value);
            }
        }
    }
    body
}

fn profile(user: &str, role: &str, first: &str, last: &str) -> Value {
    json!({
        "firstName": first,
        "lastName": last,
        "nickname": if role == "CONSUMER" { String::new() } else { format!("{first} {last}") },
        "userId": user,
        "avatarUrl": "",
        "role": role,
        "backgndImgUri": "",
        "description": "",
    })
}
