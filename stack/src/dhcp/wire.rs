//! BOOTP/DHCP message format (RFC 2131 section 2, RFC 951) and the options the client uses
//! (RFC 2132).
//!
//! [`Packet`] is a length-checked view of a message; [`Repr`] is its parsed, validated form and
//! writes itself back with [`Repr::emit`]. Options that the client does not know are skipped;
//! option overload (RFC 2132 9.3) is refused, since the client never asks for it.

use core::net::Ipv4Addr;

use crate::ethernet::MacAddr;

/// UDP port of DHCP servers (RFC 2131 4.1).
pub const SERVER_PORT: u16 = 67;
/// UDP port of DHCP clients (RFC 2131 4.1).
pub const CLIENT_PORT: u16 = 68;
/// The magic cookie that opens the options field (RFC 2131 3): 99.130.83.99.
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// Length of the fixed part of a message, up to and including the magic cookie.
pub const HEADER_LEN: usize = 240;
/// Emitted messages are padded to this length: the minimum BOOTP message (RFC 1542 2.1).
pub const MIN_MESSAGE_LEN: usize = 300;

/// Hardware type of Ethernet (RFC 1700).
const HTYPE_ETHERNET: u8 = 1;
/// The broadcast bit of the `flags` field (RFC 2131 2, figure 2).
const FLAG_BROADCAST: u16 = 0x8000;

/// Byte ranges of the fixed fields (RFC 2131 figure 1).
mod field {
    use core::ops::Range;

    pub const OP: usize = 0;
    pub const HTYPE: usize = 1;
    pub const HLEN: usize = 2;
    pub const HOPS: usize = 3;
    pub const XID: Range<usize> = 4..8;
    pub const SECS: Range<usize> = 8..10;
    pub const FLAGS: Range<usize> = 10..12;
    pub const CIADDR: Range<usize> = 12..16;
    pub const YIADDR: Range<usize> = 16..20;
    pub const SIADDR: Range<usize> = 20..24;
    pub const GIADDR: Range<usize> = 24..28;
    pub const CHADDR: Range<usize> = 28..44;
    pub const COOKIE: Range<usize> = 236..240;
    pub const OPTIONS: usize = 240;
}

/// The BOOTP `op` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// BOOTREQUEST (1): client to server.
    Request,
    /// BOOTREPLY (2): server to client.
    Reply,
    /// Anything else.
    Unknown(u8),
}

impl From<u8> for Op {
    fn from(v: u8) -> Self {
        match v {
            1 => Op::Request,
            2 => Op::Reply,
            v => Op::Unknown(v),
        }
    }
}

impl From<Op> for u8 {
    fn from(op: Op) -> u8 {
        match op {
            Op::Request => 1,
            Op::Reply => 2,
            Op::Unknown(v) => v,
        }
    }
}

/// DHCP message type, option 53 (RFC 2132 9.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageType {
    /// DHCPDISCOVER (1).
    Discover,
    /// DHCPOFFER (2).
    Offer,
    /// DHCPREQUEST (3).
    Request,
    /// DHCPDECLINE (4).
    Decline,
    /// DHCPACK (5).
    Ack,
    /// DHCPNAK (6).
    Nak,
    /// DHCPRELEASE (7).
    Release,
    /// DHCPINFORM (8).
    Inform,
    /// Anything else.
    Unknown(u8),
}

impl From<u8> for MessageType {
    fn from(v: u8) -> Self {
        match v {
            1 => MessageType::Discover,
            2 => MessageType::Offer,
            3 => MessageType::Request,
            4 => MessageType::Decline,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            7 => MessageType::Release,
            8 => MessageType::Inform,
            v => MessageType::Unknown(v),
        }
    }
}

impl From<MessageType> for u8 {
    fn from(t: MessageType) -> u8 {
        match t {
            MessageType::Discover => 1,
            MessageType::Offer => 2,
            MessageType::Request => 3,
            MessageType::Decline => 4,
            MessageType::Ack => 5,
            MessageType::Nak => 6,
            MessageType::Release => 7,
            MessageType::Inform => 8,
            MessageType::Unknown(v) => v,
        }
    }
}

/// Option codes (RFC 2132) the client reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionCode {
    /// Pad (0), a single byte.
    Pad,
    /// Subnet mask (1).
    SubnetMask,
    /// Routers (3).
    Router,
    /// Domain name servers (6).
    DnsServers,
    /// Host name (12).
    HostName,
    /// Requested IP address (50).
    RequestedAddr,
    /// IP address lease time (51).
    LeaseTime,
    /// Option overload (52).
    Overload,
    /// DHCP message type (53).
    MessageType,
    /// Server identifier (54).
    ServerId,
    /// Parameter request list (55).
    ParameterRequestList,
    /// Renewal (T1) time (58).
    RenewalTime,
    /// Rebinding (T2) time (59).
    RebindingTime,
    /// Client identifier (61).
    ClientId,
    /// End (255), a single byte.
    End,
    /// Any other option: skipped when parsing.
    Unknown(u8),
}

impl From<u8> for OptionCode {
    fn from(v: u8) -> Self {
        match v {
            0 => OptionCode::Pad,
            1 => OptionCode::SubnetMask,
            3 => OptionCode::Router,
            6 => OptionCode::DnsServers,
            12 => OptionCode::HostName,
            50 => OptionCode::RequestedAddr,
            51 => OptionCode::LeaseTime,
            52 => OptionCode::Overload,
            53 => OptionCode::MessageType,
            54 => OptionCode::ServerId,
            55 => OptionCode::ParameterRequestList,
            58 => OptionCode::RenewalTime,
            59 => OptionCode::RebindingTime,
            61 => OptionCode::ClientId,
            255 => OptionCode::End,
            v => OptionCode::Unknown(v),
        }
    }
}

impl From<OptionCode> for u8 {
    fn from(c: OptionCode) -> u8 {
        match c {
            OptionCode::Pad => 0,
            OptionCode::SubnetMask => 1,
            OptionCode::Router => 3,
            OptionCode::DnsServers => 6,
            OptionCode::HostName => 12,
            OptionCode::RequestedAddr => 50,
            OptionCode::LeaseTime => 51,
            OptionCode::Overload => 52,
            OptionCode::MessageType => 53,
            OptionCode::ServerId => 54,
            OptionCode::ParameterRequestList => 55,
            OptionCode::RenewalTime => 58,
            OptionCode::RebindingTime => 59,
            OptionCode::ClientId => 61,
            OptionCode::End => 255,
            OptionCode::Unknown(v) => v,
        }
    }
}

/// Why a DHCP message was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParseError {
    /// Shorter than the 240-byte fixed part.
    Truncated,
    /// Not Ethernet (`htype` 1, `hlen` 6).
    BadHardware,
    /// The magic cookie is not 99.130.83.99.
    BadCookie,
    /// An option's length runs past the end of the message.
    OptionTruncated,
    /// A known option has a length its definition does not allow.
    BadOptionLength,
    /// A known option has a value its definition does not allow (e.g. a host name that is not
    /// UTF-8).
    BadOptionValue,
    /// Option overload (52): options in `sname`/`file` are not supported.
    Overload,
    /// No DHCP message type option: a plain BOOTP message.
    MissingMessageType,
}

/// A length-checked view of a BOOTP/DHCP message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` after checking it holds the fixed part and the cookie field, so that no
    /// accessor can index out of bounds.
    ///
    /// # Errors
    /// [`ParseError::Truncated`] when it is shorter than [`HEADER_LEN`].
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        Ok(Packet { buffer })
    }

    fn bytes<const N: usize>(&self, r: core::ops::Range<usize>) -> [u8; N] {
        let mut out = [0; N];
        // The length was checked in `new_checked`; `get` keeps this total anyway.
        if let Some(src) = self.buffer.as_ref().get(r) {
            if src.len() == N {
                out.copy_from_slice(src);
            }
        }
        out
    }

    fn byte(&self, i: usize) -> u8 {
        self.buffer.as_ref().get(i).copied().unwrap_or(0)
    }

    /// The `op` field.
    pub fn op(&self) -> Op {
        Op::from(self.byte(field::OP))
    }

    /// Hardware address type.
    pub fn htype(&self) -> u8 {
        self.byte(field::HTYPE)
    }

    /// Hardware address length.
    pub fn hlen(&self) -> u8 {
        self.byte(field::HLEN)
    }

    /// Relay hop count.
    pub fn hops(&self) -> u8 {
        self.byte(field::HOPS)
    }

    /// Transaction id.
    pub fn xid(&self) -> u32 {
        u32::from_be_bytes(self.bytes(field::XID))
    }

    /// Seconds since the client began the exchange.
    pub fn secs(&self) -> u16 {
        u16::from_be_bytes(self.bytes(field::SECS))
    }

    /// The `flags` field.
    pub fn flags(&self) -> u16 {
        u16::from_be_bytes(self.bytes(field::FLAGS))
    }

    /// Client address (set when the client already has one).
    pub fn ciaddr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.bytes::<4>(field::CIADDR))
    }

    /// "Your" address: the one offered or assigned.
    pub fn yiaddr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.bytes::<4>(field::YIADDR))
    }

    /// Next server (boot server) address.
    pub fn siaddr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.bytes::<4>(field::SIADDR))
    }

    /// Relay agent address.
    pub fn giaddr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.bytes::<4>(field::GIADDR))
    }

    /// The 16-byte client hardware address field.
    pub fn chaddr(&self) -> [u8; 16] {
        self.bytes(field::CHADDR)
    }

    /// The four bytes where the magic cookie belongs.
    pub fn cookie(&self) -> [u8; 4] {
        self.bytes(field::COOKIE)
    }

    /// The options field, after the cookie.
    pub fn options(&self) -> Options<'_> {
        Options {
            data: self.buffer.as_ref().get(field::OPTIONS..).unwrap_or(&[]),
        }
    }
}

/// Iterator over the TLV options: pads are skipped, iteration stops at End or at the end of the
/// data; an option whose length runs past the end yields [`ParseError::OptionTruncated`] once.
#[derive(Clone, Debug)]
pub struct Options<'a> {
    data: &'a [u8],
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<(OptionCode, &'a [u8]), ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (&code, rest) = self.data.split_first()?;
            match OptionCode::from(code) {
                OptionCode::Pad => {
                    self.data = rest;
                    continue;
                }
                OptionCode::End => {
                    self.data = &[];
                    return None;
                }
                code => {
                    self.data = &[];
                    let Some((&len, rest)) = rest.split_first() else {
                        return Some(Err(ParseError::OptionTruncated));
                    };
                    let len = usize::from(len);
                    let (Some(value), Some(tail)) = (rest.get(..len), rest.get(len..)) else {
                        return Some(Err(ParseError::OptionTruncated));
                    };
                    self.data = tail;
                    return Some(Ok((code, value)));
                }
            }
        }
    }
}

/// A DHCP message, parsed and checked.
///
/// List options (routers, DNS servers) that appear more than once are concatenated (RFC 3396);
/// for other options the last occurrence wins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repr {
    /// Request or reply.
    pub op: Op,
    /// Option 53.
    pub message_type: MessageType,
    /// Transaction id.
    pub xid: u32,
    /// Seconds since the client began the exchange.
    pub secs: u16,
    /// The broadcast bit of `flags`: the client cannot receive unicast before it is configured.
    pub broadcast: bool,
    /// Client address.
    pub ciaddr: Ipv4Addr,
    /// "Your" address.
    pub yiaddr: Ipv4Addr,
    /// Next server address.
    pub siaddr: Ipv4Addr,
    /// Relay agent address.
    pub giaddr: Ipv4Addr,
    /// Client hardware address (Ethernet only).
    pub chaddr: MacAddr,
    /// Option 1.
    pub subnet_mask: Option<Ipv4Addr>,
    /// Option 3, in order of preference.
    pub routers: Vec<Ipv4Addr>,
    /// Option 6, in order of preference.
    pub dns_servers: Vec<Ipv4Addr>,
    /// Option 12.
    pub hostname: Option<String>,
    /// Option 50.
    pub requested_addr: Option<Ipv4Addr>,
    /// Option 51, in seconds (`u32::MAX` is infinite).
    pub lease_time: Option<u32>,
    /// Option 54.
    pub server_id: Option<Ipv4Addr>,
    /// Option 55: codes the client asks for (empty when absent).
    pub parameter_request_list: Vec<u8>,
    /// Option 58, in seconds.
    pub renewal_time: Option<u32>,
    /// Option 59, in seconds.
    pub rebinding_time: Option<u32>,
    /// Option 61.
    pub client_id: Option<Vec<u8>>,
}

fn addr(value: &[u8]) -> Result<Ipv4Addr, ParseError> {
    <[u8; 4]>::try_from(value)
        .map(Ipv4Addr::from)
        .map_err(|_| ParseError::BadOptionLength)
}

fn addr_list(value: &[u8], out: &mut Vec<Ipv4Addr>) -> Result<(), ParseError> {
    if value.is_empty() || value.len() % 4 != 0 {
        return Err(ParseError::BadOptionLength);
    }
    for chunk in value.chunks_exact(4) {
        out.push(addr(chunk)?);
    }
    Ok(())
}

fn seconds(value: &[u8]) -> Result<u32, ParseError> {
    <[u8; 4]>::try_from(value)
        .map(u32::from_be_bytes)
        .map_err(|_| ParseError::BadOptionLength)
}

impl Repr {
    /// A message with every option absent and every address unspecified.
    pub fn new(op: Op, message_type: MessageType, xid: u32, chaddr: MacAddr) -> Self {
        Repr {
            op,
            message_type,
            xid,
            secs: 0,
            broadcast: false,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr,
            subnet_mask: None,
            routers: Vec::new(),
            dns_servers: Vec::new(),
            hostname: None,
            requested_addr: None,
            lease_time: None,
            server_id: None,
            parameter_request_list: Vec::new(),
            renewal_time: None,
            rebinding_time: None,
            client_id: None,
        }
    }

    /// Parses a message from its checked view.
    ///
    /// # Errors
    /// [`ParseError`] for a foreign hardware type, a bad cookie, malformed or overloaded options,
    /// or a missing message type.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, ParseError> {
        if packet.htype() != HTYPE_ETHERNET || packet.hlen() != 6 {
            return Err(ParseError::BadHardware);
        }
        if packet.cookie() != MAGIC_COOKIE {
            return Err(ParseError::BadCookie);
        }
        let chaddr = packet.chaddr();
        let mut mac = [0; 6];
        mac.copy_from_slice(&chaddr[..6]);
        let mut repr = Repr::new(
            packet.op(),
            MessageType::Unknown(0),
            packet.xid(),
            MacAddr(mac),
        );
        repr.secs = packet.secs();
        repr.broadcast = packet.flags() & FLAG_BROADCAST != 0;
        repr.ciaddr = packet.ciaddr();
        repr.yiaddr = packet.yiaddr();
        repr.siaddr = packet.siaddr();
        repr.giaddr = packet.giaddr();
        let mut message_type = None;
        for option in packet.options() {
            let (code, value) = option?;
            match code {
                OptionCode::MessageType => match value {
                    [t] => message_type = Some(MessageType::from(*t)),
                    _ => return Err(ParseError::BadOptionLength),
                },
                OptionCode::SubnetMask => repr.subnet_mask = Some(addr(value)?),
                OptionCode::Router => addr_list(value, &mut repr.routers)?,
                OptionCode::DnsServers => addr_list(value, &mut repr.dns_servers)?,
                OptionCode::HostName => {
                    if value.is_empty() {
                        return Err(ParseError::BadOptionLength);
                    }
                    let name =
                        core::str::from_utf8(value).map_err(|_| ParseError::BadOptionValue)?;
                    repr.hostname = Some(name.to_owned());
                }
                OptionCode::RequestedAddr => repr.requested_addr = Some(addr(value)?),
                OptionCode::LeaseTime => repr.lease_time = Some(seconds(value)?),
                OptionCode::Overload => return Err(ParseError::Overload),
                OptionCode::ServerId => repr.server_id = Some(addr(value)?),
                OptionCode::ParameterRequestList => {
                    if value.is_empty() {
                        return Err(ParseError::BadOptionLength);
                    }
                    repr.parameter_request_list = value.to_vec();
                }
                OptionCode::RenewalTime => repr.renewal_time = Some(seconds(value)?),
                OptionCode::RebindingTime => repr.rebinding_time = Some(seconds(value)?),
                OptionCode::ClientId => {
                    // RFC 2132 9.14: a type byte and at least one byte of identifier.
                    if value.len() < 2 {
                        return Err(ParseError::BadOptionLength);
                    }
                    repr.client_id = Some(value.to_vec());
                }
                OptionCode::Pad | OptionCode::End | OptionCode::Unknown(_) => {}
            }
        }
        repr.message_type = message_type.ok_or(ParseError::MissingMessageType)?;
        Ok(repr)
    }

    /// Parses a UDP payload: [`Packet::new_checked`] then [`Repr::parse`].
    ///
    /// # Errors
    /// As those two.
    pub fn parse_bytes(buf: &[u8]) -> Result<Repr, ParseError> {
        Repr::parse(&Packet::new_checked(buf)?)
    }

    /// Appends the message to `out`: fixed part, cookie, options, End, then zero padding up to
    /// [`MIN_MESSAGE_LEN`]. Values longer than an option can hold are cut at 255 bytes; address
    /// lists are split over several options (RFC 3396).
    pub fn emit(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(u8::from(self.op));
        out.push(HTYPE_ETHERNET);
        out.push(6);
        out.push(0); // hops
        out.extend_from_slice(&self.xid.to_be_bytes());
        out.extend_from_slice(&self.secs.to_be_bytes());
        let flags = if self.broadcast { FLAG_BROADCAST } else { 0 };
        out.extend_from_slice(&flags.to_be_bytes());
        for a in [self.ciaddr, self.yiaddr, self.siaddr, self.giaddr] {
            out.extend_from_slice(&a.octets());
        }
        out.extend_from_slice(&self.chaddr.0);
        out.extend_from_slice(&[0; 10]); // rest of chaddr
        out.extend_from_slice(&[0; 64 + 128]); // sname, file
        out.extend_from_slice(&MAGIC_COOKIE);

        let mut opt = |code: OptionCode, value: &[u8]| {
            let len = value.len().min(255);
            out.push(u8::from(code));
            out.push(len as u8);
            out.extend_from_slice(value.get(..len).unwrap_or(&[]));
        };
        opt(OptionCode::MessageType, &[u8::from(self.message_type)]);
        if let Some(id) = &self.client_id {
            opt(OptionCode::ClientId, id);
        }
        if let Some(a) = self.requested_addr {
            opt(OptionCode::RequestedAddr, &a.octets());
        }
        if let Some(a) = self.server_id {
            opt(OptionCode::ServerId, &a.octets());
        }
        if let Some(t) = self.lease_time {
            opt(OptionCode::LeaseTime, &t.to_be_bytes());
        }
        if let Some(t) = self.renewal_time {
            opt(OptionCode::RenewalTime, &t.to_be_bytes());
        }
        if let Some(t) = self.rebinding_time {
            opt(OptionCode::RebindingTime, &t.to_be_bytes());
        }
        if let Some(m) = self.subnet_mask {
            opt(OptionCode::SubnetMask, &m.octets());
        }
        for (code, list) in [
            (OptionCode::Router, &self.routers),
            (OptionCode::DnsServers, &self.dns_servers),
        ] {
            for chunk in list.chunks(63) {
                let bytes: Vec<u8> = chunk.iter().flat_map(|a| a.octets()).collect();
                opt(code, &bytes);
            }
        }
        if let Some(name) = &self.hostname {
            if !name.is_empty() {
                opt(OptionCode::HostName, name.as_bytes());
            }
        }
        if !self.parameter_request_list.is_empty() {
            opt(
                OptionCode::ParameterRequestList,
                &self.parameter_request_list,
            );
        }
        out.push(u8::from(OptionCode::End));
        let len = out.len() - start;
        if len < MIN_MESSAGE_LEN {
            out.resize(start + MIN_MESSAGE_LEN, 0);
        }
    }

    /// The message as a new byte vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MIN_MESSAGE_LEN);
        self.emit(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

    /// A DHCPOFFER as dnsmasq 2.89 sends it: 192.168.1.100 from server 192.168.1.1, lease
    /// 3600 s, T1 1800 s, T2 3150 s, mask /24, broadcast address (option 28, unknown here),
    /// router and DNS 192.168.1.1, domain "lan" (option 15, unknown here).
    fn dnsmasq_offer() -> Vec<u8> {
        let mut b = vec![
            0x02, 0x01, 0x06, 0x00, // op=BOOTREPLY, htype=Ethernet, hlen=6, hops=0
            0x3d, 0x1d, 0x4e, 0x9a, // xid
            0x00, 0x00, 0x80, 0x00, // secs=0, flags=broadcast
            0x00, 0x00, 0x00, 0x00, // ciaddr
            0xc0, 0xa8, 0x01, 0x64, // yiaddr 192.168.1.100
            0xc0, 0xa8, 0x01, 0x01, // siaddr 192.168.1.1
            0x00, 0x00, 0x00, 0x00, // giaddr
        ];
        b.extend_from_slice(&SERVER_MAC);
        b.extend_from_slice(&[0; 10]);
        b.extend_from_slice(&[0; 192]); // sname, file
        b.extend_from_slice(&[0x63, 0x82, 0x53, 0x63]); // cookie
        b.extend_from_slice(&[
            53, 1, 2, // DHCPOFFER
            54, 4, 0xc0, 0xa8, 0x01, 0x01, // server identifier
            51, 4, 0x00, 0x00, 0x0e, 0x10, // lease 3600
            58, 4, 0x00, 0x00, 0x07, 0x08, // T1 1800
            59, 4, 0x00, 0x00, 0x0c, 0x4e, // T2 3150
            1, 4, 0xff, 0xff, 0xff, 0x00, // subnet mask
            28, 4, 0xc0, 0xa8, 0x01, 0xff, // broadcast address
            3, 4, 0xc0, 0xa8, 0x01, 0x01, // router
            6, 4, 0xc0, 0xa8, 0x01, 0x01, // DNS
            15, 3, b'l', b'a', b'n', // domain name
            255,  // end
        ]);
        b.resize(300, 0);
        b
    }

    #[test]
    fn parse_dnsmasq_offer() {
        let bytes = dnsmasq_offer();
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(
            (p.op(), p.htype(), p.hlen(), p.hops()),
            (Op::Reply, 1, 6, 0)
        );
        assert_eq!(p.xid(), 0x3d1d_4e9a);
        assert_eq!(p.flags(), 0x8000);
        let r = Repr::parse(&p).unwrap();
        let ip = |d| Ipv4Addr::new(192, 168, 1, d);
        assert_eq!(r.message_type, MessageType::Offer);
        assert!(r.broadcast);
        assert_eq!((r.yiaddr, r.siaddr), (ip(100), ip(1)));
        assert_eq!(r.chaddr, MacAddr(SERVER_MAC));
        assert_eq!(r.server_id, Some(ip(1)));
        assert_eq!(
            (r.lease_time, r.renewal_time, r.rebinding_time),
            (Some(3600), Some(1800), Some(3150))
        );
        assert_eq!(r.subnet_mask, Some(Ipv4Addr::new(255, 255, 255, 0)));
        assert_eq!(
            (r.routers.clone(), r.dns_servers.clone()),
            (vec![ip(1)], vec![ip(1)])
        );
        assert_eq!(r.hostname, None);
        assert_eq!(r.client_id, None);
    }

    #[test]
    fn emit_then_parse_round_trips() {
        let bytes = dnsmasq_offer();
        let mut r = Repr::parse_bytes(&bytes).unwrap();
        r.hostname = Some("box".into());
        r.client_id = Some(vec![1, 2, 3, 4, 5, 6, 7]);
        r.parameter_request_list = vec![1, 3, 6];
        r.requested_addr = Some(Ipv4Addr::new(10, 0, 0, 1));
        r.routers = (0..70).map(|i| Ipv4Addr::new(10, 1, 0, i)).collect();
        let out = r.to_bytes();
        assert_eq!(&out[..HEADER_LEN], &bytes[..HEADER_LEN], "fixed part");
        assert_eq!(Repr::parse_bytes(&out), Ok(r));
    }

    #[test]
    fn emit_pads_to_bootp_minimum() {
        let r = Repr::new(
            Op::Request,
            MessageType::Discover,
            7,
            MacAddr([2, 0, 0, 0, 0, 1]),
        );
        let out = r.to_bytes();
        assert_eq!(out.len(), MIN_MESSAGE_LEN);
        assert_eq!(&out[236..244], &[99, 130, 83, 99, 53, 1, 1, 255]);
    }

    #[test]
    fn parse_rejects_malformed() {
        let good = dnsmasq_offer();
        let opt = 240; // first option
        for n in 0..HEADER_LEN {
            assert_eq!(
                Repr::parse_bytes(&good[..n]),
                Err(ParseError::Truncated),
                "{n}"
            );
        }
        let mut b = good.clone();
        b[236] = 0x64;
        assert_eq!(Repr::parse_bytes(&b), Err(ParseError::BadCookie));
        let mut b = good.clone();
        b[1] = 6;
        assert_eq!(Repr::parse_bytes(&b), Err(ParseError::BadHardware));
        // The server-id option claims 200 bytes.
        let mut b = good[..opt + 10].to_vec();
        b[opt + 4] = 200;
        assert_eq!(Repr::parse_bytes(&b), Err(ParseError::OptionTruncated));
        // A length byte missing at the very end.
        let mut b = good[..opt + 3].to_vec();
        b.push(54);
        assert_eq!(Repr::parse_bytes(&b), Err(ParseError::OptionTruncated));
        // Subnet mask of 3 bytes.
        let mut b = good[..opt].to_vec();
        b.extend_from_slice(&[53, 1, 2, 1, 3, 255, 255, 255, 255]);
        assert_eq!(Repr::parse_bytes(&b), Err(ParseError::BadOptionLength));
        // Message type of 2 bytes.
        let mut b = good[..opt].to_vec();
        b.extend_from_slice(&[53, 2, 2, 2, 255]);
        assert_eq!(Repr::parse_bytes(&b), Err(ParseError::BadOptionLength));
        // Overload.
        let mut b = good[..opt].to_vec();
        b.extend_from_slice(&[53, 1, 2, 52, 1, 3, 255]);
        assert_eq!(Repr::parse_bytes(&b), Err(ParseError::Overload));
        // No message type: BOOTP.
        let mut b = good[..opt].to_vec();
        b.extend_from_slice(&[54, 4, 1, 2, 3, 4, 255]);
        assert_eq!(Repr::parse_bytes(&b), Err(ParseError::MissingMessageType));
        // Non-UTF-8 host name.
        let mut b = good[..opt].to_vec();
        b.extend_from_slice(&[53, 1, 2, 12, 2, 0xff, 0xfe, 255]);
        assert_eq!(Repr::parse_bytes(&b), Err(ParseError::BadOptionValue));
    }

    #[test]
    fn parse_skips_pads_and_unknown_and_stops_at_end() {
        let good = dnsmasq_offer();
        let mut b = good[..240].to_vec();
        // pad, unknown 200 (len 0), message type, end, then garbage that must be ignored.
        b.extend_from_slice(&[0, 0, 200, 0, 53, 1, 5, 255, 52, 1, 1]);
        let r = Repr::parse_bytes(&b).unwrap();
        assert_eq!(r.message_type, MessageType::Ack);
        // No End at all: the options run to the end of the buffer.
        let mut b = good[..240].to_vec();
        b.extend_from_slice(&[53, 1, 6]);
        assert_eq!(
            Repr::parse_bytes(&b).unwrap().message_type,
            MessageType::Nak
        );
    }
}
