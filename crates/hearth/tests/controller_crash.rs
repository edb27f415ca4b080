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
        let dir = std::env::temp_dir().join(format!("hearth-crash-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cluster.key"), format!("1 {KEY_HEX}\n")).unwrap();
        std::fs::write(dir.join("site.toml"), SITE).unwrap();
        std::fs::write(dir.join("policy.toml"), POLICY).unwrap();
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn controller(dir: &Path, failpoint: Option<u64>) -> Child {
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
        .args(["--mode", "auto", "--cycles", "1"])
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
