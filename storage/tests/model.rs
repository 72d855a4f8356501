#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

//! Model-based test of the partition log on the simulated disk: random sequences of appends,
//! reads, truncations, retention, crashes, full disks and bit flips, checked after every step
//! against a plain list of the batches that were acknowledged. The disk's faults follow the
//! generated seed, so proptest's report of a failing case (seed and steps) replays it.

mod common;

use bytes::Bytes;
use common::{record_batch, run, NoTxns, LEADER};
use myelin_storage::sim::SimFs;
use myelin_storage::{batch, Log, LogConfig, StorageError};
use proptest::prelude::*;
use std::path::PathBuf;
use std::rc::Rc;

#[derive(Debug, Clone)]
enum Step {
    /// Append one batch of `records` records with values of `len` bytes.
    Append { records: usize, len: usize },
    /// Read from a point in the log (a fraction of its length, in 1/256ths).
    Read { at: u8 },
    /// Cut the log back by a fraction of its length.
    Truncate { back: u8 },
    /// Keep only about `keep` KiB by retention.
    Retain { keep: u8 },
    /// Lose power and recover.
    Crash,
    /// Close cleanly and open again.
    Restart,
    /// The disk fills up (no room beyond what is used now) or gets room again.
    DiskFull(bool),
    /// A bit in a sealed or active segment file rots.
    Flip,
    /// Compact the sealed segments.
    Compact,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (1usize..4, 0usize..3000).prop_map(|(records, len)| Step::Append { records, len }),
        3 => any::<u8>().prop_map(|at| Step::Read { at }),
        1 => any::<u8>().prop_map(|back| Step::Truncate { back }),
        1 => (4u8..64).prop_map(|keep| Step::Retain { keep }),
        2 => Just(Step::Crash),
        1 => Just(Step::Restart),
        1 => any::<bool>().prop_map(Step::DiskFull),
        1 => Just(Step::Flip),
        2 => Just(Step::Compact),
    ]
}

/// A record: key and value.
type Record = (Vec<u8>, Vec<u8>);

/// What the log must hold: acknowledged batches from the log start on, and their records.
struct Model {
    batches: Vec<(i64, i64, Bytes)>,
    records: std::collections::BTreeMap<i64, Record>,
    /// Compaction ran: records superseded by a later one of the same key may be gone.
    compacted: bool,
    start: i64,
    end: i64,
    /// A bit flipped on disk: reads may fail (never lie), and a crash may cut acknowledged
    /// batches at the flip.
    rotten: bool,
    disk_full: bool,
}

impl Model {
    fn truncate(&mut self, end: i64) {
        self.batches.retain(|b| b.1 < end);
        self.records.retain(|&o, _| o < end);
        self.end = end;
    }

    fn trim_start(&mut self, start: i64) {
        self.batches.retain(|b| b.0 >= start);
        self.records.retain(|&o, _| o >= start);
        self.start = start;
    }

    /// True when a record of the same key follows `offset`.
    fn superseded(&self, offset: i64, key: &[u8]) -> bool {
        self.records
            .range(offset + 1..)
            .any(|(_, (k, _))| k.as_slice() == key)
    }
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 16 << 10,
        cache_bytes: 4 << 10,
        retention_ms: -1,
        cleanup_compact: true,
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    }
}

/// The records of served batches, in order.
fn records_of(got: &[Bytes]) -> Vec<(i64, Record)> {
    let mut out = Vec::new();
    for b in got {
        let h = batch::validate(b, 1 << 20).expect("a served batch is intact");
        myelin_storage::records::for_each(&h, myelin_storage::records::records_section(b), |r| {
            let key = r.key.unwrap_or_default().to_vec();
            out.push((r.offset, (key, r.value.unwrap_or_default().to_vec())));
            true
        })
        .expect("records parse");
    }
    out
}

/// Every batch the log serves from `from` on, read in small steps.
async fn read_all(log: &Rc<Log<SimFs>>, from: i64) -> Result<Vec<Bytes>, StorageError> {
    let mut out = Vec::new();
    let mut offset = from;
    let end = log.offsets().durable_end;
    while offset < end {
        let r = log.read(offset, 8 << 10).await?;
        let Some(last) = r.batches.last() else { break };
        offset = batch::validate(last, 1 << 20)?.last_offset() + 1;
        out.extend(r.batches);
    }
    Ok(out)
}

/// The log's answer from `offset` on must be the model's batches from the one holding it;
/// after compaction, the model's records in order, less only superseded ones.
fn check_read(model: &Model, offset: i64, got: &[Bytes]) {
    if !model.compacted {
        let first = model.batches.partition_point(|b| b.1 < offset);
        for (i, g) in got.iter().enumerate() {
            let (base, _, want) = &model.batches[first + i];
            let h = batch::validate(g, 1 << 20).expect("a served batch is intact");
            assert_eq!(h.base_offset, *base, "batch {i} from offset {offset}");
            assert_eq!(&g[batch::HEADER_BYTES..], &want[batch::HEADER_BYTES..]);
        }
        return;
    }
    let got = records_of(got);
    let mut expected = model
        .records
        .range(got.first().map_or(offset, |r| r.0)..)
        .filter(|(o, _)| got.last().is_some_and(|l| **o <= l.0));
    for (o, rec) in &got {
        loop {
            let (eo, erec) = expected.next().expect("a served record the model has");
            if eo == o {
                assert_eq!(erec, rec, "record {o}");
                break;
            }
            assert!(
                model.superseded(*eo, &erec.0),
                "record {eo} is gone but is its key's last"
            );
        }
    }
}

async fn check_all(log: &Rc<Log<SimFs>>, model: &Model) {
    let o = log.offsets();
    assert_eq!(o.log_start_offset, model.start, "log start");
    assert_eq!(o.log_end_offset, model.end, "log end");
    assert_eq!(
        o.durable_end, model.end,
        "everything acknowledged is visible"
    );
    match read_all(log, model.start).await {
        Ok(got) => {
            if !model.compacted {
                assert_eq!(got.len(), model.batches.len(), "batch count");
            } else if !model.rotten {
                // Every key's last record is there.
                let offsets: std::collections::BTreeSet<i64> =
                    records_of(&got).iter().map(|r| r.0).collect();
                for (o, (k, _)) in &model.records {
                    assert!(
                        offsets.contains(o) || model.superseded(*o, k),
                        "record {o} is its key's last and must stay"
                    );
                }
            }
            check_read(model, model.start, &got);
        }
        Err(e) => assert!(model.rotten, "read failed without a rotten bit: {e}"),
    }
}

fn play(seed: u64, steps: Vec<Step>) {
    run(move || async move {
        let fs = SimFs::new(seed);
        let dir = PathBuf::from("/sim/t-0");
        let mut log = Rc::new(
            Log::open_with(fs.clone(), dir.clone(), config())
                .await
                .unwrap(),
        );
        let mut model = Model {
            batches: Vec::new(),
            records: Default::default(),
            compacted: false,
            start: 0,
            end: 0,
            rotten: false,
            disk_full: false,
        };
        for (n, step) in steps.into_iter().enumerate() {
            match step {
                Step::Append { records, len } => {
                    // Few keys, so compaction finds records to remove.
                    let key = format!("k{}", n % 7);
                    let values: Vec<Vec<u8>> = (0..records)
                        .map(|i| {
                            let mut v = vec![(n % 251) as u8; len];
                            v.extend_from_slice(&(i as u32).to_be_bytes());
                            v
                        })
                        .collect();
                    let recs: Vec<common::KeyValue<'_>> = values
                        .iter()
                        .map(|v| (Some(key.as_bytes()), Some(&v[..])))
                        .collect();
                    let bytes = Bytes::from(record_batch(&recs, n as i64));
                    let batches = batch::split_batches(bytes.clone(), 1 << 20).unwrap();
                    let info = log.append(&batches, LEADER).unwrap().0;
                    match log.commit(&info).await {
                        Ok(()) => {
                            assert_eq!(info.base_offset, model.end);
                            model.end = info.last_offset + 1;
                            model
                                .batches
                                .push((info.base_offset, info.last_offset, bytes));
                            for (i, v) in values.iter().enumerate() {
                                model.records.insert(
                                    info.base_offset + i as i64,
                                    (key.as_bytes().to_vec(), v.clone()),
                                );
                            }
                        }
                        Err(e) => {
                            assert!(model.disk_full, "append failed with room on disk: {e}");
                            assert!(matches!(e, StorageError::Discarded), "{e}");
                        }
                    }
                }
                Step::Read { at } => {
                    let span = model.end - model.start;
                    let offset = model.start + span * at as i64 / 256;
                    match log.read(offset, 16 << 10).await {
                        Ok(r) => check_read(&model, offset, &r.batches),
                        Err(e) => assert!(model.rotten, "read at {offset} failed: {e}"),
                    }
                }
                // Truncation is for a replica cutting what its leader never committed;
                // compaction only touches what is committed. A cut below compacted data
                // would remove the later records that justified the compaction, which
                // cannot happen in use, so the two are not mixed here.
                Step::Truncate { .. } if model.compacted => {}
                Step::Truncate { back } => {
                    let span = model.end - model.start;
                    let offset = model.end - span * back as i64 / 1024;
                    match log.truncate_to(offset).await {
                        Ok(()) => {
                            let cut = model
                                .batches
                                .iter()
                                .find(|b| b.1 >= offset)
                                .map_or(model.end, |b| b.0);
                            model.truncate(cut);
                        }
                        // Truncation rereads the tail block, which a rotten bit may break.
                        Err(e) => {
                            assert!(model.rotten, "truncate failed: {e}");
                            return;
                        }
                    }
                }
                Step::Retain { keep } => {
                    log.set_config(LogConfig {
                        retention_bytes: keep as i64 * 1024,
                        ..config()
                    });
                    log.enforce_retention(myelin_storage::now_ms(), i64::MAX)
                        .await
                        .unwrap();
                    log.set_config(config());
                    let start = log.offsets().log_start_offset;
                    assert!(start >= model.start && start <= model.end);
                    assert!(
                        start == model.end || model.batches.iter().any(|b| b.0 == start),
                        "retention cuts at a batch boundary"
                    );
                    model.trim_start(start);
                }
                Step::Crash => {
                    drop(log);
                    fs.crash();
                    let reopened = Log::open_with(fs.clone(), dir.clone(), config()).await;
                    let reopened = match reopened {
                        Ok(l) => l,
                        Err(e) => {
                            assert!(model.rotten || model.disk_full, "recovery failed: {e}");
                            return;
                        }
                    };
                    log = Rc::new(reopened);
                    if model.rotten {
                        let o = log.offsets();
                        assert!(o.log_end_offset <= model.end, "nothing is invented");
                        model.truncate(o.log_end_offset);
                        model.trim_start(o.log_start_offset);
                    }
                }
                Step::Restart => {
                    if let Err(e) = log.close().await {
                        assert!(model.rotten || model.disk_full, "close failed: {e}");
                        return;
                    }
                    drop(log);
                    match Log::open_with(fs.clone(), dir.clone(), config()).await {
                        Ok(l) => log = Rc::new(l),
                        Err(e) => {
                            assert!(model.rotten || model.disk_full, "reopen failed: {e}");
                            return;
                        }
                    }
                }
                Step::DiskFull(full) => {
                    model.disk_full = full;
                    fs.set_capacity(full.then(|| fs.used()));
                }
                Step::Compact => match log.compact(myelin_storage::now_ms(), &NoTxns).await {
                    Ok(report) => model.compacted |= report.segments_cleaned > 0,
                    Err(e) => {
                        assert!(model.rotten || model.disk_full, "compaction failed: {e}");
                        // Segments cleaned before the failure stay cleaned.
                        model.compacted = true;
                    }
                },
                Step::Flip => {
                    if fs.flip_bit(".log").is_some() {
                        model.rotten = true;
                    }
                }
            }
            check_all(&log, &model).await;
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn log_agrees_with_the_model(seed in any::<u64>(), steps in proptest::collection::vec(step(), 1..100)) {
        play(seed, steps);
    }
}

async fn append_one(log: &Rc<Log<SimFs>>, value: &[u8]) -> Result<i64, StorageError> {
    let bytes = Bytes::from(record_batch(&[(Some(b"k"), Some(value))], 1));
    let info = log
        .append(&batch::split_batches(bytes, 1 << 20)?, LEADER)?
        .0;
    log.commit(&info).await?;
    Ok(info.base_offset)
}

#[test]
fn a_full_disk_refuses_writes_and_resumes_when_space_returns() {
    run(|| async {
        let fs = SimFs::new(7);
        let dir = PathBuf::from("/sim/t-0");
        let log = Rc::new(
            Log::open_with(fs.clone(), dir.clone(), config())
                .await
                .unwrap(),
        );
        for i in 0..3 {
            assert_eq!(append_one(&log, &[1; 100]).await.unwrap(), i);
        }
        fs.set_capacity(Some(fs.used()));
        // The preallocated extent leaves room for a while; keep writing until it is gone.
        let mut refused = 0;
        for _ in 0..1000 {
            match append_one(&log, &[2; 3000]).await {
                Ok(_) => {}
                Err(StorageError::Discarded) => refused += 1,
                Err(e) => panic!("unexpected error on a full disk: {e}"),
            }
        }
        assert!(refused > 0, "the disk filled up");
        let end = log.offsets().log_end_offset;
        fs.set_capacity(None);
        assert_eq!(
            append_one(&log, &[3; 100]).await.unwrap(),
            end,
            "writes resume"
        );
        drop(log);
        fs.crash();
        let log = Rc::new(Log::open_with(fs, dir, config()).await.unwrap());
        assert_eq!(
            log.offsets().log_end_offset,
            end + 1,
            "acknowledged writes survive"
        );
    });
}

#[test]
fn an_io_error_takes_one_partition_offline_not_its_neighbours() {
    run(|| async {
        let fs = SimFs::new(9);
        let a = Rc::new(
            Log::open_with(fs.clone(), "/sim/a-0".into(), config())
                .await
                .unwrap(),
        );
        let b = Rc::new(
            Log::open_with(fs.clone(), "/sim/b-0".into(), config())
                .await
                .unwrap(),
        );
        append_one(&a, b"x").await.unwrap();
        append_one(&b, b"x").await.unwrap();
        fs.fail_io(Some("/sim/a-0"));
        assert!(append_one(&a, b"y").await.is_err());
        assert!(matches!(
            append_one(&a, b"z").await,
            Err(StorageError::Offline)
        ));
        assert_eq!(
            append_one(&b, b"y").await.unwrap(),
            1,
            "the neighbour writes on"
        );
        fs.fail_io(None);
        assert_eq!(
            a.read(0, 1 << 20).await.unwrap().batches.len(),
            1,
            "reads still work"
        );
    });
}

/// Segment files for the recovery fuzzer: intact batches, then arbitrary bytes, with some
/// bytes overwritten.
fn segment_bytes() -> impl Strategy<Value = Vec<u8>> {
    (
        0usize..6,
        proptest::collection::vec(any::<u8>(), 0..2048),
        proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
    )
        .prop_map(|(good, garbage, pokes)| {
            let mut file = Vec::new();
            for i in 0..good {
                let mut b = record_batch(&[(Some(b"k"), Some(&[i as u8; 40]))], 1);
                b[0..8].copy_from_slice(&(i as i64).to_be_bytes());
                file.extend(b);
            }
            file.extend(garbage);
            let len = file.len();
            for (at, byte) in pokes {
                if len > 0 {
                    file[at % len] = byte;
                }
            }
            file
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Recovery reads whatever a crash or a bad disk left behind: it must never panic, and
    /// whatever it keeps must be intact batches in offset order.
    #[test]
    fn recovery_survives_arbitrary_segment_bytes(file in segment_bytes(), sealed in any::<bool>()) {
        run(move || async move {
            use myelin_storage::FileSystem;
            let fs = SimFs::new(1);
            let dir = PathBuf::from("/sim/t-0");
            fs.write_atomic(&dir, "00000000000000000000.log", file).await.unwrap();
            if sealed {
                // A later segment makes the first one sealed (and without an index).
                fs.write_atomic(&dir, "00000000000000001000.log", vec![0; 4096]).await.unwrap();
            }
            let Ok(log) = Log::open_with(fs, dir, config()).await else { return };
            let log = Rc::new(log);
            let o = log.offsets();
            assert!(o.log_start_offset <= o.durable_end && o.durable_end <= o.log_end_offset);
            if let Ok(batches) = read_all(&log, o.log_start_offset).await {
                let mut next = 0;
                for b in batches {
                    let h = batch::validate(&b, 1 << 20).unwrap();
                    assert!(h.base_offset >= next);
                    next = h.last_offset() + 1;
                }
            }
        });
    }
}

#[test]
fn a_clean_restart_reads_indexes_not_segments() {
    run(|| async {
        let fs = SimFs::new(3);
        let dir = PathBuf::from("/sim/t-0");
        let config = LogConfig {
            segment_bytes: 1 << 20,
            ..config()
        };
        let log = Rc::new(
            Log::open_with(fs.clone(), dir.clone(), config.clone())
                .await
                .unwrap(),
        );
        for _ in 0..1000 {
            append_one(&log, &[5; 3000]).await.unwrap();
        }
        log.close().await.unwrap();
        drop(log);
        let before = fs.bytes_read();
        let log = Rc::new(
            Log::open_with(fs.clone(), dir.clone(), config.clone())
                .await
                .unwrap(),
        );
        let clean_read = fs.bytes_read() - before;
        assert_eq!(log.offsets().log_end_offset, 1000);
        assert!(
            clean_read < 8192,
            "a clean start read {clean_read} bytes of segments"
        );
        // Appends go on from the checkpoint, and a crash afterwards rescans the tail.
        append_one(&log, &[6; 10]).await.unwrap();
        drop(log);
        fs.crash();
        let before = fs.bytes_read();
        let log = Rc::new(Log::open_with(fs.clone(), dir, config).await.unwrap());
        assert_eq!(log.offsets().log_end_offset, 1001);
        assert!(
            fs.bytes_read() - before > 100_000,
            "after a crash the active segment is scanned"
        );
    });
}

#[test]
fn flush_by_time_and_by_bytes_makes_written_data_durable() {
    run(|| async {
        let fs = SimFs::new(11);
        let dir = PathBuf::from("/sim/t-0");
        // No sync per message: by time only.
        let timed = LogConfig {
            flush_messages: u64::MAX,
            flush_ms: 20,
            ..config()
        };
        let log = Rc::new(
            Log::open_with(fs.clone(), dir.clone(), timed.clone())
                .await
                .unwrap(),
        );
        for _ in 0..5 {
            append_one(&log, &[1; 100]).await.unwrap();
        }
        glommio::timer::sleep(std::time::Duration::from_millis(100)).await;
        drop(log);
        fs.crash();
        let log = Rc::new(
            Log::open_with(fs.clone(), dir.clone(), timed)
                .await
                .unwrap(),
        );
        assert_eq!(
            log.offsets().log_end_offset,
            5,
            "flush.ms synced without further writes"
        );
        drop(log);

        // By size: the write that crosses flush.bytes is synced before it is acknowledged.
        let sized = LogConfig {
            flush_messages: u64::MAX,
            flush_bytes: 10_000,
            ..config()
        };
        let log = Rc::new(
            Log::open_with(fs.clone(), dir.clone(), sized.clone())
                .await
                .unwrap(),
        );
        for _ in 0..3 {
            append_one(&log, &[2; 4000]).await.unwrap();
        }
        drop(log);
        fs.crash();
        let log = Rc::new(Log::open_with(fs, dir, sized).await.unwrap());
        assert_eq!(log.offsets().log_end_offset, 8);
    });
}
