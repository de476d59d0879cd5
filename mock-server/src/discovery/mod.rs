//! Discovery and identity, the HTTPS services a LivePerson client calls before it opens a
//! socket, all on the mock's own port: CSDS (the Domain API: which host serves which service),
//! the consumer IdP (`signup`, `authenticate`) and the agent login service (agentVep: `login`,
//! `refresh`, `logout`). Decisions and sources: `docs/protocol-decisions.md`, "Discovery and
//! identity".
//!
//! This module does not know the hub: its router carries its own state ([`Directory`]), which
//! the hub holds (`Hub::discovery`) so that the agent socket can ask
//! [`Sessions::lookup`](sessions::Sessions::lookup) who a bearer belongs to.
//!
//! - `csds`: `baseURI.json` (every service or one) and the JSONP `baseURI.lpCsds`.
//! - `idp`: `signup` and `authenticate`, and the JWTs they mint.
//! - `login`: the agentVep login, refresh and logout handlers.
//! - `sessions`: logged-in agents by bearer, and the stable agent identity of a login name.

mod csds;
mod idp;
mod login;
pub(crate) mod sessions;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

use sessions::Sessions;

/// Settings of the discovery and identity services ([`MockServerBuilder::discovery`](crate::MockServerBuilder::discovery)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// `None` (the default): any non-empty username and password (or app key and secret) log
    /// an agent in. `Some`: only this pair (`--agent-login USER:PASS`); any other gets the
    /// error body node-agent-sdk turns into an `SDKError`.
    pub agent_login: Option<AgentLogin>,
    /// Validity (`exp - iat`) of the JWTs `signup` and `authenticate` issue (default 1 hour).
    pub token_validity: Duration,
    /// How long an agent session lives without a `refresh` (default 30 minutes; node-agent-sdk
    /// refreshes every 10).
    pub session_validity: Duration,
}

impl Default for Discovery {
    fn default() -> Self {
        Self {
            agent_login: None,
            token_validity: Duration::from_secs(3600),
            session_validity: Duration::from_secs(30 * 60),
        }
    }
}

/// The one username and password agents must log in with (`--agent-login USER:PASS`). Its
/// `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct AgentLogin {
    /// The login name.
    pub username: String,
    /// The password (for the app-key login form: the `secret`).
    pub password: String,
}

impl fmt::Debug for AgentLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentLogin")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl std::str::FromStr for AgentLogin {
    type Err = String;

    /// `USER:PASS` (the password may contain `:`; neither may be empty).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some((user, pass)) if !user.is_empty() && !pass.is_empty() => Ok(Self {
                username: user.to_owned(),
                password: pass.to_owned(),
            }),
            _ => Err("expected USER:PASS, both non-empty".to_owned()),
        }
    }
}

/// What the discovery routes share: the settings, the pinned account, the agent sessions.
#[derive(Debug)]
pub(crate) struct Directory {
    pub(crate) settings: Discovery,
    /// The one account served, or `None` for any (the hub's `Settings::account`).
    account: Option<String>,
    /// Logged-in agents.
    pub(crate) sessions: Sessions,
}

impl Directory {
    pub(crate) fn new(settings: Discovery, account: Option<String>) -> Self {
        Self {
            sessions: Sessions::new(settings.session_validity),
            settings,
            account,
        }
    }

    /// `Ok` when `account` is served; else the 404 the consumer socket gives too.
    fn serves(&self, account: &str) -> Result<(), Refusal> {
        match &self.account {
            Some(pinned) if pinned != account => Err(Refusal::new(
                StatusCode::NOT_FOUND,
                format!("unknown account {account:?}; this mock serves account {pinned:?} only"),
            )),
            _ => Ok(()),
        }
    }
}

/// The discovery routes (`/api/account/...`, `/csdr/account/...`), with their own state, for
/// any outer router state.
pub(crate) fn router<S: Clone + Send + Sync + 'static>(directory: Arc<Directory>) -> Router<S> {
    Router::new()
        .merge(csds::router())
        .merge(idp::router())
        .merge(login::router())
        .with_state(directory)
}

/// A refused request: its status and message, answered with the error body LivePerson's login
/// service documents (refresh page: `{"error": {"time", "message", "internalCode",
/// "responseStatus"}}`), which node-agent-sdk turns into an `SDKError` when it has `error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    status: StatusCode,
    message: String,
    /// LivePerson's `internalCode` where documented (10: CSRF invalid), else the status.
    internal_code: u16,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            internal_code: status.as_u16(),
        }
    }

    fn with_internal_code(mut self, code: u16) -> Self {
        self.internal_code = code;
        self
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }
}

impl Refusal {
    /// The JSON error body.
    fn body(&self) -> Value {
        let status = self
            .status
            .canonical_reason()
            .unwrap_or("ERROR")
            .to_ascii_uppercase()
            .replace([' ', '-'], "_");
        json!({"error": {
            "time": java_time(crate::model::now_ms() / 1000),
            "message": self.message,
            "internalCode": self.internal_code,
            "responseStatus": status,
        }})
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

/// The answer to a method a route does not have: 405 with `Allow` and the JSON error body.
fn wrong_method(allow: &'static str) -> impl Fn() -> std::future::Ready<Response> + Clone {
    move || {
        let mut response = Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method not allowed here; use {allow}"),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
        std::future::ready(response)
    }
}

/// The `host[:port]` the client reached this server by (its `Host` header), which every
/// discovered service names. Only host-name characters are taken, since it is echoed into
/// JSON and JavaScript.
fn reached_host(headers: &HeaderMap) -> Result<String, Refusal> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or_default();
    let valid = !host.is_empty()
        && host.len() <= 255
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:[]_".contains(c));
    if valid {
        Ok(host.to_owned())
    } else {
        Err(Refusal::bad_request(
            "a valid Host header is needed: the services are named by the host you reached",
        ))
    }
}

/// A JSON request body as an object: 400 for malformed JSON or anything but an object. An
/// empty body is an empty object when `empty_ok`.
fn json_body(bytes: &[u8], empty_ok: bool) -> Result<serde_json::Map<String, Value>, Refusal> {
    if empty_ok && bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Refusal::bad_request("the body must be a JSON object")),
        Err(err) => Err(Refusal::bad_request(format!("malformed JSON body: {err}"))),
    }
}

/// The non-empty string at `key` of a request body, or a 400 naming the field.
fn required<'a>(body: &'a serde_json::Map<String, Value>, key: &str) -> Result<&'a str, Refusal> {
    match body.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) => Err(Refusal::bad_request(format!("field {key} is empty"))),
        Some(_) => Err(Refusal::bad_request(format!(
            "field {key} must be a string"
        ))),
        None => Err(Refusal::bad_request(format!("field {key} is missing"))),
    }
}

/// Fresh random bytes from the system's secure generator.
fn random_bytes<const N: usize>() -> Result<[u8; N], Refusal> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| {
            Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the system's random generator failed",
            )
        })?;
    Ok(bytes)
}

/// Epoch seconds as Java's default `DateFormat` prints them in UTC, the `time` of LivePerson's
/// error bodies: `Sep 22, 2016 4:10:15 PM`.
fn java_time(secs: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let days = i64::try_from(secs / 86_400).unwrap_or(0) + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let in_day = secs % 86_400;
    let (hour, minute, second) = (in_day / 3600, in_day / 60 % 60, in_day % 60);
    let (hour12, half) = match hour {
        0 => (12, "AM"),
        1..=11 => (hour, "AM"),
        12 => (12, "PM"),
        _ => (hour - 12, "PM"),
    };
    let month_name = MONTHS[usize::try_from(month - 1).unwrap_or(0)];
    format!("{month_name} {day}, {year} {hour12}:{minute:02}:{second:02} {half}")
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_login_parses_and_hides_the_password() {
        let login: AgentLogin = "bot:pa:ss".parse().unwrap();
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("bot", "pa:ss")
        );
        assert!(!format!("{login:?}").contains("pa:ss"));
        assert!("bot:".parse::<AgentLogin>().is_err());
        assert!(":x".parse::<AgentLogin>().is_err());
        assert!("nocolon".parse::<AgentLogin>().is_err());
    }

    #[test]
    fn errors_have_the_login_services_shape() {
        assert_eq!(java_time(1_474_560_615), "Sep 22, 2016 4:10:15 PM");
        assert_eq!(java_time(0), "Jan 1, 1970 12:00:00 AM");
        let body = Refusal::unauthorized("no").with_internal_code(10).body();
        assert_eq!(body["error"]["message"], "no");
        assert_eq!(body["error"]["internalCode"], 10);
        assert_eq!(body["error"]["responseStatus"], "UNAUTHORIZED");
        let body = Refusal::new(StatusCode::METHOD_NOT_ALLOWED, "x").body();
        assert_eq!(body["error"]["responseStatus"], "METHOD_NOT_ALLOWED");
    }

    #[test]
    fn host_is_taken_only_when_it_is_a_host() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8443"));
        assert_eq!(reached_host(&headers).unwrap(), "127.0.0.1:8443");
        headers.insert(header::HOST, HeaderValue::from_static("a\"b"));
        assert!(reached_host(&headers).is_err());
        assert!(reached_host(&HeaderMap::new()).is_err());
    }

    #[test]
    fn bodies_are_json_objects_with_named_fields() {
        assert!(json_body(b"", true).unwrap().is_empty());
        assert!(json_body(b"", false).is_err());
        assert!(json_body(b"[1]", false).is_err());
        let body = json_body(br#"{"a":"x","b":"","c":1}"#, false).unwrap();
        assert_eq!(required(&body, "a").unwrap(), "x");
        assert_eq!(
            required(&body, "b").unwrap_err().message,
            "field b is empty"
        );
        assert_eq!(
            required(&body, "c").unwrap_err().message,
            "field c must be a string"
        );
        assert_eq!(
            required(&body, "d").unwrap_err().message,
            "field d is missing"
        );
    }
}
