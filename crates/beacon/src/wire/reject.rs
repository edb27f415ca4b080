//! Why a beacon was rejected: [`Reject`] with the details for a log line, and its
//! [`RejectKind`] for counting.

use super::{MessageType, VERSION};
use crate::NodeId;

/// A rejected beacon, with what was wrong and, where the bytes say, who claimed to send it
/// (a claim before the tag is checked, the authenticated sender after).
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum Reject {
    /// Fewer bytes than the message's type needs (or too few to name a type).
    #[error("beacon of {len} bytes is truncated: a version-{VERSION} message is {expected} bytes")]
    Truncated {
        /// Bytes received.
        len: usize,
        /// Bytes a message of this version and type has.
        expected: usize,
    },
    /// More bytes than the message's type has.
    #[error("beacon of {len} bytes is too long: a version-{VERSION} message is {expected} bytes")]
    TooLong {
        /// Bytes received.
        len: usize,
        /// Bytes a message of this version and type has.
        expected: usize,
    },
    /// The version byte is not [`VERSION`].
    #[error("beacon has wire version {version}; this decoder speaks version {VERSION}")]
    BadVersion {
        /// The version byte received.
        version: u8,
    },
    /// The type byte is reserved.
    #[error("beacon has unknown message type {type_byte} (known: 1 RA-balance, 2 RA-power, 3 CP, 4 CP-share)")]
    UnknownType {
        /// The type byte received.
        type_byte: u8,
    },
    /// The key ID is not in the receiver's key ring.
    #[error("beacon claiming to be from node {claimed_sender} names key ID {key_id}, which is not in the key ring")]
    UnknownKey {
        /// The key ID received.
        key_id: u8,
        /// The sender the (unauthenticated) bytes name.
        claimed_sender: NodeId,
    },
    /// The tag does not verify: a wrong key or altered bytes.
    #[error("beacon claiming to be from node {claimed_sender}: the tag does not verify under key ID {key_id} (wrong key or altered bytes)")]
    BadTag {
        /// The key ID received.
        key_id: u8,
        /// The sender the (unauthenticated) bytes name.
        claimed_sender: NodeId,
    },
    /// An authenticated message whose payload breaks its rule (a sender bug).
    #[error("beacon from node {sender}: {} payload field `{field}` {rule}, got {value}", message_type.name())]
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
    /// The timestamp is further from the receiver's clock than the skew bound.
    #[error("beacon from node {sender} (sequence {seq}): timestamp {timestamp_us} µs is more than {max_skew_us} µs from the receiver's clock ({now_us} µs)")]
    ClockSkew {
        /// The sender.
        sender: NodeId,
        /// The message's sequence number.
        seq: u64,
        /// The message's timestamp.
        timestamp_us: u64,
        /// The receiver's clock.
        now_us: u64,
        /// The bound.
        max_skew_us: u64,
    },
    /// A sequence number inside the replay window that was already accepted.
    #[error("beacon from node {sender}: sequence {seq} was already accepted (replay)")]
    Replayed {
        /// The sender.
        sender: NodeId,
        /// The repeated sequence number.
        seq: u64,
    },
    /// A sequence number below the replay window.
    #[error("beacon from node {sender}: sequence {seq} is older than the replay window (highest accepted {highest}, window {window})")]
    TooOld {
        /// The sender.
        sender: NodeId,
        /// The old sequence number.
        seq: u64,
        /// The highest sequence number accepted from this sender.
        highest: u64,
        /// The window size ([`super::REPLAY_WINDOW`]).
        window: u64,
    },
    /// A new sender while the decoder already tracks its maximum number of senders.
    #[error("beacon from node {sender}: the decoder already tracks {max_senders} senders and admits no new one")]
    SenderTableFull {
        /// The new sender.
        sender: NodeId,
        /// The configured maximum.
        max_senders: usize,
    },
}

/// The reason classes, one counter each in [`super::RejectCounters`], in the order the
/// decoder checks them.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum RejectKind {
    /// [`Reject::Truncated`].
    Truncated,
    /// [`Reject::TooLong`].
    TooLong,
    /// [`Reject::BadVersion`].
    BadVersion,
    /// [`Reject::UnknownType`].
    UnknownType,
    /// [`Reject::UnknownKey`].
    UnknownKey,
    /// [`Reject::BadTag`].
    BadTag,
    /// [`Reject::BadPayload`].
    BadPayload,
    /// [`Reject::ClockSkew`].
    ClockSkew,
    /// [`Reject::Replayed`].
    Replayed,
    /// [`Reject::TooOld`].
    TooOld,
    /// [`Reject::SenderTableFull`].
    SenderTableFull,
}

impl RejectKind {
    /// Every kind, in check order.
    pub const ALL: [RejectKind; 11] = [
        RejectKind::Truncated,
        RejectKind::TooLong,
        RejectKind::BadVersion,
        RejectKind::UnknownType,
        RejectKind::UnknownKey,
        RejectKind::BadTag,
        RejectKind::BadPayload,
        RejectKind::ClockSkew,
        RejectKind::Replayed,
        RejectKind::TooOld,
        RejectKind::SenderTableFull,
    ];

    /// The snake_case name, as counters serialize it.
    pub fn name(self) -> &'static str {
        match self {
            RejectKind::Truncated => "truncated",
            RejectKind::TooLong => "too_long",
            RejectKind::BadVersion => "bad_version",
            RejectKind::UnknownType => "unknown_type",
            RejectKind::UnknownKey => "unknown_key",
            RejectKind::BadTag => "bad_tag",
            RejectKind::BadPayload => "bad_payload",
            RejectKind::ClockSkew => "clock_skew",
            RejectKind::Replayed => "replayed",
            RejectKind::TooOld => "too_old",
            RejectKind::SenderTableFull => "sender_table_full",
        }
    }
}

impl std::fmt::Display for RejectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Reject {
    /// The reason class, for counting.
    pub fn kind(&self) -> RejectKind {
        match self {
            Reject::Truncated { .. } => RejectKind::Truncated,
            Reject::TooLong { .. } => RejectKind::TooLong,
            Reject::BadVersion { .. } => RejectKind::BadVersion,
            Reject::UnknownType { .. } => RejectKind::UnknownType,
            Reject::UnknownKey { .. } => RejectKind::UnknownKey,
            Reject::BadTag { .. } => RejectKind::BadTag,
            Reject::BadPayload { .. } => RejectKind::BadPayload,
            Reject::ClockSkew { .. } => RejectKind::ClockSkew,
            Reject::Replayed { .. } => RejectKind::Replayed,
            Reject::TooOld { .. } => RejectKind::TooOld,
            Reject::SenderTableFull { .. } => RejectKind::SenderTableFull,
        }
    }
}
