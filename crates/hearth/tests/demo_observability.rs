//! `hearth demo` end to end, watched by the real tools an operator would point at it. One demo
//! (24 hosts, 75 s wall, so the scripted cooling failure in zone z0 at 40 % of the run happens)
//! runs while a real Prometheus scrapes the controller's `/metrics` and a real `hearth agent`'s
//! `/metrics`, and headless Chromium renders the dashboard (DOM dump and a screenshot, with and
//! without the `#token=` fragment). At the end the demo's own JSON summary must show a thermal
//! event handled with no instance lost and the simulated site's invariants intact.
//!
//! Needs `prometheus` and `chromium` on the PATH (scripts/test.sh installs them). The screenshot
//! is kept in `target/test-artifacts/dashboard.png` for a human to look at.
//!
//! Reference: /work/shared/PEERS.md §1e (Prometheus: the first sample appears ≈5 s after start,
//! so poll) and §1f (Chromium: without `--virtual-time-budget` the dashboard's fetch has not
//! run; the dbus errors on stderr are harmless).

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Simulated hosts in the demo: `h00` … `h23`.
const HOSTS: usize = 24;
/// The demo's `--for`.
const DEMO_WALL: Duration = Duration::from_secs(75);
/// How long the demo may take to exit by itself, from its start.
const DEMO_DEADLINE: Duration = Duration::from_secs(150);
/// How long Prometheus may take to hold every sample the test asks for.
const PROMETHEUS_DEADLINE: Duration = Duration::from_secs(40);
/// The agent's cluster key (any 32 bytes; the agent's beacons go to a socket nobody decodes).
const KEY_HEX: &str = "5f8a0c3b9e71d24468acf02b7d9e13c5a8f6e2047b1dc93e5a60f8b2c4d71e09";
/// The agent's fake load: storage 0.2, processor 0.5, communication 0.1.
const FAKE_LOAD: &str = "0.2,0.5,0.1";
/// Chromium's flags for a reproducible headless render (PEERS.md §1f); the 6 s virtual-time
/// budget lets the dashboard's first fetches (and a couple of 2 s refreshes) finish.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1400,1000",
    "--virtual-time-budget=6000",
];

/// A fresh scratch directory for this test.
fn scratch() -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("hearth-demo-observability-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A free loopback TCP port (bound, then released for a child to take).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A child process, killed (with its process group when it leads one) if the test ends before
/// it exits.
struct Running {
    child: Option<Child>,
    group: bool,
}

impl Running {
    fn new(child: Child) -> Running {
        Running { child: Some(child), group: false }
    }

    /// For a child started with `process_group(0)`: its helpers (Chromium's renderer, zygote
    /// and GPU processes) go too.
    fn leading_group(child: Child) -> Running {
        Running { child: Some(child), group: true }
    }

    fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("the child is still held")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            if matches!(child.try_wait(), Ok(None)) {
                if self.group {
                    let group = format!("-{}", child.id());
                    let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
                }
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

/// Wall time since `start`; the test's deadlines and its reported runtime.
#[allow(clippy::disallowed_methods)] // a test's deadline is wall time by definition
fn now() -> Instant {
    Instant::now()
}

/// Polls `f` every 200 ms until it returns `Ok`, until `deadline`; `Err` says what is still
/// missing and ends up in the panic message.
#[allow(clippy::disallowed_methods)] // a test's poll interval
fn until<T>(deadline: Instant, what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    loop {
        let why = match f() {
            Ok(value) => return value,
            Err(why) => why,
        };
        if now() >= deadline {
            panic!("{what}: not in time; last: {why}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A blocking HTTP/1.1 `GET` on loopback, with an optional bearer token; returns the status code
/// and the body (de-chunked when the server chunked it).
fn http_get(addr: SocketAddr, path: &str, token: Option<&str>) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n")
        .map_err(|e| format!("GET {path}: {e}"))?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(|e| format!("GET {path}: {e}"))?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) =
        response.split_once("\r\n\r\n").ok_or_else(|| format!("GET {path}: no HTTP response"))?;
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("GET {path}: bad status line in {head:?}"))?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked { dechunk(body)? } else { body.to_string() };
    Ok((code, body))
}

/// The payload of a `Transfer-Encoding: chunked` body.
fn dechunk(mut rest: &str) -> Result<String, String> {
    let mut body = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n").ok_or("chunked body: no size line")?;
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| format!("chunked body: size {size:?}: {e}"))?;
        if size == 0 {
            return Ok(body);
        }
        let chunk = after.get(..size).ok_or("chunked body: truncated")?;
        body.push_str(chunk);
        rest = after[size..].strip_prefix("\r\n").ok_or("chunked body: no CRLF after a chunk")?;
    }
}

/// Percent-encodes a PromQL expression for a query string.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An instant query against Prometheus' HTTP API: each sample's labels and value.
fn prom_query(prometheus: SocketAddr, query: &str) -> Result<Vec<(Value, f64)>, String> {
    let (code, body) =
        http_get(prometheus, &format!("/api/v1/query?query={}", url_encode(query)), None)?;
    if code != 200 {
        return Err(format!("{query}: HTTP {code}: {body}"));
    }
    let json: Value = serde_json::from_str(&body).map_err(|e| format!("{query}: {e}: {body}"))?;
    let samples = json["data"]["result"]
        .as_array()
        .ok_or_else(|| format!("{query}: no data.result in {body}"))?;
    samples
        .iter()
        .map(|s| {
            let value = s["value"][1].as_str().and_then(|v| v.parse::<f64>().ok());
            value
                .map(|v| (s["metric"].clone(), v))
                .ok_or_else(|| format!("{query}: bad sample {s}"))
        })
        .collect()
}

/// The one sample of `query`, or why there is not exactly one yet.
fn prom_one(prometheus: SocketAddr, query: &str) -> Result<f64, String> {
    match prom_query(prometheus, query)?.as_slice() {
        [(_, value)] => Ok(*value),
        samples => Err(format!("{query}: {} samples: {samples:?}", samples.len())),
    }
}

/// What Prometheus holds once both targets have been scraped.
#[derive(Debug)]
struct Scraped {
    hosts_on: f64,
    covered_hosts: f64,
    power_watts: f64,
    agent_f_ra: f64,
}

/// Runs Chromium with the shared flags plus `extra` on `url` (its own process group, 60 s at
/// most) and returns its stdout; the stderr (dbus noise) is kept in `dir` for a failure message.
fn chromium(dir: &Path, name: &str, extra: &str, url: &str) -> String {
    let stdout_path = dir.join(format!("chromium-{name}.out"));
    let stderr_path = dir.join(format!("chromium-{name}.err"));
    let child = Command::new("chromium")
        .args(CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", dir.join("chromium-profile").display()))
        .arg(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .process_group(0)
        .spawn()
        .expect("chromium on the PATH (scripts/test.sh installs it)");
    let mut running = Running::leading_group(child);
    let status = until(now() + Duration::from_secs(60), &format!("chromium {extra} {url}"), || {
        running.child().try_wait().unwrap().ok_or_else(|| "still running".to_string())
    });
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(status.success(), "chromium {extra} {url}: {status}\n{stderr}");
    std::fs::read_to_string(&stdout_path).unwrap()
}

/// The text of `dom` from `start` up to (not including) the next `end`.
fn between<'a>(dom: &'a str, start: &str, end: &str) -> &'a str {
    let from = dom.find(start).unwrap_or_else(|| panic!("no {start:?} in the DOM:\n{dom}"));
    let rest = &dom[from..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

/// The text of the `#totals` stat `key` (`–` until the dashboard rendered it).
fn stat<'a>(totals: &'a str, key: &str) -> &'a str {
    let tile = between(totals, &format!("data-stat=\"{key}\""), "</div>");
    let value = between(tile, "<span class=\"value\">", "</span>");
    &value["<span class=\"value\">".len()..]
}

/// The last `lines` lines of a log file, for failure messages.
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[test]
fn the_demo_runs_end_to_end_and_prometheus_and_chromium_see_it() {
    let dir = scratch();
    let test_start = now();

    // 1. The demo, first: everything else runs inside its 75 s.
    let demo_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let demo_stderr = dir.join("demo.err");
    let demo_start = now();
    let mut demo = Running::new(
        Command::new(env!("CARGO_BIN_EXE_hearth"))
            .args(["demo", "--hosts", &HOSTS.to_string()])
            .args(["--for", &format!("{}s", DEMO_WALL.as_secs())])
            .args(["--listen", &demo_addr.to_string(), "--data-dir"])
            .arg(dir.join("demo-data"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&demo_stderr).unwrap())
            .spawn()
            .unwrap(),
    );
    let (line_tx, lines) = mpsc::channel::<String>();
    let stdout = demo.child().stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = line_tx.send(line);
        }
    });
    let mut stdout_lines = Vec::new();
    let mut next_line = || {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("the demo's start lines: {e}\n{}", tail(&demo_stderr, 20)));
        stdout_lines.push(line.clone());
        line
    };
    let dashboard = next_line();
    let url = dashboard
        .strip_prefix("hearth demo: dashboard ")
        .unwrap_or_else(|| panic!("first line: {dashboard}"))
        .to_string();
    let (base_url, token) = url.split_once("#token=").unwrap_or_else(|| panic!("no token: {url}"));
    assert_eq!(base_url, format!("http://{demo_addr}/"), "{dashboard}");
    let token = token.to_string();
    assert!(!token.is_empty() && token.bytes().all(|b| b.is_ascii_hexdigit()), "{dashboard}");
    let token_line = next_line();
    assert!(token_line.starts_with(&format!("hearth demo: API token {token} ")), "{token_line}");

    // 2. One real agent with a fixed fake load, beaconing into a socket held open (and never
    //    read) so its sends succeed; Prometheus scrapes its /metrics.
    let beacon_sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let key_file = dir.join("cluster.key");
    std::fs::write(&key_file, format!("# test key\n1 {KEY_HEX}\n")).unwrap();
    let agent_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let agent_config = dir.join("agent.toml");
    std::fs::write(
        &agent_config,
        format!(
            "node_id = 7\nsend_to = [\"{}\"]\nkey_file = \"{}\"\nstatus_listen = \"{agent_addr}\"\n\
             sample_interval_s = 0.25\n",
            beacon_sink.local_addr().unwrap(),
            key_file.display()
        ),
    )
    .unwrap();
    let agent_log = dir.join("agent.log");
    let _agent = Running::new(
        Command::new(env!("CARGO_BIN_EXE_hearth"))
            .arg("agent")
            .arg("--config")
            .arg(&agent_config)
            .args(["--fake-load", FAKE_LOAD])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&agent_log).unwrap())
            .spawn()
            .unwrap(),
    );

    // 3. Prometheus, scraping both every second.
    let prometheus_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let prometheus_config = dir.join("prometheus.yml");
    std::fs::write(
        &prometheus_config,
        format!(
            "global: {{ scrape_interval: 1s, evaluation_interval: 1s }}\n\
             scrape_configs:\n\
             \x20 - job_name: hearth-controller\n\
             \x20   static_configs: [ {{ targets: ['{demo_addr}'] }} ]\n\
             \x20 - job_name: hearth-agent\n\
             \x20   static_configs: [ {{ targets: ['{agent_addr}'] }} ]\n"
        ),
    )
    .unwrap();
    let prometheus_log = dir.join("prometheus.log");
    let _prometheus = Running::new(
        Command::new("prometheus")
            .arg(format!("--config.file={}", prometheus_config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("prometheus-data").display()))
            .arg(format!("--web.listen-address={prometheus_addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&prometheus_log).unwrap())
            .spawn()
            .expect("prometheus on the PATH (scripts/test.sh installs it)"),
    );

    // While Prometheus starts: the API wants the token (and /metrics does not), and the
    // controller has made a plan, so the dashboard has one to show.
    let (code, body) = http_get(demo_addr, "/api/v1/status", None).unwrap();
    assert_eq!(code, 401, "/api/v1/status without a token: {body}");
    let (code, _) = http_get(demo_addr, "/metrics", None).unwrap();
    assert_eq!(code, 200, "/metrics is open");
    // Until the first cycle ends the status has no mode (`null`) and there is no plan.
    until(now() + Duration::from_secs(30), "the controller's first plan in auto mode", || {
        let (code, body) = http_get(demo_addr, "/api/v1/status", Some(&token))?;
        let status: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        if code != 200 || status["mode"] != "auto" {
            return Err(format!("/api/v1/status: HTTP {code}: {body}"));
        }
        match http_get(demo_addr, "/api/v1/plan", Some(&token))? {
            (200, _) => Ok(()),
            (code, body) => Err(format!("/api/v1/plan: HTTP {code}: {body}")),
        }
    });
    let agent_status: Value =
        until(now() + Duration::from_secs(10), "the agent's status endpoint", || {
            let (code, body) = http_get(agent_addr, "/v1/agent/status", None)?;
            let status: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
            if code == 200 && status["f_ra"].is_f64() {
                Ok(status)
            } else {
                Err(format!("HTTP {code}: {body}"))
            }
        });

    let prometheus_start = now();
    let scraped = until(
        prometheus_start + PROMETHEUS_DEADLINE,
        &format!("Prometheus scraping the demo and the agent (log: {})", prometheus_log.display()),
        || {
            for job in ["hearth-controller", "hearth-agent"] {
                let up = prom_one(prometheus_addr, &format!("up{{job=\"{job}\"}}"))?;
                if up != 1.0 {
                    return Err(format!("up{{job=\"{job}\"}} = {up}"));
                }
            }
            let scraped = Scraped {
                hosts_on: prom_one(prometheus_addr, "hearth_hosts_on")?,
                covered_hosts: prom_one(prometheus_addr, "hearth_covered_hosts")?,
                power_watts: prom_one(prometheus_addr, "hearth_power_watts")?,
                agent_f_ra: prom_one(prometheus_addr, "hearth_agent_f_ra")?,
            };
            Ok(scraped)
        },
    );
    eprintln!("Prometheus after {:.1} s: {scraped:?}", (now() - prometheus_start).as_secs_f64());
    let hosts = HOSTS as f64;
    assert!((1.0..=hosts).contains(&scraped.hosts_on), "{scraped:?}");
    assert!((0.0..=hosts).contains(&scraped.covered_hosts), "{scraped:?}");
    assert!(scraped.power_watts > 0.0, "{scraped:?}");
    assert!(scraped.agent_f_ra > 0.0 && scraped.agent_f_ra <= 1.0, "{scraped:?}");
    // The fake load is fixed, so Prometheus holds exactly what the agent reports.
    let status_f_ra = agent_status["f_ra"].as_f64().unwrap();
    assert!((scraped.agent_f_ra - status_f_ra).abs() < 1e-9, "{scraped:?} vs {agent_status}");

    // 4. Chromium renders the dashboard with the printed token.
    let dom = chromium(&dir, "dom", "--dump-dom", &url);
    assert_eq!(dom.matches("data-host=\"h").count(), HOSTS, "host tiles:\n{dom}");
    for host in ["h00", "h23"] {
        assert!(dom.contains(&format!("data-host=\"{host}\"")), "no tile {host}:\n{dom}");
    }
    assert!(between(&dom, "id=\"conn\"", "</span>").contains("live"), "not live:\n{dom}");
    assert!(dom.contains("id=\"mode\" class=\"badge good\">auto</span>"), "mode:\n{dom}");
    assert!(between(&dom, "id=\"auth\"", ">").contains("hidden"), "auth banner shown:\n{dom}");
    let totals = between(&dom, "<section id=\"totals\"", "</section>");
    let hosts_on: usize = stat(totals, "hosts_on").parse().unwrap_or_else(|_| panic!("{totals}"));
    assert!((1..=HOSTS).contains(&hosts_on), "{totals}");
    let covered: usize =
        stat(totals, "covered_hosts").parse().unwrap_or_else(|_| panic!("{totals}"));
    assert!(covered <= HOSTS, "{totals}");
    assert!(stat(totals, "harvest_ratio").ends_with(" %"), "{totals}");
    assert!(stat(totals, "power_w").ends_with('W'), "{totals}");
    assert!(stat(totals, "energy_kwh").ends_with(" kWh"), "{totals}");
    assert_eq!(stat(totals, "instances_lost"), "0", "{totals}");
    let plan = between(&dom, "<div id=\"plan\">", "</section>");
    assert!(plan.contains("Plan #") && !plan.contains("No plan yet."), "plan:\n{plan}");
    assert!(plan.contains("class=\"step\"") || plan.contains("Nothing to do."), "plan:\n{plan}");
    let thermal = between(&dom, "<div id=\"thermal\">", "</section>");
    for zone in ["z0", "z1", "z2", "z3"] {
        let card = between(thermal, &format!("data-zone=\"{zone}\""), "Powered down");
        let phase =
            ["normal", "shedding", "recovering"].iter().find(|p| card.contains(&format!(">{p}<")));
        assert!(phase.is_some(), "zone {zone} shows no phase:\n{thermal}");
    }
    assert!(thermal.contains("Air <b>") && thermal.contains("detect "), "thermal:\n{thermal}");
    for chart in ["chart-covered", "chart-harvest"] {
        let svg = between(&dom, &format!("id=\"{chart}\""), "</svg>");
        assert!(svg.contains("<path") && !svg.contains("waiting for data"), "{chart}:\n{svg}");
    }
    let actions = between(&dom, "<div id=\"actions\"", "</section>");
    assert!(actions.contains("class=\"action\""), "actions:\n{actions}");
    eprintln!(
        "dashboard after {:.1} s: {HOSTS} tiles, {hosts_on} on, {covered} covered, harvest {}, {}",
        (now() - demo_start).as_secs_f64(),
        stat(totals, "harvest_ratio"),
        stat(totals, "power_w")
    );

    // Without the token: the hint, and no tiles.
    let bare = chromium(&dir, "bare", "--dump-dom", base_url);
    let auth = between(&bare, "id=\"auth\"", "</div>");
    assert!(auth.contains("No API token.") && auth.contains("#token="), "auth:\n{auth}");
    assert!(!between(&bare, "id=\"auth\"", ">").contains("hidden"), "hint hidden:\n{bare}");
    assert!(!bare.contains("data-host=\"h"), "tiles without a token:\n{bare}");
    assert!(bare.contains("No hosts yet."), "{bare}");

    // The screenshot, kept for a human.
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let artifacts = artifacts.canonicalize().unwrap();
    let screenshot = artifacts.join("dashboard.png");
    let _ = std::fs::remove_file(&screenshot);
    chromium(&dir, "shot", &format!("--screenshot={}", screenshot.display()), &url);
    let png =
        std::fs::read(&screenshot).unwrap_or_else(|e| panic!("{}: {e}", screenshot.display()));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a PNG", screenshot.display());
    assert!(png.len() > 20 * 1024, "{}: {} bytes", screenshot.display(), png.len());
    eprintln!("dashboard screenshot: {} ({} bytes)", screenshot.display(), png.len());

    // 5. The demo ends by itself after --for and prints its summary.
    let exit = until(demo_start + DEMO_DEADLINE, "the demo exiting after --for", || {
        demo.child().try_wait().unwrap().ok_or_else(|| "still running".to_string())
    });
    let demo_wall = now() - demo_start;
    reader.join().unwrap();
    stdout_lines.extend(lines.try_iter());
    let stderr = std::fs::read_to_string(&demo_stderr).unwrap();
    let stdout = stdout_lines.join("\n");
    assert!(exit.success(), "demo: {exit}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        demo_wall >= DEMO_WALL,
        "the demo stopped after {demo_wall:?}, before --for\n{stdout}\n{stderr}"
    );
    let last = stdout_lines.last().unwrap();
    let summary: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("last stdout line is not JSON ({e}):\n{stdout}\n{stderr}"));
    eprintln!("demo summary after {:.1} s: {summary}", demo_wall.as_secs_f64());
    let context = format!("summary {summary}\nstderr:\n{stderr}");
    assert_eq!(summary["instances_lost"], 0, "{context}");
    assert_eq!(summary["site_invariants"], "ok", "{context}");
    assert_eq!(summary["hosts"], HOSTS, "{context}");
    // The scripted cooling failure in z0 at 40 % of the run is detected.
    assert!(summary["thermal_events"].as_u64().unwrap() >= 1, "{context}");
    assert!(summary["migrations"].as_u64().unwrap() > 0, "{context}");
    assert!(summary["energy_kwh"].as_f64().unwrap() > 0.0, "{context}");
    let harvest = summary["harvest_ratio"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&harvest), "{context}");
    assert!(summary["covered_hosts"].as_u64().unwrap() <= HOSTS as u64, "{context}");
    assert!(stderr.contains("(cooling failed)"), "the live line never showed it:\n{stderr}");

    // Prometheus saw the thermal event too (a range query: the target is gone by now).
    let events = prom_one(
        prometheus_addr,
        "max_over_time(hearth_thermal_events_total{job=\"hearth-controller\"}[5m])",
    )
    .unwrap();
    eprintln!("Prometheus: max hearth_thermal_events_total over the run = {events}");
    assert!(events >= 1.0, "Prometheus never saw a thermal event ({events})\n{context}");
    drop(beacon_sink);

    eprintln!("test runtime {:.1} s", (now() - test_start).as_secs_f64());
    let _ = std::fs::remove_dir_all(&dir);
}
