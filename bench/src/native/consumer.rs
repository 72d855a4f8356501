//! One consumer task: fetches its assigned partitions from their leaders (one fetch in flight
//! per leader, as Kafka consumers do), walks the returned batches and records end-to-end latency
//! from the send time in each value.
//!
//! A consumer starts at the end of each partition (or at the start, for catch-up) and stops when
//! the run is over, the producers are done and it has read up to the high watermark — or when
//! the drain time runs out.

use super::admin::{self, TopicLayout};
use super::conn::Conn;
use super::ctx::ExecCtx;
use crate::limits::{FETCH_MAX_BYTES, FETCH_MAX_WAIT_MS, FETCH_PARTITION_MAX_BYTES};
use crate::records::{sent_ns, walk_batches};
use anyhow::Context;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// What one consumer reads.
#[derive(Clone, Debug)]
pub struct ConsumerPlan {
    /// The partitions assigned to this consumer, with their leaders.
    pub assigned: Vec<TopicLayout>,
    /// Start from the earliest offset instead of the latest.
    pub from_start: bool,
    /// When the producers stop.
    pub end: Instant,
    /// When to give up catching up.
    pub give_up: Instant,
}

/// Runs one consumer to the end of the run.
pub async fn run(plan: ConsumerPlan, ctx: Rc<ExecCtx>) -> anyhow::Result<()> {
    // One fetch loop per leader, all on this executor.
    let mut by_leader: BTreeMap<String, Vec<TopicLayout>> = BTreeMap::new();
    for t in &plan.assigned {
        for (partition, addr) in &t.partitions {
            let topics = by_leader.entry(addr.clone()).or_default();
            match topics.iter_mut().find(|x| x.name == t.name) {
                Some(x) => x.partitions.push((*partition, addr.clone())),
                None => topics.push(TopicLayout {
                    name: t.name.clone(),
                    partitions: vec![(*partition, addr.clone())],
                }),
            }
        }
    }
    let loops = by_leader
        .into_iter()
        .map(|(addr, topics)| fetch_loop(addr, topics, &plan, &ctx));
    let results = futures::future::join_all(loops).await;
    results.into_iter().collect()
}

/// One partition being read: where the next fetch starts and whether it has reached the end.
/// The highest Fetch version without tagged fields.
const FETCH_LAST_RIGID_VERSION: i16 = 11;

struct Cursor {
    offset: i64,
    caught_up: bool,
}

async fn fetch_loop(
    addr: String,
    topics: Vec<TopicLayout>,
    plan: &ConsumerPlan,
    ctx: &Rc<ExecCtx>,
) -> anyhow::Result<()> {
    let mut conn = Conn::connect(&addr).await?;
    let which = if plan.from_start {
        admin::EARLIEST
    } else {
        admin::LATEST
    };
    let mut cursors: Vec<(String, Vec<(i32, Cursor)>)> = Vec::new();
    for t in &topics {
        let ids: Vec<i32> = t.partitions.iter().map(|(p, _)| *p).collect();
        let offsets = admin::list_offsets(&mut conn, &t.name, &ids, which).await?;
        let parts = ids
            .iter()
            .map(|p| {
                let offset = offsets.get(p).copied().unwrap_or(0);
                (
                    *p,
                    Cursor {
                        offset,
                        caught_up: false,
                    },
                )
            })
            .collect();
        cursors.push((t.name.clone(), parts));
    }
    let mut version = conn.versions.fetch;
    // Whether the last response answered a fetch sent after every producer had its last
    // acknowledgement: only then does "caught up" mean nothing more is coming.
    let mut fetched_after_done = false;
    loop {
        let now = Instant::now();
        let all_caught_up = cursors
            .iter()
            .all(|(_, ps)| ps.iter().all(|(_, c)| c.caught_up));
        if now >= plan.give_up || (now >= plan.end && fetched_after_done && all_caught_up) {
            return Ok(());
        }
        let producers_done = ctx.producers_left.load(Ordering::Acquire) == 0;
        let req = fetch_request(&cursors);
        let resp = match conn.call(&req, version).await {
            Ok(r) => r,
            // Some brokers put tagged fields into flexible Fetch responses that the decoder
            // does not accept at that version (Tansu 0.6 sends tag 0 in v12); the last
            // non-flexible version reads them.
            Err(e) if version > FETCH_LAST_RIGID_VERSION => {
                eprintln!(
                    "{addr}: Fetch v{version} response did not decode ({e:#}); \
                     using v{FETCH_LAST_RIGID_VERSION}"
                );
                version = FETCH_LAST_RIGID_VERSION;
                continue;
            }
            Err(e) => {
                ctx.errors(1, false);
                return Err(e).with_context(|| format!("fetching from {addr}"));
            }
        };
        let now_ns = ctx.clock.now_ns();
        fetched_after_done = producers_done;
        if resp.error_code != 0 {
            ctx.errors(1, false);
            glommio::timer::sleep(Duration::from_millis(10)).await;
            continue;
        }
        let mut received = 0u64;
        for t in &resp.responses {
            let Some((_, parts)) = cursors.iter_mut().find(|(n, _)| n == t.topic.0.as_str()) else {
                continue;
            };
            for pd in &t.partitions {
                let Some((_, cur)) = parts.iter_mut().find(|(p, _)| *p == pd.partition_index)
                else {
                    continue;
                };
                if pd.error_code != 0 {
                    ctx.errors(1, false);
                    continue;
                }
                if let Some(records) = &pd.records {
                    let walked = walk_batches(records, &mut |v| {
                        ctx.consumed(sent_ns(v), now_ns, v.len() as u64)
                    });
                    match walked {
                        Ok(w) => {
                            received += w.records;
                            if let Some(next) = w.next_offset {
                                cur.offset = next;
                            }
                        }
                        Err(e) => {
                            eprintln!("fetch {}-{}: {e:#}", t.topic.0.as_str(), pd.partition_index);
                            ctx.errors(1, false);
                        }
                    }
                }
                cur.caught_up = cur.offset >= pd.high_watermark;
            }
        }
        ctx.live.consumed.fetch_add(received, Ordering::Relaxed);
    }
}

fn fetch_request(cursors: &[(String, Vec<(i32, Cursor)>)]) -> FetchRequest {
    let mut req = FetchRequest::default();
    req.replica_id = (-1).into();
    req.max_wait_ms = FETCH_MAX_WAIT_MS;
    req.min_bytes = 1;
    req.max_bytes = FETCH_MAX_BYTES;
    req.isolation_level = 0;
    req.session_id = 0;
    req.session_epoch = -1;
    for (name, parts) in cursors {
        let mut t = FetchTopic::default();
        t.topic = TopicName(StrBytes::from_string(name.clone()));
        for (p, c) in parts {
            let mut fp = FetchPartition::default();
            fp.partition = *p;
            fp.fetch_offset = c.offset;
            fp.current_leader_epoch = -1;
            fp.last_fetched_epoch = -1;
            fp.log_start_offset = -1;
            fp.partition_max_bytes = FETCH_PARTITION_MAX_BYTES;
            t.partitions.push(fp);
        }
        req.topics.push(t);
    }
    req
}
