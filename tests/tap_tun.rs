//! `tapstack up --tun` against the Linux kernel over a real TUN device (bare IP packets, a
//! point-to-point link without ARP or neighbour discovery).
//!
//! From the kernel side of a throwaway network namespace: `ping`, `ping -6`, `curl` over both
//! families and `dig`, with the stack's `--pcap` capture (link type RAW) checked by tshark; a
//! 100 MiB round trip through the echo service with SHA-256 compared; and `--dhcp` with `--tun`
//! refused in one line. Every frame stays inside namespaces the tests create and delete (also
//! when a test panics); every process and wait is bounded in time. Tests that cannot run here
//! (not root, no /dev/net/tun, a tool missing) print "skipping: <reason>" and pass.

#[path = "tap/netns.rs"]
#[allow(dead_code)]
mod netns;
#[path = "tap/report.rs"]
#[allow(dead_code)]
mod report;
#[path = "tap/stream.rs"]
#[allow(dead_code)]
mod stream;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use netns::{assert_clean_exit, path_arg, run_bounded, took, Netns, Tapstack, TempDir, BIN};
use report::{captured_frames, counters, ping_summary};
use stream::{digest, stream, Pattern, MIB};

const ADDR: &str = "10.77.0.2";
const ADDR6: &str = "fd77::2";
/// The stack on a TUN device, with a fixed seed (its link-local address comes from it).
const TUN: &[&str] = &["--tun", "--seed", "12"];
const SHORT: Duration = Duration::from_secs(20);

/// Runs `argv` in `ns` and returns its stdout; panics with its output if it fails.
fn ok(ns: &Netns, argv: &[&str]) -> String {
    let out = ns.run(argv, b"", SHORT);
    assert!(
        out.status.success(),
        "{argv:?} failed: {}\n{}",
        out.stdout_text(),
        out.stderr
    );
    out.stdout_text()
}

/// The problems tshark finds in a raw-IP capture: anything malformed, any expert error, any
/// bad checksum. The kernel's 0xffff for a zero checksum (RFC 1624) only counts against the
/// stack's own packets.
fn capture_problems(path: &Path) -> Vec<String> {
    tapstack_testkit::capture::problems_by(path, &["ip.src", "ipv6.src"], |l| {
        l.contains(ADDR) || l.contains(ADDR6)
    })
    .unwrap_or_else(|e| panic!("{e:#}"))
}

/// How many packets of the capture match `filter`.
fn count(path: &Path, filter: &str) -> usize {
    tapstack_testkit::capture::tshark(
        path,
        &["-2", "-Y", filter, "-T", "fields", "-e", "frame.number"],
    )
    .unwrap_or_else(|e| panic!("{e:#}"))
    .lines()
    .count()
}

/// The stack's link-local address on a TUN device with `--seed seed`.
fn link_local(seed: u64) -> std::net::Ipv6Addr {
    let mut config = tapstack::Config::new(config_mac(), None);
    config.medium = tapstack::device::Medium::Ip;
    config.seed = seed;
    config.ipv6 = Some(tapstack::Ipv6Config::default());
    let iface = tapstack::Interface::new(config).unwrap();
    let ll = iface
        .ipv6_addresses()
        .iter()
        .find(|a| a.origin == tapstack::iface::Ipv6Origin::LinkLocal)
        .map(|a| a.cidr.addr())
        .unwrap();
    assert_ne!(ll, tapstack::ipv6::link_local_from_mac(config_mac()));
    ll
}

fn config_mac() -> tapstack::MacAddr {
    tapstack::MacAddr([2, 0, 10, 77, 0, 2])
}

#[test]
fn ping_ping6_curl_and_dig_over_tun_with_a_clean_raw_ip_capture() {
    let Some(ns) = Netns::create_ipv6_or_skip(&["ping", "curl", "dig", "tshark"]) else {
        return;
    };
    let started = Instant::now();
    let dir = TempDir::new();
    let pcap = dir.join("tun.pcap");
    let mut args = TUN.to_vec();
    args.extend(["--pcap", path_arg(&pcap)]);
    let mut stack = ns.start_ready(&args);

    // The kernel side: a point-to-point device without ARP, the stack as its IPv4 peer.
    let link = ok(&ns, &["ip", "addr", "show", "tun0"]);
    assert!(
        link.contains("POINTOPOINT") && link.contains("NOARP"),
        "{link}"
    );
    assert!(link.contains("link/none"), "no hardware address: {link}");
    assert!(link.contains("inet 10.77.0.1 peer 10.77.0.2/24"), "{link}");
    assert!(link.contains("inet6 fd77::1/64"), "{link}");

    let ping = ns.run(
        &["ping", "-c", "3", "-i", "0.2", "-W", "2", ADDR],
        b"",
        SHORT,
    );
    let p = ping_summary(&ping.stdout_text());
    assert_eq!(
        (p.transmitted, p.received),
        (3, 3),
        "{}",
        ping.stdout_text()
    );
    let ping6 = ns.run(
        &["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", ADDR6],
        b"",
        SHORT,
    );
    let p = ping_summary(&ping6.stdout_text());
    assert_eq!(
        (p.transmitted, p.received),
        (3, 3),
        "{}",
        ping6.stdout_text()
    );

    // The link-local address, from the random interface identifier the seed gives (as the
    // stack computes it): reachable without neighbour discovery.
    let ll = format!("{}%tun0", link_local(12));
    let ping_ll = ns.run(
        &["ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", &ll],
        b"",
        SHORT,
    );
    let p = ping_summary(&ping_ll.stdout_text());
    assert_eq!(
        (p.transmitted, p.received),
        (2, 2),
        "{}",
        ping_ll.stdout_text()
    );

    let page = ok(&ns, &["curl", "-sS", "-m", "5", "http://10.77.0.2/"]);
    assert!(page.contains("tapstack"), "{page}");
    let page6 = ok(&ns, &["curl", "-sS", "-6", "-m", "5", "http://[fd77::2]/"]);
    assert!(page6.contains("tapstack"), "{page6}");
    let a = ok(
        &ns,
        &[
            "dig",
            "+short",
            "+time=2",
            "+tries=2",
            "@10.77.0.2",
            "tapstack.test",
        ],
    );
    assert_eq!(a.trim(), ADDR);
    let aaaa = ok(
        &ns,
        &[
            "dig",
            "+short",
            "+time=2",
            "+tries=2",
            "-6",
            "@fd77::2",
            "AAAA",
            "tapstack.test",
        ],
    );
    assert_eq!(aaaa.trim(), ADDR6);

    let exit = stack.stop(libc::SIGINT);
    assert_clean_exit(&exit);
    assert!(
        exit.stdout.contains("virtual host on TUN device tun0"),
        "the banner says TUN: {}",
        exit.stdout
    );
    let c = counters(&exit.stdout);
    assert!(
        c.get("icmp_echo_replied") >= 3 && c.get("icmpv6_echo_replied") >= 3,
        "{c:?}"
    );
    for none in [
        "arp_probes_sent",
        "arp_replies_sent",
        "ndp_solicits_sent",
        "ndp_dad_sent",
    ] {
        assert_eq!(c.get(none), 0, "{none} on a link without resolution: {c:?}");
    }

    // The capture: link type RAW (101) in the pcap header, every packet IP, nothing wrong.
    let bytes = std::fs::read(&pcap).unwrap();
    assert_eq!(
        u32::from_le_bytes(bytes[20..24].try_into().unwrap()),
        101,
        "link type RAW"
    );
    let frames = captured_frames(&exit.stdout);
    assert!(frames > 20, "{frames} packets captured");
    assert_eq!(count(&pcap, "ip || ipv6"), frames, "every packet is IP");
    assert_eq!(count(&pcap, "eth || arp"), 0);
    assert_eq!(count(&pcap, "icmp.type == 0 && ip.src == 10.77.0.2"), 3);
    assert_eq!(count(&pcap, "icmpv6.type == 129 && ipv6.src == fd77::2"), 3);
    assert_eq!(
        count(&pcap, "icmpv6.type == 129 && ipv6.src == fe80::/64"),
        2
    );
    assert_eq!(
        count(&pcap, "icmpv6.type == 135 || icmpv6.type == 136"),
        0,
        "no neighbour discovery"
    );
    assert!(count(&pcap, "http.response.code == 200") >= 2);
    assert!(count(&pcap, "dns.flags.response == 1 && dns.count.answers == 1") >= 2);
    let problems = capture_problems(&pcap);
    assert!(problems.is_empty(), "tshark finds problems: {problems:#?}");
    took("ping_ping6_curl_and_dig_over_tun", started);
}

#[test]
fn tcp_echo_returns_100_mib_intact_over_tun() {
    let Some(ns) = Netns::create_or_skip(&["socat"]) else {
        return;
    };
    let started = Instant::now();
    let mut stack = ns.start_ready(&[TUN, &["--no-ip6"]].concat());
    let len = 100 * MIB;
    let seed = 0x7a_7a_7a;
    let expected = digest(Pattern::new(seed, len), None).unwrap();
    let t = stream(
        &ns,
        &["socat", "-t", "120", &format!("TCP:{ADDR}:7"), "-"],
        Some(Box::new(Pattern::new(seed, len))),
        None,
        Duration::from_secs(120),
    );
    let exit = stack.stop(libc::SIGINT);
    assert_clean_exit(&exit);
    println!(
        "TUN echo: {} MiB echoed in {:.2} s ({:.1} MiB/s)",
        len / MIB,
        t.elapsed.as_secs_f64(),
        t.rate(2 * t.received.bytes) / 2.0
    );
    assert!(
        t.succeeded() && t.sent == len && t.received == expected,
        "echo of {len} bytes: socat {:?}, sent {}, received {:?}, expected {:?}; socat said: {}\n{}",
        t.status,
        t.sent,
        t.received,
        expected,
        t.stderr.trim(),
        exit.stdout
    );
    let c = counters(&exit.stdout);
    assert!(c.get("rx_bytes") > len && c.get("tx_bytes") > len, "{c:?}");
    took("tcp_echo_returns_100_mib_intact_over_tun", started);
}

#[test]
fn dhcp_with_tun_is_refused_in_one_line() {
    let mut cmd = Command::new(BIN);
    cmd.args(["up", "--tun", "--dhcp", "--dev", "tunnever0"]);
    let out = run_bounded(cmd, b"", SHORT);
    assert!(!out.status.success(), "must fail: {out:?}");
    let err = out.stderr.trim();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("--dhcp") && err.contains("TUN"), "{err}");
    assert!(
        !Path::new("/sys/class/net/tunnever0").exists(),
        "nothing was created"
    );
}
