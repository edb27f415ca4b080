//! The arrangement planner: repair → cover → drain → place → power → sequence.
//!
//! Objective, lexicographic (issue 3): (1) feasibility; (2) most hosts reaching their target
//! minimum heat rate; (3) most heat on those hosts; (4) fewest hosts left powered; (5) least
//! memory migrated, within the budget and dwell times.

use crate::fleet::{Pinned, Problem};
use serde::Serialize;

/// What the planner decided, as data. Indices refer to the [`Problem`]'s hosts and instances.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    /// Target host per instance; `None` for an unplaced instance no host could take.
    pub assignment: Vec<Option<usize>>,
    /// Live migrations, in an order that never overcommits a host (nor breaks an anti-affinity
    /// group) at any intermediate step, counting a migrating instance on both hosts.
    pub migrations: Vec<Move>,
    /// First placements of instances that had no host.
    pub placements: Vec<Placement>,
    /// Power actions: wake or power on before the migrations, power down after them.
    pub power: Vec<PowerAction>,
    /// Per host: outcome and reason.
    pub hosts: Vec<HostOutcome>,
    /// Per instance: outcome and reason.
    pub instances: Vec<InstanceOutcome>,
    /// The objective's terms for the target arrangement.
    pub score: Score,
    /// Upper bound on `score.covered_hosts` ([`crate::bound`]).
    pub upper_bound: usize,
}

/// One live migration.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Move {
    /// Instance index.
    pub instance: usize,
    /// Source host index.
    pub from: usize,
    /// Destination host index.
    pub to: usize,
    /// Memory moved (MiB).
    pub memory_mib: f64,
}

/// A first placement of an instance that had no host.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Placement {
    /// Instance index.
    pub instance: usize,
    /// Host index.
    pub host: usize,
}

/// A power action on a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PowerAction {
    /// Host index.
    pub host: usize,
    /// What to do.
    pub action: PowerKind,
}

/// Kinds of power action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerKind {
    /// Power on a host that is off (before migrations to it).
    PowerOn,
    /// Wake a host from its energy-saving state (before migrations to it).
    Wake,
    /// Power down a host left empty (after migrations from it).
    PowerDown,
}

/// The objective's terms.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Score {
    /// Hosts running at least one instance with heat at or above their target.
    pub covered_hosts: usize,
    /// Heat on those hosts (W): idle plus instances.
    pub harvested_heat_w: f64,
    /// Hosts left powered (running instances, or kept as spares).
    pub active_hosts: usize,
    /// Live migrations.
    pub migrations: usize,
    /// Memory those migrations move (MiB).
    pub migration_mib: f64,
}

/// What happens to a host and why.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct HostOutcome {
    /// Estimated heat after the plan (W; 0 when not powered).
    pub heat_w: f64,
    /// Whether it reaches its target.
    pub covered: bool,
    /// Whether it is powered after the plan.
    pub powered: bool,
    /// Why it ends in that state.
    pub reason: HostReason,
}

/// Named reasons for a host's final state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostReason {
    /// Runs instances whose heat reaches its target.
    Covered,
    /// Runs instances below its target: not enough movable heat to cover it, and its
    /// instances could not all move elsewhere (capacity, pinning, budget or dwell).
    BelowTarget,
    /// Still over a capacity, headroom, thermal or anti-affinity limit: its instances are
    /// pinned, nothing else can take them, or the migration budget ran out first.
    OverLimit,
    /// Empty and kept powered as a spare.
    Spare,
    /// Empty: powered down (or left off).
    PoweredDown,
    /// Empty and already off or saving: left as it is.
    AlreadyOff,
}

/// What happens to an instance and why.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum InstanceOutcome {
    /// Migrates.
    Moved {
        /// Why.
        why: MoveReason,
    },
    /// Placed for the first time.
    Placed,
    /// Stays on its host.
    Stays {
        /// Why it is not moved.
        why: StayReason,
    },
    /// Had no host and none can take it now.
    Unplaced,
}

/// Why an instance migrates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MoveReason {
    /// Its host was over a capacity, headroom, thermal or anti-affinity limit.
    Repair,
    /// It brings a host up to its target.
    Cover,
    /// Its host is emptied so it can be powered down.
    Drain,
    /// The exact (MILP) optimum puts it elsewhere ([`explain`]).
    Exact,
}

/// Why an instance stays.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StayReason {
    /// Not migratable, or moved too recently.
    Pinned {
        /// Which.
        pinned: Pinned,
    },
    /// Its host reaches its target; moving it would not cover another.
    OnCoveredHost,
    /// Its host is below target and no move of it improves the objective.
    NoBetterHost,
    /// A move would help but the migration budget is spent.
    BudgetExhausted,
    /// A move was planned but no order of migrations could make it without overcommitting a
    /// host on the way (a cycle with no spare room to stage through), so it was dropped.
    NoSafeOrder,
}

/// Plans the arrangement for `problem`. Never fails: an instance no host can take is reported
/// [`InstanceOutcome::Unplaced`].
pub fn plan(problem: &Problem) -> Plan {
    crate::planner::run(problem)
}

/// Turns a target arrangement found elsewhere (the exact solver, an operator's edit) into a full
/// plan: the migrations ordered safely, power actions, and every host's and instance's reason.
/// Instances whose target differs from their current host move for [`MoveReason::Exact`].
/// `target` has one entry per instance; an entry out of range leaves the instance where it is.
pub fn explain(problem: &Problem, target: &[Option<usize>]) -> Plan {
    crate::planner::explain(problem, target)
}
