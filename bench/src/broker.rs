//! The broker's side of a run, when it runs on this machine (`--broker-pid`): CPU per thread
//! (Myelin's shards are the threads named `shard-*`), resident memory, and bytes written to and
//! read from disk, from `/proc`, sampled every second and cut to the measured window.
//!
//! Syncs per second are not visible from outside the process (Myelin's logs that sync before
//! every acknowledgement write with O_DSYNC, so there is no `fdatasync` call to count).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One look at the broker.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// When, in Unix nanoseconds.
    pub at_ns: u64,
    /// CPU time per thread, in clock ticks, keyed by `name/tid`.
    pub thread_ticks: BTreeMap<String, u64>,
    /// Resident memory in bytes.
    pub rss_bytes: u64,
    /// Bytes the process caused to be written to storage so far.
    pub write_bytes: u64,
    /// Bytes the process caused to be read from storage so far.
    pub read_bytes: u64,
}

/// What the broker used during the measured window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BrokerUsage {
    /// Process id sampled.
    pub pid: u32,
    /// Busy share of one core per thread that used any CPU, in percent, by thread name.
    pub cpu_percent: BTreeMap<String, f64>,
    /// Resident memory at the end of the window, bytes.
    pub rss_bytes: u64,
    /// Megabytes (10^6) per second written to disk.
    pub disk_write_mb_per_s: f64,
    /// Megabytes (10^6) per second read from disk.
    pub disk_read_mb_per_s: f64,
}

/// Clock ticks per second in `/proc` CPU times: Linux reports them in USER_HZ, 100 on every
/// architecture it runs on.
const USER_HZ: f64 = 100.0;

fn unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Fields of `/proc/<pid>/task/<tid>/stat` after the command: utime and stime are the 12th
/// and 13th.
fn ticks_of(stat: &str) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

fn field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Reads the broker's counters now; `None` once the process is gone.
pub fn snapshot(pid: u32) -> Option<Snapshot> {
    let base = format!("/proc/{pid}");
    let status = std::fs::read_to_string(format!("{base}/status")).ok()?;
    let io = std::fs::read_to_string(format!("{base}/io")).unwrap_or_default();
    let mut thread_ticks = BTreeMap::new();
    for entry in std::fs::read_dir(format!("{base}/task")).ok()?.flatten() {
        let tid = entry.file_name().to_string_lossy().into_owned();
        if let Some((name, ticks)) = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .as_deref()
            .and_then(ticks_of)
        {
            thread_ticks.insert(format!("{name}/{tid}"), ticks);
        }
    }
    Some(Snapshot {
        at_ns: unix_ns(),
        thread_ticks,
        rss_bytes: field(&status, "VmRSS:").unwrap_or(0) * 1024,
        write_bytes: field(&io, "write_bytes:").unwrap_or(0),
        read_bytes: field(&io, "read_bytes:").unwrap_or(0),
    })
}

/// Usage between two snapshots; `ticks_per_s` is the kernel's clock tick rate.
pub fn usage(pid: u32, a: &Snapshot, b: &Snapshot, ticks_per_s: f64) -> BrokerUsage {
    let secs = (b.at_ns.saturating_sub(a.at_ns)) as f64 / 1e9;
    let mut cpu_percent = BTreeMap::new();
    if secs > 0.0 {
        for (thread, &end) in &b.thread_ticks {
            let start = a.thread_ticks.get(thread).copied().unwrap_or(0);
            let busy = end.saturating_sub(start) as f64 / ticks_per_s / secs * 100.0;
            if busy > 0.0 {
                cpu_percent.insert(thread.clone(), (busy * 10.0).round() / 10.0);
            }
        }
    }
    let rate = |x: u64, y: u64| {
        if secs > 0.0 {
            y.saturating_sub(x) as f64 / secs / 1e6
        } else {
            0.0
        }
    };
    BrokerUsage {
        pid,
        cpu_percent,
        rss_bytes: b.rss_bytes,
        disk_write_mb_per_s: rate(a.write_bytes, b.write_bytes),
        disk_read_mb_per_s: rate(a.read_bytes, b.read_bytes),
    }
}

/// Samples the broker every second on a thread of its own until dropped.
pub struct Sampler {
    pid: u32,
    samples: Arc<Mutex<Vec<Snapshot>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> Sampler {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (samples.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                if let (Some(snap), Ok(mut v)) = (snapshot(pid), s.lock()) {
                    v.push(snap);
                }
                std::thread::sleep(Duration::from_millis(crate::limits::BROKER_SAMPLE_MS));
            }
        });
        Sampler {
            pid,
            samples,
            stop,
            thread: Some(thread),
        }
    }

    /// Usage between the samples nearest to `start_ns` and `end_ns` (Unix nanoseconds).
    pub fn usage(mut self, start_ns: u64, end_ns: u64) -> Option<BrokerUsage> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let samples = self.samples.lock().ok()?;
        let nearest = |ns: u64| samples.iter().min_by_key(|s| s.at_ns.abs_diff(ns));
        let (a, b) = (nearest(start_ns)?, nearest(end_ns)?);
        Some(usage(self.pid, a, b, USER_HZ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_thread_ticks_with_spaces_in_the_name() {
        let stat = "4077 (shard-0 x) R 4074 4074 1 0 -1 4194368 100 0 0 0 250 31 0 0 20 0 4 0";
        assert_eq!(ticks_of(stat), Some(("shard-0 x".to_string(), 281)));
    }

    #[test]
    fn usage_is_per_second_over_the_window() {
        let a = Snapshot {
            at_ns: 0,
            thread_ticks: [("shard-0-1/7".to_string(), 100)].into(),
            rss_bytes: 1,
            write_bytes: 0,
            read_bytes: 0,
        };
        let b = Snapshot {
            at_ns: 2_000_000_000,
            thread_ticks: [("shard-0-1/7".to_string(), 250)].into(),
            rss_bytes: 2,
            write_bytes: 40_000_000,
            read_bytes: 0,
        };
        let u = usage(9, &a, &b, 100.0);
        assert_eq!(u.cpu_percent.get("shard-0-1/7"), Some(&75.0));
        assert_eq!(u.disk_write_mb_per_s, 20.0);
        assert_eq!(u.rss_bytes, 2);
    }
}
