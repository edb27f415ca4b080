//! The thermal guard's integration tests (one binary): detection hysteresis, ranking terms,
//! policy files, and the sequencer end to end over a small world. Reference: seed 002, process
//! blocks "detect", "power down in priority order", "event passed", "power up", "cost benefit".

mod detect;
mod guard;
mod harness;
mod policy;
mod rank;
