//! `DriverError`: what a driver call can fail with. Every message names the host and, where a
//! BMC was involved, its address, and says what failed (STYLE.md rule 9).

use std::fmt;
use std::time::Duration;

use crate::host::HostId;
use crate::power::{OperationId, PowerOp, PowerState};

/// Why a driver call failed.
///
/// `bmc` fields hold the BMC's address as `address:port`, or `simulated` for the simulated
/// driver. Two variants are timeouts: [`DriverError::Timeout`] (one BMC command gave no answer)
/// and [`DriverError::NotConfirmed`] (a power change was accepted but never seen to happen).
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The BMC did not answer (no route, nothing listening, packets lost).
    #[error("host {host}: BMC {bmc} unreachable: {detail}")]
    Unreachable {
        /// The host.
        host: HostId,
        /// The BMC's address.
        bmc: String,
        /// What the tool reported.
        detail: String,
    },
    /// The BMC refused the credentials: wrong user name or password.
    #[error(
        "host {host}: BMC {bmc} rejected user {user:?}: authentication failed ({detail}); \
         check the user name and password"
    )]
    AuthenticationFailed {
        /// The host.
        host: HostId,
        /// The BMC's address.
        bmc: String,
        /// The user name that was refused.
        user: String,
        /// Which check failed, as the tool reported it.
        detail: String,
    },
    /// The BMC (or the driver) does not implement the operation.
    #[error("host {host}: BMC {bmc} does not support {operation}: {detail}")]
    Unsupported {
        /// The host.
        host: HostId,
        /// The BMC's address.
        bmc: String,
        /// What was asked (`power on`, `a power sensor`).
        operation: String,
        /// The BMC's answer or the driver's reason.
        detail: String,
    },
    /// One command to the BMC gave no answer in time and was killed.
    #[error("host {host}: BMC {bmc}: `{command}` gave no answer within {}; killed it", Secs(*.waited))]
    Timeout {
        /// The host.
        host: HostId,
        /// The BMC's address.
        bmc: String,
        /// The command, without credentials.
        command: String,
        /// How long it ran.
        waited: Duration,
    },
    /// A power change was accepted but the host was not seen in the target state in time.
    #[error("host {host}: {operation} not confirmed after {}; last state {last}", Secs(*.waited))]
    NotConfirmed {
        /// The host.
        host: HostId,
        /// The change that was requested.
        operation: PowerOp,
        /// How long the state was polled.
        waited: Duration,
        /// The last state read.
        last: PowerState,
    },
    /// The BMC answered something the driver cannot read.
    #[error("host {host}: BMC {bmc}: malformed reply to `{command}`: {reply:?}")]
    MalformedReply {
        /// The host.
        host: HostId,
        /// The BMC's address.
        bmc: String,
        /// The command, without credentials.
        command: String,
        /// The reply, or the offending line of it.
        reply: String,
    },
    /// The external tool the driver runs is not installed.
    #[error(
        "host {host}: `{tool}` is not installed; install the Debian package `{package}` \
         (scripts/test.sh does)"
    )]
    ToolMissing {
        /// The host.
        host: HostId,
        /// The tool as the driver tried to run it.
        tool: String,
        /// The Debian package that provides it.
        package: &'static str,
    },
    /// A command failed in a way none of the other variants describes.
    #[error("host {host}: BMC {bmc}: `{command}` failed ({status}): {detail}")]
    CommandFailed {
        /// The host.
        host: HostId,
        /// The BMC's address.
        bmc: String,
        /// The command, without credentials.
        command: String,
        /// The exit status.
        status: String,
        /// What the command printed on stderr.
        detail: String,
    },
    /// The driver said a power change failed (superseded, or its deadline passed).
    #[error("host {host}: {operation} failed: {reason}")]
    OperationFailed {
        /// The host.
        host: HostId,
        /// The change that was requested.
        operation: PowerOp,
        /// Why.
        reason: String,
    },
    /// The driver has no host by this id.
    #[error("host {host}: not known to this driver")]
    UnknownHost {
        /// The host.
        host: HostId,
    },
    /// The driver has no operation by this id: never issued, or forgotten.
    #[error("operation {op}: not known to this driver (never requested, or forgotten)")]
    UnknownOperation {
        /// The operation.
        op: OperationId,
    },
    /// The compute driver has no instance by this name.
    #[error("instance {instance}: not known to this driver")]
    UnknownInstance {
        /// The instance.
        instance: String,
    },
    /// The compute driver has no operation by this ID: never submitted, or forgotten.
    #[error("operation {op_id}: not known to this driver (never submitted)")]
    UnknownComputeOp {
        /// The caller's operation ID.
        op_id: String,
    },
    /// An operation ID was submitted again with a different operation.
    #[error("operation {op_id}: already submitted as {existing}; refusing {requested} under the same ID")]
    OperationConflict {
        /// The caller's operation ID.
        op_id: String,
        /// What the ID names already.
        existing: String,
        /// What was asked now.
        requested: String,
    },
    /// The compute backend refused an operation (no room, wrong state, not movable).
    #[error("{operation}: refused by {backend}: {reason}")]
    Refused {
        /// The operation, as its Display names it.
        operation: String,
        /// The backend (`simulated`, a libvirt URI, an engine address).
        backend: String,
        /// Why.
        reason: String,
    },
    /// A [`crate::PowerLimiter`] had no free slot within its wait.
    #[error(
        "host {host}: {operation} refused: {limit} power change(s) already in flight \
         (waited {} for a free slot)",
        Secs(*.waited)
    )]
    Busy {
        /// The host.
        host: HostId,
        /// The change that was requested.
        operation: PowerOp,
        /// The limiter's cap.
        limit: usize,
        /// How long the request waited.
        waited: Duration,
    },
}

/// A duration in seconds for messages: `30 s`, `1.5 s`, `0.25 s`.
pub(crate) struct Secs(pub(crate) Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs_f64();
        if self.0.subsec_nanos() == 0 {
            write!(f, "{} s", self.0.as_secs())
        } else if (secs * 10.0).fract() == 0.0 {
            write!(f, "{secs:.1} s")
        } else {
            write!(f, "{secs:.3} s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_read_naturally() {
        assert_eq!(Secs(Duration::from_secs(30)).to_string(), "30 s");
        assert_eq!(Secs(Duration::from_millis(1500)).to_string(), "1.5 s");
        assert_eq!(Secs(Duration::from_millis(250)).to_string(), "0.250 s");
    }

    #[test]
    fn not_confirmed_names_host_operation_time_and_last_state() {
        let err = DriverError::NotConfirmed {
            host: HostId::new("h1"),
            operation: PowerOp::On,
            waited: Duration::from_secs(30),
            last: PowerState::Off,
        };
        assert_eq!(err.to_string(), "host h1: power on not confirmed after 30 s; last state off");
    }
}
