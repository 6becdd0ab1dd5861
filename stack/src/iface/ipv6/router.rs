//! Routers (RFC 4861 6.3): soliciting them at start, taking their advertisements (default
//! router, hop limit, timers, MTU, prefixes).

use core::net::Ipv6Addr;
use core::time::Duration;

use tracing::{debug, info};

use super::{Router, ALL_ROUTERS};
use crate::iface::Interface;
use crate::ipv6::{self, ndp};
use crate::stats::DropReason;
use crate::time::Instant;

/// Bounds on what routers may set (RFC 4861 6.2.1 MAX for reachable time is one hour).
const MAX_REACHABLE: Duration = Duration::from_secs(3600);

const MIN_RETRANS: Duration = Duration::from_millis(100);

const MAX_RETRANS: Duration = Duration::from_secs(60);

impl Interface {
    /// A Router Advertisement (RFC 4861 6.3.4): the default router, hop limit, timers, MTU and
    /// prefixes it carries.
    pub(super) fn on_router_advert(
        &mut self,
        now: Instant,
        ip: &ipv6::Repr,
        ra: &ndp::Message<'_>,
        emit: &mut dyn FnMut(&[u8]),
    ) -> Result<(), DropReason> {
        let ndp::Message::RouterAdvert {
            cur_hop_limit,
            router_lifetime,
            reachable_time,
            retrans_timer,
            source_ll,
            mtu,
            options,
            ..
        } = *ra
        else {
            return Err(DropReason::NdpIgnored);
        };
        self.stats.ndp_router_adverts_rx += 1;
        let Some(v6) = self.ip6.as_mut() else {
            return Err(DropReason::EthUnsupportedType);
        };
        v6.rs.next = None;
        if cur_hop_limit != 0 {
            v6.hop_limit = cur_hop_limit;
        }
        if reachable_time != 0 {
            v6.timing.reachable =
                Duration::from_millis(u64::from(reachable_time)).min(MAX_REACHABLE);
        }
        if retrans_timer != 0 {
            v6.timing.retrans =
                Duration::from_millis(u64::from(retrans_timer)).clamp(MIN_RETRANS, MAX_RETRANS);
        }
        if let Some(mtu) = mtu.and_then(|m| usize::try_from(m).ok()) {
            // RFC 4861 6.3.4: an MTU below the minimum or above the link's is ignored.
            if (ipv6::MIN_MTU..=self.config.mtu).contains(&mtu) {
                v6.link_mtu = mtu;
            }
        }
        if router_lifetime == 0 {
            if v6.router.is_some_and(|r| r.addr == ip.src) {
                v6.router = None;
            }
        } else {
            let until = now + Duration::from_secs(u64::from(router_lifetime));
            if v6.router.is_none_or(|r| r.addr != ip.src) {
                info!(router = %ip.src, "IPv6: default router {}", ip.src);
            }
            v6.router = Some(Router {
                addr: ip.src,
                until,
            });
        }
        let prefixes: Vec<ndp::PrefixInfo> = options.prefixes().collect();
        for p in prefixes {
            self.on_prefix(now, &p);
        }
        if let Some(mac) = source_ll {
            self.learn6(ip.src, mac, now, emit);
        }
        if let Some(v6) = self.ip6.as_mut() {
            v6.neighbors.set_router(ip.src);
        }
        Ok(())
    }

    /// RFC 4861 6.3.7: up to MAX_RTR_SOLICITATIONS, RTR_SOLICITATION_INTERVAL apart, until a
    /// Router Advertisement arrives. From the link-local address once it is ours (with our
    /// link-layer address), from the unspecified address before (without).
    pub(super) fn poll_router_solicit(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
        let Some(v6) = self.ip6.as_mut() else { return };
        let Some(next) = v6.rs.next else { return };
        if next > now {
            return;
        }
        v6.rs.sent += 1;
        v6.rs.next = (v6.rs.sent < v6.cfg.router_solicitations).then(|| now + v6.cfg.rs_interval);
        let src = v6
            .select_source(ALL_ROUTERS)
            .unwrap_or(Ipv6Addr::UNSPECIFIED);
        let source_ll = self.link.ndp_address().filter(|_| !src.is_unspecified());
        debug!(%src, "NDP: soliciting routers");
        let solicit = ndp::Repr::RouterSolicit { source_ll };
        let mac = ipv6::multicast_mac(ALL_ROUTERS);
        self.send_ndp(now, Some(mac), src, ALL_ROUTERS, &solicit, emit);
        self.stats.ndp_router_solicits_sent += 1;
    }
}
