//! Filter expressions: the parser, recursive descent.

use super::lex::{lex, Tok, Token};
use super::*;

/// The qualifiers of the last primitive, for a bare address after `and`/`or`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Quals {
    proto: Option<&'static str>,
    dir: Dir,
    kind: &'static str,
}

pub(super) struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// VLAN tags skipped by the terms that follow (each `vlan` adds one, as in tcpdump).
    vlan_level: u8,
    last: Option<Quals>,
    end: usize,
}

pub(super) type PResult<T> = Result<T, (String, usize)>;

/// The tree of `text`, or what was expected and where.
pub(super) fn parse(text: &str) -> PResult<Node> {
    let tokens = lex(text)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        vlan_level: 0,
        last: None,
        end: text.chars().count(),
    };
    let root = p.expr()?;
    if p.pos < p.tokens.len() {
        return Err(p.error("expected 'and', 'or' or the end"));
    }
    Ok(root)
}

pub(super) const PROTOS: [&str; 11] = [
    "ether", "ip", "ip6", "arp", "rarp", "tcp", "udp", "sctp", "icmp", "icmp6", "vlan",
];

pub(super) fn tcp_flag(name: &str) -> Option<u8> {
    Some(match name {
        "fin" => 0x01,
        "syn" => 0x02,
        "rst" => 0x04,
        "push" | "psh" => 0x08,
        "ack" => 0x10,
        "urg" => 0x20,
        "ece" => 0x40,
        "cwr" => 0x80,
        _ => return None,
    })
}

pub(super) fn constant(name: &str) -> Option<u32> {
    let v = match name {
        "tcpflags" => 13,
        "tcp-fin" => 0x01,
        "tcp-syn" => 0x02,
        "tcp-rst" => 0x04,
        "tcp-push" => 0x08,
        "tcp-ack" => 0x10,
        "tcp-urg" => 0x20,
        "tcp-ece" => 0x40,
        "tcp-cwr" => 0x80,
        "icmptype" | "icmp6type" => 0,
        "icmpcode" | "icmp6code" => 1,
        "icmp-echoreply" => 0,
        "icmp-unreach" => 3,
        "icmp-sourcequench" => 4,
        "icmp-redirect" => 5,
        "icmp-echo" => 8,
        "icmp-routeradvert" => 9,
        "icmp-routersolicit" => 10,
        "icmp-timxceed" => 11,
        "icmp-paramprob" => 12,
        "icmp-tstamp" => 13,
        "icmp-tstampreply" => 14,
        "icmp-ireq" => 15,
        "icmp-ireqreply" => 16,
        "icmp-maskreq" => 17,
        "icmp-maskreply" => 18,
        "icmp6-destinationunreach" => 1,
        "icmp6-packettoobig" => 2,
        "icmp6-timeexceeded" => 3,
        "icmp6-parameterproblem" => 4,
        "icmp6-echo" => 128,
        "icmp6-echoreply" => 129,
        "icmp6-multicastlistenerquery" => 130,
        "icmp6-multicastlistenerreportv1" => 131,
        "icmp6-multicastlistenerdone" => 132,
        "icmp6-routersolicit" => 133,
        "icmp6-routeradvert" => 134,
        "icmp6-neighborsolicit" => 135,
        "icmp6-neighboradvert" => 136,
        "icmp6-redirect" => 137,
        "icmp6-multicastlistenerreportv2" => 143,
        _ => return None,
    };
    Some(v)
}

pub(super) fn number(w: &str) -> Option<u32> {
    if let Some(hex) = w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
        u32::from_str_radix(hex, 16).ok()
    } else if w.chars().all(|c| c.is_ascii_digit()) {
        w.parse().ok()
    } else {
        None
    }
}

pub(super) fn ip_proto(w: &str) -> Option<u8> {
    match w {
        "icmp" => Some(1),
        "igmp" => Some(2),
        "tcp" => Some(6),
        "udp" => Some(17),
        "icmp6" => Some(58),
        "sctp" => Some(132),
        _ => number(w).and_then(|n| u8::try_from(n).ok()),
    }
}

pub(super) fn mac(w: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = w.split([':', '-', '.']).collect();
    let mut out = [0u8; 6];
    if parts.len() == 6 {
        for (o, p) in out.iter_mut().zip(&parts) {
            if p.is_empty() || p.len() > 2 {
                return None;
            }
            *o = u8::from_str_radix(p, 16).ok()?;
        }
        return Some(out);
    }
    None
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.tok)
    }

    fn peek_word(&self) -> Option<&str> {
        match self.peek() {
            Some(Tok::Word(w)) => Some(w),
            _ => None,
        }
    }

    fn word_at(&self, i: usize) -> Option<&str> {
        match self.tokens.get(i).map(|t| &t.tok) {
            Some(Tok::Word(w)) => Some(w),
            _ => None,
        }
    }

    fn at(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |t| t.at)
    }

    fn error(&self, message: &str) -> (String, usize) {
        let what = match self.peek() {
            Some(Tok::Word(w)) => format!("{message}, not '{w}'"),
            Some(Tok::Op(o)) => format!("{message}, not '{o}'"),
            None => format!("{message}, not the end"),
        };
        (what, self.at())
    }

    fn eat_op(&mut self, op: &'static str) -> bool {
        if self.peek() == Some(&Tok::Op(op)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if self.peek_word() == Some(w) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expr(&mut self) -> PResult<Node> {
        let mut left = self.and()?;
        loop {
            if self.eat_word("or") || self.eat_op("||") {
                let right = self.and()?;
                left = Node::Or(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn and(&mut self) -> PResult<Node> {
        let mut left = self.unary()?;
        loop {
            if self.eat_word("and") || self.eat_op("&&") {
                let right = self.unary()?;
                left = Node::And(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn unary(&mut self) -> PResult<Node> {
        if self.eat_word("not") || self.eat_op("!") {
            return Ok(Node::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> PResult<Node> {
        // A relation first (it may open with '(' or a protocol name followed by '['); on
        // failure, a group or a primitive.
        let start = self.pos;
        let level = self.vlan_level;
        // `len ...` and `proto[...]` can only be relations: their mistakes are reported as such.
        let committed = self.peek_word() == Some("len")
            || self.tokens.get(self.pos + 1).map(|t| &t.tok) == Some(&Tok::Op("["));
        match self.relation() {
            Ok(rel) => return Ok(rel),
            Err(e) if committed => return Err(e),
            Err(_) => {}
        }
        self.pos = start;
        self.vlan_level = level;
        if self.eat_op("(") {
            let inner = self.expr()?;
            if !self.eat_op(")") {
                return Err(self.error("expected ')'"));
            }
            return Ok(inner);
        }
        self.primitive()
    }

    fn relation(&mut self) -> PResult<Node> {
        let level = self.vlan_level;
        let lhs = self.arith()?;
        let op = match self.peek() {
            Some(Tok::Op("==")) => RelOp::Eq,
            Some(Tok::Op("!=")) => RelOp::Ne,
            Some(Tok::Op("<")) => RelOp::Lt,
            Some(Tok::Op("<=")) => RelOp::Le,
            Some(Tok::Op(">")) => RelOp::Gt,
            Some(Tok::Op(">=")) => RelOp::Ge,
            _ => return Err(self.error("expected a comparison")),
        };
        self.pos += 1;
        let rhs = self.arith()?;
        Ok(Node::Rel {
            level,
            op,
            lhs,
            rhs,
        })
    }

    // Arithmetic, by C precedence (lowest first): | ^ & << >> + - * / %.
    fn arith(&mut self) -> PResult<Arith> {
        self.binary(0)
    }

    fn binary(&mut self, tier: usize) -> PResult<Arith> {
        const TIERS: [&[(&str, BinOp)]; 6] = [
            &[("|", BinOp::Or)],
            &[("^", BinOp::Xor)],
            &[("&", BinOp::And)],
            &[("<<", BinOp::Shl), (">>", BinOp::Shr)],
            &[("+", BinOp::Add), ("-", BinOp::Sub)],
            &[("*", BinOp::Mul), ("/", BinOp::Div), ("%", BinOp::Mod)],
        ];
        let Some(ops) = TIERS.get(tier) else {
            return self.arith_unary();
        };
        let mut left = self.binary(tier + 1)?;
        loop {
            let found = ops
                .iter()
                .find(|(s, _)| self.peek() == Some(&Tok::Op(s)))
                .map(|(_, op)| *op);
            match found {
                Some(op) => {
                    self.pos += 1;
                    let right = self.binary(tier + 1)?;
                    left = Arith::Bin(op, Box::new(left), Box::new(right));
                }
                None => return Ok(left),
            }
        }
    }

    fn arith_unary(&mut self) -> PResult<Arith> {
        if self.eat_op("-") {
            return Ok(Arith::Neg(Box::new(self.arith_unary()?)));
        }
        if self.eat_op("(") {
            let inner = self.arith()?;
            if !self.eat_op(")") {
                return Err(self.error("expected ')'"));
            }
            return Ok(inner);
        }
        let Some(w) = self.peek_word().map(str::to_owned) else {
            return Err(self.error("expected a number"));
        };
        if w == "len" {
            self.pos += 1;
            return Ok(Arith::Len);
        }
        if let Some(n) = number(&w).or_else(|| constant(&w)) {
            self.pos += 1;
            return Ok(Arith::Num(n));
        }
        let layer = match w.as_str() {
            "ether" | "link" => Layer::Ether,
            "ip" => Layer::Ip,
            "ip6" => Layer::Ip6,
            "arp" | "rarp" => Layer::Arp,
            "tcp" => Layer::Transport4(6),
            "udp" => Layer::Transport4(17),
            "icmp" => Layer::Transport4(1),
            "sctp" => Layer::Transport4(132),
            "icmp6" => Layer::Icmp6,
            _ => return Err(self.error("expected a number")),
        };
        if self.tokens.get(self.pos + 1).map(|t| &t.tok) != Some(&Tok::Op("[")) {
            return Err(self.error("expected a number"));
        }
        self.pos += 2;
        let offset = self.arith()?;
        let mut size = 1u8;
        if self.eat_op(":") {
            let at = self.at();
            size = match self.peek_word().and_then(number) {
                Some(n @ (1 | 2 | 4)) => n as u8,
                _ => return Err(("the size after ':' must be 1, 2 or 4".to_owned(), at)),
            };
            self.pos += 1;
        }
        if !self.eat_op("]") {
            return Err(self.error("expected ']'"));
        }
        Ok(Arith::Load {
            layer,
            offset: Box::new(offset),
            size,
        })
    }

    fn primitive(&mut self) -> PResult<Node> {
        let level = self.vlan_level;
        let test = |test| Node::Test { level, test };
        let start = self.at();
        let Some(first) = self.peek_word().map(str::to_owned) else {
            return Err(self.error("expected a filter term"));
        };

        // Protocol qualifier.
        let proto: Option<&'static str> = PROTOS.iter().copied().find(|p| *p == first);
        if proto.is_some() {
            self.pos += 1;
        }
        match proto {
            Some("vlan") => {
                let id = match self.peek_word().and_then(number) {
                    Some(n) => {
                        self.pos += 1;
                        Some(
                            u16::try_from(n)
                                .ok()
                                .filter(|&n| n < 4096)
                                .ok_or(("a VLAN ID is 0 to 4095".to_owned(), self.at()))?,
                        )
                    }
                    None => None,
                };
                self.vlan_level = self.vlan_level.saturating_add(1);
                return Ok(test(Test::Vlan(id)));
            }
            Some("ether") => {
                if self.eat_word("broadcast") {
                    return Ok(test(Test::EtherBroadcast));
                }
                if self.eat_word("multicast") {
                    return Ok(test(Test::EtherMulticast));
                }
                if self.eat_word("proto") {
                    let at = self.at();
                    let ty = match self.peek_word() {
                        Some("ip") => 0x0800,
                        Some("ip6") => 0x86dd,
                        Some("arp") => 0x0806,
                        Some("rarp") => 0x8035,
                        Some(w) => number(w)
                            .and_then(|n| u16::try_from(n).ok())
                            .ok_or(("expected an EtherType".to_owned(), at))?,
                        None => return Err(self.error("expected an EtherType")),
                    };
                    self.pos += 1;
                    return Ok(test(Test::EtherType(ty)));
                }
            }
            Some(p @ ("tcp" | "ip" | "ip6")) => {
                if p == "tcp" {
                    if let Some(bit) = self.peek_word().and_then(tcp_flag) {
                        self.pos += 1;
                        return Ok(test(Test::TcpFlag(bit)));
                    }
                }
                if p != "tcp" && self.eat_word("proto") {
                    let at = self.at();
                    let n = self
                        .peek_word()
                        .and_then(ip_proto)
                        .ok_or(("expected a protocol name or number".to_owned(), at))?;
                    self.pos += 1;
                    let family = if p == "ip" { Family::V4 } else { Family::V6 };
                    return Ok(test(Test::IpProto { family, proto: n }));
                }
                // `ip6 tcp port 80` style: a transport after the family.
                if p != "tcp" {
                    if let Some(t) = self
                        .peek_word()
                        .filter(|w| matches!(*w, "tcp" | "udp" | "sctp"))
                    {
                        let family = if p == "ip" { Family::V4 } else { Family::V6 };
                        let t = ip_proto(t).unwrap_or(0);
                        self.pos += 1;
                        return self.port_or_proto(level, family, t);
                    }
                }
            }
            _ => {}
        }
        if proto.is_none() && matches!(first.as_str(), "less" | "greater") {
            self.pos += 1;
            let at = self.at();
            let n = self
                .peek_word()
                .and_then(number)
                .ok_or(("expected a length".to_owned(), at))?;
            self.pos += 1;
            return Ok(test(if first == "less" {
                Test::Less(n)
            } else {
                Test::Greater(n)
            }));
        }

        // Direction.
        let mut dir = None;
        if let Some(d) = self.peek_word().filter(|w| matches!(*w, "src" | "dst")) {
            let d = if d == "src" { Dir::Src } else { Dir::Dst };
            self.pos += 1;
            dir = Some(d);
            // "src or dst", "src and dst".
            let both = matches!(self.peek_word(), Some("or" | "and"))
                && matches!(self.word_at(self.pos + 1), Some("src" | "dst"));
            if both {
                let and = self.peek_word() == Some("and");
                self.pos += 2;
                dir = Some(if and { Dir::Both } else { Dir::Either });
            }
        }
        let dir_given = dir.is_some();
        let dir = dir.unwrap_or(Dir::Either);

        // Type.
        let kind: Option<&'static str> = ["host", "net", "port", "portrange"]
            .into_iter()
            .find(|k| self.peek_word() == Some(*k));
        if kind.is_some() {
            self.pos += 1;
        }
        if proto == Some("ether") {
            if !matches!(kind, None | Some("host")) {
                return Err(("'ether' takes a MAC address".to_owned(), start));
            }
            let at = self.at();
            let m = self
                .peek_word()
                .and_then(mac)
                .ok_or(("expected a MAC address".to_owned(), at))?;
            self.pos += 1;
            self.last = Some(Quals {
                proto,
                dir,
                kind: "host",
            });
            return Ok(test(Test::Ether { dir, mac: m }));
        }
        if kind.is_none() && !dir_given {
            // A lone protocol name.
            let t = match proto {
                Some("ip") => Test::EtherType(0x0800),
                Some("ip6") => Test::EtherType(0x86dd),
                Some("arp") => Test::EtherType(0x0806),
                Some("rarp") => Test::EtherType(0x8035),
                Some(p @ ("tcp" | "udp" | "sctp" | "icmp")) => Test::IpProto {
                    family: if p == "icmp" { Family::V4 } else { Family::Any },
                    proto: ip_proto(p).unwrap_or(0),
                },
                Some("icmp6") => Test::IpProto {
                    family: Family::V6,
                    proto: 58,
                },
                _ => {
                    // A bare address: the last term's qualifiers, else "host".
                    if let Some(q) = self.last {
                        return self.value(level, q.proto, q.dir, q.kind, start);
                    }
                    return self.value(level, None, Dir::Either, "host", start);
                }
            };
            return Ok(test(t));
        }
        let kind = kind.unwrap_or("host");
        self.value(level, proto, dir, kind, start)
    }

    /// `tcp` after `ip`/`ip6`: a port term or the protocol alone.
    fn port_or_proto(&mut self, level: u8, family: Family, proto: u8) -> PResult<Node> {
        let start = self.at();
        let mut dir = Dir::Either;
        if let Some(d) = self.peek_word().filter(|w| matches!(*w, "src" | "dst")) {
            dir = if d == "src" { Dir::Src } else { Dir::Dst };
            self.pos += 1;
        }
        if let Some(k) = self
            .peek_word()
            .filter(|w| matches!(*w, "port" | "portrange"))
        {
            let kind = if k == "port" { "port" } else { "portrange" };
            self.pos += 1;
            let (lo, hi) = self.ports(kind)?;
            return Ok(Node::Test {
                level,
                test: Test::Port {
                    family,
                    proto,
                    dir,
                    lo,
                    hi,
                },
            });
        }
        if dir != Dir::Either {
            return Err(("expected 'port' or 'portrange'".to_owned(), start));
        }
        Ok(Node::Test {
            level,
            test: Test::IpProto { family, proto },
        })
    }

    fn ports(&mut self, kind: &str) -> PResult<(u16, u16)> {
        let at = self.at();
        let Some(w) = self.peek_word().map(str::to_owned) else {
            return Err(self.error(&format!("expected a port after '{kind}'")));
        };
        let port = |s: &str| {
            number(s)
                .and_then(|n| u16::try_from(n).ok())
                .ok_or((format!("'{s}' is not a port number"), at))
        };
        let r = if kind == "portrange" {
            let (a, b) = w
                .split_once('-')
                .ok_or(("a port range is written N-M".to_owned(), at))?;
            let (a, b) = (port(a)?, port(b)?);
            (a.min(b), a.max(b))
        } else {
            let p = port(&w)?;
            (p, p)
        };
        self.pos += 1;
        Ok(r)
    }

    /// The value of a host, net, port or portrange term.
    fn value(
        &mut self,
        level: u8,
        proto: Option<&'static str>,
        dir: Dir,
        kind: &'static str,
        start: usize,
    ) -> PResult<Node> {
        self.last = Some(Quals { proto, dir, kind });
        let test = |test| Node::Test { level, test };
        match kind {
            "port" | "portrange" => {
                let (family, t) = match proto {
                    None => (Family::Any, 0),
                    Some("ip") => (Family::V4, 0),
                    Some("ip6") => (Family::V6, 0),
                    Some(p @ ("tcp" | "udp" | "sctp")) => (Family::Any, ip_proto(p).unwrap_or(0)),
                    Some(p) => return Err((format!("'{p}' has no ports"), start)),
                };
                let (lo, hi) = self.ports(kind)?;
                Ok(test(Test::Port {
                    family,
                    proto: t,
                    dir,
                    lo,
                    hi,
                }))
            }
            _ => {
                let at = self.at();
                let Some(w) = self.peek_word().map(str::to_owned) else {
                    return Err(self.error(&format!("expected an address after '{kind}'")));
                };
                let (addr, prefix) = match w.split_once('/') {
                    Some((a, len)) if kind == "net" => {
                        let addr: IpAddr = a
                            .parse()
                            .map_err(|_| (format!("'{a}' is not an IP address"), at))?;
                        let max = if addr.is_ipv4() { 32 } else { 128 };
                        let len = len
                            .parse::<u8>()
                            .ok()
                            .filter(|&l| l <= max)
                            .ok_or((format!("'{len}' is not a prefix length"), at))?;
                        (addr, len)
                    }
                    _ => {
                        let addr: IpAddr = w.parse().map_err(|_| {
                            let msg =
                                if w.chars().any(|c| c.is_ascii_alphabetic()) && !w.contains(':') {
                                    format!(
                                    "expected an address, not '{w}' (host names are not looked up)"
                                )
                                } else {
                                    format!("'{w}' is not an IP address")
                                };
                            (msg, at)
                        })?;
                        (addr, if addr.is_ipv4() { 32 } else { 128 })
                    }
                };
                self.pos += 1;
                let mut prefix = prefix;
                if kind == "net" && self.eat_word("mask") {
                    let at = self.at();
                    let m: std::net::Ipv4Addr = self
                        .peek_word()
                        .and_then(|w| w.parse().ok())
                        .ok_or(("expected a netmask such as 255.255.255.0".to_owned(), at))?;
                    let bits = u32::from(m);
                    if bits.leading_ones() + bits.trailing_zeros() != 32 || !addr.is_ipv4() {
                        return Err(("not a contiguous IPv4 netmask".to_owned(), at));
                    }
                    prefix = bits.leading_ones() as u8;
                    self.pos += 1;
                }
                let ap = match proto {
                    None => AddrProto::Any,
                    Some("ip") => AddrProto::Ip,
                    Some("ip6") => AddrProto::Ip6,
                    Some("arp") => AddrProto::Arp,
                    Some("rarp") => AddrProto::Rarp,
                    Some(p) => return Err((format!("'{p}' cannot qualify '{kind}'"), start)),
                };
                let v6 = addr.is_ipv6();
                if (v6 && matches!(ap, AddrProto::Ip | AddrProto::Arp | AddrProto::Rarp))
                    || (!v6 && ap == AddrProto::Ip6)
                {
                    return Err((format!("'{w}' is not an address of that protocol"), at));
                }
                Ok(test(Test::Net {
                    proto: ap,
                    dir,
                    addr,
                    prefix,
                }))
            }
        }
    }
}
