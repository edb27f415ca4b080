//! Thermal scenario files: the TOML an operator writes (site, rooms, cooling zones, racks, hosts,
//! instances, load, faults, the impact weights and an opaque `[guard]` table), parsed low with
//! serde (`deny_unknown_fields`) and lifted into a validated, expanded [`Scenario`]: every host and
//! instance listed, names resolved to indices, the initial placement made. Errors name the key
//! (`zone[1].limit_c`, `fault[0].unit`) and, for TOML errors, the line and column.
//!
//! The format is documented in docs/sim.md, "Thermal scenarios".

use super::physics::{HostThermal, ZoneAir};
use model::PowerCurve;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

// ---------------------------------------------------------------------------------------------
// The lifted scenario

/// A validated thermal scenario, ready to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Name (the file's `name`, else the file name given to [`Scenario::parse`]).
    pub name: String,
    /// Site name.
    pub site: String,
    /// Simulated duration, s.
    pub duration_s: f64,
    /// Step, s: the guard decides and the physics integrates once per step.
    pub step_s: f64,
    /// Seed of the utilization process.
    pub seed: u64,
    /// Time from a power-up request to a host that can run instances, s.
    pub boot_s: f64,
    /// Time from a power-down request to a host that draws nothing, s.
    pub shutdown_s: f64,
    /// Live-migration bandwidth, MB/s: a migration takes `memory_mb / migration_mb_per_s`.
    pub migration_mb_per_s: f64,
    /// When set, a reading older than this (a stale sensor) is reported as missing, as a
    /// controller that checks timestamps would; when `None` a stale sensor repeats its last value.
    pub sensor_max_age_s: Option<f64>,
    /// The utilization process.
    pub load: Load,
    /// Cooling zones, in file order.
    pub zones: Vec<Zone>,
    /// Hosts, rack by rack in file order.
    pub hosts: Vec<Host>,
    /// Instances, in file order, each with its initial host.
    pub instances: Vec<Instance>,
    /// Injected faults.
    pub faults: Vec<Fault>,
    /// Weights of the customer-impact cost.
    pub impact: ImpactWeights,
    /// The `[guard]` table, uninterpreted: the guard's policy is its own business.
    pub guard: Option<toml::Table>,
}

/// One cooling zone.
#[derive(Clone, Debug, PartialEq)]
pub struct Zone {
    /// `room/zone`, the guard's key for per-zone settings.
    pub id: String,
    /// The zone's name in the file.
    pub name: String,
    /// The room's name.
    pub room: String,
    /// Indices of neighbouring zones (symmetric).
    pub neighbours: Vec<usize>,
    /// Air and cooling-control parameters.
    pub air: ZoneAir,
    /// Air temperature at t = 0, °C.
    pub initial_c: f64,
    /// Air temperature limit, °C.
    pub limit_c: f64,
    /// Capacity of each cooling unit (CRAC), W; faults name a unit by its index here.
    pub cooling_units_w: Vec<f64>,
    /// Capacity of the heat-recovery loop as a cooling path, W (0 = none).
    pub recovery_loop_w: f64,
}

impl Zone {
    /// Capacity of all cooling paths together, W.
    pub fn cooling_nominal_w(&self) -> f64 {
        self.cooling_units_w.iter().sum::<f64>() + self.recovery_loop_w
    }
}

/// One host.
#[derive(Clone, Debug, PartialEq)]
pub struct Host {
    /// `room/zone/rack/hNN`.
    pub id: String,
    /// Zone index.
    pub zone: usize,
    /// Rack name.
    pub rack: String,
    /// Power at each CPU utilization.
    pub curve: PowerCurve,
    /// Processor capacity, MIPS.
    pub cpu_mips: f64,
    /// Memory, MB.
    pub memory_mb: f64,
    /// Thermal parameters.
    pub thermal: HostThermal,
    /// Hardware limit, °C.
    pub limit_c: f64,
    /// Runs hearth itself.
    pub management: bool,
    /// On at t = 0 (else off).
    pub initially_on: bool,
}

/// One instance.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// `name-NNNN` (or the group's name when `count = 1`).
    pub id: String,
    /// Kind (type name), e.g. `db`.
    pub kind: String,
    /// Processor size, MIPS; demand = size × utilization.
    pub cpu_mips: f64,
    /// Memory, MB.
    pub memory_mb: f64,
    /// The customer's rank of the instance (0 = most important to them).
    pub customer_rank: u32,
    /// The customer's importance to the operator (1 = ordinary).
    pub customer_importance: f64,
    /// Redundancy group.
    pub group: Option<String>,
    /// Mean of the utilization process, in [0, 1].
    pub mean_utilization: f64,
    /// Uptime at t = 0, s.
    pub uptime_s: f64,
    /// Host index at t = 0.
    pub host: usize,
}

/// The seeded utilization process of the instances.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Load {
    /// Default mean utilization of an instance, in [0, 1].
    pub mean: f64,
    /// Each instance's mean is offset by a uniform draw in [−spread, spread).
    pub spread: f64,
    /// Standard deviation of the AR(1) noise around the mean.
    pub noise_sd: f64,
    /// Correlation time of the noise, s.
    pub correlation_s: f64,
}

/// A fault, active over `[at_s, until_s)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    /// What fails.
    pub kind: FaultKind,
    /// Start, s.
    pub at_s: f64,
    /// End (recovery), s; `None` = never recovers.
    pub until_s: Option<f64>,
}

impl Fault {
    /// The fault is active at time `t_s`.
    pub fn active(&self, t_s: f64) -> bool {
        t_s >= self.at_s && self.until_s.is_none_or(|until| t_s < until)
    }
}

/// What fails.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultKind {
    /// A cooling unit stops removing heat.
    CoolingUnit {
        /// Zone index.
        zone: usize,
        /// Unit index in the zone's `cooling_units_w`.
        unit: usize,
    },
    /// The zone's heat-recovery loop stops removing heat.
    RecoveryLoop {
        /// Zone index.
        zone: usize,
    },
    /// A sensor misbehaves.
    Sensor {
        /// Which sensor.
        sensor: SensorId,
        /// How.
        mode: SensorFault,
    },
}

/// A temperature sensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SensorId {
    /// A zone's air sensor (zone index).
    Zone(usize),
    /// A host's internal sensor (host index).
    Host(usize),
}

/// A sensor's failure mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SensorFault {
    /// The reading freezes at its last value before the fault.
    Stale,
    /// No reading.
    Missing,
}

/// Weights of the simulator's customer-impact cost (see [`run`](mod@super::run)).
#[derive(Clone, Debug, PartialEq)]
pub struct ImpactWeights {
    /// Weight per instance kind.
    pub kind_weight: BTreeMap<String, f64>,
    /// Weight of a kind not in `kind_weight`.
    pub default_kind_weight: f64,
    /// Fixed cost of one migration.
    pub migration: f64,
}

impl ImpactWeights {
    /// The built-in kind weights: `db` 4, `storage` 3, `web` 2, `cache` 1.5, `batch` 0.5.
    pub fn builtin_kind_weights() -> BTreeMap<String, f64> {
        [("db", 4.0), ("storage", 3.0), ("web", 2.0), ("cache", 1.5), ("batch", 0.5)]
            .into_iter()
            .map(|(kind, weight)| (kind.to_string(), weight))
            .collect()
    }

    /// The weight of `kind`.
    pub fn kind(&self, kind: &str) -> f64 {
        self.kind_weight.get(kind).copied().unwrap_or(self.default_kind_weight)
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// A scenario file that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScenarioError {
    /// Not TOML, or TOML of the wrong shape: an unknown key, a wrong type, a missing key.
    #[error("{}", toml_message(file, *location, key.as_deref(), message))]
    Toml {
        /// The file (as the caller named it).
        file: String,
        /// 1-based line and column, when known.
        location: Option<(usize, usize)>,
        /// The key involved (`zone[1].limit_c`), when known.
        key: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// Well-formed TOML whose value breaks a rule.
    #[error("{file}: key `{key}`: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// The key (`fault[0].unit`).
        key: String,
        /// The rule it breaks.
        message: String,
    },
}

impl ScenarioError {
    /// The key the error names, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            ScenarioError::Toml { key, .. } => key.as_deref(),
            ScenarioError::Invalid { key, .. } => Some(key),
        }
    }
}

fn toml_message(
    file: &str,
    location: Option<(usize, usize)>,
    key: Option<&str>,
    message: &str,
) -> String {
    let mut out = file.to_string();
    if let Some((line, column)) = location {
        out += &format!(":{line}:{column}");
    }
    if let Some(key) = key {
        out += &format!(": key `{key}`");
    }
    out + ": " + message
}

/// Deserializes `text`, turning serde's error into one that names the key
/// ([`model::toml_text`]).
fn from_toml<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, ScenarioError> {
    model::toml_text::from_toml(text).map_err(|err| ScenarioError::Toml {
        file: file.to_string(),
        location: err.location,
        key: err.key,
        message: err.message,
    })
}

// ---------------------------------------------------------------------------------------------
// The file, parsed low

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Option<String>,
    duration_s: f64,
    step_s: f64,
    #[serde(default = "default_seed")]
    seed: u64,
    #[serde(default = "default_boot_s")]
    boot_s: f64,
    #[serde(default = "default_shutdown_s")]
    shutdown_s: f64,
    #[serde(default = "default_migration_mb_per_s")]
    migration_mb_per_s: f64,
    sensor_max_age_s: Option<f64>,
    #[serde(default)]
    site: RawSite,
    #[serde(default)]
    room: Vec<RawRoom>,
    zone: Vec<RawZone>,
    host_type: Vec<RawHostType>,
    rack: Vec<RawRack>,
    #[serde(default)]
    instances: Vec<RawInstances>,
    #[serde(default)]
    load: RawLoad,
    #[serde(default)]
    fault: Vec<RawFault>,
    #[serde(default)]
    impact: RawImpact,
    guard: Option<toml::Table>,
}

fn default_seed() -> u64 {
    1
}
fn default_boot_s() -> f64 {
    120.0
}
fn default_shutdown_s() -> f64 {
    30.0
}
fn default_migration_mb_per_s() -> f64 {
    1250.0
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    #[serde(default = "default_site_name")]
    name: String,
}

impl Default for RawSite {
    fn default() -> Self {
        RawSite { name: default_site_name() }
    }
}

fn default_site_name() -> String {
    "site".to_string()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoom {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawZone {
    name: String,
    room: Option<String>,
    #[serde(default)]
    neighbours: Vec<String>,
    #[serde(default = "default_setpoint_c")]
    setpoint_c: f64,
    initial_c: Option<f64>,
    #[serde(default = "default_zone_limit_c")]
    limit_c: f64,
    heat_capacity_kj_per_k: f64,
    #[serde(default = "default_response_s")]
    response_s: f64,
    cooling_units_w: Vec<f64>,
    #[serde(default)]
    recovery_loop_w: f64,
}

fn default_setpoint_c() -> f64 {
    24.0
}
fn default_zone_limit_c() -> f64 {
    35.0
}
fn default_response_s() -> f64 {
    120.0
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHostType {
    name: String,
    curve: Option<String>,
    power_w: Option<Vec<f64>>,
    cpu_mips: f64,
    memory_mb: f64,
    heat_capacity_j_per_k: f64,
    thermal_resistance_k_per_w: f64,
    limit_c: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRack {
    name: String,
    zone: String,
    host_type: String,
    hosts: usize,
    #[serde(default = "one")]
    count: usize,
    #[serde(default)]
    management_hosts: usize,
    #[serde(default)]
    off_hosts: usize,
}

fn one() -> usize {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstances {
    name: String,
    #[serde(default = "one")]
    count: usize,
    kind: String,
    cpu_mips: f64,
    memory_mb: f64,
    #[serde(default)]
    customer_rank: u32,
    #[serde(default = "default_importance")]
    customer_importance: f64,
    #[serde(default = "one")]
    redundancy: usize,
    utilization: Option<f64>,
    #[serde(default)]
    uptime_s: f64,
    zones: Option<Vec<String>>,
}

fn default_importance() -> f64 {
    1.0
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLoad {
    #[serde(default = "default_load_mean")]
    mean: f64,
    #[serde(default = "default_load_spread")]
    spread: f64,
    #[serde(default = "default_noise_sd")]
    noise_sd: f64,
    #[serde(default = "default_correlation_s")]
    correlation_s: f64,
}

impl Default for RawLoad {
    fn default() -> Self {
        RawLoad {
            mean: default_load_mean(),
            spread: default_load_spread(),
            noise_sd: default_noise_sd(),
            correlation_s: default_correlation_s(),
        }
    }
}

fn default_load_mean() -> f64 {
    0.75
}
fn default_load_spread() -> f64 {
    0.1
}
fn default_noise_sd() -> f64 {
    0.05
}
fn default_correlation_s() -> f64 {
    600.0
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    kind: RawFaultKind,
    zone: Option<String>,
    unit: Option<usize>,
    host: Option<String>,
    mode: Option<RawSensorFault>,
    at_s: f64,
    until_s: Option<f64>,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawFaultKind {
    CoolingUnit,
    RecoveryLoop,
    Sensor,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawSensorFault {
    Stale,
    Missing,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImpact {
    #[serde(default)]
    kind_weight: BTreeMap<String, f64>,
    #[serde(default = "default_kind_weight")]
    default_kind_weight: f64,
    #[serde(default = "default_migration_cost")]
    migration: f64,
}

impl Default for RawImpact {
    fn default() -> Self {
        RawImpact {
            kind_weight: BTreeMap::new(),
            default_kind_weight: default_kind_weight(),
            migration: default_migration_cost(),
        }
    }
}

fn default_kind_weight() -> f64 {
    1.0
}
fn default_migration_cost() -> f64 {
    0.05
}

// ---------------------------------------------------------------------------------------------
// Lifting

/// Builds [`ScenarioError::Invalid`] for one file.
struct Checker<'a> {
    file: &'a str,
}

impl Checker<'_> {
    fn invalid(&self, key: impl Into<String>, message: impl Into<String>) -> ScenarioError {
        ScenarioError::Invalid {
            file: self.file.to_string(),
            key: key.into(),
            message: message.into(),
        }
    }

    /// `value` is finite and > 0.
    fn positive(&self, key: &str, value: f64) -> Result<f64, ScenarioError> {
        if value.is_finite() && value > 0.0 {
            Ok(value)
        } else {
            Err(self.invalid(key, format!("must be a finite number > 0, got {value}")))
        }
    }

    /// `value` is finite and ≥ 0.
    fn non_negative(&self, key: &str, value: f64) -> Result<f64, ScenarioError> {
        if value.is_finite() && value >= 0.0 {
            Ok(value)
        } else {
            Err(self.invalid(key, format!("must be a finite number ≥ 0, got {value}")))
        }
    }

    /// `value` is finite.
    fn finite(&self, key: &str, value: f64) -> Result<f64, ScenarioError> {
        if value.is_finite() {
            Ok(value)
        } else {
            Err(self.invalid(key, format!("must be a finite number, got {value}")))
        }
    }

    /// `value` is in [0, 1].
    fn fraction(&self, key: &str, value: f64) -> Result<f64, ScenarioError> {
        if (0.0..=1.0).contains(&value) {
            Ok(value)
        } else {
            Err(self.invalid(key, format!("must be in [0, 1], got {value}")))
        }
    }

    /// `name` is not empty and not taken yet.
    fn unique(
        &self,
        key: &str,
        name: &str,
        seen: &mut BTreeSet<String>,
    ) -> Result<(), ScenarioError> {
        if name.is_empty() {
            return Err(self.invalid(key, "must not be empty"));
        }
        if !seen.insert(name.to_string()) {
            return Err(self.invalid(key, format!("`{name}` is used twice")));
        }
        Ok(())
    }
}

impl Scenario {
    /// Parses and validates a scenario file. `file` names it in errors (and names the scenario
    /// when the file has no `name`); `text` is its content.
    pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
        let raw: RawScenario = from_toml(file, text)?;
        lift(file, raw)
    }
}

fn lift(file: &str, raw: RawScenario) -> Result<Scenario, ScenarioError> {
    let check = Checker { file };
    let step_s = check.positive("step_s", raw.step_s)?;
    let duration_s = check.positive("duration_s", raw.duration_s)?;
    if duration_s < step_s {
        return Err(check.invalid(
            "duration_s",
            format!("must be at least one step ({step_s} s), got {duration_s}"),
        ));
    }
    let boot_s = check.non_negative("boot_s", raw.boot_s)?;
    let shutdown_s = check.non_negative("shutdown_s", raw.shutdown_s)?;
    let migration_mb_per_s = check.positive("migration_mb_per_s", raw.migration_mb_per_s)?;
    let sensor_max_age_s = match raw.sensor_max_age_s {
        Some(age) => Some(check.non_negative("sensor_max_age_s", age)?),
        None => None,
    };
    let load = Load {
        mean: check.fraction("load.mean", raw.load.mean)?,
        spread: check.fraction("load.spread", raw.load.spread)?,
        noise_sd: check.non_negative("load.noise_sd", raw.load.noise_sd)?,
        correlation_s: check.positive("load.correlation_s", raw.load.correlation_s)?,
    };

    // Rooms.
    let mut room_names = BTreeSet::new();
    for (idx, room) in raw.room.iter().enumerate() {
        check.unique(&format!("room[{idx}].name"), &room.name, &mut room_names)?;
    }
    if raw.room.is_empty() {
        return Err(check.invalid("room", "at least one [[room]] is required"));
    }

    // Zones.
    if raw.zone.is_empty() {
        return Err(check.invalid("zone", "at least one [[zone]] is required"));
    }
    let mut zone_names = BTreeSet::new();
    let mut zones = Vec::with_capacity(raw.zone.len());
    for (idx, z) in raw.zone.iter().enumerate() {
        let key = |field: &str| format!("zone[{idx}].{field}");
        check.unique(&key("name"), &z.name, &mut zone_names)?;
        let room = match &z.room {
            Some(room) if room_names.contains(room) => room.clone(),
            Some(room) => {
                return Err(check.invalid(key("room"), format!("no [[room]] is named `{room}`")))
            }
            None if raw.room.len() == 1 => raw.room[0].name.clone(),
            None => {
                return Err(check.invalid(key("room"), "required when there is more than one room"))
            }
        };
        let setpoint_c = check.finite(&key("setpoint_c"), z.setpoint_c)?;
        let initial_c = check.finite(&key("initial_c"), z.initial_c.unwrap_or(setpoint_c))?;
        let limit_c = check.finite(&key("limit_c"), z.limit_c)?;
        let heat_capacity_kj =
            check.positive(&key("heat_capacity_kj_per_k"), z.heat_capacity_kj_per_k)?;
        let response_s = check.positive(&key("response_s"), z.response_s)?;
        for (unit, &w) in z.cooling_units_w.iter().enumerate() {
            check.non_negative(&format!("zone[{idx}].cooling_units_w[{unit}]"), w)?;
        }
        let recovery_loop_w = check.non_negative(&key("recovery_loop_w"), z.recovery_loop_w)?;
        zones.push(Zone {
            id: format!("{room}/{}", z.name),
            name: z.name.clone(),
            room,
            neighbours: Vec::new(),
            air: ZoneAir {
                setpoint_c,
                heat_capacity_j_per_k: heat_capacity_kj * 1000.0,
                response_s,
            },
            initial_c,
            limit_c,
            cooling_units_w: z.cooling_units_w.clone(),
            recovery_loop_w,
        });
    }
    let zone_names: Vec<(String, String)> =
        zones.iter().map(|z| (z.name.clone(), z.id.clone())).collect();
    let zone_index = |key: String, name: &str| -> Result<usize, ScenarioError> {
        zone_names
            .iter()
            .position(|(zone_name, id)| zone_name == name || id == name)
            .ok_or_else(|| check.invalid(key, format!("no [[zone]] is named `{name}`")))
    };
    let mut neighbours: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); zones.len()];
    for (idx, z) in raw.zone.iter().enumerate() {
        for (n, name) in z.neighbours.iter().enumerate() {
            let other = zone_index(format!("zone[{idx}].neighbours[{n}]"), name)?;
            if other == idx {
                return Err(check.invalid(
                    format!("zone[{idx}].neighbours[{n}]"),
                    "a zone is not its own neighbour",
                ));
            }
            neighbours[idx].insert(other);
            neighbours[other].insert(idx);
        }
    }
    for (zone, set) in zones.iter_mut().zip(neighbours) {
        zone.neighbours = set.into_iter().collect();
    }

    // Host types.
    let mut type_names = BTreeSet::new();
    let mut host_types = Vec::with_capacity(raw.host_type.len());
    for (idx, t) in raw.host_type.iter().enumerate() {
        let key = |field: &str| format!("host_type[{idx}].{field}");
        check.unique(&key("name"), &t.name, &mut type_names)?;
        let curve = match (&t.curve, &t.power_w) {
            (Some(_), Some(_)) => {
                return Err(
                    check.invalid(key("curve"), "give either `curve` or `power_w`, not both")
                )
            }
            (None, None) => {
                return Err(check.invalid(
                    key("power_w"),
                    "missing: give `power_w` (11 points, W at 0 %, 10 %, …, 100 % CPU) or \
                     `curve` (\"ml110_g4\" or \"ml110_g5\")",
                ))
            }
            (Some(name), None) => match name.as_str() {
                "ml110_g4" => PowerCurve::ml110_g4(),
                "ml110_g5" => PowerCurve::ml110_g5(),
                other => {
                    return Err(check.invalid(
                        key("curve"),
                        format!("unknown curve `{other}`; expected \"ml110_g4\" or \"ml110_g5\""),
                    ))
                }
            },
            (None, Some(points)) => {
                let points: [f64; 11] = points.as_slice().try_into().map_err(|_| {
                    check.invalid(
                        key("power_w"),
                        format!("needs 11 points (0 %, 10 %, …, 100 % CPU), got {}", points.len()),
                    )
                })?;
                PowerCurve::new(points)
                    .map_err(|err| check.invalid(key("power_w"), err.to_string()))?
            }
        };
        host_types.push((
            t.name.clone(),
            curve,
            check.positive(&key("cpu_mips"), t.cpu_mips)?,
            check.positive(&key("memory_mb"), t.memory_mb)?,
            HostThermal {
                heat_capacity_j_per_k: check
                    .positive(&key("heat_capacity_j_per_k"), t.heat_capacity_j_per_k)?,
                resistance_k_per_w: check
                    .positive(&key("thermal_resistance_k_per_w"), t.thermal_resistance_k_per_w)?,
            },
            check.finite(&key("limit_c"), t.limit_c)?,
        ));
    }

    // Racks and hosts.
    let mut rack_names = BTreeSet::new();
    let mut hosts = Vec::new();
    for (idx, r) in raw.rack.iter().enumerate() {
        let key = |field: &str| format!("rack[{idx}].{field}");
        let zone = zone_index(key("zone"), &r.zone)?;
        let (_, curve, cpu_mips, memory_mb, thermal, limit_c) =
            host_types.iter().find(|t| t.0 == r.host_type).ok_or_else(|| {
                check.invalid(
                    key("host_type"),
                    format!("no [[host_type]] is named `{}`", r.host_type),
                )
            })?;
        if r.hosts == 0 {
            return Err(check.invalid(key("hosts"), "must be at least 1"));
        }
        if r.count == 0 {
            return Err(check.invalid(key("count"), "must be at least 1"));
        }
        if r.management_hosts + r.off_hosts > r.hosts {
            return Err(check.invalid(
                key("management_hosts"),
                format!(
                    "management_hosts ({}) + off_hosts ({}) exceed the rack's {} hosts",
                    r.management_hosts, r.off_hosts, r.hosts
                ),
            ));
        }
        for copy in 1..=r.count {
            let rack = if r.count == 1 { r.name.clone() } else { format!("{}{copy}", r.name) };
            check.unique(&key("name"), &format!("{}/{rack}", zones[zone].id), &mut rack_names)?;
            let width = r.hosts.to_string().len().max(2);
            for h in 0..r.hosts {
                hosts.push(Host {
                    id: format!("{}/{rack}/h{:0width$}", zones[zone].id, h + 1),
                    zone,
                    rack: rack.clone(),
                    curve: curve.clone(),
                    cpu_mips: *cpu_mips,
                    memory_mb: *memory_mb,
                    thermal: *thermal,
                    limit_c: *limit_c,
                    management: h < r.management_hosts,
                    initially_on: h < r.hosts - r.off_hosts,
                });
            }
        }
    }
    if hosts.is_empty() {
        return Err(check.invalid("rack", "at least one [[rack]] is required"));
    }

    // Instances, expanded and placed.
    let mut instance_names = BTreeSet::new();
    let mut instances: Vec<Instance> = Vec::new();
    let mut placer = Placer::new(&hosts, zones.len());
    let mut group_members: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for (idx, g) in raw.instances.iter().enumerate() {
        let key = |field: &str| format!("instances[{idx}].{field}");
        check.unique(&key("name"), &g.name, &mut instance_names)?;
        if g.count == 0 {
            return Err(check.invalid(key("count"), "must be at least 1"));
        }
        if g.redundancy == 0 {
            return Err(check.invalid(key("redundancy"), "must be at least 1"));
        }
        if g.kind.is_empty() {
            return Err(check.invalid(key("kind"), "must not be empty"));
        }
        let cpu_mips = check.positive(&key("cpu_mips"), g.cpu_mips)?;
        let memory_mb = check.positive(&key("memory_mb"), g.memory_mb)?;
        let importance = check.non_negative(&key("customer_importance"), g.customer_importance)?;
        let mean = match g.utilization {
            Some(u) => Some(check.fraction(&key("utilization"), u)?),
            None => None,
        };
        let uptime_s = check.non_negative(&key("uptime_s"), g.uptime_s)?;
        let allowed: Option<BTreeSet<usize>> = match &g.zones {
            Some(names) => Some(
                names
                    .iter()
                    .enumerate()
                    .map(|(n, name)| zone_index(format!("instances[{idx}].zones[{n}]"), name))
                    .collect::<Result<_, _>>()?,
            ),
            None => None,
        };
        let width = g.count.to_string().len().max(4);
        for k in 0..g.count {
            let id =
                if g.count == 1 { g.name.clone() } else { format!("{}-{:0width$}", g.name, k + 1) };
            if g.count > 1 {
                check.unique(&key("name"), &id, &mut instance_names)?;
            }
            let group = (g.redundancy > 1).then(|| format!("{}-g{}", g.name, k / g.redundancy + 1));
            let members = group.as_ref().and_then(|group| group_members.get(group));
            let host =
                placer.place(cpu_mips, memory_mb, allowed.as_ref(), members).ok_or_else(|| {
                    check.invalid(
                        key("count"),
                        format!(
                        "instance `{id}` ({cpu_mips} MIPS, {memory_mb} MB) fits on no host that \
                             is on{}: the earlier instances fill them",
                        if allowed.is_some() { " in its zones" } else { "" }
                    ),
                    )
                })?;
            placer.commit(host, cpu_mips, memory_mb);
            if let Some(group) = &group {
                group_members.entry(group.clone()).or_default().insert(host);
            }
            instances.push(Instance {
                id,
                kind: g.kind.clone(),
                cpu_mips,
                memory_mb,
                customer_rank: g.customer_rank,
                customer_importance: importance,
                group,
                mean_utilization: mean.unwrap_or(load.mean),
                uptime_s,
                host,
            });
        }
    }

    // Faults.
    let mut faults = Vec::with_capacity(raw.fault.len());
    for (idx, f) in raw.fault.iter().enumerate() {
        let key = |field: &str| format!("fault[{idx}].{field}");
        let at_s = check.non_negative(&key("at_s"), f.at_s)?;
        let until_s = match f.until_s {
            Some(until) if until.is_finite() && until > at_s => Some(until),
            Some(until) => {
                return Err(check
                    .invalid(key("until_s"), format!("must be after at_s ({at_s}), got {until}")))
            }
            None => None,
        };
        let unexpected = |field: &str, present: bool| -> Result<(), ScenarioError> {
            if present {
                Err(check.invalid(key(field), "not a key of this fault kind"))
            } else {
                Ok(())
            }
        };
        let zone_of = |required: bool| -> Result<Option<usize>, ScenarioError> {
            match &f.zone {
                Some(name) => zone_index(key("zone"), name).map(Some),
                None if required => {
                    Err(check.invalid(key("zone"), "missing; this fault kind needs it"))
                }
                None => Ok(None),
            }
        };
        let kind = match f.kind {
            RawFaultKind::CoolingUnit => {
                unexpected("host", f.host.is_some())?;
                unexpected("mode", f.mode.is_some())?;
                let zone = zone_of(true)?.unwrap_or_default();
                let unit = f.unit.ok_or_else(|| {
                    check.invalid(key("unit"), "missing; a cooling_unit fault needs it")
                })?;
                let n_units = zones[zone].cooling_units_w.len();
                if unit >= n_units {
                    return Err(check.invalid(
                        key("unit"),
                        format!(
                            "zone `{}` has {n_units} cooling unit(s), numbered from 0; got {unit}",
                            zones[zone].name
                        ),
                    ));
                }
                FaultKind::CoolingUnit { zone, unit }
            }
            RawFaultKind::RecoveryLoop => {
                unexpected("host", f.host.is_some())?;
                unexpected("mode", f.mode.is_some())?;
                unexpected("unit", f.unit.is_some())?;
                let zone = zone_of(true)?.unwrap_or_default();
                if zones[zone].recovery_loop_w <= 0.0 {
                    return Err(check.invalid(
                        key("zone"),
                        format!(
                            "zone `{}` has no heat-recovery loop (recovery_loop_w = 0)",
                            zones[zone].name
                        ),
                    ));
                }
                FaultKind::RecoveryLoop { zone }
            }
            RawFaultKind::Sensor => {
                unexpected("unit", f.unit.is_some())?;
                let mode = match f.mode {
                    Some(RawSensorFault::Stale) => SensorFault::Stale,
                    Some(RawSensorFault::Missing) => SensorFault::Missing,
                    None => {
                        return Err(check.invalid(key("mode"), "missing; \"stale\" or \"missing\""))
                    }
                };
                let sensor =
                    match (zone_of(false)?, &f.host) {
                        (Some(zone), None) => SensorId::Zone(zone),
                        (None, Some(name)) => SensorId::Host(
                            hosts.iter().position(|h| &h.id == name).ok_or_else(|| {
                                check.invalid(key("host"), format!("no host has the id `{name}`"))
                            })?,
                        ),
                        _ => return Err(check.invalid(
                            key("zone"),
                            "a sensor fault names exactly one of `zone` (its air sensor) or `host`",
                        )),
                    };
                FaultKind::Sensor { sensor, mode }
            }
        };
        faults.push(Fault { kind, at_s, until_s });
    }

    // Impact weights: the built-in kinds, overridden and extended by the file.
    let mut kind_weight = ImpactWeights::builtin_kind_weights();
    for (kind, &weight) in &raw.impact.kind_weight {
        kind_weight.insert(
            kind.clone(),
            check.non_negative(&format!("impact.kind_weight.{kind}"), weight)?,
        );
    }
    let impact = ImpactWeights {
        kind_weight,
        default_kind_weight: check
            .non_negative("impact.default_kind_weight", raw.impact.default_kind_weight)?,
        migration: check.non_negative("impact.migration", raw.impact.migration)?,
    };

    Ok(Scenario {
        name: raw.name.unwrap_or_else(|| file.to_string()),
        site: raw.site.name,
        duration_s,
        step_s,
        seed: raw.seed,
        boot_s,
        shutdown_s,
        migration_mb_per_s,
        sensor_max_age_s,
        load,
        zones,
        hosts,
        instances,
        faults,
        impact,
        guard: raw.guard,
    })
}

/// The initial placement: what each host has been given so far.
struct Placer<'a> {
    hosts: &'a [Host],
    /// Tie-break order: ties go round the zones (first host of each zone, then the second, …) so
    /// that equal hosts fill evenly across zones rather than zone by zone.
    tie_rank: Vec<(usize, usize)>,
    used_cpu: Vec<f64>,
    used_memory: Vec<f64>,
}

impl<'a> Placer<'a> {
    fn new(hosts: &'a [Host], n_zones: usize) -> Self {
        let mut seen_in_zone = vec![0usize; n_zones];
        let tie_rank = hosts
            .iter()
            .map(|h| {
                seen_in_zone[h.zone] += 1;
                (seen_in_zone[h.zone], h.zone)
            })
            .collect();
        Placer {
            hosts,
            tie_rank,
            used_cpu: vec![0.0; hosts.len()],
            used_memory: vec![0.0; hosts.len()],
        }
    }

    /// The initial host of an instance: among the hosts that are on, in its zones, with room for
    /// its nominal CPU and memory, prefer one without another member of its redundancy group,
    /// then the one with the most free CPU (worst fit, which spreads the load evenly), then the
    /// earliest in `tie_rank`.
    fn place(
        &self,
        cpu_mips: f64,
        memory_mb: f64,
        allowed: Option<&BTreeSet<usize>>,
        members: Option<&BTreeSet<usize>>,
    ) -> Option<usize> {
        let mut best: Option<(bool, f64, (usize, usize), usize)> = None;
        for (idx, host) in self.hosts.iter().enumerate() {
            if !host.initially_on
                || allowed.is_some_and(|zones| !zones.contains(&host.zone))
                || self.used_cpu[idx] + cpu_mips > host.cpu_mips
                || self.used_memory[idx] + memory_mb > host.memory_mb
            {
                continue;
            }
            let shares_group = members.is_some_and(|m| m.contains(&idx));
            let free_cpu = host.cpu_mips - self.used_cpu[idx];
            let rank = self.tie_rank[idx];
            let better = match best {
                None => true,
                Some((best_shares, best_free, best_rank, _)) => {
                    (shares_group, -free_cpu, rank) < (best_shares, -best_free, best_rank)
                }
            };
            if better {
                best = Some((shares_group, free_cpu, rank, idx));
            }
        }
        best.map(|(_, _, _, idx)| idx)
    }

    fn commit(&mut self, host: usize, cpu_mips: f64, memory_mb: f64) {
        self.used_cpu[host] += cpu_mips;
        self.used_memory[host] += memory_mb;
    }
}
