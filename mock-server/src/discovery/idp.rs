//! The consumer IdP: `signup` issues an unauthenticated identity (its `sub` a fresh UUID), and
//! `authenticate` exchanges an external JWT (the brand's own, from its login) for an
//! authenticated consumer's (its `sub` 64 hex characters, the same for the same external
//! identity). The consumer socket takes both and sees who they are by `sub` (`auth`).
//!
//! - `POST /api/account/{account}/signup` → `{"jwt": ...}`.
//! - `POST /api/account/{account}/authenticate` with `{"authCode": JWT}` (or `{"id_token"}`)
//!   → `{"jwt": ...}`; `POST /api/account/{account}/app/{app}/authenticate` (the
//!   unauthenticated-messaging page's path) answers `{"token": ...}`.
//!
//! The JWTs have LivePerson's shape (header `kid`, `typ`, `alg` RS256; claims `sub`, `aud`
//! `acc:{account}`, `iss`, `iat`, `exp`) but are not signed: their signature is random bytes
//! of an RSA-2048 signature's length. Nothing that consumes them verifies them (the consumer
//! socket checks only shape and `exp`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Value};

use super::{hex, json_body, random_bytes, reached_host, wrong_method, Directory, Refusal};

/// The `kid` of every issued JWT's header.
const KEY_ID: &str = "wiretape-mock";

pub(super) fn router() -> Router<Arc<Directory>> {
    Router::new()
        .route(
            "/api/account/{account}/signup",
            post(signup).fallback(wrong_method("POST")),
        )
        .route(
            "/api/account/{account}/authenticate",
            post(authenticate).fallback(wrong_method("POST")),
        )
        .route(
            "/api/account/{account}/app/{app}/authenticate",
            post(app_authenticate).fallback(wrong_method("POST")),
        )
}

async fn signup(
    State(directory): State<Arc<Directory>>,
    Path(account): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    directory.serves(&account)?;
    let issuer = issuer(&headers)?;
    let sub = uuid::Uuid::new_v4().to_string();
    let jwt = mint(&directory, &account, &issuer, &sub)?;
    tracing::debug!(%account, %sub, "IdP signup: unauthenticated identity issued");
    Ok(axum::Json(json!({ "jwt": jwt })).into_response())
}

async fn authenticate(
    State(directory): State<Arc<Directory>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refusal> {
    let jwt = exchange(&directory, &account, &headers, &body)?;
    Ok(axum::Json(json!({ "jwt": jwt })).into_response())
}

async fn app_authenticate(
    State(directory): State<Arc<Directory>>,
    Path((account, _app)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refusal> {
    let jwt = exchange(&directory, &account, &headers, &body)?;
    Ok(axum::Json(json!({ "token": jwt })).into_response())
}

/// Checks the external JWT of an authenticate body and mints the consumer's.
fn exchange(
    directory: &Directory,
    account: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, Refusal> {
    directory.serves(account)?;
    let issuer = issuer(headers)?;
    let body = json_body(body, false)?;
    let (field, external) = ["authCode", "id_token"]
        .iter()
        .find_map(|k| body.get(*k).map(|v| (*k, v)))
        .ok_or_else(|| Refusal::bad_request("field authCode is missing"))?;
    let external = external
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Refusal::bad_request(format!("field {field} must be a non-empty string")))?;
    let sub = consumer_id(external, crate::auth::now_secs()).map_err(|why| {
        Refusal::unauthorized(format!("field {field} is not a usable external JWT: {why}"))
    })?;
    let jwt = mint(directory, account, &issuer, &sub)?;
    tracing::debug!(%account, %sub, "IdP authenticate: authenticated consumer issued");
    Ok(jwt)
}

/// The authenticated consumer id of an external JWT (at `now`, epoch seconds): 64 hex
/// characters of SHA-256 over its `iss` and `sub`, so the same external identity is always
/// the same consumer, and different issuers never collide.
fn consumer_id(external: &str, now: u64) -> Result<String, &'static str> {
    let claims = crate::auth::jwt_claims(external).ok_or("it is not a JWT with a JSON payload")?;
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("it has no sub")?;
    if claims
        .get("exp")
        .and_then(Value::as_u64)
        .is_some_and(|exp| exp <= now)
    {
        return Err("it has expired");
    }
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let digest = ring::digest::digest(&ring::digest::SHA256, format!("{iss}\n{sub}").as_bytes());
    Ok(hex(digest.as_ref()))
}

/// The `iss` of issued JWTs: the IdP as the client reached it (CSDS's `idp`).
fn issuer(headers: &HeaderMap) -> Result<String, Refusal> {
    Ok(format!("https://{}", reached_host(headers)?))
}

/// A JWT for consumer `sub` on `account`, valid for the configured time from now.
fn mint(directory: &Directory, account: &str, issuer: &str, sub: &str) -> Result<String, Refusal> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let iat = crate::auth::now_secs();
    let exp = iat.saturating_add(directory.settings.token_validity.as_secs());
    let header = json!({"kid": KEY_ID, "typ": "JWT", "alg": "RS256"});
    let claims = json!({
        "sub": sub,
        "aud": format!("acc:{account}"),
        "iss": issuer,
        "exp": exp,
        "iat": iat,
    });
    let signature = random_bytes::<256>()?;
    Ok(format!(
        "{}.{}.{}",
        b64.encode(header.to_string()),
        b64.encode(claims.to_string()),
        b64.encode(signature)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn external(claims: &Value) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.sig",
            b64.encode(r#"{"alg":"RS256"}"#),
            b64.encode(claims.to_string())
        )
    }

    #[test]
    fn the_consumer_id_is_stable_per_issuer_and_sub() {
        let a = consumer_id(&external(&json!({"iss":"brand","sub":"u1"})), 0).unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        let again = consumer_id(&external(&json!({"iss":"brand","sub":"u1","x":1})), 0).unwrap();
        assert_eq!(a, again);
        assert_ne!(
            a,
            consumer_id(&external(&json!({"iss":"other","sub":"u1"})), 0).unwrap()
        );
        assert!(!crate::auth::is_unauthenticated(&a));
    }

    #[test]
    fn unusable_external_tokens_say_why() {
        assert_eq!(
            consumer_id("opaque", 0),
            Err("it is not a JWT with a JSON payload")
        );
        assert_eq!(
            consumer_id(&external(&json!({"iss":"b"})), 0),
            Err("it has no sub")
        );
        let expired = external(&json!({"sub":"u","exp":10}));
        assert_eq!(consumer_id(&expired, 10), Err("it has expired"));
    }
}
