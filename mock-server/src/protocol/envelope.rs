//! The request envelope: `{"kind":"req","id":…,"type":…,"body":…,"headers":…,"metadata":…}`.
//!
//! As `infra/req.json` has it, only `type` and `id` are required, `kind` defaults to `"req"`
//! and `id` to `"0"`: the reference's own InitConnection sample has neither `kind` nor `id`,
//! and its CSAT, TTR, metadata and publish samples have no `kind`.

use std::fmt;

use serde_json::{Map, Value};

use super::Rejection;
use crate::validation::{short, Finding, Rule};

/// Longest request id accepted (reference §2: 1–64 characters).
const MAX_ID_CHARS: usize = 64;

/// The id of a request that has none: the schema's default (`infra/req.json`).
pub(crate) const DEFAULT_ID: &str = "0";

/// A request id as answered in `reqId`: always a string, whether the client sent `1` or `"1"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReqId(pub String);

impl fmt::Display for ReqId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A well-formed request envelope.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Envelope {
    pub id: ReqId,
    pub req_type: String,
    /// `body`; `None` when absent or `null`.
    pub body: Option<Value>,
    /// Top-level `headers[]` (InitConnection).
    pub headers: Option<Value>,
    /// Top-level `metadata` (ACTION receipts).
    pub metadata: Option<Value>,
}

/// The parts of a rejected frame that could still be read, so the error response can carry
/// the client's id and the record can name the type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Unparsed {
    pub id: Option<ReqId>,
    pub req_type: Option<String>,
    pub rejection: Rejection,
}

impl Envelope {
    /// Parses a text frame.
    pub(crate) fn parse(text: &str) -> Result<Self, Box<Unparsed>> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            let start = Value::String(excerpt(text));
            unparsed(
                None,
                None,
                Rejection::from(Finding::violation(
                    Rule::Frame,
                    "frame",
                    start.clone(),
                    format!("frame {} is not JSON ({e})", short(&start)),
                )),
            )
        })?;
        let Value::Object(map) = value else {
            return Err(unparsed(
                None,
                None,
                Rejection::from(Finding::violation(
                    Rule::Frame,
                    "frame",
                    value.clone(),
                    format!(
                        "frame must be a JSON object, got {} {}",
                        json_kind(&value),
                        short(&value)
                    ),
                )),
            ));
        };
        Self::from_map(map)
    }

    fn from_map(mut map: Map<String, Value>) -> Result<Self, Box<Unparsed>> {
        // Read what can be read first, so that every later error can still echo the id.
        let id = map.get("id").map(parse_id);
        let good_id = match &id {
            Some(Ok(id)) => Some(id.clone()),
            _ => None,
        };
        let req_type = match map.get("type") {
            Some(Value::String(t)) if !t.is_empty() => Some(t.clone()),
            _ => None,
        };
        let fail = |rejection| unparsed(good_id.clone(), req_type.clone(), rejection);

        // `kind` is optional (default "req"); present, it must say so.
        match map.get("kind") {
            None => {}
            Some(Value::String(kind)) if kind == "req" => {}
            Some(other) => {
                return Err(fail(Rejection::from(Finding::violation(
                    Rule::Envelope,
                    "kind",
                    other.clone(),
                    format!("kind must be \"req\", got {}", short(other)),
                ))))
            }
        }
        let id = match id {
            Some(Ok(id)) => id,
            Some(Err(rejection)) => return Err(fail(rejection)),
            None => ReqId(DEFAULT_ID.to_owned()),
        };
        let Some(req_type) = req_type.clone() else {
            let value = map.get("type").cloned().unwrap_or(Value::Null);
            let message = if value.is_null() {
                "type is missing".to_owned()
            } else {
                format!("type must be a non-empty string, got {}", short(&value))
            };
            return Err(fail(Rejection::from(Finding::violation(
                Rule::Envelope,
                "type",
                value,
                message,
            ))));
        };
        let body = map.remove("body").filter(|b| !b.is_null());
        Ok(Self {
            id,
            req_type,
            body,
            headers: map.remove("headers"),
            metadata: map.remove("metadata").filter(|m| !m.is_null()),
        })
    }
}

fn unparsed(id: Option<ReqId>, req_type: Option<String>, rejection: Rejection) -> Box<Unparsed> {
    Box::new(Unparsed {
        id,
        req_type,
        rejection,
    })
}

/// Accepts a non-empty string of at most 64 characters, or an integer; answers as a string.
fn parse_id(value: &Value) -> Result<ReqId, Rejection> {
    match value {
        Value::String(s) if !s.is_empty() && s.chars().count() <= MAX_ID_CHARS => {
            Ok(ReqId(s.clone()))
        }
        Value::String(s) => Err(Rejection::from(Finding::violation(
            Rule::Envelope,
            "id",
            value.clone(),
            format!(
                "id must be 1 to {MAX_ID_CHARS} characters, got {} characters",
                s.chars().count()
            ),
        ))),
        Value::Number(n) if n.is_u64() || n.is_i64() => Ok(ReqId(n.to_string())),
        other => Err(Rejection::from(Finding::violation(
            Rule::Envelope,
            "id",
            other.clone(),
            format!(
                "id must be a string or an integer, got {} {}",
                json_kind(other),
                short(other)
            ),
        ))),
    }
}

/// "an array", "a number", ... for messages.
pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The start of a frame, for records (secrets redacted before the cut).
fn excerpt(text: &str) -> String {
    crate::validation::clip(text, 80)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(text: &str) -> Box<Unparsed> {
        Envelope::parse(text).expect_err(text)
    }

    #[test]
    fn numeric_and_string_ids_are_answered_as_strings() {
        let env = Envelope::parse(r#"{"kind":"req","id":1,"type":"GetClock"}"#).unwrap();
        assert_eq!(env.id, ReqId("1".into()));
        let env = Envelope::parse(r#"{"kind":"req","id":"1,","type":"GetClock"}"#).unwrap();
        assert_eq!(env.id, ReqId("1,".into()));
        assert_eq!(env.body, None);
    }

    #[test]
    fn every_envelope_error_names_the_field() {
        for (text, field, has_id) in [
            ("not json", "frame", false),
            ("[1,2]", "frame", false),
            (
                r#"{"kind":"notification","id":1,"type":"GetClock"}"#,
                "kind",
                true,
            ),
            (r#"{"kind":"req","id":true,"type":"GetClock"}"#, "id", false),
            (r#"{"kind":"req","id":1.5,"type":"GetClock"}"#, "id", false),
            (r#"{"kind":"req","id":"","type":"GetClock"}"#, "id", false),
            (r#"{"kind":"req","id":1}"#, "type", true),
            (r#"{"kind":"req","id":1,"type":7}"#, "type", true),
        ] {
            let err = rejected(text);
            assert_eq!(err.rejection.finding.field, field, "{text}");
            assert_eq!(err.rejection.code, 400);
            assert_eq!(err.id.is_some(), has_id, "{text}");
        }
    }

    #[test]
    fn kind_and_id_take_the_schema_defaults() {
        // The reference's InitConnection sample, verbatim: neither `kind` nor `id`.
        let env = Envelope::parse(r#"{"type": "InitConnection","headers":[]}"#).unwrap();
        assert_eq!(env.id, ReqId(DEFAULT_ID.into()));
        assert_eq!(env.req_type, "InitConnection");
        let env = Envelope::parse(r#"{"id":"7","type":"GetClock"}"#).unwrap();
        assert_eq!(env.id, ReqId("7".into()));
    }

    #[test]
    fn long_ids_are_refused() {
        let long = "x".repeat(65);
        let err = rejected(&format!(
            r#"{{"kind":"req","id":"{long}","type":"GetClock"}}"#
        ));
        assert!(err.rejection.finding.message.contains("65 characters"));
    }
}
