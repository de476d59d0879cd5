//! [`ConnCtx`]: who is on one socket, as every handler and every record sees it.

use serde::{Deserialize, Serialize};

use crate::auth::Identity;
use crate::client_properties::ClientProperties;
use crate::model::AgentIdentity;

/// The consumer id records and the replay ledger use for a client that never authenticated
/// (a replayed recording's consumer id came from a token that was redacted).
pub(crate) const CONSUMER: &str = "consumer";

/// Which kind of socket a record came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// A consumer socket (`/messaging/consumer`).
    #[default]
    Consumer,
    /// An agent socket (`/messaging/brand/{bearer}`).
    Agent,
}

impl Side {
    pub(crate) fn is_consumer(&self) -> bool {
        *self == Side::Consumer
    }
}

/// Who connected, as the upgrade request said: what a session starts with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Peer {
    /// The account in the socket's path.
    pub account: String,
    /// The consumer and its token's expiry, when the upgrade was authenticated.
    pub identity: Option<Identity>,
    /// The `Client-Properties` header and query parameters, when given.
    pub client_properties: Option<ClientProperties>,
    /// The agent a bearer in the path names, on an agent socket.
    pub agent: Option<AgentIdentity>,
}

/// What one socket knows about itself while serving a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnCtx {
    /// The connection number (from 1, in accept order).
    pub id: u64,
    /// The account in the socket's path, `/ws_api/account/{account}/...`.
    pub account: String,
    /// The authenticated consumer, once known.
    pub consumer_id: Option<String>,
    /// When its token expires (the JWT's `exp`, epoch seconds), if ever.
    pub expires_at: Option<u64>,
    /// What the client said about itself (upgrade header, query, InitConnection); features
    /// such as `MULTI_DIALOG` change what the mock sends it.
    pub client_properties: Option<ClientProperties>,
    /// The agent on an agent socket (`/messaging/brand/{bearer}`); `None` on a consumer's.
    pub agent: Option<AgentIdentity>,
}

impl ConnCtx {
    /// Which side the socket is, and the agent's participant id on the agent side.
    pub(crate) fn side(&self) -> (Side, Option<String>) {
        match &self.agent {
            Some(agent) => (Side::Agent, Some(agent.user_pid.clone())),
            None => (Side::Consumer, None),
        }
    }

    /// The consumer to name in a record: the authenticated one, or the replay ledger's
    /// stand-in when a replayed client never authenticated.
    pub(crate) fn consumer(&self) -> &str {
        self.consumer_id.as_deref().unwrap_or(CONSUMER)
    }

    /// Whether the client announced `feature`.
    pub(crate) fn has_feature(&self, feature: &str) -> bool {
        self.client_properties
            .as_ref()
            .is_some_and(|p| p.has_feature(feature))
    }
}
