//! A host: an [`Interface`] plus the services that run on it, driven together.

use crate::iface::Interface;
use crate::services::echo::UdpEcho;
use crate::services::Service;
use crate::time::{earliest, Instant};
use crate::udp;

/// The interface and its services. Feed it frames and polls; it emits frames.
#[derive(Debug)]
pub struct Host {
    iface: Interface,
    services: Vec<Box<dyn Service>>,
}

impl Host {
    /// A host with no services.
    pub fn new(iface: Interface) -> Self {
        Host {
            iface,
            services: Vec::new(),
        }
    }

    /// A host running the standard services: UDP echo (7), TCP echo (7), discard (9) and
    /// chargen (19).
    ///
    /// # Errors
    /// [`udp::BindError`] when a service port cannot be bound.
    pub fn with_standard_services(iface: Interface) -> Result<Self, udp::BindError> {
        let mut host = Host::new(iface);
        let echo = UdpEcho::bind(&mut host.iface, crate::services::echo::PORT)?;
        host.add_service(Box::new(echo));
        use crate::services::tcp::{Kind, Server, CHARGEN_PORT, DISCARD_PORT, ECHO_PORT};
        for (kind, port) in [
            (Kind::Echo, ECHO_PORT),
            (Kind::Discard, DISCARD_PORT),
            (Kind::Chargen, CHARGEN_PORT),
        ] {
            let server = Server::listen(&mut host.iface, kind, port, 1024)
                .map_err(|_| udp::BindError::PortInUse(port))?;
            host.add_service(Box::new(server));
        }
        Ok(host)
    }

    /// Adds a service.
    pub fn add_service(&mut self, service: Box<dyn Service>) {
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

    /// Lets the services act on what arrived, then runs the interface's timers and output.
    pub fn poll(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
        for s in &mut self.services {
            s.poll(now, &mut self.iface);
        }
        self.iface.poll(now, emit);
    }

    /// When [`Host::poll`] should next run.
    pub fn poll_at(&self) -> Option<Instant> {
        self.services
            .iter()
            .fold(self.iface.poll_at(), |acc, s| earliest(acc, s.poll_at()))
    }
}
