//! The fallback ladder: predictors tried in order, the first with data answers, and the model
//! step turns its utilization into heat. Every rung passed on the way is recorded with its
//! reason; when no rung has data the answer is [`EstimateError::NoData`], never a zero.

use super::model::split;
use super::predict::{ConfigError, Prediction, Predictor};
use super::telemetry::{HostContext, InputError, InstanceTelemetry, ValidHost, ValidTelemetry};
use super::{describe_skipped, Estimate, Missing, Source};

/// Why an instance got no estimate.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EstimateError {
    /// The instance's telemetry was refused.
    #[error("instance telemetry: {0}")]
    Instance(InputError),
    /// The host's context was refused.
    #[error("host context: {0}")]
    Host(InputError),
    /// No rung of the ladder had the data it needs.
    #[error("no estimator has data ({})", describe_skipped(.skipped))]
    NoData {
        /// Every rung, in order, with why it had no answer.
        skipped: Vec<(Source, Missing)>,
    },
}

/// An ordered list of predictors; the first that has data answers.
#[derive(Clone, Debug, PartialEq)]
pub struct Ladder {
    rungs: Vec<Predictor>,
}

impl Default for Ladder {
    /// [`Predictor::DEFAULT_RUNGS`]: regression, quantile, EWMA, live.
    fn default() -> Ladder {
        Ladder { rungs: Predictor::DEFAULT_RUNGS.to_vec() }
    }
}

impl Ladder {
    /// A ladder of `rungs`, tried in order. At least one.
    pub fn new(rungs: Vec<Predictor>) -> Result<Ladder, ConfigError> {
        if rungs.is_empty() {
            return Err(ConfigError::EmptyLadder);
        }
        Ok(Ladder { rungs })
    }

    /// A ladder of one predictor: that predictor used alone, with the model step.
    pub fn single(predictor: Predictor) -> Ladder {
        Ladder { rungs: vec![predictor] }
    }

    /// The rungs, in order.
    pub fn rungs(&self) -> &[Predictor] {
        &self.rungs
    }

    /// The first rung's utilization that has data, with the rungs skipped before it.
    pub fn predict(&self, instance: &ValidTelemetry<'_>) -> Result<Prediction, EstimateError> {
        let mut skipped = Vec::new();
        for rung in &self.rungs {
            match rung.predict(instance) {
                Ok(utilization) => {
                    return Ok(Prediction { utilization, source: rung.source(), skipped })
                }
                Err(missing) => skipped.push((rung.source(), missing)),
            }
        }
        Err(EstimateError::NoData { skipped })
    }

    /// Validates `instance` and `host`, then [`Ladder::estimate_valid`].
    pub fn estimate(
        &self,
        instance: InstanceTelemetry<'_>,
        host: HostContext<'_>,
    ) -> Result<Estimate, EstimateError> {
        let instance = instance.validate().map_err(EstimateError::Instance)?;
        let host = host.validate().map_err(EstimateError::Host)?;
        self.estimate_valid(&instance, &host)
    }

    /// The instance's heat on `host`: the ladder's utilization times the instance's capacity is
    /// its CPU use (MIPS), and the attribution rule (module docs) gives its share of the host's
    /// dynamic power, from the curve, or from the measured power when the live rung answered and
    /// the host reports its power (measured power is now, the history rungs forecast the next
    /// interval, so only the live rung pairs with it).
    pub fn estimate_valid(
        &self,
        instance: &ValidTelemetry<'_>,
        host: &ValidHost<'_>,
    ) -> Result<Estimate, EstimateError> {
        let Prediction { utilization, source, skipped } = self.predict(instance)?;
        let own_mips = utilization * instance.capacity_mips;
        let measured_w = if source == Source::Live { host.live_power_w } else { None };
        let host_split =
            split(host.curve, host.capacity_mips, &[host.others_mips, own_mips], measured_w);
        Ok(Estimate { heat_w: host_split.heat_w[1], utilization, source, skipped })
    }
}

#[cfg(test)]
mod tests {
    use super::super::predict::{Ewma, Nominal, Regression};
    use super::super::telemetry::Field;
    use super::*;
    use model::PowerCurve;

    /// The ladder's estimate for a 500-MIPS instance next to 300 MIPS of others on a 1000-MIPS
    /// ML110 G4.
    #[track_caller]
    fn check(
        ladder: &Ladder,
        history: &[f64],
        live: Option<f64>,
        live_power_w: Option<f64>,
    ) -> Result<Estimate, EstimateError> {
        let curve = PowerCurve::ml110_g4();
        let instance = InstanceTelemetry { history, live_utilization: live, capacity_mips: 500.0 };
        let host =
            HostContext { curve: &curve, capacity_mips: 1000.0, others_mips: 300.0, live_power_w };
        ladder.estimate(instance, host)
    }

    #[track_caller]
    fn assert_close(got: f64, want: f64) {
        assert!((got - want).abs() < 1e-9, "got {got}, want {want}");
    }

    #[test]
    fn falls_back_to_ewma_and_records_why() {
        // Three samples: too few for LR (10) and the quantile (5); EWMA(0.5) gives 0.55.
        // Own 0.55 · 500 = 275 MIPS, host at 575/1000: P(0.575) = 102 + 0.75 · 4 = 105 W,
        // dynamic 19 W, the instance's share 275/575.
        let estimate = check(&Ladder::default(), &[0.2, 0.4, 0.8], Some(0.5), Some(200.0)).unwrap();
        assert_eq!(estimate.source, Source::Ewma);
        assert_close(estimate.utilization, 0.55);
        assert_close(estimate.heat_w, 19.0 * 275.0 / 575.0);
        assert_eq!(
            estimate.skipped,
            [
                (Source::Regression, Missing::TooFewSamples { have: 3, need: 10 }),
                (Source::Quantile, Missing::TooFewSamples { have: 3, need: 5 }),
            ]
        );
    }

    #[test]
    fn falls_back_to_live_and_uses_measured_power() {
        // No history: live 0.4 → 200 MIPS next to 300, a 0.4 share.
        let want_skipped = [
            (Source::Regression, Missing::TooFewSamples { have: 0, need: 10 }),
            (Source::Quantile, Missing::TooFewSamples { have: 0, need: 5 }),
            (Source::Ewma, Missing::TooFewSamples { have: 0, need: 1 }),
        ];
        // From the curve: P(0.5) − P(0) = 16 W, 0.4 of it.
        let estimate = check(&Ladder::default(), &[], Some(0.4), None).unwrap();
        assert_eq!(estimate.source, Source::Live);
        assert_close(estimate.heat_w, 6.4);
        assert_eq!(estimate.skipped, want_skipped);
        // Measured 100 W: 100 − 86 = 14 W dynamic, 0.4 of it.
        let estimate = check(&Ladder::default(), &[], Some(0.4), Some(100.0)).unwrap();
        assert_close(estimate.heat_w, 5.6);
        assert_eq!(estimate.skipped, want_skipped);
    }

    #[test]
    fn a_full_history_answers_from_the_first_rung() {
        // 0.1 + 0.05·x at x = 1..10 forecasts 0.65 → 325 MIPS, host at 625/1000:
        // P(0.625) = 106 + 0.25 · 2 = 106.5 W, dynamic 20.5 W, share 325/625 = 0.52.
        let history: Vec<f64> = (1..=10).map(|x| 0.1 + 0.05 * x as f64).collect();
        let estimate = check(&Ladder::default(), &history, None, None).unwrap();
        assert_eq!(estimate.source, Source::Regression);
        assert!(estimate.skipped.is_empty());
        assert_close(estimate.utilization, 0.65);
        assert_close(estimate.heat_w, 20.5 * 0.52);
    }

    #[test]
    fn no_data_is_an_error_not_a_zero() {
        let err = check(&Ladder::default(), &[], None, Some(120.0)).unwrap_err();
        let EstimateError::NoData { skipped } = &err else {
            panic!("expected NoData, got {err:?}")
        };
        assert_eq!(skipped.len(), 4);
        assert_eq!(skipped[3], (Source::Live, Missing::NoLiveSample));
        assert_eq!(
            err.to_string(),
            "no estimator has data (regression: 0 history samples, needs 10; quantile: 0 history \
             samples, needs 5; ewma: 0 history samples, needs 1; live: no live utilization sample)"
        );
    }

    #[test]
    fn a_nominal_rung_answers_last_and_keeps_the_trail() {
        let mut rungs = Predictor::DEFAULT_RUNGS.to_vec();
        rungs.push(Predictor::Nominal(Nominal::new(0.4).unwrap()));
        let estimate = check(&Ladder::new(rungs).unwrap(), &[], None, Some(100.0)).unwrap();
        assert_eq!(estimate.source, Source::Model);
        assert_eq!(estimate.skipped.len(), 4);
        // The curve, not the measured power: P(0.5) − P(0) = 16 W, a 0.4 share.
        assert_close(estimate.heat_w, 6.4);
    }

    #[test]
    fn a_predictor_alone_is_a_ladder_of_one() {
        let lr = Ladder::single(Predictor::Regression(Regression::new(2).unwrap()));
        let err = check(&lr, &[0.5], Some(0.5), None).unwrap_err();
        assert_eq!(
            err,
            EstimateError::NoData {
                skipped: vec![(Source::Regression, Missing::TooFewSamples { have: 1, need: 2 })]
            }
        );
        let ewma = Ladder::single(Predictor::Ewma(Ewma::new(1.0).unwrap()));
        assert_eq!(check(&ewma, &[0.5], None, None).unwrap().source, Source::Ewma);
        assert_eq!(Ladder::new(Vec::new()), Err(ConfigError::EmptyLadder));
    }

    #[test]
    fn bad_inputs_are_named_errors() {
        let err = check(&Ladder::default(), &[0.2, f64::NAN], None, None).unwrap_err();
        assert!(matches!(
            err,
            EstimateError::Instance(InputError::NotFinite {
                field: Field::History { index: 1 },
                ..
            })
        ));
        assert_eq!(
            err.to_string(),
            "instance telemetry: history[1] is NaN; expected a finite number"
        );
        let err = check(&Ladder::default(), &[0.2], None, Some(-1.0)).unwrap_err();
        assert_eq!(
            err,
            EstimateError::Host(InputError::Negative { field: Field::LivePowerW, value: -1.0 })
        );
    }
}
