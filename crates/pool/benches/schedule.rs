//! The pool controller's hot paths at office-building-and-beyond scale: placing a backlog of
//! 10 000 queued tasks on 1 000 members (`Pool::schedule`, the scheduler tick's work after a
//! burst of `hearth run`s), one member's poll with 10 000 tasks in the pool, and one submission.
//! No target is set by the issue; the figures say how far one controller goes.
//!
//! Run: `cargo bench -p pool --bench schedule`. Smoke-run (each benchmark once, at a tenth of
//! the size) in the test suite: `cargo test -p pool --benches`.

use pool::proto::Placement;
use pool::reserve::Resources;
use pool::sched::Pool;
use std::sync::OnceLock;

/// Members and tasks: 1 000 and 10 000 under `cargo bench`, a tenth in the smoke run.
fn size() -> (usize, usize) {
    static SIZE: OnceLock<(usize, usize)> = OnceLock::new();
    *SIZE.get_or_init(|| {
        if std::env::args().any(|a| a == "--bench") {
            (1_000, 10_000)
        } else {
            (100, 1_000)
        }
    })
}

fn main() {
    divan::main();
}

fn res(cpu: f64, mem_mib: u64) -> Resources {
    Resources { cpu, mem_mib, disk_mib: 0, gpu: 0 }
}

/// `members` members of 16 cores (each offering 12) and `tasks` queued tasks of 1 core: room
/// for every task.
fn pool(members: usize, tasks: usize) -> Pool {
    let mut pool = Pool::new();
    for m in 0..members {
        let key = format!("{m:064x}");
        let score = 500.0 + (m * 7919 % 1000) as f64;
        pool.join(&key, m as u32, score, res(16.0, 65536), res(4.0, 8192), "cgroup2", "nobody", 1)
            .expect("a valid join");
        pool.poll(&format!("m{}", m + 1), res(12.0, 57344), res(0.0, 0), &[], 2)
            .expect("a member polls");
    }
    for t in 0..tasks {
        let argv = vec!["task".to_string(), t.to_string()];
        pool.submit(argv, res(1.0, 512), Placement::Pool, 2, 3)
            .expect("a valid submission")
            .expect("it fits some member");
    }
    pool
}

#[divan::bench]
fn schedule_backlog(bencher: divan::Bencher) {
    let (members, tasks) = size();
    bencher.with_inputs(|| pool(members, tasks)).bench_local_values(|mut pool| {
        let placed = pool.schedule(|_| None);
        assert_eq!(placed.len(), tasks);
        pool
    });
}

#[divan::bench]
fn poll_one_member(bencher: divan::Bencher) {
    let (members, tasks) = size();
    let mut pool = pool(members, tasks);
    pool.schedule(|_| None);
    bencher.bench_local(|| pool.poll("m1", res(12.0, 57344), res(0.0, 0), &[], 4).expect("polls"));
}

#[divan::bench]
fn submit_one(bencher: divan::Bencher) {
    let (members, tasks) = size();
    let mut pool = pool(members, tasks);
    pool.schedule(|_| None);
    bencher.bench_local(|| {
        pool.submit(vec!["x".into()], res(1.0, 512), Placement::Auto, 0, 5).expect("valid")
    });
}
