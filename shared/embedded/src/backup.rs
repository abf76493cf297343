//! Backup and restore of a data directory.
//!
//! A backup is one SQLite file: the database as of one committed moment (SQLite's online backup
//! API copies every page inside one read transaction, so a writer running beside it never tears
//! it), and, when the data directory seals secrets with its key file, that key in a table of its
//! own (`vigil_backup_key`). One file means the key cannot be lost apart from the data it opens;
//! it also means the backup is as secret as the data directory, so it is written readable by its
//! owner only. A directory sealed with `VIGIL_MASTER_KEY` has no key file: its backup holds no
//! key, and the restored directory needs the same variable.
//!
//! Restore copies the backup into the data directory under a temporary name, checks it (opens,
//! `PRAGMA integrity_check` is `ok`, a schema version this build knows), moves the key out into
//! `master.key`, and renames the copy into place: a crash leaves the old state or the new one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags, OptionalExtension as _};
use serde::Serialize;

use crate::db::SCHEMA_VERSION;
use crate::{DATABASE_FILE, KEY_FILE};

/// The table of a backup holding the data directory's key file.
const KEY_TABLE: &str = "vigil_backup_key";
/// How often a backup step that found the source locked is tried again (50 ms apart): a writer
/// holds SQLite's locks for milliseconds, so this only runs out on a database stuck elsewhere.
const LOCKED_RETRIES: u32 = 200;
/// The files beside a WAL-mode database that belong to it.
const DATABASE_SIDECARS: [&str; 2] = ["-wal", "-shm"];

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} already exists: pass --force to replace it")]
    Exists(String),
    #[error("{0} already holds a database: pass --force to replace it")]
    HoldsDatabase(String),
    #[error("no Vigil database in {0}")]
    NoDatabase(String),
    #[error("{0} is not a Vigil database")]
    NotVigil(String),
    #[error(
        "{path} is at schema version {found}; this vigil knows up to {known}: use a newer vigil"
    )]
    SchemaTooNew {
        path: String,
        found: usize,
        known: usize,
    },
    #[error("{path} fails SQLite's integrity check: {report}")]
    Damaged { path: String, report: String },
    #[error("a vigil process is running on {0}: stop it before restoring")]
    InUse(String),
    #[error("{0} stayed locked by another process: try again")]
    Locked(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
}

impl BackupError {
    /// A stable code for scripts, as the API's error bodies carry.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Exists(_) | Self::HoldsDatabase(_) => "already_exists",
            Self::NoDatabase(_) => "not_found",
            Self::NotVigil(_) => "not_a_vigil_database",
            Self::SchemaTooNew { .. } => "schema_too_new",
            Self::Damaged { .. } => "integrity_check_failed",
            Self::InUse(_) => "data_dir_in_use",
            Self::Locked(_) => "locked",
            Self::Io { .. } => "io_error",
            Self::Sqlite { .. } => "database_error",
        }
    }
}

/// What `back_up` wrote.
#[derive(Debug, Serialize)]
pub struct BackupReport {
    pub path: PathBuf,
    pub bytes: u64,
    pub schema_version: usize,
    /// Whether the data directory's key file is in the backup (not when `VIGIL_MASTER_KEY` seals).
    pub key_included: bool,
}

/// What `restore` put in place.
#[derive(Debug, Serialize)]
pub struct RestoreReport {
    pub data_dir: PathBuf,
    pub bytes: u64,
    pub schema_version: usize,
    /// Whether `master.key` was written from the backup.
    pub key_restored: bool,
    /// Whether the next start brings the schema up to this build's version.
    pub upgraded_on_next_start: bool,
}

/// Copies the database of `data_dir` (and its key file) to `to`, consistent while `vigil serve`
/// writes. Written beside `to` under a temporary name and moved there when complete; an existing
/// `to` is replaced only when `overwrite`.
pub fn back_up(data_dir: &Path, to: &Path, overwrite: bool) -> Result<BackupReport, BackupError> {
    let source_path = data_dir.join(DATABASE_FILE);
    if !source_path.is_file() {
        return Err(BackupError::NoDatabase(display(data_dir)));
    }
    if !overwrite && to.exists() {
        return Err(BackupError::Exists(display(to)));
    }
    let key = read_key_file(data_dir)?;
    let temporary = Temporary::beside(to)?;
    copy_database(&source_path, temporary.path())?;
    let inspected = inspect(temporary.path())?;
    if let Some(key) = &key {
        store_key(temporary.path(), key)?;
    }
    let bytes = file_len(temporary.path())?;
    temporary.finish(to, overwrite)?;
    Ok(BackupReport {
        path: to.to_path_buf(),
        bytes,
        schema_version: inspected.schema_version,
        key_included: key.is_some(),
    })
}

/// Puts the backup `from` in place as the database (and key file) of `data_dir`, made if missing.
/// A data directory that already holds a database is replaced only when `overwrite`, and never
/// while a vigil process runs on it.
pub fn restore(
    from: &Path,
    data_dir: &Path,
    overwrite: bool,
) -> Result<RestoreReport, BackupError> {
    if !from.is_file() {
        return Err(BackupError::NoDatabase(display(from)));
    }
    let database = data_dir.join(DATABASE_FILE);
    if !overwrite && database.exists() {
        return Err(BackupError::HoldsDatabase(display(data_dir)));
    }
    if crate::instance::running_on(data_dir) {
        return Err(BackupError::InUse(display(data_dir)));
    }
    std::fs::create_dir_all(data_dir).map_err(io_error(data_dir))?;
    let temporary = Temporary::beside(&database)?;
    std::fs::copy(from, temporary.path()).map_err(io_error(from))?;
    let inspected = inspect(temporary.path()).map_err(|e| e.naming(temporary.path(), from))?;
    remove_key(temporary.path())?;
    if let Some(key) = &inspected.key {
        let key_file = Temporary::beside(&data_dir.join(KEY_FILE))?;
        std::fs::write(key_file.path(), format!("{key}\n")).map_err(io_error(key_file.path()))?;
        key_file.finish(&data_dir.join(KEY_FILE), true)?;
    }
    // A WAL left by the replaced database would be replayed into the restored one.
    for suffix in DATABASE_SIDECARS {
        let sidecar = PathBuf::from(format!("{}{suffix}", database.display()));
        match std::fs::remove_file(&sidecar) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io_error(&sidecar)(e));
            }
            _ => {}
        }
    }
    let bytes = file_len(temporary.path())?;
    temporary.finish(&database, true)?;
    Ok(RestoreReport {
        data_dir: data_dir.to_path_buf(),
        bytes,
        schema_version: inspected.schema_version,
        key_restored: inspected.key.is_some(),
        upgraded_on_next_start: inspected.schema_version < SCHEMA_VERSION,
    })
}

/// What a checked backup holds.
struct Inspected {
    schema_version: usize,
    key: Option<String>,
}

/// Checks `path` is a whole Vigil database at a schema version this build reads.
fn inspect(path: &Path) -> Result<Inspected, BackupError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(not_vigil_or(path))?;
    let report: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(not_vigil_or(path))?;
    if report != "ok" {
        return Err(BackupError::Damaged {
            path: display(path),
            report,
        });
    }
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sqlite_error(path))?;
    // Every Vigil database has a version from its first table on.
    let schema_version = match usize::try_from(version) {
        Ok(0) | Err(_) => return Err(BackupError::NotVigil(display(path))),
        Ok(found) if found > SCHEMA_VERSION => {
            return Err(BackupError::SchemaTooNew {
                path: display(path),
                found,
                known: SCHEMA_VERSION,
            });
        }
        Ok(found) => found,
    };
    let has_key_table: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
            [KEY_TABLE],
            |r| r.get(0),
        )
        .map_err(sqlite_error(path))?;
    let key = if has_key_table {
        conn.query_row(&format!("SELECT key FROM {KEY_TABLE}"), [], |r| r.get(0))
            .optional()
            .map_err(sqlite_error(path))?
    } else {
        None
    };
    Ok(Inspected {
        schema_version,
        key,
    })
}

/// Copies every page of `source` to a new database at `target` in one step: one read
/// transaction, so one committed state, however the source's writers go on meanwhile.
fn copy_database(source: &Path, target: &Path) -> Result<(), BackupError> {
    // Without CREATE: the source was checked to exist, and must not be made.
    let source_conn = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(sqlite_error(source))?;
    source_conn
        .busy_timeout(crate::db::BUSY_TIMEOUT)
        .map_err(sqlite_error(source))?;
    let mut target_conn = Connection::open(target).map_err(sqlite_error(target))?;
    {
        let backup = Backup::new(&source_conn, &mut target_conn).map_err(sqlite_error(target))?;
        let mut retries = LOCKED_RETRIES;
        loop {
            match backup.step(-1).map_err(sqlite_error(source))? {
                StepResult::Done => break,
                StepResult::More => {}
                // Busy or locked: another connection holds a lock for a moment.
                _ if retries > 0 => {
                    retries -= 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => return Err(BackupError::Locked(display(source))),
            }
        }
    }
    // The copy stands alone: a rollback journal, not a WAL that must travel with it.
    target_conn
        .query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))
        .map_err(sqlite_error(target))
}

fn store_key(backup: &Path, key: &str) -> Result<(), BackupError> {
    let conn = Connection::open(backup).map_err(sqlite_error(backup))?;
    conn.execute_batch(&format!("CREATE TABLE {KEY_TABLE} (key TEXT NOT NULL);"))
        .and_then(|()| conn.execute(&format!("INSERT INTO {KEY_TABLE} (key) VALUES (?1)"), [key]))
        .map(|_| ())
        .map_err(sqlite_error(backup))
}

/// Drops the key table from a restored copy, its pages zeroed (the key lives in `master.key`).
fn remove_key(database: &Path) -> Result<(), BackupError> {
    let conn = Connection::open(database).map_err(sqlite_error(database))?;
    conn.execute_batch(&format!(
        "PRAGMA secure_delete = ON; DROP TABLE IF EXISTS {KEY_TABLE};"
    ))
    .map_err(sqlite_error(database))
}

fn read_key_file(data_dir: &Path) -> Result<Option<String>, BackupError> {
    let path = data_dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text.trim().to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(&path)(e)),
    }
}

/// A file being written under a temporary name beside where it goes; removed unless finished.
struct Temporary {
    path: PathBuf,
    finished: bool,
}

impl Temporary {
    /// A new empty file, readable by its owner only (a backup or key is as secret as the data).
    fn beside(target: &Path) -> Result<Self, BackupError> {
        let name = target
            .file_name()
            .map_or_else(|| "vigil".into(), |n| n.to_string_lossy().into_owned());
        let path = target.with_file_name(format!(
            ".{name}.{}.partial",
            ulid::Ulid::new().to_string().to_lowercase()
        ));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(&path).map_err(io_error(&path))?;
        Ok(Self {
            path,
            finished: false,
        })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes the file and moves it to `target`. Without `overwrite` a hard link puts it there,
    /// which fails rather than replace a file that appeared meanwhile.
    fn finish(mut self, target: &Path, overwrite: bool) -> Result<(), BackupError> {
        self.finished = true;
        let path = self.path.clone();
        let moved = std::fs::File::open(&path)
            .and_then(|file| file.sync_all())
            .and_then(|()| {
                if overwrite {
                    std::fs::rename(&path, target)
                } else {
                    std::fs::hard_link(&path, target).and_then(|()| std::fs::remove_file(&path))
                }
            });
        match moved {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    Err(BackupError::Exists(display(target)))
                } else {
                    Err(io_error(target)(e))
                }
            }
        }
    }
}

impl Drop for Temporary {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl BackupError {
    /// The same error, naming `shown` where it named the temporary copy `copy`.
    fn naming(self, copy: &Path, shown: &Path) -> Self {
        let (copy, shown) = (display(copy), display(shown));
        let rename = |path: String| if path == copy { shown.clone() } else { path };
        match self {
            Self::NotVigil(path) => Self::NotVigil(rename(path)),
            Self::SchemaTooNew { path, found, known } => Self::SchemaTooNew {
                path: rename(path),
                found,
                known,
            },
            Self::Damaged { path, report } => Self::Damaged {
                path: rename(path),
                report,
            },
            Self::Sqlite { path, source } => Self::Sqlite {
                path: rename(path),
                source,
            },
            other => other,
        }
    }
}

fn file_len(path: &Path) -> Result<u64, BackupError> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(io_error(path))
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: display(path),
        source,
    }
}

fn sqlite_error(path: &Path) -> impl Fn(rusqlite::Error) -> BackupError + '_ {
    move |source| BackupError::Sqlite {
        path: display(path),
        source,
    }
}

/// "File is not a database" (and an empty or foreign file's other refusals) as not Vigil's.
fn not_vigil_or(path: &Path) -> impl Fn(rusqlite::Error) -> BackupError + '_ {
    move |source| match source.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => BackupError::NotVigil(display(path)),
        _ => sqlite_error(path)(source),
    }
}
