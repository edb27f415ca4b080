//! Detection: hysteresis between T_detect and T_clear, the cooling-failure trigger (edge, not
//! level), the missing-sensor ladder, host events. Reference: seed 002, "a second threshold
//! temperature can be used to determine that the thermal event has passed" (100/75).

use crate::harness::{host, zone};
use thermal::detect::{Change, Detector, Trigger, ZoneReading};
use thermal::{Observation, Policy, PowerState};

fn obs() -> Observation {
    Observation {
        now_s: 0.0,
        zones: vec![zone("z", vec![], 25.0, 1000.0)],
        hosts: vec![host("h0", 0), host("h1", 0)],
        instances: vec![],
    }
}

fn started(changes: &[Change]) -> Option<Vec<Trigger>> {
    changes.iter().find_map(|c| match c {
        Change::Started { triggers, .. } => Some(triggers.clone()),
        _ => None,
    })
}

fn cleared(changes: &[Change]) -> bool {
    changes.iter().any(|c| matches!(c, Change::Cleared { .. }))
}

#[test]
fn hysteresis_between_detect_and_clear() {
    // Defaults: detect 32, clear 27.
    let policy = Policy::default();
    let mut d = Detector::new(1, 2);
    let mut o = obs();
    let mut run = |air: f64, d: &mut Detector| {
        o.zones[0].air_c = Some(air);
        d.observe(&o, &policy, &|_| true)
    };
    assert!(run(31.9, &mut d).is_empty());
    assert!(!d.zone_active(0));
    let c = run(32.0, &mut d);
    assert!(
        matches!(started(&c).as_deref(), Some([Trigger::Temperature { detect_c, .. }]) if *detect_c == 32.0)
    );
    assert!(d.zone_active(0));
    // Between the thresholds the event holds.
    for air in [31.0, 29.0, 27.0] {
        assert!(!cleared(&run(air, &mut d)), "cleared at {air}");
        assert!(d.zone_active(0));
    }
    assert!(cleared(&run(26.9, &mut d)));
    // Back between the thresholds from below: no new event.
    assert!(run(31.0, &mut d).is_empty());
    assert!(started(&run(33.0, &mut d)).is_some());
}

#[test]
fn clearing_waits_for_the_guard_to_be_quiet() {
    let policy = Policy::default();
    let mut d = Detector::new(1, 2);
    let mut o = obs();
    o.zones[0].air_c = Some(33.0);
    d.observe(&o, &policy, &|_| true);
    o.zones[0].air_c = Some(20.0);
    assert!(!cleared(&d.observe(&o, &policy, &|_| false)));
    assert!(cleared(&d.observe(&o, &policy, &|_| true)));
}

#[test]
fn per_zone_thresholds_apply() {
    let policy: Policy = toml::from_str("[zones.z]\ndetect_c = 30.0\npowerup_c = 29.5\n").unwrap();
    let mut d = Detector::new(1, 2);
    let mut o = obs();
    o.zones[0].air_c = Some(30.5);
    assert!(started(&d.observe(&o, &policy, &|_| true)).is_some());
}

#[test]
fn cooling_failure_triggers_on_its_rising_edge() {
    let policy = Policy::default();
    let mut d = Detector::new(1, 2);
    let mut o = obs();
    o.zones[0].cooling_failed = true;
    o.zones[0].cooling_available_w = 400.0;
    let c = d.observe(&o, &policy, &|_| true);
    assert!(matches!(
        started(&c).as_deref(),
        Some([Trigger::CoolingFailed { available_w, nominal_w }]) if *available_w == 400.0 && *nominal_w == 1000.0
    ));
    // The air is under T_clear: once the guard is quiet the event passes ...
    assert!(cleared(&d.observe(&o, &policy, &|_| true)));
    // ... and the same standing failure does not restart it.
    assert!(d.observe(&o, &policy, &|_| true).is_empty());
    assert!(!d.zone_active(0));
    // A new report (the signal off, then on again) does.
    o.zones[0].cooling_failed = false;
    d.observe(&o, &policy, &|_| true);
    o.zones[0].cooling_failed = true;
    assert!(started(&d.observe(&o, &policy, &|_| true)).is_some());
}

#[test]
fn missing_air_sensor_falls_back_to_the_hottest_host() {
    let policy = Policy::default(); // host_air_offset_c 15
    let mut d = Detector::new(1, 2);
    let mut o = obs();
    o.zones[0].air_c = None;
    o.hosts[0].temp_c = Some(44.0);
    o.hosts[1].temp_c = Some(47.5); // estimated air 32.5 ≥ 32
    let c = d.observe(&o, &policy, &|_| true);
    assert!(c.iter().any(|c| matches!(c, Change::ReadingChanged { .. })));
    match d.reading(0) {
        ZoneReading::HottestHost { host, estimated_air_c, .. } => {
            assert_eq!(*host, 1);
            assert_eq!(*estimated_air_c, 32.5);
        }
        other => panic!("expected the hottest-host fallback, got {other:?}"),
    }
    assert!(
        matches!(started(&c).as_deref(), Some([Trigger::Temperature { temp_c, .. }]) if *temp_c == 32.5)
    );
    // An off host's sensor does not count.
    o.hosts[1].power = PowerState::Off;
    d.observe(&o, &policy, &|_| true);
    assert!(matches!(d.reading(0), ZoneReading::HottestHost { host: 0, .. }));
}

#[test]
fn no_temperature_at_all_uses_the_cooling_signal_alone() {
    let policy = Policy::default();
    let mut d = Detector::new(1, 2);
    let mut o = obs();
    o.zones[0].air_c = None;
    o.hosts[0].temp_c = None;
    o.hosts[1].temp_c = None;
    assert!(d.observe(&o, &policy, &|_| true).iter().all(|c| !matches!(c, Change::Started { .. })));
    assert_eq!(d.reading(0), &ZoneReading::Blind);
    o.zones[0].cooling_failed = true;
    let c = d.observe(&o, &policy, &|_| true);
    assert!(started(&c).is_some());
    assert_eq!(d.reading(0), &ZoneReading::CoolingSignalOnly);
    // Without a temperature the event lasts as long as the failure.
    assert!(!cleared(&d.observe(&o, &policy, &|_| true)));
    o.zones[0].cooling_failed = false;
    assert!(cleared(&d.observe(&o, &policy, &|_| true)));
}

#[test]
fn host_over_its_hardware_threshold_is_an_event_until_it_cools_or_goes_off() {
    // Host limit 80: detect at 75, clear below 65.
    let policy = Policy::default();
    let mut d = Detector::new(1, 2);
    let mut o = obs();
    o.hosts[1].temp_c = Some(76.0);
    let c = d.observe(&o, &policy, &|_| true);
    assert!(c.contains(&Change::HostStarted { host: 1, temp_c: 76.0, detect_c: 75.0 }));
    assert!(matches!(started(&c).as_deref(), Some([Trigger::Host { host: 1, .. }])));
    // The zone air is cool, but a host event keeps the zone's event.
    o.hosts[1].temp_c = Some(70.0);
    assert!(!cleared(&d.observe(&o, &policy, &|_| true)));
    assert!(d.host_active(1));
    o.hosts[1].power = PowerState::Off;
    let c = d.observe(&o, &policy, &|_| true);
    assert!(c.contains(&Change::HostCleared { host: 1 }));
    assert!(cleared(&c));
}
