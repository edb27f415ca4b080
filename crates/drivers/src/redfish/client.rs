//! One BMC's HTTP client: the base address, TLS (verification on; a pinned CA; or, loudly, off),
//! timeouts, basic or session authentication (log in, `X-Auth-Token`, log in again once on a
//! 401, `DELETE` the session on drop), and the mapping of every failure to a
//! [`DriverError`] that names the host, the BMC and the request, and never the password.
//!
//! Redirects are followed only within the BMC's own origin (sushy-emulator answers a system's
//! name with a 307 to its UUID); a redirect elsewhere is not followed, so credentials and
//! session tokens never leave the BMC. Proxies from the environment are ignored: a BMC is
//! reached directly on its management network.

use std::fs;
use std::io::Read;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use reqwest::blocking::{Client as Http, RequestBuilder};
use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION};
use reqwest::{Method, Url};
use serde_json::Value;

use super::parse::{self, Failure};
use super::{AuthMode, Password, RedfishBmc, RedfishConfigError, RedfishTimeouts};
use crate::error::DriverError;
use crate::host::HostId;

/// Where session logins go (DSP0266: the SessionService's Sessions collection).
pub(crate) const SESSIONS: &str = "/redfish/v1/SessionService/Sessions";

/// The session token header.
const TOKEN_HEADER: &str = "X-Auth-Token";

/// The largest reply body read; a larger one is a malformed reply.
const MAX_BODY_BYTES: u64 = 8 << 20;

/// The longest a session logout may take when the driver is dropped.
const LOGOUT_TIMEOUT: Duration = Duration::from_secs(2);

/// A logged-in session.
struct Session {
    token: String,
    /// Where to `DELETE` it (the login reply's `Location`, or its `@odata.id`).
    location: Option<String>,
}

/// A reply of any status.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) reason: String,
    pub(crate) body: String,
    token: Option<String>,
    location: Option<String>,
}

impl Reply {
    fn success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The HTTP side of one BMC.
pub(crate) struct Client {
    host: HostId,
    /// `scheme://host:port`, as errors name the BMC.
    origin: String,
    base: Url,
    http: Http,
    user: String,
    password: Password,
    auth: AuthMode,
    timeouts: RedfishTimeouts,
    session: Mutex<Option<Session>>,
}

/// The base URL and origin (`scheme://host:port`) of a configured address; `Err(why not)`.
pub(crate) fn origin(address: &str) -> Result<(Url, String), String> {
    let url = Url::parse(address).map_err(|err| err.to_string())?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(format!("scheme {:?} is not https or http", url.scheme()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials belong in `user` and `password`, not in the address".into());
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("give only scheme, host and port; the driver adds /redfish/v1/…".into());
    }
    let host = url.host_str().ok_or("no host")?;
    let port = url.port_or_known_default().ok_or("no port")?;
    let origin = format!("{}://{host}:{port}", url.scheme());
    Ok((url, origin))
}

/// Whether `url` is on `base`'s origin (scheme, host and port).
fn same_origin(url: &Url, base: &Url) -> bool {
    url.scheme() == base.scheme()
        && url.host_str() == base.host_str()
        && url.port_or_known_default() == base.port_or_known_default()
}

/// `top` and the messages of `source` and its sources, `: `-joined (each only once).
fn chain(top: String, mut source: Option<&(dyn std::error::Error + 'static)>) -> String {
    let mut parts = vec![top];
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// A reqwest error and its sources, without the URL (`error sending request` rather than
/// `error sending request for url (…)`): the caller names the request.
fn describe(err: &reqwest::Error) -> String {
    let text = err.to_string();
    let top = match text.find(" for url (") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    };
    chain(top, std::error::Error::source(err))
}

impl Client {
    /// A client for `bmc`, serving `host`.
    pub(crate) fn new(host: &HostId, bmc: &RedfishBmc) -> Result<Client, RedfishConfigError> {
        let (base, origin) =
            origin(&bmc.address).map_err(|reason| RedfishConfigError::BadAddress {
                host: host.clone(),
                address: bmc.address.clone(),
                reason,
            })?;
        let https = base.scheme() == "https";
        if !https && (bmc.ca_file.is_some() || bmc.insecure_skip_verify) {
            return Err(RedfishConfigError::TlsWithoutHttps { host: host.clone(), origin });
        }
        if bmc.ca_file.is_some() && bmc.insecure_skip_verify {
            return Err(RedfishConfigError::ConflictingTls { host: host.clone() });
        }
        let policy_base = base.clone();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("more than 5 redirects")
            } else if same_origin(attempt.url(), &policy_base) {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let mut builder = Http::builder()
            .use_rustls_tls()
            .no_proxy()
            .user_agent(concat!("hearth-drivers/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(bmc.timeouts.connect)
            .timeout(bmc.timeouts.request)
            .redirect(redirects);
        if let Some(path) = &bmc.ca_file {
            let ca_error = |reason: String| RedfishConfigError::CaFile {
                host: host.clone(),
                path: path.clone(),
                reason,
            };
            let pem = fs::read(path).map_err(|err| ca_error(err.to_string()))?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|err| ca_error(describe(&err)))?;
            if certificates.is_empty() {
                return Err(ca_error("no PEM certificate in it".into()));
            }
            // Pinned: this CA only, not the built-in roots.
            builder = builder.tls_built_in_root_certs(false);
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        if bmc.insecure_skip_verify {
            builder = builder.danger_accept_invalid_certs(true);
        }
        let http = builder.build().map_err(|err| RedfishConfigError::Client {
            host: host.clone(),
            reason: describe(&err),
        })?;
        Ok(Client {
            host: host.clone(),
            origin,
            base,
            http,
            user: bmc.user.clone(),
            password: bmc.password.clone(),
            auth: bmc.auth,
            timeouts: bmc.timeouts,
            session: Mutex::new(None),
        })
    }

    /// `scheme://host:port`.
    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    /// `GET path` as JSON.
    pub(crate) fn get(&self, path: &str) -> Result<Value, DriverError> {
        self.get_json(path, false).map(|doc| doc.unwrap_or(Value::Null))
    }

    /// `GET path` as JSON; `Ok(None)` when the BMC answers 404.
    pub(crate) fn get_if_present(&self, path: &str) -> Result<Option<Value>, DriverError> {
        self.get_json(path, true)
    }

    fn get_json(&self, path: &str, absent_ok: bool) -> Result<Option<Value>, DriverError> {
        let command = format!("GET {path}");
        let reply = self.send(Method::GET, path, None)?;
        if absent_ok && reply.status == 404 {
            return Ok(None);
        }
        if !reply.success() {
            return Err(self.failure(&command, &reply));
        }
        parse::json(&reply.body).map(Some).map_err(|problem| self.malformed(&command, problem))
    }

    /// `POST path` with a JSON body; any 2xx is success (Reset answers 200, 202 or 204).
    pub(crate) fn post(&self, path: &str, body: &Value) -> Result<(), DriverError> {
        let reply = self.send(Method::POST, path, Some(body))?;
        if reply.success() {
            Ok(())
        } else {
            Err(self.failure(&format!("POST {path}"), &reply))
        }
    }

    /// A [`DriverError::MalformedReply`] for `command`.
    pub(crate) fn malformed(&self, command: &str, reply: impl Into<String>) -> DriverError {
        DriverError::MalformedReply {
            host: self.host.clone(),
            bmc: self.origin.clone(),
            command: command.to_string(),
            reply: reply.into(),
        }
    }

    /// A [`DriverError::Unsupported`] for `operation`.
    pub(crate) fn unsupported(
        &self,
        operation: impl Into<String>,
        detail: impl Into<String>,
    ) -> DriverError {
        DriverError::Unsupported {
            host: self.host.clone(),
            bmc: self.origin.clone(),
            operation: operation.into(),
            detail: detail.into(),
        }
    }

    /// The error a failed reply to `command` means.
    pub(crate) fn failure(&self, command: &str, reply: &Reply) -> DriverError {
        let (host, bmc) = (self.host.clone(), self.origin.clone());
        let status = format!("HTTP {} {}", reply.status, reply.reason);
        if (300..400).contains(&reply.status) {
            let to = reply.location.as_deref().unwrap_or("nowhere");
            return DriverError::CommandFailed {
                host,
                bmc,
                command: command.to_string(),
                status,
                detail: format!(
                    "redirected to {to}, outside the BMC's origin: not followed, so the \
                     credentials stay with the BMC"
                ),
            };
        }
        let (failure, said) = parse::classify(reply.status, &reply.body);
        let said_or_status =
            if said.is_empty() { status.clone() } else { format!("{status}: {said}") };
        match failure {
            Failure::Authentication => DriverError::AuthenticationFailed {
                host,
                bmc,
                user: self.user.clone(),
                detail: format!("{} on {command}", said_or_status),
            },
            Failure::Unsupported => DriverError::Unsupported {
                host,
                bmc,
                operation: command.to_string(),
                detail: said_or_status,
            },
            Failure::NotFound | Failure::Other => DriverError::CommandFailed {
                host,
                bmc,
                command: command.to_string(),
                status,
                detail: if said.is_empty() { "no error message".into() } else { said },
            },
        }
    }

    fn url(&self, path: &str) -> Result<Url, DriverError> {
        let command = || format!("request to {path}");
        let url = self
            .base
            .join(path)
            .map_err(|err| self.malformed(&command(), format!("bad link {path:?}: {err}")))?;
        if !same_origin(&url, &self.base) {
            return Err(self.malformed(
                &command(),
                format!("link {path:?} leaves the BMC's origin {}; not followed", self.origin),
            ));
        }
        Ok(url)
    }

    fn session(&self) -> MutexGuard<'_, Option<Session>> {
        // Every update is a single assignment or take.
        self.session.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sends `method path` with the BMC's authentication. With session authentication, logs in
    /// first if there is no session, and once more if the BMC answers 401 (the session expired
    /// or was deleted on the BMC).
    fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Reply, DriverError> {
        let command = format!("{method} {path}");
        let url = self.url(path)?;
        let mut logged_in_again = false;
        loop {
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .header(ACCEPT, "application/json")
                .header("OData-Version", "4.0");
            if let Some(body) = body {
                request = request.header(CONTENT_TYPE, "application/json").body(body.to_string());
            }
            let token = match self.auth {
                AuthMode::Basic => {
                    request = request.basic_auth(&self.user, Some(self.password.expose()));
                    None
                }
                AuthMode::Session => {
                    let token = self.token()?;
                    request = request.header(TOKEN_HEADER, &token);
                    Some(token)
                }
            };
            let reply = self.execute(request, &command)?;
            if let (401, Some(stale), false) = (reply.status, &token, logged_in_again) {
                let mut session = self.session();
                if session.as_ref().is_some_and(|s| s.token == *stale) {
                    *session = None;
                }
                logged_in_again = true;
                continue;
            }
            return Ok(reply);
        }
    }

    /// The session's token, logging in if there is none. The lock is held while logging in, so
    /// threads that find no session wait for one login instead of each opening a session.
    fn token(&self) -> Result<String, DriverError> {
        let mut session = self.session();
        if let Some(open) = session.as_ref() {
            return Ok(open.token.clone());
        }
        let open = self.login()?;
        let token = open.token.clone();
        *session = Some(open);
        Ok(token)
    }

    /// `POST /redfish/v1/SessionService/Sessions` with the user name and password.
    fn login(&self) -> Result<Session, DriverError> {
        let command = format!("POST {SESSIONS}");
        let body = serde_json::json!({ "UserName": self.user, "Password": self.password.expose() });
        let request = self
            .http
            .post(self.url(SESSIONS)?)
            .header(ACCEPT, "application/json")
            .header("OData-Version", "4.0")
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        let reply = self.execute(request, &command)?;
        if !reply.success() {
            let (failure, said) = parse::classify(reply.status, &reply.body);
            if matches!(failure, Failure::NotFound | Failure::Unsupported) {
                return Err(self.unsupported(
                    "session authentication",
                    format!(
                        "HTTP {} {} on {command}: {said}; the BMC has no SessionService: use \
                         basic authentication",
                        reply.status, reply.reason
                    ),
                ));
            }
            return Err(self.failure(&command, &reply));
        }
        let token = reply
            .token
            .clone()
            .ok_or_else(|| self.malformed(&command, "no X-Auth-Token header in the reply"))?;
        let location = reply.location.clone().or_else(|| {
            parse::json(&reply.body)
                .ok()
                .and_then(|doc| doc.get("@odata.id").and_then(Value::as_str).map(str::to_string))
        });
        Ok(Session { token, location })
    }

    /// Sends `request` and reads the reply (at most [`MAX_BODY_BYTES`]); transport failures
    /// become `Timeout` or `Unreachable`.
    fn execute(&self, request: RequestBuilder, command: &str) -> Result<Reply, DriverError> {
        let response = request.send().map_err(|err| self.transport(command, &err))?;
        let status = response.status();
        let header = |name| {
            response.headers().get(name).and_then(|value: &reqwest::header::HeaderValue| {
                value.to_str().ok().map(str::to_string)
            })
        };
        let token = header(reqwest::header::HeaderName::from_static("x-auth-token"));
        let location = header(LOCATION);
        let mut bytes = Vec::new();
        response.take(MAX_BODY_BYTES + 1).read_to_end(&mut bytes).map_err(|err| {
            match err.get_ref().and_then(|inner| inner.downcast_ref::<reqwest::Error>()) {
                Some(inner) => self.transport(command, inner),
                None if err.kind() == std::io::ErrorKind::TimedOut => DriverError::Timeout {
                    host: self.host.clone(),
                    bmc: self.origin.clone(),
                    command: command.to_string(),
                    waited: self.timeouts.request,
                },
                None => DriverError::Unreachable {
                    host: self.host.clone(),
                    bmc: self.origin.clone(),
                    detail: format!("reading the reply to {command}: {err}"),
                },
            }
        })?;
        if bytes.len() as u64 > MAX_BODY_BYTES {
            return Err(
                self.malformed(command, format!("reply larger than {MAX_BODY_BYTES} bytes"))
            );
        }
        Ok(Reply {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").to_string(),
            body: String::from_utf8_lossy(&bytes).into_owned(),
            token,
            location,
        })
    }

    /// A transport failure of `command`: `Timeout` when a timeout passed, else `Unreachable`
    /// (refused, reset, no route, TLS handshake or certificate failure).
    fn transport(&self, command: &str, err: &reqwest::Error) -> DriverError {
        let (host, bmc) = (self.host.clone(), self.origin.clone());
        if err.is_timeout() {
            let waited =
                if err.is_connect() { self.timeouts.connect } else { self.timeouts.request };
            return DriverError::Timeout { host, bmc, command: command.to_string(), waited };
        }
        let mut detail = format!("{command}: {}", describe(err));
        if detail.contains("certificate") {
            detail.push_str(
                "; the BMC's TLS certificate is not trusted: pin its CA with `ca_file` (or, in a \
                 lab only, set `insecure_skip_verify`)",
            );
        }
        DriverError::Unreachable { host, bmc, detail }
    }

    /// Logs the session out (`DELETE` on its location), if there is one; errors are ignored
    /// (the BMC expires the session on its own).
    pub(crate) fn logout(&self) {
        let Some(Session { token, location }) = self.session().take() else {
            return;
        };
        let Some(url) = location.and_then(|location| self.url(&location).ok()) else {
            return;
        };
        let _ = self
            .http
            .delete(url)
            .header(TOKEN_HEADER, token)
            .timeout(LOGOUT_TIMEOUT.min(self.timeouts.request))
            .send();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.logout();
    }
}
