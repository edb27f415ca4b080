//! The Redfish driver: [`Power`] and [`Sensors`] over a BMC's Redfish REST API (DMTF
//! DSP0266), one registry of BMCs keyed by host, on a small blocking HTTP client (reqwest with
//! rustls).
//!
//! - **Power**: the host's ComputerSystem (configured, or the first member of
//!   `/redfish/v1/Systems`). `state` reads its `PowerState`; `request` POSTs its
//!   `#ComputerSystem.Reset` action with `ResetType` `On`, `GracefulShutdown` (soft off) or
//!   `ForceOff` (off), after checking the system allows that value; `poll` reads the state
//!   until it matches or [`RedfishOptions::confirm_deadline`] passes.
//! - **Sensors**: the host's Chassis (configured, the system's `Links.Chassis[0]`, or the first
//!   member of `/redfish/v1/Chassis`): `Thermal` `Temperatures[]` (`Name`, `ReadingCelsius`)
//!   and `Power` `PowerControl[0].PowerConsumedWatts`.
//! - **TLS** is verified by default against the built-in Mozilla roots; `ca_file` pins a CA
//!   instead; `insecure_skip_verify` turns verification off (labs only).
//! - **Authentication** is HTTP basic, or a Redfish session (`X-Auth-Token`).
//!
//! The JSON readers are in the private `parse` module and pure; the HTTP side, with the
//! mapping of HTTP failures to [`DriverError`], in `client`. docs/drivers.md, "The Redfish
//! driver", has the details and the test list.

mod client;
mod parse;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::json;

use crate::clock::Clock;
use crate::error::DriverError;
use crate::host::HostId;
use crate::power::{
    confirm_outcome, ConfirmTable, OpStatus, OperationId, Power, PowerOp, PowerState,
};
use crate::sensors::{PowerDraw, Sensors, Temperature};

use client::Client;

/// A BMC password. Its `Debug` does not show it; the driver never puts it in a message.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// A password given in the configuration.
    pub fn new(password: impl Into<String>) -> Password {
        Password(password.into())
    }

    /// The password held in the environment variable `var` (so it stays out of configuration
    /// files).
    ///
    /// # Errors
    /// [`RedfishConfigError::PasswordEnv`] when `var` is unset, empty or not Unicode.
    pub fn from_env(var: &str) -> Result<Password, RedfishConfigError> {
        match std::env::var(var) {
            Ok(value) if !value.is_empty() => Ok(Password(value)),
            Ok(_) => Err(RedfishConfigError::PasswordEnv { var: var.into(), reason: "empty" }),
            Err(std::env::VarError::NotPresent) => {
                Err(RedfishConfigError::PasswordEnv { var: var.into(), reason: "not set" })
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(RedfishConfigError::PasswordEnv { var: var.into(), reason: "not Unicode" })
            }
        }
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// How the driver authenticates to a BMC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthMode {
    /// HTTP basic authentication on every request (the user name and password travel with
    /// each request: use https).
    #[default]
    Basic,
    /// A Redfish session: `POST /redfish/v1/SessionService/Sessions` once, then the
    /// `X-Auth-Token` it returns on every request. On a 401 the driver logs in again, once, and
    /// repeats the request; it deletes the session when dropped.
    Session,
}

/// Per-request time limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedfishTimeouts {
    /// Opening the TCP connection (and TLS handshake).
    pub connect: Duration,
    /// The whole request, connection to last byte of the reply. A BMC that does not answer
    /// within it is [`DriverError::Timeout`].
    pub request: Duration,
}

impl Default for RedfishTimeouts {
    /// 5 s to connect, 15 s per request (BMCs are slow; some take seconds to answer a GET).
    fn default() -> RedfishTimeouts {
        RedfishTimeouts { connect: Duration::from_secs(5), request: Duration::from_secs(15) }
    }
}

/// One host's BMC: where its Redfish service is, how to log in, which resources are the
/// host's, and how long to wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedfishBmc {
    /// `https://host[:port]` (or `http://…` for a lab emulator); scheme, host and port only.
    pub address: String,
    /// The Redfish user; it needs the privilege to reset the system (`ConfigureComponents`).
    pub user: String,
    /// Its password.
    pub password: Password,
    /// Basic or session authentication.
    pub auth: AuthMode,
    /// A PEM file of the CA (or CAs) that signed the BMC's certificate. When set, only these
    /// are trusted, not the built-in roots. https only.
    pub ca_file: Option<PathBuf>,
    /// **Turns TLS certificate verification off**: any certificate, any name. For lab BMCs
    /// with self-signed certificates only; anyone on the path can then read the credentials.
    /// Prefer `ca_file`. https only; conflicts with `ca_file`.
    pub insecure_skip_verify: bool,
    /// The host's ComputerSystem: an Id (`"1"`, `"System.Embedded.1"`) or a path under
    /// `/redfish/v1/`. `None` takes the first member of `/redfish/v1/Systems`.
    pub system: Option<String>,
    /// The Chassis that holds the host's sensors: an Id or a path under `/redfish/v1/`.
    /// `None` takes the system's `Links.Chassis[0]`, else the first member of
    /// `/redfish/v1/Chassis`.
    pub chassis: Option<String>,
    /// Per-request time limits.
    pub timeouts: RedfishTimeouts,
}

impl RedfishBmc {
    /// A BMC at `address` with basic authentication, TLS verified against the built-in roots,
    /// system and chassis discovered, default timeouts.
    pub fn new(
        address: impl Into<String>,
        user: impl Into<String>,
        password: Password,
    ) -> RedfishBmc {
        RedfishBmc {
            address: address.into(),
            user: user.into(),
            password,
            auth: AuthMode::Basic,
            ca_file: None,
            insecure_skip_verify: false,
            system: None,
            chassis: None,
            timeouts: RedfishTimeouts::default(),
        }
    }
}

/// Options for every BMC of a driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedfishOptions {
    /// An accepted power change not seen within this long is reported `Failed` by `poll`.
    pub confirm_deadline: Duration,
}

impl Default for RedfishOptions {
    /// Changes confirmed within 5 minutes (a graceful shutdown waits for the operating system).
    fn default() -> RedfishOptions {
        RedfishOptions { confirm_deadline: Duration::from_secs(300) }
    }
}

/// A BMC configuration the driver cannot use.
#[derive(Debug, thiserror::Error)]
pub enum RedfishConfigError {
    /// The address is not `https://host[:port]` or `http://host[:port]`.
    #[error(
        "host {host}: Redfish address {address:?}: {reason}; expected https://host[:port] \
         (or http://host[:port])"
    )]
    BadAddress {
        /// The host.
        host: HostId,
        /// The address as configured.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The `system` or `chassis` setting is neither an Id nor a path under `/redfish/v1/`.
    #[error("host {host}: Redfish {field} {value:?}: expected an Id or a path under /redfish/v1/")]
    BadResource {
        /// The host.
        host: HostId,
        /// `system` or `chassis`.
        field: &'static str,
        /// The value as configured.
        value: String,
    },
    /// The CA file cannot be read or holds no certificate.
    #[error("host {host}: Redfish CA file {}: {reason}", path.display())]
    CaFile {
        /// The host.
        host: HostId,
        /// The file.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// Both `ca_file` and `insecure_skip_verify` are set.
    #[error("host {host}: Redfish ca_file and insecure_skip_verify are both set; choose one")]
    ConflictingTls {
        /// The host.
        host: HostId,
    },
    /// A TLS option is set for an `http://` address.
    #[error(
        "host {host}: Redfish ca_file or insecure_skip_verify set for {origin}, which is not https"
    )]
    TlsWithoutHttps {
        /// The host.
        host: HostId,
        /// The BMC's origin.
        origin: String,
    },
    /// The password's environment variable cannot be read.
    #[error("environment variable {var} (a BMC password): {reason}")]
    PasswordEnv {
        /// The variable.
        var: String,
        /// `not set`, `empty` or `not Unicode`.
        reason: &'static str,
    },
    /// The HTTP client could not be built (TLS setup).
    #[error("host {host}: Redfish HTTP client: {reason}")]
    Client {
        /// The host.
        host: HostId,
        /// Why.
        reason: String,
    },
}

/// The Redfish `ResetType` the driver sends for `op`: `On`, `ForceOff` (off) or
/// `GracefulShutdown` (soft off).
pub fn reset_type(op: PowerOp) -> &'static str {
    match op {
        PowerOp::On => "On",
        PowerOp::Off => "ForceOff",
        PowerOp::SoftOff => "GracefulShutdown",
    }
}

/// `value` (an Id or a path) as a path under `/redfish/v1/<collection>/`.
fn resource_path(collection: &str, value: &str) -> Option<String> {
    if value.starts_with("/redfish/v1/") && value.len() > "/redfish/v1/".len() {
        Some(value.trim_end_matches('/').to_string())
    } else if !value.is_empty() && !value.contains(['/', '?', '#']) {
        Some(format!("/redfish/v1/{collection}/{value}"))
    } else {
        None
    }
}

/// One host's BMC as the driver holds it.
struct Entry {
    client: Client,
    /// The system's path, configured or discovered (then cached).
    system: Mutex<Option<String>>,
    /// The chassis's path, configured or discovered (then cached).
    chassis: Mutex<Option<String>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update is a single insert, remove or assignment.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// [`Power`] and [`Sensors`] for the hosts of a set of Redfish BMCs.
///
/// Calls block for at most one request timeout per HTTP request (a call makes one to four:
/// discovery is cached after its first success). Call it from blocking threads, as the rest of
/// the driver API.
pub struct RedfishDriver {
    bmcs: BTreeMap<HostId, Entry>,
    options: RedfishOptions,
    clock: Arc<dyn Clock>,
    ops: ConfirmTable,
}

impl RedfishDriver {
    /// A driver with no BMCs yet, confirming changes as `options` say and timing them on
    /// `clock`.
    pub fn new(options: RedfishOptions, clock: Arc<dyn Clock>) -> RedfishDriver {
        RedfishDriver { bmcs: BTreeMap::new(), options, clock, ops: ConfirmTable::default() }
    }

    /// Adds (or replaces) `host`'s BMC. Nothing is sent to the BMC yet.
    ///
    /// # Errors
    /// A [`RedfishConfigError`] naming the host and the setting: a bad address, `system` or
    /// `chassis`; an unreadable CA file; conflicting TLS options.
    pub fn add_host(&mut self, host: HostId, bmc: RedfishBmc) -> Result<(), RedfishConfigError> {
        let configured = |field: &'static str, collection: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(|value| {
                    resource_path(collection, value).ok_or_else(|| {
                        RedfishConfigError::BadResource {
                            host: host.clone(),
                            field,
                            value: value.to_string(),
                        }
                    })
                })
                .transpose()
        };
        let system = configured("system", "Systems", &bmc.system)?;
        let chassis = configured("chassis", "Chassis", &bmc.chassis)?;
        let client = Client::new(&host, &bmc)?;
        let entry = Entry { client, system: Mutex::new(system), chassis: Mutex::new(chassis) };
        self.bmcs.insert(host, entry);
        Ok(())
    }

    /// The BMC of `host`, as errors name it (`https://10.0.0.5:443`).
    pub fn bmc_origin(&self, host: &HostId) -> Option<&str> {
        self.bmcs.get(host).map(|entry| entry.client.origin())
    }

    /// The `ResetType` values `host`'s system allows (from `@Redfish.AllowableValues`, or its
    /// `@Redfish.ActionInfo`); `Ok(None)` when the BMC does not say.
    ///
    /// # Errors
    /// The system has no Reset action ([`DriverError::Unsupported`]), or reading it failed.
    pub fn allowed_reset_types(&self, host: &HostId) -> Result<Option<Vec<String>>, DriverError> {
        let entry = self.entry(host)?;
        let (path, system) = self.system(entry)?;
        let reset = Self::reset_action(entry, &path, &system)?;
        Self::allowed(entry, reset)
    }

    /// POSTs `#ComputerSystem.Reset` with `reset_type` (any Redfish value: `ForceRestart`,
    /// `Nmi`, …) after checking the system allows it. Not tracked: no operation id, no
    /// idempotency check. [`Power::request`] is the tracked way to power on and off.
    ///
    /// # Errors
    /// [`DriverError::Unsupported`] when the system's allowed values do not list
    /// `reset_type`; any error of the requests.
    pub fn reset(&self, host: &HostId, reset_type: &str) -> Result<(), DriverError> {
        let entry = self.entry(host)?;
        let (path, system) = self.system(entry)?;
        let reset = Self::reset_action(entry, &path, &system)?;
        Self::check_allowed(entry, reset, reset_type)?;
        entry.client.post(&reset.target, &json!({ "ResetType": reset_type }))
    }

    /// POSTs `#ComputerSystem.Reset` with `reset_type` without checking the allowed values:
    /// for BMCs whose list is wrong, and for tests of how the BMC refuses a value.
    ///
    /// # Errors
    /// What the BMC answers, mapped as every request's errors are (a 400 or 501 that says the
    /// value is not supported is [`DriverError::Unsupported`]).
    pub fn reset_unchecked(&self, host: &HostId, reset_type: &str) -> Result<(), DriverError> {
        let entry = self.entry(host)?;
        let (path, system) = self.system(entry)?;
        let reset = Self::reset_action(entry, &path, &system)?;
        entry.client.post(&reset.target, &json!({ "ResetType": reset_type }))
    }

    fn entry(&self, host: &HostId) -> Result<&Entry, DriverError> {
        self.bmcs.get(host).ok_or_else(|| DriverError::UnknownHost { host: host.clone() })
    }

    /// The system's path (configured, cached, or the first member of `/redfish/v1/Systems`).
    fn system_path(entry: &Entry) -> Result<String, DriverError> {
        if let Some(path) = lock(&entry.system).clone() {
            return Ok(path);
        }
        let path = Self::first_member(entry, "/redfish/v1/Systems", "power control")?;
        *lock(&entry.system) = Some(path.clone());
        Ok(path)
    }

    /// The first member of `collection`; an empty one is `Unsupported` for `needed_for`.
    fn first_member(
        entry: &Entry,
        collection: &str,
        needed_for: &str,
    ) -> Result<String, DriverError> {
        let doc = entry.client.get(collection)?;
        parse::first_member(&doc)
            .map_err(|problem| entry.client.malformed(&format!("GET {collection}"), problem))?
            .ok_or_else(|| {
                entry.client.unsupported(needed_for, format!("{collection} has no members"))
            })
    }

    /// The system's path and document.
    fn system(&self, entry: &Entry) -> Result<(String, parse::System), DriverError> {
        let path = Self::system_path(entry)?;
        let doc = entry.client.get(&path)?;
        let system = parse::system(&doc)
            .map_err(|problem| entry.client.malformed(&format!("GET {path}"), problem))?;
        Ok((path, system))
    }

    fn reset_action<'s>(
        entry: &Entry,
        path: &str,
        system: &'s parse::System,
    ) -> Result<&'s parse::ResetAction, DriverError> {
        system.reset.as_ref().ok_or_else(|| {
            entry
                .client
                .unsupported("power control", format!("{path} has no #ComputerSystem.Reset action"))
        })
    }

    fn allowed(
        entry: &Entry,
        reset: &parse::ResetAction,
    ) -> Result<Option<Vec<String>>, DriverError> {
        if let Some(allowed) = &reset.allowed {
            return Ok(Some(allowed.clone()));
        }
        let Some(info) = &reset.action_info else {
            return Ok(None);
        };
        let doc = entry.client.get(info)?;
        parse::action_info_reset_types(&doc)
            .map_err(|problem| entry.client.malformed(&format!("GET {info}"), problem))
    }

    /// `Unsupported` unless the system allows `reset_type` (or does not say what it allows).
    fn check_allowed(
        entry: &Entry,
        reset: &parse::ResetAction,
        reset_type: &str,
    ) -> Result<(), DriverError> {
        match Self::allowed(entry, reset)? {
            Some(allowed) if !allowed.iter().any(|value| value == reset_type) => {
                Err(entry.client.unsupported(
                    format!("ResetType {reset_type}"),
                    format!("{} allows ResetType {}", reset.target, allowed.join(", ")),
                ))
            }
            _ => Ok(()),
        }
    }

    /// The chassis's path: configured, cached, the system's `Links.Chassis[0]`, or the first
    /// member of `/redfish/v1/Chassis`.
    fn chassis_path(&self, entry: &Entry) -> Result<String, DriverError> {
        if let Some(path) = lock(&entry.chassis).clone() {
            return Ok(path);
        }
        let (_, system) = self.system(entry)?;
        let path = match system.chassis {
            Some(path) => path,
            None => Self::first_member(entry, "/redfish/v1/Chassis", "sensors")?,
        };
        *lock(&entry.chassis) = Some(path.clone());
        Ok(path)
    }

    /// The chassis's links to its Thermal and Power resources.
    fn chassis(&self, entry: &Entry) -> Result<(String, parse::Chassis), DriverError> {
        let path = self.chassis_path(entry)?;
        let doc = entry.client.get(&path)?;
        let chassis = parse::chassis(&doc)
            .map_err(|problem| entry.client.malformed(&format!("GET {path}"), problem))?;
        Ok((path, chassis))
    }
}

impl Power for RedfishDriver {
    fn state(&self, host: &HostId) -> Result<PowerState, DriverError> {
        let entry = self.entry(host)?;
        Ok(self.system(entry)?.1.power)
    }

    fn request(&self, host: &HostId, op: PowerOp) -> Result<OperationId, DriverError> {
        let entry = self.entry(host)?;
        let requested_at = self.clock.now();
        let (path, system) = self.system(entry)?;
        // Idempotent: a host already in the target state is Done without a reset (some BMCs
        // refuse `On` for a host that is on).
        let outcome = if system.power == op.target() {
            Some(OpStatus::Done)
        } else {
            let reset = Self::reset_action(entry, &path, &system)?;
            let reset_type = reset_type(op);
            Self::check_allowed(entry, reset, reset_type)?;
            entry.client.post(&reset.target, &json!({ "ResetType": reset_type }))?;
            None
        };
        // A newer change for the host replaces any still pending.
        Ok(self.ops.insert(host, op, requested_at, outcome, true))
    }

    fn poll(&self, id: OperationId) -> Result<OpStatus, DriverError> {
        let pending = match self.ops.pending(id)? {
            Ok(pending) => pending,
            Err(outcome) => return Ok(outcome),
        };
        let entry = self.entry(&pending.host)?;
        let (_, system) = self.system(entry)?;
        let outcome = confirm_outcome(
            pending.op,
            system.power == pending.op.target(),
            self.clock.now().saturating_sub(pending.requested_at),
            self.options.confirm_deadline,
            &format!("last PowerState {}", system.power_raw.as_deref().unwrap_or("absent")),
        );
        if outcome == OpStatus::Pending {
            return Ok(outcome);
        }
        // A request made meanwhile may have superseded it: that outcome stands.
        Ok(self.ops.settle(id, outcome))
    }

    fn forget(&self, op: OperationId) {
        self.ops.forget(op);
    }
}

impl Sensors for RedfishDriver {
    fn temperatures(&self, host: &HostId) -> Result<Vec<Temperature>, DriverError> {
        let entry = self.entry(host)?;
        let (path, chassis) = self.chassis(entry)?;
        let thermal = chassis.thermal.unwrap_or_else(|| format!("{path}/Thermal"));
        let doc = entry.client.get_if_present(&thermal)?.ok_or_else(|| {
            entry.client.unsupported("temperatures", format!("no Thermal resource at {thermal}"))
        })?;
        parse::temperatures(&doc)
            .map_err(|problem| entry.client.malformed(&format!("GET {thermal}"), problem))
    }

    fn power_draw(&self, host: &HostId) -> Result<PowerDraw, DriverError> {
        let entry = self.entry(host)?;
        let (path, chassis) = self.chassis(entry)?;
        let Some(power) = chassis.power else {
            return Err(entry
                .client
                .unsupported("a power sensor", format!("chassis {path} links no Power resource")));
        };
        let doc = entry.client.get_if_present(&power)?.ok_or_else(|| {
            entry.client.unsupported("a power sensor", format!("no Power resource at {power}"))
        })?;
        parse::power_draw(&doc)
            .map_err(|problem| entry.client.malformed(&format!("GET {power}"), problem))?
            .ok_or_else(|| {
                entry.client.unsupported("a power sensor", format!("{power} has no PowerControl"))
            })
    }
}

#[cfg(test)]
mod tests;
