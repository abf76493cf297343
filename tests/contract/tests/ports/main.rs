//! The port contract: every test runs on the embedded adapters and on the AWS adapters (moto).
//! Where the two disagree, the doc comments in `vigil_core::ports` decide.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

mod announce;
mod bus;
mod cipher;
mod dead_letters;
mod queue;
mod rate;
mod scheduler;
mod store;
