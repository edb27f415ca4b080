//! Earmarks and surplus (seed 001 FIG. 6, \[0035\]; issue 7 "Earmarks"): what a pool node keeps
//! for its owner and what it offers the pool.
//!
//! The owner earmarks a **reserve** per resource ([`Resources`]: cores, memory, storage, GPUs;
//! `--reserve cpu=N,mem=SIZE[,disk=SIZE][,gpu=N]`, parsed by [`Resources::from_str`]). The node
//! offers the rest, less what the owner is predicted to use:
//!
//! ```text
//! surplus = max(0, capacity − max(reserve, predicted_local))      component-wise
//! predicted_local = ewma × (1 + margin)
//! ewma ← local                              when local ≥ ewma  (a rise: followed at once)
//! ewma ← α·local + (1 − α)·ewma             when local < ewma  (a fall: decays)
//! ```
//!
//! The reserve is the floor the owner always keeps, whatever they do; the prediction lets a busy
//! owner reclaim more than the reserve. [`surplus`] computes the first line, [`Predictor`] the
//! others, one sample at a time.
//!
//! **Why asymmetric.** The complaint the issue quotes about older pools is that "computer in
//! use" is not detected: an owner who starts working must get their machine back now, not after
//! an average catches up. So a rise is followed in the very sample that shows it (the pool loses
//! the capacity at once), while a fall is believed only gradually (the capacity returns to the
//! pool over a few samples), so an owner who pauses for a moment does not see pool tasks rushing
//! back in. Erring towards the owner costs the pool a little throughput; erring the other way
//! breaks the promise the reserve makes.
//!
//! **Defaults** ([`PredictorParams::default`]): α = 0.2 per sample and a 10 % margin. With
//! α = 0.2 a fall closes half its gap in about 3 samples (0.8³ ≈ 0.51) and 90 % of it in about
//! 10 (0.8¹⁰ ≈ 0.11); at the agent's sampling period of a few seconds, the capacity comes back
//! within half a minute. The margin is relative: there is no extra absolute floor, because the
//! reserve already is the absolute floor the owner chose, and a hidden second one would make the
//! advertised surplus differ from what they configured.
//!
//! **Rounding.** Processor figures are fractional cores. Memory and storage are whole MiB, GPUs
//! whole devices: a prediction rounds to the nearest unit (the margin already covers the half
//! unit); a size the owner writes in a unit that is not whole MiB rounds up
//! ([`parse_size_mib`]), so a reserve or a request is never smaller than what was written.
//!
//! Pure: the caller measures capacity and local use (the agent's `pool_host`) and feeds the
//! samples in.

use std::fmt;
use std::str::FromStr;

/// Slack in processor comparisons, in cores: sums of fractional cores need not be exact.
const CPU_TOLERANCE: f64 = 1e-9;

/// An amount of each resource a pool node has, keeps or offers, or that a task asks for.
#[derive(Clone, Copy, Debug, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Resources {
    /// Processor, in cores (fractional: 1.5 is one and a half cores' time).
    pub cpu: f64,
    /// Memory, MiB.
    pub mem_mib: u64,
    /// Storage, MiB.
    pub disk_mib: u64,
    /// GPUs, whole devices.
    pub gpu: u32,
}

impl Resources {
    /// Nothing of anything.
    pub const ZERO: Resources = Resources { cpu: 0.0, mem_mib: 0, disk_mib: 0, gpu: 0 };

    /// Whether `request` fits in `self`: no component of the request exceeds this one's (the
    /// processor with a tolerance of 1e-9 cores). A non-finite processor figure on either side
    /// never fits.
    pub fn fits(&self, request: &Resources) -> bool {
        self.shortfall(request).is_empty()
    }

    /// `self − other` per component, floored at 0.
    pub fn saturating_sub(&self, other: &Resources) -> Resources {
        Resources {
            // f64::max returns the other operand when one is NaN, so a NaN difference floors to 0.
            cpu: (self.cpu - other.cpu).max(0.0),
            mem_mib: self.mem_mib.saturating_sub(other.mem_mib),
            disk_mib: self.disk_mib.saturating_sub(other.disk_mib),
            gpu: self.gpu.saturating_sub(other.gpu),
        }
    }

    /// `self + other` per component (the integers saturate).
    pub fn add(&self, other: &Resources) -> Resources {
        Resources {
            cpu: self.cpu + other.cpu,
            mem_mib: self.mem_mib.saturating_add(other.mem_mib),
            disk_mib: self.disk_mib.saturating_add(other.disk_mib),
            gpu: self.gpu.saturating_add(other.gpu),
        }
    }

    /// The larger of `self` and `other`, per component.
    pub fn max(&self, other: &Resources) -> Resources {
        Resources {
            cpu: self.cpu.max(other.cpu),
            mem_mib: self.mem_mib.max(other.mem_mib),
            disk_mib: self.disk_mib.max(other.disk_mib),
            gpu: self.gpu.max(other.gpu),
        }
    }

    /// The components of `request` that do not fit in `self`, each as `what requested > what
    /// there is` (`["cpu 3 > 1.5", "mem 4096 MiB > 2048 MiB"]`), in the order cpu, mem, disk,
    /// gpu; empty when the request fits.
    pub fn shortfall(&self, request: &Resources) -> Vec<String> {
        let mut parts = Vec::new();
        // A NaN on either side is unordered, so it counts as not fitting.
        let cpu_fits =
            request.cpu.partial_cmp(&(self.cpu + CPU_TOLERANCE)).is_some_and(|o| o.is_le());
        if !cpu_fits {
            parts.push(format!("cpu {} > {}", request.cpu, self.cpu));
        }
        if request.mem_mib > self.mem_mib {
            parts.push(format!("mem {} MiB > {} MiB", request.mem_mib, self.mem_mib));
        }
        if request.disk_mib > self.disk_mib {
            parts.push(format!("disk {} MiB > {} MiB", request.disk_mib, self.disk_mib));
        }
        if request.gpu > self.gpu {
            parts.push(format!("gpu {} > {}", request.gpu, self.gpu));
        }
        parts
    }
}

impl fmt::Display for Resources {
    /// `cpu=2,mem=4096MiB,disk=0MiB,gpu=0`, which [`Resources::from_str`] reads back exactly
    /// (the processor figure is Rust's shortest round-trip decimal).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cpu={},mem={}MiB,disk={}MiB,gpu={}",
            self.cpu, self.mem_mib, self.disk_mib, self.gpu
        )
    }
}

/// Why a `cpu=N,mem=SIZE[,disk=SIZE][,gpu=N]` text (a `--reserve`) was refused. Every message
/// but the one for an empty text names the part by its 1-based position and its text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResourcesError {
    /// Nothing but whitespace.
    #[error("empty; expected cpu=N,mem=SIZE[,disk=SIZE][,gpu=N]")]
    Empty,
    /// A part is refused.
    #[error("part {position} (`{part}`): {reason}")]
    Part {
        /// 1-based position of the part among the comma-separated ones.
        position: usize,
        /// The part's text, trimmed.
        part: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The keys of the `--reserve` syntax, in [`Resources`]' order.
const KEYS: [&str; 4] = ["cpu", "mem", "disk", "gpu"];

impl FromStr for Resources {
    type Err = ResourcesError;

    /// Parses `cpu=N,mem=SIZE[,disk=SIZE][,gpu=N]`: the keys `cpu` (cores, a finite number ≥ 0,
    /// fractions allowed), `mem` and `disk` (sizes, see [`parse_size_mib`]) and `gpu` (a whole
    /// number), in any order, each at most once; a missing key is 0. Spaces around parts, keys
    /// and values are allowed.
    fn from_str(text: &str) -> Result<Resources, ResourcesError> {
        if text.trim().is_empty() {
            return Err(ResourcesError::Empty);
        }
        let mut resources = Resources::ZERO;
        // The position of the part that set each key, to name the first in a repetition.
        let mut seen: [Option<usize>; 4] = [None; 4];
        for (idx, raw_part) in text.split(',').enumerate() {
            let position = idx + 1;
            let part = raw_part.trim();
            let refuse =
                |reason: String| ResourcesError::Part { position, part: part.to_string(), reason };
            if part.is_empty() {
                return Err(refuse("empty part (a stray comma?)".into()));
            }
            let Some((key, value)) = part.split_once('=') else {
                return Err(refuse("expected KEY=VALUE (cpu, mem, disk or gpu)".into()));
            };
            let (key, value) = (key.trim(), value.trim());
            let Some(key_idx) = KEYS.iter().position(|known| *known == key) else {
                return Err(refuse(format!("unknown key `{key}` (use cpu, mem, disk or gpu)")));
            };
            if let Some(first) = seen[key_idx] {
                return Err(refuse(format!("`{key}` repeated (first set in part {first})")));
            }
            seen[key_idx] = Some(position);
            if value.is_empty() {
                return Err(refuse(format!("no value after `{key}=`")));
            }
            match key_idx {
                0 => resources.cpu = parse_cores(value).map_err(refuse)?,
                1 => resources.mem_mib = parse_size_mib(value).map_err(refuse)?,
                2 => resources.disk_mib = parse_size_mib(value).map_err(refuse)?,
                _ => {
                    resources.gpu = value
                        .parse::<u32>()
                        .map_err(|_| refuse(format!("`{value}` is not a whole number of GPUs")))?
                }
            }
        }
        Ok(resources)
    }
}

/// A number of cores: finite and at least 0.
fn parse_cores(value: &str) -> Result<f64, String> {
    let cores = value.parse::<f64>().map_err(|_| format!("`{value}` is not a number of cores"))?;
    if !cores.is_finite() {
        return Err(format!("{cores} is not a finite number of cores"));
    }
    if cores < 0.0 {
        return Err(format!("{cores} cores is negative"));
    }
    Ok(cores)
}

/// The size units [`parse_size_mib`] accepts (any letter case), with their bytes.
const SIZE_UNITS: [(&str, u128); 12] = [
    ("k", 1 << 10),
    ("m", 1 << 20),
    ("g", 1 << 30),
    ("t", 1 << 40),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
    ("tb", 1_000_000_000_000),
];

/// Decimal places beyond which a size is refused (10²⁴ · 2²⁰ still fits the exact arithmetic).
const MAX_SIZE_DECIMALS: usize = 24;

/// Parses a size into MiB: a decimal number and an optional unit, with optional space between.
///
/// - No unit: MiB (`100` is 100 MiB).
/// - `K`, `M`, `G`, `T` and `KiB`, `MiB`, `GiB`, `TiB`: binary (`4G` and `4GiB` are 4096).
/// - `KB`, `MB`, `GB`, `TB`: decimal (`4GB` is 4·10⁹ bytes, 3814.7 MiB, so 3815).
/// - Units in any letter case (`4g`, `512mib`).
/// - Fractions are exact (`1.5G` is 1536); a result that is not a whole number of MiB rounds
///   **up**, so a reserve or a request is never smaller than what was written.
///
/// # Errors
/// An empty text, a negative number, no leading number (`NaN`, `inf`, `G`), a malformed number
/// (`1.2.3`), an unknown unit (the message lists the known ones), more than 24 decimal places,
/// or a size past `u64::MAX` MiB.
pub fn parse_size_mib(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(
            "empty size (expected a number of MiB, or a number and a unit: 512MiB, 4G)".into()
        );
    }
    if text.starts_with('-') {
        return Err(format!("`{text}` is negative; a size is at least 0"));
    }
    let number_len = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(number_len);
    let unit = unit.trim();
    if !number.bytes().any(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{text}` does not start with a number (expected a number of MiB, or a number and a \
             unit: 512MiB, 4G)"
        ));
    }
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if fraction.contains('.') {
        return Err(format!("`{number}` is not a number (more than one `.`)"));
    }
    let unit_bytes = if unit.is_empty() {
        1 << 20
    } else {
        SIZE_UNITS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(unit))
            .map(|(_, bytes)| *bytes)
            .ok_or_else(|| {
                format!(
                    "unknown size unit `{unit}` (use K, M, G, T, KiB, MiB, GiB, TiB, KB, MB, GB, \
                     TB)"
                )
            })?
    };
    // Exact arithmetic: the number is digits / 10^decimals, so the size in MiB is
    // digits · unit_bytes / (10^decimals · 2^20), rounded up.
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > MAX_SIZE_DECIMALS {
        return Err(format!("`{number}` has more than {MAX_SIZE_DECIMALS} decimal places"));
    }
    let too_large = || format!("`{text}` is too large (at most {} MiB)", u64::MAX);
    let mut digits: u128 = 0;
    for byte in whole.bytes().chain(fraction.bytes()) {
        digits = digits
            .checked_mul(10)
            .and_then(|d| d.checked_add(u128::from(byte - b'0')))
            .ok_or_else(too_large)?;
    }
    let numerator = digits.checked_mul(unit_bytes).ok_or_else(too_large)?;
    // 10^24 · 2^20 < 2^100: no overflow within MAX_SIZE_DECIMALS.
    let denominator = 10u128.pow(fraction.len() as u32) << 20;
    u64::try_from(numerator.div_ceil(denominator)).map_err(|_| too_large())
}

/// The parameters of a [`Predictor`].
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PredictorParams {
    /// The EWMA's weight of a new sample when local use falls, in (0, 1]: 1 forgets at once,
    /// smaller values forget more slowly. Default 0.2 per sample.
    pub alpha: f64,
    /// The relative safety margin over the average, ≥ 0: the prediction is
    /// `ewma × (1 + margin)`. Default 0.10.
    pub margin: f64,
}

impl Default for PredictorParams {
    /// α = 0.2 per sample, a 10 % margin (the module doc explains the choice).
    fn default() -> PredictorParams {
        PredictorParams { alpha: 0.2, margin: 0.10 }
    }
}

impl PredictorParams {
    /// Checks that `alpha` is in (0, 1] and `margin` is finite and ≥ 0; the error names the
    /// field and its value.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.alpha > 0.0 && self.alpha <= 1.0) {
            return Err(format!("alpha {} is outside (0, 1]", self.alpha));
        }
        if !(self.margin.is_finite() && self.margin >= 0.0) {
            return Err(format!("margin {} is not a finite number ≥ 0", self.margin));
        }
        Ok(())
    }
}

/// The owner's predicted local use: an EWMA that follows a rise at once and decays on a fall,
/// times `1 + margin` (the module doc gives the formula and the reasons).
///
/// Each component is tracked on its own. A sample's processor figure that is negative counts as
/// 0; one that is not finite is skipped (the component keeps its average), so one bad reading
/// can neither poison the average nor pin it at infinity.
#[derive(Clone, Debug, PartialEq)]
pub struct Predictor {
    params: PredictorParams,
    /// The averages of cpu, mem, disk and gpu; `None` before the first sample.
    ewma: Option<[f64; 4]>,
}

impl Predictor {
    /// A predictor with no samples. A field of `params` that [`PredictorParams::validate`]
    /// would refuse is replaced by its default (validate first to refuse it instead).
    pub fn new(params: PredictorParams) -> Predictor {
        let defaults = PredictorParams::default();
        let alpha =
            if params.alpha > 0.0 && params.alpha <= 1.0 { params.alpha } else { defaults.alpha };
        let margin = if params.margin.is_finite() && params.margin >= 0.0 {
            params.margin
        } else {
            defaults.margin
        };
        Predictor { params: PredictorParams { alpha, margin }, ewma: None }
    }

    /// The parameters in use (after [`Predictor::new`]'s replacements).
    pub fn params(&self) -> PredictorParams {
        self.params
    }

    /// Feeds one sample of the owner's local use and returns the prediction after it.
    pub fn observe(&mut self, local_use: &Resources) -> Resources {
        let sample = [
            local_use.cpu,
            local_use.mem_mib as f64,
            local_use.disk_mib as f64,
            f64::from(local_use.gpu),
        ];
        let alpha = self.params.alpha;
        let next = match self.ewma {
            None => sample.map(|x| if x.is_finite() { x.max(0.0) } else { 0.0 }),
            Some(prev) => {
                let mut next = prev;
                for (average, x) in next.iter_mut().zip(sample) {
                    if !x.is_finite() {
                        continue;
                    }
                    let x = x.max(0.0);
                    *average = if x >= *average { x } else { alpha * x + (1.0 - alpha) * *average };
                }
                next
            }
        };
        self.ewma = Some(next);
        self.prediction(next)
    }

    /// The prediction after the last sample; `None` before the first.
    pub fn predicted(&self) -> Option<Resources> {
        self.ewma.map(|ewma| self.prediction(ewma))
    }

    /// `ewma × (1 + margin)`, memory, storage and GPUs rounded to the nearest unit (`as`
    /// saturates at the integer's range).
    fn prediction(&self, ewma: [f64; 4]) -> Resources {
        let scale = 1.0 + self.params.margin;
        let [cpu, mem, disk, gpu] = ewma.map(|x| x * scale);
        Resources {
            cpu,
            mem_mib: mem.round() as u64,
            disk_mib: disk.round() as u64,
            gpu: gpu.round() as u32,
        }
    }
}

/// What a node offers the pool: `capacity − max(reserve, predicted_local)` per component, floored
/// at 0 (seed 001 FIG. 6; issue 7 "Earmarks"). The reserve is what the owner always keeps; the
/// prediction ([`Predictor`]) is what a busy owner reclaims beyond it.
pub fn surplus(
    capacity: &Resources,
    reserve: &Resources,
    predicted_local: &Resources,
) -> Resources {
    capacity.saturating_sub(&reserve.max(predicted_local))
}

/// Checks that the reserve fits within the capacity. A reserve larger than the capacity would
/// leave nothing to offer, and more likely is a typo (`mem=64` meant as GiB); the error names
/// each resource that does not fit (`the reserve (…) exceeds the capacity (…): cpu 8 > 4`).
pub fn reserve_fits(capacity: &Resources, reserve: &Resources) -> Result<(), String> {
    let shortfall = capacity.shortfall(reserve);
    if shortfall.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the reserve ({reserve}) exceeds the capacity ({capacity}): {}",
            shortfall.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::rand::SplitMix64;

    fn res(cpu: f64, mem_mib: u64, disk_mib: u64, gpu: u32) -> Resources {
        Resources { cpu, mem_mib, disk_mib, gpu }
    }

    // -----------------------------------------------------------------------------------------
    // Resources arithmetic

    #[test]
    fn fits_and_shortfall_compare_each_component() {
        let have = res(1.5, 2048, 100, 0);
        assert!(have.fits(&res(1.5, 2048, 100, 0)));
        assert!(have.fits(&Resources::ZERO));
        // Sums of fractional cores are not exact: 0.1 + 0.2 > 0.3 by 5.6e-17.
        assert!(res(0.3, 0, 0, 0).fits(&res(0.1 + 0.2, 0, 0, 0)));
        assert!(!have.fits(&res(1.6, 0, 0, 0)));
        assert_eq!(
            have.shortfall(&res(3.0, 4096, 100, 1)),
            vec!["cpu 3 > 1.5", "mem 4096 MiB > 2048 MiB", "gpu 1 > 0"]
        );
        assert_eq!(have.shortfall(&res(0.0, 0, 101, 0)), vec!["disk 101 MiB > 100 MiB"]);
        assert_eq!(have.shortfall(&res(f64::NAN, 0, 0, 0)), vec!["cpu NaN > 1.5"]);
        assert!(!res(f64::NAN, 0, 0, 0).fits(&Resources::ZERO));
    }

    #[test]
    fn arithmetic_is_component_wise_and_saturates() {
        let a = res(4.0, 8192, 1000, 1);
        let b = res(1.5, 10_000, 10, 2);
        assert_eq!(a.saturating_sub(&b), res(2.5, 0, 990, 0));
        assert_eq!(a.add(&b), res(5.5, 18_192, 1010, 3));
        assert_eq!(a.max(&b), res(4.0, 10_000, 1000, 2));
        assert_eq!(res(0.0, u64::MAX, 0, u32::MAX).add(&res(0.0, 1, 0, 1)).mem_mib, u64::MAX);
        assert_eq!(res(1.0, 0, 0, 0).saturating_sub(&res(f64::NAN, 0, 0, 0)).cpu, 0.0);
    }

    // -----------------------------------------------------------------------------------------
    // Parsing

    #[test]
    fn reserve_text_parses_in_any_order_with_missing_keys_zero() {
        assert_eq!("cpu=2,mem=4G".parse::<Resources>().unwrap(), res(2.0, 4096, 0, 0));
        assert_eq!(
            " gpu=1 , disk = 10GB, mem=512MiB ,cpu=0.5".parse::<Resources>().unwrap(),
            res(0.5, 512, 9537, 1)
        );
        assert_eq!("mem=1".parse::<Resources>().unwrap(), res(0.0, 1, 0, 0));
    }

    #[test]
    fn display_round_trips_through_from_str() {
        assert_eq!(res(2.0, 4096, 0, 0).to_string(), "cpu=2,mem=4096MiB,disk=0MiB,gpu=0");
        let mut rng = SplitMix64::new(7);
        for _ in 0..1000 {
            let value = res(
                rng.uniform(0.0, 256.0),
                rng.next_u64() >> rng.below(64),
                rng.next_u64() >> rng.below(64),
                (rng.next_u64() >> 32) as u32,
            );
            let text = value.to_string();
            assert_eq!(text.parse::<Resources>(), Ok(value), "{text}");
        }
    }

    #[track_caller]
    fn check_refused(text: &str, expected: &str) {
        match text.parse::<Resources>() {
            Ok(value) => panic!("`{text}` parsed as {value}"),
            Err(err) => assert_eq!(err.to_string(), expected, "for `{text}`"),
        }
    }

    #[test]
    fn reserve_text_errors_name_the_part() {
        check_refused("", "empty; expected cpu=N,mem=SIZE[,disk=SIZE][,gpu=N]");
        check_refused("  ", "empty; expected cpu=N,mem=SIZE[,disk=SIZE][,gpu=N]");
        check_refused("cpu=1,,mem=2G", "part 2 (``): empty part (a stray comma?)");
        check_refused("cpu=1,", "part 2 (``): empty part (a stray comma?)");
        check_refused("cpu", "part 1 (`cpu`): expected KEY=VALUE (cpu, mem, disk or gpu)");
        check_refused(
            "cpu=1,ram=2G",
            "part 2 (`ram=2G`): unknown key `ram` (use cpu, mem, disk or gpu)",
        );
        check_refused(
            "cpu=1,mem=2G,cpu=2",
            "part 3 (`cpu=2`): `cpu` repeated (first set in part 1)",
        );
        check_refused("cpu=", "part 1 (`cpu=`): no value after `cpu=`");
        check_refused("cpu=-1", "part 1 (`cpu=-1`): -1 cores is negative");
        check_refused("cpu=NaN", "part 1 (`cpu=NaN`): NaN is not a finite number of cores");
        check_refused("cpu=inf", "part 1 (`cpu=inf`): inf is not a finite number of cores");
        check_refused("cpu=two", "part 1 (`cpu=two`): `two` is not a number of cores");
        check_refused(
            "cpu=1,mem=4XB",
            "part 2 (`mem=4XB`): unknown size unit `XB` (use K, M, G, T, KiB, MiB, GiB, TiB, KB, \
             MB, GB, TB)",
        );
        check_refused("disk=-5G", "part 1 (`disk=-5G`): `-5G` is negative; a size is at least 0");
        check_refused("gpu=-1", "part 1 (`gpu=-1`): `-1` is not a whole number of GPUs");
        check_refused("gpu=1.5", "part 1 (`gpu=1.5`): `1.5` is not a whole number of GPUs");
    }

    #[test]
    fn sizes_parse_binary_decimal_and_bare_mib() {
        let cases: [(&str, u64); 17] = [
            ("4GiB", 4096),
            ("4G", 4096),
            ("4g", 4096),
            ("4GB", 3815), // 4e9 B = 3814.7 MiB, rounded up
            ("512MiB", 512),
            ("512 M", 512),
            ("1.5G", 1536),
            ("1.5GiB", 1536),
            ("100", 100),
            ("0", 0),
            ("2048K", 2),
            ("1K", 1), // 1/1024 MiB rounds up
            ("1T", 1 << 20),
            ("1TB", 953_675),  // 1e12 / 2^20 = 953674.3
            ("1.048576MB", 1), // exactly 1 MiB: no float error pushes it to 2
            (".5G", 512),
            ("1.000G", 1024),
        ];
        for (text, mib) in cases {
            assert_eq!(parse_size_mib(text), Ok(mib), "{text}");
        }
    }

    #[test]
    fn size_errors_say_what_is_wrong() {
        let cases = [
            ("", "empty size"),
            ("   ", "empty size"),
            ("-1G", "`-1G` is negative"),
            ("NaN", "`NaN` does not start with a number"),
            ("inf", "`inf` does not start with a number"),
            ("G", "`G` does not start with a number"),
            (".", "`.` does not start with a number"),
            ("1.2.3G", "`1.2.3` is not a number"),
            ("4XB", "unknown size unit `XB` (use K, M, G, T, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"),
            ("4 bytes", "unknown size unit `bytes`"),
            ("1e3", "unknown size unit `e3`"),
            ("99999999999999999999T", "`99999999999999999999T` is too large"),
            ("18446744073709551616", "`18446744073709551616` is too large"),
            ("1.0000000000000000000000001", "more than 24 decimal places"),
        ];
        for (text, expected) in cases {
            match parse_size_mib(text) {
                Ok(mib) => panic!("`{text}` parsed as {mib} MiB"),
                Err(err) => assert!(err.contains(expected), "`{text}`: {err}"),
            }
        }
        assert_eq!(parse_size_mib("18446744073709551615"), Ok(u64::MAX));
    }

    // -----------------------------------------------------------------------------------------
    // Predictor

    #[test]
    fn predictor_follows_a_rise_at_once_and_decays_on_a_fall_at_rate_alpha() {
        let params = PredictorParams { alpha: 0.25, margin: 0.0 };
        let mut predictor = Predictor::new(params);
        assert_eq!(predictor.predicted(), None);
        assert_eq!(predictor.observe(&res(1.0, 1000, 0, 0)), res(1.0, 1000, 0, 0));
        // A rise: followed in the same sample.
        assert_eq!(predictor.observe(&res(4.0, 3000, 0, 1)), res(4.0, 3000, 0, 1));
        // A fall to 0: each sample keeps 1 − α of the gap.
        let mut expected_cpu = 4.0;
        for _ in 0..5 {
            let prediction = predictor.observe(&Resources::ZERO);
            expected_cpu *= 0.75;
            assert!((prediction.cpu - expected_cpu).abs() < 1e-12, "{prediction}");
        }
        // 3000 · 0.75^5 = 711.9
        assert_eq!(predictor.predicted().unwrap().mem_mib, 712);
        assert_eq!(predictor.predicted().unwrap().gpu, 0); // 0.237 rounds to 0
                                                           // A rise above the decayed average is followed at once again.
        assert_eq!(predictor.observe(&res(2.0, 100, 0, 0)).cpu, 2.0);
    }

    #[test]
    fn predictor_applies_the_margin_and_skips_bad_samples() {
        let mut predictor = Predictor::new(PredictorParams::default());
        let prediction = predictor.observe(&res(2.0, 1000, 10, 1));
        assert!((prediction.cpu - 2.2).abs() < 1e-12);
        assert_eq!((prediction.mem_mib, prediction.disk_mib, prediction.gpu), (1100, 11, 1));
        // A fall with the default α = 0.2: 2 → 1.6, × 1.1.
        let prediction = predictor.observe(&res(0.0, 1000, 10, 1));
        assert!((prediction.cpu - 1.76).abs() < 1e-12);
        // Non-finite cpu is skipped; negative counts as 0.
        assert!((predictor.observe(&res(f64::NAN, 1000, 10, 1)).cpu - 1.76).abs() < 1e-12);
        assert!((predictor.observe(&res(f64::INFINITY, 1000, 10, 1)).cpu - 1.76).abs() < 1e-12);
        assert!((predictor.observe(&res(-5.0, 1000, 10, 1)).cpu - 1.408).abs() < 1e-12);
        let mut first_bad = Predictor::new(PredictorParams::default());
        assert_eq!(first_bad.observe(&res(f64::NAN, 0, 0, 0)).cpu, 0.0);
    }

    #[test]
    fn params_validate_names_the_field_and_new_replaces_bad_ones() {
        assert_eq!(PredictorParams::default().validate(), Ok(()));
        assert_eq!(PredictorParams { alpha: 1.0, margin: 0.0 }.validate(), Ok(()));
        for alpha in [0.0, -0.1, 1.5, f64::NAN] {
            let err = PredictorParams { alpha, margin: 0.1 }.validate().unwrap_err();
            assert!(err.starts_with(&format!("alpha {alpha} ")), "{err}");
        }
        for margin in [-0.1, f64::INFINITY, f64::NAN] {
            let err = PredictorParams { alpha: 0.2, margin }.validate().unwrap_err();
            assert!(err.starts_with(&format!("margin {margin} ")), "{err}");
        }
        let predictor = Predictor::new(PredictorParams { alpha: f64::NAN, margin: -1.0 });
        assert_eq!(predictor.params(), PredictorParams::default());
    }

    // -----------------------------------------------------------------------------------------
    // Surplus

    #[test]
    fn surplus_is_capacity_less_the_reserve_when_idle_and_less_the_prediction_when_busy() {
        // Seed 001 FIG. 6: 4 cores, 8 GB, 1 TB; the owner keeps 1 core, 1 GB, 250 GB.
        let capacity = res(4.0, 8192, 1_048_576, 0);
        let reserve = res(1.0, 1024, 262_144, 0);
        let idle = surplus(&capacity, &reserve, &Resources::ZERO);
        assert_eq!(idle, res(3.0, 7168, 786_432, 0));
        assert_eq!(idle, capacity.saturating_sub(&reserve));
        let busy = res(3.5, 6144, 0, 0);
        assert_eq!(surplus(&capacity, &reserve, &busy), res(0.5, 2048, 786_432, 0));
        // Busier than the machine: nothing, never negative.
        assert_eq!(surplus(&capacity, &reserve, &res(9.0, 9000, 0, 0)).cpu, 0.0);
    }

    #[test]
    fn surplus_never_goes_negative_nor_over_capacity_nor_into_the_reserve() {
        fn draw(rng: &mut SplitMix64) -> Resources {
            let cpu = rng.uniform(0.0, 64.0);
            res(cpu, rng.below(1 << 20) as u64, rng.below(1 << 30) as u64, rng.below(8) as u32)
        }
        let mut rng = SplitMix64::new(1);
        for _ in 0..10_000 {
            let capacity = draw(&mut rng);
            let reserve = draw(&mut rng);
            let mut predictor = Predictor::new(PredictorParams::default());
            let mut predicted = Resources::ZERO;
            for _ in 0..1 + rng.below(5) {
                predicted = predictor.observe(&draw(&mut rng));
            }
            let offer = surplus(&capacity, &reserve, &predicted);
            assert!(offer.cpu >= 0.0);
            assert!(capacity.fits(&offer), "{offer} exceeds {capacity}");
            // What is offered plus what the owner keeps never exceeds the machine.
            let kept = reserve.max(&predicted);
            let total = offer.add(&kept);
            if capacity.fits(&kept) {
                assert!(capacity.fits(&total), "{offer} + {kept} > {capacity}");
            }
        }
    }

    #[test]
    fn a_reserve_larger_than_the_capacity_names_the_resource() {
        let capacity = res(4.0, 8192, 1000, 0);
        assert_eq!(reserve_fits(&capacity, &res(4.0, 8192, 1000, 0)), Ok(()));
        assert_eq!(
            reserve_fits(&capacity, &res(8.0, 1024, 0, 1)),
            Err("the reserve (cpu=8,mem=1024MiB,disk=0MiB,gpu=1) exceeds the capacity \
                 (cpu=4,mem=8192MiB,disk=1000MiB,gpu=0): cpu 8 > 4, gpu 1 > 0"
                .into())
        );
        let err = reserve_fits(&capacity, &res(1.0, 65_536, 0, 0)).unwrap_err();
        assert!(err.ends_with(": mem 65536 MiB > 8192 MiB"), "{err}");
    }
}
