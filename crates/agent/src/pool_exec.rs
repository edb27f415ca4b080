//! The pool task executor: runs a pool task as an unprivileged user, in its own working
//! directory, under CPU and memory limits, captures its output, and kills and cleans up after it
//! (issue 7, "Isolation and enforcement").
//!
//! Read in this order: the vocabulary ([`ExecConfig`], [`Isolation`], [`TaskSpec`],
//! [`TaskUsage`], [`ExecError`]); [`Executor::new`] (the task user from `/etc/passwd`, the
//! isolation probe, the state directory); [`Executor::start`] (working directory, cgroup, the
//! launcher); [`RunningTask`] (exit, kill, output, usage); then [`launch`], the privileged
//! launcher that `hearth pool-exec` runs, and the private helpers (cgroup files, `/proc`).
//!
//! **Placement without a race.** [`Executor::start`] makes the task's cgroup, then spawns
//! `HELPER pool-exec --workdir DIR --uid U --gid G --cgroup-procs FILE… --mem-bytes N --cpu F --
//! ARGV…` in a new process group. The launcher ([`launch`]) writes its own pid into each
//! `cgroup.procs`, sets `RLIMIT_AS` and `RLIMIT_CORE`, sets `no_new_privs`, clears the
//! environment, and replaces itself with the task (`exec`) as the task user in the working
//! directory. So the task is inside its cgroup before its first instruction, and every process
//! it forks inherits the cgroup, the process group and the limits.
//!
//! **Isolation modes** ([`Isolation`], probed once by [`Executor::new`]):
//! - `cgroup2`: `/sys/fs/cgroup/cgroup.controllers` lists `cpu` and `memory` and the agent can
//!   make `hearth-pool/<agent_id>` there (enabling both controllers down the path). Per task:
//!   `cpu.max` = `<cpu × 100000> 100000`, `memory.max`, `memory.swap.max` = 0 and
//!   `memory.oom.group` = 1 where present; `cgroup.kill` kills it.
//! - `cgroup1`: `/sys/fs/cgroup/cpu` and `/sys/fs/cgroup/memory` are v1 hierarchies the agent
//!   can write. Per task: `cpu.cfs_period_us` = 100000 and `cpu.cfs_quota_us`,
//!   `memory.limit_in_bytes` and `memory.memsw.limit_in_bytes` (no swap) where present, and a
//!   `cpuacct` group for the CPU time when that controller is mounted apart from `cpu`.
//! - `rlimits`: neither. The memory cap is `RLIMIT_AS`, per process; **the CPU share is not
//!   capped**, only accounted ([`RunningTask::usage`] from `/proc`). The process group, and
//!   processes that still carry the task's `HEARTH_POOL_TASK` marker variable, are what kill
//!   reaches: a task process that leaves its process group and clears its environment escapes.
//!
//! In every mode the launcher also sets `RLIMIT_AS` to the memory limit (a second fence in the
//! cgroup modes; it limits address space, so programs that reserve much more than they use, like
//! JVMs or Go programs, need a larger limit) and `RLIMIT_CORE` to 0.
//!
//! **Guarantees.** Tasks never run as uid 0 or gid 0 (refused by [`Executor::new`] and again by
//! [`launch`]), never gain privileges through set-user-ID programs (`no_new_privs`), and see only
//! `PATH` (the agent's, less the directories the task user cannot search), `LANG`, `HOME` and
//! `TMPDIR` (both the working directory) and the `HEARTH_TASK_*` variables. A task ends when its
//! first process ends: the executor then kills what is left of it, reaps it, and removes its
//! cgroup and working directory. [`RunningTask::kill`] and drop do the same at once.
//!
//! **Assumptions.** The agent is the only writer of its `hearth-pool/<agent_id>` subtree and of
//! `state_dir/tasks`; every ancestor of `state_dir/tasks` is searchable by the task user
//! ([`Executor::new`] checks); pids are not recycled within the microseconds between reading a
//! `cgroup.procs` file and opening a pidfd for each pid in it.
//!
//! **Caveats.** [`RunningTask::kill`] blocks until the task's first process has died (SIGKILL,
//! so at once unless it is stuck in the kernel) and waits at most about half a second per pass
//! for the others. A cgroup that cannot be removed yet is retried on every later call and on
//! drop; what a crashed agent left behind, [`Executor::reclaim`] removes. Nothing limits the
//! number of processes (no `pids` controller): a fork bomb is held only by the CPU and memory
//! limits. The launcher's own failures show as the task's exit code: [`EXIT_LAUNCH_FAILED`]
//! (125) when it failed before trying the command, [`EXIT_CANNOT_RUN`] (127) when the command
//! could not be run, each with a `hearth pool-exec: …` line on the task's stderr.
//!
//! **Errors** ([`ExecError`]) name the task, the path and the user involved.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fmt;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};

use rustix::process::{Pid, Signal};

// ---------------------------------------------------------------------------------------------
// Vocabulary

/// Where cgroup file systems are mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The user database the task user is looked up in.
pub const PASSWD_PATH: &str = "/etc/passwd";

/// The directory under the cgroup root (and under each v1 hierarchy) that holds every agent's
/// task cgroups: `hearth-pool/<agent_id>/<task>-<attempt>`.
pub const CGROUP_DIR: &str = "hearth-pool";

/// The most not-yet-taken bytes [`RunningTask`] keeps per stream; more is dropped and counted
/// ([`RunningTask::dropped_output`]).
pub const OUTPUT_CAP_BYTES: usize = 4 * 1024 * 1024;

/// The exit code of a task whose launcher failed before running it (could not join its cgroup,
/// set its limits or switch user): the node's fault, not the task's.
pub const EXIT_LAUNCH_FAILED: i32 = 125;

/// The exit code of a task whose command could not be run (not found, not executable).
pub const EXIT_CANNOT_RUN: i32 = 127;

/// The environment variable that marks every process of a task (`<agent_id>/<task>-<attempt>`),
/// so the `rlimits` mode can find processes that left the task's process group.
pub const MARKER_VAR: &str = "HEARTH_POOL_TASK";

/// The `PATH` a task gets when the agent has none.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The exit code of a task killed by SIGKILL: 128 + 9.
const EXIT_KILLED: i32 = 128 + 9;

/// The CFS period the CPU limit is expressed in, microseconds.
const CPU_PERIOD_US: u64 = 100_000;

/// The largest CPU limit a task may ask for, in cores.
const MAX_CPUS: f64 = 4096.0;

/// The largest memory limit a task may ask for: 1 PiB, in MiB.
const MAX_MEM_MIB: u64 = 1 << 30;

/// The longest task id or agent id, in bytes.
const MAX_NAME_LEN: usize = 128;

/// How the executor was configured.
#[derive(Clone, Debug)]
pub struct ExecConfig {
    /// The `hearth` binary: the executor runs `helper pool-exec …` to launch each task.
    pub helper: PathBuf,
    /// The agent's state directory: working directories go under `state_dir/tasks/`.
    pub state_dir: PathBuf,
    /// The user tasks run as; `None` means `nobody` when the agent runs as root, the agent's
    /// own user otherwise.
    pub user: Option<String>,
    /// Names this agent's cgroup subtree, `hearth-pool/<agent_id>` (several agents may share a
    /// host, in tests).
    pub agent_id: String,
}

/// How a node confines its pool tasks (the node reports which).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// cgroup v2: CPU and memory capped for the task as a whole.
    Cgroup2,
    /// cgroup v1 (`cpu`, `memory`, and `cpuacct` when apart): CPU and memory capped for the
    /// task as a whole.
    Cgroup1,
    /// Resource limits only: memory capped per process (`RLIMIT_AS`); the CPU share is only
    /// accounted, not capped.
    Rlimits,
}

impl fmt::Display for Isolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Isolation::Cgroup2 => "cgroup2",
            Isolation::Cgroup1 => "cgroup1",
            Isolation::Rlimits => "rlimits",
        })
    }
}

/// One attempt at running a task.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskSpec {
    /// The task's id: 1 to 128 of `A-Z a-z 0-9 . _ -`, not starting with `.` or `-`.
    pub id: String,
    /// Which attempt this is (a retry elsewhere is a new attempt).
    pub attempt: u32,
    /// The command and its arguments; `argv[0]` is looked up in `PATH`.
    pub argv: Vec<String>,
    /// The CPU limit, in cores (0.5 = half a core), more than 0 and at most 4096.
    pub cpu: f64,
    /// The memory limit, MiB, at least 1.
    pub mem_mib: u64,
}

/// What a task has used so far (best effort).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TaskUsage {
    /// CPU time, seconds: the cgroup's accounting (`cpu.stat` `usage_usec`, `cpuacct.usage`), or
    /// the sum of `utime + stime + cutime + cstime` of the task's processes in `/proc`.
    pub cpu_seconds: f64,
    /// Resident memory, MiB: the cgroup's anonymous and mapped file memory (`memory.stat`), or
    /// the sum of the processes' resident sets.
    pub rss_mib: f64,
}

/// Why the executor could not be set up, or a task could not be started or waited for.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// An agent id or task id that cannot name a directory safely.
    #[error("{what} {value:?} is not a valid name: {reason}")]
    BadName {
        /// What the name is (`task id`, `agent id`).
        what: &'static str,
        /// The rejected value.
        value: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The user database could not be read.
    #[error("cannot read the user database {}: {source}", path.display())]
    Passwd {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The task user's line in the user database is malformed.
    #[error("{}:{line}: the entry of user `{user}` is malformed: {problem}", path.display())]
    BadPasswdEntry {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// The user.
        user: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The task user does not exist.
    #[error("task user `{user}` is not in {}", path.display())]
    UnknownUser {
        /// The user asked for.
        user: String,
        /// The user database.
        path: PathBuf,
    },
    /// The task user is root (uid 0) or in root's group (gid 0): tasks never run as root.
    #[error(
        "refusing task user `{user}` (uid {uid}, gid {gid}): tasks never run as root or in \
         root's group"
    )]
    RootUser {
        /// The user.
        user: String,
        /// Its uid.
        uid: u32,
        /// Its gid.
        gid: u32,
    },
    /// The agent is not root and the task user is another user.
    #[error(
        "the agent runs as uid {agent_uid} gid {agent_gid} and cannot run tasks as `{user}` \
         (uid {uid} gid {gid}); run the agent as root or leave the task user unset"
    )]
    CannotSwitchUser {
        /// The task user.
        user: String,
        /// Its uid.
        uid: u32,
        /// Its gid.
        gid: u32,
        /// The agent's effective uid.
        agent_uid: u32,
        /// The agent's effective gid.
        agent_gid: u32,
    },
    /// The helper binary is missing or not a file.
    #[error("the pool-exec helper {}: {problem}", path.display())]
    Helper {
        /// The configured helper.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The state directory (or its `tasks` folder) could not be made.
    #[error("cannot create the state directory {}: {source}", path.display())]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The task user could not reach its working directories.
    #[error("task user `{user}` (uid {uid}) cannot reach {}: {problem}", path.display())]
    Unreachable {
        /// The task user.
        user: String,
        /// Its uid.
        uid: u32,
        /// The directory it cannot search.
        path: PathBuf,
        /// Why.
        problem: String,
    },
    /// The task's spec breaks a rule (no command, a CPU or memory limit out of range).
    #[error("task `{task}` attempt {attempt}: {problem}")]
    BadSpec {
        /// The task id.
        task: String,
        /// The attempt.
        attempt: u32,
        /// What is wrong.
        problem: String,
    },
    /// The same task attempt is already running on this executor.
    #[error("task `{task}` attempt {attempt} is already running on this executor")]
    AlreadyRunning {
        /// The task id.
        task: String,
        /// The attempt.
        attempt: u32,
    },
    /// The task's working directory could not be prepared.
    #[error(
        "task `{task}` attempt {attempt}: working directory {}: cannot {action}: {source}",
        path.display()
    )]
    Workdir {
        /// The task id.
        task: String,
        /// The attempt.
        attempt: u32,
        /// The directory.
        path: PathBuf,
        /// What failed (`create`, `chown to uid 65534`).
        action: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The task's cgroup could not be made or configured.
    #[error(
        "task `{task}` attempt {attempt}: cgroup {}: cannot {action}: {source}",
        path.display()
    )]
    Cgroup {
        /// The task id.
        task: String,
        /// The attempt.
        attempt: u32,
        /// The directory or file.
        path: PathBuf,
        /// What failed (`create`, `write "50000"`).
        action: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The launcher could not be started.
    #[error(
        "task `{task}` attempt {attempt}: cannot start the helper {}: {source}",
        helper.display()
    )]
    Spawn {
        /// The task id.
        task: String,
        /// The attempt.
        attempt: u32,
        /// The helper binary.
        helper: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The task's process could not be waited for.
    #[error("task `{task}` attempt {attempt} (pid {pid}): cannot wait for it: {source}")]
    Wait {
        /// The task id.
        task: String,
        /// The attempt.
        attempt: u32,
        /// Its first process.
        pid: u32,
        /// The underlying error.
        source: io::Error,
    },
}

// ---------------------------------------------------------------------------------------------
// The task user

/// The user tasks run as.
#[derive(Clone, Debug, PartialEq, Eq)]
struct TaskUser {
    name: String,
    uid: u32,
    gid: u32,
}

/// One line of `/etc/passwd`: the fields the executor needs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
}

/// What to look a user up by.
#[derive(Clone, Copy, Debug)]
enum Lookup<'a> {
    Name(&'a str),
    Uid(u32),
}

/// Finds a user in the text of `/etc/passwd` (`name:password:uid:gid:gecos:home:shell`).
/// Blank lines, comments and NIS `+`/`-` lines are skipped; a malformed line is an error only
/// if it belongs to the user looked up (by name), and skipped otherwise. `path` names the file.
fn find_passwd_entry(
    text: &str,
    lookup: Lookup<'_>,
    path: &Path,
) -> Result<Option<PasswdEntry>, ExecError> {
    for (idx, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') || line.starts_with(['+', '-']) {
            continue;
        }
        let fields: Vec<&str> = line.split(':').collect();
        let name = fields[0];
        let mine = matches!(lookup, Lookup::Name(wanted) if wanted == name);
        let bad = |problem: String| ExecError::BadPasswdEntry {
            path: path.to_path_buf(),
            line: idx + 1,
            user: name.to_string(),
            problem,
        };
        let parsed = parse_passwd_fields(&fields);
        match (parsed, lookup) {
            (Ok(entry), Lookup::Name(wanted)) if entry.name == wanted => return Ok(Some(entry)),
            (Ok(entry), Lookup::Uid(uid)) if entry.uid == uid => return Ok(Some(entry)),
            (Ok(_), _) => {}
            (Err(problem), _) if mine => return Err(bad(problem)),
            (Err(_), _) => {}
        }
    }
    Ok(None)
}

/// Parses the fields of one passwd line.
fn parse_passwd_fields(fields: &[&str]) -> Result<PasswdEntry, String> {
    if fields.len() < 4 {
        return Err(format!("{} fields, expected 7 (name:password:uid:gid:…)", fields.len()));
    }
    let id = |what: &str, text: &str| -> Result<u32, String> {
        match text.parse::<u32>() {
            // (uid_t)-1 means "no id" to the kernel.
            Ok(u32::MAX) | Err(_) => Err(format!("{what} {text:?} is not a valid id")),
            Ok(value) => Ok(value),
        }
    };
    if fields[0].is_empty() {
        return Err("empty user name".to_string());
    }
    Ok(PasswdEntry {
        name: fields[0].to_string(),
        uid: id("uid", fields[2])?,
        gid: id("gid", fields[3])?,
    })
}

/// Decides the task user: `wanted`, or `nobody` for a root agent, or the agent's own user.
/// Refuses uid 0 and gid 0, and a user a non-root agent cannot switch to. Pure: the caller
/// passes the agent's effective ids and the user database's text.
fn resolve_user(
    wanted: Option<&str>,
    agent_uid: u32,
    agent_gid: u32,
    passwd: &str,
    passwd_path: &Path,
) -> Result<TaskUser, ExecError> {
    let user = match wanted {
        None if agent_uid != 0 => {
            // The agent's own user, even when the database does not list it (a container).
            let name = find_passwd_entry(passwd, Lookup::Uid(agent_uid), passwd_path)?
                .map_or_else(|| agent_uid.to_string(), |entry| entry.name);
            TaskUser { name, uid: agent_uid, gid: agent_gid }
        }
        _ => {
            let name = wanted.unwrap_or("nobody");
            let entry =
                find_passwd_entry(passwd, Lookup::Name(name), passwd_path)?.ok_or_else(|| {
                    ExecError::UnknownUser { user: name.to_string(), path: passwd_path.into() }
                })?;
            TaskUser { name: entry.name, uid: entry.uid, gid: entry.gid }
        }
    };
    if user.uid == 0 || user.gid == 0 {
        return Err(ExecError::RootUser { user: user.name, uid: user.uid, gid: user.gid });
    }
    if agent_uid != 0 && (user.uid != agent_uid || user.gid != agent_gid) {
        return Err(ExecError::CannotSwitchUser {
            user: user.name,
            uid: user.uid,
            gid: user.gid,
            agent_uid,
            agent_gid,
        });
    }
    Ok(user)
}

/// Checks that `value` can name a directory: 1 to 128 bytes of `A-Z a-z 0-9 . _ -`, not
/// starting with `.` or `-` (so never `.`, `..`, a hidden file or an option).
fn validate_name(what: &'static str, value: &str) -> Result<(), ExecError> {
    let bad = |reason| Err(ExecError::BadName { what, value: value.to_string(), reason });
    if value.is_empty() {
        return bad("it is empty");
    }
    if value.len() > MAX_NAME_LEN {
        return bad("it is longer than 128 bytes");
    }
    if value.starts_with(['.', '-']) {
        return bad("it starts with `.` or `-`");
    }
    if !value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        return bad("only A-Z, a-z, 0-9, `.`, `_` and `-` are allowed");
    }
    Ok(())
}

/// Checks that `uid`/`gid` (with no supplementary groups) may search every directory from `/`
/// down to `dir`: the task's `chdir` into its working directory happens after it switched user.
fn check_reachable(user: &TaskUser, dir: &Path) -> Result<(), ExecError> {
    searchable_by(dir, user.uid, user.gid).map_err(|(path, problem)| ExecError::Unreachable {
        user: user.name.clone(),
        uid: user.uid,
        path,
        problem,
    })
}

/// Whether `uid`/`gid` (no supplementary groups) may search `dir` and each of its ancestors,
/// judged by the mode bits; else the first directory it may not search, and why.
fn searchable_by(dir: &Path, uid: u32, gid: u32) -> Result<(), (PathBuf, String)> {
    let absolute = std::path::absolute(dir).map_err(|err| (dir.to_path_buf(), err.to_string()))?;
    for ancestor in absolute.ancestors() {
        let meta =
            std::fs::metadata(ancestor).map_err(|err| (ancestor.to_path_buf(), err.to_string()))?;
        let mode = meta.mode();
        let searchable = if meta.uid() == uid {
            mode & 0o100 != 0
        } else if meta.gid() == gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !searchable {
            let problem = format!(
                "mode {:04o}, owner uid {} gid {}: not searchable by the task user",
                mode & 0o7777,
                meta.uid(),
                meta.gid()
            );
            return Err((ancestor.to_path_buf(), problem));
        }
    }
    Ok(())
}

/// The entries of `path` (a `PATH` value) that the task user can use: absolute directories it
/// can search. The agent's own `PATH` may name directories only its user can enter (`~/.cargo/bin`
/// of root); searching those would make a missing command fail with "Permission denied" instead
/// of "No such file or directory", and a relative entry would look up commands in the task's
/// working directory.
fn task_path(path: &std::ffi::OsStr, uid: u32, gid: u32) -> OsString {
    let kept: Vec<PathBuf> = std::env::split_paths(path)
        .filter(|dir| dir.is_absolute() && dir.is_dir() && searchable_by(dir, uid, gid).is_ok())
        .collect();
    std::env::join_paths(kept).unwrap_or_else(|_| OsString::from(DEFAULT_PATH))
}

// ---------------------------------------------------------------------------------------------
// The executor

/// Where this agent's task cgroups live.
#[derive(Clone, Debug)]
enum Layout {
    /// cgroup v2: `levels` are the directories from the root down to the agent's, each of which
    /// must delegate `cpu` and `memory` to its children.
    V2 { levels: Vec<PathBuf> },
    /// cgroup v1: the agent's directory in each hierarchy.
    V1 { cpu: PathBuf, memory: PathBuf, cpuacct: Option<PathBuf> },
    /// No cgroups.
    None,
}

impl Layout {
    /// The agent-level directories the executor made (removed, if empty, on drop).
    fn agent_dirs(&self) -> Vec<PathBuf> {
        match self {
            Layout::V2 { levels } => levels.last().cloned().into_iter().collect(),
            Layout::V1 { cpu, memory, cpuacct } => {
                let mut dirs = vec![cpu.clone(), memory.clone()];
                dirs.extend(cpuacct.clone());
                dirs
            }
            Layout::None => Vec::new(),
        }
    }
}

/// Launches pool tasks on this node (see the module doc).
#[derive(Debug)]
pub struct Executor {
    config: ExecConfig,
    user: TaskUser,
    agent_uid: u32,
    isolation: Isolation,
    isolation_note: String,
    layout: Layout,
    tasks_dir: PathBuf,
    live: Arc<Mutex<HashSet<String>>>,
}

impl Executor {
    /// Sets up the executor: resolves the task user from `/etc/passwd` (refusing uid 0 and gid
    /// 0), probes the isolation mode under `/sys/fs/cgroup`, creates `state_dir/tasks` (mode
    /// 0711) and checks that the task user can reach it.
    pub fn new(config: ExecConfig) -> Result<Executor, ExecError> {
        Executor::with_cgroup_root(config, Path::new(CGROUP_ROOT))
    }

    /// As [`Executor::new`], with the cgroup file systems under `cgroup_root` instead of
    /// `/sys/fs/cgroup` (a host that mounts them elsewhere; tests, which point it at a fake tree
    /// or at a path that does not exist to get the `rlimits` mode).
    pub fn with_cgroup_root(config: ExecConfig, cgroup_root: &Path) -> Result<Executor, ExecError> {
        validate_name("agent id", &config.agent_id)?;
        let passwd_path = Path::new(PASSWD_PATH);
        let passwd = std::fs::read_to_string(passwd_path)
            .map_err(|source| ExecError::Passwd { path: passwd_path.into(), source })?;
        let agent_uid = rustix::process::geteuid().as_raw();
        let agent_gid = rustix::process::getegid().as_raw();
        let user =
            resolve_user(config.user.as_deref(), agent_uid, agent_gid, &passwd, passwd_path)?;
        match std::fs::metadata(&config.helper) {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => {
                return Err(ExecError::Helper {
                    path: config.helper.clone(),
                    problem: "not a file".to_string(),
                })
            }
            Err(err) => {
                return Err(ExecError::Helper {
                    path: config.helper.clone(),
                    problem: err.to_string(),
                })
            }
        }
        let tasks_dir = config.state_dir.join("tasks");
        let state_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ExecError::StateDir { path, source }
        };
        std::fs::create_dir_all(&config.state_dir).map_err(state_err(&config.state_dir))?;
        match std::fs::DirBuilder::new().mode(0o711).create(&tasks_dir) {
            Ok(()) => std::fs::set_permissions(&tasks_dir, std::fs::Permissions::from_mode(0o711))
                .map_err(state_err(&tasks_dir))?,
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(state_err(&tasks_dir)(err)),
        }
        if user.uid != agent_uid {
            check_reachable(&user, &tasks_dir)?;
        }
        let (layout, isolation_note) = probe(cgroup_root, &config.agent_id);
        let isolation = match layout {
            Layout::V2 { .. } => Isolation::Cgroup2,
            Layout::V1 { .. } => Isolation::Cgroup1,
            Layout::None => Isolation::Rlimits,
        };
        Ok(Executor {
            config,
            user,
            agent_uid,
            isolation,
            isolation_note,
            layout,
            tasks_dir,
            live: Arc::new(Mutex::new(HashSet::new())),
        })
    }

    /// How this node confines its tasks.
    pub fn isolation(&self) -> Isolation {
        self.isolation
    }

    /// Where the isolation's cgroups are, or why a stronger mode was not available (for the
    /// node's report and the operator).
    pub fn isolation_note(&self) -> &str {
        &self.isolation_note
    }

    /// The task user: name, uid, gid.
    pub fn user(&self) -> (String, u32, u32) {
        (self.user.name.clone(), self.user.uid, self.user.gid)
    }

    /// Starts one attempt of a task: makes its working directory `state_dir/tasks/<id>-<attempt>`
    /// (mode 0700, owned by the task user) and its cgroup, then spawns the launcher with stdin
    /// from `/dev/null` and stdout and stderr captured. Refuses a spec that breaks a rule and an
    /// attempt that is already running here; a leftover directory of the same attempt (from an
    /// agent that crashed) is replaced.
    pub fn start(&self, spec: &TaskSpec) -> Result<RunningTask, ExecError> {
        validate_name("task id", &spec.id)?;
        let limits = validate_spec(spec)?;
        let name = format!("{}-{}", spec.id, spec.attempt);
        if !lock(&self.live).insert(name.clone()) {
            return Err(ExecError::AlreadyRunning { task: spec.id.clone(), attempt: spec.attempt });
        }
        let started = self.start_registered(spec, &name, limits);
        if started.is_err() {
            lock(&self.live).remove(&name);
        }
        started
    }

    fn start_registered(
        &self,
        spec: &TaskSpec,
        name: &str,
        limits: Limits,
    ) -> Result<RunningTask, ExecError> {
        let workdir = self.tasks_dir.join(name);
        self.make_workdir(spec, &workdir)?;
        let marker = format!("{}/{name}", self.config.agent_id);
        let cgroup = match TaskCgroup::create(&self.layout, name, limits) {
            Ok(cgroup) => cgroup,
            Err((path, action, source)) => {
                let _ = remove_tree(&workdir, self.agent_uid == 0);
                return Err(ExecError::Cgroup {
                    task: spec.id.clone(),
                    attempt: spec.attempt,
                    path,
                    action,
                    source,
                });
            }
        };
        let mut command = Command::new(&self.config.helper);
        command.arg("pool-exec").arg("--workdir").arg(&workdir).args([
            "--uid",
            &self.user.uid.to_string(),
            "--gid",
            &self.user.gid.to_string(),
        ]);
        for procs in cgroup.iter().flat_map(TaskCgroup::procs_files) {
            command.arg("--cgroup-procs").arg(procs);
        }
        command
            .args(["--mem-bytes", &limits.mem_bytes.to_string()])
            .args(["--cpu", &spec.cpu.to_string()])
            .args(["--task-id", &spec.id, "--attempt", &spec.attempt.to_string()])
            .args(["--marker", &marker])
            .arg("--")
            .args(&spec.argv)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(source) => {
                if let Some(cgroup) = &cgroup {
                    let _ = cgroup.remove();
                }
                let _ = remove_tree(&workdir, self.agent_uid == 0);
                return Err(ExecError::Spawn {
                    task: spec.id.clone(),
                    attempt: spec.attempt,
                    helper: self.config.helper.clone(),
                    source,
                });
            }
        };
        let stdout = Arc::new(Mutex::new(OutBuf::default()));
        let stderr = Arc::new(Mutex::new(OutBuf::default()));
        pump(child.stdout.take(), &stdout, &format!("{name}-stdout"));
        pump(child.stderr.take(), &stderr, &format!("{name}-stderr"));
        let pid = child.id();
        Ok(RunningTask {
            id: spec.id.clone(),
            attempt: spec.attempt,
            name: name.to_string(),
            marker,
            pid,
            child,
            exit: None,
            task_uid: self.user.uid,
            agent_is_root: self.agent_uid == 0,
            cgroup,
            workdir,
            workdir_removed: false,
            stdout,
            stderr,
            usage: TaskUsage::default(),
            live: Arc::clone(&self.live),
            registered: true,
        })
    }

    fn make_workdir(&self, spec: &TaskSpec, workdir: &Path) -> Result<(), ExecError> {
        let fail = |action: String, source| ExecError::Workdir {
            task: spec.id.clone(),
            attempt: spec.attempt,
            path: workdir.to_path_buf(),
            action,
            source,
        };
        if std::fs::symlink_metadata(workdir).is_ok() {
            remove_tree(workdir, self.agent_uid == 0)
                .map_err(|err| fail("remove the leftover of an earlier run".into(), err))?;
        }
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(workdir)
            .map_err(|err| fail("create".into(), err))?;
        let owned = (|| {
            if self.user.uid != self.agent_uid {
                rustix::fs::chown(
                    workdir,
                    Some(rustix::fs::Uid::from_raw(self.user.uid)),
                    Some(rustix::fs::Gid::from_raw(self.user.gid)),
                )
                .map_err(io::Error::from)?;
            }
            std::fs::set_permissions(workdir, std::fs::Permissions::from_mode(0o700))
        })();
        owned.map_err(|err| {
            let _ = std::fs::remove_dir(workdir);
            fail(
                format!(
                    "chown to uid {} gid {} (user `{}`)",
                    self.user.uid, self.user.gid, self.user.name
                ),
                err,
            )
        })
    }

    /// Removes what an earlier run of this agent left behind: kills the processes in leftover
    /// task cgroups under `hearth-pool/<agent_id>` (in the `rlimits` mode, processes marked as
    /// this agent's tasks), removes those cgroups and every working directory in
    /// `state_dir/tasks` that no task of this executor is using. Call it once at start-up, before
    /// the first [`Executor::start`]; never while another executor with the same agent id and
    /// state directory runs. Returns how many leftovers (cgroups, directories, processes) it
    /// removed; what it could not remove stays for the next call.
    pub fn reclaim(&self) -> usize {
        let live = lock(&self.live).clone();
        let mut removed = 0;
        for agent_dir in self.layout.agent_dirs() {
            let Ok(entries) = std::fs::read_dir(&agent_dir) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if !path.is_dir() || live.contains(&name) {
                    continue;
                }
                let leftover = TaskCgroup::leftover(&self.layout, &path);
                leftover.kill_all();
                if leftover.remove().is_ok() {
                    removed += 1;
                }
            }
        }
        if self.isolation == Isolation::Rlimits {
            let prefix = format!("{MARKER_VAR}={}/", self.config.agent_id);
            let live_markers: Vec<String> =
                live.iter().map(|name| format!("{prefix}{name}")).collect();
            let pids: Vec<u32> = marked_processes(prefix.as_bytes(), self.user.uid, true)
                .into_iter()
                .filter(|(_, entry)| !live_markers.iter().any(|m| m.as_bytes() == entry.as_slice()))
                .map(|(pid, _)| pid)
                .collect();
            removed += pids.len();
            kill_and_wait(&pids, None);
        }
        if let Ok(entries) = std::fs::read_dir(&self.tasks_dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !live.contains(&name) && remove_tree(&entry.path(), self.agent_uid == 0).is_ok()
                {
                    removed += 1;
                }
            }
        }
        removed
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        // Only succeeds when empty: tasks that outlive the executor keep their parents.
        for dir in self.layout.agent_dirs() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// A task's limits in the units the kernel takes.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Limits {
    cpu_quota_us: u64,
    mem_bytes: u64,
}

/// Checks a spec's command and limits, and converts the limits.
fn validate_spec(spec: &TaskSpec) -> Result<Limits, ExecError> {
    let bad = |problem: String| ExecError::BadSpec {
        task: spec.id.clone(),
        attempt: spec.attempt,
        problem,
    };
    match spec.argv.first() {
        None => return Err(bad("no command (argv is empty)".into())),
        Some(program) if program.is_empty() => return Err(bad("the command is empty".into())),
        _ => {}
    }
    if let Some(arg) = spec.argv.iter().find(|arg| arg.contains('\0')) {
        return Err(bad(format!("argument {arg:?} contains a NUL byte")));
    }
    if !(spec.cpu.is_finite() && spec.cpu > 0.0 && spec.cpu <= MAX_CPUS) {
        return Err(bad(format!(
            "cpu {} is out of range (more than 0, at most 4096 cores)",
            spec.cpu
        )));
    }
    if spec.mem_mib == 0 || spec.mem_mib > MAX_MEM_MIB {
        return Err(bad(format!("mem_mib {} is out of range (1 to {MAX_MEM_MIB})", spec.mem_mib)));
    }
    Ok(Limits { cpu_quota_us: cpu_quota_us(spec.cpu), mem_bytes: spec.mem_mib * 1024 * 1024 })
}

/// The CFS quota for `cpu` cores per [`CPU_PERIOD_US`]: at least 1000 µs, the kernel's minimum.
fn cpu_quota_us(cpu: f64) -> u64 {
    ((cpu * CPU_PERIOD_US as f64).round() as u64).max(1000)
}

// ---------------------------------------------------------------------------------------------
// Cgroups

/// Finds the strongest isolation under `root` and makes the agent's cgroup directories.
/// Returns the layout and a note: where the cgroups are, or why each stronger mode failed.
fn probe(root: &Path, agent_id: &str) -> (Layout, String) {
    let mut why_not = Vec::new();
    match probe_v2(root, agent_id) {
        Ok(layout) => {
            let note = format!("cgroup2 at {}", root.join(CGROUP_DIR).join(agent_id).display());
            return (layout, note);
        }
        Err(err) => why_not.push(format!("no cgroup2 ({err})")),
    }
    match probe_v1(root, agent_id) {
        Ok(layout) => {
            let note = match &layout {
                Layout::V1 { cpu, memory, cpuacct } => format!(
                    "cgroup1 at {}, {}{}",
                    cpu.display(),
                    memory.display(),
                    cpuacct.as_ref().map_or(String::new(), |dir| format!(", {}", dir.display()))
                ),
                _ => "cgroup1".to_string(),
            };
            return (layout, note);
        }
        Err(err) => why_not.push(format!("no cgroup1 ({err})")),
    }
    (Layout::None, format!("rlimits: {}", why_not.join("; ")))
}

fn probe_v2(root: &Path, agent_id: &str) -> Result<Layout, String> {
    let controllers_file = root.join("cgroup.controllers");
    let controllers = std::fs::read_to_string(&controllers_file)
        .map_err(|err| format!("{}: {err}", controllers_file.display()))?;
    let has = |name: &str| controllers.split_whitespace().any(|c| c == name);
    if !(has("cpu") && has("memory")) {
        return Err(format!(
            "{} lists {:?}, not both cpu and memory",
            controllers_file.display(),
            controllers.trim()
        ));
    }
    let levels =
        vec![root.to_path_buf(), root.join(CGROUP_DIR), root.join(CGROUP_DIR).join(agent_id)];
    ensure_v2_levels(&levels)
        .map_err(|(path, action, err)| format!("{}: cannot {action}: {err}", path.display()))?;
    Ok(Layout::V2 { levels })
}

/// Makes each level below the root and delegates `cpu` and `memory` from each level to its
/// children (the root's `cgroup.subtree_control` included).
fn ensure_v2_levels(levels: &[PathBuf]) -> Result<(), (PathBuf, String, io::Error)> {
    for (idx, level) in levels.iter().enumerate() {
        if idx > 0 {
            make_cgroup_dir(level)?;
        }
        let control = level.join("cgroup.subtree_control");
        let current = std::fs::read_to_string(&control)
            .map_err(|err| (control.clone(), "read".to_string(), err))?;
        let enabled = |name: &str| current.split_whitespace().any(|c| c == name);
        if !(enabled("cpu") && enabled("memory")) {
            write_file(&control, "+cpu +memory")?;
        }
    }
    Ok(())
}

fn probe_v1(root: &Path, agent_id: &str) -> Result<Layout, String> {
    let agent_dir = |controller: &str| -> Result<PathBuf, String> {
        let hierarchy = root.join(controller);
        if !hierarchy.join("cgroup.procs").is_file() {
            return Err(format!("{} is not a cgroup hierarchy", hierarchy.display()));
        }
        let dir = hierarchy.join(CGROUP_DIR).join(agent_id);
        std::fs::create_dir_all(&dir)
            .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
        Ok(dir)
    };
    let cpu = agent_dir("cpu")?;
    let memory = agent_dir("memory")?;
    // cpuacct is often mounted with cpu (then cpu's directories have cpuacct.usage).
    let cpuacct =
        if cpu.join("cpuacct.usage").is_file() { None } else { agent_dir("cpuacct").ok() };
    Ok(Layout::V1 { cpu, memory, cpuacct })
}

/// Makes a cgroup directory (and its parents); an existing one is fine.
fn make_cgroup_dir(dir: &Path) -> Result<(), (PathBuf, String, io::Error)> {
    std::fs::create_dir_all(dir).map_err(|err| (dir.to_path_buf(), "create".to_string(), err))
}

/// Writes a cgroup control file.
fn write_file(path: &Path, value: &str) -> Result<(), (PathBuf, String, io::Error)> {
    std::fs::write(path, value).map_err(|err| (path.to_path_buf(), format!("write {value:?}"), err))
}

/// Where a task's CPU time is accounted.
#[derive(Clone, Debug)]
enum CpuAccount {
    /// cgroup v2 `cpu.stat`, `usage_usec`.
    CpuStat(PathBuf),
    /// cgroup v1 `cpuacct.usage`, nanoseconds.
    CpuacctNs(PathBuf),
    /// Not in a cgroup: `/proc`.
    Proc,
}

/// One task's cgroup directories (one in v2, one per hierarchy in v1).
#[derive(Clone, Debug)]
struct TaskCgroup {
    dirs: Vec<PathBuf>,
    cpu: CpuAccount,
    memory_stat: PathBuf,
    /// Whether `memory.stat` uses the v2 names (`anon`, `file_mapped`) or v1's (`rss`,
    /// `mapped_file`).
    v2: bool,
}

impl TaskCgroup {
    /// Makes and configures a task's cgroup; `None` in the `rlimits` mode. On failure, removes
    /// what it made and returns the path, the action and the error.
    fn create(
        layout: &Layout,
        name: &str,
        limits: Limits,
    ) -> Result<Option<TaskCgroup>, (PathBuf, String, io::Error)> {
        let cgroup = match layout {
            Layout::None => return Ok(None),
            Layout::V2 { levels } => {
                // Re-assert the delegation: another agent's executor may have removed and
                // re-made `hearth-pool`.
                ensure_v2_levels(levels)?;
                let Some(agent_dir) = levels.last() else {
                    return Ok(None);
                };
                let dir = agent_dir.join(name);
                TaskCgroup {
                    cpu: CpuAccount::CpuStat(dir.join("cpu.stat")),
                    memory_stat: dir.join("memory.stat"),
                    dirs: vec![dir],
                    v2: true,
                }
            }
            Layout::V1 { cpu, memory, cpuacct } => {
                let cpu_dir = cpu.join(name);
                let account = match cpuacct {
                    Some(dir) => CpuAccount::CpuacctNs(dir.join(name).join("cpuacct.usage")),
                    None => CpuAccount::CpuacctNs(cpu_dir.join("cpuacct.usage")),
                };
                let mut dirs = vec![cpu_dir, memory.join(name)];
                dirs.extend(cpuacct.as_ref().map(|dir| dir.join(name)));
                TaskCgroup {
                    cpu: account,
                    memory_stat: memory.join(name).join("memory.stat"),
                    dirs,
                    v2: false,
                }
            }
        };
        // A leftover of the same attempt (an agent that crashed): empty it and start afresh.
        if cgroup.dirs.iter().any(|dir| dir.exists()) {
            cgroup.kill_all();
            let _ = cgroup.remove();
        }
        let configured = cgroup.configure(limits);
        if configured.is_err() {
            let _ = cgroup.remove();
        }
        configured.map(|()| Some(cgroup))
    }

    fn configure(&self, limits: Limits) -> Result<(), (PathBuf, String, io::Error)> {
        for dir in &self.dirs {
            make_cgroup_dir(dir)?;
        }
        let quota = limits.cpu_quota_us.to_string();
        let bytes = limits.mem_bytes.to_string();
        if self.v2 {
            let dir = &self.dirs[0];
            write_file(&dir.join("cpu.max"), &format!("{quota} {CPU_PERIOD_US}"))?;
            write_file(&dir.join("memory.max"), &bytes)?;
            write_if_present(&dir.join("memory.swap.max"), "0")?;
            write_if_present(&dir.join("memory.oom.group"), "1")?;
        } else {
            let (cpu, memory) = (&self.dirs[0], &self.dirs[1]);
            write_file(&cpu.join("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string())?;
            write_file(&cpu.join("cpu.cfs_quota_us"), &quota)?;
            write_file(&memory.join("memory.limit_in_bytes"), &bytes)?;
            // Memory plus swap, when swap accounting is on: no swap (after the memory limit,
            // which it may not be below).
            write_if_present(&memory.join("memory.memsw.limit_in_bytes"), &bytes)?;
        }
        Ok(())
    }

    /// A leftover task cgroup found under an agent directory of `layout` (for reclaim): the
    /// same name in every hierarchy.
    fn leftover(layout: &Layout, path: &Path) -> TaskCgroup {
        let name = path.file_name().map(OsString::from).unwrap_or_default();
        let dirs: Vec<PathBuf> = match layout {
            Layout::V1 { .. } => layout.agent_dirs().iter().map(|dir| dir.join(&name)).collect(),
            _ => vec![path.to_path_buf()],
        };
        TaskCgroup {
            cpu: CpuAccount::Proc,
            memory_stat: path.join("memory.stat"),
            dirs,
            v2: matches!(layout, Layout::V2 { .. }),
        }
    }

    /// The `cgroup.procs` files the launcher writes its pid into.
    fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|dir| dir.join("cgroup.procs")).collect()
    }

    /// The pids in the cgroup (in any of its hierarchies).
    fn members(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self
            .procs_files()
            .iter()
            .filter_map(|file| std::fs::read_to_string(file).ok())
            .flat_map(|text| {
                text.lines().filter_map(|line| line.trim().parse().ok()).collect::<Vec<u32>>()
            })
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Kills every process in the cgroup and waits (bounded) for them to die: `cgroup.kill`
    /// where the kernel has it, then SIGKILL through a pidfd to each listed pid, a few passes to
    /// catch processes forked meanwhile.
    fn kill_all(&self) {
        if self.v2 {
            let _ = write_if_present(&self.dirs[0].join("cgroup.kill"), "1");
        }
        for _ in 0..5 {
            let pids = self.members();
            if pids.is_empty() {
                return;
            }
            kill_and_wait(&pids, None);
        }
    }

    /// Removes the cgroup's directories (`rmdir`: a cgroup's files go with it); busy ones
    /// are emptied (killed) and retried once.
    fn remove(&self) -> io::Result<()> {
        let mut result = Ok(());
        for dir in &self.dirs {
            let removed = match std::fs::remove_dir(dir) {
                Err(err) if err.raw_os_error() == Some(rustix::io::Errno::BUSY.raw_os_error()) => {
                    self.kill_all();
                    std::fs::remove_dir(dir)
                }
                other => other,
            };
            match removed {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => result = Err(err),
            }
        }
        result
    }

    /// The cgroup's CPU time and resident memory, where its files say.
    fn usage(&self) -> (Option<f64>, Option<f64>) {
        let cpu_seconds = match &self.cpu {
            CpuAccount::CpuStat(path) => std::fs::read_to_string(path)
                .ok()
                .and_then(|text| stat_field(&text, "usage_usec"))
                .map(|usec| usec as f64 / 1e6),
            CpuAccount::CpuacctNs(path) => std::fs::read_to_string(path)
                .ok()
                .and_then(|text| text.trim().parse::<u64>().ok())
                .map(|ns| ns as f64 / 1e9),
            CpuAccount::Proc => None,
        };
        let (anon, mapped) = if self.v2 { ("anon", "file_mapped") } else { ("rss", "mapped_file") };
        let rss_mib = std::fs::read_to_string(&self.memory_stat).ok().and_then(|text| {
            let bytes = stat_field(&text, anon)? + stat_field(&text, mapped).unwrap_or(0);
            Some(bytes as f64 / (1024.0 * 1024.0))
        });
        (cpu_seconds, rss_mib)
    }
}

/// Writes a control file that some kernels lack; a missing file is fine.
fn write_if_present(path: &Path, value: &str) -> Result<(), (PathBuf, String, io::Error)> {
    if path.exists() {
        write_file(path, value)?;
    }
    Ok(())
}

/// A `key value` line's value in a cgroup stat file (`cpu.stat`, `memory.stat`).
fn stat_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(' ')?;
        (name == key).then(|| value.trim().parse().ok()).flatten()
    })
}

// ---------------------------------------------------------------------------------------------
// Processes

/// Sends SIGKILL to each pid (through a pidfd, so a pid that was recycled after the pidfd was
/// opened is never hit) and waits until they have all exited, at most about half a second
/// without progress. `skip` is a pid not to wait for (the caller reaps it).
fn kill_and_wait(pids: &[u32], skip: Option<u32>) {
    let own = std::process::id();
    let mut pidfds: Vec<OwnedFd> = Vec::new();
    for &raw in pids {
        if raw <= 1 || raw == own {
            continue;
        }
        let Some(pid) = i32::try_from(raw).ok().and_then(Pid::from_raw) else { continue };
        match rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) {
            Ok(fd) => {
                let _ = rustix::process::pidfd_send_signal(&fd, Signal::KILL);
                if Some(raw) != skip {
                    pidfds.push(fd);
                }
            }
            // Gone already.
            Err(rustix::io::Errno::SRCH) => {}
            // A kernel without pidfds: a plain kill, no wait.
            Err(_) => {
                let _ = rustix::process::kill_process(pid, Signal::KILL);
            }
        }
    }
    wait_exited(pidfds);
}

/// Waits until every pidfd is readable (its process has exited), giving up after half a second
/// without any of them exiting.
fn wait_exited(mut pidfds: Vec<OwnedFd>) {
    let timeout = rustix::event::Timespec { tv_sec: 0, tv_nsec: 500_000_000 };
    while !pidfds.is_empty() {
        let ready: Vec<bool> = {
            let mut polled: Vec<rustix::event::PollFd<'_>> = pidfds
                .iter()
                .map(|fd| rustix::event::PollFd::new(fd, rustix::event::PollFlags::IN))
                .collect();
            match rustix::event::poll(&mut polled, Some(&timeout)) {
                Ok(0) => return,
                Ok(_) => polled.iter().map(|p| !p.revents().is_empty()).collect(),
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return,
            }
        };
        let mut flags = ready.into_iter();
        pidfds.retain(|_| !flags.next().unwrap_or(true));
    }
}

/// The fields of `/proc/<pid>/stat` the executor uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ProcStat {
    state: char,
    pgrp: i64,
    /// utime + stime + cutime + cstime, clock ticks.
    cpu_ticks: u64,
    rss_pages: u64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) may hold spaces and parentheses, so
/// the fields are counted from the last `)`.
fn parse_proc_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); field n is fields[n - 3].
    let num = |n: usize| fields.get(n - 3)?.parse::<i64>().ok();
    let ticks = |n: usize| num(n).and_then(|v| u64::try_from(v).ok());
    Some(ProcStat {
        state: fields.first()?.chars().next()?,
        pgrp: num(5)?,
        cpu_ticks: ticks(14)? + ticks(15)? + ticks(16)? + ticks(17)?,
        rss_pages: ticks(24)?,
    })
}

/// Every pid in `/proc`.
fn all_pids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries.flatten().filter_map(|entry| entry.file_name().to_str()?.parse().ok()).collect()
}

/// The live (not zombie) processes in process group `pgid`.
fn group_members(pgid: u32) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|text| parse_proc_stat(&text))
                .is_some_and(|stat| stat.pgrp == i64::from(pgid) && stat.state != 'Z')
        })
        .collect()
}

/// Processes of user `uid` whose environment holds `entry` exactly (or, with `prefix`, an
/// entry starting with it), with the matching entry.
fn marked_processes(entry: &[u8], uid: u32, prefix: bool) -> Vec<(u32, Vec<u8>)> {
    all_pids()
        .into_iter()
        .filter(|pid| std::fs::metadata(format!("/proc/{pid}")).is_ok_and(|m| m.uid() == uid))
        .filter_map(|pid| {
            let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
            let found = environ
                .split(|&b| b == 0)
                .find(|var| if prefix { var.starts_with(entry) } else { *var == entry })?
                .to_vec();
            Some((pid, found))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Running tasks

/// Output read from one of a task's pipes and not yet taken.
#[derive(Debug, Default)]
struct OutBuf {
    data: Vec<u8>,
    dropped: u64,
    eof: bool,
}

/// Locks a mutex whose holder cannot have panicked mid-update (the executor's critical
/// sections do not panic); a poisoned one is used as is.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts a thread that reads `pipe` into `buf` until end of file, keeping at most
/// [`OUTPUT_CAP_BYTES`] not yet taken and counting the rest.
fn pump<R: Read + Send + 'static>(pipe: Option<R>, buf: &Arc<Mutex<OutBuf>>, name: &str) {
    let Some(mut pipe) = pipe else {
        lock(buf).eof = true;
        return;
    };
    let shared = Arc::clone(buf);
    let spawned = std::thread::Builder::new().name(name.to_string()).spawn(move || {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    let mut out = lock(&shared);
                    let keep = n.min(OUTPUT_CAP_BYTES.saturating_sub(out.data.len()));
                    out.data.extend_from_slice(&chunk[..keep]);
                    out.dropped += (n - keep) as u64;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        lock(&shared).eof = true;
    });
    if spawned.is_err() {
        // No thread: the pipe is closed when the closure is dropped; the task sees EPIPE.
        lock(buf).eof = true;
    }
}

/// A started task attempt. Dropping it kills the task.
#[derive(Debug)]
pub struct RunningTask {
    id: String,
    attempt: u32,
    name: String,
    marker: String,
    pid: u32,
    child: Child,
    exit: Option<i32>,
    task_uid: u32,
    agent_is_root: bool,
    cgroup: Option<TaskCgroup>,
    workdir: PathBuf,
    workdir_removed: bool,
    stdout: Arc<Mutex<OutBuf>>,
    stderr: Arc<Mutex<OutBuf>>,
    usage: TaskUsage,
    live: Arc<Mutex<HashSet<String>>>,
    registered: bool,
}

impl RunningTask {
    /// The task's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The attempt.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The pid of the task's first process (its process group id too).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The task's working directory (removed once the task has ended).
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// `None` while the task's first process runs; then its exit code, or 128 + the signal
    /// that killed it. When it has ended, the rest of the task's processes are killed, and its
    /// cgroup and working directory removed (retried on later calls if the kernel was not done).
    pub fn try_wait(&mut self) -> Result<Option<i32>, ExecError> {
        if self.exit.is_none() {
            let Some(pid) = self.rustix_pid() else {
                return Err(self.wait_error(io::Error::other("pid out of range")));
            };
            // Look without reaping: while the first process is unreaped its pid, and so the
            // process group id, cannot be recycled, so the group kill below hits only the task.
            let options = rustix::process::WaitIdOptions::EXITED
                | rustix::process::WaitIdOptions::NOHANG
                | rustix::process::WaitIdOptions::NOWAIT;
            match rustix::process::waitid(rustix::process::WaitId::Pid(pid), options) {
                Ok(None) => return Ok(None),
                Ok(Some(_)) => {}
                Err(errno) => return Err(self.wait_error(errno.into())),
            }
            self.kill_rest(pid);
            let status = self.child.wait().map_err(|err| self.wait_error(err))?;
            self.exit = Some(exit_code(status));
        }
        self.clean_up();
        Ok(self.exit)
    }

    /// Kills the task: SIGKILL to its process group and every process in its cgroup (in the
    /// `rlimits` mode, every process carrying its marker), reaps it, and removes its cgroup and
    /// working directory. Idempotent; never panics. The exit code [`RunningTask::try_wait`]
    /// then reports is 137 (128 + SIGKILL) unless the task had ended before.
    pub fn kill(&mut self) {
        if self.exit.is_none() {
            if let Some(pid) = self.rustix_pid() {
                self.kill_rest(pid);
            }
            let _ = self.child.kill();
            self.exit = Some(match self.child.wait() {
                Ok(status) => exit_code(status),
                Err(_) => EXIT_KILLED,
            });
        }
        self.clean_up();
    }

    /// The stdout and stderr bytes the task wrote since the previous call. Each stream keeps at
    /// most [`OUTPUT_CAP_BYTES`] between calls; more is dropped and counted
    /// ([`RunningTask::dropped_output`]).
    pub fn take_output(&mut self) -> (Vec<u8>, Vec<u8>) {
        let out = std::mem::take(&mut lock(&self.stdout).data);
        let err = std::mem::take(&mut lock(&self.stderr).data);
        (out, err)
    }

    /// Whether both pipes reached end of file: after the task ended, one more
    /// [`RunningTask::take_output`] gets everything. (A process that escaped the task and holds
    /// a pipe open keeps this false.)
    pub fn output_done(&self) -> bool {
        lock(&self.stdout).eof && lock(&self.stderr).eof
    }

    /// Bytes of stdout and stderr dropped because the task wrote more than
    /// [`OUTPUT_CAP_BYTES`] between two [`RunningTask::take_output`] calls.
    pub fn dropped_output(&self) -> (u64, u64) {
        (lock(&self.stdout).dropped, lock(&self.stderr).dropped)
    }

    /// What the task has used (best effort, see [`TaskUsage`]); after it ended, the last
    /// reading taken before its cgroup was removed.
    pub fn usage(&self) -> TaskUsage {
        if self.exit.is_some() {
            return self.usage;
        }
        self.read_usage(self.usage)
    }

    /// Reads the usage now; `floor` keeps the CPU time from going backwards when a process
    /// that `/proc` accounted for has gone.
    fn read_usage(&self, floor: TaskUsage) -> TaskUsage {
        let (mut cpu_seconds, mut rss_mib) =
            self.cgroup.as_ref().map_or((None, None), TaskCgroup::usage);
        if cpu_seconds.is_none() || rss_mib.is_none() {
            let mut pids =
                self.cgroup.as_ref().map_or_else(|| group_members(self.pid), TaskCgroup::members);
            // The first process, even as a zombie: until it is reaped, its stat holds its own
            // CPU time and that of the children it waited for.
            if !pids.contains(&self.pid) {
                pids.push(self.pid);
            }
            let stats: Vec<ProcStat> = pids
                .iter()
                .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
                .filter_map(|text| parse_proc_stat(&text))
                .collect();
            let ticks_per_s = rustix::param::clock_ticks_per_second().max(1) as f64;
            let page_mib = rustix::param::page_size() as f64 / (1024.0 * 1024.0);
            cpu_seconds = cpu_seconds
                .or(Some(stats.iter().map(|s| s.cpu_ticks).sum::<u64>() as f64 / ticks_per_s));
            rss_mib =
                rss_mib.or(Some(stats.iter().map(|s| s.rss_pages).sum::<u64>() as f64 * page_mib));
        }
        TaskUsage {
            cpu_seconds: cpu_seconds.unwrap_or(0.0).max(floor.cpu_seconds),
            rss_mib: rss_mib.unwrap_or(0.0),
        }
    }

    fn rustix_pid(&self) -> Option<Pid> {
        i32::try_from(self.pid).ok().and_then(Pid::from_raw)
    }

    fn wait_error(&self, source: io::Error) -> ExecError {
        ExecError::Wait { task: self.id.clone(), attempt: self.attempt, pid: self.pid, source }
    }

    /// Kills every process of the task but its (unreaped) first one, which gets SIGKILL too
    /// and is left for the caller to reap. Takes a last usage reading first.
    fn kill_rest(&mut self, pid: Pid) {
        self.usage = self.read_usage(self.usage);
        // The first process is unreaped, so the group id is still the task's.
        let _ = rustix::process::kill_process_group(pid, Signal::KILL);
        match &self.cgroup {
            Some(cgroup) => {
                for _ in 0..5 {
                    let pids: Vec<u32> =
                        cgroup.members().into_iter().filter(|&p| p != self.pid).collect();
                    if pids.is_empty() {
                        break;
                    }
                    kill_and_wait(&pids, Some(self.pid));
                }
            }
            None => {
                for _ in 0..5 {
                    let mut pids = group_members(self.pid);
                    let entry = format!("{MARKER_VAR}={}", self.marker);
                    pids.extend(
                        marked_processes(entry.as_bytes(), self.task_uid, false)
                            .into_iter()
                            .map(|(pid, _)| pid),
                    );
                    pids.retain(|&p| p != self.pid);
                    if pids.is_empty() {
                        break;
                    }
                    kill_and_wait(&pids, Some(self.pid));
                }
            }
        }
    }

    /// Removes the cgroup (after a last reading of its CPU time) and the working directory once
    /// the task has been reaped; what fails stays for the next call.
    fn clean_up(&mut self) {
        if self.cgroup.is_some() {
            // The cgroup's CPU time includes every process that has died: read it last.
            self.usage.cpu_seconds = self.read_usage(self.usage).cpu_seconds;
        }
        if let Some(cgroup) = &self.cgroup {
            if cgroup.remove().is_ok() {
                self.cgroup = None;
            }
        }
        if !self.workdir_removed && remove_tree(&self.workdir, self.agent_is_root).is_ok() {
            self.workdir_removed = true;
        }
        if self.registered && self.cgroup.is_none() && self.workdir_removed {
            lock(&self.live).remove(&self.name);
            self.registered = false;
        }
    }
}

impl Drop for RunningTask {
    fn drop(&mut self) {
        self.kill();
        if self.registered {
            lock(&self.live).remove(&self.name);
        }
    }
}

/// The exit code of a process: its code, or 128 + the signal that killed it.
fn exit_code(status: ExitStatus) -> i32 {
    status.code().or_else(|| status.signal().map(|sig| 128 + sig)).unwrap_or(-1)
}

/// Removes a working directory and everything in it; a missing one is fine. Without root, a
/// directory the task made unwritable or unsearchable (`chmod 0`) is made accessible first; as
/// root, permissions do not stop the removal and nothing is chmod-ed (a task could have swapped
/// a directory for a symlink to anywhere).
fn remove_tree(dir: &Path, as_root: bool) -> io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) if as_root => Err(err),
        Err(_) => {
            open_up(dir);
            match std::fs::remove_dir_all(dir) {
                Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
                other => other,
            }
        }
    }
}

/// Gives the owner full access to every directory under `dir` (not following symlinks).
fn open_up(dir: &Path) {
    let is_dir = std::fs::symlink_metadata(dir).is_ok_and(|meta| meta.file_type().is_dir());
    if !is_dir {
        return;
    }
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            open_up(&entry.path());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The launcher

/// What `hearth pool-exec` is asked to do: run `argv` as `uid`/`gid` in `workdir`, inside the
/// cgroups whose `cgroup.procs` files are listed, under the limits.
#[derive(Clone, Debug, PartialEq)]
pub struct LaunchArgs {
    /// The task's working directory: its current directory, `HOME` and `TMPDIR`.
    pub workdir: PathBuf,
    /// The user id to run as (must not be 0).
    pub uid: u32,
    /// The group id to run as (must not be 0).
    pub gid: u32,
    /// `cgroup.procs` files to write the launcher's pid into, before anything else.
    pub cgroup_procs: Vec<PathBuf>,
    /// `RLIMIT_AS` (soft and hard), bytes.
    pub mem_bytes: Option<u64>,
    /// The CPU limit in cores, exported to the task as `HEARTH_TASK_CPUS`.
    pub cpu: Option<f64>,
    /// The task id, exported as `HEARTH_TASK_ID`.
    pub task_id: Option<String>,
    /// The attempt, exported as `HEARTH_TASK_ATTEMPT`.
    pub attempt: Option<u32>,
    /// The marker (`<agent_id>/<task>-<attempt>`), exported as [`MARKER_VAR`].
    pub marker: Option<String>,
    /// The command and its arguments.
    pub argv: Vec<String>,
}

/// Why [`launch`] did not become the task.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// Setting up failed before the command was tried (bad arguments, a cgroup, a limit, the
    /// user switch being impossible).
    #[error("hearth pool-exec: {0}")]
    Setup(String),
    /// The command could not be run.
    #[error("hearth pool-exec: cannot run `{program}`: {source}")]
    Exec {
        /// `argv[0]`.
        program: String,
        /// Why `exec` (or the user switch or `chdir` before it) failed.
        source: io::Error,
    },
}

impl LaunchError {
    /// The exit code the launcher ends with: [`EXIT_LAUNCH_FAILED`] or [`EXIT_CANNOT_RUN`].
    pub fn exit_code(&self) -> i32 {
        match self {
            LaunchError::Setup(_) => EXIT_LAUNCH_FAILED,
            LaunchError::Exec { .. } => EXIT_CANNOT_RUN,
        }
    }
}

/// The launcher (`hearth pool-exec`): joins the cgroups, sets `RLIMIT_AS` and `RLIMIT_CORE`
/// and `no_new_privs`, clears the environment (keeping `PATH` and `LANG`; setting `HOME` and
/// `TMPDIR` to the working directory and the `HEARTH_TASK_*` variables), and replaces the
/// process with the task, as `uid`/`gid` (dropping supplementary groups) in the working
/// directory. Returns only on failure, with the error to print and exit with. Without root,
/// `uid` and `gid` must be the current ones.
pub fn launch(args: &LaunchArgs) -> LaunchError {
    let setup = LaunchError::Setup;
    let Some(program) = args.argv.first() else {
        return setup("no command to run".to_string());
    };
    if args.uid == 0 || args.gid == 0 {
        return setup(format!(
            "refusing to run `{program}` as uid {} gid {}: tasks never run as root or in root's \
             group",
            args.uid, args.gid
        ));
    }
    if args.uid == u32::MAX || args.gid == u32::MAX {
        return setup(format!("uid {} gid {} is not a valid id", args.uid, args.gid));
    }
    let euid = rustix::process::geteuid().as_raw();
    let egid = rustix::process::getegid().as_raw();
    let as_root = euid == 0;
    if !as_root && (args.uid != euid || args.gid != egid) {
        return setup(format!(
            "running as uid {euid} gid {egid}, cannot switch to uid {} gid {}",
            args.uid, args.gid
        ));
    }
    // The `chdir` happens inside `exec`, whose error would blame the command.
    match std::fs::metadata(&args.workdir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return setup(format!("working directory {}: not a directory", args.workdir.display()))
        }
        Err(err) => return setup(format!("working directory {}: {err}", args.workdir.display())),
    }
    let own_pid = std::process::id().to_string();
    for procs in &args.cgroup_procs {
        if let Err(err) = std::fs::write(procs, &own_pid) {
            return setup(format!(
                "cannot join the cgroup: write {} to {}: {err}",
                own_pid,
                procs.display()
            ));
        }
    }

    // Build the whole command first: after RLIMIT_AS, allocating may fail.
    let mut command = Command::new(program);
    command.args(&args.argv[1..]).current_dir(&args.workdir).env_clear();
    let path = std::env::var_os("PATH").unwrap_or_else(|| OsString::from(DEFAULT_PATH));
    command.env("PATH", task_path(&path, args.uid, args.gid));
    if let Some(lang) = std::env::var_os("LANG") {
        command.env("LANG", lang);
    }
    command.env("HOME", &args.workdir).env("TMPDIR", &args.workdir);
    if let Some(id) = &args.task_id {
        command.env("HEARTH_TASK_ID", id);
    }
    if let Some(attempt) = args.attempt {
        command.env("HEARTH_TASK_ATTEMPT", attempt.to_string());
    }
    if let Some(cpu) = args.cpu {
        command.env("HEARTH_TASK_CPUS", cpu.to_string());
    }
    if let Some(marker) = &args.marker {
        command.env(MARKER_VAR, marker);
    }
    if as_root {
        command.uid(args.uid).gid(args.gid);
    }

    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let zero = Rlimit { current: Some(0), maximum: Some(0) };
    if let Err(err) = setrlimit(Resource::Core, zero) {
        return setup(format!("cannot set RLIMIT_CORE to 0: {err}"));
    }
    if let Some(bytes) = args.mem_bytes {
        // Without root the hard limit cannot be raised: keep the lower one.
        let bytes = getrlimit(Resource::As).maximum.map_or(bytes, |hard| hard.min(bytes));
        let limit = Rlimit { current: Some(bytes), maximum: Some(bytes) };
        if let Err(err) = setrlimit(Resource::As, limit) {
            return setup(format!("cannot set RLIMIT_AS to {bytes} bytes: {err}"));
        }
    }
    if let Err(err) = rustix::thread::set_no_new_privs(true) {
        return setup(format!("cannot set no_new_privs: {err}"));
    }
    let source = command.exec();
    LaunchError::Exec { program: program.clone(), source }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment

+nisuser::::::
toor:x:0:5:second root:/root:/bin/sh
wheelie:x:1001:0:root's group:/home/w:/bin/sh
broken:x:12x:100::/:/bin/sh
short:x:7
alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\r
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
";

    fn find(name: &str) -> Result<Option<PasswdEntry>, ExecError> {
        find_passwd_entry(PASSWD, Lookup::Name(name), Path::new("/etc/passwd"))
    }

    fn resolve(wanted: Option<&str>, uid: u32, gid: u32) -> Result<TaskUser, ExecError> {
        resolve_user(wanted, uid, gid, PASSWD, Path::new("/etc/passwd"))
    }

    #[test]
    fn passwd_lines_give_name_uid_and_gid() {
        let entry = |name: &str, uid, gid| Some(PasswdEntry { name: name.into(), uid, gid });
        assert_eq!(find("nobody").unwrap(), entry("nobody", 65534, 65534));
        // A CRLF line still parses; skipped lines around it do not matter.
        assert_eq!(find("alice").unwrap(), entry("alice", 1000, 1000));
        assert_eq!(find("daemon").unwrap(), entry("daemon", 1, 1));
        assert_eq!(find("mallory").unwrap(), None);
        // NIS lines and comments are not users.
        assert_eq!(find("+nisuser").unwrap(), None);
        let by_uid = find_passwd_entry(PASSWD, Lookup::Uid(1000), Path::new("/etc/passwd"));
        assert_eq!(by_uid.unwrap(), entry("alice", 1000, 1000));
    }

    #[test]
    fn a_malformed_line_is_an_error_only_for_its_own_user() {
        let err = find("broken").unwrap_err();
        assert!(
            matches!(&err, ExecError::BadPasswdEntry { line: 8, user, .. } if user == "broken"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "/etc/passwd:8: the entry of user `broken` is malformed: uid \"12x\" is not a valid id"
        );
        let err = find("short").unwrap_err();
        assert!(err.to_string().contains("/etc/passwd:9"), "{err}");
        // Other users' lookups skip the bad lines.
        assert!(find("nobody").unwrap().is_some());
    }

    #[test]
    fn a_root_agent_runs_tasks_as_nobody_by_default() {
        let user = resolve(None, 0, 0).unwrap();
        assert_eq!(user, TaskUser { name: "nobody".into(), uid: 65534, gid: 65534 });
        let user = resolve(Some("alice"), 0, 0).unwrap();
        assert_eq!((user.uid, user.gid), (1000, 1000));
    }

    #[test]
    fn uid_0_and_gid_0_are_refused_as_the_task_user() {
        for name in ["root", "toor", "wheelie"] {
            let err = resolve(Some(name), 0, 0).unwrap_err();
            assert!(matches!(&err, ExecError::RootUser { user, .. } if user == name), "{err:?}");
            assert!(err.to_string().contains("tasks never run as root"), "{err}");
        }
        // The agent's own user when it is root is never the default.
        let err = resolve(Some("root"), 1000, 1000).unwrap_err();
        assert!(matches!(err, ExecError::RootUser { uid: 0, .. }), "{err:?}");
        assert!(matches!(resolve(Some("nosuch"), 0, 0), Err(ExecError::UnknownUser { .. })));
    }

    #[test]
    fn a_non_root_agent_runs_tasks_as_itself_only() {
        let user = resolve(None, 1000, 1000).unwrap();
        assert_eq!(user, TaskUser { name: "alice".into(), uid: 1000, gid: 1000 });
        // An unlisted uid (a container) is named by its number.
        let user = resolve(None, 4242, 4242).unwrap();
        assert_eq!(user.name, "4242");
        let err = resolve(Some("nobody"), 1000, 1000).unwrap_err();
        assert!(
            matches!(err, ExecError::CannotSwitchUser { uid: 65534, agent_uid: 1000, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("run the agent as root"), "{err}");
    }

    #[test]
    fn names_that_could_escape_their_directory_are_refused() {
        for good in ["t1", "job.42_a-b", "A"] {
            assert!(validate_name("task id", good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "../x", "a/b", "-rf", ".hidden", "a b", "é", &"x".repeat(129)] {
            let err = validate_name("task id", bad).unwrap_err();
            assert!(
                matches!(&err, ExecError::BadName { what: "task id", value, .. } if value == bad)
            );
        }
    }

    #[test]
    fn specs_out_of_range_are_refused_with_the_task_named() {
        let spec = |argv: &[&str], cpu, mem_mib| TaskSpec {
            id: "t7".into(),
            attempt: 2,
            argv: argv.iter().map(|s| s.to_string()).collect(),
            cpu,
            mem_mib,
        };
        let limits = validate_spec(&spec(&["true"], 1.5, 64)).unwrap();
        assert_eq!(limits, Limits { cpu_quota_us: 150_000, mem_bytes: 64 << 20 });
        // The kernel's minimum quota.
        assert_eq!(validate_spec(&spec(&["true"], 0.001, 1)).unwrap().cpu_quota_us, 1000);
        for (bad, what) in [
            (spec(&[], 1.0, 64), "no command"),
            (spec(&[""], 1.0, 64), "the command is empty"),
            (spec(&["a\0b"], 1.0, 64), "NUL"),
            (spec(&["true"], 0.0, 64), "cpu 0"),
            (spec(&["true"], f64::NAN, 64), "cpu NaN"),
            (spec(&["true"], 5000.0, 64), "cpu 5000"),
            (spec(&["true"], 1.0, 0), "mem_mib 0"),
            (spec(&["true"], 1.0, u64::MAX), "mem_mib 18446744073709551615"),
        ] {
            let err = validate_spec(&bad).unwrap_err().to_string();
            assert!(err.starts_with("task `t7` attempt 2: "), "{err}");
            assert!(err.contains(what), "{err} lacks {what}");
        }
    }

    #[test]
    fn the_task_path_keeps_only_directories_the_task_user_can_search() {
        let private = std::env::temp_dir().join(format!("pool-exec-path-{}", std::process::id()));
        let inner = private.join("bin");
        std::fs::create_dir_all(&inner).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        let me = rustix::process::geteuid().as_raw();
        let path = format!("{}:/usr/bin:relative/bin:/nonexistent:/bin", inner.display());
        // Another user (not the owner, not in its group) cannot pass the 0700 directory.
        let other = if me == 4242 { 4343 } else { 4242 };
        assert_eq!(task_path(path.as_ref(), other, other), OsString::from("/usr/bin:/bin"));
        // The owner can.
        let gid = rustix::process::getegid().as_raw();
        let expected = format!("{}:/usr/bin:/bin", inner.display());
        assert_eq!(task_path(path.as_ref(), me, gid), OsString::from(expected));
        std::fs::remove_dir_all(&private).unwrap();
    }

    #[test]
    fn proc_stat_fields_are_counted_from_the_last_parenthesis() {
        let text = "4242 (we (ird) name) S 1 4240 4240 0 -1 4194560 100 0 0 0 25 7 3 2 20 0 1 0 \
                    123 10000000 321 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let stat = parse_proc_stat(text).unwrap();
        assert_eq!(
            stat,
            ProcStat { state: 'S', pgrp: 4240, cpu_ticks: 25 + 7 + 3 + 2, rss_pages: 321 }
        );
        assert_eq!(parse_proc_stat("4242 (truncated) S 1"), None);
        assert_eq!(parse_proc_stat("no parenthesis"), None);
    }

    #[test]
    fn cgroup_stat_files_give_their_fields() {
        let cpu_stat = "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n";
        assert_eq!(stat_field(cpu_stat, "usage_usec"), Some(1_500_000));
        let memory_stat = "cache 4096\nrss 8388608\nrss_huge 0\nmapped_file 1048576\n";
        assert_eq!(stat_field(memory_stat, "rss"), Some(8_388_608));
        assert_eq!(stat_field(memory_stat, "mapped_file"), Some(1_048_576));
        assert_eq!(stat_field(memory_stat, "anon"), None);
    }

    #[test]
    fn executors_and_tasks_can_move_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Executor>();
        send_sync::<RunningTask>();
    }

    #[test]
    fn isolation_names_match_the_node_report() {
        for (isolation, name) in [
            (Isolation::Cgroup2, "cgroup2"),
            (Isolation::Cgroup1, "cgroup1"),
            (Isolation::Rlimits, "rlimits"),
        ] {
            assert_eq!(isolation.to_string(), name);
        }
    }

    #[test]
    fn the_launcher_refuses_root_and_no_command_before_touching_anything() {
        let args = |uid, gid, argv: &[&str]| LaunchArgs {
            workdir: "/nonexistent".into(),
            uid,
            gid,
            cgroup_procs: vec!["/nonexistent/cgroup.procs".into()],
            mem_bytes: None,
            cpu: None,
            task_id: None,
            attempt: None,
            marker: None,
            argv: argv.iter().map(|s| s.to_string()).collect(),
        };
        let err = launch(&args(0, 0, &["id"]));
        assert_eq!(err.exit_code(), EXIT_LAUNCH_FAILED);
        assert!(
            err.to_string().starts_with("hearth pool-exec: refusing to run `id` as uid 0"),
            "{err}"
        );
        let err = launch(&args(65534, 0, &["id"]));
        assert!(err.to_string().contains("root's group"), "{err}");
        // A working directory that is not there is the launch's failure, not the command's.
        let err = launch(&args(65534, 65534, &["id"]));
        assert_eq!(err.exit_code(), EXIT_LAUNCH_FAILED);
        let text = err.to_string();
        let root = rustix::process::geteuid().is_root();
        let expected = if root { "working directory /nonexistent: " } else { "cannot switch" };
        assert!(text.starts_with("hearth pool-exec: ") && text.contains(expected), "{text}");
        let err = launch(&args(65534, 65534, &[]));
        assert_eq!(err.to_string(), "hearth pool-exec: no command to run");
        let exec =
            LaunchError::Exec { program: "x".into(), source: io::ErrorKind::NotFound.into() };
        assert_eq!(exec.exit_code(), EXIT_CANNOT_RUN);
    }
}
