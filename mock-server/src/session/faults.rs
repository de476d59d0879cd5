//! A socket's fault engine on the loop's clock: the pure engine of `wiretape_fixtures::fault`
//! is told times as durations since the socket opened; this turns them into instants for the
//! loop's timer and logs every fault that fires.

use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use wiretape_fixtures::fault::{ConnectionFaults, Fired, FrameFate};
use wiretape_fixtures::frame::Sender;

use crate::hub::Hub;

/// The fault engine of one socket.
pub(super) struct SocketFaults {
    engine: ConnectionFaults,
    /// When the socket opened (the upgrade completed): what `after` counts from.
    opened: Instant,
    /// The hub's connection id, for the log.
    connection: u64,
}

impl SocketFaults {
    /// The engine of a socket opening now, with the server's rules as they are now.
    pub(super) fn new(hub: &Hub, connection: u64) -> Self {
        Self {
            engine: hub.faults.connection(),
            opened: Instant::now(),
            connection,
        }
    }

    /// When a connection fault is next due.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.engine.next_due().map(|after| self.opened + after)
    }

    /// The connection fault that fires now, if any.
    pub(super) fn due(&mut self) -> Option<Fired> {
        let fired = self.engine.due(self.opened.elapsed());
        if let Some(fired) = &fired {
            self.log(fired, Sender::Server);
        }
        fired
    }

    /// What happens to a data frame `from` one side (control frames are never touched).
    pub(super) fn frame(&mut self, from: Sender, message: &Message) -> FrameFate {
        if self.engine.is_empty() {
            return FrameFate::Pass;
        }
        let text = match message {
            Message::Text(text) => Some(text.as_str()),
            Message::Binary(_) => None,
            _ => return FrameFate::Pass,
        };
        let fate = self.engine.frame(self.opened.elapsed(), from, text);
        match &fate {
            FrameFate::Pass => {}
            FrameFate::Delay(_, fired) | FrameFate::Duplicate(fired) | FrameFate::Drop(fired) => {
                self.log(fired, from);
            }
        }
        fate
    }

    fn log(&self, fired: &Fired, from: Sender) {
        let side = match from {
            Sender::Client => "a client frame",
            Sender::Server => "the server side",
        };
        tracing::info!(
            connection = self.connection,
            rule = %fired.rule,
            "fault fired on {side}"
        );
    }
}
