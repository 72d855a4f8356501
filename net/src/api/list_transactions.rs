//! ListTransactions (key 66): every transactional id on every shard, filtered by state and
//! producer id.

use crate::server::Ctx;
use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ApiKey, ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::{operation, resource_type};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::ListTransactions;
/// Versions implemented (v1 adds the duration filter).
pub const VERSIONS: RangeInclusive<i16> = 0..=1;

/// Handles ListTransactions.
pub async fn handle(
    ctx: &Ctx,
    version: i16,
    req: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let now = ctx.shard.now_ms();
    let mut all = Vec::new();
    for s in 0..ctx.shard.count {
        let r = ctx
            .shard
            .invoke_on(myelin_shards::ShardId(s), |shard| async move {
                let Ok(coordinator) = crate::txn::coordinator::of(&shard) else {
                    return Vec::new();
                };
                let txns = coordinator.txns.borrow();
                txns.iter()
                    .map(|(id, m)| (id.clone(), m.producer_id, m.state.name(), m.start_ms))
                    .collect::<Vec<_>>()
            })
            .await;
        all.extend(r.unwrap_or_default());
    }
    let states: Vec<String> = req.state_filters.iter().map(|s| s.to_string()).collect();
    let known = [
        "Empty",
        "Ongoing",
        "PrepareCommit",
        "PrepareAbort",
        "CompleteCommit",
        "CompleteAbort",
    ];
    let unknown: Vec<StrBytes> = req
        .state_filters
        .iter()
        .filter(|s| !known.contains(&s.as_str()))
        .cloned()
        .collect();
    let pids: Vec<i64> = req.producer_id_filters.iter().map(|p| p.0).collect();
    let transactions = all
        .into_iter()
        .filter(|(id, _, _, _)| {
            ctx.authorized(resource_type::TRANSACTIONAL_ID, id, operation::DESCRIBE)
        })
        .filter(|(_, pid, state, _)| {
            (states.is_empty() || states.iter().any(|s| s == state))
                && (pids.is_empty() || pids.contains(pid))
        })
        .filter(|(_, _, state, start)| {
            version < 1
                || req.duration_filter < 0
                || (*state == "Ongoing" && now - start >= req.duration_filter)
        })
        .map(|(id, pid, state, _)| {
            TransactionState::default()
                .with_transactional_id(TransactionalId(StrBytes::from_string(id)))
                .with_producer_id(ProducerId(pid))
                .with_transaction_state(StrBytes::from_static_str(state))
        })
        .collect();
    ListTransactionsResponse::default()
        .with_transaction_states(transactions)
        .with_unknown_state_filters(unknown)
}
