//! `myelin groups …`: operator commands for consumer groups, spoken over the Kafka protocol to
//! any broker (this one or another Kafka-compatible one): list, describe, lag, reset offsets,
//! delete.

use anyhow::{bail, Context};
use bytes::{Bytes, BytesMut};
use clap::Subcommand;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Largest response the admin client accepts.
const RESPONSE_BYTES_MAX: usize = 64 << 20;

/// Where to reset a group's offsets.
#[derive(Debug, Clone, Copy)]
pub enum ResetTo {
    /// The log start offset.
    Earliest,
    /// The high watermark.
    Latest,
    /// The first offset at or after a time (ms since the epoch).
    Timestamp(i64),
}

/// The `groups` subcommands.
#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    /// List the groups.
    List,
    /// State, protocol and members of a group.
    Describe {
        /// The group.
        #[arg(long)]
        group: String,
    },
    /// Committed offset, end offset and lag per partition.
    Lag {
        /// The group.
        #[arg(long)]
        group: String,
    },
    /// Move a group's committed offsets (the group must have no members).
    ResetOffsets {
        /// The group.
        #[arg(long)]
        group: String,
        /// The topic whose partitions are reset.
        #[arg(long)]
        topic: String,
        /// To the earliest offset.
        #[arg(long, conflicts_with_all = ["to_latest", "to_datetime"])]
        to_earliest: bool,
        /// To the latest offset.
        #[arg(long, conflicts_with = "to_datetime")]
        to_latest: bool,
        /// To the first offset at or after this time, in ms since the epoch.
        #[arg(long)]
        to_datetime: Option<i64>,
    },
    /// Delete a group without members, with its offsets.
    Delete {
        /// The group.
        #[arg(long)]
        group: String,
    },
}

/// A blocking Kafka client for a handful of admin requests.
struct Client {
    stream: TcpStream,
    correlation_id: i32,
}

impl Client {
    fn connect(bootstrap: &str) -> anyhow::Result<Client> {
        let stream =
            TcpStream::connect(bootstrap).with_context(|| format!("connecting to {bootstrap}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Client {
            stream,
            correlation_id: 0,
        })
    }

    fn call<Q: Encodable, R: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        req: &Q,
    ) -> anyhow::Result<R> {
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("myelin-admin")));
        let mut buf = BytesMut::new();
        header.encode(&mut buf, key.request_header_version(version))?;
        req.encode(&mut buf, version)?;
        self.stream.write_all(&(buf.len() as i32).to_be_bytes())?;
        self.stream.write_all(&buf)?;
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let len = i32::from_be_bytes(len);
        if len < 0 || len as usize > RESPONSE_BYTES_MAX {
            bail!("response of {len} bytes");
        }
        let mut body = vec![0u8; len as usize];
        self.stream.read_exact(&mut body)?;
        let mut body = Bytes::from(body);
        let header = ResponseHeader::decode(&mut body, key.response_header_version(version))?;
        if header.correlation_id != self.correlation_id {
            bail!("response out of order");
        }
        R::decode(&mut body, version)
    }

    fn partitions(&mut self, topic: &str) -> anyhow::Result<i32> {
        let req = MetadataRequest::default()
            .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
            )
            .with_name(Some(TopicName(StrBytes::from_string(topic.to_string()))))]));
        let resp: MetadataResponse = self.call(ApiKey::Metadata, 9, &req)?;
        let t = resp.topics.first().context("no topic in the answer")?;
        if t.error_code != 0 {
            bail!("topic {topic}: error {}", t.error_code);
        }
        Ok(t.partitions.len() as i32)
    }

    /// Offsets of `topic`'s partitions for a ListOffsets timestamp.
    fn list_offsets(
        &mut self,
        topic: &str,
        partitions: &[i32],
        timestamp: i64,
    ) -> anyhow::Result<Vec<(i32, i64)>> {
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|p| {
                            ListOffsetsPartition::default()
                                .with_partition_index(*p)
                                .with_timestamp(timestamp)
                        })
                        .collect(),
                )]);
        let resp: ListOffsetsResponse = self.call(ApiKey::ListOffsets, 7, &req)?;
        let mut out = Vec::new();
        for t in resp.topics {
            for p in t.partitions {
                if p.error_code != 0 {
                    bail!("{topic}/{}: error {}", p.partition_index, p.error_code);
                }
                out.push((p.partition_index, p.offset));
            }
        }
        Ok(out)
    }

    /// Committed offsets of a group: (topic, partition, offset).
    fn committed(&mut self, group: &str) -> anyhow::Result<Vec<(String, i32, i64)>> {
        let req =
            OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
                .with_topics(None)]);
        let resp: OffsetFetchResponse = self.call(ApiKey::OffsetFetch, 8, &req)?;
        let mut out = Vec::new();
        for g in resp.groups {
            if g.error_code != 0 {
                bail!("group {group}: error {}", g.error_code);
            }
            for t in g.topics {
                for p in t.partitions {
                    out.push((t.name.0.to_string(), p.partition_index, p.committed_offset));
                }
            }
        }
        Ok(out)
    }
}

/// Runs a `groups` subcommand against `bootstrap`, printing to stdout.
pub fn run(bootstrap: &str, command: GroupsCommand) -> anyhow::Result<()> {
    let mut c = Client::connect(bootstrap)?;
    match command {
        GroupsCommand::List => {
            let resp: ListGroupsResponse =
                c.call(ApiKey::ListGroups, 4, &ListGroupsRequest::default())?;
            for g in resp.groups {
                println!("{}\t{}\t{}", g.group_id.0, g.group_state, g.protocol_type);
            }
        }
        GroupsCommand::Describe { group } => {
            let req = DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(StrBytes::from_string(group.clone()))]);
            let resp: DescribeGroupsResponse = c.call(ApiKey::DescribeGroups, 5, &req)?;
            for g in resp.groups {
                if g.error_code != 0 {
                    bail!("group {group}: error {}", g.error_code);
                }
                println!(
                    "group {} state {} protocol {} {}",
                    g.group_id.0, g.group_state, g.protocol_type, g.protocol_data
                );
                for m in g.members {
                    println!(
                        "  member {} client {} host {}",
                        m.member_id, m.client_id, m.client_host
                    );
                }
            }
        }
        GroupsCommand::Lag { group } => {
            println!("TOPIC\tPARTITION\tCOMMITTED\tEND\tLAG");
            let committed = c.committed(&group)?;
            let mut total = 0i64;
            for (topic, partition, offset) in committed {
                let end = c
                    .list_offsets(&topic, &[partition], -1)?
                    .first()
                    .map_or(-1, |(_, o)| *o);
                let lag = if offset >= 0 {
                    (end - offset).max(0)
                } else {
                    end
                };
                total += lag;
                println!("{topic}\t{partition}\t{offset}\t{end}\t{lag}");
            }
            println!("TOTAL LAG\t{total}");
        }
        GroupsCommand::ResetOffsets {
            group,
            topic,
            to_earliest,
            to_latest,
            to_datetime,
        } => {
            let to = match (to_earliest, to_latest, to_datetime) {
                (true, _, _) => ResetTo::Earliest,
                (_, true, _) => ResetTo::Latest,
                (_, _, Some(ts)) => ResetTo::Timestamp(ts),
                _ => bail!("say where to: --to-earliest, --to-latest or --to-datetime"),
            };
            let n = c.partitions(&topic)?;
            let partitions: Vec<i32> = (0..n).collect();
            let spec = match to {
                ResetTo::Earliest => -2,
                ResetTo::Latest => -1,
                ResetTo::Timestamp(ts) => ts,
            };
            let mut targets = c.list_offsets(&topic, &partitions, spec)?;
            // A time after every record resets to the end.
            let ends = c.list_offsets(&topic, &partitions, -1)?;
            for (p, o) in targets.iter_mut() {
                if *o < 0 {
                    *o = ends.iter().find(|(q, _)| q == p).map_or(0, |(_, e)| *e);
                }
            }
            let req = OffsetCommitRequest::default()
                .with_group_id(GroupId(StrBytes::from_string(group.clone())))
                .with_generation_id_or_member_epoch(-1)
                .with_topics(vec![OffsetCommitRequestTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.clone())))
                    .with_partitions(
                        targets
                            .iter()
                            .map(|(p, o)| {
                                OffsetCommitRequestPartition::default()
                                    .with_partition_index(*p)
                                    .with_committed_offset(*o)
                            })
                            .collect(),
                    )]);
            let resp: OffsetCommitResponse = c.call(ApiKey::OffsetCommit, 8, &req)?;
            for t in resp.topics {
                for p in t.partitions {
                    if p.error_code != 0 {
                        bail!(
                            "{topic}/{}: error {} (a group with members cannot be reset)",
                            p.partition_index,
                            p.error_code
                        );
                    }
                }
            }
            for (p, o) in targets {
                println!("{topic}\t{p}\t{o}");
            }
        }
        GroupsCommand::Delete { group } => {
            let req = DeleteGroupsRequest::default()
                .with_groups_names(vec![GroupId(StrBytes::from_string(group.clone()))]);
            let resp: DeleteGroupsResponse = c.call(ApiKey::DeleteGroups, 2, &req)?;
            for r in resp.results {
                if r.error_code != 0 {
                    bail!("group {group}: error {}", r.error_code);
                }
            }
            println!("deleted {group}");
        }
    }
    Ok(())
}
