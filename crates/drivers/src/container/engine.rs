//! One host's container engine behind the Docker API: where it listens ([`Endpoint`]), the
//! bollard client made on first use, the tokio runtime every call blocks on (with a timeout on
//! every call), and how an engine's failures become [`DriverError`]s that name the host, the
//! endpoint and the request.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bollard::errors::Error as BollardError;
use bollard::{ClientVersion, Docker};

use crate::error::DriverError;
use crate::host::HostId;

/// The Docker API version the driver asks for: 1.41 (Docker 20.10 and podman 3 or later serve
/// it, and it has everything the driver uses, one-shot stats included). bollard's own default
/// (1.53) is newer than many engines in service accept.
const API_VERSION: &ClientVersion = &ClientVersion { major_version: 1, minor_version: 41 };

/// bollard's own per-request limit, beyond the driver's: it only matters if the driver's
/// timeout did not fire first, which it always does.
const BOLLARD_SLACK_S: u64 = 5;

/// Where a host's container engine serves the Docker API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A unix socket: `unix:///run/podman/podman.sock`, or the bare absolute path.
    Unix(PathBuf),
    /// Plain TCP, no TLS: `tcp://10.0.0.7:2375` or `http://10.0.0.7:2375`. The Docker API
    /// gives root on the host to whoever reaches it: only on a trusted management network.
    Tcp {
        /// The engine's address (a name, an IPv4 address, or an IPv6 one in brackets).
        host: String,
        /// Its port.
        port: u16,
    },
}

/// Why an endpoint could not be read.
#[derive(Debug, thiserror::Error)]
#[error(
    "container engine endpoint {text:?}: {reason} (expected unix:///path/to.sock, /path/to.sock \
     or tcp://host:port)"
)]
pub struct EndpointError {
    /// The endpoint as given.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(text: &str) -> Result<Endpoint, EndpointError> {
        let error = |reason: &str| EndpointError { text: text.to_string(), reason: reason.into() };
        if let Some(path) = text.strip_prefix("unix://").or(text.starts_with('/').then_some(text)) {
            if !path.starts_with('/') {
                return Err(error("a unix socket needs an absolute path"));
            }
            if path.contains('\0') {
                return Err(error("the path contains NUL"));
            }
            return Ok(Endpoint::Unix(PathBuf::from(path)));
        }
        let address = text
            .strip_prefix("tcp://")
            .or_else(|| text.strip_prefix("http://"))
            .ok_or_else(|| error("unknown scheme (https and ssh are not supported)"))?;
        let address = address.strip_suffix('/').unwrap_or(address);
        let (host, port) =
            address.rsplit_once(':').ok_or_else(|| error("a TCP endpoint needs a port"))?;
        let port: u16 = port.parse().map_err(|_| error("the port is not a number 0–65535"))?;
        let bracketed = host.starts_with('[') && host.ends_with(']');
        if host.is_empty() || (host.contains(':') && !bracketed) {
            return Err(error("the host is empty, or an IPv6 address without brackets"));
        }
        if host.contains(['/', '@', '?', '#', ' ']) {
            return Err(error("scheme, host and port only: no path, user or query"));
        }
        Ok(Endpoint::Tcp { host: host.to_string(), port })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "unix://{}", path.display()),
            Endpoint::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
        }
    }
}

/// The driver's own current-thread tokio runtime. The drivers' API is blocking; each engine
/// call is one `block_on`. Dropping it never blocks (`shutdown_background`), so the driver may
/// be dropped anywhere, even inside async code.
pub(super) struct Runtime(Option<tokio::runtime::Runtime>);

impl Runtime {
    /// A current-thread runtime with I/O (the engine's socket) and timers (the timeouts).
    pub(super) fn new() -> io::Result<Runtime> {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()?;
        Ok(Runtime(Some(runtime)))
    }

    /// Runs `future` to completion on the calling thread (`None` only after the runtime was
    /// shut down, which happens on drop).
    fn block_on<F: Future>(&self, future: F) -> Option<F::Output> {
        self.0.as_ref().map(|runtime| runtime.block_on(future))
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// One host's engine: its endpoint and the client, made on first use (bollard checks that a
/// unix socket exists when it makes the client, and an engine may start after hearth).
pub(super) struct Engine {
    pub(super) host: HostId,
    pub(super) endpoint: Endpoint,
    client: Mutex<Option<Docker>>,
}

/// How one engine call failed, before it is named with host, endpoint and request.
#[derive(Debug)]
pub(super) enum Failure {
    /// The engine answered with an HTTP error status and its message.
    Status {
        /// The HTTP status.
        code: u16,
        /// The engine's message.
        message: String,
    },
    /// The engine could not be reached, or the connection broke. `maybe_sent` unless the
    /// connection was never made (refused, no socket), so the request cannot have arrived.
    Unreachable {
        /// What the transport reported.
        detail: String,
        /// Whether the request may have reached the engine.
        maybe_sent: bool,
    },
    /// No answer within the call's timeout; the request may or may not have taken effect.
    Timeout(Duration),
    /// An answer the driver cannot read.
    Malformed(String),
    /// Anything else.
    Other(String),
}

/// A failed engine call: the failure, and where it happened.
#[derive(Debug)]
pub(super) struct EngineError {
    pub(super) host: HostId,
    pub(super) endpoint: String,
    pub(super) command: String,
    pub(super) failure: Failure,
}

impl EngineError {
    /// The HTTP status, if the engine answered with an error.
    pub(super) fn status(&self) -> Option<u16> {
        match self.failure {
            Failure::Status { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether the engine answered (with an error status): the request reached it and was
    /// refused, so it did not take effect.
    pub(super) fn answered(&self) -> bool {
        self.status().is_some()
    }

    /// Whether the engine says the object does not exist.
    pub(super) fn not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether the request may have taken effect without the driver hearing the answer.
    pub(super) fn uncertain(&self) -> bool {
        match self.failure {
            Failure::Status { .. } => false,
            Failure::Unreachable { maybe_sent, .. } => maybe_sent,
            Failure::Timeout(_) | Failure::Malformed(_) | Failure::Other(_) => true,
        }
    }

    /// The engine's message, or the failure as words.
    pub(super) fn message(&self) -> String {
        match &self.failure {
            Failure::Status { code, message } => format!("HTTP {code}: {message}"),
            Failure::Unreachable { detail, .. } => format!("unreachable: {detail}"),
            Failure::Timeout(waited) => {
                format!("no answer within {}", crate::error::Secs(*waited))
            }
            Failure::Malformed(detail) => format!("malformed reply: {detail}"),
            Failure::Other(detail) => detail.clone(),
        }
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` on {} ({}): {}", self.command, self.host, self.endpoint, self.message())
    }
}

impl From<EngineError> for DriverError {
    /// A 404 stays `CommandFailed` here: callers that know which instance was meant turn it
    /// into `UnknownInstance` first.
    fn from(error: EngineError) -> DriverError {
        let EngineError { host, endpoint: bmc, command, failure } = error;
        match failure {
            Failure::Status { code, message } => DriverError::CommandFailed {
                host,
                bmc,
                command,
                status: format!("HTTP {code}"),
                detail: message,
            },
            Failure::Unreachable { detail, .. } => {
                DriverError::Unreachable { host, bmc, detail: format!("`{command}`: {detail}") }
            }
            Failure::Timeout(waited) => DriverError::Timeout { host, bmc, command, waited },
            Failure::Malformed(reply) => DriverError::MalformedReply { host, bmc, command, reply },
            Failure::Other(detail) => {
                DriverError::CommandFailed { host, bmc, command, status: "error".into(), detail }
            }
        }
    }
}

impl Engine {
    /// The engine of `host` at `endpoint`; nothing is sent yet.
    pub(super) fn new(host: HostId, endpoint: Endpoint) -> Engine {
        Engine { host, endpoint, client: Mutex::new(None) }
    }

    /// Runs one request: `request` gets the client and returns the future, which runs on
    /// `runtime` within `timeout`.
    pub(super) fn call<T, Fut>(
        &self,
        runtime: &Runtime,
        timeout: Duration,
        command: impl Into<String>,
        request: impl FnOnce(Docker) -> Fut,
    ) -> Result<T, EngineError>
    where
        Fut: Future<Output = Result<T, BollardError>>,
    {
        let command = command.into();
        let fail = |failure: Failure| EngineError {
            host: self.host.clone(),
            endpoint: self.endpoint.to_string(),
            command: command.clone(),
            failure,
        };
        let client = self.client(timeout).map_err(fail)?;
        let future = request(client);
        let outcome = runtime.block_on(async move { tokio::time::timeout(timeout, future).await });
        match outcome {
            Some(Ok(Ok(value))) => Ok(value),
            Some(Ok(Err(error))) => Err(fail(classify(error, timeout))),
            Some(Err(_elapsed)) => Err(fail(Failure::Timeout(timeout))),
            None => Err(fail(Failure::Other("the driver's runtime is shut down".into()))),
        }
    }

    /// The client, made on first use.
    fn client(&self, timeout: Duration) -> Result<Docker, Failure> {
        let mut client = self.lock();
        if let Some(docker) = client.as_ref() {
            return Ok(docker.clone());
        }
        let limit_s = timeout.as_secs() + BOLLARD_SLACK_S;
        let made = match &self.endpoint {
            Endpoint::Unix(path) => {
                let path = path.to_str().ok_or_else(|| {
                    Failure::Other(format!("socket path {} is not UTF-8", path.display()))
                })?;
                Docker::connect_with_unix(path, limit_s, API_VERSION)
            }
            Endpoint::Tcp { host, port } => {
                Docker::connect_with_http(&format!("tcp://{host}:{port}"), limit_s, API_VERSION)
            }
        };
        let docker = made.map_err(|error| classify(error, timeout))?;
        *client = Some(docker.clone());
        Ok(docker)
    }

    fn lock(&self) -> MutexGuard<'_, Option<Docker>> {
        // The client is replaced whole; a panic elsewhere leaves it usable.
        self.client.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Sorts a bollard error into what the driver reports.
fn classify(error: BollardError, timeout: Duration) -> Failure {
    match error {
        BollardError::DockerResponseServerError { status_code, message } => {
            Failure::Status { code: status_code, message }
        }
        BollardError::SocketNotFoundError(path) => Failure::Unreachable {
            detail: format!("socket {path} not found: is the engine running?"),
            maybe_sent: false,
        },
        BollardError::RequestTimeoutError => Failure::Timeout(timeout),
        BollardError::JsonDataError { message, .. } => Failure::Malformed(message),
        error @ BollardError::JsonSerdeError { .. } => Failure::Malformed(chain(&error)),
        // Transport: the connection could not be made, or broke before the answer.
        BollardError::IOError { err } => {
            Failure::Unreachable { detail: chain(&err), maybe_sent: !never_connected(&err) }
        }
        error @ (BollardError::HyperLegacyError { .. }
        | BollardError::HyperResponseError { .. }) => {
            Failure::Unreachable { detail: chain(&error), maybe_sent: !never_connected(&error) }
        }
        error => Failure::Other(chain(&error)),
    }
}

/// Whether the error says the connection was never made: refused, or no socket file.
fn never_connected(error: &(dyn StdError + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            use io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionRefused
                    | NotFound
                    | AddrNotAvailable
                    | HostUnreachable
                    | NetworkUnreachable
            ) {
                return true;
            }
        }
        source = cause.source();
    }
    false
}

/// The error and its sources, each once: `error in the hyper legacy client: client error
/// (Connect): Connection refused (os error 111)`.
fn chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_and_print() {
        for (text, printed) in [
            ("unix:///run/podman/podman.sock", "unix:///run/podman/podman.sock"),
            ("/var/run/docker.sock", "unix:///var/run/docker.sock"),
            ("tcp://10.0.0.7:2375", "tcp://10.0.0.7:2375"),
            ("http://engine.lab:2375/", "tcp://engine.lab:2375"),
            ("tcp://[::1]:2375", "tcp://[::1]:2375"),
        ] {
            let endpoint: Endpoint = text.parse().unwrap_or_else(|err| panic!("{text}: {err}"));
            assert_eq!(endpoint.to_string(), printed);
        }
        for (text, reason) in [
            ("unix://run/x.sock", "a unix socket needs an absolute path"),
            ("https://h:2376", "unknown scheme (https and ssh are not supported)"),
            ("tcp://h", "a TCP endpoint needs a port"),
            ("tcp://h:99999", "the port is not a number 0–65535"),
            ("tcp://::1:2375", "the host is empty, or an IPv6 address without brackets"),
            ("tcp://u@h:2375", "scheme, host and port only: no path, user or query"),
        ] {
            let err = text.parse::<Endpoint>().unwrap_err();
            assert_eq!(err.reason, reason, "{text}");
        }
    }

    #[test]
    fn engine_failures_name_host_endpoint_and_request() {
        let error = |failure| EngineError {
            host: HostId::new("c1"),
            endpoint: "unix:///run/podman.sock".into(),
            command: "POST /containers/web/start".into(),
            failure,
        };
        let refused = error(Failure::Status { code: 500, message: "no such image".into() });
        assert!(refused.answered() && !refused.not_found() && !refused.uncertain());
        assert_eq!(
            DriverError::from(refused).to_string(),
            "host c1: BMC unix:///run/podman.sock: `POST /containers/web/start` failed (HTTP 500): \
             no such image"
        );
        let gone = error(Failure::Unreachable {
            detail: "Connection refused (os error 111)".into(),
            maybe_sent: false,
        });
        assert!(!gone.answered() && !gone.uncertain());
        assert_eq!(
            DriverError::from(gone).to_string(),
            "host c1: BMC unix:///run/podman.sock unreachable: `POST /containers/web/start`: \
             Connection refused (os error 111)"
        );
        let silent = error(Failure::Timeout(Duration::from_secs(10)));
        assert!(silent.uncertain());
        assert!(matches!(DriverError::from(silent), DriverError::Timeout { .. }));
    }

    #[test]
    fn bollard_errors_are_sorted() {
        let timeout = Duration::from_secs(1);
        let status = BollardError::DockerResponseServerError {
            status_code: 404,
            message: "no such container".into(),
        };
        assert!(matches!(classify(status, timeout), Failure::Status { code: 404, .. }));
        let socket = BollardError::SocketNotFoundError("/nope.sock".into());
        match classify(socket, timeout) {
            Failure::Unreachable { detail, maybe_sent: false } => {
                assert_eq!(detail, "socket /nope.sock not found: is the engine running?")
            }
            other => panic!("{other:?}"),
        }
        let refused = BollardError::IOError {
            err: io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused"),
        };
        assert!(matches!(
            classify(refused, timeout),
            Failure::Unreachable { maybe_sent: false, .. }
        ));
        let reset = BollardError::IOError {
            err: io::Error::new(io::ErrorKind::ConnectionReset, "connection reset"),
        };
        assert!(matches!(classify(reset, timeout), Failure::Unreachable { maybe_sent: true, .. }));
        assert!(matches!(
            classify(BollardError::RequestTimeoutError, timeout),
            Failure::Timeout(waited) if waited == timeout
        ));
    }
}
