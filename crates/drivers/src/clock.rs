//! Time for the drivers: the [`Clock`] trait that everything waits and measures through, the
//! real [`SystemClock`], the wall-clock [`UnixClock`] that processes sharing a simulated site's
//! state file agree on, and the [`ManualClock`] tests drive. clippy.toml forbids
//! `Instant::now`, `SystemTime::now` and `thread::sleep` everywhere else, so this module is the
//! only place in the crate that reads a clock or blocks a thread on time.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A monotonic clock that can also wait.
pub trait Clock: Send + Sync {
    /// Time since the clock's own origin.
    fn now(&self) -> Duration;
    /// Waits `duration` (a [`ManualClock`] advances itself instead).
    fn sleep(&self, duration: Duration);
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> Duration {
        (**self).now()
    }
    fn sleep(&self, duration: Duration) {
        (**self).sleep(duration)
    }
}

/// The real clock: `Instant` since construction, and real sleeps.
#[derive(Clone, Copy, Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// Starts the clock at zero.
    #[allow(clippy::disallowed_methods)] // the sanctioned monotonic clock read
    pub fn new() -> SystemClock {
        SystemClock { origin: Instant::now() }
    }
}

impl Default for SystemClock {
    fn default() -> SystemClock {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the sanctioned monotonic clock read
    fn now(&self) -> Duration {
        Instant::now().duration_since(self.origin)
    }

    #[allow(clippy::disallowed_methods)] // the sanctioned sleep: the verify loop and the
                                         // ipmitool watchdog wait here, on threads the controller gives to blocking work
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration)
    }
}

/// The wall clock: time since the Unix epoch, and real sleeps. Unlike [`SystemClock`] its
/// origin is the same in every process, so a simulated site's state file written by one
/// process keeps its time in the next (`crate::site`). Not monotonic: a clock step shows; the
/// site never lets its own time go back.
#[derive(Clone, Copy, Debug, Default)]
pub struct UnixClock;

impl Clock for UnixClock {
    #[allow(clippy::disallowed_methods)] // the sanctioned wall-clock read
    fn now(&self) -> Duration {
        // A system clock set before 1970 reads as the epoch.
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO)
    }

    #[allow(clippy::disallowed_methods)] // the sanctioned sleep, as for SystemClock
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration)
    }
}

/// A clock that moves only when told: [`ManualClock::advance`], or [`Clock::sleep`], which
/// advances it by the slept duration and returns at once. Shared between threads, every sleeper
/// moves the one time forward.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: Mutex<Duration>,
}

impl ManualClock {
    /// A clock at zero.
    pub fn new() -> ManualClock {
        ManualClock::default()
    }

    /// Moves the time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        *self.now.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn sleep(&self, duration: Duration) {
        self.advance(duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new();
        assert_eq!(clock.now(), Duration::ZERO);
        clock.advance(Duration::from_secs(2));
        clock.sleep(Duration::from_millis(500));
        assert_eq!(clock.now(), Duration::from_millis(2500));
    }

    #[test]
    fn unix_clock_reads_time_since_the_epoch() {
        // 2020-01-01 in seconds: any sane test machine is past it.
        assert!(UnixClock.now() > Duration::from_secs(1_577_836_800));
    }

    #[test]
    fn system_clock_is_monotonic() {
        let clock = SystemClock::new();
        let before = clock.now();
        clock.sleep(Duration::from_millis(2));
        assert!(clock.now() >= before + Duration::from_millis(2));
    }
}
