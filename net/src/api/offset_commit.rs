//! OffsetCommit (key 8): commits offsets for a group, durably in `__consumer_offsets`.

use crate::codes;
use crate::group::coordinator::on_coordinator;
use crate::group::store::{self, Committed, OffsetKey};
use crate::server::Ctx;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{ApiKey, OffsetCommitRequest, OffsetCommitResponse, TopicName};
use myelin_replication::cluster::security::{operation, resource_type};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::OffsetCommit;
/// Versions implemented.
pub const VERSIONS: RangeInclusive<i16> = 0..=9;

/// One partition of a commit: an error decided up front, or the record to write.
type PartitionPlan = (i32, Result<(OffsetKey, Committed), i16>);

/// Handles OffsetCommit.
pub async fn handle(ctx: &Ctx, _version: i16, req: OffsetCommitRequest) -> OffsetCommitResponse {
    let group = req.group_id.0.to_string();
    let image = ctx.shard.metadata();
    let now = ctx.shard.now_ms();
    // Per partition: an error decided here, or the record to write.
    let mut plan: Vec<(TopicName, Vec<PartitionPlan>)> = Vec::new();
    // Committing needs READ on the group, and READ on each topic.
    let group_refused = !ctx.authorized(resource_type::GROUP, &group, operation::READ);
    for t in &req.topics {
        let known = crate::topics::partition_count(&image, &t.name);
        let topic_refused = !ctx.authorized(resource_type::TOPIC, &t.name, operation::READ);
        let parts = t
            .partitions
            .iter()
            .map(|p| {
                let outcome = if group_refused {
                    Err(codes::GROUP_AUTHORIZATION_FAILED)
                } else if topic_refused {
                    Err(codes::TOPIC_AUTHORIZATION_FAILED)
                } else if !known.is_some_and(|n| (0..n).contains(&p.partition_index)) {
                    Err(codes::UNKNOWN_TOPIC_OR_PARTITION)
                } else {
                    store::commit_entry(
                        &group,
                        &t.name,
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        p.committed_metadata.as_deref(),
                        now,
                    )
                };
                (p.partition_index, outcome)
            })
            .collect();
        plan.push((t.name.clone(), parts));
    }
    let writes: Vec<(OffsetKey, Committed)> = plan
        .iter()
        .flat_map(|(_, ps)| ps.iter().filter_map(|(_, r)| r.as_ref().ok().cloned()))
        .collect();
    let member = req.member_id.to_string();
    let instance = req.group_instance_id.map(|i| i.to_string());
    let generation = req.generation_id_or_member_epoch;
    let g = group.clone();
    if group_refused {
        let committed: Result<(), i16> = Err(codes::GROUP_AUTHORIZATION_FAILED);
        return respond(plan, committed);
    }
    let committed = on_coordinator(&ctx.shard, &group, move |coordinator, log| async move {
        coordinator.with_group(&g, true, |grp| {
            grp.validate_commit(&member, instance.as_deref(), generation)
        })??;
        let entries: Vec<(OffsetKey, Option<Committed>)> = writes
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect();
        store::write(&log, &entries, now).await?;
        for (k, v) in writes {
            coordinator.apply(k, Some(v));
        }
        Ok(())
    })
    .await;
    respond(plan, committed)
}

/// The response: each partition's own error, else the commit's.
fn respond(
    plan: Vec<(TopicName, Vec<PartitionPlan>)>,
    committed: Result<(), i16>,
) -> OffsetCommitResponse {
    let topics = plan
        .into_iter()
        .map(|(name, parts)| {
            let partitions = parts
                .into_iter()
                .map(|(index, outcome)| {
                    let code = match (&committed, outcome) {
                        (_, Err(code)) => code,
                        (Err(code), Ok(_)) => *code,
                        (Ok(()), Ok(_)) => codes::NONE,
                    };
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(index)
                        .with_error_code(code)
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
