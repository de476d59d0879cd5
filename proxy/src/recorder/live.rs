//! The live view on stderr: one line per connection opened or closed and per message, and
//! loud notices when recording fails. Payloads are never shown.

use std::io::Write as _;

use wiretape_fixtures::cassette::{Exchange, FaultLine, Frame, Kind, Open, Sender};
use wiretape_fixtures::redact::{redact_text, redact_url};

/// `#0001 open /ws_api/...?v=3 101` (or `refused`).
pub(super) fn opened(conn: u64, open: &Open) {
    line(&opened_line(conn, open));
}

/// The open line; a credential in the URL never shows, even when the cassette keeps it
/// (`--no-redact` is about the cassette, not the terminal).
fn opened_line(conn: u64, open: &Open) -> String {
    if let Some(method) = &open.method {
        // An HTTP exchange of the forward proxy: `#0002 POST https://host:443/path`.
        return format!(
            "#{conn:04} {method} {}{}",
            open.upstream.as_deref().unwrap_or(""),
            redact_url(&open.url)
        );
    }
    format!(
        "#{conn:04} {} {} {}",
        match open.status {
            101 => "open",
            _ => "refused",
        },
        redact_url(&open.url),
        open.status
    )
}

/// `#0002 answered 200, 1234 B in 15 ms`: an HTTP exchange's answer.
pub(super) fn exchange(conn: u64, exchange: &Exchange) {
    let size = exchange.response_body.as_ref().map_or(0, |b| b.length);
    line(&format!(
        "#{conn:04} answered {}, {size} B in {} ms",
        exchange.status, exchange.ms
    ));
}

/// `#0001 closed by client 1000 "bye"`.
pub(super) fn closed(conn: u64, by: &str, how: &str) {
    line(&format!("#{conn:04} closed by {by} {how}"));
}

/// `#0001 ! fault close 4401 to client (close 4401 after 2s times 1)`.
pub(super) fn fault(conn: u64, fault: &FaultLine) {
    let to = match fault.to {
        Sender::Client => "client",
        Sender::Server => "server",
    };
    let what = match (fault.code, fault.status, fault.delay_ms) {
        (Some(code), _, _) => format!("{} {code}", fault.action),
        (_, Some(status), _) => format!("{} {status}", fault.action),
        (_, _, Some(ms)) => format!("{} {ms}ms", fault.action),
        _ => fault.action.clone(),
    };
    line(&redact_text(&format!(
        "#{conn:04} ! fault {what} to {to} ({})",
        fault.rule
    )));
}

/// One message: see [`message_line`].
pub(super) fn message(conn: u64, frame: &Frame, size: usize) {
    line(&message_line(conn, frame, size));
}

/// A recording failure must not go unnoticed: stderr (even with `--quiet`) and the log.
/// The message includes the error's source chain: `cannot access FILE: No space left on device`.
pub(super) fn loud(conn: u64, err: &dyn std::error::Error) {
    let mut cause = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        cause.push_str(&format!(": {inner}"));
        source = inner.source();
    }
    tracing::error!(conn, %cause, "recording failed");
    line(&format!(
        "wiretape: RECORDING FAILED for connection #{conn:04}: {cause} \
         (the relay goes on; the cassette written so far stays readable)"
    ));
}

fn line(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}

/// `#0001 > text cm.ConsumerRequestConversation id=1 62 B`: direction, kind, the JSON `type`
/// and `id`/`reqId` when the payload has them (JWT-shaped text redacted), size. Payloads
/// themselves are never shown.
fn message_line(conn: u64, frame: &Frame, size: usize) -> String {
    let arrow = match frame.from {
        Sender::Client => '>',
        Sender::Server => '<',
    };
    let kind = match frame.kind {
        Kind::Text => "text",
        Kind::Binary => "binary",
        Kind::Ping => "ping",
        Kind::Pong => "pong",
        Kind::Close => "close",
    };
    let mut line = format!("#{conn:04} {arrow} {kind:<6}");
    if let Some(obj) = frame.json.as_ref().and_then(|j| j.as_object()) {
        if let Some(t) = obj.get("type").and_then(|t| t.as_str()) {
            line.push(' ');
            line.push_str(t);
        }
        for key in ["id", "reqId"] {
            if let Some(id) = obj.get(key) {
                let id = id.as_str().map_or_else(|| id.to_string(), str::to_owned);
                line.push_str(&format!(" {key}={id}"));
            }
        }
    }
    if let Some(code) = frame.code {
        line.push_str(&format!(" {code}"));
    }
    line.push_str(&format!(" {size} B"));
    // A `type` or id is the client's text: never let a token through it.
    redact_text(&line).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_lines_show_type_and_ids_but_never_payloads() {
        let frame = Frame::from_payload(
            0,
            Sender::Client,
            Kind::Text,
            br#"{"kind":"req","id":1,"type":"cm.ConsumerRequestConversation","body":{"secret":"x"}}"#,
        );
        let line = message_line(1, &frame, 62);
        assert_eq!(
            line,
            "#0001 > text   cm.ConsumerRequestConversation id=1 62 B"
        );
        assert!(!line.contains("secret"));
    }

    #[test]
    fn the_open_line_never_shows_a_token_in_the_url() {
        let bearer = concat!("fake", "-", "bearer");
        let mut open = Open::new(
            2,
            format!("/ws_api/account/1/messaging/brand/{bearer}?v=2.1"),
        );
        open.status = 101;
        assert_eq!(
            opened_line(2, &open),
            "#0002 open /ws_api/account/1/messaging/brand/<redacted>?v=2.1 101"
        );
    }

    #[test]
    fn an_http_exchange_opens_with_its_method_and_full_url_without_a_token() {
        let mut open = Open::new(3, "/api/account/1/login?v=1.3&token=t0k");
        open.method = Some("POST".into());
        open.upstream = Some("https://lo.example.test:443".into());
        open.status = 200;
        assert_eq!(
            opened_line(3, &open),
            "#0003 POST https://lo.example.test:443/api/account/1/login?v=1.3&token=<redacted>"
        );
    }
}
