//! The model source: a host's power curve applied to its instances' CPU use, with the idle and
//! dynamic parts split explicitly and the dynamic part attributed to the instances by the rule
//! in the [`super`] module docs (idle power to the host, dynamic power by share of MIPS).
//!
//! Oversubscription is time-shared as in CloudSim: when the instances ask for more MIPS than the
//! host has, every one gets the same fraction of its demand, so the host runs at exactly 100 %
//! and the proportions, hence the shares, are those of the demands.

use super::telemetry::{non_negative, positive, Field, InputError};
use model::PowerCurve;
use serde::Serialize;

/// One host's power at a given load, split into the host's part and the instances' parts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HostSplit {
    /// Host CPU utilization: total delivered MIPS over capacity, in [0, 1].
    pub utilization: f64,
    /// P(0) (W): the price of being on, charged to no instance.
    pub idle_w: f64,
    /// Dynamic power (W): P(U) − P(0) from the curve, or measured power − P(0) floored at 0.
    pub dynamic_w: f64,
    /// MIPS each instance gets: its demand, scaled by capacity / total demand when the host is
    /// oversubscribed.
    pub delivered_mips: Vec<f64>,
    /// Heat (W) attributed to each instance: `dynamic_w` × its share of the delivered MIPS. Sums
    /// to `dynamic_w`; all zero when no instance uses the CPU.
    pub heat_w: Vec<f64>,
}

/// Splits a host's curve power at the load `demands_mips` (one entry per instance, MIPS) between
/// the host (idle) and the instances (dynamic, by share).
///
/// Errors: a capacity that is not positive and finite, a demand that is not finite and
/// non-negative; the error names the field (`demands_mips[i]`).
pub fn split_host(
    curve: &PowerCurve,
    capacity_mips: f64,
    demands_mips: &[f64],
) -> Result<HostSplit, InputError> {
    check_load(capacity_mips, demands_mips)?;
    Ok(split(curve, capacity_mips, demands_mips, None))
}

/// Like [`split_host`], but the dynamic power is the measured host power `power_w` less the
/// curve's idle power P(0), floored at 0 W (a host that draws less than its curve's idle power
/// has a stale curve, and no instance causes negative heat).
pub fn split_measured(
    curve: &PowerCurve,
    capacity_mips: f64,
    demands_mips: &[f64],
    power_w: f64,
) -> Result<HostSplit, InputError> {
    check_load(capacity_mips, demands_mips)?;
    non_negative(Field::PowerW, power_w)?;
    Ok(split(curve, capacity_mips, demands_mips, Some(power_w)))
}

fn check_load(capacity_mips: f64, demands_mips: &[f64]) -> Result<(), InputError> {
    positive(Field::HostCapacityMips, capacity_mips)?;
    for (index, &demand) in demands_mips.iter().enumerate() {
        non_negative(Field::DemandMips { index }, demand)?;
    }
    Ok(())
}

/// The split on inputs already checked: `capacity_mips` positive, demands and `measured_w`
/// finite and non-negative.
pub(super) fn split(
    curve: &PowerCurve,
    capacity_mips: f64,
    demands_mips: &[f64],
    measured_w: Option<f64>,
) -> HostSplit {
    let total_mips: f64 = demands_mips.iter().sum();
    // Time-shared oversubscription: everyone gets the same fraction of what it asks for.
    let scale = if total_mips > capacity_mips { capacity_mips / total_mips } else { 1.0 };
    let utilization = (total_mips / capacity_mips).min(1.0);
    let idle_w = curve.idle().0;
    let dynamic_w = match measured_w {
        None => curve.at(utilization).0 - idle_w,
        Some(power_w) => (power_w - idle_w).max(0.0),
    };
    // Shares of the delivered MIPS equal shares of the demands: one factor scales them all.
    let heat_w = demands_mips
        .iter()
        .map(|&demand| if total_mips > 0.0 { dynamic_w * (demand / total_mips) } else { 0.0 })
        .collect();
    HostSplit {
        utilization,
        idle_w,
        dynamic_w,
        delivered_mips: demands_mips.iter().map(|&demand| demand * scale).collect(),
        heat_w,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn assert_close(got: f64, want: f64) {
        assert!((got - want).abs() < 1e-9, "got {got}, want {want}");
    }

    #[test]
    fn dynamic_power_is_split_by_mips_and_idle_stays_with_the_host() {
        // ML110 G4 at 500 of 1000 MIPS: P(0.5) = 102 W, P(0) = 86 W, dynamic 16 W, split 3 : 2.
        let g4 = PowerCurve::ml110_g4();
        let split = split_host(&g4, 1000.0, &[300.0, 200.0]).unwrap();
        assert_close(split.utilization, 0.5);
        assert_close(split.idle_w, 86.0);
        assert_close(split.dynamic_w, 16.0);
        assert_close(split.heat_w[0], 9.6);
        assert_close(split.heat_w[1], 6.4);
        assert_eq!(split.delivered_mips, [300.0, 200.0]);
        // The instances' heat plus the host's idle power is the host's whole draw.
        assert_close(split.heat_w.iter().sum::<f64>() + split.idle_w, g4.at(0.5).0);
    }

    #[test]
    fn shares_sum_to_the_dynamic_power_at_any_load() {
        let g5 = PowerCurve::ml110_g5();
        for demands in [
            vec![10.0],
            vec![123.0, 456.0, 78.9],
            vec![900.0, 900.0, 900.0, 0.0],
            vec![0.5; 40],
            vec![2500.0, 1.0],
        ] {
            let split = split_host(&g5, 2660.0, &demands).unwrap();
            let attributed: f64 = split.heat_w.iter().sum();
            assert!(
                (attributed - split.dynamic_w).abs() < 1e-9 * split.dynamic_w.max(1.0),
                "{demands:?}: attributed {attributed} W, dynamic {} W",
                split.dynamic_w
            );
            assert!(split.heat_w.iter().all(|&h| h >= 0.0));
        }
    }

    #[test]
    fn an_idle_host_attributes_nothing() {
        let g4 = PowerCurve::ml110_g4();
        let split = split_host(&g4, 1000.0, &[0.0, 0.0]).unwrap();
        assert_eq!(split.heat_w, [0.0, 0.0]);
        assert_eq!(split.dynamic_w, 0.0);
        assert_eq!(split.idle_w, 86.0);
        let empty = split_host(&g4, 1000.0, &[]).unwrap();
        assert!(empty.heat_w.is_empty() && empty.dynamic_w == 0.0);
    }

    #[test]
    fn oversubscription_caps_the_host_and_scales_everyone_alike() {
        // 1600 MIPS asked of 1000: each gets 0.625 of its demand, the host runs at 100 %,
        // P(1) − P(0) = 117 − 86 = 31 W split 3 : 1.
        let g4 = PowerCurve::ml110_g4();
        let split = split_host(&g4, 1000.0, &[1200.0, 400.0]).unwrap();
        assert_close(split.utilization, 1.0);
        assert_close(split.delivered_mips[0], 750.0);
        assert_close(split.delivered_mips[1], 250.0);
        assert_close(split.dynamic_w, 31.0);
        assert_close(split.heat_w[0], 23.25);
        assert_close(split.heat_w[1], 7.75);
    }

    #[test]
    fn measured_power_replaces_the_curve_and_is_floored_at_idle() {
        let g4 = PowerCurve::ml110_g4();
        // Measured 100 W: 14 W dynamic, split 3 : 2.
        let split = split_measured(&g4, 1000.0, &[300.0, 200.0], 100.0).unwrap();
        assert_close(split.dynamic_w, 14.0);
        assert_close(split.heat_w[0], 8.4);
        assert_close(split.heat_w[1], 5.6);
        // Below the curve's idle power: nothing to attribute, never negative heat.
        let split = split_measured(&g4, 1000.0, &[300.0], 80.0).unwrap();
        assert_eq!(split.heat_w, [0.0]);
    }

    #[test]
    fn bad_loads_name_the_field() {
        let g4 = PowerCurve::ml110_g4();
        let err = split_host(&g4, 1000.0, &[10.0, -1.0]).unwrap_err();
        assert_eq!(
            err,
            InputError::Negative { field: Field::DemandMips { index: 1 }, value: -1.0 }
        );
        assert_eq!(err.to_string(), "demands_mips[1] is -1; expected a non-negative number");
        assert!(matches!(
            split_host(&g4, f64::NAN, &[]),
            Err(InputError::NotFinite { field: Field::HostCapacityMips, .. })
        ));
        assert_eq!(
            split_measured(&g4, 1000.0, &[1.0], -3.0),
            Err(InputError::Negative { field: Field::PowerW, value: -3.0 })
        );
    }
}
