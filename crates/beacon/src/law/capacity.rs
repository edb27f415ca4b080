//! Capacity normalization (seed 003, FIG. 25A–B and the text after it): RA and RM are fractions
//! of one node's own capacity, so a small idle node would out-beacon a large busy one. CP
//! messages carry each node's total capacity, and a node scales its metric by its share of the
//! cluster's total before computing its frequency. The seed gives two ways to get the share:
//!
//! 1. From the capacity list (FIG. 25A, 2516) built from every node's CP messages:
//!    `RM' = RM · totalCapacity_local / Σ_{i ∈ nodes} totalCapacity_i`
//!    ([`CapacityShare::from_capacities`]).
//! 2. From a fraction `c` that a management node computed and sent in a CP message:
//!    `RM' = c · RM` ([`CapacityShare::from_fraction`]).
//!
//! The seed calls both approximate: the shares need not add up to 1 across nodes. One
//! consequence it does not spell out: a share shrinks RM by about `1/n` in a cluster of `n`
//! similar nodes, and `f_RA = max(RM', min)` then clamps every node to `min` once `RM'` falls
//! below it; choose `min` well below the smallest share you expect.
//!
//! A receiver can also turn a remote node's `f_RA` into absolute room by multiplying by that
//! node's capacity (FIG. 25A, the first use the seed describes): [`absolute_availability`].

use crate::NodeId;

/// Why a capacity share cannot be computed.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum CapacityError {
    /// The local node's capacity is not a finite number above 0.
    #[error("the local node's total capacity must be a finite number above 0, got {value}")]
    BadLocalCapacity {
        /// The rejected capacity.
        value: f64,
    },
    /// A remote node's capacity (from its CP messages) is negative, infinite or NaN.
    #[error("node {node}: total capacity must be a finite number ≥ 0, got {value}")]
    BadRemoteCapacity {
        /// The node whose capacity it is.
        node: NodeId,
        /// The rejected capacity.
        value: f64,
    },
    /// The capacities add up to infinity.
    #[error("the nodes' total capacities add up to more than a finite number")]
    TotalOverflow,
    /// A management node's fraction is not in `[0, 1]`.
    #[error("capacity fraction c must be in [0, 1], got {value}")]
    BadFraction {
        /// The rejected fraction.
        value: f64,
    },
}

/// A node's share of the cluster's total capacity, in `[0, 1]`: the factor it scales its RA or
/// RM by (seed 003, FIG. 25).
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, serde::Serialize)]
pub struct CapacityShare(f64);

impl CapacityShare {
    /// Variant 1 (capacity list): `local / (local + Σ remote)`, the sum running over every node
    /// of the cluster once. `remote` lists the other nodes' total capacities as their CP
    /// messages gave them; leave the local node out of it. Nodes missing from the list only
    /// make the share larger; the seed accepts that approximation.
    pub fn from_capacities(
        local: f64,
        remote: impl IntoIterator<Item = (NodeId, f64)>,
    ) -> Result<CapacityShare, CapacityError> {
        if !(local.is_finite() && local > 0.0) {
            return Err(CapacityError::BadLocalCapacity { value: local });
        }
        let mut total = local;
        for (node, value) in remote {
            if !(value.is_finite() && value >= 0.0) {
                return Err(CapacityError::BadRemoteCapacity { node, value });
            }
            total += value;
        }
        if !total.is_finite() {
            return Err(CapacityError::TotalOverflow);
        }
        // local ≤ total, both finite and positive: the share is in (0, 1].
        Ok(CapacityShare(local / total))
    }

    /// Variant 2 (fraction from a manager): the fraction `c` a management node computed for
    /// this node and sent in a CP message.
    pub fn from_fraction(c: f64) -> Result<CapacityShare, CapacityError> {
        if (0.0..=1.0).contains(&c) {
            Ok(CapacityShare(c))
        } else {
            Err(CapacityError::BadFraction { value: c })
        }
    }

    /// No normalization: a share of 1.
    pub const WHOLE: CapacityShare = CapacityShare(1.0);

    /// The share, in `[0, 1]`.
    pub fn get(self) -> f64 {
        self.0
    }

    /// `metric · share`: the normalized RA or RM (`RA = c·RA`, `RM = c·RM`). Pass the result to
    /// [`crate::law::Law::frequencies`], which clamps it to `[min, 1]`.
    pub fn apply(self, metric: f64) -> f64 {
        metric * self.0
    }
}

/// A remote node's absolute available capacity: its `f_RA` (estimated from its beacon rate)
/// times the total capacity from its CP messages (seed 003, FIG. 25A: "multiply this resource
/// metric by a total-capacity value stored in the capacity list").
pub fn absolute_availability(f_ra: f64, total_capacity: f64) -> f64 {
    f_ra * total_capacity
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// Reference: seed 003, text after FIG. 25B: `RM = RM · totalCapacity_local / Σ
    /// totalCapacity_i` (variant 1) and `RM = c·RM` (variant 2).
    #[test]
    fn both_seed_variants_scale_the_metric() {
        // A 64-unit node among 32 + 32 + 128: share 64/256 = 0.25.
        let share = CapacityShare::from_capacities(
            64.0,
            [(NodeId(2), 32.0), (NodeId(3), 32.0), (NodeId(4), 128.0)],
        )
        .unwrap();
        assert!(close(share.get(), 0.25));
        assert!(close(share.apply(0.5), 0.125));
        let manager = CapacityShare::from_fraction(0.25).unwrap();
        assert_eq!(manager, share);
        // Alone, a node has the whole cluster.
        assert_eq!(CapacityShare::from_capacities(10.0, []).unwrap(), CapacityShare::WHOLE);
        // The worked example of FIG. 9 on the big node vs a small idle one: the big busy node
        // (RM 0.5, 128 units) now beacons faster than the small idle one (RM 1.0, 32 units).
        let caps = [(NodeId(1), 64.0), (NodeId(2), 32.0), (NodeId(3), 32.0), (NodeId(4), 128.0)];
        let others = |me: u32| caps.into_iter().filter(move |(node, _)| node.0 != me);
        let big = CapacityShare::from_capacities(128.0, others(4)).unwrap().apply(0.5);
        let small = CapacityShare::from_capacities(32.0, others(2)).unwrap().apply(1.0);
        assert!(big > small, "big {big} small {small}");
        assert!(close(absolute_availability(0.5, 128.0), 64.0));
    }

    #[test]
    fn bad_capacities_are_named_errors() {
        assert_eq!(
            CapacityShare::from_capacities(0.0, []),
            Err(CapacityError::BadLocalCapacity { value: 0.0 })
        );
        assert!(matches!(
            CapacityShare::from_capacities(f64::NAN, []),
            Err(CapacityError::BadLocalCapacity { .. })
        ));
        let err = CapacityShare::from_capacities(1.0, [(NodeId(9), -2.0)]).unwrap_err();
        assert_eq!(err, CapacityError::BadRemoteCapacity { node: NodeId(9), value: -2.0 });
        assert_eq!(err.to_string(), "node 9: total capacity must be a finite number ≥ 0, got -2");
        assert_eq!(
            CapacityShare::from_capacities(f64::MAX, [(NodeId(1), f64::MAX)]),
            Err(CapacityError::TotalOverflow)
        );
        assert_eq!(
            CapacityShare::from_fraction(1.5),
            Err(CapacityError::BadFraction { value: 1.5 })
        );
        assert!(CapacityShare::from_fraction(f64::NAN).is_err());
        assert_eq!(CapacityShare::from_fraction(0.0).map(CapacityShare::get), Ok(0.0));
    }
}
