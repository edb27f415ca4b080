//! The thermal guard (seed 002): detects thermal events from three temperature thresholds, ranks
//! hosts by the cost of powering them down, weighs cost against heat benefit, projects the heat
//! that must go, powers hosts down in order until the event passes and back up in order. Pure:
//! no I/O, no clock; the caller passes the time and the readings.
//!
//! Reading order: `view` (what the guard sees and returns), `policy` (thresholds and weights),
//! `detect` (events), `rank` (cost), `benefit` (benefit and cost–benefit), `project` (heat
//! budget), `choose` (the least-cost covering set), `strategy` (what the twin compares), `audit`
//! (records), `guard` (the sequencer that composes them). docs/thermal.md describes the model.
//!
//! The guard's whole state serializes with serde ([`Guard`] and every type it holds), so a
//! controller can save it between steps and resume after a restart; `float` holds the helpers
//! that keep its numbers exact.

pub mod view;

pub mod policy;

pub mod detect;

pub mod rank;

pub mod benefit;

pub mod project;

pub mod choose;

pub mod strategy;

pub mod audit;

pub mod guard;

mod float;

pub use audit::{AuditRecord, Reason};
pub use guard::{Guard, ShedHost, ShedStage, StepError, ZonePhase, ZoneStatus};
pub use policy::{Policy, PolicyError};
pub use strategy::{Strategy, StrategyError};
pub use view::{Action, HostView, InstanceView, Observation, PowerState, ZoneView};
