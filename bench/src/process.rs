//! A broker process that a benchmark starts, measures and stops: spawn with its log in a
//! file, SIGTERM and wait, SIGKILL, and its memory from `/proc`.
//!
//! A broker still running when its [`BrokerProcess`] is dropped is killed, so a benchmark
//! that fails half-way leaves nothing behind.

use anyhow::{bail, Context};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How often a stopping broker is checked for having exited.
const EXIT_POLL_MS: u64 = 5;

/// A running broker.
pub struct BrokerProcess {
    child: Option<Child>,
    /// Its process id.
    pub pid: u32,
    /// When it was spawned.
    pub spawned: Instant,
}

/// The broker binary beside this one (`target/release/myelin` next to `myelin-bench`).
pub fn sibling_broker() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("myelin")))
        .unwrap_or_else(|| PathBuf::from("myelin"))
}

impl BrokerProcess {
    /// Starts `bin` with `args`, its stdout and stderr appended to `log`.
    pub fn start(bin: &Path, args: &[String], log: &Path) -> anyhow::Result<BrokerProcess> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let err = out.try_clone()?;
        let spawned = Instant::now();
        let child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(BrokerProcess {
            pid: child.id(),
            child: Some(child),
            spawned,
        })
    }

    /// Whether it has exited (and reaps it if so).
    pub fn exited(&mut self) -> anyhow::Result<Option<std::process::ExitStatus>> {
        match self.child.as_mut() {
            Some(c) => Ok(c.try_wait()?),
            None => bail!("the broker was already stopped"),
        }
    }

    /// Sends SIGTERM and waits for the process to exit; returns how long that took. Kills
    /// it and fails if it has not exited within `grace`.
    pub fn terminate(&mut self, grace: Duration) -> anyhow::Result<Duration> {
        let t = Instant::now();
        signal(self.pid, libc::SIGTERM)?;
        loop {
            if let Some(status) = self.exited()? {
                self.child = None;
                if !status.success() {
                    bail!("the broker exited with {status} after SIGTERM");
                }
                return Ok(t.elapsed());
            }
            if t.elapsed() > grace {
                self.kill()?;
                bail!("the broker had not exited {grace:?} after SIGTERM: killed");
            }
            std::thread::sleep(Duration::from_millis(EXIT_POLL_MS));
        }
    }

    /// Sends SIGKILL and reaps the process.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait()?;
        }
        Ok(())
    }

    /// Its memory now; `None` once it is gone.
    pub fn memory(&self) -> Option<Memory> {
        Memory::of(self.pid)
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// Whether process `pid` still runs (it exists and is not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let after = s.get(s.rfind(')')? + 2..)?;
            after.chars().next()
        })
        .is_some_and(|state| state != 'Z' && state != 'X')
}

/// Waits until nothing accepts connections on `addr` any more and returns how long that
/// took. A Myelin killed with SIGKILL keeps accepting for a few milliseconds after it has
/// been reaped: its io_uring ring, which holds the listening socket through a pending
/// accept, is torn down asynchronously by the kernel.
pub fn wait_port_closed(addr: &str, timeout: Duration) -> anyhow::Result<Duration> {
    let sock: std::net::SocketAddr = addr.parse().with_context(|| format!("address {addr}"))?;
    let t = Instant::now();
    while std::net::TcpStream::connect_timeout(&sock, Duration::from_millis(50)).is_ok() {
        if t.elapsed() > timeout {
            bail!("{addr} still accepts connections {timeout:?} after the broker stopped");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(t.elapsed())
}

fn signal(pid: u32, sig: libc::c_int) -> anyhow::Result<()> {
    let pid = libc::pid_t::try_from(pid).context("process id out of range")?;
    // SAFETY: kill(2) with a pid of a child this process spawned and has not reaped.
    if unsafe { libc::kill(pid, sig) } != 0 {
        bail!("kill({pid}, {sig}): {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// A process's memory, from `/proc/<pid>/status` and `/proc/<pid>/smaps_rollup`, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Memory {
    /// Resident set (VmRSS).
    pub rss_bytes: u64,
    /// Largest resident set so far (VmHWM).
    pub peak_rss_bytes: u64,
    /// Resident anonymous memory (RssAnon): heap, stacks, glommio's buffers.
    pub rss_anon_bytes: u64,
    /// Resident file-backed memory (RssFile): the binary and libraries.
    pub rss_file_bytes: u64,
    /// Resident shared memory (RssShmem).
    pub rss_shmem_bytes: u64,
    /// Locked memory (VmLck): what glommio registered with io_uring.
    pub locked_bytes: u64,
    /// Proportional set size (Pss, smaps_rollup).
    pub pss_bytes: u64,
    /// Threads.
    pub threads: u64,
    /// Open file descriptors.
    pub fds: u64,
    /// Bytes the process has caused to be read from storage since it started
    /// (`/proc/<pid>/io` read_bytes).
    pub disk_read_bytes: u64,
    /// Bytes the process has caused to be written to storage since it started.
    pub disk_write_bytes: u64,
}

fn count_field(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
}

fn kib_field(text: &str, key: &str) -> u64 {
    count_field(text, key) * 1024
}

impl Memory {
    /// Reads process `pid`'s memory; `None` if it is gone.
    pub fn of(pid: u32) -> Option<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let rollup =
            std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64);
        let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
        Some(Memory {
            rss_bytes: kib_field(&status, "VmRSS:"),
            peak_rss_bytes: kib_field(&status, "VmHWM:"),
            rss_anon_bytes: kib_field(&status, "RssAnon:"),
            rss_file_bytes: kib_field(&status, "RssFile:"),
            rss_shmem_bytes: kib_field(&status, "RssShmem:"),
            locked_bytes: kib_field(&status, "VmLck:"),
            pss_bytes: kib_field(&rollup, "Pss:"),
            threads: count_field(&status, "Threads:"),
            fds,
            disk_read_bytes: count_field(&io, "read_bytes:"),
            disk_write_bytes: count_field(&io, "write_bytes:"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let m = Memory::of(std::process::id()).unwrap();
        assert!(m.rss_bytes > 0);
        assert!(m.rss_anon_bytes + m.rss_file_bytes + m.rss_shmem_bytes <= m.rss_bytes + 4096);
        assert!(m.threads >= 1);
        assert!(m.fds >= 1);
    }

    #[test]
    fn this_process_is_alive() {
        assert!(alive(std::process::id()));
        assert!(!alive(u32::MAX));
    }

    #[test]
    fn fields_are_kib() {
        let text = "Name:\tx\nVmRSS:\t  1234 kB\nThreads:\t3\n";
        assert_eq!(kib_field(text, "VmRSS:"), 1234 * 1024);
        assert_eq!(count_field(text, "Threads:"), 3);
        assert_eq!(kib_field(text, "Missing:"), 0);
    }
}
