//! Host identity: the name every driver call carries and every error message repeats.

use std::fmt;

/// A host's id, as the fleet configuration names it (`"rack1-h07"`). Drivers key their hosts,
/// BMCs and operations by it.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct HostId(String);

impl HostId {
    /// A host id from its name.
    pub fn new(name: impl Into<String>) -> HostId {
        HostId(name.into())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for HostId {
    fn from(name: &str) -> HostId {
        HostId::new(name)
    }
}
