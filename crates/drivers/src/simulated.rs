//! The simulated driver, the reference implementation of [`Power`] and [`Sensors`]: in-memory
//! hosts whose power changes take a configurable time on an injected [`Clock`], with sensor
//! values the caller sets, and switches for the failures a real BMC shows (unreachable, a
//! chassis that ignores requests).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::clock::Clock;
use crate::error::DriverError;
use crate::host::HostId;
use crate::power::{OpStatus, OperationId, Power, PowerOp, PowerState};
use crate::sensors::{PowerDraw, SensorValue, Sensors, Temperature};

/// What the simulated BMC calls itself in error messages.
const BMC: &str = "simulated";

/// How long each power change takes on a simulated host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Transitions {
    /// Power on.
    pub on: Duration,
    /// Hard power off.
    pub off: Duration,
    /// Soft off (the operating system's shutdown).
    pub soft_off: Duration,
}

impl Transitions {
    /// Every change takes `delay`.
    pub fn uniform(delay: Duration) -> Transitions {
        Transitions { on: delay, off: delay, soft_off: delay }
    }

    fn of(&self, op: PowerOp) -> Duration {
        match op {
            PowerOp::On => self.on,
            PowerOp::Off => self.off,
            PowerOp::SoftOff => self.soft_off,
        }
    }
}

/// In-memory hosts behind the [`Power`] and [`Sensors`] traits. Time comes from the injected
/// clock only: a change requested at `t` is seen from `t + delay` on.
pub struct SimulatedDriver {
    clock: Arc<dyn Clock>,
    world: Mutex<World>,
}

#[derive(Default)]
struct World {
    hosts: BTreeMap<HostId, Host>,
    ops: HashMap<OperationId, Op>,
    next_op: u64,
    max_transitions: usize,
}

struct Host {
    power: PowerState,
    transition: Option<Transition>,
    timing: Transitions,
    ignores_requests: bool,
    unreachable: bool,
    temperatures: Vec<Temperature>,
    power_draw: Option<PowerDraw>,
}

struct Transition {
    target: PowerState,
    done_at: Duration,
}

struct Op {
    host: HostId,
    op: PowerOp,
}

impl Host {
    /// Applies a transition whose time has come.
    fn settle(&mut self, now: Duration) {
        if let Some(transition) = &self.transition {
            if now >= transition.done_at {
                self.power = transition.target;
                self.transition = None;
            }
        }
    }
}

impl World {
    fn host(&mut self, host: &HostId) -> Result<&mut Host, DriverError> {
        let found = self
            .hosts
            .get_mut(host)
            .ok_or_else(|| DriverError::UnknownHost { host: host.clone() })?;
        if found.unreachable {
            return Err(DriverError::Unreachable {
                host: host.clone(),
                bmc: BMC.to_string(),
                detail: "marked unreachable by the test".to_string(),
            });
        }
        Ok(found)
    }
}

impl SimulatedDriver {
    /// A driver with no hosts, on `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> SimulatedDriver {
        SimulatedDriver { clock, world: Mutex::new(World::default()) }
    }

    fn lock(&self) -> MutexGuard<'_, World> {
        // Every update keeps the world consistent statement by statement.
        self.world.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds (or replaces) a host in state `power` whose changes take `timing`; it has no sensors
    /// until [`SimulatedDriver::set_temperature`] and [`SimulatedDriver::set_power_draw`].
    pub fn add_host(&self, host: HostId, power: PowerState, timing: Transitions) {
        self.lock().hosts.insert(
            host,
            Host {
                power,
                transition: None,
                timing,
                ignores_requests: false,
                unreachable: false,
                temperatures: Vec::new(),
                power_draw: None,
            },
        );
    }

    /// Sets (or adds) the temperature sensor `name` of `host`.
    pub fn set_temperature(
        &self,
        host: &HostId,
        name: &str,
        celsius: SensorValue,
    ) -> Result<(), DriverError> {
        let mut world = self.lock();
        let host = world.host(host)?;
        match host.temperatures.iter_mut().find(|sensor| sensor.name == name) {
            Some(sensor) => sensor.celsius = celsius,
            None => host.temperatures.push(Temperature { name: name.to_string(), celsius }),
        }
        Ok(())
    }

    /// Gives `host` a power sensor `name` reading `watts`.
    pub fn set_power_draw(
        &self,
        host: &HostId,
        name: &str,
        watts: SensorValue,
    ) -> Result<(), DriverError> {
        let mut world = self.lock();
        world.host(host)?.power_draw = Some(PowerDraw { name: name.to_string(), watts });
        Ok(())
    }

    /// When `ignores` is set, `host` accepts power requests and never acts on them (a chassis
    /// that refuses, a hung BMC firmware): its operations stay pending.
    pub fn set_ignores_requests(&self, host: &HostId, ignores: bool) -> Result<(), DriverError> {
        self.lock().host(host)?.ignores_requests = ignores;
        Ok(())
    }

    /// When `unreachable` is set, every call for `host` fails with
    /// [`DriverError::Unreachable`].
    pub fn set_unreachable(&self, host: &HostId, unreachable: bool) -> Result<(), DriverError> {
        let mut world = self.lock();
        let found = world
            .hosts
            .get_mut(host)
            .ok_or_else(|| DriverError::UnknownHost { host: host.clone() })?;
        found.unreachable = unreachable;
        Ok(())
    }

    /// The most hosts ever in a power transition at once (the limiter tests read it).
    pub fn max_concurrent_transitions(&self) -> usize {
        self.lock().max_transitions
    }
}

impl Power for SimulatedDriver {
    fn state(&self, host: &HostId) -> Result<PowerState, DriverError> {
        let now = self.clock.now();
        let mut world = self.lock();
        let host = world.host(host)?;
        host.settle(now);
        Ok(host.power)
    }

    fn request(&self, host_id: &HostId, op: PowerOp) -> Result<OperationId, DriverError> {
        let now = self.clock.now();
        let mut world = self.lock();
        let host = world.host(host_id)?;
        host.settle(now);
        if !host.ignores_requests {
            let target = op.target();
            let heading = host.transition.as_ref().is_some_and(|t| t.target == target);
            if host.power == target {
                // Already there: a transition away from it is called off.
                host.transition = None;
            } else if !heading {
                host.transition = Some(Transition { target, done_at: now + host.timing.of(op) });
            }
        }
        for host in world.hosts.values_mut() {
            host.settle(now);
        }
        let in_transition = world.hosts.values().filter(|host| host.transition.is_some()).count();
        world.max_transitions = world.max_transitions.max(in_transition);
        world.next_op += 1;
        let id = OperationId::new(world.next_op);
        world.ops.insert(id, Op { host: host_id.clone(), op });
        Ok(id)
    }

    fn poll(&self, id: OperationId) -> Result<OpStatus, DriverError> {
        let now = self.clock.now();
        let mut world = self.lock();
        let Op { host: host_id, op } = world
            .ops
            .get(&id)
            .map(|op| Op { host: op.host.clone(), op: op.op })
            .ok_or(DriverError::UnknownOperation { op: id })?;
        let host = world.host(&host_id)?;
        host.settle(now);
        let target = op.target();
        Ok(match &host.transition {
            None if host.power == target => OpStatus::Done,
            Some(transition) if transition.target == target => OpStatus::Pending,
            _ if host.ignores_requests => OpStatus::Pending,
            Some(transition) => OpStatus::Failed(format!(
                "superseded: the host is now heading {}",
                transition.target
            )),
            None => OpStatus::Failed(format!(
                "superseded: the host is {} after a later request",
                host.power
            )),
        })
    }

    fn forget(&self, op: OperationId) {
        self.lock().ops.remove(&op);
    }
}

impl Sensors for SimulatedDriver {
    fn temperatures(&self, host: &HostId) -> Result<Vec<Temperature>, DriverError> {
        Ok(self.lock().host(host)?.temperatures.clone())
    }

    fn power_draw(&self, host_id: &HostId) -> Result<PowerDraw, DriverError> {
        let mut world = self.lock();
        world.host(host_id)?.power_draw.clone().ok_or_else(|| DriverError::Unsupported {
            host: host_id.clone(),
            bmc: BMC.to_string(),
            operation: "a power sensor".to_string(),
            detail: "no power sensor set on this simulated host".to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::power::{change_power, Wait};

    fn driver() -> (Arc<ManualClock>, SimulatedDriver, HostId) {
        let clock = Arc::new(ManualClock::new());
        let driver = SimulatedDriver::new(clock.clone());
        let host = HostId::new("h1");
        driver.add_host(
            host.clone(),
            PowerState::Off,
            Transitions::uniform(Duration::from_secs(5)),
        );
        (clock, driver, host)
    }

    #[test]
    fn a_change_shows_after_its_delay() {
        let (clock, driver, host) = driver();
        let op = driver.request(&host, PowerOp::On).unwrap();
        assert_eq!(driver.poll(op).unwrap(), OpStatus::Pending);
        clock.advance(Duration::from_secs(4));
        assert_eq!(driver.state(&host).unwrap(), PowerState::Off);
        clock.advance(Duration::from_secs(1));
        assert_eq!(driver.state(&host).unwrap(), PowerState::On);
        assert_eq!(driver.poll(op).unwrap(), OpStatus::Done);
    }

    #[test]
    fn a_later_request_supersedes_an_earlier_one() {
        let (clock, driver, host) = driver();
        let on = driver.request(&host, PowerOp::On).unwrap();
        clock.advance(Duration::from_secs(1));
        let off = driver.request(&host, PowerOp::Off).unwrap();
        assert!(
            matches!(driver.poll(on).unwrap(), OpStatus::Failed(reason) if reason.contains("superseded"))
        );
        assert_eq!(driver.poll(off).unwrap(), OpStatus::Done, "it never left off");
    }

    #[test]
    fn verified_change_takes_the_transition_time() {
        let (clock, driver, host) = driver();
        let wait = Wait { timeout: Duration::from_secs(30), interval: Duration::from_secs(1) };
        let took = change_power(&driver, clock.as_ref(), &host, PowerOp::On, wait).unwrap();
        assert_eq!(took, Duration::from_secs(5));
        assert_eq!(driver.state(&host).unwrap(), PowerState::On);
    }

    #[test]
    fn a_host_that_ignores_requests_times_out_with_its_last_state() {
        let (clock, driver, host) = driver();
        driver.set_ignores_requests(&host, true).unwrap();
        let wait = Wait { timeout: Duration::from_secs(30), interval: Duration::from_secs(1) };
        let err = change_power(&driver, clock.as_ref(), &host, PowerOp::On, wait).unwrap_err();
        assert_eq!(err.to_string(), "host h1: power on not confirmed after 30 s; last state off");
        assert_eq!(clock.now(), Duration::from_secs(30), "polled until the timeout, no longer");
    }

    #[test]
    fn unreachable_and_unknown_hosts_are_errors_that_name_the_host() {
        let (_clock, driver, host) = driver();
        driver.set_unreachable(&host, true).unwrap();
        let err = driver.state(&host).unwrap_err();
        assert!(matches!(err, DriverError::Unreachable { .. }), "{err}");
        assert!(err.to_string().starts_with("host h1: BMC simulated unreachable"), "{err}");
        let err = driver.request(&HostId::new("h9"), PowerOp::On).unwrap_err();
        assert_eq!(err.to_string(), "host h9: not known to this driver");
    }

    #[test]
    fn sensors_report_what_was_set_and_unavailable_is_not_a_value() {
        let (_clock, driver, host) = driver();
        assert!(matches!(driver.power_draw(&host), Err(DriverError::Unsupported { .. })));
        driver.set_temperature(&host, "CPU Temp", SensorValue::Value(45.0)).unwrap();
        driver.set_temperature(&host, "Inlet", SensorValue::Unavailable("ns".into())).unwrap();
        driver.set_temperature(&host, "CPU Temp", SensorValue::Value(46.5)).unwrap();
        driver.set_power_draw(&host, "Sys Power", SensorValue::Value(200.0)).unwrap();
        let temps = driver.temperatures(&host).unwrap();
        assert_eq!(temps.len(), 2);
        assert_eq!(temps[0].celsius.value(), Some(46.5));
        assert_eq!(temps[1].celsius.value(), None);
        assert_eq!(driver.power_draw(&host).unwrap().watts, SensorValue::Value(200.0));
    }
}
