//! The estimators' inputs: one instance's telemetry and its host's context, as plain borrowed
//! data, and their validated forms ([`ValidTelemetry`], [`ValidHost`]) that every predictor and
//! the model step take, so a NaN, a negative capacity or a percentage passed as a fraction is
//! refused once, with the field named, and never reaches the arithmetic.

use model::PowerCurve;
use std::fmt;
use std::ops::Deref;

/// What an instance reported, as the controller or the twin collected it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InstanceTelemetry<'a> {
    /// Past CPU utilization, one sample per interval, oldest first, each a fraction of the
    /// instance's own CPU capacity in [0, 1].
    pub history: &'a [f64],
    /// The latest measured utilization (fraction of own capacity), if any.
    pub live_utilization: Option<f64>,
    /// The instance's CPU capacity (MIPS): what utilization 1 means. Positive.
    pub capacity_mips: f64,
}

/// The host an instance runs on (or is a candidate for), as the attribution rule needs it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HostContext<'a> {
    /// The host's power curve.
    pub curve: &'a PowerCurve,
    /// The host's CPU capacity (MIPS). Positive.
    pub capacity_mips: f64,
    /// Predicted CPU use (MIPS) of the other instances on the host. Non-negative; it may exceed
    /// the capacity (the host is then oversubscribed and its utilization capped at 1).
    pub others_mips: f64,
    /// The host's measured power (W), if any. Non-negative.
    pub live_power_w: Option<f64>,
}

/// An input field, as error messages name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// `history[index]` of an instance.
    History {
        /// Position in the history (0 = oldest).
        index: usize,
    },
    /// An instance's `live_utilization`.
    LiveUtilization,
    /// An instance's `capacity_mips`.
    InstanceCapacityMips,
    /// A host's `capacity_mips`.
    HostCapacityMips,
    /// A host's `others_mips`.
    OthersMips,
    /// A host's `live_power_w`.
    LivePowerW,
    /// `demands_mips[index]` given to [`super::split_host`].
    DemandMips {
        /// Position in the demands.
        index: usize,
    },
    /// A measured host power given to [`super::split_measured`].
    PowerW,
    /// A predicted heat rate given to [`super::ErrorStats::record`].
    PredictedW,
    /// A true heat rate given to [`super::ErrorStats::record`].
    ActualW,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::History { index } => write!(f, "history[{index}]"),
            Field::LiveUtilization => f.write_str("live_utilization"),
            Field::InstanceCapacityMips => f.write_str("instance capacity_mips"),
            Field::HostCapacityMips => f.write_str("host capacity_mips"),
            Field::OthersMips => f.write_str("others_mips"),
            Field::LivePowerW => f.write_str("live_power_w"),
            Field::DemandMips { index } => write!(f, "demands_mips[{index}]"),
            Field::PowerW => f.write_str("power_w"),
            Field::PredictedW => f.write_str("predicted_w"),
            Field::ActualW => f.write_str("actual_w"),
        }
    }
}

/// A refused input value: which field, what it was, what was expected.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum InputError {
    /// NaN or infinite.
    #[error("{field} is {value}; expected a finite number")]
    NotFinite {
        /// The field.
        field: Field,
        /// The offending value.
        value: f64,
    },
    /// Below zero where only non-negative values make sense (MIPS, watts).
    #[error("{field} is {value}; expected a non-negative number")]
    Negative {
        /// The field.
        field: Field,
        /// The offending value.
        value: f64,
    },
    /// Zero or below where only a positive value makes sense (a capacity).
    #[error("{field} is {value}; expected a positive number")]
    NotPositive {
        /// The field.
        field: Field,
        /// The offending value.
        value: f64,
    },
    /// A utilization outside [0, 1] (a percentage passed as a fraction, a negative reading).
    #[error("{field} is {value}; expected a utilization fraction in [0, 1]")]
    NotAFraction {
        /// The field.
        field: Field,
        /// The offending value.
        value: f64,
    },
}

pub(super) fn finite(field: Field, value: f64) -> Result<f64, InputError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(InputError::NotFinite { field, value })
    }
}

pub(super) fn non_negative(field: Field, value: f64) -> Result<f64, InputError> {
    if finite(field, value)? < 0.0 {
        return Err(InputError::Negative { field, value });
    }
    Ok(value)
}

pub(super) fn positive(field: Field, value: f64) -> Result<f64, InputError> {
    if finite(field, value)? <= 0.0 {
        return Err(InputError::NotPositive { field, value });
    }
    Ok(value)
}

pub(super) fn fraction(field: Field, value: f64) -> Result<f64, InputError> {
    if !(0.0..=1.0).contains(&finite(field, value)?) {
        return Err(InputError::NotAFraction { field, value });
    }
    Ok(value)
}

/// [`InstanceTelemetry`] whose capacity is positive and whose utilizations are all fractions in
/// [0, 1]; only [`InstanceTelemetry::validate`] makes one. Reads as the telemetry through `Deref`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValidTelemetry<'a>(InstanceTelemetry<'a>);

impl<'a> InstanceTelemetry<'a> {
    /// Checks every field; the first bad one is the error. Order: `capacity_mips`, then
    /// `history` oldest first, then `live_utilization`.
    pub fn validate(self) -> Result<ValidTelemetry<'a>, InputError> {
        positive(Field::InstanceCapacityMips, self.capacity_mips)?;
        for (index, &sample) in self.history.iter().enumerate() {
            fraction(Field::History { index }, sample)?;
        }
        if let Some(live) = self.live_utilization {
            fraction(Field::LiveUtilization, live)?;
        }
        Ok(ValidTelemetry(self))
    }
}

impl<'a> Deref for ValidTelemetry<'a> {
    type Target = InstanceTelemetry<'a>;

    fn deref(&self) -> &InstanceTelemetry<'a> {
        &self.0
    }
}

/// [`HostContext`] whose capacity is positive and whose MIPS and watts are finite and
/// non-negative; only [`HostContext::validate`] makes one. Reads as the context through `Deref`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValidHost<'a>(HostContext<'a>);

impl<'a> HostContext<'a> {
    /// Checks every field; the first bad one is the error. Order: `capacity_mips`,
    /// `others_mips`, `live_power_w`. (The curve was validated when it was built.)
    pub fn validate(self) -> Result<ValidHost<'a>, InputError> {
        positive(Field::HostCapacityMips, self.capacity_mips)?;
        non_negative(Field::OthersMips, self.others_mips)?;
        if let Some(power_w) = self.live_power_w {
            non_negative(Field::LivePowerW, power_w)?;
        }
        Ok(ValidHost(self))
    }
}

impl<'a> Deref for ValidHost<'a> {
    type Target = HostContext<'a>;

    fn deref(&self) -> &HostContext<'a> {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(history: &[f64], live: Option<f64>, capacity_mips: f64) -> InstanceTelemetry<'_> {
        InstanceTelemetry { history, live_utilization: live, capacity_mips }
    }

    #[test]
    fn a_nan_sample_is_refused_with_its_index() {
        let err = instance(&[0.1, 0.2, f64::NAN], None, 1000.0).validate().unwrap_err();
        assert!(matches!(
            err,
            InputError::NotFinite { field: Field::History { index: 2 }, value } if value.is_nan()
        ));
        assert_eq!(err.to_string(), "history[2] is NaN; expected a finite number");
    }

    #[test]
    fn a_percentage_or_negative_utilization_is_not_a_fraction() {
        let err = instance(&[0.1, 45.0], None, 1000.0).validate().unwrap_err();
        assert_eq!(
            err,
            InputError::NotAFraction { field: Field::History { index: 1 }, value: 45.0 }
        );
        assert_eq!(err.to_string(), "history[1] is 45; expected a utilization fraction in [0, 1]");
        let err = instance(&[0.1], Some(-0.2), 1000.0).validate().unwrap_err();
        assert_eq!(err, InputError::NotAFraction { field: Field::LiveUtilization, value: -0.2 });
    }

    #[test]
    fn capacities_must_be_positive_and_finite() {
        let err = instance(&[], None, 0.0).validate().unwrap_err();
        assert_eq!(err, InputError::NotPositive { field: Field::InstanceCapacityMips, value: 0.0 });
        assert_eq!(err.to_string(), "instance capacity_mips is 0; expected a positive number");
        let err = instance(&[], None, f64::INFINITY).validate().unwrap_err();
        assert!(matches!(err, InputError::NotFinite { field: Field::InstanceCapacityMips, .. }));

        let curve = PowerCurve::ml110_g4();
        let host = |capacity_mips, others_mips, live_power_w| HostContext {
            curve: &curve,
            capacity_mips,
            others_mips,
            live_power_w,
        };
        assert_eq!(
            host(-1.0, 0.0, None).validate().unwrap_err(),
            InputError::NotPositive { field: Field::HostCapacityMips, value: -1.0 }
        );
        assert_eq!(
            host(1000.0, -5.0, None).validate().unwrap_err(),
            InputError::Negative { field: Field::OthersMips, value: -5.0 }
        );
        let err = host(1000.0, 0.0, Some(f64::NEG_INFINITY)).validate().unwrap_err();
        assert_eq!(err.to_string(), "live_power_w is -inf; expected a finite number");
        assert!(host(1000.0, 2500.0, Some(90.0)).validate().is_ok());
    }

    #[test]
    fn valid_telemetry_reads_through() {
        let valid = instance(&[0.0, 1.0], Some(0.5), 500.0).validate().unwrap();
        assert_eq!(valid.history, &[0.0, 1.0]);
        assert_eq!(valid.live_utilization, Some(0.5));
        assert_eq!(valid.capacity_mips, 500.0);
    }
}
