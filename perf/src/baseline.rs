//! `baseline`: this machine's limits, measured in one go and written as `baseline.json` next to
//! a bench report, so its figures can be read as a fraction of the hardware.
//!
//! A missing or failing tool never fails the command: its fields are `null` and the reason is
//! in `errors`. Only a data directory or output directory we cannot use is fatal.

use crate::command::first_line_of;
use crate::limits::MEASURE_SECONDS_MAX;
use crate::{fio, iperf, machine};
use anyhow::{bail, Context};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Command-line arguments of `baseline`.
#[derive(clap::Args)]
pub struct Args {
    /// Directory on the disk to measure (the broker's data directory); created if missing.
    #[arg(long)]
    data_dir: PathBuf,
    /// Directory for `baseline.json`, `baseline.txt` and the tools' raw reports.
    #[arg(long)]
    out: PathBuf,
    /// Seconds each of the three measurements runs.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// TCP port on 127.0.0.1 for the iperf3 server.
    #[arg(long, default_value_t = 5201)]
    iperf3_port: u16,
}

/// What `baseline.json` holds. Field names are read by the bench report; keep them stable.
#[derive(Serialize)]
struct Baseline {
    data_dir: String,
    filesystem: Option<String>,
    filesystem_device: Option<String>,
    filesystem_options: Option<String>,
    kernel: Option<String>,
    cpu_model: Option<String>,
    cores: usize,
    fio_version: Option<String>,
    iperf3_version: Option<String>,
    measured_at: u64,
    seconds_per_measurement: u64,
    fio_ioengine: Option<&'static str>,
    fio_write_bandwidth_bytes_per_s: Option<u64>,
    fio_fdatasync_p50_us: Option<f64>,
    fio_fdatasync_p99_us: Option<f64>,
    fio_fdatasync_p999_us: Option<f64>,
    fio_fdatasync_samples: Option<u64>,
    iperf3_bandwidth_bytes_per_s: Option<u64>,
    /// Why a measurement is `null`, one sentence per failure.
    errors: Vec<String>,
}

/// Runs the measurements and writes the reports.
pub fn run(args: &Args) -> anyhow::Result<()> {
    if args.seconds == 0 || args.seconds > MEASURE_SECONDS_MAX {
        bail!("--seconds must be between 1 and {MEASURE_SECONDS_MAX}");
    }
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let data_dir = args.data_dir.canonicalize()?;
    let raw_dir = args.out.join("baseline-raw");
    std::fs::create_dir_all(&raw_dir).with_context(|| format!("creating {}", raw_dir.display()))?;

    let mut b = describe(&data_dir, args.seconds);
    let fio_version = b.fio_version.clone();
    if fio_version.is_none() {
        b.errors
            .push("fio is not installed: disk figures not measured".into());
    } else {
        eprintln!("fio: direct sequential write, {} s ...", args.seconds);
        match fio::measure_write_bandwidth(&data_dir, args.seconds, &raw_dir) {
            Ok((bw, engine)) => {
                b.fio_write_bandwidth_bytes_per_s = Some(bw);
                b.fio_ioengine = Some(engine);
            }
            Err(e) => b.errors.push(format!("{e:#}")),
        }
        eprintln!("fio: fdatasync latency, {} s ...", args.seconds);
        match fio::measure_sync_latency(&data_dir, args.seconds, &raw_dir) {
            Ok(lat) => {
                b.fio_fdatasync_p50_us = Some(lat.p50_us);
                b.fio_fdatasync_p99_us = Some(lat.p99_us);
                b.fio_fdatasync_p999_us = Some(lat.p999_us);
                b.fio_fdatasync_samples = Some(lat.samples);
            }
            Err(e) => b.errors.push(format!("fdatasync: {e:#}")),
        }
    }
    if b.iperf3_version.is_none() {
        b.errors
            .push("iperf3 is not installed: loopback bandwidth not measured".into());
    } else {
        eprintln!("iperf3: loopback TCP, {} s ...", args.seconds);
        match iperf::measure(args.iperf3_port, args.seconds, &raw_dir) {
            Ok(bw) => b.iperf3_bandwidth_bytes_per_s = Some(bw),
            Err(e) => b.errors.push(format!("{e:#}")),
        }
    }

    let json = serde_json::to_string_pretty(&b)?;
    std::fs::write(args.out.join("baseline.json"), json + "\n")?;
    let text = table(&b);
    std::fs::write(args.out.join("baseline.txt"), &text)?;
    print!("{text}");
    println!("wrote {}", args.out.join("baseline.json").display());
    Ok(())
}

/// Everything about the machine that does not need a measurement.
fn describe(data_dir: &Path, seconds: u64) -> Baseline {
    let mount = std::fs::read_to_string("/proc/mounts")
        .ok()
        .and_then(|m| machine::mount_of(&m, data_dir));
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    Baseline {
        data_dir: data_dir.display().to_string(),
        filesystem: mount.as_ref().map(|m| m.fs_type.clone()),
        filesystem_device: mount.as_ref().map(|m| m.device.clone()),
        filesystem_options: mount.map(|m| m.options),
        kernel: machine::kernel(),
        cpu_model: machine::cpu_model(&cpuinfo),
        cores: machine::cores(),
        fio_version: first_line_of("fio", "--version").and_then(|v| fio::parse_version(&v)),
        iperf3_version: first_line_of("iperf3", "--version").and_then(|v| iperf::parse_version(&v)),
        measured_at: machine::unix_seconds(),
        seconds_per_measurement: seconds,
        fio_ioengine: None,
        fio_write_bandwidth_bytes_per_s: None,
        fio_fdatasync_p50_us: None,
        fio_fdatasync_p99_us: None,
        fio_fdatasync_p999_us: None,
        fio_fdatasync_samples: None,
        iperf3_bandwidth_bytes_per_s: None,
        errors: Vec::new(),
    }
}

/// Bytes per second as decimal MB/s (the unit of the bench report), or `not measured`.
fn mb_per_s(bytes_per_s: Option<u64>) -> String {
    bytes_per_s.map_or("not measured".into(), |b| {
        format!(
            "{:.0} MB/s ({:.1} Gbit/s)",
            b as f64 / 1e6,
            b as f64 * 8.0 / 1e9
        )
    })
}

/// A latency in microseconds, or `-`.
fn us(v: Option<f64>) -> String {
    // Sub-10 µs figures (a RAM disk, a battery-backed cache) need the decimal.
    v.map_or("-".into(), |v| {
        if v < 10.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.0}")
        }
    })
}

/// The human-readable summary.
fn table(b: &Baseline) -> String {
    let unknown = || "unknown".to_string();
    let mut t = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        t,
        "machine    {} x {}, kernel {}",
        b.cores,
        b.cpu_model.clone().unwrap_or_else(unknown),
        b.kernel.clone().unwrap_or_else(unknown)
    );
    let _ = writeln!(
        t,
        "data dir   {} ({} on {})",
        b.data_dir,
        b.filesystem.clone().unwrap_or_else(unknown),
        b.filesystem_device.clone().unwrap_or_else(unknown)
    );
    let _ = writeln!(t, "{:<44} measured", "limit");
    let engine = b.fio_ioengine.unwrap_or("-");
    let _ = writeln!(
        t,
        "{:<44} {}",
        format!("direct seq. write, 1 MiB, {engine} (fio)"),
        mb_per_s(b.fio_write_bandwidth_bytes_per_s)
    );
    let _ = writeln!(
        t,
        "{:<44} {} / {} / {} us ({} syncs)",
        "fdatasync after 4 KiB, p50 / p99 / p99.9",
        us(b.fio_fdatasync_p50_us),
        us(b.fio_fdatasync_p99_us),
        us(b.fio_fdatasync_p999_us),
        b.fio_fdatasync_samples
            .map_or("-".into(), |n| n.to_string())
    );
    let _ = writeln!(
        t,
        "{:<44} {}",
        "loopback TCP, 1 stream (iperf3)",
        mb_per_s(b.iperf3_bandwidth_bytes_per_s)
    );
    for e in &b.errors {
        let _ = writeln!(t, "not measured: {e}");
    }
    t
}
