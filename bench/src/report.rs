//! A run's report: machine, parameters and results, as `report.json` and as a table for people.

use crate::params::Params;
use crate::stats::{Percentiles, Recorder, Window, PERCENTILE_LABELS};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// The machine a run was on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Hostname.
    pub hostname: String,
    /// Cores available to this process.
    pub cores: usize,
    /// CPU model from /proc/cpuinfo.
    pub cpu: String,
    /// Kernel release and version (uname -rv).
    pub kernel: String,
    /// Total memory in bytes, from /proc/meminfo.
    pub memory_bytes: u64,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

impl Machine {
    /// Describes this machine.
    pub fn detect() -> Machine {
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default();
        let memory_bytes = read("/proc/meminfo")
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024);
        let kernel = format!(
            "{} {}",
            read("/proc/sys/kernel/osrelease").trim(),
            read("/proc/sys/kernel/version").trim()
        );
        Machine {
            hostname: read("/proc/sys/kernel/hostname").trim().to_string(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
            kernel: kernel.trim().to_string(),
            memory_bytes,
        }
    }
}

/// The commit of the working directory's repository, if `git` can tell.
pub fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

/// Throughput of one side within the measured window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Side {
    /// Messages.
    pub messages: u64,
    /// Value bytes.
    pub bytes: u64,
    /// Messages per second.
    pub msgs_per_s: f64,
    /// Megabytes (10^6) of values per second.
    pub mb_per_s: f64,
    /// Errors.
    pub errors: u64,
}

impl Side {
    fn of(c: &crate::stats::Counts, seconds: f64) -> Side {
        let s = seconds.max(1e-9);
        Side {
            messages: c.messages,
            bytes: c.bytes,
            msgs_per_s: c.messages as f64 / s,
            mb_per_s: c.bytes as f64 / s / 1e6,
            errors: c.errors,
        }
    }
}

/// What a run measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// Length of the measured window, seconds.
    pub measured_s: f64,
    /// Offered messages per second (0: unlimited).
    pub offered_msgs_per_s: f64,
    /// Offered megabytes (10^6) per second (0: unlimited).
    pub offered_mb_per_s: f64,
    /// Producers: acknowledged within the window.
    pub produce: Side,
    /// Consumers: received within the window.
    pub consume: Side,
    /// Produce-ack latency, µs, from each message's intended send time.
    pub produce_ack_us: Option<Percentiles>,
    /// End-to-end latency, µs, from intended send time to receipt.
    pub end_to_end_us: Option<Percentiles>,
    /// Messages acknowledged in the window that no consumer group delivered before the end
    /// (counted once per group).
    pub end_to_end_missing: u64,
    /// The broker's CPU, memory and disk traffic (with `--broker-pid`).
    #[serde(default)]
    pub broker: Option<crate::broker::BrokerUsage>,
}

impl Results {
    /// Results from a merged recorder.
    pub fn of(rec: &Recorder, window: &Window, p: &Params) -> Results {
        let secs = window.seconds();
        let expected = rec.ack.len() * u64::from(p.consumer_groups);
        Results {
            measured_s: secs,
            offered_msgs_per_s: p.rate_msgs_per_s,
            offered_mb_per_s: p.rate_msgs_per_s * p.message_bytes as f64 / 1e6,
            produce: Side::of(&rec.produced, secs),
            consume: Side::of(&rec.consumed, secs),
            produce_ack_us: Percentiles::of(&rec.ack),
            end_to_end_us: Percentiles::of(&rec.e2e),
            end_to_end_missing: expected.saturating_sub(rec.e2e.len()),
            broker: None,
        }
    }
}

/// `report.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// Tool and version.
    pub tool: String,
    /// Git commit of the working directory, when known.
    pub git_commit: Option<String>,
    /// When the run started, seconds since the Unix epoch.
    pub started_at_unix_s: u64,
    /// The machine.
    pub machine: Machine,
    /// Every parameter of the run.
    pub parameters: serde_json::Value,
    /// What it measured.
    pub results: Results,
}

impl Report {
    /// A report of a run with `p` that measured `results`.
    pub fn new(p: &Params, results: Results, started_at_unix_s: u64) -> Report {
        Report {
            tool: format!("myelin-bench {}", env!("CARGO_PKG_VERSION")),
            git_commit: git_commit(),
            started_at_unix_s,
            machine: Machine::detect(),
            parameters: serde_json::to_value(p).unwrap_or_default(),
            results,
        }
    }

    /// A parameter as text, for tables.
    pub fn param(&self, key: &str) -> String {
        match self.parameters.get(key) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => String::new(),
        }
    }
}

/// Rows of the latency table: label and percentiles.
pub fn latency_rows(r: &Results) -> Vec<(&'static str, Option<Percentiles>)> {
    vec![
        ("produce-ack", r.produce_ack_us),
        ("end-to-end", r.end_to_end_us),
    ]
}

/// The human table printed after a run.
pub fn table(rep: &Report) -> String {
    let r = &rep.results;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "workload {}  client {}  bootstrap {}  cores {}",
        rep.param("workload"),
        rep.param("client"),
        rep.param("bootstrap"),
        rep.param("cores")
    );
    let offered = if r.offered_msgs_per_s > 0.0 {
        format!(
            "{:.0} msgs/s ({:.1} MB/s)",
            r.offered_msgs_per_s, r.offered_mb_per_s
        )
    } else {
        "unlimited".to_string()
    };
    let _ = writeln!(s, "offered {offered}, measured {:.1} s", r.measured_s);
    let _ = writeln!(
        s,
        "{:<12} {:>12} {:>10} {:>12} {:>8}",
        "", "msgs/s", "MB/s", "messages", "errors"
    );
    for (name, side) in [("produce", &r.produce), ("consume", &r.consume)] {
        let _ = writeln!(
            s,
            "{name:<12} {:>12.0} {:>10.1} {:>12} {:>8}",
            side.msgs_per_s, side.mb_per_s, side.messages, side.errors
        );
    }
    let _ = write!(s, "{:<12}", "latency µs");
    for l in PERCENTILE_LABELS {
        let _ = write!(s, " {l:>9}");
    }
    let _ = writeln!(s, " {:>10}", "samples");
    for (name, p) in latency_rows(r) {
        let _ = write!(s, "{name:<12}");
        match p {
            Some(p) => {
                for v in p.values() {
                    let _ = write!(s, " {v:>9}");
                }
                let _ = writeln!(s, " {:>10}", p.count);
            }
            None => {
                let _ = writeln!(s, " {:>9}", "-");
            }
        }
    }
    if r.end_to_end_missing > 0 {
        let _ = writeln!(
            s,
            "end-to-end: {} acknowledged messages not delivered before the end",
            r.end_to_end_missing
        );
    }
    if let Some(b) = &r.broker {
        let threads: Vec<String> = b
            .cpu_percent
            .iter()
            .filter(|(_, pct)| **pct >= 1.0)
            .map(|(t, pct)| format!("{t} {pct:.0}%"))
            .collect();
        let _ = writeln!(
            s,
            "broker pid {}: cpu {}; rss {:.0} MiB; disk write {:.1} MB/s, read {:.1} MB/s",
            b.pid,
            threads.join(", "),
            b.rss_bytes as f64 / (1u64 << 20) as f64,
            b.disk_write_mb_per_s,
            b.disk_read_mb_per_s
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{Params, WorkloadArgs};
    use crate::stats::record_us;

    fn sample() -> Report {
        let p = Params::resolve(&WorkloadArgs::default(), "127.0.0.1:1").unwrap();
        let mut rec = Recorder::default();
        for v in 1..=1000 {
            record_us(&mut rec.ack, v);
            record_us(&mut rec.e2e, 2 * v);
        }
        rec.produced.messages = 1000;
        rec.produced.bytes = 1_024_000;
        rec.consumed.messages = 900;
        let w = Window {
            start_ns: 0,
            end_ns: 2_000_000_000,
        };
        Report::new(&p, Results::of(&rec, &w, &p), 1_700_000_000)
    }

    #[test]
    fn report_round_trips_through_json() {
        let rep = sample();
        let text = serde_json::to_string_pretty(&rep).unwrap();
        let back: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(back, rep);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["parameters"]["workload"], "latency-fixed-rate");
        assert_eq!(v["parameters"]["acks"], -1);
        assert_eq!(v["results"]["produce"]["msgs_per_s"], 500.0);
        assert_eq!(v["results"]["produce"]["mb_per_s"], 0.512);
        assert_eq!(v["results"]["produce_ack_us"]["count"], 1000);
        assert!(v["machine"]["cores"].as_u64().unwrap() >= 1);
    }

    #[test]
    fn missing_deliveries_are_counted_per_group() {
        let rep = sample();
        assert_eq!(rep.results.end_to_end_missing, 0);
        let p = Params::resolve(&WorkloadArgs::default(), "x:1").unwrap();
        let mut rec = Recorder::default();
        record_us(&mut rec.ack, 5);
        record_us(&mut rec.ack, 5);
        record_us(&mut rec.e2e, 9);
        let w = Window {
            start_ns: 0,
            end_ns: 1,
        };
        assert_eq!(Results::of(&rec, &w, &p).end_to_end_missing, 1);
    }

    #[test]
    fn table_shows_rates_and_percentiles() {
        let t = table(&sample());
        assert!(t.contains("workload latency-fixed-rate"), "{t}");
        assert!(t.contains("produce               500"), "{t}");
        assert!(t.contains("p99.99"), "{t}");
        assert!(t.contains("produce-ack"), "{t}");
    }
}
