//! The drivers' integration tests, one binary (STYLE.md "Inside a crate"): the conformance
//! suite run on the simulated driver and on the IPMI driver against openipmi's ipmi_sim, the
//! IPMI driver's failure modes on a real BMC simulator, and the power-change limiter under
//! threads, and the simulated site (a whole data center behind Power, Sensors and Compute).
//!
//! The IPMI tests need `ipmi_sim` (Debian package openipmi) and `ipmitool`; without them they
//! fail and say to run scripts/test.sh, which installs both.
//!
//! The Compute conformance suite (`compute_conformance.rs`) runs on the simulated site
//! (`site_compute.rs`, the reference) and on the process runner (`process.rs`, real
//! `/bin/sleep` tasks); `hwmon.rs` reads Linux sensors from a sysfs fixture tree.
//!
//! The libvirt driver (`libvirt.rs`) runs the Compute suite against libvirt's test driver, two
//! node files as two hosts (Debian libvirt-daemon and libvirt-dev, installed by scripts/test.sh).
//!
//! The Redfish tests (`redfish.rs`) run the driver against sushy-emulator (`redfish_sim.rs`);
//! without it they fail and say to run scripts/test.sh, which installs it into a venv.
//!
//! The container-engine tests (`container.rs`) run the Compute suite and cold moves on two
//! podman services with separate storage (`podman_sim.rs`, Debian podman, runc and
//! busybox-static, installed by scripts/test.sh).

mod bmc_sim;
mod compute_conformance;
mod conformance;
#[cfg(unix)]
mod container;
#[cfg(unix)]
mod hwmon;
mod ipmi;
#[cfg(unix)]
#[cfg(feature = "libvirt")]
mod libvirt;
mod limiter;
#[cfg(unix)]
mod podman_sim;
#[cfg(unix)]
mod process;
mod redfish;
mod redfish_sim;
mod route;
mod simulated;
mod site;
mod site_compute;
