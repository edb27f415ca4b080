//! `hearth controller --data-dir DIR`: the control loop beside the beacon receiver. It opens the
//! store, the drivers (today the simulated site of `--site`, whose state file outlives the
//! process; issue 8 adds real ones), replays the journal, then runs cycles and serves the API,
//! metrics and dashboard on the controller's `api` address until SIGINT/SIGTERM or `--cycles`.

use crate::loop_cmd;
use anyhow::{anyhow, bail, Context, Result};
use controller::beacons::BeaconState;
use controller::execute::PolicyClock;
use controller::observe::Drivers;
use controller::service::{Controller, LoopConfig};
use controller::shared::Mode;
use controller::topology::Topology;
use drivers::site::{Site, SiteSpec};
use drivers::UnixClock;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The loop's flags.
#[derive(Debug, Clone)]
pub struct LoopArgs {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The simulated site's spec.
    pub site: Option<PathBuf>,
    /// The real hosts file.
    pub hosts: Option<PathBuf>,
    /// Acting mode.
    pub mode: Mode,
    /// Policy seconds between cycles.
    pub interval_s: f64,
    /// Token file.
    pub token_file: Option<PathBuf>,
    /// A policy file to put in force.
    pub policy: Option<PathBuf>,
    /// Cycles to run, then exit.
    pub cycles: Option<u64>,
}

/// Reads a policy file and stores it as a new version if it differs from the latest.
fn apply_policy_file(store: &mut store::Store, path: &std::path::Path, at_ms: i64) -> Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the policy file {}", path.display()))?;
    let policy: controller::policy::ControllerPolicy =
        model::toml_text::from_toml(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    policy.validate().map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let body = serde_json::to_value(&policy).context("encoding the policy")?;
    let current = store.policy().map_err(|e| anyhow!("{e}"))?;
    if current.is_none_or(|c| c.body != body) {
        let version = store
            .put_policy(&body, &format!("file {}", path.display()), at_ms)
            .map_err(|e| anyhow!("{e}"))?;
        eprintln!(
            "hearth controller: policy from {} is version {}",
            path.display(),
            version.version
        );
    }
    Ok(())
}

/// The API tokens: from `token_file`, else from `DIR/api.token`, generated on the first start.
pub fn tokens(
    data_dir: &std::path::Path,
    token_file: Option<&std::path::Path>,
) -> Result<Vec<String>> {
    Ok(match token_file {
        Some(path) => loop_cmd::read_tokens(path)?,
        None => {
            let path = data_dir.join("api.token");
            if path.exists() {
                loop_cmd::read_tokens(&path)?
            } else {
                let token = loop_cmd::generate_token_file(&path)?;
                eprintln!("hearth controller: generated an API token in {}", path.display());
                vec![token]
            }
        }
    })
}

/// Runs the loop and the API.
pub fn run(
    args: &LoopArgs,
    runtime: &tokio::runtime::Runtime,
    beacons: Arc<BeaconState>,
    api_addr: SocketAddr,
) -> Result<()> {
    if !(args.interval_s.is_finite() && args.interval_s > 0.0) {
        bail!("--interval-s {}: expected a positive number of seconds", args.interval_s);
    }
    if args.site.is_none() && args.hosts.is_none() {
        bail!(
            "--data-dir needs drivers: give --hosts FILE (real hosts) or --site FILE (a simulated \
             site)"
        );
    }
    let mut store = loop_cmd::open_store(&args.data_dir)?;
    let tokens = tokens(&args.data_dir, args.token_file.as_deref())?;
    let clock: Arc<dyn drivers::Clock> = Arc::new(UnixClock);
    if let Some(path) = &args.policy {
        apply_policy_file(&mut store, path, (clock.now().as_secs_f64() * 1000.0) as i64)?;
    }
    let (topology, drivers, speed) = match (&args.site, &args.hosts) {
        (Some(site_spec), _) => {
            let state_file = args.data_dir.join("site.json");
            let site = if state_file.exists() {
                Site::open_file(&state_file, clock.clone()).map_err(|e| anyhow!("{e}"))?
            } else {
                let spec = SiteSpec::load(site_spec).map_err(|e| anyhow!("{e}"))?;
                Site::create_file(&state_file, spec, clock.clone()).map_err(|e| anyhow!("{e}"))?
            };
            let spec = site.spec();
            let topology = Topology::from_site(&spec).map_err(|e| anyhow!("{e}"))?;
            (topology, Drivers::from_site(Arc::new(site)), spec.speed)
        }
        (None, Some(hosts)) => {
            let file = crate::hosts_cmd::read_hosts(hosts)?;
            let topology = file.topology().map_err(|e| anyhow!("{}: {e}", hosts.display()))?;
            let routed = Arc::new(
                file.drivers(clock.clone(), &|var| std::env::var(var).ok())
                    .map_err(|e| anyhow!("{}: {e}", hosts.display()))?,
            );
            let drivers = Drivers {
                power: routed.clone(),
                sensors: routed.clone(),
                compute: routed,
                facility: None,
            };
            (topology, drivers, 1.0)
        }
        (None, None) => bail!(
            "--data-dir needs drivers: give --hosts FILE (real hosts) or --site FILE (a simulated \
             site)"
        ),
    };
    let n_hosts = topology.hosts.len();
    let config = LoopConfig {
        mode: args.mode,
        interval_s: args.interval_s,
        poll_every: Duration::from_millis(20),
        failpoint: loop_cmd::failpoint()?,
        ..LoopConfig::default()
    };
    let mut controller =
        Controller::open(config, topology, drivers, store, PolicyClock::new(clock, speed))
            .map_err(|e| anyhow!("{e}"))?;
    let recovery = controller.recover().map_err(|e| anyhow!("replaying the journal: {e}"))?;
    for (plan, status) in &recovery.plans {
        eprintln!("hearth controller: resumed plan {plan} from the journal: {status}");
    }
    let shared = controller.shared();
    let listener = runtime.block_on(loop_cmd::bind(api_addr))?;
    eprintln!(
        "hearth controller: loop in {} mode over {} hosts; beacons on udp {}, API and dashboard \
         on http://{}",
        args.mode,
        n_hosts,
        beacons.local_addr(),
        listener.local_addr().unwrap_or(api_addr)
    );
    let stop = Arc::new(AtomicBool::new(false));
    let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
    let server =
        runtime.spawn(loop_cmd::serve(listener, shared, Some(beacons), tokens, async move {
            let _ = shutdown_rx.await;
        }));
    let signal_stop = stop.clone();
    runtime.spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        if let (Ok(mut term), Ok(mut int)) =
            (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
        {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            signal_stop.store(true, Ordering::SeqCst);
        }
    });
    let cycles = args.cycles;
    let loop_stop = stop.clone();
    let result = std::thread::Builder::new()
        .name("hearth-loop".into())
        .spawn(move || controller.run(&loop_stop, cycles).map(|()| controller.totals()))
        .context("starting the control loop")?
        .join()
        .map_err(|_| anyhow!("the control loop panicked"))?;
    let _ = shutdown_tx.send(());
    let _ = runtime.block_on(server);
    let totals = result.map_err(|e| anyhow!("control loop: {e}"))?;
    eprintln!(
        "hearth controller: stopped after {} cycle(s): {} migration(s), {} power change(s), {} \
         failed",
        totals.cycles, totals.migrations, totals.power_changes, totals.actions_failed
    );
    Ok(())
}
