//! Decide: estimate, plan and let the thermal guard override, from an [`Observed`] snapshot, with
//! no I/O. The heat planner (seed 000) proposes migrations and power actions; the thermal guard
//! (seed 002) sees the same snapshot first, and while any zone is in a thermal event or
//! recovering from one, its actions are the plan and the heat planner's are held back (the note
//! says so). Rate limits cut the plan to what one cycle may start, keeping every power-down
//! whose host the kept migrations empty.

use crate::observe::Observed;
use crate::policy::ControllerPolicy;
use crate::step::{Source, Step, StepAction};
use crate::topology::Topology;
use drivers::{InstanceState, PowerState};
use heat::fleet::{FleetSpec, HostSpec, InstanceSpec, PolicySpec, Problem};
use heat::plan::{HostReason, InstanceOutcome, PowerKind};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use thermal::guard::{Guard, ZonePhase, ZoneStatus};

/// MIPS per core the thermal guard's capacity terms use (any constant works: only ratios count).
const MIPS_PER_CPU: f64 = 1000.0;

/// What the controller remembers about instances between cycles (dwell and uptime).
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Policy time each instance was first seen running, s.
    pub first_seen_s: HashMap<String, f64>,
    /// Policy time each instance last finished a move, s.
    pub last_moved_s: HashMap<String, f64>,
}

/// The heat figures of one snapshot, measured (not planned).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HeatStatus {
    /// Hosts running at least one instance and drawing at least the target.
    pub covered_hosts: usize,
    /// Hosts powered on.
    pub hosts_on: usize,
    /// Power of every host, W.
    pub power_w: f64,
    /// Power of the covered hosts, W (what the heat-recovery loop can take).
    pub harvested_w: f64,
    /// `harvested_w / power_w` (0 with no power).
    pub harvest_ratio: f64,
    /// What the heat plan, if applied in full, would cover.
    pub planned_covered_hosts: Option<usize>,
    /// The planner's upper bound on covered hosts.
    pub upper_bound: Option<usize>,
}

/// The outcome of one decision.
#[derive(Clone, Debug, Serialize)]
pub struct Decision {
    /// The steps to take, in order.
    pub steps: Vec<Step>,
    /// Measured heat figures and the plan's projection.
    pub heat: HeatStatus,
    /// The guard's view of every zone.
    pub thermal: Vec<ZoneStatus>,
    /// Why some things were not planned (rate limits, thermal override, unreadable hosts).
    pub notes: Vec<String>,
    /// The guard's audit records of this step.
    #[serde(skip)]
    pub audit: Vec<thermal::audit::AuditRecord>,
}

/// A host's power now: the sensor, else its curve at its CPU use, 0 when off.
pub fn host_power_w(observed: &Observed, topology: &Topology, h: usize) -> f64 {
    let obs = &observed.hosts[h];
    if obs.power == PowerState::Off {
        return obs.power_w.unwrap_or(0.0);
    }
    obs.power_w.unwrap_or_else(|| topology.hosts[h].curve.at(obs.cpu_use).0)
}

/// Measured heat figures.
pub fn heat_status(observed: &Observed, topology: &Topology, target_w: f64) -> HeatStatus {
    let mut status = HeatStatus::default();
    let mut running = vec![false; topology.hosts.len()];
    for inst in &observed.instances {
        if inst.info.state != InstanceState::Stopped {
            running[inst.host] = true;
        }
    }
    for (h, &runs) in running.iter().enumerate() {
        let power = host_power_w(observed, topology, h);
        status.power_w += power;
        if observed.hosts[h].power != PowerState::Off {
            status.hosts_on += 1;
        }
        if runs && target_w > 0.0 && power >= target_w {
            status.covered_hosts += 1;
            status.harvested_w += power;
        }
    }
    status.harvest_ratio =
        if status.power_w > 0.0 { status.harvested_w / status.power_w } else { 0.0 };
    status
}

/// The thermal guard's view of the snapshot.
///
/// Instances appear in `order` (ids), the guard's stable numbering: the guard tracks the
/// instances it moved or stopped by index across steps, while the drivers list them host by
/// host. An id in `order` that no host lists now appears stopped and empty, so no index moves.
pub fn thermal_observation(
    observed: &Observed,
    topology: &Topology,
    history: &History,
    order: &[String],
) -> thermal::Observation {
    use thermal::view::{HostView, InstanceView, PowerState as TP, ZoneView};
    let zones = topology
        .zones
        .iter()
        .enumerate()
        .map(|(z, zone)| {
            let air_c = topology
                .hosts
                .iter()
                .enumerate()
                .filter(|(_, host)| host.zone == z)
                .filter_map(|(h, _)| observed.hosts[h].inlet_c)
                .reduce(f64::max);
            let cooling = observed.cooling.get(z).cloned().flatten();
            ZoneView {
                id: zone.id.clone(),
                neighbours: zone.neighbours.clone(),
                air_c,
                limit_c: zone.limit_c,
                cooling_nominal_w: cooling.as_ref().map_or(zone.cooling_nominal_w, |c| c.nominal_w),
                cooling_available_w: cooling
                    .as_ref()
                    .map_or(zone.cooling_nominal_w, |c| c.available_w),
                cooling_failed: cooling.as_ref().is_some_and(|c| c.failed),
            }
        })
        .collect();
    let hosts = topology
        .hosts
        .iter()
        .enumerate()
        .map(|(h, host)| {
            let obs = &observed.hosts[h];
            HostView {
                id: host.id.to_string(),
                zone: host.zone,
                power: match obs.power {
                    PowerState::Off => TP::Off,
                    PowerState::On | PowerState::Unknown => TP::On,
                },
                temp_c: obs.temp_c,
                limit_c: host.limit_c,
                power_w: host_power_w(observed, topology, h),
                idle_w: host.curve.idle().0,
                cpu_use: obs.cpu_use,
                cpu_mips: host.cpus * MIPS_PER_CPU,
                memory_mb: host.memory_mib,
                management: host.management,
            }
        })
        .collect();
    let by_id: HashMap<&str, usize> =
        observed.instances.iter().enumerate().map(|(i, inst)| (inst.info.id.as_str(), i)).collect();
    let instances = order
        .iter()
        .map(|id| {
            let Some(&i) = by_id.get(id.as_str()) else {
                return InstanceView {
                    id: id.clone(),
                    host: None,
                    cpu_mips: 0.0,
                    memory_mb: 0.0,
                    uptime_s: 0.0,
                    kind: "vm".into(),
                    customer_rank: 0,
                    customer_importance: 1.0,
                    group: None,
                    migrating: false,
                    movable: false,
                };
            };
            let inst = &observed.instances[i];
            let info = &inst.info;
            let running = info.state != InstanceState::Stopped;
            InstanceView {
                id: info.id.clone(),
                host: running.then_some(inst.host),
                cpu_mips: info.cpus * info.cpu_use.unwrap_or(1.0) * MIPS_PER_CPU,
                memory_mb: info.memory_mib,
                uptime_s: history
                    .first_seen_s
                    .get(&info.id)
                    .map_or(0.0, |t| (observed.at_s - t).max(0.0)),
                kind: "vm".into(),
                customer_rank: 0,
                customer_importance: 1.0,
                group: None,
                migrating: info.state == InstanceState::Migrating,
                movable: info.movable,
            }
        })
        .collect();
    thermal::Observation { now_s: observed.at_s, zones, hosts, instances }
}

/// The guard's actions as steps (indices resolved to ids).
fn thermal_steps(
    actions: Vec<thermal::Action>,
    observed: &Observed,
    topology: &Topology,
    order: &[String],
    notes: &mut Vec<String>,
) -> Vec<Step> {
    use thermal::Action;
    let host_id = |h: usize| topology.hosts[h].id.clone();
    let by_id: HashMap<&str, usize> =
        observed.instances.iter().enumerate().map(|(i, inst)| (inst.info.id.as_str(), i)).collect();
    let present = |action: &Action| match action {
        Action::Migrate { instance, .. }
        | Action::Stop { instance }
        | Action::Start { instance, .. } => by_id.contains_key(order[*instance].as_str()),
        Action::PowerDown { .. } | Action::PowerUp { .. } => true,
    };
    let inst = |i: usize| &observed.instances[by_id[order[i].as_str()]];
    actions
        .into_iter()
        .filter(|action| {
            let keep = present(action);
            if !keep {
                notes.push(format!(
                    "thermal guard action dropped: {action:?} names an instance no host lists now"
                ));
            }
            keep
        })
        .map(|action| {
            let (action, reason) = match action {
                Action::Migrate { instance, to } => (
                    StepAction::Migrate {
                        instance: inst(instance).info.id.clone(),
                        from: host_id(inst(instance).host),
                        to: host_id(to),
                    },
                    "thermal event: move off a host being shed",
                ),
                Action::Stop { instance } => (
                    StepAction::Stop {
                        instance: inst(instance).info.id.clone(),
                        host: host_id(inst(instance).host),
                    },
                    "thermal event: could not move before its host powers down",
                ),
                Action::PowerDown { host } => {
                    (StepAction::PowerDown { host: host_id(host) }, "thermal event: shed heat")
                }
                Action::PowerUp { host } => {
                    (StepAction::PowerOn { host: host_id(host) }, "thermal event passed: power up")
                }
                Action::Start { instance, on } => (
                    StepAction::Start {
                        instance: inst(instance).info.id.clone(),
                        host: host_id(on),
                    },
                    "thermal event passed: restart what was stopped",
                ),
            };
            Step { action, source: Source::Thermal, reason: reason.into() }
        })
        .collect()
}

/// The heat planner's fleet for the snapshot: every readable host, and the instances on them.
/// Returns the spec and, per spec instance, its index in `observed.instances`.
///
/// With `zone`, only that zone's hosts and the instances on them, keeping `spare_hosts` spares.
pub fn fleet_spec(
    observed: &Observed,
    topology: &Topology,
    policy: &ControllerPolicy,
    history: &History,
    zone: Option<usize>,
    spare_hosts: usize,
) -> (FleetSpec, Vec<usize>) {
    let readable: Vec<bool> = observed
        .hosts
        .iter()
        .zip(&topology.hosts)
        .map(|(h, info)| h.error.is_none() && zone.is_none_or(|z| info.zone == z))
        .collect();
    let hosts = topology
        .hosts
        .iter()
        .enumerate()
        .filter(|(h, _)| readable[*h])
        .map(|(h, host)| HostSpec {
            id: host.id.to_string(),
            capacity: vec![host.cpus, host.memory_mib],
            idle_w: host.curve.idle().0,
            target_heat_w: policy.heat.target_heat_w,
            thermal_limit_w: None,
            power: match observed.hosts[h].power {
                PowerState::Off => heat::fleet::PowerState::Off,
                _ => heat::fleet::PowerState::On,
            },
        })
        .collect();
    // Attribution: a host's dynamic power (measured minus idle) split by CPU in use.
    let mut used = vec![0.0; topology.hosts.len()];
    for inst in &observed.instances {
        if inst.info.state != InstanceState::Stopped {
            used[inst.host] += inst.info.cpus * inst.info.cpu_use.unwrap_or(1.0);
        }
    }
    let mut index = Vec::new();
    let instances = observed
        .instances
        .iter()
        .enumerate()
        .filter(|(_, inst)| readable[inst.host] && inst.info.state != InstanceState::Stopped)
        .map(|(i, inst)| {
            index.push(i);
            let host = &topology.hosts[inst.host];
            let dynamic =
                (host_power_w(observed, topology, inst.host) - host.curve.idle().0).max(0.0);
            let mine = inst.info.cpus * inst.info.cpu_use.unwrap_or(1.0);
            let heat_w = if used[inst.host] > 0.0 { dynamic * mine / used[inst.host] } else { 0.0 };
            InstanceSpec {
                id: inst.info.id.clone(),
                request: vec![inst.info.cpus, inst.info.memory_mib],
                heat_w,
                memory_mib: inst.info.memory_mib,
                host: Some(host.id.to_string()),
                migratable: inst.info.movable
                    && inst.info.state == InstanceState::Running
                    && !host.management,
                anti_affinity: None,
                since_move_s: history
                    .last_moved_s
                    .get(&inst.info.id)
                    .map(|t| (observed.at_s - t).max(0.0)),
            }
        })
        .collect();
    let spec = FleetSpec {
        resources: vec!["cpu".into(), "memory".into()],
        hosts,
        instances,
        policy: PolicySpec {
            headroom: vec![policy.heat.headroom, policy.heat.headroom],
            migration_budget: None,
            min_dwell_s: policy.heat.min_dwell_s,
            spare_hosts,
        },
    };
    (spec, index)
}

/// Decides the next steps for `observed`.
///
/// `order` is the guard's stable instance numbering ([`thermal_observation`]): renumbered from
/// the drivers' listing while every zone is normal, kept (new instances appended) otherwise.
pub fn decide(
    observed: &Observed,
    topology: &Topology,
    policy: &ControllerPolicy,
    guard: &mut Guard,
    history: &History,
    order: &mut Vec<String>,
) -> Decision {
    let mut notes: Vec<String> = observed
        .hosts
        .iter()
        .zip(&topology.hosts)
        .filter_map(|(obs, host)| {
            obs.error.as_ref().map(|e| format!("host {} left out of the plan: {e}", host.id))
        })
        .collect();
    notes.extend(observed.errors.iter().cloned());
    let mut heat = heat_status(observed, topology, policy.heat.target_heat_w);

    if guard.zones().iter().all(|z| z.phase == ZonePhase::Normal) {
        order.clear();
    }
    let known: HashSet<String> = order.iter().cloned().collect();
    for inst in &observed.instances {
        if !known.contains(&inst.info.id) {
            order.push(inst.info.id.clone());
        }
    }
    let obs = thermal_observation(observed, topology, history, order);
    let thermal_actions = match guard.step(&obs) {
        Ok(actions) => actions,
        Err(err) => {
            notes.push(format!("thermal guard refused the observation: {err}"));
            Vec::new()
        }
    };
    let audit = guard.drain_audit();
    let zones = guard.zones();
    let busy: Vec<&ZoneStatus> = zones.iter().filter(|z| z.phase != ZonePhase::Normal).collect();
    let mut steps = thermal_steps(thermal_actions, observed, topology, order, &mut notes);
    if !busy.is_empty() {
        let names: Vec<&str> = busy.iter().map(|z| z.id.as_str()).collect();
        notes.push(format!(
            "heat plan held back: thermal guard active in zone(s) {}",
            names.join(", ")
        ));
    } else {
        steps.extend(heat_steps(observed, topology, policy, history, &mut heat, &mut notes));
    }
    Decision { steps, heat, thermal: zones, notes, audit }
}

/// One planning scope's plan: its fleet, the observed index of each of its instances, the plan.
struct Scoped {
    spec: FleetSpec,
    index: Vec<usize>,
    plan: heat::plan::Plan,
}

/// The heat planner's plans: one per zone (`heat.scope = "zone"`, the default: each zone's
/// heat-recovery loop is planned on its own and no heat plan moves heat between cooling zones),
/// or one for the whole site. Site-wide spares are dealt to the zones in order.
fn heat_plans(
    observed: &Observed,
    topology: &Topology,
    policy: &ControllerPolicy,
    history: &History,
    notes: &mut Vec<String>,
) -> Vec<Scoped> {
    let scopes: Vec<(Option<usize>, usize)> = match policy.heat.scope {
        crate::policy::Scope::Site => vec![(None, policy.limits.spare_hosts)],
        crate::policy::Scope::Zone => {
            let n = topology.zones.len().max(1);
            let spares = policy.limits.spare_hosts;
            (0..topology.zones.len())
                .map(|z| (Some(z), spares / n + usize::from(z < spares % n)))
                .collect()
        }
    };
    let mut plans = Vec::with_capacity(scopes.len());
    for (zone, spares) in scopes {
        let (spec, index) = fleet_spec(observed, topology, policy, history, zone, spares);
        if spec.hosts.is_empty() {
            continue;
        }
        match Problem::new(&spec) {
            Ok(problem) => {
                let plan = heat::plan::plan(&problem);
                plans.push(Scoped { spec, index, plan });
            }
            Err(err) => {
                let scope = zone
                    .map_or("the site".to_string(), |z| format!("zone {}", topology.zones[z].id));
                notes.push(format!(
                    "heat plan for {scope} skipped: the fleet as observed is invalid: {err}"
                ));
            }
        }
    }
    plans
}

/// The heat planner's steps, cut to the cycle's limits: power-ons first, then migrations taken
/// round-robin across the scopes' safe orders, then the power-downs whose hosts those
/// migrations empty.
fn heat_steps(
    observed: &Observed,
    topology: &Topology,
    policy: &ControllerPolicy,
    history: &History,
    heat: &mut HeatStatus,
    notes: &mut Vec<String>,
) -> Vec<Step> {
    let plans = heat_plans(observed, topology, policy, history, notes);
    heat.planned_covered_hosts = Some(plans.iter().map(|p| p.plan.score.covered_hosts).sum());
    heat.upper_bound = Some(plans.iter().map(|p| p.plan.upper_bound).sum());
    let host_of = |s: &Scoped, h: usize| drivers::HostId::new(s.spec.hosts[h].id.clone());
    let limits = &policy.limits;
    let mut steps = Vec::new();
    let mut power_budget = limits.power_changes_per_cycle;
    for scoped in &plans {
        for action in &scoped.plan.power {
            if !matches!(action.action, PowerKind::PowerOn | PowerKind::Wake) {
                continue;
            }
            if power_budget == 0 {
                notes.push(format!(
                    "rate limit: power-on of {} deferred",
                    scoped.spec.hosts[action.host].id
                ));
                continue;
            }
            power_budget -= 1;
            steps.push(Step {
                action: StepAction::PowerOn { host: host_of(scoped, action.host) },
                source: Source::Heat,
                reason: "heat plan: needed to take migrations".into(),
            });
        }
    }
    // Migrations: a prefix of each scope's safe order, the scopes taking turns.
    let planned: usize = plans.iter().map(|p| p.plan.migrations.len()).sum();
    let mut kept = vec![0usize; plans.len()];
    let mut budget = limits.migrations_per_cycle.min(planned);
    while budget > 0 {
        let mut progressed = false;
        for (k, scoped) in plans.iter().enumerate() {
            if budget > 0 && kept[k] < scoped.plan.migrations.len() {
                kept[k] += 1;
                budget -= 1;
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    let taken: usize = kept.iter().sum();
    if taken < planned {
        notes.push(format!(
            "rate limit: {} of {planned} planned migrations deferred to later cycles",
            planned - taken
        ));
    }
    let management: HashSet<&str> =
        topology.hosts.iter().filter(|h| h.management).map(|h| h.id.as_str()).collect();
    let mut downs = Vec::new();
    for (scoped, &kept) in plans.iter().zip(&kept) {
        let plan = &scoped.plan;
        let mut leaving: HashMap<usize, usize> = HashMap::new();
        for m in &plan.migrations {
            *leaving.entry(m.from).or_default() += 1;
        }
        let mut left: HashMap<usize, usize> = HashMap::new();
        for m in &plan.migrations[..kept] {
            *left.entry(m.from).or_default() += 1;
            let why = match plan.instances[m.instance] {
                InstanceOutcome::Moved { why } => format!("{why:?}").to_lowercase(),
                _ => "plan".into(),
            };
            let inst = &observed.instances[scoped.index[m.instance]];
            steps.push(Step {
                action: StepAction::Migrate {
                    instance: inst.info.id.clone(),
                    from: host_of(scoped, m.from),
                    to: host_of(scoped, m.to),
                },
                source: Source::Heat,
                reason: format!("heat plan ({why}): {} MiB", m.memory_mib.round()),
            });
        }
        for action in &plan.power {
            let h = action.host;
            if action.action != PowerKind::PowerDown
                || management.contains(scoped.spec.hosts[h].id.as_str())
                || leaving.get(&h) != left.get(&h)
            {
                continue; // not a power-down, a management host, or migrations still to come
            }
            let reason = match plan.hosts[h].reason {
                HostReason::PoweredDown => "heat plan: empty after consolidation",
                _ => "heat plan: empty",
            };
            downs.push((host_of(scoped, h), reason));
        }
    }
    for (host, reason) in downs {
        if power_budget == 0 {
            notes.push(format!("rate limit: power-down of {host} deferred"));
            continue;
        }
        power_budget -= 1;
        steps.push(Step {
            action: StepAction::PowerDown { host },
            source: Source::Heat,
            reason: reason.into(),
        });
    }
    steps
}
