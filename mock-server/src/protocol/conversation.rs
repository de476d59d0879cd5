//! Bodies of the conversation requests: `cm.UpdateConversationField` changes (object or
//! array, reference §3.5) and the `cqm.SubscribeExConversations` filter (§3.4; `stage` from
//! the PCS tutorial).

use serde_json::Value;

use super::request::{bad, object};
use super::Rejection;
use crate::validation::short;

const TTR_TYPES: [&str; 4] = ["CUSTOM", "NORMAL", "PRIORITIZED", "URGENT"];
const CSAT_STATUSES: [&str; 3] = ["FILLED", "PARTIALLY_FILLED", "SKIPPED"];

/// The `closedCause` a consumer's close gets when it names none (PCS tutorial: "Use `Closed by
/// consumer` when closing the conversation from the consumer side").
pub(crate) const CLOSED_BY_CONSUMER: &str = "Closed by consumer";

/// Which of `OPEN` and `CLOSE` a filter list (`convState`, `stage`) lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct States {
    pub open: bool,
    pub closed: bool,
}

impl States {
    const BOTH: Self = Self {
        open: true,
        closed: true,
    };

    fn admits(self, open: bool) -> bool {
        if open {
            self.open
        } else {
            self.closed
        }
    }
}

/// The filter of a `cqm.SubscribeExConversations`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExFilter {
    /// `convState`: the conversation's `state` (its MAIN dialog's).
    pub state: States,
    /// `stage`: the conversation container's (open while a survey dialog is).
    pub stage: States,
    /// Skip conversations not updated since (epoch ms).
    pub min_last_updated: u64,
}

impl ExFilter {
    /// Whether a conversation whose `(state, stage)` are open or not, last updated at `ts`,
    /// matches.
    pub(crate) fn matches(&self, (state_open, stage_open): (bool, bool), ts: u64) -> bool {
        self.state.admits(state_open)
            && self.stage.admits(stage_open)
            && ts >= self.min_last_updated
    }
}

/// One `conversationField` change.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FieldChange {
    /// `ConversationStateField` or `Stage` with `CLOSE`: every dialog closes, no survey
    /// follows (PCS tutorial, Additional Notes).
    CloseConversation,
    /// `DialogChange` closing one dialog (`None`: no `dialogId`, the MAIN dialog).
    CloseDialog {
        dialog_id: Option<String>,
        cause: String,
    },
    /// `CSATRate`.
    Csat(Value),
    /// `TTRField`.
    Ttr(Value),
}

pub(super) fn ex_filter(body: Option<&Value>) -> Result<ExFilter, Rejection> {
    let mut filter = ExFilter {
        state: States::BOTH,
        stage: States::BOTH,
        min_last_updated: 0,
    };
    let Some(body) = body else {
        return Ok(filter);
    };
    let body = object(Some(body), "body")?;
    filter.state = states(body.get("convState"));
    filter.stage = states(body.get("stage"));
    match body.get("minLastUpdatedTime") {
        None | Some(Value::Null) => {}
        Some(v) => {
            filter.min_last_updated = v.as_u64().ok_or_else(|| {
                bad(
                    "body.minLastUpdatedTime",
                    v,
                    format!(
                        "minLastUpdatedTime must be a non-negative integer, got {}",
                        short(v)
                    ),
                )
            })?;
        }
    }
    Ok(filter)
}

/// The states a `convState` or `stage` list names; both when absent.
fn states(list: Option<&Value>) -> States {
    let Some(list) = list else {
        return States::BOTH;
    };
    let items = match list {
        Value::Array(items) => items.iter().collect::<Vec<_>>(),
        single => vec![single],
    };
    let mut states = States {
        open: false,
        closed: false,
    };
    for state in items {
        match state.as_str() {
            Some("OPEN") => states.open = true,
            Some("CLOSE") => states.closed = true,
            // Unknown enum values are ignored (reference §2).
            _ => {}
        }
    }
    states
}

pub(super) fn field_changes(value: Option<&Value>) -> Result<Vec<FieldChange>, Rejection> {
    let items: Vec<&Value> = match value {
        // A one-element array may be sent as the bare element (reference §2).
        Some(obj @ Value::Object(_)) => vec![obj],
        Some(Value::Array(items)) if !items.is_empty() => items.iter().collect(),
        other => {
            let value = other.cloned().unwrap_or(Value::Null);
            return Err(bad(
                "body.conversationField",
                &value,
                format!(
                    "conversationField must be an object or a non-empty list of objects, got {}",
                    short(&value)
                ),
            ));
        }
    };
    items.into_iter().map(field_change).collect()
}

fn field_change(item: &Value) -> Result<FieldChange, Rejection> {
    let at = "body.conversationField";
    let field = item.get("field").and_then(Value::as_str).unwrap_or("");
    let close_state = || match item.get("conversationState") {
        Some(Value::String(s)) if s == "CLOSE" => Ok(FieldChange::CloseConversation),
        other => {
            let value = other.cloned().unwrap_or(Value::Null);
            Err(bad(
                &format!("{at}.conversationState"),
                &value,
                format!(
                    "conversationState {} is not supported; consumers can only send \"CLOSE\"",
                    short(&value)
                ),
            ))
        }
    };
    match field {
        "ConversationStateField" | "Stage" => close_state(),
        "DialogChange" => {
            let dialog = item.get("dialog");
            let state = dialog.and_then(|d| d.get("state")).and_then(Value::as_str);
            if state != Some("CLOSE") {
                let value = dialog.cloned().unwrap_or(Value::Null);
                return Err(bad(
                    &format!("{at}.dialog.state"),
                    &value,
                    "DialogChange must carry dialog.state \"CLOSE\"".into(),
                ));
            }
            let cause = dialog
                .and_then(|d| d.get("closedCause"))
                .and_then(Value::as_str)
                .unwrap_or(CLOSED_BY_CONSUMER);
            let dialog_id = match dialog.and_then(|d| d.get("dialogId")) {
                None | Some(Value::Null) => None,
                Some(Value::String(id)) => Some(id.clone()),
                Some(other) => {
                    return Err(bad(
                        &format!("{at}.dialog.dialogId"),
                        other,
                        format!("dialog.dialogId must be a string, got {}", short(other)),
                    ))
                }
            };
            Ok(FieldChange::CloseDialog {
                dialog_id,
                cause: cause.to_owned(),
            })
        }
        "CSATRate" => {
            let rate = item.get("csatRate").and_then(Value::as_u64);
            let confirmation = item
                .get("csatResolutionConfirmation")
                .map(Value::is_boolean);
            let status = item.get("status").and_then(Value::as_str);
            if !matches!(rate, Some(1..=5))
                || confirmation != Some(true)
                || !status.is_some_and(|s| CSAT_STATUSES.contains(&s))
            {
                return Err(bad(
                    at,
                    item,
                    "CSATRate needs csatRate 1-5, csatResolutionConfirmation (boolean) and \
                     status FILLED|PARTIALLY_FILLED|SKIPPED"
                        .into(),
                ));
            }
            Ok(FieldChange::Csat(item.clone()))
        }
        "TTRField" => Ok(FieldChange::Ttr(ttr(item, at)?)),
        other => Err(bad(
            &format!("{at}.field"),
            &Value::String(other.to_owned()),
            format!(
                "field {other:?} is not supported for consumers (ConversationStateField, Stage, \
                 DialogChange, CSATRate, TTRField)"
            ),
        )),
    }
}

/// A `TTRField` entry (`ttrType` one of CUSTOM, NORMAL, PRIORITIZED, URGENT; `value` seconds)
/// as the conversation keeps it; `at` is the entry's path. Consumers and agents send the same.
pub(crate) fn ttr(item: &Value, at: &str) -> Result<Value, Rejection> {
    let ttr_type = item.get("ttrType").and_then(Value::as_str);
    if !ttr_type.is_some_and(|t| TTR_TYPES.contains(&t)) {
        let value = item.get("ttrType").cloned().unwrap_or(Value::Null);
        return Err(bad(
            &format!("{at}.ttrType"),
            &value,
            format!(
                "ttrType {} is not one of {}",
                short(&value),
                TTR_TYPES.join(", ")
            ),
        ));
    }
    let value = item.get("value").and_then(Value::as_u64).unwrap_or(0);
    Ok(serde_json::json!({"ttrType": ttr_type, "value": value}))
}
