//! The conformance suite: the same assertions for every [`Power`] + [`Sensors`]
//! implementation (STYLE.md rule 6: one conformance suite every implementation runs). The
//! simulated driver runs it in `simulated.rs`, the IPMI driver against ipmi_sim in `ipmi.rs`,
//! the Redfish driver against sushy-emulator in `redfish.rs` (the power half, [`check_power`]).

use std::time::Duration;

use drivers::{
    change_power, Clock, DriverError, HostId, OpStatus, Power, PowerOp, PowerState, SensorValue,
    Sensors, Wait,
};

/// An implementation under test and what its host's sensors are known to read.
pub struct Subject<'a> {
    /// The power side.
    pub power: &'a dyn Power,
    /// The sensor side (the same driver).
    pub sensors: &'a dyn Sensors,
    /// The clock the driver runs on (a manual one advances as the suite waits).
    pub clock: &'a dyn Clock,
    /// A host that is off when the suite starts.
    pub host: HostId,
    /// The name and reading of one of its temperature sensors.
    pub temperature: (&'a str, f64),
    /// Its power draw, W.
    pub power_w: f64,
    /// How long a power change may take to show.
    pub wait: Wait,
}

/// Runs the whole suite.
pub fn check(subject: &Subject<'_>) {
    let Subject { power, sensors, clock, host, wait, .. } = subject;
    check_power(*power, *clock, host, *wait);
    let stranger = HostId::new("no-such-host");
    assert!(matches!(sensors.temperatures(&stranger), Err(DriverError::UnknownHost { .. })));

    // Sensors read what the host's sensors are set to.
    let (name, celsius) = subject.temperature;
    let temperatures = sensors.temperatures(host).expect("reading temperatures");
    let found = temperatures.iter().find(|t| t.name == name);
    assert_eq!(
        found.map(|t| &t.celsius),
        Some(&SensorValue::Value(celsius)),
        "{name} in {temperatures:?}"
    );
    let draw = sensors.power_draw(host).expect("reading the power draw");
    assert_eq!(draw.watts, SensorValue::Value(subject.power_w), "{draw:?}");
}

/// The power half of the suite, for drivers whose peer cannot set sensor values (the Redfish
/// driver against sushy-emulator, whose thermal readings are a fixed template and which has no
/// power sensor): `host` starts off; power on, idempotent on, soft off, on, off, forgotten and
/// unknown operations, an unknown host.
pub fn check_power(power: &dyn Power, clock: &dyn Clock, host: &HostId, wait: Wait) {
    let state = || power.state(host).expect("reading the power state");
    assert_eq!(state(), PowerState::Off, "the suite starts from a host that is off");

    // Power on, verified; asking again is idempotent and its operation ends Done.
    change_power(power, clock, host, PowerOp::On, wait).expect("power on");
    assert_eq!(state(), PowerState::On);
    let again = power.request(host, PowerOp::On).expect("power on when on");
    assert_eq!(wait_for_end(power, clock, again, wait), OpStatus::Done);
    power.forget(again);

    // Soft off ends off (the simulated OS shuts down; ipmi_sim's chassis turns it off).
    change_power(power, clock, host, PowerOp::SoftOff, wait).expect("soft power off");
    assert_eq!(state(), PowerState::Off);

    // Hard off after on.
    change_power(power, clock, host, PowerOp::On, wait).expect("power on again");
    change_power(power, clock, host, PowerOp::Off, wait).expect("power off");
    assert_eq!(state(), PowerState::Off);

    // A forgotten operation is unknown; so is an unknown host.
    let op = power.request(host, PowerOp::Off).expect("power off when off");
    power.forget(op);
    assert!(matches!(power.poll(op), Err(DriverError::UnknownOperation { op: o }) if o == op));
    let stranger = HostId::new("no-such-host");
    let err = power.state(&stranger).expect_err("an unknown host");
    assert!(matches!(&err, DriverError::UnknownHost { host } if *host == stranger), "{err}");
}

/// Polls `op` until it is over, within `wait`.
fn wait_for_end(
    power: &dyn Power,
    clock: &dyn Clock,
    op: drivers::OperationId,
    wait: Wait,
) -> OpStatus {
    let started = clock.now();
    loop {
        let status = power.poll(op).expect("polling");
        if status.is_terminal() || clock.now() - started > wait.timeout {
            return status;
        }
        clock.sleep(wait.interval.min(Duration::from_millis(100)));
    }
}
