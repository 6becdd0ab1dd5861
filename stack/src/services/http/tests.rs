//! The HTTP server on one tapstack interface, a raw TCP client on another, over the in-memory
//! wire under virtual time.

// A test module: its parent declares it under #[cfg(test)], so it may unwrap.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::time::Duration;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::*;
use crate::device::memory::{exchange, Endpoint, Pace, Served, Stepper, Wire};
use crate::time::earliest;
use crate::{Config as IfaceConfig, MacAddr};

const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn iface(ip: Ipv4Addr, last: u8, seed: u64) -> Interface {
    let mut c = IfaceConfig::new(
        MacAddr([2, 0, 0, 0, 0, last]),
        Some(format!("{ip}/24").parse().unwrap()),
    );
    c.seed = seed;
    c.arp.probe_count = 0;
    c.arp.announce_count = 0;
    c.tcp.time_wait = Duration::from_secs(2);
    Interface::new(c).unwrap()
}

struct Net {
    wire: Wire,
    client: Interface,
    host: Interface,
    server: Server,
    now: Instant,
}

impl Stepper for Net {
    fn now(&self) -> Instant {
        self.now
    }

    fn step(&mut self) {
        let now = self.now;
        let mut host = Served {
            iface: &mut self.host,
            service: &mut self.server,
        };
        exchange(&mut self.wire, now, &mut self.client, &mut host);
        let next = earliest(
            earliest(self.client.poll_at(), host.poll_at(now)),
            self.wire.poll_at(),
        );
        // Time moves in steps of at most a tick, so that the client (acting between steps)
        // is never late by a server timeout.
        self.now = Pace::ticks(Duration::from_millis(50)).next(now, next);
    }
}

impl Net {
    fn new(config: Config) -> Net {
        let mut host = iface(SERVER_IP, 2, 2);
        let server = Server::listen(&mut host, PORT, config).unwrap();
        let mut n = Net {
            wire: Wire::new(1500),
            client: iface(CLIENT_IP, 1, 1),
            host,
            server,
            now: Instant::ZERO,
        };
        n.step();
        n
    }

    /// Delivers what is due, polls both sides (the server before its interface, as `Host`
    /// does), and moves time to the next deadline or by a tick.
    fn step(&mut self) {
        Stepper::step(self);
    }

    fn run_until(&mut self, done: impl FnMut(&mut Net) -> bool, limit: Duration) {
        if let Err(e) = Stepper::run_until(self, done, limit, 1_999_999) {
            panic!("{e}");
        }
    }

    fn connect(&mut self) -> tcp::Handle {
        let h = self
            .client
            .tcp_connect(self.now, SocketAddr::new(IpAddr::V4(SERVER_IP), PORT))
            .unwrap();
        self.run_until(
            |n| {
                n.client
                    .tcp_connection(h)
                    .is_some_and(|c| c.state() == tcp::State::Established)
            },
            Duration::from_secs(5),
        );
        h
    }

    /// Sends `data` on `h` and reads until `done(received, eof)`; returns what arrived and
    /// whether the server closed.
    fn talk(
        &mut self,
        h: tcp::Handle,
        data: &[u8],
        mut done: impl FnMut(&[u8], bool) -> bool,
        limit: Duration,
    ) -> (Vec<u8>, bool) {
        let mut sent = 0;
        let mut got = Vec::new();
        let mut eof = false;
        let mut buf = vec![0u8; 65536];
        self.run_until(
            |n| {
                if sent < data.len() {
                    sent += n.client.tcp_send(h, &data[sent..]).unwrap_or(0);
                }
                loop {
                    match n.client.tcp_recv(h, &mut buf) {
                        Ok(0) => break,
                        Ok(k) => got.extend_from_slice(&buf[..k]),
                        Err(_) => {
                            eof = true;
                            break;
                        }
                    }
                }
                done(&got, eof) || (eof && sent == data.len())
            },
            limit,
        );
        (got, eof)
    }

    /// One connection: sends `request`, reads `heads.len()` responses (a `true` marks the
    /// answer to a HEAD). Returns them and whether the server closed.
    fn exchange(&mut self, request: &[u8], heads: &[bool]) -> (Vec<Response>, bool) {
        let h = self.connect();
        let (got, eof) = self.talk(
            h,
            request,
            |got, _| parse_responses(got, heads).is_some(),
            Duration::from_secs(60),
        );
        let responses = parse_responses(&got, heads)
            .unwrap_or_else(|| panic!("incomplete: {:?}", String::from_utf8_lossy(&got)));
        self.client.tcp_close(h);
        (responses, eof)
    }

    /// One request on a new connection, one response.
    fn get(&mut self, request: &str) -> Response {
        let head = request.starts_with("HEAD ");
        self.exchange(request.as_bytes(), &[head]).0.remove(0)
    }

    /// The server still answers a plain request.
    fn assert_serving(&mut self) {
        let r = self.get("GET /bytes/10 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, pattern(10));
    }
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Parses `heads.len()` responses (skipping 1xx) with Content-Length bodies; `None` while
/// incomplete.
fn parse_responses(mut buf: &[u8], heads: &[bool]) -> Option<Vec<Response>> {
    let mut out = Vec::new();
    while out.len() < heads.len() {
        let mut hs = [httparse::EMPTY_HEADER; 32];
        let mut r = httparse::Response::new(&mut hs);
        let len = match r.parse(buf).unwrap() {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => return None,
        };
        let status = r.code.unwrap();
        let headers: Vec<(String, String)> = r
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8(h.value.to_vec()).unwrap(),
                )
            })
            .collect();
        buf = &buf[len..];
        if status < 200 {
            continue;
        }
        let cl: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .expect("Content-Length")
            .1
            .parse()
            .unwrap();
        let body_len = if heads[out.len()] { 0 } else { cl };
        if buf.len() < body_len {
            return None;
        }
        out.push(Response {
            status,
            headers,
            body: buf[..body_len].to_vec(),
        });
        buf = &buf[body_len..];
    }
    assert!(
        buf.is_empty(),
        "extra bytes: {:?}",
        String::from_utf8_lossy(buf)
    );
    Some(out)
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 1000) as u8).collect()
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A small JSON validator (RFC 8259): the whole input must be exactly one value.
fn valid_json(s: &str) -> bool {
    fn ws(b: &[u8], i: &mut usize) {
        while b.get(*i).is_some_and(|c| b" \t\r\n".contains(c)) {
            *i += 1;
        }
    }
    fn lit(b: &[u8], i: &mut usize, l: &[u8]) -> bool {
        if b.get(*i..*i + l.len()) == Some(l) {
            *i += l.len();
            true
        } else {
            false
        }
    }
    fn string(b: &[u8], i: &mut usize) -> bool {
        if b.get(*i) != Some(&b'"') {
            return false;
        }
        *i += 1;
        loop {
            match b.get(*i) {
                None => return false,
                Some(b'"') => {
                    *i += 1;
                    return true;
                }
                Some(b'\\') => match b.get(*i + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => *i += 2,
                    Some(b'u') => {
                        let hex = b.get(*i + 2..*i + 6);
                        if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                            return false;
                        }
                        *i += 6;
                    }
                    _ => return false,
                },
                Some(c) if *c < 0x20 => return false,
                Some(_) => *i += 1,
            }
        }
    }
    fn number(b: &[u8], i: &mut usize) -> bool {
        let start = *i;
        if b.get(*i) == Some(&b'-') {
            *i += 1;
        }
        let digits = |i: &mut usize| {
            let s = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i > s
        };
        if b.get(*i) == Some(&b'0') {
            *i += 1;
        } else if !digits(i) {
            return false;
        }
        if b.get(*i) == Some(&b'.') {
            *i += 1;
            if !digits(i) {
                return false;
            }
        }
        if matches!(b.get(*i), Some(b'e' | b'E')) {
            *i += 1;
            if matches!(b.get(*i), Some(b'+' | b'-')) {
                *i += 1;
            }
            if !digits(i) {
                return false;
            }
        }
        std::str::from_utf8(&b[start..*i])
            .unwrap()
            .parse::<f64>()
            .is_ok()
    }
    fn value(b: &[u8], i: &mut usize, depth: usize) -> bool {
        if depth > 64 {
            return false;
        }
        ws(b, i);
        let ok = match b.get(*i) {
            Some(b'{') => {
                *i += 1;
                ws(b, i);
                if b.get(*i) == Some(&b'}') {
                    *i += 1;
                    true
                } else {
                    loop {
                        ws(b, i);
                        if !string(b, i) {
                            return false;
                        }
                        ws(b, i);
                        if !lit(b, i, b":") || !value(b, i, depth + 1) {
                            return false;
                        }
                        ws(b, i);
                        if lit(b, i, b",") {
                            continue;
                        }
                        break lit(b, i, b"}");
                    }
                }
            }
            Some(b'[') => {
                *i += 1;
                ws(b, i);
                if b.get(*i) == Some(&b']') {
                    *i += 1;
                    true
                } else {
                    loop {
                        if !value(b, i, depth + 1) {
                            return false;
                        }
                        ws(b, i);
                        if lit(b, i, b",") {
                            continue;
                        }
                        break lit(b, i, b"]");
                    }
                }
            }
            Some(b'"') => string(b, i),
            Some(b't') => lit(b, i, b"true"),
            Some(b'f') => lit(b, i, b"false"),
            Some(b'n') => lit(b, i, b"null"),
            Some(_) => number(b, i),
            None => false,
        };
        ws(b, i);
        ok
    }
    let b = s.as_bytes();
    let mut i = 0;
    value(b, &mut i, 0) && i == b.len()
}

#[test]
fn json_validator_rejects_what_it_should() {
    assert!(valid_json(r#"{"a":[1,-2.5e3,"x\n",true,null,{}],"b":{}}"#));
    for bad in [
        r#"{"a":1,}"#,
        r#"{"a" 1}"#,
        "[1 2]",
        "01",
        r#""\x""#,
        "{",
        "[]]",
    ] {
        assert!(!valid_json(bad), "{bad}");
    }
}

#[test]
fn root_page_is_html_about_the_host() {
    let mut n = Net::new(Config::default());
    let r = n.get("GET / HTTP/1.1\r\nHost: 10.0.0.2\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("server"), Some("tapstack"));
    assert_eq!(r.header("date"), None);
    assert_eq!(
        r.header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap(),
        r.body.len()
    );
    let html = r.text();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("10.0.0.2/24"), "{html}");
    assert!(html.contains("02:00:00:00:00:02"), "{html}");
    assert!(html.contains("Up for:"), "{html}");
}

#[test]
fn stats_is_valid_json_with_counters_and_connections() {
    let mut n = Net::new(Config::default());
    let r = n.get("GET /stats HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let json = r.text();
    assert!(valid_json(&json), "{json}");
    assert!(json.contains("\"rx_frames\":"), "{json}");
    assert!(json.contains("\"state\":\"ESTABLISHED\""), "{json}");
    assert!(json.contains("\"remote\":\"10.0.0.1:"), "{json}");
    assert!(
        json.contains("\"ip\":\"10.0.0.1\",\"state\":\"resolved\""),
        "{json}"
    );
    assert!(json.contains("\"cwnd\":"), "{json}");
}

#[test]
fn json_strings_are_escaped() {
    let mut s = String::new();
    crate::report::Writer::new(&mut s).str("a\"b\\c\nd\u{1}é");
    assert_eq!(s, r#""a\"b\\c\nd\u0001é""#);
    assert!(valid_json(&s));
}

#[test]
fn bytes_streams_the_pattern() {
    let mut n = Net::new(Config::default());
    let r = n.get("GET /bytes/1048576 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("1048576"));
    assert_eq!(r.body.len(), 1 << 20);
    assert!(r.body == pattern(1 << 20), "pattern mismatch");
    // Never buffered whole: what the server holds stays within its socket's buffers.
    assert!(n.host.footprint().tcp_buffer_bytes <= 2 * 256 * 1024 + 65536);
}

#[test]
fn bytes_bounds() {
    let mut n = Net::new(Config::default());
    assert_eq!(n.get("GET /bytes/0 HTTP/1.1\r\nHost: x\r\n\r\n").body, b"");
    let r = n.get("GET /bytes/1073741825 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 400);
    assert_eq!(
        n.get("GET /bytes/12x HTTP/1.1\r\nHost: x\r\n\r\n").status,
        404
    );
}

fn upload_json(len: usize, data: &[u8]) -> String {
    format!("{{\"length\":{len},\"sha256\":\"{}\"}}\n", sha256_hex(data))
}

#[test]
fn upload_with_content_length() {
    let mut n = Net::new(Config::default());
    let body = data(300_000);
    let mut req = format!(
        "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let (r, eof) = n.exchange(&req, &[false]);
    assert!(!eof);
    assert_eq!(r[0].status, 200);
    assert_eq!(r[0].text(), upload_json(body.len(), &body));
    assert_eq!(n.server.counters().body_bytes_in, 300_000);
}

#[test]
fn upload_chunked_with_extensions_and_trailer() {
    let mut n = Net::new(Config::default());
    let body = data(200_000);
    let mut req =
        b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let mut rest = &body[..];
    let mut size = 1;
    while !rest.is_empty() {
        let k = size.min(rest.len());
        req.extend_from_slice(format!("{k:X};name=\"v\"\r\n").as_bytes());
        req.extend_from_slice(&rest[..k]);
        req.extend_from_slice(b"\r\n");
        rest = &rest[k..];
        size = size * 3 + 1;
    }
    req.extend_from_slice(b"0\r\nX-Trailer: yes\r\n\r\n");
    // A second request behind it proves the framing ended exactly at the trailer's end.
    req.extend_from_slice(b"GET /bytes/3 HTTP/1.1\r\nHost: x\r\n\r\n");
    let (r, _) = n.exchange(&req, &[false, false]);
    assert_eq!(r[0].status, 200);
    assert_eq!(r[0].text(), upload_json(body.len(), &body));
    assert_eq!(r[1].body, pattern(3));
}

#[test]
fn upload_expect_continue_gets_100() {
    let mut n = Net::new(Config::default());
    let h = n.connect();
    let (got, _) = n.talk(
        h,
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
        |got, _| got.ends_with(b"\r\n\r\n"),
        Duration::from_secs(5),
    );
    assert_eq!(got, b"HTTP/1.1 100 Continue\r\n\r\n");
    let (got, _) = n.talk(
        h,
        b"abc",
        |got, _| parse_responses(got, &[false]).is_some(),
        Duration::from_secs(5),
    );
    let r = parse_responses(&got, &[false]).unwrap();
    assert_eq!(r[0].text(), upload_json(3, b"abc"));
}

#[test]
fn head_has_the_headers_of_get_and_no_body() {
    let mut n = Net::new(Config::default());
    // HEAD then GET on one connection: were a body sent after the HEAD, the second response
    // would not parse.
    let (r, _) = n.exchange(
        b"HEAD /bytes/1000 HTTP/1.1\r\nHost: x\r\n\r\nGET /bytes/1000 HTTP/1.1\r\nHost: x\r\n\r\n",
        &[true, false],
    );
    assert_eq!(r[0].status, 200);
    assert_eq!(r[0].body, b"");
    assert_eq!(r[0].headers, r[1].headers);
    assert_eq!(r[1].body, pattern(1000));
    let head = n.get("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    let get = n.get("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.header("content-length"), get.header("content-length"));
    assert_eq!(head.header("content-type"), get.header("content-type"));
}

#[test]
fn pipelined_requests_are_answered_in_order_and_the_connection_stays() {
    let mut n = Net::new(Config::default());
    let (r, eof) = n.exchange(
        b"GET /bytes/3 HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /bytes/70000 HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /bytes/11 HTTP/1.1\r\nHost: x\r\n\r\n",
        &[false, false, false],
    );
    assert!(!eof);
    let lens: Vec<usize> = r.iter().map(|r| r.body.len()).collect();
    assert_eq!(lens, [3, 70000, 11]);
    assert!(r
        .iter()
        .all(|r| r.status == 200 && r.body == pattern(r.body.len())));
    assert!(r.iter().all(|r| r.header("connection").is_none()));
}

#[test]
fn many_pipelined_requests_are_all_answered() {
    let mut n = Net::new(Config::default());
    let h = n.connect();
    let req = "GET /bytes/7 HTTP/1.1\r\nHost: x\r\n\r\n".repeat(200);
    assert_eq!(n.client.tcp_send(h, req.as_bytes()), Ok(req.len()));
    // One poll answers a bounded share; the rest must not wait for a timer or more input.
    let mut checked = false;
    n.run_until(
        |n| {
            let before = n.now;
            n.step();
            let answered = n.server.counters().responses;
            if answered > 0 && answered < 200 && !checked {
                checked = true;
                assert!(n.server.poll_at().is_some_and(|t| t <= before));
            }
            answered == 200
        },
        Duration::from_secs(5),
    );
    assert!(
        checked,
        "all answered in one poll: the per-poll bound is not exercised"
    );
    let (got, eof) = n.talk(
        h,
        b"",
        |got, _| parse_responses(got, &[false; 200]).is_some(),
        Duration::from_secs(5),
    );
    assert!(!eof);
    let r = parse_responses(&got, &[false; 200]).unwrap();
    assert!(r.iter().all(|r| r.body == pattern(7)));
}

#[test]
fn connection_close_closes() {
    let mut n = Net::new(Config::default());
    let (r, eof) = n.exchange(
        b"GET /bytes/5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        &[false],
    );
    assert_eq!(r[0].header("connection"), Some("close"));
    let h = n.connect();
    let _ = eof;
    // Read until the server's FIN: it must come.
    let (got, eof) = n.talk(
        h,
        b"GET /bytes/5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        |_, eof| eof,
        Duration::from_secs(10),
    );
    assert!(eof);
    assert_eq!(parse_responses(&got, &[false]).unwrap()[0].body, pattern(5));
}

#[test]
fn http_1_0_closes_unless_keep_alive() {
    let mut n = Net::new(Config::default());
    let h = n.connect();
    let (got, eof) = n.talk(
        h,
        b"GET /bytes/4 HTTP/1.0\r\n\r\n",
        |_, eof| eof,
        Duration::from_secs(10),
    );
    assert!(eof);
    assert_eq!(parse_responses(&got, &[false]).unwrap()[0].body, pattern(4));
    let (r, eof) = n.exchange(
        b"GET /bytes/4 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        &[false],
    );
    assert!(!eof);
    assert_eq!(r[0].header("connection"), Some("keep-alive"));
}

/// Sends `request` on a new connection, expects one response with `status` and the connection
/// closed after it (or kept, per `closes`), then checks the server still serves.
fn expect_status(n: &mut Net, request: &[u8], status: u16, closes: bool) -> Response {
    let h = n.connect();
    let (got, eof) = n.talk(
        h,
        request,
        |got, eof| parse_responses(got, &[false]).is_some() && (eof || !closes),
        Duration::from_secs(30),
    );
    let r = parse_responses(&got, &[false])
        .unwrap_or_else(|| panic!("no response: {:?}", String::from_utf8_lossy(&got)))
        .remove(0);
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(eof, closes, "connection closed");
    if closes {
        assert_eq!(r.header("connection"), Some("close"));
    }
    n.client.tcp_close(h);
    n.assert_serving();
    r
}

#[test]
fn not_found_and_method_not_allowed() {
    let mut n = Net::new(Config::default());
    expect_status(&mut n, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404, false);
    let r = expect_status(&mut n, b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", 405, false);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    let r = expect_status(
        &mut n,
        b"GET /upload HTTP/1.1\r\nHost: x\r\n\r\n",
        405,
        false,
    );
    assert_eq!(r.header("allow"), Some("POST"));
    // A body sent to a resource that takes none is read and dropped; the connection goes on.
    let r = expect_status(
        &mut n,
        b"POST /stats HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        405,
        false,
    );
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    expect_status(&mut n, b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n", 501, false);
}

#[test]
fn malformed_requests_get_400_and_close() {
    let mut n = Net::new(Config::default());
    for req in [
        &b"\x16\x03\x01\x02\x00garbage\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET nope HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n",
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        b"POST /upload HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ] {
        expect_status(&mut n, req, 400, true);
    }
    expect_status(
        &mut n,
        b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        501,
        true,
    );
}

#[test]
fn bad_chunks_get_400() {
    let mut n = Net::new(Config::default());
    for chunks in [
        &b"zz\r\nabc\r\n0\r\n\r\n"[..],
        b"3\r\nabcd\r\n0\r\n\r\n",
        b"3\nabc\r\n0\r\n\r\n",
        b"-3\r\nabc\r\n0\r\n\r\n",
        b"3 x\r\nabc\r\n0\r\n\r\n",
        b"11111111111111111\r\n",
        b"3\r\nabc\r\n0\r\nX: y\n\r\n",
    ] {
        let mut req =
            b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        req.extend_from_slice(chunks);
        expect_status(&mut n, &req, 400, true);
    }
}

#[test]
fn chunk_decoder_in_pieces() {
    // Every split point of a valid body decodes to the same content.
    let body = b"4;a=b\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nT: v\r\n\r\n";
    for split in 0..body.len() {
        let mut r = BodyReader::Chunked {
            state: Chunk::SizeStart,
            total: 0,
            trailer: 0,
        };
        let mut out = Vec::new();
        let (a, done_a) = r
            .feed(&body[..split], 1000, 1000, &mut |d| {
                out.extend_from_slice(d)
            })
            .unwrap();
        assert_eq!(a, split);
        assert!(!done_a);
        let (b, done) = r
            .feed(&body[split..], 1000, 1000, &mut |d| {
                out.extend_from_slice(d)
            })
            .unwrap();
        assert_eq!(split + b, body.len());
        assert!(done);
        assert_eq!(out, b"Wikipedia in\r\n\r\nchunks.");
    }
    let mut r = BodyReader::Chunked {
        state: Chunk::SizeStart,
        total: 0,
        trailer: 0,
    };
    assert_eq!(
        r.feed(b"FFFFFFFFFFFFFFFF\r\n", u64::MAX, 100, &mut |_| {}),
        Ok((18, false))
    );
    let mut r = BodyReader::Chunked {
        state: Chunk::SizeStart,
        total: 0,
        trailer: 0,
    };
    assert_eq!(
        r.feed(b"10\r\n", 15, 100, &mut |_| {}),
        Err(BodyError::TooLarge)
    );
}

#[test]
fn body_too_large_gets_413() {
    let mut n = Net::new(Config {
        max_body_bytes: 1000,
        ..Config::default()
    });
    expect_status(
        &mut n,
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n",
        413,
        true,
    );
    let mut req =
        b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        req.extend_from_slice(b"190\r\n");
        req.extend_from_slice(&[b'a'; 400]);
        req.extend_from_slice(b"\r\n");
    }
    expect_status(&mut n, &req, 413, true);
}

#[test]
fn long_uri_gets_414_and_large_head_431() {
    let mut n = Net::new(Config::default());
    let uri = format!("/{}", "a".repeat(5000));
    let req = format!("GET {uri} HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_status(&mut n, req.as_bytes(), 414, true);
    // A request line that never ends.
    let req = format!("GET /{}", "a".repeat(20_000));
    expect_status(&mut n, req.as_bytes(), 414, true);
    let mut req = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for i in 0..200 {
        req.push_str(&format!("X-Filler-{i}: {}\r\n", "v".repeat(40)));
    }
    req.push_str("\r\n");
    expect_status(&mut n, req.as_bytes(), 431, true);
    let mut req = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for i in 0..80 {
        req.push_str(&format!("X-{i}: v\r\n"));
    }
    req.push_str("\r\n");
    expect_status(&mut n, req.as_bytes(), 431, true);
}

#[test]
fn other_versions_get_505() {
    let mut n = Net::new(Config::default());
    expect_status(&mut n, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, true);
    expect_status(&mut n, b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505, true);
    expect_status(&mut n, b"GET / HTTP/0.9\r\nHost: x\r\n\r\n", 505, true);
}

#[test]
fn slow_client_gets_408() {
    let mut n = Net::new(Config {
        header_timeout: Duration::from_secs(3),
        ..Config::default()
    });
    let h = n.connect();
    let start = n.now;
    // A byte each half second: the head never completes and the timeout is not extended.
    let mut got = Vec::new();
    let mut eof = false;
    let mut buf = [0u8; 4096];
    let slow =
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    for &b in slow {
        let _ = n.client.tcp_send(h, &[b]);
        let until = n.now + Duration::from_millis(500);
        n.run_until(|n| n.now >= until, Duration::from_secs(1));
        loop {
            match n.client.tcp_recv(h, &mut buf) {
                Ok(0) => break,
                Ok(k) => got.extend_from_slice(&buf[..k]),
                Err(_) => {
                    eof = true;
                    break;
                }
            }
        }
        if eof {
            break;
        }
    }
    assert!(eof, "server never gave up");
    let elapsed = n.now.saturating_duration_since(start);
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let r = parse_responses(&got, &[false]).unwrap().remove(0);
    assert_eq!(r.status, 408);
    assert_eq!(n.server.counters().timeouts, 1);
    n.client.tcp_close(h);
    n.assert_serving();
}

#[test]
fn silent_connection_gets_408_and_idle_keep_alive_closes() {
    let mut n = Net::new(Config {
        header_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(4),
        ..Config::default()
    });
    let h = n.connect();
    let (got, eof) = n.talk(h, b"", |_, eof| eof, Duration::from_secs(5));
    assert!(eof);
    assert_eq!(parse_responses(&got, &[false]).unwrap()[0].status, 408);
    n.client.tcp_close(h);

    // After a response, an idle connection is closed quietly at the idle timeout.
    let h = n.connect();
    let start = n.now;
    let (got, eof) = n.talk(
        h,
        b"GET /bytes/1 HTTP/1.1\r\nHost: x\r\n\r\n",
        |_, eof| eof,
        Duration::from_secs(10),
    );
    assert!(eof);
    assert!(n.now.saturating_duration_since(start) >= Duration::from_secs(4));
    assert_eq!(parse_responses(&got, &[false]).unwrap()[0].body, pattern(1));
    n.client.tcp_close(h);
    n.run_until(|n| n.server.connections() == 0, Duration::from_secs(10));
}

#[test]
fn connections_beyond_the_limit_get_503() {
    let mut n = Net::new(Config {
        max_connections: 1,
        ..Config::default()
    });
    let first = n.connect();
    n.run_until(|n| n.server.connections() == 1, Duration::from_secs(1));
    let r = expect_status_no_followup(&mut n, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 503);
    assert_eq!(n.server.counters().refused, 1);
    // The first connection is served, and once it goes the next client is too.
    let (got, _) = n.talk(
        first,
        b"GET /bytes/2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        |_, eof| eof,
        Duration::from_secs(10),
    );
    assert_eq!(parse_responses(&got, &[false]).unwrap()[0].body, pattern(2));
    n.client.tcp_close(first);
    n.run_until(|n| n.server.connections() == 0, Duration::from_secs(10));
    n.assert_serving();
}

fn expect_status_no_followup(n: &mut Net, request: &[u8]) -> Response {
    let h = n.connect();
    let (got, _) = n.talk(
        h,
        request,
        |got, eof| eof && parse_responses(got, &[false]).is_some(),
        Duration::from_secs(10),
    );
    n.client.tcp_close(h);
    parse_responses(&got, &[false]).unwrap().remove(0)
}

/// A fresh directory under the system's temporary directory.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("tapstack-http-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn static_files_without_escapes() {
    let tmp = TempDir::new("www");
    let www = tmp.0.join("www");
    std::fs::create_dir_all(www.join("docs")).unwrap();
    std::fs::create_dir_all(www.join("empty")).unwrap();
    std::fs::write(tmp.0.join("secret.txt"), b"top secret").unwrap();
    std::fs::write(www.join("hello.txt"), b"hello, world\n").unwrap();
    std::fs::write(www.join("docs/index.html"), b"<p>docs</p>").unwrap();
    let big = data(500_000);
    std::fs::write(www.join("big.bin"), &big).unwrap();
    std::os::unix::fs::symlink(tmp.0.join("secret.txt"), www.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(&tmp.0, www.join("up")).unwrap();
    std::os::unix::fs::symlink(www.join("hello.txt"), www.join("inside.txt")).unwrap();

    let mut n = Net::new(Config {
        www: Some(www.clone()),
        ..Config::default()
    });
    let r = n.get("GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.body, b"hello, world\n");
    let r = n.get("GET /hello%2etxt?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.body, b"hello, world\n");
    let r = n.get("GET /docs/ HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "<p>docs</p>"));
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let r = n.get("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert!(r.body == big, "file content mismatch");
    let r = n.get("HEAD /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.header("content-length"), Some("500000"));
    // A symlink that stays inside the root is followed.
    assert_eq!(
        n.get("GET /inside.txt HTTP/1.1\r\nHost: x\r\n\r\n").body,
        b"hello, world\n"
    );
    assert_eq!(n.get("GET /empty/ HTTP/1.1\r\nHost: x\r\n\r\n").status, 404);
    assert_eq!(
        n.get("GET /missing.txt HTTP/1.1\r\nHost: x\r\n\r\n").status,
        404
    );
    // The home page stays at /.
    assert!(n
        .get("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .text()
        .contains("tapstack"));

    for attack in [
        "/../secret.txt",
        "/docs/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2e%2fsecret.txt",
        "/docs/..%2f..%2fsecret.txt",
        "/link.txt",
        "/up/secret.txt",
    ] {
        let r = n.get(&format!("GET {attack} HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(r.status == 403 || r.status == 404, "{attack}: {}", r.status);
        assert!(!r.text().contains("top secret"), "{attack}");
    }
    assert_eq!(
        n.get("GET /link.txt HTTP/1.1\r\nHost: x\r\n\r\n").status,
        403
    );
    assert_eq!(n.get("GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n").status, 400);
    n.assert_serving();
}

#[test]
fn request_head_parser_cases() {
    let c = Config::default();
    assert!(matches!(
        parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n", &c),
        Head::Partial
    ));
    let Head::Complete(len, r) =
        parse_head(b"\r\nGET http://h/a?b HTTP/1.1\r\nHost: x\r\n\r\nX", &c)
    else {
        panic!()
    };
    assert_eq!(len, 40);
    assert_eq!(r.path, "/a");
    assert!(!r.close);
    assert!(matches!(
        parse_head(b"GET / HTTP/3.0\r\n", &c),
        Head::Bad(Reject {
            status: Status::VersionNotSupported,
            ..
        })
    ));
}

#[test]
fn browsers_get_the_dashboard_and_ss_lists_sockets() {
    let mut n = Net::new(Config::default());
    let browser = n.get(
        "GET / HTTP/1.1\r\nHost: x\r\nAccept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8\r\n\r\n",
    );
    assert_eq!(browser.status, 200);
    let html = browser.text();
    assert!(html.contains("<tbody id=\"tcp\">"), "{html}");
    assert!(html.contains("fetch(\"/stats\""), "{html}");
    // Without text/html (curl's */*) the short page, with no script.
    let plain = n.get("GET / HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
    assert_eq!(plain.status, 200);
    assert!(!plain.text().contains("<script"), "{}", plain.text());
    let ss = n.get("GET /ss HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(ss.status, 200);
    assert_eq!(ss.header("content-type"), Some("text/plain; charset=utf-8"));
    let text = ss.text();
    assert!(text.starts_with("Netid State"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("tcp") && l.contains("LISTEN")),
        "{text}"
    );
    // The request being answered is on an open connection.
    assert!(text.lines().any(|l| l.contains("ESTAB")), "{text}");
    let stats = n.get("GET /stats HTTP/1.1\r\nHost: x\r\n\r\n").text();
    assert!(
        stats.contains("\"history\":{\"interval_ms\":1000,"),
        "{stats}"
    );
}
