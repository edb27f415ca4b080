//! The [`Sensors`] trait: a host's temperatures (named, in °C) and its power draw (W), each
//! reading either a value or explicitly unavailable.

use std::fmt;

use crate::error::DriverError;
use crate::host::HostId;

/// One sensor reading: a number, or why there is none. An unavailable reading is not zero: the
/// sensor exists but gave no value (no reading, disabled, not scanned).
#[derive(Clone, Debug, PartialEq)]
pub enum SensorValue {
    /// The reading, in the unit its field names.
    Value(f64),
    /// No reading, and the BMC's or driver's word for why (`"ns: No Reading"`).
    Unavailable(String),
}

impl SensorValue {
    /// The value, if there is one.
    pub fn value(&self) -> Option<f64> {
        match self {
            SensorValue::Value(value) => Some(*value),
            SensorValue::Unavailable(_) => None,
        }
    }
}

impl fmt::Display for SensorValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SensorValue::Value(value) => write!(f, "{value}"),
            SensorValue::Unavailable(why) => write!(f, "unavailable ({why})"),
        }
    }
}

/// A named temperature sensor's reading.
#[derive(Clone, Debug, PartialEq)]
pub struct Temperature {
    /// The sensor's name as the BMC reports it (`"CPU Temp"`).
    pub name: String,
    /// The reading in °C.
    pub celsius: SensorValue,
}

/// The host's power draw, from the sensor that measures it.
#[derive(Clone, Debug, PartialEq)]
pub struct PowerDraw {
    /// The sensor's name (`"Sys Power"`).
    pub name: String,
    /// The reading in W.
    pub watts: SensorValue,
}

/// Sensor readings of the hosts a driver knows, keyed by [`HostId`].
pub trait Sensors: Send + Sync {
    /// Every temperature sensor of the host, in the BMC's order. A host with none gives an empty
    /// list.
    fn temperatures(&self, host: &HostId) -> Result<Vec<Temperature>, DriverError>;
    /// The host's power draw. A host without a power sensor is
    /// [`DriverError::Unsupported`]; one whose sensor gives no reading is
    /// [`SensorValue::Unavailable`].
    fn power_draw(&self, host: &HostId) -> Result<PowerDraw, DriverError>;
}

impl<S: Sensors + ?Sized> Sensors for std::sync::Arc<S> {
    fn temperatures(&self, host: &HostId) -> Result<Vec<Temperature>, DriverError> {
        (**self).temperatures(host)
    }
    fn power_draw(&self, host: &HostId) -> Result<PowerDraw, DriverError> {
        (**self).power_draw(host)
    }
}
