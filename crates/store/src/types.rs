//! The rows the store holds, as plain data. Bodies of policies, plans, journal entries and audit
//! rows are opaque JSON, so the store depends on no other hearth crate.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What [`crate::Store::open`] found and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opened {
    /// The file was missing or empty and was initialized at the current schema.
    pub created: bool,
    /// The file had this older schema version and was migrated.
    pub migrated_from: Option<u32>,
    /// The schema version now.
    pub schema_version: u32,
    /// Where the pre-migration copy was written, when a migration ran.
    pub backup: Option<PathBuf>,
}

/// The latest snapshot of the fleet: hosts and instances.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Inventory {
    /// Every host, in the order they were put.
    pub hosts: Vec<HostRow>,
    /// Every instance, in the order they were put.
    pub instances: Vec<InstanceRow>,
}

/// One host of the inventory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostRow {
    /// The host id; unique in one inventory.
    pub id: String,
    /// The zone it stands in.
    pub zone: String,
    /// Its rack.
    pub rack: String,
    /// Its host type's name.
    pub host_type: String,
    /// CPU capacity, in the model's CPU units.
    pub cpu: f64,
    /// Memory capacity, MiB.
    pub memory_mib: f64,
    /// Whether it is a management host (never powered down).
    pub management: bool,
    /// Its power state's name.
    pub power: String,
    /// The driver that manages it.
    pub driver: String,
}

/// One instance of the inventory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceRow {
    /// The instance id; unique in one inventory.
    pub id: String,
    /// The host it runs on, if placed.
    pub host: Option<String>,
    /// CPU it asks for.
    pub cpu: f64,
    /// Memory it asks for, MiB.
    pub memory_mib: f64,
    /// Its state's name.
    pub state: String,
}

/// One version of the policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyVersion {
    /// 1 for the first policy put, then 2, 3, …
    pub version: i64,
    /// When it was put (caller's clock, ms).
    pub at_ms: i64,
    /// Who put it.
    pub author: String,
    /// The policy, as validated by the caller.
    pub body: Value,
}

/// Defines a closed enum stored as its snake_case name, with `Display` and `FromStr`.
macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The snake_case name, as stored.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, String> {
                $name::ALL.iter().copied().find(|v| v.as_str() == text).ok_or_else(|| {
                    let names: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                    format!("unknown {} {text:?}; expected one of {}", stringify!($name), names.join(", "))
                })
            }
        }
    };
}

named_enum! {
    /// Where a plan stands.
    PlanStatus {
        /// Made, waiting for approval.
        Proposed = "proposed",
        /// Approved, not yet applied.
        Approved = "approved",
        /// Refused by an operator or a check.
        Rejected = "rejected",
        /// Being applied.
        Applying = "applying",
        /// Every step done.
        Applied = "applied",
        /// Applying stopped with some steps done and some not.
        PartiallyApplied = "partially_applied",
        /// Replaced by a newer plan before it was applied.
        Superseded = "superseded",
        /// Recorded for information only (observe mode); never applied.
        Observed = "observed",
    }
}

impl PlanStatus {
    /// Whether the plan may still change the fleet: proposed, approved or applying.
    pub fn is_open(self) -> bool {
        matches!(self, PlanStatus::Proposed | PlanStatus::Approved | PlanStatus::Applying)
    }
}

named_enum! {
    /// The phase of one operation in the action journal.
    Phase {
        /// About to act; nothing done yet.
        Intent = "intent",
        /// The action was issued; its outcome is not known.
        Started = "started",
        /// The action succeeded.
        Done = "done",
        /// The action failed.
        Failed = "failed",
        /// The action was undone.
        RolledBack = "rolled_back",
        /// The action was not attempted.
        Skipped = "skipped",
    }
}

impl Phase {
    /// Whether the operation has ended: done, failed, rolled back or skipped.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Phase::Intent | Phase::Started)
    }
}

/// A plan to insert; the store assigns its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewPlan {
    /// When it was made (caller's clock, ms).
    pub at_ms: i64,
    /// The controller's mode when it was made (`observe`, `propose`, `apply`).
    pub mode: String,
    /// Its first status.
    pub status: PlanStatus,
    /// One line for lists.
    pub summary: String,
    /// The plan itself.
    pub body: Value,
}

/// A stored plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanRecord {
    /// 1 for the first plan inserted, then 2, 3, …
    pub id: i64,
    /// When it was made (caller's clock, ms).
    pub at_ms: i64,
    /// When its status last changed (caller's clock, ms).
    pub updated_ms: i64,
    /// The controller's mode when it was made.
    pub mode: String,
    /// Its status now.
    pub status: PlanStatus,
    /// One line for lists.
    pub summary: String,
    /// The note given with the latest status change.
    pub note: Option<String>,
    /// The plan itself.
    pub body: Value,
}

/// One step of one operation, to append to the action journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// When (caller's clock, ms).
    pub at_ms: i64,
    /// The operation, the same in each of its phases.
    pub op_id: String,
    /// The plan the operation belongs to; it must be in the store.
    pub plan_id: Option<i64>,
    /// The step's index in its plan.
    pub step: u32,
    /// What kind of action (`migrate`, `power_off`).
    pub kind: String,
    /// What it acts on (a host or instance id).
    pub subject: String,
    /// The phase this entry records.
    pub phase: Phase,
    /// Anything else the executor wants back on replay.
    pub detail: Value,
    /// The error, for a failed phase.
    pub error: Option<String>,
}

/// A journal entry as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalRecord {
    /// Its position in the journal: increasing, never reused.
    pub seq: i64,
    /// When (caller's clock, ms).
    pub at_ms: i64,
    /// The operation.
    pub op_id: String,
    /// The plan the operation belongs to.
    pub plan_id: Option<i64>,
    /// The step's index in its plan.
    pub step: u32,
    /// What kind of action.
    pub kind: String,
    /// What it acts on.
    pub subject: String,
    /// The phase this entry records.
    pub phase: Phase,
    /// Anything else the executor wanted back.
    pub detail: Value,
    /// The error, for a failed phase.
    pub error: Option<String>,
}

/// One decision or event to append to the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    /// When (caller's clock, ms).
    pub at_ms: i64,
    /// Who decided (`thermal`, `planner`, `operator`).
    pub source: String,
    /// The zone concerned, if any.
    pub zone: Option<String>,
    /// The host concerned, if any.
    pub host: Option<String>,
    /// The instance concerned, if any.
    pub instance: Option<String>,
    /// What was decided.
    pub action: String,
    /// Why, in one line.
    pub reason: String,
    /// The details.
    pub body: Value,
}

/// An audit row as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Its position in the log: increasing, never reused.
    pub seq: i64,
    /// When (caller's clock, ms).
    pub at_ms: i64,
    /// Who decided.
    pub source: String,
    /// The zone concerned, if any.
    pub zone: Option<String>,
    /// The host concerned, if any.
    pub host: Option<String>,
    /// The instance concerned, if any.
    pub instance: Option<String>,
    /// What was decided.
    pub action: String,
    /// Why, in one line.
    pub reason: String,
    /// The details.
    pub body: Value,
}

/// One metric value at one time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The metric's name (`host_power_w`).
    pub name: String,
    /// Canonical `k=v,k=v` text, keys sorted; `""` for none.
    pub labels: String,
    /// The value; must be finite.
    pub value: f64,
}

/// How long metrics are kept, and how coarsely.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Raw samples younger than this are kept as they are.
    pub raw_ms: i64,
    /// Older samples are averaged into buckets this wide.
    pub bucket_ms: i64,
    /// Buckets older than this are deleted.
    pub downsampled_ms: i64,
}

impl Default for Retention {
    /// 24 h of raw samples, then 5-minute buckets kept for 30 days.
    fn default() -> Self {
        const MINUTE_MS: i64 = 60_000;
        Retention {
            raw_ms: 24 * 60 * MINUTE_MS,
            bucket_ms: 5 * MINUTE_MS,
            downsampled_ms: 30 * 24 * 60 * MINUTE_MS,
        }
    }
}

/// What one [`crate::Store::compact`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CompactStats {
    /// Buckets written or extended.
    pub downsampled_rows: usize,
    /// Raw samples deleted after being downsampled.
    pub deleted_raw: usize,
    /// Buckets deleted for age.
    pub deleted_buckets: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_display_from_str_and_serde() {
        for status in PlanStatus::ALL {
            assert_eq!(status.to_string().parse::<PlanStatus>(), Ok(*status));
            assert_eq!(serde_json::to_value(status).unwrap(), Value::from(status.as_str()));
        }
        for phase in Phase::ALL {
            assert_eq!(phase.to_string().parse::<Phase>(), Ok(*phase));
        }
        assert_eq!(PlanStatus::PartiallyApplied.to_string(), "partially_applied");
        let err = "done!".parse::<Phase>().unwrap_err();
        assert!(err.contains("unknown Phase \"done!\"") && err.contains("rolled_back"), "{err}");
    }

    #[test]
    fn open_and_terminal_sets() {
        let open: Vec<_> = PlanStatus::ALL.iter().filter(|s| s.is_open()).collect();
        assert_eq!(open, [&PlanStatus::Proposed, &PlanStatus::Approved, &PlanStatus::Applying]);
        let live: Vec<_> = Phase::ALL.iter().filter(|p| !p.is_terminal()).collect();
        assert_eq!(live, [&Phase::Intent, &Phase::Started]);
    }
}
