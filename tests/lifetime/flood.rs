//! (c) A SYN flood from random spoofed sources cannot keep a legitimate client out: 20,000
//! SYNs to the echo port (7) from random addresses and ports, paced over a few seconds, while a
//! kernel client connects and moves 1 MiB through echo, checked by SHA-256. The flood fills the
//! listener's backlog, so the client is let in by a SYN cookie, which carries its window scale,
//! SACK-permitted and timestamps.

use std::time::{Duration, Instant};

use super::capture::assert_capture_clean;
use tapstack_testkit::OnDrop;

use super::netns::{path_arg, took, Netns, Tapstack, TempDir};
use super::stream::{digest, stream, Pattern, MIB};
use super::{stop, ADDR, PY_PRELUDE, QUICK, STACK_MAC, TAP};

/// SYNs in the flood.
const SYNS: usize = 20_000;
/// The legitimate transfer.
const LEN: u64 = MIB;
/// How long the transfer may take (well under a second on a quiet machine).
const TRANSFER_WITHIN: Duration = Duration::from_secs(60);
/// How long the flood may take (it is paced to about 4 s).
const FLOOD_WITHIN: Duration = Duration::from_secs(60);

/// SYNs from random sources in 198.18.0.0/15 (RFC 2544 benchmarking addresses: off the link,
/// so the stack's answers have no route and go nowhere), random ports and sequence numbers,
/// with an MSS option; sent in bursts of 500 every 0.1 s.
const FLOOD: &str = r#"
iface, dst_mac, dst, port, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
s, eth = link(iface, dst_mac, 0x0800)
dst = socket.inet_aton(dst)
rng = random.Random(20000)
start = time.monotonic()
for i in range(count):
    src = struct.pack("!I", (198 << 24) | (18 << 16) | rng.randrange(1 << 17))
    tcp = struct.pack("!HHIIBBHHH", rng.randrange(1024, 65536), port, rng.randrange(1 << 32), 0,
                      6 << 4, 0x02, 64240, 0, 0) + struct.pack("!BBH", 2, 4, 1460)
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i & 0xffff, 0, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    send(s, eth + ip + tcp)
    if i % 500 == 499:
        time.sleep(0.1)
print("sent %d SYNs in %.2f s" % (count, time.monotonic() - start))
"#;

/// The number after `"name":` in a JSON text (0 when absent).
fn json_number(json: &str, name: &str) -> u64 {
    let key = format!("\"{name}\":");
    json.find(&key)
        .map(|at| &json[at + key.len()..])
        .and_then(|rest| {
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            rest[..end].parse().ok()
        })
        .unwrap_or(0)
}

#[test]
fn syn_flood_from_random_sources_does_not_keep_a_client_out() {
    let Some(ns) = Netns::create_or_skip(&["socat", "python3", "curl", "tshark"]) else {
        return;
    };
    let started = Instant::now();
    let dir = TempDir::new();
    let path = dir.join("flood.pcapng");
    let mut args = QUICK.to_vec();
    args.extend(["--no-ip6", "--pcap", path_arg(&path)]);
    let mut stack = ns.start_ready(&args);

    let program = format!("{PY_PRELUDE}{FLOOD}");
    let count = SYNS.to_string();
    let flood_limit = FLOOD_WITHIN.as_secs().to_string();
    let mut flood = ns
        .start(
            &[
                "timeout",
                &flood_limit,
                "python3",
                "-c",
                &program,
                TAP,
                STACK_MAC,
                ADDR,
                "7",
                &count,
            ],
            OnDrop::Kill,
        )
        .expect("start the flood");
    // The client comes once the flood has filled the backlog (128 half-open connections).
    std::thread::sleep(Duration::from_millis(500));
    let expected = digest(Pattern::new(7, LEN), None).expect("generated data");
    let limit = TRANSFER_WITHIN.as_secs().to_string();
    let peer = format!("TCP:{ADDR}:7");
    let t = stream(
        &ns,
        &["socat", "-t", &limit, &peer, "-"],
        Some(Box::new(Pattern::new(7, LEN))),
        None,
        TRANSFER_WITHIN,
    );
    let flood_exit = flood
        .wait_exit(FLOOD_WITHIN + Duration::from_secs(5))
        .expect("the flood ends");
    // The TCP table's counters are on the stack's /stats page.
    let stats = ns
        .run(
            &["curl", "-sS", "-m", "10", &format!("http://{ADDR}/stats")],
            b"",
            Duration::from_secs(15),
        )
        .stdout_text();
    let tcp = |name: &str| json_number(&stats, name);
    let (_, c) = stop(&mut stack);
    println!(
        "figures: {}; 1 MiB through echo in {:.2} s during the flood; rx_frames={} \
         syn_cookies_sent={} syn_cookies_accepted={} syn_cookies_rejected={} \
         backlog_drops={} passive_opens={} ipv4_tx_dropped={}",
        flood_exit.stdout.trim(),
        t.elapsed.as_secs_f64(),
        c.get("rx_frames"),
        tcp("syn_cookies_sent"),
        tcp("syn_cookies_accepted"),
        tcp("syn_cookies_rejected"),
        tcp("backlog_drops"),
        tcp("passive_opens"),
        c.get("ipv4_tx_dropped"),
    );
    assert!(flood_exit.status.success(), "flood: {flood_exit:#?}");
    assert!(
        t.succeeded() && t.sent == LEN && t.received == expected,
        "echo of 1 MiB during the flood: socat {:?}, sent {}, received {:?}, expected {:?}; {}",
        t.status,
        t.sent,
        t.received,
        expected,
        t.stderr.trim()
    );
    assert!(c.get("rx_frames") >= SYNS as u64, "{c:?}");
    // The flood filled the backlog, and the client came in by a cookie.
    assert!(tcp("syn_cookies_sent") > 10_000, "{stats}");
    assert!(tcp("syn_cookies_accepted") >= 1, "{stats}");
    assert_capture_clean(&path);
    took(
        "syn_flood_from_random_sources_does_not_keep_a_client_out",
        started,
    );
}
