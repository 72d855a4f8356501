//! The partition state machine under random event sequences: assignments from metadata
//! (leadership moving in, out and back, epochs going up and stale ones replayed), appends,
//! durability reports from the log and from followers, cuts and retention. After every step
//! the invariants the shell relies on are checked against a model of what was appended and
//! made durable:
//!
//! * `log_start <= high_watermark <= log_end`, and the high watermark is never above what
//!   every in-sync replica has made durable;
//! * the high watermark never moves back, except when the log below it is cut;
//! * the epoch cache's epochs and start offsets strictly increase, and a leader's latest
//!   epoch is its assignment's;
//! * a follower refuses produces; a stale assignment changes nothing.
//!
//! Proptest's report (and `PROPTEST_RNG_SEED`) replays a failing case.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use myelin_replication::partition::epochs::EpochCache;
use myelin_replication::partition::{
    Assignment, Input, Output, PartitionState, ReplicationConfig, Role,
};
use myelin_replication::{LeaderEpoch, NodeId};
use myelin_storage::batch::BatchHeader;
use myelin_storage::index::IndexEntry;
use myelin_storage::txn::MARKER_NONE;
use proptest::prelude::*;
use std::collections::BTreeMap;

const ME: NodeId = NodeId(1);
const PEERS: [NodeId; 2] = [NodeId(2), NodeId(3)];

#[derive(Debug, Clone)]
enum Op {
    /// A new assignment: leader index (0 me, 1–2 peers, 3 none), epoch step (0 replays a
    /// stale or equal epoch), ISR mask.
    Assign {
        leader: u8,
        step: u8,
        isr: u8,
    },
    Append {
        records: u8,
    },
    Durable {
        back: u8,
    },
    Progress {
        peer: u8,
        back: u8,
    },
    Cut {
        back: u8,
    },
    LogStart {
        forward: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..4, 0u8..3, 0u8..4).prop_map(|(leader, step, isr)| Op::Assign { leader, step, isr }),
        (1u8..20).prop_map(|records| Op::Append { records }),
        (0u8..5).prop_map(|back| Op::Durable { back }),
        (0u8..2, 0u8..5).prop_map(|(peer, back)| Op::Progress { peer, back }),
        (0u8..10).prop_map(|back| Op::Cut { back }),
        (0u8..10).prop_map(|forward| Op::LogStart { forward }),
    ]
}

fn header(count: i32) -> BatchHeader {
    BatchHeader {
        base_offset: 0,
        batch_length: 0,
        partition_leader_epoch: -1,
        magic: 2,
        crc: 0,
        attributes: 0,
        last_offset_delta: count - 1,
        base_timestamp: 0,
        max_timestamp: 0,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        records_count: count,
    }
}

fn entry(base: i64, last: i64) -> IndexEntry {
    IndexEntry {
        base_offset: base,
        last_offset: last,
        position: 0,
        size: 0,
        max_timestamp: 0,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        attributes: 0,
        control_type: MARKER_NONE,
    }
}

/// What the test knows independently of the state machine.
struct Model {
    log_start: i64,
    log_end: i64,
    durable: i64,
    followers: BTreeMap<NodeId, i64>,
    high_watermark: i64,
    epoch: i32,
}

fn run(ops: &[Op]) {
    let start = Assignment::single(ME);
    let config = ReplicationConfig::default();
    let mut p = PartitionState::new(ME, start.clone(), 0, 0, EpochCache::default(), config);
    let mut assignment = start;
    let mut m = Model {
        log_start: 0,
        log_end: 0,
        durable: 0,
        followers: BTreeMap::new(),
        high_watermark: 0,
        epoch: 0,
    };
    for op in ops {
        let before = p.offsets().high_watermark;
        let mut cut = false;
        match *op {
            Op::Assign { leader, step, isr } => {
                let leader = match leader {
                    0 => ME,
                    1 | 2 => PEERS[leader as usize - 1],
                    _ => NodeId::NONE,
                };
                let epoch = if step == 0 {
                    m.epoch - 1
                } else {
                    m.epoch + step as i32
                };
                let mut in_sync = vec![ME];
                for (i, peer) in PEERS.iter().enumerate() {
                    if isr & (1 << i) != 0 {
                        in_sync.push(*peer);
                    }
                }
                if leader.is_some() && !in_sync.contains(&leader) {
                    in_sync.push(leader);
                }
                let next = Assignment {
                    replicas: vec![ME, PEERS[0], PEERS[1]],
                    isr: in_sync,
                    leader,
                    leader_epoch: LeaderEpoch(epoch),
                    partition_epoch: 0,
                };
                let out = p.step(Input::Assign(next.clone()));
                if epoch < m.epoch {
                    assert!(out.is_empty(), "a stale assignment changed something");
                    assert_eq!(p.assignment(), &assignment);
                } else {
                    if epoch > m.epoch || leader != assignment.leader {
                        m.followers.clear();
                    }
                    m.epoch = epoch;
                    assignment = next;
                }
            }
            Op::Append { records } => {
                let h = header(records as i32);
                match p.check_batch(&h) {
                    Ok(_) => {
                        assert_eq!(p.role(), Role::Leader);
                        let base = m.log_end;
                        let last = base + records as i64 - 1;
                        p.on_appended(&h, &entry(base, last), 0);
                        m.log_end = last + 1;
                    }
                    Err(_) => assert_ne!(p.role(), Role::Leader, "a leader refused"),
                }
            }
            Op::Durable { back } => {
                let end = (m.log_end - back as i64).max(m.durable);
                p.step(Input::Durable { end });
                m.durable = m.durable.max(end);
            }
            Op::Progress { peer, back } => {
                let peer = PEERS[peer as usize];
                let end = (m.log_end - back as i64).max(0);
                p.step(Input::ReplicaProgress {
                    replica: peer,
                    durable_end: end,
                    now_ms: 0,
                });
                if p.role() == Role::Leader {
                    let seen = m.followers.entry(peer).or_insert(end);
                    *seen = (*seen).max(end).min(m.log_end);
                }
            }
            Op::Cut { back } => {
                let end = (m.log_end - back as i64).max(m.log_start);
                p.step(Input::Truncated { end });
                m.log_end = end;
                m.durable = m.durable.min(end);
                for v in m.followers.values_mut() {
                    *v = (*v).min(end);
                }
                cut = end < before;
            }
            Op::LogStart { forward } => {
                let start = (m.log_start + forward as i64).min(p.offsets().high_watermark);
                p.step(Input::LogStart { start });
                m.log_start = m.log_start.max(start);
            }
        }
        check(&p, &m, &assignment, before, cut);
        m.high_watermark = p.offsets().high_watermark;
    }
}

fn check(p: &PartitionState, m: &Model, a: &Assignment, before: i64, cut: bool) {
    let o = p.offsets();
    assert!(o.log_start_offset <= o.high_watermark, "{o:?}");
    assert!(o.high_watermark <= o.log_end_offset, "{o:?}");
    assert_eq!(o.log_end_offset, m.log_end);
    if !cut {
        assert!(
            o.high_watermark >= before,
            "the high watermark moved back: {o:?}"
        );
    }
    if p.role() == Role::Leader {
        // Never above what an in-sync replica has made durable, unless it was committed
        // before that replica joined (the follower's progress restarted with the epoch).
        let mut floor = m.durable;
        for r in &a.isr {
            if *r != ME {
                floor = floor.min(m.followers.get(r).copied().unwrap_or(0));
            }
        }
        assert!(
            o.high_watermark <= floor.max(before).max(m.high_watermark),
            "the high watermark passed an in-sync replica: {o:?} floor {floor}"
        );
        let latest = p.epochs().latest().map(|e| e.epoch);
        assert_eq!(latest, Some(a.leader_epoch), "a leader's latest epoch");
    } else {
        assert_ne!(a.leader, ME);
    }
    for pair in p.epochs().entries().windows(2) {
        assert!(pair[0].epoch < pair[1].epoch && pair[0].start_offset < pair[1].start_offset);
    }
    let _ = Output::RoleChanged;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_under_random_events(ops in proptest::collection::vec(op(), 1..120)) {
        run(&ops);
    }
}
