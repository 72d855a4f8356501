//! iperf3: loopback TCP bandwidth, the ceiling for any broker serving clients on this machine.
//!
//! The runner starts a one-off iperf3 server on 127.0.0.1 as a child, runs one client against
//! it and always reaps the server; the parsers read iperf3's `-J` report and never do I/O.

use crate::command::{run_bounded, tail};
use crate::limits::{IPERF3_CONNECT_ATTEMPTS, TOOL_GRACE};
use anyhow::{anyhow, bail, Context};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The iperf3 version from `iperf3 --version` output (`iperf 3.12 (cJSON 1.7.15)` → `3.12`).
pub fn parse_version(text: &str) -> Option<String> {
    let line = text.lines().next()?;
    let mut words = line.split_whitespace();
    match (words.next(), words.next()) {
        (Some("iperf" | "iperf3"), Some(version)) => Some(version.to_string()),
        _ => None,
    }
}

/// Received bandwidth in bytes per second from an iperf3 `-J` report, or iperf3's own error.
pub fn parse_bandwidth(report: &str) -> anyhow::Result<u64> {
    let root: Value = serde_json::from_str(report).context("iperf3 report is not JSON")?;
    if let Some(error) = root.get("error").and_then(Value::as_str) {
        bail!("iperf3: {error}");
    }
    let bits = root
        .pointer("/end/sum_received/bits_per_second")
        .and_then(Value::as_f64)
        .ok_or_else(|| anyhow!("iperf3 report has no end.sum_received.bits_per_second"))?;
    if !bits.is_finite() || bits <= 0.0 {
        bail!("iperf3 measured no bandwidth");
    }
    // Whole bytes per second; the fraction is far below the measurement's noise.
    Ok((bits / 8.0) as u64)
}

/// Kills and reaps the iperf3 server when dropped, whatever happened to the client.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        // With `--one-off` the server has usually exited already; then both calls are no-ops.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Loopback TCP bandwidth (bytes/s) of one stream over `seconds`, using `port` on 127.0.0.1.
pub fn measure(port: u16, seconds: u64, raw_dir: &Path) -> anyhow::Result<u64> {
    let port_arg = port.to_string();
    let server = Command::new("iperf3")
        .args([
            "--server",
            "--one-off",
            "--bind",
            "127.0.0.1",
            "--port",
            &port_arg,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let _server = match server {
        Ok(child) => Server(child),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("iperf3 is not installed (not in PATH)")
        }
        Err(e) => return Err(e).context("starting the iperf3 server"),
    };
    let mut last_error = anyhow!("iperf3 client never ran");
    for _ in 0..IPERF3_CONNECT_ATTEMPTS {
        // The server needs a moment to listen; a refused connection means "not yet".
        std::thread::sleep(Duration::from_millis(200));
        let mut client = Command::new("iperf3");
        client.args([
            "--client",
            "127.0.0.1",
            "--port",
            &port_arg,
            "--json",
            "--time",
        ]);
        client.arg(seconds.to_string());
        let ran = run_bounded(
            &mut client,
            Duration::from_secs(seconds) + TOOL_GRACE,
            &raw_dir.join("iperf3.json"),
            &raw_dir.join("iperf3.stderr"),
        )?;
        match parse_bandwidth(&ran.stdout) {
            Ok(bw) => return Ok(bw),
            Err(e) if e.to_string().contains("Connection refused") => last_error = e,
            Err(e) => bail!("{e:#} ({}; {})", ran.status, tail(&ran.stderr)),
        }
    }
    Err(last_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real reports from iperf 3.12 on the development machine.
    const OK: &str = include_str!("../testdata/iperf3.json");
    const REFUSED: &str = include_str!("../testdata/iperf3-refused.json");

    #[test]
    fn bandwidth_is_received_bits_over_eight() {
        // 23_068_371_601.957855 bits/s.
        assert_eq!(parse_bandwidth(OK).unwrap(), 2_883_546_450);
    }

    #[test]
    fn iperf3_errors_are_reported_verbatim() {
        let e = parse_bandwidth(REFUSED).unwrap_err();
        assert_eq!(
            e.to_string(),
            "iperf3: unable to connect to server: Connection refused"
        );
    }

    #[test]
    fn a_report_without_a_summary_is_an_error() {
        assert!(parse_bandwidth(r#"{"start":{},"end":{}}"#).is_err());
        assert!(parse_bandwidth("iperf3: error").is_err());
        let zero = r#"{"end":{"sum_received":{"bits_per_second":0}}}"#;
        assert!(parse_bandwidth(zero).is_err());
    }

    #[test]
    fn version_is_the_second_word() {
        assert_eq!(
            parse_version("iperf 3.12 (cJSON 1.7.15)\nLinux vm").as_deref(),
            Some("3.12")
        );
        assert_eq!(parse_version("command not found"), None);
    }
}
