//! The writer thread: takes whatever writes are queued, runs them in one transaction (each
//! guarded as it asks), commits once, then answers every caller of the batch.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::BackendError;

/// Most commands one group commit carries; bounds the latency of the first one in the batch.
pub(super) const MAX_BATCH: usize = 512;

/// How a write keeps its failure from leaving part of its changes behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Guard {
    /// In a savepoint of its own: an error undoes whatever the work changed.
    Savepoint,
    /// None needed: the work changes nothing when it fails (it fails before its first change,
    /// and SQLite makes each statement atomic). Saves the savepoint's statements and the copy of
    /// every page it touches. Should such work fail after a change, the whole batch is undone.
    FailsClean,
}

/// One command for the writer thread.
pub(super) trait Job: Send {
    fn guard(&self) -> Guard;
    /// Runs inside the batch transaction; the reply waits until the batch commits.
    fn run(self: Box<Self>, conn: &Connection) -> Box<dyn Pending>;
    /// Answers without running (the batch could not start).
    fn abort(self: Box<Self>, reason: &str);
}

/// A command's result, held until its batch commits.
pub(super) trait Pending: Send {
    fn succeeded(&self) -> bool;
    /// Sends the result, or `failure` if the batch did not commit.
    fn finish(self: Box<Self>, failure: Option<&str>);
}

pub(super) struct ClosureJob<F, T, E> {
    pub(super) work: F,
    pub(super) guard: Guard,
    pub(super) reply: oneshot::Sender<Result<T, E>>,
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

pub(super) enum Message {
    Job(Box<dyn Job>),
    Stop(oneshot::Sender<()>),
}

pub(super) fn writer_loop(conn: Connection, receiver: mpsc::Receiver<Message>) {
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

        match end_job(conn, guard, keep, changes_before) {
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

/// Keeps a job's changes or undoes them, as its guard says; an error ends the whole batch.
fn end_job(conn: &Connection, guard: Guard, keep: bool, changes_before: u64) -> Result<(), String> {
    match guard {
        Guard::Savepoint if keep => exec(conn, "RELEASE job").map_err(|e| e.to_string()),
        Guard::Savepoint => exec(conn, "ROLLBACK TO job")
            .and_then(|()| exec(conn, "RELEASE job"))
            .map_err(|e| e.to_string()),
        Guard::FailsClean if keep || conn.total_changes() == changes_before => Ok(()),
        Guard::FailsClean => {
            tracing::error!("a write meant to fail clean failed after a change");
            Err("a write failed halfway; its group commit was rolled back".to_owned())
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
