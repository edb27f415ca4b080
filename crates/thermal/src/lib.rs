//! The thermal guard (seed 002): detects thermal events from three temperature thresholds, ranks
//! hosts by the cost of powering them down, weighs cost against heat benefit, projects the heat
//! that must go, powers hosts down in order until the event passes and back up in order. Pure:
//! no I/O, no clock; the caller passes the time and the readings.

pub mod view;

pub use view::{Action, HostView, InstanceView, Observation, PowerState, ZoneView};
