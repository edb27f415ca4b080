//! docs/pool.md's example ledger is what this crate writes and it verifies with the key the
//! doc gives, so the specification and the code cannot drift apart (as docs/beacon-wire.md's
//! example does for the beacon codec).

use crate::harness::{controller, key};
use pool::ledger::{keys, verify, Draft, Kind, Ledger};

/// The example: the controller admits n1, which runs t1 and reports it finished.
fn example() -> Ledger {
    let n1 = key(2);
    let mut ledger = Ledger::new(controller().verifying_key());
    ledger
        .append(Draft::join(1_750_000_000_000, "n1", &n1.verifying_key()), &controller())
        .unwrap();
    let start = Draft::new(1_750_000_000_250, "n1", Kind::TaskStart).task("t1").detail("cpu", 2);
    ledger.append(start, &n1).unwrap();
    let finish =
        Draft::new(1_750_000_004_900, "n1", Kind::TaskFinish).task("t1").detail("exit_code", 0);
    ledger.append(finish, &n1).unwrap();
    ledger
}

/// The text of the first fenced block after the line `marker` in docs/pool.md.
fn block_after(doc: &str, marker: &str) -> String {
    let after = &doc[doc.find(marker).unwrap_or_else(|| panic!("docs/pool.md lost {marker:?}"))..];
    let start = after.find("```").expect("a fenced block");
    let body = &after[start..];
    let body = &body[body.find('\n').expect("a fence line") + 1..];
    body[..body.find("```").expect("a closing fence")].to_string()
}

#[test]
fn the_doc_example_is_what_the_crate_writes_and_it_verifies() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/pool.md");
    let doc = std::fs::read_to_string(path).expect("docs/pool.md");
    let anchor = block_after(&doc, "The controller's public-key file");
    let expected_anchor = format!("{}\n", keys::verifying_key_hex(&controller().verifying_key()));
    assert_eq!(anchor, expected_anchor, "docs/pool.md: the example controller key");
    let file = block_after(&doc, "The example ledger file");
    let ledger = example();
    assert_eq!(file, ledger.text(), "docs/pool.md: regenerate the example ledger");
    let report = verify(&file, &keys::parse_verifying_key(&anchor).unwrap()).unwrap();
    assert_eq!((report.entries, report.tasks_finished), (3, 1));
}
