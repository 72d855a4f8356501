#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

//! Log behaviour through its public API on a real O_DIRECT file system.

use bytes::Bytes;
use myelin_storage::{batch, Log, LogConfig};
use std::rc::Rc;

mod common;
use common::{make_batch, record_batch, run, NoTxns, LEADER};

async fn append(log: &Rc<Log>, n: i32, ts: i64, payload: &[u8]) -> i64 {
    let b = Bytes::from(make_batch(n, ts, payload));
    let batches = batch::split_batches(b, 1 << 20).unwrap();
    let info = log.append(&batches, LEADER).unwrap().0;
    log.commit(&info).await.unwrap();
    info.base_offset
}

#[test]
fn append_read_reopen_roll_and_retain() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("t-0");
    run(move || async move {
        let config = LogConfig {
            segment_bytes: 16 << 10,
            cache_bytes: 0,
            ..LogConfig::default()
        };
        let log = Rc::new(Log::open(path.clone(), config.clone()).await.unwrap());
        let mut expected = Vec::new();
        for i in 0..200i64 {
            let payload = vec![i as u8; 100 + (i as usize * 37) % 900];
            let base = append(&log, 3, 1000 + i, &payload).await;
            assert_eq!(base, i * 3);
            expected.push(payload);
        }
        let read = log.read(10, 1).await.unwrap();
        assert_eq!(read.batches.len(), 1);
        let h = batch::validate(&read.batches[0], 1 << 20).unwrap();
        assert_eq!(
            h.base_offset, 9,
            "the batch containing offset 10 starts at 9"
        );
        log.close().await.unwrap();

        let log = Rc::new(Log::open(path.clone(), config.clone()).await.unwrap());
        assert_eq!(log.offsets().log_end_offset, 600);
        let mut offset = 0;
        let mut seen = 0;
        while offset < 600 {
            let r = log.read(offset, 64 << 10).await.unwrap();
            for b in r.batches {
                let h = batch::validate(&b, 1 << 20).unwrap();
                assert_eq!(h.base_offset, offset);
                assert_eq!(&b[batch::HEADER_BYTES..], &expected[seen][..]);
                seen += 1;
                offset = h.last_offset() + 1;
            }
        }
        assert_eq!(seen, 200);
        let ts = log
            .batch_for_timestamp(1150, i64::MAX)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(batch::validate(&ts, 1 << 20).unwrap().base_offset, 150 * 3);
        log.set_config(LogConfig {
            retention_bytes: 40 << 10,
            ..config
        });
        let removed = log
            .enforce_retention(myelin_storage::now_ms(), i64::MAX)
            .await
            .unwrap();
        assert!(removed > 0);
        let start = log.offsets().log_start_offset;
        assert!(start > 0);
        assert!(log.read(0, 100).await.is_err());
        assert!(log.read(start, 100).await.is_ok());
        log.close().await.unwrap();
    });
}

#[test]
fn log_start_moves_inside_a_segment_survives_a_restart_and_never_goes_back() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("t-0");
    run(move || async move {
        let config = LogConfig {
            segment_bytes: 16 << 10,
            cache_bytes: 0,
            ..LogConfig::default()
        };
        let log = Rc::new(Log::open(path.clone(), config.clone()).await.unwrap());
        for i in 0..100i64 {
            append(&log, 2, 1000 + i, &[i as u8; 700]).await;
        }
        let segments_before = std::fs::read_dir(&path)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "log")
            })
            .count();
        assert!(segments_before > 2, "the test needs several segments");
        // Inside a batch (offsets 100 and 101 share one): the batch is still served whole.
        assert_eq!(log.advance_start(101).await.unwrap(), 101);
        assert_eq!(log.offsets().log_start_offset, 101);
        assert!(
            log.read(100, 100).await.is_err(),
            "below the start is out of range"
        );
        let r = log.read(101, 100).await.unwrap();
        let h = batch::validate(&r.batches[0], 1 << 20).unwrap();
        assert_eq!(h.base_offset, 100);
        assert_eq!(r.log_start_offset, 101);
        let segments_after = std::fs::read_dir(&path)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "log")
            })
            .count();
        assert!(segments_after < segments_before, "segments wholly below go");
        // Backwards and past the end change nothing beyond the durable end.
        assert_eq!(log.advance_start(50).await.unwrap(), 101);
        assert_eq!(log.advance_start(10_000).await.unwrap(), 200);
        assert_eq!(log.offsets().log_start_offset, 200);
        log.close().await.unwrap();
        let log = Rc::new(Log::open(path.clone(), config.clone()).await.unwrap());
        assert_eq!(log.offsets().log_start_offset, 200);
        assert_eq!(log.offsets().log_end_offset, 200);
        assert_eq!(append(&log, 1, 5000, b"after").await, 200);
        // Retention by size never moves the start back to a segment's base.
        log.set_config(LogConfig {
            retention_bytes: 0,
            ..config
        });
        log.enforce_retention(myelin_storage::now_ms(), i64::MAX)
            .await
            .unwrap();
        assert!(log.offsets().log_start_offset >= 200);
        log.close().await.unwrap();
    });
}

#[test]
fn torn_tail_is_cut_at_last_whole_batch() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("t-0");
    let p2 = path.clone();
    run(move || async move {
        let log = Rc::new(Log::open(p2.clone(), LogConfig::default()).await.unwrap());
        for i in 0..10 {
            append(&log, 1, i, &[7u8; 500]).await;
        }
        log.close().await.unwrap();
    });
    // Tear the last batch: keep its first half, then garbage.
    let file = path.join(format!("{:020}.log", 0));
    let mut bytes = std::fs::read(&file).unwrap();
    let batch_len = batch::HEADER_BYTES + 500;
    let cut = batch_len * 9 + batch_len / 2;
    bytes.truncate(cut);
    bytes.extend_from_slice(&[0xAB; 100]);
    std::fs::write(&file, &bytes).unwrap();
    run(move || async move {
        let log = Rc::new(Log::open(path.clone(), LogConfig::default()).await.unwrap());
        assert_eq!(log.offsets().log_end_offset, 9);
        let r = log.read(8, 1 << 20).await.unwrap();
        assert_eq!(r.batches.len(), 1);
        // Appending after the cut works and survives another reopen.
        append(&log, 1, 99, &[9u8; 10]).await;
        log.close().await.unwrap();
        let log = Rc::new(Log::open(path.clone(), LogConfig::default()).await.unwrap());
        assert_eq!(log.offsets().log_end_offset, 10);
        let r = log.read(9, 1 << 20).await.unwrap();
        assert_eq!(&r.batches[0][batch::HEADER_BYTES..], &[9u8; 10]);
        log.close().await.unwrap();
    });
}

#[test]
fn segments_roll_by_age_and_expire_by_time() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("t-0");
    run(move || async move {
        let config = LogConfig {
            segment_ms: 1,
            retention_ms: 60_000,
            ..LogConfig::default()
        };
        let log = Rc::new(Log::open(path.clone(), config).await.unwrap());
        let now = myelin_storage::now_ms();
        for i in 0..5i64 {
            // Old records: an hour ago, except the last two.
            let ts = if i < 3 { now - 3_600_000 } else { now };
            append(&log, 1, ts, &[i as u8; 64]).await;
            glommio::timer::sleep(std::time::Duration::from_millis(3)).await;
        }
        let segments = std::fs::read_dir(&path).unwrap().filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "log")
        });
        assert_eq!(
            segments.count(),
            5,
            "segment.ms rolls each batch into its own segment"
        );
        let removed = log
            .enforce_retention(myelin_storage::now_ms(), i64::MAX)
            .await
            .unwrap();
        assert_eq!(removed, 3, "the three old sealed segments expire");
        assert_eq!(log.offsets().log_start_offset, 3);
        let r = log.read(3, 1 << 20).await.unwrap();
        assert_eq!(
            batch::validate(&r.batches[0], 1 << 20).unwrap().base_offset,
            3
        );
        log.close().await.unwrap();
    });
}

/// A record as read back: offset, key, value.
type Rec = (i64, Vec<u8>, Option<Vec<u8>>);

/// Every record the log serves from its start.
async fn records_of(log: &Rc<Log>) -> Vec<Rec> {
    let mut out = Vec::new();
    let mut offset = log.offsets().log_start_offset;
    while offset < log.offsets().durable_end {
        let r = log.read(offset, 1 << 20).await.unwrap();
        for b in &r.batches {
            let h = batch::validate(b, 1 << 20).unwrap();
            myelin_storage::records::for_each(
                &h,
                myelin_storage::records::records_section(b),
                |rec| {
                    out.push((
                        rec.offset,
                        rec.key.unwrap().to_vec(),
                        rec.value.map(|v| v.to_vec()),
                    ));
                    true
                },
            )
            .unwrap();
            offset = h.last_offset() + 1;
        }
    }
    out
}

#[test]
fn compaction_keeps_the_last_value_per_key_and_drops_old_tombstones() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("t-0");
    run(move || async move {
        let config = LogConfig {
            segment_bytes: 16 << 10,
            cleanup_compact: true,
            cleanup_delete: false,
            min_cleanable_dirty_ratio: 0.01,
            delete_retention_ms: 0,
            ..LogConfig::default()
        };
        let log = Rc::new(Log::open(path.clone(), config.clone()).await.unwrap());
        let mut latest = std::collections::BTreeMap::new();
        for i in 0..400u32 {
            let key = format!("k{}", i % 10);
            let value = format!("v{i}-{}", "x".repeat(200));
            // Two records per batch: the same key twice, so batches also lose records.
            let recs = [
                (Some(key.as_bytes()), Some(b"old".as_slice())),
                (Some(key.as_bytes()), Some(value.as_bytes())),
            ];
            let b = Bytes::from(record_batch(&recs, 1));
            let info = log
                .append(&batch::split_batches(b, 1 << 20).unwrap(), LEADER)
                .unwrap()
                .0;
            log.commit(&info).await.unwrap();
            latest.insert(key, Some(value));
        }
        // A tombstone for k3, then enough records to seal the segment holding it.
        let b = Bytes::from(record_batch(&[(Some(b"k3".as_slice()), None)], 1));
        let info = log
            .append(&batch::split_batches(b, 1 << 20).unwrap(), LEADER)
            .unwrap()
            .0;
        log.commit(&info).await.unwrap();
        latest.remove("k3");
        for i in 0..80u32 {
            let b = Bytes::from(record_batch(
                &[(Some(b"filler".as_slice()), Some(&[i as u8; 300][..]))],
                1,
            ));
            let info = log
                .append(&batch::split_batches(b, 1 << 20).unwrap(), LEADER)
                .unwrap()
                .0;
            log.commit(&info).await.unwrap();
        }
        let end = log.offsets().log_end_offset;
        let before = records_of(&log).await;
        let report = log
            .compact(myelin_storage::now_ms(), &NoTxns)
            .await
            .unwrap();
        assert!(report.segments_cleaned > 0, "{report:?}");
        assert!(report.bytes_after < report.bytes_before / 4, "{report:?}");
        assert_eq!(log.offsets().log_end_offset, end, "offsets never change");
        let check = |after: &[Rec]| {
            assert!(
                after.windows(2).all(|w| w[0].0 < w[1].0),
                "offsets stay in order"
            );
            assert!(
                after.iter().all(|r| before.contains(r)),
                "nothing is invented"
            );
            let mut seen = std::collections::BTreeMap::new();
            for (_, k, v) in after {
                seen.insert(
                    String::from_utf8(k.clone()).unwrap(),
                    v.clone().map(|v| String::from_utf8(v).unwrap()),
                );
            }
            seen.remove("filler");
            let want: std::collections::BTreeMap<_, _> =
                latest.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            assert_eq!(seen, want, "the last value per key, and no deleted key");
            let per_key = after.iter().filter(|r| r.1 == b"k1").count();
            assert_eq!(per_key, 1, "one record left for a key written 80 times");
        };
        let after = records_of(&log).await;
        check(&after);
        // Nothing left to do until more is written.
        assert_eq!(
            log.compact(myelin_storage::now_ms(), &NoTxns)
                .await
                .unwrap()
                .segments_cleaned,
            0
        );
        log.close().await.unwrap();
        let log = Rc::new(Log::open(path.clone(), config).await.unwrap());
        assert_eq!(
            records_of(&log).await,
            after,
            "the cleaned segments and indexes survive a restart"
        );
        log.close().await.unwrap();
    });
}
