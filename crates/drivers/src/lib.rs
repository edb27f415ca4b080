//! Drivers: the only code that touches BMCs and sensors. The [`Power`] and [`Sensors`] traits,
//! the simulated implementation (the reference), IPMI through ipmitool and Redfish over HTTP(S).
//!
//! Reading order: [`host`] (the names every call carries), [`error`] (one error type, every
//! message naming the host and, for a BMC, its address), [`clock`] (the only clock reader),
//! [`power`] (the trait and the verified power change), [`sensors`], [`limiter`] (the cap on
//! simultaneous power changes), then the implementations [`simulated`], [`site`] (a whole
//! simulated data center behind all three traits), [`ipmi`] and [`redfish`]. For the machine
//! hearth runs on: [`hwmon`] (its sensors, from sysfs) and [`process`] (its tasks, as a
//! [`Compute`] driver).
//! Containers on Docker-API engines: [`container`] (a [`Compute`] driver with cold moves).
//!
//! Drivers are keyed by host: one driver object serves a whole fleet (the IPMI driver is a
//! registry of BMCs), so one [`PowerLimiter`] around it caps power changes fleet-wide. The API is
//! blocking; the controller calls it from `spawn_blocking`. docs/drivers.md has the contract.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use drivers::simulated::{SimulatedDriver, Transitions};
//! use drivers::{change_power, HostId, ManualClock, PowerLimiter, PowerOp, PowerState, Wait};
//!
//! let clock = Arc::new(ManualClock::new());
//! let driver = SimulatedDriver::new(clock.clone());
//! let host = HostId::new("h1");
//! driver.add_host(host.clone(), PowerState::Off, Transitions::uniform(Duration::from_secs(4)));
//! // At most 2 power changes in flight; a third request waits up to 10 s for a slot.
//! let power = PowerLimiter::new(driver, 2, Duration::from_secs(10));
//! let took = change_power(&power, clock.as_ref(), &host, PowerOp::On, Wait::default())?;
//! assert_eq!(took, Duration::from_secs(4));
//! # Ok::<(), drivers::DriverError>(())
//! ```

pub mod host;

pub mod error;

pub mod clock;

pub mod power;

pub mod sensors;

pub mod compute;

pub mod facility;

pub mod route;

pub mod config;

pub mod limiter;

pub mod simulated;

pub mod site;

pub mod ipmi;

pub mod redfish;

pub mod hwmon;

#[cfg(unix)]
pub mod process;

#[cfg(feature = "libvirt")]
pub mod libvirt;

pub mod container;

pub use clock::{Clock, ManualClock, SystemClock, UnixClock};
pub use compute::{Compute, ComputeOp, InstanceInfo, InstanceState, MoveCapabilities, MoveKind};
pub use error::DriverError;
pub use facility::{Cooling, Facility};
pub use host::HostId;
pub use limiter::PowerLimiter;
pub use power::{change_power, OpStatus, OperationId, Power, PowerOp, PowerState, Wait};
pub use sensors::{PowerDraw, SensorValue, Sensors, Temperature};
pub use site::{Site, SiteError, SiteSnapshot, SiteSpec};
