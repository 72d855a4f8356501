//! The broker's settings: flags, `MYELIN_*` environment variables, an optional file (TOML,
//! or Kafka's `server.properties` syntax when its name ends in `.properties`), and defaults,
//! in that order of precedence.
//!
//! With no flags and no file the node is a single broker and controller on loopback, the only
//! voter of its own quorum; the cluster settings only matter once `controller_quorum_voters`
//! names other nodes. [`Settings::resolve`] checks the settings before the broker starts and
//! returns what an operator should hear about as [`Notice`]s, since logging is not yet set up
//! when it runs.

mod kafka;
mod properties;

use anyhow::{bail, Context};
use clap::Parser;
use myelin_storage::LogConfig;
use serde::Deserialize;
use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Operator subcommands; without one, `myelin` runs the broker.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Consumer-group administration against a running broker.
    #[command(alias = "group")]
    Groups {
        /// Bootstrap address of the broker.
        #[arg(long, default_value = "127.0.0.1:9092")]
        bootstrap: String,
        /// What to do.
        #[command(subcommand)]
        command: crate::admin::GroupsCommand,
    },
    /// Cluster administration against a running broker.
    Cluster {
        /// Bootstrap address of a broker.
        #[arg(long, default_value = "127.0.0.1:9092")]
        bootstrap: String,
        /// What to do.
        #[command(subcommand)]
        command: crate::admin::ClusterCommand,
    },
    /// Topic administration against a running broker.
    #[command(alias = "topics")]
    Topic {
        /// Bootstrap address of a broker.
        #[arg(long, default_value = "127.0.0.1:9092")]
        bootstrap: String,
        /// What to do.
        #[command(subcommand)]
        command: crate::admin::TopicCommand,
    },
    /// Topic and broker configs against a running broker.
    #[command(alias = "configs")]
    Config {
        /// Bootstrap address of a broker.
        #[arg(long, default_value = "127.0.0.1:9092")]
        bootstrap: String,
        /// What to do.
        #[command(subcommand)]
        command: crate::admin::ConfigCommand,
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
    /// TOML file with any of the settings below (flag names with `_` for `-`), or a Kafka
    /// `server.properties` file when the name ends in `.properties`.
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
    /// Admin HTTP listener (`/metrics`, `/v1/health`), or `off` [default: port 9644 on the
    /// listen address when it is a loopback address, else 127.0.0.1:9644].
    #[arg(long, env = "MYELIN_ADMIN_LISTEN")]
    pub admin_listen: Option<AdminListen>,
    /// Record metrics (`false` leaves `/metrics` with gauges only) [default: true].
    #[arg(long, env = "MYELIN_METRICS")]
    pub metrics: Option<bool>,
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
    #[arg(long, env = "MYELIN_RETENTION_MS", allow_negative_numbers = true)]
    pub retention_ms: Option<i64>,
    /// Default `retention.bytes` [default: -1, unlimited].
    #[arg(long, env = "MYELIN_RETENTION_BYTES", allow_negative_numbers = true)]
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
    /// What this node does: `broker`, `controller` or `broker,controller` [default: both].
    #[arg(long, env = "MYELIN_PROCESS_ROLES")]
    pub process_roles: Option<ProcessRoles>,
    /// The controller quorum, `id@host:port,...` [default: empty, this node alone].
    #[arg(long, env = "MYELIN_CONTROLLER_QUORUM_VOTERS")]
    pub controller_quorum_voters: Option<VoterList>,
    /// Address of the controller listener [default: this node's address in the voters].
    #[arg(long, env = "MYELIN_CONTROLLER_LISTEN")]
    pub controller_listen: Option<SocketAddr>,
    /// Rack of this broker, for placing replicas (Kafka's `broker.rack`) [default: none].
    #[arg(long, env = "MYELIN_RACK")]
    pub rack: Option<String>,
    /// Replication factor of automatically created topics [default: 1].
    #[arg(long, env = "MYELIN_DEFAULT_REPLICATION_FACTOR")]
    pub default_replication_factor: Option<i16>,
    /// Default `min.insync.replicas` [default: 1].
    #[arg(long, env = "MYELIN_MIN_INSYNC_REPLICAS")]
    pub min_insync_replicas: Option<i32>,
    /// Replication factor of `__consumer_offsets` [default: 3, at most the voters].
    #[arg(long, env = "MYELIN_OFFSETS_TOPIC_REPLICATION_FACTOR")]
    pub offsets_topic_replication_factor: Option<i16>,
    /// Replication factor of `__transaction_state` [default: 3, at most the voters].
    #[arg(long, env = "MYELIN_TRANSACTION_STATE_REPLICATION_FACTOR")]
    pub transaction_state_replication_factor: Option<i16>,
    /// `min.insync.replicas` of `__transaction_state` [default: 2, at most its replication
    /// factor's default].
    #[arg(long, env = "MYELIN_TRANSACTION_STATE_MIN_ISR")]
    pub transaction_state_min_isr: Option<i32>,
    /// A broker not heard from for this long is fenced, in ms [default: 9000].
    #[arg(long, env = "MYELIN_BROKER_SESSION_TIMEOUT_MS")]
    pub broker_session_timeout_ms: Option<u64>,
    /// How often a broker heartbeats to the controller, in ms [default: 2000].
    #[arg(long, env = "MYELIN_BROKER_HEARTBEAT_INTERVAL_MS")]
    pub broker_heartbeat_interval_ms: Option<u64>,
    /// A follower this far behind leaves the ISR, in ms [default: 30000].
    #[arg(long, env = "MYELIN_REPLICA_LAG_TIME_MAX_MS")]
    pub replica_lag_time_max_ms: Option<u64>,
    /// Let a replica outside the ISR become leader, losing records [default: false].
    #[arg(long, env = "MYELIN_UNCLEAN_LEADER_ELECTION_ENABLE")]
    pub unclean_leader_election_enable: Option<bool>,
    /// Move leadership back to preferred replicas [default: true].
    #[arg(long, env = "MYELIN_AUTO_LEADER_REBALANCE_ENABLE")]
    pub auto_leader_rebalance_enable: Option<bool>,
    /// How often the controller checks leadership balance, in seconds [default: 300].
    #[arg(long, env = "MYELIN_LEADER_IMBALANCE_CHECK_INTERVAL_SECONDS")]
    pub leader_imbalance_check_interval_seconds: Option<u64>,
    /// Most connections one client address may hold, per shard (Kafka's
    /// `max.connections.per.ip`) [default: unlimited].
    #[arg(long, env = "MYELIN_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<u32>,
    /// Per-address exceptions, `host:count,...` (`max.connections.per.ip.overrides`).
    #[arg(long, env = "MYELIN_MAX_CONNECTIONS_PER_IP_OVERRIDES")]
    pub max_connections_per_ip_overrides: Option<String>,
    /// New connections per second each shard's listener accepts
    /// (`max.connection.creation.rate`) [default: unlimited].
    #[arg(long, env = "MYELIN_MAX_CONNECTION_CREATION_RATE")]
    pub max_connection_creation_rate: Option<u32>,
    /// The authorizer (Kafka's `authorizer.class.name`):
    /// org.apache.kafka.metadata.authorizer.StandardAuthorizer, or empty for none
    /// [default: none].
    #[arg(long, env = "MYELIN_AUTHORIZER_CLASS_NAME")]
    pub authorizer_class_name: Option<String>,
    /// Principals allowed everything, `User:a;User:b` (Kafka's `super.users`)
    /// [default: none].
    #[arg(long, env = "MYELIN_SUPER_USERS")]
    pub super_users: Option<String>,
    /// Allow a request on a resource no ACL names [default: false].
    #[arg(long, env = "MYELIN_ALLOW_EVERYONE_IF_NO_ACL_FOUND")]
    pub allow_everyone_if_no_acl_found: Option<bool>,
}

/// A client listener besides the first (`listen`), from a properties file's `listeners`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraListener {
    /// Listener name, upper-cased.
    pub name: String,
    /// Its security protocol.
    pub protocol: myelin_net::security::SecurityProtocol,
    /// Where it listens.
    pub listen: SocketAddr,
    /// The host clients are told (`advertised.listeners`), if given.
    pub advertised_host: Option<String>,
    /// The port clients are told, if given.
    pub advertised_port: Option<u16>,
}

/// The same settings as read from a file: TOML, or Kafka's names mapped by [`kafka`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    /// The first client listener's name (properties files only).
    #[serde(skip)]
    listener_name: Option<String>,
    /// Further client listeners (properties files only).
    #[serde(skip)]
    extra_listeners: Vec<ExtraListener>,
    /// SASL settings per listener name (properties files only).
    #[serde(skip)]
    sasl: std::collections::BTreeMap<String, myelin_net::security::SaslConfig>,
    /// TLS settings per listener name (properties files only).
    #[serde(skip)]
    tls: std::collections::BTreeMap<String, myelin_net::security::tls::TlsConfig>,
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    admin_listen: Option<AdminListen>,
    metrics: Option<bool>,
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
    process_roles: Option<ProcessRoles>,
    controller_quorum_voters: Option<VoterList>,
    controller_listen: Option<SocketAddr>,
    rack: Option<String>,
    default_replication_factor: Option<i16>,
    min_insync_replicas: Option<i32>,
    offsets_topic_replication_factor: Option<i16>,
    transaction_state_replication_factor: Option<i16>,
    transaction_state_min_isr: Option<i32>,
    broker_session_timeout_ms: Option<u64>,
    broker_heartbeat_interval_ms: Option<u64>,
    replica_lag_time_max_ms: Option<u64>,
    unclean_leader_election_enable: Option<bool>,
    auto_leader_rebalance_enable: Option<bool>,
    leader_imbalance_check_interval_seconds: Option<u64>,
    max_connections_per_ip: Option<u32>,
    max_connections_per_ip_overrides: Option<String>,
    max_connection_creation_rate: Option<u32>,
    authorizer_class_name: Option<String>,
    super_users: Option<String>,
    allow_everyone_if_no_acl_found: Option<bool>,
}

/// Where the admin HTTP listener goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminListen {
    /// Not at all.
    Off,
    /// On this address.
    At(SocketAddr),
}

impl std::str::FromStr for AdminListen {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" | "none" | "" => Ok(AdminListen::Off),
            _ => s
                .parse()
                .map(AdminListen::At)
                .map_err(|e| format!("admin listen address {s:?}: {e}")),
        }
    }
}

impl<'de> Deserialize<'de> for AdminListen {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Port of the admin HTTP listener unless one is given.
pub const ADMIN_PORT: u16 = 9644;

/// The admin listener's default: loopback, beside a loopback Kafka listener (so local
/// clusters on 127.0.0.N each get their own), else on 127.0.0.1.
fn default_admin_listen(listen: SocketAddr) -> SocketAddr {
    let ip = if listen.ip().is_loopback() {
        listen.ip()
    } else {
        std::net::IpAddr::from([127, 0, 0, 1])
    };
    SocketAddr::new(ip, ADMIN_PORT)
}

/// A client listener as resolved: where it listens and what clients are told.
#[derive(Debug, Clone)]
pub struct ClientListener {
    /// Listener name (`PLAINTEXT`, `SASL_PLAINTEXT`, or the operator's own).
    pub name: String,
    /// Its security protocol.
    pub protocol: myelin_net::security::SecurityProtocol,
    /// Where it listens.
    pub listen: SocketAddr,
    /// Host clients are told to connect to.
    pub advertised_host: String,
    /// Port clients are told to connect to.
    pub advertised_port: u16,
    /// SASL settings (for SASL protocols).
    pub sasl: myelin_net::security::SaslConfig,
    /// TLS settings (for SSL and SASL_SSL).
    pub tls: Option<myelin_net::security::tls::TlsConfig>,
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// The name of the first client listener (`listen`), a PLAINTEXT listener that brokers
    /// also use among themselves.
    pub listener_name: String,
    /// Client listeners after the first, each on its own port.
    pub extra_listeners: Vec<ClientListener>,
    /// The admin HTTP listener; `None` when it is off.
    pub admin_listen: Option<SocketAddr>,
    /// Whether metrics are recorded.
    pub metrics: bool,
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
    /// What this node does; at least one role is set.
    pub process_roles: ProcessRoles,
    /// The controller quorum; empty means this node is its only voter and needs no
    /// controller listener. Ids are unique; a controller is in the list, a broker-only node
    /// is not.
    pub controller_quorum_voters: Vec<Voter>,
    /// Where the controller listens; `None` when there is no controller listener (a
    /// broker-only node, or the single node with no voter list).
    pub controller_listen: Option<SocketAddr>,
    /// Kafka's `broker.rack`; never empty.
    pub rack: Option<String>,
    /// Replication factor of automatically created topics; at least 1.
    pub default_replication_factor: i16,
    /// Default `min.insync.replicas`; at least 1.
    pub min_insync_replicas: i32,
    /// Replication factor of `__consumer_offsets`; at least 1.
    pub offsets_topic_replication_factor: i16,
    /// Replication factor of `__transaction_state`; at least 1.
    pub transaction_state_replication_factor: i16,
    /// `min.insync.replicas` of `__transaction_state`; at least 1.
    pub transaction_state_min_isr: i32,
    /// A broker without a heartbeat for this long is fenced; above the heartbeat interval.
    pub broker_session_timeout_ms: u64,
    /// How often a broker heartbeats to the active controller; at least 1.
    pub broker_heartbeat_interval_ms: u64,
    /// A follower not caught up for this long leaves the ISR; at least 1.
    pub replica_lag_time_max_ms: u64,
    /// Whether a replica outside the ISR may become leader (losing acknowledged records).
    pub unclean_leader_election_enable: bool,
    /// Whether leadership moves back to the preferred replica when it is in sync.
    pub auto_leader_rebalance_enable: bool,
    /// How often the controller looks for leadership away from preferred replicas; at
    /// least 1.
    pub leader_imbalance_check_interval_seconds: u64,
    /// `max.connections.per.ip`, its overrides and `max.connection.creation.rate`.
    pub connection_limits: myelin_net::quota::connections::ConnectionLimits,
    /// Whether the standard authorizer enforces ACLs.
    pub authorizer: bool,
    /// `super.users`, each `Type:name`.
    pub super_users: Vec<String>,
    /// `allow.everyone.if.no.acl.found`.
    pub allow_everyone_if_no_acl_found: bool,
}

/// Something [`Settings::resolve`] found that the operator should hear about, returned
/// rather than logged because logging is configured from the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Worth knowing, nothing wrong: a Kafka setting with no effect here, say.
    Info(String),
    /// Probably a mistake that still lets the broker start: an unknown Kafka setting, an
    /// even number of voters.
    Warn(String),
}

impl Notice {
    /// Logs the notice at its level; call it once tracing is initialised.
    pub fn log(&self) {
        match self {
            Notice::Info(message) => tracing::info!("{message}"),
            Notice::Warn(message) => tracing::warn!("{message}"),
        }
    }
}

/// What a node does (Kafka's `process.roles`): serve clients as a broker, vote in the
/// metadata quorum as a controller, or both ("combined", the default single node).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ProcessRoles {
    /// Serves Kafka clients and hosts partition replicas.
    pub broker: bool,
    /// Votes in the Raft metadata quorum and may become the active controller.
    pub controller: bool,
}

impl Default for ProcessRoles {
    fn default() -> Self {
        ProcessRoles {
            broker: true,
            controller: true,
        }
    }
}

impl FromStr for ProcessRoles {
    type Err = String;

    /// Parses Kafka's form: `broker`, `controller`, or both separated by a comma.
    fn from_str(text: &str) -> Result<Self, String> {
        let mut roles = ProcessRoles {
            broker: false,
            controller: false,
        };
        for role in text.split(',').map(str::trim) {
            let slot = match role.to_ascii_lowercase().as_str() {
                "broker" => &mut roles.broker,
                "controller" => &mut roles.controller,
                "" => return Err(format!("{text:?}: expected broker, controller or both")),
                _ => {
                    return Err(format!(
                        "unknown role {role:?}: expected broker or controller"
                    ))
                }
            };
            if std::mem::replace(slot, true) {
                return Err(format!("{text:?}: role {role} is listed twice"));
            }
        }
        Ok(roles)
    }
}

impl TryFrom<String> for ProcessRoles {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl fmt::Display for ProcessRoles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.broker, self.controller) {
            (true, true) => f.write_str("broker,controller"),
            (true, false) => f.write_str("broker"),
            (false, true) => f.write_str("controller"),
            (false, false) => f.write_str("(no role)"),
        }
    }
}

/// One member of the controller quorum, `id@host:port` in Kafka's `controller.quorum.voters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voter {
    /// The voter's node id (`node.id` on that node); not negative.
    pub id: i32,
    /// Host its controller listener is reached at, without IPv6 brackets; not empty.
    pub host: String,
    /// Port of its controller listener; not 0.
    pub port: u16,
}

impl FromStr for Voter {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let expected = || format!("{text:?}: expected id@host:port");
        let (id, address) = text.trim().split_once('@').ok_or_else(expected)?;
        let id: i32 = id.trim().parse().map_err(|_| expected())?;
        let (host, port) = split_host_port(address).map_err(|e| format!("{text:?}: {e}"))?;
        if id < 0 {
            return Err(format!("{text:?}: a voter id cannot be negative"));
        }
        if host.is_empty() || port == 0 {
            return Err(format!(
                "{text:?}: a voter needs a host and a port other than 0"
            ));
        }
        Ok(Voter { id, host, port })
    }
}

impl fmt::Display for Voter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}@[{}]:{}", self.id, self.host, self.port)
        } else {
            write!(f, "{}@{}:{}", self.id, self.host, self.port)
        }
    }
}

/// The whole voter list as one flag or file value, `id@host:port,...`; empty text is an
/// empty list. Ids and addresses are unique.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "String")]
pub struct VoterList(pub Vec<Voter>);

impl FromStr for VoterList {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(VoterList::default());
        }
        let voters: Vec<Voter> = text.split(',').map(str::parse).collect::<Result<_, _>>()?;
        for (at, voter) in voters.iter().enumerate() {
            let earlier = voters.iter().take(at);
            if let Some(twin) = earlier.clone().find(|other| other.id == voter.id) {
                return Err(format!(
                    "voter id {} is listed twice ({twin}, {voter})",
                    voter.id
                ));
            }
            if let Some(twin) = earlier
                .clone()
                .find(|o| o.port == voter.port && o.host.eq_ignore_ascii_case(&voter.host))
            {
                return Err(format!("voters {twin} and {voter} have the same address"));
            }
        }
        Ok(VoterList(voters))
    }
}

impl TryFrom<String> for VoterList {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl fmt::Display for VoterList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (at, voter) in self.0.iter().enumerate() {
            if at > 0 {
                f.write_str(",")?;
            }
            write!(f, "{voter}")?;
        }
        Ok(())
    }
}

/// Splits `host:port` or `[v6 host]:port`; the host may be empty (Kafka's listeners use that
/// for every interface).
fn split_host_port(address: &str) -> Result<(String, u16), String> {
    let (host, port) = address
        .trim()
        .rsplit_once(':')
        .ok_or_else(|| "expected host:port".to_string())?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port = port
        .parse()
        .map_err(|_| format!("port {port:?} is not a number from 0 to 65535"))?;
    Ok((host.to_string(), port))
}

/// The address to bind for `host:port`: an empty host is every IPv4 interface, as in Kafka's
/// listeners; a name is looked up, preferring an IPv4 address (`localhost` often lists `::1`
/// first, where IPv4 clients would not find the listener).
fn bind_address(host: &str, port: u16) -> Result<SocketAddr, String> {
    if host.is_empty() {
        return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let found: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    found
        .iter()
        .find(|address| address.is_ipv4())
        .or(found.first())
        .copied()
        .ok_or_else(|| format!("{host} resolves to no address"))
}

/// The first of flag (or environment), file and default that is set.
fn pick<T>(flag: Option<T>, file: Option<T>, default: T) -> T {
    flag.or(file).unwrap_or(default)
}

/// Whether `authorizer.class.name` names the authorizer Myelin implements; empty is none.
fn authorizer(class: Option<String>) -> anyhow::Result<bool> {
    match class.as_deref().map(str::trim) {
        None | Some("") => Ok(false),
        Some(myelin_net::security::authz::STANDARD_AUTHORIZER) => Ok(true),
        Some(other) => bail!(
            "authorizer {other:?} is not supported; use {} or none",
            myelin_net::security::authz::STANDARD_AUTHORIZER
        ),
    }
}

/// `super.users`: principals separated by `;`, each `Type:name`, as Kafka reads them.
fn super_users(text: Option<&str>) -> anyhow::Result<Vec<String>> {
    let mut users = Vec::new();
    for user in text.unwrap_or("").split(';').map(str::trim) {
        if user.is_empty() {
            continue;
        }
        match user.split_once(':') {
            Some((kind, name)) if !kind.is_empty() && !name.is_empty() => {
                users.push(user.to_string())
            }
            _ => bail!("super user {user:?} is not a principal (Type:name, e.g. User:admin)"),
        }
    }
    Ok(users)
}

/// Reads the `--config` file: Kafka properties for a `.properties` name, TOML otherwise.
fn read_file(path: &Path, notices: &mut Vec<Notice>) -> anyhow::Result<FileConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if path
        .extension()
        .is_some_and(|extension| extension == "properties")
    {
        kafka::read(&path.display().to_string(), &text, notices)
    } else {
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

impl Settings {
    /// Merges flags and environment over the file over the defaults, and checks the result.
    /// The notices are for `main` to log once tracing is set up.
    pub fn resolve(args: Args) -> anyhow::Result<(Settings, Vec<Notice>)> {
        let mut notices = Vec::new();
        let file = match &args.config {
            Some(path) => read_file(path, &mut notices)?,
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
        let node_id = args.node_id.or(file.node_id).unwrap_or(0);
        let process_roles = pick(
            args.process_roles,
            file.process_roles,
            ProcessRoles::default(),
        );
        let controller_quorum_voters = pick(
            args.controller_quorum_voters,
            file.controller_quorum_voters,
            VoterList::default(),
        )
        .0;
        let controller_listen = controller_listen(
            args.controller_listen.or(file.controller_listen),
            node_id,
            &controller_quorum_voters,
        )?;
        // Kafka's defaults for the internal topics (3 replicas, min ISR 2), capped by the
        // cluster's size so the embedded single node works without settings.
        let voters = controller_quorum_voters.len().clamp(1, 3) as i16;
        let settings = Settings {
            data_dir: args
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("myelin-data")),
            listen,
            listener_name: file
                .listener_name
                .clone()
                .unwrap_or_else(|| "PLAINTEXT".to_string()),
            extra_listeners: file
                .extra_listeners
                .iter()
                .map(|l| ClientListener {
                    name: l.name.clone(),
                    protocol: l.protocol,
                    listen: l.listen,
                    advertised_host: l.advertised_host.clone().unwrap_or_else(|| {
                        if l.listen.ip().is_unspecified() {
                            args.advertised_host
                                .clone()
                                .or(file.advertised_host.clone())
                                .unwrap_or_else(|| l.listen.ip().to_string())
                        } else {
                            l.listen.ip().to_string()
                        }
                    }),
                    advertised_port: l.advertised_port.unwrap_or(l.listen.port()),
                    sasl: file.sasl.get(&l.name).cloned().unwrap_or_default(),
                    tls: file.tls.get(&l.name).cloned(),
                })
                .collect(),
            admin_listen: match args.admin_listen.or(file.admin_listen) {
                Some(AdminListen::Off) => None,
                Some(AdminListen::At(a)) => Some(a),
                None => Some(default_admin_listen(listen)),
            },
            metrics: args.metrics.or(file.metrics).unwrap_or(true),
            advertised_host: args
                .advertised_host
                .or(file.advertised_host)
                .unwrap_or_else(|| listen.ip().to_string()),
            advertised_port: args
                .advertised_port
                .or(file.advertised_port)
                .unwrap_or(listen.port()),
            node_id,
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
            process_roles,
            controller_quorum_voters,
            controller_listen,
            // An empty rack is no rack, as Kafka treats `broker.rack=`.
            rack: args
                .rack
                .or(file.rack)
                .filter(|rack| !rack.trim().is_empty()),
            default_replication_factor: pick(
                args.default_replication_factor,
                file.default_replication_factor,
                1,
            ),
            min_insync_replicas: pick(args.min_insync_replicas, file.min_insync_replicas, 1),
            offsets_topic_replication_factor: pick(
                args.offsets_topic_replication_factor,
                file.offsets_topic_replication_factor,
                voters,
            ),
            transaction_state_replication_factor: pick(
                args.transaction_state_replication_factor,
                file.transaction_state_replication_factor,
                voters,
            ),
            transaction_state_min_isr: pick(
                args.transaction_state_min_isr,
                file.transaction_state_min_isr,
                i32::from(voters).min(2),
            ),
            broker_session_timeout_ms: pick(
                args.broker_session_timeout_ms,
                file.broker_session_timeout_ms,
                9_000,
            ),
            broker_heartbeat_interval_ms: pick(
                args.broker_heartbeat_interval_ms,
                file.broker_heartbeat_interval_ms,
                2_000,
            ),
            replica_lag_time_max_ms: pick(
                args.replica_lag_time_max_ms,
                file.replica_lag_time_max_ms,
                30_000,
            ),
            unclean_leader_election_enable: pick(
                args.unclean_leader_election_enable,
                file.unclean_leader_election_enable,
                false,
            ),
            auto_leader_rebalance_enable: pick(
                args.auto_leader_rebalance_enable,
                file.auto_leader_rebalance_enable,
                true,
            ),
            leader_imbalance_check_interval_seconds: pick(
                args.leader_imbalance_check_interval_seconds,
                file.leader_imbalance_check_interval_seconds,
                300,
            ),
            connection_limits: myelin_net::quota::connections::ConnectionLimits {
                per_ip_max: args.max_connections_per_ip.or(file.max_connections_per_ip),
                per_ip_overrides:
                    myelin_net::quota::connections::ConnectionLimits::parse_overrides(
                        args.max_connections_per_ip_overrides
                            .as_deref()
                            .or(file.max_connections_per_ip_overrides.as_deref())
                            .unwrap_or(""),
                    )
                    .map_err(|e| anyhow::anyhow!("max.connections.per.ip.overrides: {e}"))?,
                creation_rate_max: args
                    .max_connection_creation_rate
                    .or(file.max_connection_creation_rate)
                    .map(f64::from),
            },
            authorizer: authorizer(args.authorizer_class_name.or(file.authorizer_class_name))?,
            super_users: super_users(args.super_users.or(file.super_users).as_deref())?,
            allow_everyone_if_no_acl_found: pick(
                args.allow_everyone_if_no_acl_found,
                file.allow_everyone_if_no_acl_found,
                false,
            ),
        };
        settings.check_quorum(&mut notices)?;
        settings.check_replication(&mut notices)?;
        if settings
            .advertised_host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified())
        {
            notices.push(Notice::Warn(format!(
                "clients are told to connect to {}, which they cannot reach; set the \
                 advertised host (--advertised-host, or advertised.listeners)",
                settings.advertised_host
            )));
        }
        Ok((settings, notices))
    }

    /// Checks roles, voters and the controller listener against each other.
    fn check_quorum(&self, notices: &mut Vec<Notice>) -> anyhow::Result<()> {
        let (roles, voters, node_id) = (
            self.process_roles,
            &self.controller_quorum_voters,
            self.node_id,
        );
        let list = VoterList(voters.clone());
        if node_id < 0 {
            bail!("node id {node_id} is negative; node ids start at 0");
        }
        if !roles.broker && !roles.controller {
            bail!("a node needs at least one role: broker, controller or both");
        }
        let is_voter = voters.iter().any(|voter| voter.id == node_id);
        if voters.is_empty() && roles != ProcessRoles::default() {
            bail!(
                "a {roles}-only node needs the controller quorum voters (id@host:port,...); \
                 without them a node runs alone, as broker and controller"
            );
        }
        if roles.controller && !voters.is_empty() && !is_voter {
            bail!(
                "node {node_id} is a controller but not one of the controller quorum voters {list}"
            );
        }
        if !roles.controller && is_voter {
            bail!(
                "node {node_id} is one of the controller quorum voters {list} but only a broker; \
                 give it the controller role or take it off the list"
            );
        }
        if voters.len() % 2 == 0 && !voters.is_empty() {
            notices.push(Notice::Warn(format!(
                "the controller quorum {list} has an even number of voters: it survives no more \
                 failures than {} voters would, and every commit waits for one more of them \
                 (Kafka allows this too; 3 or 5 voters are the usual choice)",
                voters.len() - 1
            )));
        }
        let client_ports =
            std::iter::once(self.listen).chain(self.extra_listeners.iter().map(|l| l.listen));
        let mut taken: Vec<SocketAddr> = Vec::new();
        for addr in client_ports {
            let clash = taken.iter().any(|t| {
                t.port() == addr.port()
                    && (t.ip() == addr.ip()
                        || t.ip().is_unspecified()
                        || addr.ip().is_unspecified())
            });
            if clash {
                bail!("two listeners use {addr}");
            }
            taken.push(addr);
        }
        if let Some(controller) = self.controller_listen {
            if !roles.controller {
                bail!(
                    "node {node_id} is only a broker, so it has no controller listener \
                     (controller listen {controller})"
                );
            }
            let overlaps = controller.port() == self.listen.port()
                && (controller.ip() == self.listen.ip()
                    || controller.ip().is_unspecified()
                    || self.listen.ip().is_unspecified());
            if roles.broker && overlaps {
                bail!(
                    "the controller listener {controller} and the client listener {} share a port",
                    self.listen
                );
            }
        }
        Ok(())
    }

    /// Checks replication factors, in-sync minimums and the broker liveness timers.
    fn check_replication(&self, notices: &mut Vec<Notice>) -> anyhow::Result<()> {
        let factors = [
            (
                "default replication factor",
                self.default_replication_factor,
            ),
            (
                "offsets topic replication factor",
                self.offsets_topic_replication_factor,
            ),
            (
                "transaction state replication factor",
                self.transaction_state_replication_factor,
            ),
        ];
        for (name, factor) in factors {
            if factor < 1 {
                bail!("{name} must be at least 1, not {factor}");
            }
        }
        let minimums = [
            (
                "min insync replicas",
                self.min_insync_replicas,
                "default replication factor",
                self.default_replication_factor,
                "topics created with the default",
            ),
            (
                "transaction state min ISR",
                self.transaction_state_min_isr,
                "transaction state replication factor",
                self.transaction_state_replication_factor,
                "__transaction_state",
            ),
        ];
        for (name, minimum, factor_name, factor, topics) in minimums {
            if minimum < 1 {
                bail!("{name} must be at least 1, not {minimum}");
            }
            if minimum > i32::from(factor) {
                notices.push(Notice::Warn(format!(
                    "{name} {minimum} is above the {factor_name} {factor}: acks=all writes to \
                     {topics} will fail with NOT_ENOUGH_REPLICAS"
                )));
            }
        }
        let timers = [
            (
                "broker heartbeat interval ms",
                self.broker_heartbeat_interval_ms,
            ),
            ("replica lag time max ms", self.replica_lag_time_max_ms),
            (
                "leader imbalance check interval seconds",
                self.leader_imbalance_check_interval_seconds,
            ),
        ];
        for (name, ms) in timers {
            if ms < 1 {
                bail!("{name} must be at least 1");
            }
        }
        if self.broker_session_timeout_ms <= self.broker_heartbeat_interval_ms {
            bail!(
                "broker session timeout ms ({}) must be above the broker heartbeat interval ms \
                 ({}), or every broker is fenced between two heartbeats",
                self.broker_session_timeout_ms,
                self.broker_heartbeat_interval_ms
            );
        }
        Ok(())
    }
}

/// The controller listener: the one configured, else this node's own address in a non-empty
/// voter list (where the other voters reach it), else none.
fn controller_listen(
    configured: Option<SocketAddr>,
    node_id: i32,
    voters: &[Voter],
) -> anyhow::Result<Option<SocketAddr>> {
    if configured.is_some() {
        return Ok(configured);
    }
    let Some(own) = voters.iter().find(|voter| voter.id == node_id) else {
        return Ok(None);
    };
    match bind_address(&own.host, own.port) {
        Ok(address) => Ok(Some(address)),
        Err(e) => {
            bail!("controller listener of voter {own}: {e}; set the controller listen address")
        }
    }
}

/// The cluster id. Every node of a cluster must name the same one in its frames, so with
/// `controller.quorum.voters` set it is derived from the voter list, which all nodes share
/// (one place to agree on, as Kafka's `kafka-storage format -t` is); a node that is its own
/// single voter keeps the random id made on its first start in the data directory.
pub fn cluster_id(settings: &Settings) -> anyhow::Result<[u8; 16]> {
    if !settings.controller_quorum_voters.is_empty() {
        let mut voters: Vec<String> = settings
            .controller_quorum_voters
            .iter()
            .map(|v| format!("{}@{}:{}", v.id, v.host, v.port))
            .collect();
        voters.sort();
        let name = format!("myelin-cluster:{}", voters.join(","));
        return Ok(*uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).as_bytes());
    }
    let path = settings.data_dir.join("meta").join("cluster_id");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let id = uuid::Uuid::parse_str(text.trim())
            .with_context(|| format!("bad cluster id in {}", path.display()))?;
        return Ok(*id.as_bytes());
    }
    let id = uuid::Uuid::new_v4();
    myelin_shards::shard::write_durably(&path, id.simple().to_string().as_bytes())?;
    Ok(*id.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resolves flags alone, no file.
    fn flags(argv: &[&str]) -> anyhow::Result<(Settings, Vec<Notice>)> {
        let args = Args::try_parse_from(std::iter::once("myelin").chain(argv.iter().copied()))?;
        Settings::resolve(args)
    }

    fn error_of(argv: &[&str]) -> String {
        format!("{:#}", flags(argv).unwrap_err())
    }

    fn voter(id: i32, host: &str, port: u16) -> Voter {
        Voter {
            id,
            host: host.to_string(),
            port,
        }
    }

    #[test]
    fn defaults_are_a_loopback_single_node() {
        let (s, notices) = Settings::resolve(Args::default()).unwrap();
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
        assert!(notices.is_empty(), "{notices:?}");
    }

    #[test]
    fn the_single_node_is_its_own_quorum_with_no_controller_listener() {
        let (s, _) = flags(&[]).unwrap();
        assert_eq!(s.process_roles, ProcessRoles::default());
        assert!(s.process_roles.broker && s.process_roles.controller);
        assert!(s.controller_quorum_voters.is_empty());
        assert_eq!(s.controller_listen, None);
        assert_eq!(s.rack, None);
        assert_eq!(
            (
                s.default_replication_factor,
                s.offsets_topic_replication_factor,
                s.transaction_state_replication_factor
            ),
            (1, 1, 1)
        );
        assert_eq!((s.min_insync_replicas, s.transaction_state_min_isr), (1, 1));
        assert_eq!(
            (
                s.broker_session_timeout_ms,
                s.broker_heartbeat_interval_ms,
                s.replica_lag_time_max_ms
            ),
            (9_000, 2_000, 30_000)
        );
        assert!(!s.unclean_leader_election_enable && s.auto_leader_rebalance_enable);
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
        let (s, _) = Settings::resolve(args).unwrap();
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

    #[test]
    fn cluster_settings_from_toml_under_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("myelin.toml");
        std::fs::write(
            &file,
            "node_id = 2\n\
             process_roles = \"broker,controller\"\n\
             controller_quorum_voters = \"1@127.0.0.11:9093,2@127.0.0.12:9093,3@127.0.0.13:9093\"\n\
             rack = \"r2\"\n\
             default_replication_factor = 3\n\
             min_insync_replicas = 2\n\
             unclean_leader_election_enable = true\n",
        )
        .unwrap();
        let config = file.to_str().unwrap();
        let (s, notices) = flags(&["--config", config, "--min-insync-replicas", "3"]).unwrap();
        assert_eq!(s.controller_quorum_voters.len(), 3);
        assert_eq!(
            s.controller_listen,
            Some("127.0.0.12:9093".parse().unwrap())
        );
        assert_eq!(s.rack.as_deref(), Some("r2"));
        assert_eq!(
            (s.default_replication_factor, s.min_insync_replicas),
            (3, 3)
        );
        assert!(s.unclean_leader_election_enable);
        assert!(notices.is_empty(), "{notices:?}");
        std::fs::write(&file, "process_roles = \"observer\"\n").unwrap();
        let error = error_of(&["--config", config]);
        assert!(error.contains("observer"), "{error}");
    }

    #[test]
    fn process_roles_parse_as_kafka_writes_them() {
        let parse = |text: &str| text.parse::<ProcessRoles>();
        let roles = |broker, controller| ProcessRoles { broker, controller };
        assert_eq!(parse("broker,controller"), Ok(roles(true, true)));
        assert_eq!(parse("controller, broker"), Ok(roles(true, true)));
        assert_eq!(parse("broker"), Ok(roles(true, false)));
        assert_eq!(parse("Controller"), Ok(roles(false, true)));
        for bad in [
            "",
            "broker,",
            "broker,broker",
            "zookeeper",
            "broker;controller",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        for text in ["broker,controller", "broker", "controller"] {
            assert_eq!(parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn voter_lists_parse_and_refuse_duplicates() {
        let list: VoterList = "1@127.0.0.11:9093, 2@node-2.example:9093,3@[::1]:9093"
            .parse()
            .unwrap();
        assert_eq!(
            list.0,
            vec![
                voter(1, "127.0.0.11", 9093),
                voter(2, "node-2.example", 9093),
                voter(3, "::1", 9093)
            ]
        );
        assert_eq!(
            list.to_string(),
            "1@127.0.0.11:9093,2@node-2.example:9093,3@[::1]:9093"
        );
        assert_eq!("".parse::<VoterList>(), Ok(VoterList::default()));
        for bad in [
            "1@a:9093,1@b:9093",
            "1@a:9093,2@a:9093",
            "1@a:9093,,2@b:9093",
            "1@a",
            "a@b:9093",
            "-1@a:9093",
            "1@:9093",
            "1@a:0",
            "1@a:70000",
            "1a:9093",
        ] {
            assert!(bad.parse::<VoterList>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_voter_listens_on_its_own_voter_address() {
        let voters = "1@127.0.0.11:9093,2@127.0.0.12:9093,3@127.0.0.13:9093";
        let (s, notices) = flags(&[
            "--node-id",
            "3",
            "--listen",
            "127.0.0.13:9092",
            "--controller-quorum-voters",
            voters,
        ])
        .unwrap();
        assert_eq!(
            s.controller_listen,
            Some("127.0.0.13:9093".parse().unwrap())
        );
        assert_eq!(
            s.controller_quorum_voters.get(2),
            Some(&voter(3, "127.0.0.13", 9093))
        );
        assert!(notices.is_empty(), "{notices:?}");
        // An explicit address wins over the voter's.
        let (s, _) = flags(&[
            "--node-id",
            "3",
            "--controller-quorum-voters",
            voters,
            "--controller-listen",
            "0.0.0.0:19093",
        ])
        .unwrap();
        assert_eq!(s.controller_listen, Some("0.0.0.0:19093".parse().unwrap()));
    }

    #[test]
    fn roles_and_voters_must_agree() {
        let voters = "1@127.0.0.11:9093,2@127.0.0.12:9093,3@127.0.0.13:9093";
        // A controller outside the list.
        let error = error_of(&["--node-id", "4", "--controller-quorum-voters", voters]);
        assert!(
            error.contains("node 4 is a controller but not one of"),
            "{error}"
        );
        // A broker-only node inside the list.
        let error = error_of(&[
            "--node-id",
            "2",
            "--process-roles",
            "broker",
            "--controller-quorum-voters",
            voters,
        ]);
        assert!(error.contains("but only a broker"), "{error}");
        // A broker-only node outside the list is what dedicated brokers are.
        let (s, _) = flags(&[
            "--node-id",
            "4",
            "--process-roles",
            "broker",
            "--controller-quorum-voters",
            voters,
        ])
        .unwrap();
        assert_eq!(s.controller_listen, None);
        // ... but it may not have a controller listener.
        let error = error_of(&[
            "--node-id",
            "4",
            "--process-roles",
            "broker",
            "--controller-quorum-voters",
            voters,
            "--controller-listen",
            "127.0.0.14:9093",
        ]);
        assert!(error.contains("no controller listener"), "{error}");
        // Without voters only the combined single node makes sense.
        for roles in ["broker", "controller"] {
            let error = error_of(&["--process-roles", roles]);
            assert!(
                error.contains("needs the controller quorum voters"),
                "{error}"
            );
        }
        // The controller and client listeners cannot share a port.
        let error = error_of(&[
            "--node-id",
            "1",
            "--listen",
            "0.0.0.0:9093",
            "--controller-quorum-voters",
            voters,
        ]);
        assert!(error.contains("share a port"), "{error}");
        let error = error_of(&["--node-id=-1"]);
        assert!(error.contains("negative"), "{error}");
    }

    #[test]
    fn any_voter_count_is_accepted_but_an_even_one_is_warned_about() {
        for (count, warned) in [(1, false), (2, true), (3, false), (4, true), (5, false)] {
            let voters: Vec<String> = (1..=count)
                .map(|id| format!("{id}@127.0.0.{id}:9093"))
                .collect();
            let (s, notices) = flags(&[
                "--node-id",
                "1",
                "--controller-quorum-voters",
                &voters.join(","),
            ])
            .unwrap();
            assert_eq!(s.controller_quorum_voters.len(), count);
            let warnings = notices
                .iter()
                .filter(|n| matches!(n, Notice::Warn(m) if m.contains("even number of voters")))
                .count();
            assert_eq!(warnings, usize::from(warned), "{count} voters: {notices:?}");
        }
    }

    #[test]
    fn replication_settings_are_checked() {
        for (flag, value) in [
            ("--default-replication-factor", "0"),
            ("--offsets-topic-replication-factor", "0"),
            ("--transaction-state-replication-factor=-1", ""),
            ("--min-insync-replicas", "0"),
            ("--transaction-state-min-isr", "0"),
            ("--replica-lag-time-max-ms", "0"),
            ("--broker-heartbeat-interval-ms", "0"),
        ] {
            let argv: Vec<&str> = [flag, value]
                .into_iter()
                .filter(|a| !a.is_empty())
                .collect();
            let error = error_of(&argv);
            assert!(error.contains("must be"), "{flag} {value}: {error}");
        }
        let error = error_of(&["--broker-session-timeout-ms", "2000"]);
        assert!(error.contains("fenced between two heartbeats"), "{error}");
        let (_, notices) = flags(&["--min-insync-replicas", "2"]).unwrap();
        assert!(
            matches!(notices.as_slice(), [Notice::Warn(m)] if m.contains("NOT_ENOUGH_REPLICAS")),
            "{notices:?}"
        );
        let (s, notices) = flags(&["--rack", ""]).unwrap();
        assert_eq!(s.rack, None);
        assert!(notices.is_empty());
    }

    #[test]
    fn minus_one_is_a_value_not_a_flag() {
        let (s, _) = flags(&["--retention-ms", "-1", "--retention-bytes", "-1"]).unwrap();
        assert_eq!(
            (s.log_defaults.retention_ms, s.log_defaults.retention_bytes),
            (-1, -1)
        );
    }

    #[test]
    fn an_unreachable_advertised_host_is_warned_about() {
        let (s, notices) = flags(&["--listen", "0.0.0.0:9092"]).unwrap();
        assert_eq!(s.advertised_host, "0.0.0.0");
        assert!(
            matches!(notices.as_slice(), [Notice::Warn(m)] if m.contains("cannot reach")),
            "{notices:?}"
        );
    }
}
