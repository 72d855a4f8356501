//! CreatePartitions (key 37): grow a topic's partition count.

use crate::codes;
use crate::server::Ctx;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{ApiKey, CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;
use myelin_shards::{CatalogChange, ShardError};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::CreatePartitions;
/// Versions implemented.
pub const VERSIONS: RangeInclusive<i16> = 0..=3;

/// Handles a CreatePartitions request.
pub async fn handle(
    ctx: &Ctx,
    _version: i16,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let mut results = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let base = CreatePartitionsTopicResult::default().with_name(t.name.clone());
        let change = CatalogChange::CreatePartitions {
            name: t.name.0.to_string(),
            count: t.count,
            validate_only: req.validate_only,
        };
        match ctx.shard.change_catalog(change).await {
            Ok(_) => results.push(base),
            Err(e) => {
                let message = match &e {
                    ShardError::Metadata(m) => Some(StrBytes::from_string(m.to_string())),
                    _ => None,
                };
                results.push(
                    base.with_error_code(codes::shard(&e))
                        .with_error_message(message),
                );
            }
        }
    }
    CreatePartitionsResponse::default().with_results(results)
}
