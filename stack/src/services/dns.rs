//! Authoritative DNS server (RFC 1034, RFC 1035) on UDP and TCP, with EDNS(0) (RFC 6891),
//! negative answers after RFC 2308 and TCP framing after RFC 7766.
//!
//! The wire format is `simple-dns` (except the OPT record, see [`find_opt`]): it has no
//! dependencies, parses into borrowed views, follows
//! compression pointers only backwards (so pointer loops and forward pointers are errors) with a
//! bound on the name length, and writes responses with name compression. Before handing it a
//! message, [`respond`] checks the header itself: too short means no reply, a response is never
//! answered, a non-QUERY opcode gets NOTIMP, and section counts that cannot fit in the message get
//! FORMERR without any allocation sized by them.
//!
//! What is answered, from a [`Catalog`]:
//! - Names outside every zone, classes other than IN (or ANY), and zone transfers: REFUSED.
//! - A, AAAA, CNAME, PTR, TXT, MX (with the exchange's addresses as additional data), NS (likewise),
//!   SOA. CNAMEs are followed inside the zones served, at most [`MAX_CNAME_CHAIN`] links, stopping
//!   at a loop.
//! - ANY gets one RRset of the name (RFC 8482 section 4.2), not all of them.
//! - NXDOMAIN when the name does not exist, NODATA (NOERROR, empty answer) when it exists without
//!   the type; both carry the zone's SOA in the authority section with the TTL capped at the SOA
//!   minimum (RFC 2308 section 3).
//! - AA set on every answer from a zone, RD copied, RA clear; the owner of the first answer is
//!   the question name as asked (its case kept).
//! - EDNS: a query with OPT gets an OPT back; its payload size is honoured (at least 512, at most
//!   [`Limits::udp_payload`]); version over 0 gets BADVERS; two OPT records are FORMERR.
//! - A UDP reply that does not fit first loses its additional section, then everything after
//!   the question with TC set, so the client retries over TCP (RFC 2181 section 9).

pub mod zone;

#[cfg(test)]
mod tests;

pub use zone::{
    parse_master, Catalog, Data, Error as ZoneError, ErrorKind as ZoneErrorKind, HostIdentity,
    Name, Record, Soa, Type, Zone,
};

use core::fmt;
use core::time::Duration;

use simple_dns::rdata::{RData, A, AAAA, CNAME, MX, NS, PTR, SOA, TXT};
use simple_dns::{
    CharacterString, Label, Packet, PacketFlag, ResourceRecord, CLASS, OPCODE, QCLASS, QTYPE, RCODE,
};
use tracing::{debug, trace};

use crate::iface::Interface;
use crate::services::Service;
use crate::tcp::{self, SocketError};
use crate::time::Instant;
use crate::udp;

/// The well-known DNS port.
pub const PORT: u16 = 53;
/// Longest CNAME chain followed in one answer.
pub const MAX_CNAME_CHAIN: usize = 8;
/// DNS header length (RFC 1035 4.1.1).
const HEADER_LEN: usize = 12;
/// Smallest encoded question: root name, type and class.
const MIN_QUESTION: usize = 5;
/// Smallest encoded resource record: root name, type, class, TTL, RDLENGTH.
const MIN_RECORD: usize = 11;
/// The UDP payload every client accepts (RFC 1035 4.2.1; RFC 6891 6.2.3 floor).
const CLASSIC_UDP: usize = 512;
/// Largest DNS message (the TCP length prefix).
const MAX_MESSAGE: usize = 65_535;

/// Header flag bits (RFC 1035 4.1.1).
const QR: u16 = 0x8000;
const OPCODE_BITS: u16 = 0x7800;
const RD: u16 = 0x0100;

/// The transport a query came on; it sets the size limit of the reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Datagrams: 512 bytes, or the EDNS payload size.
    Udp,
    /// A TCP stream: up to 65535 bytes.
    Tcp,
}

/// Bounds of the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The EDNS UDP payload size we announce and the most we send over UDP (1232 avoids IP
    /// fragmentation on common paths).
    pub udp_payload: u16,
    /// TCP connections served at once; more are reset.
    pub tcp_connections: usize,
    /// A TCP connection idle this long is closed (RFC 7766 6.2.3).
    pub tcp_idle: Duration,
    /// Reply bytes held for a TCP connection before it stops reading queries.
    pub tcp_pending: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            udp_payload: 1232,
            tcp_connections: 16,
            tcp_idle: Duration::from_secs(10),
            tcp_pending: 128 * 1024,
        }
    }
}

/// Counters of the server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Queries received over UDP.
    pub udp_queries: u64,
    /// Queries received over TCP.
    pub tcp_queries: u64,
    /// Messages not answered (shorter than a header, or a response).
    pub ignored: u64,
    /// Replies with NOERROR.
    pub noerror: u64,
    /// Replies with NXDOMAIN.
    pub nxdomain: u64,
    /// Replies with FORMERR.
    pub formerr: u64,
    /// Replies with REFUSED.
    pub refused: u64,
    /// Replies with NOTIMP.
    pub notimp: u64,
    /// Replies with BADVERS.
    pub badvers: u64,
    /// UDP replies cut to the question with TC set.
    pub truncated: u64,
    /// Replies lost because the UDP send queue was full, or that could not be encoded.
    pub send_dropped: u64,
    /// TCP connections accepted.
    pub tcp_accepted: u64,
    /// TCP connections reset because the table was full.
    pub tcp_refused: u64,
    /// TCP connections closed for idleness.
    pub tcp_idle_closed: u64,
}

/// A reply and what kind it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The encoded message.
    pub bytes: Vec<u8>,
    /// Its response code (extended codes included).
    pub rcode: RCODE,
    /// True when it was cut and TC set.
    pub truncated: bool,
}

/// The reply to one DNS message, or `None` when it gets none (shorter than a header, a response,
/// or a reply that cannot be encoded).
pub fn respond(
    query: &[u8],
    transport: Transport,
    catalog: &Catalog,
    limits: &Limits,
) -> Option<Reply> {
    let hdr = query.get(..HEADER_LEN)?;
    let word = |i: usize| u16::from_be_bytes([hdr[i], hdr[i + 1]]);
    let (id, flags) = (word(0), word(2));
    if flags & QR != 0 {
        // RFC 1035 7.3: responses are never answered (that way lie loops).
        return None;
    }
    let header_only = |rcode: RCODE| {
        let out_flags = QR | (flags & (OPCODE_BITS | RD)) | (rcode as u16 & 0x000f);
        let [i0, i1] = id.to_be_bytes();
        let [f0, f1] = out_flags.to_be_bytes();
        Some(Reply {
            bytes: vec![i0, i1, f0, f1, 0, 0, 0, 0, 0, 0, 0, 0],
            rcode,
            truncated: false,
        })
    };
    if (flags & OPCODE_BITS) >> 11 != 0 {
        return header_only(RCODE::NotImplemented);
    }
    let (qd, an, ns, ar) = (
        usize::from(word(4)),
        usize::from(word(6)),
        usize::from(word(8)),
        usize::from(word(10)),
    );
    let least = qd * MIN_QUESTION + (an + ns + ar) * MIN_RECORD;
    if qd != 1 || least > query.len() - HEADER_LEN {
        return header_only(RCODE::FormatError);
    }
    let Ok(packet) = Packet::parse(query) else {
        trace!(len = query.len(), "DNS: malformed query");
        return header_only(RCODE::FormatError);
    };
    let Ok(edns) = find_opt(query) else {
        // RFC 6891 6.1.1: more than one OPT is FORMERR.
        return header_only(RCODE::FormatError);
    };
    let question = packet.questions.first()?.clone();
    let mut reply = Packet::new_reply(id);
    *reply.opcode_mut() = OPCODE::StandardQuery;
    if flags & RD != 0 {
        reply.set_flags(PacketFlag::RECURSION_DESIRED);
    }
    reply.questions.push(question.clone());
    let udp_limit = match edns {
        Some(e) => {
            if e.version > 0 {
                // RFC 6891 6.1.3: an unsupported version gets BADVERS and nothing else.
                *reply.rcode_mut() = RCODE::BADVERS;
                return encode(&reply, MAX_MESSAGE, Some(limits.udp_payload));
            }
            usize::from(e.payload).clamp(
                CLASSIC_UDP,
                usize::from(limits.udp_payload).max(CLASSIC_UDP),
            )
        }
        None => CLASSIC_UDP,
    };
    let limit = match transport {
        Transport::Udp => udp_limit,
        Transport::Tcp => MAX_MESSAGE,
    };
    let rcode = lookup(
        &question.qname,
        question.qtype,
        question.qclass,
        catalog,
        &mut reply,
    );
    *reply.rcode_mut() = rcode;
    encode(&reply, limit, edns.map(|_| limits.udp_payload))
}

/// The EDNS fields of a query's OPT record (RFC 6891 6.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Edns {
    payload: u16,
    version: u8,
}

/// Finds the OPT record of a message by walking its records; `Err` when the walk fails or there
/// are several OPT records.
///
/// `simple-dns` 0.13 reads and writes the EDNS version and extended RCODE in the wrong bytes of
/// the OPT TTL (it takes the DO bit for a version), so OPT is read and written here instead.
fn find_opt(msg: &[u8]) -> Result<Option<Edns>, ()> {
    let word = |at: usize| -> Result<u16, ()> {
        match msg.get(at..at + 2) {
            Some(&[a, b]) => Ok(u16::from_be_bytes([a, b])),
            _ => Err(()),
        }
    };
    let skip_name = |mut at: usize| -> Result<usize, ()> {
        loop {
            let len = *msg.get(at).ok_or(())?;
            match len & 0xc0 {
                0 if len == 0 => return Ok(at + 1),
                0 => at += 1 + usize::from(len),
                0xc0 => return Ok(at + 2),
                _ => return Err(()),
            }
        }
    };
    let (qd, an, ns, ar) = (word(4)?, word(6)?, word(8)?, word(10)?);
    let mut at = HEADER_LEN;
    for _ in 0..qd {
        at = skip_name(at)? + 4;
    }
    let answers = usize::from(an) + usize::from(ns);
    let mut found = None;
    for i in 0..answers + usize::from(ar) {
        at = skip_name(at)?;
        let (rtype, class) = (word(at)?, word(at + 2)?);
        let version = *msg.get(at + 5).ok_or(())?;
        let rdlen = usize::from(word(at + 8)?);
        at += 10 + rdlen;
        if at > msg.len() {
            return Err(());
        }
        if i >= answers && rtype == 41 {
            if found.is_some() {
                return Err(());
            }
            found = Some(Edns {
                payload: class,
                version,
            });
        }
    }
    Ok(found)
}

/// An OPT record announcing `payload`, EDNS version 0 and the upper bits of `rcode`.
fn opt_record(payload: u16, rcode: RCODE) -> [u8; 11] {
    let [p0, p1] = payload.to_be_bytes();
    let ext = ((rcode as u16) >> 4) as u8;
    [0, 0, 41, p0, p1, ext, 0, 0, 0, 0, 0]
}

/// Encodes `reply` within `limit` bytes, with an OPT record announcing `edns` when given: whole,
/// else without additional data, else cut to the question with TC set.
fn encode(reply: &Packet<'_>, limit: usize, edns: Option<u16>) -> Option<Reply> {
    let rcode = reply.rcode();
    let opt = edns.map(|payload| opt_record(payload, rcode));
    let room = limit.saturating_sub(opt.map_or(0, |o| o.len()));
    let finish = |mut bytes: Vec<u8>, truncated: bool| {
        if let Some(opt) = opt {
            let ar = bytes
                .get(10..12)
                .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
            let [a0, a1] = ar.saturating_add(1).to_be_bytes();
            if let Some(b) = bytes.get_mut(10..12) {
                b.copy_from_slice(&[a0, a1]);
            }
            bytes.extend_from_slice(&opt);
        }
        Some(Reply {
            bytes,
            rcode,
            truncated,
        })
    };
    let bytes = reply.build_bytes_vec_compressed().ok()?;
    if bytes.len() <= room {
        return finish(bytes, false);
    }
    let mut cut = reply.clone();
    cut.additional_records.clear();
    let bytes = cut.build_bytes_vec_compressed().ok()?;
    if bytes.len() <= room {
        return finish(bytes, false);
    }
    cut.answers.clear();
    cut.name_servers.clear();
    cut.set_flags(PacketFlag::TRUNCATION);
    let bytes = cut.build_bytes_vec_compressed().ok()?;
    if bytes.len() > room {
        return None;
    }
    finish(bytes, true)
}

/// The type a query asks for.
enum Wanted {
    One(Type),
    Any,
}

/// Fills the answer, authority and additional sections of `reply`; returns the response code.
fn lookup<'a>(
    qname: &simple_dns::Name<'a>,
    qtype: QTYPE,
    qclass: QCLASS,
    catalog: &Catalog,
    reply: &mut Packet<'a>,
) -> RCODE {
    if !matches!(qclass, QCLASS::CLASS(CLASS::IN) | QCLASS::ANY) {
        return RCODE::Refused;
    }
    let Some(mut name) = Name::from_labels(qname.as_bytes()) else {
        return RCODE::Refused;
    };
    if catalog.zone_of(&name).is_none() {
        return RCODE::Refused;
    }
    let wanted = match qtype {
        QTYPE::TYPE(t) => Wanted::One(Type::from(u16::from(t))),
        QTYPE::ANY => Wanted::Any,
        QTYPE::AXFR | QTYPE::IXFR => return RCODE::Refused,
        QTYPE::MAILA | QTYPE::MAILB => return RCODE::NotImplemented,
    };
    reply.set_flags(PacketFlag::AUTHORITATIVE_ANSWER);
    let mut owner = qname.clone();
    let mut seen: Vec<Name> = Vec::new();
    let mut rcode = RCODE::NoError;
    let mut negative = None;
    // RFC 1034 4.3.2, without delegations below the apex: match the name, else follow a CNAME.
    for _ in 0..=MAX_CNAME_CHAIN {
        let Some(zone) = catalog.zone_of(&name) else {
            break;
        };
        let records: Vec<&Record> = catalog.at(&name).collect();
        if records.is_empty() {
            if !catalog.exists(&name) {
                rcode = RCODE::NameError;
            }
            negative = Some(zone.soa.clone());
            break;
        }
        let hits: Vec<&Record> = match wanted {
            Wanted::One(t) => records
                .iter()
                .copied()
                .filter(|r| r.data.kind() == t)
                .collect(),
            Wanted::Any => {
                let first = records.first().map(|r| r.data.kind());
                records
                    .iter()
                    .copied()
                    .filter(|r| Some(r.data.kind()) == first)
                    .collect()
            }
        };
        if !hits.is_empty() {
            for r in hits {
                reply.answers.push(to_rr(owner.clone(), r));
            }
            break;
        }
        let cname = records.iter().find_map(|r| match &r.data {
            Data::Cname(target) => Some((*r, target)),
            _ => None,
        });
        let Some((record, target)) = cname else {
            negative = Some(zone.soa.clone());
            break;
        };
        reply.answers.push(to_rr(owner.clone(), record));
        seen.push(name.clone());
        if seen.contains(target) {
            break;
        }
        name = target.clone();
        owner = wire_name(&name);
    }
    if let Some(soa) = negative {
        // RFC 2308 3: the SOA TTL in a negative answer is the lesser of its TTL and MINIMUM.
        let minimum = match &soa.data {
            Data::Soa(s) => s.minimum,
            _ => soa.ttl,
        };
        let mut rr = to_rr(wire_name(&soa.name), &soa);
        rr.ttl = soa.ttl.min(minimum);
        reply.name_servers.push(rr);
    }
    add_glue(catalog, reply);
    rcode
}

/// Adds the addresses of MX exchanges and NS targets in the answer (RFC 1035 3.3.9, 3.3.11).
fn add_glue(catalog: &Catalog, reply: &mut Packet<'_>) {
    let mut targets: Vec<Name> = Vec::new();
    for rr in &reply.answers {
        let target = match &rr.rdata {
            RData::MX(mx) => &mx.exchange,
            RData::NS(ns) => &ns.0,
            _ => continue,
        };
        if let Some(n) = Name::from_labels(target.as_bytes()) {
            if !targets.contains(&n) {
                targets.push(n);
            }
        }
    }
    for t in &targets {
        for r in catalog.at(t) {
            if matches!(r.data, Data::A(_) | Data::Aaaa(_)) {
                reply.additional_records.push(to_rr(wire_name(t), r));
            }
        }
    }
}

/// A wire name for a zone name.
fn wire_name(name: &Name) -> simple_dns::Name<'static> {
    let labels: Vec<Label<'static>> = name
        .labels()
        .map(|l| Label::new_unchecked(l.to_vec()))
        .collect();
    simple_dns::Name::new_with_labels(&labels)
}

/// A wire record for a zone record, owned by `owner`.
fn to_rr<'a>(owner: simple_dns::Name<'a>, r: &Record) -> ResourceRecord<'a> {
    let rdata = match &r.data {
        Data::A(a) => RData::A(A {
            address: u32::from(*a),
        }),
        Data::Aaaa(a) => RData::AAAA(AAAA {
            address: u128::from(*a),
        }),
        Data::Cname(n) => RData::CNAME(CNAME(wire_name(n))),
        Data::Ptr(n) => RData::PTR(PTR(wire_name(n))),
        Data::Ns(n) => RData::NS(NS(wire_name(n))),
        Data::Mx(preference, n) => RData::MX(MX {
            preference: *preference,
            exchange: wire_name(n),
        }),
        Data::Txt(strings) => {
            let mut txt = TXT::new();
            for s in strings {
                // The zone loader keeps strings within 255 bytes; longer ones are skipped.
                if let Ok(cs) = CharacterString::new(s.as_slice()) {
                    txt.add_char_string(cs.into_owned());
                }
            }
            RData::TXT(txt)
        }
        Data::Soa(s) => RData::SOA(SOA {
            mname: wire_name(&s.mname),
            rname: wire_name(&s.rname),
            serial: s.serial,
            refresh: i32::try_from(s.refresh).unwrap_or(i32::MAX),
            retry: i32::try_from(s.retry).unwrap_or(i32::MAX),
            expire: i32::try_from(s.expire).unwrap_or(i32::MAX),
            minimum: s.minimum,
        }),
    };
    ResourceRecord::new(owner, CLASS::IN, r.ttl, rdata)
}

/// Why the server could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindError {
    /// The UDP port.
    Udp(udp::BindError),
    /// The TCP port.
    Tcp(tcp::ListenError),
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindError::Udp(e) => write!(f, "DNS over UDP: {e:?}"),
            BindError::Tcp(e) => write!(f, "DNS over TCP: {e:?}"),
        }
    }
}

impl std::error::Error for BindError {}

/// One TCP client.
#[derive(Debug)]
struct Conn {
    handle: tcp::Handle,
    /// Bytes received and not yet a whole message.
    input: Vec<u8>,
    /// Length-prefixed replies not yet accepted by the socket.
    output: Vec<u8>,
    /// The last time a byte came in (or the connection opened).
    last_active: Instant,
    /// The peer sent FIN.
    peer_closed: bool,
}

/// Builds the catalog again for the interface's current addresses.
type Rebuild = Box<dyn Fn(&Interface) -> Option<Catalog> + Send>;

/// The DNS server: a UDP socket and a TCP listener on one port, answering from a [`Catalog`].
pub struct Server {
    catalog: Catalog,
    rebuild: Option<Rebuild>,
    limits: Limits,
    udp: udp::Handle,
    listener: tcp::ListenHandle,
    conns: Vec<Conn>,
    scratch: Vec<u8>,
    stats: Stats,
}

impl Server {
    /// Binds UDP and TCP `port` and serves `catalog`.
    ///
    /// # Errors
    /// [`BindError`] when either port is taken (the UDP socket is released again then).
    pub fn bind(
        iface: &mut Interface,
        port: u16,
        catalog: Catalog,
        limits: Limits,
    ) -> Result<Self, BindError> {
        let udp = iface.udp_bind(port).map_err(BindError::Udp)?;
        let listener = match iface.tcp_listen(port, limits.tcp_connections.max(1)) {
            Ok(l) => l,
            Err(e) => {
                iface.udp_close(udp);
                return Err(BindError::Tcp(e));
            }
        };
        Ok(Server {
            catalog,
            rebuild: None,
            limits,
            udp,
            listener,
            conns: Vec::new(),
            scratch: vec![0; 16 * 1024],
            stats: Stats::default(),
        })
    }

    /// Builds the catalog with `rebuild` whenever the interface's addresses change (a DHCP
    /// lease, an address given up), so the host's own records follow them.
    #[must_use]
    pub fn rebuilt_on_address_change(
        mut self,
        rebuild: impl Fn(&Interface) -> Option<Catalog> + Send + 'static,
    ) -> Self {
        self.rebuild = Some(Box::new(rebuild));
        self
    }

    /// The zones served.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Open TCP connections.
    pub fn tcp_connections(&self) -> usize {
        self.conns.len()
    }

    fn poll_udp(&mut self, iface: &mut Interface) {
        while let Some((from, to, query)) = iface.udp_recv_from_to(self.udp) {
            self.stats.udp_queries += 1;
            let Some(reply) = respond(&query, Transport::Udp, &self.catalog, &self.limits) else {
                self.stats.ignored += 1;
                continue;
            };
            count(&mut self.stats, &reply);
            if iface
                .udp_send_from(self.udp, to, from, &reply.bytes)
                .is_err()
            {
                self.stats.send_dropped += 1;
            }
        }
    }
}

fn count(s: &mut Stats, reply: &Reply) {
    match reply.rcode {
        RCODE::NoError => s.noerror += 1,
        RCODE::NameError => s.nxdomain += 1,
        RCODE::FormatError => s.formerr += 1,
        RCODE::Refused => s.refused += 1,
        RCODE::NotImplemented => s.notimp += 1,
        RCODE::BADVERS => s.badvers += 1,
        _ => {}
    }
    if reply.truncated {
        s.truncated += 1;
    }
}

/// What a connection is served with.
struct Ctx<'a> {
    catalog: &'a Catalog,
    limits: &'a Limits,
    stats: &'a mut Stats,
    scratch: &'a mut [u8],
}

/// Serves one connection; returns false once it is closed.
fn serve(now: Instant, iface: &mut Interface, c: &mut Conn, cx: &mut Ctx<'_>) -> bool {
    let h = c.handle;
    loop {
        if !flush(iface, c) {
            iface.tcp_abort(h);
            return false;
        }
        if c.peer_closed || c.output.len() >= cx.limits.tcp_pending {
            break;
        }
        // Never hold more than one whole message plus its prefix.
        let room = (2 + MAX_MESSAGE).saturating_sub(c.input.len());
        let want = room.min(cx.scratch.len());
        let Some(buf) = cx.scratch.get_mut(..want) else {
            break;
        };
        match iface.tcp_recv(h, buf) {
            Ok(0) => break,
            Ok(n) => {
                c.input.extend_from_slice(buf.get(..n).unwrap_or_default());
                c.last_active = now;
            }
            Err(SocketError::Closed) => c.peer_closed = true,
            Err(_) => {
                iface.tcp_close(h);
                return false;
            }
        }
        // RFC 1035 4.2.2, RFC 7766 8: each message is prefixed by its two-byte length.
        while let Some(&[hi, lo]) = c.input.get(..2) {
            let len = usize::from(u16::from_be_bytes([hi, lo]));
            let Some(msg) = c.input.get(2..2 + len) else {
                break;
            };
            cx.stats.tcp_queries += 1;
            match respond(msg, Transport::Tcp, cx.catalog, cx.limits) {
                Some(reply) => {
                    count(cx.stats, &reply);
                    let n = u16::try_from(reply.bytes.len()).unwrap_or(u16::MAX);
                    c.output.extend_from_slice(&n.to_be_bytes());
                    c.output.extend_from_slice(&reply.bytes);
                }
                None => cx.stats.ignored += 1,
            }
            c.input.drain(..2 + len);
        }
    }
    if c.peer_closed && c.output.is_empty() {
        iface.tcp_close(h);
        return false;
    }
    if now.saturating_duration_since(c.last_active) >= cx.limits.tcp_idle {
        debug!("DNS: closing idle TCP connection");
        cx.stats.tcp_idle_closed += 1;
        iface.tcp_close(h);
        return false;
    }
    true
}

/// Hands pending reply bytes to the socket; false when the connection is gone.
fn flush(iface: &mut Interface, c: &mut Conn) -> bool {
    while !c.output.is_empty() {
        match iface.tcp_send(c.handle, &c.output) {
            Ok(0) => return true,
            Ok(n) => {
                c.output.drain(..n.min(c.output.len()));
            }
            Err(_) => return false,
        }
    }
    true
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("zones", &self.catalog.zones().len())
            .field("records", &self.catalog.records().len())
            .field("conns", &self.conns.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Service for Server {
    fn name(&self) -> &'static str {
        "dns"
    }

    fn addresses_changed(&mut self, iface: &Interface) {
        if let Some(catalog) = self.rebuild.as_ref().and_then(|f| f(iface)) {
            self.catalog = catalog;
        }
    }

    fn poll(&mut self, now: Instant, iface: &mut Interface) {
        self.poll_udp(iface);
        while let Some(handle) = iface.tcp_accept(self.listener) {
            if self.conns.len() >= self.limits.tcp_connections {
                self.stats.tcp_refused += 1;
                iface.tcp_abort(handle);
                continue;
            }
            self.stats.tcp_accepted += 1;
            self.conns.push(Conn {
                handle,
                input: Vec::new(),
                output: Vec::new(),
                last_active: now,
                peer_closed: false,
            });
        }
        let mut cx = Ctx {
            catalog: &self.catalog,
            limits: &self.limits,
            stats: &mut self.stats,
            scratch: &mut self.scratch,
        };
        self.conns.retain_mut(|c| serve(now, iface, c, &mut cx));
    }

    fn poll_at(&self) -> Option<Instant> {
        self.conns
            .iter()
            .map(|c| c.last_active + self.limits.tcp_idle)
            .min()
    }
}
