//! InitConnection, GetClock, user profiles and file URLs.

use serde_json::{json, Value};
use uuid::Uuid;

use super::{reject, ConnCtx, Reply, CLOSE_UNAUTHORIZED};
use wiretape_fixtures::redact::MARK;

use crate::agent::agent_id;
use crate::auth;
use crate::client_properties::ClientProperties;
use crate::config::Auth;
use crate::hub::Hub;
use crate::model::now_ms;
use crate::protocol::{response, string_response, types, Rejection, ReqId};

/// `InitConnection`: authenticates a header-less socket (or re-confirms an authenticated one)
/// and takes its client properties (added to the upgrade's, later values replacing earlier).
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
    let consumer = match (jwt, &ctx.consumer_id) {
        (Some(jwt), _) => match auth::authenticate(jwt, pinned) {
            Ok(consumer) => consumer,
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
        (None, Some(consumer)) => consumer.clone(),
        (None, None) => {
            let rejection = Rejection::unauthorized(
                "headers",
                Value::Null,
                "InitConnection has no .ams.headers.ConsumerAuthentication header with a jwt",
            );
            return refuse_init(hub, ctx, id, &rejection);
        }
    };
    if ctx.consumer_id.as_ref().is_some_and(|c| *c != consumer) {
        let rejection = Rejection::unauthorized(
            "headers[].jwt",
            json!(MARK),
            "this connection is already authenticated as another consumer",
        );
        return reject(hub, ctx, Some(id), Some("InitConnection"), &rejection);
    }
    ctx.consumer_id = Some(consumer.clone());
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
    Reply::texts([string_response(Some(id), 200, "OK")])
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
pub(super) fn get_clock(id: &ReqId) -> Reply {
    Reply::texts([response(
        Some(id),
        200,
        types::GET_CLOCK_RESPONSE,
        json!({"currentTime": now_ms()}),
    )])
}

/// `userprofile.GetUserProfile`: the consumer's own profile (no body, or its own id) or the
/// simulated agent's.
pub(super) fn user_profile(
    ctx: &ConnCtx,
    consumer: &str,
    id: &ReqId,
    user_id: Option<&str>,
) -> Result<Reply, Rejection> {
    let agent = &agent_id(&ctx.account);
    let body = match user_id {
        None => profile(consumer, "CONSUMER", "", ""),
        Some(user) if user == consumer => profile(consumer, "CONSUMER", "", ""),
        Some(user) if user == agent => profile(agent, "ASSIGNED_AGENT", "wiretape", "agent"),
        Some(user) => {
            return Err(Rejection::bad_request(
                crate::validation::Rule::Body,
                "body",
                Value::String(user.to_owned()),
                format!("no user profile for {user:?}; known: yourself and agent {agent}"),
            ))
        }
    };
    Ok(Reply::texts([response(
        Some(id),
        200,
        types::GET_USER_PROFILE_RESPONSE,
        body,
    )]))
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

/// `ms.GenerateURLForUploadFile`: a plausible, fake signed upload location.
pub(super) fn upload_url(ctx: &ConnCtx, id: &ReqId, file_type: &str) -> Reply {
    let relative_path = format!(
        "/v1/AUTH_async-images/{}/{}.{}",
        ctx.account,
        Uuid::new_v4(),
        file_type.to_ascii_lowercase()
    );
    url_reply(id, &relative_path)
}

/// `ms.GenerateURLForDownloadFile`: the same path with fake signature parameters.
pub(super) fn download_url(id: &ReqId, relative_path: &str) -> Reply {
    url_reply(id, relative_path)
}

fn url_reply(id: &ReqId, relative_path: &str) -> Reply {
    let expires = now_ms() / 1000 + 300;
    let signature = Uuid::new_v4().simple().to_string();
    Reply::texts([response(
        Some(id),
        200,
        types::GENERATE_URL_RESPONSE,
        json!({
            "relativePath": relative_path,
            "queryParams": {"temp_url_sig": signature, "temp_url_expires": expires.to_string()},
        }),
    )])
}
