//! End-to-end tests of the DNS and HTTP services of `tapstack up` over a real TAP device, with
//! the ordinary clients as peers: `dig` against the authoritative DNS server (port 53), `curl`
//! and `wrk` against the HTTP server (port 80), and `tshark` judging a capture of both.
//!
//! DNS: the built-in zones (A, AAAA without an address, PTR), a zone file with its own SOA and
//! CNAME, MX and TXT records, NXDOMAIN and NODATA with the SOA in the authority section, REFUSED
//! outside the zones served, queries over TCP, and an answer too large for UDP that is truncated
//! and then fetched in full over TCP. HTTP: the home page, `/stats` as JSON, 100 MiB from
//! `/bytes/N` checked byte for byte, a 50 MiB upload hashed by the server, static files from
//! `--www` with traversal and symlink escapes refused, HEAD without a body, persistent
//! connections, and ten seconds of load from `wrk` without errors (its requests per second are
//! printed).
//!
//! Every frame stays inside namespaces the tests create and delete (also when a test panics);
//! every process and wait is bounded in time. Tests that cannot run here (not root, no
//! /dev/net/tun, a tool missing) print "skipping: <reason>" and pass. The tests of this file run
//! one at a time, so that the load test measures the stack rather than its neighbours.

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

use std::fmt::Write as _;
use std::io::{self, Read};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use capture::{assert_capture_clean, count, frame_count};
use netns::{path_arg, took, Exit, Netns, Output, Stack, Tapstack, TempDir};
use report::{captured_frames, counters, Counters};
use stream::{digest, stream, Digest, Pattern, MIB};

/// The stack's address with the default options.
const ADDR: &str = "10.77.0.2";
/// Options every test starts the stack with: no address conflict probing (the namespace is
/// empty), so that the stack answers at once.
const QUICK: &[&str] = &["--arp-probes", "0"];
/// How long one `dig` or small `curl` may take.
const CLIENT_WITHIN: Duration = Duration::from_secs(20);
/// How long a transfer of tens of MiB may take (it takes a few seconds).
const TRANSFER_WITHIN: Duration = Duration::from_secs(180);
/// Size of the download from `/bytes/N`.
const DOWNLOAD: u64 = 100 * MIB;
/// Size of the upload to `/upload`.
const UPLOAD: u64 = 50 * MIB;
/// Strings of the large TXT record, and the length of each.
const BIG_TXT_STRINGS: usize = 12;
const BIG_TXT_STRING_LEN: usize = 200;

/// Serializes the tests of this file (see the module documentation).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn url(path: &str) -> String {
    format!("http://{ADDR}{path}")
}

/// Stops the stack and returns how it ended and its counters; panics if it did not exit with
/// status 0 or panicked.
fn stop(stack: &mut Stack) -> (Exit, Counters) {
    let exit = stack.stop(libc::SIGINT);
    assert!(
        exit.status.success() && !exit.stderr.contains("panicked"),
        "tapstack failed: {exit:#?}"
    );
    let c = counters(&exit.stdout);
    (exit, c)
}

/// Runs `argv` in `ns` and panics unless it exits with status 0; returns its output.
fn run_ok(ns: &Netns, argv: &[&str], limit: Duration) -> Output {
    let out = ns.run(argv, b"", limit);
    assert!(
        out.status.success(),
        "{argv:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        out.stdout_text(),
        out.stderr.trim()
    );
    out
}

// ---------------------------------------------------------------------------------------------
// DNS
// ---------------------------------------------------------------------------------------------

/// The origin of the zone file the DNS tests load.
const LAB: &str = "lab.test";

/// String `k` of the large TXT record.
fn big_txt_string(k: usize) -> String {
    let c = char::from(b'a' + u8::try_from(k).expect("few strings"));
    std::iter::repeat_n(c, BIG_TXT_STRING_LEN).collect()
}

/// The large TXT record's data as dig prints it.
fn big_txt_data() -> String {
    (0..BIG_TXT_STRINGS)
        .map(|k| format!("\"{}\"", big_txt_string(k)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A zone file defining `lab.test` with its own SOA, and the records the tests ask for.
fn zone_file() -> String {
    let mut z = String::from(
        "; zone of the DNS tests\n\
         $TTL 300\n\
         $ORIGIN lab.test.\n\
         @        IN SOA ns1.lab.test. hostmaster.lab.test. (\n\
         \x20                2024061501 ; serial\n\
         \x20                3600 600 86400 60 )\n\
         @        IN NS    ns1\n\
         ns1      IN A     10.77.0.2\n\
         www      IN CNAME web\n\
         web      IN A     10.77.0.80\n\
         @        IN MX    10 mail\n\
         mail     IN A     10.77.0.25\n\
         @        IN TXT   \"v=spf1 -all\" \"second string\"\n\
         big      IN TXT   (\n",
    );
    for k in 0..BIG_TXT_STRINGS {
        let _ = writeln!(z, "    \"{}\"", big_txt_string(k));
    }
    z.push_str("    )\n");
    z
}

/// One resource record of dig's output.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rr {
    name: String,
    ttl: u32,
    kind: String,
    data: String,
}

/// What dig printed about one response.
#[derive(Debug, Default)]
struct DigReply {
    status: String,
    flags: Vec<String>,
    answer: Vec<Rr>,
    authority: Vec<Rr>,
    text: String,
}

impl DigReply {
    fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// The answer records as `(name, type, data)`.
    fn answers(&self) -> Vec<(&str, &str, &str)> {
        self.answer
            .iter()
            .map(|r| (r.name.as_str(), r.kind.as_str(), r.data.as_str()))
            .collect()
    }

    /// Panics unless the authority section holds exactly the SOA of `zone`.
    fn assert_soa_authority(&self, zone: &str) {
        let soa: Vec<_> = self
            .authority
            .iter()
            .map(|r| (r.name.as_str(), r.kind.as_str()))
            .collect();
        assert_eq!(
            soa,
            [(format!("{zone}.").as_str(), "SOA")],
            "authority section, expected the SOA of {zone}:\n{}",
            self.text
        );
    }
}

fn parse_rr(line: &str) -> Rr {
    let mut fields = line.split_whitespace();
    let mut next = |what: &str| {
        fields
            .next()
            .unwrap_or_else(|| panic!("no {what} in record line: {line}"))
    };
    let name = next("name").to_owned();
    let ttl = next("TTL")
        .parse()
        .unwrap_or_else(|e| panic!("bad TTL in {line}: {e}"));
    assert_eq!(next("class"), "IN", "class of {line}");
    let kind = next("type").to_owned();
    let data = fields.collect::<Vec<_>>().join(" ");
    Rr {
        name,
        ttl,
        kind,
        data,
    }
}

/// Parses dig's default output (the last response in it, when dig retried over TCP).
fn parse_dig(text: &str) -> DigReply {
    let mut reply = DigReply {
        text: text.to_owned(),
        ..DigReply::default()
    };
    let mut section = "";
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(";; ->>HEADER<<-") {
            // A new response starts (dig prints the truncated one first).
            reply.answer.clear();
            reply.authority.clear();
            reply.status = rest
                .split(',')
                .find_map(|p| p.trim().strip_prefix("status: "))
                .unwrap_or_else(|| panic!("no status in {line}"))
                .to_owned();
        } else if let Some(rest) = line.strip_prefix(";; flags:") {
            let flags = rest.split(';').next().unwrap_or("");
            reply.flags = flags.split_whitespace().map(str::to_owned).collect();
        } else if let Some(rest) = line.strip_prefix(";; ") {
            section = match rest {
                "ANSWER SECTION:" => "answer",
                "AUTHORITY SECTION:" => "authority",
                _ if rest.ends_with("SECTION:") => "other",
                _ => section,
            };
        } else if line.trim().is_empty() {
            section = "";
        } else if !line.starts_with(';') {
            match section {
                "answer" => reply.answer.push(parse_rr(line)),
                "authority" => reply.authority.push(parse_rr(line)),
                _ => {}
            }
        }
    }
    assert!(
        !reply.status.is_empty(),
        "no response in dig output:\n{text}"
    );
    reply
}

/// Runs `dig +norec +time=2 +tries=1 @ADDR ARGS` in `ns`; panics unless dig got a response.
fn dig_text(ns: &Netns, args: &[&str]) -> String {
    let mut argv = vec!["dig", "+norec", "+time=2", "+tries=1", "@10.77.0.2"];
    argv.extend_from_slice(args);
    run_ok(ns, &argv, CLIENT_WITHIN).stdout_text()
}

fn dig(ns: &Netns, args: &[&str]) -> DigReply {
    parse_dig(&dig_text(ns, args))
}

/// Starts the stack with the zone file of the DNS tests.
fn start_dns(ns: &Netns, dir: &TempDir) -> Stack {
    let zone = dir.join("lab.zone");
    std::fs::write(&zone, zone_file()).expect("writing the zone file");
    let mut args = QUICK.to_vec();
    // Without IPv6 the host name has no AAAA record (tested below).
    args.extend(["--zone", path_arg(&zone), "--no-ip6"]);
    ns.start_ready(&args)
}

#[test]
fn dns_answers_from_built_in_and_loaded_zones() {
    let Some(ns) = Netns::create_or_skip(&["dig"]) else {
        return;
    };
    let _serial = one_at_a_time();
    let started = Instant::now();
    let dir = TempDir::new();
    let mut stack = start_dns(&ns, &dir);

    // The host's own name.
    let r = dig(&ns, &["tapstack.test", "A"]);
    assert_eq!(r.status, "NOERROR", "{}", r.text);
    assert!(r.has_flag("aa") && r.has_flag("qr"), "flags: {}", r.text);
    assert_eq!(
        r.answers(),
        [("tapstack.test.", "A", "10.77.0.2")],
        "{}",
        r.text
    );

    // No IPv6 address (--no-ip6): the name exists, so NODATA (NOERROR, no answer, SOA in authority).
    let r = dig(&ns, &["tapstack.test", "AAAA"]);
    assert_eq!(r.status, "NOERROR", "{}", r.text);
    assert!(r.answer.is_empty(), "AAAA answer: {}", r.text);
    r.assert_soa_authority("tapstack.test");

    // Reverse lookup.
    let r = dig(&ns, &["-x", ADDR]);
    assert_eq!(r.status, "NOERROR", "{}", r.text);
    assert_eq!(
        r.answers(),
        [("2.0.77.10.in-addr.arpa.", "PTR", "tapstack.test.")],
        "{}",
        r.text
    );

    // The zone file: a CNAME followed within the zone.
    let r = dig(&ns, &["www.lab.test", "A"]);
    assert_eq!(r.status, "NOERROR", "{}", r.text);
    assert_eq!(
        r.answers(),
        [
            ("www.lab.test.", "CNAME", "web.lab.test."),
            ("web.lab.test.", "A", "10.77.0.80"),
        ],
        "{}",
        r.text
    );
    assert!(r.answer.iter().all(|rr| rr.ttl == 300), "TTLs: {}", r.text);

    let r = dig(&ns, &[LAB, "MX"]);
    assert_eq!(r.status, "NOERROR", "{}", r.text);
    assert_eq!(
        r.answers(),
        [("lab.test.", "MX", "10 mail.lab.test.")],
        "{}",
        r.text
    );

    let r = dig(&ns, &[LAB, "TXT"]);
    assert_eq!(r.status, "NOERROR", "{}", r.text);
    assert_eq!(
        r.answers(),
        [("lab.test.", "TXT", "\"v=spf1 -all\" \"second string\"")],
        "{}",
        r.text
    );

    let r = dig(&ns, &[LAB, "SOA"]);
    assert_eq!(r.status, "NOERROR", "{}", r.text);
    assert_eq!(
        r.answers(),
        [(
            "lab.test.",
            "SOA",
            "ns1.lab.test. hostmaster.lab.test. 2024061501 3600 600 86400 60"
        )],
        "{}",
        r.text
    );

    // Names that do not exist, in either zone.
    for name in ["nothing-here.tapstack.test", "nothing.lab.test"] {
        let r = dig(&ns, &[name, "A"]);
        assert_eq!(r.status, "NXDOMAIN", "{}", r.text);
        assert!(r.answer.is_empty(), "{}", r.text);
        let zone = name.split_once('.').expect("dotted").1;
        r.assert_soa_authority(zone);
    }

    // A zone not served here.
    let r = dig(&ns, &["example.com", "A"]);
    assert_eq!(r.status, "REFUSED", "{}", r.text);
    assert!(r.answer.is_empty(), "{}", r.text);

    // Over TCP.
    let text = dig_text(&ns, &["+tcp", "tapstack.test", "A"]);
    let r = parse_dig(&text);
    assert_eq!(r.status, "NOERROR", "{text}");
    assert_eq!(
        r.answers(),
        [("tapstack.test.", "A", "10.77.0.2")],
        "{text}"
    );
    let server = text
        .lines()
        .find(|l| l.starts_with(";; SERVER:"))
        .unwrap_or_else(|| panic!("no SERVER line in:\n{text}"));
    assert!(!server.contains("(UDP)"), "not over TCP: {server}");
    let short = dig_text(&ns, &["+tcp", "+short", "web.lab.test", "A"]);
    assert_eq!(short.trim(), "10.77.0.80");

    stop(&mut stack);
    took("dns_answers_from_built_in_and_loaded_zones", started);
}

#[test]
fn dns_large_answer_is_truncated_over_udp_and_complete_over_tcp() {
    let Some(ns) = Netns::create_or_skip(&["dig"]) else {
        return;
    };
    let _serial = one_at_a_time();
    let started = Instant::now();
    let dir = TempDir::new();
    let mut stack = start_dns(&ns, &dir);
    let name = "big.lab.test";
    let full = [("big.lab.test.", "TXT", big_txt_data())];
    let full: Vec<_> = full.iter().map(|(a, b, c)| (*a, *b, c.as_str())).collect();

    // Over UDP with a 512-byte buffer, keeping the truncated response.
    let r = dig(&ns, &["+bufsize=512", "+ignore", name, "TXT"]);
    assert!(r.has_flag("tc"), "TC not set: {}", r.text);
    assert!(
        !r.text.contains("Truncated, retrying in TCP mode"),
        "{}",
        r.text
    );
    assert_ne!(r.answers(), full, "a full answer in a truncated response");

    // dig retries over TCP by itself and gets everything.
    let r = dig(&ns, &["+bufsize=512", name, "TXT"]);
    assert!(
        r.text.contains(";; Truncated, retrying in TCP mode."),
        "no retry over TCP: {}",
        r.text
    );
    assert_eq!(r.status, "NOERROR", "{}", r.text);
    assert!(!r.has_flag("tc"), "TC over TCP: {}", r.text);
    assert_eq!(r.answers(), full, "{}", r.text);

    // Without EDNS the limit is 512 bytes as well.
    let r = dig(&ns, &["+noedns", "+ignore", name, "TXT"]);
    assert!(r.has_flag("tc"), "TC not set without EDNS: {}", r.text);

    // And over TCP directly.
    let r = dig(&ns, &["+tcp", name, "TXT"]);
    assert_eq!(r.answers(), full, "{}", r.text);

    stop(&mut stack);
    took(
        "dns_large_answer_is_truncated_over_udp_and_complete_over_tcp",
        started,
    );
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/// What `curl -w` reported about a request whose body went to a file.
#[derive(Debug)]
struct Fetched {
    code: u16,
    content_type: String,
    body: Vec<u8>,
}

/// `curl -sS EXTRA URL` in `ns` with the body in a file of `dir`; panics if curl fails.
fn fetch(ns: &Netns, dir: &TempDir, extra: &[&str], target: &str) -> Fetched {
    let body = dir.join("body");
    let _ = std::fs::remove_file(&body);
    let mut argv = vec![
        "curl",
        "-sS",
        "--max-time",
        "15",
        "-o",
        path_arg(&body),
        "-w",
        "%{http_code}\\n%{content_type}\\n",
    ];
    argv.extend_from_slice(extra);
    argv.push(target);
    let out = run_ok(ns, &argv, CLIENT_WITHIN);
    let text = out.stdout_text();
    let mut lines = text.lines();
    let code = lines
        .next()
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status code from curl: {text}"));
    Fetched {
        code,
        content_type: lines.next().unwrap_or("").to_owned(),
        body: std::fs::read(&body).unwrap_or_default(),
    }
}

/// `/bytes/N`: byte `i` is `i % 251`.
struct Mod251 {
    pos: u64,
    len: u64,
}

impl Read for Mod251 {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = usize::try_from(self.len - self.pos).unwrap_or(usize::MAX);
        let n = left.min(buf.len());
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = ((self.pos + i as u64) % 251) as u8;
        }
        self.pos += n as u64;
        Ok(n)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The value of `"key":` in flat JSON text, without quotes.
fn json_value<'a>(json: &'a str, key: &str) -> &'a str {
    let pat = format!("\"{key}\":");
    let at = json
        .find(&pat)
        .unwrap_or_else(|| panic!("no {key} in {json}"));
    json[at + pat.len()..]
        .split([',', '}'])
        .next()
        .unwrap_or("")
        .trim()
        .trim_matches('"')
}

/// Runs `python3 -c SCRIPT` on `input`; panics unless it succeeds; returns its stdout.
fn python(ns: &Netns, script: &str, input: &[u8]) -> String {
    let out = ns.run(&["python3", "-c", script], input, CLIENT_WITHIN);
    assert!(
        out.status.success(),
        "python3 -c {script:?} failed on {:?}: {}",
        String::from_utf8_lossy(input),
        out.stderr.trim()
    );
    out.stdout_text()
}

#[test]
fn http_home_page_stats_and_head() {
    let Some(ns) = Netns::create_or_skip(&["curl", "python3", "socat"]) else {
        return;
    };
    let _serial = one_at_a_time();
    let started = Instant::now();
    let dir = TempDir::new();
    let mut stack = ns.start_ready(QUICK);

    let home = fetch(&ns, &dir, &[], &url("/"));
    assert_eq!(home.code, 200, "{home:?}");
    assert!(
        home.content_type.starts_with("text/html"),
        "Content-Type of /: {}",
        home.content_type
    );
    let page = String::from_utf8_lossy(&home.body);
    assert!(
        page.to_ascii_lowercase().contains("<html") && page.contains("</html>"),
        "not an HTML page: {page}"
    );

    let stats = fetch(&ns, &dir, &[], &url("/stats"));
    assert_eq!(stats.code, 200, "{stats:?}");
    assert!(
        stats.content_type.starts_with("application/json"),
        "Content-Type of /stats: {}",
        stats.content_type
    );
    python(
        &ns,
        "import json,sys; json.load(sys.stdin)",
        stats.body.as_slice(),
    );
    let text = String::from_utf8_lossy(&stats.body);
    assert!(text.contains("\"rx_frames\""), "no rx_frames in {text}");
    let rx = python(
        &ns,
        "import json,sys; print(json.load(sys.stdin)['counters']['rx_frames'])",
        stats.body.as_slice(),
    );
    assert!(
        rx.trim().parse::<u64>().is_ok_and(|n| n > 0),
        "rx_frames: {rx}"
    );

    // HEAD with curl: the headers, with the length the body would have.
    let head = run_ok(
        &ns,
        &["curl", "-sS", "--max-time", "15", "-I", &url("/bytes/1000")],
        CLIENT_WITHIN,
    )
    .stdout_text();
    let status = head.lines().next().unwrap_or("");
    assert!(status.starts_with("HTTP/1.1 200"), "HEAD status: {head}");
    let length = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().to_owned())
    });
    assert_eq!(length.as_deref(), Some("1000"), "HEAD headers: {head}");

    // HEAD on the wire: the response ends with the blank line after the headers.
    let raw = ns.run(
        &["socat", "-t", "5", "-", "TCP:10.77.0.2:80"],
        b"HEAD /bytes/1000 HTTP/1.1\r\nHost: 10.77.0.2\r\nConnection: close\r\n\r\n",
        CLIENT_WITHIN,
    );
    assert!(raw.status.success(), "socat: {raw:?}");
    let raw = raw.stdout_text();
    let end = raw
        .find("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in: {raw:?}"));
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw:?}");
    assert_eq!(&raw[end..], "\r\n\r\n", "a body after HEAD: {raw:?}");
    assert!(
        raw.to_ascii_lowercase()
            .contains("content-length: 1000\r\n"),
        "{raw:?}"
    );

    stop(&mut stack);
    took("http_home_page_stats_and_head", started);
}

#[test]
fn http_download_of_100_mib_has_the_pattern() {
    let Some(ns) = Netns::create_or_skip(&["curl"]) else {
        return;
    };
    let _serial = one_at_a_time();
    let started = Instant::now();
    let mut stack = ns.start_ready(QUICK);
    let expected = digest(
        Mod251 {
            pos: 0,
            len: DOWNLOAD,
        },
        None,
    )
    .expect("generated data");
    let target = url(&format!("/bytes/{DOWNLOAD}"));
    let t = stream(
        &ns,
        &["curl", "-sS", "--fail", "--max-time", "170", &target],
        None,
        None,
        TRANSFER_WITHIN,
    );
    let (exit, _) = stop(&mut stack);
    println!(
        "download: {} MiB in {:.2} s ({:.1} MiB/s)",
        DOWNLOAD / MIB,
        t.elapsed.as_secs_f64(),
        t.rate(t.received.bytes)
    );
    assert!(t.succeeded(), "curl failed: {t:?}\n{}", exit.stdout);
    assert_eq!(t.received, expected, "body of {target}");
    took("http_download_of_100_mib_has_the_pattern", started);
}

#[test]
fn http_upload_of_50_mib_is_hashed() {
    let Some(ns) = Netns::create_or_skip(&["curl"]) else {
        return;
    };
    let _serial = one_at_a_time();
    let started = Instant::now();
    let dir = TempDir::new();
    let data = dir.join("upload.bin");
    let seed = 0x7570_6c6f_6164;
    {
        let mut file = std::fs::File::create(&data).expect("creating the upload file");
        let n = io::copy(&mut Pattern::new(seed, UPLOAD), &mut file).expect("writing it");
        assert_eq!(n, UPLOAD);
    }
    let expected: Digest = digest(Pattern::new(seed, UPLOAD), None).expect("generated data");
    let mut stack = ns.start_ready(QUICK);
    let body = format!("@{}", path_arg(&data));
    let t = Instant::now();
    let out = run_ok(
        &ns,
        &[
            "curl",
            "-sS",
            "--fail",
            "--max-time",
            "170",
            "-H",
            "Content-Type: application/octet-stream",
            "--data-binary",
            &body,
            &url("/upload"),
        ],
        TRANSFER_WITHIN,
    );
    let elapsed = t.elapsed();
    stop(&mut stack);
    let answer = out.stdout_text();
    println!(
        "upload: {} MiB in {:.2} s, answer {}",
        UPLOAD / MIB,
        elapsed.as_secs_f64(),
        answer.trim()
    );
    assert_eq!(
        json_value(&answer, "length"),
        UPLOAD.to_string(),
        "{answer}"
    );
    assert_eq!(
        json_value(&answer, "sha256"),
        hex(&expected.sha256),
        "{answer}"
    );
    took("http_upload_of_50_mib_is_hashed", started);
}

#[test]
fn http_static_files_and_escapes() {
    let Some(ns) = Netns::create_or_skip(&["curl"]) else {
        return;
    };
    let _serial = one_at_a_time();
    let started = Instant::now();
    let dir = TempDir::new();
    let www = dir.join("www");
    std::fs::create_dir_all(www.join("docs")).expect("creating the web root");
    let text = "plain text from the web root\n";
    let css = "body { color: black; }\n";
    std::fs::write(www.join("hello.txt"), text).expect("writing hello.txt");
    std::fs::write(www.join("docs/site.css"), css).expect("writing site.css");
    // A secret beside the web root, and a link out of it.
    std::fs::write(dir.join("secret.txt"), "secret\n").expect("writing secret.txt");
    std::os::unix::fs::symlink(dir.join("secret.txt"), www.join("escape.txt"))
        .expect("creating a symlink");
    std::os::unix::fs::symlink("/etc", www.join("etc")).expect("creating a symlink");
    let mut args = QUICK.to_vec();
    args.extend(["--www", path_arg(&www)]);
    let mut stack = ns.start_ready(&args);

    let f = fetch(&ns, &dir, &[], &url("/hello.txt"));
    assert_eq!(f.code, 200, "{f:?}");
    assert_eq!(f.content_type, "text/plain; charset=utf-8");
    assert_eq!(f.body, text.as_bytes());
    let f = fetch(&ns, &dir, &[], &url("/docs/site.css"));
    assert_eq!(f.code, 200, "{f:?}");
    assert_eq!(f.content_type, "text/css; charset=utf-8");
    assert_eq!(f.body, css.as_bytes());
    let f = fetch(&ns, &dir, &[], &url("/missing.txt"));
    assert_eq!(f.code, 404, "{f:?}");

    for path in [
        "/../../etc/passwd",
        "/docs/../../secret.txt",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2E%2E/secret.txt",
        "/docs/%2e%2e/%2e%2e/secret.txt",
        "/escape.txt",
        "/etc/passwd",
    ] {
        let f = fetch(&ns, &dir, &["--path-as-is"], &url(path));
        let body = String::from_utf8_lossy(&f.body);
        assert!(
            matches!(f.code, 403 | 404),
            "{path}: status {}, body {body}",
            f.code
        );
        assert!(
            !body.contains("root:") && !body.contains("secret"),
            "{path} leaked: {body}"
        );
    }

    stop(&mut stack);
    took("http_static_files_and_escapes", started);
}

#[test]
fn http_requests_share_one_persistent_connection() {
    let Some(ns) = Netns::create_or_skip(&["curl", "python3"]) else {
        return;
    };
    let _serial = one_at_a_time();
    let started = Instant::now();
    let dir = TempDir::new();
    let mut stack = ns.start_ready(QUICK);
    let first = dir.join("first");
    let second = dir.join("second");
    let stats = dir.join("stats.json");
    let out = run_ok(
        &ns,
        &[
            "curl",
            "-sSv",
            "--max-time",
            "15",
            "-o",
            path_arg(&first),
            &url("/"),
            "-o",
            path_arg(&second),
            &url("/bytes/5000"),
            "-o",
            path_arg(&stats),
            &url("/stats"),
        ],
        CLIENT_WITHIN,
    );
    let reused = out
        .stderr
        .lines()
        .filter(|l| l.contains("Re-using existing connection"))
        .count();
    assert_eq!(reused, 2, "curl -v:\n{}", out.stderr);
    assert_eq!(
        std::fs::read(&second).expect("second body"),
        (0..5000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>()
    );
    // The server saw one connection for the three requests.
    let json = std::fs::read(&stats).expect("stats body");
    let http = python(
        &ns,
        "import json,sys; h=json.load(sys.stdin)['http']; \
         print(h['connections'], h['responses'])",
        &json,
    );
    let counts: Vec<u64> = http
        .split_whitespace()
        .map(|n| n.parse().expect("a number"))
        .collect();
    assert_eq!(
        counts.first(),
        Some(&1),
        "http connections, responses: {http}"
    );
    stop(&mut stack);
    took("http_requests_share_one_persistent_connection", started);
}

/// `(connect, read, write, timeout)` of wrk's "Socket errors" line, zeros when it is absent.
fn wrk_socket_errors(out: &str) -> [u64; 4] {
    let Some(line) = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Socket errors:"))
    else {
        return [0; 4];
    };
    let mut counts = [0; 4];
    for (slot, name) in counts
        .iter_mut()
        .zip(["connect", "read", "write", "timeout"])
    {
        *slot = line
            .split(',')
            .find_map(|p| p.trim().strip_prefix(name))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no '{name} N' in: {line}"));
    }
    counts
}

#[test]
fn wrk_load_is_served_without_errors() {
    let Some(ns) = Netns::create_or_skip(&["wrk"]) else {
        return;
    };
    let _serial = one_at_a_time();
    let started = Instant::now();
    let mut stack = ns.start_ready(QUICK);
    let out = ns.run(
        &["wrk", "-t2", "-c50", "-d10s", &url("/")],
        b"",
        Duration::from_secs(60),
    );
    let (exit, _) = stop(&mut stack);
    let text = out.stdout_text();
    assert!(
        out.status.success(),
        "wrk failed ({}): {text}{}\n{}",
        out.status,
        out.stderr,
        exit.stdout
    );
    println!("{}", text.trim_end());
    let rps: f64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in: {text}"));
    println!("wrk: {rps:.0} requests/s");
    let requests: u64 = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no 'N requests in' line in: {text}"));
    assert!(requests > 0 && rps > 0.0, "{text}");
    assert_eq!(wrk_socket_errors(&text), [0; 4], "socket errors: {text}");
    let non_2xx = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .map_or(0, |n| n.trim().parse::<u64>().expect("a count"));
    assert_eq!(non_2xx, 0, "{text}");
    took("wrk_load_is_served_without_errors", started);
}

#[test]
fn capture_of_dns_and_http_is_clean() {
    let Some(ns) = Netns::create_or_skip(&["dig", "curl", "tshark"]) else {
        return;
    };
    let _serial = one_at_a_time();
    let started = Instant::now();
    let dir = TempDir::new();
    let path = dir.join("services.pcapng");
    let mut args = QUICK.to_vec();
    args.extend(["--pcap", path_arg(&path)]);
    let mut stack = ns.start_ready(&args);
    let r = dig(&ns, &["tapstack.test", "A"]);
    assert_eq!(r.status, "NOERROR", "{}", r.text);
    let r = dig(&ns, &["+tcp", "-x", ADDR]);
    assert_eq!(r.status, "NOERROR", "{}", r.text);
    let f = fetch(&ns, &dir, &[], &url("/bytes/100000"));
    assert_eq!(f.code, 200, "{f:?}");
    assert_eq!(f.body.len(), 100_000);
    let (exit, _) = stop(&mut stack);
    assert_eq!(frame_count(&path), captured_frames(&exit.stdout));
    assert_capture_clean(&path);
    assert!(count(&path, "dns && udp && ip.src==10.77.0.2") >= 1);
    assert!(count(&path, "dns && tcp && ip.src==10.77.0.2") >= 1);
    assert!(count(&path, "http.response.code==200 && ip.src==10.77.0.2") >= 1);
    took("capture_of_dns_and_http_is_clean", started);
}
