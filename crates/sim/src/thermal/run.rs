//! The thermal runner: steps a [`Scenario`] under a [`Guard`] and measures the run.
//!
//! Each step at time `t`: transitions that are due complete (migrations, boots, shutdowns);
//! instance utilizations advance; the faults active at `t` set each zone's working cooling and
//! each sensor's state; the guard observes the sensors (not the true state) and decides; its
//! actions are validated and applied (an invalid one is counted and skipped); host power follows
//! from the placement after the actions; the physics integrates `[t, t + step)`; the metrics
//! read the true state at `t + step`.
//!
//! **Customer-impact cost** (the simulator's own metric, independent of any guard's weights):
//!
//! ```text
//! impact = Σ over stops  importance × kind_weight(kind) × 1 / (1 + customer_rank)
//!                        × (1 + hours stopped) × (½ if another member of its group was running)
//!        + migration_cost × migrations started
//! ```
//!
//! "Hours stopped" runs from the stop to the restart (or the end of the run); the redundancy
//! halving is decided at the moment of the stop (another member running or migrating).

use super::scenario::{FaultKind, Scenario, SensorFault, SensorId};
use super::Guard;
use ::thermal::{Action, HostView, InstanceView, Observation, PowerState, ZoneView};
use model::SplitMix64;
use serde::Serialize;

/// The headline figures of one run (one JSON object per guard).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThermalSummary {
    /// The guard's name.
    pub guard: String,
    /// The scenario's name.
    pub scenario: String,
    /// Hottest zone air over the run, °C.
    pub peak_zone_c: f64,
    /// Hottest host over the run, °C.
    pub peak_host_c: f64,
    /// Seconds during which at least one host was above its hardware limit.
    pub seconds_over_limit: f64,
    /// Host-seconds above the hardware limit (summed over hosts).
    pub host_seconds_over_limit: f64,
    /// Seconds during which at least one zone's air was above its limit.
    pub zone_seconds_over_limit: f64,
    /// Migrations started.
    pub migrated: u64,
    /// Instances stopped.
    pub stopped: u64,
    /// Instances started again.
    pub started: u64,
    /// Instances still stopped at the end.
    pub stopped_at_end: u64,
    /// Customer-impact cost (module documentation).
    pub impact_cost: f64,
    /// Electrical energy of all hosts, kWh (all of it heat in the zones).
    pub energy_kwh: f64,
    /// Power-downs applied.
    pub hosts_powered_down: u64,
    /// Power-ups applied.
    pub hosts_powered_up: u64,
    /// Actions refused (bad index, wrong state, no capacity, host not empty, …).
    pub invalid_actions: u64,
    /// Simulated seconds.
    pub simulated_s: f64,
}

/// One point of the run's time series, at the end of a step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeriesPoint {
    /// Time, s.
    pub t_s: f64,
    /// Hottest zone air, °C.
    pub hottest_zone_c: f64,
    /// Hottest host, °C.
    pub hottest_host_c: f64,
    /// Total host power over the step, W.
    pub power_w: f64,
    /// Hosts drawing power (on, booting or shutting down).
    pub hosts_on: usize,
    /// Air of each zone, °C, in scenario order.
    pub zone_air_c: Vec<f64>,
}

/// An action the runner refused.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InvalidAction {
    /// When it was returned, s.
    pub t_s: f64,
    /// The action.
    pub action: Action,
    /// Why it was refused.
    pub reason: String,
}

/// Everything a run produces.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThermalRun {
    /// Headline figures.
    pub summary: ThermalSummary,
    /// One point per step.
    pub series: Vec<SeriesPoint>,
    /// The first [`MAX_INVALID_KEPT`] refused actions (all are counted in the summary).
    pub invalid: Vec<InvalidAction>,
    /// The guard's audit records: every event, action and reason, in order.
    pub audit: Vec<::thermal::audit::AuditRecord>,
}

/// How many refused actions a run keeps in detail.
pub const MAX_INVALID_KEPT: usize = 1000;

/// A run that went wrong: a "can't happen" of the numerics, reported rather than panicked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunError {
    /// A temperature became NaN or infinite.
    #[error("t = {t_s} s: the temperature of {what} is not finite")]
    NonFinite {
        /// Time, s.
        t_s: f64,
        /// Which zone or host.
        what: String,
    },
    /// The guard refused an observation (a defect of the twin or the guard, reported).
    #[error("t = {t_s} s: guard {guard}: {message}")]
    Guard {
        /// Time, s.
        t_s: f64,
        /// The guard's name.
        guard: String,
        /// Its error.
        message: String,
    },
}

/// Tolerance on times and capacities (float sums of step multiples).
const EPS: f64 = 1e-9;

#[derive(Clone, Copy, Debug, PartialEq)]
enum HostPower {
    On,
    Off,
    PoweringOn { ready_at: f64 },
    PoweringOff { off_at: f64 },
}

impl HostPower {
    fn view(self) -> PowerState {
        match self {
            HostPower::On => PowerState::On,
            HostPower::Off => PowerState::Off,
            HostPower::PoweringOn { .. } => PowerState::PoweringOn,
            HostPower::PoweringOff { .. } => PowerState::PoweringOff,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Placement {
    Running { host: usize },
    Migrating { from: usize, to: usize, done_at: f64 },
    Stopped,
}

/// An instance's utilization process: its own stream, so the workload never depends on what the
/// guard does (a stopped instance's process runs on).
struct Process {
    rng: SplitMix64,
    mean: f64,
    noise: f64,
    phi: f64,
    innovation_sd: f64,
}

impl Process {
    fn new(seed: u64, index: usize, mean: f64, load: &super::scenario::Load, step_s: f64) -> Self {
        let mixed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (index as u64).wrapping_add(1).wrapping_mul(0xD1B5_4A32_D192_ED03);
        let mut rng = SplitMix64::new(mixed);
        let mean = (mean + rng.uniform(-load.spread, load.spread)).clamp(0.0, 1.0);
        let phi = (-step_s / load.correlation_s).exp();
        let noise = load.noise_sd * standard_normal(&mut rng);
        Process { rng, mean, noise, phi, innovation_sd: load.noise_sd * (1.0 - phi * phi).sqrt() }
    }

    fn advance(&mut self) {
        self.noise = self.phi * self.noise + self.innovation_sd * standard_normal(&mut self.rng);
    }

    fn utilization(&self) -> f64 {
        (self.mean + self.noise).clamp(0.0, 1.0)
    }
}

/// Approximately standard normal: the sum of four uniforms, centred and scaled (Irwin–Hall), with
/// basic arithmetic only so the stream is the same on every platform.
fn standard_normal(rng: &mut SplitMix64) -> f64 {
    let sum = rng.unit() + rng.unit() + rng.unit() + rng.unit();
    (sum - 2.0) * 3f64.sqrt()
}

/// A sensor's last fresh reading.
#[derive(Clone, Copy)]
struct Reading {
    value_c: f64,
    at_s: f64,
}

struct StopRecord {
    instance: usize,
    at_s: f64,
    until_s: Option<f64>,
    group_running: bool,
}

/// Per-host load of one instant: what the placement counts on each host.
#[derive(Clone, Default)]
struct HostLoad {
    cpu_mips: f64,
    memory_mb: f64,
    instances: usize,
}

struct State<'a> {
    scenario: &'a Scenario,
    zone_air_c: Vec<f64>,
    host_temp_c: Vec<f64>,
    host_power: Vec<HostPower>,
    placement: Vec<Placement>,
    uptime_s: Vec<f64>,
    processes: Vec<Process>,
    zone_readings: Vec<Reading>,
    host_readings: Vec<Reading>,
    loads: Vec<HostLoad>,
    stops: Vec<StopRecord>,
    summary: ThermalSummary,
    invalid: Vec<InvalidAction>,
}

/// Runs `scenario` under `guard` and measures it. Deterministic: the same scenario and a
/// deterministic guard give the same result, bit for bit.
///
/// Errors: [`RunError::NonFinite`] if the numerics break (it cannot happen for a validated
/// scenario; it is reported rather than panicked).
pub fn run(scenario: &Scenario, guard: &mut dyn Guard) -> Result<ThermalRun, RunError> {
    let dt = scenario.step_s;
    let n_steps = ((scenario.duration_s / dt) - EPS).ceil().max(1.0) as usize;
    let mut state = State::new(scenario, guard.name());
    let mut series = Vec::with_capacity(n_steps);
    let mut audit = Vec::new();
    for k in 0..n_steps {
        let t = k as f64 * dt;
        state.complete_transitions(t);
        if k > 0 {
            for process in &mut state.processes {
                process.advance();
            }
        }
        state.compute_loads();
        let cooling = state.working_cooling(t);
        state.read_sensors(t);
        let observation = state.observe(t, &cooling);
        let actions = guard.decide(&observation).map_err(|message| RunError::Guard {
            t_s: t,
            guard: guard.name(),
            message,
        })?;
        audit.extend(guard.drain_audit());
        for action in actions {
            if let Err(reason) = state.apply(t, &action) {
                state.summary.invalid_actions += 1;
                if state.invalid.len() < MAX_INVALID_KEPT {
                    state.invalid.push(InvalidAction { t_s: t, action, reason });
                }
            }
        }
        let point = state.physics_step(t, dt, &cooling)?;
        series.push(point);
    }
    let mut run = state.finish(n_steps as f64 * dt, series);
    run.audit = audit;
    Ok(run)
}

impl<'a> State<'a> {
    fn new(scenario: &'a Scenario, guard: String) -> Self {
        let host_power: Vec<HostPower> = scenario
            .hosts
            .iter()
            .map(|h| if h.initially_on { HostPower::On } else { HostPower::Off })
            .collect();
        let processes: Vec<Process> = scenario
            .instances
            .iter()
            .enumerate()
            .map(|(idx, inst)| {
                Process::new(
                    scenario.seed,
                    idx,
                    inst.mean_utilization,
                    &scenario.load,
                    scenario.step_s,
                )
            })
            .collect();
        let zone_air_c: Vec<f64> = scenario.zones.iter().map(|z| z.initial_c).collect();
        let mut state = State {
            scenario,
            zone_air_c: zone_air_c.clone(),
            host_temp_c: vec![0.0; scenario.hosts.len()],
            host_power,
            placement: scenario
                .instances
                .iter()
                .map(|i| Placement::Running { host: i.host })
                .collect(),
            uptime_s: scenario.instances.iter().map(|i| i.uptime_s).collect(),
            processes,
            zone_readings: zone_air_c.iter().map(|&c| Reading { value_c: c, at_s: 0.0 }).collect(),
            host_readings: Vec::new(),
            loads: Vec::new(),
            stops: Vec::new(),
            summary: ThermalSummary {
                guard,
                scenario: scenario.name.clone(),
                peak_zone_c: f64::NEG_INFINITY,
                peak_host_c: f64::NEG_INFINITY,
                seconds_over_limit: 0.0,
                host_seconds_over_limit: 0.0,
                zone_seconds_over_limit: 0.0,
                migrated: 0,
                stopped: 0,
                started: 0,
                stopped_at_end: 0,
                impact_cost: 0.0,
                energy_kwh: 0.0,
                hosts_powered_down: 0,
                hosts_powered_up: 0,
                invalid_actions: 0,
                simulated_s: 0.0,
            },
            invalid: Vec::new(),
        };
        // Hosts start in equilibrium with their initial power and their zone's air.
        state.compute_loads();
        for (idx, host) in scenario.hosts.iter().enumerate() {
            let power = state.host_power_w(idx);
            state.host_temp_c[idx] = host.thermal.steady_c(power, state.zone_air_c[host.zone]);
        }
        state.host_readings =
            state.host_temp_c.iter().map(|&c| Reading { value_c: c, at_s: 0.0 }).collect();
        state.summary.peak_zone_c = max(&state.zone_air_c);
        state.summary.peak_host_c = max(&state.host_temp_c);
        state
    }

    fn complete_transitions(&mut self, t: f64) {
        for power in &mut self.host_power {
            match *power {
                HostPower::PoweringOn { ready_at } if ready_at <= t + EPS => *power = HostPower::On,
                HostPower::PoweringOff { off_at } if off_at <= t + EPS => *power = HostPower::Off,
                _ => {}
            }
        }
        for placement in &mut self.placement {
            if let Placement::Migrating { to, done_at, .. } = *placement {
                if done_at <= t + EPS {
                    *placement = Placement::Running { host: to };
                }
            }
        }
    }

    /// Demand of instance `idx` now, MIPS (what it would ask for when stopped).
    fn demand_mips(&self, idx: usize) -> f64 {
        self.scenario.instances[idx].cpu_mips * self.processes[idx].utilization()
    }

    fn compute_loads(&mut self) {
        let mut loads = vec![HostLoad::default(); self.scenario.hosts.len()];
        for idx in 0..self.placement.len() {
            let demand = self.demand_mips(idx);
            let memory = self.scenario.instances[idx].memory_mb;
            let mut add = |host: usize| {
                loads[host].cpu_mips += demand;
                loads[host].memory_mb += memory;
                loads[host].instances += 1;
            };
            match self.placement[idx] {
                Placement::Running { host } => add(host),
                Placement::Migrating { from, to, .. } => {
                    add(from);
                    add(to);
                }
                Placement::Stopped => {}
            }
        }
        self.loads = loads;
    }

    fn cpu_use(&self, host: usize) -> f64 {
        match self.host_power[host] {
            HostPower::On => {
                (self.loads[host].cpu_mips / self.scenario.hosts[host].cpu_mips).min(1.0)
            }
            _ => 0.0,
        }
    }

    fn host_power_w(&self, host: usize) -> f64 {
        let curve = &self.scenario.hosts[host].curve;
        match self.host_power[host] {
            HostPower::On => curve.at(self.cpu_use(host)).0,
            HostPower::PoweringOn { .. } | HostPower::PoweringOff { .. } => curve.idle().0,
            HostPower::Off => 0.0,
        }
    }

    /// Working cooling capacity of each zone at `t`, W, and whether a path of it has failed.
    fn working_cooling(&self, t: f64) -> Vec<(f64, bool)> {
        self.scenario
            .zones
            .iter()
            .enumerate()
            .map(|(zone_idx, zone)| {
                let mut available = 0.0;
                let mut failed = false;
                for (unit, &w) in zone.cooling_units_w.iter().enumerate() {
                    let down = self.scenario.faults.iter().any(|f| {
                        f.active(t) && f.kind == FaultKind::CoolingUnit { zone: zone_idx, unit }
                    });
                    if down {
                        failed = true;
                    } else {
                        available += w;
                    }
                }
                if zone.recovery_loop_w > 0.0 {
                    let down = self.scenario.faults.iter().any(|f| {
                        f.active(t) && f.kind == FaultKind::RecoveryLoop { zone: zone_idx }
                    });
                    if down {
                        failed = true;
                    } else {
                        available += zone.recovery_loop_w;
                    }
                }
                (available, failed)
            })
            .collect()
    }

    /// The fault mode of `sensor` at `t`, if any (missing wins over stale).
    fn sensor_fault(&self, sensor: SensorId, t: f64) -> Option<SensorFault> {
        let mut mode = None;
        for fault in &self.scenario.faults {
            if let FaultKind::Sensor { sensor: s, mode: m } = fault.kind {
                if s == sensor && fault.active(t) && mode != Some(SensorFault::Missing) {
                    mode = Some(m);
                }
            }
        }
        mode
    }

    /// Sensors without a fault take a fresh reading of the true state.
    fn read_sensors(&mut self, t: f64) {
        for zone in 0..self.zone_readings.len() {
            if self.sensor_fault(SensorId::Zone(zone), t).is_none() {
                self.zone_readings[zone] = Reading { value_c: self.zone_air_c[zone], at_s: t };
            }
        }
        for host in 0..self.host_readings.len() {
            if self.sensor_fault(SensorId::Host(host), t).is_none() {
                self.host_readings[host] = Reading { value_c: self.host_temp_c[host], at_s: t };
            }
        }
    }

    /// What a sensor reports at `t`: `None` when missing, the frozen value when stale (or `None`
    /// once older than `sensor_max_age_s`, when that is set).
    fn report(&self, sensor: SensorId, reading: Reading, t: f64) -> Option<f64> {
        match self.sensor_fault(sensor, t) {
            Some(SensorFault::Missing) => None,
            Some(SensorFault::Stale) => match self.scenario.sensor_max_age_s {
                Some(max_age) if t - reading.at_s > max_age + EPS => None,
                _ => Some(reading.value_c),
            },
            None => Some(reading.value_c),
        }
    }

    fn observe(&self, t: f64, cooling: &[(f64, bool)]) -> Observation {
        let scenario = self.scenario;
        let zones = scenario
            .zones
            .iter()
            .enumerate()
            .map(|(idx, zone)| ZoneView {
                id: zone.id.clone(),
                neighbours: zone.neighbours.clone(),
                air_c: self.report(SensorId::Zone(idx), self.zone_readings[idx], t),
                limit_c: zone.limit_c,
                cooling_nominal_w: zone.cooling_nominal_w(),
                cooling_available_w: cooling[idx].0,
                cooling_failed: cooling[idx].1,
            })
            .collect();
        let hosts = scenario
            .hosts
            .iter()
            .enumerate()
            .map(|(idx, host)| HostView {
                id: host.id.clone(),
                zone: host.zone,
                power: self.host_power[idx].view(),
                temp_c: self.report(SensorId::Host(idx), self.host_readings[idx], t),
                limit_c: host.limit_c,
                power_w: self.host_power_w(idx),
                idle_w: host.curve.idle().0,
                cpu_use: self.cpu_use(idx),
                cpu_mips: host.cpu_mips,
                memory_mb: host.memory_mb,
                management: host.management,
            })
            .collect();
        let instances = scenario
            .instances
            .iter()
            .enumerate()
            .map(|(idx, inst)| {
                let (host, migrating) = match self.placement[idx] {
                    Placement::Running { host } => (Some(host), false),
                    Placement::Migrating { from, .. } => (Some(from), true),
                    Placement::Stopped => (None, false),
                };
                InstanceView {
                    id: inst.id.clone(),
                    host,
                    cpu_mips: self.demand_mips(idx),
                    memory_mb: inst.memory_mb,
                    uptime_s: self.uptime_s[idx],
                    kind: inst.kind.clone(),
                    customer_rank: inst.customer_rank,
                    customer_importance: inst.customer_importance,
                    group: inst.group.clone(),
                    migrating,
                    movable: true,
                }
            })
            .collect();
        Observation { now_s: t, zones, hosts, instances }
    }

    /// Whether instance `idx` fits on `host` now (memory and current CPU demand).
    fn fits(&self, idx: usize, host: usize) -> Result<(), String> {
        let spec = &self.scenario.hosts[host];
        let load = &self.loads[host];
        let inst = &self.scenario.instances[idx];
        if load.memory_mb + inst.memory_mb > spec.memory_mb + EPS {
            return Err(format!(
                "host {host} ({}) has {:.0} MB free, instance {idx} needs {:.0} MB",
                spec.id,
                spec.memory_mb - load.memory_mb,
                inst.memory_mb
            ));
        }
        let demand = self.demand_mips(idx);
        if load.cpu_mips + demand > spec.cpu_mips + EPS {
            return Err(format!(
                "host {host} ({}) has {:.0} MIPS free, instance {idx} demands {demand:.0}",
                spec.id,
                spec.cpu_mips - load.cpu_mips
            ));
        }
        Ok(())
    }

    fn check_instance(&self, idx: usize) -> Result<(), String> {
        if idx < self.placement.len() {
            Ok(())
        } else {
            Err(format!("no instance {idx} (there are {})", self.placement.len()))
        }
    }

    fn check_host(&self, idx: usize) -> Result<(), String> {
        if idx < self.host_power.len() {
            Ok(())
        } else {
            Err(format!("no host {idx} (there are {})", self.host_power.len()))
        }
    }

    fn require_on(&self, host: usize) -> Result<(), String> {
        match self.host_power[host] {
            HostPower::On => Ok(()),
            other => Err(format!("host {host} is {:?}, not on", other.view())),
        }
    }

    /// Validates and applies one action at `t`; `Err` says why it was refused.
    fn apply(&mut self, t: f64, action: &Action) -> Result<(), String> {
        match *action {
            Action::Migrate { instance, to } => {
                self.check_instance(instance)?;
                self.check_host(to)?;
                let from = match self.placement[instance] {
                    Placement::Running { host } => host,
                    Placement::Migrating { .. } => {
                        return Err(format!("instance {instance} is already migrating"))
                    }
                    Placement::Stopped => {
                        return Err(format!("instance {instance} is stopped; start it instead"))
                    }
                };
                if from == to {
                    return Err(format!("instance {instance} already runs on host {to}"));
                }
                self.require_on(to)?;
                self.fits(instance, to)?;
                let memory = self.scenario.instances[instance].memory_mb;
                let done_at = t + memory / self.scenario.migration_mb_per_s;
                self.placement[instance] = Placement::Migrating { from, to, done_at };
                let demand = self.demand_mips(instance);
                let load = &mut self.loads[to];
                load.cpu_mips += demand;
                load.memory_mb += memory;
                load.instances += 1;
                self.summary.migrated += 1;
            }
            Action::Stop { instance } => {
                self.check_instance(instance)?;
                let host = match self.placement[instance] {
                    Placement::Running { host } => host,
                    Placement::Migrating { .. } => {
                        return Err(format!("instance {instance} is migrating"))
                    }
                    Placement::Stopped => {
                        return Err(format!("instance {instance} is already stopped"))
                    }
                };
                let group_running =
                    self.scenario.instances[instance].group.as_ref().is_some_and(|group| {
                        self.scenario.instances.iter().enumerate().any(|(other, inst)| {
                            other != instance
                                && inst.group.as_ref() == Some(group)
                                && self.placement[other] != Placement::Stopped
                        })
                    });
                self.placement[instance] = Placement::Stopped;
                self.uptime_s[instance] = 0.0;
                let demand = self.demand_mips(instance);
                let load = &mut self.loads[host];
                load.cpu_mips -= demand;
                load.memory_mb -= self.scenario.instances[instance].memory_mb;
                load.instances -= 1;
                self.stops.push(StopRecord { instance, at_s: t, until_s: None, group_running });
                self.summary.stopped += 1;
            }
            Action::Start { instance, on } => {
                self.check_instance(instance)?;
                self.check_host(on)?;
                if self.placement[instance] != Placement::Stopped {
                    return Err(format!("instance {instance} is not stopped"));
                }
                self.require_on(on)?;
                self.fits(instance, on)?;
                self.placement[instance] = Placement::Running { host: on };
                self.uptime_s[instance] = 0.0;
                let demand = self.demand_mips(instance);
                let load = &mut self.loads[on];
                load.cpu_mips += demand;
                load.memory_mb += self.scenario.instances[instance].memory_mb;
                load.instances += 1;
                if let Some(record) = self
                    .stops
                    .iter_mut()
                    .rev()
                    .find(|r| r.instance == instance && r.until_s.is_none())
                {
                    record.until_s = Some(t);
                }
                self.summary.started += 1;
            }
            Action::PowerDown { host } => {
                self.check_host(host)?;
                self.require_on(host)?;
                let n = self.loads[host].instances;
                if n > 0 {
                    return Err(format!(
                        "host {host} still has {n} instance(s) (running or migrating)"
                    ));
                }
                let off_at = t + self.scenario.shutdown_s;
                self.host_power[host] = if off_at <= t + EPS {
                    HostPower::Off
                } else {
                    HostPower::PoweringOff { off_at }
                };
                self.summary.hosts_powered_down += 1;
            }
            Action::PowerUp { host } => {
                self.check_host(host)?;
                if self.host_power[host] != HostPower::Off {
                    return Err(format!(
                        "host {host} is {:?}, not off",
                        self.host_power[host].view()
                    ));
                }
                let ready_at = t + self.scenario.boot_s;
                self.host_power[host] = if ready_at <= t + EPS {
                    HostPower::On
                } else {
                    HostPower::PoweringOn { ready_at }
                };
                self.summary.hosts_powered_up += 1;
            }
        }
        Ok(())
    }

    /// Integrates `[t, t + dt)` and records the metrics at `t + dt`.
    fn physics_step(
        &mut self,
        t: f64,
        dt: f64,
        cooling: &[(f64, bool)],
    ) -> Result<SeriesPoint, RunError> {
        let scenario = self.scenario;
        let power_w: Vec<f64> = (0..scenario.hosts.len()).map(|h| self.host_power_w(h)).collect();
        let mut zone_heat_w = vec![0.0; scenario.zones.len()];
        for (host, spec) in scenario.hosts.iter().enumerate() {
            zone_heat_w[spec.zone] += power_w[host];
        }
        let air_before = self.zone_air_c.clone();
        for (idx, zone) in scenario.zones.iter().enumerate() {
            let step = zone.air.step(self.zone_air_c[idx], zone_heat_w[idx], cooling[idx].0, dt);
            if !step.air_c.is_finite() {
                return Err(RunError::NonFinite { t_s: t + dt, what: format!("zone {}", zone.id) });
            }
            self.zone_air_c[idx] = step.air_c;
        }
        for (idx, host) in scenario.hosts.iter().enumerate() {
            let air = 0.5 * (air_before[host.zone] + self.zone_air_c[host.zone]);
            let temp = host.thermal.step(self.host_temp_c[idx], power_w[idx], air, dt);
            if !temp.is_finite() {
                return Err(RunError::NonFinite { t_s: t + dt, what: format!("host {}", host.id) });
            }
            self.host_temp_c[idx] = temp;
        }
        for (idx, placement) in self.placement.iter().enumerate() {
            if *placement != Placement::Stopped {
                self.uptime_s[idx] += dt;
            }
        }

        let total_power_w: f64 = power_w.iter().sum();
        self.summary.energy_kwh += total_power_w * dt / 3_600_000.0;
        let hottest_zone_c = max(&self.zone_air_c);
        let hottest_host_c = max(&self.host_temp_c);
        self.summary.peak_zone_c = self.summary.peak_zone_c.max(hottest_zone_c);
        self.summary.peak_host_c = self.summary.peak_host_c.max(hottest_host_c);
        let hosts_over = scenario
            .hosts
            .iter()
            .zip(&self.host_temp_c)
            .filter(|(host, &temp)| temp > host.limit_c)
            .count();
        if hosts_over > 0 {
            self.summary.seconds_over_limit += dt;
            self.summary.host_seconds_over_limit += dt * hosts_over as f64;
        }
        if scenario.zones.iter().zip(&self.zone_air_c).any(|(zone, &air)| air > zone.limit_c) {
            self.summary.zone_seconds_over_limit += dt;
        }
        Ok(SeriesPoint {
            t_s: t + dt,
            hottest_zone_c,
            hottest_host_c,
            power_w: total_power_w,
            hosts_on: self.host_power.iter().filter(|p| **p != HostPower::Off).count(),
            zone_air_c: self.zone_air_c.clone(),
        })
    }

    fn finish(mut self, end_s: f64, series: Vec<SeriesPoint>) -> ThermalRun {
        let scenario = self.scenario;
        let mut impact = scenario.impact.migration * self.summary.migrated as f64;
        for stop in &self.stops {
            let inst = &scenario.instances[stop.instance];
            let hours = (stop.until_s.unwrap_or(end_s) - stop.at_s) / 3600.0;
            let redundancy = if stop.group_running { 0.5 } else { 1.0 };
            impact += inst.customer_importance
                * scenario.impact.kind(&inst.kind)
                * (1.0 / (1.0 + f64::from(inst.customer_rank)))
                * (1.0 + hours)
                * redundancy;
        }
        self.summary.impact_cost = impact;
        self.summary.stopped_at_end =
            self.placement.iter().filter(|p| **p == Placement::Stopped).count() as u64;
        self.summary.simulated_s = end_s;
        ThermalRun { summary: self.summary, series, invalid: self.invalid, audit: Vec::new() }
    }
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}
