//! [`ClientProperties`]: what a client says about itself (device, OS, integration, features),
//! from the `Client-Properties` upgrade header, the connection URL's query parameters, or the
//! `.ams.headers.ClientProperties` header of `InitConnection`.
//!
//! Validated against `infra/clientPropertiesHeader.json` (developer-center): the enumerations
//! of `deviceFamily`, `os` and `integration`, the length caps of the text properties, strings
//! everywhere and `features` a list of strings. Feature names outside the schema's enum are
//! accepted (the PCS tutorial sends `QUICK_REPLIES` and `MULTI_DIALOG`, which the enum lacks);
//! properties the schema does not name are ignored. See `docs/protocol-decisions.md`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::validation::short;

/// The feature that lets a client take part in multi-dialog conversations (a POST_SURVEY dialog
/// after MAIN closes), PCS tutorial step 1.
pub const MULTI_DIALOG: &str = "MULTI_DIALOG";

/// The feature names `infra/clientPropertiesHeader.json` enumerates. Others are accepted too.
pub const SCHEMA_FEATURES: [&str; 6] = [
    "CO_BROWSE",
    "CO_APP",
    "PHOTO_SHARING",
    "SECURE_FORMS",
    "AUTO_MESSAGES",
    "RICH_CONTENT",
];

/// The `type` values a ClientProperties object may carry: the schema's, and the one every
/// `Client-Properties` HTTP-header sample uses (client-properties and PCS tutorials).
const TYPES: [&str; 2] = [".ams.headers.ClientProperties", ".ClientProperties"];

/// How one property is checked.
enum Check {
    /// A string of at most this many characters.
    Max(usize),
    /// One of these strings.
    OneOf(&'static [&'static str]),
    /// An IPv4 address (`format: ipv4`, at most 32 characters).
    Ipv4,
}

/// Every property the schema names, but `type` and `features`.
const PROPERTIES: [(&str, Check); 14] = [
    ("appId", Check::Max(64)),
    ("appVersion", Check::Max(32)),
    ("ipAddress", Check::Ipv4),
    (
        "deviceFamily",
        Check::OneOf(&["DESKTOP", "TABLET", "MOBILE", "OTHER"]),
    ),
    (
        "os",
        Check::OneOf(&["WINDOWS", "LINUX", "OSX", "ANDROID", "IOS", "OTHER"]),
    ),
    ("osVersion", Check::Max(64)),
    ("osName", Check::Max(64)),
    (
        "integration",
        Check::OneOf(&["WEB_SDK", "MOBILE_SDK", "BRAND_SDK"]),
    ),
    ("integrationVersion", Check::Max(64)),
    ("browser", Check::Max(64)),
    ("browserVersion", Check::Max(64)),
    ("timeZone", Check::Max(64)),
    ("deviceManufacture", Check::Max(64)),
    ("deviceModel", Check::Max(64)),
];

/// A client's properties, as validated. Serializes as the header's JSON object (without
/// `type`): `{"deviceFamily":"MOBILE","os":"ANDROID","features":["MULTI_DIALOG"]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientProperties {
    /// The text properties by their wire name (`deviceFamily`, `os`, `appId`, ...).
    #[serde(flatten)]
    pub properties: BTreeMap<String, String>,
    /// The features, in the order first given, without repeats.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

/// Why client properties were refused: the field, its value and a sentence naming both.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Invalid {
    pub field: String,
    pub value: Value,
    pub message: String,
}

impl Invalid {
    fn new(field: &str, value: &Value, message: String) -> Self {
        Self {
            field: field.to_owned(),
            value: value.clone(),
            message,
        }
    }
}

impl ClientProperties {
    /// Whether the client announced `feature` (e.g. [`MULTI_DIALOG`]).
    pub fn has_feature(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }

    /// A property by its wire name, e.g. `deviceFamily`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.properties.get(name).map(String::as_str)
    }

    /// Validates a ClientProperties JSON object (header or InitConnection form).
    pub(crate) fn from_json(value: &Value) -> Result<Self, Invalid> {
        let Value::Object(object) = value else {
            return Err(Invalid::new(
                "clientProperties",
                value,
                format!(
                    "client properties must be a JSON object, got {}",
                    short(value)
                ),
            ));
        };
        if let Some(kind) = object.get("type") {
            if !kind.as_str().is_some_and(|k| TYPES.contains(&k)) {
                return Err(Invalid::new(
                    "type",
                    kind,
                    format!(
                        "client properties type {} is not {}",
                        short(kind),
                        TYPES.join(" or ")
                    ),
                ));
            }
        }
        let mut out = Self::default();
        for (name, check) in &PROPERTIES {
            if let Some(value) = object.get(*name) {
                out.properties
                    .insert((*name).to_owned(), checked(name, check, value)?);
            }
        }
        out.add_features(object)?;
        Ok(out)
    }

    /// The `.ams.headers.ClientProperties` entries of an `InitConnection`'s `headers` (a list,
    /// or one bare object), combined; `None` when there is none. Entries of other types are
    /// not looked at.
    pub(crate) fn from_init_headers(headers: Option<&Value>) -> Result<Option<Self>, Invalid> {
        let items: Vec<&Value> = match headers {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(item @ Value::Object(_)) => vec![item],
            _ => return Ok(None),
        };
        let mut found = None::<Self>;
        for item in items {
            let kind = item.get("type").and_then(Value::as_str).unwrap_or("");
            if kind.ends_with("ClientProperties") {
                let properties = Self::from_json(item)?;
                found.get_or_insert_with(Self::default).merge(properties);
            }
        }
        Ok(found)
    }

    /// Validates the value of a `Client-Properties` upgrade header (JSON text).
    pub(crate) fn from_header(text: &str) -> Result<Self, Invalid> {
        let value: Value = serde_json::from_str(text).map_err(|err| {
            let value = Value::String(text.to_owned());
            Invalid::new(
                "Client-Properties",
                &value,
                format!("the Client-Properties header is not JSON ({err})"),
            )
        })?;
        Self::from_json(&value)
    }

    /// The properties in a connection URL's query (`pairs`, already percent-decoded), or
    /// `None` when it names none. Two forms, combined: the whole JSON object in
    /// `clientProperties=`, and one parameter per property (`deviceFamily=MOBILE`), with
    /// `features` comma-separated and/or repeated. Other parameters (`v`) are not properties.
    pub(crate) fn from_query(pairs: &[(String, String)]) -> Result<Option<Self>, Invalid> {
        let mut object = Map::new();
        let mut found = None::<Self>;
        for (key, value) in pairs {
            if key == "clientProperties" {
                let parsed = Self::from_header(value).map_err(|mut invalid| {
                    invalid.field = match invalid.field.as_str() {
                        "Client-Properties" => key.clone(),
                        field => format!("{key}.{field}"),
                    };
                    invalid
                })?;
                found.get_or_insert_with(Self::default).merge(parsed);
            } else if key == "features" {
                let features = object
                    .entry("features")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(list) = features {
                    list.extend(
                        value
                            .split(',')
                            .map(str::trim)
                            .filter(|f| !f.is_empty())
                            .map(|f| Value::String(f.to_owned())),
                    );
                }
            } else if PROPERTIES.iter().any(|(name, _)| name == key) {
                object.insert(key.clone(), Value::String(value.clone()));
            }
        }
        if !object.is_empty() {
            let params = Self::from_json(&Value::Object(object))?;
            found.get_or_insert_with(Self::default).merge(params);
        }
        Ok(found)
    }

    /// Adds `later`: its properties replace these, its features join the list.
    pub(crate) fn merge(&mut self, later: Self) {
        self.properties.extend(later.properties);
        for feature in later.features {
            if !self.has_feature(&feature) {
                self.features.push(feature);
            }
        }
    }

    fn add_features(&mut self, object: &Map<String, Value>) -> Result<(), Invalid> {
        let Some(features) = object.get("features") else {
            return Ok(());
        };
        let Value::Array(items) = features else {
            return Err(Invalid::new(
                "features",
                features,
                format!(
                    "features must be a list of strings, got {}",
                    short(features)
                ),
            ));
        };
        for (i, item) in items.iter().enumerate() {
            let Some(feature) = item.as_str() else {
                return Err(Invalid::new(
                    &format!("features[{i}]"),
                    item,
                    format!("feature {} is not a string", short(item)),
                ));
            };
            if !self.has_feature(feature) {
                self.features.push(feature.to_owned());
            }
        }
        Ok(())
    }
}

/// The value of property `name` if it passes `check`.
fn checked(name: &str, check: &Check, value: &Value) -> Result<String, Invalid> {
    let Some(text) = value.as_str() else {
        return Err(Invalid::new(
            name,
            value,
            format!("{name} must be a string, got {}", short(value)),
        ));
    };
    let fails = match check {
        Check::Max(max) => {
            (text.chars().count() > *max).then(|| format!("{name} is longer than {max} characters"))
        }
        Check::OneOf(allowed) => (!allowed.contains(&text)).then(|| {
            format!(
                "{name} {} is not one of {}",
                short(value),
                allowed.join(", ")
            )
        }),
        Check::Ipv4 => (!text.is_empty() && text.parse::<Ipv4Addr>().is_err())
            .then(|| format!("ipAddress {} is not an IPv4 address", short(value))),
    };
    match fails {
        Some(message) => Err(Invalid::new(name, value, message)),
        None => Ok(text.to_owned()),
    }
}

#[cfg(test)]
mod tests;
