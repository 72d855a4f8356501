//! The replicated state machine of the cluster: the metadata records and the image they build.
//!
//! Every controller node applies committed records to its own [`MetadataImage`]; broker-only
//! nodes build the same image from what they fetch. The image is owned by shard 0 of a node
//! and handed to the other shards as an immutable, versioned copy.

pub mod image;
pub mod records;
mod records_v1;
pub mod replica;
pub mod security;

pub use image::{BrokerState, MetadataImage, NotApplied, TopicImage};
pub use records::{
    ConfigResource, Endpoint, MetadataBatch, MetadataRecord, PartitionAssignment,
    RECORD_FORMAT_VERSION,
};
pub use replica::MetadataReplica;
