//! What IncrementalAlterConfigs and AlterConfigs share: the checks Kafka makes on a request
//! before it reaches the controller, a topic's new overrides checked as a whole, and the
//! change sent to the active controller as `SetConfig` records.
//!
//! A topic's overrides are computed here from this broker's metadata image and checked with
//! the same rules as CreateTopics; only the entries that change go to the controller, which
//! commits them to the metadata log. Every broker's shards then take the new log config
//! with the image that carries it (`Shard::apply_metadata`). Two changes of the same topic
//! racing from two brokers each apply their own entries; the later wins entry by entry.
//!
//! Broker resources: Myelin has no dynamically alterable broker config yet, so any change
//! to one is refused with Kafka's answer for a config that cannot be altered dynamically.

use crate::codes;
use crate::server::Ctx;
use myelin_replication::cluster::records::ConfigResource;
use myelin_replication::controller::{ControllerRequest, ControllerResponse};
use myelin_replication::error::ControllerError;
use myelin_replication::MetadataError;
use myelin_shards::topic_config;
use std::collections::{BTreeMap, BTreeSet};

/// Kafka's resource type codes.
pub(crate) const RESOURCE_TOPIC: i8 = 2;
/// The broker resource type.
pub(crate) const RESOURCE_BROKER: i8 = 4;

/// Kafka's answer for one resource: error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// The Kafka error code (0: none).
    pub code: i16,
    /// Why, in Kafka's words.
    pub message: Option<String>,
}

impl Outcome {
    pub(crate) const OK: Outcome = Outcome {
        code: 0,
        message: None,
    };

    pub(crate) fn error(code: i16, message: impl Into<String>) -> Outcome {
        Outcome {
            code,
            message: Some(message.into()),
        }
    }
}

/// Kafka's answer when the principal may not perform `op` (DESCRIBE_CONFIGS or
/// ALTER_CONFIGS) on a config resource: topics need it on the topic, brokers and broker
/// loggers on the cluster.
pub(crate) fn refused(ctx: &Ctx, kind: i8, name: &str, op: i8) -> Option<Outcome> {
    use myelin_replication::cluster::security::resource_type;
    if kind == RESOURCE_TOPIC {
        (!ctx.authorized(resource_type::TOPIC, name, op)).then(|| {
            Outcome::error(
                codes::TOPIC_AUTHORIZATION_FAILED,
                "Topic authorization failed.",
            )
        })
    } else {
        (!ctx.cluster_authorized(op)).then(|| {
            Outcome::error(
                codes::CLUSTER_AUTHORIZATION_FAILED,
                "Cluster authorization failed.",
            )
        })
    }
}

/// Alters each resource in request order with `alter`, refusing every copy of a resource
/// named twice as Kafka does; the outcomes come back in the same order.
pub(crate) async fn each_resource<'a, R, Fut>(
    resources: &'a [R],
    id: impl Fn(&'a R) -> (i8, &'a str),
    mut alter: impl FnMut(&'a R) -> Fut,
) -> Vec<Outcome>
where
    Fut: std::future::Future<Output = Outcome>,
{
    let twice = duplicate_resources(resources.iter().map(&id));
    let mut out = Vec::with_capacity(resources.len());
    for r in resources {
        let (kind, name) = id(r);
        out.push(if twice.contains(&(kind, name.to_string())) {
            Outcome::error(
                codes::INVALID_REQUEST,
                "Each resource must appear at most once.",
            )
        } else {
            alter(r).await
        });
    }
    out
}

/// Resources named twice in one request: Kafka refuses every copy.
pub(crate) fn duplicate_resources<'a>(
    resources: impl Iterator<Item = (i8, &'a str)>,
) -> BTreeSet<(i8, String)> {
    let mut seen = BTreeSet::new();
    let mut twice = BTreeSet::new();
    for (kind, name) in resources {
        if !seen.insert((kind, name)) {
            twice.insert((kind, name.to_string()));
        }
    }
    twice
}

/// The checks Kafka makes on one resource's entries before anything else: no name twice,
/// and a value for every entry that is not a deletion (`names` pairs each name with whether
/// its value is missing where one is needed).
pub(crate) fn check_entries<'a>(
    names: impl Iterator<Item = (&'a str, bool)> + Clone,
) -> Result<(), Outcome> {
    let mut seen = BTreeSet::new();
    if names.clone().any(|(n, _)| !seen.insert(n)) {
        return Err(Outcome::error(
            codes::INVALID_REQUEST,
            "Error due to duplicate config keys",
        ));
    }
    let nulls: Vec<&str> = names.filter(|(_, null)| *null).map(|(n, _)| n).collect();
    if !nulls.is_empty() {
        return Err(Outcome::error(
            codes::INVALID_REQUEST,
            format!("Null value not supported for : {}", nulls.join(", ")),
        ));
    }
    Ok(())
}

/// A broker resource's name must be empty (the cluster default) or this broker's id.
pub(crate) fn check_broker_name(ctx: &Ctx, name: &str) -> Result<(), Outcome> {
    if name.is_empty() {
        return Ok(());
    }
    let me = ctx.shard.node_id().0;
    match name.parse::<i32>() {
        Ok(id) if id == me => Ok(()),
        Ok(_) => Err(Outcome::error(
            codes::INVALID_REQUEST,
            format!("Unexpected broker id, expected {me}, but received {name}"),
        )),
        Err(_) => Err(Outcome::error(
            codes::INVALID_REQUEST,
            format!("Node id must be an integer, but it is: {name}"),
        )),
    }
}

/// A change to broker configs: Myelin has no dynamic broker config, so setting any is
/// refused as Kafka refuses a config that cannot be updated dynamically. Deleting one
/// (never set) changes nothing and is answered as done.
pub(crate) fn alter_broker<'a>(mut set: impl Iterator<Item = &'a str>) -> Outcome {
    let first = set.next();
    match first {
        None => Outcome::OK,
        Some(first) => {
            let mut names: Vec<&str> = std::iter::once(first).chain(set).collect();
            names.sort_unstable();
            Outcome::error(
                codes::INVALID_REQUEST,
                format!(
                    "Cannot update these configs dynamically: [{}]",
                    names.join(", ")
                ),
            )
        }
    }
}

/// The answer for a resource type Myelin does not alter.
pub(crate) fn unsupported_resource(kind: i8) -> Outcome {
    Outcome::error(
        codes::INVALID_REQUEST,
        format!("Unsupported resource type {kind}: only topic and broker configs are altered"),
    )
}

/// The answer for a topic this broker's metadata does not have.
pub(crate) fn unknown_topic(name: &str) -> Outcome {
    Outcome::error(
        codes::UNKNOWN_TOPIC_OR_PARTITION,
        format!("The topic '{name}' does not exist."),
    )
}

/// Checks a topic's whole new set of overrides and has the controller commit what differs
/// from `current` (`None`: the topic does not exist). The values are checked before the
/// topic's existence, in Kafka's order.
pub(crate) async fn alter_topic(
    ctx: &Ctx,
    name: &str,
    current: Option<&BTreeMap<String, String>>,
    next: BTreeMap<String, String>,
    validate_only: bool,
) -> Outcome {
    if let Err(e) = topic_config::log_config(&ctx.shard.node.log_defaults, &next) {
        let message = match &e {
            MetadataError::InvalidConfig(m) => m.clone(),
            other => other.to_string(),
        };
        return Outcome::error(codes::metadata(&e), message);
    }
    let Some(current) = current else {
        return unknown_topic(name);
    };
    let mut entries: Vec<(String, Option<String>)> = Vec::new();
    for (k, v) in &next {
        if current.get(k) != Some(v) {
            entries.push((k.clone(), Some(v.clone())));
        }
    }
    for k in current.keys() {
        if !next.contains_key(k) {
            entries.push((k.clone(), None));
        }
    }
    if entries.is_empty() && !validate_only {
        return Outcome::OK;
    }
    let request = ControllerRequest::AlterConfigs {
        resource: ConfigResource::Topic(name.to_string()),
        entries,
        validate_only,
    };
    match ctx.shard.controller(request).await {
        Ok(ControllerResponse::AlterConfigs) => Outcome::OK,
        Ok(other) => Outcome::error(
            codes::UNKNOWN_SERVER_ERROR,
            format!("unexpected controller answer {other:?}"),
        ),
        Err(ControllerError::UnknownTopicOrPartition(_)) => unknown_topic(name),
        Err(e) => {
            let message = match &e {
                ControllerError::InvalidConfig(m) | ControllerError::InvalidRequest(m) => m.clone(),
                other => other.to_string(),
            };
            Outcome::error(codes::controller(&e), message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked_as_kafka_checks_them() {
        let twice = duplicate_resources([(2, "a"), (4, ""), (2, "a"), (2, "b")].into_iter());
        assert_eq!(twice, BTreeSet::from([(2, "a".to_string())]));
        assert_eq!(
            check_entries([("a", false), ("b", false)].iter().copied()),
            Ok(())
        );
        assert_eq!(
            check_entries([("a", false), ("a", false)].iter().copied()),
            Err(Outcome::error(
                codes::INVALID_REQUEST,
                "Error due to duplicate config keys"
            ))
        );
        assert_eq!(
            check_entries([("a", true), ("b", false), ("c", true)].iter().copied()),
            Err(Outcome::error(
                codes::INVALID_REQUEST,
                "Null value not supported for : a, c"
            ))
        );
        assert_eq!(alter_broker(std::iter::empty()), Outcome::OK);
        assert_eq!(
            alter_broker(["num.partitions", "log.retention.ms"].into_iter()),
            Outcome::error(
                codes::INVALID_REQUEST,
                "Cannot update these configs dynamically: [log.retention.ms, num.partitions]"
            )
        );
    }
}
