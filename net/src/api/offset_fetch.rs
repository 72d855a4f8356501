//! OffsetFetch (key 9): a group's committed offsets (one group before v8, several after).

use crate::codes;
use crate::group::coordinator::{on_coordinator, GroupOffsets};
use crate::server::Ctx;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    ApiKey, GroupId, OffsetFetchRequest, OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::{operation, resource_type};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::OffsetFetch;
/// Versions implemented.
pub const VERSIONS: RangeInclusive<i16> = 0..=9;

/// One answered partition: (partition, offset, leader epoch, metadata, error code).
type Answer = (i32, i64, i32, Option<String>, i16);

/// The offsets of `group` for the asked topics (`None`: every committed one).
async fn fetch_group(
    ctx: &Ctx,
    group: &str,
    topics: Option<Vec<(String, Vec<i32>)>>,
) -> Result<Vec<(String, Vec<Answer>)>, i16> {
    // Fetching needs DESCRIBE on the group, and on each topic: topics the principal may not
    // describe are refused when named and left out when all are asked for.
    if !ctx.authorized(resource_type::GROUP, group, operation::DESCRIBE) {
        return Err(codes::GROUP_AUTHORIZATION_FAILED);
    }
    let describe = |t: &str| ctx.authorized(resource_type::TOPIC, t, operation::DESCRIBE);
    let g = group.to_string();
    let offsets: GroupOffsets =
        on_coordinator(&ctx.shard, group, move |coordinator, _log| async move {
            Ok(coordinator
                .offsets
                .borrow()
                .get(&g)
                .cloned()
                .unwrap_or_default())
        })
        .await?;
    let answer = |topic: &str, p: i32| -> Answer {
        if !describe(topic) {
            return (
                p,
                -1,
                -1,
                Some(String::new()),
                codes::TOPIC_AUTHORIZATION_FAILED,
            );
        }
        match offsets.get(&(topic.to_string(), p)) {
            Some(c) => (
                p,
                c.offset,
                c.leader_epoch,
                Some(c.metadata.clone()),
                codes::NONE,
            ),
            None => (p, -1, -1, Some(String::new()), codes::NONE),
        }
    };
    Ok(match topics {
        Some(list) => list
            .into_iter()
            .map(|(t, ps)| (t.clone(), ps.into_iter().map(|p| answer(&t, p)).collect()))
            .collect(),
        None => {
            let mut by_topic: Vec<(String, Vec<Answer>)> = Vec::new();
            for (topic, p) in offsets.keys().filter(|(t, _)| describe(t)) {
                match by_topic.last_mut() {
                    Some((t, ps)) if t == topic => ps.push(answer(topic, *p)),
                    _ => by_topic.push((topic.clone(), vec![answer(topic, *p)])),
                }
            }
            by_topic
        }
    })
}

fn name(t: String) -> TopicName {
    TopicName(StrBytes::from_string(t))
}

/// Handles OffsetFetch.
pub async fn handle(ctx: &Ctx, version: i16, req: OffsetFetchRequest) -> OffsetFetchResponse {
    if version < 8 {
        let topics = req.topics.map(|ts| {
            ts.into_iter()
                .map(|t| (t.name.0.to_string(), t.partition_indexes))
                .collect()
        });
        // v0–1 cannot say "all topics" (null arrives as empty): treat it as asked.
        return match fetch_group(ctx, &req.group_id, topics).await {
            Ok(found) => {
                let topics = found
                    .into_iter()
                    .map(|(t, ps)| {
                        let partitions = ps
                            .into_iter()
                            .map(|(p, o, e, m, code)| {
                                OffsetFetchResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_error_code(code)
                                    .with_committed_offset(o)
                                    .with_committed_leader_epoch(if version >= 5 { e } else { -1 })
                                    .with_metadata(m.map(StrBytes::from_string))
                            })
                            .collect();
                        OffsetFetchResponseTopic::default()
                            .with_name(name(t))
                            .with_partitions(partitions)
                    })
                    .collect();
                OffsetFetchResponse::default().with_topics(topics)
            }
            Err(code) if version >= 2 => OffsetFetchResponse::default().with_error_code(code),
            Err(_) => OffsetFetchResponse::default(),
        };
    }
    let mut groups = Vec::with_capacity(req.groups.len());
    for g in req.groups {
        let topics = g.topics.map(|ts| {
            ts.into_iter()
                .map(|t| (t.name.0.to_string(), t.partition_indexes))
                .collect()
        });
        let base = OffsetFetchResponseGroup::default().with_group_id(GroupId(g.group_id.0.clone()));
        match fetch_group(ctx, &g.group_id, topics).await {
            Ok(found) => {
                let topics = found
                    .into_iter()
                    .map(|(t, ps)| {
                        let partitions = ps
                            .into_iter()
                            .map(|(p, o, e, m, code)| {
                                OffsetFetchResponsePartitions::default()
                                    .with_partition_index(p)
                                    .with_error_code(code)
                                    .with_committed_offset(o)
                                    .with_committed_leader_epoch(e)
                                    .with_metadata(m.map(StrBytes::from_string))
                            })
                            .collect();
                        OffsetFetchResponseTopics::default()
                            .with_name(name(t))
                            .with_partitions(partitions)
                    })
                    .collect();
                groups.push(base.with_topics(topics));
            }
            Err(code) => groups.push(base.with_error_code(code)),
        }
    }
    OffsetFetchResponse::default()
        .with_groups(groups)
        .with_error_code(codes::NONE)
}
