//! Property: every single-byte change to a valid ledger file is detected, and at the line it
//! changed. Decided precisely: there is no harmless byte change. A change inside a line either
//! breaks its JSON, or changes a field (the signature, seq or chain then fails), or leaves the
//! fields as they were but changes the bytes (whitespace, an escape, hex case), which the
//! canonical-form check refuses; a changed newline merges or splits lines, which no longer
//! parse. Lines before the change are untouched and verify, so the first bad entry is always
//! the changed line. Reference: issue 7 "Ledger" ("detects any edited … entry and names it").

use crate::harness::{controller, history, lines};
use model::rand::SplitMix64;
use pool::ledger::{verify_bytes, Check, VerifyingKey};

/// The 1-based line holding byte `pos` of `bytes` (a newline belongs to the line it ends).
fn line_of(bytes: &[u8], pos: usize) -> usize {
    bytes[..pos].iter().filter(|byte| **byte == b'\n').count() + 1
}

/// Changes byte `pos` to `value` and checks that verification fails at that byte's line;
/// returns the check that caught it.
#[track_caller]
fn corrupt_and_check(good: &[u8], anchor: &VerifyingKey, pos: usize, value: u8) -> Check {
    assert_ne!(good[pos], value, "a corruption changes the byte");
    let mut bad = good.to_vec();
    bad[pos] = value;
    match verify_bytes(&bad, anchor) {
        Ok(report) => panic!(
            "byte {pos} ({:?} → {:?}) on line {} went undetected: {report}",
            char::from(good[pos]),
            char::from(value),
            line_of(good, pos)
        ),
        Err(err) => {
            assert_eq!(err.line, line_of(good, pos), "byte {pos} → {value:#04x}: {err}");
            err.check()
        }
    }
}

#[test]
fn random_single_byte_corruptions_are_all_detected_at_their_line() {
    let good = history().text().into_bytes();
    let anchor = controller().verifying_key();
    let mut rng = SplitMix64::new(0x1ed9e7);
    let mut caught_by = std::collections::BTreeMap::new();
    for _ in 0..2_000 {
        let pos = rng.below(good.len());
        // Uniform over the 255 other byte values.
        let mut value = rng.below(255) as u8;
        if value >= good[pos] {
            value += 1;
        }
        *caught_by.entry(corrupt_and_check(&good, &anchor, pos, value)).or_insert(0) += 1;
    }
    // Most random bytes break the JSON, but the run also reaches the canonical-form check and
    // the signatures (about 1 860, 30 and 110 of the 2 000 with this seed).
    for check in [Check::Parse, Check::Canonical, Check::Signature] {
        assert!(caught_by.contains_key(&check), "{caught_by:?}");
    }
}

#[test]
fn every_byte_of_the_first_lines_flipped_is_detected() {
    // Exhaustively, for the first three lines (two joins and a task start, every field kind):
    // each byte with its lowest bit flipped (a digit to its neighbour, `"` to `#`, …), with its
    // case bit flipped (hex case, `{` to `[`), and replaced by a space (the whitespace JSON
    // would accept).
    let all = lines();
    let good = history().text().into_bytes();
    let anchor = controller().verifying_key();
    let prefix: usize = all[..3].iter().map(|line| line.len() + 1).sum();
    for pos in 0..prefix {
        for value in [good[pos] ^ 0x01, good[pos] ^ 0x20, b' '] {
            if value != good[pos] {
                corrupt_and_check(&good, &anchor, pos, value);
            }
        }
    }
}
