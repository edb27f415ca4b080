//! Ranking terms: each parameter moves the cost the right way, redundancy elsewhere lowers it,
//! and management hosts go last whatever their cost. Reference: seed 002, the ranking service's
//! parameters and "only shut down after other less important options are exhausted".

use crate::harness::{host, instance, zone};
use std::collections::BTreeSet;
use thermal::policy::{Kinds, Weights};
use thermal::rank::{self, HostCost};
use thermal::{InstanceView, Observation};

/// Host 0 carries `base`, host 1 carries `variant`; host 2 carries `elsewhere` (peers).
fn costs(
    base: Vec<InstanceView>,
    variant: Vec<InstanceView>,
    elsewhere: Vec<InstanceView>,
) -> (HostCost, HostCost) {
    let mut instances = Vec::new();
    for (h, list) in [(0, base), (1, variant), (2, elsewhere)] {
        for mut i in list {
            i.host = Some(h);
            instances.push(i);
        }
    }
    let obs = Observation {
        now_s: 0.0,
        zones: vec![zone("z", vec![], 25.0, 1000.0), zone("y", vec![], 22.0, 1000.0)],
        hosts: vec![host("a", 0), host("b", 0), host("c", 1)],
        instances,
    };
    let mut kinds = Kinds::default();
    kinds.weights.insert("db".into(), 3.0);
    kinds.weights.insert("batch".into(), 0.2);
    let leaving = BTreeSet::new();
    let facts: Vec<_> = [0, 1]
        .iter()
        .map(|&h| rank::host_facts(&obs, h, &rank::instances_on(&obs, h), 0.3, &kinds, &leaving))
        .collect();
    let mut c = rank::rank(&facts, &Weights::ranking_default());
    let b = c.pop().unwrap();
    (c.pop().unwrap(), b)
}

fn inst() -> InstanceView {
    instance("i", 0)
}

#[track_caller]
fn check_dearer(what: &str, base: Vec<InstanceView>, variant: Vec<InstanceView>) {
    let (a, b) = costs(base, variant, vec![]);
    assert!(b.total > a.total, "{what}: {} should cost more than {}", b.total, a.total);
    assert!(b.term(what).unwrap().weighted > a.term(what).unwrap().weighted, "{what}: term");
}

#[test]
fn every_term_raises_the_cost_in_its_direction() {
    check_dearer("instances", vec![inst()], vec![inst(), inst()]);
    check_dearer("uptime", vec![inst()], vec![InstanceView { uptime_s: 86_400.0, ..inst() }]);
    check_dearer(
        "kind",
        vec![InstanceView { kind: "batch".into(), ..inst() }],
        vec![InstanceView { kind: "db".into(), ..inst() }],
    );
    check_dearer(
        "customer_rank",
        vec![InstanceView { customer_rank: 5, ..inst() }],
        vec![InstanceView { customer_rank: 0, ..inst() }],
    );
    check_dearer(
        "customer_importance",
        vec![inst()],
        vec![InstanceView { customer_importance: 3.0, ..inst() }],
    );
}

#[test]
fn processor_use_raises_the_cost() {
    let obs = Observation {
        now_s: 0.0,
        zones: vec![zone("z", vec![], 25.0, 1000.0)],
        hosts: vec![host("a", 0), host("b", 0)],
        instances: vec![],
    };
    let facts: Vec<_> = [(0, 0.2), (1, 0.9)]
        .iter()
        .map(|&(h, cpu)| rank::host_facts(&obs, h, &[], cpu, &Kinds::default(), &BTreeSet::new()))
        .collect();
    let c = rank::rank(&facts, &Weights::ranking_default());
    assert!(c[1].total > c[0].total);
    let t = c[1].term("cpu").unwrap();
    assert_eq!((t.raw, t.normalized, t.weight, t.weighted), (0.9, 1.0, 1.0, 1.0));
}

#[test]
fn a_running_peer_elsewhere_lowers_the_cost() {
    let grouped = InstanceView { group: Some("g".into()), ..inst() };
    // Same instance on both hosts, but only host 1's has a peer running on host 2.
    let (a, b) = costs(
        vec![inst()],
        vec![grouped.clone()],
        vec![InstanceView { id: "peer".into(), ..grouped }],
    );
    assert!(b.total < a.total, "{} should be below {}", b.total, a.total);
    assert_eq!(b.term("unprotected").unwrap().raw, 0.0);
    assert_eq!(a.term("unprotected").unwrap().raw, 1.0);
}

#[test]
fn terms_show_raw_normalized_weight_and_weighted() {
    let (a, b) = costs(vec![inst()], vec![inst(), inst(), inst(), inst()], vec![]);
    let ta = a.term("instances").unwrap();
    let tb = b.term("instances").unwrap();
    assert_eq!((ta.raw, ta.normalized), (1.0, 0.25));
    assert_eq!((tb.raw, tb.normalized, tb.weighted), (4.0, 1.0, 1.0));
    let sum: f64 = b.terms.iter().map(|t| t.weighted).sum();
    assert!((sum - b.total).abs() < 1e-12);
}

#[test]
fn management_goes_last_for_power_down_and_first_for_power_up() {
    let (mut a, b) = costs(vec![inst(), inst(), inst()], vec![], vec![]);
    // Host 1 (b) is empty and cheap; make it management: it still goes after host 0.
    let mut b = b;
    b.management = true;
    assert!(b.total < a.total);
    let mut order = vec![b.clone(), a.clone()];
    rank::powerdown_order(&mut order, |c| (c.management, c.total, c.host));
    assert_eq!(order.iter().map(|c| c.host).collect::<Vec<_>>(), vec![0, 1]);
    a.management = false;
    let mut up = vec![a, b];
    rank::powerup_order(&mut up);
    assert_eq!(up[0].host, 1);
}
