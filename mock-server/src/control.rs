//! The control API: HTTP JSON under `/mock/api/` on the same port as the WebSocket endpoint,
//! loopback-only unless opened ([`ControlAccess::Anyone`]).
//!
//! | method and path | does |
//! |---|---|
//! | `GET /mock/api/conversations[?account=ID]` | every conversation (of one account) with its events and receipts |
//! | `GET /mock/api/conversations/{id}` | one (`latest` = the newest) |
//! | `POST /mock/api/conversations/{id}/join` | the agent joins |
//! | `POST /mock/api/conversations/{id}/say` `{"text": "..."}` or `{"event": {...}}` | the agent sends; returns `{conversationId, dialogId, sequence}` |
//! | `POST /mock/api/conversations/{id}/receipts` `{"status": "READ", "sequenceList": [0]}` | the agent publishes a receipt (without `sequenceList`: for every consumer message not yet marked) |
//! | `POST /mock/api/conversations/{id}/chat-state` `{"chatState": "COMPOSING"}` | the agent's chat state |
//! | `POST /mock/api/conversations/{id}/close` | the agent closes the conversation |
//! | `GET /mock/api/receipts[?account=ID][&since=INDEX][&limit=N]` | consumer receipts (of one account) with their verdicts, paged |
//! | `GET /mock/api/violations[?account=ID][&since=INDEX][&limit=N]` | violations (of one account), paged |
//! | `GET /mock/api/report` | exact counts (by verdict and rule, what was dropped or forgotten), and the records in memory |
//! | `POST /mock/api/faults` `{"rule": "close 4401 after 2s times 1"}` | adds a fault rule (the `--fault` language); 400 quoting the rule when it does not parse |
//! | `GET /mock/api/faults` | every fault rule with how often it fired: `[{"rule", "fired"}]` |
//! | `DELETE /mock/api/faults` | removes every fault rule |
//! | `POST /mock/api/shutdown` | stops the server (like SIGTERM for `wiretape mock`) |
//!
//! Every record and conversation names its `account`; `?account=ID` keeps only that account's.
//!
//! Receipts and violations are JSON arrays of the records kept in memory (the newest
//! `--keep-records`), from index `since` on (default 0), at most `limit` (default all). The
//! paging is in response headers, so the body stays the array it always was:
//! `X-Wiretape-Total` (records ever recorded), `X-Wiretape-Dropped` (the oldest, dropped from
//! memory: indexes below it are only in the `--report` file), `X-Wiretape-Next` (the `since`
//! for the next poll) and, when `limit` cut the page short, `Link: <...>; rel="next"`.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::ControlAccess;
use crate::hub::Hub;
use crate::journal::{Page, PageRequest};
use crate::listener::Peer;
use crate::model::ReceiptStatus;
use crate::snapshot::ConversationSnapshot;
use crate::{Agent, AgentError};

/// The control API's routes (nested under `/mock/api`).
pub(crate) fn router() -> Router<Arc<Hub>> {
    Router::new()
        .route("/conversations", get(conversations))
        .route("/conversations/{id}", get(conversation))
        .route("/conversations/{id}/join", post(join))
        .route("/conversations/{id}/say", post(say))
        .route("/conversations/{id}/receipts", post(receipts_post))
        .route("/conversations/{id}/chat-state", post(chat_state))
        .route("/conversations/{id}/close", post(close))
        .route("/receipts", get(receipts))
        .route("/violations", get(violations))
        .route("/report", get(report))
        .route(
            "/faults",
            get(faults_get).post(faults_post).delete(faults_delete),
        )
        .route("/shutdown", post(shutdown))
}

/// Extractor that refuses non-loopback peers with 403 unless the API is open; the Agent
/// Workspace page (`workspace`) is served under the same rule.
pub(crate) struct Allowed;

impl FromRequestParts<Arc<Hub>> for Allowed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, hub: &Arc<Hub>) -> Result<Self, Response> {
        let peer = parts.extensions.get::<Peer>().map(|Peer(addr)| addr.ip());
        if allows(hub.settings.control_api, peer) {
            Ok(Allowed)
        } else {
            Err(error(
                StatusCode::FORBIDDEN,
                "the control API and the agent workspace only answer loopback peers (--open-control-api opens them)",
            ))
        }
    }
}

/// The access rule: anyone when opened; otherwise only a loopback peer (an IPv4 loopback
/// peer of a dual-stack socket, `::ffff:127.0.0.1`, included). An unknown peer is refused.
fn allows(access: ControlAccess, peer: Option<IpAddr>) -> bool {
    match access {
        ControlAccess::Anyone => true,
        ControlAccess::LoopbackOnly => peer.is_some_and(|ip| ip.to_canonical().is_loopback()),
    }
}

/// `?account=ID`: only that account's conversations or records.
#[derive(Debug, Deserialize)]
struct AccountFilter {
    account: Option<String>,
}

impl AccountFilter {
    fn keeps(&self, account: &str) -> bool {
        self.account.as_deref().is_none_or(|a| a == account)
    }
}

/// `?account=ID&since=INDEX&limit=N` of the record lists.
#[derive(Debug, Deserialize)]
struct RecordQuery {
    #[serde(flatten)]
    account: AccountFilter,
    since: Option<usize>,
    limit: Option<usize>,
}

impl RecordQuery {
    fn page(&self) -> PageRequest {
        PageRequest {
            since: self.since.unwrap_or(0),
            limit: self.limit,
        }
    }

    /// The page as a JSON array, its counts and next poll in headers.
    fn respond<T: serde::Serialize>(&self, list: &str, page: Page<T>) -> Response {
        let mut response = Json(page.records).into_response();
        let headers = response.headers_mut();
        let mut set = |name: &'static str, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        };
        set("x-wiretape-total", page.total.to_string());
        set("x-wiretape-dropped", page.dropped.to_string());
        set("x-wiretape-next", page.next.to_string());
        if page.more {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("since", &page.next.to_string());
            if let Some(limit) = self.limit {
                query.append_pair("limit", &limit.to_string());
            }
            if let Some(account) = &self.account.account {
                query.append_pair("account", account);
            }
            let query = query.finish();
            set("link", format!("</mock/api/{list}?{query}>; rel=\"next\""));
        }
        response
    }
}

/// Control API errors as JSON `{"error": "..."}`.
struct ApiError(AgentError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self.0 {
            AgentError::UnknownConversation(_) | AgentError::NoConversation => {
                StatusCode::NOT_FOUND
            }
            AgentError::ConversationClosed(_) | AgentError::NotJoined(_) => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        };
        error(status, &self.0.to_string())
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

/// Resolves `latest` to the newest conversation's id.
fn resolve(hub: &Hub, id: &str) -> Result<String, ApiError> {
    if id != "latest" {
        return Ok(id.to_owned());
    }
    hub.read(|s| s.conversations.last().map(|c| c.id.clone()))
        .ok_or(ApiError(AgentError::NoConversation))
}

async fn conversations(
    _: Allowed,
    State(hub): State<Arc<Hub>>,
    Query(filter): Query<AccountFilter>,
) -> Json<Vec<ConversationSnapshot>> {
    Json(hub.read(|s| ConversationSnapshot::every(s, |c| filter.keeps(&c.brand_id))))
}

async fn conversation(
    _: Allowed,
    State(hub): State<Arc<Hub>>,
    Path(id): Path<String>,
) -> Result<Json<ConversationSnapshot>, ApiError> {
    let id = resolve(&hub, &id)?;
    hub.read(|s| {
        s.conversations
            .iter()
            .find(|c| c.id == id)
            .map(|c| Json(ConversationSnapshot::of(c, s)))
    })
    .ok_or(ApiError(AgentError::UnknownConversation(id)))
}

async fn join(
    _: Allowed,
    State(hub): State<Arc<Hub>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = resolve(&hub, &id)?;
    Agent::new(hub).join(&id).map_err(ApiError)?;
    Ok(Json(json!({"conversationId": id, "joined": true})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SayBody {
    text: Option<String>,
    event: Option<Value>,
}

async fn say(
    _: Allowed,
    State(hub): State<Arc<Hub>>,
    Path(id): Path<String>,
    Json(body): Json<SayBody>,
) -> Result<Response, ApiError> {
    let id = resolve(&hub, &id)?;
    let agent = Agent::new(hub);
    let published = match (body.text, body.event) {
        (Some(text), None) => agent.say(&id, &text),
        (None, Some(event)) => agent.publish(&id, event),
        _ => {
            return Ok(error(
                StatusCode::BAD_REQUEST,
                "send exactly one of {\"text\": \"...\"} or {\"event\": {...}}",
            ))
        }
    }
    .map_err(ApiError)?;
    Ok(Json(published).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ReceiptBody {
    status: ReceiptStatus,
    sequence_list: Option<Vec<u64>>,
}

async fn receipts_post(
    _: Allowed,
    State(hub): State<Arc<Hub>>,
    Path(id): Path<String>,
    Json(body): Json<ReceiptBody>,
) -> Result<Response, ApiError> {
    let id = resolve(&hub, &id)?;
    let agent = Agent::new(hub);
    match body.sequence_list {
        Some(list) => {
            let published = agent.receipt(&id, body.status, &list).map_err(ApiError)?;
            Ok(Json(published).into_response())
        }
        None => match agent.acknowledge_all(&id, body.status).map_err(ApiError)? {
            Some(published) => Ok(Json(published).into_response()),
            None => Ok(error(
                StatusCode::CONFLICT,
                &format!("no consumer message is waiting for {}", body.status),
            )),
        },
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ChatStateBody {
    chat_state: String,
}

async fn chat_state(
    _: Allowed,
    State(hub): State<Arc<Hub>>,
    Path(id): Path<String>,
    Json(body): Json<ChatStateBody>,
) -> Result<Json<Value>, ApiError> {
    let id = resolve(&hub, &id)?;
    Agent::new(hub)
        .chat_state(&id, &body.chat_state)
        .map_err(ApiError)?;
    Ok(Json(
        json!({"conversationId": id, "chatState": body.chat_state}),
    ))
}

async fn close(
    _: Allowed,
    State(hub): State<Arc<Hub>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = resolve(&hub, &id)?;
    Agent::new(hub).close(&id).map_err(ApiError)?;
    Ok(Json(json!({"conversationId": id, "state": "CLOSE"})))
}

async fn receipts(
    _: Allowed,
    State(hub): State<Arc<Hub>>,
    Query(query): Query<RecordQuery>,
) -> Response {
    let page = hub.read(|s| {
        s.journal
            .receipt_page(query.page(), |r| query.account.keeps(&r.account))
    });
    query.respond("receipts", page)
}

async fn violations(
    _: Allowed,
    State(hub): State<Arc<Hub>>,
    Query(query): Query<RecordQuery>,
) -> Response {
    let page = hub.read(|s| {
        s.journal
            .violation_page(query.page(), |v| query.account.keeps(&v.account))
    });
    query.respond("violations", page)
}

async fn report(_: Allowed, State(hub): State<Arc<Hub>>) -> Json<crate::Report> {
    Json(hub.report())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultBody {
    rule: String,
}

async fn faults_get(
    _: Allowed,
    State(hub): State<Arc<Hub>>,
) -> Json<Vec<wiretape_fixtures::fault::FaultStatus>> {
    Json(hub.faults.status())
}

/// Adds a rule; it applies to handshakes and to sockets opened from now on.
async fn faults_post(
    _: Allowed,
    State(hub): State<Arc<Hub>>,
    Json(body): Json<FaultBody>,
) -> Response {
    match wiretape_fixtures::Fault::parse(&body.rule) {
        Ok(fault) => {
            let rule = fault.text();
            hub.faults.add(fault);
            (StatusCode::CREATED, Json(json!({"rule": rule}))).into_response()
        }
        Err(err) => error(StatusCode::BAD_REQUEST, &err.to_string()),
    }
}

async fn faults_delete(_: Allowed, State(hub): State<Arc<Hub>>) -> Json<Value> {
    let cleared = hub.faults.status().len();
    hub.faults.clear();
    Json(json!({"cleared": cleared}))
}

async fn shutdown(_: Allowed, State(hub): State<Arc<Hub>>) -> (StatusCode, Json<Value>) {
    hub.cancel.cancel();
    (StatusCode::ACCEPTED, Json(json!({"shuttingDown": true})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_peers_are_allowed_unless_the_api_is_opened() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        for (peer, loopback) in [
            (ip("127.0.0.1"), true),
            (ip("127.10.0.1"), true),
            (ip("::1"), true),
            (ip("::ffff:127.0.0.1"), true),
            (ip("10.0.0.7"), false),
            (ip("192.0.2.1"), false),
            (ip("0.0.0.0"), false),
            (ip("::ffff:10.0.0.7"), false),
            (ip("2001:db8::1"), false),
            (None, false),
        ] {
            assert_eq!(
                allows(ControlAccess::LoopbackOnly, peer),
                loopback,
                "{peer:?}"
            );
            assert!(allows(ControlAccess::Anyone, peer), "{peer:?} when opened");
        }
    }
}
