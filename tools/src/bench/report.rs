//! The figures of one bench run and how they are shown: a Markdown table with each target beside
//! its figure, and JSON for plotting.

use std::fmt::Write as _;

/// Which side of a target a figure must be on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// The figure must be at least the target.
    AtLeast,
    /// The figure must be at most the target.
    AtMost,
}

/// A target a figure is held against (by its median).
#[derive(Clone, Debug)]
pub struct Target {
    pub bound: Bound,
    pub value: f64,
    /// How the table shows it, e.g. ">= 6" or ">= 2x smoltcp -> smoltcp (26.1)".
    pub label: String,
}

impl Target {
    pub fn at_least(value: f64) -> Target {
        Target {
            bound: Bound::AtLeast,
            value,
            label: format!(">= {}", number(value)),
        }
    }

    pub fn at_most(value: f64) -> Target {
        Target {
            bound: Bound::AtMost,
            value,
            label: format!("<= {}", number(value)),
        }
    }

    fn met_by(&self, v: f64) -> bool {
        match self.bound {
            Bound::AtLeast => v >= self.value,
            Bound::AtMost => v <= self.value,
        }
    }
}

/// What became of a figure.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// One value per run.
    Measured(Vec<f64>),
    /// Not measured on this machine, and why (not root, a tool missing, ...).
    Skipped(String),
    /// The measurement went wrong, and how.
    Failed(String),
}

/// The unit a figure is plotted in: throughput figures go into the SVG.
pub const GBITS: &str = "Gbit/s";
/// Throughput too slow for Gbit/s to show well (an impaired link); not plotted.
pub const MBITS: &str = "Mbit/s";

/// One row of the table.
#[derive(Clone, Debug)]
pub struct Figure {
    pub scenario: String,
    pub figure: String,
    pub unit: &'static str,
    pub outcome: Outcome,
    pub target: Option<Target>,
    /// The bar's label when the figure goes into the chart.
    pub plot_label: Option<String>,
}

/// Min, median and max of a figure's runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

/// Min, median (the mean of the middle two for an even count) and max; `None` for no values.
pub fn stats(values: &[f64]) -> Option<Stats> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let (&min, &max) = (v.first()?, v.last()?);
    let mid = v.len() / 2;
    let median = if v.len() % 2 == 1 {
        *v.get(mid)?
    } else {
        (*v.get(mid - 1)? + *v.get(mid)?) / 2.0
    };
    Some(Stats { min, median, max })
}

/// The value below which `p` percent of `values` lie (nearest rank); `None` for no values.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v.get(rank.clamp(1, v.len()) - 1).copied()
}

/// A figure's verdict against its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Met,
    Missed,
    /// No target, or nothing measured.
    None,
}

impl Figure {
    pub fn new(scenario: &str, figure: &str, unit: &'static str, outcome: Outcome) -> Figure {
        Figure {
            scenario: scenario.to_owned(),
            figure: figure.to_owned(),
            unit,
            outcome,
            target: None,
            plot_label: None,
        }
    }

    /// Puts the figure into the chart under `label`.
    pub fn plotted(mut self, label: impl Into<String>) -> Figure {
        self.plot_label = Some(label.into());
        self
    }

    pub fn with_target(mut self, target: Target) -> Figure {
        self.target = Some(target);
        self
    }

    pub fn stats(&self) -> Option<Stats> {
        match &self.outcome {
            Outcome::Measured(v) => stats(v),
            _ => None,
        }
    }

    pub fn verdict(&self) -> Verdict {
        match (&self.target, self.stats()) {
            (Some(t), Some(s)) if t.met_by(s.median) => Verdict::Met,
            (Some(_), Some(_)) => Verdict::Missed,
            _ => Verdict::None,
        }
    }

    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Failed(_))
    }
}

/// A figure as the table shows it: four significant-ish digits, no exponent.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return "-".to_owned();
    }
    let a = v.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Table cells may not hold a `|` or a line break.
fn cell(s: &str) -> String {
    s.replace('|', "/").replace(['\n', '\r'], " ")
}

/// The Markdown table of `figures`.
pub fn table(figures: &[Figure]) -> String {
    let mut out = String::new();
    out.push_str("| scenario | figure | unit | min | median | max | target | verdict |\n");
    out.push_str("|---|---|---|---:|---:|---:|---|---|\n");
    for f in figures {
        let target = f.target.as_ref().map_or("-".to_owned(), |t| cell(&t.label));
        let (min, med, max, verdict) = match (&f.outcome, f.stats()) {
            (Outcome::Measured(_), Some(s)) => {
                let verdict = match f.verdict() {
                    Verdict::Met => "met",
                    Verdict::Missed => "**missed**",
                    Verdict::None => "-",
                };
                (
                    number(s.min),
                    number(s.median),
                    number(s.max),
                    verdict.to_owned(),
                )
            }
            (Outcome::Measured(_), None) => dashes("failed: no value".to_owned()),
            (Outcome::Skipped(why), _) => dashes(format!("skipped: {}", cell(why))),
            (Outcome::Failed(why), _) => dashes(format!("**failed**: {}", cell(why))),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {min} | {med} | {max} | {target} | {verdict} |",
            cell(&f.scenario),
            cell(&f.figure),
            f.unit
        );
    }
    out
}

fn dashes(verdict: String) -> (String, String, String, String) {
    ("-".to_owned(), "-".to_owned(), "-".to_owned(), verdict)
}

/// A JSON string literal.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON number, or `null` for what JSON cannot hold.
fn json_number(v: f64) -> String {
    if v.is_finite() {
        // Enough digits for any figure here, without float noise.
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s.is_empty() || s == "-" {
            "0".to_owned()
        } else {
            s.to_owned()
        }
    } else {
        "null".to_owned()
    }
}

/// Facts about the run that the JSON carries besides the figures.
#[derive(Clone, Debug)]
pub struct RunInfo {
    pub quick: bool,
    pub runs: usize,
    pub seconds: f64,
}

/// Every figure as JSON: one object per table row, with the values of every run.
pub fn json(info: &RunInfo, figures: &[Figure]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{{\n  \"tool\": \"tapstack bench\",\n  \"version\": {},\n  \"quick\": {},\n  \"runs\": {},\n  \"seconds\": {},\n  \"figures\": [",
        json_string(env!("CARGO_PKG_VERSION")),
        info.quick,
        info.runs,
        json_number(info.seconds)
    );
    for (i, f) in figures.iter().enumerate() {
        let mut o = format!(
            "    {{\"scenario\": {}, \"figure\": {}, \"unit\": {}",
            json_string(&f.scenario),
            json_string(&f.figure),
            json_string(f.unit)
        );
        match &f.outcome {
            Outcome::Measured(v) => {
                let values: Vec<String> = v.iter().map(|&x| json_number(x)).collect();
                let _ = write!(
                    o,
                    ", \"status\": \"measured\", \"values\": [{}]",
                    values.join(", ")
                );
                if let Some(s) = f.stats() {
                    let _ = write!(
                        o,
                        ", \"min\": {}, \"median\": {}, \"max\": {}",
                        json_number(s.min),
                        json_number(s.median),
                        json_number(s.max)
                    );
                }
            }
            Outcome::Skipped(why) => {
                let _ = write!(
                    o,
                    ", \"status\": \"skipped\", \"reason\": {}",
                    json_string(why)
                );
            }
            Outcome::Failed(why) => {
                let _ = write!(
                    o,
                    ", \"status\": \"failed\", \"reason\": {}",
                    json_string(why)
                );
            }
        }
        if let Some(t) = &f.target {
            let bound = match t.bound {
                Bound::AtLeast => ">=",
                Bound::AtMost => "<=",
            };
            let _ = write!(
                o,
                ", \"target\": {{\"bound\": \"{bound}\", \"value\": {}, \"label\": {}}}",
                json_number(t.value),
                json_string(&t.label)
            );
            let verdict = match f.verdict() {
                Verdict::Met => "\"met\"",
                Verdict::Missed => "\"missed\"",
                Verdict::None => "null",
            };
            let _ = write!(o, ", \"verdict\": {verdict}");
        }
        o.push('}');
        if i + 1 < figures.len() {
            o.push(',');
        }
        out.push_str(&o);
        out.push('\n');
    }
    out.push_str("  ]\n}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        let s = stats(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.min, s.median, s.max), (1.0, 2.0, 3.0));
        let s = stats(&[4.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!((s.min, s.median, s.max), (1.0, 2.5, 4.0));
        assert!(stats(&[]).is_none());
        assert!(stats(&[f64::NAN]).is_none());
    }

    #[test]
    fn percentile_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 99.0), None);
    }

    #[test]
    fn verdicts_by_median() {
        let f = Figure::new("s", "f", GBITS, Outcome::Measured(vec![5.0, 7.0, 6.5]))
            .with_target(Target::at_least(6.0));
        assert_eq!(f.verdict(), Verdict::Met);
        let f = Figure::new("s", "f", "us", Outcome::Measured(vec![60.0]))
            .with_target(Target::at_most(55.0));
        assert_eq!(f.verdict(), Verdict::Missed);
        let f = Figure::new("s", "f", "us", Outcome::Skipped("x".into()))
            .with_target(Target::at_most(55.0));
        assert_eq!(f.verdict(), Verdict::None);
    }

    #[test]
    fn table_rows_show_skips_and_targets() {
        let figures = [
            Figure::new(
                "TAP",
                "kernel -> tapstack",
                GBITS,
                Outcome::Skipped("needs root".into()),
            )
            .with_target(Target::at_least(6.0)),
            Figure::new(
                "replay",
                "frames",
                "M frames/s",
                Outcome::Measured(vec![1.5]),
            )
            .with_target(Target::at_least(1.0)),
        ];
        let t = table(&figures);
        assert!(
            t.contains(
                "| TAP | kernel -> tapstack | Gbit/s | - | - | - | >= 6.00 | skipped: needs root |"
            ),
            "{t}"
        );
        assert!(t.contains("| 1.50 | 1.50 | 1.50 | >= 1.00 | met |"), "{t}");
    }

    #[test]
    fn json_escapes_and_has_no_nan() {
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(json_number(f64::NAN), "null");
        assert_eq!(json_number(2.5), "2.5");
        assert_eq!(json_number(3.0), "3");
        let info = RunInfo {
            quick: true,
            runs: 1,
            seconds: 1.0,
        };
        let j = json(
            &info,
            &[Figure::new(
                "s",
                "f",
                "us",
                Outcome::Measured(vec![1.0, f64::INFINITY]),
            )],
        );
        assert!(j.contains("\"values\": [1, null]"), "{j}");
        assert!(!j.contains("NaN") && !j.contains("inf"), "{j}");
    }
}
