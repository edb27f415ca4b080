//! `hearth agent` end to end on loopback: the real binary with a fake load sends authenticated
//! beacons to a test UDP socket. The test decodes them with the cluster key and checks both
//! streams, the CP messages, the sender, the sequence numbers and the two rates. It also checks
//! the status endpoint, a clean exit on SIGTERM, and clear errors (no panic) for bad input.
//!
//! Reference: seed 003, FIG. 9 (the law), FIG. 16 (two streams at V_Balance and V_Power), and
//! FIG. 25 (CP messages).

use beacon::wire::{Body, Decoder, DecoderConfig, Keyring, Message};
use beacon::{Mode, NodeId};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const KEY_HEX: &str = "5f8a0c3b9e71d24468acf02b7d9e13c5a8f6e2047b1dc93e5a60f8b2c4d71e09";

fn hearth() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hearth"))
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hearth-agent-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn key_bytes() -> Vec<u8> {
    (0..KEY_HEX.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&KEY_HEX[i..i + 2], 16).unwrap())
        .collect()
}

fn write_key_file(dir: &Path) -> PathBuf {
    let path = dir.join("cluster.key");
    std::fs::write(&path, format!("# test key\n1 {KEY_HEX}\n")).unwrap();
    path
}

/// A free loopback TCP port (bound, then released for the agent to take).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[allow(clippy::disallowed_methods)] // the receiver's clock, for the decoder's skew check
fn unix_us_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as u64
}

/// Kills the agent if a check fails before it is stopped.
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A blocking `GET` on loopback; returns the status line and the body.
fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    (head.lines().next().unwrap_or_default().to_string(), body.to_string())
}

/// The law for fake load S = 0.2, P = 0.3, C = 0.1 with the test config's k = 40 Hz,
/// l = 200 Hz, min = 0.05: RA = (0.8 + 0.7 + 0.9) / 3 = 0.8, no resource above 0.8, so
/// f_RA = 0.8, V_Balance = 40 · 0.8 = 32 Hz, V_Power = 200 · 0.05 / 0.8 = 12.5 Hz.
const F_RA: f64 = 0.8;
const V_BALANCE_HZ: f64 = 32.0;
const V_POWER_HZ: f64 = 12.5;
/// The window the rates are counted over, by the sender's timestamps.
const WINDOW_US: u64 = 4_000_000;

#[test]
fn agent_sends_both_streams_and_cp_at_the_law_rates_and_serves_its_status() {
    let dir = scratch("live");
    let key_file = write_key_file(&dir);
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let udp_port = receiver.local_addr().unwrap().port();
    let status_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    // The file's node_id, send_to and key_file are placeholders the flags override.
    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "node_id = 99\nsend_to = [\"127.0.0.1:9\"]\nkey_file = \"/nonexistent.key\"\n\
             status_listen = \"{status_addr}\"\ncp_interval_s = 1.0\nsample_interval_s = 0.25\n\
             [beacon]\nk_hz = 40.0\nl_hz = 200.0\nmin = 0.05\nalpha = 1.0\n"
        ),
    )
    .unwrap();
    let child = hearth()
        .arg("agent")
        .arg("--config")
        .arg(&config)
        .args(["--node-id", "7", "--send-to", &format!("127.0.0.1:{udp_port}"), "--key-file"])
        .arg(&key_file)
        .args(["--fake-load", "0.2,0.3,0.1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut running = Running(Some(child));

    let mut decoder =
        Decoder::new(Keyring::new(1, &key_bytes()).unwrap(), DecoderConfig::default());
    let mut messages: Vec<Message> = Vec::new();
    let mut buf = [0u8; 512];
    let mut first_ra_us = None;
    while messages.len() < 10_000 {
        let (n, _) = receiver.recv_from(&mut buf).expect("a beacon within 5 s");
        let message = decoder.decode(&buf[..n], unix_us_now()).expect("a valid beacon");
        let t = message.timestamp_us;
        if matches!(message.body, Body::Ra { .. }) && first_ra_us.is_none() {
            first_ra_us = Some(t);
        }
        messages.push(message);
        if first_ra_us.is_some_and(|first| t >= first + WINDOW_US) {
            break;
        }
    }
    let first_ra_us = first_ra_us.unwrap();

    // Every message from node 7, one sequence counter increasing by one per message.
    assert!(messages.iter().all(|m| m.sender == NodeId(7)));
    for pair in messages.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1, "{:?} then {:?}", pair[0], pair[1]);
    }
    // A CP first (at start), then every second; its unit is logical CPUs.
    let cpus = std::thread::available_parallelism().unwrap().get() as f64;
    assert_eq!(messages[0].body, Body::Capacity { total: cpus });
    let cps = messages.iter().filter(|m| matches!(m.body, Body::Capacity { .. })).count();
    assert!(cps >= 4, "{cps} CP messages in 4 s at cp_interval_s = 1");

    // Both streams, each carrying f_RA and its own rate.
    let in_window = |mode: Mode| {
        messages
            .iter()
            .filter(|m| matches!(m.body, Body::Ra { mode: m_mode, .. } if m_mode == mode))
            .filter(|m| m.timestamp_us >= first_ra_us && m.timestamp_us < first_ra_us + WINDOW_US)
            .count() as f64
    };
    for (mode, rate_hz) in [(Mode::Balance, V_BALANCE_HZ), (Mode::Power, V_POWER_HZ)] {
        let body = messages
            .iter()
            .find_map(|m| match m.body {
                Body::Ra { mode: m_mode, f_ra, rate_hz } if m_mode == mode => Some((f_ra, rate_hz)),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no {mode:?} beacon"));
        assert_eq!(body, (F_RA as f32, rate_hz as f32), "{mode:?}");
        // Poisson counts: within 4 standard deviations of rate × window.
        let expected = rate_hz * WINDOW_US as f64 * 1e-6;
        let got = in_window(mode);
        eprintln!("{mode:?}: {got} beacons in 4 s, expected {expected}");
        assert!(
            (got - expected).abs() < 4.0 * expected.sqrt(),
            "{mode:?}: {got} beacons in 4 s, expected {expected} ({rate_hz} Hz)"
        );
    }

    // The status endpoint.
    let (status_line, body) = http_get(status_addr, "/v1/agent/status");
    assert_eq!(status_line, "HTTP/1.1 200 OK", "{body}");
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["node_id"], 7, "{status}");
    assert_eq!(status["source"], "fake_load");
    assert_eq!(status["usage"]["processor"], 0.3);
    assert!((status["f_ra"].as_f64().unwrap() - F_RA).abs() < 1e-9, "{status}");
    assert!((status["v_balance_hz"].as_f64().unwrap() - V_BALANCE_HZ).abs() < 1e-9);
    assert!((status["v_power_hz"].as_f64().unwrap() - V_POWER_HZ).abs() < 1e-9);
    assert_eq!(status["alpha"], 1.0);
    assert!(status["beacons_sent"]["balance"].as_u64().unwrap() >= in_window(Mode::Balance) as u64);
    assert!(status["cp_sent"].as_u64().unwrap() >= 4);
    assert_eq!(status["send_errors"], 0);
    assert_eq!(status["failures"], serde_json::json!({}));
    assert_eq!(status["capacity_unit"], "logical CPUs");

    // SIGTERM stops it cleanly; its one start line names the node, the receiver and the rates.
    let mut child = running.0.take().unwrap();
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let exit = child.wait().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(exit.success(), "exit {exit:?}: {stderr}");
    let start_line = stderr.lines().next().unwrap_or_default();
    assert!(start_line.starts_with("hearth agent: node 7 sending to 127.0.0.1:"), "{stderr}");
    assert!(start_line.contains("V_Balance 32.000 Hz, V_Power 12.500 Hz"), "{stderr}");
    assert!(start_line.contains(&format!("http://{status_addr}/v1/agent/status")), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn run_failing(args: &[&str]) -> (Output, String) {
    let out = hearth().arg("agent").args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "hearth agent {args:?} succeeded: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out, stderr)
}

#[test]
fn bad_input_exits_non_zero_with_a_message_that_names_it() {
    let dir = scratch("errors");
    let key_file = write_key_file(&dir);
    let key = key_file.to_str().unwrap();
    let base = ["--node-id", "7", "--send-to", "127.0.0.1:7070"];

    let (_, stderr) =
        run_failing(&[&base[..], &["--key-file", key, "--fake-load", "0.2,x,0.1"]].concat());
    assert!(stderr.contains("--fake-load"), "{stderr}");
    assert!(stderr.contains("part 2 (processor): not a number: `x`"), "{stderr}");

    let (_, stderr) =
        run_failing(&[&base[..], &["--key-file", key, "--fake-load", "0.2,0.3,1.5"]].concat());
    assert!(stderr.contains("part 3 (communication): 1.5 is outside [0, 1]"), "{stderr}");

    let missing = dir.join("missing.key");
    let missing = missing.to_str().unwrap();
    let (_, stderr) =
        run_failing(&[&base[..], &["--key-file", missing, "--fake-load", "0,0,0"]].concat());
    assert!(stderr.contains(&format!("{missing}: cannot read")), "{stderr}");

    let (_, stderr) = run_failing(&["--node-id", "7"]);
    assert!(stderr.contains("missing: --send-to, --key-file"), "{stderr}");

    let (_, stderr) =
        run_failing(&["--node-id", "7", "--send-to", "controller:7070", "--key-file", key]);
    assert!(stderr.contains("--send-to"), "{stderr}");

    let (_, stderr) = run_failing(&[
        "--node-id",
        "7",
        "--send-to",
        "127.0.0.1:7070,127.0.0.1:7070",
        "--key-file",
        key,
    ]);
    assert!(stderr.contains("key `send_to[1]`: `127.0.0.1:7070` is listed twice"), "{stderr}");

    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        format!("node_id = 7\nsend_to = [\"127.0.0.1:7070\"]\nkey_file = \"{key}\"\nkey_id = 9\n"),
    )
    .unwrap();
    let (_, stderr) = run_failing(&["--config", config.to_str().unwrap()]);
    assert!(stderr.contains("key `key_id`: no key with ID 9"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Polls `f` every 100 ms until it returns `Some`, for at most `seconds`.
#[allow(clippy::disallowed_methods)] // a test's poll interval
fn within<T>(seconds: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..seconds * 10 {
        if let Some(value) = f() {
            return value;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: not within {seconds} s");
}

fn hearth_ok(args: &[&str]) -> String {
    let output = hearth().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "hearth {args:?}: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

/// Seed 003, FIG. 15 end to end: an agent on the single blended stream, a controller that sets
/// its α (`hearth alpha`), the agent's rate following at once, the controller seeing the new α
/// on the wire and selecting from the blended queue (`hearth select --mode blended`), and the
/// release returning the agent to its configured α.
#[test]
fn the_controller_sets_alpha_and_the_blended_stream_follows() {
    let dir = scratch("alpha");
    let key_file = write_key_file(&dir);
    let (udp, api, status_addr) = (free_port(), free_port(), free_port());
    let api_addr = format!("127.0.0.1:{api}");
    let controller = hearth()
        .arg("controller")
        .args(["--listen", &format!("127.0.0.1:{udp}"), "--api", &api_addr, "--key-file"])
        .arg(&key_file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _controller = Running(Some(controller));
    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "node_id = 3\nsend_to = [\"127.0.0.1:{udp}\"]\nkey_file = \"{}\"\n\
             status_listen = \"127.0.0.1:{status_addr}\"\nsample_interval_s = 0.25\n\
             streams = \"blended\"\n[beacon]\nalpha = 1.0\n",
            key_file.display()
        ),
    )
    .unwrap();
    let agent = hearth()
        .arg("agent")
        .arg("--config")
        .arg(&config)
        .args(["--fake-load", "0.2,0.3,0.1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _agent = Running(Some(agent));
    let status_addr: SocketAddr = format!("127.0.0.1:{status_addr}").parse().unwrap();
    let agent_status = || -> Option<serde_json::Value> {
        TcpStream::connect(status_addr).ok()?;
        serde_json::from_str(&http_get(status_addr, "/v1/agent/status").1).ok()
    };
    let node_3 = || -> Option<serde_json::Value> {
        let line = hearth_ok(&["status", "--api", &api_addr, "--format", "json"]);
        line.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|n| n["node_id"] == 3 && n["blended_rate_hz"].is_f64())
    };

    // f_RA 0.8 at the default law (k = l = 10 Hz, min 0.05): α = 1 gives V = 8 Hz.
    let node = within(10, "node 3's blended stream at the controller", node_3);
    assert_eq!(node["alpha"], 1.0, "{node}");
    assert_eq!(node["availability_reported"].as_f64().map(|a| (a - 0.8).abs() < 1e-4), Some(true));
    assert_eq!(hearth_ok(&["select", "--api", &api_addr, "--mode", "blended"]).trim(), "3");

    // α = 0 for a minute: the agent switches at its next beacon's answer, V = V_Power = 0.625 Hz.
    let set = hearth_ok(&["alpha", "--api", &api_addr, "--set", "0", "--for", "60"]);
    let set: serde_json::Value = serde_json::from_str(&set).unwrap();
    assert_eq!(set["alpha"], 0.0, "{set}");
    let status = within(5, "the agent taking the controller's α", || {
        agent_status().filter(|s| s["alpha_origin"] == "controller")
    });
    assert_eq!(status["alpha"], 0.0, "{status}");
    assert!((status["v_hz"].as_f64().unwrap() - 0.625).abs() < 1e-9, "{status}");
    assert!(status["alpha_override_remaining_s"].as_f64().unwrap() <= 30.0, "{status}");
    assert_eq!(status["control_rejected"], 0, "{status}");
    within(10, "the controller seeing α = 0 on the wire", || {
        node_3().filter(|n| n["alpha"] == 0.0)
    });

    // Released: back to the configured α = 1.
    hearth_ok(&["alpha", "--api", &api_addr, "--release"]);
    let status = within(10, "the agent returning to its own α", || {
        agent_status().filter(|s| s["alpha_origin"] == "fixed")
    });
    assert_eq!(status["alpha"], 1.0, "{status}");

    // A bad α is refused by the controller with a message naming it.
    let output = hearth().args(["alpha", "--api", &api_addr, "--set", "1.5"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("alpha 1.5: expected a finite number in [0, 1]"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
