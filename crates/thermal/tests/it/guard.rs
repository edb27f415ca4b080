//! The sequencer end to end over a small world: the seed strategy through a cooling failure
//! (shed the least-cost set, migrate before powering down, stop what cannot move, settle, clear,
//! hold power-up while the cooling cannot take it, power up in order, restart), a second event
//! during recovery, the baselines, timeouts, host events, the power-change cap, and bad
//! observations. Reference: seed 002, process blocks "power down in priority order", "event has
//! passed", "power up", and the feedback loop.

use crate::harness::{host, instance, zone, World};
use std::collections::{BTreeMap, BTreeSet};
use thermal::choose::{self, Item};
use thermal::strategy::Strategy;
use thermal::{
    Action, Guard, Observation, Policy, PowerState, Reason, ShedStage, StepError, ZonePhase,
};

/// Zone 0 (`room1/z1`, the event zone) holds h0..h4 (h3 is the management host, h4 carries an
/// instance too big for any other host); zone 1 (`room1/z2`) neighbours it with h5; zone 2
/// (`room2/z1`) is far away with h6 (room for two instances) and h7.
pub(crate) fn fleet() -> World {
    let zones = vec![
        zone("room1/z1", vec![1], 22.7, 1000.0),
        zone("room1/z2", vec![0], 22.0, 1000.0),
        zone("room2/z1", vec![], 21.0, 1000.0),
    ];
    let mut hosts: Vec<_> = ["h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7"]
        .iter()
        .enumerate()
        .map(|(idx, id)| host(id, [0, 0, 0, 0, 0, 1, 2, 2][idx]))
        .collect();
    hosts[3].management = true;
    hosts[6].cpu_mips = 2500.0;
    let mut instances = vec![
        instance("web-a", 0),
        instance("web-b", 0),
        instance("db", 1),
        instance("mgmt-1", 3),
        instance("mgmt-2", 3),
        instance("mgmt-3", 3),
        instance("big", 4),
    ];
    instances[2].kind = "db".into();
    instances[2].customer_importance = 3.0;
    instances[6].memory_mb = 20_000.0;
    World::new(zones, hosts, instances)
}

pub(crate) fn policy() -> Policy {
    let mut p = Policy::default();
    p.kinds.weights.insert("db".into(), 3.0);
    p
}

fn power_downs(actions: &[(f64, Action)]) -> Vec<(f64, usize)> {
    actions
        .iter()
        .filter_map(|(t, a)| match a {
            Action::PowerDown { host } => Some((*t, *host)),
            _ => None,
        })
        .collect()
}

fn run_until(
    world: &mut World,
    guard: &mut Guard,
    max_rounds: usize,
    mut done: impl FnMut(&World, &Guard) -> bool,
) {
    for _ in 0..max_rounds {
        if done(world, guard) {
            return;
        }
        world.round(guard, 10.0);
    }
    panic!("condition not reached within {max_rounds} rounds at t = {} s", world.obs.now_s);
}

/// Checks that hold at every round: the power-change cap, capacity on every host, no action
/// issued twice while under way.
fn check_invariants(world: &World, cap: usize) {
    let changing = world
        .obs
        .hosts
        .iter()
        .filter(|h| matches!(h.power, PowerState::PoweringOn | PowerState::PoweringOff))
        .count();
    assert!(changing <= cap, "{changing} power changes under way at t = {}", world.obs.now_s);
    for (idx, h) in world.obs.hosts.iter().enumerate() {
        let cpu: f64 =
            world.obs.instances.iter().filter(|i| i.host == Some(idx)).map(|i| i.cpu_mips).sum();
        assert!(cpu <= h.cpu_mips, "host {} over capacity", h.id);
    }
}

#[test]
fn seed_sheds_the_least_cost_set_and_recovers_after_a_cooling_failure() {
    for cap in [1, 2] {
        let mut world = fleet();
        world.thermal_model = true;
        let policy = Policy { max_parallel_power_ops: cap, ..policy() };
        let mut guard = Guard::new(policy, Strategy::Seed).unwrap();
        let mut phases = vec![ZonePhase::Normal];
        let mut migrate_targets: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for round in 0..400 {
            let t = world.obs.now_s;
            if t == 100.0 {
                world.obs.zones[0].cooling_failed = true;
                world.obs.zones[0].cooling_available_w = 250.0;
            }
            if t == 2000.0 {
                world.obs.zones[0].cooling_failed = false;
                world.obs.zones[0].cooling_available_w = 1000.0;
            }
            let actions = world.round(&mut guard, 10.0);
            for a in &actions {
                if let Action::Migrate { instance, to } = a {
                    migrate_targets.entry(*instance).or_default().push(*to);
                }
            }
            check_invariants(&world, cap);
            let phase = guard.phase(0).unwrap();
            if *phases.last().unwrap() != phase {
                phases.push(phase);
            }
            if round > 0 && t < 100.0 {
                assert!(actions.is_empty(), "nothing to do before the failure");
            }
        }
        assert_eq!(
            phases,
            vec![ZonePhase::Normal, ZonePhase::Shedding, ZonePhase::Recovering, ZonePhase::Normal],
            "cap {cap}"
        );
        let audit = guard.audit();
        // The set: least cost over the candidates, covering the projection, no management host.
        let set = audit
            .iter()
            .find_map(|r| match &r.reason {
                Reason::SetChosen { projection, choice, candidates, order } => {
                    Some((projection.clone(), choice.clone(), candidates.clone(), order.clone()))
                }
                _ => None,
            })
            .expect("a set was chosen");
        let (projection, choice, candidates, order) = set;
        assert!(projection.required_w > 0.0);
        assert!(choice.met && choice.heat_w >= projection.required_w);
        assert!(!order.contains(&"h3".to_string()), "management host chosen: {order:?}");
        assert!(!candidates.contains(&"h3".to_string()) || !order.contains(&"h3".to_string()));
        // Power-downs: in the chosen order, each with its cost terms; h3 never.
        let downs: Vec<String> = audit
            .iter()
            .filter_map(|r| match &r.reason {
                Reason::PowerDown { cost, .. } => {
                    assert_eq!(cost.terms.len(), 7);
                    assert!(r.action.is_some());
                    Some(r.host.clone().unwrap())
                }
                _ => None,
            })
            .collect();
        assert_eq!(downs, order, "cap {cap}");
        assert!(power_downs(&world.applied).iter().all(|&(_, h)| h != 3));
        // Migrations: each instance once, to the far zone, h6 taking two at most.
        for (instance, targets) in &migrate_targets {
            assert_eq!(targets.len(), 1, "instance {instance} migrated {targets:?}");
            assert_eq!(world.obs.hosts[targets[0]].zone, 2, "instance {instance} into a near zone");
        }
        assert!(migrate_targets.values().filter(|t| t[0] == 6).count() <= 2);
        // The big instance could not move: stopped with the reason, restarted on h4 at the end.
        if order.contains(&"h4".to_string()) {
            assert!(audit.iter().any(|r| r.instance.as_deref() == Some("big")
                && matches!(r.reason, Reason::StopNoTarget { .. })));
            assert!(world.applied.iter().any(|(_, a)| *a == Action::Start { instance: 6, on: 4 }));
            assert_eq!(world.obs.instances[6].host, Some(4));
        }
        // Power-up waited for the cooling, then went one host per step with settle times between.
        let held =
            audit.iter().find(|r| matches!(r.reason, Reason::PowerUpHeld { .. })).expect("held");
        assert!(held.time_s < 2000.0);
        let ups: Vec<f64> = world
            .applied
            .iter()
            .filter(|(_, a)| matches!(a, Action::PowerUp { .. }))
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(ups.len(), order.len());
        assert!(ups[0] >= 2000.0);
        for pair in ups.windows(2) {
            assert!(pair[1] - pair[0] >= 120.0 + 40.0, "power-ups too close: {pair:?}");
        }
        assert!(world.powered_off().is_empty());
        assert!(guard.powered_down(0).is_empty());
        assert!(world.obs.instances.iter().all(|i| i.host.is_some()));
        serde_json::to_string(audit).expect("the audit serializes");
    }
}

#[test]
fn the_chosen_set_is_the_brute_force_optimum() {
    let mut world = fleet();
    world.obs.zones[0].cooling_available_w = 500.0;
    world.obs.zones[0].air_c = Some(33.0);
    let mut guard = Guard::new(policy(), Strategy::Seed).unwrap();
    guard.step(&world.obs).unwrap();
    let (projection, choice, candidates) = guard
        .audit()
        .iter()
        .find_map(|r| match &r.reason {
            Reason::SetChosen { projection, choice, candidates, .. } => {
                Some((projection.clone(), choice.clone(), candidates.clone()))
            }
            _ => None,
        })
        .unwrap();
    // Rebuild the items from the candidates' own costs as the guard would have ranked them.
    let obs = &world.obs;
    let idx: Vec<usize> =
        candidates.iter().map(|id| obs.hosts.iter().position(|h| &h.id == id).unwrap()).collect();
    let leaving = BTreeSet::new();
    let facts: Vec<_> = idx
        .iter()
        .map(|&h| {
            thermal::rank::host_facts(
                obs,
                h,
                &thermal::rank::instances_on(obs, h),
                obs.hosts[h].cpu_use,
                &guard.policy().kinds,
                &leaving,
            )
        })
        .collect();
    let costs = thermal::rank::rank(&facts, &guard.policy().ranking);
    let items: Vec<Item> = idx
        .iter()
        .zip(&costs)
        .map(|(&h, c)| Item {
            cost: c.total,
            heat_w: obs.hosts[h].power_w * if obs.hosts[h].zone == 0 { 1.0 } else { 0.25 },
            management: c.management,
        })
        .collect();
    let plain: Vec<Item> = items.iter().copied().filter(|i| !i.management).collect();
    let (_, best) = choose::brute_force(&plain, projection.required_w).unwrap();
    assert!((choice.cost - best).abs() < 1e-9, "{} vs brute force {best}", choice.cost);
}

#[test]
fn a_second_event_during_recovery_resumes_shedding_with_the_list_intact() {
    let mut world = fleet();
    // A partial cooling loss nobody signals: the air alone tells.
    world.obs.zones[0].cooling_available_w = 600.0;
    world.obs.zones[0].air_c = Some(33.0);
    let mut guard = Guard::new(policy(), Strategy::Seed).unwrap();
    run_until(&mut world, &mut guard, 200, |_, g| {
        let list = g.powered_down(0);
        !list.is_empty() && list.iter().all(|s| s.stage == ShedStage::Off)
    });
    assert_eq!(guard.phase(0), Some(ZonePhase::Shedding));
    let first: Vec<String> = guard.powered_down(0).into_iter().map(|s| s.host_id).collect();

    // The air falls under T_clear: after the settle time the event passes.
    world.obs.zones[0].air_c = Some(26.0);
    run_until(&mut world, &mut guard, 100, |_, g| g.phase(0) == Some(ZonePhase::Recovering));
    let listed: Vec<String> = guard.powered_down(0).into_iter().map(|s| s.host_id).collect();
    assert_eq!(listed, first);
    // Let the cooling take the hosts back, and wait for the first power-up.
    world.obs.zones[0].cooling_available_w = 1000.0;
    run_until(&mut world, &mut guard, 100, |w, _| {
        w.applied.iter().any(|(_, a)| matches!(a, Action::PowerUp { .. }))
    });
    let up = guard.powered_down(0).into_iter().find(|s| s.stage == ShedStage::PoweringUp).unwrap();

    // Second event: back to shedding, nothing forgotten.
    world.obs.zones[0].air_c = Some(34.0);
    world.round(&mut guard, 10.0);
    assert_eq!(guard.phase(0), Some(ZonePhase::Shedding));
    let again = guard.audit().iter().rev().find_map(|r| match &r.reason {
        Reason::EventStarted { still_down, .. } => Some(still_down.clone()),
        _ => None,
    });
    assert_eq!(again.as_ref(), Some(&first), "the second event starts with the whole list");
    assert!(guard.audit().iter().any(|r| r.text.contains("during recovery")));
    let during: Vec<String> = guard.powered_down(0).into_iter().map(|s| s.host_id).collect();
    for id in &first {
        assert!(during.contains(id), "{id} lost from the list: {during:?}");
    }
    // The host that was powering up completes, but its stopped instances wait while shedding.
    run_until(&mut world, &mut guard, 30, |w, _| w.obs.hosts[up.host].power == PowerState::On);
    for _ in 0..5 {
        let actions = world.round(&mut guard, 10.0);
        assert!(!actions
            .iter()
            .any(|a| matches!(a, Action::Start { .. } | Action::PowerUp { .. })));
    }

    // The second event passes too; everything comes back and the zone is normal.
    world.obs.zones[0].air_c = Some(25.0);
    run_until(&mut world, &mut guard, 400, |_, g| g.phase(0) == Some(ZonePhase::Normal));
    assert!(world.powered_off().is_empty());
    assert!(world.obs.instances.iter().all(|i| i.host.is_some()));
    let cleared =
        guard.audit().iter().filter(|r| matches!(r.reason, Reason::EventCleared { .. })).count();
    assert_eq!(cleared, 2);
}

#[test]
fn hottest_first_sheds_one_host_per_step_and_management_last() {
    let mut world = fleet();
    world.obs.zones[0].air_c = Some(33.0);
    for (h, t) in [(0, 50.0), (1, 70.0), (2, 40.0), (3, 74.0), (4, 60.0)] {
        world.obs.hosts[h].temp_c = Some(t);
    }
    let policy = Policy { max_parallel_power_ops: 4, ..policy() };
    let mut guard = Guard::new(policy, Strategy::HottestFirst).unwrap();
    run_until(&mut world, &mut guard, 400, |_, g| {
        g.audit().iter().any(|r| matches!(r.reason, Reason::NothingToShed))
    });
    let downs = power_downs(&world.applied);
    assert_eq!(downs.iter().map(|d| d.1).collect::<Vec<_>>(), vec![1, 4, 0, 2, 3]);
    for pair in downs.windows(2) {
        assert!(pair[1].0 - pair[0].0 >= 120.0, "no settle time between {pair:?}");
    }
    assert!(guard.audit().iter().any(
        |r| matches!(&r.reason, Reason::Picked { strategy, .. } if strategy == "hottest-first")
    ));
}

#[test]
fn random_is_deterministic_for_a_seed() {
    let run = |strategy: Strategy| {
        let mut world = fleet();
        world.obs.zones[0].air_c = Some(33.0);
        let mut guard = Guard::new(policy(), strategy).unwrap();
        for _ in 0..150 {
            world.round(&mut guard, 10.0);
        }
        power_downs(&world.applied).into_iter().map(|d| d.1).collect::<Vec<_>>()
    };
    let a = run("random:7".parse().unwrap());
    assert_eq!(a, run("random:7".parse().unwrap()));
    assert!(a.len() >= 2);
    assert!(a.iter().all(|&h| world_zone(h) == 0));
    // Management last here too.
    if let Some(pos) = a.iter().position(|&h| h == 3) {
        assert_eq!(pos, 4);
    }
}

fn world_zone(host: usize) -> usize {
    fleet().obs.hosts[host].zone
}

#[test]
fn none_detects_and_records_but_never_acts() {
    let mut world = fleet();
    world.obs.zones[0].air_c = Some(33.0);
    world.obs.zones[0].cooling_failed = true;
    let mut guard = Guard::new(policy(), Strategy::None).unwrap();
    for _ in 0..20 {
        assert!(world.round(&mut guard, 10.0).is_empty());
    }
    assert_eq!(guard.phase(0), Some(ZonePhase::Shedding));
    world.obs.zones[0].air_c = Some(26.0);
    world.round(&mut guard, 10.0);
    assert_eq!(guard.phase(0), Some(ZonePhase::Normal));
    let kinds: Vec<&str> = guard
        .audit()
        .iter()
        .filter_map(|r| match r.reason {
            Reason::EventStarted { .. } => Some("started"),
            Reason::EventCleared { .. } => Some("cleared"),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, vec!["started", "cleared"]);
    assert!(guard.audit().iter().all(|r| r.action.is_none()));
}

#[test]
fn nothing_is_issued_twice_while_under_way() {
    let mut world = fleet();
    world.obs.zones[0].cooling_available_w = 500.0;
    world.obs.zones[0].air_c = Some(33.0);
    let mut guard = Guard::new(policy(), Strategy::Seed).unwrap();
    let first = guard.step(&world.obs).unwrap();
    assert!(first.iter().any(|a| matches!(a, Action::Migrate { .. })));
    // The caller has not applied anything yet and looks again: nothing new.
    world.obs.now_s = 10.0;
    assert_eq!(guard.step(&world.obs).unwrap(), vec![]);
    world.apply(&first);
    world.advance(10.0);
    let later = guard.step(&world.obs).unwrap();
    assert!(!later.iter().any(|a| first.contains(a)), "re-issued: {later:?}");
}

#[test]
fn migrations_that_never_start_are_stopped_at_the_timeout() {
    let mut world = fleet();
    world.ignore_migrations = true;
    world.obs.zones[0].cooling_available_w = 500.0;
    world.obs.zones[0].air_c = Some(33.0);
    let policy = Policy { migration_timeout_s: 100.0, ..policy() };
    let mut guard = Guard::new(policy, Strategy::Seed).unwrap();
    run_until(&mut world, &mut guard, 100, |_, g| {
        let list = g.powered_down(0);
        !list.is_empty() && list.iter().all(|s| s.stage == ShedStage::Off)
    });
    let stops: Vec<&thermal::AuditRecord> =
        guard.audit().iter().filter(|r| matches!(r.reason, Reason::StopTimeout { .. })).collect();
    assert!(!stops.is_empty());
    // Every migration was asked for at once, never started, and the timeout stopped it.
    assert!(stops.iter().all(|r| r.time_s >= 100.0 && r.time_s < 120.0));
    for stop in stops {
        let host = world.obs.hosts.iter().position(|h| Some(&h.id) == stop.host.as_ref()).unwrap();
        let (t, _) = power_downs(&world.applied).into_iter().find(|d| d.1 == host).unwrap();
        assert!(t >= stop.time_s, "host {host} powered down before its instances were stopped");
    }
}

#[test]
fn a_host_over_its_hardware_limit_is_shed_even_in_a_cool_zone() {
    let mut world = fleet();
    world.obs.hosts[1].temp_c = Some(77.0); // limit 80, detect at 75
    let mut guard = Guard::new(policy(), Strategy::Seed).unwrap();
    let actions = world.round(&mut guard, 10.0);
    assert_eq!(guard.phase(0), Some(ZonePhase::Shedding));
    assert!(actions.contains(&Action::Migrate { instance: 2, to: 6 }));
    assert!(guard
        .audit()
        .iter()
        .any(|r| matches!(r.reason, Reason::HostOverLimit) && r.host.as_deref() == Some("h1")));
    run_until(&mut world, &mut guard, 100, |w, _| w.obs.hosts[1].power == PowerState::Off);
    // Off, its event is over; the zone is cool: it passes, and h1 comes back.
    run_until(&mut world, &mut guard, 100, |_, g| g.phase(0) == Some(ZonePhase::Normal));
    assert_eq!(world.obs.hosts[1].power, PowerState::On);
    assert_eq!(power_downs(&world.applied).iter().map(|d| d.1).collect::<Vec<_>>(), vec![1]);
}

#[test]
fn bad_observations_are_errors_that_name_the_field() {
    let world = fleet();
    let mut guard = Guard::new(policy(), Strategy::Seed).unwrap();
    let check = |guard: &mut Guard, f: &dyn Fn(&mut Observation), expect: &str| {
        let mut obs = world.obs.clone();
        f(&mut obs);
        let err = guard.step(&obs).unwrap_err();
        assert!(err.to_string().contains(expect), "{err} should mention {expect}");
        err
    };
    check(&mut guard, &|o| o.hosts[2].zone = 9, "hosts[2].zone");
    check(&mut guard, &|o| o.hosts[0].power_w = f64::NAN, "hosts[0].power_w");
    check(&mut guard, &|o| o.zones[1].air_c = Some(f64::INFINITY), "zones[1].air_c");
    check(&mut guard, &|o| o.zones[0].neighbours = vec![3], "zones[0].neighbours");
    check(&mut guard, &|o| o.instances[0].host = Some(8), "instances[0].host");
    check(&mut guard, &|o| o.instances[0].memory_mb = -1.0, "instances[0].memory_mb");
    // A valid one goes through, then the shape is fixed.
    let mut obs = world.obs.clone();
    obs.now_s = 50.0;
    guard.step(&obs).unwrap();
    let err = check(&mut guard, &|o| o.now_s = 40.0, "went back");
    assert!(matches!(err, StepError::TimeWentBack { .. }));
    let err = check(
        &mut guard,
        &|o| {
            o.now_s = 60.0;
            o.hosts[5].id = "other".into();
        },
        "hosts[5].id",
    );
    assert!(matches!(err, StepError::Changed { .. }));
    check(
        &mut guard,
        &|o| {
            o.now_s = 60.0;
            o.hosts.pop();
        },
        "hosts.len()",
    );
}

#[test]
fn an_instance_the_driver_cannot_move_is_stopped_never_migrated() {
    let mut world = fleet();
    world.obs.hosts[1].temp_c = Some(77.0); // h1 over its hardware limit: shed
    world.obs.instances[2].movable = false; // "db" on h1, which h6 would otherwise take
    let mut guard = Guard::new(policy(), Strategy::Seed).unwrap();
    let actions = world.round(&mut guard, 10.0);
    assert!(actions.contains(&Action::Stop { instance: 2 }), "{actions:?}");
    assert!(!actions.iter().any(|a| matches!(a, Action::Migrate { instance: 2, .. })));
    assert!(guard
        .audit()
        .iter()
        .any(|r| matches!(r.reason, Reason::StopNotMovable { .. })
            && r.text.contains("cannot be moved")));
    // It restarts when its host is back.
    run_until(&mut world, &mut guard, 200, |_, g| g.phase(0) == Some(ZonePhase::Normal));
    assert_eq!(world.obs.instances[2].host, Some(1));
}
