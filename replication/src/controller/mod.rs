//! The controller: validates requests against the metadata image and decides which records
//! to propose. Sans-IO; it runs on the Raft leader (shard 0 of a controller node).
//!
//! Invariants:
//! * Decisions are made against the image that includes every record already proposed and not
//!   yet committed (the caller's speculative image), so two decisions in flight never conflict;
//!   `next_index` is the log index the decision's records will take, which is what a new
//!   broker epoch is.
//! * Time comes in as `now_ms`, never from the wall clock. Heartbeat times are volatile leader
//!   state: [`Controller::activate`] gives every registered broker a fresh session, so a new
//!   leader never fences brokers for the silence of its election.
//! * A broker is unfenced only once it has applied the log up to its own registration, and
//!   only while it is not shutting down; a fenced broker leads nothing once the decision that
//!   fences it commits.

mod election;
pub mod placement;
mod reassign;
pub mod request;
pub mod security;

use election::partition_changes;
pub use election::ElectionType;
pub use placement::Candidate;
pub use request::{ControllerRequest, ControllerResponse, NewPartitions, NewTopic, QuorumView};

use crate::cluster::image::{MetadataImage, REPLICAS_MAX};
use crate::cluster::records::{ConfigResource, MetadataRecord, PartitionAssignment};
use crate::error::ControllerError;
use crate::limits::{CONFIG_BYTES_MAX, LISTENERS_MAX, PRODUCER_ID_BLOCK_LEN};
use crate::metadata::{validate_topic_name, PARTITIONS_PER_TOPIC_MAX, TOPICS_MAX};
use crate::rng::SplitMix64;
use crate::types::{BrokerEpoch, LeaderEpoch, NodeId, TopicId};
use std::collections::{BTreeMap, BTreeSet};

/// Controller settings, under Kafka's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerConfig {
    /// The cluster id the first leader writes and every request must name.
    pub cluster_id: [u8; 16],
    /// `broker.session.timeout.ms`: a broker silent this long is fenced.
    pub session_timeout_ms: u64,
    /// `num.partitions`: partitions of a topic created with `-1`.
    pub default_partitions: i32,
    /// `default.replication.factor`: replicas of a topic created with `-1`.
    pub default_replication_factor: i16,
    /// `min.insync.replicas` of topics that do not set it: below it, fenced ISR members
    /// become eligible leader replicas.
    pub default_min_insync_replicas: i32,
    /// `unclean.leader.election.enable` of topics that do not set it: a replica outside the
    /// ISR and ELR may lead when no member of either can, losing what it lacks.
    pub unclean_leader_election: bool,
    /// `auto.leader.rebalance.enable`: leadership moves back to preferred replicas.
    pub auto_leader_rebalance: bool,
    /// `leader.imbalance.check.interval.seconds`, in milliseconds.
    pub leader_imbalance_check_interval_ms: u64,
}

impl ControllerConfig {
    /// Kafka's defaults for `cluster_id`.
    pub fn new(cluster_id: [u8; 16]) -> ControllerConfig {
        ControllerConfig {
            cluster_id,
            session_timeout_ms: 9_000,
            default_partitions: 1,
            default_replication_factor: 1,
            default_min_insync_replicas: 1,
            unclean_leader_election: false,
            auto_leader_rebalance: true,
            leader_imbalance_check_interval_ms: 300_000,
        }
    }
}

/// What a request decided: records to propose (in one entry), and the answer to give once
/// they are committed (at once if there are none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Records to propose together.
    pub records: Vec<MetadataRecord>,
    /// The answer.
    pub response: ControllerResponse,
}

impl Decision {
    fn answer(response: ControllerResponse) -> Decision {
        Decision {
            records: Vec::new(),
            response,
        }
    }
}

/// Volatile per-broker session state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Session {
    last_heartbeat_ms: u64,
    shutting_down: bool,
}

/// The active controller's state: sessions and the id source. Everything durable is in the
/// image.
#[derive(Debug, Clone)]
pub struct Controller {
    config: ControllerConfig,
    sessions: BTreeMap<NodeId, Session>,
    ids: SplitMix64,
    /// When leadership balance was last checked (the active controller's time).
    last_rebalance_ms: u64,
}

impl Controller {
    /// A controller; `id_seed` fixes the topic ids it draws (seed it from the OS in
    /// production, from the run's seed in a simulation).
    pub fn new(config: ControllerConfig, id_seed: u64) -> Controller {
        Controller {
            config,
            sessions: BTreeMap::new(),
            ids: SplitMix64::new(id_seed),
            last_rebalance_ms: 0,
        }
    }

    /// Whether `broker` may take leadership now: registered, unfenced, not shutting down.
    fn may_lead(&self, image: &MetadataImage, broker: NodeId) -> bool {
        may_lead(&self.sessions, image, broker)
    }

    /// The settings.
    pub fn config(&self) -> &ControllerConfig {
        &self.config
    }

    /// This node became the active controller, with `image` applied up to the start of its
    /// term: every registered broker gets a fresh session. Returns the records to propose at
    /// once (the cluster id, if no leader wrote it yet).
    pub fn activate(&mut self, image: &MetadataImage, now_ms: u64) -> Vec<MetadataRecord> {
        self.last_rebalance_ms = now_ms;
        self.sessions = image
            .brokers()
            .map(|b| {
                let s = Session {
                    last_heartbeat_ms: now_ms,
                    shutting_down: false,
                };
                (b.id, s)
            })
            .collect();
        match image.cluster_id() {
            None => vec![MetadataRecord::ClusterId {
                id: self.config.cluster_id,
            }],
            Some(_) => Vec::new(),
        }
    }

    /// Forgets `broker`'s session: its process is known to be gone (a controller that has
    /// just started knows the broker of its own process restarted with it), so a new
    /// incarnation may register at once instead of waiting out the old session.
    pub fn forget_session(&mut self, broker: NodeId) {
        self.sessions.remove(&broker);
    }

    /// When `broker` last heartbeated, as this controller saw it.
    pub fn last_heartbeat_ms(&self, broker: NodeId) -> Option<u64> {
        self.sessions.get(&broker).map(|s| s.last_heartbeat_ms)
    }

    /// Decides one request.
    pub fn handle(
        &mut self,
        image: &MetadataImage,
        next_index: u64,
        now_ms: u64,
        request: &ControllerRequest,
    ) -> Result<Decision, ControllerError> {
        match request {
            ControllerRequest::RegisterBroker {
                id,
                incarnation,
                cluster_id,
                listeners,
                rack,
            } => {
                if *cluster_id != self.config.cluster_id {
                    return Err(ControllerError::InconsistentClusterId);
                }
                let reg = Registration {
                    id: *id,
                    incarnation: *incarnation,
                    listeners,
                    rack,
                };
                self.register(image, next_index, now_ms, reg)
            }
            ControllerRequest::BrokerHeartbeat {
                id,
                epoch,
                metadata_offset,
                want_shutdown,
            } => self.heartbeat(image, now_ms, *id, *epoch, *metadata_offset, *want_shutdown),
            ControllerRequest::CreateTopics {
                topics,
                validate_only,
            } => Ok(self.create_topics(image, topics, *validate_only)),
            ControllerRequest::DeleteTopics { names } => Ok(delete_topics(image, names)),
            ControllerRequest::CreatePartitions {
                topics,
                validate_only,
            } => Ok(create_partitions(image, topics, *validate_only)),
            ControllerRequest::AlterConfigs {
                resource,
                entries,
                validate_only,
            } => alter_configs(image, resource, entries, *validate_only),
            ControllerRequest::AlterPartition {
                broker,
                broker_epoch,
                topic,
                partition,
                leader_epoch,
                partition_epoch,
                isr,
            } => {
                let change = IsrChange {
                    broker: *broker,
                    broker_epoch: *broker_epoch,
                    topic: *topic,
                    partition: *partition,
                    leader_epoch: *leader_epoch,
                    partition_epoch: *partition_epoch,
                    isr,
                };
                alter_partition(image, change, &self.config)
            }
            ControllerRequest::AlterReassignments { reassignments } => {
                let live = |n: NodeId| self.may_lead(image, n);
                Ok(reassign::alter_reassignments(image, live, reassignments))
            }
            ControllerRequest::ElectLeaders {
                election,
                partitions,
            } => {
                let live = |n: NodeId| self.may_lead(image, n);
                Ok(election::elect_leaders(
                    image,
                    &self.config,
                    live,
                    *election,
                    partitions.as_deref(),
                ))
            }
            ControllerRequest::AlterScramCredentials {
                deletions,
                upsertions,
            } => Ok(security::alter_scram(image, deletions, upsertions)),
            ControllerRequest::CreateAcls { acls } => Ok(security::create_acls(image, acls)),
            ControllerRequest::DeleteAcls { filters } => Ok(security::delete_acls(image, filters)),
            ControllerRequest::AlterClientQuotas {
                entries,
                validate_only,
            } => Ok(security::alter_quotas(entries, *validate_only)),
            ControllerRequest::DescribeQuorum => Err(ControllerError::InvalidRequest(
                "DescribeQuorum is answered by the quorum node".into(),
            )),
            ControllerRequest::AllocateProducerIds { broker, epoch } => {
                current_registration(image, *broker, *epoch)?;
                let start = image.next_producer_id();
                if start.checked_add(PRODUCER_ID_BLOCK_LEN).is_none() {
                    return Err(ControllerError::Internal("producer ids exhausted".into()));
                }
                Ok(Decision {
                    records: vec![MetadataRecord::ProducerIdBlock {
                        broker: *broker,
                        start,
                        len: PRODUCER_ID_BLOCK_LEN,
                    }],
                    response: ControllerResponse::ProducerIds {
                        start,
                        len: PRODUCER_ID_BLOCK_LEN,
                    },
                })
            }
        }
    }

    /// Periodic work: fences brokers whose session lapsed (moving their leadership away),
    /// elects leaders for offline partitions that have a live ISR member, and every
    /// `leader.imbalance.check.interval.seconds` moves leadership back to preferred
    /// replicas that are live and in sync (`auto.leader.rebalance.enable`).
    pub fn tick(&mut self, image: &MetadataImage, now_ms: u64) -> Vec<MetadataRecord> {
        let timeout = self.config.session_timeout_ms;
        let mut lapsed = BTreeSet::new();
        for b in image.live_brokers() {
            let session = self.sessions.entry(b.id).or_insert(Session {
                last_heartbeat_ms: now_ms,
                shutting_down: false,
            });
            if now_ms.saturating_sub(session.last_heartbeat_ms) > timeout {
                lapsed.insert(b.id);
            }
        }
        let mut records = Vec::new();
        for id in &lapsed {
            if let Some(b) = image.broker(*id) {
                records.push(MetadataRecord::FenceBroker {
                    id: *id,
                    epoch: b.epoch,
                });
            }
        }
        let sessions = &self.sessions;
        let live = |n: NodeId| may_lead(sessions, image, n) && !lapsed.contains(&n);
        records.extend(partition_changes(image, &lapsed, live, &self.config));
        if records.is_empty() {
            records.extend(reassign::complete_ready(image, live));
        }
        let interval = self.config.leader_imbalance_check_interval_ms;
        if records.is_empty()
            && self.config.auto_leader_rebalance
            && now_ms.saturating_sub(self.last_rebalance_ms) >= interval
        {
            self.last_rebalance_ms = now_ms;
            records.extend(election::rebalance_leaders(image, live));
        }
        records
    }

    fn register(
        &mut self,
        image: &MetadataImage,
        next_index: u64,
        now_ms: u64,
        reg: Registration<'_>,
    ) -> Result<Decision, ControllerError> {
        let id = reg.id;
        if !id.is_some() {
            return Err(ControllerError::InvalidRequest(format!("broker id {id}")));
        }
        if reg.listeners.len() > LISTENERS_MAX {
            return Err(ControllerError::InvalidRequest("too many listeners".into()));
        }
        if let Some(existing) = image.broker(id) {
            if existing.incarnation == reg.incarnation {
                // A retry of the same registration gets the same answer.
                return Ok(Decision::answer(ControllerResponse::Registered {
                    epoch: existing.epoch,
                }));
            }
            let alive = self.sessions.get(&id).is_some_and(|s| {
                now_ms.saturating_sub(s.last_heartbeat_ms) <= self.config.session_timeout_ms
            });
            if !existing.fenced && alive {
                return Err(ControllerError::DuplicateBrokerRegistration(id));
            }
        } else if image.brokers().count() >= crate::limits::BROKERS_MAX {
            return Err(ControllerError::InvalidRequest("too many brokers".into()));
        }
        let epoch = BrokerEpoch(i64::try_from(next_index).unwrap_or(i64::MAX));
        let mut records = vec![MetadataRecord::RegisterBroker {
            id,
            incarnation: reg.incarnation,
            epoch,
            listeners: reg.listeners.to_vec(),
            rack: reg.rack.clone(),
        }];
        // The new incarnation starts fenced: whatever the old one led moves away.
        let gone = BTreeSet::from([id]);
        let live = |n: NodeId| n != id && image.is_live(n);
        records.extend(partition_changes(image, &gone, live, &self.config));
        self.sessions.insert(
            id,
            Session {
                last_heartbeat_ms: now_ms,
                shutting_down: false,
            },
        );
        Ok(Decision {
            records,
            response: ControllerResponse::Registered { epoch },
        })
    }

    fn heartbeat(
        &mut self,
        image: &MetadataImage,
        now_ms: u64,
        id: NodeId,
        epoch: BrokerEpoch,
        metadata_offset: u64,
        want_shutdown: bool,
    ) -> Result<Decision, ControllerError> {
        let broker = current_registration(image, id, epoch)?;
        let session = self.sessions.entry(id).or_insert(Session {
            last_heartbeat_ms: now_ms,
            shutting_down: false,
        });
        session.last_heartbeat_ms = session.last_heartbeat_ms.max(now_ms);
        if want_shutdown {
            session.shutting_down = true;
            let mut records = Vec::new();
            if !broker.fenced {
                records.push(MetadataRecord::FenceBroker { id, epoch });
            }
            let gone = BTreeSet::from([id]);
            let live = |n: NodeId| n != id && image.is_live(n);
            records.extend(partition_changes(image, &gone, live, &self.config));
            let response = ControllerResponse::Heartbeat {
                fenced: true,
                should_shut_down: true,
            };
            return Ok(Decision { records, response });
        }
        let caught_up = i64::try_from(metadata_offset).unwrap_or(i64::MAX) >= epoch.0;
        if broker.fenced && caught_up && !session.shutting_down {
            let mut records = vec![MetadataRecord::UnfenceBroker { id, epoch }];
            let live = |n: NodeId| n == id || image.is_live(n);
            records.extend(partition_changes(
                image,
                &BTreeSet::new(),
                live,
                &self.config,
            ));
            let response = ControllerResponse::Heartbeat {
                fenced: false,
                should_shut_down: false,
            };
            return Ok(Decision { records, response });
        }
        Ok(Decision::answer(ControllerResponse::Heartbeat {
            fenced: broker.fenced,
            should_shut_down: session.shutting_down && broker.fenced,
        }))
    }

    fn create_topics(
        &mut self,
        image: &MetadataImage,
        topics: &[NewTopic],
        validate_only: bool,
    ) -> Decision {
        let candidates = candidates(image);
        let mut records = Vec::new();
        let mut results = Vec::with_capacity(topics.len());
        let mut names = BTreeSet::new();
        let mut ids = BTreeSet::new();
        let mut placed_partitions = image.partition_count();
        for t in topics {
            let result = if !names.insert(t.name.as_str()) {
                Err(ControllerError::InvalidRequest(format!(
                    "topic {} named twice",
                    t.name
                )))
            } else {
                self.plan_topic(image, &candidates, t, placed_partitions, &mut ids)
            };
            match result {
                Ok(record) => {
                    if let MetadataRecord::CreateTopic { id, partitions, .. } = &record {
                        results.push((t.name.clone(), Ok(*id)));
                        placed_partitions += partitions.len();
                    }
                    if !validate_only {
                        records.push(record);
                    }
                }
                Err(e) => results.push((t.name.clone(), Err(e))),
            }
        }
        if image.topic_count() + records.len() > TOPICS_MAX {
            return Decision::answer(ControllerResponse::CreateTopics(
                topics
                    .iter()
                    .map(|t| {
                        let e = ControllerError::InvalidRequest("too many topics".into());
                        (t.name.clone(), Err(e))
                    })
                    .collect(),
            ));
        }
        Decision {
            records,
            response: ControllerResponse::CreateTopics(results),
        }
    }

    fn plan_topic(
        &mut self,
        image: &MetadataImage,
        candidates: &[Candidate],
        t: &NewTopic,
        start: usize,
        taken: &mut BTreeSet<TopicId>,
    ) -> Result<MetadataRecord, ControllerError> {
        validate_topic_name(&t.name).map_err(|e| ControllerError::InvalidTopic(e.to_string()))?;
        if image.topic(&t.name).is_some() {
            return Err(ControllerError::TopicAlreadyExists(t.name.clone()));
        }
        let partitions = match t.partitions {
            -1 => self.config.default_partitions,
            n => n,
        };
        if !(1..=PARTITIONS_PER_TOPIC_MAX).contains(&partitions) {
            return Err(ControllerError::InvalidPartitions(format!(
                "{partitions} partitions"
            )));
        }
        let rf = match t.replication_factor {
            -1 => self.config.default_replication_factor,
            n => n,
        };
        let rf = usize::try_from(rf)
            .ok()
            .filter(|&r| (1..=REPLICAS_MAX).contains(&r))
            .ok_or_else(|| {
                ControllerError::InvalidReplicationFactor(format!("replication factor {rf}"))
            })?;
        check_configs(
            t.configs
                .iter()
                .map(|(k, v)| (k.as_str(), Some(v.as_str()))),
        )?;
        let count = usize::try_from(partitions).unwrap_or(0);
        let replicas = placement::place(candidates, count, rf, start)?;
        let id = loop {
            let id = TopicId(self.ids.uuid());
            if image.topic_by_id(id).is_none() && taken.insert(id) {
                break id;
            }
        };
        Ok(MetadataRecord::CreateTopic {
            name: t.name.clone(),
            id,
            configs: t.configs.clone(),
            partitions: replicas.into_iter().map(fresh_partition).collect(),
        })
    }
}

/// The borrowed parts of a registration request.
struct Registration<'a> {
    id: NodeId,
    incarnation: [u8; 16],
    listeners: &'a [crate::cluster::records::Endpoint],
    rack: &'a Option<String>,
}

fn fresh_partition(replicas: Vec<NodeId>) -> PartitionAssignment {
    PartitionAssignment::new(replicas)
}

fn candidates(image: &MetadataImage) -> Vec<Candidate> {
    image
        .live_brokers()
        .map(|b| Candidate {
            id: b.id,
            rack: b.rack.clone(),
        })
        .collect()
}

fn current_registration(
    image: &MetadataImage,
    id: NodeId,
    epoch: BrokerEpoch,
) -> Result<&crate::cluster::image::BrokerState, ControllerError> {
    let broker = image
        .broker(id)
        .ok_or(ControllerError::BrokerIdNotRegistered(id))?;
    if broker.epoch != epoch {
        return Err(ControllerError::StaleBrokerEpoch { id, epoch });
    }
    Ok(broker)
}

fn check_configs<'a>(
    mut entries: impl Iterator<Item = (&'a str, Option<&'a str>)>,
) -> Result<(), ControllerError> {
    entries.try_for_each(|(name, value)| {
        let long =
            name.len() > CONFIG_BYTES_MAX || value.is_some_and(|v| v.len() > CONFIG_BYTES_MAX);
        if name.is_empty() || long {
            return Err(ControllerError::InvalidConfig(format!(
                "config {name:.64} out of bounds"
            )));
        }
        Ok(())
    })
}

/// Whether `broker` may take leadership now: registered, unfenced, not shutting down.
fn may_lead(sessions: &BTreeMap<NodeId, Session>, image: &MetadataImage, broker: NodeId) -> bool {
    image.is_live(broker) && sessions.get(&broker).is_none_or(|s| !s.shutting_down)
}

fn delete_topics(image: &MetadataImage, names: &[String]) -> Decision {
    let mut records = Vec::new();
    let mut results = Vec::with_capacity(names.len());
    let mut seen = BTreeSet::new();
    for name in names {
        let result = match image.topic(name) {
            _ if !seen.insert(name.as_str()) => Err(ControllerError::InvalidRequest(format!(
                "topic {name} named twice"
            ))),
            Some(t) => {
                records.push(MetadataRecord::DeleteTopic { id: t.id });
                Ok(t.id)
            }
            None => Err(ControllerError::UnknownTopicOrPartition(name.clone())),
        };
        results.push((name.clone(), result));
    }
    Decision {
        records,
        response: ControllerResponse::DeleteTopics(results),
    }
}

fn create_partitions(
    image: &MetadataImage,
    topics: &[NewPartitions],
    validate_only: bool,
) -> Decision {
    let candidates = candidates(image);
    let mut records = Vec::new();
    let mut results = Vec::with_capacity(topics.len());
    let mut seen = BTreeSet::new();
    for t in topics {
        let result = if seen.insert(t.name.as_str()) {
            plan_partitions(image, &candidates, t)
        } else {
            Err(ControllerError::InvalidRequest(format!(
                "topic {} named twice",
                t.name
            )))
        };
        match result {
            Ok(record) => {
                if !validate_only {
                    records.push(record);
                }
                results.push((t.name.clone(), Ok(())));
            }
            Err(e) => results.push((t.name.clone(), Err(e))),
        }
    }
    Decision {
        records,
        response: ControllerResponse::CreatePartitions(results),
    }
}

fn plan_partitions(
    image: &MetadataImage,
    candidates: &[Candidate],
    t: &NewPartitions,
) -> Result<MetadataRecord, ControllerError> {
    let topic = image
        .topic(&t.name)
        .ok_or_else(|| ControllerError::UnknownTopicOrPartition(t.name.clone()))?;
    let have = topic.partitions.len();
    let want = usize::try_from(t.count).unwrap_or(0);
    if want <= have || t.count > PARTITIONS_PER_TOPIC_MAX {
        return Err(ControllerError::InvalidPartitions(format!(
            "topic {} has {have} partitions, asked for {}",
            t.name, t.count
        )));
    }
    let rf = topic.partitions.first().map_or(1, |p| p.replicas.len());
    let start = image.partition_count();
    let replicas = placement::place(candidates, want - have, rf, start)?;
    Ok(MetadataRecord::CreatePartitions {
        topic: topic.id,
        added: replicas.into_iter().map(fresh_partition).collect(),
    })
}

fn alter_configs(
    image: &MetadataImage,
    resource: &ConfigResource,
    entries: &[(String, Option<String>)],
    validate_only: bool,
) -> Result<Decision, ControllerError> {
    match resource {
        ConfigResource::Topic(name) if image.topic(name).is_none() => {
            return Err(ControllerError::UnknownTopicOrPartition(name.clone()));
        }
        ConfigResource::Broker(id) if !id.is_some() => {
            return Err(ControllerError::InvalidRequest(format!("broker id {id}")));
        }
        _ => {}
    }
    check_configs(entries.iter().map(|(k, v)| (k.as_str(), v.as_deref())))?;
    let records = if validate_only {
        Vec::new()
    } else {
        entries
            .iter()
            .map(|(name, value)| MetadataRecord::SetConfig {
                resource: resource.clone(),
                name: name.clone(),
                value: value.clone(),
            })
            .collect()
    };
    Ok(Decision {
        records,
        response: ControllerResponse::AlterConfigs,
    })
}

#[cfg(test)]
mod tests;

/// An ISR change a leader asks for.
struct IsrChange<'a> {
    broker: NodeId,
    broker_epoch: BrokerEpoch,
    topic: TopicId,
    partition: i32,
    leader_epoch: LeaderEpoch,
    partition_epoch: i32,
    isr: &'a [NodeId],
}

/// AlterPartition: the leader at the current leader and partition epochs changes the ISR to
/// one that contains it, holds only replicas, and adds only live brokers.
fn alter_partition(
    image: &MetadataImage,
    c: IsrChange<'_>,
    config: &ControllerConfig,
) -> Result<Decision, ControllerError> {
    let registration = current_registration(image, c.broker, c.broker_epoch)?;
    if registration.fenced {
        return Err(ControllerError::NotLeader);
    }
    let p = image
        .partition(c.topic, c.partition)
        .ok_or_else(|| ControllerError::UnknownTopicOrPartition(c.topic.to_string()))?;
    if p.leader != c.broker {
        return Err(ControllerError::NotLeader);
    }
    if c.leader_epoch != p.leader_epoch {
        return Err(ControllerError::FencedLeaderEpoch);
    }
    if c.partition_epoch != p.partition_epoch {
        return Err(ControllerError::InvalidUpdateVersion);
    }
    let mut isr: Vec<NodeId> = Vec::with_capacity(c.isr.len());
    for r in c.isr {
        if !p.replicas.contains(r) || isr.contains(r) {
            return Err(ControllerError::IneligibleReplica(*r));
        }
        if !p.isr.contains(r) && !image.is_live(*r) {
            return Err(ControllerError::IneligibleReplica(*r));
        }
        isr.push(*r);
    }
    if !isr.contains(&c.broker) {
        return Err(ControllerError::InvalidRequest(
            "the leader must stay in the ISR".into(),
        ));
    }
    if isr == p.isr {
        return Ok(Decision::answer(ControllerResponse::PartitionChanged {
            isr,
            partition_epoch: p.partition_epoch,
        }));
    }
    let partition_epoch = p.partition_epoch.saturating_add(1);
    let live = |n: NodeId| image.is_live(n);
    if let Some(done) = reassign::completing_isr_change(c.topic, c.partition, p, &isr, live) {
        let isr = match &done {
            MetadataRecord::ReassignPartition { isr, .. } => isr.clone(),
            _ => isr,
        };
        return Ok(Decision {
            records: vec![done],
            response: ControllerResponse::PartitionChanged {
                isr,
                partition_epoch,
            },
        });
    }
    // A follower that caught up (or fell behind) changes nothing about which fenced replicas
    // are eligible, except that an eligible one back in the ISR is not, and that an ISR back
    // at `min.insync.replicas` clears them (KIP-966): the high watermark moves again, past
    // what they hold.
    let min_isr = image
        .topic_by_id(c.topic)
        .map_or(1, |t| election::Policy::of(t, config).min_isr);
    let (elr, last_known_elr) = if isr.len() >= min_isr {
        (Vec::new(), Vec::new())
    } else {
        let elr = p.elr.iter().copied().filter(|r| !isr.contains(r)).collect();
        (elr, p.last_known_elr.clone())
    };
    Ok(Decision {
        records: vec![MetadataRecord::ChangePartition {
            topic: c.topic,
            partition: c.partition,
            leader: p.leader,
            isr: isr.clone(),
            leader_epoch: p.leader_epoch,
            partition_epoch,
            elr,
            last_known_elr,
        }],
        response: ControllerResponse::PartitionChanged {
            isr,
            partition_epoch,
        },
    })
}
