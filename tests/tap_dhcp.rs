//! `tapstack up --dhcp` against dnsmasq on the kernel side of the TAP device.
//!
//! dnsmasq (`--no-daemon`, DHCP only, a pool of one address so that the lease is known in
//! advance) serves the namespace's TAP link. The stack gets its lease, probes the address
//! (RFC 5227), answers ping, DNS and HTTP on it, renews a short lease at T1 and gives the lease
//! back on Ctrl-C; dnsmasq's log and lease file, the stack's counters and a capture checked by
//! tshark show each step. One test uses a TAP device that exists before the stack starts, with
//! its kernel side configured by hand, as `tapstack up --tap tap0 --dhcp --no-host-config`
//! promises.
//!
//! Every frame stays inside namespaces the tests create and delete (also when a test panics);
//! every process and wait is bounded in time. Tests that cannot run here (not root, no
//! /dev/net/tun, a tool missing) print "skipping: <reason>" and pass.

#[path = "tap/capture.rs"]
#[allow(dead_code)]
mod capture;
#[path = "tap/netns.rs"]
#[allow(dead_code)]
mod netns;
#[path = "tap/report.rs"]
#[allow(dead_code)]
mod report;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use capture::{assert_capture_clean, fields};
use netns::{assert_clean_exit, path_arg, took, Netns, Stack, Tapstack, TempDir, BIN};
use report::{ping_summary, PingSummary};

/// The one address dnsmasq hands out.
const LEASED: &str = "10.77.0.50";
/// dnsmasq's address on the kernel side of the TAP device.
const SERVER: &str = "10.77.0.1";
/// The stack's MAC address (the default: 02:00 and the default IPv4 address 10.77.0.2).
const MAC: &str = "02:00:0a:4d:00:02";
/// How long the stack may take to get and check its lease (DHCPDISCOVER is retransmitted after
/// about 4 s if dnsmasq missed the first one).
const LEASE_WITHIN: Duration = Duration::from_secs(30);
/// dnsmasq's shortest lease: two minutes, so T1 comes after one.
const SHORT_LEASE: &str = "2m";
/// T1 of a two-minute lease is at 60 s; the renewal must be seen well before T2 (105 s).
const RENEWED_WITHIN: Duration = Duration::from_secs(90);
/// How long dnsmasq may take to log what it received.
const LOGGED_WITHIN: Duration = Duration::from_secs(10);

/// dnsmasq serving DHCP (and nothing else) on `dev` in the namespace; killed on drop.
struct Dnsmasq {
    child: Child,
    log: PathBuf,
    leases: PathBuf,
}

impl Dnsmasq {
    fn start(ns: &Netns, dir: &TempDir, dev: &str, lease: &str) -> Dnsmasq {
        Dnsmasq::start_with(ns, dir, dev, lease, &[])
    }

    fn start_with(ns: &Netns, dir: &TempDir, dev: &str, lease: &str, more: &[&str]) -> Dnsmasq {
        let log = dir.join("dnsmasq.log");
        let leases = dir.join("dnsmasq.leases");
        let pid = dir.join("dnsmasq.pid");
        let range = format!("--dhcp-range={LEASED},{LEASED},255.255.255.0,{lease}");
        let args = [
            "dnsmasq".to_owned(),
            "--no-daemon".to_owned(),
            "--conf-file=/dev/null".to_owned(),
            "--port=0".to_owned(),
            "--user=root".to_owned(),
            format!("--interface={dev}"),
            "--bind-interfaces".to_owned(),
            // No ICMP check of the address before offering it (it would add 3 s).
            "--no-ping".to_owned(),
            range,
            format!("--dhcp-option=option:dns-server,{SERVER}"),
            format!("--dhcp-leasefile={}", leases.display()),
            format!("--pid-file={}", pid.display()),
            format!("--log-facility={}", log.display()),
        ];
        let mut argv: Vec<&str> = args.iter().map(String::as_str).collect();
        argv.extend_from_slice(more);
        let mut cmd = ns.command(&argv);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        Dnsmasq { child, log, leases }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Lines of the log naming a DHCP message, e.g. "DHCPACK(tap0) 10.77.0.50 ...".
    fn messages(&self, kind: &str) -> Vec<String> {
        let needle = format!("{kind}(");
        self.log()
            .lines()
            .filter(|l| l.contains(&needle))
            .map(str::to_owned)
            .collect()
    }

    /// Waits (bounded) until the log holds `n` messages of `kind`.
    fn wait_for(&self, kind: &str, n: usize, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        loop {
            let seen = self.messages(kind);
            if seen.len() >= n || Instant::now() >= deadline {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (bounded) until `dev` exists in the namespace.
fn wait_for_device(ns: &Netns, dev: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let out = ns.run(&["ip", "link", "show", dev], b"", Duration::from_secs(5));
        if out.status.success() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{dev} did not appear in {}", ns.name());
}

/// Starts `tapstack up --dhcp ARGS` (which creates tap0), then dnsmasq on tap0, and waits until
/// the stack has its lease and answers.
fn start_with_lease(ns: &Netns, dir: &TempDir, lease: &str, args: &[&str]) -> (Stack, Dnsmasq) {
    let mut argv = vec!["--dhcp", "--arp-probes", "1", "--seed", "7"];
    argv.extend_from_slice(args);
    let mut stack = ns.start_stack(&argv);
    wait_for_device(ns, "tap0");
    let dnsmasq = Dnsmasq::start(ns, dir, "tap0", lease);
    wait_for_lease(&mut stack, &dnsmasq);
    (stack, dnsmasq)
}

/// Waits until the stack says it leased the pool's address from dnsmasq.
fn wait_for_lease(stack: &mut Stack, dnsmasq: &Dnsmasq) {
    let leased = stack.wait_for_line(|l| l.starts_with("tapstack: leased "), LEASE_WITHIN);
    assert_eq!(
        leased.as_deref(),
        Some(format!("tapstack: leased {LEASED}/24 from DHCP server {SERVER}").as_str()),
        "no lease within {LEASE_WITHIN:?}; dnsmasq log:\n{}",
        dnsmasq.log()
    );
}

fn ping(ns: &Netns, count: &str) -> PingSummary {
    let out = ns.run(
        &["ping", "-n", "-c", count, "-i", "0.2", "-W", "2", LEASED],
        b"",
        Duration::from_secs(30),
    );
    ping_summary(&out.stdout_text())
}

/// The value of `name=N` on the stack's final "dhcp: ..." line.
fn dhcp_counter(stdout: &str, name: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("dhcp: "))
        .unwrap_or_else(|| panic!("no dhcp counters in:\n{stdout}"));
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in '{line}'"))
}

#[test]
fn lease_from_dnsmasq_is_used_then_released() {
    let Some(ns) = Netns::create_or_skip(&["dnsmasq", "ping", "curl", "dig", "tshark"]) else {
        return;
    };
    let started = Instant::now();
    let dir = TempDir::new();
    let pcap = dir.join("dhcp.pcapng");
    let (mut stack, dnsmasq) = start_with_lease(&ns, &dir, "10m", &["--pcap", path_arg(&pcap)]);

    // The lease is in dnsmasq's file with our MAC and host name (option 12).
    let leases = std::fs::read_to_string(&dnsmasq.leases).unwrap_or_default();
    assert!(
        leases
            .lines()
            .any(|l| l.contains(MAC) && l.contains(LEASED) && l.contains(" tapstack ")),
        "lease file:\n{leases}"
    );

    // The leased address answers ping, DNS (the host's own A record follows the lease) and
    // HTTP; /stats shows the lease.
    let p = ping(&ns, "5");
    assert_eq!((p.transmitted, p.received), (5, 5), "ping {LEASED}: {p:?}");
    let a = ns.run_ok(&[
        "dig",
        "+short",
        "+time=2",
        "+tries=2",
        &format!("@{LEASED}"),
        "tapstack.test",
        "A",
    ]);
    assert_eq!(a.trim(), LEASED, "dig A tapstack.test");
    let stats = ns.run_ok(&[
        "curl",
        "-sS",
        "--max-time",
        "10",
        &format!("http://{LEASED}/stats"),
    ]);
    for needle in [
        "\"dhcp\":{\"state\":\"bound\"",
        &format!("\"address\":\"{LEASED}/24\""),
        &format!("\"router\":\"{SERVER}\""),
        &format!("\"dns\":[\"{SERVER}\"]"),
        &format!("\"server\":\"{SERVER}\""),
        "\"lease_time_s\":600",
        &format!("\"gateway\":\"{SERVER}\""),
    ] {
        assert!(stats.contains(needle), "/stats lacks {needle}: {stats}");
    }

    // Ctrl-C: the lease goes back to dnsmasq.
    let exit = stack.stop(libc::SIGINT);
    assert_clean_exit(&exit);
    assert_eq!(dhcp_counter(&exit.stdout, "releases"), 1, "{}", exit.stdout);
    let released = dnsmasq.wait_for("DHCPRELEASE", 1, LOGGED_WITHIN);
    assert!(
        released
            .iter()
            .any(|l| l.contains(LEASED) && l.contains(MAC)),
        "dnsmasq logged no DHCPRELEASE for {LEASED}:\n{}",
        dnsmasq.log()
    );

    // The capture is clean and tells the story: DISCOVER, OFFER, REQUEST, ACK, an ARP probe
    // for the address before its use, and the RELEASE last, unicast to the server.
    assert_capture_clean(&pcap);
    let rows = fields(
        &pcap,
        "dhcp || (arp && arp.src.proto_ipv4 == 0.0.0.0)",
        &["dhcp.option.dhcp", "ip.src", "ip.dst", "arp.dst.proto_ipv4"],
    );
    let story: Vec<String> = rows
        .iter()
        .map(|r| match r.first().map(String::as_str) {
            Some("") | None => format!("probe {}", r.get(3).map_or("", |s| s.as_str())),
            Some(t) => format!("{t} {}>{}", r[1], r[2]),
        })
        .collect();
    let pos = |what: &str| {
        story
            .iter()
            .position(|s| s.starts_with(what))
            .unwrap_or_else(|| panic!("no '{what}' in {story:?}"))
    };
    let discover = pos("1 0.0.0.0>255.255.255.255");
    let offer = pos("2 ");
    let request = pos("3 0.0.0.0>255.255.255.255");
    let ack = pos("5 ");
    let probe = pos(&format!("probe {LEASED}"));
    let release = pos(&format!("7 {LEASED}>{SERVER}"));
    assert!(
        discover < offer && offer < request && request < ack && ack < probe && probe < release,
        "DHCP exchange out of order: {story:?}"
    );
    took("lease_from_dnsmasq_is_used_then_released", started);
}

#[test]
fn short_lease_is_renewed_at_t1() {
    let Some(ns) = Netns::create_or_skip(&["dnsmasq", "ping"]) else {
        return;
    };
    let started = Instant::now();
    let dir = TempDir::new();
    let (mut stack, dnsmasq) = start_with_lease(&ns, &dir, SHORT_LEASE, &[]);
    let leased_at = Instant::now();
    let renewed = stack.wait_for_line(|l| l.starts_with("tapstack: lease on "), RENEWED_WITHIN);
    let after = leased_at.elapsed();
    assert_eq!(
        renewed.as_deref(),
        Some(format!("tapstack: lease on {LEASED}/24 renewed by {SERVER}").as_str()),
        "no renewal within {RENEWED_WITHIN:?}; dnsmasq log:\n{}",
        dnsmasq.log()
    );
    // T1 is half the lease (RFC 2131 4.4.5): 60 s, counted from the first DHCPREQUEST.
    assert!(
        after >= Duration::from_secs(50) && after <= Duration::from_secs(75),
        "renewed {after:?} after the lease, not at T1"
    );
    // dnsmasq saw a second REQUEST (the renewal, unicast from the leased address) and acked it.
    let acks = dnsmasq.wait_for("DHCPACK", 2, LOGGED_WITHIN);
    assert_eq!(acks.len(), 2, "dnsmasq log:\n{}", dnsmasq.log());
    let requests = dnsmasq.messages("DHCPREQUEST");
    assert_eq!(requests.len(), 2, "dnsmasq log:\n{}", dnsmasq.log());
    // Still answering on the renewed lease.
    let p = ping(&ns, "3");
    assert_eq!(
        (p.transmitted, p.received),
        (3, 3),
        "ping after renewal: {p:?}"
    );
    let exit = stack.stop(libc::SIGINT);
    assert_clean_exit(&exit);
    assert_eq!(dhcp_counter(&exit.stdout, "renewals"), 1, "{}", exit.stdout);
    assert_eq!(dhcp_counter(&exit.stdout, "acks"), 2, "{}", exit.stdout);
    assert_eq!(dhcp_counter(&exit.stdout, "rebinds"), 0, "{}", exit.stdout);
    took("short_lease_is_renewed_at_t1", started);
}

#[test]
fn existing_tap_with_its_kernel_side_configured() {
    let Some(ns) = Netns::create_or_skip(&["dnsmasq", "ping"]) else {
        return;
    };
    let started = Instant::now();
    let dir = TempDir::new();
    let dev = "tapdhcp0";
    ns.add_tap(dev, &format!("{SERVER}/24"));
    let dnsmasq = Dnsmasq::start(&ns, &dir, dev, "10m");
    let mut stack = ns.start_stack(&[
        "--tap",
        dev,
        "--no-host-config",
        "--dhcp",
        "--arp-probes",
        "1",
        "--seed",
        "9",
    ]);
    wait_for_lease(&mut stack, &dnsmasq);
    let p = ping(&ns, "3");
    assert_eq!((p.transmitted, p.received), (3, 3), "ping {LEASED}: {p:?}");
    let exit = stack.stop(libc::SIGINT);
    assert_clean_exit(&exit);
    let released = dnsmasq.wait_for("DHCPRELEASE", 1, LOGGED_WITHIN);
    assert_eq!(released.len(), 1, "dnsmasq log:\n{}", dnsmasq.log());
    // The device and its configuration are left as they were.
    let addr = ns.run_ok(&["ip", "-4", "-o", "addr", "show", "dev", dev]);
    assert!(addr.contains(&format!("{SERVER}/24")), "{dev}: {addr}");
    took("existing_tap_with_its_kernel_side_configured", started);
}

#[test]
fn reuse_asks_for_the_known_address_without_discovering() {
    let Some(ns) = Netns::create_or_skip(&["dnsmasq", "ping"]) else {
        return;
    };
    let started = Instant::now();
    let dir = TempDir::new();
    let mut stack = ns.start_stack(&[
        "--dhcp",
        "--dhcp-reuse",
        LEASED,
        "--arp-probes",
        "1",
        "--seed",
        "11",
    ]);
    wait_for_device(&ns, "tap0");
    // An authoritative server answers an INIT-REBOOT request for an address it has no lease
    // for (RFC 2131 4.3.2).
    let dnsmasq = Dnsmasq::start_with(&ns, &dir, "tap0", "10m", &["--dhcp-authoritative"]);
    wait_for_lease(&mut stack, &dnsmasq);
    let p = ping(&ns, "2");
    assert_eq!((p.transmitted, p.received), (2, 2), "ping {LEASED}: {p:?}");
    let exit = stack.stop(libc::SIGINT);
    assert_clean_exit(&exit);
    assert_eq!(
        dhcp_counter(&exit.stdout, "discovers"),
        0,
        "{}",
        exit.stdout
    );
    assert!(
        dnsmasq.messages("DHCPDISCOVER").is_empty(),
        "{}",
        dnsmasq.log()
    );
    assert!(
        dnsmasq
            .messages("DHCPREQUEST")
            .iter()
            .any(|l| l.contains(LEASED)),
        "{}",
        dnsmasq.log()
    );
    took(
        "reuse_asks_for_the_known_address_without_discovering",
        started,
    );
}

#[test]
fn dhcp_flag_misuse_is_one_line_errors() {
    for (args, expect) in [
        (vec!["up", "--dhcp", "--ip", "10.77.0.9/24"], "--ip"),
        (vec!["up", "--dhcp-reuse", "10.77.0.5"], "--dhcp"),
        (vec!["up", "--dhcp", "--gateway", "10.77.0.1"], "--gateway"),
    ] {
        let out = Command::new(BIN)
            .args(&args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()
            .expect("running tapstack");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        if stderr.starts_with("error: ") {
            // Found by clap: its message whole, with the usage line.
            assert!(
                lines.iter().take(2).any(|l| l.contains(expect))
                    && stderr.contains("Usage: tapstack up"),
                "{args:?}: expected clap's message naming {expect}, got:\n{stderr}"
            );
            continue;
        }
        assert!(
            lines.len() == 1 && lines[0].starts_with("tapstack: ") && lines[0].contains(expect),
            "{args:?}: expected one 'tapstack: ...{expect}...' line, got:\n{stderr}"
        );
    }
}
