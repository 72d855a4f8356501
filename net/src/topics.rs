//! Partition operations as the handlers see them: each runs on the partition's owning shard
//! and answers with a Kafka error code on failure.

use crate::codes;
use crate::server::Ctx;
use bytes::Bytes;
use myelin_replication::TopicMeta;
use myelin_shards::CatalogChange;
use myelin_storage::batch::BatchHeader;
use myelin_storage::{AppendInfo, Offsets, ReadOutcome, StorageError};
use std::collections::BTreeMap;
use std::time::Duration;

/// Appends validated batches on the owner and waits until they are committed. `appended`
/// is dropped once the batches' place in the partition is fixed (or the append failed), so
/// the connection may read its next request while this one waits for its fsync.
pub async fn append(
    ctx: &Ctx,
    topic: &str,
    partition: i32,
    batches: Vec<(BatchHeader, Bytes)>,
    appended: futures::channel::oneshot::Sender<()>,
) -> Result<AppendInfo, i16> {
    let owner = ctx.shard.owner(topic, partition);
    let t = topic.to_string();
    let r = ctx
        .shard
        .invoke_on(owner, move |s| async move {
            let placed = s.log(&t, partition).and_then(|log| {
                let info = log.append(&batches, 0)?;
                Ok((log, info))
            });
            drop(appended);
            let (log, info) = placed?;
            log.commit(&info).await?;
            Ok::<_, myelin_shards::ShardError>(info)
        })
        .await;
    match r {
        Ok(Ok(info)) => Ok(info),
        Ok(Err(e)) | Err(e) => Err(codes::shard(&e)),
    }
}

/// A read failure: the code, and the partition's offsets when known.
pub struct ReadError {
    /// Kafka error code.
    pub code: i16,
    /// Offsets of the partition, for OFFSET_OUT_OF_RANGE answers.
    pub offsets: Option<Offsets>,
}

/// Reads whole batches from `offset` on the owner.
pub async fn read(
    ctx: &Ctx,
    topic: &str,
    partition: i32,
    offset: i64,
    max_bytes: usize,
    committed_only: bool,
) -> Result<ReadOutcome, ReadError> {
    let owner = ctx.shard.owner(topic, partition);
    let t = topic.to_string();
    let r = ctx
        .shard
        .invoke_on(owner, move |s| async move {
            let log = s.log(&t, partition).map_err(|e| (codes::shard(&e), None))?;
            log.read_upto(offset, max_bytes, committed_only)
                .await
                .map_err(|e| {
                    let offsets =
                        matches!(e, StorageError::OffsetOutOfRange { .. }).then(|| log.offsets());
                    (codes::storage(&e), offsets)
                })
        })
        .await;
    match r {
        Ok(Ok(out)) => Ok(out),
        Ok(Err((code, offsets))) => Err(ReadError { code, offsets }),
        Err(e) => Err(ReadError {
            code: codes::shard(&e),
            offsets: None,
        }),
    }
}

/// Waits on the owner until the partition's high watermark passes `offset`, or `wait` ends.
pub async fn wait_for_data(ctx: &Ctx, topic: &str, partition: i32, offset: i64, wait: Duration) {
    let owner = ctx.shard.owner(topic, partition);
    let t = topic.to_string();
    let _ = ctx
        .shard
        .invoke_on(owner, move |s| async move {
            let Ok(log) = s.log(&t, partition) else {
                return;
            };
            let rx = log.watch();
            if log.offsets().high_watermark > offset {
                return;
            }
            let timer = glommio::timer::sleep(wait);
            futures::pin_mut!(timer);
            futures::future::select(rx, timer).await;
        })
        .await;
}

/// Runs `f` with the partition's log on its owner.
pub async fn with_log<R, F, Fut>(ctx: &Ctx, topic: &str, partition: i32, f: F) -> Result<R, i16>
where
    R: Send + 'static,
    F: FnOnce(std::rc::Rc<myelin_storage::Log>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<R, i16>> + 'static,
{
    let owner = ctx.shard.owner(topic, partition);
    let t = topic.to_string();
    match ctx
        .shard
        .invoke_on(owner, move |s| async move {
            match s.log(&t, partition) {
                Ok(log) => f(log).await,
                Err(e) => Err(codes::shard(&e)),
            }
        })
        .await
    {
        Ok(r) => r,
        Err(e) => Err(codes::shard(&e)),
    }
}

/// The topic, created with the node defaults first when auto-creation is on.
pub async fn get_or_create(ctx: &Ctx, name: &str, allow_create: bool) -> Result<TopicMeta, i16> {
    if let Some(t) = ctx.shard.catalog().topic(name) {
        return Ok(t.clone());
    }
    if !(allow_create && ctx.shard.node.auto_create_topics) {
        if let Err(e) = myelin_replication::metadata::validate_topic_name(name) {
            return Err(codes::metadata(&e));
        }
        return Err(codes::UNKNOWN_TOPIC_OR_PARTITION);
    }
    let change = CatalogChange::CreateTopic {
        name: name.to_string(),
        partitions: -1,
        configs: BTreeMap::new(),
        validate_only: false,
    };
    match ctx.shard.change_catalog(change).await {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(codes::UNKNOWN_TOPIC_OR_PARTITION),
        // Another connection may have created it meanwhile.
        Err(e) => ctx
            .shard
            .catalog()
            .topic(name)
            .cloned()
            .ok_or(codes::shard(&e)),
    }
}
