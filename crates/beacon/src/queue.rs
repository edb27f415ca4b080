//! The lockless two-entry circular queue (seed 003, FIG. 13A–C, 14, 16): the receive path
//! writes the sender of every beacon into it, and any number of selectors read a target from it
//! at any moment, with no lock and no allocation.
//!
//! # The seed's queue
//!
//! A circular queue has an `in` pointer (the slot the next message goes to) and an `out`
//! pointer (the oldest message). The seed's queue is "continuously written, without necessarily
//! removing entries, by overwriting older entries during input operations ... and by advancing
//! both the in and out pointers when the queue is filled", and its `out()` "simply returns a node
//! identifier stored in the queue entry" without removing it. With two entries:
//!
//! | pushes | slot 0 | slot 1 | in | out |
//! |--------|--------|--------|----|-----|
//! | 0      | –      | –      | 0  | 0   |
//! | 1 (a)  | a      | –      | 1  | 0   |
//! | 2 (b)  | a      | b      | 0  | 0   |
//! | 3 (c)  | c      | b      | 1  | 1   |
//! | 4 (d)  | c      | d      | 0  | 0   |
//!
//! [`TwoSlotQueue::read`] is the seed's `out()`: the entry at `out`, the older of the last two.
//! Since both `in` and `out` follow from the number of pushes, the queue keeps one atomic counter
//! as its position. Reading the older or the newer entry makes no difference to selection: for
//! Poisson beacon streams, the sender of either of the last two beacons is sender *i* with
//! probability *r_i* / Σ*r* (its share of the total beacon rate), which is what makes the queue a
//! frequency-weighted selector.
//!
//! # Why a reader never sees a torn or never-written entry
//!
//! - **No tearing.** Each slot is a single `AtomicU64` word: `VALID | id`. A load returns either
//!   the whole old word or the whole new word, never a mix, so the seed's concern (a reader
//!   catching the writer half-way through the slot at `out`, which is the slot `in` overwrites
//!   next when the queue is full) cannot arise.
//! - **Never-written entries.** The writer loads the count (`Acquire`), stores the slot
//!   (`Release`), then publishes the new count (`Release`); a reader loads the count (`Acquire`)
//!   *before* the slot (`Acquire`). If the reader sees a count *n* ≥ 1, the acquire/release pair on the counter
//!   makes every slot store that preceded the store of *n* visible, so the slot the reader
//!   picks holds that push or a later one: never the initial empty word. The `VALID` bit is a
//!   second line of defence: an empty word reads as `None`, never as node 0.
//! - **Staleness is fine.** A reader may pick `out` from count *n* while the writer has already
//!   pushed twice more; it then reads a newer, equally complete entry.
//!
//! # One writer
//!
//! [`TwoSlotQueue::push`] is correct with one writer at a time (the receive thread). Concurrent
//! writers would only lose pushes (two writers can claim the same slot): readers would still see
//! only IDs some writer pushed. `tests/queue_loom.rs` model-checks both claims; run it with
//! `RUSTFLAGS="--cfg loom" cargo test -p beacon --test queue_loom --release`.

use crate::NodeId;

/// The atomics: `loom`'s under `cfg(loom)` (model checking), `std`'s otherwise (STYLE.md rule 13;
/// tokio's `src/loom/`).
mod sync {
    #[cfg(loom)]
    pub(super) use loom::sync::atomic::{AtomicU64, Ordering};
    #[cfg(not(loom))]
    pub(super) use std::sync::atomic::{AtomicU64, Ordering};
}

use sync::{AtomicU64, Ordering};

/// Set in a slot word once an ID has been written to it: an all-zero word is an empty slot.
const VALID: u64 = 1 << 32;

/// The two-entry circular queue of node IDs (seed 003, FIG. 14): one writer, any number of
/// lock-free readers. Share it through an `Arc`.
///
/// Aligned to a cache line so that the two queues of a [`crate::select::Queues`] never share one.
#[derive(Debug)]
#[repr(align(64))]
pub struct TwoSlotQueue {
    /// Slot words: `VALID | id`, or 0 while empty.
    slots: [AtomicU64; 2],
    /// Number of pushes so far: the position from which `in` and `out` follow.
    pushes: AtomicU64,
}

/// Where the seed's `in` and `out` pointers stand (FIG. 13A–C), for inspection and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pointers {
    /// The slot the next push writes.
    pub in_slot: usize,
    /// The slot [`TwoSlotQueue::read`] returns: the oldest entry.
    pub out_slot: usize,
    /// Whether both slots hold entries (from the second push on); `in_slot == out_slot` then.
    pub full: bool,
}

impl Pointers {
    /// The pointers after `pushes` pushes.
    fn after(pushes: u64) -> Pointers {
        // Both slots are 0 or 1, so the casts are lossless.
        let in_slot = (pushes % 2) as usize;
        let full = pushes >= 2;
        // Before the queue fills, `out` stays on slot 0 (the first entry); once full, each push
        // advances both pointers, so `out` coincides with `in`: the entry overwritten next.
        let out_slot = if full { in_slot } else { 0 };
        Pointers { in_slot, out_slot, full }
    }
}

impl TwoSlotQueue {
    /// An empty queue: [`read`](Self::read) returns `None` until the first push.
    pub fn new() -> TwoSlotQueue {
        TwoSlotQueue { slots: [AtomicU64::new(0), AtomicU64::new(0)], pushes: AtomicU64::new(0) }
    }

    /// A queue initialized "with default node-identifier entries" (seed 003, FIG. 14), so that
    /// [`read`](Self::read) never returns `None`: as if `older` then `newer` had been pushed.
    pub fn with_defaults(older: NodeId, newer: NodeId) -> TwoSlotQueue {
        TwoSlotQueue {
            slots: [
                AtomicU64::new(VALID | u64::from(older.0)),
                AtomicU64::new(VALID | u64::from(newer.0)),
            ],
            pushes: AtomicU64::new(2),
        }
    }

    /// Queues `id`, overwriting the older entry once the queue is full (the seed's `in()`).
    ///
    /// Call it from one thread at a time (see the module docs: concurrent writers lose pushes but
    /// never corrupt an entry). Wait-free: two loads and two stores.
    pub fn push(&self, id: NodeId) {
        // With one writer, a relaxed load would do (it reads its own last store). Acquire costs
        // nothing on x86 and keeps concurrent writers safe: a writer that builds on another's
        // count also inherits that writer's slot stores, so whoever acquires the count it
        // publishes sees every slot written (loom found this: with a relaxed load, a reader could
        // acquire a count whose `out` slot the publishing writer had never seen filled).
        let pushes = self.pushes.load(Ordering::Acquire);
        let slot = Pointers::after(pushes).in_slot;
        // The slot first, then the count that makes it reachable; both release, so that a
        // reader who acquires the new count also sees this slot store.
        self.slots[slot].store(VALID | u64::from(id.0), Ordering::Release);
        self.pushes.store(pushes.wrapping_add(1), Ordering::Release);
    }

    /// The oldest entry, without removing it (the seed's `out()`); `None` only before the first
    /// push. Wait-free: two atomic loads.
    #[inline]
    pub fn read(&self) -> Option<NodeId> {
        let pushes = self.pushes.load(Ordering::Acquire);
        if pushes == 0 {
            return None;
        }
        Self::decode(self.slots[Pointers::after(pushes).out_slot].load(Ordering::Acquire))
    }

    /// The newest entry (the sender of the last beacon), without removing it; `None` only
    /// before the first push.
    #[inline]
    pub fn newest(&self) -> Option<NodeId> {
        let pushes = self.pushes.load(Ordering::Acquire);
        if pushes == 0 {
            return None;
        }
        // The newest entry sits just behind `in`.
        let slot = (pushes.wrapping_sub(1) % 2) as usize;
        Self::decode(self.slots[slot].load(Ordering::Acquire))
    }

    /// How many pushes the queue has seen (counting the two defaults of
    /// [`with_defaults`](Self::with_defaults)).
    pub fn pushes(&self) -> u64 {
        self.pushes.load(Ordering::Acquire)
    }

    /// Where the seed's `in` and `out` pointers stand now.
    pub fn pointers(&self) -> Pointers {
        Pointers::after(self.pushes())
    }

    /// The ID in a slot word, if one was ever written.
    #[inline]
    fn decode(word: u64) -> Option<NodeId> {
        // The low 32 bits are the ID; the cast keeps exactly them.
        (word & VALID != 0).then_some(NodeId(word as u32))
    }
}

impl Default for TwoSlotQueue {
    fn default() -> Self {
        TwoSlotQueue::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn empty_until_the_first_push() {
        // Reference: seed 003, FIG. 14 ("it is presumed that at least two RA messages will be
        // received before a target node needs to be selected").
        let queue = TwoSlotQueue::new();
        assert_eq!((queue.read(), queue.newest(), queue.pushes()), (None, None, 0));
        queue.push(NodeId(0));
        // Node 0 is a real ID, distinct from an empty slot.
        assert_eq!((queue.read(), queue.newest()), (Some(NodeId(0)), Some(NodeId(0))));
    }

    #[test]
    fn follows_the_seed_pointer_table() {
        // Reference: seed 003, FIG. 13A–C: `in` advances on each push; once full, both advance.
        let queue = TwoSlotQueue::new();
        let mut trace = vec![(queue.pointers(), queue.read(), queue.newest())];
        for id in [10, 11, 12, 13] {
            queue.push(NodeId(id));
            trace.push((queue.pointers(), queue.read(), queue.newest()));
        }
        let p = |in_slot, out_slot, full| Pointers { in_slot, out_slot, full };
        let n = |id| Some(NodeId(id));
        assert_eq!(
            trace,
            vec![
                (p(0, 0, false), None, None),
                (p(1, 0, false), n(10), n(10)),
                (p(0, 0, true), n(10), n(11)),
                (p(1, 1, true), n(11), n(12)),
                (p(0, 0, true), n(12), n(13)),
            ]
        );
    }

    #[test]
    fn defaults_are_read_before_any_push() {
        let queue = TwoSlotQueue::with_defaults(NodeId(7), NodeId(8));
        assert_eq!((queue.read(), queue.newest()), (Some(NodeId(7)), Some(NodeId(8))));
        queue.push(NodeId(9));
        assert_eq!((queue.read(), queue.newest()), (Some(NodeId(8)), Some(NodeId(9))));
    }

    #[test]
    fn extreme_ids_round_trip() {
        let queue = TwoSlotQueue::new();
        queue.push(NodeId(u32::MAX));
        queue.push(NodeId(0));
        assert_eq!((queue.read(), queue.newest()), (Some(NodeId(u32::MAX)), Some(NodeId(0))));
    }

    #[test]
    fn threaded_readers_only_see_pushed_ids() {
        // A writer pushes IDs 1..=N in order, readers spin. Every ID a reader sees was pushed,
        // and since the writer pushes in increasing order and `read` returns one of the last two
        // entries, a reader's observations never go back by more than one push.
        const N: u32 = 200_000;
        let queue = Arc::new(TwoSlotQueue::new());
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let queue = Arc::clone(&queue);
                std::thread::spawn(move || {
                    let (mut seen, mut max_seen, mut nones_after_some) = (0u64, 0u32, 0u64);
                    loop {
                        match queue.read() {
                            None if max_seen > 0 => nones_after_some += 1,
                            None => {}
                            Some(NodeId(id)) => {
                                assert!((1..=N).contains(&id), "read {id}, never pushed");
                                assert!(id + 1 >= max_seen, "read {id} after {max_seen}");
                                max_seen = max_seen.max(id);
                                seen += 1;
                            }
                        }
                        if max_seen >= N - 1 {
                            return (seen, nones_after_some);
                        }
                    }
                })
            })
            .collect();
        for id in 1..=N {
            queue.push(NodeId(id));
        }
        for reader in readers {
            let (seen, nones_after_some) = reader.join().expect("reader thread");
            assert!(seen > 0);
            assert_eq!(nones_after_some, 0);
        }
        assert_eq!(queue.read(), Some(NodeId(N - 1)));
    }
}
