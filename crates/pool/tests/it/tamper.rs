//! Tampering with the history, one way at a time: each is detected at the first entry it
//! touched, by line and seq, with the check that failed and a message that says what happened.

use crate::harness::{controller, entry, file, first_bad, key, lines};
use pool::ledger::{keys, verify, Check, Entry, Kind, Problem};
use serde_json::{json, Map, Value};

/// Verifies `text`, expecting the first bad entry at `line` with `seq`, failing `problem`;
/// also checks the message names the line, the seq and the check.
#[track_caller]
fn check(text: &str, line: usize, seq: Option<u64>, problem: Problem) {
    let err = first_bad(text);
    assert_eq!((err.line, err.seq, &err.problem), (line, seq, &problem), "{err}");
    let message = err.to_string();
    let named = match seq {
        Some(seq) => format!("line {line} (seq {seq}): {} check failed: ", problem.check()),
        None => format!("line {line}: {} check failed: ", problem.check()),
    };
    assert!(message.starts_with(&named), "{message}");
}

/// The history with line `line` (1-based) replaced.
fn replaced(line: usize, with: String) -> Vec<String> {
    let mut all = lines();
    all[line - 1] = with;
    all
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A 22nd entry, chained to the history's last and signed by the key with seed `signer`.
fn forged(kind: Kind, node: &str, task: Option<&str>, detail: Value, signer: u8) -> String {
    let last = entry(21);
    let forged = Entry {
        seq: 22,
        at_ms: last.at_ms + 10,
        node: node.to_string(),
        kind,
        task: task.map(str::to_string),
        detail: object(detail),
        prev: last.hash(),
        ..last
    }
    .signed(&key(signer));
    let mut all = lines();
    all.push(forged.line());
    file(&all)
}

#[test]
fn an_edited_detail_is_named_by_its_signature() {
    // Line 7: n2's task_fail of t2 with exit code 137. The editor re-encodes it canonically but
    // cannot re-sign it.
    let mut edited = entry(7);
    edited.detail.insert("exit_code".into(), json!(0));
    let text = file(&replaced(7, edited.line()));
    check(&text, 7, Some(7), Problem::BadSignature { signer: "node n2's key".into() });
    assert!(first_bad(&text).to_string().ends_with(
        "signature does not verify with node n2's key: the entry was edited after it was signed"
    ));

    // Fixing the next entry's prev to the edited hash does not help: line 7 still fails first
    // (and line 8's own signature covers its prev).
    let mut next = entry(8);
    next.prev = edited.hash();
    let mut all = replaced(7, edited.line());
    all[7] = next.line();
    check(&file(&all), 7, Some(7), Problem::BadSignature { signer: "node n2's key".into() });

    // The same edit byte by byte in the file.
    let text = history_text().replacen("\"exit_code\":137", "\"exit_code\":138", 1);
    check(&text, 7, Some(7), Problem::BadSignature { signer: "node n2's key".into() });
}

fn history_text() -> String {
    file(&lines())
}

#[test]
fn an_edit_re_signed_with_a_stolen_node_key_breaks_the_chain_after_it() {
    // Whoever holds n2's key can re-sign its entry, but the next entry still carries the hash
    // of the original line.
    let mut edited = entry(7);
    edited.detail.insert("exit_code".into(), json!(0));
    let edited = edited.signed(&key(3));
    check(&file(&replaced(7, edited.line())), 8, Some(8), Problem::BadPrev { previous_line: 7 });
}

#[test]
fn an_edited_signature_or_key_is_named() {
    let original = entry(4);
    let mut sig = original.sig.to_bytes();
    sig[10] ^= 0x01;
    let edited = Entry { sig: pool::ledger::Signature::from_bytes(&sig), ..original.clone() };
    check(
        &file(&replaced(4, edited.line())),
        4,
        Some(4),
        Problem::BadSignature { signer: "node n2's key".into() },
    );
    // Another node's key in place of the signer's: the signature does not verify with it.
    let swapped = Entry { key: key(2).verifying_key(), ..original };
    check(
        &file(&replaced(4, swapped.line())),
        4,
        Some(4),
        Problem::BadSignature { signer: "node n1's key".into() },
    );
}

#[test]
fn a_removed_entry_is_named() {
    let mut all = lines();
    all.remove(9); // seq 10
    check(&file(&all), 10, Some(11), Problem::Removed { after: 9, next: 11 });
    assert!(first_bad(&file(&all)).to_string().ends_with("entries removed between seq 9 and 11"));

    let mut all = lines();
    all.drain(12..15); // seq 13, 14, 15
    check(&file(&all), 13, Some(16), Problem::Removed { after: 12, next: 16 });

    let mut all = lines();
    all.remove(0);
    check(&file(&all), 1, Some(2), Problem::Removed { after: 0, next: 2 });
}

#[test]
fn swapped_entries_are_named_as_reordered() {
    let mut all = lines();
    all.swap(11, 12); // seq 12 and 13
    check(&file(&all), 12, Some(13), Problem::Reordered { expected: 12, expected_at_line: 13 });
    assert!(first_bad(&file(&all))
        .to_string()
        .ends_with("entries reordered: seq 12 belongs here but is at line 13"));

    // An entry moved to the end.
    let mut all = lines();
    let moved = all.remove(4);
    all.push(moved);
    check(&file(&all), 5, Some(6), Problem::Reordered { expected: 5, expected_at_line: 21 });
}

#[test]
fn a_repeated_entry_is_named() {
    let mut all = lines();
    all.insert(5, all[4].clone());
    check(&file(&all), 6, Some(5), Problem::OutOfOrder { previous: 5 });
    // Replaying the last entry at the end.
    let mut all = lines();
    all.push(all[20].clone());
    check(&file(&all), 22, Some(21), Problem::OutOfOrder { previous: 21 });
}

#[test]
fn a_cut_last_line_is_malformed() {
    let text = history_text();
    let last_start = text.trim_end().rfind('\n').unwrap() + 1;
    let half = last_start + (text.len() - last_start) / 2;
    let err = first_bad(&text[..half]);
    assert_eq!((err.line, err.seq, err.check()), (21, None, Check::Parse), "{err}");
    assert!(
        err.to_string().starts_with("line 21: parse check failed: malformed entry: EOF"),
        "{err}"
    );

    // Cut at a line boundary, the rest still verifies: only the head kept elsewhere shows it.
    let full = verify(&text, &controller().verifying_key()).unwrap();
    let cut = verify(&text[..last_start], &controller().verifying_key()).unwrap();
    assert_eq!(cut.entries, 20);
    assert_ne!(cut.head, full.head);
    assert_eq!(cut.head, entry(20).hash());
}

#[test]
fn forged_entries_are_named_by_the_rule_they_break() {
    let stranger = keys::verifying_key_hex(&key(9).verifying_key());
    check(
        &forged(Kind::TaskStart, "n1", Some("t9"), json!({}), 9),
        22,
        Some(22),
        Problem::UnknownKey { key: stranger.clone() },
    );
    assert!(first_bad(&forged(Kind::TaskStart, "n1", Some("t9"), json!({}), 9))
        .to_string()
        .contains(&format!("signed by unknown key {stranger}: not the controller's")));
    // n1 admitting a node of its own.
    let join = json!({ "public_key": stranger });
    check(
        &forged(Kind::Join, "n9", None, join, 2),
        22,
        Some(22),
        Problem::JoinNotByController { signer: "n1".into() },
    );
    // n2 left at entry 16: its key is revoked, and the controller cannot speak for it either.
    check(
        &forged(Kind::TaskStart, "n2", Some("t9"), json!({}), 3),
        22,
        Some(22),
        Problem::RevokedKey { node: "n2".into() },
    );
    check(
        &forged(Kind::TaskStart, "n2", Some("t9"), json!({}), 1),
        22,
        Some(22),
        Problem::NotMember { node: "n2".into(), left: Some(16) },
    );
    // n1 reporting for the controller-only kinds is fine, for another node is not.
    check(
        &forged(Kind::TaskStart, "n7", Some("t9"), json!({}), 2),
        22,
        Some(22),
        Problem::WrongSigner { signer: "n1".into(), node: "n7".into() },
    );
    check(&forged(Kind::TaskStart, "n1", None, json!({}), 2), 22, Some(22), Problem::MissingTask);
}

#[test]
fn a_second_finish_in_the_file_is_named() {
    // Reference: issue 7 "Failover": a task's completion is idempotent in the ledger.
    let text = forged(Kind::TaskFinish, "n1", Some("t1"), json!({ "exit_code": 0 }), 2);
    check(&text, 22, Some(22), Problem::FinishedTwice { task: "t1".into(), first: 5, second: 22 });
    assert!(first_bad(&text)
        .to_string()
        .ends_with("completion check failed: task t1 finished twice, entries 5 and 22"));
}

#[test]
fn a_line_not_in_canonical_form_is_named() {
    // Whitespace, key order and hex case change no field, but they change the bytes the next
    // entry's prev covers, so only the canonical line is accepted.
    let line = lines()[3].replacen("\"seq\":4", "\"seq\": 4", 1);
    check(&file(&replaced(4, line)), 4, Some(4), Problem::NotCanonical { at_byte: 8 });
    let line = lines()[2].replacen("\"cpu\":2,\"mem_mib\":512", "\"mem_mib\":512,\"cpu\":2", 1);
    assert_ne!(line, lines()[2]);
    check(&file(&replaced(3, line)), 3, Some(3), Problem::NotCanonical { at_byte: 87 });
    let sig_at = lines()[1].find("\"sig\":\"").unwrap() + 7;
    let mut line = lines()[1].clone();
    line.replace_range(sig_at.., &line[sig_at..].to_uppercase());
    let err = first_bad(&file(&replaced(2, line)));
    assert_eq!((err.line, err.check()), (2, Check::Canonical), "{err}");
    // CRLF line ends.
    let err = first_bad(&history_text().replace('\n', "\r\n"));
    assert_eq!((err.line, err.check()), (1, Check::Canonical), "{err}");
}

#[test]
fn lines_that_are_not_entries_are_named() {
    let err = first_bad("not a ledger\n");
    assert_eq!((err.line, err.seq, err.check()), (1, None, Check::Parse));
    assert!(
        err.to_string().starts_with("line 1: parse check failed: malformed entry: expected"),
        "{err}"
    );

    let mut all = lines();
    all.insert(3, String::new());
    check(&file(&all), 4, None, Problem::EmptyLine);

    let mut bytes = history_text().into_bytes();
    let at = bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(4).unwrap().0 + 20;
    bytes[at] = 0xff;
    let err = pool::ledger::verify_bytes(&bytes, &controller().verifying_key()).unwrap_err();
    assert_eq!((err.line, err.seq, err.problem), (6, None, Problem::NotUtf8 { at_byte: 20 }));

    let extra = lines()[0].replacen("{", "{\"extra\":true,", 1);
    let err = first_bad(&file(&replaced(1, extra)));
    assert!(err.to_string().contains("unknown field `extra`"), "{err}");
}

#[test]
fn the_wrong_trust_anchor_rejects_the_first_entry() {
    let stranger = key(9).verifying_key();
    let err = verify(&history_text(), &stranger).unwrap_err();
    let controller = keys::verifying_key_hex(&controller().verifying_key());
    assert_eq!((err.line, err.problem), (1, Problem::UnknownKey { key: controller }));
}
