//! EventBridge cron expressions evaluated locally, for `vigil serve`'s in-process clock.

pub use vigil_core::ports::scheduler::next_fire;
