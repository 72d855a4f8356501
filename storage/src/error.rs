//! The storage engine's one error type.

use std::io;

/// Everything that can go wrong in the partition log.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The operating system refused an I/O operation.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// The bytes are not a valid record batch (length, magic or CRC).
    #[error("corrupt record batch: {0}")]
    CorruptBatch(&'static str),
    /// A batch is larger than the topic allows.
    #[error("record batch of {size} bytes exceeds the limit of {limit}")]
    BatchTooLarge {
        /// Size of the offending batch.
        size: usize,
        /// The configured limit.
        limit: u32,
    },
    /// A read asked for an offset outside `[log_start_offset, log_end_offset]`.
    #[error("offset {offset} out of range [{start}, {end}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        offset: i64,
        /// Log start offset.
        start: i64,
        /// Log end offset.
        end: i64,
    },
    /// The log was taken offline after an I/O error and refuses further writes.
    #[error("log is offline after an earlier i/o error")]
    Offline,
    /// A replica's batch does not start at the log end offset.
    #[error("batch at offset {got} does not continue the log at {expected}")]
    NotContiguous {
        /// The log end offset.
        expected: i64,
        /// The batch's base offset.
        got: i64,
    },
    /// Records a compacted topic cannot take: those without a key, by their index in the
    /// first batch that has any (Kafka's `InvalidRecordException` with per-record errors).
    #[error("InvalidRecord: {} record(s) without a key on a compacted topic", .0.len())]
    KeylessRecords(Vec<i32>),
    /// The records were appended but cut away before they were written (a full disk); the
    /// producer may send them again.
    #[error("records discarded after a failed write")]
    Discarded,
    /// An index or metadata file could not be decoded.
    #[error("bad metadata file: {0}")]
    BadMetadata(String),
}

impl From<glommio::GlommioError<()>> for StorageError {
    fn from(e: glommio::GlommioError<()>) -> Self {
        StorageError::Io(e.into())
    }
}

impl StorageError {
    /// True when the error means the disk (or the user's quota) is full: a condition that
    /// passes, unlike a failing device.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StorageError::Io(e) => disk_full(e),
            _ => false,
        }
    }
}

/// True for the I/O errors of a full disk or an exhausted quota.
pub fn disk_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// Short alias used across the crate.
pub type Result<T> = std::result::Result<T, StorageError>;
