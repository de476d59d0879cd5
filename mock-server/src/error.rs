//! Tool errors: the mock could not start or a handle could not act. A client's bad input is
//! never an [`Error`]; it is answered on the socket and recorded (see [`crate::validation`]).

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the mock server could not start, or a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Binding the listen address failed.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A listener handed to the builder could not be used.
    #[error("cannot use the given listener")]
    Listener(#[source] std::io::Error),
    /// The TLS configuration could not be built.
    #[error("cannot set up TLS")]
    Tls(#[from] wiretape_fixtures::pki::PkiError),
    /// A scenario file could not be read.
    #[error("cannot read the scenario file {path}")]
    ScenarioRead {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A scenario is not valid JSON of the documented shape.
    #[error("invalid scenario {origin}")]
    ScenarioParse {
        /// Where it came from (a path, or `<string>`).
        origin: String,
        /// The cause, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A report could not be written.
    #[error("cannot write the report to {path}")]
    Report {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Why the simulated agent could not do what a handle, the control API or a scenario asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// No conversation has this id.
    #[error("no conversation {0}")]
    UnknownConversation(String),
    /// No conversation exists yet (for "the latest conversation").
    #[error("no conversation has been created yet")]
    NoConversation,
    /// The conversation is closed.
    #[error("conversation {0} is closed")]
    ConversationClosed(String),
    /// The agent has not joined the conversation (the live service answers
    /// "Agent does not exist in conversation").
    #[error("the agent has not joined conversation {0}")]
    NotJoined(String),
    /// A receipt needs at least one sequence.
    #[error("a receipt needs at least one sequence")]
    EmptySequenceList,
    /// The event to publish is not a JSON object with a `type`.
    #[error("the event must be a JSON object with a \"type\"")]
    BadEvent,
}
