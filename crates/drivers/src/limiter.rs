//! [`PowerLimiter`]: a cap on simultaneous power changes around any [`Power`] driver (a counting
//! semaphore over a std `Mutex` and `Condvar`), so a controller never switches a whole row of
//! hosts at once (inrush current, breaker limits).

use std::collections::HashSet;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::error::DriverError;
use crate::host::HostId;
use crate::power::{OpStatus, OperationId, Power, PowerOp, PowerState};

/// Wraps a [`Power`] driver so that at most `limit` power changes are in flight at once.
///
/// A change is in flight from the moment [`Power::request`] takes a slot until the wrapped
/// driver's `poll` reports it `Done` or `Failed` (or says the operation is unknown), or the
/// caller [`Power::forget`]s it. [`crate::change_power`] always forgets, so its slot is freed
/// on every path.
///
/// Semantics when full: `request` **blocks** until a slot frees or `max_wait` has passed, then
/// fails with [`DriverError::Busy`]. `max_wait` zero means reject at once. A failed `request`
/// of the wrapped driver frees its slot. `state` is not limited.
///
/// Waiting uses the real time of `Condvar::wait_timeout_while`, not a [`crate::Clock`].
#[derive(Debug)]
pub struct PowerLimiter<P> {
    inner: P,
    limit: usize,
    max_wait: Duration,
    slots: Mutex<Slots>,
    freed: Condvar,
}

#[derive(Debug, Default)]
struct Slots {
    /// Operations accepted by the wrapped driver and not yet over.
    in_flight: HashSet<OperationId>,
    /// Slots held by `request`s that are still talking to the wrapped driver.
    reserved: usize,
    /// The most slots ever held at once.
    high_water: usize,
}

impl Slots {
    fn held(&self) -> usize {
        self.in_flight.len() + self.reserved
    }
}

impl<P: Power> PowerLimiter<P> {
    /// Wraps `inner` with at most `limit` changes in flight (a `limit` of 0 is taken as 1), each
    /// `request` waiting at most `max_wait` for a slot.
    pub fn new(inner: P, limit: usize, max_wait: Duration) -> PowerLimiter<P> {
        PowerLimiter {
            inner,
            limit: limit.max(1),
            max_wait,
            slots: Mutex::new(Slots::default()),
            freed: Condvar::new(),
        }
    }

    /// The wrapped driver.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// The cap.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Changes in flight now (including requests still being sent).
    pub fn in_flight(&self) -> usize {
        self.lock().held()
    }

    /// The most changes ever in flight at once: never above [`PowerLimiter::limit`].
    pub fn high_water(&self) -> usize {
        self.lock().high_water
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        // A panic while holding this lock leaves the counts consistent (every update is one
        // statement), so a poisoned lock is still usable.
        self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Frees `op`'s slot if it holds one.
    fn release(&self, op: OperationId) {
        if self.lock().in_flight.remove(&op) {
            self.freed.notify_one();
        }
    }
}

impl<P: Power> Power for PowerLimiter<P> {
    fn state(&self, host: &HostId) -> Result<PowerState, DriverError> {
        self.inner.state(host)
    }

    fn request(&self, host: &HostId, op: PowerOp) -> Result<OperationId, DriverError> {
        {
            let (mut slots, _) = self
                .freed
                .wait_timeout_while(self.lock(), self.max_wait, |slots| slots.held() >= self.limit)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if slots.held() >= self.limit {
                return Err(DriverError::Busy {
                    host: host.clone(),
                    operation: op,
                    limit: self.limit,
                    waited: self.max_wait,
                });
            }
            slots.reserved += 1;
            slots.high_water = slots.high_water.max(slots.held());
        }
        let outcome = self.inner.request(host, op);
        let mut slots = self.lock();
        slots.reserved -= 1;
        match outcome {
            Ok(id) => {
                slots.in_flight.insert(id);
                Ok(id)
            }
            Err(err) => {
                drop(slots);
                self.freed.notify_one();
                Err(err)
            }
        }
    }

    fn poll(&self, op: OperationId) -> Result<OpStatus, DriverError> {
        let outcome = self.inner.poll(op);
        match &outcome {
            Ok(status) if status.is_terminal() => self.release(op),
            Err(DriverError::UnknownOperation { .. }) => self.release(op),
            _ => {}
        }
        outcome
    }

    fn forget(&self, op: OperationId) {
        self.inner.forget(op);
        self.release(op);
    }
}
