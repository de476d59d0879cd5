//! The shared state of one mock server: conversations, connected sockets and their
//! subscriptions, and the journal; plus the fan-out of notifications (`fanout`), the agent
//! sockets' state and renderings (`agents`) and the rings that offer conversations to them
//! (`routing`).
//!
//! State sits behind a `std::sync::Mutex`, held for short critical sections that never span an
//! `.await` (the lint `await_holding_lock` enforces it). Notifications are handed to each
//! socket's bounded queue with `try_send` while the lock is held, so the order in which events
//! are stored is the order every socket sees them; a socket whose queue is full is too slow and
//! is closed instead of letting memory grow.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Auth, ControlAccess, Strictness, Timeouts};
use crate::discovery::{Directory, Discovery};
use crate::files::{FileSharing, FileStore};
use crate::journal::Journal;
use crate::model::{
    now_ms, AgentIdentity, ClosedBy, Conversation, Conversations, Dialog, DialogAt, Rings,
};
use crate::protocol::ExFilter;
use crate::scenario::runner::ConsumerEvent;
use crate::scenario::{Survey, Trigger};

pub(crate) use agents::{
    AgentConn, AgentDirectory, AgentExFilter, AgentExSubscription, AGENT_EX_CONVERSATION_CHANGE,
};
pub(crate) use routing::expire_rings;

/// Frames a socket's queue holds before the socket counts as too slow.
pub(crate) const QUEUE_CAPACITY: usize = 1024;

/// Settings every connection reads, fixed at start.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The one account served, or `None` for any account.
    pub account: Option<String>,
    pub auth: Auth,
    pub strictness: Strictness,
    pub timeouts: Timeouts,
    pub max_message_bytes: usize,
    /// Requests per second per consumer, when limited.
    pub rate_limit: Option<u32>,
    pub control_api: ControlAccess,
    pub files: FileSharing,
    /// The post-conversation survey `MULTI_DIALOG` clients get (the scenario's), if any.
    pub survey: Option<Survey>,
    /// CSDS, IdP and agent login settings.
    pub discovery: Discovery,
    /// Closed conversations kept before the oldest are forgotten (`--keep-closed`).
    pub keep_closed: usize,
}

impl Settings {
    /// Whether a violation also closes the connection (1008, strict mode).
    pub(crate) fn closes_on_violation(&self) -> bool {
        self.strictness == Strictness::Strict
    }

    /// Whether `account` is served (any account is, unless one was pinned).
    pub(crate) fn serves(&self, account: &str) -> bool {
        self.account.as_deref().is_none_or(|a| a == account)
    }
}

/// What a socket's writer receives.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outgoing {
    /// A text frame.
    Frame(String),
}

/// A `cqm.SubscribeExConversations` subscription of one socket.
#[derive(Debug)]
pub(crate) struct ExSubscription {
    pub id: String,
    pub filter: ExFilter,
    /// Conversations this subscription has shown (a later non-match becomes a DELETE).
    pub shown: HashSet<String>,
}

/// One connected socket.
#[derive(Debug)]
pub(crate) struct Conn {
    /// The account in its path.
    pub account: String,
    /// The authenticated consumer, once known.
    pub consumer_id: Option<String>,
    /// Its queue of outgoing frames.
    tx: mpsc::Sender<Outgoing>,
    /// Cancelled when its queue overflows; the session then closes the socket.
    pub overflow: CancellationToken,
    /// Dialogs whose messaging events it receives.
    pub dialogs: HashSet<String>,
    /// Its metadata subscriptions.
    pub ex_subscriptions: Vec<ExSubscription>,
    /// The agent on an agent socket: its state and subscriptions (`agents`).
    pub agent: Option<AgentConn>,
}

/// The mutable state.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Every conversation remembered, by creation index; add through
    /// [`State::add_conversation`]. Closed ones beyond `--keep-closed` are forgotten, oldest
    /// closed first, when the next one is added.
    pub conversations: Conversations,
    /// Index into `conversations` by conversation id (= MAIN dialog id), so requests naming a
    /// dialog do not scan every conversation.
    by_id: HashMap<String, usize>,
    /// Index into `conversations` by the id of a dialog other than MAIN (POST_SURVEY).
    by_dialog: HashMap<String, usize>,
    /// Each consumer's open conversation (at most one), by account and consumer id, kept by
    /// `add_conversation` and `close_conversation`.
    open_by_consumer: HashMap<(String, String), usize>,
    pub connections: HashMap<u64, Conn>,
    /// The request budget of each consumer (or unauthenticated socket) when rate-limited.
    pub rates: crate::rate::Rates,
    /// What each consumer set with `userprofile.SetUserProfile`, by account and consumer id.
    pub profiles: HashMap<(String, String), serde_json::Map<String, Value>>,
    pub journal: Journal,
    /// The rings offering unassigned conversations to ONLINE agents (`routing`).
    pub rings: Rings,
    /// Every agent that connected, by participant id: how the agent side names it.
    pub agents: HashMap<String, AgentIdentity>,
    /// Consumer events for the scenario runner, drained after each critical section.
    pub events: Vec<ConsumerEvent>,
}

/// The shared state of one server.
#[derive(Debug)]
pub(crate) struct Hub {
    state: Mutex<State>,
    pub settings: Settings,
    /// Bumped after every change, so waiters (`wait_for_receipt`, ...) re-check.
    revision: watch::Sender<u64>,
    /// Feeds the scenario runner.
    agent_events: mpsc::Sender<ConsumerEvent>,
    /// The triggers the scenario has rules for: other consumer events wake nobody.
    triggers: Vec<Trigger>,
    /// Every task of the server (connections, sessions, agent steps), awaited on shutdown.
    pub tracker: TaskTracker,
    /// Cancelled to shut everything down.
    pub cancel: CancellationToken,
    /// Uploaded files and the key their URLs are signed with (its own lock: the storage
    /// routes never touch `state`).
    pub files: FileStore,
    /// The discovery routes' state, logged-in agents included (`discovery.sessions.lookup`
    /// tells the agent socket who a bearer is); its own lock, like `files`.
    pub discovery: Arc<Directory>,
    next_connection: AtomicU64,
    /// Who an agent socket's bearer names (see [`AgentDirectory::identity_for`]).
    pub agents: AgentDirectory,
    /// Wakes the ring timer (`routing::expire_rings`) when rings start or end.
    rings_changed: tokio::sync::Notify,
    /// The fault rules (`--fault`, the scenario, the control API) and how often each fired;
    /// every socket takes its engine from here (`session`), every upgrade asks it (`endpoint`).
    pub faults: wiretape_fixtures::Faults,
}

impl Hub {
    /// A hub and the receiving end of its scenario event queue.
    pub(crate) fn new(
        settings: Settings,
        triggers: Vec<Trigger>,
        journal: Journal,
        faults: wiretape_fixtures::Faults,
    ) -> (Self, mpsc::Receiver<ConsumerEvent>) {
        let (agent_events, rx) = mpsc::channel(QUEUE_CAPACITY);
        let hub = Self {
            files: FileStore::new(settings.files.clone()),
            discovery: Arc::new(Directory::new(
                settings.discovery.clone(),
                settings.account.clone(),
            )),
            state: Mutex::new(State {
                rings: Rings::new(settings.timeouts.ring),
                journal,
                conversations: Conversations::keeping_closed(settings.keep_closed),
                ..State::default()
            }),
            settings,
            revision: watch::channel(0).0,
            agent_events,
            triggers,
            tracker: TaskTracker::new(),
            cancel: CancellationToken::new(),
            next_connection: AtomicU64::new(1),
            agents: AgentDirectory::default(),
            rings_changed: tokio::sync::Notify::new(),
            faults,
        };
        (hub, rx)
    }

    /// The journal's report with the fault rules that fired.
    pub(crate) fn report(&self) -> crate::Report {
        let mut report = self.read(|s| s.journal.report());
        report.faults = self.fired_faults();
        report
    }

    fn fired_faults(&self) -> Vec<wiretape_fixtures::fault::FaultStatus> {
        self.faults
            .status()
            .into_iter()
            .filter(|f| f.fired > 0)
            .collect()
    }

    /// Ends the `--report` stream with its summary line (the fault rules that fired
    /// included) and returns the report.
    pub(crate) fn finish_report(&self) -> Result<crate::Report, crate::Error> {
        let faults = self.fired_faults();
        self.with_state(|s| s.journal.finish(faults))?;
        Ok(self.report())
    }

    /// Runs `f` on the state under the lock, then wakes waiters and forwards consumer events
    /// to the scenario runner.
    pub(crate) fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let (out, events) = {
            let mut state = self.lock();
            let rings = state.rings.generation();
            let out = f(&mut state);
            if state.rings.generation() != rings {
                self.rings_changed.notify_one();
            }
            let events: Vec<ConsumerEvent> = std::mem::take(&mut state.events);
            // The built-in agent is one agent among others: it stands back where an external
            // agent holds (or is being offered) the conversation.
            let events = events.into_iter().filter(|e| state.built_in_agent_takes(e));
            (out, events.collect::<Vec<_>>())
        };
        for event in events {
            if !self.triggers.contains(&event.trigger) {
                continue;
            }
            if self.agent_events.try_send(event).is_err() {
                tracing::warn!("the simulated agent is behind; a consumer event was dropped");
            }
        }
        self.revision.send_modify(|r| *r += 1);
        out
    }

    /// Reads the state under the lock without waking anyone.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent-enough data for a test tool.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A receiver that changes whenever the state does.
    pub(crate) fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.revision.subscribe()
    }

    /// Registers a socket on `account`; returns its id, its queue and its overflow token.
    pub(crate) fn register(
        &self,
        account: &str,
        consumer_id: Option<String>,
    ) -> (u64, mpsc::Receiver<Outgoing>, CancellationToken) {
        let id = self.next_connection.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let overflow = CancellationToken::new();
        let conn = Conn {
            account: account.to_owned(),
            consumer_id,
            tx,
            overflow: overflow.clone(),
            dialogs: HashSet::new(),
            ex_subscriptions: Vec::new(),
            agent: None,
        };
        self.with_state(|s| s.connections.insert(id, conn));
        (id, rx, overflow)
    }

    /// Forgets a socket (and its request budget, when it never authenticated).
    pub(crate) fn unregister(&self, id: u64) {
        self.with_state(|s| {
            s.connections.remove(&id);
            s.rates.forget_connection(id);
        });
    }
}

impl State {
    /// Queues a frame for one socket; a full queue marks the socket as too slow.
    pub(crate) fn send(&mut self, conn_id: u64, frame: String) {
        if let Some(conn) = self.connections.get(&conn_id) {
            if conn.tx.try_send(Outgoing::Frame(frame)).is_err() {
                conn.overflow.cancel();
            }
        }
    }

    /// Adds a conversation and returns its index; first forgets the oldest closed ones beyond
    /// `--keep-closed` (no caller holds a closed conversation's index across this call).
    pub(crate) fn add_conversation(&mut self, conversation: Conversation) -> usize {
        self.forget_closed();
        let open = conversation.is_open().then(|| owner(&conversation));
        let id = conversation.id.clone();
        let index = self.conversations.push(conversation);
        self.by_id.insert(id, index);
        if let Some(owner) = open {
            self.open_by_consumer.insert(owner, index);
        }
        index
    }

    /// Forgets the oldest closed conversations beyond `keep_closed`, and every trace of them:
    /// lookups, sockets' dialog and metadata subscriptions. Counted in the report.
    fn forget_closed(&mut self) {
        for (index, c) in self.conversations.forget_closed() {
            if self.by_id.get(&c.id) == Some(&index) {
                self.by_id.remove(&c.id);
            }
            for dialog in &c.dialogs {
                if self.by_dialog.get(&dialog.id) == Some(&index) {
                    self.by_dialog.remove(&dialog.id);
                }
            }
            let key = owner(&c);
            if self.open_by_consumer.get(&key) == Some(&index) {
                self.open_by_consumer.remove(&key);
            }
            for conn in self.connections.values_mut() {
                for dialog in &c.dialogs {
                    conn.dialogs.remove(&dialog.id);
                }
                for sub in &mut conn.ex_subscriptions {
                    sub.shown.remove(&c.id);
                }
                if let Some(agent) = &mut conn.agent {
                    for sub in &mut agent.ex_subscriptions {
                        sub.shown.remove(&c.id);
                    }
                }
            }
            self.rings.end_conversation(&c.id);
            self.journal.conversation_forgotten();
        }
    }

    /// Where dialog `dialog_id` is, whoever's it is (the agent side looks dialogs up so).
    pub(crate) fn dialog_at(&self, dialog_id: &str) -> Option<DialogAt> {
        let conv = self
            .conversation_index(dialog_id)
            .or_else(|| self.by_dialog.get(dialog_id).copied())?;
        let dialog = self.conversations[conv].dialog_index(dialog_id)?;
        Some(DialogAt { conv, dialog })
    }

    /// Index of the conversation with this id.
    pub(crate) fn conversation_index(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// Adds a dialog to a conversation (after MAIN) and returns where it is.
    pub(crate) fn add_dialog(&mut self, conv: usize, dialog: Dialog) -> DialogAt {
        self.by_dialog.insert(dialog.id.clone(), conv);
        let dialogs = &mut self.conversations[conv].dialogs;
        dialogs.push(dialog);
        DialogAt {
            conv,
            dialog: dialogs.len() - 1,
        }
    }

    /// The dialog `dialog_id` of a conversation of `consumer` on `account` (the MAIN dialog's
    /// id is the conversation's). Another account's conversation is not found, whoever asks.
    pub(crate) fn consumer_dialog(
        &self,
        account: &str,
        consumer: &str,
        dialog_id: &str,
    ) -> Option<DialogAt> {
        let conv = self
            .conversation_index(dialog_id)
            .or_else(|| self.by_dialog.get(dialog_id).copied())?;
        let c = &self.conversations[conv];
        if c.consumer_id != consumer || c.brand_id != account {
            return None;
        }
        c.dialog_index(dialog_id)
            .map(|dialog| DialogAt { conv, dialog })
    }

    /// Index of the open conversation of `consumer` on `account`.
    pub(crate) fn open_conversation_of(&self, account: &str, consumer: &str) -> Option<usize> {
        self.open_by_consumer
            .get(&(account.to_owned(), consumer.to_owned()))
            .copied()
            .filter(|&i| self.conversations[i].is_open())
    }

    /// Gives the open conversation of `from` on `account` (if any) to consumer `to`: its
    /// CONSUMER participant and owner change, its history stays, and metadata subscribers get
    /// an UPSERT (a step-up from an unauthenticated identity).
    pub(crate) fn transfer_open_conversation(&mut self, account: &str, from: &str, to: &str) {
        let Some(conv) = self.open_conversation_of(account, from) else {
            return;
        };
        self.open_by_consumer
            .remove(&(account.to_owned(), from.to_owned()));
        let c = &mut self.conversations[conv];
        c.consumer_id = to.to_owned();
        for p in c.participants.iter_mut().filter(|p| p.id == from) {
            p.id = to.to_owned();
        }
        c.last_update_ts = now_ms();
        self.open_by_consumer
            .insert((account.to_owned(), to.to_owned()), conv);
        self.notify_metadata(conv);
    }

    /// Closes a conversation, every dialog of it, and tells its metadata subscribers.
    pub(crate) fn close_conversation(&mut self, conv: usize, by: ClosedBy, cause: &str) {
        self.conversations[conv].close_all(by, cause);
        self.rings.end_conversation(&self.conversations[conv].id);
        self.forget_if_closed(conv);
        self.notify_metadata(conv);
    }

    /// Once every dialog of a conversation is closed, its consumer may open another, and it
    /// may be forgotten beyond `--keep-closed`.
    pub(crate) fn forget_if_closed(&mut self, conv: usize) {
        let conversation = &self.conversations[conv];
        if conversation.is_open() {
            return;
        }
        let key = owner(conversation);
        self.conversations.closed(conv);
        if self.open_by_consumer.get(&key) == Some(&conv) {
            self.open_by_consumer.remove(&key);
        }
    }
}

/// Who owns a conversation: its account and consumer.
fn owner(conversation: &Conversation) -> (String, String) {
    (
        conversation.brand_id.clone(),
        conversation.consumer_id.clone(),
    )
}

mod agents;
mod fanout;
mod routing;
#[cfg(test)]
mod tests;
