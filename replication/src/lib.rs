//! Cluster metadata and (later) partition replication for Myelin.
//!
//! Today a node is its own controller: the [`metadata::Catalog`] of topics is a plain state
//! machine that shard 0 owns, persists and hands to every other shard as an immutable,
//! versioned snapshot.

pub mod cluster;
pub mod codec;
pub mod controller;
pub mod error;
pub mod limits;
pub mod metadata;
pub mod metadata_node;
pub mod quorum;
pub mod rng;
pub mod types;

pub use metadata::{Catalog, MetadataError, TopicMeta};
