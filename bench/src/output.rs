//! Files a run writes into `--out`: report.json, produce-ack.hgrm, end-to-end.hgrm,
//! latency.svg, latency.png and report.html.

use crate::chart::{self, Series};
use crate::html;
use crate::report::Report;
use crate::stats::{curve, hgrm_text, Recorder};
use anyhow::Context;
use std::path::Path;

/// Reads `baseline.json` from `dir` if it is there and is JSON.
pub fn read_baseline(dir: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("baseline.json")).ok()?;
    match serde_json::from_str(&text) {
        Ok(v) => Some(v),
        Err(e) => {
            eprintln!("warning: baseline.json is not JSON ({e}); ignored");
            None
        }
    }
}

/// The curves of a recorder, labelled with `prefix`.
pub fn series(rec: &Recorder, prefix: &str) -> Vec<Series> {
    let mut out = Vec::new();
    for (name, h) in [("produce-ack", &rec.ack), ("end-to-end", &rec.e2e)] {
        if !h.is_empty() {
            out.push(Series {
                label: format!("{prefix}{name}"),
                points: curve(h),
            });
        }
    }
    out
}

/// Draws the chart as `latency.svg` and `latency.png` in `dir`; returns the SVG text, or
/// `None` (with a warning) when it could not be drawn.
pub fn write_chart(dir: &Path, title: &str, series: &[Series]) -> Option<String> {
    if series.is_empty() {
        return None;
    }
    let svg = match chart::svg(title, series) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("warning: chart not drawn: {e:#}");
            return None;
        }
    };
    if let Err(e) = std::fs::write(dir.join("latency.svg"), &svg) {
        eprintln!("warning: writing latency.svg: {e}");
    }
    if let Err(e) = chart::png(&dir.join("latency.png"), title, series) {
        eprintln!("warning: latency.png not drawn: {e:#}");
    }
    Some(svg)
}

/// Writes every file of one run.
pub fn write_run(dir: &Path, rep: &Report, rec: &Recorder) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("report.json"), serde_json::to_string_pretty(rep)?)?;
    std::fs::write(dir.join("produce-ack.hgrm"), hgrm_text(&rec.ack))?;
    std::fs::write(dir.join("end-to-end.hgrm"), hgrm_text(&rec.e2e))?;
    let title = format!(
        "{} ({} client) against {}",
        rep.param("workload"),
        rep.param("client"),
        rep.param("bootstrap")
    );
    let svg = write_chart(dir, &title, &series(rec, ""));
    let baseline = read_baseline(dir);
    std::fs::write(
        dir.join("report.html"),
        html::run_page(rep, svg.as_deref(), baseline.as_ref()),
    )?;
    Ok(())
}
