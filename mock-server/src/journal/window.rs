//! [`Window`]: the last N records of one kind kept in memory, numbered by their global
//! position, with the count of older ones dropped; and [`Page`], one page of it as the control
//! API serves it (`?since=INDEX&limit=N`).

use std::collections::VecDeque;

/// The newest `keep` records (oldest first) and how many came before them.
#[derive(Debug)]
pub(crate) struct Window<T> {
    records: VecDeque<T>,
    /// Records ever pushed (the next record's index).
    total: usize,
    keep: usize,
}

/// What a page request asks for: records from index `since` on, at most `limit` of them.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PageRequest {
    pub since: usize,
    pub limit: Option<usize>,
}

/// One page of a [`Window`].
#[derive(Debug)]
pub struct Page<T> {
    /// The records, oldest first.
    pub records: Vec<T>,
    /// Records ever recorded (kept or dropped, every account).
    pub total: usize,
    /// Records dropped from memory (the oldest; every account); their indexes are
    /// `0..dropped`.
    pub dropped: usize,
    /// Where the next poll starts: one past the last record this page looked at.
    pub next: usize,
    /// Whether `limit` cut the page short (more records match from `next` on).
    pub more: bool,
}

impl<T> Window<T> {
    /// An empty window keeping at most `keep` records (at least one).
    pub(crate) fn new(keep: usize) -> Self {
        Self {
            records: VecDeque::new(),
            total: 0,
            keep: keep.max(1),
        }
    }

    /// The index the next record gets.
    pub(crate) fn next_index(&self) -> usize {
        self.total
    }

    /// Keeps `record` (its index must be [`Window::next_index`]), dropping the oldest when
    /// full.
    pub(crate) fn push(&mut self, record: T) {
        if self.records.len() == self.keep {
            self.records.pop_front();
        }
        self.records.push_back(record);
        self.total += 1;
    }

    /// Records dropped from memory.
    pub(crate) fn dropped(&self) -> usize {
        self.total - self.records.len()
    }

    /// The kept records, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.records.iter()
    }

    /// The records from index `request.since` on that `keeps` accepts, at most
    /// `request.limit`.
    pub(crate) fn page(&self, request: PageRequest, keeps: impl Fn(&T) -> bool) -> Page<T>
    where
        T: Clone,
    {
        let dropped = self.dropped();
        let start = request.since.saturating_sub(dropped);
        let limit = request.limit.unwrap_or(usize::MAX);
        let mut records = Vec::new();
        let mut next = request.since.max(dropped);
        let mut more = false;
        for (offset, record) in self.records.iter().enumerate().skip(start) {
            if !keeps(record) {
                next = dropped + offset + 1;
                continue;
            }
            if records.len() == limit {
                more = true;
                break;
            }
            records.push(record.clone());
            next = dropped + offset + 1;
        }
        Page {
            records,
            total: self.total,
            dropped,
            next: next.min(self.total),
            more,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(keep: usize, n: usize) -> Window<usize> {
        let mut w = Window::new(keep);
        for i in 0..n {
            assert_eq!(w.next_index(), i);
            w.push(i);
        }
        w
    }

    #[test]
    fn keeps_the_newest_and_counts_the_dropped() {
        let w = window(3, 5);
        assert_eq!(w.iter().copied().collect::<Vec<_>>(), [2, 3, 4]);
        assert_eq!(w.dropped(), 2);
        assert_eq!(w.next_index(), 5);
    }

    #[test]
    fn pages_by_global_index_after_drops() {
        let w = window(4, 10);
        let all = |p: Page<usize>| (p.records, p.total, p.dropped, p.next, p.more);
        let page = |since, limit| all(w.page(PageRequest { since, limit }, |_| true));
        assert_eq!(page(0, None), (vec![6, 7, 8, 9], 10, 6, 10, false));
        assert_eq!(page(7, None), (vec![7, 8, 9], 10, 6, 10, false));
        assert_eq!(page(6, Some(2)), (vec![6, 7], 10, 6, 8, true));
        assert_eq!(page(8, Some(2)), (vec![8, 9], 10, 6, 10, false));
        assert_eq!(page(10, None), (vec![], 10, 6, 10, false));
        assert_eq!(page(99, None), (vec![], 10, 6, 10, false));
    }

    #[test]
    fn a_filtered_page_moves_past_what_it_skipped() {
        let w = window(10, 10);
        let even = w.page(
            PageRequest {
                since: 1,
                limit: Some(2),
            },
            |r| r % 2 == 0,
        );
        assert_eq!((even.records, even.next, even.more), (vec![2, 4], 6, true));
        let rest = w.page(
            PageRequest {
                since: 9,
                limit: None,
            },
            |r| r % 2 == 0,
        );
        assert_eq!((rest.records, rest.next, rest.more), (vec![], 10, false));
    }
}
