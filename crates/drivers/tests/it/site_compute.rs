//! The simulated site through the Compute conformance suite, as the reference: on a manual
//! clock, with `set_unreachable` as the backend that disappears mid-operation.

use std::sync::Arc;
use std::time::Duration;

use drivers::{HostId, ManualClock, Site, SiteSpec, Wait};

use crate::compute_conformance::{check_compute, ComputeSubject, MoveCase};

#[test]
fn site_conforms_as_a_compute_driver() {
    // SiteSpec::small: h1 runs vm1 (2 CPUs) and vm2 (4), h2 runs vm3 (2 CPUs, 2 GiB), h3 is off.
    let clock = Arc::new(ManualClock::new());
    let site = Site::new(SiteSpec::small(), clock.clone()).expect("a valid spec");
    let h1 = HostId::new("h1");
    let disappear = |gone: bool| site.set_unreachable(&h1, gone).expect("h1 is in the site");
    check_compute(&ComputeSubject {
        compute: &site,
        clock: clock.as_ref(),
        host: h1.clone(),
        instance: "vm1".into(),
        // h1 has 2 of its 8 CPUs free: room for vm3, live there and cold back.
        moves: Some(MoveCase { instance: "vm3".into(), from: HostId::new("h2"), to: h1.clone() }),
        disappear: Some(&disappear),
        // The site's operation deadline is 600 s.
        wait: Wait { timeout: Duration::from_secs(700), interval: Duration::from_secs(1) },
    });
    site.check_invariants().unwrap();
}
