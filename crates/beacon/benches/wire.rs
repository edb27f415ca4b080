//! The receive path's per-beacon cost (issue 4, target ≥ 1 M messages/s on one core): decode +
//! verify (HMAC-SHA-256 tag, replay window, skew) + `on_beacon` (rate record and enqueue), over
//! a stream of distinct, valid beacons from 100 senders; and the traffic each node sends at the
//! default law parameters (printed once, before timing).
//!
//! Run: `cargo bench -p beacon --bench wire`. Smoke-run: `cargo test -p beacon --benches`.

use beacon::law::{Law, LawParams};
use beacon::select::{Receiver, ReceiverConfig};
use beacon::wire::{encode, Body, Decoder, DecoderConfig, Keyring, Message, MESSAGE_LEN};
use beacon::{Mode, NodeId};
use divan::counter::ItemsCount;
use divan::Bencher;

/// Bytes of IPv4 + UDP headers around each datagram.
const IP_UDP_HEADERS: usize = 28;

fn main() {
    // Traffic per node at the default law (k = l = 10 Hz, min = 0.05), both streams, one
    // receiver, for a few availabilities.
    let law = Law::new(LawParams::default()).expect("default law");
    for f_ra in [1.0, 0.5, 0.2, 0.05] {
        let rate = law.v_balance_hz(f_ra) + law.v_power_hz(f_ra);
        eprintln!(
            "f_RA {f_ra:>4}: {rate:5.2} beacons/s = {:6.1} B/s of messages, {:6.1} B/s on the wire \
             (+ IPv4/UDP headers), per receiver",
            rate * MESSAGE_LEN as f64,
            rate * (MESSAGE_LEN + IP_UDP_HEADERS) as f64
        );
    }
    divan::main();
}

const SENDERS: u32 = 100;
const BATCH: usize = 100_000;
const START_US: u64 = 1_800_000_000_000_000;

/// `BATCH` valid beacons, round-robin over the senders, 10 µs apart.
fn stream(keyring: &Keyring) -> Vec<[u8; MESSAGE_LEN]> {
    (0..BATCH)
        .map(|k| {
            let message = Message {
                sender: NodeId(k as u32 % SENDERS),
                seq: 1 + (k as u64 / u64::from(SENDERS)),
                timestamp_us: START_US + 10 * k as u64,
                body: Body::Ra { mode: Mode::Balance, f_ra: 0.5, rate_hz: 5.0 },
            };
            encode(&message, keyring).expect("a valid beacon")
        })
        .collect()
}

/// Decode + verify + enqueue, per beacon.
#[divan::bench(sample_count = 10)]
fn decode_verify_enqueue(bencher: Bencher) {
    let keyring = Keyring::new(1, &[7u8; 32]).expect("a key");
    let datagrams = stream(&keyring);
    bencher
        .counter(ItemsCount::new(BATCH))
        .with_inputs(|| {
            (
                Decoder::new(keyring.clone(), DecoderConfig::default()),
                Receiver::new(ReceiverConfig::default()).expect("default receiver"),
            )
        })
        .bench_local_values(|(mut decoder, mut receiver)| {
            for (k, bytes) in datagrams.iter().enumerate() {
                let now = START_US + 10 * k as u64;
                let message = decoder.decode(bytes, now).expect("valid");
                if let Body::Ra { mode, f_ra, .. } = message.body {
                    receiver
                        .on_beacon(message.sender, mode, f64::from(f_ra), message.timestamp_us, now)
                        .expect("accepted");
                }
            }
            assert_eq!(decoder.accepted(), BATCH as u64);
        });
}
