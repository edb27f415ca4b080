//! The controller's policy: the heat targets and limits the planner works to, how many actions a
//! cycle may take, and the thermal guard's policy. Stored versioned in the store; `PUT
//! /api/v1/policy` replaces it after [`ControllerPolicy::validate`] names any bad key.

use serde::{Deserialize, Serialize};

/// The whole policy. Every key is optional (defaults below); unknown keys are refused.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControllerPolicy {
    /// Heat harvesting (seed 000).
    pub heat: HeatPolicy,
    /// What one cycle may do.
    pub limits: Limits,
    /// The thermal guard (seed 002); docs/thermal.md lists its keys.
    pub thermal: thermal::Policy,
}

/// Heat harvesting targets and the planner's limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeatPolicy {
    /// Target minimum heat rate of every host on the heat-recovery loop, W (0: no loop).
    pub target_heat_w: f64,
    /// Fraction of CPU and memory kept free on every host, in [0, 1).
    pub headroom: f64,
    /// Minimum seconds an instance stays put after a move.
    pub min_dwell_s: f64,
    /// What one heat plan covers: `zone` (each cooling zone's heat-recovery loop on its own;
    /// heat plans never move heat between zones) or `site` (one plan for every host).
    pub scope: Scope,
}

/// The heat planner's scope.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One plan per cooling zone.
    #[default]
    Zone,
    /// One plan for the whole site.
    Site,
}

/// Per-cycle rate limits and the spare capacity kept on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Most migrations one cycle starts.
    pub migrations_per_cycle: usize,
    /// Most power changes (on and off) one cycle starts.
    pub power_changes_per_cycle: usize,
    /// Empty hosts kept powered as spares.
    pub spare_hosts: usize,
}

impl Default for HeatPolicy {
    /// 125 W: what an ML110 G5 draws at 70 % CPU (the twin's reference target, docs/sim.md).
    fn default() -> HeatPolicy {
        HeatPolicy { target_heat_w: 125.0, headroom: 0.1, min_dwell_s: 600.0, scope: Scope::Zone }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { migrations_per_cycle: 8, power_changes_per_cycle: 4, spare_hosts: 1 }
    }
}

/// A policy value out of range; `key` is its dotted path (`heat.headroom`).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("policy key `{key}`: {problem}")]
pub struct PolicyError {
    /// Dotted key.
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

impl ControllerPolicy {
    /// Checks every rule, naming the first key that breaks one.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let bad = |key: &str, problem: String| Err(PolicyError { key: key.into(), problem });
        let heat = &self.heat;
        if !(heat.target_heat_w.is_finite() && heat.target_heat_w >= 0.0) {
            return bad(
                "heat.target_heat_w",
                format!("must be finite and ≥ 0, got {}", heat.target_heat_w),
            );
        }
        if !(0.0..1.0).contains(&heat.headroom) {
            return bad("heat.headroom", format!("must be in [0, 1), got {}", heat.headroom));
        }
        if !(heat.min_dwell_s.is_finite() && heat.min_dwell_s >= 0.0) {
            return bad(
                "heat.min_dwell_s",
                format!("must be finite and ≥ 0, got {}", heat.min_dwell_s),
            );
        }
        self.thermal
            .validate()
            .map_err(|e| PolicyError { key: format!("thermal.{}", e.key), problem: e.problem })
    }

    /// Parses a JSON policy, naming the key at fault, and validates it.
    pub fn from_json(value: &serde_json::Value) -> Result<ControllerPolicy, PolicyError> {
        let policy: ControllerPolicy = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            PolicyError {
                key: if path == "." { "(top level)".into() } else { path },
                problem: e.into_inner().to_string(),
            }
        })?;
        policy.validate()?;
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_round_trip() {
        let policy = ControllerPolicy::default();
        policy.validate().unwrap();
        let json = serde_json::to_value(&policy).unwrap();
        assert_eq!(ControllerPolicy::from_json(&json).unwrap(), policy);
    }

    #[test]
    fn bad_keys_are_named() {
        let err = ControllerPolicy::from_json(&serde_json::json!({"heat": {"headroom": 1.5}}))
            .unwrap_err();
        assert_eq!(err.key, "heat.headroom");
        let err =
            ControllerPolicy::from_json(&serde_json::json!({"heat": {"bogus": 1}})).unwrap_err();
        assert_eq!(err.key, "heat.bogus", "{err}");
        let err = ControllerPolicy::from_json(
            &serde_json::json!({"thermal": {"zone": {"detect_c": 20, "clear_c": 27}}}),
        )
        .unwrap_err();
        assert!(err.key.starts_with("thermal."), "{err}");
    }
}
