//! α, the mix of the balance and power frequencies (seed 003, FIG. 15:
//! `V = α·V_Balance + (1 − α)·V_Power`): a fixed value set by the controller, or a daily
//! schedule, piecewise linear over the time of day and wrapping at midnight. The caller passes
//! the time of day; nothing here reads a clock.

use std::fmt;
use std::str::FromStr;

const MS_PER_DAY: u32 = 86_400_000;

/// A mixing weight in `[0, 1]`: 1 is pure load balancing, 0 pure power management.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Alpha(f64);

/// Why a number is not an [`Alpha`].
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum AlphaError {
    /// NaN or outside `[0, 1]`.
    #[error("α must be in [0, 1] (1 = balance, 0 = power), got {value}")]
    OutOfRange {
        /// The rejected value.
        value: f64,
    },
}

impl Alpha {
    /// α = 1: transmit at `V_Balance` only.
    pub const BALANCE: Alpha = Alpha(1.0);
    /// α = 0: transmit at `V_Power` only.
    pub const POWER: Alpha = Alpha(0.0);

    /// `value` if it is in `[0, 1]`.
    pub fn new(value: f64) -> Result<Alpha, AlphaError> {
        if (0.0..=1.0).contains(&value) {
            Ok(Alpha(value))
        } else {
            Err(AlphaError::OutOfRange { value })
        }
    }

    /// The weight, in `[0, 1]`.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Alpha {
    type Error = AlphaError;
    fn try_from(value: f64) -> Result<Self, Self::Error> {
        Alpha::new(value)
    }
}

impl From<Alpha> for f64 {
    fn from(alpha: Alpha) -> f64 {
        alpha.0
    }
}

/// A time of day, to the millisecond, in `[00:00, 24:00)` of whatever zone the caller chose
/// (the schedule means local time; converting is the caller's business, see
/// [`TimeOfDay::from_unix_us`]). Written `HH:MM`, `HH:MM:SS` or `HH:MM:SS.mmm`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct TimeOfDay {
    ms: u32,
}

/// Why a text is not a [`TimeOfDay`].
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TimeOfDayError {
    /// Not `HH:MM`, `HH:MM:SS` or `HH:MM:SS.mmm`, or a field out of range.
    #[error(
        "time of day {text:?}: expected HH:MM, HH:MM:SS or HH:MM:SS.mmm from 00:00 to 23:59:59.999"
    )]
    Bad {
        /// The rejected text.
        text: String,
    },
}

impl TimeOfDay {
    /// Midnight, 00:00.
    pub const MIDNIGHT: TimeOfDay = TimeOfDay { ms: 0 };

    /// `hour:minute:second`, if each is in range (hour < 24, minute < 60, second < 60).
    pub fn from_hms(hour: u32, minute: u32, second: u32) -> Option<TimeOfDay> {
        (hour < 24 && minute < 60 && second < 60)
            .then_some(TimeOfDay { ms: ((hour * 60 + minute) * 60 + second) * 1000 })
    }

    /// Milliseconds after midnight, if fewer than a day's.
    pub fn from_millis(ms: u32) -> Option<TimeOfDay> {
        (ms < MS_PER_DAY).then_some(TimeOfDay { ms })
    }

    /// The time of day of an instant given in microseconds since the Unix epoch, in the zone
    /// `utc_offset_s` seconds east of UTC (e.g. 3600 for UTC+1). Leap seconds are ignored, as
    /// Unix time does.
    pub fn from_unix_us(unix_us: u64, utc_offset_s: i32) -> TimeOfDay {
        let local_ms = i128::from(unix_us / 1000) + i128::from(utc_offset_s) * 1000;
        let ms = local_ms.rem_euclid(i128::from(MS_PER_DAY));
        TimeOfDay { ms: u32::try_from(ms).expect("rem_euclid by a day's milliseconds fits u32") }
    }

    /// Milliseconds after midnight, in `[0, 86 400 000)`.
    pub fn millis(self) -> u32 {
        self.ms
    }

    /// Milliseconds from `earlier` forward to `self`, wrapping at midnight (so from 22:00 to
    /// 02:00 is four hours).
    fn millis_since(self, earlier: TimeOfDay) -> u32 {
        (self.ms + MS_PER_DAY - earlier.ms) % MS_PER_DAY
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (hour, minute) = (self.ms / 3_600_000, self.ms / 60_000 % 60);
        let (second, milli) = (self.ms / 1000 % 60, self.ms % 1000);
        write!(f, "{hour:02}:{minute:02}")?;
        if second != 0 || milli != 0 {
            write!(f, ":{second:02}")?;
        }
        if milli != 0 {
            write!(f, ".{milli:03}")?;
        }
        Ok(())
    }
}

impl FromStr for TimeOfDay {
    type Err = TimeOfDayError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || TimeOfDayError::Bad { text: text.to_owned() };
        // Fixed-width decimal fields only: no signs, no spaces.
        let field = |part: &str, width: usize| -> Option<u32> {
            (part.len() == width && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse().ok())
                .flatten()
        };
        let (hms, milli) = match text.split_once('.') {
            Some((hms, milli)) => (hms, field(milli, 3).ok_or_else(bad)?),
            None => (text, 0),
        };
        let mut parts = hms.split(':');
        let hour = parts.next().and_then(|p| field(p, 2)).ok_or_else(bad)?;
        let minute = parts.next().and_then(|p| field(p, 2)).ok_or_else(bad)?;
        let second = match parts.next() {
            Some(p) => field(p, 2).ok_or_else(bad)?,
            None if text.contains('.') => return Err(bad()),
            None => 0,
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        let whole = TimeOfDay::from_hms(hour, minute, second).ok_or_else(bad)?;
        Ok(TimeOfDay { ms: whole.ms + milli })
    }
}

impl TryFrom<String> for TimeOfDay {
    type Error = TimeOfDayError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<TimeOfDay> for String {
    fn from(time: TimeOfDay) -> String {
        time.to_string()
    }
}

/// One corner of an [`AlphaSchedule`]: α at a time of day, as configuration spells it (the α
/// is checked when the schedule is built, so the error can name the point).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlphaPoint {
    /// When.
    pub at: TimeOfDay,
    /// α at that time, in `[0, 1]`.
    pub alpha: f64,
}

impl AlphaPoint {
    /// α = `alpha` at `at`.
    pub fn new(at: TimeOfDay, alpha: f64) -> AlphaPoint {
        AlphaPoint { at, alpha }
    }
}

/// Why points do not make an [`AlphaSchedule`].
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    /// No points.
    #[error("the α schedule has no points; give at least one (one point means a constant α)")]
    Empty,
    /// A point is not strictly later than the one before it.
    #[error("α schedule point {index} ({at}) is not later than point {} ({previous}); list points in increasing time of day, within one day", index - 1)]
    OutOfOrder {
        /// The point's position, from 0.
        index: usize,
        /// Its time.
        at: TimeOfDay,
        /// The time of the point before it.
        previous: TimeOfDay,
    },
    /// A point's α is NaN or outside `[0, 1]`.
    #[error("α schedule point {index} ({at}): α must be in [0, 1], got {alpha}")]
    AlphaOutOfRange {
        /// The point's position, from 0.
        index: usize,
        /// Its time.
        at: TimeOfDay,
        /// The rejected α.
        alpha: f64,
    },
}

/// A daily α schedule: points in increasing time of day, α linear between consecutive points
/// and from the last point, across midnight, to the first (seed 003, FIG. 15).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "Vec<AlphaPoint>", into = "Vec<AlphaPoint>")]
pub struct AlphaSchedule {
    points: Vec<AlphaPoint>,
}

impl AlphaSchedule {
    /// Validates `points`: at least one, times strictly increasing, every α in `[0, 1]`.
    pub fn new(points: Vec<AlphaPoint>) -> Result<AlphaSchedule, ScheduleError> {
        if points.is_empty() {
            return Err(ScheduleError::Empty);
        }
        for (index, point) in points.iter().enumerate() {
            if !(0.0..=1.0).contains(&point.alpha) {
                return Err(ScheduleError::AlphaOutOfRange {
                    index,
                    at: point.at,
                    alpha: point.alpha,
                });
            }
            if let Some(previous) = index.checked_sub(1).map(|i| points[i]) {
                if point.at <= previous.at {
                    return Err(ScheduleError::OutOfOrder {
                        index,
                        at: point.at,
                        previous: previous.at,
                    });
                }
            }
        }
        Ok(AlphaSchedule { points })
    }

    /// The seed's example (FIG. 15): α = 1 from 9:00 to 16:00 (balance through the working
    /// day), 0 from 20:00 to 6:30 (power management overnight), linear in between.
    pub fn seed() -> AlphaSchedule {
        let at = |h, m| TimeOfDay::from_hms(h, m, 0).expect("valid time of day");
        AlphaSchedule::new(vec![
            AlphaPoint::new(at(6, 30), 0.0),
            AlphaPoint::new(at(9, 0), 1.0),
            AlphaPoint::new(at(16, 0), 1.0),
            AlphaPoint::new(at(20, 0), 0.0),
        ])
        .expect("the seed's schedule is valid")
    }

    /// A constant schedule.
    pub fn constant(alpha: Alpha) -> AlphaSchedule {
        AlphaSchedule { points: vec![AlphaPoint::new(TimeOfDay::MIDNIGHT, alpha.get())] }
    }

    /// The points, in increasing time.
    pub fn points(&self) -> &[AlphaPoint] {
        &self.points
    }

    /// α at `time`: linear between the points on either side of it, wrapping at midnight.
    pub fn alpha_at(&self, time: TimeOfDay) -> Alpha {
        let n_points = self.points.len();
        // The first point strictly after `time`; the one before it (cyclically) is at or
        // before `time`.
        let next_idx = self.points.partition_point(|point| point.at <= time) % n_points;
        let prev_idx = (next_idx + n_points - 1) % n_points;
        let (prev, next) = (self.points[prev_idx], self.points[next_idx]);
        let span_ms = next.at.millis_since(prev.at);
        if span_ms == 0 {
            // A single point: constant.
            return Alpha(prev.alpha);
        }
        let fraction = f64::from(time.millis_since(prev.at)) / f64::from(span_ms);
        let alpha = prev.alpha + (next.alpha - prev.alpha) * fraction;
        // Both ends are in [0, 1]; clamp away rounding.
        Alpha(alpha.clamp(0.0, 1.0))
    }
}

impl Default for AlphaSchedule {
    /// [`AlphaSchedule::seed`].
    fn default() -> Self {
        AlphaSchedule::seed()
    }
}

impl TryFrom<Vec<AlphaPoint>> for AlphaSchedule {
    type Error = ScheduleError;
    fn try_from(points: Vec<AlphaPoint>) -> Result<Self, Self::Error> {
        AlphaSchedule::new(points)
    }
}

impl From<AlphaSchedule> for Vec<AlphaPoint> {
    fn from(schedule: AlphaSchedule) -> Self {
        schedule.points
    }
}

/// Where α comes from: fixed by the controller, or a daily schedule.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlphaSource {
    /// The same α at every time, as the controller set it.
    Fixed(Alpha),
    /// α from the time of day.
    Schedule(AlphaSchedule),
}

impl AlphaSource {
    /// α at `time` (ignored for [`AlphaSource::Fixed`]).
    pub fn alpha_at(&self, time: TimeOfDay) -> Alpha {
        match self {
            AlphaSource::Fixed(alpha) => *alpha,
            AlphaSource::Schedule(schedule) => schedule.alpha_at(time),
        }
    }
}

impl Default for AlphaSource {
    /// The seed's schedule ([`AlphaSchedule::seed`]).
    fn default() -> Self {
        AlphaSource::Schedule(AlphaSchedule::seed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> TimeOfDay {
        text.parse().unwrap()
    }

    #[track_caller]
    fn check(schedule: &AlphaSchedule, cases: &[(&str, f64)]) {
        for &(at, want) in cases {
            let got = schedule.alpha_at(t(at)).get();
            assert!((got - want).abs() < 1e-9, "α at {at}: got {got}, want {want}");
        }
    }

    /// Reference: seed 003, FIG. 15: 1 between 9:00 and 16:00, 0 between 20:00 and 6:30,
    /// linear in between (the transition shape is hearth's reading of the plot).
    #[test]
    fn seed_schedule_at_key_times() {
        check(
            &AlphaSchedule::seed(),
            &[
                ("00:00", 0.0),
                ("03:00", 0.0),
                ("06:30", 0.0),
                ("07:00", 0.2),
                ("07:45", 0.5),
                ("09:00", 1.0),
                ("12:00", 1.0),
                ("16:00", 1.0),
                ("17:00", 0.75),
                ("18:00", 0.5),
                ("19:59:59.999", 1.0 / 14_400_000.0),
                ("20:00", 0.0),
                ("23:59:59.999", 0.0),
            ],
        );
    }

    #[test]
    fn schedules_wrap_across_midnight() {
        let schedule = AlphaSchedule::new(vec![
            AlphaPoint::new(t("02:00"), 1.0),
            AlphaPoint::new(t("12:00"), 1.0),
            AlphaPoint::new(t("22:00"), 0.0),
        ])
        .unwrap();
        check(
            &schedule,
            &[("22:00", 0.0), ("23:00", 0.25), ("00:00", 0.5), ("01:00", 0.75), ("02:00", 1.0)],
        );
        let single = AlphaSchedule::new(vec![AlphaPoint::new(t("13:37"), 0.3)]).unwrap();
        check(&single, &[("00:00", 0.3), ("13:37", 0.3), ("23:00", 0.3)]);
        check(&AlphaSchedule::constant(Alpha::POWER), &[("09:00", 0.0)]);
    }

    #[test]
    fn alpha_sources() {
        let fixed = AlphaSource::Fixed(Alpha::new(0.4).unwrap());
        assert_eq!(fixed.alpha_at(t("12:00")).get(), 0.4);
        assert_eq!(AlphaSource::default().alpha_at(t("12:00")), Alpha::BALANCE);
        assert_eq!(AlphaSource::default().alpha_at(t("23:00")), Alpha::POWER);
        assert_eq!(Alpha::new(1.01), Err(AlphaError::OutOfRange { value: 1.01 }));
        assert!(Alpha::new(f64::NAN).is_err());
    }

    #[test]
    fn bad_schedules_name_the_point() {
        assert_eq!(AlphaSchedule::new(vec![]), Err(ScheduleError::Empty));
        let err = AlphaSchedule::new(vec![
            AlphaPoint::new(t("06:30"), 0.0),
            AlphaPoint::new(t("09:00"), 1.5),
        ])
        .unwrap_err();
        assert_eq!(err, ScheduleError::AlphaOutOfRange { index: 1, at: t("09:00"), alpha: 1.5 });
        assert_eq!(err.to_string(), "α schedule point 1 (09:00): α must be in [0, 1], got 1.5");
        let err = AlphaSchedule::new(vec![
            AlphaPoint::new(t("09:00"), 0.0),
            AlphaPoint::new(t("16:00"), 1.0),
            AlphaPoint::new(t("16:00"), 0.0),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "α schedule point 2 (16:00) is not later than point 1 (16:00); list points in \
             increasing time of day, within one day"
        );
        assert!(matches!(
            AlphaSchedule::new(vec![AlphaPoint::new(t("09:00"), f64::NAN)]),
            Err(ScheduleError::AlphaOutOfRange { index: 0, .. })
        ));
    }

    #[test]
    fn configuration_values_are_validated_on_deserialize() {
        use serde::de::{value::Error, IntoDeserializer};
        use serde::Deserialize;
        let time = TimeOfDay::deserialize("09:30".into_deserializer());
        assert_eq!(time.map_err(|e: Error| e.to_string()), Ok(t("09:30")));
        let err = TimeOfDay::deserialize(IntoDeserializer::<Error>::into_deserializer("9:30"));
        assert!(err.unwrap_err().to_string().contains("time of day \"9:30\""));
        let err = Alpha::deserialize(IntoDeserializer::<Error>::into_deserializer(1.5f64));
        assert_eq!(
            err.unwrap_err().to_string(),
            "α must be in [0, 1] (1 = balance, 0 = power), got 1.5"
        );
    }

    #[test]
    fn times_of_day_parse_print_and_convert() {
        assert_eq!(t("06:30").millis(), (6 * 60 + 30) * 60_000);
        assert_eq!(t("23:59:59.999").millis(), MS_PER_DAY - 1);
        for text in ["00:00", "06:30", "19:59:59", "19:59:59.999", "23:00:00.500"] {
            assert_eq!(t(text).to_string(), text);
        }
        for bad in
            ["24:00", "9:00", "09:60", "09:00:60", "09", "", "09:00:00:00", "+9:00", "09:00.5"]
        {
            assert_eq!(bad.parse::<TimeOfDay>(), Err(TimeOfDayError::Bad { text: bad.into() }));
        }
        // 2023-11-14T22:13:20Z is 1_700_000_000 s.
        let unix_us = 1_700_000_000_000_000;
        assert_eq!(TimeOfDay::from_unix_us(unix_us, 0), t("22:13:20"));
        assert_eq!(TimeOfDay::from_unix_us(unix_us, 3600), t("23:13:20"));
        assert_eq!(TimeOfDay::from_unix_us(unix_us, 2 * 3600), t("00:13:20"));
        assert_eq!(TimeOfDay::from_unix_us(0, -3600), t("23:00"));
        assert!(TimeOfDay::from_unix_us(u64::MAX, i32::MIN).millis() < MS_PER_DAY);
        assert_eq!(TimeOfDay::from_millis(MS_PER_DAY), None);
        assert_eq!(TimeOfDay::from_hms(23, 59, 59), Some(t("23:59:59")));
    }
}
