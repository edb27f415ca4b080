//! The [`Compute`] trait: list the instances a host runs, and start, stop or move one as an
//! operation named by the caller. The caller's operation ID is what makes a controller crash
//! harmless: it journals the ID before it submits, and after a restart it submits the same ID
//! again (a no-op if the driver already has it) or polls it.
//!
//! Contract (docs/drivers.md; the conformance tests check it):
//! - `submit` is idempotent by operation ID: the same ID with the same operation is accepted
//!   again with no second effect; the same ID with a different operation is
//!   [`DriverError::OperationConflict`].
//! - `submit` returns once the backend accepted the operation; `poll` says when it ended. Every
//!   operation ends (`Done` or `Failed`) within the driver's own deadline.
//! - A move never leaves the instance running on both hosts nor on neither: it runs on the
//!   source until the switch-over and on the target after it (a cold move stops it in between,
//!   and a failed move leaves it where it was).
//! - An unknown host is [`DriverError::UnknownHost`], an unknown instance
//!   [`DriverError::UnknownInstance`], an operation never submitted
//!   [`DriverError::UnknownComputeOp`].

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::DriverError;
use crate::host::HostId;
use crate::power::OpStatus;

/// Where an instance is in its life, as the backend reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceState {
    /// Running on its host.
    Running,
    /// Defined on its host but not running.
    Stopped,
    /// Running on its host while a move copies it elsewhere (still on this host until the
    /// switch-over).
    Migrating,
}

impl fmt::Display for InstanceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InstanceState::Running => "running",
            InstanceState::Stopped => "stopped",
            InstanceState::Migrating => "migrating",
        })
    }
}

/// One instance (VM, container or task) as a compute driver lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceInfo {
    /// The instance's name, unique across the drivers' hosts.
    pub id: String,
    /// The host it is defined on.
    pub host: HostId,
    /// Its state.
    pub state: InstanceState,
    /// Virtual CPUs (cores) it may use.
    pub cpus: f64,
    /// Memory (MiB).
    pub memory_mib: f64,
    /// The fraction of its CPUs it used over the driver's last sample, if the backend measures it.
    pub cpu_use: Option<f64>,
    /// Whether the driver can move it at all (a pinned or host-bound instance cannot).
    pub movable: bool,
}

/// How an instance moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MoveKind {
    /// Live migration: it keeps running, with a short pause at the switch-over.
    Live,
    /// Cold move: stopped on the source, started on the target.
    Cold,
}

impl fmt::Display for MoveKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MoveKind::Live => "live",
            MoveKind::Cold => "cold",
        })
    }
}

/// What moves a driver can make, for the controller's fallback (live → cold → leave in place).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveCapabilities {
    /// Live migration.
    pub live: bool,
    /// Cold moves.
    pub cold: bool,
    /// Whether an operation in flight can be cancelled.
    pub cancel: bool,
    /// What the capabilities rest on, for operators (`"stateless containers only"`).
    pub note: String,
}

/// An operation on an instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ComputeOp {
    /// Move `instance` from `from` to `to`.
    Move {
        /// The instance.
        instance: String,
        /// Its host now.
        from: HostId,
        /// Its host after the move.
        to: HostId,
        /// Live or cold.
        kind: MoveKind,
    },
    /// Start a stopped instance on its host.
    Start {
        /// The instance.
        instance: String,
    },
    /// Stop a running instance (it stays defined on its host).
    Stop {
        /// The instance.
        instance: String,
    },
}

impl ComputeOp {
    /// The instance the operation is about.
    pub fn instance(&self) -> &str {
        match self {
            ComputeOp::Move { instance, .. }
            | ComputeOp::Start { instance }
            | ComputeOp::Stop { instance } => instance,
        }
    }
}

impl fmt::Display for ComputeOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComputeOp::Move { instance, from, to, kind } => {
                write!(f, "{kind} move of {instance} from {from} to {to}")
            }
            ComputeOp::Start { instance } => write!(f, "start of {instance}"),
            ComputeOp::Stop { instance } => write!(f, "stop of {instance}"),
        }
    }
}

/// The idempotency rule of [`Compute::submit`], for implementations: `None` when `op_id` is
/// new; `Some(Ok(()))` when it already names `op` (accepted again, no second effect);
/// `Some(Err(OperationConflict))` when it names another operation.
pub fn resubmission(
    op_id: &str,
    existing: Option<&ComputeOp>,
    op: &ComputeOp,
) -> Option<Result<(), DriverError>> {
    let existing = existing?;
    if existing == op {
        return Some(Ok(()));
    }
    Some(Err(DriverError::OperationConflict {
        op_id: op_id.to_string(),
        existing: existing.to_string(),
        requested: op.to_string(),
    }))
}

/// Instances on the hosts a driver knows, and operations on them named by the caller.
pub trait Compute: Send + Sync {
    /// What moves this driver can make.
    fn capabilities(&self) -> MoveCapabilities;
    /// Every instance defined on `host`, running or not, in a stable order.
    fn instances(&self, host: &HostId) -> Result<Vec<InstanceInfo>, DriverError>;
    /// Submits `op` under the caller's `op_id` (idempotent by ID; see the module contract).
    fn submit(&self, op_id: &str, op: &ComputeOp) -> Result<(), DriverError>;
    /// Where the operation stands.
    fn poll(&self, op_id: &str) -> Result<OpStatus, DriverError>;
    /// Cancels an operation in flight: `Ok(true)` if it will end `Failed` with the instance
    /// where it was, `Ok(false)` if the backend cannot cancel or it already ended.
    fn cancel(&self, op_id: &str) -> Result<bool, DriverError>;
}

impl<C: Compute + ?Sized> Compute for Arc<C> {
    fn capabilities(&self) -> MoveCapabilities {
        (**self).capabilities()
    }
    fn instances(&self, host: &HostId) -> Result<Vec<InstanceInfo>, DriverError> {
        (**self).instances(host)
    }
    fn submit(&self, op_id: &str, op: &ComputeOp) -> Result<(), DriverError> {
        (**self).submit(op_id, op)
    }
    fn poll(&self, op_id: &str) -> Result<OpStatus, DriverError> {
        (**self).poll(op_id)
    }
    fn cancel(&self, op_id: &str) -> Result<bool, DriverError> {
        (**self).cancel(op_id)
    }
}
