//! One full control cycle at scale (issue 6): observe → decide (estimate, thermal guard, heat
//! plan, limits) → validate every planned step against fresh state, for 10 000 hosts and
//! 100 000 instances on the simulated site, in observe mode (plans, never acts), with the store
//! in memory. Target: under 1 s. Also times the three stages alone, so the total can be read,
//! and decide with one site-wide heat plan instead of one per zone.
//!
//! Run: `cargo bench -p controller --bench cycle`. Smoke-run (each benchmark once, at a tenth of
//! the size: the test suite builds it unoptimized) in the test suite: `cargo test -p controller
//! --benches`.

use controller::decide::{decide, History};
use controller::execute::PolicyClock;
use controller::observe::{observe, Drivers};
use controller::policy::ControllerPolicy;
use controller::service::{Controller, LoopConfig};
use controller::shared::Mode;
use controller::topology::Topology;
use drivers::site::{
    HostModel, HostSpec, InstanceSpec, LoadSpec, RackSpec, Site, SitePower, SiteSpec, TimingSpec,
    ZoneSpec,
};
use drivers::ManualClock;
use std::sync::{Arc, Mutex, OnceLock};

const INSTANCES_PER_HOST: usize = 10;
const RACK: usize = 25;

/// Hosts and zones: 10 000 in 40 under `cargo bench`, 1 000 in 4 in the test suite's smoke run.
fn size() -> (usize, usize) {
    static SIZE: OnceLock<(usize, usize)> = OnceLock::new();
    *SIZE.get_or_init(|| {
        if std::env::args().any(|a| a == "--bench") {
            (10_000, 40)
        } else {
            (1_000, 4)
        }
    })
}

fn main() {
    let (hosts, zones) = size();
    eprintln!(
        "cycle bench: {hosts} hosts in {zones} zones, {} instances",
        hosts * INSTANCES_PER_HOST
    );
    divan::main();
}

/// 40 zones of 250 hosts in racks of 25; 32-CPU hosts running ten 2-CPU instances each at
/// loads spread over 0.2–0.9, so the planner has real consolidation work.
fn spec() -> SiteSpec {
    let (hosts, n_zones) = size();
    let per_zone = hosts / n_zones;
    let mut zones = Vec::new();
    let mut instances = Vec::new();
    let mut h = 0;
    for z in 0..n_zones {
        let mut racks = Vec::new();
        for r in 0..per_zone / RACK {
            let mut hosts = Vec::new();
            for _ in 0..RACK {
                let id = format!("h{h:05}");
                for i in 0..INSTANCES_PER_HOST {
                    let mean = 0.2 + 0.7 * (((h * 7 + i * 13) % 100) as f64 / 100.0);
                    instances.push(InstanceSpec {
                        id: format!("vm{h:05}-{i}"),
                        host: id.clone(),
                        cpus: 2.0,
                        memory_mib: 2048.0,
                        load: LoadSpec::constant(mean),
                        movable: true,
                        running: true,
                    });
                }
                hosts.push(HostSpec {
                    cpus: 32.0,
                    memory_mib: 65536.0,
                    power: SitePower::On,
                    model: HostModel::Ml110G5,
                    ..HostSpec::ml110_g5(&id)
                });
                h += 1;
            }
            racks.push(RackSpec { id: format!("z{z}r{r}"), hosts });
        }
        zones.push(ZoneSpec {
            id: format!("z{z}"),
            setpoint_c: 24.0,
            air_heat_capacity_j_per_k: 1_250_000.0,
            response_s: 120.0,
            cooling_units: 3,
            cooling_unit_w: 20_000.0,
            heat_recovery_w: 6_000.0,
            racks,
        });
    }
    SiteSpec {
        seed: 1,
        speed: 1.0,
        zones,
        instances,
        events: Vec::new(),
        timing: TimingSpec::default(),
    }
}

struct Rig {
    site: Arc<Site>,
    clock: Arc<ManualClock>,
    topology: Topology,
    drivers: Drivers,
}

fn rig() -> &'static Rig {
    static RIG: OnceLock<Rig> = OnceLock::new();
    RIG.get_or_init(|| {
        let spec = spec();
        let clock = Arc::new(ManualClock::new());
        let site =
            Arc::new(Site::new(spec.clone(), clock.clone()).expect("the bench site validates"));
        let topology = Topology::from_site(&spec).unwrap();
        let drivers = Drivers::from_site(site.clone());
        let observed = observe(&drivers, &topology, 0.0);
        let hosts = size().0;
        assert_eq!(
            (observed.hosts.len(), observed.instances.len()),
            (hosts, hosts * INSTANCES_PER_HOST)
        );
        Rig { site, clock, topology, drivers }
    })
}

fn controller() -> &'static Mutex<Controller> {
    static CONTROLLER: OnceLock<Mutex<Controller>> = OnceLock::new();
    CONTROLLER.get_or_init(|| {
        let rig = rig();
        let config = LoopConfig { mode: Mode::Observe, ..LoopConfig::default() };
        let controller = Controller::open(
            config,
            rig.topology.clone(),
            rig.drivers.clone(),
            store::Store::open_in_memory().unwrap(),
            PolicyClock::new(rig.clock.clone(), 1.0),
        )
        .unwrap();
        let _ = &rig.site;
        Mutex::new(controller)
    })
}

/// The whole cycle: observe, decide, validate each planned step, record, publish.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn full_cycle() -> usize {
    let mut controller = controller().lock().unwrap();
    controller.cycle().expect("a cycle")
}

/// Observe alone: every host's power, sensors and instances through the drivers.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn observe_only() -> usize {
    let rig = rig();
    observe(&rig.drivers, &rig.topology, 0.0).instances.len()
}

/// Decide alone on one snapshot: estimate, thermal guard, heat plan, limits.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn decide_only(bencher: divan::Bencher) {
    let rig = rig();
    let observed = observe(&rig.drivers, &rig.topology, 0.0);
    let policy = ControllerPolicy::default();
    bencher.bench_local(|| {
        let mut guard =
            thermal::guard::Guard::new(policy.thermal.clone(), thermal::Strategy::Seed).unwrap();
        decide(&observed, &rig.topology, &policy, &mut guard, &History::default(), &mut Vec::new())
            .steps
            .len()
    });
}

/// Decide with one heat plan over the whole site (`heat.scope = "site"`), for comparison with
/// the default per-zone plans.
#[divan::bench(sample_count = 3, sample_size = 1)]
fn decide_site_scope(bencher: divan::Bencher) {
    let rig = rig();
    let observed = observe(&rig.drivers, &rig.topology, 0.0);
    let mut policy = ControllerPolicy::default();
    policy.heat.scope = controller::policy::Scope::Site;
    bencher.bench_local(|| {
        let mut guard =
            thermal::guard::Guard::new(policy.thermal.clone(), thermal::Strategy::Seed).unwrap();
        decide(&observed, &rig.topology, &policy, &mut guard, &History::default(), &mut Vec::new())
            .steps
            .len()
    });
}
