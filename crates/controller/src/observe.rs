//! Observe: one read of every host through the drivers (power state, temperatures, power draw,
//! instances) and of every zone's cooling, into an [`Observed`] snapshot the decision code takes
//! as plain data. A host whose driver fails is kept with the error, never dropped silently:
//! the planner leaves it and its instances alone and the API shows why.

use crate::topology::Topology;
use drivers::{Compute, Cooling, Facility, InstanceInfo, Power, PowerState, Sensors};
use serde::Serialize;
use std::sync::Arc;

/// The drivers the controller acts through; the executor and [`observe`] are their only callers.
#[derive(Clone)]
pub struct Drivers {
    /// Host power.
    pub power: Arc<dyn Power>,
    /// Host sensors.
    pub sensors: Arc<dyn Sensors>,
    /// Instances.
    pub compute: Arc<dyn Compute>,
    /// Zone cooling, when a facility feed exists.
    pub facility: Option<Arc<dyn Facility>>,
}

impl Drivers {
    /// Every driver from one simulated site (it implements all four traits).
    pub fn from_site(site: Arc<drivers::site::Site>) -> Drivers {
        Drivers {
            power: site.clone(),
            sensors: site.clone(),
            compute: site.clone(),
            facility: Some(site),
        }
    }
}

/// One host as read.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HostObs {
    /// Power state (`Unknown` when the read failed).
    pub power: PowerState,
    /// Inlet (zone air) temperature, °C.
    pub inlet_c: Option<f64>,
    /// Hottest internal temperature, °C.
    pub temp_c: Option<f64>,
    /// Power draw, W.
    pub power_w: Option<f64>,
    /// Processor use of its running instances, in [0, 1].
    pub cpu_use: f64,
    /// What failed while reading it.
    pub error: Option<String>,
}

/// One instance as read, with the index of the host it is defined on.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InstanceObs {
    /// What the compute driver listed.
    pub info: InstanceInfo,
    /// Index of its host in the topology.
    pub host: usize,
}

/// Everything read in one observe pass.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Observed {
    /// The controller's policy time of the read, s.
    pub at_s: f64,
    /// Per host, in topology order.
    pub hosts: Vec<HostObs>,
    /// Every instance found, host by host.
    pub instances: Vec<InstanceObs>,
    /// Per zone, in topology order: the facility's report, if any.
    pub cooling: Vec<Option<Cooling>>,
    /// Facility errors and instances listed under an unknown host.
    pub errors: Vec<String>,
}

/// Whether a sensor name reads the air entering the host.
fn is_inlet(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.contains("inlet") || name.contains("ambient")
}

/// Reads every host and zone through `drivers`.
pub fn observe(drivers: &Drivers, topology: &Topology, at_s: f64) -> Observed {
    let mut hosts = Vec::with_capacity(topology.hosts.len());
    let mut instances = Vec::new();
    let mut errors = Vec::new();
    for (index, host) in topology.hosts.iter().enumerate() {
        let mut obs = HostObs {
            power: PowerState::Unknown,
            inlet_c: None,
            temp_c: None,
            power_w: None,
            cpu_use: 0.0,
            error: None,
        };
        let mut fail = |what: &str, err: drivers::DriverError| {
            let text = format!("{what}: {err}");
            obs.error = Some(match obs.error.take() {
                Some(before) => format!("{before}; {text}"),
                None => text,
            });
        };
        match drivers.power.state(&host.id) {
            Ok(state) => obs.power = state,
            Err(err) => fail("power state", err),
        }
        match drivers.sensors.temperatures(&host.id) {
            Ok(temps) => {
                for t in temps {
                    let Some(value) = t.celsius.value() else { continue };
                    let slot = if is_inlet(&t.name) { &mut obs.inlet_c } else { &mut obs.temp_c };
                    *slot = Some(slot.map_or(value, |v: f64| v.max(value)));
                }
            }
            Err(err) => fail("temperatures", err),
        }
        match drivers.sensors.power_draw(&host.id) {
            Ok(draw) => obs.power_w = draw.watts.value(),
            Err(err) => fail("power draw", err),
        }
        match drivers.compute.instances(&host.id) {
            Ok(list) => {
                let mut used = 0.0;
                for info in list {
                    if info.host != host.id {
                        errors.push(format!(
                            "instance {} listed by host {} says it is on {}",
                            info.id, host.id, info.host
                        ));
                        continue;
                    }
                    if info.state != drivers::InstanceState::Stopped {
                        used += info.cpus * info.cpu_use.unwrap_or(1.0);
                    }
                    instances.push(InstanceObs { info, host: index });
                }
                obs.cpu_use = (used / host.cpus).clamp(0.0, 1.0);
            }
            Err(err) => fail("instances", err),
        }
        hosts.push(obs);
    }
    let cooling = topology
        .zones
        .iter()
        .map(|zone| {
            let facility = drivers.facility.as_ref()?;
            match facility.cooling(&zone.id) {
                Ok(cooling) => Some(cooling),
                Err(err) => {
                    errors.push(format!("zone {} cooling: {err}", zone.id));
                    None
                }
            }
        })
        .collect();
    Observed { at_s, hosts, instances, cooling, errors }
}
