//! The beacon receiver service: one thread owns the UDP socket, the [`Decoder`] (verification,
//! replay and skew checks, rejection counters) and the [`Receiver`] (rate estimates, count lists,
//! lost nodes), behind a mutex that status readers take briefly; selection reads the receiver's
//! two-slot queues with no lock at all ([`BeaconState::select`]).

use crate::clock::Clock;
use beacon::select::{Queues, Receiver, ReceiverConfig};
use beacon::udp::{Listener, UdpError};
use beacon::wire::{Body, Decoder, DecoderConfig, Keyring, RejectCounters};
use beacon::{Mode, NodeId};
use serde::Serialize;
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
}

struct Inner {
    receiver: Receiver,
    accepted: u64,
    rejected: RejectCounters,
    refused_by_receiver: u64,
}

/// Shared state of the running service.
pub struct BeaconState {
    inner: Mutex<Inner>,
    queues: Arc<Queues>,
    clock: Clock,
    stop: AtomicBool,
    local_addr: SocketAddr,
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
        }),
        clock: Clock::start(),
        stop: AtomicBool::new(false),
        local_addr: listener.local_addr(),
    });
    let mut decoder = Decoder::new(config.keyring, config.decoder);
    let shared = Arc::clone(&state);
    let handle = std::thread::Builder::new()
        .name("beacon-rx".into())
        .spawn(move || receive_loop(&shared, &mut listener, &mut decoder))
        .map_err(StartError::Thread)?;
    Ok((state, handle))
}

fn receive_loop(state: &BeaconState, listener: &mut Listener, decoder: &mut Decoder) {
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
        if let Some((bytes, _from)) = datagram {
            // A rejected datagram is counted by the decoder, by reason.
            if let Ok(message) = decoder.decode(bytes, now) {
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
                        Body::Capacity { total } => {
                            inner.receiver.on_capacity(message.sender, total, now)
                        }
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
    }
}
