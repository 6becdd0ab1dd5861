//! `tapstack plot` and `tapstack replay --trace`: the SVG of every reference capture parses
//! (python3's xml.etree) and holds each series; on a capture with a lost segment the
//! retransmission is marked and SACK blocks are drawn; the trace of a replay is the same byte
//! for byte across runs, and its cwnd falls at the retransmission the capture shows.
//!
//! The lossy capture is made here: our host (chargen on port 19) and a second tapstack host as
//! the client on an in-memory wire with 5 ms of delay each way, recorded on our host's side as
//! `tapstack up --pcap` records it, with two of our data segments lost after the capture point.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tapstack::device::capture::{CaptureWriter, Record};
use tapstack::device::impair::ImpairConfig;
use tapstack::device::link::LinkType;
use tapstack::device::memory::{turn, Carrier, End, Wire};
use tapstack::device::Direction;
use tapstack::{Config, Host, Instant, Interface, Ipv4Cidr, MacAddr};
use tapstack_testkit::capture::{problems, tshark};
use tapstack_testkit::process::{run_bounded, Output, TempDir};

const OUR_END: End = End::A;
const PEER_END: End = End::B;
/// Our host's data segments (counted from 1) lost on the wire after being captured.
const LOST: [u32; 2] = [40, 41];
/// Bytes the client reads before the recording stops.
const TRANSFER: usize = 400_000;

fn tapstack(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tapstack"));
    cmd.args(args);
    run_bounded(cmd, b"", Duration::from_secs(60)).expect("tapstack runs")
}

fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../captures")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// The TCP payload length, sequence number and source port of an IPv4 frame, if TCP.
fn tcp_data(frame: &[u8]) -> Option<(usize, u32, u16)> {
    if frame.get(12..14)? != [0x08, 0x00] || *frame.get(23)? != 6 {
        return None;
    }
    let ip = frame.get(14..)?;
    let ihl = usize::from(ip.first()? & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
    let tcp = ip.get(ihl..total)?;
    let off = usize::from(tcp.get(12)? >> 4) * 4;
    let seq = u32::from_be_bytes(tcp.get(4..8)?.try_into().ok()?);
    let port = u16::from_be_bytes(tcp.get(0..2)?.try_into().ok()?);
    Some((tcp.len().checked_sub(off)?, seq, port))
}

/// The wire, recorded on our host's side, losing some of our data segments past the capture.
struct Recorded {
    wire: Wire,
    records: Vec<(Instant, Direction, Vec<u8>)>,
    data_segments: u32,
}

impl Carrier for Recorded {
    fn send(&mut self, from: End, now: Instant, frame: &[u8]) {
        if from == OUR_END {
            self.records.push((now, Direction::Out, frame.to_vec()));
            if tcp_data(frame).is_some_and(|(len, _, _)| len > 0) {
                self.data_segments += 1;
                if LOST.contains(&self.data_segments) {
                    return;
                }
            }
        }
        self.wire.send(from, now, frame);
    }

    fn recv(&mut self, at: End, now: Instant) -> Option<Vec<u8>> {
        let f = self.wire.recv(at, now)?;
        if at == OUR_END {
            self.records.push((now, Direction::In, f.clone()));
        }
        Some(f)
    }
}

fn config(last: u8, seed: u64) -> Config {
    let ip = Ipv4Cidr::new(std::net::Ipv4Addr::new(10, 77, 0, last), 24);
    let mut c = Config::new(MacAddr([0x02, 0x00, 10, 77, 0, last]), ip);
    c.seed = seed;
    c.arp.probe_count = 0;
    c.hostname = Some("tapstack".to_owned());
    // As `tapstack replay` does unless told otherwise: NewReno, whose window halves at a loss.
    c.tcp.congestion = tapstack::tcp::congestion::Algorithm::NewReno;
    c
}

/// Records a chargen transfer with two segments lost; returns the capture's path and the
/// virtual time of its first record.
fn lossy_capture(dir: &TempDir) -> (PathBuf, Duration) {
    // As `tapstack replay` builds its host by default: 10.77.0.2/24, seed 0, every service.
    let mut ours = Host::with_standard_services(Interface::new(config(2, 0)).expect("config"))
        .expect("services");
    let mut peer = Interface::new(config(1, 7)).expect("config");
    let impair = ImpairConfig {
        delay: Duration::from_millis(5),
        queue_limit: 10_000,
        ..ImpairConfig::default()
    };
    let mut link = Recorded {
        wire: Wire::impaired(1500, impair, 1),
        records: Vec::new(),
        data_segments: 0,
    };
    let mut now = Instant::ZERO;
    let server = "10.77.0.2:19".parse().expect("address");
    let mut h = None;
    let mut got = 0usize;
    let mut buf = vec![0u8; 65536];
    let mut steps = 0u32;
    while got < TRANSFER {
        steps += 1;
        assert!(steps < 200_000, "the transfer did not finish ({got} bytes)");
        assert!(now < Instant::from_secs(30), "the transfer took too long");
        turn(&mut link, now, OUR_END, &mut ours);
        turn(&mut link, now, PEER_END, &mut peer);
        if h.is_none() && peer.ipv4().is_some() {
            h = Some(peer.tcp_connect(now, server).expect("connect"));
        }
        if let Some(h) = h {
            while let Ok(n) = peer.tcp_recv(h, &mut buf) {
                if n == 0 {
                    break;
                }
                got += n;
            }
        }
        turn(&mut link, now, PEER_END, &mut peer);
        let next = [ours.poll_at(), peer.poll_at(), link.wire.poll_at()]
            .into_iter()
            .flatten()
            .min()
            .expect("something scheduled");
        now = now.max(next);
    }
    assert!(link.data_segments >= LOST[1]);
    let path = dir.join("lossy.pcapng");
    let mut w = CaptureWriter::create(&path, "tap0").expect("capture");
    for (t, d, f) in &link.records {
        w.write(t.since_origin(), *d, f).expect("write");
    }
    w.into_inner().expect("flush");
    let first = link.records.first().expect("frames").0.since_origin();
    (path, first)
}

fn read(path: &Path) -> Vec<Record> {
    let r = tapstack::device::capture::CaptureReader::new(std::io::BufReader::new(
        std::fs::File::open(path).unwrap(),
    ))
    .expect("a capture");
    r.map(|r| r.expect("a record")).collect()
}

/// The time (since the first record) of our first data segment that repeats sequence space.
fn first_retransmission(records: &[Record]) -> Option<Duration> {
    let origin = records.first()?.timestamp;
    let mut highest: Option<u32> = None;
    for r in records
        .iter()
        .filter(|r| r.direction == Some(Direction::Out))
    {
        let Some((len, seq, 19)) = tcp_data(&r.data) else {
            continue;
        };
        if len == 0 {
            continue;
        }
        let end = seq.wrapping_add(len as u32);
        if let Some(h) = highest {
            if (h.wrapping_sub(seq) as i32) > 0 {
                return Some(r.timestamp - origin);
            }
        }
        highest = Some(match highest {
            Some(h) if (end.wrapping_sub(h) as i32) < 0 => h,
            _ => end,
        });
    }
    None
}

/// Every element whose class starts with "series", as python3's xml.etree finds them:
/// (name, children, points in its `points` attribute).
fn series(svg: &Path) -> Vec<(String, usize, usize)> {
    let script = r#"
import sys, xml.etree.ElementTree as E
root = E.parse(sys.argv[1]).getroot()
assert root.tag == '{http://www.w3.org/2000/svg}svg', root.tag
for e in root.iter():
    c = e.get('class') or ''
    if c.startswith('series '):
        pts = (e.get('points') or '').split()
        print(c[len('series '):], len(list(e)), len(pts))
"#;
    let mut cmd = Command::new("python3");
    cmd.args(["-c", script, s(svg)]);
    let out = run_bounded(cmd, b"", Duration::from_secs(30)).expect("python3 runs");
    assert!(
        out.status.success(),
        "{} does not parse: {}",
        svg.display(),
        out.stderr
    );
    out.stdout_text()
        .lines()
        .map(|l| {
            let mut w = l.split(' ');
            let name = w.next().unwrap_or_default().to_owned();
            let kids = w.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            let pts = w.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            (name, kids, pts)
        })
        .collect()
}

fn find<'a>(list: &'a [(String, usize, usize)], name: &str) -> Vec<&'a (String, usize, usize)> {
    list.iter().filter(|(n, _, _)| n == name).collect()
}

const GRAPH_SERIES: [&str; 5] = ["data", "retransmission", "ack", "window", "sack"];

#[test]
fn every_reference_capture_plots_with_one_element_per_series() {
    let dir = TempDir::create("tapstack-plot").unwrap();
    let mut plotted = 0;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(captures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcapng" || e == "pcap"))
        .collect();
    entries.sort();
    let mut cooked = 0;
    for input in entries {
        // TCP over IPv4 or IPv6, whatever the capture's link type.
        let has_tcp = read(&input).iter().any(|r| {
            r.frame().is_ok_and(|f| match f.protocol {
                0x0800 => f.payload.get(9) == Some(&6),
                0x86dd => f.payload.get(6) == Some(&6),
                _ => false,
            })
        });
        let out = dir.join("out.svg");
        let _ = std::fs::remove_file(&out);
        let run = tapstack(&["plot", s(&input), "--out", s(&out)]);
        if !has_tcp {
            assert_eq!(run.status.code(), Some(2), "{}", input.display());
            assert!(
                run.stderr.contains("no TCP connection"),
                "{}: {}",
                input.display(),
                run.stderr
            );
            continue;
        }
        assert_eq!(
            run.status.code(),
            Some(0),
            "{}: {}",
            input.display(),
            run.stderr
        );
        let list = series(&out);
        let conns = tapstack(&["plot", s(&input), "--list"])
            .stdout_text()
            .lines()
            .count();
        assert!(conns >= 1);
        for name in GRAPH_SERIES {
            assert_eq!(
                find(&list, name).len(),
                conns,
                "{}: one {name} series per connection: {list:?}",
                input.display()
            );
        }
        assert!(
            find(&list, "data").iter().any(|(_, kids, _)| *kids > 0),
            "{}: no data segment drawn",
            input.display()
        );
        assert!(
            find(&list, "ack").iter().any(|(_, _, pts)| *pts > 0),
            "{}: no ACK line",
            input.display()
        );
        // The reference captures were made on a clean link: nothing was sent twice.
        assert!(
            find(&list, "retransmission")
                .iter()
                .all(|(_, kids, _)| *kids == 0),
            "{}: {list:?}",
            input.display()
        );
        plotted += 1;
        // The captures of a TUN session from the kernel side (LINUX_SLL, LINUX_SLL2) too.
        if read(&input)
            .first()
            .is_some_and(|r| matches!(r.link, LinkType::LinuxSll | LinkType::LinuxSll2))
        {
            cooked += 1;
        }
    }
    assert!(plotted >= 3, "only {plotted} captures with TCP");
    assert_eq!(cooked, 2, "the two cooked TUN captures are plotted");
}

#[test]
fn a_lost_segment_is_marked_and_the_traced_cwnd_falls_there() {
    let dir = TempDir::create("tapstack-plot").unwrap();
    let (input, first) = lossy_capture(&dir);
    let records = read(&input);
    let retx = first_retransmission(&records).expect("the capture shows a retransmission");
    // tshark finds nothing wrong with the capture, and the same retransmissions.
    let found = problems(&input, "02:00:0a:4d:00:02").expect("tshark runs");
    assert!(found.is_empty(), "tshark: {found:?}");
    let tshark_retx: Vec<String> = tshark(
        &input,
        &[
            "-Y",
            "tcp.srcport == 19 && (tcp.analysis.retransmission || tcp.analysis.fast_retransmission)",
            "-T",
            "fields",
            "-e",
            "frame.time_relative",
        ],
    )
    .expect("tshark runs")
    .lines()
    .map(str::to_owned)
    .collect();
    assert_eq!(tshark_retx.len(), LOST.len(), "{tshark_retx:?}");
    let tshark_first: f64 = tshark_retx[0].trim().parse().expect("a time");
    assert!(
        (tshark_first - retx.as_secs_f64()).abs() < 1e-6,
        "{tshark_first} {retx:?}"
    );

    // The time-sequence graph: the retransmission marked, the receiver's SACK blocks drawn.
    let svg = dir.join("lossy.svg");
    let run = tapstack(&["plot", s(&input), "--conn", "1", "--out", s(&svg)]);
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    let list = series(&svg);
    for name in GRAPH_SERIES {
        assert_eq!(find(&list, name).len(), 1, "{name}: {list:?}");
    }
    // Every retransmission tshark sees is marked, and nothing else.
    assert_eq!(
        find(&list, "retransmission")[0].1,
        tshark_retx.len(),
        "{list:?}"
    );
    assert!(find(&list, "sack")[0].1 >= 1, "{list:?}");
    assert!(find(&list, "data")[0].1 > 100, "{list:?}");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains(r#"id="conn-1""#));

    // The trace: the same bytes twice.
    let first_at = format!("{}us", first.as_micros());
    let trace = |name: &str| {
        let path = dir.join(name);
        let run = tapstack(&[
            "replay",
            "-q",
            s(&input),
            "--first-frame-at",
            &first_at,
            "--trace",
            s(&path),
        ]);
        assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
        std::fs::read(&path).unwrap()
    };
    let a = trace("a.jsonl");
    let b = trace("b.jsonl");
    assert!(!a.is_empty());
    assert!(a == b, "two replays gave different traces");

    // Its cwnd grows, then falls at the retransmission the capture shows, with the event named.
    let lines: Vec<serde_json::Value> = String::from_utf8(a)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let chargen: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|v| v["local"] == "10.77.0.2:19")
        .collect();
    assert!(chargen.len() > 10, "{} samples", chargen.len());
    for key in [
        "time_us",
        "conn",
        "remote",
        "state",
        "cwnd",
        "ssthresh",
        "srtt_us",
        "rttvar_us",
        "rto_us",
        "in_flight",
        "sack_ranges",
        "events",
    ] {
        assert!(chargen[0].get(key).is_some(), "no {key}: {}", chargen[0]);
    }
    let mut fell = None;
    let mut peak = 0;
    for w in chargen.windows(2) {
        let (before, after) = (
            w[0]["cwnd"].as_u64().unwrap(),
            w[1]["cwnd"].as_u64().unwrap(),
        );
        peak = peak.max(before);
        if after < before {
            fell = Some(w[1]);
            break;
        }
    }
    let fell = fell.expect("cwnd never fell");
    let at = Duration::from_micros(fell["time_us"].as_u64().unwrap());
    assert!(
        at.abs_diff(retx) <= Duration::from_millis(1),
        "cwnd fell at {at:?}, the capture retransmits at {retx:?}: {fell}"
    );
    assert!(peak > 14_480, "cwnd did not grow before the loss ({peak})");
    let events = fell["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e == "fast-retransmit" || e == "timeout"),
        "{fell}"
    );
    assert!(fell["ssthresh"].as_u64().is_some(), "{fell}");

    // Both charts in one picture.
    let both = dir.join("both.svg");
    let tr = dir.join("a.jsonl");
    let run = tapstack(&["plot", s(&input), "--trace", s(&tr), "--out", s(&both)]);
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    let list = series(&both);
    for name in ["cwnd", "ssthresh", "srtt"] {
        let found = find(&list, name);
        assert_eq!(found.len(), 1, "{name}: {list:?}");
        assert!(found[0].2 > 1, "{name} has no points: {list:?}");
    }
    assert!(find(&list, "events")[0].1 >= 1, "{list:?}");
    if let Ok(keep) = std::env::var("TAPSTACK_PLOT_KEEP") {
        std::fs::copy(&both, Path::new(&keep).join("lossy.svg")).unwrap();
        std::fs::copy(&input, Path::new(&keep).join("lossy.pcapng")).unwrap();
        std::fs::copy(&tr, Path::new(&keep).join("lossy.jsonl")).unwrap();
    }
}

#[test]
fn plot_names_the_connections_when_the_one_asked_for_is_not_there() {
    let dir = TempDir::create("tapstack-plot").unwrap();
    let input = captures_dir().join("tcp-echo.pcapng");
    let out = dir.join("x.svg");
    let run = tapstack(&["plot", s(&input), "--conn", "9", "--out", s(&out)]);
    assert_eq!(run.status.code(), Some(2));
    assert!(run.stderr.contains("no connection 9"), "{}", run.stderr);
    assert!(run.stderr.contains("10.77.0.2:7"), "{}", run.stderr);
    assert!(!out.exists());
    let help = tapstack(&["plot", "--help"]);
    assert!(
        help.stdout_text().contains("Exit status"),
        "{}",
        help.stdout_text()
    );
}

#[test]
fn the_trace_of_a_kernel_capture_follows_its_connection() {
    let dir = TempDir::create("tapstack-plot").unwrap();
    let input = captures_dir().join("tcp-discard.pcapng");
    let path = dir.join("t.jsonl");
    let run = tapstack(&["replay", "-q", s(&input), "--trace", s(&path)]);
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    // The kernel's SYN opens it; the capture's own timestamps say when.
    let records = read(&input);
    let origin = records[0].timestamp;
    let syn_at = records
        .iter()
        .find(|r| r.direction == Some(Direction::In) && tcp_data(&r.data).is_some())
        .map(|r| r.timestamp - origin)
        .unwrap();
    let first = &lines[0];
    assert_eq!(first["state"], "SYN-RECEIVED", "{first}");
    assert_eq!(first["local"], "10.77.0.2:9", "{first}");
    assert_eq!(
        first["time_us"].as_u64().unwrap(),
        u64::try_from(syn_at.as_micros()).unwrap(),
        "{first}"
    );
    assert!(
        first["ssthresh"].is_null() && first["srtt_us"].is_null(),
        "{first}"
    );
    // It goes through the states a passive close takes, and learns the RTT on the way.
    let states: Vec<&str> = lines.iter().map(|v| v["state"].as_str().unwrap()).collect();
    for state in ["ESTABLISHED", "CLOSE-WAIT", "LAST-ACK"] {
        assert!(states.contains(&state), "{states:?}");
    }
    assert!(lines.iter().any(|v| v["srtt_us"].as_u64().is_some()));
    assert!(lines.iter().all(|v| v["conn"] == 1));
    // The summary counts them.
    let json = tapstack(&["replay", s(&input), "--trace", s(&path), "--json"]);
    let summary: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(
        summary["trace"]["samples"].as_u64(),
        Some(lines.len() as u64)
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "not the same twice"
    );

    // A trace that cannot be written is an error, and says which file.
    let bad = dir.join("no-such-dir").join("t.jsonl");
    let run = tapstack(&["replay", "-q", s(&input), "--trace", s(&bad)]);
    assert_eq!(run.status.code(), Some(2));
    assert!(run.stderr.contains("no-such-dir"), "{}", run.stderr);
}
