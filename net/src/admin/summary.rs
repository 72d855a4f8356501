//! `/v1/summary`: the node's traffic counters and latency histograms, summed over shards,
//! cumulative since start-up, stamped with the node's clock. The console polls it and
//! charts rates and per-interval percentiles from the differences between two polls; the
//! same numbers are in `/metrics` per shard, this is them merged and in JSON.

use super::report::NodeReport;
use myelin_metrics::{HistogramSnapshot, LATENCY_BOUNDS_US};
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn histogram_json(h: &HistogramSnapshot) -> Value {
    json!({"counts": h.counts, "sum_us": h.sum_us, "count": h.count()})
}

/// The summary as JSON; `now_ms` is the node's clock.
pub fn summary_json(node: &NodeReport, now_ms: i64) -> Value {
    let mut bytes_in = 0u64;
    let mut records_in = 0u64;
    let mut bytes_out = 0u64;
    let mut net_in = 0u64;
    let mut net_out = 0u64;
    let mut open = 0u64;
    let mut apis: BTreeMap<i16, (u64, HistogramSnapshot)> = BTreeMap::new();
    let mut append_to_durable = HistogramSnapshot::default();
    let mut durable_to_fetch = HistogramSnapshot::default();
    for s in &node.shards {
        let m = &s.metrics;
        for (_, t) in &m.topics {
            bytes_in += t.bytes_in;
            records_in += t.records_in;
            bytes_out += t.bytes_out;
        }
        net_in += m.net_bytes_in;
        net_out += m.net_bytes_out;
        open += m.connections_accepted.saturating_sub(m.connections_closed);
        for (key, count, h) in &m.api {
            let e = apis.entry(*key).or_default();
            e.0 += count;
            e.1.merge(h);
        }
        append_to_durable.merge(&m.append_to_durable);
        durable_to_fetch.merge(&m.durable_to_fetch);
    }
    let requests: Vec<Value> = apis
        .iter()
        .map(|(key, (count, h))| {
            json!({
                "api": super::report::api_name(*key),
                "requests": count,
                "latency": histogram_json(h),
            })
        })
        .collect();
    json!({
        "node_id": node.node_id,
        "time_ms": now_ms,
        "latency_bounds_us": LATENCY_BOUNDS_US,
        "bytes_in": bytes_in,
        "records_in": records_in,
        "bytes_out": bytes_out,
        "network_bytes_in": net_in,
        "network_bytes_out": net_out,
        "connections": open,
        "requests": requests,
        "append_to_durable": histogram_json(&append_to_durable),
        "durable_to_fetch": histogram_json(&durable_to_fetch),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::report::ShardReport;
    use myelin_metrics::{Histogram, ShardSnapshot, TopicTraffic};

    fn shard(i: usize, produces: u64, us: u64) -> ShardReport {
        let h = Histogram::default();
        for _ in 0..produces {
            h.record_us(us);
        }
        let traffic = TopicTraffic {
            bytes_in: 100,
            records_in: 2,
            bytes_out: 50,
        };
        ShardReport {
            shard: i,
            metrics: ShardSnapshot {
                api: vec![(0, produces, h.snapshot())],
                topics: vec![("t".into(), traffic)],
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn shards_are_summed() {
        let node = NodeReport {
            node_id: 1,
            shards: vec![shard(0, 2, 80), shard(1, 3, 700)],
            ..Default::default()
        };
        let s = summary_json(&node, 42);
        assert_eq!(
            (s["time_ms"].as_i64(), s["bytes_in"].as_u64()),
            (Some(42), Some(200))
        );
        assert_eq!(s["records_in"], 4);
        assert_eq!(s["requests"][0]["api"], "Produce");
        assert_eq!(s["requests"][0]["requests"], 5);
        assert_eq!(s["requests"][0]["latency"]["count"], 5);
        assert_eq!(s["requests"][0]["latency"]["sum_us"], 2 * 80 + 3 * 700);
        let counts = s["requests"][0]["latency"]["counts"].as_array().unwrap();
        assert_eq!(counts.len(), LATENCY_BOUNDS_US.len() + 1);
        assert_eq!((counts[1].as_u64(), counts[4].as_u64()), (Some(2), Some(3)));
    }
}
