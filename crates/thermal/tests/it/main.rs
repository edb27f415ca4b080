//! The thermal guard's integration tests (one binary): detection hysteresis, ranking terms,
//! policy files, the sequencer end to end over a small world, and its state saved and restored
//! at every step. Reference: seed 002, process blocks "detect", "power down in priority order",
//! "event passed", "power up", "cost benefit".

mod detect;
mod guard;
mod harness;
mod persist;
mod policy;
mod rank;
