//! Host power models: the 11-point piecewise-linear curves of SPECpower_ssj2008, watts at
//! 0 %, 10 %, …, 100 % CPU utilization.

use crate::units::Watts;
use serde::{Deserialize, Serialize};

/// Why a power curve was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PowerCurveError {
    /// A point is NaN, infinite or negative.
    #[error("power curve point {index} ({pct} % CPU) is {watts} W; expected a finite, non-negative number")]
    BadPoint {
        /// Index of the point, 0..=10.
        index: usize,
        /// CPU utilization of the point in percent.
        pct: usize,
        /// The offending value.
        watts: f64,
    },
}

/// Watts drawn at 0, 10, …, 100 % CPU, linearly interpolated in between.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PowerCurve {
    points_w: [f64; 11],
}

impl PowerCurve {
    /// SPECpower_ssj2008 result of the HP ProLiant ML110 G4 (Xeon 3040, 2 × 1860 MHz), as used by
    /// Beloglazov & Buyya 2012, Table I.
    pub const ML110_G4: [f64; 11] =
        [86.0, 89.4, 92.6, 96.0, 99.5, 102.0, 106.0, 108.0, 112.0, 114.0, 117.0];
    /// SPECpower_ssj2008 result of the HP ProLiant ML110 G5 (Xeon 3075, 2 × 2660 MHz), as used by
    /// Beloglazov & Buyya 2012, Table I.
    pub const ML110_G5: [f64; 11] =
        [93.7, 97.0, 101.0, 105.0, 110.0, 116.0, 121.0, 125.0, 129.0, 133.0, 135.0];

    /// A curve from its 11 points (watts at 0 %, 10 %, …, 100 %).
    pub fn new(points_w: [f64; 11]) -> Result<Self, PowerCurveError> {
        for (index, &watts) in points_w.iter().enumerate() {
            if !watts.is_finite() || watts < 0.0 {
                return Err(PowerCurveError::BadPoint { index, pct: index * 10, watts });
            }
        }
        Ok(PowerCurve { points_w })
    }

    /// The HP ProLiant ML110 G4 curve.
    pub fn ml110_g4() -> Self {
        PowerCurve { points_w: Self::ML110_G4 }
    }

    /// The HP ProLiant ML110 G5 curve.
    pub fn ml110_g5() -> Self {
        PowerCurve { points_w: Self::ML110_G5 }
    }

    /// The 11 points.
    pub fn points(&self) -> &[f64; 11] {
        &self.points_w
    }

    /// Power at CPU utilization `utilization` in [0, 1], interpolated linearly between the two
    /// neighbouring points. Values outside [0, 1] are clamped: callers keep utilization in range,
    /// and a clamp is the safe answer for a rounding error of a few ulps.
    pub fn at(&self, utilization: f64) -> Watts {
        debug_assert!(
            (-1e-9..=1.0 + 1e-9).contains(&utilization),
            "utilization {utilization} outside [0, 1]"
        );
        let u = if utilization.is_nan() { 0.0 } else { utilization.clamp(0.0, 1.0) };
        let scaled = u * 10.0;
        // `scaled` is non-negative, so truncation is the floor.
        let lower = scaled as usize;
        if lower >= 10 {
            return Watts(self.points_w[10]);
        }
        let fraction = scaled - lower as f64;
        let (p0, p1) = (self.points_w[lower], self.points_w[lower + 1]);
        Watts(p0 + (p1 - p0) * fraction)
    }

    /// Power at full load.
    pub fn max(&self) -> Watts {
        Watts(self.points_w[10])
    }

    /// Power when on and idle.
    pub fn idle(&self) -> Watts {
        Watts(self.points_w[0])
    }

    /// The least utilization in [0, 1] at which the host draws at least `watts`, or `None` when
    /// it never does. Curves need not be monotone; the first crossing counts.
    pub fn utilization_for(&self, watts: Watts) -> Option<f64> {
        let w = watts.0;
        if w <= self.points_w[0] {
            return Some(0.0);
        }
        for k in 0..10 {
            let (p0, p1) = (self.points_w[k], self.points_w[k + 1]);
            if p1 >= w && p1 > p0 {
                let fraction = ((w - p0) / (p1 - p0)).clamp(0.0, 1.0);
                return Some((k as f64 + fraction) / 10.0);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_between_points() {
        let g4 = PowerCurve::ml110_g4();
        assert_eq!(g4.at(0.0), Watts(86.0));
        assert_eq!(g4.at(1.0), Watts(117.0));
        // Halfway between 50 % (102 W) and 60 % (106 W).
        assert!((g4.at(0.55).0 - 104.0).abs() < 1e-9);
        assert!((g4.at(0.1).0 - 89.4).abs() < 1e-9);
    }

    #[test]
    fn finds_the_utilization_that_reaches_a_power() {
        let g5 = PowerCurve::ml110_g5();
        assert_eq!(g5.utilization_for(Watts(125.0)), Some(0.7));
        assert_eq!(g5.utilization_for(Watts(50.0)), Some(0.0));
        assert!((g5.utilization_for(Watts(127.0)).unwrap() - 0.75).abs() < 1e-12);
        assert_eq!(PowerCurve::ml110_g4().utilization_for(Watts(125.0)), None);
        for u in [0.0, 0.13, 0.5, 0.99, 1.0] {
            let w = g5.at(u);
            assert!((g5.utilization_for(w).unwrap() - u).abs() < 1e-12, "{u}");
        }
    }

    #[test]
    fn refuses_negative_and_nan_points() {
        let mut points = PowerCurve::ML110_G5;
        points[3] = -1.0;
        assert_eq!(
            PowerCurve::new(points),
            Err(PowerCurveError::BadPoint { index: 3, pct: 30, watts: -1.0 })
        );
        points[3] = f64::NAN;
        assert!(matches!(PowerCurve::new(points), Err(PowerCurveError::BadPoint { index: 3, .. })));
    }
}
