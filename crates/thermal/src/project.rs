//! The heat-budget projection (seed 002: "a projection can be made on an amount of heat budget
//! needs to be reduced ... due to a cooling system shutting down"): how much heat must leave a
//! zone for its air to stay under its limit with the cooling that is left.
//!
//! Model (steady state with a spare fraction):
//! - `heat_w` P: the power of the zone's hosts that are on or changing state (all of a host's
//!   power becomes heat in its zone);
//! - `cooling_w` C: the zone's `cooling_available_w`;
//! - `band` b ∈ [0, 1]: how far the air is from T_clear towards the zone's `limit_c`,
//!   `(T − T_clear) / (limit_c − T_clear)` clamped; 1 when there is no temperature (assume the
//!   worst), and a step (0 below T_clear, 1 from it) when `limit_c ≤ T_clear`;
//! - `spare` s = min(1, margin + recovery · b): the fraction of the cooling kept free, so the
//!   cooling has headroom to pull the air down (more of it the hotter the zone);
//! - `budget_w` = C · (1 − s), and `required_w` = max(0, P − budget_w).
//!
//! With the defaults (margin 0.1, recovery 0.2), a zone at T_clear may keep 90 % of its
//! available cooling as heat, a zone at its limit 70 %. The guard re-projects after every settle
//! time, so an underestimate is corrected by the feedback loop.

use crate::policy::ProjectionParams;
use crate::view::{Observation, PowerState};
use serde::{Deserialize, Serialize};

/// One projection, with its inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    /// Heat produced in the zone now, W.
    #[serde(deserialize_with = "crate::float::lenient")]
    pub heat_w: f64,
    /// Cooling available now, W.
    #[serde(deserialize_with = "crate::float::lenient")]
    pub cooling_w: f64,
    /// Zone temperature used, °C, if any.
    pub temp_c: Option<f64>,
    /// Position of the temperature between T_clear and the limit, [0, 1].
    #[serde(deserialize_with = "crate::float::lenient")]
    pub band: f64,
    /// Fraction of the cooling kept spare.
    #[serde(deserialize_with = "crate::float::lenient")]
    pub spare: f64,
    /// Heat the zone may keep, W.
    #[serde(deserialize_with = "crate::float::lenient")]
    pub budget_w: f64,
    /// Heat that must go, W (0 when within budget).
    #[serde(deserialize_with = "crate::float::lenient")]
    pub required_w: f64,
}

/// The heat produced in zone `zone` now: the power of its hosts that are not off.
pub fn zone_heat_w(obs: &Observation, zone: usize) -> f64 {
    obs.hosts
        .iter()
        .filter(|h| h.zone == zone && h.power != PowerState::Off)
        .map(|h| h.power_w)
        .sum()
}

/// Projects the heat that must go (module doc).
pub fn project(
    heat_w: f64,
    cooling_w: f64,
    temp_c: Option<f64>,
    clear_c: f64,
    limit_c: f64,
    params: &ProjectionParams,
) -> Projection {
    let band = match temp_c {
        None => 1.0,
        Some(t) if limit_c <= clear_c => {
            if t >= clear_c {
                1.0
            } else {
                0.0
            }
        }
        Some(t) => ((t - clear_c) / (limit_c - clear_c)).clamp(0.0, 1.0),
    };
    let spare = (params.margin + params.recovery * band).min(1.0);
    let budget_w = cooling_w.max(0.0) * (1.0 - spare);
    let required_w = (heat_w - budget_w).max(0.0);
    Projection { heat_w, cooling_w, temp_c, band, spare, budget_w, required_w }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> ProjectionParams {
        ProjectionParams { margin: 0.1, recovery: 0.2, ..ProjectionParams::default() }
    }

    #[test]
    fn within_budget_requires_nothing() {
        // 8 kW under 10 kW of cooling at T_clear: budget 9 kW.
        let p = project(8000.0, 10_000.0, Some(27.0), 27.0, 35.0, &params());
        assert_eq!(p.band, 0.0);
        assert!((p.budget_w - 9000.0).abs() < 1e-9);
        assert_eq!(p.required_w, 0.0);
    }

    #[test]
    fn cooling_loss_projects_the_deficit() {
        // Reference: seed 002, "a projection ... due to a cooling system shutting down".
        // Half of 10 kW of cooling fails under 8 kW of heat, air at T_clear: keep 4.5 kW.
        let p = project(8000.0, 5000.0, Some(27.0), 27.0, 35.0, &params());
        assert!((p.required_w - 3500.0).abs() < 1e-9);
    }

    #[test]
    fn hotter_air_asks_more_and_saturates_at_the_limit() {
        let mid = project(8000.0, 10_000.0, Some(31.0), 27.0, 35.0, &params());
        assert!((mid.band - 0.5).abs() < 1e-12);
        assert!((mid.budget_w - 8000.0).abs() < 1e-9);
        let at = project(8000.0, 10_000.0, Some(35.0), 27.0, 35.0, &params());
        let over = project(8000.0, 10_000.0, Some(50.0), 27.0, 35.0, &params());
        assert!((at.required_w - 1000.0).abs() < 1e-9);
        assert_eq!(at.required_w, over.required_w);
        assert!(mid.required_w < at.required_w);
    }

    #[test]
    fn missing_temperature_assumes_the_limit() {
        let none = project(8000.0, 10_000.0, None, 27.0, 35.0, &params());
        let at = project(8000.0, 10_000.0, Some(35.0), 27.0, 35.0, &params());
        assert_eq!(none.required_w, at.required_w);
    }

    #[test]
    fn limit_at_or_below_clear_is_a_step() {
        let below = project(9500.0, 10_000.0, Some(26.0), 27.0, 27.0, &params());
        let above = project(9500.0, 10_000.0, Some(28.0), 27.0, 27.0, &params());
        assert!((below.required_w - 500.0).abs() < 1e-9);
        assert!((above.required_w - 2500.0).abs() < 1e-9);
    }
}
