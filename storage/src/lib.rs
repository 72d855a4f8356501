//! The partition log of Myelin: segments of Kafka v2 record batches written with O_DIRECT,
//! rkyv-archived batch indexes, recovery that cuts torn tails, and retention.
//!
//! Every `Log` belongs to one shard; nothing here is `Send`, and nothing needs to be.

pub mod batch;
pub mod compact;
pub mod compression;
pub mod config;
pub mod error;
pub mod fs;
pub mod index;
pub mod limits;
pub mod log;
pub mod records;
pub mod segment;
pub mod sim;
pub mod txn;

pub use config::LogConfig;
pub use error::{Result, StorageError};
pub use fs::{DmaFs, FileSystem, SegmentIo};
pub use log::{
    now_ms, AppendInfo, AppendMode, CompactionReport, Listener, Log, LogEvent, Offsets,
    ReadOutcome, TxnView,
};
