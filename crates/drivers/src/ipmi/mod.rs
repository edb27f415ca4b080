//! The IPMI driver: [`Power`] and [`Sensors`] over IPMI v2 (RMCP+) through ipmitool, one
//! registry of BMCs keyed by host.
//!
//! Every call runs `ipmitool -I lanplus -C 3 -H <address> -p <port> -U <user> -E -N <s> -R <n>
//! <command>` with the password in the `IPMI_PASSWORD` environment variable (never on the
//! command line, where `ps` would show it), stdin closed, and a deadline after which the process
//! is killed. Cipher suite 3 (RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128) is named explicitly: without
//! `-C`, ipmitool 1.8.19 first asks for the channel's cipher suites, which some BMCs (ipmi_sim)
//! do not implement, and waits 10 s.
//!
//! Commands: `chassis power status|on|off|soft`; temperatures from `sdr type temperature`,
//! power draw from `sdr elist` (a named sensor, or the first reading in Watts). The parsers are
//! in the private `parse` module and pure. Why a run failed comes from stderr: chassis commands run with
//! `-v`, whose stderr tells a wrong password from a silent BMC; the SDR commands cannot (`-v`
//! changes their tables), so when one fails to open a session the driver asks once more with
//! `-v chassis power status` to learn why.

mod command;
mod parse;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::error::DriverError;
use crate::host::HostId;
use crate::power::{
    confirm_outcome, ConfirmTable, OpStatus, OperationId, Power, PowerOp, PowerState,
};
use crate::sensors::{PowerDraw, Sensors, Temperature};

use command::RunError;
use parse::Failure;

/// The Debian package that provides ipmitool.
const PACKAGE: &str = "ipmitool";

/// A BMC password. Its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// A password.
    pub fn new(password: impl Into<String>) -> Password {
        Password(password.into())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// One host's BMC: where it listens and how to log in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bmc {
    /// The host this BMC controls.
    pub host: HostId,
    /// The BMC's address (IP or name).
    pub address: String,
    /// Its RMCP+ UDP port (623 on real BMCs).
    pub port: u16,
    /// The IPMI user; it needs the operator or administrator privilege for power control.
    pub user: String,
    /// The user's password.
    pub password: Password,
    /// The SDR sensor that reads the host's power draw; `None` takes the first sensor that
    /// reads in Watts.
    pub power_sensor: Option<String>,
}

impl Bmc {
    /// A BMC at `address:port`, first Watts sensor as the power draw.
    pub fn new(
        host: HostId,
        address: impl Into<String>,
        port: u16,
        user: impl Into<String>,
        password: Password,
    ) -> Bmc {
        Bmc { host, address: address.into(), port, user: user.into(), password, power_sensor: None }
    }

    /// `address:port`, as error messages name the BMC.
    pub fn endpoint(&self) -> String {
        format!("{}:{}", self.address, self.port)
    }
}

/// How the driver runs ipmitool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpmiOptions {
    /// The ipmitool program (`ipmitool`, looked up on `PATH`).
    pub tool: PathBuf,
    /// Kill an ipmitool that has not finished after this long.
    pub command_timeout: Duration,
    /// ipmitool's `-N`: seconds to wait for each answer (at least 1).
    pub session_timeout_s: u32,
    /// ipmitool's `-R`: how many times to send a request (at least 1; ipmitool takes 0 as its
    /// default of 4 tries and a 20 s wait).
    pub retries: u32,
    /// An accepted power change not seen within this long is reported `Failed` by `poll`.
    pub confirm_deadline: Duration,
}

impl Default for IpmiOptions {
    /// `ipmitool` from `PATH`, 10 s per command, `-N 1 -R 2` (a silent BMC is reported after
    /// about 3 s), changes confirmed within 5 minutes.
    fn default() -> IpmiOptions {
        IpmiOptions {
            tool: PathBuf::from("ipmitool"),
            command_timeout: Duration::from_secs(10),
            session_timeout_s: 1,
            retries: 2,
            confirm_deadline: Duration::from_secs(300),
        }
    }
}

/// [`Power`] and [`Sensors`] for the hosts of a set of BMCs, through ipmitool.
pub struct IpmiDriver {
    bmcs: BTreeMap<HostId, Bmc>,
    options: IpmiOptions,
    clock: Arc<dyn Clock>,
    ops: ConfirmTable,
}

impl IpmiDriver {
    /// A driver for `bmcs` (a later entry for the same host replaces an earlier one), running
    /// ipmitool as `options` say and timing it on `clock`.
    pub fn new(
        bmcs: impl IntoIterator<Item = Bmc>,
        options: IpmiOptions,
        clock: Arc<dyn Clock>,
    ) -> IpmiDriver {
        IpmiDriver {
            bmcs: bmcs.into_iter().map(|bmc| (bmc.host.clone(), bmc)).collect(),
            options,
            clock,
            ops: ConfirmTable::default(),
        }
    }

    fn bmc(&self, host: &HostId) -> Result<&Bmc, DriverError> {
        self.bmcs.get(host).ok_or_else(|| DriverError::UnknownHost { host: host.clone() })
    }

    /// Runs `command` against `bmc` and returns its stdout, or the error its failure means.
    /// `verbose` adds `-v`, for commands whose stdout it leaves alone.
    fn run(&self, bmc: &Bmc, command: &[&str], verbose: bool) -> Result<String, DriverError> {
        let args = arguments(bmc, &self.options, command, verbose);
        let shown = format!("ipmitool {}", command.join(" "));
        let finished = match command::run(
            &self.options.tool,
            &args,
            &bmc.password.0,
            self.options.command_timeout,
            self.clock.as_ref(),
        ) {
            Ok(finished) => finished,
            Err(RunError::NotInstalled) => {
                return Err(DriverError::ToolMissing {
                    host: bmc.host.clone(),
                    tool: self.options.tool.display().to_string(),
                    package: PACKAGE,
                })
            }
            Err(RunError::Io(err)) => {
                return Err(DriverError::CommandFailed {
                    host: bmc.host.clone(),
                    bmc: bmc.endpoint(),
                    command: shown,
                    status: "not run".to_string(),
                    detail: err.to_string(),
                })
            }
            Err(RunError::TimedOut) => {
                return Err(DriverError::Timeout {
                    host: bmc.host.clone(),
                    bmc: bmc.endpoint(),
                    command: shown,
                    waited: self.options.command_timeout,
                })
            }
        };
        if finished.success {
            return Ok(finished.stdout);
        }
        let (host, endpoint) = (bmc.host.clone(), bmc.endpoint());
        Err(match parse::classify(&finished.stderr) {
            Failure::Authentication(detail) => DriverError::AuthenticationFailed {
                host,
                bmc: endpoint,
                user: bmc.user.clone(),
                detail,
            },
            Failure::Unreachable(detail) => {
                DriverError::Unreachable { host, bmc: endpoint, detail }
            }
            Failure::Unsupported(detail) => {
                DriverError::Unsupported { host, bmc: endpoint, operation: shown, detail }
            }
            Failure::NoSession(detail) if !verbose => match self.run(bmc, STATUS, true) {
                Err(cause) => cause,
                Ok(_) => DriverError::CommandFailed {
                    host,
                    bmc: endpoint,
                    command: shown,
                    status: finished.status,
                    detail: format!("{detail} (a second try to open a session succeeded)"),
                },
            },
            Failure::NoSession(detail) => DriverError::Unreachable { host, bmc: endpoint, detail },
            Failure::Other(detail) => DriverError::CommandFailed {
                host,
                bmc: endpoint,
                command: shown,
                status: finished.status,
                detail,
            },
        })
    }

    fn malformed(bmc: &Bmc, command: &[&str], reply: impl Into<String>) -> DriverError {
        DriverError::MalformedReply {
            host: bmc.host.clone(),
            bmc: bmc.endpoint(),
            command: format!("ipmitool {}", command.join(" ")),
            reply: reply.into(),
        }
    }
}

const STATUS: &[&str] = &["chassis", "power", "status"];
const TEMPERATURES: &[&str] = &["sdr", "type", "temperature"];
const ELIST: &[&str] = &["sdr", "elist"];

/// ipmitool's arguments for `command` against `bmc`: everything but the password, which goes in
/// through the environment (`-E`).
fn arguments(bmc: &Bmc, options: &IpmiOptions, command: &[&str], verbose: bool) -> Vec<String> {
    let mut args: Vec<String> = [
        "-I",
        "lanplus",
        "-C",
        "3",
        "-H",
        &bmc.address,
        "-p",
        &bmc.port.to_string(),
        "-U",
        &bmc.user,
        "-E",
        "-N",
        &options.session_timeout_s.max(1).to_string(),
        "-R",
        &options.retries.max(1).to_string(),
    ]
    .iter()
    .map(|arg| arg.to_string())
    .collect();
    if verbose {
        args.push("-v".to_string());
    }
    args.extend(command.iter().map(|arg| arg.to_string()));
    args
}

impl Power for IpmiDriver {
    fn state(&self, host: &HostId) -> Result<PowerState, DriverError> {
        let bmc = self.bmc(host)?;
        let stdout = self.run(bmc, STATUS, true)?;
        parse::power_status(&stdout).ok_or_else(|| Self::malformed(bmc, STATUS, stdout.trim()))
    }

    fn request(&self, host: &HostId, op: PowerOp) -> Result<OperationId, DriverError> {
        let bmc = self.bmc(host)?;
        let verb = match op {
            PowerOp::On => "on",
            PowerOp::Off => "off",
            PowerOp::SoftOff => "soft",
        };
        let command = ["chassis", "power", verb];
        let requested_at = self.clock.now();
        let stdout = self.run(bmc, &command, true)?;
        if !parse::control_acknowledged(&stdout) {
            return Err(Self::malformed(bmc, &command, stdout.trim()));
        }
        Ok(self.ops.insert(host, op, requested_at, None, false))
    }

    fn poll(&self, id: OperationId) -> Result<OpStatus, DriverError> {
        let pending = match self.ops.pending(id)? {
            Ok(pending) => pending,
            Err(outcome) => return Ok(outcome),
        };
        let state = self.state(&pending.host)?;
        let outcome = confirm_outcome(
            pending.op,
            state == pending.op.target(),
            self.clock.now().saturating_sub(pending.requested_at),
            self.options.confirm_deadline,
            &format!("last state {state}"),
        );
        if outcome == OpStatus::Pending {
            return Ok(outcome);
        }
        Ok(self.ops.settle(id, outcome))
    }

    fn forget(&self, op: OperationId) {
        self.ops.forget(op);
    }
}

impl Sensors for IpmiDriver {
    fn temperatures(&self, host: &HostId) -> Result<Vec<Temperature>, DriverError> {
        let bmc = self.bmc(host)?;
        let stdout = self.run(bmc, TEMPERATURES, false)?;
        parse::temperatures(&stdout).map_err(|line| Self::malformed(bmc, TEMPERATURES, line))
    }

    fn power_draw(&self, host: &HostId) -> Result<PowerDraw, DriverError> {
        let bmc = self.bmc(host)?;
        let stdout = self.run(bmc, ELIST, false)?;
        parse::power_draw(&stdout, bmc.power_sensor.as_deref())
            .map_err(|line| Self::malformed(bmc, ELIST, line))?
            .ok_or_else(|| DriverError::Unsupported {
                host: host.clone(),
                bmc: bmc.endpoint(),
                operation: "a power sensor".to_string(),
                detail: match &bmc.power_sensor {
                    Some(name) => format!("no sensor named {name:?} in `ipmitool sdr elist`"),
                    None => "no sensor reading in Watts in `ipmitool sdr elist`".to_string(),
                },
            })
    }
}

#[cfg(test)]
mod tests;
