//! Running external tools (fio, iperf3, perf) with a deadline, their output kept in files.
//!
//! Output goes to files rather than pipes so a chatty tool can never block on a full pipe
//! while we wait for it, and so the raw reports stay next to the summary for a reader to check.

use crate::limits::TOOL_POLL_INTERVAL;
use anyhow::{bail, Context};
use std::fs::File;
use std::io::ErrorKind;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

/// What a finished tool left behind.
pub struct Ran {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it wrote to standard output.
    pub stdout: String,
    /// Everything it wrote to standard error.
    pub stderr: String,
}

/// Runs `cmd` to completion, killing it after `limit`. Standard output and error are written
/// to `stdout_path` and `stderr_path` and returned. A missing program is reported by name.
pub fn run_bounded(
    cmd: &mut Command,
    limit: Duration,
    stdout_path: &Path,
    stderr_path: &Path,
) -> anyhow::Result<Ran> {
    let program = cmd.get_program().to_string_lossy().to_string();
    let out =
        File::create(stdout_path).with_context(|| format!("creating {}", stdout_path.display()))?;
    let err =
        File::create(stderr_path).with_context(|| format!("creating {}", stderr_path.display()))?;
    let mut child = match cmd.stdout(out).stderr(err).spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            bail!("{program} is not installed (not in PATH)")
        }
        Err(e) => return Err(e).with_context(|| format!("starting {program}")),
    };
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            // Best effort: the child may have exited between the poll and the kill.
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{program} did not finish within {} s and was killed",
                limit.as_secs()
            );
        }
        std::thread::sleep(TOOL_POLL_INTERVAL);
    };
    Ok(Ran {
        status,
        stdout: std::fs::read_to_string(stdout_path)?,
        stderr: std::fs::read_to_string(stderr_path)?,
    })
}

/// The first line a program prints for `arg` (e.g. `--version`), or `None` if it cannot run.
pub fn first_line_of(program: &str, arg: &str) -> Option<String> {
    let out = Command::new(program).arg(arg).output().ok()?;
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    String::from_utf8_lossy(&text)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
}

/// The last few lines of a tool's standard error, for an error message.
pub fn tail(text: &str) -> String {
    const LINES: usize = 5;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines
        .iter()
        .skip(lines.len().saturating_sub(LINES))
        .copied()
        .collect::<Vec<_>>()
        .join(" | ")
}
