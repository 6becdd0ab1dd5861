//! `/ss`: the host's sockets as plain text, laid out like `ss -tuan`: UDP sockets, TCP
//! listeners, then TCP connections, with their queues and addresses.

use core::fmt::Write as _;

use crate::iface::Interface;
use crate::tcp::State;

/// `ss`'s short names for the states.
fn state(s: State) -> &'static str {
    match s {
        State::Established => "ESTAB",
        State::SynReceived => "SYN-RECV",
        other => other.name(),
    }
}

/// The table, one line per socket, columns padded to their widest cell.
pub(super) fn table(iface: &Interface) -> String {
    let mut lines: Vec<[String; 6]> = vec![[
        "Netid".into(),
        "State".into(),
        "Recv-Q".into(),
        "Send-Q".into(),
        "Local Address:Port".into(),
        "Peer Address:Port".into(),
    ]];
    // Services listen on every address the host has.
    let any = if iface.config().ipv6.is_some() {
        "*"
    } else {
        "0.0.0.0"
    };
    for (port, rx, tx) in iface.udp().sockets() {
        lines.push([
            "udp".into(),
            "UNCONN".into(),
            rx.to_string(),
            tx.to_string(),
            format!("{any}:{port}"),
            format!("{any}:*"),
        ]);
    }
    for (port, queued, backlog) in iface.tcp().listeners() {
        lines.push([
            "tcp".into(),
            "LISTEN".into(),
            queued.to_string(),
            backlog.to_string(),
            format!("{any}:{port}"),
            format!("{any}:*"),
        ]);
    }
    for c in iface.tcp().iter() {
        lines.push([
            "tcp".into(),
            state(c.state()).into(),
            c.recv_queue().to_string(),
            c.send_queue().to_string(),
            c.local().to_string(),
            c.remote().to_string(),
        ]);
    }
    let mut width = [0; 6];
    for l in &lines {
        for (w, cell) in width.iter_mut().zip(l) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::with_capacity(lines.len() * 80);
    for l in &lines {
        // Like ss: text columns to the left, queues and local addresses to the right.
        let _ = write!(
            out,
            "{:<w0$} {:<w1$} {:>w2$} {:>w3$} {:>w4$} {:<w5$}",
            l[0],
            l[1],
            l[2],
            l[3],
            l[4],
            l[5],
            w0 = width[0],
            w1 = width[1],
            w2 = width[2],
            w3 = width[3],
            w4 = width[4],
            w5 = width[5],
        );
        let end = out.trim_end().len();
        out.truncate(end);
        out.push('\n');
    }
    out
}
