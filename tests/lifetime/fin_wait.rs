//! Clients that never close: 300 kernel TCP clients connect to the HTTP server (port 80), send
//! nothing and never close. The server's header timeout answers and closes each (FIN, which the
//! kernel acknowledges), so the stack's side waits in FIN-WAIT-2 for a FIN that never comes. With
//! `--tcp-fin-timeout 5`, none may be left after the timeouts (before, all 300 stayed for good).
//!
//! The clients are kernel sockets opened on a thread inside the namespace; everything the test
//! starts is bounded in time, and the namespace goes (with the stack) when the test ends, also
//! when it panics. The capture of the whole run must pass tshark.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use tapstack_testkit::testing::{assert_clean_exit, path_arg, took, Netns, TempDir};

/// The `tapstack` binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_tapstack");
/// The stack's HTTP server.
const SERVER: &str = "10.77.0.2:80";
/// Clients that never close.
const CLIENTS: usize = 300;
/// The FIN-WAIT-2 limit the stack runs with (seconds).
const FIN_TIMEOUT: &str = "5";
/// The HTTP server's header timeout (its default, `http::Config::header_timeout`), the linger
/// after its response (2 s) and the FIN-WAIT-2 limit: when the first wave should be gone.
const FIRST_WAVE_GONE: Duration = Duration::from_secs(10 + 2 + 5);
/// Longest the whole wait may take (later waves wait in the accept queue for a server slot).
const WAIT_AT_MOST: Duration = Duration::from_secs(120);

/// What `/stats` says about the TCP table.
#[derive(Clone, Copy, Debug, Default)]
struct Table {
    /// Connections in the table.
    total: u64,
    /// Of which in FIN-WAIT-2.
    fin_wait2: u64,
    /// Of which established.
    established: u64,
    /// Of which in TIME-WAIT (the `/stats` requests answered 503 while the server was busy:
    /// curl closed after us).
    time_wait: u64,
    /// Closed connections given up in FIN-WAIT-2 so far.
    fin_wait2_timeouts: u64,
    /// Closed connections still finishing.
    orphans: u64,
}

/// The number after `"key":` at or after `from` in `json`.
fn number_after(json: &str, from: usize, key: &str) -> Option<(usize, u64)> {
    let needle = format!("\"{key}\":");
    let at = json.get(from..)?.find(&needle)? + from + needle.len();
    let digits: String = json
        .get(at..)?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((at, digits.parse().ok()?))
}

/// Reads the TCP part of `/stats` (fetched with curl inside the namespace); `None` while the
/// HTTP server is busy with all its connections (it answers 503 then).
fn table(ns: &Netns) -> Option<Table> {
    let out = ns.run(
        &[
            "curl",
            "-sS",
            "--max-time",
            "10",
            &format!("http://{SERVER}/stats"),
        ],
        b"",
        Duration::from_secs(20),
    );
    assert!(out.status.success(), "curl /stats: {}", out.stderr.trim());
    let json = out.stdout_text();
    if json.starts_with("503 ") {
        return None;
    }
    let tcp = json
        .find("\"tcp\":")
        .unwrap_or_else(|| panic!("no tcp in /stats: {json}"));
    let get = |key: &str| {
        number_after(&json, tcp, key)
            .unwrap_or_else(|| panic!("no {key} in /stats: {json}"))
            .1
    };
    let in_state = |state: &str| {
        let states = json
            .get(tcp..)
            .and_then(|t| t.find("\"states\":{"))
            .map(|s| s + tcp);
        let end = states.and_then(|s| json.get(s..)?.find('}').map(|e| e + s));
        match (states, end) {
            (Some(s), Some(e)) => {
                number_after(json.get(..e).unwrap_or_default(), s, state).map_or(0, |(_, n)| n)
            }
            _ => panic!("no states in /stats: {json}"),
        }
    };
    // "total" follows the connection list ("listed"), after "states".
    let listed = number_after(&json, tcp, "listed")
        .unwrap_or_else(|| panic!("no listed in /stats: {json}"))
        .0;
    Some(Table {
        total: number_after(&json, listed, "total")
            .unwrap_or_else(|| panic!("no total in /stats: {json}"))
            .1,
        fin_wait2: in_state("FIN-WAIT-2"),
        established: in_state("ESTABLISHED"),
        time_wait: in_state("TIME-WAIT"),
        fin_wait2_timeouts: get("fin_wait2_timeouts"),
        orphans: get("orphans"),
    })
}

#[test]
fn http_clients_that_never_close_leave_nothing_in_fin_wait_2() {
    let Some(ns) = Netns::create_or_skip(&["curl", "tshark"]) else {
        return;
    };
    let started = Instant::now();
    let dir = TempDir::new();
    let pcap = dir.join("fin-wait.pcapng");
    let mut stack = ns.start_tapstack_ready(
        BIN,
        &[
            "--no-ip6",
            "--arp-probes",
            "0",
            "--tcp-fin-timeout",
            FIN_TIMEOUT,
            "--pcap",
            path_arg(&pcap),
        ],
    );

    // The clients: kernel sockets in the namespace that send nothing and are never closed
    // while the test looks (they are dropped at its end).
    let clients = ns
        .spawn("clients", || {
            let server: SocketAddr = SERVER.parse()?;
            let mut socks = Vec::with_capacity(CLIENTS);
            for _ in 0..CLIENTS {
                socks.push(TcpStream::connect_timeout(&server, Duration::from_secs(5))?);
            }
            Ok(socks)
        })
        .unwrap_or_else(|e| panic!("{e:#}"))
        .wait(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("connecting {CLIENTS} clients: {e:#}"));
    assert_eq!(clients.len(), CLIENTS);
    let opened = Instant::now();

    // Watch the table until the clients' connections are gone.
    let mut peak = Table::default();
    let mut last = Table::default();
    let mut cleared = None;
    while opened.elapsed() < WAIT_AT_MOST {
        std::thread::sleep(Duration::from_secs(2));
        let Some(now) = table(&ns) else {
            println!(
                "{:>5.1} s: the HTTP server is busy (503)",
                opened.elapsed().as_secs_f64()
            );
            continue;
        };
        last = now;
        if last.fin_wait2 > peak.fin_wait2 {
            peak = last;
        }
        println!(
            "{:>5.1} s: {} connections, {} ESTABLISHED, {} FIN-WAIT-2, {} TIME-WAIT, {} orphans, {} FIN-WAIT-2 timeouts",
            opened.elapsed().as_secs_f64(),
            last.total,
            last.established,
            last.fin_wait2,
            last.time_wait,
            last.orphans,
            last.fin_wait2_timeouts
        );
        // Only /stats' own connection may remain, and earlier ones in TIME-WAIT.
        if opened.elapsed() > FIRST_WAVE_GONE
            && last.fin_wait2 == 0
            && last.total <= 1 + last.time_wait
        {
            cleared = Some(opened.elapsed());
            break;
        }
    }
    println!(
        "figures: {CLIENTS} clients; peak {} in FIN-WAIT-2; none left after {:.1} s; {} FIN-WAIT-2 timeouts",
        peak.fin_wait2,
        cleared.unwrap_or(WAIT_AT_MOST).as_secs_f64(),
        last.fin_wait2_timeouts
    );
    assert!(
        peak.fin_wait2 >= 200,
        "the clients were to wait in FIN-WAIT-2 first: {peak:?}"
    );
    assert!(
        cleared.is_some(),
        "connections left after {WAIT_AT_MOST:?}: {last:?}"
    );
    assert_eq!(last.fin_wait2, 0);
    assert!(
        last.fin_wait2_timeouts >= peak.fin_wait2,
        "every one of them ended by the FIN-WAIT-2 limit: {last:?}"
    );
    assert_eq!(last.orphans, 0);
    drop(clients);

    let exit = stack.stop(libc::SIGINT);
    assert_clean_exit(&exit);
    super::capture::assert_capture_clean(&pcap);
    took(
        "http_clients_that_never_close_leave_nothing_in_fin_wait_2",
        started,
    );
}
