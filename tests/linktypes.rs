//! The reference captures in `captures/`, rewritten as every other link type replay and dump
//! read (`tapstack_testkit::linktype`: Ethernet with FCS, Linux cooked v1 and v2, a TUN's
//! cooked v2, raw IP, IPv4, IPv6, NULL in both byte orders, LOOP), in pcap and pcapng, and
//! all of them at once as interfaces of one pcapng file: replayed through the real binary, the
//! stack gives the same IP answers as to the Ethernet original; `tapstack dump` prints the same
//! line for every frame; tshark reads every file written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tapstack::device::capture::{CaptureReader, Record};
use tapstack::device::Direction;
use tapstack_testkit::linktype::{self, ip_packet, Link};
use tapstack_testkit::process::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_tapstack");

fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../captures")
}

/// The recordings (not the expected outputs), by name.
fn recordings() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(captures_dir())
        .expect("captures/ exists")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".pcapng").map(str::to_owned))
        .filter(|n| !n.ends_with(".expected"))
        .collect();
    names.sort();
    assert!(names.len() >= 6, "reference captures missing: {names:?}");
    names
}

/// A directory of the test's own, removed when dropped.
fn scratch(name: &str) -> TempDir {
    TempDir::create(&format!("tapstack-linktypes-{name}")).expect("scratch dir")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 paths")
}

fn tapstack(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run tapstack")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn read(path: &Path) -> Vec<Record> {
    CaptureReader::open(path)
        .expect("readable capture")
        .map(|r| r.expect("undamaged capture"))
        .collect()
}

/// The reference capture `name` as frames to convert.
fn frames(name: &str) -> Vec<linktype::Frame> {
    read(&captures_dir().join(format!("{name}.pcapng")))
        .into_iter()
        .map(|r| linktype::Frame {
            timestamp_ns: u64::try_from(r.timestamp.as_nanos()).expect("fits"),
            inbound: r.direction.map(|d| d == Direction::In),
            data: r.data,
        })
        .collect()
}

/// Replays `input` with the identity of reference capture `name` (and `extra` flags);
/// returns the output.
fn replay(name: &str, input: &Path, out: &Path, extra: &[&str]) -> Vec<Record> {
    let config = captures_dir().join(format!("{name}.toml"));
    let mut args = vec!["replay", s(input), "--config", s(&config), "--out", s(out)];
    args.extend_from_slice(extra);
    let run = tapstack(&args);
    assert!(
        run.status.success(),
        "{args:?}:\n{}{}",
        text(&run.stdout),
        text(&run.stderr)
    );
    read(out)
}

/// The `--first-frame-at` that keeps the stack's clock where it was for the original when
/// `link` leaves out the capture's first frames (ARP before the first IP packet): the
/// configured value plus the time of the first frame kept. TCP's initial sequence numbers
/// follow that clock.
fn first_frame_at(name: &str, frames: &[linktype::Frame], links: &[Link]) -> String {
    let toml = std::fs::read_to_string(captures_dir().join(format!("{name}.toml"))).unwrap();
    let configured: u64 = toml
        .lines()
        .find_map(|l| l.strip_prefix("first_frame_at = \""))
        .and_then(|v| v.strip_suffix("us\""))
        .map_or(0, |v| v.parse().expect("microseconds"));
    let first = frames.first().map_or(0, |f| f.timestamp_ns);
    let kept = frames
        .iter()
        .enumerate()
        .find(|(i, f)| linktype::convert(links[i % links.len()], f).is_some())
        .map_or(first, |(_, f)| f.timestamp_ns);
    // Replay counts whole microseconds from the first record.
    let shift = kept / 1000 - first / 1000;
    format!("{}us", configured + shift)
}

/// Neighbour discovery (ICMPv6 133 to 137): how the stack finds its peers, which differs by
/// link (a made-up neighbour solicitation is answered); not an answer to compare.
fn is_ndp(ip: &[u8]) -> bool {
    ip.first().is_some_and(|b| b >> 4 == 6)
        && ip.get(6) == Some(&58)
        && ip.get(40).is_some_and(|t| (133..=137).contains(t))
}

/// The IP packets the stack sent, of IP version `family` (any when `None`), NDP left out.
fn answers(out: &[Record], family: Option<u8>) -> Vec<Vec<u8>> {
    out.iter()
        .filter(|r| r.direction == Some(Direction::Out))
        .filter_map(|r| ip_packet(&r.data))
        .filter(|ip| family.is_none_or(|f| ip[0] >> 4 == f))
        .filter(|ip| !is_ndp(ip))
        .map(<[u8]>::to_vec)
        .collect()
}

/// The IP version a link carries, when it carries only one.
fn family(link: Link) -> Option<u8> {
    match link {
        Link::Ipv4 => Some(4),
        Link::Ipv6 => Some(6),
        _ => None,
    }
}

#[test]
fn every_link_type_gives_the_stacks_answers_to_the_ethernet_original() {
    let scratch = scratch("answers");
    let out = scratch.join("out.pcapng");
    let mut checked = 0;
    for name in recordings() {
        let frames = frames(&name);
        let original = replay(
            &name,
            &captures_dir().join(format!("{name}.pcapng")),
            &out,
            &[],
        );
        for link in Link::ALL {
            for pcapng in [true, false] {
                let input = scratch.join(&format!(
                    "{name}-{}.{}",
                    link.name(),
                    if pcapng { "pcapng" } else { "pcap" }
                ));
                let bytes = if pcapng {
                    linktype::pcapng(&[link], &frames)
                } else {
                    linktype::pcap(link, &frames)
                };
                std::fs::write(&input, bytes).unwrap();
                let at = first_frame_at(&name, &frames, &[link]);
                // An Ethernet stack, as live: raw and loopback captures would pick the IP
                // medium by themselves.
                let args = ["--first-frame-at", &at, "--medium", "ethernet"];
                let got = replay(&name, &input, &out, &args);
                let want = answers(&original, family(link));
                assert!(
                    !want.is_empty() || family(link).is_some(),
                    "{name}: no answers"
                );
                assert_eq!(
                    answers(&got, family(link)),
                    want,
                    "{name} as {} ({})",
                    link.name(),
                    if pcapng { "pcapng" } else { "pcap" }
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 100, "{checked} conversions checked");
}

#[test]
fn one_pcapng_with_an_interface_of_each_link_type() {
    let scratch = scratch("mixed");
    let out = scratch.join("out.pcapng");
    for name in ["ping-curl", "ping6", "tcp-echo"] {
        let frames = frames(name);
        let original = replay(
            name,
            &captures_dir().join(format!("{name}.pcapng")),
            &out,
            &[],
        );
        // Frame i on interface i % 10: Ethernet, cooked, raw and loopback frames interleaved.
        let links: Vec<Link> = Link::ALL
            .into_iter()
            .filter(|l| family(*l).is_none())
            .collect();
        let input = scratch.join(&format!("{name}-mixed.pcapng"));
        std::fs::write(&input, linktype::pcapng(&links, &frames)).unwrap();
        let got = replay(name, &input, &out, &[]);
        assert_eq!(answers(&got, None), answers(&original, None), "{name}");
        let run = tapstack(&["dump", s(&input)]);
        assert!(run.status.success(), "{}", text(&run.stderr));
        if tshark_here() {
            assert_eq!(
                tapstack_testkit::capture::frame_count(&input).unwrap(),
                text(&run.stdout).lines().count(),
                "tshark reads every frame of {name}"
            );
            // The replay's output, made-up headers included, is clean to tshark.
            let problems = tapstack_testkit::capture::problems(&out, "02:00:0a:4d:00:02").unwrap();
            assert!(problems.is_empty(), "{name}: {problems:?}");
        }
    }
}

fn tshark_here() -> bool {
    let here = Command::new("tshark").arg("-v").output().is_ok();
    if !here {
        println!("tshark missing: capture files not checked by it");
    }
    here
}

/// Each dump line without its frame number.
fn dump_lines(path: &Path) -> Vec<String> {
    let run = tapstack(&["dump", s(path)]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    text(&run.stdout)
        .lines()
        // Number and time left out: a link that leaves out the first frames moves the origin.
        .map(|l| {
            let rest = l.get(5..).unwrap_or_default();
            rest.split_once(' ').map_or(rest, |(_, r)| r).to_owned()
        })
        .collect()
}

#[test]
fn dump_prints_the_same_lines_for_every_link_type_and_tshark_agrees() {
    let scratch = scratch("dump");
    let tshark = tshark_here();
    for name in ["ping-curl", "ping6", "arp-ping"] {
        let frames = frames(name);
        let original = dump_lines(&captures_dir().join(format!("{name}.pcapng")));
        for link in Link::ALL {
            let input = scratch.join(&format!("{name}-{}.pcapng", link.name()));
            std::fs::write(&input, linktype::pcapng(&[link], &frames)).unwrap();
            // The lines of the frames the link carries, times and directions included.
            let want: Vec<&String> = frames
                .iter()
                .zip(&original)
                .filter(|(f, _)| linktype::convert(link, f).is_some())
                .map(|(_, l)| l)
                .collect();
            let got = dump_lines(&input);
            assert_eq!(
                got.iter().collect::<Vec<_>>(),
                want,
                "{name} as {}",
                link.name()
            );
            // Cooked captures mark direction by their packet type, in pcap too.
            let cooked = scratch.join(&format!("{name}-{}.pcap", link.name()));
            std::fs::write(&cooked, linktype::pcap(link, &frames)).unwrap();
            let unmarked = dump_lines(&cooked);
            if matches!(link, Link::Sll | Link::Sll2 | Link::Sll2Tun) {
                assert_eq!(
                    unmarked.iter().collect::<Vec<_>>(),
                    want,
                    "{name} as {}",
                    link.name()
                );
            } else {
                assert!(
                    unmarked.iter().all(|l| l.starts_with("-   ")),
                    "{unmarked:?}"
                );
            }
            if tshark {
                for file in [&input, &cooked] {
                    assert_eq!(
                        tapstack_testkit::capture::frame_count(file).unwrap(),
                        want.len(),
                        "tshark reads {}",
                        file.display()
                    );
                    let problems =
                        tapstack_testkit::capture::problems(file, "02:00:0a:4d:00:02").unwrap();
                    assert!(problems.is_empty(), "{}: {problems:?}", file.display());
                }
            }
        }
    }
}

#[test]
fn a_wrong_fcs_is_shown_and_skipped_when_asked() {
    let scratch = scratch("fcs");
    let mut frames = frames("arp-ping");
    let input = scratch.join("fcs.pcap");
    let mut bytes = linktype::pcap(Link::EthernetFcs, &frames);
    // Damage the last frame's FCS (the file's last byte).
    if let Some(b) = bytes.last_mut() {
        *b ^= 0xff;
    }
    std::fs::write(&input, bytes).unwrap();
    let lines = dump_lines(&input);
    assert_eq!(lines.iter().filter(|l| l.ends_with("[bad FCS]")).count(), 1);
    assert!(lines.last().is_some_and(|l| l.ends_with("[bad FCS]")));
    let out = scratch.join("out.pcapng");
    let config = captures_dir().join("arp-ping.toml");
    let run = tapstack(&[
        "replay",
        s(&input),
        "--config",
        s(&config),
        "--out",
        s(&out),
        "--check-fcs",
    ]);
    let said = text(&run.stdout);
    assert!(run.status.success(), "{said}{}", text(&run.stderr));
    assert!(said.contains("1 with a wrong FCS"), "{said}");
    // The frames with a right FCS are fed as they are: the FCS is taken off.
    frames.pop();
    let fed: Vec<Vec<u8>> = read(&out)
        .into_iter()
        .filter(|r| r.direction == Some(Direction::In))
        .map(|r| r.data)
        .collect();
    let unmarked_peer: Vec<Vec<u8>> = frames
        .into_iter()
        .filter(|f| f.data.get(6..12) != Some(&[2, 0, 10, 77, 0, 2]))
        .map(|f| f.data)
        .collect();
    assert_eq!(fed, unmarked_peer);
}

#[test]
fn an_ip_medium_stack_takes_the_ip_packets_and_answers_in_raw_ip() {
    // The Ethernet reference capture fed to a stack on the IP medium: its IP packets go in
    // without their Ethernet header (ARP is not IP and is skipped), the pings are answered,
    // and the output is a raw-IP capture.
    let scratch = scratch("ip-medium");
    let out = scratch.join("out.pcapng");
    let run = tapstack(&[
        "replay",
        s(&captures_dir().join("arp-ping.pcapng")),
        "--medium",
        "ip",
        "--out",
        s(&out),
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let records = read(&out);
    let replies = records
        .iter()
        .filter(|r| r.direction == Some(Direction::Out))
        .filter(|r| {
            // IPv4, ICMP, echo reply (type 0) right after a 20-byte header.
            r.data.first().map(|b| b >> 4) == Some(4)
                && r.data.get(9) == Some(&1)
                && r.data.get(20) == Some(&0)
        })
        .count();
    assert_eq!(replies, 3, "{records:?}");
    assert!(
        records
            .iter()
            .all(|r| r.data.first().map(|b| b >> 4) == Some(4)),
        "only IPv4 packets, no Ethernet frames"
    );
}
