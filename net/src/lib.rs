//! The Kafka endpoint of Myelin: listeners, framing, and one handler per API key.

pub mod api;
pub mod codes;
pub mod group;
pub mod internal_log;
pub mod legacy;
pub mod limits;
pub mod server;
mod topics;
pub mod txn;

pub use server::{serve, Ctx, ServerConfig};
