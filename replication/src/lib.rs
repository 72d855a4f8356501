//! Cluster metadata and partition replication for Myelin.
//!
//! * [`partition`]: one partition replica, a sans-IO state machine (role, leader epoch,
//!   ISR, high watermark, last stable offset, epoch cache, producer state) with a thin
//!   glommio shell over its `storage::Log`, owned by the shard that owns the partition;
//! * [`metadata`]: the topic catalog.

pub mod clock;
pub mod error;
pub mod metadata;
pub mod partition;
pub mod types;

pub use clock::{Clock, SystemClock};
pub use error::PartitionError;
pub use metadata::{Catalog, MetadataError, TopicMeta};
pub use partition::{Acks, Assignment, Partition};
pub use types::{LeaderEpoch, NodeId};
