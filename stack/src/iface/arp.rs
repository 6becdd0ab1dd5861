//! Address resolution for IPv4 (RFC 826) and the claim on our address (RFC 5227: probe,
//! announce, detect conflicts and defend).

use core::net::Ipv4Addr;

use etherparse::EtherType;
use tracing::{debug, info, warn};

use super::{AddressState, Event, Interface};
use crate::arp;
use crate::dhcp;
use crate::ethernet::MacAddr;
use crate::ipv4::Protocol;
use crate::stats::DropReason;
use crate::time::Instant;

impl Interface {
    /// RFC 826 "Packet reception", with RFC 5227 conflict detection in front.
    pub(super) fn process_arp(
        &mut self,
        now: Instant,
        payload: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DropReason> {
        let r = arp::Repr::parse(payload).map_err(|e| match e {
            arp::ParseError::Truncated => DropReason::ArpTruncated,
            arp::ParseError::Unsupported => DropReason::ArpUnsupported,
        })?;
        let ours = self.link.mac();
        // Our own hardware address as sender is our own packet coming back (a bridge, a loop),
        // never a conflict: RFC 5227 2.4 requires a sender hardware address that is not ours.
        if !r.sender_mac.is_unicast() || r.sender_mac == ours {
            return Err(DropReason::ArpBadSender);
        }
        let Some(cidr) = self.v4.addr else {
            return Err(DropReason::ArpNotForUs);
        };
        let mine = cidr.addr();
        let probing = matches!(self.v4.address, AddressState::Probing { .. });
        // RFC 5227 2.1.1: while probing, a packet with our address as sender, or a probe for it
        // from someone else, means the address is taken. 2.4: afterwards, a packet with our
        // address as sender is a conflict to report and defend against.
        let someone_probes_ours = probing && r.sender_ip.is_unspecified() && r.target_ip == mine;
        if r.sender_ip == mine || someone_probes_ours {
            self.conflict(now, r.sender_mac, emit);
            return Err(DropReason::ArpConflict);
        }
        if r.sender_ip.is_unspecified() {
            return Err(DropReason::ArpNotForUs);
        }
        if !cidr.contains(r.sender_ip)
            || Some(r.sender_ip) == cidr.broadcast()
            || r.sender_ip == cidr.network()
        {
            return Err(DropReason::ArpBadSender);
        }
        // RFC 826: "If the pair <protocol type, sender protocol address> is already in my
        // translation table, update the sender hardware address field of the entry".
        let merged = self.v4.arp.contains(r.sender_ip);
        if merged {
            self.learn(now, r.sender_ip, r.sender_mac, emit);
        }
        // "Am I the target protocol address?"
        let for_us = r.target_ip == mine && matches!(self.v4.address, AddressState::Ready { .. });
        if !for_us {
            return if merged {
                Ok(())
            } else {
                Err(DropReason::ArpNotForUs)
            };
        }
        if !merged {
            self.learn(now, r.sender_ip, r.sender_mac, emit);
        }
        if r.op == arp::Operation::Request {
            debug!(who = %r.sender_ip, "ARP: {} asks who has {mine}; replying {ours}", r.sender_ip);
            let reply = arp::Repr {
                op: arp::Operation::Reply,
                sender_mac: ours,
                sender_ip: mine,
                target_mac: r.sender_mac,
                target_ip: r.sender_ip,
            };
            self.send_arp(r.sender_mac, &reply, emit);
            self.stats.arp_replies_sent += 1;
        }
        Ok(())
    }

    /// Queues a datagram for `next_hop` and starts resolving it.
    pub(super) fn resolve_then_send(
        &mut self,
        now: Instant,
        next_hop: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: Protocol,
        payload: &[u8],
        emit: &mut dyn FnMut(&[u8]),
    ) {
        let p = arp::PendingPacket {
            next_hop,
            dst,
            protocol: u8::from(protocol),
            payload: payload.to_vec(),
        };
        if self.v4.pending.push(p).is_err() {
            self.stats.arp_pending_dropped += 1;
        }
        let before = self.v4.arp.evictions();
        let first = self
            .v4
            .arp
            .start(next_hop, now, self.config.arp.retry_interval);
        self.after_cache_insert(before);
        if first {
            self.send_arp_request(next_hop, emit);
        }
    }

    /// Retransmits requests and gives up on neighbours that do not answer.
    pub(super) fn poll_arp(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
        let mut due = std::mem::take(&mut self.v4.due);
        due.clear();
        self.v4.arp.poll(
            now,
            self.config.arp.retry_interval,
            self.config.arp.max_requests,
            &mut due,
        );
        for d in &due {
            match *d {
                arp::Due::Request(ip) => self.send_arp_request(ip, emit),
                arp::Due::Failed(ip) => {
                    debug!(%ip, "ARP: no answer from {ip}, giving up");
                    self.give_up_on(ip);
                }
            }
        }
        self.v4.due = due;
    }

    /// Resolution of `ip` ended without an answer: drop what waits for it.
    fn give_up_on(&mut self, ip: Ipv4Addr) {
        let dropped = self.v4.pending.take_for(ip).len() as u64;
        self.stats.arp_pending_dropped += dropped;
        self.stats.arp_resolution_failed += 1;
        self.push_event(Event::NeighbourUnreachable(ip));
    }

    /// Counts evictions made by the last cache insertion; resolutions evicted while in
    /// progress are given up on, so that nothing waits for them forever.
    fn after_cache_insert(&mut self, evictions_before: u64) {
        self.stats.arp_evictions += self.v4.arp.evictions() - evictions_before;
        for ip in self.v4.arp.take_abandoned() {
            debug!(%ip, "ARP: cache full, abandoning resolution of {ip}");
            self.give_up_on(ip);
        }
    }

    fn learn(&mut self, now: Instant, ip: Ipv4Addr, mac: MacAddr, emit: &mut dyn FnMut(&[u8])) {
        let before = self.v4.arp.evictions();
        let was_waiting = self.v4.arp.learn(ip, mac, now);
        self.after_cache_insert(before);
        self.stats.arp_learned += 1;
        if was_waiting {
            debug!(%ip, %mac, "ARP: {ip} is at {mac}");
            for p in self.v4.pending.take_for(ip) {
                self.emit_ipv4(mac, p.dst, Protocol::from(p.protocol), &p.payload, emit);
            }
        }
    }

    fn send_arp_request(&mut self, ip: Ipv4Addr, emit: &mut dyn FnMut(&[u8])) {
        let Some(cidr) = self.v4.addr else { return };
        debug!(%ip, "ARP: who has {ip}? tell {}", cidr.addr());
        let request = arp::Repr::request(self.link.mac(), cidr.addr(), ip);
        self.send_arp(MacAddr::BROADCAST, &request, emit);
        self.stats.arp_requests_sent += 1;
    }

    fn send_arp(&mut self, dst: MacAddr, repr: &arp::Repr, emit: &mut dyn FnMut(&[u8])) {
        let mut frame = std::mem::take(&mut self.link.frame);
        self.link.begin(&mut frame, dst, EtherType::ARP);
        frame.extend_from_slice(&repr.to_bytes());
        self.transmit(&frame, emit);
        self.link.frame = frame;
    }

    /// The address passed its check: it is in use, announcements to follow.
    pub(super) fn claimed(&mut self, now: Instant) -> AddressState {
        if let Some(c) = self.v4.addr {
            info!(addr = %c, "IPv4: {c} is ours");
            self.push_event(Event::AddressReady(c.addr()));
        }
        // Nothing to announce on a link without ARP.
        let announcements = if self.link.point_to_point() {
            0
        } else {
            self.config.arp.announce_count
        };
        AddressState::Ready {
            announcements,
            next: now,
        }
    }

    /// RFC 5227 2.1-2.3: probe, then claim and announce.
    pub(super) fn poll_address(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
        let Some(cidr) = self.v4.addr else { return };
        let mac = self.link.mac();
        match self.v4.address {
            AddressState::Probing { sent, next } if next <= now => {
                if sent < self.config.arp.probe_count {
                    debug!(addr = %cidr.addr(), probe = sent + 1, "ARP: probing whether {} is free", cidr.addr());
                    self.send_arp(
                        MacAddr::BROADCAST,
                        &arp::Repr::probe(mac, cidr.addr()),
                        emit,
                    );
                    self.stats.arp_probes_sent += 1;
                    self.v4.address = AddressState::Probing {
                        sent: sent + 1,
                        next: now + self.config.arp.probe_interval,
                    };
                } else {
                    self.v4.address = self.claimed(now);
                    if let Some(client) = &mut self.dhcp {
                        client.probe_result(now, false);
                    }
                    self.poll_address(now, emit);
                }
            }
            AddressState::Ready {
                announcements,
                next,
            } if announcements > 0 && next <= now => {
                debug!(addr = %cidr.addr(), "ARP: announcing {} is at {mac}", cidr.addr());
                self.send_arp(
                    MacAddr::BROADCAST,
                    &arp::Repr::announcement(mac, cidr.addr()),
                    emit,
                );
                self.stats.arp_probes_sent += 1;
                self.v4.address = AddressState::Ready {
                    announcements: announcements - 1,
                    next: now + self.config.arp.announce_interval,
                };
            }
            _ => {}
        }
    }

    fn conflict(&mut self, now: Instant, mac: MacAddr, emit: &mut dyn FnMut(&[u8])) {
        let Some(cidr) = self.v4.addr else { return };
        self.stats.arp_conflicts += 1;
        warn!(addr = %cidr.addr(), %mac, "ARP: address conflict: {mac} also claims {}", cidr.addr());
        match self.v4.address {
            AddressState::Probing { .. }
                if self
                    .dhcp
                    .as_ref()
                    .is_some_and(|c| c.state() == dhcp::State::Probing) =>
            {
                // RFC 2131 3.1.5: the leased address is declined and configuration starts over.
                self.v4.addr = None;
                self.v4.gateway = None;
                self.v4.address = AddressState::None;
                if let Some(client) = &mut self.dhcp {
                    client.probe_result(now, true);
                }
                self.poll_dhcp(now, emit);
            }
            AddressState::Probing { .. } => {
                self.v4.address = AddressState::Conflict;
                self.push_event(Event::AddressRejected {
                    addr: cidr.addr(),
                    mac,
                });
            }
            AddressState::Ready { .. } => {
                self.push_event(Event::AddressConflict {
                    addr: cidr.addr(),
                    mac,
                });
                // RFC 5227 2.4 (c): a configured address is defended, at most once per DEFEND_INTERVAL.
                let may_defend = self
                    .v4
                    .last_defence
                    .is_none_or(|t| now >= t + self.config.arp.defend_interval);
                if may_defend {
                    self.v4.last_defence = Some(now);
                    let announcement = arp::Repr::announcement(self.link.mac(), cidr.addr());
                    self.send_arp(MacAddr::BROADCAST, &announcement, emit);
                    self.stats.arp_probes_sent += 1;
                }
            }
            AddressState::None | AddressState::Conflict => {}
        }
    }
}
