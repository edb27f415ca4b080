//! Robust statistics used by the adaptive overload detectors (IQR, MAD, LR, LRR), defined as
//! CloudSim 3.0.3's `MathUtil` defines them, so that hearth's baselines decide as the reference
//! implementation of Beloglazov & Buyya 2012 does.

#[cfg(test)]
/// Percentile with Apache Commons Math's default (legacy) estimator, which CloudSim's `median`
/// uses: position `p·(n+1)`, linear interpolation between neighbours, clamped at both ends.
/// `sorted` must be sorted ascending and non-empty.
fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    debug_assert!(n > 0, "percentile of an empty slice");
    if n == 1 {
        return sorted[0];
    }
    let pos = p * (n as f64 + 1.0);
    if pos < 1.0 {
        return sorted[0];
    }
    if pos >= n as f64 {
        return sorted[n - 1];
    }
    let floor = pos.floor();
    let d = pos - floor;
    let lower = sorted[floor as usize - 1];
    let upper = sorted[floor as usize];
    lower + d * (upper - lower)
}

fn sorted(data: &[f64]) -> Vec<f64> {
    let mut v = data.to_vec();
    // Equal values are indistinguishable, so an unstable sort gives the same order.
    v.sort_unstable_by(f64::total_cmp);
    v
}

/// Median (Commons Math percentile 50). `None` for no data.
///
/// Selection instead of a full sort: position `(n+1)/2` needs only the order statistics at
/// `⌊(n+1)/2⌋` and the next one, which give the same value as `percentile_sorted`.
pub fn median(data: &[f64]) -> Option<f64> {
    let n = data.len();
    if n == 0 {
        return None;
    }
    if n == 1 {
        return Some(data[0]);
    }
    let mut v = data.to_vec();
    let pos = 0.5 * (n as f64 + 1.0);
    let floor = pos.floor();
    let d = pos - floor;
    let k = floor as usize - 1;
    let (_, &mut lower, upper_part) = v.select_nth_unstable_by(k, f64::total_cmp);
    let upper = upper_part.iter().copied().min_by(f64::total_cmp).unwrap_or(lower);
    Some(lower + d * (upper - lower))
}

/// Median absolute deviation from the median (CloudSim `MathUtil.mad`). 0 for no data.
pub fn mad(data: &[f64]) -> f64 {
    let Some(m) = median(data) else { return 0.0 };
    let deviations: Vec<f64> = data.iter().map(|x| (m - x).abs()).collect();
    median(&deviations).unwrap_or(0.0)
}

/// Interquartile range as CloudSim `MathUtil.iqr` computes it: sorted data, quartile indices
/// `round(0.25·(n+1)) − 1` and `round(0.75·(n+1)) − 1`. `None` when the data is too short for
/// those indices (fewer than 3 values: with CloudSim's minimum of 12 values this never arises).
pub fn iqr(data: &[f64]) -> Option<f64> {
    let n = data.len();
    let q1 = java_round(0.25 * (n as f64 + 1.0)) - 1;
    let q3 = java_round(0.75 * (n as f64 + 1.0)) - 1;
    if q1 < 0 || q3 < 0 || q3 as usize >= n {
        return None;
    }
    let s = sorted(data);
    Some(s[q3 as usize] - s[q1 as usize])
}

/// Java's `Math.round` for doubles: floor(x + 0.5).
fn java_round(x: f64) -> i64 {
    (x + 0.5).floor() as i64
}

/// Length of `data` without its trailing zeros (CloudSim `MathUtil.countNonZeroBeginning`).
pub fn count_non_zero_beginning(data: &[f64]) -> usize {
    data.iter().rposition(|&x| x != 0.0).map_or(0, |i| i + 1)
}

/// Ordinary least squares fit of `y` against x = 1, 2, …, n: returns (intercept, slope).
/// `None` when fewer than two points make the slope undefined.
///
/// CloudSim's "local regression" passes tricube weights to a helper that applies them only when
/// at least 40 % of them are zero; its tricube weights are never zero, so the fit it performs
/// is this unweighted one. We reproduce the behaviour and document it in docs/sim.md.
pub fn ols_against_index(y: &[f64]) -> Option<(f64, f64)> {
    let n = y.len();
    if n < 2 {
        return None;
    }
    let nf = n as f64;
    let mean_x = (nf + 1.0) / 2.0;
    let mean_y = y.iter().sum::<f64>() / nf;
    let mut sxy = 0.0;
    let mut sxx = 0.0;
    for (i, &yi) in y.iter().enumerate() {
        let dx = (i + 1) as f64 - mean_x;
        sxy += dx * (yi - mean_y);
        sxx += dx * dx;
    }
    let slope = sxy / sxx;
    Some((mean_y - slope * mean_x, slope))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_interpolates_like_commons_math() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[7.0]), Some(7.0));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn median_by_selection_equals_median_by_sorting() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for n in 1..=31 {
            let data: Vec<f64> = (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % 1000) as f64 / 997.0
                })
                .collect();
            assert_eq!(median(&data), Some(percentile_sorted(&sorted(&data), 0.5)), "n = {n}");
        }
    }

    #[test]
    fn mad_of_a_known_series() {
        // median 2; deviations 1,1,0,0,2,4,7 -> median 1.
        assert_eq!(mad(&[1.0, 1.0, 2.0, 2.0, 4.0, 6.0, 9.0]), 1.0);
    }

    #[test]
    fn iqr_uses_cloudsim_indices() {
        // n = 12: q1 = round(3.25) - 1 = 2, q3 = round(9.75) - 1 = 9.
        let data: Vec<f64> = (1..=12).map(f64::from).collect();
        assert_eq!(iqr(&data), Some(10.0 - 3.0));
        assert_eq!(iqr(&[1.0]), None);
    }

    #[test]
    fn trailing_zeros_are_not_counted() {
        assert_eq!(count_non_zero_beginning(&[0.5, 0.0, 0.3, 0.0, 0.0]), 3);
        assert_eq!(count_non_zero_beginning(&[0.0, 0.0]), 0);
        assert_eq!(count_non_zero_beginning(&[]), 0);
    }

    #[test]
    fn ols_recovers_a_line() {
        let y: Vec<f64> = (1..=10).map(|x| 0.1 + 0.05 * x as f64).collect();
        let (a, b) = ols_against_index(&y).unwrap();
        assert!((a - 0.1).abs() < 1e-12 && (b - 0.05).abs() < 1e-12);
        assert_eq!(ols_against_index(&[1.0]), None);
    }
}

/// Simple linear regression with intercept, accumulated exactly as Apache Commons Math 3's
/// `SimpleRegression.addData` does, so that fitted parameters match CloudSim to the last bit.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimpleRegression {
    sum_x: f64,
    sum_xx: f64,
    sum_y: f64,
    sum_xy: f64,
    x_bar: f64,
    y_bar: f64,
    n: u32,
}

impl SimpleRegression {
    /// Regression of `y` against `x`.
    pub fn fit(x: &[f64], y: &[f64]) -> SimpleRegression {
        let mut r = SimpleRegression::default();
        for (&xi, &yi) in x.iter().zip(y) {
            r.add(xi, yi);
        }
        r
    }

    fn add(&mut self, x: f64, y: f64) {
        if self.n == 0 {
            self.x_bar = x;
            self.y_bar = y;
        } else {
            let n = self.n as f64;
            let fact1 = 1.0 + n;
            let fact2 = n / (1.0 + n);
            let dx = x - self.x_bar;
            let dy = y - self.y_bar;
            self.sum_xx += dx * dx * fact2;
            self.sum_xy += dx * dy * fact2;
            self.x_bar += dx / fact1;
            self.y_bar += dy / fact1;
        }
        self.sum_x += x;
        self.sum_y += y;
        self.n += 1;
    }

    fn slope(&self) -> f64 {
        if self.n < 2 || self.sum_xx.abs() < 10.0 * f64::from_bits(1) {
            return f64::NAN;
        }
        self.sum_xy / self.sum_xx
    }

    fn intercept(&self, slope: f64) -> f64 {
        (self.sum_y - slope * self.sum_x) / self.n as f64
    }

    /// Predicted y at `x`.
    pub fn predict(&self, x: f64) -> f64 {
        let b1 = self.slope();
        self.intercept(b1) + b1 * x
    }

    /// (intercept, slope) as `regress().getParameterEstimates()` returns them; `None` with fewer
    /// than three points (Commons Math throws there, and CloudSim falls back to its static
    /// threshold).
    pub fn estimates(&self) -> Option<(f64, f64)> {
        if self.n < 3 {
            return None;
        }
        // Commons Math's Precision.SAFE_MIN is 2^-1022.
        if self.sum_xx.abs() > f64::MIN_POSITIVE {
            let slope = self.slope();
            Some((self.intercept(slope), slope))
        } else {
            Some((self.sum_y / self.n as f64, f64::NAN))
        }
    }
}

/// Tricube weights as CloudSim's `MathUtil.getTricubeWeigts` defines them (inverted, with the
/// first three equal).
fn tricube_weights(n: usize) -> Vec<f64> {
    let mut w = vec![0.0; n];
    let top = n as f64 - 1.0;
    let spread = top;
    for (i, wi) in w.iter_mut().enumerate().skip(2) {
        let k = (1.0 - ((top - i as f64) / spread).powi(3)).powi(3);
        *wi = if k > 0.0 { 1.0 / k } else { f64::MAX };
    }
    if n > 2 {
        w[0] = w[2];
        w[1] = w[2];
    }
    w
}

fn tricube_bisquare_weights(residuals: &[f64]) -> Vec<f64> {
    let n = residuals.len();
    let w = tricube_weights(n);
    let mut w2 = vec![0.0; n];
    let abs: Vec<f64> = residuals.iter().map(|r| r.abs()).collect();
    let s6 = median(&abs).unwrap_or(f64::NAN) * 6.0;
    for i in 2..n {
        let k = (1.0 - (residuals[i] / s6).powi(2)).powi(2);
        w2[i] = if k > 0.0 { (1.0 / k) * w[i] } else { f64::MAX };
    }
    if n > 2 {
        w2[0] = w2[2];
        w2[1] = w2[2];
    }
    w2
}

/// CloudSim's `createWeigthedLinearRegression`: weights are applied (as √w scaling of both
/// coordinates) only when at least 40 % of them are zero or negative.
fn weighted_regression(x: &[f64], y: &[f64], weights: &[f64]) -> SimpleRegression {
    let n_zero = weights.iter().filter(|&&w| w <= 0.0).count();
    if n_zero as f64 >= 0.4 * weights.len() as f64 {
        let xw: Vec<f64> = x.iter().zip(weights).map(|(x, w)| w.sqrt() * x).collect();
        let yw: Vec<f64> = y.iter().zip(weights).map(|(y, w)| w.sqrt() * y).collect();
        SimpleRegression::fit(&xw, &yw)
    } else {
        SimpleRegression::fit(x, y)
    }
}

fn index_x(n: usize) -> Vec<f64> {
    (1..=n).map(|i| i as f64).collect()
}

/// Local-regression estimates (intercept, slope) of `y` against 1..=n (CloudSim
/// `getLoessParameterEstimates`).
pub fn loess_estimates(y: &[f64]) -> Option<(f64, f64)> {
    let x = index_x(y.len());
    weighted_regression(&x, y, &tricube_weights(y.len())).estimates()
}

/// Robust local-regression estimates (CloudSim 3.0.3 `getRobustLoessParameterEstimates`,
/// including its NaN test that never fires).
pub fn robust_loess_estimates(y: &[f64]) -> Option<(f64, f64)> {
    let n = y.len();
    let x = index_x(n);
    let tricube = weighted_regression(&x, y, &tricube_weights(n));
    let residuals: Vec<f64> = (0..n).map(|i| y[i] - tricube.predict(x[i])).collect();
    weighted_regression(&x, y, &tricube_bisquare_weights(&residuals)).estimates()
}

#[cfg(test)]
mod regression_tests {
    use super::*;

    #[test]
    fn simple_regression_matches_ols() {
        let y = [0.2, 0.25, 0.22, 0.3, 0.35, 0.33, 0.4, 0.42, 0.41, 0.5];
        let (a, b) = loess_estimates(&y).unwrap();
        let (a2, b2) = ols_against_index(&y).unwrap();
        assert!((a - a2).abs() < 1e-12 && (b - b2).abs() < 1e-12);
        // Reference: CloudSim MathUtil — LRR's bisquare weights are all positive here, so it fits
        // the same line as LR.
        let (a3, b3) = robust_loess_estimates(&y).unwrap();
        assert!((a - a3).abs() < 1e-12 && (b - b3).abs() < 1e-12);
    }

    #[test]
    fn fewer_than_three_points_have_no_estimates() {
        assert_eq!(loess_estimates(&[0.1, 0.2]), None);
    }
}
