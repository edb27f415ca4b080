//! The ledger's rules and their checker: what the chain has established so far ([`State`]:
//! the last seq and hash, the members and their keys, the finished tasks), the checks one entry
//! must pass against it, and [`verify`], which replays a file line by line and names the first
//! entry that fails. [`Ledger::append`](super::Ledger::append) runs the same rules, so what it
//! writes always verifies.

use super::encode::{self, hex};
use super::{Entry, EntryHash, Kind, VerifyingKey};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// How deeply an entry's `detail` may nest (serde_json refuses to parse past 128 levels, so
/// the limit keeps every written ledger readable, with room to spare).
pub const MAX_DETAIL_DEPTH: usize = 32;

/// The check an entry failed, in the order [`verify`] runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Check {
    /// The line is UTF-8 JSON with exactly the entry's fields, of the right types.
    Parse,
    /// The line is exactly what [`Entry::line`](super::Entry::line) writes for it.
    Canonical,
    /// The signature verifies with the key the entry names (the line was not edited after
    /// signing).
    Signature,
    /// `seq` is the previous entry's plus 1.
    Sequence,
    /// `prev` is the hash of the previous line.
    Chain,
    /// The fields fit the kind (a task ID exactly for task events, a node ID, a bounded
    /// detail).
    Fields,
    /// The key is allowed to sign this entry: the controller's, or the key the node's join
    /// introduced and no leave revoked.
    Signer,
    /// A join is of a node that is not a member, with a valid new key; other entries are of
    /// members.
    Membership,
    /// A task finishes at most once.
    Completion,
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Check::Parse => "parse",
            Check::Canonical => "canonical form",
            Check::Signature => "signature",
            Check::Sequence => "sequence",
            Check::Chain => "hash chain",
            Check::Fields => "fields",
            Check::Signer => "signer",
            Check::Membership => "membership",
            Check::Completion => "completion",
        })
    }
}

/// What is wrong with an entry. Its [`Check`] is [`Problem::check`]; its text says what and
/// names the keys, nodes, tasks and other entries involved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The line is not UTF-8; `at_byte` is the 1-based offset of the first bad byte in it.
    NotUtf8 {
        /// 1-based byte offset within the line.
        at_byte: usize,
    },
    /// An empty line (only the file's last newline may end it).
    EmptyLine,
    /// The line is not an entry: bad JSON, a missing or unknown field, a wrong type.
    Malformed {
        /// serde_json's message, or the field and what is wrong with it.
        reason: String,
    },
    /// The line parses but is not in canonical form (whitespace, key order, escapes, number
    /// spelling, hex case): it differs from the canonical line at `at_byte`.
    NotCanonical {
        /// 1-based byte offset of the first difference.
        at_byte: usize,
    },
    /// The signature does not verify with the key the entry names: the entry was edited after
    /// it was signed.
    BadSignature {
        /// Whose key the entry names (`node n1's key`, `the controller's key`, `unknown key …`).
        signer: String,
    },
    /// `seq` jumps past the next number, which appears nowhere later in the file.
    Removed {
        /// The previous entry's seq (0 before the first entry).
        after: u64,
        /// This entry's seq.
        next: u64,
    },
    /// `seq` jumps past the next number, which appears later in the file.
    Reordered {
        /// The seq that should be here.
        expected: u64,
        /// The 1-based line where it is.
        expected_at_line: usize,
    },
    /// `seq` is not above the previous entry's: moved down, or repeated.
    OutOfOrder {
        /// The previous entry's seq.
        previous: u64,
    },
    /// `prev` is not the hash of the previous line.
    BadPrev {
        /// The previous line's number (0 for the first entry, whose `prev` must be zeros).
        previous_line: usize,
    },
    /// The node ID is empty.
    EmptyNode,
    /// A task event without a task ID (or with an empty one).
    MissingTask,
    /// A join or a leave with a task ID.
    UnexpectedTask,
    /// `detail` nests deeper than [`MAX_DETAIL_DEPTH`].
    DetailTooDeep {
        /// How deep it nests.
        depth: usize,
    },
    /// The key is neither the controller's nor one a join introduced.
    UnknownKey {
        /// The key, 64 hex digits.
        key: String,
    },
    /// The key was a node's, but its leave (or a later join with a new key) revoked it.
    RevokedKey {
        /// The node whose key it was.
        node: String,
    },
    /// A node's key signed an entry of another node.
    WrongSigner {
        /// The node whose key signed.
        signer: String,
        /// The node the entry is about.
        node: String,
    },
    /// A join not signed by the controller.
    JoinNotByController {
        /// The node whose key signed it.
        signer: String,
    },
    /// A join of a node that is already a member.
    AlreadyMember {
        /// The node.
        node: String,
        /// The seq of its join.
        joined: u64,
    },
    /// A join whose `detail.public_key` is missing or not a usable Ed25519 public key.
    BadJoinKey {
        /// What is wrong with it.
        reason: String,
    },
    /// A join whose key is the controller's or another node's.
    KeyInUse {
        /// `the controller` or `node n2`.
        owner: String,
    },
    /// An entry of a node that is not a member.
    NotMember {
        /// The node.
        node: String,
        /// The seq of its last leave, if it left.
        left: Option<u64>,
    },
    /// A second `task_finish` of a task.
    FinishedTwice {
        /// The task.
        task: String,
        /// The seq of its first finish.
        first: u64,
        /// The seq of this one.
        second: u64,
    },
}

impl Problem {
    /// The check this problem fails.
    pub fn check(&self) -> Check {
        match self {
            Problem::NotUtf8 { .. } | Problem::EmptyLine | Problem::Malformed { .. } => {
                Check::Parse
            }
            Problem::NotCanonical { .. } => Check::Canonical,
            Problem::BadSignature { .. } => Check::Signature,
            Problem::Removed { .. } | Problem::Reordered { .. } | Problem::OutOfOrder { .. } => {
                Check::Sequence
            }
            Problem::BadPrev { .. } => Check::Chain,
            Problem::EmptyNode
            | Problem::MissingTask
            | Problem::UnexpectedTask
            | Problem::DetailTooDeep { .. } => Check::Fields,
            Problem::UnknownKey { .. }
            | Problem::RevokedKey { .. }
            | Problem::WrongSigner { .. }
            | Problem::JoinNotByController { .. } => Check::Signer,
            Problem::AlreadyMember { .. }
            | Problem::BadJoinKey { .. }
            | Problem::KeyInUse { .. }
            | Problem::NotMember { .. } => Check::Membership,
            Problem::FinishedTwice { .. } => Check::Completion,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::NotUtf8 { at_byte } => write!(f, "not UTF-8 (byte {at_byte} of the line)"),
            Problem::EmptyLine => f.write_str("empty line"),
            Problem::Malformed { reason } => write!(f, "malformed entry: {reason}"),
            Problem::NotCanonical { at_byte } => write!(
                f,
                "not in canonical form: differs from the entry's canonical line at byte \
                 {at_byte}; the line was edited"
            ),
            Problem::BadSignature { signer } => write!(
                f,
                "signature does not verify with {signer}: the entry was edited after it was \
                 signed"
            ),
            Problem::Removed { after: 0, next } => {
                write!(f, "entries removed before seq {next} (the first entry is seq 1)")
            }
            Problem::Removed { after, next } => {
                write!(f, "entries removed between seq {after} and {next}")
            }
            Problem::Reordered { expected, expected_at_line } => write!(
                f,
                "entries reordered: seq {expected} belongs here but is at line \
                 {expected_at_line}"
            ),
            Problem::OutOfOrder { previous } => write!(
                f,
                "entries reordered or repeated: the previous entry is seq {previous}, this one \
                 is not above it"
            ),
            Problem::BadPrev { previous_line: 0 } => f.write_str(
                "prev is not 64 zeros, as the first entry's must be: entries were removed \
                 before it",
            ),
            Problem::BadPrev { previous_line } => write!(
                f,
                "prev is not the hash of line {previous_line}: the entry it was chained to was \
                 removed, replaced or edited"
            ),
            Problem::EmptyNode => f.write_str("empty node ID"),
            Problem::MissingTask => f.write_str("a task event without a task ID"),
            Problem::UnexpectedTask => f.write_str("a join or leave with a task ID"),
            Problem::DetailTooDeep { depth } => {
                write!(f, "detail nests {depth} levels deep; at most {MAX_DETAIL_DEPTH}")
            }
            Problem::UnknownKey { key } => write!(
                f,
                "signed by unknown key {key}: not the controller's and not introduced by a join"
            ),
            Problem::RevokedKey { node } => {
                write!(f, "signed by node {node}'s key, which its leave or a later join revoked")
            }
            Problem::WrongSigner { signer, node } => {
                write!(f, "an entry of node {node} signed by node {signer}'s key")
            }
            Problem::JoinNotByController { signer } => write!(
                f,
                "a join signed by node {signer}'s key; only the controller's key admits nodes"
            ),
            Problem::AlreadyMember { node, joined } => {
                write!(f, "node {node} joins again without leaving (it joined at entry {joined})")
            }
            Problem::BadJoinKey { reason } => write!(f, "detail.public_key: {reason}"),
            Problem::KeyInUse { owner } => write!(f, "the joining key is already {owner}'s"),
            Problem::NotMember { node, left: Some(left) } => {
                write!(f, "node {node} is not a member (it left at entry {left})")
            }
            Problem::NotMember { node, left: None } => {
                write!(f, "node {node} is not a member (it never joined)")
            }
            Problem::FinishedTwice { task, first, second } => {
                write!(f, "task {task} finished twice, entries {first} and {second}")
            }
        }
    }
}

/// The first bad entry of a ledger file and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// Its 1-based line number.
    pub line: usize,
    /// Its seq, when the line parsed.
    pub seq: Option<u64>,
    /// What is wrong (its check is `problem.check()`).
    pub problem: Problem,
}

impl VerifyError {
    /// The check the entry failed.
    pub fn check(&self) -> Check {
        self.problem.check()
    }
}

impl std::fmt::Display for VerifyError {
    /// `line 9 (seq 10): sequence check failed: entries removed between seq 8 and 10`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(seq) = self.seq {
            write!(f, " (seq {seq})")?;
        }
        write!(f, ": {} check failed: {}", self.problem.check(), self.problem)
    }
}

impl std::error::Error for VerifyError {}

/// What an intact ledger holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// How many entries (the last seq).
    pub entries: u64,
    /// How many distinct nodes ever joined.
    pub nodes: usize,
    /// How many of them are members at the end.
    pub members: usize,
    /// How many distinct tasks have an event.
    pub tasks: usize,
    /// How many of them finished.
    pub tasks_finished: usize,
    /// The last line's hash ([`EntryHash::ZERO`] for an empty ledger): kept elsewhere, it
    /// detects entries cut off the end, which the file alone cannot show.
    pub head: EntryHash,
    /// The last entry's `at_ms`.
    pub last_at_ms: Option<u64>,
}

impl std::fmt::Display for Report {
    /// `21 entries, 2 nodes joined (1 still a member), 6 tasks (5 finished), head 9f…` (the
    /// head in full; singular nouns for 1).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural =
            |n: u64, one: &'static str, many: &'static str| if n == 1 { one } else { many };
        write!(
            f,
            "{} {}, {} {} joined ({} still a member), {} {} ({} finished), head {}",
            self.entries,
            plural(self.entries, "entry", "entries"),
            self.nodes,
            plural(self.nodes as u64, "node", "nodes"),
            self.members,
            self.tasks,
            plural(self.tasks as u64, "task", "tasks"),
            self.tasks_finished,
            self.head
        )
    }
}

/// What the chain has established after its entries so far.
#[derive(Clone, Debug)]
pub(crate) struct State {
    /// The trust anchor.
    controller: VerifyingKey,
    last_seq: u64,
    head: EntryHash,
    last_at_ms: Option<u64>,
    /// Current members: node → its key and the seq of its join.
    members: BTreeMap<String, (VerifyingKey, u64)>,
    /// Every key a join introduced → its node (revoked keys stay, to be named).
    owners: BTreeMap<[u8; 32], String>,
    /// Nodes that left → the seq of their last leave.
    left: BTreeMap<String, u64>,
    /// Every node that ever joined.
    joined: BTreeSet<String>,
    /// Every task with an event.
    tasks: BTreeSet<String>,
    /// Finished tasks → the seq of their finish.
    finished: BTreeMap<String, u64>,
}

impl State {
    /// Before the first entry.
    pub(crate) fn new(controller: VerifyingKey) -> State {
        State {
            controller,
            last_seq: 0,
            head: EntryHash::ZERO,
            last_at_ms: None,
            members: BTreeMap::new(),
            owners: BTreeMap::new(),
            left: BTreeMap::new(),
            joined: BTreeSet::new(),
            tasks: BTreeSet::new(),
            finished: BTreeMap::new(),
        }
    }

    /// The seq of the next entry.
    pub(crate) fn next_seq(&self) -> u64 {
        self.last_seq + 1
    }

    /// The last entry's hash, the next entry's `prev`.
    pub(crate) fn head(&self) -> EntryHash {
        self.head
    }

    /// Whose `key` is, for messages.
    pub(crate) fn describe_key(&self, key: &VerifyingKey) -> String {
        if *key == self.controller {
            return "the controller's key".to_string();
        }
        match self.owners.get(key.as_bytes()) {
            Some(node) => format!("node {node}'s key"),
            None => format!("unknown key {}", hex(key.as_bytes())),
        }
    }

    /// The fields and the signer's right to sign `entry` (the signature itself is checked by
    /// the caller). Returns nothing; the error is the first rule broken.
    pub(crate) fn authorize(&self, entry: &Entry) -> Result<(), Problem> {
        if entry.node.is_empty() {
            return Err(Problem::EmptyNode);
        }
        match (&entry.task, entry.kind.is_task()) {
            (Some(task), true) if !task.is_empty() => {}
            (_, true) => return Err(Problem::MissingTask),
            (Some(_), false) => return Err(Problem::UnexpectedTask),
            (None, false) => {}
        }
        let depth = encode::depth(&entry.detail);
        if depth > MAX_DETAIL_DEPTH {
            return Err(Problem::DetailTooDeep { depth });
        }
        // Who signed: the controller, or a member with its current key.
        let signer = if entry.key == self.controller {
            None
        } else {
            let Some(owner) = self.owners.get(entry.key.as_bytes()) else {
                return Err(Problem::UnknownKey { key: hex(entry.key.as_bytes()) });
            };
            match self.members.get(owner) {
                Some((key, _)) if *key == entry.key => Some(owner),
                _ => return Err(Problem::RevokedKey { node: owner.clone() }),
            }
        };
        match (entry.kind, signer) {
            (_, None) => Ok(()),
            (Kind::Join, Some(node)) => Err(Problem::JoinNotByController { signer: node.clone() }),
            (_, Some(node)) if *node != entry.node => {
                Err(Problem::WrongSigner { signer: node.clone(), node: entry.node.clone() })
            }
            (_, Some(_)) => Ok(()),
        }
    }

    /// The membership and completion rules for `entry` (after [`State::authorize`]).
    pub(crate) fn admit(&self, entry: &Entry) -> Result<(), Problem> {
        if entry.kind == Kind::Join {
            if let Some((_, joined)) = self.members.get(&entry.node) {
                return Err(Problem::AlreadyMember { node: entry.node.clone(), joined: *joined });
            }
            let key = join_key(entry)?;
            if key == self.controller {
                return Err(Problem::KeyInUse { owner: "the controller".to_string() });
            }
            if let Some(owner) = self.owners.get(key.as_bytes()) {
                if *owner != entry.node {
                    return Err(Problem::KeyInUse { owner: format!("node {owner}") });
                }
            }
            return Ok(());
        }
        if !self.members.contains_key(&entry.node) {
            return Err(Problem::NotMember {
                node: entry.node.clone(),
                left: self.left.get(&entry.node).copied(),
            });
        }
        if let (Kind::TaskFinish, Some(task)) = (entry.kind, &entry.task) {
            if let Some(first) = self.finished.get(task) {
                return Err(Problem::FinishedTwice {
                    task: task.clone(),
                    first: *first,
                    second: entry.seq,
                });
            }
        }
        Ok(())
    }

    /// Takes `entry` (which passed every check) into the state; `hash` is its line's hash.
    pub(crate) fn apply(&mut self, entry: &Entry, hash: EntryHash) {
        self.last_seq = entry.seq;
        self.head = hash;
        self.last_at_ms = Some(entry.at_ms);
        match entry.kind {
            Kind::Join => {
                // `admit` checked the key; a join that got here has one.
                if let Ok(key) = join_key(entry) {
                    self.members.insert(entry.node.clone(), (key, entry.seq));
                    self.owners.insert(key.to_bytes(), entry.node.clone());
                    self.joined.insert(entry.node.clone());
                }
            }
            Kind::Leave => {
                self.members.remove(&entry.node);
                self.left.insert(entry.node.clone(), entry.seq);
            }
            _ => {}
        }
        if let Some(task) = &entry.task {
            self.tasks.insert(task.clone());
            if entry.kind == Kind::TaskFinish {
                self.finished.insert(task.clone(), entry.seq);
            }
        }
    }

    /// The summary of what the chain holds.
    pub(crate) fn report(&self) -> Report {
        Report {
            entries: self.last_seq,
            nodes: self.joined.len(),
            members: self.members.len(),
            tasks: self.tasks.len(),
            tasks_finished: self.finished.len(),
            head: self.head,
            last_at_ms: self.last_at_ms,
        }
    }
}

/// The public key a join introduces: `detail.public_key`, 64 hex digits of a valid, not weak
/// Ed25519 key.
fn join_key(entry: &Entry) -> Result<VerifyingKey, Problem> {
    let bad = |reason: String| Problem::BadJoinKey { reason };
    let text = match entry.detail.get("public_key") {
        Some(Value::String(text)) => text,
        Some(_) => return Err(bad("expected a string of 64 hex digits".to_string())),
        None => return Err(bad("missing; a join carries the node's public key".to_string())),
    };
    let bytes = encode::unhex::<32>(text).map_err(bad)?;
    let key = VerifyingKey::from_bytes(&bytes)
        .map_err(|_| bad("not an Ed25519 public key (not a curve point)".to_string()))?;
    if key.is_weak() {
        return Err(bad("a weak (small-order) key".to_string()));
    }
    Ok(key)
}

/// The seq of a line, if it parses as far as that (for telling a removal from a reordering).
fn seq_of(line: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Seq {
        seq: u64,
    }
    serde_json::from_slice::<Seq>(line).ok().map(|parsed| parsed.seq)
}

/// The lines of a ledger file: split at `\n`; the newline after the last line is optional.
fn split_lines(bytes: &[u8]) -> Vec<&[u8]> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    body.split(|byte| *byte == b'\n').collect()
}

/// Replays a ledger file: every check on every line in order, the state after them and the
/// entries, or the first bad entry.
pub(crate) fn replay(
    bytes: &[u8],
    controller: VerifyingKey,
) -> Result<(State, Vec<Entry>), VerifyError> {
    let lines = split_lines(bytes);
    let mut state = State::new(controller);
    let mut entries = Vec::with_capacity(lines.len());
    for (idx, raw) in lines.iter().enumerate() {
        let line = idx + 1;
        let text = std::str::from_utf8(raw).map_err(|err| VerifyError {
            line,
            seq: None,
            problem: Problem::NotUtf8 { at_byte: err.valid_up_to() + 1 },
        })?;
        if text.is_empty() {
            return Err(VerifyError { line, seq: None, problem: Problem::EmptyLine });
        }
        let entry = Entry::parse(text).map_err(|reason| VerifyError {
            line,
            seq: None,
            problem: Problem::Malformed { reason },
        })?;
        let fail = |problem| VerifyError { line, seq: Some(entry.seq), problem };
        // Integrity of the line itself first, then its place in the chain, then its meaning:
        // an edited entry is reported as edited even when the edit also broke its seq.
        let canonical = entry.line();
        if canonical != text {
            let at = canonical.bytes().zip(text.bytes()).take_while(|(a, b)| a == b).count();
            return Err(fail(Problem::NotCanonical { at_byte: at + 1 }));
        }
        if entry.key.verify_strict(&entry.signed_bytes(), &entry.sig).is_err() {
            return Err(fail(Problem::BadSignature { signer: state.describe_key(&entry.key) }));
        }
        let expected = state.next_seq();
        if entry.seq != expected {
            let problem = if entry.seq < expected {
                Problem::OutOfOrder { previous: state.last_seq }
            } else {
                match lines[line..].iter().position(|later| seq_of(later) == Some(expected)) {
                    Some(pos) => Problem::Reordered { expected, expected_at_line: line + 1 + pos },
                    None => Problem::Removed { after: state.last_seq, next: entry.seq },
                }
            };
            return Err(fail(problem));
        }
        if entry.prev != state.head {
            return Err(fail(Problem::BadPrev { previous_line: idx }));
        }
        state.authorize(&entry).map_err(fail)?;
        state.admit(&entry).map_err(fail)?;
        state.apply(&entry, encode::hash_line(text));
        entries.push(entry);
    }
    Ok((state, entries))
}

/// Verifies a ledger file's text against the controller's public key (the trust anchor):
/// every line in order must pass every [`Check`]. Returns what the ledger holds, or the first
/// bad entry by line number and seq with the check it failed.
///
/// An empty text is an intact, empty ledger. The newline after the last line is optional.
pub fn verify(text: &str, controller_key: &VerifyingKey) -> Result<Report, VerifyError> {
    verify_bytes(text.as_bytes(), controller_key)
}

/// [`verify`] over raw bytes: a line that is not UTF-8 is named like any other bad line (a
/// ledger file read from disk may hold anything).
pub fn verify_bytes(bytes: &[u8], controller_key: &VerifyingKey) -> Result<Report, VerifyError> {
    replay(bytes, *controller_key).map(|(state, _)| state.report())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_lines_takes_an_optional_last_newline() {
        assert_eq!(split_lines(b""), Vec::<&[u8]>::new());
        assert_eq!(split_lines(b"a\nb\n"), vec![&b"a"[..], b"b"]);
        assert_eq!(split_lines(b"a\nb"), vec![&b"a"[..], b"b"]);
        assert_eq!(split_lines(b"\n"), vec![&b""[..]]);
        assert_eq!(split_lines(b"a\n\nb\n"), vec![&b"a"[..], b"", b"b"]);
    }

    #[test]
    fn every_problem_has_its_check_and_a_message() {
        let cases = [
            (Problem::Removed { after: 0, next: 3 }, Check::Sequence, "entries removed before seq 3 (the first entry is seq 1)"),
            (Problem::Removed { after: 4, next: 6 }, Check::Sequence, "entries removed between seq 4 and 6"),
            (
                Problem::FinishedTwice { task: "t3".into(), first: 8, second: 12 },
                Check::Completion,
                "task t3 finished twice, entries 8 and 12",
            ),
            (Problem::NotMember { node: "n1".into(), left: Some(9) }, Check::Membership, "node n1 is not a member (it left at entry 9)"),
            (Problem::BadPrev { previous_line: 4 }, Check::Chain, "prev is not the hash of line 4: the entry it was chained to was removed, replaced or edited"),
        ];
        for (problem, check, message) in cases {
            assert_eq!(problem.check(), check);
            assert_eq!(problem.to_string(), message);
        }
        let err = VerifyError {
            line: 9,
            seq: Some(10),
            problem: Problem::Removed { after: 8, next: 10 },
        };
        assert_eq!(
            err.to_string(),
            "line 9 (seq 10): sequence check failed: entries removed between seq 8 and 10"
        );
        let err = VerifyError { line: 2, seq: None, problem: Problem::EmptyLine };
        assert_eq!(err.to_string(), "line 2: parse check failed: empty line");
    }
}
