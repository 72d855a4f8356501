//! `myelin groups …`, `myelin cluster …`, `myelin topic …` and `myelin config …`: operator commands spoken over the Kafka protocol
//! to any broker (this one or another Kafka-compatible one). Group commands go to the group's
//! coordinator and offset lookups to each partition's leader, found from Metadata and
//! FindCoordinator as a Kafka client finds them.

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

mod topic;
pub use topic::{run_config, run_topic, ConfigCommand, TopicCommand};

/// A Kafka error code by its name, with the broker's message when it sent one.
fn error_text(code: i16, message: Option<&StrBytes>) -> String {
    let text = kafka_protocol::ResponseError::try_from_code(code)
        .map(|e| format!("{e:?}"))
        .unwrap_or_else(|| format!("error {code}"));
    match message.filter(|m| !m.is_empty()) {
        Some(m) => format!("{text}: {m}"),
        None => text,
    }
}

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

/// The `cluster` subcommands.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// The brokers, the controller quorum, and every partition's leader, replicas and ISR.
    Describe {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// A blocking Kafka client for a handful of admin requests.
pub(crate) struct Client {
    stream: TcpStream,
    correlation_id: i32,
}

impl Client {
    pub(crate) fn connect(bootstrap: &str) -> anyhow::Result<Client> {
        let stream =
            TcpStream::connect(bootstrap).with_context(|| format!("connecting to {bootstrap}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Client {
            stream,
            correlation_id: 0,
        })
    }

    pub(crate) fn call<Q: Encodable, R: Decodable>(
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

    /// Metadata for `topics` (`None`: every topic). It never creates a topic: an operator
    /// asking about a topic must not make it, as Kafka's tools do not.
    pub(crate) fn metadata(&mut self, topics: Option<&[&str]>) -> anyhow::Result<MetadataResponse> {
        let topics = topics.map(|names| {
            names
                .iter()
                .map(|n| {
                    metadata_request::MetadataRequestTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string(n.to_string()))))
                })
                .collect()
        });
        let req = MetadataRequest::default()
            .with_allow_auto_topic_creation(false)
            .with_topics(topics);
        self.call(ApiKey::Metadata, 9, &req)
    }

    /// One topic's Metadata and the brokers; an error when the broker has no such topic.
    pub(crate) fn topic_metadata(
        &mut self,
        topic: &str,
    ) -> anyhow::Result<(
        metadata_response::MetadataResponseTopic,
        Vec<metadata_response::MetadataResponseBroker>,
    )> {
        let resp = self.metadata(Some(&[topic]))?;
        let t = resp
            .topics
            .into_iter()
            .next()
            .context("no topic in the answer")?;
        if t.error_code != 0 {
            bail!("topic {topic}: {}", error_text(t.error_code, None));
        }
        Ok((t, resp.brokers))
    }

    /// The brokers as Metadata lists them: id → `host:port`.
    fn brokers(&mut self) -> anyhow::Result<Vec<(i32, String)>> {
        let resp = self.metadata(Some(&[]))?;
        Ok(resp
            .brokers
            .iter()
            .map(|b| (b.node_id.0, format!("{}:{}", b.host, b.port)))
            .collect())
    }

    /// A client connected to the coordinator of `group`.
    fn coordinator(&mut self, group: &str) -> anyhow::Result<Client> {
        let req =
            FindCoordinatorRequest::default().with_key(StrBytes::from_string(group.to_string()));
        let resp: FindCoordinatorResponse = self.call(ApiKey::FindCoordinator, 2, &req)?;
        if resp.error_code != 0 {
            bail!(
                "no coordinator for group {group}: error {}",
                resp.error_code
            );
        }
        Client::connect(&format!("{}:{}", resp.host, resp.port))
    }

    /// The leader of each partition of `topic`: partition → `host:port`.
    fn leaders(&mut self, topic: &str) -> anyhow::Result<Vec<(i32, String)>> {
        let (t, brokers) = self.topic_metadata(topic)?;
        let addr = |id: i32| {
            brokers
                .iter()
                .find(|b| b.node_id.0 == id)
                .map(|b| format!("{}:{}", b.host, b.port))
        };
        t.partitions
            .iter()
            .map(|p| {
                addr(p.leader_id.0)
                    .map(|a| (p.partition_index, a))
                    .with_context(|| format!("{topic}/{} has no leader", p.partition_index))
            })
            .collect()
    }

    /// ListOffsets for `partitions` of `topic`, each asked of its leader.
    fn offsets_at(
        &mut self,
        topic: &str,
        partitions: &[i32],
        timestamp: i64,
    ) -> anyhow::Result<Vec<(i32, i64)>> {
        let leaders = self.leaders(topic)?;
        let mut out = Vec::new();
        for p in partitions {
            let addr = leaders
                .iter()
                .find(|(q, _)| q == p)
                .map(|(_, a)| a.clone())
                .with_context(|| format!("{topic}/{p} does not exist"))?;
            out.extend(Client::connect(&addr)?.list_offsets(topic, &[*p], timestamp)?);
        }
        Ok(out)
    }

    fn partitions(&mut self, topic: &str) -> anyhow::Result<i32> {
        Ok(self.topic_metadata(topic)?.0.partitions.len() as i32)
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
    let mut boot = Client::connect(bootstrap)?;
    if let GroupsCommand::List = command {
        // Every broker coordinates some groups: ask each.
        for (_, addr) in boot.brokers()? {
            let mut b = Client::connect(&addr)?;
            let resp: ListGroupsResponse =
                b.call(ApiKey::ListGroups, 4, &ListGroupsRequest::default())?;
            for g in resp.groups {
                println!("{}\t{}\t{}", g.group_id.0, g.group_state, g.protocol_type);
            }
        }
        return Ok(());
    }
    let group = match &command {
        GroupsCommand::List => String::new(),
        GroupsCommand::Describe { group }
        | GroupsCommand::Lag { group }
        | GroupsCommand::ResetOffsets { group, .. }
        | GroupsCommand::Delete { group } => group.clone(),
    };
    let mut c = boot.coordinator(&group)?;
    match command {
        GroupsCommand::List => {}
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
                let end = boot
                    .offsets_at(&topic, &[partition], -1)?
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
            let n = boot.partitions(&topic)?;
            let partitions: Vec<i32> = (0..n).collect();
            let spec = match to {
                ResetTo::Earliest => -2,
                ResetTo::Latest => -1,
                ResetTo::Timestamp(ts) => ts,
            };
            let mut targets = boot.offsets_at(&topic, &partitions, spec)?;
            // A time after every record resets to the end.
            let ends = boot.offsets_at(&topic, &partitions, -1)?;
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

/// Runs a `cluster` subcommand against `bootstrap`, printing to stdout.
pub fn run_cluster(bootstrap: &str, command: ClusterCommand) -> anyhow::Result<()> {
    let ClusterCommand::Describe { json } = command;
    let mut c = Client::connect(bootstrap)?;
    let cluster: DescribeClusterResponse = c.call(
        ApiKey::DescribeCluster,
        0,
        &DescribeClusterRequest::default(),
    )?;
    let quorum_req = DescribeQuorumRequest::default().with_topics(vec![
        describe_quorum_request::TopicData::default()
            .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
            .with_partitions(vec![describe_quorum_request::PartitionData::default()]),
    ]);
    let quorum: DescribeQuorumResponse = c.call(ApiKey::DescribeQuorum, 1, &quorum_req)?;
    let meta = c.metadata(None)?;
    let q = quorum
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .cloned()
        .unwrap_or_default();
    let brokers: Vec<serde_json::Value> = cluster
        .brokers
        .iter()
        .map(|b| {
            serde_json::json!({
                "id": b.broker_id.0, "host": b.host.as_str(), "port": b.port,
                "rack": b.rack.as_ref().map(|r| r.as_str()),
            })
        })
        .collect();
    let voters: Vec<serde_json::Value> = q
        .current_voters
        .iter()
        .map(|v| {
            serde_json::json!({
                "id": v.replica_id.0, "log_end_offset": v.log_end_offset,
                "lag": q.high_watermark - v.log_end_offset,
                "last_fetch_ms": v.last_fetch_timestamp,
            })
        })
        .collect();
    let mut topics: Vec<serde_json::Value> = Vec::new();
    for t in &meta.topics {
        let name = t.name.as_ref().map_or("", |n| n.0.as_str());
        let partitions: Vec<serde_json::Value> = t
            .partitions
            .iter()
            .map(|p| {
                let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<i32>>();
                serde_json::json!({
                    "partition": p.partition_index, "leader": p.leader_id.0,
                    "leader_epoch": p.leader_epoch, "replicas": ids(&p.replica_nodes),
                    "isr": ids(&p.isr_nodes), "offline": ids(&p.offline_replicas),
                })
            })
            .collect();
        topics.push(serde_json::json!({"name": name, "partitions": partitions}));
    }
    let doc = serde_json::json!({
        "cluster_id": cluster.cluster_id.as_str(),
        "controller": {"leader": q.leader_id.0, "epoch": q.leader_epoch,
                       "high_watermark": q.high_watermark, "voters": voters},
        "brokers": brokers,
        "topics": topics,
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!("cluster {}", cluster.cluster_id.as_str());
    println!(
        "controller leader {} epoch {} high watermark {}",
        q.leader_id.0, q.leader_epoch, q.high_watermark
    );
    for v in &q.current_voters {
        println!(
            "  voter {} log end {} lag {}",
            v.replica_id.0,
            v.log_end_offset,
            q.high_watermark - v.log_end_offset
        );
    }
    println!("BROKER\tHOST\tPORT\tRACK");
    for b in &cluster.brokers {
        let rack = b.rack.as_ref().map_or("-", |r| r.as_str());
        println!("{}\t{}\t{}\t{rack}", b.broker_id.0, b.host.as_str(), b.port);
    }
    println!("TOPIC\tPARTITION\tLEADER\tEPOCH\tREPLICAS\tISR\tOFFLINE");
    for t in &meta.topics {
        let name = t.name.as_ref().map_or("", |n| n.0.as_str());
        for p in &t.partitions {
            let list = |v: &[BrokerId]| {
                v.iter()
                    .map(|b| b.0.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            println!(
                "{name}\t{}\t{}\t{}\t{}\t{}\t{}",
                p.partition_index,
                p.leader_id.0,
                p.leader_epoch,
                list(&p.replica_nodes),
                list(&p.isr_nodes),
                list(&p.offline_replicas)
            );
        }
    }
    Ok(())
}
