//! Consumer authentication (reference §1.2, §1.5): the `Authorization: jwt <token>` upgrade
//! header or the `InitConnection` request, and the consumer id a token stands for.
//!
//! Signatures are not verified: any well-formed token is accepted unless the configuration
//! pins one. The consumer id is the JWT's `sub` when the token is a JWT; for an opaque test
//! token such as `test` it is a UUIDv5 of the token in a wiretape namespace, so the same token
//! is always the same consumer.

use base64::Engine as _;
use serde_json::Value;
use uuid::Uuid;

/// Longest token accepted (reference §1.2: jwt ≤ 2048 characters).
const MAX_TOKEN_CHARS: usize = 2048;

/// Namespace of consumer ids derived from opaque tokens (a UUIDv5 of "wiretape.consumer").
const CONSUMER_NAMESPACE: Uuid = Uuid::from_u128(0x5d1c_7a2e_8f3b_5c4d_9e6f_0a1b_2c3d_4e5f);

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

/// Checks a token and returns the consumer id it stands for.
pub(crate) fn authenticate(token: &str, pinned: Option<&str>) -> Result<String, Refused> {
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
    Ok(consumer_id(token))
}

/// The JWT's `sub`, or a UUIDv5 of an opaque token.
pub(crate) fn consumer_id(token: &str) -> String {
    jwt_sub(token)
        .unwrap_or_else(|| Uuid::new_v5(&CONSUMER_NAMESPACE, token.as_bytes()).to_string())
}

/// The `sub` claim of a JWT-shaped token (payload decoded, signature not checked).
fn jwt_sub(token: &str) -> Option<String> {
    let mut parts = token.split('.');
    let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
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
        assert_eq!(
            authenticate(&token, None).unwrap(),
            "5e9ee96c-226e-44b6-ac51-b1dfe494ba10"
        );
    }

    #[test]
    fn opaque_tokens_get_a_stable_uuid() {
        let a = authenticate("test", None).unwrap();
        assert_eq!(a, authenticate("test", None).unwrap());
        assert_ne!(a, authenticate("other", None).unwrap());
        assert!(Uuid::parse_str(&a).is_ok());
    }

    #[test]
    fn pinned_and_malformed_tokens_are_refused_without_echoing_them() {
        let err = authenticate("wrong-secret", Some("right")).unwrap_err();
        assert!(!err.0.contains("wrong-secret"));
        assert!(authenticate("", None).is_err());
        assert!(authenticate("a b", None).is_err());
        assert_eq!(header_token("jwt abc").unwrap(), "abc");
        assert_eq!(header_token("JWT  abc ").unwrap(), "abc");
        assert!(header_token("Bearer abc").is_err());
    }
}
