//! The DHCP client (RFC 2131) on the interface: its replies taken from the IPv4 input before
//! the address checks, its events applied to the IPv4 address and router, its messages sent.

use core::net::{Ipv4Addr, SocketAddrV4};

use tracing::{debug, info, warn};

use super::{AddressState, Event, Interface};
use crate::dhcp;
use crate::ethernet::MacAddr;
use crate::ipv4::{self, Protocol};
use crate::stats::DropReason;
use crate::time::Instant;
use crate::udp;

/// Rounds of DHCP events and datagrams handled in one go (each round makes progress).
const DHCP_ROUNDS: usize = 8;

impl Interface {
    /// A UDP datagram to the DHCP client port while a DHCP client runs: broadcast, to the
    /// address being leased or used, or (no address yet) unicast to the address on offer.
    pub(super) fn is_dhcp_reply(&self, ip: &ipv4::Repr, payload: &[u8]) -> bool {
        if self.dhcp.is_none() || ip.protocol != Protocol::Udp || ip.is_fragment() {
            return false;
        }
        let port = payload.get(2..4).map(|p| u16::from_be_bytes([p[0], p[1]]));
        if port != Some(dhcp::CLIENT_PORT) {
            return false;
        }
        match self.v4.addr {
            None => true,
            Some(c) => ip.dst == c.addr() || ip.dst.is_broadcast() || Some(ip.dst) == c.broadcast(),
        }
    }

    pub(super) fn process_dhcp(
        &mut self,
        now: Instant,
        ip: &ipv4::Repr,
        link_src: MacAddr,
        payload: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DropReason> {
        let verify = !self.rx_checksum_valid;
        let d = udp::parse_checked(payload, ip.src.into(), ip.dst.into(), verify)
            .map_err(DropReason::from)?;
        let Some(client) = &mut self.dhcp else {
            return Err(DropReason::UdpNoSocket);
        };
        let acks = client.counters().acks;
        let result = client.receive(now, d.payload, ip.src);
        if client.counters().acks != acks {
            self.dhcp_server_mac = Some(link_src);
        }
        self.poll_dhcp(now, emit);
        result.map_err(|_| DropReason::DhcpRejected)
    }

    /// Acts on the DHCP client's events and sends what it has to send.
    pub(super) fn poll_dhcp(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
        for _ in 0..DHCP_ROUNDS {
            let Some(client) = &mut self.dhcp else { return };
            let event = client.poll_event();
            let transmit = if event.is_none() {
                client.poll(now)
            } else {
                None
            };
            match (event, transmit) {
                (Some(e), _) => self.on_dhcp_event(now, e),
                (None, Some(t)) => self.send_dhcp(now, t, emit),
                (None, None) => return,
            }
        }
    }

    fn on_dhcp_event(&mut self, now: Instant, event: dhcp::Event) {
        match event {
            dhcp::Event::Probe(addr) => {
                let lease = self.dhcp.as_ref().and_then(dhcp::Client::pending);
                let Some(lease) = lease else { return };
                let cidr = lease.addr;
                self.v4.addr = Some(cidr);
                self.v4.gateway = lease.gateway();
                info!(%addr, "DHCP: offered {cidr}; checking no one else has it");
                self.v4.address = if self.config.arp.probe_count == 0 {
                    let claimed = self.claimed(now);
                    if let Some(client) = &mut self.dhcp {
                        client.probe_result(now, false);
                    }
                    claimed
                } else {
                    AddressState::Probing { sent: 0, next: now }
                };
            }
            dhcp::Event::LeaseAcquired(lease) => {
                info!(addr = %lease.addr, server = %lease.server, "DHCP: leased {} from {}", lease.addr, lease.server);
                self.push_event(Event::LeaseAcquired {
                    addr: lease.addr,
                    server: lease.server,
                });
            }
            dhcp::Event::LeaseRenewed(lease) => {
                debug!(addr = %lease.addr, server = %lease.server, "DHCP: lease on {} extended", lease.addr);
                let cidr = lease.addr;
                self.v4.addr = Some(cidr);
                self.v4.gateway = lease.gateway();
                self.push_event(Event::LeaseRenewed {
                    addr: cidr,
                    server: lease.server,
                });
            }
            dhcp::Event::LeaseLost => {
                if let Some(c) = self.v4.addr.take() {
                    info!(addr = %c, "DHCP: {c} is no longer ours");
                    self.push_event(Event::LeaseLost(c.addr()));
                }
                self.v4.gateway = None;
                self.v4.address = AddressState::None;
            }
            dhcp::Event::Declined(addr) => {
                warn!(%addr, "DHCP: another host has {addr}; declined it");
                self.push_event(Event::LeaseDeclined(addr));
            }
            dhcp::Event::Nak => info!("DHCP: the server refused our request (NAK); starting over"),
        }
    }

    /// Sends a DHCP datagram from port 68 to port 67: broadcast (from 0.0.0.0 until an
    /// address is in use), or unicast to the server.
    fn send_dhcp(&mut self, now: Instant, t: dhcp::Transmit, emit: &mut dyn FnMut(&[u8])) {
        let dst = match t.dst {
            dhcp::Destination::Broadcast => Ipv4Addr::BROADCAST,
            dhcp::Destination::Unicast(a) => a,
        };
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        let ok = udp::write(
            &mut body,
            SocketAddrV4::new(t.src, dhcp::CLIENT_PORT),
            SocketAddrV4::new(dst, dhcp::SERVER_PORT),
            &t.payload,
        );
        if ok {
            self.stats.udp_sent += 1;
            // A DHCPRELEASE leaves after the address is given up, so it cannot wait for ARP.
            let known = self.v4.arp.lookup(dst, now).or(self.dhcp_server_mac);
            match (t.dst, known) {
                (dhcp::Destination::Broadcast, _) => {
                    self.emit_ipv4_from(t.src, MacAddr::BROADCAST, dst, Protocol::Udp, &body, emit);
                }
                (dhcp::Destination::Unicast(_), Some(mac)) => {
                    self.emit_ipv4_from(t.src, mac, dst, Protocol::Udp, &body, emit);
                }
                (dhcp::Destination::Unicast(_), None) => {
                    self.send_ipv4(now, dst, Protocol::Udp, &body, emit);
                }
            }
        }
        self.body = body;
    }
}
