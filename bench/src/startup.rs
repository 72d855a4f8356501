//! `myelin-bench startup`: how long a single node holding many partitions takes to serve
//! again after a clean stop (SIGTERM) and after a crash (SIGKILL).
//!
//! The benchmark starts the broker on a scratch directory, creates the topics, writes a few
//! records into every partition, and then, run after run, stops it (SIGTERM, timed until the
//! process exits), starts it and watches it come up; then kills it (-9), starts it and
//! watches again. Each start is timed from the moment the process was spawned to the client
//! port accepting a connection, to a Metadata answer listing every partition with a leader,
//! and to an acknowledged produce (acks=all) into one partition.

use crate::native::probe::{self, Readiness};
use crate::process::{alive, sibling_broker, wait_port_closed, BrokerProcess, Memory};
use crate::report::{git_commit, Machine};
use anyhow::bail;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Flags of `myelin-bench startup`.
#[derive(clap::Args, Clone, Debug)]
pub struct StartupArgs {
    /// The broker binary (default: `myelin` beside this binary).
    #[arg(long)]
    pub broker_bin: Option<PathBuf>,
    /// Directory for the broker's data (a scratch subdirectory is made and removed).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The broker's client listener, on loopback.
    #[arg(long, default_value = "127.0.0.1:19611")]
    pub listen: String,
    /// Topics.
    #[arg(long, default_value_t = 100)]
    pub topics: usize,
    /// Partitions per topic (from the global `--partitions`, default 100).
    #[arg(skip = 100i32)]
    pub partitions: i32,
    /// Records written into every partition before the first stop.
    #[arg(long, default_value_t = 3)]
    pub records: usize,
    /// Runs; each is a clean stop and start, then a kill -9 and start.
    #[arg(long, default_value_t = 3)]
    pub runs: u32,
    /// Pause after a broker is up before it is stopped again, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub settle_ms: u64,
    /// Longest any one start or stop may take before the benchmark fails.
    #[arg(long, default_value_t = 300)]
    pub timeout_s: u64,
    /// An extra flag for the broker (repeat for several), e.g. `--broker-arg=--shards=1`.
    #[arg(long = "broker-arg", allow_hyphen_values = true)]
    pub broker_args: Vec<String>,
    /// Keep the scratch directory.
    #[arg(long)]
    pub keep: bool,
}

/// How the broker was stopped before a start.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Stop {
    /// SIGTERM, waited for.
    Clean,
    /// SIGKILL.
    Kill9,
}

/// One stop and start.
#[derive(Serialize, Debug, Clone)]
pub struct StartRun {
    /// Run number, from 1.
    pub run: u32,
    /// How the broker was stopped.
    pub stop: Stop,
    /// SIGTERM → the process exited, seconds (clean stops only).
    pub stop_s: Option<f64>,
    /// The process reaped → its port refused connections, seconds.
    pub port_linger_s: f64,
    /// The start's milestones.
    pub ready: Readiness,
    /// Memory once it produced, and the disk traffic of the start.
    pub memory: Option<Memory>,
}

/// Range of one milestone over the runs of one kind.
#[derive(Serialize, Debug, Clone, Copy, Default)]
pub struct Spread {
    /// Runs.
    pub runs: usize,
    /// Median, seconds.
    pub median_s: f64,
    /// Fastest, seconds.
    pub min_s: f64,
    /// Slowest, seconds.
    pub max_s: f64,
}

/// Medians and ranges of one kind of start.
#[derive(Serialize, Debug, Clone, Default)]
pub struct Summary {
    /// Until the port accepted.
    pub accept: Spread,
    /// Until Metadata listed every partition with a leader.
    pub metadata: Spread,
    /// Until a produce was acknowledged.
    pub produce: Spread,
    /// SIGTERM until exit (clean stops).
    pub stop: Option<Spread>,
}

/// What `startup` measured.
#[derive(Serialize, Debug)]
pub struct StartupReport {
    /// Tool and version.
    pub tool: String,
    /// Git commit, when known.
    pub git_commit: Option<String>,
    /// The machine.
    pub machine: Machine,
    /// The broker binary.
    pub broker_bin: String,
    /// Flags the broker was started with.
    pub broker_args: Vec<String>,
    /// Topics.
    pub topics: usize,
    /// Partitions per topic.
    pub partitions_per_topic: i32,
    /// Records per partition written before the runs.
    pub records_per_partition: usize,
    /// Creating the topics until served, seconds.
    pub create_s: f64,
    /// Writing the records, seconds.
    pub fill_s: f64,
    /// Memory after the fill.
    pub memory_after_fill: Option<Memory>,
    /// Every stop and start.
    pub runs: Vec<StartRun>,
    /// After a clean stop.
    pub clean: Summary,
    /// After kill -9.
    pub kill9: Summary,
}

/// Median, min and max of `xs`.
pub fn spread(xs: &[f64]) -> Spread {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return Spread::default();
    }
    let mid = n / 2;
    let median = if n % 2 == 1 {
        v.get(mid).copied().unwrap_or(0.0)
    } else {
        (v.get(mid - 1).copied().unwrap_or(0.0) + v.get(mid).copied().unwrap_or(0.0)) / 2.0
    };
    Spread {
        runs: n,
        median_s: median,
        min_s: v.first().copied().unwrap_or(0.0),
        max_s: v.last().copied().unwrap_or(0.0),
    }
}

fn summary(runs: &[StartRun], kind: Stop) -> Summary {
    let of = |f: &dyn Fn(&StartRun) -> f64| {
        spread(
            &runs
                .iter()
                .filter(|r| r.stop == kind)
                .map(f)
                .collect::<Vec<_>>(),
        )
    };
    let stops: Vec<f64> = runs
        .iter()
        .filter(|r| r.stop == kind)
        .filter_map(|r| r.stop_s)
        .collect();
    Summary {
        accept: of(&|r| r.ready.accept_s),
        metadata: of(&|r| r.ready.metadata_s),
        produce: of(&|r| r.ready.produce_s),
        stop: (!stops.is_empty()).then(|| spread(&stops)),
    }
}

/// The broker's command line for a data directory and listener.
pub fn broker_command(data_dir: &Path, listen: &str, extra: &[String]) -> Vec<String> {
    let mut args = vec![
        "--data-dir".to_string(),
        data_dir.display().to_string(),
        "--listen".to_string(),
        listen.to_string(),
    ];
    args.extend(extra.iter().cloned());
    args
}

/// Runs `myelin-bench startup`.
pub fn run(args: &StartupArgs, out: &Path) -> anyhow::Result<StartupReport> {
    if args.topics == 0 || args.partitions < 1 {
        bail!("need at least one topic of at least one partition");
    }
    std::fs::create_dir_all(out)?;
    let bin = args.broker_bin.clone().unwrap_or_else(sibling_broker);
    let scratch = args
        .data_dir
        .join(format!("myelin-startup-bench-{}", std::process::id()));
    let result = measure(args, &bin, &scratch, out);
    if !args.keep {
        std::fs::remove_dir_all(&scratch).ok();
    }
    let report = result?;
    std::fs::write(
        out.join("startup.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    Ok(report)
}

fn measure(
    args: &StartupArgs,
    bin: &Path,
    scratch: &Path,
    out: &Path,
) -> anyhow::Result<StartupReport> {
    let timeout = Duration::from_secs(args.timeout_s);
    let command = broker_command(scratch, &args.listen, &args.broker_args);
    let log = out.join("broker.log");
    wait_port_closed(&args.listen, timeout)?;
    let mut broker = BrokerProcess::start(bin, &command, &log)?;
    let pid = broker.pid;
    probe::wait_up(&args.listen, &|| alive(pid), Instant::now() + timeout)?;
    let t = Instant::now();
    let topics = probe::create_topics(
        &args.listen,
        "startup",
        args.topics,
        args.partitions,
        args.topics,
        timeout,
    )?;
    let create_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    probe::fill(&args.listen, &topics, args.partitions, args.records)?;
    let fill_s = t.elapsed().as_secs_f64();
    let memory_after_fill = broker.memory();
    eprintln!(
        "{} partitions created in {create_s:.2} s and filled in {fill_s:.2} s; RSS {} MiB",
        topics.len() * args.partitions as usize,
        memory_after_fill.map_or(0, |m| m.rss_bytes >> 20)
    );
    let mut runs = Vec::new();
    for run in 1..=args.runs.max(1) {
        for stop in [Stop::Clean, Stop::Kill9] {
            std::thread::sleep(Duration::from_millis(args.settle_ms));
            let stop_s = match stop {
                Stop::Clean => Some(broker.terminate(timeout)?.as_secs_f64()),
                Stop::Kill9 => {
                    broker.kill()?;
                    None
                }
            };
            // A new broker refuses to start while the old listener still answers.
            let port_linger_s = wait_port_closed(&args.listen, timeout)?.as_secs_f64();
            broker = BrokerProcess::start(bin, &command, &log)?;
            let deadline = broker.spawned + timeout;
            let pid = broker.pid;
            let ready = probe::watch_start(
                &args.listen,
                broker.spawned,
                &|| alive(pid),
                &topics,
                args.partitions as usize,
                true,
                deadline,
            )?;
            let r = StartRun {
                run,
                stop,
                stop_s,
                port_linger_s,
                ready,
                memory: broker.memory(),
            };
            eprintln!(
                "run {run} after {stop:?}: stop {} s, port closed {:.3} s later; accept {:.3} s, \
                 metadata {:.3} s, produce {:.3} s ({} produce errors first); RSS {} MiB, \
                 peak {} MiB, read {} MiB",
                r.stop_s.map_or("-".to_string(), |s| format!("{s:.3}")),
                port_linger_s,
                ready.accept_s,
                ready.metadata_s,
                ready.produce_s,
                ready.produce_errors,
                r.memory.map_or(0, |m| m.rss_bytes >> 20),
                r.memory.map_or(0, |m| m.peak_rss_bytes >> 20),
                r.memory.map_or(0, |m| m.disk_read_bytes >> 20)
            );
            runs.push(r);
        }
    }
    broker.terminate(timeout)?;
    Ok(StartupReport {
        tool: format!("myelin-bench {}", env!("CARGO_PKG_VERSION")),
        git_commit: git_commit(),
        machine: Machine::detect(),
        broker_bin: bin.display().to_string(),
        broker_args: command,
        topics: args.topics,
        partitions_per_topic: args.partitions,
        records_per_partition: args.records,
        create_s,
        fill_s,
        memory_after_fill,
        clean: summary(&runs, Stop::Clean),
        kill9: summary(&runs, Stop::Kill9),
        runs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_takes_median_and_range() {
        let s = spread(&[3.0, 1.0, 2.0]);
        assert_eq!((s.runs, s.median_s, s.min_s, s.max_s), (3, 2.0, 1.0, 3.0));
        let s = spread(&[4.0, 1.0]);
        assert_eq!(s.median_s, 2.5);
        assert_eq!(spread(&[]).runs, 0);
    }
}
