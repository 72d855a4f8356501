//! The latency-by-percentile chart (HdrHistogram style): x is 1/(1-percentile) on a log scale,
//! so 90%, 99%, 99.9%, 99.99% are evenly spaced; y is latency in milliseconds. Drawn with
//! plotters as SVG and PNG.
//!
//! Text needs a font: plotters' `ab_glyph` backend is given a TrueType file read at run time
//! from the usual system places (Debian's `fonts-dejavu-core` provides one). Without a font the
//! chart is skipped with a warning; the rest of the report is still written.

use anyhow::{bail, Context};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

/// Font files tried in order; then any `.ttf` under /usr/share/fonts.
const FONT_CANDIDATES: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// Chart size in pixels.
const SIZE: (u32, u32) = (960, 560);

/// One curve: a label and its (quantile, microseconds) points.
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Points of the curve, quantiles below 1.
    pub points: Vec<(f64, u64)>,
}

fn find_font() -> Option<Vec<u8>> {
    for p in FONT_CANDIDATES {
        if let Ok(b) = std::fs::read(p) {
            return Some(b);
        }
    }
    let mut stack = vec![std::path::PathBuf::from("/usr/share/fonts")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "ttf") {
                if let Ok(b) = std::fs::read(&path) {
                    return Some(b);
                }
            }
        }
    }
    None
}

/// Registers a system font with plotters once per process.
fn ensure_font() -> anyhow::Result<()> {
    static FONT: OnceLock<bool> = OnceLock::new();
    let ok = *FONT.get_or_init(|| {
        let Some(bytes) = find_font() else {
            return false;
        };
        // plotters keeps fonts for the life of the process; so does this leak, once.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
    });
    if !ok {
        bail!("no TrueType font found under /usr/share/fonts (install fonts-dejavu-core)");
    }
    Ok(())
}

/// x position of quantile `q`: log10(1/(1-q)).
pub fn x_of(q: f64) -> f64 {
    (1.0 / (1.0 - q).max(1e-12)).log10()
}

/// Axis label of x position `x`: the percentile with as many decimals as it needs.
pub fn percent_label(x: f64) -> String {
    let p = 100.0 * (1.0 - 10f64.powf(-x));
    let decimals = (x.ceil().max(0.0) as usize).saturating_sub(2);
    format!("{p:.decimals$}%")
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    series: &[Series],
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let x_max = series
        .iter()
        .flat_map(|s| s.points.iter())
        .map(|&(q, _)| x_of(q))
        .fold(2.0f64, f64::max)
        .ceil()
        .min(7.0);
    let y_max = series
        .iter()
        .flat_map(|s| s.points.iter())
        .map(|&(_, us)| us as f64 / 1000.0)
        .fold(0.01f64, f64::max)
        * 1.05;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    chart
        .configure_mesh()
        .x_labels(x_max as usize + 1)
        .x_label_formatter(&|x| percent_label(*x))
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .draw()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .map(|&(q, us)| (x_of(q), us as f64 / 1000.0))
            .collect();
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(|e| anyhow::anyhow!("{e:?}"))?
            .label(s.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(())
}

/// Draws the chart as SVG text.
pub fn svg(title: &str, series: &[Series]) -> anyhow::Result<String> {
    ensure_font()?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        draw(root, title, series)?;
    }
    Ok(out)
}

/// Draws the chart into a PNG file.
pub fn png(path: &Path, title: &str, series: &[Series]) -> anyhow::Result<()> {
    ensure_font()?;
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    draw(root, title, series).with_context(|| format!("drawing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_evenly_spaced_on_the_x_axis() {
        assert!((x_of(0.9) - 1.0).abs() < 1e-9);
        assert!((x_of(0.999) - 3.0).abs() < 1e-9);
        assert_eq!(percent_label(0.0), "0%");
        assert_eq!(percent_label(1.0), "90%");
        assert_eq!(percent_label(2.0), "99%");
        assert_eq!(percent_label(3.0), "99.9%");
        assert_eq!(percent_label(4.0), "99.99%");
        assert_eq!(percent_label(x_of(0.5)), "50%");
    }
}
