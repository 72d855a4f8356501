//! fio: direct-I/O sequential write bandwidth and `fdatasync` latency of the data disk.
//!
//! The runners start fio on a scratch file in the data directory and always remove it; the
//! parsers read fio's `--output-format=json` report and never do I/O, so they are tested on
//! canned reports.

use crate::command::{run_bounded, tail};
use crate::limits::{
    FIO_SYNC_BLOCK_BYTES, FIO_SYNC_FILE_BYTES, FIO_WRITE_BLOCK_BYTES, FIO_WRITE_FILE_BYTES,
    FIO_WRITE_IODEPTH, TOOL_GRACE,
};
use anyhow::{anyhow, bail, Context};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Latency of `fdatasync` after a small write, from fio's `sync` section.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyncLatency {
    /// Median, in microseconds.
    pub p50_us: f64,
    /// 99th percentile, in microseconds.
    pub p99_us: f64,
    /// 99.9th percentile, in microseconds.
    pub p999_us: f64,
    /// How many syncs were timed.
    pub samples: u64,
}

/// The fio version from `fio --version` output (`fio-3.33` → `3.33`).
pub fn parse_version(text: &str) -> Option<String> {
    let line = text.lines().next()?.trim();
    let version = line.strip_prefix("fio-").unwrap_or(line);
    (!version.is_empty()).then(|| version.to_string())
}

/// The jobs of a fio JSON report, failing if fio reported an error for any of them.
fn jobs(report: &str) -> anyhow::Result<Vec<Value>> {
    let root: Value = serde_json::from_str(report).context("fio report is not JSON")?;
    let jobs = root
        .get("jobs")
        .and_then(Value::as_array)
        .filter(|jobs| !jobs.is_empty())
        .ok_or_else(|| anyhow!("fio report has no jobs"))?;
    for job in jobs {
        let error = job.get("error").and_then(Value::as_i64).unwrap_or(0);
        if error != 0 {
            bail!("fio job failed with errno {error}");
        }
    }
    Ok(jobs.clone())
}

/// Write bandwidth in bytes per second, summed over the report's jobs.
pub fn parse_write_bandwidth(report: &str) -> anyhow::Result<u64> {
    let mut total = 0u64;
    for job in jobs(report)? {
        let bw = job
            .pointer("/write/bw_bytes")
            .and_then(Value::as_u64)
            .ok_or_else(|| anyhow!("fio job has no write.bw_bytes"))?;
        total = total.saturating_add(bw);
    }
    if total == 0 {
        bail!("fio wrote nothing");
    }
    Ok(total)
}

/// A percentile from fio's `percentile` map, whose keys are strings such as `"99.900000"`.
fn percentile_ns(map: &serde_json::Map<String, Value>, wanted: f64) -> Option<f64> {
    map.iter()
        .find(|(key, _)| key.parse::<f64>().is_ok_and(|p| (p - wanted).abs() < 1e-6))
        .and_then(|(_, v)| v.as_f64())
}

/// `fdatasync` latency percentiles from the first job's `sync.lat_ns` section.
pub fn parse_sync_latency(report: &str) -> anyhow::Result<SyncLatency> {
    let jobs = jobs(report)?;
    let lat = jobs
        .first()
        .and_then(|job| job.pointer("/sync/lat_ns"))
        .ok_or_else(|| anyhow!("fio report has no sync.lat_ns (was --fdatasync set?)"))?;
    let samples = lat.get("N").and_then(Value::as_u64).unwrap_or(0);
    if samples == 0 {
        bail!("fio timed no syncs");
    }
    let map = lat
        .get("percentile")
        .and_then(Value::as_object)
        .ok_or_else(|| anyhow!("fio report has no sync latency percentiles"))?;
    let us = |p: f64| {
        percentile_ns(map, p)
            .map(|ns| ns / 1e3)
            .ok_or_else(|| anyhow!("fio report lacks the p{p} sync latency"))
    };
    Ok(SyncLatency {
        p50_us: us(50.0)?,
        p99_us: us(99.0)?,
        p999_us: us(99.9)?,
        samples,
    })
}

/// Removes fio's scratch file when dropped, whatever happened to the run.
struct ScratchFile(PathBuf);

impl Drop for ScratchFile {
    fn drop(&mut self) {
        // The file may never have been created, or fio's `--unlink` already removed it.
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs one fio job on a scratch file in `data_dir` and returns its JSON report. The raw
/// report and fio's standard error are kept in `raw_dir` as `{name}.json` / `{name}.stderr`.
fn run_job(
    name: &str,
    data_dir: &Path,
    seconds: u64,
    raw_dir: &Path,
    job_args: &[String],
) -> anyhow::Result<String> {
    let file = ScratchFile(data_dir.join(format!("myelin-perf-{name}.fio")));
    let mut cmd = Command::new("fio");
    cmd.arg(format!("--name={name}"))
        .arg(format!("--filename={}", file.0.display()))
        .args(job_args)
        .arg(format!("--runtime={seconds}"))
        // `--thread` keeps the job inside the one fio process, so a kill on timeout ends it.
        .args([
            "--thread",
            "--time_based",
            "--unlink=1",
            "--output-format=json",
        ]);
    let ran = run_bounded(
        &mut cmd,
        Duration::from_secs(seconds) + TOOL_GRACE,
        &raw_dir.join(format!("{name}.json")),
        &raw_dir.join(format!("{name}.stderr")),
    )?;
    if !ran.status.success() {
        bail!("fio {name} failed ({}): {}", ran.status, tail(&ran.stderr));
    }
    Ok(ran.stdout)
}

/// Direct-I/O sequential write bandwidth (bytes/s) of the disk under `data_dir`, and the fio
/// I/O engine that measured it: io_uring (what Myelin uses) or, where fio or the kernel lacks
/// it, libaio.
pub fn measure_write_bandwidth(
    data_dir: &Path,
    seconds: u64,
    raw_dir: &Path,
) -> anyhow::Result<(u64, &'static str)> {
    let mut failures = Vec::new();
    for engine in ["io_uring", "libaio"] {
        let args = vec![
            "--rw=write".to_string(),
            "--direct=1".to_string(),
            format!("--ioengine={engine}"),
            format!("--bs={FIO_WRITE_BLOCK_BYTES}"),
            format!("--iodepth={FIO_WRITE_IODEPTH}"),
            format!("--size={FIO_WRITE_FILE_BYTES}"),
        ];
        let name = format!("write-{engine}");
        match run_job(&name, data_dir, seconds, raw_dir, &args)
            .and_then(|report| parse_write_bandwidth(&report))
        {
            Ok(bw) => return Ok((bw, engine)),
            Err(e) => failures.push(format!("{engine}: {e:#}")),
        }
    }
    bail!("direct sequential write failed: {}", failures.join("; "))
}

/// `fdatasync` latency after each 4 KiB write to a file under `data_dir`.
pub fn measure_sync_latency(
    data_dir: &Path,
    seconds: u64,
    raw_dir: &Path,
) -> anyhow::Result<SyncLatency> {
    let args = vec![
        "--rw=write".to_string(),
        "--fdatasync=1".to_string(),
        format!("--bs={FIO_SYNC_BLOCK_BYTES}"),
        format!("--size={FIO_SYNC_FILE_BYTES}"),
    ];
    let report = run_job("fdatasync", data_dir, seconds, raw_dir, &args)?;
    parse_sync_latency(&report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real reports from fio 3.33 on the development machine (ext4 on a virtio disk).
    const WRITE: &str = include_str!("../testdata/fio-write.json");
    const SYNC: &str = include_str!("../testdata/fio-fdatasync.json");

    #[test]
    fn write_bandwidth_is_read_from_bw_bytes() {
        assert_eq!(parse_write_bandwidth(WRITE).unwrap(), 2_558_413_703);
    }

    #[test]
    fn write_bandwidth_sums_jobs() {
        let two = r#"{"jobs":[{"error":0,"write":{"bw_bytes":100}},
                              {"error":0,"write":{"bw_bytes":23}}]}"#;
        assert_eq!(parse_write_bandwidth(two).unwrap(), 123);
    }

    #[test]
    fn sync_latency_percentiles_are_in_microseconds() {
        let lat = parse_sync_latency(SYNC).unwrap();
        assert_eq!(lat.samples, 1023);
        assert!((lat.p50_us - 3653.632).abs() < 1e-9);
        assert!((lat.p99_us - 8028.160).abs() < 1e-9);
        assert!((lat.p999_us - 15925.248).abs() < 1e-9);
    }

    #[test]
    fn a_failed_job_is_an_error() {
        let failed = r#"{"jobs":[{"error":22,"write":{"bw_bytes":0}}]}"#;
        let e = parse_write_bandwidth(failed).unwrap_err();
        assert!(e.to_string().contains("errno 22"), "{e}");
    }

    #[test]
    fn a_report_without_syncs_is_an_error() {
        // The write report has a `sync` section with no samples: fdatasync was not set.
        assert!(parse_sync_latency(WRITE).is_err());
        assert!(parse_sync_latency(r#"{"jobs":[]}"#).is_err());
        assert!(parse_sync_latency("fio: engine io_uring not loadable").is_err());
    }

    #[test]
    fn a_missing_percentile_is_an_error() {
        let short = r#"{"jobs":[{"error":0,"sync":{"lat_ns":{"N":3,
            "percentile":{"50.000000":1000,"99.000000":2000}}}}]}"#;
        let e = parse_sync_latency(short).unwrap_err();
        assert!(e.to_string().contains("p99.9"), "{e}");
    }

    #[test]
    fn version_drops_the_prefix() {
        assert_eq!(parse_version("fio-3.33\n").as_deref(), Some("3.33"));
        assert_eq!(parse_version("3.1").as_deref(), Some("3.1"));
        assert_eq!(parse_version(""), None);
    }
}
