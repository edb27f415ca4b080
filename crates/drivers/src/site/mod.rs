//! The simulated site: a whole simulated data center behind the [`Power`], [`Sensors`] and
//! [`Compute`] traits, for the controller's tests, its crash-recovery test and `hearth demo`.
//! Zones of racks of hosts, instances with seeded loads, cooling that can fail on a script,
//! physics from `sim` (zone air under pooled cooling, first-order hosts) and power from
//! `model`'s SPECpower curves.
//!
//! Reading order: [`spec`] (what a site is made of, and the demo), `world` (the state and how
//! it moves in time), `ops` (power and compute operations), then this file ([`Site`]: the
//! clock, the state file, the traits, the test controls).
//!
//! **Time.** Site time is `t = (clock.now() − origin) × speed`, never going back; `origin` is
//! the clock's reading when the site was created and is kept in the state file, so processes
//! that share a file must share a clock ([`crate::clock::UnixClock`]). Every call first moves
//! the world to the current site time: physics in steps of at most 5 s of site time, scripted
//! events, finished power transitions and finished or expired compute operations, in time
//! order.
//!
//! **Workload and power.** An instance uses
//! `clamp(mean + amplitude·sin(2π·t/period + phase) + noise·n(t), 0, 1)` of its CPUs
//! ([`LoadSpec`]); a host's utilization is what its running
//! (or migrating-out) instances use over its CPUs, clamped to 1; its power is its model's curve
//! at that utilization when on, its idle power (the curve at 0) while powering on or off, and 0
//! when off. All of it heats its zone.
//!
//! **Power.** Changes take `timing.boot_s` / `timing.shutdown_s` (hard and soft off alike);
//! asking for the state a host is in, or the one it heads to, is accepted at once, and asking
//! for the state it is leaving calls the transition off (its pending operations fail as
//! superseded). Powering off a host that runs an instance, or one an operation involves, is
//! [`DriverError::Refused`]: a deliberate safety property of the simulated site, which never
//! loses an instance, so a controller that tries is caught by its tests.
//!
//! **Compute.** Operations are idempotent by the caller's ID. A live move shows the instance
//! `Migrating` on its source for `memory / timing.live_mib_per_s`, then `Running` on the
//! target; a cold move shows it `Stopped` on the source for `timing.cold_move_s`, then as it
//! was on the target. A move is refused at submission unless the instance is on `from`, movable
//! and in no other operation, and the target exists, is on, accepts moves and has room for it
//! (instances already moving to it counted). Start and stop take `timing.start_stop_s`; asking
//! for the state an instance is in is done at once. An operation not done within
//! `timing.op_deadline_s`, a cancelled one and one failed by [`Site::fail_next_move`] end
//! `Failed` with the instance where and as it was.
//!
//! **The state file.** A file-backed site ([`Site::create_file`], [`Site::open_file`]) writes
//! its whole state as JSON (write a temporary file in the same directory, fsync, rename), so a
//! process killed at any point leaves either the old or the new state. Every change a caller
//! asks for (power request, submit, cancel, forget, test controls) is on disk before the call
//! returns, and rolled back with an error if it cannot be written. Changes that only the
//! passing of time makes (physics, finished operations, events) are written with the next
//! call that finds a discrete change, or every 10 s of site time; if that write fails the
//! call still answers and the next one writes again. Losing them costs nothing: a site opened
//! on the file replays them deterministically from the saved time. One process at a time
//! opens a file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::clock::Clock;
use crate::compute::{Compute, ComputeOp, InstanceInfo, MoveCapabilities};
use crate::error::DriverError;
use crate::host::HostId;
use crate::power::{OpStatus, OperationId, Power, PowerOp, PowerState};
use crate::sensors::{PowerDraw, SensorValue, Sensors, Temperature};

mod facility;
mod ops;
pub mod spec;
mod world;

pub use spec::{
    EventKind, EventSpec, HostModel, HostSpec, InstanceSpec, LoadSpec, RackSpec, SitePower,
    SiteSpec, TimingSpec, ZoneSpec, DEMO_RUN_S,
};
pub use world::{HostSnapshot, InstanceSnapshot, SiteSnapshot, ZoneSnapshot};

use world::{State, World};

/// Time-made changes are written at least this often, site seconds.
const SAVE_EVERY_S: f64 = 10.0;

/// The most site time [`Site::open_file`] replays (30 days): more means another clock.
pub const MAX_REPLAY_S: f64 = 30.0 * 86_400.0;

/// Why a site could not be built, read or written. Every message names the file, key or id.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// A spec's text did not parse.
    #[error("{origin}: {}", parse_message(location, key, message))]
    Parse {
        /// The file, or `TOML` / `JSON` for text.
        origin: String,
        /// 1-based line and column, when known.
        location: Option<(usize, usize)>,
        /// The key, when known.
        key: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// A spec parsed but is not a site.
    #[error("site spec: `{key}`: {message}")]
    Invalid {
        /// The key, with ids in brackets (`zones[z0].racks[r1].hosts[h07].cpus`).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{}: cannot {action}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was tried (`read`, `write`, `create`).
        action: &'static str,
        /// The system's error.
        source: io::Error,
    },
    /// [`Site::create_file`] found the file there already.
    #[error(
        "{}: already exists; refusing to overwrite it (open it with Site::open_file, or remove it)",
        path.display()
    )]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A state file is not a site's state (truncated, garbage, another format).
    #[error("{}: not a site state file: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A state file's time and the clock it was opened with disagree by more than
    /// [`MAX_REPLAY_S`]: it was made with another clock.
    #[error(
        "{}: the site's time is {gap_s:.0} s (site time) away from this clock's; was it made \
         with another clock? Processes sharing a state file need the same clock (UnixClock)",
        path.display()
    )]
    ClockMismatch {
        /// The file.
        path: PathBuf,
        /// How far the clock puts the site from its saved time, site seconds (negative: before).
        gap_s: f64,
    },
    /// A test control named a host the site does not have.
    #[error("host {host}: not in this site")]
    UnknownHost {
        /// The host.
        host: HostId,
    },
    /// A test control named an instance the site does not have.
    #[error("instance {instance}: not in this site")]
    UnknownInstance {
        /// The instance.
        instance: String,
    },
}

fn parse_message(location: &Option<(usize, usize)>, key: &Option<String>, message: &str) -> String {
    let mut text = String::new();
    if let Some((line, column)) = location {
        text.push_str(&format!("line {line}, column {column}: "));
    }
    if let Some(key) = key {
        text.push_str(&format!("`{key}`: "));
    }
    text + message
}

/// A simulated data center implementing [`Power`], [`Sensors`] and [`Compute`]; see the
/// module documentation for its rules. `Send + Sync`: one lock around the world.
///
/// Built to be observed at scale: a call about one host costs what that host holds, one about
/// a zone a lookup, plus `O(log n)` (and the physics of the site time passed since the last
/// call, which visits every host). [`Site::snapshot`] and [`Site::check_invariants`] visit
/// everything.
pub struct Site {
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
}

struct Inner {
    world: World,
    file: Option<PathBuf>,
    /// `simulated site` or `simulated site FILE`, for error messages.
    backend: String,
    saved_t_s: f64,
    dirty: bool,
}

impl Inner {
    fn save(&mut self) -> Result<(), SiteError> {
        if let Some(path) = &self.file {
            write_atomic(path, &self.world.state)?;
        }
        self.saved_t_s = self.world.state.t_s;
        self.dirty = false;
        Ok(())
    }
}

/// Writes `state` to `path` as JSON: a temporary file in the same directory, fsync, rename,
/// then (best effort) fsync of the directory so the rename itself is durable.
fn write_atomic(path: &Path, state: &State) -> Result<(), SiteError> {
    let io_err = |action, source| SiteError::Io { path: path.to_path_buf(), action, source };
    let json = serde_json::to_vec(state).map_err(|err| io_err("encode", io::Error::other(err)))?;
    let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map_or("site".into(), |name| name.to_string_lossy());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = File::create(&tmp).and_then(|mut file| {
        file.write_all(&json)?;
        file.sync_all()
    });
    if let Err(err) = written.and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(io_err("write", err));
    }
    if let Ok(dir) = File::open(dir) {
        // Not every platform can fsync a directory; the file itself is already durable.
        let _ = dir.sync_all();
    }
    Ok(())
}

impl Site {
    /// An in-memory site at site time 0, now.
    pub fn new(spec: SiteSpec, clock: Arc<dyn Clock>) -> Result<Site, SiteError> {
        spec.validate()?;
        let world = World::new(spec, clock.now().as_secs_f64());
        Ok(Site::with(world, None, clock))
    }

    /// A file-backed site at site time 0, now, written to `path` (which must not exist).
    pub fn create_file(
        path: &Path,
        spec: SiteSpec,
        clock: Arc<dyn Clock>,
    ) -> Result<Site, SiteError> {
        spec.validate()?;
        match OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                return Err(SiteError::Exists { path: path.to_path_buf() })
            }
            Err(source) => {
                return Err(SiteError::Io { path: path.to_path_buf(), action: "create", source })
            }
        }
        let world = World::new(spec, clock.now().as_secs_f64());
        let site = Site::with(world, Some(path.to_path_buf()), clock);
        if let Err(err) = site.lock().save() {
            let _ = fs::remove_file(path);
            return Err(err);
        }
        Ok(site)
    }

    /// The site saved in `path`, moved on to the current site time when first called.
    pub fn open_file(path: &Path, clock: Arc<dyn Clock>) -> Result<Site, SiteError> {
        let bytes = fs::read(path).map_err(|source| SiteError::Io {
            path: path.to_path_buf(),
            action: "read",
            source,
        })?;
        let corrupt = |message: String| SiteError::Corrupt { path: path.to_path_buf(), message };
        let state: State =
            serde_json::from_slice(&bytes).map_err(|err| corrupt(err.to_string()))?;
        let world = World::from_state(state).map_err(corrupt)?;
        let clock_s = clock.now().as_secs_f64();
        let state = &world.state;
        let gap_s = (clock_s - state.origin_s) * state.spec.speed - state.t_s;
        if !(-MAX_REPLAY_S..=MAX_REPLAY_S).contains(&gap_s) {
            return Err(SiteError::ClockMismatch { path: path.to_path_buf(), gap_s });
        }
        Ok(Site::with(world, Some(path.to_path_buf()), clock))
    }

    fn with(world: World, file: Option<PathBuf>, clock: Arc<dyn Clock>) -> Site {
        let backend = match &file {
            Some(path) => format!("simulated site {}", path.display()),
            None => "simulated site".to_string(),
        };
        let saved_t_s = world.state.t_s;
        let inner = Inner { world, file, backend, saved_t_s, dirty: false };
        Site { clock, inner: Mutex::new(inner) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update either completes or is rolled back before the lock is released.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The world moved to the current site time (time-made changes saved per the module docs).
    fn advanced(&self) -> MutexGuard<'_, Inner> {
        let clock_s = self.clock.now().as_secs_f64();
        let mut inner = self.lock();
        let to_s = inner.world.site_time(clock_s);
        inner.dirty |= inner.world.advance(to_s);
        if inner.dirty || inner.world.state.t_s - inner.saved_t_s >= SAVE_EVERY_S {
            // A failed write is retried by the next call; the state is replayable.
            let _ = inner.save();
        }
        inner
    }

    /// Applies a change a caller asked for, on disk before it returns (rolled back if not).
    fn change<R, E>(
        &self,
        apply: impl FnOnce(&mut World, &str) -> Result<R, E>,
        not_saved: impl FnOnce(SiteError, &str) -> E,
    ) -> Result<R, E> {
        let mut guard = self.advanced();
        let inner = &mut *guard;
        let before = inner.file.is_some().then(|| inner.world.state.clone());
        let out = apply(&mut inner.world, &inner.backend)?;
        if let Err(err) = inner.save() {
            if let Some(before) = before {
                inner.world.restore(before);
            }
            return Err(not_saved(err, &inner.backend));
        }
        Ok(out)
    }

    /// The state file, for a file-backed site.
    pub fn path(&self) -> Option<PathBuf> {
        self.lock().file.clone()
    }

    /// The spec the site was built from.
    pub fn spec(&self) -> SiteSpec {
        self.lock().world.state.spec.clone()
    }

    /// The current site time, s.
    pub fn now_s(&self) -> f64 {
        self.advanced().world.state.t_s
    }

    /// Everything about the site now, for tests, the demo's display and its report.
    pub fn snapshot(&self) -> SiteSnapshot {
        self.advanced().world.snapshot()
    }

    /// Checks the site's safety properties now: every instance is defined on exactly one
    /// existing host; no host that is off or powering on or off runs an instance; no host has
    /// more CPUs or memory reserved than it has (instances moving in counted); every completed
    /// move was applied exactly once (`moves_applied` equals the instance's done moves); an
    /// instance is in at most one operation. Also that the site's internal index (instances
    /// and pending operations by host, changes by due time) agrees with its state. The error
    /// says which and where. Visits everything: for tests, not for every call.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.advanced().world.check_invariants()
    }

    /// Marks `host`'s management path down (or up again): every [`Power`], [`Sensors`] and
    /// [`Compute`] call that involves it is then [`DriverError::Unreachable`]. The host itself
    /// keeps running and its operations keep going.
    pub fn set_unreachable(&self, host: &HostId, unreachable: bool) -> Result<(), SiteError> {
        self.control(|world| {
            let found = world.state.hosts.get_mut(host);
            found
                .map(|found| found.unreachable = unreachable)
                .ok_or_else(|| SiteError::UnknownHost { host: host.clone() })
        })
    }

    /// While set, moves to `host` are [`DriverError::Refused`] at submission.
    pub fn set_refuse_moves_to(&self, host: &HostId, refuse: bool) -> Result<(), SiteError> {
        self.control(|world| {
            let found = world.state.hosts.get_mut(host);
            found
                .map(|found| found.refuse_moves_to = refuse)
                .ok_or_else(|| SiteError::UnknownHost { host: host.clone() })
        })
    }

    /// Makes the next move of `instance` end `Failed` at its switch-over, the instance left
    /// running (or stopped, as it was) on its source.
    pub fn fail_next_move(&self, instance: &str) -> Result<(), SiteError> {
        self.control(|world| {
            let found = world.state.instances.get_mut(instance);
            found
                .map(|found| found.fail_next_move = true)
                .ok_or_else(|| SiteError::UnknownInstance { instance: instance.to_string() })
        })
    }

    /// Writes the state file now (a no-op for an in-memory site).
    pub fn save(&self) -> Result<(), SiteError> {
        self.advanced().save()
    }

    fn control(
        &self,
        apply: impl FnOnce(&mut World) -> Result<(), SiteError>,
    ) -> Result<(), SiteError> {
        self.change(|world, _| apply(world), |err, _| err)
    }
}

impl Power for Site {
    fn state(&self, host: &HostId) -> Result<PowerState, DriverError> {
        let inner = self.advanced();
        Ok(inner.world.reachable(host, &inner.backend)?.power.into())
    }

    fn request(&self, host: &HostId, op: PowerOp) -> Result<OperationId, DriverError> {
        self.change(
            |world, backend| world.power_request(host, op, backend),
            |err, backend| DriverError::CommandFailed {
                host: host.clone(),
                bmc: backend.to_string(),
                command: op.to_string(),
                status: "not saved".to_string(),
                detail: err.to_string(),
            },
        )
    }

    fn poll(&self, op: OperationId) -> Result<OpStatus, DriverError> {
        let inner = self.advanced();
        inner.world.power_poll(op, &inner.backend)
    }

    fn forget(&self, op: OperationId) {
        let forgotten =
            self.change(|world, _| Ok::<_, ()>(world.forget_power_op(op.get())), |_, _| ());
        // Forgetting is best effort: a record that stays on disk is only polled if asked for.
        let _ = forgotten;
    }
}

impl Sensors for Site {
    /// `Inlet` (the zone's air) and `CPU` (the host's temperature); an off host still reads
    /// (its BMC is on standby power).
    fn temperatures(&self, host: &HostId) -> Result<Vec<Temperature>, DriverError> {
        let inner = self.advanced();
        let state = inner.world.reachable(host, &inner.backend)?;
        let zone = inner.world.hosts[host].zone;
        let reading = |name: &str, celsius| Temperature {
            name: name.to_string(),
            celsius: SensorValue::Value(celsius),
        };
        Ok(vec![
            reading("Inlet", inner.world.state.zones[zone].air_c),
            reading("CPU", state.temp_c),
        ])
    }

    /// `Sys Power`: the host's draw, 0 when it is off.
    fn power_draw(&self, host: &HostId) -> Result<PowerDraw, DriverError> {
        let inner = self.advanced();
        inner.world.reachable(host, &inner.backend)?;
        let watts = inner.world.host_reading(host).1;
        Ok(PowerDraw { name: "Sys Power".to_string(), watts: SensorValue::Value(watts) })
    }
}

impl Compute for Site {
    fn capabilities(&self) -> MoveCapabilities {
        MoveCapabilities {
            live: true,
            cold: true,
            cancel: true,
            note: "simulated site: live and cold moves of any movable instance".to_string(),
        }
    }

    fn instances(&self, host: &HostId) -> Result<Vec<InstanceInfo>, DriverError> {
        let inner = self.advanced();
        inner.world.instances_on(host, &inner.backend)
    }

    fn submit(&self, op_id: &str, op: &ComputeOp) -> Result<(), DriverError> {
        self.change(
            |world, backend| world.submit(op_id, op, backend),
            |err, backend| DriverError::Refused {
                operation: op.to_string(),
                backend: backend.to_string(),
                reason: format!("the site state could not be saved: {err}"),
            },
        )
    }

    fn poll(&self, op_id: &str) -> Result<OpStatus, DriverError> {
        let inner = self.advanced();
        inner.world.compute_poll(op_id, &inner.backend)
    }

    fn cancel(&self, op_id: &str) -> Result<bool, DriverError> {
        self.change(
            |world, backend| world.cancel(op_id, backend),
            |err, backend| DriverError::Refused {
                operation: format!("cancel of operation {op_id}"),
                backend: backend.to_string(),
                reason: format!("the site state could not be saved: {err}"),
            },
        )
    }
}
