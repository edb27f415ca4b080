//! The `hearth plan` command-line contract (issue 3, "CLI"), end to end through the built binary:
//! the JSON summary carries every contract field with sane values, the table explains a small
//! fleet host by host, the fleet examples in docs/planner.md parse, agree with each other and
//! plan to the output the doc shows, output is identical run to run (but for `plan_ms`), and bad
//! input of every kind exits non-zero with a message that says what and where, never a panic.

use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The fields issue 3 requires in the JSON output.
const CONTRACT: [&str; 8] = [
    "instances",
    "hosts",
    "covered_hosts",
    "upper_bound",
    "active_hosts",
    "harvested_heat_w",
    "migrations",
    "plan_ms",
];

/// Every host reason and instance reason docs/planner.md lists.
const HOST_REASONS: [&str; 6] =
    ["covered", "below_target", "over_limit", "spare", "powered_down", "already_off"];
const INSTANCE_REASONS: [&str; 11] = [
    "repair",
    "cover",
    "drain",
    "not_migratable",
    "dwell",
    "on_covered_host",
    "no_better_host",
    "budget_exhausted",
    "no_safe_order",
    "no_room",
    "",
];

/// A fresh folder under the system's temporary folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("hearth-plan-{}-{label}-{n}", std::process::id());
        let path = std::env::temp_dir().join(name);
        // A leftover from a killed run with the same pid would make the test see stale files.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|err| panic!("cannot create {}: {err}", path.display()));
        TempDir(path)
    }

    /// Writes `text` into `name` in the folder and returns the file's path as a string.
    fn file(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text)
            .unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
        path.to_str().expect("temp paths are UTF-8").to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `hearth plan ARGS` in `dir` (the current folder when `None`).
fn hearth_plan(dir: Option<&Path>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hearth"));
    command.arg("plan").args(args);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    command.output().unwrap_or_else(|err| panic!("cannot run hearth: {err}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("hearth prints UTF-8")
}

/// Runs `hearth plan ARGS`, expects success and returns stdout.
#[track_caller]
fn success_in(dir: Option<&Path>, args: &[&str]) -> String {
    let output = hearth_plan(dir, args);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "hearth plan {args:?} failed ({}):\n{stderr}", output.status);
    assert!(!stderr.contains("panicked"), "hearth plan {args:?} panicked:\n{stderr}");
    text(&output.stdout)
}

#[track_caller]
fn success(args: &[&str]) -> String {
    success_in(None, args)
}

/// Runs `hearth plan ARGS`, expects a clean failure (non-zero exit, no panic) whose stderr
/// contains each of `expected`, and returns stderr.
#[track_caller]
fn check_error(args: &[&str], expected: &[&str]) -> String {
    let output = hearth_plan(None, args);
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("panicked"), "hearth plan {args:?} panicked:\n{stderr}");
    match output.status.code() {
        Some(0) => panic!("hearth plan {args:?} succeeded; expected an error"),
        Some(101) => panic!("hearth plan {args:?} exited 101 (a panic):\n{stderr}"),
        Some(_) => {}
        None => panic!("hearth plan {args:?} was killed by a signal:\n{stderr}"),
    }
    assert!(output.stdout.is_empty(), "hearth plan {args:?} printed a result and failed");
    for fragment in expected {
        assert!(
            stderr.contains(fragment),
            "hearth plan {args:?}: stderr lacks {fragment:?}:\n{stderr}"
        );
    }
    stderr
}

/// Parses the one JSON line `--format json` prints.
#[track_caller]
fn json_object(stdout: &str) -> Map<String, Value> {
    assert_eq!(stdout.lines().count(), 1, "expected one JSON line:\n{stdout}");
    match serde_json::from_str(stdout.trim_end()) {
        Ok(Value::Object(object)) => object,
        other => panic!("not a JSON object: {stdout:?} ({other:?})"),
    }
}

#[track_caller]
fn count(report: &Map<String, Value>, field: &str) -> u64 {
    report[field].as_u64().unwrap_or_else(|| panic!("`{field}` is not a count: {}", report[field]))
}

#[track_caller]
fn array<'a>(value: &'a Value, field: &str) -> &'a Vec<Value> {
    value[field].as_array().unwrap_or_else(|| panic!("`{field}` is not an array: {value}"))
}

/// A small valid fleet: three hosts and four instances, one unplaced, one pinned. Error tests
/// break it one way each.
const SMALL_FLEET: &str = r#"resources = ["cpu", "memory_gib"]

[[hosts]]
id = "h1"
capacity = [16, 64]
idle_w = 60
target_heat_w = 150

[[hosts]]
id = "h2"
capacity = [16, 64]
idle_w = 60
target_heat_w = 150

[[hosts]]
id = "h3"
capacity = [8, 32]
idle_w = 40
target_heat_w = 150

[[instances]]
id = "a"
request = [4, 8]
heat_w = 50
memory_mib = 4096
host = "h1"

[[instances]]
id = "b"
request = [4, 8]
heat_w = 45
memory_mib = 2048
host = "h2"

[[instances]]
id = "c"
request = [2, 4]
heat_w = 20
memory_mib = 1024
host = "h3"
migratable = false

[[instances]]
id = "d"
request = [2, 4]
heat_w = 30
"#;

/// Every contract figure is there and consistent with the plan it summarizes.
#[track_caller]
fn check_report(report: &Map<String, Value>, n_instances: u64, n_hosts: u64) {
    for field in CONTRACT {
        let value = report.get(field).unwrap_or_else(|| panic!("no field `{field}`"));
        let number = value.as_f64().unwrap_or_else(|| panic!("`{field}` = {value} is no number"));
        assert!(number.is_finite() && number >= 0.0, "`{field}` = {number}");
    }
    assert_eq!(count(report, "instances"), n_instances);
    assert_eq!(count(report, "hosts"), n_hosts);
    let (covered, bound) = (count(report, "covered_hosts"), count(report, "upper_bound"));
    assert!(covered <= bound && bound <= n_hosts, "covered {covered} ≤ bound {bound} ≤ hosts");
    assert!(count(report, "active_hosts") <= n_hosts);

    let plan = &report["plan"];
    let hosts = array(plan, "hosts");
    assert_eq!(hosts.len() as u64, n_hosts);
    assert_eq!(array(plan, "instances").len() as u64, n_instances);
    let migrations = array(plan, "migrations");
    assert_eq!(count(report, "migrations"), migrations.len() as u64);
    let covered_in_plan = hosts.iter().filter(|h| h["covered"] == Value::Bool(true)).count();
    assert_eq!(covered_in_plan as u64, covered, "covered_hosts agrees with the host list");
    let harvest: f64 = hosts
        .iter()
        .filter(|h| h["covered"] == Value::Bool(true))
        .map(|h| h["heat_w"].as_f64().unwrap_or(f64::NAN))
        .sum();
    let reported = report["harvested_heat_w"].as_f64().unwrap_or(f64::NAN);
    assert!((harvest - reported).abs() <= 1e-6 * reported.max(1.0), "{harvest} vs {reported}");
    let mib: f64 = migrations.iter().map(|m| m["memory_mib"].as_f64().unwrap_or(f64::NAN)).sum();
    let reported_mib = report["migration_mib"].as_f64().unwrap_or(f64::NAN);
    assert!((mib - reported_mib).abs() <= 1e-6 * mib.max(1.0), "{mib} vs {reported_mib}");
    for host in hosts {
        let heat = host["heat_w"].as_f64().unwrap_or(f64::NAN);
        let target = host["target_heat_w"].as_f64().unwrap_or(f64::NAN);
        if host["covered"] == Value::Bool(true) {
            assert!(heat + 1e-6 >= target, "a covered host below its target: {host}");
            assert!(count(host.as_object().expect("a host is an object"), "instances") > 0);
        }
    }
}

#[test]
fn json_has_every_contract_field_for_a_generated_fleet() {
    let report =
        json_object(&success(&["--generate", "instances=200,hosts=40,seed=7", "--format", "json"]));
    check_report(&report, 200, 40);
    assert_eq!(report["planner"], "greedy");
    assert_eq!(report["source"], "generate:instances=200,hosts=40,resources=4,seed=7");
    assert_eq!(count(&report, "resources"), 4, "generated fleets have 4 resources by default");
    assert!(count(&report, "covered_hosts") > 0, "a packed generated fleet covers some hosts");
    let plan = &report["plan"];
    for host in array(plan, "hosts") {
        let reason = host["reason"].as_str().unwrap_or("(not a string)");
        assert!(HOST_REASONS.contains(&reason), "unknown host reason {reason:?} in {host}");
    }
    for instance in array(plan, "instances") {
        let reason = instance["reason"].as_str().unwrap_or("");
        assert!(INSTANCE_REASONS.contains(&reason), "unknown reason {reason:?} in {instance}");
    }
    // Power-downs come after every migration, so they are listed after wakes and power-ons.
    let actions: Vec<&str> =
        array(plan, "power").iter().map(|a| a["action"].as_str().unwrap_or("?")).collect();
    let first_down = actions.iter().position(|a| *a == "power_down").unwrap_or(actions.len());
    assert!(actions[first_down..].iter().all(|a| *a == "power_down"), "{actions:?}");
    assert_eq!(count(&report, "power_downs"), (actions.len() - first_down) as u64);
}

#[test]
fn target_heat_w_overrides_every_host() {
    let tmp = TempDir::new("target");
    let fleet = tmp.file("fleet.toml", SMALL_FLEET);
    let with_target = |w: &str| {
        let report =
            json_object(&success(&["--fleet", &fleet, "--target-heat-w", w, "--format", "json"]));
        check_report(&report, 4, 3);
        let hosts = array(&report["plan"], "hosts");
        let target = w.parse::<f64>().ok();
        assert!(hosts.iter().all(|h| h["target_heat_w"].as_f64() == target), "{hosts:?}");
        report
    };
    // Every host idles above 1 W, so every host that runs anything is covered.
    let low = with_target("1");
    let hosts = array(&low["plan"], "hosts");
    let running = hosts.iter().filter(|h| h["instances"].as_u64() > Some(0)).count() as u64;
    assert!(running > 0);
    assert_eq!(count(&low, "covered_hosts"), running, "at 1 W every running host is covered");
    // 0 W means no heat-recovery loop is attached: nothing to reach, nothing harvested.
    let none = with_target("0");
    assert_eq!(count(&none, "upper_bound"), 0);
    assert_eq!(none["harvested_heat_w"].as_f64(), Some(0.0));

    let generated = json_object(&success(&[
        "--generate",
        "instances=30,hosts=6",
        "--target-heat-w",
        "1e6",
        "--format",
        "json",
    ]));
    check_report(&generated, 30, 6);
    assert_eq!(count(&generated, "upper_bound"), 0, "no host reaches 1 MW");
}

#[test]
fn table_explains_a_small_fleet_host_by_host() {
    let tmp = TempDir::new("table");
    let fleet = tmp.file("small.toml", SMALL_FLEET);
    let stdout = success(&["--fleet", &fleet]);
    for label in ["source", "covered_hosts", "upper_bound", "active_hosts", "harvested_heat_w"] {
        assert!(stdout.contains(label), "no {label:?} in:\n{stdout}");
    }
    assert!(stdout.contains(&fleet), "the table names its fleet file:\n{stdout}");
    let header = stdout
        .lines()
        .find(|line| line.starts_with("host "))
        .unwrap_or_else(|| panic!("no per-host table in:\n{stdout}"));
    for column in ["heat_w", "target_w", "covered", "powered", "reason"] {
        assert!(header.contains(column), "no {column:?} column in {header:?}");
    }
    for host in ["h1", "h2", "h3"] {
        let row = stdout
            .lines()
            .find(|line| line.split_whitespace().next() == Some(host))
            .unwrap_or_else(|| panic!("no row for {host} in:\n{stdout}"));
        let reason = row.split_whitespace().last().unwrap_or("");
        assert!(HOST_REASONS.contains(&reason), "{host}: reason {reason:?} in {row:?}");
    }
    // `d` had no host: the plan places it or says it cannot.
    assert!(
        stdout.contains("d -> h") || stdout.contains("unplaced (no host has room): d"),
        "the new instance `d` is neither placed nor reported unplaced:\n{stdout}"
    );
}

#[test]
fn big_fleets_get_the_summary_only() {
    let stdout = success(&["--generate", "instances=120,hosts=60"]);
    assert!(stdout.contains("covered_hosts"), "{stdout}");
    assert!(!stdout.lines().any(|line| line.starts_with("host ")), "a 60-host table:\n{stdout}");
    assert!(stdout.contains("--format json has them"), "{stdout}");
}

/// The fenced blocks of docs/planner.md whose info string is exactly `lang`.
fn doc_blocks(lang: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/planner.md");
    let doc = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(info)) => current = Some(String::new()).filter(|_| info.trim() == lang),
            (Some(block), None) => {
                block.push_str(line);
                block.push('\n');
            }
            (Some(_), Some(_)) => blocks.extend(current.take()),
            (None, None) => {}
        }
    }
    blocks
}

/// Drops the line that varies run to run.
fn without_plan_ms(table: &str) -> String {
    table.lines().filter(|line| !line.starts_with("plan_ms ")).collect::<Vec<_>>().join("\n")
}

#[test]
fn docs_fleet_examples_parse_agree_and_plan_as_shown() {
    let (tomls, jsons, consoles) = (doc_blocks("toml"), doc_blocks("json"), doc_blocks("console"));
    assert_eq!((tomls.len(), jsons.len()), (1, 1), "docs/planner.md: one TOML, one JSON example");
    let from_toml: heat::FleetSpec =
        toml::from_str(&tomls[0]).unwrap_or_else(|err| panic!("the TOML example: {err}"));
    let from_json: heat::FleetSpec =
        serde_json::from_str(&jsons[0]).unwrap_or_else(|err| panic!("the JSON example: {err}"));
    assert_eq!(from_toml, from_json, "the TOML and JSON examples describe different fleets");

    let tmp = TempDir::new("docs");
    tmp.file("fleet.toml", &tomls[0]);
    tmp.file("fleet.json", &jsons[0]);
    let json_of = |file: &str| {
        let mut report =
            json_object(&success_in(Some(&tmp.0), &["--fleet", file, "--format", "json"]));
        check_report(&report, 7, 5);
        assert!(report.remove("plan_ms").is_some() && report.remove("source").is_some());
        report
    };
    assert_eq!(json_of("fleet.toml"), json_of("fleet.json"));

    let shown = consoles
        .iter()
        .find_map(|block| block.strip_prefix("$ hearth plan --fleet fleet.toml\n"))
        .expect("docs/planner.md shows the output of `hearth plan --fleet fleet.toml`");
    let actual = success_in(Some(&tmp.0), &["--fleet", "fleet.toml"]);
    assert_eq!(
        without_plan_ms(shown),
        without_plan_ms(&actual),
        "docs/planner.md shows another output than `hearth plan --fleet fleet.toml` prints; \
         if the planner changed on purpose, paste the new output into the doc"
    );
}

#[test]
fn json_files_and_sniffed_extensions_read_too() {
    let tmp = TempDir::new("json");
    let fleet: heat::FleetSpec = toml::from_str(SMALL_FLEET).expect("SMALL_FLEET is valid");
    let json = serde_json::to_string_pretty(&fleet).expect("a FleetSpec serializes");
    let as_json = tmp.file("fleet.json", &json);
    let sniffed_json = tmp.file("fleet.data", &json);
    let sniffed_toml = tmp.file("fleet", SMALL_FLEET);
    let plans: Vec<Map<String, Value>> = [as_json, sniffed_json, sniffed_toml]
        .iter()
        .map(|path| {
            let mut report = json_object(&success(&["--fleet", path, "--format", "json"]));
            check_report(&report, 4, 3);
            report.remove("plan_ms");
            report.remove("source");
            report
        })
        .collect();
    assert_eq!(plans[0], plans[1]);
    assert_eq!(plans[0], plans[2]);
}

#[test]
fn same_input_same_output_but_plan_ms() {
    let args = ["--generate", "instances=300,hosts=30,resources=3,seed=11", "--format", "json"];
    let without_time = |stdout: String| {
        let mut report = json_object(&stdout);
        assert!(report.remove("plan_ms").is_some(), "no plan_ms");
        Value::Object(report).to_string()
    };
    assert_eq!(without_time(success(&args)), without_time(success(&args)));
    let table = ["--generate", "instances=300,hosts=30,resources=3,seed=11"];
    assert_eq!(without_plan_ms(&success(&table)), without_plan_ms(&success(&table)));
}

#[test]
fn exact_reports_the_same_fields_and_covers_at_least_as_many() {
    let run = |extra: &[&str]| {
        let mut args = vec!["--generate", "instances=12,hosts=4,resources=2,seed=3"];
        args.extend_from_slice(&["--format", "json"]);
        args.extend_from_slice(extra);
        json_object(&success(&args))
    };
    let (greedy, exact) = (run(&[]), run(&["--exact"]));
    check_report(&greedy, 12, 4);
    check_report(&exact, 12, 4);
    assert_eq!(exact["planner"], "exact");
    assert_eq!(exact["upper_bound"], greedy["upper_bound"], "the bound is the fleet's");
    assert!(
        count(&exact, "covered_hosts") >= count(&greedy, "covered_hosts"),
        "the exact optimum covers fewer hosts than the greedy plan: {} < {}",
        exact["covered_hosts"],
        greedy["covered_hosts"]
    );
}

#[test]
fn exact_refuses_a_big_fleet_with_its_size() {
    check_error(
        &["--generate", "instances=200,hosts=40", "--exact"],
        &["--exact", "200 instances × 40 hosts"],
    );
}

// Bad input: each exits non-zero with a message naming what and where.

#[test]
fn missing_fleet_file_is_named() {
    let tmp = TempDir::new("missing");
    let missing = tmp.0.join("no-such-fleet.toml");
    let missing = missing.to_str().expect("temp paths are UTF-8");
    check_error(&["--fleet", missing], &["cannot read fleet file", missing]);
}

#[test]
fn malformed_toml_names_file_and_line() {
    let tmp = TempDir::new("malformed");
    let broken = SMALL_FLEET.replace("idle_w = 40", "idle_w = forty");
    let fleet = tmp.file("broken.toml", &broken);
    let line = broken.lines().position(|l| l.starts_with("idle_w = forty")).map(|i| i + 1);
    let line = line.expect("the broken line is there");
    check_error(&["--fleet", &fleet], &[&format!("broken.toml:{line}:")]);
}

#[test]
fn malformed_json_names_file_line_and_column() {
    let tmp = TempDir::new("malformed-json");
    let fleet = tmp.file("broken.json", "{\"resources\": [\"cpu\"],\n \"hosts\": [,]}");
    check_error(&["--fleet", &fleet], &["broken.json:2:12:"]);
}

#[test]
fn unknown_field_is_named_with_its_place() {
    let tmp = TempDir::new("unknown-field");
    let typo = SMALL_FLEET.replace(
        "id = \"h2\"\ncapacity = [16, 64]\nidle_w",
        "id = \"h2\"\ncapacity = [16, 64]\nidle_watts",
    );
    let line = typo.lines().position(|l| l.starts_with("idle_watts")).map(|i| i + 1);
    let line = line.expect("the misspelt line is there");
    let fleet = tmp.file("typo.toml", &typo);
    check_error(
        &["--fleet", &fleet],
        &[&format!("typo.toml:{line}:"), "hosts[1]", "unknown field `idle_watts`"],
    );
}

#[test]
fn wrong_type_names_the_field() {
    let tmp = TempDir::new("wrong-type");
    let fleet = tmp.file("types.toml", &SMALL_FLEET.replace("heat_w = 45", "heat_w = \"hot\""));
    check_error(&["--fleet", &fleet], &["types.toml:", "instances[1].heat_w", "invalid type"]);
}

#[test]
fn missing_field_is_named() {
    let tmp = TempDir::new("missing-field");
    let fleet = tmp.file("short.toml", &SMALL_FLEET.replace("heat_w = 30\n", ""));
    check_error(&["--fleet", &fleet], &["short.toml", "missing field `heat_w`"]);
}

#[test]
fn negative_capacity_names_the_host() {
    let tmp = TempDir::new("negative");
    let fleet =
        tmp.file("neg.toml", &SMALL_FLEET.replace("capacity = [8, 32]", "capacity = [8, -32]"));
    check_error(&["--fleet", &fleet], &["neg.toml", "host `h3`", "capacity.memory_gib is -32"]);
}

#[test]
fn unknown_host_is_named() {
    let tmp = TempDir::new("unknown-host");
    let fleet = tmp.file("ghost.toml", &SMALL_FLEET.replace("host = \"h2\"", "host = \"h9\""));
    check_error(&["--fleet", &fleet], &["ghost.toml", "instance `b`", "unknown host `h9`"]);
}

#[test]
fn instance_too_large_is_named() {
    let tmp = TempDir::new("too-large");
    let fleet = tmp.file(
        "big.toml",
        &SMALL_FLEET.replace("request = [2, 4]\nheat_w = 30", "request = [20, 4]\nheat_w = 30"),
    );
    check_error(&["--fleet", &fleet], &["big.toml", "instance `d`", "fits on no host", "cpu"]);
}

#[test]
fn fleet_and_generate_are_exclusive_and_one_is_required() {
    let tmp = TempDir::new("exclusive");
    let fleet = tmp.file("fleet.toml", SMALL_FLEET);
    check_error(
        &["--fleet", &fleet, "--generate", "instances=1,hosts=1"],
        &["--fleet", "--generate", "cannot be used with"],
    );
    check_error(&[], &["--fleet", "--generate", "required"]);
}

#[test]
fn bad_generate_spec_is_named() {
    check_error(
        &["--generate", "instances=ten,hosts=4"],
        &["--generate instances=ten,hosts=4", "instances"],
    );
    check_error(&["--generate", "hosts=4"], &["--generate", "instances"]);
    check_error(&["--generate", "instances=4,hosts=4,warp=9"], &["--generate", "warp"]);
    check_error(&["--generate", "instances=4,hosts=0"], &["--generate", "hosts"]);
}

#[test]
fn bad_target_heat_w_is_named() {
    for bad in ["-5", "NaN", "inf"] {
        check_error(
            &["--generate", "instances=4,hosts=2", "--target-heat-w", bad],
            &["--target-heat-w", "non-negative"],
        );
    }
    check_error(
        &["--generate", "instances=4,hosts=2", "--target-heat-w", "warm"],
        &["--target-heat-w", "warm"],
    );
}

#[test]
fn bad_format_is_named() {
    check_error(&["--generate", "instances=4,hosts=2", "--format", "yaml"], &["--format", "yaml"]);
}
