//! One producer task: makes messages on the run's schedule, batches them per partition, and
//! pipelines Produce requests to each partition's leader; a reader task per connection matches
//! responses to requests (in order) and records produce-ack latency.
//!
//! Batches grow while all `max_in_flight` request slots are taken (Kafka's natural batching),
//! up to `batch_bytes`; a full batch waits for a slot, holding up message generation. Latency
//! is still measured from each message's intended time, so that wait is counted, not hidden.

use super::admin::TopicLayout;
use super::conn::{Conn, ConnReader, ConnWriter};
use super::ctx::ExecCtx;
use super::wire::decode_response;
use crate::params::Params;
use crate::partitioner::partition_for_key;
use crate::rate::Schedule;
use crate::records::{encode_batch, filler, make_value, record};
use anyhow::{bail, Context};
use bytes::Bytes;
use glommio::sync::Semaphore;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Record;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Keys made ahead of time; more distinct keys than this are formatted per message.
const KEYS_PRECOMPUTED_MAX: u64 = 1 << 20;

/// What one producer does.
#[derive(Clone, Debug)]
pub struct ProducerPlan {
    /// The run's parameters.
    pub params: Params,
    /// Topics with their leaders.
    pub topics: Vec<TopicLayout>,
    /// This producer's share of the offered rate (0: unlimited).
    pub rate_msgs_per_s: f64,
    /// When to start sending.
    pub start: Instant,
    /// When to stop sending.
    pub end: Instant,
    /// Stop after this many messages (backlog fill), if set.
    pub budget: Option<u64>,
    /// Seed for key choice, so producers do not send the same key sequence.
    pub id: u64,
}

/// One partition's open batch.
#[derive(Default)]
struct OpenBatch {
    records: Vec<Record>,
    intended_ns: Vec<u64>,
    bytes: usize,
    first_at: Option<Instant>,
}

/// A batch in flight: where it went and when its messages were meant to be sent.
struct SentBatch {
    topic: usize,
    partition: i32,
    intended_ns: Vec<u64>,
    value_bytes: u64,
}

/// A request in flight.
struct Pending {
    correlation_id: i32,
    batches: Vec<SentBatch>,
}

/// One leader connection and the batches bound for it.
struct Leader {
    writer: ConnWriter,
    version: i16,
    slots: Rc<Semaphore>,
    queue: Rc<RefCell<VecDeque<Pending>>>,
    failed: Rc<Cell<bool>>,
    names: Rc<Vec<String>>,
    reader: Option<glommio::task::JoinHandle<()>>,
    /// `(topic, partition)` of each open batch, parallel to `open`.
    parts: Vec<(usize, i32)>,
    open: Vec<OpenBatch>,
}

/// Runs one producer to the end of the run and waits for its outstanding acknowledgements.
pub async fn run(plan: ProducerPlan, ctx: Rc<ExecCtx>) -> anyhow::Result<()> {
    let result = produce(&plan, &ctx).await;
    ctx.producers_left.fetch_sub(1, Ordering::AcqRel);
    result
}

async fn produce(plan: &ProducerPlan, ctx: &Rc<ExecCtx>) -> anyhow::Result<()> {
    let p = &plan.params;
    let (mut leaders, route) = connect(plan, ctx).await?;
    let sched = Schedule::new(plan.start, plan.rate_msgs_per_s);
    let keys: Vec<Bytes> = (0..p.keys.min(KEYS_PRECOMPUTED_MAX))
        .map(|k| Bytes::from(k.to_string()))
        .collect();
    let fill = filler(p.message_bytes);
    let linger = Duration::from_micros(p.linger_us);
    let burst_max = (p.batch_bytes / p.message_bytes).max(1) as u64;
    let budget = plan.budget.unwrap_or(u64::MAX);
    let mut rr = 0usize;
    let mut key_state = plan.id.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    if let Some(wait) = plan.start.checked_duration_since(Instant::now()) {
        glommio::timer::sleep(wait).await;
    }
    let mut i: u64 = 0;
    loop {
        let now = Instant::now();
        if now >= plan.end || i >= budget || leaders.iter().any(|l| l.failed.get()) {
            break;
        }
        let due = sched.due(now).min(i.saturating_add(burst_max)).min(budget);
        while i < due {
            let intended = if sched.unlimited() {
                now
            } else {
                sched.intended(i)
            };
            let intended_ns = ctx.clock.unix_ns(intended);
            let topic = (i % plan.topics.len() as u64) as usize;
            let (key, partition_pos) = if p.keys == 0 {
                rr += 1;
                (None, rr % p.partitions as usize)
            } else {
                // xorshift: a key per message, uniformly over the key space.
                key_state ^= key_state << 13;
                key_state ^= key_state >> 7;
                key_state ^= key_state << 17;
                let k = key_state % p.keys;
                let key = keys
                    .get(k as usize)
                    .cloned()
                    .unwrap_or_else(|| Bytes::from(k.to_string()));
                let part = partition_for_key(&key, p.partitions) as usize;
                (Some(key), part)
            };
            let (li, slot) = route
                .get(topic)
                .and_then(|r| r.get(partition_pos))
                .copied()
                .context("partition missing from the layout")?;
            let leader = leaders.get_mut(li).context("leader index")?;
            let full = leader
                .open
                .get(slot)
                .is_some_and(|b| b.bytes + p.message_bytes > p.batch_bytes);
            if full {
                flush(leader, p, ctx, true, linger, now).await?;
            }
            let batch = leader.open.get_mut(slot).context("batch slot")?;
            let value = make_value(intended_ns, &fill, p.message_bytes);
            let index = batch.records.len() as i64;
            batch
                .records
                .push(record(index, (intended_ns / 1_000_000) as i64, key, value));
            batch.intended_ns.push(intended_ns);
            batch.bytes += p.message_bytes;
            batch.first_at.get_or_insert(now);
            i += 1;
        }
        for leader in &mut leaders {
            flush(leader, p, ctx, false, linger, Instant::now()).await?;
        }
        let next = if sched.unlimited() || i >= budget {
            now
        } else {
            sched.intended(i)
        };
        let next = next_linger_deadline(&leaders, linger).map_or(next, |d| d.min(next));
        match next.checked_duration_since(Instant::now()) {
            Some(wait) if !wait.is_zero() => glommio::timer::sleep(wait).await,
            _ => glommio::yield_if_needed().await,
        }
    }
    // Send what is left, then wait for every acknowledgement (bounded by the drain time).
    let drain_until = Instant::now() + Duration::from_secs_f64(p.drain_s);
    for leader in &mut leaders {
        flush(leader, p, ctx, true, Duration::ZERO, Instant::now()).await?;
    }
    for leader in &mut leaders {
        let all = u64::from(p.max_in_flight);
        while leader.slots.available() < all && Instant::now() < drain_until {
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
        if leader.slots.available() < all {
            let lost: u64 = leader
                .queue
                .borrow()
                .iter()
                .flat_map(|q| q.batches.iter())
                .map(|b| b.intended_ns.len() as u64)
                .sum();
            eprintln!(
                "producer {}: {lost} messages not acknowledged after the drain",
                plan.id
            );
            ctx.errors(lost, true);
        }
        if let Some(r) = leader.reader.take() {
            r.cancel();
        }
    }
    Ok(())
}

/// Connects to every leader and returns, for each topic and partition position, the leader
/// index and its batch slot.
async fn connect(
    plan: &ProducerPlan,
    ctx: &Rc<ExecCtx>,
) -> anyhow::Result<(Vec<Leader>, Vec<Vec<(usize, usize)>>)> {
    let mut leaders: Vec<Leader> = Vec::new();
    let mut addrs: Vec<String> = Vec::new();
    let mut route = Vec::new();
    for (ti, t) in plan.topics.iter().enumerate() {
        let mut r = Vec::new();
        for (partition, addr) in &t.partitions {
            let li = match addrs.iter().position(|a| a == addr) {
                Some(li) => li,
                None => {
                    let conn = Conn::connect(addr).await?;
                    leaders.push(leader(conn, plan, ctx));
                    addrs.push(addr.clone());
                    leaders.len() - 1
                }
            };
            let l = leaders.get_mut(li).context("leader index")?;
            l.parts.push((ti, *partition));
            l.open.push(OpenBatch::default());
            r.push((li, l.open.len() - 1));
        }
        route.push(r);
    }
    Ok((leaders, route))
}

fn leader(conn: Conn, plan: &ProducerPlan, ctx: &Rc<ExecCtx>) -> Leader {
    let version = conn.versions.produce;
    let (writer, reader) = conn.split();
    let slots = Rc::new(Semaphore::new(u64::from(plan.params.max_in_flight)));
    let queue = Rc::new(RefCell::new(VecDeque::new()));
    let failed = Rc::new(Cell::new(false));
    let names: Rc<Vec<String>> = Rc::new(plan.topics.iter().map(|t| t.name.clone()).collect());
    let reader = (plan.params.acks != 0).then(|| {
        let (slots, queue, failed, ctx) =
            (slots.clone(), queue.clone(), failed.clone(), ctx.clone());
        let names = names.clone();
        glommio::spawn_local(async move {
            if let Err(e) = read_acks(reader, version, &names, &queue, &slots, &ctx).await {
                eprintln!("producer connection failed: {e:#}");
                ctx.errors(1, true);
            }
            failed.set(true);
            slots.signal(1 << 20);
        })
        .detach()
    });
    Leader {
        writer,
        version,
        slots,
        queue,
        failed,
        names,
        reader,
        parts: Vec::new(),
        open: Vec::new(),
    }
}

fn next_linger_deadline(leaders: &[Leader], linger: Duration) -> Option<Instant> {
    if linger.is_zero() {
        return None;
    }
    leaders
        .iter()
        .flat_map(|l| l.open.iter())
        .filter_map(|b| b.first_at)
        .min()
        .map(|t| t + linger)
}

/// Sends the leader's ready batches in one request. With `force`, every non-empty batch is
/// ready and the call waits for a free slot; otherwise only batches past their linger go, and
/// only if a slot is free now.
async fn flush(
    leader: &mut Leader,
    p: &Params,
    ctx: &Rc<ExecCtx>,
    force: bool,
    linger: Duration,
    now: Instant,
) -> anyhow::Result<()> {
    let ready = |b: &OpenBatch| {
        !b.records.is_empty()
            && (force
                || b.bytes + p.message_bytes > p.batch_bytes
                || b.first_at.is_some_and(|t| t + linger <= now))
    };
    if !leader.open.iter().any(ready) {
        return Ok(());
    }
    if force {
        leader
            .slots
            .acquire(1)
            .await
            .map_err(|e| anyhow::anyhow!("request slots: {e}"))?;
    } else if !leader.slots.try_acquire(1).unwrap_or(false) {
        return Ok(());
    }
    if leader.failed.get() {
        bail!("connection to the leader failed");
    }
    let mut req = ProduceRequest::default();
    req.acks = p.acks;
    req.timeout_ms = crate::limits::PRODUCE_TIMEOUT_MS;
    let mut batches = Vec::new();
    let mut topics: Vec<TopicProduceData> = Vec::new();
    let mut topic_of: Vec<usize> = Vec::new();
    for (&(topic, partition), open) in leader.parts.iter().zip(leader.open.iter_mut()) {
        if !ready(open) {
            continue;
        }
        let b = std::mem::take(open);
        let records = encode_batch(&b.records, p.compression)?;
        let mut pd = PartitionProduceData::default();
        pd.index = partition;
        pd.records = Some(records);
        let ti = match topic_of.iter().position(|&t| t == topic) {
            Some(ti) => ti,
            None => {
                let mut td = TopicProduceData::default();
                let name = leader.names.get(topic).cloned().unwrap_or_default();
                td.name = TopicName(StrBytes::from_string(name));
                topics.push(td);
                topic_of.push(topic);
                topics.len() - 1
            }
        };
        topics
            .get_mut(ti)
            .context("topic index")?
            .partition_data
            .push(pd);
        batches.push(SentBatch {
            topic,
            partition,
            value_bytes: b.bytes as u64,
            intended_ns: b.intended_ns,
        });
    }
    req.topic_data = topics;
    let correlation_id = leader.writer.send(&req, leader.version).await;
    let correlation_id = match correlation_id {
        Ok(id) => id,
        Err(e) => {
            leader.failed.set(true);
            return Err(e);
        }
    };
    if p.acks == 0 {
        // No response will come: the write is the acknowledgement.
        let now_ns = ctx.clock.now_ns();
        for b in &batches {
            let per = b.value_bytes / b.intended_ns.len().max(1) as u64;
            for &t in &b.intended_ns {
                ctx.ack(t, now_ns, per);
            }
            ctx.live
                .produced
                .fetch_add(b.intended_ns.len() as u64, Ordering::Relaxed);
        }
        leader.slots.signal(1);
    } else {
        leader.queue.borrow_mut().push_back(Pending {
            correlation_id,
            batches,
        });
    }
    Ok(())
}

/// Reads Produce responses in order and records each message's acknowledgement.
async fn read_acks(
    mut reader: ConnReader,
    version: i16,
    names: &[String],
    queue: &RefCell<VecDeque<Pending>>,
    slots: &Semaphore,
    ctx: &ExecCtx,
) -> anyhow::Result<()> {
    loop {
        let frame = reader.next_frame().await?;
        let now_ns = ctx.clock.now_ns();
        let pending = queue
            .borrow_mut()
            .pop_front()
            .context("a response with no request in flight")?;
        let (id, resp) = decode_response::<ProduceRequest>(frame, version)?;
        if id != pending.correlation_id {
            bail!(
                "response correlation id {id}, expected {}",
                pending.correlation_id
            );
        }
        let mut errors: HashMap<(&str, i32), i16> = HashMap::new();
        for t in &resp.responses {
            for part in &t.partition_responses {
                errors.insert((t.name.0.as_str(), part.index), part.error_code);
            }
        }
        let mut n = 0u64;
        for b in &pending.batches {
            let name = names.get(b.topic).map_or("", String::as_str);
            let count = b.intended_ns.len() as u64;
            match errors.get(&(name, b.partition)) {
                Some(0) => {
                    let per = b.value_bytes / count.max(1);
                    for &t in &b.intended_ns {
                        ctx.ack(t, now_ns, per);
                    }
                    n += count;
                }
                Some(code) => {
                    report_error(name, b.partition, *code);
                    ctx.errors(count, true);
                }
                None => {
                    report_error(name, b.partition, -1);
                    ctx.errors(count, true);
                }
            }
        }
        ctx.live.produced.fetch_add(n, Ordering::Relaxed);
        slots.signal(1);
    }
}

/// Prints the first few produce errors (so a failing broker does not flood the terminal).
fn report_error(topic: &str, partition: i32, code: i16) {
    thread_local! {
        static SHOWN: Cell<u32> = const { Cell::new(0) };
    }
    SHOWN.with(|s| {
        if s.get() < 10 {
            s.set(s.get() + 1);
            eprintln!("produce {topic}-{partition}: error code {code} (-1: missing from response)");
        }
    });
}
