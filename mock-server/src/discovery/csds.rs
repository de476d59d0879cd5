//! CSDS, LivePerson's Domain API: which host serves which service for an account. Every
//! service the mock offers is the mock itself, named by the `Host` the client reached it by,
//! so a client that discovers its hosts (node-agent-sdk, the tutorial's prerequisites, the
//! Web SDK) lands on this port whatever port that is.
//!
//! - `GET /api/account/{account}/service/baseURI.json?version=1.0`: `{"baseURIs": [...]}`.
//! - `GET /api/account/{account}/service/{service}/baseURI.json?version=1.0`: one entry.
//! - `GET /csdr/account/{account}/service/{service}/baseURI.lpCsds?version=1.0&cb=NAME`:
//!   the JSONP form, `NAME({...});`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{reached_host, wrong_method, Directory, Refusal};

/// The services the mock serves, all on its own port: the consumer socket
/// (`asyncMessagingEnt`, and `facadeMsg`, which later SDKs connect to), the IdP, the agent
/// login service (`agentVep`) and file storage (`swift`).
pub(crate) const SERVICES: &[&str] =
    &["asyncMessagingEnt", "facadeMsg", "idp", "agentVep", "swift"];

/// Longest JSONP callback name accepted.
const MAX_CALLBACK: usize = 128;

pub(super) fn router() -> Router<Arc<Directory>> {
    Router::new()
        .route(
            "/api/account/{account}/service/baseURI.json",
            get(all).fallback(wrong_method("GET")),
        )
        .route(
            "/api/account/{account}/service/{service}/baseURI.json",
            get(one).fallback(wrong_method("GET")),
        )
        .route(
            "/csdr/account/{account}/service/{service}/baseURI.lpCsds",
            get(jsonp).fallback(wrong_method("GET")),
        )
}

/// `{service, account, baseURI}`.
fn entry(service: &str, account: &str, host: &str) -> Value {
    json!({"service": service, "account": account, "baseURI": host})
}

/// The entry of one service, or CSDS's 404 for a service it does not know.
fn lookup(service: &str, account: &str, host: &str) -> Result<Value, Refusal> {
    if SERVICES.contains(&service) {
        Ok(entry(service, account, host))
    } else {
        Err(Refusal::new(
            StatusCode::NOT_FOUND,
            format!(
                "unknown service {service:?}; this mock serves {}",
                SERVICES.join(", ")
            ),
        ))
    }
}

async fn all(
    State(directory): State<Arc<Directory>>,
    Path(account): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    directory.serves(&account)?;
    let host = reached_host(&headers)?;
    let entries: Vec<Value> = SERVICES
        .iter()
        .map(|service| entry(service, &account, &host))
        .collect();
    Ok(axum::Json(json!({ "baseURIs": entries })).into_response())
}

async fn one(
    State(directory): State<Arc<Directory>>,
    Path((account, service)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    directory.serves(&account)?;
    let host = reached_host(&headers)?;
    Ok(axum::Json(lookup(&service, &account, &host)?).into_response())
}

/// The query of the JSONP form.
#[derive(Debug, Deserialize)]
struct JsonpQuery {
    cb: Option<String>,
}

/// The JSONP form: `NAME({...});` as JavaScript; without `cb`, plain JSON. A refusal is
/// wrapped the same way (with its status), so a page's callback can see why.
async fn jsonp(
    State(directory): State<Arc<Directory>>,
    Path((account, service)): Path<(String, String)>,
    Query(query): Query<JsonpQuery>,
    headers: HeaderMap,
) -> Response {
    let Some(callback) = query.cb else {
        return one(State(directory), Path((account, service)), headers)
            .await
            .into_response();
    };
    if !is_callback_name(&callback) {
        return Refusal::bad_request(format!(
            "cb must be a JavaScript identifier (or a dotted path of them), at most \
             {MAX_CALLBACK} characters"
        ))
        .into_response();
    }
    let (status, body) = match directory
        .serves(&account)
        .and_then(|()| reached_host(&headers))
        .and_then(|host| lookup(&service, &account, &host))
    {
        Ok(body) => (StatusCode::OK, body),
        Err(refusal) => (refusal.status, refusal.body()),
    };
    (
        status,
        [(
            header::CONTENT_TYPE,
            "application/javascript; charset=utf-8",
        )],
        format!("{callback}({body});"),
    )
        .into_response()
}

/// `name` or `a.b.c`, each part an ASCII JavaScript identifier.
fn is_callback_name(name: &str) -> bool {
    name.len() <= MAX_CALLBACK
        && name.split('.').all(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_names_are_identifiers() {
        for ok in ["cb", "_x1", "$", "lpTag.csds.cb_2"] {
            assert!(is_callback_name(ok), "{ok}");
        }
        for bad in [
            "",
            "1a",
            "a b",
            "alert(1)",
            "a..b",
            "a.",
            "x;y",
            &"a".repeat(129),
        ] {
            assert!(!is_callback_name(bad), "{bad}");
        }
    }

    #[test]
    fn unknown_services_are_404_naming_the_known_ones() {
        let refusal = lookup("leDataReporting", "1", "h:1").unwrap_err();
        assert_eq!(refusal.status, StatusCode::NOT_FOUND);
        assert!(refusal.message.contains("agentVep"), "{}", refusal.message);
        assert_eq!(lookup("idp", "1", "h:1").unwrap()["baseURI"], "h:1");
    }
}
