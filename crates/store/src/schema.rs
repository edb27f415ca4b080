//! The schema, as the list of migrations that builds it. A file's `PRAGMA user_version` is the
//! last migration applied to it; `PRAGMA application_id` marks it as hearth's.
//!
//! Append a migration to change the schema; never edit one that has shipped, since files in the
//! field were built by it.

/// `PRAGMA application_id` of every hearth store: `hrth` in ASCII.
pub const APPLICATION_ID: i32 = 0x6872_7468;

/// The schema version this build writes: the last migration's.
pub const SCHEMA_VERSION: u32 = 3;

/// `(version, SQL)`: running the SQL on a store at `version - 1` brings it to `version`.
pub const MIGRATIONS: &[(u32, &str)] = &[(1, V1), (2, V2), (3, V3)];

/// Version 1: the first schema.
const V1: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
INSERT INTO meta (key, value) VALUES ('format', 'hearth store');

CREATE TABLE hosts (
    id TEXT PRIMARY KEY, zone TEXT NOT NULL, rack TEXT NOT NULL, host_type TEXT NOT NULL,
    cpu REAL NOT NULL, memory_mib REAL NOT NULL, management INTEGER NOT NULL,
    power TEXT NOT NULL, driver TEXT NOT NULL
) STRICT;
CREATE TABLE instances (
    id TEXT PRIMARY KEY, host TEXT, cpu REAL NOT NULL, memory_mib REAL NOT NULL,
    state TEXT NOT NULL
) STRICT;

CREATE TABLE policy (
    version INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, author TEXT NOT NULL,
    body TEXT NOT NULL
) STRICT;

CREATE TABLE plans (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
    mode TEXT NOT NULL, status TEXT NOT NULL, summary TEXT NOT NULL, note TEXT,
    body TEXT NOT NULL
) STRICT;
CREATE INDEX plans_status ON plans (status, id);

CREATE TABLE journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, op_id TEXT NOT NULL,
    plan_id INTEGER REFERENCES plans (id), step INTEGER NOT NULL, kind TEXT NOT NULL,
    subject TEXT NOT NULL, phase TEXT NOT NULL, detail TEXT NOT NULL, error TEXT
) STRICT;

CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, source TEXT NOT NULL,
    zone TEXT, host TEXT, instance TEXT, action TEXT NOT NULL, reason TEXT NOT NULL,
    body TEXT NOT NULL
) STRICT;

CREATE TABLE metrics (
    name TEXT NOT NULL, labels TEXT NOT NULL, at_ms INTEGER NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (name, labels, at_ms)
) STRICT, WITHOUT ROWID;
CREATE INDEX metrics_at ON metrics (at_ms);
";

/// Version 2: downsampled metrics, and indexes for the journal's per-operation and per-plan
/// reads (replay after a restart reads the latest phase of every operation).
const V2: &str = "
CREATE TABLE metrics_buckets (
    name TEXT NOT NULL, labels TEXT NOT NULL, bucket_ms INTEGER NOT NULL,
    avg_value REAL NOT NULL, min_value REAL NOT NULL, max_value REAL NOT NULL,
    n_samples INTEGER NOT NULL,
    PRIMARY KEY (name, labels, bucket_ms)
) STRICT, WITHOUT ROWID;
CREATE INDEX metrics_buckets_at ON metrics_buckets (bucket_ms);

CREATE INDEX journal_op ON journal (op_id, seq);
CREATE INDEX journal_plan ON journal (plan_id, seq);
";

/// Version 3: named pieces of the controller's own state that must survive a restart (the
/// thermal guard's memory of what it shed), one JSON document per key.
const V3: &str = "
CREATE TABLE controller_state (
    key TEXT PRIMARY KEY, at_ms INTEGER NOT NULL, body TEXT NOT NULL
) STRICT;
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_one_by_one_up_to_the_schema_version() {
        let versions: Vec<u32> = MIGRATIONS.iter().map(|(v, _)| *v).collect();
        let expected: Vec<u32> = (1..=SCHEMA_VERSION).collect();
        assert_eq!(versions, expected);
        assert_eq!(&APPLICATION_ID.to_be_bytes(), b"hrth");
    }
}
