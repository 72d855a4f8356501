//! Named workloads (BENCHMARKING.md) and the flags that override each of their parameters.
//!
//! A workload is only a set of defaults: [`WorkloadArgs`] holds what the command line gave
//! (every field optional), and [`Params::resolve`] fills the gaps from the workload's defaults.
//! The resolved [`Params`] are what a run uses and what `report.json` records.

use crate::limits;
use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use serde::Serialize;

/// The workloads of BENCHMARKING.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// 1 topic, 6 partitions, 1 KiB keyed values at 50 MiB/s, 1 producer + 1 consumer, acks=all.
    LatencyFixedRate,
    /// 1 topic, 12 partitions, 1 KiB values as fast as possible, acks=1.
    MaxThroughput,
    /// As latency-fixed-rate, with the topic created with `flush.messages=1` (fsync before ack).
    FsyncEveryBatch,
    /// 1 producer at 50 MiB/s, 4 consumer groups each reading every partition.
    Fanout,
    /// A backlog is written first; the consumer then reads it from the start while the producer
    /// keeps writing at 20 MiB/s.
    CatchUp,
    /// 1,000 partitions at 10 messages/s each.
    ManyPartitions,
}

/// Which client drives the load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    /// This crate's own thread-per-core client: one pinned glommio executor per `--cores` entry.
    Native,
    /// librdkafka through the `rdkafka` crate, an independent client to check figures with.
    Rdkafka,
}

/// Batch compression codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// No compression.
    None,
    /// gzip.
    Gzip,
    /// Snappy.
    Snappy,
    /// LZ4.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Codec {
    /// The name librdkafka's `compression.type` takes.
    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Gzip => "gzip",
            Codec::Snappy => "snappy",
            Codec::Lz4 => "lz4",
            Codec::Zstd => "zstd",
        }
    }
}

/// Workload flags. Each one left out takes the workload's default.
#[derive(Args, Clone, Debug, Default)]
pub struct WorkloadArgs {
    /// Workload whose defaults apply.
    #[arg(long, value_enum, default_value = "latency-fixed-rate")]
    pub workload: Option<Workload>,
    /// Client that drives the load.
    #[arg(long, value_enum, default_value = "native")]
    pub client: Option<ClientKind>,
    /// Cores for the native client's executors, e.g. `1` or `0,1` (default: all).
    #[arg(long, value_delimiter = ',')]
    pub cores: Option<Vec<usize>>,
    /// Number of topics.
    #[arg(long)]
    pub topics: Option<u32>,
    /// Topic name prefix; topics are `<prefix>-0`, `<prefix>-1`, … (default: unique per run,
    /// so a run never reads an earlier run's data).
    #[arg(long)]
    pub topic_prefix: Option<String>,
    /// Partitions per topic: the global `--partitions`, filled in by `main`.
    #[arg(skip)]
    pub partitions: Option<i32>,
    /// Value size in bytes (the first 8 carry the intended send time).
    #[arg(long)]
    pub message_bytes: Option<usize>,
    /// Distinct keys, hashed to partitions with murmur2 as the Java client does; 0 sends no
    /// keys and spreads messages round-robin.
    #[arg(long)]
    pub keys: Option<u64>,
    /// Producers (each with its own connections).
    #[arg(long)]
    pub producers: Option<u32>,
    /// Consumer groups. Each group reads every partition. The native client does not run the
    /// group protocol: a group's consumers split the partitions by static assignment, and
    /// the rdkafka client does the same with `assign` (no rebalance pauses in the figures).
    #[arg(long)]
    pub consumer_groups: Option<u32>,
    /// Consumers in each group.
    #[arg(long)]
    pub consumers_per_group: Option<u32>,
    /// Acknowledgements: 0, 1 or all.
    #[arg(long)]
    pub acks: Option<String>,
    /// Compression codec.
    #[arg(long, value_enum)]
    pub compression: Option<Codec>,
    /// Largest batch per partition in bytes (uncompressed).
    #[arg(long)]
    pub batch_bytes: Option<usize>,
    /// How long a batch waits for more messages, in microseconds (0: send as soon as a
    /// request slot is free; batches still grow while requests are in flight).
    #[arg(long)]
    pub linger_us: Option<u64>,
    /// Requests in flight per connection (native) or `max.in.flight` (rdkafka).
    #[arg(long)]
    pub max_in_flight: Option<u32>,
    /// Offered rate in messages per second over all producers; 0 is unlimited.
    #[arg(long, conflicts_with = "rate_mib")]
    pub rate: Option<f64>,
    /// Offered rate in MiB/s of values over all producers; 0 is unlimited.
    #[arg(long)]
    pub rate_mib: Option<f64>,
    /// Seconds of warm-up whose samples are not recorded.
    #[arg(long)]
    pub warmup_s: Option<f64>,
    /// Seconds measured after the warm-up.
    #[arg(long)]
    pub duration_s: Option<f64>,
    /// Most seconds to wait after the run for outstanding acks and for consumers to catch up.
    #[arg(long)]
    pub drain_s: Option<f64>,
    /// catch-up: MiB written before the measured run starts (the consumer starts this far
    /// behind).
    #[arg(long)]
    pub backlog_mib: Option<u64>,
    /// Topic configuration at creation, `key=value`, repeatable (e.g. `flush.messages=1`).
    #[arg(long)]
    pub topic_config: Option<Vec<String>>,
    /// Replicas of each topic created (a cluster: 3, with `--topic-config
    /// min.insync.replicas=2` for Kafka's durable setup) [default: 1].
    #[arg(long)]
    pub replication_factor: Option<i16>,
    /// Process id of the broker, when it runs on this machine: its CPU per thread (shard),
    /// memory and disk traffic during the measured window go in the report.
    #[arg(long)]
    pub broker_pid: Option<u32>,
    /// (`--client rdkafka` only) A librdkafka setting for every client of the run,
    /// `key=value`, repeatable: e.g. `security.protocol=SSL` and `ssl.ca.location=ca.pem`.
    #[arg(long)]
    pub rdkafka_config: Option<Vec<String>>,
}

/// Everything a run uses, resolved from a workload's defaults and the command line.
#[derive(Clone, Debug, Serialize)]
pub struct Params {
    /// Workload name.
    pub workload: Workload,
    /// Client that drives the load.
    pub client: ClientKind,
    /// Bootstrap address.
    pub bootstrap: String,
    /// Cores of the native client's executors.
    pub cores: Vec<usize>,
    /// Number of topics.
    pub topics: u32,
    /// Topic name prefix.
    pub topic_prefix: String,
    /// Partitions per topic.
    pub partitions: i32,
    /// Value size in bytes.
    pub message_bytes: usize,
    /// Distinct keys (0: none).
    pub keys: u64,
    /// Producers.
    pub producers: u32,
    /// Consumer groups.
    pub consumer_groups: u32,
    /// Consumers per group.
    pub consumers_per_group: u32,
    /// Kafka `acks`: 0, 1 or -1.
    pub acks: i16,
    /// Compression codec.
    pub compression: Codec,
    /// Largest batch per partition in bytes.
    pub batch_bytes: usize,
    /// Linger in microseconds.
    pub linger_us: u64,
    /// Requests in flight per connection.
    pub max_in_flight: u32,
    /// Offered messages per second over all producers; 0 is unlimited.
    pub rate_msgs_per_s: f64,
    /// Warm-up seconds.
    pub warmup_s: f64,
    /// Measured seconds.
    pub duration_s: f64,
    /// Most seconds spent draining after the run.
    pub drain_s: f64,
    /// Bytes written before the run (catch-up).
    pub backlog_bytes: u64,
    /// Consumers start from the earliest offset (catch-up) instead of the end.
    pub consume_from_start: bool,
    /// Topic configurations at creation.
    pub topic_configs: Vec<(String, String)>,
    /// Replicas of each topic created.
    pub replication_factor: i16,
    /// The broker's process id, for its side of the report.
    pub broker_pid: Option<u32>,
    /// librdkafka settings applied to every client of an rdkafka run.
    pub rdkafka_configs: Vec<(String, String)>,
}

/// The defaults one workload sets; a row of the table in BENCHMARKING.md.
struct Defaults {
    partitions: i32,
    keys: u64,
    producers: u32,
    consumer_groups: u32,
    acks: i16,
    batch_bytes: usize,
    rate_mib: f64,
    backlog_mib: u64,
    topic_configs: &'static [(&'static str, &'static str)],
}

fn defaults(workload: Workload) -> Defaults {
    let latency = Defaults {
        partitions: 6,
        keys: 1024,
        producers: 1,
        consumer_groups: 1,
        acks: -1,
        batch_bytes: 64 * 1024,
        rate_mib: 50.0,
        backlog_mib: 0,
        topic_configs: &[],
    };
    match workload {
        Workload::LatencyFixedRate => latency,
        Workload::FsyncEveryBatch => Defaults {
            topic_configs: &[("flush.messages", "1")],
            ..latency
        },
        Workload::MaxThroughput => Defaults {
            partitions: 12,
            acks: 1,
            batch_bytes: 256 * 1024,
            rate_mib: 0.0,
            ..latency
        },
        Workload::Fanout => Defaults {
            consumer_groups: 4,
            ..latency
        },
        Workload::CatchUp => Defaults {
            acks: 1,
            rate_mib: 20.0,
            backlog_mib: 10 * 1024,
            ..latency
        },
        Workload::ManyPartitions => Defaults {
            partitions: 1000,
            keys: 10_000,
            batch_bytes: 16 * 1024,
            // 10 messages/s for each of 1,000 partitions, 1 KiB each.
            rate_mib: 10_000.0 * 1024.0 / MIB,
            ..latency
        },
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// Parses `0`, `1`, `all` or `-1` into Kafka's `acks`.
pub fn parse_acks(s: &str) -> anyhow::Result<i16> {
    match s {
        "0" => Ok(0),
        "1" => Ok(1),
        "all" | "-1" => Ok(-1),
        other => bail!("acks must be 0, 1 or all, not {other:?}"),
    }
}

/// Parses `key=value`.
fn parse_config(s: &str) -> anyhow::Result<(String, String)> {
    let (k, v) = s
        .split_once('=')
        .with_context(|| format!("config {s:?} is not key=value"))?;
    Ok((k.to_string(), v.to_string()))
}

impl Params {
    /// For a run with a backlog (`catch-up`): the parameters that write it (producers only,
    /// as fast as possible) and the messages each producer writes.
    pub fn backlog_fill(&self) -> Option<(Params, u64)> {
        if self.backlog_bytes == 0 {
            return None;
        }
        let per_producer = self.backlog_bytes
            / self.message_bytes.max(1) as u64
            / u64::from(self.producers.max(1));
        eprintln!(
            "writing a backlog of {} MiB before the measured run",
            self.backlog_bytes >> 20
        );
        let fill = Params {
            consumer_groups: 0,
            rate_msgs_per_s: 0.0,
            warmup_s: 0.0,
            duration_s: crate::limits::BACKLOG_FILL_MAX_S,
            ..self.clone()
        };
        Some((fill, per_producer))
    }

    /// Fills every flag left out with the workload's default and checks the result.
    pub fn resolve(args: &WorkloadArgs, bootstrap: &str) -> anyhow::Result<Params> {
        let workload = args.workload.unwrap_or(Workload::LatencyFixedRate);
        let d = defaults(workload);
        let message_bytes = args.message_bytes.unwrap_or(1024);
        let rate_msgs_per_s = match (args.rate, args.rate_mib) {
            (Some(r), _) => r,
            (None, Some(mib)) => mib * MIB / message_bytes.max(1) as f64,
            (None, None) => d.rate_mib * MIB / message_bytes.max(1) as f64,
        };
        let all_cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let topic_configs = match &args.topic_config {
            Some(list) => list
                .iter()
                .map(|s| parse_config(s))
                .collect::<anyhow::Result<_>>()?,
            None => d
                .topic_configs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let rdkafka_configs = args
            .rdkafka_config
            .iter()
            .flatten()
            .map(|s| parse_config(s))
            .collect::<anyhow::Result<_>>()?;
        let p = Params {
            workload,
            client: args.client.unwrap_or(ClientKind::Native),
            bootstrap: bootstrap.to_string(),
            cores: args
                .cores
                .clone()
                .unwrap_or_else(|| (0..all_cores).collect()),
            topics: args.topics.unwrap_or(1),
            topic_prefix: args
                .topic_prefix
                .clone()
                .unwrap_or_else(|| unique_prefix(workload)),
            partitions: args.partitions.unwrap_or(d.partitions),
            message_bytes,
            keys: args.keys.unwrap_or(d.keys),
            producers: args.producers.unwrap_or(d.producers),
            consumer_groups: args.consumer_groups.unwrap_or(d.consumer_groups),
            consumers_per_group: args.consumers_per_group.unwrap_or(1),
            acks: parse_acks(args.acks.as_deref().unwrap_or(match d.acks {
                0 => "0",
                1 => "1",
                _ => "all",
            }))?,
            compression: args.compression.unwrap_or(Codec::None),
            batch_bytes: args.batch_bytes.unwrap_or(d.batch_bytes),
            linger_us: args.linger_us.unwrap_or(0),
            max_in_flight: args.max_in_flight.unwrap_or(5),
            rate_msgs_per_s,
            warmup_s: args.warmup_s.unwrap_or(5.0),
            duration_s: args.duration_s.unwrap_or(20.0),
            drain_s: args.drain_s.unwrap_or(10.0),
            backlog_bytes: args.backlog_mib.unwrap_or(d.backlog_mib) * 1024 * 1024,
            consume_from_start: workload == Workload::CatchUp,
            topic_configs,
            replication_factor: args.replication_factor.unwrap_or(1),
            broker_pid: args.broker_pid,
            rdkafka_configs,
        };
        p.check()?;
        Ok(p)
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.message_bytes < limits::VALUE_HEADER_BYTES {
            bail!(
                "--message-bytes must be at least {} (the send timestamp)",
                limits::VALUE_HEADER_BYTES
            );
        }
        if self.message_bytes > limits::MESSAGE_BYTES_MAX {
            bail!("--message-bytes is above {}", limits::MESSAGE_BYTES_MAX);
        }
        if self.partitions < 1 || self.topics < 1 {
            bail!("need at least one topic and one partition");
        }
        if self.replication_factor < 1 {
            bail!("--replication-factor must be at least 1");
        }
        if self.cores.is_empty() {
            bail!("--cores is empty");
        }
        if self.max_in_flight < 1 || self.max_in_flight > limits::IN_FLIGHT_MAX {
            bail!("--max-in-flight must be 1..={}", limits::IN_FLIGHT_MAX);
        }
        let rate = self.rate_msgs_per_s;
        if rate.is_nan() || rate < 0.0 || !self.duration_s.is_finite() || self.duration_s <= 0.0 {
            bail!("rate must be >= 0 and duration > 0");
        }
        if !self.rdkafka_configs.is_empty() && self.client != ClientKind::Rdkafka {
            bail!("--rdkafka-config needs --client rdkafka");
        }
        if self.batch_bytes < self.message_bytes {
            bail!("--batch-bytes must hold at least one message");
        }
        Ok(())
    }

    /// Names of the topics of this run.
    pub fn topic_names(&self) -> Vec<String> {
        (0..self.topics)
            .map(|i| format!("{}-{i}", self.topic_prefix))
            .collect()
    }

    /// Total consumers over all groups.
    pub fn consumers(&self) -> u32 {
        self.consumer_groups * self.consumers_per_group
    }

    /// The offered rate in MiB/s (0 when unlimited).
    pub fn rate_mib_per_s(&self) -> f64 {
        self.rate_msgs_per_s * self.message_bytes as f64 / MIB
    }

    /// A copy aimed at another bootstrap address with another topic prefix (for `compare`).
    pub fn for_target(&self, bootstrap: &str, prefix: String) -> Params {
        Params {
            bootstrap: bootstrap.to_string(),
            topic_prefix: prefix,
            ..self.clone()
        }
    }
}

/// A topic prefix no earlier run used: workload, process id and the time.
pub fn unique_prefix(workload: Workload) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let name = serde_json::to_value(workload)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "bench".into());
    format!("bench-{name}-{}-{secs}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(workload: Workload) -> WorkloadArgs {
        WorkloadArgs {
            workload: Some(workload),
            ..WorkloadArgs::default()
        }
    }

    #[test]
    fn workload_defaults_follow_benchmarking_md() {
        let p = Params::resolve(&args(Workload::LatencyFixedRate), "x:1").unwrap();
        assert_eq!((p.partitions, p.acks, p.keys), (6, -1, 1024));
        assert!((p.rate_mib_per_s() - 50.0).abs() < 1e-9);
        assert_eq!(p.rate_msgs_per_s, 51_200.0);
        let p = Params::resolve(&args(Workload::MaxThroughput), "x:1").unwrap();
        assert_eq!((p.partitions, p.acks, p.rate_msgs_per_s), (12, 1, 0.0));
        let p = Params::resolve(&args(Workload::FsyncEveryBatch), "x:1").unwrap();
        assert_eq!(p.topic_configs, vec![("flush.messages".into(), "1".into())]);
        let p = Params::resolve(&args(Workload::Fanout), "x:1").unwrap();
        assert_eq!(p.consumers(), 4);
        let p = Params::resolve(&args(Workload::CatchUp), "x:1").unwrap();
        assert!(p.consume_from_start);
        assert_eq!(p.backlog_bytes, 10 << 30);
        let p = Params::resolve(&args(Workload::ManyPartitions), "x:1").unwrap();
        assert_eq!(p.partitions, 1000);
        assert!((p.rate_msgs_per_s - 10_000.0).abs() < 1e-6);
    }

    #[test]
    fn flags_override_defaults() {
        let a = WorkloadArgs {
            workload: Some(Workload::MaxThroughput),
            acks: Some("all".into()),
            partitions: Some(3),
            rate: Some(1000.0),
            topic_config: Some(vec!["flush.messages=5".into()]),
            ..WorkloadArgs::default()
        };
        let p = Params::resolve(&a, "x:1").unwrap();
        assert_eq!((p.acks, p.partitions, p.rate_msgs_per_s), (-1, 3, 1000.0));
        assert_eq!(p.topic_configs, vec![("flush.messages".into(), "5".into())]);
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse_acks("2").is_err());
        let a = WorkloadArgs {
            message_bytes: Some(4),
            ..WorkloadArgs::default()
        };
        assert!(Params::resolve(&a, "x:1").is_err());
        let a = WorkloadArgs {
            topic_config: Some(vec!["novalue".into()]),
            ..WorkloadArgs::default()
        };
        assert!(Params::resolve(&a, "x:1").is_err());
    }
}
