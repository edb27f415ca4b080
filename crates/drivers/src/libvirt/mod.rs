//! The libvirt driver: a [`Compute`] driver over libvirt (crate `virt`, Debian `libvirt-dev`),
//! one connection per host URI (`qemu+ssh://root@h1/system`, `qemu:///system`, or the test
//! driver's `test:///default` and `test:///path/node.xml`).
//!
//! **Instances** are domains, active and defined-inactive, named by their domain name: running,
//! paused, blocked or shutting down → `Running`; shut off or crashed → `Stopped`; under a live
//! move this driver started → `Migrating`. vCPUs and memory (the configured maximum, MiB) come
//! from `virDomainGetInfo`; `cpu_use` from its CPU time between two listings (none on the first;
//! on the test driver that "CPU time" is the wall clock). A domain is movable unless it is
//! transient, pinned in the driver's configuration ([`LibvirtDriver::with_pinned`]), or pinned
//! in its metadata (`pinned="yes"` on hearth's element, [`HEARTH_NS`]).
//!
//! **Operations**, idempotent by the caller's ID in an in-memory table (as the other drivers):
//! - start: `virDomainCreate`, `Done` when it returns;
//! - stop: `virDomainShutdown`, then `virDomainDestroy` once the grace period has passed
//!   (time from the [`Clock`]); `Done` when the domain is shut off, `Failed` if it still runs
//!   `destroy_wait` after the destroy;
//! - cold move: stop on the source, copy the persistent XML, define and start on the target,
//!   undefine on the source, in the order and with the roll-backs docs/drivers.md ("The
//!   libvirt driver") writes down, so the instance never runs twice nor is lost. Each step is
//!   recorded in hearth's metadata element on the domain, so a driver started after a crash
//!   finishes (or reports) a move when the controller submits its ID again;
//! - live move: `virDomainMigrate` (live, persist on the target, undefine on the source) on a
//!   thread of its own, only where the hypervisor's capabilities declare live migration. The
//!   test driver has none, so for `test:` URIs the capability is off and live moves are refused.
//!
//! Nothing can be cancelled: a stop's shutdown is not taken back, `virt` 0.5 has no
//! `virDomainAbortJob`, and a cold move's steps each finish within one call.
//!
//! **Errors** name the host and its URI and quote libvirt; each also goes to the driver's
//! [`LibvirtLog`] (hearth's log), and libvirt's own printing to stderr is switched off
//! (`conn` module docs say why that is the whole callback story with `virt` 0.5).

mod conn;
mod meta;
mod ops;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use virt::connect::Connect;
use virt::domain::{Domain, DomainState};

use crate::clock::Clock;
use crate::compute::{Compute, ComputeOp, InstanceInfo, InstanceState, MoveCapabilities};
use crate::error::DriverError;
use crate::host::HostId;
use crate::power::OpStatus;

pub use conn::{default_log, LibvirtLog, LibvirtMessage};
pub use meta::{HEARTH_KEY, HEARTH_NS};

use conn::{is_test_uri, Call, Conns};
use meta::Record;

/// The default time between a stop's shutdown request and its destroy.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(60);

/// The default time a stop waits, after the destroy, for the domain to be shut off.
pub const DEFAULT_DESTROY_WAIT: Duration = Duration::from_secs(10);

/// A scripted failure for tests and drills (STYLE.md rule 12): the next time the driver
/// reaches the named point for the instance, it behaves as described, once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failpoint {
    /// A stop (or a cold move's stop) does not send the shutdown request, as if the guest
    /// ignored it: the stop waits out the grace period and destroys the domain.
    IgnoreShutdown,
    /// A cold move's define on the target fails.
    FailDefineOnTarget,
    /// A cold move's start on the target fails.
    FailStartOnTarget,
    /// A cold move stops right after the define on the target, as if hearth died there: the
    /// operation stays `Pending` in this driver; a fresh driver resumes it.
    HaltAfterDefine,
    /// A cold move stops right after the start on the target, before the source is undefined.
    HaltAfterStart,
}

/// A [`Compute`] driver over libvirt; see the module documentation for its rules.
pub struct LibvirtDriver {
    clock: Arc<dyn Clock>,
    conns: Conns,
    pinned: BTreeSet<String>,
    grace: Duration,
    destroy_wait: Duration,
    state: Mutex<ops::State>,
    failpoints: Mutex<HashMap<String, Failpoint>>,
}

impl LibvirtDriver {
    /// A driver with no hosts yet, the default grace period (60 s) and destroy wait (10 s),
    /// and libvirt's errors going to [`default_log`]. Switches libvirt's own printing to
    /// stderr off for the process.
    pub fn new(clock: Arc<dyn Clock>) -> LibvirtDriver {
        conn::silence_libvirt_stderr();
        LibvirtDriver {
            clock,
            conns: Conns::new(default_log()),
            pinned: BTreeSet::new(),
            grace: DEFAULT_GRACE,
            destroy_wait: DEFAULT_DESTROY_WAIT,
            state: Mutex::new(ops::State::default()),
            failpoints: Mutex::new(HashMap::new()),
        }
    }

    /// The same driver with `host` reached at libvirt `uri`. Nothing is opened until a call
    /// needs the host.
    pub fn with_host(mut self, host: HostId, uri: impl Into<String>) -> LibvirtDriver {
        self.conns.add(host, uri.into(), None);
        self
    }

    /// The same driver with `host` reached through `conn`, a connection the caller opened
    /// (with credentials, say); the driver reopens its URI if it breaks.
    pub fn with_connection(mut self, host: HostId, conn: Connect) -> LibvirtDriver {
        let uri = conn.uri().unwrap_or_else(|_| "(unknown libvirt URI)".to_string());
        self.conns.add(host, uri, Some(conn));
        self
    }

    /// The same driver with another time between shutdown and destroy.
    pub fn with_grace(mut self, grace: Duration) -> LibvirtDriver {
        self.grace = grace;
        self
    }

    /// The same driver with another time a stop waits after the destroy before it fails.
    pub fn with_destroy_wait(mut self, destroy_wait: Duration) -> LibvirtDriver {
        self.destroy_wait = destroy_wait;
        self
    }

    /// The same driver with `instance` pinned: listed as not movable, every move refused.
    pub fn with_pinned(mut self, instance: impl Into<String>) -> LibvirtDriver {
        self.pinned.insert(instance.into());
        self
    }

    /// The same driver sending libvirt's errors to `log` instead of [`default_log`].
    pub fn with_log(mut self, log: LibvirtLog) -> LibvirtDriver {
        self.conns.set_log(log);
        self
    }

    /// The hosts and their URIs, in host order.
    pub fn hosts(&self) -> Vec<(HostId, String)> {
        self.conns.hosts().cloned().zip(self.conns.uris()).collect()
    }

    /// The host's connection (opened if needed), for libvirt calls hearth does not wrap.
    pub fn connection(&self, host: &HostId) -> Result<Connect, DriverError> {
        self.conns.get(host)
    }

    /// Points `host` at another URI (a configuration reload): its connection is closed, and the
    /// next call opens the new URI.
    pub fn set_uri(&self, host: &HostId, uri: &str) -> Result<(), DriverError> {
        self.conns.set_uri(host, uri)
    }

    /// Makes `host` use `conn`, and its URI, from now on.
    pub fn use_connection(&self, host: &HostId, conn: Connect) -> Result<(), DriverError> {
        let uri = conn.uri().unwrap_or_else(|_| "(unknown libvirt URI)".to_string());
        self.conns.adopt(host, uri, conn)
    }

    /// Arms (or, with `None`, disarms) a [`Failpoint`] for `instance`.
    pub fn set_failpoint(&self, instance: &str, failpoint: Option<Failpoint>) {
        let mut armed = self.failpoints.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match failpoint {
            Some(failpoint) => armed.insert(instance.to_string(), failpoint),
            None => armed.remove(instance),
        };
    }

    /// A health check: the host's hypervisor as libvirt names it (`QEMU`, `TEST`) and its
    /// version, or why it does not answer.
    pub fn check(&self, host: &HostId) -> Result<String, DriverError> {
        let conn = self.conns.get(host)?;
        let call = |function| Call { host, function, instance: None };
        let kind =
            conn.driver_type().map_err(|e| self.conns.error(call("virConnectGetType"), &e))?;
        let version =
            conn.hyp_version().map_err(|e| self.conns.error(call("virConnectGetVersion"), &e))?;
        let (major, minor, micro) = (version / 1_000_000, version / 1000 % 1000, version % 1000);
        Ok(format!("{kind} {major}.{minor}.{micro} at {}", self.conns.uri(host)?))
    }

    /// hearth's metadata element on `instance`'s domain on `host`, as libvirt stores it (what a
    /// cold move recorded there, and the pinned flag), or `None` if it has none.
    pub fn hearth_metadata(
        &self,
        host: &HostId,
        instance: &str,
    ) -> Result<Option<String>, DriverError> {
        let dom = self
            .domain(host, instance)?
            .ok_or_else(|| DriverError::UnknownInstance { instance: instance.to_string() })?;
        let record = self.record(host, &dom, instance)?;
        Ok((record != Record::default()).then(|| record.to_xml()))
    }

    /// Advances every operation in flight (stops waiting for their grace period, cold moves
    /// whose source has stopped). `poll` does this for its own operation; call this to make
    /// progress without polling.
    pub fn reconcile(&self) {
        let ids: Vec<String> = self.lock().ops.keys().cloned().collect();
        for id in ids {
            // Errors are logged where they happen and reported by the next poll.
            let _ = self.poll(&id);
        }
    }

    fn lock(&self) -> MutexGuard<'_, ops::State> {
        // Every update completes before the lock is released; a panic elsewhere leaves it usable.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the instance's armed failpoint if it is `which`.
    fn failpoint(&self, instance: &str, which: Failpoint) -> bool {
        let mut armed = self.failpoints.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if armed.get(instance) == Some(&which) {
            armed.remove(instance);
            return true;
        }
        false
    }

    /// The backend name refusals carry.
    fn backend(&self, host: &HostId) -> String {
        match self.conns.uri(host) {
            Ok(uri) => format!("libvirt at {uri}"),
            Err(_) => "libvirt".to_string(),
        }
    }

    /// The domain named `name` on `host`, if there is one.
    fn domain(&self, host: &HostId, name: &str) -> Result<Option<Domain>, DriverError> {
        let conn = self.conns.get(host)?;
        match conn.lookup_domain_by_name(name) {
            Ok(dom) => Ok(Some(dom)),
            // "No such domain" is an answer here, not an error: not logged.
            Err(err) if conn::known(&err) == Some(virt::error::ErrorNumber::NoDomain) => Ok(None),
            Err(err) => Err(self.conns.error(
                Call { host, function: "virDomainLookupByName", instance: Some(name) },
                &err,
            )),
        }
    }

    /// Whether the domain is running (in any state but shut off or crashed).
    fn active(&self, host: &HostId, dom: &Domain, name: &str) -> Result<bool, DriverError> {
        let info = dom.info().map_err(|err| {
            self.conns
                .error(Call { host, function: "virDomainGetInfo", instance: Some(name) }, &err)
        })?;
        Ok(state_of(&info.state) == InstanceState::Running)
    }

    /// hearth's metadata element on the domain (empty when it has none).
    fn record(&self, host: &HostId, dom: &Domain, name: &str) -> Result<Record, DriverError> {
        let kind = virt::sys::VIR_DOMAIN_METADATA_ELEMENT as i32;
        match dom.metadata(kind, Some(HEARTH_NS), 0) {
            Ok(xml) => Ok(Record::parse(&xml)),
            Err(err) if conn::known(&err) == Some(virt::error::ErrorNumber::NoDomainMetadata) => {
                Ok(Record::default())
            }
            Err(err) => Err(self.conns.error(
                Call { host, function: "virDomainGetMetadata", instance: Some(name) },
                &err,
            )),
        }
    }

    /// Stores hearth's metadata element on the domain: in its persistent definition, and in
    /// the running one too when it runs.
    fn set_record(
        &self,
        host: &HostId,
        dom: &Domain,
        name: &str,
        record: &Record,
    ) -> Result<(), DriverError> {
        let kind = virt::sys::VIR_DOMAIN_METADATA_ELEMENT as i32;
        let config = virt::sys::VIR_DOMAIN_AFFECT_CONFIG;
        let live = config | virt::sys::VIR_DOMAIN_AFFECT_LIVE;
        let first = if self.active(host, dom, name)? { live } else { config };
        let xml = record.to_xml();
        let set =
            |flags| dom.set_metadata(kind, Some(&xml), Some(HEARTH_KEY), Some(HEARTH_NS), flags);
        // The domain may have started or stopped since: then the other flags are the right ones.
        set(first).or_else(|_| set(if first == live { config } else { live })).map_err(|err| {
            self.conns
                .error(Call { host, function: "virDomainSetMetadata", instance: Some(name) }, &err)
        })
    }
}

/// hearth's state for a libvirt domain state.
fn state_of(state: &virt::enumutil::Enum<DomainState, virt::sys::virDomainState>) -> InstanceState {
    match state.known() {
        Some(
            DomainState::Running
            | DomainState::Blocked
            | DomainState::Paused
            | DomainState::Shutdown
            | DomainState::PMSuspended,
        ) => InstanceState::Running,
        Some(DomainState::Shutoff | DomainState::Crashed | DomainState::NoState) | None => {
            InstanceState::Stopped
        }
    }
}

impl Compute for LibvirtDriver {
    fn capabilities(&self) -> MoveCapabilities {
        let uris = self.conns.uris();
        let live = !uris.is_empty() && !uris.iter().any(|uri| is_test_uri(uri));
        MoveCapabilities {
            live,
            cold: true,
            cancel: false,
            note: format!(
                "libvirt: cold moves copy the domain's definition (disks must be on storage both \
                 hosts see at the same paths; NVRAM and TPM state are not copied); live \
                 migration {}; nothing can be cancelled",
                if live {
                    "where the source hypervisor's capabilities declare it"
                } else {
                    "off (libvirt's test driver has none)"
                }
            ),
        }
    }

    fn instances(&self, host: &HostId) -> Result<Vec<InstanceInfo>, DriverError> {
        let conn = self.conns.get(host)?;
        let domains = conn.list_all_domains(0).map_err(|err| {
            let call = Call { host, function: "virConnectListAllDomains", instance: None };
            self.conns.error(call, &err)
        })?;
        let now = self.clock.now();
        let mut listed = Vec::with_capacity(domains.len());
        let mut state = self.lock();
        let mut seen = Vec::new();
        for dom in domains {
            let Ok(name) = dom.name() else { continue };
            let info = match dom.info() {
                Ok(info) => info,
                // Gone between the listing and now: not listed.
                Err(err) if conn::known(&err) == Some(virt::error::ErrorNumber::NoDomain) => {
                    continue
                }
                Err(err) => {
                    let call = Call { host, function: "virDomainGetInfo", instance: Some(&name) };
                    return Err(self.conns.error(call, &err));
                }
            };
            let persistent = dom.is_persistent().unwrap_or(false);
            let record = self.record(host, &dom, &name).unwrap_or_default();
            let mut instance_state = state_of(&info.state);
            if state.live_move_from(host, &name) {
                instance_state = InstanceState::Migrating;
            }
            let cpus = f64::from(info.nr_virt_cpu);
            let cpu_use = match (instance_state, dom.uuid_string()) {
                (InstanceState::Stopped, _) | (_, Err(_)) => None,
                (_, Ok(uuid)) => {
                    seen.push(uuid.clone());
                    state.cpu_use(host, uuid, info.cpu_time, now, cpus)
                }
            };
            listed.push(InstanceInfo {
                movable: persistent && !record.pinned && !self.pinned.contains(&name),
                id: name,
                host: host.clone(),
                state: instance_state,
                cpus,
                memory_mib: info.max_mem as f64 / 1024.0,
                cpu_use,
            });
        }
        state.keep_samples(host, &seen);
        listed.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(listed)
    }

    fn submit(&self, op_id: &str, op: &ComputeOp) -> Result<(), DriverError> {
        self.submit_op(op_id, op)
    }

    fn poll(&self, op_id: &str) -> Result<OpStatus, DriverError> {
        self.poll_op(op_id)
    }

    fn cancel(&self, op_id: &str) -> Result<bool, DriverError> {
        if !self.lock().ops.contains_key(op_id) {
            return Err(DriverError::UnknownComputeOp { op_id: op_id.to_string() });
        }
        Ok(false)
    }
}
