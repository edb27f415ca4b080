//! Per-sender beacon rates from arrival times, turned back into availability estimates with
//! their uncertainty (seed 003, FIG. 17 and 21).
//!
//! The seed keeps, per remote node, a circular queue of arrival times and computes its beacon
//! frequency from "the last received and first received times" over an interval of messages.
//! [`RateEstimator`] is that queue: a ring of the last `window` arrival times, and
//! `rate = (n − 1) / (t_last − t_first)` over the *n* arrivals it holds (the maximum-likelihood
//! estimate for a Poisson stream). [`AvailabilityEstimate`] inverts the frequency law (FIG. 9,
//! [`Law::f_ra_from_rate`]): `V_Balance = k·f_RA ⇒ f_RA = V/k` and
//! `V_Power = l·min/f_RA ⇒ f_RA = l·min/V`.
//!
//! # Uncertainty
//!
//! Senders jitter their intervals exponentially, so arrivals form a Poisson stream of rate λ.
//! The span *T* of *m = n − 1* intervals is then Gamma(*m*, λ) and `2λT` is χ² with `2m` degrees
//! of freedom, which gives:
//!
//! - the relative standard error of `m/T`: `m / ((m − 1)·√(m − 2))`, about `1/√m` (28.5 % for
//!   the receiver's default window of 17 arrivals, 16 intervals), see
//!   [`RateEstimate::rel_std_error`];
//! - an exact confidence interval `[χ²_lo(2m), χ²_hi(2m)] / 2T`, with the χ² quantiles from the
//!   Wilson–Hilferty approximation (within 1 % from m = 16 intervals on; for shorter windows it
//!   errs wide, never narrow), see
//!   [`RateEstimate::interval_hz`]. With `z = 3` it covers the true rate 99.7 % of the time,
//!   which the property tests check on seeded Poisson streams.
//!
//! Lost beacons thin the stream: at loss *p* each stream's rate reads `(1 − p)·V`, so a
//! single-stream estimate is biased (balance low, power high). When a sender sends both streams
//! (FIG. 16), [`AvailabilityEstimate::from_both`] uses their ratio,
//! `V_Balance / V_Power = k·f² / (l·min)`, in which the loss cancels.
//!
//! Gaps capped at *C* (`beacon::send::next_interval_s`) make a stream beacon faster than `V`
//! when `V·C` is small: the mean gap is `(1 − e^(−V·C)) / V`. With *C* one heartbeat interval
//! a stream at its heartbeat reads 1.58 × `V`; hearth's agent caps at four, which bounds the
//! bias at 1.9 %. The bias is monotonic, so rankings are unaffected.

use crate::law::Law;
use crate::Mode;
use serde::{Deserialize, Serialize};

/// Bad input to a [`RateEstimator`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    /// The window holds fewer than two arrivals, which make no interval.
    #[error("rate estimator: the window must hold at least 2 arrivals, got {window}")]
    WindowTooSmall {
        /// The window asked for.
        window: usize,
    },
    /// An arrival time earlier than the last one recorded (the caller's clock must not go back).
    #[error(
        "rate estimator: arrival at {arrival_us} µs is before the previous one at {last_us} µs"
    )]
    ArrivalBeforeLast {
        /// The arrival time given.
        arrival_us: u64,
        /// The last arrival time recorded.
        last_us: u64,
    },
}

/// The last `window` arrival times of one sender's stream, in a ring (seed 003, FIG. 17's
/// per-node circular queue of times).
#[derive(Clone, Debug)]
pub struct RateEstimator {
    /// Arrival times in µs; the oldest at `next` once full.
    times_us: Box<[u64]>,
    /// Where the next arrival goes.
    next: usize,
    /// How many arrivals the ring holds (at most its length).
    len: usize,
}

impl RateEstimator {
    /// An empty estimator over the last `window` arrivals (at least 2).
    pub fn new(window: usize) -> Result<RateEstimator, RateError> {
        if window < 2 {
            return Err(RateError::WindowTooSmall { window });
        }
        Ok(RateEstimator { times_us: vec![0; window].into_boxed_slice(), next: 0, len: 0 })
    }

    /// Records an arrival at `arrival_us` (µs on the caller's clock), dropping the oldest once the
    /// window is full. Equal times are accepted (a coarse clock); earlier ones are an error and
    /// change nothing.
    pub fn record(&mut self, arrival_us: u64) -> Result<(), RateError> {
        if let Some(last_us) = self.last_us() {
            if arrival_us < last_us {
                return Err(RateError::ArrivalBeforeLast { arrival_us, last_us });
            }
        }
        self.times_us[self.next] = arrival_us;
        self.next = (self.next + 1) % self.times_us.len();
        self.len = (self.len + 1).min(self.times_us.len());
        Ok(())
    }

    /// The most arrivals the estimator keeps.
    pub fn window(&self) -> usize {
        self.times_us.len()
    }

    /// How many arrivals it holds now.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no arrival yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The oldest arrival in the window.
    pub fn first_us(&self) -> Option<u64> {
        let window = self.times_us.len();
        (self.len > 0).then(|| self.times_us[(self.next + window - self.len) % window])
    }

    /// The newest arrival.
    pub fn last_us(&self) -> Option<u64> {
        let window = self.times_us.len();
        (self.len > 0).then(|| self.times_us[(self.next + window - 1) % window])
    }

    /// The rate over the window: `(n − 1) / (t_last − t_first)`; `None` with fewer than two
    /// arrivals or when they all share one timestamp.
    pub fn estimate(&self) -> Option<RateEstimate> {
        let span_us = self.last_us()?.checked_sub(self.first_us()?)?;
        if span_us == 0 {
            return None;
        }
        let intervals = self.len - 1;
        Some(RateEstimate {
            rate_hz: intervals as f64 / (span_us as f64 / 1e6),
            intervals,
            span_us,
        })
    }
}

/// A beacon rate measured over `intervals` inter-arrival intervals spanning `span_us`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RateEstimate {
    /// `intervals / span`: beacons per second.
    pub rate_hz: f64,
    /// How many intervals the estimate rests on (arrivals − 1, at least 1).
    pub intervals: usize,
    /// The time from the first to the last arrival, in µs (above 0).
    pub span_us: u64,
}

impl RateEstimate {
    /// The relative standard error of `rate_hz` for a Poisson stream,
    /// `m / ((m − 1)·√(m − 2))` for `m` intervals (about `1/√m`); infinite for `m ≤ 2`, where the
    /// estimate's variance is unbounded.
    pub fn rel_std_error(&self) -> f64 {
        let m = self.intervals as f64;
        if self.intervals <= 2 {
            return f64::INFINITY;
        }
        m / ((m - 1.0) * (m - 2.0).sqrt())
    }

    /// The two-sided confidence interval for the true rate at `z` standard normal deviates
    /// (`z = 3`: 99.7 %), in Hz: `χ²_p(2m) / 2T` at the normal quantiles `−z` and `+z`. The
    /// lower end is 0 when the window is too short for that confidence.
    pub fn interval_hz(&self, z: f64) -> (f64, f64) {
        let dof = 2.0 * self.intervals as f64;
        let two_span_s = 2.0 * (self.span_us as f64 / 1e6);
        (
            chi_square_quantile(dof, -z.abs()) / two_span_s,
            chi_square_quantile(dof, z.abs()) / two_span_s,
        )
    }
}

/// The χ² quantile with `dof` degrees of freedom at the standard normal deviate `z`
/// (Wilson & Hilferty 1931): `dof·(1 − 2/(9·dof) + z·√(2/(9·dof)))³`, floored at 0.
fn chi_square_quantile(dof: f64, z: f64) -> f64 {
    let a = 2.0 / (9.0 * dof);
    let cube_root = 1.0 - a + z * a.sqrt();
    dof * cube_root.max(0.0).powi(3)
}

/// An availability `f_RA` inferred from beacon rates, with its confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AvailabilityEstimate {
    /// The point estimate, in `[min, 1]`.
    pub value: f64,
    /// The interval's lower end, in `[min, 1]`.
    pub low: f64,
    /// The interval's upper end, in `[min, 1]`.
    pub high: f64,
}

impl AvailabilityEstimate {
    /// The availability one stream's rate encodes, with the rate's interval at `z` mapped through
    /// the law (a faster power stream means a *less* available node, so its ends swap).
    pub fn from_rate(law: &Law, mode: Mode, rate: &RateEstimate, z: f64) -> AvailabilityEstimate {
        let (low_hz, high_hz) = rate.interval_hz(z);
        let value = law.f_ra_from_rate(mode, rate.rate_hz);
        let (a, b) = (law.f_ra_from_rate(mode, low_hz), law.f_ra_from_rate(mode, high_hz));
        AvailabilityEstimate { value, low: a.min(b), high: a.max(b) }
    }

    /// The availability both streams' rates encode together (seed 003, FIG. 16):
    /// `f_RA = √((l·min / k) · V_Balance / V_Power)`, in which a loss that thins both streams
    /// alike cancels. The interval treats the two log-rates as independent, each with variance
    /// `1/m`: `ln f ± z·½·√(1/m_B + 1/m_P)`.
    pub fn from_both(
        law: &Law,
        balance: &RateEstimate,
        power: &RateEstimate,
        z: f64,
    ) -> AvailabilityEstimate {
        let params = law.params();
        let ratio = balance.rate_hz / power.rate_hz;
        let raw = (params.l_hz * params.min / params.k_hz * ratio).sqrt();
        let half_width =
            z.abs() * 0.5 * (1.0 / balance.intervals as f64 + 1.0 / power.intervals as f64).sqrt();
        let clamp = |f: f64| law.f_ra(f);
        AvailabilityEstimate {
            value: clamp(raw),
            low: clamp(raw * (-half_width).exp()),
            high: clamp(raw * half_width.exp()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::law::LawParams;
    use model::rand::SplitMix64;

    /// An exponential gap at `rate_hz`, in µs, from the property tests' seeded generator.
    fn gap_us(rng: &mut SplitMix64, rate_hz: f64) -> u64 {
        (-rng.unit_nonzero().ln() / rate_hz * 1e6).round() as u64
    }

    fn law() -> Law {
        Law::new(LawParams { k_hz: 10.0, l_hz: 8.0, min: 0.1 }).expect("valid law")
    }

    /// A full window of arrivals of a Poisson stream at `rate_hz`, estimated.
    fn poisson_estimate(rng: &mut SplitMix64, rate_hz: f64, window: usize) -> RateEstimate {
        let mut estimator = RateEstimator::new(window).expect("window ≥ 2");
        let mut t_us = 1_000_000 + gap_us(rng, rate_hz);
        for _ in 0..window {
            estimator.record(t_us).expect("increasing times");
            t_us += gap_us(rng, rate_hz);
        }
        estimator.estimate().expect("a full window spans time")
    }

    #[test]
    fn counts_intervals_over_the_window() {
        // Reference: seed 003, FIG. 21: the frequency from the first and last times of the
        // interval. Arrivals every 0.25 s, window of 5: 4 intervals over 1 s.
        let mut estimator = RateEstimator::new(5).expect("window ≥ 2");
        assert_eq!(estimator.estimate(), None);
        for i in 0..8u64 {
            estimator.record(10_000_000 + i * 250_000).expect("increasing times");
        }
        assert_eq!(
            (estimator.len(), estimator.first_us(), estimator.last_us()),
            (5, Some(10_750_000), Some(11_750_000))
        );
        assert_eq!(
            estimator.estimate(),
            Some(RateEstimate { rate_hz: 4.0, intervals: 4, span_us: 1_000_000 })
        );
    }

    #[test]
    fn rejects_bad_windows_and_backward_times() {
        assert_eq!(RateEstimator::new(1).err(), Some(RateError::WindowTooSmall { window: 1 }));
        let mut estimator = RateEstimator::new(3).expect("window ≥ 2");
        estimator.record(500).expect("first arrival");
        estimator.record(500).expect("an equal time is accepted");
        assert_eq!(estimator.estimate(), None, "no span yet");
        assert_eq!(
            estimator.record(499),
            Err(RateError::ArrivalBeforeLast { arrival_us: 499, last_us: 500 })
        );
        assert_eq!(estimator.len(), 2);
    }

    #[test]
    fn chi_square_quantiles_match_tables() {
        // Exact quantiles (R: qchisq(pnorm(±3), df)) for 2m = 32 and 128 degrees of freedom.
        let table = [
            (32.0, -3.0, 13.198),
            (32.0, 3.0, 61.378),
            (128.0, -3.0, 85.280),
            (128.0, 3.0, 181.365),
        ];
        for (dof, z, table) in table {
            let got = chi_square_quantile(dof, z);
            assert!((got / table - 1.0).abs() < 0.01, "χ²({dof}) at z = {z}: {got} vs {table}");
        }
        // Short windows err wide: m = 4 (exact 0.931 and 25.361).
        assert!(chi_square_quantile(8.0, -3.0) < 0.931 && chi_square_quantile(8.0, 3.0) > 25.361);
        assert_eq!(chi_square_quantile(2.0, -3.0), 0.0, "floored at 0");
    }

    #[test]
    fn interval_covers_the_true_rate_in_seeded_poisson_streams() {
        // The stated error: the z = 3 interval (nominal 99.73 %) covers the true rate in at
        // least 99 % of 1 000 seeded trials, for slow, middling and fast senders and short to
        // long windows.
        for (seed, rate_hz, window) in
            [(1, 0.8, 5), (2, 1.0, 17), (3, 4.5, 17), (4, 10.0, 17), (5, 2.0, 65)]
        {
            let mut rng = SplitMix64::new(seed);
            let trials = 1_000;
            let covered = (0..trials)
                .filter(|_| {
                    let (low, high) = poisson_estimate(&mut rng, rate_hz, window).interval_hz(3.0);
                    low <= rate_hz && rate_hz <= high
                })
                .count();
            assert!(covered >= 990, "{rate_hz} Hz, window {window}: covered in {covered}/{trials}");
        }
    }

    #[test]
    fn stated_standard_error_matches_the_spread() {
        // The empirical relative standard deviation of the estimate over 4 000 seeded trials is
        // within 10 % of `rel_std_error`, and the estimate is within 3 of them of the true rate
        // in ≥ 99 % of trials once the window has 64 intervals.
        for (seed, rate_hz, window, min_within) in [(11, 2.0, 17, 0.97), (12, 6.0, 65, 0.99)] {
            let mut rng = SplitMix64::new(seed);
            let trials = 4_000;
            let estimates: Vec<RateEstimate> =
                (0..trials).map(|_| poisson_estimate(&mut rng, rate_hz, window)).collect();
            let stated = estimates[0].rel_std_error();
            let rel: Vec<f64> = estimates.iter().map(|e| e.rate_hz / rate_hz).collect();
            let mean = rel.iter().sum::<f64>() / trials as f64;
            let sd =
                (rel.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (trials - 1) as f64).sqrt();
            assert!((sd / stated - 1.0).abs() < 0.1, "window {window}: sd {sd} vs stated {stated}");
            let within = rel.iter().filter(|r| (*r - 1.0).abs() <= 3.0 * stated).count();
            assert!(
                within as f64 >= min_within * trials as f64,
                "window {window}: {within}/{trials}"
            );
        }
    }

    #[test]
    fn availability_intervals_cover_the_truth() {
        // Availability 0.4 beaconed on both streams at 20 % loss: the single-stream estimates
        // are biased by the loss (balance low, power high), the two-stream one is not; each
        // interval is ordered and inside [min, 1].
        let mut rng = SplitMix64::new(21);
        let law = law();
        let f_true = 0.4;
        let (mut single_balance, mut single_power, mut both) = (0.0, 0.0, 0.0);
        let (mut covered, trials) = (0, 400);
        for _ in 0..trials {
            let seen = |mode| 0.8 * law.v_mode_hz(mode, f_true);
            let balance = poisson_estimate(&mut rng, seen(Mode::Balance), 33);
            let power = poisson_estimate(&mut rng, seen(Mode::Power), 33);
            let b = AvailabilityEstimate::from_rate(&law, Mode::Balance, &balance, 3.0);
            let p = AvailabilityEstimate::from_rate(&law, Mode::Power, &power, 3.0);
            let estimate = AvailabilityEstimate::from_both(&law, &balance, &power, 3.0);
            for e in [b, p, estimate] {
                assert!(
                    0.1 <= e.low && e.low <= e.value && e.value <= e.high && e.high <= 1.0,
                    "{e:?}"
                );
            }
            single_balance += b.value.ln() / trials as f64;
            single_power += p.value.ln() / trials as f64;
            both += estimate.value.ln() / trials as f64;
            covered += usize::from(estimate.low <= f_true && f_true <= estimate.high);
        }
        let (single_balance, single_power, both) =
            (single_balance.exp(), single_power.exp(), both.exp());
        assert!(single_balance < 0.95 * f_true, "balance alone reads low: {single_balance}");
        assert!(single_power > 1.05 * f_true, "power alone reads high: {single_power}");
        assert!((both / f_true - 1.0).abs() < 0.03, "both streams: {both}");
        assert!(covered >= 396, "covered in {covered}/{trials}");
    }
}
