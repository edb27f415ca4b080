//! Receiving-side benchmarks (issue 4): `select()` throughput (target ≥ 50 M selects/s on one
//! core), the queue's enqueue alone, and `on_beacon` (rate record + enqueue) over 100 senders;
//! plus the slower queries (`select_fit`'s fallback, `lost`, `nodes`) over 1 000 senders. Every
//! benchmark counts one item per call, so divan prints ns per call and calls per second. The
//! decode + verify step of the wire format is benchmarked next to these by the wire module.
//!
//! Run: `cargo bench -p beacon --bench select`. Smoke-run (each benchmark once) in the test
//! suite: `cargo test -p beacon --benches`.

use beacon::select::{Queues, Receiver, ReceiverConfig};
use beacon::{Mode, NodeId};
use divan::counter::ItemsCount;
use divan::{black_box, Bencher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn main() {
    divan::main();
}

/// Queues in which both streams have seen two beacons.
fn filled_queues() -> Queues {
    let queues = Queues::new();
    for (mode, ids) in [(Mode::Balance, [1, 2]), (Mode::Power, [3, 4])] {
        for id in ids {
            queues.queue(mode).push(NodeId(id));
        }
    }
    assert_eq!(
        (queues.select(Mode::Balance), queues.select(Mode::Power)),
        (Some(NodeId(1)), Some(NodeId(3)))
    );
    queues
}

/// `select(mode)` on an idle queue: two atomic loads.
#[divan::bench(args = [Mode::Balance, Mode::Power])]
fn select(bencher: Bencher, mode: Mode) {
    let queues = filled_queues();
    bencher.counter(ItemsCount::new(1u32)).bench(|| queues.select(black_box(mode)));
}

/// `select(Balance)` while another thread pushes into the same queue as fast as it can: the
/// worst case for the selector's cache line.
#[divan::bench]
fn select_while_pushing(bencher: Bencher) {
    let queues = Arc::new(filled_queues());
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (queues, stop) = (Arc::clone(&queues), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut id = 0u32;
            while !stop.load(Ordering::Relaxed) {
                queues.queue(Mode::Balance).push(NodeId(id % 100));
                id = id.wrapping_add(1);
            }
        })
    };
    bencher.counter(ItemsCount::new(1u32)).bench(|| queues.select(black_box(Mode::Balance)));
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer thread");
}

/// The receive path's enqueue alone: `TwoSlotQueue::push`.
#[divan::bench]
fn enqueue(bencher: Bencher) {
    let queues = filled_queues();
    let mut id = 0u32;
    bencher.counter(ItemsCount::new(1u32)).bench_local(|| {
        id = id.wrapping_add(1);
        queues.queue(Mode::Balance).push(NodeId(black_box(id % 100)));
    });
}

/// A receiver that has heard `n` senders on both streams for a while.
fn receiver_with(n: u32) -> (Receiver, u64) {
    let mut receiver = Receiver::new(ReceiverConfig::default()).expect("default config");
    let mut now_us = 1_000_000;
    for round in 0..20u64 {
        for id in 0..n {
            for mode in [Mode::Balance, Mode::Power] {
                now_us += 1_000_000 / u64::from(n);
                let availability = f64::from((id + 5) % 10 + 1) / 10.0;
                receiver.on_beacon(NodeId(id), mode, availability, now_us, now_us).expect("valid");
            }
            if round == 0 {
                receiver.on_capacity(NodeId(id), 100.0, now_us).expect("valid");
            }
        }
    }
    assert_eq!(receiver.len(), n as usize);
    assert!(receiver.lost(now_us).is_empty());
    (receiver, now_us)
}

/// `on_beacon`: validate, record the arrival in the sender's rate ring, enqueue; 100 senders
/// in turn, alternating streams.
#[divan::bench]
fn on_beacon(bencher: Bencher) {
    let (mut receiver, mut now_us) = receiver_with(100);
    let mut i = 0u32;
    bencher.counter(ItemsCount::new(1u32)).bench_local(|| {
        i = i.wrapping_add(1);
        now_us += 10;
        let mode = [Mode::Balance, Mode::Power][(i % 2) as usize];
        receiver.on_beacon(NodeId(i % 100), mode, 0.5, now_us, now_us)
    });
}

/// `select_fit` when the candidate does not fit and every sender is ranked (the slow path).
#[divan::bench]
fn select_fit_fallback(bencher: Bencher) {
    let (receiver, now_us) = receiver_with(1_000);
    // Capacities are 100 and only one sender in ten is fully available, so only those take 95;
    // the queue's candidate (998, the older of the last two senders) is 40 % available.
    let report = receiver.explain_fit(Mode::Balance, 95.0, now_us);
    assert_eq!(report.candidate, Some(NodeId(998)));
    assert_eq!((report.chosen, report.rejected.len()), (Some(NodeId(4)), 900));
    bencher
        .counter(ItemsCount::new(1u32))
        .bench(|| receiver.select_fit(Mode::Balance, black_box(95.0), now_us));
}

/// `lost(now)` over 1 000 senders.
#[divan::bench]
fn lost(bencher: Bencher) {
    let (receiver, now_us) = receiver_with(1_000);
    bencher.counter(ItemsCount::new(1u32)).bench(|| receiver.lost(black_box(now_us)));
}

/// `nodes(now)` (the status view) over 1 000 senders.
#[divan::bench]
fn nodes(bencher: Bencher) {
    let (receiver, now_us) = receiver_with(1_000);
    bencher.counter(ItemsCount::new(1u32)).bench(|| receiver.nodes(black_box(now_us)));
}
