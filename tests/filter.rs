//! `tapstack dump EXPR` against tcpdump itself: over every reference capture, for each filter
//! expression, our filter selects the same frames, in the same order, as `tcpdump -r F EXPR`.
//!
//! tcpdump writes the frames it selects as a capture on its standard output (`-w -`); the
//! test reads them back and compares them byte for byte with the frames `tapstack dump --json
//! -x` prints. When tcpdump is missing the test says "skipping" and passes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tapstack::device::capture::{CaptureReader, CaptureWriter, Format};
use tapstack::device::link::LinkType;
use tapstack::device::Direction;
use tapstack_testkit::frame::{self, Tcp};
use tapstack_testkit::process::{have, run_bounded, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_tapstack");

/// The expressions, in the syntax both take.
const EXPRESSIONS: &[&str] = &[
    "arp",
    "ip",
    "ip6",
    "icmp",
    "icmp6",
    "tcp",
    "udp",
    "host 10.77.0.1",
    "src host 10.77.0.2",
    "dst host 10.77.0.1",
    "host 10.77.0.9 or 10.77.0.1",
    "net 10.77.0.0/24",
    "net 10.77.0.0 mask 255.255.255.0",
    "src net 10.0.0.0/8 and dst port 80",
    "net 192.168.0.0/16",
    "port 9",
    "port 67 or port 68",
    "tcp port 7",
    "udp port 7",
    "src port 80",
    "dst port 80",
    "portrange 1-100",
    "udp portrange 60-70",
    "ether host 02:00:0a:4d:00:02",
    "ether src 02:00:0a:4d:00:02",
    "ether dst ff:ff:ff:ff:ff:ff",
    "ether broadcast",
    "ether multicast",
    "tcp[tcpflags] & tcp-syn != 0",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
    "tcp[tcpflags] & tcp-fin != 0 or tcp[tcpflags] & tcp-rst != 0",
    "tcp[13] & 0x10 = 0x10",
    "icmp[icmptype] == icmp-echo",
    "icmp6[icmp6type] == icmp6-echoreply",
    "ip[8] = 64 and ip[6:2] & 0x1fff = 0",
    "not arp",
    "icmp or arp",
    "tcp and not port 80",
    "(tcp or udp) and host 10.77.0.1",
    "!tcp && !udp",
    "host fd77::1",
    "net fd77::/64",
    "ip6 and not icmp6",
    "ip6 host fe80::aff:fe4d:2",
    "src host 10.77.0.2 and (icmp or tcp[tcpflags] & tcp-push != 0)",
    "greater 100",
    "less 60",
    "len > 1000",
    "ip proto 17",
    "vlan",
    "arp host 10.77.0.1",
    "ip host 10.77.0.1",
];

fn captures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../captures");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("captures/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pcapng"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "reference captures: {files:?}");
    files
}

/// The frames tcpdump selects; `None` when it refuses the expression for a capture that is not
/// Ethernet (`ether host` on raw IP: "ethernet addresses supported only on ethernet...", `arp`
/// there: "expression rejects all packets").
fn tcpdump_on(file: &Path, expr: &str) -> Option<Vec<Vec<u8>>> {
    let mut cmd = Command::new("tcpdump");
    cmd.args(["-r"]).arg(file).args(["-nn", "-w", "-", expr]);
    let out = run_bounded(cmd, b"", Duration::from_secs(20)).expect("tcpdump runs");
    if !out.status.success() {
        let first = CaptureReader::new(std::io::BufReader::new(
            std::fs::File::open(file).expect("the capture"),
        ))
        .expect("a capture")
        .next()
        .map(|r| r.expect("a record").link);
        assert!(
            first.is_some_and(|l| l != LinkType::Ethernet),
            "tcpdump -r {} '{expr}': {}",
            file.display(),
            out.stderr
        );
        return None;
    }
    Some(
        CaptureReader::new(&out.stdout[..])
            .expect("tcpdump's capture")
            .map(|r| r.expect("tcpdump's record").data)
            .collect(),
    )
}

/// The frames tcpdump selects, with an expression it takes for every link type.
fn tcpdump(file: &Path, expr: &str) -> Vec<Vec<u8>> {
    tcpdump_on(file, expr)
        .unwrap_or_else(|| panic!("tcpdump -r {} '{expr}' refused", file.display()))
}

/// The frames `tapstack dump` selects, and their numbers in the capture.
fn ours(file: &Path, expr: &str) -> (Vec<Vec<u8>>, Vec<u64>) {
    let mut cmd = Command::new(BIN);
    cmd.arg("dump")
        .arg(file)
        .args(["--json", "-x", "--filter", expr]);
    let out = run_bounded(cmd, b"", Duration::from_secs(20)).expect("tapstack runs");
    assert!(
        out.status.success(),
        "tapstack dump --filter '{expr}': {}",
        out.stderr
    );
    let text = out.stdout_text();
    let mut frames = Vec::new();
    let mut numbers = Vec::new();
    for line in text.lines() {
        let field = |name: &str| {
            let key = format!("\"{name}\":");
            let at = line
                .find(&key)
                .unwrap_or_else(|| panic!("{name} in {line}"))
                + key.len();
            line[at..]
                .split([',', '}'])
                .next()
                .unwrap_or_default()
                .trim_matches('"')
                .to_owned()
        };
        numbers.push(field("number").parse().expect("a frame number"));
        let hex = field("hex");
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        frames.push(bytes);
    }
    (frames, numbers)
}

#[test]
fn filters_select_what_tcpdump_selects() {
    if !have("tcpdump") {
        println!("skipping: tcpdump is not installed");
        return;
    }
    let files = captures();
    let mut total = vec![0usize; EXPRESSIONS.len()];
    let mut all = 0usize;
    let mut compared = 0usize;
    for file in &files {
        let every = tcpdump(file, "");
        all += every.len();
        for (i, expr) in EXPRESSIONS.iter().enumerate() {
            let (mine, numbers) = ours(file, expr);
            let Some(theirs) = tcpdump_on(file, expr) else {
                // Refused by tcpdump for this link type (an Ethernet term on raw IP): it rejects
                // every frame here.
                assert!(
                    mine.is_empty(),
                    "{}: '{expr}': tcpdump refuses it for this link type, tapstack selects {numbers:?}",
                    file.display()
                );
                compared += 1;
                continue;
            };
            assert_eq!(
                mine.len(),
                theirs.len(),
                "{}: '{expr}': tapstack selects frames {numbers:?}, tcpdump {} frames",
                file.display(),
                theirs.len()
            );
            assert!(
                mine == theirs,
                "{}: '{expr}': the same number of frames, but not the same frames ({numbers:?})",
                file.display()
            );
            // Our frame numbers point at the frames selected.
            for (n, frame) in numbers.iter().zip(&mine) {
                let at = usize::try_from(*n).expect("small") - 1;
                assert_eq!(every.get(at), Some(frame), "'{expr}': frame {n}");
            }
            total[i] += mine.len();
            compared += 1;
        }
    }
    println!(
        "{compared} comparisons over {} captures, {all} frames",
        files.len()
    );
    // Not vacuous: all but the VLAN test select something, and most select a proper subset.
    for (expr, n) in EXPRESSIONS.iter().zip(&total) {
        println!("{n:5}  {expr}");
        if !matches!(*expr, "vlan" | "net 192.168.0.0/16" | "len > 1000") {
            assert!(*n > 0, "'{expr}' selects no frame in any capture");
        }
    }
    let proper = total.iter().filter(|&&n| n > 0 && n < all).count();
    assert!(proper >= EXPRESSIONS.len() - 6, "{total:?} of {all}");
}

/// Our spellings tcpdump does not have, and tcpdump's equivalent.
const OURS_AND_THEIRS: &[(&str, &str)] = &[
    ("tcp syn", "tcp[tcpflags] & tcp-syn != 0"),
    (
        "tcp syn and not tcp ack",
        "tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack == 0",
    ),
    (
        "tcp fin || tcp rst",
        "tcp[tcpflags] & (tcp-fin|tcp-rst) != 0",
    ),
    ("tcp push", "tcp[tcpflags] & tcp-push != 0"),
    ("port 7 or 9", "port 7 or port 9"),
    ("src or dst host 10.77.0.1", "host 10.77.0.1"),
];

#[test]
fn our_simpler_spellings_select_what_tcpdump_selects_for_the_long_ones() {
    if !have("tcpdump") {
        println!("skipping: tcpdump is not installed");
        return;
    }
    for file in captures() {
        for (mine, theirs) in OURS_AND_THEIRS {
            let (got, numbers) = ours(&file, mine);
            let want = tcpdump(&file, theirs);
            assert!(
                got == want,
                "{}: '{mine}' selects {numbers:?}, tcpdump '{theirs}' {} frames",
                file.display(),
                want.len()
            );
        }
    }
}

#[test]
fn a_bad_filter_is_one_line_naming_the_place() {
    let file = captures().remove(0);
    for (expr, says) in [
        ("tcp and", "expected a filter term, not the end (at 7)"),
        ("port 99999", "'99999' is not a port number (at 5)"),
        ("host fd77::1 or (udp", "expected ')', not the end (at 20)"),
    ] {
        let mut cmd = Command::new(BIN);
        cmd.arg("dump").arg(&file).arg(expr);
        let out = run_bounded(cmd, b"", Duration::from_secs(20)).expect("tapstack runs");
        assert_eq!(out.status.code(), Some(2), "{expr}: {}", out.stderr);
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{expr}: {}", out.stderr);
        assert!(
            lines[0].starts_with("tapstack: filter: ") && lines[0].contains(says),
            "{expr}: {}",
            lines[0]
        );
        assert!(
            out.stdout.is_empty(),
            "nothing printed before the filter is checked"
        );
    }
}

/// VLAN terms need tagged frames, which the reference captures do not have: a small capture
/// of tagged and untagged segments and datagrams, compared the same way.
const VLAN_EXPRESSIONS: &[&str] = &[
    "vlan",
    "vlan 42",
    "vlan 7",
    "not vlan",
    "tcp",
    "vlan and tcp",
    "vlan 42 and tcp port 80",
    "vlan and host 10.1.0.1",
    "vlan and vlan",
    "vlan and vlan 5 and udp",
    "host 10.1.0.1",
    "udp or vlan 42",
    "ether src 02:00:00:00:00:01",
];

fn tagged(tags: &[u16], ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = frame::ethernet([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1], ether_type, payload);
    for &id in tags.iter().rev() {
        let mut tag = vec![0x81, 0x00];
        tag.extend_from_slice(&id.to_be_bytes());
        f.splice(12..12, tag);
    }
    f
}

#[test]
fn vlan_filters_select_what_tcpdump_selects() {
    if !have("tcpdump") {
        println!("skipping: tcpdump is not installed");
        return;
    }
    let (a, b) = ("10.1.0.1".parse().unwrap(), "10.1.0.2".parse().unwrap());
    let segment = Tcp::new(40000, 80, 1, 0, 0x02).segment_v4(a, b, b"");
    let datagram = frame::udp_v4(
        "10.1.0.2:53".parse().unwrap(),
        "10.1.0.1:5353".parse().unwrap(),
        b"x",
    );
    let datagram = frame::Ipv4::new(b, a, 17).packet(&datagram);
    let frames = [
        tagged(&[42], 0x0800, &segment),
        tagged(&[], 0x0800, &segment),
        tagged(&[7], 0x0800, &datagram),
        tagged(&[5, 42], 0x0800, &datagram),
        tagged(&[42, 5], 0x0800, &segment),
        tagged(&[], 0x0800, &datagram),
    ];
    let dir = TempDir::create("filter-vlan").expect("scratch directory");
    let file = dir.join("vlan.pcapng");
    let mut w = CaptureWriter::create(&file, "vlan").expect("writable");
    assert_eq!(Format::from_path(&file), Format::PcapNg);
    for (i, f) in frames.iter().enumerate() {
        w.write(Duration::from_millis(i as u64), Direction::In, f)
            .expect("written");
    }
    w.into_inner().expect("flushed");
    for expr in VLAN_EXPRESSIONS {
        let theirs = tcpdump(&file, expr);
        let (mine, numbers) = ours(&file, expr);
        assert!(
            mine == theirs,
            "'{expr}': tapstack selects frames {numbers:?}, tcpdump {} frames",
            theirs.len()
        );
        println!("{:3}  {expr}", mine.len());
    }
}
