//! Leader elections: after a broker is fenced, unfenced or shuts down; preferred-replica
//! elections (periodic, when `auto.leader.rebalance.enable`, and through ElectLeaders); and
//! unclean elections, where a topic allows them.
//!
//! The order of preference for a partition without a live leader: the first live ISR member
//! (in replica order); else a live eligible leader replica (KIP-966), which holds everything
//! committed; else, only where `unclean.leader.election.enable` holds, the first live
//! replica, which may lack committed records; else the partition goes offline.

use super::{ControllerConfig, Decision};
use crate::cluster::image::{MetadataImage, TopicImage};
use crate::cluster::records::{MetadataRecord, PartitionAssignment};
use crate::error::ControllerError;
use crate::types::{NodeId, TopicId};
use rkyv::{Archive, Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What an ElectLeaders request asks for (Kafka's election type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Archive, Serialize, Deserialize)]
#[rkyv(derive(Debug), attr(allow(missing_docs)))]
pub enum ElectionType {
    /// Move leadership to the first replica, if it is live and in sync (type 0).
    Preferred,
    /// Elect a leader for a partition that has none, from outside the ISR if need be
    /// (type 1).
    Unclean,
}

/// How a topic's partitions elect: its `min.insync.replicas` and whether unclean elections
/// are allowed, from its configs or the controller's defaults.
#[derive(Debug, Clone, Copy)]
pub(super) struct Policy {
    pub(super) min_isr: usize,
    unclean: bool,
}

impl Policy {
    pub(super) fn of(topic: &TopicImage, config: &ControllerConfig) -> Policy {
        let min_isr = topic
            .configs
            .get("min.insync.replicas")
            .and_then(|v| v.trim().parse::<i32>().ok())
            .unwrap_or(config.default_min_insync_replicas)
            .max(1) as usize;
        let unclean = topic
            .configs
            .get("unclean.leader.election.enable")
            .map(|v| v.trim().eq_ignore_ascii_case("true"))
            .unwrap_or(config.unclean_leader_election);
        Policy { min_isr, unclean }
    }
}

/// Leader and ISR changes so that no broker in `gone` leads or stays in an ISR, and every
/// partition without a live leader gets one (see the module docs). `live` says who may lead
/// after this decision.
///
/// Eligible leader replicas as KIP-966 keeps them (Kafka 4's default): a replica fenced out
/// of an ISR that falls below the topic's `min.insync.replicas` joins the ELR, since it holds
/// everything committed; while the ISR is empty the ELR is also the last known ELR; an ISR
/// back at the minimum clears both.
pub(super) fn partition_changes(
    image: &MetadataImage,
    gone: &BTreeSet<NodeId>,
    live: impl Fn(NodeId) -> bool,
    config: &ControllerConfig,
) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for t in image.topics() {
        let policy = Policy::of(t, config);
        for (partition, p) in t.partitions.iter().enumerate() {
            let change = partition_change(p, gone, &live, policy, policy.unclean);
            if let Some(next) = change {
                records.push(change_record(t.id, partition as i32, p, next));
            }
        }
    }
    records
}

/// A partition's leader, ISR and ELRs after a change.
struct Next {
    leader: NodeId,
    isr: Vec<NodeId>,
    elr: Vec<NodeId>,
    last_known_elr: Vec<NodeId>,
}

fn partition_change(
    p: &PartitionAssignment,
    gone: &BTreeSet<NodeId>,
    live: &impl Fn(NodeId) -> bool,
    policy: Policy,
    unclean: bool,
) -> Option<Next> {
    let mut isr: Vec<NodeId> = p
        .isr
        .iter()
        .copied()
        .filter(|n| !gone.contains(n))
        .collect();
    let mut elr = p.elr.clone();
    let mut last_known_elr = p.last_known_elr.clone();
    if isr.len() < policy.min_isr {
        for removed in p.isr.iter().filter(|n| gone.contains(n)) {
            if !elr.contains(removed) {
                elr.push(*removed);
            }
        }
    }
    let first_live = |among: &[NodeId]| {
        p.replicas
            .iter()
            .copied()
            .find(|r| among.contains(r) && live(*r))
    };
    let leader = if p.leader.is_some() && live(p.leader) && isr.contains(&p.leader) {
        p.leader
    } else if let Some(l) = first_live(&isr) {
        l
    } else if let Some(l) = first_live(&elr) {
        // An eligible leader replica has everything committed: it leads, alone in the ISR.
        elr.retain(|r| *r != l);
        isr = vec![l];
        l
    } else if let Some(l) = first_live(&p.replicas).filter(|_| unclean) {
        // Unclean: what the others acknowledged and this one lacks is lost.
        elr.clear();
        last_known_elr.clear();
        isr = vec![l];
        l
    } else {
        NodeId::NONE
    };
    if isr.len() >= policy.min_isr {
        elr.clear();
        last_known_elr.clear();
    } else if isr.is_empty() && !elr.is_empty() {
        last_known_elr.clone_from(&elr);
    }
    if leader == p.leader && isr == p.isr && elr == p.elr && last_known_elr == p.last_known_elr {
        return None;
    }
    Some(Next {
        leader,
        isr,
        elr,
        last_known_elr,
    })
}

fn change_record(
    topic: TopicId,
    partition: i32,
    p: &PartitionAssignment,
    next: Next,
) -> MetadataRecord {
    let leader_epoch = if next.leader == p.leader {
        p.leader_epoch
    } else {
        p.leader_epoch.next()
    };
    MetadataRecord::ChangePartition {
        topic,
        partition,
        leader: next.leader,
        isr: next.isr,
        leader_epoch,
        partition_epoch: p.partition_epoch.saturating_add(1),
        elr: next.elr,
        last_known_elr: next.last_known_elr,
    }
}

/// The preferred replica of `p` may take leadership: it is live, in sync, and not leading.
fn preferred_election(
    p: &PartitionAssignment,
    live: &impl Fn(NodeId) -> bool,
) -> Result<NodeId, ControllerError> {
    let preferred = p.replicas.first().copied().unwrap_or(NodeId::NONE);
    if preferred == p.leader {
        return Err(ControllerError::ElectionNotNeeded);
    }
    if !live(preferred) || !p.isr.contains(&preferred) {
        return Err(ControllerError::PreferredLeaderNotAvailable);
    }
    Ok(preferred)
}

/// Moves leadership back to preferred replicas wherever that is possible (Kafka's periodic
/// leader rebalance): the preferred replica is live and in the ISR.
pub(super) fn rebalance_leaders(
    image: &MetadataImage,
    live: impl Fn(NodeId) -> bool,
) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for t in image.topics() {
        for (partition, p) in t.partitions.iter().enumerate() {
            if let Ok(leader) = preferred_election(p, &live) {
                let next = Next {
                    leader,
                    isr: p.isr.clone(),
                    elr: p.elr.clone(),
                    last_known_elr: p.last_known_elr.clone(),
                };
                records.push(change_record(t.id, partition as i32, p, next));
            }
        }
    }
    records
}

/// Per partition of an ElectLeaders request: the outcome, by (topic, partition).
pub type ElectionResults = Vec<(String, i32, Result<(), ControllerError>)>;

/// ElectLeaders (API 43). `partitions: None` means every partition; then partitions that
/// need no election are left out of the answer, as Kafka does.
pub(super) fn elect_leaders(
    image: &MetadataImage,
    config: &ControllerConfig,
    live: impl Fn(NodeId) -> bool,
    election: ElectionType,
    partitions: Option<&[(String, i32)]>,
) -> Decision {
    let all: Vec<(String, i32)>;
    let asked = match partitions {
        Some(asked) => asked,
        None => {
            all = image
                .topics()
                .flat_map(|t| (0..t.partitions.len() as i32).map(|p| (t.name.clone(), p)))
                .collect();
            &all
        }
    };
    let mut records = Vec::new();
    let mut results: ElectionResults = Vec::with_capacity(asked.len());
    let mut decided: BTreeMap<(TopicId, i32), Result<(), ControllerError>> = BTreeMap::new();
    for (topic, partition) in asked {
        let found = image.topic(topic).and_then(|t| {
            let p = usize::try_from(*partition).ok()?;
            t.partitions.get(p).map(|a| (t, a))
        });
        let Some((t, p)) = found else {
            let e = ControllerError::UnknownTopicOrPartition(format!("{topic}-{partition}"));
            results.push((topic.clone(), *partition, Err(e)));
            continue;
        };
        // A partition named twice is decided once.
        if let Some(r) = decided.get(&(t.id, *partition)) {
            results.push((topic.clone(), *partition, r.clone()));
            continue;
        }
        let outcome = match election {
            ElectionType::Preferred => preferred_election(p, &live).map(|leader| Next {
                leader,
                isr: p.isr.clone(),
                elr: p.elr.clone(),
                last_known_elr: p.last_known_elr.clone(),
            }),
            ElectionType::Unclean if p.leader.is_some() && live(p.leader) => {
                Err(ControllerError::ElectionNotNeeded)
            }
            ElectionType::Unclean => {
                let policy = Policy::of(t, config);
                partition_change(p, &BTreeSet::new(), &live, policy, true)
                    .filter(|next| next.leader.is_some())
                    .ok_or(ControllerError::EligibleLeadersNotAvailable)
            }
        };
        let result = outcome.map(|next| {
            records.push(change_record(t.id, *partition, p, next));
        });
        decided.insert((t.id, *partition), result.clone());
        if partitions.is_none() && matches!(result, Err(ControllerError::ElectionNotNeeded)) {
            continue;
        }
        results.push((topic.clone(), *partition, result));
    }
    Decision {
        records,
        response: super::ControllerResponse::ElectLeaders(results),
    }
}
