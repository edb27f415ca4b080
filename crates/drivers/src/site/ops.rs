//! The operations the driver traits ask of the site: power changes and compute operations,
//! checked when they are asked for and finished (or failed) when their site time comes.

use crate::compute::{ComputeOp, InstanceInfo, InstanceState, MoveKind};
use crate::error::DriverError;
use crate::host::HostId;
use crate::power::{OpStatus, OperationId, PowerOp};

use super::spec::SitePower;
use super::world::{involved, ComputeRecord, HostState, PowerRecord, Status, Transition, World};

impl World {
    /// The host, if it exists and its management path is up.
    pub(super) fn reachable(
        &self,
        host: &HostId,
        backend: &str,
    ) -> Result<&HostState, DriverError> {
        let found = self
            .state
            .hosts
            .get(host)
            .ok_or_else(|| DriverError::UnknownHost { host: host.clone() })?;
        if found.unreachable {
            return Err(DriverError::Unreachable {
                host: host.clone(),
                bmc: backend.to_string(),
                detail: "marked unreachable by set_unreachable".to_string(),
            });
        }
        Ok(found)
    }

    /// Whether `host` is on and not powering off.
    fn is_on(&self, host: &HostId) -> bool {
        self.state
            .hosts
            .get(host)
            .is_some_and(|h| h.power == SitePower::On && h.transition.is_none())
    }

    /// Asks for a power change (see [`super::Site`] for the rules).
    pub(super) fn power_request(
        &mut self,
        host_id: &HostId,
        op: PowerOp,
        backend: &str,
    ) -> Result<OperationId, DriverError> {
        let host = self.reachable(host_id, backend)?;
        let target = if op == PowerOp::On { SitePower::On } else { SitePower::Off };
        let heading = host.transition.as_ref().map(|transition| transition.target);
        let status = if heading == Some(target) {
            Status::Pending
        } else if host.power == target {
            if heading.is_some() {
                // Heading away from where it is: the transition is called off.
                let superseded = Status::Failed(format!("superseded by a later {op}"));
                self.settle_power_ops(host_id, &superseded);
                self.set_transition(host_id, None);
            }
            Status::Done
        } else {
            if target == SitePower::Off {
                let busy = self.busy_on(host_id);
                if !busy.is_empty() {
                    return Err(DriverError::Refused {
                        operation: format!("{op} of {host_id}"),
                        backend: backend.to_string(),
                        reason: format!(
                            "it still runs or takes instances ({}); the simulated site never \
                             powers off a host that would lose one",
                            busy.join(", ")
                        ),
                    });
                }
            }
            let timing = &self.state.spec.timing;
            let took_s = if target == SitePower::On { timing.boot_s } else { timing.shutdown_s };
            let due_s = self.state.t_s + took_s;
            self.set_transition(host_id, Some(Transition { target, due_s }));
            Status::Pending
        };
        self.state.next_power_op += 1;
        let id = self.state.next_power_op;
        self.add_power_op(id, PowerRecord { host: host_id.clone(), target, status });
        Ok(OperationId::new(id))
    }

    /// Instances that keep `host` from powering off: running or migrating on it, or in an
    /// operation that involves it.
    fn busy_on(&self, host: &HostId) -> Vec<String> {
        let mut busy: Vec<String> = self
            .ids_on(host)
            .filter(|id| {
                self.state.instances.get(*id).is_some_and(|rec| rec.state != InstanceState::Stopped)
            })
            .cloned()
            .collect();
        let records = self.ops_involving(host).filter_map(|id| self.state.compute_ops.get(id));
        for record in records {
            let involved = match &record.op {
                ComputeOp::Move { from, to, .. } => from == host || to == host,
                other => {
                    self.state.instances.get(other.instance()).is_some_and(|i| i.host == *host)
                }
            };
            let instance = record.op.instance().to_string();
            if record.status == Status::Pending && involved && !busy.contains(&instance) {
                busy.push(instance);
            }
        }
        busy
    }

    /// Where a power change stands.
    pub(super) fn power_poll(
        &self,
        id: OperationId,
        backend: &str,
    ) -> Result<OpStatus, DriverError> {
        let record =
            self.state.power_ops.get(&id.get()).ok_or(DriverError::UnknownOperation { op: id })?;
        self.reachable(&record.host, backend)?;
        Ok(OpStatus::from(&record.status))
    }

    /// The instances defined on `host`, by id.
    pub(super) fn instances_on(
        &self,
        host: &HostId,
        backend: &str,
    ) -> Result<Vec<InstanceInfo>, DriverError> {
        self.reachable(host, backend)?;
        Ok(self
            .on(host)
            .map(|(id, rec, spec, key)| InstanceInfo {
                id: id.clone(),
                host: host.clone(),
                state: rec.state,
                cpus: spec.cpus,
                memory_mib: spec.memory_mib,
                cpu_use: Some(self.use_of(rec, spec, key)),
                movable: spec.movable,
            })
            .collect())
    }

    /// Accepts a compute operation under `op_id` (see [`super::Site`] for the rules).
    pub(super) fn submit(
        &mut self,
        op_id: &str,
        op: &ComputeOp,
        backend: &str,
    ) -> Result<(), DriverError> {
        if let Some(answer) = crate::compute::resubmission(
            op_id,
            self.state.compute_ops.get(op_id).map(|r| &r.op),
            op,
        ) {
            return answer;
        }
        let refuse = |reason: String| DriverError::Refused {
            operation: op.to_string(),
            backend: backend.to_string(),
            reason,
        };
        let name = op.instance();
        let rec = self
            .state
            .instances
            .get(name)
            .ok_or_else(|| DriverError::UnknownInstance { instance: name.to_string() })?;
        self.reachable(&rec.host, backend)?;
        if let Some(other) = &rec.op {
            return Err(refuse(format!("{name} is busy with operation {other}")));
        }
        let (spec, _) = &self.instances[name];
        let t = self.state.t_s;
        let timing = &self.state.spec.timing;
        let (due_s, during) = match op {
            ComputeOp::Move { from, to, kind, .. } => {
                if rec.host != *from {
                    return Err(refuse(format!("{name} is on {}, not on {from}", rec.host)));
                }
                if !spec.movable {
                    return Err(refuse(format!("{name} is not movable")));
                }
                if to == from {
                    return Err(refuse(format!("{name} is on {to} already")));
                }
                let target = self.reachable(to, backend)?;
                if target.refuse_moves_to {
                    return Err(refuse(format!("{to} refuses moves in (set_refuse_moves_to)")));
                }
                for host in [from, to] {
                    if !self.is_on(host) {
                        return Err(refuse(format!("{host} is not on")));
                    }
                }
                let (cpus, memory_mib) = self.reserved(to);
                let meta = &self.hosts[to];
                let (free_cpus, free_mib) = (meta.cpus - cpus, meta.memory_mib - memory_mib);
                if spec.cpus > free_cpus + 1e-9 || spec.memory_mib > free_mib + 1e-9 {
                    return Err(refuse(format!(
                        "{to} has {free_cpus} CPUs and {free_mib} MiB free (moves in counted); \
                         {name} needs {} and {}",
                        spec.cpus, spec.memory_mib
                    )));
                }
                match kind {
                    MoveKind::Live if rec.state == InstanceState::Stopped => {
                        return Err(refuse(format!(
                            "{name} is stopped; a live move needs it running"
                        )));
                    }
                    MoveKind::Live => {
                        (t + spec.memory_mib / timing.live_mib_per_s, InstanceState::Migrating)
                    }
                    MoveKind::Cold => (t + timing.cold_move_s, InstanceState::Stopped),
                }
            }
            ComputeOp::Start { .. } if rec.state == InstanceState::Running => (t, rec.state),
            ComputeOp::Stop { .. } if rec.state == InstanceState::Stopped => (t, rec.state),
            ComputeOp::Start { .. } | ComputeOp::Stop { .. } => {
                if !self.is_on(&rec.host) {
                    return Err(refuse(format!("{} is not on", rec.host)));
                }
                (t + timing.start_stop_s, rec.state)
            }
        };
        let record = ComputeRecord {
            op: op.clone(),
            status: Status::Pending,
            due_s,
            deadline_s: t + timing.op_deadline_s,
            before: rec.state,
        };
        self.add_compute_op(op_id, record);
        if let Some(rec) = self.state.instances.get_mut(name) {
            rec.state = during;
            rec.op = Some(op_id.to_string());
        }
        if due_s <= t {
            // Already in the asked-for state: done at once.
            self.finish_compute(op_id);
        }
        Ok(())
    }

    /// Ends a pending compute operation whose time (due or deadline) has come.
    pub(super) fn finish_compute(&mut self, op_id: &str) {
        let Some(record) = self.state.compute_ops.get(op_id).cloned() else { return };
        if record.status != Status::Pending {
            return;
        }
        if record.due_s > record.deadline_s {
            let deadline = self.state.spec.timing.op_deadline_s;
            return self.fail_compute(op_id, format!("not done within the {deadline} s deadline"));
        }
        let Some(rec) = self.state.instances.get_mut(record.op.instance()) else {
            // A state file's operation on an instance it lacks: end it rather than spin on it.
            return self.fail_compute(op_id, "its instance is gone".to_string());
        };
        let status = match &record.op {
            ComputeOp::Move { from, .. } if rec.fail_next_move => {
                rec.fail_next_move = false;
                let reason = format!("failed by fail_next_move; the instance stays on {from}");
                return self.fail_compute(op_id, reason);
            }
            ComputeOp::Move { .. } => {
                rec.state = record.before;
                rec.moves_applied += 1;
                Status::Done
            }
            ComputeOp::Start { .. } => {
                rec.state = InstanceState::Running;
                Status::Done
            }
            ComputeOp::Stop { .. } => {
                rec.state = InstanceState::Stopped;
                Status::Done
            }
        };
        rec.op = None;
        // Unindexed before the instance changes host: what it involves is read from the state.
        self.settle_compute_op(op_id, status);
        if let ComputeOp::Move { instance, to, .. } = &record.op {
            self.place(instance, to);
        }
    }

    /// Fails a pending compute operation: the instance is left where and as it was.
    fn fail_compute(&mut self, op_id: &str, reason: String) {
        let Some(record) = self.state.compute_ops.get(op_id) else { return };
        let (instance, before) = (record.op.instance().to_string(), record.before);
        self.settle_compute_op(op_id, Status::Failed(reason));
        if let Some(rec) = self.state.instances.get_mut(&instance) {
            rec.state = before;
            rec.op = None;
        }
    }

    /// The compute operation `op_id`, if its hosts are reachable.
    fn compute_op(&self, op_id: &str, backend: &str) -> Result<&ComputeRecord, DriverError> {
        let record = self
            .state
            .compute_ops
            .get(op_id)
            .ok_or_else(|| DriverError::UnknownComputeOp { op_id: op_id.to_string() })?;
        for host in involved(&self.state, &record.op) {
            self.reachable(&host, backend)?;
        }
        Ok(record)
    }

    /// Where a compute operation stands.
    pub(super) fn compute_poll(&self, op_id: &str, backend: &str) -> Result<OpStatus, DriverError> {
        Ok(OpStatus::from(&self.compute_op(op_id, backend)?.status))
    }

    /// Cancels a pending compute operation; false when it already ended.
    pub(super) fn cancel(&mut self, op_id: &str, backend: &str) -> Result<bool, DriverError> {
        if self.compute_op(op_id, backend)?.status != Status::Pending {
            return Ok(false);
        }
        self.fail_compute(op_id, "cancelled".to_string());
        Ok(true)
    }
}
