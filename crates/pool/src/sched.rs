//! The controller's pool: members, tasks and their placement, as a pure state machine (seed 001
//! FIG. 9, FIG. 10B, \[0037\]). The controller's service feeds it what happens (joins, polls,
//! node reports, lost nodes, submissions) with the time, and appends the ledger drafts it
//! returns; this module reads no clock and writes nothing.
//!
//! A task goes `queued` → `assigned` (to a node, not yet started there) → `running` →
//! `finished` (it ran; its exit code is the result, accepted once), or `failed` (no retries
//! left, or it could not start), or `cancelled`. A lost node's attempts go back to `queued`
//! with the next attempt number while the task has retries left (a `task_retry` entry), else
//! fail; a node that evicts an attempt because its owner reclaimed the reserve reports a
//! `task_move`, and the task is queued again without using a retry, avoiding that node for
//! its next placement.
//!
//! Placement ([`Pool::schedule`]): first the node the beacon selector offers (the caller's
//! `pick`, O(1) from the two-slot queue, given the request), if its reported surplus minus
//! what is already placed there covers the request; else the members in rank order (benchmark
//! score, highest first) and the first that has room. A task no member could ever hold
//! (capacity − reserve) is refused at submission.

use crate::ledger::{Draft, Kind};
use crate::proto::{Assignment, AttemptRef, Placement};
use crate::reserve::Resources;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// A task's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for a node with room.
    Queued,
    /// Given to a node that has not reported it started.
    Assigned,
    /// Running on a node.
    Running,
    /// Ran to the end; the exit code is the result.
    Finished,
    /// Could not run (no retries left, or no node could start it).
    Failed,
    /// Cancelled by a user.
    Cancelled,
}

impl TaskState {
    /// Whether the task is over.
    pub fn is_final(self) -> bool {
        matches!(self, TaskState::Finished | TaskState::Failed | TaskState::Cancelled)
    }
}

/// How one attempt ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// The attempt number.
    pub attempt: u32,
    /// The node it was placed on.
    pub node: String,
    /// `running`, `finished`, `failed: …`, `lost: …`, `moved: …`, `cancelled`.
    pub outcome: String,
}

/// A submitted task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// `t1`, `t2`, …
    pub id: String,
    /// The command and its arguments.
    pub argv: Vec<String>,
    /// What it may use.
    pub request: Resources,
    /// Runs again at most this many times after a lost node or a failed start.
    pub retries: u32,
    /// Retries used so far.
    pub retries_used: u32,
    /// Moves so far (evictions by owners; they use no retry).
    pub moves: u32,
    /// The current attempt (0 while never placed).
    pub attempt: u32,
    /// The state.
    pub state: TaskState,
    /// The node of the current attempt.
    pub node: Option<String>,
    /// Nodes the next placement avoids (the one that just evicted it).
    pub avoid: Vec<String>,
    /// The exit code, once finished.
    pub exit_code: Option<i32>,
    /// Why it failed or was cancelled.
    pub reason: Option<String>,
    /// Every attempt, in order.
    pub history: Vec<AttemptRecord>,
    /// When it was submitted, ms since the epoch.
    pub submitted_ms: u64,
    /// When it ended, ms since the epoch.
    pub ended_ms: Option<u64>,
}

/// A pool member (or a former one: machine IDs and keys stay known).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// The stable machine ID, `m1`, `m2`, … in order of first join.
    pub id: String,
    /// Its Ed25519 public key (64 hex digits).
    pub public_key: String,
    /// Its beacon node ID.
    pub beacon_node: u32,
    /// Its benchmark score.
    pub score: f64,
    /// Its capacity.
    pub capacity: Resources,
    /// Its owner's reserve.
    pub reserve: Resources,
    /// What it offered at its last poll.
    pub surplus: Resources,
    /// The owner's local use at its last poll.
    pub local_use: Resources,
    /// `cgroup2`, `cgroup1` or `rlimits`.
    pub isolation: String,
    /// The user its tasks run as.
    pub user: String,
    /// Whether it is a member now.
    pub active: bool,
    /// Why it left, when it did.
    pub left_reason: Option<String>,
    /// When it last polled (or joined), ms since the epoch.
    pub last_seen_ms: u64,
    /// When it last joined, ms since the epoch.
    pub joined_ms: u64,
}

impl Member {
    /// The most it could ever offer: capacity − reserve.
    pub fn ceiling(&self) -> Resources {
        self.capacity.saturating_sub(&self.reserve)
    }
}

/// Why the pool refused something; the message names the task, node or field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// No such member.
    #[error("unknown machine `{0}`: not a member of this pool (join first)")]
    UnknownMachine(String),
    /// A known machine that is not a member now.
    #[error("machine `{id}` is not a member ({reason}): join again")]
    NotMember {
        /// The machine ID.
        id: String,
        /// Why it left.
        reason: String,
    },
    /// No such task.
    #[error("unknown task `{0}`")]
    UnknownTask(String),
    /// A report about an attempt the node no longer holds.
    #[error(
        "task {task} attempt {attempt} is not running on {node} (it is {state}): stale report"
    )]
    Stale {
        /// The task.
        task: String,
        /// The attempt reported.
        attempt: u32,
        /// The reporting node.
        node: String,
        /// Where the task is now.
        state: String,
    },
    /// A bad submission or join.
    #[error("{0}")]
    Invalid(String),
}

/// A task does not fit the pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoFit {
    /// Whether it could fit some member later (its capacity − reserve covers it).
    pub ever: bool,
    /// Why, naming the best offer.
    pub reason: String,
}

/// The controller's pool state. Serializable: the controller persists it after every change.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Pool {
    members: BTreeMap<String, Member>,
    tasks: BTreeMap<String, Task>,
    queue: VecDeque<String>,
    next_machine: u64,
    next_task: u64,
}

/// How many moves (evictions) a task may take before it fails: owners that keep reclaiming
/// must not bounce a task forever.
pub const MAX_MOVES: u32 = 16;

fn numeric_order(a: &str, b: &str) -> std::cmp::Ordering {
    (a.len(), a).cmp(&(b.len(), b))
}

impl Pool {
    /// An empty pool.
    pub fn new() -> Pool {
        Pool::default()
    }

    /// Every member and former member, by machine ID.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    /// One member.
    pub fn member(&self, id: &str) -> Option<&Member> {
        self.members.get(id)
    }

    /// Every task, oldest first.
    pub fn tasks(&self) -> Vec<&Task> {
        let mut tasks: Vec<&Task> = self.tasks.values().collect();
        tasks.sort_by(|a, b| numeric_order(&a.id, &b.id));
        tasks
    }

    /// One task.
    pub fn task(&self, id: &str) -> Option<&Task> {
        self.tasks.get(id)
    }

    /// The active members in rank order: benchmark score, highest first (ties by ID).
    pub fn ranked(&self) -> Vec<&Member> {
        let mut members: Vec<&Member> = self.members.values().filter(|m| m.active).collect();
        members.sort_by(|a, b| b.score.total_cmp(&a.score).then(numeric_order(&a.id, &b.id)));
        members
    }

    /// The member with this beacon node ID.
    pub fn by_beacon(&self, beacon_node: u32) -> Option<&Member> {
        self.members.values().find(|m| m.active && m.beacon_node == beacon_node)
    }

    /// Every active member's room (its last surplus minus what is placed on it), in one pass
    /// over the tasks.
    pub fn rooms(&self) -> BTreeMap<String, Resources> {
        let mut placed: BTreeMap<&str, Resources> = BTreeMap::new();
        for task in self.tasks.values() {
            if let (TaskState::Assigned | TaskState::Running, Some(node)) = (task.state, &task.node)
            {
                let sum = placed.entry(node.as_str()).or_insert(Resources::ZERO);
                *sum = sum.add(&task.request);
            }
        }
        self.members
            .values()
            .filter(|m| m.active)
            .map(|m| {
                let used = placed.get(m.id.as_str()).copied().unwrap_or(Resources::ZERO);
                (m.id.clone(), m.surplus.saturating_sub(&used))
            })
            .collect()
    }

    /// What `node` could still take: its last surplus minus what is placed on it (zero for a
    /// node that is not a member).
    pub fn room(&self, node: &str) -> Resources {
        self.rooms().get(node).copied().unwrap_or(Resources::ZERO)
    }

    /// A node joins (or rejoins) with `public_key`: the same key always gets the same machine
    /// ID. A node that is still a member (its agent restarted) first leaves, and its attempts
    /// are retried. Returns the machine ID and the drafts to append, in order, signed by the
    /// controller.
    #[allow(clippy::too_many_arguments)]
    pub fn join(
        &mut self,
        public_key: &str,
        beacon_node: u32,
        score: f64,
        capacity: Resources,
        reserve: Resources,
        isolation: &str,
        user: &str,
        now_ms: u64,
    ) -> Result<(String, Vec<Draft>), PoolError> {
        if !score.is_finite() || score < 0.0 {
            return Err(PoolError::Invalid(format!("score {score}: expected a finite number ≥ 0")));
        }
        crate::reserve::reserve_fits(&capacity, &reserve)
            .map_err(|e| PoolError::Invalid(format!("reserve: {e}")))?;
        if let Some(other) = self
            .members
            .values()
            .find(|m| m.active && m.beacon_node == beacon_node && m.public_key != public_key)
        {
            return Err(PoolError::Invalid(format!(
                "beacon node {beacon_node} is already member {} with another key",
                other.id
            )));
        }
        let mut drafts = Vec::new();
        let existing =
            self.members.values().find(|m| m.public_key == public_key).map(|m| m.id.clone());
        let id = match existing {
            Some(id) => {
                if self.members[&id].active {
                    drafts.extend(self.lose(&id, "rejoined: its agent restarted", now_ms));
                }
                id
            }
            None => {
                self.next_machine += 1;
                format!("m{}", self.next_machine)
            }
        };
        let member = Member {
            id: id.clone(),
            public_key: public_key.to_string(),
            beacon_node,
            score,
            capacity,
            reserve,
            surplus: Resources::ZERO,
            local_use: Resources::ZERO,
            isolation: isolation.to_string(),
            user: user.to_string(),
            active: true,
            left_reason: None,
            last_seen_ms: now_ms,
            joined_ms: now_ms,
        };
        self.members.insert(id.clone(), member);
        drafts.push(
            Draft::new(now_ms, id.clone(), Kind::Join)
                .detail("public_key", public_key)
                .detail("score", score)
                .detail("beacon_node", beacon_node)
                .detail("isolation", isolation)
                .detail("reserve", reserve.to_string())
                .detail("capacity", capacity.to_string()),
        );
        Ok((id, drafts))
    }

    /// Counts every member as heard from at `now_ms`: a controller that restarts gives its
    /// members the whole silence window to poll again before it calls them lost.
    pub fn heard_all(&mut self, now_ms: u64) {
        for member in self.members.values_mut() {
            member.last_seen_ms = member.last_seen_ms.max(now_ms);
        }
    }

    /// The rank of `id` among active members (1 = highest score).
    pub fn rank(&self, id: &str) -> Option<usize> {
        self.ranked().iter().position(|m| m.id == id).map(|i| i + 1)
    }

    fn active(&mut self, id: &str) -> Result<&mut Member, PoolError> {
        match self.members.get_mut(id) {
            None => Err(PoolError::UnknownMachine(id.to_string())),
            Some(m) if !m.active => Err(PoolError::NotMember {
                id: id.to_string(),
                reason: m.left_reason.clone().unwrap_or_else(|| "it left".into()),
            }),
            Some(m) => Ok(m),
        }
    }

    /// A node's heartbeat: records its offer and answers with its assignments (assigned, not
    /// yet started) and the attempts it runs that are no longer its own (to stop).
    pub fn poll(
        &mut self,
        id: &str,
        surplus: Resources,
        local_use: Resources,
        running: &[AttemptRef],
        now_ms: u64,
    ) -> Result<(Vec<Assignment>, Vec<AttemptRef>), PoolError> {
        let member = self.active(id)?;
        member.surplus = surplus;
        member.local_use = local_use;
        member.last_seen_ms = now_ms;
        let mut mine: Vec<&Task> = self
            .tasks
            .values()
            .filter(|t| t.state == TaskState::Assigned && t.node.as_deref() == Some(id))
            .filter(|t| !running.iter().any(|r| r.task == t.id && r.attempt == t.attempt))
            .collect();
        mine.sort_by(|a, b| numeric_order(&a.id, &b.id));
        let assign = mine
            .into_iter()
            .map(|t| Assignment {
                attempt: AttemptRef { task: t.id.clone(), attempt: t.attempt },
                argv: t.argv.clone(),
                request: t.request,
            })
            .collect();
        let cancel = running
            .iter()
            .filter(|r| match self.tasks.get(&r.task) {
                Some(t) => {
                    !(matches!(t.state, TaskState::Assigned | TaskState::Running)
                        && t.attempt == r.attempt
                        && t.node.as_deref() == Some(id))
                }
                None => true,
            })
            .cloned()
            .collect();
        Ok((assign, cancel))
    }

    /// Submits a task; returns its ID, or why it does not fit (for [`Placement::Auto`]: no
    /// member has room now; for [`Placement::Pool`]: no member could ever hold it).
    pub fn submit(
        &mut self,
        argv: Vec<String>,
        request: Resources,
        on: Placement,
        retries: u32,
        now_ms: u64,
    ) -> Result<Result<String, NoFit>, PoolError> {
        if argv.is_empty() || argv[0].is_empty() {
            return Err(PoolError::Invalid("argv: the command is empty".into()));
        }
        if !request.cpu.is_finite() || request.cpu <= 0.0 {
            return Err(PoolError::Invalid(format!(
                "request: cpu {} must be a finite number > 0",
                request.cpu
            )));
        }
        let ranked = self.ranked();
        let rooms = self.rooms();
        let fits_now = rooms.values().any(|room| room.fits(&request));
        let fits_ever = ranked.iter().any(|m| m.ceiling().fits(&request));
        let best = |f: &dyn Fn(&Member) -> Resources| {
            ranked
                .iter()
                .map(|m| (m.id.clone(), f(m)))
                .max_by(|a, b| a.1.cpu.total_cmp(&b.1.cpu).then(a.1.mem_mib.cmp(&b.1.mem_mib)))
        };
        let refuse = |ever: bool, what: &str, offer: Option<(String, Resources)>| {
            let offer = match offer {
                Some((id, r)) => format!("the largest {what} is {id}'s {r}"),
                None => "the pool has no members".to_string(),
            };
            NoFit { ever, reason: format!("the task needs {request}; {offer}") }
        };
        if !fits_ever {
            return Ok(Err(refuse(false, "offer any member could make", best(&|m| m.ceiling()))));
        }
        if on == Placement::Auto && !fits_now {
            let offer = rooms
                .into_iter()
                .max_by(|a, b| a.1.cpu.total_cmp(&b.1.cpu).then(a.1.mem_mib.cmp(&b.1.mem_mib)));
            return Ok(Err(refuse(true, "room now", offer)));
        }
        self.next_task += 1;
        let id = format!("t{}", self.next_task);
        self.tasks.insert(
            id.clone(),
            Task {
                id: id.clone(),
                argv,
                request,
                retries,
                retries_used: 0,
                moves: 0,
                attempt: 0,
                state: TaskState::Queued,
                node: None,
                avoid: Vec::new(),
                exit_code: None,
                reason: None,
                history: Vec::new(),
                submitted_ms: now_ms,
                ended_ms: None,
            },
        );
        self.queue.push_back(id.clone());
        Ok(Ok(id))
    }

    /// Places queued tasks, oldest first: on the node `pick` names (the beacon selector's
    /// choice for the request; `None` when it has none) if it has room, else on the first
    /// member in rank order with room. A task with no room anywhere stays queued; tasks behind
    /// it may still be placed (a small task does not wait behind a large one). Returns the
    /// placements made.
    pub fn schedule(
        &mut self,
        mut pick: impl FnMut(&Resources) -> Option<String>,
    ) -> Vec<(String, String)> {
        let mut placed = Vec::new();
        let mut waiting = VecDeque::new();
        if self.queue.is_empty() {
            return placed;
        }
        // Each member's room, once, in rank order; updated as tasks are placed (one pass over
        // the tasks, not one per candidate). `full` skips the members at the head of the rank
        // that have nothing left, so a long backlog does not rescan them for every task.
        let all_rooms = self.rooms();
        let mut rooms: Vec<(String, Resources)> = self
            .ranked()
            .iter()
            .map(|m| (m.id.clone(), all_rooms.get(&m.id).copied().unwrap_or(Resources::ZERO)))
            .collect();
        let index: HashMap<String, usize> =
            rooms.iter().enumerate().map(|(i, (id, _))| (id.clone(), i)).collect();
        let exhausted = |room: &Resources| room.cpu <= 1e-9 || room.mem_mib == 0;
        let mut full = 0;
        while let Some(id) = self.queue.pop_front() {
            let Some(task) = self.tasks.get(&id) else { continue };
            if task.state != TaskState::Queued {
                continue;
            }
            let request = task.request;
            let avoided = |node: &str| task.avoid.iter().any(|a| a == node);
            while full < rooms.len() && exhausted(&rooms[full].1) {
                full += 1;
            }
            let candidates = &rooms[full..];
            let chosen = pick(&request)
                .and_then(|n| index.get(&n).copied())
                .filter(|&i| rooms[i].1.fits(&request) && !avoided(&rooms[i].0))
                .or_else(|| {
                    candidates
                        .iter()
                        .position(|(n, room)| room.fits(&request) && !avoided(n))
                        .map(|i| i + full)
                })
                // Only the node that evicted it has room: better there than nowhere.
                .or_else(|| {
                    candidates.iter().position(|(_, room)| room.fits(&request)).map(|i| i + full)
                });
            match chosen {
                Some(i) => {
                    let node = rooms[i].0.clone();
                    rooms[i].1 = rooms[i].1.saturating_sub(&request);
                    let task = self.tasks.get_mut(&id).expect("present");
                    task.attempt += 1;
                    task.state = TaskState::Assigned;
                    task.node = Some(node.clone());
                    task.avoid.clear();
                    task.history.push(AttemptRecord {
                        attempt: task.attempt,
                        node: node.clone(),
                        outcome: "assigned".into(),
                    });
                    placed.push((id, node));
                }
                None => waiting.push_back(id),
            }
        }
        self.queue = waiting;
        placed
    }

    /// Checks that `node` holds `task`'s `attempt` (assigned or running), before its report
    /// is appended to the ledger.
    pub fn check_report(&self, node: &str, task: &str, attempt: u32) -> Result<(), PoolError> {
        let t = self.tasks.get(task).ok_or_else(|| PoolError::UnknownTask(task.to_string()))?;
        let holds = matches!(t.state, TaskState::Assigned | TaskState::Running)
            && t.attempt == attempt
            && t.node.as_deref() == Some(node);
        if holds {
            Ok(())
        } else {
            let state = match &t.node {
                Some(n) if !t.state.is_final() => {
                    format!("{:?} attempt {} on {n}", t.state, t.attempt).to_lowercase()
                }
                _ => format!("{:?}", t.state).to_lowercase(),
            };
            Err(PoolError::Stale { task: task.to_string(), attempt, node: node.to_string(), state })
        }
    }

    fn set_outcome(task: &mut Task, outcome: String) {
        let attempt = task.attempt;
        if let Some(record) = task.history.iter_mut().rev().find(|r| r.attempt == attempt) {
            record.outcome = outcome;
        }
    }

    /// Applies a node's report that the ledger accepted (after [`Pool::check_report`]):
    /// `task_start`, `task_finish` (with its exit code), `task_fail` (the node could not start
    /// it: retried while retries last) or `task_move` (the owner reclaimed the reserve: queued
    /// again, avoiding that node). Returns drafts the controller appends after it (a
    /// `task_retry`, or a `task_fail` when no retry is left).
    pub fn apply_report(
        &mut self,
        node: &str,
        kind: Kind,
        task_id: &str,
        exit_code: Option<i32>,
        reason: Option<&str>,
        now_ms: u64,
    ) -> Vec<Draft> {
        let Some(task) = self.tasks.get_mut(task_id) else { return Vec::new() };
        match kind {
            Kind::TaskStart => {
                task.state = TaskState::Running;
                Pool::set_outcome(task, "running".into());
                Vec::new()
            }
            Kind::TaskFinish => {
                task.state = TaskState::Finished;
                task.exit_code = exit_code;
                task.ended_ms = Some(now_ms);
                Pool::set_outcome(task, format!("finished: exit code {}", exit_code.unwrap_or(-1)));
                Vec::new()
            }
            Kind::TaskFail => {
                let why = reason.unwrap_or("the node could not run it").to_string();
                Pool::set_outcome(task, format!("failed: {why}"));
                self.retry(task_id, node, &format!("failed on {node}: {why}"), now_ms)
            }
            Kind::TaskMove => {
                let why = reason.unwrap_or("the owner reclaimed the reserve").to_string();
                Pool::set_outcome(task, format!("moved: {why}"));
                task.moves += 1;
                if task.moves > MAX_MOVES {
                    return self.fail(task_id, node, format!("moved {MAX_MOVES} times"), now_ms);
                }
                task.state = TaskState::Queued;
                task.node = None;
                task.avoid = vec![node.to_string()];
                self.queue.push_back(task_id.to_string());
                Vec::new()
            }
            Kind::Join | Kind::Leave | Kind::TaskRetry => Vec::new(),
        }
    }

    fn fail(&mut self, task_id: &str, node: &str, why: String, now_ms: u64) -> Vec<Draft> {
        let Some(task) = self.tasks.get_mut(task_id) else { return Vec::new() };
        task.state = TaskState::Failed;
        task.reason = Some(why.clone());
        task.ended_ms = Some(now_ms);
        task.node = None;
        vec![Draft::new(now_ms, node, Kind::TaskFail)
            .task(task_id)
            .detail("attempt", task.attempt)
            .detail("reason", why)]
    }

    /// Queues `task_id` again after its attempt on `node` ended without a result; a
    /// `task_retry` draft, or a `task_fail` one when no retry is left.
    fn retry(&mut self, task_id: &str, node: &str, why: &str, now_ms: u64) -> Vec<Draft> {
        let Some(task) = self.tasks.get_mut(task_id) else { return Vec::new() };
        if task.retries_used >= task.retries {
            let retries = task.retries;
            return self.fail(
                task_id,
                node,
                format!("{why}; no retry left ({retries} allowed)"),
                now_ms,
            );
        }
        task.retries_used += 1;
        task.state = TaskState::Queued;
        task.node = None;
        self.queue.push_back(task_id.to_string());
        vec![Draft::new(now_ms, node, Kind::TaskRetry)
            .task(task_id)
            .detail("from", node)
            .detail("attempt", task.attempt)
            .detail("next_attempt", task.attempt + 1)
            .detail("retry", task.retries_used)
            .detail("reason", why)]
    }

    /// A node is lost (beacon silence, no polls) or left: its attempts are retried elsewhere
    /// or fail, then it leaves. Returns the drafts in ledger order (the retries while it is
    /// still a member, then its `leave`), all for the controller to sign. Nothing for a
    /// node that is not a member.
    pub fn lose(&mut self, id: &str, reason: &str, now_ms: u64) -> Vec<Draft> {
        if !self.members.get(id).is_some_and(|m| m.active) {
            return Vec::new();
        }
        let mut drafts = self.release(id, reason, now_ms);
        if let Some(member) = self.members.get_mut(id).filter(|m| m.active) {
            member.active = false;
            member.left_reason = Some(reason.to_string());
            drafts.push(Draft::new(now_ms, id, Kind::Leave).detail("reason", reason));
        }
        drafts
    }

    /// A node left by its own signed `leave` (already in the ledger): its attempts are retried
    /// (drafts the controller appends after) and it stops being a member.
    pub fn left(&mut self, id: &str, now_ms: u64) -> Vec<Draft> {
        if let Some(member) = self.members.get_mut(id) {
            member.active = false;
            member.left_reason = Some("it left".into());
        }
        self.release(id, "its node left", now_ms)
    }

    fn release(&mut self, id: &str, reason: &str, now_ms: u64) -> Vec<Draft> {
        let held: Vec<String> = self
            .tasks()
            .into_iter()
            .filter(|t| {
                matches!(t.state, TaskState::Assigned | TaskState::Running)
                    && t.node.as_deref() == Some(id)
            })
            .map(|t| t.id.clone())
            .collect();
        let mut drafts = Vec::new();
        for task_id in held {
            if let Some(task) = self.tasks.get_mut(&task_id) {
                Pool::set_outcome(task, format!("lost: {reason}"));
            }
            drafts.extend(self.retry(&task_id, id, &format!("{id} lost: {reason}"), now_ms));
        }
        drafts
    }

    /// Active members not heard from (no poll) since `before_ms`.
    pub fn silent_since(&self, before_ms: u64) -> Vec<String> {
        self.members
            .values()
            .filter(|m| m.active && m.last_seen_ms < before_ms)
            .map(|m| m.id.clone())
            .collect()
    }

    /// Cancels a task: a queued one at once, a placed one too (its node is told to stop it at
    /// its next poll). Returns the `task_fail` draft (reason `cancelled`), or nothing for a
    /// task already over.
    pub fn cancel(&mut self, task_id: &str, now_ms: u64) -> Result<Vec<Draft>, PoolError> {
        let task =
            self.tasks.get_mut(task_id).ok_or_else(|| PoolError::UnknownTask(task_id.into()))?;
        if task.state.is_final() {
            return Ok(Vec::new());
        }
        let node = task.node.clone();
        task.state = TaskState::Cancelled;
        task.reason = Some("cancelled".into());
        task.ended_ms = Some(now_ms);
        Pool::set_outcome(task, "cancelled".into());
        self.queue.retain(|q| q != task_id);
        // A ledger entry is about a member: a task never placed, or whose node is gone, is
        // cancelled in the pool's state only.
        Ok(match node.filter(|n| self.members.get(n).is_some_and(|m| m.active)) {
            Some(node) => vec![Draft::new(now_ms, node, Kind::TaskFail)
                .task(task_id)
                .detail("attempt", self.tasks[task_id].attempt)
                .detail("reason", "cancelled")],
            None => Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(cpu: f64, mem_mib: u64) -> Resources {
        Resources { cpu, mem_mib, disk_mib: 0, gpu: 0 }
    }

    fn join(
        pool: &mut Pool,
        key: &str,
        beacon: u32,
        score: f64,
        cap: Resources,
        reserve: Resources,
    ) -> String {
        pool.join(key, beacon, score, cap, reserve, "rlimits", "nobody", 1).unwrap().0
    }

    /// m1 (score 10) and m2 (score 5), each offering all of its 4 cores and 4 GiB.
    fn two_idle_members() -> Pool {
        let mut pool = Pool::new();
        join(&mut pool, "ka", 1, 10.0, res(4.0, 4096), res(0.0, 0));
        join(&mut pool, "kb", 2, 5.0, res(4.0, 4096), res(0.0, 0));
        for m in ["m1", "m2"] {
            pool.poll(m, res(4.0, 4096), res(0.0, 0), &[], 2).unwrap();
        }
        pool
    }

    fn kinds(drafts: &[Draft]) -> Vec<Kind> {
        drafts.iter().map(|d| d.kind).collect()
    }

    #[test]
    fn the_same_key_gets_the_same_machine_id_and_a_restart_retries_its_tasks() {
        let mut pool = Pool::new();
        let a = join(&mut pool, "ka", 1, 10.0, res(4.0, 4096), res(1.0, 1024));
        let b = join(&mut pool, "kb", 2, 20.0, res(4.0, 4096), res(1.0, 1024));
        assert_eq!((a.as_str(), b.as_str()), ("m1", "m2"));
        assert_eq!(pool.rank("m2"), Some(1));
        pool.poll("m1", res(3.0, 3072), res(0.0, 0), &[], 2).unwrap();
        let t = pool
            .submit(vec!["true".into()], res(1.0, 100), Placement::Pool, 1, 3)
            .unwrap()
            .unwrap();
        assert_eq!(pool.schedule(|_| Some("m1".into())), vec![(t.clone(), "m1".to_string())]);
        let (id, drafts) = pool
            .join("ka", 1, 10.0, res(4.0, 4096), res(1.0, 1024), "rlimits", "nobody", 5)
            .unwrap();
        assert_eq!(id, "m1");
        assert_eq!(kinds(&drafts), vec![Kind::TaskRetry, Kind::Leave, Kind::Join]);
        assert_eq!(pool.task(&t).unwrap().state, TaskState::Queued);
    }

    #[test]
    fn placement_prefers_the_beacon_pick_then_rank_and_never_exceeds_room() {
        let mut pool = Pool::new();
        join(&mut pool, "ka", 1, 10.0, res(4.0, 4096), res(1.0, 1024));
        join(&mut pool, "kb", 2, 20.0, res(8.0, 8192), res(1.0, 1024));
        pool.poll("m1", res(3.0, 3072), res(0.0, 0), &[], 2).unwrap();
        pool.poll("m2", res(2.0, 7168), res(5.0, 0), &[], 2).unwrap();
        let t1 =
            pool.submit(vec!["a".into()], res(2.0, 100), Placement::Pool, 0, 3).unwrap().unwrap();
        let t2 =
            pool.submit(vec!["b".into()], res(2.0, 100), Placement::Pool, 0, 3).unwrap().unwrap();
        let t3 =
            pool.submit(vec!["c".into()], res(2.0, 100), Placement::Pool, 0, 3).unwrap().unwrap();
        // The beacon pick m1 has room for one; then rank: m2 (score 20) has room for one.
        let placed = pool.schedule(|_| Some("m1".into()));
        assert_eq!(placed, vec![(t1, "m1".into()), (t2, "m2".into())]);
        assert_eq!(pool.task(&t3).unwrap().state, TaskState::Queued);
        assert!(pool.room("m1").cpu < 2.0 && pool.room("m2").cpu < 2.0);
    }

    #[test]
    fn a_task_no_member_could_hold_is_refused_and_auto_wants_room_now() {
        let mut pool = Pool::new();
        join(&mut pool, "ka", 1, 10.0, res(4.0, 4096), res(1.0, 1024));
        let never = pool.submit(vec!["x".into()], res(3.5, 100), Placement::Pool, 0, 1).unwrap();
        let err = never.unwrap_err();
        assert!(!err.ever);
        assert!(err.reason.contains("m1's cpu=3"), "{}", err.reason);
        // Fits the ceiling, but m1 has offered nothing yet: auto declines, pool queues.
        let auto = pool.submit(vec!["x".into()], res(2.0, 100), Placement::Auto, 0, 1).unwrap();
        assert!(auto.unwrap_err().ever);
        assert!(pool
            .submit(vec!["x".into()], res(2.0, 100), Placement::Pool, 0, 1)
            .unwrap()
            .is_ok());
        assert!(pool.submit(vec![], res(1.0, 1), Placement::Pool, 0, 1).is_err());
        assert!(pool.submit(vec!["x".into()], res(0.0, 1), Placement::Pool, 0, 1).is_err());
    }

    #[test]
    fn a_lost_node_retries_its_tasks_until_the_policy_runs_out() {
        let mut pool = two_idle_members();
        let t =
            pool.submit(vec!["x".into()], res(1.0, 10), Placement::Pool, 1, 3).unwrap().unwrap();
        pool.schedule(|_| None);
        assert_eq!(pool.task(&t).unwrap().node.as_deref(), Some("m1"));
        pool.apply_report("m1", Kind::TaskStart, &t, None, None, 4);
        let drafts = pool.lose("m1", "lost: beacon silence", 5);
        assert_eq!(kinds(&drafts), vec![Kind::TaskRetry, Kind::Leave]);
        assert_eq!(drafts[0].node, "m1");
        pool.schedule(|_| None);
        let task = pool.task(&t).unwrap();
        assert_eq!((task.node.as_deref(), task.attempt), (Some("m2"), 2));
        // The old node's late report is stale.
        assert!(matches!(pool.check_report("m1", &t, 1), Err(PoolError::Stale { .. })));
        assert!(pool.check_report("m2", &t, 2).is_ok());
        // m2 is lost too: no retry left.
        let drafts = pool.lose("m2", "lost: beacon silence", 6);
        assert_eq!(kinds(&drafts), vec![Kind::TaskFail, Kind::Leave]);
        assert_eq!(pool.task(&t).unwrap().state, TaskState::Failed);
        assert!(matches!(
            pool.poll("m2", res(1.0, 1), res(0.0, 0), &[], 7),
            Err(PoolError::NotMember { .. })
        ));
    }

    #[test]
    fn an_eviction_moves_the_task_away_from_the_evicting_node() {
        let mut pool = two_idle_members();
        let t =
            pool.submit(vec!["x".into()], res(1.0, 10), Placement::Pool, 0, 3).unwrap().unwrap();
        pool.schedule(|_| Some("m1".into()));
        pool.apply_report("m1", Kind::TaskStart, &t, None, None, 4);
        assert!(pool.apply_report("m1", Kind::TaskMove, &t, None, Some("reserve"), 5).is_empty());
        pool.schedule(|_| Some("m1".into()));
        let task = pool.task(&t).unwrap();
        assert_eq!(
            (task.node.as_deref(), task.attempt, task.moves, task.retries_used),
            (Some("m2"), 2, 1, 0)
        );
        // The node still running the old attempt is told to stop it; the new node gets it.
        let running = [AttemptRef { task: t.clone(), attempt: 1 }];
        let (assign, cancel) = pool.poll("m1", res(4.0, 4096), res(0.0, 0), &running, 6).unwrap();
        assert!(assign.is_empty());
        assert_eq!(cancel, running.to_vec());
        let (assign, _) = pool.poll("m2", res(4.0, 4096), res(0.0, 0), &[], 6).unwrap();
        assert_eq!(assign.len(), 1);
        assert_eq!(assign[0].attempt.attempt, 2);
    }

    #[test]
    fn cancelling_and_finishing_end_a_task_once() {
        let mut pool = Pool::new();
        join(&mut pool, "ka", 1, 10.0, res(4.0, 4096), res(0.0, 0));
        pool.poll("m1", res(4.0, 4096), res(0.0, 0), &[], 2).unwrap();
        let t =
            pool.submit(vec!["x".into()], res(1.0, 10), Placement::Pool, 0, 3).unwrap().unwrap();
        let q =
            pool.submit(vec!["y".into()], res(1.0, 10), Placement::Pool, 0, 3).unwrap().unwrap();
        assert!(pool.cancel(&q, 3).unwrap().is_empty());
        pool.schedule(|_| None);
        assert_eq!(pool.task(&q).unwrap().state, TaskState::Cancelled);
        pool.apply_report("m1", Kind::TaskStart, &t, None, None, 4);
        pool.apply_report("m1", Kind::TaskFinish, &t, Some(3), None, 5);
        let task = pool.task(&t).unwrap();
        assert_eq!((task.state, task.exit_code), (TaskState::Finished, Some(3)));
        assert!(pool.check_report("m1", &t, 1).is_err());
        assert!(pool.cancel(&t, 6).unwrap().is_empty());
        assert!(pool.cancel("t99", 6).is_err());
    }

    #[test]
    fn the_pool_round_trips_through_json() {
        let mut pool = Pool::new();
        join(&mut pool, "ka", 1, 10.0, res(4.0, 4096), res(0.0, 0));
        pool.submit(vec!["x".into()], res(1.0, 10), Placement::Pool, 0, 3).unwrap().unwrap();
        let text = serde_json::to_string(&pool).unwrap();
        assert_eq!(serde_json::from_str::<Pool>(&text).unwrap(), pool);
    }
}
