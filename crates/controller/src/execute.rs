//! Act: the executor, the only code that changes anything through the drivers. Every operation is
//! journaled before it is submitted (`intent`), once the driver accepted it (`started`) and when
//! it ended (`done`, `failed`, or `skipped` when fresh state no longer allows it), under an
//! operation ID derived from the plan and step (`p12-s3`, and `p12-s3-cold` for the cold
//! fallback of a live move). The compute drivers are idempotent by that ID, so a controller
//! restarted after a crash at any journal step replays the journal and resumes: it polls what
//! was started, resubmits under the same ID what may not have reached the driver, and re-checks
//! everything else against fresh state before it acts.
//!
//! Migrations use the fallback ladder: live, then cold, then leave the instance in place with
//! the drivers' errors as the reason. A failed step never stops the plan; the plan ends
//! `applied` or `partially_applied`, and the next cycle plans from the real state.

use crate::observe::Drivers;
use crate::step::{Step, StepAction};
use crate::topology::Topology;
use drivers::{
    Clock, ComputeOp, DriverError, HostId, InstanceState, MoveKind, OpStatus, PowerOp, PowerState,
};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use store::{JournalEntry, Phase, Store};

/// Policy time: the drivers' clock scaled by the speed at which the site runs (1 for a real
/// site; the demo's simulated site runs faster than the wall clock).
#[derive(Clone)]
pub struct PolicyClock {
    clock: Arc<dyn Clock>,
    speed: f64,
}

impl PolicyClock {
    /// Policy seconds = `clock` seconds × `speed`.
    pub fn new(clock: Arc<dyn Clock>, speed: f64) -> PolicyClock {
        PolicyClock { clock, speed }
    }

    /// Policy time now, s.
    pub fn now_s(&self) -> f64 {
        self.clock.now().as_secs_f64() * self.speed
    }

    /// Waits `wall` of the underlying clock.
    pub fn sleep(&self, wall: Duration) {
        self.clock.sleep(wall)
    }

    /// The wall time `policy_s` of policy time takes.
    pub fn wall(&self, policy_s: f64) -> Duration {
        Duration::from_secs_f64((policy_s / self.speed).max(0.0))
    }
}

/// How a step or operation ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// It happened.
    Done,
    /// It was tried and did not happen; the driver's error.
    Failed(String),
    /// Fresh state did not allow it (or no longer needed it); why.
    Skipped(String),
}

/// Counters the executor keeps (for the API and the metrics).
#[derive(Debug, Default)]
pub struct Counters {
    /// Steps done, by kind: migrations.
    pub migrations: AtomicU64,
    /// Power changes done.
    pub power_changes: AtomicU64,
    /// Other steps done (stop, start).
    pub other: AtomicU64,
    /// Operations that failed.
    pub failed: AtomicU64,
    /// Steps skipped on fresh state.
    pub skipped: AtomicU64,
    /// Journal records written.
    pub journal_writes: AtomicU64,
}

/// Fault injection for the crash tests: after this many journal writes the process stops
/// (prints a line on stderr and blocks) so the test can SIGKILL it at exactly that step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failpoint {
    /// Halt after this many journal writes by this process (1-based).
    pub after_journal_writes: u64,
}

impl std::str::FromStr for Failpoint {
    type Err = String;
    /// `journal:K`.
    fn from_str(text: &str) -> Result<Failpoint, String> {
        let k = text
            .strip_prefix("journal:")
            .and_then(|k| k.parse::<u64>().ok())
            .filter(|k| *k > 0)
            .ok_or_else(|| format!("failpoint `{text}`: expected `journal:K` with K ≥ 1"))?;
        Ok(Failpoint { after_journal_writes: k })
    }
}

/// The executor.
pub struct Executor {
    drivers: Drivers,
    topology: Arc<Topology>,
    store: Arc<Mutex<Store>>,
    clock: PolicyClock,
    poll_every: Duration,
    op_deadline_s: f64,
    failpoint: Option<Failpoint>,
    counters: Arc<Counters>,
}

/// A store error during execution: the journal cannot be trusted, so execution stops.
#[derive(Debug, thiserror::Error)]
#[error("journal: {0}")]
pub struct JournalError(#[from] pub store::StoreError);

impl Executor {
    /// An executor over `drivers`, journaling into `store`.
    pub fn new(
        drivers: Drivers,
        topology: Arc<Topology>,
        store: Arc<Mutex<Store>>,
        clock: PolicyClock,
        counters: Arc<Counters>,
    ) -> Executor {
        Executor {
            drivers,
            topology,
            store,
            clock,
            poll_every: Duration::from_millis(100),
            op_deadline_s: 1800.0,
            failpoint: None,
            counters,
        }
    }

    /// Polls operations every `wall` (default 100 ms).
    pub fn poll_every(mut self, wall: Duration) -> Executor {
        self.poll_every = wall;
        self
    }

    /// Gives up on an operation not seen to end within `policy_s` (default 1800 s).
    pub fn op_deadline_s(mut self, policy_s: f64) -> Executor {
        self.op_deadline_s = policy_s;
        self
    }

    /// Arms a failpoint.
    pub fn failpoint(mut self, failpoint: Option<Failpoint>) -> Executor {
        self.failpoint = failpoint;
        self
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn write(
        &self,
        at: &At<'_>,
        phase: Phase,
        detail: serde_json::Value,
        error: Option<String>,
    ) -> Result<(), JournalError> {
        let op_id = at.op_id;
        let entry = JournalEntry {
            at_ms: (self.clock.now_s() * 1000.0) as i64,
            op_id: op_id.to_string(),
            plan_id: Some(at.plan_id),
            step: at.index,
            kind: at.step.action.kind().to_string(),
            subject: at.step.action.subject().to_string(),
            phase,
            detail,
            error,
        };
        self.store().journal_append(&entry)?;
        let n = self.counters.journal_writes.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(fp) = self.failpoint {
            if n == fp.after_journal_writes {
                eprintln!("hearth: failpoint: halted after journal write {n} ({op_id} {phase})");
                loop {
                    self.clock.sleep(Duration::from_secs(3600));
                }
            }
        }
        Ok(())
    }

    /// Runs (or resumes) the steps of plan `plan_id` in order; returns each step's outcome.
    pub fn run_plan(&self, plan_id: i64, steps: &[Step]) -> Result<Vec<Outcome>, JournalError> {
        let mut outcomes = Vec::with_capacity(steps.len());
        for (index, step) in steps.iter().enumerate() {
            let outcome = self.run_step(plan_id, index as u32, step)?;
            match &outcome {
                Outcome::Done => {
                    let counter = match step.action {
                        StepAction::Migrate { .. } => &self.counters.migrations,
                        StepAction::PowerOn { .. } | StepAction::PowerDown { .. } => {
                            &self.counters.power_changes
                        }
                        _ => &self.counters.other,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                Outcome::Failed(_) => {
                    self.counters.failed.fetch_add(1, Ordering::Relaxed);
                }
                Outcome::Skipped(_) => {
                    self.counters.skipped.fetch_add(1, Ordering::Relaxed);
                }
            }
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    fn run_step(&self, plan_id: i64, index: u32, step: &Step) -> Result<Outcome, JournalError> {
        let base = format!("p{plan_id}-s{index}");
        match &step.action {
            StepAction::Migrate { from, .. } => {
                let caps = self.drivers.compute.capabilities();
                let ladder: Vec<MoveKind> =
                    [(caps.live, MoveKind::Live), (caps.cold, MoveKind::Cold)]
                        .into_iter()
                        .filter_map(|(can, kind)| can.then_some(kind))
                        .collect();
                let mut errors = Vec::new();
                for (n, kind) in ladder.iter().enumerate() {
                    let op_id = if n == 0 { base.clone() } else { format!("{base}-{kind}") };
                    let op = step.action.move_op(*kind).expect("a migrate step has a move op");
                    match self.run_op(plan_id, index, &op_id, step, Op::Compute(op))? {
                        Outcome::Failed(err) => errors.push(format!("{kind}: {err}")),
                        other => return Ok(other),
                    }
                }
                if ladder.is_empty() {
                    return Ok(Outcome::Skipped(format!(
                        "left in place on {from}: the compute driver cannot move instances ({})",
                        caps.note
                    )));
                }
                Ok(Outcome::Failed(format!("left in place on {from}: {}", errors.join("; "))))
            }
            StepAction::PowerOn { host } => {
                self.run_op(plan_id, index, &base, step, Op::Power(host.clone(), PowerOp::On))
            }
            StepAction::PowerDown { host } => {
                self.run_op(plan_id, index, &base, step, Op::Power(host.clone(), PowerOp::SoftOff))
            }
            StepAction::Stop { instance, .. } => {
                let op = ComputeOp::Stop { instance: instance.clone() };
                self.run_op(plan_id, index, &base, step, Op::Compute(op))
            }
            StepAction::Start { instance, host } => {
                let op = match self.locate(instance) {
                    Some((at, _)) if &at != host => ComputeOp::Move {
                        instance: instance.clone(),
                        from: at,
                        to: host.clone(),
                        kind: MoveKind::Cold,
                    },
                    _ => ComputeOp::Start { instance: instance.clone() },
                };
                self.run_op(plan_id, index, &base, step, Op::Compute(op))
            }
        }
    }

    /// Runs one operation from wherever the journal says it stands.
    fn run_op(
        &self,
        plan_id: i64,
        index: u32,
        op_id: &str,
        step: &Step,
        op: Op,
    ) -> Result<Outcome, JournalError> {
        let at = At { plan_id, index, op_id, step };
        let latest = self.store().op_latest(op_id)?;
        let detail = op.detail();
        match latest.as_ref().map(|r| r.phase) {
            Some(Phase::Done) => return Ok(Outcome::Done),
            Some(Phase::Failed) => {
                let error = latest.and_then(|r| r.error).unwrap_or_default();
                return Ok(Outcome::Failed(error));
            }
            Some(Phase::Skipped) | Some(Phase::RolledBack) => {
                let error = latest.and_then(|r| r.error).unwrap_or_default();
                return Ok(Outcome::Skipped(error));
            }
            Some(Phase::Started) => {
                // Accepted by the driver before the crash: wait for it.
                return self.wait(plan_id, index, op_id, step, &op, true);
            }
            Some(Phase::Intent) => {
                // The crash came between the intent and the driver's answer: the driver may or
                // may not have it.
                if self.driver_has(op_id, &op) {
                    let resumed = json!({"op": detail, "resumed": true});
                    self.write(&at, Phase::Started, resumed, None)?;
                    return self.wait(plan_id, index, op_id, step, &op, true);
                }
                if let Err(why) = self.validate(&op) {
                    self.write(&at, Phase::RolledBack, detail, Some(why.clone()))?;
                    return Ok(Outcome::Skipped(why));
                }
            }
            None => {
                if let Err(why) = self.validate(&op) {
                    self.write(&at, Phase::Skipped, detail, Some(why.clone()))?;
                    return Ok(Outcome::Skipped(why));
                }
                self.write(&at, Phase::Intent, detail.clone(), None)?;
            }
        }
        if let Err(err) = self.submit(op_id, &op) {
            let text = err.to_string();
            self.write(&at, Phase::Failed, detail, Some(text.clone()))?;
            return Ok(Outcome::Failed(text));
        }
        self.write(&at, Phase::Started, detail, None)?;
        self.wait(plan_id, index, op_id, step, &op, false)
    }

    /// Whether the driver already has the operation (compute: by ID; power: the host is in, or
    /// on its way to, the target state — a repeated request is harmless either way).
    fn driver_has(&self, op_id: &str, op: &Op) -> bool {
        match op {
            Op::Compute(_) => self.drivers.compute.poll(op_id).is_ok(),
            Op::Power(host, power) => {
                self.drivers.power.state(host).is_ok_and(|state| state == power.target())
            }
        }
    }

    fn submit(&self, op_id: &str, op: &Op) -> Result<(), DriverError> {
        match op {
            Op::Compute(op) => self.drivers.compute.submit(op_id, op),
            Op::Power(host, power) => self.drivers.power.request(host, *power).map(|_| ()),
        }
    }

    /// Polls until the operation ends or its deadline passes, then journals the end.
    fn wait(
        &self,
        plan_id: i64,
        index: u32,
        op_id: &str,
        step: &Step,
        op: &Op,
        resumed: bool,
    ) -> Result<Outcome, JournalError> {
        let at = At { plan_id, index, op_id, step };
        let deadline = self.clock.now_s() + self.op_deadline_s;
        let detail = json!({"op": op.detail(), "resumed": resumed});
        loop {
            let status = match op {
                Op::Compute(_) => self.drivers.compute.poll(op_id),
                Op::Power(host, power) => self.drivers.power.state(host).map(|state| {
                    if state == power.target() {
                        OpStatus::Done
                    } else {
                        OpStatus::Pending
                    }
                }),
            };
            match status {
                Ok(OpStatus::Done) => {
                    self.write(&at, Phase::Done, detail, None)?;
                    return Ok(Outcome::Done);
                }
                Ok(OpStatus::Failed(why)) => {
                    self.write(&at, Phase::Failed, detail, Some(why.clone()))?;
                    return Ok(Outcome::Failed(why));
                }
                Ok(OpStatus::Pending) => {}
                Err(DriverError::UnknownComputeOp { .. }) => {
                    // The driver lost it (restarted backend): submit again under the same ID.
                    if let Err(err) = self.submit(op_id, op) {
                        let text =
                            format!("the driver lost the operation and refused it again: {err}");
                        self.write(&at, Phase::Failed, detail, Some(text.clone()))?;
                        return Ok(Outcome::Failed(text));
                    }
                }
                Err(_) => {} // transient: keep polling until the deadline
            }
            if self.clock.now_s() > deadline {
                if let Op::Compute(_) = op {
                    let _ = self.drivers.compute.cancel(op_id);
                }
                let text = format!("not seen to end within {} s (policy time)", self.op_deadline_s);
                self.write(&at, Phase::Failed, detail, Some(text.clone()))?;
                return Ok(Outcome::Failed(text));
            }
            self.clock.sleep(self.poll_every);
        }
    }

    /// Checks a step against fresh state without acting (what a plan waiting for approval, or
    /// observed only, shows per step); `Err` says why it could not run now.
    pub fn check(&self, step: &Step) -> Result<(), String> {
        let op = match &step.action {
            StepAction::Migrate { .. } => {
                Op::Compute(step.action.move_op(MoveKind::Live).expect("a migrate step moves"))
            }
            StepAction::PowerOn { host } => Op::Power(host.clone(), PowerOp::On),
            StepAction::PowerDown { host } => Op::Power(host.clone(), PowerOp::SoftOff),
            StepAction::Stop { instance, .. } => {
                Op::Compute(ComputeOp::Stop { instance: instance.clone() })
            }
            StepAction::Start { instance, host } => match self.locate(instance) {
                Some((at, _)) if &at != host => Op::Compute(ComputeOp::Move {
                    instance: instance.clone(),
                    from: at,
                    to: host.clone(),
                    kind: MoveKind::Cold,
                }),
                _ => Op::Compute(ComputeOp::Start { instance: instance.clone() }),
            },
        };
        self.validate(&op)
    }

    /// Where an instance is defined now, and its state.
    fn locate(&self, instance: &str) -> Option<(HostId, InstanceState)> {
        self.topology.hosts.iter().find_map(|host| {
            let list = self.drivers.compute.instances(&host.id).ok()?;
            list.into_iter().find(|i| i.id == instance).map(|i| (host.id.clone(), i.state))
        })
    }

    /// Checks an operation against fresh state; `Err` says why it must not run.
    fn validate(&self, op: &Op) -> Result<(), String> {
        let compute = &self.drivers.compute;
        let power = &self.drivers.power;
        let state = |host: &HostId| power.state(host).map_err(|e| e.to_string());
        match op {
            Op::Power(host, PowerOp::On) => match state(host)? {
                PowerState::On => Err(format!("{host} is already on")),
                _ => Ok(()),
            },
            Op::Power(host, _) => {
                if state(host)? == PowerState::Off {
                    return Err(format!("{host} is already off"));
                }
                let list = compute.instances(host).map_err(|e| e.to_string())?;
                match list.iter().find(|i| i.state != InstanceState::Stopped) {
                    Some(busy) => Err(format!("{host} still runs {} ({})", busy.id, busy.state)),
                    None => Ok(()),
                }
            }
            Op::Compute(ComputeOp::Move { instance, from, to, .. }) => {
                let list = compute.instances(from).map_err(|e| e.to_string())?;
                let Some(found) = list.iter().find(|i| &i.id == instance) else {
                    return Err(format!("{instance} is no longer on {from}"));
                };
                if found.state == InstanceState::Migrating {
                    return Err(format!("{instance} is already migrating"));
                }
                if state(to)? != PowerState::On {
                    return Err(format!("target {to} is not on"));
                }
                let Some(h) = self.topology.host_index(to) else {
                    return Err(format!("target {to} is not in the topology"));
                };
                let target = &self.topology.hosts[h];
                let there = compute.instances(to).map_err(|e| e.to_string())?;
                let cpus: f64 = there.iter().map(|i| i.cpus).sum::<f64>() + found.cpus;
                let mem: f64 = there.iter().map(|i| i.memory_mib).sum::<f64>() + found.memory_mib;
                if cpus > target.cpus + 1e-9 || mem > target.memory_mib + 1e-9 {
                    return Err(format!(
                        "{to} has no room for {instance} ({cpus} of {} CPUs, {mem} of {} MiB)",
                        target.cpus, target.memory_mib
                    ));
                }
                Ok(())
            }
            Op::Compute(ComputeOp::Stop { instance }) => match self.locate(instance) {
                Some((_, InstanceState::Running)) => Ok(()),
                Some((host, state)) => Err(format!("{instance} on {host} is {state}")),
                None => Err(format!("{instance} is not on any host")),
            },
            Op::Compute(ComputeOp::Start { instance }) => match self.locate(instance) {
                Some((host, InstanceState::Stopped)) => match state(&host)? {
                    PowerState::On => Ok(()),
                    other => Err(format!("{instance}'s host {host} is {other}")),
                },
                Some((host, state)) => Err(format!("{instance} on {host} is {state}")),
                None => Err(format!("{instance} is not on any host")),
            },
        }
    }
}

/// Where a journal record belongs: plan, step, operation.
struct At<'a> {
    plan_id: i64,
    index: u32,
    op_id: &'a str,
    step: &'a Step,
}

/// One driver operation.
#[derive(Clone, Debug)]
enum Op {
    Compute(ComputeOp),
    Power(HostId, PowerOp),
}

impl Op {
    fn detail(&self) -> serde_json::Value {
        match self {
            Op::Compute(op) => serde_json::to_value(op).unwrap_or(serde_json::Value::Null),
            Op::Power(host, op) => json!({"op": "power", "host": host, "change": op.to_string()}),
        }
    }
}
