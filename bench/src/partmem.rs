//! `myelin-bench partition-memory`: the resident memory of a single node holding idle
//! partitions, at several partition counts, and the cost of one partition as the slope.
//!
//! For each count the benchmark starts a broker on an empty scratch directory, reads its
//! memory once it answers, creates the partitions (topics of `--partitions` partitions each,
//! one CreateTopics request), waits until Metadata lists them all with leaders, lets it sit
//! for `--settle-s` and reads the memory again; then restarts it on the same directory (the
//! partitions now opened from disk rather than created) and reads it once more after the same
//! settle. Nothing is written to the partitions: they are idle and empty.

use crate::native::probe;
use crate::process::{alive, sibling_broker, wait_port_closed, BrokerProcess, Memory};
use crate::report::{git_commit, Machine};
use crate::startup::broker_command;
use anyhow::bail;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Flags of `myelin-bench partition-memory`.
#[derive(clap::Args, Clone, Debug)]
pub struct MemoryArgs {
    /// The broker binary (default: `myelin` beside this binary).
    #[arg(long)]
    pub broker_bin: Option<PathBuf>,
    /// Directory for the broker's data (a scratch subdirectory is made and removed).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The broker's client listener, on loopback.
    #[arg(long, default_value = "127.0.0.1:19612")]
    pub listen: String,
    /// Partition counts measured.
    #[arg(long, value_delimiter = ',', default_value = "0,1000,5000,10000")]
    pub counts: Vec<usize>,
    /// Partitions per topic (from the global `--partitions`, default 100).
    #[arg(skip = 100i32)]
    pub partitions: i32,
    /// Seconds the broker sits idle before its memory is read.
    #[arg(long, default_value_t = 10)]
    pub settle_s: u64,
    /// Times every count is measured, each on a new broker.
    #[arg(long, default_value_t = 1)]
    pub runs: u32,
    /// Longest any one start, creation or stop may take before the benchmark fails.
    #[arg(long, default_value_t = 300)]
    pub timeout_s: u64,
    /// An extra flag for the broker (repeat for several), e.g. `--broker-arg=--shards=1`.
    #[arg(long = "broker-arg", allow_hyphen_values = true)]
    pub broker_args: Vec<String>,
}

/// One broker at one partition count.
#[derive(Serialize, Debug, Clone)]
pub struct Point {
    /// Run number, from 1.
    pub run: u32,
    /// Partitions.
    pub partitions: usize,
    /// Memory once the new broker answered, before any topic.
    pub at_start: Option<Memory>,
    /// Memory after the partitions were created and the broker sat idle.
    pub created: Option<Memory>,
    /// Memory of the restarted broker (partitions opened from disk) after the same settle.
    pub restarted: Option<Memory>,
    /// CreateTopics until every partition was served, seconds.
    pub create_s: f64,
}

/// A least-squares line through (partitions, bytes).
#[derive(Serialize, Debug, Clone, Copy, Default, PartialEq)]
pub struct Fit {
    /// Bytes per partition.
    pub slope_bytes: f64,
    /// Bytes at zero partitions.
    pub intercept_bytes: f64,
}

/// Least-squares fit of `ys` on `xs`.
pub fn fit(points: &[(f64, f64)]) -> Fit {
    let n = points.len() as f64;
    if points.len() < 2 {
        return Fit::default();
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx == 0.0 {
        return Fit::default();
    }
    let slope = sxy / sxx;
    Fit {
        slope_bytes: slope,
        intercept_bytes: my - slope * mx,
    }
}

/// The per-partition cost, fitted over every point.
#[derive(Serialize, Debug, Clone, Copy, Default)]
pub struct Slopes {
    /// RSS after creation.
    pub created_rss: Fit,
    /// Anonymous RSS after creation.
    pub created_anon: Fit,
    /// RSS after a restart.
    pub restarted_rss: Fit,
    /// Anonymous RSS after a restart.
    pub restarted_anon: Fit,
}

/// What `partition-memory` measured.
#[derive(Serialize, Debug)]
pub struct MemoryReport {
    /// Tool and version.
    pub tool: String,
    /// Git commit, when known.
    pub git_commit: Option<String>,
    /// The machine.
    pub machine: Machine,
    /// The broker binary.
    pub broker_bin: String,
    /// Extra broker flags.
    pub broker_args: Vec<String>,
    /// Partitions per topic.
    pub partitions_per_topic: i32,
    /// Idle seconds before each reading.
    pub settle_s: u64,
    /// Every reading.
    pub points: Vec<Point>,
    /// The fitted cost per partition.
    pub slopes: Slopes,
}

/// Runs `myelin-bench partition-memory`.
pub fn run(args: &MemoryArgs, out: &Path) -> anyhow::Result<MemoryReport> {
    if args.partitions < 1 {
        bail!("--partitions must be at least 1");
    }
    std::fs::create_dir_all(out)?;
    let bin = args.broker_bin.clone().unwrap_or_else(sibling_broker);
    let mut points = Vec::new();
    for run in 1..=args.runs.max(1) {
        for &count in &args.counts {
            let scratch = args.data_dir.join(format!(
                "myelin-memory-bench-{}-{run}-{count}",
                std::process::id()
            ));
            let p = measure(args, &bin, &scratch, out, run, count);
            std::fs::remove_dir_all(&scratch).ok();
            let p = p?;
            let mib =
                |m: Option<Memory>| m.map_or(0.0, |m| m.rss_bytes as f64 / f64::from(1 << 20));
            eprintln!(
                "run {run}, {count} partitions: RSS {:.1} MiB at start, {:.1} MiB created, \
                 {:.1} MiB restarted",
                mib(p.at_start),
                mib(p.created),
                mib(p.restarted)
            );
            points.push(p);
        }
    }
    let line = |f: &dyn Fn(&Point) -> Option<u64>| {
        fit(&points
            .iter()
            .filter_map(|p| Some((p.partitions as f64, f(p)? as f64)))
            .collect::<Vec<_>>())
    };
    let slopes = Slopes {
        created_rss: line(&|p| p.created.map(|m| m.rss_bytes)),
        created_anon: line(&|p| p.created.map(|m| m.rss_anon_bytes)),
        restarted_rss: line(&|p| p.restarted.map(|m| m.rss_bytes)),
        restarted_anon: line(&|p| p.restarted.map(|m| m.rss_anon_bytes)),
    };
    let report = MemoryReport {
        tool: format!("myelin-bench {}", env!("CARGO_PKG_VERSION")),
        git_commit: git_commit(),
        machine: Machine::detect(),
        broker_bin: bin.display().to_string(),
        broker_args: args.broker_args.clone(),
        partitions_per_topic: args.partitions,
        settle_s: args.settle_s,
        points,
        slopes,
    };
    std::fs::write(
        out.join("partition-memory.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    Ok(report)
}

fn measure(
    args: &MemoryArgs,
    bin: &Path,
    scratch: &Path,
    out: &Path,
    run: u32,
    count: usize,
) -> anyhow::Result<Point> {
    let timeout = Duration::from_secs(args.timeout_s);
    let settle = Duration::from_secs(args.settle_s);
    let command = broker_command(scratch, &args.listen, &args.broker_args);
    let log = out.join(format!("broker-{run}-{count}.log"));
    wait_port_closed(&args.listen, timeout)?;
    let mut broker = BrokerProcess::start(bin, &command, &log)?;
    let pid = broker.pid;
    probe::wait_up(&args.listen, &|| alive(pid), Instant::now() + timeout)?;
    let at_start = broker.memory();
    let per_topic = args.partitions as usize;
    let mut topics = Vec::new();
    let t = Instant::now();
    if count > 0 {
        if count % per_topic != 0 {
            bail!("{count} partitions is not a whole number of {per_topic}-partition topics");
        }
        topics = probe::create_topics(
            &args.listen,
            "idle",
            count / per_topic,
            args.partitions,
            count / per_topic,
            timeout,
        )?;
    }
    let create_s = t.elapsed().as_secs_f64();
    std::thread::sleep(settle);
    let created = broker.memory();
    broker.terminate(timeout)?;
    wait_port_closed(&args.listen, timeout)?;
    let mut broker = BrokerProcess::start(bin, &command, &log)?;
    let deadline = broker.spawned + timeout;
    let pid = broker.pid;
    if topics.is_empty() {
        probe::wait_up(&args.listen, &|| alive(pid), deadline)?;
    } else {
        probe::watch_start(
            &args.listen,
            broker.spawned,
            &|| alive(pid),
            &topics,
            per_topic,
            false,
            deadline,
        )?;
    }
    std::thread::sleep(settle);
    let restarted = broker.memory();
    broker.terminate(timeout)?;
    Ok(Point {
        run,
        partitions: count,
        at_start,
        created,
        restarted,
        create_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_recovers_a_line() {
        let f = fit(&[(0.0, 10.0), (1000.0, 2010.0), (5000.0, 10010.0)]);
        assert!((f.slope_bytes - 2.0).abs() < 1e-9);
        assert!((f.intercept_bytes - 10.0).abs() < 1e-6);
        assert_eq!(fit(&[(1.0, 1.0)]), Fit::default());
        assert_eq!(fit(&[(1.0, 1.0), (1.0, 2.0)]), Fit::default());
    }
}
