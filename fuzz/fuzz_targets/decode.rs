//! Fuzz target `decode`: arbitrary bytes into the beacon decoder (docs/beacon-wire.md), which
//! must never panic and must count every rejection; plus a round-trip property: a valid message
//! built from the input encodes, decodes to itself once, and is a replay the second time.
//!
//! Run: `cargo +nightly fuzz run decode` from `fuzz/`. The same checks run with a fixed seed in
//! `crates/beacon/tests/wire.rs` on every `cargo test`.
#![no_main]

use beacon::wire::{encode, Body, Decoder, DecoderConfig, Keyring, Message, RejectKind};
use beacon::{Mode, NodeId};
use libfuzzer_sys::fuzz_target;

const NOW_US: u64 = 1_700_000_000_000_000;

fn keyring() -> Keyring {
    let mut ring = Keyring::new(1, &[0x11; 32]).expect("a 32-byte key");
    ring.insert(2, &[0x22; 16]).expect("a new key ID");
    ring
}

/// A valid body from 9 input bytes (the first picks the type).
fn body_from(bytes: &[u8; 9]) -> Body {
    let unit = |b: u8| f32::from(b) / 255.0;
    let [kind, a, b, c, d, e, f, g, h] = *bytes;
    // RA-blended's fractions on its 16-bit fixed-point grid, so the round trip is exact.
    let fixed16 = |hi: u8, lo: u8| f32::from(u16::from_be_bytes([hi, lo])) / 65_535.0;
    match kind % 6 {
        0 => Body::Ra { mode: Mode::Balance, f_ra: unit(a), rate_hz: 0.5 + f32::from(b) },
        1 => Body::Ra { mode: Mode::Power, f_ra: unit(a), rate_hz: 0.5 + f32::from(b) },
        2 => Body::Capacity { total: 1.0 + f64::from(u32::from_be_bytes([a, b, c, d])) },
        3 => Body::CapacityShare { node: NodeId(u32::from_be_bytes([e, f, g, h])), share: unit(a) },
        4 => Body::RaBlended {
            f_ra: fixed16(a, b),
            alpha: fixed16(c, d),
            rate_hz: 0.5 + f32::from(e),
        },
        _ => Body::Alpha { alpha: unit(a), hold_s: f32::from(b) },
    }
}

fuzz_target!(|data: &[u8]| {
    // 1. Arbitrary bytes: never a panic, and exactly one outcome counted.
    let mut decoder = Decoder::new(keyring(), DecoderConfig::default());
    let result = decoder.decode(data, NOW_US);
    assert_eq!(decoder.accepted() + decoder.counters().total(), 1);
    if let Err(reject) = &result {
        assert_eq!(decoder.counters().get(reject.kind()), 1);
        let _ = reject.to_string();
    }

    // 2. Round trip: a valid message derived from the input.
    if let Some((head, rest)) = data.split_first_chunk::<21>() {
        let mut body_bytes = [0u8; 9];
        body_bytes.copy_from_slice(&head[12..21]);
        let message = Message {
            sender: NodeId(u32::from_be_bytes([head[0], head[1], head[2], head[3]])),
            seq: u64::from_be_bytes([
                head[4], head[5], head[6], head[7], head[8], head[9], head[10], head[11],
            ]),
            timestamp_us: NOW_US - u64::from(rest.first().copied().unwrap_or(0)),
            body: body_from(&body_bytes),
        };
        let mut ring = keyring();
        if rest.get(1).is_some_and(|b| b & 1 == 1) {
            ring.set_current(2).expect("key 2 is in the ring");
        }
        let bytes = encode(&message, &ring).expect("bodies built here are valid");
        let mut decoder = Decoder::new(keyring(), DecoderConfig::default());
        assert_eq!(decoder.decode(&bytes, NOW_US), Ok(message));
        assert_eq!(decoder.decode(&bytes, NOW_US).map_err(|r| r.kind()), Err(RejectKind::Replayed));
    }
});
