//! Seeded random fleets for tests, benchmarks and `hearth plan --generate`: a [`GenerateSpec`]
//! (parsed from `instances=N,hosts=M[,resources=R][,seed=S]`) and [`fleet`], which turns it into
//! a [`FleetSpec`] that always passes [`crate::Problem::new`].
//!
//! The same spec gives the same fleet, byte for byte, on every platform: the generator draws from
//! its own [`SplitMix64`] (`model::rand`) and uses only IEEE-exact arithmetic (`+ − × ÷`, comparisons, `round`,
//! `floor`), no `ln`/`exp`/`cos`, whose results differ between math libraries.
//!
//! # What a generated fleet looks like
//!
//! - **Resources**: `cpu` (cores), `memory_gib`, then generic `res2`, `res3`, … (`resources=1`
//!   keeps only `cpu`).
//! - **Hosts**: three types (small 16 cores / 64 GiB, 30 %; medium 32 / 128, 50 %; large 64 /
//!   256, 20 %); generic capacity 10, 20, 40 units; idle power 60–75, 80–100 and 100–120 W. The
//!   fleet draws one heat constant, 6–9 W per busy core; a host's dynamic range is its cores ×
//!   that constant, so a host with every core busy draws idle + dynamic range.
//! - **Target** (when not overridden): idle + 65 % of the dynamic range ("a well-loaded host";
//!   [`TARGET_FRACTION`]). With 10 % headroom that needs about 72 % of a host's usable cores
//!   running instances of average heat, so a spread fleet covers few hosts and a packed one
//!   covers most hosts but not all.
//! - **Thermal limit**: idle + the dynamic range; 15 % of hosts (a warm aisle) get idle + 85 % of
//!   it, which still lies above their target.
//! - **Instances**: cpu sizes from a skewed mix (0.5, 1, 2, 4, 8, 16 cores with weights 25, 30,
//!   20, 13, 8, 4 %, each ×0.8–1.25), then scaled so the fleet's cpu demand is 50–60 % of its
//!   total cpu capacity (drawn per fleet) and capped at half the largest host's usable
//!   capacity; memory 2, 4 or 6 GiB per core (35, 45, 20 %, ±10 %); generic requests 0.125–0.75
//!   units per core; heat = cores × the fleet's W per core × 0.8–1.2; `memory_mib` (what a
//!   migration moves) 40–90 % of the memory request.
//! - **Current arrangement**: largest instances first, each on the less loaded (relative cpu)
//!   of two random hosts, drawn in proportion to their cores, where it fits (capacity after
//!   headroom, thermal limit, anti-affinity): a spreading scheduler, so hosts sit near the
//!   fleet's average load, below their targets, and a planner has migrations to make. An
//!   instance that fits nowhere any more stays unplaced (rare at this demand; it needs
//!   fragmentation on a tiny fleet).
//! - About 5 % of placed instances are not migratable, about 10 % of instances sit in
//!   anti-affinity groups of 2–3 (never larger than the host count), and 30 % of placed instances
//!   carry a `since_move_s` of 0–2 h.
//! - **Policy**: headroom 0.1 on every resource, no migration budget, `min_dwell_s` 0, no spares.

use crate::fleet::{FleetSpec, HostSpec, InstanceSpec, PolicySpec, PowerState};
pub use model::rand::SplitMix64;
use std::fmt;
use std::str::FromStr;

/// Most instances a spec may ask for (a guard against typos that would exhaust memory).
pub const MAX_INSTANCES: usize = 10_000_000;
/// Most hosts a spec may ask for.
pub const MAX_HOSTS: usize = 1_000_000;
/// Most resources a spec may ask for.
pub const MAX_RESOURCES: usize = 64;
/// Headroom the generated policy keeps free on every resource.
pub const HEADROOM: f64 = 0.1;
/// A host's default target: idle power plus this fraction of its dynamic range.
pub const TARGET_FRACTION: f64 = 0.65;

/// What to generate: `instances=N,hosts=M[,resources=R][,seed=S]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GenerateSpec {
    /// Number of instances (may be 0).
    pub instances: usize,
    /// Number of hosts (at least 1).
    pub hosts: usize,
    /// Number of resources (at least 1; default 4): `cpu`, `memory_gib`, then generic ones.
    pub resources: usize,
    /// Seed of the random stream (default 1).
    pub seed: u64,
}

impl GenerateSpec {
    /// A spec with the default resources (4) and seed (1).
    pub fn new(instances: usize, hosts: usize) -> GenerateSpec {
        GenerateSpec { instances, hosts, resources: 4, seed: 1 }
    }
}

/// Prints the canonical form, which [`GenerateSpec::from_str`] reads back.
impl fmt::Display for GenerateSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "instances={},hosts={},resources={},seed={}",
            self.instances, self.hosts, self.resources, self.seed
        )
    }
}

/// Why a generate spec was refused. Each message names the key or item at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenerateSpecError {
    /// An item is not `key=value`.
    #[error("generate spec: `{item}` is not key=value (expected instances=N,hosts=M[,resources=R][,seed=S])")]
    NotKeyValue {
        /// The item as given.
        item: String,
    },
    /// A key other than `instances`, `hosts`, `resources` and `seed`.
    #[error(
        "generate spec: unknown key `{key}`; the keys are instances, hosts, resources and seed"
    )]
    UnknownKey {
        /// The key as given.
        key: String,
    },
    /// A key given twice.
    #[error("generate spec: `{key}` is given twice")]
    Duplicate {
        /// The repeated key.
        key: &'static str,
    },
    /// A value that is not a whole number.
    #[error("generate spec: {key}=`{value}` is not a whole number ≥ 0")]
    BadNumber {
        /// The key.
        key: &'static str,
        /// The value as given.
        value: String,
    },
    /// A required key is absent.
    #[error(
        "generate spec: `{key}=…` is missing (expected instances=N,hosts=M[,resources=R][,seed=S])"
    )]
    Missing {
        /// The missing key.
        key: &'static str,
    },
    /// A value below its minimum (`hosts=0`, `resources=0`).
    #[error("generate spec: {key}={value} is too small; it must be at least {min}")]
    TooSmall {
        /// The key.
        key: &'static str,
        /// The value.
        value: usize,
        /// The minimum.
        min: usize,
    },
    /// A value above its maximum.
    #[error("generate spec: {key}={value} is too large; it must be at most {max}")]
    TooLarge {
        /// The key.
        key: &'static str,
        /// The value.
        value: usize,
        /// The maximum.
        max: usize,
    },
}

impl FromStr for GenerateSpec {
    type Err = GenerateSpecError;

    /// Parses `instances=N,hosts=M[,resources=R][,seed=S]`, keys in any order, whitespace
    /// around items ignored.
    fn from_str(text: &str) -> Result<GenerateSpec, GenerateSpecError> {
        let (mut instances, mut hosts, mut resources, mut seed) = (None, None, None, None);
        for item in text.split(',') {
            let Some((key, value)) = item.split_once('=') else {
                return Err(GenerateSpecError::NotKeyValue { item: item.trim().to_string() });
            };
            let (key, value) = (key.trim(), value.trim());
            let bad = |key: &'static str| GenerateSpecError::BadNumber { key, value: value.into() };
            // `u64::from_str` accepts a leading `+`; a spec has digits only.
            let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
            let (name, slot): (&'static str, &mut Option<u64>) = match key {
                "instances" => ("instances", &mut instances),
                "hosts" => ("hosts", &mut hosts),
                "resources" => ("resources", &mut resources),
                "seed" => ("seed", &mut seed),
                _ => return Err(GenerateSpecError::UnknownKey { key: key.to_string() }),
            };
            if slot.is_some() {
                return Err(GenerateSpecError::Duplicate { key: name });
            }
            if !digits {
                return Err(bad(name));
            }
            *slot = Some(value.parse::<u64>().map_err(|_| bad(name))?);
        }
        let count = |key: &'static str, value: Option<u64>, min: usize, max: usize| {
            let value = value.ok_or(GenerateSpecError::Missing { key })?;
            let value = usize::try_from(value).unwrap_or(usize::MAX);
            if value < min {
                Err(GenerateSpecError::TooSmall { key, value, min })
            } else if value > max {
                Err(GenerateSpecError::TooLarge { key, value, max })
            } else {
                Ok(value)
            }
        };
        Ok(GenerateSpec {
            instances: count("instances", instances, 0, MAX_INSTANCES)?,
            hosts: count("hosts", hosts, 1, MAX_HOSTS)?,
            resources: count("resources", Some(resources.unwrap_or(4)), 1, MAX_RESOURCES)?,
            seed: seed.unwrap_or(1),
        })
    }
}

/// One host type of the generated fleets.
struct HostType {
    cores: f64,
    memory_gib: f64,
    generic: f64,
    idle_w: (f64, f64),
    share: f64,
}

/// The host types, each at least as large as the previous on every resource, so the largest
/// host present dominates every other one.
const HOST_TYPES: [HostType; 3] = [
    HostType { cores: 16.0, memory_gib: 64.0, generic: 10.0, idle_w: (60.0, 75.0), share: 0.3 },
    HostType { cores: 32.0, memory_gib: 128.0, generic: 20.0, idle_w: (80.0, 100.0), share: 0.5 },
    HostType { cores: 64.0, memory_gib: 256.0, generic: 40.0, idle_w: (100.0, 120.0), share: 0.2 },
];

/// Instance cpu size classes (cores) and their weights: many small, some large.
const CPU_CLASSES: [(f64, f64); 6] =
    [(0.5, 25.0), (1.0, 30.0), (2.0, 20.0), (4.0, 13.0), (8.0, 8.0), (16.0, 4.0)];

/// GiB of memory per core and their weights (compute-, general-, memory-optimized).
const MEMORY_PER_CORE: [(f64, f64); 3] = [(2.0, 35.0), (4.0, 45.0), (6.0, 20.0)];

/// Generic resource units per core requested, relative to a host's generic units per core.
const GENERIC_PER_CORE: (f64, f64) = (0.2, 1.2);

fn round_to(x: f64, step: f64) -> f64 {
    (x / step).round() * step
}

/// Generates the fleet `spec` describes; `target_heat_w: Some(w)` sets every host's target to
/// `w` instead of the default rule (module docs). Deterministic: the same arguments give the
/// same fleet on every platform. The result passes [`crate::Problem::new`] whenever `w` (if
/// given) is finite and ≥ 0.
pub fn fleet(spec: &GenerateSpec, target_heat_w: Option<f64>) -> FleetSpec {
    let mut rng = SplitMix64::new(spec.seed);
    let n_res = spec.resources.max(1);
    let mut resources = vec!["cpu".to_string()];
    if n_res >= 2 {
        resources.push("memory_gib".into());
    }
    resources.extend((2..n_res).map(|r| format!("res{r}")));

    // Fleet-wide constants.
    let w_per_core = round_to(rng.uniform(6.0, 9.0), 0.1);
    let demand_fraction = rng.uniform(0.50, 0.60);

    // Hosts.
    let n_hosts = spec.hosts.max(1);
    let host_width = digits(n_hosts);
    let shares: Vec<f64> = HOST_TYPES.iter().map(|t| t.share).collect();
    let mut hosts = Vec::with_capacity(n_hosts);
    let mut largest = 0;
    for h in 0..n_hosts {
        let ty = rng.weighted(&shares);
        largest = largest.max(ty);
        let ty = &HOST_TYPES[ty];
        let idle_w = round_to(rng.uniform(ty.idle_w.0, ty.idle_w.1), 1.0);
        let dynamic_w = ty.cores * w_per_core;
        let limit_fraction = if rng.chance(0.15) { 0.85 } else { 1.0 };
        let capacity: Vec<f64> = (0..n_res)
            .map(|r| match r {
                0 => ty.cores,
                1 => ty.memory_gib,
                _ => ty.generic,
            })
            .collect();
        hosts.push(HostSpec {
            id: format!("h{h:0host_width$}"),
            capacity,
            idle_w,
            target_heat_w: target_heat_w
                .unwrap_or_else(|| round_to(idle_w + TARGET_FRACTION * dynamic_w, 0.01)),
            thermal_limit_w: Some(round_to(idle_w + limit_fraction * dynamic_w, 1.0)),
            power: PowerState::On,
        });
    }
    // No instance is larger than half the largest host's usable capacity, on any resource.
    let cap: Vec<f64> = hosts
        .iter()
        .find(|h| h.capacity[0] == HOST_TYPES[largest].cores)
        .map(|h| h.capacity.iter().map(|c| 0.5 * c * (1.0 - HEADROOM)).collect())
        .unwrap_or_else(|| vec![0.0; n_res]);
    let total_cores: f64 = hosts.iter().map(|h| h.capacity[0]).sum();

    // Instances: sizes first, scaled to the fleet's cpu demand.
    let n = spec.instances;
    let class_weights: Vec<f64> = CPU_CLASSES.iter().map(|c| c.1).collect();
    let memory_weights: Vec<f64> = MEMORY_PER_CORE.iter().map(|c| c.1).collect();
    let raw_cpu: Vec<f64> = (0..n)
        .map(|_| CPU_CLASSES[rng.weighted(&class_weights)].0 * rng.uniform(0.8, 1.25))
        .collect();
    let raw_total: f64 = raw_cpu.iter().sum();
    let scale = if raw_total > 0.0 { demand_fraction * total_cores / raw_total } else { 0.0 };
    let generic_per_core = HOST_TYPES[0].generic / HOST_TYPES[0].cores;
    let inst_width = digits(n);
    let mut instances = Vec::with_capacity(n);
    for (i, raw) in raw_cpu.iter().enumerate() {
        let cpu = round_to(raw * scale, 0.01).clamp(0.01, cap[0]);
        let mut request = vec![cpu];
        let mut memory_gib = 0.0;
        if n_res >= 2 {
            let per_core = MEMORY_PER_CORE[rng.weighted(&memory_weights)].0;
            memory_gib = round_to(cpu * per_core * rng.uniform(0.9, 1.1), 0.1).clamp(0.1, cap[1]);
            request.push(memory_gib);
        }
        for c in cap.iter().skip(2) {
            let units =
                cpu * generic_per_core * rng.uniform(GENERIC_PER_CORE.0, GENERIC_PER_CORE.1);
            request.push(round_to(units, 0.01).clamp(0.0, *c));
        }
        let heat_w = round_to(cpu * w_per_core * rng.uniform(0.8, 1.2), 0.1);
        // Without a memory resource, a migration moves about 4 GiB per core.
        let moved_gib = if n_res >= 2 { memory_gib } else { 4.0 * cpu };
        let memory_mib = round_to(moved_gib * 1024.0 * rng.uniform(0.4, 0.9), 1.0);
        instances.push(InstanceSpec {
            id: format!("i{i:0inst_width$}"),
            request,
            heat_w,
            memory_mib,
            host: None,
            migratable: true,
            anti_affinity: None,
            since_move_s: None,
        });
    }

    // Anti-affinity: about 10 % of instances in groups of 2–3, never more members than hosts.
    let mut group_of: Vec<Option<usize>> = vec![None; n];
    if n_hosts >= 2 && n >= 2 {
        let mut order: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut order);
        let members = ((n as f64 * 0.10).round() as usize).clamp(2, n);
        let max_size = n_hosts.min(3);
        let (mut start, mut n_groups) = (0, 0);
        while members - start >= 2 {
            let left = members - start;
            let size = if left <= max_size {
                left
            } else if left == 4 {
                2
            } else {
                2 + rng.below(max_size - 1)
            };
            let size = size.min(max_size);
            for &i in &order[start..start + size] {
                group_of[i] = Some(n_groups);
            }
            n_groups += 1;
            start += size;
        }
        let width = digits(n_groups);
        for (i, g) in group_of.iter().enumerate() {
            if let Some(g) = g {
                instances[i].anti_affinity = Some(format!("g{g:0width$}"));
            }
        }
    }

    // Current arrangement: largest first, each on a random host where it fits.
    let usable: Vec<Vec<f64>> =
        hosts.iter().map(|h| h.capacity.iter().map(|c| c * (1.0 - HEADROOM)).collect()).collect();
    let mut load = vec![vec![0.0; n_res]; n_hosts];
    let mut heat = vec![0.0; n_hosts];
    let mut groups_on: Vec<Vec<usize>> = vec![Vec::new(); n_hosts];
    let cumulative_cores: Vec<f64> = hosts
        .iter()
        .scan(0.0, |sum, h| {
            *sum += h.capacity[0];
            Some(*sum)
        })
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| instances[b].request[0].total_cmp(&instances[a].request[0]));
    for i in order {
        let inst = &instances[i];
        // A margin of 1e-9 keeps the arrangement feasible whatever order a checker sums in.
        let fits = |h: usize| {
            (0..n_res).all(|r| load[h][r] + inst.request[r] <= usable[h][r] * (1.0 - 1e-9))
                && hosts[h].idle_w + heat[h] + inst.heat_w
                    <= hosts[h].thermal_limit_w.unwrap_or(f64::INFINITY) * (1.0 - 1e-9)
                && match group_of[i] {
                    Some(g) => !groups_on[h].contains(&g),
                    None => true,
                }
        };
        // Two random choices, drawn in proportion to cpu capacity; the less loaded (relative
        // cpu) wins: a spreading scheduler.
        let mut choices = (0..8)
            .map(|_| {
                let x = rng.unit() * total_cores;
                cumulative_cores.partition_point(|&c| c <= x).min(n_hosts - 1)
            })
            .filter(|&h| fits(h));
        let utilization = |h: usize| load[h][0] / usable[h][0].max(f64::MIN_POSITIVE);
        let host = match (choices.next(), choices.next()) {
            (Some(a), Some(b)) if utilization(b) < utilization(a) => Some(b),
            (Some(a), _) => Some(a),
            (None, _) => None,
        };
        let host = host.or_else(|| {
            let offset = rng.below(n_hosts);
            (0..n_hosts).map(|k| (offset + k) % n_hosts).find(|&h| fits(h))
        });
        let Some(h) = host else { continue };
        for (l, q) in load[h].iter_mut().zip(&inst.request) {
            *l += q;
        }
        heat[h] += inst.heat_w;
        if let Some(g) = group_of[i] {
            groups_on[h].push(g);
        }
        instances[i].host = Some(hosts[h].id.clone());
    }
    // Pinning and dwell, in instance order (placed instances only).
    for inst in &mut instances {
        if inst.host.is_some() {
            inst.migratable = !rng.chance(0.05);
            if rng.chance(0.30) {
                inst.since_move_s = Some(round_to(rng.uniform(0.0, 7200.0), 1.0));
            }
        }
    }

    FleetSpec {
        resources,
        hosts,
        instances,
        policy: PolicySpec {
            headroom: vec![HEADROOM; n_res],
            migration_budget: None,
            min_dwell_s: 0.0,
            spare_hosts: 0,
        },
    }
}

/// Decimal digits of the largest index below `n` (at least 1), for zero-padded ids.
fn digits(n: usize) -> usize {
    n.saturating_sub(1).max(1).ilog10() as usize + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Problem;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!("instances=10,hosts=3".parse(), Ok(GenerateSpec::new(10, 3)));
        assert_eq!(
            "seed=7, resources=1,hosts=2 ,instances=0".parse(),
            Ok(GenerateSpec { instances: 0, hosts: 2, resources: 1, seed: 7 })
        );
        let spec = GenerateSpec { instances: 5, hosts: 4, resources: 2, seed: u64::MAX };
        assert_eq!(spec.to_string().parse(), Ok(spec), "Display round-trips");
    }

    #[test]
    fn bad_specs_name_the_key_at_fault() {
        let err = |text: &str| text.parse::<GenerateSpec>().unwrap_err().to_string();
        assert_eq!(
            err("hosts=3"),
            "generate spec: `instances=…` is missing (expected \
             instances=N,hosts=M[,resources=R][,seed=S])"
        );
        assert!(err("instances=3").contains("`hosts=…` is missing"));
        assert_eq!(
            err("instances=3,hosts=0"),
            "generate spec: hosts=0 is too small; it must be at least 1"
        );
        assert!(err("instances=3,hosts=1,resources=0").contains("resources=0 is too small"));
        assert_eq!(err("instances=3,hosts=2,hosts=4"), "generate spec: `hosts` is given twice");
        assert_eq!(
            err("instances=3,hosts=2,cores=4"),
            "generate spec: unknown key `cores`; the keys are instances, hosts, resources and seed"
        );
        assert_eq!(
            err("instances=x,hosts=2"),
            "generate spec: instances=`x` is not a whole number ≥ 0"
        );
        assert!(err("instances=-1,hosts=2").contains("instances=`-1`"));
        assert!(err("instances=+1,hosts=2").contains("instances=`+1`"));
        assert!(err("instances=1,hosts=2,seed=").contains("seed=``"));
        assert!(err("instances=1,hosts=2,seed=99999999999999999999").contains("seed=`9999"));
        assert!(err("instances=1,hosts").contains("`hosts` is not key=value"));
        assert!(err("instances=1,hosts=2,").contains("`` is not key=value"));
        assert!(err("").contains("`` is not key=value"));
        assert!(err("instances=1,hosts=2000000").contains("hosts=2000000 is too large"));
    }

    #[test]
    fn same_spec_same_fleet_and_seeds_differ() {
        let spec: GenerateSpec = "instances=50,hosts=8,seed=3".parse().unwrap();
        assert_eq!(fleet(&spec, None), fleet(&spec, None));
        let other = GenerateSpec { seed: 4, ..spec };
        assert_ne!(fleet(&spec, None), fleet(&other, None));
    }

    #[test]
    fn generated_fleets_always_validate() {
        let mut checked = 0;
        for hosts in [1, 2, 3, 5, 13, 40] {
            for instances in [0, 1, 2, 7, 30, 200] {
                for resources in [1, 2, 4, 6] {
                    for seed in 0..4 {
                        let spec = GenerateSpec { instances, hosts, resources, seed };
                        let fleet = fleet(&spec, None);
                        assert_eq!((fleet.hosts.len(), fleet.instances.len()), (hosts, instances));
                        assert_eq!(fleet.resources.len(), resources);
                        if let Err(err) = Problem::new(&fleet) {
                            panic!("{spec}: {err}");
                        }
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 6 * 6 * 4 * 4);
        let fixed = fleet(&GenerateSpec::new(20, 4), Some(350.0));
        assert!(fixed.hosts.iter().all(|h| h.target_heat_w == 350.0));
        assert!(Problem::new(&fixed).is_ok());
    }

    #[test]
    fn a_generated_fleet_has_the_documented_shape() {
        let spec = GenerateSpec { instances: 2000, hosts: 200, resources: 4, seed: 11 };
        let fleet = fleet(&spec, None);
        let problem = Problem::new(&fleet).unwrap();
        assert_eq!(fleet.resources, ["cpu", "memory_gib", "res2", "res3"]);
        let capacity: f64 = fleet.hosts.iter().map(|h| h.capacity[0]).sum();
        let demand: f64 = fleet.instances.iter().map(|i| i.request[0]).sum();
        assert!((0.45..=0.62).contains(&(demand / capacity)), "cpu demand {demand} of {capacity}");
        assert!(fleet.hosts.iter().all(|h| (60.0..=120.0).contains(&h.idle_w)));
        assert!(fleet
            .hosts
            .iter()
            .all(|h| h.target_heat_w > h.idle_w && h.target_heat_w < h.thermal_limit_w.unwrap()));
        let placed = problem.current.iter().filter(|c| c.is_some()).count();
        assert_eq!(placed, 2000, "every instance starts somewhere at this demand");
        let pinned = problem.movable.iter().filter(|m| !**m).count();
        assert!((40..=160).contains(&pinned), "{pinned} pinned");
        let grouped = problem.group.iter().filter(|g| g.is_some()).count();
        assert_eq!(grouped, 200);
        assert!(fleet.instances.iter().filter(|i| i.since_move_s.is_some()).count() > 400);
        // Skewed sizes: the median is well below the mean.
        let mut cpu: Vec<f64> = fleet.instances.iter().map(|i| i.request[0]).collect();
        cpu.sort_by(f64::total_cmp);
        assert!(cpu[1000] < 0.8 * demand / 2000.0, "median {} mean {}", cpu[1000], demand / 2000.0);
        // The current arrangement is spread: no host starts at its target.
        let mut heat = problem.idle_w.clone();
        for (i, h) in problem.current.iter().enumerate() {
            heat[h.unwrap()] += problem.heat_w[i];
        }
        let covered = (0..problem.n_hosts()).filter(|&h| heat[h] >= problem.target_w[h]).count();
        assert!(covered < 200 / 10, "{covered} hosts start covered");
    }
}
