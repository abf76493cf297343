//! This process's instance on a data directory, and which other instances are gone.
//!
//! Each process that opens a data directory holds an exclusive lock on a file of its own,
//! `instances/<id>.lock`, for as long as it runs. The kernel drops the lock when the process ends,
//! however it ends (`kill -9` included): a lock file that can be locked names a process that is
//! gone, and a missing one names a process whose leftovers were already taken over. Leases on
//! queue messages and claims on delivery records carry the instance id, so a new process gives
//! them back at once instead of waiting out their timeouts.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};

use async_trait::async_trait;
use vigil_core::ports::Liveness;

use crate::EmbeddedError;
use crate::db::now_millis;

/// Folder of the lock files, inside the data directory.
const INSTANCES_DIR: &str = "instances";
const LOCK_SUFFIX: &str = ".lock";
/// How often a receiving queue looks for leases of gone instances.
const TAKE_OVER_INTERVAL_MILLIS: i64 = 5_000;

pub struct ProcessInstance {
    id: String,
    /// The lock files' folder; none for an in-memory database (one process by definition).
    dir: Option<PathBuf>,
    /// Held open, and locked, for the life of the process.
    _lock: Option<File>,
    last_take_over: AtomicI64,
}

impl ProcessInstance {
    /// Registers a new instance in `data_dir` (none: in memory).
    pub(crate) fn register(data_dir: Option<&Path>) -> Result<Self, EmbeddedError> {
        let id = vigil_core::ids::new_id("ins");
        let Some(data_dir) = data_dir else {
            return Ok(Self::new(id, None, None));
        };
        let dir = data_dir.join(INSTANCES_DIR);
        let failed = |source: std::io::Error| EmbeddedError::Instance {
            path: dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(failed)?;
        // Locked under a temporary name, then renamed: no other process ever sees the final
        // name unlocked and takes this live instance for a gone one.
        let temporary = dir.join(format!("{id}.new"));
        let file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&temporary)
            .map_err(failed)?;
        file.try_lock().map_err(|e| failed(e.into()))?;
        std::fs::rename(&temporary, dir.join(format!("{id}{LOCK_SUFFIX}"))).map_err(failed)?;
        Ok(Self::new(id, Some(dir), Some(file)))
    }

    fn new(id: String, dir: Option<PathBuf>, lock: Option<File>) -> Self {
        Self {
            id,
            dir,
            _lock: lock,
            last_take_over: AtomicI64::new(i64::MIN),
        }
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    fn lock_path(&self, instance: &str) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        // Ids come from the database: only an id of ours may name a file.
        let valid = instance.starts_with("ins_")
            && instance
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        valid.then(|| dir.join(format!("{instance}{LOCK_SUFFIX}")))
    }

    /// Whether `instance` is known to have stopped (see the module's comment).
    pub(crate) fn has_stopped(&self, instance: &str) -> bool {
        if instance == self.id {
            return false;
        }
        let Some(path) = self.lock_path(instance) else {
            return false;
        };
        lock_is_free(&path)
    }

    /// The other instances with a lock file.
    pub(crate) fn others(&self) -> Vec<String> {
        let Some(dir) = &self.dir else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                name.strip_suffix(LOCK_SUFFIX).map(str::to_owned)
            })
            .filter(|id| *id != self.id)
            .collect()
    }

    /// Removes the lock file of a stopped instance whose leftovers were taken over.
    pub(crate) fn forget(&self, instance: &str) {
        if let Some(path) = self.lock_path(instance)
            && self.has_stopped(instance)
        {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Removes this instance's lock file at a clean stop: nothing it holds outlives it.
    pub(crate) fn retire(&self) {
        if let Some(path) = self.lock_path(&self.id) {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Whether it is time to look for gone instances' leases again (at once after start).
    pub(crate) fn take_over_due(&self) -> bool {
        let now = now_millis();
        let last = self.last_take_over.load(Ordering::Relaxed);
        now.saturating_sub(last) >= TAKE_OVER_INTERVAL_MILLIS
            && self
                .last_take_over
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// Whether the lock file at `path` is gone or unlocked: its process has stopped. Unreadable
/// counts as held, so a doubt never takes a live process for a stopped one.
fn lock_is_free(path: &Path) -> bool {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return true,
        Err(_) => return false,
    };
    match file.try_lock_shared() {
        Ok(()) => true,
        Err(TryLockError::WouldBlock) => false,
        Err(TryLockError::Error(_)) => false,
    }
}

/// Whether a process has `data_dir` open now (one of its lock files is held).
pub(crate) fn running_on(data_dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(data_dir.join(INSTANCES_DIR)) else {
        return false;
    };
    entries.filter_map(|entry| entry.ok()).any(|entry| {
        entry.file_name().to_string_lossy().ends_with(LOCK_SUFFIX) && !lock_is_free(&entry.path())
    })
}

#[async_trait]
impl Liveness for ProcessInstance {
    fn instance_id(&self) -> &str {
        &self.id
    }

    async fn is_gone(&self, instance: &str) -> bool {
        self.has_stopped(instance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_is_alive_while_registered_and_gone_once_dropped() {
        // GIVEN two instances on one data directory
        let dir = tempfile::tempdir().unwrap();
        let a = ProcessInstance::register(Some(dir.path())).unwrap();
        let b = ProcessInstance::register(Some(dir.path())).unwrap();

        // THEN each sees the other alive, and itself never gone
        assert!(!a.has_stopped(b.id()));
        assert!(!b.has_stopped(a.id()));
        assert!(!a.has_stopped(a.id()));
        assert_eq!(a.others(), vec![b.id().to_owned()]);

        // WHEN b ends without cleaning up (its lock file stays, unlocked)
        let b_id = b.id().to_owned();
        drop(b);

        // THEN a sees it gone, and forgets it
        assert!(a.has_stopped(&b_id));
        a.forget(&b_id);
        assert!(a.others().is_empty());
        assert!(a.has_stopped(&b_id), "a forgotten instance stays gone");
        // AND an id that is not an instance's names no file
        assert!(!a.has_stopped("../vigil.db"));
    }
}
