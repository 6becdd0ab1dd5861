//! The command line through the real binary: exit statuses, clap's messages, logging flags,
//! `dump`'s input, count, hex and JSON, `replay --filter/--json` and the options `replay`
//! shares with `up`; and, in a network namespace, `up --pcap -` read live by tshark and each
//! event said once.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tapstack::device::capture::{CaptureReader, CaptureWriter, Format};
use tapstack::device::Direction;
use tapstack_testkit::frame;
use tapstack_testkit::process::{have, is_root, run_bounded, Output, TempDir};
use tapstack_testkit::testing::Netns;

const BIN: &str = env!("CARGO_BIN_EXE_tapstack");
const LIMIT: Duration = Duration::from_secs(30);

fn captures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../captures")
}

fn capture(name: &str) -> String {
    captures().join(name).display().to_string()
}

/// Runs `tapstack ARGS` with `env` set (and RUST_LOG, NO_COLOR unset unless given).
fn tapstack_env(args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("RUST_LOG").env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_bounded(cmd, stdin, LIMIT).expect("tapstack runs")
}

fn tapstack(args: &[&str]) -> Output {
    tapstack_env(args, &[], b"")
}

#[test]
fn replay_exits_like_diff_and_every_subcommand_documents_its_statuses() {
    let input = capture("arp-ping.pcapng");
    let same = tapstack(&[
        "replay",
        "-q",
        &input,
        "--expect",
        &capture("arp-ping.expected.pcapng"),
    ]);
    assert_eq!(same.status.code(), Some(0), "{}", same.stderr);
    let differs = tapstack(&[
        "replay",
        "-q",
        &input,
        "--expect",
        &capture("udp-echo.expected.pcapng"),
    ]);
    assert_eq!(differs.status.code(), Some(1), "{}", differs.stderr);
    assert!(differs.stdout_text().contains("difference"));
    let missing = tapstack(&["replay", "/nonexistent.pcapng"]);
    assert_eq!(missing.status.code(), Some(2), "{}", missing.stderr);
    let missing_expect = tapstack(&["replay", &input, "--expect", "/nonexistent.pcapng"]);
    assert_eq!(missing_expect.status.code(), Some(2));
    assert!(missing_expect.stderr.contains("/nonexistent.pcapng"));
    let dump = tapstack(&["dump", "/nonexistent.pcapng"]);
    assert_eq!(dump.status.code(), Some(2), "{}", dump.stderr);

    for sub in ["up", "replay", "dump", "bench", "completions", "man"] {
        let help = tapstack(&[sub, "--help"]);
        assert!(help.status.success(), "{sub}");
        let text = help.stdout_text().replace('\n', " ");
        assert!(text.contains("Exit status"), "{sub} --help: {text}");
        assert!(text.contains(" 2 on an error"), "{sub} --help: {text}");
    }
    assert!(tapstack(&["replay", "--help"])
        .stdout_text()
        .contains("1 when\nthe output differs from --expect"));
}

#[test]
fn clap_messages_are_shown_whole() {
    let out = tapstack(&["replay", &capture("arp-ping.pcapng"), "--expectt", "x"]);
    assert_eq!(out.status.code(), Some(2));
    let err = &out.stderr;
    assert!(
        err.starts_with("error: unexpected argument '--expectt' found"),
        "{err}"
    );
    assert!(
        err.contains("tip: a similar argument exists: '--expect'"),
        "{err}"
    );
    assert!(err.contains("Usage: tapstack replay"), "{err}");
    assert!(err.contains("For more information, try '--help'."), "{err}");
    assert!(out.stdout.is_empty());

    let out = tapstack(&["dump", "-c", "many", &capture("arp-ping.pcapng")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stderr.contains("invalid value 'many' for '-c <N>'")
            && out.stderr.contains("For more information"),
        "{}",
        out.stderr
    );
    // Help and version are not mistakes.
    let out = tapstack(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout_text().starts_with("tapstack "));
    let out = tapstack(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stderr.contains("Usage: tapstack"), "{}", out.stderr);
}

#[test]
fn replay_on_the_ip_medium_compares_raw_ip_with_raw_ip() {
    let config = capture("tun-raw.toml");
    let input = capture("tun-raw.pcap");
    let expected = capture("tun-raw.expected.pcapng");
    let out = tapstack(&["replay", "--config", &config, &input, "--expect", &expected]);
    assert_eq!(out.status.code(), Some(0), "{}", out.stdout_text());
    // Another seed, another link-local address: the difference is named as an IPv6 field, not
    // read as an Ethernet header.
    let args = [
        "replay", "--config", &config, "--seed", "2", &input, "--expect", &expected,
    ];
    let out = tapstack(&args);
    assert_eq!(out.status.code(), Some(1));
    let text = out.stdout_text();
    assert!(text.contains("out IP6 fe80::"), "{text}");
    assert!(text.contains("first difference: ipv6.src"), "{text}");
    assert!(!text.contains("ethertype"), "{text}");
}

#[test]
fn replay_of_a_raw_ip_capture_picks_the_ip_medium_itself() {
    // The identity of tun-raw.toml without its `medium` line: the capture's link type (RAW)
    // chooses the IP medium, and the replay is still the expected one.
    let dir = TempDir::create("replay-medium").unwrap();
    let config = std::fs::read_to_string(capture("tun-raw.toml")).unwrap();
    let without: String = config
        .lines()
        .filter(|l| !l.trim_start().starts_with("medium"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(without, config, "tun-raw.toml names its medium");
    let path = dir.join("identity.toml");
    std::fs::write(&path, without).unwrap();
    let input = capture("tun-raw.pcap");
    let expected = capture("tun-raw.expected.pcapng");
    let path = path.to_str().unwrap();
    let out = tapstack(&["replay", "--config", path, &input, "--expect", &expected]);
    assert_eq!(out.status.code(), Some(0), "{}", out.stdout_text());
    // Told otherwise, the stack is on Ethernet and answers differently.
    let args = [
        "replay", "--config", path, "--medium", "ethernet", &input, "--expect", &expected,
    ];
    assert_eq!(tapstack(&args).status.code(), Some(1));
}

#[test]
fn bench_only_runs_the_scenarios_named() {
    let out = tapstack(&["bench", "--quick", "--only", "scale,replay", "--no-netns"]);
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    let text = out.stdout_text();
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| scenario"))
        .collect();
    assert!(rows.iter().any(|r| r.starts_with("| Replay")), "{rows:?}");
    assert!(rows.iter().any(|r| r.starts_with("| Scale")), "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r.starts_with("| Replay") || r.starts_with("| Scale")),
        "{rows:?}"
    );
    let out = tapstack(&["bench", "--only", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stderr.contains("[possible values: inmem, replay"),
        "{}",
        out.stderr
    );
}

#[test]
fn logging_follows_v_q_and_rust_log_in_every_subcommand() {
    let input = capture("arp-ping.pcapng");
    let quiet = tapstack(&["replay", &input]);
    assert!(quiet.status.success());
    assert_eq!(quiet.stderr, "", "no log by default");

    // -v: the stack's own account, in plain words, on stderr.
    let v = tapstack(&["replay", "-v", &input]);
    assert!(v.status.success());
    assert!(
        v.stderr.contains("IPv4: 10.77.0.2/24 is ours"),
        "{}",
        v.stderr
    );
    assert!(v.stderr.contains("DEBUG"), "{}", v.stderr);
    assert!(!v.stderr.contains("TRACE"), "{}", v.stderr);
    // -vv: at least as much (every frame, where the runtime logs frames: `up`).
    let vv = tapstack(&["replay", "-vv", &input]);
    assert!(
        vv.status.success() && vv.stderr.lines().count() >= v.stderr.lines().count(),
        "{}",
        vv.stderr
    );
    // RUST_LOG wins over the flags.
    let info = tapstack_env(&["replay", "-q", &input], &[("RUST_LOG", "info")], b"");
    assert!(info.stderr.contains("INFO"), "{}", info.stderr);
    assert!(!info.stderr.contains("DEBUG"), "{}", info.stderr);
    // dump -v: header fields on stdout, the debug log (empty here) on stderr.
    let dump = tapstack(&["dump", "-v", "-c", "1", &input]);
    assert!(dump.status.success());
    assert!(dump.stdout_text().lines().count() > 1);
    // -q and -v exclude each other, in every subcommand.
    for sub in ["up", "replay", "dump", "bench"] {
        let out = tapstack(&[sub, "-q", "-v"]);
        assert_eq!(out.status.code(), Some(2), "{sub}");
        assert!(
            out.stderr.contains("cannot be used with"),
            "{sub}: {}",
            out.stderr
        );
    }
}

#[test]
fn no_color_is_honoured_on_a_terminal() {
    if !have("script") {
        println!("skipping: script (util-linux) is not installed");
        return;
    }
    // `script` gives the command a terminal; colour is then on unless NO_COLOR is set.
    let run = |no_color: Option<&str>| {
        let line = format!("{BIN} replay -v {}", capture("arp-ping.pcapng"));
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"])
            .env_remove("RUST_LOG")
            .env_remove("NO_COLOR");
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        let out = run_bounded(cmd, b"", LIMIT).expect("script runs");
        assert!(out.status.success(), "{}", out.stderr);
        out.stdout_text()
    };
    assert!(run(None).contains('\u{1b}'), "colour on a terminal");
    assert!(!run(Some("1")).contains('\u{1b}'), "NO_COLOR=1");
    assert!(
        run(Some("")).contains('\u{1b}'),
        "an empty NO_COLOR is unset"
    );
}

#[test]
fn dump_reads_stdin_and_r_counts_and_prints_hex_and_json() {
    let file = captures().join("ping-curl.pcapng");
    let all = tapstack(&["dump", &capture("ping-curl.pcapng")]);
    assert!(all.status.success());
    let all = all.stdout_text();
    let n = all.lines().count();
    assert!(n > 10);

    // -r and standard input give the same lines as the positional file.
    assert_eq!(
        tapstack(&["dump", "-r", &capture("ping-curl.pcapng")]).stdout_text(),
        all
    );
    let bytes = std::fs::read(&file).unwrap();
    let piped = tapstack_env(&["dump", "-"], &[], &bytes);
    assert!(piped.status.success(), "{}", piped.stderr);
    assert_eq!(piped.stdout_text(), all);

    // -c: the first N frames shown (after the filter).
    let three = tapstack(&["dump", "-c", "3", &capture("ping-curl.pcapng")]).stdout_text();
    assert_eq!(
        three,
        all.lines()
            .take(3)
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    );
    let tcp = tapstack(&["dump", "-c", "2", &capture("ping-curl.pcapng"), "tcp"]).stdout_text();
    assert_eq!(tcp.lines().count(), 2);
    assert!(tcp.lines().all(|l| l.contains("Flags [")), "{tcp}");

    // -x: the frame in hex, 16 bytes a line, under its line.
    let hex = tapstack(&["dump", "-x", "-c", "1", &capture("ping-curl.pcapng")]).stdout_text();
    let first = CaptureReader::open(&file).unwrap().next().unwrap().unwrap();
    let lines: Vec<&str> = hex.lines().collect();
    assert_eq!(lines.len(), 1 + first.data.len().div_ceil(16), "{hex}");
    let shown: String = lines[1..]
        .iter()
        .map(|l| l.split_once(": ").unwrap().1.replace(' ', ""))
        .collect();
    let want: String = first.data.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(shown, want);

    // --json: one object a line, with the same frames.
    let json = tapstack(&["dump", "--json", "-x", &capture("ping-curl.pcapng")]).stdout_text();
    assert_eq!(json.lines().count(), n);
    for (i, line) in json.lines().enumerate() {
        assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
        assert!(line.contains(&format!("\"number\":{},", i + 1)), "{line}");
        assert!(line.contains("\"summary\":\""), "{line}");
    }
    assert!(json
        .lines()
        .next()
        .unwrap()
        .contains(&format!("\"hex\":\"{want}\"")));
    assert!(json.contains("\"direction\":\"in\""));
}

#[test]
fn replay_filter_and_json_summary() {
    let input = capture("arp-ping.pcapng");
    let out = tapstack(&["replay", &input, "--json", "--filter", "icmp"]);
    assert!(out.status.success(), "{}", out.stderr);
    let text = out.stdout_text();
    assert_eq!(text.lines().count(), 1, "{text}");
    for want in [
        "\"input\":",
        "\"filter\":\"icmp\"",
        "\"records\":6,",
        "\"fed\":3,",
        "\"skipped\":{\"outbound\":3,\"own_mac\":0,\"truncated\":0,\"filter\":3}",
        "\"counters\":{",
        "\"stack\":{\"ipv4\":\"10.77.0.2/24\"",
    ] {
        assert!(text.contains(want), "{want} in {text}");
    }
    // With --expect the comparison is in the object, and the status says it.
    let out = tapstack(&[
        "replay",
        &input,
        "--json",
        "--expect",
        &capture("arp-ping.expected.pcapng"),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout_text().contains("\"same\":true"));
    let out = tapstack(&[
        "replay",
        &input,
        "--json",
        "--filter",
        "not arp",
        "--expect",
        &capture("arp-ping.expected.pcapng"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout_text().contains("\"same\":false"));
    // The text summary says how many the filter left out.
    let out = tapstack(&["replay", &input, "--filter", "icmp"]);
    assert!(
        out.stdout_text()
            .contains("filter       3 records left out by 'icmp'"),
        "{}",
        out.stdout_text()
    );
    let bad = tapstack(&["replay", &input, "--filter", "icmp and"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(bad
        .stderr
        .starts_with("tapstack: --filter: filter: expected"));
}

/// A capture of the kernel side asking for `name`'s A record (after an ARP request, so that
/// the stack knows where to answer).
fn dns_query_capture(path: &Path, name: &str) {
    let peer_mac = [2, 0, 0, 0, 0, 1];
    let ours = [0x02, 0x00, 0x0a, 0x4d, 0x00, 0x02];
    let (peer, us) = (Ipv4Addr::new(10, 77, 0, 1), Ipv4Addr::new(10, 77, 0, 2));
    let arp = frame::arp_frame([0xff; 6], 1, (peer_mac, peer), ([0; 6], us));
    let mut query = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    let udp = frame::udp_v4(
        SocketAddrV4::new(peer, 40000),
        SocketAddrV4::new(us, 53),
        &query,
    );
    let ip = frame::Ipv4::new(peer, us, 17).packet(&udp);
    let dns = frame::ethernet(ours, peer_mac, 0x0800, &ip);
    let mut w = CaptureWriter::create(path, "test").unwrap();
    assert_eq!(Format::from_path(path), Format::PcapNg);
    w.write(Duration::ZERO, Direction::In, &arp).unwrap();
    w.write(Duration::from_millis(1), Direction::In, &dns)
        .unwrap();
    w.into_inner().unwrap();
}

/// The DNS answers (UDP from port 53) in a capture.
fn dns_answers(path: &Path) -> Vec<Vec<u8>> {
    CaptureReader::open(path)
        .unwrap()
        .map(|r| r.unwrap().data)
        .filter(|d| d.len() > 42 && d[12..14] == [8, 0] && d[23] == 17 && d[34..36] == [0, 53])
        .map(|d| d[42..].to_vec())
        .collect()
}

#[test]
fn replay_takes_the_options_of_up_that_shape_what_the_stack_sends() {
    let dir = TempDir::create("cli-knobs").unwrap();
    let input = dir.join("query.pcapng");
    dns_query_capture(&input, "www.example.test");
    let out = dir.join("out.pcapng");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "replay",
            "-q",
            "--no-config",
            input.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = tapstack(&args);
        assert!(o.status.success(), "{extra:?}: {}", o.stderr);
        let answers = dns_answers(&out);
        assert_eq!(answers.len(), 1, "{extra:?}: one answer");
        answers.into_iter().next().unwrap()
    };
    let has_addr = |msg: &[u8]| msg.windows(4).any(|w| w == [10, 77, 0, 9]);
    // Not our zone by default: no address in the answer.
    assert!(!has_addr(&run(&[])));
    // --dns-name and --dns-record as in `up`; --hostname is the same option.
    let answer = run(&[
        "--dns-name",
        "example.test",
        "--dns-record",
        "www=10.77.0.9",
    ]);
    assert!(has_addr(&answer), "{answer:02x?}");
    assert_eq!(answer[3] & 0x0f, 0, "NOERROR");
    let alias = run(&[
        "--hostname",
        "example.test",
        "--dns-record",
        "www=10.77.0.9",
    ]);
    assert_eq!(alias, answer);
    // A zone file, as in `up`.
    let zone = dir.join("example.zone");
    std::fs::write(&zone, "www IN A 10.77.0.9\n").unwrap();
    let zoned = run(&[
        "--dns-name",
        "example.test",
        "--zone",
        zone.to_str().unwrap(),
    ]);
    assert!(has_addr(&zoned), "{zoned:02x?}");
    // The same from the configuration file (paths relative to it).
    let cfg = dir.join("knobs.toml");
    std::fs::write(
        &cfg,
        "dns_name = \"example.test\"\nzone = \"example.zone\"\ncongestion = \"cubic\"\n",
    )
    .unwrap();
    let o = tapstack(&[
        "replay",
        input.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", o.stderr);
    assert!(has_addr(&dns_answers(&out)[0]));
    // Congestion control and www are taken; mistakes are errors.
    run(&[
        "--congestion",
        "cubic",
        "--www",
        dir.path().to_str().unwrap(),
    ]);
    let o = tapstack(&["replay", input.to_str().unwrap(), "--www", "/nonexistent"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        o.stderr.contains("/nonexistent is not a directory"),
        "{}",
        o.stderr
    );
    let o = tapstack(&[
        "replay",
        input.to_str().unwrap(),
        "--zone",
        "/nonexistent.zone",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stderr.contains("/nonexistent.zone"), "{}", o.stderr);
    // The help states the true default of --services.
    let help = tapstack(&["replay", "--help"]).stdout_text();
    let names: Vec<&str> = tapstack::host::Service::STANDARD
        .iter()
        .map(|s| s.name())
        .collect();
    let (last, rest) = names.split_last().expect("some standard services");
    let stated = format!("{} and {last}", rest.join(", "));
    assert!(
        help.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .contains(&stated),
        "--services help does not state the default {stated:?}:\n{help}"
    );
}

// ---------------------------------------------------------------------------------------------
// In a network namespace.

/// Lines of `reader`, sent on a channel as they come.
fn lines_of(reader: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits (bounded) for a line that `wanted` accepts; returns every line seen until then.
fn wait_for(
    rx: &mpsc::Receiver<String>,
    limit: Duration,
    wanted: impl Fn(&str) -> bool,
) -> (bool, Vec<String>) {
    let end = Instant::now() + limit;
    let mut seen = Vec::new();
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                let hit = wanted(&line);
                seen.push(line);
                if hit {
                    return (true, seen);
                }
            }
            Err(_) => break,
        }
    }
    (false, seen)
}

/// Kills a child still running when the test ends (the namespace goes with the guard).
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn pcap_to_stdout_is_read_live_by_tshark() {
    let Some(ns) = Netns::create_or_skip(&["tshark", "ping", "ip"]) else {
        return;
    };
    let mut stack = ns.command(&[
        BIN,
        "up",
        "--tap",
        "tapl",
        "--arp-probes",
        "0",
        "--no-ip6",
        "--pcap",
        "-",
    ]);
    stack
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut stack = Reap(stack.spawn().expect("tapstack starts"));
    let pipe = stack.0.stdout.take().unwrap();
    let said = lines_of(stack.0.stderr.take().unwrap());
    let mut tshark = Command::new("tshark");
    tshark
        .args([
            "-l",
            "-n",
            "-i",
            "-",
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "icmp.type",
        ])
        .stdin(Stdio::from(pipe))
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut tshark = Reap(tshark.spawn().expect("tshark starts"));
    let frames = lines_of(tshark.0.stdout.take().unwrap());

    // Every human line goes to stderr, the banner and the events too.
    let (ready, lines) = wait_for(&said, LIMIT, |l| l.ends_with(" is up and answering"));
    assert!(ready, "not ready: {lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("pcapng on standard output, live")),
        "{lines:#?}"
    );

    let ping = ns.run(
        &["ping", "-n", "-c", "2", "-i", "0.2", "10.77.0.2"],
        b"",
        LIMIT,
    );
    assert!(ping.status.success(), "{}", ping.stdout_text());
    // tshark shows the echo requests (8) and replies (0) while the stack still runs.
    let (replies, seen) = wait_for(&frames, Duration::from_secs(10), |l| {
        l.split('\t').nth(1) == Some("0")
    });
    assert!(replies, "tshark saw no echo reply: {seen:#?}");
    assert!(
        seen.iter().any(|l| l.split('\t').nth(1) == Some("8")),
        "{seen:#?}"
    );
    assert!(
        stack.0.try_wait().expect("wait").is_none(),
        "the stack is still running while tshark shows its frames"
    );

    // Ctrl-C: the stack ends cleanly, tshark sees the end of the stream.
    // SAFETY: kill(2) on the child we started.
    unsafe { libc::kill(stack.0.id() as i32, libc::SIGINT) };
    let status = wait_exit(&mut stack.0, LIMIT).expect("the stack stops");
    assert!(status.success(), "{status:?}");
    let (_, rest) = wait_for(&said, Duration::from_secs(5), |l| {
        l.starts_with("capture: ")
    });
    assert!(
        rest.iter()
            .any(|l| l.starts_with("tapstack: stopped (interrupted)")),
        "the closing lines go to stderr too: {rest:#?}"
    );
    let tshark_status =
        wait_exit(&mut tshark.0, LIMIT).expect("tshark ends at the end of the stream");
    assert!(tshark_status.success(), "{tshark_status:?}");
}

#[test]
fn up_says_each_event_once() {
    let Some(ns) = Netns::create_or_skip(&["python3", "ip"]) else {
        return;
    };
    if !is_root() {
        println!("skipping: not root");
        return;
    }
    let mut stack = ns.command(&[BIN, "up", "--tap", "tape", "--arp-probes", "0", "--no-ip6"]);
    stack
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut stack = Reap(stack.spawn().expect("tapstack starts"));
    let out = lines_of(stack.0.stdout.take().unwrap());
    let err = lines_of(stack.0.stderr.take().unwrap());
    let (ready, _) = wait_for(&out, LIMIT, |l| l.ends_with(" is up and answering"));
    assert!(ready, "not ready");

    // Another host claims the stack's address three times (gratuitous ARP replies).
    let script = "import socket,time\n\
        s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\n\
        s.bind(('tape',0))\n\
        f=bytes.fromhex('ffffffffffff'+'029999999999'+'0806'+'0001080006040002'\
        +'029999999999'+'0a4d0002'+'ffffffffffff'+'0a4d0002')\n\
        for i in range(3):\n    s.send(f); time.sleep(0.1)\n";
    let sent = ns.run(&["python3", "-c", script], b"", LIMIT);
    assert!(sent.status.success(), "{}", sent.stderr);
    std::thread::sleep(Duration::from_millis(500));

    // SAFETY: kill(2) on the child we started.
    unsafe { libc::kill(stack.0.id() as i32, libc::SIGINT) };
    let status = wait_exit(&mut stack.0, LIMIT).expect("the stack stops");
    assert!(status.success(), "{status:?}");
    let (_, stdout) = wait_for(&out, Duration::from_secs(5), |_| false);
    let (_, stderr) = wait_for(&err, Duration::from_secs(1), |_| false);
    let stats = stdout
        .iter()
        .find(|l| l.contains("rx_frames="))
        .unwrap_or_else(|| panic!("counters: {stdout:#?}"));
    assert!(
        stats.contains("arp_conflicts=3"),
        "three claims arrived: {stats}"
    );
    let warnings: Vec<&String> = stderr
        .iter()
        .filter(|l| l.contains("02:99:99:99:99:99"))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "one warning for three claims: {stderr:#?}"
    );
    assert!(
        warnings[0].contains("also claims 10.77.0.2"),
        "{warnings:?}"
    );
    // The address coming up is said once (stdout), not again in the log.
    assert!(!stderr.iter().any(|l| l.contains("is ours")), "{stderr:#?}");
}
