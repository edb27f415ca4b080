//! Pool mode's controller side and its clients (issue 7; docs/pool.md):
//! `hearth controller --pool` (the pool service, its scheduler tick and its routes beside the
//! beacon receiver), `hearth run` (a task on the pool or locally, seed 001 FIG. 10B),
//! `hearth tasks` and `hearth cancel`.

use crate::beacon_cmd::error_of;
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use controller::beacons::BeaconState;
use controller::pool::{unb64, PoolService};
use pool::proto::{OutputView, Placement, SubmitRequest, SubmitResponse};
use pool::reserve::Resources;
use pool::sched::{Task, TaskState};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The exit code of `hearth run` when the pool could not run the task (refused, failed,
/// cancelled): like `env` and `docker run`, 125 is not a code of the task's own.
pub const EXIT_NOT_RUN: u8 = 125;

/// What `hearth controller --pool` needs from the controller's flags.
pub struct PoolControllerArgs {
    /// The data directory (store, ledger, keys).
    pub data_dir: PathBuf,
    /// The token file (default DIR/api.token, generated).
    pub token_file: Option<PathBuf>,
    /// A member silent (no poll) this long is lost.
    pub silence: Duration,
}

/// Runs the pool controller until SIGINT or SIGTERM.
pub fn controller(
    args: PoolControllerArgs,
    runtime: &tokio::runtime::Runtime,
    beacons: Arc<BeaconState>,
    api_addr: SocketAddr,
) -> Result<()> {
    let store = crate::loop_cmd::open_store(&args.data_dir)?;
    let tokens = crate::controller_loop::tokens(&args.data_dir, args.token_file.as_deref())?;
    let key = controller_key(&args.data_dir)?;
    let (mut service, notes) =
        PoolService::open(&args.data_dir, store, key).map_err(|e| anyhow!("{e}"))?;
    // Placement asks the beacon selector first: the node whose beacons say it has the room.
    let selector = beacons.clone();
    service.set_selector(Box::new(move |request: &Resources| {
        selector.select_fit(controller::Mode::Balance, request.cpu).map(|n| n.0)
    }));
    for note in notes {
        eprintln!("hearth controller: {note}");
    }
    let report = service.ledger().report();
    eprintln!(
        "hearth controller: pool ledger {} holds {} entries (head {}); its public key is in {}",
        service.ledger_path().display(),
        report.entries,
        service.ledger().head(),
        args.data_dir.join("ledger.pub").display()
    );
    let api = api::pool::PoolApi::new(service);
    let listener = runtime.block_on(crate::loop_cmd::bind(api_addr))?;
    eprintln!(
        "hearth controller: pool mode; beacons on udp {}, API on http://{}",
        beacons.local_addr(),
        listener.local_addr().unwrap_or(api_addr)
    );
    let auth = api::Auth::new(tokens).map_err(|e| anyhow!("{e}"))?;
    let app = api::pool::pool_app(api.clone(), Some(beacons.clone()), auth);
    let stop = Arc::new(AtomicBool::new(false));
    let tick_stop = stop.clone();
    let tick_api = api.clone();
    let silence = args.silence;
    let ticker = std::thread::Builder::new()
        .name("hearth-pool".into())
        .spawn(move || scheduler(&tick_api, &beacons, silence, &tick_stop))
        .context("starting the pool scheduler")?;
    let served = runtime.block_on(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("handling SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("handling SIGINT")?;
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            })
            .await
            .context("serving the API")
    });
    stop.store(true, Ordering::SeqCst);
    let _ = ticker.join();
    served
}

/// The controller's ledger signing key, `DIR/ledger.key` (made on the first start), with its
/// public key written beside it as `DIR/ledger.pub`, for `hearth ledger verify`.
fn controller_key(data_dir: &std::path::Path) -> Result<pool::ledger::SigningKey> {
    let key = crate::ledger_cmd::key_file(&data_dir.join("ledger.key"))?;
    let public = data_dir.join("ledger.pub");
    let text = format!("{}\n", pool::ledger::keys::verifying_key_hex(&key.verifying_key()));
    if std::fs::read_to_string(&public).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(&public, text)
            .with_context(|| format!("cannot write {}", public.display()))?;
    }
    Ok(key)
}

/// The scheduler: every 200 ms, loses silent members and places queued tasks (through the
/// beacon selector the service was given).
fn scheduler(
    api: &api::pool::PoolApi,
    beacons: &BeaconState,
    silence: Duration,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::SeqCst) {
        let now = crate::clock::unix_ms();
        let lost: Vec<(u32, u64)> = beacons
            .snapshot()
            .nodes
            .iter()
            .filter(|n| n.lost)
            .map(|n| (n.node_id.0, now.saturating_sub((n.last_seen_s * 1000.0) as u64)))
            .collect();
        let silent_before = now.saturating_sub(silence.as_millis() as u64);
        let mut service = api.lock();
        if let Err(e) = service.tick(now, &lost, silent_before) {
            eprintln!("hearth controller: pool: {e}");
        }
        for event in service.take_events() {
            eprintln!("hearth controller: pool: {event}");
        }
        drop(service);
        crate::clock::sleep(Duration::from_millis(200));
    }
}

// ---------------------------------------------------------------------------------------------
// Clients

/// Where `hearth run` runs its task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum On {
    /// On the pool; refused if no node could ever hold it.
    Pool,
    /// Here, without asking the pool.
    Local,
    /// On the pool if a node has room now, else here.
    Auto,
}

/// The controller's address and token, shared by the clients.
#[derive(Args, Debug, Clone)]
pub struct ApiArgs {
    /// The controller's API address.
    #[arg(long, value_name = "ADDR:PORT")]
    api: SocketAddr,
    /// The API token file (its first token is used).
    #[arg(long, value_name = "PATH")]
    token_file: PathBuf,
}

/// `hearth run` flags.
#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    api: ApiArgs,
    /// Processor cores the task needs (fractions allowed).
    #[arg(long, default_value_t = 1.0, value_name = "N")]
    cpu: f64,
    /// Memory the task needs (`512M`, `2GiB`; a bare number is MiB).
    #[arg(long, default_value = "256MiB", value_name = "SIZE")]
    mem: String,
    /// Where to run it.
    #[arg(long, value_enum, default_value_t = On::Auto)]
    on: On,
    /// How many times the pool runs it again if its node is lost or cannot start it.
    #[arg(long, default_value_t = 2, value_name = "N")]
    retries: u32,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<String>,
}

/// `hearth tasks` flags.
#[derive(Args, Debug)]
pub struct TasksArgs {
    #[command(flatten)]
    api: ApiArgs,
    /// Print JSON (one array) instead of a table.
    #[arg(long)]
    json: bool,
}

/// `hearth members` flags.
#[derive(Args, Debug)]
pub struct MembersArgs {
    #[command(flatten)]
    api: ApiArgs,
    /// Print JSON (one array) instead of a table.
    #[arg(long)]
    json: bool,
}

/// `hearth cancel` flags.
#[derive(Args, Debug)]
pub struct CancelArgs {
    #[command(flatten)]
    api: ApiArgs,
    /// The task ID (`hearth tasks` lists them).
    id: String,
}

struct Client {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Client {
    fn new(args: &ApiArgs) -> Result<Client> {
        let token = crate::loop_cmd::first_token(&args.token_file)?;
        let agent = crate::beacon_cmd::http_agent(Duration::from_secs(10));
        Ok(Client { base: format!("http://{}", args.api), token, agent })
    }

    fn call(&self, method: &str, path: &str, body: Option<String>) -> Result<(u16, String)> {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let result = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("authorization", &auth).call(),
            (_, Some(body)) => self
                .agent
                .post(&url)
                .header("authorization", &auth)
                .header("content-type", "application/json")
                .send(body),
            (_, None) => self.agent.post(&url).header("authorization", &auth).send_empty(),
        };
        let mut response =
            result.map_err(|e| anyhow!("cannot reach the controller at {url}: {e}"))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| anyhow!("reading the answer of {url}: {e}"))?;
        if status == 401 {
            bail!(
                "the controller at {} refused the token from the token file: {}",
                self.base,
                error_of(&text)
            );
        }
        Ok((status, text))
    }
}

/// Runs the command here, with this process's standard streams; its exit code.
fn run_locally(command: &[String]) -> Result<u8> {
    let status = std::process::Command::new(&command[0])
        .args(&command[1..])
        .status()
        .with_context(|| format!("cannot run `{}` locally", command[0]))?;
    Ok(exit_code(status))
}

fn exit_code(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(signal)) => 128u8.wrapping_add(signal as u8),
        (None, None) => 1,
    }
}

/// `hearth run`: the task's exit code (or [`EXIT_NOT_RUN`]); where it ran goes to stderr.
pub fn run(args: RunArgs) -> Result<u8> {
    let mem_mib = pool::reserve::parse_size_mib(&args.mem)
        .map_err(|e| anyhow!("--mem `{}`: {e}", args.mem))?;
    if !(args.cpu.is_finite() && args.cpu > 0.0) {
        bail!("--cpu {}: expected a number of cores > 0", args.cpu);
    }
    if args.on == On::Local {
        let code = run_locally(&args.command)?;
        eprintln!("hearth run: ran locally (--on local), exit code {code}");
        return Ok(code);
    }
    let client = Client::new(&args.api)?;
    let request = SubmitRequest {
        argv: args.command.clone(),
        request: Resources { cpu: args.cpu, mem_mib, disk_mib: 0, gpu: 0 },
        on: if args.on == On::Pool { Placement::Pool } else { Placement::Auto },
        retries: args.retries,
    };
    let body = serde_json::to_string(&request).context("encoding the task")?;
    let (status, text) = client.call("POST", "/api/v1/pool/tasks", Some(body))?;
    let answer: SubmitResponse = match status {
        201 | 422 => serde_json::from_str(&text).with_context(|| {
            format!("the controller's answer is not a submission answer: {text}")
        })?,
        _ => bail!("the controller refused the task ({status}): {}", error_of(&text)),
    };
    let Some(id) = answer.id else {
        let reason = answer.reason.unwrap_or_default();
        if args.on == On::Auto {
            eprintln!("hearth run: the pool has no room ({reason}); running locally");
            let code = run_locally(&args.command)?;
            eprintln!("hearth run: ran locally, exit code {code}");
            return Ok(code);
        }
        eprintln!("hearth run: the pool cannot run this task: {reason}");
        return Ok(EXIT_NOT_RUN);
    };
    eprintln!("hearth run: task {id} submitted to the pool");
    let interrupted = on_interrupt();
    follow(&client, &id, &interrupted)
}

/// A flag raised on SIGINT or SIGTERM (a thread waits for them), so that `hearth run` cancels
/// its pool task instead of leaving it running when the user gives up.
fn on_interrupt() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let raised = flag.clone();
    let _ = std::thread::Builder::new().name("hearth-run-signals".into()).spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            return;
        };
        runtime.block_on(async {
            use tokio::signal::unix::{signal, SignalKind};
            if let (Ok(mut term), Ok(mut int)) =
                (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
            {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                raised.store(true, Ordering::SeqCst);
            }
        });
    });
    flag
}

/// Streams the task's output until it ends; its exit code.
fn follow(client: &Client, id: &str, interrupted: &AtomicBool) -> Result<u8> {
    let (mut out_at, mut err_at) = (0u64, 0u64);
    let mut attempt = 0u32;
    let mut node: Option<String> = None;
    let mut failures = 0;
    loop {
        if interrupted.load(Ordering::SeqCst) {
            let cancelled = client.call("POST", &format!("/api/v1/pool/tasks/{id}/cancel"), None);
            match cancelled {
                Ok((200, _)) => eprintln!("hearth run: interrupted: cancelled task {id}"),
                Ok((status, text)) => eprintln!(
                    "hearth run: interrupted, but cancelling task {id} failed ({status}): {}",
                    error_of(&text)
                ),
                Err(e) => {
                    eprintln!("hearth run: interrupted, but cancelling task {id} failed: {e:#}")
                }
            }
            return Ok(130);
        }
        let path =
            format!("/api/v1/pool/tasks/{id}/output?stdout_from={out_at}&stderr_from={err_at}");
        let view: OutputView = match client.call("GET", &path, None) {
            Ok((200, text)) => {
                failures = 0;
                serde_json::from_str(&text).with_context(|| {
                    format!("the controller's output answer is not JSON: {text}")
                })?
            }
            Ok((status, text)) => {
                bail!("task {id}: the controller answered {status}: {}", error_of(&text))
            }
            Err(e) => {
                failures += 1;
                if failures > 50 {
                    return Err(e);
                }
                crate::clock::sleep(Duration::from_millis(200));
                continue;
            }
        };
        if view.attempt != attempt && view.attempt > 0 {
            if attempt > 0 {
                eprintln!(
                    "hearth run: task {id} runs again: attempt {} on {} (attempt {attempt} was on {}); its output starts over",
                    view.attempt,
                    view.node.as_deref().unwrap_or("?"),
                    node.as_deref().unwrap_or("?")
                );
                out_at = 0;
                err_at = 0;
                attempt = view.attempt;
                node = view.node.clone();
                continue;
            }
            attempt = view.attempt;
        }
        if view.node.is_some() {
            node = view.node.clone();
        }
        let stdout = unb64(&view.stdout, "stdout").map_err(|e| anyhow!("{e}"))?;
        let stderr = unb64(&view.stderr, "stderr").map_err(|e| anyhow!("{e}"))?;
        if !stdout.is_empty() {
            let mut out = std::io::stdout().lock();
            out.write_all(&stdout).and_then(|()| out.flush()).context("writing stdout")?;
        }
        if !stderr.is_empty() {
            let mut err = std::io::stderr().lock();
            err.write_all(&stderr).and_then(|()| err.flush()).context("writing stderr")?;
        }
        out_at = view.stdout_end;
        err_at = view.stderr_end;
        let on = node.as_deref().unwrap_or("no node");
        match view.state {
            TaskState::Finished => {
                let code = view.exit_code.unwrap_or(1);
                eprintln!("hearth run: task {id} ran on the pool, on {on} (attempt {attempt}), exit code {code}");
                return Ok(code.clamp(0, 255) as u8);
            }
            TaskState::Failed | TaskState::Cancelled => {
                eprintln!(
                    "hearth run: task {id} did not complete on the pool ({}; last on {on}): {}",
                    if view.state == TaskState::Failed { "failed" } else { "cancelled" },
                    view.reason.unwrap_or_default()
                );
                return Ok(EXIT_NOT_RUN);
            }
            _ => crate::clock::sleep(Duration::from_millis(150)),
        }
    }
}

/// `hearth tasks`: the pool's tasks.
pub fn tasks(args: TasksArgs) -> Result<()> {
    let client = Client::new(&args.api)?;
    let (status, text) = client.call("GET", "/api/v1/pool/tasks", None)?;
    if status != 200 {
        bail!("the controller answered {status}: {}", error_of(&text));
    }
    let tasks: Vec<Task> =
        serde_json::from_str(&text).with_context(|| format!("not a task list: {text}"))?;
    if args.json {
        println!("{}", serde_json::to_string(&tasks).context("encoding the tasks")?);
        return Ok(());
    }
    println!(
        "{:<6} {:<10} {:<6} {:>7} {:>4} {:<28} command",
        "id", "state", "node", "attempt", "exit", "needs"
    );
    for task in tasks {
        let node = task.node.clone().or_else(|| task.history.last().map(|r| r.node.clone()));
        println!(
            "{:<6} {:<10} {:<6} {:>7} {:>4} {:<28} {}",
            task.id,
            format!("{:?}", task.state).to_lowercase(),
            node.unwrap_or_else(|| "-".into()),
            task.attempt,
            task.exit_code.map_or("-".into(), |c| c.to_string()),
            format!("cpu={},mem={}MiB", task.request.cpu, task.request.mem_mib),
            task.argv.join(" ")
        );
    }
    Ok(())
}

/// `hearth members`: the pool's members in rank order (benchmark score), then former ones.
pub fn members(args: MembersArgs) -> Result<()> {
    let client = Client::new(&args.api)?;
    let (status, text) = client.call("GET", "/api/v1/pool/members", None)?;
    if status != 200 {
        bail!("the controller answered {status}: {}", error_of(&text));
    }
    let members: Vec<pool::sched::Member> =
        serde_json::from_str(&text).with_context(|| format!("not a member list: {text}"))?;
    if args.json {
        println!("{}", serde_json::to_string(&members).context("encoding the members")?);
        return Ok(());
    }
    println!(
        "{:<5} {:>6} {:>6} {:<8} {:<9} {:<34} {:<34} state",
        "id", "beacon", "score", "isolation", "user", "surplus", "reserve"
    );
    for m in members {
        println!(
            "{:<5} {:>6} {:>6.0} {:<8} {:<9} {:<34} {:<34} {}",
            m.id,
            m.beacon_node,
            m.score,
            m.isolation,
            m.user,
            m.surplus.to_string(),
            m.reserve.to_string(),
            if m.active { "member".to_string() } else { m.left_reason.unwrap_or_default() }
        );
    }
    Ok(())
}

/// `hearth cancel`: cancels a task; prints its new state.
pub fn cancel(args: CancelArgs) -> Result<()> {
    let client = Client::new(&args.api)?;
    let (status, text) =
        client.call("POST", &format!("/api/v1/pool/tasks/{}/cancel", args.id), None)?;
    if status != 200 {
        bail!("cannot cancel task {}: {}", args.id, error_of(&text));
    }
    let task: Task = serde_json::from_str(&text).with_context(|| format!("not a task: {text}"))?;
    println!("task {}: {}", task.id, format!("{:?}", task.state).to_lowercase());
    Ok(())
}
