//! The shedding strategies the twin compares. All share detection, migration mechanics and the
//! feedback loop; they differ only in which hosts are shed and in what order:
//! - `seed`: the heat-budget projection, the least-cost covering set, shed in cost–benefit
//!   order (seed 002);
//! - `hottest-first`: the hottest host of the event zone, one per step, until T < T_clear;
//! - `random[:SEED]`: a seeded random host of the event zone per step (SplitMix64, seed 0 when
//!   none is given);
//! - `none`: detects and records events, never acts.
//!
//! Every strategy keeps management hosts last (they are picked only when no other host of the
//! zone is left).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Which hosts are shed, and in what order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "strategy", rename_all = "kebab-case")]
pub enum Strategy {
    /// Projection + least-cost set + cost–benefit order.
    Seed,
    /// Hottest host first, one per step.
    HottestFirst,
    /// A random host per step.
    Random {
        /// SplitMix64 seed.
        seed: u64,
    },
    /// Detect and record only.
    None,
}

/// A strategy name that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StrategyError {
    /// Not one of the names.
    #[error(
        "unknown thermal strategy `{given}`; expected seed, hottest-first, random[:SEED] or none"
    )]
    Unknown {
        /// What was given.
        given: String,
    },
    /// `random:` followed by something that is not a u64.
    #[error("thermal strategy `{given}`: the seed after `random:` must be an unsigned integer")]
    BadSeed {
        /// What was given.
        given: String,
    },
}

impl FromStr for Strategy {
    type Err = StrategyError;

    fn from_str(s: &str) -> Result<Strategy, StrategyError> {
        match s {
            "seed" => Ok(Strategy::Seed),
            "hottest-first" => Ok(Strategy::HottestFirst),
            "random" => Ok(Strategy::Random { seed: 0 }),
            "none" => Ok(Strategy::None),
            _ => match s.strip_prefix("random:") {
                Some(seed) => seed
                    .parse()
                    .map(|seed| Strategy::Random { seed })
                    .map_err(|_| StrategyError::BadSeed { given: s.to_string() }),
                None => Err(StrategyError::Unknown { given: s.to_string() }),
            },
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::Seed => f.write_str("seed"),
            Strategy::HottestFirst => f.write_str("hottest-first"),
            Strategy::Random { seed } => write!(f, "random:{seed}"),
            Strategy::None => f.write_str("none"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_round_trips() {
        for (text, strategy) in [
            ("seed", Strategy::Seed),
            ("hottest-first", Strategy::HottestFirst),
            ("random", Strategy::Random { seed: 0 }),
            ("random:42", Strategy::Random { seed: 42 }),
            ("none", Strategy::None),
        ] {
            assert_eq!(text.parse::<Strategy>(), Ok(strategy));
            assert_eq!(strategy.to_string().parse::<Strategy>(), Ok(strategy));
        }
    }

    #[test]
    fn errors_are_clear() {
        assert!(matches!("hottest".parse::<Strategy>(), Err(StrategyError::Unknown { .. })));
        let err = "random:x".parse::<Strategy>().unwrap_err();
        assert_eq!(err, StrategyError::BadSeed { given: "random:x".into() });
        assert!(err.to_string().contains("unsigned integer"));
        assert!("Unknown".parse::<Strategy>().unwrap_err().to_string().contains("hottest-first"));
    }
}
