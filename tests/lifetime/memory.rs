//! The TCP memory budget against clients that send and never read: 1,000 kernel connections
//! to the echo service fill what the stack will hold for them, and the stack keeps to
//! `--tcp-memory`: the memory in use that `/stats` reports stays within the budget, the
//! process grows by no more than the budget and 32 MiB, and the memory is given back once
//! the clients leave.

use std::time::{Duration, Instant};

use crate::netns::{took, Netns, Tapstack};

/// The budget the stack runs with.
const BUDGET: usize = 64 * 1024 * 1024;
/// What the process may grow by beyond the budget (connection state, frames, allocator slack).
const RSS_SLACK: usize = 32 * 1024 * 1024;
/// Clients.
const CLIENTS: usize = 1000;
/// How long each client sends.
const SEND_FOR: Duration = Duration::from_secs(12);
/// How long the clients stay connected after sending, still not reading.
const HOLD: Duration = Duration::from_secs(4);
/// Most the client script may take in all.
const CLIENT_LIMIT: Duration = Duration::from_secs(90);
/// How long the memory may take to come back after the clients leave.
const GIVE_BACK_WITHIN: Duration = Duration::from_secs(20);
/// What may still be in use once they left (the `/stats` request's own connection).
const LEFT_IN_USE: usize = 256 * 1024;

/// Opens N connections to echo with small kernel buffers, sends on all of them for a while
/// without ever reading, holds them, then closes them (with unread data: the kernel resets).
/// Prints "connected N", "sent BYTES" and "closed".
const CLIENT: &str = r#"
import resource, socket, sys, time
n, send_for, hold, limit = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = n + 64
if soft < want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (want if hard == resource.RLIM_INFINITY else min(hard, want), hard))
deadline = time.monotonic() + limit
socks = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Small kernel buffers: the kernel side stays small, the stack holds the rest.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    s.settimeout(10)
    s.connect(("10.77.0.2", 7))
    s.setblocking(False)
    socks.append(s)
    if time.monotonic() > deadline:
        sys.exit("out of time after %d connections" % len(socks))
print("connected %d" % len(socks), flush=True)
chunk = b"m" * 65536
sent = 0
end = time.monotonic() + send_for
while time.monotonic() < end:
    moved = 0
    for s in socks:
        try:
            moved += s.send(chunk)
        except BlockingIOError:
            pass
    sent += moved
    if moved == 0:
        time.sleep(0.05)
print("sent %d" % sent, flush=True)
time.sleep(hold)
for s in socks:
    s.close()
print("closed", flush=True)
"#;

/// The number after `"key":` in `json`, searched from `after` (a marker that comes first).
fn number(json: &str, after: &str, key: &str) -> Option<usize> {
    let from = json.find(after)?;
    let rest = &json[from..];
    let at = rest.find(&format!("\"{key}\":"))? + key.len() + 3;
    let digits: String = rest[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// What `/stats` says about TCP memory and connections.
#[derive(Clone, Copy, Debug, Default)]
struct Memory {
    budget: usize,
    in_use: usize,
    peak: usize,
    pressure_events: usize,
    out_of_order_dropped: usize,
    memory_drops: usize,
    connections: usize,
}

fn stats(ns: &Netns) -> Option<Memory> {
    let out = ns.run(
        &["curl", "-sS", "-m", "5", "http://10.77.0.2/stats"],
        b"",
        Duration::from_secs(10),
    );
    if !out.status.success() {
        return None;
    }
    let json = out.stdout_text();
    let m = "\"memory\":{";
    Some(Memory {
        budget: number(&json, m, "budget")?,
        in_use: number(&json, m, "in_use")?,
        peak: number(&json, m, "peak")?,
        pressure_events: number(&json, m, "pressure_events")?,
        out_of_order_dropped: number(&json, m, "out_of_order_dropped")?,
        memory_drops: number(&json, m, "memory_drops")?,
        connections: number(&json, "\"listed\":", "total")?,
    })
}

/// Resident set size of a process, in bytes.
fn rss(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

const MIB: f64 = 1024.0 * 1024.0;

#[test]
fn echo_clients_that_never_read_stay_within_the_memory_budget() {
    let Some(ns) = Netns::create_or_skip(&["python3", "curl"]) else {
        return;
    };
    let started = Instant::now();
    let budget = format!("{}M", BUDGET >> 20);
    let mut stack = ns.start_ready(&["--arp-probes", "0", "--no-ip6", "--tcp-memory", &budget]);
    let pid = stack.pid();
    let first = stats(&ns).expect("/stats answers");
    assert_eq!(first.budget, BUDGET, "{first:?}");
    let rss_before = rss(pid);

    // The clients run while this thread watches /stats and the process's RSS.
    let mut samples = Vec::new();
    let mut rss_max = rss_before;
    let out = std::thread::scope(|s| {
        let clients = s.spawn(|| {
            ns.run(
                &[
                    "python3",
                    "-c",
                    CLIENT,
                    &CLIENTS.to_string(),
                    &SEND_FOR.as_secs().to_string(),
                    &HOLD.as_secs().to_string(),
                    &CLIENT_LIMIT.as_secs().to_string(),
                ],
                b"",
                CLIENT_LIMIT + Duration::from_secs(10),
            )
        });
        let watch_until = Instant::now() + CLIENT_LIMIT + Duration::from_secs(15);
        while !clients.is_finished() && Instant::now() < watch_until {
            if let Some(m) = stats(&ns) {
                samples.push(m);
            }
            rss_max = rss_max.max(rss(pid));
            std::thread::sleep(Duration::from_millis(500));
        }
        clients.join().expect("the client thread")
    });
    let text = out.stdout_text();
    assert!(
        out.status.success(),
        "clients: {} {}",
        text.trim(),
        out.stderr.trim()
    );
    assert!(text.contains(&format!("connected {CLIENTS}")), "{text}");
    let sent: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("sent "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);

    // Gone: the memory comes back.
    let leave_started = Instant::now();
    let mut after = stats(&ns).unwrap_or_default();
    while (after.in_use > LEFT_IN_USE || after.connections > 8)
        && leave_started.elapsed() < GIVE_BACK_WITHIN
    {
        std::thread::sleep(Duration::from_millis(500));
        after = stats(&ns).unwrap_or(after);
    }
    let gave_back_in = leave_started.elapsed();
    let rss_after = rss(pid);
    let exit = stack.stop(libc::SIGINT);
    assert!(
        exit.status.success() && !exit.stderr.contains("panicked"),
        "tapstack failed: {exit:#?}"
    );

    let most = samples.iter().map(|m| m.in_use).max().unwrap_or(0);
    let peak = after.peak;
    println!(
        "memory budget {:.0} MiB, {CLIENTS} clients sent {:.1} MiB; in use at most {:.1} MiB \
         (sampled {} times), peak {:.1} MiB; pressure events {}, out-of-order dropped {} B, \
         segments cut for memory {}",
        BUDGET as f64 / MIB,
        sent as f64 / MIB,
        most as f64 / MIB,
        samples.len(),
        peak as f64 / MIB,
        after.pressure_events,
        after.out_of_order_dropped,
        after.memory_drops,
    );
    println!(
        "RSS {:.1} MiB before, {:.1} MiB at most (+{:.1} MiB), {:.1} MiB after; in use {} B \
         and {} connections {:.1} s after the clients left",
        rss_before as f64 / MIB,
        rss_max as f64 / MIB,
        rss_max.saturating_sub(rss_before) as f64 / MIB,
        rss_after as f64 / MIB,
        after.in_use,
        after.connections,
        gave_back_in.as_secs_f64(),
    );
    assert!(
        samples.len() >= 10,
        "/stats answered only {} times",
        samples.len()
    );
    assert!(
        sent > BUDGET,
        "the clients sent more than the budget holds: {sent}"
    );
    assert!(peak <= BUDGET, "peak {peak} over the budget {BUDGET}");
    assert!(most <= BUDGET, "in use {most} over the budget");
    assert!(
        most > BUDGET / 2,
        "the clients filled the budget (in use at most {most})"
    );
    assert!(after.pressure_events >= 1, "{after:?}");
    assert!(
        rss_max.saturating_sub(rss_before) <= BUDGET + RSS_SLACK,
        "RSS grew from {rss_before} to {rss_max}"
    );
    assert!(
        after.in_use <= LEFT_IN_USE && after.connections <= 8,
        "not given back within {GIVE_BACK_WITHIN:?}: {after:?}"
    );
    took(
        "echo_clients_that_never_read_stay_within_the_memory_budget",
        started,
    );
}
