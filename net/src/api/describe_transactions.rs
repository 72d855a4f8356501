//! DescribeTransactions (key 65): state, producer and partitions of transactional ids.

use crate::codes;
use crate::server::Ctx;
use crate::txn::coordinator::on_txn_coordinator;
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    ApiKey, DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::{operation, resource_type};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::DescribeTransactions;
/// Versions implemented.
pub const VERSIONS: RangeInclusive<i16> = 0..=0;

/// Handles DescribeTransactions.
pub async fn handle(
    ctx: &Ctx,
    _version: i16,
    req: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let mut states = Vec::with_capacity(req.transactional_ids.len());
    for id in req.transactional_ids {
        let key = id.0.to_string();
        if !ctx.authorized(resource_type::TRANSACTIONAL_ID, &key, operation::DESCRIBE) {
            states.push(
                TransactionState::default()
                    .with_transactional_id(id)
                    .with_error_code(codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
            );
            continue;
        }
        let meta = on_txn_coordinator(
            &ctx.shard,
            &key.clone(),
            move |c, _log, _shard| async move {
                c.txns
                    .borrow()
                    .get(&key)
                    .cloned()
                    .ok_or(codes::TRANSACTIONAL_ID_NOT_FOUND)
            },
        )
        .await;
        let base = TransactionState::default().with_transactional_id(id);
        match meta {
            Ok(m) => {
                let mut topics: Vec<TopicData> = Vec::new();
                // Topics the principal may not describe are left out, as in Kafka.
                let describe =
                    |t: &str| ctx.authorized(resource_type::TOPIC, t, operation::DESCRIBE);
                for (t, p) in m.partitions.iter().filter(|(t, _)| describe(t)) {
                    match topics.last_mut() {
                        Some(d) if d.topic.0.as_str() == t => d.partitions.push(*p),
                        _ => topics.push(
                            TopicData::default()
                                .with_topic(TopicName(StrBytes::from_string(t.clone())))
                                .with_partitions(vec![*p]),
                        ),
                    }
                }
                states.push(
                    base.with_transaction_state(StrBytes::from_static_str(m.state.name()))
                        .with_transaction_timeout_ms(m.timeout_ms)
                        .with_transaction_start_time_ms(if m.start_ms > 0 {
                            m.start_ms
                        } else {
                            -1
                        })
                        .with_producer_id(ProducerId(m.producer_id))
                        .with_producer_epoch(m.epoch)
                        .with_topics(topics),
                );
            }
            Err(code) => states.push(
                base.with_error_code(code)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            ),
        }
    }
    DescribeTransactionsResponse::default().with_transaction_states(states)
}
