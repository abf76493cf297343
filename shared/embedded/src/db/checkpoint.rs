//! The checkpointer thread: copies committed pages from the WAL into the database file.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;

use super::BUSY_TIMEOUT;
use crate::EmbeddedError;

/// Copies committed pages from the WAL into the database file on a thread of its own, so the
/// writer never waits for a checkpoint. Passive checkpoints: the writer and readers go on.
pub(super) struct Checkpointer {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

/// How often the checkpointer looks at a WAL it has caught up with.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(20);

impl Checkpointer {
    pub(super) fn start(path: &Path) -> Result<Self, EmbeddedError> {
        let open_error = |source| EmbeddedError::Open {
            path: path.display().to_string(),
            source,
        };
        let conn = Connection::open(path).map_err(open_error)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("vigil-sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(&conn, &stopped))
            .map_err(EmbeddedError::Spawn)?;
        Ok(Self { stop, thread })
    }

    pub(super) fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

fn checkpoint_loop(conn: &Connection, stopped: &mpsc::Receiver<()>) {
    let mut wait = CHECKPOINT_INTERVAL;
    loop {
        match stopped.recv_timeout(wait) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        // (blocked, frames in the WAL, frames copied): until it has copied every frame, the WAL
        // cannot start over from its beginning, so it goes again soon while it is behind.
        let progress = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        });
        wait = match progress {
            Ok((frames, copied)) if copied < frames => Duration::from_millis(1),
            Ok(_) => CHECKPOINT_INTERVAL,
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint failed; trying again");
                CHECKPOINT_INTERVAL
            }
        };
    }
}
