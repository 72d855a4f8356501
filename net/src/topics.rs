//! Topic lookups the handlers share: the catalog entry of a topic, created first when
//! auto-creation allows it.

use crate::codes;
use crate::server::Ctx;
use myelin_replication::TopicMeta;
use myelin_shards::CatalogChange;
use std::collections::BTreeMap;

/// The topic, created with the node defaults first when auto-creation is on.
pub async fn get_or_create(ctx: &Ctx, name: &str, allow_create: bool) -> Result<TopicMeta, i16> {
    if let Some(t) = ctx.shard.catalog().topic(name) {
        return Ok(t.clone());
    }
    if !(allow_create && ctx.shard.node.auto_create_topics) {
        if let Err(e) = myelin_replication::metadata::validate_topic_name(name) {
            return Err(codes::metadata(&e));
        }
        return Err(codes::UNKNOWN_TOPIC_OR_PARTITION);
    }
    let change = CatalogChange::CreateTopic {
        name: name.to_string(),
        partitions: -1,
        configs: BTreeMap::new(),
        validate_only: false,
    };
    match ctx.shard.change_catalog(change).await {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(codes::UNKNOWN_TOPIC_OR_PARTITION),
        // Another connection may have created it meanwhile.
        Err(e) => ctx
            .shard
            .catalog()
            .topic(name)
            .cloned()
            .ok_or(codes::shard(&e)),
    }
}
