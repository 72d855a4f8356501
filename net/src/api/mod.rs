//! The Kafka APIs Myelin serves: one module per API key, each declaring its key and the
//! versions it implements. [`APIS`] is the one table ApiVersions is generated from, so the
//! broker can never advertise a handler that does not exist.

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_client_quotas;
pub mod alter_configs;
pub mod alter_partition_reassignments;
pub mod alter_user_scram_credentials;
pub mod api_versions;
pub(crate) mod controller;
pub mod create_acls;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_acls;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_acls;
pub mod describe_client_quotas;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_producers;
pub mod describe_quorum;
pub mod describe_topic_partitions;
pub mod describe_transactions;
pub mod describe_user_scram_credentials;
pub mod elect_leaders;
pub mod end_txn;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod list_partition_reassignments;
pub mod list_transactions;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sasl_authenticate;
pub mod sasl_handshake;
pub mod sync_group;
pub mod txn_offset_commit;
pub mod write_txn_markers;

use crate::server::Ctx;
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};
use std::ops::RangeInclusive;

/// One implemented API and the versions implemented.
pub struct Api {
    /// The API key.
    pub key: ApiKey,
    /// Versions implemented, all of them end to end.
    pub versions: RangeInclusive<i16>,
}

/// Every API the broker implements.
pub const APIS: &[Api] = &[
    Api {
        key: produce::API_KEY,
        versions: produce::VERSIONS,
    },
    Api {
        key: fetch::API_KEY,
        versions: fetch::VERSIONS,
    },
    Api {
        key: list_offsets::API_KEY,
        versions: list_offsets::VERSIONS,
    },
    Api {
        key: metadata::API_KEY,
        versions: metadata::VERSIONS,
    },
    Api {
        key: api_versions::API_KEY,
        versions: api_versions::VERSIONS,
    },
    Api {
        key: create_topics::API_KEY,
        versions: create_topics::VERSIONS,
    },
    Api {
        key: delete_topics::API_KEY,
        versions: delete_topics::VERSIONS,
    },
    Api {
        key: create_partitions::API_KEY,
        versions: create_partitions::VERSIONS,
    },
    Api {
        key: describe_configs::API_KEY,
        versions: describe_configs::VERSIONS,
    },
    Api {
        key: incremental_alter_configs::API_KEY,
        versions: incremental_alter_configs::VERSIONS,
    },
    Api {
        key: alter_configs::API_KEY,
        versions: alter_configs::VERSIONS,
    },
    Api {
        key: delete_records::API_KEY,
        versions: delete_records::VERSIONS,
    },
    Api {
        key: describe_log_dirs::API_KEY,
        versions: describe_log_dirs::VERSIONS,
    },
    Api {
        key: find_coordinator::API_KEY,
        versions: find_coordinator::VERSIONS,
    },
    Api {
        key: join_group::API_KEY,
        versions: join_group::VERSIONS,
    },
    Api {
        key: sync_group::API_KEY,
        versions: sync_group::VERSIONS,
    },
    Api {
        key: heartbeat::API_KEY,
        versions: heartbeat::VERSIONS,
    },
    Api {
        key: leave_group::API_KEY,
        versions: leave_group::VERSIONS,
    },
    Api {
        key: offset_commit::API_KEY,
        versions: offset_commit::VERSIONS,
    },
    Api {
        key: offset_fetch::API_KEY,
        versions: offset_fetch::VERSIONS,
    },
    Api {
        key: list_groups::API_KEY,
        versions: list_groups::VERSIONS,
    },
    Api {
        key: describe_groups::API_KEY,
        versions: describe_groups::VERSIONS,
    },
    Api {
        key: delete_groups::API_KEY,
        versions: delete_groups::VERSIONS,
    },
    Api {
        key: offset_delete::API_KEY,
        versions: offset_delete::VERSIONS,
    },
    Api {
        key: init_producer_id::API_KEY,
        versions: init_producer_id::VERSIONS,
    },
    Api {
        key: add_partitions_to_txn::API_KEY,
        versions: add_partitions_to_txn::VERSIONS,
    },
    Api {
        key: add_offsets_to_txn::API_KEY,
        versions: add_offsets_to_txn::VERSIONS,
    },
    Api {
        key: end_txn::API_KEY,
        versions: end_txn::VERSIONS,
    },
    Api {
        key: txn_offset_commit::API_KEY,
        versions: txn_offset_commit::VERSIONS,
    },
    Api {
        key: describe_transactions::API_KEY,
        versions: describe_transactions::VERSIONS,
    },
    Api {
        key: describe_producers::API_KEY,
        versions: describe_producers::VERSIONS,
    },
    Api {
        key: list_transactions::API_KEY,
        versions: list_transactions::VERSIONS,
    },
    Api {
        key: write_txn_markers::API_KEY,
        versions: write_txn_markers::VERSIONS,
    },
    Api {
        key: describe_cluster::API_KEY,
        versions: describe_cluster::VERSIONS,
    },
    Api {
        key: describe_quorum::API_KEY,
        versions: describe_quorum::VERSIONS,
    },
    Api {
        key: describe_topic_partitions::API_KEY,
        versions: describe_topic_partitions::VERSIONS,
    },
    Api {
        key: elect_leaders::API_KEY,
        versions: elect_leaders::VERSIONS,
    },
    Api {
        key: offset_for_leader_epoch::API_KEY,
        versions: offset_for_leader_epoch::VERSIONS,
    },
    Api {
        key: alter_partition_reassignments::API_KEY,
        versions: alter_partition_reassignments::VERSIONS,
    },
    Api {
        key: list_partition_reassignments::API_KEY,
        versions: list_partition_reassignments::VERSIONS,
    },
    Api {
        key: describe_acls::API_KEY,
        versions: describe_acls::VERSIONS,
    },
    Api {
        key: create_acls::API_KEY,
        versions: create_acls::VERSIONS,
    },
    Api {
        key: delete_acls::API_KEY,
        versions: delete_acls::VERSIONS,
    },
    Api {
        key: sasl_handshake::API_KEY,
        versions: sasl_handshake::VERSIONS,
    },
    Api {
        key: sasl_authenticate::API_KEY,
        versions: sasl_authenticate::VERSIONS,
    },
    Api {
        key: describe_user_scram_credentials::API_KEY,
        versions: describe_user_scram_credentials::VERSIONS,
    },
    Api {
        key: alter_user_scram_credentials::API_KEY,
        versions: alter_user_scram_credentials::VERSIONS,
    },
    Api {
        key: describe_client_quotas::API_KEY,
        versions: describe_client_quotas::VERSIONS,
    },
    Api {
        key: alter_client_quotas::API_KEY,
        versions: alter_client_quotas::VERSIONS,
    },
];

/// The implemented version range of `key`, if it is implemented.
pub fn versions(key: ApiKey) -> Option<&'static RangeInclusive<i16>> {
    APIS.iter().find(|a| a.key == key).map(|a| &a.versions)
}

/// Why a request got no response and the connection must close.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The body did not decode at the version the header claims.
    #[error("malformed {key:?} v{version} request: {reason}")]
    Malformed {
        /// API key.
        key: ApiKey,
        /// Version claimed.
        version: i16,
        /// Decoder message.
        reason: String,
    },
    /// The API or the version is not implemented.
    #[error("unsupported {0:?} v{1}")]
    Unsupported(ApiKey, i16),
    /// The response could not be encoded.
    #[error("encoding the response failed: {0}")]
    Encode(String),
    /// A request other than ApiVersions, SaslHandshake or SaslAuthenticate on a SASL
    /// listener before authentication, or after the session expired (KIP-368).
    #[error("{0:?} before authentication")]
    Unauthenticated(ApiKey),
    /// The response goes out, then the connection closes (a failed authentication).
    #[error("closing after the response: {reason}")]
    CloseAfter {
        /// The response frame.
        response: BytesMut,
        /// Why.
        reason: String,
    },
}

/// Decodes a request body without letting a decoder panic take down the shard.
pub(crate) fn decode<T: Decodable>(
    key: ApiKey,
    version: i16,
    body: &mut Bytes,
) -> Result<T, DispatchError> {
    let malformed = |reason: String| DispatchError::Malformed {
        key,
        version,
        reason,
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| T::decode(body, version))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(malformed(e.to_string())),
        Err(_) => Err(malformed("decoder panicked".into())),
    }
}

/// Encodes a whole response frame: size, header, body.
pub(crate) fn frame<T: Encodable>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &T,
) -> Result<BytesMut, DispatchError> {
    let header_version = key.response_header_version(version);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(&[0u8; 4]);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| DispatchError::Encode(e.to_string()))?;
    body.encode(&mut buf, version)
        .map_err(|e| DispatchError::Encode(e.to_string()))?;
    let len = (buf.len() - 4) as i32;
    if let Some(prefix) = buf.get_mut(..4) {
        prefix.copy_from_slice(&len.to_be_bytes());
    }
    Ok(buf)
}

/// Runs one request and returns its response frame (`None` when Kafka sends none, as for
/// `acks=0` produce).
pub async fn dispatch(
    ctx: &Ctx,
    header: &RequestHeader,
    mut body: Bytes,
    dispatched: futures::channel::oneshot::Sender<()>,
) -> Result<Option<BytesMut>, DispatchError> {
    let version = header.request_api_version;
    let key = ApiKey::try_from(header.request_api_key)
        .map_err(|_| DispatchError::Unsupported(ApiKey::Produce, version))?;
    let cid = header.correlation_id;
    if key == ApiKey::ApiVersions {
        // Answered even at unsupported versions, as Kafka does (with the v0 layout).
        return api_versions::handle(ctx, version, cid, &mut body).map(Some);
    }
    if ctx.server.protocol.sasl()
        && !matches!(key, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate)
        && (!ctx.identity.is_authenticated() || ctx.identity.expired(std::time::Instant::now()))
    {
        return Err(DispatchError::Unauthenticated(key));
    }
    match versions(key) {
        Some(r) if r.contains(&version) => {}
        _ => return Err(DispatchError::Unsupported(key, version)),
    }
    let b = &mut body;
    // The common shape: decode at the version, handle, frame the response.
    macro_rules! handled {
        ($api:ident) => {
            frame(
                key,
                version,
                cid,
                &$api::handle(ctx, version, decode(key, version, b)?).await,
            )?
        };
    }
    let out = match key {
        ApiKey::Produce => {
            let throttle_ms = crate::quota::enforce::produce(ctx, header, b.len());
            match produce::handle(ctx, version, decode(key, version, b)?, dispatched).await {
                Some(resp) => {
                    let resp = resp.with_throttle_time_ms(throttle_ms);
                    frame(key, version, cid, &resp)?
                }
                None => return Ok(None),
            }
        }
        ApiKey::Fetch => {
            let mut req: kafka_protocol::messages::FetchRequest = decode(key, version, b)?;
            drop(dispatched);
            // Followers are not held to consumer quotas (as in Kafka).
            let follower = req.replica_id.0 >= 0 || req.replica_state.replica_id.0 >= 0;
            if !follower {
                req.max_bytes = crate::quota::enforce::fetch_max_bytes(ctx, header, req.max_bytes);
            }
            let resp = fetch::handle(ctx, version, req).await;
            let out = frame(key, version, cid, &resp)?;
            if follower {
                out
            } else {
                crate::quota::enforce::fetch(ctx, header, resp, out)?
            }
        }
        ApiKey::ListOffsets => handled!(list_offsets),
        ApiKey::Metadata => handled!(metadata),
        ApiKey::CreateTopics => handled!(create_topics),
        ApiKey::DeleteTopics => handled!(delete_topics),
        ApiKey::CreatePartitions => handled!(create_partitions),
        ApiKey::DescribeConfigs => handled!(describe_configs),
        ApiKey::IncrementalAlterConfigs => handled!(incremental_alter_configs),
        ApiKey::AlterConfigs => handled!(alter_configs),
        ApiKey::DeleteRecords => handled!(delete_records),
        ApiKey::DescribeLogDirs => handled!(describe_log_dirs),
        ApiKey::FindCoordinator => handled!(find_coordinator),
        ApiKey::JoinGroup => {
            let client_id = header
                .client_id
                .as_ref()
                .map(|c| c.to_string())
                .unwrap_or_default();
            let req = decode(key, version, b)?;
            frame(
                key,
                version,
                cid,
                &join_group::handle(ctx, version, req, client_id).await,
            )?
        }
        ApiKey::SyncGroup => handled!(sync_group),
        ApiKey::Heartbeat => handled!(heartbeat),
        ApiKey::LeaveGroup => handled!(leave_group),
        ApiKey::OffsetCommit => handled!(offset_commit),
        ApiKey::OffsetFetch => handled!(offset_fetch),
        ApiKey::ListGroups => handled!(list_groups),
        ApiKey::DescribeGroups => handled!(describe_groups),
        ApiKey::DeleteGroups => handled!(delete_groups),
        ApiKey::OffsetDelete => handled!(offset_delete),
        ApiKey::InitProducerId => handled!(init_producer_id),
        ApiKey::AddPartitionsToTxn => handled!(add_partitions_to_txn),
        ApiKey::AddOffsetsToTxn => handled!(add_offsets_to_txn),
        ApiKey::EndTxn => handled!(end_txn),
        ApiKey::TxnOffsetCommit => handled!(txn_offset_commit),
        ApiKey::DescribeTransactions => handled!(describe_transactions),
        ApiKey::DescribeProducers => handled!(describe_producers),
        ApiKey::ListTransactions => handled!(list_transactions),
        ApiKey::WriteTxnMarkers => handled!(write_txn_markers),
        ApiKey::DescribeCluster => handled!(describe_cluster),
        ApiKey::DescribeQuorum => handled!(describe_quorum),
        ApiKey::DescribeTopicPartitions => handled!(describe_topic_partitions),
        ApiKey::ElectLeaders => handled!(elect_leaders),
        ApiKey::OffsetForLeaderEpoch => handled!(offset_for_leader_epoch),
        ApiKey::AlterPartitionReassignments => handled!(alter_partition_reassignments),
        ApiKey::ListPartitionReassignments => handled!(list_partition_reassignments),
        ApiKey::DescribeAcls => handled!(describe_acls),
        ApiKey::CreateAcls => handled!(create_acls),
        ApiKey::DeleteAcls => handled!(delete_acls),
        ApiKey::SaslHandshake => handled!(sasl_handshake),
        ApiKey::SaslAuthenticate => {
            let req = decode(key, version, b)?;
            let (resp, after) = sasl_authenticate::handle(ctx, version, req).await;
            let response = frame(key, version, cid, &resp)?;
            if let sasl_authenticate::After::Close = after {
                return Err(DispatchError::CloseAfter {
                    response,
                    reason: "authentication failed".into(),
                });
            }
            response
        }
        ApiKey::DescribeUserScramCredentials => handled!(describe_user_scram_credentials),
        ApiKey::AlterUserScramCredentials => handled!(alter_user_scram_credentials),
        ApiKey::DescribeClientQuotas => handled!(describe_client_quotas),
        ApiKey::AlterClientQuotas => handled!(alter_client_quotas),
        _ => return Err(DispatchError::Unsupported(key, version)),
    };
    Ok(Some(out))
}
