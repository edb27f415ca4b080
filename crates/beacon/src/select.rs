//! The receiving side (seed 003, FIG. 14, 16, 17, 22–25): one two-entry queue per stream,
//! per-sender rate and availability estimates, the count lists, the capacity list, and the
//! selectors built on them — [`Queues::select`], [`Receiver::select_fit`], [`Receiver::lost`]
//! and [`Receiver::nodes`].
//!
//! Besides FIG. 16's two streams (balance and power), a sender may run FIG. 15's single blended
//! stream at `V = α·V_Balance + (1 − α)·V_Power` ([`Receiver::on_blended`],
//! [`Queues::select_blended`]). Its rate counts for liveness (its heartbeat is `min(k, l)·min`)
//! but not for the availability estimate, which a blended rate does not determine; count lists
//! and `select_fit` serve the two pure streams.
//!
//! # Threading split
//!
//! The receive thread owns the [`Receiver`] and is the only one to mutate it
//! ([`on_beacon`](Receiver::on_beacon), [`on_capacity`](Receiver::on_capacity),
//! [`tick`](Receiver::tick)); it is therefore the queues' single writer. Selector threads hold the
//! `Arc<Queues>` from [`Receiver::queues`] and call [`Queues::select`]: two atomic loads, no lock,
//! no allocation, never blocked by the receive thread. Queries that need the estimates
//! ([`select_fit`](Receiver::select_fit), [`lost`](Receiver::lost), [`nodes`](Receiver::nodes))
//! take `&Receiver`: run them on the receive thread, or put the `Receiver` behind a lock of the
//! caller's choosing; `select` never takes that lock.
//!
//! # Lost senders
//!
//! A sender is lost when it has been silent (no beacon and no capacity message) for more than
//! `N` (default 5) of its expected intervals. Its expected interval is `1 / its estimated beacon
//! rate` over all its streams, taken at the low end of the rate's confidence interval (so that
//! a short or unlucky window errs long), floored at its heartbeat interval and capped at twice
//! that:
//!
//! - **Floor.** The law guarantees only the heartbeat: `min` keeps every node beaconing at least
//!   at `k·min` (balance) or `l·min` (power), and a node whose availability drops slows to that
//!   at once, before any estimate can notice. Flooring at the heartbeat interval of the slowest
//!   stream the sender uses keeps a sender that is merely slower than it was from being declared
//!   lost. It also makes false losses vanishingly rare for a node on both streams (FIG. 16): it
//!   beacons at `k·f + l·min/f ≥ 2·√(k·l·min)` in total, at least 2/√min heartbeats when
//!   `k = l` (8.9 at hearth's default min = 0.05), so five heartbeat intervals are over 40 of
//!   its mean Poisson gaps (35 at 20 % loss; a live sender stays silent that long with
//!   probability e^−35 per gap).
//! - **Cap.** A rate below the heartbeat can only come from lost beacons or a short window; the
//!   interval follows it up to twice the heartbeat interval (50 % loss), so lossy links do not
//!   produce false losses either, while a cut link is still declared lost within `2·N`
//!   heartbeat intervals of its last message at worst (`N` heartbeat intervals for a node on
//!   both streams).
//!
//! A sender on one stream only, at its heartbeat rate, has no such margin: for Poisson gaps a
//! silence of `N` mean intervals has probability e^−N per gap, and at 20 % loss e^−0.8·N. The
//! low end of the rate stretches its interval towards the cap, which helps once its window has
//! settled, but right after it slows down the floor applies. In seeded ten-minute runs of a
//! balance-only sender dropping from 10 Hz to its heartbeat at 20 % loss, 31 of 300 saw a false
//! loss with gaps capped at four heartbeat intervals (hearth's agent) and none with gaps capped
//! at one; on both streams, none of 300 did, capped or not (`tests/select.rs`,
//! `senders_that_slow_to_a_heartbeat_are_not_lost`). Senders that must be watched this way
//! send both streams, as hearth's agent does.

use crate::counts::{CountLists, CountsError, Pick};
use crate::law::{Law, LawError, LawParams};
use crate::queue::TwoSlotQueue;
use crate::rate::{AvailabilityEstimate, RateEstimate, RateEstimator};
use crate::{Mode, NodeId};
use serde::{Deserialize, Serialize};
use std::collections::btree_map::{BTreeMap, Entry};
use std::sync::Arc;

/// How far a sender's expected interval may stretch beyond its heartbeat interval when its
/// beacons are lost (2: up to 50 % loss).
const LOSS_STRETCH: f64 = 2.0;

/// The streams' queues (seed 003, FIG. 16's two, plus FIG. 15's single blended stream): shared
/// by the receive thread (the writer) and any number of selector threads through an `Arc`.
#[derive(Debug, Default)]
pub struct Queues {
    /// Senders of balance beacons.
    balance: TwoSlotQueue,
    /// Senders of power beacons.
    power: TwoSlotQueue,
    /// Senders of blended beacons (`V = α·V_Balance + (1 − α)·V_Power`).
    blended: TwoSlotQueue,
}

impl Queues {
    /// Two empty queues.
    pub fn new() -> Queues {
        Queues::default()
    }

    /// The queue of one stream.
    pub fn queue(&self, mode: Mode) -> &TwoSlotQueue {
        match mode {
            Mode::Balance => &self.balance,
            Mode::Power => &self.power,
        }
    }

    /// A target for `mode` (seed 003, FIG. 14 and 22): the queue's entry, which names each sender
    /// with probability proportional to its beacon rate, so the most available nodes under
    /// `Balance` and the least available under `Power`. `None` before the first beacon of that
    /// stream. O(1): two atomic loads.
    ///
    /// The entry is the sender of one of the stream's last two beacons, however long ago: when
    /// every sender may have gone silent, check [`Receiver::lost`].
    #[inline]
    pub fn select(&self, mode: Mode) -> Option<NodeId> {
        self.queue(mode).read()
    }

    /// The blended stream's queue.
    pub fn blended_queue(&self) -> &TwoSlotQueue {
        &self.blended
    }

    /// A target from the blended stream (seed 003, FIG. 15): each sender named with probability
    /// proportional to its `V = α·V_Balance + (1 − α)·V_Power`, so the most available nodes
    /// where α is 1, the least available where α is 0. O(1), no lock, as [`select`](Self::select).
    #[inline]
    pub fn select_blended(&self) -> Option<NodeId> {
        self.blended.read()
    }
}

/// The receiver's parameters; missing fields take their defaults when deserialized.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReceiverConfig {
    /// The frequency law's constants, shared with every sender.
    pub law: LawParams,
    /// Arrivals kept per sender and stream for its rate (seed 003, FIG. 21's interval + 1); the
    /// rate's relative standard error is about `1/√(rate_window − 1)`. Default 17 (25 %).
    pub rate_window: usize,
    /// The width of confidence intervals in standard normal deviates: the reported availability
    /// intervals, and the low end of the rate the lost rule uses. Default 3 (99.7 %).
    pub confidence_z: f64,
    /// `N`: a sender silent for more than `N` of its expected intervals is lost. Default 5.
    pub lost_after_intervals: f64,
    /// The count lists' sample-timer period, in µs (FIG. 24B). Default 100 ms.
    pub sample_interval_us: u64,
    /// The count lists' list-switch-timer period, in µs (FIG. 24B). Default 60 s.
    pub switch_interval_us: u64,
    /// The most senders tracked; beacons from further ones are refused (bounded memory).
    /// Default 4 096.
    pub max_senders: usize,
}

impl ReceiverConfig {
    /// The defaults for everything but the law.
    pub fn new(law: LawParams) -> ReceiverConfig {
        ReceiverConfig {
            law,
            rate_window: 17,
            confidence_z: 3.0,
            lost_after_intervals: 5.0,
            sample_interval_us: 100_000,
            switch_interval_us: 60_000_000,
            max_senders: 4_096,
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        Law::new(self.law)?;
        let field = |field: &'static str, expected: &'static str, value: String| {
            Err(ConfigError::Field { field, expected, value })
        };
        if self.rate_window < 2 {
            return field("rate_window", "at least 2", self.rate_window.to_string());
        }
        if !(self.confidence_z.is_finite() && self.confidence_z >= 0.0) {
            return field("confidence_z", "a finite number ≥ 0", self.confidence_z.to_string());
        }
        if !(self.lost_after_intervals.is_finite() && self.lost_after_intervals > 0.0) {
            return field(
                "lost_after_intervals",
                "a finite number > 0",
                self.lost_after_intervals.to_string(),
            );
        }
        if self.max_senders == 0 {
            return field("max_senders", "at least 1", self.max_senders.to_string());
        }
        CountLists::new(self.sample_interval_us, self.switch_interval_us)?;
        Ok(())
    }
}

impl Default for ReceiverConfig {
    /// The defaults, with [`LawParams::default`].
    fn default() -> Self {
        ReceiverConfig::new(LawParams::default())
    }
}

/// A [`ReceiverConfig`] that does not validate.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// The law's constants.
    #[error("receiver config: {0}")]
    Law(#[from] LawError),
    /// The count lists' timers.
    #[error("receiver config: {0}")]
    Counts(#[from] CountsError),
    /// Another field.
    #[error("receiver config: `{field}` must be {expected}, got {value}")]
    Field {
        /// The field.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
        /// What it was.
        value: String,
    },
}

/// A message the receiver refused; the refusal changes nothing.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ReceiveError {
    /// The availability a beacon carries is not a finite number ≥ 0.
    #[error("{mode:?} beacon from node {node}: availability {value} is not a finite number ≥ 0")]
    BadAvailability {
        /// The sender.
        node: NodeId,
        /// The stream.
        mode: Mode,
        /// The payload.
        value: f64,
    },
    /// The capacity a CP message carries is not a finite number ≥ 0.
    #[error("capacity message from node {node}: capacity {value} is not a finite number ≥ 0")]
    BadCapacity {
        /// The sender.
        node: NodeId,
        /// The payload.
        value: f64,
    },
    /// A blended beacon's availability or α is not a finite number in [0, 1].
    #[error("blended beacon from node {node}: {field} {value} is not a finite number in [0, 1]")]
    BadBlended {
        /// The sender.
        node: NodeId,
        /// `availability` or `alpha`.
        field: &'static str,
        /// The payload.
        value: f64,
    },
    /// A beacon received before the previous one of its stream (the caller's clock went back).
    #[error("{stream} beacon from node {node}: received at {received_us} µs, before the previous one at {last_us} µs")]
    ReceivedBeforeLast {
        /// The sender.
        node: NodeId,
        /// The stream: `balance`, `power` or `blended`.
        stream: &'static str,
        /// This beacon's receive time.
        received_us: u64,
        /// The previous beacon's receive time.
        last_us: u64,
    },
    /// A new sender beyond [`ReceiverConfig::max_senders`].
    #[error("message from node {node}: already tracking the maximum of {max} senders")]
    TooManySenders {
        /// The sender refused.
        node: NodeId,
        /// The limit.
        max: usize,
    },
}

/// Why [`Receiver::explain_fit`] passed over a node.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reject {
    /// The queue named a node the receiver does not track (forgotten since).
    Unknown,
    /// Silent for longer than the lost threshold.
    Lost {
        /// Seconds since its last message.
        silent_s: f64,
    },
    /// No capacity message received yet.
    NoCapacity,
    /// Neither a reported nor an estimated availability yet.
    NoAvailability,
    /// Free capacity (availability × capacity) below the requirement.
    TooSmall {
        /// Its free capacity.
        free: f64,
        /// The requirement.
        requirement: f64,
    },
}

/// The outcome of [`Receiver::explain_fit`]: the choice and every node passed over, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    /// The queue's candidate, if the stream had one.
    pub candidate: Option<NodeId>,
    /// The node chosen: the candidate if it fits, else the best-ranked node that does.
    pub chosen: Option<NodeId>,
    /// Each node passed over and why (the candidate first).
    pub rejected: Vec<(NodeId, Reject)>,
}

/// What the receiver knows of one sender, for `hearth status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The sender.
    pub node_id: NodeId,
    /// The availability its beacon rates encode (both streams' ratio when it sends both, else
    /// the one stream's inverse law); `None` before a stream has two beacons, and for a sender
    /// of the blended stream only, whose rate does not determine it (its `availability_reported`
    /// is the figure).
    pub availability_estimate: Option<f64>,
    /// The estimate's confidence interval at [`ReceiverConfig::confidence_z`], `[low, high]`.
    pub availability_interval: Option<[f64; 2]>,
    /// The availability its last beacon carried.
    pub availability_reported: Option<f64>,
    /// Its capacity, from its last CP message.
    pub capacity: Option<f64>,
    /// Its beacon rate over all streams, in Hz (the sum of the three below).
    pub beacon_rate_hz: Option<f64>,
    /// Its balance-stream rate, in Hz.
    pub balance_rate_hz: Option<f64>,
    /// Its power-stream rate, in Hz.
    pub power_rate_hz: Option<f64>,
    /// Its blended-stream rate, in Hz.
    pub blended_rate_hz: Option<f64>,
    /// The α its last blended beacon carried.
    pub alpha: Option<f64>,
    /// The expected interval the lost rule uses, in seconds (see the module docs).
    pub expected_interval_s: f64,
    /// Seconds since its last message.
    pub last_seen_s: f64,
    /// The receive time minus the send time of its last beacon, in seconds: its clock's offset
    /// plus the path delay.
    pub clock_offset_s: Option<f64>,
    /// Whether it has been silent for more than `N` expected intervals.
    pub lost: bool,
}

/// The index of a mode's stream in per-stream arrays.
fn stream(mode: Mode) -> usize {
    match mode {
        Mode::Balance => 0,
        Mode::Power => 1,
    }
}

/// A mode's stream name, for messages.
fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Balance => "balance",
        Mode::Power => "power",
    }
}

/// Both modes, in stream order.
const MODES: [Mode; 2] = [Mode::Balance, Mode::Power];

/// What the receiver keeps per sender.
#[derive(Clone, Debug)]
struct Sender {
    /// Arrival times per stream.
    rates: [RateEstimator; 2],
    /// Arrival times of its blended stream.
    blended: RateEstimator,
    /// The α its last blended beacon carried.
    alpha: Option<f64>,
    /// Receive time of the last message of any kind, in µs.
    last_seen_us: u64,
    /// The availability the last beacon carried.
    reported: Option<f64>,
    /// The capacity from the last CP message.
    capacity: Option<f64>,
    /// Receive minus send time of the last beacon, in seconds.
    clock_offset_s: Option<f64>,
}

/// The receiver: queues, estimates, count lists and capacities (seed 003, FIG. 14, 16, 17,
/// 24, 25). See the module docs for which thread calls what.
#[derive(Debug)]
pub struct Receiver {
    /// The validated configuration.
    config: ReceiverConfig,
    /// The law, lifted from `config.law`.
    law: Law,
    /// The lock-free part, shared with selectors.
    queues: Arc<Queues>,
    /// Every sender heard from, by ID.
    senders: BTreeMap<NodeId, Sender>,
    /// The count lists of each stream.
    counts: [CountLists; 2],
    /// An empty estimator of the configured window, cloned for each new sender.
    empty_rate: RateEstimator,
}

impl Receiver {
    /// A receiver with empty queues and no senders.
    pub fn new(config: ReceiverConfig) -> Result<Receiver, ConfigError> {
        config.validate()?;
        let law = Law::new(config.law)?;
        let counts = CountLists::new(config.sample_interval_us, config.switch_interval_us)?;
        let empty_rate =
            RateEstimator::new(config.rate_window).map_err(|_| ConfigError::Field {
                field: "rate_window",
                expected: "at least 2",
                value: config.rate_window.to_string(),
            })?;
        Ok(Receiver {
            config,
            law,
            queues: Arc::new(Queues::new()),
            senders: BTreeMap::new(),
            counts: [counts.clone(), counts],
            empty_rate,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ReceiverConfig {
        &self.config
    }

    /// The queues, to hand to selector threads.
    pub fn queues(&self) -> Arc<Queues> {
        Arc::clone(&self.queues)
    }

    /// [`Queues::select`] on this receiver's queues.
    #[inline]
    pub fn select(&self, mode: Mode) -> Option<NodeId> {
        self.queues.select(mode)
    }

    /// How many senders the receiver tracks.
    pub fn len(&self) -> usize {
        self.senders.len()
    }

    /// Whether it tracks none.
    pub fn is_empty(&self) -> bool {
        self.senders.is_empty()
    }

    /// The sender's entry, created on its first message unless the limit is reached.
    fn sender_mut(&mut self, node: NodeId, received_us: u64) -> Result<&mut Sender, ReceiveError> {
        let max = self.config.max_senders;
        let full = self.senders.len() >= max;
        match self.senders.entry(node) {
            Entry::Occupied(entry) => Ok(entry.into_mut()),
            Entry::Vacant(_) if full => Err(ReceiveError::TooManySenders { node, max }),
            Entry::Vacant(entry) => Ok(entry.insert(Sender {
                rates: [self.empty_rate.clone(), self.empty_rate.clone()],
                blended: self.empty_rate.clone(),
                alpha: None,
                last_seen_us: received_us,
                reported: None,
                capacity: None,
                clock_offset_s: None,
            })),
        }
    }

    /// A verified beacon from `node` on the `mode` stream, carrying `availability`, sent at
    /// `sent_us` (the sender's clock) and received at `received_us` (the caller's clock, which
    /// must not go back per stream). Records the arrival for the sender's rate (seed 003,
    /// FIG. 21, on receive times as the seed does) and queues the sender (FIG. 20).
    pub fn on_beacon(
        &mut self,
        node: NodeId,
        mode: Mode,
        availability: f64,
        sent_us: u64,
        received_us: u64,
    ) -> Result<(), ReceiveError> {
        if !(availability.is_finite() && availability >= 0.0) {
            return Err(ReceiveError::BadAvailability { node, mode, value: availability });
        }
        let sender = self.sender_mut(node, received_us)?;
        sender.rates[stream(mode)].record(received_us).map_err(|_| {
            ReceiveError::ReceivedBeforeLast {
                node,
                stream: mode_name(mode),
                received_us,
                last_us: sender.rates[stream(mode)].last_us().unwrap_or(0),
            }
        })?;
        sender.last_seen_us = sender.last_seen_us.max(received_us);
        sender.reported = Some(availability);
        sender.clock_offset_s = Some((received_us as f64 - sent_us as f64) / 1e6);
        // Last, so that a selector never sees a sender the receiver has not recorded yet.
        self.queues.queue(mode).push(node);
        Ok(())
    }

    /// A verified blended beacon (RA-blended) from `node`, carrying its availability `f_ra` and
    /// the `alpha` it blends with; otherwise as [`on_beacon`](Self::on_beacon), on the blended
    /// stream's queue and rate.
    pub fn on_blended(
        &mut self,
        node: NodeId,
        f_ra: f64,
        alpha: f64,
        sent_us: u64,
        received_us: u64,
    ) -> Result<(), ReceiveError> {
        for (field, value) in [("availability", f_ra), ("alpha", alpha)] {
            if !(value.is_finite() && (0.0..=1.0).contains(&value)) {
                return Err(ReceiveError::BadBlended { node, field, value });
            }
        }
        let sender = self.sender_mut(node, received_us)?;
        sender.blended.record(received_us).map_err(|_| ReceiveError::ReceivedBeforeLast {
            node,
            stream: "blended",
            received_us,
            last_us: sender.blended.last_us().unwrap_or(0),
        })?;
        sender.last_seen_us = sender.last_seen_us.max(received_us);
        sender.reported = Some(f_ra);
        sender.alpha = Some(alpha);
        sender.clock_offset_s = Some((received_us as f64 - sent_us as f64) / 1e6);
        self.queues.blended.push(node);
        Ok(())
    }

    /// A verified capacity (CP) message from `node` (seed 003, FIG. 25A): updates the capacity
    /// list; counts as a sign of life.
    pub fn on_capacity(
        &mut self,
        node: NodeId,
        capacity: f64,
        received_us: u64,
    ) -> Result<(), ReceiveError> {
        if !(capacity.is_finite() && capacity >= 0.0) {
            return Err(ReceiveError::BadCapacity { node, value: capacity });
        }
        let sender = self.sender_mut(node, received_us)?;
        sender.capacity = Some(capacity);
        sender.last_seen_us = sender.last_seen_us.max(received_us);
        Ok(())
    }

    /// Stops tracking `node` (decommissioned); returns whether it was tracked. It can still be
    /// in a queue until two more beacons of that stream arrive.
    pub fn forget(&mut self, node: NodeId) -> bool {
        self.senders.remove(&node).is_some()
    }

    /// Runs both streams' count-list timers (see [`CountLists::tick`]); returns when to call
    /// again, in µs.
    pub fn tick(&mut self, now_us: u64) -> u64 {
        let balance = self.counts[0].tick(self.queues.queue(Mode::Balance), now_us);
        let power = self.counts[1].tick(self.queues.queue(Mode::Power), now_us);
        balance.next_due_us.min(power.next_due_us)
    }

    /// The count lists of one stream.
    pub fn counts(&self, mode: Mode) -> &CountLists {
        &self.counts[stream(mode)]
    }

    /// A target from one stream's current count list (seed 003, FIG. 24A: the largest count for
    /// a large VM, the median for an average one).
    pub fn pick(&self, mode: Mode, pick: Pick) -> Option<NodeId> {
        self.counts(mode).pick(pick)
    }

    /// The slowest the law lets a live node beacon on the `mode` stream: `k·min` (balance at
    /// `f_RA = min`) or `l·min` (power at `f_RA = 1`).
    fn heartbeat_hz(&self, mode: Mode) -> f64 {
        match mode {
            Mode::Balance => self.law.v_balance_hz(0.0),
            Mode::Power => self.law.v_power_hz(1.0),
        }
    }

    /// The slowest a live node's blended stream runs: `V = α·k·f + (1 − α)·l·min/f` is linear
    /// in α, so its least over α ∈ [0, 1] and f ∈ [min, 1] is at α ∈ {0, 1}: `min(k, l)·min`.
    fn blended_heartbeat_hz(&self) -> f64 {
        self.heartbeat_hz(Mode::Balance).min(self.heartbeat_hz(Mode::Power))
    }

    /// The expected interval in seconds for a sender whose streams have the heartbeats
    /// `heartbeats_hz` and beacon at `rate_hz` in total: `1 / rate`, floored at the heartbeat
    /// interval of the slowest of those streams and capped at [`LOSS_STRETCH`] times it (see the
    /// module docs).
    fn expected_interval_s(
        &self,
        heartbeats_hz: impl Iterator<Item = f64>,
        rate_hz: Option<f64>,
    ) -> f64 {
        let heartbeat_hz =
            heartbeats_hz.reduce(f64::min).unwrap_or_else(|| self.blended_heartbeat_hz());
        let floor_s = 1.0 / heartbeat_hz;
        match rate_hz {
            Some(rate_hz) if rate_hz > 0.0 => {
                (1.0 / rate_hz).clamp(floor_s, LOSS_STRETCH * floor_s)
            }
            _ => LOSS_STRETCH * floor_s,
        }
    }

    /// Seconds from `since_us` to `now_us` (0 if `now_us` is earlier).
    fn seconds(since_us: u64, now_us: u64) -> f64 {
        // A division, so that whole seconds come out exact.
        now_us.saturating_sub(since_us) as f64 / 1e6
    }

    /// A stream's rate, unless the stream has gone silent for more than `N` of its own expected
    /// intervals (a sender that stopped one stream keeps no stale estimate of it).
    fn stream_rate(&self, sender: &Sender, mode: Mode, now_us: u64) -> Option<RateEstimate> {
        let rates = &sender.rates[stream(mode)];
        self.fresh(rates, self.heartbeat_hz(mode), now_us)
    }

    /// A rate, unless its stream has been silent for more than `N` of its expected intervals.
    fn fresh(&self, rates: &RateEstimator, heartbeat_hz: f64, now_us: u64) -> Option<RateEstimate> {
        let estimate = rates.estimate()?;
        let low_hz = estimate.interval_hz(self.config.confidence_z).0;
        let expected_s = self.expected_interval_s([heartbeat_hz].into_iter(), Some(low_hz));
        let silent_s = Self::seconds(rates.last_us()?, now_us);
        (silent_s <= self.config.lost_after_intervals * expected_s).then_some(estimate)
    }

    /// The sender's current rate per stream.
    fn stream_rates(&self, sender: &Sender, now_us: u64) -> [Option<RateEstimate>; 2] {
        MODES.map(|mode| self.stream_rate(sender, mode, now_us))
    }

    /// The sender's expected interval (seconds) and whether it is lost at `now_us`. The rate is
    /// the one measured up to its last beacon, stale or not: once a sender falls silent its
    /// streams go stale too, and its interval must not stretch because of that.
    fn liveness(&self, sender: &Sender, now_us: u64) -> (f64, bool) {
        // The sum of the streams' lower bounds: a lower bound of the total at least as sure.
        let z = self.config.confidence_z;
        let total_low_hz = sender
            .rates
            .iter()
            .chain([&sender.blended])
            .filter_map(|r| r.estimate())
            .map(|r| r.interval_hz(z).0)
            .reduce(|a, b| a + b);
        let seen = MODES
            .into_iter()
            .filter(|&mode| !sender.rates[stream(mode)].is_empty())
            .map(|mode| self.heartbeat_hz(mode))
            .chain((!sender.blended.is_empty()).then(|| self.blended_heartbeat_hz()));
        let expected_s = self.expected_interval_s(seen, total_low_hz);
        let silent_s = Self::seconds(sender.last_seen_us, now_us);
        (expected_s, silent_s > self.config.lost_after_intervals * expected_s)
    }

    /// The availability the sender's rates encode, with its interval.
    fn estimate(&self, rates: &[Option<RateEstimate>; 2]) -> Option<AvailabilityEstimate> {
        let (law, z) = (&self.law, self.config.confidence_z);
        match rates {
            [Some(balance), Some(power)] => {
                Some(AvailabilityEstimate::from_both(law, balance, power, z))
            }
            [Some(balance), None] => {
                Some(AvailabilityEstimate::from_rate(law, Mode::Balance, balance, z))
            }
            [None, Some(power)] => {
                Some(AvailabilityEstimate::from_rate(law, Mode::Power, power, z))
            }
            [None, None] => None,
        }
    }

    /// Senders silent for more than `N` of their expected intervals at `now_us`, by ID.
    pub fn lost(&self, now_us: u64) -> Vec<NodeId> {
        self.senders
            .iter()
            .filter(|(_, sender)| self.liveness(sender, now_us).1)
            .map(|(&node, _)| node)
            .collect()
    }

    /// Every sender's status at `now_us`, by ID.
    pub fn nodes(&self, now_us: u64) -> Vec<NodeStatus> {
        self.senders
            .iter()
            .map(|(&node, sender)| {
                let rates = self.stream_rates(sender, now_us);
                let (expected_interval_s, lost) = self.liveness(sender, now_us);
                let estimate = self.estimate(&rates);
                let blended = self.fresh(&sender.blended, self.blended_heartbeat_hz(), now_us);
                let [balance, power] = rates.map(|r| r.map(|r| r.rate_hz));
                NodeStatus {
                    node_id: node,
                    availability_estimate: estimate.map(|e| e.value),
                    availability_interval: estimate.map(|e| [e.low, e.high]),
                    availability_reported: sender.reported,
                    capacity: sender.capacity,
                    beacon_rate_hz: rates
                        .iter()
                        .chain([&blended])
                        .flatten()
                        .map(|r| r.rate_hz)
                        .reduce(|a, b| a + b),
                    balance_rate_hz: balance,
                    power_rate_hz: power,
                    blended_rate_hz: blended.map(|r| r.rate_hz),
                    alpha: sender.alpha,
                    expected_interval_s,
                    last_seen_s: Self::seconds(sender.last_seen_us, now_us),
                    clock_offset_s: sender.clock_offset_s,
                    lost,
                }
            })
            .collect()
    }

    /// A target for `mode` that can take `requirement` (in capacity units): the queue's
    /// candidate if it fits, else the best-ranked node that does, `None` if none does. See
    /// [`explain_fit`](Self::explain_fit).
    pub fn select_fit(&self, mode: Mode, requirement: f64, now_us: u64) -> Option<NodeId> {
        self.fit(mode, requirement, now_us, |_, _| {})
    }

    /// [`select_fit`](Self::select_fit) with its reasons (seed 003, FIG. 25A). A node fits when
    /// it is not lost and its free capacity, availability × its CP capacity, is at least
    /// `requirement`; availability is the one its last beacon reported (exact and
    /// authenticated), else the one its rates encode. The queue's candidate is tried first (the
    /// O(1) selection); then every tracked node in the mode's order of preference: most free
    /// capacity first under `Balance` (spread the load), least free capacity that still fits
    /// first under `Power` (pack nodes so that others can power down); ties go to the lower ID.
    /// A `requirement` that is not a number fits nowhere.
    pub fn explain_fit(&self, mode: Mode, requirement: f64, now_us: u64) -> FitReport {
        let mut rejected = Vec::new();
        let chosen =
            self.fit(mode, requirement, now_us, |node, reject| rejected.push((node, reject)));
        FitReport { candidate: self.queues.select(mode), chosen, rejected }
    }

    /// The fit pipeline: candidate, then fallback ranking; `reject` hears every node passed over.
    fn fit(
        &self,
        mode: Mode,
        requirement: f64,
        now_us: u64,
        mut reject: impl FnMut(NodeId, Reject),
    ) -> Option<NodeId> {
        let candidate = self.queues.select(mode);
        if let Some(node) = candidate {
            match self
                .senders
                .get(&node)
                .ok_or(Reject::Unknown)
                .and_then(|s| self.free(s, requirement, now_us))
            {
                Ok(_) => return Some(node),
                Err(why) => reject(node, why),
            }
        }
        let mut best: Option<(f64, NodeId)> = None;
        for (&node, sender) in &self.senders {
            if Some(node) == candidate {
                continue;
            }
            match self.free(sender, requirement, now_us) {
                Err(why) => reject(node, why),
                Ok(free) => {
                    let better = match (best, mode) {
                        (None, _) => true,
                        (Some((best_free, _)), Mode::Balance) => free > best_free,
                        (Some((best_free, _)), Mode::Power) => free < best_free,
                    };
                    if better {
                        best = Some((free, node));
                    }
                }
            }
        }
        best.map(|(_, node)| node)
    }

    /// A sender's free capacity if it fits `requirement`, else why not.
    fn free(&self, sender: &Sender, requirement: f64, now_us: u64) -> Result<f64, Reject> {
        if self.liveness(sender, now_us).1 {
            return Err(Reject::Lost { silent_s: Self::seconds(sender.last_seen_us, now_us) });
        }
        let capacity = sender.capacity.ok_or(Reject::NoCapacity)?;
        let availability = sender
            .reported
            .or_else(|| self.estimate(&self.stream_rates(sender, now_us)).map(|e| e.value))
            .ok_or(Reject::NoAvailability)?;
        let free = availability * capacity;
        if free >= requirement {
            Ok(free)
        } else {
            Err(Reject::TooSmall { free, requirement })
        }
    }
}
