//! The typed partition API: what a handler may ask of a partition, wherever it lives. Each
//! call runs on the shard that owns the partition (inline when that is this shard, over the
//! mesh otherwise) against its [`Partition`]; no handler ever holds a `Log`.
//!
//! A produce crosses each crate once, forward only: the endpoint validates and calls
//! [`Shard::produce`] here, the owner's `Partition` checks and orders it, its `Log` writes it.

use crate::error::ShardError;
use crate::shard::Shard;
use bytes::Bytes;
use futures::channel::oneshot;
use myelin_replication::partition::producer::ActiveProducer;
use myelin_replication::partition::{Acks, Fetched, PartitionOffsets, Produced, Reader};
use myelin_replication::LeaderEpoch;
use myelin_storage::batch::BatchHeader;
use std::rc::Rc;
use std::time::Duration;

/// A consumer's read of one partition.
#[derive(Debug, Clone, Copy)]
pub struct ReadRequest {
    /// First offset wanted.
    pub offset: i64,
    /// Most bytes to return (the first batch always goes whole).
    pub max_bytes: usize,
    /// `read_committed`: stop at the last stable offset.
    pub committed_only: bool,
    /// The client's leader epoch (-1: unchecked).
    pub current_leader_epoch: i32,
    /// Who reads: only a consumer's first read of a batch is a durable→fetch sample.
    pub reader: Reader,
}

/// A failed read: the error, and the partition's offsets when the answer needs them
/// (OFFSET_OUT_OF_RANGE carries the log start and high watermark).
#[derive(Debug)]
pub struct ReadFailure {
    /// What went wrong.
    pub error: ShardError,
    /// The partition's offsets, when known.
    pub offsets: Option<PartitionOffsets>,
}

/// What ListOffsets asks of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetQuery {
    /// The high watermark, or the last stable offset for `read_committed`.
    Latest {
        /// `read_committed`.
        committed_only: bool,
    },
    /// The log start offset.
    Earliest,
    /// The record with the largest timestamp (KIP-734).
    MaxTimestamp,
    /// The first record at or after a timestamp.
    Timestamp(i64),
}

/// The answer to an [`OffsetQuery`].
#[derive(Debug, Clone)]
pub enum ListedOffset {
    /// An offset, and the leader epoch its data was written in.
    Offset(i64, LeaderEpoch),
    /// The batch holding the record sought; the caller picks the record.
    Batch(Bytes),
    /// No record matches.
    None,
}

impl Shard {
    /// Runs `f` with a partition on its owner.
    async fn on_owner<R, F, Fut>(
        self: &Rc<Self>,
        topic: &str,
        partition: i32,
        f: F,
    ) -> Result<R, ShardError>
    where
        R: Send + 'static,
        F: FnOnce(Rc<myelin_replication::Partition>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<R, ShardError>> + 'static,
    {
        // A partition that exists but has no replica on this broker is led elsewhere: the
        // client is told NOT_LEADER_OR_FOLLOWER and refreshes its metadata, as with Kafka.
        let exists = self
            .metadata()
            .topic(topic)
            .is_some_and(|t| partition >= 0 && (partition as usize) < t.partitions.len());
        let owner = self.owner(topic, partition);
        let topic = topic.to_string();
        self.invoke_on(owner, move |s| async move {
            let p = match s.partition(&topic, partition) {
                Ok(p) => p,
                Err(ShardError::UnknownTopicOrPartition) if exists => {
                    return Err(myelin_replication::PartitionError::NotLeader.into())
                }
                Err(e) => return Err(e),
            };
            f(p).await
        })
        .await?
    }

    /// Appends validated batches to a partition and waits until `acks` is satisfied.
    /// `placed` is dropped once the batches have their place in the partition (or were
    /// refused), so the connection may go on to its next request.
    pub async fn produce(
        self: &Rc<Self>,
        topic: &str,
        partition: i32,
        batches: Vec<(BatchHeader, Bytes)>,
        acks: Acks,
        placed: oneshot::Sender<()>,
    ) -> Result<Produced, ShardError> {
        self.on_owner(topic, partition, move |p| async move {
            Ok(p.produce(&batches, acks, placed).await?)
        })
        .await
    }

    /// Reads committed batches for a consumer.
    pub async fn read(
        self: &Rc<Self>,
        topic: &str,
        partition: i32,
        req: ReadRequest,
    ) -> Result<Fetched, ReadFailure> {
        let r = self
            .on_owner(topic, partition, move |p| async move {
                match p
                    .read(
                        req.offset,
                        req.max_bytes,
                        req.committed_only,
                        req.current_leader_epoch,
                        req.reader,
                    )
                    .await
                {
                    Ok(f) => Ok(Ok(f)),
                    Err(e) => Ok(Err(ReadFailure {
                        error: e.into(),
                        offsets: Some(p.offsets()),
                    })),
                }
            })
            .await;
        match r {
            Ok(inner) => inner,
            Err(error) => Err(ReadFailure {
                error,
                offsets: None,
            }),
        }
    }

    /// Waits until a partition's high watermark passes `seen`, its leadership changes, or
    /// `wait` ends.
    pub async fn wait_for_data(
        self: &Rc<Self>,
        topic: &str,
        partition: i32,
        seen: i64,
        wait: Duration,
    ) {
        let _ = self
            .on_owner(topic, partition, move |p| async move {
                p.wait_for_data(seen, wait).await;
                Ok(())
            })
            .await;
    }

    /// Answers OffsetForLeaderEpoch on the leader, at the client's epoch: the largest epoch
    /// of the log not above `leader_epoch` and the offset where the epoch after it begins
    /// (the log end offset for the latest), or (-1, -1) for an epoch newer than any known.
    pub async fn offset_for_leader_epoch(
        self: &Rc<Self>,
        topic: &str,
        partition: i32,
        current_leader_epoch: i32,
        leader_epoch: i32,
    ) -> Result<(i32, i64), ShardError> {
        self.on_owner(topic, partition, move |p| async move {
            p.leader_offsets(current_leader_epoch)?;
            let end = p.end_offset_for(LeaderEpoch(leader_epoch))?;
            Ok(end.map_or((-1, -1), |(epoch, offset)| (epoch.0, offset)))
        })
        .await
    }

    /// Answers a ListOffsets query (on the leader, at the client's epoch).
    pub async fn list_offset(
        self: &Rc<Self>,
        topic: &str,
        partition: i32,
        query: OffsetQuery,
        current_leader_epoch: i32,
    ) -> Result<ListedOffset, ShardError> {
        self.on_owner(topic, partition, move |p| async move {
            let (offsets, _) = p.leader_offsets(current_leader_epoch)?;
            let at = |offset: i64| ListedOffset::Offset(offset, p.epoch_at(offset));
            let listed = match query {
                OffsetQuery::Latest {
                    committed_only: true,
                } => at(offsets.last_stable_offset),
                OffsetQuery::Latest {
                    committed_only: false,
                } => at(offsets.high_watermark),
                OffsetQuery::Earliest => at(offsets.log_start_offset),
                OffsetQuery::MaxTimestamp => match p.batch_with_max_timestamp().await? {
                    Some(b) => ListedOffset::Batch(b),
                    None => ListedOffset::None,
                },
                OffsetQuery::Timestamp(t) => match p.batch_for_timestamp(t).await? {
                    Some(b) => ListedOffset::Batch(b),
                    None => ListedOffset::None,
                },
            };
            Ok(listed)
        })
        .await
    }

    /// The producers a partition's replica on this broker remembers (DescribeProducers):
    /// NOT_LEADER_OR_FOLLOWER when it has no replica here, as in Kafka, which answers on a
    /// follower too.
    pub async fn active_producers(
        self: &Rc<Self>,
        topic: &str,
        partition: i32,
    ) -> Result<Vec<ActiveProducer>, ShardError> {
        self.on_owner(
            topic,
            partition,
            |p| async move { Ok(p.active_producers()) },
        )
        .await
    }

    /// A partition's offsets as clients see them.
    pub async fn partition_offsets(
        self: &Rc<Self>,
        topic: &str,
        partition: i32,
    ) -> Result<PartitionOffsets, ShardError> {
        self.on_owner(topic, partition, |p| async move { Ok(p.offsets()) })
            .await
    }
}

/// One partition replica on this node's disk, as DescribeLogDirs reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaOnDisk {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// Bytes of its log's segments.
    pub size_bytes: u64,
    /// How far its log end is behind its high watermark (0 on a leader, whose high
    /// watermark never passes its log end; on a follower, what it still has to fetch of
    /// what it knows is committed), as Kafka computes it.
    pub offset_lag: i64,
}

impl Shard {
    /// DeleteRecords on the leader: moves the log start offset to `offset` (-1: the high
    /// watermark) and waits up to `wait` for the in-sync followers to follow; the low
    /// watermark, or `Err` with it when the wait ended first.
    pub async fn delete_records(
        self: &Rc<Self>,
        topic: &str,
        partition: i32,
        offset: i64,
        wait: Duration,
    ) -> Result<Result<i64, i64>, ShardError> {
        self.on_owner(topic, partition, move |p| async move {
            Ok(p.delete_records(offset, wait).await?)
        })
        .await
    }

    /// Every partition replica of this node, from every shard.
    pub async fn replicas_on_disk(self: &Rc<Self>) -> Vec<ReplicaOnDisk> {
        let asks = (0..self.count).map(|i| {
            self.invoke_on(crate::table::ShardId(i), |s| async move {
                s.partitions()
                    .iter()
                    .map(|p| {
                        let o = p.offsets();
                        ReplicaOnDisk {
                            topic: p.topic().to_owned(),
                            partition: p.index(),
                            size_bytes: p.size_bytes(),
                            offset_lag: (o.high_watermark - o.log_end_offset).max(0),
                        }
                    })
                    .collect::<Vec<_>>()
            })
        });
        futures::future::join_all(asks)
            .await
            .into_iter()
            .flatten()
            .flatten()
            .collect()
    }
}
