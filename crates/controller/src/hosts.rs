//! The hosts file (`hearth controller --hosts FILE`, `hearth hosts check --hosts FILE`): a real
//! site's zones and hosts, each host with its model, capacity and drivers (power, sensors,
//! compute; `drivers::config`). [`HostsFile::topology`] gives the controller's topology and
//! [`HostsFile::drivers`] one routed driver over the mix; [`check`] asks each configured driver
//! of each host for something cheap and reports what answers.
//!
//! ```toml
//! [[zones]]
//! id = "z0"
//! cooling_nominal_w = 20000
//!
//! [[hosts]]
//! id = "r1-h01"
//! zone = "z0"
//! rack = "r1"
//! model = "ml110-g5"
//! cpus = 8
//! memory_mib = 16384
//! power = { driver = "ipmi", address = "10.0.0.11", user = "admin", password_env = "BMC_PASS" }
//! sensors = { driver = "bmc" }
//! compute = { driver = "process" }
//! ```

use crate::topology::{HostInfo, Topology, ZoneInfo};
use drivers::config::{ComputeSpec, HostDrivers, PowerSpec, SensorsSpec};
use drivers::site::HostModel;
use drivers::{Compute, HostId, Power, Sensors};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

fn default_limit_c() -> f64 {
    crate::topology::SITE_ZONE_LIMIT_C
}

fn default_host_limit_c() -> f64 {
    80.0
}

/// One zone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneEntry {
    /// Id.
    pub id: String,
    /// Air limit, °C. Default 35.
    #[serde(default = "default_limit_c")]
    pub limit_c: f64,
    /// Heat removal of all its cooling paths, W.
    pub cooling_nominal_w: f64,
    /// Zones sharing its air (ids).
    #[serde(default)]
    pub neighbours: Vec<String>,
}

/// One host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostEntry {
    /// Id, as the drivers name it.
    pub id: String,
    /// Zone id.
    pub zone: String,
    /// Rack.
    #[serde(default)]
    pub rack: String,
    /// Model (its power curve): `ml110-g4` or `ml110-g5`.
    pub model: HostModel,
    /// Cores.
    pub cpus: f64,
    /// Memory, MiB.
    pub memory_mib: f64,
    /// Runs hearth itself.
    #[serde(default)]
    pub management: bool,
    /// Hardware temperature limit, °C. Default 80.
    #[serde(default = "default_host_limit_c")]
    pub limit_c: f64,
    /// Power driver.
    #[serde(default)]
    pub power: PowerSpec,
    /// Sensors.
    #[serde(default)]
    pub sensors: SensorsSpec,
    /// Compute driver.
    #[serde(default)]
    pub compute: ComputeSpec,
}

/// The whole file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostsFile {
    /// Zones.
    pub zones: Vec<ZoneEntry>,
    /// Hosts.
    pub hosts: Vec<HostEntry>,
}

impl HostsFile {
    /// Parses the TOML text; errors name the key and line.
    pub fn parse(text: &str) -> Result<HostsFile, String> {
        model::toml_text::from_toml(text).map_err(|e| e.to_string())
    }

    /// The controller's topology; errors name the host or zone.
    pub fn topology(&self) -> Result<Topology, String> {
        let zone_index = |id: &str| self.zones.iter().position(|z| z.id == id);
        let mut zones = Vec::new();
        for zone in &self.zones {
            let mut neighbours = Vec::new();
            for n in &zone.neighbours {
                neighbours.push(
                    zone_index(n)
                        .ok_or_else(|| format!("zones[{}].neighbours: no zone `{n}`", zone.id))?,
                );
            }
            zones.push(ZoneInfo {
                id: zone.id.clone(),
                limit_c: zone.limit_c,
                cooling_nominal_w: zone.cooling_nominal_w,
                neighbours,
            });
        }
        let mut hosts = Vec::new();
        for host in &self.hosts {
            let zone = zone_index(&host.zone)
                .ok_or_else(|| format!("hosts[{}].zone: no zone `{}`", host.id, host.zone))?;
            hosts.push(HostInfo {
                id: HostId::new(host.id.clone()),
                zone,
                rack: host.rack.clone(),
                model: host.model.name().to_string(),
                curve: host.model.curve(),
                cpus: host.cpus,
                memory_mib: host.memory_mib,
                management: host.management,
                limit_c: host.limit_c,
            });
        }
        Topology::new(zones, hosts).map_err(|e| e.to_string())
    }

    /// One routed driver over every host's configured drivers.
    pub fn drivers(
        &self,
        clock: Arc<dyn drivers::Clock>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<drivers::route::Routed, String> {
        let entries: Vec<(HostId, HostDrivers)> = self
            .hosts
            .iter()
            .map(|h| {
                (
                    HostId::new(h.id.clone()),
                    HostDrivers {
                        power: h.power.clone(),
                        sensors: h.sensors.clone(),
                        compute: h.compute.clone(),
                    },
                )
            })
            .collect();
        drivers::config::build(&entries, clock, env).map_err(|e| e.to_string())
    }
}

/// One line of a health check: a host's driver for one role, and what it answered.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckRow {
    /// Host.
    pub host: String,
    /// `power`, `sensors` or `compute`.
    pub role: &'static str,
    /// The driver kind (`ipmi`, `redfish`, `hwmon`, `process`, `none`).
    pub driver: String,
    /// It answered.
    pub ok: bool,
    /// What it answered, or why it did not.
    pub detail: String,
}

/// Asks every configured driver of every host for something cheap: the power state, the
/// sensors, the instances. Roles with no driver are listed as `none` (not a failure).
pub fn check(file: &HostsFile, routed: &drivers::route::Routed) -> Vec<CheckRow> {
    let mut rows = Vec::new();
    for entry in &file.hosts {
        let host = HostId::new(entry.id.clone());
        let [power, sensors, compute] = routed.kinds(&host).map(|k| k.map(String::from));
        let row = |role, driver: &Option<String>, result: Result<String, String>| CheckRow {
            host: entry.id.clone(),
            role,
            driver: driver.clone().unwrap_or_else(|| "none".into()),
            ok: result.is_ok() || driver.is_none(),
            detail: match (driver, result) {
                (None, _) => "not configured".into(),
                (_, Ok(text)) | (_, Err(text)) => text,
            },
        };
        let power_result = match &power {
            Some(_) => routed.state(&host).map(|s| format!("power {s}")).map_err(|e| e.to_string()),
            None => Ok(String::new()),
        };
        rows.push(row("power", &power, power_result));
        let sensors_result = match &sensors {
            Some(_) => routed.temperatures(&host).map_err(|e| e.to_string()).map(|temps| {
                let read = temps.iter().filter(|t| t.celsius.value().is_some()).count();
                let draw = match routed.power_draw(&host) {
                    Ok(d) => match d.watts.value() {
                        Some(w) => format!("; power {w:.0} W"),
                        None => format!("; power {}", d.watts),
                    },
                    Err(e) => format!("; no power reading ({e})"),
                };
                format!("{} temperature sensor(s), {read} reading{draw}", temps.len())
            }),
            None => Ok(String::new()),
        };
        rows.push(row("sensors", &sensors, sensors_result));
        let compute_result = match &compute {
            Some(_) => routed
                .instances(&host)
                .map(|list| format!("{} instance(s)", list.len()))
                .map_err(|e| e.to_string()),
            None => Ok(String::new()),
        };
        rows.push(row("compute", &compute, compute_result));
    }
    rows
}
