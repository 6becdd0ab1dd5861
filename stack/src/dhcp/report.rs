//! The DHCP client's report (RFC 2131): its state, its lease and timers, its counters.

use crate::report::Writer;
use crate::time::Instant;

use super::{Client, Lease};

impl Client {
    /// Writes the client as an object: `state`, `lease` (or `null`), `counters`, and
    /// `rejected` (the reasons replies were refused, those with a non-zero count). Timers are
    /// given as milliseconds from `now`.
    pub fn report(&self, now: Instant, w: &mut Writer<'_>) {
        w.object(|w| {
            w.key("state")
                .str(&format!("{:?}", self.state()).to_lowercase());
            w.key("lease");
            match self.lease() {
                Some(l) => l.report(now, w),
                None => w.null(),
            }
            let c = self.counters();
            w.key("counters").object(|w| {
                for (name, n) in c.fields() {
                    w.key(name).number(n);
                }
            });
            w.key("rejected").object(|w| {
                for (name, n) in c.rejected.fields() {
                    if n > 0 {
                        w.key(name).number(n);
                    }
                }
            });
        });
    }
}

impl Lease {
    /// Writes the lease as an object: address, router, DNS servers, server, lease time, and
    /// the renewal, rebinding and expiry times as milliseconds from `now` (`null` for an
    /// infinite lease).
    pub fn report(&self, now: Instant, w: &mut Writer<'_>) {
        let in_ms = |t: Option<Instant>| t.map(|t| t.saturating_duration_since(now).as_millis());
        w.object(|w| {
            w.key("address").display(self.addr);
            w.key("router").display_or_null(self.router);
            w.key("dns").array(|w| {
                for d in &self.dns {
                    w.display(d);
                }
            });
            w.key("server").display(self.server);
            w.key("lease_time_s")
                .number_or_null(self.lease_time.map(|d| d.as_secs()));
            w.key("renew_in_ms").number_or_null(in_ms(self.renew_at()));
            w.key("rebind_in_ms")
                .number_or_null(in_ms(self.rebind_at()));
            w.key("expires_in_ms")
                .number_or_null(in_ms(self.expires_at()));
        });
    }
}
