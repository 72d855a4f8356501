//! `profile`: a CPU profile of a running broker, of one shard's threads or of the whole
//! process, recorded with `perf` and, when inferno is installed, rendered as a flamegraph.
//!
//! Shard threads are named by glommio `shard-{N}-{executor id}` (the executor id starts at 1);
//! the blocking-pool thread a shard starts inherits that name, so `--shard N` records both.
//! See `docs/profiling.md` for the manual steps this wraps and how to read the result.

use crate::command::{first_line_of, run_bounded, tail};
use crate::limits::{
    MEASURE_SECONDS_MAX, PERF_DWARF_STACK_BYTES, PERF_POSTPROCESS_LIMIT, PERF_SAMPLE_HZ,
    PERF_TOP_FRAMES, TOOL_GRACE,
};
use anyhow::{bail, Context};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Command-line arguments of `profile`.
#[derive(clap::Args)]
pub struct Args {
    /// Process id of the running broker.
    #[arg(long)]
    pid: u32,
    /// Profile only this shard's threads (`shard-N-*`); without it, the whole process.
    #[arg(long)]
    shard: Option<u32>,
    /// Seconds to record.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Directory for `perf.data`, `stacks.folded`, `flamegraph.svg` and `top.txt`.
    #[arg(long)]
    out: PathBuf,
    /// Use frame pointers instead of DWARF unwinding (only useful if the broker was built
    /// with `-C force-frame-pointers=yes`; cheaper, but Rust release builds omit them).
    #[arg(long)]
    frame_pointers: bool,
}

/// The threads of `pid` as (thread id, name), from `/proc/PID/task/*/comm`.
fn threads(pid: u32) -> anyhow::Result<Vec<(u32, String)>> {
    let dir = format!("/proc/{pid}/task");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("no process {pid}"))? {
        let entry = entry?;
        let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        // A thread may exit between listing and reading; skip it.
        if let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) {
            out.push((tid, comm.trim().to_string()));
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// The shard number in a glommio thread name `shard-{N}-{executor id}`.
pub fn shard_of(thread_name: &str) -> Option<u32> {
    let rest = thread_name.strip_prefix("shard-")?;
    let (shard, executor) = rest.split_once('-')?;
    executor.parse::<u32>().ok()?;
    shard.parse().ok()
}

/// Thread ids of shard `shard`, in order.
pub fn shard_threads(threads: &[(u32, String)], shard: u32) -> Vec<u32> {
    threads
        .iter()
        .filter(|(_, name)| shard_of(name) == Some(shard))
        .map(|(tid, _)| *tid)
        .collect()
}

/// The functions with the most samples at the top of the stack ("self" time), from inferno's
/// folded stacks (`frame;frame;...;leaf COUNT` per line), with their share of all samples.
pub fn top_self_frames(folded: &str, n: usize) -> Vec<(String, f64)> {
    let mut by_frame: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    let mut total = 0u64;
    for line in folded.lines() {
        let Some((stack, count)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(count) = count.trim().parse::<u64>() else {
            continue;
        };
        let leaf = stack.rsplit(';').next().unwrap_or(stack);
        *by_frame.entry(leaf).or_default() += count;
        total += count;
    }
    let mut frames: Vec<(String, f64)> = by_frame
        .into_iter()
        .map(|(f, c)| (f.to_string(), c as f64 * 100.0 / total.max(1) as f64))
        .collect();
    frames.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    frames.truncate(n);
    frames
}

/// Whether `program` runs (is installed and in `PATH`).
fn installed(program: &str) -> bool {
    first_line_of(program, "--version").is_some()
}

/// Records the profile and renders what can be rendered.
pub fn run(args: &Args) -> anyhow::Result<()> {
    if args.seconds == 0 || args.seconds > MEASURE_SECONDS_MAX {
        bail!("--seconds must be between 1 and {MEASURE_SECONDS_MAX}");
    }
    if !installed("perf") {
        bail!("perf is not installed (Debian/Ubuntu: apt-get install linux-perf or linux-tools)");
    }
    std::fs::create_dir_all(&args.out)?;
    let target = match args.shard {
        Some(shard) => {
            let all = threads(args.pid)?;
            let tids = shard_threads(&all, shard);
            if tids.is_empty() {
                let names: Vec<&str> = all.iter().map(|(_, n)| n.as_str()).collect();
                bail!(
                    "process {} has no shard-{shard}-* thread (threads: {names:?})",
                    args.pid
                );
            }
            let list: Vec<String> = tids.iter().map(u32::to_string).collect();
            eprintln!("shard {shard}: threads {}", list.join(","));
            vec!["--tid".to_string(), list.join(",")]
        }
        None => vec!["--pid".to_string(), args.pid.to_string()],
    };
    record(args, &target)?;
    let folded = collapse(&args.out)?;
    let Some(folded) = folded else {
        println!(
            "wrote {}; inferno is not installed (cargo install inferno), so no flamegraph",
            args.out.join("perf.data").display()
        );
        return Ok(());
    };
    let mut top = format!(
        "hottest functions (self time, % of samples), {} s:\n",
        args.seconds
    );
    for (frame, pct) in top_self_frames(&folded, PERF_TOP_FRAMES) {
        // Writing to a String cannot fail.
        let _ = writeln!(top, "{pct:6.2}%  {frame}");
    }
    std::fs::write(args.out.join("top.txt"), &top)?;
    print!("{top}");
    println!("wrote {}", args.out.join("flamegraph.svg").display());
    Ok(())
}

/// `perf record` on the target for the requested time.
fn record(args: &Args, target: &[String]) -> anyhow::Result<()> {
    let paranoid = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let call_graph = if args.frame_pointers {
        "fp".to_string()
    } else {
        format!("dwarf,{PERF_DWARF_STACK_BYTES}")
    };
    let mut cmd = Command::new("perf");
    cmd.arg("record")
        .args([
            "-F",
            &PERF_SAMPLE_HZ.to_string(),
            "--call-graph",
            &call_graph,
        ])
        .args(target)
        .arg("-o")
        .arg(args.out.join("perf.data"))
        .args(["--", "sleep", &args.seconds.to_string()]);
    eprintln!("perf record for {} s ...", args.seconds);
    let ran = run_bounded(
        &mut cmd,
        Duration::from_secs(args.seconds) + TOOL_GRACE,
        &args.out.join("perf-record.stdout"),
        &args.out.join("perf-record.stderr"),
    )?;
    if !ran.status.success() {
        bail!(
            "perf record failed ({}): {} (kernel.perf_event_paranoid = {paranoid}; \
             without root a user may profile only its own processes, at 2 without kernel \
             frames and at 3 not at all: run as the broker's user or root, or \
             sysctl kernel.perf_event_paranoid=1)",
            ran.status,
            tail(&ran.stderr)
        );
    }
    Ok(())
}

/// `perf script` then inferno: `stacks.folded` and `flamegraph.svg`. `None` without inferno.
fn collapse(out: &Path) -> anyhow::Result<Option<String>> {
    if !installed("inferno-collapse-perf") || !installed("inferno-flamegraph") {
        return Ok(None);
    }
    eprintln!("perf script and inferno ...");
    let script = out.join("perf.script");
    // `--no-inline` skips addr2line lookups of inlined frames (25x slower on a 12 s shard
    // recording here); inlined functions are then attributed to their caller.
    let mut cmd = Command::new("perf");
    cmd.args(["script", "--no-inline", "-i"])
        .arg(out.join("perf.data"));
    let ran = run_bounded(
        &mut cmd,
        PERF_POSTPROCESS_LIMIT,
        &script,
        &out.join("perf-script.stderr"),
    )?;
    if !ran.status.success() {
        bail!("perf script failed ({}): {}", ran.status, tail(&ran.stderr));
    }
    let folded = out.join("stacks.folded");
    let mut cmd = Command::new("inferno-collapse-perf");
    cmd.arg(&script);
    let ran = run_bounded(
        &mut cmd,
        PERF_POSTPROCESS_LIMIT,
        &folded,
        &out.join("collapse.stderr"),
    )?;
    if !ran.status.success() {
        bail!(
            "inferno-collapse-perf failed ({}): {}",
            ran.status,
            tail(&ran.stderr)
        );
    }
    let mut cmd = Command::new("inferno-flamegraph");
    cmd.arg(&folded);
    let svg = out.join("flamegraph.svg");
    let ran = run_bounded(
        &mut cmd,
        PERF_POSTPROCESS_LIMIT,
        &svg,
        &out.join("flamegraph.stderr"),
    )?;
    if !ran.status.success() {
        bail!(
            "inferno-flamegraph failed ({}): {}",
            ran.status,
            tail(&ran.stderr)
        );
    }
    // The script is large and fully represented by the folded stacks.
    let _ = std::fs::remove_file(&script);
    Ok(Some(std::fs::read_to_string(&folded)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_numbers_come_from_glommio_thread_names() {
        assert_eq!(shard_of("shard-0-1"), Some(0));
        assert_eq!(shard_of("shard-12-13"), Some(12));
        assert_eq!(shard_of("shard-1"), None);
        assert_eq!(shard_of("signals"), None);
        assert_eq!(shard_of("iou-wrk-26878"), None);
    }

    #[test]
    fn a_shard_includes_its_blocking_thread_and_no_other_shard() {
        let threads: Vec<(u32, String)> = [
            (26875, "myelin"),
            (26877, "signals"),
            (26878, "shard-0-1"),
            (26879, "shard-1-2"),
            (26880, "shard-0-1"),
            (26881, "shard-1-2"),
            (26882, "iou-wrk-26878"),
            (26890, "shard-10-11"),
        ]
        .iter()
        .map(|(t, n)| (*t, n.to_string()))
        .collect();
        assert_eq!(shard_threads(&threads, 0), vec![26878, 26880]);
        assert_eq!(shard_threads(&threads, 1), vec![26879, 26881]);
        assert_eq!(shard_threads(&threads, 10), vec![26890]);
        assert!(shard_threads(&threads, 2).is_empty());
    }

    #[test]
    fn self_time_is_summed_by_leaf_frame() {
        let folded = "shard-0-1;main;poll;memcpy 30\n\
                      shard-0-1;main;write;memcpy 10\n\
                      shard-0-1;main;crc32c 50\n\
                      shard-0-1;[unknown] 10\n\
                      garbage line\n";
        let top = top_self_frames(folded, 2);
        assert_eq!(top.len(), 2);
        assert_eq!(top[0].0, "crc32c");
        assert!((top[0].1 - 50.0).abs() < 1e-9);
        assert_eq!(top[1].0, "memcpy");
        assert!((top[1].1 - 40.0).abs() < 1e-9);
        assert!(top_self_frames("", 5).is_empty());
    }
}
