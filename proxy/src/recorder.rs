//! The recorder: turns relayed chunks into cassette lines and the live view, off the hot path.
//!
//! The relay hands each chunk of whole frames (raw bytes, shared, no copy) to a bounded queue
//! ([`RecorderTap`]); one thread, `wiretape-recorder`, owns every open cassette. It parses the
//! frames, unmasks client payloads, joins fragmented messages, applies the redaction rules,
//! and writes and flushes one line per message. A full queue makes the relay wait
//! (backpressure), so memory stays bounded however slow the disk is.
//!
//! When a cassette cannot be written (disk full, directory removed or made read-only), the
//! recorder says so loudly on stderr and in the log, stops writing that cassette (what was
//! written so far stays a readable cassette) and the relay carries on.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use std::sync::Arc;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use wiretape_fixtures::cassette::{
    End, EndedBy, Frame, Kind, Line, Open, RelayedMessage, Sender, Writer,
};
use wiretape_fixtures::redact::{redact_jwts, Redactor};

use crate::frame::{apply_mask, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT};
use crate::relay::{frames, RelayOutcome, Tap};

/// What to record and show.
#[derive(Debug, Clone)]
pub struct RecordConfig {
    /// Where cassettes go; `None` records nothing to disk.
    pub dir: Option<PathBuf>,
    /// The redaction rules applied before anything is written.
    pub redactor: Redactor,
    /// Print one line per message on stderr.
    pub live_view: bool,
    /// Capacity of the queue between the relay and the recorder thread, in chunks.
    pub queue: usize,
    /// Bytes of frames that may wait in that queue; a relay that would exceed it waits.
    pub queue_bytes: usize,
}

impl Default for RecordConfig {
    fn default() -> Self {
        Self {
            dir: None,
            redactor: Redactor::default(),
            live_view: false,
            queue: 4096,
            queue_bytes: 16 << 20,
        }
    }
}

impl RecordConfig {
    /// Whether anything at all needs the frames.
    pub fn is_active(&self) -> bool {
        self.dir.is_some() || self.live_view
    }
}

enum Msg {
    Open(u64, Box<Open>),
    /// Frames of one connection; the permit holds their share of the byte budget until the
    /// recorder thread is done with them.
    Chunk(u64, Sender, Duration, Bytes, OwnedSemaphorePermit),
    End(u64, Duration, RelayOutcome),
    /// Answered once everything queued before it is written.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// The sending side of the recorder, cloned into every connection.
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    /// `None` when nothing needs frames (no cassettes, no live view): the taps do nothing.
    tx: Option<mpsc::Sender<Msg>>,
    /// The byte budget of the queue (see [`RecordConfig::queue_bytes`]).
    budget: Arc<Semaphore>,
    /// Its size.
    limit: usize,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Msg")
    }
}

impl Recorder {
    /// Starts the recorder thread. Dropping every [`Recorder`] clone ends it; join the handle
    /// to know every cassette is finished.
    pub(crate) fn start(
        config: RecordConfig,
    ) -> std::io::Result<(Self, std::thread::JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let limit = config.queue_bytes.clamp(1 << 16, u32::MAX as usize);
        let budget = Arc::new(Semaphore::new(limit));
        let active = config.is_active();
        let thread = std::thread::Builder::new()
            .name("wiretape-recorder".into())
            .spawn(move || Thread::new(config).run(rx))?;
        let tx = active.then_some(tx);
        Ok((Self { tx, budget, limit }, thread))
    }

    pub(crate) async fn open(&self, conn: u64, open: Open) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::Open(conn, Box::new(open))).await;
        }
    }

    pub(crate) async fn end(&self, conn: u64, at: Duration, outcome: RelayOutcome) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::End(conn, at, outcome)).await;
        }
    }

    /// Waits until everything queued so far is written.
    pub(crate) async fn flush(&self) {
        if let Some(tx) = &self.tx {
            let (done, written) = tokio::sync::oneshot::channel();
            if tx.send(Msg::Flush(done)).await.is_ok() {
                let _ = written.await;
            }
        }
    }

    pub(crate) fn tap(&self, conn: u64) -> RecorderTap {
        RecorderTap {
            conn,
            tx: self.tx.clone(),
            budget: self.budget.clone(),
            limit: self.limit,
        }
    }
}

/// The [`Tap`] of one connection: queues chunks for the recorder thread.
#[derive(Debug, Clone)]
pub(crate) struct RecorderTap {
    conn: u64,
    tx: Option<mpsc::Sender<Msg>>,
    budget: Arc<Semaphore>,
    limit: usize,
}

impl Tap for RecorderTap {
    async fn relayed(&mut self, from: Sender, at: Duration, frames: &[u8]) {
        let Some(tx) = &self.tx else { return };
        // A chunk larger than the whole budget takes all of it (and so waits for an empty
        // queue) rather than never fitting.
        let want = frames.len().clamp(1, self.limit) as u32;
        let Ok(permit) = self.budget.clone().acquire_many_owned(want).await else {
            return;
        };
        let chunk = Bytes::copy_from_slice(frames);
        let _ = tx
            .send(Msg::Chunk(self.conn, from, at, chunk, permit))
            .await;
    }
}

/// A message being reassembled from fragments.
struct Partial {
    kind: Kind,
    data: Vec<u8>,
    fragments: u32,
}

struct Conn {
    writer: Option<Writer>,
    partial: [Option<Partial>; 2],
    /// First close frame seen from each side: (code, reason).
    closes: [Option<(Option<u16>, Option<String>)>; 2],
}

struct Thread {
    config: RecordConfig,
    conns: HashMap<u64, Conn>,
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
        }
    }

    fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        while let Some(msg) = rx.blocking_recv() {
            match msg {
                Msg::Open(conn, open) => self.open(conn, *open),
                Msg::Chunk(conn, from, at, bytes, _permit) => self.chunk(conn, from, at, &bytes),
                Msg::End(conn, at, outcome) => self.end(conn, at, outcome),
                Msg::Flush(done) => {
                    let _ = done.send(());
                }
            }
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
            live(&format!(
                "#{conn:04} {} {} {}",
                match open.status {
                    101 => "open",
                    _ => "refused",
                },
                open.url,
                open.status
            ));
        }
        let writer = match &self.config.dir {
            Some(dir) => match Writer::create(dir, &open) {
                Ok(writer) => {
                    tracing::info!(conn, path = %writer.path().display(), "recording");
                    Some(writer)
                }
                Err(err) => {
                    loud(conn, &err);
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
                    live(&live_line(conn, &frame, data.len()));
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
        // The frames of one chunk were relayed together: one write call for their lines.
        if let Some(writer) = state.writer.as_mut() {
            if let Err(err) = writer.flush() {
                loud(conn, &err);
                state.writer = None;
            }
        }
    }

    fn end(&mut self, conn: u64, at: Duration, outcome: RelayOutcome) {
        let Some(mut state) = self.conns.remove(&conn) else {
            return;
        };
        let close = match outcome.ended_by {
            EndedBy::Client => state.closes[0].clone(),
            EndedBy::Server => state.closes[1].clone(),
            EndedBy::Proxy => None,
        };
        let (code, reason) = close.unwrap_or((None, None));
        let error = outcome
            .error
            .map(|e| self.config.redactor.header("x-error", &e));
        if self.config.live_view {
            let how = match (&code, &error) {
                (Some(code), _) => format!("{code} {:?}", reason.as_deref().unwrap_or("")),
                (None, Some(err)) => err.clone(),
                (None, None) => String::new(),
            };
            let by = match outcome.ended_by {
                EndedBy::Client => "client",
                EndedBy::Server => "server",
                EndedBy::Proxy => "wiretape",
            };
            live(&format!("#{conn:04} closed by {by} {how}"));
        }
        let end = End {
            ms: at.as_millis() as u64,
            by: outcome.ended_by,
            code,
            reason,
            error,
        };
        write(conn, &mut state.writer, &Line::End(end));
    }
}

fn write(conn: u64, writer: &mut Option<Writer>, line: &Line) {
    if let Some(w) = writer.as_mut() {
        if let Err(err) = w.write(line) {
            loud(conn, &err);
            *writer = None;
        }
    }
}

/// A recording failure must not go unnoticed: stderr (even with `--quiet`) and the log.
/// The message includes the error's source chain: `cannot access FILE: No space left on device`.
fn loud(conn: u64, err: &dyn std::error::Error) {
    let mut cause = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        cause.push_str(&format!(": {inner}"));
        source = inner.source();
    }
    tracing::error!(conn, %cause, "recording failed");
    live(&format!(
        "wiretape: RECORDING FAILED for connection #{conn:04}: {cause} \
         (the relay goes on; the cassette written so far stays readable)"
    ));
}

fn live(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// `#0001 > text cm.ConsumerRequestConversation id=1 62 B`: direction, kind, the JSON `type`
/// and `id`/`reqId` when the payload has them (JWT-shaped text redacted), size. Payloads
/// themselves are never shown.
fn live_line(conn: u64, frame: &Frame, size: usize) -> String {
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
    redact_jwts(&line).unwrap_or(line)
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
        let line = live_line(1, &frame, 62);
        assert_eq!(
            line,
            "#0001 > text   cm.ConsumerRequestConversation id=1 62 B"
        );
        assert!(!line.contains("secret"));
    }
}
