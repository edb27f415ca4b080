//! Initial placement at t = 0, observed through energy and migrations only: DVFS/NPA place first
//! fit in host order; the consolidation policies place power-aware (PABFD) with every host's
//! current power still at idle, so VMs spread over empty G5 hosts first; a VM no host can take is
//! an error that names it. Reference: CloudSim 3.0.3 PowerVmAllocationPolicyAbstract.findHostForVm
//! (first fit), PowerVmAllocationPolicyMigrationAbstract.findHostForVm (power diff against
//! host.getPower()), Host.isSuitableForVm (notes §3, §7.2, §9 item 19).

use crate::support::{
    constant, instance, interval_energy_j, run, scenario, try_run, update_times, vm, G4_MIPS, G4_W,
    G5_MIPS, G5_W, J_PER_KWH,
};
use model::HostType;
use sim::engine::{EngineError, EngineOptions};
use sim::scenario::Scenario;

const CONSOLIDATING: [&str; 5] = ["thr-mmt", "iqr-mmt", "mad-mmt", "lr-mmt", "lrr-mmt"];

/// Runs `policy` and checks that the energy is that of one host of `points`/`capacity_mips`
/// running `load_mips` over [300.1, 600.1] (a 900-s scenario), and that nothing migrated.
#[track_caller]
fn check_single_host(
    scenario: &Scenario,
    policy: &str,
    points: &[f64; 11],
    capacity_mips: f64,
    load_mips: f64,
) {
    let r = run(scenario, policy);
    let t = update_times(scenario.duration_s);
    assert_eq!(t.len(), 2);
    let u = load_mips / capacity_mips;
    let expected_j = interval_energy_j(points, u, u, t[1] - t[0]);
    let got_j = r.summary.energy_kwh * J_PER_KWH;
    let err = (got_j - expected_j).abs() / expected_j;
    assert!(err <= 1e-9, "{policy}: energy {got_j} J, expected {expected_j} J (error {err:e})");
    assert_eq!(r.summary.migrations, 0, "{policy}: migrations");
}

/// Checks that `scenario` cannot be placed and that the error names VM `vm` at `index`.
#[track_caller]
fn check_unplaceable(scenario: &Scenario, policy: &str, vm: &str, index: usize) {
    let err = try_run(scenario, policy, EngineOptions::default())
        .map(|r| r.summary)
        .expect_err("placement should fail");
    assert_eq!(err, EngineError::Unplaceable { vm: vm.into(), index }, "{policy}");
    let message = err.to_string();
    assert!(message.contains(&format!("`{vm}`")), "{policy}: {message}");
    assert!(message.contains(&format!("#{index}")), "{policy}: {message}");
}

#[test]
fn dvfs_puts_a_2500_mips_vm_on_the_g5() {
    // G4 first in host order, but its cores have 1860 MIPS < 2500: first fit skips it.
    let s = scenario(
        vec![HostType::ml110_g4(), HostType::ml110_g5()],
        vec![vm("hcm", instance("high-cpu-medium", 2500.0, 870), &constant(1.0, 4))],
        900.0,
    );
    // 2500 / 5320 = 0.4699: 110 + (116 − 110) · 0.699 = 114.19 W on the G5.
    let p_g5 = 110.0 + (116.0 - 110.0) * (2500.0 / G5_MIPS * 10.0 - 4.0);
    let t = update_times(900.0);
    let got_j = run(&s, "dvfs").summary.energy_kwh * J_PER_KWH;
    assert!((got_j - p_g5 * (t[1] - t[0])).abs() <= 1e-9 * got_j, "{got_j} J");
    check_single_host(&s, "dvfs", &G5_W, G5_MIPS, 2500.0);
    for policy in CONSOLIDATING {
        check_single_host(&s, policy, &G5_W, G5_MIPS, 2500.0);
    }
}

#[test]
fn first_fit_takes_the_g4_and_pabfd_the_g5() {
    // A 1000-MIPS VM on [G4, G5, G4, G5]. First fit: host 0 (G4). PABFD at t = 0 compares the
    // power after allocation with the idle power: +8.94 W on an empty G4 against +6.82 W on an
    // empty G5, so host 1. Later the VM's host is the only one on: nothing to consolidate.
    let s = scenario(
        vec![
            HostType::ml110_g4(),
            HostType::ml110_g5(),
            HostType::ml110_g4(),
            HostType::ml110_g5(),
        ],
        vec![vm("small", instance("small", 1000.0, 1740), &constant(0.5, 4))],
        900.0,
    );
    // 1000 / 3720 = 0.2688 (20–30 %: 92.6 → 96 W); 1000 / 5320 = 0.1880 (10–20 %: 97 → 101 W).
    let diff_g4 = 92.6 + (96.0 - 92.6) * (1000.0 / G4_MIPS * 10.0 - 2.0) - 86.0;
    let diff_g5 = 97.0 + (101.0 - 97.0) * (1000.0 / G5_MIPS * 10.0 - 1.0) - 93.7;
    assert!((diff_g4 - 8.94).abs() < 0.01 && (diff_g5 - 6.82).abs() < 0.01, "{diff_g4} {diff_g5}");
    check_single_host(&s, "dvfs", &G4_W, G4_MIPS, 500.0);
    for policy in CONSOLIDATING {
        check_single_host(&s, policy, &G5_W, G5_MIPS, 500.0);
    }
    // The three hosts left empty are idle at their first update (300.1): each counts one
    // shutdown, since every host starts "active". Reference: Helper.getTimesBeforeHostShutdown.
    for policy in ["npa", "dvfs", "thr-mmt", "lr-mmt"] {
        assert_eq!(run(&s, policy).summary.host_shutdowns, 3, "{policy}");
    }
}

#[test]
fn pabfd_spreads_over_empty_g5_hosts_then_consolidates() {
    // Two 1000-MIPS VMs on [G4, G5, G5]. First fit packs both on the G4 (DVFS energy of one G4
    // at 1000/3720). PABFD at t = 0 sees every host at idle power, so the second VM prefers the
    // empty h2 (+6.82 W) to h1 (+15.1 W from idle to 2000/5320): the VMs are spread, and the
    // underload pass at 300.1 moves h1's VM (the first of two equally loaded hosts) to h2. A
    // best fit by utilization would have packed them and moved nothing.
    let s = scenario(
        vec![HostType::ml110_g4(), HostType::ml110_g5(), HostType::ml110_g5()],
        vec![
            vm("small-0", instance("small", 1000.0, 1740), &constant(0.5, 4)),
            vm("small-1", instance("small", 1000.0, 1740), &constant(0.5, 4)),
        ],
        900.0,
    );
    check_single_host(&s, "dvfs", &G4_W, G4_MIPS, 1000.0);
    for policy in CONSOLIDATING {
        let r = run(&s, policy);
        let per_update: Vec<u32> = r.series.iter().map(|i| i.migrations).collect();
        assert_eq!(per_update, [1, 0], "{policy}");
    }
}

#[test]
fn an_unplaceable_vm_is_an_error_that_names_it() {
    // One G4 host: the 2500-MIPS VM (index 1) exceeds its 1860-MIPS cores.
    let s = scenario(
        vec![HostType::ml110_g4()],
        vec![
            vm("fits", instance("small", 1000.0, 1740), &constant(0.5, 4)),
            vm("too-big", instance("high-cpu-medium", 2500.0, 870), &constant(0.5, 4)),
        ],
        900.0,
    );
    for policy in ["npa", "dvfs", "thr-mmt", "iqr-mmt", "mad-mmt", "lr-mmt", "lrr-mmt"] {
        check_unplaceable(&s, policy, "too-big", 1);
    }
}

#[test]
fn memory_limits_initial_placement() {
    // One G5 (4096 MB). At t = 0 VMs request their full RAM: six 613-MB VMs fit (3678 MB), the
    // seventh does not (4291 MB), although 7 × 500 MIPS fit the CPU. Reference: Vm
    // .getCurrentRequestedRam while being instantiated, RamProvisionerSimple.
    let micro =
        |i: usize| vm(&format!("micro-{i}"), instance("micro", 500.0, 613), &constant(0.5, 4));
    let six = scenario(vec![HostType::ml110_g5()], (0..6).map(micro).collect(), 900.0);
    check_single_host(&six, "dvfs", &G5_W, G5_MIPS, 6.0 * 250.0);
    let seven = scenario(vec![HostType::ml110_g5()], (0..7).map(micro).collect(), 900.0);
    for policy in ["dvfs", "thr-mmt"] {
        check_unplaceable(&seven, policy, "micro-6", 6);
    }
}
