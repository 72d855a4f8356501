//! TxnOffsetCommit (key 28): offsets committed inside a transaction; written to
//! `__consumer_offsets` as a transactional batch and visible only once the transaction
//! commits.

use crate::codes;
use crate::group::coordinator::on_coordinator;
use crate::group::store;
use crate::internal_log::{append_committed, encode_batch, record, RecordFlags};
use crate::server::Ctx;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{ApiKey, TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use myelin_replication::cluster::security::{operation, resource_type};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::TxnOffsetCommit;
/// Versions implemented (v3+ carry the consumer's generation and member id, KIP-447).
pub const VERSIONS: RangeInclusive<i16> = 0..=3;

/// Handles TxnOffsetCommit.
pub async fn handle(
    ctx: &Ctx,
    _version: i16,
    req: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    let group = req.group_id.0.to_string();
    let now = ctx.shard.now_ms();
    let image = ctx.shard.metadata();
    let mut entries = Vec::new();
    let mut answer: Vec<(kafka_protocol::messages::TopicName, Vec<(i32, i16)>)> = Vec::new();
    // WRITE on the transactional id, READ on the group, READ on each topic.
    let txn_id = req.transactional_id.0.to_string();
    let refused_all = if !ctx.authorized(resource_type::TRANSACTIONAL_ID, &txn_id, operation::WRITE)
    {
        Some(codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    } else if !ctx.authorized(resource_type::GROUP, &group, operation::READ) {
        Some(codes::GROUP_AUTHORIZATION_FAILED)
    } else {
        None
    };
    for t in &req.topics {
        let known = crate::topics::partition_count(&image, &t.name);
        let mut parts = Vec::new();
        let refused = refused_all.or_else(|| {
            (!ctx.authorized(resource_type::TOPIC, &t.name, operation::READ))
                .then_some(codes::TOPIC_AUTHORIZATION_FAILED)
        });
        for p in &t.partitions {
            if let Some(code) = refused {
                parts.push((p.partition_index, code));
                continue;
            }
            if !known.is_some_and(|n| (0..n).contains(&p.partition_index)) {
                parts.push((p.partition_index, codes::UNKNOWN_TOPIC_OR_PARTITION));
                continue;
            }
            let entry = store::commit_entry(
                &group,
                &t.name,
                p.partition_index,
                p.committed_offset,
                p.committed_leader_epoch,
                p.committed_metadata.as_deref(),
                now,
            );
            match entry {
                Ok(e) => {
                    parts.push((p.partition_index, codes::NONE));
                    entries.push(e);
                }
                Err(code) => parts.push((p.partition_index, code)),
            }
        }
        answer.push((t.name.clone(), parts));
    }
    let (pid, epoch) = (req.producer_id.0, req.producer_epoch);
    let member = req.member_id.to_string();
    let instance = req.group_instance_id.map(|i| i.to_string());
    let generation = req.generation_id;
    let g = group.clone();
    if refused_all.is_some() {
        return respond(answer, Ok(()));
    }
    let r = on_coordinator(&ctx.shard, &group, move |coordinator, log| async move {
        // Without group metadata (generation -1, no member) a transactional commit is not
        // fenced by the group, as in Kafka; with it, the member must be current.
        if !(generation < 0 && member.is_empty()) {
            coordinator.with_group(&g, true, |grp| {
                grp.validate_commit(&member, instance.as_deref(), generation)
            })??;
        }
        if entries.is_empty() {
            return Ok(());
        }
        let mut recs = Vec::with_capacity(entries.len());
        for (i, (k, v)) in entries.iter().enumerate() {
            let (key, value) = store::encode_entry(k, Some(v))?;
            let flags = RecordFlags {
                transactional: true,
                control: false,
                timestamp_ms: now,
            };
            recs.push(record(i as i64, (pid, epoch), flags, key, value));
        }
        append_committed(&log, encode_batch(&recs)?).await?;
        coordinator.stage_txn(
            pid,
            entries.into_iter().map(|(k, v)| (k, Some(v))).collect(),
        );
        Ok(())
    })
    .await;
    respond(answer, r)
}

/// The response: each partition's own error, else the commit's.
fn respond(
    answer: Vec<(kafka_protocol::messages::TopicName, Vec<(i32, i16)>)>,
    r: Result<(), i16>,
) -> TxnOffsetCommitResponse {
    let topics = answer
        .into_iter()
        .map(|(name, parts)| {
            let partitions = parts
                .into_iter()
                .map(|(p, c)| {
                    let c = if c == codes::NONE {
                        r.err().unwrap_or(codes::NONE)
                    } else {
                        c
                    };
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p)
                        .with_error_code(c)
                })
                .collect();
            TxnOffsetCommitResponseTopic::default()
                .with_name(name)
                .with_partitions(partitions)
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}
