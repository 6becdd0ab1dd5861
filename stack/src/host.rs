//! A host: an [`Interface`] plus the services that run on it, driven together.

use core::fmt;
use core::str::FromStr;

use crate::config::{Ipv4Cidr, Ipv6Cidr};
use crate::iface::{Interface, Ipv6Origin};
#[cfg(feature = "services")]
use crate::services::dns::zone::{Catalog, HostIdentity, Name};
use crate::services::echo;
use crate::services::tcp::{Kind, Server, CHARGEN_PORT, DISCARD_PORT, ECHO_PORT};
#[cfg(feature = "services")]
use crate::services::{dns, http, iperf3};
use crate::time::{earliest, Instant};

/// A standard service a host can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// UDP echo on port 7 (RFC 862).
    UdpEcho,
    /// TCP echo on port 7 (RFC 862).
    TcpEcho,
    /// TCP discard on port 9 (RFC 863).
    TcpDiscard,
    /// TCP character generator on port 19 (RFC 864).
    TcpChargen,
    /// The authoritative DNS server on port 53, for the zone [`Services`] describes.
    Dns,
    /// The HTTP server on port 80, with the settings in [`Services`].
    Http,
    /// The iperf3 server on port 5201 (TCP and UDP).
    Iperf3,
}

impl Service {
    /// The services of `tapstack up`, in the order it starts them.
    #[cfg(feature = "services")]
    pub const STANDARD: &'static [Service] = &[
        Service::UdpEcho,
        Service::TcpEcho,
        Service::TcpDiscard,
        Service::TcpChargen,
        Service::Dns,
        Service::Http,
        Service::Iperf3,
    ];

    /// The services of this build (without the `services` feature: no DNS, no HTTP).
    #[cfg(not(feature = "services"))]
    pub const STANDARD: &'static [Service] = &[
        Service::UdpEcho,
        Service::TcpEcho,
        Service::TcpDiscard,
        Service::TcpChargen,
    ];

    /// The name `tapstack up` prints and the configuration file uses.
    pub const fn name(self) -> &'static str {
        match self {
            Service::UdpEcho => "udp-echo",
            Service::TcpEcho => "tcp-echo",
            Service::TcpDiscard => "tcp-discard",
            Service::TcpChargen => "tcp-chargen",
            Service::Dns => "dns",
            Service::Http => "http",
            Service::Iperf3 => "iperf3",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A service name that is not one of [`Service::STANDARD`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownService(pub String);

impl fmt::Display for UnknownService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown service '{}' (known: ", self.0)?;
        for (i, s) in Service::STANDARD.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(s.name())?;
        }
        f.write_str(")")
    }
}

impl std::error::Error for UnknownService {}

impl FromStr for Service {
    type Err = UnknownService;
    fn from_str(s: &str) -> Result<Self, UnknownService> {
        Service::STANDARD
            .iter()
            .copied()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownService(s.to_owned()))
    }
}

/// What the standard services serve.
#[derive(Clone, Debug)]
pub struct Services {
    /// The host's name, the apex of the zone the DNS server is authoritative for.
    pub hostname: String,
    /// A zone in master-file format (RFC 1035 5, the subset `dns::zone` documents).
    pub zone: Option<String>,
    /// Extra `NAME=ADDR` records.
    pub dns_records: Vec<String>,
    /// The HTTP server's settings (limits, timeouts, static files).
    #[cfg(feature = "services")]
    pub http: http::Config,
}

impl Default for Services {
    fn default() -> Self {
        Services {
            hostname: "tapstack.test".into(),
            zone: None,
            dns_records: Vec::new(),
            #[cfg(feature = "services")]
            http: http::Config::default(),
        }
    }
}

impl Services {
    /// The DNS data: the host's own zone and reverse zone, then the zone text and records.
    ///
    /// # Errors
    /// [`HostError`] when the host name, the zone text or a record is malformed.
    #[cfg(feature = "services")]
    pub fn catalog(&self, iface: &Interface) -> Result<Catalog, HostError> {
        let name = Name::from_text(&self.hostname)
            .map_err(|_| HostError::BadHostname(self.hostname.clone()))?;
        let identity = HostIdentity {
            name,
            ipv4: iface.ipv4_assigned(),
            ipv6: published_ipv6(iface).collect(),
            ttl: 300,
        };
        let mut catalog = Catalog::for_host(&identity);
        if let Some(text) = &self.zone {
            catalog
                .load_master(text)
                .map_err(|e| HostError::Zone(e.to_string()))?;
        }
        for r in &self.dns_records {
            catalog
                .add_assignment(r)
                .map_err(|e| HostError::Record(r.clone(), e.to_string()))?;
        }
        Ok(catalog)
    }
}

/// The IPv6 addresses the DNS server publishes: every usable one but the link-local address
/// (static and autoconfigured, RFC 4862), in table order.
fn published_ipv6(iface: &Interface) -> impl Iterator<Item = Ipv6Cidr> + '_ {
    iface
        .ipv6_addresses()
        .iter()
        .filter(|a| a.usable() && a.origin != Ipv6Origin::LinkLocal)
        .map(|a| a.cidr)
}

/// The addresses the services are told about: the IPv4 address assigned and the IPv6
/// addresses published.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Addresses {
    ipv4: Option<Ipv4Cidr>,
    ipv6: Vec<Ipv6Cidr>,
}

impl Addresses {
    fn of(iface: &Interface) -> Self {
        Addresses {
            ipv4: iface.ipv4_assigned(),
            ipv6: published_ipv6(iface).collect(),
        }
    }

    /// True when `iface` has other addresses now (checked without allocating: every poll).
    fn differ(&self, iface: &Interface) -> bool {
        self.ipv4 != iface.ipv4_assigned() || !self.ipv6.iter().copied().eq(published_ipv6(iface))
    }
}

/// Why the standard services did not start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostError {
    /// A service's port is taken.
    PortInUse(u16),
    /// The host name is not a valid DNS name.
    BadHostname(String),
    /// The zone text did not load (the message names the line).
    Zone(String),
    /// A `NAME=ADDR` record is malformed.
    Record(String, String),
    /// The service is not in this build (the DNS and HTTP servers need the `services` feature).
    NotBuilt(Service),
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::PortInUse(p) => write!(f, "port {p} is already in use"),
            HostError::BadHostname(h) => write!(f, "'{h}' is not a valid host name"),
            HostError::Zone(e) => write!(f, "zone: {e}"),
            HostError::Record(r, e) => write!(f, "DNS record '{r}': {e}"),
            HostError::NotBuilt(s) => write!(f, "service {s} is not built in (feature `services`)"),
        }
    }
}

impl std::error::Error for HostError {}

/// The interface and its services. Feed it frames and polls; it emits frames.
#[derive(Debug)]
pub struct Host {
    iface: Interface,
    services: Vec<Box<dyn crate::services::Service>>,
    /// The addresses the services last heard of.
    addresses: Addresses,
}

impl Host {
    /// A host with no services.
    pub fn new(iface: Interface) -> Self {
        Host {
            addresses: Addresses::of(&iface),
            iface,
            services: Vec::new(),
        }
    }

    /// A host running the standard services with their defaults: UDP echo (7), TCP echo (7),
    /// discard (9) and chargen (19), DNS (53, authoritative for `tapstack.test` and the reverse
    /// zone of the address), HTTP (80) and iperf3 (5201).
    ///
    /// # Errors
    /// [`HostError`] when a service cannot start.
    pub fn with_standard_services(iface: Interface) -> Result<Self, HostError> {
        Host::with_services(iface, &Services::default())
    }

    /// A host running the standard services as `services` configures them.
    ///
    /// # Errors
    /// [`HostError`] when a port is taken or the DNS data does not load.
    pub fn with_services(iface: Interface, services: &Services) -> Result<Self, HostError> {
        Host::build(iface, services, Service::STANDARD)
    }

    /// A host running `run`, in that order, as `services` configures them: the one way the
    /// command line, replay, the benchmarks and the tests make a host, so that a live and a
    /// replayed host run the same services with the same options.
    ///
    /// # Errors
    /// [`HostError`] when a port is taken or the DNS data does not load.
    pub fn build(
        iface: Interface,
        services: &Services,
        run: &[Service],
    ) -> Result<Self, HostError> {
        let mut host = Host::new(iface);
        for &s in run {
            host.start(s, services)?;
        }
        Ok(host)
    }

    /// Starts one standard service as `services` configures it. The DNS server's data is
    /// built again whenever the host's addresses change (a DHCP lease, SLAAC), so that the
    /// host's own name answers with the address it has now.
    ///
    /// # Errors
    /// [`HostError`] when the port is taken or the DNS data does not load.
    pub fn start(&mut self, service: Service, services: &Services) -> Result<(), HostError> {
        let tcp = |kind, port, iface: &mut Interface| {
            Server::listen(iface, kind, port, 1024).map_err(|_| HostError::PortInUse(port))
        };
        match service {
            Service::UdpEcho => {
                let server = echo::UdpEcho::bind(&mut self.iface, echo::PORT)
                    .map_err(|_| HostError::PortInUse(echo::PORT))?;
                self.add_service(Box::new(server));
            }
            Service::TcpEcho => {
                let server = tcp(Kind::Echo, ECHO_PORT, &mut self.iface)?;
                self.add_service(Box::new(server));
            }
            Service::TcpDiscard => {
                let server = tcp(Kind::Discard, DISCARD_PORT, &mut self.iface)?;
                self.add_service(Box::new(server));
            }
            Service::TcpChargen => {
                let server = tcp(Kind::Chargen, CHARGEN_PORT, &mut self.iface)?;
                self.add_service(Box::new(server));
            }
            #[cfg(feature = "services")]
            Service::Dns => {
                let catalog = services.catalog(&self.iface)?;
                let recipe = services.clone();
                let server =
                    dns::Server::bind(&mut self.iface, dns::PORT, catalog, dns::Limits::default())
                        .map_err(|_| HostError::PortInUse(dns::PORT))?
                        .rebuilt_on_address_change(move |iface| recipe.catalog(iface).ok());
                self.add_service(Box::new(server));
            }
            #[cfg(feature = "services")]
            Service::Http => {
                let server =
                    http::Server::listen(&mut self.iface, http::PORT, services.http.clone())
                        .map_err(|_| HostError::PortInUse(http::PORT))?;
                self.add_service(Box::new(server));
            }
            #[cfg(feature = "services")]
            Service::Iperf3 => {
                let server = iperf3::Server::listen(&mut self.iface, iperf3::PORT)
                    .map_err(|_| HostError::PortInUse(iperf3::PORT))?;
                self.add_service(Box::new(server));
            }
            #[cfg(not(feature = "services"))]
            Service::Dns | Service::Http | Service::Iperf3 => {
                let _ = services;
                return Err(HostError::NotBuilt(service));
            }
        }
        Ok(())
    }

    /// Adds a service.
    pub fn add_service(&mut self, service: Box<dyn crate::services::Service>) {
        self.services.push(service);
    }

    /// The interface.
    pub fn iface(&self) -> &Interface {
        &self.iface
    }

    /// The interface, mutably (to open sockets, read events).
    pub fn iface_mut(&mut self) -> &mut Interface {
        &mut self.iface
    }

    /// Names of the services running.
    pub fn service_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.services.iter().map(|s| s.name())
    }

    /// Hands a received frame to the interface.
    pub fn receive(&mut self, now: Instant, frame: &[u8], emit: &mut dyn FnMut(&[u8])) {
        self.iface.receive(now, frame, emit);
    }

    /// Hands a received frame to the interface with what the device knows of it (see
    /// [`Interface::receive_with`]).
    pub fn receive_with(
        &mut self,
        now: Instant,
        frame: &[u8],
        info: crate::device::FrameInfo,
        emit: &mut dyn FnMut(&[u8]),
    ) {
        self.iface.receive_with(now, frame, info, emit);
    }

    /// Lets the services act on what arrived, then runs the interface's timers and output.
    pub fn poll(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
        if self.addresses.differ(&self.iface) {
            self.addresses = Addresses::of(&self.iface);
            for s in &mut self.services {
                s.addresses_changed(&self.iface);
            }
        }
        for s in &mut self.services {
            s.poll(now, &mut self.iface);
        }
        self.iface.poll(now, emit);
    }

    /// A clean stop (see [`Interface::shutdown`]).
    pub fn shutdown(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
        self.iface.shutdown(now, emit);
    }

    /// When [`Host::poll`] should next run.
    pub fn poll_at(&self) -> Option<Instant> {
        self.services
            .iter()
            .fold(self.iface.poll_at(), |acc, s| earliest(acc, s.poll_at()))
    }
}
