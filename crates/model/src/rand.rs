//! Seeded pseudo-random numbers that every part shares: the simulator's synthetic workloads,
//! the planner's generated fleets, beacon jitter and the test tools draw from the same
//! [`SplitMix64`], so a seed means the same stream everywhere and on every platform. Pure: the
//! seed is the caller's.

use serde::{Deserialize, Serialize};

/// A small, fast, portable pseudo-random generator (splitmix64, Steele, Lea and Flood 2014; the
/// seeding generator of xoshiro). Not for cryptography.
///
/// Its whole state (one `u64`) serializes, as `{"state": N}`: a generator saved and restored
/// goes on with the same stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `(0, 1]`, with 53 random bits: never 0, so its logarithm is finite (for
    /// exponential draws).
    pub fn unit_nonzero(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform in `0..n` (`0` when `n` is 0), by Lemire's multiply-shift.
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// An index drawn with the given (non-negative, not all zero) weights.
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.unit() * total;
        for (idx, &w) in weights.iter().enumerate() {
            if x < w {
                return idx;
            }
            x -= w;
        }
        weights.len().saturating_sub(1)
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for idx in (1..items.len()).rev() {
            items.swap(idx, self.below(idx + 1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_reference_stream() {
        // Reference: splitmix64.c (Vigna, prng.di.unimi.it), seed 0: first output.
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
        let mut rng = SplitMix64::new(9);
        for _ in 0..1000 {
            let x = rng.unit();
            assert!((0.0..1.0).contains(&x));
            assert!(rng.below(7) < 7);
            let y = rng.unit_nonzero();
            assert!(y > 0.0 && y <= 1.0);
        }
        assert_eq!(rng.below(0), 0);
    }
}
