//! hearth's data-center twin: a discrete-time, deterministic, trace-driven simulator of hosts,
//! their power draw and the instances on them, with the consolidation baselines of Beloglazov &
//! Buyya (CCPE 2012) and the metrics the literature reports.
//!
//! The crate does no I/O and never reads the wall clock: traces arrive as text, time is the
//! simulation's own, and the caller measures wall time. The same input and seed give the same
//! output, byte for byte.

pub mod engine;
pub mod metrics;
pub mod policy;
pub mod report;
pub mod scenario;
pub mod stats;
pub mod thermal;
pub mod workload;
