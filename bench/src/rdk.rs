//! The same runs driven through librdkafka (the `rdkafka` crate), an independent client to
//! check the native client's figures against.
//!
//! Each producer and consumer is a thread of its own (librdkafka adds its own threads; none are
//! pinned, so `--cores` does not apply). Keys go through librdkafka's `murmur2_random`
//! partitioner, which matches the Java client's. Consumers of a group split the partitions with
//! `assign`, as the native client does, so no rebalance pauses land in the figures.

use crate::params::Params;
use crate::rate::Schedule;
use crate::records::{filler, make_value, sent_ns};
use crate::stats::{Clock, Live, Phase, Recorder, Sink, Window};
use anyhow::{bail, Context};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Consumers stop this long after the producers finished and no message arrived.
const IDLE_END: Duration = Duration::from_millis(1000);

/// A librdkafka configuration for the run's broker, with the run's own settings
/// (`--rdkafka-config`) last.
fn client(p: &Params) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &p.bootstrap)
        .set("broker.address.family", "v4");
    for (k, v) in &p.rdkafka_configs {
        c.set(k, v);
    }
    c
}

/// Drives one future to completion on this thread (the admin client needs no runtime).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::task::{Context as TaskContext, Poll, Wake, Waker};
    struct Thread(std::thread::Thread);
    impl Wake for Thread {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Thread(std::thread::current())));
    let mut cx = TaskContext::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(Duration::from_millis(10));
    }
}

fn create_topics(p: &Params) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = client(p).create()?;
    let names = p.topic_names();
    let topics: Vec<NewTopic<'_>> = names
        .iter()
        .map(|n| {
            p.topic_configs.iter().fold(
                NewTopic::new(
                    n,
                    p.partitions,
                    TopicReplication::Fixed(i32::from(p.replication_factor)),
                ),
                |t, (k, v)| t.set(k, v),
            )
        })
        .collect();
    let results = block_on(admin.create_topics(&topics, &AdminOptions::new()))?;
    for r in results {
        if let Err((name, code)) = r {
            if code != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists {
                bail!("creating {name}: {code}");
            }
        }
    }
    Ok(())
}

/// Shared by one producer's delivery callbacks (on librdkafka's thread) and the run.
struct Shared {
    sink: Mutex<Sink>,
    live: Arc<Live>,
    clock: Clock,
    bytes: u64,
}

impl Shared {
    fn with<R>(&self, f: impl FnOnce(&mut Sink) -> R) -> Option<R> {
        self.sink.lock().ok().map(|mut s| f(&mut s))
    }
}

/// The producer context: records each acknowledgement from its intended send time.
#[derive(Clone)]
struct Acks(Arc<Shared>);

impl ClientContext for Acks {}
impl ProducerContext for Acks {
    type DeliveryOpaque = Box<u64>;
    fn delivery(&self, result: &DeliveryResult<'_>, intended_ns: Box<u64>) {
        let s = &self.0;
        match result {
            Ok(_) => {
                let now = s.clock.now_ns();
                s.with(|k| k.ack(*intended_ns, now, s.bytes));
                s.live.produced.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                s.with(|k| k.errors(1, true));
                s.live.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Timing of one phase.
#[derive(Clone, Copy)]
struct Timing {
    clock: Clock,
    start: Instant,
    end: Instant,
    give_up: Instant,
}

fn producer(
    p: &Params,
    t: Timing,
    id: u64,
    budget: Option<u64>,
    shared: Arc<Shared>,
) -> anyhow::Result<()> {
    let linger_ms = p.linger_us as f64 / 1000.0;
    let producer: ThreadedProducer<Acks> = client(p)
        .set("acks", p.acks.to_string())
        .set("linger.ms", format!("{linger_ms}"))
        .set("batch.size", p.batch_bytes.to_string())
        .set("compression.type", p.compression.name())
        .set("max.in.flight", p.max_in_flight.to_string())
        .set("partitioner", "murmur2_random")
        .set("enable.idempotence", "false")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("queue.buffering.max.messages", "1000000")
        .create_with_context(Acks(shared.clone()))?;
    let topics = p.topic_names();
    let rate = p.rate_msgs_per_s / f64::from(p.producers.max(1));
    let sched = Schedule::new(t.start, rate);
    let fill = filler(p.message_bytes);
    let budget = budget.unwrap_or(u64::MAX);
    let mut key_state = id.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    sleep_until(t.start);
    let mut i = 0u64;
    let mut sent = 0u64;
    while Instant::now() < t.end && i < budget {
        let now = Instant::now();
        let due = sched.due(now).min(i.saturating_add(1000)).min(budget);
        while i < due {
            let intended = if sched.unlimited() {
                now
            } else {
                sched.intended(i)
            };
            let intended_ns = t.clock.unix_ns(intended);
            let value = make_value(intended_ns, &fill, p.message_bytes);
            let topic = topics
                .get((i % topics.len() as u64) as usize)
                .context("topic")?;
            let key = (p.keys > 0).then(|| {
                key_state ^= key_state << 13;
                key_state ^= key_state >> 7;
                key_state ^= key_state << 17;
                (key_state % p.keys).to_string()
            });
            let mut opaque = Box::new(intended_ns);
            loop {
                let mut rec = BaseRecord::with_opaque_to(topic, opaque).payload(&value[..]);
                if let Some(k) = &key {
                    rec = rec.key(k.as_bytes());
                }
                match producer.send(rec) {
                    Ok(()) => break,
                    Err((_, rec)) => {
                        opaque = rec.delivery_opaque;
                        std::thread::sleep(Duration::from_micros(100));
                    }
                }
            }
            sent += 1;
            i += 1;
        }
        if sched.unlimited() {
            continue;
        }
        sleep_until(sched.intended(i));
    }
    let drain = t.give_up.saturating_duration_since(Instant::now());
    if let Err(e) = producer.flush(drain) {
        eprintln!("producer {id}: flush: {e} ({sent} sent)");
        shared.with(|k| k.errors(1, true));
    }
    Ok(())
}

/// Sleeps through most of the wait and spins the last stretch, so the generator does not take
/// a core from the broker on a small machine.
fn sleep_until(t: Instant) {
    loop {
        let now = Instant::now();
        if now >= t {
            return;
        }
        let left = t - now;
        if left > Duration::from_micros(200) {
            std::thread::sleep(left - Duration::from_micros(100));
        } else {
            std::hint::spin_loop();
        }
    }
}

fn consumer(
    p: &Params,
    t: Timing,
    assigned: Vec<(String, i32)>,
    group: u32,
    shared: Arc<Shared>,
    producers_left: Arc<AtomicU32>,
) -> anyhow::Result<()> {
    let consumer: BaseConsumer = client(p)
        .set("group.id", format!("{}-g{group}", p.topic_prefix))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100")
        .set("fetch.max.bytes", "52428800")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    let start = if p.consume_from_start {
        Offset::Beginning
    } else {
        Offset::End
    };
    for (topic, partition) in &assigned {
        tpl.add_partition_offset(topic, *partition, start)?;
    }
    consumer.assign(&tpl)?;
    let mut last_message = Instant::now();
    loop {
        let now = Instant::now();
        let done = producers_left.load(Ordering::Acquire) == 0;
        if now >= t.give_up || (now >= t.end && done && now - last_message > IDLE_END) {
            return Ok(());
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                last_message = Instant::now();
                let now_ns = t.clock.now_ns();
                let v = m.payload().unwrap_or_default();
                shared.with(|k| k.consumed(sent_ns(v), now_ns, v.len() as u64));
                shared.live.consumed.fetch_add(1, Ordering::Relaxed);
            }
            Some(Err(e)) => {
                eprintln!("consumer: {e}");
                shared.with(|k| k.errors(1, false));
                shared.live.errors.fetch_add(1, Ordering::Relaxed);
            }
            None => {}
        }
    }
}

/// Runs the workload through librdkafka.
pub fn run(p: &Params, live: &Arc<Live>) -> anyhow::Result<(Recorder, Window)> {
    create_topics(p)?;
    if let Some((fill, per_producer)) = p.backlog_fill() {
        phase(&fill, live, Some(per_producer), "backlog ")?;
    }
    phase(p, live, None, "")
}

fn phase(
    p: &Params,
    live: &Arc<Live>,
    budget: Option<u64>,
    label: &str,
) -> anyhow::Result<(Recorder, Window)> {
    let phase = Phase::plan(p, budget.is_some());
    let window = phase.window;
    let t = Timing {
        clock: phase.clock,
        start: phase.start,
        end: phase.end,
        give_up: phase.give_up,
    };
    let producers_left = Arc::new(AtomicU32::new(p.producers));
    let finished = Arc::new(AtomicUsize::new(0));
    let mut shareds = Vec::new();
    let mut threads = Vec::new();
    let new_shared = || {
        Arc::new(Shared {
            sink: Mutex::new(Sink::new(window)),
            live: live.clone(),
            clock: phase.clock,
            bytes: p.message_bytes as u64,
        })
    };
    for id in 0..p.producers {
        let (s, pp, left, fin) = (
            new_shared(),
            p.clone(),
            producers_left.clone(),
            finished.clone(),
        );
        shareds.push(s.clone());
        threads.push(std::thread::spawn(move || {
            let r = producer(&pp, t, u64::from(id), budget, s);
            left.fetch_sub(1, Ordering::AcqRel);
            fin.fetch_add(1, Ordering::Release);
            r
        }));
    }
    let partitions: Vec<(String, i32)> = p
        .topic_names()
        .into_iter()
        .flat_map(|n| (0..p.partitions).map(move |i| (n.clone(), i)))
        .collect();
    for g in 0..p.consumer_groups {
        for c in 0..p.consumers_per_group {
            let assigned: Vec<(String, i32)> = partitions
                .iter()
                .enumerate()
                .filter(|(k, _)| *k as u32 % p.consumers_per_group == c)
                .map(|(_, x)| x.clone())
                .collect();
            let (s, pp, left, fin) = (
                new_shared(),
                p.clone(),
                producers_left.clone(),
                finished.clone(),
            );
            shareds.push(s.clone());
            threads.push(std::thread::spawn(move || {
                let r = consumer(&pp, t, assigned, g, s, left);
                fin.fetch_add(1, Ordering::Release);
                r
            }));
        }
    }
    let n = threads.len();
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = {
        let (shareds, stop, live) = (shareds.clone(), stop.clone(), live.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(250));
                for s in &shareds {
                    s.with(|k| k.publish(&live));
                }
            }
        })
    };
    live.print_until(label, || finished.load(Ordering::Acquire) >= n);
    stop.store(true, Ordering::Release);
    let _ = publisher.join();
    for th in threads {
        match th.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("{e:#}");
                live.errors.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => bail!("a client thread panicked"),
        }
    }
    let mut total = Recorder::default();
    for s in &shareds {
        if let Some(r) = s.with(|k| k.rec.clone()) {
            total.merge(&r);
        }
    }
    Ok((total, window))
}
