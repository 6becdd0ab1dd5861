//! `tapstack plot`: a time-sequence graph of each TCP connection in a capture, as tcptrace and
//! Wireshark's Stevens graph draw it, written as SVG by hand (plain XML, no dependency).
//!
//! For each connection the direction that carried more payload is the sender. Its data segments
//! are vertical bars from their first to their last sequence number at their time; segments that
//! send again sequence space already sent are retransmissions, drawn in their own colour. The
//! receiver's segments give the ACK line (its cumulative acknowledgment), the receive window line
//! (ACK plus its window, scaled as the SYN said) and its SACK blocks. Sequence numbers are
//! relative to the sender's first (its SYN, or the first segment seen).
//!
//! With `--trace FILE` (from `tapstack replay --trace`) a second chart under each graph draws the
//! stack's own view of that connection: cwnd and ssthresh in bytes, srtt in ms on its own scale,
//! and its congestion events.
//!
//! Every series is an SVG element with `class="series NAME"`: data, retransmission, ack, window,
//! sack (and cwnd, ssthresh, srtt, events under a trace), inside a `<g class="connection"
//! id="conn-N">`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;

use crate::replay::{open_capture, read_error};
use tapstack::device::link::LinkType;

/// Options of `tapstack plot`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct PlotArgs {
    /// The capture (pcap or pcapng, of any link type replay reads).
    input: PathBuf,
    /// Write the graph here (SVG).
    #[arg(long, value_name = "FILE", required_unless_present = "list")]
    out: Option<PathBuf>,
    /// Only this connection (numbered from 1 in the order they appear; see --list).
    #[arg(long, value_name = "N")]
    conn: Option<usize>,
    /// List the TCP connections of the capture and exit.
    #[arg(long)]
    list: bool,
    /// Draw this trace of `tapstack replay --trace` under each graph (cwnd, ssthresh, srtt).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    #[command(flatten)]
    pub log: crate::log::Verbosity,
}

const AFTER_HELP: &str = "\
Series (SVG elements with class \"series NAME\"): data (segments the sender sent), retransmission
(segments sending again what was sent before), ack (the receiver's cumulative ACK), window (ACK
plus the receive window), sack (the receiver's SACK blocks); under --trace also cwnd, ssthresh,
srtt and events.

Examples:
  tapstack plot captures/tcp-discard.pcapng --out discard.svg
  tapstack plot lossy.pcapng --list
  tapstack replay lossy.pcapng --trace trace.jsonl && \\
    tapstack plot lossy.pcapng --conn 1 --trace trace.jsonl --out lossy.svg

Exit status: 0 when the graph was written (or the list printed); 2 on an error (bad arguments,
a capture that cannot be read, no TCP connection in it, no connection N).";

/// Connections followed in one capture; more are counted and left out.
const MAX_CONNECTIONS: usize = 4096;
/// Segments kept in all (about 100 bytes each); more are counted and left out.
const MAX_SEGMENTS: usize = 2_000_000;
/// Trace samples kept in all; more are left out.
const MAX_SAMPLES: usize = 2_000_000;

// ---------------------------------------------------------------------------------------------
// Decoding.

/// One TCP segment as the graph needs it.
#[derive(Clone, Debug)]
struct Segment {
    /// Seconds since the capture's first record.
    t: f64,
    src: SocketAddr,
    seq: u32,
    ack: Option<u32>,
    syn: bool,
    len: u32,
    window: u16,
    wscale: Option<u8>,
    sack: Vec<(u32, u32)>,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

/// The TCP segment in an Ethernet frame (IPv4 or IPv6, VLAN tags skipped), or else in a bare IP
/// packet (a capture of link type RAW, as a TUN device gives), or `None`.
fn decode(frame: &[u8], t: f64) -> Option<(Segment, SocketAddr)> {
    decode_ethernet(frame, t).or_else(|| {
        let ethertype = match frame.first()? >> 4 {
            4 => 0x0800,
            6 => 0x86dd,
            _ => return None,
        };
        decode_ip(ethertype, frame, t)
    })
}

fn decode_ethernet(frame: &[u8], t: f64) -> Option<(Segment, SocketAddr)> {
    let mut at = 12;
    let mut ethertype = be16(frame, at)?;
    while matches!(ethertype, 0x8100 | 0x88a8) {
        at += 4;
        ethertype = be16(frame, at)?;
    }
    decode_ip(ethertype, frame.get(at + 2..)?, t)
}

/// The TCP segment in the IP packet `ip` of `ethertype`.
fn decode_ip(ethertype: u16, ip: &[u8], t: f64) -> Option<(Segment, SocketAddr)> {
    let (src, dst, tcp) = match ethertype {
        0x0800 => {
            if ip.first()? >> 4 != 4 || ip.get(9)? != &6 {
                return None;
            }
            // Only first fragments carry the header.
            if be16(ip, 6)? & 0x1fff != 0 {
                return None;
            }
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            let total = usize::from(be16(ip, 2)?);
            let src = IpAddr::V4(Ipv4Addr::from(be32(ip, 12)?));
            let dst = IpAddr::V4(Ipv4Addr::from(be32(ip, 16)?));
            (src, dst, ip.get(ihl..total.min(ip.len()))?)
        }
        0x86dd => {
            if ip.first()? >> 4 != 6 || ip.get(6)? != &6 {
                return None;
            }
            let plen = usize::from(be16(ip, 4)?);
            let a: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let b: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            let end = (40 + plen).min(ip.len());
            (
                IpAddr::V6(Ipv6Addr::from(a)),
                IpAddr::V6(Ipv6Addr::from(b)),
                ip.get(40..end)?,
            )
        }
        _ => return None,
    };
    let off = usize::from(tcp.get(12)? >> 4) * 4;
    if off < 20 || off > tcp.len() {
        return None;
    }
    let flags = *tcp.get(13)?;
    let syn = flags & 0x02 != 0;
    let mut seg = Segment {
        t,
        src: SocketAddr::new(src, be16(tcp, 0)?),
        seq: be32(tcp, 4)?,
        ack: (flags & 0x10 != 0).then_some(be32(tcp, 8)?),
        syn,
        len: u32::try_from(tcp.len() - off).ok()?,
        window: be16(tcp, 14)?,
        wscale: None,
        sack: Vec::new(),
    };
    let dst = SocketAddr::new(dst, be16(tcp, 2)?);
    let mut opts = tcp.get(20..off)?;
    while let Some(&kind) = opts.first() {
        match kind {
            0 => break,
            1 => opts = opts.get(1..)?,
            _ => {
                let len = usize::from(*opts.get(1)?);
                if len < 2 {
                    break;
                }
                let body = opts.get(2..len)?;
                match kind {
                    3 if syn => seg.wscale = body.first().map(|s| (*s).min(14)),
                    5 => {
                        for b in body.chunks_exact(8).take(4) {
                            seg.sack.push((be32(b, 0)?, be32(b, 4)?));
                        }
                    }
                    _ => {}
                }
                opts = opts.get(len..)?;
            }
        }
    }
    Some((seg, dst))
}

/// One TCP connection: its two endpoints in the order first seen, and its segments.
#[derive(Debug)]
struct Connection {
    a: SocketAddr,
    b: SocketAddr,
    segments: Vec<Segment>,
    left_out: u64,
}

impl Connection {
    fn bytes_from(&self, who: SocketAddr) -> u64 {
        self.segments
            .iter()
            .filter(|s| s.src == who)
            .map(|s| u64::from(s.len))
            .sum()
    }

    /// The endpoint that sent more payload (the first one seen on a tie).
    fn sender(&self) -> SocketAddr {
        if self.bytes_from(self.b) > self.bytes_from(self.a) {
            self.b
        } else {
            self.a
        }
    }

    fn span(&self) -> (f64, f64) {
        let first = self.segments.first().map_or(0.0, |s| s.t);
        let last = self.segments.last().map_or(0.0, |s| s.t);
        (first, last)
    }
}

/// Every TCP connection of a capture, in the order they first appear.
struct Capture {
    connections: Vec<Connection>,
    connections_left_out: u64,
}

fn read_capture(path: &Path) -> Result<Capture> {
    let reader = open_capture(path)?;
    let mut connections: Vec<Connection> = Vec::new();
    let mut index: HashMap<(SocketAddr, SocketAddr), usize> = HashMap::new();
    let mut connections_left_out = 0u64;
    let mut kept = 0usize;
    let mut origin = None;
    for r in reader {
        let r = r.map_err(|e| read_error(path, e))?;
        let o = *origin.get_or_insert(r.timestamp);
        let t = r.timestamp.saturating_sub(o).as_secs_f64();
        // Ethernet frames as they are (VLAN tags skipped); any other link type by its own
        // header (cooked, loopback, raw IP).
        let decoded = match r.link {
            LinkType::Ethernet => decode(&r.data, t),
            _ => r
                .frame()
                .ok()
                .and_then(|f| decode_ip(f.protocol, f.payload, t)),
        };
        let Some((seg, dst)) = decoded else {
            continue;
        };
        let key = if seg.src <= dst {
            (seg.src, dst)
        } else {
            (dst, seg.src)
        };
        let i = match index.get(&key) {
            Some(&i) => i,
            None if connections.len() >= MAX_CONNECTIONS => {
                connections_left_out += 1;
                continue;
            }
            None => {
                connections.push(Connection {
                    a: seg.src,
                    b: dst,
                    segments: Vec::new(),
                    left_out: 0,
                });
                index.insert(key, connections.len() - 1);
                connections.len() - 1
            }
        };
        let Some(c) = connections.get_mut(i) else {
            continue;
        };
        if kept >= MAX_SEGMENTS {
            c.left_out += 1;
        } else {
            c.segments.push(seg);
            kept += 1;
        }
    }
    Ok(Capture {
        connections,
        connections_left_out,
    })
}

// ---------------------------------------------------------------------------------------------
// The graph's series.

/// A data segment: time, first and last relative sequence number.
type Bar = (f64, f64, f64);

#[derive(Debug, Default)]
struct Series {
    data: Vec<Bar>,
    retransmission: Vec<Bar>,
    ack: Vec<(f64, f64)>,
    window: Vec<(f64, f64)>,
    sack: Vec<Bar>,
}

/// The relative offset of `seq` from `base` (sequence arithmetic: within 2 GiB either way).
fn rel(seq: u32, base: u32) -> f64 {
    // Reading the difference as signed is the point: a byte just below the base is negative.
    #[allow(clippy::cast_possible_wrap)]
    let d = seq.wrapping_sub(base) as i32;
    f64::from(d)
}

fn series(c: &Connection) -> Series {
    let sender = c.sender();
    let mut s = Series::default();
    let Some(first) = c.segments.iter().find(|g| g.src == sender) else {
        return s;
    };
    // The sender's ISN: its SYN's, or the first sequence number seen.
    let base = c
        .segments
        .iter()
        .find(|g| g.src == sender && g.syn)
        .map_or(first.seq, |g| g.seq.wrapping_add(1));
    let mut receiver_scale = 0u8;
    let mut both_scale = (false, false);
    for g in c.segments.iter().filter(|g| g.syn) {
        if g.src == sender {
            both_scale.0 = g.wscale.is_some();
        } else {
            both_scale.1 = g.wscale.is_some();
            receiver_scale = g.wscale.unwrap_or(0);
        }
    }
    // Window scaling applies only when both sides offered it (RFC 7323 2.2).
    let shift = if both_scale.0 && both_scale.1 {
        receiver_scale
    } else {
        0
    };
    let mut highest: Option<f64> = None;
    for g in &c.segments {
        if g.src == sender {
            if g.len == 0 {
                continue;
            }
            let from = rel(g.seq, base) + if g.syn { 1.0 } else { 0.0 };
            let to = from + f64::from(g.len);
            let bar = (g.t, from, to);
            if highest.is_some_and(|h| from < h) {
                s.retransmission.push(bar);
            } else {
                s.data.push(bar);
            }
            highest = Some(highest.map_or(to, |h: f64| h.max(to)));
        } else if let Some(ack) = g.ack {
            let a = rel(ack, base);
            s.ack.push((g.t, a));
            let win = if g.syn {
                f64::from(g.window)
            } else {
                f64::from(u32::from(g.window) << shift)
            };
            s.window.push((g.t, a + win));
            for &(l, r) in &g.sack {
                s.sack.push((g.t, rel(l, base), rel(r, base)));
            }
        }
    }
    s
}

// ---------------------------------------------------------------------------------------------
// The trace of `tapstack replay --trace`.

#[derive(Debug, Clone)]
struct Sample {
    t: f64,
    cwnd: f64,
    ssthresh: Option<f64>,
    srtt_ms: Option<f64>,
    events: Vec<String>,
}

/// The samples of each connection of a trace, by its (local, remote) endpoints.
type Trace = HashMap<(SocketAddr, SocketAddr), Vec<Sample>>;

fn read_trace(path: &Path) -> Result<Trace> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read trace {}", path.display()))?;
    let mut out: Trace = HashMap::new();
    let mut kept = 0usize;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |what: &str| anyhow!("{}: line {}: {what}", path.display(), i + 1);
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(&format!("not JSON: {e}")))?;
        let addr = |k: &str| -> Result<SocketAddr> {
            v.get(k)
                .and_then(serde_json::Value::as_str)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad(&format!("no address \"{k}\"")))
        };
        let key = (addr("local")?, addr("remote")?);
        let num = |k: &str| v.get(k).and_then(serde_json::Value::as_f64);
        let sample = Sample {
            t: num("time_us").ok_or_else(|| bad("no \"time_us\""))? / 1e6,
            cwnd: num("cwnd").ok_or_else(|| bad("no \"cwnd\""))?,
            ssthresh: num("ssthresh"),
            srtt_ms: num("srtt_us").map(|u| u / 1e3),
            events: v
                .get("events")
                .and_then(serde_json::Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|e| e.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        };
        if kept >= MAX_SAMPLES {
            break;
        }
        out.entry(key).or_default().push(sample);
        kept += 1;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// SVG.

const WIDTH: f64 = 960.0;
const GRAPH_HEIGHT: f64 = 480.0;
const TRACE_HEIGHT: f64 = 260.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 70.0;
const TOP: f64 = 52.0;
const BOTTOM: f64 = 45.0;

fn escape(s: &str) -> String {
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
struct Scale {
    d0: f64,
    d1: f64,
    p0: f64,
    p1: f64,
}

impl Scale {
    fn new(d0: f64, d1: f64, p0: f64, p1: f64) -> Scale {
        let (d0, d1) = if d1 > d0 { (d0, d1) } else { (d0, d0 + 1.0) };
        Scale { d0, d1, p0, p1 }
    }

    fn at(&self, v: f64) -> f64 {
        self.p0 + (v - self.d0) / (self.d1 - self.d0) * (self.p1 - self.p0)
    }

    /// About five round tick values within the domain.
    fn ticks(&self) -> Vec<f64> {
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

fn tick_label(v: f64) -> String {
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
fn axes(svg: &mut String, x: Scale, y: Scale, x_label: &str, y_label: &str) {
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
fn steps(points: &[(f64, f64)], x: Scale, y: Scale) -> String {
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
const MERGE_ABOVE: usize = 20_000;

/// Bars as pixels: one per bar, or with more than [`MERGE_ABOVE`] those in one pixel column
/// that touch or overlap merged (the picture is the same, the file much smaller).
fn pixel_bars(list: &[Bar], x: Scale, y: Scale) -> Vec<(f64, f64, f64)> {
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
fn bars(
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

fn legend(svg: &mut String, x: f64, y: f64, items: &[(&str, &str)]) {
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
fn graph(svg: &mut String, n: usize, c: &Connection, s: &Series, (t0, t1): (f64, f64), top: f64) {
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
fn trace_chart(svg: &mut String, samples: &[Sample], (t0, t1): (f64, f64), top: f64) {
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
fn render(title: &str, chosen: &[(usize, &Connection)], trace: Option<&Trace>) -> String {
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

fn listing(cap: &Capture) -> String {
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

pub fn run(args: PlotArgs) -> Result<ExitCode> {
    let cap = read_capture(&args.input)?;
    if cap.connections.is_empty() {
        bail!("{}: no TCP connection in the capture", args.input.display());
    }
    if args.list {
        print!("{}", listing(&cap));
        return Ok(ExitCode::SUCCESS);
    }
    let chosen: Vec<(usize, &Connection)> = match args.conn {
        Some(n) => match n.checked_sub(1).and_then(|i| cap.connections.get(i)) {
            Some(c) => vec![(n, c)],
            None => bail!(
                "{}: no connection {n}; the capture has {}:\n{}",
                args.input.display(),
                cap.connections.len(),
                listing(&cap).trim_end()
            ),
        },
        None => cap
            .connections
            .iter()
            .enumerate()
            .map(|(i, c)| (i + 1, c))
            .collect(),
    };
    let trace = match &args.trace {
        Some(p) => Some(read_trace(p)?),
        None => None,
    };
    let Some(out) = &args.out else {
        bail!("--out FILE is needed");
    };
    let title = format!("tapstack plot {}", args.input.display());
    let svg = render(&title, &chosen, trace.as_ref());
    std::fs::write(out, svg).with_context(|| format!("cannot write {}", out.display()))?;
    if cap.connections_left_out > 0 {
        eprintln!(
            "tapstack plot: {} segments of connections beyond the first {MAX_CONNECTIONS} left out",
            cap.connections_left_out
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_within_the_domain() {
        let s = Scale::new(0.0, 1.0, 0.0, 100.0);
        assert_eq!(s.ticks(), vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]);
        let s = Scale::new(0.0, 45_000.0, 0.0, 100.0);
        assert_eq!(s.ticks().first(), Some(&0.0));
        assert!(s.ticks().iter().all(|v| *v <= 45_000.0));
        assert_eq!(tick_label(20_000.0), "20k");
        assert_eq!(tick_label(0.25), "0.25");
    }

    /// An Ethernet frame with a VLAN tag, IPv6 and a TCP ACK carrying one SACK block.
    fn ipv6_sack_frame() -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x81, 0x00, 0x00, 0x05, 0x86, 0xdd]);
        let mut tcp = Vec::new();
        tcp.extend_from_slice(&1234u16.to_be_bytes());
        tcp.extend_from_slice(&80u16.to_be_bytes());
        tcp.extend_from_slice(&100u32.to_be_bytes());
        tcp.extend_from_slice(&5000u32.to_be_bytes());
        // Data offset 8 words (20 + 12 bytes of options), ACK.
        tcp.extend_from_slice(&[0x80, 0x10]);
        tcp.extend_from_slice(&512u16.to_be_bytes());
        tcp.extend_from_slice(&[0, 0, 0, 0]);
        tcp.extend_from_slice(&[1, 1, 5, 10]);
        tcp.extend_from_slice(&6000u32.to_be_bytes());
        tcp.extend_from_slice(&7000u32.to_be_bytes());
        tcp.extend_from_slice(b"hi");
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&u16::try_from(tcp.len()).unwrap().to_be_bytes());
        f.extend_from_slice(&[6, 64]);
        f.extend_from_slice(&"fd77::1".parse::<Ipv6Addr>().unwrap().octets());
        f.extend_from_slice(&"fd77::2".parse::<Ipv6Addr>().unwrap().octets());
        f.extend_from_slice(&tcp);
        f
    }

    #[test]
    fn ipv6_behind_a_vlan_tag_with_sack_decodes() {
        let (seg, dst) = decode(&ipv6_sack_frame(), 1.5).expect("a TCP segment");
        assert_eq!(seg.src, "[fd77::1]:1234".parse().unwrap());
        assert_eq!(dst, "[fd77::2]:80".parse().unwrap());
        assert_eq!(
            (seg.seq, seg.ack, seg.len, seg.window),
            (100, Some(5000), 2, 512)
        );
        assert_eq!(seg.sack, vec![(6000, 7000)]);
        assert!(!seg.syn);
        // Cut anywhere, it is nothing rather than a panic.
        let f = ipv6_sack_frame();
        for n in 0..f.len() {
            let _ = decode(&f[..n], 0.0);
        }
    }

    #[test]
    fn many_bars_in_one_pixel_column_merge_and_few_do_not() {
        let x = Scale::new(0.0, 1.0, 0.0, 100.0);
        let y = Scale::new(0.0, 1e9, 1000.0, 0.0);
        let few: Vec<Bar> = (0..10)
            .map(|i| (0.5, i as f64 * 10.0, i as f64 * 10.0 + 10.0))
            .collect();
        assert_eq!(pixel_bars(&few, x, y).len(), 10);
        // A burst of contiguous segments at one instant, then one far above.
        let mut many: Vec<Bar> = (0..=MERGE_ABOVE)
            .map(|i| (0.5, i as f64 * 1000.0, i as f64 * 1000.0 + 1000.0))
            .collect();
        many.push((0.5, 9e8, 9e8 + 1000.0));
        many.push((0.9, 0.0, 1000.0));
        let merged = pixel_bars(&many, x, y);
        assert_eq!(merged.len(), 3, "{merged:?}");
        assert_eq!(merged[0].0, 50.0);
        assert!((merged[0].2 - 1000.0).abs() < 1e-6 && merged[0].1 < 980.0);
    }

    #[test]
    fn a_step_line_leaves_out_points_that_do_not_move_it() {
        let x = Scale::new(0.0, 10.0, 0.0, 100.0);
        let y = Scale::new(0.0, 10.0, 100.0, 0.0);
        let pts = [(0.0, 1.0), (1.0, 1.0), (2.0, 1.0), (3.0, 2.0), (4.0, 2.0)];
        assert_eq!(steps(&pts, x, y), "0.0,90.0 30.0,90.0 30.0,80.0 40.0,80.0");
        assert_eq!(steps(&[], x, y), "");
    }

    #[test]
    fn a_bare_ip_packet_decodes_too() {
        let f = ipv6_sack_frame();
        let (seg, _) = decode(&f[18..], 0.0).expect("a TCP segment");
        assert_eq!(seg.sack, vec![(6000, 7000)]);
    }

    #[test]
    fn a_segment_below_the_highest_sent_is_a_retransmission() {
        let seg = |t: f64, src: &str, seq: u32, len: u32, ack: Option<u32>| Segment {
            t,
            src: src.parse().unwrap(),
            seq,
            ack,
            syn: false,
            len,
            window: 100,
            wscale: None,
            sack: Vec::new(),
        };
        let (a, b) = ("10.0.0.2:19", "10.0.0.1:5000");
        let c = Connection {
            a: a.parse().unwrap(),
            b: b.parse().unwrap(),
            segments: vec![
                seg(0.0, a, 1000, 100, Some(1)),
                seg(0.1, a, 1100, 100, Some(1)),
                seg(0.2, b, 1, 0, Some(1100)),
                seg(0.3, a, 1100, 100, Some(1)),
                seg(0.4, b, 1, 0, Some(1200)),
            ],
            left_out: 0,
        };
        let s = series(&c);
        assert_eq!(s.data, vec![(0.0, 0.0, 100.0), (0.1, 100.0, 200.0)]);
        assert_eq!(s.retransmission, vec![(0.3, 100.0, 200.0)]);
        assert_eq!(s.ack, vec![(0.2, 100.0), (0.4, 200.0)]);
        assert_eq!(s.window, vec![(0.2, 200.0), (0.4, 300.0)]);
    }

    #[test]
    fn short_or_odd_frames_decode_to_nothing() {
        assert!(decode(&[], 0.0).is_none());
        assert!(decode(&[0u8; 13], 0.0).is_none());
        let mut f = vec![0u8; 60];
        f[12] = 0x08;
        f[14] = 0x45;
        f[23] = 6;
        f[16] = 0;
        f[17] = 40;
        // A TCP header whose data offset says 4 bytes.
        f[14 + 20 + 12] = 0x10;
        assert!(decode(&f, 0.0).is_none());
    }
}
