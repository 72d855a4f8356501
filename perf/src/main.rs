//! `myelin-perf`: machine checks, limits and profiles for latency-sensitive Myelin deployments.
//!
//! * `check` reads the settings that move a broker's tail latency on Linux and says, for each,
//!   the current value, the recommended one and why. It only reads; it changes nothing.
//! * `baseline` measures this machine's limits (direct-I/O write bandwidth and `fdatasync`
//!   latency with fio, loopback TCP bandwidth with iperf3) so a bench report can be read as a
//!   fraction of the hardware.
//! * `profile` records a CPU profile of one shard of a running broker with `perf` and, when
//!   inferno is installed, renders it as a flamegraph.

mod baseline;
mod check;
mod command;
mod fio;
mod iperf;
mod limits;
mod machine;
mod profile;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "myelin-perf",
    about = "Machine tuning checks, limits and profiles for Myelin"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect this machine and say what to change.
    Check {
        /// The broker's data directory (its disk is checked).
        #[arg(long, default_value = "myelin-data")]
        data_dir: PathBuf,
    },
    /// Measure this machine's limits (fio, iperf3) and write `baseline.json`.
    Baseline(baseline::Args),
    /// Record a CPU profile of a running broker (one shard or all) and render a flamegraph.
    Profile(profile::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Check { data_dir } => {
            check::print(&check::check(&data_dir));
            Ok(())
        }
        Command::Baseline(args) => baseline::run(&args),
        Command::Profile(args) => profile::run(&args),
    }
}
