//! The resource-availability metric (seed 003, FIG. 9, 904–910): RA from resource use,
//! penalties for resources above their thresholds, RM = RA + penalties. The seed's three
//! resources are the default; any list of up to [`MAX_RESOURCES`] named resources plugs in.

/// The seed's penalty magnitude: each resource above its threshold subtracts 0.5 from RA
/// (seed 003, FIG. 9, 908).
pub const DEFAULT_PENALTY: f64 = 0.5;

/// hearth's default threshold for every resource. Seed 003 names `S_threshold`,
/// `P_threshold` and `C_threshold` but gives no values; 0.8 penalizes a resource that is more
/// than four-fifths used.
pub const DEFAULT_THRESHOLD: f64 = 0.8;

/// The most resources a [`Metric`] takes (one bit each in [`Assessment::over`]).
pub const MAX_RESOURCES: usize = 64;

/// One resource the metric reads: its name and the use above which it is penalized.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    /// The resource's name, as errors and explanations print it (`storage`, `gpu`, …).
    pub name: String,
    /// Use strictly above this (in `[0, 1]`) costs the penalty (seed 003, FIG. 9, 908:
    /// "when S > S_threshold").
    pub threshold: f64,
}

impl Resource {
    /// A resource named `name` penalized above `threshold`.
    pub fn new(name: impl Into<String>, threshold: f64) -> Resource {
        Resource { name: name.into(), threshold }
    }
}

/// Why a list of resources does not make a [`Metric`].
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum MetricError {
    /// The list is empty.
    #[error("the availability metric names no resources; give at least one (the seed's are storage, processor, communication)")]
    NoResources,
    /// More than [`MAX_RESOURCES`] resources.
    #[error("the availability metric names {count} resources; at most {max} are supported")]
    TooManyResources {
        /// How many were given.
        count: usize,
        /// [`MAX_RESOURCES`].
        max: usize,
    },
    /// A resource has an empty name.
    #[error("resource {index} of the availability metric has an empty name")]
    EmptyName {
        /// Its position in the list, from 0.
        index: usize,
    },
    /// Two resources share a name.
    #[error("resource {index} of the availability metric repeats the name `{name}`")]
    DuplicateName {
        /// The position of the second occurrence, from 0.
        index: usize,
        /// The repeated name.
        name: String,
    },
    /// A threshold is not a number in `[0, 1]`.
    #[error("resource `{name}`: threshold must be a use in [0, 1], got {value}")]
    BadThreshold {
        /// The resource.
        name: String,
        /// The rejected threshold.
        value: f64,
    },
    /// The penalty is not a finite number ≥ 0.
    #[error("the availability metric's penalty must be a finite number ≥ 0 (the seed's is 0.5), got {value}")]
    BadPenalty {
        /// The rejected penalty.
        value: f64,
    },
}

/// Why a use vector cannot be assessed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum UsageError {
    /// The vector's length differs from the metric's resource count.
    #[error("got {got} resource uses but the availability metric reads {expected} ({names})")]
    WrongCount {
        /// How many the metric reads.
        expected: usize,
        /// How many were given.
        got: usize,
        /// The metric's resource names, comma-separated, in order.
        names: String,
    },
    /// A use is NaN or outside `[0, 1]`.
    #[error("resource `{name}`: use must be a fraction in [0, 1], got {value}")]
    OutOfRange {
        /// The resource.
        name: String,
        /// The rejected use.
        value: f64,
    },
}

/// A validated availability metric: named resources with thresholds, and the penalty.
///
/// `RA = mean over resources of (1 − use)`; each resource whose use is strictly above its
/// threshold adds `−penalty`; `RM = RA + penalties` (seed 003, FIG. 9, 906–910). With the
/// seed's three resources this is exactly `RA = ((1−S)+(1−P)+(1−C))/3`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "MetricSpec", into = "MetricSpec")]
pub struct Metric {
    resources: Vec<Resource>,
    penalty: f64,
}

/// The metric as configuration spells it (parse low; [`Metric`] is the lifted form).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricSpec {
    resources: Vec<Resource>,
    #[serde(default = "default_penalty")]
    penalty: f64,
}

fn default_penalty() -> f64 {
    DEFAULT_PENALTY
}

impl TryFrom<MetricSpec> for Metric {
    type Error = MetricError;
    fn try_from(spec: MetricSpec) -> Result<Self, Self::Error> {
        Metric::new(spec.resources, spec.penalty)
    }
}

impl From<Metric> for MetricSpec {
    fn from(metric: Metric) -> Self {
        MetricSpec { resources: metric.resources, penalty: metric.penalty }
    }
}

/// The metric's reading of one use vector (seed 003, FIG. 9, 906–910).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Assessment {
    /// RA: the mean unused fraction, in `[0, 1]`.
    pub ra: f64,
    /// The sum of the penalties: `−penalty × (resources above their threshold)`, ≤ 0.
    pub penalty: f64,
    /// RM = RA + penalties; may be negative (the law clamps it to `min`).
    pub rm: f64,
    /// Bit `i` is set when resource `i` is above its threshold.
    pub over: u64,
}

impl Assessment {
    /// The names of the resources above their thresholds, in the metric's order: why a node
    /// was penalized. `metric` must be the one that made this assessment.
    pub fn over_threshold<'m>(&self, metric: &'m Metric) -> impl Iterator<Item = &'m str> + 'm {
        let over = self.over;
        metric
            .resources
            .iter()
            .enumerate()
            .filter(move |(idx, _)| over & (1u64 << idx) != 0)
            .map(|(_, resource)| resource.name.as_str())
    }
}

impl Metric {
    /// Validates `resources` (1 to [`MAX_RESOURCES`], unique non-empty names, thresholds in
    /// `[0, 1]`) and `penalty` (finite, ≥ 0; the seed's is [`DEFAULT_PENALTY`]).
    pub fn new(resources: Vec<Resource>, penalty: f64) -> Result<Metric, MetricError> {
        if resources.is_empty() {
            return Err(MetricError::NoResources);
        }
        if resources.len() > MAX_RESOURCES {
            return Err(MetricError::TooManyResources {
                count: resources.len(),
                max: MAX_RESOURCES,
            });
        }
        for (index, resource) in resources.iter().enumerate() {
            if resource.name.is_empty() {
                return Err(MetricError::EmptyName { index });
            }
            if resources[..index].iter().any(|earlier| earlier.name == resource.name) {
                return Err(MetricError::DuplicateName { index, name: resource.name.clone() });
            }
            if !(0.0..=1.0).contains(&resource.threshold) {
                return Err(MetricError::BadThreshold {
                    name: resource.name.clone(),
                    value: resource.threshold,
                });
            }
        }
        if !(penalty.is_finite() && penalty >= 0.0) {
            return Err(MetricError::BadPenalty { value: penalty });
        }
        Ok(Metric { resources, penalty })
    }

    /// The seed's metric: `storage`, `processor`, `communication` (S, P, C, in that order),
    /// each penalized above [`DEFAULT_THRESHOLD`], with the seed's penalty of 0.5.
    pub fn seed() -> Metric {
        Metric::seed_with_thresholds(DEFAULT_THRESHOLD, DEFAULT_THRESHOLD, DEFAULT_THRESHOLD)
            .expect("the default thresholds are in [0, 1]")
    }

    /// The seed's three resources with thresholds of the caller's choosing.
    pub fn seed_with_thresholds(
        storage: f64,
        processor: f64,
        communication: f64,
    ) -> Result<Metric, MetricError> {
        Metric::new(
            vec![
                Resource::new("storage", storage),
                Resource::new("processor", processor),
                Resource::new("communication", communication),
            ],
            DEFAULT_PENALTY,
        )
    }

    /// The resources, in the order [`Metric::assess`] reads uses.
    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// The penalty per resource above its threshold (positive; subtracted).
    pub fn penalty(&self) -> f64 {
        self.penalty
    }

    /// RA, penalties and RM for `usage` (one fraction in `[0, 1]` per resource, in
    /// [`Metric::resources`] order). Does not allocate unless it fails.
    pub fn assess(&self, usage: &[f64]) -> Result<Assessment, UsageError> {
        if usage.len() != self.resources.len() {
            return Err(UsageError::WrongCount {
                expected: self.resources.len(),
                got: usage.len(),
                names: self
                    .resources
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let mut unused_sum = 0.0;
        let mut over = 0u64;
        for (idx, (resource, &value)) in self.resources.iter().zip(usage).enumerate() {
            // `contains` is false for NaN.
            if !(0.0..=1.0).contains(&value) {
                return Err(UsageError::OutOfRange { name: resource.name.clone(), value });
            }
            unused_sum += 1.0 - value;
            if value > resource.threshold {
                over |= 1u64 << idx;
            }
        }
        let ra = unused_sum / self.resources.len() as f64;
        let penalty = -self.penalty * f64::from(over.count_ones());
        Ok(Assessment { ra, penalty, rm: ra + penalty, over })
    }
}

impl Default for Metric {
    /// [`Metric::seed`].
    fn default() -> Self {
        Metric::seed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// Reference: seed 003, FIG. 9 (906–910), one penalty per resource above its threshold.
    #[test]
    fn penalties_count_each_resource_above_its_threshold() {
        let metric = Metric::seed_with_thresholds(0.5, 0.5, 0.5).unwrap();
        let cases: [([f64; 3], f64, f64); 5] = [
            ([0.6, 0.4, 0.5], 0.5, -0.5), // S only; C = 0.5 is not *above* 0.5
            ([0.6, 0.6, 0.5], 0.4333333333333333, -1.0),
            ([0.9, 0.9, 0.9], 0.1, -1.5),
            ([0.5, 0.5, 0.5], 0.5, 0.0),
            ([0.0, 0.0, 0.0], 1.0, 0.0),
        ];
        for (usage, ra, penalty) in cases {
            let got = metric.assess(&usage).unwrap();
            assert!(close(got.ra, ra), "{usage:?}: RA {} != {ra}", got.ra);
            assert!(close(got.penalty, penalty), "{usage:?}: penalty {}", got.penalty);
            assert!(close(got.rm, ra + penalty), "{usage:?}: RM {}", got.rm);
        }
        let got = metric.assess(&[0.9, 0.1, 0.9]).unwrap();
        assert_eq!(got.over_threshold(&metric).collect::<Vec<_>>(), ["storage", "communication"]);
    }

    #[test]
    fn more_resources_plug_in_with_their_own_thresholds() {
        let metric = Metric::new(
            vec![
                Resource::new("processor", 0.9),
                Resource::new("memory", 0.7),
                Resource::new("gpu", 0.95),
                Resource::new("storage", 0.8),
                Resource::new("network", 0.8),
            ],
            0.25,
        )
        .unwrap();
        let got = metric.assess(&[0.5, 0.75, 0.96, 0.2, 0.0]).unwrap();
        assert!(close(got.ra, (0.5 + 0.25 + 0.04 + 0.8 + 1.0) / 5.0));
        assert!(close(got.penalty, -0.5));
        assert_eq!(got.over_threshold(&metric).collect::<Vec<_>>(), ["memory", "gpu"]);
        assert_eq!(metric.resources().len(), 5);
        assert_eq!(metric.penalty(), 0.25);
    }

    #[test]
    fn bad_usage_is_a_named_error() {
        let metric = Metric::seed();
        assert_eq!(
            metric.assess(&[0.5, 1.2, 0.1]),
            Err(UsageError::OutOfRange { name: "processor".into(), value: 1.2 })
        );
        assert_eq!(
            metric.assess(&[0.5, 0.2, -0.1]),
            Err(UsageError::OutOfRange { name: "communication".into(), value: -0.1 })
        );
        assert!(matches!(
            metric.assess(&[f64::NAN, 0.2, 0.1]),
            Err(UsageError::OutOfRange { ref name, .. }) if name == "storage"
        ));
        assert!(matches!(
            metric.assess(&[f64::INFINITY, 0.2, 0.1]),
            Err(UsageError::OutOfRange { .. })
        ));
        let err = metric.assess(&[0.5, 0.2]).unwrap_err();
        assert_eq!(err.to_string(), "got 2 resource uses but the availability metric reads 3 (storage, processor, communication)");
        // The bounds themselves are valid uses.
        assert!(close(metric.assess(&[0.0, 1.0, 1.0]).unwrap().ra, 1.0 / 3.0));
    }

    #[test]
    fn bad_metrics_are_named_errors() {
        assert_eq!(Metric::new(vec![], 0.5), Err(MetricError::NoResources));
        let many = (0..65).map(|i| Resource::new(format!("r{i}"), 0.5)).collect();
        assert_eq!(
            Metric::new(many, 0.5),
            Err(MetricError::TooManyResources { count: 65, max: 64 })
        );
        let max = (0..64).map(|i| Resource::new(format!("r{i}"), 0.5)).collect();
        let metric = Metric::new(max, 0.5).unwrap();
        let mut usage = [0.0; 64];
        usage[63] = 0.9;
        assert_eq!(metric.assess(&usage).unwrap().over, 1u64 << 63);
        assert_eq!(
            Metric::new(vec![Resource::new("", 0.5)], 0.5),
            Err(MetricError::EmptyName { index: 0 })
        );
        assert_eq!(
            Metric::new(vec![Resource::new("cpu", 0.5), Resource::new("cpu", 0.6)], 0.5),
            Err(MetricError::DuplicateName { index: 1, name: "cpu".into() })
        );
        assert_eq!(
            Metric::seed_with_thresholds(0.8, 1.1, 0.8),
            Err(MetricError::BadThreshold { name: "processor".into(), value: 1.1 })
        );
        assert!(matches!(
            Metric::seed_with_thresholds(0.8, 0.8, f64::NAN),
            Err(MetricError::BadThreshold { ref name, .. }) if name == "communication"
        ));
        assert_eq!(
            Metric::new(vec![Resource::new("cpu", 0.5)], -0.5),
            Err(MetricError::BadPenalty { value: -0.5 })
        );
        assert!(matches!(
            Metric::new(vec![Resource::new("cpu", 0.5)], f64::NAN),
            Err(MetricError::BadPenalty { .. })
        ));
    }
}
