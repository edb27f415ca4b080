//! A scenario: the fleet of hosts, the instances with their sizes and traces, and the clock
//! settings of a run. `planetlab_reference` builds the standard experiment of Beloglazov &
//! Buyya 2012.

use crate::workload::Workload;
use model::{HostType, InstanceType};

/// Everything a run needs besides the policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Distinct host types.
    pub host_types: Vec<HostType>,
    /// For each host, its index in `host_types`.
    pub hosts: Vec<usize>,
    /// For each host, its target minimum heat rate in watts (0 = all heat counts as harvested).
    pub target_heat_w: Vec<f64>,
    /// The instances, in creation order.
    pub vms: Vec<ScenarioVm>,
    /// Seconds between two scheduling decisions (the simulation step).
    pub step_s: f64,
    /// Simulated duration in seconds.
    pub duration_s: f64,
}

/// One instance of a scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioVm {
    /// Name (the trace's).
    pub name: String,
    /// Requested resources.
    pub instance: InstanceType,
    /// CPU utilization samples, fractions of the requested MIPS.
    pub utilization: Vec<f64>,
    /// Seconds between two samples.
    pub sample_interval_s: f64,
}

/// A scenario that cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScenarioError {
    /// No hosts.
    #[error("the scenario has no hosts; give --hosts N with N ≥ 1")]
    NoHosts,
    /// No instances.
    #[error("the workload has no instances")]
    NoVms,
    /// A step that is not a positive number of seconds.
    #[error("step {0} s: expected a positive number of seconds")]
    BadStep(f64),
    /// A VM no host could ever hold.
    #[error("VM `{vm}` needs {pes} core(s) × {mips} MIPS and {ram_mib} MiB; no host type in the fleet is that large")]
    VmTooLarge {
        /// VM name.
        vm: String,
        /// Cores requested.
        pes: u32,
        /// MIPS per core requested.
        mips: f64,
        /// Memory requested.
        ram_mib: u64,
    },
    /// Target heat rates do not match the hosts.
    #[error("{given} target heat rate(s) given for {hosts} hosts")]
    TargetCount {
        /// Targets given.
        given: usize,
        /// Hosts.
        hosts: usize,
    },
}

/// Number of hosts of the reference experiment.
pub const REFERENCE_HOSTS: usize = 800;

impl Scenario {
    /// The standard PlanetLab consolidation experiment: 800 hosts alternating HP ProLiant ML110 G4
    /// and G5 by index, one VM per trace in the workload's order, split into four consecutive
    /// blocks of ⌈n/4⌉ traces with the four VM types, 300 s steps over the traces' length.
    pub fn planetlab_reference(workload: &Workload) -> Result<Scenario, ScenarioError> {
        Scenario::with_fleet(workload, REFERENCE_HOSTS, 300.0)
    }

    /// The reference fleet (alternating G4/G5) with `n_hosts` hosts; instances whose trace does
    /// not carry a size get the reference VM types by block, as in `planetlab_reference`.
    pub fn with_fleet(
        workload: &Workload,
        n_hosts: usize,
        step_s: f64,
    ) -> Result<Scenario, ScenarioError> {
        if n_hosts == 0 {
            return Err(ScenarioError::NoHosts);
        }
        if workload.vms.is_empty() {
            return Err(ScenarioError::NoVms);
        }
        if !(step_s.is_finite() && step_s > 0.0) {
            return Err(ScenarioError::BadStep(step_s));
        }
        let host_types = vec![HostType::ml110_g4(), HostType::ml110_g5()];
        let hosts: Vec<usize> = (0..n_hosts).map(|i| i % 2).collect();
        let n_vms = workload.vms.len();
        let block = n_vms.div_ceil(4);
        let types = InstanceType::planetlab_types();
        let vms: Vec<ScenarioVm> = workload
            .vms
            .iter()
            .enumerate()
            .map(|(i, trace)| ScenarioVm {
                name: trace.name.clone(),
                instance: trace
                    .instance
                    .clone()
                    .unwrap_or_else(|| types[(i / block).min(3)].clone()),
                utilization: trace.utilization.clone(),
                sample_interval_s: workload.interval_s as f64,
            })
            .collect();
        for vm in &vms {
            let fits = host_types.iter().any(|h| {
                h.pes >= vm.instance.pes
                    && h.ram_mib >= vm.instance.ram_mib
                    && h.total_mips() >= vm.instance.total_mips()
            });
            if !fits {
                return Err(ScenarioError::VmTooLarge {
                    vm: vm.name.clone(),
                    pes: vm.instance.pes,
                    mips: vm.instance.mips_per_pe,
                    ram_mib: vm.instance.ram_mib,
                });
            }
        }
        let duration_s = workload.n_samples() as f64 * workload.interval_s as f64;
        Ok(Scenario {
            host_types,
            hosts,
            target_heat_w: vec![0.0; n_hosts],
            vms,
            step_s,
            duration_s,
        })
    }

    /// Sets every host's target minimum heat rate.
    pub fn with_uniform_target(mut self, target_w: f64) -> Scenario {
        self.target_heat_w = vec![target_w; self.hosts.len()];
        self
    }
}
