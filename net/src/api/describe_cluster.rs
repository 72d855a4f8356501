//! DescribeCluster (key 60): the cluster id, the controller id clients are told, and the live
//! brokers with their racks, from this broker's metadata image (as Metadata reports them).

use crate::api::metadata::{cluster_id_text, controller_id, live_brokers};
use crate::codes;
use crate::security::authz::{CLUSTER_NAME, OPERATIONS_OMITTED};
use crate::server::Ctx;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{ApiKey, BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::resource_type;
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::DescribeCluster;
/// Versions implemented (v1 adds the endpoint type).
pub const VERSIONS: RangeInclusive<i16> = 0..=1;

/// Endpoint types of v1: brokers (1) and controllers (2).
const ENDPOINT_BROKERS: i8 = 1;

/// `UNSUPPORTED_ENDPOINT_TYPE`: a broker describes brokers only, as Kafka's do.
const UNSUPPORTED_ENDPOINT_TYPE: i16 = 119;

/// Handles DescribeCluster.
pub async fn handle(
    ctx: &Ctx,
    version: i16,
    req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let image = ctx.shard.metadata();
    let endpoint_type = if version >= 1 {
        req.endpoint_type
    } else {
        ENDPOINT_BROKERS
    };
    let base = DescribeClusterResponse::default()
        .with_endpoint_type(endpoint_type)
        .with_cluster_id(StrBytes::from_string(cluster_id_text(&image)))
        .with_controller_id(BrokerId(-1))
        .with_cluster_authorized_operations(OPERATIONS_OMITTED);
    if endpoint_type != ENDPOINT_BROKERS {
        return base
            .with_error_code(UNSUPPORTED_ENDPOINT_TYPE)
            .with_error_message(Some(StrBytes::from_static_str(
                "a broker describes brokers; ask a controller for controllers",
            )));
    }
    let brokers = live_brokers(ctx, &image)
        .into_iter()
        .map(|(id, host, port, rack)| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(id))
                .with_host(StrBytes::from_string(host))
                .with_port(i32::from(port))
                .with_rack(rack.map(StrBytes::from_string))
        })
        .collect();
    base.with_error_code(codes::NONE)
        .with_controller_id(BrokerId(controller_id(ctx, &image)))
        .with_brokers(brokers)
        .with_cluster_authorized_operations(ctx.authorized_operations(
            req.include_cluster_authorized_operations,
            resource_type::CLUSTER,
            CLUSTER_NAME,
        ))
}
