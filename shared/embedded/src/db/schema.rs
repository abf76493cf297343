//! The versions of the database schema, as migrations over SQLite's `user_version`.
//!
//! Migration N brings a database from version N-1 to N; a new schema change is a new migration
//! at the end of [`MIGRATIONS`], never an edit of an old one (data directories made by earlier
//! builds are at those versions).

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};
use rusqlite_migration::{M, Migrations};

use crate::EmbeddedError;

/// Version 1: the schema the first builds wrote (with `PRAGMA user_version = 1`).
const V1_TABLES: &str = "
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    gsi1pk TEXT,
    gsi1sk TEXT,
    gsi2pk TEXT,
    gsi2sk TEXT,
    expires_at INTEGER,
    version INTEGER NOT NULL,
    counters TEXT,
    body TEXT NOT NULL
);
CREATE UNIQUE INDEX items_key ON items (pk, sk);
CREATE INDEX items_gsi1 ON items (gsi1pk, gsi1sk) WHERE gsi1pk IS NOT NULL;
CREATE INDEX items_gsi2 ON items (gsi2pk, gsi2sk) WHERE gsi2pk IS NOT NULL;

CREATE TABLE messages (
    seq INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    visible_at INTEGER NOT NULL,
    receive_count INTEGER NOT NULL,
    receipt TEXT,
    sent_at INTEGER NOT NULL
);
CREATE INDEX messages_visible ON messages (queue, visible_at);

CREATE TABLE schedules (
    grp TEXT NOT NULL,
    name TEXT NOT NULL,
    expression TEXT NOT NULL,
    target TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    checked_until INTEGER,
    PRIMARY KEY (grp, name)
);
";

/// Version 2: a message names the process instance holding its lease.
const V2_MESSAGE_OWNER: &str = "ALTER TABLE messages ADD COLUMN owner TEXT;";

const MIGRATIONS: &[M<'static>] = &[M::up(V1_TABLES), M::up(V2_MESSAGE_OWNER)];

/// The schema version this build writes and reads.
pub const CURRENT_VERSION: usize = MIGRATIONS.len();

fn migrations() -> Migrations<'static> {
    Migrations::from_slice(MIGRATIONS)
}

/// Brings the database on `conn` to [`CURRENT_VERSION`], keeping its data. A database at a later
/// version (made by a newer build) is refused: this build would misread it.
pub(crate) fn bring_up_to_date(
    conn: &mut Connection,
    file: Option<&Path>,
) -> Result<(), EmbeddedError> {
    let found = stored_version(conn, file)?;
    if found > CURRENT_VERSION {
        return Err(EmbeddedError::SchemaTooNew {
            data_dir: data_dir_of(file),
            found,
            known: CURRENT_VERSION,
        });
    }
    if found == 0 && has_tables(conn).map_err(|e| open_error(file, e))? {
        // Every build wrote a version with its first table, so tables without one were made by
        // something else: refused rather than guessed at.
        return Err(EmbeddedError::SchemaUnknown {
            data_dir: data_dir_of(file),
        });
    }
    // IMMEDIATE: a process migrating the same file at this moment makes this one wait for its
    // write lock instead of failing at once.
    conn.set_transaction_behavior(TransactionBehavior::Immediate);
    let migrated = migrations().to_latest(conn);
    conn.set_transaction_behavior(TransactionBehavior::Deferred);
    match migrated {
        Ok(()) => Ok(()),
        // Another process read the same old version and migrated first: this one's attempt was
        // rolled back, and the database is where it should be.
        Err(_) if stored_version(conn, file)? == CURRENT_VERSION => Ok(()),
        Err(e) => Err(EmbeddedError::Migration {
            data_dir: data_dir_of(file),
            reason: e.to_string(),
        }),
    }
}

fn stored_version(conn: &Connection, file: Option<&Path>) -> Result<usize, EmbeddedError> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| open_error(file, e))?;
    // SQLite keeps a signed 32-bit value; a negative one was never written by Vigil.
    usize::try_from(version).map_err(|_| EmbeddedError::SchemaUnknown {
        data_dir: data_dir_of(file),
    })
}

fn has_tables(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table')",
        [],
        |r| r.get(0),
    )
}

fn open_error(file: Option<&Path>, source: rusqlite::Error) -> EmbeddedError {
    EmbeddedError::Open {
        path: super::describe(file),
        source,
    }
}

/// The data directory a database file is in, as errors name it.
fn data_dir_of(file: Option<&Path>) -> String {
    match file {
        Some(file) => file.parent().unwrap_or(file).display().to_string(),
        None => ":memory:".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migrations_are_well_formed_and_reach_the_current_version() {
        // GIVEN an empty database
        let mut conn = Connection::open_in_memory().unwrap();

        // WHEN it is brought up to date
        migrations().validate().unwrap();
        bring_up_to_date(&mut conn, None).unwrap();

        // THEN it is at the current version, and a second pass changes nothing
        assert_eq!(stored_version(&conn, None).unwrap(), CURRENT_VERSION);
        bring_up_to_date(&mut conn, None).unwrap();
        assert_eq!(stored_version(&conn, None).unwrap(), CURRENT_VERSION);
    }

    #[test]
    fn tables_without_a_version_are_refused() {
        // GIVEN a database with a table but no schema version
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE notes (text TEXT);")
            .unwrap();

        // WHEN it is opened as Vigil's
        let refused = bring_up_to_date(&mut conn, None);

        // THEN it is refused, and left as it was
        assert!(
            matches!(refused, Err(EmbeddedError::SchemaUnknown { .. })),
            "{refused:?}"
        );
        assert_eq!(stored_version(&conn, None).unwrap(), 0);
    }
}
