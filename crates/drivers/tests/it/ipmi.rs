//! The IPMI driver against openipmi's ipmi_sim on loopback (one simulator per test, own port):
//! the conformance suite, the power round trip seen in the chassis state file, sensors, wrong
//! credentials, a chassis that ignores requests, a BMC without power control, a silent BMC, a
//! hung ipmitool, and the limiter across three BMCs.

use std::sync::Arc;
use std::time::Duration;

use drivers::ipmi::{Bmc, IpmiDriver, IpmiOptions, Password};
use drivers::{
    change_power, Clock, DriverError, HostId, Power, PowerLimiter, PowerOp, PowerState,
    SensorValue, Sensors, SystemClock, Wait,
};

use crate::bmc_sim::{free_udp_port, make_executable, require, BmcSim, Chassis, TempDir};
use crate::conformance::{check, Subject};

/// ipmi_sim answers in ~40 ms; power changes show at once (or never, for `Refuses`).
const WAIT: Wait = Wait { timeout: Duration::from_secs(5), interval: Duration::from_millis(100) };

fn driver(bmcs: impl IntoIterator<Item = Bmc>) -> IpmiDriver {
    IpmiDriver::new(bmcs, IpmiOptions::default(), Arc::new(SystemClock::new()))
}

#[test]
fn ipmi_driver_conforms() {
    let sim = BmcSim::start(Chassis::Obeys, 45);
    let driver = driver([sim.bmc("h1")]);
    let clock = SystemClock::new();
    check(&Subject {
        power: &driver,
        sensors: &driver,
        clock: &clock,
        host: HostId::new("h1"),
        temperature: ("CPU Temp", 45.0),
        power_w: 200.0,
        wait: WAIT,
    });
}

#[test]
fn power_round_trip_shows_in_the_chassis_state_file() {
    let sim = BmcSim::start(Chassis::Obeys, 40);
    let driver = driver([sim.bmc("h1")]);
    let (host, clock) = (HostId::new("h1"), SystemClock::new());
    assert_eq!(driver.state(&host).unwrap(), PowerState::Off);
    change_power(&driver, &clock, &host, PowerOp::On, WAIT).unwrap();
    assert_eq!(sim.power_file(), "1");
    assert_eq!(driver.state(&host).unwrap(), PowerState::On);
    change_power(&driver, &clock, &host, PowerOp::Off, WAIT).unwrap();
    assert_eq!(sim.power_file(), "0");
    assert_eq!(driver.state(&host).unwrap(), PowerState::Off);
}

#[test]
fn sensors_read_the_cpu_temp_file_and_sys_power() {
    let sim = BmcSim::start(Chassis::Obeys, 47);
    let driver = driver([sim.bmc("h1")]);
    let host = HostId::new("h1");
    let temps = driver.temperatures(&host).unwrap();
    assert_eq!(temps.len(), 1, "{temps:?}");
    assert_eq!(
        (temps[0].name.as_str(), &temps[0].celsius),
        ("CPU Temp", &SensorValue::Value(47.0))
    );
    let draw = driver.power_draw(&host).unwrap();
    assert_eq!((draw.name.as_str(), draw.watts), ("Sys Power", SensorValue::Value(200.0)));

    // ipmi_sim re-reads the file once a second.
    sim.set_cpu_temp(52);
    let clock = SystemClock::new();
    let reading = loop {
        let reading = driver.temperatures(&host).unwrap()[0].celsius.clone();
        if reading == SensorValue::Value(52.0) || clock.now() > Duration::from_secs(4) {
            break reading;
        }
        clock.sleep(Duration::from_millis(100));
    };
    assert_eq!(reading, SensorValue::Value(52.0), "the new CPU temperature within 4 s");
}

#[test]
fn a_named_power_sensor_that_is_missing_is_unsupported() {
    let sim = BmcSim::start(Chassis::Obeys, 40);
    let mut bmc = sim.bmc("h1");
    bmc.power_sensor = Some("PSU Input".into());
    let err = driver([bmc]).power_draw(&HostId::new("h1")).unwrap_err();
    assert!(matches!(err, DriverError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("no sensor named \"PSU Input\""), "{err}");
}

#[test]
fn wrong_credentials_are_an_authentication_error() {
    let sim = BmcSim::start(Chassis::Obeys, 40);
    let mut wrong_password = sim.bmc("h1");
    wrong_password.password = Password::new("not-the-password");
    let mut wrong_user = sim.bmc("h2");
    wrong_user.user = "nobody".into();
    let driver = driver([wrong_password, wrong_user]);
    let (h1, h2) = (HostId::new("h1"), HostId::new("h2"));

    let err = driver.state(&h1).unwrap_err();
    let endpoint = format!("127.0.0.1:{}", sim.port);
    assert_eq!(
        err.to_string(),
        format!(
            "host h1: BMC {endpoint} rejected user \"admin\": authentication failed (wrong \
             password: RAKP 2 HMAC is invalid; Error: Unable to establish IPMI v2 / RMCP+ \
             session); check the user name and password"
        )
    );
    // The SDR commands run without -v; the driver asks again to learn why.
    let err = driver.temperatures(&h1).unwrap_err();
    assert!(matches!(err, DriverError::AuthenticationFailed { .. }), "{err}");
    let err = driver.request(&h1, PowerOp::On).unwrap_err();
    assert!(matches!(err, DriverError::AuthenticationFailed { .. }), "{err}");
    let err = driver.power_draw(&h2).unwrap_err();
    assert!(
        matches!(&err, DriverError::AuthenticationFailed { user, detail, .. }
            if user == "nobody" && detail.starts_with("unknown user name")),
        "{err}"
    );
    assert_eq!(sim.power_file(), "", "nothing reached the chassis");
}

#[test]
fn power_on_not_confirmed_when_the_chassis_ignores_it() {
    let sim = BmcSim::start(Chassis::Refuses, 40);
    let driver = driver([sim.bmc("h1")]);
    let (host, clock) = (HostId::new("h1"), SystemClock::new());
    let wait = Wait { timeout: Duration::from_secs(1), interval: Duration::from_millis(200) };
    let err = change_power(&driver, &clock, &host, PowerOp::On, wait).unwrap_err();
    assert_eq!(err.to_string(), "host h1: power on not confirmed after 1 s; last state off");
    assert!(clock.now() >= Duration::from_secs(1));
}

#[test]
fn an_accepted_change_fails_at_the_drivers_deadline() {
    let sim = BmcSim::start(Chassis::Refuses, 40);
    let options =
        IpmiOptions { confirm_deadline: Duration::from_millis(300), ..IpmiOptions::default() };
    let clock = Arc::new(SystemClock::new());
    let driver = IpmiDriver::new([sim.bmc("h1")], options, clock.clone());
    let host = HostId::new("h1");
    let op = driver.request(&host, PowerOp::On).unwrap();
    clock.sleep(Duration::from_millis(300));
    let status = driver.poll(op).unwrap();
    assert_eq!(
        status,
        drivers::OpStatus::Failed("not seen on within 0.3 s; last state off".into()),
    );
}

#[test]
fn a_bmc_without_power_control_says_unsupported() {
    let sim = BmcSim::start(Chassis::Absent, 40);
    let driver = driver([sim.bmc("h1")]);
    let host = HostId::new("h1");
    assert_eq!(driver.state(&host).unwrap(), PowerState::Off);
    let err = driver.request(&host, PowerOp::On).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "host h1: BMC 127.0.0.1:{} does not support ipmitool chassis power on: Set Chassis \
             Power Control to Up/On failed: Invalid data field in request",
            sim.port
        )
    );
}

#[test]
fn a_silent_bmc_is_unreachable() {
    require("ipmitool", "ipmitool");
    let port = free_udp_port();
    let bmc = Bmc::new(HostId::new("h1"), "127.0.0.1", port, "admin", Password::new("secret"));
    let options = IpmiOptions { retries: 1, ..IpmiOptions::default() };
    let driver = IpmiDriver::new([bmc], options, Arc::new(SystemClock::new()));
    // -N 1 -R 1: about 2 s.
    let err = driver.temperatures(&HostId::new("h1")).unwrap_err();
    assert!(matches!(err, DriverError::Unreachable { .. }), "{err}");
    assert!(err.to_string().starts_with(&format!("host h1: BMC 127.0.0.1:{port} unreachable")));
}

#[test]
fn a_hung_ipmitool_is_killed_at_the_command_timeout() {
    let dir = TempDir::new("hung-tool");
    let tool = dir.path().join("ipmitool");
    std::fs::write(&tool, "#!/bin/sh\nexec sleep 30\n").unwrap();
    make_executable(&tool);
    let options =
        IpmiOptions { tool, command_timeout: Duration::from_millis(300), ..IpmiOptions::default() };
    let clock = Arc::new(SystemClock::new());
    let bmc = Bmc::new(HostId::new("h1"), "127.0.0.1", 9, "admin", Password::new("secret"));
    let driver = IpmiDriver::new([bmc], options, clock.clone());
    let err = driver.state(&HostId::new("h1")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "host h1: BMC 127.0.0.1:9: `ipmitool chassis power status` gave no answer within 0.3 s; \
         killed it"
    );
    assert!(clock.now() < Duration::from_secs(5), "killed, not waited for");
}

#[test]
fn the_limiter_caps_power_changes_across_three_bmcs() {
    let sims: Vec<BmcSim> = (0..3).map(|_| BmcSim::start(Chassis::Obeys, 40)).collect();
    let hosts: Vec<HostId> = (1..=3).map(|n| HostId::new(format!("h{n}"))).collect();
    let driver = driver(sims.iter().zip(&hosts).map(|(sim, host)| sim.bmc(host.as_str())));
    let limiter = PowerLimiter::new(driver, 1, Duration::from_secs(20));
    std::thread::scope(|scope| {
        for host in &hosts {
            let limiter = &limiter;
            scope.spawn(move || {
                change_power(limiter, &SystemClock::new(), host, PowerOp::On, WAIT).unwrap()
            });
        }
    });
    assert_eq!(limiter.high_water(), 1, "one change at a time");
    assert_eq!(limiter.in_flight(), 0, "every slot freed");
    for (sim, host) in sims.iter().zip(&hosts) {
        assert_eq!(sim.power_file(), "1", "{host} on");
    }
}
