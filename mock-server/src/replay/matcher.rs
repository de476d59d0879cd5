//! Whether a client frame is the recorded one: what may differ between runs never counts.
//!
//! Ignored in both modes: the value of the request `id` (it must be there), UUIDs (a client
//! mints its own), values of timestamp keys, and values the recording redacted (`<redacted>`,
//! `<redacted:jwt>`: any value matches). [`MatchMode::Strict`] compares everything else
//! exactly; [`MatchMode::Loose`] only `kind`, `type` and the key set of `body`.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value;
use wiretape_fixtures::cassette::{Frame, Kind};
use wiretape_fixtures::redact::{looks_like_jwt, JWT_MARK, MARK};
use wiretape_fixtures::transcript::{is_uuid, TIMESTAMP_KEYS};

use super::MatchMode;

/// Where a client frame differs from the recorded one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mismatch {
    /// Path of the first difference (`body.event.status`), empty for the whole frame.
    pub at: String,
    /// What the recording has there.
    pub expected: String,
    /// What the client sent there.
    pub actual: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.is_empty() {
            write!(f, "expected {}, got {}", self.expected, self.actual)
        } else {
            write!(
                f,
                "at {}: expected {}, got {}",
                self.at, self.expected, self.actual
            )
        }
    }
}

/// The handshake as matched against cassettes: the path, and the query with volatile values
/// (UUIDs, long numbers, tokens) replaced by `*`, its parameters sorted.
pub(crate) fn handshake_key(path_and_query: &str) -> String {
    // Credentials never count: a recording has them redacted, the client sends real ones.
    let path_and_query = &*wiretape_fixtures::redact::redact_url(path_and_query);
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut params: Vec<String> = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if volatile(v) => format!("{k}=*"),
            _ => kv.to_owned(),
        })
        .collect();
    params.sort();
    format!("{path}?{}", params.join("&"))
}

fn volatile(value: &str) -> bool {
    is_uuid(value)
        || looks_like_jwt(value)
        || (value.len() >= 10 && value.bytes().all(|b| b.is_ascii_digit()))
        || value.len() > 32
}

/// Compares a client message with the recorded frame.
pub(crate) fn compare(
    expected: &Frame,
    kind: Kind,
    payload: &[u8],
    mode: MatchMode,
) -> Result<(), Mismatch> {
    if expected.kind != kind {
        return Err(Mismatch {
            at: String::new(),
            expected: format!("a {:?} frame", expected.kind).to_lowercase(),
            actual: format!("a {kind:?} frame").to_lowercase(),
        });
    }
    let recorded = expected.payload_bytes().unwrap_or_default();
    match (&expected.json, kind) {
        (Some(exp), Kind::Text) => {
            let Ok(actual) = serde_json::from_slice::<Value>(payload) else {
                return Err(Mismatch {
                    at: String::new(),
                    expected: "JSON".into(),
                    actual: show_bytes(payload),
                });
            };
            match mode {
                MatchMode::Strict => same(exp, &actual, &mut String::new(), None, true),
                MatchMode::Loose => loose(exp, &actual),
            }
        }
        _ if mode == MatchMode::Loose || recorded == payload => Ok(()),
        _ => Err(Mismatch {
            at: String::new(),
            expected: show_bytes(&recorded),
            actual: show_bytes(payload),
        }),
    }
}

fn show_bytes(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => short(&Value::String(text.to_owned())),
        Err(_) => format!("{} bytes of binary", bytes.len()),
    }
}

/// A compact rendering, cut to keep messages readable (longer than the validator's: a
/// replay diff needs context).
pub(crate) fn short(value: &Value) -> String {
    crate::validation::clip(&value.to_string(), 200)
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn differ(path: &str, expected: &Value, actual: &Value) -> Mismatch {
    Mismatch {
        at: path.to_owned(),
        expected: short(expected),
        actual: short(actual),
    }
}

fn same(
    expected: &Value,
    actual: &Value,
    path: &mut String,
    key: Option<&str>,
    top: bool,
) -> Result<(), Mismatch> {
    if key.is_some_and(|k| TIMESTAMP_KEYS.contains(&k)) {
        return Ok(());
    }
    match (expected, actual) {
        (Value::Object(exp), Value::Object(act)) => {
            let keys: BTreeSet<&String> = exp.keys().chain(act.keys()).collect();
            for k in keys {
                let at = child(path, k);
                match (exp.get(k), act.get(k)) {
                    (Some(_), Some(_)) if top && (k == "id" || k == "reqId") => {}
                    (Some(e), Some(a)) => {
                        let mut at = at;
                        same(e, a, &mut at, Some(k), false)?;
                    }
                    (Some(e), None) => {
                        return Err(differ(&at, e, &Value::String("nothing".into())))
                    }
                    (None, Some(a)) => {
                        return Err(differ(&at, &Value::String("nothing".into()), a))
                    }
                    (None, None) => {}
                }
            }
            Ok(())
        }
        (Value::Array(exp), Value::Array(act)) => {
            if exp.len() != act.len() {
                return Err(differ(path, expected, actual));
            }
            for (i, (e, a)) in exp.iter().zip(act).enumerate() {
                let mut at = format!("{path}[{i}]");
                same(e, a, &mut at, None, false)?;
            }
            Ok(())
        }
        (Value::String(e), Value::String(a)) => {
            let redacted = e == MARK || e == JWT_MARK || e.contains(JWT_MARK);
            if e == a
                || redacted
                || (is_uuid(e) && is_uuid(a))
                || (looks_like_jwt(e) && looks_like_jwt(a))
            {
                Ok(())
            } else {
                Err(differ(path, expected, actual))
            }
        }
        (Value::String(e), _) if e == MARK => Ok(()),
        _ if expected == actual => Ok(()),
        _ => Err(differ(path, expected, actual)),
    }
}

fn loose(expected: &Value, actual: &Value) -> Result<(), Mismatch> {
    for key in ["kind", "type"] {
        if expected.get(key) != actual.get(key) {
            return Err(differ(
                key,
                expected.get(key).unwrap_or(&Value::Null),
                actual.get(key).unwrap_or(&Value::Null),
            ));
        }
    }
    let keys = |v: &Value| -> BTreeSet<String> {
        v.get("body")
            .and_then(Value::as_object)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    let (e, a) = (keys(expected), keys(actual));
    if e != a {
        return Err(Mismatch {
            at: "body".into(),
            expected: format!("keys {:?}", e),
            actual: format!("keys {:?}", a),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiretape_fixtures::cassette::Sender;

    fn recorded(text: &str) -> Frame {
        Frame::from_payload(0, Sender::Client, Kind::Text, text.as_bytes())
    }

    fn check(exp: &str, act: &str, mode: MatchMode) -> Result<(), Mismatch> {
        compare(&recorded(exp), Kind::Text, act.as_bytes(), mode)
    }

    #[test]
    fn ids_uuids_timestamps_and_redacted_values_never_count() {
        let exp = r#"{"kind":"req","id":1,"type":"ms.PublishEvent","body":{"dialogId":"7507be78-60ef-4468-b3b1-baa47fbeea21","ts":{"serverTimestamp":1},"jwt":"<redacted>","event":{"type":"AcceptStatusEvent","status":"READ","sequenceList":[3]}}}"#;
        let act = r#"{"kind":"req","id":"abc","type":"ms.PublishEvent","body":{"dialogId":"11111111-2222-4333-8444-555555555555","ts":{"serverTimestamp":99},"jwt":"secret","event":{"type" : "AcceptStatusEvent","status":"READ","sequenceList":[3]}}}"#;
        assert_eq!(check(exp, act, MatchMode::Strict), Ok(()));
    }

    #[test]
    fn a_different_status_or_sequence_is_named_by_path() {
        let exp = r#"{"kind":"req","id":2,"type":"ms.PublishEvent","body":{"event":{"status":"READ","sequenceList":[3]}}}"#;
        let err = check(exp, &exp.replace("READ", "ACCEPT"), MatchMode::Strict).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"at body.event.status: expected "READ", got "ACCEPT""#
        );
        let err = check(exp, &exp.replace("[3]", "[4]"), MatchMode::Strict).unwrap_err();
        assert_eq!(err.at, "body.event.sequenceList[0]");
        let err = check(exp, r#"{"kind":"req","type":"ms.PublishEvent","body":{"event":{"status":"READ","sequenceList":[3]}}}"#, MatchMode::Strict).unwrap_err();
        assert_eq!(err.at, "id");
    }

    #[test]
    fn loose_mode_compares_kind_type_and_body_keys_only() {
        let exp = r#"{"kind":"req","id":2,"type":"ms.PublishEvent","body":{"dialogId":"d","event":{"message":"hi"}}}"#;
        let other_text = exp.replace("hi", "hello");
        assert_eq!(check(exp, &other_text, MatchMode::Loose), Ok(()));
        assert!(check(exp, &other_text, MatchMode::Strict).is_err());
        let err = check(exp, &exp.replace("dialogId", "dialog"), MatchMode::Loose).unwrap_err();
        assert_eq!(err.at, "body");
    }

    #[test]
    fn handshakes_match_without_volatile_query_values() {
        assert_eq!(
            handshake_key("/ws_api/account/1/messaging/consumer?v=3&token=7507be78-60ef-4468-b3b1-baa47fbeea21"),
            handshake_key("/ws_api/account/1/messaging/consumer?token=11111111-2222-4333-8444-555555555555&v=3")
        );
        assert_ne!(
            handshake_key("/ws_api/account/1/messaging/consumer?v=3"),
            handshake_key("/ws_api/account/2/messaging/consumer?v=3")
        );
        assert_eq!(
            handshake_key("/ws_api/account/1/messaging/brand/<redacted>?v=2.1"),
            handshake_key(&format!(
                "/ws_api/account/1/messaging/brand/{}?v=2.1",
                concat!("fake", "-", "bearer")
            )),
            "a token in the path never counts"
        );
    }
}
