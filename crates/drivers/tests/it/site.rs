//! The simulated site on a manual clock: power timing and the refusal that protects instances,
//! moves (live, cold, idempotent, refused, cancelled, failed, expired), the physics of a
//! cooling failure, the state file across "processes", spec errors, and the demo site's
//! numbers (the controller's thermal guard is tested against them).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use drivers::site::{EventKind, EventSpec, SitePower};
use drivers::{
    Clock, Compute, ComputeOp, DriverError, HostId, InstanceState, ManualClock, MoveKind, OpStatus,
    Power, PowerOp, PowerState, SensorValue, Sensors, Site, SiteError, SiteSpec, UnixClock, Wait,
};

use crate::conformance::{check, Subject};

/// The controller shares one site between threads.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Site>();
};

fn site(spec: SiteSpec) -> (Arc<ManualClock>, Site) {
    let clock = Arc::new(ManualClock::new());
    let site = Site::new(spec, clock.clone()).expect("a valid spec");
    (clock, site)
}

fn secs(clock: &ManualClock, seconds: f64) {
    clock.advance(Duration::from_secs_f64(seconds));
}

fn h(name: &str) -> HostId {
    HostId::new(name)
}

fn mv(instance: &str, from: &str, to: &str, kind: MoveKind) -> ComputeOp {
    ComputeOp::Move { instance: instance.into(), from: h(from), to: h(to), kind }
}

/// Where `instance` is and in what state, from the snapshot.
fn where_is(site: &Site, instance: &str) -> (String, InstanceState, u64) {
    let snapshot = site.snapshot();
    let found = snapshot.instances.iter().find(|i| i.id == instance).expect("a known instance");
    (found.host.to_string(), found.state, found.moves_applied)
}

fn refused(result: Result<(), DriverError>, reason: &str) {
    match result {
        Err(DriverError::Refused { reason: got, .. }) => assert!(got.contains(reason), "{got}"),
        other => panic!("expected a refusal containing {reason:?}, got {other:?}"),
    }
}

/// A fresh path in the temporary directory; removed first if a past run left it.
fn temp_path(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("hearth-site-{}-{name}.json", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn site_conforms_on_a_host_without_instances() {
    // h3 starts off, has no instances, and reads the zone's setpoint air: 24 °C, 0 W.
    let (clock, site) = site(SiteSpec::small());
    check(&Subject {
        power: &site,
        sensors: &site,
        clock: clock.as_ref(),
        host: h("h3"),
        temperature: ("Inlet", 24.0),
        power_w: 0.0,
        wait: Wait { timeout: Duration::from_secs(120), interval: Duration::from_secs(1) },
    });
    site.check_invariants().unwrap();
}

#[test]
fn power_changes_take_their_time_and_never_strand_an_instance() {
    let (clock, site) = site(SiteSpec::small());
    let on = site.request(&h("h3"), PowerOp::On).unwrap();
    secs(&clock, 59.0);
    assert_eq!(
        (site.state(&h("h3")).unwrap(), Power::poll(&site, on).unwrap()),
        (PowerState::Off, OpStatus::Pending)
    );
    let draw = site.power_draw(&h("h3")).unwrap().watts;
    assert_eq!(draw, SensorValue::Value(93.7), "booting: the idle power");
    secs(&clock, 1.0);
    assert_eq!(
        (site.state(&h("h3")).unwrap(), Power::poll(&site, on).unwrap()),
        (PowerState::On, OpStatus::Done)
    );
    let again = site.request(&h("h3"), PowerOp::On).unwrap();
    assert!(again > on);
    assert_eq!(Power::poll(&site, again).unwrap(), OpStatus::Done, "idempotent: done at once");

    // h2 runs vm3: powering it off is refused, naming the instance.
    let err = site.request(&h("h2"), PowerOp::SoftOff).unwrap_err();
    assert!(matches!(&err, DriverError::Refused { reason, .. } if reason.contains("vm3")), "{err}");
    site.submit("stop-vm3", &ComputeOp::Stop { instance: "vm3".into() }).unwrap();
    refused(site.request(&h("h2"), PowerOp::Off).map(drop), "vm3");
    secs(&clock, 5.0);
    assert_eq!(where_is(&site, "vm3").1, InstanceState::Stopped);
    let off = site.request(&h("h2"), PowerOp::Off).unwrap();
    secs(&clock, 30.0);
    assert_eq!(
        (site.state(&h("h2")).unwrap(), Power::poll(&site, off).unwrap()),
        (PowerState::Off, OpStatus::Done)
    );
    assert_eq!(site.power_draw(&h("h2")).unwrap().watts, SensorValue::Value(0.0));
    assert_eq!(site.temperatures(&h("h2")).unwrap().len(), 2, "an off host's BMC still reads");
    // Starting an instance on an off host is refused.
    refused(site.submit("start-vm3", &ComputeOp::Start { instance: "vm3".into() }), "h2 is not on");
    site.check_invariants().unwrap();
}

#[test]
fn a_live_move_migrates_then_switches_over_exactly_once() {
    let (clock, site) = site(SiteSpec::small());
    let op = mv("vm1", "h1", "h2", MoveKind::Live);
    site.submit("m1", &op).unwrap();
    let on_h1 = site.instances(&h("h1")).unwrap();
    assert_eq!(
        on_h1.iter().find(|i| i.id == "vm1").map(|i| i.state),
        Some(InstanceState::Migrating)
    );
    secs(&clock, 4.0); // 4096 MiB at 1000 MiB/s: 4.096 s
    assert_eq!(where_is(&site, "vm1"), ("h1".into(), InstanceState::Migrating, 0));
    site.submit("m1", &op).unwrap();
    secs(&clock, 0.1);
    assert_eq!(where_is(&site, "vm1"), ("h2".into(), InstanceState::Running, 1));
    assert_eq!(Compute::poll(&site, "m1").unwrap(), OpStatus::Done);
    site.submit("m1", &op).unwrap();
    assert_eq!(where_is(&site, "vm1").2, 1, "the same ID again: no second move");
    let err = site.submit("m1", &mv("vm2", "h1", "h2", MoveKind::Live)).unwrap_err();
    assert!(matches!(err, DriverError::OperationConflict { .. }), "{err}");
    let listed = site.instances(&h("h2")).unwrap();
    assert_eq!(listed.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["vm1", "vm3"]);
    site.check_invariants().unwrap();
}

#[test]
fn a_cold_move_stops_then_runs_on_the_target() {
    let (clock, site) = site(SiteSpec::small());
    site.submit("c1", &mv("vm3", "h2", "h1", MoveKind::Cold)).unwrap();
    secs(&clock, 19.0);
    assert_eq!(where_is(&site, "vm3"), ("h2".into(), InstanceState::Stopped, 0));
    secs(&clock, 1.0);
    assert_eq!(where_is(&site, "vm3"), ("h1".into(), InstanceState::Running, 1));
    site.check_invariants().unwrap();
}

#[test]
fn moves_are_refused_to_full_off_or_refusing_hosts_and_from_the_wrong_host() {
    let mut spec = SiteSpec::small();
    spec.zones[0].racks[0].hosts[1].cpus = 4.0; // h2: vm3 reserves 2 of 4
    let mut vm4 = spec.instances[0].clone();
    (vm4.id, vm4.cpus, vm4.memory_mib) = ("vm4".into(), 1.0, 1024.0);
    spec.instances.push(vm4);
    let (_clock, site) = site(spec);
    refused(site.submit("a", &mv("vm2", "h1", "h2", MoveKind::Live)), "h2 has 2 CPUs");
    site.submit("b", &mv("vm1", "h1", "h2", MoveKind::Live)).unwrap();
    refused(site.submit("c", &mv("vm4", "h1", "h2", MoveKind::Live)), "moves in counted");
    refused(site.submit("d", &mv("vm4", "h1", "h3", MoveKind::Cold)), "h3 is not on");
    refused(site.submit("e", &mv("vm3", "h1", "h2", MoveKind::Live)), "vm3 is on h2, not on h1");
    refused(site.submit("f", &mv("vm1", "h1", "h2", MoveKind::Live)), "busy with operation b");
    site.set_refuse_moves_to(&h("h1"), true).unwrap();
    refused(site.submit("g", &mv("vm3", "h2", "h1", MoveKind::Live)), "refuses moves");
    let err = site.submit("h", &mv("vm9", "h1", "h2", MoveKind::Live)).unwrap_err();
    assert!(matches!(err, DriverError::UnknownInstance { .. }), "{err}");
    assert!(matches!(Compute::poll(&site, "a"), Err(DriverError::UnknownComputeOp { .. })));
    site.check_invariants().unwrap();
}

#[test]
fn cancelled_failed_and_expired_moves_leave_the_instance_on_its_source() {
    let mut spec = SiteSpec::small();
    spec.timing.live_mib_per_s = 10.0; // vm1: 410 s, vm2: 819 s (past the 600 s deadline)
    let (clock, site) = site(spec);
    site.submit("cancel-me", &mv("vm1", "h1", "h2", MoveKind::Live)).unwrap();
    secs(&clock, 100.0);
    assert!(site.cancel("cancel-me").unwrap());
    assert!(!site.cancel("cancel-me").unwrap(), "already over");
    assert_eq!(Compute::poll(&site, "cancel-me").unwrap(), OpStatus::Failed("cancelled".into()));
    assert_eq!(where_is(&site, "vm1"), ("h1".into(), InstanceState::Running, 0));

    site.fail_next_move("vm1").unwrap();
    site.submit("doomed", &mv("vm1", "h1", "h2", MoveKind::Cold)).unwrap();
    site.submit("slow", &mv("vm2", "h1", "h2", MoveKind::Live)).unwrap();
    secs(&clock, 20.0);
    let status = Compute::poll(&site, "doomed").unwrap();
    assert!(
        matches!(&status, OpStatus::Failed(reason) if reason.contains("fail_next_move")),
        "{status:?}"
    );
    assert_eq!(where_is(&site, "vm1"), ("h1".into(), InstanceState::Running, 0));
    site.submit("fine", &mv("vm1", "h1", "h2", MoveKind::Cold)).unwrap();
    secs(&clock, 20.0);
    assert_eq!(
        where_is(&site, "vm1"),
        ("h2".into(), InstanceState::Running, 1),
        "only the next one fails"
    );

    secs(&clock, 559.0);
    assert_eq!(Compute::poll(&site, "slow").unwrap(), OpStatus::Pending);
    secs(&clock, 1.0);
    let status = Compute::poll(&site, "slow").unwrap();
    assert!(
        matches!(&status, OpStatus::Failed(reason) if reason.contains("deadline")),
        "{status:?}"
    );
    assert_eq!(where_is(&site, "vm2"), ("h1".into(), InstanceState::Running, 0));
    site.check_invariants().unwrap();
}

#[test]
fn an_unreachable_host_fails_every_call_that_involves_it() {
    let (_clock, site) = site(SiteSpec::small());
    site.set_unreachable(&h("h1"), true).unwrap();
    let unreachable =
        |err: DriverError| assert!(matches!(err, DriverError::Unreachable { .. }), "{err}");
    unreachable(site.state(&h("h1")).unwrap_err());
    unreachable(site.temperatures(&h("h1")).unwrap_err());
    unreachable(site.instances(&h("h1")).unwrap_err());
    unreachable(site.submit("m", &mv("vm3", "h2", "h1", MoveKind::Live)).unwrap_err());
    assert!(site.instances(&h("h2")).is_ok());
    site.set_unreachable(&h("h1"), false).unwrap();
    assert_eq!(site.state(&h("h1")).unwrap(), PowerState::On);
    assert!(matches!(site.set_unreachable(&h("h9"), true), Err(SiteError::UnknownHost { .. })));
}

#[test]
fn power_follows_utilization_along_the_curve() {
    let (clock, site) = site(SiteSpec::small());
    let watts = |host: &str| site.power_draw(&h(host)).unwrap().watts.value().unwrap();
    // h1: (2 + 4 CPUs) × 0.5 of 8 = 0.375, between the G5's 105 W (30 %) and 110 W (40 %).
    let g5 = model::PowerCurve::ml110_g5();
    assert!((watts("h1") - g5.at(0.375).0).abs() < 1e-9);
    assert!((watts("h2") - g5.at(0.125).0).abs() < 1e-9);
    site.submit("stop", &ComputeOp::Stop { instance: "vm2".into() }).unwrap();
    secs(&clock, 5.0);
    assert!((watts("h1") - g5.at(0.125).0).abs() < 1e-9);
    assert_eq!(site.instances(&h("h1")).unwrap()[1].cpu_use, Some(0.0), "vm2 stopped");
}

#[test]
fn a_cooling_failure_heats_the_air_and_the_hosts_until_it_is_repaired() {
    let mut spec = SiteSpec::small();
    spec.events.push(EventSpec {
        at_s: 60.0,
        kind: EventKind::CoolingFailure { zone: "z0".into(), units: 3, for_s: Some(1800.0) },
    });
    let (clock, site) = site(spec);
    let cpu_before = site.snapshot().hosts[0].temp_c;
    secs(&clock, 60.0);
    let zone = &site.snapshot().zones[0];
    assert!((zone.air_c - 24.0).abs() < 1e-6 && zone.working_units == 0, "{zone:?}");
    secs(&clock, 600.0);
    // ≈ 207 W into 20 kJ/K with nothing removing it: ≈ +6 K in 600 s.
    let snapshot = site.snapshot();
    assert!(snapshot.zones[0].air_c > 29.0, "{:?}", snapshot.zones[0]);
    assert!(snapshot.hosts[0].temp_c > cpu_before + 2.5, "{:?}", snapshot.hosts[0]);
    let inlet = site.temperatures(&h("h1")).unwrap();
    assert_eq!((inlet[0].name.as_str(), inlet[1].name.as_str()), ("Inlet", "CPU"));
    assert_eq!(inlet[0].celsius.value(), Some(snapshot.zones[0].air_c));
    secs(&clock, 1200.0 + 600.0); // repaired at 1860 s; five response times later
    let snapshot = site.snapshot();
    assert_eq!(snapshot.zones[0].working_units, 3);
    assert!(snapshot.zones[0].air_c < 24.5, "{:?}", snapshot.zones[0]);
    assert!(snapshot.energy_kwh > 0.1, "≈ 207 W for 41 min");
}

#[test]
fn a_state_file_carries_the_site_across_processes() {
    let path = temp_path("carry");
    let clock = Arc::new(ManualClock::new());
    let first = Site::create_file(&path, SiteSpec::small(), clock.clone()).unwrap();
    first.submit("m", &mv("vm2", "h1", "h2", MoveKind::Live)).unwrap();
    let on = first.request(&h("h3"), PowerOp::On).unwrap();
    // Another process opening the file now (the first one killed) sees both pending.
    let peek = Site::open_file(&path, clock.clone()).unwrap();
    assert_eq!(Compute::poll(&peek, "m").unwrap(), OpStatus::Pending);
    assert_eq!(Power::poll(&peek, on).unwrap(), OpStatus::Pending);
    drop((first, peek));

    let later = Arc::new(ManualClock::new());
    later.advance(Duration::from_secs(100));
    let reopened = Site::open_file(&path, later).unwrap();
    assert_eq!(reopened.now_s(), 100.0);
    assert_eq!(Compute::poll(&reopened, "m").unwrap(), OpStatus::Done);
    assert_eq!(where_is(&reopened, "vm2"), ("h2".into(), InstanceState::Running, 1));
    assert_eq!(reopened.state(&h("h3")).unwrap(), PowerState::On);
    assert!(reopened.request(&h("h3"), PowerOp::On).unwrap() > on, "op ids keep counting");
    reopened.submit("m", &mv("vm2", "h1", "h2", MoveKind::Live)).unwrap();
    assert_eq!(where_is(&reopened, "vm2").2, 1, "resubmitted after the restart: no second move");
    reopened.check_invariants().unwrap();
    assert_eq!(reopened.path(), Some(path.clone()));

    let err = Site::create_file(&path, SiteSpec::small(), clock).err().unwrap();
    assert!(matches!(err, SiteError::Exists { .. }), "{err}");
    assert!(Site::open_file(&path, Arc::new(ManualClock::new())).is_ok(), "left untouched");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_truncated_or_garbage_state_file_is_an_error_naming_it() {
    let path = temp_path("corrupt");
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new());
    drop(Site::create_file(&path, SiteSpec::small(), clock.clone()).unwrap());
    let text = std::fs::read(&path).unwrap();
    for bad in [&text[..text.len() / 2], b"garbage".as_slice(), b"".as_slice()] {
        std::fs::write(&path, bad).unwrap();
        let err = Site::open_file(&path, clock.clone()).err().unwrap();
        assert!(matches!(err, SiteError::Corrupt { .. }), "{err}");
        assert!(err.to_string().starts_with(&path.display().to_string()), "{err}");
    }
    std::fs::remove_file(&path).unwrap();
    drop(Site::create_file(&path, SiteSpec::small(), clock.clone()).unwrap());
    let err = Site::open_file(&path, Arc::new(UnixClock)).err().unwrap();
    assert!(matches!(err, SiteError::ClockMismatch { .. }), "made on another clock: {err}");
    std::fs::remove_file(&path).unwrap();
    let err = Site::open_file(&path, clock).err().unwrap();
    assert!(matches!(err, SiteError::Io { action: "read", .. }), "{err}");
}

#[test]
fn spec_errors_name_the_key() {
    let toml = r#"
seed = 3
[[zones]]
id = "z0"
air_heat_capacity_j_per_k = 60000
cooling_units = 3
cooling_unit_w = 660
[[zones.racks]]
id = "r0"
hosts = [{ id = "h1", model = "ml110-g5", cpus = 8, memory_mib = 16384 }]
[[instances]]
id = "vm1"
host = "h1"
cpus = 2
memory_mib = 2048
load = { mean = 0.5, amplitude = 0.1, noise = 0.05 }
[[events]]
at_s = 100
kind.cooling_failure = { zone = "z0", units = 2, for_s = 1800 }
"#;
    let spec = SiteSpec::from_toml(toml).unwrap();
    assert_eq!(spec.zones[0].racks[0].hosts[0].power, SitePower::On);
    assert_eq!(spec.timing.boot_s, 60.0);
    let json = serde_json::to_string(&spec).unwrap();
    assert_eq!(SiteSpec::from_json(&json).unwrap(), spec);

    let err = SiteSpec::from_toml(&toml.replace("cpus = 8", "cpus = \"8\"")).unwrap_err();
    assert!(err.to_string().contains("zones[0].racks[0].hosts[0].cpus"), "{err}");
    let err = SiteSpec::from_toml(&toml.replace("ml110-g5", "ml110-g9")).unwrap_err();
    assert!(err.to_string().contains("model"), "{err}");
    let err = SiteSpec::from_toml(&toml.replace("host = \"h1\"", "host = \"h2\"")).unwrap_err();
    assert_eq!(err.to_string(), "site spec: `instances[vm1].host`: no host \"h2\" in any zone");
    let err = SiteSpec::from_toml(&toml.replace("cpus = 2", "cpus = 9")).unwrap_err();
    assert!(
        err.to_string().starts_with("site spec: `instances[vm1].host`: host h1 is full"),
        "{err}"
    );
    let err = SiteSpec::from_toml(&toml.replace("units = 2,", "units = 2, unit = 1,")).unwrap_err();
    assert!(err.to_string().contains("unexpected keys in table: unit"), "{err}");
    let err = SiteSpec::from_toml(&toml.replace("units = 2", "units = 4")).unwrap_err();
    assert!(err.to_string().contains("events[0].kind.cooling_failure.units"), "{err}");
    let err = SiteSpec::from_toml(&toml.replace("mean = 0.5", "mean = 1.5")).unwrap_err();
    assert!(err.to_string().contains("instances[vm1].load.mean"), "{err}");
    let path = temp_path("spec").with_extension("toml");
    std::fs::write(&path, toml).unwrap();
    assert_eq!(SiteSpec::load(&path).unwrap(), spec);
    std::fs::write(&path, toml.replace("cpus = 2", "cpus = -2")).unwrap();
    let err = SiteSpec::load(&path).unwrap_err();
    assert!(err.to_string().contains("instances[vm1].cpus"), "{err}");
    std::fs::write(&path, toml.replace("seed = 3", "seed = ")).unwrap();
    let err = SiteSpec::load(&path).unwrap_err();
    assert!(err.to_string().starts_with(&format!("{}: line 2", path.display())), "{err}");
    std::fs::remove_file(&path).unwrap();
    let err = SiteSpec::from_json("{\"seed\": 1, \"zones\": [}").unwrap_err();
    assert!(err.to_string().starts_with("JSON: line 1, column"), "{err}");
}

/// The demo's numbers: the controller's thermal guard is tuned and tested against them.
#[test]
fn the_demo_site_is_busy_and_its_cooling_failure_overheats_zone_0() {
    let spec = SiteSpec::demo(48, 4, 7);
    spec.validate().unwrap();
    let (clock, site) = site(spec.clone());
    let snapshot = site.snapshot();
    assert_eq!((snapshot.hosts.len(), snapshot.zones.len(), snapshot.hosts_on), (48, 4, 48));
    assert!((120..=170).contains(&snapshot.instances.len()), "{}", snapshot.instances.len());
    let mean = snapshot.hosts.iter().map(|host| host.utilization).sum::<f64>() / 48.0;
    assert!((0.35..=0.6).contains(&mean), "mean utilization {mean}");
    for host in &snapshot.hosts {
        assert!((0.25..=0.75).contains(&host.utilization), "{host:?}");
    }
    assert!(snapshot.hosts[0].management);

    // The demo runs at 60 site seconds per clock second.
    let site_s = |seconds: f64| secs(&clock, seconds / 60.0);
    site_s(2870.0);
    let before = site.snapshot();
    for zone in &before.zones {
        assert!((zone.air_c - 24.0).abs() < 0.5, "cooling suffices before the failure: {zone:?}");
    }
    site_s(30.0 * 60.0);
    let failed = site.snapshot();
    let z0 = &failed.zones[0];
    assert_eq!(z0.working_units, 1, "{z0:?}");
    assert!(z0.air_c > 32.0, "with nothing powered down zone 0 overheats: {z0:?}");
    assert!(failed.zones[1..].iter().all(|zone| zone.air_c < 25.0), "{:?}", failed.zones);
    site_s(1800.0);
    let repaired = site.snapshot();
    assert!(repaired.zones[0].air_c < 25.0, "{:?}", repaired.zones[0]);
    site.check_invariants().unwrap();
    println!(
        "demo: mean utilization {mean:.3}; zone 0 air {:.2} °C before, {:.2} °C after 30 min \
         with 2 units down (heat {:.0} W, cooling {:.0} W), {:.2} °C 30 min after the repair",
        before.zones[0].air_c, z0.air_c, z0.heat_w, z0.cooling_w, repaired.zones[0].air_c
    );
}
