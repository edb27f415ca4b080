//! Utilization predictors: the history source (EWMA, high quantile, least-squares forecast), the
//! live source, and the model source's assumed utilization. Each maps validated telemetry to the
//! next interval's CPU utilization as a fraction of the instance's own capacity in [0, 1], or to
//! the [`Missing`] data it needed; each is usable alone or as a rung of a [`super::Ladder`].

use super::telemetry::ValidTelemetry;
use super::{Missing, Source};

/// A predictor's parameters were out of range.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// EWMA smoothing factor outside (0, 1].
    #[error("EWMA alpha is {alpha}; expected 0 < alpha <= 1")]
    Alpha {
        /// The offending value.
        alpha: f64,
    },
    /// Quantile outside [0, 1].
    #[error("quantile q is {q}; expected 0 <= q <= 1")]
    Quantile {
        /// The offending value.
        q: f64,
    },
    /// A window too short for its predictor.
    #[error("{predictor} window is {window} samples; expected at least {min}")]
    Window {
        /// The predictor.
        predictor: Source,
        /// The offending window.
        window: usize,
        /// The shortest window it accepts.
        min: usize,
    },
    /// Assumed utilization outside [0, 1].
    #[error("nominal utilization is {utilization}; expected a fraction in [0, 1]")]
    Nominal {
        /// The offending value.
        utilization: f64,
    },
    /// A ladder without rungs could never answer.
    #[error("a ladder needs at least one rung")]
    EmptyLadder,
}

/// The last `need` samples of `history`, or why there are not that many.
fn last(history: &[f64], need: usize) -> Result<&[f64], Missing> {
    if history.len() < need {
        return Err(Missing::TooFewSamples { have: history.len(), need });
    }
    Ok(&history[history.len() - need..])
}

/// Exponentially weighted moving average over the whole history: s₁ = x₁, then
/// sₜ = α·xₜ + (1 − α)·sₜ₋₁; the prediction is the last sₜ. Needs one sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ewma {
    alpha: f64,
}

impl Ewma {
    /// Samples the EWMA needs.
    pub const MIN_SAMPLES: usize = 1;

    /// An EWMA with smoothing factor `alpha` in (0, 1] (1 = the last sample only).
    pub fn new(alpha: f64) -> Result<Ewma, ConfigError> {
        if !(alpha > 0.0 && alpha <= 1.0) {
            return Err(ConfigError::Alpha { alpha });
        }
        Ok(Ewma { alpha })
    }

    /// The smoothing factor.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// The smoothed utilization.
    pub fn predict(&self, telemetry: &ValidTelemetry<'_>) -> Result<f64, Missing> {
        let (&first, rest) = telemetry
            .history
            .split_first()
            .ok_or(Missing::TooFewSamples { have: 0, need: Self::MIN_SAMPLES })?;
        let smoothed = rest.iter().fold(first, |s, &x| self.alpha * x + (1.0 - self.alpha) * s);
        Ok(smoothed.clamp(0.0, 1.0))
    }
}

/// The `q`-quantile of the last `window` samples, interpolated linearly between order
/// statistics (Hyndman & Fan type 7, R's and NumPy's default): with the samples sorted as
/// x₀ ≤ … ≤ xₙ₋₁ and h = (n − 1)·q, the answer is x⌊h⌋ + (h − ⌊h⌋)·(x⌊h⌋₊₁ − x⌊h⌋).
/// Needs `window` samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quantile {
    q: f64,
    window: usize,
}

impl Quantile {
    /// A quantile `q` in [0, 1] (0.9 for a high one) over the last `window` ≥ 1 samples.
    pub fn new(q: f64, window: usize) -> Result<Quantile, ConfigError> {
        if !(0.0..=1.0).contains(&q) {
            return Err(ConfigError::Quantile { q });
        }
        if window < 1 {
            return Err(ConfigError::Window { predictor: Source::Quantile, window, min: 1 });
        }
        Ok(Quantile { q, window })
    }

    /// The quantile.
    pub fn q(&self) -> f64 {
        self.q
    }

    /// Samples it looks at, and needs.
    pub fn window(&self) -> usize {
        self.window
    }

    /// The quantile of recent utilization.
    pub fn predict(&self, telemetry: &ValidTelemetry<'_>) -> Result<f64, Missing> {
        let mut sorted = last(telemetry.history, self.window)?.to_vec();
        // Validated samples are finite, so the total order is the numeric one.
        sorted.sort_by(f64::total_cmp);
        let h = (sorted.len() - 1) as f64 * self.q;
        // `h` is non-negative, so truncation is the floor.
        let lower = h as usize;
        let upper = (lower + 1).min(sorted.len() - 1);
        let value = sorted[lower] + (h - lower as f64) * (sorted[upper] - sorted[lower]);
        Ok(value.clamp(0.0, 1.0))
    }
}

/// Ordinary least squares of `y` against x = 1, 2, …, n: (intercept, slope). `y` holds at least
/// two points, so the slope is defined.
pub(super) fn ols_against_index(y: &[f64]) -> (f64, f64) {
    debug_assert!(y.len() >= 2, "a line through {} point(s) is undefined", y.len());
    let n = y.len() as f64;
    let mean_x = (n + 1.0) / 2.0;
    let mean_y = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (i, &yi) in y.iter().enumerate() {
        let dx = (i + 1) as f64 - mean_x;
        sxy += dx * (yi - mean_y);
        sxx += dx * dx;
    }
    let slope = sxy / sxx;
    (mean_y - slope * mean_x, slope)
}

/// Local-regression forecast after Beloglazov & Buyya's LR (2012, §6.2.3): fit
/// u = a + b·x by ordinary least squares to the last N samples at x = 1, …, N (oldest first),
/// predict the next interval at x = N + 1, and clamp to [0, 1]. Needs N samples, N ≥ 2.
///
/// LR proper weights the fit with tricube weights, but CloudSim 3.0.3 applies those weights only
/// when 40 % of them are zero, which they never are, so the fit it performs is this unweighted
/// one (crates/sim `stats::ols_against_index`). LR also predicts further ahead (the migration
/// time) and multiplies by a safety factor to detect overload; a heat estimate wants the next
/// interval and no margin.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Regression {
    window: usize,
}

impl Regression {
    /// Beloglazov & Buyya's window: the last 10 samples.
    pub const LR_WINDOW: usize = 10;

    /// A forecast over the last `window` ≥ 2 samples.
    pub fn new(window: usize) -> Result<Regression, ConfigError> {
        if window < 2 {
            return Err(ConfigError::Window { predictor: Source::Regression, window, min: 2 });
        }
        Ok(Regression { window })
    }

    /// Samples it fits, and needs.
    pub fn window(&self) -> usize {
        self.window
    }

    /// The forecast for the next interval.
    pub fn predict(&self, telemetry: &ValidTelemetry<'_>) -> Result<f64, Missing> {
        let samples = last(telemetry.history, self.window)?;
        let (intercept, slope) = ols_against_index(samples);
        let next_x = (samples.len() + 1) as f64;
        Ok((intercept + slope * next_x).clamp(0.0, 1.0))
    }
}

/// The latest measured utilization. Needs a live sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Live;

impl Live {
    /// The live utilization.
    pub fn predict(&self, telemetry: &ValidTelemetry<'_>) -> Result<f64, Missing> {
        telemetry.live_utilization.ok_or(Missing::NoLiveSample)
    }
}

/// The model source without telemetry: an assumed utilization (for example the typical load of
/// the instance's type, or 1 for its full request) that the power curve turns into heat. It
/// always answers, so put it last in a ladder, if at all: the rungs it ends are still listed in
/// the estimate's `skipped`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Nominal {
    utilization: f64,
}

impl Nominal {
    /// An assumed utilization in [0, 1].
    pub fn new(utilization: f64) -> Result<Nominal, ConfigError> {
        if !(0.0..=1.0).contains(&utilization) {
            return Err(ConfigError::Nominal { utilization });
        }
        Ok(Nominal { utilization })
    }

    /// The assumed utilization, whatever the telemetry.
    pub fn predict(&self, _telemetry: &ValidTelemetry<'_>) -> Result<f64, Missing> {
        Ok(self.utilization)
    }
}

/// A predicted utilization and where it came from: what a [`super::Ladder`] hands to the model
/// step.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// Predicted utilization, as a fraction of the instance's own capacity, in [0, 1].
    pub utilization: f64,
    /// The predictor that answered.
    pub source: Source,
    /// The predictors tried before it, in order, each with why it had no answer.
    pub skipped: Vec<(Source, Missing)>,
}

/// Any one predictor: a rung of a [`super::Ladder`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Predictor {
    /// [`Ewma`], source [`Source::Ewma`].
    Ewma(Ewma),
    /// [`Quantile`], source [`Source::Quantile`].
    Quantile(Quantile),
    /// [`Regression`], source [`Source::Regression`].
    Regression(Regression),
    /// [`Live`], source [`Source::Live`].
    Live(Live),
    /// [`Nominal`], source [`Source::Model`].
    Nominal(Nominal),
}

impl Predictor {
    /// The default ladder, most informed first: Beloglazov & Buyya's LR over 10 samples, the
    /// 0.9-quantile of the last 5, an EWMA with α = 0.5 (any history), then the live sample.
    pub const DEFAULT_RUNGS: [Predictor; 4] = [
        Predictor::Regression(Regression { window: Regression::LR_WINDOW }),
        Predictor::Quantile(Quantile { q: 0.9, window: 5 }),
        Predictor::Ewma(Ewma { alpha: 0.5 }),
        Predictor::Live(Live),
    ];

    /// The source an estimate from this predictor records.
    pub fn source(&self) -> Source {
        match self {
            Predictor::Ewma(_) => Source::Ewma,
            Predictor::Quantile(_) => Source::Quantile,
            Predictor::Regression(_) => Source::Regression,
            Predictor::Live(_) => Source::Live,
            Predictor::Nominal(_) => Source::Model,
        }
    }

    /// The predicted utilization (fraction of the instance's own capacity, in [0, 1]).
    pub fn predict(&self, telemetry: &ValidTelemetry<'_>) -> Result<f64, Missing> {
        match self {
            Predictor::Ewma(p) => p.predict(telemetry),
            Predictor::Quantile(p) => p.predict(telemetry),
            Predictor::Regression(p) => p.predict(telemetry),
            Predictor::Live(p) => p.predict(telemetry),
            Predictor::Nominal(p) => p.predict(telemetry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::InstanceTelemetry;
    use super::*;

    /// Runs `predictor` on `history` and `live` (1000 MIPS instance).
    #[track_caller]
    fn check(predictor: Predictor, history: &[f64], live: Option<f64>) -> Result<f64, Missing> {
        let telemetry =
            InstanceTelemetry { history, live_utilization: live, capacity_mips: 1000.0 };
        predictor.predict(&telemetry.validate().expect("valid telemetry"))
    }

    #[track_caller]
    fn assert_close(got: Result<f64, Missing>, want: f64) {
        let got = got.expect("a prediction");
        assert!((got - want).abs() < 1e-12, "got {got}, want {want}");
    }

    #[test]
    fn ewma_by_hand() {
        // s = 0.2; 0.5·0.4 + 0.5·0.2 = 0.3; 0.5·0.8 + 0.5·0.3 = 0.55.
        let ewma = Predictor::Ewma(Ewma::new(0.5).unwrap());
        assert_close(check(ewma, &[0.2, 0.4, 0.8], None), 0.55);
        // α = 0.25: 0.2; 0.25·0.4 + 0.75·0.2 = 0.25; 0.25·0.8 + 0.75·0.25 = 0.3875.
        assert_close(
            check(Predictor::Ewma(Ewma::new(0.25).unwrap()), &[0.2, 0.4, 0.8], None),
            0.3875,
        );
        // α = 1 is the last sample; one sample is enough.
        assert_close(check(Predictor::Ewma(Ewma::new(1.0).unwrap()), &[0.2, 0.4, 0.8], None), 0.8);
        assert_close(check(ewma, &[0.7], None), 0.7);
        assert_eq!(check(ewma, &[], Some(0.5)), Err(Missing::TooFewSamples { have: 0, need: 1 }));
    }

    #[test]
    fn quantile_by_hand() {
        // The last five are 0.1 0.5 0.3 0.2 0.4 (the leading 0.9 is outside the window); sorted
        // 0.1 0.2 0.3 0.4 0.5. q = 0.9: h = 3.6, 0.4 + 0.6·(0.5 − 0.4) = 0.46.
        let history = [0.9, 0.1, 0.5, 0.3, 0.2, 0.4];
        let q = |q| Predictor::Quantile(Quantile::new(q, 5).unwrap());
        assert_close(check(q(0.9), &history, None), 0.46);
        assert_close(check(q(0.5), &history, None), 0.3);
        assert_close(check(q(1.0), &history, None), 0.5);
        assert_close(check(q(0.0), &history, None), 0.1);
        assert_eq!(
            check(q(0.9), &[0.1, 0.2, 0.3], None),
            Err(Missing::TooFewSamples { have: 3, need: 5 })
        );
        // A window of one is the last sample, whatever q.
        let one = Predictor::Quantile(Quantile::new(0.9, 1).unwrap());
        assert_close(check(one, &history, None), 0.4);
    }

    #[test]
    fn regression_continues_a_known_line() {
        // u = 0.1 + 0.05·x at x = 1..10, after an outlier that falls outside the window; the
        // next interval is x = 11: 0.1 + 0.55 = 0.65.
        let mut history = vec![1.0];
        history.extend((1..=10).map(|x| 0.1 + 0.05 * x as f64));
        let lr = Predictor::Regression(Regression::new(Regression::LR_WINDOW).unwrap());
        assert_close(check(lr, &history, None), 0.65);
        // Three points 0.2 0.3 0.7 (x = 1, 2, 3): slope 0.25, intercept 0.4 − 0.5 = −0.1;
        // at x = 4: 0.9.
        let lr3 = Predictor::Regression(Regression::new(3).unwrap());
        assert_close(check(lr3, &[0.2, 0.3, 0.7], None), 0.9);
        assert_eq!(
            check(lr, &history[..9], None),
            Err(Missing::TooFewSamples { have: 9, need: 10 })
        );
    }

    #[test]
    fn regression_clamps_the_forecast_to_a_fraction() {
        let lr2 = Predictor::Regression(Regression::new(2).unwrap());
        // Rising 0.6 → 0.9 would reach 1.2; falling 0.3 → 0.1 would reach −0.1.
        assert_close(check(lr2, &[0.6, 0.9], None), 1.0);
        assert_close(check(lr2, &[0.3, 0.1], None), 0.0);
    }

    #[test]
    fn live_is_the_latest_sample() {
        let live = Predictor::Live(Live);
        assert_close(check(live, &[0.1, 0.2], Some(0.7)), 0.7);
        assert_eq!(check(live, &[0.1, 0.2], None), Err(Missing::NoLiveSample));
    }

    #[test]
    fn nominal_ignores_telemetry() {
        let nominal = Predictor::Nominal(Nominal::new(0.6).unwrap());
        assert_close(check(nominal, &[], None), 0.6);
        assert_eq!(nominal.source(), Source::Model);
    }

    #[test]
    fn parameters_out_of_range_are_refused() {
        assert_eq!(Ewma::new(0.0), Err(ConfigError::Alpha { alpha: 0.0 }));
        assert!(matches!(Ewma::new(f64::NAN), Err(ConfigError::Alpha { .. })));
        assert_eq!(Quantile::new(1.5, 5), Err(ConfigError::Quantile { q: 1.5 }));
        assert_eq!(
            Quantile::new(0.9, 0),
            Err(ConfigError::Window { predictor: Source::Quantile, window: 0, min: 1 })
        );
        let err = Regression::new(1).unwrap_err();
        assert_eq!(err, ConfigError::Window { predictor: Source::Regression, window: 1, min: 2 });
        assert_eq!(err.to_string(), "regression window is 1 samples; expected at least 2");
        assert_eq!(Nominal::new(-0.1), Err(ConfigError::Nominal { utilization: -0.1 }));
    }
}
