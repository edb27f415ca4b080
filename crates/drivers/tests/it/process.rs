//! The process runner with real processes: the Compute conformance suite on `/bin/sleep`
//! tasks (the backend "disappears" as the task killed from outside mid-stop), the grace period
//! and SIGKILL on a task that ignores SIGTERM (on a manual clock), a stop reaching the task's
//! own children, exit statuses, tasks that cannot start, the environment and log file, the
//! definition checks, and the tasks killed when the runner is dropped.

use std::fs;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use drivers::process::{ProcessRunner, TaskError, TaskSpec, NO_MOVES};
use drivers::{
    Clock, Compute, ComputeOp, DriverError, HostId, InstanceState, ManualClock, MoveKind, OpStatus,
    SystemClock, Wait,
};

use crate::compute_conformance::{check_compute, ComputeSubject};
use crate::hwmon::TempTree;

fn local() -> HostId {
    HostId::new("local")
}

fn sleep_task(id: &str) -> TaskSpec {
    TaskSpec::new(id, "/bin/sleep").args(["600"])
}

fn sh(id: &str, script: &str) -> TaskSpec {
    TaskSpec::new(id, "/bin/sh").args(["-c", script])
}

fn start(id: &str) -> ComputeOp {
    ComputeOp::Start { instance: id.into() }
}

fn stop(id: &str) -> ComputeOp {
    ComputeOp::Stop { instance: id.into() }
}

/// Waits in real time until `done` holds, up to 10 s.
fn until(what: &str, done: impl Fn() -> bool) {
    let clock = SystemClock::new();
    while !done() {
        assert!(clock.now() < Duration::from_secs(10), "gave up waiting for {what}");
        clock.sleep(Duration::from_millis(10));
    }
}

/// Whether process `pid` is gone (or a zombie nobody has reaped yet: it runs no more).
fn gone(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

fn state(runner: &ProcessRunner, id: &str) -> InstanceState {
    let listed = runner.instances(&local()).unwrap();
    listed.into_iter().find(|info| info.id == id).map(|info| info.state).unwrap()
}

#[test]
fn process_runner_conforms_with_sleep_tasks() {
    let clock = Arc::new(SystemClock::new());
    let runner = ProcessRunner::new(local(), clock.clone()).with_grace(Duration::from_secs(2));
    runner.define(sleep_task("sleeper").hints(0.01, 1.0)).unwrap();
    runner.define(sleep_task("bystander")).unwrap();
    runner.submit("boot", &start("sleeper")).unwrap();
    assert_eq!(runner.poll("boot").unwrap(), OpStatus::Done);
    // Gone mid-stop: the task killed from outside, as if someone else ended it.
    let disappear = |gone: bool| {
        if let (true, Ok(Some(pid))) = (gone, runner.pid("sleeper")) {
            let _ = Command::new("kill").args(["-s", "KILL", &pid.to_string()]).status();
        }
    };
    check_compute(&ComputeSubject {
        compute: &runner,
        clock: clock.as_ref(),
        host: local(),
        instance: "sleeper".into(),
        moves: None,
        disappear: Some(&disappear),
        wait: Wait { timeout: Duration::from_secs(15), interval: Duration::from_millis(20) },
    });
    assert_eq!(state(&runner, "bystander"), InstanceState::Stopped, "never started");
    let info = runner.instances(&local()).unwrap();
    assert_eq!(info.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["bystander", "sleeper"]);
    assert_eq!((info[1].cpus, info[1].memory_mib, info[1].movable), (0.01, 1.0, false));
    assert_eq!((info[0].cpus, info[0].memory_mib, info[0].cpu_use), (0.0, 0.0, None));
}

#[test]
fn a_task_that_ignores_sigterm_is_killed_after_the_grace_period() {
    let dir = TempTree::new("stubborn");
    let clock = Arc::new(ManualClock::new());
    let runner = ProcessRunner::new(local(), clock.clone());
    // SIGTERM ignored (and still ignored after exec); `ready` once the trap is set.
    let script = "trap '' TERM; echo > ready; exec /bin/sleep 600";
    runner.define(sh("stubborn", script).working_dir(&dir.root)).unwrap();
    runner.submit("up", &start("stubborn")).unwrap();
    until("the trap", || dir.path("ready").exists());
    let pid = runner.pid("stubborn").unwrap().unwrap();

    runner.submit("down", &stop("stubborn")).unwrap();
    SystemClock::new().sleep(Duration::from_millis(200));
    clock.advance(Duration::from_secs(9));
    assert_eq!(runner.poll("down").unwrap(), OpStatus::Pending, "SIGTERM ignored, in grace");
    assert!(!gone(pid));
    assert_eq!(state(&runner, "stubborn"), InstanceState::Running, "running until it exits");
    // In a stop, it takes no other operation.
    match runner.submit("again", &start("stubborn")) {
        Err(DriverError::Refused { reason, .. }) => {
            assert_eq!(reason, "stubborn is busy with operation down")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    clock.advance(Duration::from_secs(1));
    until("SIGKILL", || runner.poll("down").unwrap() == OpStatus::Done);
    assert!(gone(pid));
    assert_eq!(state(&runner, "stubborn"), InstanceState::Stopped);
    let exit = runner.last_exit("stubborn").unwrap().expect("an exit");
    assert_eq!(
        exit.to_string(),
        "signal: 9 (SIGKILL); stopped by down (SIGKILL after the 10 s grace period)"
    );
    assert_eq!(exit.seen_at, Duration::from_secs(10), "on the runner's clock");
}

#[test]
fn a_stop_reaches_the_processes_the_task_started() {
    let dir = TempTree::new("family");
    let runner = ProcessRunner::new(local(), Arc::new(SystemClock::new()));
    let script = "/bin/sleep 600 & echo $! > child.tmp; mv child.tmp child; wait";
    runner.define(sh("family", script).working_dir(&dir.root)).unwrap();
    runner.submit("up", &start("family")).unwrap();
    until("the child", || dir.path("child").exists());
    let child: u32 = fs::read_to_string(dir.path("child")).unwrap().trim().parse().unwrap();
    assert!(!gone(child));
    runner.submit("down", &stop("family")).unwrap();
    until("the stop", || runner.poll("down").unwrap() == OpStatus::Done);
    until("the task's child", || gone(child));
    let exit = runner.last_exit("family").unwrap().unwrap();
    assert_eq!(exit.to_string(), "signal: 15 (SIGTERM); stopped by down (SIGTERM)");
}

#[test]
fn an_exited_task_is_stopped_with_its_exit_status() {
    let runner = ProcessRunner::new(local(), Arc::new(SystemClock::new()));
    runner.define(sh("quick", "exit 3")).unwrap();
    assert_eq!(runner.last_exit("quick").unwrap(), None, "never ran");
    runner.submit("run", &start("quick")).unwrap();
    assert_eq!(runner.poll("run").unwrap(), OpStatus::Done, "done once spawned");
    until("the exit", || state(&runner, "quick") == InstanceState::Stopped);
    let exit = runner.last_exit("quick").unwrap().unwrap();
    assert_eq!(exit.status.and_then(|status| status.code()), Some(3));
    assert!(!exit.success());
    assert_eq!(exit.to_string(), "exit status: 3; exited on its own");
    // It can run again under a new ID; the old ID is done and stays so.
    runner.submit("run-again", &start("quick")).unwrap();
    runner.submit("run", &start("quick")).unwrap();
    until("the second exit", || state(&runner, "quick") == InstanceState::Stopped);
    assert!(matches!(runner.last_exit("nope"), Err(DriverError::UnknownInstance { .. })));
}

#[test]
fn a_task_that_cannot_start_fails_its_start_with_the_reason() {
    let runner = ProcessRunner::new(local(), Arc::new(SystemClock::new()));
    runner.define(TaskSpec::new("ghost", "/no/such/program")).unwrap();
    runner.define(sleep_task("lost").working_dir("/no/such/dir")).unwrap();
    runner.define(sleep_task("mute").log("/no/such/dir/log")).unwrap();
    for (task, reason) in [
        ("ghost", "cannot run /no/such/program: No such file or directory (os error 2)"),
        ("lost", "cannot run /bin/sleep in /no/such/dir: No such file or directory (os error 2)"),
        ("mute", "cannot open its log /no/such/dir/log: No such file or directory (os error 2)"),
    ] {
        runner.submit(task, &start(task)).unwrap();
        assert_eq!(runner.poll(task).unwrap(), OpStatus::Failed(reason.into()));
        assert_eq!(state(&runner, task), InstanceState::Stopped);
    }
}

#[test]
fn a_task_gets_only_its_own_environment_and_its_output_goes_to_its_log() {
    let dir = TempTree::new("env");
    let runner = ProcessRunner::new(local(), Arc::new(SystemClock::new()));
    let log = dir.path("task.log");
    let task = sh("env", "/usr/bin/env; echo oops >&2")
        .env("HEARTH_TASK", "yes")
        .working_dir(&dir.root)
        .log(&log);
    runner.define(task).unwrap();
    runner.submit("run", &start("env")).unwrap();
    until("the exit", || state(&runner, "env") == InstanceState::Stopped);
    let text = fs::read_to_string(&log).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    // dash adds PWD; nothing of the test process's environment (PATH, HOME…) comes through.
    assert_eq!(lines, ["HEARTH_TASK=yes", &format!("PWD={}", dir.root.display()), "oops"]);
}

#[test]
fn moves_are_refused_and_nothing_can_be_cancelled() {
    let runner = ProcessRunner::new(local(), Arc::new(SystemClock::new()));
    runner.define(sleep_task("t")).unwrap();
    let capabilities = runner.capabilities();
    assert!(!capabilities.live && !capabilities.cold && !capabilities.cancel);
    assert_eq!(capabilities.note, NO_MOVES);
    let op = ComputeOp::Move {
        instance: "t".into(),
        from: local(),
        to: "h2".into(),
        kind: MoveKind::Cold,
    };
    let err = runner.submit("m", &op).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cold move of t from local to h2: refused by process runner on local: local processes: \
         a task re-runs elsewhere through the pool, never moves"
    );
    assert!(matches!(runner.poll("m"), Err(DriverError::UnknownComputeOp { .. })));
    runner.submit("s", &stop("t")).unwrap();
    assert_eq!(runner.poll("s").unwrap(), OpStatus::Done, "stopping a stopped task");
    assert!(!runner.cancel("s").unwrap());
    let err = runner.instances(&HostId::new("h2")).unwrap_err();
    assert!(matches!(&err, DriverError::UnknownHost { host } if host.as_str() == "h2"), "{err}");
}

#[test]
fn definitions_are_checked() {
    let runner = ProcessRunner::new(local(), Arc::new(SystemClock::new()));
    runner.define(sleep_task("t")).unwrap();
    let message = |spec: TaskSpec| runner.define(spec).unwrap_err().to_string();
    assert_eq!(message(sleep_task("t")), "task t: already defined");
    assert_eq!(message(sleep_task(" ")), "task \" \": `id`: a task needs a name");
    assert_eq!(message(TaskSpec::new("p", "")), "task \"p\": `program`: a task needs a program");
    assert_eq!(
        message(sleep_task("c").hints(-1.0, 1.0)),
        "task \"c\": `cpus`: expected a number ≥ 0, got -1"
    );
    assert_eq!(
        message(sleep_task("m").hints(1.0, f64::NAN)),
        "task \"m\": `memory_mib`: expected a number ≥ 0, got NaN"
    );
    assert_eq!(
        message(sleep_task("e").env("A=B", "c")),
        "task \"e\": `env`: \"A=B\"=\"c\" is not a variable"
    );
    let spec: TaskSpec =
        serde_json::from_str(r#"{"id": "j", "program": "/bin/sleep", "args": ["1"]}"#).unwrap();
    assert_eq!(spec, TaskSpec::new("j", "/bin/sleep").args(["1"]));
    assert!(serde_json::from_str::<TaskSpec>(r#"{"id": "j", "program": "x", "cpu": 1}"#).is_err());

    runner.submit("up", &start("t")).unwrap();
    assert!(matches!(runner.undefine("t"), Err(TaskError::Running { .. })));
    runner.submit("down", &stop("t")).unwrap();
    until("the stop", || runner.poll("down").unwrap() == OpStatus::Done);
    assert_eq!(runner.undefine("t").unwrap(), sleep_task("t"));
    assert!(matches!(runner.undefine("t"), Err(TaskError::Unknown { .. })));
    assert_eq!(runner.poll("down").unwrap(), OpStatus::Done, "its operations stay pollable");
}

#[test]
fn dropping_the_runner_kills_its_tasks() {
    let runner = ProcessRunner::new(local(), Arc::new(SystemClock::new()));
    runner.define(sleep_task("orphan")).unwrap();
    runner.submit("up", &start("orphan")).unwrap();
    let pid = runner.pid("orphan").unwrap().unwrap();
    assert!(!gone(pid));
    drop(runner);
    until("the task", || gone(pid));
}
