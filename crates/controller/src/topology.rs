//! What the controller knows of its site that no driver reports: zones, racks, each host's
//! model (power curve), capacity, hardware limit, heat target and whether it runs hearth itself.
//! Built from the controller's configuration (or, for the simulated site, from its spec) and
//! fixed for the controller's life; hosts and zones are referred to by index everywhere else.

use drivers::HostId;
use model::PowerCurve;
use serde::Serialize;
use std::collections::HashMap;

/// One cooling zone.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ZoneInfo {
    /// Stable name (`"z0"`); the thermal policy's per-zone thresholds are keyed by it.
    pub id: String,
    /// The zone air's limit, °C (the heat-budget projection keeps the air under it).
    pub limit_c: f64,
    /// Heat removal of the zone's cooling paths when all of them work, W.
    pub cooling_nominal_w: f64,
    /// Zones sharing air or a room with this one (indices).
    pub neighbours: Vec<usize>,
}

/// One host.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HostInfo {
    /// Its id, as every driver names it.
    pub id: HostId,
    /// Index of its zone.
    pub zone: usize,
    /// Its rack's name.
    pub rack: String,
    /// Its model's name (`"ml110-g5"`).
    pub model: String,
    /// Its power curve.
    #[serde(skip)]
    pub curve: PowerCurve,
    /// Processor capacity, cores.
    pub cpus: f64,
    /// Memory, MiB.
    pub memory_mib: f64,
    /// Runs hearth itself: never drained for heat, powered down last for heat safety.
    pub management: bool,
    /// Hardware temperature limit, °C.
    pub limit_c: f64,
}

/// The site: zones and hosts, with an index from host id to position.
#[derive(Clone, Debug, Default)]
pub struct Topology {
    /// Zones.
    pub zones: Vec<ZoneInfo>,
    /// Hosts.
    pub hosts: Vec<HostInfo>,
    by_id: HashMap<HostId, usize>,
}

/// A topology that breaks a rule; the message names the host or zone.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("topology: {0}")]
pub struct TopologyError(pub String);

impl Topology {
    /// Checks and indexes `zones` and `hosts`: unique ids, zones in range, capacities positive.
    pub fn new(zones: Vec<ZoneInfo>, hosts: Vec<HostInfo>) -> Result<Topology, TopologyError> {
        let mut by_id = HashMap::with_capacity(hosts.len());
        let mut zone_ids = std::collections::HashSet::new();
        for zone in &zones {
            if !zone_ids.insert(zone.id.as_str()) {
                return Err(TopologyError(format!("zone `{}` appears twice", zone.id)));
            }
            if !(zone.limit_c.is_finite() && zone.cooling_nominal_w.is_finite())
                || zone.cooling_nominal_w < 0.0
            {
                return Err(TopologyError(format!(
                    "zone `{}`: limit_c and cooling_nominal_w must be finite, cooling ≥ 0",
                    zone.id
                )));
            }
        }
        for (index, host) in hosts.iter().enumerate() {
            if by_id.insert(host.id.clone(), index).is_some() {
                return Err(TopologyError(format!("host `{}` appears twice", host.id)));
            }
            if host.zone >= zones.len() {
                return Err(TopologyError(format!(
                    "host `{}`: zone index {} but there are {} zones",
                    host.id,
                    host.zone,
                    zones.len()
                )));
            }
            let positive = |x: f64| x > 0.0 && x.is_finite();
            if !positive(host.cpus) || !positive(host.memory_mib) {
                return Err(TopologyError(format!(
                    "host `{}`: cpus and memory_mib must be positive and finite",
                    host.id
                )));
            }
        }
        Ok(Topology { zones, hosts, by_id })
    }

    /// The index of the host named `id`.
    pub fn host_index(&self, id: &HostId) -> Option<usize> {
        self.by_id.get(id).copied()
    }
}

/// The zone air limit given to zones of a simulated site, °C (the site's spec has setpoints,
/// not limits; ASHRAE's allowable A1 inlet range ends at 32 °C, a hot aisle runs a few degrees
/// above it).
pub const SITE_ZONE_LIMIT_C: f64 = 35.0;

impl Topology {
    /// The topology of a simulated site: its zones (neighbours: every other zone, one room),
    /// racks and hosts as its spec has them.
    pub fn from_site(spec: &drivers::site::SiteSpec) -> Result<Topology, TopologyError> {
        let n = spec.zones.len();
        let zones = spec
            .zones
            .iter()
            .enumerate()
            .map(|(z, zone)| ZoneInfo {
                id: zone.id.clone(),
                limit_c: SITE_ZONE_LIMIT_C,
                cooling_nominal_w: f64::from(zone.cooling_units) * zone.cooling_unit_w
                    + zone.heat_recovery_w,
                neighbours: (0..n).filter(|&o| o != z).collect(),
            })
            .collect();
        let mut hosts = Vec::new();
        for (z, zone) in spec.zones.iter().enumerate() {
            for rack in &zone.racks {
                for host in &rack.hosts {
                    hosts.push(HostInfo {
                        id: HostId::new(host.id.clone()),
                        zone: z,
                        rack: rack.id.clone(),
                        model: host.model.name().to_string(),
                        curve: host.model.curve(),
                        cpus: host.cpus,
                        memory_mib: host.memory_mib,
                        management: host.management,
                        limit_c: host.limit_c,
                    });
                }
            }
        }
        Topology::new(zones, hosts)
    }
}
