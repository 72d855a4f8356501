#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
//! Seeded simulation of partition replication: leaders, followers and the controller under
//! faults (see `sim/replication/mod.rs`), with the invariants of `sim/replication/check.rs`.
//!
//! `REPLICATION_SIM_SEED=<n>` replays one seed; `REPLICATION_SIM_SEEDS=<count>` sets how many
//! seeds the sweep runs (default 2000); `REPLICATION_SIM_FIRST=<n>` moves the sweep's start.
//! The sweep runs on two threads, each taking every other seed.

mod sim {
    pub mod net;
    pub mod replication;
    pub mod seeds;
}

use sim::replication::{Sim, SimConfig, Stats};
use sim::seeds::{env_u64, panic_text};
use std::time::Instant;

/// Threads the sweep runs on: the machines it runs on have few cores to spare.
const SWEEP_THREADS: u64 = 2;

/// Runs one seed; any failure, an invariant or a panic inside a state machine, names the
/// seed and how to replay it.
fn run(seed: u64) -> Result<Stats, String> {
    let config = SimConfig::for_seed(seed);
    let outcome = std::panic::catch_unwind(|| Sim::new(seed, config).and_then(|mut s| s.run()));
    match outcome {
        Ok(result) => result,
        Err(panic) => {
            let what = panic_text(panic.as_ref());
            Err(format!(
                "replication simulation panicked: {what}\n  seed={seed} ({config:?}); replay \
                 with REPLICATION_SIM_SEED={seed} cargo test -p myelin-replication --test \
                 replication_sim -- --nocapture"
            ))
        }
    }
}

fn add(total: &mut Stats, s: &Stats) {
    total.crashes += s.crashes;
    total.lost_unsynced += s.lost_unsynced;
    total.pauses += s.pauses;
    total.partitions += s.partitions;
    total.conn_breaks += s.conn_breaks;
    total.disk_full += s.disk_full;
    total.failovers += s.failovers;
    total.truncations += s.truncations;
    total.max_leader_epoch = total.max_leader_epoch.max(s.max_leader_epoch);
    total.produced += s.produced;
    total.acked += s.acked;
    total.events += s.events;
}

#[test]
fn replication_survives_seeded_faults() {
    if let Some(seed) = env_u64("REPLICATION_SIM_SEED") {
        match run(seed) {
            Ok(stats) => println!("seed={seed}: {stats:?}"),
            Err(e) => panic!("{e}"),
        }
        return;
    }
    let count = env_u64("REPLICATION_SIM_SEEDS").unwrap_or(2000);
    let first = env_u64("REPLICATION_SIM_FIRST").unwrap_or(0);
    let started = Instant::now();
    let results: Vec<(Stats, Vec<(u64, String)>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..SWEEP_THREADS)
            .map(|t| {
                scope.spawn(move || {
                    let mut total = Stats::default();
                    let mut failed = Vec::new();
                    let mut seed = first + t;
                    while seed < first + count {
                        match run(seed) {
                            Ok(s) => add(&mut total, &s),
                            Err(e) => failed.push((seed, e)),
                        }
                        seed += SWEEP_THREADS;
                    }
                    (total, failed)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let mut total = Stats::default();
    let mut failed = Vec::new();
    for (s, f) in results {
        add(&mut total, &s);
        failed.extend(f);
    }
    if !failed.is_empty() {
        failed.sort_by_key(|(seed, _)| *seed);
        for (_, e) in &failed {
            eprintln!("{}", e.lines().next().unwrap_or_default());
        }
        let seeds: Vec<u64> = failed.iter().map(|(seed, _)| *seed).collect();
        panic!(
            "{} of {count} seeds failed: {seeds:?}; the first:\n{}",
            failed.len(),
            failed.first().map_or("", |(_, e)| e.as_str())
        );
    }
    println!(
        "{count} seeds from {first} in {:.1} s: {total:?}",
        started.elapsed().as_secs_f64()
    );
    // The faults must really have happened, or the sweep proves nothing.
    assert!(total.crashes > 0 && total.lost_unsynced > 0 && total.pauses > 0);
    assert!(total.partitions > 0 && total.conn_breaks > 0 && total.disk_full > 0);
    assert!(total.failovers > 0 && total.truncations > 0 && total.acked > 0);
    assert!(total.max_leader_epoch > 1);
}

#[test]
fn one_seed_is_deterministic() {
    let a = run(11).unwrap();
    let b = run(11).unwrap();
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}
