//! One PlanetLab day (2011-03-03, 1052 VMs) in the reference scenario (800 hosts), per policy,
//! with the 125 W target of docs/sim.md (only heat-max's decisions depend on it).
//!
//! Run: `cargo bench -p sim --bench planetlab_day`. Smoke-run (each benchmark once) in the test
//! suite: `cargo test -p sim --benches`. Target: under 0.5 s per policy-day on one core.

use sim::engine::{simulate, EngineOptions};
use sim::policy::PolicySpec;
use sim::scenario::Scenario;
use std::path::PathBuf;
use std::sync::OnceLock;

fn main() {
    divan::main();
}

fn reference_day() -> &'static Scenario {
    static SCENARIO: OnceLock<Scenario> = OnceLock::new();
    SCENARIO.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/planetlab/20110303");
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("benchmark data {}: {e}", dir.display()))
            .map(|entry| entry.expect("listing benchmark data").path())
            .collect();
        paths.sort();
        let files: Vec<(PathBuf, String)> = paths
            .into_iter()
            .map(|p| {
                let text = std::fs::read_to_string(&p).expect("reading a trace");
                (p, text)
            })
            .collect();
        let day = sim::workload::planetlab::parse_workload("planetlab:20110303".into(), &files)
            .expect("parsing the reference day");
        let scenario = Scenario::planetlab_reference(&day)
            .expect("building the reference scenario")
            .with_uniform_target(125.0);
        // Assert the setup before timing anything.
        assert_eq!((scenario.vms.len(), scenario.hosts.len()), (1052, 800));
        scenario
    })
}

#[divan::bench(
    args = ["npa", "dvfs", "thr-mmt", "iqr-mmt", "mad-mmt", "lr-mmt", "lrr-mmt", "heat-max"],
    sample_count = 3,
    sample_size = 1
)]
fn policy_day(bencher: divan::Bencher, policy: &str) {
    let scenario = reference_day();
    let policy = PolicySpec::parse(policy).expect("a known policy");
    bencher.bench(|| {
        simulate(scenario, policy, EngineOptions::default(), &mut |_, _| {})
            .expect("the reference day runs")
    });
}
