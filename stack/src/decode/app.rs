//! DHCP and DNS: the one-line summaries of the messages UDP carries.

use core::fmt;

/// `DHCP Request, xid 0x..., from MAC, ciaddr/yiaddr/requested/server when set, ` (like
/// tcpdump's BOOTP line); nothing when the message does not parse.
pub(super) fn write_dhcp_summary(f: &mut fmt::Formatter<'_>, body: &[u8]) -> fmt::Result {
    let Ok(r) = crate::dhcp::Repr::parse_bytes(body) else {
        return Ok(());
    };
    use crate::dhcp::MessageType as M;
    let kind = match r.message_type {
        M::Discover => "Discover".to_owned(),
        M::Offer => "Offer".to_owned(),
        M::Request => "Request".to_owned(),
        M::Decline => "Decline".to_owned(),
        M::Ack => "ACK".to_owned(),
        M::Nak => "NAK".to_owned(),
        M::Release => "Release".to_owned(),
        M::Inform => "Inform".to_owned(),
        M::Unknown(t) => format!("type {t}"),
    };
    write!(f, "DHCP {kind}, xid {:#010x}, client {}", r.xid, r.chaddr)?;
    for (name, a) in [("ciaddr", r.ciaddr), ("yiaddr", r.yiaddr)] {
        if !a.is_unspecified() {
            write!(f, ", {name} {a}")?;
        }
    }
    if let Some(a) = r.requested_addr {
        write!(f, ", requested {a}")?;
    }
    if let Some(a) = r.server_id {
        write!(f, ", server {a}")?;
    }
    if let Some(t) = r.lease_time {
        write!(f, ", lease {t}s")?;
    }
    f.write_str(", ")
}

/// `DNS 0x1234 A? name` for a query, `DNS 0x1234 NOERROR 2/0/1 A? name` for a response
/// (answers/authority/additional); nothing when the message does not parse.
#[cfg(feature = "services")]
pub(super) fn write_dns_summary(f: &mut fmt::Formatter<'_>, body: &[u8]) -> fmt::Result {
    let Ok(p) = simple_dns::Packet::parse(body) else {
        return Ok(());
    };
    write!(f, "DNS {:#06x}", p.id())?;
    if p.has_flags(simple_dns::PacketFlag::RESPONSE) {
        write!(
            f,
            " {:?} {}/{}/{}",
            p.rcode(),
            p.answers.len(),
            p.name_servers.len(),
            p.additional_records.len()
        )?;
    }
    if let Some(q) = p.questions.first() {
        match q.qtype {
            simple_dns::QTYPE::TYPE(t) => write!(f, " {t:?}? {}", q.qname)?,
            other => write!(f, " {other:?}? {}", q.qname)?,
        }
    }
    f.write_str(", ")
}

/// Without the `services` feature there is no DNS parser: DNS messages get no summary of their own.
#[cfg(not(feature = "services"))]
pub(super) fn write_dns_summary(_f: &mut fmt::Formatter<'_>, _body: &[u8]) -> fmt::Result {
    Ok(())
}
