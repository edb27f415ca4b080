//! `hearth agent --pool`: the node side of pool mode (issue 7; docs/pool.md). On its own thread
//! beside the beacon loop, it:
//!
//! 1. keeps the node's Ed25519 key in `STATE_DIR/node.key` (made on the first start), runs the
//!    benchmark and joins the controller with the token; the same key always gets the same
//!    machine ID;
//! 2. every half second, samples the owner's local use (measured, or `--fake-local-load`),
//!    predicts it (EWMA with margin; a rise is followed at once), and computes the surplus
//!    `capacity − max(reserve, predicted)`. The beacons advertise what is free of it (the
//!    beacon loop's load is set from it), never the raw capacity;
//! 3. evicts its newest pool task while the tasks placed here no longer fit the surplus (the
//!    owner reclaimed the reserve), reporting a `task_move`;
//! 4. polls the controller: starts the attempts assigned to it (under [`agent::pool_exec`]'s
//!    isolation), stops the ones it is told to, uploads output, and reports starts, finishes,
//!    failures and moves as ledger entries it signs with its key for the head the controller
//!    gave;
//! 5. takes no answer whose MAC does not verify under its token (an unauthenticated
//!    controller's tasks never run), and stops its tasks after [`ORPHAN_AFTER`] without a
//!    controller (they run again elsewhere).

use agent::measure::{FakeLoad, Usage};
use agent::pool_exec::{ExecConfig, Executor, RunningTask, TaskSpec};
use agent::pool_host::{LocalLoad, LocalUseSampler};
use agent::run::SharedLoad;
use anyhow::{anyhow, bail, Context, Result};
use controller::pool::b64;
use pool::ledger::{Entry, EntryHash, Kind, Signature, SigningKey};
use pool::proto::{
    AttemptRef, Head, JoinRequest, JoinResponse, OutputRequest, PollRequest, PollResponse,
    ReportRequest, ReportResponse, MAC_HEADER,
};
use pool::reserve::{Predictor, PredictorParams, Resources};
use serde_json::{Map, Value};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long tasks keep running without reaching the controller: after that they are stopped
/// (the controller has retried them elsewhere).
pub const ORPHAN_AFTER: Duration = Duration::from_secs(20);

/// The pool loop's period.
const TICK: Duration = Duration::from_millis(500);

/// The pool side's state for the agent's status endpoint (`pool` in `GET /v1/agent/status`):
/// what the machine gives away now and why.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PoolStatus {
    /// The machine ID, once joined.
    pub machine_id: Option<String>,
    /// The machine's capacity.
    pub capacity: Resources,
    /// The owner's reserve.
    pub reserve: Resources,
    /// The owner's local use at the last sample.
    pub local_use: Resources,
    /// The prediction of the owner's use (EWMA with margin).
    pub predicted_local_use: Resources,
    /// capacity − max(reserve, prediction).
    pub surplus: Resources,
    /// The surplus not taken by running tasks: what the beacons advertise.
    pub free: Resources,
    /// The benchmark score.
    pub score: f64,
    /// `cgroup2`, `cgroup1` or `rlimits`.
    pub isolation: String,
    /// The user tasks run as.
    pub user: String,
    /// The attempts running here.
    pub running: Vec<AttemptRef>,
    /// Tasks evicted so far because the owner reclaimed the reserve.
    pub evictions: u64,
    /// Seconds since the controller last answered.
    pub since_contact_s: f64,
    /// The last error, until a tick succeeds.
    pub error: Option<String>,
}

/// A [`PoolStatus`] the pool loop writes and the status endpoint reads.
pub type PoolStatusHandle = Arc<std::sync::Mutex<PoolStatus>>;

/// What the pool side of the agent needs.
#[derive(Debug, Clone)]
pub struct PoolAgentArgs {
    /// The controller's API.
    pub controller: SocketAddr,
    /// The token (the first of the token file).
    pub token: String,
    /// The owner's reserve.
    pub reserve: Resources,
    /// Where the owner's local use comes from.
    pub local_load: LocalLoad,
    /// The node's key and its tasks' working directories.
    pub state_dir: PathBuf,
    /// The user tasks run as (default `nobody` when root).
    pub user: Option<String>,
    /// The beacon node ID.
    pub node_id: u32,
}

/// The pool side, set up: its first errors (a reserve larger than the machine, no usable task
/// user) come out of [`PoolAgent::new`], before anything runs.
pub struct PoolAgent {
    status: PoolStatusHandle,
    args: PoolAgentArgs,
    key: SigningKey,
    capacity: Resources,
    executor: Executor,
    score: f64,
    http: ureq::Agent,
}

struct Running {
    task: RunningTask,
    request: Resources,
    cpu_seconds: f64,
}

struct Report {
    kind: Kind,
    task: Option<String>,
    attempt: u32,
    detail: Map<String, Value>,
}

/// An error the agent cannot get past by retrying (the controller refused its token): the
/// agent exits with it.
#[derive(Debug)]
pub struct Fatal(pub String);

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Fatal {}

enum Answer {
    Ok(u16, Vec<u8>),
    Unauthenticated(String),
}

impl PoolAgent {
    /// Sets up: the state directory and key, the capacity (the reserve must fit it), the
    /// executor and its isolation, and the benchmark score.
    pub fn new(args: PoolAgentArgs) -> Result<PoolAgent> {
        std::fs::create_dir_all(&args.state_dir)
            .with_context(|| format!("--state-dir: cannot create {}", args.state_dir.display()))?;
        let key = crate::ledger_cmd::key_file(&args.state_dir.join("node.key"))?;
        let capacity =
            agent::pool_host::probe_capacity(&args.state_dir).map_err(|e| anyhow!("{e}"))?;
        pool::reserve::reserve_fits(&capacity, &args.reserve).map_err(|e| {
            anyhow!("--reserve {}: {e} (this machine has {capacity})", args.reserve)
        })?;
        let helper = std::env::current_exe().context("cannot find the hearth binary")?;
        let executor = Executor::new(ExecConfig {
            helper,
            state_dir: args.state_dir.clone(),
            user: args.user.clone(),
            agent_id: format!("n{}", args.node_id),
        })
        .map_err(|e| anyhow!("pool tasks: {e}"))?;
        // What a crashed run of this agent left (tasks, cgroups, working directories) goes
        // first: its tasks were retried elsewhere when it fell silent.
        let reclaimed = executor.reclaim();
        if reclaimed > 0 {
            eprintln!("hearth agent: pool: removed {reclaimed} task leftover(s) of an earlier run");
        }
        let bench = agent::bench::run(agent::bench::DEFAULT_ROUNDS, agent::bench::DEFAULT_WORK);
        let http = crate::beacon_cmd::http_agent(Duration::from_secs(5));
        let (user, uid, _) = executor.user();
        eprintln!(
            "hearth agent: pool: capacity {capacity}, reserve {}, local use {}, benchmark score \
             {:.0} (spread {:.1}% over {} rounds), tasks run as {user} (uid {uid}) under {}",
            args.reserve,
            args.local_load,
            bench.score,
            bench.spread * 100.0,
            bench.rounds.len(),
            executor.isolation()
        );
        let (user, _, _) = executor.user();
        let status = Arc::new(std::sync::Mutex::new(PoolStatus {
            capacity,
            reserve: args.reserve,
            score: bench.score,
            isolation: executor.isolation().to_string(),
            user,
            ..PoolStatus::default()
        }));
        Ok(PoolAgent { status, args, key, capacity, executor, score: bench.score, http })
    }

    /// The handle the status endpoint reads.
    pub fn status(&self) -> PoolStatusHandle {
        self.status.clone()
    }

    fn publish(&self, state: &LoopState, error: Option<String>) {
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        status.machine_id.clone_from(&state.machine);
        status.local_use = state.local;
        status.predicted_local_use = state.predicted;
        status.surplus = state.surplus;
        status.free = state.surplus.saturating_sub(&state.placed());
        status.running = state
            .running
            .iter()
            .map(|r| AttemptRef { task: r.task.id().to_string(), attempt: r.task.attempt() })
            .collect();
        status.evictions = state.evictions;
        status.since_contact_s = state.last_contact.elapsed().as_secs_f64();
        status.error = error;
    }

    /// The capacity the beacons report.
    pub fn capacity(&self) -> Resources {
        self.capacity
    }

    fn post<T: serde::Serialize>(&self, path: &str, body: &T, nonce: &str) -> Result<Answer> {
        let url = format!("http://{}{path}", self.args.controller);
        let text = serde_json::to_string(body).context("encoding a request")?;
        let mut response = self
            .http
            .post(&url)
            .header("authorization", &format!("Bearer {}", self.args.token))
            .header("content-type", "application/json")
            .send(text)
            .map_err(|e| anyhow!("cannot reach the controller at {url}: {e}"))?;
        let status = response.status().as_u16();
        let mac =
            response.headers().get(MAC_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
        let bytes = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .map_err(|e| anyhow!("reading the answer of {url}: {e}"))?;
        if status == 401 {
            return Err(anyhow::Error::new(Fatal(format!(
                "the controller at {} refused our token ({}): check --token-file",
                self.args.controller,
                String::from_utf8_lossy(&bytes).trim()
            ))));
        }
        match mac {
            Some(mac) if pool::proto::mac_matches(&self.args.token, nonce, &bytes, &mac) => {
                Ok(Answer::Ok(status, bytes))
            }
            Some(_) => Ok(Answer::Unauthenticated(format!(
                "{url} answered with a MAC that does not verify under our token"
            ))),
            None => Ok(Answer::Unauthenticated(format!("{url} answered without a MAC"))),
        }
    }

    fn join(&self) -> Result<JoinResponse> {
        let nonce = crate::loop_cmd::random_hex(16)?;
        let (user, _, _) = self.executor.user();
        let request = JoinRequest {
            public_key: pool::ledger::keys::verifying_key_hex(&self.key.verifying_key()),
            beacon_node: self.args.node_id,
            score: self.score,
            capacity: self.capacity,
            reserve: self.args.reserve,
            isolation: self.executor.isolation().to_string(),
            user,
            nonce: nonce.clone(),
        };
        match self.post("/api/v1/pool/join", &request, &nonce)? {
            Answer::Unauthenticated(why) => {
                bail!("refusing the controller: {why}; it does not hold our token")
            }
            Answer::Ok(200, body) => {
                serde_json::from_slice(&body).context("the controller's join answer is not JSON")
            }
            Answer::Ok(status, body) => bail!(
                "the controller refused the join ({status}): {}",
                String::from_utf8_lossy(&body).trim()
            ),
        }
    }

    /// Runs until `stop`: joins (retrying while the controller is unreachable), then ticks.
    /// The `shared` load is what the beacon loop advertises.
    pub fn run(self, shared: &SharedLoad, stop: &AtomicBool) -> Result<()> {
        let mut state = LoopState {
            machine: None,
            head: None,
            running: Vec::new(),
            outbox: VecDeque::new(),
            last_contact: crate::clock::now(),
            sampler: LocalUseSampler::new(self.args.local_load.clone(), self.capacity),
            predictor: Predictor::new(PredictorParams::default()),
            last_tick: crate::clock::now(),
            local: Resources::ZERO,
            predicted: Resources::ZERO,
            surplus: Resources::ZERO,
            evictions: 0,
            warned: None,
            sample_warned: None,
        };
        while !stop.load(Ordering::SeqCst) {
            let ticked = self.tick(&mut state, shared);
            self.publish(&state, ticked.as_ref().err().map(|e| format!("{e:#}")));
            match ticked {
                Ok(()) => state.warned = None,
                Err(e) if e.downcast_ref::<Fatal>().is_some() => {
                    for mut running in state.running.drain(..) {
                        running.task.kill();
                    }
                    return Err(e);
                }
                Err(e) => {
                    // Said once, not twice a second, until it changes or clears.
                    let message = format!("{e:#}");
                    if state.warned.as_deref() != Some(message.as_str()) {
                        eprintln!("hearth agent: pool: {message}");
                        state.warned = Some(message);
                    }
                }
            }
            crate::clock::sleep(TICK);
        }
        // Leaving: stop the tasks, then say so in the ledger (best effort).
        for mut running in state.running.drain(..) {
            running.task.kill();
        }
        if let Some(machine) = state.machine.clone() {
            state.outbox.clear();
            state.outbox.push_back(Report {
                kind: Kind::Leave,
                task: None,
                attempt: 0,
                detail: [("reason".to_string(), Value::from("its agent stopped"))]
                    .into_iter()
                    .collect(),
            });
            let _ = self.flush(&mut state, &machine);
        }
        Ok(())
    }

    fn tick(&self, state: &mut LoopState, shared: &SharedLoad) -> Result<()> {
        // 1. The owner's use, predicted, and the surplus.
        let elapsed = state.last_tick.elapsed().as_secs_f64().max(1e-3);
        state.last_tick = crate::clock::now();
        let (mut task_cores, mut task_rss) = (0.0, 0.0);
        for running in &mut state.running {
            let usage = running.task.usage();
            task_cores += (usage.cpu_seconds - running.cpu_seconds).max(0.0) / elapsed;
            running.cpu_seconds = usage.cpu_seconds;
            task_rss += usage.rss_mib;
        }
        match state.sampler.sample(task_cores, task_rss) {
            Ok(local) => {
                state.local = local;
                state.sample_warned = None;
            }
            Err(e) => {
                // Said once until it changes or clears, not twice a second.
                if state.sample_warned.as_deref() != Some(e.as_str()) {
                    eprintln!("hearth agent: pool: local use: {e} (keeping the last value)");
                    state.sample_warned = Some(e);
                }
            }
        }
        state.predicted = state.predictor.observe(&state.local);
        state.surplus =
            pool::reserve::surplus(&self.capacity, &self.args.reserve, &state.predicted);

        // 2. Enforce the reserve: evict the newest tasks until the rest fit.
        while !state.surplus.fits(&state.placed()) {
            let Some(mut evicted) = state.running.pop() else { break };
            state.evictions += 1;
            evicted.task.kill();
            let attempt = evicted.task.attempt();
            let id = evicted.task.id().to_string();
            eprintln!(
                "hearth agent: pool: evicted {id} attempt {attempt}: the owner's use ({}) \
                 reclaimed the reserve; surplus now {}",
                state.local, state.surplus
            );
            let (out, err) = evicted.task.take_output();
            if let Some(machine) = state.machine.clone() {
                let _ = self.upload(&machine, &id, attempt, &out, &err);
            }
            state.outbox.push_back(Report {
                kind: Kind::TaskMove,
                task: Some(id),
                attempt,
                detail: detail(&[
                    ("reason", Value::from("the owner's local use reclaimed the reserve")),
                    ("local_use", Value::from(state.local.to_string())),
                    ("surplus", Value::from(state.surplus.to_string())),
                ]),
            });
        }
        let room = state.surplus.saturating_sub(&state.placed());
        shared.set(self.advertised(&room));

        // 3. Orphaned tasks.
        if !state.running.is_empty() && state.last_contact.elapsed() > ORPHAN_AFTER {
            eprintln!(
                "hearth agent: pool: no controller for {} s: stopping {} task(s); they run \
                 again elsewhere",
                state.last_contact.elapsed().as_secs(),
                state.running.len()
            );
            for mut running in state.running.drain(..) {
                running.task.kill();
            }
            state.outbox.clear();
        }

        // 4. Join.
        let Some(machine) = state.machine.clone() else {
            let joined = self.join()?;
            eprintln!(
                "hearth agent: pool: joined as {} (rank {} of {} by benchmark score)",
                joined.machine_id, joined.rank, joined.members
            );
            state.machine = Some(joined.machine_id);
            state.head = Some(joined.ledger);
            state.last_contact = crate::clock::now();
            return Ok(());
        };

        // 5. Ended tasks: output first, then the finish.
        let mut index = 0;
        while index < state.running.len() {
            match state.running[index].task.try_wait() {
                Ok(Some(code)) => {
                    let mut ended = state.running.remove(index);
                    let deadline = crate::clock::now() + Duration::from_secs(2);
                    let (mut out, mut err) = (Vec::new(), Vec::new());
                    loop {
                        let (o, e) = ended.task.take_output();
                        out.extend(o);
                        err.extend(e);
                        if ended.task.output_done() || crate::clock::now() > deadline {
                            break;
                        }
                        crate::clock::sleep(Duration::from_millis(10));
                    }
                    let (id, attempt) = (ended.task.id().to_string(), ended.task.attempt());
                    let _ = self.upload(&machine, &id, attempt, &out, &err);
                    eprintln!("hearth agent: pool: {id} attempt {attempt} ended, exit code {code}");
                    state.outbox.push_back(Report {
                        kind: Kind::TaskFinish,
                        task: Some(id),
                        attempt,
                        detail: detail(&[("exit_code", Value::from(code))]),
                    });
                }
                Ok(None) => index += 1,
                Err(e) => {
                    eprintln!("hearth agent: pool: {e}");
                    index += 1;
                }
            }
        }
        for running in &mut state.running {
            let (out, err) = running.task.take_output();
            if !out.is_empty() || !err.is_empty() {
                let (id, attempt) = (running.task.id().to_string(), running.task.attempt());
                let _ = self.upload(&machine, &id, attempt, &out, &err);
            }
        }

        // 6. Poll: assignments and cancellations.
        let nonce = crate::loop_cmd::random_hex(16)?;
        let request = PollRequest {
            machine_id: machine.clone(),
            nonce: nonce.clone(),
            surplus: state.surplus,
            local_use: state.local,
            running: state
                .running
                .iter()
                .map(|r| AttemptRef { task: r.task.id().to_string(), attempt: r.task.attempt() })
                .collect(),
        };
        let answer = match self.post("/api/v1/pool/poll", &request, &nonce)? {
            Answer::Unauthenticated(why) => {
                bail!("refusing the controller's answer (its tasks do not run here): {why}")
            }
            // 410: lost or left; 404: unknown (the controller's data was reset). Join again.
            Answer::Ok(status @ (404 | 410), body) => {
                eprintln!(
                    "hearth agent: pool: no longer a member ({status}: {}); stopping {} task(s) \
                     and joining again",
                    String::from_utf8_lossy(&body).trim(),
                    state.running.len()
                );
                for mut running in state.running.drain(..) {
                    running.task.kill();
                }
                state.outbox.clear();
                state.machine = None;
                return Ok(());
            }
            Answer::Ok(200, body) => serde_json::from_slice::<PollResponse>(&body)
                .context("the controller's poll answer is not JSON")?,
            Answer::Ok(status, body) => {
                bail!(
                    "the controller answered the poll {status}: {}",
                    String::from_utf8_lossy(&body)
                )
            }
        };
        state.last_contact = crate::clock::now();
        state.head = Some(answer.ledger);
        for stop in answer.cancel {
            if let Some(i) = state
                .running
                .iter()
                .position(|r| r.task.id() == stop.task && r.task.attempt() == stop.attempt)
            {
                let mut running = state.running.remove(i);
                running.task.kill();
                eprintln!(
                    "hearth agent: pool: stopped {} attempt {}: the controller took it back",
                    stop.task, stop.attempt
                );
            }
        }
        for assignment in answer.assign {
            let AttemptRef { task, attempt } = assignment.attempt.clone();
            let room = state.surplus.saturating_sub(&state.placed());
            if !room.fits(&assignment.request) {
                state.outbox.push_back(Report {
                    kind: Kind::TaskMove,
                    task: Some(task),
                    attempt,
                    detail: detail(&[(
                        "reason",
                        Value::from(format!(
                            "no room here when it arrived: {} free, {} needed",
                            room, assignment.request
                        )),
                    )]),
                });
                continue;
            }
            let spec = TaskSpec {
                id: task.clone(),
                attempt,
                argv: assignment.argv.clone(),
                cpu: assignment.request.cpu,
                mem_mib: assignment.request.mem_mib,
            };
            match self.executor.start(&spec) {
                Ok(started) => {
                    eprintln!(
                        "hearth agent: pool: started {task} attempt {attempt} (pid {}): {:?}",
                        started.pid(),
                        assignment.argv
                    );
                    state.outbox.push_back(Report {
                        kind: Kind::TaskStart,
                        task: Some(task),
                        attempt,
                        detail: detail(&[
                            ("cpu", Value::from(assignment.request.cpu)),
                            ("mem_mib", Value::from(assignment.request.mem_mib)),
                            ("isolation", Value::from(self.executor.isolation().to_string())),
                        ]),
                    });
                    state.running.push(Running {
                        task: started,
                        request: assignment.request,
                        cpu_seconds: 0.0,
                    });
                }
                Err(e) => state.outbox.push_back(Report {
                    kind: Kind::TaskFail,
                    task: Some(task),
                    attempt,
                    detail: detail(&[("reason", Value::from(e.to_string()))]),
                }),
            }
        }
        let room = state.surplus.saturating_sub(&state.placed());
        shared.set(self.advertised(&room));

        // 7. Reports.
        self.flush(state, &machine)
    }

    /// What the beacons advertise: the free surplus as the use of the rest.
    fn advertised(&self, room: &Resources) -> FakeLoad {
        let used = |free: f64, total: f64| {
            if total > 0.0 {
                (1.0 - free / total).clamp(0.0, 1.0)
            } else {
                1.0
            }
        };
        FakeLoad {
            usage: Usage {
                storage: used(room.disk_mib as f64, self.capacity.disk_mib as f64),
                processor: used(room.cpu, self.capacity.cpu),
                communication: 0.0,
                memory: used(room.mem_mib as f64, self.capacity.mem_mib as f64),
            },
        }
    }

    fn upload(
        &self,
        machine: &str,
        task: &str,
        attempt: u32,
        out: &[u8],
        err: &[u8],
    ) -> Result<()> {
        if out.is_empty() && err.is_empty() {
            return Ok(());
        }
        let request = OutputRequest {
            machine_id: machine.to_string(),
            attempt: AttemptRef { task: task.to_string(), attempt },
            stdout: b64(out),
            stderr: b64(err),
        };
        self.post("/api/v1/pool/output", &request, "")?;
        Ok(())
    }

    /// Signs and sends the queued reports in order, each for the head the controller last
    /// gave; a moved head is signed for again (a few times), a stale report dropped.
    fn flush(&self, state: &mut LoopState, machine: &str) -> Result<()> {
        let mut tries = 0;
        while let Some(report) = state.outbox.front() {
            let Some(head) = state.head.clone() else { return Ok(()) };
            let prev: EntryHash = head
                .head
                .parse()
                .map_err(|e| anyhow!("the controller's head `{}`: {e}", head.head))?;
            let mut detail = report.detail.clone();
            if report.task.is_some() {
                detail.insert("attempt".into(), Value::from(report.attempt));
            }
            let entry = Entry {
                seq: head.next_seq,
                at_ms: crate::clock::unix_ms(),
                node: machine.to_string(),
                kind: report.kind,
                task: report.task.clone(),
                detail,
                prev,
                key: self.key.verifying_key(),
                sig: Signature::from_bytes(&[0; 64]),
            }
            .signed(&self.key);
            let nonce = crate::loop_cmd::random_hex(16)?;
            let request = ReportRequest {
                machine_id: machine.to_string(),
                nonce: nonce.clone(),
                attempt: report.attempt,
                line: entry.line(),
            };
            let (status, body) = match self.post("/api/v1/pool/report", &request, &nonce)? {
                Answer::Ok(status, body) => (status, body),
                Answer::Unauthenticated(why) => bail!("refusing the controller's answer: {why}"),
            };
            let answer: ReportResponse = serde_json::from_slice(&body).with_context(|| {
                format!("the controller's report answer ({status}) is not JSON")
            })?;
            state.head = Some(answer.ledger);
            if answer.appended || answer.stale {
                if answer.stale {
                    eprintln!(
                        "hearth agent: pool: the controller dropped our {} report: {}",
                        report.kind,
                        answer.error.unwrap_or_default()
                    );
                }
                state.outbox.pop_front();
                tries = 0;
            } else {
                tries += 1;
                if tries > 8 {
                    bail!("the ledger's head keeps moving: {}", answer.error.unwrap_or_default());
                }
            }
        }
        Ok(())
    }
}

fn detail(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

struct LoopState {
    machine: Option<String>,
    head: Option<Head>,
    running: Vec<Running>,
    outbox: VecDeque<Report>,
    last_contact: Instant,
    sampler: LocalUseSampler,
    predictor: Predictor,
    last_tick: Instant,
    local: Resources,
    predicted: Resources,
    surplus: Resources,
    evictions: u64,
    warned: Option<String>,
    sample_warned: Option<String>,
}

impl LoopState {
    fn placed(&self) -> Resources {
        self.running.iter().fold(Resources::ZERO, |sum, r| sum.add(&r.request))
    }
}

/// Starts the pool side on a blocking thread of the runtime the caller is in.
pub fn start(
    pool_agent: PoolAgent,
    shared: SharedLoad,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Result<()>> {
    tokio::task::spawn_blocking(move || pool_agent.run(&shared, &stop))
}
