//! Energy accounting against hand-computed cases: which intervals count, the trapezoid between
//! consecutive utilizations, the interpolated trace at t = k·300 + 0.1, NPA's flat maximum
//! power, hosts whose only VM is idle, and the end of the event chain once no VM is left.
//! Reference: CloudSim 3.0.3
//! PowerDatacenter.updateCloudetProcessingWithoutSchedulingFutureEventsForce,
//! PowerHost.getEnergyLinearInterpolation, PowerModelSpecPower.getPower,
//! PowerDatacenterNonPowerAware.updateCloudletProcessing (notes §2.1, §2.3, §2.7, §7.3).

use crate::support::{
    constant, instance, interval_energy_j, run, scenario, spec_power_w, try_run, update_times, vm,
    G4_MIPS, G4_W, G5_MIPS, J_PER_KWH,
};
use model::HostType;
use sim::engine::EngineOptions;
use sim::scenario::Scenario;

/// Runs `policy` on `scenario` and compares its energy with `expected_j` joules (1e-9 relative;
/// exactly 0 when 0 is expected).
#[track_caller]
fn check_energy(scenario: &Scenario, policy: &str, options: EngineOptions, expected_j: f64) {
    let run = try_run(scenario, policy, options).unwrap_or_else(|e| panic!("{policy}: {e}"));
    let got_kwh = run.summary.energy_kwh;
    let expected_kwh = expected_j / J_PER_KWH;
    if expected_j == 0.0 {
        assert_eq!(got_kwh, 0.0, "{policy}: expected no energy at all");
        return;
    }
    let err = (got_kwh - expected_kwh).abs() / expected_kwh;
    assert!(
        err <= 1e-9,
        "{policy}: energy {got_kwh} kWh, expected {expected_kwh} kWh ({expected_j} J); relative error {err:e}"
    );
}

#[test]
fn dvfs_constant_half_load_counts_only_the_second_interval() {
    // One G4 host, one 1000-MIPS VM at a constant 50 %, 3 × 300 s.
    let s = scenario(
        vec![HostType::ml110_g4()],
        vec![vm("half", instance("small", 1000.0, 1740), &constant(0.5, 4))],
        900.0,
    );
    let t = update_times(900.0);
    // Updates at 300.1 and 600.1 only; 900.1 is at or after the end and is not run.
    assert_eq!(t, [0.1 + 300.0, 0.1 + 300.0 + 300.0]);
    // Host utilization 500 / 3720 = 0.1344…: between the 10 % (89.4 W) and 20 % (92.6 W) points.
    let u = 500.0 / G4_MIPS;
    let p_w = 89.4 + (92.6 - 89.4) / 10.0 * (u - 0.1) * 100.0;
    assert!((p_w - spec_power_w(&G4_W, u)).abs() < 1e-12);
    // [0, 300.1] counts nothing: the host's previous utilization is 0 (off). Then P(u)·300 J.
    let expected_j = p_w * (t[1] - t[0]);
    check_energy(&s, "dvfs", EngineOptions::default(), expected_j);

    let r = run(&s, "dvfs");
    assert_eq!(r.series.len(), 2, "one record per regular update");
    assert_eq!(r.summary.simulated_s, t[1], "the last update processed is at 600.1 s");
}

#[test]
fn dvfs_ramp_uses_the_trapezoid_and_the_interpolated_trace() {
    // One G5 host, one 2000-MIPS VM whose trace changes at every sample; 4 × 300 s gives updates
    // at 300.1, 600.1 and 900.1.
    let trace = [0.10, 0.40, 0.90, 0.30];
    let s = scenario(
        vec![HostType::ml110_g5()],
        vec![vm("ramp", instance("extra-large", 2000.0, 1740), &trace)],
        1200.0,
    );
    let t = update_times(1200.0);
    assert_eq!(t.len(), 3);
    // The trace is read 0.1 s past each sample, 0.1/300 of the way to the next one; past the last
    // sample it repeats (CloudSim's data[288] = data[287]).
    let v1 = 0.40 + (0.90 - 0.40) / 300.0 * 0.1;
    let v2 = 0.90 + (0.30 - 0.90) / 300.0 * 0.1;
    let v3 = 0.30;
    let (u1, u2, u3) = (2000.0 * v1 / G5_MIPS, 2000.0 * v2 / G5_MIPS, 2000.0 * v3 / G5_MIPS);
    // u1 = 0.15038… (10–20 %: 97 → 101 W), u2 = 0.33824… (30–40 %: 105 → 110 W),
    // u3 = 0.11278… (10–20 %).
    let p1 = 97.0 + (101.0 - 97.0) * (u1 * 10.0 - 1.0);
    let p2 = 105.0 + (110.0 - 105.0) * (u2 * 10.0 - 3.0);
    let p3 = 97.0 + (101.0 - 97.0) * (u3 * 10.0 - 1.0);
    let expected_j =
        (p1 + (p2 - p1) / 2.0) * (t[1] - t[0]) + (p2 + (p3 - p2) / 2.0) * (t[2] - t[1]);
    check_energy(&s, "dvfs", EngineOptions::default(), expected_j);
}

#[test]
fn npa_draws_maximum_power_on_every_host_until_the_last_update() {
    // G4 + G5; the G5 stays empty and still counts. NPA energy = Σ max power × last update time,
    // the first interval [0, 300.1] included.
    let s = scenario(
        vec![HostType::ml110_g4(), HostType::ml110_g5()],
        vec![vm("half", instance("small", 1000.0, 1740), &constant(0.5, 4))],
        900.0,
    );
    let t = update_times(900.0);
    check_energy(&s, "npa", EngineOptions::default(), (117.0 + 135.0) * t[1]);
}

#[test]
fn a_host_whose_only_vm_is_idle_draws_nothing() {
    // Utilization 0 → the VM is retired at 300.1 (CloudSim "completed VM",
    // HostDynamicWorkload.getCompletedVms); without retirement the host is at 0 % and counts as
    // off (getEnergyLinearInterpolation returns 0 from 0 utilization).
    let s = scenario(
        vec![HostType::ml110_g4()],
        vec![vm("idle", instance("small", 1000.0, 1740), &constant(0.0, 4))],
        900.0,
    );
    check_energy(&s, "dvfs", EngineOptions::default(), 0.0);
    check_energy(
        &s,
        "dvfs",
        EngineOptions { retire_idle_vms: false, ..EngineOptions::default() },
        0.0,
    );
}

#[test]
fn a_retired_vm_never_comes_back() {
    // Two zero samples then 50 %: requested MIPS at 300.1 are exactly 0, so by default the VM is
    // retired for good and the host draws nothing even when the trace picks up. Without
    // retirement the host is off over [300.1, 600.1] (previous utilization 0) and draws from 600.1.
    let trace = [0.0, 0.0, 0.0, 0.5, 0.5, 0.5];
    let s = scenario(
        vec![HostType::ml110_g4()],
        vec![vm("late", instance("small", 1000.0, 1740), &trace)],
        1500.0,
    );
    let t = update_times(1500.0);
    assert_eq!(t.len(), 4);
    check_energy(&s, "dvfs", EngineOptions::default(), 0.0);

    // u(600.1) = 0 + (0.5 − 0)/300 · 0.1; u(900.1) = u(1200.1) = 0.5.
    let u600 = 1000.0 * (0.5 / 300.0 * 0.1) / G4_MIPS;
    let u900 = 1000.0 * 0.5 / G4_MIPS;
    let p600 = 86.0 + (89.4 - 86.0) * (u600 * 10.0);
    let p900 = 89.4 + (92.6 - 89.4) * (u900 * 10.0 - 1.0);
    let expected_j = (p600 + (p900 - p600) / 2.0) * (t[2] - t[1]) + p900 * (t[3] - t[2]);
    check_energy(
        &s,
        "dvfs",
        EngineOptions { retire_idle_vms: false, ..EngineOptions::default() },
        expected_j,
    );
    // The reference formulas agree with the hand arithmetic above.
    let by_formula = interval_energy_j(&G4_W, 0.0, u600, t[1] - t[0])
        + interval_energy_j(&G4_W, u600, u900, t[2] - t[1])
        + interval_energy_j(&G4_W, u900, u900, t[3] - t[2]);
    assert!((by_formula - expected_j).abs() < 1e-9 * expected_j);
}

#[test]
fn npa_stops_accruing_once_no_vm_is_left() {
    // One G4 whose only VM is at 50 % for two samples, then at 0 for good; 5 × 300 s.
    // In CloudSim 3.0.3 the next VM_DATACENTER_EVENT is scheduled only when some VM still has a
    // finite cloudlet finish estimate: CloudletSchedulerDynamicWorkload.updateVmProcessing
    // returns Double.MAX_VALUE for a VM allocated 0 MIPS (remaining / 0 = ∞), Host
    // .updateVmsProcessing keeps MAX_VALUE, and PowerDatacenter(NonPowerAware)
    // .updateCloudletProcessing sends the next event only `if (minTime != Double.MAX_VALUE)`.
    // At 600.1 the VM requests 0 (and is removed as completed), no event follows, and the
    // simulation ends there (notes §7.4: "next VM_DATACENTER_EVENT is scheduled as long as any
    // host has a VM").
    let trace = [0.5, 0.5, 0.0, 0.0, 0.0, 0.0];
    let s = scenario(
        vec![HostType::ml110_g4()],
        vec![vm("ends", instance("small", 1000.0, 1740), &trace)],
        1500.0,
    );
    let t = update_times(1500.0);
    assert_eq!(t.len(), 4);
    // DVFS: the host goes from u(300.1) to idle over [300.1, 600.1] and draws nothing after, so
    // stopping or not gives the same energy.
    let u300 = 1000.0 * (0.5 + (0.0 - 0.5) / 300.0 * 0.1) / G4_MIPS;
    // u300 = 499.83 / 3720 = 0.1344: between the 10 % (89.4 W) and 20 % (92.6 W) points.
    let p300 = 89.4 + (92.6 - 89.4) * (u300 * 10.0 - 1.0);
    let dvfs_j = (p300 + (86.0 - p300) / 2.0) * (t[1] - t[0]);
    check_energy(&s, "dvfs", EngineOptions::default(), dvfs_j);
    // NPA: every host at full power until the last event, 600.1 s — not until 1200.1 s.
    check_energy(&s, "npa", EngineOptions::default(), 117.0 * t[1]);
}
