//! The thread-per-core runtime of Myelin: pinned glommio executors (shards), the shard table
//! that says which shard owns a partition, the channel mesh between shards, and the catalog
//! changes the controller shard carries out.

pub mod alloc;
pub mod cluster;
pub mod error;
pub mod limits;
pub mod partitions;
pub mod replicas;
pub mod runtime;
pub mod shard;
pub mod table;
pub mod topic_config;

pub use cluster::{ClusterConfig, ClusterNode, VoterAddr};
pub use error::ShardError;
pub use myelin_replication::partition::Reader;
pub use partitions::{ListedOffset, OffsetQuery, ReadFailure, ReadRequest, ReplicaOnDisk};
pub use runtime::{legacy_catalog_records, run, RuntimeConfig, StopHandle};
pub use shard::{NodeConfig, Shard};
pub use table::ShardId;
