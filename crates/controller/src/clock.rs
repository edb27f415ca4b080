//! The controller's clock: microseconds since the Unix epoch, read once at start and advanced
//! monotonically after, so receive times never go back (the rate estimators need that) while
//! staying comparable with senders' timestamps.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A monotonic clock anchored to the wall clock at creation.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: Instant,
    start_us: u64,
}

impl Clock {
    /// Anchors the clock now.
    #[allow(clippy::disallowed_methods)] // the sanctioned clock module
    pub fn start() -> Clock {
        let start_us =
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0);
        Clock { start: Instant::now(), start_us }
    }

    /// Microseconds since the Unix epoch, monotonic.
    pub fn now_us(&self) -> u64 {
        self.start_us + self.start.elapsed().as_micros() as u64
    }
}

/// Milliseconds since the Unix epoch, now (the pool's timestamps: ledger entries, polls).
#[allow(clippy::disallowed_methods)] // the sanctioned clock module
pub fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A stopwatch for measuring how long work took (the cycle-duration metric), never for deciding.
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch(Instant);

impl Stopwatch {
    /// Starts it.
    #[allow(clippy::disallowed_methods)] // the sanctioned clock module
    pub fn start() -> Stopwatch {
        Stopwatch(Instant::now())
    }

    /// Seconds since start.
    pub fn seconds(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_goes_back_and_starts_near_the_wall_clock() {
        let clock = Clock::start();
        let mut last = clock.now_us();
        // 2020-01-01 in microseconds: a wall-clock anchor, not zero.
        assert!(last > 1_577_836_800_000_000);
        for _ in 0..1000 {
            let now = clock.now_us();
            assert!(now >= last);
            last = now;
        }
    }
}
