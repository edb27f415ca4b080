//! The agent's beacon loop (seed 003, FIG. 9–11, 15–16, 25): measure the host, compute the
//! frequency law, and send two beacon streams and the capacity messages over UDP.
//!
//! Read top-down:
//!
//! 1. **[`RateLaw`]**: the configured law. The metric's resources are storage, processor and
//!    communication, in the seed's order, plus memory when `beacon.thresholds.memory` is set.
//!    Their thresholds come from the config. Then RM → f_RA → V_Balance and V_Power, and α from
//!    the fixed value or the daily schedule at the local time of day. [`RateLaw::figures`] turns
//!    one [`Usage`] into the [`Figures`].
//! 2. **[`Schedule`]**: the four events (sample, CP, balance beacon, power beacon) and when
//!    each is next due, in monotonic time since start. Ties go in [`Event`] order: a sample
//!    comes first, so the beacons due at the same moment carry fresh figures.
//! 3. **[`Core`]**: the sans-IO agent (STYLE rule 4). It takes readings, capacities and clock
//!    readings ([`Now`]) as inputs, returns encoded messages, and keeps the [`AgentStatus`]. It
//!    reads no clock and touches no socket, so tests drive it in virtual time.
//! 4. **[`Agent`]**: the shell. It owns the [`Clock`], the [`Measure`] (the host's
//!    [`Sampler`], or a [`FakeLoad`]) and the UDP [`Sender`]. It sleeps until the core's next
//!    event, performs it, publishes the status, and stops within [`crate::clock::STOP_POLL`] of
//!    its stop flag being set.
//!
//! # Streams and timing
//!
//! Every node sends two streams, as in seed 003, FIG. 16. RA-balance beacons go at V_Balance =
//! k·f_RA and RA-power beacons at V_Power = l·min/f_RA. Each message carries f_RA and the rate
//! of its own stream (`beacon::wire::Body::Ra`). The gaps are exponential: each one is drawn by
//! [`next_interval_s`] from the time the beacon was due, so the long-run rate is exact even
//! when the thread wakes late. Receivers therefore see Poisson streams, and no two senders
//! lock into step. A new sample that changes a stream's rate redraws that stream's next gap from
//! the sample. That is exact too, because the exponential is memoryless.
//!
//! α does not set either stream's rate. In the two-stream scheme of FIG. 16 it has no role on
//! the wire. With `streams = "blended"` the agent sends FIG. 15's single stream instead:
//! RA-blended beacons at V = α·V_Balance + (1 − α)·V_Power, carrying f_RA and α. Its
//! heartbeat is min(k, l)·min (V is linear in α, so its least is at α = 0 or 1).
//!
//! **α from the controller.** α comes from the configured value or daily schedule unless the
//! controller sets it: it answers beacons with authenticated ALPHA messages (`beacon::wire`),
//! which the agent accepts only from the addresses it sends to, through the same decoder checks
//! as any beacon (tag, replay, skew). An override holds for the message's `hold_s` (the
//! controller re-sends it while it lasts; `hold_s = 0` releases it), so an agent whose
//! controller dies returns to its schedule by itself. A change of α recomputes the figures at
//! once and redraws the blended stream's next gap.
//!
//! **The heartbeat.** The law never lets a stream's rate fall below its heartbeat: k·min for
//! balance, l·min for power. Capping every gap at one heartbeat interval would distort the
//! law, though. V_Power / (l·min) = 1/f_RA, so an idle node's power stream runs at almost
//! exactly its heartbeat. An exponential stream at rate r with gaps capped at 1/r runs at
//! r / (1 − e⁻¹) ≈ 1.58·r, and a receiver would read an f_RA 37 % too low from it.
//!
//! So each stream's gaps are capped at [`STREAM_GAP_HEARTBEATS`] (4) of its heartbeat
//! intervals. That is one less than the receivers' default lost threshold (5), so a live
//! stream's silence stays below it on a lossless link. At a rate r ≥ the heartbeat rate, the cap
//! raises the rate by the factor 1 / (1 − e^(−4·r/heartbeat)), at most 1.9 %. The strict
//! guarantee holds for the node as a whole instead. If neither stream is due within
//! 1 / (min(k, l)·min) of the last RA beacon, the stream due sooner is sent at that moment. With
//! both streams the node beacons at V_Balance + V_Power ≥ 2·√(k·l·min) in total (4.5 Hz at the
//! defaults, against a 0.5 Hz heartbeat). The pull-in therefore changes about one gap in e⁻⁹
//! (≈ 10⁻⁴) at the defaults.
//!
//! # Capacity (CP)
//!
//! A CP message carries the node's total capacity. Its unit is **logical CPUs**: the number of
//! CPUs the agent may run on ([`std::thread::available_parallelism`], which honours CPU
//! affinity and cgroup quotas). Every node reports in that unit, so receivers can compare
//! nodes (seed 003, FIG. 25) and turn a node's f_RA into absolute room
//! (`beacon::law::absolute_availability`). [`CapacitySource::Fixed`] sets the capacity instead.
//! CP messages go at start, at the first sample after the capacity changes (CPU hotplug, a new
//! quota), and every `cp_interval`.

use crate::clock::{Clock, Now};
use crate::config::{self, AgentConfig, BeaconParams, ClusterKey, InvalidKey, Streams, Thresholds};
use crate::measure::{FakeLoad, Reading, Resource, Sampler, SamplerConfig, Usage};
use beacon::law::{
    Alpha, AlphaError, AlphaPoint, AlphaSchedule, AlphaSource, Law, LawError, LawParams, Metric,
    MetricError, ScheduleError, TimeOfDay, UsageError, DEFAULT_PENALTY,
};
use beacon::send::{next_interval_s, SplitMix64, Topology};
use beacon::udp::{Sender, UdpError, MAX_DATAGRAM};
use beacon::wire::{
    Body, Decoder, DecoderConfig, EncodeError, Encoder, KeyError, Keyring, MESSAGE_LEN,
};
use beacon::{Mode, NodeId};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Each stream's gaps are capped at this many of its heartbeat intervals (see the module docs:
/// a cap of one interval would distort the law by up to 58 %, a cap of four by at most 1.9 %;
/// four stays below the receivers' default of five lost intervals).
pub const STREAM_GAP_HEARTBEATS: f64 = 4.0;

/// How far behind schedule the loop catches up, at most: after a longer stall (a suspended
/// process), beacons resume at their rate instead of bursting to make up the missed ones.
pub const MAX_CATCH_UP: Duration = Duration::from_secs(1);

/// The unit of the capacity in CP messages.
pub const CAPACITY_UNIT: &str = "logical CPUs";

// ---------------------------------------------------------------------------------------------
// Errors

/// Why the agent could not start. Each message names the key or file involved.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A configuration value breaks a rule (e.g. `key_id` names no key in the file).
    #[error(transparent)]
    Config(#[from] InvalidKey),
    /// `beacon.k_hz`, `beacon.l_hz` or `beacon.min` do not make a law.
    #[error("key `beacon`: {0}")]
    Law(#[from] LawError),
    /// The thresholds do not make a metric.
    #[error("key `beacon.thresholds`: {0}")]
    Metric(#[from] MetricError),
    /// `beacon.alpha` is not in [0, 1].
    #[error("key `beacon.alpha`: {0}")]
    Alpha(#[from] AlphaError),
    /// `beacon.alpha_schedule` does not make a schedule.
    #[error("key `beacon.alpha_schedule`: {0}")]
    Schedule(#[from] ScheduleError),
    /// A schedule point's time is not a time of day.
    #[error("key `beacon.alpha_schedule[{index}].at`: {at_s} s is not a time of day")]
    ScheduleTime {
        /// The point's position, from 0.
        index: usize,
        /// Its time, seconds after midnight.
        at_s: u32,
    },
    /// The signing key is not a usable HMAC key.
    #[error("{}: key {key_id}: {source}", key_file.display())]
    Key {
        /// The key file.
        key_file: PathBuf,
        /// The key's ID.
        key_id: u8,
        /// What is wrong with it.
        source: KeyError,
    },
    /// The sending socket could not be set up.
    #[error("key `send_to`: {0}")]
    Udp(#[from] UdpError),
}

// ---------------------------------------------------------------------------------------------
// The law's inputs

/// The frequency law as configured: the metric over the measured resources with their
/// thresholds, the law's k, l and min, and where α comes from.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLaw {
    metric: Metric,
    /// The agent's resource behind each of the metric's entries, in the metric's order.
    resources: Vec<Resource>,
    law: Law,
    alpha: AlphaSource,
}

/// What the law makes of one sample (seed 003, FIG. 9, 906–914, and FIG. 15).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Figures {
    /// RA: the mean unused fraction of the metric's resources.
    pub ra: f64,
    /// The penalties, ≤ 0: −0.5 per resource above its threshold.
    pub penalty: f64,
    /// RM = RA + penalties.
    pub rm: f64,
    /// The resources above their thresholds: why the node was penalized.
    pub over_threshold: Vec<String>,
    /// f_RA = max(RM, min).
    pub f_ra: f64,
    /// α at the sample's local time of day.
    pub alpha: f64,
    /// V_Balance = k·f_RA, Hz: the balance stream's rate.
    pub v_balance_hz: f64,
    /// V_Power = l·min/f_RA, Hz: the power stream's rate.
    pub v_power_hz: f64,
    /// V = α·V_Balance + (1 − α)·V_Power, Hz: the blended stream's rate (informational with
    /// two streams).
    pub v_hz: f64,
}

impl Figures {
    /// The rate of `mode`'s stream, Hz.
    pub fn rate_hz(&self, mode: Mode) -> f64 {
        match mode {
            Mode::Balance => self.v_balance_hz,
            Mode::Power => self.v_power_hz,
        }
    }

    /// The rate of the stream `event` sends, Hz (`None` for events that send no beacon).
    pub fn event_rate_hz(&self, event: Event) -> Option<f64> {
        match event {
            Event::Balance => Some(self.v_balance_hz),
            Event::Power => Some(self.v_power_hz),
            Event::Blended => Some(self.v_hz),
            Event::Sample | Event::Capacity => None,
        }
    }
}

impl RateLaw {
    /// The law of the `[beacon]` table. The metric reads storage, processor and communication
    /// (the seed's S, P, C) and memory when it has a threshold, with the seed's penalty of 0.5.
    pub fn new(params: &BeaconParams) -> Result<RateLaw, RunError> {
        let (metric, resources) = metric_for(&params.thresholds)?;
        let law = Law::new(LawParams {
            k_hz: params.rates.k_hz,
            l_hz: params.rates.l_hz,
            min: params.rates.min,
        })?;
        Ok(RateLaw { metric, resources, law, alpha: alpha_source(&params.alpha)? })
    }

    /// The metric.
    pub fn metric(&self) -> &Metric {
        &self.metric
    }

    /// The law's k, l and min.
    pub fn law(&self) -> &Law {
        &self.law
    }

    /// Where α comes from.
    pub fn alpha(&self) -> &AlphaSource {
        &self.alpha
    }

    /// The metric's input: the use of each of its resources, in its order.
    pub fn usage_vector(&self, usage: &Usage) -> Vec<f64> {
        self.resources.iter().map(|&resource| usage.get(resource)).collect()
    }

    /// The slowest a live node's `mode` stream may run (its heartbeat): k·min for balance (at
    /// f_RA = min), l·min for power (at f_RA = 1), Hz.
    pub fn heartbeat_hz(&self, mode: Mode) -> f64 {
        let LawParams { k_hz, l_hz, min } = self.law.params();
        match mode {
            Mode::Balance => k_hz * min,
            Mode::Power => l_hz * min,
        }
    }

    /// The node's heartbeat: the slower of the two streams' heartbeats, Hz.
    pub fn node_heartbeat_hz(&self) -> f64 {
        self.heartbeat_hz(Mode::Balance).min(self.heartbeat_hz(Mode::Power))
    }

    /// The law's figures for `usage` at local time of day `time`.
    pub fn figures(&self, usage: &Usage, time: TimeOfDay) -> Result<Figures, UsageError> {
        self.figures_with_alpha(usage, self.alpha.alpha_at(time))
    }

    /// The law's figures for `usage` with α given (the controller's override).
    pub fn figures_with_alpha(&self, usage: &Usage, alpha: Alpha) -> Result<Figures, UsageError> {
        let assessment = self.metric.assess(&self.usage_vector(usage))?;
        let frequencies = self.law.frequencies(assessment.rm, alpha);
        Ok(Figures {
            ra: assessment.ra,
            // `+ 0.0` turns the −0.0 of "no penalty" into 0.0 for the status.
            penalty: assessment.penalty + 0.0,
            rm: assessment.rm,
            over_threshold: assessment.over_threshold(&self.metric).map(str::to_string).collect(),
            f_ra: frequencies.f_ra,
            alpha: frequencies.alpha,
            v_balance_hz: frequencies.v_balance_hz,
            v_power_hz: frequencies.v_power_hz,
            v_hz: frequencies.v_hz,
        })
    }
}

/// The metric the thresholds define, and the agent's resource behind each entry.
fn metric_for(thresholds: &Thresholds) -> Result<(Metric, Vec<Resource>), MetricError> {
    let mut entries = Vec::new();
    let mut resources = Vec::new();
    for resource in Resource::ALL {
        if let Some(threshold) = thresholds.get(resource) {
            entries.push(beacon::law::Resource::new(resource.name(), threshold));
            resources.push(resource);
        }
    }
    Ok((Metric::new(entries, DEFAULT_PENALTY)?, resources))
}

/// The config's α as the law's [`AlphaSource`].
fn alpha_source(alpha: &config::Alpha) -> Result<AlphaSource, RunError> {
    Ok(match alpha {
        config::Alpha::Fixed(value) => AlphaSource::Fixed(Alpha::new(*value)?),
        config::Alpha::Schedule(schedule) => {
            let mut points = Vec::with_capacity(schedule.points.len());
            for (index, point) in schedule.points.iter().enumerate() {
                let at = point
                    .at_s
                    .checked_mul(1000)
                    .and_then(TimeOfDay::from_millis)
                    .ok_or(RunError::ScheduleTime { index, at_s: point.at_s })?;
                points.push(AlphaPoint::new(at, point.alpha));
            }
            AlphaSource::Schedule(AlphaSchedule::new(points)?)
        }
    })
}

// ---------------------------------------------------------------------------------------------
// The schedule

/// Something the agent does at a time. The order is the tie-break when two are due at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// Measure the host (or take the fake load) and recompute the law.
    Sample,
    /// Send a CP message.
    Capacity,
    /// Send an RA-balance beacon.
    Balance,
    /// Send an RA-power beacon.
    Power,
    /// Send an RA-blended beacon.
    Blended,
}

impl Event {
    /// Every event, in tie-break order.
    pub const ALL: [Event; 5] =
        [Event::Sample, Event::Capacity, Event::Balance, Event::Power, Event::Blended];

    /// The beacon events.
    pub const BEACONS: [Event; 3] = [Event::Balance, Event::Power, Event::Blended];

    /// The beacon stream this event sends, if it is a beacon.
    pub fn mode(self) -> Option<Mode> {
        match self {
            Event::Balance => Some(Mode::Balance),
            Event::Power => Some(Mode::Power),
            Event::Sample | Event::Capacity | Event::Blended => None,
        }
    }

    /// Whether the event sends an RA beacon (of any stream).
    pub fn is_beacon(self) -> bool {
        matches!(self, Event::Balance | Event::Power | Event::Blended)
    }

    /// The event that sends `mode`'s beacons.
    pub fn beacon(mode: Mode) -> Event {
        match mode {
            Mode::Balance => Event::Balance,
            Mode::Power => Event::Power,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// When each [`Event`] is next due, in monotonic time since the agent started; `None` for an
/// event not scheduled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    due: [Option<Duration>; 5],
}

impl Schedule {
    /// Nothing scheduled.
    pub fn new() -> Schedule {
        Schedule::default()
    }

    /// Schedules `event` at `at`, replacing its previous time.
    pub fn set(&mut self, event: Event, at: Duration) {
        self.due[event.index()] = Some(at);
    }

    /// Unschedules `event`.
    pub fn clear(&mut self, event: Event) {
        self.due[event.index()] = None;
    }

    /// When `event` is due.
    pub fn due(&self, event: Event) -> Option<Duration> {
        self.due[event.index()]
    }

    /// The earliest scheduled event and its time; of events due at the same time, the first in
    /// [`Event`] order.
    pub fn next(&self) -> Option<(Duration, Event)> {
        Event::ALL.into_iter().filter_map(|event| self.due(event).map(|at| (at, event))).min()
    }
}

// ---------------------------------------------------------------------------------------------
// Status

/// Where the agent's figures come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Measured on the host.
    Host,
    /// Fixed by `--fake-load`.
    FakeLoad,
}

/// Counts per beacon stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PerStream {
    /// RA-balance.
    pub balance: u64,
    /// RA-power.
    pub power: u64,
    /// RA-blended.
    pub blended: u64,
}

impl PerStream {
    fn get_mut(&mut self, event: Event) -> Option<&mut u64> {
        match event {
            Event::Balance => Some(&mut self.balance),
            Event::Power => Some(&mut self.power),
            Event::Blended => Some(&mut self.blended),
            Event::Sample | Event::Capacity => None,
        }
    }
}

/// Where the α in use comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlphaOrigin {
    /// The config's fixed `beacon.alpha`.
    Fixed,
    /// The config's daily schedule.
    Schedule,
    /// The controller's ALPHA message.
    Controller,
}

impl AlphaOrigin {
    /// Where α comes from: the controller while it overrides, else the configured source.
    fn of(configured: &AlphaSource, overridden: bool) -> AlphaOrigin {
        match configured {
            _ if overridden => AlphaOrigin::Controller,
            AlphaSource::Fixed(_) => AlphaOrigin::Fixed,
            AlphaSource::Schedule(_) => AlphaOrigin::Schedule,
        }
    }
}

/// The agent's figures, as the status endpoint shows them. Figures are `None` until the first
/// sample.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentStatus {
    /// This node's ID on the wire.
    pub node_id: NodeId,
    /// Where beacons go.
    pub receivers: Vec<SocketAddr>,
    /// The key that signs them.
    pub key_id: u8,
    /// Measured or fake figures.
    pub source: Source,
    /// The zone the α schedule's local time is read in.
    pub time_zone: String,
    /// When the agent started, µs since the Unix epoch.
    pub started_unix_us: u64,
    /// Seconds since the agent started.
    pub uptime_s: f64,
    /// Samples taken.
    pub samples: u64,
    /// When the last sample was taken, µs since the Unix epoch.
    pub last_sample_unix_us: Option<u64>,
    /// The last sample's use of each resource.
    pub usage: Option<Usage>,
    /// The sources that failed in the last sample (and a failed capacity read), by resource:
    /// what is wrong, naming the file. A failed figure keeps its last good value.
    pub failures: BTreeMap<String, String>,
    /// RA.
    pub ra: Option<f64>,
    /// The penalties.
    pub penalty: Option<f64>,
    /// RM.
    pub rm: Option<f64>,
    /// The resources above their thresholds.
    pub over_threshold: Vec<String>,
    /// f_RA, as sent in every RA message.
    pub f_ra: Option<f64>,
    /// α now.
    pub alpha: Option<f64>,
    /// Where α comes from now.
    pub alpha_origin: AlphaOrigin,
    /// Seconds the controller's α override still holds (`None`: no override).
    pub alpha_override_remaining_s: Option<f64>,
    /// Which streams the agent sends.
    pub streams: Streams,
    /// The balance stream's rate, Hz.
    pub v_balance_hz: Option<f64>,
    /// The power stream's rate, Hz.
    pub v_power_hz: Option<f64>,
    /// V = α·V_Balance + (1 − α)·V_Power, Hz.
    pub v_hz: Option<f64>,
    /// Each stream's heartbeat (its slowest rate), Hz.
    pub heartbeat_hz: StreamRates,
    /// Control (ALPHA) messages accepted from the controller.
    pub control_accepted: u64,
    /// Datagrams from the controller's address refused by the decoder (bad tag, replay, …) or
    /// of a type an agent does not act on.
    pub control_rejected: u64,
    /// The capacity last sent in a CP message.
    pub capacity: Option<f64>,
    /// Its unit ([`CAPACITY_UNIT`]).
    pub capacity_unit: &'static str,
    /// RA beacons encoded and handed to the socket, per stream.
    pub beacons_sent: PerStream,
    /// How often a beacon was pulled in to keep the node's heartbeat (see the module docs).
    pub heartbeat_pulls: u64,
    /// CP messages sent.
    pub cp_sent: u64,
    /// Datagrams the socket refused, one per receiver per message.
    pub send_errors: u64,
    /// Messages that could not be encoded.
    pub encode_errors: u64,
    /// The last send or encode error.
    pub last_error: Option<String>,
}

/// A rate per stream, Hz.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct StreamRates {
    /// RA-balance.
    pub balance: f64,
    /// RA-power.
    pub power: f64,
    /// RA-blended.
    pub blended: f64,
}

/// The status as the loop last published it, shared with whoever serves it.
#[derive(Clone, Debug)]
pub struct StatusHandle(Arc<Mutex<AgentStatus>>);

impl StatusHandle {
    /// A copy of the current status.
    pub fn snapshot(&self) -> AgentStatus {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn publish(&self, status: &AgentStatus) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone_from(status);
    }
}

// ---------------------------------------------------------------------------------------------
// The core

/// What [`Core::new`] needs besides the law.
#[derive(Clone, Debug)]
pub struct CoreParams {
    /// This node.
    pub node: NodeId,
    /// The key ring whose current key signs every message.
    pub keyring: Keyring,
    /// Where beacons go (for the status).
    pub receivers: Vec<SocketAddr>,
    /// Measured or fake.
    pub source: Source,
    /// The local time zone's name (for the status).
    pub time_zone: String,
    /// How often to sample.
    pub sample_interval: Duration,
    /// How often to send CP messages.
    pub cp_interval: Duration,
    /// When the first sample is due (after a priming read, one sample interval).
    pub first_sample: Duration,
    /// The jitter's seed.
    pub jitter_seed: u64,
    /// Which streams to send.
    pub streams: Streams,
}

/// One beacon stream's state.
#[derive(Clone, Copy, Debug, Default)]
struct Stream {
    /// The rate its next gap was drawn at; `None` before the first sample.
    rate_hz: Option<f64>,
}

/// The sans-IO agent: decides what to send and when, from the inputs it is given.
#[derive(Debug)]
pub struct Core {
    law: RateLaw,
    keyring: Keyring,
    encoder: Encoder,
    /// Verifies the controller's control messages (its own replay window).
    control: Decoder,
    /// The controller's α and until when it holds (monotonic).
    alpha_override: Option<(Alpha, Duration)>,
    jitter: SplitMix64,
    schedule: Schedule,
    sample_interval: Duration,
    cp_interval: Duration,
    streams: [Stream; 3],
    figures: Option<Figures>,
    /// When the last RA beacon (either stream) went, or the start.
    last_beacon: Duration,
    status: AgentStatus,
}

/// The index of a beacon event's stream (0 for non-beacon events, which have none).
fn stream_index(event: Event) -> usize {
    match event {
        Event::Balance | Event::Sample | Event::Capacity => 0,
        Event::Power => 1,
        Event::Blended => 2,
    }
}

/// Seconds as a duration, saturating at about 10⁹ s for anything huge or not finite.
fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.clamp(0.0, 1e9)).unwrap_or(Duration::from_secs(1_000_000_000))
}

impl Core {
    /// A core that has sent nothing. `start` is the clock at start: its `unix_us` starts the
    /// sequence numbers (so a restarted agent continues above its previous run's) and stamps
    /// the status. The first sample is due at `params.first_sample`; beacons start after it.
    pub fn new(law: RateLaw, params: CoreParams, start: Now) -> Core {
        let heartbeat_hz = StreamRates {
            balance: law.heartbeat_hz(Mode::Balance),
            power: law.heartbeat_hz(Mode::Power),
            blended: law.node_heartbeat_hz(),
        };
        let alpha_origin = AlphaOrigin::of(law.alpha(), false);
        let status = AgentStatus {
            node_id: params.node,
            receivers: params.receivers,
            key_id: params.keyring.current_id(),
            source: params.source,
            time_zone: params.time_zone,
            started_unix_us: start.unix_us,
            uptime_s: 0.0,
            samples: 0,
            last_sample_unix_us: None,
            usage: None,
            failures: BTreeMap::new(),
            ra: None,
            penalty: None,
            rm: None,
            over_threshold: Vec::new(),
            f_ra: None,
            alpha: None,
            alpha_origin,
            alpha_override_remaining_s: None,
            streams: params.streams,
            v_balance_hz: None,
            v_power_hz: None,
            v_hz: None,
            heartbeat_hz,
            control_accepted: 0,
            control_rejected: 0,
            capacity: None,
            capacity_unit: CAPACITY_UNIT,
            beacons_sent: PerStream::default(),
            heartbeat_pulls: 0,
            cp_sent: 0,
            send_errors: 0,
            encode_errors: 0,
            last_error: None,
        };
        let mut schedule = Schedule::new();
        schedule.set(Event::Sample, params.first_sample);
        Core {
            law,
            control: Decoder::new(params.keyring.clone(), DecoderConfig::default()),
            alpha_override: None,
            keyring: params.keyring,
            encoder: Encoder::new(params.node, start.unix_us),
            jitter: SplitMix64::new(params.jitter_seed),
            schedule,
            sample_interval: params.sample_interval,
            cp_interval: params.cp_interval,
            streams: [Stream::default(); 3],
            figures: None,
            last_beacon: start.mono,
            status,
        }
    }

    /// The law this core computes.
    pub fn law(&self) -> &RateLaw {
        &self.law
    }

    /// The figures of the last sample.
    pub fn figures(&self) -> Option<&Figures> {
        self.figures.as_ref()
    }

    /// The status.
    pub fn status(&self) -> &AgentStatus {
        &self.status
    }

    /// The schedule.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The next event and when it is due. The sample is always scheduled, so there is one.
    pub fn next_event(&self) -> (Duration, Event) {
        self.schedule.next().unwrap_or((self.sample_interval, Event::Sample))
    }

    /// A new capacity reading. A valid capacity that differs from the last one sent schedules a
    /// CP message now; a failed read is listed in the status under `capacity`.
    pub fn on_capacity(&mut self, capacity: Result<f64, String>, now: Now) {
        match capacity {
            Ok(total) if total.is_finite() && total > 0.0 => {
                self.status.failures.remove("capacity");
                if self.status.capacity != Some(total) {
                    self.status.capacity = Some(total);
                    self.schedule.set(Event::Capacity, now.mono);
                }
            }
            Ok(total) => {
                self.status.failures.insert(
                    "capacity".into(),
                    format!(
                        "capacity must be a finite number of {CAPACITY_UNIT} above 0, got {total}"
                    ),
                );
            }
            Err(message) => {
                self.status.failures.insert("capacity".into(), message);
            }
        }
    }

    /// A sample: updates the figures and the status, reschedules a stream whose rate changed,
    /// and schedules the next sample one interval after this one was due.
    pub fn on_sample(&mut self, reading: &Reading, now: Now) {
        let due = self.schedule.due(Event::Sample).unwrap_or(now.mono);
        let mut next = due + self.sample_interval;
        if next <= now.mono {
            // Fell a whole interval behind: keep the cadence from now.
            next = now.mono + self.sample_interval;
        }
        self.schedule.set(Event::Sample, next);

        self.status.samples += 1;
        self.status.last_sample_unix_us = Some(now.unix_us);
        self.status.usage = Some(reading.usage);
        self.status.failures.retain(|resource, _| resource == "capacity");
        for failure in &reading.failures {
            self.status.failures.insert(failure.resource.name().into(), failure.error.to_string());
        }
        self.refigure(&reading.usage, now);
    }

    /// Recomputes the figures from `usage` with the α in force at `now`, reschedules every
    /// stream whose rate changed, and updates the status.
    fn refigure(&mut self, usage: &Usage, now: Now) {
        if self.alpha_override.is_some_and(|(_, until)| until <= now.mono) {
            self.alpha_override = None;
        }
        let alpha = match self.alpha_override {
            Some((alpha, _)) => alpha,
            None => {
                self.law.alpha().alpha_at(TimeOfDay::from_unix_us(now.unix_us, now.utc_offset_s))
            }
        };
        let figures = match self.law.figures_with_alpha(usage, alpha) {
            Ok(figures) => figures,
            Err(err) => {
                // Cannot happen for a Reading (its figures are fractions); keep the old rates.
                self.status.failures.insert("metric".into(), err.to_string());
                return;
            }
        };
        self.status.failures.remove("metric");
        let events: &[Event] = match self.status.streams {
            Streams::Both => &[Event::Balance, Event::Power],
            Streams::Blended => &[Event::Blended],
        };
        for &event in events {
            let Some(rate_hz) = figures.event_rate_hz(event) else { continue };
            let stream = &mut self.streams[stream_index(event)];
            if stream.rate_hz != Some(rate_hz) {
                stream.rate_hz = Some(rate_hz);
                // Memoryless: redrawing the gap from now at the new rate is exact.
                let gap = self.draw(event, rate_hz);
                self.schedule.set(event, now.mono + gap);
            }
        }
        self.status.alpha_override_remaining_s =
            self.alpha_override.map(|(_, until)| until.saturating_sub(now.mono).as_secs_f64());
        self.status.alpha_origin = AlphaOrigin::of(self.law.alpha(), self.alpha_override.is_some());
        let status = &mut self.status;
        status.ra = Some(figures.ra);
        status.penalty = Some(figures.penalty);
        status.rm = Some(figures.rm);
        status.over_threshold.clone_from(&figures.over_threshold);
        status.f_ra = Some(figures.f_ra);
        status.alpha = Some(figures.alpha);
        status.v_balance_hz = Some(figures.v_balance_hz);
        status.v_power_hz = Some(figures.v_power_hz);
        status.v_hz = Some(figures.v_hz);
        self.figures = Some(figures);
        self.keep_heartbeat();
    }

    /// A gap of `event`'s stream at `rate_hz`: exponential, capped at
    /// [`STREAM_GAP_HEARTBEATS`] heartbeat intervals.
    fn draw(&mut self, event: Event, rate_hz: f64) -> Duration {
        let heartbeat_hz = match event.mode() {
            Some(mode) => self.law.heartbeat_hz(mode),
            None => self.law.node_heartbeat_hz(),
        };
        let cap_rate_hz = heartbeat_hz / STREAM_GAP_HEARTBEATS;
        // Both rates are positive and finite (the law guarantees it); fall back to the
        // heartbeat interval rather than stop beaconing if that ever breaks.
        let gap_s = next_interval_s(rate_hz, cap_rate_hz, &mut self.jitter)
            .unwrap_or(1.0 / self.law.node_heartbeat_hz());
        seconds(gap_s)
    }

    /// Pulls the sooner beacon in if neither stream is due within the node's heartbeat
    /// interval of the last beacon (see the module docs).
    fn keep_heartbeat(&mut self) {
        let deadline = self.last_beacon + seconds(1.0 / self.law.node_heartbeat_hz());
        let sooner = Event::BEACONS
            .into_iter()
            .filter_map(|event| self.schedule.due(event).map(|at| (at, event)))
            .min();
        if let Some((at, event)) = sooner {
            if at > deadline {
                self.schedule.set(event, deadline);
                self.status.heartbeat_pulls += 1;
            }
        }
    }

    /// A send event is due: returns the encoded message (`None` for [`Event::Sample`], for a
    /// stream with no rate yet, or when encoding failed, which the status counts) and schedules
    /// the event's next occurrence.
    pub fn on_send(&mut self, event: Event, now: Now) -> Option<[u8; MESSAGE_LEN]> {
        let due = self.schedule.due(event).unwrap_or(now.mono);
        // Draw the next gap from when this one was due, so waking late does not slow the
        // stream; but never catch up more than MAX_CATCH_UP.
        let base = due.max(now.mono.saturating_sub(MAX_CATCH_UP));
        let body = match (event, event.mode()) {
            (Event::Sample, _) => return None,
            (Event::Capacity, _) => {
                let Some(total) = self.status.capacity else {
                    // Only a valid capacity schedules a CP message; unschedule rather than spin.
                    self.schedule.clear(event);
                    return None;
                };
                self.schedule.set(Event::Capacity, base + self.cp_interval);
                Body::Capacity { total }
            }
            (Event::Balance | Event::Power | Event::Blended, mode) => {
                let rate_hz = self.streams[stream_index(event)].rate_hz;
                let figures = self.figures.as_ref().map(|f| (f.f_ra, f.alpha));
                let (Some(rate_hz), Some((f_ra, alpha))) = (rate_hz, figures) else {
                    // A stream is scheduled only once a sample gave it a rate.
                    self.schedule.clear(event);
                    return None;
                };
                let gap = self.draw(event, rate_hz);
                self.schedule.set(event, base + gap);
                self.last_beacon = now.mono;
                self.keep_heartbeat();
                // f32 on the wire: f_RA ∈ [min, 1], α and the rate are well within its range.
                match mode {
                    Some(mode) => Body::Ra { mode, f_ra: f_ra as f32, rate_hz: rate_hz as f32 },
                    None => Body::RaBlended {
                        f_ra: f_ra as f32,
                        alpha: alpha as f32,
                        rate_hz: rate_hz as f32,
                    },
                }
            }
        };
        match self.encoder.encode(body, now.unix_us, &self.keyring) {
            Ok(bytes) => Some(bytes),
            Err(err) => {
                self.record_encode_error(&err);
                None
            }
        }
    }

    fn record_encode_error(&mut self, err: &EncodeError) {
        self.status.encode_errors += 1;
        self.status.last_error = Some(err.to_string());
    }

    /// Records that `event`'s message went to the socket and `failed` receivers refused it.
    pub fn on_sent(&mut self, event: Event, failed: usize, receivers: usize) {
        match self.status.beacons_sent.get_mut(event) {
            Some(count) => *count += 1,
            None if event == Event::Capacity => self.status.cp_sent += 1,
            None => {}
        }
        if failed > 0 {
            self.status.send_errors += failed as u64;
            self.status.last_error = Some(format!(
                "{} message: {failed} of {receivers} receivers refused the datagram",
                match event {
                    Event::Balance => "RA-balance",
                    Event::Power => "RA-power",
                    Event::Blended => "RA-blended",
                    Event::Capacity => "CP",
                    Event::Sample => "sample",
                }
            ));
        }
    }

    /// A datagram from the controller's address: an ALPHA message sets or releases the α
    /// override and recomputes the figures at once; anything else (a bad tag, a replay, a type
    /// an agent does not act on) is counted in `control_rejected`.
    pub fn on_control(&mut self, bytes: &[u8], now: Now) {
        let message = match self.control.decode(bytes, now.unix_us) {
            Ok(message) => message,
            Err(reject) => {
                self.status.control_rejected += 1;
                self.status.last_error = Some(format!("control message refused: {reject}"));
                return;
            }
        };
        let Body::Alpha { alpha, hold_s } = message.body else {
            self.status.control_rejected += 1;
            self.status.last_error = Some(format!(
                "control message refused: a {} message from node {} is not for agents",
                message.body.message_type().name(),
                message.sender
            ));
            return;
        };
        self.status.control_accepted += 1;
        self.alpha_override = if hold_s > 0.0 {
            // The decoder checked α ∈ [0, 1] and hold_s finite.
            Alpha::new(f64::from(alpha))
                .ok()
                .map(|alpha| (alpha, now.mono + seconds(f64::from(hold_s))))
        } else {
            None
        };
        if let Some(usage) = self.status.usage {
            self.refigure(&usage, now);
        }
    }

    /// Stamps the status with the uptime.
    pub fn tick(&mut self, now: Now) {
        self.status.uptime_s =
            now.unix_us.saturating_sub(self.status.started_unix_us) as f64 * 1e-6;
    }
}

// ---------------------------------------------------------------------------------------------
// The shell

/// Where the figures come from.
#[derive(Debug)]
pub enum Measure {
    /// The host's `/proc`, `/sys` and `statvfs`.
    Host(Box<Sampler>),
    /// Fixed figures (`--fake-load`).
    Fake(FakeLoad),
    /// Figures another part of the process sets (`hearth demo`: the simulated host's load).
    Shared(SharedLoad),
}

/// A load another thread sets and the agent reads at every sample (the demo's simulated hosts).
#[derive(Clone, Debug)]
pub struct SharedLoad(Arc<Mutex<FakeLoad>>);

impl SharedLoad {
    /// Starts at `load`.
    pub fn new(load: FakeLoad) -> SharedLoad {
        SharedLoad(Arc::new(Mutex::new(load)))
    }

    /// Replaces the figures.
    pub fn set(&self, load: FakeLoad) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = load;
    }

    fn get(&self) -> FakeLoad {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Measure {
    /// The config's choice: its fake load if it has one, else the host.
    pub fn from_config(config: &AgentConfig) -> Measure {
        match config.fake_load {
            Some(fake) => Measure::Fake(fake),
            None => Measure::Host(Box::new(Sampler::new(SamplerConfig::new(
                config.storage_path.clone(),
                config.interface.clone(),
                config.nominal_bandwidth_mbit_s,
            )))),
        }
    }

    /// Measured or fake.
    pub fn source(&self) -> Source {
        match self {
            Measure::Host(_) => Source::Host,
            Measure::Fake(_) | Measure::Shared(_) => Source::FakeLoad,
        }
    }

    /// One reading; `now` is monotonic time (rates divide by it).
    pub fn reading(&mut self, now: Duration) -> Reading {
        match self {
            Measure::Host(sampler) => sampler.sample(now),
            Measure::Fake(fake) => fake.reading(),
            Measure::Shared(load) => load.get().reading(),
        }
    }
}

/// Where the capacity in CP messages comes from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CapacitySource {
    /// The logical CPUs the agent may run on (affinity and cgroup quota included).
    LogicalCpus,
    /// A fixed capacity, in the cluster's unit.
    Fixed(f64),
}

impl CapacitySource {
    /// The capacity now, or why it could not be read.
    pub fn read(&self) -> Result<f64, String> {
        match self {
            CapacitySource::LogicalCpus => std::thread::available_parallelism()
                .map(|cpus| cpus.get() as f64)
                .map_err(|err| format!("cannot count the logical CPUs: {err}")),
            CapacitySource::Fixed(total) => Ok(*total),
        }
    }
}

/// Choices the config file does not hold.
#[derive(Clone, Debug)]
pub struct Options {
    /// The capacity in CP messages.
    pub capacity: CapacitySource,
    /// A load set by the embedding process, instead of the config's source.
    pub load: Option<SharedLoad>,
}

impl Default for Options {
    /// Capacity in logical CPUs; the config's load source.
    fn default() -> Options {
        Options { capacity: CapacitySource::LogicalCpus, load: None }
    }
}

/// The running agent: the core, its clock, its measurement and its socket.
#[derive(Debug)]
pub struct Agent {
    core: Core,
    clock: Clock,
    measure: Measure,
    sender: Sender,
    capacity: CapacitySource,
    status: StatusHandle,
    start: Now,
}

impl Agent {
    /// Sets the agent up from a validated config and its signing key: the law, the key ring,
    /// the sending socket and the clock. Nothing is sent until [`Agent::run`].
    pub fn new(
        config: &AgentConfig,
        key: &ClusterKey,
        options: Options,
    ) -> Result<Agent, RunError> {
        let law = RateLaw::new(&config.beacon)?;
        let keyring = Keyring::new(key.id, key.bytes()).map_err(|source| RunError::Key {
            key_file: config.key_file.clone(),
            key_id: key.id,
            source,
        })?;
        let topology = match config.send_to.as_slice() {
            [one] => Topology::One(*one),
            many => Topology::Many(many.to_vec()),
        };
        let sender = Sender::new(&topology)?;
        let measure = match options.load {
            Some(load) => Measure::Shared(load),
            None => Measure::from_config(config),
        };
        let clock = Clock::start();
        let start = clock.now();
        let first_sample = match measure {
            // A rate needs two reads: the priming read at start, the first sample one interval on.
            Measure::Host(_) => config.sample_interval,
            Measure::Fake(_) | Measure::Shared(_) => Duration::ZERO,
        };
        let params = CoreParams {
            node: NodeId(config.node_id),
            keyring,
            receivers: config.send_to.clone(),
            source: measure.source(),
            time_zone: clock.zone_name().to_string(),
            sample_interval: config.sample_interval,
            cp_interval: config.cp_interval,
            first_sample,
            // Different per node and per start, so no two agents draw the same gaps.
            jitter_seed: (u64::from(config.node_id) << 32) ^ start.unix_us,
            streams: config.streams,
        };
        let core = Core::new(law, params, start);
        let status = StatusHandle(Arc::new(Mutex::new(core.status().clone())));
        Ok(Agent { core, clock, measure, sender, capacity: options.capacity, status, start })
    }

    /// The status the loop publishes after every event.
    pub fn status(&self) -> StatusHandle {
        self.status.clone()
    }

    /// One line for the operator: node, receivers, the law, and for a fake load its rates.
    pub fn describe(&self) -> String {
        let law = self.core.law();
        let LawParams { k_hz, l_hz, min } = law.law().params();
        let receivers: Vec<String> =
            self.sender.receivers().iter().map(|a| a.to_string()).collect();
        let mut line = format!(
            "node {} sending to {}; V_Balance = {k_hz}·f_RA Hz, V_Power = {l_hz}·{min}/f_RA Hz \
             (heartbeats {} Hz, {} Hz)",
            self.core.status().node_id,
            receivers.join(", "),
            law.heartbeat_hz(Mode::Balance),
            law.heartbeat_hz(Mode::Power),
        );
        match &self.measure {
            Measure::Fake(fake) => {
                let time = TimeOfDay::from_unix_us(self.start.unix_us, self.start.utc_offset_s);
                if let Ok(f) = law.figures(&fake.usage, time) {
                    line += &format!(
                        "; fake load {fake}: f_RA {:.3}, V_Balance {:.3} Hz, V_Power {:.3} Hz",
                        f.f_ra, f.v_balance_hz, f.v_power_hz
                    );
                }
            }
            Measure::Host(_) => line += "; measuring this host",
            Measure::Shared(_) => line += "; load set by the embedding process",
        }
        line
    }

    /// Runs until `stop` is set (noticed within [`crate::clock::STOP_POLL`]): sends a CP
    /// message, then samples, beacons and re-sends CP messages on schedule.
    pub fn run(mut self, stop: &AtomicBool) {
        let now = self.clock.now();
        if let Measure::Host(sampler) = &mut self.measure {
            sampler.prime(now.mono);
        }
        self.core.on_capacity(self.capacity.read(), now);
        self.publish(now);
        loop {
            let (at, event) = self.core.next_event();
            if !self.wait_until(at, stop) {
                return;
            }
            let now = self.clock.now();
            match event {
                Event::Sample => {
                    let reading = self.measure.reading(now.mono);
                    self.core.on_capacity(self.capacity.read(), now);
                    self.core.on_sample(&reading, now);
                }
                Event::Capacity | Event::Balance | Event::Power | Event::Blended => {
                    if let Some(bytes) = self.core.on_send(event, now) {
                        let failed = self.sender.send(&bytes);
                        self.core.on_sent(event, failed, self.sender.receivers().len());
                    }
                }
            }
            self.publish(now);
        }
    }

    /// Waits until `at` (monotonic), handing the controller's datagrams to the core as they
    /// come; `false` when `stop` was set first (noticed within [`crate::clock::STOP_POLL`]).
    fn wait_until(&mut self, at: Duration, stop: &AtomicBool) -> bool {
        let mut buf = [0u8; MAX_DATAGRAM];
        loop {
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return false;
            }
            let elapsed = self.clock.elapsed();
            if elapsed >= at {
                return true;
            }
            let wait = (at - elapsed).min(crate::clock::STOP_POLL);
            match self.sender.recv_reply(&mut buf, wait) {
                Ok(Some((bytes, _from))) => {
                    let now = self.clock.now();
                    self.core.on_control(bytes, now);
                    self.publish(now);
                }
                Ok(None) => {}
                Err(err) => {
                    // A socket that cannot wait must not turn this loop into a spin.
                    self.core.status.last_error = Some(err.to_string());
                    if !self.clock.sleep_until(elapsed + wait, stop) {
                        return false;
                    }
                }
            }
        }
    }

    fn publish(&mut self, now: Now) {
        self.core.tick(now);
        self.status.publish(self.core.status());
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AlphaPoint as ConfigPoint, AlphaSchedule as ConfigSchedule, RateParams};
    use crate::measure::{Failure, MeasureError};
    use beacon::wire::{verify, Message};

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    fn usage(storage: f64, processor: f64, communication: f64, memory: f64) -> Usage {
        Usage { storage, processor, communication, memory }
    }

    fn params(alpha: config::Alpha) -> BeaconParams {
        BeaconParams { alpha, ..BeaconParams::default() }
    }

    /// Reference: seed 003, FIG. 9 (904–914): S = 0.6, P = 0.4, C = 0.5 gives RA = 0.5, no
    /// penalty at the default thresholds (0.8), f_RA = 0.5, V_Balance = 5 Hz, V_Power = 1 Hz.
    /// Memory is not in the default metric, so its (high) use changes nothing.
    #[test]
    fn seed_example_from_usage_and_default_thresholds() {
        let law = RateLaw::new(&params(config::Alpha::Fixed(1.0))).unwrap();
        let u = usage(0.6, 0.4, 0.5, 0.99);
        assert_eq!(law.usage_vector(&u), [0.6, 0.4, 0.5]);
        let f = law.figures(&u, TimeOfDay::MIDNIGHT).unwrap();
        assert!(close(f.ra, 0.5) && close(f.rm, 0.5) && close(f.f_ra, 0.5), "{f:?}");
        assert_eq!(f.penalty, 0.0);
        assert!(f.over_threshold.is_empty());
        assert!(close(f.v_balance_hz, 5.0) && close(f.v_power_hz, 1.0));
        assert!(close(f.alpha, 1.0) && close(f.v_hz, 5.0));
    }

    /// Reference: seed 003, FIG. 9 (908): each resource above its threshold costs 0.5; a memory
    /// threshold adds memory as a fourth resource.
    #[test]
    fn thresholds_set_the_penalties_and_memory_joins_the_metric() {
        let mut beacon = params(config::Alpha::Fixed(0.0));
        beacon.thresholds =
            Thresholds { storage: 0.5, processor: 0.9, communication: 0.9, memory: Some(0.7) };
        let law = RateLaw::new(&beacon).unwrap();
        let names: Vec<&str> = law.metric().resources().iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["storage", "processor", "communication", "memory"]);
        let u = usage(0.6, 0.4, 0.5, 0.8);
        assert_eq!(law.usage_vector(&u), [0.6, 0.4, 0.5, 0.8]);
        let f = law.figures(&u, TimeOfDay::MIDNIGHT).unwrap();
        assert!(close(f.ra, (0.4 + 0.6 + 0.5 + 0.2) / 4.0), "{f:?}");
        assert!(close(f.penalty, -1.0));
        assert_eq!(f.over_threshold, ["storage", "memory"]);
        // RM = 0.425 − 1 < min: clamped to min = 0.05, the heartbeat on balance, l on power.
        assert!(close(f.f_ra, 0.05) && close(f.v_balance_hz, 0.5) && close(f.v_power_hz, 10.0));
        assert!(close(f.v_hz, f.v_power_hz), "α = 0 is pure power");
    }

    /// Reference: seed 003, FIG. 15: α = 1 from 9:00 to 16:00, 0 from 20:00 to 6:30.
    #[test]
    fn alpha_follows_the_schedule_at_the_local_time_of_day() {
        let law = RateLaw::new(&BeaconParams::default()).unwrap();
        let at = |h, m| TimeOfDay::from_hms(h, m, 0).unwrap();
        let u = usage(0.2, 0.3, 0.1, 0.0);
        assert_eq!(law.figures(&u, at(12, 0)).unwrap().alpha, 1.0);
        assert_eq!(law.figures(&u, at(23, 0)).unwrap().alpha, 0.0);
        let mid = law.figures(&u, at(18, 0)).unwrap();
        assert!(close(mid.alpha, 0.5), "{mid:?}");
        assert!(close(mid.v_hz, 0.5 * mid.v_balance_hz + 0.5 * mid.v_power_hz));
        // A custom schedule, and a schedule point that is not a time of day.
        let one = ConfigSchedule { points: vec![ConfigPoint { at_s: 3600, alpha: 0.25 }] };
        let law = RateLaw::new(&params(config::Alpha::Schedule(one))).unwrap();
        assert_eq!(law.figures(&u, at(3, 0)).unwrap().alpha, 0.25);
        let bad = ConfigSchedule { points: vec![ConfigPoint { at_s: 90_000, alpha: 0.5 }] };
        let err = RateLaw::new(&params(config::Alpha::Schedule(bad))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "key `beacon.alpha_schedule[0].at`: 90000 s is not a time of day"
        );
        let err = RateLaw::new(&params(config::Alpha::Fixed(2.0))).unwrap_err();
        assert!(err.to_string().starts_with("key `beacon.alpha`: "), "{err}");
        let beacon = BeaconParams {
            rates: RateParams { k_hz: 0.0, ..RateParams::default() },
            ..BeaconParams::default()
        };
        let err = RateLaw::new(&beacon).unwrap_err();
        assert!(err.to_string().contains("k_hz"), "{err}");
    }

    #[test]
    fn schedule_orders_by_time_then_by_event() {
        let mut schedule = Schedule::new();
        assert_eq!(schedule.next(), None);
        let ms = Duration::from_millis;
        schedule.set(Event::Power, ms(10));
        schedule.set(Event::Balance, ms(10));
        schedule.set(Event::Capacity, ms(30));
        schedule.set(Event::Sample, ms(20));
        assert_eq!(schedule.next(), Some((ms(10), Event::Balance)));
        schedule.set(Event::Balance, ms(40));
        assert_eq!(schedule.next(), Some((ms(10), Event::Power)));
        schedule.set(Event::Power, ms(30));
        assert_eq!(schedule.next(), Some((ms(20), Event::Sample)));
        schedule.set(Event::Sample, ms(30));
        // Sample, CP and power all at 30 ms: the sample first, so beacons carry fresh figures.
        assert_eq!(schedule.next(), Some((ms(30), Event::Sample)));
        schedule.set(Event::Sample, ms(31));
        assert_eq!(schedule.next(), Some((ms(30), Event::Capacity)));
    }

    // --- The core in virtual time -------------------------------------------------------------

    const KEY: [u8; 32] = [7; 32];

    fn core_with(beacon: &BeaconParams, fake: Usage, first_sample: Duration) -> (Core, FakeLoad) {
        core_streams(beacon, fake, first_sample, Streams::Both)
    }

    fn core_streams(
        beacon: &BeaconParams,
        fake: Usage,
        first_sample: Duration,
        streams: Streams,
    ) -> (Core, FakeLoad) {
        let law = RateLaw::new(beacon).unwrap();
        let params = CoreParams {
            node: NodeId(7),
            keyring: Keyring::new(3, &KEY).unwrap(),
            receivers: vec!["127.0.0.1:7070".parse().unwrap()],
            source: Source::FakeLoad,
            time_zone: "UTC".into(),
            sample_interval: Duration::from_secs(1),
            cp_interval: Duration::from_secs(60),
            first_sample,
            jitter_seed: 42,
            streams,
        };
        (Core::new(law, params, at(Duration::ZERO)), FakeLoad { usage: fake })
    }

    /// A virtual clock reading: noon UTC on 2024-01-01, plus `mono`.
    fn at(mono: Duration) -> Now {
        let noon_us = 1_704_110_400_000_000u64;
        Now { mono, unix_us: noon_us + mono.as_micros() as u64, utc_offset_s: 0 }
    }

    /// Everything a core sends over `horizon` of virtual time, as decoded messages with their
    /// event and time; samples read `reading(t)`.
    fn drive(
        core: &mut Core,
        horizon: Duration,
        mut reading: impl FnMut(Duration) -> Reading,
    ) -> Vec<(Duration, Event, Message)> {
        let keyring = Keyring::new(3, &KEY).unwrap();
        let mut sent = Vec::new();
        core.on_capacity(Ok(4.0), at(Duration::ZERO));
        loop {
            let (due, event) = core.next_event();
            if due > horizon {
                return sent;
            }
            let now = at(due);
            match event {
                Event::Sample => core.on_sample(&reading(due), now),
                _ => {
                    if let Some(bytes) = core.on_send(event, now) {
                        core.on_sent(event, 0, 1);
                        sent.push((due, event, verify(&bytes, &keyring).unwrap()));
                    }
                }
            }
        }
    }

    #[test]
    fn cp_at_start_then_beacons_after_the_first_sample_with_increasing_sequence_numbers() {
        let beacon = params(config::Alpha::Fixed(1.0));
        let (mut core, fake) =
            core_with(&beacon, usage(0.2, 0.3, 0.1, 0.0), Duration::from_secs(1));
        let sent = drive(&mut core, Duration::from_secs(10), |_| fake.reading());
        // CP first, at start, before any sample; no RA beacon before the first sample at 1 s.
        assert_eq!((sent[0].0, sent[0].1), (Duration::ZERO, Event::Capacity));
        assert_eq!(sent[0].2.body, Body::Capacity { total: 4.0 });
        assert!(sent[1..]
            .iter()
            .all(|(t, e, _)| *t >= Duration::from_secs(1) && e.mode().is_some()));
        // One sequence counter across all types, +1 per message; times never go backwards.
        for pair in sent.windows(2) {
            assert_eq!(pair[1].2.seq, pair[0].2.seq + 1);
            assert!(pair[1].0 >= pair[0].0);
            assert!(pair[1].2.timestamp_us >= pair[0].2.timestamp_us);
        }
        assert!(sent.iter().all(|(_, _, m)| m.sender == NodeId(7)));
        // f_RA 0.8: V_Balance 8 Hz, V_Power 0.625 Hz, carried in every RA message.
        let (_, _, m) = sent.iter().find(|(_, e, _)| *e == Event::Power).unwrap();
        assert_eq!(m.body, Body::Ra { mode: Mode::Power, f_ra: 0.8, rate_hz: 0.625 });
        let (_, _, m) = sent.iter().find(|(_, e, _)| *e == Event::Balance).unwrap();
        assert_eq!(m.body, Body::Ra { mode: Mode::Balance, f_ra: 0.8, rate_hz: 8.0 });
        let status = core.status();
        assert_eq!(status.cp_sent, 1);
        assert_eq!(status.beacons_sent.balance + status.beacons_sent.power + 1, sent.len() as u64);
        assert!(close(status.f_ra.unwrap(), 0.8), "{:?}", status.f_ra);
        assert_eq!(status.samples, 10);
    }

    /// Reference: seed 003, FIG. 15: one stream at V = α·V_Balance + (1 − α)·V_Power, carrying
    /// f_RA and α; its count over a long virtual run is V × time within 4 Poisson standard
    /// deviations, and no balance or power beacon goes.
    #[test]
    fn the_blended_stream_runs_at_v_and_carries_alpha() {
        let beacon = params(config::Alpha::Fixed(0.25));
        let (mut core, fake) =
            core_streams(&beacon, usage(0.2, 0.3, 0.1, 0.0), Duration::ZERO, Streams::Blended);
        let horizon_s = 2000.0;
        let sent = drive(&mut core, seconds(horizon_s), |_| fake.reading());
        let f = core.figures().unwrap().clone();
        // f_RA 0.8: V = 0.25·8 + 0.75·0.625 = 2.46875 Hz.
        assert!(close(f.v_hz, 2.468_75), "{f:?}");
        let blended: Vec<_> = sent.iter().filter(|(_, e, _)| *e == Event::Blended).collect();
        assert!(
            sent.iter().all(|(_, e, _)| matches!(e, Event::Blended | Event::Capacity)),
            "CP and blended beacons only"
        );
        let expected = f.v_hz * horizon_s;
        let n = blended.len() as f64;
        assert!((n - expected).abs() < 4.0 * expected.sqrt(), "{n} vs {expected}");
        let Body::RaBlended { f_ra, alpha, rate_hz } = blended[0].2.body else {
            panic!("an RA-blended body: {:?}", blended[0].2.body);
        };
        assert!((f64::from(f_ra) - 0.8).abs() < 1e-4 && (f64::from(alpha) - 0.25).abs() < 1e-4);
        assert!((f64::from(rate_hz) - f.v_hz).abs() < 1e-5);
        let status = core.status();
        assert_eq!(status.beacons_sent.blended as f64, n);
        assert_eq!((status.beacons_sent.balance, status.beacons_sent.power), (0, 0));
        assert_eq!(status.streams, Streams::Blended);
    }

    /// The controller's ALPHA messages: set α at once (the blended rate follows), hold for
    /// their `hold_s`, release with `hold_s = 0`; replays, forgeries and other types are
    /// counted and change nothing.
    #[test]
    fn the_controller_sets_alpha_for_a_while() {
        let beacon = params(config::Alpha::Fixed(1.0));
        let (mut core, fake) =
            core_streams(&beacon, usage(0.2, 0.3, 0.1, 0.0), Duration::ZERO, Streams::Blended);
        let ring = Keyring::new(3, &KEY).unwrap();
        let mut controller = Encoder::new(NodeId(0), 1);
        let mut send = |body: Body, now: Now| controller.encode(body, now.unix_us, &ring).unwrap();
        let s = |secs: u64| at(Duration::from_secs(secs));
        core.on_sample(&fake.reading(), s(0));
        assert_eq!(core.status().alpha_origin, AlphaOrigin::Fixed);
        assert!(close(core.figures().unwrap().v_hz, 8.0));

        let set = send(Body::Alpha { alpha: 0.0, hold_s: 30.0 }, s(1));
        core.on_control(&set, s(1));
        let status = core.status();
        assert_eq!((status.alpha, status.alpha_origin), (Some(0.0), AlphaOrigin::Controller));
        assert_eq!(status.alpha_override_remaining_s, Some(30.0));
        assert!(close(core.figures().unwrap().v_hz, 0.625), "V = V_Power at α = 0");
        // The blended beacon was redrawn at the new rate and carries the new α.
        let due = core.schedule().due(Event::Blended).unwrap();
        let bytes = core.on_send(Event::Blended, at(due)).unwrap();
        assert!(matches!(
            verify(&bytes, &ring).unwrap().body,
            Body::RaBlended { alpha, .. } if alpha == 0.0
        ));

        // A replay of the same message, a forgery and a beacon type are refused.
        core.on_control(&set, s(2));
        let forger = Keyring::new(3, &[9; 32]).unwrap();
        let forged = Encoder::new(NodeId(0), 100)
            .encode(Body::Alpha { alpha: 1.0, hold_s: 5.0 }, s(2).unix_us, &forger)
            .unwrap();
        core.on_control(&forged, s(2));
        core.on_control(&send(Body::Capacity { total: 1.0 }, s(2)), s(2));
        assert_eq!((core.status().control_accepted, core.status().control_rejected), (1, 3));
        assert_eq!(core.status().alpha, Some(0.0));

        // The hold runs out: the first sample after it returns to the configured α.
        core.on_sample(&fake.reading(), s(30));
        assert_eq!(core.status().alpha_origin, AlphaOrigin::Controller);
        core.on_sample(&fake.reading(), s(31));
        assert_eq!(
            (core.status().alpha, core.status().alpha_origin),
            (Some(1.0), AlphaOrigin::Fixed)
        );
        assert_eq!(core.status().alpha_override_remaining_s, None);

        // Set again, then released by hold_s = 0.
        core.on_control(&send(Body::Alpha { alpha: 0.5, hold_s: 30.0 }, s(40)), s(40));
        assert_eq!(core.status().alpha, Some(0.5));
        core.on_control(&send(Body::Alpha { alpha: 0.5, hold_s: 0.0 }, s(41)), s(41));
        assert_eq!(
            (core.status().alpha, core.status().alpha_origin),
            (Some(1.0), AlphaOrigin::Fixed)
        );
        assert_eq!(core.status().control_accepted, 3);
    }

    /// Reference: seed 003, FIG. 16 (two streams at V_Balance and V_Power) and FIG. 10
    /// (receivers read availability from the rate): over a long virtual run, each stream's count
    /// is its rate × time within 4 standard deviations of a Poisson count, for a busy, a middling
    /// and an idle node (the last runs its power stream at 1.05 × its heartbeat, where a gap cap of
    /// one heartbeat interval would have run it over 50 % fast).
    #[test]
    fn stream_rates_are_the_law_rates_over_virtual_time() {
        let beacon = params(config::Alpha::Fixed(0.5));
        let horizon_s = 4000.0;
        for load in
            [usage(0.7, 0.75, 0.7, 0.0), usage(0.2, 0.3, 0.1, 0.0), usage(0.05, 0.05, 0.05, 0.0)]
        {
            let (mut core, fake) = core_with(&beacon, load, Duration::ZERO);
            let sent = drive(&mut core, seconds(horizon_s), |_| fake.reading());
            let f = core.figures().unwrap().clone();
            for (event, rate_hz) in [(Event::Balance, f.v_balance_hz), (Event::Power, f.v_power_hz)]
            {
                let n = sent.iter().filter(|(_, e, _)| *e == event).count() as f64;
                let expected = rate_hz * horizon_s;
                assert!(
                    (n - expected).abs() < 4.0 * expected.sqrt(),
                    "{load:?} {event:?}: {n} beacons, expected {expected:.0} ({rate_hz} Hz)"
                );
            }
            // CP at start and every 60 s.
            let cps = sent.iter().filter(|(_, e, _)| *e == Event::Capacity).count();
            assert_eq!(cps, 1 + (horizon_s / 60.0) as usize);
        }
    }

    /// The node's heartbeat (the module docs): no gap between RA beacons exceeds
    /// 1 / (min(k, l)·min), whatever the streams draw.
    #[test]
    fn the_node_is_never_silent_longer_than_its_heartbeat_interval() {
        let mut beacon = params(config::Alpha::Fixed(1.0));
        // k = l = 1 Hz, min = 0.5: at f_RA = 1 the power stream sits at its heartbeat (0.5 Hz)
        // and the node beacons at 1.5 Hz in all, so a 2 s silence (e⁻³ of gaps) is common
        // enough to exercise the pull-in. At the defaults it is e⁻⁹ (module docs).
        beacon.rates = RateParams { k_hz: 1.0, l_hz: 1.0, min: 0.5 };
        let (mut core, fake) = core_with(&beacon, usage(0.0, 0.0, 0.0, 0.0), Duration::ZERO);
        let horizon_s = 20_000.0;
        let sent = drive(&mut core, seconds(horizon_s), |_| fake.reading());
        let beacons: Vec<Duration> =
            sent.iter().filter(|(_, e, _)| e.mode().is_some()).map(|(t, _, _)| *t).collect();
        let longest = beacons.windows(2).map(|w| w[1] - w[0]).max().unwrap();
        assert!(longest <= Duration::from_secs(2), "a {longest:?} silence");
        let pulls = core.status().heartbeat_pulls as f64;
        let n = beacons.len() as f64;
        assert!(pulls > 0.01 * n, "{pulls} pull-ins in {n} beacons");
        // Pulling a beacon in shortens one gap: the total rate rises above 1.5 Hz, but only by
        // a few percent even here.
        let rate_hz = n / horizon_s;
        assert!((1.5..1.65).contains(&rate_hz), "{rate_hz} Hz");
    }

    #[test]
    fn a_rate_change_reschedules_the_streams_and_failures_are_reported() {
        let beacon = params(config::Alpha::Fixed(1.0));
        let (mut core, _) = core_with(&beacon, usage(0.0, 0.0, 0.0, 0.0), Duration::ZERO);
        let busy = Duration::from_secs(100);
        let failing = |t: Duration| {
            let mut reading = FakeLoad {
                usage: if t < busy { usage(0.0, 0.0, 0.0, 0.0) } else { usage(0.9, 0.9, 0.9, 0.0) },
            }
            .reading();
            reading.failures.push(Failure {
                resource: Resource::Communication,
                error: MeasureError::NoPreviousSample { path: "/proc/net/dev".into() },
            });
            reading
        };
        let sent = drive(&mut core, Duration::from_secs(200), failing);
        let count = |event, from: Duration, to: Duration| {
            sent.iter().filter(|(t, e, _)| *e == event && *t >= from && *t < to).count() as f64
        };
        // Idle: 10 Hz balance, 0.5 Hz power. Busy (all three over 0.8: f_RA = min): the reverse.
        let s = Duration::from_secs;
        assert!((count(Event::Balance, s(0), s(100)) - 1000.0).abs() < 130.0);
        assert!((count(Event::Balance, s(101), s(200)) - 50.0).abs() < 30.0);
        assert!((count(Event::Power, s(101), s(200)) - 990.0).abs() < 130.0);
        let status = core.status();
        assert_eq!(status.f_ra, Some(0.05));
        assert_eq!(status.over_threshold, ["storage", "processor", "communication"]);
        assert_eq!(
            status.failures.get("communication").map(String::as_str),
            Some("/proc/net/dev: no previous sample yet (a rate needs two reads)")
        );
    }

    #[test]
    fn capacity_changes_send_cp_now_and_bad_capacities_are_reported() {
        let beacon = params(config::Alpha::Fixed(1.0));
        let (mut core, fake) = core_with(&beacon, usage(0.2, 0.3, 0.1, 0.0), Duration::ZERO);
        let t = |s| at(Duration::from_secs(s));
        core.on_capacity(Ok(8.0), t(0));
        assert_eq!(core.schedule().due(Event::Capacity), Some(Duration::ZERO));
        let bytes = core.on_send(Event::Capacity, t(0)).unwrap();
        let keyring = Keyring::new(3, &KEY).unwrap();
        assert_eq!(verify(&bytes, &keyring).unwrap().body, Body::Capacity { total: 8.0 });
        assert_eq!(core.schedule().due(Event::Capacity), Some(Duration::from_secs(60)));
        // The same capacity again changes nothing; a new one is due at once.
        core.on_capacity(Ok(8.0), t(5));
        assert_eq!(core.schedule().due(Event::Capacity), Some(Duration::from_secs(60)));
        core.on_capacity(Ok(6.0), t(7));
        assert_eq!(core.schedule().due(Event::Capacity), Some(Duration::from_secs(7)));
        core.on_capacity(Err("cannot count the logical CPUs: no".into()), t(8));
        core.on_capacity(Ok(f64::NAN), t(9));
        assert!(core.status().failures["capacity"].contains("got NaN"));
        core.on_sample(&fake.reading(), t(9));
        assert!(core.status().failures.contains_key("capacity"), "kept across samples");
        core.on_capacity(Ok(6.0), t(10));
        assert!(!core.status().failures.contains_key("capacity"));
        // Refused datagrams are counted and explained.
        core.on_sent(Event::Balance, 2, 3);
        assert_eq!(core.status().send_errors, 2);
        assert_eq!(
            core.status().last_error.as_deref(),
            Some("RA-balance message: 2 of 3 receivers refused the datagram")
        );
        assert_eq!(core.on_send(Event::Sample, t(10)), None);
    }
}
