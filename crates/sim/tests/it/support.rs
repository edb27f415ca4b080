//! Shared fixtures: hand-built fleets and VMs, the update clock, and the reference formulas
//! (SPECpower interpolation, trapezoid energy, trace interpolation, migration time) written out
//! from the CloudSim 3.0.3 sources, independently of the engine's own helpers.

use model::{HostType, InstanceType};
use sim::engine::{simulate, EngineError, EngineOptions};
use sim::metrics::PolicyRun;
use sim::policy::PolicySpec;
use sim::scenario::{Scenario, ScenarioVm};

/// Seconds between two scheduling updates and between two trace samples.
/// Reference: CloudSim 3.0.3 examples Constants.SCHEDULING_INTERVAL.
pub const STEP_S: f64 = 300.0;

/// Total MIPS of the reference hosts (2 × 1860 and 2 × 2660).
/// Reference: CloudSim 3.0.3 examples Constants.HOST_MIPS / HOST_PES.
pub const G4_MIPS: f64 = 3720.0;
pub const G5_MIPS: f64 = 5320.0;

/// SPECpower_ssj2008 points, watts at 0 %, 10 %, …, 100 % CPU.
/// Reference: CloudSim 3.0.3 PowerModelSpecPowerHpProLiantMl110G4Xeon3040 and
/// PowerModelSpecPowerHpProLiantMl110G5Xeon3075.
pub const G4_W: [f64; 11] =
    [86.0, 89.4, 92.6, 96.0, 99.5, 102.0, 106.0, 108.0, 112.0, 114.0, 117.0];
pub const G5_W: [f64; 11] =
    [93.7, 97.0, 101.0, 105.0, 110.0, 116.0, 121.0, 125.0, 129.0, 133.0, 135.0];

/// Joules in a kilowatt-hour (CloudSim prints `getPower() / (3600 * 1000)`).
pub const J_PER_KWH: f64 = 3_600_000.0;

/// Power at `utilization`, interpolated between the two neighbouring SPECpower points.
/// Reference: CloudSim 3.0.3 PowerModelSpecPower.getPower.
pub fn spec_power_w(points: &[f64; 11], utilization: f64) -> f64 {
    assert!((0.0..=1.0).contains(&utilization), "utilization {utilization} outside [0, 1]");
    if utilization % 0.1 == 0.0 {
        return points[(utilization * 10.0) as usize];
    }
    let u1 = (utilization * 10.0).floor() as usize;
    let u2 = (utilization * 10.0).ceil() as usize;
    let delta = (points[u2] - points[u1]) / 10.0;
    points[u1] + delta * (utilization - u1 as f64 / 10.0) * 100.0
}

/// Energy of one host over one update interval: trapezoid between the power at the previous
/// and the current utilization, nothing when the host was idle (off) at the start.
/// Reference: CloudSim 3.0.3 PowerHost.getEnergyLinearInterpolation.
pub fn interval_energy_j(points: &[f64; 11], from_u: f64, to_u: f64, dt_s: f64) -> f64 {
    if from_u == 0.0 {
        return 0.0;
    }
    let from_w = spec_power_w(points, from_u);
    let to_w = spec_power_w(points, to_u);
    (from_w + (to_w - from_w) / 2.0) * dt_s
}

/// A trace's utilization at `time_s`: linear between 300-s samples, the last sample repeated
/// past the end. Reference: CloudSim 3.0.3 UtilizationModelPlanetLabInMemory.getUtilization
/// (with `data[288] = data[287]`).
pub fn trace_at(data: &[f64], time_s: f64) -> f64 {
    let at = |i: usize| data[i.min(data.len() - 1)];
    if time_s % STEP_S == 0.0 {
        return at((time_s / STEP_S) as usize);
    }
    let i1 = (time_s / STEP_S).floor() as usize;
    let i2 = (time_s / STEP_S).ceil() as usize;
    let delta = (at(i2) - at(i1)) / ((i2 - i1) as f64 * STEP_S);
    at(i1) + delta * (time_s - i1 as f64 * STEP_S)
}

/// The regular update times before `duration_s`: 0.1 + 300, then + 300 by repeated addition;
/// events at or after the end are not run. Reference: CloudSim 3.0.3 CloudSim.run and
/// PowerDatacenter.updateCloudletProcessing (notes §2.1).
pub fn update_times(duration_s: f64) -> Vec<f64> {
    let mut times = Vec::new();
    let mut t = 0.1 + STEP_S;
    while t < duration_s {
        times.push(t);
        t += STEP_S;
    }
    times
}

/// Migration time of a VM with `ram_mib` over a 1 Gbit/s host link, half of it for migration.
/// Reference: CloudSim 3.0.3 PowerDatacenter.updateCloudletProcessing,
/// `vm.getRam() / ((double) targetHost.getBw() / (2 * 8000))`.
pub fn migration_s(ram_mib: u64) -> f64 {
    ram_mib as f64 / (1_000_000.0 / (2.0 * 8000.0))
}

/// A one-core instance type.
pub fn instance(name: &str, mips: f64, ram_mib: u64) -> InstanceType {
    InstanceType { name: name.into(), pes: 1, mips_per_pe: mips, ram_mib, bw_mbps: 100 }
}

/// A VM named `name` of `instance` following `trace` (300-s samples).
pub fn vm(name: &str, instance: InstanceType, trace: &[f64]) -> ScenarioVm {
    ScenarioVm {
        name: name.into(),
        instance,
        utilization: trace.to_vec(),
        sample_interval_s: STEP_S,
    }
}

/// `n` samples of `utilization`.
pub fn constant(utilization: f64, n: usize) -> Vec<f64> {
    vec![utilization; n]
}

/// A fleet with one host per entry of `hosts`, in that order, and 300-s steps.
pub fn scenario(hosts: Vec<HostType>, vms: Vec<ScenarioVm>, duration_s: f64) -> Scenario {
    let n_hosts = hosts.len();
    Scenario {
        host_types: hosts,
        hosts: (0..n_hosts).collect(),
        target_heat_w: vec![0.0; n_hosts],
        vms,
        step_s: STEP_S,
        duration_s,
    }
}

/// Runs `policy` (command-line name) with `options`.
pub fn try_run(
    scenario: &Scenario,
    policy: &str,
    options: EngineOptions,
) -> Result<PolicyRun, EngineError> {
    let spec = PolicySpec::parse(policy).unwrap_or_else(|e| panic!("policy {policy}: {e}"));
    simulate(scenario, spec, options, &mut |_, _| {})
}

/// Runs `policy` with the default (reference) options; the run must succeed.
#[track_caller]
pub fn run(scenario: &Scenario, policy: &str) -> PolicyRun {
    try_run(scenario, policy, EngineOptions::default())
        .unwrap_or_else(|e| panic!("{policy}: run failed: {e}"))
}

/// Migrations started at each regular update (series[k] ends at update k + 1).
pub fn migrations_per_update(run: &PolicyRun) -> Vec<u32> {
    run.series.iter().map(|r| r.migrations).collect()
}

/// Fraction of `capacity_mips` that VMs requesting `mips` take together.
pub fn load(mips: &[f64], capacity_mips: f64) -> f64 {
    mips.iter().sum::<f64>() / capacity_mips
}

/// Asserts `got` equals `expected` to `rel` relative error.
#[track_caller]
pub fn assert_close(what: &str, got: f64, expected: f64, rel: f64) {
    let err = (got - expected).abs() / expected.abs().max(f64::MIN_POSITIVE);
    assert!(
        err <= rel,
        "{what}: got {got}, expected {expected} (relative error {err:e} > {rel:e})"
    );
}
