//! The Redfish driver against sushy-emulator (fake driver) on loopback, one emulator per test:
//! the power half of the conformance suite, a timed power cycle, discovery and the thermal
//! readings sushy serves, wrong credentials, a reset type the system does not allow, a BMC
//! killed mid-operation and one that stops answering, session authentication (through a
//! session gateway: sushy-emulator 2.2.0 has no SessionService), and TLS with a CA made for the
//! test. Reference: /work/shared/PEERS.md §1b; issue 8 "Redfish power driver".
//!
//! The emulator applies a power change 1–11 s after the request, so these tests take seconds.

use std::sync::Arc;
use std::time::Duration;

use drivers::redfish::{
    AuthMode, Password, RedfishBmc, RedfishDriver, RedfishOptions, RedfishTimeouts,
};
use drivers::{
    change_power, Clock, DriverError, HostId, OpStatus, Power, PowerOp, PowerState, SensorValue,
    Sensors, SystemClock, Wait,
};

use crate::conformance::check_power;
use crate::redfish_sim::{RedfishSim, SessionGateway, Setup, OFF_SYSTEM, ON_SYSTEM, PASSWORD};

/// The emulator applies a change within 11 s (`int(time.time()) + randint(1, 11)`, read on the
/// next GET); 20 s leaves room for a loaded machine.
const WAIT: Wait = Wait { timeout: Duration::from_secs(20), interval: Duration::from_millis(250) };

/// A driver with `bmc` as host `h1`.
fn driver(bmc: RedfishBmc) -> RedfishDriver {
    let mut driver = RedfishDriver::new(RedfishOptions::default(), Arc::new(SystemClock::new()));
    driver.add_host(host(), bmc).expect("adding the BMC");
    driver
}

fn host() -> HostId {
    HostId::new("h1")
}

#[test]
fn redfish_driver_conforms() {
    let sim = RedfishSim::start(Setup::default());
    let driver = driver(sim.bmc(OFF_SYSTEM));
    check_power(&driver, &SystemClock::new(), &host(), WAIT);
}

#[test]
fn a_power_cycle_on_then_graceful_shutdown_is_polled_to_its_end_and_timed() {
    let sim = RedfishSim::start(Setup::default());
    let driver = driver(sim.bmc(OFF_SYSTEM));
    let clock = SystemClock::new();
    assert_eq!(driver.state(&host()).unwrap(), PowerState::Off);
    let mut took = Vec::new();
    for op in [PowerOp::On, PowerOp::SoftOff] {
        let duration = change_power(&driver, &clock, &host(), op, WAIT)
            .unwrap_or_else(|err| panic!("{op}: {err}\n{}", sim.log()));
        assert_eq!(driver.state(&host()).unwrap(), op.target());
        took.push((op, duration));
    }
    eprintln!("sushy-emulator power cycle: {took:?}");
    for (op, duration) in took {
        // At most 11 s by the emulator, plus one poll interval and the requests themselves.
        assert!(duration <= Duration::from_millis(12_500), "{op} took {duration:?}");
    }
}

#[test]
fn discovery_takes_the_first_system_and_its_chassis_thermal_readings() {
    let sim = RedfishSim::start(Setup::default());
    // No system or chassis configured: the first member of /redfish/v1/Systems (host1, on)
    // and its Links.Chassis[0].
    let driver = driver(RedfishBmc { system: None, ..sim.bmc(ON_SYSTEM) });
    assert_eq!(driver.state(&host()).unwrap(), PowerState::On);

    // sushy's Thermal is a template: one "CPU Temp" (41 °C) per system, then the intake.
    let temperatures = driver.temperatures(&host()).unwrap();
    let shown: Vec<(&str, &SensorValue)> =
        temperatures.iter().map(|t| (t.name.as_str(), &t.celsius)).collect();
    assert_eq!(
        shown,
        [
            ("CPU Temp", &SensorValue::Value(41.0)),
            ("CPU Temp", &SensorValue::Value(41.0)),
            ("Chassis Intake Temp", &SensorValue::Value(25.0)),
        ]
    );

    // sushy's chassis has no Power resource: a clear Unsupported, never 0 W.
    let err = driver.power_draw(&host()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "host h1: BMC {} does not support a power sensor: chassis \
             /redfish/v1/Chassis/15693887-7984-9484-3272-842188918912 links no Power resource",
            sim.address()
        )
    );
    let stranger = HostId::new("no-such-host");
    assert!(matches!(driver.temperatures(&stranger), Err(DriverError::UnknownHost { .. })));

    // The same by a configured name: sushy redirects (307) a system's name to its UUID, and
    // the driver follows within the BMC's origin.
    let by_name = self::driver(RedfishBmc { system: Some("host2".into()), ..sim.bmc(ON_SYSTEM) });
    assert_eq!(by_name.state(&host()).unwrap(), PowerState::Off);

    // A system the BMC does not have: its 404, with the BMC's message.
    let wrong = self::driver(RedfishBmc { system: Some("host9".into()), ..sim.bmc(ON_SYSTEM) });
    assert_eq!(
        wrong.state(&host()).unwrap_err().to_string(),
        format!(
            "host h1: BMC {}: `GET /redfish/v1/Systems/host9` failed (HTTP 404 Not Found): Fake \
             system host9 was not found",
            sim.address()
        )
    );
}

#[test]
fn wrong_credentials_are_an_authentication_error_naming_the_user() {
    let sim = RedfishSim::start(Setup::default());
    let wrong = "not-the-password";
    let driver = driver(RedfishBmc { password: Password::new(wrong), ..sim.bmc(OFF_SYSTEM) });
    let err = driver.state(&host()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "host h1: BMC {} rejected user \"admin\": authentication failed (HTTP 401 \
             Unauthorized: Incorrect username or password on GET /redfish/v1/Systems/{OFF_SYSTEM}); \
             check the user name and password",
            sim.address()
        )
    );
    let err = driver.request(&host(), PowerOp::On).unwrap_err();
    assert!(matches!(&err, DriverError::AuthenticationFailed { user, .. } if user == "admin"));
    assert!(!err.to_string().contains(wrong), "{err}");

    let nobody = self::driver(RedfishBmc { user: "nobody".into(), ..sim.bmc(OFF_SYSTEM) });
    let err = nobody.temperatures(&host()).unwrap_err();
    assert!(matches!(&err, DriverError::AuthenticationFailed { user, .. } if user == "nobody"));
    assert!(!err.to_string().contains(PASSWORD), "{err}");

    // Nothing reached the system.
    let right = self::driver(sim.bmc(OFF_SYSTEM));
    assert_eq!(right.state(&host()).unwrap(), PowerState::Off);
}

#[test]
fn a_reset_type_the_system_does_not_allow_is_refused() {
    let sim = RedfishSim::start(Setup::default());
    let driver = driver(sim.bmc(OFF_SYSTEM));
    let allowed = driver.allowed_reset_types(&host()).unwrap().expect("sushy lists them");
    assert_eq!(
        allowed,
        ["On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart", "Nmi", "ForceOn"]
    );
    let target = format!("/redfish/v1/Systems/{OFF_SYSTEM}/Actions/ComputerSystem.Reset");

    // Checked against AllowableValues: refused before anything is sent.
    let err = driver.reset(&host(), "Bogus").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "host h1: BMC {} does not support ResetType Bogus: {target} allows ResetType On, \
             ForceOff, GracefulShutdown, GracefulRestart, ForceRestart, Nmi, ForceOn",
            sim.address()
        )
    );

    // Sent anyway: the emulator's own refusal (501 with a Redfish error body) is Unsupported
    // too, with its message.
    let err = driver.reset_unchecked(&host(), "Bogus").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "host h1: BMC {} does not support POST {target}: HTTP 501 Not Implemented: Power \
             state Bogus is not supported",
            sim.address()
        )
    );
    assert_eq!(driver.state(&host()).unwrap(), PowerState::Off, "nothing changed");
}

#[test]
#[allow(clippy::disallowed_methods)] // the killer thread waits on the real clock
fn a_bmc_killed_mid_operation_is_unreachable_at_once() {
    let mut sim = RedfishSim::start(Setup::default());
    let timeouts =
        RedfishTimeouts { connect: Duration::from_secs(2), request: Duration::from_secs(2) };
    let driver = driver(RedfishBmc { timeouts, ..sim.bmc(OFF_SYSTEM) });
    let clock = SystemClock::new();
    let op = driver.request(&host(), PowerOp::On).unwrap();
    let pid = sim.pid();
    // Kill the emulator 300 ms into the polling, from another thread, as a BMC dies.
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let status = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        assert!(status.is_ok_and(|status| status.success()), "kill -KILL {pid}");
    });
    // Poll as change_power does (the operation may end Done first: the emulator can apply the
    // change within a second; the state reads go on until the BMC is gone).
    let started = clock.now();
    let err = loop {
        let outcome = driver.poll(op).and_then(|status| driver.state(&host()).map(|_| status));
        match outcome {
            Ok(OpStatus::Pending | OpStatus::Done) => clock.sleep(Duration::from_millis(50)),
            Ok(failed) => panic!("the operation failed instead: {failed:?}"),
            Err(err) => break err,
        }
        assert!(clock.now() - started < Duration::from_secs(10), "still answering after 10 s");
    };
    let waited = clock.now() - started;
    killer.join().expect("the killer thread");
    sim.kill();
    assert!(matches!(err, DriverError::Unreachable { .. }), "{err}");
    // Refused, or cut mid-request ("connection closed before message completed").
    let prefix = format!("host h1: BMC {} unreachable: GET /redfish/v1/Systems/", sim.address());
    assert!(err.to_string().starts_with(&prefix), "{err}");
    assert!(waited < Duration::from_secs(3), "the error came {waited:?} after polling began");
}

#[test]
fn a_bmc_that_stops_answering_times_out_at_the_request_timeout() {
    let mut sim = RedfishSim::start(Setup::default());
    let timeouts =
        RedfishTimeouts { connect: Duration::from_secs(1), request: Duration::from_millis(800) };
    let driver = driver(RedfishBmc { timeouts, ..sim.bmc(OFF_SYSTEM) });
    let op = driver.request(&host(), PowerOp::On).unwrap();
    // SIGSTOP: the kernel still accepts the connection; nothing answers.
    sim.pause();
    let clock = SystemClock::new();
    let err = driver.poll(op).unwrap_err();
    let waited = clock.now();
    assert_eq!(
        err.to_string(),
        format!(
            "host h1: BMC {}: `GET /redfish/v1/Systems/{OFF_SYSTEM}` gave no answer within 0.8 s; \
             killed it",
            sim.address()
        )
    );
    assert!(waited >= Duration::from_millis(800), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "no hang: {waited:?}");
}

#[test]
fn session_auth_logs_in_once_again_after_expiry_and_out_on_drop() {
    let sim = RedfishSim::start(Setup::default());
    let gateway = SessionGateway::start(&sim);
    let bmc =
        RedfishBmc { address: gateway.address(), auth: AuthMode::Session, ..sim.bmc(OFF_SYSTEM) };
    let driver = driver(bmc.clone());
    assert_eq!(driver.state(&host()).unwrap(), PowerState::Off);
    assert_eq!(driver.temperatures(&host()).unwrap().len(), 3);
    assert_eq!(gateway.events(), ["login admin 1"], "one login for several requests");

    // The BMC ends the session: the next request gets 401, the driver logs in again, once.
    gateway.expire_sessions();
    assert_eq!(driver.state(&host()).unwrap(), PowerState::Off);
    assert_eq!(
        gateway.events(),
        [
            "login admin 1".to_string(),
            "expired".into(),
            format!("unauthorized GET /redfish/v1/Systems/{OFF_SYSTEM}"),
            "login admin 2".into(),
        ]
    );

    // Dropping the driver deletes its session.
    drop(driver);
    assert_eq!(gateway.events().last().map(String::as_str), Some("logout 2"));

    // A wrong password fails at login, naming the user.
    let wrong = self::driver(RedfishBmc { password: Password::new("nope-nope"), ..bmc });
    let err = wrong.state(&host()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "host h1: BMC {} rejected user \"admin\": authentication failed (HTTP 401 \
             Unauthorized: Invalid user name or password on POST \
             /redfish/v1/SessionService/Sessions); check the user name and password",
            gateway.address()
        )
    );
    assert_eq!(gateway.events().last().map(String::as_str), Some("login refused admin"));
}

#[test]
fn session_auth_on_a_bmc_without_a_session_service_is_unsupported() {
    let sim = RedfishSim::start(Setup { auth: false, tls: false });
    let driver = driver(RedfishBmc { auth: AuthMode::Session, ..sim.bmc(OFF_SYSTEM) });
    let err = driver.state(&host()).unwrap_err();
    assert!(matches!(err, DriverError::Unsupported { .. }), "{err}");
    let text = err.to_string();
    let expected = format!(
        "host h1: BMC {} does not support session authentication: HTTP 404 Not Found on POST \
         /redfish/v1/SessionService/Sessions: ",
        sim.address()
    );
    assert!(text.starts_with(&expected), "{text}");
    assert!(text.ends_with("the BMC has no SessionService: use basic authentication"), "{text}");
}

#[test]
fn tls_is_verified_by_default_and_a_pinned_ca_is_trusted() {
    let sim = RedfishSim::start(Setup { auth: true, tls: true });

    // The test CA is not among the built-in roots: refused, with the way out named.
    let err = driver(sim.bmc(OFF_SYSTEM)).state(&host()).unwrap_err();
    assert!(matches!(err, DriverError::Unreachable { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("invalid peer certificate: UnknownIssuer"), "{text}");
    assert!(text.contains("pin its CA with `ca_file`"), "{text}");

    // Pinned: trusted.
    let pinned = driver(RedfishBmc { ca_file: Some(sim.ca_file()), ..sim.bmc(OFF_SYSTEM) });
    assert_eq!(pinned.state(&host()).unwrap(), PowerState::Off);

    // Verification off (labs only): accepted as well.
    let insecure = driver(RedfishBmc { insecure_skip_verify: true, ..sim.bmc(OFF_SYSTEM) });
    assert_eq!(insecure.state(&host()).unwrap(), PowerState::Off);
}
