//! `myelin`: a Kafka-protocol event-streaming broker, thread-per-core on io_uring.
//!
//! Configuration comes from flags, then `MYELIN_*` environment variables, then an optional
//! TOML or Kafka `.properties` file, then defaults: one node, `./myelin-data`,
//! `127.0.0.1:9092`.

/// How long start-up waits for an answer on the listen address before deciding it is free.
const PORT_PROBE_MS: u64 = 200;
/// How long something must keep answering on a listener address to count as another broker.
const PORT_PROBE_WINDOW_MS: u64 = 3_000;

mod admin;
mod config;

/// The system allocator (very large blocks reserved without commitment), counted per thread
/// for `myelin_shard_memory_bytes`.
#[global_allocator]
static ALLOC: myelin_metrics::heap::Counting<myelin_shards::alloc::BrokerAlloc> =
    myelin_metrics::heap::Counting(myelin_shards::alloc::BrokerAlloc);

use anyhow::{bail, Context};
use clap::Parser;
use myelin_shards::{NodeConfig, RuntimeConfig, StopHandle};
use std::sync::{Arc, Mutex};

fn main() -> anyhow::Result<()> {
    let mut args = config::Args::parse();
    if args.command.is_some() {
        // An operator command piped into `head` ends quietly when the pipe closes, as
        // command-line tools do, instead of panicking on a failed print.
        // SAFETY: restoring a signal's default action at start-up, before any thread.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match args.command.take() {
        Some(config::Command::Groups { bootstrap, command }) => {
            return admin::run(&bootstrap, command)
        }
        Some(config::Command::Cluster { bootstrap, command }) => {
            return admin::run_cluster(&bootstrap, command)
        }
        Some(config::Command::Topic { bootstrap, command }) => {
            return admin::run_topic(&bootstrap, command)
        }
        Some(config::Command::Config { bootstrap, command }) => {
            return admin::run_config(&bootstrap, command)
        }
        None => {}
    }
    let (settings, notices) = config::Settings::resolve(args)?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&settings.log_level)),
        )
        .with_writer(std::io::stderr)
        // A log line that cannot be written (stderr on a full disk) is dropped. Reporting
        // the failure would `eprintln!`, which panics when stderr fails, inside a shard.
        .log_internal_errors(false)
        .init();
    for notice in &notices {
        notice.log();
    }
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data directory {}", settings.data_dir.display()))?;
    check_replication_factors(&settings)?;
    let cluster_id = config::cluster_id(&settings)?;
    // Every shard binds with SO_REUSEPORT, which would silently share the port with another
    // broker of the same user; refuse to start when something already answers there.
    let mut ours = Vec::new();
    if settings.process_roles.broker {
        ours.push(settings.listen);
    }
    if let Some(c) = settings.controller_listen {
        ours.push(c);
    }
    for addr in ours {
        if listened_on_throughout(addr) {
            bail!("cannot listen on {addr}: something is already listening there");
        }
    }
    let initial_records =
        myelin_shards::legacy_catalog_records(&settings.data_dir, settings.node_id)?;
    if !initial_records.is_empty() {
        tracing::info!(
            records = initial_records.len(),
            "importing the topic catalog into a new metadata log"
        );
    }
    let cluster = myelin_shards::ClusterConfig {
        node_id: settings.node_id,
        broker: settings.process_roles.broker,
        controller: settings.process_roles.controller,
        voters: settings
            .controller_quorum_voters
            .iter()
            .map(|v| myelin_shards::VoterAddr {
                id: v.id,
                host: v.host.clone(),
                port: v.port,
            })
            .collect(),
        controller_listen: settings.controller_listen,
        // The first listener is the one brokers use among themselves.
        listeners: std::iter::once(myelin_replication::cluster::records::Endpoint {
            name: settings.listener_name.clone(),
            host: settings.advertised_host.clone(),
            port: settings.advertised_port,
        })
        .chain(settings.extra_listeners.iter().map(|l| {
            myelin_replication::cluster::records::Endpoint {
                name: l.name.clone(),
                host: l.advertised_host.clone(),
                port: l.advertised_port,
            }
        }))
        .collect(),
        replication_host: settings.listen.ip(),
        replica_lag_time_max_ms: settings.replica_lag_time_max_ms,
        rack: settings.rack.clone(),
        heartbeat_interval_ms: settings.broker_heartbeat_interval_ms,
        session_timeout_ms: settings.broker_session_timeout_ms,
        default_partitions: settings.default_partitions,
        default_replication_factor: settings.default_replication_factor,
        default_min_insync_replicas: settings.min_insync_replicas,
        unclean_leader_election: settings.unclean_leader_election_enable,
        auto_leader_rebalance: settings.auto_leader_rebalance_enable,
        leader_imbalance_check_interval_ms: settings
            .leader_imbalance_check_interval_seconds
            .saturating_mul(1_000),
        cluster_id,
        initial_records,
    };
    let node = NodeConfig {
        node_id: settings.node_id,
        data_dir: settings.data_dir.clone(),
        log_defaults: myelin_storage::LogConfig {
            min_insync_replicas: settings.min_insync_replicas,
            unclean_leader_election: settings.unclean_leader_election_enable,
            ..settings.log_defaults.clone()
        },
        default_partitions: settings.default_partitions,
        auto_create_topics: settings.auto_create_topics,
        housekeeping_interval_ms: settings.housekeeping_interval_ms,
        cluster,
    };
    let runtime = RuntimeConfig {
        shards: settings.shards,
        pin: settings.pin,
        spin_before_park: std::time::Duration::from_micros(settings.spin_before_park_us),
    };
    let server = myelin_net::ServerConfig {
        listen: settings.listen,
        node_id: settings.node_id,
        advertised_host: settings.advertised_host.clone(),
        advertised_port: settings.advertised_port as i32,
        listener_name: settings.listener_name.clone(),
        protocol: myelin_net::security::SecurityProtocol::Plaintext,
        sasl: Default::default(),
        tls: None,
        offsets_replication_factor: settings.offsets_topic_replication_factor,
        transaction_state_replication_factor: settings.transaction_state_replication_factor,
        transaction_state_min_isr: settings.transaction_state_min_isr,
        connection_limits: settings.connection_limits.clone(),
        authorizer: myelin_net::security::authz::AuthorizerConfig {
            enabled: settings.authorizer,
            super_users: settings.super_users.clone(),
            allow_everyone_if_no_acl_found: settings.allow_everyone_if_no_acl_found,
        },
        coordinator: myelin_net::group::coordinator::CoordinatorConfig {
            group: myelin_net::group::state::GroupConfig {
                min_session_timeout_ms: settings.group_min_session_timeout_ms,
                max_session_timeout_ms: settings.group_max_session_timeout_ms,
                initial_rebalance_delay_ms: settings.group_initial_rebalance_delay_ms,
                ..Default::default()
            },
            offsets_partitions: settings.offsets_topic_partitions,
            txn_partitions: settings.transaction_state_partitions,
            offsets_retention_ms: settings.offsets_retention_ms,
        },
    };
    let stop: Arc<Mutex<Option<StopHandle>>> = Arc::new(Mutex::new(None));
    wait_for_signals(stop.clone())?;
    let broker = settings.process_roles.broker;
    myelin_metrics::set_enabled(settings.metrics);
    let admin_listen = settings.admin_listen;
    let servers: Vec<myelin_net::ServerConfig> = std::iter::once(server.clone())
        .chain(
            settings
                .extra_listeners
                .iter()
                .map(|l| myelin_net::ServerConfig {
                    listen: l.listen,
                    advertised_host: l.advertised_host.clone(),
                    advertised_port: i32::from(l.advertised_port),
                    listener_name: l.name.clone(),
                    protocol: l.protocol,
                    sasl: l.sasl.clone(),
                    tls: l.tls.clone(),
                    ..server.clone()
                }),
        )
        .collect();
    let serve = move |shard: std::rc::Rc<myelin_shards::Shard>| {
        let servers = servers.clone();
        async move {
            if let Some(addr) = admin_listen.filter(|_| shard.id.0 == 0) {
                glommio::spawn_local(myelin_net::admin::serve_admin(shard.clone(), addr)).detach();
            }
            if broker {
                myelin_net::serve(shard, servers).await;
            } else {
                // A controller-only node serves no clients; its shards run the quorum.
                shard.stopped().await;
            }
        }
    };
    let listen = settings.listen;
    let data_dir = settings.data_dir.clone();
    myelin_shards::run(node, runtime, serve, move |handle| {
        if let Ok(mut slot) = stop.lock() {
            *slot = Some(handle);
        }
        tracing::info!(%listen, data_dir = %data_dir.display(), "myelin started");
    })?;
    tracing::info!("myelin stopped cleanly");
    Ok(())
}

/// Whether something keeps answering at `addr` for [`PORT_PROBE_WINDOW_MS`]. A process that
/// has just exited may answer for a moment longer (the kernel tears down its io_uring, and
/// with it the listeners of accepts in flight, after the process is gone), so a restart
/// right after a stop is not taken for a second broker.
fn listened_on_throughout(addr: std::net::SocketAddr) -> bool {
    let probe = std::time::Duration::from_millis(PORT_PROBE_MS);
    let until = std::time::Instant::now() + std::time::Duration::from_millis(PORT_PROBE_WINDOW_MS);
    loop {
        if std::net::TcpStream::connect_timeout(&addr, probe).is_err() {
            return false;
        }
        if std::time::Instant::now() >= until {
            return true;
        }
        std::thread::sleep(probe);
    }
}

/// Replication factors above what this build replicates cannot be honoured: refused at start.
fn check_replication_factors(settings: &config::Settings) -> anyhow::Result<()> {
    let max = myelin_net::limits::REPLICATION_FACTOR_MAX;
    for (name, rf) in [
        (
            "default.replication.factor",
            settings.default_replication_factor,
        ),
        (
            "offsets.topic.replication.factor",
            settings.offsets_topic_replication_factor,
        ),
        (
            "transaction.state.log.replication.factor",
            settings.transaction_state_replication_factor,
        ),
    ] {
        if rf > max {
            bail!("{name}={rf} cannot be honoured: a partition has at most {max} replicas");
        }
    }
    Ok(())
}

/// Blocks SIGINT and SIGTERM in every thread (the shards inherit the mask) and waits for
/// them on a thread of their own, which then starts an orderly shutdown.
fn wait_for_signals(stop: Arc<Mutex<Option<StopHandle>>>) -> anyhow::Result<()> {
    // SAFETY: plain libc signal-set manipulation on a stack value we own.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            bail!("cannot block termination signals");
        }
        set
    };
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut sig: libc::c_int = 0;
            // SAFETY: `set` is a valid, initialised signal set.
            unsafe { libc::sigwait(&set, &mut sig) };
            tracing::info!(signal = sig, "shutting down");
            loop {
                if let Ok(slot) = stop.lock() {
                    if let Some(h) = slot.as_ref() {
                        h.stop();
                        return;
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(
                    myelin_shards::limits::STOP_CHECK_MS,
                ));
            }
        })?;
    Ok(())
}
