//! What a simulated site is made of: [`SiteSpec`] (zones of racks of hosts, instances with
//! their load, scripted cooling events, operation timings), read from TOML or JSON with errors
//! that name the key, validated before a [`super::Site`] is built from it, and the seeded
//! [`SiteSpec::demo`] site of `hearth demo`.

use std::collections::{HashMap, HashSet};
use std::f64::consts::TAU;
use std::path::Path;

use model::{PowerCurve, SplitMix64};
use serde::{Deserialize, Serialize};

use super::SiteError;
use crate::power::PowerState;

/// A whole site: its zones, hosts, instances, scripted events and operation timings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSpec {
    /// Seeds the instances' load noise (and nothing else: the site is deterministic).
    pub seed: u64,
    /// Site seconds per clock second (60 for the demo, 1 for tests). Default 1.
    #[serde(default = "one")]
    pub speed: f64,
    /// The cooling zones.
    pub zones: Vec<ZoneSpec>,
    /// The instances and the hosts they start on.
    #[serde(default)]
    pub instances: Vec<InstanceSpec>,
    /// Scripted events, applied at their site times.
    #[serde(default)]
    pub events: Vec<EventSpec>,
    /// How long operations take.
    #[serde(default)]
    pub timing: TimingSpec,
}

/// A cooling zone: one body of air, its cooling units and its heat-recovery loop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneSpec {
    /// The zone's id.
    pub id: String,
    /// The cooling's setpoint, °C. Default 24.
    #[serde(default = "default_setpoint_c")]
    pub setpoint_c: f64,
    /// Heat capacity of the air and the mass that follows it, J/K.
    pub air_heat_capacity_j_per_k: f64,
    /// Time constant of the cooling's control loop, s. Default 120.
    #[serde(default = "default_response_s")]
    pub response_s: f64,
    /// Number of cooling units.
    pub cooling_units: u32,
    /// What one unit removes at most, W.
    pub cooling_unit_w: f64,
    /// What the heat-recovery loop removes at most while it is up, W. Default 0.
    #[serde(default)]
    pub heat_recovery_w: f64,
    /// The racks.
    pub racks: Vec<RackSpec>,
}

/// A rack of hosts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RackSpec {
    /// The rack's id.
    pub id: String,
    /// Its hosts.
    pub hosts: Vec<HostSpec>,
}

/// A host model with a built-in SPECpower curve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostModel {
    /// HP ProLiant ML110 G4 (86–117 W).
    #[serde(rename = "ml110-g4")]
    Ml110G4,
    /// HP ProLiant ML110 G5 (93.7–135 W).
    #[serde(rename = "ml110-g5")]
    Ml110G5,
}

impl HostModel {
    /// The model's name, as spec and hosts files write it (`"ml110-g5"`).
    pub fn name(self) -> &'static str {
        match self {
            HostModel::Ml110G4 => "ml110-g4",
            HostModel::Ml110G5 => "ml110-g5",
        }
    }

    /// The model's power curve.
    pub fn curve(self) -> PowerCurve {
        match self {
            HostModel::Ml110G4 => PowerCurve::ml110_g4(),
            HostModel::Ml110G5 => PowerCurve::ml110_g5(),
        }
    }
}

/// A host's power, as a spec or a state file writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SitePower {
    /// Powered on.
    On,
    /// Powered off.
    Off,
}

impl From<SitePower> for PowerState {
    fn from(power: SitePower) -> PowerState {
        match power {
            SitePower::On => PowerState::On,
            SitePower::Off => PowerState::Off,
        }
    }
}

/// A host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// The host's id, as every driver call names it.
    pub id: String,
    /// `"ml110-g5"` or `"ml110-g4"`: picks the power curve.
    pub model: HostModel,
    /// CPUs (cores) instances may reserve.
    pub cpus: f64,
    /// Memory instances may reserve, MiB.
    pub memory_mib: f64,
    /// A management host (the controller's own); reported in the snapshot. Default false.
    #[serde(default)]
    pub management: bool,
    /// Power at site time 0. Default on.
    #[serde(default = "default_power")]
    pub power: SitePower,
    /// Heat capacity, J/K. Default 2000 (with the resistance, a 400 s time constant).
    #[serde(default = "default_host_heat_capacity")]
    pub heat_capacity_j_per_k: f64,
    /// Thermal resistance to the inlet air, K/W. Default 0.2 (135 W → 27 K above the inlet).
    #[serde(default = "default_resistance")]
    pub resistance_k_per_w: f64,
    /// The hardware's CPU temperature limit, °C (reported; the site does not trip). Default 75.
    #[serde(default = "default_limit_c")]
    pub limit_c: f64,
}

/// An instance and where it starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceSpec {
    /// The instance's id.
    pub id: String,
    /// The host it is defined on at site time 0.
    pub host: String,
    /// CPUs it reserves.
    pub cpus: f64,
    /// Memory it reserves, MiB (a live move copies it at `timing.live_mib_per_s`).
    pub memory_mib: f64,
    /// Its CPU use over time.
    pub load: LoadSpec,
    /// Whether it may be moved. Default true.
    #[serde(default = "yes")]
    pub movable: bool,
    /// Running (or stopped) at site time 0. Default true.
    #[serde(default = "yes")]
    pub running: bool,
}

/// An instance's CPU use (fraction of its CPUs) at site time `t`:
/// `clamp(mean + amplitude·sin(2π·t/period_s + phase) + noise·n(t), 0, 1)`, with `n(t)` a
/// seeded value in [−1, 1) drawn anew each site minute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSpec {
    /// Mean use, in [0, 1].
    pub mean: f64,
    /// Amplitude of the sine. Default 0.
    #[serde(default)]
    pub amplitude: f64,
    /// Period of the sine, s. Default 3600.
    #[serde(default = "default_period_s")]
    pub period_s: f64,
    /// Phase of the sine, radians. Default 0.
    #[serde(default)]
    pub phase: f64,
    /// Scale of the per-minute noise. Default 0.
    #[serde(default)]
    pub noise: f64,
}

impl LoadSpec {
    /// A constant use.
    pub fn constant(mean: f64) -> LoadSpec {
        LoadSpec { mean, amplitude: 0.0, period_s: default_period_s(), phase: 0.0, noise: 0.0 }
    }
}

/// A scripted event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    /// When, in site seconds.
    pub at_s: f64,
    /// What (in TOML: `kind.cooling_failure = { zone = "z0", units = 2, for_s = 1800 }`).
    pub kind: EventKind,
}

/// What a scripted event does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum EventKind {
    /// `units` of the zone's cooling units fail, and recover after `for_s` (never if absent).
    CoolingFailure {
        /// The zone's id.
        zone: String,
        /// How many units fail.
        units: u32,
        /// How long until they recover, s.
        #[serde(default)]
        for_s: Option<f64>,
    },
    /// The zone's heat-recovery loop stops, and restarts after `for_s` (never if absent).
    HeatRecoveryDown {
        /// The zone's id.
        zone: String,
        /// How long until it is back, s.
        #[serde(default)]
        for_s: Option<f64>,
    },
}

/// How long operations take, in site seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimingSpec {
    /// Power on. Default 60.
    pub boot_s: f64,
    /// Power off and soft off. Default 30.
    pub shutdown_s: f64,
    /// Live migration copy rate, MiB/s. Default 1000.
    pub live_mib_per_s: f64,
    /// A cold move. Default 20.
    pub cold_move_s: f64,
    /// Starting or stopping an instance. Default 5.
    pub start_stop_s: f64,
    /// A compute operation not done by then fails, the instance left where it was. Default 600.
    pub op_deadline_s: f64,
}

impl Default for TimingSpec {
    fn default() -> TimingSpec {
        TimingSpec {
            boot_s: 60.0,
            shutdown_s: 30.0,
            live_mib_per_s: 1000.0,
            cold_move_s: 20.0,
            start_stop_s: 5.0,
            op_deadline_s: 600.0,
        }
    }
}

fn one() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}
fn default_setpoint_c() -> f64 {
    24.0
}
fn default_response_s() -> f64 {
    120.0
}
fn default_power() -> SitePower {
    SitePower::On
}
fn default_host_heat_capacity() -> f64 {
    2000.0
}
fn default_resistance() -> f64 {
    0.2
}
fn default_limit_c() -> f64 {
    75.0
}
fn default_period_s() -> f64 {
    3600.0
}

/// The demo's nominal run, site seconds (2 h); its cooling failure starts at 40 % of it.
pub const DEMO_RUN_S: f64 = 7200.0;

impl HostSpec {
    /// An ML110 G5 with 8 CPUs and 16 GiB, on, with the default thermal numbers.
    pub fn ml110_g5(id: &str) -> HostSpec {
        HostSpec {
            id: id.to_string(),
            model: HostModel::Ml110G5,
            cpus: 8.0,
            memory_mib: 16384.0,
            management: false,
            power: SitePower::On,
            heat_capacity_j_per_k: default_host_heat_capacity(),
            resistance_k_per_w: default_resistance(),
            limit_c: default_limit_c(),
        }
    }
}

impl SiteSpec {
    /// Reads TOML text; errors name the key and line, then [`SiteSpec::validate`].
    pub fn from_toml(text: &str) -> Result<SiteSpec, SiteError> {
        let spec: SiteSpec = model::toml_text::from_toml(text).map_err(|err| SiteError::Parse {
            origin: "TOML".to_string(),
            location: err.location,
            key: err.key,
            message: err.message,
        })?;
        spec.validate()?;
        Ok(spec)
    }

    /// Reads JSON text (errors name the line and column), then [`SiteSpec::validate`].
    pub fn from_json(text: &str) -> Result<SiteSpec, SiteError> {
        let spec: SiteSpec = serde_json::from_str(text).map_err(|err| SiteError::Parse {
            origin: "JSON".to_string(),
            location: Some((err.line(), err.column())),
            key: None,
            message: err.to_string(),
        })?;
        spec.validate()?;
        Ok(spec)
    }

    /// Reads a spec file: JSON if its name ends in `.json`, TOML otherwise. Errors name the file.
    pub fn load(path: &Path) -> Result<SiteSpec, SiteError> {
        let text = std::fs::read_to_string(path).map_err(|source| SiteError::Io {
            path: path.to_path_buf(),
            action: "read",
            source,
        })?;
        let parsed = if path.extension().is_some_and(|ext| ext == "json") {
            SiteSpec::from_json(&text)
        } else {
            SiteSpec::from_toml(&text)
        };
        parsed.map_err(|err| match err {
            SiteError::Parse { location, key, message, .. } => {
                SiteError::Parse { origin: path.display().to_string(), location, key, message }
            }
            other => other,
        })
    }

    /// Every host, with its zone's and rack's index, in spec order.
    pub fn hosts(&self) -> impl Iterator<Item = (usize, usize, &HostSpec)> {
        self.zones.iter().enumerate().flat_map(|(zone_idx, zone)| {
            zone.racks.iter().enumerate().flat_map(move |(rack_idx, rack)| {
                rack.hosts.iter().map(move |host| (zone_idx, rack_idx, host))
            })
        })
    }

    /// Checks what serde cannot: unique ids, references that resolve, finite numbers in range,
    /// instances that fit their hosts. The error names the key, with ids in brackets
    /// (`zones[z0].racks[r1].hosts[h07].cpus`).
    pub fn validate(&self) -> Result<(), SiteError> {
        let bad = |key: String, message: String| Err(SiteError::Invalid { key, message });
        positive("speed", self.speed)?;
        if self.zones.is_empty() {
            return bad("zones".into(), "empty; a site needs at least one zone".into());
        }
        let t = &self.timing;
        for (name, value) in [
            ("boot_s", t.boot_s),
            ("shutdown_s", t.shutdown_s),
            ("live_mib_per_s", t.live_mib_per_s),
            ("cold_move_s", t.cold_move_s),
            ("start_stop_s", t.start_stop_s),
            ("op_deadline_s", t.op_deadline_s),
        ] {
            positive(&format!("timing.{name}"), value)?;
        }
        let (mut zone_ids, mut rack_ids) = (HashSet::new(), HashSet::new());
        // Every host by id, for the instances' lookups.
        let mut host_ids: HashMap<&str, &HostSpec> = HashMap::new();
        for zone in &self.zones {
            let key = |field: &str| format!("zones[{}].{field}", zone.id);
            if !zone_ids.insert(zone.id.as_str()) {
                return bad(key("id"), format!("zone id {:?} is used twice", zone.id));
            }
            finite(&key("setpoint_c"), zone.setpoint_c)?;
            positive(&key("air_heat_capacity_j_per_k"), zone.air_heat_capacity_j_per_k)?;
            positive(&key("response_s"), zone.response_s)?;
            non_negative(&key("cooling_unit_w"), zone.cooling_unit_w)?;
            non_negative(&key("heat_recovery_w"), zone.heat_recovery_w)?;
            for rack in &zone.racks {
                if !rack_ids.insert(rack.id.as_str()) {
                    return bad(key("racks"), format!("rack id {:?} is used twice", rack.id));
                }
                for host in &rack.hosts {
                    let key = |field: &str| {
                        format!("zones[{}].racks[{}].hosts[{}].{field}", zone.id, rack.id, host.id)
                    };
                    if host_ids.insert(host.id.as_str(), host).is_some() {
                        return bad(key("id"), format!("host id {:?} is used twice", host.id));
                    }
                    positive(&key("cpus"), host.cpus)?;
                    positive(&key("memory_mib"), host.memory_mib)?;
                    positive(&key("heat_capacity_j_per_k"), host.heat_capacity_j_per_k)?;
                    positive(&key("resistance_k_per_w"), host.resistance_k_per_w)?;
                    finite(&key("limit_c"), host.limit_c)?;
                }
            }
        }
        let mut instance_ids = HashSet::new();
        let mut reserved: HashMap<&str, (f64, f64)> = HashMap::new();
        for instance in &self.instances {
            let key = |field: &str| format!("instances[{}].{field}", instance.id);
            if !instance_ids.insert(instance.id.as_str()) {
                return bad(key("id"), format!("instance id {:?} is used twice", instance.id));
            }
            let Some(&host) = host_ids.get(instance.host.as_str()) else {
                return bad(key("host"), format!("no host {:?} in any zone", instance.host));
            };
            positive(&key("cpus"), instance.cpus)?;
            positive(&key("memory_mib"), instance.memory_mib)?;
            let load = &instance.load;
            in_unit(&key("load.mean"), load.mean)?;
            non_negative(&key("load.amplitude"), load.amplitude)?;
            positive(&key("load.period_s"), load.period_s)?;
            finite(&key("load.phase"), load.phase)?;
            non_negative(&key("load.noise"), load.noise)?;
            if instance.running && host.power == SitePower::Off {
                return bad(
                    key("running"),
                    format!(
                        "true, but host {} starts off; a running instance needs it on",
                        host.id
                    ),
                );
            }
            let used = reserved.entry(host.id.as_str()).or_default();
            used.0 += instance.cpus;
            used.1 += instance.memory_mib;
            if used.0 > host.cpus + 1e-9 || used.1 > host.memory_mib + 1e-9 {
                return bad(
                    key("host"),
                    format!(
                        "host {} is full: its instances reserve {} CPUs and {} MiB with this one, \
                         it has {} and {}",
                        host.id, used.0, used.1, host.cpus, host.memory_mib
                    ),
                );
            }
        }
        for (idx, event) in self.events.iter().enumerate() {
            non_negative(&format!("events[{idx}].at_s"), event.at_s)?;
            let (variant, zone_id, for_s) = match &event.kind {
                EventKind::CoolingFailure { zone, for_s, .. } => ("cooling_failure", zone, for_s),
                EventKind::HeatRecoveryDown { zone, for_s } => ("heat_recovery_down", zone, for_s),
            };
            let key = |field: &str| format!("events[{idx}].kind.{variant}.{field}");
            let Some(zone) = self.zones.iter().find(|zone| zone.id == *zone_id) else {
                return bad(key("zone"), format!("no zone {zone_id:?}"));
            };
            if let Some(for_s) = for_s {
                positive(&key("for_s"), *for_s)?;
            }
            if let EventKind::CoolingFailure { units, .. } = &event.kind {
                if *units == 0 || *units > zone.cooling_units {
                    return bad(
                        key("units"),
                        format!("{units}; zone {} has {} units", zone.id, zone.cooling_units),
                    );
                }
            }
        }
        Ok(())
    }

    /// A small site for tests: zone `z0` (3 cooling units of 400 W, no heat recovery, air
    /// 20 kJ/K), hosts `h1`, `h2` (on) and `h3` (off), ML110 G5 with 8 CPUs and 16 GiB; `vm1`
    /// (2 CPUs, 4 GiB) and `vm2` (4 CPUs, 8 GiB) on h1, `vm3` (2 CPUs, 2 GiB) on h2, all at a
    /// constant use of 0.5; speed 1, default timings, no events.
    pub fn small() -> SiteSpec {
        let off = HostSpec { power: SitePower::Off, ..HostSpec::ml110_g5("h3") };
        let instance = |id: &str, host: &str, cpus: f64, memory_mib: f64| InstanceSpec {
            id: id.to_string(),
            host: host.to_string(),
            cpus,
            memory_mib,
            load: LoadSpec::constant(0.5),
            movable: true,
            running: true,
        };
        SiteSpec {
            seed: 1,
            speed: 1.0,
            zones: vec![ZoneSpec {
                id: "z0".to_string(),
                setpoint_c: 24.0,
                air_heat_capacity_j_per_k: 20_000.0,
                response_s: 120.0,
                cooling_units: 3,
                cooling_unit_w: 400.0,
                heat_recovery_w: 0.0,
                racks: vec![RackSpec {
                    id: "r0".to_string(),
                    hosts: vec![HostSpec::ml110_g5("h1"), HostSpec::ml110_g5("h2"), off],
                }],
            }],
            instances: vec![
                instance("vm1", "h1", 2.0, 4096.0),
                instance("vm2", "h1", 4.0, 8192.0),
                instance("vm3", "h2", 2.0, 2048.0),
            ],
            events: Vec::new(),
            timing: TimingSpec::default(),
        }
    }

    /// The `hearth demo` site, deterministic in `seed`:
    ///
    /// - `hosts` hosts `h00`, `h01`, … in `zones` zones `z0`, … (contiguous blocks, sizes
    ///   differing by at most one; `zones` is clamped to 1..=hosts), racks of at most 12
    ///   (`z0r0`, …). Every host is an ML110 G5 (93.7–135 W) reserving 8 CPUs and 16 GiB: the
    ///   G5's two cores overcommitted 4:1, as small private clouds do. `h00` is the management
    ///   host.
    /// - Each host gets instances `vm000`, … of 1 to 3 CPUs (2 GiB per CPU) until they reserve
    ///   4–6 of its 8 CPUs (about 3 per host), so every host keeps room to take some. Each uses
    ///   a mean of 0.65–0.9 of its CPUs, plus a sine of amplitude 0.05–0.15 with a 1 h period
    ///   and a random phase, plus noise 0.05: hosts run about 30–70 % CPU, 46–51 % on average
    ///   over seeds (≈ 115 W each). About 1 instance in 20 is not movable.
    /// - Each zone of n hosts: air 5 kJ/K per host (60 kJ/K for 12), response 120 s, setpoint
    ///   24 °C, heat recovery 25 W per host (300 W), and 3 cooling units of
    ///   `(n·135 W − recovery)/2` (660 W for 12), so two units and the loop carry the zone
    ///   even at full load (1620 W), and three leave a wide margin: the air stays at 24 °C.
    /// - One event: 2 of zone `z0`'s 3 units fail at 40 % of [`DEMO_RUN_S`] (2880 s) for
    ///   30 min. One unit and the loop (960 W) then fall ≈ 400 W short of the zone's ≈ 1370 W,
    ///   so with nothing powered down its air passes 32 °C after ≈ 19 min and peaks at
    ///   36–37 °C when the units recover (CPUs ≈ 60 °C, under their 75 °C limit); 30 min after
    ///   the repair it is back at 24 °C.
    /// - Speed 60 (an hour of site time per clock minute), default timings.
    pub fn demo(hosts: usize, zones: usize, seed: u64) -> SiteSpec {
        let n_zones = zones.clamp(1, hosts.max(1));
        let mut rng = SplitMix64::new(seed);
        let mut zone_specs = Vec::with_capacity(n_zones);
        let mut instances: Vec<InstanceSpec> = Vec::new();
        let mut host_idx = 0;
        for zone_idx in 0..n_zones {
            let n_in_zone = (zone_idx + 1) * hosts / n_zones - zone_idx * hosts / n_zones;
            let mut racks = Vec::new();
            for (rack_idx, first) in (0..n_in_zone).step_by(12).enumerate() {
                let mut rack_hosts = Vec::new();
                for _ in first..(first + 12).min(n_in_zone) {
                    let id = format!("h{host_idx:02}");
                    let target_cpus = 4 + rng.below(3);
                    let mut reserved = 0;
                    while reserved < target_cpus {
                        let cpus = [1, 2, 2, 3][rng.below(4)].min(target_cpus - reserved);
                        reserved += cpus;
                        let load = LoadSpec {
                            mean: rng.uniform(0.65, 0.9),
                            amplitude: rng.uniform(0.05, 0.15),
                            period_s: 3600.0,
                            phase: rng.uniform(0.0, TAU),
                            noise: 0.05,
                        };
                        instances.push(InstanceSpec {
                            id: format!("vm{:03}", instances.len()),
                            host: id.clone(),
                            cpus: cpus as f64,
                            memory_mib: 2048.0 * cpus as f64,
                            load,
                            movable: !rng.chance(0.05),
                            running: true,
                        });
                    }
                    rack_hosts
                        .push(HostSpec { management: host_idx == 0, ..HostSpec::ml110_g5(&id) });
                    host_idx += 1;
                }
                racks.push(RackSpec { id: format!("z{zone_idx}r{rack_idx}"), hosts: rack_hosts });
            }
            let n = n_in_zone.max(1) as f64;
            let recovery_w = 25.0 * n;
            zone_specs.push(ZoneSpec {
                id: format!("z{zone_idx}"),
                setpoint_c: 24.0,
                air_heat_capacity_j_per_k: 5000.0 * n,
                response_s: 120.0,
                cooling_units: 3,
                cooling_unit_w: (n * 135.0 - recovery_w) / 2.0,
                heat_recovery_w: recovery_w,
                racks,
            });
        }
        SiteSpec {
            seed,
            speed: 60.0,
            zones: zone_specs,
            instances,
            events: vec![EventSpec {
                at_s: 0.4 * DEMO_RUN_S,
                kind: EventKind::CoolingFailure {
                    zone: "z0".to_string(),
                    units: 2,
                    for_s: Some(1800.0),
                },
            }],
            timing: TimingSpec::default(),
        }
    }
}

fn finite(key: &str, value: f64) -> Result<(), SiteError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(SiteError::Invalid {
            key: key.to_string(),
            message: format!("{value}; expected a finite number"),
        })
    }
}

fn positive(key: &str, value: f64) -> Result<(), SiteError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(SiteError::Invalid {
            key: key.to_string(),
            message: format!("{value}; expected a positive number"),
        })
    }
}

fn non_negative(key: &str, value: f64) -> Result<(), SiteError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(SiteError::Invalid {
            key: key.to_string(),
            message: format!("{value}; expected a finite, non-negative number"),
        })
    }
}

fn in_unit(key: &str, value: f64) -> Result<(), SiteError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(SiteError::Invalid {
            key: key.to_string(),
            message: format!("{value}; expected 0 to 1"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_name_is_its_serde_name() {
        for model in [HostModel::Ml110G4, HostModel::Ml110G5] {
            assert_eq!(serde_json::to_value(model).unwrap(), model.name());
        }
    }
}
