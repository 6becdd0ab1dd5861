//! End-to-end tests of IPv6 in `tapstack up` over a real TAP device, with the kernel of a test
//! namespace (IPv6 on) as the peer: `ping -6` to the link-local and the static address, large
//! pings fragmented both ways, `curl -6`, `dig -6` for AAAA and ip6.arpa PTR records, a TCP
//! echo transfer checked by SHA-256, a Router Advertisement crafted with a raw socket that
//! makes the stack configure a SLAAC address (which then answers ping and shows in DNS), and a
//! capture of it all that `tshark` finds clean.
//!
//! Every frame stays inside namespaces the tests create and delete (also when a test panics);
//! every process and wait is bounded in time. Tests that cannot run here (not root, no
//! /dev/net/tun, no IPv6, a tool missing) print "skipping: <reason>" and pass.

#[path = "tap/capture.rs"]
#[allow(dead_code)]
mod capture;
#[path = "tap/netns.rs"]
#[allow(dead_code)]
mod netns;
#[path = "tap/report.rs"]
#[allow(dead_code)]
mod report;
#[path = "tap/stream.rs"]
#[allow(dead_code)]
mod stream;

use std::time::{Duration, Instant};

use capture::{assert_capture_clean, count, frame_count};
use netns::{path_arg, took, Exit, Netns, Output, Stack, Tapstack, TempDir};
use report::{captured_frames, counters, ping_summary, Counters};
use stream::{digest, stream, Pattern, MIB};

/// The stack's static IPv6 address (the default of `--ip6`).
const ADDR6: &str = "fd77::2";
/// The stack's link-local address: fe80:: and the modified EUI-64 of its MAC 02:00:0a:4d:00:02.
const LINK_LOCAL: &str = "fe80::aff:fe4d:2";
/// The prefix the crafted Router Advertisement announces, and the address SLAAC makes of it.
const SLAAC_PREFIX: &str = "fd78::";
const SLAAC_ADDR: &str = "fd78::aff:fe4d:2";
/// No ARP probing: the IPv4 side answers at once (IPv6 still runs its DAD).
const QUICK: &[&str] = &["--arp-probes", "0"];
const CLIENT_WITHIN: Duration = Duration::from_secs(20);

/// Waits until the stack printed that `addr` passed duplicate address detection.
fn wait_ipv6(stack: &mut Stack, addr: &str) {
    let line = format!("tapstack: IPv6 address {addr} is ready");
    stack.wait_line(&line, |l| l == line);
}

fn ping6(ns: &Netns, args: &[&str]) -> (report::PingSummary, Output) {
    let mut argv = vec!["ping", "-6", "-n"];
    argv.extend_from_slice(args);
    let out = ns.run(&argv, b"", CLIENT_WITHIN);
    (ping_summary(&out.stdout_text()), out)
}

/// Stops the stack; panics unless it exited cleanly. Returns its exit and counters.
fn stop(stack: &mut Stack) -> (Exit, Counters) {
    let exit = stack.stop(libc::SIGINT);
    assert!(
        exit.status.success() && !exit.stderr.contains("panicked"),
        "tapstack failed: {exit:#?}"
    );
    let c = counters(&exit.stdout);
    (exit, c)
}

#[test]
fn ping6_link_local_global_and_fragmented() {
    let Some(ns) = Netns::create_ipv6_or_skip(&["ping", "tshark"]) else {
        return;
    };
    let started = Instant::now();
    let dir = TempDir::new();
    let path = dir.join("ping6.pcapng");
    let mut args = QUICK.to_vec();
    args.extend(["--pcap", path_arg(&path)]);
    let mut stack = ns.start_ready(&args);
    wait_ipv6(&mut stack, LINK_LOCAL);
    wait_ipv6(&mut stack, ADDR6);

    let (global, out) = ping6(&ns, &["-c", "3", "-i", "0.2", "-W", "2", ADDR6]);
    assert_eq!(global.received, 3, "ping -6 {ADDR6}: {out:#?}");
    let scoped = format!("{LINK_LOCAL}%tap0");
    let (local, out) = ping6(&ns, &["-c", "3", "-i", "0.2", "-W", "2", &scoped]);
    assert_eq!(local.received, 3, "ping -6 {scoped}: {out:#?}");
    // 4000 bytes of data: the request comes in three fragments, the reply goes out in three.
    let (big, out) = ping6(
        &ns,
        &["-c", "3", "-i", "0.2", "-W", "2", "-s", "4000", ADDR6],
    );
    assert_eq!(big.received, 3, "ping -6 -s 4000: {out:#?}");

    let (exit, c) = stop(&mut stack);
    assert_eq!(c.get("icmpv6_echo_replied"), 9, "{}", exit.stdout);
    assert_eq!(c.get("ipv6_reassembled"), 3, "{}", exit.stdout);
    assert_eq!(c.get("ipv6_fragments_tx"), 9, "{}", exit.stdout);
    assert_eq!(c.get("ndp_dad_duplicates"), 0, "{}", exit.stdout);
    assert_eq!(frame_count(&path), captured_frames(&exit.stdout));
    assert_capture_clean(&path);
    // The capture shows the duplicate address detection probes (from ::), the answers to the
    // kernel's solicitations, and fragments in both directions.
    let dad = "icmpv6.type==135 && ipv6.src==:: && icmpv6.nd.ns.target_address==fd77::2";
    assert!(count(&path, dad) >= 1, "no DAD probe for fd77::2");
    let adverts = "icmpv6.type==136 && ipv6.src==fd77::2 && icmpv6.nd.na.flag.s==1";
    assert!(count(&path, adverts) >= 1, "no solicited NA from fd77::2");
    let ours = count(&path, "ipv6.src==fd77::2 && ipv6.fraghdr");
    let theirs = count(&path, "ipv6.dst==fd77::2 && ipv6.fraghdr");
    assert!(
        ours >= 9 && theirs >= 9,
        "fragments out {ours}, in {theirs}"
    );
    took("ping6_link_local_global_and_fragmented", started);
}

#[test]
fn http_dns_and_tcp_over_ipv6() {
    let Some(ns) = Netns::create_ipv6_or_skip(&["curl", "dig", "socat", "tshark"]) else {
        return;
    };
    let started = Instant::now();
    let dir = TempDir::new();
    let path = dir.join("services6.pcapng");
    let mut args = QUICK.to_vec();
    args.extend(["--pcap", path_arg(&path)]);
    let mut stack = ns.start_ready(&args);
    wait_ipv6(&mut stack, ADDR6);

    let url = format!("http://[{ADDR6}]/");
    let page = ns.run(&["curl", "-6", "-sS", "-m", "10", &url], b"", CLIENT_WITHIN);
    let text = page.stdout_text();
    assert!(page.status.success(), "curl -6 {url}: {page:#?}");
    assert!(
        text.contains("IPv6 addresses: ") && text.contains("fd77::2/64 (static, preferred)"),
        "home page: {text}"
    );
    let stats = format!("http://[{ADDR6}]/stats");
    let json = ns.run(
        &["curl", "-6", "-sS", "-m", "10", &stats],
        b"",
        CLIENT_WITHIN,
    );
    let json = json.stdout_text();
    assert!(
        json.contains("\"ndp\":[") && json.contains("\"ip\":\"fd77::1\""),
        "/stats lists the kernel in the neighbour cache: {json}"
    );

    let at = format!("@{ADDR6}");
    let dig = |args: &[&str]| {
        let mut argv = vec!["dig", "-6", "+short", "+time=2", "+tries=2", &at];
        argv.extend_from_slice(args);
        let out = ns.run(&argv, b"", CLIENT_WITHIN);
        assert!(out.status.success(), "{argv:?}: {out:#?}");
        out.stdout_text().trim().to_owned()
    };
    assert_eq!(dig(&["AAAA", "tapstack.test"]), ADDR6);
    assert_eq!(dig(&["-x", ADDR6]), "tapstack.test.");
    assert_eq!(
        dig(&["A", "tapstack.test"]),
        "10.77.0.2",
        "IPv4 records over IPv6"
    );

    // TCP over IPv6: 4 MiB through the echo service, byte for byte.
    let len = 4 * MIB;
    let expected = digest(Pattern::new(6, len), None).expect("generated data");
    let peer = format!("TCP6:[{ADDR6}]:7");
    let t = stream(
        &ns,
        &["socat", "-t", "30", &peer, "-"],
        Some(Box::new(Pattern::new(6, len))),
        None,
        Duration::from_secs(60),
    );
    let (exit, c) = stop(&mut stack);
    assert!(t.succeeded(), "socat: {t:#?}\n{}", exit.stdout);
    assert_eq!(t.received, expected, "echoed over IPv6: {t:#?}");
    assert!(c.get("ipv6_delivered") > 0 && c.get("tcp_segments_sent") > 0);
    assert_eq!(frame_count(&path), captured_frames(&exit.stdout));
    assert_capture_clean(&path);
    // The MSS announced over IPv6 leaves room for the 40-byte IPv6 header: 1500 - 60.
    let syn_acks = capture::fields(
        &path,
        "ipv6.src==fd77::2 && tcp.flags.syn==1 && tcp.flags.ack==1",
        &["tcp.options.mss_val"],
    );
    assert!(
        !syn_acks.is_empty() && syn_acks.iter().all(|r| r == &["1440"]),
        "MSS of our SYN-ACKs: {syn_acks:?}"
    );
    took("http_dns_and_tcp_over_ipv6", started);
}

/// A Router Advertisement from the kernel side's link-local address, written with a raw
/// AF_PACKET socket: hop limit 255, router lifetime 600 s, prefix fd78::/64 with the on-link
/// and autonomous flags (valid 3600 s, preferred 1800 s), MTU 1500, and the source link-layer
/// address option.
const SEND_RA: &str = r#"
import socket, struct, sys
ifname = sys.argv[1]
mac = bytes.fromhex(open(f"/sys/class/net/{ifname}/address").read().strip().replace(":", ""))
src = None
for line in open("/proc/net/if_inet6"):
    f = line.split()
    if f[5] == ifname and f[0].startswith("fe80"):
        src = bytes.fromhex(f[0])
assert src is not None, "no link-local address on " + ifname
dst = socket.inet_pton(socket.AF_INET6, "ff02::1")
prefix = socket.inet_pton(socket.AF_INET6, sys.argv[2])
body = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 600, 0, 0)
body += struct.pack("!BB6s", 1, 1, mac)
body += struct.pack("!BBHI", 5, 1, 0, 1500)
body += struct.pack("!BBBBIII16s", 3, 4, 64, 0xC0, 3600, 1800, 0, prefix)
pseudo = src + dst + struct.pack("!I3xB", len(body), 58)
data = pseudo + body
s = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
while s > 0xFFFF:
    s = (s & 0xFFFF) + (s >> 16)
body = body[:2] + struct.pack("!H", ~s & 0xFFFF) + body[4:]
ip = struct.pack("!IHBB", 6 << 28, len(body), 58, 255) + src + dst
eth = bytes.fromhex("333300000001") + mac + b"\x86\xdd"
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
sock.bind((ifname, 0))
sock.send(eth + ip + body)
"#;

#[test]
fn router_advertisement_configures_a_slaac_address() {
    let Some(ns) = Netns::create_ipv6_or_skip(&["ping", "python3", "dig", "tshark"]) else {
        return;
    };
    let started = Instant::now();
    let dir = TempDir::new();
    let path = dir.join("slaac.pcapng");
    let mut args = QUICK.to_vec();
    args.extend(["--pcap", path_arg(&path)]);
    let mut stack = ns.start_ready(&args);
    wait_ipv6(&mut stack, ADDR6);

    let sent = ns.run(
        &["python3", "-c", SEND_RA, "tap0", SLAAC_PREFIX],
        b"",
        CLIENT_WITHIN,
    );
    assert!(sent.status.success(), "sending the RA: {sent:#?}");
    wait_ipv6(&mut stack, SLAAC_ADDR);
    // The kernel reaches the new prefix over the TAP link.
    ns.run_ok(&["ip", "-6", "route", "add", "fd78::/64", "dev", "tap0"]);
    let (s, out) = ping6(&ns, &["-c", "3", "-i", "0.2", "-W", "2", SLAAC_ADDR]);
    assert_eq!(s.received, 3, "ping -6 {SLAAC_ADDR}: {out:#?}");
    // The DNS server publishes the new address too, and answers on it from it (dig takes no
    // answer from another address than the one it asked).
    let at = format!("@{SLAAC_ADDR}");
    let aaaa = ns.run(
        &[
            "dig",
            "-6",
            "+short",
            "+time=2",
            &at,
            "AAAA",
            "tapstack.test",
        ],
        b"",
        CLIENT_WITHIN,
    );
    let mut got: Vec<String> = aaaa.stdout_text().lines().map(str::to_owned).collect();
    got.sort();
    assert_eq!(got, [ADDR6, SLAAC_ADDR], "{aaaa:#?}");

    let (exit, c) = stop(&mut stack);
    assert_eq!(c.get("ndp_router_adverts_rx"), 1, "{}", exit.stdout);
    assert!(c.get("ndp_router_solicits_sent") >= 1, "{}", exit.stdout);
    assert_eq!(c.get("icmpv6_echo_replied"), 3, "{}", exit.stdout);
    assert_capture_clean(&path);
    let dad = "icmpv6.type==135 && ipv6.src==:: && icmpv6.nd.ns.target_address==fd78::aff:fe4d:2";
    assert!(count(&path, dad) >= 1, "no DAD probe for the SLAAC address");
    took("router_advertisement_configures_a_slaac_address", started);
}
