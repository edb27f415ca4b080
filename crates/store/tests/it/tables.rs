//! Each table through the public API: the journal's phase rules, plan statuses, policy
//! versions, the audit log and the inventory.

use serde_json::json;
use store::{Phase, PlanStatus, Store, StoreError};

use crate::{audit_row, entry, inventory, new_plan};

fn store() -> Store {
    Store::open_in_memory().unwrap()
}

#[test]
fn unfinished_ops_lists_each_live_operation_by_its_latest_phase() {
    let mut s = store();
    let plan = s.insert_plan(&new_plan(1, PlanStatus::Applying, "p")).unwrap().id;
    s.journal_append(&entry(10, "op-a", Some(plan), Phase::Intent)).unwrap();
    s.journal_append(&entry(11, "op-b", Some(plan), Phase::Intent)).unwrap();
    s.journal_append(&entry(12, "op-a", Some(plan), Phase::Started)).unwrap();
    let live: Vec<(String, Phase)> =
        s.unfinished_ops().unwrap().into_iter().map(|r| (r.op_id, r.phase)).collect();
    // op-a began first, so it comes first although its latest record is newer.
    assert_eq!(live, [("op-a".into(), Phase::Started), ("op-b".into(), Phase::Intent)]);

    let done = s.journal_append(&entry(13, "op-a", Some(plan), Phase::Done)).unwrap();
    let live: Vec<String> = s.unfinished_ops().unwrap().into_iter().map(|r| r.op_id).collect();
    assert_eq!(live, ["op-b"]);
    assert_eq!(s.op_latest("op-a").unwrap(), Some(done));
    assert_eq!(s.op_latest("op-z").unwrap(), None);
}

#[test]
fn an_ended_operation_stays_ended() {
    let mut s = store();
    s.journal_append(&entry(1, "op-1", None, Phase::Intent)).unwrap();
    s.journal_append(&entry(2, "op-1", None, Phase::Failed)).unwrap();
    for phase in [Phase::Started, Phase::Done, Phase::RolledBack] {
        let err = s.journal_append(&entry(3, "op-1", None, phase)).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, StoreError::Journal { .. }), "{message}");
        assert!(message.contains("\"op-1\"") && message.contains("failed"), "{message}");
        assert!(message.contains(&format!("phase {phase}")), "{message}");
    }
    assert_eq!(s.journal(0, 10).unwrap().len(), 2, "a refused append wrote nothing");
}

#[test]
fn journal_reads_page_and_filter() {
    let mut s = store();
    let p1 = s.insert_plan(&new_plan(1, PlanStatus::Applying, "p1")).unwrap().id;
    let p2 = s.insert_plan(&new_plan(2, PlanStatus::Applying, "p2")).unwrap().id;
    for (i, plan) in [p1, p2, p1, p2, p1].into_iter().enumerate() {
        s.journal_append(&entry(i as i64, &format!("op-{i}"), Some(plan), Phase::Intent)).unwrap();
    }
    let seqs =
        |records: Vec<store::JournalRecord>| records.iter().map(|r| r.seq).collect::<Vec<_>>();
    assert_eq!(seqs(s.journal(0, 2).unwrap()), [1, 2]);
    assert_eq!(seqs(s.journal(2, 10).unwrap()), [3, 4, 5]);
    assert_eq!(seqs(s.journal_recent(2).unwrap()), [5, 4]);
    assert_eq!(seqs(s.journal_for_plan(p1).unwrap()), [1, 3, 5]);
    let record = &s.journal(0, 1).unwrap()[0];
    assert_eq!((record.kind.as_str(), &record.detail), ("migrate", &json!({ "to": "h2" })));

    let err = s.journal_append(&entry(9, "op-x", Some(99), Phase::Intent)).unwrap_err();
    assert!(err.to_string().contains("plan 99 is not in the store"), "{err}");
    let err = s.journal_append(&entry(9, "", None, Phase::Intent)).unwrap_err();
    assert!(matches!(err, StoreError::Journal { .. }), "{err}");
}

#[test]
fn plan_statuses_round_trip_and_unknown_plans_are_named() {
    let mut s = store();
    assert_eq!(s.latest_plan().unwrap(), None);
    for (i, status) in PlanStatus::ALL.iter().enumerate() {
        let plan = s.insert_plan(&new_plan(i as i64, *status, &format!("plan {i}"))).unwrap();
        assert_eq!(plan.id, i as i64 + 1);
        assert_eq!(s.plan(plan.id).unwrap(), Some(plan));
    }
    s.set_plan_status(1, PlanStatus::Superseded, 100, Some("replaced by plan 2")).unwrap();
    let plan = s.plan(1).unwrap().unwrap();
    assert_eq!((plan.status, plan.at_ms, plan.updated_ms), (PlanStatus::Superseded, 0, 100));
    assert_eq!(plan.note.as_deref(), Some("replaced by plan 2"));

    let newest: Vec<i64> = s.plans(3).unwrap().iter().map(|p| p.id).collect();
    assert_eq!(newest, [8, 7, 6]);
    assert_eq!(s.latest_plan().unwrap().map(|p| p.id), Some(8));
    let open: Vec<i64> = s
        .plans_with_status(&[PlanStatus::Applying, PlanStatus::Approved])
        .unwrap()
        .iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(open, [2, 4]);
    assert!(s.plans_with_status(&[]).unwrap().is_empty());

    let err = s.set_plan_status(42, PlanStatus::Applied, 1, None).unwrap_err();
    assert!(matches!(err, StoreError::UnknownPlan { id: 42, .. }), "{err}");
    assert_eq!(err.to_string(), "store (in memory): no plan with id 42");
}

#[test]
fn policy_versions_count_up_and_list_newest_first() {
    let mut s = store();
    assert_eq!(s.policy().unwrap(), None);
    for v in 1..=3 {
        let put = s.put_policy(&json!({ "max_inlet_c": 25 + v }), "ops", v * 10).unwrap();
        assert_eq!(put.version, v);
    }
    let latest = s.policy().unwrap().unwrap();
    assert_eq!(
        (latest.version, latest.at_ms, &latest.body),
        (3, 30, &json!({ "max_inlet_c": 28 }))
    );
    let versions: Vec<i64> = s.policy_versions(2).unwrap().iter().map(|p| p.version).collect();
    assert_eq!(versions, [3, 2]);
}

#[test]
fn audit_pages_backwards_from_the_newest() {
    let mut s = store();
    let rows: Vec<_> = (0..5).map(|i| audit_row(i, &format!("action-{i}"))).collect();
    s.append_audit(&rows).unwrap();
    let page = s.audit(2, None).unwrap();
    assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), [5, 4]);
    let next = s.audit(10, Some(page[1].seq)).unwrap();
    assert_eq!(
        next.iter().map(|r| r.action.as_str()).collect::<Vec<_>>(),
        ["action-2", "action-1", "action-0"]
    );
    assert_eq!((next[0].zone.as_deref(), next[0].instance.as_deref()), (Some("z1"), None));
}

#[test]
fn the_inventory_is_replaced_whole_or_not_at_all() {
    let mut s = store();
    assert_eq!(s.inventory().unwrap(), store::Inventory::default());
    s.put_inventory(&inventory(), 1).unwrap();
    assert_eq!(s.inventory().unwrap(), inventory());

    let mut smaller = inventory();
    smaller.hosts.truncate(1);
    smaller.instances.clear();
    s.put_inventory(&smaller, 2).unwrap();
    assert_eq!(s.inventory().unwrap(), smaller);

    let mut bad = inventory();
    bad.hosts[1].cpu = f64::NAN;
    let err = s.put_inventory(&bad, 3).unwrap_err();
    assert!(err.to_string().contains("host \"h1\": cpu"), "{err}");
    let mut duplicate = inventory();
    duplicate.hosts[1].id = "h2".into();
    assert!(s.put_inventory(&duplicate, 3).is_err());
    assert_eq!(s.inventory().unwrap(), smaller, "a refused put changed nothing");
}

#[test]
fn controller_state_is_replaced_per_key_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hearth.db");
    {
        let (mut s, _) = Store::open(&path).unwrap();
        assert_eq!(s.state("guard").unwrap(), None);
        s.put_state("guard", &json!({"zones": [1]}), 5).unwrap();
        s.put_state("guard", &json!({"zones": [2]}), 9).unwrap();
        s.put_state("other", &json!("x"), 7).unwrap();
    }
    let (s, _) = Store::open(&path).unwrap();
    assert_eq!(s.state("guard").unwrap(), Some((9, json!({"zones": [2]}))));
    assert_eq!(s.state("other").unwrap(), Some((7, json!("x"))));
}
