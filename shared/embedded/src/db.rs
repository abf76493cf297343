//! The SQLite database behind every embedded adapter: one writer thread doing group commit, a
//! checkpointer thread copying the WAL into the database file beside it, and a small pool of
//! read-only connections (WAL lets readers run while the writer writes).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Semaphore, oneshot};

use crate::EmbeddedError;

/// How long a connection waits for another process's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Most commands one group commit carries; bounds the latency of the first one in the batch.
const MAX_BATCH: usize = 512;
/// Writes waiting for the writer thread, at most (eight full batches). Past it a write is
/// refused at once as unavailable, so a flood answers 503 with `Retry-After` instead of
/// queueing without end in memory.
const WRITE_QUEUE_BOUND: usize = 8 * MAX_BATCH;
/// Read-only connections kept beside the writer (2 cores: more would only queue on the CPU).
const READERS: usize = 4;
/// Every query shape the adapters build fits, so statements are parsed once per connection.
const STATEMENT_CACHE: usize = 128;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
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
CREATE UNIQUE INDEX IF NOT EXISTS items_key ON items (pk, sk);
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk) WHERE gsi1pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_gsi2 ON items (gsi2pk, gsi2sk) WHERE gsi2pk IS NOT NULL;

CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    visible_at INTEGER NOT NULL,
    receive_count INTEGER NOT NULL,
    receipt TEXT,
    sent_at INTEGER NOT NULL,
    owner TEXT
);
CREATE INDEX IF NOT EXISTS messages_visible ON messages (queue, visible_at);

CREATE TABLE IF NOT EXISTS schedules (
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

/// An adapter error that can say "the database did not answer".
pub(crate) trait BackendError: Send + 'static {
    fn unavailable(reason: String) -> Self;
}

impl BackendError for vigil_core::ports::StoreError {
    fn unavailable(reason: String) -> Self {
        Self::Unavailable(reason)
    }
}

impl BackendError for vigil_core::ports::QueueError {
    fn unavailable(reason: String) -> Self {
        Self::Unavailable(reason)
    }
}

impl BackendError for vigil_core::ports::SchedulerError {
    fn unavailable(reason: String) -> Self {
        Self::Unavailable(reason)
    }
}

impl BackendError for vigil_core::ports::BusError {
    fn unavailable(reason: String) -> Self {
        Self::Unavailable(reason)
    }
}

impl BackendError for EmbeddedError {
    fn unavailable(reason: String) -> Self {
        Self::Unavailable(reason)
    }
}

/// How a write keeps its failure from leaving part of its changes behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guard {
    /// In a savepoint of its own: an error undoes whatever the work changed.
    Savepoint,
    /// None needed: the work changes nothing when it fails (it fails before its first change,
    /// and SQLite makes each statement atomic). Saves the savepoint's statements and the copy of
    /// every page it touches. Should such work fail after a change, the whole batch is undone.
    FailsClean,
}

/// One command for the writer thread.
trait Job: Send {
    fn guard(&self) -> Guard;
    /// Runs inside the batch transaction; the reply waits until the batch commits.
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Pending>;
    /// Answers without running (the batch could not start).
    fn abort(self: Box<Self>, reason: &str);
}

/// A command's result, held until its batch commits.
trait Pending: Send {
    fn succeeded(&self) -> bool;
    /// Sends the result, or `failure` if the batch did not commit.
    fn finish(self: Box<Self>, failure: Option<&str>);
}

struct ClosureJob<F, T, E> {
    work: F,
    guard: Guard,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Job for ClosureJob<F, T, E>
where
    F: FnOnce(&Connection) -> Result<T, E> + Send,
    T: Send + 'static,
    E: BackendError,
{
    fn guard(&self) -> Guard {
        self.guard
    }

    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Pending> {
        let ClosureJob { work, reply, .. } = *self;
        Box::new(PendingReply {
            result: work(conn),
            reply,
        })
    }

    fn abort(self: Box<Self>, reason: &str) {
        let _ = self.reply.send(Err(E::unavailable(reason.to_owned())));
    }
}

struct PendingReply<T, E> {
    result: Result<T, E>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<T: Send, E: BackendError> Pending for PendingReply<T, E> {
    fn succeeded(&self) -> bool {
        self.result.is_ok()
    }

    fn finish(self: Box<Self>, failure: Option<&str>) {
        let result = match failure {
            Some(reason) => Err(E::unavailable(reason.to_owned())),
            None => self.result,
        };
        // The caller may have gone away (cancelled request); its write still stands.
        let _ = self.reply.send(result);
    }
}

enum Message {
    Job(Box<dyn Job>),
    Stop(oneshot::Sender<()>),
}

struct ReaderPool {
    path: PathBuf,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<Connection>>,
}

impl ReaderPool {
    fn take(&self) -> rusqlite::Result<Connection> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(conn) => Ok(conn),
            None => open_reader(&self.path),
        }
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < READERS {
            idle.push(conn);
        }
    }

    fn clear(&self) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// The database: submit writes to the writer thread, reads to the reader pool.
pub(crate) struct Database {
    sender: mpsc::SyncSender<Message>,
    readers: Option<Arc<ReaderPool>>,
    closed: AtomicBool,
    checkpointer: Mutex<Option<Checkpointer>>,
}

const CLOSED: &str = "the embedded store is shut down";
const FULL: &str = "the embedded store has more writes waiting than it takes; try again shortly";
const DROPPED: &str = "the embedded store dropped the request (shut down, or the request failed)";

impl Database {
    /// Opens the file at `path` (or a private in-memory database) and starts the writer.
    pub(crate) fn open(path: Option<&Path>) -> Result<Self, EmbeddedError> {
        Self::open_with_queue(path, WRITE_QUEUE_BOUND)
    }

    /// [`open`](Self::open) with another bound on the writes waiting for the writer (tests).
    fn open_with_queue(path: Option<&Path>, bound: usize) -> Result<Self, EmbeddedError> {
        let conn = match path {
            Some(path) => Connection::open(path),
            None => Connection::open_in_memory(),
        }
        .map_err(|source| EmbeddedError::Open {
            path: describe(path),
            source,
        })?;
        configure_writer(&conn, path.is_some()).map_err(|source| EmbeddedError::Open {
            path: describe(path),
            source,
        })?;

        let (sender, receiver) = mpsc::sync_channel(bound);
        std::thread::Builder::new()
            .name("vigil-sqlite-writer".into())
            .spawn(move || writer_loop(conn, receiver))
            .map_err(EmbeddedError::Spawn)?;

        let checkpointer = path.map(Checkpointer::start).transpose()?;
        let readers = path.map(|path| {
            Arc::new(ReaderPool {
                path: path.to_path_buf(),
                permits: Arc::new(Semaphore::new(READERS)),
                idle: Mutex::new(Vec::new()),
            })
        });
        Ok(Self {
            sender,
            readers,
            closed: AtomicBool::new(false),
            checkpointer: Mutex::new(checkpointer),
        })
    }

    /// Runs `work` on the writer connection inside its own savepoint of the next group commit;
    /// resolves after the commit. An `Err` from `work` rolls back only its own changes.
    pub(crate) async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: BackendError,
    {
        self.submit(work, Guard::Savepoint).await
    }

    /// Like [`write`](Self::write), for work that changes nothing when it fails: it checks
    /// before it writes, and each statement is atomic. No savepoint, so cheaper; if such work
    /// does fail after a change, the whole group commit is rolled back and every caller in it is
    /// told the store was unavailable.
    pub(crate) async fn write_fails_clean<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: BackendError,
    {
        self.submit(work, Guard::FailsClean).await
    }

    async fn submit<T, E, F>(&self, work: F, guard: Guard) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: BackendError,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(ClosureJob { work, guard, reply });
        if self.closed.load(Ordering::Acquire) {
            return Err(E::unavailable(CLOSED.into()));
        }
        match self.sender.try_send(Message::Job(job)) {
            Ok(()) => {}
            Err(mpsc::TrySendError::Full(_)) => return Err(E::unavailable(FULL.into())),
            Err(mpsc::TrySendError::Disconnected(_)) => {
                return Err(E::unavailable(CLOSED.into()));
            }
        }
        answer
            .await
            .unwrap_or_else(|_| Err(E::unavailable(DROPPED.into())))
    }

    /// Runs `work` on a read-only connection (the writer's, for an in-memory database).
    pub(crate) async fn read<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: BackendError,
    {
        let Some(pool) = &self.readers else {
            return self.write(work).await;
        };
        if self.closed.load(Ordering::Acquire) {
            return Err(E::unavailable(CLOSED.into()));
        }
        let permit = Arc::clone(&pool.permits)
            .acquire_owned()
            .await
            .map_err(|_| E::unavailable(CLOSED.into()))?;
        let pool = Arc::clone(pool);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = pool.take().map_err(|e| E::unavailable(e.to_string()))?;
            let result = work(&conn);
            pool.give_back(conn);
            result
        })
        .await
        .unwrap_or_else(|e| Err(E::unavailable(e.to_string())))
    }

    /// Finishes every write queued so far, closes the connections. Idempotent.
    pub(crate) async fn shutdown(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(pool) = &self.readers {
            // Waiting for every permit lets reads in flight finish before their connections go.
            let permits = u32::try_from(READERS).unwrap_or(u32::MAX);
            let held = pool.permits.acquire_many(permits).await;
            pool.clear();
            drop(held);
        }
        let checkpointer = self
            .checkpointer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(checkpointer) = checkpointer {
            // Joining waits for a checkpoint in progress: off the async workers.
            let _ = tokio::task::spawn_blocking(move || checkpointer.stop()).await;
        }
        // The writer's connection closes last, so SQLite checkpoints the WAL into the database.
        let (done, stopped) = oneshot::channel();
        // Waits for room behind the writes already queued: off the async workers.
        let sender = self.sender.clone();
        let sent = tokio::task::spawn_blocking(move || sender.send(Message::Stop(done)).is_ok())
            .await
            .unwrap_or(false);
        if sent {
            let _ = stopped.await;
        }
    }
}

fn describe(path: Option<&Path>) -> String {
    path.map_or_else(|| ":memory:".into(), |p| p.display().to_string())
}

fn configure_writer(conn: &Connection, file: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    if file {
        conn.execute_batch("PRAGMA journal_mode = WAL;")?;
    }
    // FULL: a reply means the write survives power loss, not only a process crash.
    // 32 MiB of page cache: the key indexes outgrow SQLite's 2 MiB default quickly, and every
    // miss on the write path is a read system call.
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -32768;",
    )?;
    // A file's checkpoints run on the checkpointer's thread, beside the writer: on the writer
    // they would stall every caller of the batch (~30 ms each under load). The size limit
    // shrinks a WAL that grew while a reader in another process held it.
    if file {
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864;")?;
    }
    // IMMEDIATE: another process creating the schema at the same moment waits instead of failing.
    conn.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA}"))?;
    match migrate(conn) {
        Ok(()) => conn.execute_batch("COMMIT;"),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK;");
            Err(e)
        }
    }
}

/// Brings a database made by an earlier version up to the schema above.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    // Version 2: a message names the process instance holding its lease.
    let has_owner: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info('messages') WHERE name = 'owner')",
        [],
        |r| r.get(0),
    )?;
    if !has_owner {
        conn.execute_batch("ALTER TABLE messages ADD COLUMN owner TEXT;")?;
    }
    conn.execute_batch("PRAGMA user_version = 2;")
}

/// Copies committed pages from the WAL into the database file on a thread of its own, so the
/// writer never waits for a checkpoint. Passive checkpoints: the writer and readers go on.
struct Checkpointer {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

/// How often the checkpointer looks at a WAL it has caught up with.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(20);

impl Checkpointer {
    fn start(path: &Path) -> Result<Self, EmbeddedError> {
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

    fn stop(self) {
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

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

fn writer_loop(conn: Connection, receiver: mpsc::Receiver<Message>) {
    let mut queue = Intake {
        receiver,
        next: Vec::new(),
        stopped: None,
    };
    let mut wal = WalRestart::new(&conn);
    loop {
        if queue.next.is_empty() {
            if queue.stopped.is_some() {
                break;
            }
            match queue.receiver.recv() {
                Ok(message) => queue.accept(message),
                Err(_) => break,
            }
        }
        // No waiting for more callers: those that arrive while the batch runs join it (see
        // `run_batch`), those that arrive during its commit make the next one. A wait before
        // starting only left the writer idle (fewer events/s at 4, 16 and 64 connections).
        queue.drain();
        let jobs = std::mem::take(&mut queue.next);
        let committed = run_batch(&conn, jobs, &mut queue);
        committed.into_iter().for_each(|p| p.finish(None));
        wal.after_commit(&conn);
    }
    // Closing the last connection checkpoints the WAL; only then is shutdown complete.
    drop(conn);
    let Intake {
        receiver, stopped, ..
    } = queue;
    drop(receiver);
    if let Some(done) = stopped {
        let _ = done.send(());
    }
}

/// Lets the WAL start over from its beginning now and then. The checkpointer copies frames
/// beside the writer, but under steady writes never catches up at the instant a write begins,
/// which is when SQLite can restart the WAL; so the WAL would grow without end, and every commit
/// would extend the file (a dearer fsync). Every so often the writer copies the few frames the
/// checkpointer has not, itself, between batches: the next write then restarts the WAL.
struct WalRestart {
    /// An in-memory database has no WAL.
    file: bool,
    last: Instant,
    commits: u32,
}

/// How often, at most, the writer finishes a checkpoint, and after how many commits at least.
const WAL_RESTART_INTERVAL: Duration = Duration::from_millis(100);
const WAL_RESTART_COMMITS: u32 = 16;

impl WalRestart {
    fn new(conn: &Connection) -> Self {
        Self {
            file: conn.path().is_some_and(|p| !p.is_empty()),
            last: Instant::now(),
            commits: 0,
        }
    }

    fn after_commit(&mut self, conn: &Connection) {
        self.commits += 1;
        if !self.file
            || self.commits < WAL_RESTART_COMMITS
            || self.last.elapsed() < WAL_RESTART_INTERVAL
        {
            return;
        }
        self.commits = 0;
        self.last = Instant::now();
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint on the writer failed");
        }
    }
}

/// The writer's side of the command channel, and the next batch being filled.
struct Intake {
    receiver: mpsc::Receiver<Message>,
    next: Vec<Box<dyn Job>>,
    stopped: Option<oneshot::Sender<()>>,
}

impl Intake {
    fn accept(&mut self, message: Message) {
        match message {
            Message::Job(job) => self.next.push(job),
            Message::Stop(done) => self.stopped = Some(done),
        }
    }

    /// Takes what is already queued, without waiting.
    fn drain(&mut self) {
        while self.next.len() < MAX_BATCH {
            match self.try_job() {
                Some(job) => self.next.push(job),
                None => break,
            }
        }
    }

    /// The next queued job, if one is waiting (none once a stop was asked for).
    fn try_job(&mut self) -> Option<Box<dyn Job>> {
        if self.stopped.is_some() {
            return None;
        }
        match self.receiver.try_recv() {
            Ok(Message::Job(job)) => Some(job),
            Ok(Message::Stop(done)) => {
                self.stopped = Some(done);
                None
            }
            Err(_) => None,
        }
    }
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// One group commit: the jobs queued when it began, then those that arrive while it runs (they
/// share its commit instead of waiting for the next), each guarded as it asks, then one COMMIT.
/// Returns the committed jobs' replies, to send once the caller is ready; failures are answered
/// here.
fn run_batch(
    conn: &Connection,
    jobs: Vec<Box<dyn Job>>,
    intake: &mut Intake,
) -> Vec<Box<dyn Pending>> {
    let mut pending: Vec<Box<dyn Pending>> = Vec::with_capacity(jobs.len());
    let mut jobs = jobs.into_iter();

    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        let reason = e.to_string();
        jobs.for_each(|job| job.abort(&reason));
        return Vec::new();
    }

    let mut taken = 0;
    loop {
        let next = match jobs.next() {
            Some(job) => Some(job),
            None if taken < MAX_BATCH => intake.try_job(),
            None => None,
        };
        let Some(job) = next else { break };
        taken += 1;
        let guard = job.guard();
        if guard == Guard::Savepoint
            && let Err(e) = exec(conn, "SAVEPOINT job")
        {
            fail_batch(conn, &e.to_string(), pending, jobs, job);
            return Vec::new();
        }
        let changes_before = conn.total_changes();
        // A panicking job drops its reply (its caller sees the store as unavailable) and must
        // not take the writer thread, and everyone else's request, down with it.
        let outcome = catch_unwind(AssertUnwindSafe(|| job.run(conn))).ok();
        let keep = outcome.as_ref().is_some_and(|p| p.succeeded());

        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back (I/O error, disk full): nothing in this
            // batch so far was written.
            let reason = "the database rolled the transaction back";
            pending
                .drain(..)
                .chain(outcome)
                .for_each(|p| p.finish(Some(reason)));
            if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
                let reason = e.to_string();
                jobs.for_each(|job| job.abort(&reason));
                return Vec::new();
            }
            continue;
        }

        let ended = match guard {
            Guard::Savepoint if keep => exec(conn, "RELEASE job").map_err(|e| e.to_string()),
            Guard::Savepoint => exec(conn, "ROLLBACK TO job")
                .and_then(|()| exec(conn, "RELEASE job"))
                .map_err(|e| e.to_string()),
            Guard::FailsClean if keep || conn.total_changes() == changes_before => Ok(()),
            Guard::FailsClean => {
                tracing::error!("a write meant to fail clean failed after a change");
                Err("a write failed halfway; its group commit was rolled back".to_owned())
            }
        };
        match ended {
            Ok(()) => pending.extend(outcome),
            Err(reason) => {
                outcome.into_iter().for_each(|p| p.finish(Some(&reason)));
                rollback(conn);
                pending.into_iter().for_each(|p| p.finish(Some(&reason)));
                jobs.for_each(|job| job.abort(&reason));
                return Vec::new();
            }
        }
    }

    match exec(conn, "COMMIT") {
        Ok(()) => pending,
        Err(e) => {
            let reason = e.to_string();
            rollback(conn);
            pending.into_iter().for_each(|p| p.finish(Some(&reason)));
            Vec::new()
        }
    }
}

fn fail_batch(
    conn: &Connection,
    reason: &str,
    pending: Vec<Box<dyn Pending>>,
    rest: impl Iterator<Item = Box<dyn Job>>,
    current: Box<dyn Job>,
) {
    rollback(conn);
    pending.into_iter().for_each(|p| p.finish(Some(reason)));
    current.abort(reason);
    rest.for_each(|job| job.abort(reason));
}

fn rollback(conn: &Connection) {
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
}

/// Milliseconds since the Unix epoch, the unit of every queue timestamp.
pub(crate) fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use vigil_core::ports::StoreError;

    use super::*;

    fn count(conn: &Connection) -> Result<i64, StoreError> {
        conn.query_row("SELECT count(*) FROM items", [], |r| r.get(0))
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    fn insert(conn: &Connection, sk: &str) -> Result<(), StoreError> {
        conn.execute(
            "INSERT INTO items (pk, sk, version, body) VALUES ('p', ?1, 1, '{}')",
            [sk],
        )
        .map(drop)
        .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    #[tokio::test]
    async fn writes_past_the_queue_bound_are_refused_at_once_and_the_rest_commit() {
        /// Polls a write once: enough to hand it to the writer's queue.
        async fn submit<F: std::future::Future + Unpin>(write: &mut F) {
            let _ = tokio::time::timeout(Duration::ZERO, write).await;
        }
        // GIVEN a writer busy with a write that waits for the test, and room for two more
        let db = Database::open_with_queue(None, 2).unwrap();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = std::sync::mpsc::channel::<()>();
        let mut busy = Box::pin(db.write(move |conn| {
            let _ = started_tx.send(());
            let _ = held.recv();
            insert(conn, "busy")
        }));
        submit(&mut busy).await;
        started.recv().unwrap();

        // WHEN three more writes arrive while it works
        let mut a = Box::pin(db.write(|conn| insert(conn, "a")));
        submit(&mut a).await;
        let mut b = Box::pin(db.write(|conn| insert(conn, "b")));
        submit(&mut b).await;
        let refused =
            tokio::time::timeout(Duration::from_secs(30), db.write(|conn| insert(conn, "c")))
                .await
                .expect("refused at once, not queued");

        // THEN the one past the bound is refused as unavailable, without waiting
        assert!(
            matches!(&refused, Err(StoreError::Unavailable(m)) if m.contains("try again")),
            "{refused:?}"
        );

        // AND once the writer is free, the others commit
        release.send(()).unwrap();
        assert_eq!(busy.await, Ok(()));
        assert_eq!(a.await, Ok(()));
        assert_eq!(b.await, Ok(()));
        assert_eq!(db.read(count).await, Ok(3));
    }

    #[tokio::test]
    async fn a_write_that_breaks_its_promise_to_fail_clean_leaves_nothing_behind() {
        // GIVEN an in-memory database
        let db = Database::open(None).unwrap();

        // WHEN work without a savepoint changes a row and then fails
        let broken = db
            .write_fails_clean(|conn| {
                insert(conn, "half")?;
                Err::<(), _>(StoreError::VersionConflict)
            })
            .await;

        // THEN its caller is told the store failed, and the row is not there
        assert!(
            matches!(broken, Err(StoreError::Unavailable(_))),
            "{broken:?}"
        );
        assert_eq!(db.read(count).await, Ok(0));
    }

    #[tokio::test]
    async fn work_that_fails_clean_or_in_its_savepoint_spares_the_rest_of_the_batch() {
        // GIVEN an in-memory database
        let db = Database::open(None).unwrap();

        // WHEN, together, one write fails before changing anything, one fails after a change
        // in its own savepoint, and one succeeds
        let (clean, guarded, fine) = tokio::join!(
            db.write_fails_clean(|_| Err::<(), _>(StoreError::AlreadyExists)),
            db.write(|conn| {
                insert(conn, "undone")?;
                Err::<(), _>(StoreError::VersionConflict)
            }),
            db.write_fails_clean(|conn| insert(conn, "kept")),
        );

        // THEN each caller gets its own answer, and only the successful row stands
        assert_eq!(clean, Err(StoreError::AlreadyExists));
        assert_eq!(guarded, Err(StoreError::VersionConflict));
        assert_eq!(fine, Ok(()));
        assert_eq!(db.read(count).await, Ok(1));
    }
}
