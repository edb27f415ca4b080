//! The agent's only window on time: the monotonic clock that schedules its events, the wall
//! clock that stamps its beacons, the local time zone that the α schedule is read in, and the
//! sleep between events. clippy.toml forbids `Instant::now`, `SystemTime::now` and
//! `thread::sleep` everywhere else; [`crate::run`]'s decisions take the times this module reads
//! as inputs, so tests drive them in virtual time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The longest single sleep: how long a set stop flag may go unnoticed.
pub const STOP_POLL: Duration = Duration::from_millis(50);

/// One reading of every clock the agent's core needs, taken at the same moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time since the agent started: what its events are scheduled in.
    pub mono: Duration,
    /// Wall-clock time, microseconds since the Unix epoch: what beacons are stamped with.
    pub unix_us: u64,
    /// The local zone's offset from UTC at `unix_us`, seconds east (3600 for UTC+1): what turns
    /// `unix_us` into the local time of day of the α schedule.
    pub utc_offset_s: i32,
}

/// The agent's clock: started once, read by the run loop.
#[derive(Clone, Debug)]
pub struct Clock {
    start: Instant,
    zone: jiff::tz::TimeZone,
    zone_name: String,
}

impl Clock {
    /// Starts the monotonic clock and looks up the local time zone (`TZ`, else
    /// `/etc/localtime`). Without one, local time is UTC and [`Clock::zone_name`] says so.
    #[allow(clippy::disallowed_methods)] // the sanctioned monotonic clock read
    pub fn start() -> Clock {
        let (zone, zone_name) = match jiff::tz::TimeZone::try_system() {
            Ok(zone) => {
                let name = zone.iana_name().unwrap_or("the system's local zone").to_string();
                (zone, name)
            }
            Err(err) => (jiff::tz::TimeZone::UTC, format!("UTC (no local time zone: {err})")),
        };
        Clock { start: Instant::now(), zone, zone_name }
    }

    /// The local time zone's name, or why UTC stands in for it.
    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    /// Monotonic time since [`Clock::start`].
    #[allow(clippy::disallowed_methods)] // the sanctioned monotonic clock read
    pub fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(self.start)
    }

    /// Wall-clock time in microseconds since the Unix epoch (0 for a clock set before 1970).
    #[allow(clippy::disallowed_methods)] // the sanctioned wall-clock read
    pub fn unix_us(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| u64::try_from(since.as_micros()).unwrap_or(u64::MAX))
    }

    /// The local zone's UTC offset at `unix_us`, in seconds east of UTC (daylight saving time
    /// included). A time outside the zone database's range reads as UTC.
    pub fn utc_offset_s(&self, unix_us: u64) -> i32 {
        i64::try_from(unix_us)
            .ok()
            .and_then(|us| jiff::Timestamp::from_microsecond(us).ok())
            .map_or(0, |at| self.zone.to_offset(at).seconds())
    }

    /// Every clock at once.
    pub fn now(&self) -> Now {
        let mono = self.elapsed();
        let unix_us = self.unix_us();
        Now { mono, unix_us, utc_offset_s: self.utc_offset_s(unix_us) }
    }

    /// Sleeps until monotonic time `deadline` (since [`Clock::start`]), in slices of at most
    /// [`STOP_POLL`] so that a set `stop` flag ends the wait promptly. Returns `false` when
    /// `stop` was set (the deadline may not have come), `true` once the deadline passed.
    #[allow(clippy::disallowed_methods)] // the agent's one blocking wait, bounded by STOP_POLL
    pub fn sleep_until(&self, deadline: Duration, stop: &AtomicBool) -> bool {
        loop {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            let now = self.elapsed();
            if now >= deadline {
                return true;
            }
            std::thread::sleep((deadline - now).min(STOP_POLL));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_moves_forward_and_sleep_reaches_its_deadline() {
        let clock = Clock::start();
        let stop = AtomicBool::new(false);
        let before = clock.now();
        let deadline = before.mono + Duration::from_millis(20);
        assert!(clock.sleep_until(deadline, &stop));
        let after = clock.now();
        assert!(after.mono >= deadline, "{after:?} before {deadline:?}");
        assert!(after.unix_us >= before.unix_us + 15_000, "{before:?} -> {after:?}");
        // 2020-01-01 or later: the wall clock is a real date.
        assert!(after.unix_us > 1_577_836_800_000_000);
        assert!(after.utc_offset_s.abs() <= 14 * 3600, "offset {}", after.utc_offset_s);
    }

    #[test]
    fn a_set_stop_flag_ends_the_sleep_at_once() {
        let clock = Clock::start();
        let stop = AtomicBool::new(true);
        let start = clock.elapsed();
        assert!(!clock.sleep_until(start + Duration::from_secs(60), &stop));
        assert!(clock.elapsed() - start < Duration::from_secs(1));
    }

    #[test]
    fn out_of_range_times_read_as_utc() {
        let clock = Clock::start();
        assert_eq!(clock.utc_offset_s(u64::MAX), 0);
        assert!(!clock.zone_name().is_empty());
    }
}
