//! agentVep, LivePerson's login service, as node-agent-sdk uses it: `login` answers the bearer
//! the agent socket takes in its path, a `csrf` and a `session_id` cookie; `refresh` (csrf +
//! cookie) keeps the same bearer valid; `logout` ends it.
//!
//! - `POST /api/account/{account}/login?v=1.3` with `{username, password}` or the app-key
//!   form `{username, appKey, secret, accessToken, accessTokenSecret}`. The SAML form
//!   `{jwt, assertion}` is refused (400): there is no SSO to simulate.
//! - `POST /api/account/{account}/refresh` with `{csrf}` and the cookie: 200, empty body.
//! - `POST /api/account/{account}/logout` with `{csrf}` and the cookie: 200, empty body.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Map, Value};

use super::sessions::{AgentIdentity, Issued, SessionError, Sessions};
use super::{hex, json_body, random_bytes, required, wrong_method, Directory, Refusal};

/// The session cookie's name, as the login service sets it.
const COOKIE: &str = "session_id";

/// LivePerson's `internalCode` for a csrf that is not the session's (refresh page).
const CSRF_INVALID: u16 = 10;

pub(super) fn router() -> Router<Arc<Directory>> {
    Router::new()
        .route(
            "/api/account/{account}/login",
            post(login).fallback(wrong_method("POST")),
        )
        .route(
            "/api/account/{account}/refresh",
            post(refresh).fallback(wrong_method("POST")),
        )
        .route(
            "/api/account/{account}/logout",
            post(logout).fallback(wrong_method("POST")),
        )
}

/// The login forms node-agent-sdk sends (ExternalServices.js `login`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `{username, password}`: a human agent (`userTypeId` 1).
    Password,
    /// `{username, appKey, secret, ...}`: a bot (`userTypeId` 2); `secret` is its password.
    AppKey,
}

/// The login name, the password (or secret) and the form of a login body.
fn credentials(body: &Map<String, Value>) -> Result<(&str, &str, Form), Refusal> {
    if body.contains_key("assertion") || body.contains_key("jwt") {
        return Err(Refusal::bad_request(
            "SAML assertion login is not simulated: log in with username and password, or \
             username, appKey and secret",
        ));
    }
    if body.contains_key("appKey") && !body.contains_key("password") {
        required(body, "appKey")?;
        return Ok((
            required(body, "username")?,
            required(body, "secret")?,
            Form::AppKey,
        ));
    }
    Ok((
        required(body, "username")?,
        required(body, "password")?,
        Form::Password,
    ))
}

async fn login(
    State(directory): State<Arc<Directory>>,
    Path(account): Path<String>,
    body: Bytes,
) -> Result<Response, Refusal> {
    directory.serves(&account)?;
    let body = json_body(&body, false)?;
    let (username, password, form) = credentials(&body)?;
    if let Some(pinned) = &directory.settings.agent_login {
        if pinned.username != username || pinned.password != password {
            tracing::debug!(%account, %username, "agent login refused: wrong credentials");
            return Err(Refusal::unauthorized(
                "Authentication failed: wrong username or password",
            ));
        }
    }
    let secrets = [
        hex(&random_bytes::<32>()?),
        hex(&random_bytes::<32>()?),
        hex(&random_bytes::<32>()?),
    ];
    let issued = directory
        .sessions
        .login(AgentIdentity::of(&account, username), secrets)
        .ok_or_else(|| {
            Refusal::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many live sessions ({}); retry after 5 seconds",
                    super::sessions::MAX_SESSIONS
                ),
            )
        })?;
    tracing::debug!(%account, %username, user_id = %issued.identity.user_id, "agent logged in");
    let ttl = directory.settings.session_validity.as_secs();
    Ok(logged_in(&issued, form, ttl))
}

/// The login response: `csrf`, `config` (who the agent is), `sessionTTl`, and the bearer at
/// the bottom, as the login service prints it; the `session_id` cookie.
fn logged_in(issued: &Issued, form: Form, ttl_secs: u64) -> Response {
    let identity = &issued.identity;
    let body = json!({
        "csrf": issued.csrf,
        "config": {
            "loginName": identity.login_name,
            "userId": identity.user_id,
            "userPid": identity.user_pid,
            "userTypeId": if form == Form::AppKey { 2 } else { 1 },
            "isLPA": false,
            "isAdmin": false,
            "accountTimeZoneId": "UTC",
            "serverCurrentTime": crate::model::now_ms(),
            "timeDiff": 0,
        },
        "sessionTTl": ttl_secs.to_string(),
        "bearer": issued.bearer,
    });
    let cookie = format!("{COOKIE}={}; Path=/; Secure; HttpOnly", issued.cookie);
    ([(header::SET_COOKIE, cookie)], axum::Json(body)).into_response()
}

async fn refresh(
    State(directory): State<Arc<Directory>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refusal> {
    let identity = with_session(&directory, &account, &headers, &body, Sessions::refresh)?;
    tracing::debug!(%account, user_id = %identity.user_id, "agent session refreshed");
    Ok(StatusCode::OK.into_response())
}

async fn logout(
    State(directory): State<Arc<Directory>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refusal> {
    let identity = with_session(&directory, &account, &headers, &body, Sessions::logout)?;
    tracing::debug!(%account, user_id = %identity.user_id, "agent logged out");
    let expired = format!("{COOKIE}=; Path=/; Max-Age=0; Secure; HttpOnly");
    Ok(([(header::SET_COOKIE, expired)], StatusCode::OK).into_response())
}

/// Runs `action` (refresh or logout) on the session of the request's cookie and csrf.
fn with_session(
    directory: &Directory,
    account: &str,
    headers: &HeaderMap,
    body: &[u8],
    action: fn(&Sessions, &str, &str, &str) -> Result<AgentIdentity, SessionError>,
) -> Result<AgentIdentity, Refusal> {
    directory.serves(account)?;
    let body = json_body(body, false)?;
    let csrf = required(&body, "csrf")?;
    let cookie = session_cookie(headers).ok_or_else(|| {
        Refusal::unauthorized(format!("session unauthorized: no {COOKIE} cookie"))
    })?;
    action(&directory.sessions, account, &cookie, csrf).map_err(|err| {
        let refusal = Refusal::unauthorized(err.to_string());
        if err == SessionError::WrongCsrf {
            refusal.with_internal_code(CSRF_INVALID)
        } else {
            refusal
        }
    })
}

/// The `session_id` value of the request's `Cookie` headers.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_sdks_login_forms() {
        let password = body(json!({"username":"u","password":"p"}));
        assert_eq!(credentials(&password).unwrap(), ("u", "p", Form::Password));
        let app = body(json!({"username":"bot","appKey":"k","secret":"s",
            "accessToken":"dummy","accessTokenSecret":"dummy"}));
        assert_eq!(credentials(&app).unwrap(), ("bot", "s", Form::AppKey));
        let saml = body(json!({"jwt":"dummy","assertion":"<saml/>"}));
        assert!(credentials(&saml).unwrap_err().message.contains("SAML"));
        let missing = body(json!({"username":"u"}));
        assert_eq!(
            credentials(&missing).unwrap_err().message,
            "field password is missing"
        );
        let no_secret = body(json!({"username":"u","appKey":"k"}));
        assert_eq!(
            credentials(&no_secret).unwrap_err().message,
            "field secret is missing"
        );
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; session_id=abc"),
        );
        assert_eq!(session_cookie(&headers).as_deref(), Some("abc"));
        assert_eq!(session_cookie(&HeaderMap::new()), None);
    }
}
