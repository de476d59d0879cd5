//! The writer thread, `wiretape-recorder`: owns every open cassette, turns the queued chunks
//! of relayed frames into cassette lines and the live view.
//!
//! Per chunk it parses the frames, unmasks client payloads, joins fragmented messages and
//! applies the redaction rules (inside [`Writer::append_frame`]), one line per message; the
//! lines of a batch (see [`super::tap`]) reach each cassette in one write call, as whole
//! lines. A cassette that cannot be written is reported loudly and dropped; the relay goes
//! on.

use std::collections::HashMap;
use std::time::Duration;

use wiretape_fixtures::cassette::{
    End, EndedBy, Exchange, FaultLine, Frame, Kind, Line, Open, RelayedMessage, Sender, Writer,
};

use super::config::RecordConfig;
use super::live;
use super::tap::{Msg, Receiver};
use crate::frame::{
    apply_mask, frames, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT,
};

/// Starts the thread; it ends when every sender of `rx` is gone.
pub(super) fn spawn(
    config: RecordConfig,
    rx: Receiver,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("wiretape-recorder".into())
        .spawn(move || Thread::new(config).run(rx))
}

/// A message being reassembled from fragments.
struct Partial {
    kind: Kind,
    data: Vec<u8>,
    fragments: u32,
}

/// One open connection.
struct Conn {
    writer: Option<Writer>,
    /// The message being reassembled, per sender.
    partial: [Option<Partial>; 2],
    /// First close frame seen from each side: (code, reason).
    closes: [Option<(Option<u16>, Option<String>)>; 2],
    /// An HTTP exchange (its `http` line said it all in the live view).
    http: bool,
}

struct Thread {
    config: RecordConfig,
    conns: HashMap<u64, Conn>,
    /// Connections with lines appended but not yet written.
    dirty: Vec<u64>,
}

fn index(from: Sender) -> usize {
    match from {
        Sender::Client => 0,
        Sender::Server => 1,
    }
}

impl Thread {
    fn new(config: RecordConfig) -> Self {
        Self {
            config,
            conns: HashMap::new(),
            dirty: Vec::new(),
        }
    }

    fn run(mut self, mut rx: Receiver) {
        rx.attach();
        let mut batch = Vec::new();
        while rx.next_batch(&mut batch) {
            // Each message's permits go back to the queue as soon as it is handled.
            for queued in batch.drain(..) {
                match queued.msg {
                    Msg::Open(conn, open) => self.open(conn, *open),
                    Msg::Chunk(conn, from, at, bytes, _permit) => {
                        self.chunk(conn, from, at, &bytes);
                    }
                    Msg::Http(conn, exchange) => self.http(conn, *exchange),
                    Msg::Fault(conn, line) => self.fault(conn, *line),
                    Msg::End(conn, end) => self.end(conn, *end),
                    Msg::Flush(done) => {
                        self.write_out();
                        let _ = done.send(());
                    }
                }
            }
            self.write_out();
        }
        // Every sender is gone: connections that never sent their end keep what they have.
        for (conn, state) in self.conns.drain() {
            if let Some(writer) = state.writer {
                tracing::warn!(conn, path = %writer.path().display(), "cassette left without an end line");
            }
        }
    }

    fn open(&mut self, conn: u64, open: Open) {
        if self.config.live_view {
            live::opened(conn, &open);
        }
        let writer = match &self.config.dir {
            Some(dir) => match Writer::create(dir, &open) {
                Ok(writer) => {
                    tracing::info!(conn, path = %writer.path().display(), "recording");
                    Some(writer)
                }
                Err(err) => {
                    live::loud(conn, &err);
                    None
                }
            },
            None => None,
        };
        self.conns.insert(
            conn,
            Conn {
                writer,
                partial: [None, None],
                closes: [None, None],
                http: false,
            },
        );
    }

    fn chunk(&mut self, conn: u64, from: Sender, at: Duration, bytes: &[u8]) {
        let Some(state) = self.conns.get_mut(&conn) else {
            return;
        };
        let ms = at.as_millis() as u64;
        for (header, payload) in frames(bytes) {
            let mut payload = payload.to_vec();
            if let Some(mask) = header.mask {
                apply_mask(&mut payload, mask, 0);
            }
            let slot = &mut state.partial[index(from)];
            let (kind, data, fragments) = match header.opcode {
                OP_TEXT | OP_BINARY => {
                    let kind = if header.opcode == OP_TEXT {
                        Kind::Text
                    } else {
                        Kind::Binary
                    };
                    if !header.fin {
                        *slot = Some(Partial {
                            kind,
                            data: payload,
                            fragments: 1,
                        });
                        continue;
                    }
                    (kind, payload, 1)
                }
                OP_CONTINUATION => {
                    let Some(partial) = slot.as_mut() else {
                        tracing::debug!(conn, "continuation frame without a message; not recorded");
                        continue;
                    };
                    partial.data.extend_from_slice(&payload);
                    partial.fragments += 1;
                    if !header.fin {
                        continue;
                    }
                    let Some(done) = slot.take() else { continue };
                    (done.kind, done.data, done.fragments)
                }
                OP_PING => (Kind::Ping, payload, 1),
                OP_PONG => (Kind::Pong, payload, 1),
                OP_CLOSE => (Kind::Close, payload, 1),
                other => {
                    tracing::debug!(
                        conn,
                        opcode = other,
                        "reserved opcode relayed; not recorded"
                    );
                    continue;
                }
            };
            // The parsed form is only needed for a close (its code and reason) and for the
            // live view; the cassette line is encoded straight from the bytes.
            if kind == Kind::Close || self.config.live_view {
                let mut frame = Frame::from_payload(ms, from, kind, &data);
                if fragments > 1 {
                    frame.fragments = Some(fragments);
                }
                if kind == Kind::Close && state.closes[index(from)].is_none() {
                    state.closes[index(from)] = Some((frame.code, frame.reason.clone()));
                }
                if self.config.live_view {
                    live::message(conn, &frame, data.len());
                }
            }
            if let Some(writer) = state.writer.as_mut() {
                let message = RelayedMessage {
                    ms,
                    from,
                    kind,
                    payload: &data,
                    fragments,
                };
                if let Err(err) = writer.append_frame(&message, &self.config.redactor) {
                    tracing::error!(conn, cause = %err, "cannot serialize a frame line");
                }
            }
        }
        if state.writer.is_some() && self.dirty.last() != Some(&conn) {
            self.dirty.push(conn);
        }
    }

    /// Writes the lines appended since the last call: one write call per cassette for a
    /// whole batch of chunks.
    fn write_out(&mut self) {
        for conn in self.dirty.drain(..) {
            let Some(state) = self.conns.get_mut(&conn) else {
                continue;
            };
            if let Some(writer) = state.writer.as_mut() {
                if let Err(err) = writer.flush() {
                    live::loud(conn, &err);
                    state.writer = None;
                }
            }
        }
    }

    fn http(&mut self, conn: u64, exchange: Exchange) {
        let Some(state) = self.conns.get_mut(&conn) else {
            return;
        };
        state.http = true;
        if self.config.live_view {
            live::exchange(conn, &exchange);
        }
        if let Some(w) = state.writer.as_mut() {
            if let Err(err) = w.write(&Line::Http(exchange)) {
                live::loud(conn, &err);
                state.writer = None;
            }
        }
    }

    /// A fault line, in its place among the frames (after those already appended).
    fn fault(&mut self, conn: u64, line: FaultLine) {
        if self.config.live_view {
            live::fault(conn, &line);
        }
        let Some(state) = self.conns.get_mut(&conn) else {
            return;
        };
        if let Some(writer) = state.writer.as_mut() {
            if let Err(err) = writer.append(&Line::Fault(line)) {
                tracing::error!(conn, cause = %err, "cannot serialize a fault line");
            }
            if self.dirty.last() != Some(&conn) {
                self.dirty.push(conn);
            }
        }
    }

    fn end(&mut self, conn: u64, end: super::tap::Ending) {
        let Some(mut state) = self.conns.remove(&conn) else {
            return;
        };
        let close = match end.by {
            EndedBy::Client => state.closes[0].clone(),
            EndedBy::Server => state.closes[1].clone(),
            EndedBy::Proxy => None,
        };
        let (code, reason) = close.unwrap_or((None, None));
        let error = end
            .error
            .map(|e| self.config.redactor.header("x-error", &e));
        if self.config.live_view && !(state.http && error.is_none()) {
            let how = match (&code, &error) {
                (Some(code), _) => format!("{code} {:?}", reason.as_deref().unwrap_or("")),
                (None, Some(err)) => err.clone(),
                (None, None) => String::new(),
            };
            let by = match end.by {
                EndedBy::Client => "client",
                EndedBy::Server => "server",
                EndedBy::Proxy => "wiretape",
            };
            live::closed(conn, by, &how);
        }
        let line = Line::End(End {
            ms: end.at.as_millis() as u64,
            by: end.by,
            code,
            reason,
            error,
        });
        if let Some(w) = state.writer.as_mut() {
            if let Err(err) = w.write(&line) {
                live::loud(conn, &err);
            }
        }
    }
}
