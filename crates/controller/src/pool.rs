//! The controller's pool service (`hearth controller --pool`, issue 7): the pure
//! [`pool::sched::Pool`] with its durable records around it.
//!
//! - The **ledger** lives in `DIR/ledger.jsonl`. Every entry is appended and `fsync`ed before
//!   the answer that depends on it is sent. On start the file is verified in full
//!   ([`pool::ledger::Ledger::from_text`]) against the controller's key; a torn last line (a
//!   crash in the middle of a write, never acknowledged) is cut off and said so; a file with
//!   fewer entries than the store recorded (entries cut off the end, which verification alone
//!   cannot see) is refused.
//! - The controller's ledger **signing key** is the caller's (`hearth controller --pool` keeps
//!   it in `DIR/ledger.key`, mode 0600, and its public key beside it as `DIR/ledger.pub`, for
//!   `hearth ledger verify`).
//! - The pool's **state** (members, tasks) and the ledger's head and entry count are kept in
//!   the store (`controller_state` keys `pool` and `pool_ledger`) after every change, so a
//!   restarted controller knows its members and tasks.
//! - Task **output** is kept in memory only, up to [`OUTPUT_CAP`] bytes per stream and attempt.

use pool::ledger::{Draft, Entry, Kind, Ledger, SigningKey};
use pool::proto::{
    AttemptRef, Head, JoinRequest, JoinResponse, OutputRequest, OutputView, PollRequest,
    PollResponse, ReportRequest, ReportResponse, SubmitRequest, SubmitResponse,
};
use pool::reserve::Resources;
use pool::sched::{Member, Pool, PoolError, Task};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The most output kept per stream and attempt; the rest is dropped and counted.
pub const OUTPUT_CAP: usize = 4 << 20;

/// The store key of the pool's state.
const STATE_KEY: &str = "pool";
/// The store key of the ledger's head and entry count.
const LEDGER_KEY: &str = "pool_ledger";

/// What went wrong, with an HTTP-like class for the API.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is malformed or breaks a rule (400).
    #[error("{0}")]
    Invalid(String),
    /// The machine or task is unknown (404).
    #[error("{0}")]
    NotFound(String),
    /// The machine is no longer a member (410): it must join again.
    #[error("{0}")]
    Gone(String),
    /// The report is stale or the head moved (409).
    #[error("{0}")]
    Conflict(String),
    /// Reading or writing the ledger file or the store failed (500).
    #[error("{0}")]
    Storage(String),
}

impl From<PoolError> for ServiceError {
    fn from(err: PoolError) -> ServiceError {
        match err {
            PoolError::UnknownMachine(_) | PoolError::UnknownTask(_) => {
                ServiceError::NotFound(err.to_string())
            }
            PoolError::NotMember { .. } => ServiceError::Gone(err.to_string()),
            PoolError::Stale { .. } => ServiceError::Conflict(err.to_string()),
            PoolError::Invalid(_) => ServiceError::Invalid(err.to_string()),
        }
    }
}

#[derive(Default)]
struct Output {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    dropped: u64,
}

impl Output {
    fn push(&mut self, stdout: &[u8], stderr: &[u8]) {
        for (buffer, bytes) in [(&mut self.stdout, stdout), (&mut self.stderr, stderr)] {
            let room = OUTPUT_CAP.saturating_sub(buffer.len());
            let take = bytes.len().min(room);
            buffer.extend_from_slice(&bytes[..take]);
            self.dropped += (bytes.len() - take) as u64;
        }
    }
}

/// The beacon selector: its choice of a node for a request (a beacon node ID), or none.
pub type Selector = Box<dyn Fn(&Resources) -> Option<u32> + Send>;

/// A line of what the service did, for the controller's log.
pub type Event = String;

/// The pool service: the pool, its ledger file and its store.
pub struct PoolService {
    pool: Pool,
    ledger: Ledger,
    file: File,
    path: PathBuf,
    store: store::Store,
    key: SigningKey,
    outputs: HashMap<AttemptRef, Output>,
    events: Vec<Event>,
    selector: Option<Selector>,
}

fn storage(what: impl std::fmt::Display) -> ServiceError {
    ServiceError::Storage(what.to_string())
}

fn head_of(ledger: &Ledger) -> Head {
    Head { next_seq: ledger.next_seq(), head: ledger.head().to_string() }
}

fn detail_i64(entry: &Entry, key: &str) -> Option<i64> {
    entry.detail.get(key).and_then(|v| v.as_i64())
}

impl PoolService {
    /// Opens the pool in `data_dir`: the ledger file (verified; a torn last line cut off), the
    /// pool's state from the store, and the controller's key.
    pub fn open(
        data_dir: &Path,
        store: store::Store,
        key: SigningKey,
    ) -> Result<(PoolService, Vec<Event>), ServiceError> {
        let path = data_dir.join("ledger.jsonl");
        let mut notes = Vec::new();
        let text = match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8(bytes).map_err(|e| {
                storage(format!(
                    "{}: not UTF-8 at byte {}",
                    path.display(),
                    e.utf8_error().valid_up_to()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(storage(format!("cannot read {}: {e}", path.display()))),
        };
        let mut text = text;
        if !text.is_empty() && !text.ends_with('\n') {
            let cut = text.rfind('\n').map_or(0, |i| i + 1);
            if Entry::parse(&text[cut..]).is_err() {
                notes.push(format!(
                    "{}: cut off a torn last line ({} bytes, never acknowledged)",
                    path.display(),
                    text.len() - cut
                ));
                text.truncate(cut);
                std::fs::write(&path, &text)
                    .map_err(|e| storage(format!("cannot rewrite {}: {e}", path.display())))?;
            } else {
                text.push('\n');
                std::fs::write(&path, &text)
                    .map_err(|e| storage(format!("cannot rewrite {}: {e}", path.display())))?;
            }
        }
        let ledger = Ledger::from_text(&text, key.verifying_key())
            .map_err(|e| storage(format!("ledger {}: {e}", path.display())))?;
        let recorded = store.state(LEDGER_KEY).map_err(storage)?;
        if let Some((_, body)) = &recorded {
            let entries = body.get("entries").and_then(|v| v.as_u64()).unwrap_or(0);
            let have = ledger.entries().len() as u64;
            if have < entries {
                return Err(storage(format!(
                    "ledger {}: {have} entries, but the store recorded {entries} (head {}): \
                     entries were cut off its end; restore the file",
                    path.display(),
                    body.get("head").and_then(|v| v.as_str()).unwrap_or("?")
                )));
            }
            if have == entries {
                let head = body.get("head").and_then(|v| v.as_str()).unwrap_or("");
                if head != ledger.head().to_string() {
                    return Err(storage(format!(
                        "ledger {}: its head {} is not the head the store recorded ({head}): \
                         the file was replaced",
                        path.display(),
                        ledger.head()
                    )));
                }
            }
        }
        let mut pool: Pool = match store.state(STATE_KEY).map_err(storage)? {
            Some((_, body)) => serde_json::from_value(body)
                .map_err(|e| storage(format!("the store's pool state is unreadable: {e}")))?,
            None => Pool::new(),
        };
        pool.heard_all(crate::clock::unix_ms());
        let file =
            OpenOptions::new().create(true).append(true).open(&path).map_err(|e| {
                storage(format!("cannot open {} for appending: {e}", path.display()))
            })?;
        let mut service = PoolService {
            pool,
            ledger,
            file,
            path,
            store,
            key,
            outputs: HashMap::new(),
            events: Vec::new(),
            selector: None,
        };
        service.persist()?;
        Ok((service, notes))
    }

    /// Places tasks through `selector` first (the beacon selector, [`Pool::schedule`]'s pick);
    /// without one, in rank order only.
    pub fn set_selector(&mut self, selector: Selector) {
        self.selector = Some(selector);
    }

    /// The pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The ledger file's path.
    pub fn ledger_path(&self) -> &Path {
        &self.path
    }

    /// The ledger's head, for nodes' next signed reports.
    pub fn head(&self) -> Head {
        head_of(&self.ledger)
    }

    /// What happened since the last call (joins, losses, retries), for the log.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    fn persist(&mut self) -> Result<(), ServiceError> {
        let now = crate::clock::unix_ms() as i64;
        let state = serde_json::to_value(&self.pool).map_err(storage)?;
        self.store.put_state(STATE_KEY, &state, now).map_err(storage)?;
        let ledger = serde_json::json!({
            "entries": self.ledger.entries().len(),
            "head": self.ledger.head().to_string(),
        });
        self.store.put_state(LEDGER_KEY, &ledger, now).map_err(storage)
    }

    fn write_line(&mut self, entry: &Entry) -> Result<(), ServiceError> {
        let mut line = entry.line();
        line.push('\n');
        let written = self.file.write_all(line.as_bytes()).and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Resynchronise the memory with the file, whatever part of the line reached it.
            let text = std::fs::read_to_string(&self.path).unwrap_or_default();
            let cut = text.rfind('\n').map_or(0, |i| i + 1);
            let _ = std::fs::write(&self.path, &text[..cut]);
            if let Ok(ledger) = Ledger::from_text(&text[..cut], self.key.verifying_key()) {
                self.ledger = ledger;
            }
            return Err(storage(format!("cannot append to {}: {e}", self.path.display())));
        }
        self.events.push(format!(
            "ledger seq {}: {} of {}{}",
            entry.seq,
            entry.kind,
            entry.node,
            entry.task.as_deref().map(|t| format!(", task {t}")).unwrap_or_default()
        ));
        Ok(())
    }

    fn append_drafts(&mut self, drafts: Vec<Draft>) -> Result<(), ServiceError> {
        for draft in drafts {
            let entry = self
                .ledger
                .append(draft, &self.key)
                .map_err(|e| ServiceError::Invalid(e.to_string()))?;
            self.write_line(&entry)?;
        }
        self.persist()
    }

    /// A node joins.
    pub fn join(&mut self, req: &JoinRequest, now: u64) -> Result<JoinResponse, ServiceError> {
        let key = pool::ledger::keys::parse_verifying_key(&req.public_key)
            .map_err(|e| ServiceError::Invalid(format!("public_key: {e}")))?;
        // One spelling per key (lowercase hex): the member is found by it, and reports are
        // compared with it.
        let public_key = pool::ledger::keys::verifying_key_hex(&key);
        if public_key == pool::ledger::keys::verifying_key_hex(&self.key.verifying_key()) {
            return Err(ServiceError::Invalid(
                "public_key: that is the controller's own key".into(),
            ));
        }
        let (id, drafts) = self.pool.join(
            &public_key,
            req.beacon_node,
            req.score,
            req.capacity,
            req.reserve,
            &req.isolation,
            &req.user,
            now,
        )?;
        self.append_drafts(drafts)?;
        self.events.push(format!(
            "{id} joined: beacon node {}, score {:.0}, capacity {}, reserve {}, {} as {}",
            req.beacon_node, req.score, req.capacity, req.reserve, req.isolation, req.user
        ));
        Ok(JoinResponse {
            machine_id: id.clone(),
            controller_key: pool::ledger::keys::verifying_key_hex(&self.key.verifying_key()),
            rank: self.pool.rank(&id).unwrap_or(0),
            members: self.pool.ranked().len(),
            ledger: self.head(),
        })
    }

    /// A node's heartbeat.
    pub fn poll(&mut self, req: &PollRequest, now: u64) -> Result<PollResponse, ServiceError> {
        let (assign, cancel) =
            self.pool.poll(&req.machine_id, req.surplus, req.local_use, &req.running, now)?;
        Ok(PollResponse { assign, cancel, ledger: self.head() })
    }

    /// A node's signed report. `Err((conflict, stale))`: 409 with `stale` telling the node to
    /// drop the report, else to sign it again for the new head.
    pub fn report(&mut self, req: &ReportRequest, now: u64) -> ReportResponse {
        let refuse = |service: &PoolService, stale: bool, error: String| ReportResponse {
            appended: false,
            stale,
            error: Some(error),
            ledger: service.head(),
        };
        let entry = match Entry::parse(&req.line) {
            Ok(entry) => entry,
            Err(e) => return refuse(self, true, format!("line: {e}")),
        };
        if entry.node != req.machine_id {
            return refuse(
                self,
                true,
                format!(
                    "the entry is about {}, not the reporting machine {}",
                    entry.node, req.machine_id
                ),
            );
        }
        let member = self.pool.member(&req.machine_id).cloned();
        let Some(member) = member.filter(|m| m.active) else {
            return refuse(self, true, format!("machine {} is not a member", req.machine_id));
        };
        if pool::ledger::keys::verifying_key_hex(&entry.key) != member.public_key {
            return refuse(self, true, "the entry is not signed with the machine's key".into());
        }
        let task = entry.task.clone();
        match (entry.kind, &task) {
            (Kind::TaskStart | Kind::TaskFinish | Kind::TaskFail | Kind::TaskMove, Some(task)) => {
                if let Err(e) = self.pool.check_report(&req.machine_id, task, req.attempt) {
                    return refuse(self, true, e.to_string());
                }
                if detail_i64(&entry, "attempt") != Some(i64::from(req.attempt)) {
                    return refuse(
                        self,
                        true,
                        "detail.attempt differs from the report's attempt".into(),
                    );
                }
            }
            (Kind::Leave, None) => {}
            (kind, _) => {
                return refuse(self, true, format!("a node cannot report a {kind} entry"));
            }
        }
        if entry.seq != self.ledger.next_seq() || entry.prev != self.ledger.head() {
            return refuse(self, false, "the ledger's head moved: sign again".into());
        }
        if let Err(e) = self.ledger.append_signed(entry.clone()) {
            return refuse(self, true, e.to_string());
        }
        if let Err(e) = self.write_line(&entry) {
            return refuse(self, false, e.to_string());
        }
        let exit_code = detail_i64(&entry, "exit_code").and_then(|c| i32::try_from(c).ok());
        let reason = entry.detail.get("reason").and_then(|v| v.as_str()).map(str::to_string);
        let follow = match (&task, entry.kind) {
            (None, _) => {
                self.events.push(format!("{} left", req.machine_id));
                self.pool.left(&req.machine_id, now)
            }
            (Some(task), kind) => {
                self.events.push(format!(
                    "{} reported {kind} of {task} attempt {}",
                    req.machine_id, req.attempt
                ));
                self.pool.apply_report(
                    &req.machine_id,
                    kind,
                    task,
                    exit_code,
                    reason.as_deref(),
                    now,
                )
            }
        };
        if let Err(e) = self.append_drafts(follow) {
            self.events.push(format!("cannot record what follows the report: {e}"));
        }
        ReportResponse { appended: true, stale: false, error: None, ledger: self.head() }
    }

    /// Output of a running attempt.
    pub fn output(
        &mut self,
        req: &OutputRequest,
        stdout: &[u8],
        stderr: &[u8],
    ) -> Result<(), ServiceError> {
        self.pool.check_report(&req.machine_id, &req.attempt.task, req.attempt.attempt)?;
        self.outputs.entry(req.attempt.clone()).or_default().push(stdout, stderr);
        Ok(())
    }

    /// Submits a task.
    pub fn submit(
        &mut self,
        req: &SubmitRequest,
        now: u64,
    ) -> Result<SubmitResponse, ServiceError> {
        if req.argv.len() > 4096 || req.argv.iter().map(String::len).sum::<usize>() > 1 << 20 {
            return Err(ServiceError::Invalid("argv: longer than 4096 arguments or 1 MiB".into()));
        }
        match self.pool.submit(req.argv.clone(), req.request, req.on, req.retries, now)? {
            Ok(id) => {
                self.events.push(format!("{id} submitted: {:?}, needs {}", req.argv, req.request));
                self.schedule_now();
                self.persist()?;
                Ok(SubmitResponse { id: Some(id), fits: true, reason: None })
            }
            Err(no) => Ok(SubmitResponse { id: None, fits: false, reason: Some(no.reason) }),
        }
    }

    /// Places queued tasks (the selector's pick first, else by rank); whether any was placed.
    fn schedule_now(&mut self) -> bool {
        let by_beacon: HashMap<u32, String> =
            self.pool.ranked().iter().map(|m| (m.beacon_node, m.id.clone())).collect();
        let selector = self.selector.as_ref();
        let placed = self.pool.schedule(|request| {
            let node = selector?(request)?;
            by_beacon.get(&node).cloned()
        });
        let any = !placed.is_empty();
        for (task, node) in placed {
            self.events.push(format!("{task} placed on {node}"));
        }
        any
    }

    /// One tick of the scheduler: loses the members whose beacons went silent (`lost_beacons`:
    /// beacon node ID and when its last beacon arrived, ms since the epoch) or that have not
    /// polled since `silent_before_ms`, then places queued tasks (the selector's pick first).
    pub fn tick(
        &mut self,
        now: u64,
        lost_beacons: &[(u32, u64)],
        silent_before_ms: u64,
    ) -> Result<(), ServiceError> {
        let mut lost: Vec<(String, String)> = Vec::new();
        for member in self.pool.ranked() {
            // A silence that began before the member (re)joined is old news: its beacons have
            // not resumed yet.
            let beacon_lost = lost_beacons
                .iter()
                .any(|(node, last_ms)| *node == member.beacon_node && *last_ms >= member.joined_ms);
            if beacon_lost {
                lost.push((member.id.clone(), "lost: beacon silence".into()));
            } else if member.last_seen_ms < silent_before_ms {
                lost.push((
                    member.id.clone(),
                    format!(
                        "lost: no poll for {} s",
                        now.saturating_sub(member.last_seen_ms) / 1000
                    ),
                ));
            }
        }
        for (id, reason) in lost {
            let drafts = self.pool.lose(&id, &reason, now);
            self.events.push(format!("{id} {reason}"));
            self.append_drafts(drafts)?;
        }
        if self.schedule_now() {
            self.persist()?;
        }
        Ok(())
    }

    /// Cancels a task.
    pub fn cancel(&mut self, id: &str, now: u64) -> Result<Task, ServiceError> {
        let drafts = self.pool.cancel(id, now)?;
        self.append_drafts(drafts)?;
        self.events.push(format!("{id} cancelled"));
        Ok(self.pool.task(id).cloned().expect("cancelled a known task"))
    }

    /// Every task.
    pub fn tasks(&self) -> Vec<Task> {
        self.pool.tasks().into_iter().cloned().collect()
    }

    /// Every member and former member, in rank order (active first).
    pub fn members(&self) -> Vec<Member> {
        let mut members: Vec<Member> = self.pool.ranked().into_iter().cloned().collect();
        members.extend(self.pool.members().filter(|m| !m.active).cloned());
        members
    }

    /// A task's current attempt's output from the given offsets.
    pub fn output_view(
        &self,
        id: &str,
        stdout_from: u64,
        stderr_from: u64,
    ) -> Result<(OutputView, u64), ServiceError> {
        let task = self
            .pool
            .task(id)
            .ok_or_else(|| ServiceError::NotFound(format!("unknown task `{id}`")))?;
        let key = AttemptRef { task: id.to_string(), attempt: task.attempt };
        let empty = Output::default();
        let output = self.outputs.get(&key).unwrap_or(&empty);
        let slice = |buffer: &[u8], from: u64| -> Vec<u8> {
            let from = usize::try_from(from).unwrap_or(usize::MAX).min(buffer.len());
            buffer[from..].to_vec()
        };
        let node = task.node.clone().or_else(|| task.history.last().map(|r| r.node.clone()));
        Ok((
            OutputView {
                attempt: task.attempt,
                node,
                stdout: b64(&slice(&output.stdout, stdout_from)),
                stderr: b64(&slice(&output.stderr, stderr_from)),
                stdout_end: output.stdout.len() as u64,
                stderr_end: output.stderr.len() as u64,
                state: task.state,
                exit_code: task.exit_code,
                reason: task.reason.clone(),
            },
            output.dropped,
        ))
    }
}

/// Base64 (standard alphabet, padded), the encoding of output in the protocol.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes [`b64`]; the error names the field.
pub fn unb64(text: &str, field: &str) -> Result<Vec<u8>, ServiceError> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| ServiceError::Invalid(format!("{field}: not base64: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pool::ledger::Draft;
    use pool::proto::Placement;

    fn res(cpu: f64, mem_mib: u64) -> Resources {
        Resources { cpu, mem_mib, disk_mib: 0, gpu: 0 }
    }

    fn open(dir: &Path) -> Result<(PoolService, Vec<Event>), ServiceError> {
        let (store, _) = store::Store::open(&dir.join("hearth.db")).unwrap();
        PoolService::open(dir, store, pool::ledger::keys::signing_key_from_seed([1; 32]))
    }

    /// A join of `node` as beacon node `beacon`: 4 cores, 1 reserved.
    fn join_request(node: &SigningKey, beacon: u32) -> JoinRequest {
        JoinRequest {
            public_key: pool::ledger::keys::verifying_key_hex(&node.verifying_key()),
            beacon_node: beacon,
            score: 1000.0,
            capacity: res(4.0, 4096),
            reserve: res(1.0, 1024),
            isolation: "rlimits".into(),
            user: "nobody".into(),
            nonce: "n".into(),
        }
    }

    fn join(service: &mut PoolService, node: &SigningKey) -> String {
        service.join(&join_request(node, 1), 10).unwrap().machine_id
    }

    /// A report of `kind` about `task` signed by `node` for the service's head now.
    fn report(
        service: &PoolService,
        node: &SigningKey,
        machine: &str,
        kind: Kind,
        task: Option<&str>,
        attempt: u32,
    ) -> ReportRequest {
        let mut draft = Draft::new(20, machine, kind);
        if let Some(task) = task {
            draft = draft.task(task).detail("attempt", attempt);
        }
        let entry = Entry {
            seq: service.ledger().next_seq(),
            at_ms: draft.at_ms,
            node: draft.node,
            kind,
            task: draft.task,
            detail: draft.detail,
            prev: service.ledger().head(),
            key: node.verifying_key(),
            sig: pool::ledger::Signature::from_bytes(&[0; 64]),
        }
        .signed(node);
        ReportRequest { machine_id: machine.into(), nonce: "n".into(), attempt, line: entry.line() }
    }

    #[test]
    fn reports_are_checked_against_the_attempt_the_key_and_the_head() {
        let dir = tempfile::tempdir().unwrap();
        let (mut service, _) = open(dir.path()).unwrap();
        let node = pool::ledger::keys::signing_key_from_seed([2; 32]);
        let machine = join(&mut service, &node);
        service
            .poll(
                &PollRequest {
                    machine_id: machine.clone(),
                    nonce: "n".into(),
                    surplus: res(3.0, 3072),
                    local_use: res(0.0, 0),
                    running: vec![],
                },
                11,
            )
            .unwrap();
        let submitted = service
            .submit(
                &SubmitRequest {
                    argv: vec!["true".into()],
                    request: res(1.0, 64),
                    on: Placement::Pool,
                    retries: 1,
                },
                12,
            )
            .unwrap();
        let task = submitted.id.unwrap();
        // A wrong attempt is stale; another key is refused; both leave the ledger as it was.
        let entries = service.ledger().entries().len();
        let stale =
            service.report(&report(&service, &node, &machine, Kind::TaskStart, Some(&task), 2), 13);
        assert!(!stale.appended && stale.stale, "{stale:?}");
        let intruder = pool::ledger::keys::signing_key_from_seed([3; 32]);
        let forged = service
            .report(&report(&service, &intruder, &machine, Kind::TaskStart, Some(&task), 1), 13);
        assert!(
            !forged.appended && forged.error.unwrap().contains("not signed with the machine's key")
        );
        assert_eq!(service.ledger().entries().len(), entries);
        // Signed for a head that has moved on (another node joined): sign again, not stale.
        let early = report(&service, &node, &machine, Kind::TaskStart, Some(&task), 1);
        let other = pool::ledger::keys::signing_key_from_seed([4; 32]);
        let request = join_request(&other, 2);
        service.join(&request, 13).unwrap();
        let entries = service.ledger().entries().len();
        let moved_on = service.report(&early, 14);
        assert!(!moved_on.appended && !moved_on.stale, "{moved_on:?}");
        assert_eq!(service.ledger().entries().len(), entries);
        let again = report(&service, &node, &machine, Kind::TaskStart, Some(&task), 1);
        assert!(service.report(&again, 14).appended);
        let moved = report(&service, &node, &machine, Kind::TaskFinish, Some(&task), 1);
        let finish_line = moved.line.clone();
        service.pool.lose(&machine, "test", 15);
        let gone = service.report(&moved, 16);
        assert!(!gone.appended && gone.stale);
        // What was appended is on disk, fsynced, and verifies.
        let text = std::fs::read_to_string(dir.path().join("ledger.jsonl")).unwrap();
        assert!(!text.contains(&finish_line));
        let report = pool::ledger::verify(
            &text,
            &pool::ledger::keys::signing_key_from_seed([1; 32]).verifying_key(),
        )
        .unwrap();
        assert_eq!(report.entries, 3, "{text}");
    }

    #[test]
    fn a_key_sent_in_upper_case_is_the_same_member_and_its_reports_are_taken() {
        let dir = tempfile::tempdir().unwrap();
        let (mut service, _) = open(dir.path()).unwrap();
        let node = pool::ledger::keys::signing_key_from_seed([2; 32]);
        let machine = join(&mut service, &node);
        let mut request = join_request(&node, 1);
        request.public_key = request.public_key.to_uppercase();
        assert_eq!(service.join(&request, 11).unwrap().machine_id, machine);
        let leave = report(&service, &node, &machine, Kind::Leave, None, 0);
        assert!(service.report(&leave, 12).appended);
        request.public_key = "not hex".into();
        let err = service.join(&request, 13).unwrap_err().to_string();
        assert!(err.starts_with("public_key:"), "{err}");
    }

    #[test]
    fn a_ledger_cut_off_its_end_is_refused_on_open_and_accepted_once_restored() {
        let dir = tempfile::tempdir().unwrap();
        let node = pool::ledger::keys::signing_key_from_seed([2; 32]);
        {
            let (mut service, _) = open(dir.path()).unwrap();
            join(&mut service, &node);
            join(&mut service, &node); // a restart: leave, then join again
        }
        let path = dir.path().join("ledger.jsonl");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3);
        let (service, notes) = open(dir.path()).unwrap();
        assert!(notes.is_empty());
        assert_eq!(service.pool().member("m1").map(|m| m.active), Some(true));
        drop(service);
        let first_two: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
        std::fs::write(&path, &first_two).unwrap();
        let err = open(dir.path()).err().expect("a cut ledger is refused").to_string();
        assert!(err.contains("2 entries, but the store recorded 3"), "{err}");
        std::fs::write(&path, &text).unwrap();
        assert!(open(dir.path()).is_ok());
    }
}
