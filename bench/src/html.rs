//! One-page HTML reports: the chart inlined as SVG, then tables of results, parameters, machine
//! and (when `baseline.json` is next to the report) the machine's measured limits.

use crate::report::{latency_rows, Report, Results};
use crate::stats::PERCENTILE_LABELS;
use std::fmt::Write as _;

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;\
text-align:right}th{background:#f4f4f4}td.k{text-align:left;font-family:monospace}\
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}";

/// Opens a page.
pub fn head(title: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>{STYLE}</style></head><body><h1>{}</h1>\n",
        esc(title),
        esc(title)
    )
}

/// A two-column key/value table.
pub fn kv_table(rows: &[(String, String)]) -> String {
    let mut s = String::from("<table>\n");
    for (k, v) in rows {
        let _ = writeln!(s, "<tr><td class=k>{}</td><td>{}</td></tr>", esc(k), esc(v));
    }
    s.push_str("</table>\n");
    s
}

/// Rows of a JSON object, nested keys joined with dots.
pub fn flatten(v: &serde_json::Value) -> Vec<(String, String)> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, x, out);
                }
            }
            serde_json::Value::String(s) => out.push((prefix.to_string(), s.clone())),
            other => out.push((prefix.to_string(), other.to_string())),
        }
    }
    let mut out = Vec::new();
    walk("", v, &mut out);
    out
}

/// The first number stored under `key` anywhere in `v`.
pub fn find_number(v: &serde_json::Value, key: &str) -> Option<f64> {
    match v {
        serde_json::Value::Object(m) => m
            .get(key)
            .and_then(serde_json::Value::as_f64)
            .or_else(|| m.values().find_map(|x| find_number(x, key))),
        serde_json::Value::Array(a) => a.iter().find_map(|x| find_number(x, key)),
        _ => None,
    }
}

/// Achieved throughput as fractions of the baseline's disk and loopback bandwidth.
pub fn baseline_fractions(r: &Results, baseline: &serde_json::Value) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let limits = [
        (
            "fio_write_bandwidth_bytes_per_s",
            "direct-I/O write bandwidth (fio)",
        ),
        (
            "iperf3_bandwidth_bytes_per_s",
            "loopback TCP bandwidth (iperf3)",
        ),
    ];
    for (key, what) in limits {
        let Some(limit) = find_number(baseline, key).filter(|l| *l > 0.0) else {
            continue;
        };
        for (side, mb) in [
            ("produce", r.produce.mb_per_s),
            ("consume", r.consume.mb_per_s),
        ] {
            rows.push((
                format!("{side} / {what}"),
                format!(
                    "{:.1}% ({:.1} of {:.1} MB/s)",
                    100.0 * mb * 1e6 / limit,
                    mb,
                    limit / 1e6
                ),
            ));
        }
    }
    rows
}

/// The throughput table of one run.
pub fn throughput_table(r: &Results) -> String {
    let mut s = String::from(
        "<table><tr><th></th><th>msgs/s</th><th>MB/s</th><th>messages</th><th>errors</th></tr>\n",
    );
    for (name, side) in [("produce", &r.produce), ("consume", &r.consume)] {
        let _ = writeln!(
            s,
            "<tr><td class=k>{name}</td><td>{:.0}</td><td>{:.1}</td><td>{}</td><td>{}</td></tr>",
            side.msgs_per_s, side.mb_per_s, side.messages, side.errors
        );
    }
    s.push_str("</table>\n");
    s
}

/// The latency table of one run.
pub fn latency_table(r: &Results) -> String {
    let mut s = String::from("<table><tr><th>µs</th>");
    for l in PERCENTILE_LABELS {
        let _ = write!(s, "<th>{l}</th>");
    }
    s.push_str("<th>samples</th></tr>\n");
    for (name, p) in latency_rows(r) {
        let _ = write!(s, "<tr><td class=k>{name}</td>");
        match p {
            Some(p) => {
                for v in p.values() {
                    let _ = write!(s, "<td>{v}</td>");
                }
                let _ = write!(s, "<td>{}</td>", p.count);
            }
            None => s.push_str("<td colspan=7>no samples</td>"),
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n");
    s
}

/// Machine rows of a report.
pub fn machine_rows(rep: &Report) -> Vec<(String, String)> {
    let m = &rep.machine;
    vec![
        ("hostname".into(), m.hostname.clone()),
        ("cores".into(), m.cores.to_string()),
        ("cpu".into(), m.cpu.clone()),
        ("kernel".into(), m.kernel.clone()),
        (
            "memory".into(),
            format!("{:.1} GiB", m.memory_bytes as f64 / (1u64 << 30) as f64),
        ),
        (
            "git commit".into(),
            rep.git_commit.clone().unwrap_or_else(|| "unknown".into()),
        ),
        ("tool".into(), rep.tool.clone()),
    ]
}

/// `report.html` of one run.
pub fn run_page(rep: &Report, svg: Option<&str>, baseline: Option<&serde_json::Value>) -> String {
    let mut s = head(&format!(
        "myelin-bench: {} against {}",
        rep.param("workload"),
        rep.param("bootstrap")
    ));
    match svg {
        Some(svg) => s.push_str(svg),
        None => s.push_str("<p>(no chart: see the warning printed by the run)</p>"),
    }
    s.push_str("<h2>Throughput (measured window)</h2>\n");
    s.push_str(&throughput_table(&rep.results));
    s.push_str("<h2>Latency, from each message's intended send time</h2>\n");
    s.push_str(&latency_table(&rep.results));
    if let Some(b) = &rep.results.broker {
        s.push_str("<h2>Broker (from /proc, measured window)</h2>\n");
        let mut rows: Vec<(String, String)> = b
            .cpu_percent
            .iter()
            .map(|(t, pct)| (format!("cpu {t}"), format!("{pct:.1}% of a core")))
            .collect();
        rows.push((
            "resident memory".into(),
            format!("{:.0} MiB", b.rss_bytes as f64 / (1u64 << 20) as f64),
        ));
        rows.push((
            "disk write".into(),
            format!("{:.1} MB/s", b.disk_write_mb_per_s),
        ));
        rows.push((
            "disk read".into(),
            format!("{:.1} MB/s", b.disk_read_mb_per_s),
        ));
        s.push_str(&kv_table(&rows));
    }
    if let Some(b) = baseline {
        s.push_str("<h2>Against this machine's limits (baseline.json)</h2>\n");
        s.push_str(&kv_table(&baseline_fractions(&rep.results, b)));
        s.push_str(&kv_table(&flatten(b)));
    }
    s.push_str("<h2>Parameters</h2>\n");
    s.push_str(&kv_table(&flatten(&rep.parameters)));
    s.push_str("<h2>Machine</h2>\n");
    s.push_str(&kv_table(&machine_rows(rep)));
    s.push_str("</body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_flattens_to_dotted_keys() {
        let v = serde_json::json!({"a": 1, "b": {"c": "x", "d": [1, 2]}});
        assert_eq!(
            flatten(&v),
            vec![
                ("a".to_string(), "1".to_string()),
                ("b.c".to_string(), "x".to_string()),
                ("b.d".to_string(), "[1,2]".to_string())
            ]
        );
    }

    #[test]
    fn baseline_fractions_use_any_nesting() {
        let b = serde_json::json!({"fio": {"fio_write_bandwidth_bytes_per_s": 2.0e9},
                                   "iperf3_bandwidth_bytes_per_s": 4.0e9});
        let mut r = Results::default();
        r.produce.mb_per_s = 500.0;
        let rows = baseline_fractions(&r, &b);
        assert_eq!(rows.len(), 4);
        assert!(rows[0].1.starts_with("25.0%"), "{rows:?}");
        assert!(rows[2].1.starts_with("12.5%"), "{rows:?}");
        assert!(baseline_fractions(&r, &serde_json::json!({})).is_empty());
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc("<a&\"b\">"), "&lt;a&amp;&quot;b&quot;&gt;");
    }
}
