//! Planner benchmarks (issue 3): planning a generated fleet of 10 000 instances on 1 000 hosts
//! with 4 resources (target under 1 s on one core), and the incremental re-plan of a settled
//! fleet after 1 % of its instances change (target under 50 ms). Before timing, it prints the
//! covered hosts as a fraction of the upper bound on the generated suite (seeds 1–5 at that
//! size; target ≥ 99 %) and what the re-plan changes.
//!
//! Run: `cargo bench -p heat --bench plan`. Smoke-run (each benchmark once) in the test suite:
//! `cargo test -p heat --benches`.

use heat::generate::{fleet, GenerateSpec, SplitMix64};
use heat::plan::{Plan, PowerKind};
use heat::{plan, FleetSpec, Problem};
use std::sync::OnceLock;

/// The benchmark size.
const SIZE: GenerateSpec = GenerateSpec { instances: 10_000, hosts: 1_000, resources: 4, seed: 1 };

fn main() {
    report_suite();
    report_replan();
    divan::main();
}

fn problem_of(spec: &FleetSpec) -> Problem {
    Problem::new(spec).unwrap_or_else(|err| panic!("a generated fleet validates: {err}"))
}

/// The generated fleet at [`SIZE`], validated; the setup is asserted before anything is timed.
fn generated() -> &'static (FleetSpec, Problem) {
    static FLEET: OnceLock<(FleetSpec, Problem)> = OnceLock::new();
    FLEET.get_or_init(|| {
        let spec = fleet(&SIZE, None);
        let problem = problem_of(&spec);
        assert_eq!(
            (problem.n_instances(), problem.n_hosts(), problem.n_resources()),
            (10_000, 1_000, 4)
        );
        (spec, problem)
    })
}

/// The fleet after its plan has been carried out: every instance on its planned host, the hosts
/// the plan powered down off.
fn settle(spec: &FleetSpec, plan: &Plan) -> FleetSpec {
    let mut settled = spec.clone();
    for (inst, host) in settled.instances.iter_mut().zip(&plan.assignment) {
        inst.host = host.map(|h| spec.hosts[h].id.clone());
    }
    for action in plan.power.iter().filter(|a| a.action == PowerKind::PowerDown) {
        settled.hosts[action.host].power = heat::fleet::PowerState::Off;
    }
    settled
}

/// `settled` with 1 % of its instances changed: heat ×0.7–1.3, each request ×0.8–1.25.
fn perturb(settled: &FleetSpec, seed: u64) -> FleetSpec {
    let mut changed = settled.clone();
    let mut rng = SplitMix64::new(seed);
    let mut order: Vec<usize> = (0..changed.instances.len()).collect();
    rng.shuffle(&mut order);
    for &i in &order[..changed.instances.len() / 100] {
        let inst = &mut changed.instances[i];
        inst.heat_w = (inst.heat_w * rng.uniform(0.7, 1.3) * 10.0).round() / 10.0;
        for q in &mut inst.request {
            *q = (*q * rng.uniform(0.8, 1.25) * 100.0).round() / 100.0;
        }
    }
    changed
}

/// The settled, changed fleet the re-plan benchmark plans.
fn changed() -> &'static FleetSpec {
    static CHANGED: OnceLock<FleetSpec> = OnceLock::new();
    CHANGED.get_or_init(|| {
        let (spec, problem) = generated();
        let settled = settle(spec, &plan(problem));
        let changed = perturb(&settled, 7);
        let differ =
            settled.instances.iter().zip(&changed.instances).filter(|(a, b)| a != b).count();
        assert!((90..=100).contains(&differ), "{differ} instances changed");
        changed
    })
}

/// Covered hosts as a fraction of the upper bound on the generated suite.
fn report_suite() {
    let (mut covered, mut bound) = (0, 0);
    for seed in 1..=5 {
        let spec = GenerateSpec { seed, ..SIZE };
        let plan = plan(&problem_of(&fleet(&spec, None)));
        eprintln!(
            "{spec}: covered {} of an upper bound of {} ({:.2} %), {} migrations, {} active hosts",
            plan.score.covered_hosts,
            plan.upper_bound,
            100.0 * plan.score.covered_hosts as f64 / plan.upper_bound.max(1) as f64,
            plan.migrations.len(),
            plan.score.active_hosts
        );
        covered += plan.score.covered_hosts;
        bound += plan.upper_bound;
    }
    eprintln!(
        "generated suite (seeds 1-5): covered {covered} of {bound} ({:.2} % of the upper bound)",
        100.0 * covered as f64 / bound.max(1) as f64
    );
}

/// What the incremental re-plan changes.
fn report_replan() {
    let (spec, problem) = generated();
    let first = plan(problem);
    let replan = plan(&problem_of(changed()));
    let settled_again = plan(&problem_of(&settle(spec, &first)));
    eprintln!(
        "re-plan after 1 % change: covered {} → {} (bound {}), {} migrations ({} on the unchanged \
         settled fleet)",
        first.score.covered_hosts,
        replan.score.covered_hosts,
        replan.upper_bound,
        replan.migrations.len(),
        settled_again.migrations.len()
    );
}

/// Plans the generated fleet from its spread arrangement.
#[divan::bench(sample_count = 20, sample_size = 1)]
fn plan_10k_instances_1k_hosts(bencher: divan::Bencher) {
    let (_, problem) = generated();
    bencher.bench(|| plan(problem));
}

/// Validates and plans a settled fleet after 1 % of its instances changed: what the controller
/// does each interval.
#[divan::bench(sample_count = 20, sample_size = 1)]
fn replan_after_1pct_change(bencher: divan::Bencher) {
    let changed = changed();
    bencher.bench(|| plan(&problem_of(changed)));
}
