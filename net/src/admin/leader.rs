//! The message browser's reads of a partition another broker leads: Kafka requests to the
//! leader's listener (the address cluster metadata has for it), over the admin listener's own
//! broker connections. ListOffsets finds the log start, the high watermark and the offset
//! for a time; Fetch reads batches, as a debugging consumer (replica id -2) so that the
//! leader does not take the browser's read for a consumer's first fetch.
//!
//! The leader authorizes these requests as it does any client's on that listener: with an
//! authorizer on, the connection's principal (ANONYMOUS on PLAINTEXT) needs DESCRIBE and
//! READ on the topic.

use super::report::AdminPeers;
use crate::api::fetch::DEBUGGING_CONSUMER_ID;
use crate::codes;
use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::rc::Rc;

/// ListOffsets v7 and Fetch v12: the last versions that name topics (Fetch v13+ takes ids).
const LIST_OFFSETS_VERSION: i16 = 7;
const FETCH_VERSION: i16 = 12;

/// ListOffsets' timestamps for the high watermark and the log start.
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;

/// The leader of a partition, reached through its Kafka listener.
pub(super) struct Leader {
    pub(super) node: i32,
    pub(super) addr: String,
    pub(super) peers: Rc<AdminPeers>,
}

/// A read from the leader: its batches (whole, but for a last one cut short) and its high
/// watermark.
pub(super) struct LeaderRead {
    pub(super) records: Bytes,
    pub(super) high_watermark: i64,
}

/// Why the leader's answer is no page: the HTTP status and the reason.
pub(super) type Failed = (u16, String);

impl Leader {
    fn failed(&self, what: &str, code: i16) -> Failed {
        let status = match code {
            codes::UNKNOWN_TOPIC_OR_PARTITION => 404,
            codes::OFFSET_OUT_OF_RANGE => 400,
            codes::TOPIC_AUTHORIZATION_FAILED => 403,
            // Leadership is moving: the next request finds the new leader.
            codes::NOT_LEADER_OR_FOLLOWER | codes::LEADER_NOT_AVAILABLE => 503,
            _ => 502,
        };
        let why = format!(
            "{what} on the partition's leader, broker {} at {}: error code {code}",
            self.node, self.addr
        );
        (status, why)
    }

    /// Sends `req` to the leader and decodes its answer.
    async fn ask<Req: Encodable, Resp: Decodable>(
        &self,
        key: ApiKey,
        version: i16,
        req: &Req,
    ) -> Result<Resp, Failed> {
        self.peers
            .0
            .request(&self.addr, key, version, req)
            .await
            .map_err(|e| {
                let why = format!(
                    "the partition's leader, broker {} at {}, did not answer: {e}",
                    self.node, self.addr
                );
                (502, why)
            })
    }

    /// The answer for the partition asked about, if it carries no error.
    fn answer<P>(
        &self,
        what: &str,
        found: Option<P>,
        code: impl Fn(&P) -> i16,
    ) -> Result<P, Failed> {
        let p = found.ok_or_else(|| self.failed(what, codes::UNKNOWN_TOPIC_OR_PARTITION))?;
        match code(&p) {
            codes::NONE => Ok(p),
            e => Err(self.failed(what, e)),
        }
    }

    /// ListOffsets of one partition at `timestamp` (-1 latest, -2 earliest, or a time): the
    /// offset, -1 when no record is that new.
    pub(super) async fn list_offset(
        &self,
        topic: &str,
        partition: i32,
        timestamp: i64,
    ) -> Result<i64, Failed> {
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_timestamp(timestamp)])]);
        let resp: ListOffsetsResponse = self
            .ask(ApiKey::ListOffsets, LIST_OFFSETS_VERSION, &req)
            .await?;
        let found = resp
            .topics
            .into_iter()
            .flat_map(|t| t.partitions)
            .find(|p| p.partition_index == partition);
        Ok(self.answer("ListOffsets", found, |p| p.error_code)?.offset)
    }

    /// The partition's log start offset and high watermark.
    pub(super) async fn offsets(&self, topic: &str, partition: i32) -> Result<(i64, i64), Failed> {
        let log_start = self.list_offset(topic, partition, EARLIEST).await?;
        let high_watermark = self.list_offset(topic, partition, LATEST).await?;
        Ok((log_start, high_watermark))
    }

    /// Fetches up to `max_bytes` of batches from `offset`, without waiting for new ones.
    pub(super) async fn fetch(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
    ) -> Result<LeaderRead, Failed> {
        let max_bytes = i32::try_from(max_bytes).unwrap_or(i32::MAX);
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(DEBUGGING_CONSUMER_ID))
            .with_max_wait_ms(0)
            .with_min_bytes(0)
            .with_max_bytes(max_bytes)
            .with_isolation_level(0)
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_current_leader_epoch(-1)
                    .with_fetch_offset(offset)
                    .with_log_start_offset(-1)
                    .with_partition_max_bytes(max_bytes)])]);
        let resp: FetchResponse = self.ask(ApiKey::Fetch, FETCH_VERSION, &req).await?;
        let found = resp
            .responses
            .into_iter()
            .flat_map(|t| t.partitions)
            .find(|p| p.partition_index == partition);
        let p = self.answer("Fetch", found, |p| p.error_code)?;
        Ok(LeaderRead {
            records: p.records.unwrap_or_default(),
            high_watermark: p.high_watermark,
        })
    }
}
