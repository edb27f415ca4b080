//! The count lists L1 and L2 (seed 003, FIG. 24A–D): a ranking of targets by how often the
//! two-entry queue names them, over a recent window rather than since start-up.
//!
//! At each sample-timer expiry the queue is read and the named node's count goes up in *both*
//! lists (FIG. 24C), which stay sorted by count. At each list-switch-timer expiry the *current*
//! list is cleared and the other one becomes current (FIG. 24D). The current list therefore
//! always holds the counts of the last one to two switch intervals, so the ranking follows
//! changes in availability. Queries read the current list: the [`Pick::Largest`] count (the
//! seed's target for a large VM), the [`Pick::Median`] (an average target), the
//! [`Pick::Smallest`], or [`Pick::Any`] counted node.
//!
//! Time is an input: the caller runs the timers, calling [`CountLists::sample`] and
//! [`CountLists::switch`] itself, or lets [`CountLists::tick`] run both from `now`.

use crate::queue::TwoSlotQueue;
use crate::NodeId;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One node's count in a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    /// The node the queue named.
    pub node: NodeId,
    /// How many samples named it since the list was last cleared.
    pub count: u64,
}

/// Which of the two lists (FIG. 24A's current-list indicator).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum List {
    /// The first list.
    L1,
    /// The second list.
    L2,
}

/// How to pick a target from the current list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// The highest count: the most frequent beaconer (most available under `Balance`, least
    /// available under `Power`).
    Largest,
    /// The middle of the ranking: index `(n − 1) / 2` from the top, so the upper median when `n`
    /// is even.
    Median,
    /// The lowest count among counted nodes.
    Smallest,
    /// Any counted node, uniformly: the one at index `r mod n` of the ranking, `r` being the
    /// caller's random number (this module draws none).
    Any(u64),
}

/// Bad timer intervals for [`CountLists::new`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CountsError {
    /// An interval of zero would fire forever.
    #[error("count lists: `{field}` must be above 0 µs")]
    ZeroInterval {
        /// `sample_interval_us` or `switch_interval_us`.
        field: &'static str,
    },
    /// Switching at least as often as sampling leaves lists with at most one count.
    #[error(
        "count lists: `switch_interval_us` ({switch_us} µs) must exceed `sample_interval_us` ({sample_us} µs)"
    )]
    SwitchNotAboveSample {
        /// The switch interval given.
        switch_us: u64,
        /// The sample interval given.
        sample_us: u64,
    },
}

/// What one [`CountLists::tick`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tick {
    /// The node sampled, if the sample timer fired and the queue named one.
    pub sampled: Option<NodeId>,
    /// Whether the sample timer fired.
    pub sample_fired: bool,
    /// How many list switches ran (0, 1, or 2 when the caller was late by two intervals or more,
    /// which clears both lists).
    pub switches: u32,
    /// When to call `tick` again: the next timer expiry, in µs.
    pub next_due_us: u64,
}

/// One list, sorted by count, highest first; equal counts keep the order in which they were
/// reached.
#[derive(Clone, Debug, Default)]
struct Ranked {
    /// The ranking.
    entries: Vec<Count>,
    /// Each node's index in `entries`.
    index: HashMap<NodeId, usize>,
}

impl Ranked {
    /// Adds one to `node`'s count and restores the order: the node moves up past the entries
    /// its new count now exceeds (one insertion step, as FIG. 24C's sort after each update).
    fn increment(&mut self, node: NodeId) {
        let mut at = match self.index.get(&node) {
            Some(&at) => at,
            None => {
                self.entries.push(Count { node, count: 0 });
                self.index.insert(node, self.entries.len() - 1);
                self.entries.len() - 1
            }
        };
        self.entries[at].count += 1;
        while at > 0 && self.entries[at - 1].count < self.entries[at].count {
            self.entries.swap(at - 1, at);
            self.index.insert(self.entries[at].node, at);
            at -= 1;
        }
        self.index.insert(node, at);
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.index.clear();
    }
}

/// The two count lists, the current-list indicator and the two timers (FIG. 24A–D).
#[derive(Clone, Debug)]
pub struct CountLists {
    /// L1 and L2.
    lists: [Ranked; 2],
    /// The current list's index in `lists`.
    current: usize,
    /// The sample timer's period.
    sample_interval_us: u64,
    /// The list-switch timer's period.
    switch_interval_us: u64,
    /// The timers' next expiries, armed by the first `tick`.
    next_sample_us: Option<u64>,
    /// See `next_sample_us`.
    next_switch_us: Option<u64>,
}

impl CountLists {
    /// Empty lists with L1 current, sampling every `sample_interval_us` and switching every
    /// `switch_interval_us` (which must be longer).
    pub fn new(
        sample_interval_us: u64,
        switch_interval_us: u64,
    ) -> Result<CountLists, CountsError> {
        if sample_interval_us == 0 {
            return Err(CountsError::ZeroInterval { field: "sample_interval_us" });
        }
        if switch_interval_us == 0 {
            return Err(CountsError::ZeroInterval { field: "switch_interval_us" });
        }
        if switch_interval_us <= sample_interval_us {
            return Err(CountsError::SwitchNotAboveSample {
                switch_us: switch_interval_us,
                sample_us: sample_interval_us,
            });
        }
        Ok(CountLists {
            lists: [Ranked::default(), Ranked::default()],
            current: 0,
            sample_interval_us,
            switch_interval_us,
            next_sample_us: None,
            next_switch_us: None,
        })
    }

    /// Counts one sighting of `node` in both lists.
    pub fn record(&mut self, node: NodeId) {
        for list in &mut self.lists {
            list.increment(node);
        }
    }

    /// The sample routine (FIG. 24C): reads the queue and counts the node it names, if any.
    pub fn sample(&mut self, queue: &TwoSlotQueue) -> Option<NodeId> {
        let node = queue.read()?;
        self.record(node);
        Some(node)
    }

    /// The list-switch routine (FIG. 24D): clears the current list and makes the other current.
    pub fn switch(&mut self) {
        self.lists[self.current].clear();
        self.current = 1 - self.current;
    }

    /// Runs whichever timers have expired by `now_us`. The first call arms both timers and takes
    /// a sample. A late call catches up without bias: one sample however many sample instants
    /// it missed (the queue can only be read now), and one switch per missed switch instant, at
    /// most two (two clear both lists). Expiries stay on their original grid.
    pub fn tick(&mut self, queue: &TwoSlotQueue, now_us: u64) -> Tick {
        let (next_sample_us, next_switch_us) = match (self.next_sample_us, self.next_switch_us) {
            (Some(sample), Some(switch)) => (sample, switch),
            _ => (now_us, now_us.saturating_add(self.switch_interval_us)),
        };
        let (switches, next_switch_us) =
            Self::expire(next_switch_us, self.switch_interval_us, now_us);
        for _ in 0..switches.min(2) {
            self.switch();
        }
        let (samples, next_sample_us) =
            Self::expire(next_sample_us, self.sample_interval_us, now_us);
        let sampled = if samples > 0 { self.sample(queue) } else { None };
        self.next_sample_us = Some(next_sample_us);
        self.next_switch_us = Some(next_switch_us);
        Tick {
            sampled,
            sample_fired: samples > 0,
            switches: switches.min(2) as u32,
            next_due_us: next_sample_us.min(next_switch_us),
        }
    }

    /// How many expiries of a timer due at `due_us` with period `period_us` fall at or before
    /// `now_us`, and its next expiry after them.
    fn expire(due_us: u64, period_us: u64, now_us: u64) -> (u64, u64) {
        if now_us < due_us {
            return (0, due_us);
        }
        let fired = (now_us - due_us) / period_us + 1;
        (fired, due_us.saturating_add(fired.saturating_mul(period_us)))
    }

    /// The current list (FIG. 24A's indicator).
    pub fn current(&self) -> List {
        if self.current == 0 {
            List::L1
        } else {
            List::L2
        }
    }

    /// The current list's ranking, highest count first.
    pub fn ranking(&self) -> &[Count] {
        &self.lists[self.current].entries
    }

    /// One list's ranking, highest count first.
    pub fn list(&self, list: List) -> &[Count] {
        match list {
            List::L1 => &self.lists[0].entries,
            List::L2 => &self.lists[1].entries,
        }
    }

    /// A target from the current list; `None` while it is empty.
    pub fn pick(&self, pick: Pick) -> Option<NodeId> {
        let ranking = self.ranking();
        let n = ranking.len();
        if n == 0 {
            return None;
        }
        let at = match pick {
            Pick::Largest => 0,
            Pick::Median => (n - 1) / 2,
            Pick::Smallest => n - 1,
            // `n` fits in u64 and the remainder is below `n`, so both casts are lossless.
            Pick::Any(r) => (r % n as u64) as usize,
        };
        Some(ranking[at].node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(ranking: &[Count]) -> Vec<(u32, u64)> {
        ranking.iter().map(|c| (c.node.0, c.count)).collect()
    }

    #[test]
    fn samples_count_in_both_lists_sorted() {
        // Reference: seed 003, FIG. 24C: each sample updates both lists, which are then sorted.
        let mut lists = CountLists::new(10, 1_000).expect("valid intervals");
        let queue = TwoSlotQueue::new();
        assert_eq!(lists.sample(&queue), None, "an empty queue names nobody");
        for id in [3, 1, 1, 2, 3, 3, 4, 1, 3] {
            lists.record(NodeId(id));
        }
        let expected = vec![(3, 4), (1, 3), (2, 1), (4, 1)];
        assert_eq!(nodes(lists.list(List::L1)), expected);
        assert_eq!(nodes(lists.list(List::L2)), expected);
        queue.push(NodeId(2));
        assert_eq!(lists.sample(&queue), Some(NodeId(2)));
        assert_eq!(nodes(lists.ranking()), vec![(3, 4), (1, 3), (2, 2), (4, 1)]);
        assert_eq!(
            [Pick::Largest, Pick::Median, Pick::Smallest, Pick::Any(6)].map(|p| lists.pick(p)),
            [Some(NodeId(3)), Some(NodeId(1)), Some(NodeId(4)), Some(NodeId(2))]
        );
    }

    #[test]
    fn switch_clears_the_current_list_then_moves_on() {
        // Reference: seed 003, FIG. 24D: clear the current list, point at the other one.
        let mut lists = CountLists::new(10, 1_000).expect("valid intervals");
        lists.record(NodeId(1));
        assert_eq!(lists.current(), List::L1);
        lists.switch();
        assert_eq!(lists.current(), List::L2);
        assert_eq!((nodes(lists.list(List::L1)), nodes(lists.ranking())), (vec![], vec![(1, 1)]));
        lists.record(NodeId(2));
        lists.record(NodeId(2));
        lists.switch();
        // L2 (counts from before the first switch on) is cleared; L1 holds the last window.
        assert_eq!(lists.current(), List::L1);
        assert_eq!((nodes(lists.ranking()), nodes(lists.list(List::L2))), (vec![(2, 2)], vec![]));
        assert_eq!(lists.pick(Pick::Largest), Some(NodeId(2)));
        lists.switch();
        assert_eq!(lists.pick(Pick::Largest), None, "both lists cleared");
    }

    #[test]
    fn tick_runs_both_timers_on_their_grid() {
        let mut lists = CountLists::new(100, 1_000).expect("valid intervals");
        let queue = TwoSlotQueue::new();
        queue.push(NodeId(5));
        let first = lists.tick(&queue, 50);
        assert_eq!(
            first,
            Tick { sampled: Some(NodeId(5)), sample_fired: true, switches: 0, next_due_us: 150 }
        );
        assert!(!lists.tick(&queue, 149).sample_fired);
        // Late by three sample periods: one sample, and the grid is kept (150, 250, 350 → 450).
        let late = lists.tick(&queue, 360);
        assert_eq!((late.sampled, late.next_due_us), (Some(NodeId(5)), 450));
        assert_eq!(nodes(lists.ranking()), vec![(5, 2)]);
        // The switch timer fires at 1 050.
        let switched = lists.tick(&queue, 1_050);
        assert_eq!((switched.switches, switched.next_due_us), (1, 1_150));
        assert_eq!((lists.current(), nodes(lists.ranking())), (List::L2, vec![(5, 3)]));
        // Late by many switch periods: both lists cleared, then this tick's sample counted.
        let very_late = lists.tick(&queue, 10_000);
        assert_eq!(very_late.switches, 2);
        assert_eq!(nodes(lists.ranking()), vec![(5, 1)]);
        assert_eq!(very_late.next_due_us, 10_050);
    }

    #[test]
    fn rejects_bad_intervals() {
        assert_eq!(
            CountLists::new(0, 10).err(),
            Some(CountsError::ZeroInterval { field: "sample_interval_us" })
        );
        assert_eq!(
            CountLists::new(10, 10).err(),
            Some(CountsError::SwitchNotAboveSample { switch_us: 10, sample_us: 10 })
        );
    }

    #[test]
    fn ranking_follows_a_change_within_two_switch_intervals() {
        // Node 1 dominates, then node 2 does: after two switches the old counts are gone.
        let mut lists = CountLists::new(1, 100).expect("valid intervals");
        for _ in 0..90 {
            lists.record(NodeId(1));
        }
        lists.switch();
        for _ in 0..60 {
            lists.record(NodeId(2));
        }
        assert_eq!(lists.pick(Pick::Largest), Some(NodeId(1)), "one switch: still the old window");
        lists.switch();
        assert_eq!(nodes(lists.ranking()), vec![(2, 60)]);
    }
}
