//! The node benchmark: the performance score a pool node reports when it joins (issue 7, seed 001
//! FIG. 9), by which the controller ranks nodes.
//!
//! **The kernel.** One thread runs a fixed loop of `round_work` iterations. Each iteration steps
//! a xorshift64 generator (shifts and xors), reads and rewrites one slot of an 8 KiB table at an
//! index taken from the generator (a data-dependent load and store that stays in L1), folds the
//! slot into a 64-bit LCG-style accumulator (a multiply and an add), and turns the generator's
//! top bits into a float (an integer-to-float conversion) that feeds a damped recurrence
//! (`f = 0.75 f + u`, a multiply and an add). Every chain depends on the previous iteration, so
//! the loop can be neither vectorized nor shortened, and [`std::hint::black_box`] on its inputs
//! and its result keeps the optimizer from computing it at compile time or deleting it. It
//! allocates nothing and touches no memory beyond the table: it measures one core's integer,
//! multiply, load/store and floating-point latency, not memory bandwidth, the cache hierarchy or
//! the number of cores. It has no division or square root on purpose: those share a unit that
//! is not fully pipelined with the core's other hardware thread, and on the build machine (a VM
//! with busy neighbours) an earlier version with a square root per iteration had a spread of
//! 20–40 % where this one, run alternately with it in the same minutes, had 6–10 %.
//!
//! **The score.** Each round's throughput (iterations per second) is divided by
//! [`REFERENCE_ITERATIONS_PER_S`] and multiplied by 1000, so a round on a ~3 GHz modern x86-64
//! core scores about 1000 and the score scales with single-core speed (higher is faster). The
//! reference was measured on this project's build machine, a release build on an AMD EPYC vCPU
//! that `/proc/cpuinfo` says runs at 2.45 GHz but that a dependent-multiply loop clocks at about
//! 3.1 GHz (the kernel takes about 7.7 cycles per iteration there), scaled to 3.0 GHz. [`run`]
//! does one untimed warm-up round (page faults, frequency ramp-up), then `rounds` timed rounds;
//! the score is the median round, and [`BenchResult::spread`] = (max − min) / median says how
//! repeatable the run was.
//!
//! **What to expect.** A default run (a warm-up and [`DEFAULT_ROUNDS`] rounds of [`DEFAULT_WORK`]
//! iterations) takes about 0.4 s in a release build. Measured on the build machine (a 2-vCPU VM
//! shared with other builds; `hearth bench --rounds 10`, release): while the core was quiet the
//! score was 1009–1024 with a spread of 2.7–6.3 %; while other work shared it, single rounds
//! slowed by up to 30 %, the spread rose to 10–36 % and the median ranged from 870 to 1012. The
//! median resists a few disturbed rounds, not a machine busy throughout, and that lower score is
//! what the pool would get from the node too: expect repeated runs on one node to agree within
//! about 10 %, and read a spread above 10 % as "the node was busy". The score belongs to the
//! build: an unoptimized (dev profile) binary scores about 140–150 (spread 18–32 %), so compare
//! nodes running release builds only.
//!
//! The wall clock is read here, and only here outside the clock modules: a benchmark measures
//! elapsed time by definition.

use std::hint::black_box;
use std::time::Instant;

/// Timed rounds in a default run.
pub const DEFAULT_ROUNDS: usize = 5;

/// Iterations of the kernel in one default round: about 60 ms on a 3 GHz core (release build).
pub const DEFAULT_WORK: u64 = 24_000_000;

/// Kernel iterations per second that score 1000: the build machine's quiet release-build rate,
/// 4.0e8 per second on a core clocked at about 3.1 GHz, scaled to 3.0 GHz.
pub const REFERENCE_ITERATIONS_PER_S: f64 = 3.9e8;

/// The result of a benchmark run.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct BenchResult {
    /// The median of [`BenchResult::rounds`]: the node's performance score (higher is faster;
    /// about 1000 for a ~3 GHz modern core).
    pub score: f64,
    /// Each timed round's score, in the order they ran.
    pub rounds: Vec<f64>,
    /// (max − min) / median of the rounds: 0.02 means the rounds lay within 2 % of the score.
    pub spread: f64,
}

/// Runs the benchmark: one untimed warm-up round, then `rounds` timed rounds of `round_work`
/// kernel iterations each, on the calling thread. `rounds` is taken as at least 1 and
/// `round_work` as at least 1, so no input panics or divides by zero.
pub fn run(rounds: usize, round_work: u64) -> BenchResult {
    let rounds = rounds.max(1);
    let round_work = round_work.max(1);
    black_box(kernel(black_box(round_work), black_box(SEED)));
    let scores = (0..rounds).map(|_| round_score(round_work, time_round(round_work))).collect();
    summarize(scores)
}

/// Builds a [`BenchResult`] from round scores: the median and the spread.
pub fn summarize(rounds: Vec<f64>) -> BenchResult {
    BenchResult { score: median(&rounds), spread: spread(&rounds), rounds }
}

/// The median of `values` (the mean of the two middle values for an even count); 0 when there
/// are none. NaNs sort last (`f64::total_cmp`), so they never panic the sort.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// (max − min) / median of `values`; 0 when there are none or the median is not positive.
pub fn spread(values: &[f64]) -> f64 {
    let middle = median(values);
    if values.is_empty() || middle.is_nan() || middle <= 0.0 {
        return 0.0;
    }
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    (max - min) / middle
}

/// The score of a round of `round_work` iterations that took `seconds`.
pub fn round_score(round_work: u64, seconds: f64) -> f64 {
    // A round shorter than the clock's resolution would be infinitely fast.
    let seconds = seconds.max(1e-9);
    round_work as f64 / seconds / REFERENCE_ITERATIONS_PER_S * 1000.0
}

/// The generator's seed: any odd constant; fixed so every node runs the same instruction stream.
const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// One timed round, in seconds.
#[allow(clippy::disallowed_methods)] // a benchmark measures wall time by definition
fn time_round(round_work: u64) -> f64 {
    let start = Instant::now();
    black_box(kernel(black_box(round_work), black_box(SEED)));
    start.elapsed().as_secs_f64()
}

/// The kernel (see the module doc): returns a checksum of every chain so none can be dropped.
fn kernel(iterations: u64, seed: u64) -> u64 {
    let mut table = [0u64; 1024];
    let mut x = seed | 1;
    let mut acc: u64 = 0;
    let mut f = 0.0f64;
    for i in 0..iterations {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // The top 10 bits: always < 1024.
        let slot = (x >> 54) as usize;
        let old = table[slot];
        table[slot] = old.wrapping_add(x).rotate_left(7) ^ i;
        acc = acc.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(old ^ x);
        // The top 53 bits as a float in [0, 1); f stays in [0, 4).
        let u = (x >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0);
        f = f * 0.75 + u;
    }
    let table_sum = table.iter().fold(0u64, |sum, &v| sum.wrapping_add(v));
    acc ^ table_sum ^ f.to_bits()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[7.5]), 7.5);
        assert_eq!(median(&[]), 0.0);
        // A NaN sorts last instead of panicking the sort.
        assert_eq!(median(&[f64::NAN, 1.0, 2.0]), 2.0);
    }

    #[test]
    fn spread_is_range_over_median() {
        // Rounds 950, 1000, 1050: range 100 over median 1000.
        assert!((spread(&[1050.0, 950.0, 1000.0]) - 0.1).abs() < 1e-12);
        assert_eq!(spread(&[1000.0, 1000.0]), 0.0);
        assert_eq!(spread(&[]), 0.0);
        assert_eq!(spread(&[0.0, 0.0]), 0.0);
    }

    #[test]
    fn summarize_takes_the_median_round_as_the_score() {
        let result = summarize(vec![980.0, 1020.0, 1000.0, 900.0, 1010.0]);
        assert_eq!(result.score, 1000.0);
        assert!((result.spread - 0.12).abs() < 1e-12, "{result:?}");
        assert_eq!(result.rounds, vec![980.0, 1020.0, 1000.0, 900.0, 1010.0]);
    }

    #[test]
    fn the_reference_rate_scores_1000() {
        let seconds = DEFAULT_WORK as f64 / REFERENCE_ITERATIONS_PER_S;
        assert!((round_score(DEFAULT_WORK, seconds) - 1000.0).abs() < 1e-9);
        // Twice as fast, twice the score; a zero-length round is finite.
        assert!((round_score(DEFAULT_WORK, seconds / 2.0) - 2000.0).abs() < 1e-9);
        assert!(round_score(1, 0.0).is_finite());
    }

    #[test]
    fn the_kernel_is_fixed_and_does_its_work() {
        // Pinned checksums: a change to the kernel changes every node's score, so it must be
        // deliberate (update the reference rate with it).
        assert_eq!(kernel(0, SEED), kernel(0, SEED));
        assert_eq!(kernel(1000, SEED), 0xC3F7_6A91_9803_28C8);
        assert_ne!(kernel(1000, SEED), kernel(1001, SEED));
    }

    #[test]
    fn a_short_run_reports_every_round() {
        let result = run(3, 10_000);
        assert_eq!(result.rounds.len(), 3);
        assert!(result.rounds.iter().all(|r| r.is_finite() && *r > 0.0), "{result:?}");
        assert!(result.score > 0.0 && result.spread >= 0.0, "{result:?}");
        // Degenerate inputs are clamped, not a panic or a division by zero.
        let clamped = run(0, 0);
        assert_eq!(clamped.rounds.len(), 1);
        assert!(clamped.score.is_finite());
    }
}
