//! The driver's operations: what `submit` checks and sends for a start, a stop and a cold move,
//! and what `poll` does next for the ones still in flight (a stop waiting for its container to
//! exit; a move's switch-over, clean-up and roll-back). The move's sequence and its failure
//! handling are written down in the module documentation of `container`.

use std::time::Duration;

use bollard::models::ContainerInspectResponse;

use super::copy::copy_of;
use super::requests::{is_running, Api, Listed};
use super::{cpus_of, hosts_of, labels_of, pinned, ContainerDriver, State, NO_LIVE_MOVES};
use crate::compute::{ComputeOp, MoveKind};
use crate::error::{DriverError, Secs};
use crate::host::HostId;
use crate::power::OpStatus;

/// One operation, under the caller's ID.
pub(super) struct Record {
    /// What was asked.
    pub(super) op: ComputeOp,
    /// Where it stands.
    pub(super) status: OpStatus,
    /// When it was submitted, on the driver's clock.
    submitted_at: Duration,
    /// A container that listings leave out while this operation needs them to: a move's copy
    /// on the target until the switch-over (and after a failed move, if it could not be
    /// removed), the source's container after it.
    pub(super) hidden: Option<String>,
    /// What is left to do; `None` once the operation ended.
    work: Option<Work>,
}

/// What an operation in flight waits for.
enum Work {
    /// A stop: the container has had its signal.
    Stop { instance: String, host: HostId, container: String, stopping: Stopping },
    /// A cold move.
    Move(Box<Move>),
}

/// A container that has had its stop signal.
struct Stopping {
    signalled_at: Duration,
    killed_at: Option<Duration>,
}

/// A cold move in flight.
struct Move {
    instance: String,
    from: HostId,
    to: HostId,
    /// The container on `from`.
    source: String,
    /// Its copy on `to`.
    target: String,
    /// Whether the instance ran when the move began (a stopped one moves stopped).
    was_running: bool,
    /// The source container vanished (removed from outside) before the switch-over.
    source_gone: bool,
    /// A start of the copy went unanswered: it may have happened.
    start_uncertain: bool,
    step: MoveStep,
}

/// Where a move is.
enum MoveStep {
    /// The source has had its stop signal.
    StopSource(Stopping),
    /// The source has exited: start the copy (the switch-over).
    StartTarget,
    /// The copy runs: remove the source's stopped container.
    RemoveSource,
}

/// What a stopping container is doing.
enum StopProgress {
    Stopped,
    Running,
    /// Still running this long after SIGKILL.
    Stuck(Duration),
    /// The engine has no such container any more.
    Gone,
}

impl Record {
    fn ended(op: &ComputeOp, status: OpStatus, now: Duration) -> Record {
        Record { op: op.clone(), status, submitted_at: now, hidden: None, work: None }
    }

    fn pending(op: &ComputeOp, work: Work, hidden: Option<String>, now: Duration) -> Record {
        let status = OpStatus::Pending;
        Record { op: op.clone(), status, submitted_at: now, hidden, work: Some(work) }
    }
}

impl ContainerDriver {
    /// Checks `op` and makes its first requests; the record to keep. An error leaves nothing
    /// behind on the engines (a move's copy is removed again).
    pub(super) fn start_operation(
        &self,
        state: &State,
        op_id: &str,
        op: &ComputeOp,
    ) -> Result<Record, DriverError> {
        let now = self.clock.now();
        match op {
            ComputeOp::Start { instance } => {
                let (host, container) = self.sole_copy(state, op, instance)?;
                let api = self.api(self.engine(&host)?);
                let inspect = inspected(&api, &container, instance)?;
                let status = if is_running(&inspect) {
                    OpStatus::Done
                } else {
                    match api.start(&container) {
                        Ok(()) => OpStatus::Done,
                        Err(error) if error.answered() => OpStatus::Failed(format!(
                            "{instance} did not start on {host}: {}",
                            error.message()
                        )),
                        Err(error) => return Err(error.into()),
                    }
                };
                Ok(Record::ended(op, status, now))
            }
            ComputeOp::Stop { instance } => {
                let (host, container) = self.sole_copy(state, op, instance)?;
                let api = self.api(self.engine(&host)?);
                let inspect = inspected(&api, &container, instance)?;
                if !is_running(&inspect) {
                    return Ok(Record::ended(op, OpStatus::Done, now));
                }
                match api.kill(&container, &stop_signal(&inspect)) {
                    // Refused: it exited meanwhile, most likely; `poll` looks.
                    Err(error) if !error.answered() => return Err(error.into()),
                    _ => {}
                }
                let stopping = Stopping { signalled_at: now, killed_at: None };
                let instance = instance.clone();
                let work = Work::Stop { instance, host, container, stopping };
                Ok(Record::pending(op, work, None, now))
            }
            ComputeOp::Move { instance, from, to, kind } => {
                self.start_move(state, op_id, op, instance, from, to, *kind, now)
            }
        }
    }

    /// The one container of `instance` (on any engine), for a start or a stop.
    fn sole_copy(
        &self,
        state: &State,
        op: &ComputeOp,
        instance: &str,
    ) -> Result<(HostId, String), DriverError> {
        let mut copies = self.locate(state, instance)?;
        let (host, listed) = match copies.len() {
            0 => return Err(DriverError::UnknownInstance { instance: instance.to_string() }),
            1 => copies.remove(0),
            _ => {
                let reason = format!(
                    "{instance} has containers on {} (an interrupted move?): remove the one \
                     that should not be there",
                    hosts_of(&copies)
                );
                return Err(self.refused(op, &copies[0].0, reason));
            }
        };
        self.refuse_if_busy(state, op, instance, &host)?;
        Ok((host, listed.id))
    }

    fn refuse_if_busy(
        &self,
        state: &State,
        op: &ComputeOp,
        instance: &str,
        host: &HostId,
    ) -> Result<(), DriverError> {
        let busy = state
            .ops
            .iter()
            .find(|(_, record)| record.work.is_some() && record.op.instance() == instance);
        match busy {
            Some((op_id, _)) => {
                Err(self.refused(op, host, format!("{instance} is busy with operation {op_id}")))
            }
            None => Ok(()),
        }
    }

    fn refused(&self, op: &ComputeOp, host: &HostId, reason: String) -> DriverError {
        DriverError::Refused { operation: op.to_string(), backend: self.backend(host), reason }
    }

    /// Step 1 of the cold move (see the module documentation of `container`): the checks, the
    /// copy on the target, and the source's stop signal.
    #[allow(clippy::too_many_arguments)] // the move's fields, unpacked once by the caller
    fn start_move(
        &self,
        state: &State,
        op_id: &str,
        op: &ComputeOp,
        instance: &str,
        from: &HostId,
        to: &HostId,
        kind: MoveKind,
        now: Duration,
    ) -> Result<Record, DriverError> {
        let source_api = self.api(self.engine(from)?);
        let copies = self.locate(state, instance)?;
        let refuse = |reason: String| self.refused(op, from, reason);
        if copies.is_empty() {
            return Err(DriverError::UnknownInstance { instance: instance.to_string() });
        }
        let made_by_this_move = copies
            .iter()
            .find(|(host, listed)| host == to && listed.move_op.as_deref() == Some(op_id));
        if let Some((_, copy)) = made_by_this_move {
            return self.resume_move(op, instance, from, to, &copies, &copy.id, now);
        }
        let Some((_, source)) = copies.iter().find(|(host, _)| host == from) else {
            return Err(refuse(format!(
                "{instance} is not on {from}: it is on {}",
                hosts_of(&copies)
            )));
        };
        if from == to {
            return Err(refuse(format!("{instance} is on {to} already")));
        }
        let target_api = self.api(self.engine(to)?);
        if kind == MoveKind::Live {
            return Err(refuse(NO_LIVE_MOVES.to_string()));
        }
        self.refuse_if_busy(state, op, instance, from)?;
        if copies.len() > 1 {
            return Err(refuse(format!(
                "{instance} has containers on {} (an interrupted move?)",
                hosts_of(&copies)
            )));
        }
        let inspect = inspected(&source_api, &source.id, instance)?;
        if pinned(&inspect) {
            return Err(refuse(format!(
                "{instance} is pinned to {from} (io.hearth.movable=false)"
            )));
        }

        let body = copy_of(&inspect, op_id);
        let image = body.image.clone().unwrap_or_default();
        if !target_api.has_image(&image)? {
            return Err(refuse(format!(
                "image {image} is not on {to} ({}), and the driver does not pull images: load \
                 it there first; {instance} stays on {from}",
                target_api.engine.endpoint
            )));
        }
        if let Some(reason) = self.no_room(&target_api, &inspect, instance, to)? {
            return Err(refuse(reason));
        }

        let name =
            inspect.name.as_deref().map(|name| name.trim_start_matches('/')).unwrap_or(instance);
        let target = match target_api.create(name, body) {
            Ok(id) => id,
            Err(error) if error.answered() => {
                return Err(refuse(format!(
                    "the engine on {to} did not create the copy: {}",
                    error.message()
                )))
            }
            Err(error) => {
                // It may have been created without the answer reaching us.
                let _ = target_api.remove(name, true);
                return Err(error.into());
            }
        };
        let was_running = is_running(&inspect);
        if was_running {
            if let Err(error) = source_api.kill(&source.id, &stop_signal(&inspect)) {
                if !error.answered() {
                    let _ = target_api.remove(&target, true);
                    return Err(error.into());
                }
            }
        }
        let step = if was_running {
            MoveStep::StopSource(Stopping { signalled_at: now, killed_at: None })
        } else {
            MoveStep::StartTarget
        };
        let work = Work::Move(Box::new(Move {
            instance: instance.to_string(),
            from: from.clone(),
            to: to.clone(),
            source: source.id.clone(),
            target: target.clone(),
            was_running,
            source_gone: false,
            start_uncertain: false,
            step,
        }));
        Ok(Record::pending(op, work, Some(target), now))
    }

    /// A move submitted again after the driver lost its record (hearth restarted), whose copy
    /// on `to` exists already: it goes on from where the engines say it is. No container on
    /// `from` means it was done; a running copy means the switch-over happened (the source is
    /// removed); otherwise the source is stopped (again) and the copy started if the instance
    /// ran when the move began ([`super::LABEL_MOVE_RUNNING`]).
    #[allow(clippy::too_many_arguments)] // the move's fields, unpacked once by the caller
    fn resume_move(
        &self,
        op: &ComputeOp,
        instance: &str,
        from: &HostId,
        to: &HostId,
        copies: &[(HostId, Listed)],
        target: &str,
        now: Duration,
    ) -> Result<Record, DriverError> {
        let Some((_, source)) = copies.iter().find(|(host, _)| host == from) else {
            return Ok(Record::ended(op, OpStatus::Done, now));
        };
        let source_api = self.api(self.engine(from)?);
        let target_api = self.api(self.engine(to)?);
        let copy = inspected(&target_api, target, instance)?;
        let original = inspected(&source_api, &source.id, instance)?;
        let (copy_runs, source_runs) = (is_running(&copy), is_running(&original));
        if copy_runs && source_runs {
            return Err(self.refused(
                op,
                from,
                format!(
                    "{instance} runs on both {from} and {to}: stop the one that should not run"
                ),
            ));
        }
        let was_running = labels_of(&copy)
            .and_then(|labels| labels.get(super::LABEL_MOVE_RUNNING))
            .map_or(source_runs, |value| value == "true");
        let (step, hidden) = if copy_runs {
            (MoveStep::RemoveSource, source.id.clone())
        } else if source_runs {
            if let Err(error) = source_api.kill(&source.id, &stop_signal(&original)) {
                if !error.answered() {
                    return Err(error.into());
                }
            }
            (MoveStep::StopSource(Stopping { signalled_at: now, killed_at: None }), target.into())
        } else {
            (MoveStep::StartTarget, target.to_string())
        };
        let work = Work::Move(Box::new(Move {
            instance: instance.to_string(),
            from: from.clone(),
            to: to.clone(),
            source: source.id.clone(),
            target: target.to_string(),
            was_running,
            source_gone: false,
            start_uncertain: false,
            step,
        }));
        Ok(Record::pending(op, work, Some(hidden), now))
    }

    /// Why `to` has no room for the instance, if its engine says how big it is.
    fn no_room(
        &self,
        target_api: &Api<'_>,
        inspect: &ContainerInspectResponse,
        instance: &str,
        to: &HostId,
    ) -> Result<Option<String>, DriverError> {
        let (ncpu, mem_total) = match target_api.capacity() {
            Ok(capacity) => capacity,
            Err(error) if error.answered() || error.uncertain() => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        let memory = inspect.host_config.as_ref().and_then(|host| host.memory).unwrap_or(0);
        if let Some(total) = mem_total.filter(|&total| total > 0 && memory > total) {
            let mib = |bytes: i64| bytes / (1024 * 1024);
            return Ok(Some(format!(
                "{instance} needs {} MiB; {to} has {} MiB",
                mib(memory),
                mib(total)
            )));
        }
        let cpus = cpus_of(inspect);
        if let Some(ncpu) = ncpu.filter(|&ncpu| ncpu > 0 && cpus > ncpu as f64) {
            return Ok(Some(format!("{instance} needs {cpus} CPUs; {to} has {ncpu}")));
        }
        Ok(None)
    }

    /// Does what can be done now for an operation in flight; an engine that does not answer is
    /// the error, and the operation waits.
    pub(super) fn advance(&self, record: &mut Record) -> Result<(), DriverError> {
        let now = self.clock.now();
        let Some(work) = record.work.as_mut() else { return Ok(()) };
        let ended = match work {
            Work::Stop { instance, host, container, stopping } => {
                let api = self.api(self.engine(host)?);
                match self.advance_stop(&api, container, stopping, now)? {
                    StopProgress::Running => None,
                    StopProgress::Stopped => Some(OpStatus::Done),
                    StopProgress::Stuck(after) => Some(OpStatus::Failed(format!(
                        "{instance} still runs on {host} {} after SIGKILL; it is left running",
                        Secs(after)
                    ))),
                    StopProgress::Gone => Some(OpStatus::Failed(format!(
                        "{instance}'s container was removed from {host} during the stop"
                    ))),
                }
            }
            Work::Move(step) => {
                let deadline_passed = now >= record.submitted_at + self.options.deadline;
                self.advance_move(step, &mut record.hidden, deadline_passed, now)?
            }
        };
        if let Some(status) = ended {
            record.status = status;
            record.work = None;
        }
        Ok(())
    }

    /// A stopping container: exited, or SIGKILL once the grace period is over.
    fn advance_stop(
        &self,
        api: &Api<'_>,
        container: &str,
        stopping: &mut Stopping,
        now: Duration,
    ) -> Result<StopProgress, DriverError> {
        let Some(inspect) = api.inspect(container)? else { return Ok(StopProgress::Gone) };
        if !is_running(&inspect) {
            return Ok(StopProgress::Stopped);
        }
        match stopping.killed_at {
            None if now >= stopping.signalled_at + self.options.stop_grace => {
                match api.kill(container, "SIGKILL") {
                    // Refused: it exited meanwhile, most likely; the next poll looks.
                    Err(error) if !error.answered() => return Err(error.into()),
                    _ => {}
                }
                stopping.killed_at = Some(now);
                Ok(StopProgress::Running)
            }
            Some(killed_at) if now >= killed_at + self.options.kill_wait => {
                Ok(StopProgress::Stuck(now - killed_at))
            }
            _ => Ok(StopProgress::Running),
        }
    }

    /// Steps 2 to 6 of the cold move; the status it ended with, if it did.
    fn advance_move(
        &self,
        work: &mut Move,
        hidden: &mut Option<String>,
        deadline_passed: bool,
        now: Duration,
    ) -> Result<Option<OpStatus>, DriverError> {
        let source_api = self.api(self.engine(&work.from)?);
        let target_api = self.api(self.engine(&work.to)?);
        loop {
            match &mut work.step {
                MoveStep::StopSource(stopping) => {
                    match self.advance_stop(&source_api, &work.source, stopping, now)? {
                        StopProgress::Running => return Ok(None),
                        StopProgress::Stopped => work.step = MoveStep::StartTarget,
                        StopProgress::Gone => {
                            // Removed from outside: the copy is all that is left of it.
                            work.source_gone = true;
                            work.step = MoveStep::StartTarget;
                        }
                        StopProgress::Stuck(after) => {
                            let reason = format!(
                                "{} still runs on {} {} after SIGKILL",
                                work.instance,
                                work.from,
                                Secs(after)
                            );
                            let status = self.roll_back(
                                &source_api,
                                &target_api,
                                work,
                                hidden,
                                reason,
                                false,
                            );
                            return Ok(Some(status));
                        }
                    }
                }
                MoveStep::StartTarget => {
                    if !work.was_running {
                        work.step = MoveStep::RemoveSource;
                        *hidden = Some(work.source.clone());
                        continue;
                    }
                    match target_api.start(&work.target) {
                        Ok(()) => {
                            work.step = MoveStep::RemoveSource;
                            *hidden = Some(work.source.clone());
                        }
                        Err(error) if error.answered() => {
                            let reason = format!(
                                "the copy did not start on {}: {}",
                                work.to,
                                error.message()
                            );
                            let status = self.roll_back(
                                &source_api,
                                &target_api,
                                work,
                                hidden,
                                reason,
                                true,
                            );
                            return Ok(Some(status));
                        }
                        Err(error) => {
                            work.start_uncertain |= error.uncertain();
                            if deadline_passed && !work.start_uncertain {
                                let reason = format!(
                                    "the engine on {} did not answer within the {} deadline ({})",
                                    work.to,
                                    Secs(self.options.deadline),
                                    error.message()
                                );
                                let status = self.roll_back(
                                    &source_api,
                                    &target_api,
                                    work,
                                    hidden,
                                    reason,
                                    true,
                                );
                                return Ok(Some(status));
                            }
                            return Err(error.into());
                        }
                    }
                }
                MoveStep::RemoveSource => {
                    return match source_api.remove(&work.source, false) {
                        Ok(()) => {
                            *hidden = None;
                            Ok(Some(OpStatus::Done))
                        }
                        Err(error) if error.answered() && deadline_passed => {
                            *hidden = None;
                            Ok(Some(OpStatus::Failed(format!(
                                "{} runs on {}, but its stopped container {} on {} could not be \
                                 removed: {}; remove it by hand",
                                work.instance,
                                work.to,
                                short(&work.source),
                                work.from,
                                error.message()
                            ))))
                        }
                        // Tried again on the next poll.
                        Err(error) if error.answered() => Ok(None),
                        Err(error) => Err(error.into()),
                    };
                }
            }
        }
    }

    /// Undoes a move before its switch-over: the copy goes first (with force), then the source
    /// starts again if it ran (and `restart` says it was stopped), so the instance never runs
    /// twice. The copy cannot be running here: it never started, or its engine refused the
    /// start, or no start reached its engine.
    fn roll_back(
        &self,
        source_api: &Api<'_>,
        target_api: &Api<'_>,
        work: &Move,
        hidden: &mut Option<String>,
        reason: String,
        restart: bool,
    ) -> OpStatus {
        let mut notes = Vec::new();
        match target_api.remove(&work.target, true) {
            Ok(()) => *hidden = None,
            Err(error) => notes.push(format!(
                "its copy {} on {} could not be removed ({}): hearth leaves it out of listings; \
                 remove it by hand",
                short(&work.target),
                work.to,
                error.message()
            )),
        }
        if restart && work.was_running {
            if work.source_gone {
                notes.push(format!("its container on {} was removed from outside", work.from));
            } else if let Err(error) = source_api.start(&work.source) {
                notes.push(format!(
                    "it could not be started again on {} ({}): it is stopped there",
                    work.from,
                    error.message()
                ));
            }
        }
        let mut message = format!("{reason}; {} stays on {}", work.instance, work.from);
        for note in notes {
            message.push_str("; ");
            message.push_str(&note);
        }
        OpStatus::Failed(message)
    }
}

/// The container, inspected; `UnknownInstance` if the engine no longer has it.
fn inspected(
    api: &Api<'_>,
    container: &str,
    instance: &str,
) -> Result<ContainerInspectResponse, DriverError> {
    api.inspect(container)?
        .ok_or_else(|| DriverError::UnknownInstance { instance: instance.to_string() })
}

/// The signal that asks the container to stop: its `StopSignal`, else SIGTERM.
fn stop_signal(inspect: &ContainerInspectResponse) -> String {
    inspect
        .config
        .as_ref()
        .and_then(|config| config.stop_signal.clone())
        .filter(|signal| !signal.trim().is_empty())
        .unwrap_or_else(|| "SIGTERM".to_string())
}

/// A container ID as `docker ps` shortens it.
fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
