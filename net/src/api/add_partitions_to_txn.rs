//! AddPartitionsToTxn (key 24): partitions a transaction is about to write.

use crate::codes;
use crate::server::Ctx;
use crate::txn::coordinator::on_txn_coordinator;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey, TopicName,
};
use myelin_replication::cluster::security::{operation, resource_type};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::AddPartitionsToTxn;
/// Versions implemented (v4+ are broker-to-broker batches).
pub const VERSIONS: RangeInclusive<i16> = 0..=3;

/// `OPERATION_NOT_ATTEMPTED`: another partition of the request failed.
const OPERATION_NOT_ATTEMPTED: i16 = 55;

/// Handles AddPartitionsToTxn.
pub async fn handle(
    ctx: &Ctx,
    _version: i16,
    req: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    let txn_id = req.v3_and_below_transactional_id.0.to_string();
    let (pid, epoch) = (
        req.v3_and_below_producer_id.0,
        req.v3_and_below_producer_epoch,
    );
    let image = ctx.shard.metadata();
    let asked: Vec<(TopicName, Vec<i32>)> = req
        .v3_and_below_topics
        .into_iter()
        .map(|t| (t.name, t.partitions))
        .collect();
    let unknown = |t: &TopicName, p: i32| !crate::topics::has_partition(&image, t, p);
    let any_unknown = asked
        .iter()
        .any(|(t, ps)| ps.iter().any(|p| unknown(t, *p)));
    // WRITE on the transactional id, then on every topic: a refused topic fails the
    // request and the others are not attempted.
    let txn_refused = !ctx.authorized(resource_type::TRANSACTIONAL_ID, &txn_id, operation::WRITE);
    let refused = |t: &TopicName| !ctx.authorized(resource_type::TOPIC, t, operation::WRITE);
    let any_refused = asked.iter().any(|(t, _)| refused(t));
    let code = if txn_refused {
        Err(codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    } else if any_refused {
        Err(codes::TOPIC_AUTHORIZATION_FAILED)
    } else if any_unknown {
        Err(codes::UNKNOWN_TOPIC_OR_PARTITION)
    } else {
        let partitions: Vec<(String, i32)> = asked
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(move |p| (t.0.to_string(), *p)))
            .collect();
        let id = txn_id.clone();
        on_txn_coordinator(
            &ctx.shard,
            &txn_id,
            move |coordinator, log, shard| async move {
                let Some(mut meta) = coordinator.txns.borrow().get(&id).cloned() else {
                    return Err(codes::INVALID_PRODUCER_ID_MAPPING);
                };
                if meta.add_partitions(pid, epoch, &partitions, shard.now_ms())? {
                    coordinator.save(&shard, &log, &id, meta).await?;
                }
                Ok(())
            },
        )
        .await
    };
    let results = asked
        .into_iter()
        .map(|(name, ps)| {
            let partitions = ps
                .into_iter()
                .map(|p| {
                    let c = match &code {
                        Ok(()) => codes::NONE,
                        Err(codes::TOPIC_AUTHORIZATION_FAILED) if refused(&name) => {
                            codes::TOPIC_AUTHORIZATION_FAILED
                        }
                        Err(codes::TOPIC_AUTHORIZATION_FAILED) if unknown(&name, p) => {
                            codes::UNKNOWN_TOPIC_OR_PARTITION
                        }
                        Err(codes::TOPIC_AUTHORIZATION_FAILED) => OPERATION_NOT_ATTEMPTED,
                        Err(codes::UNKNOWN_TOPIC_OR_PARTITION) if !unknown(&name, p) => {
                            OPERATION_NOT_ATTEMPTED
                        }
                        Err(c) => *c,
                    };
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(p)
                        .with_partition_error_code(c)
                })
                .collect();
            AddPartitionsToTxnTopicResult::default()
                .with_name(name)
                .with_results_by_partition(partitions)
        })
        .collect();
    AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results)
}
