//! Every network phase has a named deadline ([`Timeouts`]); [`with_timeout`] turns a passed
//! deadline into an [`Error`] of that phase.

use std::time::Duration;

use crate::error::{Error, Phase, Side};

/// Deadlines of each network phase of a connection.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TLS handshake with the client, and with the upstream.
    pub tls_handshake: Duration,
    /// TCP connect to the upstream.
    pub connect: Duration,
    /// Reading the client's upgrade request, and waiting for the upstream's answer to it.
    pub upgrade: Duration,
    /// A forward proxy's HTTP exchange: from sending the request to the answer's head.
    pub response: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            tls_handshake: Duration::from_secs(10),
            connect: Duration::from_secs(10),
            upgrade: Duration::from_secs(15),
            response: Duration::from_secs(60),
        }
    }
}

/// A phase's deadline passed.
#[derive(Debug, thiserror::Error)]
#[error("timed out after {0:?}")]
pub struct TimedOut(pub Duration);

/// Awaits `fut` for at most `after`, turning the elapsed deadline into an [`Error`] of `phase`.
pub(crate) async fn with_timeout<T, E>(
    side: Side,
    phase: Phase,
    after: Duration,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, Error>
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match tokio::time::timeout(after, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Error::new(side, phase, e)),
        Err(_) => Err(Error::new(side, phase, TimedOut(after))),
    }
}
