//! The baselines' decisions on small hand-built fleets: THR overload (MMT picks the VM with the
//! least RAM) and underload (the least utilized host is emptied and switched off), DVFS/NPA never
//! migrating, the adaptive detectors' THR 0.7 fallback, LR's early detection of a rising load,
//! and the PDM/SLATAH of one migration. Reference: CloudSim 3.0.3
//! PowerVmAllocationPolicyMigrationAbstract.optimizeAllocation, the StaticThreshold,
//! InterQuartileRange, MedianAbsoluteDeviation and LocalRegression policies,
//! PowerVmSelectionPolicyMinimumMigrationTime, Helper.getSlaMetrics and
//! Helper.getSlaTimePerActiveHost (notes §1.6, §2.2, §3, §4, §6).

use crate::support::{
    assert_close, constant, instance, interval_energy_j, load, migration_s, migrations_per_update,
    run, scenario, trace_at, update_times, vm, G4_MIPS, G4_W, G5_MIPS, G5_W, J_PER_KWH,
};
use model::{HostType, PowerCurve};
use sim::metrics::PolicyRun;
use sim::scenario::Scenario;

/// Runs `policy` and checks the migrations started at each regular update (`expected[k]` is
/// series[k], the interval ending at update k + 1, i.e. at (k + 1)·300 + 0.1 s) and their total.
#[track_caller]
fn check_migrations(scenario: &Scenario, policy: &str, expected: &[u32]) -> PolicyRun {
    let run = run(scenario, policy);
    assert_eq!(
        migrations_per_update(&run),
        expected,
        "{policy}: migrations started at each update (series[k] ends at update k + 1)"
    );
    let total: u64 = expected.iter().map(|&m| u64::from(m)).sum();
    assert_eq!(run.summary.migrations, total, "{policy}: total migrations");
    run
}

/// A host type as large as a G5 whose power grows steeply with load (10 W per 1 % CPU, 0 W
/// idle): power-aware placement at t = 0 avoids it, but it is a valid migration target.
fn steep_host() -> HostType {
    let points: [f64; 11] = std::array::from_fn(|i| 100.0 * i as f64);
    HostType {
        name: "steep".into(),
        pes: 2,
        mips_per_pe: 2660.0,
        ram_mib: 4096,
        bw_mbps: 1000,
        storage_gb: 1000,
        power: PowerCurve::new(points).unwrap(),
    }
}

#[test]
fn thr_moves_the_vm_with_the_least_ram_off_an_overloaded_g5() {
    // h0 = G5, h1 = steep. Both VMs land on h0 at t = 0 (the steep host costs far more watts),
    // listed [big-ram, small-ram]. At 300.1 h0 requests (2000 + 2400) / 5320 = 0.827 > 0.8: MMT
    // picks small-ram (870 MB < 1740 MB) although it is listed second; without it h0 is at
    // 0.376, so one migration, to h1. At 600.1 moving either VM back would put h0 over 0.8 again,
    // so nothing moves.
    let s = scenario(
        vec![HostType::ml110_g5(), steep_host()],
        vec![
            vm("big-ram", instance("extra-large", 2000.0, 1740), &constant(1.0, 4)),
            vm("small-ram", instance("q", 2400.0, 870), &constant(1.0, 4)),
        ],
        900.0,
    );
    assert!(load(&[2000.0, 2400.0], G5_MIPS) > 0.8);
    let r = check_migrations(&s, "thr-mmt:0.8", &[1, 0]);
    assert_eq!(r.summary.host_shutdowns, 0);

    // The energy tells which VM moved. From 300.1 to the end of the migration h0 runs both VMs
    // (the migrating one at 90 %, counted /0.9) and h1 10 % of small-ram; afterwards h0 runs
    // big-ram and h1 small-ram. Steep power = 1000 W × utilization.
    let t = update_times(900.0);
    let done = t[0] + migration_s(870);
    let steep = |u: f64| 1000.0 * u;
    let expected_j = (interval_energy_j(&G5_W, 4400.0 / G5_MIPS, 4400.0 / G5_MIPS, done - t[0])
        + steep(240.0 / G5_MIPS) * (done - t[0]))
        + (interval_energy_j(&G5_W, 2000.0 / G5_MIPS, 2000.0 / G5_MIPS, t[1] - done)
            + steep(2400.0 / G5_MIPS) * (t[1] - done));
    assert_close("energy, small-ram moved", r.summary.energy_kwh * J_PER_KWH, expected_j, 1e-9);
}

#[test]
fn thr_empties_the_least_utilized_host_and_switches_it_off() {
    // Two G5 hosts; power-aware placement puts one VM on each (empty hosts cost less at t = 0).
    // At 300.1 h0 is at 300/5320 and h1 at 200/5320: h1 is the least utilized, its VM fits on h0,
    // so one migration; once it completes (27.84 s later) h1 is empty and counts one shutdown.
    let s = scenario(
        vec![HostType::ml110_g5(), HostType::ml110_g5()],
        vec![
            vm("thirty", instance("small", 1000.0, 1740), &constant(0.3, 5)),
            vm("twenty", instance("small", 1000.0, 1740), &constant(0.2, 5)),
        ],
        1200.0,
    );
    let r = check_migrations(&s, "thr-mmt:0.8", &[1, 0, 0]);
    assert_eq!(r.summary.host_shutdowns, 1, "h1 switched off after the migration");
    let active: Vec<u32> = r.series.iter().map(|i| i.active_hosts).collect();
    // [0, 300.1] draws nothing (hosts off until their first update); both draw in the second
    // interval (h1 until the migration ends); only h0 in the third.
    assert_eq!(active, [0, 2, 1]);

    let t = update_times(1200.0);
    let done = t[0] + migration_s(1740);
    // During the migration h0 carries 300 + 10 % of 200 MIPS and h1 200 (180 / 0.9).
    let expected_j = interval_energy_j(&G5_W, 320.0 / G5_MIPS, 320.0 / G5_MIPS, done - t[0])
        + interval_energy_j(&G5_W, 200.0 / G5_MIPS, 200.0 / G5_MIPS, done - t[0])
        + interval_energy_j(&G5_W, 500.0 / G5_MIPS, 500.0 / G5_MIPS, t[1] - done)
        + interval_energy_j(&G5_W, 0.0, 0.0, t[1] - done)
        + interval_energy_j(&G5_W, 500.0 / G5_MIPS, 500.0 / G5_MIPS, t[2] - t[1]);
    assert_close("energy", r.summary.energy_kwh * J_PER_KWH, expected_j, 1e-9);
}

#[test]
fn dvfs_and_npa_never_migrate_even_from_a_packed_host() {
    // First fit packs both 2500-MIPS VMs on h0: it requests 5000 / 5320 = 0.94, above every
    // threshold; the 1000-MIPS VM goes to h1. PowerVmAllocationPolicySimple.optimizeAllocation
    // returns null (DVFS) and NPA disables migrations.
    let s = scenario(
        vec![HostType::ml110_g5(), HostType::ml110_g5()],
        vec![
            vm("hcm-0", instance("high-cpu-medium", 2500.0, 870), &constant(1.0, 4)),
            vm("hcm-1", instance("high-cpu-medium", 2500.0, 870), &constant(1.0, 4)),
            vm("small", instance("small", 1000.0, 1740), &constant(0.5, 4)),
        ],
        900.0,
    );
    let t = update_times(900.0);
    for policy in ["dvfs", "npa"] {
        let r = check_migrations(&s, policy, &[0, 0]);
        // Initial placement reserved each VM's full MIPS, so no host is ever oversubscribed:
        // allocation never falls short of the request (CloudSim's NPA/DVFS have no SLA
        // violation).
        assert_eq!(r.summary.slatah, 0.0, "{policy}: SLATAH");
        assert_eq!(r.summary.pdm, 0.0, "{policy}: PDM");
        assert_eq!(r.summary.sla_overall, 0.0, "{policy}: overall SLA violation");
        assert_eq!(r.summary.host_shutdowns, 0, "{policy}: host shutdowns");
    }
    // The packing is visible in DVFS energy: h0 at 5000/5320, h1 at 500/5320.
    let dvfs = run(&s, "dvfs");
    let expected_j = interval_energy_j(&G5_W, 5000.0 / G5_MIPS, 5000.0 / G5_MIPS, t[1] - t[0])
        + interval_energy_j(&G5_W, 500.0 / G5_MIPS, 500.0 / G5_MIPS, t[1] - t[0]);
    assert_close("dvfs energy", dvfs.summary.energy_kwh * J_PER_KWH, expected_j, 1e-9);
}

/// h0 = G4, h1 = G5. `first` (1800 MIPS, 870 MB) goes to the G5 at t = 0 (+13.2 W there against
/// +15.6 W on the G4); `second` (2500 MIPS, 1740 MB) can only go to the G5 (G4 cores have 1860
/// MIPS). `first` is the MMT choice and fits on the G4 later.
fn g5_pair(first_utilization: f64) -> Scenario {
    scenario(
        vec![HostType::ml110_g4(), HostType::ml110_g5()],
        vec![
            vm("first", instance("b", 1800.0, 870), &constant(first_utilization, 4)),
            vm("second", instance("a", 2500.0, 1740), &constant(1.0, 4)),
        ],
        900.0,
    )
}

#[test]
fn adaptive_detectors_fall_back_to_thr_0_7_without_history() {
    // The G5 requests (0.8 · 1800 + 2500) / 5320 = 0.74 from the first sample: not over 0.8, but
    // over the 0.7 fallback that IQR/MAD (< 12 history values) and LR/LRR (< 10) use at 300.1.
    let s = g5_pair(0.8);
    let requested = load(&[0.8 * 1800.0, 2500.0], G5_MIPS);
    assert!(requested > 0.7 && requested <= 0.8);
    check_migrations(&s, "thr-mmt:0.8", &[0, 0]);
    for policy in ["iqr-mmt", "mad-mmt", "lr-mmt", "lrr-mmt"] {
        // At 600.1 moving `first` back would put the G5 over 0.7 again: nothing moves.
        check_migrations(&s, policy, &[1, 0]);
    }
}

#[test]
fn one_migration_degrades_performance_as_pdm_and_slatah_say() {
    // g5_pair at 100 %: the G5 requests 4300 / 5320 = 0.808 > 0.8 at 300.1; MMT sends `first`
    // (870 MB) to the G4, which takes 870 / 62.5 = 13.92 s. During it the VM gets 90 % of its
    // 1800 MIPS on the source (PDM) and the G4 allocates 10 % of 1800 while 1800 are requested
    // (SLATAH). Reference: VmSchedulerTimeSharedOverSubscription, HostDynamicWorkload
    // .updateVmsProcessing, Helper.getSlaMetrics / getSlaTimePerActiveHost.
    let s = g5_pair(1.0);
    assert!(load(&[1800.0, 2500.0], G5_MIPS) > 0.8);
    let r = check_migrations(&s, "thr-mmt:0.8", &[1, 0]);
    let t = update_times(900.0);
    let mig_s = migration_s(870);
    assert_close("migration time", mig_s, 13.92, 1e-12);
    let done = t[0] + mig_s;

    // PDM = Σ (requested − allocated)·dt over in-migration entries / Σ requested·dt.
    let shortfall = (1800.0 - 1800.0 * 0.9) * (done - t[0]);
    let requested = 1800.0 * (done - t[0]) + 1800.0 * (t[1] - done) + 2500.0 * (t[1] - t[0]);
    let pdm = shortfall / requested;
    assert_close("PDM", r.summary.pdm, pdm, 1e-9);
    // The only shortfall is the migration's.
    assert_close("overall SLA violation", r.summary.sla_overall, pdm, 1e-9);

    // SLATAH: the G4 is active from 300.1 and short (180 < 1800) until the migration ends; the
    // G5 is active throughout and never short (2500 + 1620 / 0.9 = 4300 = requested).
    let active_s = 2.0 * (t[1] - t[0]);
    let slatah = (done - t[0]) / active_s;
    assert_close("SLATAH", r.summary.slatah, slatah, 1e-9);
    assert_close("SLAV", r.summary.slav, slatah * pdm, 1e-9);
    assert_eq!(r.summary.host_shutdowns, 0);

    let expected_j = interval_energy_j(&G4_W, 180.0 / G4_MIPS, 180.0 / G4_MIPS, done - t[0])
        + interval_energy_j(&G5_W, 4300.0 / G5_MIPS, 4300.0 / G5_MIPS, done - t[0])
        + interval_energy_j(&G4_W, 1800.0 / G4_MIPS, 1800.0 / G4_MIPS, t[1] - done)
        + interval_energy_j(&G5_W, 2500.0 / G5_MIPS, 2500.0 / G5_MIPS, t[1] - done);
    assert_close("energy", r.summary.energy_kwh * J_PER_KWH, expected_j, 1e-9);
}

/// Least-squares fit of `y` against x = 1..=n, evaluated at `x`.
fn ols_predict(y: &[f64], x: f64) -> f64 {
    let n = y.len() as f64;
    let mean_x = (n + 1.0) / 2.0;
    let mean_y = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (i, &yi) in y.iter().enumerate() {
        let dx = (i + 1) as f64 - mean_x;
        sxy += dx * (yi - mean_y);
        sxx += dx * dx;
    }
    let slope = sxy / sxx;
    mean_y + slope * (x - mean_x)
}

#[test]
fn lr_predicts_an_overload_before_the_static_threshold() {
    // h0 = G4, h1 = G5 with three VMs (800 + 2500 + 2000 MIPS) that all follow one rising trace
    // (+0.075 per sample with a ±0.004 zig-zag, so that the robust fit has no degenerate
    // residuals). Only the 800-MIPS VM (600 MB, the MMT choice) fits on the G4.
    let trace: Vec<f64> = (0..13)
        .map(|j| 0.02 + 0.075 * j as f64 + if j % 2 == 1 { 0.004 } else { -0.004 })
        .collect();
    let s = scenario(
        vec![HostType::ml110_g4(), HostType::ml110_g5()],
        vec![
            vm("rising-m", instance("m", 800.0, 600), &trace),
            vm("rising-a", instance("high-cpu-medium", 2500.0, 870), &trace),
            vm("rising-x", instance("extra-large", 2000.0, 1740), &trace),
        ],
        12.0 * 300.0,
    );
    let t = update_times(12.0 * 300.0);
    assert_eq!(t.len(), 11);
    // Host utilization at update k (history value k, newest first in CloudSim).
    let host_u: Vec<f64> =
        t.iter().map(|&tk| (800.0 + 2500.0 + 2000.0) * trace_at(&trace, tk) / G5_MIPS).collect();
    let without_m: Vec<f64> =
        t.iter().map(|&tk| (2500.0 + 2000.0) * trace_at(&trace, tk) / G5_MIPS).collect();
    // Premises, by hand. Updates 1–9: fewer than 10 history values, so LR uses THR 0.7, which
    // does not fire.
    assert!(host_u[..9].iter().all(|&u| u <= 0.7), "{host_u:?}");
    // Update 10: 10 values; predicted at x = 10 + ceil(27.84 s / 300 s) = 11, times 1.2, is ≥ 1,
    // while the host requests less than 0.8. Without the 800-MIPS VM the prediction is < 1.
    let predicted_10 = 1.2 * ols_predict(&host_u[..10], 11.0);
    assert!(predicted_10 >= 1.005, "predicted {predicted_10}");
    assert!(host_u[9] < 0.8, "{}", host_u[9]);
    assert!(1.2 * ols_predict(&without_m[..10], 11.0) < 0.95);
    // Update 11: THR 0.8 fires; for LR the G5 without the VM stays below 1, and taking the VM
    // back would put it over again.
    assert!(host_u[10] > 0.8, "{}", host_u[10]);
    assert!(1.2 * ols_predict(&without_m[1..11], 11.0) < 0.95);
    assert!(1.2 * ols_predict(&host_u[1..11], 11.0) > 1.05);

    let mut lr = vec![0; 11];
    lr[9] = 1;
    for policy in ["lr-mmt:1.2", "lrr-mmt:1.2"] {
        check_migrations(&s, policy, &lr);
    }
    let mut thr = vec![0; 11];
    thr[10] = 1;
    check_migrations(&s, "thr-mmt:0.8", &thr);
}

#[test]
fn a_2500_mips_vm_moved_to_a_g4_is_capped_at_its_cores() {
    // h0 = G4, h1 = G5; thr-mmt:0.4. `hcm` (2500 MIPS, 870 MB) and `xl` (2000 MIPS) can only go
    // to the G5; `small` then finds the G5's memory full at t = 0 (870 + 1740 + 1740 > 4096 MB)
    // and goes to the G4. At 300.1 the G5 requests (250.75 + 2000) / 5320 = 0.42 > 0.4: MMT sends
    // `hcm` (requesting 250.75 MIPS ≤ 1860) to the G4. From 600.1 `hcm` requests 2500 MIPS, but
    // one G4 core gives at most 1860: allocated < requested without any migration, and no host
    // can take it back (the G5 would be at 0.85 > 0.4). Reference: VmSchedulerTimeShared
    // OverSubscription.allocatePesForVm (per-core cap), notes §9 item 7.
    let hcm_trace = [0.1, 0.1, 1.0, 1.0, 1.0];
    let s = scenario(
        vec![HostType::ml110_g4(), HostType::ml110_g5()],
        vec![
            vm("hcm", instance("high-cpu-medium", 2500.0, 870), &hcm_trace),
            vm("xl", instance("extra-large", 2000.0, 1740), &constant(1.0, 5)),
            vm("small", instance("small", 1000.0, 1740), &constant(0.5, 5)),
        ],
        1200.0,
    );
    let r = check_migrations(&s, "thr-mmt:0.4", &[1, 0, 0]);
    let t = update_times(1200.0);
    let done = t[0] + migration_s(870);
    // hcm's request at 300.1 and at the migration's end (interpolated: 0.1 → 1.0 over 300 s).
    let w1 = 2500.0 * (0.1 + (1.0 - 0.1) / 300.0 * 0.1);
    let w_done = 2500.0 * (0.1 + (1.0 - 0.1) / 300.0 * (done - 300.0));
    assert!(w1 <= 1860.0 && w_done <= 1860.0);
    assert!((w1 + 2000.0) / G5_MIPS > 0.4 && 2000.0 / G5_MIPS <= 0.4);

    // SLATAH: the G4 is short while receiving hcm (500 + 10 % of w1 < 500 + w1) and from 600.1
    // on (500 + 1860 < 500 + 2500); the G5 never is. Both are active over [300.1, 900.1].
    let slatah = ((done - t[0]) + (t[2] - t[1])) / (2.0 * (t[2] - t[0]));
    assert_close("SLATAH", r.summary.slatah, slatah, 1e-9);
    // PDM counts only the migration's 10 %; the overall SLA violation adds the capped 640 MIPS.
    let requested = w1 * (done - t[0])
        + w_done * (t[1] - done)
        + 2500.0 * (t[2] - t[1])
        + 2000.0 * (t[2] - t[0])
        + 500.0 * (t[2] - t[0]);
    let migration_shortfall = (w1 - w1 * 0.9) * (done - t[0]);
    assert_close("PDM", r.summary.pdm, migration_shortfall / requested, 1e-9);
    let capped_shortfall = (2500.0 - 1860.0) * (t[2] - t[1]);
    assert_close(
        "overall SLA violation",
        r.summary.sla_overall,
        (migration_shortfall + capped_shortfall) / requested,
        1e-9,
    );
}
