//! The beacon receiver service: one thread owns the UDP socket, the [`Decoder`] (verification,
//! replay and skew checks, rejection counters) and the [`Receiver`] (rate estimates, count lists,
//! lost nodes), behind a mutex that status readers take briefly; selection reads the receiver's
//! two-slot queues with no lock at all ([`BeaconState::select`]).
//!
//! The controller also sets α (seed 003, FIG. 15) for the agents: [`BeaconState::set_alpha`]
//! records an override, and the receive thread answers each node's next beacon with an
//! authenticated ALPHA message from the beacon socket to the address the beacon came from,
//! re-sent every [`ALPHA_RESEND`] while it lasts, each holding for at most [`ALPHA_HOLD`]: so an
//! agent whose controller dies goes back to its own schedule within that hold. Releasing the
//! override sends each node one release.

use crate::clock::Clock;
use beacon::select::{Queues, Receiver, ReceiverConfig};
use beacon::udp::{Listener, UdpError};
use beacon::wire::{Body, Decoder, DecoderConfig, Encoder, Keyring, RejectCounters};
use beacon::{Mode, NodeId};
use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the receive service needs.
#[derive(Clone, Debug)]
pub struct BeaconConfig {
    /// UDP address to receive beacons on.
    pub listen: SocketAddr,
    /// Cluster keys.
    pub keyring: Keyring,
    /// Decoder limits (clock skew, sender table).
    pub decoder: DecoderConfig,
    /// Receiver parameters (law, lost rule, count-list timers).
    pub receiver: ReceiverConfig,
    /// How often the receive thread runs its timers when no datagram arrives.
    pub tick: Duration,
    /// The controller's own node ID: the sender of its ALPHA messages.
    pub node_id: NodeId,
}

/// How often a node is reminded of an α override while it lasts.
pub const ALPHA_RESEND: Duration = Duration::from_secs(5);
/// The longest one ALPHA message holds: an agent keeps the override at most this long after
/// the controller stops reminding it.
pub const ALPHA_HOLD: Duration = Duration::from_secs(30);

/// The α the controller sets for every agent, as the API shows it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct AlphaOverride {
    /// The α agents use instead of their schedules; `None`: their schedules apply.
    pub alpha: Option<f64>,
    /// Seconds the override still lasts; `None` with an `alpha`: until released.
    pub remaining_s: Option<f64>,
}

/// Why an α override was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum AlphaError {
    /// α outside [0, 1].
    #[error("alpha {0}: expected a finite number in [0, 1]")]
    Alpha(f64),
    /// A duration that is not a finite positive number of seconds.
    #[error("for_s {0}: expected a finite number of seconds > 0")]
    Duration(f64),
}

/// The override as the receive thread reads it: a generation number so each node is told of
/// each change once, the value, and when it ends (µs, controller clock).
#[derive(Clone, Copy, Debug, Default)]
struct AlphaSetting {
    generation: u64,
    alpha: Option<f64>,
    until_us: Option<u64>,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The socket.
    #[error(transparent)]
    Udp(#[from] UdpError),
    /// The receiver's parameters.
    #[error("beacon receiver: {0}")]
    Receiver(#[from] beacon::select::ConfigError),
    /// The thread.
    #[error("cannot start the beacon receive thread: {0}")]
    Thread(std::io::Error),
}

/// What `hearth status` shows: every known node and the rejection counters.
#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    /// Known nodes, by node ID.
    pub nodes: Vec<beacon::select::NodeStatus>,
    /// Beacons accepted.
    pub accepted: u64,
    /// Beacons rejected, by reason.
    pub rejected: RejectCounters,
    /// Verified beacons the receiver refused (bad payload value, receive time out of order).
    pub refused_by_receiver: u64,
    /// The α override agents are told of.
    pub alpha: AlphaOverride,
    /// ALPHA messages that could not be sent.
    pub alpha_send_errors: u64,
}

struct Inner {
    receiver: Receiver,
    accepted: u64,
    rejected: RejectCounters,
    refused_by_receiver: u64,
    alpha_send_errors: u64,
}

/// Shared state of the running service.
pub struct BeaconState {
    inner: Mutex<Inner>,
    queues: Arc<Queues>,
    clock: Clock,
    stop: AtomicBool,
    local_addr: SocketAddr,
    alpha: Mutex<AlphaSetting>,
}

impl BeaconState {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the counters half-written in a way that
        // matters more than losing status; keep serving.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A target for `mode`, straight from the two-slot queue: no lock, O(1).
    pub fn select(&self, mode: Mode) -> Option<NodeId> {
        self.queues.select(mode)
    }

    /// A target from the blended stream's queue (seed 003, FIG. 15): no lock, O(1).
    pub fn select_blended(&self) -> Option<NodeId> {
        self.queues.select_blended()
    }

    /// A target for `mode` whose capacity and availability cover `requirement`, falling back to
    /// the next-best estimate.
    pub fn select_fit(&self, mode: Mode, requirement: f64) -> Option<NodeId> {
        let now = self.clock.now_us();
        self.lock().receiver.select_fit(mode, requirement, now)
    }

    /// Every node's status and the counters, now.
    pub fn snapshot(&self) -> Snapshot {
        let now = self.clock.now_us();
        let inner = self.lock();
        Snapshot {
            nodes: inner.receiver.nodes(now),
            accepted: inner.accepted,
            rejected: inner.rejected,
            refused_by_receiver: inner.refused_by_receiver,
            alpha: self.alpha(),
            alpha_send_errors: inner.alpha_send_errors,
        }
    }

    /// Sets α for every agent: `Some(alpha)` for `for_s` seconds (`None`: until released), or
    /// `None` to release (agents return to their own schedules). Agents hear of it with their
    /// next beacon's answer.
    pub fn set_alpha(
        &self,
        alpha: Option<f64>,
        for_s: Option<f64>,
    ) -> Result<AlphaOverride, AlphaError> {
        if let Some(a) = alpha {
            if !(a.is_finite() && (0.0..=1.0).contains(&a)) {
                return Err(AlphaError::Alpha(a));
            }
        }
        if let Some(s) = for_s {
            if !(s.is_finite() && s > 0.0) {
                return Err(AlphaError::Duration(s));
            }
        }
        let now = self.clock.now_us();
        {
            let mut setting = self.alpha.lock().unwrap_or_else(|p| p.into_inner());
            setting.generation += 1;
            setting.alpha = alpha;
            setting.until_us =
                alpha.and(for_s).map(|s| now.saturating_add((s * 1e6).round() as u64));
        }
        Ok(self.alpha())
    }

    /// The α override now.
    pub fn alpha(&self) -> AlphaOverride {
        let now = self.clock.now_us();
        let setting = *self.alpha.lock().unwrap_or_else(|p| p.into_inner());
        match (setting.alpha, setting.until_us) {
            (Some(_), Some(until)) if until <= now => {
                AlphaOverride { alpha: None, remaining_s: None }
            }
            (alpha, until) => {
                AlphaOverride { alpha, remaining_s: until.map(|until| (until - now) as f64 / 1e6) }
            }
        }
    }

    /// The UDP address beacons are received on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Asks the receive thread to stop (it notices within one tick).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Binds the socket and starts the receive thread.
pub fn start(config: BeaconConfig) -> Result<(Arc<BeaconState>, JoinHandle<()>), StartError> {
    let mut listener = Listener::bind(config.listen, config.tick)?;
    let receiver = Receiver::new(config.receiver.clone())?;
    let state = Arc::new(BeaconState {
        queues: receiver.queues(),
        inner: Mutex::new(Inner {
            receiver,
            accepted: 0,
            rejected: RejectCounters::default(),
            refused_by_receiver: 0,
            alpha_send_errors: 0,
        }),
        clock: Clock::start(),
        stop: AtomicBool::new(false),
        local_addr: listener.local_addr(),
        alpha: Mutex::new(AlphaSetting::default()),
    });
    let mut decoder = Decoder::new(config.keyring.clone(), config.decoder);
    let mut teller = AlphaTeller {
        encoder: Encoder::new(config.node_id, state.clock.now_us()),
        keyring: config.keyring,
        told: HashMap::new(),
        send_errors: 0,
    };
    let shared = Arc::clone(&state);
    let handle = std::thread::Builder::new()
        .name("beacon-rx".into())
        .spawn(move || receive_loop(&shared, &mut listener, &mut decoder, &mut teller))
        .map_err(StartError::Thread)?;
    Ok((state, handle))
}

/// Tells nodes of the α override, answering their beacons.
struct AlphaTeller {
    encoder: Encoder,
    keyring: Keyring,
    /// Per node: the generation it was last told and when (µs).
    told: HashMap<NodeId, (u64, u64)>,
    send_errors: u64,
}

impl AlphaTeller {
    /// The ALPHA message `node` is due, if any, at `now_us`.
    fn due(&mut self, setting: AlphaSetting, node: NodeId, now_us: u64) -> Option<Body> {
        if setting.generation == 0 {
            return None; // never set: agents follow their schedules
        }
        let told = self.told.get(&node).copied();
        let body = match (setting.alpha, setting.until_us) {
            // Expired: the last message's hold runs out by itself.
            (Some(_), Some(until)) if until <= now_us => return None,
            (Some(alpha), until) => {
                let resend_us = ALPHA_RESEND.as_micros() as u64;
                let fresh = matches!(told, Some((g, at)) if g == setting.generation
                    && now_us.saturating_sub(at) < resend_us);
                if fresh {
                    return None;
                }
                let left_s = until.map_or(f64::INFINITY, |u| (u - now_us) as f64 / 1e6);
                let hold_s = left_s.min(ALPHA_HOLD.as_secs_f64());
                Body::Alpha { alpha: alpha as f32, hold_s: hold_s as f32 }
            }
            // Released: one release per node that may hold an override.
            (None, _) => {
                if told.is_none_or(|(g, _)| g == setting.generation) {
                    return None;
                }
                Body::Alpha { alpha: 0.0, hold_s: 0.0 }
            }
        };
        self.told.insert(node, (setting.generation, now_us));
        Some(body)
    }
}

fn receive_loop(
    state: &BeaconState,
    listener: &mut Listener,
    decoder: &mut Decoder,
    teller: &mut AlphaTeller,
) {
    while !state.stop.load(Ordering::Relaxed) {
        let datagram = match listener.recv() {
            Ok(d) => d,
            Err(err) => {
                // A transient socket error (e.g. ICMP feedback) must not end the service.
                eprintln!("hearth controller: {err}");
                None
            }
        };
        let now = state.clock.now_us();
        let mut inner = state.lock();
        let mut answer = None;
        if let Some((bytes, from)) = datagram {
            // A rejected datagram is counted by the decoder, by reason.
            if let Ok(message) = decoder.decode(bytes, now) {
                let setting = *state.alpha.lock().unwrap_or_else(|p| p.into_inner());
                answer = teller.due(setting, message.sender, now).map(|body| (body, from));
                {
                    inner.accepted += 1;
                    let result = match message.body {
                        Body::Ra { mode, f_ra, .. } => inner.receiver.on_beacon(
                            message.sender,
                            mode,
                            f64::from(f_ra),
                            message.timestamp_us,
                            now,
                        ),
                        Body::RaBlended { f_ra, alpha, .. } => inner.receiver.on_blended(
                            message.sender,
                            f64::from(f_ra),
                            f64::from(alpha),
                            message.timestamp_us,
                            now,
                        ),
                        Body::Capacity { total } => {
                            inner.receiver.on_capacity(message.sender, total, now)
                        }
                        // A control message for agents; another controller's, not ours to act on.
                        Body::Alpha { .. } => Ok(()),
                        // Shares are for nodes that normalize their own metric; the receiver
                        // keeps absolute capacities.
                        Body::CapacityShare { .. } => Ok(()),
                    };
                    if result.is_err() {
                        inner.refused_by_receiver += 1;
                    }
                }
            }
            inner.rejected = *decoder.counters();
        }
        inner.receiver.tick(now);
        inner.alpha_send_errors = teller.send_errors;
        drop(inner);
        if let Some((body, to)) = answer {
            match teller.encoder.encode(body, now, &teller.keyring) {
                Ok(bytes) => {
                    if listener.send_to(&bytes, to).is_err() {
                        teller.send_errors += 1;
                    }
                }
                Err(_) => teller.send_errors += 1,
            }
        }
    }
}
