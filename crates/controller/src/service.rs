//! The control loop: observe → decide (estimate, heat plan, thermal override, limits) → record
//! the plan → act through the executor (per the mode) → verify on the next observe, every
//! interval and whenever an operator's command wakes it. On start it replays the journal first
//! ([`Controller::recover`]): plans left `applying` or `approved` by a crash are resumed step by
//! step from the journal, re-validated against fresh state.

use crate::beacons::BeaconState;
use crate::decide::{decide, History};
use crate::execute::{Counters, Executor, Failpoint, JournalError, Outcome, PolicyClock};
use crate::metrics::labels;
use crate::observe::{observe, Drivers, Observed};
use crate::policy::ControllerPolicy;
use crate::shared::{
    HostRow, InstanceRow, Mode, PlanView, Point, Shared, StepRow, Totals, View, ZoneRow,
};
use crate::step::Step;
use crate::topology::Topology;
use drivers::{InstanceState, PowerState};
use serde_json::json;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{AuditRow, NewPlan, PlanStatus, Sample, Store};
use thermal::guard::{Guard, ZonePhase};
use thermal::Strategy;

/// Cycles between inventory snapshots in the store when nothing was acted on.
const INVENTORY_EVERY: u64 = 10;

/// Points kept in the view's time series.
const SERIES_POINTS: usize = 720;

/// How the loop runs.
#[derive(Clone, Debug)]
pub struct LoopConfig {
    /// Acting mode.
    pub mode: Mode,
    /// Policy seconds between cycles.
    pub interval_s: f64,
    /// Wall time between polls of an operation.
    pub poll_every: Duration,
    /// Policy seconds after which an operation not seen to end is failed.
    pub op_deadline_s: f64,
    /// The crash tests' failpoint.
    pub failpoint: Option<Failpoint>,
    /// Metrics retention in the store.
    pub retention: store::Retention,
    /// The thermal guard's strategy.
    pub strategy: Strategy,
}

impl Default for LoopConfig {
    fn default() -> LoopConfig {
        LoopConfig {
            mode: Mode::Auto,
            interval_s: 60.0,
            poll_every: Duration::from_millis(100),
            op_deadline_s: 1800.0,
            failpoint: None,
            retention: store::Retention::default(),
            strategy: Strategy::Seed,
        }
    }
}

/// Why the loop cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    /// The journal could not be written: execution stopped.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The policy in the store is not valid for this build.
    #[error("stored policy version {version}: {error}")]
    StoredPolicy {
        /// Its version.
        version: i64,
        /// What is wrong.
        error: crate::policy::PolicyError,
    },
    /// A plan body in the store cannot be read.
    #[error("stored plan {id}: {detail}")]
    StoredPlan {
        /// The plan.
        id: i64,
        /// What is wrong.
        detail: String,
    },
}

/// What recovery did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recovery {
    /// Plans resumed, with their final status.
    pub plans: Vec<(i64, PlanStatus)>,
}

/// The controller.
pub struct Controller {
    config: LoopConfig,
    topology: Arc<Topology>,
    drivers: Drivers,
    shared: Arc<Shared>,
    executor: Executor,
    counters: Arc<Counters>,
    clock: PolicyClock,
    policy: ControllerPolicy,
    guard: Guard,
    history: History,
    last_host: HashMap<String, usize>,
    totals: Totals,
    last_at_s: Option<f64>,
    series: VecDeque<Point>,
    shedding: HashSet<usize>,
    beacons: Option<(Arc<BeaconState>, HashMap<usize, beacon::NodeId>)>,
    last_plan: Option<PlanView>,
    thermal_order: Vec<String>,
    saved_thermal: String,
}

/// The store key of the thermal guard's memory.
const THERMAL_STATE: &str = "thermal_guard";

/// What the controller keeps of the thermal guard across restarts.
#[derive(serde::Serialize, serde::Deserialize)]
struct ThermalState {
    guard: Guard,
    order: Vec<String>,
    shedding: HashSet<usize>,
}

impl Controller {
    /// Opens the controller over `store`: loads the latest policy (storing the defaults as
    /// version 1 in a new store) and records the topology in the inventory.
    pub fn open(
        config: LoopConfig,
        topology: Topology,
        drivers: Drivers,
        store: Store,
        clock: PolicyClock,
    ) -> Result<Controller, ControllerError> {
        let mut store = store;
        let now_ms = (clock.now_s() * 1000.0) as i64;
        let policy = match store.policy()? {
            Some(stored) => ControllerPolicy::from_json(&stored.body).map_err(|error| {
                ControllerError::StoredPolicy { version: stored.version, error }
            })?,
            None => {
                let policy = ControllerPolicy::default();
                let body = serde_json::to_value(&policy).unwrap_or_default();
                store.put_policy(&body, "defaults", now_ms)?;
                policy
            }
        };
        let inventory = store::Inventory {
            hosts: topology
                .hosts
                .iter()
                .map(|h| store::HostRow {
                    id: h.id.to_string(),
                    zone: topology.zones[h.zone].id.clone(),
                    rack: h.rack.clone(),
                    host_type: h.model.clone(),
                    cpu: h.cpus,
                    memory_mib: h.memory_mib,
                    management: h.management,
                    power: "unknown".into(),
                    driver: "configured".into(),
                })
                .collect(),
            instances: Vec::new(),
        };
        store.put_inventory(&inventory, now_ms)?;
        let mut guard = Guard::new(policy.thermal.clone(), config.strategy).map_err(|e| {
            ControllerError::StoredPolicy {
                version: 0,
                error: crate::policy::PolicyError {
                    key: format!("thermal.{}", e.key),
                    problem: e.problem,
                },
            }
        })?;
        // The guard's memory from before a restart: what it shed, what it is waiting for.
        let mut thermal_order = Vec::new();
        let mut shedding = HashSet::new();
        let mut saved_thermal = String::new();
        if let Some((_, body)) = store.state(THERMAL_STATE)? {
            match serde_json::from_value::<ThermalState>(body.clone()) {
                Ok(saved) if saved.guard.is_compatible(&policy.thermal, config.strategy) => {
                    guard = saved.guard;
                    thermal_order = saved.order;
                    shedding = saved.shedding;
                    saved_thermal = body.to_string();
                }
                Ok(_) => eprintln!(
                    "hearth controller: the saved thermal guard state was made under another \
                     thermal policy or strategy; starting the guard afresh"
                ),
                Err(err) => eprintln!(
                    "hearth controller: the saved thermal guard state is unreadable ({err}); \
                     starting the guard afresh"
                ),
            }
        }
        let store = Arc::new(Mutex::new(store));
        let topology = Arc::new(topology);
        let counters = Arc::new(Counters::default());
        let executor = Executor::new(
            drivers.clone(),
            topology.clone(),
            store.clone(),
            clock.clone(),
            counters.clone(),
        )
        .poll_every(config.poll_every)
        .op_deadline_s(config.op_deadline_s)
        .failpoint(config.failpoint);
        let shared = Arc::new(Shared::new(store, policy.clone()));
        Ok(Controller {
            config,
            topology,
            drivers,
            shared,
            executor,
            counters,
            clock,
            policy,
            guard,
            history: History::default(),
            last_host: HashMap::new(),
            totals: Totals::default(),
            last_at_s: None,
            series: VecDeque::new(),
            shedding,
            beacons: None,
            last_plan: None,
            thermal_order,
            saved_thermal,
        })
    }

    /// Shows agents' liveness from the beacon receiver: `nodes` maps host index to node ID.
    pub fn with_beacons(
        mut self,
        state: Arc<BeaconState>,
        nodes: HashMap<usize, beacon::NodeId>,
    ) -> Controller {
        self.beacons = Some((state, nodes));
        self
    }

    /// The state the API reads.
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// The topology.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Replays the journal: every plan a crash left `applying` or `approved` is resumed (each
    /// step from where its journal says it stands) and closed.
    pub fn recover(&mut self) -> Result<Recovery, ControllerError> {
        let open =
            self.shared.store().plans_with_status(&[PlanStatus::Applying, PlanStatus::Approved])?;
        let mut recovery = Recovery::default();
        for plan in open {
            let status = self.apply(plan.id, &plan.body)?;
            recovery.plans.push((plan.id, status));
        }
        Ok(recovery)
    }

    fn now_ms(&self) -> i64 {
        (self.clock.now_s() * 1000.0) as i64
    }

    /// Runs the steps stored in plan `id`'s body and closes it; returns its final status.
    fn apply(&mut self, id: i64, body: &serde_json::Value) -> Result<PlanStatus, ControllerError> {
        let steps: Vec<Step> =
            serde_json::from_value(body.get("steps").cloned().unwrap_or_default())
                .map_err(|e| ControllerError::StoredPlan { id, detail: format!("steps: {e}") })?;
        self.shared.store().set_plan_status(id, PlanStatus::Applying, self.now_ms(), None)?;
        let outcomes = self.executor.run_plan(id, &steps)?;
        let failed = outcomes.iter().filter(|o| !matches!(o, Outcome::Done)).count();
        let status = if failed == 0 { PlanStatus::Applied } else { PlanStatus::PartiallyApplied };
        let note = (failed > 0).then(|| format!("{failed} of {} steps not done", steps.len()));
        self.shared.store().set_plan_status(id, status, self.now_ms(), note.as_deref())?;
        let now = self.clock.now_s();
        for (step, outcome) in steps.iter().zip(&outcomes) {
            let (kind, result) = (step.action.kind(), outcome_name(outcome));
            self.shared
                .metrics
                .actions
                .get_or_create(&labels(&[("kind", kind), ("outcome", result)]))
                .inc();
            if let (crate::step::StepAction::Migrate { instance, .. }, Outcome::Done) =
                (&step.action, outcome)
            {
                self.history.last_moved_s.insert(instance.clone(), now);
            }
        }
        if let Some(plan) = self.last_plan.as_mut().filter(|p| p.id == Some(id)) {
            plan.status = status;
            for (row, outcome) in plan.steps.iter_mut().zip(&outcomes) {
                row.state = outcome_name(outcome).into();
                row.detail = match outcome {
                    Outcome::Done => None,
                    Outcome::Failed(e) | Outcome::Skipped(e) => Some(e.clone()),
                };
            }
        }
        Ok(status)
    }

    /// One cycle; returns the decision's step count.
    pub fn cycle(&mut self) -> Result<usize, ControllerError> {
        let policy = self.shared.policy();
        if policy.thermal != self.policy.thermal {
            // A new thermal policy restarts the guard (its lists are rebuilt from the next reads).
            if let Ok(guard) = Guard::new(policy.thermal.clone(), self.config.strategy) {
                self.guard = guard;
            }
        }
        self.policy = policy;
        let stopwatch = crate::clock::Stopwatch::start();
        let at_s = self.clock.now_s();
        let observed = observe(&self.drivers, &self.topology, at_s);
        self.track_instances(&observed);
        let decision = decide(
            &observed,
            &self.topology,
            &self.policy,
            &mut self.guard,
            &self.history,
            &mut self.thermal_order,
        );
        self.shared.metrics.cycle_seconds.set(stopwatch.seconds());

        // Energy since the last cycle, at the power of this read.
        if let Some(last) = self.last_at_s {
            let dt_h = (at_s - last).max(0.0) / 3600.0;
            self.totals.energy_kwh += decision.heat.power_w * dt_h / 1000.0;
            self.totals.harvested_kwh += decision.heat.harvested_w * dt_h / 1000.0;
            self.shared.metrics.energy_kwh.inc_by(decision.heat.power_w * dt_h / 1000.0);
            self.shared.metrics.harvested_kwh.inc_by(decision.heat.harvested_w * dt_h / 1000.0);
        }
        self.last_at_s = Some(at_s);
        for zone in &decision.thermal {
            if zone.phase == ZonePhase::Shedding && self.shedding.insert(zone.zone) {
                self.totals.thermal_events += 1;
                self.shared.metrics.thermal_events.inc();
            } else if zone.phase == ZonePhase::Normal {
                self.shedding.remove(&zone.zone);
            }
        }
        let audit: Vec<AuditRow> = decision
            .audit
            .iter()
            .map(|r| AuditRow {
                at_ms: (r.time_s * 1000.0) as i64,
                source: "thermal".into(),
                zone: r.zone.clone(),
                host: r.host.clone(),
                instance: r.instance.clone(),
                action: r.action.as_ref().map_or("note".into(), |a| {
                    serde_json::to_value(a)
                        .ok()
                        .and_then(|v| v.get("action")?.as_str().map(String::from))
                        .unwrap_or_default()
                }),
                reason: r.text.clone(),
                body: serde_json::to_value(r).unwrap_or_default(),
            })
            .collect();
        let now_ms = (at_s * 1000.0) as i64;
        {
            let mut store = self.shared.store();
            if !audit.is_empty() {
                store.append_audit(&audit)?;
            }
            store.record_metrics(now_ms, &self.samples(&decision.heat, &observed))?;
            store.compact(now_ms, &self.config.retention)?;
        }

        // The guard's memory, on disk before any of its actions run.
        self.save_thermal(now_ms)?;

        // The plan.
        let steps = decision.steps.clone();
        let summary = format!(
            "{} step(s): {} from the thermal guard, {} from the heat planner",
            steps.len(),
            steps.iter().filter(|s| s.source == crate::step::Source::Thermal).count(),
            steps.iter().filter(|s| s.source == crate::step::Source::Heat).count()
        );
        let status = match self.config.mode {
            Mode::Observe => PlanStatus::Observed,
            Mode::Approve => PlanStatus::Proposed,
            Mode::Auto => PlanStatus::Approved,
        };
        let body = json!({"steps": steps, "notes": decision.notes, "heat": decision.heat});
        let mut view_plan = PlanView {
            id: None,
            status,
            at_s,
            summary: if steps.is_empty() { "nothing to do".into() } else { summary.clone() },
            steps: steps
                .iter()
                .enumerate()
                .map(|(index, step)| StepRow {
                    index,
                    step: step.clone(),
                    state: "pending".into(),
                    detail: None,
                })
                .collect(),
            notes: decision.notes.clone(),
        };
        if self.config.mode != Mode::Auto {
            // Validate against fresh state: what could run now, and why not.
            for row in &mut view_plan.steps {
                if let Err(why) = self.executor.check(&row.step) {
                    row.state = "invalid".into();
                    row.detail = Some(why);
                }
            }
        }
        if !steps.is_empty() {
            let mut store = self.shared.store();
            if self.config.mode == Mode::Approve {
                for old in store.plans_with_status(&[PlanStatus::Proposed])? {
                    store.set_plan_status(
                        old.id,
                        PlanStatus::Superseded,
                        now_ms,
                        Some("a newer plan was proposed"),
                    )?;
                }
            }
            let record = store.insert_plan(&NewPlan {
                at_ms: now_ms,
                mode: self.config.mode.to_string(),
                status,
                summary,
                body,
            })?;
            view_plan.id = Some(record.id);
            self.shared
                .metrics
                .plans
                .get_or_create(&labels(&[("status", &status.to_string())]))
                .inc();
        }
        let keep_previous = steps.is_empty()
            && self.last_plan.as_ref().is_some_and(|p| p.status == PlanStatus::Proposed);
        if !keep_previous {
            self.last_plan = Some(view_plan);
        }
        // Act: this plan in auto mode, and any plan an operator approved.
        let approved = self.shared.store().plans_with_status(&[PlanStatus::Approved])?;
        let acted = !approved.is_empty();
        for plan in approved {
            self.apply(plan.id, &plan.body)?;
        }
        if acted || self.totals.cycles.is_multiple_of(INVENTORY_EVERY) {
            self.record_inventory(&observed, now_ms)?;
        }
        self.totals.cycles += 1;
        self.shared.metrics.cycles.inc();
        self.publish(&observed, &decision);
        Ok(steps.len())
    }

    /// Runs cycles until `stop` is set (or `max_cycles` ran), sleeping the interval between
    /// them or until an operator's command wakes the loop.
    pub fn run(
        &mut self,
        stop: &AtomicBool,
        max_cycles: Option<u64>,
    ) -> Result<(), ControllerError> {
        let mut ran = 0;
        while !stop.load(Ordering::SeqCst) {
            self.cycle()?;
            ran += 1;
            if max_cycles.is_some_and(|max| ran >= max) {
                break;
            }
            let wait = self.clock.wall(self.config.interval_s);
            let step = Duration::from_millis(200).min(wait);
            let mut waited = Duration::ZERO;
            while waited < wait && !stop.load(Ordering::SeqCst) {
                self.shared.wait_wake(step);
                waited += step;
            }
        }
        Ok(())
    }

    /// The totals so far.
    pub fn totals(&self) -> Totals {
        let mut totals = self.totals.clone();
        totals.migrations = self.counters.migrations.load(Ordering::Relaxed);
        totals.power_changes = self.counters.power_changes.load(Ordering::Relaxed);
        totals.actions_failed = self.counters.failed.load(Ordering::Relaxed);
        totals.harvest_ratio =
            if totals.energy_kwh > 0.0 { totals.harvested_kwh / totals.energy_kwh } else { 0.0 };
        totals
    }

    /// Notes first sightings and counts instances that vanished from a readable host.
    fn track_instances(&mut self, observed: &Observed) {
        let mut now: HashMap<String, usize> = HashMap::new();
        for inst in &observed.instances {
            now.insert(inst.info.id.clone(), inst.host);
            if inst.info.state != InstanceState::Stopped {
                self.history.first_seen_s.entry(inst.info.id.clone()).or_insert(observed.at_s);
            }
        }
        for (id, host) in &self.last_host {
            if !now.contains_key(id) && observed.hosts[*host].error.is_none() {
                self.totals.instances_lost += 1;
                self.shared.metrics.instances_lost.inc();
                self.shared
                    .store()
                    .append_audit(&[AuditRow {
                        at_ms: (observed.at_s * 1000.0) as i64,
                        source: "controller".into(),
                        zone: None,
                        host: Some(self.topology.hosts[*host].id.to_string()),
                        instance: Some(id.clone()),
                        action: "lost".into(),
                        reason: format!(
                            "instance {id} was on {} and is on no host now",
                            self.topology.hosts[*host].id
                        ),
                        body: serde_json::Value::Null,
                    }])
                    .ok();
            }
        }
        // An instance on an unreadable host is carried over, not forgotten.
        for (id, host) in &self.last_host {
            if !now.contains_key(id) && observed.hosts[*host].error.is_some() {
                now.insert(id.clone(), *host);
            }
        }
        self.last_host = now;
    }

    /// Stores the thermal guard's state when it changed since the last save.
    fn save_thermal(&mut self, at_ms: i64) -> Result<(), ControllerError> {
        let state = serde_json::json!({
            "guard": self.guard,
            "order": self.thermal_order,
            "shedding": self.shedding,
        });
        let text = state.to_string();
        if text != self.saved_thermal {
            self.shared.store().put_state(THERMAL_STATE, &state, at_ms)?;
            self.saved_thermal = text;
        }
        Ok(())
    }

    /// Stores the observed inventory: hosts with their power state, instances where they are.
    fn record_inventory(&self, observed: &Observed, at_ms: i64) -> Result<(), ControllerError> {
        let topology = &self.topology;
        let inventory = store::Inventory {
            hosts: topology
                .hosts
                .iter()
                .enumerate()
                .map(|(h, host)| store::HostRow {
                    id: host.id.to_string(),
                    zone: topology.zones[host.zone].id.clone(),
                    rack: host.rack.clone(),
                    host_type: host.model.clone(),
                    cpu: host.cpus,
                    memory_mib: host.memory_mib,
                    management: host.management,
                    power: observed.hosts[h].power.to_string(),
                    driver: "configured".into(),
                })
                .collect(),
            instances: observed
                .instances
                .iter()
                .map(|inst| store::InstanceRow {
                    id: inst.info.id.clone(),
                    host: Some(inst.info.host.to_string()),
                    cpu: inst.info.cpus,
                    memory_mib: inst.info.memory_mib,
                    state: inst.info.state.to_string(),
                })
                .collect(),
        };
        self.shared.store().put_inventory(&inventory, at_ms)?;
        Ok(())
    }

    fn samples(&self, heat: &crate::decide::HeatStatus, observed: &Observed) -> Vec<Sample> {
        let mut out = vec![
            Sample {
                name: "covered_hosts".into(),
                labels: String::new(),
                value: heat.covered_hosts as f64,
            },
            Sample {
                name: "harvest_ratio".into(),
                labels: String::new(),
                value: heat.harvest_ratio,
            },
            Sample { name: "power_w".into(), labels: String::new(), value: heat.power_w },
            Sample { name: "hosts_on".into(), labels: String::new(), value: heat.hosts_on as f64 },
        ];
        for (h, host) in self.topology.hosts.iter().enumerate() {
            if let Some(t) = observed.hosts[h].temp_c.filter(|t| t.is_finite()) {
                out.push(Sample {
                    name: "host_temp_c".into(),
                    labels: format!("host={}", host.id),
                    value: t,
                });
            }
        }
        out
    }

    fn publish(&mut self, observed: &Observed, decision: &crate::decide::Decision) {
        let topology = &self.topology;
        let metrics = &self.shared.metrics;
        let target = self.policy.heat.target_heat_w;
        let mut running = vec![false; topology.hosts.len()];
        let mut count = vec![0usize; topology.hosts.len()];
        for inst in &observed.instances {
            count[inst.host] += 1;
            if inst.info.state != InstanceState::Stopped {
                running[inst.host] = true;
            }
        }
        let shed: HashSet<String> = decision
            .thermal
            .iter()
            .flat_map(|z| z.powered_down.iter().map(|s| s.host_id.clone()))
            .collect();
        let alive: Option<HashMap<beacon::NodeId, bool>> =
            self.beacons.as_ref().map(|(state, _)| {
                let snapshot = state.snapshot();
                let alive_n = snapshot.nodes.iter().filter(|n| !n.lost).count();
                metrics.beacons_accepted.inner().store(snapshot.accepted, Ordering::Relaxed);
                metrics
                    .beacons_rejected
                    .inner()
                    .store(snapshot.rejected.total(), Ordering::Relaxed);
                metrics.beacon_nodes_alive.set(alive_n as i64);
                metrics.beacon_nodes_lost.set((snapshot.nodes.len() - alive_n) as i64);
                snapshot.nodes.iter().map(|n| (n.node_id, !n.lost)).collect()
            });
        let hosts: Vec<HostRow> = topology
            .hosts
            .iter()
            .enumerate()
            .map(|(h, host)| {
                let obs = &observed.hosts[h];
                let power_w = crate::decide::host_power_w(observed, topology, h);
                let zone = &topology.zones[host.zone].id;
                let l = labels(&[("host", host.id.as_str()), ("zone", zone)]);
                metrics.host_power.get_or_create(&l).set(power_w);
                if let Some(t) = obs.temp_c {
                    metrics.host_temperature.get_or_create(&l).set(t);
                }
                HostRow {
                    id: host.id.to_string(),
                    zone: zone.clone(),
                    rack: host.rack.clone(),
                    power: obs.power.to_string(),
                    temp_c: obs.temp_c,
                    inlet_c: obs.inlet_c,
                    power_w,
                    cpu_use: obs.cpu_use,
                    instances: count[h],
                    covered: running[h]
                        && target > 0.0
                        && power_w >= target
                        && obs.power != PowerState::Off,
                    management: host.management,
                    shed: shed.contains(host.id.as_str()),
                    agent_alive: self.beacons.as_ref().and_then(|(_, nodes)| {
                        let node = nodes.get(&h)?;
                        Some(alive.as_ref()?.get(node).copied().unwrap_or(false))
                    }),
                    error: obs.error.clone(),
                }
            })
            .collect();
        let instances = observed
            .instances
            .iter()
            .map(|inst| InstanceRow {
                id: inst.info.id.clone(),
                host: inst.info.host.to_string(),
                state: inst.info.state.to_string(),
                cpus: inst.info.cpus,
                memory_mib: inst.info.memory_mib,
                cpu_use: inst.info.cpu_use,
            })
            .collect();
        let policy = &self.policy.thermal;
        let zones: Vec<ZoneRow> = decision
            .thermal
            .iter()
            .map(|z| {
                let thresholds = policy.zone_thresholds(&z.id);
                let air_c = topology
                    .hosts
                    .iter()
                    .enumerate()
                    .filter(|(_, host)| host.zone == z.zone)
                    .filter_map(|(h, _)| observed.hosts[h].inlet_c)
                    .reduce(f64::max);
                if let Some(air) = air_c {
                    metrics.zone_air.get_or_create(&labels(&[("zone", &z.id)])).set(air);
                }
                let phase = match z.phase {
                    ZonePhase::Normal => 0,
                    ZonePhase::Shedding => 1,
                    ZonePhase::Recovering => 2,
                };
                metrics.zone_phase.get_or_create(&labels(&[("zone", &z.id)])).set(phase);
                ZoneRow {
                    id: z.id.clone(),
                    phase: serde_json::to_value(z.phase)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default(),
                    air_c,
                    detect_c: thresholds.detect_c,
                    clear_c: thresholds.clear_c,
                    powerup_c: thresholds.powerup_c,
                    powered_down: z.powered_down.iter().map(|s| s.host_id.clone()).collect(),
                    cooling_failed: observed
                        .cooling
                        .get(z.zone)
                        .cloned()
                        .flatten()
                        .is_some_and(|c| c.failed),
                }
            })
            .collect();
        let mut totals = self.totals();
        totals.covered_hosts = decision.heat.covered_hosts;
        totals.hosts_on = decision.heat.hosts_on;
        totals.power_w = decision.heat.power_w;
        metrics.harvest_ratio.set(totals.harvest_ratio);
        metrics.covered_hosts.set(totals.covered_hosts as i64);
        metrics.hosts_on.set(totals.hosts_on as i64);
        metrics.power_watts.set(totals.power_w);
        self.series.push_back(Point {
            at_s: observed.at_s,
            covered_hosts: decision.heat.covered_hosts,
            harvest_ratio: decision.heat.harvest_ratio,
            power_w: decision.heat.power_w,
            max_air_c: zones.iter().filter_map(|z| z.air_c).reduce(f64::max),
            hosts_on: decision.heat.hosts_on,
        });
        while self.series.len() > SERIES_POINTS {
            self.series.pop_front();
        }
        self.shared.publish(View {
            mode: Some(self.config.mode),
            at_s: observed.at_s,
            hosts,
            instances,
            plan: self.last_plan.clone(),
            zones,
            totals,
            series: self.series.clone(),
        });
    }
}

fn outcome_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Done => "done",
        Outcome::Failed(_) => "failed",
        Outcome::Skipped(_) => "skipped",
    }
}
