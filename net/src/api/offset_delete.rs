//! OffsetDelete (key 47): deletes a group's committed offsets for some partitions, unless
//! the group's members still subscribe to the topic.

use crate::codes;
use crate::group::coordinator::on_coordinator;
use crate::group::store::{self, OffsetKey};
use crate::server::Ctx;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{ApiKey, OffsetDeleteRequest, OffsetDeleteResponse};
use myelin_replication::cluster::security::{operation, resource_type};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::OffsetDelete;
/// Versions implemented.
pub const VERSIONS: RangeInclusive<i16> = 0..=0;

/// The topics a "consumer" protocol subscription names: version i16, then an array of
/// strings (the rest is ignored). Unparsable metadata subscribes to nothing.
pub fn subscribed_topics(metadata: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let Some(mut rest) = metadata.get(2..) else {
        return out;
    };
    let Some((count, tail)) = rest.split_first_chunk::<4>() else {
        return out;
    };
    rest = tail;
    for _ in 0..i32::from_be_bytes(*count).max(0) {
        let Some((len, tail)) = rest.split_first_chunk::<2>() else {
            break;
        };
        let len = i16::from_be_bytes(*len).max(0) as usize;
        let Some((name, tail)) = tail.split_at_checked(len) else {
            break;
        };
        out.push(String::from_utf8_lossy(name).into_owned());
        rest = tail;
    }
    out
}

/// Handles OffsetDelete.
pub async fn handle(ctx: &Ctx, _version: i16, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let g = req.group_id.0.to_string();
    if !ctx.authorized(resource_type::GROUP, &g, operation::DELETE) {
        return OffsetDeleteResponse::default().with_error_code(codes::GROUP_AUTHORIZATION_FAILED);
    }
    // Topics the principal may not READ are refused and never reach the coordinator.
    let refused: Vec<(String, Vec<i32>)> = req
        .topics
        .iter()
        .filter(|t| !ctx.authorized(resource_type::TOPIC, &t.name, operation::READ))
        .map(|t| {
            (
                t.name.0.to_string(),
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect();
    let asked: Vec<(String, Vec<i32>)> = req
        .topics
        .iter()
        .filter(|t| ctx.authorized(resource_type::TOPIC, &t.name, operation::READ))
        .map(|t| {
            (
                t.name.0.to_string(),
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect();
    let result = on_coordinator(&ctx.shard, &g.clone(), move |coordinator, log| async move {
        let subscribed: Vec<String> = match coordinator.groups.borrow().get(&g) {
            Some(grp) if !grp.members.is_empty() => grp
                .members
                .values()
                .flat_map(|m| subscribed_topics(&m.metadata(grp.protocol.as_deref())))
                .collect(),
            _ => Vec::new(),
        };
        if !coordinator.offsets.borrow().contains_key(&g)
            && !coordinator.groups.borrow().contains_key(&g)
        {
            return Err(codes::GROUP_ID_NOT_FOUND);
        }
        let mut per_topic = Vec::with_capacity(asked.len());
        let mut tombstones = Vec::new();
        for (topic, partitions) in asked {
            let busy = subscribed.contains(&topic);
            let codes_out: Vec<(i32, i16)> = partitions
                .into_iter()
                .map(|p| {
                    if busy {
                        return (p, codes::GROUP_SUBSCRIBED_TO_TOPIC);
                    }
                    tombstones.push((
                        OffsetKey {
                            group: g.clone(),
                            topic: topic.clone(),
                            partition: p,
                        },
                        None,
                    ));
                    (p, codes::NONE)
                })
                .collect();
            per_topic.push((topic, codes_out));
        }
        store::write(&log, &tombstones, coordinator.now_ms()).await?;
        for (k, _) in tombstones {
            coordinator.apply(k, None);
        }
        Ok(per_topic)
    })
    .await;
    match result {
        Ok(mut per_topic) => {
            per_topic.extend(refused.into_iter().map(|(t, ps)| {
                let ps = ps
                    .into_iter()
                    .map(|p| (p, codes::TOPIC_AUTHORIZATION_FAILED))
                    .collect();
                (t, ps)
            }));
            let topics = per_topic
                .into_iter()
                .map(|(t, ps)| {
                    OffsetDeleteResponseTopic::default()
                        .with_name(kafka_protocol::messages::TopicName(
                            kafka_protocol::protocol::StrBytes::from_string(t),
                        ))
                        .with_partitions(
                            ps.into_iter()
                                .map(|(p, c)| {
                                    OffsetDeleteResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_error_code(c)
                                })
                                .collect(),
                        )
                })
                .collect();
            OffsetDeleteResponse::default().with_topics(topics)
        }
        Err(code) => OffsetDeleteResponse::default().with_error_code(code),
    }
}
