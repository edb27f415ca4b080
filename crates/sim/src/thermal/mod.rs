//! The thermal twin: hosts with a first-order thermal model in cooling zones whose air is held by
//! cooling units (CRACs) and a heat-recovery loop that fail and recover on schedule, sensors that
//! go stale or missing, and a runner that lets a thermal guard observe and act on it (seed 002,
//! issue "Thermal model in the twin").
//!
//! Reading order: [`physics`] (the zone-air and host laws, integrated exactly), [`scenario`] (the
//! TOML scenario file, parsed low and lifted into a validated [`Scenario`]), [`run`](mod@run) (the step
//! loop, action validation and the metrics), [`guard`] (the thermal crate's guard, seed 002 and
//! its naive baselines, built from a strategy name and the scenario's `[guard]` policy). The
//! guard is anything that implements [`Guard`]; [`NoGuard`] does nothing. Pure: the caller passes
//! the file's text.
//! docs/sim.md, "Thermal scenarios", documents the file format, the physics and the metrics.

pub mod guard;
pub mod physics;
pub mod run;
pub mod scenario;

#[cfg(test)]
mod tests;

pub use run::{run, InvalidAction, RunError, SeriesPoint, ThermalRun, ThermalSummary};
pub use scenario::{Scenario, ScenarioError};

/// The reference scenario, `scenarios/thermal-reference.toml`: 200 hosts in 4 zones at high
/// load, one zone losing half its cooling units for 30 minutes.
pub const REFERENCE_TOML: &str = include_str!("../../../../scenarios/thermal-reference.toml");

/// The tight variant, `scenarios/thermal-tight.toml`: the same site and failure at about 86 % CPU,
/// so that a guard must choose what to stop.
pub const TIGHT_TOML: &str = include_str!("../../../../scenarios/thermal-tight.toml");

/// A thermal guard as the twin drives it: one decision per step from what the sensors show.
pub trait Guard {
    /// Name for reports (`seed`, `hottest-first`, `none`, …).
    fn name(&self) -> String;

    /// The actions to take now. Indices refer to `obs`; the runner validates each action and
    /// counts and skips the invalid ones. An error (the guard refuses the observation) ends the
    /// run with [`RunError::Guard`].
    fn decide(&mut self, obs: &::thermal::Observation) -> Result<Vec<::thermal::Action>, String>;

    /// The audit records written since the last call (a guard that keeps none returns none).
    fn drain_audit(&mut self) -> Vec<::thermal::audit::AuditRecord> {
        Vec::new()
    }
}

/// The baseline: never acts.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoGuard;

impl Guard for NoGuard {
    fn name(&self) -> String {
        "none".to_string()
    }

    fn decide(&mut self, _obs: &::thermal::Observation) -> Result<Vec<::thermal::Action>, String> {
        Ok(Vec::new())
    }
}
