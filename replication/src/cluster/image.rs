//! The metadata image: the cluster state that the committed records build, at one log index.
//!
//! Invariants:
//! * [`MetadataImage::apply`] is pure and deterministic: the same records at the same indexes
//!   give equal images on every node. A record that does not apply (a stale broker epoch, an
//!   unknown topic, a malformed assignment) changes nothing and returns the reason, the same
//!   on every node, for the caller to log.
//! * Indexes only grow: records are applied in log order and `last_applied` is the index of
//!   the last entry applied; it is also the image's version.
//! * Every partition's ISR is a subset of its replicas and its leader is in the ISR or is
//!   [`NodeId::NONE`]; topic names and topic ids are both unique.
//! * Producer id blocks are handed out in increasing order and never overlap.
//!
//! Shard 0 of each node owns the image it applies to; other shards receive clones.

use super::records::{ConfigResource, MetadataRecord, PartitionAssignment};
use super::records::{Endpoint, MetadataBatch};
use super::security::SecurityState;
use crate::codec::{self, CodecError};
use crate::metadata::{validate_topic_name, PARTITIONS_PER_TOPIC_MAX, TOPICS_MAX};
use crate::types::{BrokerEpoch, LeaderEpoch, NodeId, TopicId};
use rkyv::{Archive, Deserialize, Serialize};
use std::collections::BTreeMap;

/// The format byte in front of an image snapshot: 2 adds the security state and feature
/// levels; snapshots of format 1 still load.
pub const IMAGE_FORMAT_VERSION: u8 = 2;

/// Most replicas one partition may have; more never helps and bounds every ISR scan.
pub const REPLICAS_MAX: usize = 16;

/// A registered broker.
#[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct BrokerState {
    /// The broker.
    pub id: NodeId,
    /// The process start it registered from.
    pub incarnation: [u8; 16],
    /// Its broker epoch (the index of its registration record).
    pub epoch: BrokerEpoch,
    /// Its listeners.
    pub listeners: Vec<Endpoint>,
    /// Its rack.
    pub rack: Option<String>,
    /// Fenced brokers lead nothing and are not offered to clients.
    pub fenced: bool,
}

/// A topic.
#[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct TopicImage {
    /// Name.
    pub name: String,
    /// Id.
    pub id: TopicId,
    /// Config overrides.
    pub configs: BTreeMap<String, String>,
    /// Partitions by index.
    pub partitions: Vec<PartitionAssignment>,
}

/// Why a record changed nothing. Deterministic: every node gives the same reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotApplied {
    /// A second, different cluster id.
    #[error("the cluster id is already set")]
    ClusterIdSet,
    /// The record names a broker that is not registered.
    #[error("broker {0} is not registered")]
    UnknownBroker(NodeId),
    /// The record's broker epoch is not the broker's current one (or a registration's epoch is
    /// not its index).
    #[error("broker {id}: stale epoch {epoch:?}")]
    StaleBrokerEpoch {
        /// The broker.
        id: NodeId,
        /// The epoch the record carried.
        epoch: BrokerEpoch,
    },
    /// The topic does not exist.
    #[error("unknown topic {0}")]
    UnknownTopic(String),
    /// The partition does not exist.
    #[error("unknown partition {0}-{1}")]
    UnknownPartition(TopicId, i32),
    /// The topic name or id is taken.
    #[error("topic {0} exists")]
    TopicExists(String),
    /// A partition change older than the partition's state.
    #[error("stale partition epoch for {0}-{1}")]
    StalePartitionEpoch(TopicId, i32),
    /// The record breaks an invariant (bad name, bad assignment, overlapping ids, …).
    #[error("invalid record: {0}")]
    Invalid(String),
}

/// What a snapshot stores. The by-id index is rebuilt on load, so it can never disagree.
#[derive(Debug, Clone, Default, PartialEq, Eq, Archive, Serialize, Deserialize)]
struct ImageState {
    cluster_id: Option<[u8; 16]>,
    brokers: BTreeMap<NodeId, BrokerState>,
    topics: BTreeMap<String, TopicImage>,
    /// Broker and cluster-default configs; topic overrides live in their [`TopicImage`].
    configs: BTreeMap<ConfigResource, BTreeMap<String, String>>,
    next_producer_id: i64,
    last_applied: u64,
    /// Credentials, ACLs and client quotas.
    security: SecurityState,
    /// Finalized feature levels (KIP-584).
    features: BTreeMap<String, i16>,
}

/// The snapshot layout of format 1, frozen: it had no security state or feature levels.
#[derive(Archive, Serialize, Deserialize)]
struct ImageStateV1 {
    cluster_id: Option<[u8; 16]>,
    brokers: BTreeMap<NodeId, BrokerState>,
    topics: BTreeMap<String, TopicImage>,
    configs: BTreeMap<ConfigResource, BTreeMap<String, String>>,
    next_producer_id: i64,
    last_applied: u64,
}

/// The cluster metadata at one index of the metadata log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataImage {
    state: ImageState,
    names_by_id: BTreeMap<TopicId, String>,
}

fn invalid(what: impl Into<String>) -> NotApplied {
    NotApplied::Invalid(what.into())
}

fn has_duplicates(ids: &[NodeId]) -> bool {
    ids.iter()
        .enumerate()
        .any(|(i, a)| ids.iter().skip(i + 1).any(|b| a == b))
}

/// Checks the shape of one partition's replicas, ISR and leader.
fn check_assignment(p: &PartitionAssignment) -> Result<(), NotApplied> {
    if p.replicas.is_empty() || p.replicas.len() > REPLICAS_MAX {
        return Err(invalid(format!("{} replicas", p.replicas.len())));
    }
    if p.replicas.iter().any(|r| !r.is_some()) || has_duplicates(&p.replicas) {
        return Err(invalid("replicas must be distinct node ids"));
    }
    check_isr(p, &p.isr, p.leader)
}

/// A partition change moves both epochs forward as KRaft does: the partition epoch always,
/// the leader epoch with every leader change. `Err(None)` for a stale change.
fn check_epochs(
    p: &PartitionAssignment,
    leader: NodeId,
    leader_epoch: LeaderEpoch,
    partition_epoch: i32,
) -> Result<(), Option<NotApplied>> {
    if partition_epoch <= p.partition_epoch || leader_epoch < p.leader_epoch {
        return Err(None);
    }
    if leader != p.leader && leader_epoch == p.leader_epoch {
        return Err(Some(invalid("a leader change must bump the leader epoch")));
    }
    Ok(())
}

fn check_isr(p: &PartitionAssignment, isr: &[NodeId], leader: NodeId) -> Result<(), NotApplied> {
    if has_duplicates(isr) || isr.iter().any(|n| !p.replicas.contains(n)) {
        return Err(invalid("the ISR must be distinct replicas"));
    }
    if leader != NodeId::NONE && !isr.contains(&leader) {
        return Err(invalid(format!("leader {leader} is not in the ISR")));
    }
    Ok(())
}

impl MetadataImage {
    /// The empty image, before any record.
    pub fn new() -> MetadataImage {
        MetadataImage::default()
    }

    /// The index of the last entry applied: the image's version, which only grows.
    pub fn last_applied(&self) -> u64 {
        self.state.last_applied
    }

    /// The image version (the same as [`MetadataImage::last_applied`]).
    pub fn version(&self) -> u64 {
        self.state.last_applied
    }

    /// The cluster id, once the first leader has written it.
    pub fn cluster_id(&self) -> Option<[u8; 16]> {
        self.state.cluster_id
    }

    /// A registered broker.
    pub fn broker(&self, id: NodeId) -> Option<&BrokerState> {
        self.state.brokers.get(&id)
    }

    /// Every registered broker, by id.
    pub fn brokers(&self) -> impl Iterator<Item = &BrokerState> {
        self.state.brokers.values()
    }

    /// Registered, unfenced brokers, by id: those that may lead and are offered to clients.
    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerState> {
        self.state.brokers.values().filter(|b| !b.fenced)
    }

    /// Whether `id` is registered and unfenced.
    pub fn is_live(&self, id: NodeId) -> bool {
        self.broker(id).is_some_and(|b| !b.fenced)
    }

    /// A topic by name.
    pub fn topic(&self, name: &str) -> Option<&TopicImage> {
        self.state.topics.get(name)
    }

    /// A topic by id.
    pub fn topic_by_id(&self, id: TopicId) -> Option<&TopicImage> {
        self.names_by_id
            .get(&id)
            .and_then(|name| self.state.topics.get(name))
    }

    /// Every topic, by name.
    pub fn topics(&self) -> impl Iterator<Item = &TopicImage> {
        self.state.topics.values()
    }

    /// Number of topics.
    pub fn topic_count(&self) -> usize {
        self.state.topics.len()
    }

    /// One partition's state.
    pub fn partition(&self, topic: TopicId, partition: i32) -> Option<&PartitionAssignment> {
        let index = usize::try_from(partition).ok()?;
        self.topic_by_id(topic)?.partitions.get(index)
    }

    /// A partition's leader ([`NodeId::NONE`] when offline).
    pub fn leader(&self, topic: TopicId, partition: i32) -> Option<NodeId> {
        self.partition(topic, partition).map(|p| p.leader)
    }

    /// A partition's replicas.
    pub fn replicas(&self, topic: TopicId, partition: i32) -> Option<&[NodeId]> {
        self.partition(topic, partition)
            .map(|p| p.replicas.as_slice())
    }

    /// A partition's in-sync replicas.
    pub fn isr(&self, topic: TopicId, partition: i32) -> Option<&[NodeId]> {
        self.partition(topic, partition).map(|p| p.isr.as_slice())
    }

    /// Every partition, as (topic id, partition index, state), by topic name then index.
    pub fn partitions(&self) -> impl Iterator<Item = (TopicId, i32, &PartitionAssignment)> {
        self.state.topics.values().flat_map(|t| {
            t.partitions
                .iter()
                .zip(0i32..)
                .map(move |(p, i)| (t.id, i, p))
        })
    }

    /// The partitions `broker` is a replica of.
    pub fn partitions_hosted_by(&self, broker: NodeId) -> Vec<(TopicId, i32)> {
        self.partitions()
            .filter(|(_, _, p)| p.replicas.contains(&broker))
            .map(|(t, i, _)| (t, i))
            .collect()
    }

    /// The partitions `broker` leads.
    pub fn partitions_led_by(&self, broker: NodeId) -> Vec<(TopicId, i32)> {
        self.partitions()
            .filter(|(_, _, p)| p.leader == broker)
            .map(|(t, i, _)| (t, i))
            .collect()
    }

    /// Total partitions over all topics.
    pub fn partition_count(&self) -> usize {
        self.state.topics.values().map(|t| t.partitions.len()).sum()
    }

    /// Broker or cluster-default configs (topic overrides are in [`TopicImage::configs`]).
    pub fn configs(&self, resource: &ConfigResource) -> Option<&BTreeMap<String, String>> {
        match resource {
            ConfigResource::Topic(name) => self.topic(name).map(|t| &t.configs),
            other => self.state.configs.get(other),
        }
    }

    /// The first producer id no block has taken yet.
    pub fn next_producer_id(&self) -> i64 {
        self.state.next_producer_id
    }

    /// Marks entry `index` applied without records (a Raft no-op entry).
    pub fn advance_to(&mut self, index: u64) {
        assert!(index >= self.state.last_applied, "metadata index went back");
        self.state.last_applied = index;
    }

    /// Applies every record of the entry at `index`; returns the records that changed nothing
    /// (position in the batch, reason).
    pub fn apply_batch(&mut self, index: u64, batch: &MetadataBatch) -> Vec<(usize, NotApplied)> {
        self.advance_to(index);
        let mut skipped = Vec::new();
        for (i, record) in batch.records.iter().enumerate() {
            if let Err(reason) = self.apply(index, record) {
                skipped.push((i, reason));
            }
        }
        skipped
    }

    /// Applies one record of the entry at `index` (records of one entry share the index).
    /// Returns why it changed nothing, if it did not apply.
    pub fn apply(&mut self, index: u64, record: &MetadataRecord) -> Result<(), NotApplied> {
        self.advance_to(index);
        match record {
            MetadataRecord::ClusterId { id } => match self.state.cluster_id {
                None => {
                    self.state.cluster_id = Some(*id);
                    Ok(())
                }
                Some(existing) if existing == *id => Ok(()),
                Some(_) => Err(NotApplied::ClusterIdSet),
            },
            MetadataRecord::RegisterBroker {
                id,
                incarnation,
                epoch,
                listeners,
                rack,
            } => self.register(index, *id, *incarnation, *epoch, listeners, rack),
            MetadataRecord::FenceBroker { id, epoch } => self.set_fenced(*id, *epoch, true),
            MetadataRecord::UnfenceBroker { id, epoch } => self.set_fenced(*id, *epoch, false),
            MetadataRecord::UnregisterBroker { id, epoch } => {
                self.current_broker(*id, *epoch)?;
                self.state.brokers.remove(id);
                Ok(())
            }
            MetadataRecord::CreateTopic {
                name,
                id,
                configs,
                partitions,
            } => self.create_topic(name, *id, configs, partitions),
            MetadataRecord::DeleteTopic { id } => {
                let name = self
                    .names_by_id
                    .remove(id)
                    .ok_or_else(|| NotApplied::UnknownTopic(id.to_string()))?;
                self.state.topics.remove(&name);
                Ok(())
            }
            MetadataRecord::CreatePartitions { topic, added } => {
                self.create_partitions(*topic, added)
            }
            MetadataRecord::ChangePartition {
                topic,
                partition,
                leader,
                isr,
                leader_epoch,
                partition_epoch,
                elr,
                last_known_elr,
            } => {
                let p = self.partition_mut(*topic, *partition)?;
                check_epochs(p, *leader, *leader_epoch, *partition_epoch).map_err(|e| {
                    e.unwrap_or(NotApplied::StalePartitionEpoch(*topic, *partition))
                })?;
                check_isr(p, isr, *leader)?;
                if elr
                    .iter()
                    .chain(last_known_elr.iter())
                    .any(|r| !p.replicas.contains(r))
                    || elr.iter().any(|r| isr.contains(r))
                {
                    return Err(invalid("the ELR must be replicas outside the ISR"));
                }
                p.leader = *leader;
                p.isr.clone_from(isr);
                p.elr.clone_from(elr);
                p.last_known_elr.clone_from(last_known_elr);
                p.leader_epoch = *leader_epoch;
                p.partition_epoch = *partition_epoch;
                Ok(())
            }
            MetadataRecord::ReassignPartition {
                topic,
                partition,
                replicas,
                adding,
                removing,
                leader,
                isr,
                leader_epoch,
                partition_epoch,
            } => {
                let p = self.partition_mut(*topic, *partition)?;
                check_epochs(p, *leader, *leader_epoch, *partition_epoch).map_err(|e| {
                    e.unwrap_or(NotApplied::StalePartitionEpoch(*topic, *partition))
                })?;
                let outside = adding
                    .iter()
                    .chain(removing.iter())
                    .any(|r| !replicas.contains(r));
                if replicas.is_empty()
                    || replicas.len() > REPLICAS_MAX
                    || has_duplicates(replicas)
                    || outside
                {
                    return Err(invalid("a reassignment must name distinct replicas"));
                }
                let mut next = p.clone();
                next.replicas.clone_from(replicas);
                check_isr(&next, isr, *leader)?;
                next.adding.clone_from(adding);
                next.removing.clone_from(removing);
                next.leader = *leader;
                next.isr.clone_from(isr);
                next.elr
                    .retain(|r| replicas.contains(r) && !isr.contains(r));
                next.last_known_elr.retain(|r| replicas.contains(r));
                next.leader_epoch = *leader_epoch;
                next.partition_epoch = *partition_epoch;
                *p = next;
                Ok(())
            }
            MetadataRecord::SetConfig {
                resource,
                name,
                value,
            } => self.set_config(resource, name, value.as_deref()),
            MetadataRecord::Security(r) => self.state.security.apply(r).map_err(invalid),
            MetadataRecord::FeatureLevel { name, level } => {
                if *level == 0 {
                    self.state.features.remove(name);
                } else if *level > 0 {
                    self.state.features.insert(name.clone(), *level);
                } else {
                    return Err(invalid(format!("feature {name} at level {level}")));
                }
                Ok(())
            }
            MetadataRecord::ProducerIdBlock { start, len, .. } => {
                let end = start.checked_add(*len).filter(|_| *len > 0);
                match end {
                    Some(end) if *start == self.state.next_producer_id => {
                        self.state.next_producer_id = end;
                        Ok(())
                    }
                    _ => Err(invalid(format!(
                        "producer id block {start}+{len}, next free id is {}",
                        self.state.next_producer_id
                    ))),
                }
            }
        }
    }

    fn register(
        &mut self,
        index: u64,
        id: NodeId,
        incarnation: [u8; 16],
        epoch: BrokerEpoch,
        listeners: &[Endpoint],
        rack: &Option<String>,
    ) -> Result<(), NotApplied> {
        if !id.is_some() {
            return Err(invalid(format!("broker id {id}")));
        }
        if u64::try_from(epoch.0).ok() != Some(index) {
            return Err(NotApplied::StaleBrokerEpoch { id, epoch });
        }
        if !self.state.brokers.contains_key(&id)
            && self.state.brokers.len() >= crate::limits::BROKERS_MAX
        {
            return Err(invalid("too many brokers"));
        }
        // A registration starts fenced: the broker must first catch up with the log.
        self.state.brokers.insert(
            id,
            BrokerState {
                id,
                incarnation,
                epoch,
                listeners: listeners.to_vec(),
                rack: rack.clone(),
                fenced: true,
            },
        );
        Ok(())
    }

    fn current_broker(
        &mut self,
        id: NodeId,
        epoch: BrokerEpoch,
    ) -> Result<&mut BrokerState, NotApplied> {
        let b = self
            .state
            .brokers
            .get_mut(&id)
            .ok_or(NotApplied::UnknownBroker(id))?;
        if b.epoch != epoch {
            return Err(NotApplied::StaleBrokerEpoch { id, epoch });
        }
        Ok(b)
    }

    fn set_fenced(
        &mut self,
        id: NodeId,
        epoch: BrokerEpoch,
        fenced: bool,
    ) -> Result<(), NotApplied> {
        self.current_broker(id, epoch)?.fenced = fenced;
        Ok(())
    }

    fn create_topic(
        &mut self,
        name: &str,
        id: TopicId,
        configs: &BTreeMap<String, String>,
        partitions: &[PartitionAssignment],
    ) -> Result<(), NotApplied> {
        validate_topic_name(name).map_err(|e| invalid(e.to_string()))?;
        if self.state.topics.contains_key(name) || self.names_by_id.contains_key(&id) {
            return Err(NotApplied::TopicExists(name.to_string()));
        }
        if id == TopicId::ZERO {
            return Err(invalid("the zero topic id is reserved"));
        }
        if self.state.topics.len() >= TOPICS_MAX {
            return Err(invalid("too many topics"));
        }
        check_partition_count(partitions.len())?;
        partitions.iter().try_for_each(check_assignment)?;
        self.state.topics.insert(
            name.to_string(),
            TopicImage {
                name: name.to_string(),
                id,
                configs: configs.clone(),
                partitions: partitions.to_vec(),
            },
        );
        self.names_by_id.insert(id, name.to_string());
        Ok(())
    }

    fn create_partitions(
        &mut self,
        topic: TopicId,
        added: &[PartitionAssignment],
    ) -> Result<(), NotApplied> {
        let name = self
            .names_by_id
            .get(&topic)
            .ok_or_else(|| NotApplied::UnknownTopic(topic.to_string()))?;
        let t = self
            .state
            .topics
            .get_mut(name)
            .ok_or_else(|| NotApplied::UnknownTopic(topic.to_string()))?;
        if added.is_empty() {
            return Err(invalid("no partitions added"));
        }
        check_partition_count(t.partitions.len().saturating_add(added.len()))?;
        added.iter().try_for_each(check_assignment)?;
        t.partitions.extend_from_slice(added);
        Ok(())
    }

    fn partition_mut(
        &mut self,
        topic: TopicId,
        partition: i32,
    ) -> Result<&mut PartitionAssignment, NotApplied> {
        let unknown = || NotApplied::UnknownPartition(topic, partition);
        let name = self.names_by_id.get(&topic).ok_or_else(unknown)?;
        let t = self.state.topics.get_mut(name).ok_or_else(unknown)?;
        let index = usize::try_from(partition).map_err(|_| unknown())?;
        t.partitions.get_mut(index).ok_or_else(unknown)
    }

    fn set_config(
        &mut self,
        resource: &ConfigResource,
        name: &str,
        value: Option<&str>,
    ) -> Result<(), NotApplied> {
        let too_long = name.len() > crate::limits::CONFIG_BYTES_MAX
            || value.is_some_and(|v| v.len() > crate::limits::CONFIG_BYTES_MAX);
        if name.is_empty() || too_long {
            return Err(invalid("config name or value out of bounds"));
        }
        let map = match resource {
            ConfigResource::Topic(topic) => {
                &mut self
                    .state
                    .topics
                    .get_mut(topic)
                    .ok_or_else(|| NotApplied::UnknownTopic(topic.clone()))?
                    .configs
            }
            ConfigResource::Broker(id) if !id.is_some() => {
                return Err(invalid(format!("broker id {id}")))
            }
            other => self.state.configs.entry(other.clone()).or_default(),
        };
        match value {
            Some(v) => {
                map.insert(name.to_string(), v.to_string());
            }
            None => {
                map.remove(name);
            }
        }
        if let ConfigResource::Broker(_) | ConfigResource::ClusterDefault = resource {
            if self
                .state
                .configs
                .get(resource)
                .is_some_and(|m| m.is_empty())
            {
                self.state.configs.remove(resource);
            }
        }
        Ok(())
    }

    /// Credentials, ACLs and client quotas.
    pub fn security(&self) -> &SecurityState {
        &self.state.security
    }

    /// Finalized feature levels.
    pub fn features(&self) -> &BTreeMap<String, i16> {
        &self.state.features
    }

    /// The snapshot bytes: format byte, then the rkyv archive.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(IMAGE_FORMAT_VERSION, &self.state)
    }

    /// Decodes and validates a snapshot (from disk or a peer); garbage is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<MetadataImage, CodecError> {
        let state: ImageState = match bytes.first() {
            Some(1) => {
                let v1: ImageStateV1 = codec::decode(1, bytes)?;
                ImageState {
                    cluster_id: v1.cluster_id,
                    brokers: v1.brokers,
                    topics: v1.topics,
                    configs: v1.configs,
                    next_producer_id: v1.next_producer_id,
                    last_applied: v1.last_applied,
                    security: SecurityState::default(),
                    features: BTreeMap::new(),
                }
            }
            _ => codec::decode(IMAGE_FORMAT_VERSION, bytes)?,
        };
        let mut names_by_id = BTreeMap::new();
        for t in state.topics.values() {
            if names_by_id.insert(t.id, t.name.clone()).is_some() {
                return Err(CodecError::Invalid(format!("topic id {} twice", t.id)));
            }
        }
        for (id, b) in &state.brokers {
            if *id != b.id {
                return Err(CodecError::Invalid(format!(
                    "broker {id} filed as {}",
                    b.id
                )));
            }
        }
        Ok(MetadataImage { state, names_by_id })
    }
}

fn check_partition_count(n: usize) -> Result<(), NotApplied> {
    let max = usize::try_from(PARTITIONS_PER_TOPIC_MAX).unwrap_or(usize::MAX);
    if n == 0 || n > max {
        return Err(invalid(format!("{n} partitions")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::LeaderEpoch;

    fn assignment(replicas: &[i32]) -> PartitionAssignment {
        let replicas: Vec<NodeId> = replicas.iter().map(|&r| NodeId(r)).collect();
        PartitionAssignment::new(replicas)
    }

    fn register(image: &mut MetadataImage, index: u64, id: i32) {
        let r = MetadataRecord::RegisterBroker {
            id: NodeId(id),
            incarnation: [id as u8; 16],
            epoch: BrokerEpoch(index as i64),
            listeners: vec![],
            rack: None,
        };
        image.apply(index, &r).unwrap();
    }

    /// A snapshot as the format-1 build wrote it: cluster id, topic `payments`, one
    /// cluster-default config, at index 3.
    const SNAPSHOT_FORMAT_1: &[&str] = &[
        "010100000001000000f8ffffff01000000f4ffffff01000000010000000000000000000000e4ffffff00000000dcffff",
        "ff00000000d4ffffff00000000ccffffff00000000000000007061796d656e7473000000000000000000000000000000",
        "00000000000000000000000000000000007061796d656e74730303030303030303030303030303030301000000000000",
        "0078ffffff01000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "00000000000000000000000000000000000000000000000000010000000000000078ffffffffffffff00000000000000",
        "0000000000000000000000000000000000000000000000000079ffffffffffffff000000000000000000000000000000",
        "000000000000000000000000000000000001000000000000000200000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000000000000000068ffffff01000000000000",
        "000000000000000000000000000000000000000000000000000000000001000000010707070707070707070707070707",
        "0707000000010000000000000028feffff0100000070ffffff0100000000000000000000000000000003000000000000",
        "002cf4bf67",
    ];

    #[test]
    fn format_1_snapshots_still_load() {
        let hex: String = SNAPSHOT_FORMAT_1.concat();
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let image = MetadataImage::from_bytes(&bytes).unwrap();
        assert_eq!(image.cluster_id(), Some([7; 16]));
        assert_eq!(image.last_applied(), 3);
        assert_eq!(
            image.topic_by_id(TopicId([3; 16])).unwrap().name,
            "payments"
        );
        assert_eq!(
            image.configs(&ConfigResource::ClusterDefault).unwrap()["x"],
            "y"
        );
        assert!(image.security().acls.is_empty() && image.features().is_empty());
        let again = MetadataImage::from_bytes(&image.to_bytes()).unwrap();
        assert_eq!(again, image);
    }

    #[test]
    fn brokers_register_fenced_and_stale_epochs_are_ignored() {
        let mut image = MetadataImage::new();
        register(&mut image, 1, 0);
        assert!(image.broker(NodeId(0)).unwrap().fenced);
        assert_eq!(image.live_brokers().count(), 0);
        let unfence = MetadataRecord::UnfenceBroker {
            id: NodeId(0),
            epoch: BrokerEpoch(1),
        };
        image.apply(2, &unfence).unwrap();
        assert!(image.is_live(NodeId(0)));
        register(&mut image, 3, 0);
        assert!(!image.is_live(NodeId(0)), "a new incarnation starts fenced");
        assert_eq!(
            image.apply(4, &unfence),
            Err(NotApplied::StaleBrokerEpoch {
                id: NodeId(0),
                epoch: BrokerEpoch(1)
            })
        );
        let bad = MetadataRecord::RegisterBroker {
            id: NodeId(1),
            incarnation: [0; 16],
            epoch: BrokerEpoch(2),
            listeners: vec![],
            rack: None,
        };
        assert!(
            image.apply(5, &bad).is_err(),
            "the epoch must be the record's index"
        );
        assert_eq!(image.version(), 5);
    }

    #[test]
    fn topics_partitions_and_changes() {
        let mut image = MetadataImage::new();
        let id = TopicId([1; 16]);
        let create = MetadataRecord::CreateTopic {
            name: "t".into(),
            id,
            configs: BTreeMap::new(),
            partitions: vec![assignment(&[1, 2]), assignment(&[2, 1])],
        };
        image.apply(1, &create).unwrap();
        assert!(matches!(
            image.apply(2, &create),
            Err(NotApplied::TopicExists(_))
        ));
        assert_eq!(image.topic_by_id(id).unwrap().name, "t");
        assert_eq!(image.partitions_led_by(NodeId(2)), vec![(id, 1)]);
        assert_eq!(image.partitions_hosted_by(NodeId(1)).len(), 2);
        let change = MetadataRecord::ChangePartition {
            topic: id,
            partition: 0,
            leader: NodeId(2),
            isr: vec![NodeId(2)],
            leader_epoch: LeaderEpoch(1),
            partition_epoch: 1,
            elr: vec![],
            last_known_elr: vec![],
        };
        image.apply(3, &change).unwrap();
        assert_eq!(image.leader(id, 0), Some(NodeId(2)));
        assert_eq!(
            image.apply(4, &change),
            Err(NotApplied::StalePartitionEpoch(id, 0))
        );
        let outside = MetadataRecord::ChangePartition {
            topic: id,
            partition: 0,
            leader: NodeId(3),
            isr: vec![NodeId(3)],
            leader_epoch: LeaderEpoch(2),
            partition_epoch: 2,
            elr: vec![],
            last_known_elr: vec![],
        };
        assert!(image.apply(5, &outside).is_err());
        let grow = MetadataRecord::CreatePartitions {
            topic: id,
            added: vec![assignment(&[1])],
        };
        image.apply(6, &grow).unwrap();
        assert_eq!(image.topic("t").unwrap().partitions.len(), 3);
        let set = MetadataRecord::SetConfig {
            resource: ConfigResource::Topic("t".into()),
            name: "retention.ms".into(),
            value: Some("1".into()),
        };
        image.apply(7, &set).unwrap();
        assert_eq!(image.topic("t").unwrap().configs.len(), 1);
        image.apply(8, &MetadataRecord::DeleteTopic { id }).unwrap();
        assert!(image.topic("t").is_none() && image.topic_by_id(id).is_none());
        assert!(image.apply(9, &set).is_err());
    }

    #[test]
    fn invalid_topics_are_ignored() {
        let mut image = MetadataImage::new();
        let bad_name = MetadataRecord::CreateTopic {
            name: "a/b".into(),
            id: TopicId([1; 16]),
            configs: BTreeMap::new(),
            partitions: vec![assignment(&[1])],
        };
        assert!(image.apply(1, &bad_name).is_err());
        let dup_replicas = MetadataRecord::CreateTopic {
            name: "a".into(),
            id: TopicId([1; 16]),
            configs: BTreeMap::new(),
            partitions: vec![assignment(&[1, 1])],
        };
        assert!(image.apply(2, &dup_replicas).is_err());
        assert_eq!(image.topic_count(), 0);
    }

    #[test]
    fn producer_id_blocks_never_overlap() {
        let mut image = MetadataImage::new();
        let block = |start| MetadataRecord::ProducerIdBlock {
            broker: NodeId(1),
            start,
            len: 1000,
        };
        image.apply(1, &block(0)).unwrap();
        assert!(image.apply(2, &block(0)).is_err());
        assert!(image.apply(3, &block(500)).is_err());
        image.apply(4, &block(1000)).unwrap();
        assert_eq!(image.next_producer_id(), 2000);
    }

    #[test]
    fn snapshots_round_trip_and_garbage_is_rejected() {
        let mut image = MetadataImage::new();
        image
            .apply(1, &MetadataRecord::ClusterId { id: [9; 16] })
            .unwrap();
        register(&mut image, 2, 4);
        let create = MetadataRecord::CreateTopic {
            name: "t".into(),
            id: TopicId([3; 16]),
            configs: BTreeMap::from([("a".into(), "b".into())]),
            partitions: vec![assignment(&[4])],
        };
        image.apply(3, &create).unwrap();
        let set = MetadataRecord::SetConfig {
            resource: ConfigResource::ClusterDefault,
            name: "x".into(),
            value: Some("y".into()),
        };
        image.apply(4, &set).unwrap();
        let bytes = image.to_bytes();
        let back = MetadataImage::from_bytes(&bytes).unwrap();
        assert_eq!(back, image);
        assert_eq!(back.topic_by_id(TopicId([3; 16])).unwrap().name, "t");
        assert!(MetadataImage::from_bytes(b"").is_err());
        assert!(MetadataImage::from_bytes(b"\x01garbage garbage garbage").is_err());
        for cut in 0..bytes.len() {
            assert!(MetadataImage::from_bytes(&bytes[..cut]).is_err() || cut == bytes.len());
        }
        let mut flipped = bytes.clone();
        for i in 1..flipped.len() {
            flipped[i] ^= 0xff;
            let _ = MetadataImage::from_bytes(&flipped);
            flipped[i] ^= 0xff;
        }
    }
}
