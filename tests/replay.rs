//! `tapstack replay` and `tapstack dump` on the reference captures in `captures/` and on
//! hand-made captures from the wild: other link types, several interfaces, frames cut by the
//! snaplen, empty and damaged files.
//!
//! The expected outputs (`captures/NAME.expected.pcapng`) and the dump snapshots
//! (`captures/snapshots/`) are regenerated with
//! `TAPSTACK_UPDATE_SNAPSHOTS=1 cargo test --test replay`; review the change with git diff
//! (the snapshots are text) before committing it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use etherparse::PacketBuilder;
use tapstack::decode;
use tapstack::device::capture::{CaptureReader, CaptureWriter, Format, Record};
use tapstack::device::Direction;
use tapstack_testkit::process::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_tapstack");

/// The stack of the reference captures, and a peer.
const OURS: [u8; 6] = [0x02, 0x00, 0x0a, 0x4d, 0x00, 0x02];
const PEER: [u8; 6] = [0x02, 0x00, 0x0a, 0x4d, 0x00, 0x01];

fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../captures")
}

fn updating() -> bool {
    std::env::var_os("TAPSTACK_UPDATE_SNAPSHOTS").is_some_and(|v| v != "0")
}

/// The recordings: every `captures/*.pcapng` but the expected outputs, and every
/// `captures/*.pcap` (as tcpdump wrote them), by name.
fn recordings() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(captures_dir())
        .expect("captures/ exists")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| {
            n.strip_suffix(".pcapng")
                .or_else(|| n.strip_suffix(".pcap"))
                .map(str::to_owned)
        })
        .filter(|n| !n.ends_with(".expected"))
        .collect();
    names.sort();
    names.dedup();
    assert!(
        names.len() >= 4,
        "reference captures missing from captures/: {names:?}"
    );
    names
}

/// The file of the recording `name`: `NAME.pcapng`, or `NAME.pcap` when there is none.
fn recording(name: &str) -> String {
    let pcapng = format!("{name}.pcapng");
    if captures_dir().join(&pcapng).is_file() {
        pcapng
    } else {
        format!("{name}.pcap")
    }
}

/// A directory of the test's own, removed when dropped.
fn scratch(name: &str) -> TempDir {
    TempDir::create(&format!("tapstack-replay-{name}")).expect("scratch dir")
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

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 paths")
}

/// Exit 2 (an error, not a difference), and stderr is one line "tapstack: ..." without a
/// panic; returns that line.
fn one_line_error(out: &Output) -> String {
    let err = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {}\nstderr: {err}",
        text(&out.stdout)
    );
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines.len() == 1 && lines[0].starts_with("tapstack: "),
        "expected one error line, got:\n{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    lines[0].to_owned()
}

fn read(path: &Path) -> Vec<Record> {
    CaptureReader::open(path)
        .expect("readable capture")
        .map(|r| r.expect("undamaged capture"))
        .collect()
}

fn summaries(records: &[Record], dir: Direction) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.direction == Some(dir))
        .map(|r| decode::summary_of(r.link, &r.data).to_string())
        .collect()
}

fn count(lines: &[String], needle: &str) -> usize {
    lines.iter().filter(|l| l.contains(needle)).count()
}

/// What each reference capture is expected to show (captures/README.md says the same).
fn check_story(name: &str, out: &[Record]) {
    let sent = summaries(out, Direction::Out);
    let received = summaries(out, Direction::In);
    if name == "dhcp" {
        check_dhcp_story(&sent, &received);
        return;
    }
    if name.starts_with("tun-") {
        check_tun_story(name, out, &sent, &received);
        return;
    }
    assert!(
        sent.first()
            .is_some_and(|l| l.contains("ARP, Announcement 10.77.0.2")),
        "{name}: the stack announces itself first: {sent:?}"
    );
    assert_eq!(
        count(&sent, "ARP, Reply 10.77.0.2 is-at 02:00:0a:4d:00:02"),
        count(&received, "ARP, Request who-has 10.77.0.2"),
        "{name}: every ARP request for us is answered"
    );
    assert_eq!(
        count(&sent, "Flags [R"),
        0,
        "{name}: no TCP reset: {sent:#?}"
    );
    match name {
        "arp-ping" => {
            assert_eq!(count(&received, "ICMP echo request"), 3);
            for seq in 1..=3 {
                assert!(
                    sent.iter()
                        .any(|l| l.contains("ICMP echo reply, id")
                            && l.contains(&format!("seq {seq},"))),
                    "{name}: echo request {seq} answered: {sent:?}"
                );
            }
        }
        "udp-echo" => {
            assert_eq!(count(&sent, "UDP, length 6"), 1, "hello echoed: {sent:?}");
            assert_eq!(
                count(&sent, "udp port 9 unreachable"),
                1,
                "closed port answered: {sent:?}"
            );
        }
        "ping6" => {
            // Our DAD and router solicitation, the kernel's NS for our addresses answered, two
            // echoes to the global address, two of 3000 bytes (three fragments each way), one
            // to the link-local address.
            assert!(
                count(&sent, "neighbor solicitation, who has fd77::2") >= 1
                    && count(&sent, "neighbor solicitation, who has fe80::aff:fe4d:2") >= 1,
                "{name}: DAD for both addresses: {sent:#?}"
            );
            assert!(
                count(&sent, "router solicitation") >= 1,
                "{name}: {sent:#?}"
            );
            let solicited = received
                .iter()
                .filter(|l| !l.starts_with("IP6 :: >"))
                .filter(|l| {
                    l.contains("neighbor solicitation, who has fd77::2,")
                        || l.contains("neighbor solicitation, who has fe80::aff:fe4d:2,")
                })
                .count();
            assert!(solicited >= 2, "{name}: {received:#?}");
            assert_eq!(
                count(&sent, "neighbor advertisement, tgt is"),
                solicited,
                "{name}: every NS for our addresses answered: {sent:#?}"
            );
            assert_eq!(count(&received, "ICMP6, echo request"), 3);
            assert_eq!(count(&sent, "ICMP6, echo reply"), 3, "{name}: {sent:#?}");
            assert_eq!(count(&received, "ICMPv6 (fragment)"), 6);
            assert_eq!(count(&sent, "ICMPv6 (fragment)"), 6, "{name}: {sent:#?}");
        }
        "ping-curl" => {
            assert_eq!(count(&received, "ICMP echo request"), 2);
            assert_eq!(count(&sent, "ICMP echo reply"), 2, "{name}: pings answered");
            let served: Vec<u8> = out
                .iter()
                .filter(|r| r.direction == Some(Direction::Out))
                .flat_map(|r| payload(&r.data))
                .collect();
            assert!(
                served.starts_with(b"HTTP/1.1 200 OK\r\n"),
                "{name}: the page is served: {}",
                String::from_utf8_lossy(&served)
            );
        }
        "tcp-echo" | "tcp-discard" => {
            assert_eq!(
                count(&sent, "Flags [S.]"),
                1,
                "{name}: one SYN-ACK: {sent:?}"
            );
            assert!(
                count(&sent, "Flags [F") >= 1,
                "{name}: the stack closes: {sent:?}"
            );
            // The peer's last segment acknowledges our FIN: the close completed.
            let last_in = out
                .iter()
                .rev()
                .find(|r| r.direction == Some(Direction::In))
                .expect("input");
            let fin_seq = out
                .iter()
                .filter(|r| r.direction == Some(Direction::Out))
                .filter(|r| decode::summary(&r.data).to_string().contains("Flags [F"))
                .map(|r| field(&r.data, "tcp.seq").parse::<u32>().expect("seq"))
                .next_back()
                .expect("FIN");
            let acked: u32 = field(&last_in.data, "tcp.ack").parse().expect("ack");
            assert!(
                acked.wrapping_sub(fin_seq) as i32 >= 1,
                "{name}: the peer acknowledges our FIN ({acked} vs {fin_seq})"
            );
            if name == "tcp-echo" {
                let echoed: Vec<u8> = out
                    .iter()
                    .filter(|r| r.direction == Some(Direction::Out))
                    .flat_map(|r| payload(&r.data))
                    .collect();
                assert_eq!(echoed, b"hello tapstack\n", "{name}: the echo");
            }
        }
        _ => {}
    }
}

/// `tapstack up --dhcp` against dnsmasq: DISCOVER (retransmitted while dnsmasq checks the
/// address), REQUEST for the offer, an ARP probe for the address, its announcement, both pings
/// answered from the leased address, and the RELEASE at the end, unicast to the server.
fn check_dhcp_story(sent: &[String], received: &[String]) {
    let position = |what: &str| {
        sent.iter()
            .position(|l| l.contains(what))
            .unwrap_or_else(|| panic!("dhcp: the stack sends no '{what}': {sent:#?}"))
    };
    let discover = position("0.0.0.0.68 > 255.255.255.255.67: DHCP Discover");
    let request = position("DHCP Request, xid");
    let probe = position("ARP, Probe who-has 10.77.0.50");
    let announce = position("ARP, Announcement 10.77.0.50");
    let release = position("IP 10.77.0.50.68 > 10.77.0.1.67: DHCP Release, xid");
    assert!(
        discover < request && request < probe && probe < announce && announce < release,
        "dhcp: order of the exchange: {sent:#?}"
    );
    assert_eq!(
        release,
        sent.len() - 1,
        "dhcp: the release is the last frame"
    );
    assert!(
        sent[request].contains("requested 10.77.0.50, server 10.77.0.1"),
        "dhcp: the REQUEST names the offer: {}",
        sent[request]
    );
    assert_eq!(count(received, "DHCP Offer"), 1, "{received:#?}");
    assert_eq!(count(received, "DHCP ACK"), 1, "{received:#?}");
    assert_eq!(count(received, "ICMP echo request"), 2);
    assert_eq!(
        count(sent, "IP 10.77.0.50 > 10.77.0.1: ICMP echo reply"),
        2,
        "dhcp: pings answered from the leased address: {sent:#?}"
    );
}

/// `tapstack up --tun` seen by tcpdump on the kernel side: both pings of each family
/// answered, the HTTP page served (no RST), both DNS questions answered with our addresses.
fn check_tun_story(name: &str, out: &[Record], sent: &[String], received: &[String]) {
    assert_eq!(
        count(received, "ICMP echo request"),
        2,
        "{name}: {received:#?}"
    );
    assert_eq!(count(sent, "ICMP echo reply"), 2, "{name}: {sent:#?}");
    assert_eq!(count(received, "ICMP6, echo request"), 2, "{name}");
    assert_eq!(count(sent, "ICMP6, echo reply"), 2, "{name}: {sent:#?}");
    assert_eq!(
        count(sent, "Flags [R"),
        0,
        "{name}: no TCP reset: {sent:#?}"
    );
    assert_eq!(count(sent, "Flags [S.]"), 1, "{name}: one SYN-ACK");
    let served: Vec<u8> = out
        .iter()
        .filter(|r| r.direction == Some(Direction::Out))
        .flat_map(|r| {
            match decode::fields_of(r.link, &r.data)
                .into_iter()
                .find(|f| f.name == "payload.data")
                .map(|f| f.value)
            {
                Some(decode::Value::Bytes(b))
                    if decode::summary_of(r.link, &r.data)
                        .to_string()
                        .contains("10.77.0.2.80 >") =>
                {
                    b.to_vec()
                }
                _ => Vec::new(),
            }
        })
        .collect();
    assert!(
        served.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "{name}: the page is served: {}",
        String::from_utf8_lossy(&served)
    );
    assert_eq!(
        count(sent, "NoError 1/0/0 A? tapstack.test"),
        1,
        "{name}: DNS A answered: {sent:#?}"
    );
    assert_eq!(
        count(sent, "NoError 1/0/0 AAAA? tapstack.test"),
        1,
        "{name}: DNS AAAA answered: {sent:#?}"
    );
}

fn field(frame: &[u8], name: &str) -> String {
    decode::fields(frame)
        .into_iter()
        .find(|f| f.name == name)
        .map(|f| f.value.to_string())
        .unwrap_or_default()
}

fn payload(frame: &[u8]) -> Vec<u8> {
    match decode::fields(frame)
        .into_iter()
        .find(|f| f.name == "payload.data")
        .map(|f| f.value)
    {
        Some(decode::Value::Bytes(b)) if !field(frame, "tcp.seq").is_empty() => b.to_vec(),
        _ => Vec::new(),
    }
}

#[test]
fn every_capture_replays_byte_identically_and_as_expected() {
    let scratch = scratch("reference");
    for name in recordings() {
        let input = captures_dir().join(recording(&name));
        assert!(
            captures_dir().join(format!("{name}.toml")).is_file(),
            "{name}: no configuration beside the capture"
        );
        let expected = captures_dir().join(format!("{name}.expected.pcapng"));
        let (a, b) = (
            scratch.join(&format!("{name}-1.pcapng")),
            scratch.join(&format!("{name}-2.pcapng")),
        );
        for out in [&a, &b] {
            let run = tapstack(&["replay", s(&input), "--out", s(out)]);
            assert!(
                run.status.success(),
                "{name}: {}{}",
                text(&run.stdout),
                text(&run.stderr)
            );
        }
        let (first, second) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        assert_eq!(first, second, "{name}: two replays differ");
        if updating() {
            write_atomically(&expected, &first);
        }
        let want = std::fs::read(&expected).unwrap_or_else(|e| {
            panic!(
                "{name}: {}: {e} (TAPSTACK_UPDATE_SNAPSHOTS=1 makes it)",
                expected.display()
            )
        });
        if first != want {
            let diff = tapstack(&["replay", s(&input), "--expect", s(&expected)]);
            panic!(
                "{name}: output differs from {} (TAPSTACK_UPDATE_SNAPSHOTS=1 rewrites it):\n{}",
                expected.display(),
                text(&diff.stdout)
            );
        }
        // The same through --expect, and the story the capture tells.
        let run = tapstack(&["replay", "-q", s(&input), "--expect", s(&expected)]);
        assert!(run.status.success(), "{name}: {}", text(&run.stdout));
        assert!(
            run.stdout.is_empty(),
            "{name}: -q prints nothing when the same"
        );
        let out = read(&a);
        check_story(&name, &out);
        assert_clean_for_tshark(&a);
        // Every input frame reappears in the output, in order, marked inbound. The TUN
        // captures are the kernel's view: what it sent is what the stack was fed, as IP.
        let inbound: Vec<Vec<u8>> = if name.starts_with("tun-") {
            read(&input)
                .into_iter()
                .filter(|r| {
                    let line = decode::summary_of(r.link, &r.data).to_string();
                    ![
                        "IP 10.77.0.2",
                        "IP6 fd77::2",
                        "IP6 fe80::8887:d1d5:7f0:d689",
                    ]
                    .iter()
                    .any(|ours| line.starts_with(ours))
                })
                .map(|r| {
                    let skip = r.data.len() - ip_len(r.link, &r.data);
                    r.data[skip..].to_vec()
                })
                .collect()
        } else {
            read(&input)
                .into_iter()
                .filter(|r| r.direction == Some(Direction::In))
                .map(|r| r.data)
                .collect()
        };
        let replayed: Vec<Vec<u8>> = out
            .iter()
            .filter(|r| r.direction == Some(Direction::In))
            .map(|r| r.data.clone())
            .collect();
        assert_eq!(inbound, replayed, "{name}: input frames kept");
    }
}

/// The length of the IP packet at the end of a cooked or raw record (the link header before it
/// is the rest).
fn ip_len(link: tapstack::device::capture::LinkType, data: &[u8]) -> usize {
    use tapstack::device::capture::LinkType;
    let header = match link {
        LinkType::LinuxSll => 16,
        LinkType::LinuxSll2 => 20,
        _ => 0,
    };
    data.len().saturating_sub(header)
}

/// Writes `path` through a temporary file, so that a test reading it at the same time sees
/// the old or the new bytes, never half of them.
fn write_atomically(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

/// tshark finds nothing malformed and no bad checksum in `path` (skipped without tshark).
fn assert_clean_for_tshark(path: &Path) {
    let run = Command::new("tshark")
        .args(["-r", s(path), "-n"])
        .args(["-o", "ip.check_checksum:TRUE"])
        .args(["-o", "tcp.check_checksum:TRUE"])
        .args(["-o", "udp.check_checksum:TRUE"])
        .args(["-Y", "_ws.malformed || _ws.expert.severity >= 0x00800000"])
        .args([
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "_ws.expert.message",
        ])
        .output();
    match run {
        Ok(out) if out.status.success() => assert!(
            out.stdout.is_empty(),
            "{}: tshark objects:\n{}",
            path.display(),
            text(&out.stdout)
        ),
        _ => eprintln!("note: tshark not available; {} not checked", path.display()),
    }
}

#[test]
fn replay_of_a_recording_reproduces_the_live_stack() {
    // Every recording matches the live run frame for frame, timestamps aside: the live capture
    // is stamped with the stack's own clock (see captures/README.md).
    for name in [
        "arp-ping",
        "udp-echo",
        "tcp-echo",
        "tcp-discard",
        "ping-curl",
        "dhcp",
        "ping6",
    ] {
        let input = captures_dir().join(format!("{name}.pcapng"));
        let run = tapstack(&["replay", s(&input), "--expect", s(&input), "--mask", "time"]);
        assert!(run.status.success(), "{name}: {}", text(&run.stdout));
    }
}

#[test]
fn replay_of_a_tun_recording_sends_what_the_live_stack_sent() {
    // tcpdump saw the TUN session from the kernel side: every packet in the capture (the
    // kernel's and the live stack's) is in the replay's output, in order; the output has only
    // the router solicitation the stack sent before tcpdump started besides.
    let scratch = scratch("tun-live");
    for name in ["tun-sll2", "tun-sll", "tun-raw"] {
        let input = captures_dir().join(format!("{name}.pcap"));
        let out = scratch.join(&format!("{name}.pcapng"));
        let run = tapstack(&["replay", "-q", s(&input), "--out", s(&out)]);
        assert!(run.status.success(), "{name}: {}", text(&run.stderr));
        let lines = |records: Vec<Record>| -> Vec<String> {
            records
                .iter()
                .map(|r| decode::summary_of(r.link, &r.data).to_string())
                .collect()
        };
        let live = lines(read(&input));
        let replayed = lines(read(&out));
        let extra: Vec<&String> = replayed.iter().filter(|l| !live.contains(l)).collect();
        let kept: Vec<String> = replayed
            .iter()
            .filter(|l| live.contains(l))
            .cloned()
            .collect();
        assert_eq!(kept, live, "{name}: the live packets, in order");
        assert!(
            extra.len() == 1 && extra[0].contains("router solicitation"),
            "{name}: {extra:#?}"
        );
    }
}

#[test]
fn a_replayed_dhcp_host_serves_the_zone_of_its_lease() {
    // The live host rebuilt its DNS zone when the lease came (its own name answers with the
    // leased address); the replayed host is built the same way and must do the same. The
    // identity is that of captures/dhcp.toml.
    use tapstack::replay::{build_host, Driver, Options, Service};
    let mut config = tapstack::Config::new(tapstack::MacAddr(OURS), None);
    config.dhcp = Some(tapstack::dhcp::Config::default());
    config.hostname = Some("tapstack".to_owned());
    config.seed = 1;
    config.arp.probe_count = 1;
    let host = build_host(config, Service::STANDARD).unwrap();
    let mut driver = Driver::new(host, Options::default());
    let records = read(&captures_dir().join("dhcp.pcapng"));
    for r in &records {
        driver.push(r, &mut |_, _, _| {});
    }
    let leased = [10, 77, 0, 50];
    assert_eq!(
        driver.host().iface().ipv4().map(|a| a.addr().octets()),
        Some(leased),
        "the replay leased the address the live host did"
    );
    // The kernel side of the link (the DHCP server's MAC) asks for A tapstack.test.
    let last = records.last().unwrap();
    let server_mac: [u8; 6] = records
        .iter()
        .find(|r| r.direction == Some(Direction::In) && r.data.get(6..12) != Some(&OURS[..]))
        .and_then(|r| r.data.get(6..12))
        .unwrap()
        .try_into()
        .unwrap();
    let mut query = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    query.extend_from_slice(b"\x08tapstack\x04test\x00\x00\x01\x00\x01");
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(server_mac, OURS)
        .ipv4([10, 77, 0, 1], leased, 64)
        .udp(40053, 53)
        .write(&mut frame, &query)
        .unwrap();
    let asked = Record::ethernet(
        last.timestamp + Duration::from_millis(10),
        frame,
        Some(Direction::In),
    );
    let mut sent: Vec<Vec<u8>> = Vec::new();
    let mut sink = |_, d: Direction, f: &[u8]| {
        if d == Direction::Out {
            sent.push(f.to_vec());
        }
    };
    driver.push(&asked, &mut sink);
    driver.finish(&mut sink);
    let answer = sent
        .iter()
        .filter_map(|f| match etherparse::SlicedPacket::from_ethernet(f) {
            Ok(etherparse::SlicedPacket {
                transport: Some(etherparse::TransportSlice::Udp(u)),
                ..
            }) => Some(u.payload().to_vec()),
            _ => None,
        })
        .find(|p| p.get(..2) == Some(&[0x12, 0x34][..]))
        .expect("the DNS server answered");
    let answers = u16::from_be_bytes([answer[6], answer[7]]);
    assert!(answers >= 1, "no answer: {answer:02x?}");
    assert!(
        answer.ends_with(&[0, 4, 10, 77, 0, 50]),
        "tapstack.test is not the leased address: {answer:02x?}"
    );
}

/// The expected output of arp-ping with one frame changed by `f`, written to `path`.
fn mutated_expected(path: &Path, index: usize, f: impl Fn(&mut Vec<u8>)) {
    let records = read(&captures_dir().join("arp-ping.expected.pcapng"));
    let mut w = CaptureWriter::new(Vec::new(), Format::PcapNg, "replay").unwrap();
    for (i, r) in records.iter().enumerate() {
        let mut data = r.data.clone();
        if i == index {
            f(&mut data);
        }
        w.write(r.timestamp, r.direction.unwrap(), &data).unwrap();
    }
    std::fs::write(path, w.into_inner().unwrap()).unwrap();
}

#[test]
fn expect_prints_a_readable_diff_and_fails() {
    let scratch = scratch("expect");
    let input = captures_dir().join("arp-ping.pcapng");
    let records = read(&captures_dir().join("arp-ping.expected.pcapng"));
    let reply = records
        .iter()
        .position(|r| decode::summary(&r.data).to_string().contains("echo reply"))
        .expect("an echo reply");
    let mutated = scratch.join("mutated.pcapng");
    // The TTL of the first echo reply: 64 becomes 63.
    mutated_expected(&mutated, reply, |d| d[14 + 8] = 63);
    let run = tapstack(&["replay", s(&input), "--expect", s(&mutated)]);
    let out = text(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{out}{}", text(&run.stderr));
    let number = reply + 1;
    assert!(out.contains(&format!("frame {number} differs:\n")), "{out}");
    assert!(
        out.contains("  first difference: ipv4.ttl: expected 63, got 64\n"),
        "{out}"
    );
    // Both frames decoded, one under the other.
    let minus = out.lines().find(|l| l.starts_with("  - ")).expect("- line");
    let plus = out.lines().find(|l| l.starts_with("  + ")).expect("+ line");
    assert!(
        minus.contains("ICMP echo reply") && plus.contains("ICMP echo reply"),
        "{out}"
    );
    assert!(
        out.contains("1 difference from") && out.contains("(9 frames expected, 9 produced"),
        "{out}"
    );
    // Masked, the TTL (and the header checksum over it) is not compared.
    let run = tapstack(&[
        "replay",
        "-q",
        s(&input),
        "--expect",
        s(&mutated),
        "--mask",
        "ipv4.ttl",
    ]);
    assert!(run.status.success(), "{}", text(&run.stdout));
    // An unknown field name is a mistake, not a silent no-op.
    let run = tapstack(&[
        "replay",
        s(&input),
        "--expect",
        s(&mutated),
        "--mask",
        "ipv4.tll",
    ]);
    assert!(one_line_error(&run).contains("'ipv4.tll' is not a field"));

    // A frame missing from the expected output shows as one extra frame of ours.
    let fewer = scratch.join("fewer.pcapng");
    let mut w = CaptureWriter::new(Vec::new(), Format::PcapNg, "replay").unwrap();
    for (i, r) in records.iter().enumerate() {
        if i != reply {
            w.write(r.timestamp, r.direction.unwrap(), &r.data).unwrap();
        }
    }
    std::fs::write(&fewer, w.into_inner().unwrap()).unwrap();
    let run = tapstack(&["replay", s(&input), "--expect", s(&fewer)]);
    let out = text(&run.stdout);
    assert_eq!(run.status.code(), Some(1));
    assert!(
        out.contains(&format!("frame not expected (ours #{number})")),
        "{out}"
    );
    assert!(out.contains("1 difference from"), "{out}");

    // A payload byte: the diff names the byte.
    let payload = scratch.join("payload.pcapng");
    mutated_expected(&payload, reply, |d| {
        let n = d.len();
        d[n - 1] ^= 0x01;
    });
    let run = tapstack(&[
        "replay",
        s(&input),
        "--expect",
        s(&payload),
        "--mask",
        "icmp.checksum",
    ]);
    let out = text(&run.stdout);
    assert!(out.contains("payload.data (byte 55 of 56)"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// Captures made by hand.

fn arp_request() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&PEER);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&PEER);
    f.extend_from_slice(&[10, 77, 0, 1]);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&[10, 77, 0, 2]);
    f.resize(60, 0);
    f
}

fn ping(seq: u16) -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(PEER, OURS)
        .ipv4([10, 77, 0, 1], [10, 77, 0, 2], 64)
        .icmpv4_echo_request(0x77, seq)
        .write(&mut f, &[0x61; 56])
        .unwrap();
    f
}

fn udp(payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(PEER, OURS)
        .ipv4([10, 77, 0, 1], [10, 77, 0, 2], 64)
        .udp(40000, 7)
        .write(&mut f, payload)
        .unwrap();
    f
}

/// A classic pcap (little endian, microseconds): `(micros, captured bytes, length on the wire)`.
fn pcap(linktype: u32, snaplen: u32, records: &[(u64, Vec<u8>, usize)]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&0i32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&snaplen.to_le_bytes());
    b.extend_from_slice(&linktype.to_le_bytes());
    for (us, data, orig) in records {
        b.extend_from_slice(&((us / 1_000_000) as u32).to_le_bytes());
        b.extend_from_slice(&((us % 1_000_000) as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&(*orig as u32).to_le_bytes());
        b.extend_from_slice(data);
    }
    b
}

fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    while body.len() % 4 != 0 {
        body.push(0);
    }
    let total = (body.len() + 12) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(&kind.to_le_bytes());
    b.extend_from_slice(&total.to_le_bytes());
    b.extend_from_slice(&body);
    b.extend_from_slice(&total.to_le_bytes());
    b
}

fn shb() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&(-1i64).to_le_bytes());
    block(0x0a0d_0d0a, &body)
}

/// An interface description; `tsresol` as the if_tsresol option (none: microseconds).
fn idb(linktype: u16, tsresol: Option<u8>) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&linktype.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&0u32.to_le_bytes());
    if let Some(r) = tsresol {
        body.extend_from_slice(&9u16.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&[r, 0, 0, 0]);
        body.extend_from_slice(&[0, 0, 0, 0]);
    }
    block(1, &body)
}

/// An enhanced packet block with a raw timestamp in the interface's units.
fn epb(interface: u32, ts: u64, data: &[u8]) -> Vec<u8> {
    epb_cut(interface, ts, data, data.len())
}

/// An enhanced packet block of a frame that was `orig` bytes on the wire.
fn epb_cut(interface: u32, ts: u64, data: &[u8], orig: usize) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&interface.to_le_bytes());
    body.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
    body.extend_from_slice(&(ts as u32).to_le_bytes());
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(&(orig as u32).to_le_bytes());
    body.extend_from_slice(data);
    block(6, &body)
}

fn replay_args<'a>(input: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "replay",
        input,
        "--out",
        out,
        "--no-config",
        "--ip",
        "10.77.0.2/24",
        "--seed",
        "5",
    ]
}

#[test]
fn empty_and_header_only_files() {
    let scratch = scratch("empty");
    let empty = scratch.join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let out = scratch.join("out.pcapng");
    let line = one_line_error(&tapstack(&replay_args(s(&empty), s(&out))));
    assert!(line.contains("is empty (0 bytes)"), "{line}");
    let line = one_line_error(&tapstack(&["dump", s(&empty)]));
    assert!(line.contains("is empty"), "{line}");

    let garbage = scratch.join("garbage.pcap");
    std::fs::write(&garbage, b"GET / HTTP/1.1\r\n").unwrap();
    let line = one_line_error(&tapstack(&replay_args(s(&garbage), s(&out))));
    assert!(line.contains("not a pcap or pcapng file"), "{line}");

    // A valid header and no frames: nothing to do, and that is fine.
    let header = scratch.join("header.pcap");
    std::fs::write(&header, pcap(1, 65535, &[])).unwrap();
    let run = tapstack(&replay_args(s(&header), s(&out)));
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(
        text(&run.stdout).contains("records      0 read"),
        "{}",
        text(&run.stdout)
    );
    assert_eq!(read(&out).len(), 0);
    let run = tapstack(&["dump", s(&header)]);
    assert!(run.status.success() && run.stdout.is_empty());
}

#[test]
fn other_link_types_are_named() {
    let scratch = scratch("linktype");
    let out = scratch.join("out.pcapng");
    // IEEE 802.11 (LINKTYPE_IEEE802_11, 105): not a link the stack sits on.
    let wifi = scratch.join("wifi.pcap");
    let frame = vec![0x08u8; 40];
    std::fs::write(&wifi, pcap(105, 65535, &[(0, frame.clone(), frame.len())])).unwrap();
    for args in [replay_args(s(&wifi), s(&out)), vec!["dump", s(&wifi)]] {
        let line = one_line_error(&tapstack(&args));
        assert!(
            line.contains("link type IEEE802_11 (105) is not supported (only ETHERNET,"),
            "{line}"
        );
    }
    // The same in pcapng.
    let wifing = scratch.join("wifi.pcapng");
    let mut b = shb();
    b.extend(idb(105, None));
    b.extend(epb(0, 0, &frame));
    std::fs::write(&wifing, b).unwrap();
    let line = one_line_error(&tapstack(&replay_args(s(&wifing), s(&out))));
    assert!(line.contains("link type IEEE802_11 (105)"), "{line}");
    // Raw IPv4 (LINKTYPE_RAW, 101) is read: the ping is answered.
    let raw = scratch.join("raw.pcap");
    let ip = ping(1)[14..].to_vec();
    std::fs::write(&raw, pcap(101, 65535, &[(0, ip.clone(), ip.len())])).unwrap();
    let run = tapstack(&replay_args(s(&raw), s(&out)));
    assert!(run.status.success(), "{}", text(&run.stderr));
    let sent = summaries(&read(&out), Direction::Out);
    assert_eq!(count(&sent, "ICMP echo reply"), 1, "{sent:?}");
    let run = tapstack(&["dump", s(&raw)]);
    assert!(
        text(&run.stdout).contains("IP 10.77.0.1 > 10.77.0.2: ICMP echo request"),
        "{}",
        text(&run.stdout)
    );
}

#[test]
fn pcapng_with_two_interfaces_and_timestamp_resolutions() {
    let scratch = scratch("two-ifaces");
    let input = scratch.join("two.pcapng");
    let mut b = shb();
    // Interface 0 counts nanoseconds, interface 1 microseconds (the pcapng default).
    b.extend(idb(1, Some(9)));
    b.extend(idb(1, None));
    let base_ns: u64 = 1_700_000_000 * 1_000_000_000;
    b.extend(epb(0, base_ns, &arp_request()));
    b.extend(epb(1, base_ns / 1000 + 1_000, &ping(1)));
    b.extend(epb(0, base_ns + 2_000_000, &ping(2)));
    b.extend(epb(1, base_ns / 1000 + 3_000, &udp(b"two interfaces")));
    // Cut by a snaplen of 64: counted and skipped.
    b.extend(epb_cut(0, base_ns + 4_000_000, &ping(3)[..64], 98));
    std::fs::write(&input, b).unwrap();
    let out = scratch.join("out.pcapng");
    let run = tapstack(&replay_args(s(&input), s(&out)));
    assert!(run.status.success(), "{}", text(&run.stderr));
    let stdout = text(&run.stdout);
    assert!(stdout.contains("records      5 read"), "{stdout}");
    assert!(
        stdout.contains("skipped      1: 1 cut short by the snaplen"),
        "{stdout}"
    );
    let records = read(&out);
    let sent = summaries(&records, Direction::Out);
    assert_eq!(count(&sent, "ICMP echo reply"), 2, "{sent:?}");
    assert_eq!(count(&sent, "UDP, length 14"), 1, "{sent:?}");
    // Timestamps in both units come out on one clock, 1 ms apart.
    let t0 = Duration::from_nanos(base_ns);
    let inputs: Vec<Duration> = records
        .iter()
        .filter(|r| r.direction == Some(Direction::In))
        .map(|r| r.timestamp - t0)
        .collect();
    assert_eq!(
        inputs,
        [0, 1, 2, 3].map(Duration::from_millis).to_vec(),
        "{records:?}"
    );
}

#[test]
fn frames_cut_by_the_snaplen_are_counted_and_skipped() {
    let scratch = scratch("snaplen");
    let input = scratch.join("cut.pcap");
    let whole = ping(1);
    let cut = ping(2)[..64].to_vec();
    std::fs::write(
        &input,
        pcap(
            1,
            64,
            &[
                (0, arp_request(), 60),
                (1000, whole[..64].to_vec(), whole.len()),
                (2000, cut, 98),
                (3000, udp(b"short"), 47),
            ],
        ),
    )
    .unwrap();
    let out = scratch.join("out.pcapng");
    let run = tapstack(&replay_args(s(&input), s(&out)));
    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(
        stdout.contains("skipped      2: 2 cut short by the snaplen"),
        "{stdout}"
    );
    assert!(stdout.contains("frames in    2 fed"), "{stdout}");
    let sent = summaries(&read(&out), Direction::Out);
    assert_eq!(count(&sent, "ICMP echo reply"), 0, "{sent:?}");
    assert_eq!(count(&sent, "UDP, length 5"), 1, "{sent:?}");
    let dump = text(&tapstack(&["dump", s(&input)]).stdout);
    assert_eq!(
        dump.matches("[cut by the snaplen: 64 of 98 bytes]").count(),
        2,
        "{dump}"
    );
}

#[test]
fn damaged_files_name_the_offset_and_keep_what_came_before() {
    let scratch = scratch("damaged");
    let source = captures_dir().join("udp-echo.pcapng");
    let bytes = std::fs::read(&source).unwrap();
    let records = read(&source);
    // Block offsets of the packets (EPBs) in the file.
    let mut offsets = Vec::new();
    let mut at = 0usize;
    while at + 8 <= bytes.len() {
        let kind = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        if kind == 6 {
            offsets.push(at);
        }
        at += len;
    }
    assert_eq!(offsets.len(), records.len());
    let k = 4; // cut inside the fifth packet
    let out = scratch.join("out.pcapng");

    // Truncated in the middle of a block.
    let cut = scratch.join("cut.pcapng");
    std::fs::write(&cut, &bytes[..offsets[k] + 20]).unwrap();
    let config = captures_dir().join("udp-echo.toml");
    let mut args = replay_args(s(&cut), s(&out));
    args.extend(["--config", s(&config)]);
    args.retain(|a| *a != "--no-config");
    let run = tapstack(&args);
    let line = one_line_error(&run);
    assert!(
        line.contains(&format!(
            "damaged at byte offset {}, after {k} good records",
            offsets[k]
        )),
        "{line}"
    );
    assert!(
        line.contains("the 4 records before it were replayed"),
        "{line}"
    );
    // The summary was printed and the output holds what the good records produced.
    assert!(
        text(&run.stdout).contains("records      4 read"),
        "{}",
        text(&run.stdout)
    );
    let got = read(&out);
    assert!(
        summaries(&got, Direction::Out)
            .iter()
            .any(|l| l.contains("UDP, length 6")),
        "the echo before the damage is in the output: {got:?}"
    );
    let dump = tapstack(&["dump", s(&cut)]);
    assert_eq!(
        text(&dump.stdout).lines().count(),
        k,
        "frames before the damage are printed"
    );
    assert!(one_line_error(&dump).contains(&format!("offset {}", offsets[k])));

    // A block length that runs past the end of the file.
    let mut bad = bytes.clone();
    bad[offsets[k] + 4..offsets[k] + 8].copy_from_slice(&0x00ff_fff0u32.to_le_bytes());
    let damaged = scratch.join("damaged.pcapng");
    std::fs::write(&damaged, &bad).unwrap();
    let line = one_line_error(&tapstack(&["dump", s(&damaged)]));
    assert!(line.contains(&format!("offset {}", offsets[k])), "{line}");

    // Classic pcap cut inside a record.
    let mut w = CaptureWriter::new(Vec::new(), Format::Pcap, "x").unwrap();
    for r in &records {
        w.write(r.timestamp, Direction::In, &r.data).unwrap();
    }
    let classic = w.into_inner().unwrap();
    let mut at = 24;
    for r in &records[..k] {
        at += 16 + r.data.len();
    }
    let cut_pcap = scratch.join("cut.pcap");
    std::fs::write(&cut_pcap, &classic[..at + 10]).unwrap();
    let line = one_line_error(&tapstack(&["dump", s(&cut_pcap)]));
    assert!(line.contains(&format!("offset {at}")), "{line}");

    // Every prefix of a small capture: an error or a clean end, never a panic.
    for n in (0..bytes.len()).step_by(7) {
        let p = scratch.join("prefix.pcapng");
        std::fs::write(&p, &bytes[..n]).unwrap();
        let run = tapstack(&replay_args(s(&p), s(&out)));
        assert!(
            !text(&run.stderr).contains("panicked"),
            "{n}: {}",
            text(&run.stderr)
        );
        assert!(matches!(run.status.code(), Some(0 | 2)), "{n}");
    }
}

#[test]
fn configuration_mistakes_are_one_line() {
    let scratch = scratch("config");
    let input = captures_dir().join("arp-ping.pcapng");
    let cfg = scratch.join("c.toml");
    std::fs::write(&cfg, "ip = \"10.77.0.2/24\"\nsed = 4\n").unwrap();
    let line = one_line_error(&tapstack(&["replay", s(&input), "--config", s(&cfg)]));
    assert!(
        line.contains("c.toml: line 2: unknown field `sed`"),
        "{line}"
    );
    std::fs::write(&cfg, "services = [\"udp-echo\", \"ssh\"]\n").unwrap();
    let line = one_line_error(&tapstack(&["replay", s(&input), "--config", s(&cfg)]));
    assert!(line.contains("unknown service 'ssh'"), "{line}");
    let line = one_line_error(&tapstack(&["replay", s(&input), "--out", s(&input)]));
    assert!(line.contains("would overwrite the input"), "{line}");
    // Flags override the file: another seed, other output.
    let out = scratch.join("o.pcapng");
    let run = tapstack(&["replay", s(&input), "--seed", "9", "--out", s(&out)]);
    assert!(
        text(&run.stdout).contains("seed 9"),
        "{}",
        text(&run.stdout)
    );
}

// ---------------------------------------------------------------------------------------------
// Dump snapshots.

#[test]
fn dump_matches_the_snapshots() {
    let dir = captures_dir().join("snapshots");
    if updating() {
        std::fs::create_dir_all(&dir).unwrap();
    }
    let mut failures = Vec::new();
    for name in recordings() {
        if updating() {
            // The expected output first, as the other test writes it: the snapshot of the
            // expected output must not see the old one.
            let scratch = scratch(&format!("snap-{name}"));
            let out = scratch.join("out.pcapng");
            let input = captures_dir().join(recording(&name));
            let run = tapstack(&["replay", "-q", s(&input), "--out", s(&out)]);
            assert!(run.status.success(), "{name}: {}", text(&run.stderr));
            let bytes = std::fs::read(&out).unwrap();
            write_atomically(
                &captures_dir().join(format!("{name}.expected.pcapng")),
                &bytes,
            );
        }
        for (file, suffix, verbose) in [
            (recording(&name), "", false),
            (recording(&name), "-v", true),
            (format!("{name}.expected.pcapng"), ".expected", false),
        ] {
            let path = captures_dir().join(&file);
            let mut args = vec!["dump", s(&path)];
            if verbose {
                args.push("-v");
            }
            let run = tapstack(&args);
            assert!(run.status.success(), "{file}: {}", text(&run.stderr));
            let snapshot = dir.join(format!("{name}{suffix}.txt"));
            if updating() {
                write_atomically(&snapshot, &run.stdout);
                continue;
            }
            let want = text(&std::fs::read(&snapshot).unwrap_or_default());
            let got = text(&run.stdout);
            if want != got {
                let (w, g): (Vec<&str>, Vec<&str>) =
                    (want.lines().collect(), got.lines().collect());
                let at = (0..w.len().max(g.len()))
                    .find(|&i| w.get(i) != g.get(i))
                    .unwrap_or(0);
                failures.push(format!(
                    "{}: line {} differs (TAPSTACK_UPDATE_SNAPSHOTS=1 rewrites it)\n  \
                     snapshot: {}\n  dump:     {}",
                    snapshot.display(),
                    at + 1,
                    w.get(at).unwrap_or(&"(end)"),
                    g.get(at).unwrap_or(&"(end)")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Speed.

/// Replay speed on a synthetic capture of a million frames (pings and UDP echo datagrams, a
/// microsecond apart). Run with
/// `cargo test --release --test replay -- --ignored --nocapture replay_speed`.
#[test]
#[ignore = "a benchmark: run it by name"]
fn replay_speed() {
    let frames: usize = std::env::var("TAPSTACK_REPLAY_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let scratch = scratch("speed");
    let input = scratch.join("million.pcap");
    let mut w = CaptureWriter::create(&input, "synthetic").unwrap();
    let t0 = Duration::from_secs(1_700_000_000);
    w.write(t0, Direction::In, &arp_request()).unwrap();
    let (p, u) = (ping(1), udp(b"hello tapstack"));
    for i in 1..frames {
        let frame = if i % 2 == 0 { &p } else { &u };
        w.write(t0 + Duration::from_micros(i as u64), Direction::In, frame)
            .unwrap();
    }
    w.into_inner().unwrap();
    let size = std::fs::metadata(&input).unwrap().len();
    let out = scratch.join("out.pcapng");
    let base = [
        "replay",
        s(&input),
        "--no-config",
        "--ip",
        "10.77.0.2/24",
        "-q",
    ];
    for (what, extra) in [
        ("without output", vec![]),
        ("with --out", vec!["--out", s(&out)]),
    ] {
        let mut args = base.to_vec();
        args.extend(extra);
        let start = Instant::now();
        let run = tapstack(&args);
        let took = start.elapsed();
        assert!(run.status.success(), "{}", text(&run.stderr));
        println!(
            "replay {what}: {frames} frames ({:.1} MB) in {:.3} s: {:.0} frames/s",
            size as f64 / 1e6,
            took.as_secs_f64(),
            frames as f64 / took.as_secs_f64()
        );
    }
    let got = CaptureReader::open(&out).unwrap().count();
    assert!(got >= 2 * frames - 1, "every frame answered: {got}");
}
