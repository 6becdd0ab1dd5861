//! Interface configuration, validated once at construction.

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};
use core::str::FromStr;
use core::time::Duration;

use crate::ethernet::MacAddr;

/// An IPv4 address with its prefix length; the address is a usable unicast host address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    addr: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Cidr {
    /// `addr/prefix`, or `None` when the prefix is over 32.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Self> {
        (prefix <= 32).then_some(Ipv4Cidr { addr, prefix })
    }

    /// The address.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The netmask, e.g. 255.255.255.0 for /24.
    pub fn netmask(&self) -> Ipv4Addr {
        let bits = if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        };
        Ipv4Addr::from(bits)
    }

    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & u32::from(self.netmask()))
    }

    /// The directed broadcast address of the subnet (none for /31 and /32, RFC 3021).
    pub fn broadcast(&self) -> Option<Ipv4Addr> {
        (self.prefix < 31)
            .then(|| Ipv4Addr::from(u32::from(self.addr) | !u32::from(self.netmask())))
    }

    /// True when `ip` is inside this subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & u32::from(self.netmask()) == u32::from(self.network())
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Text that does not parse as the value asked for (an address, a prefix, an impairment
/// spec, ...); its message names the part that is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError(String);

impl ParseError {
    /// An error with `message` (what is wrong, quoting the input).
    pub fn new(message: impl Into<String>) -> Self {
        ParseError(message.into())
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

impl From<String> for ParseError {
    fn from(message: String) -> Self {
        ParseError(message)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let (a, p) = s.split_once('/').unwrap_or((s, "24"));
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| format!("'{a}' is not an IPv4 address"))?;
        let prefix: u8 = p
            .parse()
            .map_err(|_| format!("'{p}' is not a prefix length (0-32)"))?;
        Ipv4Cidr::new(addr, prefix)
            .ok_or_else(|| ParseError(format!("prefix length {prefix} is over 32")))
    }
}

/// An IPv6 address with its prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv6Cidr {
    addr: Ipv6Addr,
    prefix: u8,
}

impl Ipv6Cidr {
    /// `addr/prefix`, or `None` when the prefix is over 128.
    pub fn new(addr: Ipv6Addr, prefix: u8) -> Option<Self> {
        (prefix <= 128).then_some(Ipv6Cidr { addr, prefix })
    }

    /// `addr/prefix` with the prefix clamped to 128.
    pub fn clamped(addr: Ipv6Addr, prefix: u8) -> Self {
        Ipv6Cidr {
            addr,
            prefix: prefix.min(128),
        }
    }

    /// The address.
    pub fn addr(&self) -> Ipv6Addr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The prefix as an address (host bits zero).
    pub fn network(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.addr) & self.mask())
    }

    fn mask(&self) -> u128 {
        if self.prefix == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(self.prefix))
        }
    }

    /// True when `ip` is inside this prefix.
    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        u128::from(ip) & self.mask() == u128::from(self.network())
    }
}

impl fmt::Display for Ipv6Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv6Cidr {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let (a, p) = s.split_once('/').unwrap_or((s, "64"));
        let addr: Ipv6Addr = a
            .parse()
            .map_err(|_| format!("'{a}' is not an IPv6 address"))?;
        let prefix: u8 = p
            .parse()
            .map_err(|_| format!("'{p}' is not a prefix length (0-128)"))?;
        Ipv6Cidr::new(addr, prefix)
            .ok_or_else(|| ParseError(format!("prefix length {prefix} is over 128")))
    }
}

/// IPv6 settings (RFC 4861 10 and RFC 4862 5.1 name the constants).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv6Config {
    /// Static addresses besides the link-local one (which is always formed from the MAC).
    pub addresses: Vec<Ipv6Cidr>,
    /// Form addresses from prefixes routers advertise (RFC 4862 5.5.3).
    pub slaac: bool,
    /// Neighbor Solicitations sent for Duplicate Address Detection (RFC 4862
    /// DupAddrDetectTransmits); 0 takes addresses into use at once.
    pub dad_transmits: u32,
    /// Router Solicitations sent at start (RFC 4861 MAX_RTR_SOLICITATIONS); 0 sends none.
    pub router_solicitations: u32,
    /// Time between Router Solicitations (RFC 4861 RTR_SOLICITATION_INTERVAL).
    pub rs_interval: Duration,
    /// Most random delay before the first DAD probe and the first Router Solicitation
    /// (RFC 4861 MAX_RTR_SOLICITATION_DELAY).
    pub max_start_delay: Duration,
    /// Time between solicitations (RFC 4861 RetransTimer, RETRANS_TIMER), unless a router says.
    pub retrans_timer: Duration,
    /// How long a confirmed neighbour stays REACHABLE (RFC 4861 REACHABLE_TIME), unless a
    /// router says.
    pub reachable_time: Duration,
    /// Time in DELAY before probing (RFC 4861 DELAY_FIRST_PROBE_TIME).
    pub delay_first_probe: Duration,
    /// Multicast solicitations before address resolution fails (MAX_MULTICAST_SOLICIT).
    pub max_multicast_solicit: u32,
    /// Unicast probes before an unreachable neighbour is forgotten (MAX_UNICAST_SOLICIT).
    pub max_unicast_solicit: u32,
    /// Hop limit of packets we originate, unless a router says.
    pub hop_limit: u8,
}

impl Default for Ipv6Config {
    fn default() -> Self {
        Ipv6Config {
            addresses: Vec::new(),
            slaac: true,
            dad_transmits: 1,
            router_solicitations: 3,
            rs_interval: Duration::from_secs(4),
            max_start_delay: Duration::from_secs(1),
            retrans_timer: Duration::from_secs(1),
            reachable_time: Duration::from_secs(30),
            delay_first_probe: Duration::from_secs(5),
            max_multicast_solicit: 3,
            max_unicast_solicit: 3,
            hop_limit: 64,
        }
    }
}

/// Bounds on every table and queue the core keeps. Each has a drop counter when it is full.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Entries in the ARP cache (resolved and in progress).
    pub arp_cache_entries: usize,
    /// Packets waiting for ARP resolution, over all neighbours.
    pub arp_pending_packets: usize,
    /// Bytes held by packets waiting for ARP resolution.
    pub arp_pending_bytes: usize,
    /// Datagrams being reassembled at once.
    pub reassembly_datagrams: usize,
    /// Bytes held by all reassembly buffers together.
    pub reassembly_bytes: usize,
    /// Largest reassembled datagram (IP header included).
    pub reassembly_max_datagram: usize,
    /// Fragments accepted per datagram (bounds the range bookkeeping).
    pub reassembly_max_fragments: usize,
    /// How long an incomplete datagram is kept (RFC 1122 3.3.2: 60 to 120 s recommended; Linux 30 s).
    pub reassembly_timeout: Duration,
    /// UDP sockets open at once.
    pub udp_sockets: usize,
    /// Datagrams queued per UDP socket, in each direction.
    pub udp_queue_datagrams: usize,
    /// Bytes queued per UDP socket, in each direction.
    pub udp_queue_bytes: usize,
    /// ICMP error messages per second (token bucket rate).
    pub icmp_errors_per_sec: u32,
    /// ICMP error burst (token bucket depth).
    pub icmp_error_burst: u32,
    /// Events kept for the user before the oldest are dropped.
    pub events: usize,
    /// Entries in the IPv6 neighbour cache (RFC 4861 5.1).
    pub ndp_cache_entries: usize,
    /// Packets waiting for IPv6 address resolution, over all neighbours.
    pub ndp_pending_packets: usize,
    /// Bytes held by packets waiting for IPv6 address resolution.
    pub ndp_pending_bytes: usize,
    /// IPv6 addresses (link-local, static and autoconfigured together).
    pub ipv6_addresses: usize,
    /// On-link prefixes learned from routers.
    pub ipv6_prefixes: usize,
    /// Extension headers in one IPv6 header chain.
    pub ipv6_ext_headers: usize,
    /// Bytes of extension headers in one IPv6 header chain.
    pub ipv6_ext_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            arp_cache_entries: 256,
            arp_pending_packets: 64,
            arp_pending_bytes: 256 * 1024,
            reassembly_datagrams: 32,
            reassembly_bytes: 1024 * 1024,
            reassembly_max_datagram: 65_535,
            reassembly_max_fragments: 128,
            reassembly_timeout: Duration::from_secs(30),
            udp_sockets: 64,
            udp_queue_datagrams: 128,
            udp_queue_bytes: 256 * 1024,
            icmp_errors_per_sec: 100,
            icmp_error_burst: 20,
            events: 64,
            ndp_cache_entries: 256,
            ndp_pending_packets: 64,
            ndp_pending_bytes: 256 * 1024,
            ipv6_addresses: 8,
            ipv6_prefixes: 8,
            ipv6_ext_headers: 8,
            ipv6_ext_bytes: 512,
        }
    }
}

/// ARP timing (RFC 826, RFC 5227).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArpTiming {
    /// How long a learned mapping is trusted.
    pub entry_lifetime: Duration,
    /// Time between requests for an unresolved neighbour.
    pub retry_interval: Duration,
    /// Requests sent before resolution is given up and waiting packets are dropped.
    pub max_requests: u32,
    /// ARP probes (RFC 5227 2.1) sent before the address is used; 0 skips probing.
    pub probe_count: u32,
    /// Time between probes, and after the last probe before the address is claimed.
    pub probe_interval: Duration,
    /// Gratuitous announcements (RFC 5227 2.3) once the address is claimed.
    pub announce_count: u32,
    /// Time between announcements.
    pub announce_interval: Duration,
    /// Least time between two defences of our address (RFC 5227 DEFEND_INTERVAL).
    pub defend_interval: Duration,
}

impl Default for ArpTiming {
    fn default() -> Self {
        ArpTiming {
            entry_lifetime: Duration::from_secs(60),
            retry_interval: Duration::from_secs(1),
            max_requests: 3,
            probe_count: 2,
            probe_interval: Duration::from_millis(200),
            announce_count: 2,
            announce_interval: Duration::from_secs(2),
            defend_interval: Duration::from_secs(10),
        }
    }
}

/// Everything the core needs to know about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// What the link carries: Ethernet frames (TAP) or bare IP packets (TUN).
    pub medium: crate::device::Medium,
    /// Our MAC address (unicast; not used on an IP-only link, where there is none).
    pub mac: MacAddr,
    /// Our IPv4 address and subnet, if any.
    pub ipv4: Option<Ipv4Cidr>,
    /// The default router (on-link).
    pub gateway: Option<Ipv4Addr>,
    /// The IP MTU of the link (Ethernet payload size).
    pub mtu: usize,
    /// TTL of datagrams we originate.
    pub ttl: u8,
    /// Seed of every random choice the core makes.
    pub seed: u64,
    /// ARP timing.
    pub arp: ArpTiming,
    /// Table and queue bounds.
    pub limits: Limits,
    /// TCP settings.
    pub tcp: crate::tcp::Config,
    /// Get the IPv4 address from a DHCP server (RFC 2131) instead of `ipv4`, which must then be
    /// `None` (as must `gateway`: the lease brings both).
    pub dhcp: Option<crate::dhcp::Config>,
    /// The host's name, sent to the DHCP server (RFC 2132 option 12).
    pub hostname: Option<String>,
    /// IPv6 (off when `None`: IPv6 frames are then dropped as an unsupported EtherType).
    pub ipv6: Option<Ipv6Config>,
}

impl Config {
    /// A configuration with defaults for everything but the addresses.
    pub fn new(mac: MacAddr, ipv4: Option<Ipv4Cidr>) -> Self {
        Config {
            medium: crate::device::Medium::Ethernet,
            mac,
            ipv4,
            gateway: None,
            mtu: 1500,
            ttl: 64,
            seed: 0,
            arp: ArpTiming::default(),
            limits: Limits::default(),
            tcp: crate::tcp::Config::default(),
            dhcp: None,
            hostname: None,
            ipv6: None,
        }
    }

    /// Checks the configuration.
    ///
    /// # Errors
    /// The first [`ConfigError`] found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.mac.is_unicast() {
            return Err(ConfigError::MacNotUnicast(self.mac));
        }
        if !(Self::MIN_MTU..=Self::MAX_MTU).contains(&self.mtu) {
            return Err(ConfigError::MtuOutOfRange(self.mtu));
        }
        if self.ttl == 0 {
            return Err(ConfigError::ZeroTtl);
        }
        if self.dhcp.is_some() && self.medium == crate::device::Medium::Ip {
            return Err(ConfigError::DhcpWithoutBroadcast);
        }
        if self.dhcp.is_some() {
            if let Some(cidr) = self.ipv4 {
                return Err(ConfigError::DhcpWithStaticAddress(cidr));
            }
        }
        if let Some(cidr) = self.ipv4 {
            let a = cidr.addr();
            if cidr.prefix() == 0
                || a.is_unspecified()
                || a.is_multicast()
                || a.is_broadcast()
                || a.is_loopback()
                || u32::from(a) >> 24 == 0
                || u32::from(a) >= 0xf000_0000
            {
                return Err(ConfigError::AddressNotUnicast(a));
            }
            if cidr.prefix() < 31 && (a == cidr.network() || Some(a) == cidr.broadcast()) {
                return Err(ConfigError::AddressIsNetworkOrBroadcast(cidr));
            }
            if let Some(gw) = self.gateway {
                if !cidr.contains(gw) || gw == a || Some(gw) == cidr.broadcast() {
                    return Err(ConfigError::GatewayNotOnLink(gw, cidr));
                }
            }
        } else if let Some(gw) = self.gateway {
            return Err(ConfigError::GatewayWithoutAddress(gw));
        }
        let l = &self.limits;
        let sizes = [
            ("arp_cache_entries", l.arp_cache_entries),
            ("reassembly_datagrams", l.reassembly_datagrams),
            ("reassembly_max_fragments", l.reassembly_max_fragments),
            ("udp_sockets", l.udp_sockets),
            ("udp_queue_datagrams", l.udp_queue_datagrams),
            ("events", l.events),
            ("ndp_cache_entries", l.ndp_cache_entries),
            ("ipv6_addresses", l.ipv6_addresses),
            ("ipv6_ext_headers", l.ipv6_ext_headers),
        ];
        if let Some((name, _)) = sizes.iter().find(|(_, v)| *v == 0) {
            return Err(ConfigError::ZeroLimit(name));
        }
        if let Some(v6) = &self.ipv6 {
            if self.mtu < crate::ipv6::MIN_MTU {
                return Err(ConfigError::MtuOutOfRange(self.mtu));
            }
            if v6.hop_limit == 0 {
                return Err(ConfigError::ZeroTtl);
            }
            if v6.addresses.len() + 1 > l.ipv6_addresses {
                return Err(ConfigError::ZeroLimit(
                    "ipv6_addresses (room for every address)",
                ));
            }
            for c in &v6.addresses {
                let a = c.addr();
                if a.is_unspecified()
                    || a.is_multicast()
                    || a.is_loopback()
                    || c.prefix() == 0
                    || crate::ipv6::is_link_local(a)
                {
                    return Err(ConfigError::Ipv6AddressNotUnicast(*c));
                }
            }
        }
        if l.reassembly_max_datagram > 65_535 || l.reassembly_max_datagram < 576 {
            return Err(ConfigError::ZeroLimit(
                "reassembly_max_datagram (576..=65535)",
            ));
        }
        Ok(())
    }

    /// Smallest IP MTU accepted (RFC 791: every host must take 576-byte datagrams).
    pub const MIN_MTU: usize = 576;
    /// Largest IP MTU accepted (jumbo frames).
    pub const MAX_MTU: usize = 9000;
}

/// Why a [`Config`] was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The MAC address is multicast, broadcast or all zeros.
    MacNotUnicast(MacAddr),
    /// The MTU is outside [`Config::MIN_MTU`]..=[`Config::MAX_MTU`].
    MtuOutOfRange(usize),
    /// TTL 0 would make every datagram undeliverable.
    ZeroTtl,
    /// The address cannot belong to a host (0.0.0.0, loopback, multicast, class E, ...).
    AddressNotUnicast(Ipv4Addr),
    /// The address is the network or broadcast address of its own subnet.
    AddressIsNetworkOrBroadcast(Ipv4Cidr),
    /// The gateway is not a host in our subnet.
    GatewayNotOnLink(Ipv4Addr, Ipv4Cidr),
    /// A gateway was given without an address.
    GatewayWithoutAddress(Ipv4Addr),
    /// A limit that must be positive is zero (or out of its range).
    ZeroLimit(&'static str),
    /// DHCP was asked for together with a static address.
    DhcpWithStaticAddress(Ipv4Cidr),
    /// DHCP was asked for on an IP-only link, which has no broadcast to reach a server with.
    DhcpWithoutBroadcast,
    /// A static IPv6 address that cannot be one (unspecified, multicast, loopback,
    /// link-local: that one comes from the MAC).
    Ipv6AddressNotUnicast(Ipv6Cidr),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::MacNotUnicast(m) => write!(f, "MAC address {m} is not a unicast address"),
            ConfigError::MtuOutOfRange(m) => {
                write!(
                    f,
                    "MTU {m} is out of range ({}..={})",
                    Config::MIN_MTU,
                    Config::MAX_MTU
                )
            }
            ConfigError::ZeroTtl => f.write_str("TTL must be at least 1"),
            ConfigError::DhcpWithoutBroadcast => {
                f.write_str("DHCP needs a broadcast link: not on an IP-only (TUN) device")
            }
            ConfigError::DhcpWithStaticAddress(c) => {
                write!(f, "DHCP and the static address {c} exclude each other")
            }
            ConfigError::AddressNotUnicast(a) => write!(f, "{a} cannot be a host address"),
            ConfigError::AddressIsNetworkOrBroadcast(c) => {
                write!(
                    f,
                    "{} is the network or broadcast address of {}/{}",
                    c.addr(),
                    c.network(),
                    c.prefix()
                )
            }
            ConfigError::GatewayNotOnLink(g, c) => {
                write!(
                    f,
                    "gateway {g} is not a host in {}/{}",
                    c.network(),
                    c.prefix()
                )
            }
            ConfigError::GatewayWithoutAddress(g) => {
                write!(f, "gateway {g} given without an IPv4 address")
            }
            ConfigError::ZeroLimit(name) => write!(f, "limit {name} is out of range"),
            ConfigError::Ipv6AddressNotUnicast(c) => {
                write!(f, "{c} cannot be a static IPv6 host address")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Ipv4Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_math() {
        let c = cidr("10.77.0.2/24");
        assert_eq!(c.network(), Ipv4Addr::new(10, 77, 0, 0));
        assert_eq!(c.netmask(), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(c.broadcast(), Some(Ipv4Addr::new(10, 77, 0, 255)));
        assert!(c.contains(Ipv4Addr::new(10, 77, 0, 200)));
        assert!(!c.contains(Ipv4Addr::new(10, 77, 1, 1)));
        assert_eq!(cidr("10.0.0.1/31").broadcast(), None);
        assert_eq!(cidr("10.0.0.1").prefix(), 24);
        assert!("10.0.0.1/33".parse::<Ipv4Cidr>().is_err());
        assert!("10.0.0/24".parse::<Ipv4Cidr>().is_err());
    }

    #[test]
    fn validation() {
        let mac = MacAddr([2, 0, 0, 0, 0, 2]);
        let ok = Config::new(mac, Some(cidr("10.77.0.2/24")));
        assert_eq!(ok.validate(), Ok(()));
        let mut c = ok.clone();
        c.mac = MacAddr::BROADCAST;
        assert!(matches!(c.validate(), Err(ConfigError::MacNotUnicast(_))));
        let mut c = ok.clone();
        c.mtu = 100;
        assert_eq!(c.validate(), Err(ConfigError::MtuOutOfRange(100)));
        for bad in [
            "0.0.0.0/24",
            "224.0.0.5/24",
            "127.0.0.1/8",
            "255.255.255.255/32",
            "240.0.0.1/8",
        ] {
            let c = Config::new(mac, Some(cidr(bad)));
            assert!(
                matches!(c.validate(), Err(ConfigError::AddressNotUnicast(_))),
                "{bad}"
            );
        }
        let c = Config::new(mac, Some(cidr("10.77.0.255/24")));
        assert!(matches!(
            c.validate(),
            Err(ConfigError::AddressIsNetworkOrBroadcast(_))
        ));
        let mut c = ok.clone();
        c.gateway = Some(Ipv4Addr::new(10, 78, 0, 1));
        assert!(matches!(
            c.validate(),
            Err(ConfigError::GatewayNotOnLink(..))
        ));
        let mut c = ok.clone();
        c.limits.udp_sockets = 0;
        assert_eq!(c.validate(), Err(ConfigError::ZeroLimit("udp_sockets")));
    }
}
