//! heat-max in the twin: the heat planner gathers VMs so a G5 host reaches its target (and stays
//! put afterwards: no ping-pong), only consolidates when no host can reach its target, and every
//! heat-rate estimator is scored against the next interval's true heat.

use crate::support::{constant, instance, migrations_per_update, run, scenario, vm};
use model::HostType;
use sim::scenario::Scenario;

/// Six 1000-MIPS VMs at a constant `utilization` on three G5 hosts, with a 125 W target (the G5
/// draws 125 W at 70 % CPU). PABFD, power-aware, spreads them two per host at t = 0.
fn six_vms(utilization: f64, target_w: f64) -> Scenario {
    let vms = (0..6)
        .map(|k| vm(&format!("vm{k}"), instance("m", 1000.0, 870), &constant(utilization, 12)))
        .collect();
    let s = scenario(vec![HostType::ml110_g5(); 3], vms, 12.0 * 300.0);
    s.with_uniform_target(target_w)
}

#[test]
fn vms_are_gathered_on_one_host_that_reaches_its_target_and_then_left_alone() {
    // 6 × 750 MIPS = 4500 MIPS = 84.6 % of a G5: above the 80 % the planner aims for (70 % + the
    // 10 % margin) and below its 90 % usable CPU. Four moves at the first update (two hosts'
    // VMs onto the third), none after.
    let s = six_vms(0.75, 125.0);
    let hm = run(&s, "heat-max");
    let migrations = migrations_per_update(&hm);
    assert_eq!(migrations[0], 4, "{migrations:?}");
    assert!(migrations[1..].iter().all(|&m| m == 0), "no ping-pong: {migrations:?}");
    // From the second interval on, one host at target and nothing else on.
    for record in &hm.series[2..] {
        assert_eq!(record.active_hosts, 1, "{record:?}");
        assert_eq!(record.hosts_at_target, 1, "{record:?}");
    }
    // DVFS keeps three hosts at 28 % (105 W): nothing harvested.
    let dvfs = run(&s, "dvfs");
    assert_eq!(dvfs.summary.harvested_heat_kwh, 0.0);
    assert!(hm.summary.harvest_ratio > 0.8, "{}", hm.summary.harvest_ratio);
    assert!(hm.summary.energy_kwh < dvfs.summary.energy_kwh);
}

#[test]
fn when_no_host_can_reach_its_target_heat_max_only_consolidates() {
    // 6 × 500 MIPS = 56 % of one G5: below the 80 % aimed for, so nothing can be covered; the
    // hosts are emptied onto one, all of a host's VMs or none.
    let s = six_vms(0.5, 125.0);
    let hm = run(&s, "heat-max");
    assert_eq!(migrations_per_update(&hm)[0], 4);
    assert_eq!(hm.summary.harvested_heat_kwh, 0.0);
    for record in &hm.series[2..] {
        assert_eq!(record.active_hosts, 1, "{record:?}");
    }
}

#[test]
fn every_estimator_is_scored_and_exact_on_a_steady_host() {
    // Two VMs at a constant 50 % on one G5 that nothing can cover: nothing moves, and every
    // estimator predicts each VM's next heat exactly.
    let vms = (0..2)
        .map(|k| vm(&format!("vm{k}"), instance("m", 1000.0, 870), &constant(0.5, 16)))
        .collect();
    let s = scenario(vec![HostType::ml110_g5()], vms, 16.0 * 300.0).with_uniform_target(125.0);
    let hm = run(&s, "heat-max");
    assert_eq!(hm.summary.migrations, 0);
    let names: Vec<&str> =
        hm.summary.estimator_errors.iter().map(|e| e.estimator.as_str()).collect();
    assert_eq!(names, ["ewma", "quantile", "regression", "live", "simulation"]);
    for e in &hm.summary.estimator_errors {
        assert!(e.samples > 0, "{e:?}");
        assert!(e.mae_w.is_some_and(|mae| mae < 1e-9), "{e:?}");
        assert!(e.bias_w.is_some_and(|bias| bias.abs() < 1e-9), "{e:?}");
        assert!(e.mape_pct.is_some_and(|mape| mape < 1e-6), "{e:?}");
    }
    // The quantile needs 5 samples and the regression 10: fewer scored predictions than live.
    let samples = |name: &str| {
        hm.summary.estimator_errors.iter().find(|e| e.estimator == name).map(|e| e.samples)
    };
    assert!(samples("regression") < samples("quantile"));
    assert!(samples("quantile") < samples("live"));
    // Baselines carry no estimator figures.
    assert!(run(&s, "lr-mmt").summary.estimator_errors.is_empty());
}
