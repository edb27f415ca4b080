//! The simulated driver through the conformance suite, on a manual clock.

use std::sync::Arc;
use std::time::Duration;

use drivers::simulated::{SimulatedDriver, Transitions};
use drivers::{Clock, HostId, ManualClock, PowerState, SensorValue, Wait};

use crate::conformance::{check, Subject};

#[test]
fn simulated_driver_conforms() {
    let clock = Arc::new(ManualClock::new());
    let driver = SimulatedDriver::new(clock.clone());
    let host = HostId::new("h1");
    let timing = Transitions {
        on: Duration::from_secs(3),
        off: Duration::from_secs(1),
        soft_off: Duration::from_secs(20),
    };
    driver.add_host(host.clone(), PowerState::Off, timing);
    driver.set_temperature(&host, "CPU Temp", SensorValue::Value(45.0)).unwrap();
    driver.set_power_draw(&host, "Sys Power", SensorValue::Value(200.0)).unwrap();
    check(&Subject {
        power: &driver,
        sensors: &driver,
        clock: clock.as_ref(),
        host,
        temperature: ("CPU Temp", 45.0),
        power_w: 200.0,
        wait: Wait { timeout: Duration::from_secs(60), interval: Duration::from_secs(1) },
    });
    assert!(clock.now() >= Duration::from_secs(3 + 20 + 3 + 1), "the transitions took time");
}
