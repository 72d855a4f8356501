//! The topic catalog: names, ids, partition counts and per-topic configs.
//!
//! A `Catalog` is an immutable snapshot; every change produces the next version. It is a pure
//! state machine (no I/O), persisted by its owner as an rkyv archive.

use rkyv::{Archive, Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest topic name Kafka accepts.
pub const TOPIC_NAME_BYTES_MAX: usize = 249;
/// Most partitions one topic may have; bounds memory and open files per topic.
pub const PARTITIONS_PER_TOPIC_MAX: i32 = 10_000;
/// Most topics a node keeps.
pub const TOPICS_MAX: usize = 100_000;

/// Why a catalog change was refused, in Kafka's terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// The name breaks Kafka's topic naming rules.
    #[error("invalid topic name: {0}")]
    InvalidTopic(String),
    /// A topic of that name exists.
    #[error("topic already exists: {0}")]
    TopicExists(String),
    /// No topic of that name.
    #[error("unknown topic: {0}")]
    UnknownTopic(String),
    /// Partition count out of range (or not increasing).
    #[error("invalid partitions: {0}")]
    InvalidPartitions(String),
    /// Replication factor other than 1 (or -1 for the default) on a single node.
    #[error("invalid replication factor: {0}")]
    InvalidReplicationFactor(String),
    /// A config name or value the broker does not support.
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    /// The catalog file could not be decoded.
    #[error("corrupt catalog: {0}")]
    Corrupt(String),
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct TopicMeta {
    /// Topic name.
    pub name: String,
    /// Topic id (a UUID), as Metadata v10+ reports it.
    pub id: [u8; 16],
    /// Number of partitions, numbered from 0.
    pub partitions: i32,
    /// Topic-level config overrides (`retention.ms`, …); defaults are the broker's.
    pub configs: BTreeMap<String, String>,
}

/// All topics, at one version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct Catalog {
    /// Bumped by every change.
    pub version: u64,
    /// Topics by name.
    pub topics: BTreeMap<String, TopicMeta>,
}

/// Checks a topic name against Kafka's rules: 1..=249 chars of `[a-zA-Z0-9._-]`, not `.` or
/// `..`.
pub fn validate_topic_name(name: &str) -> Result<(), MetadataError> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if name.is_empty()
        || name.len() > TOPIC_NAME_BYTES_MAX
        || !ok_chars
        || name == "."
        || name == ".."
    {
        return Err(MetadataError::InvalidTopic(name.to_string()));
    }
    Ok(())
}

impl Catalog {
    /// Looks a topic up by name.
    pub fn topic(&self, name: &str) -> Option<&TopicMeta> {
        self.topics.get(name)
    }

    /// Looks a topic up by id.
    pub fn topic_by_id(&self, id: &[u8; 16]) -> Option<&TopicMeta> {
        self.topics.values().find(|t| &t.id == id)
    }

    /// The catalog with one more topic. `id` is the new topic's UUID.
    pub fn with_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
        id: [u8; 16],
    ) -> Result<Catalog, MetadataError> {
        validate_topic_name(name)?;
        if self.topics.contains_key(name) {
            return Err(MetadataError::TopicExists(name.to_string()));
        }
        if self.topics.len() >= TOPICS_MAX {
            return Err(MetadataError::InvalidPartitions("too many topics".into()));
        }
        if !(1..=PARTITIONS_PER_TOPIC_MAX).contains(&partitions) {
            return Err(MetadataError::InvalidPartitions(format!(
                "{partitions} partitions"
            )));
        }
        let mut next = self.clone();
        next.version += 1;
        next.topics.insert(
            name.to_string(),
            TopicMeta {
                name: name.to_string(),
                id,
                partitions,
                configs,
            },
        );
        Ok(next)
    }

    /// The catalog without `name`.
    pub fn without_topic(&self, name: &str) -> Result<Catalog, MetadataError> {
        let mut next = self.clone();
        if next.topics.remove(name).is_none() {
            return Err(MetadataError::UnknownTopic(name.to_string()));
        }
        next.version += 1;
        Ok(next)
    }

    /// The catalog with `name` grown to `partitions`.
    pub fn with_partitions(&self, name: &str, partitions: i32) -> Result<Catalog, MetadataError> {
        let mut next = self.clone();
        let Some(t) = next.topics.get_mut(name) else {
            return Err(MetadataError::UnknownTopic(name.to_string()));
        };
        if partitions <= t.partitions || partitions > PARTITIONS_PER_TOPIC_MAX {
            return Err(MetadataError::InvalidPartitions(format!(
                "topic has {} partitions, asked for {partitions}",
                t.partitions
            )));
        }
        t.partitions = partitions;
        next.version += 1;
        Ok(next)
    }

    /// The catalog with `name`'s config overrides replaced.
    pub fn with_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
    ) -> Result<Catalog, MetadataError> {
        let mut next = self.clone();
        let Some(t) = next.topics.get_mut(name) else {
            return Err(MetadataError::UnknownTopic(name.to_string()));
        };
        t.configs = configs;
        next.version += 1;
        Ok(next)
    }

    /// Serializes the catalog for its file.
    pub fn to_bytes(&self) -> Result<Vec<u8>, MetadataError> {
        rkyv::to_bytes::<rkyv::rancor::Error>(self)
            .map(|v| v.to_vec())
            .map_err(|e| MetadataError::Corrupt(e.to_string()))
    }

    /// Decodes (and validates) a catalog file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Catalog, MetadataError> {
        let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(bytes.len());
        aligned.extend_from_slice(bytes);
        rkyv::from_bytes::<Catalog, rkyv::rancor::Error>(&aligned)
            .map_err(|e| MetadataError::Corrupt(e.to_string()))
    }
}

/// A fresh random topic id.
pub fn new_topic_id() -> [u8; 16] {
    *uuid::Uuid::new_v4().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kafka_rules() {
        for ok in ["payments", "a.b_c-D9", &"x".repeat(249)] {
            assert!(validate_topic_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a b", "a/b", &"x".repeat(250), "ü"] {
            assert!(validate_topic_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn changes_bump_version_and_round_trip() {
        let c = Catalog::default();
        let c = c
            .with_topic("t", 3, BTreeMap::new(), new_topic_id())
            .unwrap();
        assert_eq!(
            c.with_topic("t", 1, BTreeMap::new(), new_topic_id()),
            Err(MetadataError::TopicExists("t".into()))
        );
        let c = c.with_partitions("t", 5).unwrap();
        assert!(c.with_partitions("t", 4).is_err());
        assert_eq!(c.version, 2);
        let back = Catalog::from_bytes(&c.to_bytes().unwrap()).unwrap();
        assert_eq!(back, c);
        let c = back.without_topic("t").unwrap();
        assert!(c.topics.is_empty());
        assert!(Catalog::from_bytes(b"garbage").is_err());
    }
}
