//! `myelin`: a Kafka-protocol event-streaming broker, thread-per-core on io_uring.
//!
//! Configuration comes from flags, then `MYELIN_*` environment variables, then an optional
//! TOML or Kafka `.properties` file, then defaults: one node, `./myelin-data`,
//! `127.0.0.1:9092`.

/// How long start-up waits for an answer on the listen address before deciding it is free.
const PORT_PROBE_MS: u64 = 200;

mod admin;
mod config;

#[global_allocator]
static ALLOC: myelin_shards::alloc::BrokerAlloc = myelin_shards::alloc::BrokerAlloc;

use anyhow::{bail, Context};
use clap::Parser;
use myelin_shards::{NodeConfig, RuntimeConfig, StopHandle};
use std::sync::{Arc, Mutex};

fn main() -> anyhow::Result<()> {
    let mut args = config::Args::parse();
    if let Some(config::Command::Groups { bootstrap, command }) = args.command.take() {
        return admin::run(&bootstrap, command);
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
    let cluster_id = config::cluster_id(&settings.data_dir)?;
    // Every shard binds with SO_REUSEPORT, which would silently share the port with another
    // broker of the same user; refuse to start when something already answers there.
    if std::net::TcpStream::connect_timeout(
        &settings.listen,
        std::time::Duration::from_millis(PORT_PROBE_MS),
    )
    .is_ok()
    {
        bail!(
            "cannot listen on {}: something is already listening there",
            settings.listen
        );
    }
    let node = NodeConfig {
        node_id: settings.node_id,
        data_dir: settings.data_dir.clone(),
        log_defaults: settings.log_defaults.clone(),
        default_partitions: settings.default_partitions,
        auto_create_topics: settings.auto_create_topics,
        housekeeping_interval_ms: settings.housekeeping_interval_ms,
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
        cluster_id,
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
    let serve = move |shard| myelin_net::serve(shard, server.clone());
    let listen = settings.listen;
    let data_dir = settings.data_dir.clone();
    myelin_shards::run(node, runtime, serve, move |handle| {
        if let Ok(mut slot) = stop.lock() {
            *slot = Some(handle);
        }
        tracing::info!(%listen, data_dir = %data_dir.display(), "myelin is serving Kafka clients");
    })?;
    tracing::info!("myelin stopped cleanly");
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
