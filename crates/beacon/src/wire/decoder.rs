//! The receiving side: [`Decoder`] verifies each message ([`super::verify`]), then checks the
//! timestamp against the receiver's clock and the sequence number against the sender's replay
//! window, and counts every rejection by reason in [`RejectCounters`].

use super::{verify, Keyring, Message, Reject, RejectKind};
use crate::NodeId;
use std::collections::HashMap;

/// Sequence numbers per sender the replay window remembers: a message may arrive up to 63
/// places out of order and still be accepted once.
pub const REPLAY_WINDOW: u64 = 64;

/// The decoder's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecoderConfig {
    /// The largest accepted distance between a message's timestamp and the receiver's clock,
    /// either way, in microseconds. It bounds how long a recorded message can be replayed to a
    /// receiver that lost its replay state (a restart).
    pub max_skew_us: u64,
    /// The most senders whose replay windows the decoder keeps; a new sender beyond it is
    /// rejected ([`RejectKind::SenderTableFull`]). Only authenticated senders take a slot.
    pub max_senders: usize,
}

impl Default for DecoderConfig {
    /// 5 s of skew (NTP keeps a cluster within milliseconds), 65 536 senders.
    fn default() -> Self {
        DecoderConfig { max_skew_us: 5_000_000, max_senders: 65_536 }
    }
}

/// One counter per [`RejectKind`]: how many messages the decoder rejected for each reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RejectCounters {
    /// [`RejectKind::Truncated`].
    pub truncated: u64,
    /// [`RejectKind::TooLong`].
    pub too_long: u64,
    /// [`RejectKind::BadVersion`].
    pub bad_version: u64,
    /// [`RejectKind::UnknownType`].
    pub unknown_type: u64,
    /// [`RejectKind::UnknownKey`].
    pub unknown_key: u64,
    /// [`RejectKind::BadTag`].
    pub bad_tag: u64,
    /// [`RejectKind::BadPayload`].
    pub bad_payload: u64,
    /// [`RejectKind::ClockSkew`].
    pub clock_skew: u64,
    /// [`RejectKind::Replayed`].
    pub replayed: u64,
    /// [`RejectKind::TooOld`].
    pub too_old: u64,
    /// [`RejectKind::SenderTableFull`].
    pub sender_table_full: u64,
}

impl RejectCounters {
    fn slot(&mut self, kind: RejectKind) -> &mut u64 {
        match kind {
            RejectKind::Truncated => &mut self.truncated,
            RejectKind::TooLong => &mut self.too_long,
            RejectKind::BadVersion => &mut self.bad_version,
            RejectKind::UnknownType => &mut self.unknown_type,
            RejectKind::UnknownKey => &mut self.unknown_key,
            RejectKind::BadTag => &mut self.bad_tag,
            RejectKind::BadPayload => &mut self.bad_payload,
            RejectKind::ClockSkew => &mut self.clock_skew,
            RejectKind::Replayed => &mut self.replayed,
            RejectKind::TooOld => &mut self.too_old,
            RejectKind::SenderTableFull => &mut self.sender_table_full,
        }
    }

    /// The count for `kind`.
    pub fn get(&self, kind: RejectKind) -> u64 {
        match kind {
            RejectKind::Truncated => self.truncated,
            RejectKind::TooLong => self.too_long,
            RejectKind::BadVersion => self.bad_version,
            RejectKind::UnknownType => self.unknown_type,
            RejectKind::UnknownKey => self.unknown_key,
            RejectKind::BadTag => self.bad_tag,
            RejectKind::BadPayload => self.bad_payload,
            RejectKind::ClockSkew => self.clock_skew,
            RejectKind::Replayed => self.replayed,
            RejectKind::TooOld => self.too_old,
            RejectKind::SenderTableFull => self.sender_table_full,
        }
    }

    /// Counts one rejection of `kind` (the decoder does this itself; a receive loop may count
    /// what it drops before decoding, such as oversized datagrams, as [`RejectKind::TooLong`]).
    pub fn record(&mut self, kind: RejectKind) {
        let slot = self.slot(kind);
        *slot = slot.saturating_add(1);
    }

    /// Adds `other`'s counts to these (e.g. several receive threads' decoders).
    pub fn add(&mut self, other: &RejectCounters) {
        for kind in RejectKind::ALL {
            let slot = self.slot(kind);
            *slot = slot.saturating_add(other.get(kind));
        }
    }

    /// All rejections.
    pub fn total(&self) -> u64 {
        RejectKind::ALL.iter().fold(0u64, |sum, &kind| sum.saturating_add(self.get(kind)))
    }

    /// `(kind, count)` for every kind, in check order.
    pub fn iter(&self) -> impl Iterator<Item = (RejectKind, u64)> + '_ {
        RejectKind::ALL.into_iter().map(|kind| (kind, self.get(kind)))
    }
}

/// A sender's replay window: the highest sequence number accepted and a bitmap of the
/// [`REPLAY_WINDOW`] numbers at and below it (bit `i` = `highest − i` accepted), as IPsec's
/// anti-replay window (RFC 4303 §3.4.3).
#[derive(Clone, Copy, Debug)]
struct ReplayWindow {
    highest: u64,
    seen: u64,
}

impl ReplayWindow {
    fn first(seq: u64) -> ReplayWindow {
        ReplayWindow { highest: seq, seen: 1 }
    }

    /// Accepts `seq` once, or says why not.
    fn accept(&mut self, sender: NodeId, seq: u64) -> Result<(), Reject> {
        if seq > self.highest {
            let shift = seq - self.highest;
            self.seen = if shift >= REPLAY_WINDOW { 1 } else { (self.seen << shift) | 1 };
            self.highest = seq;
            return Ok(());
        }
        let behind = self.highest - seq;
        if behind >= REPLAY_WINDOW {
            return Err(Reject::TooOld {
                sender,
                seq,
                highest: self.highest,
                window: REPLAY_WINDOW,
            });
        }
        let bit = 1u64 << behind;
        if self.seen & bit != 0 {
            return Err(Reject::Replayed { sender, seq });
        }
        self.seen |= bit;
        Ok(())
    }
}

/// The strict receiving side: verification plus per-sender replay state and counters. Sans-IO:
/// the caller passes each datagram's bytes and its own clock.
#[derive(Clone, Debug)]
pub struct Decoder {
    keyring: Keyring,
    config: DecoderConfig,
    windows: HashMap<NodeId, ReplayWindow>,
    counters: RejectCounters,
    accepted: u64,
}

impl Decoder {
    /// A decoder that accepts any key in `keyring` within `config`'s limits.
    pub fn new(keyring: Keyring, config: DecoderConfig) -> Decoder {
        Decoder {
            keyring,
            config,
            windows: HashMap::new(),
            counters: RejectCounters::default(),
            accepted: 0,
        }
    }

    /// Decodes one datagram received when the receiver's clock read `now_us` (µs since the
    /// Unix epoch). Checks, in order: length, version, type, key ID, tag, payload (see
    /// [`super::verify`]), then `|timestamp − now| ≤ max_skew_us`, then the sender's replay
    /// window; the first failure is returned and counted. An accepted message advances the
    /// sender's window. Never panics; allocates only when a new sender grows the table.
    pub fn decode(&mut self, bytes: &[u8], now_us: u64) -> Result<Message, Reject> {
        let result = self.check(bytes, now_us);
        match &result {
            Ok(_) => self.accepted = self.accepted.saturating_add(1),
            Err(reject) => self.counters.record(reject.kind()),
        }
        result
    }

    fn check(&mut self, bytes: &[u8], now_us: u64) -> Result<Message, Reject> {
        let message = verify(bytes, &self.keyring)?;
        let Message { sender, seq, timestamp_us, .. } = message;
        if timestamp_us.abs_diff(now_us) > self.config.max_skew_us {
            return Err(Reject::ClockSkew {
                sender,
                seq,
                timestamp_us,
                now_us,
                max_skew_us: self.config.max_skew_us,
            });
        }
        if let Some(window) = self.windows.get_mut(&sender) {
            window.accept(sender, seq)?;
        } else if self.windows.len() >= self.config.max_senders {
            return Err(Reject::SenderTableFull { sender, max_senders: self.config.max_senders });
        } else {
            self.windows.insert(sender, ReplayWindow::first(seq));
        }
        Ok(message)
    }

    /// The rejections so far, by reason.
    pub fn counters(&self) -> &RejectCounters {
        &self.counters
    }

    /// How many messages were accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted
    }

    /// The key ring (to inspect).
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// The key ring, to rotate keys: insert the new key, and remove the old one once every
    /// sender tags with the new one.
    pub fn keyring_mut(&mut self) -> &mut Keyring {
        &mut self.keyring
    }

    /// The limits.
    pub fn config(&self) -> DecoderConfig {
        self.config
    }

    /// The highest sequence number accepted from `sender`, if any.
    pub fn highest_seq(&self, sender: NodeId) -> Option<u64> {
        self.windows.get(&sender).map(|window| window.highest)
    }

    /// How many senders have replay state.
    pub fn n_senders(&self) -> usize {
        self.windows.len()
    }

    /// Drops `sender`'s replay state (e.g. when it leaves the cluster); its next message is
    /// accepted like a first one, within the skew bound. Returns whether there was state.
    pub fn forget(&mut self, sender: NodeId) -> bool {
        self.windows.remove(&sender).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_window_accepts_each_number_once_within_the_window() {
        let node = NodeId(1);
        let mut window = ReplayWindow::first(100);
        assert_eq!(window.accept(node, 100), Err(Reject::Replayed { sender: node, seq: 100 }));
        window.accept(node, 102).unwrap();
        window.accept(node, 101).unwrap(); // late but inside the window
        assert!(matches!(window.accept(node, 101), Err(Reject::Replayed { .. })));
        window.accept(node, 102 + 63).unwrap();
        // 102 is now 63 behind: still in the window, and remembered.
        assert!(matches!(window.accept(node, 102), Err(Reject::Replayed { .. })));
        // 101 is 64 behind: too old.
        assert_eq!(
            window.accept(node, 101),
            Err(Reject::TooOld { sender: node, seq: 101, highest: 165, window: 64 })
        );
        // A jump beyond the window clears it.
        window.accept(node, 1_000).unwrap();
        window.accept(node, 999).unwrap();
        assert!(matches!(window.accept(node, 936), Err(Reject::TooOld { .. })));
        window.accept(node, 937).unwrap();
        window.accept(node, u64::MAX).unwrap();
        assert!(matches!(window.accept(node, u64::MAX), Err(Reject::Replayed { .. })));
    }

    #[test]
    fn counters_record_add_and_total() {
        let mut counters = RejectCounters::default();
        for kind in RejectKind::ALL {
            counters.record(kind);
        }
        counters.record(RejectKind::BadTag);
        assert_eq!(counters.total(), 12);
        assert_eq!(counters.bad_tag, 2);
        let mut sum = counters;
        sum.add(&counters);
        assert_eq!(sum.get(RejectKind::BadTag), 4);
        assert_eq!(sum.total(), 24);
        assert_eq!(sum.iter().map(|(_, n)| n).sum::<u64>(), 24);
        assert_eq!(
            RejectKind::ALL.map(RejectKind::name).join(","),
            "truncated,too_long,bad_version,unknown_type,unknown_key,bad_tag,bad_payload,\
             clock_skew,replayed,too_old,sender_table_full"
        );
    }
}
