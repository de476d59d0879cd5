//! [`ConnCtx`]: who is on one socket, as every handler and every record sees it.

/// The consumer id records and the replay ledger use for a client that never authenticated
/// (a replayed recording's consumer id came from a token that was redacted).
pub(crate) const CONSUMER: &str = "consumer";

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
}

impl ConnCtx {
    /// The consumer to name in a record: the authenticated one, or the replay ledger's
    /// stand-in when a replayed client never authenticated.
    pub(crate) fn consumer(&self) -> &str {
        self.consumer_id.as_deref().unwrap_or(CONSUMER)
    }
}
