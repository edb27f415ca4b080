//! The `hearth sim` command-line contract, end to end through the built binary: JSON lines
//! carrying every summary field, output that is identical run to run (but for `wall_s`), the
//! files `--out` writes, the table's header, and errors that say what and where, exit non-zero
//! and never panic.
//!
//! Each run simulates a tiny PlanetLab day (8 VMs × 288 samples, generated into a temporary
//! folder) on 4 hosts, so every test takes well under a second in a debug build.

use serde_json::{Map, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Fields every JSON line carries.
const FIELDS: [&str; 11] = [
    "policy",
    "energy_kwh",
    "migrations",
    "slatah",
    "pdm",
    "slav",
    "host_shutdowns",
    "mean_active_hosts",
    "harvested_heat_kwh",
    "harvest_ratio",
    "wall_s",
];

/// Fields that are fractions.
const RATIOS: [&str; 4] = ["slatah", "pdm", "slav", "harvest_ratio"];

/// A fresh folder under the system's temporary folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("hearth-cli-{}-{label}-{n}", std::process::id());
        let path = std::env::temp_dir().join(name);
        // A leftover from a killed run with the same pid would make the test see stale files.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|err| panic!("cannot create {}: {err}", path.display()));
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text)
        .unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
}

/// Writes a small PlanetLab day into `tmp/day` and returns the `--workload` argument: 8 VMs,
/// 288 whole percentages each (a per-VM sawtooth plus seeded noise, all within 10..=89).
fn planetlab_day(tmp: &TempDir) -> String {
    let day = tmp.path().join("day");
    std::fs::create_dir_all(&day).unwrap_or_else(|err| panic!("{}: {err}", day.display()));
    for vm in 0..8u64 {
        let mut state = vm.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut text = String::new();
        for t in 0..288u64 {
            // Knuth's MMIX LCG; the high bits are the good ones.
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let noise = (state >> 33) % 21;
            let pct = 10 + (t * (vm + 1)) % 60 + noise;
            writeln!(text, "{pct}").expect("writing to a String");
        }
        write(&day.join(format!("vm{vm:02}")), &text);
    }
    format!("planetlab:{}", day.display())
}

/// Runs `hearth sim ARGS`.
fn hearth_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg("sim")
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("cannot run hearth: {err}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("hearth prints UTF-8")
}

/// Runs `hearth sim ARGS`, expects success and returns stdout.
#[track_caller]
fn success(args: &[&str]) -> String {
    let output = hearth_sim(args);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "hearth sim {args:?} failed ({}):\n{stderr}", output.status);
    assert!(!stderr.contains("panicked"), "hearth sim {args:?} panicked:\n{stderr}");
    text(&output.stdout)
}

/// Runs `hearth sim ARGS`, expects a clean failure (non-zero exit, no panic) whose stderr
/// contains each of `expected`, and returns stderr.
#[track_caller]
fn check_error(args: &[&str], expected: &[&str]) -> String {
    let output = hearth_sim(args);
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("panicked"), "hearth sim {args:?} panicked:\n{stderr}");
    match output.status.code() {
        Some(0) => panic!("hearth sim {args:?} succeeded; expected an error"),
        Some(101) => panic!("hearth sim {args:?} exited 101 (a panic):\n{stderr}"),
        Some(_) => {}
        None => panic!("hearth sim {args:?} was killed by a signal:\n{stderr}"),
    }
    for fragment in expected {
        assert!(
            stderr.contains(fragment),
            "hearth sim {args:?}: stderr lacks {fragment:?}:\n{stderr}"
        );
    }
    stderr
}

/// Parses JSON lines into objects.
#[track_caller]
fn json_lines(stdout: &str) -> Vec<Map<String, Value>> {
    stdout
        .lines()
        .map(|line| match serde_json::from_str(line) {
            Ok(Value::Object(object)) => object,
            other => panic!("not a JSON object line: {line:?} ({other:?})"),
        })
        .collect()
}

#[test]
fn json_prints_one_object_per_policy_with_every_field() {
    let tmp = TempDir::new("json");
    let workload = planetlab_day(&tmp);
    let stdout = success(&[
        "--workload",
        &workload,
        "--hosts",
        "4",
        "--policy",
        "npa,dvfs,thr-mmt,lr-mmt",
        "--target-heat-w",
        "110",
        "--format",
        "json",
    ]);
    let runs = json_lines(&stdout);
    let policies: Vec<&str> = runs
        .iter()
        .map(|run| run["policy"].as_str().expect("policy is a string"))
        .map(|policy| policy.split(':').next().unwrap_or(policy))
        .collect();
    assert_eq!(policies, ["npa", "dvfs", "thr-mmt", "lr-mmt"], "{stdout}");
    for run in &runs {
        let policy = &run["policy"];
        for field in FIELDS {
            assert!(run.contains_key(field), "{policy}: no field `{field}`");
        }
        for field in FIELDS.into_iter().filter(|field| *field != "policy") {
            let value = run[field]
                .as_f64()
                .unwrap_or_else(|| panic!("{policy}: `{field}` is not a number"));
            assert!(value.is_finite() && value >= 0.0, "{policy}: `{field}` = {value}");
        }
        for field in RATIOS {
            let value = run[field].as_f64().unwrap_or(f64::NAN);
            assert!((0.0..=1.0).contains(&value), "{policy}: `{field}` = {value} is not in [0, 1]");
        }
        assert!(run["energy_kwh"].as_f64() > Some(0.0), "{policy}: no energy drawn");
        assert!(run["mean_active_hosts"].as_f64() <= Some(4.0), "{policy}: more than 4 hosts on");
    }
}

#[test]
fn same_input_same_output_but_wall_time() {
    let tmp = TempDir::new("determinism");
    let workload = planetlab_day(&tmp);
    let args = ["--workload", &workload, "--hosts", "4", "--format", "json"];
    let without_wall_time = |stdout: String| -> Vec<String> {
        json_lines(&stdout)
            .into_iter()
            .map(|mut run| {
                assert!(run.remove("wall_s").is_some(), "no `wall_s` in {run:?}");
                Value::Object(run).to_string()
            })
            .collect()
    };
    let first = without_wall_time(success(&args));
    let second = without_wall_time(success(&args));
    assert_eq!(first.len(), 8, "the default runs the seven baselines and heat-max:\n{first:#?}");
    assert_eq!(first, second);
}

#[test]
fn out_writes_time_series_summary_and_report() {
    let tmp = TempDir::new("out");
    let workload = planetlab_day(&tmp);
    let out = tmp.path().join("results/run1");
    let out_arg = out.to_str().expect("temp paths are UTF-8");
    success(&["--workload", &workload, "--hosts", "4", "--policy", "npa,lr-mmt", "--out", out_arg]);
    for name in ["timeseries.csv", "summary.csv", "report.html"] {
        let path = out.join(name);
        let size = std::fs::metadata(&path).map_or(0, |meta| meta.len());
        assert!(size > 0, "{} is missing or empty", path.display());
    }
    let summary = std::fs::read_to_string(out.join("summary.csv")).expect("reading summary.csv");
    assert_eq!(summary.lines().count(), 3, "a header and one row per policy:\n{summary}");
    let report = std::fs::read_to_string(out.join("report.html")).expect("reading report.html");
    assert!(report.contains("<svg"), "report.html has no chart");
}

#[test]
fn table_has_a_header_and_one_line_per_policy() {
    let tmp = TempDir::new("table");
    let workload = planetlab_day(&tmp);
    let stdout =
        success(&["--workload", &workload, "--hosts", "4", "--policy", "npa,dvfs,mad-mmt"]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "a header and three policies:\n{stdout}");
    assert!(lines[0].contains("energy_kWh"), "header: {:?}", lines[0]);
    for (line, policy) in lines[1..].iter().zip(["npa", "dvfs", "mad-mmt"]) {
        assert!(line.starts_with(policy), "expected a row for {policy}, got {line:?}");
    }
}

#[test]
fn unknown_policy_is_named() {
    let tmp = TempDir::new("policy");
    let workload = planetlab_day(&tmp);
    check_error(
        &["--workload", &workload, "--hosts", "4", "--policy", "npa,warp-drive"],
        &["--policy", "warp-drive"],
    );
}

#[test]
fn bad_workload_spec_is_named() {
    check_error(&["--workload", "tarot:cards"], &["--workload", "tarot:cards"]);
    check_error(&["--workload", "planetlab"], &["needs a folder"]);
}

#[test]
fn missing_folder_is_named() {
    let tmp = TempDir::new("missing");
    let missing = tmp.path().join("no-such-day");
    let workload = format!("planetlab:{}", missing.display());
    check_error(&["--workload", &workload, "--hosts", "4"], &[&missing.display().to_string()]);
}

#[test]
fn bad_trace_line_is_named_with_file_line_and_field() {
    let tmp = TempDir::new("bad-line");
    let workload = planetlab_day(&tmp);
    write(&tmp.path().join("day/vm03"), "12\n40\n4.5\n7\n");
    check_error(&["--workload", &workload, "--hosts", "4"], &["vm03:3:", "cpu_pct", "4.5"]);
}

#[test]
fn zero_hosts_is_refused() {
    let tmp = TempDir::new("zero-hosts");
    let workload = planetlab_day(&tmp);
    check_error(&["--workload", &workload, "--hosts", "0"], &["hosts"]);
}

#[test]
fn hosts_conflicts_with_the_reference_scenario() {
    let tmp = TempDir::new("conflict");
    let workload = planetlab_day(&tmp);
    check_error(
        &["--workload", &workload, "--scenario", "planetlab-reference", "--hosts", "5"],
        &["--hosts", "planetlab-reference"],
    );
}

// --- Thermal scenarios (`--scenario FILE --guard …`) ---------------------------------------------

/// The shipped reference scenario, from the repository root.
fn thermal_reference() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios/thermal-reference.toml")
        .display()
        .to_string()
}

/// The contract fields of a thermal run's JSON line (issue: thermal guard, scenario comparison).
const THERMAL_FIELDS: [&str; 8] = [
    "guard",
    "peak_zone_c",
    "peak_host_c",
    "seconds_over_limit",
    "migrated",
    "stopped",
    "impact_cost",
    "energy_kwh",
];

#[test]
fn a_thermal_scenario_prints_one_object_per_guard() {
    let scenario = thermal_reference();
    let lines = json_lines(&success(&["--scenario", &scenario, "--format", "json"]));
    let guards: Vec<&str> = lines.iter().map(|l| l["guard"].as_str().unwrap_or("?")).collect();
    assert_eq!(guards, ["seed", "hottest-first", "random:0", "none"]);
    for line in &lines {
        for field in THERMAL_FIELDS {
            assert!(line.contains_key(field), "{field} missing from {line:?}");
        }
        for field in &THERMAL_FIELDS[1..] {
            assert!(line[*field].as_f64().is_some_and(|v| v >= 0.0), "{field}: {line:?}");
        }
    }
    // The guard keeps every host under its limit; without one they pass it.
    assert_eq!(lines[0]["seconds_over_limit"], 0.0);
    assert!(lines[3]["seconds_over_limit"].as_f64().unwrap() > 0.0);

    let tmp = TempDir::new("thermal-out");
    let out = tmp.0.join("out");
    let out_arg = out.display().to_string();
    let table = success(&["--scenario", &scenario, "--guard", "none,seed", "--out", &out_arg]);
    let rows: Vec<&str> = table.lines().collect();
    assert!(rows[0].starts_with("guard") && rows[0].contains("zone_s_over"), "{table}");
    assert!(rows[1].starts_with("none") && rows[2].starts_with("seed"), "{table}");
    let series = std::fs::read_to_string(out.join("thermal_timeseries.csv")).unwrap();
    assert_eq!(series.lines().count(), 1 + 2 * 900, "a header and 900 steps per guard");
    let audit = std::fs::read_to_string(out.join("audit-seed.jsonl")).unwrap();
    assert!(audit.lines().any(|l| l.contains("power_down")), "{audit}");
    assert!(audit.lines().all(|l| serde_json::from_str::<Value>(l).is_ok()));
}

#[test]
fn thermal_scenario_errors_are_named() {
    let scenario = thermal_reference();
    check_error(&["--scenario", &scenario, "--guard", "coolest"], &["--guard coolest", "coolest"]);
    check_error(
        &["--scenario", &scenario, "--policy", "npa"],
        &["--policy applies to consolidation"],
    );
    check_error(&["--guard", "seed"], &["--guard applies to thermal scenarios"]);
    check_error(&["--scenario", "no-such.toml"], &["no-such.toml", "no such file"]);
    let tmp = TempDir::new("thermal-bad");
    let bad = tmp.0.join("bad.toml");
    write(&bad, "duration_s = 60\nstep_s = 10\nsteps = 3\n");
    check_error(&["--scenario", &bad.display().to_string()], &["bad.toml", "steps"]);
}
