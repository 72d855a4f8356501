//! Short calls the cluster benchmarks make against a broker they started or were pointed at:
//! create topics, fill partitions with a few records, and watch a starting broker until it
//! accepts connections, lists every partition with a leader, and takes a produce.
//!
//! Each public function runs on a short-lived glommio executor on the calling thread, so the
//! benchmarks that drive broker processes stay plain synchronous code.

use super::admin;
use super::conn::Conn;
use crate::limits::EXECUTOR_IO_MEMORY_BYTES;
use crate::params::Codec;
use crate::records::{encode_batch, record};
use anyhow::{bail, Context};
use bytes::Bytes;
use glommio::{LocalExecutorBuilder, Placement};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use serde::Serialize;
use std::future::Future;
use std::time::{Duration, Instant};

/// Pause between attempts while a broker is not there yet: the resolution of every
/// start-up time measured here.
pub const RETRY_MS: u64 = 2;

/// Runs `f` to completion on a new executor on this thread.
pub fn block_on<T, F: Future<Output = anyhow::Result<T>>>(
    f: impl FnOnce() -> F,
) -> anyhow::Result<T> {
    let ex = LocalExecutorBuilder::new(Placement::Unbound)
        .name("bench-probe")
        .io_memory(EXECUTOR_IO_MEMORY_BYTES)
        .make()
        .map_err(|e| {
            anyhow::anyhow!("starting a glommio executor (locked-memory limit too low?): {e}")
        })?;
    ex.run(f())
}

/// Creates `topics` topics `{prefix}-{n}` of `partitions` partitions each, in requests of at
/// most `per_request` topics, and waits until `bootstrap` lists all of them with leaders.
pub fn create_topics(
    bootstrap: &str,
    prefix: &str,
    topics: usize,
    partitions: i32,
    per_request: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<String>> {
    let names: Vec<String> = (0..topics).map(|n| format!("{prefix}-{n}")).collect();
    let deadline = Instant::now() + timeout;
    block_on(|| async {
        let mut conn = Conn::connect(bootstrap).await?;
        for chunk in names.chunks(per_request.max(1)) {
            let specs = chunk
                .iter()
                .map(|n| admin::creatable(n, partitions))
                .collect();
            let created = admin::create(&mut conn, specs, timeout_ms(timeout)).await?;
            if let Some(bad) = created.iter().find(|c| !c.ok()) {
                bail!(
                    "creating {}: error {} {}",
                    bad.name,
                    bad.error_code,
                    bad.message.as_deref().unwrap_or("")
                );
            }
        }
        wait_served(&mut conn, &names, partitions as usize, deadline).await?;
        Ok(names.clone())
    })
}

fn timeout_ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// Asks `conn` for the metadata of `names` until every one is listed with `partitions`
/// partitions, each with a leader.
async fn wait_served(
    conn: &mut Conn,
    names: &[String],
    partitions: usize,
    deadline: Instant,
) -> anyhow::Result<()> {
    loop {
        let resp = admin::metadata(conn, names).await?;
        let served = admin::served(&resp)
            .into_iter()
            .filter(|(_, n)| *n == partitions)
            .count();
        if served == names.len() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{served} of {} topics served before the deadline",
                names.len()
            );
        }
        glommio::timer::sleep(Duration::from_millis(RETRY_MS)).await;
    }
}

/// One Produce request (acks=all) carrying a batch of `records` small records for each of
/// `partitions` of `topic`; returns each partition's error code.
pub(super) async fn produce(
    conn: &mut Conn,
    topic: &str,
    partitions: impl Iterator<Item = i32>,
    records: usize,
) -> anyhow::Result<Vec<(i32, i16)>> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let batch: Vec<_> = (0..records.max(1))
        .map(|i| {
            let value = Bytes::from(format!("startup-bench record {i}"));
            record(i as i64, now_ms, None, value)
        })
        .collect();
    let encoded = encode_batch(&batch, Codec::None)?;
    let mut td = TopicProduceData::default();
    td.name = TopicName(StrBytes::from_string(topic.to_string()));
    for p in partitions {
        let mut pd = PartitionProduceData::default();
        pd.index = p;
        pd.records = Some(encoded.clone());
        td.partition_data.push(pd);
    }
    let mut req = ProduceRequest::default();
    req.acks = -1;
    req.timeout_ms = crate::limits::PRODUCE_TIMEOUT_MS;
    req.topic_data.push(td);
    let version = conn.versions.produce;
    let resp = conn.call(&req, version).await.context("Produce")?;
    Ok(resp
        .responses
        .iter()
        .flat_map(|t| t.partition_responses.iter())
        .map(|p| (p.index, p.error_code))
        .collect())
}

/// Writes `records` records into every partition of each of `topics` (acks=all, one request
/// per topic).
pub fn fill(
    bootstrap: &str,
    topics: &[String],
    partitions: i32,
    records: usize,
) -> anyhow::Result<()> {
    block_on(|| async {
        let mut conn = Conn::connect(bootstrap).await?;
        for t in topics {
            let codes = produce(&mut conn, t, 0..partitions, records).await?;
            if codes.len() != partitions as usize {
                bail!("produce to {t}: {} of {partitions} answered", codes.len());
            }
            if let Some((p, code)) = codes.iter().find(|(_, c)| *c != 0) {
                bail!("produce to {t}-{p}: error {code}");
            }
        }
        Ok(())
    })
}

/// When a starting broker became usable, each measured from the process's spawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Readiness {
    /// The client port accepted a TCP connection.
    pub accept_s: f64,
    /// A Metadata answer listed every expected partition with a leader.
    pub metadata_s: f64,
    /// A produce (acks=all, one record) was acknowledged without error (0: not asked).
    pub produce_s: f64,
    /// Metadata requests answered before every partition was listed.
    pub metadata_polls: u64,
    /// Produce attempts answered with an error before one succeeded.
    pub produce_errors: u64,
}

/// Watches a broker spawned at `spawned` until it accepts connections on `addr`, lists every
/// one of `topics` with `partitions` partitions and leaders, and (with `produce`)
/// acknowledges a produce to partition 0 of the first topic. Gives up at `deadline`, or as
/// soon as `alive` says the broker has exited.
pub fn watch_start(
    addr: &str,
    spawned: Instant,
    alive: &dyn Fn() -> bool,
    topics: &[String],
    partitions: usize,
    produce_too: bool,
    deadline: Instant,
) -> anyhow::Result<Readiness> {
    block_on(|| async {
        let mut r = Readiness::default();
        let since = |t: Instant| t.duration_since(spawned).as_secs_f64();
        loop {
            // A bare TCP connect: the first moment the listener exists.
            if glommio::net::TcpStream::connect(addr).await.is_ok() {
                r.accept_s = since(Instant::now());
                break;
            }
            if Instant::now() > deadline {
                bail!("{addr} did not accept a connection before the deadline");
            }
            if !alive() {
                bail!("the broker exited before it accepted a connection (see its log)");
            }
            glommio::timer::sleep(Duration::from_millis(RETRY_MS)).await;
        }
        let mut conn = connect_until(addr, deadline).await?;
        let expected = topics.len();
        loop {
            let resp = admin::metadata(&mut conn, topics).await?;
            r.metadata_polls += 1;
            let served = admin::served(&resp)
                .into_iter()
                .filter(|(_, n)| *n == partitions)
                .count();
            if served == expected {
                r.metadata_s = since(Instant::now());
                break;
            }
            if Instant::now() > deadline {
                bail!("{served} of {expected} topics listed with leaders before the deadline");
            }
            glommio::timer::sleep(Duration::from_millis(RETRY_MS)).await;
        }
        if !produce_too {
            return Ok(r);
        }
        let first = topics.first().context("no topics to produce to")?;
        loop {
            let codes = produce(&mut conn, first, std::iter::once(0), 1).await?;
            if codes.iter().all(|(_, c)| *c == 0) && !codes.is_empty() {
                r.produce_s = since(Instant::now());
                break;
            }
            r.produce_errors += 1;
            if Instant::now() > deadline {
                bail!("no produce to {first}-0 succeeded before the deadline: {codes:?}");
            }
            glommio::timer::sleep(Duration::from_millis(RETRY_MS)).await;
        }
        Ok(r)
    })
}

/// Connects and agrees versions, retrying while the broker is still coming up.
async fn connect_until(addr: &str, deadline: Instant) -> anyhow::Result<Conn> {
    loop {
        match Conn::connect(addr).await {
            Ok(c) => return Ok(c),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => glommio::timer::sleep(Duration::from_millis(RETRY_MS)).await,
        }
    }
}

/// Waits until `addr` answers ApiVersions; for a broker started with nothing to check.
/// Fails at `deadline` or once `alive` says the broker has exited.
pub fn wait_up(addr: &str, alive: &dyn Fn() -> bool, deadline: Instant) -> anyhow::Result<()> {
    block_on(|| async {
        loop {
            match Conn::connect(addr).await {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) if !alive() => bail!("the broker exited before it answered (see its log)"),
                Err(_) => glommio::timer::sleep(Duration::from_millis(RETRY_MS)).await,
            }
        }
    })
}
