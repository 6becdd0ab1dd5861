//! TCP, UDP, ICMP and ICMPv6: the transport part of an IP packet.

use core::fmt::{self, Write as _};
use core::net::{Ipv4Addr, Ipv6Addr};

use etherparse::{
    Icmpv4Slice, Icmpv4Type, Icmpv6Slice, Icmpv6Type, IpNumber, Ipv4HeaderSlice, TcpOptionElement,
    TcpOptionReadError, TcpSlice, UdpSlice,
};

use super::app::{write_dhcp_summary, write_dns_summary};
use super::check::{self, Pseudo};
use super::{ip_number_name, Fields};

/// The transport part of an IP packet, for its summary.
pub(super) struct Transport<'a> {
    pub(super) proto: IpNumber,
    /// The bytes captured.
    pub(super) data: &'a [u8],
    /// The length the IP header gives (more than `data` when the snaplen cut the frame).
    pub(super) declared: usize,
    pub(super) pseudo: Pseudo,
}

pub(super) fn write_transport_summary(
    f: &mut fmt::Formatter<'_>,
    tr: &Transport<'_>,
    bad: &mut Vec<&'static str>,
) -> fmt::Result {
    let (data, pseudo) = (tr.data, tr.pseudo);
    match tr.proto {
        IpNumber::TCP => match TcpSlice::from_slice(data) {
            Ok(t) => {
                write!(f, "Flags [{}], seq {}", tcp_flags(&t), t.sequence_number())?;
                let len = tr.declared.saturating_sub(t.header_len());
                if len > 0 {
                    write!(
                        f,
                        ":{}",
                        t.sequence_number()
                            .wrapping_add(u32::try_from(len).unwrap_or(u32::MAX))
                    )?;
                }
                if t.ack() {
                    write!(f, ", ack {}", t.acknowledgment_number())?;
                }
                write!(f, ", win {}", t.window_size())?;
                if t.urg() {
                    write!(f, ", urg {}", t.urgent_pointer())?;
                }
                if !t.options().is_empty() {
                    f.write_str(", options [")?;
                    write_tcp_options(f, &t)?;
                    f.write_char(']')?;
                }
                write!(f, ", length {len}")?;
                if check::tcp_want(pseudo, &t).is_some_and(|w| w != t.checksum()) {
                    bad.push("bad TCP checksum");
                }
                Ok(())
            }
            Err(_) => write!(f, "TCP [header cut short, {} bytes]", data.len()),
        },
        IpNumber::UDP => match UdpSlice::from_slice_lax(data) {
            Ok(u) => {
                let len = usize::from(u.length()).saturating_sub(8);
                let body = data.get(8..).unwrap_or_default();
                let body = body.get(..len).unwrap_or(body);
                let (sp, dp) = (u.source_port(), u.destination_port());
                if matches!((sp, dp), (67 | 68, 67 | 68)) {
                    write_dhcp_summary(f, body)?;
                } else if sp == 53 || dp == 53 {
                    write_dns_summary(f, body)?;
                }
                write!(f, "UDP, length {len}")?;
                if check::udp_want(pseudo, &u).is_some_and(|w| w != u.checksum()) {
                    bad.push("bad UDP checksum");
                }
                Ok(())
            }
            Err(_) => write!(f, "UDP [header cut short, {} bytes]", data.len()),
        },
        IpNumber::ICMP => match Icmpv4Slice::from_slice(data) {
            Ok(i) => {
                write_icmpv4_summary(f, &i, tr.declared)?;
                if pseudo.complete() && check::icmpv4_want(&i).is_some_and(|w| w != i.checksum()) {
                    bad.push("bad ICMP checksum");
                }
                Ok(())
            }
            Err(_) => write!(f, "ICMP [header cut short, {} bytes]", data.len()),
        },
        IpNumber::IPV6_ICMP => match Icmpv6Slice::from_slice(data) {
            Ok(i) => {
                write_icmpv6_summary(f, &i, tr.declared)?;
                if check::icmpv6_want(pseudo, &i).is_some_and(|w| w != i.checksum()) {
                    bad.push("bad ICMPv6 checksum");
                }
                Ok(())
            }
            Err(_) => write!(f, "ICMP6 [header cut short, {} bytes]", data.len()),
        },
        other => write!(f, "{}, length {}", ip_number_name(other), tr.declared),
    }
}

/// The datagram an ICMP error quotes: "udp port 9" or "tcp port 80", when it can be read.
pub(super) fn quoted(payload: &[u8]) -> Option<(Ipv4Addr, String)> {
    let h = Ipv4HeaderSlice::from_slice(payload).ok()?;
    let rest = payload.get(h.slice().len()..)?;
    let port = rest
        .get(2..4)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
        .unwrap_or_default();
    let what = match h.protocol() {
        IpNumber::UDP => format!("udp port {port}"),
        IpNumber::TCP => format!("tcp port {port}"),
        other => format!("protocol {}", ip_number_name(other)),
    };
    Some((h.destination_addr(), what))
}

pub(super) fn write_icmpv4_summary(
    f: &mut fmt::Formatter<'_>,
    i: &Icmpv4Slice<'_>,
    len: usize,
) -> fmt::Result {
    use etherparse::icmpv4::DestUnreachableHeader as U;
    f.write_str("ICMP ")?;
    match i.icmp_type() {
        Icmpv4Type::EchoRequest(e) => {
            write!(f, "echo request, id {}, seq {}", e.id, e.seq)?;
        }
        Icmpv4Type::EchoReply(e) => write!(f, "echo reply, id {}, seq {}", e.id, e.seq)?,
        Icmpv4Type::DestinationUnreachable(u) => {
            let q = quoted(i.payload());
            match (u, &q) {
                (U::Port, Some((a, what))) => write!(f, "{a} {what} unreachable")?,
                (U::Protocol, Some((a, what))) => write!(f, "{a} {what} unreachable")?,
                (U::FragmentationNeeded { next_hop_mtu }, Some((a, _))) => {
                    write!(f, "{a} unreachable - need to frag (mtu {next_hop_mtu})")?
                }
                (_, Some((a, _))) => write!(f, "{a} unreachable (code {})", i.code_u8())?,
                (_, None) => write!(f, "destination unreachable (code {})", i.code_u8())?,
            }
        }
        Icmpv4Type::TimeExceeded(_) => write!(f, "time exceeded (code {})", i.code_u8())?,
        Icmpv4Type::Redirect(_) => write!(f, "redirect (code {})", i.code_u8())?,
        Icmpv4Type::ParameterProblem(_) => write!(f, "parameter problem (code {})", i.code_u8())?,
        Icmpv4Type::TimestampRequest(_) => f.write_str("time stamp request")?,
        Icmpv4Type::TimestampReply(_) => f.write_str("time stamp reply")?,
        Icmpv4Type::Unknown {
            type_u8, code_u8, ..
        } => write!(f, "type {type_u8} code {code_u8}")?,
    }
    write!(f, ", length {len}")
}

pub(super) fn write_icmpv6_summary(
    f: &mut fmt::Formatter<'_>,
    i: &Icmpv6Slice<'_>,
    len: usize,
) -> fmt::Result {
    let target = i
        .payload()
        .get(..16)
        .and_then(|b| <[u8; 16]>::try_from(b).ok())
        .map(Ipv6Addr::from);
    f.write_str("ICMP6, ")?;
    match i.icmp_type() {
        Icmpv6Type::EchoRequest(e) => write!(f, "echo request, id {}, seq {}", e.id, e.seq)?,
        Icmpv6Type::EchoReply(e) => write!(f, "echo reply, id {}, seq {}", e.id, e.seq)?,
        Icmpv6Type::NeighborSolicitation => match target {
            Some(t) => write!(f, "neighbor solicitation, who has {t}")?,
            None => f.write_str("neighbor solicitation")?,
        },
        Icmpv6Type::NeighborAdvertisement(_) => match target {
            Some(t) => write!(f, "neighbor advertisement, tgt is {t}")?,
            None => f.write_str("neighbor advertisement")?,
        },
        Icmpv6Type::RouterSolicitation => f.write_str("router solicitation")?,
        Icmpv6Type::RouterAdvertisement(_) => f.write_str("router advertisement")?,
        Icmpv6Type::Redirect => f.write_str("redirect")?,
        Icmpv6Type::DestinationUnreachable(_) => {
            write!(f, "destination unreachable (code {})", i.code_u8())?
        }
        Icmpv6Type::PacketTooBig { mtu } => write!(f, "packet too big, mtu {mtu}")?,
        Icmpv6Type::TimeExceeded(_) => write!(f, "time exceeded (code {})", i.code_u8())?,
        Icmpv6Type::ParameterProblem(_) => write!(f, "parameter problem (code {})", i.code_u8())?,
        Icmpv6Type::Unknown {
            type_u8, code_u8, ..
        } => match type_u8 {
            130 => f.write_str("multicast listener query")?,
            131 => f.write_str("multicast listener report")?,
            143 => f.write_str("multicast listener report v2")?,
            _ => write!(f, "type {type_u8} code {code_u8}")?,
        },
    }
    write!(f, ", length {len}")
}

pub(super) fn transport_fields<'a>(
    out: &mut Fields<'a>,
    proto: IpNumber,
    data: &'a [u8],
    pseudo: Pseudo,
) {
    match proto {
        IpNumber::TCP => {
            let Ok(t) = TcpSlice::from_slice(data) else {
                out.bytes("tcp.truncated", data);
                return;
            };
            out.text("tcp.src_port", t.source_port());
            out.text("tcp.dst_port", t.destination_port());
            out.text("tcp.seq", t.sequence_number());
            out.text("tcp.ack", t.acknowledgment_number());
            out.text("tcp.data_offset", t.data_offset());
            out.text("tcp.flags", tcp_flags(&t));
            out.text("tcp.window", t.window_size());
            out.checksum("tcp.checksum", t.checksum(), check::tcp_want(pseudo, &t));
            out.text("tcp.urgent", t.urgent_pointer());
            tcp_option_fields(out, &t);
            out.bytes("payload.data", t.payload());
        }
        IpNumber::UDP => {
            let Ok(u) = UdpSlice::from_slice_lax(data) else {
                out.bytes("udp.truncated", data);
                return;
            };
            out.text("udp.src_port", u.source_port());
            out.text("udp.dst_port", u.destination_port());
            out.text("udp.length", u.length());
            let want = check::udp_want(pseudo, &u);
            if u.checksum() == 0 && matches!(pseudo, Pseudo::V4(..)) {
                out.noted("udp.checksum", "0x0000", Some("none".to_owned()));
            } else {
                out.checksum("udp.checksum", u.checksum(), want);
            }
            out.bytes("payload.data", u.payload());
        }
        IpNumber::ICMP => {
            let Ok(i) = Icmpv4Slice::from_slice(data) else {
                out.bytes("icmp.truncated", data);
                return;
            };
            out.text("icmp.type", i.type_u8());
            out.text("icmp.code", i.code_u8());
            let want = pseudo.complete().then(|| check::icmpv4_want(&i)).flatten();
            out.checksum("icmp.checksum", i.checksum(), want);
            match i.icmp_type() {
                Icmpv4Type::EchoRequest(e) | Icmpv4Type::EchoReply(e) => {
                    out.text("icmp.id", e.id);
                    out.text("icmp.seq", e.seq);
                }
                _ => {
                    let r = i.bytes5to8();
                    out.text(
                        "icmp.rest",
                        format_args!("{:02x}{:02x}{:02x}{:02x}", r[0], r[1], r[2], r[3]),
                    );
                }
            }
            out.bytes("payload.data", i.payload());
        }
        IpNumber::IPV6_ICMP => {
            let Ok(i) = Icmpv6Slice::from_slice(data) else {
                out.bytes("icmpv6.truncated", data);
                return;
            };
            out.text("icmpv6.type", i.type_u8());
            out.text("icmpv6.code", i.code_u8());
            out.checksum(
                "icmpv6.checksum",
                i.checksum(),
                check::icmpv6_want(pseudo, &i),
            );
            let r = i.bytes5to8();
            out.text(
                "icmpv6.rest",
                format_args!("{:02x}{:02x}{:02x}{:02x}", r[0], r[1], r[2], r[3]),
            );
            out.bytes("payload.data", i.payload());
        }
        _ => out.bytes("payload.data", data),
    }
}

pub(super) fn tcp_option_fields<'a>(out: &mut Fields<'a>, t: &TcpSlice<'a>) {
    if t.options().is_empty() {
        return;
    }
    let mut kinds = String::new();
    let mut values: Vec<(&'static str, String)> = Vec::new();
    for o in t.options_iterator() {
        if !kinds.is_empty() {
            kinds.push(',');
        }
        match o {
            Ok(TcpOptionElement::Noop) => kinds.push_str("nop"),
            Ok(TcpOptionElement::MaximumSegmentSize(m)) => {
                kinds.push_str("mss");
                values.push(("tcp.mss", m.to_string()));
            }
            Ok(TcpOptionElement::WindowScale(w)) => {
                kinds.push_str("wscale");
                values.push(("tcp.wscale", w.to_string()));
            }
            Ok(TcpOptionElement::SelectiveAcknowledgementPermitted) => kinds.push_str("sackOK"),
            Ok(TcpOptionElement::SelectiveAcknowledgement(a, rest)) => {
                kinds.push_str("sack");
                let mut blocks = String::new();
                for (l, r) in core::iter::once(a).chain(rest.into_iter().flatten()) {
                    if !blocks.is_empty() {
                        blocks.push(' ');
                    }
                    let _ = write!(blocks, "{l}:{r}");
                }
                values.push(("tcp.sack", blocks));
            }
            Ok(TcpOptionElement::Timestamp(v, e)) => {
                kinds.push_str("TS");
                values.push(("tcp.ts_val", v.to_string()));
                values.push(("tcp.ts_ecr", e.to_string()));
            }
            Err(e) => {
                let _ = write!(kinds, "unreadable ({e:?})");
                break;
            }
        }
    }
    out.text("tcp.options", kinds);
    for (name, v) in values {
        out.text(name, v);
    }
}

pub(super) fn tcp_flags(t: &TcpSlice<'_>) -> String {
    // tcpdump's letters and order: F S R P . U E W (and N for the old ECN nonce).
    let mut s = String::with_capacity(8);
    for (on, c) in [
        (t.fin(), 'F'),
        (t.syn(), 'S'),
        (t.rst(), 'R'),
        (t.psh(), 'P'),
        (t.ack(), '.'),
        (t.urg(), 'U'),
        (t.ece(), 'E'),
        (t.cwr(), 'W'),
        (t.ns(), 'N'),
    ] {
        if on {
            s.push(c);
        }
    }
    if s.is_empty() {
        s.push_str("none");
    }
    s
}

/// TCP options as tcpdump lists them: `mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7`.
pub(super) fn write_tcp_options(f: &mut dyn fmt::Write, t: &TcpSlice<'_>) -> fmt::Result {
    let mut first = true;
    for o in t.options_iterator() {
        if !first {
            f.write_char(',')?;
        }
        first = false;
        match o {
            Ok(TcpOptionElement::Noop) => f.write_str("nop")?,
            Ok(TcpOptionElement::MaximumSegmentSize(m)) => write!(f, "mss {m}")?,
            Ok(TcpOptionElement::WindowScale(w)) => write!(f, "wscale {w}")?,
            Ok(TcpOptionElement::SelectiveAcknowledgementPermitted) => f.write_str("sackOK")?,
            Ok(TcpOptionElement::SelectiveAcknowledgement(a, rest)) => {
                f.write_str("sack")?;
                for (l, r) in core::iter::once(a).chain(rest.into_iter().flatten()) {
                    write!(f, " {{{l}:{r}}}")?;
                }
            }
            Ok(TcpOptionElement::Timestamp(v, e)) => write!(f, "TS val {v} ecr {e}")?,
            Err(TcpOptionReadError::UnknownId(id)) => {
                write!(f, "opt-{id}")?;
                break;
            }
            Err(TcpOptionReadError::UnexpectedSize { option_id, size }) => {
                write!(f, "bad opt-{option_id} len {size}")?;
                break;
            }
            Err(TcpOptionReadError::UnexpectedEndOfSlice { option_id, .. }) => {
                write!(f, "opt-{option_id} cut")?;
                break;
            }
        }
    }
    Ok(())
}
