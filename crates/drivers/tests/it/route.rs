//! The router over a mixed fleet: power of two drivers with colliding operation ids, sensors
//! and compute per host, a host with nothing configured, and a move between two different
//! compute backends refused.

use drivers::route::Routed;
use drivers::simulated::{SimulatedDriver, Transitions};
use drivers::site::{Site, SiteSpec};
use drivers::{
    Compute, ComputeOp, DriverError, HostId, ManualClock, MoveKind, OpStatus, Power, PowerOp,
    PowerState, Sensors,
};
use std::sync::Arc;
use std::time::Duration;

fn host(name: &str) -> HostId {
    HostId::new(name)
}

#[test]
fn power_goes_to_each_hosts_driver_and_operation_ids_never_collide() {
    let clock = Arc::new(ManualClock::new());
    let a = Arc::new(SimulatedDriver::new(clock.clone()));
    let b = Arc::new(SimulatedDriver::new(clock.clone()));
    a.add_host(host("a1"), PowerState::Off, Transitions::uniform(Duration::from_secs(5)));
    b.add_host(host("b1"), PowerState::On, Transitions::uniform(Duration::from_secs(5)));
    let mut routed = Routed::new();
    routed.set_power(host("a1"), "ipmi", a.clone());
    routed.set_power(host("b1"), "redfish", b.clone());
    // Both drivers number their first operation 1; the router does not.
    let on = routed.request(&host("a1"), PowerOp::On).unwrap();
    let off = routed.request(&host("b1"), PowerOp::Off).unwrap();
    assert_ne!(on, off);
    clock.advance(Duration::from_secs(5));
    assert_eq!(Power::poll(&routed, on).unwrap(), OpStatus::Done);
    assert_eq!(Power::poll(&routed, off).unwrap(), OpStatus::Done);
    assert_eq!(routed.state(&host("a1")).unwrap(), PowerState::On);
    assert_eq!(routed.state(&host("b1")).unwrap(), PowerState::Off);
    routed.forget(on);
    assert!(matches!(Power::poll(&routed, on), Err(DriverError::UnknownOperation { .. })));
    assert_eq!(routed.kinds(&host("a1")), [Some("ipmi"), None, None]);
    // Nothing configured: a clear error, never a made-up reading.
    let err = routed.state(&host("zz")).unwrap_err();
    assert!(err.to_string().contains("no power driver is configured"), "{err}");
    assert!(routed.temperatures(&host("a1")).unwrap().is_empty());
    let err = routed.power_draw(&host("a1")).unwrap_err();
    assert!(err.to_string().contains("no sensors driver is configured"), "{err}");
}

#[test]
fn compute_follows_the_instance_and_refuses_moves_between_backends() {
    let clock = Arc::new(ManualClock::new());
    let first = Arc::new(Site::new(SiteSpec::small(), clock.clone()).unwrap());
    let second = Arc::new(Site::new(SiteSpec::small(), clock.clone()).unwrap());
    let mut routed = Routed::new();
    // h1 and h2 from the first site; "h3" is the second site's h3, another backend.
    routed.set_compute(host("h1"), "site", first.clone());
    routed.set_compute(host("h2"), "site", first.clone());
    routed.set_compute(host("h3"), "other", second.clone());
    routed.set_sensors(host("h1"), "site", first.clone());
    assert_eq!(routed.temperatures(&host("h1")).unwrap().len(), 2);
    let on_h2: Vec<String> =
        routed.instances(&host("h2")).unwrap().into_iter().map(|i| i.id).collect();
    assert_eq!(on_h2, ["vm3"]);
    // Stop finds vm3 on h2 by the listing; the op id then routes polls.
    routed.submit("s1", &ComputeOp::Stop { instance: "vm3".into() }).unwrap();
    clock.advance(Duration::from_secs(10));
    assert_eq!(Compute::poll(&routed, "s1").unwrap(), OpStatus::Done);
    // Within one backend a move goes through.
    let within = ComputeOp::Move {
        instance: "vm1".into(),
        from: host("h1"),
        to: host("h2"),
        kind: MoveKind::Live,
    };
    routed.submit("m1", &within).unwrap();
    // Between two backends it is refused, naming both.
    let across = ComputeOp::Move {
        instance: "vm2".into(),
        from: host("h1"),
        to: host("h3"),
        kind: MoveKind::Cold,
    };
    let err = routed.submit("m2", &across).unwrap_err();
    assert!(err.to_string().contains("managed by different compute drivers"), "{err}");
    assert!(matches!(Compute::poll(&routed, "m2"), Err(DriverError::UnknownComputeOp { .. })));
    let caps = routed.capabilities();
    assert!(caps.live && caps.cold);
    assert!(caps.note.contains("other:") && caps.note.contains("site:"), "{}", caps.note);
    // An unknown instance is named.
    let err = routed.submit("s9", &ComputeOp::Start { instance: "nope".into() }).unwrap_err();
    assert!(matches!(err, DriverError::UnknownInstance { .. }), "{err}");
}
