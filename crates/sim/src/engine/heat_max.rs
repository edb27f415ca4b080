//! The `heat-max` policy in the twin: every interval, predict each VM's CPU demand and heat with
//! the heat crate's estimators, hand the fleet to `heat::plan`, and start the planned migrations
//! with the same mechanics (costs, delays) as the baselines. Also scores every estimator against
//! the next interval's true heat (issue 3, "In the twin").
//!
//! What the planner sees (docs/sim.md, "heat-max"): one resource, CPU in MIPS, usable up to
//! `(1 − headroom)` of each host (the twin, like CloudSim, charges running VMs no memory or
//! bandwidth, so neither constrains any policy); each host's idle power and target; a VM's
//! request is the larger of its predicted (EWMA) and its current demand, its heat that demand times its
//! host's dynamic watts per MIPS (the curve's end points; the attribution rule scores the
//! estimate against the truth); VMs that moved within the dwell time, or are migrating, stay.

use super::Simulation;
use heat::estimate::{rollout_host, split_host, ErrorStats, InstanceTelemetry, Predictor, Source};
use heat::fleet::{FleetSpec, HostSpec, InstanceSpec, PolicySpec as PlanPolicy, PowerState};

/// Seconds a VM stays put after a move before it may move again (no ping-pong). The twin gives
/// the planner no per-interval migration budget: the dwell time alone keeps moves rare, and a
/// budget would only slow the first consolidation of CloudSim's full-size initial placement
/// (docs/sim.md).
const DWELL_S: f64 = 3600.0;

/// The estimators scored in the twin, in report order.
const SCORED: [Source; 5] =
    [Source::Ewma, Source::Quantile, Source::Regression, Source::Live, Source::Simulation];

/// Predictions made at one update, scored at the next.
#[derive(Clone, Debug, Default)]
pub(super) struct EstimatorScores {
    /// Per VM: heat (W) each scored estimator predicted for the next update.
    pending: Vec<Option<[Option<f64>; SCORED.len()]>>,
    stats: [ErrorStats; SCORED.len()],
}

impl EstimatorScores {
    /// Error figures per estimator, in report order.
    pub(super) fn summaries(&self) -> Vec<crate::metrics::EstimatorError> {
        SCORED
            .iter()
            .zip(&self.stats)
            .map(|(source, stats)| {
                let s = stats.summary();
                crate::metrics::EstimatorError {
                    estimator: source.name().to_string(),
                    samples: s.n,
                    mape_pct: s.mape_pct,
                    bias_w: s.bias_w,
                    mae_w: s.mae_w,
                    wape_pct: s.wape_pct,
                }
            })
            .collect()
    }
}

impl Simulation<'_> {
    /// A VM's utilization history, oldest first.
    fn history_oldest_first(&self, v: usize) -> Vec<f64> {
        self.vms[v].history.iter().rev().copied().collect()
    }

    /// Current demand of VM `v` as a utilization fraction.
    fn live_utilization(&self, v: usize) -> f64 {
        let vm = &self.vms[v];
        (vm.requested / vm.total_mips).clamp(0.0, 1.0)
    }

    /// Running VMs per host (excluding VMs migrating in), by the allocation table.
    fn running_vms(&self) -> Vec<Vec<usize>> {
        let mut per_host = vec![Vec::new(); self.hosts.len()];
        for (v, host) in self.vm_table.iter().enumerate() {
            if let Some(h) = *host {
                if !self.vms[v].retired {
                    per_host[h].push(v);
                }
            }
        }
        per_host
    }

    /// Scores the predictions made at the previous update against the heat each VM gives off
    /// now, then predicts the next update's heat with every scored estimator.
    pub(super) fn score_estimators(&mut self) {
        let per_host = self.running_vms();
        let mut scores = std::mem::take(&mut self.estimator_scores);
        scores.pending.resize(self.vms.len(), None);
        for (h, vms) in per_host.iter().enumerate() {
            if vms.is_empty() {
                continue;
            }
            let host = &self.hosts[h];
            // The truth: the attribution rule over the MIPS each VM was given at this update.
            let delivered: Vec<f64> = vms
                .iter()
                .map(|&v| self.vms[v].entry.map_or(0.0, |e| e.allocated).max(0.0))
                .collect();
            let Ok(truth) = split_host(&host.power, host.total_mips, &delivered) else { continue };
            for (k, &v) in vms.iter().enumerate() {
                if let Some(predicted) = scores.pending[v].take() {
                    for (stats, p) in scores.stats.iter_mut().zip(predicted) {
                        if let Some(p) = p {
                            // Both are finite and non-negative by construction.
                            let _ = stats.record(p, truth.heat_w[k]);
                        }
                    }
                }
            }
            // The predictions, each estimator applied to every VM of the host.
            let histories: Vec<Vec<f64>> =
                vms.iter().map(|&v| self.history_oldest_first(v)).collect();
            let telemetry: Vec<InstanceTelemetry<'_>> = vms
                .iter()
                .zip(&histories)
                .map(|(&v, history)| InstanceTelemetry {
                    history,
                    live_utilization: Some(self.live_utilization(v)),
                    capacity_mips: self.vms[v].total_mips,
                })
                .collect();
            let mut predicted = vec![[None; SCORED.len()]; vms.len()];
            for (e, source) in SCORED.iter().enumerate() {
                let heat: Option<Vec<f64>> = match source {
                    Source::Simulation => rollout_host(&host.power, host.total_mips, &telemetry, 1)
                        .ok()
                        .map(|estimates| estimates.iter().map(|x| x.heat_w).collect()),
                    _ => {
                        let predictor = predictor_for(*source);
                        let demands: Option<Vec<f64>> = telemetry
                            .iter()
                            .map(|t| {
                                let valid = t.validate().ok()?;
                                predictor.predict(&valid).ok().map(|u| u * t.capacity_mips)
                            })
                            .collect();
                        demands
                            .and_then(|d| split_host(&host.power, host.total_mips, &d).ok())
                            .map(|split| split.heat_w)
                    }
                };
                if let Some(heat) = heat {
                    for (k, w) in heat.into_iter().enumerate() {
                        predicted[k][e] = Some(w);
                    }
                }
            }
            for (k, &v) in vms.iter().enumerate() {
                scores.pending[v] = Some(predicted[k]);
            }
        }
        self.estimator_scores = scores;
    }

    /// The target handed to the planner for host `h`, in the planner's linear heat model (idle
    /// plus dynamic watts per MIPS): the utilization at which the host's curve reaches its
    /// target, raised by `margin` (a fraction of capacity, for the estimate's error), mapped back
    /// through the linear model. A host whose curve never reaches its target gets a target above
    /// its full-load power, so the planner knows it cannot be covered; 0 W stays 0 W (no loop).
    fn planner_target_w(&self, h: usize, margin: f64) -> f64 {
        let host = &self.hosts[h];
        if host.target_heat_w <= 0.0 {
            return 0.0;
        }
        let (idle, max) = (host.power.idle().0, host.power.max().0);
        match host.power.utilization_for(model::Watts(host.target_heat_w)) {
            Some(u) => idle + (max - idle) * (u + margin).min(1.0),
            None => host.target_heat_w.max(max) + 1.0,
        }
    }

    /// One heat-max round: the migration map `(vm, target host)`, in the planner's order.
    pub(super) fn plan_heat_max(
        &mut self,
        now: f64,
        headroom: f64,
        margin: f64,
    ) -> Vec<(usize, usize)> {
        let per_host = self.running_vms();
        // The EWMA, then the live sample: the EWMA had the least error of every estimator on
        // each PlanetLab day (docs/sim.md, "Estimator errors").
        let [_, _, ewma, live] = Predictor::DEFAULT_RUNGS;
        let ladder = [ewma, live];
        let mut instances = Vec::new();
        let mut vm_of = Vec::new();
        for (h, vms) in per_host.iter().enumerate() {
            let host = &self.hosts[h];
            let dynamic_w_per_mips =
                (host.power.max().0 - host.power.idle().0).max(0.0) / host.total_mips;
            for &v in vms {
                let vm = &self.vms[v];
                let history = self.history_oldest_first(v);
                let live = self.live_utilization(v);
                let telemetry = InstanceTelemetry {
                    history: &history,
                    live_utilization: Some(live),
                    capacity_mips: vm.total_mips,
                };
                let predicted = telemetry
                    .validate()
                    .ok()
                    .and_then(|valid| ladder.iter().find_map(|p| p.predict(&valid).ok()))
                    .unwrap_or(live);
                let demand_mips = predicted.max(live) * vm.total_mips;
                instances.push(InstanceSpec {
                    id: format!("v{v}"),
                    request: vec![demand_mips],
                    heat_w: demand_mips * dynamic_w_per_mips,
                    memory_mib: vm.ram as f64,
                    host: Some(format!("h{h}")),
                    migratable: !vm.in_migration,
                    anti_affinity: None,
                    since_move_s: vm.last_move_s.map(|t| now - t),
                });
                vm_of.push(v);
            }
        }
        let hosts = self
            .hosts
            .iter()
            .enumerate()
            .map(|(h, host)| HostSpec {
                id: format!("h{h}"),
                capacity: vec![host.total_mips],
                idle_w: host.power.idle().0,
                target_heat_w: self.planner_target_w(h, margin),
                thermal_limit_w: None,
                power: if per_host[h].is_empty() { PowerState::Off } else { PowerState::On },
            })
            .collect();
        let spec = FleetSpec {
            resources: vec!["cpu".into()],
            hosts,
            instances,
            policy: PlanPolicy {
                headroom: vec![headroom],
                migration_budget: None,
                min_dwell_s: DWELL_S,
                spare_hosts: 0,
            },
        };
        // The fleet is built from the twin's own state; a refusal would be a twin bug. A VM
        // larger than a host after headroom cannot occur with the reference types, but if it
        // did the round is skipped rather than the run aborted.
        let Ok(problem) = heat::Problem::new(&spec) else { return Vec::new() };
        let plan = heat::plan(&problem);
        plan.migrations.iter().map(|m| (vm_of[m.instance], m.to)).collect()
    }
}

fn predictor_for(source: Source) -> Predictor {
    let [regression, quantile, ewma, live] = Predictor::DEFAULT_RUNGS;
    match source {
        Source::Regression => regression,
        Source::Quantile => quantile,
        Source::Ewma => ewma,
        _ => live,
    }
}
