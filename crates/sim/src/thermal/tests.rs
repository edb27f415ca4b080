//! Tests of the thermal twin: the physics laws, scenario parsing and its errors, fault timing,
//! sensors, action validation, the impact cost, determinism, and the reference scenario
//! (issue "Thermal model in the twin").

use super::physics::{HostThermal, ZoneAir};
use super::scenario::{FaultKind, SensorFault, SensorId};
use super::*;
use ::thermal::{Action, Observation, PowerState};

// ---------------------------------------------------------------------------------------------
// Harness

/// A guard that records every observation and plays a script of actions at given times.
#[derive(Default)]
struct Script {
    seen: Vec<Observation>,
    plan: Vec<(f64, Action)>,
}

impl Script {
    fn with(plan: Vec<(f64, Action)>) -> Self {
        Script { seen: Vec::new(), plan }
    }

    /// The observation taken at `t_s`.
    #[track_caller]
    fn at(&self, t_s: f64) -> &Observation {
        self.seen
            .iter()
            .find(|obs| (obs.now_s - t_s).abs() < 1e-9)
            .unwrap_or_else(|| panic!("no observation at t = {t_s}"))
    }
}

impl Guard for Script {
    fn name(&self) -> String {
        "script".to_string()
    }

    fn decide(&mut self, obs: &Observation) -> Result<Vec<Action>, String> {
        self.seen.push(obs.clone());
        Ok(self
            .plan
            .iter()
            .filter(|(t, _)| (t - obs.now_s).abs() < 1e-9)
            .map(|(_, action)| action.clone())
            .collect())
    }
}

/// Two zones of two ML110 G5 hosts, one 1000-MIPS instance per host (two redundancy groups).
const SMALL: &str = r#"
name = "small"
duration_s = 600
step_s = 10
boot_s = 60
shutdown_s = 20
migration_mb_per_s = 50

[[room]]
name = "room1"

[[zone]]
name = "a"
heat_capacity_kj_per_k = 100
cooling_units_w = [1000, 1000]
recovery_loop_w = 500

[[zone]]
name = "b"
neighbours = ["a"]
heat_capacity_kj_per_k = 100
cooling_units_w = [2000]

[[host_type]]
name = "g5"
curve = "ml110_g5"
cpu_mips = 5320
memory_mb = 4096
heat_capacity_j_per_k = 2000
thermal_resistance_k_per_w = 0.2
limit_c = 70

[[rack]]
name = "r1"
zone = "a"
hosts = 2
host_type = "g5"

[[rack]]
name = "r1"
zone = "b"
hosts = 2
host_type = "g5"

[load]
mean = 0.5

[[instances]]
name = "vm"
count = 4
kind = "web"
cpu_mips = 1000
memory_mb = 512
redundancy = 2
customer_rank = 1
customer_importance = 2.0
"#;

fn small() -> Scenario {
    Scenario::parse("small.toml", SMALL).expect("the small scenario parses")
}

/// `SMALL` with `extra` appended (faults, overrides).
fn small_with(extra: &str) -> Scenario {
    Scenario::parse("small.toml", &format!("{SMALL}\n{extra}")).expect("the scenario parses")
}

#[track_caller]
fn parse_error(text: &str) -> ScenarioError {
    match Scenario::parse("bad.toml", text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(err) => err,
    }
}

fn reference() -> Scenario {
    Scenario::parse("thermal-reference.toml", REFERENCE_TOML).expect("the reference parses")
}

// ---------------------------------------------------------------------------------------------
// Physics

const ZONE: ZoneAir =
    ZoneAir { setpoint_c: 24.0, heat_capacity_j_per_k: 100_000.0, response_s: 100.0 };

#[test]
fn air_settles_at_the_setpoint_when_cooling_suffices() {
    // From above and from below, with heat under the capacity.
    for start in [35.0, 24.0, 18.0] {
        let mut air = start;
        for _ in 0..200 {
            air = ZONE.step(air, 3000.0, 5000.0, 10.0).air_c;
        }
        assert!((air - 24.0).abs() < 1e-6, "from {start}: {air}");
    }
    // Relaxation is exact: one step of 100 s from 34 °C leaves (34 − 24)/e above the setpoint.
    let air = ZONE.step(34.0, 3000.0, 50_000.0, 100.0).air_c;
    assert!((air - (24.0 + 10.0 / std::f64::consts::E)).abs() < 1e-9, "{air}");
}

#[test]
fn air_warms_at_the_excess_heat_over_the_capacity() {
    // 8 kW of heat, 5 kW of cooling: +3 kW / 100 kJ/K = 0.03 K/s once saturated.
    let step = ZONE.step(24.0, 8000.0, 5000.0, 10.0);
    assert!((step.air_c - 24.3).abs() < 1e-9, "{}", step.air_c);
    assert!((step.removed_j - 50_000.0).abs() < 1e-6, "{}", step.removed_j);
    // No cooling at all: the full heat warms the air.
    assert!((ZONE.step(24.0, 8000.0, 0.0, 10.0).air_c - 24.8).abs() < 1e-9);
    // Hot air with ample cooling comes down at the capacity's excess until the controller takes
    // over: never below the setpoint.
    let air = ZONE.step(60.0, 1000.0, 2000.0, 10_000.0).air_c;
    assert!((air - 24.0).abs() < 1e-6, "{air}");
}

#[test]
fn zone_integration_does_not_depend_on_the_step() {
    // Crosses from the controlled band into saturation and back.
    for (heat, cap, start) in [(8000.0, 5000.0, 23.0), (1000.0, 6000.0, 40.0), (500.0, 0.0, 20.0)] {
        let one = ZONE.step(start, heat, cap, 600.0).air_c;
        let mut many = start;
        for _ in 0..600 {
            many = ZONE.step(many, heat, cap, 1.0).air_c;
        }
        assert!((one - many).abs() < 1e-6, "heat {heat}, cap {cap}: {one} vs {many}");
    }
}

#[test]
fn removal_is_clamped_to_the_capacity() {
    assert_eq!(ZONE.removal_w(24.0, 3000.0, 5000.0), 3000.0);
    assert_eq!(ZONE.removal_w(40.0, 3000.0, 5000.0), 5000.0);
    assert_eq!(ZONE.removal_w(0.0, 3000.0, 5000.0), 0.0);
}

#[test]
fn host_approaches_air_plus_power_times_resistance() {
    let host = HostThermal { heat_capacity_j_per_k: 6000.0, resistance_k_per_w: 0.1 };
    assert_eq!(host.steady_c(300.0, 25.0), 55.0);
    let mut temp = 25.0;
    for _ in 0..1000 {
        temp = host.step(temp, 300.0, 25.0, 10.0);
    }
    assert!((temp - 55.0).abs() < 1e-5, "{temp}");
    // One time constant (R·C = 600 s) covers 1 − 1/e of the way.
    let temp = host.step(25.0, 300.0, 25.0, 600.0);
    assert!((temp - (55.0 - 30.0 / std::f64::consts::E)).abs() < 1e-9, "{temp}");
    // Off (0 W): back to the air.
    assert!((host.step(70.0, 0.0, 25.0, 1e6) - 25.0).abs() < 1e-9);
}

// ---------------------------------------------------------------------------------------------
// Scenario files

#[test]
fn parses_the_small_scenario() {
    let s = small();
    assert_eq!(s.name, "small");
    assert_eq!(s.zones.len(), 2);
    assert_eq!(s.zones[0].id, "room1/a");
    assert_eq!(s.zones[0].neighbours, vec![1]);
    assert_eq!(s.zones[1].neighbours, vec![0]);
    assert_eq!(s.zones[0].cooling_nominal_w(), 2500.0);
    assert_eq!(s.zones[0].air.setpoint_c, 24.0);
    assert_eq!(s.zones[0].air.heat_capacity_j_per_k, 100_000.0);
    let ids: Vec<&str> = s.hosts.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(ids, ["room1/a/r1/h01", "room1/a/r1/h02", "room1/b/r1/h01", "room1/b/r1/h02"]);
    // Worst fit, group members apart, ties round the zones: one instance per host.
    let placed: Vec<usize> = s.instances.iter().map(|i| i.host).collect();
    assert_eq!(placed, [0, 2, 1, 3]);
    let groups: Vec<Option<&str>> = s.instances.iter().map(|i| i.group.as_deref()).collect();
    assert_eq!(groups, [Some("vm-g1"), Some("vm-g1"), Some("vm-g2"), Some("vm-g2")]);
    assert_eq!(s.instances[0].id, "vm-0001");
    assert_eq!(s.instances[0].mean_utilization, 0.5);
    assert_eq!(s.impact.kind("web"), 2.0);
    assert_eq!(s.impact.kind("unknown"), 1.0);
    assert!(s.guard.is_none());
}

#[test]
fn parses_the_reference_scenario() {
    let s = reference();
    assert_eq!(s.hosts.len(), 200);
    assert_eq!(s.zones.len(), 4);
    for zone in 0..4 {
        assert_eq!(s.hosts.iter().filter(|h| h.zone == zone).count(), 50);
    }
    assert_eq!(s.hosts.iter().filter(|h| h.management).count(), 1);
    assert_eq!(s.instances.len(), 1340);
    assert_eq!(s.faults.len(), 2);
    assert!(matches!(s.faults[0].kind, FaultKind::CoolingUnit { zone: 1, unit: 0 }));
    assert_eq!((s.faults[1].at_s, s.faults[1].until_s), (1800.0, Some(3600.0)));
    let guard = s.guard.as_ref().expect("a [guard] table");
    let zone = guard.get("zone").and_then(|v| v.as_table()).expect("a [guard.zone] table");
    assert_eq!(zone.get("detect_c").and_then(|v| v.as_float()), Some(32.0));
    // High load: nominal allocation about 90 % of the fleet's MIPS.
    let allocated: f64 = s.instances.iter().map(|i| i.cpu_mips).sum();
    let capacity: f64 = s.hosts.iter().map(|h| h.cpu_mips).sum();
    assert!((0.85..0.95).contains(&(allocated / capacity)), "{}", allocated / capacity);
}

#[test]
fn unknown_keys_are_named_with_their_line() {
    let text = SMALL.replace("recovery_loop_w = 500", "recovery_loop_w = 500\ncolour = \"red\"");
    let err = parse_error(&text);
    let message = err.to_string();
    assert!(message.contains("unknown field `colour`"), "{message}");
    let line = text.lines().position(|l| l.starts_with("colour")).expect("the line") + 1;
    assert!(message.starts_with(&format!("bad.toml:{line}:1: key `zone[0].colour`")), "{message}");
    assert_eq!(err.key(), Some("zone[0].colour"));
}

#[test]
fn missing_and_mistyped_keys_are_named() {
    let err = parse_error(&SMALL.replace(
        "heat_capacity_kj_per_k = 100\ncooling_units_w = [2000]",
        "cooling_units_w = [2000]",
    ));
    assert_eq!(err.key(), Some("zone[1].heat_capacity_kj_per_k"), "{err}");
    assert!(err.to_string().contains("missing"), "{err}");

    let err = parse_error(&SMALL.replace(
        "hosts = 2\nhost_type = \"g5\"\n\n[[rack]]",
        "hosts = \"two\"\nhost_type = \"g5\"\n\n[[rack]]",
    ));
    assert_eq!(err.key(), Some("rack[0].hosts"), "{err}");
    assert!(matches!(err, ScenarioError::Toml { location: Some(_), .. }), "{err:?}");

    let err = parse_error("duration_s = 10\nstep_s = 1\n[[zone]\n");
    assert!(matches!(err, ScenarioError::Toml { location: Some((3, _)), .. }), "{err:?}");
}

#[test]
fn invalid_values_name_the_key() {
    let cases: [(&str, &str); 9] = [
        ("kind = \"cooling_unit\"\nzone = \"a\"\nunit = 2\nat_s = 10", "fault[0].unit"),
        ("kind = \"cooling_unit\"\nzone = \"nowhere\"\nunit = 0\nat_s = 10", "fault[0].zone"),
        ("kind = \"recovery_loop\"\nzone = \"b\"\nat_s = 10", "fault[0].zone"),
        ("kind = \"sensor\"\nzone = \"a\"\nat_s = 10", "fault[0].mode"),
        ("kind = \"sensor\"\nhost = \"room1/a/r1/h09\"\nmode = \"stale\"\nat_s = 10", "fault[0].host"),
        ("kind = \"sensor\"\nzone = \"a\"\nhost = \"room1/a/r1/h01\"\nmode = \"stale\"\nat_s = 10", "fault[0].zone"),
        ("kind = \"cooling_unit\"\nzone = \"a\"\nunit = 0\nat_s = 10\nuntil_s = 5", "fault[0].until_s"),
        ("kind = \"cooling_unit\"\nzone = \"a\"\nunit = 0\nmode = \"stale\"\nat_s = 10", "fault[0].mode"),
        ("kind = \"recovery_loop\"\nzone = \"a\"\nunit = 0\nat_s = 10", "fault[0].unit"),
    ];
    for (fault, key) in cases {
        let err = parse_error(&format!("{SMALL}\n[[fault]]\n{fault}\n"));
        assert_eq!(err.key(), Some(key), "{fault}: {err}");
    }
    let err = parse_error(&format!("{SMALL}\n[[fault]]\nkind = \"flood\"\nat_s = 1\n"));
    assert_eq!(err.key(), Some("fault[0].kind"), "{err}");

    let replacements = [
        ("step_s = 10", "step_s = 0", "step_s"),
        ("duration_s = 600", "duration_s = 5", "duration_s"),
        ("neighbours = [\"a\"]", "neighbours = [\"c\"]", "zone[1].neighbours[0]"),
        ("curve = \"ml110_g5\"", "curve = \"ml110_g9\"", "host_type[0].curve"),
        ("curve = \"ml110_g5\"", "power_w = [1, 2, 3]", "host_type[0].power_w"),
        ("zone = \"b\"\nhosts = 2", "zone = \"c\"\nhosts = 2", "rack[1].zone"),
        ("count = 4\n", "count = 40\n", "instances[0].count"),
        ("mean = 0.5", "mean = 1.5", "load.mean"),
        (
            "customer_importance = 2.0",
            "customer_importance = -1.0",
            "instances[0].customer_importance",
        ),
    ];
    for (from, to, key) in replacements {
        assert!(SMALL.contains(from), "{from}");
        let err = parse_error(&SMALL.replacen(from, to, 1));
        assert_eq!(err.key(), Some(key), "{to}: {err}");
    }
    // The message of a placement failure says which instance and why.
    let err = parse_error(&SMALL.replacen("count = 4\n", "count = 40\n", 1));
    assert!(err.to_string().contains("`vm-0021`"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Faults and sensors

#[test]
fn a_cooling_unit_fails_and_recovers_on_time() {
    let s = small_with(
        "[[fault]]\nkind = \"cooling_unit\"\nzone = \"a\"\nunit = 1\nat_s = 100\nuntil_s = 200\n\
         [[fault]]\nkind = \"recovery_loop\"\nzone = \"a\"\nat_s = 150\nuntil_s = 160\n",
    );
    let mut guard = Script::default();
    run(&s, &mut guard).expect("runs");
    let zone = |t: f64| {
        let z = &guard.at(t).zones[0];
        (z.cooling_available_w, z.cooling_failed)
    };
    assert_eq!(zone(90.0), (2500.0, false));
    assert_eq!(zone(100.0), (1500.0, true));
    assert_eq!(zone(150.0), (1000.0, true));
    assert_eq!(zone(160.0), (1500.0, true));
    assert_eq!(zone(190.0), (1500.0, true));
    assert_eq!(zone(200.0), (2500.0, false));
    assert_eq!(guard.at(150.0).zones[0].cooling_nominal_w, 2500.0);
    // Zone b is untouched.
    assert_eq!(guard.at(150.0).zones[1].cooling_available_w, 2000.0);
    assert!(!guard.at(150.0).zones[1].cooling_failed);
}

#[test]
fn stale_sensors_freeze_and_missing_ones_read_nothing() {
    // Zone a loses all its cooling from t = 0, so its air and hosts warm steadily.
    let faults = "[[fault]]\nkind = \"cooling_unit\"\nzone = \"a\"\nunit = 0\nat_s = 0\n\
                  [[fault]]\nkind = \"cooling_unit\"\nzone = \"a\"\nunit = 1\nat_s = 0\n\
                  [[fault]]\nkind = \"recovery_loop\"\nzone = \"a\"\nat_s = 0\n\
                  [[fault]]\nkind = \"sensor\"\nzone = \"a\"\nmode = \"stale\"\nat_s = 100\nuntil_s = 200\n\
                  [[fault]]\nkind = \"sensor\"\nhost = \"room1/a/r1/h02\"\nmode = \"missing\"\nat_s = 100\nuntil_s = 200\n";
    let s = small_with(faults);
    assert!(matches!(
        s.faults[4].kind,
        FaultKind::Sensor { sensor: SensorId::Host(1), mode: SensorFault::Missing }
    ));
    let mut guard = Script::default();
    run(&s, &mut guard).expect("runs");
    let air = |t: f64| guard.at(t).zones[0].air_c;
    let frozen = air(90.0).expect("a reading before the fault");
    assert!(air(80.0).expect("reading") < frozen, "the air warms");
    assert_eq!(air(100.0), Some(frozen));
    assert_eq!(air(190.0), Some(frozen));
    assert!(air(200.0).expect("fresh again") > frozen);
    let host = |t: f64| guard.at(t).hosts[1].temp_c;
    assert!(host(90.0).is_some());
    assert_eq!(host(100.0), None);
    assert_eq!(host(190.0), None);
    assert!(host(200.0).is_some());
    // The other host's sensor is fine.
    assert!(guard.at(150.0).hosts[0].temp_c.is_some());

    // With a maximum age, a stale reading turns into a missing one once it is too old.
    let s = Scenario { sensor_max_age_s: Some(30.0), ..small_with(faults) };
    let mut guard = Script::default();
    run(&s, &mut guard).expect("runs");
    assert!(guard.at(120.0).zones[0].air_c.is_some(), "30 s old");
    assert_eq!(guard.at(130.0).zones[0].air_c, None, "40 s old");
}

// ---------------------------------------------------------------------------------------------
// Actions

#[test]
fn powering_down_a_busy_host_is_refused_and_counted() {
    let s = small();
    let mut guard = Script::with(vec![(50.0, Action::PowerDown { host: 0 })]);
    let result = run(&s, &mut guard).expect("runs");
    assert_eq!(result.summary.invalid_actions, 1);
    assert_eq!(result.summary.hosts_powered_down, 0);
    assert_eq!(result.invalid.len(), 1);
    assert!(
        result.invalid[0].reason.contains("still has 1 instance"),
        "{}",
        result.invalid[0].reason
    );
    assert_eq!(guard.at(60.0).hosts[0].power, PowerState::On);
}

#[test]
fn invalid_actions_are_skipped_not_panicked() {
    let s = small();
    let plan = vec![
        (10.0, Action::Migrate { instance: 99, to: 0 }),
        (10.0, Action::Migrate { instance: 0, to: 99 }),
        (10.0, Action::Migrate { instance: 0, to: 0 }),
        (10.0, Action::Start { instance: 0, on: 1 }),
        (10.0, Action::PowerUp { host: 0 }),
        (10.0, Action::PowerDown { host: 42 }),
        (10.0, Action::Stop { instance: 7 }),
        // Valid: a migration; then moving or stopping it again is not.
        (20.0, Action::Migrate { instance: 0, to: 2 }),
        (20.0, Action::Migrate { instance: 0, to: 3 }),
        (20.0, Action::Stop { instance: 0 }),
    ];
    let result = run(&s, &mut Script::with(plan)).expect("runs");
    assert_eq!(result.summary.invalid_actions, 9, "{:#?}", result.invalid);
    assert_eq!(result.summary.migrated, 1);
    assert_eq!(result.summary.stopped, 0);
}

#[test]
fn migrate_then_power_down_then_up() {
    // Instance 0 (512 MB) moves from host 0 to host 2 in 512 / 50 = 10.24 s: done at the step
    // at t = 30. The host then powers down (20 s) and up again (60 s).
    let s = small();
    let plan = vec![
        (10.0, Action::Migrate { instance: 0, to: 2 }),
        (20.0, Action::PowerDown { host: 0 }),
        (30.0, Action::PowerDown { host: 0 }),
        (100.0, Action::PowerUp { host: 0 }),
    ];
    let mut guard = Script::with(plan);
    let result = run(&s, &mut guard).expect("runs");
    assert_eq!(result.summary.migrated, 1);
    assert_eq!(result.summary.invalid_actions, 1, "{:#?}", result.invalid);
    assert_eq!(result.summary.hosts_powered_down, 1);
    assert_eq!(result.summary.hosts_powered_up, 1);
    let obs = guard.at(20.0);
    assert!(obs.instances[0].migrating);
    assert_eq!(obs.instances[0].host, Some(0));
    // Counted on both hosts while it moves: host 2 carries two instances' demand.
    assert!(obs.hosts[2].cpu_use > guard.at(0.0).hosts[2].cpu_use * 1.5);
    let obs = guard.at(30.0);
    assert!(!obs.instances[0].migrating);
    assert_eq!(obs.instances[0].host, Some(2));
    assert_eq!(guard.at(40.0).hosts[0].power, PowerState::PoweringOff);
    assert_eq!(guard.at(40.0).hosts[0].power_w, model::PowerCurve::ml110_g5().idle().0);
    assert_eq!(guard.at(50.0).hosts[0].power, PowerState::Off);
    assert_eq!(guard.at(50.0).hosts[0].power_w, 0.0);
    assert_eq!(guard.at(110.0).hosts[0].power, PowerState::PoweringOn);
    assert_eq!(guard.at(160.0).hosts[0].power, PowerState::On);
    // Migration cost only: 0.05.
    assert!((result.summary.impact_cost - 0.05).abs() < 1e-12);
}

#[test]
fn impact_cost_follows_the_formula() {
    // Instance 0: web (2), rank 1 (½), importance 2, group member 1 running (½): stopped at
    // t = 100, started at t = 100 + 1800 → 2 × 2 × ½ × (1 + 0.5) × ½ = 1.5.
    // Instance 1 (same group, stopped after 0 went): no member running → no halving; stopped
    // from t = 200 to the end (t = 600): 2 × 2 × ½ × (1 + 400/3600) = 2.2222…
    let s = Scenario { duration_s: 2400.0, ..small() };
    let plan = vec![
        (100.0, Action::Stop { instance: 0 }),
        (200.0, Action::Stop { instance: 1 }),
        (1900.0, Action::Start { instance: 0, on: 0 }),
    ];
    let result = run(&s, &mut Script::with(plan)).expect("runs");
    assert_eq!(result.summary.stopped, 2);
    assert_eq!(result.summary.started, 1);
    assert_eq!(result.summary.stopped_at_end, 1);
    let expected = 1.5 + 2.0 * (1.0 + 2200.0 / 3600.0);
    assert!((result.summary.impact_cost - expected).abs() < 1e-9, "{}", result.summary.impact_cost);
}

#[test]
fn stopped_instances_show_no_host_and_free_their_host() {
    let s = small();
    let mut guard = Script::with(vec![(10.0, Action::Stop { instance: 3 })]);
    run(&s, &mut guard).expect("runs");
    let obs = guard.at(20.0);
    assert_eq!(obs.instances[3].host, None);
    assert_eq!(obs.instances[3].uptime_s, 0.0);
    assert_eq!(obs.hosts[3].cpu_use, 0.0);
    assert!(obs.hosts[3].power_w > 93.0 && obs.hosts[3].power_w < 94.0);
    assert!(obs.instances[2].uptime_s > 0.0);
}

// ---------------------------------------------------------------------------------------------
// Runs

#[test]
fn runs_are_deterministic() {
    let s = reference();
    let a = run(&s, &mut NoGuard).expect("runs");
    let b = run(&s, &mut NoGuard).expect("runs");
    assert_eq!(a, b);
    let c = run(&Scenario { seed: 7, ..s }, &mut NoGuard).expect("runs");
    assert_ne!(a.summary.energy_kwh, c.summary.energy_kwh);
}

#[test]
fn without_a_guard_the_reference_scenario_overheats() {
    let s = reference();
    let result = run(&s, &mut NoGuard).expect("runs");
    let summary = &result.summary;
    assert_eq!(summary.guard, "none");
    assert!(summary.seconds_over_limit >= 600.0, "{summary:#?}");
    assert!(summary.peak_host_c > 80.0, "{summary:#?}");
    assert!(summary.peak_zone_c > 35.0, "{summary:#?}");
    assert_eq!((summary.migrated, summary.stopped, summary.invalid_actions), (0, 0, 0));
    assert_eq!(summary.impact_cost, 0.0);
    assert_eq!(result.series.len(), 900);
    // Before the failure every zone holds its setpoint and no host is near its limit.
    let before = &result.series[170];
    assert!(before.hottest_zone_c < 24.5, "{before:?}");
    assert!(before.hottest_host_c < 70.0, "{before:?}");
    // The hot zone is z2; the others stay at their setpoint.
    let worst = result.series.iter().max_by(|a, b| a.hottest_zone_c.total_cmp(&b.hottest_zone_c));
    let worst = worst.expect("points");
    assert!(worst.zone_air_c[1] > 35.0 && worst.zone_air_c[0] < 25.0, "{worst:?}");
    // After recovery the zone comes back down.
    assert!(result.series.last().expect("points").hottest_zone_c < 25.0);
    // High load: the fleet draws about 200 × 320 W.
    let mean_kw = summary.energy_kwh / (summary.simulated_s / 3600.0);
    assert!((55.0..75.0).contains(&mean_kw), "{mean_kw}");
}

#[test]
fn shedding_the_lost_cooling_keeps_the_reference_under_the_limit() {
    // A crude guard: when z2's air passes 30 °C, migrate a quarter of z2's instances to the
    // other zones' hosts (the first that fit, by index) and power their emptied hosts down.
    struct Shed {
        done: bool,
        drained: Vec<usize>,
    }
    impl Guard for Shed {
        fn name(&self) -> String {
            "shed".to_string()
        }
        fn decide(&mut self, obs: &Observation) -> Result<Vec<Action>, String> {
            let mut actions = Vec::new();
            if !self.done && obs.zones[1].air_c.is_some_and(|air| air > 30.0) {
                self.done = true;
                let mut free: Vec<(f64, f64)> = obs
                    .hosts
                    .iter()
                    .map(|h| (h.cpu_mips * (1.0 - h.cpu_use), h.memory_mb))
                    .collect();
                for inst in &obs.instances {
                    if let Some(host) = inst.host {
                        free[host].1 -= inst.memory_mb;
                    }
                }
                let victims: Vec<usize> =
                    (0..obs.hosts.len()).filter(|&h| obs.hosts[h].zone == 1).take(15).collect();
                for &victim in &victims {
                    for (idx, inst) in obs.instances.iter().enumerate() {
                        if inst.host != Some(victim) {
                            continue;
                        }
                        let target = (0..obs.hosts.len()).find(|&h| {
                            obs.hosts[h].zone != 1
                                && free[h].0 >= inst.cpu_mips * 1.3
                                && free[h].1 >= inst.memory_mb
                        });
                        match target {
                            Some(to) => {
                                free[to].0 -= inst.cpu_mips * 1.3;
                                free[to].1 -= inst.memory_mb;
                                actions.push(Action::Migrate { instance: idx, to });
                            }
                            None => actions.push(Action::Stop { instance: idx }),
                        }
                    }
                }
                self.drained = victims;
            } else if self.done && !self.drained.is_empty() {
                let empty: Vec<usize> = self
                    .drained
                    .iter()
                    .copied()
                    .filter(|&h| obs.instances.iter().all(|i| i.host != Some(h)))
                    .collect();
                self.drained.retain(|h| !empty.contains(h));
                actions.extend(empty.into_iter().map(|host| Action::PowerDown { host }));
            }
            Ok(actions)
        }
    }
    let s = reference();
    let result = run(&s, &mut Shed { done: false, drained: Vec::new() }).expect("runs");
    let summary = &result.summary;
    assert_eq!(summary.seconds_over_limit, 0.0, "{summary:#?}");
    assert_eq!(summary.hosts_powered_down, 15, "{summary:#?}");
    assert!(summary.migrated > 80, "{summary:#?}");
    assert!(summary.peak_host_c < 80.0, "{summary:#?}");
}

// --- The thermal crate's guard in the twin ------------------------------------------------------

fn guarded(toml: &str, strategy: &str) -> ThermalRun {
    let scenario = Scenario::parse("scenario.toml", toml).expect("the scenario parses");
    let mut guard = super::guard::build(strategy, &scenario).expect("a known strategy");
    run(&scenario, guard.as_mut()).expect("runs")
}

/// The issue's safety target on both shipped scenarios: with the seed guard no host passes its
/// hardware limit and no zone its air limit, where without a guard both do; every action it
/// returned was valid, and its audit trail records the event and every power change.
#[test]
fn the_seed_guard_keeps_both_scenarios_under_their_limits() {
    for toml in [super::REFERENCE_TOML, super::TIGHT_TOML] {
        let unguarded = guarded(toml, "none").summary;
        assert!(unguarded.seconds_over_limit > 0.0, "{unguarded:?}");
        let seed = guarded(toml, "seed");
        let s = &seed.summary;
        assert_eq!(s.seconds_over_limit, 0.0, "{s:?}");
        assert_eq!(s.zone_seconds_over_limit, 0.0, "{s:?}");
        assert_eq!(s.invalid_actions, 0, "{:?}", seed.invalid);
        assert!(s.hosts_powered_down > 0 && s.hosts_powered_up == s.hosts_powered_down, "{s:?}");
        assert_eq!(s.stopped_at_end, 0, "stopped instances are restarted: {s:?}");
        let power_downs = seed
            .audit
            .iter()
            .filter(|r| matches!(r.action, Some(Action::PowerDown { .. })))
            .count() as u64;
        assert_eq!(power_downs, s.hosts_powered_down);
    }
}

/// Where the other zones cannot take all the shed load, the ranking decides what stops: the
/// seed guard's customer impact is below hottest-first's (measured 50.65 against 274.97).
#[test]
fn on_the_tight_scenario_ranking_lowers_the_impact() {
    let seed = guarded(super::TIGHT_TOML, "seed").summary;
    let hottest = guarded(super::TIGHT_TOML, "hottest-first").summary;
    assert!(seed.stopped > 0, "the tight scenario forces stops: {seed:?}");
    assert!(seed.impact_cost < hottest.impact_cost, "{seed:?}\n{hottest:?}");
}

#[test]
fn bad_strategies_and_policies_are_named() {
    let scenario = Scenario::parse("r.toml", super::REFERENCE_TOML).expect("parses");
    let err = super::guard::build("coolest-first", &scenario).map(|_| ()).unwrap_err();
    assert!(err.to_string().contains("coolest-first"), "{err}");
    let bad = super::REFERENCE_TOML.replace("clear_c = 27.0", "clear_c = 27.0\nclearc = 1.0");
    let scenario = Scenario::parse("r.toml", &bad).expect("the twin does not read [guard]");
    let err = super::guard::build("seed", &scenario).map(|_| ()).unwrap_err().to_string();
    assert!(err.starts_with("scenario thermal-reference: [guard]: key `zone.clearc`"), "{err}");
    let bad = super::REFERENCE_TOML.replace("clear_c = 27.0", "clear_c = 40.0");
    let scenario = Scenario::parse("r.toml", &bad).expect("parses");
    let err = super::guard::build("seed", &scenario).map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("clear_c"), "{err}");
}
