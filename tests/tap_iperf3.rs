//! The iperf3 server of `tapstack up` against Debian's iperf3 client over a real TAP device:
//! TCP, TCP with the server sending (`-R`), four parallel streams (`-P 4`), UDP at a set rate
//! both ways, IPv6, a client turned away while another test runs, and a malformed control
//! message that ends only its own test. Each client run must finish with its report and exit 0
//! (except the one told the server is busy); the figures it reports are printed.
//!
//! Every frame stays inside namespaces the tests create and delete (also when a test panics);
//! every process and wait is bounded in time. Without root, /dev/net/tun or the tools, the tests
//! print "skipping: <reason>" and pass.

#[path = "tap/netns.rs"]
#[allow(dead_code)]
mod netns;
#[path = "tap/report.rs"]
#[allow(dead_code)]
mod report;

use std::time::{Duration, Instant};

use netns::{took, Netns, Output, Stack, Tapstack};
use serde_json::Value;

const ADDR: &str = "10.77.0.2";
const ADDR6: &str = "fd77::2";
const QUICK: &[&str] = &["--arp-probes", "0"];
/// How long one iperf3 run of a few seconds may take, setup and results included.
const RUN_WITHIN: Duration = Duration::from_secs(60);

fn stop(stack: &mut Stack) {
    let exit = stack.stop(libc::SIGINT);
    assert!(
        exit.status.success() && !exit.stderr.contains("panicked"),
        "tapstack failed: {exit:#?}"
    );
}

/// Runs `iperf3 -J ARGS` in `ns`; returns its JSON report and the raw output.
fn iperf3(ns: &Netns, args: &[&str]) -> (Value, Output) {
    let mut argv = vec!["iperf3", "-J"];
    argv.extend_from_slice(args);
    let out = ns.run(&argv, b"", RUN_WITHIN);
    let json: Value = serde_json::from_str(&out.stdout_text()).unwrap_or(Value::Null);
    (json, out)
}

/// Runs iperf3 and panics unless it exits 0 with a report; returns the report's `end` object.
fn iperf3_ok(ns: &Netns, args: &[&str]) -> Value {
    let (json, out) = iperf3(ns, args);
    assert!(
        out.status.success() && json.get("end").is_some(),
        "iperf3 {args:?} failed ({}):\n{}\n{}",
        out.status,
        out.stdout_text(),
        out.stderr
    );
    json["end"].clone()
}

fn mbits(bits_per_second: &Value) -> f64 {
    bits_per_second.as_f64().unwrap_or(0.0) / 1e6
}

/// Checks a TCP report: `streams` streams, bytes received on both ends, and prints the rate.
fn check_tcp(what: &str, end: &Value, streams: usize) {
    assert_eq!(
        end["streams"].as_array().map(Vec::len),
        Some(streams),
        "{what}: {end:#}"
    );
    let sent = end["sum_sent"]["bytes"].as_u64().unwrap_or(0);
    let received = end["sum_received"]["bytes"].as_u64().unwrap_or(0);
    assert!(sent > 0 && received > 0, "{what}: {end:#}");
    println!(
        "iperf3 {what}: sent {sent} B, received {received} B, {:.0} Mbit/s",
        mbits(&end["sum_received"]["bits_per_second"])
    );
}

/// Checks a UDP report: datagrams arrived, few lost, and prints rate, loss and jitter.
fn check_udp(what: &str, end: &Value) {
    let sum = &end["sum"];
    let packets = sum["packets"].as_u64().unwrap_or(0);
    let lost = sum["lost_percent"].as_f64().unwrap_or(100.0);
    assert!(packets > 100, "{what}: {end:#}");
    assert!(lost < 5.0, "{what}: {lost}% lost: {end:#}");
    println!(
        "iperf3 {what}: {packets} datagrams, {lost:.2}% lost, jitter {:.3} ms, {:.1} Mbit/s",
        sum["jitter_ms"].as_f64().unwrap_or(0.0),
        mbits(&sum["bits_per_second"])
    );
}

#[test]
fn iperf3_tcp_reverse_parallel_and_udp() {
    let Some(ns) = Netns::create_or_skip(&["iperf3"]) else {
        return;
    };
    let started = Instant::now();
    let mut stack = ns.start_ready(QUICK);
    check_tcp("TCP", &iperf3_ok(&ns, &["-c", ADDR, "-t", "2"]), 1);
    check_tcp("TCP -R", &iperf3_ok(&ns, &["-c", ADDR, "-t", "2", "-R"]), 1);
    check_tcp(
        "TCP -P 4",
        &iperf3_ok(&ns, &["-c", ADDR, "-t", "2", "-P", "4"]),
        4,
    );
    check_tcp(
        "TCP -R -P 4",
        &iperf3_ok(&ns, &["-c", ADDR, "-t", "2", "-R", "-P", "4"]),
        4,
    );
    check_tcp("TCP -n 10M", &iperf3_ok(&ns, &["-c", ADDR, "-n", "10M"]), 1);
    check_udp(
        "UDP 50 Mbit/s",
        &iperf3_ok(&ns, &["-c", ADDR, "-u", "-b", "50M", "-t", "2"]),
    );
    check_udp(
        "UDP -R 50 Mbit/s",
        &iperf3_ok(&ns, &["-c", ADDR, "-u", "-b", "50M", "-t", "2", "-R"]),
    );
    check_udp(
        "UDP -P 2 10 Mbit/s",
        &iperf3_ok(&ns, &["-c", ADDR, "-u", "-b", "10M", "-t", "2", "-P", "2"]),
    );
    stop(&mut stack);
    took("iperf3_tcp_reverse_parallel_and_udp", started);
}

#[test]
fn iperf3_over_ipv6() {
    let Some(ns) = Netns::create_ipv6_or_skip(&["iperf3"]) else {
        return;
    };
    let started = Instant::now();
    let mut stack = ns.start_ready(QUICK);
    let line = format!("tapstack: IPv6 address {ADDR6} is ready");
    stack.wait_line(&line, |l| l == line);
    check_tcp(
        "TCP -6",
        &iperf3_ok(&ns, &["-6", "-c", ADDR6, "-t", "2"]),
        1,
    );
    check_tcp(
        "TCP -6 -R",
        &iperf3_ok(&ns, &["-6", "-c", ADDR6, "-t", "2", "-R"]),
        1,
    );
    check_udp(
        "UDP -6",
        &iperf3_ok(&ns, &["-6", "-c", ADDR6, "-u", "-b", "20M", "-t", "2"]),
    );
    stop(&mut stack);
    took("iperf3_over_ipv6", started);
}

/// A raw client: connects to the control port, sends a cookie, reads the server's first state
/// byte, then sends `then` and reports how the server answered (closed or not within 15 s).
/// With `hold`, it keeps the connection open for that many seconds first (a test in progress).
const RAW_CLIENT: &str = r#"
import socket, sys, time
addr, then, hold = sys.argv[1], bytes.fromhex(sys.argv[2]), float(sys.argv[3])
s = socket.create_connection((addr, 5201), timeout=15)
s.sendall(b"rawclient-cookie-xxxxxxxxxxxxxxxxxxx\0")
first = s.recv(1)
print("state", first[0] if first else "closed", flush=True)
time.sleep(hold)
s.sendall(then)
try:
    rest = s.recv(100)
    print("closed" if rest == b"" else "data " + rest.hex(), flush=True)
except socket.timeout:
    print("open", flush=True)
"#;

#[test]
fn a_busy_server_and_a_malformed_message_leave_the_server_serving() {
    let Some(ns) = Netns::create_or_skip(&["iperf3", "python3"]) else {
        return;
    };
    let started = Instant::now();
    let mut stack = ns.start_ready(QUICK);

    // A length of 4 GiB for the parameters: the server closes that test's connection.
    let out = ns.run(
        &["python3", "-c", RAW_CLIENT, ADDR, "ffffffff", "0"],
        b"",
        RUN_WITHIN,
    );
    let text = out.stdout_text();
    assert!(
        text.contains("state 9") && text.contains("closed"),
        "malformed parameters: {text}{}",
        out.stderr
    );
    // Not JSON.
    let out = ns.run(
        &["python3", "-c", RAW_CLIENT, ADDR, "000000036e6f74", "0"],
        b"",
        RUN_WITHIN,
    );
    assert!(
        out.stdout_text().contains("closed"),
        "{}",
        out.stdout_text()
    );
    check_tcp(
        "TCP after malformed",
        &iperf3_ok(&ns, &["-c", ADDR, "-t", "1"]),
        1,
    );

    // While a raw client holds a test open (4 s), a real client is turned away as busy.
    let held = std::thread::scope(|scope| {
        let holder = scope.spawn(|| {
            ns.run(
                &["python3", "-c", RAW_CLIENT, ADDR, "10", "4"],
                b"",
                RUN_WITHIN,
            )
        });
        std::thread::sleep(Duration::from_secs(1));
        // iperf 3.12 with -J exits 0 even then; the report says why it did not run.
        let (json, out) = iperf3(&ns, &["-c", ADDR, "-t", "1"]);
        assert!(
            json["intervals"].as_array().is_some_and(Vec::is_empty),
            "a second test ran: {}",
            out.stdout_text()
        );
        let error = json["error"].as_str().unwrap_or_default().to_owned();
        assert!(
            error.contains("busy"),
            "{}\n{}",
            out.stdout_text(),
            out.stderr
        );
        println!("iperf3 while busy: {error}");
        holder.join().expect("the holder ran")
    });
    assert!(
        held.stdout_text().contains("state 9"),
        "{}",
        held.stdout_text()
    );
    // The holder sent IPERF_DONE out of turn: the server ended its test; the next runs.
    check_tcp(
        "TCP after busy",
        &iperf3_ok(&ns, &["-c", ADDR, "-t", "1"]),
        1,
    );
    stop(&mut stack);
    took(
        "a_busy_server_and_a_malformed_message_leave_the_server_serving",
        started,
    );
}
