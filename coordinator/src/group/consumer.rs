//! The consumer rebalance protocol (KIP-848, `group.protocol=consumer`) as a sans-IO state
//! machine: a ConsumerGroupHeartbeat goes in with the current time and a snapshot of the
//! subscribed topics' partition counts, the reply comes out. The group keeps a group epoch
//! (bumped by every change of members, subscriptions or topic metadata), a target assignment
//! computed by a server-side assignor at some epoch, and each member's current assignment,
//! which moves toward the target one heartbeat at a time: a member first revokes what the
//! target takes from it, and a partition goes to its new owner only once its previous owner
//! has reported, in its heartbeat's owned partitions, that it no longer holds it.
//!
//! Not yet here: the network handlers (ConsumerGroupHeartbeat and ConsumerGroupDescribe are
//! not advertised), persistence to `__consumer_offsets`, static members (epoch -2 is treated
//! as a leave), regex subscriptions (refused with INVALID_REGULAR_EXPRESSION) and mixed
//! classic/consumer groups.

use crate::codes;
use std::collections::{BTreeMap, BTreeSet};

/// The member's epoch is not the group's idea of it.
pub const FENCED_MEMBER_EPOCH: i16 = 110;
/// The member asked for a server assignor the broker does not have.
pub const UNSUPPORTED_ASSIGNOR: i16 = 112;
/// The subscription regex is not accepted.
pub const INVALID_REGULAR_EXPRESSION: i16 = 130;

/// Partitions by topic name.
pub type Assignment = BTreeMap<String, BTreeSet<i32>>;

/// Partition counts of topics, by name (what the metadata image says now).
pub type TopicCounts = BTreeMap<String, i32>;

/// Settings of consumer groups (broker configs).
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// `group.consumer.session.timeout.ms`.
    pub session_timeout_ms: i64,
    /// `group.consumer.heartbeat.interval.ms`.
    pub heartbeat_interval_ms: i32,
    /// `group.consumer.assignors`; the first is the default.
    pub assignors: Vec<String>,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            session_timeout_ms: 45_000,
            heartbeat_interval_ms: 5_000,
            assignors: vec!["uniform".to_owned(), "range".to_owned()],
        }
    }
}

/// Where a member is in its reconciliation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// Holds its target assignment at the target epoch.
    Stable,
    /// Must first give up partitions the target took from it.
    UnrevokedPartitions,
    /// At the target epoch, waiting for partitions other members still hold.
    UnreleasedPartitions,
}

/// One member of a consumer group.
#[derive(Debug, Clone)]
pub struct ConsumerMember {
    /// Member id (client-generated).
    pub id: String,
    /// `group.instance.id`, if any.
    pub instance_id: Option<String>,
    /// Rack of the client.
    pub rack: Option<String>,
    /// Current member epoch.
    pub epoch: i32,
    /// The epoch before the last bump (a member that lost a reply may still use it).
    pub previous_epoch: i32,
    /// Reconciliation state.
    pub state: MemberState,
    /// Subscribed topic names.
    pub subscribed: BTreeSet<String>,
    /// Server assignor the member asked for.
    pub assignor: Option<String>,
    /// Partitions the member may own now.
    pub assigned: Assignment,
    /// Partitions the member must still revoke.
    pub revoking: Assignment,
    /// Rebalance timeout the member gave.
    pub rebalance_timeout_ms: i32,
    /// When the session ends without another heartbeat.
    pub session_deadline: i64,
    /// When the member is fenced if it has not revoked yet.
    pub revoke_deadline: Option<i64>,
}

/// A ConsumerGroupHeartbeat, as the state machine needs it.
#[derive(Debug, Clone, Default)]
pub struct HeartbeatRequest {
    /// Member id.
    pub member_id: String,
    /// 0 to join, -1 to leave, -2 for a static leave, else the current epoch.
    pub member_epoch: i32,
    /// `group.instance.id`.
    pub instance_id: Option<String>,
    /// Rack id.
    pub rack: Option<String>,
    /// Rebalance timeout, or -1 if unchanged.
    pub rebalance_timeout_ms: i32,
    /// Subscribed topic names, or `None` if unchanged.
    pub topics: Option<Vec<String>>,
    /// Subscribed regex, or `None` if unchanged.
    pub regex: Option<String>,
    /// Server assignor, or `None` if unchanged.
    pub assignor: Option<String>,
    /// Partitions the member owns, or `None` if unchanged.
    pub owned: Option<Assignment>,
}

/// The reply to a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatReply {
    /// Error code.
    pub error: i16,
    /// Member id.
    pub member_id: String,
    /// The member's epoch after the heartbeat.
    pub member_epoch: i32,
    /// How long the member should wait before the next heartbeat.
    pub heartbeat_interval_ms: i32,
    /// The member's assignment, when it changed or the member sent a full request.
    pub assignment: Option<Assignment>,
}

/// A consumer group.
#[derive(Debug, Clone)]
pub struct ConsumerGroup {
    /// Group id.
    pub id: String,
    /// Group epoch.
    pub epoch: i32,
    /// Epoch of the target assignment.
    pub target_epoch: i32,
    /// Members by id.
    pub members: BTreeMap<String, ConsumerMember>,
    /// Target assignment by member.
    pub target: BTreeMap<String, Assignment>,
    /// Partition counts of the subscribed topics the last epoch was computed with.
    pub topics: TopicCounts,
}

fn error(req: &HeartbeatRequest, code: i16) -> HeartbeatReply {
    HeartbeatReply {
        error: code,
        member_id: req.member_id.clone(),
        member_epoch: req.member_epoch,
        heartbeat_interval_ms: 0,
        assignment: None,
    }
}

fn minus(a: &Assignment, b: &Assignment) -> Assignment {
    let mut out = Assignment::new();
    for (topic, parts) in a {
        let rest: BTreeSet<i32> = match b.get(topic) {
            Some(other) => parts.difference(other).copied().collect(),
            None => parts.clone(),
        };
        if !rest.is_empty() {
            out.insert(topic.clone(), rest);
        }
    }
    out
}

fn intersect(a: &Assignment, b: &Assignment) -> Assignment {
    let mut out = Assignment::new();
    for (topic, parts) in a {
        if let Some(other) = b.get(topic) {
            let both: BTreeSet<i32> = parts.intersection(other).copied().collect();
            if !both.is_empty() {
                out.insert(topic.clone(), both);
            }
        }
    }
    out
}

fn add(into: &mut Assignment, topic: &str, partition: i32) {
    into.entry(topic.to_owned()).or_default().insert(partition);
}

fn count(a: &Assignment) -> usize {
    a.values().map(BTreeSet::len).sum()
}

impl ConsumerGroup {
    /// An empty group at epoch 0.
    pub fn new(id: &str) -> ConsumerGroup {
        ConsumerGroup {
            id: id.to_owned(),
            epoch: 0,
            target_epoch: 0,
            members: BTreeMap::new(),
            target: BTreeMap::new(),
            topics: TopicCounts::new(),
        }
    }

    /// Kafka's name for the group's state.
    pub fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.target_epoch != self.epoch {
            "Assigning"
        } else if self
            .members
            .values()
            .any(|m| m.epoch != self.target_epoch || m.state != MemberState::Stable)
        {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    /// The counts of the topics some member subscribes to, from `metadata`.
    fn subscribed_counts(&self, metadata: &TopicCounts) -> TopicCounts {
        let mut out = TopicCounts::new();
        for member in self.members.values() {
            for topic in &member.subscribed {
                if let Some(&n) = metadata.get(topic) {
                    out.insert(topic.clone(), n);
                }
            }
        }
        out
    }

    /// Bumps the group epoch if the subscribed topics' metadata changed (a topic created or
    /// deleted, partitions added). Returns whether it did.
    pub fn refresh_metadata(&mut self, metadata: &TopicCounts) -> bool {
        let counts = self.subscribed_counts(metadata);
        if counts != self.topics {
            self.topics = counts;
            self.epoch += 1;
            true
        } else {
            false
        }
    }

    /// The assignor the group uses: the one most members asked for (ties to the name first in
    /// order), else the broker's default.
    fn assignor(&self, config: &ConsumerConfig) -> String {
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(a) = &m.assignor {
                *votes.entry(a.as_str()).or_default() += 1;
            }
        }
        let mut best: Option<(&str, usize)> = None;
        for (name, n) in votes {
            if best.is_none_or(|(_, b)| n > b) {
                best = Some((name, n));
            }
        }
        match best {
            Some((name, _)) => name.to_owned(),
            None => config
                .assignors
                .first()
                .cloned()
                .unwrap_or_else(|| "uniform".to_owned()),
        }
    }

    /// Recomputes the target assignment if the group epoch moved past it.
    fn update_target(&mut self, config: &ConsumerConfig) {
        if self.target_epoch == self.epoch {
            return;
        }
        let subs: BTreeMap<String, BTreeSet<String>> = self
            .members
            .iter()
            .map(|(id, m)| (id.clone(), m.subscribed.clone()))
            .collect();
        self.target = if self.assignor(config) == "range" {
            range(&subs, &self.topics)
        } else {
            uniform(&subs, &self.topics, &self.target)
        };
        self.target_epoch = self.epoch;
    }

    /// Partitions some member other than `except` holds (assigned or still revoking).
    fn held_by_others(&self, except: &str) -> Assignment {
        let mut out = Assignment::new();
        for (id, m) in &self.members {
            if id != except {
                for (t, ps) in m.assigned.iter().chain(m.revoking.iter()) {
                    for &p in ps {
                        add(&mut out, t, p);
                    }
                }
            }
        }
        out
    }

    /// Moves `member` toward its target; returns whether its assignment or epoch changed.
    fn reconcile(&mut self, member_id: &str, owned: Option<&Assignment>, now: i64) -> bool {
        let held = self.held_by_others(member_id);
        let target = self.target.get(member_id).cloned().unwrap_or_default();
        let target_epoch = self.target_epoch;
        let Some(m) = self.members.get_mut(member_id) else {
            return false;
        };
        let before = (m.epoch, m.assigned.clone(), m.revoking.clone(), m.state);
        if m.state == MemberState::UnrevokedPartitions {
            let still = match owned {
                Some(owned) => !intersect(&m.revoking, owned).is_empty(),
                None => true,
            };
            if still {
                return false;
            }
            m.revoking.clear();
            m.revoke_deadline = None;
        }
        if m.epoch == target_epoch && m.state == MemberState::Stable {
            return false;
        }
        let kept = intersect(&m.assigned, &target);
        let revoke = minus(&m.assigned, &target);
        if !revoke.is_empty() {
            m.assigned = kept;
            m.revoking = revoke;
            m.state = MemberState::UnrevokedPartitions;
            m.revoke_deadline = Some(now + i64::from(m.rebalance_timeout_ms.max(0)));
        } else {
            let wanted = minus(&target, &kept);
            let free = minus(&wanted, &held);
            let mut assigned = kept;
            for (t, ps) in &free {
                for &p in ps {
                    add(&mut assigned, t, p);
                }
            }
            m.assigned = assigned;
            if m.epoch != target_epoch {
                m.previous_epoch = m.epoch;
                m.epoch = target_epoch;
            }
            m.state = if count(&free) < count(&wanted) {
                MemberState::UnreleasedPartitions
            } else {
                MemberState::Stable
            };
        }
        before != (m.epoch, m.assigned.clone(), m.revoking.clone(), m.state)
    }

    /// Handles one ConsumerGroupHeartbeat at `now` with the current topic `metadata`.
    pub fn heartbeat(
        &mut self,
        config: &ConsumerConfig,
        req: &HeartbeatRequest,
        metadata: &TopicCounts,
        now: i64,
    ) -> HeartbeatReply {
        if req.member_id.is_empty() {
            return error(req, codes::INVALID_REQUEST);
        }
        if req.regex.as_deref().is_some_and(|r| !r.is_empty()) {
            return error(req, INVALID_REGULAR_EXPRESSION);
        }
        if let Some(a) = &req.assignor {
            if !config.assignors.iter().any(|n| n == a) {
                return error(req, UNSUPPORTED_ASSIGNOR);
            }
        }
        if req.member_epoch == -1 || req.member_epoch == -2 {
            if self.members.remove(&req.member_id).is_some() {
                self.target.remove(&req.member_id);
                self.epoch += 1;
                self.topics = self.subscribed_counts(metadata);
            }
            return HeartbeatReply {
                error: codes::NONE,
                member_id: req.member_id.clone(),
                member_epoch: req.member_epoch,
                heartbeat_interval_ms: 0,
                assignment: None,
            };
        }
        let joining = req.member_epoch == 0;
        let mut bump = false;
        if joining {
            if req.topics.is_none() || req.rebalance_timeout_ms < 0 {
                return error(req, codes::INVALID_REQUEST);
            }
            if let Some(old) = self.members.get(&req.member_id) {
                // A member that rejoins gives up what it had.
                if old.epoch != 0 || !old.assigned.is_empty() {
                    self.members.remove(&req.member_id);
                    self.target.remove(&req.member_id);
                    self.epoch += 1;
                }
            }
            if !self.members.contains_key(&req.member_id) {
                self.members.insert(
                    req.member_id.clone(),
                    ConsumerMember {
                        id: req.member_id.clone(),
                        instance_id: None,
                        rack: None,
                        epoch: 0,
                        previous_epoch: 0,
                        state: MemberState::Stable,
                        subscribed: BTreeSet::new(),
                        assignor: None,
                        assigned: Assignment::new(),
                        revoking: Assignment::new(),
                        rebalance_timeout_ms: req.rebalance_timeout_ms,
                        session_deadline: now,
                        revoke_deadline: None,
                    },
                );
                bump = true;
            }
        } else {
            let Some(m) = self.members.get(&req.member_id) else {
                return error(req, codes::UNKNOWN_MEMBER_ID);
            };
            if req.member_epoch != m.epoch {
                // A member whose last reply was lost may still use its previous epoch, as
                // long as it owns nothing it was not given.
                let lost_reply = req.member_epoch == m.previous_epoch
                    && req
                        .owned
                        .as_ref()
                        .is_some_and(|o| minus(o, &m.assigned).is_empty());
                if !lost_reply {
                    return error(req, FENCED_MEMBER_EPOCH);
                }
            }
        }
        let Some(m) = self.members.get_mut(&req.member_id) else {
            return error(req, codes::UNKNOWN_MEMBER_ID);
        };
        m.session_deadline = now + config.session_timeout_ms;
        if req.instance_id.is_some() {
            m.instance_id.clone_from(&req.instance_id);
        }
        if req.rack.is_some() {
            m.rack.clone_from(&req.rack);
        }
        if req.rebalance_timeout_ms >= 0 {
            m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        }
        if let Some(topics) = &req.topics {
            let subscribed: BTreeSet<String> = topics.iter().cloned().collect();
            if subscribed != m.subscribed {
                m.subscribed = subscribed;
                bump = true;
            }
        }
        if req.assignor.is_some() && req.assignor != m.assignor {
            m.assignor.clone_from(&req.assignor);
            bump = true;
        }
        if bump {
            self.epoch += 1;
        }
        let counts = self.subscribed_counts(metadata);
        if counts != self.topics {
            self.topics = counts;
            if !bump {
                self.epoch += 1;
            }
        }
        self.update_target(config);
        let changed = self.reconcile(&req.member_id, req.owned.as_ref(), now);
        let Some(m) = self.members.get(&req.member_id) else {
            return error(req, codes::UNKNOWN_MEMBER_ID);
        };
        HeartbeatReply {
            error: codes::NONE,
            member_id: m.id.clone(),
            member_epoch: m.epoch,
            heartbeat_interval_ms: config.heartbeat_interval_ms,
            assignment: (changed || joining || req.owned.is_some()).then(|| m.assigned.clone()),
        }
    }

    /// Removes members whose session ended or who did not revoke within their rebalance
    /// timeout. Returns the ids removed.
    pub fn tick(&mut self, now: i64, metadata: &TopicCounts) -> Vec<String> {
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| m.session_deadline <= now || m.revoke_deadline.is_some_and(|d| d <= now))
            .map(|m| m.id.clone())
            .collect();
        for id in &gone {
            self.members.remove(id);
            self.target.remove(id);
        }
        if !gone.is_empty() {
            self.epoch += 1;
            self.topics = self.subscribed_counts(metadata);
        }
        gone
    }

    /// The earliest deadline of any member, for the shell's timer.
    pub fn next_deadline(&self) -> Option<i64> {
        self.members
            .values()
            .flat_map(|m| std::iter::once(m.session_deadline).chain(m.revoke_deadline))
            .min()
    }
}

/// The range assignor: per topic, the subscribed members in id order get contiguous ranges,
/// the first `partitions % members` one partition more.
pub fn range(
    subs: &BTreeMap<String, BTreeSet<String>>,
    topics: &TopicCounts,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = subs
        .keys()
        .map(|m| (m.clone(), Assignment::new()))
        .collect();
    for (topic, &n) in topics {
        let members: Vec<&String> = subs
            .iter()
            .filter(|(_, s)| s.contains(topic))
            .map(|(m, _)| m)
            .collect();
        let k = i32::try_from(members.len()).unwrap_or(i32::MAX);
        if k == 0 {
            continue;
        }
        let (base, extra) = (n / k, n % k);
        let mut next = 0;
        for (i, m) in (0..).zip(members) {
            let len = base + i32::from(i < extra);
            let a = out.entry(m.clone()).or_default();
            for p in next..next + len {
                add(a, topic, p);
            }
            next += len;
        }
    }
    out
}

/// The uniform assignor: every partition goes to a subscribed member, counts as even as the
/// subscriptions allow, and a partition stays with its previous owner where balance permits.
pub fn uniform(
    subs: &BTreeMap<String, BTreeSet<String>>,
    topics: &TopicCounts,
    previous: &BTreeMap<String, Assignment>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = subs
        .keys()
        .map(|m| (m.clone(), Assignment::new()))
        .collect();
    let members = subs.len();
    if members == 0 {
        return out;
    }
    let total: usize = topics
        .iter()
        .filter(|(t, _)| subs.values().any(|s| s.contains(*t)))
        .map(|(_, &n)| usize::try_from(n).unwrap_or(0))
        .sum();
    let cap = total.div_ceil(members);
    let mut owner: BTreeMap<(String, i32), String> = BTreeMap::new();
    // Keep previous owners up to the even share.
    for (m, a) in previous {
        let Some(s) = subs.get(m) else { continue };
        let mut kept = 0;
        for (t, ps) in a {
            let Some(&n) = topics.get(t) else { continue };
            if !s.contains(t) {
                continue;
            }
            for &p in ps {
                if p < n && kept < cap {
                    owner.insert((t.clone(), p), m.clone());
                    kept += 1;
                }
            }
        }
    }
    let mut counts: BTreeMap<String, usize> = subs.keys().map(|m| (m.clone(), 0)).collect();
    for m in owner.values() {
        *counts.entry(m.clone()).or_default() += 1;
    }
    // The rest to the least loaded subscriber.
    for (t, &n) in topics {
        for p in 0..n {
            if owner.contains_key(&(t.clone(), p)) {
                continue;
            }
            let best = subs
                .iter()
                .filter(|(_, s)| s.contains(t))
                .map(|(m, _)| (counts.get(m).copied().unwrap_or(0), m))
                .min();
            if let Some((_, m)) = best {
                owner.insert((t.clone(), p), m.clone());
                *counts.entry(m.clone()).or_default() += 1;
            }
        }
    }
    // Move partitions from the most to the least loaded eligible member until even.
    loop {
        let mut moved = false;
        let keys: Vec<(String, i32)> = owner.keys().cloned().collect();
        for key in keys {
            let Some(from) = owner.get(&key).cloned() else {
                continue;
            };
            let from_n = counts.get(&from).copied().unwrap_or(0);
            let best = subs
                .iter()
                .filter(|(_, s)| s.contains(&key.0))
                .map(|(m, _)| (counts.get(m).copied().unwrap_or(0), m))
                .min();
            if let Some((to_n, to)) = best {
                if to_n + 1 < from_n {
                    let to = to.clone();
                    *counts.entry(from).or_default() -= 1;
                    *counts.entry(to.clone()).or_default() += 1;
                    owner.insert(key, to);
                    moved = true;
                }
            }
        }
        if !moved {
            break;
        }
    }
    for ((t, p), m) in owner {
        add(out.entry(m).or_default(), &t, p);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn meta(topics: &[(&str, i32)]) -> TopicCounts {
        topics.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect()
    }

    fn join(id: &str, topics: &[&str]) -> HeartbeatRequest {
        HeartbeatRequest {
            member_id: id.to_owned(),
            member_epoch: 0,
            rebalance_timeout_ms: 30_000,
            topics: Some(topics.iter().map(|t| (*t).to_owned()).collect()),
            owned: Some(Assignment::new()),
            ..HeartbeatRequest::default()
        }
    }

    fn beat(id: &str, epoch: i32, owned: &Assignment) -> HeartbeatRequest {
        HeartbeatRequest {
            member_id: id.to_owned(),
            member_epoch: epoch,
            rebalance_timeout_ms: -1,
            owned: Some(owned.clone()),
            ..HeartbeatRequest::default()
        }
    }

    fn parts(a: &Assignment) -> usize {
        count(a)
    }

    #[test]
    fn two_members_split_then_one_leaves() {
        let cfg = ConsumerConfig::default();
        let md = meta(&[("t", 4)]);
        let mut g = ConsumerGroup::new("g");
        let a = g.heartbeat(&cfg, &join("a", &["t"]), &md, 0);
        assert_eq!(a.error, 0);
        assert_eq!(a.member_epoch, 1);
        assert_eq!(a.heartbeat_interval_ms, 5_000);
        let a_own = a.assignment.unwrap();
        assert_eq!(parts(&a_own), 4);
        // b joins: it gets nothing until a revokes.
        let b = g.heartbeat(&cfg, &join("b", &["t"]), &md, 10);
        assert_eq!(b.member_epoch, 2);
        assert_eq!(parts(&b.assignment.clone().unwrap()), 0);
        assert_eq!(g.members["b"].state, MemberState::UnreleasedPartitions);
        // a is told to keep only half, and stays at epoch 1 until it revokes.
        let a2 = g.heartbeat(&cfg, &beat("a", 1, &a_own), &md, 20);
        assert_eq!(a2.member_epoch, 1);
        let a_keep = a2.assignment.unwrap();
        assert_eq!(parts(&a_keep), 2);
        assert_eq!(g.members["a"].state, MemberState::UnrevokedPartitions);
        // b still gets nothing while a owns them.
        let b2 = g.heartbeat(&cfg, &beat("b", 2, &Assignment::new()), &md, 30);
        assert_eq!(parts(&b2.assignment.unwrap()), 0);
        // a reports it revoked; it moves to epoch 2.
        let a3 = g.heartbeat(&cfg, &beat("a", 1, &a_keep), &md, 40);
        assert_eq!(a3.member_epoch, 2);
        assert_eq!(g.members["a"].state, MemberState::Stable);
        // now b gets the released half.
        let b3 = g.heartbeat(&cfg, &beat("b", 2, &Assignment::new()), &md, 50);
        let b_own = b3.assignment.unwrap();
        assert_eq!(parts(&b_own), 2);
        assert!(intersect(&b_own, &a_keep).is_empty());
        assert_eq!(g.state_name(), "Stable");
        // b leaves; a gets everything at the next epoch.
        let bl = g.heartbeat(&cfg, &beat("b", -1, &b_own), &md, 60);
        assert_eq!(bl.member_epoch, -1);
        let a4 = g.heartbeat(&cfg, &beat("a", 2, &a_keep), &md, 70);
        assert_eq!(a4.member_epoch, 3);
        assert_eq!(parts(&a4.assignment.unwrap()), 4);
    }

    #[test]
    fn fenced_and_unknown_members() {
        let cfg = ConsumerConfig::default();
        let md = meta(&[("t", 2)]);
        let mut g = ConsumerGroup::new("g");
        g.heartbeat(&cfg, &join("a", &["t"]), &md, 0);
        let r = g.heartbeat(&cfg, &beat("a", 7, &Assignment::new()), &md, 1);
        assert_eq!(r.error, FENCED_MEMBER_EPOCH);
        let r = g.heartbeat(&cfg, &beat("zz", 1, &Assignment::new()), &md, 1);
        assert_eq!(r.error, codes::UNKNOWN_MEMBER_ID);
        let mut bad = join("c", &["t"]);
        bad.regex = Some("t.*".to_owned());
        assert_eq!(
            g.heartbeat(&cfg, &bad, &md, 1).error,
            INVALID_REGULAR_EXPRESSION
        );
        let mut bad = join("c", &["t"]);
        bad.assignor = Some("sticky".to_owned());
        assert_eq!(g.heartbeat(&cfg, &bad, &md, 1).error, UNSUPPORTED_ASSIGNOR);
        assert_eq!(
            g.heartbeat(&cfg, &join("", &["t"]), &md, 1).error,
            codes::INVALID_REQUEST
        );
    }

    #[test]
    fn session_expiry_frees_partitions() {
        let cfg = ConsumerConfig::default();
        let md = meta(&[("t", 3)]);
        let mut g = ConsumerGroup::new("g");
        let a = g.heartbeat(&cfg, &join("a", &["t"]), &md, 0);
        g.heartbeat(&cfg, &join("b", &["t"]), &md, 1_000);
        assert!(g.tick(44_999, &md).is_empty());
        assert_eq!(g.next_deadline(), Some(45_000));
        assert_eq!(g.tick(45_000, &md), vec!["a".to_owned()]);
        // b gets all three partitions now that a is gone.
        let b = g.heartbeat(&cfg, &beat("b", 2, &Assignment::new()), &md, 2_000);
        assert_eq!(parts(&b.assignment.unwrap()), 3);
        // a is unknown afterwards.
        let r = g.heartbeat(&cfg, &beat("a", 1, &a.assignment.unwrap()), &md, 2_000);
        assert_eq!(r.error, codes::UNKNOWN_MEMBER_ID);
    }

    #[test]
    fn new_partitions_bump_the_epoch() {
        let cfg = ConsumerConfig::default();
        let mut g = ConsumerGroup::new("g");
        let a = g.heartbeat(&cfg, &join("a", &["t", "u"]), &meta(&[("t", 2)]), 0);
        assert_eq!(parts(&a.assignment.clone().unwrap()), 2);
        let md = meta(&[("t", 3), ("u", 1)]);
        let r = g.heartbeat(&cfg, &beat("a", 1, &a.assignment.unwrap()), &md, 1);
        assert_eq!(r.member_epoch, 2);
        assert_eq!(parts(&r.assignment.unwrap()), 4);
    }

    #[test]
    fn range_assigns_contiguous_ranges() {
        let subs: BTreeMap<String, BTreeSet<String>> = ["a", "b"]
            .iter()
            .map(|m| ((*m).to_owned(), ["t".to_owned()].into_iter().collect()))
            .collect();
        let out = range(&subs, &meta(&[("t", 5)]));
        assert_eq!(out["a"]["t"], [0, 1, 2].into_iter().collect());
        assert_eq!(out["b"]["t"], [3, 4].into_iter().collect());
    }

    /// Seeded random membership: uniform assignments are always complete, disjoint and within
    /// one partition of even for a homogeneous subscription, and sticky.
    #[test]
    fn uniform_balance_seeded() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let topics = meta(&[("t", 7), ("u", 5)]);
        let mut prev: BTreeMap<String, Assignment> = BTreeMap::new();
        let mut subs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let both: BTreeSet<String> = ["t".to_owned(), "u".to_owned()].into_iter().collect();
        for round in 0..200 {
            let id = format!("m{}", next() % 8);
            if subs.contains_key(&id) && subs.len() > 1 {
                subs.remove(&id);
            } else {
                subs.insert(id, both.clone());
            }
            let out = uniform(&subs, &topics, &prev);
            let mut seen = BTreeSet::new();
            for a in out.values() {
                for (t, ps) in a {
                    for p in ps {
                        assert!(seen.insert((t.clone(), *p)), "round {round}: duplicate");
                    }
                }
            }
            assert_eq!(seen.len(), 12, "round {round}: incomplete");
            let counts: Vec<usize> = out.values().map(count).collect();
            let (lo, hi) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
            assert!(hi - lo <= 1, "round {round}: {counts:?}");
            // Sticky: members that stayed keep at least min(old, floor share) partitions.
            let floor = 12 / subs.len();
            for (m, a) in &out {
                if let Some(old) = prev.get(m) {
                    let kept = count(&intersect(old, a));
                    assert!(
                        kept >= count(old).min(floor),
                        "round {round}: {m} not sticky"
                    );
                }
            }
            prev = out;
        }
    }

    /// Seeded random joins, leaves, heartbeats and partition growth with clients that follow
    /// their replies: no partition is ever owned by two clients at once, and once everyone
    /// has heartbeated enough the group is Stable with every partition owned.
    #[test]
    fn revocation_ordering_seeded() {
        let cfg = ConsumerConfig::default();
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut md = meta(&[("t", 6), ("u", 3)]);
        let mut g = ConsumerGroup::new("g");
        let mut clients: BTreeMap<String, (i32, Assignment)> = BTreeMap::new();
        let check = |clients: &BTreeMap<String, (i32, Assignment)>, step: usize| {
            let mut seen = BTreeSet::new();
            for (_, owned) in clients.values() {
                for (t, ps) in owned {
                    for p in ps {
                        assert!(seen.insert((t.clone(), *p)), "step {step}: {t}-{p} twice");
                    }
                }
            }
        };
        for step in 0..2_000 {
            let now = i64::try_from(step).unwrap();
            let id = format!("c{}", next() % 5);
            let roll = next() % 20;
            if roll == 0 {
                let n = md.get("t").copied().unwrap_or(0);
                md.insert("t".to_owned(), n + 1);
            } else if !clients.contains_key(&id) {
                let r = g.heartbeat(&cfg, &join(&id, &["t", "u"]), &md, now);
                assert_eq!(r.error, 0);
                clients.insert(id, (r.member_epoch, r.assignment.unwrap_or_default()));
            } else if roll < 3 {
                let (epoch, owned) = clients.remove(&id).unwrap();
                let r = g.heartbeat(&cfg, &beat(&id, -1, &owned), &md, now);
                assert_eq!(r.error, 0);
                let _ = epoch;
            } else {
                let (epoch, owned) = clients.get(&id).cloned().unwrap();
                let r = g.heartbeat(&cfg, &beat(&id, epoch, &owned), &md, now);
                assert_eq!(r.error, 0, "step {step}");
                if let Some(a) = r.assignment {
                    clients.insert(id, (r.member_epoch, a));
                }
            }
            check(&clients, step);
        }
        for round in 0..6 {
            let ids: Vec<String> = clients.keys().cloned().collect();
            for id in ids {
                let (epoch, owned) = clients.get(&id).cloned().unwrap();
                let r = g.heartbeat(&cfg, &beat(&id, epoch, &owned), &md, 3_000 + round);
                assert_eq!(r.error, 0);
                if let Some(a) = r.assignment {
                    clients.insert(id, (r.member_epoch, a));
                }
                check(&clients, 9_999);
            }
        }
        assert_eq!(g.state_name(), "Stable");
        let total: usize = clients.values().map(|(_, a)| count(a)).sum();
        let expect: i32 = md.values().sum();
        assert_eq!(total, usize::try_from(expect).unwrap());
    }
}
