//! `hearth controller` (the receiving side of the beacon layer, for now), and its two clients,
//! `hearth status` and `hearth select`, which ask a running controller's API.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// `hearth controller` flags: a config file, each key overridable by a flag.
#[derive(Args, Debug)]
pub struct ControllerArgs {
    /// Controller config (TOML; docs/agent.md). Without it, --key-file is required.
    #[arg(long)]
    config: Option<PathBuf>,
    /// UDP address to receive beacons on.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// HTTP address of the API (`hearth status`, `hearth select`).
    #[arg(long, value_name = "ADDR:PORT")]
    api: Option<SocketAddr>,
    /// Cluster key file (`key_id hex_key` lines).
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,
    /// Run the control loop with its store (DIR/hearth.db) here. Without it the controller only
    /// receives beacons.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The simulated site to drive (a site spec, TOML; its state lives in DIR/site.json, created
    /// on the first start and reopened after). Needs --data-dir.
    #[arg(long, value_name = "FILE", requires = "data_dir", conflicts_with = "hosts")]
    site: Option<PathBuf>,
    /// The real hosts to drive: zones, hosts and each host's power, sensors and compute drivers
    /// (TOML; docs/controller.md). Needs --data-dir. Check it first with `hearth hosts check`.
    #[arg(long, value_name = "FILE", requires = "data_dir")]
    hosts: Option<PathBuf>,
    /// How the loop acts: observe (plans, never acts), approve (plans wait for an operator's
    /// POST /api/v1/plans/ID/approve) or auto.
    #[arg(long, default_value = "observe", value_name = "MODE")]
    mode: controller::shared::Mode,
    /// Seconds (of the site's time) between cycles.
    #[arg(long, default_value_t = 60.0, value_name = "S")]
    interval_s: f64,
    /// API bearer tokens, one per line (default: DIR/api.token, generated on first start).
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
    /// A policy file (TOML: `[heat]`, `[limits]`, `[thermal]`; docs/controller.md), stored as a
    /// new policy version when it differs from the one in force.
    #[arg(long, value_name = "FILE", requires = "data_dir")]
    policy: Option<PathBuf>,
    /// Stop after this many cycles (scripts and tests); the journal is replayed first.
    #[arg(long, value_name = "N")]
    cycles: Option<u64>,
    /// Pool mode (docs/pool.md): agents join with the token, offer their surplus and run the
    /// tasks `hearth run` submits; the ledger is DIR/ledger.jsonl. Needs --data-dir.
    #[arg(long, requires = "data_dir", conflicts_with_all = ["site", "hosts", "policy", "cycles"])]
    pool: bool,
    /// Pool mode: a member that has not polled for this many seconds is lost (beacon silence
    /// loses it sooner).
    #[arg(long, default_value_t = 5.0, value_name = "S", requires = "pool")]
    pool_silence_s: f64,
}

fn controller_config(args: &ControllerArgs) -> Result<agent::config::ControllerConfig> {
    use agent::config::{ControllerConfig, DEFAULT_API, DEFAULT_CONTROLLER_LISTEN};
    let mut config = match &args.config {
        Some(path) => ControllerConfig::read(path).map_err(|e| anyhow!("{e}"))?,
        None => {
            let key_file =
                args.key_file.clone().context("give --config FILE, or at least --key-file PATH")?;
            let listen = DEFAULT_CONTROLLER_LISTEN.parse().expect("a valid default address");
            let api = DEFAULT_API.parse().expect("a valid default address");
            ControllerConfig::default_with(listen, api, key_file)
        }
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(api) = args.api {
        config.api = api;
    }
    if let Some(key_file) = &args.key_file {
        config.key_file = key_file.clone();
    }
    config.validate().map_err(|e| anyhow!("controller config: {e}"))?;
    Ok(config)
}

/// Runs the controller until interrupted.
pub fn controller(args: ControllerArgs) -> Result<()> {
    use beacon::law::LawParams;
    use beacon::select::ReceiverConfig;
    use beacon::wire::{DecoderConfig, Keyring};

    let config = controller_config(&args)?;
    let ring = agent::config::read_key_file(&config.key_file).map_err(|e| anyhow!("{e}"))?;
    let mut keys = ring.keys().iter();
    let first = keys.next().context("key file holds no key")?;
    let mut keyring = Keyring::new(first.id, first.bytes())
        .map_err(|e| anyhow!("{}: key {}: {e}", config.key_file.display(), first.id))?;
    for key in keys {
        keyring
            .insert(key.id, key.bytes())
            .map_err(|e| anyhow!("{}: key {}: {e}", config.key_file.display(), key.id))?;
    }
    let law =
        LawParams { k_hz: config.beacon.k_hz, l_hz: config.beacon.l_hz, min: config.beacon.min };
    let mut receiver = ReceiverConfig::new(law);
    receiver.lost_after_intervals = f64::from(config.lost_after_intervals);
    receiver.sample_interval_us = config.count_sample_interval.as_micros() as u64;
    receiver.switch_interval_us = config.count_switch_interval.as_micros() as u64;
    receiver.validate().map_err(|e| anyhow!("controller config: {e}"))?;
    let (state, _thread) = controller::beacons::start(controller::beacons::BeaconConfig {
        listen: config.listen,
        keyring,
        decoder: DecoderConfig::default(),
        receiver,
        tick: Duration::from_millis(20),
        node_id: beacon::NodeId(config.node_id),
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let api_addr = config.api;
    if let (true, Some(data_dir)) = (args.pool, &args.data_dir) {
        if !(args.pool_silence_s.is_finite() && args.pool_silence_s > 0.0) {
            bail!(
                "--pool-silence-s {}: expected a positive number of seconds",
                args.pool_silence_s
            );
        }
        let pool_args = crate::pool_cmd::PoolControllerArgs {
            data_dir: data_dir.clone(),
            token_file: args.token_file.clone(),
            silence: Duration::from_secs_f64(args.pool_silence_s),
        };
        let result = crate::pool_cmd::controller(pool_args, &runtime, state.clone(), api_addr);
        state.stop();
        return result;
    }
    if let Some(data_dir) = &args.data_dir {
        let result = crate::controller_loop::run(
            &args_loop(&args, data_dir),
            &runtime,
            state.clone(),
            api_addr,
        );
        state.stop();
        return result;
    }
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(api_addr)
            .await
            .with_context(|| format!("cannot bind the API on {api_addr}"))?;
        eprintln!(
            "hearth controller: beacons on udp {}, API on http://{}",
            state.local_addr(),
            listener.local_addr().unwrap_or(api_addr)
        );
        let app = api::app(state.clone());
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("serving the API")?;
        state.stop();
        Ok(())
    })
}

fn args_loop(
    args: &ControllerArgs,
    data_dir: &std::path::Path,
) -> crate::controller_loop::LoopArgs {
    crate::controller_loop::LoopArgs {
        data_dir: data_dir.to_path_buf(),
        site: args.site.clone(),
        hosts: args.hosts.clone(),
        mode: args.mode,
        interval_s: args.interval_s,
        token_file: args.token_file.clone(),
        policy: args.policy.clone(),
        cycles: args.cycles,
    }
}

/// Output formats of `hearth status`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum StatusFormat {
    /// A table for people.
    Table,
    /// One JSON object per node per line.
    Json,
}

/// `hearth status` flags.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The controller's API address.
    #[arg(long, value_name = "ADDR:PORT")]
    api: SocketAddr,
    /// Output format.
    #[arg(long, value_enum, default_value_t = StatusFormat::Table)]
    format: StatusFormat,
}

/// `hearth select` flags.
#[derive(Args, Debug)]
pub struct SelectArgs {
    /// The controller's API address.
    #[arg(long, value_name = "ADDR:PORT")]
    api: SocketAddr,
    /// Selection mode.
    #[arg(long, value_enum)]
    mode: SelectMode,
}

/// Selection modes.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SelectMode {
    /// Most available node (load balancing).
    Balance,
    /// Least available node (power management: consolidate).
    Power,
    /// From agents' single blended stream: as α says (1 balance, 0 power).
    Blended,
}

fn get(api: SocketAddr, path: &str) -> Result<(u16, String)> {
    let url = format!("http://{api}{path}");
    let agent = http_agent(Duration::from_secs(5));
    let mut response =
        agent.get(&url).call().map_err(|e| anyhow!("cannot reach the controller at {url}: {e}"))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|e| anyhow!("reading the answer of {url}: {e}"))?;
    Ok((status, body))
}

/// A blocking HTTP client (plain HTTP) that answers every status instead of erroring, giving
/// up on a request after `timeout`: the CLI's clients of the controller's and the pool's APIs.
pub(crate) fn http_agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into()
}

/// The `error` of a JSON error body, else the body itself.
pub(crate) fn error_of(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or_else(|| body.trim().to_string())
}

/// Prints the controller's view of every node.
pub fn status(args: StatusArgs) -> Result<()> {
    let (code, body) = get(args.api, "/v1/beacons/nodes")?;
    if code != 200 {
        bail!("controller at {} answered {code}: {}", args.api, error_of(&body));
    }
    let snapshot: serde_json::Value =
        serde_json::from_str(&body).context("the controller's status is not JSON")?;
    let nodes = snapshot["nodes"].as_array().cloned().unwrap_or_default();
    let rejected = snapshot["rejected"].clone();
    match args.format {
        StatusFormat::Json => {
            for node in nodes {
                let mut object = node.as_object().cloned().unwrap_or_default();
                object.insert("rejected_by_reason".into(), rejected.clone());
                object.insert("accepted".into(), snapshot["accepted"].clone());
                println!("{}", serde_json::Value::Object(object));
            }
        }
        StatusFormat::Table => {
            println!(
                "{:>8} {:>12} {:>16} {:>10} {:>11} {:>5}",
                "node", "availability", "interval", "rate_hz", "last_seen_s", "lost"
            );
            let num = |v: &serde_json::Value, digits: usize| {
                v.as_f64().map_or("-".to_string(), |x| format!("{x:.digits$}"))
            };
            for node in &nodes {
                let interval = match node["availability_interval"].as_array() {
                    Some(pair) if pair.len() == 2 => {
                        format!("[{}, {}]", num(&pair[0], 2), num(&pair[1], 2))
                    }
                    _ => "-".into(),
                };
                println!(
                    "{:>8} {:>12} {:>16} {:>10} {:>11} {:>5}",
                    node["node_id"],
                    num(&node["availability_estimate"], 3),
                    interval,
                    num(&node["beacon_rate_hz"], 2),
                    num(&node["last_seen_s"], 1),
                    if node["lost"].as_bool() == Some(true) { "yes" } else { "no" }
                );
            }
            println!("accepted {}", snapshot["accepted"]);
            let reasons: Vec<String> = rejected
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter(|(_, v)| v.as_u64().unwrap_or(0) > 0)
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect()
                })
                .unwrap_or_default();
            println!(
                "rejected {}",
                if reasons.is_empty() { "none".to_string() } else { reasons.join(", ") }
            );
        }
    }
    Ok(())
}

/// Prints one node ID chosen by the controller.
pub fn select(args: SelectArgs) -> Result<()> {
    let mode = match args.mode {
        SelectMode::Balance => "balance",
        SelectMode::Power => "power",
        SelectMode::Blended => "blended",
    };
    let (code, body) = get(args.api, &format!("/v1/beacons/select?mode={mode}"))?;
    if code != 200 {
        bail!("controller at {} answered {code}: {}", args.api, error_of(&body));
    }
    let value: serde_json::Value =
        serde_json::from_str(&body).context("the controller's answer is not JSON")?;
    let node = value["node_id"].as_u64().context("the controller's answer has no node_id")?;
    println!("{node}");
    Ok(())
}

/// `hearth alpha` flags.
#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("change").args(["set", "release"]))]
pub struct AlphaArgs {
    /// The controller's API address.
    #[arg(long, value_name = "ADDR:PORT")]
    api: SocketAddr,
    /// Set α for every agent (in [0, 1]), instead of their schedules.
    #[arg(long, value_name = "ALPHA")]
    set: Option<f64>,
    /// With --set: for this many seconds (default: until released).
    #[arg(long = "for", value_name = "SECONDS", requires = "set")]
    for_s: Option<f64>,
    /// Release the override: agents return to their own schedules.
    #[arg(long)]
    release: bool,
}

/// Shows, sets or releases the α the controller sets for the agents; prints the override as
/// JSON.
pub fn alpha(args: AlphaArgs) -> Result<()> {
    let url = format!("http://{}/v1/beacons/alpha", args.api);
    let agent = http_agent(Duration::from_secs(5));
    let result = match (args.set, args.release) {
        (Some(alpha), _) => agent
            .put(&url)
            .header("content-type", "application/json")
            .send(serde_json::json!({ "alpha": alpha, "for_s": args.for_s }).to_string()),
        (None, true) => agent.delete(&url).call(),
        (None, false) => agent.get(&url).call(),
    };
    let mut response = result.map_err(|e| anyhow!("cannot reach the controller at {url}: {e}"))?;
    let code = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|e| anyhow!("reading the answer of {url}: {e}"))?;
    if code != 200 {
        bail!("controller at {} answered {code}: {}", args.api, error_of(&body));
    }
    println!("{}", body.trim());
    Ok(())
}
