//! [`Conversations`]: every conversation the mock remembers, by its creation index, which stays
//! the conversation's handle for its whole life (`DialogAt::conv`, the hub's lookups) even
//! after older closed conversations are forgotten (`--keep-closed`).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::ops::{Index, IndexMut};

use super::Conversation;

/// Conversations in creation order, and the closed ones in the order they closed.
#[derive(Debug)]
pub(crate) struct Conversations {
    by_index: BTreeMap<usize, Conversation>,
    /// The index the next conversation gets.
    next: usize,
    /// Closed conversations, oldest closed first: the next to forget.
    closed: VecDeque<usize>,
    /// The same indexes, so a conversation is queued once however often it is seen closed.
    queued: HashSet<usize>,
    /// Closed conversations kept (`--keep-closed`).
    keep_closed: usize,
}

impl Default for Conversations {
    fn default() -> Self {
        Self::keeping_closed(crate::Retention::default().closed_conversations)
    }
}

impl Conversations {
    /// None yet; at most `keep_closed` closed ones are kept.
    pub(crate) fn keeping_closed(keep_closed: usize) -> Self {
        Self {
            by_index: BTreeMap::new(),
            next: 0,
            closed: VecDeque::new(),
            queued: HashSet::new(),
            keep_closed,
        }
    }

    /// Adds a conversation; returns its index.
    pub(crate) fn push(&mut self, conversation: Conversation) -> usize {
        let index = self.next;
        self.by_index.insert(index, conversation);
        self.next += 1;
        index
    }

    /// The conversations remembered, oldest first.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = &Conversation> {
        self.by_index.values()
    }

    /// Their indexes, oldest first.
    pub(crate) fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.by_index.keys().copied()
    }

    /// The newest.
    pub(crate) fn last(&self) -> Option<&Conversation> {
        self.by_index.values().next_back()
    }

    /// Marks conversation `index` as closed (every dialog closed): it may be forgotten later.
    pub(crate) fn closed(&mut self, index: usize) {
        if self.by_index.contains_key(&index) && self.queued.insert(index) {
            self.closed.push_back(index);
        }
    }

    /// Removes the oldest closed conversations beyond `keep_closed` (skipping any that opened
    /// again) and returns them with their indexes.
    pub(crate) fn forget_closed(&mut self) -> Vec<(usize, Conversation)> {
        let mut forgotten = Vec::new();
        while self.closed.len() > self.keep_closed {
            let Some(index) = self.closed.pop_front() else {
                break;
            };
            self.queued.remove(&index);
            if self.by_index.get(&index).is_some_and(|c| !c.is_open()) {
                if let Some(c) = self.by_index.remove(&index) {
                    forgotten.push((index, c));
                }
            }
        }
        forgotten
    }
}

impl Index<usize> for Conversations {
    type Output = Conversation;

    /// # Panics
    /// When no conversation has this index: indexes come from the hub's lookups, made under
    /// the same lock, and a conversation is only forgotten when the next one is added.
    fn index(&self, index: usize) -> &Conversation {
        &self.by_index[&index]
    }
}

impl IndexMut<usize> for Conversations {
    fn index_mut(&mut self, index: usize) -> &mut Conversation {
        self.by_index
            .get_mut(&index)
            .unwrap_or_else(|| panic!("no conversation {index}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ClosedBy;

    fn conversation(n: usize) -> Conversation {
        Conversation::new(format!("c{n}"), "consumer".into(), "1".into(), "-1".into())
    }

    #[test]
    fn forgets_the_oldest_closed_and_keeps_indexes_and_open_ones() {
        let mut all = Conversations::keeping_closed(1);
        for n in 0..5 {
            assert_eq!(all.push(conversation(n)), n);
        }
        for n in [3, 0, 1] {
            all[n].close_all(ClosedBy::Consumer, "done");
            all.closed(n);
            all.closed(n);
        }
        let forgotten: Vec<usize> = all.forget_closed().into_iter().map(|(i, _)| i).collect();
        assert_eq!(forgotten, [3, 0], "oldest closed first, each once");
        assert_eq!(all.indices().collect::<Vec<_>>(), [1, 2, 4]);
        assert_eq!(all[4].id, "c4", "indexes stay");
        assert_eq!(all.push(conversation(5)), 5);
        assert_eq!(all.last().map(|c| c.id.as_str()), Some("c5"));
        all[4].close_all(ClosedBy::Consumer, "done");
        all.closed(4);
        let forgotten: Vec<usize> = all.forget_closed().into_iter().map(|(i, _)| i).collect();
        assert_eq!(forgotten, [1]);
        assert_eq!(
            all.indices().collect::<Vec<_>>(),
            [2, 4, 5],
            "open ones are never forgotten"
        );
    }
}
