//! What the guard sees and what it may do: the observation a caller (the twin, later the
//! controller) assembles from its sensors, power drivers and instance records at one instant, and
//! the actions the guard returns. Plain data; hosts, zones and instances are referred to by their
//! index in the observation, and carry a stable `id` for records and logs.

use serde::{Deserialize, Serialize};

/// A host's power state as the power driver reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerState {
    /// Running; may host instances.
    On,
    /// Off; draws nothing, hosts nothing.
    Off,
    /// A power-on was requested and has not completed.
    PoweringOn,
    /// A power-off was requested and has not completed.
    PoweringOff,
}

/// One cooling zone (site > room > zone > rack > host) at the instant of the observation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZoneView {
    /// Stable name, e.g. `"room1/z2"`; the policy's per-zone thresholds are keyed by it.
    pub id: String,
    /// Indices of the zones that share air or a room with this one ("neighbouring" for the
    /// benefit's location term).
    pub neighbours: Vec<usize>,
    /// Air temperature read by the zone's sensor, °C; `None` when the sensor is missing or its
    /// reading is stale (the guard must then fall back to what else it knows, and say so).
    pub air_c: Option<f64>,
    /// The zone's air temperature limit, °C: the heat-budget projection keeps the zone under it.
    pub limit_c: f64,
    /// Heat removal the zone's cooling paths (cooling units and the heat-recovery loop) provide
    /// when all of them work, W.
    pub cooling_nominal_w: f64,
    /// Heat removal available now from the paths that work, W.
    pub cooling_available_w: f64,
    /// A cooling path of this zone reports a failure (a thermal event trigger on its own).
    pub cooling_failed: bool,
}

/// One host at the instant of the observation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostView {
    /// Stable name.
    pub id: String,
    /// Index of the host's zone.
    pub zone: usize,
    /// Power state.
    pub power: PowerState,
    /// The host's internal temperature sensor, °C; `None` when missing or stale.
    pub temp_c: Option<f64>,
    /// The hardware limit (manufacturer's maximum), °C.
    pub limit_c: f64,
    /// Power drawn now, W (all of it becomes heat in the zone). 0 when off.
    pub power_w: f64,
    /// Power the host draws when on and idle, W: what powering it up adds at least.
    pub idle_w: f64,
    /// Processor use now, in [0, 1].
    pub cpu_use: f64,
    /// Processor capacity, MIPS.
    pub cpu_mips: f64,
    /// Memory capacity, MB.
    pub memory_mb: f64,
    /// The host runs hearth itself (controller or a management service): powered down last.
    pub management: bool,
}

/// One instance at the instant of the observation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceView {
    /// Stable name.
    pub id: String,
    /// Index of the host it runs on, `None` while stopped.
    pub host: Option<usize>,
    /// Processor demand now, MIPS.
    pub cpu_mips: f64,
    /// Memory, MB.
    pub memory_mb: f64,
    /// Seconds since it was (last) started.
    pub uptime_s: f64,
    /// Instance type name (the policy weighs types, e.g. `"db"` dearer than `"batch"`).
    pub kind: String,
    /// The customer's own ranking of this instance: 0 = most important to them, larger = less.
    pub customer_rank: u32,
    /// How important the customer is to the operator, ≥ 0 (1 = ordinary).
    pub customer_importance: f64,
    /// Redundancy or failover group: instances sharing it serve the same purpose, so stopping one
    /// while another runs elsewhere costs less.
    pub group: Option<String>,
    /// A migration of this instance is under way (it must not be moved or stopped again).
    pub migrating: bool,
    /// The compute driver can move it; one that cannot is stopped, never migrated, when its host
    /// is shed. Default true.
    #[serde(default = "movable_default")]
    pub movable: bool,
}

fn movable_default() -> bool {
    true
}

/// Everything the guard sees at one instant.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// The caller's clock, seconds (any origin; only differences matter).
    pub now_s: f64,
    /// Zones.
    pub zones: Vec<ZoneView>,
    /// Hosts.
    pub hosts: Vec<HostView>,
    /// Instances, running or stopped.
    pub instances: Vec<InstanceView>,
}

/// What the guard asks the caller to do. Indices refer to the observation the action came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Live-migrate an instance to another host (outside the event).
    Migrate {
        /// Instance index.
        instance: usize,
        /// Target host index.
        to: usize,
    },
    /// Stop an instance that could not move before its host powers down.
    Stop {
        /// Instance index.
        instance: usize,
    },
    /// Power a host down (its instances have been migrated or stopped first).
    PowerDown {
        /// Host index.
        host: usize,
    },
    /// Power a host back up.
    PowerUp {
        /// Host index.
        host: usize,
    },
    /// Start a stopped instance again on a host.
    Start {
        /// Instance index.
        instance: usize,
        /// Host index.
        on: usize,
    },
}
