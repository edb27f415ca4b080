//! What a run measures: the per-interval time series and the run summary, with the metrics of
//! Beloglazov & Buyya 2012 (energy, migrations, SLATAH, PDM, SLAV, host shutdowns) and hearth's
//! own (harvested heat and harvest ratio).

use serde::Serialize;

/// One simulation interval, as observed at its end.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IntervalRecord {
    /// Start of the interval, seconds since the run began.
    pub time_s: f64,
    /// Mean electrical power of the data center over the interval, in watts.
    pub power_w: f64,
    /// Hosts that were on (drew power) during the interval.
    pub active_hosts: u32,
    /// Mean power of the hosts that met their target minimum heat rate, in watts.
    pub harvested_w: f64,
    /// Hosts that met their target minimum heat rate.
    pub hosts_at_target: u32,
    /// Migrations started at the end of this interval.
    pub migrations: u32,
    /// Hosts whose demand exceeded their capacity during the interval.
    pub overloaded_hosts: u32,
    /// Total CPU demand of all instances over total capacity of active hosts, in [0, ∞).
    pub cpu_demand_ratio: f64,
}

/// A run's headline figures. Ratios are fractions in [0, 1].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunSummary {
    /// Policy name as given on the command line, e.g. `lr-mmt:1.2`.
    pub policy: String,
    /// Workload description.
    pub workload: String,
    /// Number of hosts.
    pub hosts: usize,
    /// Number of instances.
    pub vms: usize,
    /// Energy drawn by all hosts, kWh.
    pub energy_kwh: f64,
    /// VM migrations.
    pub migrations: u64,
    /// SLA violation time per active host: time hosts were active with less CPU allocated than
    /// requested, over all hosts' active time (aggregated as CloudSim does).
    pub slatah: f64,
    /// Performance degradation due to migrations: MIPS the VMs lost while migrating, over all
    /// MIPS they requested (aggregated as CloudSim does).
    pub pdm: f64,
    /// SLATAH × PDM.
    pub slav: f64,
    /// Overall fraction of requested MIPS not allocated (the paper's "SLA violation" figure).
    pub sla_overall: f64,
    /// Times a host was switched off.
    pub host_shutdowns: u64,
    /// Mean number of hosts on, over all intervals.
    pub mean_active_hosts: f64,
    /// Heat from hosts at or above their target minimum heat rate, kWh.
    pub harvested_heat_kwh: f64,
    /// Harvested heat over all heat.
    pub harvest_ratio: f64,
    /// Mean number of hosts meeting their target, over all intervals.
    pub mean_hosts_at_target: f64,
    /// Simulated time, seconds.
    pub simulated_s: f64,
    /// Wall-clock time of the run, seconds (the only figure that is not deterministic).
    pub wall_s: f64,
    /// heat-max only: each heat-rate estimator scored against the next interval's true heat.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub estimator_errors: Vec<EstimatorError>,
}

/// One heat-rate estimator's error against the next interval's true heat (the attribution rule
/// applied to the MIPS each VM was given), over all VMs and intervals of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EstimatorError {
    /// Estimator name (`ewma`, `quantile`, `regression`, `live`, `simulation`).
    pub estimator: String,
    /// Scored predictions.
    pub samples: usize,
    /// Mean absolute percentage error, over samples whose true heat is not 0 W.
    pub mape_pct: Option<f64>,
    /// Mean of predicted − true (W).
    pub bias_w: Option<f64>,
    /// Mean absolute error (W).
    pub mae_w: Option<f64>,
    /// Σ |error| / Σ true heat (%): the percentage error that VMs near 0 W cannot inflate.
    pub wape_pct: Option<f64>,
}

/// A policy's run: summary plus time series.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PolicyRun {
    /// Headline figures.
    pub summary: RunSummary,
    /// One record per interval.
    pub series: Vec<IntervalRecord>,
}
