//! The [`Facility`] trait: the state of a zone's cooling paths (cooling units and the
//! heat-recovery loop), which the thermal guard reads alongside the hosts' sensors. A site with
//! no building-management feed has no facility driver; the controller then takes the configured
//! nominal capacity as available and relies on temperatures alone.

use serde::{Deserialize, Serialize};

use crate::error::DriverError;

/// A zone's cooling as the facility reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cooling {
    /// Heat removal of every path when all work, W.
    pub nominal_w: f64,
    /// Heat removal of the paths that work now, W.
    pub available_w: f64,
    /// Some path reports a failure.
    pub failed: bool,
}

/// Cooling state per zone, keyed by the zone's id.
pub trait Facility: Send + Sync {
    /// The zone's cooling now. An unknown zone is [`DriverError::Refused`] naming it.
    fn cooling(&self, zone: &str) -> Result<Cooling, DriverError>;
}
