//! Opening a file: created, initialized, migrated, or refused without a byte written; and two
//! handles on one file at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use rusqlite::Connection;
use serde_json::json;
use store::schema::{APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION};
use store::{Phase, PlanStatus, Store, StoreError};

use crate::{audit_row, entry, inventory, new_plan, open, sample, scratch};

/// Opens `path` expecting an error, and checks the file's bytes did not change.
#[track_caller]
fn refused(path: &std::path::Path) -> StoreError {
    let before = std::fs::read(path).expect("read the file before");
    let err = match Store::open(path) {
        Ok(_) => panic!("{} opened; expected a refusal", path.display()),
        Err(err) => err,
    };
    assert_eq!(std::fs::read(path).expect("read the file after"), before, "file changed: {err}");
    assert!(err.to_string().contains(&path.display().to_string()), "path not named: {err}");
    err
}

#[test]
fn a_missing_file_is_created_and_everything_survives_a_reopen() {
    let (_dir, path) = scratch();
    let (mut store, opened) = Store::open(&path).unwrap();
    assert!(opened.created);
    assert_eq!((opened.migrated_from, opened.backup), (None, None));
    assert_eq!(opened.schema_version, SCHEMA_VERSION);
    assert_eq!(store.path(), Some(path.as_path()));

    store.put_inventory(&inventory(), 10).unwrap();
    store.put_policy(&json!({ "max_inlet_c": 27 }), "ops", 20).unwrap();
    store.put_policy(&json!({ "max_inlet_c": 28 }), "ops", 30).unwrap();
    let plan = store.insert_plan(&new_plan(40, PlanStatus::Proposed, "drain h1")).unwrap();
    store.set_plan_status(plan.id, PlanStatus::Applying, 50, Some("approved by ops")).unwrap();
    store.journal_append(&entry(60, "op-1", Some(plan.id), Phase::Intent)).unwrap();
    store.append_audit(&[audit_row(70, "power_down")]).unwrap();
    store.record_metrics(80, &[sample("host_power_w", "host=h1", 250.5)]).unwrap();
    let journal = store.journal(0, 10).unwrap();
    drop(store);

    let (store, opened) = Store::open(&path).unwrap();
    assert!(!opened.created);
    assert_eq!(opened.migrated_from, None);
    assert_eq!(store.inventory().unwrap(), inventory());
    let versions: Vec<i64> = store.policy_versions(10).unwrap().iter().map(|p| p.version).collect();
    assert_eq!(versions, [2, 1]);
    let plan = store.plan(plan.id).unwrap().unwrap();
    assert_eq!((plan.status, plan.updated_ms), (PlanStatus::Applying, 50));
    assert_eq!(plan.note.as_deref(), Some("approved by ops"));
    assert_eq!(store.journal(0, 10).unwrap(), journal);
    assert_eq!(store.unfinished_ops().unwrap(), journal);
    assert_eq!(store.audit(10, None).unwrap()[0].action, "power_down");
    assert_eq!(store.series("host_power_w", "host=h1", 0, 100).unwrap(), [(80, 250.5)]);

    let raw = Connection::open(&path).unwrap();
    let mode: String = raw.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn an_empty_file_is_initialized() {
    let (_dir, path) = scratch();
    std::fs::write(&path, b"").unwrap();
    let (store, opened) = Store::open(&path).unwrap();
    assert!(opened.created);
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(store.policy().unwrap(), None);
}

#[test]
fn a_file_of_text_is_refused_as_corrupt_and_left_alone() {
    let (_dir, path) = scratch();
    std::fs::write(&path, "not a database\n".repeat(4096 / 15)).unwrap();
    let err = refused(&path);
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("not a SQLite file") && message.contains("move it aside"),
        "{message}"
    );
}

#[test]
fn a_damaged_store_is_refused_as_corrupt_and_left_alone() {
    let (_dir, path) = scratch();
    let mut store = open(&path);
    for t in 0..20 {
        let samples: Vec<_> =
            (0..100).map(|h| sample("inlet_c", &format!("host=h{h}"), 20.0)).collect();
        store.record_metrics(t, &samples).unwrap();
    }
    drop(store);
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 64 * 1024, "only {} bytes", bytes.len());
    let middle = bytes.len() / 2 / 4096 * 4096;
    bytes[middle..middle + 8192].fill(0xA5);
    std::fs::write(&path, &bytes).unwrap();
    let err = refused(&path);
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
}

#[test]
fn another_programs_database_is_refused_naming_its_tables() {
    let (_dir, path) = scratch();
    let raw = Connection::open(&path).unwrap();
    raw.execute_batch("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);").unwrap();
    drop(raw);
    match refused(&path) {
        StoreError::Foreign { tables, .. } => assert_eq!(tables, ["customers"]),
        err => panic!("expected Foreign, got {err}"),
    }
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    let (_dir, path) = scratch();
    drop(open(&path));
    let raw = Connection::open(&path).unwrap();
    raw.pragma_update(None, "user_version", 99).unwrap();
    drop(raw);
    match refused(&path) {
        StoreError::NewerSchema { found, supported, .. } => {
            assert_eq!((found, supported), (99, SCHEMA_VERSION));
        }
        err => panic!("expected NewerSchema, got {err}"),
    }
}

#[test]
fn a_version_1_store_is_backed_up_then_migrated_with_its_data() {
    let (_dir, path) = scratch();
    let raw = Connection::open(&path).unwrap();
    raw.pragma_update(None, "application_id", APPLICATION_ID).unwrap();
    raw.execute_batch(MIGRATIONS[0].1).unwrap();
    raw.pragma_update(None, "user_version", 1).unwrap();
    raw.execute_batch(
        "INSERT INTO policy (at_ms, author, body) VALUES (5, 'ops', '{\"max_inlet_c\":27}');
         INSERT INTO plans (at_ms, updated_ms, mode, status, summary, note, body)
             VALUES (6, 7, 'apply', 'applied', 'drain h1', NULL, '{}');
         INSERT INTO journal (at_ms, op_id, plan_id, step, kind, subject, phase, detail, error)
             VALUES (8, 'op-1', 1, 0, 'migrate', 'vm-1', 'started', '{}', NULL);
         INSERT INTO metrics (name, labels, at_ms, value) VALUES ('inlet_c', '', 9, 21.5);",
    )
    .unwrap();
    drop(raw);

    let (mut store, opened) = Store::open(&path).unwrap();
    assert!(!opened.created);
    assert_eq!(opened.migrated_from, Some(1));
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let backup = opened.backup.expect("a backup");
    assert_eq!(backup.file_name().unwrap(), "hearth.db.pre-v1.bak");
    let old = Connection::open(&backup).unwrap();
    let old_version: u32 = old.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    let old_plans: i64 = old.query_row("SELECT count(*) FROM plans", [], |r| r.get(0)).unwrap();
    assert_eq!((old_version, old_plans), (1, 1));

    assert_eq!(store.policy().unwrap().unwrap().body, json!({ "max_inlet_c": 27 }));
    assert_eq!(store.plan(1).unwrap().unwrap().status, PlanStatus::Applied);
    assert_eq!(store.op_latest("op-1").unwrap().unwrap().phase, Phase::Started);
    assert_eq!(store.series("inlet_c", "", 0, 10).unwrap(), [(9, 21.5)]);
    // Version 2's table is there: compaction writes buckets.
    let stats = store
        .compact(
            1_000_000,
            &store::Retention { raw_ms: 0, bucket_ms: 10, downsampled_ms: 1_000_000 },
        )
        .unwrap();
    assert_eq!(stats.downsampled_rows, 1);
    // Version 3's table is there: controller state round-trips.
    store.put_state("guard", &json!({"zones": []}), 11).unwrap();
    assert_eq!(store.state("guard").unwrap(), Some((11, json!({"zones": []}))));
    drop(store);
    let (_, again) = Store::open(&path).unwrap();
    assert_eq!((again.migrated_from, again.backup), (None, None));
}

#[test]
fn a_failed_migration_loses_nothing() {
    let (_dir, path) = scratch();
    let raw = Connection::open(&path).unwrap();
    raw.pragma_update(None, "application_id", APPLICATION_ID).unwrap();
    raw.execute_batch(MIGRATIONS[0].1).unwrap();
    // A table in the way of version 2's `CREATE TABLE metrics_buckets`.
    raw.execute_batch("CREATE TABLE metrics_buckets (x INTEGER);").unwrap();
    raw.execute("INSERT INTO policy (at_ms, author, body) VALUES (5, 'ops', '{}')", []).unwrap();
    raw.pragma_update(None, "user_version", 1).unwrap();
    drop(raw);

    for backup in ["hearth.db.pre-v1.bak", "hearth.db.pre-v1.bak.1"] {
        match Store::open(&path) {
            Err(StoreError::Migration { from: 1, to: SCHEMA_VERSION, detail, .. }) => {
                assert!(detail.contains("step to version 2"), "{detail}");
            }
            Err(err) => panic!("expected a migration error, got {err}"),
            Ok(_) => panic!("opened a store whose migration must fail"),
        }
        assert!(path.with_file_name(backup).exists(), "no {backup}");
    }
    let raw = Connection::open(&path).unwrap();
    let version: u32 = raw.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    let policies: i64 = raw.query_row("SELECT count(*) FROM policy", [], |r| r.get(0)).unwrap();
    assert_eq!((version, policies), (1, 1), "rolled back whole");
}

#[test]
fn a_reader_and_a_writer_share_one_file() {
    let (_dir, path) = scratch();
    let mut writer = open(&path);
    let reader = open(&path);
    writer.insert_plan(&new_plan(1, PlanStatus::Applying, "p")).unwrap();

    // A reader in the middle of a read transaction neither blocks the writer nor sees its
    // commits until it ends (WAL snapshot isolation).
    let raw = Connection::open(&path).unwrap();
    raw.execute_batch("BEGIN").unwrap();
    let count =
        || -> i64 { raw.query_row("SELECT count(*) FROM journal", [], |r| r.get(0)).unwrap() };
    assert_eq!(count(), 0);
    writer.journal_append(&entry(2, "op-0", Some(1), Phase::Intent)).unwrap();
    assert_eq!(count(), 0);
    raw.execute_batch("COMMIT").unwrap();
    assert_eq!(count(), 1);

    const N: i64 = 200;
    let done = AtomicBool::new(false);
    thread::scope(|scope| {
        scope.spawn(|| {
            for i in 1..=N {
                writer
                    .journal_append(&entry(i, &format!("op-{i}"), Some(1), Phase::Started))
                    .unwrap();
            }
            done.store(true, Ordering::Release);
        });
        let mut seen = 0;
        while !done.load(Ordering::Acquire) {
            let now = reader.journal(0, usize::MAX).unwrap().len();
            assert!(now >= seen, "the reader went back from {seen} to {now} records");
            seen = now;
        }
    });
    assert_eq!(reader.unfinished_ops().unwrap().len() as i64, N + 1);
}

#[test]
fn unreadable_values_in_a_row_are_errors_naming_the_row() {
    let (_dir, path) = scratch();
    let mut store = open(&path);
    let bad_body = store.insert_plan(&new_plan(1, PlanStatus::Proposed, "p")).unwrap().id;
    let bad_status = store.insert_plan(&new_plan(2, PlanStatus::Proposed, "q")).unwrap().id;
    let raw = Connection::open(&path).unwrap();
    raw.execute("UPDATE plans SET body = '{\"steps\": [' WHERE id = ?1", [bad_body]).unwrap();
    raw.execute("UPDATE plans SET status = 'lost' WHERE id = ?1", [bad_status]).unwrap();
    for (id, what) in [(bad_body, "stored JSON is unreadable"), (bad_status, "\"lost\"")] {
        let err = store.plan(id).unwrap_err();
        assert!(matches!(err, StoreError::BadValue { .. }), "{err}");
        let message = err.to_string();
        assert!(
            message.contains(&format!("plans row {id}")) && message.contains(what),
            "{message}"
        );
    }
    assert!(store.plans(10).is_err());
}
