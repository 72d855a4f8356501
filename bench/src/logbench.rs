//! `myelin-bench log` and `myelin-bench recovery`: the partition log alone on this machine's
//! disk, beside what `fio` gets from the same disk in the same run.
//!
//! `log` measures append throughput (O_DIRECT writes, no sync per batch, several commits in
//! flight: what fio's sequential direct write measures) and fsync-acknowledged append latency
//! (one small batch at a time, `fdatasync` before the ack: what fio's `--fdatasync=1` write
//! measures), on one pinned glommio executor, i.e. one shard. The fio side comes from
//! `myelin-perf baseline` on the same directory, run first.
//!
//! `recovery` writes a given volume across many partitions, then times opening them all after
//! a clean shutdown and after a crash (the markers and active indexes a crash never leaves
//! are removed, so the active segments are scanned).

use crate::report::{git_commit, Machine};
use crate::stats::{hgrm_text, new_histogram, record_us, Percentiles};
use anyhow::{bail, Context};
use bytes::Bytes;
use hdrhistogram::Histogram;
use myelin_storage::{batch, Log, LogConfig};
use serde::Serialize;
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Flags of `myelin-bench log`.
#[derive(clap::Args, Clone, Debug)]
pub struct LogArgs {
    /// Directory on the disk under test (a scratch subdirectory is made and removed).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Core the shard is pinned to.
    #[arg(long, default_value_t = 0)]
    pub core: usize,
    /// Seconds per phase.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Partitions written in parallel by the shard (from the global `--partitions`).
    #[arg(skip = 1usize)]
    pub partitions: usize,
    /// Batch size of the throughput phase (fio's block size is 1 MiB).
    #[arg(long, default_value_t = 1 << 20)]
    pub write_batch_bytes: usize,
    /// Appends in flight per partition in the throughput phase.
    #[arg(long, default_value_t = 4)]
    pub in_flight: usize,
    /// Batch size of the latency phase (fio's block size is 4 KiB).
    #[arg(long, default_value_t = 4096)]
    pub sync_batch_bytes: usize,
    /// Skip `myelin-perf baseline` (no fio figures in the report).
    #[arg(long)]
    pub no_fio: bool,
}

/// Flags of `myelin-bench recovery`.
#[derive(clap::Args, Clone, Debug)]
pub struct RecoveryArgs {
    /// Directory on the disk under test (a scratch subdirectory is made and removed).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Partitions (from the global `--partitions`, default 100).
    #[arg(skip = 100usize)]
    pub partitions: usize,
    /// Total MiB written across them.
    #[arg(long, default_value_t = 10 << 10)]
    pub mib: u64,
    /// Core the shard is pinned to.
    #[arg(long, default_value_t = 0)]
    pub core: usize,
}

/// What `log` measured.
#[derive(Serialize, Debug, Default)]
pub struct LogReport {
    /// Tool and version.
    pub tool: String,
    /// Git commit, when known.
    pub git_commit: Option<String>,
    /// The machine.
    pub machine: Machine,
    /// Append throughput, bytes per second.
    pub append_bytes_per_s: f64,
    /// fsync-acknowledged append latency, microseconds.
    pub sync_ack_us: Percentiles,
    /// Appends measured in the latency phase.
    pub sync_acks: u64,
    /// fio's sequential direct write bandwidth, bytes per second.
    pub fio_write_bytes_per_s: Option<f64>,
    /// fio's fdatasync latency p50, p99, p99.9 in microseconds.
    pub fio_fdatasync_us: Option<[f64; 3]>,
    /// append / fio bandwidth.
    pub bandwidth_ratio: Option<f64>,
    /// append-ack p99 / fio fdatasync p99.
    pub p99_ratio: Option<f64>,
    /// The flags.
    pub params: String,
}

fn executor<T: Send + 'static>(
    core: usize,
    f: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<T>>>>
        + Send
        + 'static,
) -> anyhow::Result<T> {
    glommio::LocalExecutorBuilder::new(glommio::Placement::Fixed(core))
        .name("log-bench")
        .io_memory(crate::limits::EXECUTOR_IO_MEMORY_BYTES)
        .spawn(f)
        .map_err(|e| anyhow::anyhow!("executor: {e}"))?
        .join()
        .map_err(|e| anyhow::anyhow!("executor: {e}"))?
}

/// Bytes a one-record batch spends on the record's own framing (length, attributes, deltas,
/// key and header counts), at most.
const RECORD_OVERHEAD_BYTES: usize = 16;

/// Batch size of `recovery`'s writes.
const RECOVERY_BATCH_BYTES: usize = 1 << 20;

/// A batch of one record of about `bytes` bytes.
fn batch_of(bytes: usize) -> anyhow::Result<Vec<(batch::BatchHeader, Bytes)>> {
    let value = vec![
        0x5a_u8;
        bytes
            .saturating_sub(batch::HEADER_BYTES + RECORD_OVERHEAD_BYTES)
            .max(1)
    ];
    let b = Bytes::from(batch::build(&[(None, Some(&value))], 0));
    Ok(batch::split_batches(b, u32::MAX)?)
}

fn fio_figures(args: &LogArgs, out: &Path) -> Option<(f64, [f64; 3])> {
    if args.no_fio {
        return None;
    }
    let exe = std::env::current_exe().ok()?.with_file_name("myelin-perf");
    let status = std::process::Command::new(&exe)
        .arg("baseline")
        .arg("--data-dir")
        .arg(&args.data_dir)
        .arg("--out")
        .arg(out)
        .status();
    if !status.is_ok_and(|s| s.success()) {
        eprintln!("{} baseline failed: no fio figures", exe.display());
        return None;
    }
    let text = std::fs::read_to_string(out.join("baseline.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let f = |k: &str| v.get(k).and_then(|x| x.as_f64());
    Some((
        f("fio_write_bandwidth_bytes_per_s")?,
        [
            f("fio_fdatasync_p50_us")?,
            f("fio_fdatasync_p99_us")?,
            f("fio_fdatasync_p999_us")?,
        ],
    ))
}

/// Runs `myelin-bench log`.
pub fn run_log(args: &LogArgs, out: &Path) -> anyhow::Result<LogReport> {
    std::fs::create_dir_all(out)?;
    let fio = fio_figures(args, out);
    let scratch = args
        .data_dir
        .join(format!("myelin-log-bench-{}", std::process::id()));
    let a = args.clone();
    let dir = scratch.clone();
    let measured = executor(args.core, move || {
        Box::pin(async move { measure(&a, &dir).await })
    });
    std::fs::remove_dir_all(&scratch).ok();
    let (bytes_per_s, hist) = measured?;
    let mut report = LogReport {
        tool: format!("myelin-bench {}", env!("CARGO_PKG_VERSION")),
        git_commit: git_commit(),
        machine: Machine::detect(),
        append_bytes_per_s: bytes_per_s,
        sync_ack_us: Percentiles::of(&hist).unwrap_or_default(),
        sync_acks: hist.len(),
        params: format!("{args:?}"),
        ..LogReport::default()
    };
    if let Some((bw, lat)) = fio {
        report.fio_write_bytes_per_s = Some(bw);
        report.fio_fdatasync_us = Some(lat);
        report.bandwidth_ratio = Some(bytes_per_s / bw);
        report.p99_ratio = Some(report.sync_ack_us.p99 as f64 / lat[1]);
    }
    std::fs::write(out.join("append-ack.hgrm"), hgrm_text(&hist))?;
    std::fs::write(
        out.join("log-bench.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    Ok(report)
}

async fn measure(args: &LogArgs, dir: &Path) -> anyhow::Result<(f64, Histogram<u64>)> {
    // Throughput: no sync per batch, several appends in flight per partition.
    let config = LogConfig {
        flush_messages: u64::MAX,
        cache_bytes: 0,
        ..LogConfig::default()
    };
    let mut logs = Vec::new();
    for p in 0..args.partitions {
        logs.push(Rc::new(
            Log::open(dir.join(format!("w-{p}")), config.clone()).await?,
        ));
    }
    let batch = Rc::new(batch_of(args.write_batch_bytes)?);
    let size: u64 = batch.iter().map(|(_, b)| b.len() as u64).sum();
    let written = Rc::new(Cell::new(0u64));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for log in &logs {
        for _ in 0..args.in_flight {
            let (log, batch, written) = (log.clone(), batch.clone(), written.clone());
            tasks.push(glommio::spawn_local(async move {
                while Instant::now() < deadline {
                    let (info, _) = log.append(
                        &batch,
                        myelin_storage::AppendMode::Leader { leader_epoch: 0 },
                    )?;
                    log.commit(&info).await?;
                    written.set(written.get() + size);
                }
                anyhow::Ok(())
            }));
        }
    }
    let t0 = Instant::now();
    for t in tasks {
        t.await?;
    }
    let bytes_per_s = written.get() as f64 / t0.elapsed().as_secs_f64();
    for log in logs {
        log.close().await?;
    }
    // Latency: one small batch at a time, fdatasync before every acknowledgement.
    let config = LogConfig {
        flush_messages: 1,
        ..LogConfig::default()
    };
    let log = Rc::new(Log::open(dir.join("sync"), config).await?);
    let batch = batch_of(args.sync_batch_bytes)?;
    let mut hist = new_histogram();
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    while Instant::now() < deadline {
        let t = Instant::now();
        let (info, _) = log.append(
            &batch,
            myelin_storage::AppendMode::Leader { leader_epoch: 0 },
        )?;
        log.commit(&info).await?;
        record_us(&mut hist, t.elapsed().as_micros() as u64);
    }
    log.close().await?;
    Ok((bytes_per_s, hist))
}

/// Prints `log`'s table.
pub fn print_log(r: &LogReport) {
    let mb = |b: f64| b / 1e6;
    println!("                         myelin log        fio      ratio");
    match (r.fio_write_bytes_per_s, r.bandwidth_ratio) {
        (Some(f), Some(q)) => println!(
            "write MB/s           {:>14.1} {:>10.1} {:>10.2}",
            mb(r.append_bytes_per_s),
            mb(f),
            q
        ),
        _ => println!("write MB/s           {:>14.1}", mb(r.append_bytes_per_s)),
    }
    let ours = [r.sync_ack_us.p50, r.sync_ack_us.p99, r.sync_ack_us.p99_9];
    for (i, label) in ["p50", "p99", "p99.9"].iter().enumerate() {
        let us = ours.get(i).copied().unwrap_or(0);
        match r.fio_fdatasync_us.and_then(|f| f.get(i).copied()) {
            Some(f) => println!(
                "sync-ack {label:<6} µs {:>14} {:>10.0} {:>10.2}",
                us,
                f,
                us as f64 / f
            ),
            None => println!("sync-ack {label:<6} µs {us:>14}"),
        }
    }
    println!(
        "sync-ack max µs      {:>14}   ({} acks)",
        r.sync_ack_us.max, r.sync_acks
    );
}

/// What `recovery` measured.
#[derive(Serialize, Debug)]
pub struct RecoveryReport {
    /// Partitions.
    pub partitions: usize,
    /// Bytes written in total.
    pub bytes: u64,
    /// Seconds to write them.
    pub write_s: f64,
    /// Seconds to open every partition after a clean shutdown.
    pub clean_open_s: f64,
    /// Seconds to open every partition after a crash (active segments scanned).
    pub crash_open_s: f64,
    /// Git commit, when known.
    pub git_commit: Option<String>,
}

/// Runs `myelin-bench recovery`.
pub fn run_recovery(args: &RecoveryArgs, out: &Path) -> anyhow::Result<RecoveryReport> {
    std::fs::create_dir_all(out)?;
    if args.partitions == 0 {
        bail!("--partitions must be at least 1");
    }
    let scratch = args
        .data_dir
        .join(format!("myelin-recovery-bench-{}", std::process::id()));
    let a = args.clone();
    let dir = scratch.clone();
    let result = executor(args.core, move || {
        Box::pin(async move { recovery(&a, &dir).await })
    });
    std::fs::remove_dir_all(&scratch).ok();
    let report = result?;
    std::fs::write(
        out.join("recovery.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    Ok(report)
}

/// Opens `n` partition logs concurrently, as a shard does at start-up.
async fn open_all(dir: &Path, n: usize) -> anyhow::Result<(f64, Vec<Rc<Log>>)> {
    let t = Instant::now();
    let opened = futures::future::join_all(
        (0..n).map(|p| Log::open(dir.join(format!("p-{p}")), LogConfig::default())),
    )
    .await;
    let mut logs = Vec::with_capacity(n);
    for log in opened {
        logs.push(Rc::new(log?));
    }
    Ok((t.elapsed().as_secs_f64(), logs))
}

async fn recovery(args: &RecoveryArgs, dir: &Path) -> anyhow::Result<RecoveryReport> {
    let per_partition = (args.mib << 20) / args.partitions as u64;
    let batch = Rc::new(batch_of(RECOVERY_BATCH_BYTES)?);
    let size: u64 = batch.iter().map(|(_, b)| b.len() as u64).sum();
    let (_, logs) = open_all(dir, args.partitions).await?;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for log in &logs {
        let (log, batch) = (log.clone(), batch.clone());
        tasks.push(glommio::spawn_local(async move {
            let mut done = 0;
            while done < per_partition {
                let (info, _) = log.append(
                    &batch,
                    myelin_storage::AppendMode::Leader { leader_epoch: 0 },
                )?;
                log.commit(&info).await?;
                done += size;
            }
            anyhow::Ok(done)
        }));
    }
    let mut bytes = 0;
    for task in tasks {
        bytes += task.await?;
    }
    let write_s = t.elapsed().as_secs_f64();
    eprintln!(
        "wrote {:.1} GiB in {write_s:.1} s",
        bytes as f64 / (1u64 << 30) as f64
    );
    for log in logs {
        log.close().await?;
    }
    let (clean_open_s, logs) = open_all(dir, args.partitions).await?;
    for log in logs {
        log.close().await?;
    }
    // What a crash leaves: no clean-shutdown marker and no index for the active segment.
    for p in 0..args.partitions {
        let pdir = dir.join(format!("p-{p}"));
        std::fs::remove_file(pdir.join(".clean-shutdown")).context("marker")?;
        let mut logs: Vec<PathBuf> = std::fs::read_dir(&pdir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        logs.sort();
        if let Some(active) = logs.last() {
            std::fs::remove_file(active.with_extension("index")).ok();
        }
    }
    let (crash_open_s, logs) = open_all(dir, args.partitions).await?;
    for log in logs {
        log.close().await?;
    }
    Ok(RecoveryReport {
        partitions: args.partitions,
        bytes,
        write_s,
        clean_open_s,
        crash_open_s,
        git_commit: git_commit(),
    })
}
