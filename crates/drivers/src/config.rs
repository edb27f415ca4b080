//! Which driver serves each host, as a controller's hosts file says it ([`HostDrivers`], serde),
//! and [`build`], which turns a fleet's entries into one [`Routed`] driver: every IPMI host in
//! one IPMI driver, every Redfish host in one Redfish driver, Linux sensors and the process
//! runner per host. Passwords are never in the file: `password_env` names the environment
//! variable that holds them.
//!
//! ```toml
//! power = { driver = "redfish", url = "https://10.0.0.12", user = "admin", password_env = "BMC_PASS" }
//! sensors = { driver = "bmc" }          # the power driver's BMC: IPMI SDR or Redfish Thermal
//! compute = { driver = "process" }
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::host::HostId;
use crate::ipmi::{Bmc, IpmiDriver, IpmiOptions, Password as IpmiPassword};
use crate::redfish::{
    AuthMode, Password as RedfishPassword, RedfishBmc, RedfishDriver, RedfishOptions,
};
use crate::route::Routed;

fn ipmi_port() -> u16 {
    623
}

/// A host's power driver.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "driver", rename_all = "snake_case", deny_unknown_fields)]
pub enum PowerSpec {
    /// IPMI over LAN (ipmitool, lanplus, cipher suite 3).
    Ipmi {
        /// BMC address.
        address: String,
        /// BMC port. Default 623.
        #[serde(default = "ipmi_port")]
        port: u16,
        /// BMC user.
        user: String,
        /// The environment variable holding the password.
        password_env: String,
        /// The SDR sensor that reads the host's power draw.
        #[serde(default)]
        power_sensor: Option<String>,
    },
    /// Redfish (ComputerSystem.Reset, Chassis Thermal and Power).
    Redfish {
        /// `https://host[:port]` (or `http://` for labs).
        url: String,
        /// BMC user.
        user: String,
        /// The environment variable holding the password.
        password_env: String,
        /// Use a Redfish session (X-Auth-Token) instead of basic authentication.
        #[serde(default)]
        session: bool,
        /// A CA certificate (PEM) to trust for this BMC.
        #[serde(default)]
        ca_file: Option<PathBuf>,
        /// Skip TLS verification (labs only).
        #[serde(default)]
        insecure_skip_verify: bool,
        /// The ComputerSystem (an Id or a path); default the first.
        #[serde(default)]
        system: Option<String>,
        /// The Chassis for sensors (an Id or a path); default the first.
        #[serde(default)]
        chassis: Option<String>,
    },
    /// No power control: the controller never powers this host on or off.
    #[default]
    None,
}

/// A host's sensors.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "driver", rename_all = "snake_case", deny_unknown_fields)]
pub enum SensorsSpec {
    /// The power driver's BMC (IPMI SDR or Redfish Thermal and Power).
    Bmc,
    /// This machine's hwmon and thermal zones (the controller's own host).
    Hwmon {
        /// The sysfs root (default `/`).
        #[serde(default)]
        root: Option<PathBuf>,
        /// The sensor that reads the host's power draw.
        #[serde(default)]
        power_sensor: Option<String>,
    },
    /// No sensors: the controller reports "no reading", never zero.
    #[default]
    None,
}

/// A host's compute driver.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "driver", rename_all = "snake_case", deny_unknown_fields)]
pub enum ComputeSpec {
    /// Local processes (the pool's tasks): this machine only.
    Process,
    /// Containers on a Docker-API engine (Docker, podman's service); cold moves only.
    Container {
        /// The engine: `unix:///run/podman/podman.sock`, `tcp://10.0.0.11:2375`.
        endpoint: String,
    },
    /// Virtual machines through libvirt (needs the `libvirt` cargo feature).
    Libvirt {
        /// The host's libvirt URI (`qemu+ssh://root@10.0.0.11/system`, `test:///path.xml`).
        uri: String,
    },
    /// Nothing hearth manages runs here.
    #[default]
    None,
}

/// Every driver of one host.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostDrivers {
    /// Power.
    #[serde(default)]
    pub power: PowerSpec,
    /// Sensors.
    #[serde(default)]
    pub sensors: SensorsSpec,
    /// Compute.
    #[serde(default)]
    pub compute: ComputeSpec,
}

/// A host's drivers that cannot be built; the message names the host and the key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("host {host}: {key}: {problem}")]
pub struct ConfigError {
    /// The host.
    pub host: HostId,
    /// The key (`power.password_env`).
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

impl PowerSpec {
    /// The driver's kind name.
    pub fn kind(&self) -> &'static str {
        match self {
            PowerSpec::Ipmi { .. } => "ipmi",
            PowerSpec::Redfish { .. } => "redfish",
            PowerSpec::None => "none",
        }
    }
}

/// Builds one router over `hosts`' drivers. `env` reads an environment variable (the caller
/// passes `std::env::var`; tests pass a map).
pub fn build(
    hosts: &[(HostId, HostDrivers)],
    clock: Arc<dyn Clock>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Routed, ConfigError> {
    let password = |host: &HostId, var: &str| {
        env(var).filter(|p| !p.is_empty()).ok_or_else(|| ConfigError {
            host: host.clone(),
            key: "power.password_env".into(),
            problem: format!(
                "the environment variable {var} is not set (it holds the BMC password)"
            ),
        })
    };
    let mut ipmi_bmcs = Vec::new();
    let mut redfish = RedfishDriver::new(RedfishOptions::default(), clock.clone());
    let mut redfish_hosts = Vec::new();
    for (host, drivers) in hosts {
        match &drivers.power {
            PowerSpec::Ipmi { address, port, user, password_env, power_sensor } => {
                let mut bmc = Bmc::new(
                    host.clone(),
                    address.clone(),
                    *port,
                    user.clone(),
                    IpmiPassword::new(password(host, password_env)?),
                );
                bmc.power_sensor.clone_from(power_sensor);
                ipmi_bmcs.push(bmc);
            }
            PowerSpec::Redfish {
                url,
                user,
                password_env,
                session,
                ca_file,
                insecure_skip_verify,
                system,
                chassis,
            } => {
                let mut bmc = RedfishBmc::new(
                    url.clone(),
                    user.clone(),
                    RedfishPassword::new(password(host, password_env)?),
                );
                bmc.auth = if *session { AuthMode::Session } else { AuthMode::Basic };
                bmc.ca_file.clone_from(ca_file);
                bmc.insecure_skip_verify = *insecure_skip_verify;
                bmc.system.clone_from(system);
                bmc.chassis.clone_from(chassis);
                redfish.add_host(host.clone(), bmc).map_err(|e| ConfigError {
                    host: host.clone(),
                    key: "power".into(),
                    problem: e.to_string(),
                })?;
                redfish_hosts.push(host.clone());
            }
            PowerSpec::None => {}
        }
        if drivers.sensors == SensorsSpec::Bmc && drivers.power == PowerSpec::None {
            return Err(ConfigError {
                host: host.clone(),
                key: "sensors".into(),
                problem: "driver \"bmc\" reads the power driver's BMC, but power has none".into(),
            });
        }
    }
    let ipmi = Arc::new(IpmiDriver::new(ipmi_bmcs, IpmiOptions::default(), clock.clone()));
    // One container driver for every container host (an engine per host inside).
    let mut containers: Option<crate::container::ContainerDriver> = None;
    for (host, drivers) in hosts {
        if let ComputeSpec::Container { endpoint } = &drivers.compute {
            let bad = |problem: String| ConfigError {
                host: host.clone(),
                key: "compute.endpoint".into(),
                problem,
            };
            let parsed: crate::container::Endpoint = endpoint
                .parse()
                .map_err(|e: crate::container::EndpointError| bad(e.to_string()))?;
            if containers.is_none() {
                let driver = crate::container::ContainerDriver::new(
                    crate::container::ContainerOptions::default(),
                    clock.clone(),
                )
                .map_err(|e| bad(e.to_string()))?;
                containers = Some(driver);
            }
            if let Some(driver) = containers.as_mut() {
                driver.add_host(host.clone(), parsed).map_err(|e| bad(e.to_string()))?;
            }
        }
    }
    let containers = containers.map(Arc::new);
    // One libvirt driver for every libvirt host (a connection per host URI inside).
    #[cfg(feature = "libvirt")]
    let libvirt = {
        let mut driver = crate::libvirt::LibvirtDriver::new(clock.clone());
        for (host, drivers) in hosts {
            if let ComputeSpec::Libvirt { uri } = &drivers.compute {
                driver = driver.with_host(host.clone(), uri.clone());
            }
        }
        Arc::new(driver)
    };
    let redfish = Arc::new(redfish);
    let mut routed = Routed::new();
    for (host, drivers) in hosts {
        let kind = drivers.power.kind();
        match &drivers.power {
            PowerSpec::Ipmi { .. } => routed.set_power(host.clone(), kind, ipmi.clone()),
            PowerSpec::Redfish { .. } => routed.set_power(host.clone(), kind, redfish.clone()),
            PowerSpec::None => {}
        }
        match &drivers.sensors {
            SensorsSpec::Bmc => match &drivers.power {
                PowerSpec::Ipmi { .. } => routed.set_sensors(host.clone(), "ipmi", ipmi.clone()),
                PowerSpec::Redfish { .. } => {
                    routed.set_sensors(host.clone(), "redfish", redfish.clone())
                }
                PowerSpec::None => {}
            },
            SensorsSpec::Hwmon { root, power_sensor } => {
                let mut sensors = crate::hwmon::LinuxSensors::new(host.clone());
                if let Some(root) = root {
                    sensors = sensors.with_root(root.clone());
                }
                if let Some(name) = power_sensor {
                    sensors = sensors.with_power_sensor(name.clone());
                }
                routed.set_sensors(host.clone(), "hwmon", Arc::new(sensors));
            }
            SensorsSpec::None => {}
        }
        match &drivers.compute {
            #[cfg(unix)]
            ComputeSpec::Process => {
                let runner = crate::process::ProcessRunner::new(host.clone(), clock.clone());
                routed.set_compute(host.clone(), "process", Arc::new(runner));
            }
            #[cfg(not(unix))]
            ComputeSpec::Process => {
                return Err(ConfigError {
                    host: host.clone(),
                    key: "compute".into(),
                    problem: "the process runner needs a unix system".into(),
                })
            }
            #[cfg(feature = "libvirt")]
            ComputeSpec::Libvirt { .. } => {
                routed.set_compute(host.clone(), "libvirt", libvirt.clone())
            }
            #[cfg(not(feature = "libvirt"))]
            ComputeSpec::Libvirt { .. } => {
                return Err(ConfigError {
                    host: host.clone(),
                    key: "compute".into(),
                    problem: "this hearth was built without libvirt support (build with \
                              `--features drivers/libvirt`, which needs Debian's libvirt-dev)"
                        .into(),
                })
            }
            ComputeSpec::Container { .. } => {
                if let Some(driver) = &containers {
                    routed.set_compute(host.clone(), "container", driver.clone());
                }
            }
            ComputeSpec::None => {}
        }
    }
    Ok(routed)
}
