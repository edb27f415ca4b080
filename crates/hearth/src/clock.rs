//! The one place that reads the wall clock (clippy.toml forbids it elsewhere): time is an
//! input everywhere else.

use std::time::Instant;

/// A stopwatch for measuring wall time of a run.
pub struct Stopwatch(Instant);

impl Stopwatch {
    /// Starts measuring.
    #[allow(clippy::disallowed_methods)] // the sanctioned wall-clock read
    pub fn start() -> Stopwatch {
        Stopwatch(Instant::now())
    }

    /// Seconds since `start`.
    pub fn elapsed_s(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn unix_ms() -> u64 {
    controller::clock::unix_ms()
}

/// A monotonic instant, now (deadlines and intervals of the pool's loops).
#[allow(clippy::disallowed_methods)] // the sanctioned clock read
pub fn now() -> Instant {
    Instant::now()
}

/// Waits `duration`: the pool loops' pace (a half-second tick, a 200 ms scheduler tick), each
/// bounded and checked against its stop flag after.
#[allow(clippy::disallowed_methods)] // the sanctioned sleep of the pool's loops
pub fn sleep(duration: std::time::Duration) {
    std::thread::sleep(duration)
}
