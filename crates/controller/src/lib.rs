//! hearth's controller. Today it is the receiving side of the beacon layer (issue 4): a receive
//! thread that verifies beacons, feeds the seed-003 receiver (queues, rate estimates, count
//! lists, lost nodes) and keeps the rejection counters; status snapshots and lock-free target
//! selection for the API. Later issues grow it into observe → estimate → plan → act → verify.
//!
//! Read [`beacons`] first; [`clock`] is the only module that reads the clock.

pub mod beacons;
pub mod clock;

pub use beacon::{Mode, NodeId};
