//! Unit tests of the IPMI driver that need no BMC: the command line it builds and the errors
//! for a missing tool and an unknown host. The tests against ipmi_sim are in tests/it/ipmi.rs.

use super::*;
use crate::clock::SystemClock;

fn bmc() -> Bmc {
    Bmc::new(HostId::new("h1"), "127.0.0.1", 9001, "admin", Password::new("s3cret-pw"))
}

#[test]
fn the_password_never_reaches_the_command_line() {
    let args = arguments(&bmc(), &IpmiOptions::default(), STATUS, true);
    assert_eq!(
        args.join(" "),
        "-I lanplus -C 3 -H 127.0.0.1 -p 9001 -U admin -E -N 1 -R 2 -v chassis power status"
    );
    assert!(!args.iter().any(|arg| arg.contains("s3cret")));
    assert_eq!(format!("{:?}", bmc().password), "Password(<redacted>)");
    assert!(!format!("{:?}", bmc()).contains("s3cret"));
}

#[test]
fn retries_of_zero_are_raised_to_one() {
    let options = IpmiOptions { retries: 0, session_timeout_s: 0, ..IpmiOptions::default() };
    let args = arguments(&bmc(), &options, ELIST, false).join(" ");
    assert!(args.ends_with("-E -N 1 -R 1 sdr elist"), "{args}");
}

#[test]
fn a_missing_tool_names_the_package() {
    let options = IpmiOptions { tool: "/nonexistent/ipmitool".into(), ..IpmiOptions::default() };
    let driver = IpmiDriver::new([bmc()], options, Arc::new(SystemClock::new()));
    let err = driver.state(&HostId::new("h1")).unwrap_err();
    assert!(matches!(err, DriverError::ToolMissing { package: "ipmitool", .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "host h1: `/nonexistent/ipmitool` is not installed; install the Debian package \
         `ipmitool` (scripts/test.sh does)"
    );
}

#[test]
fn an_unknown_host_is_named() {
    let driver = IpmiDriver::new([bmc()], IpmiOptions::default(), Arc::new(SystemClock::new()));
    let err = driver.temperatures(&HostId::new("h2")).unwrap_err();
    assert!(matches!(err, DriverError::UnknownHost { .. }), "{err}");
    let err = driver.poll(OperationId::new(7)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "operation op-7: not known to this driver (never requested, or forgotten)"
    );
}
