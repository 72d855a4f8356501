#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
//! Seeded simulation of the metadata quorum (see `sim/mod.rs`).
//!
//! `QUORUM_SIM_SEED=<n>` replays one seed; `QUORUM_SIM_SEEDS=<count>` sets how many seeds the
//! sweep runs (default 300, a CI-sized run); `QUORUM_SIM_FIRST=<n>` moves the sweep's start.

mod sim;

use sim::seeds::{env_u64, panic_text};
use sim::{Sim, SimConfig, Stats};
use std::time::Instant;

/// Runs one seed; any failure, ours or a panic inside a state machine, names the seed.
fn run(seed: u64) -> Stats {
    let config = SimConfig::for_seed(seed);
    let outcome = std::panic::catch_unwind(|| Sim::new(seed, config).run());
    match outcome {
        Ok(Ok(stats)) => stats,
        Ok(Err(e)) => panic!("{e}"),
        Err(panic) => {
            let what = panic_text(panic.as_ref());
            panic!(
                "quorum simulation panicked: {what}\n  seed {seed} ({config:?}); replay with \
                 QUORUM_SIM_SEED={seed} cargo test -p myelin-replication --test quorum_sim"
            )
        }
    }
}

#[test]
fn quorum_survives_seeded_faults() {
    if let Some(seed) = env_u64("QUORUM_SIM_SEED") {
        let stats = run(seed);
        println!("seed {seed}: {stats:?}");
        return;
    }
    let count = env_u64("QUORUM_SIM_SEEDS").unwrap_or(300);
    let first = env_u64("QUORUM_SIM_FIRST").unwrap_or(0);
    let started = Instant::now();
    let mut total = Stats::default();
    for seed in first..first + count {
        let s = run(seed);
        total.crashes += s.crashes;
        total.partitions += s.partitions;
        total.dropped += s.dropped;
        total.delivered += s.delivered;
        total.fenced_seen += s.fenced_seen;
        total.unfenced_seen += s.unfenced_seen;
        total.snapshots_restored += s.snapshots_restored;
        total.leaders += s.leaders;
        total.crashes_after_vote += s.crashes_after_vote;
        total.max_commit = total.max_commit.max(s.max_commit);
    }
    println!(
        "{count} seeds from {first} in {:.1} s: {total:?}",
        started.elapsed().as_secs_f64()
    );
    // The faults must really have happened, or the sweep proves nothing.
    assert!(total.crashes > 0 && total.partitions > 0 && total.dropped > 0);
    assert!(total.fenced_seen > 0 && total.unfenced_seen > 0);
}

#[test]
fn one_seed_is_deterministic() {
    let a = run(7);
    let b = run(7);
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}
