//! The guards the twin compares: the thermal crate's sequencer under one of its strategies
//! (`seed`, `hottest-first`, `random[:SEED]`, `none`), with the policy from the scenario's
//! `[guard]` table (docs/thermal.md lists its keys; a missing table takes every default). The
//! twin runs the very decision code the controller runs, never a copy.

use super::{Guard, Scenario};
use ::thermal::audit::AuditRecord;
use ::thermal::{Action, Observation, Policy, Strategy};

/// Why a guard could not be built, naming the strategy or the policy key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GuardError {
    /// The strategy name.
    #[error("{0}")]
    Strategy(String),
    /// The scenario's `[guard]` table.
    #[error("scenario {scenario}: [guard]: {message}")]
    Policy {
        /// The scenario's name.
        scenario: String,
        /// What is wrong, naming the key.
        message: String,
    },
}

/// The scenario's guard policy: its `[guard]` table, or the defaults.
pub fn policy(scenario: &Scenario) -> Result<Policy, GuardError> {
    let invalid = |message: String| GuardError::Policy { scenario: scenario.name.clone(), message };
    let policy: Policy = match &scenario.guard {
        None => Policy::default(),
        Some(table) => serde_path_to_error::deserialize(toml::Value::Table(table.clone()))
            .map_err(|err| {
                let key = err.path().to_string();
                let message = err.into_inner().to_string();
                invalid(if key == "." { message } else { format!("key `{key}`: {message}") })
            })?,
    };
    policy.validate().map_err(|err| invalid(err.to_string()))?;
    Ok(policy)
}

/// The thermal crate's guard under `strategy` (a `--guard` name), with the scenario's policy.
pub fn build(strategy: &str, scenario: &Scenario) -> Result<Box<dyn Guard + Send>, GuardError> {
    let strategy: Strategy = strategy
        .parse()
        .map_err(|err: ::thermal::strategy::StrategyError| GuardError::Strategy(err.to_string()))?;
    let policy = policy(scenario)?;
    let guard = ::thermal::Guard::new(policy, strategy).map_err(|err| GuardError::Policy {
        scenario: scenario.name.clone(),
        message: err.to_string(),
    })?;
    Ok(Box::new(ThermalGuard { name: strategy.to_string(), guard }))
}

/// [`::thermal::Guard`] as the twin drives it.
#[derive(Debug)]
pub struct ThermalGuard {
    name: String,
    guard: ::thermal::Guard,
}

impl ThermalGuard {
    /// The sequencer, to inspect its phases and shed lists.
    pub fn inner(&self) -> &::thermal::Guard {
        &self.guard
    }
}

impl Guard for ThermalGuard {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn decide(&mut self, obs: &Observation) -> Result<Vec<Action>, String> {
        self.guard.step(obs).map_err(|err| err.to_string())
    }

    fn drain_audit(&mut self) -> Vec<AuditRecord> {
        self.guard.drain_audit()
    }
}
