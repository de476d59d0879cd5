//! One `AcceptStatusEvent`, from either side: checked by the receipt rules, stored (and
//! notified) or refused, recorded in the journal, answered; in strict mode a violation also
//! closes the socket. The consumer side (`messaging`) and the agent side (`agent_api`) differ
//! only in how they find the dialog and what the response is called.

use serde_json::{json, Map, Value};

use super::{close_reason, ConnCtx, Reply, CLOSE_POLICY};
use crate::config::Strictness;
use crate::hub::State;
use crate::journal::NewReceipt;
use crate::model::{DialogAt, Role};
use crate::protocol::{response, ReqId};
use crate::validation::{self, Checked, DialogView};

/// A receipt as a handler found it.
#[derive(Debug)]
pub(crate) struct Receipt<'a> {
    /// The request id, its type (recorded) and the type of the response.
    pub request: (&'a ReqId, &'a str, &'a str),
    /// Who publishes it, and in which role.
    pub by: (&'a str, Role),
    /// The publisher's dialog `dialog_id` names, when it has one by that id.
    pub found: Option<DialogAt>,
    /// `body.dialogId`, `body.event` and the top-level `metadata`, as sent.
    pub dialog_id: Option<&'a Value>,
    pub event: Map<String, Value>,
    pub metadata: Option<Value>,
}

/// Validates, then stores or refuses, one receipt; records it either way. `on_stored` runs
/// once it is stored (the consumer side tells the built-in agent).
pub(crate) fn settle(
    s: &mut State,
    ctx: &ConnCtx,
    strictness: Strictness,
    receipt: Receipt<'_>,
    on_stored: impl FnOnce(&mut State, DialogAt, &Checked),
) -> Reply {
    let (id, request_type, response_type) = receipt.request;
    let name = receipt.dialog_id.and_then(Value::as_str);
    let view = match (name, receipt.found) {
        (None, _) => DialogView::Unnamed,
        (Some(_), None) => DialogView::NotYours,
        (Some(_), Some(at)) => {
            let dialog = &s.conversations[at.conv].dialogs[at.dialog];
            DialogView::Found {
                dialog,
                dialog_open: dialog.is_open(),
            }
        }
    };
    let metadata = receipt.metadata.as_ref();
    let checked = validation::check_receipt(
        receipt.dialog_id,
        &receipt.event,
        metadata,
        receipt.by.0,
        view,
    );
    let first_violation = checked.findings.iter().find(|f| f.is_violation()).cloned();
    let lenient = strictness == Strictness::Lenient;
    let store_in = receipt.found.filter(|_| checked.accepted(lenient));
    let (stored_sequence, code, body) = match (store_in, &first_violation) {
        (Some(at), _) => {
            let event = Value::Object(receipt.event.clone());
            let sequence = s.publish(at, receipt.by, event, receipt.metadata.clone());
            on_stored(s, at, &checked);
            (Some(sequence), 200, json!({"sequence": sequence}))
        }
        (None, Some(finding)) => (None, 400, Value::String(finding.error_body())),
        // Not accepted without a violation cannot happen: no dialog means a finding.
        (None, None) => (None, 400, Value::String("Bad Request".into())),
    };
    s.journal.receipt(
        ctx,
        NewReceipt {
            request_type,
            request_id: &id.0,
            dialog_id: name,
            event: Value::Object(receipt.event),
            checked,
            stored_sequence,
            response: (code, body.clone()),
        },
    );
    let frame = response(Some(id), code, response_type, body);
    let close = match (strictness, first_violation) {
        (Strictness::Strict, Some(finding)) => Some((CLOSE_POLICY, close_reason(&finding))),
        _ => None,
    };
    Reply::texts([frame]).closing(close)
}
