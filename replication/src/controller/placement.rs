//! Rack-aware replica placement for new partitions.
//!
//! Brokers are laid on a ring that alternates racks (rack a's first broker, rack b's first,
//! …, rack a's second, …). Partition `p`'s leader is ring slot `start + p`, so leaders go
//! round-robin and no broker leads more than one partition above any other. Followers are
//! taken further along the ring (with a shift that changes every full turn, so follower sets
//! vary), skipping brokers on racks the partition already uses until every rack has a replica.
//! A broker without a rack counts as a rack of its own.
//!
//! The placement is a pure function of its inputs, so it replays in the simulator.

use crate::error::ControllerError;
use crate::types::NodeId;
use std::collections::{BTreeMap, BTreeSet};

/// A live broker as placement sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The broker.
    pub id: NodeId,
    /// Its rack.
    pub rack: Option<String>,
}

/// A rack key: a named rack, or the broker itself when it has none.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Rack<'a> {
    Named(&'a str),
    Alone(NodeId),
}

fn rack_of(c: &Candidate) -> Rack<'_> {
    match &c.rack {
        Some(r) => Rack::Named(r),
        None => Rack::Alone(c.id),
    }
}

/// The rack-alternating ring of brokers.
fn ring(brokers: &[Candidate]) -> Vec<&Candidate> {
    let mut by_rack: BTreeMap<Rack<'_>, Vec<&Candidate>> = BTreeMap::new();
    for b in brokers {
        by_rack.entry(rack_of(b)).or_default().push(b);
    }
    for members in by_rack.values_mut() {
        members.sort_by_key(|c| c.id);
    }
    let deepest = by_rack.values().map(Vec::len).max().unwrap_or(0);
    let mut out = Vec::with_capacity(brokers.len());
    for round in 0..deepest {
        out.extend(by_rack.values().filter_map(|m| m.get(round).copied()));
    }
    out
}

/// Replica lists (leader first) for `partitions` new partitions of `replication_factor`
/// replicas over `brokers` (the live ones). `start` rotates the first leader, so that
/// successive topics do not all start on the same broker.
pub fn place(
    brokers: &[Candidate],
    partitions: usize,
    replication_factor: usize,
    start: usize,
) -> Result<Vec<Vec<NodeId>>, ControllerError> {
    let ring = ring(brokers);
    let n = ring.len();
    if replication_factor == 0 || replication_factor > n {
        return Err(ControllerError::InvalidReplicationFactor(format!(
            "replication factor {replication_factor} with {n} live brokers"
        )));
    }
    let racks = ring
        .iter()
        .map(|c| rack_of(c))
        .collect::<BTreeSet<_>>()
        .len();
    let mut out = Vec::with_capacity(partitions);
    for p in 0..partitions {
        let first = (start + p) % n;
        // Kafka-style shift: followers start 1..n-1 slots after the leader, varying per turn.
        let shift = if n > 1 { 1 + (p / n) % (n - 1) } else { 0 };
        let mut chosen: Vec<&Candidate> = Vec::with_capacity(replication_factor);
        let mut used: BTreeSet<Rack<'_>> = BTreeSet::new();
        if let Some(leader) = ring.get(first) {
            chosen.push(leader);
            used.insert(rack_of(leader));
        }
        while chosen.len() < replication_factor {
            if used.len() == racks {
                used.clear();
            }
            let pick = (0..n)
                .filter_map(|k| ring.get((first + shift + k) % n))
                .filter(|c| !chosen.iter().any(|x| x.id == c.id))
                .find(|c| !used.contains(&rack_of(c)));
            match pick {
                Some(c) => {
                    used.insert(rack_of(c));
                    chosen.push(c);
                }
                // Every unchosen broker sits on a used rack: allow reuse of racks.
                None => used.clear(),
            }
        }
        out.push(chosen.iter().map(|c| c.id).collect());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brokers(racks: &[Option<&str>]) -> Vec<Candidate> {
        racks
            .iter()
            .enumerate()
            .map(|(i, r)| Candidate {
                id: NodeId(i as i32),
                rack: r.map(str::to_string),
            })
            .collect()
    }

    fn rack(bs: &[Candidate], id: NodeId) -> Option<String> {
        bs.iter().find(|b| b.id == id).unwrap().rack.clone()
    }

    #[test]
    fn replicas_of_a_partition_land_on_distinct_racks() {
        let bs = brokers(&[
            Some("a"),
            Some("a"),
            Some("b"),
            Some("b"),
            Some("c"),
            Some("c"),
        ]);
        let placed = place(&bs, 12, 3, 0).unwrap();
        for replicas in &placed {
            let racks: BTreeSet<_> = replicas.iter().map(|&r| rack(&bs, r)).collect();
            assert_eq!(racks.len(), 3, "{replicas:?}");
        }
    }

    #[test]
    fn more_replicas_than_racks_still_spreads_and_stays_distinct() {
        let bs = brokers(&[Some("a"), Some("a"), Some("a"), Some("b")]);
        for replicas in place(&bs, 8, 3, 1).unwrap() {
            let distinct: BTreeSet<_> = replicas.iter().collect();
            assert_eq!(distinct.len(), 3);
            assert!(replicas
                .iter()
                .any(|&r| rack(&bs, r).as_deref() == Some("b")));
        }
    }

    #[test]
    fn leaders_are_spread_evenly() {
        for n in 1..7 {
            let bs = brokers(&vec![None; n]);
            for partitions in [1, 5, 13, 60] {
                let placed = place(&bs, partitions, n.min(3), 3).unwrap();
                let mut leads = vec![0usize; n];
                for replicas in &placed {
                    leads[replicas[0].0 as usize] += 1;
                }
                let (lo, hi) = (leads.iter().min().unwrap(), leads.iter().max().unwrap());
                assert!(
                    hi - lo <= 1,
                    "{n} brokers, {partitions} partitions: {leads:?}"
                );
            }
        }
    }

    #[test]
    fn replication_factor_above_live_brokers_is_refused() {
        let bs = brokers(&[None, None]);
        assert!(matches!(
            place(&bs, 1, 3, 0),
            Err(ControllerError::InvalidReplicationFactor(_))
        ));
        assert!(place(&[], 1, 1, 0).is_err());
        assert!(place(&bs, 1, 0, 0).is_err());
    }

    #[test]
    fn followers_vary_between_turns() {
        let bs = brokers(&[None, None, None, None]);
        let placed = place(&bs, 8, 2, 0).unwrap();
        assert_ne!(placed[0], placed[4], "second turn shifts followers");
    }
}
