//! End-to-end tests of `tapstack up` on a real TAP device.
//!
//! Each test creates its own network namespace, runs the stack and its peers (`ping`, `socat`)
//! inside it and deletes it afterwards, so no frame leaves the namespace. Tests that cannot run
//! here (not root, no /dev/net/tun, a tool missing) print "skipping: <reason>" and pass.

#[path = "tap/capture.rs"]
mod capture;
#[path = "tap/netns.rs"]
#[allow(dead_code)]
mod netns;
#[path = "tap/report.rs"]
mod report;

use std::process::Command;
use std::time::{Duration, Instant};

use capture::{assert_arp_exchange, assert_capture_clean, assert_echo_pairs, count, frame_count};
use netns::{
    assert_clean_exit, have, is_root, path_arg, run_bounded, Netns, Output, Tapstack, TempDir, BIN,
    EXIT_WITHIN,
};
use report::{captured_frames, counters, impairment, ping_summary, PingSummary};

/// The stack's address with the default options.
const ADDR: &str = "10.77.0.2";
/// A datagram for the echo service, with bytes that are not text.
const PAYLOAD: &[u8] = b"tapstack echo \x00\x01\x7f\x80\xfe\xff end\n";

/// Pings the stack from the kernel side with the extra `args`.
fn ping(ns: &Netns, args: &[&str]) -> PingSummary {
    let mut argv = vec!["ping", "-n"];
    argv.extend_from_slice(args);
    argv.push(ADDR);
    let out = ns.run(&argv, b"", Duration::from_secs(30));
    ping_summary(&out.stdout_text())
}

/// Sends `payload` as one datagram to the stack's UDP `port` and waits a second for an answer.
fn udp(ns: &Netns, port: u16, payload: &[u8]) -> Output {
    let peer = format!("UDP:{ADDR}:{port}");
    ns.run(
        &["socat", "-t1", "-", &peer],
        payload,
        Duration::from_secs(10),
    )
}

/// Stderr is exactly one line, "tapstack: ...", without panic or backtrace.
fn assert_one_error_line(what: &str, status_ok: bool, stderr: &str) -> String {
    assert!(!status_ok, "{what}: exit status 0, stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines.len() == 1 && lines[0].starts_with("tapstack: "),
        "{what}: expected one 'tapstack: ...' line on stderr, got:\n{stderr}"
    );
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE"] {
        assert!(
            !stderr.contains(bad),
            "{what}: stderr mentions {bad}:\n{stderr}"
        );
    }
    lines[0].to_owned()
}

/// The namespace has no network device but the loopback: nothing was created.
fn assert_no_devices(ns: &Netns) {
    let links = ns.run_ok(&["ip", "-o", "link", "show"]);
    let names: Vec<&str> = links
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(str::trim)
        .collect();
    assert_eq!(names, ["lo"], "devices in {}: {links}", ns.name());
}

#[test]
fn ping_is_answered_every_time() {
    let Some(ns) = Netns::create_or_skip(&["ping"]) else {
        return;
    };
    let mut stack = ns.start_ready(&[]);
    let summary = ping(&ns, &["-c", "20", "-i", "0.05", "-W", "1"]);
    assert_eq!(
        summary,
        PingSummary {
            transmitted: 20,
            received: 20
        }
    );
    let exit = stack.stop(libc::SIGINT);
    assert_clean_exit(&exit);
    assert_eq!(counters(&exit.stdout).get("icmp_echo_replied"), 20);
}

#[test]
fn impairment_each_way_delays_only_the_way_asked() {
    let Some(ns) = Netns::create_or_skip(&["ping"]) else {
        return;
    };
    // Received frames wait 40 ms +- 5 ms and go through a 10 Mbit/s link; sent frames go as
    // they are.
    let mut stack = ns.start_ready(&[
        "--impair-in",
        "delay=40ms,jitter=5ms,rate=10mbit",
        "--seed",
        "3",
    ]);
    let argv = ["ping", "-n", "-c", "4", "-i", "0.1", "-W", "2", ADDR];
    let out = ns.run(&argv, b"", Duration::from_secs(30)).stdout_text();
    assert_eq!(ping_summary(&out).received, 4, "{out}");
    // rtt min/avg/max/mdev = a/b/c/d ms
    let rtt: Vec<f64> = out
        .lines()
        .find_map(|l| l.split_once(" = "))
        .map(|(_, v)| v.split(['/', ' ']).filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_default();
    assert!(
        rtt.len() >= 3 && rtt[0] >= 35.0 && rtt[2] < 500.0,
        "round trips {rtt:?} with 35-45 ms added one way:\n{out}"
    );
    let exit = stack.stop(libc::SIGINT);
    assert_clean_exit(&exit);
    let (rx, tx) = (
        impairment(&exit.stdout, "in"),
        impairment(&exit.stdout, "out"),
    );
    assert!(rx.offered >= 4 && tx.offered >= 4, "in {rx:?}, out {tx:?}");
    assert_eq!((rx.dropped, tx.dropped), (0, 0));
}

#[test]
fn impaired_ping_loses_some_and_counts_the_drops() {
    let Some(ns) = Netns::create_or_skip(&["ping"]) else {
        return;
    };
    let mut stack = ns.start_ready(&["--impair", "loss=20%", "--seed", "7"]);
    // One answered ping first: both sides then know each other's MAC address, and the loss
    // below is only the loss of the pings themselves (about 36% of round trips).
    let warm = (0..15).any(|_| ping(&ns, &["-c", "1", "-W", "1"]).received == 1);
    assert!(warm, "no ping answered in 15 tries at 20% loss");
    let summary = ping(&ns, &["-c", "20", "-i", "0.05", "-W", "1"]);
    assert_eq!(summary.transmitted, 20);
    assert!(
        (8..20).contains(&summary.received),
        "{} of 20 answered at 20% loss each way (expected 8..=19)",
        summary.received
    );
    let exit = stack.stop(libc::SIGINT);
    assert_clean_exit(&exit);
    let (rx, tx) = (
        impairment(&exit.stdout, "in"),
        impairment(&exit.stdout, "out"),
    );
    assert!(
        rx.offered > 0 && rx.dropped > 0 && tx.offered > 0 && tx.dropped > 0,
        "impairment in {rx:?}, out {tx:?}"
    );
    let lost = u64::from(20 - summary.received);
    assert!(
        rx.dropped + tx.dropped >= lost,
        "{lost} pings lost but only {} frames dropped",
        rx.dropped + tx.dropped
    );
}

#[test]
fn fragmented_ping_is_reassembled_and_answered_in_fragments() {
    let Some(ns) = Netns::create_or_skip(&["ping"]) else {
        return;
    };
    let mut stack = ns.start_ready(&[]);
    let summary = ping(&ns, &["-c", "3", "-s", "8000", "-W", "2"]);
    assert_eq!(summary.received, 3, "{summary:?}");
    let exit = stack.stop(libc::SIGINT);
    assert_clean_exit(&exit);
    let c = counters(&exit.stdout);
    // 8008 bytes of ICMP need at least 6 fragments of at most 1480 bytes each way.
    assert_eq!(c.get("ipv4_reassembled"), 3, "{c:?}");
    assert_eq!(c.get("icmp_echo_replied"), 3, "{c:?}");
    assert!(c.get("ipv4_fragments_rx") >= 18, "{c:?}");
    assert!(c.get("ipv4_fragments_tx") >= 18, "{c:?}");
}

#[test]
fn udp_echo_answers_and_closed_port_is_refused() {
    let Some(ns) = Netns::create_or_skip(&["socat"]) else {
        return;
    };
    let mut stack = ns.start_ready(&[]);
    let echo = udp(&ns, 7, PAYLOAD);
    assert!(echo.status.success(), "socat to port 7: {echo:?}");
    assert_eq!(echo.stdout, PAYLOAD, "echo answered other bytes");
    let closed = udp(&ns, 9, PAYLOAD);
    assert!(
        !closed.status.success() && closed.stderr.contains("Connection refused"),
        "socat to closed port 9: {closed:?}"
    );
    let exit = stack.stop(libc::SIGINT);
    assert_clean_exit(&exit);
    let c = counters(&exit.stdout);
    assert_eq!(
        (
            c.get("udp_delivered"),
            c.get("udp_sent"),
            c.get("icmp_errors_sent")
        ),
        (1, 1, 1),
        "{c:?}"
    );
    assert_eq!(c.drop_count("udp_no_socket"), 1, "{c:?}");
}

/// Pings (plain and fragmented) and UDP with a capture to `file_name`, then checks the capture.
fn capture_is_clean_and_complete(file_name: &str) {
    let Some(ns) = Netns::create_or_skip(&["ping", "socat", "tshark"]) else {
        return;
    };
    let dir = TempDir::new();
    let path = dir.join(file_name);
    let mut stack = ns.start_ready(&["--pcap", path_arg(&path)]);
    assert_eq!(
        ping(&ns, &["-c", "20", "-i", "0.05", "-W", "1"]).received,
        20
    );
    assert_eq!(ping(&ns, &["-c", "3", "-s", "8000", "-W", "2"]).received, 3);
    assert_eq!(udp(&ns, 7, PAYLOAD).stdout, PAYLOAD);
    assert!(!udp(&ns, 9, PAYLOAD).status.success());
    let exit = stack.stop(libc::SIGINT);
    assert_clean_exit(&exit);

    assert_eq!(frame_count(&path), captured_frames(&exit.stdout));
    assert_capture_clean(&path);
    assert_arp_exchange(&path);
    assert_echo_pairs(&path, 23);
    let fragments = count(&path, "ip.src==10.77.0.2 && ip.flags.mf==1");
    assert!(
        fragments >= 15,
        "{fragments} non-last fragments from the stack"
    );
    let echoed = count(&path, "ip.src==10.77.0.2 && udp.srcport==7");
    assert_eq!(echoed, 1, "UDP echo answers");
    let refused = count(&path, "ip.src==10.77.0.2 && icmp.type==3 && icmp.code==3");
    assert_eq!(refused, 1, "ICMP port unreachable");
}

#[test]
fn pcapng_capture_is_clean_and_complete() {
    capture_is_clean_and_complete("run.pcapng");
}

#[test]
fn pcap_capture_is_clean_and_complete() {
    capture_is_clean_and_complete("run.pcap");
}

/// After traffic, `signal` stops the stack promptly with status 0, the summary and a complete
/// capture.
fn signal_stops_cleanly(signal: libc::c_int) {
    let Some(ns) = Netns::create_or_skip(&["ping", "tshark"]) else {
        return;
    };
    let dir = TempDir::new();
    let path = dir.join("stop.pcapng");
    let mut stack = ns.start_ready(&["--pcap", path_arg(&path)]);
    assert_eq!(ping(&ns, &["-c", "3", "-i", "0.05", "-W", "1"]).received, 3);
    let asked = Instant::now();
    let exit = stack.stop(signal);
    assert!(asked.elapsed() < EXIT_WITHIN);
    assert_clean_exit(&exit);
    assert!(
        exit.stdout.contains("\ntapstack: stopped (interrupted)\n"),
        "{exit:#?}"
    );
    assert_eq!(counters(&exit.stdout).get("icmp_echo_replied"), 3);
    let captured = captured_frames(&exit.stdout);
    assert_eq!(
        frame_count(&path),
        captured,
        "frames in the file vs. reported"
    );
    assert_capture_clean(&path);
    assert_echo_pairs(&path, 3);
}

#[test]
fn sigint_stops_cleanly() {
    signal_stops_cleanly(libc::SIGINT);
}

#[test]
fn sigterm_stops_cleanly() {
    signal_stops_cleanly(libc::SIGTERM);
}

#[test]
fn bad_arguments_fail_with_one_line() {
    // Inside a namespace, so that a check that lets bad values through cannot touch the host's
    // network; without root nothing can be created anyway.
    let ns = if !is_root() {
        None
    } else if let Some(tool) = ["ip", "timeout"].into_iter().find(|t| !have(t)) {
        println!("skipping: `{tool}` is not installed");
        return;
    } else {
        Some(Netns::create())
    };
    let cases: [(&[&str], &str); 6] = [
        (&["--ip", "300.1.1.1"], "300.1.1.1"),
        (&["--mtu", "10"], "MTU"),
        (&["--impair", "loss=500%"], "500%"),
        (
            &["--ip", "10.77.0.2/24", "--host-ip", "10.77.0.2/24"],
            "10.77.0.2",
        ),
        (&["--host-ip", "10.99.0.1/24"], "10.99.0.1"),
        (&["--no-such-flag"], "--no-such-flag"),
    ];
    for (args, mentions) in cases {
        let mut argv = vec![BIN, "up", "--arp-probes", "0"];
        argv.extend_from_slice(args);
        let limit = Duration::from_secs(10);
        let out = match &ns {
            Some(ns) => ns.run(&argv, b"", limit),
            None => {
                let mut cmd = Command::new(BIN);
                cmd.args(&argv[1..]).env_remove("RUST_LOG");
                run_bounded(cmd, b"", limit)
            }
        };
        let what = format!("tapstack up {}", args.join(" "));
        assert_eq!(out.status.code(), Some(2), "{what}: {}", out.stderr);
        // Mistakes clap finds are shown whole (message, usage or a tip); ours in one line.
        let line = if out.stderr.starts_with("error: ") {
            let first = out.stderr.lines().next().unwrap_or_default().to_owned();
            assert!(
                out.stderr.contains("For more information, try '--help'.")
                    && !out.stderr.contains("panicked"),
                "{what}: clap's error cut short:\n{}",
                out.stderr
            );
            first
        } else {
            assert_one_error_line(&what, out.status.success(), &out.stderr)
        };
        assert!(
            line.contains(mentions),
            "{what}: '{line}' does not name {mentions}"
        );
    }
    if let Some(ns) = &ns {
        assert_no_devices(ns);
    }
}

#[test]
fn unprivileged_run_is_refused() {
    let Some(ns) = Netns::create_or_skip(&["setpriv"]) else {
        return;
    };
    // A copy any user can execute, whatever the permissions of the build directory.
    let dir = TempDir::new();
    let bin = dir.join("tapstack");
    std::fs::copy(BIN, &bin).expect("copying the binary");
    let out = ns.run(
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            path_arg(&bin),
            "up",
        ],
        b"",
        Duration::from_secs(10),
    );
    let line = assert_one_error_line(
        "unprivileged tapstack up",
        out.status.success(),
        &out.stderr,
    );
    let lower = line.to_lowercase();
    assert!(
        lower.contains("root") || lower.contains("permission"),
        "'{line}' mentions neither root nor permission"
    );
    assert_no_devices(&ns);
}

#[test]
fn address_in_use_is_detected_by_probes() {
    let Some(ns) = Netns::create_or_skip(&[]) else {
        return;
    };
    // The kernel side already holds the stack's address and answers its ARP probes.
    ns.add_tap("tapc", "10.77.0.2/24");
    let mac = ns.run_ok(&["cat", "/sys/class/net/tapc/address"]);
    let mac = mac.trim();
    let mut stack = ns.start_stack(&["--tap", "tapc", "--no-host-config", "--arp-probes", "3"]);
    let exit = stack.wait_exit(Duration::from_secs(10));
    assert!(!exit.status.success(), "{exit:#?}");
    assert!(!exit.stdout.contains("is up and answering"), "{exit:#?}");
    assert!(
        exit.stdout.contains("tapstack: stopped (address conflict)"),
        "{exit:#?}"
    );
    let ours: Vec<&str> = exit
        .stderr
        .lines()
        .filter(|l| l.starts_with("tapstack: "))
        .collect();
    assert_eq!(
        ours,
        [format!(
            "tapstack: address 10.77.0.2 is already in use by {mac}"
        )],
        "{exit:#?}"
    );
    assert!(!exit.stderr.contains("panicked"), "{exit:#?}");
}
