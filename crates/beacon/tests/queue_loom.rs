//! Model checks of the lockless two-entry queue (seed 003, FIG. 13–14; STYLE.md rule 13): loom
//! explores every interleaving and every memory-order outcome the C++11 model allows of a
//! writer pushing while readers read, and each test asserts that a reader only ever sees an ID
//! that was pushed (or a default it was initialized with), `None` only before the first push,
//! and never a value that goes back to `None`.
//!
//! Compiled only under `--cfg loom`. Run:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p beacon --test queue_loom --release
//! ```
//!
//! Each model runs with a preemption bound of 3 (tokio's CI uses 2) unless
//! `LOOM_MAX_PREEMPTIONS` says otherwise: every bug this protocol could have (a reader between
//! the writer's two stores, a stale count, a slot overwritten mid-read) takes one or two
//! preemptions, and loom still explores every memory-order outcome at each step.
#![cfg(loom)]

use beacon::queue::TwoSlotQueue;
use beacon::NodeId;
use loom::sync::Arc;
use loom::thread;

/// `loom::model` with a preemption bound of 3 unless `LOOM_MAX_PREEMPTIONS` is set.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

/// What a reader may see of a queue into which `pushed` IDs are pushed: one of them, or
/// `None` if it has seen no push yet.
#[track_caller]
fn check_read(seen: Option<NodeId>, pushed: &[u32], saw_push: bool) {
    match seen {
        Some(NodeId(id)) => assert!(pushed.contains(&id), "read {id}, which nobody pushed"),
        None => assert!(!saw_push, "read None after observing a push"),
    }
}

/// A reader: reads once with `read` and once with `newest`, checking each against the pushed
/// IDs; `pushes` is read first each time, so a count ≥ 1 obliges the read to be `Some` (this is
/// what the release/acquire pair on the count guarantees).
fn reader(queue: &TwoSlotQueue, pushed: &[u32]) {
    let mut saw_push = false;
    for newest in [false, true] {
        saw_push |= queue.pushes() >= 1;
        let seen = if newest { queue.newest() } else { queue.read() };
        check_read(seen, pushed, saw_push);
        saw_push |= seen.is_some();
    }
}

#[test]
fn one_writer_two_readers_see_only_pushed_ids() {
    model(|| {
        const PUSHED: [u32; 3] = [1, 2, 3];
        let queue = Arc::new(TwoSlotQueue::new());
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let queue = Arc::clone(&queue);
                thread::spawn(move || reader(&queue, &PUSHED))
            })
            .collect();
        for id in PUSHED {
            queue.push(NodeId(id));
        }
        for r in readers {
            r.join().expect("reader");
        }
        // After the writer is done: the older of the last two entries, and the newest.
        assert_eq!((queue.read(), queue.newest()), (Some(NodeId(2)), Some(NodeId(3))));
    });
}

#[test]
fn overwrite_while_reading_the_out_slot() {
    // The seed's worry: once full, `out` is the very slot `in` overwrites next. A reader that
    // has picked that slot and then loses the race to the writer reads the new, complete entry.
    model(|| {
        const PUSHED: [u32; 4] = [10, 11, 12, 13];
        let queue = Arc::new(TwoSlotQueue::new());
        queue.push(NodeId(10));
        queue.push(NodeId(11));
        let reader = {
            let queue = Arc::clone(&queue);
            thread::spawn(move || {
                let seen = queue.read().expect("full before the reader starts");
                assert!([10, 11, 12, 13].contains(&seen.0), "read {seen}");
                // Read-read coherence: a later read is never older than the entry before the one
                // just seen.
                let again = queue.read().expect("still full");
                assert!(again.0 + 1 >= seen.0, "read {again} after {seen}");
            })
        };
        queue.push(NodeId(PUSHED[2]));
        queue.push(NodeId(PUSHED[3]));
        reader.join().expect("reader");
    });
}

#[test]
fn defaults_are_never_none() {
    model(|| {
        let queue = Arc::new(TwoSlotQueue::with_defaults(NodeId(100), NodeId(101)));
        let reader = {
            let queue = Arc::clone(&queue);
            thread::spawn(move || {
                for _ in 0..2 {
                    let seen = queue.read().expect("a default or a push");
                    assert!([100, 101, 1, 2].contains(&seen.0), "read {seen}");
                }
            })
        };
        queue.push(NodeId(1));
        queue.push(NodeId(2));
        reader.join().expect("reader");
    });
}

#[test]
fn concurrent_writers_lose_pushes_but_never_corrupt() {
    // Outside the contract (one writer), but still safe: whatever the race, readers see only
    // pushed IDs, and once both writers are done the queue holds pushed IDs. (This model found
    // that the writer's load of the count must be `Acquire`: a writer building on another's
    // count must inherit its slot stores before publishing the next count.)
    model(|| {
        const PUSHED: [u32; 3] = [1, 7, 8];
        let queue = Arc::new(TwoSlotQueue::new());
        let writer = {
            let queue = Arc::clone(&queue);
            thread::spawn(move || {
                queue.push(NodeId(7));
                queue.push(NodeId(8));
            })
        };
        let reader = {
            let queue = Arc::clone(&queue);
            thread::spawn(move || reader(&queue, &PUSHED))
        };
        queue.push(NodeId(1));
        writer.join().expect("writer");
        reader.join().expect("reader");
        for seen in [queue.read(), queue.newest()] {
            let NodeId(id) = seen.expect("pushed three times");
            assert!(PUSHED.contains(&id), "read {id}");
        }
    });
}
