//! The pool executor (agent::pool_exec) with the real launcher, `hearth pool-exec`, from the
//! built binary (issue 7, "Isolation and enforcement": a pool task runs as an unprivileged user
//! in its own working directory with CPU and memory limits, and the node reports which).
//!
//! Tests that need root (switching to `nobody`, cgroups) print why they skip when not root.
//! Each test uses its own agent id and state directory, so they run in parallel; the cgroup
//! tests expect what this host offers (cgroup2 when `/sys/fs/cgroup/cgroup.controllers` lists
//! cpu and memory, else cgroup1 when the v1 hierarchies are mounted, else rlimits).

use agent::pool_exec::{ExecConfig, ExecError, Executor, Isolation, RunningTask, TaskSpec};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;

fn is_root() -> bool {
    // The effective uid: the second field of /proc/self/status's `Uid:` line.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with("Uid:"))?;
            Some(line.split_whitespace().nth(2)? == "0")
        })
        .unwrap_or(false)
}

/// Whether a root-only test should skip (and says so).
fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("{test}: skipped: needs root (switching to the task user, cgroups)");
    true
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hearth-pool-exec-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The test's agent id: unique per test and per run.
fn agent_id(name: &str) -> String {
    format!("it-{}-{name}", std::process::id())
}

/// The test's state directory (its path; `config` makes it afresh).
fn state_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("hearth-pool-exec-{}-{name}", std::process::id()))
}

/// A configuration over the test's state directory as it is.
fn config_keep(name: &str) -> ExecConfig {
    ExecConfig {
        helper: PathBuf::from(env!("CARGO_BIN_EXE_hearth")),
        state_dir: state_dir(name),
        user: None,
        agent_id: agent_id(name),
    }
}

/// Removes a test's state directory (at its end; a failed test leaves it to look at).
fn tidy(name: &str) {
    let _ = std::fs::remove_dir_all(state_dir(name));
}

/// A configuration over a fresh, empty state directory.
fn config(name: &str) -> ExecConfig {
    scratch(name);
    config_keep(name)
}

fn executor(name: &str) -> Executor {
    Executor::new(config(name)).unwrap()
}

/// An executor without cgroups (the root given does not exist).
fn rlimits_executor(name: &str) -> Executor {
    let executor =
        Executor::with_cgroup_root(config(name), Path::new("/nonexistent/cgroup")).unwrap();
    assert_eq!(executor.isolation(), Isolation::Rlimits, "{}", executor.isolation_note());
    executor
}

fn spec(id: &str, argv: &[&str], cpu: f64, mem_mib: u64) -> TaskSpec {
    TaskSpec {
        id: id.to_string(),
        attempt: 1,
        argv: argv.iter().map(|arg| arg.to_string()).collect(),
        cpu,
        mem_mib,
    }
}

fn sh(id: &str, script: &str) -> TaskSpec {
    spec(id, &["sh", "-c", script], 1.0, 256)
}

/// What the host offers, judged from the mounted files (independently of the executor's probe).
fn expected_isolation() -> Isolation {
    let controllers = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers");
    let v2 = controllers.is_ok_and(|text| {
        let names: Vec<&str> = text.split_whitespace().collect();
        names.contains(&"cpu") && names.contains(&"memory")
    });
    if !is_root() {
        Isolation::Rlimits
    } else if v2 {
        Isolation::Cgroup2
    } else if Path::new("/sys/fs/cgroup/cpu/cgroup.procs").is_file()
        && Path::new("/sys/fs/cgroup/memory/cgroup.procs").is_file()
    {
        Isolation::Cgroup1
    } else {
        Isolation::Rlimits
    }
}

#[allow(clippy::disallowed_methods)] // a test waits for real processes on the real clock
fn pause(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// Polls until `done` holds, or fails the test after 20 s naming `what`.
#[allow(clippy::disallowed_methods)] // a test's deadline is wall time by definition
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        pause(10);
    }
}

/// Waits for the task to end, then for its output; returns the exit code, stdout and stderr.
fn finish(task: &mut RunningTask) -> (i32, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut code = None;
    wait_for("the task to end", || {
        let (o, e) = task.take_output();
        out.extend(o);
        err.extend(e);
        code = task.try_wait().unwrap();
        code.is_some()
    });
    wait_for("the task's output to end", || task.output_done());
    let (o, e) = task.take_output();
    out.extend(o);
    err.extend(e);
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    (code.unwrap(), text(out), text(err))
}

/// A process's state and process group, from /proc/<pid>/stat (None once it is gone).
fn proc_state(pid: u32) -> Option<(char, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = text[text.rfind(')')? + 1..].split_whitespace().collect();
    Some((fields.first()?.chars().next()?, fields.get(2)?.parse().ok()?))
}

fn alive(pid: u32) -> bool {
    proc_state(pid).is_some_and(|(state, _)| state != 'Z')
}

/// Live (not zombie) processes in process group `pgid`.
fn group_alive(pgid: u32) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|&pid| proc_state(pid).is_some_and(|(s, g)| g == pgid && s != 'Z'))
        .collect()
}

/// Live processes whose environment carries `entry` (the task's marker variable).
fn marked_alive(entry: &str) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|&pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|var| var == entry.as_bytes()))
                && alive(pid)
        })
        .collect()
}

fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect()
}

#[test]
fn a_task_runs_as_nobody_in_its_own_working_directory() {
    if skip_unless_root("a_task_runs_as_nobody_in_its_own_working_directory") {
        return;
    }
    let executor = executor("nobody");
    assert_eq!(executor.user(), ("nobody".to_string(), 65534, 65534));
    let script = "id -u; id -g; id -G; pwd; echo home=$HOME; stat -c '%u %a' .; env";
    let mut task = executor.start(&sh("who", script)).unwrap();
    let workdir = task.workdir().to_path_buf();
    assert_eq!(workdir, state_dir("nobody").join("tasks").join("who-1"));
    let (code, out, err) = finish(&mut task);
    assert_eq!(code, 0, "stderr: {err}");
    let lines: Vec<&str> = out.lines().collect();
    // uid, gid, no supplementary groups (root's are dropped), its own directory as cwd and HOME,
    // owned by nobody with mode 0700.
    assert_eq!(lines[..4], ["65534", "65534", "65534", workdir.to_str().unwrap()], "{out}");
    assert_eq!(lines[4], format!("home={}", workdir.display()));
    assert_eq!(lines[5], "65534 700");
    // The environment is cleared: the test's CARGO_* variables do not reach the task.
    assert!(std::env::vars().any(|(name, _)| name.starts_with("CARGO")));
    assert!(!out.contains("CARGO"), "{out}");
    assert!(out.contains("\nHEARTH_TASK_ID=who\n"), "{out}");
    assert!(!workdir.exists(), "{} outlived the task", workdir.display());
    tidy("nobody");
}

#[test]
fn exit_codes_pass_through() {
    let executor = executor("exit");
    for (id, script, expected) in
        [("seven", "exit 7", 7), ("zero", "true", 0), ("term", "kill -TERM $$", 128 + 15)]
    {
        let mut task = executor.start(&sh(id, script)).unwrap();
        let (code, _, err) = finish(&mut task);
        assert_eq!(code, expected, "{script}: stderr {err}");
    }
    tidy("exit");
}

#[test]
fn a_killed_task_reports_137_and_kill_is_idempotent() {
    let executor = executor("kill");
    let mut task = executor.start(&spec("sleeper", &["sleep", "100"], 1.0, 64)).unwrap();
    let (pid, workdir) = (task.pid(), task.workdir().to_path_buf());
    wait_for("the sleeper to exec", || {
        std::fs::read_link(format!("/proc/{pid}/exe"))
            .is_ok_and(|exe| exe.to_string_lossy().ends_with("sleep"))
    });
    assert_eq!(task.try_wait().unwrap(), None);
    task.kill();
    assert_eq!(task.try_wait().unwrap(), Some(137));
    task.kill();
    assert_eq!(task.try_wait().unwrap(), Some(137));
    assert!(!alive(pid));
    assert!(!workdir.exists());
    // The same attempt may start again once the first is gone.
    let mut again = executor.start(&spec("sleeper", &["true"], 1.0, 64)).unwrap();
    assert_eq!(finish(&mut again).0, 0);
    tidy("kill");
}

/// A task whose first process ends while a background process still runs.
fn check_an_ended_task_leaves_no_process_behind(executor: &Executor, id: &str) {
    // The background sleep keeps stdout open: the output only ends because it is killed.
    let mut task = executor.start(&sh(id, "sleep 100 & echo $!; exit 3")).unwrap();
    let pgid = task.pid();
    let (code, out, _) = finish(&mut task);
    assert_eq!(code, 3);
    let sleeper: u32 = out.trim().parse().unwrap();
    assert!(!alive(sleeper), "the background sleep {sleeper} outlived its task");
    assert!(group_alive(pgid).is_empty());
}

#[test]
fn an_ended_task_leaves_no_process_behind() {
    check_an_ended_task_leaves_no_process_behind(&executor("leftover"), "leftover");
    tidy("leftover");
}

#[test]
fn an_ended_task_leaves_no_process_behind_without_cgroups() {
    check_an_ended_task_leaves_no_process_behind(&rlimits_executor("leftover-rl"), "leftover-rl");
    tidy("leftover-rl");
}

#[test]
fn memory_above_the_limit_fails_and_below_it_works() {
    let executor = executor("memory");
    // GNU tail keeps a whole line in memory; /dev/zero has no newline.
    let small = "head -c 1000000 /dev/zero | tail -n 1 | wc -c";
    let mut task = executor.start(&spec("small", &["sh", "-c", small], 1.0, 32)).unwrap();
    let (code, out, err) = finish(&mut task);
    assert_eq!((code, out.trim()), (0, "1000000"), "stderr: {err}");
    let big = "head -c 200000000 /dev/zero | tail -n 1 > /dev/null";
    let mut task = executor.start(&spec("big", &["sh", "-c", big], 1.0, 32)).unwrap();
    let (code, _, err) = finish(&mut task);
    assert_ne!(code, 0, "200 MB held under a 32 MiB limit");
    // RLIMIT_AS makes the allocation fail (tail says so); a cgroup OOM kill would be 137.
    assert!(err.contains("memory exhausted") || code == 137, "exit {code}, stderr {err}");
    tidy("memory");
}

#[test]
fn the_cgroup_caps_memory_across_processes() {
    if skip_unless_root("the_cgroup_caps_memory_across_processes") {
        return;
    }
    let executor = executor("oom");
    if executor.isolation() == Isolation::Rlimits {
        eprintln!("the_cgroup_caps_memory_across_processes: skipped: no cgroups here");
        return;
    }
    // Three processes of 30 MB each: every one is under RLIMIT_AS (48 MiB per process), together
    // they are over the cgroup's 48 MiB, so the kernel kills one (128 + SIGKILL).
    let script =
        "for i in 1 2 3; do ( (head -c 30000000 /dev/zero; sleep 2) | tail -n 1 > /dev/null; \
                  echo \"tail $i: $?\" ) & done; wait";
    let mut task = executor.start(&spec("three", &["sh", "-c", script], 1.0, 48)).unwrap();
    let (code, out, err) = finish(&mut task);
    // cgroup1 kills the largest process; cgroup2's memory.oom.group kills the whole task.
    let one_killed = code == 0 && out.contains(": 137");
    let all_killed = executor.isolation() == Isolation::Cgroup2 && code == 137;
    assert!(one_killed || all_killed, "no tail was killed: exit {code}, {out} {err}");
    tidy("oom");
}

#[test]
fn stdout_and_stderr_are_captured_separately_and_completely() {
    let executor = executor("output");
    let script = "i=0; while [ $i -lt 5000 ]; do echo \"out $i\"; echo \"err $i\" >&2; \
                  i=$((i+1)); done";
    let mut task = executor.start(&sh("chatty", script)).unwrap();
    let (code, out, err) = finish(&mut task);
    assert_eq!(code, 0);
    let expected = |stream: &str| (0..5000).map(|i| format!("{stream} {i}\n")).collect::<String>();
    assert!(out == expected("out"), "stdout differs: {} bytes", out.len());
    assert!(err == expected("err"), "stderr differs: {} bytes", err.len());
    assert_eq!(task.dropped_output(), (0, 0));
    tidy("output");
}

#[test]
fn output_not_taken_is_capped_at_4_mib_and_the_rest_counted() {
    let executor = executor("cap");
    let mut task =
        executor.start(&spec("flood", &["head", "-c", "6000000", "/dev/zero"], 1.0, 64)).unwrap();
    // Not taking anything until the end: the reader keeps draining, so the task is not blocked.
    wait_for("the flood to end", || task.try_wait().unwrap().is_some());
    wait_for("its output to end", || task.output_done());
    let (out, err) = task.take_output();
    assert_eq!(out.len() as u64, 4 * MIB);
    assert!(err.is_empty());
    assert_eq!(task.dropped_output(), (6_000_000 - 4 * MIB, 0));
    assert_eq!(task.try_wait().unwrap(), Some(0));
    tidy("cap");
}

#[test]
fn a_missing_command_exits_127_with_the_reason_on_stderr() {
    let executor = executor("missing");
    let mut task = executor.start(&spec("ghost", &["no-such-command-hearth"], 1.0, 64)).unwrap();
    let (code, out, err) = finish(&mut task);
    assert_eq!(code, 127);
    assert!(out.is_empty());
    assert_eq!(
        err,
        "hearth pool-exec: cannot run `no-such-command-hearth`: No such file or directory (os \
         error 2)\n"
    );
    tidy("missing");
}

#[test]
fn the_node_reports_its_isolation_and_the_task_runs_in_its_cgroup() {
    let executor = executor("cgroup");
    let expected = expected_isolation();
    eprintln!("isolation: {} ({})", executor.isolation(), executor.isolation_note());
    assert_eq!(executor.isolation(), expected, "{}", executor.isolation_note());
    if expected == Isolation::Rlimits {
        eprintln!("the_node_reports_its_isolation_…: no cgroups here, nothing more to check");
        tidy("cgroup");
        return;
    }
    let agent_id = agent_id("cgroup");
    let mut task = executor.start(&spec("caged", &["sleep", "100"], 0.5, 96)).unwrap();
    let pid = task.pid();
    let suffix = format!("/hearth-pool/{agent_id}/caged-1");
    let cgroup_file = format!("/proc/{pid}/cgroup");
    // The launcher joins before exec: by the time `sleep` runs, the pid is in the cgroup.
    wait_for("the sleeper to exec", || {
        std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e.ends_with("sleep"))
    });
    let membership = std::fs::read_to_string(&cgroup_file).unwrap();
    let in_cgroup = |controller: &str| {
        membership.lines().any(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next(), parts.next(), parts.next());
            controllers.is_some_and(|c| c.split(',').any(|c| c == controller))
                && path.is_some_and(|p| p == suffix)
        })
    };
    let (cpu_dir, memory_dir) = if expected == Isolation::Cgroup1 {
        assert!(in_cgroup("cpu") && in_cgroup("memory"), "{membership}");
        let dir = |c: &str| PathBuf::from(format!("/sys/fs/cgroup/{c}{suffix}"));
        let (cpu, memory) = (dir("cpu"), dir("memory"));
        let read = |path: PathBuf| std::fs::read_to_string(path).unwrap().trim().to_string();
        assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "50000");
        assert_eq!(read(cpu.join("cpu.cfs_period_us")), "100000");
        assert_eq!(read(memory.join("memory.limit_in_bytes")), (96 * MIB).to_string());
        assert!(read(memory.join("cgroup.procs")).lines().any(|l| l == pid.to_string()));
        (cpu, memory)
    } else {
        assert!(membership.lines().any(|l| l == format!("0::{suffix}")), "{membership}");
        let dir = PathBuf::from(format!("/sys/fs/cgroup{suffix}"));
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap().trim().to_string();
        assert_eq!(read("cpu.max"), "50000 100000");
        assert_eq!(read("memory.max"), (96 * MIB).to_string());
        (dir.clone(), dir)
    };
    task.kill();
    assert_eq!(task.try_wait().unwrap(), Some(137));
    assert!(!cpu_dir.exists() && !memory_dir.exists(), "the task's cgroup outlived it");
    tidy("cgroup");
}

/// `sh` with two background sleeps, one of which leaves the process group (`setsid`).
fn check_kill_reaches_every_process(executor: &Executor, id: &str) {
    let agent_id = agent_id(id);
    let script = "sleep 100 & setsid sleep 100 & wait";
    let mut task = executor.start(&sh(id, script)).unwrap();
    let pgid = task.pid();
    let marker = format!("HEARTH_POOL_TASK={agent_id}/{id}-1");
    wait_for("sh and its two sleeps", || marked_alive(&marker).len() == 3);
    // The setsid sleep is in a process group of its own.
    assert_eq!(group_alive(pgid).len(), 2);
    task.kill();
    assert_eq!(task.try_wait().unwrap(), Some(137));
    assert_eq!(group_alive(pgid), Vec::<u32>::new(), "processes of the group survived kill");
    assert_eq!(marked_alive(&marker), Vec::<u32>::new(), "processes of the task survived kill");
}

#[test]
fn kill_reaches_the_tasks_children() {
    check_kill_reaches_every_process(&executor("children"), "children");
    tidy("children");
}

#[test]
fn kill_reaches_the_tasks_children_without_cgroups() {
    check_kill_reaches_every_process(&rlimits_executor("children-rl"), "children-rl");
    tidy("children-rl");
}

#[test]
fn usage_counts_cpu_time_and_the_cgroup_caps_it() {
    let executor = executor("usage");
    let busy = ["sh", "-c", "while :; do :; done"];
    let mut task = executor.start(&spec("spin", &busy, 0.2, 64)).unwrap();
    pause(1500);
    let usage = task.usage();
    task.kill();
    assert!(usage.cpu_seconds > 0.02, "{usage:?}");
    assert!(usage.rss_mib > 0.0, "{usage:?}");
    if executor.isolation() == Isolation::Rlimits {
        eprintln!("usage_…: rlimits only, the CPU share is not capped: {usage:?}");
    } else {
        // 0.2 cores for 1.5 s is 0.3 s of CPU; uncapped it would be up to 1.5 s.
        assert!(usage.cpu_seconds < 0.5, "the CPU cap did not hold: {usage:?}");
    }
    // After the end, the last reading stays.
    assert!(task.usage().cpu_seconds >= usage.cpu_seconds);
    // A task that ends by itself: its CPU time is read before its cgroup goes (or, without one,
    // from its first process before it is reaped).
    let count = "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done";
    let mut task = executor.start(&sh("count", count)).unwrap();
    let (code, _, _) = finish(&mut task);
    assert_eq!(code, 0);
    assert!(task.usage().cpu_seconds > 0.02, "{:?}", task.usage());
    tidy("usage");
}

#[test]
fn bad_input_is_refused_with_what_and_where() {
    let executor = executor("bad");
    let err = executor.start(&sh("../escape", "true")).unwrap_err();
    assert!(matches!(err, ExecError::BadName { what: "task id", .. }), "{err}");
    let err = executor.start(&spec("nocmd", &[], 1.0, 64)).unwrap_err();
    assert_eq!(err.to_string(), "task `nocmd` attempt 1: no command (argv is empty)");
    let err = executor.start(&spec("nomem", &["true"], 1.0, 0)).unwrap_err();
    assert!(err.to_string().contains("mem_mib 0 is out of range"), "{err}");

    let _running = executor.start(&spec("twice", &["sleep", "100"], 1.0, 64)).unwrap();
    let err = executor.start(&spec("twice", &["true"], 1.0, 64)).unwrap_err();
    assert_eq!(err.to_string(), "task `twice` attempt 1 is already running on this executor");

    let mut root = config("bad-root");
    root.user = Some("root".to_string());
    let err = Executor::new(root).unwrap_err();
    assert!(matches!(&err, ExecError::RootUser { uid: 0, .. }), "{err}");
    let mut bad_agent = config("bad-agent");
    bad_agent.agent_id = "a/b".to_string();
    assert!(matches!(Executor::new(bad_agent), Err(ExecError::BadName { what: "agent id", .. })));
    let mut no_helper = config("bad-helper");
    no_helper.helper = PathBuf::from("/nonexistent/hearth");
    let err = Executor::new(no_helper).unwrap_err();
    assert!(err.to_string().starts_with("the pool-exec helper /nonexistent/hearth: "), "{err}");
    for name in ["bad", "bad-root", "bad-agent", "bad-helper"] {
        tidy(name);
    }
}

#[test]
fn cgroup2_delegation_and_limits_on_a_fake_tree() {
    // A directory shaped like a cgroup2 mount: the executor's writes land in plain files.
    let root = scratch("fake-cgroup2");
    let config = config("fake-v2");
    let agent = root.join("hearth-pool").join(&config.agent_id);
    let task_dir = agent.join("job-1");
    std::fs::create_dir_all(&task_dir).unwrap();
    std::fs::write(root.join("cgroup.controllers"), "cpuset cpu io memory pids\n").unwrap();
    for dir in [&root, &root.join("hearth-pool"), &agent] {
        std::fs::write(dir.join("cgroup.subtree_control"), "").unwrap();
    }
    std::fs::write(task_dir.join("memory.swap.max"), "max\n").unwrap();
    std::fs::write(task_dir.join("memory.oom.group"), "0\n").unwrap();
    let executor = Executor::with_cgroup_root(config, &root).unwrap();
    assert_eq!(executor.isolation(), Isolation::Cgroup2, "{}", executor.isolation_note());
    let mut task = executor.start(&spec("job", &["sh", "-c", "echo hi"], 0.5, 64)).unwrap();
    let pid = task.pid();
    let (code, out, err) = finish(&mut task);
    assert_eq!((code, out.as_str()), (0, "hi\n"), "stderr: {err}");
    let read = |path: PathBuf| std::fs::read_to_string(path).unwrap();
    for dir in [&root, &root.join("hearth-pool"), &agent] {
        assert_eq!(read(dir.join("cgroup.subtree_control")), "+cpu +memory", "{}", dir.display());
    }
    assert_eq!(read(task_dir.join("cpu.max")), "50000 100000");
    assert_eq!(read(task_dir.join("memory.max")), (64 * MIB).to_string());
    assert_eq!(read(task_dir.join("memory.swap.max")), "0");
    assert_eq!(read(task_dir.join("memory.oom.group")), "1");
    // The launcher wrote its own pid, the task's, before it became the task.
    assert_eq!(read(task_dir.join("cgroup.procs")), pid.to_string());
    drop(task);
    drop(executor);
    std::fs::remove_dir_all(&root).unwrap();
    tidy("fake-v2");
}

#[test]
fn reclaim_removes_what_a_crashed_agent_left() {
    let first = executor("reclaim");
    let task = first.start(&spec("orphan", &["sleep", "100"], 1.0, 64)).unwrap();
    let (pid, workdir) = (task.pid(), task.workdir().to_path_buf());
    wait_for("the orphan to exec", || {
        std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e.ends_with("sleep"))
    });
    // The agent dies without killing its task.
    std::mem::forget(task);
    drop(first);
    assert!(alive(pid) && workdir.exists());
    let second = Executor::new(config_keep("reclaim")).unwrap();
    let reclaimed = second.reclaim();
    assert!(reclaimed >= 2, "reclaimed {reclaimed}: the task's processes and its directory");
    assert!(!alive(pid), "the orphan {pid} survived reclaim");
    assert!(!workdir.exists());
    if second.isolation() == Isolation::Cgroup1 {
        let dir = format!("/sys/fs/cgroup/memory/hearth-pool/{}/orphan-1", agent_id("reclaim"));
        assert!(!Path::new(&dir).exists(), "{dir} survived reclaim");
    }
    assert_eq!(second.reclaim(), 0);
    tidy("reclaim");
}
