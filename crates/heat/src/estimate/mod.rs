//! Heat-rate estimation (seed 000, "estimating a heat rate"; issue 3): the electrical power an
//! instance makes its host draw, all of which ends as heat, from four sources behind one
//! interface, with the source of every estimate recorded.
//!
//! The four sources of seed 000, and where they live:
//!
//! 1. **history** ([`predict`]): the next interval's CPU utilization predicted from past samples,
//!    by an exponentially weighted moving average ([`Ewma`]), a high quantile ([`Quantile`]) or a
//!    local-regression forecast like Beloglazov & Buyya's LR ([`Regression`]);
//! 2. **live** ([`Live`]): the latest measured utilization, and the host's measured power when the
//!    host reports one;
//! 3. **model** ([`model`]): the host's power curve applied to the predicted utilization, with the
//!    idle and dynamic parts split explicitly. Every utilization above goes through it; as a rung
//!    of its own ([`Nominal`]) it applies the curve to an assumed utilization when an instance has
//!    no telemetry at all;
//! 4. **simulation** ([`rollout`]): a pure mini-rollout of one host over a short horizon for a
//!    candidate set of instances, behind the [`Rollout`] trait so a fuller twin can plug in.
//!
//! A [`Ladder`] tries predictors in order and returns the first that has data as an
//! [`Estimate`] whose `skipped` list names every rung it passed and why ([`Missing`]): missing
//! telemetry is visible, never a silent zero, and when no rung has data the answer is an error.
//! [`ErrorStats`] scores estimators against the next interval's true heat (MAPE, bias, MAE).
//!
//! # Attribution rule
//!
//! A host draws P(U) watts at CPU utilization U (its [`PowerCurve`](::model::PowerCurve)).
//! Its **idle power** P(0) belongs to the host: it is the price of being on, and it is charged
//! to no instance (an empty powered host is pure waste, never harvest; see `fleet`'s heat
//! model). Its **dynamic power** P(U) − P(0), with U = (Σ CPU use of its instances, MIPS) /
//! (host capacity, MIPS) capped at 1, is split among the instances in proportion to their CPU
//! use (MIPS), so the instances' shares sum to the host's dynamic power exactly (up to
//! floating-point rounding). For one instance seen from the host's side ([`HostContext`]):
//!
//! ```text
//! U      = min(1, (others_mips + own_mips) / capacity_mips)
//! heat_w = (P(U) − P(0)) · own_mips / (others_mips + own_mips)
//! ```
//!
//! and 0 W when nothing uses the CPU. When the host is oversubscribed every instance is scaled by
//! the same factor (time-shared, as CloudSim does), which leaves the proportions unchanged. When
//! the host's measured power is known, the live source attributes (measured − P(0)), floored at
//! 0 W, by the same share instead of the curve's dynamic power.
//!
//! Read in this order: [`telemetry`] (inputs, validated once), [`predict`], [`model`],
//! [`ladder`], [`rollout`], [`accuracy`].

pub mod accuracy;
pub mod ladder;
pub mod model;
pub mod predict;
pub mod rollout;
pub mod telemetry;

pub use accuracy::{ErrorStats, ErrorSummary};
pub use ladder::{EstimateError, Ladder};
pub use model::{split_host, split_measured, HostSplit};
pub use predict::{ConfigError, Ewma, Live, Nominal, Prediction, Predictor, Quantile, Regression};
pub use rollout::{rollout_host, Rollout, RolloutError};
pub use telemetry::{Field, HostContext, InputError, InstanceTelemetry, ValidHost, ValidTelemetry};

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where an estimate came from: one of seed 000's four sources, the history one in three
/// flavours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// History: exponentially weighted moving average of past utilization ([`Ewma`]).
    Ewma,
    /// History: a high quantile of recent utilization ([`Quantile`]).
    Quantile,
    /// History: least-squares forecast of the next interval ([`Regression`]).
    Regression,
    /// Live: the latest measured utilization, and measured host power when known ([`Live`]).
    Live,
    /// Model: the power curve at an assumed utilization, without telemetry ([`Nominal`]).
    Model,
    /// Simulation: a rollout of the host over a short horizon ([`rollout_host`]).
    Simulation,
}

impl Source {
    /// Every source, in declaration order.
    pub const ALL: [Source; 6] = [
        Source::Ewma,
        Source::Quantile,
        Source::Regression,
        Source::Live,
        Source::Model,
        Source::Simulation,
    ];

    /// The snake_case name used in reports, configuration and serialized estimates.
    pub fn name(self) -> &'static str {
        match self {
            Source::Ewma => "ewma",
            Source::Quantile => "quantile",
            Source::Regression => "regression",
            Source::Live => "live",
            Source::Model => "model",
            Source::Simulation => "simulation",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a predictor had no answer for an instance: the data it needs and did not get.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Missing {
    /// The history holds fewer samples than the predictor needs.
    #[error("{have} history samples, needs {need}")]
    TooFewSamples {
        /// Samples in the history.
        have: usize,
        /// Samples the predictor needs.
        need: usize,
    },
    /// No live utilization sample was reported.
    #[error("no live utilization sample")]
    NoLiveSample,
}

/// One instance's estimated heat rate, with where it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Heat rate (W): the dynamic power the instance makes its host draw (attribution rule in the
    /// module docs). Never negative.
    pub heat_w: f64,
    /// Predicted CPU utilization, as a fraction of the instance's own capacity, in [0, 1].
    pub utilization: f64,
    /// The source that answered.
    pub source: Source,
    /// The sources tried before it, in order, each with why it had no answer.
    pub skipped: Vec<(Source, Missing)>,
}

/// "regression: 3 history samples, needs 10; live: no live utilization sample".
fn describe_skipped(skipped: &[(Source, Missing)]) -> String {
    let parts: Vec<String> =
        skipped.iter().map(|(source, missing)| format!("{source}: {missing}")).collect();
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names_are_snake_case_and_distinct() {
        let names: Vec<&str> = Source::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(names, ["ewma", "quantile", "regression", "live", "model", "simulation"]);
        assert_eq!(Source::Regression.to_string(), "regression");
    }

    #[test]
    fn skipped_rungs_read_as_a_sentence() {
        let skipped = [
            (Source::Regression, Missing::TooFewSamples { have: 3, need: 10 }),
            (Source::Live, Missing::NoLiveSample),
        ];
        assert_eq!(
            describe_skipped(&skipped),
            "regression: 3 history samples, needs 10; live: no live utilization sample"
        );
    }
}
