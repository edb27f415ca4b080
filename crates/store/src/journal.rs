//! The action journal: append-only records of each operation's phases, read back on replay.

use rusqlite::{params, OptionalExtension, Row};

use crate::store::{json, name, query_in, sql_limit, Fail};
use crate::{JournalEntry, JournalRecord, Phase, Store, StoreError};

/// The columns [`journal_row`] reads, in order.
const COLUMNS: &str = "seq, at_ms, op_id, plan_id, step, kind, subject, phase, detail, error";

impl Store {
    /// Appends one phase of one operation, committed (and synced to disk) before it returns.
    ///
    /// # Guarantees
    /// An operation that ended stays ended: nothing is appended after a terminal phase.
    ///
    /// # Errors
    /// [`StoreError::Journal`] if the operation already ended, its `op_id` is empty or its
    /// `plan_id` is not in the store.
    pub fn journal_append(&mut self, entry: &JournalEntry) -> Result<JournalRecord, StoreError> {
        let doing =
            format!("appending {} of operation {:?} to the journal", entry.phase, entry.op_id);
        self.write(&doing, |tx| {
            let refuse = |detail: String| Fail::Journal { op_id: entry.op_id.clone(), detail };
            if entry.op_id.is_empty() {
                return Err(refuse("an operation id must not be empty".to_string()));
            }
            let sql =
                format!("SELECT {COLUMNS} FROM journal WHERE op_id = ?1 ORDER BY seq DESC LIMIT 1");
            if let Some(last) = query_in(tx, &sql, [&entry.op_id], journal_row)?.pop() {
                if last.phase.is_terminal() {
                    return Err(refuse(format!(
                        "already ended with phase {} (seq {}); refusing to append phase {}",
                        last.phase, last.seq, entry.phase
                    )));
                }
            }
            if let Some(plan_id) = entry.plan_id {
                let known = tx
                    .query_row("SELECT 1 FROM plans WHERE id = ?1", [plan_id], |_| Ok(()))
                    .optional()?;
                if known.is_none() {
                    return Err(refuse(format!("plan {plan_id} is not in the store")));
                }
            }
            tx.execute(
                "INSERT INTO journal (at_ms, op_id, plan_id, step, kind, subject, phase, detail, \
                 error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    entry.at_ms,
                    entry.op_id,
                    entry.plan_id,
                    entry.step,
                    entry.kind,
                    entry.subject,
                    entry.phase.as_str(),
                    entry.detail.to_string(),
                    entry.error
                ],
            )?;
            Ok(record(tx.last_insert_rowid(), entry.clone()))
        })
    }

    /// Up to `limit` records with `seq > after_seq`, ascending: a cursor over the journal.
    ///
    /// # Errors
    /// [`StoreError::BadValue`] if a stored record is unreadable.
    pub fn journal(&self, after_seq: i64, limit: usize) -> Result<Vec<JournalRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM journal WHERE seq > ?1 ORDER BY seq LIMIT ?2");
        self.query("reading the journal", &sql, [after_seq, sql_limit(limit)], journal_row)
    }

    /// The last `limit` records, newest first.
    ///
    /// # Errors
    /// [`StoreError::BadValue`] if a stored record is unreadable.
    pub fn journal_recent(&self, limit: usize) -> Result<Vec<JournalRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM journal ORDER BY seq DESC LIMIT ?1");
        self.query("reading the journal", &sql, [sql_limit(limit)], journal_row)
    }

    /// Every record of plan `plan_id`'s operations, ascending.
    ///
    /// # Errors
    /// [`StoreError::BadValue`] if a stored record is unreadable.
    pub fn journal_for_plan(&self, plan_id: i64) -> Result<Vec<JournalRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM journal WHERE plan_id = ?1 ORDER BY seq");
        self.query("reading a plan's journal", &sql, [plan_id], journal_row)
    }

    /// Every operation whose latest phase is not terminal (intent or started), as its latest
    /// record, ordered by the operation's first record (the one begun first comes first).
    ///
    /// # Errors
    /// [`StoreError::BadValue`] if a stored record is unreadable.
    pub fn unfinished_ops(&self) -> Result<Vec<JournalRecord>, StoreError> {
        let columns = COLUMNS.split(", ").map(|c| format!("j.{c}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT {columns} FROM journal j JOIN (SELECT op_id, max(seq) AS last, \
             min(seq) AS first FROM journal GROUP BY op_id) ops ON j.seq = ops.last \
             WHERE j.phase IN ('{}', '{}') ORDER BY ops.first",
            Phase::Intent,
            Phase::Started
        );
        self.query("reading unfinished operations", &sql, [], journal_row)
    }

    /// The latest record of operation `op_id`.
    ///
    /// # Errors
    /// [`StoreError::BadValue`] if the stored record is unreadable.
    pub fn op_latest(&self, op_id: &str) -> Result<Option<JournalRecord>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM journal WHERE op_id = ?1 ORDER BY seq DESC LIMIT 1");
        Ok(self.query("reading an operation's latest phase", &sql, [op_id], journal_row)?.pop())
    }
}

/// An entry as stored at `seq`.
fn record(seq: i64, e: JournalEntry) -> JournalRecord {
    JournalRecord {
        seq,
        at_ms: e.at_ms,
        op_id: e.op_id,
        plan_id: e.plan_id,
        step: e.step,
        kind: e.kind,
        subject: e.subject,
        phase: e.phase,
        detail: e.detail,
        error: e.error,
    }
}

/// One row of `journal`, columns as [`COLUMNS`].
fn journal_row(r: &Row<'_>) -> Result<JournalRecord, Fail> {
    let seq = r.get(0)?;
    Ok(JournalRecord {
        seq,
        at_ms: r.get(1)?,
        op_id: r.get(2)?,
        plan_id: r.get(3)?,
        step: r.get(4)?,
        kind: r.get(5)?,
        subject: r.get(6)?,
        phase: name("journal", seq, &r.get::<_, String>(7)?)?,
        detail: json("journal", seq, &r.get::<_, String>(8)?)?,
        error: r.get(9)?,
    })
}
