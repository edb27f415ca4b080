//! Drivers: the only code that touches BMCs and sensors. The `Power` and `Sensors` traits, the
//! simulated implementation (the reference) and IPMI through ipmitool.
