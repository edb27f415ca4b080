//! The simulation source: a pure mini-rollout of one host over a short horizon for a candidate
//! set of instances, and the [`Rollout`] trait through which a fuller twin can stand in for it.
//!
//! Per step k = 1, …, H each instance's utilization is extrapolated from its history: the
//! least-squares line of [`super::Regression`] through its last (up to) 10 samples at
//! x = 1, …, n, evaluated at x = n + k and clamped to [0, 1]. An instance with fewer than two
//! samples holds its live utilization flat, or else its one sample; with neither it cannot be
//! simulated and the rollout is refused ([`RolloutError::NoData`]), since its unknown load would
//! change every other instance's share. The host's CPU is capped at its capacity, every
//! instance scaled by the same factor when oversubscribed (time-shared, as CloudSim does), its
//! power read off the curve and the dynamic part attributed by share of MIPS ([`super::model`]).
//! An instance's estimate is the mean over the horizon of its heat and of the utilization it was
//! actually given (after scaling).

use super::model::split;
use super::predict::{ols_against_index, Regression};
use super::telemetry::{positive, Field, InputError, InstanceTelemetry};
use super::{Estimate, Source};
use model::PowerCurve;

/// A forward simulation of one host running a candidate set of instances, at any fidelity: this
/// module's mini-rollout (through `Vec<Estimate>`) or, later, the twin. The planner asks it only
/// for the heat each candidate would give off.
pub trait Rollout {
    /// Mean heat rate (W) attributed to the `instance`-th candidate over the horizon; `None`
    /// when there is no such candidate.
    fn heat_w(&self, instance: usize) -> Option<f64>;
}

impl Rollout for [Estimate] {
    fn heat_w(&self, instance: usize) -> Option<f64> {
        self.get(instance).map(|estimate| estimate.heat_w)
    }
}

impl Rollout for Vec<Estimate> {
    fn heat_w(&self, instance: usize) -> Option<f64> {
        self.as_slice().heat_w(instance)
    }
}

/// Why a host could not be rolled out.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum RolloutError {
    /// A horizon of zero steps has no mean.
    #[error("horizon_steps is 0; a rollout needs at least one step")]
    ZeroHorizon,
    /// The host's capacity was refused.
    #[error("{0}")]
    Host(InputError),
    /// An instance's telemetry was refused.
    #[error("instance {instance}: {error}")]
    Instance {
        /// Index in the candidate set.
        instance: usize,
        /// What was wrong.
        error: InputError,
    },
    /// An instance has neither history nor a live sample.
    #[error("instance {instance} has neither history nor a live sample to extrapolate")]
    NoData {
        /// Index in the candidate set.
        instance: usize,
    },
}

/// How one instance's utilization goes on over the horizon.
#[derive(Clone, Copy, Debug)]
enum Trend {
    /// u(k) = intercept + slope · (n + k), clamped to [0, 1].
    Line { intercept: f64, slope: f64, n: usize },
    /// u(k) = the value.
    Flat(f64),
}

impl Trend {
    fn of(telemetry: &InstanceTelemetry<'_>) -> Option<Trend> {
        let history = telemetry.history;
        if history.len() >= 2 {
            let window = &history[history.len().saturating_sub(Regression::LR_WINDOW)..];
            let (intercept, slope) = ols_against_index(window);
            return Some(Trend::Line { intercept, slope, n: window.len() });
        }
        telemetry.live_utilization.or(history.last().copied()).map(Trend::Flat)
    }

    fn at(self, step: usize) -> f64 {
        match self {
            Trend::Line { intercept, slope, n } => {
                (intercept + slope * (n + step) as f64).clamp(0.0, 1.0)
            }
            Trend::Flat(utilization) => utilization,
        }
    }
}

/// Rolls one host (power `curve`, CPU `capacity_mips`) running exactly `instances` forward
/// `horizon_steps` intervals and returns one [`Source::Simulation`] estimate per instance, in
/// order (rule in the module docs). Nothing else runs on the host.
///
/// Errors: a zero horizon; a host capacity that is not positive and finite; an instance whose
/// telemetry is refused or that has no data, named by its index.
pub fn rollout_host(
    curve: &PowerCurve,
    capacity_mips: f64,
    instances: &[InstanceTelemetry<'_>],
    horizon_steps: usize,
) -> Result<Vec<Estimate>, RolloutError> {
    if horizon_steps == 0 {
        return Err(RolloutError::ZeroHorizon);
    }
    positive(Field::HostCapacityMips, capacity_mips).map_err(RolloutError::Host)?;
    let mut trends = Vec::with_capacity(instances.len());
    for (instance, telemetry) in instances.iter().enumerate() {
        let valid =
            telemetry.validate().map_err(|error| RolloutError::Instance { instance, error })?;
        trends.push(Trend::of(&valid).ok_or(RolloutError::NoData { instance })?);
    }

    let mut heat_sum_w = vec![0.0; instances.len()];
    let mut utilization_sum = vec![0.0; instances.len()];
    let mut demands_mips = vec![0.0; instances.len()];
    for step in 1..=horizon_steps {
        for ((demand, trend), telemetry) in demands_mips.iter_mut().zip(&trends).zip(instances) {
            *demand = trend.at(step) * telemetry.capacity_mips;
        }
        let host_split = split(curve, capacity_mips, &demands_mips, None);
        for (idx, telemetry) in instances.iter().enumerate() {
            heat_sum_w[idx] += host_split.heat_w[idx];
            utilization_sum[idx] += host_split.delivered_mips[idx] / telemetry.capacity_mips;
        }
    }

    let steps = horizon_steps as f64;
    Ok(heat_sum_w
        .iter()
        .zip(&utilization_sum)
        .map(|(&heat_w, &utilization)| Estimate {
            heat_w: heat_w / steps,
            utilization: utilization / steps,
            source: Source::Simulation,
            skipped: Vec::new(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(history: &[f64], live: Option<f64>) -> InstanceTelemetry<'_> {
        InstanceTelemetry { history, live_utilization: live, capacity_mips: 1000.0 }
    }

    #[track_caller]
    fn assert_close(got: f64, want: f64) {
        assert!((got - want).abs() < 1e-9, "got {got}, want {want}");
    }

    #[test]
    fn oversubscription_is_capped_at_capacity() {
        // Two flat 0.8 instances of 1000 MIPS ask 1600 of a 1000-MIPS ML110 G4: each gets 500,
        // the host runs at 100 %, P(1) − P(0) = 117 − 86 = 31 W, 15.5 W each, every step.
        let g4 = PowerCurve::ml110_g4();
        let instances = [instance(&[0.8, 0.8], None), instance(&[0.8, 0.8], None)];
        let estimates = rollout_host(&g4, 1000.0, &instances, 3).unwrap();
        for estimate in &estimates {
            assert_eq!(estimate.source, Source::Simulation);
            assert!(estimate.skipped.is_empty());
            assert_close(estimate.heat_w, 15.5);
            assert_close(estimate.utilization, 0.5);
        }
    }

    #[test]
    fn a_rising_instance_oversubscribes_the_host_mid_horizon() {
        // A rises 0.2, 0.4 → 0.6, 0.8 at steps 1, 2; B holds its one sample, 0.5. Step 1:
        // 600 + 500 = 1100 of 1000 MIPS; step 2: 800 + 500 = 1300. Both steps at 100 %: 31 W
        // dynamic, split 6 : 5 then 8 : 5, and each given 1000/1100 then 1000/1300 of its ask.
        let g4 = PowerCurve::ml110_g4();
        let instances = [instance(&[0.2, 0.4], None), instance(&[0.5], None)];
        let estimates = rollout_host(&g4, 1000.0, &instances, 2).unwrap();
        assert_close(estimates[0].heat_w, 31.0 * (6.0 / 11.0 + 8.0 / 13.0) / 2.0);
        assert_close(estimates[1].heat_w, 31.0 * (5.0 / 11.0 + 5.0 / 13.0) / 2.0);
        assert_close(estimates[0].utilization, (0.6 / 1.1 + 0.8 / 1.3) / 2.0);
        assert_close(estimates[1].utilization, (0.5 / 1.1 + 0.5 / 1.3) / 2.0);
        // Never more than the host's dynamic power at full load.
        assert!(estimates.iter().map(|e| e.heat_w).sum::<f64>() <= 31.0 + 1e-9);
    }

    #[test]
    fn the_trend_is_followed_and_clamped() {
        // 0.2, 0.4 → 0.6, 0.8, then 1.0 and 1.2 clamped to 1. Alone on the host:
        // P = 106, 112, 117, 117 W → dynamic 20, 26, 31, 31 W.
        let g4 = PowerCurve::ml110_g4();
        let alone = [instance(&[0.2, 0.4], None)];
        let estimates = rollout_host(&g4, 1000.0, &alone, 2).unwrap();
        assert_close(estimates[0].heat_w, 23.0);
        assert_close(estimates[0].utilization, 0.7);
        let estimates = rollout_host(&g4, 1000.0, &alone, 4).unwrap();
        assert_close(estimates[0].heat_w, (20.0 + 26.0 + 31.0 + 31.0) / 4.0);
        assert_close(estimates[0].utilization, (0.6 + 0.8 + 1.0 + 1.0) / 4.0);
    }

    #[test]
    fn without_a_trend_the_live_sample_is_held() {
        // Live 0.3 beats the single older sample 0.9: P(0.3) − P(0) = 10 W.
        let g4 = PowerCurve::ml110_g4();
        let estimates = rollout_host(&g4, 1000.0, &[instance(&[0.9], Some(0.3))], 5).unwrap();
        assert_close(estimates[0].heat_w, 10.0);
        assert_close(estimates[0].utilization, 0.3);
    }

    #[test]
    fn estimates_plug_in_as_a_rollout() {
        let g4 = PowerCurve::ml110_g4();
        let estimates = rollout_host(&g4, 1000.0, &[instance(&[0.5], None)], 1).unwrap();
        let rollout: &dyn Rollout = &estimates;
        // P(0.5) − P(0) = 16 W.
        assert_close(rollout.heat_w(0).unwrap(), 16.0);
        assert_eq!(rollout.heat_w(1), None);
    }

    #[test]
    fn bad_rollouts_are_named_errors() {
        let g4 = PowerCurve::ml110_g4();
        let ok = instance(&[0.5], None);
        assert_eq!(rollout_host(&g4, 1000.0, &[ok], 0), Err(RolloutError::ZeroHorizon));
        let err =
            rollout_host(&g4, 1000.0, &[ok, instance(&[f64::INFINITY], None)], 3).unwrap_err();
        assert_eq!(
            err,
            RolloutError::Instance {
                instance: 1,
                error: InputError::NotFinite {
                    field: Field::History { index: 0 },
                    value: f64::INFINITY
                }
            }
        );
        assert_eq!(err.to_string(), "instance 1: history[0] is inf; expected a finite number");
        assert_eq!(
            rollout_host(&g4, 1000.0, &[ok, instance(&[], None)], 3),
            Err(RolloutError::NoData { instance: 1 })
        );
        assert_eq!(
            rollout_host(&g4, 0.0, &[ok], 3),
            Err(RolloutError::Host(InputError::NotPositive {
                field: Field::HostCapacityMips,
                value: 0.0
            }))
        );
    }
}
