//! `hearth demo`: the whole product on one machine with no external service. A controller with
//! its SQLite store (in `--data-dir` or a temporary directory), a simulated site
//! (`drivers::site::SiteSpec::demo`: N hosts in 4 zones, a synthetic diurnal workload, and a
//! scripted cooling failure in zone z0 at 40 % of the nominal 2 h run), one real agent loop per
//! powered host sending real authenticated beacons on loopback (its load follows the simulated
//! host's), the API and dashboard, and a live summary line. Simulated time runs faster than wall
//! time: `speed` site seconds per wall second, 60 by default and, with `--for`, whatever fits the
//! nominal 2 h run into the wall time given (at least 60).

use crate::loop_cmd;
use agent::config::{AgentConfig, ClusterKey};
use agent::measure::{FakeLoad, Usage};
use agent::run::{Agent, CapacitySource, Options, SharedLoad};
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use controller::execute::PolicyClock;
use controller::observe::Drivers;
use controller::service::{Controller, LoopConfig};
use controller::shared::Mode;
use controller::topology::Topology;
use drivers::site::{Site, SiteSpec, DEMO_RUN_S};
use drivers::SystemClock;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// `hearth demo` flags.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Simulated hosts (spread over 4 zones, racks of 12).
    #[arg(long, default_value_t = 48, value_name = "N")]
    hosts: usize,
    /// Exit after this much wall time (`90s`, `5m`, `1h`) and print a JSON summary; without it,
    /// run until Ctrl-C.
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    run_for: Option<Duration>,
    /// Where the API and dashboard listen.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Keep the store (and the token file) here instead of a temporary directory.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Site seconds per wall second (default: 60, or enough to fit the 2 h run into --for).
    #[arg(long, value_name = "X")]
    speed: Option<f64>,
    /// Seed of the synthetic workload.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// `90s`, `5m`, `2h`, `1500ms`, or plain seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}`: expected a number and a unit (90s, 5m, 1h)"))?;
    let seconds = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("`{text}`: unknown unit `{other}` (use ms, s, m or h)")),
    };
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(format!("`{text}`: must be longer than 0"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Runs the demo.
pub fn run(args: DemoArgs) -> Result<()> {
    if args.hosts == 0 || args.hosts > 2000 {
        bail!("--hosts {}: expected 1 to 2000", args.hosts);
    }
    let speed = match (args.speed, args.run_for) {
        (Some(speed), _) if speed.is_finite() && speed > 0.0 => speed,
        (Some(speed), _) => bail!("--speed {speed}: expected a positive number"),
        (None, Some(wall)) => (DEMO_RUN_S / wall.as_secs_f64()).max(60.0),
        (None, None) => 60.0,
    };
    // The data directory: given, or temporary (removed at exit).
    let temp;
    let data_dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => {
            temp = TempDir::new()?;
            temp.path.clone()
        }
    };
    let store = loop_cmd::open_store(&data_dir)?;
    let token_path = data_dir.join("api.token");
    let token = loop_cmd::generate_token_file(&token_path)?;

    let mut spec = SiteSpec::demo(args.hosts, 4, args.seed);
    spec.speed = speed;
    let clock: Arc<dyn drivers::Clock> = Arc::new(SystemClock::new());
    let site = Arc::new(Site::new(spec.clone(), clock.clone()).map_err(|e| anyhow!("{e}"))?);
    let topology = Topology::from_site(&spec).map_err(|e| anyhow!("{e}"))?;

    // The beacon receiver, with a fresh cluster key.
    let key_hex = loop_cmd::random_hex(32)?;
    let key_path = data_dir.join("cluster.key");
    std::fs::write(&key_path, format!("1 {key_hex}\n"))
        .with_context(|| format!("writing {}", key_path.display()))?;
    let ring = agent::config::read_key_file(&key_path).map_err(|e| anyhow!("{e}"))?;
    let key = ring.newest().clone();
    let beacons = start_beacons(&key)?;
    let beacon_addr = beacons.local_addr();

    let drivers = Drivers::from_site(site.clone());
    let config = LoopConfig {
        mode: Mode::Auto,
        interval_s: 60.0,
        poll_every: Duration::from_millis(20),
        failpoint: None,
        ..LoopConfig::default()
    };
    let nodes: HashMap<usize, beacon::NodeId> =
        (0..topology.hosts.len()).map(|h| (h, beacon::NodeId(h as u32 + 1))).collect();
    let host_ids: Vec<drivers::HostId> = topology.hosts.iter().map(|h| h.id.clone()).collect();
    let host_cpus: Vec<f64> = topology.hosts.iter().map(|h| h.cpus).collect();
    let mut controller =
        Controller::open(config, topology, drivers, store, PolicyClock::new(clock.clone(), speed))
            .map_err(|e| anyhow!("{e}"))?
            .with_beacons(beacons.clone(), nodes);
    let recovered = controller.recover().map_err(|e| anyhow!("{e}"))?;
    if !recovered.plans.is_empty() {
        eprintln!("hearth demo: resumed {} plan(s) from the journal", recovered.plans.len());
    }
    let shared = controller.shared();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let listener = runtime.block_on(loop_cmd::bind(args.listen))?;
    let api_addr = listener.local_addr().unwrap_or(args.listen);
    println!("hearth demo: dashboard http://{api_addr}/#token={token}");
    println!("hearth demo: API token {token} (also in {})", token_path.display());
    println!(
        "hearth demo: {} hosts in 4 zones; simulated time runs {speed:.0}× wall time; zone z0 \
         loses 2 of its 3 cooling units at site time {:.0} min for 30 min",
        args.hosts,
        0.4 * DEMO_RUN_S / 60.0
    );
    println!("hearth demo: data in {}", data_dir.display());

    let stop = Arc::new(AtomicBool::new(false));
    let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(loop_cmd::serve(
        listener,
        shared.clone(),
        Some(beacons.clone()),
        vec![token],
        async move {
            let _ = shutdown_rx.await;
        },
    ));
    let agents = Agents::start(&host_ids, &host_cpus, beacon_addr, &key, &key_path, stop.clone())?;
    let loop_stop = stop.clone();
    let loop_thread = std::thread::Builder::new()
        .name("hearth-loop".into())
        .spawn(move || {
            let result = controller.run(&loop_stop, None);
            (controller, result)
        })
        .context("starting the control loop")?;

    // Ctrl-C stops the demo early.
    let interrupted = stop.clone();
    runtime.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            interrupted.store(true, Ordering::SeqCst);
        }
    });
    let wall = SystemClock::new();
    let mut next_line = Duration::ZERO;
    let mut agents = agents;
    while !stop.load(Ordering::SeqCst) {
        use drivers::Clock;
        let elapsed = wall.now();
        if args.run_for.is_some_and(|limit| elapsed >= limit) {
            break;
        }
        agents.follow(&site);
        if elapsed >= next_line {
            eprintln!("{}", summary_line(&shared.view(), site.now_s()));
            next_line = elapsed + Duration::from_secs(2);
        }
        if loop_thread.is_finished() {
            break;
        }
        wall.sleep(Duration::from_millis(250));
    }
    stop.store(true, Ordering::SeqCst);
    agents.stop_all();
    let (controller, result) =
        loop_thread.join().map_err(|_| anyhow!("the control loop panicked"))?;
    let _ = shutdown_tx.send(());
    let _ = runtime.block_on(server);
    beacons.stop();
    result.map_err(|e| anyhow!("control loop: {e}"))?;

    let totals = controller.totals();
    let view = shared.view();
    let invariants = site.check_invariants();
    let summary = serde_json::json!({
        "harvest_ratio": round(totals.harvest_ratio, 4),
        "covered_hosts": view.totals.covered_hosts,
        "energy_kwh": round(totals.energy_kwh, 3),
        "migrations": totals.migrations,
        "thermal_events": totals.thermal_events,
        "actions_failed": totals.actions_failed,
        "instances_lost": totals.instances_lost,
        "hosts": args.hosts,
        "hosts_on": view.totals.hosts_on,
        "power_changes": totals.power_changes,
        "cycles": totals.cycles,
        "site_time_s": round(site.now_s(), 1),
        "speed": speed,
        "site_invariants": match &invariants { Ok(()) => "ok".to_string(), Err(e) => e.clone() },
    });
    println!("{summary}");
    if let Err(err) = invariants {
        bail!("the simulated site's invariants broke: {err}");
    }
    Ok(())
}

fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

/// The live line: site time, heat, power, thermal state, actions.
fn summary_line(view: &controller::shared::View, site_s: f64) -> String {
    let t = view.totals.clone();
    let hot: Vec<String> = view
        .zones
        .iter()
        .filter(|z| z.phase != "normal" || z.cooling_failed)
        .map(|z| {
            format!(
                "{} {}{} {:.1} °C",
                z.id,
                z.phase,
                if z.cooling_failed { " (cooling failed)" } else { "" },
                z.air_c.unwrap_or(f64::NAN)
            )
        })
        .collect();
    format!(
        "site {:02}:{:02} | covered {}/{} | harvest {:.2} | on {} | {:.1} kW | {:.2} kWh | \
         migrations {} | power changes {} | failed {} | thermal: {}",
        (site_s / 3600.0) as u64,
        ((site_s % 3600.0) / 60.0) as u64,
        t.covered_hosts,
        view.hosts.len(),
        t.harvest_ratio,
        t.hosts_on,
        t.power_w / 1000.0,
        t.energy_kwh,
        t.migrations,
        t.power_changes,
        t.actions_failed,
        if hot.is_empty() { "normal".to_string() } else { hot.join(", ") }
    )
}

fn start_beacons(key: &ClusterKey) -> Result<Arc<controller::beacons::BeaconState>> {
    use beacon::law::LawParams;
    use beacon::select::ReceiverConfig;
    use beacon::wire::{DecoderConfig, Keyring};
    let keyring = Keyring::new(key.id, key.bytes()).map_err(|e| anyhow!("cluster key: {e}"))?;
    let params = agent::config::RateParams::default();
    let law = LawParams { k_hz: params.k_hz, l_hz: params.l_hz, min: params.min };
    let receiver = ReceiverConfig::new(law);
    let (state, _thread) = controller::beacons::start(controller::beacons::BeaconConfig {
        listen: "127.0.0.1:0".parse().expect("a valid address"),
        keyring,
        decoder: DecoderConfig::default(),
        receiver,
        tick: Duration::from_millis(20),
        node_id: beacon::NodeId(0),
    })?;
    Ok(state)
}

/// A running agent: its stop flag, its load and its thread.
type Running = (Arc<AtomicBool>, SharedLoad, std::thread::JoinHandle<()>);

/// One real agent loop per powered host; an agent stops when its host powers off and starts
/// again when it is back on.
struct Agents {
    hosts: Vec<drivers::HostId>,
    cpus: Vec<f64>,
    beacon_addr: SocketAddr,
    key: ClusterKey,
    key_path: PathBuf,
    global_stop: Arc<AtomicBool>,
    running: Vec<Option<Running>>,
}

impl Agents {
    fn start(
        hosts: &[drivers::HostId],
        cpus: &[f64],
        beacon_addr: SocketAddr,
        key: &ClusterKey,
        key_path: &std::path::Path,
        global_stop: Arc<AtomicBool>,
    ) -> Result<Agents> {
        let mut agents = Agents {
            hosts: hosts.to_vec(),
            cpus: cpus.to_vec(),
            beacon_addr,
            key: key.clone(),
            key_path: key_path.to_path_buf(),
            global_stop,
            running: (0..hosts.len()).map(|_| None).collect(),
        };
        for h in 0..hosts.len() {
            agents.spawn(h, 0.5)?;
        }
        Ok(agents)
    }

    fn load(cpu: f64) -> FakeLoad {
        FakeLoad {
            usage: Usage {
                storage: 0.3,
                processor: cpu.clamp(0.0, 1.0),
                communication: 0.1,
                memory: 0.0,
            },
        }
    }

    fn spawn(&mut self, h: usize, cpu: f64) -> Result<()> {
        let config =
            AgentConfig::default_with(h as u32 + 1, vec![self.beacon_addr], self.key_path.clone());
        let load = SharedLoad::new(Agents::load(cpu));
        let options =
            Options { capacity: CapacitySource::Fixed(self.cpus[h]), load: Some(load.clone()) };
        let agent = Agent::new(&config, &self.key, options)
            .map_err(|e| anyhow!("agent for {}: {e}", self.hosts[h]))?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        let handle = std::thread::Builder::new()
            .name(format!("agent-{}", self.hosts[h]))
            .spawn(move || agent.run(&thread_stop))
            .context("starting an agent thread")?;
        self.running[h] = Some((stop, load, handle));
        Ok(())
    }

    /// Follows the site: load into running agents, agents stopped on hosts that are off and
    /// started on hosts back on.
    fn follow(&mut self, site: &Site) {
        if self.global_stop.load(Ordering::SeqCst) {
            return;
        }
        let snapshot = site.snapshot();
        for host in snapshot.hosts {
            let Some(h) = self.hosts.iter().position(|id| *id == host.id) else { continue };
            let on = host.power == drivers::site::SitePower::On && host.transitioning_to.is_none();
            match (&self.running[h], on) {
                (Some((_, load, _)), true) => load.set(Agents::load(host.utilization)),
                (Some(_), false) => {
                    if let Some((stop, _, handle)) = self.running[h].take() {
                        stop.store(true, Ordering::SeqCst);
                        let _ = handle.join();
                    }
                }
                (None, true) => {
                    if let Err(err) = self.spawn(h, host.utilization) {
                        eprintln!("hearth demo: {err:#}");
                    }
                }
                (None, false) => {}
            }
        }
    }

    fn stop_all(&mut self) {
        for slot in &mut self.running {
            if let Some((stop, _, handle)) = slot.take() {
                stop.store(true, Ordering::SeqCst);
                let _ = handle.join();
            }
        }
    }
}

/// A temporary directory removed on drop.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new() -> Result<TempDir> {
        let path = std::env::temp_dir().join(format!("hearth-demo-{}", loop_cmd::random_hex(6)?));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(TempDir { path })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
