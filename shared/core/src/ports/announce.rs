//! Store a record and, only if it was written, announce it: the step every hook (an event
//! stored, then published) and every notification (an outbox record stored, then queued) takes.
//!
//! On AWS this is two requests in a row ([`SequentialAnnouncer`]): if the announcement fails
//! after the put stood, the caller learns it and parks the record for a sweeper. The embedded
//! backend does both in one transaction, so a local caller waits for one commit, not two.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{
    BusError, BusEvent, EventBus, Item, ItemStore, PutCondition, Queue, QueueError, QueueRole,
    RequestCounts, StoreError,
};

/// What a written record announces.
#[derive(Debug, Clone, PartialEq)]
pub enum Announcement {
    /// Domain events for the event bus (at most [`super::bus::MAX_PUBLISH_BATCH`]).
    Bus(Vec<BusEvent>),
    /// One message for a deployment queue.
    Queue {
        role: QueueRole,
        body: String,
        delay: Duration,
    },
}

/// Why an announcement did not go out after its record was written.
#[derive(Debug, thiserror::Error)]
pub enum AnnounceError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// A record that was written; the announcement may still have failed.
#[derive(Debug)]
pub struct Announced {
    /// The record's version after the put.
    pub version: u64,
    pub announcement: Result<(), AnnounceError>,
}

#[async_trait]
pub trait Announcer: Send + Sync {
    /// Puts `item` under `condition`; if (and only if) it was written, sends `announcement`.
    /// A refused condition is the store's typed error and announces nothing.
    async fn put_and_announce(
        &self,
        item: Item,
        condition: PutCondition,
        announcement: Announcement,
    ) -> Result<Announced, StoreError>;

    /// Requests this adapter made itself; adapters that count on the parts they use answer zero.
    fn request_counts(&self) -> RequestCounts {
        RequestCounts::default()
    }
}

/// The put, then the announcement, through the ordinary ports (requests are counted there).
pub struct SequentialAnnouncer {
    pub store: Arc<dyn ItemStore>,
    pub bus: Arc<dyn EventBus>,
    pub outbox: Arc<dyn Queue>,
    pub workflow_queue: Arc<dyn Queue>,
}

#[async_trait]
impl Announcer for SequentialAnnouncer {
    async fn put_and_announce(
        &self,
        item: Item,
        condition: PutCondition,
        announcement: Announcement,
    ) -> Result<Announced, StoreError> {
        let version = self.store.put(item, condition).await?;
        let announcement = match announcement {
            Announcement::Bus(events) => self.bus.publish(&events).await.map_err(Into::into),
            Announcement::Queue { role, body, delay } => {
                let queue = match role {
                    QueueRole::Outbox => &self.outbox,
                    QueueRole::Workflows => &self.workflow_queue,
                };
                queue.send(&body, delay).await.map(drop).map_err(Into::into)
            }
        };
        Ok(Announced {
            version,
            announcement,
        })
    }
}
