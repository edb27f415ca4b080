//! `hearth agent`: the per-host daemon. It reads the agent config (docs/agent.md), with flags
//! overriding the file, and the cluster key file. It starts the beacon loop
//! (`agent::run::Agent`) on its own thread and serves the loop's status on
//! `GET /v1/agent/status` at `status_listen`. It runs until SIGINT or SIGTERM.

use agent::config::{read_key_file, AgentConfig};
use agent::measure::FakeLoad;
use agent::run::{Agent, Options};
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// `hearth agent` flags: a config file, its required keys overridable by flags.
#[derive(Args, Debug)]
pub struct AgentArgs {
    /// Agent config (TOML; docs/agent.md). Without it, --node-id, --send-to and --key-file are
    /// required and every other key takes its default.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// This node's ID on the wire (0 to 2³²−1).
    #[arg(long, value_name = "ID")]
    node_id: Option<u32>,
    /// Where beacons go: one receiver or several, comma-separated.
    #[arg(long, value_name = "ADDR:PORT[,ADDR:PORT...]", value_delimiter = ',')]
    send_to: Option<Vec<SocketAddr>>,
    /// Cluster key file (`key_id hex_key` lines).
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,
    /// Fixed storage, processor and communication use (and optionally memory), each in [0, 1],
    /// instead of measuring this host: for tests and demos.
    #[arg(long, value_name = "S,P,C")]
    fake_load: Option<FakeLoad>,
    /// Which beacon streams to send: `both` (RA-balance and RA-power, seed 003 FIG. 16) or
    /// `blended` (one stream at V = α·V_Balance + (1−α)·V_Power, FIG. 15).
    #[arg(long, value_name = "both|blended")]
    streams: Option<agent::config::Streams>,
    /// Pool mode (docs/pool.md): join the controller's pool with the token, offer this
    /// machine's surplus over the reserve, and run pool tasks. Needs --controller and
    /// --token-file.
    #[arg(long, requires_all = ["controller", "token_file"])]
    pool: bool,
    /// Pool mode: the controller's API (joins, task assignments, reports).
    #[arg(long, value_name = "ADDR:PORT", requires = "pool")]
    controller: Option<SocketAddr>,
    /// Pool mode: the token file the controller was given (its first token is used).
    #[arg(long, value_name = "PATH", requires = "pool")]
    token_file: Option<PathBuf>,
    /// Pool mode: what the owner keeps for local use (missing keys are 0).
    #[arg(long, value_name = "cpu=N,mem=SIZE[,disk=SIZE][,gpu=N]", requires = "pool")]
    reserve: Option<pool::reserve::Resources>,
    /// Pool mode: fix the owner's local use to this fraction of the machine (processor and
    /// memory), or read it from a file at every sample (`@PATH`), instead of measuring it.
    #[arg(long, value_name = "FRACTION|@PATH", requires = "pool")]
    fake_local_load: Option<agent::pool_host::LocalLoad>,
    /// Pool mode: the node's key and its tasks' working directories.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/hearth/agent", requires = "pool")]
    state_dir: PathBuf,
    /// Pool mode: the user pool tasks run as (default: `nobody` when the agent is root, else
    /// the agent's own user). Never root.
    #[arg(long, value_name = "USER", requires = "pool")]
    pool_user: Option<String>,
}

/// The config the flags and the file make together, validated.
fn agent_config(args: &AgentArgs) -> Result<AgentConfig> {
    let mut config = match &args.config {
        Some(path) => AgentConfig::read(path).map_err(|e| anyhow!("{e}"))?,
        None => {
            let missing: Vec<&str> = [
                ("--node-id", args.node_id.is_none()),
                ("--send-to", args.send_to.is_none()),
                ("--key-file", args.key_file.is_none()),
            ]
            .into_iter()
            .filter_map(|(flag, absent)| absent.then_some(flag))
            .collect();
            if !missing.is_empty() {
                bail!(
                    "give --config FILE, or --node-id, --send-to and --key-file (missing: {})",
                    missing.join(", ")
                );
            }
            AgentConfig::default_with(
                args.node_id.unwrap_or_default(),
                args.send_to.clone().unwrap_or_default(),
                args.key_file.clone().unwrap_or_default(),
            )
        }
    };
    if let Some(node_id) = args.node_id {
        config.node_id = node_id;
    }
    if let Some(send_to) = &args.send_to {
        config.send_to.clone_from(send_to);
    }
    if let Some(streams) = args.streams {
        config.streams = streams;
    }
    if let Some(key_file) = &args.key_file {
        config.key_file.clone_from(key_file);
    }
    if let Some(fake_load) = args.fake_load {
        config.fake_load = Some(fake_load);
    }
    config.validate().map_err(|e| anyhow!("agent config: {e}"))?;
    Ok(config)
}

/// Runs the agent until SIGINT or SIGTERM.
pub fn run(args: AgentArgs) -> Result<()> {
    let config = agent_config(&args)?;
    let ring = read_key_file(&config.key_file).map_err(|e| anyhow!("{e}"))?;
    let key = config.signing_key(&ring).map_err(|e| anyhow!("agent config: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut options = Options::default();
    let mut pool_agent = None;
    let mut pool_load = None;
    let mut pool_status = None;
    if args.pool {
        let token_file = args.token_file.clone().context("--pool needs --token-file")?;
        let token = crate::loop_cmd::first_token(&token_file)?;
        let pool = crate::pool_agent::PoolAgent::new(crate::pool_agent::PoolAgentArgs {
            controller: args.controller.context("--pool needs --controller")?,
            token,
            reserve: args.reserve.unwrap_or_default(),
            local_load: args
                .fake_local_load
                .clone()
                .unwrap_or(agent::pool_host::LocalLoad::Measured),
            state_dir: args.state_dir.clone(),
            user: args.pool_user.clone(),
            node_id: config.node_id,
        })?;
        let shared = agent::run::SharedLoad::new(FakeLoad {
            usage: agent::measure::Usage {
                storage: 1.0,
                processor: 1.0,
                communication: 0.0,
                memory: 1.0,
            },
        });
        options = Options {
            capacity: agent::run::CapacitySource::Fixed(pool.capacity().cpu),
            load: Some(shared.clone()),
        };
        pool_load = Some(shared);
        pool_status = Some(pool.status());
        pool_agent = Some(pool);
    }
    let agent = Agent::new(&config, key, options).map_err(|e| anyhow!("{e}"))?;
    let status = agent.status();
    let summary = agent.describe();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let mut terminate = signal(SignalKind::terminate()).context("handling SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("handling SIGINT")?;
        let listener =
            tokio::net::TcpListener::bind(config.status_listen).await.with_context(|| {
                format!("key `status_listen`: cannot serve the status on {}", config.status_listen)
            })?;
        let status_addr = listener.local_addr().unwrap_or(config.status_listen);
        eprintln!("hearth agent: {summary}; status on http://{status_addr}/v1/agent/status");

        let loop_stop = stop.clone();
        let mut beacon_loop = tokio::task::spawn_blocking(move || agent.run(&loop_stop));
        let status_fn: api::agent::StatusFn = Arc::new(move || {
            let mut value = serde_json::to_value(status.snapshot())
                .unwrap_or_else(|e| serde_json::json!({ "error": format!("status: {e}") }));
            // Pool mode: what the machine gives away now and why.
            if let (Some(pool), Some(object)) = (&pool_status, value.as_object_mut()) {
                let pool = pool.lock().unwrap_or_else(|p| p.into_inner()).clone();
                object.insert(
                    "pool".into(),
                    serde_json::to_value(pool)
                        .unwrap_or_else(|e| serde_json::json!({ "error": format!("pool: {e}") })),
                );
            }
            value
        });
        let server = axum::serve(listener, api::agent::agent_app(status_fn))
            .with_graceful_shutdown(async move {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = interrupt.recv() => {}
                }
            });
        let mut pool_loop = match (pool_agent, pool_load) {
            (Some(pool), Some(load)) => Some(crate::pool_agent::start(pool, load, stop.clone())),
            _ => None,
        };
        let pool_ended = async {
            match pool_loop.as_mut() {
                Some(handle) => handle.await,
                None => std::future::pending().await,
            }
        };
        let mut pool_result = None;
        tokio::select! {
            served = server => served.context("serving the status endpoint")?,
            ended = &mut beacon_loop => {
                ended.context("the beacon loop failed")?;
                bail!("the beacon loop ended without being stopped");
            }
            ended = pool_ended => pool_result = Some(ended),
        }
        stop.store(true, Ordering::Relaxed);
        beacon_loop.await.context("the beacon loop failed")?;
        match pool_result {
            // The pool loop ended on its own: only a fatal error ends it.
            Some(ended) => ended.context("the pool loop failed")?,
            None => match pool_loop {
                Some(handle) => handle.await.context("the pool loop failed")?,
                None => Ok(()),
            },
        }
    })
}
