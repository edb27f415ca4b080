//! The beacon layer (seed 003): how hearth's nodes tell each other how much room they have
//! without locks, polling or a central database, and hearth's heartbeat.
//!
//! Read in this order: [`law`] (the resource-availability metric RA, its penalties, the
//! frequencies V_Balance and V_Power, the α schedule, capacity normalization), [`wire`] (the
//! ≤ 64-byte authenticated messages and their strict decoder), [`queue`] (the lockless
//! two-entry circular queue), [`rate`] (per-sender beacon rates turned back into availability
//! estimates), [`counts`] (the L1/L2 count lists), [`select`] (the receiver: queues, estimates,
//! counts, `select`, `select_fit`, `lost`), and [`udp`] (the only module that touches sockets).
//!
//! Everything but `udp` is pure: no I/O, no clock (callers pass timestamps), no threads.

/// A node's identity on the wire.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct NodeId(pub u32);

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Which selection a beacon stream serves (seed 003, FIG. 16: one stream per purpose).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Load balancing: beacons at V_Balance, most frequent = most available.
    Balance,
    /// Power management: beacons at V_Power, most frequent = least available.
    Power,
}

pub mod counts;
pub mod law;
pub mod queue;
pub mod rate;
pub mod select;
pub mod send;
pub mod udp;
pub mod wire;
