//! The group coordinator: the classic consumer-group protocol and committed offsets.
//!
//! A group belongs to the partition of `__consumer_offsets` its id hashes to, and so to the
//! shard that owns that partition. That shard keeps the group's state machine
//! ([`state::Group`]) and its committed offsets in memory, and writes every commit to the
//! partition's log before acknowledging it; on start-up the partition is read back.

pub mod consumer;
pub mod coordinator;
pub mod limits;
pub mod state;
pub mod store;
