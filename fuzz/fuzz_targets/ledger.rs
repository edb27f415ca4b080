//! Fuzz target `ledger`: arbitrary bytes into the pool ledger's verifier (docs/pool.md
//! "Ledger"), which must never panic and may accept only canonical files; plus the tamper
//! property: a valid ledger with bytes changed by the input (pairs of position and value) never
//! verifies unless every change was a no-op, and fails at the first changed line.
//!
//! Run: `cargo +nightly fuzz run ledger` from `fuzz/`. The same property runs with a fixed seed
//! in `crates/pool/tests/it/corruption.rs` on every `cargo test`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pool::ledger::{verify_bytes, Draft, Kind, Ledger, SigningKey};
use std::sync::OnceLock;

fn controller() -> SigningKey {
    SigningKey::from_bytes(&[1; 32])
}

/// A valid three-entry ledger, built once.
fn valid() -> &'static [u8] {
    static TEXT: OnceLock<Vec<u8>> = OnceLock::new();
    TEXT.get_or_init(|| {
        let node = SigningKey::from_bytes(&[2; 32]);
        let mut ledger = Ledger::new(controller().verifying_key());
        let drafts = [
            (Draft::join(1, "n1", &node.verifying_key()), controller()),
            (Draft::new(2, "n1", Kind::TaskStart).task("t1").detail("cpu", 2), node.clone()),
            (Draft::new(3, "n1", Kind::TaskFinish).task("t1").detail("exit_code", 0), node),
        ];
        for (draft, signer) in drafts {
            ledger.append(draft, &signer).expect("a valid history");
        }
        ledger.text().into_bytes()
    })
}

fuzz_target!(|data: &[u8]| {
    let anchor = controller().verifying_key();
    // Anything that verifies is canonical: it reads back to the same text.
    if verify_bytes(data, &anchor).is_ok() {
        let text = std::str::from_utf8(data).expect("a verified ledger is UTF-8");
        let ledger = Ledger::from_text(text, anchor).expect("verifies twice");
        assert_eq!(ledger.text().trim_end_matches('\n'), text.trim_end_matches('\n'));
    }
    // Tampering with a valid ledger.
    let good = valid();
    let mut bad = good.to_vec();
    for pair in data.chunks_exact(3) {
        let pos = usize::from(u16::from_le_bytes([pair[0], pair[1]])) % good.len();
        bad[pos] = pair[2];
    }
    let first_change = good.iter().zip(&bad).position(|(a, b)| a != b);
    match (first_change, verify_bytes(&bad, &anchor)) {
        (None, result) => assert!(result.is_ok()),
        (Some(pos), Ok(report)) => panic!("a change at byte {pos} went undetected: {report}"),
        (Some(pos), Err(err)) => {
            let line = good[..pos].iter().filter(|b| **b == b'\n').count() + 1;
            assert_eq!(err.line, line, "{err}");
        }
    }
});
