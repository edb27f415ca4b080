//! The guard's state through serde: a guard saved after any step and read back takes every later
//! step exactly as the original (same actions, zones and audit records) through a whole event and
//! recovery; a state that does not hold together is refused; the audit records' JSON is the same
//! as before the records became readable.

use crate::guard::{fleet, policy};
use crate::harness::World;
use model::rand::SplitMix64;
use serde_json::Value;
use std::collections::BTreeSet;
use thermal::benefit::Benefit;
use thermal::choose::Choice;
use thermal::detect::{Trigger, ZoneReading};
use thermal::project::Projection;
use thermal::rank::{HostCost, Term};
use thermal::strategy::Strategy;
use thermal::{Action, AuditRecord, Guard, Observation, Policy, Reason, ZonePhase};

fn term(name: &'static str, raw: f64, normalized: f64, weight: f64) -> Term {
    Term { name, raw, normalized, weight, weighted: weight * normalized }
}

/// One record of every reason, with every nested shape (triggers, readings, projection, choice,
/// cost and benefit terms, actions).
fn sample_records() -> Vec<AuditRecord> {
    let cost = HostCost {
        host: 2,
        host_id: "h2".into(),
        management: false,
        terms: vec![term("instances", 2.0, 1.0, 1.0), term("uptime", 7200.0, 0.5, 0.5)],
        total: 1.25,
    };
    let benefit = Benefit {
        host: 2,
        terms: vec![term("heat", 140.0, 1.0, 1.0), term("location", 1.0, 1.0, 0.5)],
        total: 1.5,
    };
    let projection = Projection {
        heat_w: 820.0,
        cooling_w: 250.0,
        temp_c: Some(30.25),
        band: 0.40625,
        spare: 0.18125,
        budget_w: 204.6875,
        required_w: 615.3125,
    };
    let record = |zone: Option<&str>, host: Option<&str>, action, reason, text: &str| AuditRecord {
        time_s: 130.0,
        zone: zone.map(String::from),
        host: host.map(String::from),
        instance: None,
        action,
        reason,
        text: text.to_string(),
    };
    vec![
        record(
            Some("room1/z1"),
            None,
            None,
            Reason::EventStarted {
                triggers: vec![
                    Trigger::CoolingFailed { available_w: 250.0, nominal_w: 1000.0 },
                    Trigger::Temperature { temp_c: 33.5, detect_c: 32.0 },
                    Trigger::Host { host: 1, host_id: "h1".into(), temp_c: None, detect_c: 75.0 },
                ],
                reading: ZoneReading::HottestHost {
                    host: 1,
                    host_id: "h1".into(),
                    temp_c: 48.5,
                    estimated_air_c: 33.5,
                },
                still_down: vec!["h4".into()],
            },
            "thermal event",
        ),
        record(
            Some("room1/z1"),
            None,
            None,
            Reason::SetChosen {
                projection: projection.clone(),
                choice: Choice {
                    chosen: vec![0, 2],
                    cost: 2.5,
                    heat_w: 620.0,
                    met: true,
                    quantum_w: 10.0,
                    proven_optimal: true,
                },
                candidates: vec!["h0".into(), "h1".into(), "h2".into()],
                order: vec!["h2".into(), "h0".into()],
            },
            "set chosen",
        ),
        record(
            Some("room1/z1"),
            Some("h2"),
            Some(Action::PowerDown { host: 2 }),
            Reason::PowerDown {
                order: 0,
                cost: cost.clone(),
                benefit: Some(benefit),
                cost_benefit: Some(-0.25),
                stopped: vec!["big".into()],
            },
            "power down host h2",
        ),
        record(
            Some("room1/z1"),
            Some("h2"),
            Some(Action::PowerUp { host: 2 }),
            Reason::PowerUp { score: cost, temp_c: None, powerup_c: 29.0 },
            "power up host h2",
        ),
        AuditRecord {
            instance: Some("web-a".into()),
            ..record(
                Some("room1/z1"),
                Some("h0"),
                Some(Action::Migrate { instance: 0, to: 6 }),
                Reason::Migrate { from: "h0".into(), to: "h6".into(), to_zone: "room2/z1".into() },
                "migrate",
            )
        },
        record(None, None, None, Reason::StopTimeout { from: "h0".into(), since_s: 100.5 }, "stop"),
        record(
            None,
            None,
            None,
            Reason::NoProgress {
                projection: projection.clone(),
                previous_c: Some(28.0),
                now_c: Some(27.9),
            },
            "no progress",
        ),
        record(None, None, None, Reason::Wait { projection, now_c: None }, "wait"),
        record(
            None,
            None,
            None,
            Reason::Picked { strategy: "random:7".into(), temp_c: Some(50.0) },
            "picked",
        ),
        record(
            None,
            None,
            None,
            Reason::ReadingChanged { reading: ZoneReading::CoolingSignalOnly },
            "reading",
        ),
        record(
            None,
            None,
            None,
            Reason::EventCleared { reading: ZoneReading::Air { air_c: 26.5 }, still_down: vec![] },
            "cleared",
        ),
        record(None, None, None, Reason::HostEventStarted { temp_c: 77.0, detect_c: 75.0 }, "host"),
        record(None, None, None, Reason::HostEventCleared, "host cleared"),
        record(None, None, None, Reason::HostOverLimit, "over"),
        record(None, None, None, Reason::NothingToShed, "nothing"),
        record(None, None, None, Reason::StopNoTarget { from: "h4".into() }, "stop"),
        record(None, None, None, Reason::StepDone { settle_until_s: 250.0 }, "settle"),
        record(None, None, None, Reason::PowerUpHeld { why: "air".into() }, "held"),
        record(None, None, Some(Action::Start { instance: 6, on: 4 }), Reason::Restart, "restart"),
        record(
            None,
            None,
            Some(Action::Stop { instance: 6 }),
            Reason::ActionLost { what: "stop".into() },
            "lost",
        ),
        record(None, None, None, Reason::Recovered, "recovered"),
    ]
}

fn jsonl(records: &[AuditRecord]) -> String {
    records.iter().map(|r| serde_json::to_string(r).unwrap() + "\n").collect()
}

#[test]
fn audit_records_serialize_as_before_and_read_back() {
    // The fixture is the records' JSON from before they became readable: the output of the
    // audit JSONL and the reports must not change.
    let expected = include_str!("audit_sample.jsonl");
    let records = sample_records();
    assert_eq!(jsonl(&records), expected);
    for (record, line) in records.iter().zip(expected.lines()) {
        let back: AuditRecord = serde_json::from_str(line).unwrap();
        assert_eq!(&back, record);
        assert_eq!(serde_json::to_string(&back).unwrap(), line);
    }
}

/// One step of the original guard: the observation, and what the guard gave for it.
struct Step {
    obs: Observation,
    actions: Vec<Action>,
    /// `zones()` after the step, as JSON.
    zones: String,
    /// The audit records of the step, drained, as JSONL.
    audit: String,
}

/// A run of the original guard: every step, and the guard's state serialized before the first
/// step (`saved[0]`) and after each (`saved[k]` after step `k - 1`, before its audit is drained).
struct Run {
    steps: Vec<Step>,
    saved: Vec<Value>,
}

/// Drives `guard` over `world` in 10 s rounds, `script` changing the world before each, until
/// the event zone has been back to normal after a recovery for 5 rounds. With `look_twice`, the
/// caller looks again 1 s into each round before applying the actions (so the guard's pending
/// actions are all that stops it issuing them again).
fn run(
    mut world: World,
    mut guard: Guard,
    look_twice: bool,
    mut script: impl FnMut(&mut World),
) -> Run {
    let mut run = Run { steps: Vec::new(), saved: vec![serde_json::to_value(&guard).unwrap()] };
    let mut recovered_for = None;
    for _ in 0..600 {
        script(&mut world);
        let mut applied = Vec::new();
        for look in 0..1 + usize::from(look_twice) {
            world.obs.now_s += look as f64;
            let obs = world.obs.clone();
            let actions = guard.step(&obs).expect("a valid observation");
            run.saved.push(serde_json::to_value(&guard).unwrap());
            let zones = serde_json::to_string(&guard.zones()).unwrap();
            let audit = jsonl(&guard.drain_audit());
            applied.extend(actions.iter().cloned());
            run.steps.push(Step { obs, actions, zones, audit });
        }
        world.apply(&applied);
        world.advance(if look_twice { 9.0 } else { 10.0 });
        let recovering = run.steps.iter().any(|s| s.zones.contains(r#""phase":"recovering""#));
        match recovered_for {
            None if recovering && guard.phase(0) == Some(ZonePhase::Normal) => {
                recovered_for = Some(0)
            }
            Some(5) => return run,
            Some(n) => recovered_for = Some(n + 1),
            None => {}
        }
    }
    panic!("the event zone did not recover");
}

/// Restores the guard saved at every step and runs it over the rest of the observations: every
/// later step gives the original's actions, zones and audit records.
fn check_every_resume(run: &Run) {
    for (k, saved) in run.saved.iter().enumerate() {
        let mut restored: Guard = serde_json::from_value(saved.clone())
            .unwrap_or_else(|e| panic!("state saved at step {k} does not read back: {e}"));
        assert_eq!(&serde_json::to_value(&restored).unwrap(), saved, "state saved at step {k}");
        assert!(restored.is_compatible(saved_policy(saved).as_ref().unwrap(), restored.strategy()));
        if k > 0 {
            // What the original had not drained yet, and its zones, come back as they were.
            let step = &run.steps[k - 1];
            assert_eq!(serde_json::to_string(&restored.zones()).unwrap(), step.zones);
            assert_eq!(jsonl(&restored.drain_audit()), step.audit, "audit saved at step {k}");
        }
        for (j, step) in run.steps.iter().enumerate().skip(k) {
            let at = format!("restored after step {k}, step {j} (t = {} s)", step.obs.now_s);
            assert_eq!(restored.step(&step.obs).unwrap(), step.actions, "{at}");
            assert_eq!(serde_json::to_string(&restored.zones()).unwrap(), step.zones, "{at}");
            assert_eq!(jsonl(&restored.drain_audit()), step.audit, "{at}");
        }
    }
}

fn saved_policy(saved: &Value) -> Option<Policy> {
    serde_json::from_value(saved["policy"].clone()).ok()
}

/// The `reason` tags of every record of the run.
fn reasons(run: &Run) -> BTreeSet<String> {
    run.steps
        .iter()
        .flat_map(|s| s.audit.lines())
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            v["reason"]["reason"].as_str().unwrap().to_string()
        })
        .collect()
}

/// The scenario of the end-to-end test: zone 0's cooling fails at 100 s (250 W of 1000 W left)
/// and comes back at 2000 s, the air following the thermal model; zone 1's air sensor is
/// missing from 500 s to 800 s.
fn cooling_failure(world: &mut World) {
    let t = world.obs.now_s;
    if t == 100.0 {
        world.obs.zones[0].cooling_failed = true;
        world.obs.zones[0].cooling_available_w = 250.0;
    }
    if t == 2000.0 {
        world.obs.zones[0].cooling_failed = false;
        world.obs.zones[0].cooling_available_w = 1000.0;
    }
    if t == 500.0 {
        world.obs.zones[1].air_c = None;
    }
    if t == 800.0 {
        world.obs.zones[1].air_c = Some(22.0);
    }
}

#[test]
fn a_guard_restored_after_any_step_of_an_event_goes_on_as_the_original() {
    for cap in [1, 2] {
        let mut world = fleet();
        world.thermal_model = true;
        let guard =
            Guard::new(Policy { max_parallel_power_ops: cap, ..policy() }, Strategy::Seed).unwrap();
        let run = run(world, guard, false, cooling_failure);
        // The run goes through everything the state must carry: shedding with migrations
        // under way and stopped instances, settle times, recovery held, then power-up and
        // restarts, and a reading from the hottest host.
        let seen = reasons(&run);
        for reason in [
            "event_started",
            "reading_changed",
            "set_chosen",
            "migrate",
            "stop_no_target",
            "power_down",
            "step_done",
            "event_cleared",
            "power_up_held",
            "power_up",
            "restart",
            "recovered",
        ] {
            assert!(seen.contains(reason), "cap {cap}: no {reason} in {seen:?}");
        }
        let held = |f: &dyn Fn(&Value) -> bool| run.saved.iter().any(f);
        assert!(held(&|v| v["pending"].as_object().is_some_and(|p| !p.is_empty())));
        let stopped = |t: &Value| t["stopped"].as_array().is_some_and(|s| !s.is_empty());
        assert!(held(&|v| v["tasks"].as_object().is_some_and(|t| t.values().any(stopped))));
        assert!(held(&|v| v["zones"][0]["settle_until_s"].is_number()));
        assert!(held(&|v| v["detector"]["zones"][1]["reading"]["source"] == "hottest_host"));
        check_every_resume(&run);
    }
}

#[test]
fn baselines_resume_too_with_their_random_stream() {
    for strategy in ["random:7", "hottest-first"] {
        let mut world = fleet();
        world.thermal_model = true;
        let guard = Guard::new(policy(), strategy.parse().unwrap()).unwrap();
        let run = run(world, guard, false, cooling_failure);
        assert!(reasons(&run).contains("picked"), "{strategy}");
        check_every_resume(&run);
    }
}

#[test]
fn a_second_event_during_recovery_resumes_with_the_list_intact() {
    // The air alone tells (a partial cooling loss nobody signals); it falls under T_clear at
    // 600 s; the cooling comes back at 900 s; the air rises again 10 s after the first
    // power-up, and falls for good 300 s later. The caller looks twice per round before
    // applying anything.
    let mut world = fleet();
    world.obs.zones[0].cooling_available_w = 600.0;
    world.obs.zones[0].air_c = Some(33.0);
    let guard = Guard::new(policy(), Strategy::Seed).unwrap();
    let mut second = None;
    let run = run(world, guard, true, |w| {
        let t = w.obs.now_s;
        if t == 600.0 {
            w.obs.zones[0].air_c = Some(26.0);
        }
        if t == 900.0 {
            w.obs.zones[0].cooling_available_w = 1000.0;
        }
        let powered_up = w.applied.iter().any(|(_, a)| matches!(a, Action::PowerUp { .. }));
        if powered_up && second.is_none() {
            second = Some(t);
            w.obs.zones[0].air_c = Some(34.0);
        }
        if second.is_some_and(|s| t == s + 300.0) {
            w.obs.zones[0].air_c = Some(25.0);
        }
    });
    let texts: String = run.steps.iter().map(|s| s.audit.as_str()).collect();
    assert!(texts.contains("during recovery"));
    check_every_resume(&run);
}

#[test]
fn overflowing_sums_resume_too() {
    // Two instances of the longest valid uptime: h0's uptime term overflows, its cost and
    // cost–benefit are NaN, and the records show `null` where the numbers were.
    let mut world = fleet();
    world.thermal_model = true;
    world.obs.instances[0].uptime_s = f64::MAX;
    world.obs.instances[1].uptime_s = f64::MAX;
    let guard = Guard::new(policy(), Strategy::Seed).unwrap();
    let run = run(world, guard, false, cooling_failure);
    let texts: String = run.steps.iter().map(|s| s.audit.as_str()).collect();
    assert!(texts.contains("null"), "no non-finite number in the records");
    check_every_resume(&run);
}

#[test]
fn a_state_that_does_not_hold_together_is_refused() {
    let mut world = fleet();
    world.thermal_model = true;
    let mut guard = Guard::new(policy(), Strategy::Seed).unwrap();
    for _ in 0..30 {
        cooling_failure(&mut world);
        world.round(&mut guard, 10.0);
    }
    let saved = serde_json::to_value(&guard).unwrap();
    assert!(!saved["tasks"].as_object().unwrap().is_empty());
    let refused = |change: &dyn Fn(&mut Value), expect: &str| {
        let mut v = saved.clone();
        change(&mut v);
        let err = serde_json::from_value::<Guard>(v).unwrap_err().to_string();
        assert!(err.contains(expect), "{err:?} should mention {expect:?}");
    };
    refused(&|v| v["policy"]["settle_s"] = (-1.0).into(), "settle_s");
    refused(&|v| v["host_ids"].as_array_mut().unwrap().truncate(2), "host");
    refused(&|v| v["zones"].as_array_mut().unwrap().pop().map(drop).unwrap(), "zone state");
    refused(
        &|v| {
            let tasks = v["tasks"].as_object_mut().unwrap();
            let (_, task) = tasks.iter().next().map(|(k, t)| (k.clone(), t.clone())).unwrap();
            tasks.insert("99".into(), task);
        },
        "host 99",
    );
    refused(&|v| v["next_seq"] = 0.into(), "next_seq");
    refused(&|v| v["extra"] = 1.into(), "unknown field");
    refused(&|v| v.as_object_mut().unwrap().remove("rng").map(drop).unwrap(), "rng");
    let mut fresh = serde_json::to_value(Guard::new(policy(), Strategy::Seed).unwrap()).unwrap();
    fresh["zone_ids"] = serde_json::json!(["z"]);
    let err = serde_json::from_value::<Guard>(fresh).unwrap_err().to_string();
    assert!(err.contains("no detector"), "{err}");
    // A term whose name is not one of the guard's.
    let mut record = serde_json::to_value(&sample_records()[2]).unwrap();
    record["reason"]["cost"]["terms"][0]["name"] = "warmth".into();
    let err = serde_json::from_value::<AuditRecord>(record).unwrap_err().to_string();
    assert!(err.contains("unknown term name `warmth`"), "{err}");
}

#[test]
fn compatibility_is_the_same_policy_and_strategy() {
    let mut world = fleet();
    let mut guard = Guard::new(policy(), "random:7".parse().unwrap()).unwrap();
    world.round(&mut guard, 10.0);
    let restored: Guard = serde_json::from_value(serde_json::to_value(&guard).unwrap()).unwrap();
    let random7: Strategy = "random:7".parse().unwrap();
    assert!(restored.is_compatible(&policy(), random7));
    assert!(!restored.is_compatible(&policy(), "random:8".parse().unwrap()));
    assert!(!restored.is_compatible(&policy(), Strategy::Seed));
    assert!(!restored.is_compatible(&Policy::default(), random7));
    let slower = Policy { settle_s: 180.0, ..policy() };
    assert!(!restored.is_compatible(&slower, random7));
}

#[test]
fn the_random_generator_resumes_its_stream() {
    let mut rng = SplitMix64::new(u64::MAX - 3);
    rng.next_u64();
    let mut back: SplitMix64 = serde_json::from_str(&serde_json::to_string(&rng).unwrap()).unwrap();
    assert_eq!(back, rng);
    for _ in 0..100 {
        assert_eq!(back.next_u64(), rng.next_u64());
    }
}
