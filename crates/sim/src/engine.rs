//! The simulation engine: hosts, VMs, their CPU scheduling, power draw and migrations over
//! simulated time, with the consolidation decisions of Beloglazov & Buyya 2012.
//!
//! The engine reproduces CloudSim 3.0.3's power package (the reference implementation the
//! paper's figures come from) decision for decision, including its accounting conventions and
//! its known quirks, so that hearth's baseline figures can be compared with published and
//! independently measured ones. Every deliberate choice is listed in docs/sim.md. In brief:
//!
//! * Time: the first datacenter update is at `step + 0.1` s (CloudSim's minimum delay between
//!   events), then every `step` s by repeated addition; events at or after the end are not run.
//! * A host's energy over an update interval is the trapezoid of its power at the previous and
//!   current utilization; a host idle at the start of an interval draws nothing (it is off).
//! * A migrating VM gets 90 % of its request on the source and costs 10 % on the target; the
//!   migration lasts RAM / (½ bandwidth).
//! * VMs whose request is exactly zero after an update are retired for good (CloudSim's
//!   "completed VMs"), unless `EngineOptions::retire_idle_vms` is off.

use crate::metrics::{IntervalRecord, PolicyRun, RunSummary};
use crate::policy::{OverloadDetector, PolicySpec};
use crate::scenario::Scenario;
use crate::stats;
use std::collections::VecDeque;

mod heat_max;

/// CloudSim's `PowerVm.HISTORY_LENGTH`: utilization samples kept per VM.
const HISTORY_LENGTH: usize = 30;
/// CloudSim's minimum time between events, which offsets every update by 0.1 s.
const EVENT_DELAY_S: f64 = 0.1;
/// Static threshold used by the adaptive detectors until they have enough history.
const FALLBACK_THRESHOLD: f64 = 0.7;
/// Storage of a reference host and size of a reference VM image, in MB.
const HOST_STORAGE_MB: u64 = 1_000_000;
const VM_SIZE_MB: u64 = 2_500;

/// Engine switches for CloudSim behaviours that are questionable but part of the reference.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EngineOptions {
    /// Retire a VM for good once its CPU request is exactly 0 after an update (CloudSim 3.0.3
    /// treats it as a completed cloudlet). On by default to match the reference figures.
    pub retire_idle_vms: bool,
    /// Power state transitions: time a host takes to boot and to shut down. During a
    /// transition the host draws its full-load power, so each boot costs
    /// `boot_s × P(100 %)` and each shutdown `shutdown_s × P(100 %)`. CloudSim switches hosts
    /// instantly and for free, so both default to 0. The transition's time does not delay the
    /// host's availability in the model; only its energy is charged.
    pub transitions: PowerTransitions,
}

/// Durations of a host's power state transitions, seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PowerTransitions {
    /// Off → on.
    pub boot_s: f64,
    /// On → off.
    pub shutdown_s: f64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions { retire_idle_vms: true, transitions: PowerTransitions::default() }
    }
}

/// Why a run could not complete.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// Initial placement found no host for a VM.
    #[error("initial placement: no host can take VM `{vm}` (VM #{index}); the fleet is too small for the workload")]
    Unplaceable {
        /// VM name.
        vm: String,
        /// VM index.
        index: usize,
    },
}

/// Progress callback: called with (intervals done, intervals in total).
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize);

#[derive(Clone, Copy, Debug)]
struct VmEntry {
    time: f64,
    allocated: f64,
    requested: f64,
    in_migration: bool,
}

#[derive(Clone, Copy, Debug)]
struct HostEntry {
    time: f64,
    allocated: f64,
    requested: f64,
    active: bool,
}

#[derive(Clone, Debug)]
struct Vm {
    pes: u32,
    mips_per_pe: f64,
    total_mips: f64,
    ram: u64,
    bw: u64,
    utilization: Vec<f64>,
    sample_interval_s: f64,
    /// Host the VM runs on (the source while it migrates); `None` while detached in planning.
    host: Option<usize>,
    in_migration: bool,
    being_instantiated: bool,
    retired: bool,
    /// Requested MIPS (all cores) as of the last processing update.
    requested: f64,
    /// Time of the last history sample (CloudSim's `PowerVm.previousTime`).
    history_time: f64,
    /// Utilization fractions, newest first.
    history: VecDeque<f64>,
    entry: Option<VmEntry>,
    allocated_mips_s: f64,
    requested_mips_s: f64,
    migration_shortfall_mips_s: f64,
    /// When the VM last started a migration (heat-max's dwell time).
    last_move_s: Option<f64>,
}

impl Vm {
    /// CPU utilization fraction at `time`: the trace, linearly interpolated between samples,
    /// the last sample repeated past the end.
    fn utilization_at(&self, time: f64) -> f64 {
        let data = &self.utilization;
        let last = data.len().saturating_sub(1);
        let at = |i: usize| data.get(i.min(last)).copied().unwrap_or(0.0);
        let interval = self.sample_interval_s;
        if time % interval == 0.0 {
            return at((time / interval) as usize);
        }
        let i1 = (time / interval).floor() as usize;
        let i2 = (time / interval).ceil() as usize;
        let (u1, u2) = (at(i1), at(i2));
        let delta = (u2 - u1) / ((i2 - i1) as f64 * interval);
        u1 + delta * (time - i1 as f64 * interval)
    }

    fn requested_ram(&self) -> u64 {
        // CloudSim's PlanetLab cloudlets model RAM and bandwidth use as zero once running; only
        // a VM being instantiated asks for its full size.
        if self.being_instantiated {
            self.ram
        } else {
            0
        }
    }

    fn requested_bw(&self) -> u64 {
        if self.being_instantiated {
            self.bw
        } else {
            0
        }
    }

    /// Adds this VM's share of a host's utilization history. CloudSim weighs by
    /// `vm.getMips()` (one core's MIPS); for one-core VMs that is the VM's capacity, and for
    /// larger ones we use the whole VM (docs/sim.md).
    fn add_history_to(&self, hist: &mut [f64; HISTORY_LENGTH], host_mips: f64) {
        for (i, u) in self.history.iter().enumerate() {
            hist[i] += u * self.total_mips / host_mips;
        }
    }

    fn add_entry(&mut self, entry: VmEntry) {
        if let Some(prev) = self.entry {
            if prev.time == entry.time {
                self.entry = Some(entry);
                return;
            }
            let dt = entry.time - prev.time;
            self.allocated_mips_s += prev.allocated * dt;
            self.requested_mips_s += prev.requested * dt;
            if prev.allocated < prev.requested && prev.in_migration {
                self.migration_shortfall_mips_s += (prev.requested - prev.allocated) * dt;
            }
        }
        self.entry = Some(entry);
    }
}

#[derive(Clone, Debug)]
struct Host {
    /// Index of the host's type in the scenario.
    ty: usize,
    pe_mips: f64,
    total_mips: f64,
    ram: u64,
    bw_kbps: u64,
    power: model::PowerCurve,
    target_heat_w: f64,
    vms: Vec<usize>,
    migrating_in: Vec<usize>,
    /// Requested MIPS stored by the CPU scheduler per VM (CloudSim's `mipsMapRequested`).
    sched: Vec<(usize, f64)>,
    ram_alloc: Vec<(usize, u64)>,
    bw_alloc: Vec<(usize, u64)>,
    storage_mb: u64,
    utilization_mips: f64,
    previous_utilization_mips: f64,
    /// Power at `utilization_mips` (CloudSim `host.getPower()`), kept with it.
    power_now_w: f64,
    entry: Option<HostEntry>,
    sla_violation_s: f64,
    active_s: f64,
    shutdowns: u64,
    was_active: bool,
    /// Whether the host has ever been seen active (a shutdown needs an earlier boot).
    ever_active: bool,
    boots: u64,
    real_shutdowns: u64,
}

/// Outcome of the CPU scheduler for one host.
#[derive(Clone, Copy, Debug)]
struct SchedState {
    available_mips: f64,
    /// `Some(scale)` when the host is oversubscribed and every VM gets `scale` of its request.
    scale: Option<f64>,
}

impl Host {
    fn ram_used(&self) -> u64 {
        self.ram_alloc.iter().map(|(_, r)| r).sum()
    }

    fn bw_used(&self) -> u64 {
        self.bw_alloc.iter().map(|(_, b)| b).sum()
    }

    fn is_migrating_in(&self, vm: usize) -> bool {
        self.migrating_in.contains(&vm)
    }

    /// Utilization fraction as CloudSim's `getUtilizationOfCpu` reports it.
    fn utilization(&self, mips: f64) -> f64 {
        let u = mips / self.total_mips;
        if u > 1.0 && u < 1.01 {
            1.0
        } else {
            u
        }
    }

    fn energy_j(&self, dt: f64) -> f64 {
        let from = self.utilization(self.previous_utilization_mips);
        if from == 0.0 {
            return 0.0;
        }
        let to = self.utilization(self.utilization_mips);
        let p_from = self.power.at(from.min(1.0)).0;
        let p_to = self.power.at(to.min(1.0)).0;
        (p_from + (p_to - p_from) / 2.0) * dt
    }

    fn add_entry(&mut self, entry: HostEntry) {
        if let Some(prev) = self.entry {
            if prev.time == entry.time {
                self.entry = Some(entry);
                return;
            }
            self.close_entry(prev);
            let dt = entry.time - prev.time;
            if prev.active {
                self.active_s += dt;
                if prev.allocated < prev.requested {
                    self.sla_violation_s += dt;
                }
            }
        }
        self.entry = Some(entry);
    }

    /// Counts a shutdown when an entry becomes final (CloudSim's `getTimesBeforeHostShutdown`).
    fn close_entry(&mut self, entry: HostEntry) {
        if self.was_active && !entry.active {
            self.shutdowns += 1;
            if self.ever_active {
                self.real_shutdowns += 1;
            }
        }
        if !self.was_active && entry.active && self.ever_active {
            self.boots += 1;
        }
        self.ever_active |= entry.active;
        self.was_active = entry.active;
    }
}

/// Derived per-host values, recomputed only after the host changes.
#[derive(Clone, Copy, Debug, Default)]
struct HostCache {
    /// Scheduler outcome and the policy's view of CPU use (`planned_mips`).
    sched: Option<(SchedState, f64)>,
    /// Utilization history (newest first) and its length without trailing zeros.
    history: Option<([f64; HISTORY_LENGTH], usize)>,
}

/// Pending migration completion.
#[derive(Clone, Copy, Debug)]
struct Migration {
    time: f64,
    serial: u64,
    vm: usize,
    target: usize,
}

/// Accumulators of one reporting interval.
#[derive(Clone, Debug, Default)]
struct IntervalAcc {
    energy_j: f64,
    harvested_j: f64,
    dt: f64,
    active: Vec<bool>,
    at_target_host_s: f64,
    migrations: u32,
}

/// One simulation of one policy over one scenario.
pub struct Simulation<'a> {
    scenario: &'a Scenario,
    policy: PolicySpec,
    options: EngineOptions,
    hosts: Vec<Host>,
    vms: Vec<Vm>,
    caches: Vec<HostCache>,
    /// The allocation policy's VM → host table (CloudSim `vmTable`).
    vm_table: Vec<Option<usize>>,
    pending: Vec<Migration>,
    serial: u64,
    last_process_s: f64,
    energy_j: f64,
    harvested_j: f64,
    active_host_s: f64,
    at_target_host_s: f64,
    migrations: u64,
    failed_migrations: u64,
    acc: IntervalAcc,
    series: Vec<IntervalRecord>,
    /// heat-max only: every estimator's predictions, scored at the next update.
    estimator_scores: heat_max::EstimatorScores,
}

impl<'a> Simulation<'a> {
    /// Sets up hosts and VMs; nothing is placed yet.
    pub fn new(
        scenario: &'a Scenario,
        policy: PolicySpec,
        options: EngineOptions,
    ) -> Simulation<'a> {
        let hosts = scenario
            .hosts
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                let ty = &scenario.host_types[t];
                Host {
                    ty: t,
                    pe_mips: ty.mips_per_pe,
                    total_mips: ty.total_mips(),
                    ram: ty.ram_mib,
                    bw_kbps: ty.bw_mbps * 1000,
                    power: ty.power.clone(),
                    target_heat_w: scenario.target_heat_w.get(i).copied().unwrap_or(0.0),
                    vms: Vec::new(),
                    migrating_in: Vec::new(),
                    sched: Vec::new(),
                    ram_alloc: Vec::new(),
                    bw_alloc: Vec::new(),
                    storage_mb: HOST_STORAGE_MB,
                    utilization_mips: 0.0,
                    previous_utilization_mips: 0.0,
                    power_now_w: ty.power.idle().0,
                    entry: None,
                    sla_violation_s: 0.0,
                    active_s: 0.0,
                    shutdowns: 0,
                    was_active: true,
                    ever_active: false,
                    boots: 0,
                    real_shutdowns: 0,
                }
            })
            .collect();
        let vms = scenario
            .vms
            .iter()
            .map(|v| Vm {
                pes: v.instance.pes.max(1),
                mips_per_pe: v.instance.mips_per_pe,
                total_mips: v.instance.total_mips(),
                ram: v.instance.ram_mib,
                bw: v.instance.bw_mbps * 1000,
                utilization: v.utilization.clone(),
                sample_interval_s: v.sample_interval_s,
                host: None,
                in_migration: false,
                being_instantiated: true,
                retired: false,
                requested: v.instance.total_mips(),
                history_time: 0.0,
                history: VecDeque::with_capacity(HISTORY_LENGTH + 1),
                entry: None,
                allocated_mips_s: 0.0,
                requested_mips_s: 0.0,
                migration_shortfall_mips_s: 0.0,
                last_move_s: None,
            })
            .collect();
        let n_hosts = scenario.hosts.len();
        Simulation {
            scenario,
            policy,
            options,
            hosts,
            vms,
            caches: vec![HostCache::default(); n_hosts],
            vm_table: vec![None; scenario.vms.len()],
            pending: Vec::new(),
            serial: 0,
            last_process_s: 0.0,
            energy_j: 0.0,
            harvested_j: 0.0,
            active_host_s: 0.0,
            at_target_host_s: 0.0,
            migrations: 0,
            failed_migrations: 0,
            acc: IntervalAcc { active: vec![false; n_hosts], ..IntervalAcc::default() },
            series: Vec::new(),
            estimator_scores: heat_max::EstimatorScores::default(),
        }
    }

    // ----- CPU scheduler (CloudSim VmSchedulerTimeSharedOverSubscription) -----

    fn capped_per_pe(host: &Host, vm: &Vm, requested: f64) -> f64 {
        (requested / vm.pes as f64).min(host.pe_mips)
    }

    fn sched_state(&self, h: usize) -> SchedState {
        let host = &self.hosts[h];
        let mut available = host.total_mips;
        let mut total = 0.0;
        let mut oversubscribed = false;
        for &(v, req) in &host.sched {
            let vm = &self.vms[v];
            let mut r = Self::capped_per_pe(host, vm, req) * vm.pes as f64;
            if host.is_migrating_in(v) {
                r *= 0.1;
            }
            total += r;
            if !oversubscribed && available >= r {
                available -= r;
            } else {
                oversubscribed = true;
            }
        }
        if oversubscribed {
            SchedState { available_mips: 0.0, scale: Some(host.total_mips / total) }
        } else {
            SchedState { available_mips: available, scale: None }
        }
    }

    /// MIPS the scheduler gives VM `v` on host `h` (CloudSim `getTotalAllocatedMipsForVm`).
    fn allocated(&self, h: usize, v: usize, state: SchedState) -> f64 {
        let host = &self.hosts[h];
        let Some(&(_, req)) = host.sched.iter().find(|(id, _)| *id == v) else { return 0.0 };
        let vm = &self.vms[v];
        let per_pe = Self::capped_per_pe(host, vm, req);
        let migrating_in = host.is_migrating_in(v);
        let migrating_out = vm.in_migration && !migrating_in;
        let one = match state.scale {
            None if migrating_out => per_pe * 0.9,
            None if migrating_in => per_pe * 0.1,
            None => per_pe,
            Some(scale) if migrating_out => (per_pe * scale * 0.9).floor(),
            Some(scale) if migrating_in => (per_pe * 0.1 * scale).floor(),
            Some(scale) => (per_pe * scale).floor(),
        };
        let mut sum = 0.0;
        for _ in 0..vm.pes {
            sum += one;
        }
        sum
    }

    /// The policy's view of a host's CPU use: allocated MIPS, a migrating-in VM counted at its
    /// full expected use (CloudSim `getUtilizationOfCpuMips` of the allocation policy).
    fn planned_mips_uncached(&self, h: usize, state: SchedState) -> f64 {
        let host = &self.hosts[h];
        let mut mips = 0.0;
        for &v in &host.vms {
            let a = self.allocated(h, v, state);
            if host.is_migrating_in(v) {
                mips += a * 0.9 / 0.1;
            }
            mips += a;
        }
        mips
    }

    /// Scheduler state and planned MIPS of host `h`, from the cache when it is fresh.
    fn sched_cached(&mut self, h: usize) -> (SchedState, f64) {
        if let Some(cached) = self.caches[h].sched {
            return cached;
        }
        let state = self.sched_state(h);
        let value = (state, self.planned_mips_uncached(h, state));
        self.caches[h].sched = Some(value);
        value
    }

    fn invalidate(&mut self, h: usize) {
        self.caches[h] = HostCache::default();
    }

    fn is_suitable(&mut self, h: usize, v: usize) -> bool {
        let host = &self.hosts[h];
        let vm = &self.vms[v];
        if host.pe_mips < vm.requested / vm.pes as f64
            || host.ram - host.ram_used() < vm.requested_ram()
            || host.bw_kbps - host.bw_used() < vm.requested_bw()
        {
            return false;
        }
        let requested = vm.requested;
        self.sched_cached(h).0.available_mips >= requested
    }

    /// Whether `vm_create(h, v)` would succeed (memory, bandwidth, storage).
    fn can_create(&self, h: usize, v: usize) -> bool {
        let host = &self.hosts[h];
        let vm = &self.vms[v];
        host.storage_mb >= VM_SIZE_MB
            && host.ram - host.ram_used() >= vm.requested_ram().min(vm.ram)
            && host.bw_kbps - host.bw_used() >= vm.requested_bw().min(vm.bw)
    }

    /// Places VM `v` on host `h` (CloudSim `Host.vmCreate`); false when memory, bandwidth or
    /// storage is short.
    fn vm_create(&mut self, h: usize, v: usize) -> bool {
        if !self.can_create(h, v) {
            return false;
        }
        self.reserve(h, v);
        self.hosts[h].vms.push(v);
        self.vms[v].host = Some(h);
        true
    }

    /// Reserves VM `v`'s memory, bandwidth, storage and CPU request on host `h`, unchecked
    /// (callers check with `can_create` where CloudSim does); the inverse of `deallocate`.
    fn reserve(&mut self, h: usize, v: usize) {
        self.invalidate(h);
        let vm = &self.vms[v];
        let (ram, bw, requested) =
            (vm.requested_ram().min(vm.ram), vm.requested_bw().min(vm.bw), vm.requested);
        let host = &mut self.hosts[h];
        host.ram_alloc.push((v, ram));
        host.bw_alloc.push((v, bw));
        host.sched.push((v, requested));
        host.storage_mb -= VM_SIZE_MB;
    }

    fn deallocate(host: &mut Host, v: usize) {
        host.ram_alloc.retain(|(id, _)| *id != v);
        host.bw_alloc.retain(|(id, _)| *id != v);
        host.sched.retain(|(id, _)| *id != v);
        host.storage_mb += VM_SIZE_MB;
    }

    /// Removes VM `v` from host `h` (CloudSim `Host.vmDestroy`).
    fn vm_destroy(&mut self, h: usize, v: usize) {
        self.invalidate(h);
        let host = &mut self.hosts[h];
        if let Some(pos) = host.vms.iter().position(|&x| x == v) {
            Self::deallocate(host, v);
            host.vms.remove(pos);
        }
        self.vms[v].host = None;
    }

    // ----- overload detection -----

    /// The host's utilization history (newest first) and its length without trailing zeros
    /// (CloudSim `PowerHostUtilizationHistory.getUtilizationHistory`), cached.
    fn host_history(&mut self, h: usize) -> ([f64; HISTORY_LENGTH], usize) {
        if let Some(cached) = self.caches[h].history {
            return cached;
        }
        let host = &self.hosts[h];
        let mut hist = [0.0; HISTORY_LENGTH];
        for &v in &host.vms {
            self.vms[v].add_history_to(&mut hist, host.total_mips);
        }
        let value = (hist, stats::count_non_zero_beginning(&hist));
        self.caches[h].history = Some(value);
        value
    }

    /// Whether host `h` is overloaded, with VM `extra` tentatively added at the end of its VM
    /// list when given (CloudSim's `isHostOverUtilizedAfterAllocation` without the mutation:
    /// every sum runs in the same order, so the result is bit-for-bit the same).
    fn is_overloaded_with(&mut self, h: usize, extra: Option<usize>) -> bool {
        let detector = match self.policy {
            PolicySpec::Consolidate { detector } => detector,
            // heat-max places the initial VMs as the baselines do before they have history:
            // PABFD gated by the 0.7 fallback threshold, so every policy starts alike.
            PolicySpec::HeatMax { .. } => OverloadDetector::Thr { threshold: FALLBACK_THRESHOLD },
            PolicySpec::Npa | PolicySpec::Dvfs => return false,
        };
        let total_mips = self.hosts[h].total_mips;
        let mut requested = 0.0;
        for &v in self.hosts[h].vms.iter().chain(extra.as_ref()) {
            requested += self.vms[v].requested;
        }
        let utilization = requested / total_mips;
        let fallback = utilization > FALLBACK_THRESHOLD;
        let history = |this: &mut Self| {
            let (mut hist, mut len) = this.host_history(h);
            if let Some(v) = extra {
                this.vms[v].add_history_to(&mut hist, total_mips);
                len = stats::count_non_zero_beginning(&hist);
            }
            (hist, len)
        };
        match detector {
            OverloadDetector::Thr { threshold } => utilization > threshold,
            OverloadDetector::Iqr { safety } | OverloadDetector::Mad { safety } => {
                let (hist, len) = history(self);
                if len < 12 {
                    return fallback;
                }
                let spread = match detector {
                    OverloadDetector::Iqr { .. } => stats::iqr(&hist[..len]),
                    _ => Some(stats::mad(&hist[..len])),
                };
                let Some(spread) = spread else { return fallback };
                utilization > 1.0 - safety * spread
            }
            OverloadDetector::Lr { safety } | OverloadDetector::Lrr { safety } => {
                const LENGTH: usize = 10;
                let (hist, len) = history(self);
                if len < LENGTH {
                    return fallback;
                }
                let mut reversed = [0.0; LENGTH];
                for (i, r) in reversed.iter_mut().enumerate() {
                    *r = hist[LENGTH - i - 1];
                }
                let estimates = match detector {
                    OverloadDetector::Lr { .. } => stats::loess_estimates(&reversed),
                    _ => stats::robust_loess_estimates(&reversed),
                };
                let Some((intercept, slope)) = estimates else { return fallback };
                let host = &self.hosts[h];
                let max_ram = host
                    .vms
                    .iter()
                    .chain(extra.as_ref())
                    .map(|&v| self.vms[v].ram)
                    .max()
                    .unwrap_or(0);
                let migration_s = max_ram as f64 / (host.bw_kbps as f64 / 16_000.0);
                let migration_intervals = (migration_s / self.scenario.step_s).ceil();
                let predicted =
                    (intercept + slope * (LENGTH as f64 + migration_intervals)) * safety;
                predicted >= 1.0
            }
        }
    }

    fn is_overloaded(&mut self, h: usize) -> bool {
        self.is_overloaded_with(h, None)
    }

    fn is_overloaded_after(&mut self, h: usize, v: usize) -> bool {
        !self.can_create(h, v) || self.is_overloaded_with(h, Some(v))
    }

    // ----- placement -----

    /// Power-aware best fit decreasing, one VM (CloudSim `findHostForVm(vm, excludedHosts)`).
    fn find_host_pabfd(&mut self, v: usize, excluded: &[bool]) -> Option<usize> {
        let mut min_power = f64::MAX;
        let mut best = None;
        // Empty hosts of one type with the same stale power give the same answer, and only the
        // first of them can win (ties go to the lowest index), so the others are skipped.
        let mut empty_seen: Vec<(usize, u64)> = Vec::new();
        for (h, &skip) in excluded.iter().enumerate() {
            if skip {
                continue;
            }
            let host = &self.hosts[h];
            if host.vms.is_empty() && host.sched.is_empty() && host.storage_mb == HOST_STORAGE_MB {
                let signature = (host.ty, host.power_now_w.to_bits());
                if empty_seen.contains(&signature) {
                    continue;
                }
                empty_seen.push(signature);
            }
            if !self.is_suitable(h, v) {
                continue;
            }
            let planned = self.sched_cached(h).1;
            let host = &self.hosts[h];
            let after = (planned + self.vms[v].requested) / host.total_mips;
            let power_after = host.power.at(after.min(1.0)).0;
            let diff = power_after - host.power_now_w;
            // The overload gate is checked only for a host that would win, which selects the
            // same host as CloudSim's gate-first order at a fraction of the cost.
            if diff < min_power {
                if planned != 0.0 && self.is_overloaded_after(h, v) {
                    continue;
                }
                min_power = diff;
                best = Some(h);
            }
        }
        best
    }

    fn find_host_first_fit(&mut self, v: usize) -> Option<usize> {
        (0..self.hosts.len()).find(|&h| self.is_suitable(h, v))
    }

    fn sort_by_utilization(&self, vms: &mut [usize], now: f64) {
        let key = |v: usize| self.vms[v].utilization_at(now) * self.vms[v].mips_per_pe;
        vms.sort_by(|&a, &b| key(b).total_cmp(&key(a)));
    }

    fn place_all(&mut self, vms: &mut [usize], excluded: &[bool], now: f64) -> Vec<(usize, usize)> {
        self.sort_by_utilization(vms, now);
        let mut map = Vec::new();
        for &v in vms.iter() {
            if let Some(h) = self.find_host_pabfd(v, excluded) {
                self.vm_create(h, v);
                map.push((v, h));
            }
        }
        map
    }

    fn place_all_or_nothing(
        &mut self,
        vms: &mut [usize],
        excluded: &[bool],
        now: f64,
    ) -> Vec<(usize, usize)> {
        self.sort_by_utilization(vms, now);
        let mut map: Vec<(usize, usize)> = Vec::new();
        for &v in vms.iter() {
            match self.find_host_pabfd(v, excluded) {
                Some(h) => {
                    self.vm_create(h, v);
                    map.push((v, h));
                }
                None => {
                    for &(pv, ph) in &map {
                        self.vm_destroy(ph, pv);
                    }
                    map.clear();
                    break;
                }
            }
        }
        map
    }

    /// Minimum migration time: the VM with the least memory (first in list order on ties).
    fn select_mmt(&self, h: usize) -> Option<usize> {
        let mut best: Option<(u64, usize)> = None;
        for &v in &self.hosts[h].vms {
            let vm = &self.vms[v];
            if vm.in_migration {
                continue;
            }
            if best.is_none_or(|(ram, _)| vm.ram < ram) {
                best = Some((vm.ram, v));
            }
        }
        best.map(|(_, v)| v)
    }

    fn all_migrating_out_or_any_in(&self, h: usize) -> bool {
        let host = &self.hosts[h];
        for &v in &host.vms {
            if !self.vms[v].in_migration {
                return false;
            }
            if host.is_migrating_in(v) {
                return true;
            }
        }
        true
    }

    /// One consolidation round (CloudSim `optimizeAllocation`): returns the migration map.
    fn optimize(&mut self, now: f64) -> Vec<(usize, usize)> {
        let n = self.hosts.len();
        let mut over = Vec::new();
        for h in 0..n {
            if self.is_overloaded(h) {
                over.push(h);
            }
        }
        let saved: Vec<(usize, usize)> = (0..n)
            .flat_map(|h| {
                let host = &self.hosts[h];
                host.vms
                    .iter()
                    .filter(|&&v| !host.is_migrating_in(v))
                    .map(move |&v| (h, v))
                    .collect::<Vec<_>>()
            })
            .collect();

        let mut to_migrate = Vec::new();
        for &h in &over {
            while let Some(v) = self.select_mmt(h) {
                to_migrate.push(v);
                self.vm_destroy(h, v);
                if !self.is_overloaded(h) {
                    break;
                }
            }
        }
        let mut excluded = vec![false; n];
        for &h in &over {
            excluded[h] = true;
        }
        let mut map = self.place_all(&mut to_migrate, &excluded, now);

        // Underload pass. CloudSim meant to exclude the hosts that just received VMs from
        // overloaded ones, but extracts them from an empty list; we keep that behaviour.
        let switched_off: Vec<usize> = (0..n)
            .filter(|&h| self.hosts[h].utilization(self.hosts[h].utilization_mips) == 0.0)
            .collect();
        let mut excluded_under = vec![false; n];
        let mut n_excluded_under = 0;
        let mut excluded_place = vec![false; n];
        for &h in over.iter().chain(&switched_off) {
            if !excluded_under[h] {
                excluded_under[h] = true;
                n_excluded_under += 1;
            }
            excluded_place[h] = true;
        }
        while n_excluded_under < n {
            let mut min_u = 1.0;
            let mut under = None;
            for (h, &skip) in excluded_under.iter().enumerate() {
                if skip {
                    continue;
                }
                let u = self.hosts[h].utilization(self.hosts[h].utilization_mips);
                if u > 0.0 && u < min_u && !self.all_migrating_out_or_any_in(h) {
                    min_u = u;
                    under = Some(h);
                }
            }
            let Some(u) = under else { break };
            excluded_under[u] = true;
            n_excluded_under += 1;
            excluded_place[u] = true;
            let mut vms: Vec<usize> =
                self.hosts[u].vms.iter().copied().filter(|&v| !self.vms[v].in_migration).collect();
            if vms.is_empty() {
                continue;
            }
            let placed = self.place_all_or_nothing(&mut vms, &excluded_place, now);
            for &(_, h) in &placed {
                if !excluded_under[h] {
                    excluded_under[h] = true;
                    n_excluded_under += 1;
                }
            }
            map.extend(placed);
        }

        self.restore(&saved);
        map
    }

    /// Undoes the planning moves (CloudSim `restoreAllocation`).
    fn restore(&mut self, saved: &[(usize, usize)]) {
        self.caches.fill(HostCache::default());
        for h in 0..self.hosts.len() {
            let vms = std::mem::take(&mut self.hosts[h].vms);
            for v in vms {
                self.vms[v].host = None;
            }
            let host = &mut self.hosts[h];
            host.sched.clear();
            host.ram_alloc.clear();
            host.bw_alloc.clear();
            host.storage_mb = HOST_STORAGE_MB;
            let migrating_in = host.migrating_in.clone();
            for v in migrating_in {
                if !self.hosts[h].vms.contains(&v) {
                    self.hosts[h].vms.push(v);
                }
                self.reserve(h, v);
            }
        }
        for &(h, v) in saved {
            let ok = self.vm_create(h, v);
            debug_assert!(ok, "restoring VM {v} on host {h} failed");
            self.vm_table[v] = Some(h);
        }
    }

    // ----- processing updates -----

    fn update_vm_processing(&mut self, v: usize, now: f64) {
        let step = self.scenario.step_s;
        let vm = &mut self.vms[v];
        let u = vm.utilization_at(now);
        vm.requested = u * vm.total_mips;
        if now > vm.history_time && (now - EVENT_DELAY_S) % step == 0.0 {
            if now != 0.0 || u != 0.0 {
                vm.history.push_front(u);
                vm.history.truncate(HISTORY_LENGTH);
            }
            vm.history_time = now;
        }
    }

    /// CloudSim `HostDynamicWorkload.updateVmsProcessing`.
    fn update_host(&mut self, h: usize, now: f64) {
        // An empty host that was already idle stays idle: a new idle entry would change no
        // figure (idle entries accrue no active time and end no activity), so skip the work.
        let host = &self.hosts[h];
        if host.vms.is_empty()
            && host.utilization_mips == 0.0
            && host.entry.is_some_and(|e| !e.active)
        {
            self.hosts[h].previous_utilization_mips = 0.0;
            return;
        }
        self.invalidate(h);
        let vms = std::mem::take(&mut self.hosts[h].vms);
        for &v in &vms {
            self.update_vm_processing(v, now);
        }
        {
            let host = &mut self.hosts[h];
            host.previous_utilization_mips = host.utilization_mips;
        }
        let sched: Vec<(usize, f64)> = vms.iter().map(|&v| (v, self.vms[v].requested)).collect();
        self.hosts[h].sched = sched;
        let state = self.sched_state(h);
        let mut utilization = 0.0;
        let mut requested_total = 0.0;
        for &v in &vms {
            let requested = self.vms[v].requested;
            let mut allocated = self.allocated(h, v, state);
            if !self.hosts[h].is_migrating_in(v) {
                let in_migration = self.vms[v].in_migration;
                self.vms[v].add_entry(VmEntry { time: now, allocated, requested, in_migration });
                if in_migration {
                    allocated /= 0.9;
                }
            }
            utilization += allocated;
            requested_total += requested;
        }
        let host = &mut self.hosts[h];
        host.vms = vms;
        host.utilization_mips = utilization;
        host.power_now_w = host.power.at(host.utilization(utilization).min(1.0)).0;
        host.add_entry(HostEntry {
            time: now,
            allocated: utilization,
            requested: requested_total,
            active: utilization > 0.0,
        });
    }

    /// CloudSim `updateCloudetProcessingWithoutSchedulingFutureEventsForce`.
    fn update_all(&mut self, now: f64) {
        let dt = now - self.last_process_s;
        for h in 0..self.hosts.len() {
            self.update_host(h, now);
        }
        if dt > 0.0 {
            self.account_energy(dt);
        }
        if self.options.retire_idle_vms {
            for h in 0..self.hosts.len() {
                let done: Vec<usize> = self.hosts[h]
                    .vms
                    .iter()
                    .copied()
                    .filter(|&v| !self.vms[v].in_migration && self.vms[v].requested == 0.0)
                    .collect();
                for v in done {
                    if let Some(th) = self.vm_table[v].take() {
                        self.vm_destroy(th, v);
                    }
                    self.vms[v].retired = true;
                }
            }
        }
        self.last_process_s = now;
        // VM histories moved on: every host's cached history is stale.
        self.caches.fill(HostCache::default());
    }

    fn account_energy(&mut self, dt: f64) {
        let npa = self.policy == PolicySpec::Npa;
        self.acc.dt += dt;
        for h in 0..self.hosts.len() {
            let host = &self.hosts[h];
            let e = if npa { host.power.max().0 * dt } else { host.energy_j(dt) };
            self.energy_j += e;
            self.acc.energy_j += e;
            if e > 0.0 {
                self.active_host_s += dt;
                self.acc.active[h] = true;
                if e / dt >= host.target_heat_w {
                    self.harvested_j += e;
                    self.acc.harvested_j += e;
                    self.at_target_host_s += dt;
                    self.acc.at_target_host_s += dt;
                }
            }
        }
    }

    fn start_migrations(&mut self, map: &[(usize, usize)], now: f64) {
        for &(v, target) in map {
            self.vms[v].in_migration = true;
            self.vms[v].last_move_s = Some(now);
            if !self.hosts[target].is_migrating_in(v) {
                if !self.can_create(target, v) {
                    // CloudSim aborts the whole run here; we skip the move and count it.
                    self.vms[v].in_migration = false;
                    self.failed_migrations += 1;
                    continue;
                }
                self.hosts[target].migrating_in.push(v);
                self.reserve(target, v);
                self.hosts[target].vms.push(v);
                self.update_host(target, now);
                if let Some(source) = self.vms[v].host {
                    self.update_host(source, now);
                }
            }
            self.migrations += 1;
            self.acc.migrations += 1;
            let delay = self.vms[v].ram as f64 / (self.hosts[target].bw_kbps as f64 / 16_000.0);
            self.serial += 1;
            self.pending.push(Migration { time: now + delay, serial: self.serial, vm: v, target });
        }
    }

    fn complete_migration(&mut self, m: Migration) {
        let v = m.vm;
        self.invalidate(m.target);
        if let Some(old) = self.vm_table[v].take() {
            self.vm_destroy(old, v);
        }
        let host = &mut self.hosts[m.target];
        Self::deallocate(host, v);
        host.migrating_in.retain(|&x| x != v);
        host.vms.retain(|&x| x != v);
        self.vms[v].in_migration = false;
        if self.vm_create(m.target, v) {
            self.vm_table[v] = Some(m.target);
        } else {
            self.failed_migrations += 1;
        }
    }

    fn initial_placement(&mut self) -> Result<(), EngineError> {
        let no_exclusions = vec![false; self.hosts.len()];
        for v in 0..self.vms.len() {
            let host = match self.policy {
                PolicySpec::Npa | PolicySpec::Dvfs => self.find_host_first_fit(v),
                PolicySpec::Consolidate { .. } | PolicySpec::HeatMax { .. } => {
                    self.find_host_pabfd(v, &no_exclusions)
                }
            };
            let placed = host.is_some_and(|h| self.vm_create(h, v));
            if !placed {
                return Err(EngineError::Unplaceable {
                    vm: self.scenario.vms[v].name.clone(),
                    index: v,
                });
            }
            self.vm_table[v] = host;
            let vm = &mut self.vms[v];
            vm.being_instantiated = false;
            // A created VM has no cloudlet until the first update: it requests nothing.
            vm.requested = 0.0;
        }
        Ok(())
    }

    fn close_interval(&mut self, start_s: f64) {
        let acc = std::mem::take(&mut self.acc);
        let dt = if acc.dt > 0.0 { acc.dt } else { 1.0 };
        let overloaded = (0..self.hosts.len())
            .filter(|&h| self.hosts[h].entry.is_some_and(|e| e.active && e.allocated < e.requested))
            .count();
        let active_capacity: f64 = (0..self.hosts.len())
            .filter(|&h| acc.active[h])
            .map(|h| self.hosts[h].total_mips)
            .sum();
        let demand: f64 = self.vms.iter().filter(|vm| !vm.retired).map(|vm| vm.requested).sum();
        self.series.push(IntervalRecord {
            time_s: start_s,
            power_w: acc.energy_j / dt,
            active_hosts: acc.active.iter().filter(|&&a| a).count() as u32,
            harvested_w: acc.harvested_j / dt,
            hosts_at_target: (acc.at_target_host_s / dt).round() as u32,
            migrations: acc.migrations,
            overloaded_hosts: overloaded as u32,
            cpu_demand_ratio: if active_capacity > 0.0 { demand / active_capacity } else { 0.0 },
        });
        self.acc = IntervalAcc { active: vec![false; self.hosts.len()], ..IntervalAcc::default() };
    }

    /// Runs the scenario to its end and returns the figures (wall time left at 0; the caller
    /// measures it).
    pub fn run(mut self, progress: Progress<'_>) -> Result<PolicyRun, EngineError> {
        self.initial_placement()?;
        let step = self.scenario.step_s;
        let end = self.scenario.duration_s;
        let total_steps = (end / step).ceil() as usize;
        let mut next_update = EVENT_DELAY_S + step;
        let mut interval_start = 0.0;
        let mut done_steps = 0;
        loop {
            // Earliest pending migration, ties in the order they were started.
            let next_migration = self
                .pending
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.time.total_cmp(&b.1.time).then(a.1.serial.cmp(&b.1.serial)))
                .map(|(i, m)| (i, *m));
            match next_migration {
                Some((i, m)) if m.time <= next_update => {
                    if m.time >= end {
                        break;
                    }
                    self.pending.swap_remove(i);
                    if m.time > self.last_process_s {
                        self.update_all(m.time);
                    }
                    self.complete_migration(m);
                    if !self.pending.iter().any(|p| p.time == m.time) {
                        self.update_all(m.time);
                    }
                }
                _ => {
                    if next_update >= end || next_update.is_infinite() {
                        break;
                    }
                    let now = next_update;
                    self.update_all(now);
                    if let PolicySpec::HeatMax { headroom, margin } = self.policy {
                        self.score_estimators();
                        let map = self.plan_heat_max(now, headroom, margin);
                        self.start_migrations(&map, now);
                    } else if self.policy.migrates() {
                        let map = self.optimize(now);
                        self.start_migrations(&map, now);
                    }
                    self.close_interval(interval_start);
                    interval_start = now;
                    // CloudSim schedules the next update only while some VM gets CPU (a
                    // cloudlet with a finite finish time); once none does, the run ends.
                    next_update = if self.options.retire_idle_vms
                        && self.hosts.iter().all(|h| h.utilization_mips == 0.0)
                    {
                        f64::INFINITY
                    } else {
                        now + step
                    };
                    done_steps += 1;
                    progress(done_steps, total_steps);
                }
            }
        }
        Ok(self.finish())
    }

    fn finish(mut self) -> PolicyRun {
        for h in 0..self.hosts.len() {
            if let Some(last) = self.hosts[h].entry {
                self.hosts[h].close_entry(last);
            }
        }
        let (sla_s, active_s) =
            self.hosts.iter().fold((0.0, 0.0), |(s, a), h| (s + h.sla_violation_s, a + h.active_s));
        let (alloc, req, short) = self.vms.iter().fold((0.0, 0.0, 0.0), |(a, r, s), vm| {
            (a + vm.allocated_mips_s, r + vm.requested_mips_s, s + vm.migration_shortfall_mips_s)
        });
        let transitions = self.options.transitions;
        let transition_j: f64 = self
            .hosts
            .iter()
            .map(|h| {
                h.power.max().0
                    * (h.boots as f64 * transitions.boot_s
                        + h.real_shutdowns as f64 * transitions.shutdown_s)
            })
            .sum();
        self.energy_j += transition_j;
        let slatah = if active_s > 0.0 { sla_s / active_s } else { 0.0 };
        let pdm = if req > 0.0 { short / req } else { 0.0 };
        let simulated_s = self.last_process_s;
        let summary = RunSummary {
            policy: self.policy.to_string(),
            workload: String::new(),
            hosts: self.hosts.len(),
            vms: self.vms.len(),
            energy_kwh: self.energy_j / model::Joules::PER_KWH,
            migrations: self.migrations,
            slatah,
            pdm,
            slav: slatah * pdm,
            sla_overall: if req > 0.0 { (req - alloc) / req } else { 0.0 },
            host_shutdowns: self.hosts.iter().map(|h| h.shutdowns).sum(),
            mean_active_hosts: if simulated_s > 0.0 {
                self.active_host_s / simulated_s
            } else {
                0.0
            },
            harvested_heat_kwh: self.harvested_j / model::Joules::PER_KWH,
            harvest_ratio: if self.energy_j > 0.0 { self.harvested_j / self.energy_j } else { 0.0 },
            mean_hosts_at_target: if simulated_s > 0.0 {
                self.at_target_host_s / simulated_s
            } else {
                0.0
            },
            simulated_s,
            wall_s: 0.0,
            estimator_errors: match self.policy {
                PolicySpec::HeatMax { .. } => self.estimator_scores.summaries(),
                _ => Vec::new(),
            },
        };
        PolicyRun { summary, series: self.series }
    }
}

/// Runs `policy` over `scenario`.
pub fn simulate(
    scenario: &Scenario,
    policy: PolicySpec,
    options: EngineOptions,
    progress: Progress<'_>,
) -> Result<PolicyRun, EngineError> {
    Simulation::new(scenario, policy, options).run(progress)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::ScenarioVm;
    use model::{HostType, InstanceType};

    /// Two G5 hosts: one VM stays busy on the first (so the run goes on), the other VM is busy,
    /// then idle (its host switches off), then busy again. Each VM needs most of a host's memory,
    /// so first fit puts them on different hosts.
    fn on_off_on() -> Scenario {
        let big = InstanceType { ram_mib: 3000, ..InstanceType::planetlab_types()[2].clone() };
        let mut utilization = vec![0.5; 4];
        utilization.extend([0.0; 4]);
        utilization.extend([0.5; 4]);
        let vm = |name: &str, utilization: Vec<f64>| ScenarioVm {
            name: name.into(),
            instance: big.clone(),
            utilization,
            sample_interval_s: 300.0,
        };
        Scenario {
            host_types: vec![HostType::ml110_g5()],
            hosts: vec![0, 0],
            target_heat_w: vec![0.0, 0.0],
            vms: vec![vm("steady", vec![0.5; 12]), vm("on-off-on", utilization)],
            step_s: 300.0,
            duration_s: 12.0 * 300.0,
        }
    }

    fn energy_kwh(transitions: PowerTransitions) -> f64 {
        let scenario = on_off_on();
        let options = EngineOptions { retire_idle_vms: false, transitions };
        let run = simulate(&scenario, PolicySpec::Dvfs, options, &mut |_, _| {}).unwrap();
        run.summary.energy_kwh
    }

    #[test]
    fn transitions_charge_full_load_power_for_their_duration() {
        let free = energy_kwh(PowerTransitions::default());
        let costly = energy_kwh(PowerTransitions { boot_s: 100.0, shutdown_s: 30.0 });
        // One shutdown and one boot of a G5 host (135 W at full load).
        let expected_j = 135.0 * (100.0 + 30.0);
        assert!(((costly - free) * 3.6e6 - expected_j).abs() < 1e-6, "{free} {costly}");
    }
}
