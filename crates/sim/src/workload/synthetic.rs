//! The seeded synthetic workload: the simulator's embedded default when no trace is given.
//!
//! This module owns the generator and its pseudo-random numbers. Each instance gets a
//! PlanetLab-reference size, a base level, a daily cycle, autocorrelated noise and rare
//! bursts, quantized to whole percent like the PlanetLab traces. The output depends only on
//! the [`SyntheticSpec`]: the generator uses its own PRNG (SplitMix64 seeding xoshiro256**)
//! and only IEEE-754 basic arithmetic (`+ - * /`, `sqrt`, `round`), which is exact on every
//! platform, so the same spec gives the same workload bit for bit everywhere.

use super::{TraceError, VmTrace, Workload};
use model::{InstanceType, SplitMix64};

/// Parameters of a synthetic workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntheticSpec {
    /// Seed of the pseudo-random numbers; the same seed gives the same workload.
    pub seed: u64,
    /// Number of instances.
    pub n_vms: usize,
    /// Samples per instance.
    pub n_samples: usize,
    /// Seconds between two samples; sample 0 is at midnight.
    pub interval_s: u32,
}

impl Default for SyntheticSpec {
    /// Seed 1, 400 instances, one day of 300 s samples (288).
    fn default() -> Self {
        SyntheticSpec { seed: 1, n_vms: 400, n_samples: 288, interval_s: 300 }
    }
}

const DAY_S: f64 = 86_400.0;
const HOUR_S: f64 = 3_600.0;
/// Hour of the day around which the instances' daily peaks are spread.
const PEAK_HOUR: f64 = 14.0;

/// Generates the workload `spec` describes.
///
/// Instance `i` is named `synthetic-{i:04}` and draws from its own stream (derived from the
/// seed and `i`), so it is the same whatever `n_vms`, and a shorter run is a prefix of a
/// longer one. Per instance:
///
/// - a size from [`InstanceType::planetlab_types`], each with probability 1/4 (the
///   2500-MIPS high-CPU medium type fits only the ML110 G5 hosts of the default fleet);
/// - a base level in [0.03, 0.35), a daily sinusoid of amplitude [0, 0.25) peaking at
///   14:00 ± 4 h;
/// - AR(1) noise: coefficient in [0.6, 0.95), stationary standard deviation in [0.03, 0.12);
/// - bursts: each sample outside a burst starts one with probability [0.002, 0.01), lasting
///   2 to 6 samples at a utilization of at least [0.8, 1.0).
///
/// Each sample is clamped to [0, 1] and rounded to a whole percent.
///
/// Fails with [`TraceError::Synthetic`] when `n_vms`, `n_samples` or `interval_s` is 0, or when
/// the series would not fit in memory's address space.
pub fn generate(spec: &SyntheticSpec) -> Result<Workload, TraceError> {
    let invalid = |what: &str| Err(TraceError::Synthetic(what.to_string()));
    if spec.n_vms == 0 {
        return invalid("n_vms must be at least 1");
    }
    if spec.n_samples == 0 {
        return invalid("n_samples must be at least 1");
    }
    if spec.interval_s == 0 {
        return invalid("interval_s must be at least 1");
    }
    let fits = spec
        .n_vms
        .checked_mul(spec.n_samples)
        .and_then(|n| n.checked_mul(std::mem::size_of::<f64>()))
        .is_some_and(|bytes| bytes <= isize::MAX as usize);
    if !fits {
        return invalid("n_vms × n_samples is too large");
    }
    let types = InstanceType::planetlab_types();
    let vms = (0..spec.n_vms).map(|i| generate_vm(spec, i, &types)).collect();
    Ok(Workload {
        source: format!("synthetic:{}", spec.seed),
        interval_s: spec.interval_s,
        vms,
        findings: Vec::new(),
    })
}

/// One instance's size and series.
fn generate_vm(spec: &SyntheticSpec, index: usize, types: &[InstanceType; 4]) -> VmTrace {
    let mut rng = Xoshiro256StarStar::for_stream(spec.seed, index as u64);

    // Per-instance parameters, all drawn before any sample so that series are prefixes.
    let instance = types[(rng.next_u64() >> 62) as usize].clone();
    let base = rng.uniform(0.03, 0.35);
    let amplitude = rng.uniform(0.0, 0.25);
    let peak_hour = PEAK_HOUR + rng.uniform(-4.0, 4.0);
    let phi = rng.uniform(0.6, 0.95);
    let noise_sd = rng.uniform(0.03, 0.12);
    let innovation_sd = noise_sd * (1.0 - phi * phi).sqrt();
    let burst_p = rng.uniform(0.002, 0.01);

    let mut noise = noise_sd * rng.standard_normal();
    let mut burst_left = 0u64;
    let mut burst_level = 0.0;
    let mut utilization = Vec::with_capacity(spec.n_samples);
    for k in 0..spec.n_samples {
        let t = k as f64 * f64::from(spec.interval_s);
        let hour = (t % DAY_S) / HOUR_S;
        // sin peaks a quarter turn (6 h) in: at `hour == peak_hour`.
        let diurnal = amplitude * sin_turns((hour - peak_hour + 6.0) / 24.0);
        if k > 0 {
            noise = phi * noise + innovation_sd * rng.standard_normal();
        }
        let mut value = base + diurnal + noise;
        if burst_left == 0 && rng.next_f64() < burst_p {
            burst_left = 2 + rng.next_u64() % 5;
            burst_level = rng.uniform(0.8, 1.0);
        }
        if burst_left > 0 {
            burst_left -= 1;
            value = value.max(burst_level);
        }
        utilization.push((value.clamp(0.0, 1.0) * 100.0).round() / 100.0);
    }
    VmTrace { name: format!("synthetic-{index:04}"), utilization, instance: Some(instance) }
}

/// `sin(2π·turns)` from basic arithmetic only, so every platform gives the same bits.
/// Absolute error below 1e-10.
fn sin_turns(turns: f64) -> f64 {
    // Reduce to [-0.5, 0.5) turns, then fold onto [-0.25, 0.25] (sin(π - x) = sin x).
    let mut r = turns - (turns + 0.5).floor();
    if r > 0.25 {
        r = 0.5 - r;
    } else if r < -0.25 {
        r = -0.5 - r;
    }
    let x = r * std::f64::consts::TAU;
    let x2 = x * x;
    // Taylor series to x^17; |x| ≤ π/2, so the next term is below 1e-12.
    let mut sum = 1.0;
    for n in (1..=8).rev() {
        let n = n as f64;
        sum = 1.0 - x2 / ((2.0 * n) * (2.0 * n + 1.0)) * sum;
    }
    x * sum
}

/// xoshiro256** 1.0 (Blackman & Vigna 2018).
struct Xoshiro256StarStar([u64; 4]);

impl Xoshiro256StarStar {
    /// The generator of stream `stream` under `seed`: SplitMix64 mixes both into the state,
    /// which therefore is never all zeros (four consecutive SplitMix64 outputs are distinct).
    fn for_stream(seed: u64, stream: u64) -> Self {
        let mut mix = SplitMix64::new(seed);
        let key = mix.next_u64() ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
        let mut sm = SplitMix64::new(key);
        Xoshiro256StarStar([sm.next_u64(), sm.next_u64(), sm.next_u64(), sm.next_u64()])
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1), 53 random bits.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next_f64()
    }

    /// Approximately standard normal: the Irwin–Hall sum of four uniforms, centred and scaled
    /// to unit variance (no logarithm or cosine, so exact everywhere; tails end at ±2√3).
    fn standard_normal(&mut self) -> f64 {
        let sum = self.next_f64() + self.next_f64() + self.next_f64() + self.next_f64();
        (sum - 2.0) * SQRT_3
    }
}

const SQRT_3: f64 = 1.732_050_807_568_877_2;

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> SyntheticSpec {
        SyntheticSpec { seed, ..SyntheticSpec::default() }
    }

    #[test]
    fn default_spec_is_one_day_of_400_vms() {
        let spec = SyntheticSpec::default();
        assert_eq!(spec, SyntheticSpec { seed: 1, n_vms: 400, n_samples: 288, interval_s: 300 });
        let w = generate(&spec).unwrap();
        assert_eq!(w.source, "synthetic:1");
        assert_eq!(w.interval_s, 300);
        assert_eq!(w.vms.len(), 400);
        assert_eq!(w.n_samples(), 288);
        assert!(w.vms.iter().all(|vm| vm.utilization.len() == 288));
        assert!(w.findings.is_empty());
        assert_eq!(w.vms[0].name, "synthetic-0000");
        assert_eq!(w.vms[399].name, "synthetic-0399");
    }

    #[test]
    fn same_seed_same_workload_different_seed_different() {
        let a = generate(&spec(7)).unwrap();
        assert_eq!(a, generate(&spec(7)).unwrap());
        let b = generate(&spec(8)).unwrap();
        assert_ne!(a.vms, b.vms);
        assert_eq!(b.source, "synthetic:8");
        // Not just a few samples: most series differ.
        let differing = a.vms.iter().zip(&b.vms).filter(|(x, y)| x.utilization != y.utilization);
        assert!(differing.count() > 390);
    }

    #[test]
    fn pinned_output_for_seed_1() {
        // Guards determinism across platforms and versions: change only on purpose.
        let w = generate(&SyntheticSpec::default()).unwrap();
        let first: Vec<f64> = w.vms[0].utilization[..8].to_vec();
        assert_eq!(first, PINNED_FIRST);
        let total_pct: i64 =
            w.vms.iter().flat_map(|vm| &vm.utilization).map(|u| (u * 100.0).round() as i64).sum();
        assert_eq!(total_pct, PINNED_TOTAL_PCT);
        let types: Vec<&str> =
            w.vms[..4].iter().map(|vm| vm.instance.as_ref().unwrap().name.as_str()).collect();
        assert_eq!(types, PINNED_TYPES);
    }

    const PINNED_FIRST: [f64; 8] = [0.24, 0.25, 0.24, 0.25, 0.25, 0.26, 0.25, 0.25];
    const PINNED_TOTAL_PCT: i64 = 2_500_639;
    const PINNED_TYPES: [&str; 4] = ["micro", "extra-large", "micro", "extra-large"];

    #[test]
    fn values_are_whole_percentages_in_unit_range() {
        for seed in [1, 2, 3] {
            let w = generate(&spec(seed)).unwrap();
            for u in w.vms.iter().flat_map(|vm| &vm.utilization) {
                assert!((0.0..=1.0).contains(u), "{u}");
                assert_eq!(*u, (u * 100.0).round() / 100.0, "{u}");
            }
        }
    }

    #[test]
    fn mean_utilization_is_plausible() {
        for seed in [1, 2, 3] {
            let w = generate(&spec(seed)).unwrap();
            let all: Vec<f64> = w.vms.iter().flat_map(|vm| vm.utilization.clone()).collect();
            let mean = all.iter().sum::<f64>() / all.len() as f64;
            assert!((0.05..=0.6).contains(&mean), "seed {seed}: mean {mean}");
        }
    }

    #[test]
    fn has_a_diurnal_signal() {
        let w = generate(&SyntheticSpec::default()).unwrap();
        // 12 samples an hour: 12:00–16:00 is samples 144..192, 00:00–04:00 is 0..48.
        let window_mean = |range: std::ops::Range<usize>| {
            let n = (range.len() * w.vms.len()) as f64;
            w.vms.iter().map(|vm| vm.utilization[range.clone()].iter().sum::<f64>()).sum::<f64>()
                / n
        };
        let peak = window_mean(144..192);
        let trough = window_mean(0..48);
        assert!(peak > trough + 0.05, "peak {peak}, trough {trough}");
    }

    #[test]
    fn sizes_are_the_planetlab_types_in_roughly_equal_shares() {
        let w = generate(&SyntheticSpec::default()).unwrap();
        for ty in InstanceType::planetlab_types() {
            let n = w.vms.iter().filter(|vm| vm.instance.as_ref() == Some(&ty)).count();
            assert!((60..=140).contains(&n), "{}: {n}", ty.name);
        }
    }

    #[test]
    fn bursts_reach_high_utilization_for_several_intervals() {
        let w = generate(&SyntheticSpec::default()).unwrap();
        let with_burst = w
            .vms
            .iter()
            .filter(|vm| vm.utilization.windows(2).any(|pair| pair.iter().all(|u| *u >= 0.8)))
            .count();
        // Bursts are rare per sample but most instances see at least one in a day.
        assert!((100..400).contains(&with_burst), "{with_burst}");
    }

    #[test]
    fn instances_do_not_depend_on_the_count_and_shorter_runs_are_prefixes() {
        let long = generate(&SyntheticSpec { n_samples: 600, ..spec(5) }).unwrap();
        let short = generate(&SyntheticSpec { n_vms: 10, n_samples: 100, ..spec(5) }).unwrap();
        for (s, l) in short.vms.iter().zip(&long.vms) {
            assert_eq!(s.name, l.name);
            assert_eq!(s.instance, l.instance);
            assert_eq!(s.utilization[..], l.utilization[..100]);
        }
    }

    #[test]
    fn refuses_invalid_parameters() {
        let cases = [
            (SyntheticSpec { n_vms: 0, ..spec(1) }, "synthetic workload: n_vms must be at least 1"),
            (
                SyntheticSpec { n_samples: 0, ..spec(1) },
                "synthetic workload: n_samples must be at least 1",
            ),
            (
                SyntheticSpec { interval_s: 0, ..spec(1) },
                "synthetic workload: interval_s must be at least 1",
            ),
            (
                SyntheticSpec { n_vms: usize::MAX, n_samples: 2, ..spec(1) },
                "synthetic workload: n_vms × n_samples is too large",
            ),
        ];
        for (spec, message) in cases {
            let err = generate(&spec).unwrap_err();
            assert!(matches!(err, TraceError::Synthetic(_)));
            assert_eq!(err.to_string(), message);
        }
    }

    #[test]
    fn sin_turns_matches_std() {
        for i in -2000..=2000 {
            let turns = i as f64 / 397.0;
            let exact = (turns * std::f64::consts::TAU).sin();
            assert!((sin_turns(turns) - exact).abs() < 1e-10, "{turns}");
        }
    }

    #[test]
    fn prng_matches_reference_vectors() {
        // SplitMix64 from seed 0: the reference implementation's first outputs.
        let mut sm = SplitMix64::new(0);
        assert_eq!(sm.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(sm.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        // xoshiro256** from state [1, 2, 3, 4]: the reference implementation's outputs.
        let mut x = Xoshiro256StarStar([1, 2, 3, 4]);
        let out: Vec<u64> = (0..3).map(|_| x.next_u64()).collect();
        assert_eq!(out, [11520, 0, 1509978240]);
    }
}
