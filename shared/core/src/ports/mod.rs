//! Ports: what the domain needs from the world. Each has an AWS adapter (`vigil-aws`) and an
//! embedded adapter (`vigil-embedded`), proven equal by the contract suite.

pub mod announce;
pub mod bus;
pub mod cipher;
pub mod liveness;
pub mod notify;
pub mod parameters;
pub mod queue;
pub mod resources;
pub mod scheduler;
pub mod store;
pub mod wording;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use announce::{AnnounceError, Announced, Announcement, Announcer, SequentialAnnouncer};
pub use bus::{BusEnvelope, BusError, BusEvent, BusRoutes, EventBus};
pub use cipher::{Cipher, CipherError};
pub use liveness::{Liveness, UnknownLiveness};
pub use notify::{
    Email, EmailError, EmailSender, HttpAnswer, HttpPost, HttpSender, Notifiers, TransportError,
};
pub use parameters::{CachedParameter, ParameterError, Parameters};
pub use queue::{Queue, QueueError, ReceivedMessage};
pub use resources::{DEFAULT_MAX_RECEIVES, ResourceNames};
pub use scheduler::{Schedule, ScheduleExpression, ScheduleTarget, Scheduler, SchedulerError};
pub use store::{
    Cursor, DeleteCondition, Index, IndexKey, Item, ItemStore, Key, Order, Page, PutCondition,
    Query, SortKey, StoreError, WriteOp, query_filtered,
};

/// Requests an adapter has made to its backend, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCounts {
    pub reads: u64,
    pub writes: u64,
    pub queue_sends: u64,
    pub queue_receives: u64,
    pub publishes: u64,
}

impl RequestCounts {
    /// The requests made between `earlier` and `self`.
    pub fn since(&self, earlier: &RequestCounts) -> RequestCounts {
        RequestCounts {
            reads: self.reads.saturating_sub(earlier.reads),
            writes: self.writes.saturating_sub(earlier.writes),
            queue_sends: self.queue_sends.saturating_sub(earlier.queue_sends),
            queue_receives: self.queue_receives.saturating_sub(earlier.queue_receives),
            publishes: self.publishes.saturating_sub(earlier.publishes),
        }
    }
}

/// Lock-free counters an adapter bumps on each request.
#[derive(Debug, Default)]
pub struct RequestCounter {
    reads: AtomicU64,
    writes: AtomicU64,
    queue_sends: AtomicU64,
    queue_receives: AtomicU64,
    publishes: AtomicU64,
}

impl RequestCounter {
    pub fn read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }
    pub fn write(&self) {
        self.writes.fetch_add(1, Ordering::Relaxed);
    }
    pub fn queue_send(&self) {
        self.queue_sends.fetch_add(1, Ordering::Relaxed);
    }
    pub fn queue_receive(&self) {
        self.queue_receives.fetch_add(1, Ordering::Relaxed);
    }
    pub fn publish(&self) {
        self.publishes.fetch_add(1, Ordering::Relaxed);
    }
    pub fn snapshot(&self) -> RequestCounts {
        RequestCounts {
            reads: self.reads.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            queue_sends: self.queue_sends.load(Ordering::Relaxed),
            queue_receives: self.queue_receives.load(Ordering::Relaxed),
            publishes: self.publishes.load(Ordering::Relaxed),
        }
    }
}

/// The queues of a deployment, by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueRole {
    /// Notifications waiting for the dispatcher.
    Outbox,
    /// Domain events and delayed steps waiting for the workflow executor.
    Workflows,
}

impl QueueRole {
    pub const ALL: [QueueRole; 2] = [QueueRole::Outbox, QueueRole::Workflows];

    /// Base name; deployments prefix it (`vigil-outbox`) and add `-dlq` for the dead-letter queue.
    pub fn base_name(self) -> &'static str {
        match self {
            QueueRole::Outbox => "outbox",
            QueueRole::Workflows => "workflows",
        }
    }
}

/// Every port a function may use, chosen at start-up by configuration.
#[derive(Clone)]
pub struct Ports {
    pub store: Arc<dyn ItemStore>,
    pub outbox: Arc<dyn Queue>,
    /// Where the outbox queue moves a message after too many receives.
    pub outbox_dead_letters: Arc<dyn Queue>,
    pub workflow_queue: Arc<dyn Queue>,
    pub bus: Arc<dyn EventBus>,
    pub scheduler: Arc<dyn Scheduler>,
    /// Put-then-announce; one transaction where the backend allows it.
    pub announcer: Arc<dyn Announcer>,
    /// Whether the holder of a claim is still running.
    pub liveness: Arc<dyn Liveness>,
    /// Seals stored secrets (channel URLs and signing secrets, tenant webhook secrets).
    pub cipher: Arc<dyn Cipher>,
}

impl Ports {
    pub fn queue(&self, role: QueueRole) -> &Arc<dyn Queue> {
        match role {
            QueueRole::Outbox => &self.outbox,
            QueueRole::Workflows => &self.workflow_queue,
        }
    }

    /// Sum of the requests every adapter made.
    pub fn request_counts(&self) -> RequestCounts {
        let parts = [
            self.store.request_counts(),
            self.outbox.request_counts(),
            self.outbox_dead_letters.request_counts(),
            self.workflow_queue.request_counts(),
            self.bus.request_counts(),
            self.scheduler.request_counts(),
            self.announcer.request_counts(),
        ];
        parts
            .iter()
            .fold(RequestCounts::default(), |acc, c| RequestCounts {
                reads: acc.reads + c.reads,
                writes: acc.writes + c.writes,
                queue_sends: acc.queue_sends + c.queue_sends,
                queue_receives: acc.queue_receives + c.queue_receives,
                publishes: acc.publishes + c.publishes,
            })
    }
}
