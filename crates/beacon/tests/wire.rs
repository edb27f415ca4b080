//! The wire format against its specification (docs/beacon-wire.md): the document's worked
//! example, round trips, every rejection reason, key rotation, and a fixed-seed fuzz-style run
//! of the decoder (STYLE.md rule 14) whose every outcome is checked against a model of the
//! specification's check order.

use beacon::wire::{
    encode, verify, Body, Decoder, DecoderConfig, EncodeError, Encoder, Keyring, Message,
    MessageType, Reject, RejectCounters, RejectKind, MESSAGE_LEN, REPLAY_WINDOW,
};
use beacon::{Mode, NodeId};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const SPEC: &str = include_str!("../../../docs/beacon-wire.md");

/// 2023-11-14T22:13:20Z, the example's timestamp.
const T0_US: u64 = 1_700_000_000_000_000;

fn example_key() -> Vec<u8> {
    (0u8..32).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).expect("the example is ASCII");
            assert_eq!(pair.len(), 2, "odd hex length in {text:?}");
            u8::from_str_radix(pair, 16).expect("hex digits")
        })
        .collect()
}

/// The hex in the fenced block after `<!-- wire-example -->` in docs/beacon-wire.md.
fn spec_example_hex() -> &'static str {
    let after = SPEC.split("<!-- wire-example -->").nth(1).expect("the spec marks its example");
    let mut lines = after.lines().map(str::trim).filter(|line| !line.is_empty());
    assert_eq!(lines.next(), Some("```text"), "the marker is followed by a text block");
    lines.next().expect("the example's hex line")
}

/// HMAC-SHA-256 over `bytes[..31]`, first 16 bytes: the tag, computed here independently of
/// the crate.
fn tag(key: &[u8], bytes: &[u8]) -> [u8; 16] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(&bytes[..31]);
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

fn ra(mode: Mode, f_ra: f32, rate_hz: f32) -> Body {
    Body::Ra { mode, f_ra, rate_hz }
}

fn kind(result: &Result<Message, Reject>) -> Option<RejectKind> {
    result.as_ref().err().map(Reject::kind)
}

// ---------------------------------------------------------------------------------------------
// The specification's example

/// Reference: docs/beacon-wire.md, "Worked example" (seed 003, FIG. 9 numbers).
#[test]
fn spec_example_decodes_and_encodes_to_the_same_bytes() {
    let bytes = unhex(spec_example_hex());
    assert_eq!(bytes.len(), MESSAGE_LEN);
    let ring = Keyring::new(1, &example_key()).unwrap();
    let expected = Message {
        sender: NodeId(7),
        seq: 42,
        timestamp_us: T0_US,
        body: ra(Mode::Balance, 0.5, 5.0),
    };
    let mut decoder = Decoder::new(ring.clone(), DecoderConfig::default());
    assert_eq!(decoder.decode(&bytes, T0_US + 1_000_000), Ok(expected));
    assert_eq!(encode(&expected, &ring).unwrap().as_slice(), bytes.as_slice());
    assert_eq!(tag(&example_key(), &bytes), bytes[31..]);
    // "the same bytes again are `replayed`; with any bit of bytes 3..47 flipped they are
    // `bad_tag`".
    assert_eq!(kind(&decoder.decode(&bytes, T0_US)), Some(RejectKind::Replayed));
    for bit in 3 * 8..47 * 8 {
        let mut flipped = bytes.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(kind(&decoder.decode(&flipped, T0_US)), Some(RejectKind::BadTag), "bit {bit}");
    }
    assert_eq!(decoder.accepted(), 1);
    assert_eq!(decoder.counters().replayed, 1);
    assert_eq!(decoder.counters().bad_tag, 44 * 8);
}

/// The spec's field-by-field table of the example spells the same bytes as its hex block,
/// and the HMAC it quotes is the real one.
#[test]
fn spec_example_table_matches_the_hex() {
    let section = SPEC.split("## Worked example").nth(1).expect("a worked-example section");
    let table_hex: String = section
        .lines()
        .filter(|line| line.starts_with("| "))
        .filter(|line| !line.starts_with("| bytes") && !line.starts_with("| ---"))
        .filter_map(|line| line.split('|').nth(2))
        .map(|cell| cell.trim().trim_matches('`').to_owned())
        .collect();
    assert_eq!(table_hex, spec_example_hex());
    let bytes = unhex(spec_example_hex());
    let mut mac = Hmac::<Sha256>::new_from_slice(&example_key()).unwrap();
    mac.update(&bytes[..31]);
    let full = hex(&mac.finalize().into_bytes());
    assert!(section.contains(&full), "the spec quotes HMAC {full}");
    assert!(SPEC.contains("exactly **47 bytes**") && MESSAGE_LEN == 47);
}

// ---------------------------------------------------------------------------------------------
// Round trips

#[test]
fn every_type_round_trips_through_encoder_and_decoder() {
    let ring = Keyring::new(3, &[9; 32]).unwrap();
    let mut encoder = Encoder::new(NodeId(12), T0_US);
    let mut decoder = Decoder::new(ring.clone(), DecoderConfig::default());
    let bodies = [
        ra(Mode::Balance, 1.0, 10.0),
        ra(Mode::Power, 0.05, 10.0),
        Body::Capacity { total: 3.5e12 },
        Body::CapacityShare { node: NodeId(u32::MAX), share: 0.0 },
        ra(Mode::Balance, 0.0, f32::MIN_POSITIVE),
    ];
    for (idx, body) in bodies.into_iter().enumerate() {
        let now = T0_US + idx as u64 * 100_000;
        let bytes = encoder.encode(body, now, &ring).unwrap();
        let message = decoder.decode(&bytes, now + 2_000).unwrap();
        assert_eq!(message.body, body);
        assert_eq!(
            (message.sender, message.seq, message.timestamp_us),
            (NodeId(12), T0_US + idx as u64, now)
        );
        assert_eq!(MessageType::from_byte(bytes[1]), Some(body.message_type()));
    }
    assert_eq!(decoder.accepted(), 5);
    assert_eq!(decoder.counters().total(), 0);
    assert_eq!(decoder.highest_seq(NodeId(12)), Some(T0_US + 4));
}

// ---------------------------------------------------------------------------------------------
// Each rejection reason

struct Bench {
    ring: Keyring,
    decoder: Decoder,
    encoder: Encoder,
}

impl Bench {
    fn new() -> Bench {
        let ring = Keyring::new(1, &[1; 32]).unwrap();
        let config = DecoderConfig { max_skew_us: 1_000_000, max_senders: 4 };
        Bench {
            decoder: Decoder::new(ring.clone(), config),
            ring,
            encoder: Encoder::new(NodeId(5), 1_000),
        }
    }

    fn next(&mut self) -> [u8; MESSAGE_LEN] {
        self.encoder.encode(ra(Mode::Power, 0.3, 2.0), T0_US, &self.ring).unwrap()
    }

    fn message(&self, sender: u32, seq: u64, timestamp_us: u64) -> [u8; MESSAGE_LEN] {
        let body = Body::Capacity { total: 64.0 };
        encode(&Message { sender: NodeId(sender), seq, timestamp_us, body }, &self.ring).unwrap()
    }

    #[track_caller]
    fn check(&mut self, bytes: &[u8], expect: Option<RejectKind>) -> Result<Message, Reject> {
        let before = *self.decoder.counters();
        let accepted = self.decoder.accepted();
        let result = self.decoder.decode(bytes, T0_US);
        assert_eq!(kind(&result), expect, "{result:?}");
        // Exactly one counter moved, by one.
        let after = self.decoder.counters();
        match expect {
            Some(reason) => {
                assert_eq!(after.get(reason), before.get(reason) + 1);
                assert_eq!(after.total(), before.total() + 1);
                assert_eq!(self.decoder.accepted(), accepted);
            }
            None => {
                assert_eq!(after, &before);
                assert_eq!(self.decoder.accepted(), accepted + 1);
            }
        }
        result
    }
}

#[test]
fn wrong_key_is_a_bad_tag_and_unknown_key_id_is_unknown_key() {
    let mut bench = Bench::new();
    let forger = Keyring::new(1, &[2; 32]).unwrap();
    let body = ra(Mode::Balance, 1.0, 10.0);
    let forged =
        encode(&Message { sender: NodeId(5), seq: 1, timestamp_us: T0_US, body }, &forger).unwrap();
    let reject = bench.check(&forged, Some(RejectKind::BadTag)).unwrap_err();
    assert_eq!(reject, Reject::BadTag { key_id: 1, claimed_sender: NodeId(5) });
    assert!(reject.to_string().contains("node 5") && reject.to_string().contains("key ID 1"));
    let other_id = Keyring::new(9, &[1; 32]).unwrap();
    let unknown =
        encode(&Message { sender: NodeId(6), seq: 1, timestamp_us: T0_US, body }, &other_id)
            .unwrap();
    let reject = bench.check(&unknown, Some(RejectKind::UnknownKey)).unwrap_err();
    assert_eq!(reject, Reject::UnknownKey { key_id: 9, claimed_sender: NodeId(6) });
    // Neither created replay state.
    assert_eq!(bench.decoder.n_senders(), 0);
}

#[test]
fn replays_and_old_sequences_are_rejected_per_sender() {
    let mut bench = Bench::new();
    let first = bench.next();
    bench.check(&first, None).unwrap();
    assert_eq!(
        bench.check(&first, Some(RejectKind::Replayed)),
        Err(Reject::Replayed { sender: NodeId(5), seq: 1_000 })
    );
    // Another sender's same sequence number is its own business.
    bench.check(&bench.message(6, 1_000, T0_US), None).unwrap();
    // Reordering within the window: 1 002 before 1 001, then each once.
    let m1001 = bench.next();
    let m1002 = bench.next();
    bench.check(&m1002, None).unwrap();
    bench.check(&m1001, None).unwrap();
    bench.check(&m1001, Some(RejectKind::Replayed)).unwrap_err();
    // Jump ahead by the window: 1 002 − 64 + … now too old.
    let far = bench.message(5, 1_002 + REPLAY_WINDOW, T0_US);
    bench.check(&far, None).unwrap();
    let old = bench.message(5, 1_002, T0_US);
    assert_eq!(
        bench.check(&old, Some(RejectKind::TooOld)),
        Err(Reject::TooOld { sender: NodeId(5), seq: 1_002, highest: 1_066, window: 64 })
    );
    let fresh_in_window = bench.message(5, 1_003, T0_US);
    bench.check(&fresh_in_window, None).unwrap();
    // Forgetting a sender resets it.
    assert!(bench.decoder.forget(NodeId(5)));
    bench.check(&old, None).unwrap();
}

#[test]
fn length_version_and_type_are_checked_before_the_key() {
    let mut bench = Bench::new();
    let good = bench.next();
    assert_eq!(
        bench.check(&good[..46], Some(RejectKind::Truncated)),
        Err(Reject::Truncated { len: 46, expected: 47 })
    );
    bench.check(&[], Some(RejectKind::Truncated)).unwrap_err();
    bench.check(&good[..1], Some(RejectKind::Truncated)).unwrap_err();
    let mut long = good.to_vec();
    long.push(0);
    assert_eq!(
        bench.check(&long, Some(RejectKind::TooLong)),
        Err(Reject::TooLong { len: 48, expected: 47 })
    );
    let mut version = good;
    version[0] = 2;
    assert_eq!(
        bench.check(&version, Some(RejectKind::BadVersion)),
        Err(Reject::BadVersion { version: 2 })
    );
    // The version is checked before the length: a 1-byte version-9 datagram is a version error.
    bench.check(&[9], Some(RejectKind::BadVersion)).unwrap_err();
    for type_byte in [0u8, 7, 255] {
        let mut typed = good;
        typed[1] = type_byte;
        assert_eq!(
            bench.check(&typed, Some(RejectKind::UnknownType)),
            Err(Reject::UnknownType { type_byte })
        );
    }
    // A known type changed to another known type: the tag no longer verifies.
    let mut retyped = good;
    retyped[1] = MessageType::RaBalance.byte();
    bench.check(&retyped, Some(RejectKind::BadTag)).unwrap_err();
    // None of this touched the replay state: the original is still fresh.
    bench.check(&good, None).unwrap();
}

#[test]
fn skewed_timestamps_are_rejected_both_ways() {
    let mut bench = Bench::new();
    let late = bench.message(5, 1, T0_US - 1_000_001);
    let reject = bench.check(&late, Some(RejectKind::ClockSkew)).unwrap_err();
    assert_eq!(
        reject,
        Reject::ClockSkew {
            sender: NodeId(5),
            seq: 1,
            timestamp_us: T0_US - 1_000_001,
            now_us: T0_US,
            max_skew_us: 1_000_000,
        }
    );
    bench.check(&bench.message(5, 2, T0_US + 1_000_001), Some(RejectKind::ClockSkew)).unwrap_err();
    bench.check(&bench.message(5, 3, T0_US + 1_000_000), None).unwrap();
    bench.check(&bench.message(5, 4, T0_US - 1_000_000), None).unwrap();
    // Timestamps near the ends of u64 do not overflow anything.
    bench.check(&bench.message(5, 5, u64::MAX), Some(RejectKind::ClockSkew)).unwrap_err();
    bench.check(&bench.message(5, 6, 0), Some(RejectKind::ClockSkew)).unwrap_err();
}

#[test]
fn a_bad_payload_under_a_good_tag_is_a_bad_payload() {
    let mut bench = Bench::new();
    let mut bytes = bench.message(5, 1, T0_US);
    bytes[23..31].copy_from_slice(&f64::NAN.to_be_bytes());
    let fixed = tag(&[1; 32], &bytes);
    bytes[31..].copy_from_slice(&fixed);
    let reject = bench.check(&bytes, Some(RejectKind::BadPayload)).unwrap_err();
    assert!(matches!(
        reject,
        Reject::BadPayload { field: "total", message_type: MessageType::Capacity, .. }
    ));
    // The encoder refuses to write it in the first place.
    let body = Body::Capacity { total: f64::NAN };
    let message = Message { sender: NodeId(5), seq: 2, timestamp_us: T0_US, body };
    assert!(matches!(
        encode(&message, &bench.ring),
        Err(EncodeError::BadPayload { field: "total", .. })
    ));
}

#[test]
fn the_sender_table_is_bounded() {
    let mut bench = Bench::new(); // max_senders 4
    for sender in 1..=4 {
        bench.check(&bench.message(sender, 1, T0_US), None).unwrap();
    }
    assert_eq!(
        bench.check(&bench.message(99, 1, T0_US), Some(RejectKind::SenderTableFull)),
        Err(Reject::SenderTableFull { sender: NodeId(99), max_senders: 4 })
    );
    // Known senders carry on.
    bench.check(&bench.message(2, 2, T0_US), None).unwrap();
    assert_eq!(bench.decoder.n_senders(), 4);
}

// ---------------------------------------------------------------------------------------------
// Key rotation

/// docs/beacon-wire.md, "Key rotation": add the new key everywhere, switch senders, remove the
/// old key.
#[test]
fn keys_rotate_without_a_flag_day() {
    let old_key = [0xaa; 32];
    let new_key = [0xbb; 32];
    let mut sender_ring = Keyring::new(1, &old_key).unwrap();
    let mut decoder = Decoder::new(Keyring::new(1, &old_key).unwrap(), DecoderConfig::default());
    let mut encoder = Encoder::new(NodeId(3), 0);
    let body = ra(Mode::Balance, 0.7, 7.0);
    let under_old = encoder.encode(body, T0_US, &sender_ring).unwrap();
    assert!(decoder.decode(&under_old, T0_US).is_ok());
    // 1. Receivers learn the new key; senders still use the old one.
    decoder.keyring_mut().insert(2, &new_key).unwrap();
    let still_old = encoder.encode(body, T0_US, &sender_ring).unwrap();
    assert_eq!(still_old[2], 1);
    assert!(decoder.decode(&still_old, T0_US).is_ok());
    // 2. Senders switch.
    sender_ring.insert(2, &new_key).unwrap();
    sender_ring.set_current(2).unwrap();
    let under_new = encoder.encode(body, T0_US, &sender_ring).unwrap();
    assert_eq!(under_new[2], 2);
    // A straggler still on the old key is accepted meanwhile.
    let straggler = Keyring::new(1, &old_key).unwrap();
    let late_old = encoder.encode(body, T0_US, &straggler).unwrap();
    assert!(decoder.decode(&under_new, T0_US).is_ok());
    // 3. The old key is removed: messages under it are now unknown_key.
    decoder.keyring_mut().remove(1).unwrap_err(); // still current on the receiver's ring
    decoder.keyring_mut().set_current(2).unwrap();
    decoder.keyring_mut().remove(1).unwrap();
    assert_eq!(
        decoder.decode(&late_old, T0_US),
        Err(Reject::UnknownKey { key_id: 1, claimed_sender: NodeId(3) })
    );
    assert!(decoder.decode(&encoder.encode(body, T0_US, &sender_ring).unwrap(), T0_US).is_ok());
    // A new key under a reused ID would be a different key: the ring refuses it.
    assert!(decoder.keyring_mut().insert(2, &old_key).is_err());
    assert_eq!(decoder.accepted(), 4);
    assert_eq!(decoder.counters().unknown_key, 1);
}

// ---------------------------------------------------------------------------------------------
// Fixed-seed fuzz-style run

/// SplitMix64: a tiny, fixed PRNG so the run is the same everywhere.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    fn unit_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The reason the specification's checks 1–7 give, if any: what a decoder must answer for
/// bytes that carry no valid tag, before it computes one.
fn pre_tag_reason(bytes: &[u8], ring_ids: &[u8]) -> Option<RejectKind> {
    match bytes {
        [] => Some(RejectKind::Truncated),
        [version, ..] if *version != 1 => Some(RejectKind::BadVersion),
        [_] => Some(RejectKind::Truncated),
        [_, type_byte, ..] if !(1..=6).contains(type_byte) => Some(RejectKind::UnknownType),
        _ if bytes.len() < 47 => Some(RejectKind::Truncated),
        _ if bytes.len() > 47 => Some(RejectKind::TooLong),
        _ if !ring_ids.contains(&bytes[2]) => Some(RejectKind::UnknownKey),
        _ => None,
    }
}

/// What the test expects of one input, and records to check the counters at the end.
struct Tally {
    counters: RejectCounters,
    accepted: u64,
    inputs: u64,
}

impl Tally {
    #[track_caller]
    fn expect(&mut self, result: &Result<Message, Reject>, expect: Option<RejectKind>, what: &str) {
        self.inputs += 1;
        assert_eq!(kind(result), expect, "{what}: {result:?}");
        match expect {
            Some(reason) => self.counters.record(reason),
            None => self.accepted += 1,
        }
    }
}

fn random_body(rng: &mut Rng) -> Body {
    // RA-blended's fractions travel as 16-bit fixed point: draw them on its grid, so that the
    // round trip is exact.
    let fixed16 = |rng: &mut Rng| rng.below(65_536) as f32 / 65_535.0;
    match rng.below(6) {
        0 => ra(Mode::Balance, rng.unit_f32(), 0.5 + 9.5 * rng.unit_f32()),
        1 => ra(Mode::Power, rng.unit_f32(), 0.5 + 9.5 * rng.unit_f32()),
        2 => Body::Capacity { total: 1.0 + rng.below(1 << 40) as f64 / 7.0 },
        3 => Body::CapacityShare { node: NodeId(rng.next_u64() as u32), share: rng.unit_f32() },
        4 => Body::RaBlended {
            f_ra: fixed16(rng),
            alpha: fixed16(rng),
            rate_hz: 0.5 + 9.5 * rng.unit_f32(),
        },
        _ => Body::Alpha { alpha: rng.unit_f32(), hold_s: 60.0 * rng.unit_f32() },
    }
}

/// Reference: STYLE.md rule 14; docs/beacon-wire.md, "Decoding: the checks, in order".
///
/// 200 000 inputs from a seeded PRNG: random bytes (biased towards valid headers), fresh valid
/// messages (round trip), mutated valid messages (bit flips, truncations, extensions, field
/// swaps, splices), forgeries, replays, old sequences, reordering within the window, skewed
/// timestamps and bad payloads under good tags. Every outcome is checked against the model of
/// the specification, and at the end the decoder's counters equal the model's.
#[test]
fn fixed_seed_fuzz_run_matches_the_model() {
    const N_INPUTS: u64 = 200_000;
    const N_SENDERS: u64 = 16;
    let key_a = [0x11; 32];
    let key_b = [0x22; 24];
    let mut ring = Keyring::new(1, &key_a).unwrap();
    ring.insert(2, &key_b).unwrap();
    let ring_ids = [1u8, 2];
    let forger = Keyring::new(1, &[0x33; 32]).unwrap();
    let config = DecoderConfig { max_skew_us: 5_000_000, max_senders: 64 };
    let mut decoder = Decoder::new(ring.clone(), config);
    let mut rng = Rng(0x5eed_0003);
    let mut encoders: Vec<Encoder> =
        (0..N_SENDERS).map(|i| Encoder::new(NodeId(i as u32 + 1), 1_000 * i)).collect();
    // Recently accepted messages, for replays.
    let mut accepted_log: Vec<[u8; MESSAGE_LEN]> = Vec::new();
    let mut tally = Tally { counters: RejectCounters::default(), accepted: 0, inputs: 0 };
    let mut now = T0_US;

    while tally.inputs < N_INPUTS {
        now += 1;
        let sender_idx = rng.below(N_SENDERS) as usize;
        // Switch the sending key now and then: both keys are in the decoder's ring.
        if rng.chance(1) {
            ring.set_current(if ring.current_id() == 1 { 2 } else { 1 }).unwrap();
        }
        match rng.below(10) {
            // Random bytes, often with a plausible header so they reach the deeper checks.
            0 | 1 => {
                let len = if rng.chance(40) { 47 } else { rng.below(80) as usize };
                let mut bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
                if len > 0 && rng.chance(70) {
                    bytes[0] = 1;
                }
                if len > 1 && rng.chance(70) {
                    bytes[1] = 1 + rng.below(4) as u8;
                }
                if len > 2 && rng.chance(70) {
                    bytes[2] = 1 + rng.below(2) as u8;
                }
                // The stateless check must agree and never panic either.
                let stateless = verify(&bytes, &ring);
                let expect = pre_tag_reason(&bytes, &ring_ids).or(Some(RejectKind::BadTag));
                assert_eq!(kind(&stateless), expect);
                let result = decoder.decode(&bytes, rng.next_u64());
                tally.expect(&result, expect, "random bytes");
            }
            // A fresh valid message: accepted, and decodes to exactly what was sent.
            2 => {
                let body = random_body(&mut rng);
                let seq = encoders[sender_idx].next_seq().unwrap();
                let bytes = encoders[sender_idx].encode(body, now, &ring).unwrap();
                let result = decoder.decode(&bytes, now);
                tally.expect(&result, None, "fresh message");
                let sender = NodeId(sender_idx as u32 + 1);
                assert_eq!(result, Ok(Message { sender, seq, timestamp_us: now, body }));
                accepted_log.push(bytes);
            }
            // A mutated valid message, sent after the original half the time.
            3..=5 => {
                let body = random_body(&mut rng);
                let original = encoders[sender_idx].encode(body, now, &ring).unwrap();
                let sent_original = rng.chance(50);
                if sent_original {
                    tally.expect(&decoder.decode(&original, now), None, "original");
                    accepted_log.push(original);
                }
                let mut mutated = original.to_vec();
                let what = match rng.below(5) {
                    0 => {
                        for _ in 0..1 + rng.below(3) {
                            let bit = rng.below(47 * 8) as usize;
                            mutated[bit / 8] ^= 1 << (bit % 8);
                        }
                        "bit flips"
                    }
                    1 => {
                        mutated.truncate(rng.below(47) as usize);
                        "truncation"
                    }
                    2 => {
                        for _ in 0..1 + rng.below(20) {
                            mutated.push(rng.next_u64() as u8);
                        }
                        "extension"
                    }
                    3 => {
                        // Swap two 8-byte fields among sequence, timestamp, payload, tag halves.
                        let fields = [7usize, 15, 23, 31, 39];
                        let a = fields[rng.below(5) as usize];
                        let b = fields[rng.below(5) as usize];
                        for i in 0..8 {
                            mutated.swap(a + i, b + i);
                        }
                        "field swap"
                    }
                    _ => {
                        // Splice: one field from another sender's valid message.
                        let other = encoders[(sender_idx + 1) % N_SENDERS as usize]
                            .encode(random_body(&mut rng), now, &ring)
                            .unwrap();
                        let (start, end) =
                            [(3, 7), (7, 15), (23, 31), (31, 47)][rng.below(4) as usize];
                        mutated[start..end].copy_from_slice(&other[start..end]);
                        "splice"
                    }
                };
                let expect = if mutated == original {
                    sent_original.then_some(RejectKind::Replayed)
                } else {
                    pre_tag_reason(&mutated, &ring_ids).or(Some(RejectKind::BadTag))
                };
                let result = decoder.decode(&mutated, now);
                tally.expect(&result, expect, what);
                if expect.is_none() {
                    accepted_log.push(original);
                }
            }
            // A forgery: right key ID, wrong key.
            6 => {
                let sender = NodeId(sender_idx as u32 + 1);
                let message = Message {
                    sender,
                    seq: rng.next_u64(),
                    timestamp_us: now,
                    body: random_body(&mut rng),
                };
                let bytes = encode(&message, &forger).unwrap();
                tally.expect(&decoder.decode(&bytes, now), Some(RejectKind::BadTag), "forgery");
            }
            // A replay of something accepted: replayed, or too old if it fell out of the window.
            7 if !accepted_log.is_empty() => {
                let bytes = accepted_log[rng.below(accepted_log.len() as u64) as usize];
                let message = verify(&bytes, &ring).unwrap();
                let highest = decoder.highest_seq(message.sender).unwrap();
                let expect = if now.abs_diff(message.timestamp_us) > config.max_skew_us {
                    RejectKind::ClockSkew
                } else if highest - message.seq >= REPLAY_WINDOW {
                    RejectKind::TooOld
                } else {
                    RejectKind::Replayed
                };
                tally.expect(&decoder.decode(&bytes, now), Some(expect), "replay");
            }
            // Old sequence numbers, and reordering within the window.
            8 => {
                let sender = NodeId(sender_idx as u32 + 1);
                let encoder = &mut encoders[sender_idx];
                let next = encoder.next_seq().unwrap();
                match decoder.highest_seq(sender) {
                    Some(highest) if highest >= REPLAY_WINDOW && rng.chance(50) => {
                        let seq = highest - REPLAY_WINDOW - rng.below(highest - REPLAY_WINDOW + 1);
                        let body = random_body(&mut rng);
                        let bytes =
                            encode(&Message { sender, seq, timestamp_us: now, body }, &ring)
                                .unwrap();
                        tally.expect(
                            &decoder.decode(&bytes, now),
                            Some(RejectKind::TooOld),
                            "old seq",
                        );
                    }
                    _ => {
                        // Two messages delivered in swapped order: both accepted.
                        let first = encoder.encode(random_body(&mut rng), now, &ring).unwrap();
                        let second = encoder.encode(random_body(&mut rng), now, &ring).unwrap();
                        tally.expect(&decoder.decode(&second, now), None, "reordered second");
                        tally.expect(&decoder.decode(&first, now), None, "reordered first");
                        assert_eq!(decoder.highest_seq(sender), Some(next + 1));
                        accepted_log.extend([first, second]);
                    }
                }
            }
            // Skewed timestamps and bad payloads under good tags.
            _ => {
                let sender = NodeId(sender_idx as u32 + 1);
                let seq = encoders[sender_idx].next_seq().unwrap();
                if rng.chance(50) {
                    let off = config.max_skew_us + 1 + rng.below(1 << 40);
                    let timestamp_us = if rng.chance(50) { now + off } else { now - off };
                    let body = random_body(&mut rng);
                    let bytes =
                        encode(&Message { sender, seq, timestamp_us, body }, &ring).unwrap();
                    tally.expect(&decoder.decode(&bytes, now), Some(RejectKind::ClockSkew), "skew");
                } else {
                    let body = Body::Capacity { total: 5.0 };
                    let mut bytes =
                        encode(&Message { sender, seq, timestamp_us: now, body }, &ring).unwrap();
                    let bad = [-1.0, 0.0, f64::INFINITY, f64::NAN][rng.below(4) as usize];
                    bytes[23..31].copy_from_slice(&f64::to_be_bytes(bad));
                    let key: &[u8] = if bytes[2] == 1 { &key_a } else { &key_b };
                    let fixed = tag(key, &bytes);
                    bytes[31..].copy_from_slice(&fixed);
                    tally.expect(
                        &decoder.decode(&bytes, now),
                        Some(RejectKind::BadPayload),
                        "payload",
                    );
                }
            }
        }
        if accepted_log.len() > 4_096 {
            accepted_log.drain(..2_048);
        }
    }

    // The counters add up, reason by reason, and every reason was exercised.
    assert_eq!(*decoder.counters(), tally.counters);
    assert_eq!(decoder.accepted(), tally.accepted);
    assert_eq!(decoder.accepted() + decoder.counters().total(), tally.inputs);
    for (reason, count) in decoder.counters().iter() {
        let needed = if reason == RejectKind::SenderTableFull { 0 } else { 100 };
        assert!(count >= needed, "{reason}: only {count} of {} inputs", tally.inputs);
    }
    assert!(decoder.accepted() > 20_000, "accepted {}", decoder.accepted());
}

/// The counters are what `hearth status --format json` shows: they must serialize.
#[test]
fn counters_serialize_and_name_every_reason() {
    fn assert_serde<T: serde::Serialize + for<'de> serde::Deserialize<'de>>(_: &T) {}
    let counters = RejectCounters::default();
    assert_serde(&counters);
    assert_eq!(counters.iter().count(), RejectKind::ALL.len());
    for reason in RejectKind::ALL {
        assert!(SPEC.contains(&format!("`{}`", reason.name())), "the spec names `{reason}`");
    }
}
