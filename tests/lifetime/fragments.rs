//! (d) A flood of incomplete fragment trains cannot keep a legitimate fragmented datagram from
//! being reassembled: 10,000 first fragments that never get their rest, then `ping -s 3000`
//! (three fragments) must be answered within a second, over IPv4 and over IPv6. Without
//! eviction the table stays full of the flood until its entries time out (30 s for IPv4, 60 s
//! for IPv6) and the ping is lost.

use std::time::{Duration, Instant};

use super::capture::assert_capture_clean;
use super::netns::{path_arg, took, Netns, Stack, Tapstack, TempDir};
use super::report::ping_summary;
use super::{python, stop, ADDR, ADDR6, PY_PRELUDE, QUICK, STACK_MAC, TAP};

/// Incomplete trains in the flood.
const TRAINS: usize = 10_000;
/// How long sending the flood may take (it takes well under a second).
const FLOOD_WITHIN: Duration = Duration::from_secs(60);

/// Where the flood comes from: not the pinging host, so that no train shares its reassembly key
/// with the ping's datagram. The stack keys on the protocol too, but tshark folds the protocol
/// into the identification (`proto ^ id`), so a UDP train from the same source whose ID is the
/// ping's XOR 16 would be joined to the ping in its view and reported as a bad checksum.
const FLOOD_SRC: &str = "10.77.0.9";
const FLOOD_SRC6: &str = "fd77::9";

/// First fragments of UDP datagrams whose other fragments never come: IPv4, offset 0, more
/// fragments.
const FLOOD_V4: &str = r#"
iface, dst_mac, src, dst, count = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
s, eth = link(iface, dst_mac, 0x0800)
src, dst = socket.inet_aton(src), socket.inet_aton(dst)
body = struct.pack("!HHHH", 40000, 9, 1000, 0) + bytes(range(16))
start = time.monotonic()
for i in range(count):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), i, 0x2000, 64, 17, 0, src, dst)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    send(s, eth + h + body)
    if i % 100 == 99:
        time.sleep(0.002)  # paced, so that the TAP queue does not drop frames
print("sent %d trains in %.3f s" % (count, time.monotonic() - start))
"#;

/// The same over IPv6: a Fragment header (offset 0, M set) and the UDP header, so that the
/// first fragment holds the whole header chain (RFC 7112).
const FLOOD_V6: &str = r#"
iface, dst_mac, src, dst, count = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
s, eth = link(iface, dst_mac, 0x86dd)
src, dst = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
body = struct.pack("!HHHH", 40000, 9, 1000, 0) + bytes(range(16))
start = time.monotonic()
for i in range(count):
    frag = struct.pack("!BBHI", 17, 0, 0x0001, 0x5a000000 + i)
    h = struct.pack("!IHBB16s16s", 0x60000000, len(frag) + len(body), 44, 64, src, dst)
    send(s, eth + h + frag + body)
    if i % 100 == 99:
        time.sleep(0.002)
print("sent %d trains in %.3f s" % (count, time.monotonic() - start))
"#;

/// One fragmented ping (3000 bytes of data) with a one-second deadline; returns whether it was
/// answered and the round trip `ping` printed.
fn big_ping(ns: &Netns, family: &str, to: &str) -> (bool, String) {
    let out = ns.run(
        &["ping", family, "-n", "-c", "1", "-s", "3000", "-W", "1", to],
        b"",
        Duration::from_secs(10),
    );
    let text = out.stdout_text();
    let rtt = text
        .lines()
        .find_map(|l| l.split("time=").nth(1))
        .unwrap_or("-")
        .to_owned();
    (ping_summary(&text).received == 1, rtt)
}

fn flood_then_ping(
    ns: &Netns,
    stack: &mut Stack,
    family: &str,
    script: &str,
    src: &str,
    dst: &str,
) {
    // Both sides know each other first, and a big ping goes through on a quiet table.
    let (quiet, _) = big_ping(ns, family, dst);
    assert!(quiet, "ping {family} -s 3000 {dst} before the flood");
    let program = format!("{PY_PRELUDE}{script}");
    let started = Instant::now();
    let out = python(
        ns,
        &program,
        &[TAP, STACK_MAC, src, dst, &TRAINS.to_string()],
        FLOOD_WITHIN,
    );
    let flood_took = started.elapsed();
    let (answered, rtt) = big_ping(ns, family, dst);
    println!(
        "figures: ping {family}: {} ({:.2} s), then ping -s 3000 answered: {answered} (time={rtt})",
        out.stdout_text().trim(),
        flood_took.as_secs_f64()
    );
    assert!(
        answered,
        "ping {family} -s 3000 {dst} unanswered within 1 s after {TRAINS} incomplete trains"
    );
    let _ = stack;
}

#[test]
fn incomplete_fragment_trains_do_not_lock_out_a_fragmented_ping() {
    let Some(ns) = Netns::create_ipv6_or_skip(&["ping", "python3", "tshark"]) else {
        return;
    };
    let started = Instant::now();
    let dir = TempDir::new();
    let path = dir.join("fragments.pcapng");
    let mut args = QUICK.to_vec();
    args.extend(["--pcap", path_arg(&path)]);
    let mut stack = ns.start_ready(&args);
    let line = format!("tapstack: IPv6 address {ADDR6} is ready");
    stack.wait_line(&line, |l| l == line);

    flood_then_ping(&ns, &mut stack, "-4", FLOOD_V4, FLOOD_SRC, ADDR);
    flood_then_ping(&ns, &mut stack, "-6", FLOOD_V6, FLOOD_SRC6, ADDR6);

    let (_, c) = stop(&mut stack);
    let evicted4 = c.get("ipv4_reassembly_evictions");
    let evicted6 = c.get("ipv6_reassembly_evictions");
    println!(
        "figures: evictions ipv4={evicted4} ipv6={evicted6}, reassembled ipv4={} ipv6={}, \
         reassembly_full drops ipv4={} ipv6={}",
        c.get("ipv4_reassembled"),
        c.get("ipv6_reassembled"),
        c.drop_count("reassembly_full"),
        c.drop_count("ipv6_reassembly_full"),
    );
    // Every train beyond the table's room evicted an older one; the pings were reassembled
    // (the first one on each family before the flood, the second after it).
    let trains = TRAINS as u64;
    assert!(c.get("ipv4_fragments_rx") >= trains, "{c:?}");
    assert!(c.get("ipv6_fragments_rx") >= trains, "{c:?}");
    assert!(evicted4 >= trains - 64, "{c:?}");
    assert!(evicted6 >= trains - 64, "{c:?}");
    assert!(c.get("ipv4_reassembled") >= 2, "{c:?}");
    assert!(c.get("ipv6_reassembled") >= 2, "{c:?}");
    assert_capture_clean(&path);
    took(
        "incomplete_fragment_trains_do_not_lock_out_a_fragmented_ping",
        started,
    );
}
