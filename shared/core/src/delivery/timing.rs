//! Delivery's time bounds, all derived from the dispatcher function's timeout so they cannot
//! drift apart (the template's `DispatcherFunction.Timeout` is checked against it).

use std::time::Duration;

/// The dispatcher function's timeout, in seconds (template.yaml `DispatcherFunction.Timeout`).
pub const DISPATCHER_TIMEOUT_SECONDS: u64 = 30;

/// How long the channels of one notification may take, together: the function still has a
/// third of its time left to record the outcomes and queue the retries.
pub const DELIVERY_DEADLINE: Duration = Duration::from_secs(DISPATCHER_TIMEOUT_SECONDS * 2 / 3);

/// How long a claim on a delivery record keeps other dispatchers off it: several function
/// timeouts, so a claim never ends while its sends can still be running.
pub const DELIVERY_CLAIM: Duration = Duration::from_secs(DISPATCHER_TIMEOUT_SECONDS * 4);
