//! The Kafka endpoint of Myelin: listeners, framing, and one handler per API key.

pub mod admin;
pub mod api;
pub mod codes;
mod config_changes;
pub mod legacy;
pub mod limits;
pub mod quota;
pub mod security;
pub mod server;
mod topics;

pub use myelin_coordinator::{group, internal_log, txn};

pub use server::{serve, Ctx, ServerConfig};
