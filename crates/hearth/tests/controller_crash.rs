//! The controller survives SIGKILL at every step of its journal. A site of four hosts, each
//! running one 2-CPU instance at half load, with a 110 W heat target and no spare host: the
//! only arrangement that covers a host puts all four instances on h1 (50 % CPU, 116 W), so the
//! plan is three migrations and three power-downs: 18 journal writes (intent, started, done
//! each). For every K in 1..=18 the test starts `hearth controller --cycles 1` with the
//! failpoint `journal:K`, waits until it halts right after its K-th journal write, kills it
//! with SIGKILL, checks the simulated site's invariants (every instance defined on exactly one
//! host, none on a host that is off, each completed move applied once), restarts it without
//! the failpoint, and checks that the plan completed from the journal: every instance on h1,
//! h2–h4 off, each moved exactly once, the plan `applied`, no operation left unfinished.
//!
//! The second scenario kills the controller at every journal write of a thermal guard's
//! power-down sequence (a zone losing two of its three cooling units): after each restart the
//! guard's saved memory must bring every shed host back on and every stopped instance back to
//! running once the cooling recovers.

use drivers::site::{Site, SitePower};
use drivers::UnixClock;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;
use store::{Phase, PlanStatus, Store};

const KEY_HEX: &str = "5f8a0c3b9e71d24468acf02b7d9e13c5a8f6e2047b1dc93e5a60f8b2c4d71e09";

const SITE: &str = r#"
seed = 7
speed = 200.0

[[zones]]
id = "z0"
air_heat_capacity_j_per_k = 40000.0
cooling_units = 3
cooling_unit_w = 400.0

[[zones.racks]]
id = "r0"
hosts = [
  { id = "h1", model = "ml110-g5", cpus = 8.0, memory_mib = 16384.0 },
  { id = "h2", model = "ml110-g5", cpus = 8.0, memory_mib = 16384.0 },
  { id = "h3", model = "ml110-g5", cpus = 8.0, memory_mib = 16384.0 },
  { id = "h4", model = "ml110-g5", cpus = 8.0, memory_mib = 16384.0 },
]

[[instances]]
id = "vm1"
host = "h1"
cpus = 2.0
memory_mib = 2048.0
load = { mean = 0.5 }

[[instances]]
id = "vm2"
host = "h2"
cpus = 2.0
memory_mib = 2048.0
load = { mean = 0.5 }

[[instances]]
id = "vm3"
host = "h3"
cpus = 2.0
memory_mib = 2048.0
load = { mean = 0.5 }

[[instances]]
id = "vm4"
host = "h4"
cpus = 2.0
memory_mib = 2048.0
load = { mean = 0.5 }
"#;

const POLICY: &str = r#"
[heat]
target_heat_w = 110.0
headroom = 0.0
min_dwell_s = 0.0

[limits]
spare_hosts = 0
migrations_per_cycle = 8
power_changes_per_cycle = 8
"#;

/// Journal writes of the whole plan: 6 steps × (intent, started, done).
const WRITES: u64 = 18;

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        Dir::with(name, SITE, POLICY)
    }

    fn with(name: &str, site: &str, policy: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("hearth-crash-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cluster.key"), format!("1 {KEY_HEX}\n")).unwrap();
        std::fs::write(dir.join("site.toml"), site).unwrap();
        std::fs::write(dir.join("policy.toml"), policy).unwrap();
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn controller(dir: &Path, failpoint: Option<u64>) -> Child {
    let cycles = std::fs::read_to_string(dir.join("cycles")).unwrap_or_else(|_| "1".into());
    let interval = std::fs::read_to_string(dir.join("interval")).unwrap_or_else(|_| "60".into());
    let mut command = Command::new(env!("CARGO_BIN_EXE_hearth"));
    command
        .args(["controller", "--listen", "127.0.0.1:0", "--api", "127.0.0.1:0", "--key-file"])
        .arg(dir.join("cluster.key"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--site")
        .arg(dir.join("site.toml"))
        .arg("--policy")
        .arg(dir.join("policy.toml"))
        .args(["--mode", "auto", "--cycles", cycles.trim(), "--interval-s", interval.trim()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    match failpoint {
        Some(k) => command.env("HEARTH_FAILPOINT", format!("journal:{k}")),
        None => command.env_remove("HEARTH_FAILPOINT"),
    };
    command.spawn().expect("hearth runs")
}

/// Stderr lines as they come, on a channel.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Runs to completion; returns its stderr.
fn run_to_end(dir: &Path) -> String {
    let mut child = controller(dir, None);
    let rx = lines(&mut child);
    let mut text = String::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                text.push_str(&line);
                text.push('\n');
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                panic!("the controller did not finish within 60 s:\n{text}");
            }
        }
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "the controller failed ({status}):\n{text}");
    text
}

/// Runs until the failpoint halts it, then SIGKILLs it.
fn run_and_kill(dir: &Path, k: u64) {
    let mut child = controller(dir, Some(k));
    let rx = lines(&mut child);
    let mut text = String::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                let halted = line.contains(&format!("halted after journal write {k} "));
                text.push_str(&line);
                text.push('\n');
                if halted {
                    break;
                }
            }
            Err(_) => {
                let _ = child.kill();
                panic!("no halt at journal write {k}:\n{text}");
            }
        }
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed at {k}");
}

fn site(dir: &Path) -> Site {
    Site::open_file(&dir.join("data/site.json"), Arc::new(UnixClock)).unwrap()
}

fn check_done(dir: &Path, context: &str) {
    let site = site(dir);
    site.check_invariants().unwrap_or_else(|e| panic!("{context}: {e}"));
    let snapshot = site.snapshot();
    for instance in &snapshot.instances {
        assert_eq!(instance.host.as_str(), "h1", "{context}: {instance:?}");
        let moves = if instance.id == "vm1" { 0 } else { 1 };
        assert_eq!(instance.moves_applied, moves, "{context}: {} moved once", instance.id);
    }
    for host in &snapshot.hosts {
        let want = if host.id.as_str() == "h1" { SitePower::On } else { SitePower::Off };
        assert_eq!(host.power, want, "{context}: {}", host.id);
    }
    let (store, _) = Store::open(&dir.join("data/hearth.db")).unwrap();
    let plans = store.plans(10).unwrap();
    let first = plans.iter().find(|p| p.id == 1).unwrap_or_else(|| panic!("{context}: no plan 1"));
    assert_eq!(first.status, PlanStatus::Applied, "{context}: {first:?}");
    assert!(store.unfinished_ops().unwrap().is_empty(), "{context}");
    let done =
        store.journal_for_plan(1).unwrap().into_iter().filter(|r| r.phase == Phase::Done).count();
    assert_eq!(done, 6, "{context}: six steps done");
}

#[test]
fn an_uninterrupted_run_applies_the_plan_in_eighteen_journal_writes() {
    let dir = Dir::new("clean");
    run_to_end(&dir.0);
    check_done(&dir.0, "clean run");
    let (store, _) = Store::open(&dir.0.join("data/hearth.db")).unwrap();
    assert_eq!(store.journal(0, 1000).unwrap().len() as u64, WRITES);
}

#[test]
fn sigkill_at_every_journal_step_resumes_and_completes_the_plan() {
    for k in 1..=WRITES {
        let dir = Dir::new(&format!("k{k}"));
        run_and_kill(&dir.0, k);
        // Right after the kill: nothing lost, nothing running twice.
        let site = site(&dir.0);
        site.check_invariants().unwrap_or_else(|e| panic!("after the kill at {k}: {e}"));
        assert_eq!(site.snapshot().instances.len(), 4);
        drop(site);
        run_to_end(&dir.0);
        check_done(&dir.0, &format!("killed at journal write {k}"));
    }
}

// ---------------------------------------------------------------------------------------------
// A thermal event: the guard's power-down sequence and its recovery across SIGKILLs

/// Zone z0 (h1–h3, one instance each) loses 2 of its 3 cooling units from site time 0 for
/// 15 min: 1 × 150 W cannot carry ≈ 330 W, so the guard drains and powers down hosts. Zone z1
/// (h4–h6) has room. When the units come back the guard powers its hosts back up, one per
/// settle time, and restarts what it stopped. The heat plan is held to nothing (no migrations
/// or power changes per cycle), so every action is the guard's.
const THERMAL_SITE: &str = r#"
seed = 3
speed = 600.0

[[zones]]
id = "z0"
air_heat_capacity_j_per_k = 30000.0
cooling_units = 3
cooling_unit_w = 150.0

[[zones.racks]]
id = "r0"
hosts = [
  { id = "h1", model = "ml110-g5", cpus = 8.0, memory_mib = 16384.0 },
  { id = "h2", model = "ml110-g5", cpus = 8.0, memory_mib = 16384.0 },
  { id = "h3", model = "ml110-g5", cpus = 8.0, memory_mib = 16384.0 },
]

[[zones]]
id = "z1"
air_heat_capacity_j_per_k = 30000.0
cooling_units = 3
cooling_unit_w = 400.0

[[zones.racks]]
id = "r1"
hosts = [
  { id = "h4", model = "ml110-g5", cpus = 8.0, memory_mib = 16384.0 },
  { id = "h5", model = "ml110-g5", cpus = 8.0, memory_mib = 16384.0 },
  { id = "h6", model = "ml110-g5", cpus = 8.0, memory_mib = 16384.0 },
]

[[instances]]
id = "vm1"
host = "h1"
cpus = 4.0
memory_mib = 4096.0
load = { mean = 0.6 }

[[instances]]
id = "vm2"
host = "h2"
cpus = 4.0
memory_mib = 4096.0
load = { mean = 0.6 }

[[instances]]
id = "vm3"
host = "h3"
cpus = 4.0
memory_mib = 4096.0
load = { mean = 0.6 }

[[instances]]
id = "vm4"
host = "h4"
cpus = 2.0
memory_mib = 2048.0
load = { mean = 0.5 }

[[events]]
at_s = 0.0
kind.cooling_failure = { zone = "z0", units = 2, for_s = 900.0 }
"#;

const THERMAL_POLICY: &str = r#"
[heat]
target_heat_w = 0.0

[limits]
migrations_per_cycle = 0
power_changes_per_cycle = 0
spare_hosts = 0
"#;

/// Site seconds the thermal run covers: the 15 min failure, then recovery.
const THERMAL_CYCLES: &str = "60";
const THERMAL_INTERVAL_S: &str = "30";

fn thermal_dir(name: &str) -> Dir {
    let dir = Dir::with(name, THERMAL_SITE, THERMAL_POLICY);
    std::fs::write(dir.0.join("cycles"), THERMAL_CYCLES).unwrap();
    std::fs::write(dir.0.join("interval"), THERMAL_INTERVAL_S).unwrap();
    dir
}

/// After the event: every host on, every instance running, the invariants hold, no operation
/// unfinished, and the guard shed (and powered back) at least `shed` hosts.
fn check_recovered(dir: &Path, context: &str) {
    let site = site(dir);
    site.check_invariants().unwrap_or_else(|e| panic!("{context}: {e}"));
    let snapshot = site.snapshot();
    assert_eq!(snapshot.instances.len(), 4, "{context}");
    for instance in &snapshot.instances {
        assert_eq!(
            instance.state,
            drivers::InstanceState::Running,
            "{context}: {} must run again",
            instance.id
        );
    }
    for host in &snapshot.hosts {
        assert_eq!(host.power, SitePower::On, "{context}: {} must be back on", host.id);
    }
    let (store, _) = Store::open(&dir.join("data/hearth.db")).unwrap();
    assert!(store.unfinished_ops().unwrap().is_empty(), "{context}");
    let downs = store
        .journal(0, 10_000)
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "power_down" && r.phase == Phase::Done)
        .count();
    assert!(downs >= 1, "{context}: the guard powered nothing down");
}

/// The journal writes of the clean run up to the last power-down's `done`: the guard's whole
/// power-down sequence.
fn power_down_sequence_writes(dir: &Path) -> u64 {
    let (store, _) = Store::open(&dir.join("data/hearth.db")).unwrap();
    let journal = store.journal(0, 10_000).unwrap();
    let last = journal
        .iter()
        .rposition(|r| r.kind == "power_down" && r.phase == Phase::Done)
        .expect("the guard powered hosts down");
    last as u64 + 1
}

#[test]
fn sigkill_during_a_thermal_power_down_sequence_resumes_and_the_guard_recovers() {
    let clean = thermal_dir("thermal-clean");
    run_to_end(&clean.0);
    check_recovered(&clean.0, "clean run");
    let writes = power_down_sequence_writes(&clean.0);
    assert!(writes >= 6, "a sequence of at least two actions, got {writes} writes");
    for k in 1..=writes {
        let dir = thermal_dir(&format!("thermal-k{k}"));
        run_and_kill(&dir.0, k);
        let site = site(&dir.0);
        site.check_invariants().unwrap_or_else(|e| panic!("after the kill at {k}: {e}"));
        assert_eq!(site.snapshot().instances.len(), 4);
        drop(site);
        run_to_end(&dir.0);
        check_recovered(&dir.0, &format!("thermal run killed at journal write {k}"));
    }
}
