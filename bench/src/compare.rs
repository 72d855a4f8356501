//! `compare`: one workload against two bootstrap addresses in one run, alternating A, B, A, B…
//! so both see the same machine state, then per-side medians and the ratios B/A.
//!
//! Every round uses fresh topics, so no round reads another's data. Each round's own report goes
//! into `round-<n>-<a|b>/` under `--out`; `compare.json` and `compare.html` sit at the top.

use crate::chart::Series;
use crate::html;
use crate::output;
use crate::params::{unique_prefix, Params};
use crate::report::{Machine, Results};
use crate::stats::{Recorder, PERCENTILE_LABELS};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The figures compared, by name: throughput of both sides and every latency percentile.
pub fn metrics(r: &Results) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    m.insert("produce.msgs_per_s".into(), r.produce.msgs_per_s);
    m.insert("produce.mb_per_s".into(), r.produce.mb_per_s);
    m.insert("consume.msgs_per_s".into(), r.consume.msgs_per_s);
    m.insert("consume.mb_per_s".into(), r.consume.mb_per_s);
    m.insert(
        "errors".into(),
        (r.produce.errors + r.consume.errors) as f64,
    );
    for (name, p) in [
        ("produce_ack_us", r.produce_ack_us),
        ("end_to_end_us", r.end_to_end_us),
    ] {
        if let Some(p) = p {
            for (label, v) in PERCENTILE_LABELS.iter().zip(p.values()) {
                m.insert(format!("{name}.{label}"), v as f64);
            }
        }
    }
    m
}

/// The median of `xs` (mean of the middle two for an even count); `None` when empty.
pub fn median(xs: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => v.get(n / 2).copied(),
        _ => Some((v.get(n / 2 - 1)? + v.get(n / 2)?) / 2.0),
    }
}

/// Per-metric medians over rounds (a metric missing from some rounds uses the rest).
pub fn medians(rounds: &[BTreeMap<String, f64>]) -> BTreeMap<String, f64> {
    let mut keys: Vec<&String> = rounds.iter().flat_map(|r| r.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let xs: Vec<f64> = rounds.iter().filter_map(|r| r.get(k).copied()).collect();
            median(&xs).map(|m| (k.clone(), m))
        })
        .collect()
}

/// B/A for every metric both sides have with a non-zero A.
pub fn ratios(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    a.iter()
        .filter(|(_, &va)| va != 0.0)
        .filter_map(|(k, va)| b.get(k).map(|vb| (k.clone(), vb / va)))
        .collect()
}

/// One side of a comparison.
#[derive(Serialize)]
pub struct SideSummary {
    /// Label shown in tables.
    pub label: String,
    /// Bootstrap address.
    pub bootstrap: String,
    /// Each round's results.
    pub rounds: Vec<Results>,
    /// Median of each metric over the rounds.
    pub median: BTreeMap<String, f64>,
}

/// `compare.json`.
#[derive(Serialize)]
pub struct Comparison {
    /// Tool and version.
    pub tool: String,
    /// Git commit, when known.
    pub git_commit: Option<String>,
    /// The machine.
    pub machine: Machine,
    /// Parameters (bootstrap and topic prefix differ per side and round).
    pub parameters: serde_json::Value,
    /// B's parameters, when its topics are created differently from A's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters_b: Option<serde_json::Value>,
    /// Side A.
    pub a: SideSummary,
    /// Side B.
    pub b: SideSummary,
    /// Median B / median A for each metric.
    pub ratio_b_over_a: BTreeMap<String, f64>,
}

/// Options of `compare`.
pub struct CompareArgs<'a> {
    /// Bootstrap address of A.
    pub a: &'a str,
    /// Bootstrap address of B.
    pub b: &'a str,
    /// Label of A.
    pub label_a: &'a str,
    /// Label of B.
    pub label_b: &'a str,
    /// Rounds (each runs A then B).
    pub rounds: u32,
}

/// Runs the comparison and writes its files into `out`. `base_b` is `base` unless B's topics
/// are created differently (`--b-replication-factor`, `--b-topic-config`).
pub fn run(
    base: &Params,
    base_b: &Params,
    args: &CompareArgs<'_>,
    out: &Path,
) -> anyhow::Result<Comparison> {
    std::fs::create_dir_all(out)?;
    let prefix = unique_prefix(base.workload);
    let mut results: [Vec<Results>; 2] = [Vec::new(), Vec::new()];
    let mut merged = [Recorder::default(), Recorder::default()];
    for round in 0..args.rounds {
        for (side, (addr, tag, params)) in [(args.a, "a", base), (args.b, "b", base_b)]
            .into_iter()
            .enumerate()
        {
            let p = params.for_target(addr, format!("{prefix}-r{round}{tag}"));
            eprintln!(
                "== round {} of {}, side {} ({addr})",
                round + 1,
                args.rounds,
                tag.to_uppercase()
            );
            let (rep, rec) = crate::run::execute(&p)?;
            print!("{}", crate::report::table(&rep));
            output::write_run(&out.join(format!("round-{round}-{tag}")), &rep, &rec)?;
            if let (Some(list), Some(m)) = (results.get_mut(side), merged.get_mut(side)) {
                list.push(rep.results);
                m.merge(&rec);
            }
        }
    }
    let [ra, rb] = results;
    let side = |label: &str, bootstrap: &str, rounds: Vec<Results>| {
        let ms: Vec<_> = rounds.iter().map(metrics).collect();
        SideSummary {
            label: label.to_string(),
            bootstrap: bootstrap.to_string(),
            median: medians(&ms),
            rounds,
        }
    };
    let a = side(args.label_a, args.a, ra);
    let b = side(args.label_b, args.b, rb);
    let cmp = Comparison {
        tool: format!("myelin-bench {}", env!("CARGO_PKG_VERSION")),
        git_commit: crate::report::git_commit(),
        machine: Machine::detect(),
        parameters: serde_json::to_value(base)?,
        parameters_b: side_b_differs(base, base_b)
            .then(|| serde_json::to_value(base_b))
            .transpose()?,
        ratio_b_over_a: ratios(&a.median, &b.median),
        a,
        b,
    };
    std::fs::write(
        out.join("compare.json"),
        serde_json::to_string_pretty(&cmp)?,
    )?;
    let [ma, mb] = &merged;
    let mut series: Vec<Series> = output::series(ma, &format!("{} ", args.label_a));
    series.extend(output::series(mb, &format!("{} ", args.label_b)));
    let title = format!(
        "{}: {} vs {}",
        cmp_workload(&cmp),
        args.label_a,
        args.label_b
    );
    let svg = output::write_chart(out, &title, &series);
    std::fs::write(out.join("compare.html"), page(&cmp, svg.as_deref()))?;
    Ok(cmp)
}

/// Whether B's topics are created, or its clients configured, otherwise than A's.
fn side_b_differs(a: &Params, b: &Params) -> bool {
    a.replication_factor != b.replication_factor
        || a.topic_configs != b.topic_configs
        || a.rdkafka_configs != b.rdkafka_configs
}

fn cmp_workload(c: &Comparison) -> String {
    c.parameters
        .get("workload")
        .and_then(|w| w.as_str())
        .unwrap_or("")
        .to_string()
}

/// The comparison table: metric, median A, median B, B/A.
pub fn table(c: &Comparison) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<26} {:>14} {:>14} {:>8}",
        "median of rounds", c.a.label, c.b.label, "B/A"
    );
    for (k, va) in &c.a.median {
        let vb = c.b.median.get(k).copied();
        let ratio = c
            .ratio_b_over_a
            .get(k)
            .map_or_else(|| "-".into(), |r| format!("{r:.2}"));
        let _ = writeln!(
            s,
            "{k:<26} {va:>14.1} {:>14} {ratio:>8}",
            vb.map_or_else(|| "-".into(), |v| format!("{v:.1}"))
        );
    }
    s
}

fn page(c: &Comparison, svg: Option<&str>) -> String {
    let mut s = html::head(&format!(
        "myelin-bench compare: {} — {} ({}) vs {} ({})",
        cmp_workload(c),
        c.a.label,
        c.a.bootstrap,
        c.b.label,
        c.b.bootstrap
    ));
    if let Some(svg) = svg {
        s.push_str(svg);
    }
    let _ = write!(
        s,
        "<h2>Medians over {} rounds, run alternately</h2>\n<table><tr><th>metric</th>\
         <th>{}</th><th>{}</th><th>B/A</th></tr>\n",
        c.a.rounds.len(),
        html::esc(&c.a.label),
        html::esc(&c.b.label)
    );
    for (k, va) in &c.a.median {
        let vb =
            c.b.median
                .get(k)
                .map_or_else(|| "-".into(), |v| format!("{v:.1}"));
        let r = c
            .ratio_b_over_a
            .get(k)
            .map_or_else(|| "-".into(), |r| format!("{r:.3}"));
        let _ = writeln!(
            s,
            "<tr><td class=k>{}</td><td>{va:.1}</td><td>{vb}</td><td>{r}</td></tr>",
            html::esc(k)
        );
    }
    s.push_str("</table>\n");
    for side in [&c.a, &c.b] {
        let _ = writeln!(
            s,
            "<h2>{} ({}), each round</h2>",
            html::esc(&side.label),
            html::esc(&side.bootstrap)
        );
        for r in &side.rounds {
            s.push_str(&html::throughput_table(r));
            s.push_str(&html::latency_table(r));
        }
    }
    s.push_str("<h2>Parameters</h2>\n");
    s.push_str(&html::kv_table(&html::flatten(&c.parameters)));
    if let Some(pb) = &c.parameters_b {
        s.push_str("<h2>Parameters of B (where its topics differ)</h2>\n");
        s.push_str(&html::kv_table(&html::flatten(pb)));
    }
    s.push_str("<h2>Machine</h2>\n");
    s.push_str(&html::kv_table(&html::flatten(
        &serde_json::to_value(&c.machine).unwrap_or_default(),
    )));
    s.push_str("</body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[f64::NAN, 1.0]), Some(1.0));
    }

    #[test]
    fn ratios_are_b_over_a_and_skip_zero_a() {
        let mut a = BTreeMap::new();
        a.insert("x".to_string(), 2.0);
        a.insert("zero".to_string(), 0.0);
        a.insert("only_a".to_string(), 1.0);
        let mut b = BTreeMap::new();
        b.insert("x".to_string(), 3.0);
        b.insert("zero".to_string(), 5.0);
        let r = ratios(&a, &b);
        assert_eq!(r.len(), 1);
        assert_eq!(r["x"], 1.5);
    }

    #[test]
    fn metrics_cover_throughput_and_percentiles() {
        let mut r = Results::default();
        r.produce.msgs_per_s = 10.0;
        r.produce_ack_us = Some(crate::stats::Percentiles {
            count: 1,
            p50: 5,
            p90: 6,
            p99: 7,
            p99_9: 8,
            p99_99: 9,
            max: 10,
        });
        let m = metrics(&r);
        assert_eq!(m["produce.msgs_per_s"], 10.0);
        assert_eq!(m["produce_ack_us.p99.9"], 8.0);
        assert_eq!(m["produce_ack_us.max"], 10.0);
        assert!(!m.contains_key("end_to_end_us.p50"));
        let med = medians(&[m.clone(), metrics(&Results::default())]);
        assert_eq!(med["produce.msgs_per_s"], 5.0);
        assert_eq!(med["produce_ack_us.p50"], 5.0);
    }
}
