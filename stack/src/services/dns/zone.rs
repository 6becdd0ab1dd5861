//! The zone data the DNS server answers from: names, records, zones, and the loaders (the host's
//! own records, a subset of the RFC 1035 section 5 master-file format, and `NAME=ADDR` strings).
//!
//! # Master-file subset
//!
//! - `$ORIGIN name.` (absolute) and `$TTL seconds` (RFC 2308 section 4); `$INCLUDE` is refused.
//! - Owner names: absolute (`www.example.`), relative to the origin (`www`), `@` for the origin, or
//!   omitted (the line starts with a blank) to repeat the previous owner.
//! - Then an optional TTL (decimal seconds) and an optional class (`IN` only), in either order,
//!   the type, and its data. Without a TTL, `$TTL` applies, else the default TTL of the catalog.
//! - Types: `A`, `AAAA`, `CNAME`, `PTR`, `NS`, `MX pref host`, `TXT` (one or more strings, quoted
//!   with `\"` and `\\` escapes, or bare words), `SOA mname rname serial refresh retry expire
//!   minimum`.
//! - `;` starts a comment outside quotes; parentheses continue a record over several lines.
//! - Names are case-insensitive and kept in lower case; backslash escapes inside names and the
//!   `1h`-style TTL units are not supported.
//!
//! Errors carry the line number where the offending token (or record) starts.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::Ipv4Cidr;

/// Longest name in presentation form, without the final dot (RFC 1035 2.3.4: 255 octets on the
/// wire).
const MAX_NAME_TEXT: usize = 253;
/// Longest label (RFC 1035 2.3.4).
const MAX_LABEL: usize = 63;
/// Longest character-string in TXT data (RFC 1035 3.3).
const MAX_STRING: usize = 255;

/// A domain name in lower case, as labels from the leaf to the root (the root has none).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name {
    labels: Vec<Vec<u8>>,
}

impl Name {
    /// The root name.
    pub fn root() -> Self {
        Name::default()
    }

    /// Parses dotted text; a final dot is optional. Labels must be 1 to 63 bytes of printable
    /// ASCII without backslashes, and the whole at most 253 characters.
    ///
    /// # Errors
    /// [`ErrorKind::BadName`] otherwise.
    pub fn from_text(s: &str) -> Result<Self, ErrorKind> {
        let s = s.strip_suffix('.').unwrap_or(s);
        if s.is_empty() {
            return Ok(Name::root());
        }
        if s.len() > MAX_NAME_TEXT {
            return Err(ErrorKind::BadName);
        }
        let mut labels = Vec::new();
        for l in s.split('.') {
            if l.is_empty()
                || l.len() > MAX_LABEL
                || !l.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
            {
                return Err(ErrorKind::BadName);
            }
            labels.push(l.to_ascii_lowercase().into_bytes());
        }
        Ok(Name { labels })
    }

    /// A name from wire labels (leaf first), lower-cased; `None` when a label holds a dot (no
    /// zone name can match it then).
    pub fn from_labels<'a>(labels: impl Iterator<Item = &'a [u8]>) -> Option<Self> {
        let mut out = Vec::new();
        for l in labels {
            if l.contains(&b'.') {
                return None;
            }
            out.push(l.to_ascii_lowercase());
        }
        Some(Name { labels: out })
    }

    /// The labels, leaf first.
    pub fn labels(&self) -> impl Iterator<Item = &[u8]> {
        self.labels.iter().map(Vec::as_slice)
    }

    /// True when `self` is `zone` or below it.
    pub fn is_within(&self, zone: &Name) -> bool {
        self.labels.len() >= zone.labels.len()
            && self
                .labels
                .iter()
                .rev()
                .zip(zone.labels.iter().rev())
                .all(|(a, b)| a == b)
    }

    /// `self` followed by `suffix`.
    ///
    /// # Errors
    /// [`ErrorKind::BadName`] when the result is too long.
    pub fn join(&self, suffix: &Name) -> Result<Name, ErrorKind> {
        let mut labels = self.labels.clone();
        labels.extend(suffix.labels.iter().cloned());
        let n = Name { labels };
        if n.text_len() > MAX_NAME_TEXT {
            return Err(ErrorKind::BadName);
        }
        Ok(n)
    }

    fn text_len(&self) -> usize {
        self.labels.iter().map(|l| l.len() + 1).sum::<usize>()
    }

    /// The `in-addr.arpa` name of an address (RFC 1035 3.5).
    pub fn reverse_v4(addr: Ipv4Addr) -> Name {
        Name::reverse_v4_octets(&addr.octets())
    }

    /// The `ip6.arpa` name of an address (RFC 3596 2.5): 32 nibbles, lowest first.
    pub fn reverse_v6(addr: Ipv6Addr) -> Name {
        Name::reverse_v6_nibbles(addr, 32)
    }

    /// The `ip6.arpa` name of the leading `nibbles` (1..=32) of an address.
    fn reverse_v6_nibbles(addr: Ipv6Addr, nibbles: usize) -> Name {
        let bits = u128::from(addr);
        let mut labels: Vec<Vec<u8>> = (0..nibbles.clamp(1, 32))
            .map(|i| {
                let nibble = (bits >> (124 - 4 * i)) & 0xf;
                format!("{nibble:x}").into_bytes()
            })
            .collect();
        labels.reverse();
        labels.push(b"ip6".to_vec());
        labels.push(b"arpa".to_vec());
        Name { labels }
    }

    /// The `in-addr.arpa` name of the leading `octets` of an address.
    fn reverse_v4_octets(octets: &[u8]) -> Name {
        let mut labels: Vec<Vec<u8>> = octets
            .iter()
            .rev()
            .map(|o| o.to_string().into_bytes())
            .collect();
        labels.push(b"in-addr".to_vec());
        labels.push(b"arpa".to_vec());
        Name { labels }
    }
}

impl fmt::Display for Name {
    /// Presentation form with the final dot.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.labels.is_empty() {
            return f.write_str(".");
        }
        for l in &self.labels {
            f.write_str(&String::from_utf8_lossy(l))?;
            f.write_str(".")?;
        }
        Ok(())
    }
}

/// The SOA fields after the two names (RFC 1035 3.3.13).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Soa {
    /// The primary name server.
    pub mname: Name,
    /// The responsible mailbox, as a name.
    pub rname: Name,
    /// Version of the zone.
    pub serial: u32,
    /// Secondary refresh interval, seconds.
    pub refresh: u32,
    /// Secondary retry interval, seconds.
    pub retry: u32,
    /// When a secondary stops answering, seconds.
    pub expire: u32,
    /// The negative-caching TTL (RFC 2308 section 4).
    pub minimum: u32,
}

/// Record data of the types served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Data {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address (RFC 3596).
    Aaaa(Ipv6Addr),
    /// The canonical name of an alias.
    Cname(Name),
    /// A pointer, for reverse lookups.
    Ptr(Name),
    /// An authoritative name server.
    Ns(Name),
    /// A mail exchange with its preference.
    Mx(u16, Name),
    /// Character-strings, each at most 255 bytes.
    Txt(Vec<Vec<u8>>),
    /// Start of authority.
    Soa(Soa),
}

/// Record types, as in queries (RFC 1035 3.2.2, RFC 3596).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    /// 1.
    A,
    /// 2.
    Ns,
    /// 5.
    Cname,
    /// 6.
    Soa,
    /// 12.
    Ptr,
    /// 15.
    Mx,
    /// 16.
    Txt,
    /// 28.
    Aaaa,
    /// Any type this server does not hold.
    Unknown(u16),
}

impl From<u16> for Type {
    fn from(v: u16) -> Self {
        match v {
            1 => Type::A,
            2 => Type::Ns,
            5 => Type::Cname,
            6 => Type::Soa,
            12 => Type::Ptr,
            15 => Type::Mx,
            16 => Type::Txt,
            28 => Type::Aaaa,
            v => Type::Unknown(v),
        }
    }
}

impl Data {
    /// The type of this data.
    pub fn kind(&self) -> Type {
        match self {
            Data::A(_) => Type::A,
            Data::Aaaa(_) => Type::Aaaa,
            Data::Cname(_) => Type::Cname,
            Data::Ptr(_) => Type::Ptr,
            Data::Ns(_) => Type::Ns,
            Data::Mx(..) => Type::Mx,
            Data::Txt(_) => Type::Txt,
            Data::Soa(_) => Type::Soa,
        }
    }
}

/// One resource record (class IN).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The owner.
    pub name: Name,
    /// Time to live, seconds.
    pub ttl: u32,
    /// The data.
    pub data: Data,
}

/// What is wrong with zone input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A name is malformed or too long.
    BadName,
    /// An address does not parse.
    BadAddress,
    /// A number does not parse or is out of range.
    BadNumber,
    /// The record type is not supported.
    UnknownType(String),
    /// A class other than IN.
    UnsupportedClass(String),
    /// An unknown or unsupported `$` directive.
    UnknownDirective(String),
    /// The record ends before its data is complete.
    MissingData,
    /// More tokens than the type takes.
    TrailingData,
    /// A quoted string is not closed, or a string is over 255 bytes.
    BadString,
    /// Parentheses do not match.
    BadParentheses,
    /// A record line without an owner before any owner was given.
    NoOwner,
    /// The owner lies in none of the zones served.
    OutOfZone(String),
    /// More records than the catalog holds.
    TooManyRecords,
    /// A `NAME=ADDR` string without `=`.
    NoEquals,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::BadName => f.write_str("malformed or too long domain name"),
            ErrorKind::BadAddress => f.write_str("malformed address"),
            ErrorKind::BadNumber => f.write_str("malformed or out-of-range number"),
            ErrorKind::UnknownType(t) => write!(f, "unsupported record type '{t}'"),
            ErrorKind::UnsupportedClass(c) => write!(f, "unsupported class '{c}' (only IN)"),
            ErrorKind::UnknownDirective(d) => write!(f, "unsupported directive '{d}'"),
            ErrorKind::MissingData => f.write_str("record data incomplete"),
            ErrorKind::TrailingData => f.write_str("unexpected data after the record"),
            ErrorKind::BadString => f.write_str("unterminated or over-long string"),
            ErrorKind::BadParentheses => f.write_str("unbalanced parentheses"),
            ErrorKind::NoOwner => f.write_str("no owner name yet"),
            ErrorKind::OutOfZone(n) => write!(f, "'{n}' is in no zone served here"),
            ErrorKind::TooManyRecords => f.write_str("too many records"),
            ErrorKind::NoEquals => f.write_str("expected NAME=ADDR"),
        }
    }
}

/// A zone input error with the line it was found on (1-based; 0 for a `NAME=ADDR` string).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// The line.
    pub line: usize,
    /// What is wrong.
    pub kind: ErrorKind,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.kind)
    }
}

impl std::error::Error for Error {}

/// A zone: its apex and SOA; records are held by the [`Catalog`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zone {
    /// The apex.
    pub apex: Name,
    /// The SOA record.
    pub soa: Record,
}

/// The host's own identity, from which the default zones are built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostIdentity {
    /// The host's name, also the apex of its forward zone (e.g. `tapstack.test`).
    pub name: Name,
    /// IPv4 address and prefix: an A record and the reverse zone of the prefix.
    pub ipv4: Option<Ipv4Cidr>,
    /// IPv6 addresses (link-local ones are left out by the caller): AAAA records, and the
    /// `ip6.arpa` reverse zone of each prefix with a PTR record.
    pub ipv6: Vec<crate::config::Ipv6Cidr>,
    /// TTL of every record built here and default TTL of loaded records.
    pub ttl: u32,
}

/// Every zone served and their records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    zones: Vec<Zone>,
    records: Vec<Record>,
    default_origin: Name,
    default_ttl: u32,
    max_records: usize,
}

/// The default record bound of a catalog.
pub const MAX_RECORDS: usize = 10_000;

impl Catalog {
    /// An empty catalog (it refuses every query until zones are added).
    pub fn new(default_origin: Name, default_ttl: u32) -> Self {
        Catalog {
            zones: Vec::new(),
            records: Vec::new(),
            default_origin,
            default_ttl,
            max_records: MAX_RECORDS,
        }
    }

    /// The host's zones: the forward zone at its name (SOA, NS, A, AAAA) and, with IPv4, the
    /// reverse zone of its prefix (SOA, NS, PTR).
    ///
    /// The reverse zone is cut at the octet boundary at or above the prefix (`10.77.0.2/24` gives
    /// `0.77.10.in-addr.arpa`, `/20` gives `77.10.in-addr.arpa`), never above the first octet;
    /// RFC 2317 classless delegation is out of scope.
    pub fn for_host(host: &HostIdentity) -> Self {
        let mut c = Catalog::new(host.name.clone(), host.ttl);
        let soa = || Soa {
            mname: host.name.clone(),
            rname: Name {
                labels: core::iter::once(b"hostmaster".to_vec())
                    .chain(host.name.labels.iter().cloned())
                    .collect(),
            },
            serial: 1,
            refresh: 3600,
            retry: 600,
            expire: 86_400,
            minimum: 300,
        };
        let add_zone = |c: &mut Catalog, apex: Name| {
            c.zones.push(Zone {
                apex: apex.clone(),
                soa: Record {
                    name: apex.clone(),
                    ttl: host.ttl,
                    data: Data::Soa(soa()),
                },
            });
            c.records.push(Record {
                name: apex,
                ttl: host.ttl,
                data: Data::Ns(host.name.clone()),
            });
        };
        add_zone(&mut c, host.name.clone());
        if let Some(cidr) = host.ipv4 {
            c.records.push(Record {
                name: host.name.clone(),
                ttl: host.ttl,
                data: Data::A(cidr.addr()),
            });
            let octets = usize::from(cidr.prefix() / 8).clamp(1, 4);
            let addr = cidr.addr().octets();
            add_zone(
                &mut c,
                Name::reverse_v4_octets(addr.get(..octets).unwrap_or(&addr)),
            );
            c.records.push(Record {
                name: Name::reverse_v4(cidr.addr()),
                ttl: host.ttl,
                data: Data::Ptr(host.name.clone()),
            });
        }
        for v6 in &host.ipv6 {
            c.records.push(Record {
                name: host.name.clone(),
                ttl: host.ttl,
                data: Data::Aaaa(v6.addr()),
            });
            // The reverse zone is cut at the nibble boundary at or above the prefix (RFC 3596
            // 2.5): fd77::2/64 gives 0.0.0.0.0.0.0.0.0.0.0.0.7.7.d.f.ip6.arpa.
            let apex = Name::reverse_v6_nibbles(v6.addr(), usize::from(v6.prefix() / 4));
            if !c.zones.iter().any(|z| z.apex == apex) {
                add_zone(&mut c, apex);
            }
            c.records.push(Record {
                name: Name::reverse_v6(v6.addr()),
                ttl: host.ttl,
                data: Data::Ptr(host.name.clone()),
            });
        }
        c
    }

    /// The zones.
    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    /// The records (SOA records are in [`Catalog::zones`]).
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The zone with the longest apex containing `name`.
    pub fn zone_of(&self, name: &Name) -> Option<&Zone> {
        self.zones
            .iter()
            .filter(|z| name.is_within(&z.apex))
            .max_by_key(|z| z.apex.labels.len())
    }

    /// Records owned by `name`, SOA included.
    pub fn at<'a>(&'a self, name: &'a Name) -> impl Iterator<Item = &'a Record> + 'a {
        self.zones
            .iter()
            .map(|z| &z.soa)
            .chain(self.records.iter())
            .filter(move |r| &r.name == name)
    }

    /// True when `name` owns records or has descendants that do (an empty non-terminal).
    pub fn exists(&self, name: &Name) -> bool {
        self.zones
            .iter()
            .map(|z| &z.soa)
            .chain(self.records.iter())
            .any(|r| r.name.is_within(name))
    }

    /// Adds records. An SOA record creates (or replaces) the zone at its owner; any other record
    /// must fall in a zone. A duplicate record is kept once.
    ///
    /// # Errors
    /// [`ErrorKind::OutOfZone`] or [`ErrorKind::TooManyRecords`], with `line` for the report.
    pub fn add(&mut self, record: Record, line: usize) -> Result<(), Error> {
        let err = |kind| Error { line, kind };
        if let Data::Soa(_) = record.data {
            if let Some(z) = self.zones.iter_mut().find(|z| z.apex == record.name) {
                z.soa = record;
            } else {
                if self.zones.len() >= self.max_records {
                    return Err(err(ErrorKind::TooManyRecords));
                }
                self.zones.push(Zone {
                    apex: record.name.clone(),
                    soa: record,
                });
            }
            return Ok(());
        }
        if self.zone_of(&record.name).is_none() {
            return Err(err(ErrorKind::OutOfZone(record.name.to_string())));
        }
        if self.records.contains(&record) {
            return Ok(());
        }
        if self.records.len() >= self.max_records {
            return Err(err(ErrorKind::TooManyRecords));
        }
        self.records.push(record);
        Ok(())
    }

    /// Loads a master file (the subset in the module docs), with `$ORIGIN` starting at the
    /// catalog's default origin. SOA records are added first so a file may define its own zone.
    ///
    /// # Errors
    /// The first [`Error`], with its line; records before it stay loaded.
    pub fn load_master(&mut self, text: &str) -> Result<(), Error> {
        let records = parse_master(text, &self.default_origin, self.default_ttl)?;
        let (soas, others): (Vec<_>, Vec<_>) = records
            .into_iter()
            .partition(|(_, r)| matches!(r.data, Data::Soa(_)));
        for (line, r) in soas.into_iter().chain(others) {
            self.add(r, line)?;
        }
        Ok(())
    }

    /// Adds a record from `NAME=ADDR` (A for IPv4, AAAA for IPv6). `NAME` is absolute when it ends
    /// with a dot or already lies in the default zone, else relative to it. An IPv4 address in a
    /// reverse zone served here also gets its PTR.
    ///
    /// # Errors
    /// [`Error`] with line 0.
    pub fn add_assignment(&mut self, s: &str) -> Result<(), Error> {
        let err = |kind| Error { line: 0, kind };
        let (name, addr) = s.split_once('=').ok_or(err(ErrorKind::NoEquals))?;
        let (name, addr) = (name.trim(), addr.trim());
        let parsed = Name::from_text(name).map_err(err)?;
        let name = if name.ends_with('.') || parsed.is_within(&self.default_origin) {
            parsed
        } else {
            parsed.join(&self.default_origin).map_err(err)?
        };
        let addr: IpAddr = addr.parse().map_err(|_| err(ErrorKind::BadAddress))?;
        let data = match addr {
            IpAddr::V4(a) => Data::A(a),
            IpAddr::V6(a) => Data::Aaaa(a),
        };
        self.add(
            Record {
                name: name.clone(),
                ttl: self.default_ttl,
                data,
            },
            0,
        )?;
        if let IpAddr::V4(a) = addr {
            let rev = Name::reverse_v4(a);
            if self.zone_of(&rev).is_some() {
                self.add(
                    Record {
                        name: rev,
                        ttl: self.default_ttl,
                        data: Data::Ptr(name),
                    },
                    0,
                )?;
            }
        }
        Ok(())
    }
}

/// A token of a master file with the line it starts on.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Token {
    text: Vec<u8>,
    quoted: bool,
    line: usize,
}

/// One logical entry: its tokens and whether it starts with a blank (owner omitted).
struct Entry {
    line: usize,
    blank_owner: bool,
    tokens: Vec<Token>,
}

/// Splits a master file into entries, joining parenthesised lines and dropping comments.
fn entries(text: &str) -> Result<Vec<Entry>, Error> {
    let mut out = Vec::new();
    let mut cur: Option<Entry> = None;
    let mut depth = 0usize;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let bytes = raw.as_bytes();
        if depth == 0 {
            if let Some(e) = cur.take() {
                if !e.tokens.is_empty() {
                    out.push(e);
                }
            }
            cur = Some(Entry {
                line,
                blank_owner: bytes.first().is_some_and(|b| *b == b' ' || *b == b'\t'),
                tokens: Vec::new(),
            });
        }
        let Some(entry) = cur.as_mut() else {
            continue;
        };
        let mut j = 0;
        while let Some(&b) = bytes.get(j) {
            match b {
                b' ' | b'\t' | b'\r' => j += 1,
                b';' => break,
                b'(' => {
                    depth += 1;
                    j += 1;
                }
                b')' => {
                    depth = depth.checked_sub(1).ok_or(Error {
                        line,
                        kind: ErrorKind::BadParentheses,
                    })?;
                    j += 1;
                }
                b'"' => {
                    j += 1;
                    let mut s = Vec::new();
                    loop {
                        match bytes.get(j) {
                            None => {
                                return Err(Error {
                                    line,
                                    kind: ErrorKind::BadString,
                                })
                            }
                            Some(b'"') => {
                                j += 1;
                                break;
                            }
                            Some(b'\\') => {
                                let Some(&e) = bytes.get(j + 1) else {
                                    return Err(Error {
                                        line,
                                        kind: ErrorKind::BadString,
                                    });
                                };
                                s.push(e);
                                j += 2;
                            }
                            Some(&c) => {
                                s.push(c);
                                j += 1;
                            }
                        }
                    }
                    entry.tokens.push(Token {
                        text: s,
                        quoted: true,
                        line,
                    });
                }
                _ => {
                    let start = j;
                    while bytes.get(j).is_some_and(|c| !b" \t\r;()\"".contains(c)) {
                        j += 1;
                    }
                    entry.tokens.push(Token {
                        text: bytes.get(start..j).unwrap_or_default().to_vec(),
                        quoted: false,
                        line,
                    });
                }
            }
        }
    }
    if depth != 0 {
        let line = cur.as_ref().map_or(0, |e| e.line);
        return Err(Error {
            line,
            kind: ErrorKind::BadParentheses,
        });
    }
    if let Some(e) = cur {
        if !e.tokens.is_empty() {
            out.push(e);
        }
    }
    Ok(out)
}

/// Parses a master file into records with their line numbers.
///
/// # Errors
/// The first [`Error`].
pub fn parse_master(
    text: &str,
    origin: &Name,
    default_ttl: u32,
) -> Result<Vec<(usize, Record)>, Error> {
    let mut origin = origin.clone();
    let mut ttl_default = default_ttl;
    let mut last_owner: Option<Name> = None;
    let mut out = Vec::new();
    for e in entries(text)? {
        let mut toks = e.tokens.iter().peekable();
        let err = |line: usize, kind| Error { line, kind };
        let first_text = |t: &Token| String::from_utf8_lossy(&t.text).into_owned();
        if let Some(t) = toks.peek() {
            if !t.quoted && t.text.first() == Some(&b'$') {
                let directive = first_text(t).to_ascii_uppercase();
                let _ = toks.next();
                let arg = toks.next().ok_or(err(e.line, ErrorKind::MissingData))?;
                match directive.as_str() {
                    "$ORIGIN" => {
                        let s = first_text(arg);
                        if !s.ends_with('.') {
                            return Err(err(arg.line, ErrorKind::BadName));
                        }
                        origin = Name::from_text(&s).map_err(|k| err(arg.line, k))?;
                    }
                    "$TTL" => {
                        ttl_default = number(arg)?;
                    }
                    _ => return Err(err(e.line, ErrorKind::UnknownDirective(directive))),
                }
                if let Some(t) = toks.next() {
                    return Err(err(t.line, ErrorKind::TrailingData));
                }
                continue;
            }
        }
        let owner = if e.blank_owner {
            last_owner.clone().ok_or(err(e.line, ErrorKind::NoOwner))?
        } else {
            let t = toks.next().ok_or(err(e.line, ErrorKind::MissingData))?;
            name(t, &origin)?
        };
        last_owner = Some(owner.clone());
        let mut ttl = None;
        let mut rtype = None;
        for t in toks.by_ref() {
            let s = first_text(t).to_ascii_uppercase();
            if !t.quoted && ttl.is_none() && s.bytes().all(|b| b.is_ascii_digit()) {
                ttl = Some(number(t)?);
            } else if s == "IN" {
                continue;
            } else if ["CH", "CS", "HS"].contains(&s.as_str()) {
                return Err(err(t.line, ErrorKind::UnsupportedClass(s)));
            } else {
                rtype = Some((s, t.line));
                break;
            }
        }
        let (rtype, line) = rtype.ok_or(err(e.line, ErrorKind::MissingData))?;
        let mut next = || toks.next().ok_or(err(line, ErrorKind::MissingData));
        let data = match rtype.as_str() {
            "A" => Data::A(address(next()?)?),
            "AAAA" => Data::Aaaa(address(next()?)?),
            "CNAME" => Data::Cname(name(next()?, &origin)?),
            "PTR" => Data::Ptr(name(next()?, &origin)?),
            "NS" => Data::Ns(name(next()?, &origin)?),
            "MX" => {
                let pref = next()?;
                let pref = u16::try_from(number(pref)?)
                    .map_err(|_| err(pref.line, ErrorKind::BadNumber))?;
                Data::Mx(pref, name(next()?, &origin)?)
            }
            "SOA" => Data::Soa(Soa {
                mname: name(next()?, &origin)?,
                rname: name(next()?, &origin)?,
                serial: number(next()?)?,
                refresh: number(next()?)?,
                retry: number(next()?)?,
                expire: number(next()?)?,
                minimum: number(next()?)?,
            }),
            "TXT" => {
                let mut strings = Vec::new();
                for t in toks.by_ref() {
                    if t.text.len() > MAX_STRING {
                        return Err(err(t.line, ErrorKind::BadString));
                    }
                    strings.push(t.text.clone());
                }
                if strings.is_empty() {
                    return Err(err(line, ErrorKind::MissingData));
                }
                Data::Txt(strings)
            }
            _ => return Err(err(line, ErrorKind::UnknownType(rtype))),
        };
        if let Some(t) = toks.next() {
            return Err(err(t.line, ErrorKind::TrailingData));
        }
        out.push((
            e.line,
            Record {
                name: owner,
                ttl: ttl.unwrap_or(ttl_default),
                data,
            },
        ));
    }
    Ok(out)
}

fn number(t: &Token) -> Result<u32, Error> {
    std::str::from_utf8(&t.text)
        .ok()
        .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or(Error {
            line: t.line,
            kind: ErrorKind::BadNumber,
        })
}

fn address<A: core::str::FromStr>(t: &Token) -> Result<A, Error> {
    std::str::from_utf8(&t.text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(Error {
            line: t.line,
            kind: ErrorKind::BadAddress,
        })
}

/// A name token: `@`, absolute (final dot) or relative to `origin`.
fn name(t: &Token, origin: &Name) -> Result<Name, Error> {
    let err = |kind| Error { line: t.line, kind };
    let s = std::str::from_utf8(&t.text).map_err(|_| err(ErrorKind::BadName))?;
    if s == "@" {
        return Ok(origin.clone());
    }
    let n = Name::from_text(s).map_err(err)?;
    if s.ends_with('.') {
        Ok(n)
    } else {
        n.join(origin).map_err(err)
    }
}
