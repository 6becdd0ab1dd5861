//! The SVG chart beside the table: one horizontal bar per throughput figure (its median), a
//! whisker from min to max, and the TAP target as a dashed line.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use super::report::{Figure, GBITS};

/// Colours by where the figure was measured.
const IN_MEMORY: RGBColor = RGBColor(0x4c, 0x72, 0xb0);
const OVER_TAP: RGBColor = RGBColor(0xdd, 0x84, 0x52);
const KERNEL: RGBColor = RGBColor(0x55, 0xa8, 0x68);

/// A bar of the chart.
struct Bar {
    label: String,
    min: f64,
    median: f64,
    max: f64,
    colour: RGBColor,
}

fn bars(figures: &[Figure]) -> Vec<Bar> {
    figures
        .iter()
        .filter(|f| f.unit == GBITS)
        .filter_map(|f| {
            let label = f.plot_label.clone()?;
            let s = f.stats()?;
            let colour = if f.scenario.contains("memory") {
                IN_MEMORY
            } else if f.scenario.contains("veth") {
                KERNEL
            } else {
                OVER_TAP
            };
            Some(Bar {
                label,
                min: s.min,
                median: s.median,
                max: s.max,
                colour,
            })
        })
        .collect()
}

/// Writes the chart of the throughput figures to `path`; returns how many bars it has.
///
/// # Errors
/// When there is nothing to plot or the file cannot be written.
pub fn write(path: &Path, figures: &[Figure], title: &str, tap_target: f64) -> Result<usize> {
    let bars = bars(figures);
    if bars.is_empty() {
        return Err(anyhow!("no throughput figure was measured"));
    }
    let n = bars.len();
    let top = bars
        .iter()
        .map(|b| b.max)
        .fold(tap_target, f64::max)
        .max(1.0)
        * 1.12;
    let height = u32::try_from(90 + 26 * n).unwrap_or(2000);
    let root = SVGBackend::new(path, (1000, height)).into_drawing_area();
    let err = |e: &dyn std::fmt::Display| anyhow!("drawing {}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(300)
        .build_cartesian_2d(0.0..top, (0..n).into_segmented())
        .map_err(|e| err(&e))?;
    // The first figure at the top.
    let slot = |i: usize| n - 1 - i;
    let labels: Vec<String> = bars.iter().rev().map(|b| b.label.clone()).collect();
    let x_desc = format!(
        "Gbit/s (bar: median, whisker: min to max, dashed: the {tap_target} Gbit/s target over TAP)"
    );
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(TRANSPARENT)
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .x_desc(x_desc)
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            let mut r = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(slot(i))),
                    (b.median, SegmentValue::Exact(slot(i) + 1)),
                ],
                b.colour.filled(),
            );
            r.set_margin(4, 4, 0, 0);
            r
        }))
        .map_err(|e| err(&e))?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            PathElement::new(
                vec![
                    (b.min, SegmentValue::CenterOf(slot(i))),
                    (b.max, SegmentValue::CenterOf(slot(i))),
                ],
                BLACK.stroke_width(2),
            )
        }))
        .map_err(|e| err(&e))?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            Text::new(
                format!("{:.2}", b.median),
                (b.max + top * 0.01, SegmentValue::CenterOf(slot(i))),
                ("sans-serif", 12).into_font(),
            )
        }))
        .map_err(|e| err(&e))?;
    // The over-TAP target as a dashed line: a dash over the upper half of each bar's slot.
    chart
        .draw_series((0..n).map(|i| {
            PathElement::new(
                vec![
                    (tap_target, SegmentValue::Exact(i)),
                    (tap_target, SegmentValue::CenterOf(i)),
                ],
                RED.stroke_width(1),
            )
        }))
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::report::Outcome;

    #[test]
    fn chart_has_a_bar_per_plotted_throughput_figure() {
        let figures = [
            Figure::new("m", "a -> b", GBITS, Outcome::Measured(vec![1.0, 2.0, 3.0]))
                .plotted("memory: a -> b"),
            Figure::new("t", "k -> s", GBITS, Outcome::Skipped("no".into())).plotted("TAP: k -> s"),
            Figure::new("t", "cpu", "ns", Outcome::Measured(vec![5.0])).plotted("not a rate"),
            Figure::new("t", "unplotted", GBITS, Outcome::Measured(vec![5.0])),
        ];
        let path = std::env::temp_dir().join(format!("tapstack-plot-{}.svg", std::process::id()));
        let bars = write(&path, &figures, "title", 6.0).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(bars, 1);
        assert!(
            svg.starts_with("<svg") && svg.contains("memory: a -&gt; b"),
            "{svg}"
        );
        assert!(write(&path, &figures[1..], "title", 6.0).is_err());
    }
}
