//! The store's integration tests, one binary (STYLE.md "Inside a crate"): the rules for opening
//! a file (`open`), each table through the public API (`tables`), and metrics with retention
//! (`metrics`).

mod metrics;
mod open;
mod tables;

use std::path::{Path, PathBuf};

use serde_json::json;
use store::{
    AuditRow, HostRow, InstanceRow, Inventory, JournalEntry, NewPlan, Phase, PlanStatus, Sample,
    Store,
};

/// A fresh directory and the path of a store file in it (not yet created).
fn scratch() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let path = dir.path().join("hearth.db");
    (dir, path)
}

/// Opens a store that must open.
#[track_caller]
fn open(path: &Path) -> Store {
    match Store::open(path) {
        Ok((store, _)) => store,
        Err(err) => panic!("{err}"),
    }
}

fn new_plan(at_ms: i64, status: PlanStatus, summary: &str) -> NewPlan {
    NewPlan {
        at_ms,
        mode: "propose".into(),
        status,
        summary: summary.into(),
        body: json!({ "steps": [summary] }),
    }
}

fn entry(at_ms: i64, op_id: &str, plan_id: Option<i64>, phase: Phase) -> JournalEntry {
    JournalEntry {
        at_ms,
        op_id: op_id.into(),
        plan_id,
        step: 0,
        kind: "migrate".into(),
        subject: "vm-1".into(),
        phase,
        detail: json!({ "to": "h2" }),
        error: None,
    }
}

fn audit_row(at_ms: i64, action: &str) -> AuditRow {
    AuditRow {
        at_ms,
        source: "thermal".into(),
        zone: Some("z1".into()),
        host: Some("h1".into()),
        instance: None,
        action: action.into(),
        reason: "inlet above 30 °C".into(),
        body: json!({ "inlet_c": 31.5 }),
    }
}

fn sample(name: &str, labels: &str, value: f64) -> Sample {
    Sample { name: name.into(), labels: labels.into(), value }
}

fn inventory() -> Inventory {
    let host = |id: &str, management| HostRow {
        id: id.into(),
        zone: "z1".into(),
        rack: "r1".into(),
        host_type: "std".into(),
        cpu: 32.0,
        memory_mib: 131_072.0,
        management,
        power: "on".into(),
        driver: "simulated".into(),
    };
    Inventory {
        // Not in id order: the store keeps the order it was given.
        hosts: vec![host("h2", false), host("h1", true)],
        instances: vec![
            InstanceRow {
                id: "vm-1".into(),
                host: Some("h2".into()),
                cpu: 4.0,
                memory_mib: 8192.0,
                state: "running".into(),
            },
            InstanceRow {
                id: "vm-0".into(),
                host: None,
                cpu: 2.0,
                memory_mib: 1024.0,
                state: "pending".into(),
            },
        ],
    }
}
