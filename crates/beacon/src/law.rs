//! The frequency law of seed 003 (FIG. 9, 10, 15, 25): how much room a node has, and how often
//! it therefore beacons.
//!
//! The pipeline, read top-down:
//!
//! 1. [`Metric::assess`] turns resource use in `[0, 1]` into the resource-availability metric
//!    RA (the mean of `1 − use`), the penalties (−0.5 for each resource above its threshold) and
//!    RM = RA + penalties (FIG. 9, 906–910). The seed's three resources (storage, processor,
//!    communication) are [`Metric::seed`]; any list of named resources with their own
//!    thresholds (memory, GPU, …) is [`Metric::new`].
//! 2. Optionally, [`CapacityShare::apply`] scales RA or RM by the node's share of the cluster's
//!    total capacity, from the capacity list or from a fraction a manager sent (FIG. 25, the
//!    seed's two normalization variants).
//! 3. [`Law::frequencies`] clamps RM to `f_RA = max(RM, min)` (FIG. 9, 912) and computes
//!    `V_Balance = k·f_RA`, `V_Power = l·min/f_RA` and `V = α·V_Balance + (1 − α)·V_Power`
//!    (FIG. 9, 914; FIG. 15), with α from an [`AlphaSource`]: a fixed value set by the
//!    controller or a daily [`AlphaSchedule`] evaluated at a [`TimeOfDay`] the caller passes in.
//!
//! Everything here is pure: no clock (the caller passes the time of day), no I/O, and bad input
//! is a named error, never a panic.
//!
//! Numbers the seed leaves open, and hearth's choices for them (all configurable):
//!
//! | parameter | seed 003 | hearth default |
//! | --- | --- | --- |
//! | thresholds (S, P, C) | named (`S_threshold`, …), no value | 0.8 each ([`DEFAULT_THRESHOLD`]) |
//! | penalty | −0.5 per resource above its threshold | 0.5 ([`DEFAULT_PENALTY`]) |
//! | `k`, `l` | "fixed, known quantities" | 10 Hz each ([`LawParams::default`]) |
//! | `min` | keeps V above 0 and V_Power defined | 0.05, so the slowest beacon is 0.5 Hz |
//!
//! One discrepancy in the seed: the drawing of FIG. 9 (908) reads "0 when S > S_threshold,
//! −0.5 otherwise", while the text reads "−0.5 when S > S_threshold, 0 otherwise" and explains
//! that a resource used above its threshold constrains the node. hearth follows the text.

mod alpha;
mod capacity;
mod metric;

pub use alpha::{
    Alpha, AlphaError, AlphaPoint, AlphaSchedule, AlphaSource, ScheduleError, TimeOfDay,
    TimeOfDayError,
};
pub use capacity::{absolute_availability, CapacityError, CapacityShare};
pub use metric::{
    Assessment, Metric, MetricError, Resource, UsageError, DEFAULT_PENALTY, DEFAULT_THRESHOLD,
    MAX_RESOURCES,
};

use crate::Mode;

/// The law's constants as configured (parse low): `k`, `l` and `min` of seed 003, FIG. 9.
/// Lift them into a [`Law`] with [`Law::new`], which validates them.
/// Missing fields take their [`LawParams::default`] values.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LawParams {
    /// `k`: the balance frequency at full availability, in beacons per second (Hz).
    /// `V_Balance = k·f_RA ∈ [k·min, k]`.
    pub k_hz: f64,
    /// `l`: the power frequency at minimal availability, in beacons per second (Hz).
    /// `V_Power = l·min/f_RA ∈ [l·min, l]`.
    pub l_hz: f64,
    /// `min`: the floor of `f_RA`, in `(0, 1]`. It keeps every node beaconing (the heartbeat:
    /// never slower than `k·min` or `l·min`) and `V_Power` finite.
    pub min: f64,
}

impl Default for LawParams {
    /// hearth's defaults (the seed gives no numbers): `k = l = 10 Hz`, `min = 0.05`, so a node
    /// beacons between 0.5 Hz and 10 Hz on either stream.
    fn default() -> Self {
        LawParams { k_hz: 10.0, l_hz: 10.0, min: 0.05 }
    }
}

/// Why [`LawParams`] do not make a [`Law`].
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum LawError {
    /// `k_hz` is not a finite number above 0.
    #[error(
        "law parameter `k_hz` must be a finite number of beacons per second above 0, got {value}"
    )]
    K {
        /// The rejected value.
        value: f64,
    },
    /// `l_hz` is not a finite number above 0.
    #[error(
        "law parameter `l_hz` must be a finite number of beacons per second above 0, got {value}"
    )]
    L {
        /// The rejected value.
        value: f64,
    },
    /// `min` is not in `(0, 1]`.
    #[error("law parameter `min` must be in (0, 1] (the floor of f_RA), got {value}")]
    Min {
        /// The rejected value.
        value: f64,
    },
}

/// The validated law of seed 003, FIG. 9: `k > 0`, `l > 0`, `0 < min ≤ 1`, all finite.
/// Deserializes from [`LawParams`], validating them.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "LawParams", into = "LawParams")]
pub struct Law {
    params: LawParams,
}

/// Everything the law computes for one node at one moment (seed 003, FIG. 9 912–914 and
/// FIG. 15).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Frequencies {
    /// `f_RA = max(RM, min)`, at most 1.
    pub f_ra: f64,
    /// `V_Balance = k·f_RA`, in Hz.
    pub v_balance_hz: f64,
    /// `V_Power = l·min/f_RA`, in Hz.
    pub v_power_hz: f64,
    /// The α used for `v_hz`.
    pub alpha: f64,
    /// `V = α·V_Balance + (1 − α)·V_Power`, in Hz.
    pub v_hz: f64,
}

impl Law {
    /// Validates `params`; each bad constant is an error naming it.
    pub fn new(params: LawParams) -> Result<Law, LawError> {
        let LawParams { k_hz, l_hz, min } = params;
        if !(k_hz.is_finite() && k_hz > 0.0) {
            return Err(LawError::K { value: k_hz });
        }
        if !(l_hz.is_finite() && l_hz > 0.0) {
            return Err(LawError::L { value: l_hz });
        }
        if !(min.is_finite() && min > 0.0 && min <= 1.0) {
            return Err(LawError::Min { value: min });
        }
        Ok(Law { params })
    }

    /// The validated constants.
    pub fn params(&self) -> LawParams {
        self.params
    }

    /// `f_RA = max(RM, min)` (seed 003, FIG. 9, 912), also capped at 1 so `f_RA ∈ [min, 1]`
    /// holds whatever the caller passes. A NaN RM counts as no availability and gives `min`.
    pub fn f_ra(&self, rm: f64) -> f64 {
        if rm.is_nan() {
            return self.params.min;
        }
        // `min ≤ 1` is validated, so `clamp` cannot panic.
        rm.clamp(self.params.min, 1.0)
    }

    /// `V_Balance = k·f_RA` in Hz (seed 003, FIG. 9, 914); `f_ra` is clamped to `[min, 1]`.
    pub fn v_balance_hz(&self, f_ra: f64) -> f64 {
        self.params.k_hz * self.f_ra(f_ra)
    }

    /// `V_Power = l·min/f_RA` in Hz (seed 003, FIG. 9, 914); `f_ra` is clamped to `[min, 1]`.
    pub fn v_power_hz(&self, f_ra: f64) -> f64 {
        self.params.l_hz * self.params.min / self.f_ra(f_ra)
    }

    /// The frequency of one stream: `V_Balance` for [`Mode::Balance`], `V_Power` for
    /// [`Mode::Power`].
    pub fn v_mode_hz(&self, mode: Mode, f_ra: f64) -> f64 {
        match mode {
            Mode::Balance => self.v_balance_hz(f_ra),
            Mode::Power => self.v_power_hz(f_ra),
        }
    }

    /// Everything at once from RM (or a capacity-normalized RM): `f_RA`, both frequencies and
    /// the mix `V = α·V_Balance + (1 − α)·V_Power` (seed 003, FIG. 15).
    pub fn frequencies(&self, rm: f64, alpha: Alpha) -> Frequencies {
        let f_ra = self.f_ra(rm);
        let v_balance_hz = self.v_balance_hz(f_ra);
        let v_power_hz = self.v_power_hz(f_ra);
        let alpha = alpha.get();
        Frequencies {
            f_ra,
            v_balance_hz,
            v_power_hz,
            alpha,
            v_hz: alpha * v_balance_hz + (1.0 - alpha) * v_power_hz,
        }
    }

    /// The inverse a receiver applies to an observed rate of one stream (seed 003, FIG. 10:
    /// "knowing k, l and min", the receiver recovers `f_RA`): `f_RA = V/k` for
    /// [`Mode::Balance`], `f_RA = l·min/V` for [`Mode::Power`], clamped to `[min, 1]`. A rate of
    /// 0 or NaN gives the end of the range that rate means (no beacons on the balance stream:
    /// `min`; on the power stream: 1).
    ///
    /// A mixed stream (`0 < α < 1`) is not invertible in general (`V` is not monotonic in
    /// `f_RA`), so receivers invert the pure streams.
    pub fn f_ra_from_rate(&self, mode: Mode, rate_hz: f64) -> f64 {
        let LawParams { k_hz, l_hz, min } = self.params;
        let raw = match mode {
            Mode::Balance => rate_hz / k_hz,
            Mode::Power if rate_hz > 0.0 => l_hz * min / rate_hz,
            // No (or a nonsensical) power-stream rate: as available as the law allows.
            Mode::Power => 1.0,
        };
        if raw.is_nan() {
            return match mode {
                Mode::Balance => min,
                Mode::Power => 1.0,
            };
        }
        self.f_ra(raw)
    }
}

impl Default for Law {
    /// The law with [`LawParams::default`].
    fn default() -> Self {
        Law { params: LawParams::default() }
    }
}

impl From<Law> for LawParams {
    fn from(law: Law) -> LawParams {
        law.params
    }
}

impl TryFrom<LawParams> for Law {
    type Error = LawError;
    fn try_from(params: LawParams) -> Result<Self, Self::Error> {
        Law::new(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// Reference: seed 003, FIG. 9 (904–914): S = 0.6, P = 0.4, C = 0.5 gives RA = 0.5; with
    /// the default thresholds (0.8) nothing is penalized, so RM = f_RA = 0.5, and with the
    /// default k = l = 10 Hz, min = 0.05: V_Balance = 5 Hz, V_Power = 1 Hz.
    #[test]
    fn seed_worked_example() {
        let metric = Metric::seed();
        let assessment = metric.assess(&[0.6, 0.4, 0.5]).unwrap();
        assert!(close(assessment.ra, 0.5), "RA {}", assessment.ra);
        assert_eq!(assessment.penalty, 0.0);
        assert!(close(assessment.rm, 0.5));
        let law = Law::default();
        let f = law.frequencies(assessment.rm, Alpha::BALANCE);
        assert!(close(f.f_ra, 0.5));
        assert!(close(f.v_balance_hz, 5.0));
        assert!(close(f.v_power_hz, 1.0));
        assert!(close(f.v_hz, 5.0));
        let f = law.frequencies(assessment.rm, Alpha::POWER);
        assert!(close(f.v_hz, 1.0));
        let f = law.frequencies(assessment.rm, Alpha::new(0.25).unwrap());
        assert!(close(f.v_hz, 0.25 * 5.0 + 0.75 * 1.0));
    }

    /// Reference: seed 003, FIG. 9 (908): with thresholds of 0.5 the example's storage (0.6) is
    /// above its threshold: RM = 0.5 − 0.5 = 0, clamped to min (912).
    #[test]
    fn seed_example_with_a_penalty_clamps_to_min() {
        let metric = Metric::new(
            vec![
                Resource::new("storage", 0.5),
                Resource::new("processor", 0.5),
                Resource::new("communication", 0.5),
            ],
            DEFAULT_PENALTY,
        )
        .unwrap();
        let assessment = metric.assess(&[0.6, 0.4, 0.5]).unwrap();
        assert!(close(assessment.penalty, -0.5));
        assert!(close(assessment.rm, 0.0));
        assert_eq!(assessment.over_threshold(&metric).collect::<Vec<_>>(), ["storage"]);
        let law = Law::default();
        let f = law.frequencies(assessment.rm, Alpha::new(0.5).unwrap());
        assert_eq!(f.f_ra, 0.05);
        assert!(close(f.v_balance_hz, 0.5)); // k·min: the heartbeat
        assert!(close(f.v_power_hz, 10.0)); // l
        assert!(close(f.v_hz, 0.5 * 0.5 + 0.5 * 10.0));
    }

    /// Reference: seed 003, FIG. 9 (914): V_Balance ∈ [k·min, k], V_Power ∈ [l·min, l], and the
    /// two are inversely related.
    #[test]
    fn frequencies_span_the_seed_ranges() {
        let law = Law::new(LawParams { k_hz: 4.0, l_hz: 8.0, min: 0.1 }).unwrap();
        let idle = law.frequencies(1.0, Alpha::BALANCE);
        assert!(close(idle.v_balance_hz, 4.0) && close(idle.v_power_hz, 0.8));
        let full = law.frequencies(-1.0, Alpha::BALANCE);
        assert!(close(full.f_ra, 0.1));
        assert!(close(full.v_balance_hz, 0.4) && close(full.v_power_hz, 8.0));
        // RM above 1 (not producible by the metric) and NaN stay in range.
        assert_eq!(law.f_ra(3.0), 1.0);
        assert_eq!(law.f_ra(f64::NAN), 0.1);
    }

    #[test]
    fn inverse_recovers_f_ra_on_both_streams() {
        let law = Law::default();
        for f_ra in [0.05, 0.1, 0.37, 0.5, 0.99, 1.0] {
            let balance = law.f_ra_from_rate(Mode::Balance, law.v_balance_hz(f_ra));
            let power = law.f_ra_from_rate(Mode::Power, law.v_power_hz(f_ra));
            assert!(close(balance, f_ra), "balance {f_ra} -> {balance}");
            assert!(close(power, f_ra), "power {f_ra} -> {power}");
        }
        assert_eq!(law.f_ra_from_rate(Mode::Balance, 0.0), 0.05);
        assert_eq!(law.f_ra_from_rate(Mode::Power, 0.0), 1.0);
        assert_eq!(law.f_ra_from_rate(Mode::Balance, f64::NAN), 0.05);
        assert_eq!(law.f_ra_from_rate(Mode::Power, f64::NAN), 1.0);
        assert_eq!(law.f_ra_from_rate(Mode::Balance, 1e9), 1.0);
        assert_eq!(law.f_ra_from_rate(Mode::Power, f64::INFINITY), 0.05);
    }

    /// Configuration lifts straight into a validated law: missing fields default, bad ones
    /// fail with the law's own message.
    #[test]
    fn law_deserializes_with_validation() {
        use serde::de::value::{Error, MapDeserializer};
        use serde::Deserialize;
        let from = |fields: Vec<(&'static str, f64)>| {
            Law::deserialize(MapDeserializer::<_, Error>::new(fields.into_iter()))
        };
        let law = from(vec![("k_hz", 4.0)]).unwrap();
        assert_eq!(law.params(), LawParams { k_hz: 4.0, ..LawParams::default() });
        let err = from(vec![("min", 0.0)]).unwrap_err().to_string();
        assert!(err.contains("law parameter `min` must be in (0, 1]"), "{err}");
        assert!(from(vec![("kk_hz", 1.0)]).is_err());
    }

    #[test]
    fn bad_constants_are_named_errors() {
        let ok = LawParams::default();
        assert_eq!(Law::new(LawParams { k_hz: 0.0, ..ok }), Err(LawError::K { value: 0.0 }));
        assert_eq!(Law::new(LawParams { k_hz: -1.0, ..ok }), Err(LawError::K { value: -1.0 }));
        assert!(matches!(Law::new(LawParams { k_hz: f64::NAN, ..ok }), Err(LawError::K { .. })));
        assert!(matches!(
            Law::new(LawParams { l_hz: f64::INFINITY, ..ok }),
            Err(LawError::L { .. })
        ));
        assert_eq!(Law::new(LawParams { l_hz: 0.0, ..ok }), Err(LawError::L { value: 0.0 }));
        assert_eq!(Law::new(LawParams { min: 0.0, ..ok }), Err(LawError::Min { value: 0.0 }));
        assert_eq!(Law::new(LawParams { min: 1.5, ..ok }), Err(LawError::Min { value: 1.5 }));
        assert!(matches!(Law::new(LawParams { min: f64::NAN, ..ok }), Err(LawError::Min { .. })));
        assert_eq!(Law::new(LawParams { min: 1.0, ..ok }).map(|law| law.params().min), Ok(1.0));
        let message = Law::new(LawParams { min: -0.2, ..ok }).unwrap_err().to_string();
        assert!(message.contains("`min`") && message.contains("-0.2"), "{message}");
    }
}
