//! The classic consumer-group protocol as a sans-IO state machine: JoinGroup, SyncGroup,
//! Heartbeat and LeaveGroup go in with the current time, replies come out. Nothing here
//! waits, sleeps or does I/O; the coordinator shell parks callers until their reply is
//! emitted and calls [`Group::tick`] on a timer.
//!
//! States follow Kafka's: Empty → PreparingRebalance → CompletingRebalance → Stable, back to
//! PreparingRebalance when membership or subscriptions change, and Dead once deleted.

use crate::codes;
use crate::group::limits;
use bytes::Bytes;
use std::collections::BTreeMap;

/// A member id.
pub type MemberId = String;

/// Group states, as DescribeGroups and ListGroups name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members.
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Waiting for the leader's assignment.
    CompletingRebalance,
    /// Members hold their assignments.
    Stable,
    /// Deleted.
    Dead,
}

impl GroupState {
    /// Kafka's name for the state.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// Group-wide timing settings (broker configs).
#[derive(Debug, Clone, Copy)]
pub struct GroupConfig {
    /// `group.min.session.timeout.ms`.
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`.
    pub max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`.
    pub initial_rebalance_delay_ms: i64,
    /// `group.max.size`.
    pub max_size: usize,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 3_000,
            max_size: limits::MEMBERS_PER_GROUP_MAX,
        }
    }
}

/// A JoinGroup request, as the state machine needs it.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    /// Member id, empty for a new member.
    pub member_id: String,
    /// Static membership id (KIP-345).
    pub instance_id: Option<String>,
    /// Client id, for DescribeGroups.
    pub client_id: String,
    /// Client address, for DescribeGroups.
    pub client_host: String,
    /// Session timeout.
    pub session_timeout_ms: i32,
    /// Rebalance timeout (v0 uses the session timeout).
    pub rebalance_timeout_ms: i32,
    /// Protocol type, "consumer" for consumers.
    pub protocol_type: String,
    /// Supported protocols with their metadata, in preference order.
    pub protocols: Vec<(String, Bytes)>,
    /// Whether the client understands MEMBER_ID_REQUIRED (JoinGroup v4+).
    pub require_known_member_id: bool,
}

/// What a JoinGroup gets back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JoinOutcome {
    /// Kafka error code.
    pub error: i16,
    /// Generation the member joined.
    pub generation: i32,
    /// Chosen protocol type.
    pub protocol_type: Option<String>,
    /// Chosen protocol.
    pub protocol_name: Option<String>,
    /// Leader member id.
    pub leader: String,
    /// The member's id.
    pub member_id: String,
    /// For the leader: every member with its metadata for the chosen protocol.
    pub members: Vec<(MemberId, Option<String>, Bytes)>,
    /// The leader must not compute a new assignment (KIP-814, JoinGroup v9+).
    pub skip_assignment: bool,
}

/// What a SyncGroup gets back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncOutcome {
    /// Kafka error code.
    pub error: i16,
    /// Chosen protocol type.
    pub protocol_type: Option<String>,
    /// Chosen protocol.
    pub protocol_name: Option<String>,
    /// The member's assignment.
    pub assignment: Bytes,
}

/// A reply the shell must deliver to a parked caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// To the member's pending JoinGroup.
    Join(MemberId, JoinOutcome),
    /// To the member's pending SyncGroup.
    Sync(MemberId, SyncOutcome),
}

/// How a request is answered: now, or later through a [`Reply`] to this member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition<T> {
    /// Answer at once.
    Now(T),
    /// Park the caller under this member id.
    Wait(MemberId),
}

/// One member.
#[derive(Debug, Clone)]
pub struct Member {
    /// Static membership id.
    pub instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client address.
    pub client_host: String,
    session_timeout_ms: i32,
    rebalance_timeout_ms: i32,
    protocols: Vec<(String, Bytes)>,
    /// Assignment from the last completed sync.
    pub assignment: Bytes,
    last_seen_ms: i64,
    awaiting_join: bool,
    awaiting_sync: bool,
}

impl Member {
    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// Metadata for `protocol`, for DescribeGroups.
    pub fn metadata(&self, protocol: Option<&str>) -> Bytes {
        protocol.map(|p| self.metadata_for(p)).unwrap_or_default()
    }
}

/// One consumer group.
#[derive(Debug, Clone)]
pub struct Group {
    /// Group id.
    pub id: String,
    /// Current state.
    pub state: GroupState,
    /// Generation; bumped by every completed rebalance.
    pub generation: i32,
    /// Protocol type all members share.
    pub protocol_type: Option<String>,
    /// Chosen protocol of the current generation.
    pub protocol: Option<String>,
    /// Leader of the current generation.
    pub leader: Option<MemberId>,
    /// Members by id, ordered so elections are deterministic.
    pub members: BTreeMap<MemberId, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with their expiry.
    pending: BTreeMap<MemberId, i64>,
    rebalance_deadline_ms: i64,
    initial_delay_ms: i64,
    initial_delay_until_ms: i64,
    next_member: u64,
}

fn join_error(member_id: &str, error: i16) -> JoinOutcome {
    JoinOutcome {
        error,
        generation: -1,
        member_id: member_id.to_string(),
        ..JoinOutcome::default()
    }
}

fn sync_error(error: i16) -> SyncOutcome {
    SyncOutcome {
        error,
        ..SyncOutcome::default()
    }
}

impl Group {
    /// A new, empty group.
    pub fn new(id: &str) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending: BTreeMap::new(),
            rebalance_deadline_ms: 0,
            initial_delay_ms: 0,
            initial_delay_until_ms: 0,
            next_member: 0,
        }
    }

    fn new_member_id(&mut self, client_id: &str, instance_id: Option<&str>) -> MemberId {
        self.next_member += 1;
        let prefix = instance_id.unwrap_or(client_id);
        let prefix: String = prefix
            .chars()
            .take(limits::MEMBER_ID_PREFIX_CHARS)
            .collect();
        format!("{prefix}-{:016x}-{}", self.next_member, self.id.len())
    }

    fn static_member(&self, instance_id: &str) -> Option<MemberId> {
        self.members
            .iter()
            .find(|(_, m)| m.instance_id.as_deref() == Some(instance_id))
            .map(|(id, _)| id.clone())
    }

    /// Handles JoinGroup.
    pub fn join(
        &mut self,
        req: JoinRequest,
        now: i64,
        config: &GroupConfig,
    ) -> (Disposition<JoinOutcome>, Vec<Reply>) {
        let now_error = |e| (Disposition::Now(join_error(&req.member_id, e)), Vec::new());
        self.initial_delay_ms = config.initial_rebalance_delay_ms;
        if self.state == GroupState::Dead {
            return now_error(codes::COORDINATOR_NOT_AVAILABLE);
        }
        if req.session_timeout_ms < config.min_session_timeout_ms
            || req.session_timeout_ms > config.max_session_timeout_ms
        {
            return now_error(codes::INVALID_SESSION_TIMEOUT);
        }
        if req.protocols.is_empty()
            || req.protocol_type.is_empty()
            || self
                .protocol_type
                .as_ref()
                .is_some_and(|t| *t != req.protocol_type && !self.members.is_empty())
            || (!self.members.is_empty() && !self.shares_a_protocol(&req.protocols))
        {
            return now_error(codes::INCONSISTENT_GROUP_PROTOCOL);
        }
        if req.protocols.iter().map(|(_, m)| m.len()).sum::<usize>()
            > limits::MEMBER_METADATA_BYTES_MAX
        {
            return now_error(codes::INVALID_REQUEST);
        }
        // Static members are known by instance id; a new member id fences the old one.
        let mut member_id = req.member_id.clone();
        if let Some(instance) = &req.instance_id {
            match self.static_member(instance) {
                Some(old) if member_id.is_empty() || member_id != old => {
                    let fresh = self.new_member_id(&req.client_id, Some(instance));
                    if let Some(mut m) = self.members.remove(&old) {
                        m.protocols = req.protocols.clone();
                        m.session_timeout_ms = req.session_timeout_ms;
                        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
                        m.last_seen_ms = now;
                        self.members.insert(fresh.clone(), m);
                        if self.leader.as_deref() == Some(old.as_str()) {
                            self.leader = Some(fresh.clone());
                        }
                        // A restarted static member that still supports the group's protocol
                        // keeps its assignment: no rebalance (its subscription bytes may
                        // differ, e.g. the client's generation inside them).
                        let keeps_protocol = self
                            .protocol
                            .as_ref()
                            .is_some_and(|p| req.protocols.iter().any(|(n, _)| n == p));
                        if keeps_protocol && self.state == GroupState::Stable {
                            let mut out = self.join_outcome_for(&fresh);
                            // KIP-814: a returning leader must not compute a new assignment.
                            out.skip_assignment = self.leader.as_deref() == Some(fresh.as_str());
                            return (Disposition::Now(out), Vec::new());
                        }
                        return self.join_existing(&fresh, now);
                    }
                }
                Some(_) => {}
                None if member_id.is_empty() => {
                    if self.members.len() + self.pending.len() >= config.max_size {
                        return now_error(codes::GROUP_MAX_SIZE_REACHED);
                    }
                    // A new static member gets its id at once (no MEMBER_ID_REQUIRED round).
                    member_id = self.new_member_id(&req.client_id, Some(instance));
                }
                None => {}
            }
        } else if member_id.is_empty() {
            if self.members.len() + self.pending.len() >= config.max_size {
                return now_error(codes::GROUP_MAX_SIZE_REACHED);
            }
            let fresh = self.new_member_id(&req.client_id, None);
            if req.require_known_member_id {
                // KIP-394: hand out the id and make the client come back with it.
                self.pending
                    .insert(fresh.clone(), now + req.session_timeout_ms as i64);
                let mut out = join_error(&fresh, codes::MEMBER_ID_REQUIRED);
                out.member_id = fresh;
                return (Disposition::Now(out), Vec::new());
            }
            member_id = fresh;
        }
        let known = self.members.contains_key(&member_id);
        let pending = self.pending.remove(&member_id).is_some();
        if !known && !pending && req.instance_id.is_none() && !req.member_id.is_empty() {
            return now_error(codes::UNKNOWN_MEMBER_ID);
        }
        if !known {
            if self.members.len() >= config.max_size {
                return now_error(codes::GROUP_MAX_SIZE_REACHED);
            }
            self.members.insert(
                member_id.clone(),
                Member {
                    instance_id: req.instance_id.clone(),
                    client_id: req.client_id.clone(),
                    client_host: req.client_host.clone(),
                    session_timeout_ms: req.session_timeout_ms,
                    rebalance_timeout_ms: req.rebalance_timeout_ms,
                    protocols: req.protocols.clone(),
                    assignment: Bytes::new(),
                    last_seen_ms: now,
                    awaiting_join: false,
                    awaiting_sync: false,
                },
            );
            if self.protocol_type.is_none() || self.members.len() == 1 {
                self.protocol_type = Some(req.protocol_type.clone());
            }
            return self.join_existing(&member_id, now);
        }
        // A known member: in Stable, a follower with unchanged metadata just gets the
        // current generation back; anything else starts a rebalance.
        let unchanged = self
            .members
            .get(&member_id)
            .is_some_and(|m| m.protocols == req.protocols);
        if let Some(m) = self.members.get_mut(&member_id) {
            m.protocols = req.protocols.clone();
            m.session_timeout_ms = req.session_timeout_ms;
            m.rebalance_timeout_ms = req.rebalance_timeout_ms;
            m.last_seen_ms = now;
        }
        let is_leader = self.leader.as_deref() == Some(member_id.as_str());
        if self.state == GroupState::Stable && unchanged && !is_leader {
            return (
                Disposition::Now(self.join_outcome_for(&member_id)),
                Vec::new(),
            );
        }
        self.join_existing(&member_id, now)
    }

    fn shares_a_protocol(&self, protocols: &[(String, Bytes)]) -> bool {
        protocols.iter().any(|(name, _)| {
            self.members
                .values()
                .all(|m| m.protocols.iter().any(|(n, _)| n == name))
        })
    }

    /// Marks `member_id` as waiting to join and moves the group towards a rebalance.
    fn join_existing(
        &mut self,
        member_id: &str,
        now: i64,
    ) -> (Disposition<JoinOutcome>, Vec<Reply>) {
        if let Some(m) = self.members.get_mut(member_id) {
            m.awaiting_join = true;
            m.last_seen_ms = now;
        }
        let mut replies = Vec::new();
        if self.state != GroupState::PreparingRebalance {
            replies.extend(self.prepare_rebalance(now));
        }
        replies.extend(self.maybe_complete_join(now));
        (Disposition::Wait(member_id.to_string()), replies)
    }

    /// Enters PreparingRebalance: pending syncs are told to rejoin.
    fn prepare_rebalance(&mut self, now: i64) -> Vec<Reply> {
        let mut replies = Vec::new();
        for (id, m) in self.members.iter_mut() {
            if m.awaiting_sync {
                m.awaiting_sync = false;
                replies.push(Reply::Sync(
                    id.clone(),
                    sync_error(codes::REBALANCE_IN_PROGRESS),
                ));
            }
        }
        let timeout = self
            .members
            .values()
            .map(|m| m.rebalance_timeout_ms as i64)
            .max()
            .unwrap_or(0);
        if self.state == GroupState::Empty {
            self.initial_delay_until_ms = now + self.initial_delay_ms;
        }
        self.rebalance_deadline_ms = now + timeout;
        self.state = GroupState::PreparingRebalance;
        replies
    }

    fn join_outcome_for(&self, member_id: &str) -> JoinOutcome {
        let protocol = self.protocol.clone();
        let is_leader = self.leader.as_deref() == Some(member_id);
        let members = if is_leader {
            self.members
                .iter()
                .map(|(id, m)| {
                    (
                        id.clone(),
                        m.instance_id.clone(),
                        m.metadata(protocol.as_deref()),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinOutcome {
            error: codes::NONE,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: protocol,
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members,
            skip_assignment: false,
        }
    }

    /// Finishes the join phase once every member has rejoined, or the rebalance timeout
    /// has passed (members that did not rejoin are removed).
    fn maybe_complete_join(&mut self, now: i64) -> Vec<Reply> {
        if self.state != GroupState::PreparingRebalance {
            return Vec::new();
        }
        let all_joined = self.members.values().all(|m| m.awaiting_join);
        let ready = all_joined && now >= self.initial_delay_until_ms;
        if !ready && now < self.rebalance_deadline_ms {
            return Vec::new();
        }
        self.members.retain(|_, m| m.awaiting_join);
        self.generation += 1;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.protocol = None;
            self.leader = None;
            return Vec::new();
        }
        self.protocol = self.select_protocol();
        if !self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
        self.state = GroupState::CompletingRebalance;
        let ids: Vec<MemberId> = self.members.keys().cloned().collect();
        let mut replies = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(m) = self.members.get_mut(&id) {
                m.awaiting_join = false;
                m.last_seen_ms = now;
                m.assignment = Bytes::new();
            }
            replies.push(Reply::Join(id.clone(), self.join_outcome_for(&id)));
        }
        replies
    }

    /// Kafka's vote: among protocols every member supports, each member votes for its most
    /// preferred one; most votes wins (ties by name, for determinism).
    fn select_protocol(&self) -> Option<String> {
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            let choice = m.protocols.iter().map(|(n, _)| n.as_str()).find(|n| {
                self.members
                    .values()
                    .all(|o| o.protocols.iter().any(|(p, _)| p == n))
            });
            if let Some(c) = choice {
                *votes.entry(c).or_default() += 1;
            }
        }
        votes
            .into_iter()
            .max_by_key(|(name, n)| (*n, std::cmp::Reverse(*name)))
            .map(|(name, _)| name.to_string())
    }

    fn check_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), i16> {
        if let Some(instance) = instance_id {
            if let Some(current) = self.static_member(instance) {
                if current != member_id {
                    return Err(codes::FENCED_INSTANCE_ID);
                }
            }
        }
        if !self.members.contains_key(member_id) {
            return Err(codes::UNKNOWN_MEMBER_ID);
        }
        if generation != self.generation {
            return Err(codes::ILLEGAL_GENERATION);
        }
        Ok(())
    }

    /// Handles SyncGroup. The leader's call carries every member's assignment.
    pub fn sync(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        assignments: Vec<(MemberId, Bytes)>,
        now: i64,
    ) -> (Disposition<SyncOutcome>, Vec<Reply>) {
        if let Err(e) = self.check_member(member_id, instance_id, generation) {
            return (Disposition::Now(sync_error(e)), Vec::new());
        }
        if let Some(m) = self.members.get_mut(member_id) {
            m.last_seen_ms = now;
        }
        match self.state {
            GroupState::PreparingRebalance => (
                Disposition::Now(sync_error(codes::REBALANCE_IN_PROGRESS)),
                Vec::new(),
            ),
            GroupState::Stable => (Disposition::Now(self.sync_outcome(member_id)), Vec::new()),
            GroupState::CompletingRebalance => {
                if let Some(m) = self.members.get_mut(member_id) {
                    m.awaiting_sync = true;
                }
                let mut replies = Vec::new();
                if self.leader.as_deref() == Some(member_id) {
                    for (id, assignment) in assignments {
                        if let Some(m) = self.members.get_mut(&id) {
                            m.assignment = assignment;
                        }
                    }
                    self.state = GroupState::Stable;
                    let ids: Vec<MemberId> = self
                        .members
                        .iter()
                        .filter(|(_, m)| m.awaiting_sync)
                        .map(|(id, _)| id.clone())
                        .collect();
                    for id in ids {
                        if let Some(m) = self.members.get_mut(&id) {
                            m.awaiting_sync = false;
                        }
                        replies.push(Reply::Sync(id.clone(), self.sync_outcome(&id)));
                    }
                }
                (Disposition::Wait(member_id.to_string()), replies)
            }
            GroupState::Empty | GroupState::Dead => (
                Disposition::Now(sync_error(codes::UNKNOWN_MEMBER_ID)),
                Vec::new(),
            ),
        }
    }

    fn sync_outcome(&self, member_id: &str) -> SyncOutcome {
        SyncOutcome {
            error: codes::NONE,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            assignment: self
                .members
                .get(member_id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default(),
        }
    }

    /// Handles Heartbeat.
    pub fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: i64,
    ) -> i16 {
        if let Err(e) = self.check_member(member_id, instance_id, generation) {
            // During a rebalance a member of the previous generation is told to rejoin.
            if e == codes::ILLEGAL_GENERATION && self.state == GroupState::PreparingRebalance {
                return codes::REBALANCE_IN_PROGRESS;
            }
            return e;
        }
        if let Some(m) = self.members.get_mut(member_id) {
            m.last_seen_ms = now;
        }
        match self.state {
            GroupState::PreparingRebalance => codes::REBALANCE_IN_PROGRESS,
            _ => codes::NONE,
        }
    }

    /// Handles LeaveGroup for each (member id, instance id); returns a code per member.
    pub fn leave(
        &mut self,
        leaving: &[(String, Option<String>)],
        now: i64,
    ) -> (Vec<i16>, Vec<Reply>) {
        let mut codes_out = Vec::with_capacity(leaving.len());
        let mut removed = false;
        let mut replies = Vec::new();
        for (member_id, instance_id) in leaving {
            let id = match instance_id {
                Some(instance) => match self.static_member(instance) {
                    Some(current) if member_id.is_empty() || *member_id == current => Some(current),
                    Some(_) => {
                        codes_out.push(codes::FENCED_INSTANCE_ID);
                        continue;
                    }
                    None => None,
                },
                None => self
                    .members
                    .contains_key(member_id)
                    .then(|| member_id.clone()),
            };
            match id.and_then(|id| self.members.remove(&id).map(|m| (id, m))) {
                Some((id, m)) => {
                    if m.awaiting_join {
                        replies.push(Reply::Join(
                            id.clone(),
                            join_error(&id, codes::UNKNOWN_MEMBER_ID),
                        ));
                    }
                    if m.awaiting_sync {
                        replies.push(Reply::Sync(id, sync_error(codes::UNKNOWN_MEMBER_ID)));
                    }
                    removed = true;
                    codes_out.push(codes::NONE);
                }
                None => codes_out.push(codes::UNKNOWN_MEMBER_ID),
            }
        }
        if removed {
            replies.extend(self.membership_changed(now));
        }
        (codes_out, replies)
    }

    fn membership_changed(&mut self, now: i64) -> Vec<Reply> {
        let mut replies = Vec::new();
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                if self.members.is_empty() {
                    self.become_empty();
                } else {
                    replies.extend(self.prepare_rebalance(now));
                }
            }
            GroupState::PreparingRebalance => replies.extend(self.maybe_complete_join(now)),
            GroupState::Empty | GroupState::Dead => {}
        }
        replies
    }

    fn become_empty(&mut self) {
        self.generation += 1;
        self.state = GroupState::Empty;
        self.protocol = None;
        self.leader = None;
    }

    /// Advances time: expires members whose session ran out (members waiting to join are
    /// bounded by the rebalance instead), expires unclaimed member ids, and completes a
    /// join phase whose deadline or initial delay has passed.
    pub fn tick(&mut self, now: i64) -> Vec<Reply> {
        self.pending.retain(|_, expiry| *expiry > now);
        let expired: Vec<(String, Option<String>)> = self
            .members
            .iter()
            .filter(|(_, m)| !m.awaiting_join && now - m.last_seen_ms > m.session_timeout_ms as i64)
            .map(|(id, _)| (id.clone(), None))
            .collect();
        let mut replies = Vec::new();
        if !expired.is_empty() {
            let (_, r) = self.leave(&expired, now);
            replies.extend(r);
        }
        replies.extend(self.maybe_complete_join(now));
        replies
    }

    /// Whether a member may commit offsets for this generation. A commit with generation
    /// -1 and no member id (a client that assigns partitions itself) is allowed only while
    /// the group has no members.
    pub fn validate_commit(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), i16> {
        if generation < 0 && member_id.is_empty() {
            return if self.members.is_empty() {
                Ok(())
            } else {
                Err(codes::UNKNOWN_MEMBER_ID)
            };
        }
        self.check_member(member_id, instance_id, generation)?;
        if self.state == GroupState::CompletingRebalance {
            return Err(codes::REBALANCE_IN_PROGRESS);
        }
        Ok(())
    }

    /// Marks the group deleted.
    pub fn kill(&mut self) {
        self.state = GroupState::Dead;
        self.members.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: GroupConfig = GroupConfig {
        min_session_timeout_ms: 10,
        max_session_timeout_ms: 100_000,
        initial_rebalance_delay_ms: 0,
        max_size: 4,
    };

    fn req(member: &str, protocols: &[&str]) -> JoinRequest {
        JoinRequest {
            member_id: member.to_string(),
            instance_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: 1_000,
            rebalance_timeout_ms: 5_000,
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|p| (p.to_string(), Bytes::from(format!("meta-{p}"))))
                .collect(),
            require_known_member_id: true,
        }
    }

    fn joins(replies: &[Reply]) -> Vec<&JoinOutcome> {
        replies
            .iter()
            .filter_map(|r| {
                if let Reply::Join(_, o) = r {
                    Some(o)
                } else {
                    None
                }
            })
            .collect()
    }

    /// Joins a new member through MEMBER_ID_REQUIRED and returns its id.
    fn new_member(g: &mut Group, now: i64, protocols: &[&str]) -> (String, Vec<Reply>) {
        let (d, _) = g.join(req("", protocols), now, &CFG);
        let Disposition::Now(o) = d else {
            panic!("expected MEMBER_ID_REQUIRED")
        };
        assert_eq!(o.error, codes::MEMBER_ID_REQUIRED);
        let (d, replies) = g.join(req(&o.member_id, protocols), now, &CFG);
        assert_eq!(d, Disposition::Wait(o.member_id.clone()));
        (o.member_id, replies)
    }

    #[test]
    fn two_members_join_sync_and_rebalance_on_leave() {
        let mut g = Group::new("g");
        let (a, replies) = new_member(&mut g, 0, &["range", "roundrobin"]);
        assert_eq!(
            joins(&replies).len(),
            1,
            "a lone member completes the join at once"
        );
        assert_eq!(g.generation, 1);
        let (d, replies) = g.sync(
            &a,
            None,
            1,
            vec![(a.clone(), Bytes::from_static(b"all"))],
            1,
        );
        assert!(matches!(d, Disposition::Wait(_)));
        assert_eq!(
            replies,
            vec![Reply::Sync(
                a.clone(),
                SyncOutcome {
                    error: 0,
                    protocol_type: Some("consumer".into()),
                    protocol_name: Some("range".into()),
                    assignment: Bytes::from_static(b"all"),
                }
            )]
        );
        assert_eq!(g.state, GroupState::Stable);

        // B joins: rebalance; A's heartbeat says so; A rejoins and both get generation 2.
        let (b, replies) = new_member(&mut g, 10, &["roundrobin", "range"]);
        assert!(replies.is_empty());
        assert_eq!(g.heartbeat(&a, None, 1, 11), codes::REBALANCE_IN_PROGRESS);
        let (_, replies) = g.join(req(&a, &["range", "roundrobin"]), 12, &CFG);
        let outs = joins(&replies);
        assert_eq!(outs.len(), 2);
        assert!(outs.iter().all(|o| o.generation == 2 && o.leader == a));
        assert_eq!(
            outs.iter().filter(|o| !o.members.is_empty()).count(),
            1,
            "only the leader sees members"
        );
        assert_eq!(
            g.protocol.as_deref(),
            Some("range"),
            "one vote each: ties break by name"
        );
        // Stale generation is fenced.
        assert_eq!(g.heartbeat(&b, None, 1, 13), codes::ILLEGAL_GENERATION);
        let (d, _) = g.sync(&b, None, 2, vec![], 14);
        assert_eq!(d, Disposition::Wait(b.clone()));
        let (_, replies) = g.sync(
            &a,
            None,
            2,
            vec![
                (a.clone(), Bytes::from_static(b"p0")),
                (b.clone(), Bytes::from_static(b"p1")),
            ],
            15,
        );
        assert_eq!(replies.len(), 2);
        assert_eq!(g.heartbeat(&b, None, 2, 16), codes::NONE);

        // A leaves: B is told to rejoin and becomes leader of generation 3.
        let (codes_out, _) = g.leave(&[(a.clone(), None)], 20);
        assert_eq!(codes_out, vec![codes::NONE]);
        assert_eq!(g.heartbeat(&b, None, 2, 21), codes::REBALANCE_IN_PROGRESS);
        let (_, replies) = g.join(req(&b, &["roundrobin", "range"]), 22, &CFG);
        let outs = joins(&replies);
        assert_eq!(
            (outs[0].generation, outs[0].leader.as_str()),
            (3, b.as_str())
        );
    }

    #[test]
    fn silent_members_are_evicted_and_the_group_empties() {
        let mut g = Group::new("g");
        let (a, _) = new_member(&mut g, 0, &["range"]);
        g.sync(&a, None, 1, vec![], 1);
        assert!(g.tick(900).is_empty());
        assert_eq!(g.members.len(), 1);
        g.tick(1_002);
        assert!(g.members.is_empty());
        assert_eq!(g.state, GroupState::Empty);
        assert_eq!(g.heartbeat(&a, None, 1, 1_003), codes::UNKNOWN_MEMBER_ID);
    }

    #[test]
    fn a_member_that_never_rejoins_is_dropped_at_the_rebalance_deadline() {
        let mut g = Group::new("g");
        let (a, _) = new_member(&mut g, 0, &["range"]);
        g.sync(&a, None, 1, vec![], 1);
        let (b, _) = new_member(&mut g, 10, &["range"]);
        // A keeps heartbeating but never rejoins; the deadline (5 s) completes without it.
        for t in (100..5_000).step_by(500) {
            assert_eq!(g.heartbeat(&a, None, 1, t), codes::REBALANCE_IN_PROGRESS);
            assert!(g.tick(t).is_empty());
        }
        let replies = g.tick(5_011);
        let outs = joins(&replies);
        assert_eq!(outs.len(), 1);
        assert_eq!(
            (outs[0].member_id.as_str(), outs[0].generation),
            (b.as_str(), 2)
        );
        assert!(!g.members.contains_key(&a));
    }

    #[test]
    fn bad_joins_get_kafka_errors_and_limits_hold() {
        let mut g = Group::new("g");
        let mut r = req("", &["range"]);
        r.session_timeout_ms = 1;
        assert!(matches!(
            g.join(r, 0, &CFG).0,
            Disposition::Now(JoinOutcome {
                error: codes::INVALID_SESSION_TIMEOUT,
                ..
            })
        ));
        let (a, _) = new_member(&mut g, 0, &["range"]);
        assert!(matches!(
            g.join(req("", &["sticky"]), 1, &CFG).0,
            Disposition::Now(JoinOutcome {
                error: codes::INCONSISTENT_GROUP_PROTOCOL,
                ..
            })
        ));
        assert!(matches!(
            g.join(req("nobody", &["range"]), 1, &CFG).0,
            Disposition::Now(JoinOutcome {
                error: codes::UNKNOWN_MEMBER_ID,
                ..
            })
        ));
        let mut big = req(&a, &["range"]);
        big.protocols[0].1 = Bytes::from(vec![0u8; limits::MEMBER_METADATA_BYTES_MAX + 1]);
        assert!(matches!(
            g.join(big, 1, &CFG).0,
            Disposition::Now(JoinOutcome {
                error: codes::INVALID_REQUEST,
                ..
            })
        ));
        for _ in 0..3 {
            new_member(&mut g, 2, &["range"]);
        }
        assert!(matches!(
            g.join(req("", &["range"]), 3, &CFG).0,
            Disposition::Now(JoinOutcome {
                error: codes::GROUP_MAX_SIZE_REACHED,
                ..
            })
        ));
    }

    #[test]
    fn a_static_member_rejoining_keeps_its_assignment_and_fences_the_old_id() {
        let mut g = Group::new("g");
        let mut r = req("", &["range"]);
        r.instance_id = Some("pod-1".into());
        let (d, replies) = g.join(r.clone(), 0, &CFG);
        assert!(
            matches!(d, Disposition::Wait(_)),
            "static members skip MEMBER_ID_REQUIRED"
        );
        let old = joins(&replies)[0].member_id.clone();
        assert!(!old.is_empty(), "a new static member gets a member id");
        g.sync(
            &old,
            Some("pod-1"),
            1,
            vec![(old.clone(), Bytes::from_static(b"mine"))],
            1,
        );
        // Restarted with an empty member id (and different subscription bytes, as clients
        // send): a new id, same generation, no rebalance; it was the leader, so it is told
        // not to assign (KIP-814).
        r.protocols[0].1 = Bytes::from_static(b"other-bytes");
        let (d, replies) = g.join(r, 50, &CFG);
        let Disposition::Now(o) = d else {
            panic!("expected an immediate answer")
        };
        assert!(replies.is_empty());
        assert_ne!(o.member_id, old);
        assert_eq!((o.error, o.generation), (codes::NONE, 1));
        assert!(o.skip_assignment);
        assert_eq!(
            g.heartbeat(&old, Some("pod-1"), 1, 51),
            codes::FENCED_INSTANCE_ID
        );
        let (d, _) = g.sync(&o.member_id, Some("pod-1"), 1, vec![], 52);
        assert!(
            matches!(d, Disposition::Now(SyncOutcome { error: 0, ref assignment, .. }) if assignment == &Bytes::from_static(b"mine"))
        );
    }

    #[test]
    fn commits_need_the_current_generation_or_an_empty_group() {
        let mut g = Group::new("g");
        assert_eq!(g.validate_commit("", None, -1), Ok(()));
        let (a, _) = new_member(&mut g, 0, &["range"]);
        assert_eq!(
            g.validate_commit("", None, -1),
            Err(codes::UNKNOWN_MEMBER_ID)
        );
        assert_eq!(
            g.validate_commit(&a, None, 1),
            Err(codes::REBALANCE_IN_PROGRESS)
        );
        g.sync(&a, None, 1, vec![], 1);
        assert_eq!(g.validate_commit(&a, None, 1), Ok(()));
        assert_eq!(
            g.validate_commit(&a, None, 0),
            Err(codes::ILLEGAL_GENERATION)
        );
    }

    #[test]
    fn a_leader_that_never_syncs_is_evicted_and_followers_are_told_to_rejoin() {
        let mut g = Group::new("g");
        let (a, _) = new_member(&mut g, 0, &["range"]);
        let (b, _) = new_member(&mut g, 1, &["range"]);
        let (_, replies) = g.join(req(&a, &["range"]), 2, &CFG);
        assert_eq!(joins(&replies).len(), 2);
        let leader = g.leader.clone().unwrap();
        let follower = if leader == a { b.clone() } else { a.clone() };
        // The follower syncs and waits; the leader goes silent.
        let (d, _) = g.sync(&follower, None, g.generation, vec![], 3);
        assert_eq!(d, Disposition::Wait(follower.clone()));
        for t in (100..1_000).step_by(100) {
            assert_eq!(g.heartbeat(&follower, None, g.generation, t), codes::NONE);
            assert!(g.tick(t).is_empty());
        }
        g.heartbeat(&follower, None, g.generation, 1_000);
        let replies = g.tick(1_004);
        assert!(
            !g.members.contains_key(&leader),
            "the silent leader is evicted"
        );
        assert!(replies.contains(&Reply::Sync(
            follower.clone(),
            sync_error(codes::REBALANCE_IN_PROGRESS)
        )));
        assert_eq!(g.state, GroupState::PreparingRebalance);
        let (_, replies) = g.join(req(&follower, &["range"]), 1_005, &CFG);
        assert_eq!(joins(&replies)[0].leader, follower);
    }
}
