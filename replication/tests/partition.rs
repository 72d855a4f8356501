//! The partition shell over a real log: idempotent retries, epochs stamped and checkpointed,
//! and the high watermark, across restarts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use bytes::Bytes;
use myelin_replication::partition::epochs::{EpochCache, CHECKPOINT_FILE};
use myelin_replication::partition::Reader;
use myelin_replication::{Acks, Assignment, LeaderEpoch, NodeId, Partition, PartitionError};
use myelin_storage::{batch, LogConfig};
use std::path::Path;
use std::rc::Rc;

const ME: NodeId = NodeId(1);

/// An idempotent batch of `n` records from producer `pid` at `epoch` from sequence `seq`
/// (`pid` -1: not idempotent).
fn batch_of(n: i32, pid: i64, epoch: i16, seq: i32) -> Bytes {
    let recs: Vec<batch::KeyValue<'_>> =
        (0..n).map(|_| (Some(&b"k"[..]), Some(&b"v"[..]))).collect();
    let mut b = batch::build(&recs, 1);
    b[43..51].copy_from_slice(&pid.to_be_bytes());
    b[51..53].copy_from_slice(&epoch.to_be_bytes());
    b[53..57].copy_from_slice(&seq.to_be_bytes());
    let crc = batch::compute_crc(&b);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(b)
}

fn run<F: std::future::Future<Output = ()> + 'static>(f: impl FnOnce() -> F + Send + 'static) {
    glommio::LocalExecutorBuilder::default()
        .io_memory(1 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

async fn open(dir: &Path, assignment: Assignment) -> Rc<Partition> {
    Partition::open(
        "t",
        myelin_replication::types::TopicId([1; 16]),
        0,
        dir.to_path_buf(),
        LogConfig::default(),
        ME,
        assignment,
        Rc::new(myelin_replication::SystemClock),
    )
    .await
    .unwrap()
}

async fn produce(p: &Rc<Partition>, b: Bytes) -> Result<(i64, i64), PartitionError> {
    let batches = batch::split_batches(b, 1 << 20).unwrap();
    let (placed, _) = futures::channel::oneshot::channel();
    let r = p.produce(&batches, Acks::All, placed).await?;
    Ok((r.base_offset, r.last_offset))
}

fn at_epoch(epoch: i32) -> Assignment {
    Assignment {
        leader_epoch: LeaderEpoch(epoch),
        ..Assignment::single(ME)
    }
}

#[test]
fn idempotent_retries_are_written_once_even_after_a_restart() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("t-0");
    run(move || async move {
        let p = open(&path, at_epoch(0)).await;
        assert_eq!(produce(&p, batch_of(3, 42, 0, 0)).await.unwrap(), (0, 2));
        assert_eq!(
            produce(&p, batch_of(3, 42, 0, 0)).await.unwrap(),
            (0, 2),
            "a retry gets the original offsets"
        );
        assert_eq!(p.offsets().log_end_offset, 3, "and is not written again");
        assert!(matches!(
            produce(&p, batch_of(1, 42, 0, 5)).await,
            Err(PartitionError::OutOfOrderSequence)
        ));
        assert!(matches!(
            produce(&p, batch_of(1, 43, 0, 7)).await,
            Err(PartitionError::UnknownProducerId)
        ));
        assert_eq!(produce(&p, batch_of(2, 42, 0, 3)).await.unwrap(), (3, 4));
        p.close().await.unwrap();

        // After a restart the producer state comes back from the log.
        let p = open(&path, at_epoch(0)).await;
        assert_eq!(produce(&p, batch_of(2, 42, 0, 3)).await.unwrap(), (3, 4));
        assert_eq!(p.offsets().log_end_offset, 5);
        assert!(matches!(
            produce(&p, batch_of(1, 42, 0, 4)).await,
            Err(PartitionError::OutOfOrderSequence)
        ));
        p.close().await.unwrap();
    });
}

#[test]
fn batches_carry_the_leader_epoch_and_the_checkpoint_follows_it() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("t-0");
    run(move || async move {
        let p = open(&path, at_epoch(0)).await;
        produce(&p, batch_of(2, -1, -1, -1)).await.unwrap();
        p.close().await.unwrap();
        // A restart at a new epoch: new batches carry it, the cache says where it began.
        let p = open(&path, at_epoch(3)).await;
        assert_eq!(p.leader_epoch(), LeaderEpoch(3));
        produce(&p, batch_of(1, -1, -1, -1)).await.unwrap();
        let read = p
            .read(0, 1 << 20, false, 3, Reader::Consumer)
            .await
            .unwrap();
        let epochs: Vec<i32> = read
            .batches
            .iter()
            .map(|b| batch::BatchHeader::parse(b).unwrap().partition_leader_epoch)
            .collect();
        assert_eq!(epochs, vec![0, 3]);
        assert!(matches!(
            p.read(0, 1 << 20, false, 2, Reader::Consumer).await,
            Err(PartitionError::FencedLeaderEpoch { .. })
        ));
        assert!(matches!(
            p.read(0, 1 << 20, false, 4, Reader::Consumer).await,
            Err(PartitionError::UnknownLeaderEpoch { .. })
        ));
        assert_eq!(
            p.end_offset_for(LeaderEpoch(0)).unwrap(),
            Some((LeaderEpoch(0), 2))
        );
        p.close().await.unwrap();
        let text = std::fs::read(path.join(CHECKPOINT_FILE)).unwrap();
        let cache = EpochCache::decode(&text).unwrap();
        let starts: Vec<(i32, i64)> = cache
            .entries()
            .iter()
            .map(|e| (e.epoch.0, e.start_offset))
            .collect();
        assert_eq!(starts, vec![(0, 0), (3, 2)]);
    });
}

#[test]
fn a_follower_refuses_produces_and_reads() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("t-0");
    run(move || async move {
        let p = open(&path, at_epoch(0)).await;
        produce(&p, batch_of(1, -1, -1, -1)).await.unwrap();
        p.assign(Assignment {
            replicas: vec![ME, NodeId(2)],
            isr: vec![ME, NodeId(2)],
            leader: NodeId(2),
            leader_epoch: LeaderEpoch(1),
            partition_epoch: 0,
        });
        assert!(matches!(
            produce(&p, batch_of(1, -1, -1, -1)).await,
            Err(PartitionError::NotLeader)
        ));
        assert!(matches!(
            p.read(0, 1 << 20, false, -1, Reader::Consumer).await,
            Err(PartitionError::NotLeader)
        ));
        p.close().await.unwrap();
    });
}

/// Only a consumer's read of a batch is a durable→first-fetch sample: the console's, a
/// follower's or a debugging consumer's read before it takes nothing from it.
#[test]
fn only_a_consumers_first_read_is_a_durable_to_fetch_sample() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("t-0");
    run(move || async move {
        let samples = || myelin_metrics::snapshot().durable_to_fetch.count();
        let p = open(&path, at_epoch(0)).await;
        produce(&p, batch_of(2, -1, -1, -1)).await.unwrap();
        let before = samples();
        let read = p.read(0, 1 << 20, false, -1, Reader::Other).await.unwrap();
        assert_eq!(read.batches.len(), 1);
        assert_eq!(samples(), before, "a read by no consumer is not a fetch");
        p.read(0, 1 << 20, false, -1, Reader::Consumer)
            .await
            .unwrap();
        assert_eq!(
            samples(),
            before + 1,
            "the consumer's read after it is the first"
        );
        p.read(0, 1 << 20, false, -1, Reader::Consumer)
            .await
            .unwrap();
        assert_eq!(samples(), before + 1, "and only the first");
        p.close().await.unwrap();
    });
}
