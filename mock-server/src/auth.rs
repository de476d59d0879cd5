//! Consumer authentication (reference §1.2, §1.5): the `Authorization: jwt <token>` upgrade
//! header or the `InitConnection` request, and the consumer id a token stands for.
//!
//! Signatures are not verified: any well-formed token is accepted unless the configuration
//! pins one. The consumer id is the JWT's `sub` when the token is a JWT; for an opaque test
//! token such as `test` it is a UUIDv5 of the token in a wiretape namespace, so the same token
//! is always the same consumer.
//!
//! A JWT's `exp` is honoured: an expired token is refused, and a socket whose token expires
//! while it is open is closed ([`Identity::expiry_close`]). A consumer id that is a UUID is an
//! *unauthenticated identity* (what LivePerson's IdP signup issues); any other is an
//! authenticated consumer (LivePerson's are 64 hex characters).

use base64::Engine as _;
use serde_json::Value;
use uuid::Uuid;

/// Longest token accepted (reference §1.2: jwt ≤ 2048 characters).
const MAX_TOKEN_CHARS: usize = 2048;

/// Namespace of consumer ids derived from opaque tokens (a UUIDv5 of "wiretape.consumer").
const CONSUMER_NAMESPACE: Uuid = Uuid::from_u128(0x5d1c_7a2e_8f3b_5c4d_9e6f_0a1b_2c3d_4e5f);

/// Close code for an authenticated connection whose token is missing or expired (protocol
/// overview: "A fresh token is required").
pub(crate) const CLOSE_TOKEN_EXPIRED: u16 = 4401;
/// Close code for an unauthenticated identity whose validity must be extended at the IdP.
pub(crate) const CLOSE_IDENTITY_EXPIRED: u16 = 4407;

/// Who a token stands for, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    /// The consumer id: the JWT's `sub`, or a UUIDv5 of an opaque token.
    pub consumer_id: String,
    /// The JWT's `exp` (epoch seconds), when it has one.
    pub expires_at: Option<u64>,
}

impl Identity {
    /// An identity from the IdP's signup (its id is a UUID), not an authenticated consumer.
    pub(crate) fn is_unauthenticated(&self) -> bool {
        is_unauthenticated(&self.consumer_id)
    }
}

/// Whether a consumer id is an unauthenticated identity's (a UUID, as the IdP's signup
/// issues) rather than an authenticated consumer's.
pub(crate) fn is_unauthenticated(consumer_id: &str) -> bool {
    Uuid::parse_str(consumer_id).is_ok()
}

/// The close for a socket of `consumer_id` whose token has expired: 4407 and "extend it at
/// the IdP" for an unauthenticated identity, 4401 "token expired" otherwise.
pub(crate) fn expiry_close(consumer_id: &str) -> (u16, &'static str) {
    if is_unauthenticated(consumer_id) {
        (
            CLOSE_IDENTITY_EXPIRED,
            "identity expired: extend it with the IdP and reconnect",
        )
    } else {
        (
            CLOSE_TOKEN_EXPIRED,
            "token expired: reconnect with a fresh token",
        )
    }
}

/// The current time in epoch seconds.
pub(crate) fn now_secs() -> u64 {
    crate::model::now_ms() / 1000
}

/// Why a token was refused. The text never contains the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused(pub String);

/// Extracts the token from an `Authorization` header value (`jwt <token>`).
pub(crate) fn header_token(value: &str) -> Result<&str, Refused> {
    let value = value.trim();
    let (scheme, token) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("jwt") {
        return Err(Refused(
            "the Authorization header must be \"jwt <token>\"".to_owned(),
        ));
    }
    Ok(token.trim())
}

/// Checks a token (at `now`, epoch seconds) and returns who it stands for.
pub(crate) fn authenticate(
    token: &str,
    pinned: Option<&str>,
    now: u64,
) -> Result<Identity, Refused> {
    if token.is_empty() {
        return Err(Refused("the token is empty".to_owned()));
    }
    if token.chars().count() > MAX_TOKEN_CHARS {
        return Err(Refused(format!(
            "the token is longer than {MAX_TOKEN_CHARS} characters"
        )));
    }
    if !token.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Refused(
            "the token contains whitespace or non-ASCII characters".to_owned(),
        ));
    }
    if let Some(pinned) = pinned {
        if token != pinned {
            return Err(Refused(
                "the token is not the one this mock was started with".to_owned(),
            ));
        }
    }
    let claims = jwt_claims(token);
    let claim = |name: &str| claims.as_ref().and_then(|c| c.get(name));
    let expires_at = claim("exp").and_then(Value::as_u64);
    if let Some(exp) = expires_at.filter(|&exp| exp <= now) {
        return Err(Refused(format!(
            "the token expired {} s ago (exp {exp})",
            now - exp
        )));
    }
    let consumer_id = claim("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map_or_else(
            || Uuid::new_v5(&CONSUMER_NAMESPACE, token.as_bytes()).to_string(),
            str::to_owned,
        );
    Ok(Identity {
        consumer_id,
        expires_at,
    })
}

/// The claims of a JWT-shaped token (payload decoded, signature not checked).
pub(crate) fn jwt_claims(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .filter(Value::is_object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.sig",
            enc.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
            enc.encode(payload)
        )
    }

    #[test]
    fn a_jwt_stands_for_its_sub() {
        let token = jwt(r#"{"sub":"5e9ee96c-226e-44b6-ac51-b1dfe494ba10","aud":"acc:1"}"#);
        let identity = authenticate(&token, None, 0).unwrap();
        assert_eq!(identity.consumer_id, "5e9ee96c-226e-44b6-ac51-b1dfe494ba10");
        assert!(
            identity.is_unauthenticated(),
            "a UUID sub: the IdP's signup"
        );
    }

    #[test]
    fn opaque_tokens_get_a_stable_uuid() {
        let a = authenticate("test", None, 0).unwrap();
        assert_eq!(a, authenticate("test", None, 0).unwrap());
        assert_ne!(a, authenticate("other", None, 0).unwrap());
        assert!(Uuid::parse_str(&a.consumer_id).is_ok());
        assert_eq!(a.expires_at, None);
    }

    #[test]
    fn pinned_and_malformed_tokens_are_refused_without_echoing_them() {
        let err = authenticate("wrong-secret", Some("right"), 0).unwrap_err();
        assert!(!err.0.contains("wrong-secret"));
        assert!(authenticate("", None, 0).is_err());
        assert!(authenticate("a b", None, 0).is_err());
        assert_eq!(header_token("jwt abc").unwrap(), "abc");
        assert_eq!(header_token("JWT  abc ").unwrap(), "abc");
        assert!(header_token("Bearer abc").is_err());
    }

    #[test]
    fn exp_is_honoured_and_the_expiry_close_depends_on_the_identity() {
        let hex = "a".repeat(64);
        let token = jwt(&format!(r#"{{"sub":"{hex}","exp":1000}}"#));
        let identity = authenticate(&token, None, 999).unwrap();
        assert_eq!(identity.expires_at, Some(1000));
        assert!(
            !identity.is_unauthenticated(),
            "64 hex: an authenticated consumer"
        );
        let refused = authenticate(&token, None, 1030).unwrap_err();
        assert_eq!(refused.0, "the token expired 30 s ago (exp 1000)");
        assert_eq!(expiry_close(&hex).0, CLOSE_TOKEN_EXPIRED);
        let unauth = "5e9ee96c-226e-44b6-ac51-b1dfe494ba10";
        assert_eq!(expiry_close(unauth).0, CLOSE_IDENTITY_EXPIRED);
    }
}
