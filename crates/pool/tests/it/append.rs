//! Appending: the history verifies and reports what it holds, a verified file resumes, and
//! every draft that would break a rule is refused with the rule named, leaving the ledger as
//! it was.

use crate::harness::{controller, finish, history, key, start};
use pool::ledger::{verify, Check, Draft, EntryHash, Kind, Ledger, Problem, Report, VerifyingKey};

fn anchor() -> VerifyingKey {
    controller().verifying_key()
}

#[test]
fn the_history_verifies_and_reports_what_it_holds() {
    let ledger = history();
    let text = ledger.text();
    assert_eq!(text.lines().count(), 21);
    let report = verify(&text, &anchor()).unwrap();
    assert_eq!(report, ledger.report());
    let last = ledger.entries().last().unwrap();
    assert_eq!(
        report,
        Report {
            entries: 21,
            nodes: 2,
            members: 1,
            tasks: 6,
            tasks_finished: 5,
            head: last.hash(),
            last_at_ms: Some(last.at_ms),
        }
    );
    assert_eq!(
        report.to_string(),
        format!(
            "21 entries, 2 nodes joined (1 still a member), 6 tasks (5 finished), head {}",
            last.hash()
        )
    );
    // Without the last newline it is the same ledger.
    assert_eq!(verify(text.trim_end_matches('\n'), &anchor()), Ok(report));
}

#[test]
fn entries_are_numbered_and_chained() {
    let ledger = history();
    let mut prev = EntryHash::ZERO;
    for (idx, entry) in ledger.entries().iter().enumerate() {
        assert_eq!(entry.seq, idx as u64 + 1);
        assert_eq!(entry.prev, prev, "entry {}", entry.seq);
        assert_eq!(Ledger::line(entry), entry.line());
        prev = entry.hash();
    }
    assert_eq!(format!("{}", EntryHash::ZERO), "0".repeat(64));
}

#[test]
fn an_empty_ledger_verifies() {
    let report = verify("", &anchor()).unwrap();
    assert_eq!((report.entries, report.head, report.last_at_ms), (0, EntryHash::ZERO, None));
    assert_eq!(Ledger::new(anchor()).report(), report);
}

#[test]
fn a_verified_file_resumes_where_it_ended() {
    let text = history().text();
    let mut resumed = Ledger::from_text(&text, anchor()).unwrap();
    assert_eq!(resumed.entries(), history().entries());
    let entry = resumed.append(finish(1_750_000_000_300, "n1", "t6"), &key(2)).unwrap();
    assert_eq!(entry.seq, 22);
    assert_eq!(entry.prev, history().entries()[20].hash());
    let report = verify(&resumed.text(), &anchor()).unwrap();
    assert_eq!((report.entries, report.tasks_finished), (22, 6));
    // A tampered file does not resume.
    let tampered = text.replacen("\"seq\":3,", "\"seq\":4,", 1);
    assert!(Ledger::from_text(&tampered, anchor()).is_err());
}

/// Appends `draft` signed by `signer` to the history and returns the refusal, checking that
/// the ledger did not change.
#[track_caller]
fn refused(draft: Draft, signer_seed: u8) -> (Problem, String) {
    let mut ledger = history();
    let before = ledger.text();
    let err = ledger.append(draft, &key(signer_seed)).unwrap_err();
    assert_eq!(ledger.text(), before, "a refused draft leaves the ledger unchanged");
    assert_eq!(err.seq, 22);
    (err.problem.clone(), err.to_string())
}

#[test]
fn a_second_finish_is_refused() {
    // Reference: issue 7 "Failover": results are accepted once.
    let (problem, message) = refused(finish(1, "n1", "t1"), 2);
    assert_eq!(problem, Problem::FinishedTwice { task: "t1".into(), first: 5, second: 22 });
    assert_eq!(
        message,
        "cannot append task_finish as seq 22: completion check failed: task t1 finished twice, \
         entries 5 and 22"
    );
    // The controller cannot record it either.
    assert_eq!(refused(finish(1, "n1", "t5"), 1).0.check(), Check::Completion);
}

#[test]
fn drafts_that_break_a_rule_are_refused_with_the_rule() {
    let n3 = key(4).verifying_key();
    let cases: Vec<(Draft, u8, Problem)> = vec![
        // Only the controller admits nodes.
        (Draft::join(1, "n3", &n3), 2, Problem::JoinNotByController { signer: "n1".into() }),
        // A member cannot join again; a join needs a key, not one in use.
        (Draft::join(1, "n1", &n3), 1, Problem::AlreadyMember { node: "n1".into(), joined: 1 }),
        (
            Draft::new(1, "n3", Kind::Join),
            1,
            Problem::BadJoinKey { reason: "missing; a join carries the node's public key".into() },
        ),
        (
            Draft::new(1, "n3", Kind::Join).detail("public_key", 7),
            1,
            Problem::BadJoinKey { reason: "expected a string of 64 hex digits".into() },
        ),
        (
            Draft::join(1, "n3", &key(2).verifying_key()),
            1,
            Problem::KeyInUse { owner: "node n1".into() },
        ),
        (Draft::join(1, "n3", &anchor()), 1, Problem::KeyInUse { owner: "the controller".into() }),
        // A node signs only its own entries, with its current key.
        (start(1, "n2", "t9"), 2, Problem::WrongSigner { signer: "n1".into(), node: "n2".into() }),
        (start(1, "n2", "t9"), 3, Problem::RevokedKey { node: "n2".into() }),
        (
            start(1, "n1", "t9"),
            9,
            Problem::UnknownKey {
                key: pool::ledger::keys::verifying_key_hex(&key(9).verifying_key()),
            },
        ),
        // Entries are of members.
        (start(1, "n2", "t9"), 1, Problem::NotMember { node: "n2".into(), left: Some(16) }),
        (start(1, "n7", "t9"), 1, Problem::NotMember { node: "n7".into(), left: None }),
        // Fields fit the kind.
        (Draft::new(1, "n1", Kind::TaskStart), 2, Problem::MissingTask),
        (start(1, "n1", ""), 2, Problem::MissingTask),
        (Draft::new(1, "n1", Kind::Leave).task("t1"), 2, Problem::UnexpectedTask),
        (start(1, "", "t9"), 1, Problem::EmptyNode),
    ];
    for (draft, signer, expected) in cases {
        let what = format!("{} of {:?} signed by key {signer}", draft.kind, draft.node);
        assert_eq!(refused(draft, signer).0, expected, "{what}");
    }
}

#[test]
fn a_detail_nested_too_deep_is_refused_before_it_is_encoded() {
    let mut value = serde_json::json!(1);
    for _ in 0..1_000 {
        value = serde_json::json!([value]);
    }
    let (problem, _) = refused(start(1, "n1", "t9").detail("deep", value), 2);
    assert_eq!(problem, Problem::DetailTooDeep { depth: 1_001 });
    let mut value = serde_json::json!(1);
    for _ in 0..30 {
        value = serde_json::json!({ "x": value });
    }
    let mut ledger = history();
    ledger.append(start(1, "n1", "t9").detail("ok", value), &key(2)).unwrap();
    assert!(verify(&ledger.text(), &anchor()).is_ok(), "32 levels still verify");
}

#[test]
fn a_node_that_left_may_join_again_with_a_new_key() {
    let mut ledger = history();
    let new_n2 = key(5);
    ledger.append(Draft::join(1, "n2", &new_n2.verifying_key()), &controller()).unwrap();
    ledger.append(start(2, "n2", "t7"), &new_n2).unwrap();
    // The old key stays revoked.
    let err = ledger.append(start(3, "n2", "t8"), &key(3)).unwrap_err();
    assert_eq!(err.problem, Problem::RevokedKey { node: "n2".into() });
    let report = verify(&ledger.text(), &anchor()).unwrap();
    assert_eq!((report.entries, report.nodes, report.members), (23, 2, 2));
}

#[test]
fn a_node_signs_its_own_report_for_the_head_the_controller_gave_it() {
    let mut ledger = history();
    let (n1, seq, prev) = (key(2), ledger.next_seq(), ledger.head());
    assert_eq!((seq, prev), (22, ledger.entries()[20].hash()));
    // Node side: the entry for that seq and prev, signed with n1's key.
    let template = ledger.entries()[0].clone();
    let report = |task: &str, seq, prev, signer: &pool::ledger::SigningKey| {
        pool::ledger::Entry {
            seq,
            at_ms: 1_750_000_000_500,
            node: "n1".into(),
            kind: Kind::TaskStart,
            task: Some(task.into()),
            detail: serde_json::Map::new(),
            prev,
            ..template.clone()
        }
        .signed(signer)
    };
    let first = report("t7", seq, prev, &n1);
    let raced = report("t8", seq, prev, &n1);
    ledger.append_signed(first.clone()).unwrap();
    assert_eq!(ledger.entries().last(), Some(&first));
    // A second report signed for the same head is stale: refused, ledger unchanged.
    let err = ledger.append_signed(raced).unwrap_err();
    assert_eq!((err.seq, err.problem), (23, Problem::OutOfOrder { previous: 22 }));
    let err = ledger.append_signed(report("t8", 23, prev, &n1)).unwrap_err();
    assert_eq!(err.problem, Problem::BadPrev { previous_line: 22 });
    let err = ledger.append_signed(report("t8", 25, ledger.head(), &n1)).unwrap_err();
    assert_eq!(err.problem, Problem::Removed { after: 22, next: 25 });
    // Signed again for the new head, it is accepted.
    ledger.append_signed(report("t8", 23, ledger.head(), &n1)).unwrap();
    // An edited report, and a report by a node for another, are refused too.
    let mut edited = report("t9", 24, ledger.head(), &n1);
    edited.task = Some("t10".into());
    let err = ledger.append_signed(edited).unwrap_err();
    assert_eq!(err.problem, Problem::BadSignature { signer: "node n1's key".into() });
    let err = ledger.append_signed(report("t9", 24, ledger.head(), &key(9))).unwrap_err();
    assert_eq!(err.problem.check(), Check::Signer);
    let verified = verify(&ledger.text(), &anchor()).unwrap();
    assert_eq!((verified.entries, verified.tasks), (23, 8));
}
