//! The drivers' integration tests, one binary (STYLE.md "Inside a crate"): the conformance
//! suite run on the simulated driver and on the IPMI driver against openipmi's ipmi_sim, the
//! IPMI driver's failure modes on a real BMC simulator, and the power-change limiter under
//! threads, and the simulated site (a whole data center behind Power, Sensors and Compute).
//!
//! The IPMI tests need `ipmi_sim` (Debian package openipmi) and `ipmitool`; without them they
//! fail and say to run scripts/test.sh, which installs both.

mod bmc_sim;
mod conformance;
mod ipmi;
mod limiter;
mod simulated;
mod site;
