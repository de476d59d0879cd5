//! The Agent Workspace: a page at `/` where a person plays the agent of the tutorial (accept a
//! ring, type, watch the consumer's receipts turn the "V"s orange, read the verdicts).
//!
//! The page is one more agent client: its JavaScript (`app.js`; `view.js` draws) asks CSDS for
//! the hosts, logs in at agentVep, opens the agent socket with the bearer in the path, and
//! speaks the agent API as node-agent-sdk does (`docs/workspace.md`). The server only serves
//! four embedded files,
//! under the control API's access rule ([`Allowed`]: loopback peers unless
//! `--open-control-api`), with headers that keep everything on this origin and out of
//! referrers: a self-only Content-Security-Policy and `Referrer-Policy: no-referrer`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::config::DEFAULT_ACCOUNT;
use crate::control::Allowed;
use crate::hub::Hub;

const INDEX: &str = include_str!("index.html");

/// The page's other files, served at `/workspace/{name}`: name, content type, text.
const FILES: [(&str, &str, &str); 3] = [
    ("app.js", JAVASCRIPT, include_str!("app.js")),
    ("view.js", JAVASCRIPT, include_str!("view.js")),
    (
        "workspace.css",
        "text/css; charset=utf-8",
        include_str!("workspace.css"),
    ),
];
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// Only this origin's scripts, styles and sockets; nothing inline, no frames, no forms posted
/// elsewhere. `connect-src 'self'` covers the same origin's `ws:`/`wss:` (CSP level 3).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// The page's routes, for the live (not replaying) router.
pub(crate) fn router() -> Router<Arc<Hub>> {
    Router::new()
        .route("/", get(index))
        .route("/workspace/{name}", get(file))
}

async fn index(_: Allowed, State(hub): State<Arc<Hub>>) -> Response {
    let pinned = hub.settings.account.as_deref();
    let account = escape(pinned.unwrap_or(DEFAULT_ACCOUNT));
    let html = INDEX
        .replace("{{ACCOUNT}}", &account)
        .replace("{{PINNED}}", if pinned.is_some() { "yes" } else { "no" });
    asset("text/html; charset=utf-8", html)
}

async fn file(_: Allowed, Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(file, _, _)| *file == name) {
        Some((_, content_type, text)) => asset(content_type, (*text).to_owned()),
        None => (
            axum::http::StatusCode::NOT_FOUND,
            format!("no file {name} in the agent workspace"),
        )
            .into_response(),
    }
}

/// A page file with the headers every one of them carries.
fn asset(content_type: &'static str, body: String) -> Response {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ];
    (headers, body).into_response()
}

/// `s` safe inside an HTML attribute value.
fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_its_files_and_the_account_is_escaped() {
        assert!(INDEX.contains("/workspace/app.js") && INDEX.contains("/workspace/workspace.css"));
        let app = FILES[0].2;
        assert!(app.contains("from './view.js'"));
        assert!(INDEX.contains("{{ACCOUNT}}") && INDEX.contains("{{PINNED}}"));
        assert_eq!(escape(r#"a"<b>&'"#), "a&quot;&lt;b&gt;&amp;&#39;");
        // Nothing inline that the policy would block, nothing from elsewhere, no storage.
        for text in std::iter::once(INDEX).chain(FILES.iter().map(|f| f.2)) {
            assert!(!text.contains("http://") && !text.contains("https://"));
            assert!(!text.contains("localStorage") && !text.contains("sessionStorage"));
        }
        assert!(!INDEX.contains("<script>") && !INDEX.contains("style="));
    }
}
