//! The cluster keys, by key ID: senders tag with the current key, receivers accept any key in
//! the ring, so keys rotate without a flag day (add the new key everywhere, switch senders to
//! it, then remove the old one).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The shortest key accepted, in bytes (128 bits).
pub const MIN_KEY_LEN: usize = 16;

/// Why a key-ring operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key is shorter than [`MIN_KEY_LEN`].
    #[error("key ID {key_id}: a key must be at least {MIN_KEY_LEN} bytes, got {len}")]
    TooShort {
        /// The key's ID.
        key_id: u8,
        /// Its length in bytes.
        len: usize,
    },
    /// The ID already names a key (replacing a key under the same ID would break receivers
    /// mid-rotation; give the new key a new ID).
    #[error("key ID {key_id} is already in the key ring; give a new key a new ID")]
    Duplicate {
        /// The key's ID.
        key_id: u8,
    },
    /// The ID names no key.
    #[error("key ID {key_id} is not in the key ring")]
    Unknown {
        /// The requested ID.
        key_id: u8,
    },
    /// The current (sending) key cannot be removed.
    #[error(
        "key ID {key_id} is the current sending key; make another key current before removing it"
    )]
    RemovingCurrent {
        /// The requested ID.
        key_id: u8,
    },
}

/// Key IDs → HMAC-SHA-256 keys, one of them current. Each key is kept as its keyed HMAC state,
/// so tagging and verifying a message costs two SHA-256 blocks. `Debug` shows IDs, never keys.
#[derive(Clone)]
pub struct Keyring {
    /// `(key ID, keyed MAC)`, in insertion order; a handful at most, so a scan beats a map.
    keys: Vec<(u8, Hmac<Sha256>)>,
    current: u8,
}

fn keyed(key_id: u8, key: &[u8]) -> Result<Hmac<Sha256>, KeyError> {
    if key.len() < MIN_KEY_LEN {
        return Err(KeyError::TooShort { key_id, len: key.len() });
    }
    Ok(Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length"))
}

impl Keyring {
    /// A ring holding `key` under `key_id`, which is current.
    pub fn new(key_id: u8, key: &[u8]) -> Result<Keyring, KeyError> {
        Ok(Keyring { keys: vec![(key_id, keyed(key_id, key)?)], current: key_id })
    }

    /// Adds `key` under a new `key_id`; receivers accept it from now on. It does not become
    /// current.
    pub fn insert(&mut self, key_id: u8, key: &[u8]) -> Result<(), KeyError> {
        if self.contains(key_id) {
            return Err(KeyError::Duplicate { key_id });
        }
        let mac = keyed(key_id, key)?;
        self.keys.push((key_id, mac));
        Ok(())
    }

    /// Makes `key_id` the key [`super::encode`] tags with.
    pub fn set_current(&mut self, key_id: u8) -> Result<(), KeyError> {
        if !self.contains(key_id) {
            return Err(KeyError::Unknown { key_id });
        }
        self.current = key_id;
        Ok(())
    }

    /// Removes `key_id`; messages tagged with it are rejected from now on as
    /// [`super::RejectKind::UnknownKey`]. The current key cannot be removed.
    pub fn remove(&mut self, key_id: u8) -> Result<(), KeyError> {
        if key_id == self.current {
            return Err(KeyError::RemovingCurrent { key_id });
        }
        let before = self.keys.len();
        self.keys.retain(|(id, _)| *id != key_id);
        if self.keys.len() == before {
            return Err(KeyError::Unknown { key_id });
        }
        Ok(())
    }

    /// The ID senders tag with.
    pub fn current_id(&self) -> u8 {
        self.current
    }

    /// Whether `key_id` is in the ring.
    pub fn contains(&self, key_id: u8) -> bool {
        self.keys.iter().any(|(id, _)| *id == key_id)
    }

    /// The IDs in the ring, in insertion order.
    pub fn ids(&self) -> impl Iterator<Item = u8> + '_ {
        self.keys.iter().map(|(id, _)| *id)
    }

    /// The keyed MAC for `key_id`, if in the ring.
    pub(crate) fn mac(&self, key_id: u8) -> Option<&Hmac<Sha256>> {
        self.keys.iter().find(|(id, _)| *id == key_id).map(|(_, mac)| mac)
    }

    /// The current key's MAC.
    pub(crate) fn current_mac(&self) -> &Hmac<Sha256> {
        self.mac(self.current).expect("the current key is always in the ring")
    }
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("ids", &self.ids().collect::<Vec<_>>())
            .field("current", &self.current)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_operations_and_their_errors() {
        assert_eq!(
            Keyring::new(1, &[0; 15]).map(|ring| ring.current_id()),
            Err(KeyError::TooShort { key_id: 1, len: 15 })
        );
        let mut ring = Keyring::new(1, &[1; 16]).unwrap();
        assert_eq!(ring.insert(1, &[2; 32]), Err(KeyError::Duplicate { key_id: 1 }));
        assert_eq!(ring.insert(2, &[2; 8]), Err(KeyError::TooShort { key_id: 2, len: 8 }));
        ring.insert(2, &[2; 32]).unwrap();
        assert_eq!(ring.set_current(3), Err(KeyError::Unknown { key_id: 3 }));
        assert_eq!(ring.remove(1), Err(KeyError::RemovingCurrent { key_id: 1 }));
        ring.set_current(2).unwrap();
        assert_eq!(ring.current_id(), 2);
        ring.remove(1).unwrap();
        assert_eq!(ring.remove(1), Err(KeyError::Unknown { key_id: 1 }));
        assert_eq!(ring.ids().collect::<Vec<_>>(), [2]);
        assert!(ring.contains(2) && !ring.contains(1));
        let shown = format!("{ring:?}");
        assert_eq!(shown, "Keyring { ids: [2], current: 2 }");
    }
}
