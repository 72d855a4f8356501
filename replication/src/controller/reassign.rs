//! Partition reassignment (KIP-455): AlterPartitionReassignments moves a partition to a new
//! replica set in steps that never lose an in-sync copy.
//!
//! 1. Start: the replica set becomes the target followed by the replicas to remove; the new
//!    ones (`adding`) open the partition as followers and catch up from the leader.
//! 2. The leader adds each one to the ISR once caught up (AlterPartition).
//! 3. Complete, as soon as every added replica is in the ISR and a target replica is in
//!    sync: the replica set becomes the target, the removed replicas leave the ISR (and
//!    delete their copy), and leadership moves if the leader was among them.
//!
//! A reassignment named again replaces the running one (from the replicas it started
//! with); `None` cancels it, back to those replicas.

use super::Decision;
use crate::cluster::image::{MetadataImage, REPLICAS_MAX};
use crate::cluster::records::{MetadataRecord, PartitionAssignment};
use crate::error::ControllerError;
use crate::types::{NodeId, TopicId};

/// Per partition of an AlterPartitionReassignments request: the outcome, in request order.
pub type ReassignResults = Vec<(String, i32, Result<(), ControllerError>)>;

/// One partition's wanted replicas (`None`: cancel its reassignment).
pub type Reassignment = (String, i32, Option<Vec<NodeId>>);

/// AlterPartitionReassignments.
pub(super) fn alter_reassignments(
    image: &MetadataImage,
    live: impl Fn(NodeId) -> bool,
    asked: &[Reassignment],
) -> Decision {
    let mut records = Vec::new();
    let mut results: ReassignResults = Vec::with_capacity(asked.len());
    let mut seen = std::collections::BTreeSet::new();
    for (topic, partition, target) in asked {
        let result = (|| {
            let t = image
                .topic(topic)
                .ok_or_else(|| ControllerError::UnknownTopicOrPartition(topic.clone()))?;
            let p = usize::try_from(*partition)
                .ok()
                .and_then(|i| t.partitions.get(i))
                .ok_or_else(|| {
                    ControllerError::UnknownTopicOrPartition(format!("{topic}-{partition}"))
                })?;
            if !seen.insert((t.id, *partition)) {
                return Err(ControllerError::InvalidRequest(format!(
                    "{topic}-{partition} named twice"
                )));
            }
            let record = match target {
                Some(target) => start(image, t.id, *partition, p, target, &live)?,
                None => cancel(t.id, *partition, p, &live)?,
            };
            records.extend(record);
            Ok(())
        })();
        results.push((topic.clone(), *partition, result));
    }
    Decision {
        records,
        response: super::ControllerResponse::AlterReassignments(results),
    }
}

/// The members of `p`'s ISR among `replicas`, in ISR order.
fn in_sync_among(p: &PartitionAssignment, replicas: &[NodeId]) -> Vec<NodeId> {
    p.isr
        .iter()
        .copied()
        .filter(|r| replicas.contains(r))
        .collect()
}

/// The replicas a partition had before its running reassignment (all when none runs).
fn original(p: &PartitionAssignment) -> Vec<NodeId> {
    p.replicas
        .iter()
        .copied()
        .filter(|r| !p.adding.contains(r))
        .collect()
}

fn start(
    image: &MetadataImage,
    topic: TopicId,
    partition: i32,
    p: &PartitionAssignment,
    target: &[NodeId],
    live: &impl Fn(NodeId) -> bool,
) -> Result<Option<MetadataRecord>, ControllerError> {
    let bad = |why: String| ControllerError::InvalidReplicaAssignment(why);
    if target.is_empty() || target.len() > REPLICAS_MAX {
        return Err(bad(format!(
            "{} replicas: a partition has 1 to {REPLICAS_MAX}",
            target.len()
        )));
    }
    for (at, r) in target.iter().enumerate() {
        if target.iter().take(at).any(|t| t == r) {
            return Err(bad(format!("broker {r} named twice")));
        }
        if image.broker(*r).is_none() {
            return Err(bad(format!("broker {r} is not registered")));
        }
    }
    let base = original(p);
    if base == target && !p.reassigning() {
        return Ok(None);
    }
    let adding: Vec<NodeId> = target
        .iter()
        .copied()
        .filter(|r| !base.contains(r))
        .collect();
    let removing: Vec<NodeId> = base
        .iter()
        .copied()
        .filter(|r| !target.contains(r))
        .collect();
    let mut replicas = target.to_vec();
    replicas.extend(removing.iter().copied());
    let next = PartitionAssignment {
        isr: in_sync_among(p, &replicas),
        replicas,
        adding,
        removing,
        ..p.clone()
    };
    let next = completed(&next, live).unwrap_or(next);
    Ok(Some(record(topic, partition, p, &next, live)))
}

fn cancel(
    topic: TopicId,
    partition: i32,
    p: &PartitionAssignment,
    live: &impl Fn(NodeId) -> bool,
) -> Result<Option<MetadataRecord>, ControllerError> {
    if !p.reassigning() {
        return Err(ControllerError::NoReassignmentInProgress);
    }
    let replicas = original(p);
    let next = PartitionAssignment {
        isr: in_sync_among(p, &replicas),
        replicas,
        adding: Vec::new(),
        removing: Vec::new(),
        ..p.clone()
    };
    Ok(Some(record(topic, partition, p, &next, live)))
}

/// The partition with its reassignment complete, if it may complete: every added replica is
/// in the ISR and so is a replica of the target.
pub(super) fn completed(
    p: &PartitionAssignment,
    live: &impl Fn(NodeId) -> bool,
) -> Option<PartitionAssignment> {
    if !p.reassigning() || p.adding.iter().any(|r| !p.isr.contains(r)) {
        return None;
    }
    let target = p.target_replicas();
    let isr = in_sync_among(p, &target);
    if !isr.iter().any(|r| live(*r)) {
        return None;
    }
    Some(PartitionAssignment {
        replicas: target,
        isr,
        adding: Vec::new(),
        removing: Vec::new(),
        ..p.clone()
    })
}

/// The record that takes `p` to `next`'s replicas and ISR, with a leader in both: the
/// current one if it stays in sync and live, else the first live in-sync replica.
fn record(
    topic: TopicId,
    partition: i32,
    p: &PartitionAssignment,
    next: &PartitionAssignment,
    live: &impl Fn(NodeId) -> bool,
) -> MetadataRecord {
    let keeps = p.leader.is_some() && next.isr.contains(&p.leader) && live(p.leader);
    let leader = if keeps {
        p.leader
    } else {
        next.replicas
            .iter()
            .copied()
            .find(|r| next.isr.contains(r) && live(*r))
            .unwrap_or(NodeId::NONE)
    };
    MetadataRecord::ReassignPartition {
        topic,
        partition,
        replicas: next.replicas.clone(),
        adding: next.adding.clone(),
        removing: next.removing.clone(),
        leader,
        isr: next.isr.clone(),
        leader_epoch: if leader == p.leader {
            p.leader_epoch
        } else {
            p.leader_epoch.next()
        },
        partition_epoch: p.partition_epoch.saturating_add(1),
    }
}

/// Completes every reassignment that may complete (run with the controller's periodic work).
pub(super) fn complete_ready(
    image: &MetadataImage,
    live: impl Fn(NodeId) -> bool,
) -> Vec<MetadataRecord> {
    image
        .partitions()
        .filter_map(|(topic, partition, p)| {
            completed(p, &live).map(|next| record(topic, partition, p, &next, &live))
        })
        .collect()
}

/// The record an ISR change becomes when it lets a reassignment complete.
pub(super) fn completing_isr_change(
    topic: TopicId,
    partition: i32,
    p: &PartitionAssignment,
    isr: &[NodeId],
    live: impl Fn(NodeId) -> bool,
) -> Option<MetadataRecord> {
    let changed = PartitionAssignment {
        isr: isr.to_vec(),
        ..p.clone()
    };
    let next = completed(&changed, &live)?;
    // The ISR change and the completion are one step: the partition epoch moves once.
    Some(record(topic, partition, p, &next, &live))
}
