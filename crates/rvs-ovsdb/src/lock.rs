//! OVSDB locks (RFC 7047 section 4.1.8-4.1.10): named, advisory, one owner
//! at a time, owned by client sessions.
//!
//! Each lock has a queue of sessions; the first one owns it. `lock` joins
//! the back of the queue, `steal` the front (the old owner stays queued
//! behind it and gets `stolen`), `unlock` leaves the queue. When the owner
//! leaves, the next session in line becomes the owner and gets `locked`.
//! The server sends the notifications; this module only keeps the queues.

use std::collections::{HashMap, VecDeque};

/// A session, as the server numbers them.
pub type SessionId = u64;

/// Why a lock request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LockError {
    /// The session already owns or waits for the lock.
    #[error("session already requested lock \"{0}\"")]
    Duplicate(String),
}

/// Every lock and who owns or waits for it.
#[derive(Debug, Default)]
pub struct Locks {
    queues: HashMap<String, VecDeque<SessionId>>,
}

impl Locks {
    /// The session that owns `name`, if any.
    pub fn owner(&self, name: &str) -> Option<SessionId> {
        self.queues.get(name).and_then(|q| q.front().copied())
    }

    /// Queues `session` for `name`; true if it owns the lock now.
    pub fn lock(&mut self, name: &str, session: SessionId) -> Result<bool, LockError> {
        let q = self.queues.entry(name.to_string()).or_default();
        if q.contains(&session) {
            return Err(LockError::Duplicate(name.to_string()));
        }
        q.push_back(session);
        Ok(q.len() == 1)
    }

    /// Makes `session` the owner of `name` at once; returns the session it
    /// was taken from, which stays in line behind.
    pub fn steal(
        &mut self,
        name: &str,
        session: SessionId,
    ) -> Result<Option<SessionId>, LockError> {
        let q = self.queues.entry(name.to_string()).or_default();
        if q.contains(&session) {
            return Err(LockError::Duplicate(name.to_string()));
        }
        let victim = q.front().copied();
        q.push_front(session);
        Ok(victim)
    }

    /// Takes `session` out of `name`'s queue; returns the new owner if the
    /// lock changed hands.
    pub fn unlock(&mut self, name: &str, session: SessionId) -> Option<SessionId> {
        let q = self.queues.get_mut(name)?;
        let was_owner = q.front() == Some(&session);
        q.retain(|s| *s != session);
        let next = q.front().copied();
        if q.is_empty() {
            self.queues.remove(name);
        }
        if was_owner {
            next
        } else {
            None
        }
    }

    /// Takes `session` out of every queue (it disconnected); returns the
    /// locks that changed hands and their new owners.
    pub fn release_all(&mut self, session: SessionId) -> Vec<(String, SessionId)> {
        let names: Vec<String> = self
            .queues
            .iter()
            .filter(|(_, q)| q.contains(&session))
            .map(|(n, _)| n.clone())
            .collect();
        names.into_iter().filter_map(|n| self.unlock(&n, session).map(|s| (n, s))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_steal_and_hand_over() {
        let mut l = Locks::default();
        assert_eq!(l.lock("a", 1), Ok(true));
        assert_eq!(l.lock("a", 2), Ok(false));
        assert!(l.lock("a", 2).is_err());
        assert_eq!(l.owner("a"), Some(1));
        assert_eq!(l.steal("a", 3), Ok(Some(1)));
        assert_eq!(l.owner("a"), Some(3));
        // 2 waiting leaves without a hand-over.
        assert_eq!(l.unlock("a", 2), None);
        // The thief leaves: the victim gets it back.
        assert_eq!(l.release_all(3), vec![("a".to_string(), 1)]);
        assert_eq!(l.unlock("a", 1), None);
        assert_eq!(l.owner("a"), None);
        assert!(l.queues.is_empty());
    }
}
