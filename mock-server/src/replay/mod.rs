//! Replay: recorded cassettes drive the mock, conversation-aware.
//!
//! Each incoming connection is matched to an unused cassette by its handshake: the path, the
//! query with volatile values ignored (UUIDs, long numbers, tokens), and the subprotocol. Then
//! the recording plays as a conversation, not a blind timeline ([`replayer`], served by the
//! same socket loop as live sessions):
//! - server frames recorded before the client's first frame are sent at their recorded
//!   offsets from the open;
//! - each client frame is expected in recorded order ([`matcher`]: request ids, UUIDs,
//!   timestamps and redacted secrets never count); when it arrives, the server frames that
//!   followed it in the recording are released, each at its recorded offset from the frame it
//!   followed, scaled by [`Speed`]; responses get the `reqId` the client actually used;
//! - a frame that matches nothing gets an error response naming the difference (`expected
//!   frame #7 ..., got ...`) and a `replay-mismatch` record; a recorded client frame never
//!   sent is recorded as `replay-unsent`;
//! - every `AcceptStatusEvent` is validated as in live mode, against the events the replay
//!   has actually sent ([`ledger`]).
//!
//! A connection no cassette matches is refused with a clear message, or handed to a
//! [`ReplayFallback`] (what `wiretape mock --record-missing DIR` uses to forward it to the
//! real upstream through the recording proxy, as VCR's `new_episodes` does).

pub(crate) mod ledger;
pub(crate) mod matcher;
pub(crate) mod replayer;
pub(crate) mod script;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use wiretape_fixtures::cassette::Cassette;

use script::Script;

/// How recorded delays are scaled: `Speed(1.0)` plays in real time, `Speed(2.0)` twice as
/// fast, `Speed(0.0)` sends everything at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Speed(pub f64);

impl Speed {
    /// Everything at once.
    pub const INSTANT: Speed = Speed(0.0);
    /// As recorded.
    pub const REAL_TIME: Speed = Speed(1.0);

    /// The delay to wait for a recorded delay of `ms` milliseconds.
    pub fn scale(self, ms: u64) -> std::time::Duration {
        if self.0 <= 0.0 || !self.0.is_finite() {
            return std::time::Duration::ZERO;
        }
        std::time::Duration::from_secs_f64(ms as f64 / 1000.0 / self.0)
    }
}

/// How client frames are compared with the recorded ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MatchMode {
    /// Everything but request ids, UUIDs, timestamps and redacted values must be equal.
    #[default]
    Strict,
    /// Only `kind`, `type` and the keys of `body` must be equal.
    Loose,
}

/// Serves connections that no cassette matches (`--record-missing`).
pub trait ReplayFallback: Send + Sync + 'static {
    /// Answers the upgrade request, taking over the connection if it upgrades.
    fn forward(
        &self,
        request: http::Request<axum::body::Body>,
    ) -> Pin<Box<dyn Future<Output = http::Response<axum::body::Body>> + Send>>;
}

/// What to replay and how.
///
/// # Example
/// A client replaying the canonical tutorial cassette (`fixtures/cassettes/tutorial.jsonl`),
/// with its own request id: the recorded response comes back with that id.
/// ```
/// use futures_util::{SinkExt as _, StreamExt as _};
/// use tokio_tungstenite::tungstenite::Message;
/// use wiretape_fixtures::Cassette;
/// use wiretape_mock_server::{client, MockServer, Replay, Speed};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let cassette = Cassette::open("../fixtures/cassettes/tutorial.jsonl").unwrap();
/// let path = cassette.open.url.clone(); // the recorded path and query
/// let server = MockServer::builder()
///     .replay(Replay::new(vec![cassette]).speed(Speed::INSTANT))
///     .start()
///     .await;
/// let url = format!("{}{path}", server.url());
/// let mut ws = client::connect(&url, server.client_tls(), Some("any-token")).await.unwrap();
/// ws.send(Message::text(r#"{"kind":"req","id":"a-7","type":"cm.ConsumerRequestConversation"}"#))
///     .await
///     .unwrap();
/// let response: serde_json::Value =
///     serde_json::from_str(ws.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
/// assert_eq!(response["reqId"], "a-7");
/// assert_eq!(response["type"], "cm.RequestConversationResponse");
/// assert!(!server.report().has_replay_deviations());
/// # }
/// ```
#[derive(Clone)]
pub struct Replay {
    /// The cassettes, in the order connections claim them.
    pub cassettes: Vec<Cassette>,
    /// Scaling of recorded delays.
    pub speed: Speed,
    /// How client frames are compared.
    pub matching: MatchMode,
    /// Where unmatched connections go; `None` refuses them.
    pub fallback: Option<Arc<dyn ReplayFallback>>,
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay")
            .field("cassettes", &self.cassettes.len())
            .field("speed", &self.speed)
            .field("matching", &self.matching)
            .field("fallback", &self.fallback.is_some())
            .finish()
    }
}

impl Replay {
    /// Replays `cassettes` at full speed (`Speed::INSTANT`) with strict matching.
    pub fn new(cassettes: Vec<Cassette>) -> Self {
        Self {
            cassettes,
            speed: Speed::INSTANT,
            matching: MatchMode::Strict,
            fallback: None,
        }
    }

    /// Sets the speed.
    pub fn speed(mut self, speed: Speed) -> Self {
        self.speed = speed;
        self
    }

    /// Sets the matching mode.
    pub fn matching(mut self, matching: MatchMode) -> Self {
        self.matching = matching;
        self
    }

    /// Sets where unmatched connections go.
    pub fn fallback(mut self, fallback: Arc<dyn ReplayFallback>) -> Self {
        self.fallback = Some(fallback);
        self
    }
}

/// The cassettes of a running server and which are taken. The std mutex guards a claim only.
pub(crate) struct Library {
    pub(crate) speed: Speed,
    pub(crate) matching: MatchMode,
    pub(crate) fallback: Option<Arc<dyn ReplayFallback>>,
    scripts: Vec<Arc<Script>>,
    taken: Mutex<Vec<bool>>,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library")
            .field("scripts", &self.scripts.len())
            .finish_non_exhaustive()
    }
}

impl Library {
    pub(crate) fn new(replay: Replay) -> Self {
        let scripts: Vec<_> = replay
            .cassettes
            .iter()
            .map(|c| Arc::new(Script::from_cassette(c)))
            .collect();
        Self {
            speed: replay.speed,
            matching: replay.matching,
            fallback: replay.fallback,
            taken: Mutex::new(vec![false; scripts.len()]),
            scripts,
        }
    }

    /// Claims the first unused cassette recorded for this path, query and subprotocol.
    pub(crate) fn claim(&self, path_and_query: &str, offered: &[String]) -> Option<Arc<Script>> {
        let wanted = matcher::handshake_key(path_and_query);
        let mut taken = self.taken.lock().unwrap_or_else(PoisonError::into_inner);
        let index = self.scripts.iter().enumerate().position(|(i, s)| {
            !taken[i]
                && matcher::handshake_key(&s.open.url) == wanted
                && s.open
                    .subprotocol
                    .as_ref()
                    .is_none_or(|p| offered.iter().any(|o| o == p))
        })?;
        taken[index] = true;
        Some(self.scripts[index].clone())
    }

    /// One line per cassette: its URL, name, and whether a connection took it.
    pub(crate) fn describe(&self) -> String {
        let taken = self.taken.lock().unwrap_or_else(PoisonError::into_inner);
        self.scripts
            .iter()
            .zip(taken.iter())
            .map(|(s, used)| {
                format!(
                    "  {} {} ({})",
                    s.open.url,
                    s.name,
                    if *used { "already replayed" } else { "unused" }
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}
