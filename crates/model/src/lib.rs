//! Plain data and units that every hearth part shares: resource quantities with their units in
//! the type, power curves, host and instance specifications, and the seeded pseudo-random
//! generator every part draws from, and the TOML reading with key-naming errors that every
//! configuration and scenario file goes through.
//!
//! This crate does no I/O, reads no clock and spawns nothing; it is the vocabulary that the
//! decision crates (heat, thermal, pool, beacon) and the simulator speak.

pub mod host;
pub mod power;
pub mod rand;
pub mod toml_text;
pub mod units;

pub use host::{HostType, InstanceType};
pub use power::{PowerCurve, PowerCurveError};
pub use rand::SplitMix64;
pub use units::{Joules, Mips, Watts};
