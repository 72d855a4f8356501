//! The broker's settings: flags, `MYELIN_*` environment variables, an optional TOML file,
//! and defaults, in that order of precedence.

use anyhow::Context;
use clap::Parser;
use myelin_storage::LogConfig;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Operator subcommands; without one, `myelin` runs the broker.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Consumer-group administration against a running broker.
    Groups {
        /// Bootstrap address of the broker.
        #[arg(long, default_value = "127.0.0.1:9092")]
        bootstrap: String,
        /// What to do.
        #[command(subcommand)]
        command: crate::admin::GroupsCommand,
    },
}

/// Command-line flags (each also readable from the environment).
#[derive(Debug, Parser, Default)]
#[command(
    name = "myelin",
    version,
    about = "Kafka-protocol event-streaming broker, thread-per-core on io_uring"
)]
pub struct Args {
    /// An operator subcommand instead of running the broker.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// TOML file with any of the settings below (flag names with `_` for `-`).
    #[arg(long, env = "MYELIN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory [default: ./myelin-data].
    #[arg(long, env = "MYELIN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:9092].
    #[arg(long, env = "MYELIN_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Host clients are told to connect to [default: the listen address].
    #[arg(long, env = "MYELIN_ADVERTISED_HOST")]
    pub advertised_host: Option<String>,
    /// Port clients are told to connect to [default: the listen port].
    #[arg(long, env = "MYELIN_ADVERTISED_PORT")]
    pub advertised_port: Option<u16>,
    /// Broker id [default: 0].
    #[arg(long, env = "MYELIN_NODE_ID")]
    pub node_id: Option<i32>,
    /// Number of shards; 0 = one per available core [default: 0].
    #[arg(long, env = "MYELIN_SHARDS")]
    pub shards: Option<usize>,
    /// Do not pin shards to cores.
    #[arg(long, env = "MYELIN_NO_PIN")]
    pub no_pin: bool,
    /// Microseconds an idle shard polls before parking [default: 100].
    #[arg(long, env = "MYELIN_SPIN_BEFORE_PARK_US")]
    pub spin_before_park_us: Option<u64>,
    /// Partitions of automatically created topics [default: 1].
    #[arg(long, env = "MYELIN_DEFAULT_PARTITIONS")]
    pub default_partitions: Option<i32>,
    /// Create unknown topics on first use [default: true].
    #[arg(long, env = "MYELIN_AUTO_CREATE_TOPICS")]
    pub auto_create_topics: Option<bool>,
    /// Default `retention.ms` [default: 604800000, 7 days].
    #[arg(long, env = "MYELIN_RETENTION_MS")]
    pub retention_ms: Option<i64>,
    /// Default `retention.bytes` [default: -1, unlimited].
    #[arg(long, env = "MYELIN_RETENTION_BYTES")]
    pub retention_bytes: Option<i64>,
    /// Default `segment.bytes` [default: 1073741824].
    #[arg(long, env = "MYELIN_SEGMENT_BYTES")]
    pub segment_bytes: Option<u64>,
    /// Default `flush.messages`; 1 syncs before every acknowledgement [default: 1].
    #[arg(long, env = "MYELIN_FLUSH_MESSAGES")]
    pub flush_messages: Option<u64>,
    /// How often retention runs, in milliseconds [default: 10000].
    #[arg(long, env = "MYELIN_HOUSEKEEPING_INTERVAL_MS")]
    pub housekeeping_interval_ms: Option<u64>,
    /// Log filter (tracing's env-filter syntax; RUST_LOG wins) [default: info].
    #[arg(long, env = "MYELIN_LOG")]
    pub log_level: Option<String>,
    /// Partitions of `__consumer_offsets`, fixed at first start [default: 50].
    #[arg(long, env = "MYELIN_OFFSETS_TOPIC_PARTITIONS")]
    pub offsets_topic_partitions: Option<i32>,
    /// Partitions of `__transaction_state`, fixed at first start [default: 50].
    #[arg(long, env = "MYELIN_TRANSACTION_STATE_PARTITIONS")]
    pub transaction_state_partitions: Option<i32>,
    /// How long offsets of a group without members are kept, in ms [default: 7 days].
    #[arg(long, env = "MYELIN_OFFSETS_RETENTION_MS")]
    pub offsets_retention_ms: Option<i64>,
    /// Wait before the first rebalance of an empty group, in ms [default: 3000].
    #[arg(long, env = "MYELIN_GROUP_INITIAL_REBALANCE_DELAY_MS")]
    pub group_initial_rebalance_delay_ms: Option<i64>,
    /// Smallest session timeout a member may ask for, in ms [default: 6000].
    #[arg(long, env = "MYELIN_GROUP_MIN_SESSION_TIMEOUT_MS")]
    pub group_min_session_timeout_ms: Option<i32>,
    /// Largest session timeout a member may ask for, in ms [default: 1800000].
    #[arg(long, env = "MYELIN_GROUP_MAX_SESSION_TIMEOUT_MS")]
    pub group_max_session_timeout_ms: Option<i32>,
}

/// The same settings as read from a TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    advertised_host: Option<String>,
    advertised_port: Option<u16>,
    node_id: Option<i32>,
    shards: Option<usize>,
    pin: Option<bool>,
    spin_before_park_us: Option<u64>,
    default_partitions: Option<i32>,
    auto_create_topics: Option<bool>,
    retention_ms: Option<i64>,
    retention_bytes: Option<i64>,
    segment_bytes: Option<u64>,
    flush_messages: Option<u64>,
    housekeeping_interval_ms: Option<u64>,
    log_level: Option<String>,
    offsets_topic_partitions: Option<i32>,
    transaction_state_partitions: Option<i32>,
    offsets_retention_ms: Option<i64>,
    group_initial_rebalance_delay_ms: Option<i64>,
    group_min_session_timeout_ms: Option<i32>,
    group_max_session_timeout_ms: Option<i32>,
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub advertised_host: String,
    pub advertised_port: u16,
    pub node_id: i32,
    pub shards: usize,
    pub pin: bool,
    pub spin_before_park_us: u64,
    pub default_partitions: i32,
    pub auto_create_topics: bool,
    pub log_defaults: LogConfig,
    pub housekeeping_interval_ms: u64,
    pub log_level: String,
    pub offsets_topic_partitions: i32,
    pub transaction_state_partitions: i32,
    pub offsets_retention_ms: i64,
    pub group_initial_rebalance_delay_ms: i64,
    pub group_min_session_timeout_ms: i32,
    pub group_max_session_timeout_ms: i32,
}

impl Settings {
    /// Merges flags and environment over the file over the defaults.
    pub fn resolve(args: Args) -> anyhow::Result<Settings> {
        let file: FileConfig = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let listen = args
            .listen
            .or(file.listen)
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 9092)));
        let defaults = LogConfig::default();
        let log_defaults = LogConfig {
            retention_ms: args
                .retention_ms
                .or(file.retention_ms)
                .unwrap_or(defaults.retention_ms),
            retention_bytes: args
                .retention_bytes
                .or(file.retention_bytes)
                .unwrap_or(defaults.retention_bytes),
            segment_bytes: args
                .segment_bytes
                .or(file.segment_bytes)
                .unwrap_or(defaults.segment_bytes),
            flush_messages: args
                .flush_messages
                .or(file.flush_messages)
                .unwrap_or(defaults.flush_messages)
                .max(1),
            ..defaults
        };
        if log_defaults.segment_bytes < myelin_storage::limits::SEGMENT_BYTES_MIN {
            anyhow::bail!(
                "segment bytes must be at least {}",
                myelin_storage::limits::SEGMENT_BYTES_MIN
            );
        }
        let default_partitions = args
            .default_partitions
            .or(file.default_partitions)
            .unwrap_or(1);
        if default_partitions < 1 {
            anyhow::bail!("default partitions must be at least 1");
        }
        Ok(Settings {
            data_dir: args
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("myelin-data")),
            listen,
            advertised_host: args
                .advertised_host
                .or(file.advertised_host)
                .unwrap_or_else(|| listen.ip().to_string()),
            advertised_port: args
                .advertised_port
                .or(file.advertised_port)
                .unwrap_or(listen.port()),
            node_id: args.node_id.or(file.node_id).unwrap_or(0),
            shards: args.shards.or(file.shards).unwrap_or(0),
            pin: !args.no_pin && file.pin.unwrap_or(true),
            spin_before_park_us: args
                .spin_before_park_us
                .or(file.spin_before_park_us)
                .unwrap_or(100),
            default_partitions,
            auto_create_topics: args
                .auto_create_topics
                .or(file.auto_create_topics)
                .unwrap_or(true),
            log_defaults,
            housekeeping_interval_ms: args
                .housekeeping_interval_ms
                .or(file.housekeeping_interval_ms)
                .unwrap_or(10_000),
            log_level: args
                .log_level
                .or(file.log_level)
                .unwrap_or_else(|| "info".into()),
            offsets_topic_partitions: args
                .offsets_topic_partitions
                .or(file.offsets_topic_partitions)
                .unwrap_or(50)
                .max(1),
            transaction_state_partitions: args
                .transaction_state_partitions
                .or(file.transaction_state_partitions)
                .unwrap_or(50)
                .max(1),
            offsets_retention_ms: args
                .offsets_retention_ms
                .or(file.offsets_retention_ms)
                .unwrap_or(7 * 24 * 3600 * 1000),
            group_initial_rebalance_delay_ms: args
                .group_initial_rebalance_delay_ms
                .or(file.group_initial_rebalance_delay_ms)
                .unwrap_or(3_000),
            group_min_session_timeout_ms: args
                .group_min_session_timeout_ms
                .or(file.group_min_session_timeout_ms)
                .unwrap_or(6_000),
            group_max_session_timeout_ms: args
                .group_max_session_timeout_ms
                .or(file.group_max_session_timeout_ms)
                .unwrap_or(1_800_000),
        })
    }
}

/// The cluster id kept in the data directory, created on first start.
pub fn cluster_id(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("meta").join("cluster_id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        return Ok(id.trim().to_string());
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    myelin_shards::shard::write_durably(&path, id.as_bytes())?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_a_loopback_single_node() {
        let s = Settings::resolve(Args::default()).unwrap();
        assert_eq!(s.listen, SocketAddr::from(([127, 0, 0, 1], 9092)));
        assert_eq!(s.data_dir, PathBuf::from("myelin-data"));
        assert_eq!(
            (s.advertised_host.as_str(), s.advertised_port),
            ("127.0.0.1", 9092)
        );
        assert!(s.auto_create_topics && s.pin);
        assert_eq!(
            (
                s.default_partitions,
                s.shards,
                s.log_defaults.flush_messages
            ),
            (1, 0, 1)
        );
    }

    #[test]
    fn flags_win_over_the_file_which_wins_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("myelin.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.2:9093\"\ndefault_partitions = 6\nretention_ms = 1000\npin = false\n",
        )
        .unwrap();
        let args = Args {
            config: Some(file.clone()),
            default_partitions: Some(3),
            ..Args::default()
        };
        let s = Settings::resolve(args).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.2:9093");
        assert_eq!(s.default_partitions, 3);
        assert_eq!(s.log_defaults.retention_ms, 1000);
        assert!(!s.pin);
        std::fs::write(&file, "no_such_setting = 1\n").unwrap();
        assert!(Settings::resolve(Args {
            config: Some(file),
            ..Args::default()
        })
        .is_err());
    }
}
