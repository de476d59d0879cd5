//! [`Live`]: the simulated Messaging Window API as a socket's [`Service`]: requests go to the
//! handlers; a header-less client must authenticate within the InitConnection deadline; a
//! socket without traffic is closed at the idle deadline.

use tokio::time::Instant;

use super::{Idle, Service};
use crate::auth;
use crate::config::Timeouts;
use crate::conn::ConnCtx;
use crate::handler::{self, record_violation, Reply, CLOSE_UNAUTHORIZED};
use crate::hub::Hub;
use crate::validation::{Finding, Rule};

/// One live consumer socket.
#[derive(Debug)]
pub(crate) struct Live {
    ctx: ConnCtx,
    timeouts: Timeouts,
    /// When a client still unauthenticated is closed with 4401 (reference §1.2, option B).
    init_deadline: Instant,
    /// When a socket without traffic is closed (reference §1.4); moved by every frame.
    idle: Idle,
}

impl Live {
    /// A live session for `ctx`, its deadlines counted from now.
    pub(crate) fn new(ctx: ConnCtx, timeouts: Timeouts) -> Self {
        let now = Instant::now();
        Self {
            ctx,
            timeouts,
            init_deadline: now + timeouts.init_connection,
            idle: Idle::new(timeouts.idle),
        }
    }

    fn authenticated(&self) -> bool {
        self.ctx.consumer_id.is_some()
    }

    /// Whether the token's `exp` has passed (wall clock: `exp` is one).
    fn token_expired(&self) -> bool {
        self.ctx
            .expires_at
            .is_some_and(|exp| exp.saturating_mul(1000) <= crate::model::now_ms())
    }

    /// When the token expires (protocol overview: "When the API token expires, the WebSocket
    /// connection will be closed with 4401/4407"), on the loop's clock.
    fn token_expiry(&self) -> Option<Instant> {
        let exp_ms = self.ctx.expires_at?.saturating_mul(1000);
        let left = exp_ms.saturating_sub(crate::model::now_ms());
        Some(Instant::now() + std::time::Duration::from_millis(left))
    }
}

impl Service for Live {
    fn ctx(&self) -> &ConnCtx {
        &self.ctx
    }

    fn text(&mut self, hub: &Hub, text: &str) -> Reply {
        handler::handle_text(hub, &mut self.ctx, text)
    }

    fn binary(&mut self, hub: &Hub, data: &[u8]) -> Reply {
        handler::handle_binary(hub, &mut self.ctx, data.len())
    }

    fn deadline(&self) -> Option<Instant> {
        let deadline = if self.authenticated() {
            self.idle.deadline()
        } else {
            self.init_deadline.min(self.idle.deadline())
        };
        Some(self.token_expiry().map_or(deadline, |at| at.min(deadline)))
    }

    fn on_deadline(&mut self, hub: &Hub, now: Instant) -> Reply {
        if let (true, Some(consumer)) = (self.token_expired(), &self.ctx.consumer_id) {
            let (code, reason) = auth::expiry_close(consumer);
            return Reply::close(code, reason);
        }
        if !self.authenticated() && now >= self.init_deadline {
            let reason = format!(
                "InitConnection with a ConsumerAuthentication header not received within {:?}",
                self.timeouts.init_connection
            );
            let finding = Finding::violation(
                Rule::Auth,
                "InitConnection",
                serde_json::Value::Null,
                &*reason,
            );
            record_violation(hub, &self.ctx, (None, None), &finding, None);
            return Reply::close(CLOSE_UNAUTHORIZED, reason);
        }
        self.idle.expired(now).unwrap_or_default()
    }

    fn on_traffic(&mut self, now: Instant) {
        self.idle.touch(now);
    }
}
