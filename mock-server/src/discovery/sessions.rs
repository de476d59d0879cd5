//! Logged-in agents: who a bearer belongs to, until when, and the csrf and cookie that refresh
//! and log out its session. Pure state behind one short-held lock; the agent socket asks
//! [`Sessions::lookup`] when it connects with `/messaging/brand/{bearer}`.
//!
//! An agent's identity (the model's [`AgentIdentity`]) is derived from its account and login
//! name alone ([`AgentIdentity::of`]), so the same login name is the same agent across logins, restarts
//! and machines. Secrets (bearer, csrf, cookie) are random and never logged: this type has no
//! `Debug` that shows them.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::model::now_ms;
pub(crate) use crate::model::AgentIdentity;

/// Most sessions kept at once; a login beyond it (after expired ones are dropped) is refused
/// with 429, as LivePerson's login service answers too many logins.
pub(crate) const MAX_SESSIONS: usize = 10_000;

/// One login.
struct Session {
    identity: AgentIdentity,
    bearer: String,
    csrf: String,
    cookie: String,
    /// Epoch milliseconds; refresh moves it.
    expires_at: u64,
}

/// What a new login got: the secrets to hand to the client.
pub(crate) struct Issued {
    pub(crate) identity: AgentIdentity,
    pub(crate) bearer: String,
    pub(crate) csrf: String,
    pub(crate) cookie: String,
}

/// Why refresh or logout was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionError {
    /// No session has this cookie (never issued, logged out, or expired).
    UnknownSession,
    /// The session exists but the csrf is not its own.
    WrongCsrf,
    /// The session is another account's.
    OtherAccount,
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SessionError::UnknownSession => {
                "session unauthorized: no live session has this session_id cookie (log in again)"
            }
            SessionError::WrongCsrf => "session unauthorized: csrf does not match the session",
            SessionError::OtherAccount => "session unauthorized: the session is another account's",
        })
    }
}

/// Every live agent session, by bearer.
pub(crate) struct Sessions {
    by_bearer: Mutex<HashMap<String, Session>>,
    validity: Duration,
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions")
            .field("live", &self.lock().len())
            .field("validity", &self.validity)
            .finish()
    }
}

impl Sessions {
    /// No sessions; each lives `validity` after its login or last refresh.
    pub(crate) fn new(validity: Duration) -> Self {
        Self {
            by_bearer: Mutex::new(HashMap::new()),
            validity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        self.by_bearer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn deadline(&self, now: u64) -> u64 {
        now.saturating_add(u64::try_from(self.validity.as_millis()).unwrap_or(u64::MAX))
    }

    /// Who `bearer` belongs to, while its session lives: what the agent socket calls with
    /// the token in its path. `None` for an unknown, logged-out or expired bearer.
    pub(crate) fn lookup(&self, bearer: &str) -> Option<AgentIdentity> {
        let now = now_ms();
        self.lock()
            .get(bearer)
            .filter(|s| s.expires_at > now)
            .map(|s| s.identity.clone())
    }

    /// Starts a session for `identity` with fresh secrets; `None` when [`MAX_SESSIONS`] live.
    pub(crate) fn login(&self, identity: AgentIdentity, secrets: [String; 3]) -> Option<Issued> {
        let now = now_ms();
        let [bearer, csrf, cookie] = secrets;
        let mut sessions = self.lock();
        sessions.retain(|_, s| s.expires_at > now);
        if sessions.len() >= MAX_SESSIONS {
            return None;
        }
        let session = Session {
            identity: identity.clone(),
            bearer: bearer.clone(),
            csrf: csrf.clone(),
            cookie: cookie.clone(),
            expires_at: self.deadline(now),
        };
        sessions.insert(bearer.clone(), session);
        Some(Issued {
            identity,
            bearer,
            csrf,
            cookie,
        })
    }

    /// Extends the session of `cookie` on `account` (its csrf must match): the same bearer
    /// stays valid another validity period. Returns its identity.
    pub(crate) fn refresh(
        &self,
        account: &str,
        cookie: &str,
        csrf: &str,
    ) -> Result<AgentIdentity, SessionError> {
        let now = now_ms();
        let deadline = self.deadline(now);
        let mut sessions = self.lock();
        let session = find(&mut sessions, account, cookie, csrf, now)?;
        session.expires_at = deadline;
        Ok(session.identity.clone())
    }

    /// Ends the session of `cookie` on `account` (its csrf must match): its bearer is no
    /// longer valid.
    pub(crate) fn logout(
        &self,
        account: &str,
        cookie: &str,
        csrf: &str,
    ) -> Result<AgentIdentity, SessionError> {
        let now = now_ms();
        let mut sessions = self.lock();
        let bearer = find(&mut sessions, account, cookie, csrf, now)?
            .bearer
            .clone();
        sessions
            .remove(&bearer)
            .map(|s| s.identity)
            .ok_or(SessionError::UnknownSession)
    }
}

/// The live session with this cookie, checked against `account` and `csrf`.
fn find<'a>(
    sessions: &'a mut HashMap<String, Session>,
    account: &str,
    cookie: &str,
    csrf: &str,
    now: u64,
) -> Result<&'a mut Session, SessionError> {
    let session = sessions
        .values_mut()
        .find(|s| s.cookie == cookie && s.expires_at > now)
        .ok_or(SessionError::UnknownSession)?;
    if session.identity.account != account {
        return Err(SessionError::OtherAccount);
    }
    if session.csrf != csrf {
        return Err(SessionError::WrongCsrf);
    }
    Ok(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(tag: &str) -> [String; 3] {
        [format!("b-{tag}"), format!("c-{tag}"), format!("s-{tag}")]
    }

    #[test]
    fn identities_are_stable_per_account_and_login_name() {
        let a = AgentIdentity::of("12345678", "bot");
        assert_eq!(a, AgentIdentity::of("12345678", "bot"));
        assert_ne!(a.user_id, AgentIdentity::of("12345678", "bot2").user_id);
        assert_ne!(a.user_pid, AgentIdentity::of("87654321", "bot").user_pid);
        assert_eq!(a.user_id.len(), 10);
        assert!(a.user_id.bytes().all(|b| b.is_ascii_digit()));
        assert!(uuid::Uuid::parse_str(&a.user_pid).is_ok());
        assert_eq!(a.old_id(), format!("12345678.{}", a.user_id));
    }

    #[test]
    fn a_session_is_found_by_bearer_refreshed_and_logged_out() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let issued = sessions
            .login(AgentIdentity::of("1", "bot"), secrets("1"))
            .unwrap();
        assert_eq!(sessions.lookup("b-1").unwrap().login_name, "bot");
        assert_eq!(sessions.lookup("nope"), None);
        assert_eq!(
            sessions.refresh("1", "s-1", "wrong"),
            Err(SessionError::WrongCsrf)
        );
        assert_eq!(
            sessions.refresh("2", "s-1", "c-1"),
            Err(SessionError::OtherAccount)
        );
        assert_eq!(
            sessions.refresh("1", "s-x", "c-1"),
            Err(SessionError::UnknownSession)
        );
        assert_eq!(
            sessions.refresh("1", "s-1", "c-1").unwrap(),
            issued.identity
        );
        assert!(sessions.logout("1", "s-1", "c-1").is_ok());
        assert_eq!(sessions.lookup("b-1"), None);
        assert_eq!(
            sessions.logout("1", "s-1", "c-1"),
            Err(SessionError::UnknownSession)
        );
    }

    #[test]
    fn expired_sessions_are_gone() {
        let sessions = Sessions::new(Duration::ZERO);
        sessions
            .login(AgentIdentity::of("1", "bot"), secrets("1"))
            .unwrap();
        assert_eq!(sessions.lookup("b-1"), None);
        assert_eq!(
            sessions.refresh("1", "s-1", "c-1"),
            Err(SessionError::UnknownSession)
        );
    }

    #[test]
    fn debug_shows_no_secret() {
        let sessions = Sessions::new(Duration::from_secs(60));
        sessions
            .login(AgentIdentity::of("1", "bot"), secrets("secret"))
            .unwrap();
        assert!(!format!("{sessions:?}").contains("secret"));
    }
}
