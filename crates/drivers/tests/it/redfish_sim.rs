//! A harness around sushy-emulator (PyPI sushy-tools, fake driver; /work/shared/PEERS.md §1b):
//! one emulator per value, on its own free loopback TCP port, with its configuration, state,
//! htpasswd file and (for https) certificates in a fresh temporary folder, killed and cleaned up
//! on drop. Also a session gateway, because sushy-emulator 2.2.0 has no SessionService.
//!
//! The emulator is found through `HEARTH_SUSHY_EMULATOR` (scripts/test.sh exports it), else at
//! `${XDG_CACHE_HOME:-$HOME/.cache}/hearth/sushy-venv/bin/sushy-emulator`, where scripts/test.sh
//! installs it. Missing, the tests fail and say to run scripts/test.sh: they never pass by
//! skipping.
//!
//! Each emulator serves two fake systems, `host1` ([`ON_SYSTEM`], on) and `host2`
//! ([`OFF_SYSTEM`], off), and one chassis. Its fake driver applies a power change 1–11 s after
//! the request (`random.randint(1, 11)`), as a real BMC takes seconds.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use drivers::redfish::{Password, RedfishBmc};
use drivers::{Clock, SystemClock};

use crate::bmc_sim::{require, TempDir};

/// The emulator's user (from the htpasswd file).
pub const USER: &str = "admin";
/// Its password.
pub const PASSWORD: &str = "secret";
/// The UUID of fake system `host1`, which starts on.
pub const ON_SYSTEM: &str = "00000000-0000-0000-0000-000000000001";
/// The UUID of fake system `host2`, which starts off.
pub const OFF_SYSTEM: &str = "00000000-0000-0000-0000-000000000002";

/// The environment variable that names the sushy-emulator program.
const EMULATOR_VAR: &str = "HEARTH_SUSHY_EMULATOR";

/// The sushy-emulator program: `$HEARTH_SUSHY_EMULATOR`, else scripts/test.sh's venv.
pub fn emulator() -> PathBuf {
    let default = std::env::var_os("XDG_CACHE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"))
        .join("hearth/sushy-venv/bin/sushy-emulator");
    let program = std::env::var_os(EMULATOR_VAR).map(PathBuf::from).unwrap_or(default);
    assert!(
        program.is_file(),
        "sushy-emulator not found at {} (from {EMULATOR_VAR}, or the default venv); the Redfish \
         driver's tests need it: run scripts/test.sh, which installs PyPI sushy-tools into \
         ${{XDG_CACHE_HOME:-$HOME/.cache}}/hearth/sushy-venv",
        program.display()
    );
    program
}

/// The venv's Python, beside the emulator (it has bcrypt, which sushy-tools needs).
fn python() -> PathBuf {
    emulator().with_file_name("python")
}

/// How an emulator is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setup {
    /// Require basic authentication ([`USER`] / [`PASSWORD`], bcrypt htpasswd file).
    pub auth: bool,
    /// Serve https with a certificate signed by a fresh test CA ([`RedfishSim::ca_file`]).
    pub tls: bool,
}

impl Default for Setup {
    /// Basic authentication, plain http.
    fn default() -> Setup {
        Setup { auth: true, tls: false }
    }
}

/// One running sushy-emulator.
pub struct RedfishSim {
    child: Child,
    /// Its loopback TCP port.
    pub port: u16,
    setup: Setup,
    paused: bool,
    // Dropped after the child is killed (fields drop in order, after `Drop::drop`).
    dir: TempDir,
}

impl RedfishSim {
    /// Starts an emulator as `setup` says and waits until it accepts connections.
    pub fn start(setup: Setup) -> RedfishSim {
        let program = emulator();
        let mut last_failure = String::new();
        // A port picked free can be taken by another test before the emulator binds it: retry.
        for _ in 0..3 {
            match RedfishSim::try_start(&program, setup) {
                Ok(sim) => return sim,
                Err(failure) => last_failure = failure,
            }
        }
        panic!("sushy-emulator did not start: {last_failure}");
    }

    fn try_start(program: &Path, setup: Setup) -> Result<RedfishSim, String> {
        let dir = TempDir::new("redfish");
        let port = free_tcp_port();
        write_config(dir.path(), port, setup);
        let log = fs::File::create(dir.path().join("emu.log")).expect("creating emu.log");
        let child = Command::new(program)
            .arg("--config")
            .arg(dir.path().join("emu.conf"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("cloning the log handle"))
            .stderr(log)
            .spawn()
            .map_err(|err| format!("spawning {}: {err}", program.display()))?;
        let mut sim = RedfishSim { child, port, setup, paused: false, dir };
        wait_listening(port, &mut sim.child, || sim_log(&sim.dir))?;
        Ok(sim)
    }

    /// `http://127.0.0.1:<port>` (or https).
    pub fn address(&self) -> String {
        let scheme = if self.setup.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// This emulator as a BMC with the right credentials, for fake system `system`.
    pub fn bmc(&self, system: &str) -> RedfishBmc {
        RedfishBmc {
            system: Some(system.to_string()),
            ..RedfishBmc::new(self.address(), USER, Password::new(PASSWORD))
        }
    }

    /// The PEM file of the CA that signed the emulator's certificate (https only).
    pub fn ca_file(&self) -> PathBuf {
        assert!(self.setup.tls, "the emulator serves plain http");
        self.dir.path().join("ca.pem")
    }

    /// The emulator's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the emulator now (a BMC that goes away).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the emulator with SIGSTOP: the kernel still accepts connections, nothing answers.
    pub fn pause(&mut self) {
        self.signal("-STOP");
        self.paused = true;
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(signal)
            .arg(self.child.id().to_string())
            .status()
            .expect("running kill");
        assert!(status.success(), "kill {signal} {}: {status}", self.child.id());
    }

    /// The emulator's log, for failure messages.
    pub fn log(&self) -> String {
        sim_log(&self.dir)
    }
}

impl Drop for RedfishSim {
    fn drop(&mut self) {
        if self.paused {
            // SIGKILL ends a stopped process too; resume anyway so nothing lingers half-dead.
            let _ = Command::new("kill").arg("-CONT").arg(self.child.id().to_string()).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sim_log(dir: &TempDir) -> String {
    fs::read_to_string(dir.path().join("emu.log")).unwrap_or_default()
}

/// A TCP port nothing listens on right now.
pub fn free_tcp_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a TCP port on loopback");
    listener.local_addr().expect("the bound address").port()
}

/// Waits (up to 20 s: Python starts slowly on a loaded 2-core machine) until 127.0.0.1:`port`
/// accepts connections, or `child` exits.
fn wait_listening(port: u16, child: &mut Child, log: impl Fn() -> String) -> Result<(), String> {
    let clock = SystemClock::new();
    while clock.now() < Duration::from_secs(20) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited ({status}): {}", log()));
        }
        clock.sleep(Duration::from_millis(20));
    }
    Err(format!("not listening on 127.0.0.1:{port} after 20 s: {}", log()))
}

fn write_config(dir: &Path, port: u16, setup: Setup) {
    let d = dir.display();
    let mut conf = format!(
        "SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\n\
         SUSHY_EMULATOR_LISTEN_PORT = {port}\n\
         SUSHY_EMULATOR_FAKE_DRIVER = True\n\
         SUSHY_EMULATOR_STATE_DIR = '{d}/state'\n\
         SUSHY_EMULATOR_FAKE_SYSTEMS = [\n\
         \x20   {{'uuid': '{ON_SYSTEM}', 'name': 'host1', 'power_state': 'On', \
         'nics': [{{'mac': '00:5c:52:31:3a:01', 'ip': '127.0.0.1'}}]}},\n\
         \x20   {{'uuid': '{OFF_SYSTEM}', 'name': 'host2', 'power_state': 'Off', \
         'nics': [{{'mac': '00:5c:52:31:3a:02', 'ip': '127.0.0.1'}}]}},\n\
         ]\n"
    );
    if setup.auth {
        write_htpasswd(&dir.join("htpasswd"));
        conf.push_str(&format!("SUSHY_EMULATOR_AUTH_FILE = '{d}/htpasswd'\n"));
    }
    if setup.tls {
        write_certificates(dir);
        conf.push_str(&format!(
            "SUSHY_EMULATOR_SSL_CERT = '{d}/server.pem'\nSUSHY_EMULATOR_SSL_KEY = '{d}/server.key'\n"
        ));
    }
    fs::create_dir_all(dir.join("state")).expect("creating the state folder");
    fs::write(dir.join("emu.conf"), conf).expect("writing emu.conf");
}

/// sushy-tools reads bcrypt hashes only (`auth_basic.py`); the venv's Python has bcrypt, so it
/// writes the line (cost 4: fast, this is a test).
fn write_htpasswd(path: &Path) {
    let script = "import bcrypt, sys\n\
                  user, password = sys.argv[1], sys.argv[2].encode()\n\
                  print(user + ':' + bcrypt.hashpw(password, bcrypt.gensalt(rounds=4)).decode())\n";
    let output = Command::new(python())
        .args(["-c", script, USER, PASSWORD])
        .stdin(Stdio::null())
        .output()
        .expect("running the venv's python for bcrypt");
    assert!(
        output.status.success(),
        "making the htpasswd line failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    fs::write(path, &output.stdout).expect("writing htpasswd");
}

/// A test CA (`ca.pem`) and a server certificate it signed for IP 127.0.0.1 (`server.pem`,
/// `server.key`), with openssl. A self-signed server certificate would not do: webpki refuses
/// a CA certificate used as the server's own.
fn write_certificates(dir: &Path) {
    require("openssl", "openssl");
    let openssl = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .expect("running openssl");
        assert!(
            output.status.success(),
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let ec_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let ca = ["req", "-x509", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2"];
    openssl(&[&ca[..], &ec_key, &["-subj", "/CN=hearth test CA"]].concat());
    let csr = ["req", "-keyout", "server.key", "-out", "server.csr"];
    openssl(&[&csr[..], &ec_key, &["-subj", "/CN=127.0.0.1"]].concat());
    fs::write(
        dir.join("server.ext"),
        "basicConstraints = CA:FALSE\n\
         keyUsage = digitalSignature, keyEncipherment\n\
         extendedKeyUsage = serverAuth\n\
         subjectAltName = IP:127.0.0.1\n",
    )
    .expect("writing server.ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
}

/// A Redfish SessionService in front of an emulator (sushy-emulator 2.2.0 has none), in the
/// venv's Python: `POST /redfish/v1/SessionService/Sessions` checks the user name and password
/// against the emulator and answers 201 with `X-Auth-Token` and `Location`; requests with a
/// live token go on to the emulator with basic authentication; others get 401 with a Redfish
/// error body; `DELETE` on a session's location ends it. Writing the file `expire` ends every
/// session (as a BMC's session timeout would). Each event is a line in the file `events`.
pub struct SessionGateway {
    child: Child,
    /// Its loopback TCP port.
    pub port: u16,
    dir: TempDir,
}

impl SessionGateway {
    /// A gateway in front of `sim` (plain http, with basic authentication).
    pub fn start(sim: &RedfishSim) -> SessionGateway {
        assert!(
            sim.setup.auth && !sim.setup.tls,
            "the gateway fronts a plain-http emulator with auth"
        );
        let mut last_failure = String::new();
        for _ in 0..3 {
            let dir = TempDir::new("redfish-gateway");
            let port = free_tcp_port();
            fs::write(dir.path().join("gateway.py"), GATEWAY).expect("writing gateway.py");
            let log = fs::File::create(dir.path().join("gateway.log")).expect("creating the log");
            let child = Command::new(python())
                .arg(dir.path().join("gateway.py"))
                .args([port.to_string(), sim.port.to_string()])
                .arg(dir.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("cloning the log handle"))
                .stderr(log)
                .spawn()
                .expect("spawning the session gateway");
            let mut gateway = SessionGateway { child, port, dir };
            let log =
                || fs::read_to_string(gateway.dir.path().join("gateway.log")).unwrap_or_default();
            match wait_listening(port, &mut gateway.child, log) {
                Ok(()) => return gateway,
                Err(failure) => last_failure = failure,
            }
        }
        panic!("the session gateway did not start: {last_failure}");
    }

    /// `http://127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Ends every session, as a BMC's session timeout would.
    pub fn expire_sessions(&self) {
        fs::write(self.dir.path().join("expire"), "").expect("writing expire");
    }

    /// The events so far, one per line: `login admin 1`, `login refused admin`,
    /// `unauthorized GET /redfish/v1/…`, `expired`, `logout 1`.
    pub fn events(&self) -> Vec<String> {
        fs::read_to_string(self.dir.path().join("events"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for SessionGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The gateway: `gateway.py <listen port> <emulator port> <folder>`.
const GATEWAY: &str = r#"
import base64, http.client, http.server, json, os, secrets, sys, threading

listen_port, upstream_port, folder = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
SESSIONS = '/redfish/v1/SessionService/Sessions'
OPEN = {'', 'redfish', 'redfish/v1'}
sessions = {}  # token -> (session id, user, password)
lock = threading.Lock()
counter = [0]

def event(text):
    with lock, open(os.path.join(folder, 'events'), 'a') as f:
        f.write(text + '\n')

def upstream(method, path, body, headers):
    conn = http.client.HTTPConnection('127.0.0.1', upstream_port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read()
    finally:
        conn.close()

def basic(user, password):
    return 'Basic ' + base64.b64encode(f'{user}:{password}'.encode()).decode()

def error(message, message_id):
    return json.dumps({'error': {'code': 'Base.1.8.GeneralError', 'message': message,
        '@Message.ExtendedInfo': [{'MessageId': 'Base.1.8.' + message_id, 'Message': message}]}}).encode()

JSON = ('Content-Type', 'application/json')

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, fmt, *args):
        sys.stderr.write('gateway: ' + (fmt % args) + '\n')

    def reply(self, status, body=b'', headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length) if length else None
        path = self.path.split('?')[0].rstrip('/')
        expire = os.path.join(folder, 'expire')
        if os.path.exists(expire):
            os.remove(expire)
            with lock:
                sessions.clear()
            event('expired')
        if self.command == 'POST' and path == SESSIONS:
            try:
                login = json.loads(body or b'{}')
                user, password = login['UserName'], login['Password']
            except (ValueError, KeyError):
                return self.reply(400, error('UserName and Password required', 'PropertyMissing'), [JSON])
            status, _, _ = upstream('GET', '/redfish/v1/Systems', None, {'Authorization': basic(user, password)})
            if status != 200:
                event(f'login refused {user}')
                return self.reply(401, error('Invalid user name or password', 'ResourceAtUriUnauthorized'), [JSON])
            token = secrets.token_hex(16)
            with lock:
                counter[0] += 1
                sid = str(counter[0])
                sessions[token] = (sid, user, password)
            event(f'login {user} {sid}')
            location = f'{SESSIONS}/{sid}'
            doc = json.dumps({'@odata.id': location, 'Id': sid, 'UserName': user}).encode()
            return self.reply(201, doc, [JSON, ('X-Auth-Token', token), ('Location', location)])
        headers = {}
        if path.strip('/') not in OPEN:
            with lock:
                session = sessions.get(self.headers.get('X-Auth-Token'))
            if session is None:
                event(f'unauthorized {self.command} {path}')
                return self.reply(401, error('No valid session', 'NoValidSession'), [JSON])
            sid, user, password = session
            if self.command == 'DELETE' and path.startswith(SESSIONS + '/'):
                gone = path.rsplit('/', 1)[1]
                with lock:
                    for token in [t for t, s in sessions.items() if s[0] == gone]:
                        del sessions[token]
                event(f'logout {gone}')
                return self.reply(204)
            headers['Authorization'] = basic(user, password)
        if self.headers.get('Content-Type'):
            headers['Content-Type'] = self.headers['Content-Type']
        status, upstream_headers, data = upstream(self.command, self.path, body, headers)
        keep = [(n, v) for n, v in upstream_headers if n.lower() in ('content-type', 'location')]
        return self.reply(status, data, keep)

    do_GET = do_POST = do_DELETE = do_PATCH = handle_any

http.server.ThreadingHTTPServer(('127.0.0.1', listen_port), Handler).serve_forever()
"#;
