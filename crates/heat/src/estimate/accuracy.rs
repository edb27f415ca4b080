//! How good an estimator is: [`ErrorStats`] accumulates (predicted, actual) heat-rate pairs, each
//! prediction scored against the next interval's true heat (in the twin), and reports mean
//! absolute percentage error, bias and mean absolute error, and the weighted percentage error
//! (WAPE: Σ|error| / Σ actual), which small actual values cannot blow up the way they do MAPE.
//!
//! An interval whose true heat is exactly 0 W has no percentage error: it is counted apart
//! (`n_zero_actual`) and left out of MAPE, but it counts in bias and MAE like every other pair.

use super::telemetry::{non_negative, Field, InputError};
use serde::{Deserialize, Serialize};

/// Running error sums of one estimator. Merge per-host or per-day accumulators with
/// [`ErrorStats::merge`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorStats {
    n: usize,
    n_zero_actual: usize,
    sum_error_w: f64,
    sum_abs_error_w: f64,
    sum_abs_pct: f64,
    sum_actual_w: f64,
}

/// What [`ErrorStats`] reports; `None` where no pair defines the figure.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorSummary {
    /// Pairs recorded.
    pub n: usize,
    /// Pairs whose actual heat was 0 W, left out of MAPE.
    pub n_zero_actual: usize,
    /// Mean absolute percentage error (%), over the pairs with non-zero actual heat.
    pub mape_pct: Option<f64>,
    /// Mean of predicted − actual (W), over all pairs: positive means the estimator overshoots.
    pub bias_w: Option<f64>,
    /// Mean of |predicted − actual| (W), over all pairs.
    pub mae_w: Option<f64>,
    /// Σ |predicted − actual| / Σ actual (%), over all pairs; `None` when all actuals are 0 W.
    pub wape_pct: Option<f64>,
}

impl ErrorStats {
    /// No pairs yet.
    pub fn new() -> ErrorStats {
        ErrorStats::default()
    }

    /// Adds one pair: the predicted heat rate and the true one, both finite and non-negative
    /// watts. A refused pair leaves the sums unchanged.
    pub fn record(&mut self, predicted_w: f64, actual_w: f64) -> Result<(), InputError> {
        non_negative(Field::PredictedW, predicted_w)?;
        non_negative(Field::ActualW, actual_w)?;
        let error_w = predicted_w - actual_w;
        self.n += 1;
        self.sum_error_w += error_w;
        self.sum_abs_error_w += error_w.abs();
        self.sum_actual_w += actual_w;
        if actual_w == 0.0 {
            self.n_zero_actual += 1;
        } else {
            self.sum_abs_pct += 100.0 * error_w.abs() / actual_w;
        }
        Ok(())
    }

    /// Adds another accumulator's pairs.
    pub fn merge(&mut self, other: &ErrorStats) {
        self.n += other.n;
        self.n_zero_actual += other.n_zero_actual;
        self.sum_error_w += other.sum_error_w;
        self.sum_abs_error_w += other.sum_abs_error_w;
        self.sum_abs_pct += other.sum_abs_pct;
        self.sum_actual_w += other.sum_actual_w;
    }

    /// Pairs recorded.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Pairs whose actual heat was 0 W.
    pub fn n_zero_actual(&self) -> usize {
        self.n_zero_actual
    }

    /// Mean absolute percentage error (%) over the pairs with non-zero actual heat.
    pub fn mape_pct(&self) -> Option<f64> {
        let n_pct = self.n - self.n_zero_actual;
        (n_pct > 0).then(|| self.sum_abs_pct / n_pct as f64)
    }

    /// Mean predicted − actual (W) over all pairs.
    pub fn bias_w(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum_error_w / self.n as f64)
    }

    /// Mean |predicted − actual| (W) over all pairs.
    pub fn mae_w(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum_abs_error_w / self.n as f64)
    }

    /// Σ |predicted − actual| / Σ actual (%) over all pairs.
    pub fn wape_pct(&self) -> Option<f64> {
        (self.sum_actual_w > 0.0).then(|| 100.0 * self.sum_abs_error_w / self.sum_actual_w)
    }

    /// All figures at once, for reports.
    pub fn summary(&self) -> ErrorSummary {
        ErrorSummary {
            n: self.n,
            n_zero_actual: self.n_zero_actual,
            mape_pct: self.mape_pct(),
            bias_w: self.bias_w(),
            mae_w: self.mae_w(),
            wape_pct: self.wape_pct(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn assert_close(got: Option<f64>, want: f64) {
        let got = got.expect("a figure");
        assert!((got - want).abs() < 1e-12, "got {got}, want {want}");
    }

    #[test]
    fn figures_by_hand() {
        // Errors +10, −10, +50, −10 W: bias 40/4 = 10 W, MAE 80/4 = 20 W. MAPE leaves out the
        // pair with actual 0 W: (10 % + 10 % + 25 %) / 3 = 15 %.
        let mut stats = ErrorStats::new();
        for (predicted_w, actual_w) in [(110.0, 100.0), (90.0, 100.0), (50.0, 0.0), (30.0, 40.0)] {
            stats.record(predicted_w, actual_w).unwrap();
        }
        let summary = stats.summary();
        assert_eq!((summary.n, summary.n_zero_actual), (4, 1));
        assert_close(summary.bias_w, 10.0);
        assert_close(summary.mae_w, 20.0);
        assert_close(summary.mape_pct, 15.0);
        // WAPE: 80 W of error over 240 W of actual heat.
        assert_close(summary.wape_pct, 100.0 * 80.0 / 240.0);
    }

    #[test]
    fn empty_and_all_zero_have_no_figures() {
        let mut stats = ErrorStats::new();
        assert_eq!(
            stats.summary(),
            ErrorSummary {
                n: 0,
                n_zero_actual: 0,
                mape_pct: None,
                bias_w: None,
                mae_w: None,
                wape_pct: None
            }
        );
        stats.record(0.0, 0.0).unwrap();
        stats.record(4.0, 0.0).unwrap();
        assert_eq!(stats.mape_pct(), None);
        assert_eq!(stats.wape_pct(), None);
        assert_close(stats.bias_w(), 2.0);
        assert_close(stats.mae_w(), 2.0);
    }

    #[test]
    fn merged_equals_recorded_together() {
        let pairs = [(12.0, 10.0), (5.0, 8.0), (0.0, 3.0), (7.0, 0.0)];
        let mut together = ErrorStats::new();
        let (mut left, mut right) = (ErrorStats::new(), ErrorStats::new());
        for (idx, &(predicted_w, actual_w)) in pairs.iter().enumerate() {
            together.record(predicted_w, actual_w).unwrap();
            let half = if idx % 2 == 0 { &mut left } else { &mut right };
            half.record(predicted_w, actual_w).unwrap();
        }
        left.merge(&right);
        assert_eq!(left.summary(), together.summary());
    }

    #[test]
    fn bad_pairs_are_refused_and_not_counted() {
        let mut stats = ErrorStats::new();
        assert_eq!(
            stats.record(-1.0, 5.0),
            Err(InputError::Negative { field: Field::PredictedW, value: -1.0 })
        );
        let err = stats.record(5.0, f64::NAN).unwrap_err();
        assert_eq!(err.to_string(), "actual_w is NaN; expected a finite number");
        assert_eq!(stats.n(), 0);
    }
}
