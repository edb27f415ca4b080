//! Connections and errors: one libvirt connection per host URI, opened on first use and again
//! after a failure; every libvirt error turned into a [`DriverError`] that names the host, the
//! URI and libvirt's message, after it has gone to the driver's log sink.
//!
//! **Why no libvirt error callback of our own.** libvirt reports each error twice: to the
//! calling thread (`virGetLastError`, which the `virt` crate turns into the `Err` of the call)
//! and to a process-wide error function, by default one that prints `libvirt: … error : …` on
//! stderr. `virt` 0.5 exposes `virSetErrorFunc` only as [`virt::error::clear_error_callback`]
//! (a no-op function); installing a function of our own would take `unsafe` code, which the
//! workspace forbids. So the driver installs the no-op once, and routes each error it gets
//! back from a call through [`Conns::error`], which hands it to the [`LibvirtLog`] sink before
//! mapping it. Nothing is lost: the driver runs no libvirt event loop, so every error libvirt
//! raises belongs to a call the driver made.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, Once};

use virt::connect::Connect;
use virt::error::{Error as VirtError, ErrorNumber};

use crate::error::DriverError;
use crate::host::HostId;

/// One libvirt error, as the driver saw it: where, in which call, and libvirt's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibvirtMessage {
    /// The host whose connection the call used.
    pub host: HostId,
    /// That host's libvirt URI.
    pub uri: String,
    /// The libvirt call and its subject (`virDomainCreate vm1`).
    pub call: String,
    /// libvirt's error code and its number (`nodomain (42)`).
    pub code: String,
    /// libvirt's message.
    pub message: String,
}

impl fmt::Display for LibvirtMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "host {} ({}): {}: {} [{}]",
            self.host, self.uri, self.call, self.message, self.code
        )
    }
}

/// Where the driver sends libvirt's errors: hearth's log. Called with the driver's lock held,
/// so it must not call back into the driver.
pub type LibvirtLog = Arc<dyn Fn(&LibvirtMessage) + Send + Sync>;

/// The default [`LibvirtLog`]: one line on hearth's log stream (stderr), in hearth's format.
pub fn default_log() -> LibvirtLog {
    Arc::new(|message: &LibvirtMessage| eprintln!("hearth: libvirt: {message}"))
}

/// Silences libvirt's default error printer, once per process (see the module docs).
pub(super) fn silence_libvirt_stderr() {
    static ONCE: Once = Once::new();
    ONCE.call_once(virt::error::clear_error_callback);
}

/// A host's URI and its connection, if open.
struct Slot {
    uri: String,
    conn: Option<Connect>,
}

/// The hosts' connections.
pub(super) struct Conns {
    slots: BTreeMap<HostId, Mutex<Slot>>,
    log: LibvirtLog,
}

/// An error of a call, mapped, with the instance it was about (for `UnknownInstance`).
pub(super) struct Call<'a> {
    /// The host.
    pub host: &'a HostId,
    /// The libvirt function (`virDomainCreate`).
    pub function: &'a str,
    /// The instance it was about, if any.
    pub instance: Option<&'a str>,
}

impl Conns {
    pub fn new(log: LibvirtLog) -> Conns {
        Conns { slots: BTreeMap::new(), log }
    }

    pub fn set_log(&mut self, log: LibvirtLog) {
        self.log = log;
    }

    pub fn add(&mut self, host: HostId, uri: String, conn: Option<Connect>) {
        self.slots.insert(host, Mutex::new(Slot { uri, conn }));
    }

    pub fn hosts(&self) -> impl Iterator<Item = &HostId> {
        self.slots.keys()
    }

    pub fn knows(&self, host: &HostId) -> bool {
        self.slots.contains_key(host)
    }

    fn slot(&self, host: &HostId) -> Result<MutexGuard<'_, Slot>, DriverError> {
        let slot =
            self.slots.get(host).ok_or_else(|| DriverError::UnknownHost { host: host.clone() })?;
        // A slot is only ever replaced whole; a panic elsewhere leaves it usable.
        Ok(slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// The host's URI.
    pub fn uri(&self, host: &HostId) -> Result<String, DriverError> {
        Ok(self.slot(host)?.uri.clone())
    }

    /// Every host's URI, in host order.
    pub fn uris(&self) -> Vec<String> {
        self.slots
            .values()
            .map(|slot| slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).uri.clone())
            .collect()
    }

    /// Points `host` at another URI; its connection is closed and the next call opens the new one.
    pub fn set_uri(&self, host: &HostId, uri: &str) -> Result<(), DriverError> {
        let mut slot = self.slot(host)?;
        slot.uri = uri.to_string();
        slot.conn = None;
        Ok(())
    }

    /// Makes `host` use `conn` (and its URI) from now on.
    pub fn adopt(&self, host: &HostId, uri: String, conn: Connect) -> Result<(), DriverError> {
        let mut slot = self.slot(host)?;
        *slot = Slot { uri, conn: Some(conn) };
        Ok(())
    }

    /// The host's connection, opened if it is not (or no longer) open.
    pub fn get(&self, host: &HostId) -> Result<Connect, DriverError> {
        let mut slot = self.slot(host)?;
        if let Some(conn) = &slot.conn {
            // A remote connection whose keep-alive failed says so here, without a round trip.
            if conn.is_alive().unwrap_or(false) {
                return Ok(conn.clone());
            }
            slot.conn = None;
        }
        let uri = slot.uri.clone();
        if let Some(missing) = missing_test_node(&uri) {
            // libxml2 would print its own "failed to load external entity" on stderr first.
            return Err(DriverError::Unreachable {
                host: host.clone(),
                bmc: uri.clone(),
                detail: format!("libvirt test driver node file {missing} does not exist"),
            });
        }
        match Connect::open(Some(&uri)) {
            Ok(conn) => {
                slot.conn = Some(conn.clone());
                Ok(conn)
            }
            Err(err) => {
                drop(slot);
                self.log_error(host, &uri, "virConnectOpen", &err);
                Err(DriverError::Unreachable {
                    host: host.clone(),
                    bmc: uri.clone(),
                    detail: format!("cannot connect to libvirt at {uri}: {}", err.message()),
                })
            }
        }
    }

    /// Closes the host's connection (the next call reopens it).
    fn reset(&self, host: &HostId) {
        if let Ok(mut slot) = self.slot(host) {
            slot.conn = None;
        }
    }

    fn log_error(&self, host: &HostId, uri: &str, call: &str, err: &VirtError) {
        (self.log)(&LibvirtMessage {
            host: host.clone(),
            uri: uri.to_string(),
            call: call.to_string(),
            code: code_label(err),
            message: err.message().to_string(),
        });
    }

    /// Logs a libvirt error of `call` and maps it (closing the connection if it is broken).
    pub fn error(&self, call: Call<'_>, err: &VirtError) -> DriverError {
        let uri = self.uri(call.host).unwrap_or_default();
        let what = match call.instance {
            Some(instance) => format!("{} {instance}", call.function),
            None => call.function.to_string(),
        };
        self.log_error(call.host, &uri, &what, err);
        let host = call.host.clone();
        match known(err) {
            Some(ErrorNumber::NoDomain) if call.instance.is_some() => {
                DriverError::UnknownInstance { instance: call.instance.unwrap_or_default().into() }
            }
            Some(
                ErrorNumber::NoConnect
                | ErrorNumber::InvalidConn
                | ErrorNumber::SystemError
                | ErrorNumber::Rpc
                | ErrorNumber::NoServer
                | ErrorNumber::Ssh
                | ErrorNumber::Libssh,
            ) => {
                self.reset(call.host);
                DriverError::Unreachable {
                    host,
                    bmc: uri,
                    detail: format!("{what}: {}", err.message()),
                }
            }
            Some(
                ErrorNumber::AuthFailed
                | ErrorNumber::AuthCancelled
                | ErrorNumber::AuthUnavailable
                | ErrorNumber::AccessDenied,
            ) => DriverError::AuthenticationFailed {
                host,
                user: uri_user(&uri),
                bmc: uri,
                detail: format!("{what}: {}", err.message()),
            },
            Some(
                ErrorNumber::NoSupport
                | ErrorNumber::ArgumentUnsupported
                | ErrorNumber::OperationUnsupported,
            ) => DriverError::Unsupported {
                host,
                bmc: uri,
                operation: what,
                detail: err.message().to_string(),
            },
            _ => DriverError::CommandFailed {
                host,
                bmc: uri,
                command: what,
                status: format!("libvirt code {}", code_label(err)),
                detail: err.message().to_string(),
            },
        }
    }

    /// Logs an error the driver handles itself (a step it retries or works around).
    pub fn note(&self, host: &HostId, call: &str, err: &VirtError) {
        let uri = self.uri(host).unwrap_or_default();
        self.log_error(host, &uri, call, err);
    }
}

/// The error's code, if the crate knows it.
pub(super) fn known(err: &VirtError) -> Option<ErrorNumber> {
    err.code().known()
}

/// libvirt's code as `virsh` names it, with its number: `nodomain (42)`.
fn code_label(err: &VirtError) -> String {
    format!("{} ({})", err.code(), err.code().to_raw())
}

/// Whether `uri` is libvirt's test driver (`test:///default`, `test:///path/node.xml`).
pub(super) fn is_test_uri(uri: &str) -> bool {
    uri.starts_with("test:") || uri.starts_with("test+")
}

/// For a local test-driver URI naming a node file that does not exist, that path.
fn missing_test_node(uri: &str) -> Option<&str> {
    let path = uri.strip_prefix("test://")?;
    let path = path.split(['?', '#']).next().unwrap_or(path);
    if !path.starts_with('/') || path == "/default" {
        return None;
    }
    (!Path::new(path).exists()).then_some(path)
}

/// The user a URI names (`qemu+ssh://admin@host/system` → `admin`), or a note that it names none.
fn uri_user(uri: &str) -> String {
    let authority = uri.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    let authority = authority.split('/').next().unwrap_or("");
    match authority.rsplit_once('@') {
        Some((user, _)) => user.to_string(),
        None => "(the URI names no user)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_read_without_libvirt() {
        assert!(is_test_uri("test:///default"));
        assert!(!is_test_uri("qemu+ssh://admin@h1/system"));
        assert_eq!(uri_user("qemu+ssh://admin@h1/system"), "admin");
        assert_eq!(uri_user("qemu:///system"), "(the URI names no user)");
        assert_eq!(missing_test_node("test:///default"), None);
        assert_eq!(missing_test_node("test:///no/such/node.xml"), Some("/no/such/node.xml"));
        assert_eq!(missing_test_node("qemu:///system"), None);
    }
}
