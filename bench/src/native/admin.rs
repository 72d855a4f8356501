//! Set-up calls: create the run's topics, find each partition's leader, read start offsets.

use super::conn::Conn;
use crate::params::Params;
use anyhow::{bail, Context};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    CreateTopicsRequest, ListOffsetsRequest, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Kafka's TOPIC_ALREADY_EXISTS.
const TOPIC_ALREADY_EXISTS: i16 = 36;
/// How long set-up waits for every partition to have a leader.
const LEADERS_WAIT: Duration = Duration::from_secs(15);

/// One topic's partitions and the address of each one's leader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicLayout {
    /// Topic name.
    pub name: String,
    /// `(partition, leader address)`, ordered by partition.
    pub partitions: Vec<(i32, String)>,
}

fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// Creates the run's topics; ones that already exist are kept as they are.
pub async fn create_topics(conn: &mut Conn, p: &Params) -> anyhow::Result<()> {
    let mut req = CreateTopicsRequest::default();
    req.timeout_ms = 30_000;
    for name in p.topic_names() {
        let mut t = CreatableTopic::default();
        t.name = topic_name(&name);
        t.num_partitions = p.partitions;
        t.replication_factor = p.replication_factor;
        for (k, v) in &p.topic_configs {
            let mut c = CreatableTopicConfig::default();
            c.name = StrBytes::from_string(k.clone());
            c.value = Some(StrBytes::from_string(v.clone()));
            t.configs.push(c);
        }
        req.topics.push(t);
    }
    let version = conn.versions.create_topics;
    let resp = conn.call(&req, version).await.context("CreateTopics")?;
    for t in resp.topics {
        if t.error_code != 0 && t.error_code != TOPIC_ALREADY_EXISTS {
            bail!(
                "creating {}: error {} {}",
                t.name.0.as_str(),
                t.error_code,
                t.error_message.as_ref().map_or("", |m| m.as_str())
            );
        }
    }
    Ok(())
}

/// Reads each topic's partitions and leaders from a Metadata response.
pub fn layout(resp: &MetadataResponse, topics: &[String]) -> anyhow::Result<Vec<TopicLayout>> {
    let brokers: BTreeMap<i32, String> = resp
        .brokers
        .iter()
        .map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port)))
        .collect();
    let mut out = Vec::new();
    for name in topics {
        let t = resp
            .topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == name))
            .with_context(|| format!("topic {name} missing from metadata"))?;
        if t.error_code != 0 {
            bail!("metadata for {name}: error {}", t.error_code);
        }
        let mut partitions = Vec::new();
        for part in &t.partitions {
            if part.error_code != 0 {
                bail!("{name}-{}: error {}", part.partition_index, part.error_code);
            }
            let leader = brokers
                .get(&part.leader_id.0)
                .with_context(|| format!("{name}-{}: no leader yet", part.partition_index))?;
            partitions.push((part.partition_index, leader.clone()));
        }
        partitions.sort();
        out.push(TopicLayout {
            name: name.clone(),
            partitions,
        });
    }
    Ok(out)
}

/// Asks for metadata until every partition of `topics` has a leader.
pub async fn wait_for_layout(
    conn: &mut Conn,
    topics: &[String],
) -> anyhow::Result<Vec<TopicLayout>> {
    let mut req = MetadataRequest::default();
    req.topics = Some(
        topics
            .iter()
            .map(|n| {
                let mut t = MetadataRequestTopic::default();
                t.name = Some(topic_name(n));
                t
            })
            .collect(),
    );
    req.allow_auto_topic_creation = false;
    let deadline = Instant::now() + LEADERS_WAIT;
    loop {
        let version = conn.versions.metadata;
        let resp = conn.call(&req, version).await.context("Metadata")?;
        match layout(&resp, topics) {
            Ok(l) => return Ok(l),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => glommio::timer::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// A topic of `partitions` partitions and one replica, with the broker's default configs.
pub fn creatable(name: &str, partitions: i32) -> CreatableTopic {
    let mut t = CreatableTopic::default();
    t.name = topic_name(name);
    t.num_partitions = partitions;
    t.replication_factor = 1;
    t
}

/// One topic's answer to CreateTopics: its name, error code and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    /// Topic name.
    pub name: String,
    /// Kafka error code (0: created).
    pub error_code: i16,
    /// The broker's message, if any.
    pub message: Option<String>,
}

impl Created {
    /// Created now, or already there.
    pub fn ok(&self) -> bool {
        self.error_code == 0 || self.error_code == TOPIC_ALREADY_EXISTS
    }
}

/// Sends one CreateTopics request for `topics` and returns each topic's answer.
pub async fn create(
    conn: &mut Conn,
    topics: Vec<CreatableTopic>,
    timeout_ms: i32,
) -> anyhow::Result<Vec<Created>> {
    let mut req = CreateTopicsRequest::default();
    req.timeout_ms = timeout_ms;
    req.topics = topics;
    let version = conn.versions.create_topics;
    let resp = conn.call(&req, version).await.context("CreateTopics")?;
    Ok(resp
        .topics
        .into_iter()
        .map(|t| Created {
            name: t.name.0.to_string(),
            error_code: t.error_code,
            message: t.error_message.map(|m| m.to_string()),
        })
        .collect())
}

/// Asks for the metadata of `names` (never creating them).
pub async fn metadata(conn: &mut Conn, names: &[String]) -> anyhow::Result<MetadataResponse> {
    let version = conn.versions.metadata;
    if version < 4 {
        // Before v4 a Metadata request for a missing topic creates it.
        bail!("Metadata v{version}: need v4 or later to ask without creating topics");
    }
    let mut req = MetadataRequest::default();
    req.topics = Some(
        names
            .iter()
            .map(|n| {
                let mut t = MetadataRequestTopic::default();
                t.name = Some(topic_name(n));
                t
            })
            .collect(),
    );
    req.allow_auto_topic_creation = false;
    conn.call(&req, version).await.context("Metadata")
}

/// The leader of partition 0 of each topic a Metadata response lists.
pub fn first_leaders(resp: &MetadataResponse) -> Vec<(String, i32)> {
    resp.topics
        .iter()
        .filter_map(|t| {
            let p0 = t.partitions.iter().find(|p| p.partition_index == 0)?;
            Some((t.name.as_ref()?.0.to_string(), p0.leader_id.0))
        })
        .collect()
}

/// The node id a Metadata response gives the broker at `addr` (`host:port`).
pub fn node_id_of(resp: &MetadataResponse, addr: &str) -> Option<i32> {
    resp.brokers
        .iter()
        .find(|b| format!("{}:{}", b.host.as_str(), b.port) == addr)
        .map(|b| b.node_id.0)
}

/// The topics a Metadata response lists as served, with their partition counts: no error on
/// the topic or any partition, and every partition's leader among the response's brokers.
pub fn served(resp: &MetadataResponse) -> Vec<(String, usize)> {
    let brokers: std::collections::BTreeSet<i32> =
        resp.brokers.iter().map(|b| b.node_id.0).collect();
    resp.topics
        .iter()
        .filter(|t| t.error_code == 0 && !t.partitions.is_empty())
        .filter(|t| {
            t.partitions
                .iter()
                .all(|p| p.error_code == 0 && brokers.contains(&p.leader_id.0))
        })
        .filter_map(|t| Some((t.name.as_ref()?.0.to_string(), t.partitions.len())))
        .collect()
}

/// Kafka's ListOffsets timestamp for the latest offset.
pub const LATEST: i64 = -1;
/// Kafka's ListOffsets timestamp for the earliest offset.
pub const EARLIEST: i64 = -2;

/// Partition errors a client retries after a pause: NOT_LEADER_OR_FOLLOWER (6),
/// LEADER_NOT_AVAILABLE (5) and UNKNOWN_TOPIC_OR_PARTITION (3). A broker answers them while
/// a new topic's leadership is still reaching it (Kafka does, for a moment after creating).
const RETRIABLE: [i16; 3] = [6, 5, 3];

/// Pause between attempts of a call answered with a [`RETRIABLE`] error.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// How long [`list_offsets`] retries before it gives up.
const RETRY_FOR: Duration = Duration::from_secs(30);

/// The `LATEST` or `EARLIEST` offset of each of `partitions` of `topic`, retrying
/// [`RETRIABLE`] errors for up to [`RETRY_FOR`].
pub async fn list_offsets(
    conn: &mut Conn,
    topic: &str,
    partitions: &[i32],
    which: i64,
) -> anyhow::Result<BTreeMap<i32, i64>> {
    let deadline = Instant::now() + RETRY_FOR;
    loop {
        match list_offsets_once(conn, topic, partitions, which).await? {
            Ok(offsets) => return Ok(offsets),
            Err((partition, code)) if RETRIABLE.contains(&code) && Instant::now() < deadline => {
                note_retry(topic, partition, code);
                glommio::timer::sleep(RETRY_PAUSE).await;
            }
            Err((partition, code)) => bail!("ListOffsets {topic}-{partition}: error {code}"),
        }
    }
}

/// Says once per executor thread that a ListOffsets is being retried (no metadata refresh:
/// the same leader is asked again, which covers a new topic, not a moved leader).
fn note_retry(topic: &str, partition: i32, code: i16) {
    thread_local! {
        static SHOWN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if !SHOWN.with(|s| s.replace(true)) {
        eprintln!("ListOffsets {topic}-{partition}: error {code}, retrying");
    }
}

/// One ListOffsets: the offsets, or the first partition's error.
async fn list_offsets_once(
    conn: &mut Conn,
    topic: &str,
    partitions: &[i32],
    which: i64,
) -> anyhow::Result<Result<BTreeMap<i32, i64>, (i32, i16)>> {
    let mut t = ListOffsetsTopic::default();
    t.name = topic_name(topic);
    for &p in partitions {
        let mut lp = ListOffsetsPartition::default();
        lp.partition_index = p;
        lp.timestamp = which;
        lp.current_leader_epoch = -1;
        t.partitions.push(lp);
    }
    let mut req = ListOffsetsRequest::default();
    req.replica_id = (-1).into();
    req.topics.push(t);
    let version = conn.versions.list_offsets;
    let resp = conn.call(&req, version).await.context("ListOffsets")?;
    let mut out = BTreeMap::new();
    for t in resp.topics {
        for p in t.partitions {
            if p.error_code != 0 {
                return Ok(Err((p.partition_index, p.error_code)));
            }
            out.insert(p.partition_index, p.offset);
        }
    }
    Ok(Ok(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };

    fn response() -> MetadataResponse {
        let mut r = MetadataResponse::default();
        for (id, port) in [(1, 9001), (2, 9002)] {
            let mut b = MetadataResponseBroker::default();
            b.node_id = id.into();
            b.host = StrBytes::from_static_str("127.0.0.1");
            b.port = port;
            r.brokers.push(b);
        }
        let mut t = MetadataResponseTopic::default();
        t.name = Some(topic_name("t"));
        for (p, leader) in [(1, 2), (0, 1)] {
            let mut part = MetadataResponsePartition::default();
            part.partition_index = p;
            part.leader_id = leader.into();
            t.partitions.push(part);
        }
        r.topics.push(t);
        r
    }

    #[test]
    fn first_leaders_and_node_ids() {
        assert_eq!(first_leaders(&response()), vec![("t".to_string(), 1)]);
        assert_eq!(node_id_of(&response(), "127.0.0.1:9002"), Some(2));
        assert_eq!(node_id_of(&response(), "127.0.0.1:9003"), None);
    }

    #[test]
    fn served_needs_every_partition_led_by_a_listed_broker() {
        assert_eq!(served(&response()), vec![("t".to_string(), 2)]);
        let mut r = response();
        r.topics[0].partitions[1].leader_id = (-1).into();
        assert!(served(&r).is_empty());
        let mut r = response();
        r.topics[0].partitions[1].leader_id = 7.into();
        assert!(served(&r).is_empty());
        let mut r = response();
        r.topics[0].error_code = 3;
        assert!(served(&r).is_empty());
    }

    #[test]
    fn layout_maps_partitions_to_leader_addresses() {
        let l = layout(&response(), &["t".to_string()]).unwrap();
        assert_eq!(
            l,
            vec![TopicLayout {
                name: "t".into(),
                partitions: vec![(0, "127.0.0.1:9001".into()), (1, "127.0.0.1:9002".into())]
            }]
        );
        assert!(layout(&response(), &["other".to_string()]).is_err());
        let mut r = response();
        r.topics[0].partitions[0].leader_id = (-1).into();
        assert!(layout(&r, &["t".to_string()]).is_err());
    }
}
