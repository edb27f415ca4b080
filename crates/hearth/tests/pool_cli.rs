//! Pool mode's bad input through the built binary, on loopback (issue 7, "tests for bad
//! input"): a wrong token is refused by the controller (and an agent holding it exits saying
//! so); an agent takes nothing from a controller that cannot prove it holds the token; a
//! malformed ledger file stops the controller naming the line, a torn last line is cut off; bad
//! `hearth run` flags name the flag. The happy path and failover run in `pool_netns`.
//!
//! The agent runs pool tasks as `nobody`: the agent tests need root (scripts/test.sh runs as
//! root).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn hearth() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hearth"))
}

fn sleep(ms: u64) {
    #[allow(clippy::disallowed_methods)] // a test waiting for real processes
    std::thread::sleep(Duration::from_millis(ms));
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hearth-pool-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_tcp() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

fn free_udp() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A child killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// Waits up to `seconds` for the child to exit; its output.
    fn exit_within(mut self, seconds: u64) -> Option<(std::process::ExitStatus, String)> {
        for _ in 0..seconds * 10 {
            if let Ok(Some(status)) = self.0.try_wait() {
                let mut stderr = String::new();
                let _ = self.0.stderr.take().map(|mut e| e.read_to_string(&mut stderr));
                return Some((status, stderr));
            }
            sleep(100);
        }
        None
    }
}

fn write(path: &Path, body: &str) {
    std::fs::write(path, body).unwrap();
}

/// A pool controller on loopback; its API address.
fn controller(dir: &Path) -> (Running, SocketAddr) {
    let api = free_tcp();
    (controller_at(dir, api, free_udp()), api)
}

/// A pool controller with its API on `api` and beacons on `udp`, its log in DIR/controller.log.
fn controller_at(dir: &Path, api: SocketAddr, udp: SocketAddr) -> Running {
    write(&dir.join("cluster.key"), "1 000102030405060708090a0b0c0d0e0f1011121314151617\n");
    write(&dir.join("token"), "the-right-token-0123456789abcdef\n");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("controller.log"))
        .unwrap();
    let child = Running(
        hearth()
            .args(["controller", "--pool", "--key-file"])
            .arg(dir.join("cluster.key"))
            .args(["--listen", &udp.to_string(), "--api", &api.to_string(), "--data-dir"])
            .arg(dir.join("ctl"))
            .arg("--token-file")
            .arg(dir.join("token"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    // Up when its API answers.
    for _ in 0..100 {
        if std::net::TcpStream::connect(api).is_ok() {
            return child;
        }
        sleep(100);
    }
    panic!(
        "the pool controller did not start: {}",
        std::fs::read_to_string(dir.join("controller.log")).unwrap_or_default()
    );
}

fn agent(dir: &Path, api: SocketAddr, token_file: &Path) -> Running {
    agent_with_status(dir, api, token_file, "127.0.0.1:0".parse().unwrap())
}

/// A pool agent serving its status on `status` (port 0: any; the tests run in parallel).
fn agent_with_status(
    dir: &Path,
    api: SocketAddr,
    token_file: &Path,
    status: SocketAddr,
) -> Running {
    write(
        &dir.join("agent.toml"),
        &format!(
            "node_id = 1\nsend_to = [\"{}\"]\nkey_file = {:?}\nstatus_listen = \"{status}\"\n",
            free_udp(),
            dir.join("cluster.key")
        ),
    );
    Running(
        hearth()
            .args(["agent", "--config"])
            .arg(dir.join("agent.toml"))
            .args(["--pool", "--controller", &api.to_string(), "--token-file"])
            .arg(token_file)
            .args(["--reserve", "cpu=0.5,mem=256MiB", "--fake-local-load", "0", "--state-dir"])
            .arg(dir.join("agent"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

fn run(api: SocketAddr, token_file: &Path, rest: &[&str]) -> Output {
    hearth()
        .args(["run", "--api", &api.to_string(), "--token-file"])
        .arg(token_file)
        .args(rest)
        .output()
        .unwrap()
}

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

#[test]
fn a_wrong_token_is_refused_and_an_agent_holding_one_exits_saying_so() {
    let dir = scratch("token");
    let (_controller, api) = controller(&dir);
    write(&dir.join("wrong"), "not-the-token-at-all-0123456789\n");

    let out = run(api, &dir.join("wrong"), &["--on", "pool", "--", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("refused the token"), "{}", text(&out.stderr));
    let out = hearth()
        .args(["tasks", "--api", &api.to_string(), "--token-file"])
        .arg(dir.join("wrong"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("invalid bearer token"), "{}", text(&out.stderr));

    if !is_root() {
        eprintln!("skipping the agent half: pool agents run tasks as nobody and need root");
        return;
    }
    let (status, stderr) = agent(&dir, api, &dir.join("wrong"))
        .exit_within(60)
        .expect("an agent with a wrong token exits");
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("refused our token") && stderr.contains("--token-file"), "{stderr}");
}

#[test]
fn an_agent_takes_nothing_from_a_controller_that_cannot_prove_it_holds_the_token() {
    if !is_root() {
        eprintln!("skipping: pool agents run tasks as nobody and need root");
        return;
    }
    let dir = scratch("impostor");
    write(&dir.join("cluster.key"), "1 000102030405060708090a0b0c0d0e0f1011121314151617\n");
    write(&dir.join("token"), "the-right-token-0123456789abcdef\n");
    // An impostor: answers every request 200 with a plausible join and poll, and a made-up MAC.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let api = listener.local_addr().unwrap();
    let paths = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = paths.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            seen.lock().unwrap().push(line.split_whitespace().nth(1).unwrap_or("").to_string());
            let mut length = 0;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
                if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let answer = r#"{"machine_id":"m1","controller_key":"8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c","rank":1,"members":1,"ledger":{"next_seq":2,"head":"0000000000000000000000000000000000000000000000000000000000000000"},"assign":[{"attempt":{"task":"t1","attempt":1},"argv":["touch","/tmp/impostor-ran"],"request":{"cpu":0.1,"mem_mib":1,"disk_mib":0,"gpu":0}}],"cancel":[]}"#;
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-hearth-mac: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                "ab".repeat(32),
                answer.len()
            );
            let _ = reader.get_mut().write_all(response.as_bytes());
        }
    });
    let _ = std::fs::remove_file("/tmp/impostor-ran");
    let agent = agent(&dir, api, &dir.join("token"));
    let mut refused = false;
    for _ in 0..300 {
        if paths.lock().unwrap().len() >= 2 {
            refused = true;
            break;
        }
        sleep(100);
    }
    sleep(1500);
    let mut agent = agent;
    let _ = agent.0.kill();
    let _ = agent.0.wait();
    let mut stderr = String::new();
    let _ = agent.0.stderr.take().map(|mut e| e.read_to_string(&mut stderr));
    assert!(refused, "the agent tried to join: {stderr}");
    let paths = paths.lock().unwrap().clone();
    assert!(paths.iter().all(|p| p == "/api/v1/pool/join"), "it never polled for tasks: {paths:?}");
    assert!(
        stderr.contains("refusing the controller") && stderr.contains("does not verify"),
        "{stderr}"
    );
    assert!(!Path::new("/tmp/impostor-ran").exists());
}

#[test]
fn a_malformed_ledger_stops_the_controller_and_a_torn_last_line_is_cut_off() {
    let dir = scratch("ledger");
    write(&dir.join("cluster.key"), "1 000102030405060708090a0b0c0d0e0f1011121314151617\n");
    write(&dir.join("token"), "the-right-token-0123456789abcdef\n");
    std::fs::create_dir_all(dir.join("ctl")).unwrap();
    let start = || {
        hearth()
            .args(["controller", "--pool", "--key-file"])
            .arg(dir.join("cluster.key"))
            .args(["--listen", &free_udp().to_string(), "--api", &free_tcp().to_string()])
            .arg("--data-dir")
            .arg(dir.join("ctl"))
            .arg("--token-file")
            .arg(dir.join("token"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    write(&dir.join("ctl/ledger.jsonl"), "{\"seq\":1,\"hello\":true}\n");
    let (status, stderr) = Running(start()).exit_within(30).expect("the controller refuses");
    assert!(!status.success());
    assert!(
        stderr.contains("ledger.jsonl") && stderr.contains("line 1") && stderr.contains("parse"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("ctl/ledger.jsonl")).unwrap(),
        "{\"seq\":1,\"hello\":true}\n",
        "the file is left as it was"
    );

    // A torn last line (a crash mid-write, never acknowledged) is cut off and said so.
    write(&dir.join("ctl/ledger.jsonl"), "{\"seq\":1,\"at_ms\":17");
    let mut child = Running(start());
    let mut stderr = BufReader::new(child.0.stderr.take().unwrap());
    let mut said = String::new();
    for _ in 0..20 {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        said.push_str(&line);
        if line.contains("API on") {
            break;
        }
    }
    assert!(said.contains("cut off a torn last line"), "{said}");
    assert_eq!(std::fs::read_to_string(dir.join("ctl/ledger.jsonl")).unwrap(), "");
}

#[test]
fn bad_run_flags_name_the_flag() {
    let dir = scratch("flags");
    write(&dir.join("token"), "the-right-token-0123456789abcdef\n");
    let api = free_tcp();
    let out = run(api, &dir.join("token"), &["--mem", "4XB", "--", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("--mem `4XB`"), "{}", text(&out.stderr));
    let out = run(api, &dir.join("token"), &["--cpu", "0", "--", "true"]);
    assert!(text(&out.stderr).contains("--cpu 0"), "{}", text(&out.stderr));
    let out = run(api, &dir.join("missing-token"), &["--", "true"]);
    assert!(text(&out.stderr).contains("missing-token"), "{}", text(&out.stderr));
    // --on local needs no controller at all.
    let out = run(api, &dir.join("token"), &["--on", "local", "--", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("ran locally"), "{}", text(&out.stderr));
}

#[test]
fn interrupting_hearth_run_cancels_its_pool_task_and_the_node_stops_it() {
    if !is_root() {
        eprintln!("skipping: pool agents run tasks as nobody and need root");
        return;
    }
    let dir = scratch("interrupt");
    let (_controller, api) = controller(&dir);
    let status_addr = free_tcp();
    let agent = agent_with_status(&dir, api, &dir.join("token"), status_addr);
    let tasks = || {
        let out = hearth()
            .args(["tasks", "--json", "--api", &api.to_string(), "--token-file"])
            .arg(dir.join("token"))
            .output()
            .unwrap();
        serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).unwrap_or_default()
    };
    wait_for_offer(&dir, api, 0.5);
    let run = spawn_run(&dir, api, &["sleep", "60"]);
    let mut running = false;
    for _ in 0..300 {
        if tasks().first().is_some_and(|t| t["state"] == "running") {
            running = true;
            break;
        }
        sleep(100);
    }
    assert!(running, "the task never ran: {:?}", tasks());
    // The agent's status says what the machine gives away and what runs on it.
    let status: serde_json::Value =
        serde_json::from_str(&http_get(status_addr, "/v1/agent/status"))
            .expect("the agent's status is JSON");
    let pool = &status["pool"];
    assert_eq!(pool["machine_id"], "m1", "{status}");
    assert_eq!(pool["running"][0]["task"], "t1", "{status}");
    let (surplus, free) =
        (pool["surplus"]["cpu"].as_f64().unwrap(), pool["free"]["cpu"].as_f64().unwrap());
    assert!((surplus - free - 0.5).abs() < 1e-9, "the task holds 0.5 of the surplus: {status}");
    let metrics = http_get(status_addr, "/metrics");
    assert!(metrics.contains("hearth_agent_pool_free_cores"), "{metrics}");
    let pid = run.0.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let (status, stderr) = run.exit_within(20).expect("hearth run exits on SIGINT");
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("cancelled task t1"), "{stderr}");
    assert_eq!(tasks()[0]["state"], "cancelled");
    // The node stops it at its next poll: no `sleep 60` of the task user is left.
    let mut stopped = false;
    for _ in 0..100 {
        let out =
            Command::new("pgrep").args(["-u", "nobody", "-f", "^sleep 60$"]).output().unwrap();
        if !out.status.success() {
            stopped = true;
            break;
        }
        sleep(100);
    }
    drop(agent);
    assert!(stopped, "the node still runs the cancelled task");
}

/// `hearth run --on pool --cpu 0.5 -- ARGV` in the background, its stdout and stderr piped.
fn spawn_run(dir: &Path, api: SocketAddr, argv: &[&str]) -> Running {
    Running(
        hearth()
            .args([
                "run",
                "--on",
                "pool",
                "--cpu",
                "0.5",
                "--api",
                &api.to_string(),
                "--token-file",
            ])
            .arg(dir.join("token"))
            .arg("--")
            .args(argv)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

/// Waits until a member offers at least `cpu` cores.
fn wait_for_offer(dir: &Path, api: SocketAddr, cpu: f64) {
    for _ in 0..600 {
        let out = hearth()
            .args(["members", "--json", "--api", &api.to_string(), "--token-file"])
            .arg(dir.join("token"))
            .output()
            .unwrap();
        let members: Vec<serde_json::Value> =
            serde_json::from_slice(&out.stdout).unwrap_or_default();
        if members.iter().any(|m| m["surplus"]["cpu"].as_f64().is_some_and(|c| c >= cpu)) {
            return;
        }
        sleep(100);
    }
    panic!("no member offered {cpu} cores");
}

#[test]
fn a_controller_killed_mid_task_comes_back_with_its_members_tasks_and_ledger() {
    if !is_root() {
        eprintln!("skipping: pool agents run tasks as nobody and need root");
        return;
    }
    let dir = scratch("restart");
    let (api, udp) = (free_tcp(), free_udp());
    let controller = controller_at(&dir, api, udp);
    let agent = agent(&dir, api, &dir.join("token"));
    wait_for_offer(&dir, api, 0.5);
    let run = spawn_run(&dir, api, &["sh", "-c", "sleep 4; echo survived"]);
    sleep(2000);
    // SIGKILL: no chance to flush anything but what was already fsynced.
    drop(controller);
    sleep(1000);
    let _controller = controller_at(&dir, api, udp);
    let mut run = run;
    let mut finished = None;
    for _ in 0..300 {
        if let Ok(Some(status)) = run.0.try_wait() {
            finished = Some(status);
            break;
        }
        sleep(100);
    }
    let mut stdout = String::new();
    let mut stderr = String::new();
    let _ = run.0.stdout.take().map(|mut o| o.read_to_string(&mut stdout));
    let _ = run.0.stderr.take().map(|mut e| e.read_to_string(&mut stderr));
    let status = finished.unwrap_or_else(|| panic!("hearth run did not finish: {stderr}"));
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(stdout, "survived\n", "{stderr}");
    assert!(stderr.contains("(attempt 1)"), "the task ran once, across the restart: {stderr}");
    // The restarted controller's metrics (open, no token) count what it remembers.
    let metrics = http_get(api, "/metrics");
    for line in [
        "hearth_pool_tasks{state=\"finished\"} 1",
        "hearth_pool_members{state=\"active\"} 1",
        "hearth_pool_retries_total 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "no `{line}` in:\n{metrics}");
    }
    drop(agent);
    let out = hearth()
        .args(["ledger", "verify"])
        .arg(dir.join("ctl/ledger.jsonl"))
        .arg("--controller-key")
        .arg(dir.join("ctl/ledger.pub"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("1 task (1 finished)"), "{}", text(&out.stdout));
}

/// The body of a plain HTTP GET.
fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default()
}

#[test]
fn agents_join_again_a_controller_whose_data_was_reset() {
    if !is_root() {
        eprintln!("skipping: pool agents run tasks as nobody and need root");
        return;
    }
    let dir = scratch("reset");
    let (api, udp) = (free_tcp(), free_udp());
    let controller = controller_at(&dir, api, udp);
    let _agent = agent(&dir, api, &dir.join("token"));
    wait_for_offer(&dir, api, 0.5);
    drop(controller);
    std::fs::remove_dir_all(dir.join("ctl")).unwrap();
    let _controller = controller_at(&dir, api, udp);
    // The new controller does not know the machine (404 to its polls): it joins again.
    wait_for_offer(&dir, api, 0.5);
    let out = hearth()
        .args(["run", "--on", "pool", "--cpu", "0.5", "--api", &api.to_string(), "--token-file"])
        .arg(dir.join("token"))
        .args(["--", "sh", "-c", "echo again"])
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "again\n", "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("on m1 (attempt 1)"), "{}", text(&out.stderr));
}
