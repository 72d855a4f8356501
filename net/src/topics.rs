//! Topic lookups and creations the handlers share: a topic as this broker's metadata image
//! has it, created through the controller first when auto-creation allows it.

use crate::codes;
use crate::limits;
use myelin_replication::cluster::image::{MetadataImage, TopicImage};
use myelin_replication::controller::{ControllerRequest, ControllerResponse, NewTopic};
use myelin_replication::error::ControllerError;
use myelin_shards::Shard;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Partitions of `name`, if the topic exists.
pub fn partition_count(image: &MetadataImage, name: &str) -> Option<i32> {
    image.topic(name).map(|t| t.partitions.len() as i32)
}

/// Why `name` cannot be a topic's name, worded as Kafka 4.4's `Topic.validate` words it
/// (clients show it), or `None` for a legal name.
pub fn invalid_name_message(name: &str) -> Option<String> {
    myelin_replication::metadata::validate_topic_name(name).err()?;
    let why = if name.is_empty() {
        "the empty string is not allowed".to_string()
    } else if name == "." || name == ".." {
        format!("'{name}' is not allowed")
    } else if name.len() > myelin_replication::metadata::TOPIC_NAME_BYTES_MAX {
        format!(
            "the length of '{name}' is longer than the max allowed length {}",
            myelin_replication::metadata::TOPIC_NAME_BYTES_MAX
        )
    } else {
        format!(
            "'{name}' contains one or more characters other than ASCII alphanumerics, '.', '_' \
             and '-'"
        )
    };
    Some(format!("Topic name is invalid: {why}"))
}

/// Whether `partition` of `name` exists.
pub fn has_partition(image: &MetadataImage, name: &str, partition: i32) -> bool {
    partition_count(image, name).is_some_and(|n| (0..n).contains(&partition))
}

/// Creates topics through the controller; per topic, its id or why not. Returns once this
/// broker serves from an image that has them.
pub async fn create(
    shard: &Rc<Shard>,
    topics: Vec<NewTopic>,
    validate_only: bool,
) -> Result<Vec<(String, Result<(), ControllerError>)>, ControllerError> {
    let request = ControllerRequest::CreateTopics {
        topics,
        validate_only,
    };
    match shard.controller(request).await? {
        ControllerResponse::CreateTopics(results) => Ok(results
            .into_iter()
            .map(|(name, r)| (name, r.map(|_| ())))
            .collect()),
        other => Err(ControllerError::Internal(format!(
            "unexpected answer {other:?}"
        ))),
    }
}

/// The topic, created with the node defaults first when auto-creation is on.
pub async fn get_or_create(
    shard: &Rc<Shard>,
    name: &str,
    allow_create: bool,
) -> Result<TopicImage, i16> {
    if let Some(t) = shard.metadata().topic(name) {
        return Ok(t.clone());
    }
    if !(allow_create && shard.node.auto_create_topics) {
        if let Err(e) = myelin_replication::metadata::validate_topic_name(name) {
            return Err(codes::metadata(&e));
        }
        return Err(codes::UNKNOWN_TOPIC_OR_PARTITION);
    }
    let topic = NewTopic {
        name: name.to_string(),
        partitions: -1,
        replication_factor: -1,
        configs: BTreeMap::new(),
    };
    let outcome = create(shard, vec![topic], false).await;
    match shard.metadata().topic(name) {
        // Another connection (or broker) may have created it meanwhile.
        Some(t) => Ok(t.clone()),
        None => Err(match outcome {
            Ok(results) => results
                .into_iter()
                .find_map(|(_, r)| r.err())
                .map_or(codes::LEADER_NOT_AVAILABLE, |e| codes::controller(&e)),
            Err(e) => codes::controller(&e),
        }),
    }
}

/// Creates an internal topic (`__consumer_offsets`, `__transaction_state`) when it does not
/// exist yet, as Kafka does on the first request that needs it. Its records are kept until
/// the coordinators delete them, and compacted: only the last record per group partition or
/// transactional id stays, so replay on start reads the state, not its history.
pub async fn ensure_internal(
    shard: &Rc<Shard>,
    name: &str,
    partitions: i32,
    replication_factor: i16,
    min_insync_replicas: Option<i32>,
) -> Result<(), i16> {
    if shard.metadata().topic(name).is_some() {
        return Ok(());
    }
    let mut configs = BTreeMap::new();
    if let Some(min_isr) = min_insync_replicas {
        configs.insert("min.insync.replicas".to_string(), min_isr.to_string());
    }
    configs.insert("cleanup.policy".to_string(), "compact".to_string());
    configs.insert(
        "segment.bytes".to_string(),
        limits::INTERNAL_SEGMENT_BYTES.to_string(),
    );
    let topic = NewTopic {
        name: name.to_string(),
        partitions,
        replication_factor,
        configs,
    };
    let outcome = create(shard, vec![topic], false).await;
    if shard.metadata().topic(name).is_some() {
        return Ok(());
    }
    let code = match outcome {
        Ok(results) => results
            .into_iter()
            .find_map(|(_, r)| r.err())
            .map_or(codes::COORDINATOR_NOT_AVAILABLE, |e| codes::controller(&e)),
        Err(e) => codes::controller(&e),
    };
    tracing::warn!(topic = name, code, "cannot create internal topic yet");
    Err(codes::COORDINATOR_NOT_AVAILABLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_names_are_worded_as_kafka_words_them() {
        assert_eq!(invalid_name_message("ok.name_-1"), None);
        assert_eq!(
            invalid_name_message("").as_deref(),
            Some("Topic name is invalid: the empty string is not allowed")
        );
        assert_eq!(
            invalid_name_message("..").as_deref(),
            Some("Topic name is invalid: '..' is not allowed")
        );
        assert_eq!(
            invalid_name_message("bad name!").as_deref(),
            Some(
                "Topic name is invalid: 'bad name!' contains one or more characters other than \
                 ASCII alphanumerics, '.', '_' and '-'"
            )
        );
        let long = "x".repeat(250);
        assert!(invalid_name_message(&long)
            .unwrap()
            .ends_with("is longer than the max allowed length 249"));
    }
}
