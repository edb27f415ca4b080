//! [`Store`]: opening a file (check → classify → configure → back up → migrate) and the query
//! helpers the per-table modules share.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, Params, Row, Transaction, TransactionBehavior};

use crate::schema::{APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION};
use crate::{Opened, StoreError};

/// The first 16 bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// How long a call waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What [`Store`] calls `path` in messages when there is no file.
const IN_MEMORY: &str = "(in memory)";

/// The controller's durable store: one SQLite connection and the file it is on.
///
/// Reads take `&self`; writes take `&mut self` and each runs in one immediate transaction, so
/// several handles (threads or processes) on one file serialize their writes while reads go on.
#[derive(Debug)]
pub struct Store {
    pub(crate) conn: Connection,
    pub(crate) path: Option<PathBuf>,
    /// The path as text, or `(in memory)`: the `path` of every error.
    pub(crate) label: String,
}

impl Store {
    /// Opens or creates the store at `path`.
    ///
    /// A missing or empty (0-byte) file is initialized at the current schema. An older schema is
    /// first copied to `<path>.pre-v<old>.bak` (see [`Opened::backup`]) and then migrated in one
    /// transaction.
    ///
    /// # Errors
    /// These three leave the file untouched: [`StoreError::Corrupt`] when the file is not SQLite
    /// or `PRAGMA quick_check` finds damage, [`StoreError::Foreign`] for another program's
    /// database, [`StoreError::NewerSchema`] for a schema newer than this build's.
    /// [`StoreError::Migration`] when migrating fails: the transaction is rolled back, so the
    /// data stays as it was (and the backup stays too).
    pub fn open(path: &Path) -> Result<(Store, Opened), StoreError> {
        let label = path.display().to_string();
        let io_err = |doing: &str, source| StoreError::Io {
            path: label.clone(),
            doing: doing.to_string(),
            source,
        };
        let len = match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                return Err(io_err("opening", io::Error::other("a directory, not a file")))
            }
            Ok(meta) => Some(meta.len()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => None,
            Err(err) => return Err(io_err("reading the file's metadata", err)),
        };
        if len.is_some_and(|len| len > 0) {
            check_header(path, &label)?;
        }
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if len.is_none() {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn = Connection::open_with_flags(path, flags).map_err(sql(&label, "opening"))?;
        let store = Store { conn, path: Some(path.to_path_buf()), label };
        store.conn.busy_timeout(BUSY_TIMEOUT).map_err(sql(&store.label, "setting busy_timeout"))?;
        let found = store.classify()?;
        store.configure()?;
        let backup =
            if found > 0 && found < SCHEMA_VERSION { Some(store.backup(found)?) } else { None };
        let mut store = store;
        let from = store.migrate()?;
        let opened = Opened {
            created: from == 0,
            migrated_from: (from > 0 && from < SCHEMA_VERSION).then_some(from),
            schema_version: SCHEMA_VERSION,
            backup,
        };
        Ok((store, opened))
    }

    /// A store that lives in memory only, at the current schema: for tests and dry runs.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`] or [`StoreError::Migration`] if SQLite fails.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory().map_err(sql(IN_MEMORY, "opening"))?;
        let mut store = Store { conn, path: None, label: IN_MEMORY.to_string() };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    /// The store's file, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The schema version of the open store (`PRAGMA user_version`).
    ///
    /// # Errors
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        user_version(&self.conn).map_err(sql(&self.label, "reading the schema version"))
    }

    /// Checks an existing file and says what it holds: 0 for an empty database, else its hearth
    /// schema version (never newer than this build's). Reads only.
    fn classify(&self) -> Result<u32, StoreError> {
        let label = &self.label;
        let corrupt = |detail: String| StoreError::Corrupt { path: label.clone(), detail };
        let read_err = |err: rusqlite::Error| match err.sqlite_error_code() {
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => corrupt(err.to_string()),
            _ => sql(label, "checking the file")(err),
        };
        let mut stmt = self.conn.prepare("PRAGMA quick_check(3)").map_err(read_err)?;
        let findings = stmt
            .query_map([], |row| row.get::<_, String>(0))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(read_err)?;
        if findings != ["ok"] {
            let lines = findings.iter().flat_map(|f| f.lines()).filter(|l| !l.starts_with("***"));
            return Err(corrupt(format!(
                "PRAGMA quick_check: {}",
                lines.collect::<Vec<_>>().join("; ")
            )));
        }
        let application_id: i32 =
            self.conn.pragma_query_value(None, "application_id", |r| r.get(0)).map_err(read_err)?;
        let version: i64 =
            self.conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(read_err)?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name LIMIT 5",
            )
            .map_err(read_err)?;
        let tables = stmt
            .query_map([], |row| row.get::<_, String>(0))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(read_err)?;
        if application_id != APPLICATION_ID {
            if application_id == 0 && version == 0 && tables.is_empty() {
                return Ok(0);
            }
            return Err(StoreError::Foreign { path: label.clone(), tables });
        }
        match u32::try_from(version) {
            Ok(0) | Err(_) => Err(corrupt(format!("hearth store with schema version {version}"))),
            Ok(found) if found > SCHEMA_VERSION => Err(StoreError::NewerSchema {
                path: label.clone(),
                found,
                supported: SCHEMA_VERSION,
            }),
            Ok(found) => Ok(found),
        }
    }

    /// Sets the connection's pragmas: WAL, full sync (a commit is on disk when it returns),
    /// foreign keys.
    fn configure(&self) -> Result<(), StoreError> {
        let err = sql(&self.label, "configuring the connection");
        self.conn.pragma_update(None, "foreign_keys", true).map_err(&err)?;
        let _mode: String = self
            .conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(&err)?;
        self.conn.pragma_update(None, "synchronous", "FULL").map_err(&err)
    }

    /// Copies the database, consistently, to the first free `<path>.pre-v<from>.bak[.N]`.
    fn backup(&self, from: u32) -> Result<PathBuf, StoreError> {
        let failed = |detail: String| StoreError::Migration {
            path: self.label.clone(),
            from,
            to: SCHEMA_VERSION,
            detail,
        };
        let base = format!("{}.pre-v{from}.bak", self.label);
        let target = (0..100)
            .map(|n| PathBuf::from(if n == 0 { base.clone() } else { format!("{base}.{n}") }))
            .find(|candidate| !candidate.exists())
            .ok_or_else(|| failed(format!("{base} and its 99 numbered successors all exist")))?;
        let text = target
            .to_str()
            .ok_or_else(|| failed(format!("backup path {} is not UTF-8", target.display())))?;
        self.conn
            .execute("VACUUM INTO ?1", [text])
            .map_err(|err| failed(format!("writing the backup {text}: {err}")))?;
        Ok(target)
    }

    /// Brings the schema to [`SCHEMA_VERSION`] in one transaction; returns the version found
    /// once the write lock was held (another process may have migrated meanwhile).
    fn migrate(&mut self) -> Result<u32, StoreError> {
        let label = &self.label;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql(label, "locking the store to migrate it"))?;
        let from = user_version(&tx).map_err(sql(label, "reading the schema version"))?;
        if from > SCHEMA_VERSION {
            let (path, supported) = (label.clone(), SCHEMA_VERSION);
            return Err(StoreError::NewerSchema { path, found: from, supported });
        }
        let failed = |detail: String| StoreError::Migration {
            path: label.clone(),
            from,
            to: SCHEMA_VERSION,
            detail,
        };
        if from == 0 {
            tx.pragma_update(None, "application_id", APPLICATION_ID)
                .map_err(|err| failed(format!("setting application_id: {err}")))?;
        }
        for (version, steps) in MIGRATIONS.iter().filter(|(version, _)| *version > from) {
            tx.execute_batch(steps)
                .and_then(|()| tx.pragma_update(None, "user_version", version))
                .map_err(|err| failed(format!("step to version {version}: {err}")))?;
        }
        tx.commit().map_err(|err| failed(format!("commit: {err}")))?;
        Ok(from)
    }

    /// Runs `f` in one immediate transaction and commits; on any error, rolls back.
    pub(crate) fn write<T>(
        &mut self,
        doing: &str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, Fail>,
    ) -> Result<T, StoreError> {
        let run = || -> Result<T, Fail> {
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        };
        run().map_err(|fail| fail.into_store(&self.label, doing))
    }

    /// Runs a query and converts each row with `f`.
    pub(crate) fn query<T>(
        &self,
        doing: &str,
        sql: &str,
        params: impl Params,
        f: impl FnMut(&Row<'_>) -> Result<T, Fail>,
    ) -> Result<Vec<T>, StoreError> {
        query_in(&self.conn, sql, params, f).map_err(|fail| fail.into_store(&self.label, doing))
    }
}

/// Why a query or write inside the store failed, before it is given the store's path.
#[derive(Debug)]
pub(crate) enum Fail {
    /// SQLite failed.
    Sql(rusqlite::Error),
    /// A stored or given value is unusable.
    Bad { what: String, detail: String },
    /// [`StoreError::UnknownPlan`].
    UnknownPlan(i64),
    /// [`StoreError::Journal`].
    Journal { op_id: String, detail: String },
}

impl From<rusqlite::Error> for Fail {
    fn from(err: rusqlite::Error) -> Self {
        Fail::Sql(err)
    }
}

impl Fail {
    /// The error as the caller sees it.
    fn into_store(self, label: &str, doing: &str) -> StoreError {
        let path = label.to_string();
        match self {
            Fail::Sql(source) => StoreError::Sqlite { path, doing: doing.to_string(), source },
            Fail::Bad { what, detail } => StoreError::BadValue { path, what, detail },
            Fail::UnknownPlan(id) => StoreError::UnknownPlan { path, id },
            Fail::Journal { op_id, detail } => StoreError::Journal { path, op_id, detail },
        }
    }
}

/// [`Store::query`] on any connection or transaction.
pub(crate) fn query_in<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    mut f: impl FnMut(&Row<'_>) -> Result<T, Fail>,
) -> Result<Vec<T>, Fail> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(f(row)?);
    }
    Ok(out)
}

/// Reads JSON text stored in `table`'s row `id`.
pub(crate) fn json(table: &str, id: i64, text: &str) -> Result<serde_json::Value, Fail> {
    serde_json::from_str(text).map_err(|err| Fail::Bad {
        what: format!("{table} row {id}"),
        detail: format!("stored JSON is unreadable: {err}"),
    })
}

/// Reads a stored enum name (a status, a phase) in `table`'s row `id`.
pub(crate) fn name<T: std::str::FromStr<Err = String>>(
    table: &str,
    id: i64,
    text: &str,
) -> Result<T, Fail> {
    text.parse().map_err(|detail| Fail::Bad { what: format!("{table} row {id}"), detail })
}

/// Refuses NaN and infinities, which SQLite would store as NULL.
pub(crate) fn finite(what: impl FnOnce() -> String, value: f64) -> Result<(), Fail> {
    if value.is_finite() {
        return Ok(());
    }
    Err(Fail::Bad { what: what(), detail: format!("value {value} is not a finite number") })
}

/// A `LIMIT` for SQLite.
pub(crate) fn sql_limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Maps a SQLite error to [`StoreError::Sqlite`].
fn sql<'a>(label: &'a str, doing: &'a str) -> impl Fn(rusqlite::Error) -> StoreError + 'a {
    move |source| StoreError::Sqlite { path: label.to_string(), doing: doing.to_string(), source }
}

/// `PRAGMA user_version`, which SQLite keeps as a signed 32-bit number.
fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    // A negative version is read as 0 here; `classify` has already refused it for files.
    Ok(u32::try_from(version).unwrap_or(0))
}

/// Refuses a non-empty file that does not start with SQLite's header, without opening it.
fn check_header(path: &Path, label: &str) -> Result<(), StoreError> {
    let mut header = Vec::with_capacity(SQLITE_HEADER.len());
    File::open(path)
        .and_then(|file| file.take(SQLITE_HEADER.len() as u64).read_to_end(&mut header))
        .map_err(|source| StoreError::Io {
            path: label.to_string(),
            doing: "reading the file header".to_string(),
            source,
        })?;
    if header == SQLITE_HEADER {
        return Ok(());
    }
    let shown = String::from_utf8_lossy(&header).escape_debug().to_string();
    Err(StoreError::Corrupt {
        path: label.to_string(),
        detail: format!("not a SQLite file: it starts with \"{shown}\", not \"SQLite format 3\""),
    })
}
