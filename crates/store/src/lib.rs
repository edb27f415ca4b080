//! The controller's durable store: one SQLite file in WAL mode, written only through [`Store`].
//! Every time is the caller's (`at_ms`, milliseconds); the store reads no clock. Bodies of
//! policies, plans, journal entries and audit rows are opaque JSON, so the store depends on no
//! other hearth crate.
//!
//! Reading order: [`types`] (the rows), [`error`], [`schema`] (the migrations), then `Store`'s
//! methods by table: `store` (opening), `records`, `journal`, `metrics`.
//!
//! # Tables
//! - `meta`: key/value facts about the file (`format`, `inventory_at_ms`).
//! - `hosts`, `instances`: the latest inventory snapshot, replaced whole by each put.
//! - `policy`: every policy version ever put, numbered 1, 2, 3, …
//! - `plans`: every plan with its status, last change and note.
//! - `journal`: the action journal, append-only; an operation's latest row is its phase.
//! - `audit`: decisions and events, append-only.
//! - `metrics`: raw samples per name, labels and time; `metrics_buckets`: older samples as
//!   average, min, max and count per bucket ([`Store::compact`]).
//! - `controller_state`: named JSON documents the controller must keep across a restart (the
//!   thermal guard's memory), replaced per key ([`Store::put_state`]).
//!
//! # Opening a file
//! The file carries `PRAGMA application_id` [`schema::APPLICATION_ID`] and its schema version in
//! `PRAGMA user_version`. [`Store::open`] initializes a missing or empty file; migrates an older
//! schema in one transaction, after copying the file to `<path>.pre-v<old>.bak`; and refuses,
//! without writing a byte, a file that is not SQLite or fails `PRAGMA quick_check`, another
//! program's database, or a newer schema. Connections use WAL (readers never block the writer),
//! `synchronous=FULL` (a write is on disk when it returns), foreign keys and a 5 s busy timeout.
//!
//! ```
//! use store::{NewPlan, PlanStatus, Store};
//!
//! let mut store = Store::open_in_memory()?;
//! let plan = NewPlan {
//!     at_ms: 1_000,
//!     mode: "propose".into(),
//!     status: PlanStatus::Proposed,
//!     summary: "drain h3".into(),
//!     body: serde_json::json!({"steps": []}),
//! };
//! let id = store.insert_plan(&plan)?.id;
//! store.set_plan_status(id, PlanStatus::Approved, 2_000, Some("operator"))?;
//! assert_eq!(store.latest_plan()?.map(|p| p.status), Some(PlanStatus::Approved));
//! # Ok::<(), store::StoreError>(())
//! ```

pub mod types;

pub mod error;

pub mod schema;

mod store;

mod records;

mod journal;

mod metrics;

pub use crate::error::StoreError;
pub use crate::store::Store;
pub use crate::types::{
    AuditRecord, AuditRow, CompactStats, HostRow, InstanceRow, Inventory, JournalEntry,
    JournalRecord, NewPlan, Opened, Phase, PlanRecord, PlanStatus, PolicyVersion, Retention,
    Sample,
};
