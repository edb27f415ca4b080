//! The demo site's cooling failure under the controller, in virtual time: 2 of zone z0's 3
//! cooling units fail at 48 min for 30 min. Left alone its air would pass 32 °C after ≈ 18 min
//! and peak near 37 °C (the site's own test shows it); the thermal guard must shed hosts, keep
//! the air well below the detect threshold, power everything back up once the units recover,
//! and lose no instance on the way.

use controller::execute::PolicyClock;
use controller::observe::Drivers;
use controller::service::{Controller, LoopConfig};
use controller::shared::Mode;
use controller::topology::Topology;
use drivers::site::{Site, SitePower, SiteSpec};
use drivers::ManualClock;
use std::sync::Arc;
use std::time::Duration;

#[test]
fn the_guard_rides_out_the_demo_cooling_failure_and_powers_everything_back() {
    let clock = Arc::new(ManualClock::new());
    let spec = SiteSpec::demo(48, 4, 1);
    let site = Arc::new(Site::new(spec.clone(), clock.clone()).unwrap());
    let topology = Topology::from_site(&spec).unwrap();
    let drivers = Drivers::from_site(site.clone());
    let config = LoopConfig {
        mode: Mode::Auto,
        poll_every: Duration::from_millis(100),
        ..LoopConfig::default()
    };
    let store = store::Store::open_in_memory().unwrap();
    let mut controller =
        Controller::open(config, topology, drivers, store, PolicyClock::new(clock.clone(), 60.0))
            .unwrap();
    let shared = controller.shared();
    let mut max_air: f64 = 0.0;
    let mut shed_max = 0;
    while site.now_s() < 7200.0 {
        controller.cycle().unwrap();
        let view = shared.view();
        max_air = max_air.max(view.zones[0].air_c.unwrap());
        shed_max = shed_max.max(view.zones[0].powered_down.len());
        clock.advance(Duration::from_secs(1)); // one site minute between cycles
        site.check_invariants().unwrap();
    }
    let view = shared.view();
    let totals = controller.totals();
    assert_eq!(totals.thermal_events, 1, "{totals:?}");
    assert!(shed_max >= 2, "the guard shed {shed_max} host(s)");
    assert!(max_air < 30.0, "z0's air peaked at {max_air:.1} °C");
    assert!(view.zones.iter().all(|z| z.phase == "normal"), "{:?}", view.zones);
    assert_eq!(totals.instances_lost, 0);
    let failed: Vec<String> = shared
        .store()
        .journal(0, 100_000)
        .unwrap()
        .into_iter()
        .filter(|r| r.phase == store::Phase::Failed)
        .map(|r| format!("{} {} {}: {:?}", r.op_id, r.kind, r.subject, r.error))
        .collect();
    assert_eq!(totals.actions_failed, 0, "{totals:?}\n{failed:#?}");
    // Every instance the guard stopped runs again.
    let snapshot = site.snapshot();
    let stopped: Vec<_> = snapshot
        .instances
        .iter()
        .filter(|i| i.state == drivers::InstanceState::Stopped)
        .map(|i| i.id.clone())
        .collect();
    assert!(stopped.is_empty(), "still stopped: {stopped:?}");
    assert!(snapshot
        .hosts
        .iter()
        .filter(|h| h.power == SitePower::Off)
        .all(|h| h.instances.is_empty()));
}
