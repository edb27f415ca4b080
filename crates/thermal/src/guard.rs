//! The power down/up sequencer (seed 002, FIG. process blocks "detect", "power down in priority
//! order", "the event has passed", "power up in priority order", with the feedback loop): a
//! state machine per zone, driven by one [`Guard::step`] per observation. Sans-IO: the caller
//! passes the observation (with its clock) and applies the returned actions; actions take time,
//! and later observations show them under way (`PoweringOff`, `PoweringOn`, `migrating`) or done.
//!
//! **Phases of a zone.** `Normal` → (event) → `Shedding` → (event passed) → `Recovering` → (list
//! empty) → `Normal`; an event during `Recovering` returns to `Shedding` with the powered-down list
//! intact, and recovery later resumes from it.
//!
//! **Shedding, one step at a time.** A step is a set of hosts to power down, in priority order.
//! The strategy picks it ([`crate::strategy`]); hosts over their own hardware threshold join the
//! front of the current step whatever the strategy (except `none`). Each host of the step is
//! drained: every instance not already moving is live-migrated to a host outside any event that
//! has room (processor and memory sums, counting migrations the guard has under way there),
//! preferring zones that are `Normal` over `Recovering`, not neighbouring the event, then the
//! coolest; an instance with no room anywhere is stopped, and so is everything still on the host
//! when `migration_timeout_s` has passed since draining began. Instances with `migrating` set are
//! waited for. A host is powered down once empty, strictly in the step's order, with at most
//! `max_parallel_power_ops` power changes under way across the whole data center. When every host
//! of the step is off, the guard waits `settle_s`, re-reads the zone and either sees the event
//! pass (temperature under T_clear) or takes the next step.
//!
//! **Seed strategy's next step.** Re-project; if heat must go, choose the least-cost covering set
//! among the zone's eligible hosts (and neighbouring zones' hosts when `neighbour_share` > 0) and
//! order it by cost–benefit. If the projection asks for nothing yet the air is over T_clear, wait
//! one settle time; if the air then has not fallen by `min_progress_c`, shed the single host of
//! least cost–benefit.
//!
//! **Recovering.** Hosts on the zone's list are powered up by the power-up ranking (management
//! first, then the highest score over the instances the guard stopped on them), `powerup_batch`
//! at a time, while the zone is under T_powerup (without a temperature: while no cooling failure
//! is reported) and the host's zone can take its idle power within the available cooling; after
//! each batch is on, the guard restarts the instances it stopped there and waits `settle_s`.
//!
//! **Guarantees.** An action is never issued twice while under way (migrations, stops and starts
//! are tracked per instance, power changes per host); one not seen to complete within
//! `action_timeout_s` is recorded as lost and may be issued again. Management hosts are shed last
//! by every strategy. Every action has an audit record.
//! **Assumptions.** Zone and host indices and ids stay the same from one observation to the next;
//! instances may be appended, but one the guard tracks keeps its index and id. The caller's
//! clock never goes back.
//! **Errors.** An observation that breaks these, or holds an out-of-range index or a non-finite
//! or negative quantity, is a [`StepError`] naming the field; the guard's state is unchanged.
//!
//! **Persistence.** [`Guard`] serializes with serde, whole: policy, strategy, random generator,
//! the detector's hysteresis, every zone's phase, plan and settle time, the powered-down lists
//! with the instances stopped on them, pending actions and the audit records not yet drained.
//! A guard read back from `serde_json::to_value` by `serde_json::from_value` takes every later
//! step exactly as the original would have (same actions, zones and audit records). Through JSON
//! *text*, numbers come back exact only with serde_json's `float_roundtrip` feature (without it,
//! serde_json may parse a 17-digit number one unit in the last place off). Reading checks that
//! the state holds together (see [`Guard`]); a caller should also check
//! [`Guard::is_compatible`] with its current policy and strategy before resuming. Non-finite
//! numbers (only from overflowing sums of huge valid inputs) are kept exactly in the guard's own
//! bookkeeping and read back as NaN in its records, whose JSON is unchanged (`null`).

use crate::audit::{AuditRecord, Reason};
use crate::benefit::{self, Benefit, BenefitInput, Location};
use crate::choose::{self, Item};
use crate::detect::{Change, Detector, ZoneReading};
use crate::policy::{Policy, PolicyError};
use crate::project::{self, Projection};
use crate::rank::{self, HostCost, HostFacts};
use crate::strategy::Strategy;
use crate::view::{Action, Observation, PowerState};
use model::rand::SplitMix64;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The phase of a zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZonePhase {
    /// No event, nothing on the powered-down list.
    Normal,
    /// In an event: shedding hosts.
    Shedding,
    /// The event passed: powering the list back up.
    Recovering,
}

/// Where a host on a zone's powered-down list is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShedStage {
    /// Its instances are being migrated or stopped.
    Draining,
    /// Power-down requested.
    PoweringDown,
    /// Off.
    Off,
    /// Power-up requested.
    PoweringUp,
    /// Back on; the instances the guard stopped are being started again.
    Restarting,
}

/// One host on a zone's powered-down list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShedHost {
    /// Host index.
    pub host: usize,
    /// Host id.
    pub host_id: String,
    /// Stage.
    pub stage: ShedStage,
    /// Instances the guard stopped on it and has not yet started again.
    pub stopped: Vec<usize>,
}

/// A zone as the guard sees it after the last step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZoneStatus {
    /// Zone index.
    pub zone: usize,
    /// Zone id.
    pub id: String,
    /// Phase.
    pub phase: ZonePhase,
    /// The temperature source used (and its value).
    pub reading: ZoneReading,
    /// The powered-down list, in the order the hosts were shed.
    pub powered_down: Vec<ShedHost>,
    /// The guard waits until then before its next step here, s.
    pub settle_until_s: Option<f64>,
}

/// An observation the guard cannot use; the field names where.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StepError {
    /// A value is out of range or not finite.
    #[error("observation field `{field}`: {problem}")]
    Invalid {
        /// E.g. `hosts[3].power_w (host "h3")`.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// The clock went back.
    #[error("observation `now_s` went back from {last_s} to {now_s}")]
    TimeWentBack {
        /// Previous time, s.
        last_s: f64,
        /// This time, s.
        now_s: f64,
    },
    /// Zones or hosts changed shape or ids, or a tracked instance vanished or changed id.
    #[error("observation `{field}` changed: was {was}, now {now}")]
    Changed {
        /// E.g. `hosts.len()`, `hosts[2].id`, `instances[5].id`.
        field: String,
        /// Before.
        was: String,
        /// Now.
        now: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Stage {
    Draining {
        #[serde(with = "crate::float::exact")]
        since_s: f64,
    },
    PoweringDown {
        #[serde(with = "crate::float::exact")]
        issued_s: f64,
    },
    Off,
    PoweringUp {
        #[serde(with = "crate::float::exact")]
        issued_s: f64,
    },
    Restarting,
}

impl Stage {
    fn public(self) -> ShedStage {
        match self {
            Stage::Draining { .. } => ShedStage::Draining,
            Stage::PoweringDown { .. } => ShedStage::PoweringDown,
            Stage::Off => ShedStage::Off,
            Stage::PoweringUp { .. } => ShedStage::PoweringUp,
            Stage::Restarting => ShedStage::Restarting,
        }
    }

    /// Part of a shedding step still under way.
    fn shedding(self) -> bool {
        matches!(self, Stage::Draining { .. } | Stage::PoweringDown { .. })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Task {
    zone: usize,
    stage: Stage,
    stopped: Vec<(usize, String)>,
    seq: u64,
    #[serde(with = "crate::float::exact")]
    cpu_use_before: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Op {
    Migrate { from: usize, to: usize },
    Stop,
    Start,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Pending {
    id: String,
    op: Op,
    #[serde(with = "crate::float::exact")]
    issued_s: f64,
    seen_moving: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Planned {
    host: usize,
    cost: HostCost,
    benefit: Option<Benefit>,
    #[serde(with = "crate::float::exact_opt")]
    cost_benefit: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct ZoneState {
    phase: ZonePhase,
    /// Hosts of the current step whose power-down is not issued yet, in order.
    plan: Vec<Planned>,
    /// Every host of the current step (power-down or power-up batch).
    step: Vec<usize>,
    /// How many power-downs of the current step were issued.
    issued_in_step: usize,
    #[serde(with = "crate::float::exact_opt")]
    settle_until_s: Option<f64>,
    #[serde(with = "crate::float::exact_opt")]
    last_settled_c: Option<f64>,
    nothing_noted: bool,
    held_noted: bool,
}

impl ZoneState {
    fn new() -> ZoneState {
        ZoneState {
            phase: ZonePhase::Normal,
            plan: Vec::new(),
            step: Vec::new(),
            issued_in_step: 0,
            settle_until_s: None,
            last_settled_c: None,
            nothing_noted: false,
            held_noted: false,
        }
    }
}

/// Which ids an audit record names.
#[derive(Clone, Copy, Default)]
struct Rec {
    zone: Option<usize>,
    host: Option<usize>,
    instance: Option<usize>,
}

/// Processor and memory committed on each host: its instances plus migrations under way to it.
struct Capacity {
    cpu: Vec<f64>,
    mem: Vec<f64>,
}

impl Capacity {
    fn new(obs: &Observation, pending: &BTreeMap<usize, Pending>) -> Capacity {
        let mut cap = Capacity { cpu: vec![0.0; obs.hosts.len()], mem: vec![0.0; obs.hosts.len()] };
        for inst in &obs.instances {
            if let Some(h) = inst.host {
                cap.cpu[h] += inst.cpu_mips;
                cap.mem[h] += inst.memory_mb;
            }
        }
        for (&idx, p) in pending {
            if let Op::Migrate { to, .. } = p.op {
                let inst = &obs.instances[idx];
                if inst.host != Some(to) {
                    cap.cpu[to] += inst.cpu_mips;
                    cap.mem[to] += inst.memory_mb;
                }
            }
        }
        cap
    }

    fn fits(&self, obs: &Observation, host: usize, instance: usize) -> bool {
        let (h, i) = (&obs.hosts[host], &obs.instances[instance]);
        self.cpu[host] + i.cpu_mips <= h.cpu_mips && self.mem[host] + i.memory_mb <= h.memory_mb
    }

    fn add(&mut self, obs: &Observation, host: usize, instance: usize) {
        self.cpu[host] += obs.instances[instance].cpu_mips;
        self.mem[host] += obs.instances[instance].memory_mb;
    }
}

/// The thermal guard: detection, ranking, projection, choice and the sequencer, for a whole
/// data center (every zone of the observation).
///
/// Its whole state serializes (module doc, **Persistence**); reading it back checks that it
/// holds together (a valid policy, indices within the zones and hosts it knows) and fails with a
/// message otherwise.
#[derive(Clone, Debug, Serialize)]
pub struct Guard {
    policy: Policy,
    strategy: Strategy,
    rng: SplitMix64,
    zone_ids: Vec<String>,
    host_ids: Vec<String>,
    detector: Option<Detector>,
    zones: Vec<ZoneState>,
    tasks: BTreeMap<usize, Task>,
    pending: BTreeMap<usize, Pending>,
    next_seq: u64,
    #[serde(with = "crate::float::exact_opt")]
    last_now_s: Option<f64>,
    audit: Vec<AuditRecord>,
}

/// [`Guard`]'s fields as read back, checked by [`GuardData::check`] before they make a guard.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GuardData {
    policy: Policy,
    strategy: Strategy,
    rng: SplitMix64,
    zone_ids: Vec<String>,
    host_ids: Vec<String>,
    detector: Option<Detector>,
    zones: Vec<ZoneState>,
    tasks: BTreeMap<usize, Task>,
    pending: BTreeMap<usize, Pending>,
    next_seq: u64,
    #[serde(with = "crate::float::exact_opt")]
    last_now_s: Option<f64>,
    audit: Vec<AuditRecord>,
}

impl GuardData {
    /// The guard, if the state holds together: what `step` indexes without checking is in
    /// range (observations are checked against the zones and hosts the guard knows, so these
    /// bounds keep a restored guard from panicking on a corrupt state).
    fn check(self) -> Result<Guard, String> {
        self.policy.validate().map_err(|e| e.to_string())?;
        let (nz, nh) = (self.zone_ids.len(), self.host_ids.len());
        match &self.detector {
            None => {
                if nz + nh + self.zones.len() + self.tasks.len() + self.pending.len() > 0 {
                    return Err("no detector (no step yet), but zones, hosts, tasks or pending \
                                actions are present"
                        .into());
                }
            }
            Some(detector) => {
                if detector.sizes() != (nz, nh) || self.zones.len() != nz {
                    let (dz, dh) = detector.sizes();
                    return Err(format!(
                        "{nz} zone id(s) and {nh} host id(s), but {} zone state(s) and a \
                         detector for {dz} zone(s) and {dh} host(s)",
                        self.zones.len()
                    ));
                }
            }
        }
        let host = |what: &str, h: usize| {
            if h < nh {
                Ok(())
            } else {
                Err(format!("{what} names host {h}, but the guard knows {nh} host(s)"))
            }
        };
        for (&h, task) in &self.tasks {
            host("a powered-down list", h)?;
            if task.zone >= nz {
                return Err(format!(
                    "host {h}'s task names zone {}, but the guard knows {nz} zone(s)",
                    task.zone
                ));
            }
            if task.seq >= self.next_seq {
                return Err(format!(
                    "host {h}'s task has sequence number {}, not below next_seq {}",
                    task.seq, self.next_seq
                ));
            }
        }
        for p in self.pending.values() {
            if let Op::Migrate { from, to } = p.op {
                host("a pending migration", from)?;
                host("a pending migration", to)?;
            }
        }
        for z in &self.zones {
            for &h in z.plan.iter().map(|p| &p.host).chain(&z.step) {
                host("a zone's current step", h)?;
            }
        }
        Ok(Guard {
            policy: self.policy,
            strategy: self.strategy,
            rng: self.rng,
            zone_ids: self.zone_ids,
            host_ids: self.host_ids,
            detector: self.detector,
            zones: self.zones,
            tasks: self.tasks,
            pending: self.pending,
            next_seq: self.next_seq,
            last_now_s: self.last_now_s,
            audit: self.audit,
        })
    }
}

impl<'de> Deserialize<'de> for Guard {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Guard, D::Error> {
        GuardData::deserialize(d)?
            .check()
            .map_err(|e| serde::de::Error::custom(format!("thermal guard state: {e}")))
    }
}

fn check_finite(field: impl FnOnce() -> String, value: f64) -> Result<(), StepError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(StepError::Invalid { field: field(), problem: format!("must be finite, got {value}") })
    }
}

fn check_non_negative(field: impl Fn() -> String, value: f64) -> Result<(), StepError> {
    check_finite(&field, value)?;
    if value < 0.0 {
        return Err(StepError::Invalid {
            field: field(),
            problem: format!("must be ≥ 0, got {value}"),
        });
    }
    Ok(())
}

fn fmt_c(t: Option<f64>) -> String {
    t.map_or_else(|| "unknown".to_string(), |t| format!("{t:.1} °C"))
}

impl Guard {
    /// A guard with a validated `policy` and a `strategy`.
    pub fn new(policy: Policy, strategy: Strategy) -> Result<Guard, PolicyError> {
        policy.validate()?;
        let seed = match strategy {
            Strategy::Random { seed } => seed,
            _ => 0,
        };
        Ok(Guard {
            policy,
            strategy,
            rng: SplitMix64::new(seed),
            zone_ids: Vec::new(),
            host_ids: Vec::new(),
            detector: None,
            zones: Vec::new(),
            tasks: BTreeMap::new(),
            pending: BTreeMap::new(),
            next_seq: 0,
            last_now_s: None,
            audit: Vec::new(),
        })
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The strategy.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// Whether this guard runs under `policy` and `strategy`: a caller restoring a saved guard
    /// checks it against its current configuration and starts a new guard when it differs.
    pub fn is_compatible(&self, policy: &Policy, strategy: Strategy) -> bool {
        self.policy == *policy && self.strategy == strategy
    }

    /// Every audit record so far, oldest first.
    pub fn audit(&self) -> &[AuditRecord] {
        &self.audit
    }

    /// Takes the audit records so far (the guard keeps none of them).
    pub fn drain_audit(&mut self) -> Vec<AuditRecord> {
        std::mem::take(&mut self.audit)
    }

    /// The phase of zone `zone` (`None` before the first step or out of range).
    pub fn phase(&self, zone: usize) -> Option<ZonePhase> {
        self.zones.get(zone).map(|z| z.phase)
    }

    /// The powered-down list of zone `zone`, in shed order.
    pub fn powered_down(&self, zone: usize) -> Vec<ShedHost> {
        let mut list: Vec<(u64, ShedHost)> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.zone == zone)
            .map(|(&host, t)| {
                (
                    t.seq,
                    ShedHost {
                        host,
                        host_id: self.host_ids[host].clone(),
                        stage: t.stage.public(),
                        stopped: t.stopped.iter().map(|(i, _)| *i).collect(),
                    },
                )
            })
            .collect();
        list.sort_by_key(|(seq, _)| *seq);
        list.into_iter().map(|(_, s)| s).collect()
    }

    /// Every zone's status after the last step.
    pub fn zones(&self) -> Vec<ZoneStatus> {
        (0..self.zones.len())
            .map(|zone| ZoneStatus {
                zone,
                id: self.zone_ids[zone].clone(),
                phase: self.zones[zone].phase,
                reading: self
                    .detector
                    .as_ref()
                    .map_or(ZoneReading::Blind, |d| d.reading(zone).clone()),
                powered_down: self.powered_down(zone),
                settle_until_s: self.zones[zone].settle_until_s,
            })
            .collect()
    }

    /// Whether host `host` is in a hardware event.
    pub fn host_event(&self, host: usize) -> bool {
        self.detector.as_ref().is_some_and(|d| d.host_active(host))
    }

    /// One pass of the guard over a fresh observation: returns the actions to apply now.
    ///
    /// Guarantees, assumptions and errors: see the module doc. On error nothing changes.
    pub fn step(&mut self, obs: &Observation) -> Result<Vec<Action>, StepError> {
        self.validate(obs)?;
        if self.detector.is_none() {
            self.zone_ids = obs.zones.iter().map(|z| z.id.clone()).collect();
            self.host_ids = obs.hosts.iter().map(|h| h.id.clone()).collect();
            self.detector = Some(Detector::new(obs.zones.len(), obs.hosts.len()));
            self.zones = vec![ZoneState::new(); obs.zones.len()];
        }
        self.last_now_s = Some(obs.now_s);
        self.resolve_pending(obs);
        self.update_tasks(obs);

        let quiet: Vec<bool> = (0..obs.zones.len()).map(|z| self.quiet(z, obs.now_s)).collect();
        let mut detector = self.detector.take().expect("initialized above");
        let changes = detector.observe(obs, &self.policy, &|z| quiet[z]);
        self.detector = Some(detector);
        self.apply_changes(obs, changes);

        let mut actions = Vec::new();
        let mut budget = self.power_budget(obs);
        let mut capacity = Capacity::new(obs, &self.pending);
        for zone in 0..obs.zones.len() {
            match self.zones[zone].phase {
                ZonePhase::Normal => {}
                ZonePhase::Shedding => {
                    self.shed(obs, zone, &mut actions, &mut budget, &mut capacity);
                }
                ZonePhase::Recovering => self.recover(obs, zone, &mut actions, &mut budget),
            }
        }
        Ok(actions)
    }

    // -----------------------------------------------------------------------------------------
    // Validation

    fn validate(&self, obs: &Observation) -> Result<(), StepError> {
        check_finite(|| "now_s".into(), obs.now_s)?;
        if let Some(last_s) = self.last_now_s {
            if obs.now_s < last_s {
                return Err(StepError::TimeWentBack { last_s, now_s: obs.now_s });
            }
        }
        let (nz, nh) = (obs.zones.len(), obs.hosts.len());
        if self.detector.is_some() {
            for (what, was, now) in
                [("zones.len()", self.zone_ids.len(), nz), ("hosts.len()", self.host_ids.len(), nh)]
            {
                if was != now {
                    return Err(StepError::Changed {
                        field: what.into(),
                        was: was.to_string(),
                        now: now.to_string(),
                    });
                }
            }
        }
        for (zi, z) in obs.zones.iter().enumerate() {
            let f = |name: &str| format!("zones[{zi}].{name} (zone {:?})", z.id);
            if let Some(was) = self.zone_ids.get(zi) {
                if *was != z.id {
                    return Err(StepError::Changed {
                        field: format!("zones[{zi}].id"),
                        was: format!("{was:?}"),
                        now: format!("{:?}", z.id),
                    });
                }
            }
            for &n in &z.neighbours {
                if n >= nz {
                    return Err(StepError::Invalid {
                        field: f("neighbours"),
                        problem: format!("zone index {n} out of range (there are {nz} zones)"),
                    });
                }
            }
            if let Some(t) = z.air_c {
                check_finite(|| f("air_c"), t)?;
            }
            check_finite(|| f("limit_c"), z.limit_c)?;
            check_non_negative(|| f("cooling_nominal_w"), z.cooling_nominal_w)?;
            check_non_negative(|| f("cooling_available_w"), z.cooling_available_w)?;
        }
        for (hi, h) in obs.hosts.iter().enumerate() {
            let f = |name: &str| format!("hosts[{hi}].{name} (host {:?})", h.id);
            if let Some(was) = self.host_ids.get(hi) {
                if *was != h.id {
                    return Err(StepError::Changed {
                        field: format!("hosts[{hi}].id"),
                        was: format!("{was:?}"),
                        now: format!("{:?}", h.id),
                    });
                }
            }
            if h.zone >= nz {
                return Err(StepError::Invalid {
                    field: f("zone"),
                    problem: format!("zone index {} out of range (there are {nz} zones)", h.zone),
                });
            }
            if let Some(t) = h.temp_c {
                check_finite(|| f("temp_c"), t)?;
            }
            check_finite(|| f("limit_c"), h.limit_c)?;
            check_non_negative(|| f("power_w"), h.power_w)?;
            check_non_negative(|| f("idle_w"), h.idle_w)?;
            check_non_negative(|| f("cpu_use"), h.cpu_use)?;
            check_non_negative(|| f("cpu_mips"), h.cpu_mips)?;
            check_non_negative(|| f("memory_mb"), h.memory_mb)?;
        }
        for (ii, inst) in obs.instances.iter().enumerate() {
            let f = |name: &str| format!("instances[{ii}].{name} (instance {:?})", inst.id);
            if let Some(h) = inst.host {
                if h >= nh {
                    return Err(StepError::Invalid {
                        field: f("host"),
                        problem: format!("host index {h} out of range (there are {nh} hosts)"),
                    });
                }
            }
            check_non_negative(|| f("cpu_mips"), inst.cpu_mips)?;
            check_non_negative(|| f("memory_mb"), inst.memory_mb)?;
            check_non_negative(|| f("uptime_s"), inst.uptime_s)?;
            check_non_negative(|| f("customer_importance"), inst.customer_importance)?;
        }
        let tracked = self
            .pending
            .iter()
            .map(|(&i, p)| (i, &p.id))
            .chain(self.tasks.values().flat_map(|t| t.stopped.iter().map(|(i, id)| (*i, id))));
        for (idx, id) in tracked {
            let now = obs.instances.get(idx).map(|i| i.id.as_str());
            if now != Some(id.as_str()) {
                return Err(StepError::Changed {
                    field: format!("instances[{idx}].id"),
                    was: format!("{id:?}"),
                    now: now.map_or_else(|| "missing".to_string(), |n| format!("{n:?}")),
                });
            }
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Bookkeeping

    fn log(
        &mut self,
        obs: &Observation,
        rec: Rec,
        action: Option<Action>,
        reason: Reason,
        text: String,
    ) {
        self.audit.push(AuditRecord {
            time_s: obs.now_s,
            zone: rec.zone.map(|z| obs.zones[z].id.clone()),
            host: rec.host.map(|h| obs.hosts[h].id.clone()),
            instance: rec.instance.map(|i| obs.instances[i].id.clone()),
            action,
            reason,
            text,
        });
    }

    /// Marks instance operations done, failed or lost.
    fn resolve_pending(&mut self, obs: &Observation) {
        let timeout = self.policy.action_timeout_s;
        let mut lost = Vec::new();
        self.pending.retain(|&idx, p| {
            let inst = &obs.instances[idx];
            let age = obs.now_s - p.issued_s;
            match p.op {
                Op::Migrate { from, to } => {
                    if inst.migrating {
                        p.seen_moving = true;
                        return true;
                    }
                    if inst.host == Some(to) || inst.host != Some(from) {
                        return false;
                    }
                    // Still on the source and not moving: failed once seen moving, lost after the
                    // timeout, else not started yet.
                    if p.seen_moving || age > timeout {
                        lost.push((idx, format!("migrate to {}", obs.hosts[to].id)));
                        return false;
                    }
                    true
                }
                Op::Stop | Op::Start => {
                    // Done once the instance is off a host (stop) or on one (start).
                    let stopping = matches!(p.op, Op::Stop);
                    if inst.host.is_none() == stopping {
                        return false;
                    }
                    if age > timeout {
                        lost.push((idx, if stopping { "stop" } else { "start" }.to_string()));
                        return false;
                    }
                    true
                }
            }
        });
        for (idx, what) in lost {
            let text = format!(
                "{what} of instance {} not seen to complete; it may be issued again",
                obs.instances[idx].id
            );
            self.log(
                obs,
                Rec { instance: Some(idx), ..Rec::default() },
                None,
                Reason::ActionLost { what },
                text,
            );
        }
    }

    /// Moves tasks along with the power states the observation shows.
    fn update_tasks(&mut self, obs: &Observation) {
        let timeout = self.policy.action_timeout_s;
        let mut lost = Vec::new();
        for (&host, task) in self.tasks.iter_mut() {
            let power = obs.hosts[host].power;
            task.stage = match (task.stage, power) {
                (
                    Stage::Draining { .. } | Stage::PoweringDown { .. } | Stage::Restarting,
                    PowerState::Off,
                ) => Stage::Off,
                (Stage::PoweringDown { issued_s }, PowerState::On)
                    if obs.now_s - issued_s > timeout =>
                {
                    lost.push((host, task.zone, "power down"));
                    // Back to draining (already empty): it goes to the front of its zone's plan.
                    Stage::Draining { since_s: obs.now_s }
                }
                (Stage::Off | Stage::PoweringUp { .. }, PowerState::On) => Stage::Restarting,
                (Stage::Off, PowerState::PoweringOn) => Stage::PoweringUp { issued_s: obs.now_s },
                (Stage::PoweringUp { issued_s }, PowerState::Off)
                    if obs.now_s - issued_s > timeout =>
                {
                    lost.push((host, task.zone, "power up"));
                    Stage::Off
                }
                (stage, _) => stage,
            };
        }
        for (host, zone, what) in lost {
            if what == "power down" {
                let cost = self.single_cost(obs, host);
                self.zones[zone]
                    .plan
                    .insert(0, Planned { host, cost, benefit: None, cost_benefit: None });
            }
            let text = format!(
                "{what} of host {} not seen to complete; it may be issued again",
                obs.hosts[host].id
            );
            self.log(
                obs,
                Rec { zone: Some(zone), host: Some(host), ..Rec::default() },
                None,
                Reason::ActionLost { what: what.to_string() },
                text,
            );
        }
    }

    /// Nothing under way in the zone's current shedding step and its settle time is over.
    fn quiet(&self, zone: usize, now_s: f64) -> bool {
        let z = &self.zones[zone];
        z.plan.is_empty()
            && z.step.is_empty()
            && z.settle_until_s.is_none_or(|t| now_s >= t)
            && !self.tasks.values().any(|t| t.zone == zone && t.stage.shedding())
    }

    fn still_down(&self, zone: usize) -> Vec<String> {
        self.powered_down(zone).into_iter().map(|s| s.host_id).collect()
    }

    fn apply_changes(&mut self, obs: &Observation, changes: Vec<Change>) {
        for change in changes {
            match change {
                Change::HostStarted { host, temp_c, detect_c } => {
                    let text = format!(
                        "host {} at {temp_c:.1} °C reached its hardware threshold {detect_c:.1} °C",
                        obs.hosts[host].id
                    );
                    let rec = Rec {
                        zone: Some(obs.hosts[host].zone),
                        host: Some(host),
                        ..Rec::default()
                    };
                    self.log(obs, rec, None, Reason::HostEventStarted { temp_c, detect_c }, text);
                }
                Change::HostCleared { host } => {
                    let text = format!("host {} is out of its hardware event", obs.hosts[host].id);
                    let rec = Rec {
                        zone: Some(obs.hosts[host].zone),
                        host: Some(host),
                        ..Rec::default()
                    };
                    self.log(obs, rec, None, Reason::HostEventCleared, text);
                }
                Change::ReadingChanged { zone, reading } => {
                    let text =
                        format!("zone {} now reads: {}", obs.zones[zone].id, reading.describe());
                    let rec = Rec { zone: Some(zone), ..Rec::default() };
                    self.log(obs, rec, None, Reason::ReadingChanged { reading }, text);
                }
                Change::Started { zone, triggers, reading } => {
                    let still_down = self.still_down(zone);
                    let was = self.zones[zone].phase;
                    let z = &mut self.zones[zone];
                    z.phase = ZonePhase::Shedding;
                    z.settle_until_s = None;
                    z.last_settled_c = None;
                    z.nothing_noted = false;
                    z.step.clear();
                    let mut text = format!(
                        "thermal event in zone {} ({}); triggers: {}",
                        obs.zones[zone].id,
                        reading.describe(),
                        triggers.iter().map(|t| t.describe()).collect::<Vec<_>>().join(", ")
                    );
                    if was == ZonePhase::Recovering {
                        text.push_str(&format!(
                            "; during recovery: back to shedding with {} host(s) still on the list",
                            still_down.len()
                        ));
                    }
                    let rec = Rec { zone: Some(zone), ..Rec::default() };
                    self.log(
                        obs,
                        rec,
                        None,
                        Reason::EventStarted { triggers, reading, still_down },
                        text,
                    );
                }
                Change::Cleared { zone, reading } => {
                    let still_down = self.still_down(zone);
                    let z = &mut self.zones[zone];
                    z.phase = if still_down.is_empty() {
                        ZonePhase::Normal
                    } else {
                        ZonePhase::Recovering
                    };
                    z.settle_until_s = None;
                    z.step.clear();
                    z.held_noted = false;
                    let text = format!(
                        "thermal event in zone {} passed ({}); {} host(s) to power back up",
                        obs.zones[zone].id,
                        reading.describe(),
                        still_down.len()
                    );
                    let rec = Rec { zone: Some(zone), ..Rec::default() };
                    self.log(obs, rec, None, Reason::EventCleared { reading, still_down }, text);
                }
            }
        }
    }

    /// Power changes that may still start this step.
    fn power_budget(&self, obs: &Observation) -> usize {
        let mut busy: BTreeSet<usize> = obs
            .hosts
            .iter()
            .enumerate()
            .filter(|(_, h)| matches!(h.power, PowerState::PoweringOn | PowerState::PoweringOff))
            .map(|(idx, _)| idx)
            .collect();
        for (&host, t) in &self.tasks {
            if matches!(t.stage, Stage::PoweringDown { .. } | Stage::PoweringUp { .. }) {
                busy.insert(host);
            }
        }
        self.policy.max_parallel_power_ops.saturating_sub(busy.len())
    }

    // -----------------------------------------------------------------------------------------
    // Shedding

    fn leaving(&self) -> BTreeSet<usize> {
        self.tasks.iter().filter(|(_, t)| t.stage != Stage::Restarting).map(|(&h, _)| h).collect()
    }

    fn single_cost(&self, obs: &Observation, host: usize) -> HostCost {
        let facts = self.facts_on(obs, host);
        rank::rank(&[facts], &self.policy.ranking).remove(0)
    }

    fn facts_on(&self, obs: &Observation, host: usize) -> HostFacts {
        let on = rank::instances_on(obs, host);
        rank::host_facts(
            obs,
            host,
            &on,
            obs.hosts[host].cpu_use,
            &self.policy.kinds,
            &self.leaving(),
        )
    }

    /// On, not on a list (or back on and restarting), not receiving migrations, not planned.
    fn eligible(&self, obs: &Observation, host: usize) -> bool {
        obs.hosts[host].power == PowerState::On
            && self.tasks.get(&host).is_none_or(|t| t.stage == Stage::Restarting)
            && !self.pending.values().any(|p| matches!(p.op, Op::Migrate { to, .. } if to == host))
            && !self.zones.iter().any(|z| z.plan.iter().any(|p| p.host == host))
    }

    /// Eligible hosts for shedding in `zone`: its own, and with `neighbour_share` > 0 those of
    /// neighbouring zones not themselves shedding.
    fn candidates(&self, obs: &Observation, zone: usize, with_neighbours: bool) -> Vec<usize> {
        (0..obs.hosts.len())
            .filter(|&h| self.eligible(obs, h))
            .filter(|&h| {
                let hz = obs.hosts[h].zone;
                hz == zone
                    || (with_neighbours
                        && self.policy.projection.neighbour_share > 0.0
                        && self.zones[hz].phase != ZonePhase::Shedding
                        && benefit::location(obs, h, zone) == Location::Neighbour)
            })
            .collect()
    }

    fn shed(
        &mut self,
        obs: &Observation,
        zone: usize,
        actions: &mut Vec<Action>,
        budget: &mut usize,
        capacity: &mut Capacity,
    ) {
        if self.strategy == Strategy::None {
            return;
        }
        let now = obs.now_s;
        // Hosts over their own hardware threshold join the front of the step.
        let forced: Vec<usize> = (0..obs.hosts.len())
            .filter(|&h| obs.hosts[h].zone == zone && self.host_event(h) && self.eligible(obs, h))
            .collect();
        for (pos, &host) in forced.iter().enumerate() {
            let cost = self.single_cost(obs, host);
            let z = &mut self.zones[zone];
            z.plan.insert(pos, Planned { host, cost, benefit: None, cost_benefit: None });
            z.step.push(host);
            z.settle_until_s = None;
            let text = format!(
                "host {} is over its hardware threshold ({}): shed it first",
                obs.hosts[host].id,
                fmt_c(obs.hosts[host].temp_c)
            );
            self.log(
                obs,
                Rec { zone: Some(zone), host: Some(host), ..Rec::default() },
                None,
                Reason::HostOverLimit,
                text,
            );
        }

        let busy = self.tasks.values().any(|t| t.zone == zone && t.stage.shedding());
        let z = &self.zones[zone];
        if z.plan.is_empty()
            && !busy
            && z.step.is_empty()
            && z.settle_until_s.is_none_or(|t| now >= t)
        {
            self.next_step(obs, zone);
        }

        // Every planned host is draining from now on.
        let planned: Vec<usize> = self.zones[zone].plan.iter().map(|p| p.host).collect();
        for &host in &planned {
            match self.tasks.get_mut(&host) {
                Some(task) if task.stage == Stage::Restarting => {
                    task.stage = Stage::Draining { since_s: now };
                    task.zone = zone;
                    task.seq = self.next_seq;
                    self.next_seq += 1;
                }
                Some(_) => {}
                None => {
                    self.tasks.insert(
                        host,
                        Task {
                            zone,
                            stage: Stage::Draining { since_s: now },
                            stopped: Vec::new(),
                            seq: self.next_seq,
                            cpu_use_before: obs.hosts[host].cpu_use,
                        },
                    );
                    self.next_seq += 1;
                }
            }
        }
        let draining: Vec<(usize, f64)> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.zone == zone)
            .filter_map(|(&h, t)| match t.stage {
                Stage::Draining { since_s } => Some((h, since_s)),
                _ => None,
            })
            .collect();
        for (host, since_s) in draining {
            self.drain(obs, zone, host, since_s, actions, capacity);
        }

        // Power down, strictly in the step's order.
        while let Some(next) = self.zones[zone].plan.first() {
            let host = next.host;
            if obs.hosts[host].power == PowerState::Off {
                // Already off (by someone else): nothing to issue.
                self.zones[zone].plan.remove(0);
                continue;
            }
            if *budget == 0 || !rank::instances_on(obs, host).is_empty() {
                break;
            }
            let planned = self.zones[zone].plan.remove(0);
            let order = self.zones[zone].issued_in_step;
            self.zones[zone].issued_in_step += 1;
            *budget -= 1;
            let task = self.tasks.get_mut(&host).expect("planned hosts have tasks");
            task.stage = Stage::PoweringDown { issued_s: now };
            let stopped: Vec<String> = task.stopped.iter().map(|(_, id)| id.clone()).collect();
            let action = Action::PowerDown { host };
            actions.push(action.clone());
            let cb =
                planned.cost_benefit.map_or(String::new(), |cb| format!(", cost–benefit {cb:.3}"));
            let text = format!(
                "power down host {} (#{} of this step; cost {:.3}{cb}; {} instance(s) stopped)",
                obs.hosts[host].id,
                order + 1,
                planned.cost.total,
                stopped.len()
            );
            let reason = Reason::PowerDown {
                order,
                cost: planned.cost,
                benefit: planned.benefit,
                cost_benefit: planned.cost_benefit,
                stopped,
            };
            self.log(
                obs,
                Rec { zone: Some(zone), host: Some(host), ..Rec::default() },
                Some(action),
                reason,
                text,
            );
        }

        // The step is done when every host of it is off: settle, then look again.
        let z = &self.zones[zone];
        let done = z.plan.is_empty()
            && !z.step.is_empty()
            && z.step.iter().all(|h| self.tasks.get(h).is_none_or(|t| t.stage == Stage::Off));
        if done {
            let temp = self.detector.as_ref().and_then(|d| d.reading(zone).temp_c());
            let z = &mut self.zones[zone];
            z.issued_in_step = 0;
            z.last_settled_c = temp;
            self.settle(obs, zone, now, "step done", ": its hosts are off");
        }
    }

    /// Ends `zone`'s step: clears it, starts the settle wait and records it as
    /// "`what` in zone Z`detail`; settle until T s".
    fn settle(&mut self, obs: &Observation, zone: usize, now: f64, what: &str, detail: &str) {
        let until = now + self.policy.settle_s;
        let z = &mut self.zones[zone];
        z.step.clear();
        z.settle_until_s = Some(until);
        let text =
            format!("{what} in zone {}{detail}; settle until {until:.0} s", obs.zones[zone].id);
        self.log(
            obs,
            Rec { zone: Some(zone), ..Rec::default() },
            None,
            Reason::StepDone { settle_until_s: until },
            text,
        );
    }

    fn wait_settle(&mut self, zone: usize, now_s: f64, temp: Option<f64>) {
        let z = &mut self.zones[zone];
        z.settle_until_s = Some(now_s + self.policy.settle_s);
        z.last_settled_c = temp;
    }

    /// Chooses the zone's next shedding step with the strategy.
    fn next_step(&mut self, obs: &Observation, zone: usize) {
        let now = obs.now_s;
        let temp = self.detector.as_ref().and_then(|d| d.reading(zone).temp_c());
        let seed = self.strategy == Strategy::Seed;
        let candidates = self.candidates(obs, zone, seed);
        let leaving = self.leaving();
        let facts: Vec<HostFacts> = candidates
            .iter()
            .map(|&h| {
                let on = rank::instances_on(obs, h);
                rank::host_facts(obs, h, &on, obs.hosts[h].cpu_use, &self.policy.kinds, &leaving)
            })
            .collect();
        let costs = rank::rank(&facts, &self.policy.ranking);
        let share = self.policy.projection.neighbour_share;
        let inputs: Vec<BenefitInput> = candidates
            .iter()
            .map(|&h| {
                let location = benefit::location(obs, h, zone);
                BenefitInput {
                    host: h,
                    relief_w: obs.hosts[h].power_w * benefit::relief_share(location, share),
                    location,
                }
            })
            .collect();
        let benefits = benefit::benefits(&inputs, &self.policy.benefit);
        let planned_at = |idx: usize| Planned {
            host: candidates[idx],
            cost: costs[idx].clone(),
            benefit: seed.then(|| benefits[idx].clone()),
            cost_benefit: seed.then(|| benefit::cost_benefit(&costs[idx], &benefits[idx])),
        };
        // Non-management first (the hard rule), then the least key.
        let by_key = |key: &dyn Fn(usize) -> f64| -> Vec<usize> {
            let mut idx: Vec<usize> = (0..candidates.len()).collect();
            rank::powerdown_order(&mut idx, |&i| (costs[i].management, key(i), candidates[i]));
            idx
        };

        let plan: Vec<Planned> = match self.strategy {
            Strategy::None => Vec::new(),
            Strategy::Seed => {
                let z = &obs.zones[zone];
                let t = self.policy.zone_thresholds(&z.id);
                let projection: Projection = project::project(
                    project::zone_heat_w(obs, zone),
                    z.cooling_available_w,
                    temp,
                    t.clear_c,
                    z.limit_c,
                    &self.policy.projection,
                );
                let order = by_key(&|i| benefit::cost_benefit(&costs[i], &benefits[i]));
                if candidates.is_empty() {
                    Vec::new()
                } else if projection.required_w > 0.0 {
                    let items: Vec<Item> = (0..candidates.len())
                        .map(|i| Item {
                            cost: costs[i].total,
                            heat_w: inputs[i].relief_w,
                            management: costs[i].management,
                        })
                        .collect();
                    let p = &self.policy.projection;
                    let choice = choose::choose(
                        &items,
                        projection.required_w,
                        p.heat_quantum_w,
                        p.max_units,
                    );
                    let chosen: Vec<usize> =
                        order.into_iter().filter(|i| choice.chosen.contains(i)).collect();
                    let text = format!(
                        "zone {}: {:.0} W must go ({:.0} W of heat, budget {:.0} W of {:.0} W cooling); \
                         least-cost set of {} host(s) relieves {:.0} W at cost {:.3}{}",
                        z.id,
                        projection.required_w,
                        projection.heat_w,
                        projection.budget_w,
                        projection.cooling_w,
                        chosen.len(),
                        choice.heat_w,
                        choice.cost,
                        if choice.met { "" } else { " (short of the projection: all that is left)" }
                    );
                    let reason = Reason::SetChosen {
                        projection,
                        choice,
                        candidates: candidates.iter().map(|&h| obs.hosts[h].id.clone()).collect(),
                        order: chosen
                            .iter()
                            .map(|&i| obs.hosts[candidates[i]].id.clone())
                            .collect(),
                    };
                    self.log(obs, Rec { zone: Some(zone), ..Rec::default() }, None, reason, text);
                    chosen.into_iter().map(planned_at).collect()
                } else {
                    let previous = self.zones[zone].last_settled_c;
                    let stuck = match (previous, temp) {
                        (Some(prev), Some(t)) => t > prev - self.policy.min_progress_c,
                        _ => false,
                    };
                    if stuck {
                        let text = format!(
                            "zone {}: the projection asks for nothing, but the air went from {} to {}: \
                             shed the host of least cost–benefit",
                            z.id,
                            fmt_c(previous),
                            fmt_c(temp)
                        );
                        let reason =
                            Reason::NoProgress { projection, previous_c: previous, now_c: temp };
                        self.log(
                            obs,
                            Rec { zone: Some(zone), ..Rec::default() },
                            None,
                            reason,
                            text,
                        );
                        order.first().map(|&i| planned_at(i)).into_iter().collect()
                    } else {
                        let text = format!(
                            "zone {}: the projection asks for nothing ({:.0} W within {:.0} W); air {}: \
                             wait {:.0} s and look again",
                            z.id,
                            projection.heat_w,
                            projection.budget_w,
                            fmt_c(temp),
                            self.policy.settle_s
                        );
                        self.log(
                            obs,
                            Rec { zone: Some(zone), ..Rec::default() },
                            None,
                            Reason::Wait { projection, now_c: temp },
                            text,
                        );
                        self.wait_settle(zone, now, temp);
                        return;
                    }
                }
            }
            Strategy::HottestFirst => {
                // Hottest first: highest temperature (unknown lowest), then most power.
                let mut idx: Vec<usize> = (0..candidates.len()).collect();
                idx.sort_by(|&a, &b| {
                    let (ha, hb) = (&obs.hosts[candidates[a]], &obs.hosts[candidates[b]]);
                    let ta = ha.temp_c.unwrap_or(f64::NEG_INFINITY);
                    let tb = hb.temp_c.unwrap_or(f64::NEG_INFINITY);
                    ha.management
                        .cmp(&hb.management)
                        .then(tb.total_cmp(&ta))
                        .then(hb.power_w.total_cmp(&ha.power_w))
                        .then(candidates[a].cmp(&candidates[b]))
                });
                idx.first().map(|&i| planned_at(i)).into_iter().collect()
            }
            Strategy::Random { .. } => {
                let plain: Vec<usize> =
                    (0..candidates.len()).filter(|&i| !costs[i].management).collect();
                let pool = if plain.is_empty() { (0..candidates.len()).collect() } else { plain };
                if pool.is_empty() {
                    Vec::new()
                } else {
                    let pick = pool[self.rng.below(pool.len())];
                    vec![planned_at(pick)]
                }
            }
        };

        if plan.is_empty() {
            if !self.zones[zone].nothing_noted {
                self.zones[zone].nothing_noted = true;
                let text = format!(
                    "zone {}: still in an event, but no host is left to shed",
                    obs.zones[zone].id
                );
                self.log(
                    obs,
                    Rec { zone: Some(zone), ..Rec::default() },
                    None,
                    Reason::NothingToShed,
                    text,
                );
            }
            self.wait_settle(zone, now, temp);
            return;
        }
        if !seed {
            let host = plan[0].host;
            let strategy = self.strategy.to_string();
            let text = format!(
                "zone {}: {strategy} picks host {} ({})",
                obs.zones[zone].id,
                obs.hosts[host].id,
                fmt_c(obs.hosts[host].temp_c)
            );
            let reason = Reason::Picked { strategy, temp_c: obs.hosts[host].temp_c };
            self.log(
                obs,
                Rec { zone: Some(zone), host: Some(host), ..Rec::default() },
                None,
                reason,
                text,
            );
        }
        let z = &mut self.zones[zone];
        z.step = plan.iter().map(|p| p.host).collect();
        z.plan = plan;
        z.issued_in_step = 0;
        z.settle_until_s = None;
    }

    /// A target for `instance` leaving `host` (of event zone `zone`), or `None`.
    fn target(
        &self,
        obs: &Observation,
        zone: usize,
        host: usize,
        instance: usize,
        capacity: &Capacity,
    ) -> Option<usize> {
        let detector = self.detector.as_ref()?;
        let mut best: Option<((u8, u8, f64, usize), usize)> = None;
        for (t, h) in obs.hosts.iter().enumerate() {
            let tz = h.zone;
            if t == host
                || h.power != PowerState::On
                || self.tasks.contains_key(&t)
                || self.zones[tz].phase == ZonePhase::Shedding
                || detector.zone_active(tz)
                || detector.host_active(t)
                || self.zones.iter().any(|z| z.plan.iter().any(|p| p.host == t))
                || !capacity.fits(obs, t, instance)
            {
                continue;
            }
            let zt = self.policy.zone_thresholds(&obs.zones[tz].id);
            let zone_temp = detector.reading(tz).temp_c();
            if zone_temp.is_some_and(|c| c >= zt.powerup_c) {
                continue;
            }
            if h.temp_c.is_some_and(|c| c >= self.policy.host.for_limit(h.limit_c).powerup_c) {
                continue;
            }
            let recovering = u8::from(self.zones[tz].phase == ZonePhase::Recovering);
            let near = u8::from(benefit::location(obs, t, zone) != Location::Elsewhere);
            let key = (recovering, near, zone_temp.unwrap_or(f64::INFINITY), t);
            let better = match &best {
                None => true,
                Some((b, _)) => (key.0, key.1)
                    .cmp(&(b.0, b.1))
                    .then(key.2.total_cmp(&b.2))
                    .then(key.3.cmp(&b.3))
                    .is_lt(),
            };
            if better {
                best = Some((key, t));
            }
        }
        best.map(|(_, t)| t)
    }

    /// Migrates or stops what is on `host`; waits for what is moving.
    fn drain(
        &mut self,
        obs: &Observation,
        zone: usize,
        host: usize,
        since_s: f64,
        actions: &mut Vec<Action>,
        capacity: &mut Capacity,
    ) {
        let now = obs.now_s;
        let timed_out = now >= since_s + self.policy.migration_timeout_s;
        for instance in rank::instances_on(obs, host) {
            if obs.instances[instance].migrating {
                continue;
            }
            match self.pending.get(&instance).map(|p| p.op) {
                // A migration asked for but never seen to start is abandoned at the timeout.
                Some(Op::Migrate { .. }) if timed_out => {
                    self.pending.remove(&instance);
                }
                Some(_) => continue,
                None => {}
            }
            let rec = Rec { zone: Some(zone), host: Some(host), instance: Some(instance) };
            let id = obs.instances[instance].id.clone();
            let movable = obs.instances[instance].movable;
            let target = if timed_out || !movable {
                None
            } else {
                self.target(obs, zone, host, instance, capacity)
            };
            match target {
                Some(to) => {
                    capacity.add(obs, to, instance);
                    self.pending.insert(
                        instance,
                        Pending {
                            id: id.clone(),
                            op: Op::Migrate { from: host, to },
                            issued_s: now,
                            seen_moving: false,
                        },
                    );
                    let action = Action::Migrate { instance, to };
                    actions.push(action.clone());
                    let to_zone = obs.zones[obs.hosts[to].zone].id.clone();
                    let text = format!(
                        "migrate instance {id} from host {} to host {} (zone {to_zone}) before powering down",
                        obs.hosts[host].id, obs.hosts[to].id
                    );
                    let reason = Reason::Migrate {
                        from: obs.hosts[host].id.clone(),
                        to: obs.hosts[to].id.clone(),
                        to_zone,
                    };
                    self.log(obs, rec, Some(action), reason, text);
                }
                None => {
                    self.pending.insert(
                        instance,
                        Pending { id: id.clone(), op: Op::Stop, issued_s: now, seen_moving: false },
                    );
                    if let Some(task) = self.tasks.get_mut(&host) {
                        if !task.stopped.iter().any(|(i, _)| *i == instance) {
                            task.stopped.push((instance, id.clone()));
                        }
                    }
                    let action = Action::Stop { instance };
                    actions.push(action.clone());
                    let from = obs.hosts[host].id.clone();
                    let (reason, text) = if !movable && !timed_out {
                        (
                            Reason::StopNotMovable { from: from.clone() },
                            format!(
                                "stop instance {id} on host {from}: it cannot be moved; it restarts \
                                 when the host is back on"
                            ),
                        )
                    } else if timed_out {
                        (
                            Reason::StopTimeout { from: from.clone(), since_s },
                            format!(
                                "stop instance {id} on host {from}: the migration timeout ({:.0} s) passed; \
                                 it restarts when the host is back on",
                                self.policy.migration_timeout_s
                            ),
                        )
                    } else {
                        (
                            Reason::StopNoTarget { from: from.clone() },
                            format!(
                                "stop instance {id} on host {from}: no host outside the event has room for it; \
                                 it restarts when the host is back on"
                            ),
                        )
                    };
                    self.log(obs, rec, Some(action), reason, text);
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Recovering

    fn recover(
        &mut self,
        obs: &Observation,
        zone: usize,
        actions: &mut Vec<Action>,
        budget: &mut usize,
    ) {
        let now = obs.now_s;
        // Restart what the guard stopped on hosts that are back on.
        let restarting: Vec<usize> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.zone == zone && t.stage == Stage::Restarting)
            .map(|(&h, _)| h)
            .collect();
        for host in restarting {
            let task = self.tasks.get_mut(&host).expect("listed above");
            task.stopped.retain(|(i, _)| obs.instances[*i].host.is_none());
            let to_start: Vec<(usize, String)> = task
                .stopped
                .iter()
                .filter(|(i, _)| !self.pending.contains_key(i))
                .cloned()
                .collect();
            if task.stopped.is_empty() {
                self.tasks.remove(&host);
                continue;
            }
            for (instance, id) in to_start {
                self.pending.insert(
                    instance,
                    Pending { id: id.clone(), op: Op::Start, issued_s: now, seen_moving: false },
                );
                let action = Action::Start { instance, on: host };
                actions.push(action.clone());
                let text =
                    format!("start instance {id} again on host {}, back on", obs.hosts[host].id);
                let rec = Rec { zone: Some(zone), host: Some(host), instance: Some(instance) };
                self.log(obs, rec, Some(action), Reason::Restart, text);
            }
        }

        // A power-up batch is done when none of it is still powering up: settle.
        let z = &self.zones[zone];
        if !z.step.is_empty()
            && z.step.iter().all(|h| {
                !matches!(self.tasks.get(h).map(|t| t.stage), Some(Stage::PoweringUp { .. }))
            })
        {
            self.settle(obs, zone, now, "power-up step done", "");
        }
        if !self.tasks.values().any(|t| t.zone == zone) {
            self.zones[zone].phase = ZonePhase::Normal;
            self.zones[zone].step.clear();
            let text =
                format!("zone {}: every host the guard powered down is back", obs.zones[zone].id);
            self.log(
                obs,
                Rec { zone: Some(zone), ..Rec::default() },
                None,
                Reason::Recovered,
                text,
            );
            return;
        }
        let z = &self.zones[zone];
        if !z.step.is_empty() || z.settle_until_s.is_some_and(|t| now < t) {
            return;
        }
        let off: Vec<usize> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.zone == zone && t.stage == Stage::Off)
            .map(|(&h, _)| h)
            .collect();
        if off.is_empty() {
            return;
        }
        let Some(detector) = self.detector.as_ref() else { return };
        let zone_temps: Vec<Option<f64>> =
            (0..obs.zones.len()).map(|z| detector.reading(z).temp_c()).collect();
        let zone_active: Vec<bool> =
            (0..obs.zones.len()).map(|z| detector.zone_active(z)).collect();
        let temp = zone_temps[zone];
        let t = self.policy.zone_thresholds(&obs.zones[zone].id);
        let held = match temp {
            Some(c) if c >= t.powerup_c => {
                Some(format!("air {c:.1} °C is not under T_powerup {:.1} °C", t.powerup_c))
            }
            None if obs.zones[zone].cooling_failed => {
                Some("no temperature and a cooling failure is reported".to_string())
            }
            _ => None,
        };
        if let Some(why) = held {
            self.note_held(obs, zone, why);
            return;
        }
        // The power-up ranking over the instances the guard stopped on each host.
        let leaving = self.leaving();
        let facts: Vec<HostFacts> = off
            .iter()
            .map(|&h| {
                let task = &self.tasks[&h];
                let stopped: Vec<usize> = task.stopped.iter().map(|(i, _)| *i).collect();
                rank::host_facts(
                    obs,
                    h,
                    &stopped,
                    task.cpu_use_before,
                    &self.policy.kinds,
                    &leaving,
                )
            })
            .collect();
        let mut scores = rank::rank(&facts, &self.policy.powerup.0);
        rank::powerup_order(&mut scores);
        let mut added_w = vec![0.0; obs.zones.len()];
        let mut issued = Vec::new();
        for score in scores {
            if issued.len() >= self.policy.powerup_batch || *budget == 0 {
                break;
            }
            let host = score.host;
            let h = &obs.hosts[host];
            let hz = h.zone;
            let own = &obs.zones[hz];
            if hz != zone {
                let ht = self.policy.zone_thresholds(&own.id);
                if zone_active[hz] || zone_temps[hz].is_some_and(|c| c >= ht.powerup_c) {
                    continue;
                }
            }
            let heat = project::zone_heat_w(obs, hz) + added_w[hz] + h.idle_w;
            if heat > own.cooling_available_w {
                let why = format!(
                    "host {}'s idle {:.0} W would bring zone {} to {heat:.0} W, over its {:.0} W of cooling",
                    h.id, h.idle_w, own.id, own.cooling_available_w
                );
                self.note_held(obs, zone, why);
                continue;
            }
            added_w[hz] += h.idle_w;
            *budget -= 1;
            issued.push(host);
            self.tasks.get_mut(&host).expect("off hosts have tasks").stage =
                Stage::PoweringUp { issued_s: now };
            let action = Action::PowerUp { host };
            actions.push(action.clone());
            let text = format!(
                "power up host {} (power-up score {:.3}{}); zone {} {} under T_powerup {:.1} °C",
                h.id,
                score.total,
                if score.management { ", management first" } else { "" },
                obs.zones[zone].id,
                fmt_c(temp),
                t.powerup_c
            );
            let reason = Reason::PowerUp { score, temp_c: temp, powerup_c: t.powerup_c };
            self.log(
                obs,
                Rec { zone: Some(zone), host: Some(host), ..Rec::default() },
                Some(action),
                reason,
                text,
            );
        }
        if !issued.is_empty() {
            let z = &mut self.zones[zone];
            z.step = issued;
            z.held_noted = false;
        }
    }

    fn note_held(&mut self, obs: &Observation, zone: usize, why: String) {
        if self.zones[zone].held_noted {
            return;
        }
        self.zones[zone].held_noted = true;
        let text = format!("zone {}: power-up waits: {why}", obs.zones[zone].id);
        self.log(
            obs,
            Rec { zone: Some(zone), ..Rec::default() },
            None,
            Reason::PowerUpHeld { why },
            text,
        );
    }
}
