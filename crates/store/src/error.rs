//! `StoreError`: what a store call can fail with. Every message names the store (its file's
//! path, or `(in memory)`) and says what failed (STYLE.md rule 9).

/// Why a store call failed.
///
/// `path` fields hold the store file's path as text, or `(in memory)`. The first four variants
/// come only from [`crate::Store::open`]; the first three leave the file untouched, and after a
/// failed migration its data is as it was.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is not a readable SQLite database, or SQLite found it damaged.
    #[error(
        "store {path}: not a usable database ({detail}); it was left untouched: move it aside \
         or restore a backup, then start again"
    )]
    Corrupt {
        /// The store file.
        path: String,
        /// What was wrong: a bad header, or `PRAGMA quick_check`'s first findings.
        detail: String,
    },
    /// The file is a valid SQLite database that some other program owns.
    #[error(
        "store {path}: a SQLite database but not a hearth store (tables: {}); it was left \
         untouched: choose another path",
        if tables.is_empty() { "none".to_string() } else { tables.join(", ") }
    )]
    Foreign {
        /// The store file.
        path: String,
        /// A few of its tables, in name order.
        tables: Vec<String>,
    },
    /// The store was written by a newer hearth whose schema this build does not know.
    #[error(
        "store {path}: schema version {found} is newer than this build supports ({supported}); \
         it was left untouched: run a newer hearth, or restore a backup"
    )]
    NewerSchema {
        /// The store file.
        path: String,
        /// The file's schema version.
        found: u32,
        /// The newest schema version this build knows.
        supported: u32,
    },
    /// Migrating an older schema failed; the transaction was rolled back.
    #[error("store {path}: migrating the schema from version {from} to {to} failed: {detail}")]
    Migration {
        /// The store file.
        path: String,
        /// The file's schema version.
        from: u32,
        /// The version the migration aimed at.
        to: u32,
        /// What failed, with the backup's path when one was made.
        detail: String,
    },
    /// [`crate::Store::set_plan_status`] named a plan the store does not hold.
    #[error("store {path}: no plan with id {id}")]
    UnknownPlan {
        /// The store file.
        path: String,
        /// The plan id that was asked for.
        id: i64,
    },
    /// A journal append was refused: the operation had already ended, or its plan is unknown.
    #[error("store {path}: journal: operation {op_id:?}: {detail}")]
    Journal {
        /// The store file.
        path: String,
        /// The operation.
        op_id: String,
        /// Why the append was refused.
        detail: String,
    },
    /// A value given to the store, or read back from it, is unusable: a non-finite metric,
    /// bad JSON text in a row, an unknown status name.
    #[error("store {path}: {what}: {detail}")]
    BadValue {
        /// The store file.
        path: String,
        /// Which value: `metric cpu{host=h1}`, `plans row 3, column body`.
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// SQLite reported an error.
    #[error("store {path}: {doing}: {source}")]
    Sqlite {
        /// The store file.
        path: String,
        /// What the store was doing: `appending to the journal`.
        doing: String,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The file could not be read or copied.
    #[error("store {path}: {doing}: {source}")]
    Io {
        /// The store file.
        path: String,
        /// What the store was doing: `reading the file header`.
        doing: String,
        /// The operating system's error.
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_store_and_what_failed() {
        let err =
            StoreError::Foreign { path: "/tmp/x.db".into(), tables: vec!["customers".into()] };
        assert_eq!(
            err.to_string(),
            "store /tmp/x.db: a SQLite database but not a hearth store (tables: customers); it \
             was left untouched: choose another path"
        );
        let err = StoreError::UnknownPlan { path: "(in memory)".into(), id: 7 };
        assert_eq!(err.to_string(), "store (in memory): no plan with id 7");
    }
}
