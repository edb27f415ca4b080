//! The benefit of powering a host down (seed 002: "benefit parameters indicating heat generated
//! by different host server computers, location of the host server computers"), and the seed's
//! cost–benefit: `cost_benefit = Σ rankingweight_i·param_i − Σ benefitweight_j·param_j`.
//!
//! Terms, each normalized to [0, 1] like the cost terms:
//! - `heat`: the heat relief for the event zone (the host's power, times the projection's
//!   `neighbour_share` for a host of a neighbouring zone), divided by the largest among the
//!   hosts weighed together;
//! - `location`: 1 in the event zone, `benefit.neighbour_location` in a neighbouring zone, 0
//!   elsewhere.
//!
//! A lower cost–benefit is shed earlier.

use crate::policy::BenefitWeights;
use crate::rank::{HostCost, Term};
use crate::view::Observation;
use serde::{Deserialize, Serialize};

/// Where a host sits relative to the event zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// In the event zone.
    SameZone,
    /// In a zone that neighbours it.
    Neighbour,
    /// Anywhere else.
    Elsewhere,
}

/// Location of host `host` relative to zone `event_zone`.
pub fn location(obs: &Observation, host: usize, event_zone: usize) -> Location {
    let zone = obs.hosts[host].zone;
    if zone == event_zone {
        Location::SameZone
    } else if obs.zones[event_zone].neighbours.contains(&zone)
        || obs.zones[zone].neighbours.contains(&event_zone)
    {
        Location::Neighbour
    } else {
        Location::Elsewhere
    }
}

/// The heat-relief share of a location: 1, `neighbour_share`, 0.
pub fn relief_share(location: Location, neighbour_share: f64) -> f64 {
    match location {
        Location::SameZone => 1.0,
        Location::Neighbour => neighbour_share,
        Location::Elsewhere => 0.0,
    }
}

/// One host's benefit inputs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BenefitInput {
    /// Host index.
    pub host: usize,
    /// Heat relief for the event zone, W.
    pub relief_w: f64,
    /// Location.
    pub location: Location,
}

/// A host's benefit with its terms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Benefit {
    /// Host index.
    pub host: usize,
    /// The terms (`heat`, `location`).
    pub terms: Vec<Term>,
    /// Sum of the weighted terms.
    #[serde(deserialize_with = "crate::float::lenient")]
    pub total: f64,
}

/// Benefits of `inputs` weighed together, in the same order.
pub fn benefits(inputs: &[BenefitInput], w: &BenefitWeights) -> Vec<Benefit> {
    let max_relief = inputs.iter().map(|i| i.relief_w).fold(0.0, f64::max);
    inputs
        .iter()
        .map(|i| {
            let heat_n = if max_relief > 0.0 { i.relief_w / max_relief } else { 0.0 };
            let loc = match i.location {
                Location::SameZone => 1.0,
                Location::Neighbour => w.neighbour_location,
                Location::Elsewhere => 0.0,
            };
            let terms = vec![
                Term {
                    name: "heat",
                    raw: i.relief_w,
                    normalized: heat_n,
                    weight: w.heat,
                    weighted: w.heat * heat_n,
                },
                Term {
                    name: "location",
                    raw: loc,
                    normalized: loc,
                    weight: w.location,
                    weighted: w.location * loc,
                },
            ];
            let total = terms.iter().map(|t| t.weighted).sum();
            Benefit { host: i.host, terms, total }
        })
        .collect()
}

/// The seed's cost–benefit: cost minus benefit (lower is shed first).
pub fn cost_benefit(cost: &HostCost, benefit: &Benefit) -> f64 {
    cost.total - benefit.total
}
