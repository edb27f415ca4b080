//! The guard's policy: thresholds, ranking, power-up and benefit weights, the projection's
//! margins and the sequencer's timings (the seed's "policy store" content). Parsed with serde
//! (`deny_unknown_fields`, every key optional with the default documented on its field and in
//! docs/thermal.md) and checked by [`Policy::validate`], whose errors name the key.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Zone air thresholds, °C (seed 002, process blocks "detect" and "power up"): an event starts at
/// `detect_c`, ends below `clear_c`, and power-up proceeds only while the air is under
/// `powerup_c`. Valid when `clear_c < powerup_c <= detect_c`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// T_detect: an event starts when the air reaches it. Default 32.
    pub detect_c: f64,
    /// T_clear: the event has passed once the air is below it. Default 27.
    pub clear_c: f64,
    /// T_powerup: hosts are powered back up only while the air is below it. Default 29.
    pub powerup_c: f64,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds { detect_c: 32.0, clear_c: 27.0, powerup_c: 29.0 }
    }
}

/// A per-zone override of [`Thresholds`]; a missing key keeps the default's value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdsOverride {
    /// Overrides `detect_c`.
    pub detect_c: Option<f64>,
    /// Overrides `clear_c`.
    pub clear_c: Option<f64>,
    /// Overrides `powerup_c`.
    pub powerup_c: Option<f64>,
}

/// Host (hardware) thresholds, expressed as °C below each host's own `limit_c` (the
/// manufacturer's maximum): a host event starts at `limit_c - detect_below_limit_c`, ends below
/// `limit_c - clear_below_limit_c`, and a host takes migrated instances only while under
/// `limit_c - powerup_below_limit_c`. Valid when `0 <= detect <= powerup < clear`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostThresholds {
    /// Default 5.
    pub detect_below_limit_c: f64,
    /// Default 15.
    pub clear_below_limit_c: f64,
    /// Default 10.
    pub powerup_below_limit_c: f64,
}

impl Default for HostThresholds {
    fn default() -> HostThresholds {
        HostThresholds {
            detect_below_limit_c: 5.0,
            clear_below_limit_c: 15.0,
            powerup_below_limit_c: 10.0,
        }
    }
}

impl HostThresholds {
    /// The absolute thresholds for a host whose limit is `limit_c`.
    pub fn for_limit(&self, limit_c: f64) -> Thresholds {
        Thresholds {
            detect_c: limit_c - self.detect_below_limit_c,
            clear_c: limit_c - self.clear_below_limit_c,
            powerup_c: limit_c - self.powerup_below_limit_c,
        }
    }
}

/// Weights of the ranking terms (seed 002: "rankingweight_i"). The same shape serves the
/// power-down ranking (`ranking`) and the power-up ranking (`powerup`). All ≥ 0.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    /// Number of instances on the host.
    pub instances: f64,
    /// Sum of the instances' uptimes.
    pub uptime: f64,
    /// Sum of the instances' type weights (`kinds`).
    pub kind: f64,
    /// The host's processor use.
    pub cpu: f64,
    /// Instances with no running redundant or failover peer on another host.
    pub unprotected: f64,
    /// Sum over instances of `1 / (1 + customer_rank)` (the customer's own ranking).
    pub customer_rank: f64,
    /// Sum of the instances' customer importance.
    pub customer_importance: f64,
}

impl Weights {
    /// The power-down ranking's defaults: 1 for every term but uptime (0.5).
    pub fn ranking_default() -> Weights {
        Weights {
            instances: 1.0,
            uptime: 0.5,
            kind: 1.0,
            cpu: 1.0,
            unprotected: 1.0,
            customer_rank: 1.0,
            customer_importance: 1.0,
        }
    }

    /// The power-up ranking's defaults: what matters most to customers comes back first
    /// (importance 2, type, rank, unprotected and count 1; uptime and processor use 0).
    pub fn powerup_default() -> Weights {
        Weights {
            instances: 1.0,
            uptime: 0.0,
            kind: 1.0,
            cpu: 0.0,
            unprotected: 1.0,
            customer_rank: 1.0,
            customer_importance: 2.0,
        }
    }

    fn named(&self) -> [(&'static str, f64); 7] {
        [
            ("instances", self.instances),
            ("uptime", self.uptime),
            ("kind", self.kind),
            ("cpu", self.cpu),
            ("unprotected", self.unprotected),
            ("customer_rank", self.customer_rank),
            ("customer_importance", self.customer_importance),
        ]
    }
}

impl Default for Weights {
    fn default() -> Weights {
        Weights::ranking_default()
    }
}

/// Power-up weights, with their own defaults ([`Weights::powerup_default`]) for missing keys.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "RawWeights")]
pub struct PowerupWeights(pub Weights);

/// `[powerup]` as written: missing keys take the power-up defaults, not the ranking's.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWeights {
    instances: Option<f64>,
    uptime: Option<f64>,
    kind: Option<f64>,
    cpu: Option<f64>,
    unprotected: Option<f64>,
    customer_rank: Option<f64>,
    customer_importance: Option<f64>,
}

impl From<RawWeights> for PowerupWeights {
    fn from(raw: RawWeights) -> PowerupWeights {
        let d = Weights::powerup_default();
        PowerupWeights(Weights {
            instances: raw.instances.unwrap_or(d.instances),
            uptime: raw.uptime.unwrap_or(d.uptime),
            kind: raw.kind.unwrap_or(d.kind),
            cpu: raw.cpu.unwrap_or(d.cpu),
            unprotected: raw.unprotected.unwrap_or(d.unprotected),
            customer_rank: raw.customer_rank.unwrap_or(d.customer_rank),
            customer_importance: raw.customer_importance.unwrap_or(d.customer_importance),
        })
    }
}

impl Default for PowerupWeights {
    fn default() -> PowerupWeights {
        PowerupWeights(Weights::powerup_default())
    }
}

/// Instance type weights: how dear an instance of each type is to stop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Kinds {
    /// Weight of a type not listed in `weights`. Default 1.
    pub default: f64,
    /// Weight per type name. Default empty.
    pub weights: BTreeMap<String, f64>,
}

impl Default for Kinds {
    fn default() -> Kinds {
        Kinds { default: 1.0, weights: BTreeMap::new() }
    }
}

impl Kinds {
    /// The weight of type `kind`.
    pub fn weight(&self, kind: &str) -> f64 {
        self.weights.get(kind).copied().unwrap_or(self.default)
    }
}

/// Benefit weights (seed 002: "benefitweight_j") and the location values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BenefitWeights {
    /// Weight of the heat term. Default 1.
    pub heat: f64,
    /// Weight of the location term. Default 0.5.
    pub location: f64,
    /// Location value of a host in a zone neighbouring the event (same zone 1, elsewhere 0).
    /// Default 0.5.
    pub neighbour_location: f64,
}

impl Default for BenefitWeights {
    fn default() -> BenefitWeights {
        BenefitWeights { heat: 1.0, location: 0.5, neighbour_location: 0.5 }
    }
}

/// The heat-budget projection's parameters (see [`crate::project`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectionParams {
    /// Spare fraction of the available cooling kept in every case. Default 0.1.
    pub margin: f64,
    /// Further spare fraction asked at the zone's limit (scaled by how far the air is between
    /// T_clear and the limit), so a hot zone cools down rather than holding. Default 0.2.
    pub recovery: f64,
    /// Share of a neighbouring zone's host heat that counts as relief for the event zone; 0
    /// keeps shedding inside the event zone. Default 0.25.
    pub neighbour_share: f64,
    /// Heat quantum of the exact chooser, W. Default 10.
    pub heat_quantum_w: f64,
    /// Most heat quanta the chooser's table may have; a larger requirement coarsens the
    /// quantum to `required / max_units`. Default 20000.
    pub max_units: usize,
}

impl Default for ProjectionParams {
    fn default() -> ProjectionParams {
        ProjectionParams {
            margin: 0.1,
            recovery: 0.2,
            neighbour_share: 0.25,
            heat_quantum_w: 10.0,
            max_units: 20_000,
        }
    }
}

/// The whole policy. Every key is optional; docs/thermal.md lists them with their defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Default zone thresholds.
    pub zone: Thresholds,
    /// Per-zone overrides keyed by zone id.
    pub zones: BTreeMap<String, ThresholdsOverride>,
    /// Host (hardware) thresholds.
    pub host: HostThresholds,
    /// Estimated zone air = hottest host's internal temperature minus this, °C, when a zone's
    /// air sensor is missing. Default 15.
    pub host_air_offset_c: f64,
    /// Power-down ranking weights.
    pub ranking: Weights,
    /// Power-up ranking weights.
    pub powerup: PowerupWeights,
    /// Instance type weights (both rankings).
    pub kinds: Kinds,
    /// Benefit weights.
    pub benefit: BenefitWeights,
    /// Projection parameters.
    pub projection: ProjectionParams,
    /// Wait after each power-down or power-up step before re-reading temperatures, s.
    /// Default 120.
    pub settle_s: f64,
    /// After this long draining a host, what is still on it is stopped, s. Default 300.
    pub migration_timeout_s: f64,
    /// An action not seen to complete within this long is considered lost and may be issued
    /// again, s. Default 600.
    pub action_timeout_s: f64,
    /// Most power changes (on and off) under way at once, all zones together. Default 2.
    pub max_parallel_power_ops: usize,
    /// Hosts powered up per recovery step. Default 1.
    pub powerup_batch: usize,
    /// When the projection asks for nothing but the air is still over T_clear after a settle
    /// time, the guard sheds one more host unless the air fell at least this much, °C.
    /// Default 0.2.
    pub min_progress_c: f64,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            zone: Thresholds::default(),
            zones: BTreeMap::new(),
            host: HostThresholds::default(),
            host_air_offset_c: 15.0,
            ranking: Weights::ranking_default(),
            powerup: PowerupWeights::default(),
            kinds: Kinds::default(),
            benefit: BenefitWeights::default(),
            projection: ProjectionParams::default(),
            settle_s: 120.0,
            migration_timeout_s: 300.0,
            action_timeout_s: 600.0,
            max_parallel_power_ops: 2,
            powerup_batch: 1,
            min_progress_c: 0.2,
        }
    }
}

/// A policy value out of range; `key` is the dotted path of the offending key.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("policy key `{key}`: {problem}")]
pub struct PolicyError {
    /// Dotted key, e.g. `zones."room1/z2".clear_c`.
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

impl PolicyError {
    fn new(key: impl Into<String>, problem: impl Into<String>) -> PolicyError {
        PolicyError { key: key.into(), problem: problem.into() }
    }
}

fn finite(key: &str, value: f64) -> Result<f64, PolicyError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(PolicyError::new(key, format!("must be a finite number, got {value}")))
    }
}

fn non_negative(key: &str, value: f64) -> Result<f64, PolicyError> {
    if finite(key, value)? < 0.0 {
        return Err(PolicyError::new(key, format!("must be ≥ 0, got {value}")));
    }
    Ok(value)
}

fn positive(key: &str, value: f64) -> Result<f64, PolicyError> {
    if finite(key, value)? <= 0.0 {
        return Err(PolicyError::new(key, format!("must be > 0, got {value}")));
    }
    Ok(value)
}

fn check_thresholds(prefix: &str, t: &Thresholds) -> Result<(), PolicyError> {
    finite(&format!("{prefix}.detect_c"), t.detect_c)?;
    finite(&format!("{prefix}.clear_c"), t.clear_c)?;
    finite(&format!("{prefix}.powerup_c"), t.powerup_c)?;
    if t.clear_c >= t.powerup_c {
        return Err(PolicyError::new(
            format!("{prefix}.clear_c"),
            format!("must be below powerup_c ({} ≥ {})", t.clear_c, t.powerup_c),
        ));
    }
    if t.powerup_c > t.detect_c {
        return Err(PolicyError::new(
            format!("{prefix}.powerup_c"),
            format!("must not exceed detect_c ({} > {})", t.powerup_c, t.detect_c),
        ));
    }
    Ok(())
}

impl Policy {
    /// The thresholds of zone `zone_id`: the default merged with its override, if any.
    pub fn zone_thresholds(&self, zone_id: &str) -> Thresholds {
        let mut t = self.zone;
        if let Some(o) = self.zones.get(zone_id) {
            t.detect_c = o.detect_c.unwrap_or(t.detect_c);
            t.clear_c = o.clear_c.unwrap_or(t.clear_c);
            t.powerup_c = o.powerup_c.unwrap_or(t.powerup_c);
        }
        t
    }

    /// Checks every value; the error names the first offending key.
    pub fn validate(&self) -> Result<(), PolicyError> {
        check_thresholds("zone", &self.zone)?;
        for zone_id in self.zones.keys() {
            check_thresholds(&format!("zones.{zone_id:?}"), &self.zone_thresholds(zone_id))?;
        }
        let h = &self.host;
        non_negative("host.detect_below_limit_c", h.detect_below_limit_c)?;
        finite("host.clear_below_limit_c", h.clear_below_limit_c)?;
        finite("host.powerup_below_limit_c", h.powerup_below_limit_c)?;
        if h.powerup_below_limit_c < h.detect_below_limit_c {
            return Err(PolicyError::new(
                "host.powerup_below_limit_c",
                "must be ≥ detect_below_limit_c (the power-up threshold sits below detection)",
            ));
        }
        if h.clear_below_limit_c <= h.powerup_below_limit_c {
            return Err(PolicyError::new(
                "host.clear_below_limit_c",
                "must be > powerup_below_limit_c (clearing sits below the power-up threshold)",
            ));
        }
        finite("host_air_offset_c", self.host_air_offset_c)?;
        for (name, w) in self.ranking.named() {
            non_negative(&format!("ranking.{name}"), w)?;
        }
        for (name, w) in self.powerup.0.named() {
            non_negative(&format!("powerup.{name}"), w)?;
        }
        non_negative("kinds.default", self.kinds.default)?;
        for (kind, w) in &self.kinds.weights {
            non_negative(&format!("kinds.weights.{kind:?}"), *w)?;
        }
        non_negative("benefit.heat", self.benefit.heat)?;
        non_negative("benefit.location", self.benefit.location)?;
        let nl = non_negative("benefit.neighbour_location", self.benefit.neighbour_location)?;
        if nl > 1.0 {
            return Err(PolicyError::new(
                "benefit.neighbour_location",
                "must be ≤ 1 (same zone is 1)",
            ));
        }
        let p = &self.projection;
        let margin = non_negative("projection.margin", p.margin)?;
        non_negative("projection.recovery", p.recovery)?;
        if margin >= 1.0 {
            return Err(PolicyError::new("projection.margin", "must be < 1"));
        }
        let share = non_negative("projection.neighbour_share", p.neighbour_share)?;
        if share > 1.0 {
            return Err(PolicyError::new("projection.neighbour_share", "must be ≤ 1"));
        }
        positive("projection.heat_quantum_w", p.heat_quantum_w)?;
        if p.max_units == 0 || p.max_units > 1_000_000 {
            return Err(PolicyError::new("projection.max_units", "must be in 1..=1000000"));
        }
        non_negative("settle_s", self.settle_s)?;
        non_negative("migration_timeout_s", self.migration_timeout_s)?;
        positive("action_timeout_s", self.action_timeout_s)?;
        if self.max_parallel_power_ops == 0 {
            return Err(PolicyError::new("max_parallel_power_ops", "must be ≥ 1"));
        }
        if self.powerup_batch == 0 {
            return Err(PolicyError::new("powerup_batch", "must be ≥ 1"));
        }
        non_negative("min_progress_c", self.min_progress_c)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Policy::default().validate(), Ok(()));
    }

    #[test]
    fn errors_name_the_key() {
        let mut p = Policy::default();
        p.zones.insert(
            "room1/z2".into(),
            ThresholdsOverride { clear_c: Some(31.0), ..ThresholdsOverride::default() },
        );
        let err = p.validate().unwrap_err();
        assert_eq!(err.key, "zones.\"room1/z2\".clear_c");
        let mut p = Policy::default();
        p.ranking.cpu = -1.0;
        assert_eq!(p.validate().unwrap_err().key, "ranking.cpu");
        let p = Policy { max_parallel_power_ops: 0, ..Policy::default() };
        assert_eq!(p.validate().unwrap_err().key, "max_parallel_power_ops");
        let p = Policy { settle_s: f64::NAN, ..Policy::default() };
        assert_eq!(p.validate().unwrap_err().key, "settle_s");
    }

    #[test]
    fn zone_override_merges_with_default() {
        let mut p = Policy::default();
        p.zones.insert(
            "z".into(),
            ThresholdsOverride { detect_c: Some(40.0), ..ThresholdsOverride::default() },
        );
        let t = p.zone_thresholds("z");
        assert_eq!((t.detect_c, t.clear_c, t.powerup_c), (40.0, 27.0, 29.0));
        assert_eq!(p.zone_thresholds("other"), Thresholds::default());
    }
}
