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
