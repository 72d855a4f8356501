//! One run of a workload with the chosen client, turned into a [`Report`].

use crate::params::{ClientKind, Params};
use crate::report::{Report, Results};
use crate::stats::{Live, Recorder};
use std::sync::Arc;

/// Runs `p` and returns its report and the merged histograms.
pub fn execute(p: &Params) -> anyhow::Result<(Report, Recorder)> {
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    eprintln!(
        "{} with the {:?} client against {}: topics {}-*, {} producers at {}, {} consumers, \
         {} s warm-up + {} s measured",
        serde_json::to_value(p.workload).unwrap_or_default(),
        p.client,
        p.bootstrap,
        p.topic_prefix,
        p.producers,
        if p.rate_msgs_per_s > 0.0 {
            format!(
                "{:.0} msgs/s ({:.1} MiB/s)",
                p.rate_msgs_per_s,
                p.rate_mib_per_s()
            )
        } else {
            "an unlimited rate".to_string()
        },
        p.consumers(),
        p.warmup_s,
        p.duration_s
    );
    let live = Arc::new(Live::default());
    let sampler = p.broker_pid.map(crate::broker::Sampler::start);
    let (rec, window) = match p.client {
        ClientKind::Native => crate::native::run(p, &live)?,
        ClientKind::Rdkafka => crate::rdk::run(p, &live)?,
    };
    let mut results = Results::of(&rec, &window, p);
    results.broker = sampler.and_then(|s| s.usage(window.start_ns, window.end_ns));
    Ok((Report::new(p, results, started), rec))
}
