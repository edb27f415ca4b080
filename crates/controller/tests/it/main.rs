//! The controller's integration tests: the control loop against the simulated site, in virtual
//! time (a `ManualClock` that the executor's waits advance).

mod control_loop;
mod thermal_event;
