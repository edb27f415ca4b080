//! The site's building-management feed: each zone's cooling, as the [`Facility`] trait reports
//! it (nominal = every unit and the heat-recovery loop, available = the ones working now).

use super::Site;
use crate::error::DriverError;
use crate::facility::{Cooling, Facility};

impl Facility for Site {
    fn cooling(&self, zone: &str) -> Result<Cooling, DriverError> {
        let spec = self.spec();
        let Some(zone_spec) = spec.zones.iter().find(|z| z.id == zone) else {
            return Err(DriverError::Refused {
                operation: format!("cooling of zone {zone}"),
                backend: "simulated site".into(),
                reason: "no such zone".into(),
            });
        };
        let snapshot = self.snapshot();
        let now = snapshot.zones.iter().find(|z| z.id == zone);
        let nominal_w = f64::from(zone_spec.cooling_units) * zone_spec.cooling_unit_w
            + zone_spec.heat_recovery_w;
        let (available_w, failed) = match now {
            Some(z) => (
                z.cooling_w,
                z.working_units < z.cooling_units
                    || !z.heat_recovery_up && zone_spec.heat_recovery_w > 0.0,
            ),
            None => (nominal_w, false),
        };
        Ok(Cooling { nominal_w, available_w, failed })
    }
}
