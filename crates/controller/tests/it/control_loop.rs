//! The loop end to end on `SiteSpec::small()`: h1 runs vm1 and vm2 (3 of 8 CPUs busy, ≈109 W),
//! h2 runs vm3 (1 CPU busy), h3 is off. With a 110 W target and no spare host, the heat plan
//! moves vm3 to h1 (covering it) and powers h2 down.

use controller::execute::PolicyClock;
use controller::observe::Drivers;
use controller::service::{Controller, LoopConfig};
use controller::shared::Mode;
use controller::topology::Topology;
use drivers::site::{Site, SitePower, SiteSpec};
use drivers::{ComputeOp, HostId, ManualClock, MoveKind};
use std::sync::Arc;
use std::time::Duration;
use store::{JournalEntry, NewPlan, Phase, PlanStatus, Store};

fn policy() -> serde_json::Value {
    serde_json::json!({
        "heat": {"target_heat_w": 110.0, "headroom": 0.0, "min_dwell_s": 0.0},
        "limits": {"spare_hosts": 0}
    })
}

struct Rig {
    site: Arc<Site>,
    clock: Arc<ManualClock>,
}

impl Rig {
    fn new() -> Rig {
        let clock = Arc::new(ManualClock::new());
        let site = Arc::new(Site::new(SiteSpec::small(), clock.clone()).unwrap());
        Rig { site, clock }
    }

    fn controller(&self, mode: Mode, mut store: Store) -> Controller {
        if store.policy().unwrap().is_none() {
            store.put_policy(&policy(), "test", 0).unwrap();
        }
        let spec = self.site.spec();
        let topology = Topology::from_site(&spec).unwrap();
        let drivers = Drivers::from_site(self.site.clone());
        let config = LoopConfig {
            mode,
            poll_every: Duration::from_secs(1),
            op_deadline_s: 900.0,
            ..LoopConfig::default()
        };
        Controller::open(
            config,
            topology,
            drivers,
            store,
            PolicyClock::new(self.clock.clone(), 1.0),
        )
        .unwrap()
    }

    fn host_of(&self, instance: &str) -> String {
        let snapshot = self.site.snapshot();
        snapshot.instances.iter().find(|i| i.id == instance).unwrap().host.to_string()
    }

    fn power_of(&self, host: &str) -> SitePower {
        let snapshot = self.site.snapshot();
        snapshot.hosts.iter().find(|h| h.id.as_str() == host).unwrap().power
    }
}

fn phases(store: &Store, plan: i64) -> Vec<(String, Phase)> {
    store.journal_for_plan(plan).unwrap().into_iter().map(|r| (r.op_id, r.phase)).collect()
}

#[test]
fn auto_mode_consolidates_journals_every_step_and_keeps_the_site_sound() {
    let rig = Rig::new();
    let mut controller = rig.controller(Mode::Auto, Store::open_in_memory().unwrap());
    let steps = controller.cycle().unwrap();
    assert_eq!(steps, 2, "{:?}", controller.shared().view().plan);
    assert_eq!(rig.host_of("vm3"), "h1");
    assert_eq!(rig.power_of("h2"), SitePower::Off);
    rig.site.check_invariants().unwrap();
    let shared = controller.shared();
    let store = shared.store();
    let plan = store.latest_plan().unwrap().unwrap();
    assert_eq!(plan.status, PlanStatus::Applied);
    assert_eq!(
        phases(&store, plan.id),
        vec![
            ("p1-s0".into(), Phase::Intent),
            ("p1-s0".into(), Phase::Started),
            ("p1-s0".into(), Phase::Done),
            ("p1-s1".into(), Phase::Intent),
            ("p1-s1".into(), Phase::Started),
            ("p1-s1".into(), Phase::Done),
        ]
    );
    drop(store);
    let totals = controller.totals();
    assert_eq!((totals.migrations, totals.power_changes, totals.actions_failed), (1, 1, 0));
    // The next cycle sees h1 covered and has nothing to do.
    assert_eq!(controller.cycle().unwrap(), 0);
    let view = shared.view();
    assert!(view.hosts.iter().find(|h| h.id == "h1").unwrap().covered, "{:?}", view.hosts);
    assert_eq!(view.totals.instances_lost, 0);
}

#[test]
fn observe_mode_plans_and_never_acts() {
    let rig = Rig::new();
    let mut controller = rig.controller(Mode::Observe, Store::open_in_memory().unwrap());
    controller.cycle().unwrap();
    controller.cycle().unwrap();
    assert_eq!(rig.host_of("vm3"), "h2");
    assert_eq!(rig.power_of("h2"), SitePower::On);
    let shared = controller.shared();
    let plans = shared.store().plans(10).unwrap();
    assert_eq!(plans.len(), 2);
    assert!(plans.iter().all(|p| p.status == PlanStatus::Observed));
    assert!(shared.store().journal_recent(10).unwrap().is_empty());
}

#[test]
fn approve_mode_waits_for_the_operator_and_a_rejected_plan_never_runs() {
    let rig = Rig::new();
    let mut controller = rig.controller(Mode::Approve, Store::open_in_memory().unwrap());
    controller.cycle().unwrap();
    let shared = controller.shared();
    let first = shared.store().latest_plan().unwrap().unwrap();
    assert_eq!(first.status, PlanStatus::Proposed);
    assert_eq!(rig.host_of("vm3"), "h2");
    shared.decide_plan(first.id, false, 0, "test").unwrap();
    controller.cycle().unwrap(); // proposes again
    assert_eq!(rig.host_of("vm3"), "h2", "a rejected plan must not run");
    let second = shared.store().latest_plan().unwrap().unwrap();
    assert_ne!(second.id, first.id);
    assert_eq!(shared.store().plan(first.id).unwrap().unwrap().status, PlanStatus::Rejected);
    // Approving twice is refused the second time.
    shared.decide_plan(second.id, true, 0, "test").unwrap();
    assert!(shared.decide_plan(second.id, true, 0, "test").is_err());
    controller.cycle().unwrap();
    assert_eq!(rig.host_of("vm3"), "h1");
    assert_eq!(shared.store().plan(second.id).unwrap().unwrap().status, PlanStatus::Applied);
    rig.site.check_invariants().unwrap();
}

#[test]
fn a_failed_live_move_falls_back_to_a_cold_move() {
    let rig = Rig::new();
    rig.site.fail_next_move("vm3").unwrap();
    let mut controller = rig.controller(Mode::Auto, Store::open_in_memory().unwrap());
    controller.cycle().unwrap();
    assert_eq!(rig.host_of("vm3"), "h1");
    let shared = controller.shared();
    let store = shared.store();
    let plan = store.latest_plan().unwrap().unwrap();
    let records = store.journal_for_plan(plan.id).unwrap();
    let live_end = records.iter().rev().find(|r| r.op_id == "p1-s0").unwrap();
    assert_eq!(live_end.phase, Phase::Failed);
    assert!(live_end.error.is_some());
    let cold_end = records.iter().rev().find(|r| r.op_id == "p1-s0-cold").unwrap();
    assert_eq!(cold_end.phase, Phase::Done);
    assert_eq!(plan.status, PlanStatus::Applied);
    rig.site.check_invariants().unwrap();
}

#[test]
fn a_move_that_cannot_happen_leaves_the_instance_in_place_and_the_plan_partial() {
    let rig = Rig::new();
    rig.site.set_refuse_moves_to(&HostId::new("h1"), true).unwrap();
    let mut controller = rig.controller(Mode::Auto, Store::open_in_memory().unwrap());
    controller.cycle().unwrap();
    assert_eq!(rig.host_of("vm3"), "h2");
    assert_eq!(rig.power_of("h2"), SitePower::On, "h2 still runs vm3: never powered down");
    let shared = controller.shared();
    let plan = shared.store().latest_plan().unwrap().unwrap();
    assert_eq!(plan.status, PlanStatus::PartiallyApplied);
    let view = shared.view();
    let steps = &view.plan.as_ref().unwrap().steps;
    assert_eq!(steps[0].state, "failed");
    assert!(steps[0].detail.as_deref().unwrap().contains("left in place on h2"), "{steps:?}");
    assert_eq!(steps[1].state, "skipped");
    assert!(steps[1].detail.as_deref().unwrap().contains("still runs vm3"), "{steps:?}");
    assert_eq!(controller.totals().actions_failed, 1);
    rig.site.check_invariants().unwrap();
}

/// A plan as the loop stores it: move vm3 to h1, power h2 down.
fn stored_plan(store: &mut Store) -> i64 {
    let steps = serde_json::json!([
        {"action": "migrate", "instance": "vm3", "from": "h2", "to": "h1", "source": "heat", "reason": "test"},
        {"action": "power_down", "host": "h2", "source": "heat", "reason": "test"}
    ]);
    store
        .insert_plan(&NewPlan {
            at_ms: 0,
            mode: "auto".into(),
            status: PlanStatus::Applying,
            summary: "test".into(),
            body: serde_json::json!({"steps": steps}),
        })
        .unwrap()
        .id
}

fn intent(plan: i64, op: &str, phase: Phase) -> JournalEntry {
    JournalEntry {
        at_ms: 0,
        op_id: op.into(),
        plan_id: Some(plan),
        step: 0,
        kind: "migrate".into(),
        subject: "vm3".into(),
        phase,
        detail: serde_json::Value::Null,
        error: None,
    }
}

#[test]
fn recovery_resumes_a_plan_cut_after_its_intent_was_journaled() {
    let rig = Rig::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hearth.db");
    {
        let (mut store, _) = Store::open(&path).unwrap();
        let plan = stored_plan(&mut store);
        store.journal_append(&intent(plan, "p1-s0", Phase::Intent)).unwrap();
    }
    let (store, _) = Store::open(&path).unwrap();
    let mut controller = rig.controller(Mode::Auto, store);
    let recovery = controller.recover().unwrap();
    assert_eq!(recovery.plans, vec![(1, PlanStatus::Applied)]);
    assert_eq!(rig.host_of("vm3"), "h1");
    assert_eq!(rig.power_of("h2"), SitePower::Off);
    let moves = rig.site.snapshot().instances.iter().find(|i| i.id == "vm3").unwrap().moves_applied;
    assert_eq!(moves, 1);
    rig.site.check_invariants().unwrap();
}

#[test]
fn recovery_polls_a_move_the_driver_already_has_instead_of_moving_twice() {
    let rig = Rig::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hearth.db");
    {
        let (mut store, _) = Store::open(&path).unwrap();
        let plan = stored_plan(&mut store);
        store.journal_append(&intent(plan, "p1-s0", Phase::Intent)).unwrap();
        // The driver accepted it; the crash came before `started` was written.
        use drivers::Compute;
        let op = ComputeOp::Move {
            instance: "vm3".into(),
            from: HostId::new("h2"),
            to: HostId::new("h1"),
            kind: MoveKind::Live,
        };
        rig.site.submit("p1-s0", &op).unwrap();
    }
    let (store, _) = Store::open(&path).unwrap();
    let mut controller = rig.controller(Mode::Auto, store);
    controller.recover().unwrap();
    assert_eq!(rig.host_of("vm3"), "h1");
    let moves = rig.site.snapshot().instances.iter().find(|i| i.id == "vm3").unwrap().moves_applied;
    assert_eq!(moves, 1, "the move must be applied once");
    let shared = controller.shared();
    let store = shared.store();
    let latest = store.op_latest("p1-s0").unwrap().unwrap();
    assert_eq!(latest.phase, Phase::Done);
    assert_eq!(store.latest_plan().unwrap().unwrap().status, PlanStatus::Applied);
}

#[test]
fn the_store_keeps_the_inventory_as_observed_after_acting() {
    let rig = Rig::new();
    let mut controller = rig.controller(Mode::Auto, Store::open_in_memory().unwrap());
    controller.cycle().unwrap();
    let shared = controller.shared();
    let inventory = shared.store().inventory().unwrap();
    assert_eq!(inventory.hosts.len(), 3);
    let vm3 = inventory.instances.iter().find(|i| i.id == "vm3").unwrap();
    // Recorded in the cycle's observe (before acting): vm3 on h2; the next snapshot moves it.
    assert_eq!(vm3.host.as_deref(), Some("h2"));
    controller.cycle().unwrap(); // nothing acted: the 10-cycle cadence is not due
    for _ in 0..9 {
        controller.cycle().unwrap();
    }
    let inventory = shared.store().inventory().unwrap();
    let vm3 = inventory.instances.iter().find(|i| i.id == "vm3").unwrap();
    assert_eq!(vm3.host.as_deref(), Some("h1"));
    let h2 = inventory.hosts.iter().find(|h| h.id == "h2").unwrap();
    assert_eq!(h2.power, "off");
}
