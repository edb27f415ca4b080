//! The site's building-management feed: each zone's cooling, as the [`Facility`] trait reports
//! it (nominal = every unit and the heat-recovery loop, available = the ones working now).
//! Read straight from the world moved to the current site time: `O(log zones)` a call.

use super::world::cooling_w;
use super::Site;
use crate::error::DriverError;
use crate::facility::{Cooling, Facility};

impl Facility for Site {
    fn cooling(&self, zone: &str) -> Result<Cooling, DriverError> {
        let inner = self.advanced();
        let world = &inner.world;
        let Some(idx) = world.zone(zone) else {
            return Err(DriverError::Refused {
                operation: format!("cooling of zone {zone}"),
                backend: "simulated site".into(),
                reason: "no such zone".into(),
            });
        };
        let zone_spec = &world.state.spec.zones[idx];
        let now = &world.state.zones[idx];
        let nominal_w = f64::from(zone_spec.cooling_units) * zone_spec.cooling_unit_w
            + zone_spec.heat_recovery_w;
        let working_units = zone_spec.cooling_units.saturating_sub(now.failed_units);
        let failed = working_units < zone_spec.cooling_units
            || now.recovery_down > 0 && zone_spec.heat_recovery_w > 0.0;
        Ok(Cooling { nominal_w, available_w: cooling_w(&world.state.spec, idx, now), failed })
    }
}
