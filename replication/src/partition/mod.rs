//! One partition replica: the sans-IO state machine ([`state`]), its leader-epoch cache
//! ([`epochs`]), producer and transaction state ([`producer`], [`txn`]), and the glommio
//! shell that drives it over the partition's log ([`shell`]).
//!
//! Handlers never reach a `Log`: they go through the shard's typed partition API, which
//! lands here, on the shard that owns the partition.

pub mod epochs;
pub mod followers;
pub mod producer;
mod replicate;
pub mod shell;
pub mod state;
mod tailing;
pub mod txn;

pub use shell::{Acks, Fetched, Partition, Produced, Reader, ReplicaEnv};
pub use state::{
    Assignment, Input, Output, PartitionOffsets, PartitionState, ReplicationConfig, Role,
};
