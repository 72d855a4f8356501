//! Leader-to-follower replication: the frames ([`wire`]) and the per-shard network
//! ([`net`]). What a leader or follower does with them lives in the partition's shell and
//! state machine (`crate::partition`).

pub mod net;
pub mod wire;
