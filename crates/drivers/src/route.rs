//! [`Routed`]: one `Power`, `Sensors` and `Compute` over a fleet whose hosts use different
//! drivers (IPMI here, Redfish there; libvirt on these hosts, containers on those). Every call
//! names a host, or an instance or operation the router has seen, and goes to that host's
//! driver. Power operation ids are renumbered so two drivers' ids never collide.
//!
//! Moves between hosts of different compute drivers are refused: a VM cannot become a
//! container. Capabilities are the union of the drivers': the controller's ladder then tries
//! what some driver can do, and a driver that cannot refuses the kind it does not support.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::compute::{Compute, ComputeOp, InstanceInfo, MoveCapabilities};
use crate::error::DriverError;
use crate::host::HostId;
use crate::power::{OpStatus, OperationId, Power, PowerOp, PowerState};
use crate::sensors::{PowerDraw, Sensors, Temperature};

/// What a host has configured for one role.
#[derive(Clone)]
pub struct Slot<T: ?Sized> {
    /// The driver's kind, for messages (`ipmi`, `redfish`, `hwmon`, `libvirt`, …).
    pub kind: String,
    /// The driver.
    pub driver: Arc<T>,
}

/// The per-host drivers of a fleet behind the three traits.
#[derive(Default)]
pub struct Routed {
    power: BTreeMap<HostId, Slot<dyn Power>>,
    sensors: BTreeMap<HostId, Slot<dyn Sensors>>,
    compute: BTreeMap<HostId, Slot<dyn Compute>>,
    state: Mutex<RouteState>,
}

#[derive(Default)]
struct RouteState {
    next_power_op: u64,
    power_ops: HashMap<OperationId, (HostId, OperationId)>,
    compute_ops: HashMap<String, HostId>,
    located: HashMap<String, HostId>,
}

fn none_configured(host: &HostId, role: &str) -> DriverError {
    DriverError::Unsupported {
        host: host.clone(),
        bmc: "none".into(),
        operation: role.into(),
        detail: format!("no {role} driver is configured for this host"),
    }
}

impl Routed {
    /// An empty router.
    pub fn new() -> Routed {
        Routed::default()
    }

    /// Routes `host`'s power to `driver`.
    pub fn set_power(&mut self, host: HostId, kind: &str, driver: Arc<dyn Power>) {
        self.power.insert(host, Slot { kind: kind.into(), driver });
    }

    /// Routes `host`'s sensors to `driver`.
    pub fn set_sensors(&mut self, host: HostId, kind: &str, driver: Arc<dyn Sensors>) {
        self.sensors.insert(host, Slot { kind: kind.into(), driver });
    }

    /// Routes `host`'s instances to `driver`.
    pub fn set_compute(&mut self, host: HostId, kind: &str, driver: Arc<dyn Compute>) {
        self.compute.insert(host, Slot { kind: kind.into(), driver });
    }

    /// The kinds configured for `host`: (power, sensors, compute), `None` where nothing is.
    pub fn kinds(&self, host: &HostId) -> [Option<&str>; 3] {
        [
            self.power.get(host).map(|s| s.kind.as_str()),
            self.sensors.get(host).map(|s| s.kind.as_str()),
            self.compute.get(host).map(|s| s.kind.as_str()),
        ]
    }

    fn state(&self) -> MutexGuard<'_, RouteState> {
        // Every update is a single insert or counter step.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn power_of(&self, host: &HostId) -> Result<&Arc<dyn Power>, DriverError> {
        self.power.get(host).map(|s| &s.driver).ok_or_else(|| none_configured(host, "power"))
    }

    fn compute_of(&self, host: &HostId) -> Result<&Slot<dyn Compute>, DriverError> {
        self.compute.get(host).ok_or_else(|| none_configured(host, "compute"))
    }

    /// The host an instance was last listed on; searched for across every compute host when
    /// unknown.
    fn locate(&self, instance: &str) -> Result<HostId, DriverError> {
        if let Some(host) = self.state().located.get(instance) {
            return Ok(host.clone());
        }
        for host in self.compute.keys() {
            if let Ok(list) = self.instances(host) {
                if list.iter().any(|i| i.id == instance) {
                    return Ok(host.clone());
                }
            }
        }
        Err(DriverError::UnknownInstance { instance: instance.to_string() })
    }
}

impl Power for Routed {
    fn state(&self, host: &HostId) -> Result<PowerState, DriverError> {
        self.power_of(host)?.state(host)
    }

    fn request(&self, host: &HostId, op: PowerOp) -> Result<OperationId, DriverError> {
        let inner = self.power_of(host)?.request(host, op)?;
        let mut state = self.state();
        state.next_power_op += 1;
        let id = OperationId::new(state.next_power_op);
        state.power_ops.insert(id, (host.clone(), inner));
        Ok(id)
    }

    fn poll(&self, op: OperationId) -> Result<OpStatus, DriverError> {
        let (host, inner) =
            self.state().power_ops.get(&op).cloned().ok_or(DriverError::UnknownOperation { op })?;
        self.power_of(&host)?.poll(inner)
    }

    fn forget(&self, op: OperationId) {
        let removed = self.state().power_ops.remove(&op);
        if let Some((host, inner)) = removed {
            if let Ok(driver) = self.power_of(&host) {
                driver.forget(inner);
            }
        }
    }
}

impl Sensors for Routed {
    fn temperatures(&self, host: &HostId) -> Result<Vec<Temperature>, DriverError> {
        match self.sensors.get(host) {
            Some(slot) => slot.driver.temperatures(host),
            None => Ok(Vec::new()),
        }
    }

    fn power_draw(&self, host: &HostId) -> Result<PowerDraw, DriverError> {
        match self.sensors.get(host) {
            Some(slot) => slot.driver.power_draw(host),
            None => Err(none_configured(host, "sensors")),
        }
    }
}

impl Compute for Routed {
    fn capabilities(&self) -> MoveCapabilities {
        let mut caps =
            MoveCapabilities { live: false, cold: false, cancel: false, note: String::new() };
        let mut notes: BTreeMap<String, String> = BTreeMap::new();
        for slot in self.compute.values() {
            let c = slot.driver.capabilities();
            caps.live |= c.live;
            caps.cold |= c.cold;
            caps.cancel |= c.cancel;
            notes.entry(slot.kind.clone()).or_insert(c.note);
        }
        caps.note =
            notes.into_iter().map(|(k, n)| format!("{k}: {n}")).collect::<Vec<_>>().join("; ");
        caps
    }

    fn instances(&self, host: &HostId) -> Result<Vec<InstanceInfo>, DriverError> {
        let Some(slot) = self.compute.get(host) else {
            return Ok(Vec::new()); // a host with no compute driver runs nothing hearth manages
        };
        let list = slot.driver.instances(host)?;
        let mut state = self.state();
        for info in &list {
            state.located.insert(info.id.clone(), host.clone());
        }
        Ok(list)
    }

    fn submit(&self, op_id: &str, op: &ComputeOp) -> Result<(), DriverError> {
        let known = self.state().compute_ops.get(op_id).cloned();
        let host = match (known, op) {
            (Some(host), _) => host,
            (None, ComputeOp::Move { from, to, .. }) => {
                let source = self.compute_of(from)?;
                let target = self.compute_of(to)?;
                if !Arc::ptr_eq(&source.driver, &target.driver) {
                    return Err(DriverError::Refused {
                        operation: op.to_string(),
                        backend: format!("{} and {}", source.kind, target.kind),
                        reason: format!(
                            "{from} and {to} are managed by different compute drivers; an \
                             instance cannot move between them"
                        ),
                    });
                }
                from.clone()
            }
            (None, ComputeOp::Start { instance } | ComputeOp::Stop { instance }) => {
                self.locate(instance)?
            }
        };
        self.compute_of(&host)?.driver.submit(op_id, op)?;
        self.state().compute_ops.insert(op_id.to_string(), host);
        Ok(())
    }

    fn poll(&self, op_id: &str) -> Result<OpStatus, DriverError> {
        let host = self.state().compute_ops.get(op_id).cloned();
        match host {
            Some(host) => self.compute_of(&host)?.driver.poll(op_id),
            None => Err(DriverError::UnknownComputeOp { op_id: op_id.to_string() }),
        }
    }

    fn cancel(&self, op_id: &str) -> Result<bool, DriverError> {
        let host = self.state().compute_ops.get(op_id).cloned();
        match host {
            Some(host) => self.compute_of(&host)?.driver.cancel(op_id),
            None => Err(DriverError::UnknownComputeOp { op_id: op_id.to_string() }),
        }
    }
}
