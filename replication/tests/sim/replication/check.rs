//! The invariants, checked as the run goes and at its end.
//!
//! The committed log of a partition is what consumers may have read: the batches below the
//! highest high watermark any leader serving clients has exposed. It is built as leaders
//! expose it, so every exposure is checked against every earlier one.
//!
//! * One leader per leader epoch: the controller names one node per epoch, and a replica
//!   leads only at an epoch the controller gave it.
//! * Within one leader epoch, the high watermark a leader exposes never goes back.
//! * Every exposure agrees with the committed log below it and extends it at batch
//!   boundaries: committed prefixes are identical everywhere, and nothing committed is lost.
//! * Consumer-visible data is replicated: whenever the committed log grows or the controller
//!   changes a partition, every replica that could be elected (the controller's ISR and
//!   eligible leader replicas) and every member of the exposing leader's ISR holds the whole
//!   committed log durably.
//! * A replica's own high watermark (a follower's included) never covers batches that differ
//!   from the committed log.
//! * At the end: every acknowledged batch is committed, and the final leader and every
//!   in-sync replica hold the committed log.

use super::disk::{Batch, Disk};
use myelin_replication::cluster::MetadataImage;
use myelin_replication::partition::{PartitionState, Role};
use myelin_replication::types::{NodeId, TopicId};
use std::collections::BTreeMap;

/// What is known about one partition.
#[derive(Debug, Default)]
struct PartitionCheck {
    /// The committed log, contiguous from offset 0.
    committed: Vec<Batch>,
    /// Leader epoch → the node the controller named leader at it.
    named: BTreeMap<i32, NodeId>,
    /// Leader epoch → the node that led at it.
    claimed: BTreeMap<i32, NodeId>,
    /// Leader epoch → the highest high watermark exposed at it.
    exposed: BTreeMap<i32, i64>,
    /// Per node, how far its log is known to match the committed log (reset by cuts).
    matched: BTreeMap<NodeId, i64>,
    /// Batches acknowledged to the producer.
    acked: Vec<Batch>,
}

impl PartitionCheck {
    fn committed_end(&self) -> i64 {
        self.committed.last().map_or(0, Batch::end)
    }

    /// Checks `disk` against the committed log below `upto` (and the committed end).
    fn verify(&mut self, node: NodeId, disk: &Disk, upto: i64) -> Result<(), String> {
        let upto = upto.min(self.committed_end());
        let from = self.matched.get(&node).copied().unwrap_or(0);
        if from >= upto {
            return Ok(());
        }
        let first = self.committed.partition_point(|b| b.end() <= from);
        let mut at = from;
        for want in self.committed.iter().skip(first) {
            if want.base >= upto {
                break;
            }
            match disk.batch_at(want.base) {
                Some(have) if have == want => at = want.end(),
                have => {
                    return Err(format!(
                        "node {node} holds {have:?} where the committed log has {want:?}"
                    ))
                }
            }
        }
        let m = self.matched.entry(node).or_insert(0);
        *m = (*m).max(at);
        Ok(())
    }

    /// Checks that `disk` holds the whole committed log durably.
    fn holds_committed(&mut self, node: NodeId, disk: &Disk) -> Result<(), String> {
        let end = self.committed_end();
        if disk.durable_end() < end {
            return Err(format!(
                "node {node} holds {} durably, the committed log ends at {end}",
                disk.durable_end()
            ));
        }
        self.verify(node, disk, end)
    }
}

/// Every partition's invariants.
#[derive(Debug, Default)]
pub struct Checker {
    parts: Vec<PartitionCheck>,
    /// The image version last observed.
    seen_index: u64,
    violation: Option<String>,
}

impl Checker {
    /// A checker for partitions `0..partitions`.
    pub fn new(partitions: i32) -> Checker {
        Checker {
            parts: (0..partitions).map(|_| PartitionCheck::default()).collect(),
            seen_index: 0,
            violation: None,
        }
    }

    /// The first invariant broken, if any.
    pub fn violation(&self) -> Option<&str> {
        self.violation.as_deref()
    }

    /// Records a broken invariant (the first one is reported).
    pub fn fail(&mut self, what: String) {
        self.violation.get_or_insert(what);
    }

    fn record(&mut self, result: Result<(), String>) {
        if let Err(e) = result {
            self.fail(e);
        }
    }

    /// The image version last observed.
    pub fn seen_index(&self) -> u64 {
        self.seen_index
    }

    /// The largest leader epoch the controller gave.
    pub fn max_leader_epoch(&self) -> i32 {
        self.parts
            .iter()
            .filter_map(|p| p.named.keys().next_back().copied())
            .max()
            .unwrap_or(0)
    }

    /// A committed image: the controller names at most one leader per epoch.
    pub fn observe_image(&mut self, image: &MetadataImage) {
        self.seen_index = self.seen_index.max(image.version());
        let mut found = Vec::new();
        for (_, p, a) in image.partitions() {
            if a.leader.is_some() {
                found.push((p, a.leader_epoch.0, a.leader));
            }
        }
        for (p, epoch, leader) in found {
            let Some(part) = self.parts.get_mut(p as usize) else {
                continue;
            };
            let named = *part.named.entry(epoch).or_insert(leader);
            if named != leader {
                self.fail(format!(
                    "partition {p}: the controller named {named} and {leader} at epoch {epoch}"
                ));
            }
        }
    }

    /// Every replica the controller could elect holds the committed log.
    pub fn check_electable(
        &mut self,
        image: &MetadataImage,
        disks: &BTreeMap<(i32, NodeId), &Disk>,
    ) {
        let mut electable = Vec::new();
        for (_, p, a) in image.partitions() {
            for n in a.isr.iter().chain(a.elr.iter()) {
                electable.push((p, *n, a.elr.contains(n)));
            }
        }
        for (p, n, eligible) in electable {
            let Some(disk) = disks.get(&(p, n)) else {
                continue;
            };
            let Some(part) = self.parts.get_mut(p as usize) else {
                continue;
            };
            let what = if eligible {
                "eligible leader replica"
            } else {
                "ISR member"
            };
            let r = part
                .holds_committed(n, disk)
                .map_err(|e| format!("partition {p}: {what} {n} of the controller: {e}"));
            self.record(r);
        }
    }

    /// The disk of `node`'s replica of `p` was cut at `end` (or lost its tail in a crash).
    pub fn cut(&mut self, p: i32, node: NodeId, end: i64) {
        if let Some(part) = self.parts.get_mut(p as usize) {
            if let Some(m) = part.matched.get_mut(&node) {
                *m = (*m).min(end);
            }
        }
    }

    /// After an event at `node`'s replica of `p`: its leadership and high watermark.
    /// `serving` says whether the broker serves clients, which makes its high watermark
    /// consumer-visible. Returns whether the committed log grew.
    pub fn observe_replica(
        &mut self,
        p: i32,
        node: NodeId,
        state: &PartitionState,
        disk: &Disk,
        serving: bool,
    ) -> bool {
        let Some(part) = self.parts.get_mut(p as usize) else {
            return false;
        };
        let epoch = state.leader_epoch().0;
        let hw = state.offsets().high_watermark;
        let mut failed = Vec::new();
        if let Err(e) = part.verify(node, disk, hw) {
            failed.push(format!(
                "partition {p}: the high watermark {hw} of {node} (epoch {epoch}) covers \
                 uncommitted data: {e}"
            ));
        }
        let mut grew = false;
        if state.role() == Role::Leader {
            let claimed = *part.claimed.entry(epoch).or_insert(node);
            if claimed != node {
                failed.push(format!(
                    "partition {p}: {claimed} and {node} both led at epoch {epoch}"
                ));
            }
            match part.named.get(&epoch) {
                Some(n) if *n == node => {}
                named => failed.push(format!(
                    "partition {p}: {node} leads at epoch {epoch}, which the controller \
                     gave to {named:?}"
                )),
            }
            if serving {
                let seen = part.exposed.entry(epoch).or_insert(hw);
                if hw < *seen {
                    failed.push(format!(
                        "partition {p}: leader {node} exposed the high watermark {seen} and \
                         then {hw} at epoch {epoch}"
                    ));
                }
                *seen = (*seen).max(hw);
                let end = part.committed_end();
                if hw > end {
                    match extend(&mut part.committed, disk, hw) {
                        Ok(()) => grew = true,
                        Err(e) => failed.push(format!(
                            "partition {p}: leader {node} exposed {hw} at epoch {epoch}: {e}"
                        )),
                    }
                    let m = part.matched.entry(node).or_insert(0);
                    *m = (*m).max(part.committed.last().map_or(0, Batch::end));
                }
            }
        }
        for f in failed {
            self.fail(f);
        }
        grew
    }

    /// After the committed log of `p` grew through `leader`: every member of the ISR the
    /// leader computed it over holds it.
    pub fn check_replicated(
        &mut self,
        p: i32,
        leader: NodeId,
        isr: &[NodeId],
        disks: &BTreeMap<(i32, NodeId), &Disk>,
    ) {
        for n in isr {
            let Some(disk) = disks.get(&(p, *n)) else {
                continue;
            };
            let Some(part) = self.parts.get_mut(p as usize) else {
                return;
            };
            let r = part.holds_committed(*n, disk).map_err(|e| {
                format!("partition {p}: leader {leader} committed past its ISR {isr:?}: {e}")
            });
            self.record(r);
        }
    }

    /// The producer was told `batch` is written (acks=all): it must be committed already.
    pub fn acked(&mut self, p: i32, batch: Batch) {
        let Some(part) = self.parts.get_mut(p as usize) else {
            return;
        };
        part.acked.push(batch);
        let i = part.committed.partition_point(|b| b.end() <= batch.base);
        if part.committed.get(i) != Some(&batch) {
            let have = part.committed.get(i).copied();
            self.fail(format!(
                "partition {p}: acknowledged {batch:?}, the committed log has {have:?} there"
            ));
        }
    }

    /// The end state: acknowledged batches on the final leader and every in-sync replica,
    /// the committed log on every replica.
    pub fn final_check(
        &mut self,
        image: &MetadataImage,
        topic: TopicId,
        disks: &BTreeMap<(i32, NodeId), &Disk>,
    ) -> Result<(), String> {
        for (i, part) in self.parts.iter_mut().enumerate() {
            let p = i as i32;
            let a = image
                .partition(topic, p)
                .ok_or_else(|| format!("partition {p} missing"))?;
            let mut holders = a.isr.clone();
            holders.push(a.leader);
            for n in holders {
                let disk = disks
                    .get(&(p, n))
                    .ok_or_else(|| format!("partition {p}: no disk on {n}"))?;
                part.holds_committed(n, disk)
                    .map_err(|e| format!("partition {p} at the end: {e}"))?;
                for b in &part.acked {
                    if disk.batch_at(b.base) != Some(b) {
                        return Err(format!(
                            "partition {p}: acknowledged {b:?} lost on {n}: {:?}",
                            disk.batch_at(b.base)
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Extends the committed log with `disk`'s batches up to `hw`, which must end a batch.
fn extend(committed: &mut Vec<Batch>, disk: &Disk, hw: i64) -> Result<(), String> {
    let end = committed.last().map_or(0, Batch::end);
    let new = disk.read(end, usize::MAX, hw);
    let mut at = end;
    for b in &new {
        if b.base != at {
            return Err(format!("its log has {b:?} where {at} was expected"));
        }
        at = b.end();
    }
    if at != hw {
        return Err(format!(
            "{hw} does not end a batch of its log (next batch ends at {at})"
        ));
    }
    committed.extend(new);
    Ok(())
}
