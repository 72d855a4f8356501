//! The command line: global flags and the subcommands.

use crate::params::WorkloadArgs;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// `myelin-bench`'s flags.
#[derive(Parser)]
#[command(
    name = "myelin-bench",
    about = "Kafka-protocol load generator with HdrHistogram reports",
    after_help = "Workloads (BENCHMARKING.md): latency-fixed-rate, max-throughput, \
                  fsync-every-batch, fanout, catch-up, many-partitions. Every workload \
                  parameter can be overridden; see `myelin-bench run --help`."
)]
pub struct Cli {
    /// Bootstrap address of the broker under test.
    #[arg(long, default_value = "127.0.0.1:9092", global = true)]
    pub bootstrap: String,
    /// Topic of `produce`/`consume` (default `bench`); `run` uses `--topic-prefix`.
    #[arg(long, global = true)]
    pub topic: Option<String>,
    /// Partitions per topic (overrides the workload's default).
    #[arg(long, global = true)]
    pub partitions: Option<i32>,
    /// Directory for the report files.
    #[arg(long, global = true)]
    pub out: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Subcommand)]
pub enum Command {
    /// Run a workload: producers and consumers together, latency and throughput measured.
    Run {
        #[command(flatten)]
        workload: WorkloadArgs,
    },
    /// Run one workload against two brokers alternately (A, B, A, B, …) and report B/A.
    Compare {
        /// Bootstrap address of broker A.
        #[arg(long)]
        a: String,
        /// Bootstrap address of broker B.
        #[arg(long)]
        b: String,
        /// Label of A in tables and charts.
        #[arg(long, default_value = "A")]
        label_a: String,
        /// Label of B in tables and charts.
        #[arg(long, default_value = "B")]
        label_b: String,
        /// Rounds; each runs A then B.
        #[arg(long, default_value_t = 3)]
        rounds: u32,
        /// Replicas of B's topics instead of `--replication-factor` (with `--b` the same
        /// address as `--a`, one cluster compares RF=1 with RF=3).
        #[arg(long)]
        b_replication_factor: Option<i16>,
        /// Topic configuration of B's topics instead of `--topic-config`, `key=value`,
        /// repeatable (e.g. `min.insync.replicas=2`).
        #[arg(long)]
        b_topic_config: Option<Vec<String>>,
        /// librdkafka settings of B's clients instead of `--rdkafka-config`, `key=value`,
        /// repeatable (with `--b` the same broker's TLS listener, TLS against plaintext).
        #[arg(long)]
        b_rdkafka_config: Option<Vec<String>>,
        #[command(flatten)]
        workload: WorkloadArgs,
    },
    /// The partition log alone on this disk: append throughput and fsync-acknowledged append
    /// latency on one shard, beside fio's figures for the same directory
    /// (`myelin-perf baseline`, run first).
    Log(crate::logbench::LogArgs),
    /// Write a volume across many partitions, then time opening them after a clean shutdown
    /// and after a crash.
    Recovery(crate::logbench::RecoveryArgs),
    /// Create topics through `--bootstrap` and time until every broker of `--brokers` lists
    /// each with a leader.
    MetadataPropagation(crate::native::propagation::PropagationArgs),
    /// Start a single node holding many partitions and time until it serves, after a clean
    /// stop and after kill -9.
    Startup(crate::startup::StartupArgs),
    /// Resident memory of a single node at several counts of idle partitions.
    PartitionMemory(crate::partmem::MemoryArgs),
    /// (librdkafka only) Produce messages and measure acknowledgement latency.
    Produce {
        /// Messages to send.
        #[arg(long, default_value_t = 1_000_000)]
        messages: u64,
        /// Value size in bytes.
        #[arg(long, default_value_t = 1024)]
        size: usize,
        /// acks: 0, 1 or all.
        #[arg(long, default_value = "all")]
        acks: String,
        /// librdkafka linger.ms.
        #[arg(long, default_value_t = 5)]
        linger_ms: u64,
        /// librdkafka batch.size in bytes.
        #[arg(long, default_value_t = 1_000_000)]
        batch_bytes: u64,
        /// Compression codec (none, lz4, zstd, snappy, gzip).
        #[arg(long, default_value = "none")]
        compression: String,
        /// Offered rate in messages per second; 0 sends as fast as possible.
        #[arg(long, default_value_t = 0)]
        rate: u64,
    },
    /// (librdkafka only) Consume a topic from the beginning and measure throughput.
    Consume {
        /// Messages to read before stopping.
        #[arg(long, default_value_t = 1_000_000)]
        messages: u64,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 120)]
        timeout_s: u64,
    },
}
