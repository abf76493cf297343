//! Stripe: signature verification over the raw body, the events the revenue rules read, and
//! per-bucket aggregates kept at ingest so a rule run costs O(buckets), not O(events).

pub mod event;
pub mod signature;

pub use event::{Signal, StripeEvent};
pub use signature::StripeSignatureError;
