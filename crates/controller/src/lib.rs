//! hearth's controller: the receiving side of the beacon layer, and the control loop that turns
//! the decision crates into a running product: observe → decide → act → verify, journaled in
//! the store so a crash at any point resumes or rolls back.
//!
//! Reading order: [`topology`] (what the controller knows of its site), [`observe`] (one read
//! through the drivers), [`decide`] (estimate, heat plan, thermal override, limits; no I/O),
//! [`step`] (the action vocabulary), [`execute`] (the only code that acts, and the journal),
//! [`service`] (the loop, recovery, totals), [`shared`] (what the API reads and the commands it
//! gives), [`metrics`], [`policy`], [`pool`] (pool mode's service: the pool, its ledger file,
//! its state in the store). [`beacons`] is the beacon receiver; [`clock`] reads the
//! clock for it.

pub mod beacons;
pub mod clock;
pub mod decide;
pub mod execute;
pub mod hosts;
pub mod metrics;
pub mod observe;
pub mod policy;
pub mod pool;
pub mod service;
pub mod shared;
pub mod step;
pub mod topology;

pub use beacon::{Mode, NodeId};
