//! The site's state (everything a state file holds) and how it moves forward in site time:
//! physics in sub-steps of at most [`MAX_STEP_S`], and the discrete changes (scripted events,
//! finished power transitions, finished or expired compute operations) applied in time order.
//! Also what the state reads as: the snapshot and the invariants.
//!
//! **Scale.** Next to the state the world keeps an [`Index`]: each host's instances, each
//! host's pending operations, and the pending transitions and operations ordered by when they
//! are due. It is derived from the state, never saved, rebuilt whenever a world is made from a
//! state (and when a failed save rolls one back), and kept in step by the few methods that move
//! an instance, start or end a power transition or a pending operation. So a call about one
//! host costs what that host holds (plus `O(log n)` lookups), and moving the world to a time at
//! which nothing is due costs `O(log n)` beyond the physics; only the physics, the snapshot and
//! the invariants (which also check the index against a fresh one) visit every host.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::f64::consts::TAU;

use model::{PowerCurve, SplitMix64};
use serde::{Deserialize, Serialize};
use sim::thermal::physics::{HostThermal, ZoneAir};

use super::spec::{EventKind, InstanceSpec, SitePower, SiteSpec};
use crate::compute::{ComputeOp, InstanceState};
use crate::host::HostId;
use crate::power::OpStatus;

/// The longest physics step, site seconds.
pub(super) const MAX_STEP_S: f64 = 5.0;

/// The state file's format number.
pub(super) const FORMAT: u32 = 1;

/// Everything that changes, plus the spec and the time origin: what a state file holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct State {
    pub(super) format: u32,
    pub(super) spec: SiteSpec,
    /// The clock's reading at site time 0, s.
    pub(super) origin_s: f64,
    /// The site time the state is at, s.
    pub(super) t_s: f64,
    pub(super) zones: Vec<ZoneState>,
    pub(super) hosts: BTreeMap<HostId, HostState>,
    pub(super) instances: BTreeMap<String, InstanceRec>,
    pub(super) compute_ops: BTreeMap<String, ComputeRecord>,
    pub(super) power_ops: BTreeMap<u64, PowerRecord>,
    pub(super) next_power_op: u64,
    /// Index of the next change in the event timeline.
    pub(super) next_change: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct ZoneState {
    pub(super) air_c: f64,
    pub(super) failed_units: u32,
    /// Heat-recovery outages in force (overlapping events stack).
    pub(super) recovery_down: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct HostState {
    pub(super) power: SitePower,
    pub(super) transition: Option<Transition>,
    pub(super) temp_c: f64,
    pub(super) energy_j: f64,
    pub(super) unreachable: bool,
    pub(super) refuse_moves_to: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Transition {
    pub(super) target: SitePower,
    pub(super) due_s: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct InstanceRec {
    pub(super) host: HostId,
    pub(super) state: InstanceState,
    pub(super) moves_applied: u64,
    pub(super) fail_next_move: bool,
    /// The compute operation in flight on it.
    pub(super) op: Option<String>,
}

/// Where an operation stands, as the state file writes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Status {
    Pending,
    Done,
    Failed(String),
}

impl From<&Status> for OpStatus {
    fn from(status: &Status) -> OpStatus {
        match status {
            Status::Pending => OpStatus::Pending,
            Status::Done => OpStatus::Done,
            Status::Failed(reason) => OpStatus::Failed(reason.clone()),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct ComputeRecord {
    pub(super) op: ComputeOp,
    pub(super) status: Status,
    pub(super) due_s: f64,
    pub(super) deadline_s: f64,
    /// The instance's state when the operation began: what a failure restores.
    pub(super) before: InstanceState,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct PowerRecord {
    pub(super) host: HostId,
    pub(super) target: SitePower,
    pub(super) status: Status,
}

/// What the spec says about a host, indexed.
pub(super) struct HostMeta {
    pub(super) zone: usize,
    pub(super) rack: String,
    pub(super) cpus: f64,
    pub(super) memory_mib: f64,
    pub(super) management: bool,
    pub(super) limit_c: f64,
    pub(super) curve: PowerCurve,
    pub(super) thermal: HostThermal,
}

/// One step of the event timeline.
struct Change {
    at_s: f64,
    zone: usize,
    kind: ChangeKind,
}

enum ChangeKind {
    UnitsFail(u32),
    UnitsRecover(u32),
    RecoveryDown,
    RecoveryUp,
}

/// The state, what is derived from its spec, and the [`Index`] into the state.
pub(super) struct World {
    /// Everything that changes. Instance placement, power transitions and pending operations
    /// change only through the world's methods (which keep [`World::index`] in step); the
    /// other fields may be set directly. Replacing the whole state goes through
    /// [`World::restore`].
    pub(super) state: State,
    pub(super) hosts: BTreeMap<HostId, HostMeta>,
    pub(super) instances: BTreeMap<String, (InstanceSpec, u64)>,
    /// Each zone's position in the spec, by id.
    zone_ids: BTreeMap<String, usize>,
    air: Vec<ZoneAir>,
    timeline: Vec<Change>,
    index: Index,
}

/// A site time as an ordered key: ordered by [`f64::total_cmp`], with `-0.0` taken as `0.0`
/// so that it orders exactly as `<` does on the (finite) times the site makes.
#[derive(Clone, Copy, Debug)]
struct At(f64);

impl At {
    fn new(at_s: f64) -> At {
        // -0.0 + 0.0 is +0.0; every other value is unchanged.
        At(at_s + 0.0)
    }
}

impl PartialEq for At {
    fn eq(&self, other: &At) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for At {}

impl PartialOrd for At {
    fn partial_cmp(&self, other: &At) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for At {
    fn cmp(&self, other: &At) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A pending discrete change other than a scripted event. At equal times power transitions
/// come first, in host order, then compute operations in ID order (the derived order).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Pending {
    /// The host's power transition.
    Power(HostId),
    /// The compute operation with this ID.
    Compute(String),
}

/// Lookups into a [`State`], derived from it and never saved; see the module documentation.
#[derive(Debug, Default, PartialEq)]
struct Index {
    /// Every host's instances, by ID (a host without any has an empty set).
    on_host: BTreeMap<HostId, BTreeSet<String>>,
    /// Every host's pending compute operations, by ID: the ones [`involved`] names it in.
    involving: BTreeMap<HostId, BTreeSet<String>>,
    /// Every host's pending power operations, by ID.
    powering: BTreeMap<HostId, BTreeSet<u64>>,
    /// Pending power transitions and compute operations by when they are due: a transition's
    /// `due_s`, an operation's `due_s` or `deadline_s`, whichever comes first.
    due: BTreeSet<(At, Pending)>,
}

impl Index {
    /// The index of `state`, from scratch.
    fn build(state: &State) -> Index {
        let mut index = Index::default();
        for (id, host) in &state.hosts {
            index.on_host.insert(id.clone(), BTreeSet::new());
            index.involving.insert(id.clone(), BTreeSet::new());
            index.powering.insert(id.clone(), BTreeSet::new());
            if let Some(transition) = &host.transition {
                index.due.insert((At::new(transition.due_s), Pending::Power(id.clone())));
            }
        }
        for (id, rec) in &state.instances {
            index.on_host.entry(rec.host.clone()).or_default().insert(id.clone());
        }
        for (op_id, record) in &state.compute_ops {
            if record.status == Status::Pending {
                index.add_compute(op_id, record, involved(state, &record.op));
            }
        }
        for (op_id, record) in &state.power_ops {
            if record.status == Status::Pending {
                index.powering.entry(record.host.clone()).or_default().insert(*op_id);
            }
        }
        index
    }

    /// Indexes the pending compute operation `op_id`, which involves `hosts`.
    fn add_compute(&mut self, op_id: &str, record: &ComputeRecord, hosts: Vec<HostId>) {
        let at = At::new(record.due_s.min(record.deadline_s));
        self.due.insert((at, Pending::Compute(op_id.to_string())));
        for host in hosts {
            self.involving.entry(host).or_default().insert(op_id.to_string());
        }
    }

    /// Forgets the compute operation `op_id`, which involves `hosts`, as pending.
    fn remove_compute(&mut self, op_id: &str, record: &ComputeRecord, hosts: Vec<HostId>) {
        let at = At::new(record.due_s.min(record.deadline_s));
        self.due.remove(&(at, Pending::Compute(op_id.to_string())));
        for host in hosts {
            if let Some(ops) = self.involving.get_mut(&host) {
                ops.remove(op_id);
            }
        }
    }
}

/// The hosts a compute operation involves: a move's two, the instance's host otherwise. An
/// instance is in at most one operation, so this does not change while the operation is
/// pending.
pub(super) fn involved(state: &State, op: &ComputeOp) -> Vec<HostId> {
    match op {
        ComputeOp::Move { from, to, .. } => vec![from.clone(), to.clone()],
        other => {
            state.instances.get(other.instance()).map(|i| i.host.clone()).into_iter().collect()
        }
    }
}

impl World {
    /// A site at time 0 as `spec` (validated) describes it.
    pub(super) fn new(spec: SiteSpec, origin_s: f64) -> World {
        let zones = spec
            .zones
            .iter()
            .map(|zone| ZoneState { air_c: zone.setpoint_c, failed_units: 0, recovery_down: 0 })
            .collect();
        let hosts = spec
            .hosts()
            .map(|(_, _, host)| {
                let state = HostState {
                    power: host.power,
                    transition: None,
                    temp_c: 0.0,
                    energy_j: 0.0,
                    unreachable: false,
                    refuse_moves_to: false,
                };
                (HostId::new(&host.id), state)
            })
            .collect();
        let instances = spec
            .instances
            .iter()
            .map(|instance| {
                let state =
                    if instance.running { InstanceState::Running } else { InstanceState::Stopped };
                let rec = InstanceRec {
                    host: HostId::new(&instance.host),
                    state,
                    moves_applied: 0,
                    fail_next_move: false,
                    op: None,
                };
                (instance.id.clone(), rec)
            })
            .collect();
        let state = State {
            format: FORMAT,
            spec,
            origin_s,
            t_s: 0.0,
            zones,
            hosts,
            instances,
            compute_ops: BTreeMap::new(),
            power_ops: BTreeMap::new(),
            next_power_op: 0,
            next_change: 0,
        };
        let mut world = World::build(state);
        // Hosts start at their steady temperature in the setpoint air.
        let readings = world.host_readings();
        for ((id, host), reading) in world.state.hosts.iter_mut().zip(readings) {
            let meta = &world.hosts[id];
            let air_c = world.state.zones[meta.zone].air_c;
            host.temp_c = meta.thermal.steady_c(reading.1, air_c);
        }
        world
    }

    /// A world from a state file's contents, checked against its own spec.
    pub(super) fn from_state(state: State) -> Result<World, String> {
        if state.format != FORMAT {
            return Err(format!("format {} (this build reads {FORMAT})", state.format));
        }
        state.spec.validate().map_err(|err| err.to_string())?;
        let spec_hosts: Vec<&str> =
            state.spec.hosts().map(|(_, _, host)| host.id.as_str()).collect();
        let hosts: Vec<&str> = state.hosts.keys().map(HostId::as_str).collect();
        let mut sorted = spec_hosts.clone();
        sorted.sort_unstable();
        if sorted != hosts {
            return Err("its hosts do not match its spec's".to_string());
        }
        let mut spec_instances: Vec<&str> =
            state.spec.instances.iter().map(|instance| instance.id.as_str()).collect();
        spec_instances.sort_unstable();
        if !spec_instances.iter().copied().eq(state.instances.keys().map(String::as_str)) {
            return Err("its instances do not match its spec's".to_string());
        }
        if state.zones.len() != state.spec.zones.len() {
            return Err("its zones do not match its spec's".to_string());
        }
        if let Some((id, _)) =
            state.instances.iter().find(|(_, i)| !state.hosts.contains_key(&i.host))
        {
            return Err(format!("instance {id} is on a host the site does not have"));
        }
        for (op_id, op) in &state.compute_ops {
            let hosts = match &op.op {
                ComputeOp::Move { from, to, .. } => vec![from, to],
                _ => Vec::new(),
            };
            if !state.instances.contains_key(op.op.instance())
                || hosts.iter().any(|host| !state.hosts.contains_key(*host))
            {
                return Err(format!(
                    "operation {op_id} names an instance or host it does not have"
                ));
            }
        }
        if state.power_ops.values().any(|op| !state.hosts.contains_key(&op.host)) {
            return Err("a power operation names a host it does not have".to_string());
        }
        if !state.t_s.is_finite() || !state.origin_s.is_finite() {
            return Err("its time is not a finite number".to_string());
        }
        let world = World::build(state);
        if world.state.next_change > world.timeline.len() {
            return Err("its event counter is past the last event".to_string());
        }
        Ok(world)
    }

    /// The world of `state`: what its spec implies, and its index.
    fn build(state: State) -> World {
        let spec = &state.spec;
        let hosts = spec
            .hosts()
            .map(|(zone, rack, host)| {
                let meta = HostMeta {
                    zone,
                    rack: spec.zones[zone].racks[rack].id.clone(),
                    cpus: host.cpus,
                    memory_mib: host.memory_mib,
                    management: host.management,
                    limit_c: host.limit_c,
                    curve: host.model.curve(),
                    thermal: HostThermal {
                        heat_capacity_j_per_k: host.heat_capacity_j_per_k,
                        resistance_k_per_w: host.resistance_k_per_w,
                    },
                };
                (HostId::new(&host.id), meta)
            })
            .collect();
        let instances = spec
            .instances
            .iter()
            .map(|instance| {
                (instance.id.clone(), (instance.clone(), spec.seed ^ fnv1a(&instance.id)))
            })
            .collect();
        let air = spec
            .zones
            .iter()
            .map(|zone| ZoneAir {
                setpoint_c: zone.setpoint_c,
                heat_capacity_j_per_k: zone.air_heat_capacity_j_per_k,
                response_s: zone.response_s,
            })
            .collect();
        let zone_idx = |id: &str| spec.zones.iter().position(|zone| zone.id == id).unwrap_or(0);
        let mut timeline = Vec::new();
        for event in &spec.events {
            let (zone, start, end, for_s) = match &event.kind {
                EventKind::CoolingFailure { zone, units, for_s } => {
                    (zone, ChangeKind::UnitsFail(*units), ChangeKind::UnitsRecover(*units), for_s)
                }
                EventKind::HeatRecoveryDown { zone, for_s } => {
                    (zone, ChangeKind::RecoveryDown, ChangeKind::RecoveryUp, for_s)
                }
            };
            let zone = zone_idx(zone);
            timeline.push(Change { at_s: event.at_s, zone, kind: start });
            if let Some(for_s) = for_s {
                timeline.push(Change { at_s: event.at_s + for_s, zone, kind: end });
            }
        }
        // Stable: simultaneous changes keep the spec's order.
        timeline.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        let zone_ids = spec.zones.iter().enumerate().map(|(idx, z)| (z.id.clone(), idx)).collect();
        let index = Index::build(&state);
        World { state, hosts, instances, zone_ids, air, timeline, index }
    }

    /// Replaces the state (with one of this world's earlier states: same spec) and rebuilds
    /// the index from it.
    pub(super) fn restore(&mut self, state: State) {
        self.index = Index::build(&state);
        self.state = state;
    }

    /// The position of the zone `id` in the spec.
    pub(super) fn zone(&self, id: &str) -> Option<usize> {
        self.zone_ids.get(id).copied()
    }

    /// The instances defined on `host`, by ID (none for a host the site does not have).
    pub(super) fn ids_on(&self, host: &HostId) -> impl Iterator<Item = &String> {
        self.index.on_host.get(host).into_iter().flatten()
    }

    /// The instances defined on `host`, by ID, each with its record, spec and noise key.
    pub(super) fn on(
        &self,
        host: &HostId,
    ) -> impl Iterator<Item = (&String, &InstanceRec, &InstanceSpec, u64)> {
        self.ids_on(host).filter_map(|id| {
            let rec = self.state.instances.get(id)?;
            let (spec, key) = self.instances.get(id)?;
            Some((id, rec, spec, *key))
        })
    }

    /// The pending compute operations that involve `host` (see [`involved`]), by ID.
    pub(super) fn ops_involving(&self, host: &HostId) -> impl Iterator<Item = &String> {
        self.index.involving.get(host).into_iter().flatten()
    }

    /// Starts, or with `None` calls off, `host`'s power transition.
    pub(super) fn set_transition(&mut self, host_id: &HostId, transition: Option<Transition>) {
        let Some(host) = self.state.hosts.get_mut(host_id) else { return };
        if let Some(old) = &host.transition {
            self.index.due.remove(&(At::new(old.due_s), Pending::Power(host_id.clone())));
        }
        if let Some(new) = &transition {
            self.index.due.insert((At::new(new.due_s), Pending::Power(host_id.clone())));
        }
        host.transition = transition;
    }

    /// Records power operation `id` (the next ID, counted by the caller).
    pub(super) fn add_power_op(&mut self, id: u64, record: PowerRecord) {
        if record.status == Status::Pending {
            self.index.powering.entry(record.host.clone()).or_default().insert(id);
        }
        self.state.power_ops.insert(id, record);
    }

    /// Ends every pending power operation on `host` with `status`.
    pub(super) fn settle_power_ops(&mut self, host: &HostId, status: &Status) {
        let ids = self.index.powering.get_mut(host).map(std::mem::take).unwrap_or_default();
        for id in ids {
            if let Some(record) = self.state.power_ops.get_mut(&id) {
                record.status = status.clone();
            }
        }
    }

    /// Drops the record of power operation `id`; whether there was one.
    pub(super) fn forget_power_op(&mut self, id: u64) -> bool {
        let Some(record) = self.state.power_ops.remove(&id) else { return false };
        if let Some(ids) = self.index.powering.get_mut(&record.host) {
            ids.remove(&id);
        }
        true
    }

    /// Records the compute operation `op_id`, pending; the instance's own record is the
    /// caller's to update.
    pub(super) fn add_compute_op(&mut self, op_id: &str, record: ComputeRecord) {
        let hosts = involved(&self.state, &record.op);
        self.index.add_compute(op_id, &record, hosts);
        self.state.compute_ops.insert(op_id.to_string(), record);
    }

    /// Ends the pending compute operation `op_id` with `status` (its instance's record is the
    /// caller's to update). Call it before a finished move changes the instance's host.
    pub(super) fn settle_compute_op(&mut self, op_id: &str, status: Status) {
        let Some(record) = self.state.compute_ops.get(op_id) else { return };
        if record.status == Status::Pending {
            let hosts = involved(&self.state, &record.op);
            self.index.remove_compute(op_id, record, hosts);
        }
        if let Some(record) = self.state.compute_ops.get_mut(op_id) {
            record.status = status;
        }
    }

    /// Defines `instance` on `to` instead of where it was.
    pub(super) fn place(&mut self, instance: &str, to: &HostId) {
        let Some(rec) = self.state.instances.get_mut(instance) else { return };
        let from = std::mem::replace(&mut rec.host, to.clone());
        if let Some(ids) = self.index.on_host.get_mut(&from) {
            ids.remove(instance);
        }
        self.index.on_host.entry(to.clone()).or_default().insert(instance.to_string());
    }

    /// Site time for a clock reading of `clock_s`: never earlier than the state's own time.
    pub(super) fn site_time(&self, clock_s: f64) -> f64 {
        ((clock_s - self.state.origin_s) * self.state.spec.speed).max(self.state.t_s)
    }

    /// Moves the world to site time `to_s`; returns whether anything discrete changed.
    pub(super) fn advance(&mut self, to_s: f64) -> bool {
        let mut changed = false;
        loop {
            while let Some(at_s) = self.next_due_s() {
                if at_s > self.state.t_s {
                    break;
                }
                self.apply_next();
                changed = true;
            }
            if self.state.t_s >= to_s {
                return changed;
            }
            let until = self.next_due_s().map_or(to_s, |at_s| at_s.min(to_s));
            self.integrate(until);
        }
    }

    /// The next scripted event's time, and the first pending change's.
    fn next_times(&self) -> (Option<f64>, Option<f64>) {
        let change_s = self.timeline.get(self.state.next_change).map(|change| change.at_s);
        (change_s, self.index.due.first().map(|(at, _)| at.0))
    }

    /// When the next discrete change is due, if any is.
    fn next_due_s(&self) -> Option<f64> {
        match self.next_times() {
            (Some(change_s), Some(pending_s)) => Some(change_s.min(pending_s)),
            (change_s, pending_s) => change_s.or(pending_s),
        }
    }

    /// Applies the next discrete change: at equal times a scripted event first, then power
    /// transitions by host, then compute operations by ID.
    fn apply_next(&mut self) {
        match self.next_times() {
            (Some(change_s), pending_s) if pending_s.is_none_or(|at_s| change_s <= at_s) => {
                self.apply_change();
            }
            _ => match self.index.due.pop_first() {
                Some((_, Pending::Power(host_id))) => self.finish_transition(&host_id),
                Some((_, Pending::Compute(op_id))) => self.finish_compute(&op_id),
                None => {}
            },
        }
    }

    /// Applies the next scripted event.
    fn apply_change(&mut self) {
        let change = &self.timeline[self.state.next_change];
        let zone = &mut self.state.zones[change.zone];
        match change.kind {
            ChangeKind::UnitsFail(units) => {
                zone.failed_units = zone.failed_units.saturating_add(units)
            }
            ChangeKind::UnitsRecover(units) => {
                zone.failed_units = zone.failed_units.saturating_sub(units)
            }
            ChangeKind::RecoveryDown => zone.recovery_down = zone.recovery_down.saturating_add(1),
            ChangeKind::RecoveryUp => zone.recovery_down = zone.recovery_down.saturating_sub(1),
        }
        self.state.next_change += 1;
    }

    /// Ends `host_id`'s power transition (already taken off the due index): the host is in
    /// its target state and its pending power operations are done.
    fn finish_transition(&mut self, host_id: &HostId) {
        let Some(host) = self.state.hosts.get_mut(host_id) else { return };
        let Some(transition) = host.transition.take() else { return };
        host.power = transition.target;
        self.settle_power_ops(host_id, &Status::Done);
    }

    /// Integrates the physics from the state's time to `until_s`.
    fn integrate(&mut self, until_s: f64) {
        while self.state.t_s < until_s {
            let left = until_s - self.state.t_s;
            let dt = left.min(MAX_STEP_S);
            let readings = self.host_readings();
            let mut heat_w = vec![0.0; self.state.zones.len()];
            for (meta, reading) in self.hosts.values().zip(&readings) {
                heat_w[meta.zone] += reading.1;
            }
            let mut air_before = Vec::with_capacity(heat_w.len());
            for (idx, zone) in self.state.zones.iter_mut().enumerate() {
                air_before.push(zone.air_c);
                let cooling_w = cooling_w(&self.state.spec, idx, zone);
                zone.air_c = self.air[idx].step(zone.air_c, heat_w[idx], cooling_w, dt).air_c;
            }
            for ((id, host), reading) in self.state.hosts.iter_mut().zip(&readings) {
                let meta = &self.hosts[id];
                let power_w = reading.1;
                let air_c = (air_before[meta.zone] + self.state.zones[meta.zone].air_c) / 2.0;
                host.temp_c = meta.thermal.step(host.temp_c, power_w, air_c, dt);
                host.energy_j += power_w * dt;
            }
            self.state.t_s = if left <= MAX_STEP_S { until_s } else { self.state.t_s + dt };
        }
    }

    /// An instance's CPU use now, 0 when it is stopped.
    pub(super) fn cpu_use(&self, id: &str) -> f64 {
        match (self.state.instances.get(id), self.instances.get(id)) {
            (Some(rec), Some((spec, key))) => self.use_of(rec, spec, *key),
            _ => 0.0,
        }
    }

    /// [`World::cpu_use`] of an instance already looked up: its record, spec and noise key.
    pub(super) fn use_of(&self, rec: &InstanceRec, spec: &InstanceSpec, key: u64) -> f64 {
        if rec.state == InstanceState::Stopped {
            return 0.0;
        }
        let load = &spec.load;
        let t = self.state.t_s;
        let minute = (t / 60.0).floor() as u64;
        let noise = SplitMix64::new(key ^ minute.wrapping_mul(0xA076_1D64_78BD_642F)).unit();
        let wave = load.amplitude * (TAU * t / load.period_s + load.phase).sin();
        (load.mean + wave + load.noise * (2.0 * noise - 1.0)).clamp(0.0, 1.0)
    }

    /// `host`'s utilization and power now: its running (or migrating-out) instances' CPU use
    /// over its CPUs, clamped to 1, on its curve. A host powering on or off draws its idle
    /// power (its curve at 0) and runs nothing; an off host, or one the site does not have,
    /// draws nothing.
    pub(super) fn host_reading(&self, id: &HostId) -> (f64, f64) {
        let (Some(host), Some(meta)) = (self.state.hosts.get(id), self.hosts.get(id)) else {
            return (0.0, 0.0);
        };
        match (host.power, &host.transition) {
            (SitePower::Off, None) => (0.0, 0.0),
            (_, Some(_)) => (0.0, meta.curve.idle().0),
            (SitePower::On, None) => {
                let used = self.on(id).fold(0.0, |used, (_, rec, spec, key)| {
                    used + spec.cpus * self.use_of(rec, spec, key)
                });
                let utilization = (used / meta.cpus).clamp(0.0, 1.0);
                (utilization, meta.curve.at(utilization).0)
            }
        }
    }

    /// Every host's [`World::host_reading`], in host order (the order of `state.hosts` and of
    /// `hosts`, which hold the same hosts).
    pub(super) fn host_readings(&self) -> Vec<(f64, f64)> {
        self.state.hosts.keys().map(|id| self.host_reading(id)).collect()
    }

    /// What the site looks like now.
    pub(super) fn snapshot(&self) -> SiteSnapshot {
        let readings = self.host_readings();
        let spec = &self.state.spec;
        let zones = self
            .state
            .zones
            .iter()
            .enumerate()
            .map(|(idx, zone)| ZoneSnapshot {
                id: spec.zones[idx].id.clone(),
                air_c: zone.air_c,
                setpoint_c: spec.zones[idx].setpoint_c,
                working_units: spec.zones[idx].cooling_units.saturating_sub(zone.failed_units),
                cooling_units: spec.zones[idx].cooling_units,
                heat_recovery_up: zone.recovery_down == 0,
                cooling_w: cooling_w(spec, idx, zone),
                heat_w: self
                    .hosts
                    .values()
                    .zip(&readings)
                    .filter(|(meta, _)| meta.zone == idx)
                    .map(|(_, reading)| reading.1)
                    .sum(),
            })
            .collect();
        let hosts: Vec<HostSnapshot> = self
            .state
            .hosts
            .iter()
            .zip(&readings)
            .map(|((id, host), reading)| {
                let meta = &self.hosts[id];
                HostSnapshot {
                    id: id.clone(),
                    zone: spec.zones[meta.zone].id.clone(),
                    rack: meta.rack.clone(),
                    management: meta.management,
                    power: host.power,
                    transitioning_to: host.transition.as_ref().map(|t| t.target),
                    utilization: reading.0,
                    power_w: reading.1,
                    temp_c: host.temp_c,
                    limit_c: meta.limit_c,
                    energy_j: host.energy_j,
                    instances: self.ids_on(id).cloned().collect(),
                }
            })
            .collect();
        let instances = self
            .state
            .instances
            .iter()
            .map(|(id, rec)| InstanceSnapshot {
                id: id.clone(),
                host: rec.host.clone(),
                state: rec.state,
                cpu_use: self.cpu_use(id),
                moves_applied: rec.moves_applied,
            })
            .collect();
        SiteSnapshot {
            t_s: self.state.t_s,
            energy_kwh: hosts.iter().map(|host| host.energy_j).sum::<f64>() / 3.6e6,
            hosts_on: hosts.iter().filter(|host| host.power == SitePower::On).count(),
            zones,
            hosts,
            instances,
        }
    }

    /// CPUs and memory reserved on `host`: its instances, stopped ones included, and the ones
    /// moving to it.
    pub(super) fn reserved(&self, host: &HostId) -> (f64, f64) {
        let mut reserved = (0.0, 0.0);
        let mut add = |instance: &str| {
            if let Some((spec, _)) = self.instances.get(instance) {
                reserved.0 += spec.cpus;
                reserved.1 += spec.memory_mib;
            }
        };
        for id in self.ids_on(host) {
            add(id);
        }
        for op_id in self.ops_involving(host) {
            if let Some(op) = self.state.compute_ops.get(op_id) {
                if let ComputeOp::Move { instance, to, .. } = &op.op {
                    if to == host {
                        add(instance);
                    }
                }
            }
        }
        reserved
    }

    /// The safety properties the site keeps; see [`super::Site::check_invariants`]. Worked
    /// out from the state alone, in `O(n log n)`; then the index is checked against one
    /// built afresh.
    pub(super) fn check_invariants(&self) -> Result<(), String> {
        let mut done_moves: BTreeMap<&str, u64> = BTreeMap::new();
        let mut pending: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
        for (op_id, op) in &self.state.compute_ops {
            match (&op.status, &op.op) {
                (Status::Done, ComputeOp::Move { instance, .. }) => {
                    *done_moves.entry(instance.as_str()).or_default() += 1;
                }
                (Status::Pending, _) => pending.entry(op.op.instance()).or_default().push(op_id),
                _ => {}
            }
        }
        for (id, rec) in &self.state.instances {
            let Some(host) = self.state.hosts.get(&rec.host) else {
                return Err(format!("instance {id} is on {}, which does not exist", rec.host));
            };
            let host_on = host.power == SitePower::On && host.transition.is_none();
            if rec.state != InstanceState::Stopped && !host_on {
                return Err(format!(
                    "instance {id} is {} on {}, which is not on",
                    rec.state, rec.host
                ));
            }
            let done_moves = done_moves.get(id.as_str()).copied().unwrap_or(0);
            if done_moves != rec.moves_applied {
                return Err(format!(
                    "instance {id}: {done_moves} move(s) done but {} applied",
                    rec.moves_applied
                ));
            }
            let pending = pending.remove(id.as_str()).unwrap_or_default();
            if pending.len() > 1 || pending.first().copied() != rec.op.as_ref() {
                return Err(format!(
                    "instance {id}: operations in flight {pending:?}, recorded {:?}",
                    rec.op
                ));
            }
        }
        // CPUs and memory reserved, summed in the order `reserved` sums them.
        let mut reserved: BTreeMap<&HostId, (f64, f64)> = BTreeMap::new();
        let moves_in =
            self.state.compute_ops.values().filter_map(|op| match (&op.status, &op.op) {
                (Status::Pending, ComputeOp::Move { instance, to, .. }) => Some((to, instance)),
                _ => None,
            });
        let defined = self.state.instances.iter().map(|(id, rec)| (&rec.host, id));
        for (host, instance) in defined.chain(moves_in) {
            if let Some((spec, _)) = self.instances.get(instance) {
                let sum = reserved.entry(host).or_default();
                sum.0 += spec.cpus;
                sum.1 += spec.memory_mib;
            }
        }
        for (id, meta) in &self.hosts {
            let (cpus, memory_mib) = reserved.get(id).copied().unwrap_or_default();
            if cpus > meta.cpus + 1e-9 || memory_mib > meta.memory_mib + 1e-9 {
                return Err(format!(
                    "host {id} is over its capacity: {cpus} of {} CPUs, {memory_mib} of {} MiB \
                     reserved (moves in included)",
                    meta.cpus, meta.memory_mib
                ));
            }
        }
        let fresh = Index::build(&self.state);
        let parts = [
            ("instances by host", self.index.on_host == fresh.on_host),
            ("operations by host", self.index.involving == fresh.involving),
            ("power operations by host", self.index.powering == fresh.powering),
            ("changes by due time", self.index.due == fresh.due),
        ];
        if let Some((part, _)) = parts.iter().find(|(_, agrees)| !agrees) {
            return Err(format!("the site's index of {part} disagrees with its state"));
        }
        Ok(())
    }
}

/// The zone's working cooling: working units and the heat-recovery loop while it is up.
pub(super) fn cooling_w(spec: &SiteSpec, idx: usize, zone: &ZoneState) -> f64 {
    let zone_spec = &spec.zones[idx];
    let units = zone_spec.cooling_units.saturating_sub(zone.failed_units);
    let recovery = if zone.recovery_down == 0 { zone_spec.heat_recovery_w } else { 0.0 };
    f64::from(units) * zone_spec.cooling_unit_w + recovery
}

/// FNV-1a: a stable hash of an instance id for its noise stream.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xCBF2_9CE4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// The whole site at one site time ([`super::Site::snapshot`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SiteSnapshot {
    /// Site time, s.
    pub t_s: f64,
    /// Zones, in spec order.
    pub zones: Vec<ZoneSnapshot>,
    /// Hosts, by id.
    pub hosts: Vec<HostSnapshot>,
    /// Instances, by id.
    pub instances: Vec<InstanceSnapshot>,
    /// Energy all hosts drew since site time 0, kWh.
    pub energy_kwh: f64,
    /// Hosts that are on (including ones shutting down).
    pub hosts_on: usize,
}

/// A zone in a [`SiteSnapshot`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZoneSnapshot {
    /// The zone's id.
    pub id: String,
    /// Air temperature, °C.
    pub air_c: f64,
    /// The cooling's setpoint, °C.
    pub setpoint_c: f64,
    /// Cooling units working.
    pub working_units: u32,
    /// Cooling units installed.
    pub cooling_units: u32,
    /// Whether the heat-recovery loop is up.
    pub heat_recovery_up: bool,
    /// Working cooling capacity (units and loop), W.
    pub cooling_w: f64,
    /// Heat the zone's hosts give off now, W.
    pub heat_w: f64,
}

/// A host in a [`SiteSnapshot`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostSnapshot {
    /// The host's id.
    pub id: HostId,
    /// Its zone's id.
    pub zone: String,
    /// Its rack's id.
    pub rack: String,
    /// Whether it is a management host.
    pub management: bool,
    /// Its power state (the state it is leaving, while it transitions).
    pub power: SitePower,
    /// The state it is powering to, if it is in a transition.
    pub transitioning_to: Option<SitePower>,
    /// CPU utilization, 0 to 1.
    pub utilization: f64,
    /// Power draw, W.
    pub power_w: f64,
    /// CPU temperature, °C.
    pub temp_c: f64,
    /// The hardware's CPU temperature limit, °C.
    pub limit_c: f64,
    /// Energy drawn since site time 0, J.
    pub energy_j: f64,
    /// Instances defined on it, by id.
    pub instances: Vec<String>,
}

/// An instance in a [`SiteSnapshot`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceSnapshot {
    /// The instance's id.
    pub id: String,
    /// The host it is defined on.
    pub host: HostId,
    /// Running, stopped or migrating.
    pub state: InstanceState,
    /// Fraction of its CPUs it uses now.
    pub cpu_use: f64,
    /// Moves completed on it (each applied exactly once).
    pub moves_applied: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::MoveKind;
    use crate::power::PowerOp;
    use crate::site::spec::{EventSpec, LoadSpec};

    fn world(spec: SiteSpec) -> World {
        spec.validate().unwrap();
        World::new(spec, 0.0)
    }

    #[test]
    fn noise_is_seeded_per_instance_and_minute_and_use_stays_in_range() {
        let mut spec = SiteSpec::small();
        for instance in &mut spec.instances {
            instance.load = LoadSpec { noise: 0.5, amplitude: 0.4, ..LoadSpec::constant(0.5) };
        }
        let mut a = world(spec.clone());
        let mut b = world(spec);
        let mut seen = Vec::new();
        for t in [0.0, 30.0, 59.0, 61.0, 3600.0] {
            a.advance(t);
            b.advance(t);
            let uses = [a.cpu_use("vm1"), a.cpu_use("vm2")];
            assert_eq!(uses, [b.cpu_use("vm1"), b.cpu_use("vm2")], "same seed, same use");
            assert!(uses.iter().all(|u| (0.0..=1.0).contains(u)), "{uses:?}");
            assert_ne!(uses[0], uses[1], "instances draw their own noise");
            seen.push(uses[0]);
        }
        assert_ne!(seen[2], seen[3], "a new minute, a new draw");
    }

    #[test]
    fn the_index_follows_moves_cancels_power_changes_a_reload_and_a_rollback() {
        let mut spec = SiteSpec::small();
        spec.timing.live_mib_per_s = 10.0; // vm1 (4096 MiB) takes 409.6 s
        let mut w = world(spec);
        let on = |w: &World, host: &str| {
            w.ids_on(&HostId::new(host)).cloned().collect::<Vec<_>>().join(" ")
        };
        let involving = |w: &World, host: &str| {
            w.ops_involving(&HostId::new(host)).cloned().collect::<Vec<_>>().join(" ")
        };
        let agrees = |w: &World| {
            assert_eq!(w.index, Index::build(&w.state));
            w.check_invariants().unwrap();
        };
        let mv = |instance: &str, from: &str, to: &str, kind| ComputeOp::Move {
            instance: instance.into(),
            from: HostId::new(from),
            to: HostId::new(to),
            kind,
        };
        let (h2, h3) = (HostId::new("h2"), HostId::new("h3"));

        w.submit("live", &mv("vm1", "h1", "h2", MoveKind::Live), "test").unwrap();
        w.submit("cold", &mv("vm3", "h2", "h1", MoveKind::Cold), "test").unwrap();
        assert_eq!(involving(&w, "h2"), "cold live");
        assert_eq!(w.reserved(&h2), (4.0, 6144.0), "vm3, and vm1 moving in");
        agrees(&w);
        assert!(!w.advance(19.0), "nothing due yet");
        assert!(w.advance(20.0), "the cold move lands");
        assert!(!w.advance(20.0), "nothing more is due at the same time");
        assert_eq!((on(&w, "h1"), on(&w, "h2")), ("vm1 vm2 vm3".into(), "".into()));
        assert_eq!(involving(&w, "h1"), "live");
        agrees(&w);

        // A state file's world is indexed afresh, the same.
        let text = serde_json::to_string(&w.state).unwrap();
        let reloaded = World::from_state(serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(reloaded.index, w.index);

        assert!(w.cancel("live", "test").unwrap());
        assert_eq!(involving(&w, "h1") + &involving(&w, "h2"), "");
        agrees(&w);
        w.submit("again", &mv("vm1", "h1", "h2", MoveKind::Live), "test").unwrap();
        w.advance(20.0 + 409.6);
        assert_eq!((on(&w, "h1"), on(&w, "h2")), ("vm2 vm3".into(), "vm1".into()));
        assert_eq!(w.host_readings()[1], w.host_reading(&h2));
        agrees(&w);

        // Power: a transition called off, then one that finishes.
        w.power_request(&h3, PowerOp::On, "test").unwrap();
        agrees(&w);
        w.power_request(&h3, PowerOp::Off, "test").unwrap();
        assert!(w.index.due.is_empty() && w.index.powering[&h3].is_empty());
        agrees(&w);
        let boot = w.power_request(&h3, PowerOp::On, "test").unwrap();
        assert!(w.forget_power_op(boot.get()));
        w.power_request(&h3, PowerOp::On, "test").unwrap();
        agrees(&w);
        w.advance(w.state.t_s + 60.0);
        assert_eq!(w.state.hosts[&h3].power, SitePower::On);
        agrees(&w);

        // A rolled-back change takes the index back with the state.
        let before = w.state.clone();
        w.submit("back", &mv("vm2", "h1", "h3", MoveKind::Cold), "test").unwrap();
        w.advance(w.state.t_s + 20.0);
        assert_eq!(on(&w, "h3"), "vm2");
        w.restore(before);
        assert_eq!((on(&w, "h1"), on(&w, "h3")), ("vm2 vm3".into(), "".into()));
        assert_eq!(w.index, Index::build(&w.state));
        agrees(&w);
    }

    #[test]
    fn replaying_in_one_jump_gives_the_world_that_many_calls_gave() {
        // What a reopened state file relies on: the discrete changes land at the same times
        // and the physics agrees closely, however the span is cut.
        let mut spec = SiteSpec::small();
        spec.events.push(EventSpec {
            at_s: 100.0,
            kind: EventKind::CoolingFailure { zone: "z0".into(), units: 3, for_s: Some(900.0) },
        });
        let mut stepped = world(spec.clone());
        for step in 1..=1333 {
            stepped.advance(f64::from(step) * 0.9);
        }
        let mut jumped = world(spec);
        jumped.advance(1333.0 * 0.9);
        let (a, b) = (stepped.snapshot(), jumped.snapshot());
        assert_eq!(a.t_s, b.t_s);
        assert_eq!(stepped.state.next_change, 2);
        assert!((a.zones[0].air_c - b.zones[0].air_c).abs() < 1e-6, "{a:?}\n{b:?}");
        let drift = (a.hosts[0].temp_c - b.hosts[0].temp_c).abs();
        assert!(drift < 0.01, "host temperatures agree to {drift} K");
        assert!((a.energy_kwh - b.energy_kwh).abs() < 1e-9);
    }
}
