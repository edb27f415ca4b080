//! The pool's messages between agents, the controller and `hearth run`: JSON bodies under
//! `/api/v1/pool/` (docs/pool.md "Protocol"). Every request carries the bearer token; every
//! answer to an agent carries `x-hearth-mac`, the HMAC of the agent's nonce and the body under
//! that token ([`mac`]), so an agent runs tasks only from a controller that holds the token.

use crate::ledger::{hex, unhex};
use crate::reserve::Resources;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The header that carries an answer's MAC.
pub const MAC_HEADER: &str = "x-hearth-mac";

/// The MAC of an answer: HMAC-SHA256 under the token over the domain tag
/// `hearth-pool-v1\n`, the request's nonce, a newline and the answer's body; 64 hex digits.
pub fn mac(token: &str, nonce: &str, body: &[u8]) -> String {
    hex(&keyed(token, nonce, body).finalize().into_bytes())
}

/// Whether `presented` is the MAC of `body` for `nonce` under `token` (constant time).
pub fn mac_matches(token: &str, nonce: &str, body: &[u8], presented: &str) -> bool {
    unhex::<32>(presented).is_ok_and(|bytes| keyed(token, nonce, body).verify_slice(&bytes).is_ok())
}

fn keyed(token: &str, nonce: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut hmac =
        <Hmac<Sha256> as Mac>::new_from_slice(token.as_bytes()).expect("HMAC takes any key length");
    hmac.update(b"hearth-pool-v1\n");
    hmac.update(nonce.as_bytes());
    hmac.update(b"\n");
    hmac.update(body);
    hmac
}

/// Where the ledger stands: what a node signs its next report for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The seq the next entry gets.
    pub next_seq: u64,
    /// The last entry's hash (64 hex digits; zeros when empty), the next entry's `prev`.
    pub head: String,
}

/// `POST /api/v1/pool/join`: a node asks to join (seed 001 FIG. 9).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// The node's Ed25519 public key (64 hex digits): its identity, and the key of its ledger
    /// reports. The same key always gets the same machine ID.
    pub public_key: String,
    /// The node's beacon ID (`--node-id`): the beacon selector names nodes by it.
    pub beacon_node: u32,
    /// The benchmark score (higher is faster).
    pub score: f64,
    /// The node's capacity.
    pub capacity: Resources,
    /// The owner's reserve (`--reserve`).
    pub reserve: Resources,
    /// How the node confines tasks: `cgroup2`, `cgroup1` or `rlimits`.
    pub isolation: String,
    /// The user tasks run as.
    pub user: String,
    /// A fresh random string; the answer's MAC covers it.
    pub nonce: String,
}

/// The answer to a join.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JoinResponse {
    /// The node's stable machine ID.
    pub machine_id: String,
    /// The controller's ledger public key (64 hex digits).
    pub controller_key: String,
    /// The node's rank by score among the members (1 = fastest).
    pub rank: usize,
    /// How many members the pool has, this node included.
    pub members: usize,
    /// The ledger's head after the join.
    pub ledger: Head,
}

/// A task attempt a node runs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AttemptRef {
    /// The task ID.
    pub task: String,
    /// The attempt (1 for the first run, one more per retry or move).
    pub attempt: u32,
}

/// `POST /api/v1/pool/poll`: a node's heartbeat, every half second or so; the answer carries
/// its assignments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollRequest {
    /// The node's machine ID.
    pub machine_id: String,
    /// A fresh random string; the answer's MAC covers it.
    pub nonce: String,
    /// What the node offers now: capacity − max(reserve, predicted local use).
    pub surplus: Resources,
    /// The owner's local use now (measured or `--fake-local-load`), for the record.
    pub local_use: Resources,
    /// The attempts running on the node.
    pub running: Vec<AttemptRef>,
}

/// A task assigned to a node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// The task and attempt.
    pub attempt: AttemptRef,
    /// The command and its arguments.
    pub argv: Vec<String>,
    /// What the task may use.
    pub request: Resources,
}

/// The answer to a poll.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PollResponse {
    /// Attempts to start (assigned to the node and not yet reported started).
    pub assign: Vec<Assignment>,
    /// Attempts to stop: cancelled, or no longer the node's (retried elsewhere while it was
    /// away).
    pub cancel: Vec<AttemptRef>,
    /// The ledger's head, for the node's next signed report.
    pub ledger: Head,
}

/// `POST /api/v1/pool/report`: a ledger entry the node signed (a task's start, finish,
/// failure or move, or its leave), for the head it was last given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    /// The node's machine ID.
    pub machine_id: String,
    /// A fresh random string; the answer's MAC covers it.
    pub nonce: String,
    /// The attempt the entry is about (0 for a leave).
    pub attempt: u32,
    /// The signed entry's line.
    pub line: String,
}

/// The answer to a report: 200 when appended; 409 when the head moved (sign again for
/// `ledger`) or the attempt is stale (`stale`: drop the report, stop the attempt).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportResponse {
    /// Whether the entry is in the ledger now.
    pub appended: bool,
    /// The attempt is no longer the node's: do not report it again.
    pub stale: bool,
    /// Why it was refused.
    pub error: Option<String>,
    /// The ledger's head now.
    pub ledger: Head,
}

/// `POST /api/v1/pool/output`: output of a running attempt, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputRequest {
    /// The node's machine ID.
    pub machine_id: String,
    /// The attempt.
    pub attempt: AttemptRef,
    /// Standard output bytes, base64 (standard alphabet, padded).
    pub stdout: String,
    /// Standard error bytes, base64.
    pub stderr: String,
}

/// Where a task may run (`hearth run --on`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// On the pool, waiting for room if no node has it now; refused if no node could ever
    /// hold it.
    Pool,
    /// On the pool if a node has room now, else the caller runs it locally (seed 001 FIG. 10B).
    Auto,
}

/// `POST /api/v1/pool/tasks`: submit a task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// The command and its arguments (not empty).
    pub argv: Vec<String>,
    /// What it needs (cpu cores, memory).
    pub request: Resources,
    /// Where it may run.
    pub on: Placement,
    /// How many times it runs again after its node is lost or cannot start it.
    pub retries: u32,
}

/// The answer to a submission: the task's ID, or why it does not fit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubmitResponse {
    /// The new task's ID, when accepted.
    pub id: Option<String>,
    /// Whether the pool took it.
    pub fits: bool,
    /// Why not, naming the largest offer.
    pub reason: Option<String>,
}

/// The output of one attempt from an offset (`GET /api/v1/pool/tasks/ID/output`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputView {
    /// The task's current attempt (0 before the first assignment).
    pub attempt: u32,
    /// The node it runs or ran on.
    pub node: Option<String>,
    /// Standard output from the asked offset, base64.
    pub stdout: String,
    /// Standard error from the asked offset, base64.
    pub stderr: String,
    /// The offset after these stdout bytes.
    pub stdout_end: u64,
    /// The offset after these stderr bytes.
    pub stderr_end: u64,
    /// The task's state.
    pub state: crate::sched::TaskState,
    /// The exit code, once finished.
    pub exit_code: Option<i32>,
    /// Why it failed or was refused, once failed.
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_hash_reads_back_from_its_text() {
        use crate::ledger::EntryHash;
        let hash = EntryHash([0xab; 32]);
        assert_eq!(hash.to_string().parse::<EntryHash>(), Ok(hash));
        assert_eq!("AB".repeat(32).parse::<EntryHash>(), Ok(hash));
        assert!("ab".repeat(31).parse::<EntryHash>().unwrap_err().contains("64 hex digits"));
        assert!("zz".repeat(32).parse::<EntryHash>().is_err());
    }

    #[test]
    fn a_mac_binds_token_nonce_and_body() {
        let m = mac("secret", "n1", b"{\"a\":1}");
        assert_eq!(m.len(), 64);
        assert!(mac_matches("secret", "n1", b"{\"a\":1}", &m));
        assert!(!mac_matches("other", "n1", b"{\"a\":1}", &m));
        assert!(!mac_matches("secret", "n2", b"{\"a\":1}", &m));
        assert!(!mac_matches("secret", "n1", b"{\"a\":2}", &m));
        assert!(!mac_matches("secret", "n1", b"{\"a\":1}", "zz"));
        assert!(!mac_matches("secret", "n1", b"{\"a\":1}", &m[..62]));
    }
}
