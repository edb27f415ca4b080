//! The shared fixture: fixed keys and a 21-entry pool history (two nodes join; tasks start,
//! finish, fail, retry and move; one node is lost and leaves; its task runs again elsewhere),
//! and helpers to edit its lines.

use pool::ledger::{Draft, Entry, Kind, Ledger, SigningKey, VerifyError};

/// A fixed key from one seed byte: 1 is the controller, 2 node n1, 3 node n2, 9 a stranger.
pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

pub fn controller() -> SigningKey {
    key(1)
}

/// The history, appended through [`Ledger::append`] (so it also exercises every accepted
/// kind and signer).
pub fn history() -> Ledger {
    let (ctl, n1, n2) = (controller(), key(2), key(3));
    let mut ledger = Ledger::new(ctl.verifying_key());
    let t0 = 1_750_000_000_000u64;
    let steps: Vec<(Draft, &SigningKey)> = vec![
        (Draft::join(t0, "n1", &n1.verifying_key()).detail("score", 812.5), &ctl),
        (Draft::join(t0 + 10, "n2", &n2.verifying_key()).detail("score", 640), &ctl),
        (start(t0 + 20, "n1", "t1").detail("cpu", 2).detail("mem_mib", 512), &n1),
        (start(t0 + 30, "n2", "t2").detail("cpu", 1), &n2),
        (finish(t0 + 40, "n1", "t1"), &n1),
        (start(t0 + 50, "n1", "t3"), &n1),
        (
            Draft::new(t0 + 60, "n2", Kind::TaskFail)
                .task("t2")
                .detail("exit_code", 137)
                .detail("reason", "out of memory"),
            &n2,
        ),
        (retry(t0 + 70, "n1", "t2", "n2"), &ctl),
        (start(t0 + 80, "n1", "t2"), &n1),
        (start(t0 + 90, "n2", "t4"), &n2),
        (
            Draft::new(t0 + 100, "n2", Kind::TaskMove)
                .task("t4")
                .detail("from", "n2")
                .detail("to", "n1")
                .detail("reason", "owner reclaimed the reserve"),
            &ctl,
        ),
        (start(t0 + 110, "n1", "t4"), &n1),
        (finish(t0 + 120, "n1", "t3"), &n1),
        (finish(t0 + 130, "n1", "t2"), &n1),
        (start(t0 + 140, "n2", "t5").detail("argv", serde_json::json!(["sh", "-c", "x"])), &n2),
        (Draft::new(t0 + 150, "n2", Kind::Leave).detail("reason", "lost: beacon silence"), &ctl),
        (retry(t0 + 160, "n1", "t5", "n2"), &ctl),
        (start(t0 + 170, "n1", "t5"), &n1),
        (finish(t0 + 180, "n1", "t4"), &n1),
        (finish(t0 + 190, "n1", "t5"), &n1),
        (start(t0 + 200, "n1", "t6").detail("note", "é \"quoted\"\n\ttabbed"), &n1),
    ];
    for (draft, signer) in steps {
        let kind = draft.kind;
        ledger.append(draft, signer).unwrap_or_else(|err| panic!("appending {kind}: {err}"));
    }
    ledger
}

pub fn start(at_ms: u64, node: &str, task: &str) -> Draft {
    Draft::new(at_ms, node, Kind::TaskStart).task(task)
}

pub fn finish(at_ms: u64, node: &str, task: &str) -> Draft {
    Draft::new(at_ms, node, Kind::TaskFinish).task(task).detail("exit_code", 0)
}

fn retry(at_ms: u64, node: &str, task: &str, from: &str) -> Draft {
    Draft::new(at_ms, node, Kind::TaskRetry).task(task).detail("from", from).detail("attempt", 2)
}

/// The history's file, as lines without newlines.
pub fn lines() -> Vec<String> {
    history().entries().iter().map(Entry::line).collect()
}

/// A file from lines.
pub fn file(lines: &[String]) -> String {
    lines.iter().map(|line| format!("{line}\n")).collect()
}

/// Verifies `text` against the controller's key and returns the error; fails if it verifies.
#[track_caller]
pub fn first_bad(text: &str) -> VerifyError {
    match pool::ledger::verify(text, &controller().verifying_key()) {
        Ok(report) => panic!("the ledger verified ({report}); expected an error"),
        Err(err) => err,
    }
}

/// The entry on 1-based `line` of the history.
pub fn entry(line: usize) -> Entry {
    history().entries()[line - 1].clone()
}
