//! The HTTP side of the port: the consumer WebSocket upgrade at
//! `/ws_api/account/{account}/messaging/consumer?v=3` (any account, unless one is pinned), the
//! agent's at `/ws_api/account/{account}/messaging/brand/{bearer}?v=2.1`, the control API
//! under `/mock/api/` and the Agent Workspace page at `/`, one axum router for all. Every
//! socket, live or replayed, is served by the one socket loop in `session`.
//!
//! The upgrade is done by hand (not with axum's `WebSocketUpgrade`) so that authentication can
//! refuse it with a plain 401 and so the socket runs on the workspace's tungstenite, whose
//! errors (invalid UTF-8, oversized messages) the session answers with 1007 and 1009.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use wiretape_fixtures::redact::redact_url;

use crate::agent_api::AgentSession;
use crate::auth;
use crate::client_properties::{ClientProperties, Invalid};
use crate::config::Auth;
use crate::conn::{ConnCtx, Peer};
use crate::hub::Hub;
use crate::replay::replayer::Replayer;
use crate::replay::Library;
use crate::session::{self, Live, Service};

/// The router of one server. When replaying (`library`), every WebSocket upgrade (whatever
/// its path) is matched against the cassettes instead of served by the simulation.
pub(crate) fn router(hub: Arc<Hub>, library: Option<Arc<Library>>) -> Router {
    let router = Router::new()
        .nest("/mock/api", crate::control::router())
        .merge(crate::storage::router())
        .merge(crate::discovery::router(hub.discovery.clone()));
    let router = match library {
        Some(library) => router.fallback(move |State(hub), req| replay_socket(hub, library, req)),
        None => router
            .merge(crate::workspace::router())
            .route(
                "/ws_api/account/{account}/messaging/consumer",
                get(consumer_socket),
            )
            .route(
                "/ws_api/account/{account}/messaging/brand/{bearer}",
                get(agent_socket),
            )
            .fallback(not_found),
    };
    router.with_state(hub)
}

/// Replay mode: claims the cassette recorded for this handshake and replays it, or hands the
/// connection to the fallback (`--record-missing`), or refuses it saying what is recorded.
async fn replay_socket(hub: Arc<Hub>, library: Arc<Library>, mut req: Request) -> Response {
    let Some(key) = websocket_key(req.headers()) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "this is a WebSocket endpoint: send a WebSocket upgrade (version 13)",
        );
    };
    if let Some(refused) = fault_refusal(&hub) {
        return refused;
    }
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
    let offered: Vec<String> = req
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|p| p.trim().to_owned()))
        .collect();
    let Some(script) = library.claim(&path_and_query, &offered) else {
        if let Some(fallback) = library.fallback.clone() {
            let path = redact_url(&path_and_query);
            tracing::info!(%path, "no cassette matches: forwarding to the fallback");
            return fallback.forward(req).await;
        }
        return refuse(
            StatusCode::NOT_FOUND,
            &format!(
                "wiretape replay: no unused cassette was recorded for {}; \
                 the cassettes are:\n{}\nNo fallback is set to record it.",
                redact_url(&path_and_query),
                library.describe()
            ),
        );
    };
    if script.open.status != 101 {
        let status = StatusCode::from_u16(script.open.status).unwrap_or(StatusCode::BAD_GATEWAY);
        return refuse(
            status,
            &format!(
                "replayed refusal from {} (recorded status {})",
                script.name, status
            ),
        );
    }
    let identity = match authenticate(&hub, req.headers()) {
        Ok(consumer) => consumer,
        Err(reason) => return refuse(StatusCode::UNAUTHORIZED, &reason),
    };
    let subprotocol = script.open.subprotocol.clone();
    // The account the cassette was recorded on (the path matched it).
    let account = account_in(&path_and_query).unwrap_or_default().to_owned();
    let peer = Peer {
        account,
        identity,
        client_properties: None,
        agent: None,
    };
    let mut resp = upgrade(&hub, &mut req, &key, peer, move |ctx| {
        Replayer::new(library, script, ctx)
    });
    if let Some(p) = subprotocol.and_then(|p| p.parse().ok()) {
        resp.headers_mut().insert(header::SEC_WEBSOCKET_PROTOCOL, p);
    }
    resp
}

/// The consumer behind an `Authorization` header: `Ok(None)` without one, the reason for a
/// 401 when it is unusable or not the pinned token.
fn authenticate(hub: &Hub, headers: &HeaderMap) -> Result<Option<auth::Identity>, String> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let pinned = match &hub.settings.auth {
        Auth::AnyToken => None,
        Auth::Pinned(token) => Some(token.as_str()),
    };
    value
        .to_str()
        .map_err(|_| auth::Refused("the Authorization header is not ASCII".into()))
        .and_then(auth::header_token)
        .and_then(|token| auth::authenticate(token, pinned, auth::now_secs()))
        .map(Some)
        .map_err(|refused| format!("401 Unauthorized: {}", refused.0))
}

fn switching_protocols(accept: &str) -> Response {
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(Body::empty())
        .unwrap_or_else(|_| {
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot build the upgrade response",
            )
        })
}

async fn not_found(req: Request) -> Response {
    (
        StatusCode::NOT_FOUND,
        format!(
            "no such endpoint: {}; consumers connect to /ws_api/account/{{account}}/messaging/consumer?v=3, \
             agents to /ws_api/account/{{account}}/messaging/brand/{{bearer}}?v=2.1",
            req.uri().path()
        ),
    )
        .into_response()
}

/// What every live socket's upgrade needs: a WebSocket upgrade (400), an account served
/// (404), one of the API `versions` in the query (400 saying what the endpoint needs).
/// Returns the `Sec-WebSocket-Key`, or the refusal.
fn upgrade_checks(
    hub: &Hub,
    account: &str,
    req: &Request,
    (versions, needs): (&[&str], &str),
) -> Result<String, Box<Response>> {
    let Some(key) = websocket_key(req.headers()) else {
        return Err(Box::new(refuse(
            StatusCode::BAD_REQUEST,
            "this is a WebSocket endpoint: send a WebSocket upgrade (version 13)",
        )));
    };
    if let Some(refused) = fault_refusal(hub) {
        return Err(Box::new(refused));
    }
    if !hub.settings.serves(account) {
        return Err(Box::new(refuse(
            StatusCode::NOT_FOUND,
            &format!(
                "unknown account {account:?}; this mock serves account {:?} only",
                hub.settings.account.as_deref().unwrap_or_default()
            ),
        )));
    }
    let version_ok = req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|kv| versions.contains(&kv)));
    if !version_ok {
        let message = format!("unsupported API version: {needs}");
        return Err(Box::new(refuse(StatusCode::BAD_REQUEST, &message)));
    }
    Ok(key)
}

/// Checks the upgrade request, authenticates it, and hands the upgraded socket to a session.
async fn consumer_socket(
    State(hub): State<Arc<Hub>>,
    Path(account): Path<String>,
    mut req: Request,
) -> Response {
    let versions = (&["v=3"][..], "the consumer endpoint needs the query v=3");
    let key = match upgrade_checks(&hub, &account, &req, versions) {
        Ok(key) => key,
        Err(refused) => return *refused,
    };
    let headers = req.headers();
    let identity = match authenticate(&hub, headers) {
        Ok(consumer) => consumer,
        Err(reason) => return refuse(StatusCode::UNAUTHORIZED, &reason),
    };
    let client_properties = match client_properties(req.headers(), req.uri()) {
        Ok(properties) => properties,
        Err(reason) => return refuse(StatusCode::BAD_REQUEST, &reason),
    };
    let peer = Peer {
        account,
        identity,
        client_properties,
        agent: None,
    };
    let timeouts = hub.settings.timeouts;
    upgrade(&hub, &mut req, &key, peer, move |ctx| {
        Live::new(ctx, timeouts)
    })
}

/// The agent socket (agent-api.md §2): the bearer in the path names the agent
/// ([`AgentDirectory::identity_for`](crate::hub::AgentDirectory::identity_for)); `v=2.1`
/// (node-agent-sdk 1.2.0) or `v=2`. The bearer is never logged.
async fn agent_socket(
    State(hub): State<Arc<Hub>>,
    Path((account, bearer)): Path<(String, String)>,
    mut req: Request,
) -> Response {
    let versions = (
        &["v=2.1", "v=2"][..],
        "the agent endpoint needs the query v=2.1 (or v=2)",
    );
    let key = match upgrade_checks(&hub, &account, &req, versions) {
        Ok(key) => key,
        Err(refused) => return *refused,
    };
    let identity = hub
        .agents
        .identity_for(&hub.discovery.sessions, &account, &bearer);
    let peer = Peer {
        account,
        agent: Some(identity),
        ..Peer::default()
    };
    let (timeouts, session_hub) = (hub.settings.timeouts, hub.clone());
    upgrade(&hub, &mut req, &key, peer, move |ctx| {
        AgentSession::new(&session_hub, ctx, timeouts)
    })
}

/// The client properties of an upgrade: the `Client-Properties` header (JSON), then the
/// URL's query parameters (see `client_properties`); the reason for a 400 when malformed.
fn client_properties(headers: &HeaderMap, uri: &Uri) -> Result<Option<ClientProperties>, String> {
    let refused = |invalid: Invalid| {
        format!(
            "400 Bad Request: invalid client properties: {} (field {})",
            invalid.message, invalid.field
        )
    };
    let mut found = None::<ClientProperties>;
    if let Some(value) = headers.get("Client-Properties") {
        let text = std::str::from_utf8(value.as_bytes()).map_err(|_| {
            "400 Bad Request: the Client-Properties header is not UTF-8 JSON".to_owned()
        })?;
        found = Some(ClientProperties::from_header(text).map_err(refused)?);
    }
    let pairs: Vec<(String, String)> =
        Query::try_from_uri(uri).map_or_else(|_| Vec::new(), |q| q.0);
    if let Some(query) = ClientProperties::from_query(&pairs).map_err(refused)? {
        found
            .get_or_insert_with(ClientProperties::default)
            .merge(query);
    }
    Ok(found)
}

/// The account of a `/ws_api/account/{account}/...` path.
fn account_in(path: &str) -> Option<&str> {
    path.strip_prefix("/ws_api/account/")?
        .split(['/', '?'])
        .next()
        .filter(|a| !a.is_empty())
}

/// Answers an upgrade request with 101 and, once hyper hands the connection over, serves it
/// as a WebSocket with the message size limit (a tracked task) in the one socket loop, for
/// `peer`, with the service `service` builds.
fn upgrade<V>(
    hub: &Arc<Hub>,
    req: &mut Request,
    key: &str,
    peer: Peer,
    service: impl FnOnce(ConnCtx) -> V + Send + 'static,
) -> Response
where
    V: Service + Send,
{
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(req);
    let limit = hub.settings.max_message_bytes;
    let task_hub = hub.clone();
    hub.tracker.spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(err) => {
                tracing::debug!(cause = %err, "WebSocket upgrade did not complete");
                return;
            }
        };
        let config = WebSocketConfig::default()
            .max_message_size(Some(limit))
            .max_frame_size(Some(limit));
        let ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        session::run(ws, &task_hub, peer, service).await;
    });
    switching_protocols(&accept)
}

/// The `Sec-WebSocket-Key` of a valid version-13 upgrade request.
fn websocket_key(headers: &HeaderMap) -> Option<String> {
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if !has_token(header::UPGRADE, "websocket") || !has_token(header::CONNECTION, "upgrade") {
        return None;
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION)?.as_bytes() != b"13" {
        return None;
    }
    headers
        .get(header::SEC_WEBSOCKET_KEY)?
        .to_str()
        .ok()
        .map(str::to_owned)
}

/// A `refuse` fault rule that fires for this handshake: its status (with `Retry-After` when
/// the rule has one), before authentication and before any cassette is claimed.
fn fault_refusal(hub: &Hub) -> Option<Response> {
    let refusal = hub.faults.handshake()?;
    tracing::info!(rule = %refusal.fired.rule, "fault fired: handshake refused");
    let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let message = format!(
        "{status}: refused by the fault rule `{}` (wiretape)",
        refusal.fired.rule
    );
    let mut response = refuse(status, &message);
    if let Some(secs) = refusal.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
    }
    Some(response)
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, message.to_owned()).into_response()
}
