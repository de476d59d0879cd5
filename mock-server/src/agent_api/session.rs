//! [`AgentSession`]: an agent socket as a `session::Service`. The agent was named by the
//! bearer in the URL, so there is no InitConnection; a socket without traffic closes at the
//! idle deadline (the SDK pings every 60 s); when the socket ends, its rings go to others.

use tokio::time::Instant;

use crate::config::Timeouts;
use crate::conn::ConnCtx;
use crate::handler::{self, Reply};
use crate::hub::{AgentConn, Hub};
use crate::session::{Idle, Service};

/// One live agent socket.
#[derive(Debug)]
pub(crate) struct AgentSession {
    ctx: ConnCtx,
    /// When a socket without traffic is closed; moved by every frame.
    idle: Idle,
}

impl AgentSession {
    /// Registers the agent of `ctx` (OFFLINE, no subscriptions) with the hub.
    pub(crate) fn new(hub: &Hub, ctx: ConnCtx, timeouts: Timeouts) -> Self {
        if let Some(identity) = ctx.agent.clone() {
            hub.with_state(|s| {
                s.agents.insert(identity.user_pid.clone(), identity.clone());
                if let Some(conn) = s.connections.get_mut(&ctx.id) {
                    conn.agent = Some(AgentConn::new(identity));
                }
            });
        }
        Self {
            ctx,
            idle: Idle::new(timeouts.idle),
        }
    }
}

impl Service for AgentSession {
    fn ctx(&self) -> &ConnCtx {
        &self.ctx
    }

    fn text(&mut self, hub: &Hub, text: &str) -> Reply {
        crate::agent_api::handle_text(hub, &self.ctx, text)
    }

    fn binary(&mut self, hub: &Hub, data: &[u8]) -> Reply {
        handler::handle_binary(hub, &mut self.ctx, data.len())
    }

    fn deadline(&self) -> Option<Instant> {
        Some(self.idle.deadline())
    }

    fn on_deadline(&mut self, _hub: &Hub, now: Instant) -> Reply {
        self.idle.expired(now).unwrap_or_default()
    }

    fn on_traffic(&mut self, now: Instant) {
        self.idle.touch(now);
    }

    fn on_end(&mut self, hub: &Hub) {
        hub.with_state(|s| s.agent_gone(self.ctx.id));
    }
}
