//! The receiving side end to end, in virtual time (seed 003, FIG. 14, 16, 17, 24, 25): five
//! senders beacon Poisson streams at the law's rates for their availabilities; the tests check
//! that `select` picks them in proportion to those rates (so in the order of their availability
//! for `Balance` and the reverse for `Power`), that the count lists and the availability
//! estimates rank them the same way, that `lost` declares a silent sender within `N` of its
//! intervals and never a live one, also with 20 % of beacons dropped, and that `select_fit`
//! falls back as documented. Every run is seeded and deterministic.

use beacon::counts::Pick;
use beacon::law::{Alpha, Law, LawParams};
use beacon::select::{
    ConfigError, FitReport, NodeStatus, ReceiveError, Receiver, ReceiverConfig, Reject,
};
use beacon::{Mode, NodeId};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The tests' seeded randomness: the workspace's SplitMix64 ([`model::rand::SplitMix64`]).
struct Rng(model::rand::SplitMix64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(model::rand::SplitMix64::new(seed))
    }

    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        self.0.unit_nonzero()
    }

    /// An exponential gap at `rate_hz`, in µs.
    fn gap_us(&mut self, rate_hz: f64) -> u64 {
        ((-self.unit().ln() / rate_hz * 1e6).round() as u64).max(1)
    }
}

const SECOND: u64 = 1_000_000;

/// The default law: k = l = 10 Hz, min = 0.05 (heartbeats 0.5 Hz on both streams).
fn law() -> Law {
    Law::new(LawParams::default()).expect("default law")
}

/// The five senders' availabilities, node `i + 1` at index `i`: spread so that neighbouring
/// rates differ by a factor of 1.7 or more on both streams.
const AVAILABILITY: [f64; 5] = [0.1, 0.2, 0.35, 0.6, 1.0];

#[derive(Clone, Copy, Debug)]
enum Kind {
    Beacon {
        node: NodeId,
        mode: Mode,
        availability: f64,
    },
    Capacity {
        node: NodeId,
        capacity: f64,
    },
    /// A selector calls `select` on both streams.
    Probe,
    /// The harness runs the count-list timers.
    Tick,
    /// The harness checks `lost` and `nodes`.
    Check,
}

#[derive(Clone, Copy, Debug)]
struct Event {
    t_us: u64,
    kind: Kind,
}

/// How a sender spaces its beacons.
#[derive(Clone, Copy, PartialEq)]
enum Gaps {
    /// Exponential: a pure Poisson stream (harsher on `lost` than the real sender).
    Poisson,
    /// Exponential, capped at this many of the stream's heartbeat intervals
    /// (`beacon::send::next_interval_s`; hearth's agent uses 4).
    Capped(f64),
}

/// The beacons `node` sends on `mode` during `[from_us, to_us)` with availability
/// `availability(t)`, each dropped with probability `loss`.
#[allow(clippy::too_many_arguments)] // a test generator: each knob is one scenario axis
fn beacons(
    rng: &mut Rng,
    node: u32,
    mode: Mode,
    availability: impl Fn(u64) -> f64,
    from_us: u64,
    to_us: u64,
    loss: f64,
    gaps: Gaps,
) -> Vec<Event> {
    let law = law();
    let heartbeat_us = match mode {
        Mode::Balance => 1e6 / law.v_balance_hz(0.0),
        Mode::Power => 1e6 / law.v_power_hz(1.0),
    } as u64;
    let mut events = Vec::new();
    let mut t_us = from_us;
    loop {
        let f = availability(t_us);
        let mut gap_us = rng.gap_us(law.v_mode_hz(mode, f));
        if let Gaps::Capped(heartbeats) = gaps {
            gap_us = gap_us.min((heartbeats * heartbeat_us as f64) as u64);
        }
        t_us += gap_us;
        if t_us >= to_us {
            return events;
        }
        if rng.unit() > loss {
            let kind = Kind::Beacon { node: NodeId(node), mode, availability: f };
            events.push(Event { t_us, kind });
        }
    }
}

/// Events at Poisson times at `rate_hz` during `[from_us, to_us)`.
fn poisson_times(rng: &mut Rng, rate_hz: f64, from_us: u64, to_us: u64, kind: Kind) -> Vec<Event> {
    let mut events = Vec::new();
    let mut t_us = from_us + rng.gap_us(rate_hz);
    while t_us < to_us {
        events.push(Event { t_us, kind });
        t_us += rng.gap_us(rate_hz);
    }
    events
}

/// Events every `period_us` during `[from_us, to_us)`.
fn every(period_us: u64, from_us: u64, to_us: u64, kind: Kind) -> Vec<Event> {
    (from_us / period_us + 1..)
        .map(|i| i * period_us)
        .take_while(|&t| t < to_us)
        .map(|t_us| Event { t_us, kind })
        .collect()
}

/// What a run observed.
#[derive(Default)]
struct Observed {
    /// Selections per stream and node.
    selected: HashMap<(Mode, NodeId), u64>,
    /// `(time, node)` for every check at which `lost` listed a node.
    lost: Vec<(u64, NodeId)>,
    /// Availability estimates checked against the truth: (covered by the interval, total).
    covered: (usize, usize),
}

/// Plays `events` in time order through `receiver`; a beacon is sent 0.3 ms before it is
/// received. At each check, runs the count-list timers, records `lost`, and compares each
/// estimate with the availability its sender last beaconed.
fn play(receiver: &mut Receiver, mut events: Vec<Event>) -> Observed {
    events.sort_by_key(|e| e.t_us);
    let mut observed = Observed::default();
    let mut truth: BTreeMap<NodeId, f64> = BTreeMap::new();
    for Event { t_us, kind } in events {
        match kind {
            Kind::Beacon { node, mode, availability } => {
                truth.insert(node, availability);
                receiver
                    .on_beacon(node, mode, availability, t_us - 300, t_us)
                    .expect("valid beacon");
            }
            Kind::Capacity { node, capacity } => {
                receiver.on_capacity(node, capacity, t_us).expect("valid capacity");
            }
            Kind::Probe => {
                for mode in [Mode::Balance, Mode::Power] {
                    if let Some(node) = receiver.select(mode) {
                        *observed.selected.entry((mode, node)).or_default() += 1;
                    }
                }
            }
            Kind::Tick => {
                receiver.tick(t_us);
            }
            Kind::Check => {
                observed.lost.extend(receiver.lost(t_us).into_iter().map(|node| (t_us, node)));
                for status in receiver.nodes(t_us) {
                    if let (Some([low, high]), Some(&f)) =
                        (status.availability_interval, truth.get(&status.node_id))
                    {
                        observed.covered.0 += usize::from(low <= f && f <= high);
                        observed.covered.1 += 1;
                    }
                }
            }
        }
    }
    observed
}

/// The five senders on both streams, with probes at 20 Hz and checks every second, over
/// `duration_us`, dropping `loss` of the beacons.
fn five_senders(
    config: ReceiverConfig,
    seed: u64,
    duration_us: u64,
    loss: f64,
) -> (Receiver, Observed) {
    let mut rng = Rng::new(seed);
    let mut events = Vec::new();
    for (i, &f) in AVAILABILITY.iter().enumerate() {
        for mode in [Mode::Balance, Mode::Power] {
            let node = i as u32 + 1;
            events.extend(beacons(
                &mut rng,
                node,
                mode,
                |_| f,
                0,
                duration_us,
                loss,
                Gaps::Poisson,
            ));
        }
    }
    for node in 1..=5 {
        // Capacity messages at start and every 30 s, dropped like beacons.
        let capacity =
            Event { t_us: 0, kind: Kind::Capacity { node: NodeId(node), capacity: 100.0 } };
        let sent =
            std::iter::once(capacity).chain(every(30 * SECOND, 0, duration_us, capacity.kind));
        events.extend(sent.filter(|_| rng.unit() > loss));
    }
    events.extend(poisson_times(&mut rng, 20.0, 0, duration_us, Kind::Probe));
    let sample_interval_us = config.sample_interval_us;
    events.extend(every(sample_interval_us, 0, duration_us, Kind::Tick));
    events.extend(every(SECOND, 0, duration_us, Kind::Check));
    let mut receiver = Receiver::new(config).expect("valid config");
    let observed = play(&mut receiver, events);
    (receiver, observed)
}

/// The nodes sorted by how often `mode` selected them, most first.
fn by_selections(observed: &Observed, mode: Mode) -> Vec<u32> {
    let mut nodes: Vec<(u64, u32)> = (1..=5)
        .map(|n| (observed.selected.get(&(mode, NodeId(n))).copied().unwrap_or(0), n))
        .collect();
    nodes.sort_by(|a, b| b.cmp(a));
    nodes.into_iter().map(|(_, n)| n).collect()
}

#[test]
fn selection_frequency_orders_senders_by_availability() {
    // Reference: seed 003, FIG. 14 and 16: the most available nodes beacon most often on the
    // balance stream and least often on the power stream, so they are selected most and least.
    // The count lists sample every 100 ms and switch every 240 s, so at the end the current
    // list holds the last 360 s: about 300 and 180 counts for the two slowest power beaconers
    // (0.83 and 0.5 Hz), over five standard deviations apart.
    let config = ReceiverConfig { switch_interval_us: 240 * SECOND, ..ReceiverConfig::default() };
    for (seed, loss) in [(1, 0.0), (2, 0.2)] {
        let (receiver, observed) = five_senders(config.clone(), seed, 600 * SECOND, loss);
        // Nodes 1..5 have increasing availability.
        assert_eq!(by_selections(&observed, Mode::Balance), vec![5, 4, 3, 2, 1], "loss {loss}");
        assert_eq!(by_selections(&observed, Mode::Power), vec![1, 2, 3, 4, 5], "loss {loss}");
        // Selection shares follow the beacon rates: node 5's balance share is 10 / 22.5.
        let balance_total: u64 =
            (1..=5).map(|n| observed.selected[&(Mode::Balance, NodeId(n))]).sum();
        let share = observed.selected[&(Mode::Balance, NodeId(5))] as f64 / balance_total as f64;
        assert!((share - 10.0 / 22.5).abs() < 0.03, "loss {loss}: node 5's share {share}");
        // The count lists rank them the same way (FIG. 24A), and `pick` reads the ends.
        for (mode, order) in [(Mode::Balance, [5, 4, 3, 2, 1]), (Mode::Power, [1, 2, 3, 4, 5])] {
            let ranking: Vec<u32> =
                receiver.counts(mode).ranking().iter().map(|c| c.node.0).collect();
            assert_eq!(ranking, order, "{mode:?} count list, loss {loss}");
            assert_eq!(receiver.pick(mode, Pick::Largest), Some(NodeId(order[0])));
            assert_eq!(receiver.pick(mode, Pick::Median), Some(NodeId(3)));
        }
        // Nobody was ever declared lost, at any of the 600 checks.
        assert_eq!(observed.lost, vec![], "loss {loss}");
    }
}

#[test]
fn availability_estimates_rank_and_cover_the_truth() {
    // Reference: seed 003, FIG. 17: receivers recover f_RA from each sender's rate. With both
    // streams the estimate is their ratio, in which the 20 % loss cancels. A window of 65
    // arrivals (relative error 12.5 % per stream) separates neighbours 1.7 times apart by
    // over four standard deviations.
    let config = ReceiverConfig { rate_window: 65, ..ReceiverConfig::default() };
    for (seed, loss) in [(3, 0.0), (4, 0.2)] {
        let (receiver, observed) = five_senders(config.clone(), seed, 300 * SECOND, loss);
        let statuses = receiver.nodes(300 * SECOND);
        let estimates: Vec<f64> =
            statuses.iter().map(|s| s.availability_estimate.expect("both streams heard")).collect();
        assert!(estimates.windows(2).all(|w| w[0] < w[1]), "loss {loss}: {estimates:?}");
        // The z = 3 interval (99.7 %) held the truth at ≥ 95 % of the 1 500 node-checks (the checks are a second apart and the estimates move slowly, so one run is a few independent draws; over 120 seeds the mean was 99.6 %, the lowest 96 %).
        let (covered, total) = observed.covered;
        assert!(total >= 1_400 && covered * 100 >= total * 95, "loss {loss}: {covered}/{total}");
        for status in &statuses {
            let reported = status.availability_reported.expect("beacons carry it");
            assert_eq!(reported, AVAILABILITY[status.node_id.0 as usize - 1]);
            let rate = status.beacon_rate_hz.expect("rates known");
            let expected_rate = (1.0 - loss) * (10.0 * reported + 0.5 / reported);
            assert!((rate / expected_rate - 1.0).abs() < 0.4, "{status:?}");
        }
    }
}

/// The first check time at which `lost` listed `node`.
fn first_lost(observed: &Observed, node: NodeId) -> Option<u64> {
    observed.lost.iter().find(|(_, n)| *n == node).map(|(t, _)| *t)
}

#[test]
fn a_silent_sender_is_lost_after_five_of_its_intervals_and_only_then() {
    // Node 3 stops at 120 s (its link is cut); the others go on, with 20 % of all beacons
    // dropped. Checks run every 100 ms.
    let (cut_us, end_us) = (120 * SECOND, 200 * SECOND);
    let mut rng = Rng::new(5);
    let mut events = Vec::new();
    for (i, &f) in AVAILABILITY.iter().enumerate() {
        let node = i as u32 + 1;
        let stop_us = if node == 3 { cut_us } else { end_us };
        for mode in [Mode::Balance, Mode::Power] {
            events.extend(beacons(&mut rng, node, mode, |_| f, 0, stop_us, 0.2, Gaps::Poisson));
        }
    }
    let last_beacon_us = events
        .iter()
        .filter(|e| matches!(e.kind, Kind::Beacon { node: NodeId(3), .. }))
        .map(|e| e.t_us)
        .max()
        .expect("node 3 beaconed");
    events.extend(every(SECOND / 10, 0, end_us, Kind::Check));
    let mut receiver = Receiver::new(ReceiverConfig::default()).expect("default config");
    // Its expected interval just before the cut: 1 / (total rate), floored at the heartbeat
    // interval of 2 s (0.5 Hz): a node on both streams never beacons slower than that.
    let observed =
        play(&mut receiver, events.iter().copied().filter(|e| e.t_us < cut_us).collect());
    let status: NodeStatus =
        receiver.nodes(cut_us).into_iter().find(|s| s.node_id == NodeId(3)).expect("tracked");
    assert_eq!(status.expected_interval_s, 2.0);
    assert!(observed.lost.is_empty());

    let mut receiver = Receiver::new(ReceiverConfig::default()).expect("default config");
    let observed = play(&mut receiver, events);
    // Declared lost at the first check after 5 intervals (10 s) of silence, not before, and
    // nobody else ever.
    let deadline_us = last_beacon_us + 10 * SECOND;
    let declared_us = first_lost(&observed, NodeId(3)).expect("node 3 declared lost");
    assert!(declared_us > deadline_us && declared_us <= deadline_us + SECOND / 10, "{declared_us}");
    assert!(observed.lost.iter().all(|(t, n)| *n == NodeId(3) && *t >= declared_us));
    assert_eq!(receiver.lost(end_us), vec![NodeId(3)]);
    let status = &receiver.nodes(end_us)[2];
    assert!(status.lost && status.last_seen_s > 10.0, "{status:?}");
    // A beacon brings it back.
    receiver.on_beacon(NodeId(3), Mode::Balance, 0.35, end_us, end_us + 1).expect("valid");
    assert!(receiver.lost(end_us + 1).is_empty());
}

#[test]
fn senders_that_slow_to_a_heartbeat_are_not_lost() {
    // "Merely slow within its interval": after a minute, node 1's load jumps (availability
    // 1.0 → 0, floored at min = 0.05) and node 2's drops (0.05 → 1.0), at once and for ten
    // minutes, long before their rate estimates can follow. Node 1's balance stream and node 2's
    // power stream slow from 10 Hz to their 0.5 Hz heartbeat; the other stream of each speeds
    // up, as the law makes it (V_Balance·V_Power = k·l·min). Gaps are capped at four heartbeat
    // intervals, as hearth's agent caps them, and 20 % of the beacons are dropped.
    let mut rng = Rng::new(6);
    let (switch_us, end_us) = (60 * SECOND, 660 * SECOND);
    let mut events = Vec::new();
    for (node, before, after) in [(1, 1.0, 0.0), (2, 0.0, 1.0)] {
        let availability = move |t_us: u64| if t_us < switch_us { before } else { after };
        for mode in [Mode::Balance, Mode::Power] {
            let gaps = Gaps::Capped(4.0);
            events.extend(beacons(&mut rng, node, mode, availability, 0, end_us, 0.2, gaps));
        }
    }
    let slow_beacons = |node: u32, slow_mode: Mode| {
        events
            .iter()
            .filter(|e| e.t_us > switch_us)
            .filter(|e| matches!(e.kind, Kind::Beacon { node: n, mode, .. } if n == NodeId(node) && mode == slow_mode))
            .count()
    };
    // Exponential gaps at 0.5 Hz capped at 8 s average 2·(1 − e^−4) = 1.96 s: 0.51 Hz, 0.41 Hz
    // after the loss, so about 245 beacons in 600 s.
    for (node, mode) in [(1, Mode::Balance), (2, Mode::Power)] {
        let n = slow_beacons(node, mode);
        assert!((200..=290).contains(&n), "node {node}: {n} {mode:?} beacons over 600 s");
    }
    events.extend(every(SECOND / 10, 0, end_us, Kind::Check));
    let mut receiver = Receiver::new(ReceiverConfig::default()).expect("default config");
    let observed = play(&mut receiver, events);
    assert_eq!(observed.lost, vec![]);
    // Their estimates followed: node 1 reads little room (truth 0.05), node 2 much (truth 1);
    // the bounds are about four standard errors of the 17-arrival windows away.
    let statuses = receiver.nodes(end_us);
    let estimate = |i: usize| statuses[i].availability_estimate.expect("both streams heard");
    assert!(estimate(0) < 0.2 && estimate(1) > 0.5, "{statuses:?}");
}

#[test]
fn a_sender_heard_once_gets_the_longest_interval() {
    // With no rate yet, the expected interval is the cap: twice the heartbeat interval.
    let mut receiver = Receiver::new(ReceiverConfig::default()).expect("default config");
    receiver.on_beacon(NodeId(9), Mode::Power, 0.5, 0, SECOND).expect("valid");
    let status = &receiver.nodes(SECOND)[0];
    assert_eq!((status.expected_interval_s, status.beacon_rate_hz), (4.0, None));
    assert!(receiver.lost(21 * SECOND).is_empty());
    assert_eq!(receiver.lost(21 * SECOND + 1), vec![NodeId(9)]);
}

/// A receiver that heard nodes 1..=5 (availability 0.1 … 1.0 reported, capacities
/// `capacities`) twice on each stream, then `last` twice more, so that both entries of each
/// queue name it.
fn fit_scenario(capacities: [Option<f64>; 5], last: u32) -> Receiver {
    let mut receiver = Receiver::new(ReceiverConfig::default()).expect("default config");
    let mut t_us = SECOND;
    for node in (1..=5).chain(1..=5).chain([last, last]) {
        for mode in [Mode::Balance, Mode::Power] {
            t_us += 1_000;
            let f = AVAILABILITY[node as usize - 1];
            receiver.on_beacon(NodeId(node), mode, f, t_us, t_us).expect("valid");
        }
    }
    for (i, capacity) in capacities.iter().enumerate() {
        if let Some(capacity) = capacity {
            receiver.on_capacity(NodeId(i as u32 + 1), *capacity, t_us).expect("valid");
        }
    }
    receiver
}

#[test]
fn select_fit_takes_the_candidate_when_it_fits() {
    // Reference: seed 003, FIG. 25A: free capacity = availability × total capacity.
    let receiver = fit_scenario([Some(100.0); 5], 4);
    assert_eq!(receiver.select(Mode::Balance), Some(NodeId(4)));
    // Node 4: 0.6 × 100 = 60 free.
    assert_eq!(receiver.select_fit(Mode::Balance, 60.0, 2 * SECOND), Some(NodeId(4)));
    let report = receiver.explain_fit(Mode::Balance, 60.0, 2 * SECOND);
    assert_eq!(
        report,
        FitReport { candidate: Some(NodeId(4)), chosen: Some(NodeId(4)), rejected: vec![] }
    );
}

#[test]
fn select_fit_falls_back_in_each_modes_order() {
    // Node 2 has no capacity message; node 5 is the queue's candidate but too small (capacity
    // 10 × 1.0 = 10 free). Free capacity: 1 → 0.1 × 100 = 10, 3 → 0.35 × 100 = 35,
    // 4 → 0.6 × 100 = 60.
    let receiver = fit_scenario([Some(100.0), None, Some(100.0), Some(100.0), Some(10.0)], 5);
    let now_us = 2 * SECOND;
    // Balance spreads load: the most free capacity that fits.
    assert_eq!(receiver.select_fit(Mode::Balance, 30.0, now_us), Some(NodeId(4)));
    // Power packs: the least free capacity that still fits.
    let report = receiver.explain_fit(Mode::Power, 30.0, now_us);
    assert_eq!(report.chosen, Some(NodeId(3)));
    assert_eq!(
        report.rejected,
        vec![
            (NodeId(5), Reject::TooSmall { free: 10.0, requirement: 30.0 }),
            (NodeId(1), Reject::TooSmall { free: 10.0, requirement: 30.0 }),
            (NodeId(2), Reject::NoCapacity),
        ]
    );
    assert_eq!(receiver.select_fit(Mode::Power, 61.0, now_us), None);
    assert_eq!(receiver.select_fit(Mode::Power, f64::NAN, now_us), None);
    // Much later, everyone is lost: nothing fits, and each rejection says why.
    let report = receiver.explain_fit(Mode::Balance, 1.0, 100 * SECOND);
    assert_eq!(report.chosen, None);
    assert!(report
        .rejected
        .iter()
        .all(|(_, why)| matches!(why, Reject::Lost { silent_s } if *silent_s > 97.0)));
    assert_eq!(report.rejected.len(), 5);
}

#[test]
fn a_forgotten_candidate_is_skipped() {
    let mut receiver = fit_scenario([Some(100.0); 5], 5);
    assert!(receiver.forget(NodeId(5)));
    assert!(!receiver.forget(NodeId(5)));
    let report = receiver.explain_fit(Mode::Balance, 1.0, 2 * SECOND);
    assert_eq!((report.candidate, report.chosen), (Some(NodeId(5)), Some(NodeId(4))));
    assert_eq!(report.rejected, vec![(NodeId(5), Reject::Unknown)]);
}

#[test]
fn bad_messages_are_refused_and_change_nothing() {
    let config = ReceiverConfig { max_senders: 2, ..ReceiverConfig::default() };
    let mut receiver = Receiver::new(config).expect("valid config");
    receiver.on_beacon(NodeId(1), Mode::Balance, 0.5, 0, 1_000).expect("valid");
    // NaN ≠ NaN, so match rather than compare.
    let refused = receiver.on_beacon(NodeId(1), Mode::Balance, f64::NAN, 0, 2_000);
    assert!(
        matches!(refused, Err(ReceiveError::BadAvailability { node: NodeId(1), mode: Mode::Balance, value }) if value.is_nan()),
        "{refused:?}"
    );
    assert_eq!(
        receiver.on_beacon(NodeId(1), Mode::Balance, 0.5, 0, 999),
        Err(ReceiveError::ReceivedBeforeLast {
            node: NodeId(1),
            stream: "balance",
            received_us: 999,
            last_us: 1_000
        })
    );
    assert_eq!(
        receiver.on_capacity(NodeId(1), -1.0, 2_000),
        Err(ReceiveError::BadCapacity { node: NodeId(1), value: -1.0 })
    );
    receiver.on_capacity(NodeId(2), 50.0, 2_000).expect("second sender");
    assert_eq!(
        receiver.on_beacon(NodeId(3), Mode::Power, 0.5, 0, 3_000),
        Err(ReceiveError::TooManySenders { node: NodeId(3), max: 2 })
    );
    assert_eq!(receiver.len(), 2);
    assert_eq!(receiver.select(Mode::Balance), Some(NodeId(1)));
    assert_eq!(receiver.select(Mode::Power), None, "refused beacons are not queued");
    let message = ReceiveError::TooManySenders { node: NodeId(3), max: 2 }.to_string();
    assert_eq!(message, "message from node 3: already tracking the maximum of 2 senders");
}

/// Plays blended streams (seed 003, FIG. 15): nodes 1–5 at the law's `V` for their availability
/// and `alpha`, for `seconds`; returns how often `select_blended` named each (probed every 10 ms)
/// and the receiver.
fn blended_run(alpha: f64, seconds: u64, seed: u64) -> (BTreeMap<u32, u64>, Receiver) {
    let law = law();
    let mut rng = Rng::new(seed);
    let mut arrivals: Vec<(u64, u32, f64)> = Vec::new();
    for (i, &f_ra) in AVAILABILITY.iter().enumerate() {
        let rate_hz = law.frequencies(f_ra, Alpha::new(alpha).expect("α in [0, 1]")).v_hz;
        let mut t = rng.gap_us(rate_hz);
        while t < seconds * SECOND {
            arrivals.push((t, i as u32 + 1, f_ra));
            t += rng.gap_us(rate_hz);
        }
    }
    arrivals.sort_by_key(|&(t, node, _)| (t, node));
    let mut receiver = Receiver::new(ReceiverConfig::default()).expect("default config");
    let mut picks = BTreeMap::new();
    let mut next = arrivals.iter().peekable();
    for probe_us in (0..seconds * SECOND).step_by(10_000) {
        while let Some(&&(t, node, f_ra)) = next.peek().filter(|a| a.0 <= probe_us) {
            receiver.on_blended(NodeId(node), f_ra, alpha, t, t).expect("valid beacon");
            next.next();
        }
        if let Some(node) = receiver.queues().select_blended() {
            *picks.entry(node.0).or_insert(0) += 1;
        }
    }
    (picks, receiver)
}

#[test]
fn the_blended_stream_selects_as_its_alpha_says() {
    let order = |picks: &BTreeMap<u32, u64>| {
        let mut nodes: Vec<u32> = picks.keys().copied().collect();
        nodes.sort_by_key(|node| std::cmp::Reverse(picks[node]));
        nodes
    };
    // α = 1 is the balance stream: most available first.
    let (picks, _) = blended_run(1.0, 600, 11);
    assert_eq!(order(&picks), vec![5, 4, 3, 2, 1], "{picks:?}");
    // α = 0 is the power stream: least available first.
    let (picks, receiver) = blended_run(0.0, 600, 12);
    assert_eq!(order(&picks), vec![1, 2, 3, 4, 5], "{picks:?}");
    // The status shows the blended rate and α, and the reported (not a rate-derived)
    // availability: a blended rate does not determine it.
    let nodes = receiver.nodes(600 * SECOND);
    for (status, &f_ra) in nodes.iter().zip(&AVAILABILITY) {
        let expected_hz = law().frequencies(f_ra, Alpha::new(0.0).expect("α")).v_hz;
        let rate_hz = status.blended_rate_hz.expect("a blended rate");
        // Within three of the estimator's standard errors, 1/√(rate_window − 1) = 25 % each.
        assert!((rate_hz / expected_hz - 1.0).abs() < 0.75, "{status:?}");
        assert_eq!(status.beacon_rate_hz, Some(rate_hz));
        assert_eq!((status.balance_rate_hz, status.power_rate_hz), (None, None));
        assert_eq!(status.alpha, Some(0.0));
        assert_eq!(status.availability_reported, Some(f_ra));
        assert_eq!(status.availability_estimate, None);
        assert!(!status.lost, "{status:?}");
    }
    // Silence: lost within N = 5 expected intervals, each at most twice the blended heartbeat
    // interval of 2 s (min(k, l)·min = 0.5 Hz).
    assert!(receiver.lost(600 * SECOND).is_empty());
    assert_eq!(receiver.lost(621 * SECOND).len(), 5);
}

#[test]
fn bad_blended_beacons_are_refused() {
    let mut receiver = Receiver::new(ReceiverConfig::default()).expect("default config");
    receiver.on_blended(NodeId(1), 0.5, 0.5, 0, 1_000).expect("valid");
    assert_eq!(
        receiver.on_blended(NodeId(1), 0.5, 1.5, 0, 2_000),
        Err(ReceiveError::BadBlended { node: NodeId(1), field: "alpha", value: 1.5 })
    );
    assert_eq!(
        receiver.on_blended(NodeId(1), 0.5, 0.5, 0, 999),
        Err(ReceiveError::ReceivedBeforeLast {
            node: NodeId(1),
            stream: "blended",
            received_us: 999,
            last_us: 1_000
        })
    );
    assert_eq!(
        ReceiveError::BadBlended { node: NodeId(1), field: "alpha", value: 1.5 }.to_string(),
        "blended beacon from node 1: alpha 1.5 is not a finite number in [0, 1]"
    );
}

#[test]
fn bad_configs_name_the_field() {
    let check = |config: ReceiverConfig, expected: &str| {
        let err = Receiver::new(config).expect_err("invalid config");
        assert_eq!(err.to_string(), expected);
    };
    let base = ReceiverConfig::default();
    check(
        ReceiverConfig { rate_window: 1, ..base.clone() },
        "receiver config: `rate_window` must be at least 2, got 1",
    );
    check(
        ReceiverConfig { lost_after_intervals: 0.0, ..base.clone() },
        "receiver config: `lost_after_intervals` must be a finite number > 0, got 0",
    );
    check(
        ReceiverConfig { switch_interval_us: 10, sample_interval_us: 10, ..base.clone() },
        "receiver config: count lists: `switch_interval_us` (10 µs) must exceed `sample_interval_us` (10 µs)",
    );
    let bad_law = ReceiverConfig { law: LawParams { min: 2.0, ..LawParams::default() }, ..base };
    assert!(matches!(Receiver::new(bad_law), Err(ConfigError::Law(_))));
}

#[test]
fn status_serializes_for_hearth_status() {
    let mut receiver = Receiver::new(ReceiverConfig::default()).expect("default config");
    for i in 0..3u64 {
        receiver
            .on_beacon(NodeId(7), Mode::Balance, 0.5, i * SECOND, i * SECOND + 250)
            .expect("valid");
    }
    receiver.on_capacity(NodeId(7), 64.0, 2 * SECOND).expect("valid");
    let json = serde_json::to_value(receiver.nodes(3 * SECOND)).expect("serializable");
    let node = &json[0];
    assert_eq!(node["node_id"], 7);
    assert_eq!(node["beacon_rate_hz"], 1.0);
    assert_eq!(node["balance_rate_hz"], 1.0);
    assert_eq!(node["power_rate_hz"], serde_json::Value::Null);
    assert_eq!(node["availability_estimate"], 0.1);
    assert_eq!(node["availability_reported"], 0.5);
    assert_eq!(node["capacity"], 64.0);
    // The last message is the beacon received at 2.000 25 s.
    assert_eq!(node["last_seen_s"], 0.99975);
    // Two intervals are too few for a confident rate (its 99.7 % lower bound is near 0): the
    // expected interval is the cap, twice the 2 s heartbeat interval.
    assert_eq!(node["expected_interval_s"], 4.0);
    assert_eq!(node["clock_offset_s"], 0.00025);
    assert_eq!(node["lost"], false);
    let back: Vec<NodeStatus> = serde_json::from_value(json).expect("round trip");
    assert_eq!(back, receiver.nodes(3 * SECOND));
}

#[test]
fn selectors_on_other_threads_see_only_senders() {
    // The threading split: a receive thread owns the receiver; selector threads share only the
    // queues and never wait for it.
    let receiver = Receiver::new(ReceiverConfig::default()).expect("default config");
    let queues = receiver.queues();
    let stop = Arc::new(AtomicBool::new(false));
    let receive = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut receiver = receiver;
            let mut t_us = 0;
            while !stop.load(Ordering::Relaxed) {
                for node in 1..=5 {
                    t_us += 10;
                    receiver
                        .on_beacon(NodeId(node), Mode::Balance, 0.5, t_us, t_us)
                        .expect("valid");
                }
            }
            receiver
        })
    };
    let selectors: Vec<_> = (0..2)
        .map(|_| {
            let queues = Arc::clone(&queues);
            std::thread::spawn(move || {
                let mut seen = 0u64;
                while seen < 50_000 {
                    if let Some(NodeId(id)) = queues.select(Mode::Balance) {
                        assert!((1..=5).contains(&id), "selected {id}");
                        seen += 1;
                    }
                }
                seen
            })
        })
        .collect();
    for selector in selectors {
        assert_eq!(selector.join().expect("selector thread"), 50_000);
    }
    stop.store(true, Ordering::Relaxed);
    let receiver = receive.join().expect("receive thread");
    assert_eq!(receiver.len(), 5);
    assert_eq!(queues.select(Mode::Power), None, "no power beacons were sent");
}

#[test]
fn config_fills_missing_fields_with_defaults_and_refuses_unknown_ones() {
    let config: ReceiverConfig = serde_json::from_str(
        r#"{"rate_window": 33, "law": {"k_hz": 20.0, "l_hz": 10.0, "min": 0.1}}"#,
    )
    .expect("a partial config");
    let expected = ReceiverConfig {
        rate_window: 33,
        law: LawParams { k_hz: 20.0, l_hz: 10.0, min: 0.1 },
        ..ReceiverConfig::default()
    };
    assert_eq!(config, expected);
    let err = serde_json::from_str::<ReceiverConfig>(r#"{"lost_after": 3}"#).expect_err("unknown");
    assert!(err.to_string().contains("unknown field `lost_after`"), "{err}");
}
