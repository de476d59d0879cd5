//! Which end is which: [`Peer`], [`Direction`], and who [`EndedBy`] a connection.

use crate::error::Side;

/// One end of a relayed connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// The client that connected to the proxy.
    Client,
    /// The upstream the proxy dialled.
    Upstream,
}

impl Peer {
    /// The other end.
    pub fn other(self) -> Self {
        match self {
            Peer::Client => Peer::Upstream,
            Peer::Upstream => Peer::Client,
        }
    }

    /// `client` or `upstream`, as messages name it.
    pub fn name(self) -> &'static str {
        match self {
            Peer::Client => "client",
            Peer::Upstream => "upstream",
        }
    }
}

/// Which way frames go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the client to the upstream.
    ClientToUpstream,
    /// From the upstream to the client.
    UpstreamToClient,
}

impl Direction {
    /// The peer the frames come from.
    pub fn source(self) -> Peer {
        match self {
            Direction::ClientToUpstream => Peer::Client,
            Direction::UpstreamToClient => Peer::Upstream,
        }
    }

    /// The peer the frames go to.
    pub fn destination(self) -> Peer {
        self.source().other()
    }
}

/// Who ended a relayed connection first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    /// The client: its close frame, or it went away.
    Client,
    /// The upstream: its close frame, or it went away.
    Upstream,
    /// The proxy: shutdown, an oversized frame, or a failure before the relay began.
    Proxy,
}

impl From<Peer> for EndedBy {
    fn from(peer: Peer) -> Self {
        match peer {
            Peer::Client => EndedBy::Client,
            Peer::Upstream => EndedBy::Upstream,
        }
    }
}

impl From<Peer> for Side {
    fn from(peer: Peer) -> Self {
        match peer {
            Peer::Client => Side::Client,
            Peer::Upstream => Side::Upstream,
        }
    }
}
