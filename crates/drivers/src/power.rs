//! The [`Power`] trait (read a host's power state, request a change, poll it), its vocabulary,
//! and [`change_power`], the verified power change: request, then poll the state until it
//! matches or a timeout says what was last seen.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::error::DriverError;
use crate::host::HostId;

/// A host's power state as its BMC reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerState {
    /// Powered on.
    On,
    /// Powered off (standby power only).
    Off,
    /// Not known: never read, or the BMC cannot tell.
    Unknown,
}

impl fmt::Display for PowerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PowerState::On => "on",
            PowerState::Off => "off",
            PowerState::Unknown => "unknown",
        })
    }
}

/// A power change a driver can be asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PowerOp {
    /// Power on.
    On,
    /// Hard power off, at once.
    Off,
    /// Ask the operating system to shut down (ACPI soft-off); the host turns off when it is done.
    SoftOff,
}

impl PowerOp {
    /// The state the host ends in once the change is done.
    pub fn target(self) -> PowerState {
        match self {
            PowerOp::On => PowerState::On,
            PowerOp::Off | PowerOp::SoftOff => PowerState::Off,
        }
    }
}

impl fmt::Display for PowerOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PowerOp::On => "power on",
            PowerOp::Off => "power off",
            PowerOp::SoftOff => "soft power off",
        })
    }
}

/// A requested power change, as the driver that accepted it numbers it. Unique per driver
/// object, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OperationId(u64);

impl OperationId {
    /// The id numbered `n` (drivers allocate these from a counter).
    pub fn new(n: u64) -> OperationId {
        OperationId(n)
    }

    /// The number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op-{}", self.0)
    }
}

/// Where a requested power change stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpStatus {
    /// Accepted, not yet seen done.
    Pending,
    /// The host is in the requested state.
    Done,
    /// It will not happen: superseded by a later request, or the driver's deadline passed.
    Failed(String),
}

impl OpStatus {
    /// Whether the operation is over (done or failed).
    pub fn is_terminal(&self) -> bool {
        !matches!(self, OpStatus::Pending)
    }
}

/// Power control of the hosts a driver knows, keyed by [`HostId`].
///
/// Contract (docs/drivers.md; the conformance tests check it on every implementation):
/// - `request` is idempotent: asking for the state a host is already in is accepted and its
///   operation ends `Done`.
/// - `request` returns once the BMC accepted the change, not when it happened; `poll` says when
///   it did. Every operation ends (`Done` or `Failed`) within the driver's own deadline.
/// - An unknown host is [`DriverError::UnknownHost`]; an unknown or forgotten operation
///   [`DriverError::UnknownOperation`].
pub trait Power: Send + Sync {
    /// The host's power state now.
    fn state(&self, host: &HostId) -> Result<PowerState, DriverError>;
    /// Asks for a power change; returns the id to poll it by.
    fn request(&self, host: &HostId, op: PowerOp) -> Result<OperationId, DriverError>;
    /// Where the change stands.
    fn poll(&self, op: OperationId) -> Result<OpStatus, DriverError>;
    /// Drops the driver's record of `op` (done with it, or given up on). Later polls of it are
    /// [`DriverError::UnknownOperation`]; an unknown `op` is ignored.
    fn forget(&self, op: OperationId);
}

impl<P: Power + ?Sized> Power for Arc<P> {
    fn state(&self, host: &HostId) -> Result<PowerState, DriverError> {
        (**self).state(host)
    }
    fn request(&self, host: &HostId, op: PowerOp) -> Result<OperationId, DriverError> {
        (**self).request(host, op)
    }
    fn poll(&self, op: OperationId) -> Result<OpStatus, DriverError> {
        (**self).poll(op)
    }
    fn forget(&self, op: OperationId) {
        (**self).forget(op)
    }
}

/// How long [`change_power`] waits for a change to show, and how often it looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wait {
    /// Give up after this long.
    pub timeout: Duration,
    /// Read the state this often.
    pub interval: Duration,
}

impl Default for Wait {
    /// 30 s, every second.
    fn default() -> Wait {
        Wait { timeout: Duration::from_secs(30), interval: Duration::from_secs(1) }
    }
}

/// Requests `op` on `host` and waits until the host's state is seen to match; returns how long
/// that took (by `clock`).
///
/// # Guarantees
/// - On `Ok` the driver read the target state after the request.
/// - The operation is forgotten on every return path, so a [`crate::PowerLimiter`] slot is
///   released whatever happens.
///
/// # Errors
/// - [`DriverError::NotConfirmed`] when the state did not match within `wait.timeout`, naming
///   the last state read: `host h1: power on not confirmed after 30 s; last state off`.
/// - [`DriverError::OperationFailed`] when the driver reports the operation failed.
/// - Any error of `request`, `poll` or `state`, at once (they are not retried: a wrong password
///   or a missing tool does not heal by waiting).
pub fn change_power(
    power: &dyn Power,
    clock: &dyn Clock,
    host: &HostId,
    op: PowerOp,
    wait: Wait,
) -> Result<Duration, DriverError> {
    let started = clock.now();
    let id = power.request(host, op)?;
    let outcome = confirm(power, clock, host, op, id, started, wait);
    power.forget(id);
    outcome
}

/// The polling half of [`change_power`].
fn confirm(
    power: &dyn Power,
    clock: &dyn Clock,
    host: &HostId,
    op: PowerOp,
    id: OperationId,
    started: Duration,
    wait: Wait,
) -> Result<Duration, DriverError> {
    loop {
        if let OpStatus::Failed(reason) = power.poll(id)? {
            return Err(DriverError::OperationFailed { host: host.clone(), operation: op, reason });
        }
        let last = power.state(host)?;
        let waited = clock.now().saturating_sub(started);
        if last == op.target() {
            return Ok(waited);
        }
        if waited >= wait.timeout {
            return Err(DriverError::NotConfirmed {
                host: host.clone(),
                operation: op,
                waited: wait.timeout,
                last,
            });
        }
        clock.sleep(wait.interval.min(wait.timeout - waited));
    }
}

/// The operation table of a driver that confirms a power change by reading the host's state
/// (IPMI, Redfish): ids numbered from 1, each request's host, change and time, and its outcome
/// once known, repeated by later polls until the caller forgets it.
#[derive(Default)]
pub struct ConfirmTable {
    inner: std::sync::Mutex<ConfirmOps>,
}

#[derive(Default)]
struct ConfirmOps {
    next: u64,
    records: std::collections::HashMap<OperationId, ConfirmRecord>,
}

struct ConfirmRecord {
    host: HostId,
    op: PowerOp,
    requested_at: Duration,
    outcome: Option<OpStatus>,
}

/// A recorded operation still to be confirmed: what [`ConfirmTable::pending`] hands the poll.
#[derive(Clone, Debug, PartialEq)]
pub struct ToConfirm {
    /// The host.
    pub host: HostId,
    /// The change.
    pub op: PowerOp,
    /// When it was requested, on the driver's clock.
    pub requested_at: Duration,
}

impl ConfirmTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, ConfirmOps> {
        // Every update is a single insert, remove, assignment or counter step.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records a request and returns its id. `outcome` is `Some` when it is known at once (the
    /// host was already there). With `supersede`, older operations on the same host still
    /// pending end `Failed` ("superseded by …").
    pub fn insert(
        &self,
        host: &HostId,
        op: PowerOp,
        requested_at: Duration,
        outcome: Option<OpStatus>,
        supersede: bool,
    ) -> OperationId {
        let mut ops = self.lock();
        ops.next += 1;
        let id = OperationId::new(ops.next);
        if supersede {
            for record in ops.records.values_mut() {
                if record.host == *host && record.outcome.is_none() {
                    record.outcome = Some(OpStatus::Failed(format!("superseded by {id} ({op})")));
                }
            }
        }
        ops.records.insert(id, ConfirmRecord { host: host.clone(), op, requested_at, outcome });
        id
    }

    /// The known outcome of `id` (`Ok(Err(..))`), or what to confirm it by (`Ok(Ok(..))`).
    pub fn pending(&self, id: OperationId) -> Result<Result<ToConfirm, OpStatus>, DriverError> {
        let ops = self.lock();
        let record = ops.records.get(&id).ok_or(DriverError::UnknownOperation { op: id })?;
        Ok(match &record.outcome {
            Some(outcome) => Err(outcome.clone()),
            None => Ok(ToConfirm {
                host: record.host.clone(),
                op: record.op,
                requested_at: record.requested_at,
            }),
        })
    }

    /// Records `outcome` for `id` unless one was recorded meanwhile (a superseding request),
    /// and returns the one that stands.
    pub fn settle(&self, id: OperationId, outcome: OpStatus) -> OpStatus {
        match self.lock().records.get_mut(&id) {
            Some(record) => record.outcome.get_or_insert(outcome).clone(),
            None => outcome,
        }
    }

    /// Drops `id`'s record; an unknown id is ignored.
    pub fn forget(&self, id: OperationId) {
        self.lock().records.remove(&id);
    }
}

/// The outcome of one confirmation poll: `Done` once the host `reached` the target, `Failed`
/// once `waited` reaches `deadline` (naming the target, the deadline and `last`, what was last
/// seen), else `Pending`.
pub fn confirm_outcome(
    op: PowerOp,
    reached: bool,
    waited: Duration,
    deadline: Duration,
    last: &str,
) -> OpStatus {
    if reached {
        OpStatus::Done
    } else if waited >= deadline {
        OpStatus::Failed(format!(
            "not seen {} within {}; {last}",
            op.target(),
            crate::error::Secs(deadline)
        ))
    } else {
        OpStatus::Pending
    }
}
