//! The resources (RFC 9110 9.3): `/`, `/stats`, `/bytes/N`, `/upload` and static files, and
//! the replies they make.

use core::fmt::Write as _;
use core::time::Duration;
use std::fs::File;

use sha2::{Digest, Sha256};

use super::files::open_static;
use super::request::{parse_decimal, Method, Request};
use super::{Server, Status, MAX_GENERATED};
use crate::iface::Interface;
use crate::report::Writer;
use crate::time::Instant;

/// Connections listed in `/stats` at most.
const STATS_CONNECTIONS: usize = 256;

/// A response: status, type and body.
#[derive(Debug)]
pub(super) struct Reply {
    pub(super) status: Status,
    pub(super) content_type: &'static str,
    pub(super) body: ReplyBody,
    /// The `Allow` field of a 405 (RFC 9110 15.5.6: "The origin server MUST generate an Allow
    /// header field in a 405 response").
    pub(super) allow: Option<&'static str>,
}

#[derive(Debug)]
pub(super) enum ReplyBody {
    Bytes(Vec<u8>),
    Pattern(u64),
    File(File, u64),
}

impl Reply {
    pub(super) fn ok(content_type: &'static str, body: Vec<u8>) -> Reply {
        Reply {
            status: Status::Ok,
            content_type,
            body: ReplyBody::Bytes(body),
            allow: None,
        }
    }

    pub(super) fn error(status: Status, detail: &str) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: ReplyBody::Bytes(
                format!("{} {}: {detail}\n", status.code(), status.reason()).into_bytes(),
            ),
            allow: None,
        }
    }

    pub(super) fn not_allowed(allow: &'static str) -> Reply {
        Reply {
            allow: Some(allow),
            ..Reply::error(Status::MethodNotAllowed, "method not allowed here")
        }
    }

    pub(super) fn len(&self) -> u64 {
        match &self.body {
            ReplyBody::Bytes(b) => b.len() as u64,
            ReplyBody::Pattern(n) | ReplyBody::File(_, n) => *n,
        }
    }
}

impl Server {
    /// The response to a request that is not an upload.
    pub(super) fn route(&self, now: Instant, iface: &Interface, req: &Request) -> Reply {
        const GET_HEAD: &str = "GET, HEAD";
        let get = matches!(req.method, Method::Get | Method::Head);
        if req.method == Method::Unknown {
            return Reply::error(Status::NotImplemented, "unknown method");
        }
        let path = req.path.as_str();
        if path == "/upload" {
            return Reply::not_allowed("POST");
        }
        if !get {
            return Reply::not_allowed(GET_HEAD);
        }
        if path == "/" {
            // Browsers get the dashboard; other clients (curl's `Accept: */*`) the short page
            // the reference captures hold.
            let page = if req.wants_html {
                self.dashboard(now, iface)
            } else {
                self.home_page(now, iface)
            };
            return Reply::ok("text/html; charset=utf-8", page);
        }
        if path == "/ss" {
            return Reply::ok(
                "text/plain; charset=utf-8",
                super::ss::table(iface).into_bytes(),
            );
        }
        if path == "/stats" {
            return Reply::ok("application/json", self.stats_json(now, iface).into_bytes());
        }
        if let Some(n) = path.strip_prefix("/bytes/") {
            return match parse_decimal(n.as_bytes()) {
                Some(n) if n <= MAX_GENERATED => Reply {
                    status: Status::Ok,
                    content_type: "application/octet-stream",
                    body: ReplyBody::Pattern(n),
                    allow: None,
                },
                Some(_) => Reply::error(Status::BadRequest, "at most 1073741824 bytes"),
                None => Reply::error(Status::NotFound, "/bytes/N takes a decimal N"),
            };
        }
        match &self.www {
            Some(root) => match open_static(root, path) {
                Ok((file, len, content_type)) => Reply {
                    status: Status::Ok,
                    content_type,
                    body: ReplyBody::File(file, len),
                    allow: None,
                },
                Err(r) => Reply::error(r.status, r.detail),
            },
            None => Reply::error(Status::NotFound, "no such resource"),
        }
    }

    fn uptime(&self, now: Instant) -> Duration {
        self.started
            .map_or(Duration::ZERO, |s| now.saturating_duration_since(s))
    }

    /// `/` for browsers: the live dashboard, drawn from `/stats`.
    pub(super) fn dashboard(&self, now: Instant, iface: &Interface) -> Vec<u8> {
        super::dashboard::page(&self.stats_json(now, iface))
    }

    /// `/` for other clients: a page about the host. Its text is also in the reference captures' expected
    /// replies, so it changes only with them.
    pub(super) fn home_page(&self, now: Instant, iface: &Interface) -> Vec<u8> {
        let c = iface.config();
        let addr = iface
            .ipv4()
            .map_or_else(|| "none".to_owned(), |a| a.to_string());
        let up = self.uptime(now).as_secs();
        // With IPv6 off the page stays as it always was (reference captures replay it).
        let v6 = if c.ipv6.is_none() {
            String::new()
        } else {
            let list: Vec<String> = iface
                .ipv6_addresses()
                .iter()
                .map(|a| format!("{} ({}, {})", a.cidr, a.origin.name(), a.state.name()))
                .collect();
            format!(
                "<li>IPv6 addresses: {}</li>\n",
                html_escape(&list.join(", "))
            )
        };
        let mut s = String::with_capacity(2048);
        let _ = write!(
            s,
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>tapstack</title></head>\n\
             <body>\n<h1>tapstack</h1>\n\
             <p>You are talking to <b>tapstack</b>, a TCP/IP stack written from scratch in Rust that \
             runs in user space on a TAP device. This page came to you over its own ARP, IPv4 and \
             TCP, not the kernel's.</p>\n\
             <ul>\n<li>IPv4 address: {}</li>\n{}<li>MAC address: {}</li>\n\
             <li>Up for: {}h {}m {}s</li>\n<li>MTU: {}</li>\n</ul>\n\
             <ul>\n<li><a href=\"/stats\">/stats</a>: counters, ARP cache and TCP connections (JSON)</li>\n\
             <li><a href=\"/bytes/1048576\">/bytes/N</a>: N generated bytes, byte i is i mod 251</li>\n\
             <li>POST /upload: answers the body's length and SHA-256</li>\n</ul>\n\
             </body></html>\n",
            html_escape(&addr),
            v6,
            html_escape(&c.mac.to_string()),
            up / 3600,
            up / 60 % 60,
            up % 60,
            c.mtu,
        );
        s.into_bytes()
    }

    /// `/stats`: the reports of the interface and the modules it holds, and the server's own,
    /// assembled into one JSON object.
    pub(super) fn stats_json(&self, now: Instant, iface: &Interface) -> String {
        let mut s = String::with_capacity(4096);
        Writer::new(&mut s).object(|w| {
            w.key("uptime_ms").number(self.uptime(now).as_millis());
            w.key("interface");
            iface.report(w);
            w.key("dhcp");
            match iface.dhcp() {
                Some(client) => client.report(now, w),
                None => w.null(),
            }
            iface.stats().report(w);
            w.key("arp");
            iface.report_arp(now, w);
            w.key("ipv6");
            iface.report_ipv6(now, w);
            w.key("footprint");
            iface.footprint().report(w);
            w.key("tcp");
            iface.tcp().report(STATS_CONNECTIONS, w);
            w.key("http");
            self.report(w);
            w.key("history");
            self.history.report(w);
        });
        s.push('\n');
        s
    }

    /// Writes the server's counters and open connections as an object.
    pub fn report(&self, w: &mut Writer<'_>) {
        let h = &self.counters;
        w.object(|w| {
            w.key("connections").number(h.connections);
            w.key("open").number(self.conns.len());
            w.key("refused").number(h.refused);
            w.key("responses").number(h.responses);
            w.key("errors").number(h.errors);
            w.key("timeouts").number(h.timeouts);
            w.key("body_bytes_in").number(h.body_bytes_in);
        });
    }
}

/// The answer to an upload: its length and SHA-256, as JSON.
pub(super) fn upload_reply(len: u64, digest: Sha256) -> Reply {
    let mut body = format!("{{\"length\":{len},\"sha256\":\"");
    for b in digest.finalize() {
        let _ = write!(body, "{b:02x}");
    }
    body.push_str("\"}\n");
    Reply::ok("application/json", body.into_bytes())
}

pub(super) fn html_escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for ch in v.chars() {
        match ch {
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '&' => s.push_str("&amp;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&#39;"),
            c => s.push(c),
        }
    }
    s
}
