//! The agent side's part of the model: who an agent is ([`AgentIdentity`]), whether it takes
//! conversations ([`Availability`]), and the rings that offer it one ([`Rings`]). Pure: the
//! clock is passed in, nothing here sends anything.

use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;

/// Namespace of the ids derived from a bearer no login issued (a UUIDv5 of account and bearer).
const BEARER_NAMESPACE: Uuid = Uuid::from_u128(0x6b1f_3c2e_8d4a_5e9f_a1b2_c3d4_e5f6_0718);

/// Namespace of the built-in agent's id (a UUIDv5 of the account in it).
const AGENT_NAMESPACE: Uuid = Uuid::from_u128(0x29c3_019d_fe0b_5200_afe8_737a_bfea_e4b4);

/// The built-in agent's participant id on `account`: stable, and different per account, as
/// a real agent's user id is.
pub(crate) fn built_in_agent_id(account: &str) -> String {
    Uuid::new_v5(&AGENT_NAMESPACE, account.as_bytes()).to_string()
}

/// An agent as LivePerson names it: the login's `config.userId` (numeric) and `config.userPid`
/// (a UUID, the SDK's `agentId`), on one account, under a login name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AgentIdentity {
    pub account: String,
    /// The numeric user id; the agent's "old id" is `"{account}.{user_id}"`.
    pub user_id: String,
    /// The participant id: `originatorPId`, `participantsPId`, the conversation's participants.
    pub user_pid: String,
    /// The login name (`username` of the login request).
    pub login_name: String,
}

/// Namespace of logged-in agents' `userPid`s (a UUIDv5 of account and login name).
const LOGIN_NAMESPACE: Uuid = Uuid::from_u128(0x7a9e_1c44_0b2d_5f3e_8a61_c4d2_e0f9_3b17);

impl AgentIdentity {
    /// The identity of `login_name` on `account`, as the login service issues it: the same
    /// inputs always give the same ids, across logins, restarts and machines.
    pub(crate) fn of(account: &str, login_name: &str) -> Self {
        let pid = Uuid::new_v5(
            &LOGIN_NAMESPACE,
            format!("{account}\n{login_name}").as_bytes(),
        );
        let bytes = pid.as_bytes();
        let n = u64::from_be_bytes([
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[8], bytes[9],
        ]);
        Self {
            account: account.to_owned(),
            login_name: login_name.to_owned(),
            user_id: (1_000_000_000 + n % 9_000_000_000).to_string(),
            user_pid: pid.to_string(),
        }
    }

    /// The identity of a bearer no login issued (token mode, a hand-made URL): stable for the
    /// same account and bearer, different for different ones. The bearer itself is never part
    /// of it, only a hash (UUIDv5) of it.
    pub(crate) fn derived(account: &str, bearer: &str) -> Self {
        let pid = Uuid::new_v5(&BEARER_NAMESPACE, format!("{account}/{bearer}").as_bytes());
        let user_pid = pid.to_string();
        let user_id = user_id_of(&user_pid);
        Self {
            account: account.to_owned(),
            login_name: format!("agent-{user_id}"),
            user_id,
            user_pid,
        }
    }

    /// The built-in agent (`--agent auto`, scenarios, control API) as an identity: its
    /// participant id is the one consumers already see.
    pub(crate) fn built_in(account: &str, pid: &str) -> Self {
        Self {
            account: account.to_owned(),
            user_id: user_id_of(pid),
            user_pid: pid.to_owned(),
            login_name: "wiretape".to_owned(),
        }
    }

    /// `"{account}.{userId}"`: the id the agent API's `participants`, `agentIds` and
    /// `originatorId` use.
    pub(crate) fn old_id(&self) -> String {
        format!("{}.{}", self.account, self.user_id)
    }
}

/// A ten-digit user id derived from a participant id, for agents whose user id is not known
/// otherwise (as LivePerson's are: `1111111111` in the SDK's own samples).
pub(crate) fn user_id_of(pid: &str) -> String {
    let hash = Uuid::new_v5(&BEARER_NAMESPACE, pid.as_bytes()).as_u128();
    format!("{}", 1_000_000_000 + hash % 9_000_000_000)
}

/// `.ams.routing.SetAgentState` `availability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Availability {
    /// Takes rings.
    Online,
    /// Connected, takes no rings (greeting-bot's state).
    Away,
    /// Between conversations, takes no rings.
    BackSoon,
    /// Takes no rings (also the state of a socket that never set one).
    #[default]
    Offline,
    /// Busy, takes no rings.
    Occupied,
}

impl Availability {
    /// Parses the wire name (`ONLINE`, `AWAY`, `BACK_SOON`, `OFFLINE`, `OCCUPIED`).
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ONLINE" => Self::Online,
            "AWAY" => Self::Away,
            "BACK_SOON" => Self::BackSoon,
            "OFFLINE" => Self::Offline,
            "OCCUPIED" => Self::Occupied,
            _ => return None,
        })
    }

    /// The wire name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Online => "ONLINE",
            Self::Away => "AWAY",
            Self::BackSoon => "BACK_SOON",
            Self::Offline => "OFFLINE",
            Self::Occupied => "OCCUPIED",
        }
    }
}

/// Where a ring stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RingState {
    /// Offered, not answered yet.
    Waiting,
    /// Refused by its agent; kept until it expires so the agent is not rung again at once.
    Rejected,
}

/// A conversation offered to one agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ring {
    /// `{conversationId}_{account}_{ms}`, the shape of the SDK's samples.
    pub id: String,
    pub conversation_id: String,
    /// The connection of the agent it rings.
    pub conn: u64,
    pub state: RingState,
    /// When it expires, on the server's clock (tests may pause it).
    pub expires_at: Instant,
    /// When it expires, epoch ms: the wire's `ringExpiration`.
    pub expiration_ms: u64,
}

/// Every open ring, and how long a ring waits for an answer.
#[derive(Debug, Default)]
pub(crate) struct Rings {
    rings: Vec<Ring>,
    ttl: Duration,
    /// Makes ids unique when two rings start in the same millisecond.
    minted: u64,
    /// Bumped by every change, so whoever keeps time for the rings knows when to look again.
    generation: u64,
}

impl Rings {
    /// No rings; each new one waits `ttl` for an answer.
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            ..Self::default()
        }
    }

    /// Rings the agent on `conn` for a conversation, at `now` (`now_ms` on the wall clock).
    pub(crate) fn ring(
        &mut self,
        (conversation_id, account): (&str, &str),
        conn: u64,
        (now, now_ms): (Instant, u64),
    ) -> &Ring {
        self.minted += 1;
        self.generation += 1;
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        self.rings.push(Ring {
            id: format!("{conversation_id}_{account}_{}", now_ms + self.minted),
            conversation_id: conversation_id.to_owned(),
            conn,
            state: RingState::Waiting,
            expires_at: now + self.ttl,
            expiration_ms: now_ms.saturating_add(ttl_ms),
        });
        &self.rings[self.rings.len() - 1]
    }

    /// Whether the conversation has any ring (waiting or rejected).
    pub(crate) fn rings_conversation(&self, conversation_id: &str) -> bool {
        self.rings
            .iter()
            .any(|r| r.conversation_id == conversation_id)
    }

    /// The waiting ring `ring_id` of the agent on `conn`.
    pub(crate) fn waiting(&self, ring_id: &str, conn: u64) -> Option<&Ring> {
        self.rings
            .iter()
            .find(|r| r.id == ring_id && r.conn == conn && r.state == RingState::Waiting)
    }

    /// Changes with every ring started, ended or expired.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Marks a ring rejected.
    pub(crate) fn reject(&mut self, ring_id: &str) {
        for ring in self.rings.iter_mut().filter(|r| r.id == ring_id) {
            ring.state = RingState::Rejected;
        }
    }

    /// Ends every ring of a conversation (accepted, closed, assigned otherwise).
    pub(crate) fn end_conversation(&mut self, conversation_id: &str) {
        self.generation += 1;
        self.rings.retain(|r| r.conversation_id != conversation_id);
    }

    /// Ends every ring of a connection (its socket closed).
    pub(crate) fn end_connection(&mut self, conn: u64) {
        self.generation += 1;
        self.rings.retain(|r| r.conn != conn);
    }

    /// When the next ring expires.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.rings.iter().map(|r| r.expires_at).min()
    }

    /// Removes the rings expired at `now`; returns them.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<Ring> {
        self.generation += 1;
        let (expired, kept) = std::mem::take(&mut self.rings)
            .into_iter()
            .partition(|r| r.expires_at <= now);
        self.rings = kept;
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_derived_identity_is_stable_and_hides_the_bearer() {
        let a = AgentIdentity::derived("123", "secret-bearer");
        assert_eq!(a, AgentIdentity::derived("123", "secret-bearer"));
        assert_ne!(
            a.user_pid,
            AgentIdentity::derived("124", "secret-bearer").user_pid
        );
        assert_eq!(a.user_id.len(), 10);
        assert!(a.old_id().starts_with("123."));
        assert!(!format!("{a:?}").contains("secret"));
    }

    #[test]
    fn rings_expire_at_their_deadline_and_only_then() {
        let mut rings = Rings::new(Duration::from_secs(30));
        let now = Instant::now();
        let id = rings.ring(("c1", "123"), 7, (now, 1_000)).id.clone();
        assert!(id.starts_with("c1_123_"));
        assert_eq!(rings.waiting(&id, 7).unwrap().expiration_ms, 31_000);
        assert!(rings.waiting(&id, 8).is_none());
        assert!(rings.expire(now + Duration::from_secs(29)).is_empty());
        assert_eq!(rings.next_expiry(), Some(now + Duration::from_secs(30)));
        assert_eq!(rings.expire(now + Duration::from_secs(30)).len(), 1);
        assert!(!rings.rings_conversation("c1"));
    }

    #[test]
    fn a_rejected_ring_is_not_waiting_but_still_rings_the_conversation() {
        let mut rings = Rings::new(Duration::from_secs(1));
        let id = rings.ring(("c", "a"), 1, (Instant::now(), 0)).id.clone();
        rings.reject(&id);
        assert!(rings.waiting(&id, 1).is_none());
        assert!(rings.rings_conversation("c"));
        rings.end_conversation("c");
        assert!(!rings.rings_conversation("c"));
    }
}
