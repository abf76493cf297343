//! `Announcer` on SQLite: the put and its announcement (a bus event or a queue message) go into
//! one transaction of the group commit, so the caller waits for one fsync, and a crash can never
//! keep the record but lose its announcement.

use std::sync::Arc;

use async_trait::async_trait;
use vigil_core::ports::queue::validate_send;
use vigil_core::ports::store::validate_put;
use vigil_core::ports::{
    AnnounceError, Announced, Announcement, Announcer, Item, PutCondition, QueueRole, StoreError,
};

use crate::bus::SqliteBus;
use crate::queue::{SqliteQueue, insert_message};
use crate::store::{SqliteStore, put_item};

pub struct SqliteAnnouncer {
    pub(crate) store: Arc<SqliteStore>,
    pub(crate) bus: Arc<SqliteBus>,
    pub(crate) outbox: Arc<SqliteQueue>,
    pub(crate) workflows: Arc<SqliteQueue>,
}

/// Rows to insert in the put's transaction.
struct Messages {
    queue: String,
    bodies: Vec<String>,
    delay: std::time::Duration,
}

impl SqliteAnnouncer {
    fn prepare(&self, announcement: Announcement) -> Result<Messages, AnnounceError> {
        match announcement {
            Announcement::Bus(events) => {
                let bodies = self.bus.routed_envelopes(events)?;
                Ok(Messages {
                    queue: self.bus.target().to_owned(),
                    bodies,
                    delay: std::time::Duration::ZERO,
                })
            }
            Announcement::Queue { role, body, delay } => {
                validate_send(&body, delay)?;
                Ok(Messages {
                    queue: self.queue(role).name().to_owned(),
                    bodies: vec![body],
                    delay,
                })
            }
        }
    }

    fn queue(&self, role: QueueRole) -> &SqliteQueue {
        match role {
            QueueRole::Outbox => &self.outbox,
            QueueRole::Workflows => &self.workflows,
        }
    }
}

#[async_trait]
impl Announcer for SqliteAnnouncer {
    async fn put_and_announce(
        &self,
        item: Item,
        condition: PutCondition,
        announcement: Announcement,
    ) -> Result<Announced, StoreError> {
        let version = validate_put(&item, condition)?;
        let role = match &announcement {
            Announcement::Bus(_) => None,
            Announcement::Queue { role, .. } => Some(*role),
        };
        // A refused announcement leaves the put to stand alone, as two requests in a row would.
        let (messages, outcome) = match self.prepare(announcement) {
            Ok(messages) => (Some(messages), Ok(())),
            Err(refused) => (None, Err(refused)),
        };
        self.store.counter().write();
        let sent = messages.is_some();
        let queued = messages.as_ref().is_some_and(|m| !m.bodies.is_empty());
        let version = self
            .store
            .database()
            .write_fails_clean(move |conn| {
                let version = put_item(conn, &item, condition, version)?;
                if let Some(Messages {
                    queue,
                    bodies,
                    delay,
                }) = &messages
                {
                    for body in bodies {
                        insert_message(conn, queue, body, *delay)
                            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                    }
                }
                Ok(version)
            })
            .await?;
        // Counted only once the put succeeded: a refused put sends nothing, as on AWS.
        if sent {
            match role {
                None => self.bus.counter().publish(),
                Some(role) => self.queue(role).counter().queue_send(),
            }
        }
        if queued {
            self.queue(role.unwrap_or(QueueRole::Workflows))
                .wake_a_receiver();
        }
        Ok(Announced {
            version,
            announcement: outcome,
        })
    }
}
