//! The beacon wire format, version 1: 47-byte authenticated messages (docs/beacon-wire.md is
//! the specification; this module implements it).
//!
//! ```text
//! offset  size  field
//!      0     1  version            = 1
//!      1     1  type               1 RA-balance, 2 RA-power, 3 CP, 4 CP-share, 5 RA-blended,
//!                                   6 ALPHA (others reserved)
//!      2     1  key ID             which key of the ring made the tag
//!      3     4  sender             NodeId, big-endian
//!      7     8  sequence           u64, big-endian; per sender, across all types
//!     15     8  timestamp          µs since the Unix epoch, u64, big-endian
//!     23     8  payload            by type, see [`Body`]
//!     31    16  tag                HMAC-SHA-256(key, bytes 0..31), first 16 bytes
//! ```
//!
//! Sending: [`encode`] (or [`Encoder`], which numbers messages) with a [`Keyring`]'s current
//! key. Receiving: [`Decoder::decode`] checks, in this order, length, version, type, key ID,
//! tag (constant time), payload, clock skew and replay, and counts every rejection by
//! [`RejectKind`] in [`RejectCounters`]; [`verify`] is the stateless part (no skew or replay).
//! No input makes either panic, and neither allocates per message.

mod decoder;
mod keyring;
mod reject;

pub use decoder::{Decoder, DecoderConfig, RejectCounters, REPLAY_WINDOW};
pub use keyring::{KeyError, Keyring, MIN_KEY_LEN};
pub use reject::{Reject, RejectKind};

use crate::{Mode, NodeId};
use hmac::Mac;

/// The wire version this module speaks.
pub const VERSION: u8 = 1;
/// Bytes before the payload: version, type, key ID, sender, sequence, timestamp.
pub const HEADER_LEN: usize = 23;
/// Payload bytes (every version-1 type has an 8-byte payload).
pub const PAYLOAD_LEN: usize = 8;
/// Bytes of the truncated HMAC-SHA-256 tag.
pub const TAG_LEN: usize = 16;
/// Bytes the tag covers: everything before it.
pub const MAC_INPUT_LEN: usize = HEADER_LEN + PAYLOAD_LEN;
/// The length of every version-1 message.
pub const MESSAGE_LEN: usize = MAC_INPUT_LEN + TAG_LEN;

const _: () = assert!(MESSAGE_LEN <= 64, "beacons stay within 64 bytes");

// Field offsets.
const AT_VERSION: usize = 0;
const AT_TYPE: usize = 1;
const AT_KEY_ID: usize = 2;
const AT_SENDER: usize = 3;
const AT_SEQ: usize = 7;
const AT_TIMESTAMP: usize = 15;
const AT_PAYLOAD: usize = HEADER_LEN;
const AT_TAG: usize = MAC_INPUT_LEN;

/// The message type byte. 0 and 7–255 are reserved and rejected as
/// [`RejectKind::UnknownType`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageType {
    /// 1: an RA message of the balance stream (sent at `V_Balance`).
    RaBalance = 1,
    /// 2: an RA message of the power stream (sent at `V_Power`).
    RaPower = 2,
    /// 3: a CP message: the sender's own total capacity (seed 003, FIG. 25).
    Capacity = 3,
    /// 4: a CP message from a management node: some node's fraction `c` of the cluster's
    /// capacity (seed 003, FIG. 25, second normalization variant).
    CapacityShare = 4,
    /// 5: an RA message of the single blended stream (sent at `V = α·V_Balance + (1 − α)·V_Power`,
    /// seed 003, FIG. 15), for senders that run one stream instead of FIG. 16's two.
    RaBlended = 5,
    /// 6: ALPHA, a control message from the controller to an agent: use this α instead of the
    /// configured schedule for a while.
    Alpha = 6,
}

impl MessageType {
    /// The type for a wire byte, if it is a known one.
    pub fn from_byte(byte: u8) -> Option<MessageType> {
        match byte {
            1 => Some(MessageType::RaBalance),
            2 => Some(MessageType::RaPower),
            3 => Some(MessageType::Capacity),
            4 => Some(MessageType::CapacityShare),
            5 => Some(MessageType::RaBlended),
            6 => Some(MessageType::Alpha),
            _ => None,
        }
    }

    /// The wire byte.
    pub fn byte(self) -> u8 {
        self as u8
    }

    /// The length of a message of this type (the same for every version-1 type).
    pub fn message_len(self) -> usize {
        MESSAGE_LEN
    }

    /// The name the specification uses (`RA-balance`, `RA-power`, `CP`, `CP-share`,
    /// `RA-blended`, `ALPHA`).
    pub fn name(self) -> &'static str {
        match self {
            MessageType::RaBalance => "RA-balance",
            MessageType::RaPower => "RA-power",
            MessageType::Capacity => "CP",
            MessageType::CapacityShare => "CP-share",
            MessageType::RaBlended => "RA-blended",
            MessageType::Alpha => "ALPHA",
        }
    }
}

/// What a message says; each variant is one payload layout (8 bytes, big-endian).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Body {
    /// RA-balance ([`Mode::Balance`]) or RA-power ([`Mode::Power`]): bytes 23..27 `f_ra`,
    /// 27..31 `rate_hz`, both IEEE 754 binary32.
    Ra {
        /// Which stream: the type byte.
        mode: Mode,
        /// The sender's `f_RA` (seed 003, FIG. 9, 912), finite, in `[0, 1]`. The rate of the
        /// stream carries the same information (that is the seed's point); the value lets a
        /// receiver check its rate estimate and answer before it has one.
        f_ra: f32,
        /// The rate the sender is beaconing at on this stream, in Hz, finite and > 0: what
        /// "N of its own expected intervals" means when a receiver decides a sender is lost.
        rate_hz: f32,
    },
    /// CP: bytes 23..31 `total`, IEEE 754 binary64.
    Capacity {
        /// The sender's total capacity, finite and > 0, in the cluster's capacity unit
        /// (whatever every node agrees on; hearth's agent documents its choice).
        total: f64,
    },
    /// CP-share: bytes 23..27 `node` (u32), 27..31 `share` (binary32).
    CapacityShare {
        /// The node the fraction is for (the sender is the management node).
        node: NodeId,
        /// That node's fraction `c` of the cluster's capacity, finite, in `[0, 1]`.
        share: f32,
    },
    /// RA-blended: bytes 23..25 `f_ra` and 25..27 `alpha` as unsigned 16-bit fixed point
    /// (`value = n / 65535`, so within 7.7·10⁻⁶ of what was encoded), 27..31 `rate_hz` as
    /// binary32.
    RaBlended {
        /// The sender's `f_RA`, in `[0, 1]`. A blended rate does not determine `f_RA` (for
        /// `0 < α < 1`, `V(f)` falls then rises), so receivers take it from here.
        f_ra: f32,
        /// The α the sender blends with, in `[0, 1]`: 1 beacons like the balance stream, 0 like
        /// the power stream.
        alpha: f32,
        /// The rate the sender is beaconing at, in Hz, finite and > 0.
        rate_hz: f32,
    },
    /// ALPHA: bytes 23..27 `alpha`, 27..31 `hold_s`, both binary32.
    Alpha {
        /// The α to use, in `[0, 1]` (ignored when `hold_s` is 0).
        alpha: f32,
        /// For how many seconds from receipt, finite and ≥ 0; 0 releases an earlier override
        /// (back to the configured schedule at once). Controllers resend before it runs out, so
        /// an agent whose controller dies returns to its schedule by itself.
        hold_s: f32,
    },
}

/// `value ∈ [0, 1]` as 16-bit fixed point (callers validate the range first).
fn to_fixed16(value: f32) -> u16 {
    (value.clamp(0.0, 1.0) * 65535.0).round() as u16
}

/// The inverse of [`to_fixed16`].
fn from_fixed16(n: u16) -> f32 {
    f32::from(n) / 65535.0
}

impl Body {
    /// The type byte this body travels under.
    pub fn message_type(&self) -> MessageType {
        match self {
            Body::Ra { mode: Mode::Balance, .. } => MessageType::RaBalance,
            Body::Ra { mode: Mode::Power, .. } => MessageType::RaPower,
            Body::Capacity { .. } => MessageType::Capacity,
            Body::CapacityShare { .. } => MessageType::CapacityShare,
            Body::RaBlended { .. } => MessageType::RaBlended,
            Body::Alpha { .. } => MessageType::Alpha,
        }
    }

    /// The first field that breaks its rule, as `(field, value, rule)`.
    fn invalid_field(&self) -> Option<(&'static str, f64, &'static str)> {
        let unit = |value: f32| value.is_finite() && (0.0..=1.0).contains(&value);
        match *self {
            Body::Ra { f_ra, .. } if !unit(f_ra) => Some(("f_ra", f_ra.into(), IN_UNIT)),
            Body::Ra { rate_hz, .. } if !(rate_hz.is_finite() && rate_hz > 0.0) => {
                Some(("rate_hz", rate_hz.into(), POSITIVE))
            }
            Body::Capacity { total } if !(total.is_finite() && total > 0.0) => {
                Some(("total", total, POSITIVE))
            }
            Body::CapacityShare { share, .. } if !unit(share) => {
                Some(("share", share.into(), IN_UNIT))
            }
            Body::RaBlended { f_ra, .. } if !unit(f_ra) => Some(("f_ra", f_ra.into(), IN_UNIT)),
            Body::RaBlended { alpha, .. } if !unit(alpha) => Some(("alpha", alpha.into(), IN_UNIT)),
            Body::RaBlended { rate_hz, .. } if !(rate_hz.is_finite() && rate_hz > 0.0) => {
                Some(("rate_hz", rate_hz.into(), POSITIVE))
            }
            Body::Alpha { alpha, .. } if !unit(alpha) => Some(("alpha", alpha.into(), IN_UNIT)),
            Body::Alpha { hold_s, .. } if !(hold_s.is_finite() && hold_s >= 0.0) => {
                Some(("hold_s", hold_s.into(), NOT_NEGATIVE))
            }
            _ => None,
        }
    }

    fn write_payload(&self, out: &mut [u8; PAYLOAD_LEN]) {
        match *self {
            Body::Ra { f_ra, rate_hz, .. } => {
                out[..4].copy_from_slice(&f_ra.to_be_bytes());
                out[4..].copy_from_slice(&rate_hz.to_be_bytes());
            }
            Body::Capacity { total } => out.copy_from_slice(&total.to_be_bytes()),
            Body::CapacityShare { node, share } => {
                out[..4].copy_from_slice(&node.0.to_be_bytes());
                out[4..].copy_from_slice(&share.to_be_bytes());
            }
            Body::RaBlended { f_ra, alpha, rate_hz } => {
                out[..2].copy_from_slice(&to_fixed16(f_ra).to_be_bytes());
                out[2..4].copy_from_slice(&to_fixed16(alpha).to_be_bytes());
                out[4..].copy_from_slice(&rate_hz.to_be_bytes());
            }
            Body::Alpha { alpha, hold_s } => {
                out[..4].copy_from_slice(&alpha.to_be_bytes());
                out[4..].copy_from_slice(&hold_s.to_be_bytes());
            }
        }
    }

    fn read_payload(message_type: MessageType, payload: &[u8; PAYLOAD_LEN]) -> Body {
        let (first, second) = split_payload(payload);
        match message_type {
            MessageType::RaBalance | MessageType::RaPower => Body::Ra {
                mode: if message_type == MessageType::RaBalance {
                    Mode::Balance
                } else {
                    Mode::Power
                },
                f_ra: f32::from_be_bytes(first),
                rate_hz: f32::from_be_bytes(second),
            },
            MessageType::Capacity => Body::Capacity { total: f64::from_be_bytes(*payload) },
            MessageType::CapacityShare => Body::CapacityShare {
                node: NodeId(u32::from_be_bytes(first)),
                share: f32::from_be_bytes(second),
            },
            MessageType::RaBlended => Body::RaBlended {
                f_ra: from_fixed16(u16::from_be_bytes([first[0], first[1]])),
                alpha: from_fixed16(u16::from_be_bytes([first[2], first[3]])),
                rate_hz: f32::from_be_bytes(second),
            },
            MessageType::Alpha => {
                Body::Alpha { alpha: f32::from_be_bytes(first), hold_s: f32::from_be_bytes(second) }
            }
        }
    }
}

const IN_UNIT: &str = "must be a finite number in [0, 1]";
const POSITIVE: &str = "must be a finite number above 0";
const NOT_NEGATIVE: &str = "must be a finite number ≥ 0";

fn split_payload(payload: &[u8; PAYLOAD_LEN]) -> ([u8; 4], [u8; 4]) {
    let [a, b, c, d, e, f, g, h] = *payload;
    ([a, b, c, d], [e, f, g, h])
}

/// One beacon: who, which of its messages, when, and what.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Message {
    /// The sending node.
    pub sender: NodeId,
    /// The sender's sequence number: one counter per sender, across all types, increasing
    /// by one per message (see [`Encoder`]).
    pub seq: u64,
    /// When the sender sent it, in microseconds since the Unix epoch, by the sender's clock.
    pub timestamp_us: u64,
    /// The payload.
    pub body: Body,
}

/// Why a message cannot be encoded.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum EncodeError {
    /// A payload field breaks its rule (receivers would reject it as
    /// [`RejectKind::BadPayload`]).
    #[error("cannot encode a {} message from node {sender}: `{field}` {rule}, got {value}", message_type.name())]
    BadPayload {
        /// The sender.
        sender: NodeId,
        /// The message's type.
        message_type: MessageType,
        /// The offending field.
        field: &'static str,
        /// Its value.
        value: f64,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// An [`Encoder`] used up its sequence numbers.
    #[error("node {sender} has used every sequence number; restart its encoder with a new first sequence")]
    SequenceExhausted {
        /// The sender.
        sender: NodeId,
    },
}

/// Encodes `message` and tags it with the keyring's current key. Fails only on a payload that
/// breaks its rule.
pub fn encode(message: &Message, keyring: &Keyring) -> Result<[u8; MESSAGE_LEN], EncodeError> {
    if let Some((field, value, rule)) = message.body.invalid_field() {
        return Err(EncodeError::BadPayload {
            sender: message.sender,
            message_type: message.body.message_type(),
            field,
            value,
            rule,
        });
    }
    let mut out = [0u8; MESSAGE_LEN];
    out[AT_VERSION] = VERSION;
    out[AT_TYPE] = message.body.message_type().byte();
    out[AT_KEY_ID] = keyring.current_id();
    out[AT_SENDER..AT_SEQ].copy_from_slice(&message.sender.0.to_be_bytes());
    out[AT_SEQ..AT_TIMESTAMP].copy_from_slice(&message.seq.to_be_bytes());
    out[AT_TIMESTAMP..AT_PAYLOAD].copy_from_slice(&message.timestamp_us.to_be_bytes());
    let mut payload = [0u8; PAYLOAD_LEN];
    message.body.write_payload(&mut payload);
    out[AT_PAYLOAD..AT_TAG].copy_from_slice(&payload);
    let mut mac = keyring.current_mac().clone();
    mac.update(&out[..AT_TAG]);
    let tag = mac.finalize().into_bytes();
    out[AT_TAG..].copy_from_slice(&tag[..TAG_LEN]);
    Ok(out)
}

/// A sender's side: its node ID and its sequence counter, so every message gets the next
/// number. Start the counter at the current time in microseconds ([`Encoder::new`]) so a
/// restarted sender continues above the numbers receivers have seen.
#[derive(Clone, Debug)]
pub struct Encoder {
    sender: NodeId,
    next_seq: Option<u64>,
}

impl Encoder {
    /// An encoder for `sender` whose first message gets `first_seq`. Pass the current time in
    /// microseconds since the Unix epoch: receivers reject sequence numbers at or below what
    /// they have accepted (within [`REPLAY_WINDOW`]), and the clock keeps a restarted sender
    /// above its previous run as long as it sent fewer than one message per microsecond.
    pub fn new(sender: NodeId, first_seq: u64) -> Encoder {
        Encoder { sender, next_seq: Some(first_seq) }
    }

    /// The node this encoder speaks for.
    pub fn sender(&self) -> NodeId {
        self.sender
    }

    /// The sequence number the next message will get (`None` once exhausted).
    pub fn next_seq(&self) -> Option<u64> {
        self.next_seq
    }

    /// Encodes `body` as the next message, stamped `timestamp_us` (µs since the Unix epoch,
    /// from the caller's clock), with the keyring's current key. The counter advances only on
    /// success.
    pub fn encode(
        &mut self,
        body: Body,
        timestamp_us: u64,
        keyring: &Keyring,
    ) -> Result<[u8; MESSAGE_LEN], EncodeError> {
        let seq = self.next_seq.ok_or(EncodeError::SequenceExhausted { sender: self.sender })?;
        let bytes = encode(&Message { sender: self.sender, seq, timestamp_us, body }, keyring)?;
        self.next_seq = seq.checked_add(1);
        Ok(bytes)
    }
}

/// Checks and parses one message without replay or clock state: length, version, type, key
/// ID, tag (constant time) and payload, in that order; the first failure is the [`Reject`].
/// [`Decoder::decode`] adds the skew and replay checks and counts.
pub fn verify(bytes: &[u8], keyring: &Keyring) -> Result<Message, Reject> {
    let len = bytes.len();
    let Some(&version) = bytes.get(AT_VERSION) else {
        return Err(Reject::Truncated { len, expected: MESSAGE_LEN });
    };
    if version != VERSION {
        return Err(Reject::BadVersion { version });
    }
    let Some(&type_byte) = bytes.get(AT_TYPE) else {
        return Err(Reject::Truncated { len, expected: MESSAGE_LEN });
    };
    let Some(message_type) = MessageType::from_byte(type_byte) else {
        return Err(Reject::UnknownType { type_byte });
    };
    let expected = message_type.message_len();
    let Ok(bytes) = <&[u8; MESSAGE_LEN]>::try_from(bytes) else {
        return Err(if len < expected {
            Reject::Truncated { len, expected }
        } else {
            Reject::TooLong { len, expected }
        });
    };
    let [s0, s1, s2, s3] = field::<4>(bytes, AT_SENDER);
    let claimed_sender = NodeId(u32::from_be_bytes([s0, s1, s2, s3]));
    let key_id = bytes[AT_KEY_ID];
    let Some(mac) = keyring.mac(key_id) else {
        return Err(Reject::UnknownKey { key_id, claimed_sender });
    };
    let mut mac = mac.clone();
    mac.update(&bytes[..AT_TAG]);
    if mac.verify_truncated_left(&bytes[AT_TAG..]).is_err() {
        return Err(Reject::BadTag { key_id, claimed_sender });
    }
    // Authenticated from here on: the sender is who it says.
    let sender = claimed_sender;
    let body = Body::read_payload(message_type, &field::<PAYLOAD_LEN>(bytes, AT_PAYLOAD));
    if let Some((field, value, rule)) = body.invalid_field() {
        return Err(Reject::BadPayload { sender, message_type, field, value, rule });
    }
    Ok(Message {
        sender,
        seq: u64::from_be_bytes(field::<8>(bytes, AT_SEQ)),
        timestamp_us: u64::from_be_bytes(field::<8>(bytes, AT_TIMESTAMP)),
        body,
    })
}

/// `N` bytes of a whole message from `at`; the offsets are constants within the message.
fn field<const N: usize>(bytes: &[u8; MESSAGE_LEN], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[at..at + N]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Keyring {
        Keyring::new(7, &[0x42; 32]).unwrap()
    }

    fn ra(mode: Mode) -> Body {
        Body::Ra { mode, f_ra: 0.5, rate_hz: 5.0 }
    }

    #[test]
    fn layout_puts_each_field_at_its_offset() {
        let message = Message {
            sender: NodeId(0x0102_0304),
            seq: 0x1112_1314_1516_1718,
            timestamp_us: 0x2122_2324_2526_2728,
            body: Body::CapacityShare { node: NodeId(0x3132_3334), share: 1.0 },
        };
        let bytes = encode(&message, &ring()).unwrap();
        assert_eq!(bytes.len(), 47);
        assert_eq!(&bytes[..3], &[1, 4, 7]);
        assert_eq!(&bytes[3..7], &[1, 2, 3, 4]);
        assert_eq!(&bytes[7..15], &[0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]);
        assert_eq!(&bytes[15..23], &[0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28]);
        assert_eq!(&bytes[23..31], &[0x31, 0x32, 0x33, 0x34, 0x3f, 0x80, 0, 0]);
        assert_eq!(verify(&bytes, &ring()), Ok(message));
    }

    #[test]
    fn every_body_round_trips() {
        let bodies = [
            ra(Mode::Balance),
            ra(Mode::Power),
            Body::Capacity { total: 96.5 },
            Body::CapacityShare { node: NodeId(3), share: 0.25 },
            // Exact in 16-bit fixed point: 0, 1 and multiples of 1/65535.
            Body::RaBlended { f_ra: 1.0, alpha: 0.0, rate_hz: 2.5 },
            Body::RaBlended { f_ra: 13107.0 / 65535.0, alpha: 1.0, rate_hz: 0.5 },
            Body::Alpha { alpha: 0.25, hold_s: 30.0 },
            Body::Alpha { alpha: 0.0, hold_s: 0.0 },
        ];
        for (seq, body) in bodies.into_iter().enumerate() {
            let message = Message { sender: NodeId(9), seq: seq as u64, timestamp_us: 5, body };
            let bytes = encode(&message, &ring()).unwrap();
            assert_eq!(MessageType::from_byte(bytes[1]), Some(body.message_type()));
            assert_eq!(verify(&bytes, &ring()), Ok(message));
        }
    }

    #[test]
    fn blended_fractions_travel_as_16_bit_fixed_point() {
        let message = |f_ra, alpha| Message {
            sender: NodeId(2),
            seq: 1,
            timestamp_us: 1,
            body: Body::RaBlended { f_ra, alpha, rate_hz: 3.0 },
        };
        for (f_ra, alpha) in [(0.05f32, 0.7f32), (0.123_456, 0.999_99), (0.5, 0.5)] {
            let bytes = encode(&message(f_ra, alpha), &ring()).unwrap();
            let Body::RaBlended { f_ra: got_f, alpha: got_a, rate_hz } =
                verify(&bytes, &ring()).unwrap().body
            else {
                panic!("an RA-blended body");
            };
            assert!((got_f - f_ra).abs() <= 0.5 / 65535.0 + f32::EPSILON, "{got_f} vs {f_ra}");
            assert!((got_a - alpha).abs() <= 0.5 / 65535.0 + f32::EPSILON, "{got_a} vs {alpha}");
            assert_eq!(rate_hz, 3.0);
        }
        let bytes = encode(&message(1.0, 0.5), &ring()).unwrap();
        assert_eq!(&bytes[23..27], &[0xff, 0xff, 0x80, 0x00]);
    }

    #[test]
    fn bad_payloads_are_refused_on_both_sides() {
        let message = |body| Message { sender: NodeId(1), seq: 1, timestamp_us: 1, body };
        let bad = [
            (Body::Ra { mode: Mode::Balance, f_ra: 1.5, rate_hz: 1.0 }, "f_ra"),
            (Body::Ra { mode: Mode::Power, f_ra: f32::NAN, rate_hz: 1.0 }, "f_ra"),
            (Body::Ra { mode: Mode::Power, f_ra: 0.5, rate_hz: 0.0 }, "rate_hz"),
            (Body::Ra { mode: Mode::Power, f_ra: 0.5, rate_hz: f32::INFINITY }, "rate_hz"),
            (Body::Capacity { total: -1.0 }, "total"),
            (Body::CapacityShare { node: NodeId(2), share: -0.1 }, "share"),
            (Body::RaBlended { f_ra: 0.5, alpha: 1.01, rate_hz: 1.0 }, "alpha"),
            (Body::RaBlended { f_ra: -0.5, alpha: 1.0, rate_hz: 1.0 }, "f_ra"),
            (Body::RaBlended { f_ra: 0.5, alpha: 0.5, rate_hz: -1.0 }, "rate_hz"),
            (Body::Alpha { alpha: f32::NAN, hold_s: 1.0 }, "alpha"),
            (Body::Alpha { alpha: 0.5, hold_s: -1.0 }, "hold_s"),
        ];
        for (body, want) in bad {
            let err = encode(&message(body), &ring()).unwrap_err();
            assert!(matches!(err, EncodeError::BadPayload { field, .. } if field == want), "{err}");
        }
        // A key holder that writes a bad payload anyway is rejected after the tag checks.
        let mut bytes = encode(&message(ra(Mode::Balance)), &ring()).unwrap();
        bytes[23..27].copy_from_slice(&2.0f32.to_be_bytes());
        let mut mac = ring().current_mac().clone();
        mac.update(&bytes[..31]);
        let tag = mac.finalize().into_bytes();
        bytes[31..].copy_from_slice(&tag[..16]);
        let err = verify(&bytes, &ring()).unwrap_err();
        assert!(
            matches!(err, Reject::BadPayload { field: "f_ra", value, .. } if value == 2.0),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "beacon from node 1: RA-balance payload field `f_ra` must be a finite number in \
             [0, 1], got 2"
        );
    }

    #[test]
    fn encoder_numbers_messages_and_stops_at_the_end() {
        let mut encoder = Encoder::new(NodeId(4), u64::MAX - 1);
        let first = encoder.encode(ra(Mode::Balance), 10, &ring()).unwrap();
        assert_eq!(verify(&first, &ring()).unwrap().seq, u64::MAX - 1);
        assert!(encoder.encode(Body::Capacity { total: f64::NAN }, 11, &ring()).is_err());
        assert_eq!(encoder.next_seq(), Some(u64::MAX));
        let last = encoder.encode(ra(Mode::Power), 12, &ring()).unwrap();
        assert_eq!(verify(&last, &ring()).unwrap().seq, u64::MAX);
        assert_eq!(encoder.next_seq(), None);
        assert_eq!(
            encoder.encode(ra(Mode::Power), 13, &ring()),
            Err(EncodeError::SequenceExhausted { sender: NodeId(4) })
        );
        assert_eq!(encoder.sender(), NodeId(4));
    }
}
