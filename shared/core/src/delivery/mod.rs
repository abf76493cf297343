//! Alert delivery: the outbox of notifications, routing to channels, per-channel delivery
//! records with retries and dead-lettering, and the admin inbox.

pub mod channels;
pub mod dead_letters;
pub mod dispatcher;
pub mod email;
pub mod inbox;
pub mod notification;
pub mod outbox;
pub mod record;
pub mod redaction;
pub mod retry;
pub mod routing;
pub mod slack;
pub mod webhook;

pub use notification::{NewNotification, Notification, NotificationStatus, NotificationType};
