//! `produce` and `consume`: the first, librdkafka-only load modes, kept so the commands in
//! docs/benchmarks.md still run. `produce` sends fixed-size keyed messages (unlimited, or at a
//! fixed rate with coordinated omission corrected) and reports produce-ack latency; `consume`
//! reads a topic from the beginning and reports throughput. New measurements use `run`.

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The global flags these modes use.
pub struct Common {
    /// Bootstrap address.
    pub bootstrap: String,
    /// Topic.
    pub topic: String,
    /// Partitions when the topic is created.
    pub partitions: i32,
    /// Output directory.
    pub out: Option<PathBuf>,
}

/// The report of a `produce` or `consume` run.
#[derive(Serialize)]
pub struct Report {
    workload: String,
    bootstrap: String,
    topic: String,
    partitions: i32,
    parameters: serde_json::Value,
    messages: u64,
    bytes: u64,
    seconds: f64,
    msgs_per_s: f64,
    mb_per_s: f64,
    errors: u64,
    latency_us: Option<Percentiles>,
    machine: crate::report::Machine,
}

#[derive(Serialize)]
struct Percentiles {
    p50: u64,
    p90: u64,
    p99: u64,
    p99_9: u64,
    p99_99: u64,
    max: u64,
}

fn percentiles(h: &Histogram<u64>) -> Percentiles {
    Percentiles {
        p50: h.value_at_quantile(0.50),
        p90: h.value_at_quantile(0.90),
        p99: h.value_at_quantile(0.99),
        p99_9: h.value_at_quantile(0.999),
        p99_99: h.value_at_quantile(0.9999),
        max: h.max(),
    }
}

fn client(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4");
    c
}

fn ensure_topic(cli: &Common) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = client(&cli.bootstrap).create()?;
    let topics = [NewTopic::new(
        &cli.topic,
        cli.partitions,
        TopicReplication::Fixed(1),
    )];
    let options = AdminOptions::new();
    let results = crate::rdk::block_on(admin.create_topics(&topics, &options))?;
    for r in results {
        if let Err((name, code)) = r {
            if code != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists {
                bail!("creating {name}: {code}");
            }
        }
    }
    Ok(())
}

/// Latency of each acknowledgement, measured from the message's intended send time.
#[derive(Clone)]
struct Acks {
    hist: Arc<Mutex<Histogram<u64>>>,
    errors: Arc<Mutex<u64>>,
}
impl ClientContext for Acks {}
impl ProducerContext for Acks {
    type DeliveryOpaque = Box<Instant>;
    fn delivery(&self, result: &DeliveryResult<'_>, intended: Box<Instant>) {
        match result {
            Ok(_) => {
                let us = intended.elapsed().as_micros() as u64;
                if let Ok(mut h) = self.hist.lock() {
                    let _ = h.record(us.max(1));
                }
            }
            Err(_) => {
                if let Ok(mut e) = self.errors.lock() {
                    *e += 1;
                }
            }
        }
    }
}

/// Produce-run settings, as given on the command line.
pub struct ProduceArgs<'a> {
    /// Messages to send.
    pub messages: u64,
    /// Value size in bytes.
    pub size: usize,
    /// acks: 0, 1 or all.
    pub acks: &'a str,
    /// librdkafka linger.ms.
    pub linger_ms: u64,
    /// librdkafka batch.size.
    pub batch_bytes: u64,
    /// Compression codec.
    pub compression: &'a str,
    /// Offered rate in messages per second; 0 is unlimited.
    pub rate: u64,
}

pub fn produce(cli: &Common, args: ProduceArgs<'_>) -> anyhow::Result<Report> {
    let ProduceArgs {
        messages,
        size,
        acks,
        linger_ms,
        batch_bytes,
        compression,
        rate,
    } = args;
    ensure_topic(cli)?;
    let ctx = Acks {
        hist: Arc::new(Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3)?)),
        errors: Arc::new(Mutex::new(0)),
    };
    let producer: ThreadedProducer<Acks> = client(&cli.bootstrap)
        .set("acks", acks)
        .set("linger.ms", linger_ms.to_string())
        .set("batch.size", batch_bytes.to_string())
        .set("compression.type", compression)
        .set("enable.idempotence", "false")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("queue.buffering.max.messages", "1000000")
        .create_with_context(ctx.clone())?;
    let value = vec![b'm'; size];
    let start = Instant::now();
    let interval = (rate > 0).then(|| Duration::from_secs_f64(1.0 / rate as f64));
    let mut last_progress = Instant::now();
    for i in 0..messages {
        let intended = match interval {
            Some(iv) => {
                let t = start + iv.mul_f64(i as f64);
                // Sleep through most of the wait and spin only the last stretch, so the
                // generator does not take a core from the broker on a small machine.
                loop {
                    let now = Instant::now();
                    if now >= t {
                        break;
                    }
                    let left = t - now;
                    if left > Duration::from_micros(200) {
                        std::thread::sleep(left - Duration::from_micros(100));
                    } else {
                        std::hint::spin_loop();
                    }
                }
                t
            }
            None => Instant::now(),
        };
        let key = (i % 1024).to_string();
        let mut opaque = Box::new(intended);
        loop {
            match producer.send(
                BaseRecord::with_opaque_to(&cli.topic, opaque)
                    .key(&key)
                    .payload(&value),
            ) {
                Ok(()) => break,
                Err((_, rec)) => {
                    opaque = rec.delivery_opaque;
                    std::thread::sleep(Duration::from_micros(100));
                }
            }
        }
        if last_progress.elapsed() > Duration::from_secs(1) {
            let done = i + 1;
            eprintln!(
                "  {done} sent, {:.0} msgs/s",
                done as f64 / start.elapsed().as_secs_f64()
            );
            last_progress = Instant::now();
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .context("flushing")?;
    let seconds = start.elapsed().as_secs_f64();
    let hist = ctx
        .hist
        .lock()
        .map_err(|_| anyhow::anyhow!("histogram poisoned"))?
        .clone();
    let errors = *ctx.errors.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    write_hgrm(cli, &hist)?;
    let bytes = messages * size as u64;
    Ok(Report {
        workload: "produce".into(),
        bootstrap: cli.bootstrap.clone(),
        topic: cli.topic.clone(),
        partitions: cli.partitions,
        parameters: serde_json::json!({"messages": messages, "size": size, "acks": acks,
            "linger_ms": linger_ms, "batch_bytes": batch_bytes, "compression": compression,
            "rate": rate}),
        messages,
        bytes,
        seconds,
        msgs_per_s: messages as f64 / seconds,
        mb_per_s: bytes as f64 / seconds / 1e6,
        errors,
        latency_us: Some(percentiles(&hist)),
        machine: crate::report::Machine::detect(),
    })
}

pub fn consume(cli: &Common, messages: u64, timeout_s: u64) -> anyhow::Result<Report> {
    let consumer: BaseConsumer = client(&cli.bootstrap)
        .set("group.id", "myelin-bench")
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .create()?;
    let md = consumer.fetch_metadata(Some(&cli.topic), Duration::from_secs(10))?;
    let partitions = md
        .topics()
        .first()
        .map_or(0, |t| t.partitions().len() as i32);
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(&cli.topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let start = Instant::now();
    let deadline = start + Duration::from_secs(timeout_s);
    let (mut n, mut bytes, mut errors) = (0u64, 0u64, 0u64);
    while n < messages && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                n += 1;
                bytes += m.payload().map_or(0, |p| p.len() as u64);
            }
            Some(Err(_)) => errors += 1,
            None => {}
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    if n < messages {
        eprintln!("timed out after {n} of {messages} messages");
    }
    Ok(Report {
        workload: "consume".into(),
        bootstrap: cli.bootstrap.clone(),
        topic: cli.topic.clone(),
        partitions,
        parameters: serde_json::json!({"messages": messages}),
        messages: n,
        bytes,
        seconds,
        msgs_per_s: n as f64 / seconds,
        mb_per_s: bytes as f64 / seconds / 1e6,
        errors,
        latency_us: None,
        machine: crate::report::Machine::detect(),
    })
}

fn write_hgrm(cli: &Common, hist: &Histogram<u64>) -> anyhow::Result<()> {
    let Some(dir) = &cli.out else { return Ok(()) };
    std::fs::create_dir_all(dir)?;
    let mut text = String::from("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    for v in hist.iter_quantiles(1) {
        let q = v.quantile_iterated_to();
        let inv = if q < 1.0 {
            1.0 / (1.0 - q)
        } else {
            f64::INFINITY
        };
        text.push_str(&format!(
            "{:12.3} {:2.12} {:10} {:14.2}\n",
            v.value_iterated_to() as f64,
            q,
            v.count_since_last_iteration(),
            inv
        ));
    }
    text.push_str(&format!(
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]\n",
        hist.mean(),
        hist.stdev()
    ));
    text.push_str(&format!(
        "#[Max     = {:12.3}, Total count    = {:12}]\n",
        hist.max() as f64,
        hist.len()
    ));
    std::fs::write(dir.join("latency.hgrm"), text)?;
    Ok(())
}

/// Prints the report and writes report.json when `--out` is given.
pub fn finish(cli: &Common, report: &Report) -> anyhow::Result<()> {
    println!("workload      {}", report.workload);
    println!(
        "messages      {} ({} errors)",
        report.messages, report.errors
    );
    println!(
        "throughput    {:.0} msgs/s, {:.1} MB/s",
        report.msgs_per_s, report.mb_per_s
    );
    if let Some(l) = &report.latency_us {
        println!(
            "ack latency   p50 {} us, p90 {} us, p99 {} us, p99.9 {} us, p99.99 {} us, max {} us",
            l.p50, l.p90, l.p99, l.p99_9, l.p99_99, l.max
        );
    }
    if let Some(dir) = &cli.out {
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            dir.join("report.json"),
            serde_json::to_string_pretty(&report)?,
        )?;
    }
    Ok(())
}
