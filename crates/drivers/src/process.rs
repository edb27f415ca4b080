//! The process runner: a [`Compute`] driver for the local host whose instances are OS processes
//! (pool mode's tasks). A registry of task definitions ([`TaskSpec`]: program, arguments,
//! working directory, environment, CPU and memory hints); `Start` spawns a task, `Stop` sends
//! it SIGTERM and, after a grace period, SIGKILL; `instances` lists every defined task as
//! `Running` or `Stopped`.
//!
//! **Tasks.** Each task runs in its own process group, so a stop reaches the processes it
//! started too, and a terminal's Ctrl-C aimed at hearth does not. Its stdin is closed, its
//! output goes to its log file or nowhere, and its environment is exactly the one its
//! definition gives: hearth's own (which may hold a BMC's password) is not passed on. Tasks run
//! as the user the hearth process runs as; hearth must not run them as root, and the pool work
//! adds an unprivileged user for them.
//!
//! **Operations.** Idempotent by the caller's ID, like every [`Compute`] driver. A start is
//! `Done` once the process is spawned (or `Failed` with the reason it could not be); a stop is
//! `Pending` until the process has exited and been reaped, `Failed` if it is still there
//! `kill_wait` after SIGKILL (a process stuck in the kernel). Asking for the state a task is in
//! is `Done` at once. A task in a stop takes no other operation (`Refused`, naming the stop).
//! Moves are always `Refused`: a task re-runs elsewhere through the pool, it never moves.
//! Nothing can be cancelled (SIGTERM, once sent, is not taken back).
//!
//! **Reconcile, don't block** (STYLE.md rule 20). No thread watches the children: every call
//! (and [`ProcessRunner::reconcile`]) first reaps the tasks that exited, recording their exit
//! status ([`ProcessRunner::last_exit`]), and sends SIGKILL to stops whose grace period has
//! passed. Time comes only from the injected [`Clock`]. SIGTERM is sent with `kill(1)` (the
//! Debian package procps), because the workspace forbids `unsafe` code; without it the stop
//! waits out the grace period and ends with SIGKILL, which std sends itself.
//!
//! **Limits.** The runner's records live in memory: a hearth restart forgets its operations
//! (`UnknownComputeOp`) and its tasks. Dropping the runner kills the tasks still running
//! (SIGKILL), so none is left behind that nothing would stop.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::compute::{Compute, ComputeOp, InstanceInfo, InstanceState, MoveCapabilities};
use crate::error::{DriverError, Secs};
use crate::host::HostId;
use crate::power::OpStatus;

/// Why a process runner refuses every move, as its capabilities and refusals say it.
pub const NO_MOVES: &str =
    "local processes: a task re-runs elsewhere through the pool, never moves";

/// The default time between SIGTERM and SIGKILL.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// The default time a stop waits for the process to go after SIGKILL before it fails.
pub const DEFAULT_KILL_WAIT: Duration = Duration::from_secs(5);

/// A task the runner can start: what to run, where, with what, and how big it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// The task's name, which is its instance ID (unique across the drivers' hosts).
    pub id: String,
    /// The program: an absolute path, or a name `std::process::Command` looks up.
    pub program: PathBuf,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// The directory it runs in (hearth's own when absent).
    #[serde(default)]
    pub working_dir: Option<PathBuf>,
    /// Its whole environment, as `(name, value)` pairs: nothing else is passed on.
    #[serde(default)]
    pub env: Vec<(String, String)>,
    /// How many CPUs it uses, if known (listed as 0 otherwise).
    #[serde(default)]
    pub cpus: Option<f64>,
    /// How much memory it uses, MiB, if known (listed as 0 otherwise).
    #[serde(default)]
    pub memory_mib: Option<f64>,
    /// A file its stdout and stderr are appended to; discarded when absent.
    #[serde(default)]
    pub log: Option<PathBuf>,
}

impl TaskSpec {
    /// A task `id` running `program` with no arguments, in hearth's directory, with an empty
    /// environment and no hints.
    pub fn new(id: impl Into<String>, program: impl Into<PathBuf>) -> TaskSpec {
        TaskSpec {
            id: id.into(),
            program: program.into(),
            args: Vec::new(),
            working_dir: None,
            env: Vec::new(),
            cpus: None,
            memory_mib: None,
            log: None,
        }
    }

    /// The same task with these arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> TaskSpec {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// The same task run in `dir`.
    pub fn working_dir(mut self, dir: impl Into<PathBuf>) -> TaskSpec {
        self.working_dir = Some(dir.into());
        self
    }

    /// The same task with `name=value` added to its environment.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> TaskSpec {
        self.env.push((name.into(), value.into()));
        self
    }

    /// The same task with resource hints.
    pub fn hints(mut self, cpus: f64, memory_mib: f64) -> TaskSpec {
        (self.cpus, self.memory_mib) = (Some(cpus), Some(memory_mib));
        self
    }

    /// The same task with its output appended to `path`.
    pub fn log(mut self, path: impl Into<PathBuf>) -> TaskSpec {
        self.log = Some(path.into());
        self
    }

    /// Checks what `define` needs: a name, a program, hints that are numbers ≥ 0, environment
    /// names without `=` or NUL.
    fn validate(&self) -> Result<(), TaskError> {
        let invalid = |field: &'static str, message: String| TaskError::Invalid {
            task: self.id.clone(),
            field,
            message,
        };
        if self.id.trim().is_empty() {
            return Err(invalid("id", "a task needs a name".into()));
        }
        if self.program.as_os_str().is_empty() {
            return Err(invalid("program", "a task needs a program".into()));
        }
        for (field, hint) in [("cpus", self.cpus), ("memory_mib", self.memory_mib)] {
            if let Some(value) = hint.filter(|value| !(value.is_finite() && *value >= 0.0)) {
                return Err(invalid(field, format!("expected a number ≥ 0, got {value}")));
            }
        }
        for (name, value) in &self.env {
            if name.is_empty() || name.contains(['=', '\0']) || value.contains('\0') {
                return Err(invalid("env", format!("{name:?}={value:?} is not a variable")));
            }
        }
        if self.args.iter().any(|arg| arg.contains('\0')) {
            return Err(invalid("args", "an argument contains NUL".into()));
        }
        Ok(())
    }
}

/// Why a task definition was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// A field is wrong.
    #[error("task {task:?}: `{field}`: {message}")]
    Invalid {
        /// The task.
        task: String,
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A task by that name is defined already.
    #[error("task {task}: already defined")]
    Duplicate {
        /// The task.
        task: String,
    },
    /// `undefine` of a task that runs or is being stopped.
    #[error("task {task}: still running; stop it before undefining it")]
    Running {
        /// The task.
        task: String,
    },
    /// No task by that name.
    #[error("task {task}: not defined")]
    Unknown {
        /// The task.
        task: String,
    },
}

/// How a task's last run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskExit {
    /// Its exit status (code or signal); `None` if it could not be collected, the reason in
    /// `detail`.
    pub status: Option<ExitStatus>,
    /// When the runner saw it gone, on the runner's clock.
    pub seen_at: Duration,
    /// What else is known: `"stopped by stop-7 (SIGTERM)"`, `"stopped by stop-7 (SIGKILL after
    /// the 10 s grace period)"`, `"exited on its own"`, or why there is no status.
    pub detail: String,
}

impl TaskExit {
    /// Whether it exited with status 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|status| status.success())
    }
}

impl fmt::Display for TaskExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.status {
            Some(status) => write!(f, "{status}; {}", self.detail),
            None => write!(f, "status unknown; {}", self.detail),
        }
    }
}

/// A [`Compute`] driver whose instances are the local host's processes; see the module
/// documentation for its rules.
pub struct ProcessRunner {
    host: HostId,
    clock: Arc<dyn Clock>,
    grace: Duration,
    kill_wait: Duration,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    tasks: BTreeMap<String, Task>,
    ops: HashMap<String, Record>,
}

struct Task {
    spec: TaskSpec,
    child: Option<Child>,
    stopping: Option<Stopping>,
    last_exit: Option<TaskExit>,
}

/// A stop in flight.
struct Stopping {
    op_id: String,
    term_at: Duration,
    /// Why SIGTERM could not be sent, if it could not.
    term_failed: Option<String>,
    killed_at: Option<Duration>,
}

struct Record {
    op: ComputeOp,
    status: OpStatus,
}

impl ProcessRunner {
    /// A runner for the local host, named `host`, with no tasks, a 10 s grace period and a 5 s
    /// wait after SIGKILL.
    pub fn new(host: HostId, clock: Arc<dyn Clock>) -> ProcessRunner {
        ProcessRunner {
            host,
            clock,
            grace: DEFAULT_GRACE,
            kill_wait: DEFAULT_KILL_WAIT,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The same runner with another time between SIGTERM and SIGKILL.
    pub fn with_grace(mut self, grace: Duration) -> ProcessRunner {
        self.grace = grace;
        self
    }

    /// The same runner with another time a stop waits after SIGKILL before it fails.
    pub fn with_kill_wait(mut self, kill_wait: Duration) -> ProcessRunner {
        self.kill_wait = kill_wait;
        self
    }

    /// The host the runner's tasks run on.
    pub fn host(&self) -> &HostId {
        &self.host
    }

    /// Adds a task, stopped.
    pub fn define(&self, spec: TaskSpec) -> Result<(), TaskError> {
        spec.validate()?;
        let mut inner = self.lock();
        if inner.tasks.contains_key(&spec.id) {
            return Err(TaskError::Duplicate { task: spec.id });
        }
        let task = Task { spec, child: None, stopping: None, last_exit: None };
        inner.tasks.insert(task.spec.id.clone(), task);
        Ok(())
    }

    /// Removes a stopped task (its operations stay pollable).
    pub fn undefine(&self, task: &str) -> Result<TaskSpec, TaskError> {
        let mut inner = self.reconciled();
        if inner.tasks.get(task).is_some_and(|found| found.child.is_some()) {
            return Err(TaskError::Running { task: task.to_string() });
        }
        let removed = inner.tasks.remove(task);
        removed.map(|found| found.spec).ok_or_else(|| TaskError::Unknown { task: task.to_string() })
    }

    /// How the task's last run ended: `None` while it runs or if it never ran.
    pub fn last_exit(&self, task: &str) -> Result<Option<TaskExit>, DriverError> {
        let inner = self.reconciled();
        let found = inner
            .tasks
            .get(task)
            .ok_or_else(|| DriverError::UnknownInstance { instance: task.to_string() })?;
        Ok(if found.child.is_some() { None } else { found.last_exit.clone() })
    }

    /// The task's process ID (also its process group's) while it runs.
    pub fn pid(&self, task: &str) -> Result<Option<u32>, DriverError> {
        let inner = self.reconciled();
        let found = inner
            .tasks
            .get(task)
            .ok_or_else(|| DriverError::UnknownInstance { instance: task.to_string() })?;
        Ok(found.child.as_ref().map(Child::id))
    }

    /// Reaps exited tasks and sends SIGKILL to stops past their grace period. Every other call
    /// does this first; a caller that wants stops to progress without polling calls it
    /// periodically.
    pub fn reconcile(&self) {
        drop(self.reconciled());
    }

    fn backend(&self) -> String {
        format!("process runner on {}", self.host)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update completes before the lock is released; a panic elsewhere leaves it usable.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn reconciled(&self) -> MutexGuard<'_, Inner> {
        let now = self.clock.now();
        let mut inner = self.lock();
        let Inner { tasks, ops } = &mut *inner;
        for task in tasks.values_mut() {
            self.reconcile_task(task, ops, now);
        }
        inner
    }

    fn reconcile_task(&self, task: &mut Task, ops: &mut HashMap<String, Record>, now: Duration) {
        let Some(child) = task.child.as_mut() else { return };
        let exited = match child.try_wait() {
            Ok(None) => None,
            Ok(Some(status)) => Some(Ok(status)),
            // Only a child reaped behind std's back (SIGCHLD ignored) gives an error here.
            Err(err) => Some(Err(format!("its status could not be collected: {err}"))),
        };
        if let Some(exited) = exited {
            task.child = None;
            let (status, detail) = match (exited, &task.stopping) {
                (Ok(status), Some(stopping)) => (Some(status), self.stopped_by(stopping)),
                (Ok(status), None) => (Some(status), "exited on its own".to_string()),
                (Err(why), _) => (None, why),
            };
            task.last_exit = Some(TaskExit { status, seen_at: now, detail });
            if let Some(stopping) = task.stopping.take() {
                settle(ops, &stopping.op_id, OpStatus::Done);
            }
            return;
        }
        let Some(stopping) = task.stopping.as_mut() else { return };
        match stopping.killed_at {
            None if now >= stopping.term_at + self.grace => {
                signal_group(child.id(), "KILL");
                // std's SIGKILL to the task itself, whatever happened to kill(1).
                let _ = child.kill();
                stopping.killed_at = Some(now);
            }
            Some(killed_at) if now >= killed_at + self.kill_wait => {
                let reason = format!(
                    "{} still runs {} after SIGKILL (stuck in the kernel?); it is left running",
                    task.spec.id,
                    Secs(now - killed_at)
                );
                let op_id = stopping.op_id.clone();
                task.stopping = None;
                settle(ops, &op_id, OpStatus::Failed(reason));
            }
            _ => {}
        }
    }

    fn stopped_by(&self, stopping: &Stopping) -> String {
        let how = match (&stopping.killed_at, &stopping.term_failed) {
            (None, None) => "SIGTERM".to_string(),
            (None, Some(why)) => format!("it exited during the grace period; {why}"),
            (Some(_), None) => format!("SIGKILL after the {} grace period", Secs(self.grace)),
            (Some(_), Some(why)) => format!("SIGKILL after the grace period; {why}"),
        };
        format!("stopped by {} ({how})", stopping.op_id)
    }

    /// Spawns the task; the reason if it cannot be.
    fn spawn(spec: &TaskSpec) -> Result<Child, String> {
        let mut command = Command::new(&spec.program);
        command.args(&spec.args).env_clear().envs(spec.env.iter().cloned());
        command.stdin(Stdio::null()).process_group(0);
        if let Some(dir) = &spec.working_dir {
            command.current_dir(dir);
        }
        match &spec.log {
            Some(path) => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|err| format!("cannot open its log {}: {err}", path.display()))?;
                let second = file
                    .try_clone()
                    .map_err(|err| format!("cannot open its log {}: {err}", path.display()))?;
                command.stdout(file).stderr(second);
            }
            None => {
                command.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        command.spawn().map_err(|err| {
            let dir = spec
                .working_dir
                .as_ref()
                .map_or(String::new(), |dir| format!(" in {}", dir.display()));
            format!("cannot run {}{dir}: {err}", spec.program.display())
        })
    }
}

/// Sets a pending operation's final status.
fn settle(ops: &mut HashMap<String, Record>, op_id: &str, status: OpStatus) {
    if let Some(record) = ops.get_mut(op_id) {
        record.status = status;
    }
}

/// Sends `signal` to the process group `pgid` with kill(1); why not, if it could not.
///
/// Safe against PID reuse as long as the group's leader is an unreaped child of ours: its PID
/// (the group's ID) cannot be reused before it is reaped, and only the runner reaps, under its
/// lock, after this returns.
fn signal_group(pgid: u32, signal: &str) -> Option<String> {
    let sent = Command::new("kill")
        .args(["-s", signal, "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    match sent {
        Ok(output) if output.status.success() => None,
        Ok(output) => Some(format!(
            "`kill -s {signal} -- -{pgid}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Some(format!(
            "`kill` is not installed (Debian package procps), so no SIG{signal} was sent"
        )),
        Err(err) => Some(format!("cannot run `kill`: {err}")),
    }
}

impl Compute for ProcessRunner {
    fn capabilities(&self) -> MoveCapabilities {
        MoveCapabilities { live: false, cold: false, cancel: false, note: NO_MOVES.to_string() }
    }

    fn instances(&self, host: &HostId) -> Result<Vec<InstanceInfo>, DriverError> {
        if *host != self.host {
            return Err(DriverError::UnknownHost { host: host.clone() });
        }
        let inner = self.reconciled();
        Ok(inner
            .tasks
            .values()
            .map(|task| InstanceInfo {
                id: task.spec.id.clone(),
                host: self.host.clone(),
                state: if task.child.is_some() {
                    InstanceState::Running
                } else {
                    InstanceState::Stopped
                },
                cpus: task.spec.cpus.unwrap_or(0.0),
                memory_mib: task.spec.memory_mib.unwrap_or(0.0),
                cpu_use: None,
                movable: false,
            })
            .collect())
    }

    fn submit(&self, op_id: &str, op: &ComputeOp) -> Result<(), DriverError> {
        let now = self.clock.now();
        let mut inner = self.reconciled();
        if let Some(answer) =
            crate::compute::resubmission(op_id, inner.ops.get(op_id).map(|r| &r.op), op)
        {
            return answer;
        }
        let refuse = |reason: String| DriverError::Refused {
            operation: op.to_string(),
            backend: self.backend(),
            reason,
        };
        let name = op.instance();
        let task = inner
            .tasks
            .get_mut(name)
            .ok_or_else(|| DriverError::UnknownInstance { instance: name.to_string() })?;
        if let ComputeOp::Move { .. } = op {
            return Err(refuse(NO_MOVES.to_string()));
        }
        if let Some(stopping) = &task.stopping {
            return Err(refuse(format!("{name} is busy with operation {}", stopping.op_id)));
        }
        let status = match (op, task.child.as_ref().map(Child::id)) {
            (ComputeOp::Start { .. }, Some(_)) | (ComputeOp::Stop { .. }, None) => OpStatus::Done,
            (ComputeOp::Start { .. }, None) => match ProcessRunner::spawn(&task.spec) {
                Ok(child) => {
                    task.child = Some(child);
                    OpStatus::Done
                }
                Err(reason) => OpStatus::Failed(reason),
            },
            (ComputeOp::Stop { .. }, Some(pid)) => {
                let term_failed = signal_group(pid, "TERM");
                let stopping =
                    Stopping { op_id: op_id.into(), term_at: now, term_failed, killed_at: None };
                task.stopping = Some(stopping);
                OpStatus::Pending
            }
            // Refused above; listed so a new operation kind is a compile error here.
            (ComputeOp::Move { .. }, _) => return Err(refuse(NO_MOVES.to_string())),
        };
        inner.ops.insert(op_id.to_string(), Record { op: op.clone(), status });
        Ok(())
    }

    fn poll(&self, op_id: &str) -> Result<OpStatus, DriverError> {
        let inner = self.reconciled();
        let record = inner
            .ops
            .get(op_id)
            .ok_or_else(|| DriverError::UnknownComputeOp { op_id: op_id.to_string() })?;
        Ok(record.status.clone())
    }

    fn cancel(&self, op_id: &str) -> Result<bool, DriverError> {
        let inner = self.reconciled();
        if !inner.ops.contains_key(op_id) {
            return Err(DriverError::UnknownComputeOp { op_id: op_id.to_string() });
        }
        // A start is over when it returns; a stop's SIGTERM cannot be taken back.
        Ok(false)
    }
}

impl Drop for ProcessRunner {
    /// Kills the tasks still running (SIGKILL to each task's process group) and reaps them on
    /// a thread of their own, so dropping never waits on a process stuck in the kernel.
    fn drop(&mut self) {
        let inner = self.inner.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
        for task in inner.tasks.values_mut() {
            if let Some(mut child) = task.child.take() {
                if let Ok(None) = child.try_wait() {
                    signal_group(child.id(), "KILL");
                    let _ = child.kill();
                    std::thread::spawn(move || child.wait());
                }
            }
        }
    }
}
