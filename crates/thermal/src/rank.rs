//! The ranking service (seed 002): the cost of powering a host down as a weighted sum of
//! parameters, `cost = Σ rankingweight_i · param_i`, every term kept so a decision can show it.
//!
//! The parameters of a host, over the instances on it (for the power-up ranking of a host that
//! is off: over the instances the guard stopped there), all of which raise the cost:
//! - `instances`: how many;
//! - `uptime`: the sum of their uptimes (long-running work is dearer to interrupt);
//! - `kind`: the sum of their type weights (`kinds` in the policy);
//! - `cpu`: the host's processor use (for a host that is off: its use when it was shed);
//! - `unprotected`: how many have no redundant or failover peer (same `group`) running on
//!   another host that is on and not being shed; a peer elsewhere lowers the cost;
//! - `customer_rank`: the sum of `1 / (1 + customer_rank)` (rank 0, the customer's most
//!   important instance, counts 1);
//! - `customer_importance`: the sum of the customers' importance.
//!
//! **Normalization**: each parameter is divided by its largest value among the hosts ranked
//! together (0 stays 0), so every normalized parameter lies in [0, 1] and the weights say how the
//! terms trade against each other, and against the benefit terms (also in [0, 1]).
//!
//! Management hosts are not ranked by a weight: they go last as a hard rule, which the chooser
//! and the orderings below enforce (`management` is carried on every cost).

use crate::policy::{Kinds, Weights};
use crate::view::{Observation, PowerState};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeSet;

/// The raw parameters of one host.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HostFacts {
    /// Host index.
    pub host: usize,
    /// Host id.
    pub host_id: String,
    /// The host runs management services.
    pub management: bool,
    /// Number of instances.
    pub instances: f64,
    /// Sum of uptimes, s.
    pub uptime_s: f64,
    /// Sum of type weights.
    pub kind: f64,
    /// Processor use in [0, 1].
    pub cpu_use: f64,
    /// Instances without a running peer elsewhere.
    pub unprotected: f64,
    /// Sum of `1 / (1 + customer_rank)`.
    pub customer_rank: f64,
    /// Sum of customer importance.
    pub customer_importance: f64,
}

/// Whether instance `instance` has a peer of its group running on a host other than `host`
/// that is on and not in `leaving` (hosts being shed).
pub fn has_peer_elsewhere(
    obs: &Observation,
    instance: usize,
    host: usize,
    leaving: &BTreeSet<usize>,
) -> bool {
    let Some(group) = obs.instances[instance].group.as_deref() else { return false };
    obs.instances.iter().enumerate().any(|(idx, other)| {
        idx != instance
            && other.group.as_deref() == Some(group)
            && other.host.is_some_and(|h| {
                h != host && !leaving.contains(&h) && obs.hosts[h].power == PowerState::On
            })
    })
}

/// The facts of host `host` over the instances `instances` (indices into `obs.instances`),
/// with processor use `cpu_use`.
pub fn host_facts(
    obs: &Observation,
    host: usize,
    instances: &[usize],
    cpu_use: f64,
    kinds: &Kinds,
    leaving: &BTreeSet<usize>,
) -> HostFacts {
    let h = &obs.hosts[host];
    let mut facts = HostFacts {
        host,
        host_id: h.id.clone(),
        management: h.management,
        instances: instances.len() as f64,
        uptime_s: 0.0,
        kind: 0.0,
        cpu_use,
        unprotected: 0.0,
        customer_rank: 0.0,
        customer_importance: 0.0,
    };
    for &idx in instances {
        let inst = &obs.instances[idx];
        facts.uptime_s += inst.uptime_s;
        facts.kind += kinds.weight(&inst.kind);
        if !has_peer_elsewhere(obs, idx, host, leaving) {
            facts.unprotected += 1.0;
        }
        facts.customer_rank += 1.0 / (1.0 + f64::from(inst.customer_rank));
        facts.customer_importance += inst.customer_importance;
    }
    facts
}

/// The instances currently on host `host`.
pub fn instances_on(obs: &Observation, host: usize) -> Vec<usize> {
    (0..obs.instances.len()).filter(|&idx| obs.instances[idx].host == Some(host)).collect()
}

/// One term of a weighted sum.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Term {
    /// Parameter name (the policy key of its weight); one of [`TERM_NAMES`].
    pub name: &'static str,
    /// Raw value.
    pub raw: f64,
    /// Raw value divided by the largest among the hosts ranked together.
    pub normalized: f64,
    /// Weight from the policy.
    pub weight: f64,
    /// `weight · normalized`.
    pub weighted: f64,
}

/// Every name a [`Term`] carries: the ranking's parameters, then the benefit's
/// ([`crate::benefit`]).
pub const TERM_NAMES: [&str; 9] = [
    "instances",
    "uptime",
    "kind",
    "cpu",
    "unprotected",
    "customer_rank",
    "customer_importance",
    "heat",
    "location",
];

/// A [`Term`] as read back: its name becomes the `&'static str` of [`TERM_NAMES`] it spells.
#[derive(Deserialize)]
struct TermData {
    name: String,
    #[serde(deserialize_with = "crate::float::lenient")]
    raw: f64,
    #[serde(deserialize_with = "crate::float::lenient")]
    normalized: f64,
    #[serde(deserialize_with = "crate::float::lenient")]
    weight: f64,
    #[serde(deserialize_with = "crate::float::lenient")]
    weighted: f64,
}

impl<'de> Deserialize<'de> for Term {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Term, D::Error> {
        let t = TermData::deserialize(d)?;
        let Some(name) = TERM_NAMES.into_iter().find(|n| *n == t.name) else {
            return Err(serde::de::Error::custom(format!(
                "unknown term name `{}`; expected one of {}",
                t.name,
                TERM_NAMES.join(", ")
            )));
        };
        let TermData { raw, normalized, weight, weighted, .. } = t;
        Ok(Term { name, raw, normalized, weight, weighted })
    }
}

/// A host's cost with its terms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostCost {
    /// Host index.
    pub host: usize,
    /// Host id.
    pub host_id: String,
    /// Management host (ordered last for power-down, first for power-up, whatever the cost).
    pub management: bool,
    /// The terms, in the policy's order.
    pub terms: Vec<Term>,
    /// Sum of the weighted terms.
    #[serde(deserialize_with = "crate::float::lenient")]
    pub total: f64,
}

impl HostCost {
    /// The term named `name`.
    pub fn term(&self, name: &str) -> Option<&Term> {
        self.terms.iter().find(|t| t.name == name)
    }
}

fn params(f: &HostFacts) -> [(&'static str, f64); 7] {
    [
        ("instances", f.instances),
        ("uptime", f.uptime_s),
        ("kind", f.kind),
        ("cpu", f.cpu_use),
        ("unprotected", f.unprotected),
        ("customer_rank", f.customer_rank),
        ("customer_importance", f.customer_importance),
    ]
}

fn weight_of(w: &Weights, name: &str) -> f64 {
    match name {
        "instances" => w.instances,
        "uptime" => w.uptime,
        "kind" => w.kind,
        "cpu" => w.cpu,
        "unprotected" => w.unprotected,
        "customer_rank" => w.customer_rank,
        _ => w.customer_importance,
    }
}

/// Costs of `facts` ranked together under `weights`, in the same order.
pub fn rank(facts: &[HostFacts], weights: &Weights) -> Vec<HostCost> {
    let mut max = [0.0f64; 7];
    for f in facts {
        for (slot, (_, value)) in max.iter_mut().zip(params(f)) {
            *slot = slot.max(value);
        }
    }
    facts
        .iter()
        .map(|f| {
            let terms: Vec<Term> = params(f)
                .into_iter()
                .zip(max)
                .map(|((name, raw), max)| {
                    let normalized = if max > 0.0 { raw / max } else { 0.0 };
                    let weight = weight_of(weights, name);
                    Term { name, raw, normalized, weight, weighted: weight * normalized }
                })
                .collect();
            let total = terms.iter().map(|t| t.weighted).sum();
            HostCost {
                host: f.host,
                host_id: f.host_id.clone(),
                management: f.management,
                terms,
                total,
            }
        })
        .collect()
}

/// Power-down priority: non-management before management, then ascending `key`, then host
/// index. `key` is the cost, or the cost-benefit.
pub fn powerdown_order<T>(items: &mut [T], key: impl Fn(&T) -> (bool, f64, usize)) {
    items.sort_by(|a, b| {
        let (ma, ka, ha) = key(a);
        let (mb, kb, hb) = key(b);
        ma.cmp(&mb).then(ka.total_cmp(&kb)).then(ha.cmp(&hb))
    });
}

/// Power-up priority: management first, then descending power-up score, then host index.
pub fn powerup_order(costs: &mut [HostCost]) {
    costs.sort_by(|a, b| {
        b.management.cmp(&a.management).then(b.total.total_cmp(&a.total)).then(a.host.cmp(&b.host))
    });
}
