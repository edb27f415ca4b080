//! Unit newtypes: a number's unit lives in its type, so watts never get added to MIPS.

use serde::{Deserialize, Serialize};
use std::ops::{Add, AddAssign, Mul, Sub};

/// Electrical power, which in a server all ends as heat.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct Watts(pub f64);

/// Energy. One kWh is 3.6 MJ.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct Joules(pub f64);

/// Processing capacity or demand in millions of instructions per second.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct Mips(pub f64);

impl Joules {
    /// Joules in one kilowatt-hour.
    pub const PER_KWH: f64 = 3_600_000.0;

    /// This energy in kilowatt-hours.
    pub fn kwh(self) -> f64 {
        self.0 / Self::PER_KWH
    }
}

impl Watts {
    /// Energy drawn at this power over `seconds`.
    pub fn over(self, seconds: f64) -> Joules {
        Joules(self.0 * seconds)
    }
}

macro_rules! arithmetic {
    ($t:ident) => {
        impl Add for $t {
            type Output = $t;
            fn add(self, rhs: $t) -> $t {
                $t(self.0 + rhs.0)
            }
        }
        impl Sub for $t {
            type Output = $t;
            fn sub(self, rhs: $t) -> $t {
                $t(self.0 - rhs.0)
            }
        }
        impl AddAssign for $t {
            fn add_assign(&mut self, rhs: $t) {
                self.0 += rhs.0;
            }
        }
        impl Mul<f64> for $t {
            type Output = $t;
            fn mul(self, rhs: f64) -> $t {
                $t(self.0 * rhs)
            }
        }
    };
}
arithmetic!(Watts);
arithmetic!(Joules);
arithmetic!(Mips);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_kilowatt_for_an_hour_is_one_kwh() {
        assert_eq!(Watts(1000.0).over(3600.0).kwh(), 1.0);
    }
}
