//! The libvirt driver's operations: what `submit` checks and starts, and what `poll` advances
//! (reconcile, don't block: a stop waiting for its guest, or a cold move waiting for its source
//! to stop, makes progress at each poll; nothing sleeps).
//!
//! A cold move's steps after the source has stopped (copy the XML, define on the target, start
//! there, undefine on the source) run within one poll, so between two polls the instance is
//! listed on exactly one host. Its progress is also written in hearth's metadata element on the
//! domains (`meta`), which is what [`LibvirtDriver::resume`] reads after a restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use virt::domain::Domain;
use virt::error::Error as VirtError;

use crate::compute::{ComputeOp, MoveKind};
use crate::error::DriverError;
use crate::host::HostId;
use crate::power::OpStatus;

use super::conn::{is_test_uri, Call};
use super::meta::{MoveMark, Phase, Record};
use super::{Failpoint, LibvirtDriver};

/// The driver's memory: operations by ID, and the last CPU-time sample of each running domain.
#[derive(Default)]
pub(super) struct State {
    pub ops: HashMap<String, OpRecord>,
    samples: HashMap<(HostId, String), CpuSample>,
}

/// One operation the driver accepted.
pub(super) struct OpRecord {
    op: ComputeOp,
    status: OpStatus,
    work: Work,
}

/// What is left to do for a pending operation.
enum Work {
    Ended,
    /// A start whose answer was lost with the connection: settled by the domain's state.
    Start {
        host: HostId,
        name: String,
    },
    Stop(StopWork),
    Cold(ColdWork),
    Live(LiveWork),
}

/// A stop in flight (alone, or as a cold move's first step).
struct StopWork {
    host: HostId,
    name: String,
    /// A transient domain vanishes when it stops; a persistent one stays, shut off.
    persistent: bool,
    requested_at: Duration,
    /// The shutdown request failed: destroy at the next poll.
    shutdown_failed: bool,
    destroyed_at: Option<Duration>,
}

/// A cold move in flight.
struct ColdWork {
    from: HostId,
    to: HostId,
    name: String,
    /// Whether it ran when the move began (it is started on the target only then).
    running: bool,
    /// The source's stop, until it is shut off.
    stop: Option<StopWork>,
    /// Whether the target holds the copy already.
    defined: bool,
    /// Halted by a failpoint: nothing more happens in this driver.
    halted: bool,
    /// When undefining the source started failing (retried until the grace period passes).
    undefine_failing_since: Option<Duration>,
}

/// A live migration running on its own thread.
struct LiveWork {
    from: HostId,
    name: String,
    result: Arc<Mutex<Option<Result<(), VirtError>>>>,
}

/// A running domain's CPU time at a moment, and the use computed from the sample before.
struct CpuSample {
    cpu_ns: u64,
    at: Duration,
    last: Option<f64>,
}

impl State {
    /// Whether a live move of `name` from `host` is in flight.
    pub fn live_move_from(&self, host: &HostId, name: &str) -> bool {
        self.ops.values().any(|record| {
            matches!(&record.work, Work::Live(live) if live.from == *host && live.name == name)
        })
    }

    /// The fraction of its vCPUs the domain used since the last sample (none on the first).
    pub fn cpu_use(
        &mut self,
        host: &HostId,
        uuid: String,
        cpu_ns: u64,
        at: Duration,
        cpus: f64,
    ) -> Option<f64> {
        let key = (host.clone(), uuid);
        let Some(sample) = self.samples.get_mut(&key) else {
            self.samples.insert(key, CpuSample { cpu_ns, at, last: None });
            return None;
        };
        if cpu_ns < sample.cpu_ns {
            // Restarted since: start over.
            *sample = CpuSample { cpu_ns, at, last: None };
            return None;
        }
        if at <= sample.at {
            return sample.last;
        }
        let wall_ns = (at - sample.at).as_nanos() as f64;
        let used = (cpu_ns - sample.cpu_ns) as f64 / (wall_ns * cpus.max(1.0));
        let used = used.clamp(0.0, 1.0);
        *sample = CpuSample { cpu_ns, at, last: Some(used) };
        Some(used)
    }

    /// Forgets the samples of `host`'s domains that are no longer running.
    pub fn keep_samples(&mut self, host: &HostId, running: &[String]) {
        self.samples.retain(|(on, uuid), _| on != host || running.contains(uuid));
    }
}

/// What a step of an operation came to: still going, or ended.
type Step = Result<Option<OpStatus>, DriverError>;

impl LibvirtDriver {
    pub(super) fn submit_op(&self, op_id: &str, op: &ComputeOp) -> Result<(), DriverError> {
        let mut state = self.lock();
        if let Some(answer) =
            crate::compute::resubmission(op_id, state.ops.get(op_id).map(|r| &r.op), op)
        {
            return answer;
        }
        let name = op.instance();
        let busy = state
            .ops
            .iter()
            .find(|(_, record)| record.op.instance() == name && record.status == OpStatus::Pending);
        let busy = busy.map(|(id, _)| id.clone());
        let (status, work) = match op {
            ComputeOp::Start { .. } => self.begin_start(op, busy)?,
            ComputeOp::Stop { .. } => self.begin_stop(op, busy)?,
            ComputeOp::Move { .. } => self.begin_move(op_id, op, busy)?,
        };
        state.ops.insert(op_id.to_string(), OpRecord { op: op.clone(), status, work });
        Ok(())
    }

    pub(super) fn poll_op(&self, op_id: &str) -> Result<OpStatus, DriverError> {
        let mut state = self.lock();
        let record = state
            .ops
            .get_mut(op_id)
            .ok_or_else(|| DriverError::UnknownComputeOp { op_id: op_id.to_string() })?;
        if record.status.is_terminal() {
            return Ok(record.status.clone());
        }
        let mut work = std::mem::replace(&mut record.work, Work::Ended);
        let stepped = self.advance(op_id, &mut work);
        if let Ok(Some(status)) = &stepped {
            record.status = status.clone();
        } else {
            record.work = work;
        }
        stepped.map(|ended| ended.unwrap_or(OpStatus::Pending))
    }

    fn advance(&self, op_id: &str, work: &mut Work) -> Step {
        let now = self.clock.now();
        match work {
            Work::Ended => Ok(None),
            Work::Start { host, name } => {
                let running = match self.domain(host, name)? {
                    Some(dom) => self.active(host, &dom, name)?,
                    None => false,
                };
                Ok(Some(if running {
                    OpStatus::Done
                } else {
                    OpStatus::Failed(format!(
                        "{name} is not running on {host}: virDomainCreate's answer was lost"
                    ))
                }))
            }
            Work::Stop(stop) => self.advance_stop(stop, now),
            Work::Cold(cold) => self.advance_cold(op_id, cold, now),
            Work::Live(live) => {
                let ended = live.result.lock().unwrap_or_else(|p| p.into_inner()).take();
                Ok(ended.map(|result| match result {
                    Ok(()) => OpStatus::Done,
                    Err(err) => {
                        let call = Call {
                            host: &live.from,
                            function: "virDomainMigrate",
                            instance: Some(&live.name),
                        };
                        let mapped = self.conns.error(call, &err);
                        OpStatus::Failed(format!(
                            "live migration failed ({mapped}); {} stays on {}",
                            live.name, live.from
                        ))
                    }
                }))
            }
        }
    }

    /// Finds the one host that defines `name`.
    fn locate(&self, op: &ComputeOp, name: &str) -> Result<(HostId, Domain), DriverError> {
        let mut found = Vec::new();
        let mut unreachable = None;
        for host in self.conns.hosts() {
            match self.domain(host, name) {
                Ok(Some(dom)) => found.push((host.clone(), dom)),
                Ok(None) => {}
                Err(err @ DriverError::Unreachable { .. }) => unreachable = Some(err),
                Err(err) => return Err(err),
            }
        }
        if found.len() > 1 {
            let hosts: Vec<String> = found.iter().map(|(host, _)| host.to_string()).collect();
            return Err(DriverError::Refused {
                operation: op.to_string(),
                backend: "libvirt".to_string(),
                reason: format!(
                    "{name} is defined on {} (a move cut short?); remove the stale definition \
                     before starting or stopping it",
                    hosts.join(" and ")
                ),
            });
        }
        match (found.pop(), unreachable) {
            (Some(located), _) => Ok(located),
            (None, Some(err)) => Err(err),
            (None, None) => Err(DriverError::UnknownInstance { instance: name.to_string() }),
        }
    }

    fn refuse(&self, op: &ComputeOp, host: &HostId, reason: String) -> DriverError {
        DriverError::Refused { operation: op.to_string(), backend: self.backend(host), reason }
    }

    fn begin_start(
        &self,
        op: &ComputeOp,
        busy: Option<String>,
    ) -> Result<(Status, Work), DriverError> {
        let name = op.instance();
        let (host, dom) = self.locate(op, name)?;
        if let Some(other) = busy {
            return Err(self.refuse(op, &host, format!("{name} is busy with operation {other}")));
        }
        if self.active(&host, &dom, name)? {
            return Ok((OpStatus::Done, Work::Ended));
        }
        match dom.create() {
            Ok(()) => Ok((OpStatus::Done, Work::Ended)),
            Err(err) => {
                let call = Call { host: &host, function: "virDomainCreate", instance: Some(name) };
                match self.conns.error(call, &err) {
                    // The answer was lost, not necessarily the start: settled by the next poll.
                    DriverError::Unreachable { .. } => {
                        Ok((OpStatus::Pending, Work::Start { host, name: name.to_string() }))
                    }
                    mapped => Ok((OpStatus::Failed(mapped.to_string()), Work::Ended)),
                }
            }
        }
    }

    fn begin_stop(
        &self,
        op: &ComputeOp,
        busy: Option<String>,
    ) -> Result<(Status, Work), DriverError> {
        let name = op.instance();
        let (host, dom) = self.locate(op, name)?;
        if let Some(other) = busy {
            return Err(self.refuse(op, &host, format!("{name} is busy with operation {other}")));
        }
        if !self.active(&host, &dom, name)? {
            return Ok((OpStatus::Done, Work::Ended));
        }
        let stop = self.request_shutdown(&host, &dom, name);
        Ok((OpStatus::Pending, Work::Stop(stop)))
    }

    /// Asks the guest to shut down (unless a failpoint says it ignores that).
    fn request_shutdown(&self, host: &HostId, dom: &Domain, name: &str) -> StopWork {
        let mut shutdown_failed = false;
        if !self.failpoint(name, Failpoint::IgnoreShutdown) {
            if let Err(err) = dom.shutdown() {
                self.conns.note(host, &format!("virDomainShutdown {name}"), &err);
                shutdown_failed = true;
            }
        }
        StopWork {
            host: host.clone(),
            name: name.to_string(),
            persistent: dom.is_persistent().unwrap_or(true),
            requested_at: self.clock.now(),
            shutdown_failed,
            destroyed_at: None,
        }
    }

    /// Waits for the domain to shut off; destroys it after the grace period.
    fn advance_stop(&self, stop: &mut StopWork, now: Duration) -> Step {
        let (host, name) = (&stop.host, stop.name.as_str());
        let Some(dom) = self.domain(host, name)? else {
            return Ok(Some(if stop.persistent {
                OpStatus::Failed(format!("{name} was undefined on {host} during the stop"))
            } else {
                OpStatus::Done
            }));
        };
        if !self.active(host, &dom, name)? {
            return Ok(Some(OpStatus::Done));
        }
        match stop.destroyed_at {
            None if stop.shutdown_failed || now >= stop.requested_at + self.grace => {
                if let Err(err) = dom.destroy() {
                    self.conns.note(host, &format!("virDomainDestroy {name}"), &err);
                }
                stop.destroyed_at = Some(now);
                if !self.active(host, &dom, name)? {
                    return Ok(Some(OpStatus::Done));
                }
                Ok(None)
            }
            Some(at) if now >= at + self.destroy_wait => Ok(Some(OpStatus::Failed(format!(
                "{name} still runs on {host} {} after virDomainDestroy; it is left running",
                crate::error::Secs(now - at)
            )))),
            _ => Ok(None),
        }
    }

    fn begin_move(
        &self,
        op_id: &str,
        op: &ComputeOp,
        busy: Option<String>,
    ) -> Result<(Status, Work), DriverError> {
        let ComputeOp::Move { instance: name, from, to, kind } = op else {
            return Err(self.refuse(op, &HostId::new("?"), "not a move".into()));
        };
        let name = name.as_str();
        if !self.conns.knows(from) {
            return Err(DriverError::UnknownHost { host: from.clone() });
        }
        let src = self.domain(from, name)?;
        // A cold move a restarted hearth submits again, recorded in the domains' metadata.
        if *kind == MoveKind::Cold && to != from && self.conns.knows(to) {
            if let Some(resumed) = self.resume(op_id, op, src.as_ref())? {
                return Ok(resumed);
            }
        }
        let Some(src) = src else {
            let (elsewhere, _) = self.locate(op, name)?;
            return Err(self.refuse(op, from, format!("{name} is on {elsewhere}, not on {from}")));
        };
        if to == from {
            return Err(self.refuse(op, from, format!("{name} is on {to} already")));
        }
        if !self.conns.knows(to) {
            return Err(DriverError::UnknownHost { host: to.clone() });
        }
        if let Some(other) = busy {
            return Err(self.refuse(op, from, format!("{name} is busy with operation {other}")));
        }
        let record = self.record(from, &src, name)?;
        if let Some(mark) = record.mark.as_ref().filter(|mark| mark.phase == Phase::Moving) {
            return Err(self.refuse(
                op,
                from,
                format!(
                    "{name}'s metadata records move {} ({} → {}) under way; submit that \
                     operation again to finish it",
                    mark.op_id, mark.from, mark.to
                ),
            ));
        }
        if record.pinned || self.pinned.contains(name) {
            return Err(self.refuse(op, from, format!("{name} is pinned to {from}")));
        }
        let persistent = src.is_persistent().map_err(|err| {
            let call = Call { host: from, function: "virDomainIsPersistent", instance: Some(name) };
            self.conns.error(call, &err)
        })?;
        if !persistent {
            return Err(self.refuse(
                op,
                from,
                format!("{name} is transient: it has no persistent definition to move"),
            ));
        }
        if self.domain(to, name)?.is_some() {
            return Err(self.refuse(
                op,
                from,
                format!("{to} already defines a domain named {name}; hearth never overwrites one"),
            ));
        }
        let running = self.active(from, &src, name)?;
        self.check_fit(op, &src, name, from, to)?;
        match kind {
            MoveKind::Live => self.begin_live(op, &src, name, from, to, running),
            MoveKind::Cold => {
                let mark = MoveMark {
                    op_id: op_id.to_string(),
                    phase: Phase::Moving,
                    from: from.to_string(),
                    to: to.to_string(),
                    running,
                    reason: None,
                };
                let marked = Record { mark: Some(mark), ..record };
                self.set_record(from, &src, name, &marked)?;
                let stop = running.then(|| self.request_shutdown(from, &src, name));
                Ok((OpStatus::Pending, Work::Cold(self.cold(from, to, name, running, stop, false))))
            }
        }
    }

    fn cold(
        &self,
        from: &HostId,
        to: &HostId,
        name: &str,
        running: bool,
        stop: Option<StopWork>,
        defined: bool,
    ) -> ColdWork {
        ColdWork {
            from: from.clone(),
            to: to.clone(),
            name: name.to_string(),
            running,
            stop,
            defined,
            halted: false,
            undefine_failing_since: None,
        }
    }

    /// Picks up a cold move this driver does not know but the domains' metadata records (a
    /// hearth restart): `None` when neither domain records `op_id`.
    fn resume(
        &self,
        op_id: &str,
        op: &ComputeOp,
        src: Option<&Domain>,
    ) -> Result<Option<(Status, Work)>, DriverError> {
        let ComputeOp::Move { instance: name, from, to, .. } = op else { return Ok(None) };
        let mine = |record: Record| record.mark.filter(|mark| mark.op_id == op_id);
        let conflict = |mark: &MoveMark| DriverError::OperationConflict {
            op_id: op_id.to_string(),
            existing: format!(
                "cold move of {name} from {} to {} (recorded in its libvirt metadata)",
                mark.from, mark.to
            ),
            requested: op.to_string(),
        };
        let same = |mark: &MoveMark| mark.from == from.as_str() && mark.to == to.as_str();
        if let Some(target) = self.domain(to, name)? {
            if let Some(mark) = mine(self.record(to, &target, name)?) {
                if !same(&mark) {
                    return Err(conflict(&mark));
                }
                if mark.phase == Phase::Done {
                    return Ok(Some((OpStatus::Done, Work::Ended)));
                }
                // Defined on the target already: the source is stopped; finish from there.
                let cold = self.cold(from, to, name, mark.running, None, true);
                return Ok(Some((OpStatus::Pending, Work::Cold(cold))));
            }
        }
        let Some(src) = src else { return Ok(None) };
        let Some(mark) = mine(self.record(from, src, name)?) else { return Ok(None) };
        if !same(&mark) {
            return Err(conflict(&mark));
        }
        match mark.phase {
            Phase::Failed => {
                let reason = mark.reason.unwrap_or_else(|| "failed before a restart".into());
                Ok(Some((OpStatus::Failed(reason), Work::Ended)))
            }
            Phase::Done => Ok(Some((OpStatus::Done, Work::Ended))),
            Phase::Moving => {
                let stop = if self.active(from, src, name)? {
                    Some(self.request_shutdown(from, src, name))
                } else {
                    None
                };
                let cold = self.cold(from, to, name, mark.running, stop, false);
                Ok(Some((OpStatus::Pending, Work::Cold(cold))))
            }
        }
    }

    /// Refuses a move whose instance does not fit the target: more vCPUs than the target has,
    /// or more memory than its active domains leave.
    fn check_fit(
        &self,
        op: &ComputeOp,
        src: &Domain,
        name: &str,
        from: &HostId,
        to: &HostId,
    ) -> Result<(), DriverError> {
        let info = src.info().map_err(|err| {
            self.conns.error(
                Call { host: from, function: "virDomainGetInfo", instance: Some(name) },
                &err,
            )
        })?;
        let target = self.conns.get(to)?;
        let call = |function| Call { host: to, function, instance: None };
        let node =
            target.node_info().map_err(|err| self.conns.error(call("virNodeGetInfo"), &err))?;
        let active = target
            .list_all_domains(virt::sys::VIR_CONNECT_LIST_DOMAINS_ACTIVE)
            .map_err(|err| self.conns.error(call("virConnectListAllDomains"), &err))?;
        let used_kib: u64 =
            active.iter().filter_map(|dom| dom.info().ok()).map(|i| i.max_mem).sum();
        let free_mib = node.memory.saturating_sub(used_kib) / 1024;
        let need_mib = info.max_mem / 1024;
        if info.nr_virt_cpu > node.cpus {
            return Err(self.refuse(
                op,
                from,
                format!("{name} has {} vCPUs; {to} has {} CPUs", info.nr_virt_cpu, node.cpus),
            ));
        }
        if need_mib > free_mib {
            return Err(self.refuse(
                op,
                from,
                format!("{name} needs {need_mib} MiB; {to} has {free_mib} MiB its running domains leave free"),
            ));
        }
        Ok(())
    }

    fn begin_live(
        &self,
        op: &ComputeOp,
        src: &Domain,
        name: &str,
        from: &HostId,
        to: &HostId,
        running: bool,
    ) -> Result<(Status, Work), DriverError> {
        let uri = self.conns.uri(from)?;
        if is_test_uri(&uri) {
            return Err(self.refuse(
                op,
                from,
                "libvirt's test driver has no migration (use a cold move)".to_string(),
            ));
        }
        if !running {
            return Err(self.refuse(
                op,
                from,
                format!("{name} is stopped; a live move needs it running"),
            ));
        }
        let source = self.conns.get(from)?;
        let capabilities = source.capabilities().map_err(|err| {
            self.conns.error(
                Call { host: from, function: "virConnectGetCapabilities", instance: None },
                &err,
            )
        })?;
        if !declares_live_migration(&capabilities) {
            return Err(self.refuse(
                op,
                from,
                format!("the hypervisor at {uri} declares no live migration in its capabilities"),
            ));
        }
        let target = self.conns.get(to)?;
        let (dom, result) = (src.clone(), Arc::new(Mutex::new(None)));
        let slot = result.clone();
        let flags = virt::sys::VIR_MIGRATE_LIVE
            | virt::sys::VIR_MIGRATE_PERSIST_DEST
            | virt::sys::VIR_MIGRATE_UNDEFINE_SOURCE;
        // virDomainMigrate blocks for the whole migration: it gets a thread of its own.
        let spawned =
            std::thread::Builder::new().name(format!("hearth-migrate-{name}")).spawn(move || {
                let migrated = dom.migrate(&target, flags, None, None, 0).map(drop);
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(migrated);
            });
        if let Err(err) = spawned {
            return Err(self.refuse(op, from, format!("cannot start a migration thread: {err}")));
        }
        Ok((
            OpStatus::Pending,
            Work::Live(LiveWork { from: from.clone(), name: name.to_string(), result }),
        ))
    }

    /// Advances a cold move: waits for the source to stop, then copies, defines, starts and
    /// undefines in one go (docs/drivers.md has the sequence and its roll-backs).
    fn advance_cold(&self, op_id: &str, cold: &mut ColdWork, now: Duration) -> Step {
        if cold.halted {
            return Ok(None);
        }
        if let Some(stop) = &mut cold.stop {
            match self.advance_stop(stop, now)? {
                None => return Ok(None),
                Some(OpStatus::Failed(why)) => {
                    let reason = format!("could not stop {} on {}: {why}", cold.name, cold.from);
                    return Ok(Some(self.rolled_back(op_id, cold, reason, false)));
                }
                Some(_) => cold.stop = None,
            }
        }
        let (from, to, name) = (cold.from.clone(), cold.to.clone(), cold.name.clone());
        let Some(src) = self.domain(&from, &name)? else {
            if cold.defined {
                // Undefined on the source already: only the bookkeeping is left.
                return Ok(Some(self.finished(op_id, cold)));
            }
            return Ok(Some(OpStatus::Failed(format!(
                "{name} vanished from {from} during the move (undefined from outside)"
            ))));
        };
        if !cold.defined {
            if let Err(reason) = self.define_on_target(cold, &src) {
                return Ok(Some(self.rolled_back(op_id, cold, reason, cold.running)));
            }
            cold.defined = true;
            if self.failpoint(&name, Failpoint::HaltAfterDefine) {
                cold.halted = true;
                return Ok(None);
            }
        }
        let Some(copy) = self.domain(&to, &name)? else {
            let reason = format!("the copy of {name} on {to} vanished during the move");
            return Ok(Some(self.rolled_back(op_id, cold, reason, cold.running)));
        };
        if cold.running && !self.active(&to, &copy, &name)? {
            let started = if self.failpoint(&name, Failpoint::FailStartOnTarget) {
                Err(format!(
                    "virDomainCreate {name} on {to}: failed by failpoint FailStartOnTarget"
                ))
            } else {
                copy.create().map_err(|err| {
                    let call =
                        Call { host: &to, function: "virDomainCreate", instance: Some(&name) };
                    self.conns.error(call, &err).to_string()
                })
            };
            // Failed, unless it runs after all (an answer lost on the way back).
            if let Err(why) = started {
                if !self.active(&to, &copy, &name).unwrap_or(false) {
                    let mut reason = format!("start on {to} failed: {why}");
                    if let Err(err) = copy.undefine() {
                        let call = Call {
                            host: &to,
                            function: "virDomainUndefine",
                            instance: Some(&name),
                        };
                        let mapped = self.conns.error(call, &err);
                        reason.push_str(&format!(
                            "; its stopped copy on {to} could not be undefined ({mapped}): remove it by hand"
                        ));
                    }
                    return Ok(Some(self.rolled_back(op_id, cold, reason, true)));
                }
            }
        }
        if self.failpoint(&name, Failpoint::HaltAfterStart) {
            cold.halted = true;
            return Ok(None);
        }
        if self.active(&from, &src, &name)? {
            // Started on the source from outside since it stopped: undefining it would leave
            // it transient and running there too. Stop where we are and say so.
            return Ok(Some(OpStatus::Failed(format!(
                "{name} was started on {from} from outside during the move; it is defined on \
                 both {from} and {to}: stop and undefine one by hand"
            ))));
        }
        if let Err(err) = src.undefine() {
            let call = Call { host: &from, function: "virDomainUndefine", instance: Some(&name) };
            let mapped = self.conns.error(call, &err);
            let since = *cold.undefine_failing_since.get_or_insert(now);
            if now < since + self.grace {
                return Ok(None);
            }
            return Ok(Some(OpStatus::Failed(format!(
                "{name} runs on {to}, but its stopped definition on {from} could not be \
                 undefined for {} ({mapped}); remove it by hand",
                crate::error::Secs(now - since)
            ))));
        }
        Ok(Some(self.finished(op_id, cold)))
    }

    /// Copies the source's persistent XML and defines it on the target; why not, if not.
    fn define_on_target(&self, cold: &ColdWork, src: &Domain) -> Result<(), String> {
        let (from, to, name) = (&cold.from, &cold.to, cold.name.as_str());
        let flags = virt::sys::VIR_DOMAIN_XML_INACTIVE | virt::sys::VIR_DOMAIN_XML_SECURE;
        let xml = src.xml_desc(flags).map_err(|err| {
            let call = Call { host: from, function: "virDomainGetXMLDesc", instance: Some(name) };
            format!("reading its definition on {from} failed: {}", self.conns.error(call, &err))
        })?;
        if self.failpoint(name, Failpoint::FailDefineOnTarget) {
            return Err(format!("define on {to} failed by failpoint FailDefineOnTarget"));
        }
        let target = self.conns.get(to).map_err(|err| format!("define on {to} failed: {err}"))?;
        target.define_domain_xml(&xml).map(drop).map_err(|err| {
            let call = Call { host: to, function: "virDomainDefineXML", instance: Some(name) };
            format!("define on {to} failed: {}", self.conns.error(call, &err))
        })
    }

    /// Ends a cold move `Done`: marks the target's domain so a restarted driver knows.
    fn finished(&self, op_id: &str, cold: &ColdWork) -> OpStatus {
        let (to, name) = (&cold.to, cold.name.as_str());
        if let Ok(Some(copy)) = self.domain(to, name) {
            let mark = MoveMark {
                op_id: op_id.to_string(),
                phase: Phase::Done,
                from: cold.from.to_string(),
                to: to.to_string(),
                running: cold.running,
                reason: None,
            };
            let pinned = self.record(to, &copy, name).map(|r| r.pinned).unwrap_or(false);
            // Logged if it fails; the move itself is over.
            let _ = self.set_record(to, &copy, name, &Record { pinned, mark: Some(mark) });
        }
        OpStatus::Done
    }

    /// Ends a cold move `Failed` with the instance on the source: restarts it there if it ran
    /// (`restart`), and marks the source's domain with the reason.
    fn rolled_back(&self, op_id: &str, cold: &ColdWork, reason: String, restart: bool) -> OpStatus {
        let (from, name) = (&cold.from, cold.name.as_str());
        let mut reason = reason;
        match self.domain(from, name) {
            Ok(Some(src)) => {
                if restart && !self.active(from, &src, name).unwrap_or(true) {
                    if let Err(err) = src.create() {
                        let call =
                            Call { host: from, function: "virDomainCreate", instance: Some(name) };
                        let mapped = self.conns.error(call, &err);
                        reason
                            .push_str(&format!("; restarting it on {from} failed too ({mapped})"));
                    }
                }
                let mark = MoveMark {
                    op_id: op_id.to_string(),
                    phase: Phase::Failed,
                    from: from.to_string(),
                    to: cold.to.to_string(),
                    running: cold.running,
                    reason: Some(reason.clone()),
                };
                let pinned = self.record(from, &src, name).map(|r| r.pinned).unwrap_or(false);
                let _ = self.set_record(from, &src, name, &Record { pinned, mark: Some(mark) });
            }
            Ok(None) => reason.push_str(&format!("; {name} is no longer defined on {from}")),
            Err(err) => reason.push_str(&format!("; {from} could not be checked ({err})")),
        }
        OpStatus::Failed(format!("{reason}; {name} stays on {from}"))
    }
}

/// An accepted operation's first status.
type Status = OpStatus;

/// Whether a hypervisor's capabilities XML declares live migration
/// (`<migration_features><live/>…</migration_features>`).
fn declares_live_migration(capabilities: &str) -> bool {
    let Some(start) = capabilities.find("<migration_features>") else { return false };
    let rest = &capabilities[start..];
    let end = rest.find("</migration_features>").unwrap_or(rest.len());
    rest[..end].contains("<live/>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_migration_is_read_from_the_capabilities() {
        let qemu = "<capabilities><host><migration_features><live/><uri_transports>\
                    <uri_transport>tcp</uri_transport></uri_transports></migration_features>\
                    </host></capabilities>";
        assert!(declares_live_migration(qemu));
        assert!(!declares_live_migration("<capabilities><host><cpu/></host></capabilities>"));
        assert!(!declares_live_migration("<migration_features></migration_features><live/>"));
    }

    #[test]
    fn cpu_use_comes_from_deltas() {
        let mut state = State::default();
        let host = HostId::new("h1");
        let s = Duration::from_secs;
        assert_eq!(state.cpu_use(&host, "u".into(), 0, s(10), 2.0), None, "first sample");
        // 1 s of CPU over 1 s on 2 vCPUs: half.
        assert_eq!(state.cpu_use(&host, "u".into(), 1_000_000_000, s(11), 2.0), Some(0.5));
        assert_eq!(
            state.cpu_use(&host, "u".into(), 1_000_000_000, s(11), 2.0),
            Some(0.5),
            "no time"
        );
        assert_eq!(state.cpu_use(&host, "u".into(), 5, s(12), 2.0), None, "restarted");
        state.keep_samples(&host, &[]);
        assert!(state.samples.is_empty());
    }
}
