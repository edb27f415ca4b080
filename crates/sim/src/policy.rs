//! The consolidation policies the twin can run, named as on the command line: the baselines of
//! Beloglazov & Buyya 2012 (`npa`, `dvfs`, and overload detection `thr`, `iqr`, `mad`, `lr`,
//! `lrr`, each with minimum-migration-time VM selection `mmt`), and hearth's own `heat-max`,
//! which runs the heat crate's arrangement planner every interval.

use std::fmt;

/// How a host is judged overloaded (Beloglazov & Buyya 2012, section 5.1–5.2).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OverloadDetector {
    /// Static threshold: overloaded when requested MIPS exceed `threshold` of capacity.
    Thr {
        /// Utilization threshold in (0, 1].
        threshold: f64,
    },
    /// Interquartile range: threshold 1 − s·IQR of the host's utilization history.
    Iqr {
        /// Safety parameter s.
        safety: f64,
    },
    /// Median absolute deviation: threshold 1 − s·MAD.
    Mad {
        /// Safety parameter s.
        safety: f64,
    },
    /// Local regression: overloaded when s · predicted utilization ≥ 1.
    Lr {
        /// Safety parameter s.
        safety: f64,
    },
    /// Robust local regression (bisquare re-weighting).
    Lrr {
        /// Safety parameter s.
        safety: f64,
    },
}

/// A policy to simulate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PolicySpec {
    /// Non power-aware: hosts always draw full power, no migrations.
    Npa,
    /// DVFS only: power follows utilization, no migrations.
    Dvfs,
    /// Dynamic consolidation: an overload detector, minimum-migration-time VM selection, PABFD
    /// placement and the underload pass that empties the least-utilized hosts.
    Consolidate {
        /// The overload detector.
        detector: OverloadDetector,
    },
    /// Heat harvesting (issue 3): every interval, estimate each VM's demand and heat and run
    /// `heat::plan` to bring as many hosts as possible to their target minimum heat rate,
    /// emptying the rest (docs/sim.md, "heat-max").
    HeatMax {
        /// Fraction of each host's CPU the planner keeps free, in [0, 1).
        headroom: f64,
        /// How far above the utilization at which a host reaches its target the planner aims,
        /// as a fraction of capacity in [0, 1), so that a host still reaches its target when its
        /// VMs ask for less than predicted.
        margin: f64,
    },
}

impl PolicySpec {
    /// Default CPU headroom of `heat-max` (docs/sim.md explains the choice).
    pub const HEAT_MAX_HEADROOM: f64 = 0.1;
    /// Default target margin of `heat-max` (docs/sim.md explains the choice).
    pub const HEAT_MAX_MARGIN: f64 = 0.1;
}

/// A policy name that could not be understood.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    /// Unknown policy name.
    #[error("unknown policy `{0}`; expected one of npa, dvfs, thr-mmt, iqr-mmt, mad-mmt, lr-mmt, lrr-mmt, heat-max (parameter after a colon, e.g. lr-mmt:1.2)")]
    Unknown(String),
    /// The parameter is not a number or is out of range.
    #[error("policy `{policy}`: parameter {value:?} {why}")]
    BadParameter {
        /// The policy as given.
        policy: String,
        /// The parameter as given.
        value: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

impl PolicySpec {
    /// Parses `npa`, `dvfs`, or `<detector>-mmt[:<parameter>]`.
    pub fn parse(text: &str) -> Result<PolicySpec, PolicyError> {
        let text = text.trim();
        let (name, param) = match text.split_once(':') {
            Some((name, param)) => (name, Some(param)),
            None => (text, None),
        };
        let parameter = |default: f64, min_exclusive: f64, max: f64| -> Result<f64, PolicyError> {
            let Some(raw) = param else { return Ok(default) };
            let value: f64 = raw.trim().parse().map_err(|_| PolicyError::BadParameter {
                policy: text.to_string(),
                value: raw.to_string(),
                why: "is not a number",
            })?;
            if !value.is_finite() || value <= min_exclusive || value > max {
                return Err(PolicyError::BadParameter {
                    policy: text.to_string(),
                    value: raw.to_string(),
                    why: if max <= 1.0 {
                        "must be in (0, 1]"
                    } else {
                        "must be positive and at most 100"
                    },
                });
            }
            Ok(value)
        };
        let detector = match name {
            "npa" | "dvfs" if param.is_some() => {
                return Err(PolicyError::BadParameter {
                    policy: text.to_string(),
                    value: param.unwrap_or_default().to_string(),
                    why: "is not accepted: this policy takes no parameter",
                })
            }
            "npa" => return Ok(PolicySpec::Npa),
            "heat-max" => {
                let mut values = [PolicySpec::HEAT_MAX_HEADROOM, PolicySpec::HEAT_MAX_MARGIN];
                if let Some(raw) = param {
                    let parts: Vec<&str> = raw.split(':').collect();
                    if parts.len() > 2 {
                        return Err(PolicyError::BadParameter {
                            policy: text.to_string(),
                            value: raw.to_string(),
                            why: "has too many parts: heat-max[:HEADROOM[:MARGIN]]",
                        });
                    }
                    for (slot, part) in values.iter_mut().zip(parts) {
                        match part.trim().parse::<f64>() {
                            Ok(x) if (0.0..1.0).contains(&x) => *slot = x,
                            _ => {
                                return Err(PolicyError::BadParameter {
                                    policy: text.to_string(),
                                    value: part.to_string(),
                                    why: "must be a fraction of host CPU in [0, 1)",
                                })
                            }
                        }
                    }
                }
                let [headroom, margin] = values;
                return Ok(PolicySpec::HeatMax { headroom, margin });
            }
            "dvfs" => return Ok(PolicySpec::Dvfs),
            "thr-mmt" => OverloadDetector::Thr { threshold: parameter(0.8, 0.0, 1.0)? },
            "iqr-mmt" => OverloadDetector::Iqr { safety: parameter(1.5, 0.0, 100.0)? },
            "mad-mmt" => OverloadDetector::Mad { safety: parameter(2.5, 0.0, 100.0)? },
            "lr-mmt" => OverloadDetector::Lr { safety: parameter(1.2, 0.0, 100.0)? },
            "lrr-mmt" => OverloadDetector::Lrr { safety: parameter(1.2, 0.0, 100.0)? },
            _ => return Err(PolicyError::Unknown(text.to_string())),
        };
        Ok(PolicySpec::Consolidate { detector })
    }

    /// Parses a comma-separated list of policies.
    pub fn parse_list(text: &str) -> Result<Vec<PolicySpec>, PolicyError> {
        text.split(',').map(PolicySpec::parse).collect()
    }

    /// Whether this policy migrates VMs (and so switches idle hosts off).
    pub fn migrates(&self) -> bool {
        matches!(self, PolicySpec::Consolidate { .. } | PolicySpec::HeatMax { .. })
    }
}

impl fmt::Display for PolicySpec {
    /// The canonical command-line name with its parameter, e.g. `lr-mmt:1.2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicySpec::Npa => write!(f, "npa"),
            PolicySpec::Dvfs => write!(f, "dvfs"),
            PolicySpec::HeatMax { headroom, margin } => write!(f, "heat-max:{headroom}:{margin}"),
            PolicySpec::Consolidate { detector } => match detector {
                OverloadDetector::Thr { threshold } => write!(f, "thr-mmt:{threshold}"),
                OverloadDetector::Iqr { safety } => write!(f, "iqr-mmt:{safety}"),
                OverloadDetector::Mad { safety } => write!(f, "mad-mmt:{safety}"),
                OverloadDetector::Lr { safety } => write!(f, "lr-mmt:{safety}"),
                OverloadDetector::Lrr { safety } => write!(f, "lrr-mmt:{safety}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_defaults() {
        let names: Vec<String> =
            PolicySpec::parse_list("npa,dvfs,thr-mmt,iqr-mmt,mad-mmt,lr-mmt,lrr-mmt")
                .unwrap()
                .iter()
                .map(ToString::to_string)
                .collect();
        assert_eq!(
            names,
            [
                "npa",
                "dvfs",
                "thr-mmt:0.8",
                "iqr-mmt:1.5",
                "mad-mmt:2.5",
                "lr-mmt:1.2",
                "lrr-mmt:1.2"
            ]
        );
        assert_eq!(PolicySpec::parse("thr-mmt:0.7").unwrap().to_string(), "thr-mmt:0.7");
    }

    #[test]
    fn refuses_bad_names_and_parameters() {
        assert_eq!(
            PolicySpec::parse("foo").unwrap_err().to_string(),
            "unknown policy `foo`; expected one of npa, dvfs, thr-mmt, iqr-mmt, mad-mmt, lr-mmt, lrr-mmt, heat-max (parameter after a colon, e.g. lr-mmt:1.2)"
        );
        assert_eq!(
            PolicySpec::parse("thr-mmt:1.5").unwrap_err().to_string(),
            "policy `thr-mmt:1.5`: parameter \"1.5\" must be in (0, 1]"
        );
        assert!(matches!(PolicySpec::parse("lr-mmt:x"), Err(PolicyError::BadParameter { .. })));
        assert!(matches!(PolicySpec::parse("mad-mmt:-1"), Err(PolicyError::BadParameter { .. })));
        assert!(matches!(PolicySpec::parse("npa:1"), Err(PolicyError::BadParameter { .. })));
        assert!(matches!(PolicySpec::parse("heat-max:1"), Err(PolicyError::BadParameter { .. })));
        assert!(matches!(
            PolicySpec::parse("heat-max:0.1:0.1:0.1"),
            Err(PolicyError::BadParameter { .. })
        ));
        assert_eq!(
            PolicySpec::parse("heat-max:0.2").unwrap(),
            PolicySpec::HeatMax { headroom: 0.2, margin: 0.1 }
        );
        assert_eq!(
            PolicySpec::parse("heat-max:0.05:0.15").unwrap(),
            PolicySpec::HeatMax { headroom: 0.05, margin: 0.15 }
        );
        assert_eq!(PolicySpec::parse("heat-max").unwrap().to_string(), "heat-max:0.1:0.1");
    }
}
