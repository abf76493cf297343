//! `Queue` on SQLite: one table of messages shared by every queue, SQS semantics on top.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, params};
use tokio::sync::Notify;
use vigil_core::ports::queue::{receive_batch_size, validate_send};
use vigil_core::ports::{Queue, QueueError, ReceivedMessage, RequestCounter, RequestCounts};

use crate::db::{Database, now_millis};
use crate::instance::ProcessInstance;

/// How often a waiting receive looks again for messages it was not told about (sent by another
/// process, or whose delay or visibility timeout ran out).
const POLL: Duration = Duration::from_millis(50);

/// Where a queue's messages go after too many receives.
#[derive(Clone)]
pub(crate) struct DeadLetter {
    pub(crate) queue: String,
    pub(crate) max_receives: u32,
    pub(crate) notify: Arc<Notify>,
}

/// One queue of the embedded backend.
pub struct SqliteQueue {
    db: Arc<Database>,
    /// Whose leases this queue's receives are.
    instance: Arc<ProcessInstance>,
    name: String,
    dead_letter: Option<DeadLetter>,
    notify: Arc<Notify>,
    counter: RequestCounter,
}

impl SqliteQueue {
    pub(crate) fn counter(&self) -> &RequestCounter {
        &self.counter
    }

    /// Wakes a receiver long-polling this queue (after a message was inserted elsewhere). One,
    /// not all: a receiver that takes a full batch wakes the next.
    pub(crate) fn wake_a_receiver(&self) {
        self.notify.notify_one();
    }

    pub(crate) fn new(
        db: Arc<Database>,
        instance: Arc<ProcessInstance>,
        name: String,
        notify: Arc<Notify>,
        dead_letter: Option<DeadLetter>,
    ) -> Self {
        Self {
            db,
            instance,
            name,
            dead_letter,
            notify,
            counter: RequestCounter::default(),
        }
    }

    /// The queue's name (`vigil-outbox`, `vigil-outbox-dlq`, …).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether any message is visible now, on a reader (cheaper than a write when idle).
    async fn any_visible(&self) -> Result<bool, QueueError> {
        let queue = self.name.clone();
        self.db
            .read(move |conn| {
                conn.prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM messages WHERE queue = ?1 AND visible_at <= ?2)",
                )
                .and_then(|mut s| s.query_row(params![queue, now_millis()], |r| r.get(0)))
                .map_err(unavailable)
            })
            .await
    }
}

impl SqliteQueue {
    /// Makes the messages leased by stopped processes visible again at once, on every queue of
    /// the database (a process killed mid-batch would otherwise hold them until their visibility
    /// timeout); returns how many. Their receive counts stand: a message that kills its consumer
    /// still dead-letters.
    pub(crate) async fn take_over_leases(&self) -> Result<usize, QueueError> {
        let holders: Vec<String> = self
            .db
            .read(move |conn| {
                conn.prepare_cached(
                    "SELECT DISTINCT owner FROM messages \
                     WHERE owner IS NOT NULL AND visible_at > ?1",
                )
                .and_then(|mut s| {
                    s.query_map(params![now_millis()], |r| r.get(0))?
                        .collect::<rusqlite::Result<Vec<String>>>()
                })
                .map_err(unavailable)
            })
            .await?;
        let stopped: Vec<String> = holders
            .into_iter()
            .chain(self.instance.others())
            .filter(|holder| self.instance.has_stopped(holder))
            .collect();
        if stopped.is_empty() {
            return Ok(0);
        }
        let released = stopped.clone();
        let returned = self
            .db
            .write(move |conn| {
                let now = now_millis();
                let mut update = conn
                    .prepare_cached(
                        "UPDATE messages SET visible_at = ?2, receipt = NULL, owner = NULL \
                         WHERE owner = ?1 AND visible_at > ?2",
                    )
                    .map_err(unavailable)?;
                let mut returned = 0;
                for holder in &released {
                    returned += update.execute(params![holder, now]).map_err(unavailable)?;
                }
                Ok(returned)
            })
            .await?;
        if returned > 0 {
            tracing::info!(
                returned,
                "leases of stopped processes returned to their queues"
            );
        }
        // A missing lock file says "gone" as well as an unlocked one does.
        for holder in &stopped {
            self.instance.forget(holder);
        }
        Ok(returned)
    }
}

fn unavailable(e: rusqlite::Error) -> QueueError {
    QueueError::Unavailable(e.to_string())
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Checks a message as SQS would before it is sent.
/// Adds a message to `queue`; returns its id.
pub(crate) fn insert_message(
    conn: &Connection,
    queue: &str,
    body: &str,
    delay: Duration,
) -> rusqlite::Result<String> {
    let id = ulid::Ulid::new().to_string();
    let now = now_millis();
    conn.prepare_cached(
        "INSERT INTO messages (queue, id, body, visible_at, receive_count, receipt, sent_at) \
         VALUES (?1, ?2, ?3, ?4, 0, NULL, ?5)",
    )?
    .execute(params![
        queue,
        id,
        body,
        now.saturating_add(millis(delay)),
        now
    ])?;
    Ok(id)
}

/// A receipt names the message's row and one receive of it.
fn parse_receipt(receipt: &str) -> Result<i64, QueueError> {
    receipt
        .split_once('.')
        .and_then(|(seq, _)| seq.parse().ok())
        .ok_or(QueueError::InvalidReceipt)
}

struct Taken {
    messages: Vec<ReceivedMessage>,
    dead_lettered: bool,
}

fn take_messages(
    conn: &Connection,
    queue: &str,
    owner: &str,
    dead_letter: Option<(&str, u32)>,
    max: u32,
    visibility: Duration,
) -> rusqlite::Result<Taken> {
    let now = now_millis();
    let hidden_until = now.saturating_add(millis(visibility));
    let mut taken = Taken {
        messages: Vec::new(),
        dead_lettered: false,
    };
    loop {
        let want = max as usize - taken.messages.len();
        // The limit is written into the statement, not bound: SQLite plans with a bound LIMIT's
        // value, so it would prepare the statement again each time the value changed.
        let candidates: Vec<(i64, String, String, u32)> = conn
            .prepare_cached(&format!(
                "SELECT seq, id, body, receive_count FROM messages \
                 WHERE queue = ?1 AND visible_at <= ?2 ORDER BY visible_at, seq LIMIT {want}"
            ))?
            .query_map(params![queue, now], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        if candidates.is_empty() {
            break;
        }
        let mut moved = false;
        for (seq, message_id, body, receive_count) in candidates {
            if taken
                .messages
                .iter()
                .any(|m| parse_receipt(&m.receipt).ok() == Some(seq))
            {
                continue;
            }
            if let Some((dlq, limit)) = dead_letter
                && receive_count >= limit
            {
                // SQS moves it on the receive after the last allowed one, keeping its count.
                conn.prepare_cached(
                    "UPDATE messages SET queue = ?2, visible_at = ?3, receipt = NULL, owner = NULL \
                     WHERE seq = ?1",
                )?
                .execute(params![seq, dlq, now])?;
                moved = true;
                continue;
            }
            let receipt = format!("{seq}.{}", ulid::Ulid::new());
            conn.prepare_cached(
                "UPDATE messages SET receive_count = receive_count + 1, receipt = ?2, \
                 visible_at = ?3, owner = ?4 WHERE seq = ?1",
            )?
            .execute(params![seq, receipt, hidden_until, owner])?;
            taken.messages.push(ReceivedMessage {
                message_id,
                body,
                receipt,
                receive_count: receive_count.saturating_add(1),
            });
        }
        taken.dead_lettered |= moved;
        // Only dead-lettered candidates leave room for others behind them.
        if !moved || taken.messages.len() >= max as usize {
            break;
        }
    }
    Ok(taken)
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn send(&self, body: &str, delay: Duration) -> Result<String, QueueError> {
        validate_send(body, delay)?;
        self.counter.queue_send();
        let (queue, body) = (self.name.clone(), body.to_owned());
        let id = self
            .db
            .write_fails_clean(move |conn| {
                insert_message(conn, &queue, &body, delay).map_err(unavailable)
            })
            .await?;
        self.wake_a_receiver();
        Ok(id)
    }

    async fn receive(
        &self,
        max: u32,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        self.counter.queue_receive();
        let max = receive_batch_size(max);
        let deadline = tokio::time::Instant::now() + wait;
        // The first try and a wake by a send take at once, on the writer; a try after a quiet
        // poll interval looks first on a reader, cheaper than a write while the queue is idle.
        let mut woken = true;
        loop {
            // Registered before looking, so a send between the look and the wait is not missed.
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();

            if self.instance.take_over_due() {
                woken |= self.take_over_leases().await? > 0;
            }
            if woken || self.any_visible().await? {
                let queue = self.name.clone();
                let owner = self.instance.id().to_owned();
                let dead_letter = self
                    .dead_letter
                    .as_ref()
                    .map(|d| (d.queue.clone(), d.max_receives));
                let taken = self
                    .db
                    .write_fails_clean(move |conn| {
                        let dead_letter = dead_letter.as_ref().map(|(q, n)| (q.as_str(), *n));
                        take_messages(conn, &queue, &owner, dead_letter, max, visibility)
                            .map_err(unavailable)
                    })
                    .await?;
                if taken.dead_lettered
                    && let Some(dead_letter) = &self.dead_letter
                {
                    dead_letter.notify.notify_one();
                }
                if taken.messages.len() == max as usize {
                    // More may be waiting: another receiver can take them meanwhile.
                    self.wake_a_receiver();
                }
                if !taken.messages.is_empty() {
                    return Ok(taken.messages);
                }
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            woken = tokio::time::timeout((deadline - now).min(POLL), notified)
                .await
                .is_ok();
        }
    }

    async fn delete_batch(&self, receipts: &[&str]) -> Vec<Result<(), QueueError>> {
        let parsed: Vec<Result<(i64, String), QueueError>> = receipts
            .iter()
            .map(|receipt| parse_receipt(receipt).map(|seq| (seq, (*receipt).to_owned())))
            .collect();
        let queue = self.name.clone();
        let deleted = self
            .db
            .write_fails_clean(move |conn| {
                let mut statement = conn
                    .prepare_cached(
                        "DELETE FROM messages WHERE seq = ?1 AND queue = ?2 AND receipt = ?3",
                    )
                    .map_err(unavailable)?;
                parsed
                    .into_iter()
                    .map(|receipt| {
                        let (seq, receipt) = match receipt {
                            Ok(parsed) => parsed,
                            Err(refused) => return Ok(Err(refused)),
                        };
                        let deleted = statement
                            .execute(params![seq, queue, receipt])
                            .map_err(unavailable)?;
                        Ok(if deleted == 0 {
                            Err(QueueError::InvalidReceipt)
                        } else {
                            Ok(())
                        })
                    })
                    .collect::<Result<Vec<_>, QueueError>>()
            })
            .await;
        deleted.unwrap_or_else(|failure| vec![Err(failure); receipts.len()])
    }

    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> Result<(), QueueError> {
        let seq = parse_receipt(receipt)?;
        let (queue, receipt) = (self.name.clone(), receipt.to_owned());
        let changed = self
            .db
            .write_fails_clean(move |conn| {
                let visible_at = now_millis().saturating_add(millis(timeout));
                let changed = conn
                    .prepare_cached(
                        "UPDATE messages SET visible_at = ?4 \
                         WHERE seq = ?1 AND queue = ?2 AND receipt = ?3",
                    )
                    .and_then(|mut s| s.execute(params![seq, queue, receipt, visible_at]))
                    .map_err(unavailable)?;
                if changed == 0 {
                    Err(QueueError::InvalidReceipt)
                } else {
                    Ok(())
                }
            })
            .await;
        if changed.is_ok() && timeout.is_zero() {
            self.wake_a_receiver();
        }
        changed
    }

    async fn depth(&self) -> Result<u64, QueueError> {
        let queue = self.name.clone();
        self.db
            .read(move |conn| {
                conn.prepare_cached("SELECT count(*) FROM messages WHERE queue = ?1")
                    .and_then(|mut s| s.query_row(params![queue], |r| r.get(0)))
                    .map_err(unavailable)
            })
            .await
    }

    fn request_counts(&self) -> RequestCounts {
        self.counter.snapshot()
    }
}

#[cfg(test)]
mod tests;
