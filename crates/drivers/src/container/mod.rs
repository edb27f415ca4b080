//! The container-engine driver: a [`Compute`] driver over the Docker API (crate bollard), one
//! engine per host (Docker, or podman's Docker-compatible service), each at a unix socket or a
//! plain-TCP [`Endpoint`]. Its instances are the containers that carry the label
//! [`LABEL_INSTANCE`] (`io.hearth.instance=<instance id>`).
//!
//! **Blocking over async.** bollard is async; the drivers' API is blocking. The driver owns a
//! small current-thread tokio runtime and `block_on`s each engine request, within
//! [`ContainerOptions::call_timeout`]: no call waits longer than that per request, and a call
//! makes a handful of requests (a listing makes one, plus one per container and one more per
//! running container). Call the driver from blocking threads (the controller's
//! `spawn_blocking`), never from inside async code: tokio panics when a runtime is blocked on
//! from a thread that is running async tasks. Dropping the driver never blocks.
//!
//! **Listing.** `instances` lists the labelled containers of the host's engine in instance
//! order: running (also paused, restarting, stopping) is `Running`; created, exited and dead
//! are `Stopped`. CPUs are `NanoCpus / 1e9`, else the label [`LABEL_CPUS`], else
//! `CpuQuota / CpuPeriod`, else 0 (no limit). Memory is `HostConfig.Memory` in MiB (0: no
//! limit). `cpu_use` comes from one one-shot stats request per running container (about 25 ms
//! on podman): the CPU time it used since the driver's previous listing of the host, over the
//! time between them on the driver's clock, as a fraction of its CPUs (of the engine host's
//! CPUs when it has no limit). The first listing has no previous sample, so it is `None`, as
//! it is when the stats request fails. A stopped container uses `Some(0.0)`. An instance is
//! movable unless its label [`LABEL_MOVABLE`] is `false`.
//!
//! **Operations** are idempotent by the caller's ID and kept in memory (a hearth restart
//! forgets them: see "Limits"). Every request of a `submit` is made before it returns; what
//! waits (a container exiting) is checked again by `poll` (reconcile, don't block: STYLE.md
//! rule 20), which does the next steps as soon as they can be done.
//! - `Start` starts the container: `Done` when the engine accepted, `Failed` with the engine's
//!   message when it refused.
//! - `Stop` sends the container's stop signal (`StopSignal`, else SIGTERM) with the kill
//!   request, which does not wait, unlike the stop request. A `poll` after
//!   [`ContainerOptions::stop_grace`] sends SIGKILL; the stop is `Done` once the container has
//!   exited, and `Failed` if it still runs [`ContainerOptions::kill_wait`] after SIGKILL.
//! - `Move` is cold only ([`STATELESS_NOTE`]); a live move is `Refused`. Nothing can be
//!   cancelled: `cancel` is `Ok(false)`.
//!
//! **The cold move**, from host A to host B, never has the instance running on both and never
//! loses it:
//! 1. At `submit`: the instance must be on A only, movable, in no other operation; B's engine
//!    must have the image (by the name A's container was created from; the driver never pulls,
//!    so a missing image refuses the move, naming it, and the instance keeps running on A) and
//!    room for its memory and CPU limits. The driver creates the copy on B (same name, image,
//!    command, environment, labels plus [`LABEL_MOVE`] = the operation ID, limits, binds,
//!    mounts and named volumes; see `copy.rs` for what is carried), then sends A's container
//!    its stop signal. If the copy cannot be made, or the signal cannot reach A's engine, the
//!    copy is removed and `submit` returns the error: no operation is recorded.
//! 2. `poll`: once A's container has exited (SIGKILL after the grace period), B's copy is
//!    started: the switch-over. Then A's stopped container is removed (its named volumes stay),
//!    and the move is `Done`.
//! 3. Until the switch-over, listings leave out B's copy; after it, A's stopped container. So
//!    the instance is listed on exactly one host throughout.
//! 4. On failure before the switch-over (A's container still runs after SIGKILL, B's engine
//!    refuses to start the copy, or B's engine stays silent past
//!    [`ContainerOptions::deadline`] with no start possibly delivered), the move is rolled
//!    back: B's copy is removed (with force), A's container is started again if it ran, and the
//!    move is `Failed` with the reason, the instance on A as it was. A copy that cannot be
//!    removed is named in the reason and stays out of listings.
//! 5. When an engine does not answer, `poll` returns its error (`Unreachable`, `Timeout`) and
//!    the move waits: the driver never guesses. A start of the copy whose answer was lost may
//!    have happened, so the move then waits for B's engine rather than restart A.
//! 6. If A's stopped container cannot be removed after the switch-over, the move retries until
//!    the deadline, then ends `Failed` with the instance running on B and the leftover named.
//! 7. After a hearth restart (the records are gone), the controller submits the move's ID
//!    again. If B has a copy labelled with that ID, the move resumes from what the engines
//!    show: no container on A left means it was done (`Done` at once); a running copy means
//!    the switch-over happened (A's container is removed); otherwise A's container is stopped
//!    (again) and the copy started if the instance ran when the move began (the copy's label
//!    [`LABEL_MOVE_RUNNING`]). Until then both containers are listed, at most one running, and
//!    any other operation on the instance is refused.
//!
//! **Errors** name the host and the engine's endpoint (in `DriverError`'s `bmc` field) and the
//! request: no connection (refused, socket missing, broken) is `Unreachable`; no answer within
//! the call timeout is `Timeout`; an engine error is `CommandFailed` with the HTTP status and
//! the engine's message; a container the engine does not know (404) is `UnknownInstance`; an
//! unreadable answer is `MalformedReply`.
//!
//! **Limits.** Operations live in memory: after a restart, `poll` of an old ID is
//! `UnknownComputeOp` until it is submitted again (a move resumes, step 7; a start or stop is
//! made again, a no-op if done). Instance labels are assumed unique across the engines
//! ([`ContainerDriver::create`] checks the engines that answer). Stops are kills, which an
//! engine may not count as stopped by hand, so a restart policy may start the container
//! again: give hearth's instances none.

mod copy;
mod engine;
mod ops;
mod requests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, HostConfig, ResourcesUlimits,
};
use serde::{Deserialize, Serialize};

pub use engine::{Endpoint, EndpointError};

use crate::clock::Clock;
use crate::compute::{Compute, ComputeOp, InstanceInfo, InstanceState, MoveCapabilities};
use crate::error::DriverError;
use crate::host::HostId;
use crate::power::OpStatus;
use engine::{Engine, Runtime};
use ops::Record;
use requests::{is_running, Api, Listed};

/// The label that makes a container a hearth instance; its value is the instance's ID.
pub const LABEL_INSTANCE: &str = "io.hearth.instance";
/// The label that gives an instance's CPUs when the container has no `NanoCpus` limit.
pub const LABEL_CPUS: &str = "io.hearth.cpus";
/// The label that pins an instance to its host: `io.hearth.movable=false`.
pub const LABEL_MOVABLE: &str = "io.hearth.movable";
/// The label on a moved copy: the ID of the move that created it.
pub const LABEL_MOVE: &str = "io.hearth.move";
/// The label on a moved copy: whether the instance ran when the move began (`true`, `false`).
pub const LABEL_MOVE_RUNNING: &str = "io.hearth.move-running";

/// The note in the driver's capabilities: what a cold move carries and what it does not.
pub const STATELESS_NOTE: &str = "stateless containers only: a move re-creates the container \
    from the same image, configuration and named volumes on the target; local state in the \
    container's filesystem is not carried";

/// Why a live move is refused.
pub const NO_LIVE_MOVES: &str = "live moves are not supported: the driver does not checkpoint \
    and restore running containers (CRIU); use a cold move";

const MIB: f64 = 1024.0 * 1024.0;

/// The driver's timings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerOptions {
    /// The limit on each request to an engine (default 10 s).
    pub call_timeout: Duration,
    /// The time between a stop's signal and SIGKILL (default 10 s, as `docker stop`).
    pub stop_grace: Duration,
    /// How long a stop waits for the container to go after SIGKILL before it fails (default
    /// 5 s).
    pub kill_wait: Duration,
    /// How long a move may wait on an engine that does not answer before it rolls back, when
    /// rolling back is safe (default 120 s).
    pub deadline: Duration,
}

impl Default for ContainerOptions {
    fn default() -> ContainerOptions {
        ContainerOptions {
            call_timeout: Duration::from_secs(10),
            stop_grace: Duration::from_secs(10),
            kill_wait: Duration::from_secs(5),
            deadline: Duration::from_secs(120),
        }
    }
}

/// Why the driver could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ContainerConfigError {
    /// The tokio runtime could not be made (no file descriptors left, for one).
    #[error("container driver: cannot make its tokio runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The host has an engine already.
    #[error("host {host}: already has a container engine at {endpoint}")]
    DuplicateHost {
        /// The host.
        host: HostId,
        /// Its engine's endpoint.
        endpoint: String,
    },
}

/// A resource limit for a container's processes (`nofile`, `nproc`, …).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    /// The limit's name as Docker's create request takes it: `nofile`, `nproc`.
    pub name: String,
    /// The soft limit.
    pub soft: i64,
    /// The hard limit.
    pub hard: i64,
}

/// A container to create as a hearth instance ([`ContainerDriver::create`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerSpec {
    /// The instance's ID: the [`LABEL_INSTANCE`] label, and the container's name.
    pub instance: String,
    /// The image, which must be on the engine already (the driver never pulls).
    pub image: String,
    /// The command (the image's own when empty).
    #[serde(default)]
    pub cmd: Vec<String>,
    /// Environment variables, as `(name, value)`.
    #[serde(default)]
    pub env: Vec<(String, String)>,
    /// The CPU limit (`NanoCpus`); none when absent.
    #[serde(default)]
    pub cpus: Option<f64>,
    /// The memory limit, MiB; none when absent.
    #[serde(default)]
    pub memory_mib: Option<f64>,
    /// Binds and named volumes, as `docker run -v` writes them (`data:/var/lib/app`).
    #[serde(default)]
    pub binds: Vec<String>,
    /// The network mode (`none`, `host`, a network's name); the engine's default when absent.
    #[serde(default)]
    pub network: Option<String>,
    /// Explicit ulimits. podman's compatible service needs `nofile` and `nproc` here on hosts
    /// whose limits it cannot raise (/work/shared/PEERS.md §1h).
    #[serde(default)]
    pub ulimits: Vec<Ulimit>,
    /// Whether hearth may move it (false adds `io.hearth.movable=false`).
    #[serde(default = "movable_by_default")]
    pub movable: bool,
    /// More labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn movable_by_default() -> bool {
    true
}

impl ContainerSpec {
    /// A movable instance `instance` from `image`, with the image's command and nothing else.
    pub fn new(instance: impl Into<String>, image: impl Into<String>) -> ContainerSpec {
        ContainerSpec {
            instance: instance.into(),
            image: image.into(),
            cmd: Vec::new(),
            env: Vec::new(),
            cpus: None,
            memory_mib: None,
            binds: Vec::new(),
            network: None,
            ulimits: Vec::new(),
            movable: true,
            labels: BTreeMap::new(),
        }
    }

    /// The same container running `cmd`.
    pub fn cmd<I: IntoIterator<Item = S>, S: Into<String>>(mut self, cmd: I) -> ContainerSpec {
        self.cmd = cmd.into_iter().map(Into::into).collect();
        self
    }

    /// The same container with `name=value` in its environment.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> ContainerSpec {
        self.env.push((name.into(), value.into()));
        self
    }

    /// The same container with CPU and memory limits.
    pub fn limits(mut self, cpus: f64, memory_mib: f64) -> ContainerSpec {
        (self.cpus, self.memory_mib) = (Some(cpus), Some(memory_mib));
        self
    }

    /// The same container with a bind or named volume (`data:/var/lib/app`).
    pub fn bind(mut self, bind: impl Into<String>) -> ContainerSpec {
        self.binds.push(bind.into());
        self
    }

    /// The same container in network mode `mode`.
    pub fn network(mut self, mode: impl Into<String>) -> ContainerSpec {
        self.network = Some(mode.into());
        self
    }

    /// The same container with a ulimit.
    pub fn ulimit(mut self, name: impl Into<String>, soft: i64, hard: i64) -> ContainerSpec {
        self.ulimits.push(Ulimit { name: name.into(), soft, hard });
        self
    }

    /// The same container pinned to its host.
    pub fn pinned(mut self) -> ContainerSpec {
        self.movable = false;
        self
    }

    /// The same container with one more label.
    pub fn label(mut self, name: impl Into<String>, value: impl Into<String>) -> ContainerSpec {
        self.labels.insert(name.into(), value.into());
        self
    }

    /// What is wrong with the spec, if anything.
    fn problem(&self) -> Option<String> {
        let name_ok = self.instance.len() >= 2
            && self.instance.starts_with(|c: char| c.is_ascii_alphanumeric())
            && self.instance.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !name_ok {
            return Some(format!(
                "`instance`: {:?} is not a container name ([a-zA-Z0-9][a-zA-Z0-9_.-]+)",
                self.instance
            ));
        }
        if self.image.trim().is_empty() {
            return Some("`image`: a container needs an image".into());
        }
        for (field, limit) in [("cpus", self.cpus), ("memory_mib", self.memory_mib)] {
            if let Some(value) = limit.filter(|value| !(value.is_finite() && *value > 0.0)) {
                return Some(format!("`{field}`: expected a number > 0, got {value}"));
            }
        }
        if let Some((name, _)) =
            self.env.iter().find(|(name, _)| name.is_empty() || name.contains('='))
        {
            return Some(format!("`env`: {name:?} is not a variable name"));
        }
        let reserved = [LABEL_INSTANCE, LABEL_MOVABLE, LABEL_MOVE, LABEL_MOVE_RUNNING];
        if let Some(label) = self.labels.keys().find(|label| reserved.contains(&label.as_str())) {
            return Some(format!("`labels`: {label} is set by the driver"));
        }
        None
    }

    /// The create request.
    fn body(&self) -> ContainerCreateBody {
        let mut labels: HashMap<String, String> =
            self.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        labels.insert(LABEL_INSTANCE.into(), self.instance.clone());
        if !self.movable {
            labels.insert(LABEL_MOVABLE.into(), "false".into());
        }
        let ulimits = self
            .ulimits
            .iter()
            .map(|limit| ResourcesUlimits {
                name: Some(limit.name.clone()),
                soft: Some(limit.soft),
                hard: Some(limit.hard),
            })
            .collect::<Vec<_>>();
        ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: (!self.cmd.is_empty()).then(|| self.cmd.clone()),
            env: Some(self.env.iter().map(|(name, value)| format!("{name}={value}")).collect()),
            labels: Some(labels),
            host_config: Some(HostConfig {
                nano_cpus: self.cpus.map(|cpus| (cpus * 1e9).round() as i64),
                memory: self.memory_mib.map(|mib| (mib * MIB).round() as i64),
                binds: (!self.binds.is_empty()).then(|| self.binds.clone()),
                network_mode: self.network.clone(),
                ulimits: (!ulimits.is_empty()).then_some(ulimits),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// A [`Compute`] driver over the Docker API, one engine per host; see the module documentation
/// for its rules.
pub struct ContainerDriver {
    runtime: Runtime,
    clock: Arc<dyn Clock>,
    options: ContainerOptions,
    engines: BTreeMap<HostId, Engine>,
    state: Mutex<State>,
}

/// What the driver remembers between calls.
#[derive(Default)]
struct State {
    /// Operations by the caller's ID.
    ops: HashMap<String, Record>,
    /// The last CPU sample of each running container, per host, for `cpu_use`.
    samples: HashMap<HostId, HashMap<String, Sample>>,
}

/// A container's CPU time, and when the driver read it.
#[derive(Clone, Copy, Debug)]
struct Sample {
    total_ns: u64,
    at: Duration,
}

impl ContainerDriver {
    /// A driver with no hosts yet.
    pub fn new(
        options: ContainerOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<ContainerDriver, ContainerConfigError> {
        let runtime = Runtime::new().map_err(ContainerConfigError::Runtime)?;
        let state = Mutex::new(State::default());
        Ok(ContainerDriver { runtime, clock, options, engines: BTreeMap::new(), state })
    }

    /// Adds `host`, whose engine listens at `endpoint`. Nothing is sent: the engine may start
    /// later ([`ContainerDriver::check`] asks it).
    pub fn add_host(
        &mut self,
        host: HostId,
        endpoint: Endpoint,
    ) -> Result<(), ContainerConfigError> {
        if let Some(engine) = self.engines.get(&host) {
            let endpoint = engine.endpoint.to_string();
            return Err(ContainerConfigError::DuplicateHost { host, endpoint });
        }
        self.engines.insert(host.clone(), Engine::new(host, endpoint));
        Ok(())
    }

    /// The endpoint of `host`'s engine.
    pub fn endpoint(&self, host: &HostId) -> Option<&Endpoint> {
        self.engines.get(host).map(|engine| &engine.endpoint)
    }

    /// The driver's timings.
    pub fn options(&self) -> &ContainerOptions {
        &self.options
    }

    /// A health check: asks `host`'s engine for its version (`podman 4.3.1 (API 1.41)`).
    pub fn check(&self, host: &HostId) -> Result<String, DriverError> {
        let engine = self.engine(host)?;
        Ok(self.api(engine).version()?)
    }

    /// Creates `spec` on `host`, stopped, labelled as a hearth instance; the container's ID.
    /// `Refused` if the spec is invalid or the instance exists already on an engine that
    /// answers; the engine's own error (a missing image: HTTP 404) otherwise.
    pub fn create(&self, host: &HostId, spec: &ContainerSpec) -> Result<String, DriverError> {
        let engine = self.engine(host)?;
        let refuse = |reason: String| DriverError::Refused {
            operation: format!("create of {}", spec.instance),
            backend: self.backend(host),
            reason,
        };
        if let Some(problem) = spec.problem() {
            return Err(refuse(problem));
        }
        let copies = {
            let state = self.lock();
            self.locate(&state, &spec.instance)?
        };
        if !copies.is_empty() {
            let hosts = hosts_of(&copies);
            return Err(refuse(format!("{} exists already, on {hosts}", spec.instance)));
        }
        Ok(self.api(engine).create(&spec.instance, spec.body())?)
    }

    /// Removes `instance`'s container from `host` (killing it if it runs); its named volumes
    /// stay. `UnknownInstance` if `host` has none.
    pub fn remove(&self, host: &HostId, instance: &str) -> Result<(), DriverError> {
        let engine = self.engine(host)?;
        let api = self.api(engine);
        let found = api.list(Some(instance))?;
        if found.is_empty() {
            return Err(DriverError::UnknownInstance { instance: instance.to_string() });
        }
        for listed in found {
            api.remove(&listed.id, true)?;
        }
        Ok(())
    }

    /// Advances every operation in flight, as `poll` does for one (a caller that does not
    /// poll calls this periodically); errors are left for `poll` to report.
    pub fn reconcile(&self) {
        let mut state = self.lock();
        for record in state.ops.values_mut() {
            let _ = self.advance(record);
        }
    }

    fn engine(&self, host: &HostId) -> Result<&Engine, DriverError> {
        self.engines.get(host).ok_or_else(|| DriverError::UnknownHost { host: host.clone() })
    }

    fn api<'a>(&'a self, engine: &'a Engine) -> Api<'a> {
        Api { engine, runtime: &self.runtime, timeout: self.options.call_timeout }
    }

    /// How refusals name the backend: `container engine unix:///run/podman.sock on c1`.
    fn backend(&self, host: &HostId) -> String {
        match self.engines.get(host) {
            Some(engine) => format!("container engine {} on {host}", engine.endpoint),
            None => "container driver".to_string(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update completes before the lock is released; a panic elsewhere leaves it usable.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Where `instance` is: its containers on each engine that answers, leaving out those a
    /// move hides. An engine that does not answer is an error only if no engine has it.
    fn locate(&self, state: &State, instance: &str) -> Result<Vec<(HostId, Listed)>, DriverError> {
        let hidden = hidden(state);
        let mut found = Vec::new();
        let mut failure = None;
        for (host, engine) in &self.engines {
            match self.api(engine).list(Some(instance)) {
                Ok(listed) => found.extend(
                    listed
                        .into_iter()
                        .filter(|listed| !hidden.contains(&listed.id))
                        .map(|listed| (host.clone(), listed)),
                ),
                Err(error) => {
                    failure.get_or_insert(error);
                }
            }
        }
        match failure {
            Some(error) if found.is_empty() => Err(error.into()),
            _ => Ok(found),
        }
    }
}

/// The containers listings leave out while operations need them to.
fn hidden(state: &State) -> HashSet<String> {
    state.ops.values().filter_map(|record| record.hidden.clone()).collect()
}

/// `c1, c2` from the hosts of `copies`.
fn hosts_of(copies: &[(HostId, Listed)]) -> String {
    let hosts: Vec<String> = copies.iter().map(|(host, _)| host.to_string()).collect();
    hosts.join(", ")
}

/// An instance's CPUs: `NanoCpus`, else the [`LABEL_CPUS`] label, else quota over period,
/// else 0 (no limit).
fn cpus_of(inspect: &ContainerInspectResponse) -> f64 {
    let host = inspect.host_config.as_ref();
    if let Some(nano) = host.and_then(|host| host.nano_cpus).filter(|&nano| nano > 0) {
        return nano as f64 / 1e9;
    }
    let label = labels_of(inspect)
        .and_then(|labels| labels.get(LABEL_CPUS))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .filter(|cpus| cpus.is_finite() && *cpus >= 0.0);
    if let Some(cpus) = label {
        return cpus;
    }
    match (host.and_then(|host| host.cpu_quota), host.and_then(|host| host.cpu_period)) {
        (Some(quota), Some(period)) if quota > 0 && period > 0 => quota as f64 / period as f64,
        _ => 0.0,
    }
}

/// An instance's memory limit, MiB (0: none).
fn memory_mib_of(inspect: &ContainerInspectResponse) -> f64 {
    let bytes = inspect.host_config.as_ref().and_then(|host| host.memory).unwrap_or(0);
    if bytes > 0 {
        bytes as f64 / MIB
    } else {
        0.0
    }
}

fn labels_of(inspect: &ContainerInspectResponse) -> Option<&HashMap<String, String>> {
    inspect.config.as_ref().and_then(|config| config.labels.as_ref())
}

/// Whether the [`LABEL_MOVABLE`] label pins it.
fn pinned(inspect: &ContainerInspectResponse) -> bool {
    labels_of(inspect)
        .and_then(|labels| labels.get(LABEL_MOVABLE))
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("false"))
}

/// The fraction of its CPUs a container used between two samples (`cpus` 0: of the host's
/// `online` CPUs); `None` if it cannot be told (no time passed, the counter went back when the
/// container restarted, no CPU count).
fn cpu_fraction(before: Sample, now: Sample, cpus: f64, online: Option<u32>) -> Option<f64> {
    let elapsed_ns = now.at.checked_sub(before.at)?.as_nanos();
    let used_ns = now.total_ns.checked_sub(before.total_ns)?;
    if elapsed_ns == 0 {
        return None;
    }
    let of = if cpus > 0.0 { cpus } else { f64::from(online.filter(|&n| n > 0)?) };
    Some(used_ns as f64 / elapsed_ns as f64 / of)
}

impl Compute for ContainerDriver {
    fn capabilities(&self) -> MoveCapabilities {
        MoveCapabilities { live: false, cold: true, cancel: false, note: STATELESS_NOTE.into() }
    }

    fn instances(&self, host: &HostId) -> Result<Vec<InstanceInfo>, DriverError> {
        let engine = self.engine(host)?;
        let api = self.api(engine);
        let mut state = self.lock();
        let hidden = hidden(&state);
        let now = self.clock.now();
        let previous = state.samples.get(host).cloned().unwrap_or_default();
        let mut samples = HashMap::new();
        let mut infos = Vec::new();
        for listed in api.list(None)? {
            if hidden.contains(&listed.id) {
                continue;
            }
            // Removed between the list and the inspect: gone, not listed.
            let Some(inspect) = api.inspect(&listed.id)? else { continue };
            let running = is_running(&inspect);
            let cpus = cpus_of(&inspect);
            let cpu_use = if running {
                match api.cpu(&listed.id) {
                    Ok(Some(stat)) => {
                        let sample = Sample { total_ns: stat.total_ns, at: now };
                        samples.insert(listed.id.clone(), sample);
                        previous.get(&listed.id).and_then(|&before| {
                            cpu_fraction(before, sample, cpus, stat.online_cpus)
                        })
                    }
                    // No figure this time: the listing goes on without it.
                    Ok(None) | Err(_) => None,
                }
            } else {
                Some(0.0)
            };
            infos.push(InstanceInfo {
                id: listed.instance,
                host: host.clone(),
                state: if running { InstanceState::Running } else { InstanceState::Stopped },
                cpus,
                memory_mib: memory_mib_of(&inspect),
                cpu_use,
                movable: !pinned(&inspect),
            });
        }
        state.samples.insert(host.clone(), samples);
        Ok(infos)
    }

    fn submit(&self, op_id: &str, op: &ComputeOp) -> Result<(), DriverError> {
        let mut state = self.lock();
        if let Some(answer) =
            crate::compute::resubmission(op_id, state.ops.get(op_id).map(|r| &r.op), op)
        {
            return answer;
        }
        let record = self.start_operation(&state, op_id, op)?;
        state.ops.insert(op_id.to_string(), record);
        Ok(())
    }

    fn poll(&self, op_id: &str) -> Result<OpStatus, DriverError> {
        let mut state = self.lock();
        let record = state
            .ops
            .get_mut(op_id)
            .ok_or_else(|| DriverError::UnknownComputeOp { op_id: op_id.to_string() })?;
        self.advance(record)?;
        Ok(record.status.clone())
    }

    fn cancel(&self, op_id: &str) -> Result<bool, DriverError> {
        let state = self.lock();
        if !state.ops.contains_key(op_id) {
            return Err(DriverError::UnknownComputeOp { op_id: op_id.to_string() });
        }
        // A signal sent cannot be taken back, and a move is rolled back only on failure.
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_use_is_the_share_of_its_cpus_between_two_samples() {
        let before = Sample { total_ns: 1_000_000_000, at: Duration::from_secs(10) };
        let now = Sample { total_ns: 1_500_000_000, at: Duration::from_secs(12) };
        // 0.5 s of CPU in 2 s: a quarter of one CPU, half of a half-CPU limit.
        assert_eq!(cpu_fraction(before, now, 1.0, Some(8)), Some(0.25));
        assert_eq!(cpu_fraction(before, now, 0.5, Some(8)), Some(0.5));
        // No limit: a share of the host's CPUs.
        assert_eq!(cpu_fraction(before, now, 0.0, Some(2)), Some(0.125));
        assert_eq!(cpu_fraction(before, now, 0.0, None), None);
        assert_eq!(cpu_fraction(before, before, 1.0, None), None, "no time passed");
        assert_eq!(cpu_fraction(now, before, 1.0, None), None, "restarted: counter went back");
    }

    #[test]
    fn specs_are_checked_before_anything_is_sent() {
        let ok = ContainerSpec::new("web-1", "localhost/bb:latest");
        assert_eq!(ok.problem(), None);
        let problem = |spec: ContainerSpec| spec.problem().unwrap_or_default();
        assert_eq!(
            problem(ContainerSpec::new("a b", "img")),
            "`instance`: \"a b\" is not a container name ([a-zA-Z0-9][a-zA-Z0-9_.-]+)"
        );
        assert_eq!(problem(ContainerSpec::new("ab", " ")), "`image`: a container needs an image");
        assert_eq!(
            problem(ok.clone().limits(f64::NAN, 1.0)),
            "`cpus`: expected a number > 0, got NaN"
        );
        assert_eq!(problem(ok.clone().env("A=B", "c")), "`env`: \"A=B\" is not a variable name");
        assert_eq!(
            problem(ok.clone().label(LABEL_MOVE, "x")),
            "`labels`: io.hearth.move is set by the driver"
        );
    }

    #[test]
    fn a_spec_becomes_a_labelled_create_request() {
        let spec = ContainerSpec::new("web-1", "localhost/bb:latest")
            .cmd(["sleep", "3600"])
            .env("MODE", "test")
            .limits(0.5, 64.0)
            .bind("web-data:/data")
            .network("none")
            .ulimit("nofile", 1024, 20000)
            .pinned();
        let body = spec.body();
        let labels = body.labels.unwrap();
        assert_eq!(labels.get(LABEL_INSTANCE).map(String::as_str), Some("web-1"));
        assert_eq!(labels.get(LABEL_MOVABLE).map(String::as_str), Some("false"));
        assert_eq!(body.env.unwrap(), ["MODE=test"]);
        let host = body.host_config.unwrap();
        assert_eq!((host.nano_cpus, host.memory), (Some(500_000_000), Some(64 * 1024 * 1024)));
        assert_eq!(host.binds.unwrap(), ["web-data:/data"]);
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        let spec: ContainerSpec =
            serde_json::from_str(r#"{"instance": "j1", "image": "bb", "cmd": ["true"]}"#).unwrap();
        assert_eq!(spec, ContainerSpec::new("j1", "bb").cmd(["true"]));
    }
}
