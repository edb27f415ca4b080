//! Heat harvesting (seed 000): estimate each instance's heat rate, and arrange instances over
//! hosts so that as many hosts as possible reach their target minimum heat rate.
//!
//! Read in this order: [`fleet`] (the planner's input, parsed low and lifted into a validated
//! [`fleet::Problem`]), [`mod@plan`] (the planner: repair → cover → drain → place → power →
//! sequence, every decision with a named reason), [`bound`] (the upper bound on covered hosts
//! reported with every plan), [`sequence`] (migration ordering that never overcommits a host),
//! [`exact`] (the MILP ground truth for small fleets), [`generate`] (seeded random fleets for
//! tests and benchmarks) and [`estimate`] (the four heat-rate sources and their fallback
//! ladder).
//!
//! Like every decision crate this one does no I/O, reads no clock and spawns nothing: the twin
//! and the controller call the same functions with the same data.

pub mod bound;
pub mod estimate;
pub mod exact;
pub mod fleet;
pub mod generate;
pub mod plan;
mod planner;
pub mod sequence;

pub use fleet::{FleetError, FleetSpec, Problem};
pub use plan::{plan, Plan};
