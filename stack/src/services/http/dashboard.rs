//! The dashboard at `/` for browsers: the host's addresses, its ARP and NDP caches, TCP
//! connections, counters, drops by reason, and charts of frames/s and bytes/s over the last
//! minute. Everything is rendered here from the `/stats` object, so the page is complete
//! without JavaScript; a small inline script fetches `/stats` once a second and redraws the
//! same tables and charts in the browser. No external assets.

use core::fmt::Write as _;

use serde_json::Value;

use super::history::SAMPLES;
use super::routes::html_escape;

/// The tables of the page: the `id` of their body, and their column headings.
const TABLES: [(&str, &str, &[&str]); 7] = [
    ("addresses", "Addresses", &["name", "value"]),
    (
        "tcp",
        "TCP connections",
        &[
            "local",
            "remote",
            "state",
            "bytes in",
            "bytes out",
            "cwnd",
            "srtt ms",
            "retransmits",
        ],
    ),
    (
        "arp",
        "ARP cache",
        &["IPv4", "state", "MAC", "expires in s"],
    ),
    ("ndp", "NDP cache", &["IPv6", "state", "MAC", "router"]),
    ("drops", "Drops by reason", &["reason", "frames"]),
    ("counters", "Counters", &["counter", "value"]),
    ("http", "HTTP server", &["counter", "value"]),
];

/// A cell's text: strings as they are, numbers in decimal, `-` for null, yes or no.
fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A number of thousandths as units with one decimal, or `-`.
fn thousandths(v: &Value) -> Value {
    v.as_f64()
        .map_or(Value::Null, |x| Value::String(format!("{:.1}", x / 1000.0)))
}

fn uptime(ms: u64) -> String {
    let s = ms / 1000;
    format!("{}h {}m {}s", s / 3600, s / 60 % 60, s % 60)
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn members(v: &Value) -> Vec<Vec<Value>> {
    v.as_object().map_or_else(Vec::new, |o| {
        o.iter().map(|(k, n)| vec![s(k), n.clone()]).collect()
    })
}

/// The rows of each table, as the script computes them too.
fn rows(st: &Value, id: &str) -> Vec<Vec<Value>> {
    match id {
        "addresses" => {
            let i = &st["interface"];
            let mut a = vec![
                vec![s("MAC"), i["mac"].clone()],
                vec![
                    s("IPv4"),
                    if i["ipv4"].is_null() {
                        s("none")
                    } else {
                        i["ipv4"].clone()
                    },
                ],
                vec![s("Gateway"), i["gateway"].clone()],
                vec![s("MTU"), i["mtu"].clone()],
            ];
            for x in array(&st["ipv6"], "addresses") {
                a.push(vec![
                    s("IPv6"),
                    Value::String(format!(
                        "{} ({}, {})",
                        text(&x["address"]),
                        text(&x["origin"]),
                        text(&x["state"])
                    )),
                ]);
            }
            if !st["dhcp"].is_null() {
                a.push(vec![s("DHCP"), st["dhcp"]["state"].clone()]);
            }
            a.push(vec![
                s("Up for"),
                Value::String(uptime(st["uptime_ms"].as_u64().unwrap_or(0))),
            ]);
            a
        }
        "tcp" => array(&st["tcp"], "connections")
            .iter()
            .map(|c| {
                let k = &c["counters"];
                vec![
                    c["local"].clone(),
                    c["remote"].clone(),
                    c["state"].clone(),
                    k["bytes_in"].clone(),
                    k["bytes_out"].clone(),
                    c["cwnd"].clone(),
                    thousandths(&c["srtt_us"]),
                    k["retransmits"].clone(),
                ]
            })
            .collect(),
        "arp" => st["arp"]
            .as_array()
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .map(|e| {
                vec![
                    e["ip"].clone(),
                    e["state"].clone(),
                    e["mac"].clone(),
                    thousandths(&e["expires_in_ms"]),
                ]
            })
            .collect(),
        "ndp" => array(&st["ipv6"], "ndp")
            .iter()
            .map(|e| {
                vec![
                    e["ip"].clone(),
                    e["state"].clone(),
                    e["mac"].clone(),
                    e["router"].clone(),
                ]
            })
            .collect(),
        "drops" => members(&st["drops"]),
        "counters" => members(&st["counters"]),
        "http" => members(&st["http"]),
        _ => Vec::new(),
    }
}

fn table_body(out: &mut String, rows: &[Vec<Value>], columns: usize) {
    if rows.is_empty() {
        let _ = writeln!(out, "<tr><td colspan=\"{columns}\">none</td></tr>");
    }
    for r in rows {
        out.push_str("<tr>");
        for c in r {
            let _ = write!(out, "<td>{}</td>", html_escape(&text(c)));
        }
        out.push_str("</tr>\n");
    }
}

/// An SVG chart of two series (received and sent) over the last minute, right-aligned.
fn chart(samples: &[Value], rx: usize, tx: usize, unit: &str) -> String {
    let get = |s: &Value, i: usize| s.get(i).and_then(Value::as_f64).unwrap_or(0.0);
    let max = samples
        .iter()
        .map(|s| get(s, rx).max(get(s, tx)))
        .fold(1.0_f64, f64::max);
    let mut out = format!(
        "<svg viewBox=\"0 0 600 130\" width=\"600\" height=\"130\" role=\"img\" \
         aria-label=\"{unit} over the last minute\">\
         <rect x=\"0\" y=\"0\" width=\"600\" height=\"130\" fill=\"#f8f8f8\" stroke=\"#ccc\"/>\
         <text x=\"6\" y=\"14\" font-size=\"12\">{unit}, peak {max}: \
         <tspan fill=\"#1565c0\">received</tspan> <tspan fill=\"#c62828\">sent</tspan></text>"
    );
    let first = SAMPLES.saturating_sub(samples.len());
    for (i, colour) in [(rx, "#1565c0"), (tx, "#c62828")] {
        if samples.is_empty() {
            break;
        }
        let _ = write!(
            out,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\""
        );
        let mut last = (0, 0.0);
        for (n, smp) in samples.iter().enumerate() {
            let x = (first + n) * 10 + 5;
            let y = 125.0 - get(smp, i) / max * 100.0;
            let _ = write!(out, "{}{x},{y:.1}", if n == 0 { "" } else { " " });
            last = (x, y);
        }
        // The latest second marked, so a single sample shows too.
        let _ = write!(
            out,
            "\"/><circle cx=\"{}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{colour}\"/>",
            last.0, last.1
        );
    }
    out.push_str("</svg>");
    out
}

/// The page for the `/stats` object `stats` (its text).
pub(super) fn page(stats: &str) -> Vec<u8> {
    let st: Value = serde_json::from_str(stats).unwrap_or(Value::Null);
    let samples = array(&st["history"], "samples");
    let mut out = String::with_capacity(16 * 1024);
    out.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <link rel=\"icon\" href=\"data:,\">\
         <title>tapstack</title>\n<style>\n\
         body{font-family:sans-serif;margin:1em 2em;color:#222}\n\
         table{border-collapse:collapse;margin-bottom:1em}\n\
         td,th{border:1px solid #ccc;padding:2px 8px;text-align:left;font-size:14px}\n\
         th{background:#eee}\n\
         .charts{display:flex;flex-wrap:wrap;gap:1em}\n\
         .cols{display:flex;flex-wrap:wrap;gap:2em;align-items:flex-start}\n\
         </style></head>\n<body>\n<h1>tapstack</h1>\n\
         <p>You are talking to <b>tapstack</b>, a TCP/IP stack written from scratch in Rust that \
         runs in user space on a TAP device. This page came to you over its own ARP, IPv4 and \
         TCP, not the kernel's.</p>\n",
    );
    let _ = writeln!(
        out,
        "<p id=\"status\">As of uptime {}; with JavaScript this page refreshes from \
         <a href=\"/stats\">/stats</a> every second.</p>",
        uptime(st["uptime_ms"].as_u64().unwrap_or(0))
    );
    out.push_str("<h2>Traffic over the last minute</h2>\n<div class=\"charts\">\n");
    let _ = writeln!(
        out,
        "<div id=\"frames\">{}</div>\n<div id=\"bytes\">{}</div>\n</div>",
        chart(samples, 0, 1, "frames/s"),
        chart(samples, 2, 3, "bytes/s")
    );
    for (n, (id, title, heads)) in TABLES.iter().enumerate() {
        // The small tables side by side: caches next to each other, counters next to drops.
        if n == 2 || n == 4 {
            out.push_str("<div class=\"cols\">\n");
        }
        let _ = write!(out, "<section>\n<h2>{title}</h2>\n<table><thead><tr>");
        for h in *heads {
            let _ = write!(out, "<th>{h}</th>");
        }
        let _ = writeln!(out, "</tr></thead>\n<tbody id=\"{id}\">");
        table_body(&mut out, &rows(&st, id), heads.len());
        out.push_str("</tbody></table>\n</section>\n");
        if n == 3 || n == 6 {
            out.push_str("</div>\n");
        }
    }
    out.push_str(
        "<h2>More</h2>\n<ul>\n\
         <li><a href=\"/stats\">/stats</a>: all of the above and more, as JSON</li>\n\
         <li><a href=\"/ss\">/ss</a>: the sockets, as plain text like <code>ss -tuan</code></li>\n\
         <li><a href=\"/bytes/1048576\">/bytes/N</a>: N generated bytes, byte i is i mod 251</li>\n\
         <li>POST /upload: answers the body's length and SHA-256</li>\n</ul>\n",
    );
    out.push_str("<script>\n");
    out.push_str(SCRIPT);
    out.push_str("</script>\n</body></html>\n");
    out.into_bytes()
}

/// The script: the same rows and charts as above, from `/stats`, once a second.
const SCRIPT: &str = r##""use strict";
(function () {
  var refreshes = 0;
  var SAMPLES = 60;
  function esc(v) {
    return String(v).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function text(v) {
    if (v === null || v === undefined) { return "-"; }
    if (typeof v === "boolean") { return v ? "yes" : "no"; }
    return String(v);
  }
  function thousandths(v) { return typeof v === "number" ? (v / 1000).toFixed(1) : null; }
  function uptime(ms) {
    var s = Math.floor((ms || 0) / 1000);
    return Math.floor(s / 3600) + "h " + Math.floor(s / 60) % 60 + "m " + s % 60 + "s";
  }
  function members(o) {
    return Object.keys(o || {}).map(function (k) { return [k, o[k]]; });
  }
  function rows(st, id) {
    var i = st.interface || {}, v6 = st.ipv6 || {}, tcp = st.tcp || {};
    switch (id) {
      case "addresses":
        var a = [["MAC", i.mac], ["IPv4", i.ipv4 === null ? "none" : i.ipv4],
                 ["Gateway", i.gateway], ["MTU", i.mtu]];
        (v6.addresses || []).forEach(function (x) {
          a.push(["IPv6", text(x.address) + " (" + text(x.origin) + ", " + text(x.state) + ")"]);
        });
        if (st.dhcp) { a.push(["DHCP", st.dhcp.state]); }
        a.push(["Up for", uptime(st.uptime_ms)]);
        return a;
      case "tcp":
        return (tcp.connections || []).map(function (c) {
          var k = c.counters || {};
          return [c.local, c.remote, c.state, k.bytes_in, k.bytes_out, c.cwnd,
                  thousandths(c.srtt_us), k.retransmits];
        });
      case "arp":
        return (st.arp || []).map(function (e) {
          return [e.ip, e.state, e.mac, thousandths(e.expires_in_ms)];
        });
      case "ndp":
        return (v6.ndp || []).map(function (e) { return [e.ip, e.state, e.mac, e.router]; });
      case "drops": return members(st.drops);
      case "counters": return members(st.counters);
      case "http": return members(st.http);
    }
    return [];
  }
  function fill(st, id) {
    var body = document.getElementById(id);
    if (!body) { return; }
    var list = rows(st, id), h = "";
    list.forEach(function (r) {
      h += "<tr>" + r.map(function (c) { return "<td>" + esc(text(c)) + "</td>"; }).join("") + "</tr>\n";
    });
    if (!list.length) {
      h = '<tr><td colspan="' + body.parentNode.querySelectorAll("th").length + '">none</td></tr>\n';
    }
    body.innerHTML = h;
  }
  function chart(samples, rx, tx, unit) {
    function get(s, i) { return typeof s[i] === "number" ? s[i] : 0; }
    var max = 1;
    samples.forEach(function (s) { max = Math.max(max, get(s, rx), get(s, tx)); });
    var out = '<svg viewBox="0 0 600 130" width="600" height="130" role="img" aria-label="' +
      unit + ' over the last minute"><rect x="0" y="0" width="600" height="130" fill="#f8f8f8" ' +
      'stroke="#ccc"/><text x="6" y="14" font-size="12">' + unit + ", peak " + max +
      ': <tspan fill="#1565c0">received</tspan> <tspan fill="#c62828">sent</tspan></text>';
    var first = Math.max(0, SAMPLES - samples.length);
    if (samples.length) {
      [[rx, "#1565c0"], [tx, "#c62828"]].forEach(function (p) {
        var pts = samples.map(function (s, n) {
          return ((first + n) * 10 + 5) + "," + (125 - get(s, p[0]) / max * 100).toFixed(1);
        });
        var end = pts[pts.length - 1].split(",");
        out += '<polyline fill="none" stroke="' + p[1] + '" stroke-width="1.5" points="' +
          pts.join(" ") + '"/><circle cx="' + end[0] + '" cy="' + end[1] + '" r="2.5" fill="' +
          p[1] + '"/>';
      });
    }
    return out + "</svg>";
  }
  function render(st) {
    ["addresses", "tcp", "arp", "ndp", "drops", "counters", "http"].forEach(function (id) {
      fill(st, id);
    });
    var samples = (st.history && st.history.samples) || [];
    document.getElementById("frames").innerHTML = chart(samples, 0, 1, "frames/s");
    document.getElementById("bytes").innerHTML = chart(samples, 2, 3, "bytes/s");
  }
  function status(t) { document.getElementById("status").textContent = t; }
  function tick() {
    fetch("/stats", { cache: "no-store" }).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    }).then(function (st) {
      render(st);
      refreshes += 1;
      document.body.setAttribute("data-refreshes", String(refreshes));
      status("Live: refreshed from /stats every second; up for " + uptime(st.uptime_ms) + ".");
    }).catch(function (e) {
      status("Refreshing from /stats failed (" + e.message + "); trying again.");
    }).then(function () { setTimeout(tick, 1000); });
  }
  tick();
})();
"##;
