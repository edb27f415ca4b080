//! Determinism: the same synthetic workload run twice through every policy gives identical
//! results, summary (wall time included, which the engine leaves at 0) and time series alike.

use crate::support::{run, STEP_S};
use sim::scenario::Scenario;
use sim::workload::synthetic::{generate, SyntheticSpec};

const POLICIES: [&str; 8] =
    ["npa", "dvfs", "thr-mmt", "iqr-mmt", "mad-mmt", "lr-mmt", "lrr-mmt", "heat-max"];

/// Runs `policy` twice on `scenario` and checks that both runs print the same.
#[track_caller]
fn check_deterministic(scenario: &Scenario, policy: &str) -> sim::metrics::PolicyRun {
    let first = run(scenario, policy);
    let second = run(scenario, policy);
    assert_eq!(format!("{first:?}"), format!("{second:?}"), "{policy}: two runs differ");
    first
}

#[test]
fn every_policy_gives_the_same_run_twice() {
    let spec = SyntheticSpec { seed: 7, n_vms: 60, n_samples: 48, interval_s: 300 };
    let workload = generate(&spec).expect("synthetic workload");
    let scenario = Scenario::with_fleet(&workload, 40, STEP_S).expect("scenario");
    // 48 samples × 300 s: updates at 300.1 … 14100.1.
    let n_updates = 47;
    for policy in POLICIES {
        let r = check_deterministic(&scenario, policy);
        assert_eq!(r.series.len(), n_updates, "{policy}");
        assert!(r.summary.energy_kwh > 0.0, "{policy}: no energy");
        assert_eq!(r.summary.wall_s, 0.0, "{policy}: the engine never reads the clock");
        if policy.ends_with("-mmt") || policy == "heat-max" {
            assert!(r.summary.migrations > 0, "{policy}: the workload should exercise migrations");
        } else {
            assert_eq!(r.summary.migrations, 0, "{policy}");
        }
    }
    // Generating the workload again builds the very same scenario.
    let again = Scenario::with_fleet(&generate(&spec).unwrap(), 40, STEP_S).unwrap();
    assert_eq!(again, scenario);
}
