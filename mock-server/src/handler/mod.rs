//! Serving requests: one text frame in, the frames to answer with out.
//!
//! [`handle_text`] parses the envelope, enforces authentication (before anything of the body is
//! looked at), parses the typed request and
//! dispatches to one function per request family. Every rejection is answered with one error
//! response (never silence) and recorded in the journal; in strict mode the socket is then
//! closed with 1008.

mod conversation;
pub(crate) mod files;
mod messaging;
mod misc;
mod receipt;
pub(crate) mod subscription;

use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use crate::client_properties::ClientProperties;
pub(crate) use crate::conn::ConnCtx;
use crate::hub::Hub;
use crate::protocol::{
    init_jwt, response, string_response, types, ConsumerRequest, Envelope, Rejection, ReqId,
};
use crate::rate::Payer;
use crate::validation::{Finding, Rule};
pub(crate) use misc::{get_clock, own_profile};
pub(crate) use receipt::{settle as settle_receipt, Receipt};

/// Close code for a policy violation (RFC 6455), used by strict mode.
pub(crate) const CLOSE_POLICY: u16 = 1008;
/// Close code asking the client for a fresh token (reference §1.5).
pub(crate) const CLOSE_UNAUTHORIZED: u16 = 4401;

/// The answer to one frame (or to a timer): frames to send in order, then possibly a close.
/// What the socket loop (`session`) sends for every service, live or replayed.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Reply {
    pub frames: Vec<Message>,
    pub close: Option<(u16, String)>,
}

impl Reply {
    /// Text frames, no close.
    pub(crate) fn texts(frames: impl IntoIterator<Item = String>) -> Self {
        Self {
            frames: frames.into_iter().map(Message::text).collect(),
            close: None,
        }
    }

    /// One text frame, no close.
    pub(crate) fn one(frame: String) -> Self {
        Self::texts([frame])
    }

    /// Only a close.
    pub(crate) fn close(code: u16, reason: impl Into<String>) -> Self {
        Self {
            frames: Vec::new(),
            close: Some((code, reason.into())),
        }
    }

    /// These frames, then `close` when it is set.
    pub(crate) fn closing(mut self, close: Option<(u16, String)>) -> Self {
        self.close = close;
        self
    }
}

/// Serves one text frame.
pub(crate) fn handle_text(hub: &Hub, ctx: &mut ConnCtx, text: &str) -> Reply {
    let env = match Envelope::parse(text) {
        Ok(env) => env,
        Err(unparsed) => {
            return reject(
                hub,
                ctx,
                unparsed.id.as_ref(),
                unparsed.req_type.as_deref(),
                &unparsed.rejection,
            )
        }
    };
    if let Some(per_second) = hub.settings.rate_limit {
        if !charge(hub, ctx, per_second) {
            let rejection = Rejection::too_many_requests(per_second);
            return reject(hub, ctx, Some(&env.id), Some(&env.req_type), &rejection);
        }
    }
    if env.req_type == "InitConnection" {
        let properties = match ClientProperties::from_init_headers(env.headers.as_ref()) {
            Ok(properties) => properties,
            Err(invalid) => {
                let field = format!("headers[].{}", invalid.field);
                let rejection = Rejection::from(Finding::violation(
                    Rule::Body,
                    field,
                    invalid.value,
                    invalid.message,
                ));
                return reject(hub, ctx, Some(&env.id), Some(&env.req_type), &rejection);
            }
        };
        return match init_jwt(env.headers.as_ref()) {
            Ok(jwt) => misc::init_connection(hub, ctx, &env.id, (jwt.as_deref(), properties)),
            Err(rejection) => misc::refuse_init(hub, ctx, &env.id, &rejection),
        };
    }
    // Authentication first, as the live service does: an unauthenticated socket gets the 401
    // for any request but InitConnection before its body is looked at (only an envelope that
    // is not one at all got its 400 above).
    let Some(consumer) = ctx.consumer_id.clone() else {
        let rejection = Rejection::unauthorized(
            "type",
            Value::String(env.req_type.clone()),
            format!(
                "{} refused: authenticate first with an Authorization header or InitConnection",
                env.req_type
            ),
        );
        return reject(hub, ctx, Some(&env.id), Some(&env.req_type), &rejection);
    };
    let request = match ConsumerRequest::parse(&env) {
        Ok(request) => request,
        Err(rejection) => return reject(hub, ctx, Some(&env.id), Some(&env.req_type), &rejection),
    };
    let id = &env.id;
    let result = match request {
        ConsumerRequest::GetClock => Ok(misc::get_clock(id)),
        ConsumerRequest::KeepAlive => Ok(Reply::one(string_response(Some(id), 200, "OK"))),
        ConsumerRequest::RequestConversation { skill_id } => {
            conversation::request(hub, ctx, &consumer, id, skill_id)
        }
        ConsumerRequest::UpdateConversationField {
            conversation_id,
            changes,
        } => conversation::update_field(hub, ctx, &consumer, id, &conversation_id, changes),
        ConsumerRequest::PublishEvent(publish) => {
            return messaging::publish(hub, ctx, &consumer, id, publish)
        }
        ConsumerRequest::SubscribeMessagingEvents {
            dialog_id,
            from_seq,
        } => messaging::subscribe(hub, ctx, &consumer, id, &dialog_id, from_seq),
        ConsumerRequest::SubscribeExConversations(filter) => {
            Ok(subscription::subscribe(hub, ctx, &consumer, id, filter))
        }
        ConsumerRequest::UnsubscribeExConversations { subscription_id } => {
            subscription::unsubscribe(hub, ctx, id, &subscription_id)
        }
        ConsumerRequest::GetUserProfile { user_id } => {
            misc::user_profile(hub, ctx, &consumer, id, user_id.as_deref())
        }
        ConsumerRequest::SetUserProfile { profile } => {
            Ok(misc::set_user_profile(hub, ctx, &consumer, id, profile))
        }
        ConsumerRequest::GenerateUploadUrl(body) => files::upload_url(hub, ctx, id, &body),
        ConsumerRequest::GenerateDownloadUrl(body) => files::download_url(hub, ctx, id, &body),
    };
    result.unwrap_or_else(|rejection| reject(hub, ctx, Some(id), Some(&env.req_type), &rejection))
}

/// Charges one request to the socket's consumer (or, unauthenticated, to the socket);
/// `false` when it is over the limit.
fn charge(hub: &Hub, ctx: &ConnCtx, per_second: u32) -> bool {
    let payer = match &ctx.consumer_id {
        Some(consumer) => Payer::Consumer {
            account: ctx.account.clone(),
            consumer: consumer.clone(),
        },
        None => Payer::Connection(ctx.id),
    };
    let now = tokio::time::Instant::now();
    hub.with_state(|s| s.rates.allow(payer, per_second, now))
}

/// Serves a binary frame: the API speaks JSON text only.
pub(crate) fn handle_binary(hub: &Hub, ctx: &mut ConnCtx, len: usize) -> Reply {
    let rejection = Rejection::from(Finding::violation(
        Rule::Frame,
        "frame",
        Value::from(len),
        format!("binary frame of {len} bytes refused; send JSON requests as text frames"),
    ));
    reject(hub, ctx, None, None, &rejection)
}

/// Answers a rejection with one error response, records it, and in strict mode closes.
pub(crate) fn reject(
    hub: &Hub,
    ctx: &ConnCtx,
    id: Option<&ReqId>,
    req_type: Option<&str>,
    rejection: &Rejection,
) -> Reply {
    let finding = &rejection.finding;
    record_violation(hub, ctx, (id, req_type), finding, Some(rejection.code));
    let resp_type = types::response_type_for(req_type.unwrap_or(""));
    let body = Value::String(rejection.body());
    let close = hub
        .settings
        .closes_on_violation()
        .then(|| (CLOSE_POLICY, close_reason(finding)));
    Reply::one(response(id, rejection.code, resp_type, body)).closing(close)
}

/// Records a violation that is not a receipt's (receipts record their own), and logs it.
pub(crate) fn record_violation(
    hub: &Hub,
    ctx: &ConnCtx,
    request: (Option<&ReqId>, Option<&str>),
    finding: &Finding,
    code: Option<u16>,
) {
    tracing::debug!(connection = ctx.id, rule = %finding.rule, "{}", finding.message);
    let (id, req_type) = request;
    hub.with_state(|s| {
        s.journal.violation(
            ctx,
            (id.map(|i| i.0.as_str()), req_type),
            finding.clone(),
            code,
        );
    });
}

/// A close reason naming the rule, cut to the 123 bytes a close frame allows.
pub(crate) fn close_reason(finding: &Finding) -> String {
    truncate_utf8(format!("{}: {}", finding.rule, finding.message), 123)
}

/// Cuts a string to at most `max` bytes on a character boundary.
pub(crate) fn truncate_utf8(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}
