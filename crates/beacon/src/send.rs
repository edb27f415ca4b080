//! When to send the next beacon and to whom (seed 003, FIG. 10–11): intervals drawn from an
//! exponential distribution with mean 1/V, so a receiver sees a Poisson stream whose rate encodes
//! the sender's availability and no two senders lock into step (the seed warns of resonance);
//! never longer than 1/`min_rate_hz`, the heartbeat a receiver uses to declare a node lost.
//!
//! The randomness is a caller-owned [`SplitMix64`] (the workspace's shared generator), seeded
//! per node, so schedules are reproducible in tests and the module reads no clock.

pub use model::rand::SplitMix64;

/// Why a schedule or topology was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// A rate is not a positive finite number.
    #[error("{what} is {value} Hz; expected a positive, finite rate")]
    BadRate {
        /// Which rate (`rate_hz` or `min_rate_hz`).
        what: &'static str,
        /// The offending value.
        value: f64,
    },
    /// A topology has no receivers to send to.
    #[error("topology `{0}` has no receivers; give at least one ADDR:PORT")]
    NoReceivers(&'static str),
}

/// Seconds until the next beacon for a stream at `rate_hz` (the law's V): exponential with mean
/// 1/`rate_hz`, capped at 1/`min_rate_hz` so a node is never silent longer than its heartbeat
/// period. A rate below the minimum is raised to it.
pub fn next_interval_s(
    rate_hz: f64,
    min_rate_hz: f64,
    jitter: &mut SplitMix64,
) -> Result<f64, SendError> {
    if !(min_rate_hz.is_finite() && min_rate_hz > 0.0) {
        return Err(SendError::BadRate { what: "min_rate_hz", value: min_rate_hz });
    }
    if !(rate_hz.is_finite() && rate_hz > 0.0) {
        return Err(SendError::BadRate { what: "rate_hz", value: rate_hz });
    }
    let rate = rate_hz.max(min_rate_hz);
    let draw = -jitter.unit_nonzero().ln() / rate;
    Ok(draw.min(1.0 / min_rate_hz))
}

/// Who receives a node's beacons (seed 003, FIG. 11), over any address type `A` (a socket
/// address in `udp`, anything in tests).
#[derive(Clone, Debug, PartialEq)]
pub enum Topology<A> {
    /// One receiver (a controller).
    One(A),
    /// Several receivers (e.g. a controller and its standby).
    Many(Vec<A>),
    /// Every peer of the cluster (each node selects targets itself).
    AllPeers(Vec<A>),
}

impl<A> Topology<A> {
    /// The addresses a beacon goes to, in order; an error when there are none.
    pub fn receivers(&self) -> Result<&[A], SendError> {
        let (name, list) = match self {
            Topology::One(addr) => return Ok(std::slice::from_ref(addr)),
            Topology::Many(list) => ("many", list),
            Topology::AllPeers(list) => ("all-peers", list),
        };
        if list.is_empty() {
            Err(SendError::NoReceivers(name))
        } else {
            Ok(list)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_average_one_over_the_rate_and_never_exceed_the_heartbeat() {
        let mut jitter = SplitMix64::new(42);
        let (rate, min) = (10.0, 0.5);
        let n = 200_000;
        let mut sum = 0.0;
        for _ in 0..n {
            let dt = next_interval_s(rate, min, &mut jitter).unwrap();
            assert!(dt > 0.0 && dt <= 1.0 / min, "{dt}");
            sum += dt;
        }
        let mean = sum / n as f64;
        // Mean of an exponential capped at 2 s (20 means): 0.1 · (1 − e^−20) ≈ 0.1.
        assert!((mean - 0.1).abs() < 0.001, "mean {mean}");
    }

    #[test]
    fn a_slow_stream_is_held_to_the_heartbeat() {
        let mut jitter = SplitMix64::new(7);
        let mut capped = 0;
        for _ in 0..10_000 {
            let dt = next_interval_s(0.01, 1.0, &mut jitter).unwrap();
            assert!(dt <= 1.0);
            capped += usize::from(dt == 1.0);
        }
        // Raised to 1 Hz: P(exp(1) > 1) = e^−1 ≈ 37 % of draws hit the cap.
        assert!((3300..4100).contains(&capped), "{capped}");
    }

    #[test]
    fn bad_rates_and_empty_topologies_are_refused() {
        let mut jitter = SplitMix64::new(1);
        assert_eq!(
            next_interval_s(f64::NAN, 1.0, &mut jitter).unwrap_err().to_string(),
            "rate_hz is NaN Hz; expected a positive, finite rate"
        );
        assert!(next_interval_s(1.0, 0.0, &mut jitter).is_err());
        assert_eq!(
            Topology::<u16>::AllPeers(vec![]).receivers().unwrap_err(),
            SendError::NoReceivers("all-peers")
        );
        assert_eq!(Topology::One(7000u16).receivers().unwrap(), &[7000]);
        assert_eq!(Topology::Many(vec![1u16, 2]).receivers().unwrap(), &[1, 2]);
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule() {
        let (mut a, mut b) = (SplitMix64::new(99), SplitMix64::new(99));
        for _ in 0..100 {
            assert_eq!(
                next_interval_s(3.0, 0.2, &mut a).unwrap(),
                next_interval_s(3.0, 0.2, &mut b).unwrap()
            );
        }
    }
}
