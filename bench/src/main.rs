//! `myelin-bench`: a load generator for any Kafka-compatible broker, with HdrHistogram latency
//! reports (BENCHMARKING.md).
//!
//! `run` drives one named workload with producers and consumers together, through this crate's
//! own thread-per-core client (`--client native`, one pinned glommio executor per core) or
//! through librdkafka (`--client rdkafka`), and writes a table, `report.json`, `.hgrm` files,
//! a latency chart and `report.html`. `compare` runs one workload against two brokers
//! alternately and reports the ratios. `produce` and `consume` are the earlier
//! librdkafka-only modes.

mod broker;
mod chart;
mod cli;
mod compare;
mod html;
mod legacy;
mod limits;
mod logbench;
mod native;
mod output;
mod params;
mod partitioner;
mod partmem;
mod process;
mod rate;
mod rdk;
mod records;
mod report;
mod run;
mod startup;
mod stats;

use clap::Parser;
use cli::{Cli, Command};
use params::{Params, WorkloadArgs};
use std::path::PathBuf;

fn params(cli: &Cli, workload: &WorkloadArgs, bootstrap: &str) -> anyhow::Result<Params> {
    let mut args = workload.clone();
    args.partitions = cli.partitions;
    Params::resolve(&args, bootstrap)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        Command::Run { workload } => {
            let p = params(&cli, workload, &cli.bootstrap)?;
            let (rep, rec) = run::execute(&p)?;
            print!("{}", report::table(&rep));
            if let Some(dir) = &cli.out {
                output::write_run(dir, &rep, &rec)?;
                eprintln!("report written to {}", dir.display());
            }
        }
        Command::Compare {
            a,
            b,
            label_a,
            label_b,
            rounds,
            b_replication_factor,
            b_topic_config,
            b_rdkafka_config,
            workload,
        } => {
            let p = params(&cli, workload, a)?;
            let mut wb = workload.clone();
            if b_replication_factor.is_some() {
                wb.replication_factor = *b_replication_factor;
            }
            if b_topic_config.is_some() {
                wb.topic_config = b_topic_config.clone();
            }
            if b_rdkafka_config.is_some() {
                wb.rdkafka_config = b_rdkafka_config.clone();
            }
            let pb = params(&cli, &wb, b)?;
            let out = cli
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("bench-out/compare"));
            let args = compare::CompareArgs {
                a,
                b,
                label_a,
                label_b,
                rounds: (*rounds).max(1),
            };
            let cmp = compare::run(&p, &pb, &args, &out)?;
            print!("{}", compare::table(&cmp));
            eprintln!("comparison written to {}", out.display());
        }
        Command::Log(args) => {
            let out = cli
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("bench-out/log"));
            let mut args = args.clone();
            args.partitions = cli.partitions.map_or(1, |p| p.max(1) as usize);
            let report = logbench::run_log(&args, &out)?;
            logbench::print_log(&report);
            eprintln!("report written to {}", out.display());
        }
        Command::Recovery(args) => {
            let out = cli
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("bench-out/recovery"));
            let mut args = args.clone();
            args.partitions = cli.partitions.map_or(100, |p| p.max(1) as usize);
            let r = logbench::run_recovery(&args, &out)?;
            println!(
                "{} partitions, {:.1} GiB: written in {:.1} s; open after clean shutdown {:.3} s; \
                 open after crash {:.3} s",
                r.partitions,
                r.bytes as f64 / (1u64 << 30) as f64,
                r.write_s,
                r.clean_open_s,
                r.crash_open_s
            );
        }
        Command::MetadataPropagation(args) => {
            let mut args = args.clone();
            args.partitions = cli.partitions.unwrap_or(1);
            let r = native::propagation::run(&cli.bootstrap, &args, cli.out.as_deref())?;
            for round in &r.rounds {
                println!("{}", native::propagation::round_line(round));
            }
        }
        Command::Startup(args) => {
            let out = cli
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("bench-out/startup"));
            let mut args = args.clone();
            args.partitions = cli.partitions.unwrap_or(100);
            let r = startup::run(&args, &out)?;
            for (name, s) in [("clean stop", &r.clean), ("kill -9", &r.kill9)] {
                println!(
                    "after {name}: accept {:.3} s, metadata {:.3} s, produce {:.3} s (medians of {}; \
                     produce range {:.3}–{:.3} s)",
                    s.accept.median_s,
                    s.metadata.median_s,
                    s.produce.median_s,
                    s.produce.runs,
                    s.produce.min_s,
                    s.produce.max_s
                );
            }
            eprintln!("report written to {}", out.display());
        }
        Command::PartitionMemory(args) => {
            let out = cli
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("bench-out/partition-memory"));
            let mut args = args.clone();
            args.partitions = cli.partitions.unwrap_or(100);
            let r = partmem::run(&args, &out)?;
            let kib = |b: f64| b / 1024.0;
            println!(
                "per partition: {:.1} KiB RSS ({:.1} KiB anonymous) created, {:.1} KiB \
                 ({:.1} KiB) after a restart",
                kib(r.slopes.created_rss.slope_bytes),
                kib(r.slopes.created_anon.slope_bytes),
                kib(r.slopes.restarted_rss.slope_bytes),
                kib(r.slopes.restarted_anon.slope_bytes)
            );
            eprintln!("report written to {}", out.display());
        }
        Command::Produce {
            messages,
            size,
            acks,
            linger_ms,
            batch_bytes,
            compression,
            rate,
        } => {
            let common = common(&cli);
            let args = legacy::ProduceArgs {
                messages: *messages,
                size: *size,
                acks,
                linger_ms: *linger_ms,
                batch_bytes: *batch_bytes,
                compression,
                rate: *rate,
            };
            let report = legacy::produce(&common, args)?;
            legacy::finish(&common, &report)?;
        }
        Command::Consume {
            messages,
            timeout_s,
        } => {
            let common = common(&cli);
            let report = legacy::consume(&common, *messages, *timeout_s)?;
            legacy::finish(&common, &report)?;
        }
    }
    Ok(())
}

fn common(cli: &Cli) -> legacy::Common {
    legacy::Common {
        bootstrap: cli.bootstrap.clone(),
        topic: cli.topic.clone().unwrap_or_else(|| "bench".into()),
        partitions: cli.partitions.unwrap_or(6),
        out: cli.out.clone(),
    }
}
