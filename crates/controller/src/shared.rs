//! What the controller shares with the API: the latest view of the site (hosts, instances, the
//! current plan with reasons, thermal state, totals, a short time series), the commands an
//! operator may give (approve or reject a plan, replace the policy) and read access to the store
//! (audit, journal, plans, metrics). The loop publishes a new [`View`] after every cycle; handlers
//! read it without waiting for the loop.

use crate::policy::ControllerPolicy;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use store::{PlanStatus, Store};

/// How the controller acts on its plans.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Plans, never acts.
    Observe,
    /// Plans wait for an operator's approval.
    Approve,
    /// Plans run as soon as they are made.
    Auto,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(text: &str) -> Result<Mode, String> {
        match text {
            "observe" => Ok(Mode::Observe),
            "approve" => Ok(Mode::Approve),
            "auto" => Ok(Mode::Auto),
            other => Err(format!("mode `{other}`: expected observe, approve or auto")),
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Observe => "observe",
            Mode::Approve => "approve",
            Mode::Auto => "auto",
        })
    }
}

/// One host as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct HostRow {
    /// Id.
    pub id: String,
    /// Zone id.
    pub zone: String,
    /// Rack.
    pub rack: String,
    /// `on`, `off` or `unknown`.
    pub power: String,
    /// Hottest internal temperature, °C.
    pub temp_c: Option<f64>,
    /// Inlet air, °C.
    pub inlet_c: Option<f64>,
    /// Power draw (= heat), W.
    pub power_w: f64,
    /// CPU use, [0, 1].
    pub cpu_use: f64,
    /// Instances defined on it.
    pub instances: usize,
    /// Running at or above the heat target.
    pub covered: bool,
    /// Runs hearth itself.
    pub management: bool,
    /// The thermal guard shed it.
    pub shed: bool,
    /// A beacon from its agent arrived recently (`None` without beacons).
    pub agent_alive: Option<bool>,
    /// What failed reading it.
    pub error: Option<String>,
}

/// One instance as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct InstanceRow {
    /// Id.
    pub id: String,
    /// Its host.
    pub host: String,
    /// `running`, `stopped` or `migrating`.
    pub state: String,
    /// CPUs.
    pub cpus: f64,
    /// Memory, MiB.
    pub memory_mib: f64,
    /// CPU use of its CPUs, [0, 1].
    pub cpu_use: Option<f64>,
}

/// A step of the current plan and where it stands.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StepRow {
    /// Index in the plan.
    pub index: usize,
    /// The step (action, ids, source, reason).
    #[serde(flatten)]
    pub step: crate::step::Step,
    /// `pending`, `done`, `failed` or `skipped`.
    pub state: String,
    /// The driver's error or the skip reason.
    pub detail: Option<String>,
}

/// The current plan.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PlanView {
    /// Store id (`None` for a plan with no steps, which is not stored).
    pub id: Option<i64>,
    /// Status.
    pub status: PlanStatus,
    /// Policy time it was made, s.
    pub at_s: f64,
    /// One line.
    pub summary: String,
    /// Its steps.
    pub steps: Vec<StepRow>,
    /// Why things were not planned (rate limits, thermal override, unreadable hosts).
    pub notes: Vec<String>,
}

/// One zone's thermal state.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ZoneRow {
    /// Id.
    pub id: String,
    /// `normal`, `shedding` or `recovering`.
    pub phase: String,
    /// Air temperature (hottest inlet), °C.
    pub air_c: Option<f64>,
    /// Detect / clear / power-up thresholds, °C.
    pub detect_c: f64,
    /// Clear threshold, °C.
    pub clear_c: f64,
    /// Power-up threshold, °C.
    pub powerup_c: f64,
    /// Hosts on its powered-down list.
    pub powered_down: Vec<String>,
    /// A cooling path reports a failure.
    pub cooling_failed: bool,
}

/// Running totals since the controller started.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Totals {
    /// Harvested energy over total energy since start.
    pub harvest_ratio: f64,
    /// Hosts at or above the target now.
    pub covered_hosts: usize,
    /// Hosts on now.
    pub hosts_on: usize,
    /// Power now, W.
    pub power_w: f64,
    /// Energy since start, kWh (policy time).
    pub energy_kwh: f64,
    /// Harvested energy since start, kWh.
    pub harvested_kwh: f64,
    /// Migrations done.
    pub migrations: u64,
    /// Power changes done.
    pub power_changes: u64,
    /// Thermal events detected (zones entering shedding).
    pub thermal_events: u64,
    /// Actions that failed.
    pub actions_failed: u64,
    /// Instances seen before and missing now.
    pub instances_lost: u64,
    /// Cycles run.
    pub cycles: u64,
}

/// One point of the view's time series.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Point {
    /// Policy time, s.
    pub at_s: f64,
    /// Covered hosts.
    pub covered_hosts: usize,
    /// Harvest ratio of the moment.
    pub harvest_ratio: f64,
    /// Power, W.
    pub power_w: f64,
    /// Hottest zone air, °C.
    pub max_air_c: Option<f64>,
    /// Hosts on.
    pub hosts_on: usize,
}

/// The whole view.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct View {
    /// Acting mode.
    pub mode: Option<Mode>,
    /// Policy time of the last cycle, s.
    pub at_s: f64,
    /// Hosts.
    pub hosts: Vec<HostRow>,
    /// Instances.
    pub instances: Vec<InstanceRow>,
    /// The current plan.
    pub plan: Option<PlanView>,
    /// Zones.
    pub zones: Vec<ZoneRow>,
    /// Totals.
    pub totals: Totals,
    /// Recent points, oldest first.
    pub series: VecDeque<Point>,
}

/// Why an operator's command was refused.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// No plan by that id.
    #[error("plan {0}: no such plan")]
    NoSuchPlan(i64),
    /// The plan is not waiting for approval.
    #[error("plan {id}: is {status}, not proposed")]
    NotProposed {
        /// The plan.
        id: i64,
        /// Its status.
        status: PlanStatus,
    },
    /// A bad policy.
    #[error("{0}")]
    Policy(#[from] crate::policy::PolicyError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
}

/// The state shared between the loop and the API.
pub struct Shared {
    view: RwLock<View>,
    store: Arc<Mutex<Store>>,
    policy: RwLock<ControllerPolicy>,
    wake: (Mutex<bool>, Condvar),
    /// The Prometheus registry, text-encoded on `/metrics`.
    pub metrics: crate::metrics::Metrics,
}

impl Shared {
    /// Shared state over `store` with `policy`.
    pub fn new(store: Arc<Mutex<Store>>, policy: ControllerPolicy) -> Shared {
        Shared {
            view: RwLock::new(View::default()),
            store,
            policy: RwLock::new(policy),
            wake: (Mutex::new(false), Condvar::new()),
            metrics: crate::metrics::Metrics::new(),
        }
    }

    /// The latest view.
    pub fn view(&self) -> View {
        self.view.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the view (the loop, after each cycle).
    pub fn publish(&self, view: View) {
        *self.view.write().unwrap_or_else(|p| p.into_inner()) = view;
    }

    /// The store, for reads.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The policy in force.
    pub fn policy(&self) -> ControllerPolicy {
        self.policy.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Validates `body`, stores it as a new version and puts it in force from the next cycle.
    pub fn put_policy(
        &self,
        body: &serde_json::Value,
        author: &str,
        at_ms: i64,
    ) -> Result<store::PolicyVersion, CommandError> {
        let policy = ControllerPolicy::from_json(body)?;
        let stored = serde_json::to_value(&policy).unwrap_or_else(|_| body.clone());
        let version = self.store().put_policy(&stored, author, at_ms)?;
        *self.policy.write().unwrap_or_else(|p| p.into_inner()) = policy;
        self.wake();
        Ok(version)
    }

    /// Approves (or rejects) a proposed plan; the loop runs an approved plan at once.
    pub fn decide_plan(
        &self,
        id: i64,
        approve: bool,
        at_ms: i64,
        who: &str,
    ) -> Result<PlanStatus, CommandError> {
        let mut store = self.store();
        let plan = store.plan(id)?.ok_or(CommandError::NoSuchPlan(id))?;
        if plan.status != PlanStatus::Proposed {
            return Err(CommandError::NotProposed { id, status: plan.status });
        }
        let status = if approve { PlanStatus::Approved } else { PlanStatus::Rejected };
        let note = format!("{} by {who}", if approve { "approved" } else { "rejected" });
        store.set_plan_status(id, status, at_ms, Some(&note))?;
        drop(store);
        self.wake();
        Ok(status)
    }

    /// Wakes the loop before its interval ends.
    pub fn wake(&self) {
        let (flag, condvar) = &self.wake;
        *flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        condvar.notify_all();
    }

    /// Waits until woken or `timeout` (wall) passes.
    pub fn wait_wake(&self, timeout: std::time::Duration) {
        let (flag, condvar) = &self.wake;
        let guard = flag.lock().unwrap_or_else(|p| p.into_inner());
        let (mut guard, _) = condvar
            .wait_timeout_while(guard, timeout, |woken| !*woken)
            .unwrap_or_else(|p| p.into_inner());
        *guard = false;
    }
}
