//! Partition replicas and cluster metadata for Myelin.
//!
//! * [`partition`]: one partition replica, a sans-IO state machine (role, leader epoch,
//!   ISR, high watermark, last stable offset, epoch cache, producer state) with a thin
//!   glommio shell over its `storage::Log`, owned by the shard that owns the partition;
//! * [`cluster`]: the cluster metadata image and the records that change it;
//! * [`controller`]: the sans-IO controller that turns requests into metadata records;
//! * [`quorum`]: the Raft quorum that replicates the metadata log;
//! * [`metadata`]: the topic catalog of the single node (being replaced by [`cluster`]).

pub mod clock;
pub mod cluster;
pub mod codec;
pub mod controller;
pub mod error;
pub mod limits;
pub mod metadata;
pub mod metadata_node;
pub mod partition;
pub mod quorum;
pub mod replica;
pub mod rng;
pub mod types;

pub use clock::{Clock, SystemClock};
pub use error::PartitionError;
pub use metadata::{Catalog, MetadataError, TopicMeta};
pub use partition::{Acks, Assignment, Partition};
pub use types::{LeaderEpoch, NodeId};
