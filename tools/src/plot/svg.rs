//! Drawing: axes, scales, bars and lines written as SVG by hand, one graph per connection and
//! the trace chart under it.

use std::fmt::Write as _;

use super::capture::*;
use super::series::*;
use super::trace::*;

pub(super) const WIDTH: f64 = 960.0;
pub(super) const GRAPH_HEIGHT: f64 = 480.0;
pub(super) const TRACE_HEIGHT: f64 = 260.0;
pub(super) const LEFT: f64 = 90.0;
pub(super) const RIGHT: f64 = 70.0;
pub(super) const TOP: f64 = 52.0;
pub(super) const BOTTOM: f64 = 45.0;

pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A linear map from data to pixels.
#[derive(Clone, Copy, Debug)]
pub(super) struct Scale {
    pub(super) d0: f64,
    pub(super) d1: f64,
    pub(super) p0: f64,
    pub(super) p1: f64,
}

impl Scale {
    pub(super) fn new(d0: f64, d1: f64, p0: f64, p1: f64) -> Scale {
        let (d0, d1) = if d1 > d0 { (d0, d1) } else { (d0, d0 + 1.0) };
        Scale { d0, d1, p0, p1 }
    }

    pub(super) fn at(&self, v: f64) -> f64 {
        self.p0 + (v - self.d0) / (self.d1 - self.d0) * (self.p1 - self.p0)
    }

    /// About five round tick values within the domain.
    pub(super) fn ticks(&self) -> Vec<f64> {
        let span = self.d1 - self.d0;
        let raw = span / 5.0;
        let mag = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * mag)
            .find(|s| *s >= raw)
            .unwrap_or(10.0 * mag);
        let mut v = (self.d0 / step).ceil() * step;
        let mut out = Vec::new();
        while v <= self.d1 + step * 1e-9 && out.len() < 20 {
            out.push(v);
            v += step;
        }
        out
    }
}

pub(super) fn tick_label(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a == a.trunc() {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// Axes, grid and labels of a chart whose plot area is `x` by `y`.
pub(super) fn axes(svg: &mut String, x: Scale, y: Scale, x_label: &str, y_label: &str) {
    let (left, right) = (x.p0, x.p1);
    let (bottom, top) = (y.p0, y.p1);
    let _ = writeln!(
        svg,
        r##"<rect class="frame" x="{left:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="#fff" stroke="#444"/>"##,
        right - left,
        bottom - top
    );
    svg.push_str("<g class=\"axis\" font-size=\"11\" fill=\"#333\">\n");
    for v in x.ticks() {
        let px = x.at(v);
        let _ = writeln!(
            svg,
            r##"<line x1="{px:.1}" y1="{top:.1}" x2="{px:.1}" y2="{bottom:.1}" stroke="#eee"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            bottom + 15.0,
            tick_label(v)
        );
    }
    for v in y.ticks() {
        let py = y.at(v);
        let _ = writeln!(
            svg,
            r##"<line x1="{left:.1}" y1="{py:.1}" x2="{right:.1}" y2="{py:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            left - 5.0,
            py + 4.0,
            tick_label(v)
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        (left + right) / 2.0,
        bottom + 32.0,
        escape(x_label)
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate({:.1},{:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        left - 60.0,
        (top + bottom) / 2.0,
        escape(y_label)
    );
    svg.push_str("</g>\n");
}

/// A step line through `points` (each value holds until the next).
/// A point at the height (to a tenth of a pixel) of the one before only extends the line: it is
/// left out, but for the last.
pub(super) fn steps(points: &[(f64, f64)], x: Scale, y: Scale) -> String {
    let mut out = String::new();
    let mut prev: Option<String> = None;
    let mut skipped: Option<f64> = None;
    for &(t, v) in points {
        let (px, py) = (x.at(t), y.at(v));
        let here = format!("{py:.1}");
        if prev.as_deref() == Some(here.as_str()) {
            skipped = Some(px);
            continue;
        }
        skipped = None;
        if let Some(p) = &prev {
            let _ = write!(out, "{px:.1},{p} ");
        }
        let _ = write!(out, "{px:.1},{here} ");
        prev = Some(here);
    }
    if let (Some(px), Some(p)) = (skipped, &prev) {
        let _ = write!(out, "{px:.1},{p}");
    }
    out.trim_end().to_owned()
}

/// Above this many bars in a series, bars in the same pixel column that touch are drawn as one.
pub(super) const MERGE_ABOVE: usize = 20_000;

/// Bars as pixels: one per bar, or with more than [`MERGE_ABOVE`] those in one pixel column
/// that touch or overlap merged (the picture is the same, the file much smaller).
pub(super) fn pixel_bars(list: &[Bar], x: Scale, y: Scale) -> Vec<(f64, f64, f64)> {
    let mut out: Vec<(f64, f64, f64)> = Vec::new();
    let merge = list.len() > MERGE_ABOVE;
    for &(t, a, b) in list {
        let px = (x.at(t) * 2.0).round() / 2.0;
        let (lo, hi) = {
            let (ya, yb) = (y.at(a), y.at(b));
            (ya.min(yb), ya.max(yb))
        };
        if merge {
            if let Some(last) = out.last_mut() {
                if last.0 == px && lo <= last.2 + 1.0 && hi >= last.1 - 1.0 {
                    last.1 = last.1.min(lo);
                    last.2 = last.2.max(hi);
                    continue;
                }
            }
        }
        out.push((px, lo, hi));
    }
    out
}

/// Vertical bars, one element each; `ring` puts a circle around each bar's middle too (in the
/// same element), so that a mark stays visible among bars drawn at the same instant.
pub(super) fn bars(
    svg: &mut String,
    (class, colour, width): (&str, &str, f64),
    list: &[Bar],
    (x, y): (Scale, Scale),
    ring: bool,
) {
    let _ = writeln!(
        svg,
        r#"<g class="series {class}" stroke="{colour}" stroke-width="{width}" fill="none">"#
    );
    for (px, ya, yb) in pixel_bars(list, x, y) {
        if ring {
            let _ = writeln!(
                svg,
                r#"<g><line x1="{px:.1}" y1="{ya:.1}" x2="{px:.1}" y2="{yb:.1}"/><circle cx="{px:.1}" cy="{:.1}" r="5" stroke-width="1.5"/></g>"#,
                (ya + yb) / 2.0
            );
        } else {
            let _ = writeln!(
                svg,
                r#"<line x1="{px:.1}" y1="{ya:.1}" x2="{px:.1}" y2="{yb:.1}"/>"#
            );
        }
    }
    svg.push_str("</g>\n");
}

pub(super) fn legend(svg: &mut String, x: f64, y: f64, items: &[(&str, &str)]) {
    svg.push_str("<g class=\"legend\" font-size=\"11\">\n");
    let mut at = x;
    for (name, colour) in items {
        let _ = writeln!(
            svg,
            r##"<rect x="{at:.1}" y="{:.1}" width="12" height="4" fill="{colour}"/><text x="{:.1}" y="{:.1}" fill="#333">{name}</text>"##,
            y - 4.0,
            at + 16.0,
            y
        );
        at += 30.0 + 7.0 * name.len() as f64;
    }
    svg.push_str("</g>\n");
}

/// The time-sequence graph of `c`, connection `n`, with its top at `top`.
pub(super) fn graph(
    svg: &mut String,
    n: usize,
    c: &Connection,
    s: &Series,
    (t0, t1): (f64, f64),
    top: f64,
) {
    let sender = c.sender();
    let receiver = if sender == c.a { c.b } else { c.a };
    let mut lo = 0f64;
    let mut hi = 1f64;
    for &(_, a, b) in s.data.iter().chain(&s.retransmission).chain(&s.sack) {
        lo = lo.min(a);
        hi = hi.max(b);
    }
    for &(_, v) in s.ack.iter().chain(&s.window) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    let x = Scale::new(t0, t1, LEFT, WIDTH - RIGHT);
    let y = Scale::new(lo, hi * 1.02, top + GRAPH_HEIGHT - BOTTOM, top + TOP);
    let _ = writeln!(
        svg,
        r##"<text class="title" x="{LEFT}" y="{:.1}" font-size="14" fill="#000">Connection {n}: {sender} &gt; {receiver} ({} segments{})</text>"##,
        top + 22.0,
        c.segments.len(),
        if c.left_out > 0 {
            format!(", {} more left out", c.left_out)
        } else {
            String::new()
        }
    );
    axes(svg, x, y, "time (s)", "relative sequence number (bytes)");
    let _ = writeln!(
        svg,
        r##"<polyline class="series window" fill="none" stroke="#2a9d3a" stroke-width="1" points="{}"/>"##,
        steps(&s.window, x, y)
    );
    let _ = writeln!(
        svg,
        r##"<polyline class="series ack" fill="none" stroke="#b07a00" stroke-width="1.2" points="{}"/>"##,
        steps(&s.ack, x, y)
    );
    bars(svg, ("sack", "#8a4fd0", 2.0), &s.sack, (x, y), false);
    bars(svg, ("data", "#1f5fbf", 1.5), &s.data, (x, y), false);
    bars(
        svg,
        ("retransmission", "#e0201b", 3.0),
        &s.retransmission,
        (x, y),
        true,
    );
    legend(
        svg,
        LEFT,
        top + 40.0,
        &[
            ("data", "#1f5fbf"),
            ("retransmission", "#e0201b"),
            ("ack", "#b07a00"),
            ("window", "#2a9d3a"),
            ("sack", "#8a4fd0"),
        ],
    );
}

/// The chart of the stack's own view of the connection, top at `top`.
pub(super) fn trace_chart(svg: &mut String, samples: &[Sample], (t0, t1): (f64, f64), top: f64) {
    let x = Scale::new(t0, t1, LEFT, WIDTH - RIGHT);
    let mut hi = 1f64;
    for s in samples {
        hi = hi.max(s.cwnd);
        if let Some(v) = s.ssthresh {
            hi = hi.max(v);
        }
    }
    // An ssthresh far above cwnd (none set yet) would flatten the chart: cap at twice cwnd.
    let cwnd_max = samples.iter().map(|s| s.cwnd).fold(1.0, f64::max);
    hi = hi.min(cwnd_max * 2.0);
    let y = Scale::new(0.0, hi * 1.05, top + TRACE_HEIGHT - BOTTOM, top + TOP);
    let srtt_hi = samples
        .iter()
        .filter_map(|s| s.srtt_ms)
        .fold(0.001, f64::max);
    let y2 = Scale::new(0.0, srtt_hi * 1.1, y.p0, y.p1);
    let _ = writeln!(
        svg,
        r##"<text class="title" x="{LEFT}" y="{:.1}" font-size="13" fill="#000">The stack's view (replay trace): cwnd and ssthresh (bytes), srtt (ms, right)</text>"##,
        top + 22.0
    );
    axes(svg, x, y, "time (s)", "bytes");
    let _ = writeln!(svg, r##"<g class="axis" font-size="11" fill="#a0006e">"##);
    for v in y2.ticks() {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            x.p1 + 5.0,
            y2.at(v) + 4.0,
            tick_label(v)
        );
    }
    svg.push_str("</g>\n");
    let end = |mut pts: Vec<(f64, f64)>| {
        if let Some(&(_, v)) = pts.last() {
            pts.push((t1, v));
        }
        pts
    };
    let cwnd: Vec<(f64, f64)> = samples.iter().map(|s| (s.t, s.cwnd)).collect();
    let ssthresh: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|s| s.ssthresh.map(|v| (s.t, v.min(hi))))
        .collect();
    let srtt: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|s| s.srtt_ms.map(|v| (s.t, v)))
        .collect();
    let _ = writeln!(
        svg,
        r##"<polyline class="series cwnd" fill="none" stroke="#1f5fbf" stroke-width="1.5" points="{}"/>"##,
        steps(&end(cwnd), x, y)
    );
    let _ = writeln!(
        svg,
        r##"<polyline class="series ssthresh" fill="none" stroke="#e07b00" stroke-width="1.2" stroke-dasharray="5,3" points="{}"/>"##,
        steps(&end(ssthresh), x, y)
    );
    let _ = writeln!(
        svg,
        r##"<polyline class="series srtt" fill="none" stroke="#a0006e" stroke-width="1" points="{}"/>"##,
        steps(&end(srtt), x, y2)
    );
    svg.push_str("<g class=\"series events\" font-size=\"10\">\n");
    for s in samples.iter().filter(|s| !s.events.is_empty()) {
        let px = x.at(s.t);
        let _ = writeln!(
            svg,
            r##"<line x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}" stroke="#e0201b" stroke-dasharray="2,2"/><text x="{:.1}" y="{:.1}" fill="#e0201b">{}</text>"##,
            y.p0,
            y.p1,
            px + 2.0,
            y.p1 + 10.0,
            escape(&s.events.join(","))
        );
    }
    svg.push_str("</g>\n");
    legend(
        svg,
        LEFT,
        top + 40.0,
        &[
            ("cwnd", "#1f5fbf"),
            ("ssthresh", "#e07b00"),
            ("srtt", "#a0006e"),
        ],
    );
}

/// The SVG of the chosen connections (numbered from 1).
pub(super) fn render(
    title: &str,
    chosen: &[(usize, &Connection)],
    trace: Option<&Trace>,
) -> String {
    let per = GRAPH_HEIGHT + if trace.is_some() { TRACE_HEIGHT } else { 0.0 };
    let height = per * chosen.len() as f64 + 10.0;
    let mut svg = String::new();
    let _ = writeln!(svg, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">"#
    );
    let _ = writeln!(svg, "<title>{}</title>", escape(title));
    let _ = writeln!(
        svg,
        r##"<rect width="{WIDTH}" height="{height}" fill="#fafafa"/>"##
    );
    for (k, &(n, c)) in chosen.iter().enumerate() {
        let top = per * k as f64;
        let span = c.span();
        let _ = writeln!(svg, r#"<g class="connection" id="conn-{n}">"#);
        let s = series(c);
        graph(&mut svg, n, c, &s, span, top);
        if let Some(tr) = trace {
            let samples = tr
                .get(&(c.a, c.b))
                .or_else(|| tr.get(&(c.b, c.a)))
                .map_or(&[][..], Vec::as_slice);
            svg.push_str("<g class=\"trace\">\n");
            trace_chart(&mut svg, samples, span, top + GRAPH_HEIGHT);
            svg.push_str("</g>\n");
        }
        svg.push_str("</g>\n");
    }
    svg.push_str("</svg>\n");
    svg
}

pub(super) fn listing(cap: &Capture) -> String {
    let mut out = String::new();
    for (i, c) in cap.connections.iter().enumerate() {
        let (t0, t1) = c.span();
        let _ = writeln!(
            out,
            "{:>4}  {} <> {}  {} segments, {} + {} bytes, {:.6} s to {:.6} s",
            i + 1,
            c.a,
            c.b,
            c.segments.len(),
            c.bytes_from(c.a),
            c.bytes_from(c.b),
            t0,
            t1
        );
    }
    out
}
