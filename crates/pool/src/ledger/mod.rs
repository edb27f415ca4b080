//! The tamper-evident compute ledger (seed 001 \[0036\]: "a running log of all compute
//! transactions"; \[0037\]: a lost node's tasks run elsewhere). Every join, leave and task event
//! is one [`Entry`]: numbered (`seq` 1, 2, 3, …), chained (`prev` is the SHA-256 of the previous
//! entry's line) and signed with Ed25519 by the node that reports it, or by the controller for
//! joins and for what it records itself. The file is JSON lines, one canonical entry per line.
//!
//! Trust: [`verify`] needs only the controller's public key (the trust anchor). A `join` entry,
//! signed by the controller, introduces the joining node's public key (`detail.public_key`);
//! that node signs its own later entries with it, until its `leave` revokes it. A task's
//! `task_finish` is accepted once: a second one is refused by [`Ledger::append`] and reported by
//! [`verify`] (results are idempotent, issue 7 "Failover").
//!
//! What [`verify`] checks, line by line, stopping at the first bad entry (the error names its
//! line, its seq when it has one, and the [`Check`]): the line parses; it is in canonical form
//! (the exact bytes [`Entry::line`] writes); the signature verifies with the key the entry
//! names; `seq` is the previous one plus 1 (a gap is a removal, a lower or equal one a
//! reordering); `prev` is the hash of the previous line; the fields fit the kind; the key is the
//! controller's or that of the entry's node, introduced by a join and not revoked; the node is a
//! member (or, for a join, is not); a task finishes at most once.
//!
//! Not detectable from the file alone: whole entries cut off its end. [`Report::head`] (the
//! last line's hash) and [`Report::entries`] are what a caller keeps elsewhere to detect that.
//!
//! docs/pool.md ("Ledger") specifies the format byte by byte.

mod chain;
mod encode;
pub mod keys;

pub use chain::{verify, verify_bytes, Check, Problem, Report, VerifyError, MAX_DETAIL_DEPTH};
pub use ed25519_dalek::{Signature, SigningKey, VerifyingKey};

pub(crate) use encode::{hex, unhex};

use chain::State;
use ed25519_dalek::Signer;
use serde_json::{Map, Value};

/// What a ledger entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A node joins the pool: signed by the controller; `detail.public_key` is the node's key.
    Join,
    /// A node leaves the pool (or the controller records it lost); revokes its key.
    Leave,
    /// A task starts on the entry's node.
    TaskStart,
    /// A task finished on the entry's node; accepted once per task.
    TaskFinish,
    /// A task failed on the entry's node.
    TaskFail,
    /// A task runs again (after a failure or a lost node), under its retry policy.
    TaskRetry,
    /// A task moves between nodes (the owner reclaimed the reserve).
    TaskMove,
}

impl Kind {
    /// Every kind, in the order of the enum.
    pub const ALL: [Kind; 7] = [
        Kind::Join,
        Kind::Leave,
        Kind::TaskStart,
        Kind::TaskFinish,
        Kind::TaskFail,
        Kind::TaskRetry,
        Kind::TaskMove,
    ];

    /// The name in the file: `join`, `leave`, `task_start`, `task_finish`, `task_fail`,
    /// `task_retry`, `task_move`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Join => "join",
            Kind::Leave => "leave",
            Kind::TaskStart => "task_start",
            Kind::TaskFinish => "task_finish",
            Kind::TaskFail => "task_fail",
            Kind::TaskRetry => "task_retry",
            Kind::TaskMove => "task_move",
        }
    }

    /// The kind named `name` in the file, if any.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// Whether entries of this kind are about a task (and so carry a `task` id); joins and
    /// leaves never do.
    pub fn is_task(self) -> bool {
        !matches!(self, Kind::Join | Kind::Leave)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A SHA-256 digest: an entry's hash, and the `prev` link to it. Displays as 64 lowercase hex
/// digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryHash(pub [u8; 32]);

impl EntryHash {
    /// The `prev` of the first entry: 32 zero bytes (64 `0` digits).
    pub const ZERO: EntryHash = EntryHash([0; 32]);
}

impl std::str::FromStr for EntryHash {
    type Err = String;

    /// 64 hex digits (either case), as [`Display`](std::fmt::Display) writes them: a `prev`
    /// or a ledger head handed to a node.
    fn from_str(text: &str) -> Result<EntryHash, String> {
        unhex::<32>(text).map(EntryHash)
    }
}

impl std::fmt::Display for EntryHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&encode::hex(&self.0))
    }
}

/// One compute transaction, as written in the ledger file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Position in the ledger: 1 for the first entry, then one more per entry.
    pub seq: u64,
    /// When the reporter saw the transaction, milliseconds since the Unix epoch (its clock: not
    /// checked for order, machines' clocks differ).
    pub at_ms: u64,
    /// The stable machine ID of the node the entry is about: the joining node for a join, the
    /// reporting node otherwise (the controller may report for it).
    pub node: String,
    /// What happened.
    pub kind: Kind,
    /// The task, for task events (`None` for joins and leaves).
    pub task: Option<String>,
    /// Anything else, as a JSON object (a join's `public_key`; a move's `from` and `to`; an
    /// exit code; …). Encoded with sorted keys, so its order in memory never matters.
    pub detail: Map<String, Value>,
    /// The hash of the previous entry's line; [`EntryHash::ZERO`] for the first entry.
    pub prev: EntryHash,
    /// The signer's Ed25519 public key, written in full (64 hex digits) rather than as an ID:
    /// an entry names its signer by itself, and an unknown signer can be named in errors.
    pub key: VerifyingKey,
    /// Ed25519 signature by `key` over [`Entry::signed_bytes`].
    pub sig: Signature,
}

impl Entry {
    /// The entry's line in the file (without the newline): its canonical JSON, every field in
    /// the fixed order `seq, at_ms, node, kind, task, detail, prev, key, sig`, no whitespace,
    /// `detail` with its keys sorted at every level. docs/pool.md gives the exact rules.
    pub fn line(&self) -> String {
        encode::line(self)
    }

    /// The bytes the signature covers: the domain tag `hearth-ledger-v1` and a newline, then
    /// the entry's line without its `sig` field (`…,"key":"…"}`).
    pub fn signed_bytes(&self) -> Vec<u8> {
        encode::signed_bytes(self)
    }

    /// The entry's hash: SHA-256 of its [`line`](Entry::line) (signature included), which the
    /// next entry carries as its `prev`.
    pub fn hash(&self) -> EntryHash {
        encode::hash_line(&self.line())
    }

    /// The same entry signed by `signer`: `key` becomes the signer's public key and `sig` its
    /// signature over [`Entry::signed_bytes`]. [`Ledger::append`] signs this way; callers use
    /// it to sign entries they assemble themselves (tests forge entries with it).
    pub fn signed(self, signer: &SigningKey) -> Entry {
        let unsigned = Entry { key: signer.verifying_key(), ..self };
        let sig = signer.sign(&unsigned.signed_bytes());
        Entry { sig, ..unsigned }
    }

    /// Parses one line of a ledger file (without its newline) into an entry, checking the
    /// types of the fields (hex widths, a known kind, a valid public key) but neither canonical
    /// form nor signature nor chain: [`verify`] does that. The error says what is wrong.
    pub fn parse(line: &str) -> Result<Entry, String> {
        encode::parse(line)
    }
}

/// An entry to append: what the reporter knows. [`Ledger::append`] adds `seq`, `prev`, `key`
/// and `sig`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft {
    /// When, milliseconds since the Unix epoch (the caller's clock).
    pub at_ms: u64,
    /// The node the entry is about (see [`Entry::node`]).
    pub node: String,
    /// What happened.
    pub kind: Kind,
    /// The task, for task events.
    pub task: Option<String>,
    /// Anything else (see [`Entry::detail`]).
    pub detail: Map<String, Value>,
}

impl Draft {
    /// A draft with no task and an empty detail.
    pub fn new(at_ms: u64, node: impl Into<String>, kind: Kind) -> Draft {
        Draft { at_ms, node: node.into(), kind, task: None, detail: Map::new() }
    }

    /// A join of `node` with its public key in `detail.public_key` (to be signed by the
    /// controller).
    pub fn join(at_ms: u64, node: impl Into<String>, public_key: &VerifyingKey) -> Draft {
        Draft::new(at_ms, node, Kind::Join)
            .detail("public_key", keys::verifying_key_hex(public_key))
    }

    /// The same draft about `task`.
    pub fn task(mut self, task: impl Into<String>) -> Draft {
        self.task = Some(task.into());
        self
    }

    /// The same draft with `detail[key] = value`.
    pub fn detail(mut self, key: impl Into<String>, value: impl Into<Value>) -> Draft {
        self.detail.insert(key.into(), value.into());
        self
    }
}

/// Why [`Ledger::append`] refused a draft: the entry it would have written breaks one of the
/// rules [`verify`] checks (so an appended ledger always verifies).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendError {
    /// The seq the entry would have had.
    pub seq: u64,
    /// The draft's kind.
    pub kind: Kind,
    /// The rule it breaks.
    pub problem: Problem,
}

impl std::fmt::Display for AppendError {
    /// `cannot append task_finish as seq 12: completion check failed: task t3 finished
    /// twice, entries 8 and 12`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot append {} as seq {}: {} check failed: {}",
            self.kind,
            self.seq,
            self.problem.check(),
            self.problem
        )
    }
}

impl std::error::Error for AppendError {}

/// A ledger in memory: its entries and what the chain has established (next seq, head hash,
/// members and their keys, finished tasks). Appending checks a draft against the same rules
/// [`verify`] applies, so what it writes always verifies.
#[derive(Clone, Debug)]
pub struct Ledger {
    state: State,
    entries: Vec<Entry>,
}

impl Ledger {
    /// An empty ledger whose trust anchor is the controller's public key.
    pub fn new(controller: VerifyingKey) -> Ledger {
        Ledger { state: State::new(controller), entries: Vec::new() }
    }

    /// A ledger that goes on from the file `text` after verifying it (see [`verify`]).
    pub fn from_text(text: &str, controller: VerifyingKey) -> Result<Ledger, VerifyError> {
        let (state, entries) = chain::replay(text.as_bytes(), controller)?;
        Ok(Ledger { state, entries })
    }

    /// Appends `draft` signed by `signer`: numbers it, links it to the head, signs it, checks
    /// it and returns the new entry. `signer` is the controller's key for a join (and for
    /// entries the controller records itself), else the key the node's join introduced.
    ///
    /// Errors: the entry would break a rule [`verify`] checks: a join not signed by the
    /// controller or of a node already a member, an entry of a node that is not a member, a
    /// key that is not the controller's or the node's, a task event without a task ID, a
    /// second `task_finish` of a task (see [`Problem`]). The ledger is then unchanged.
    pub fn append(&mut self, draft: Draft, signer: &SigningKey) -> Result<Entry, AppendError> {
        let Draft { at_ms, node, kind, task, detail } = draft;
        let seq = self.state.next_seq();
        let unsigned = Entry {
            seq,
            at_ms,
            node,
            kind,
            task,
            detail,
            prev: self.state.head(),
            key: signer.verifying_key(),
            sig: Signature::from_bytes(&[0; 64]),
        };
        let refuse = |problem| AppendError { seq, kind, problem };
        // The rules come before signing: a refused draft costs no signature, and the detail's
        // depth is bounded before it is encoded.
        self.state.authorize(&unsigned).map_err(refuse)?;
        self.state.admit(&unsigned).map_err(refuse)?;
        let entry = unsigned.signed(signer);
        self.state.apply(&entry, entry.hash());
        self.entries.push(entry.clone());
        Ok(entry)
    }

    /// Appends an entry signed elsewhere: a node signs its own report for the
    /// [`next_seq`](Ledger::next_seq) and [`head`](Ledger::head) the controller gave it
    /// ([`Entry::signed`]), and the controller appends it after every check [`verify`] applies
    /// to a line: the signature, the seq and `prev` (a node that signed for a head that has
    /// moved on is refused and signs again for the new one), then the same rules as
    /// [`Ledger::append`]. The ledger is unchanged on an error.
    pub fn append_signed(&mut self, entry: Entry) -> Result<(), AppendError> {
        let refuse =
            |problem| AppendError { seq: self.state.next_seq(), kind: entry.kind, problem };
        if entry.key.verify_strict(&entry.signed_bytes(), &entry.sig).is_err() {
            let signer = self.state.describe_key(&entry.key);
            return Err(refuse(Problem::BadSignature { signer }));
        }
        let last = self.state.next_seq() - 1;
        if entry.seq <= last {
            return Err(refuse(Problem::OutOfOrder { previous: last }));
        }
        if entry.seq > last + 1 {
            return Err(refuse(Problem::Removed { after: last, next: entry.seq }));
        }
        if entry.prev != self.state.head() {
            // The previous entry sits on the line numbered by its seq.
            let previous_line = usize::try_from(last).unwrap_or(usize::MAX);
            return Err(refuse(Problem::BadPrev { previous_line }));
        }
        self.state.authorize(&entry).map_err(refuse)?;
        self.state.admit(&entry).map_err(refuse)?;
        self.state.apply(&entry, entry.hash());
        self.entries.push(entry);
        Ok(())
    }

    /// The seq the next entry gets (1 for an empty ledger).
    pub fn next_seq(&self) -> u64 {
        self.state.next_seq()
    }

    /// The last entry's hash, the next entry's `prev` ([`EntryHash::ZERO`] when empty).
    pub fn head(&self) -> EntryHash {
        self.state.head()
    }

    /// The line of `entry` in the file, without its newline (the same as [`Entry::line`]).
    pub fn line(entry: &Entry) -> String {
        entry.line()
    }

    /// The whole file: every entry's line, each ending in a newline.
    pub fn text(&self) -> String {
        let mut text = String::new();
        for entry in &self.entries {
            text.push_str(&entry.line());
            text.push('\n');
        }
        text
    }

    /// The entries, in order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// What [`verify`] would report on [`Ledger::text`].
    pub fn report(&self) -> Report {
        self.state.report()
    }
}
