//! The TCP table's report (RFC 9293): table-wide counters and, for each connection, its state,
//! RTT estimate (RFC 6298), congestion window (RFC 5681), queues and counters.

use crate::report::Writer;

use super::{Connection, Sockets, State};

impl Sockets {
    /// Writes the table as an object: its counters, the first `max` connections, how many were
    /// `listed` and the `total`.
    pub fn report(&self, max: usize, w: &mut Writer<'_>) {
        let t = self.counters();
        w.object(|w| {
            w.key("active_opens").number(t.active_opens);
            w.key("passive_opens").number(t.passive_opens);
            w.key("resets_sent").number(t.resets_sent);
            w.key("backlog_drops").number(t.backlog_drops);
            w.key("failed").number(t.failed);
            w.key("syn_cookies_sent").number(t.syn_cookies_sent);
            w.key("syn_cookies_accepted").number(t.syn_cookies_accepted);
            w.key("syn_cookies_rejected").number(t.syn_cookies_rejected);
            w.key("orphans").number(self.orphans());
            w.key("orphans_reset").number(t.orphans_reset);
            w.key("fin_wait2_timeouts").number(t.fin_wait2_timeouts);
            w.key("data_after_close").number(t.data_after_close);
            w.key("time_wait_recycled").number(t.time_wait_recycled);
            let loss = self.loss();
            w.key("loss").object(|w| {
                w.key("retransmits").number(loss.retransmits);
                w.key("timeouts").number(loss.timeouts);
                w.key("recoveries").number(loss.recoveries);
                w.key("tail_loss_probes").number(loss.tail_loss_probes);
                w.key("lost_retransmits").number(loss.lost_retransmits);
                w.key("spurious_recoveries")
                    .number(loss.spurious_recoveries);
                w.key("dsacks_received").number(loss.dsacks_received);
                w.key("dsacks_sent").number(loss.dsacks_sent);
            });
            // How many connections are in each state (all of them, not only those listed).
            let mut by_state: Vec<(State, usize)> = Vec::new();
            for conn in self.iter() {
                match by_state.iter_mut().find(|(s, _)| *s == conn.state()) {
                    Some((_, n)) => *n += 1,
                    None => by_state.push((conn.state(), 1)),
                }
            }
            w.key("states").object(|w| {
                for (state, n) in &by_state {
                    w.key(state.name()).number(*n);
                }
            });
            w.key("memory");
            self.memory().report(w);
            let mut listed = 0usize;
            w.key("connections").array(|w| {
                for conn in self.iter().take(max) {
                    conn.report(w);
                    listed += 1;
                }
            });
            w.key("listed").number(listed);
            w.key("total").number(self.len());
        });
    }
}

impl Connection {
    /// Writes the connection as an object: endpoints, state, smoothed RTT (`null` before the
    /// first sample), RTO, congestion window and threshold, MSS, queues and counters.
    pub fn report(&self, w: &mut Writer<'_>) {
        w.object(|w| {
            w.key("local").display(self.local());
            w.key("remote").display(self.remote());
            w.key("state").str(self.state().name());
            w.key("srtt_us")
                .number_or_null(self.srtt().map(|d| d.as_micros()));
            w.key("rto_ms").number(self.rto().as_millis());
            w.key("cwnd").number(self.cwnd());
            w.key("ssthresh").number(self.ssthresh());
            w.key("mss").number(self.mss());
            w.key("send_queue").number(self.send_queue());
            w.key("recv_queue").number(self.recv_queue());
            let c = self.counters();
            w.key("counters").object(|w| {
                w.key("segments_in").number(c.segments_in);
                w.key("segments_out").number(c.segments_out);
                w.key("bytes_in").number(c.bytes_in);
                w.key("bytes_out").number(c.bytes_out);
                w.key("retransmits").number(c.retransmits);
                w.key("timeouts").number(c.timeouts);
                w.key("fast_retransmits").number(c.fast_retransmits);
                w.key("dup_acks").number(c.dup_acks);
                w.key("out_of_order").number(c.out_of_order);
                w.key("tail_loss_probes").number(c.tail_loss_probes);
                w.key("lost_retransmits").number(c.lost_retransmits);
                w.key("spurious_recoveries").number(c.spurious_recoveries);
                w.key("dsacks_received").number(c.dsacks_received);
                w.key("dsacks_sent").number(c.dsacks_sent);
            });
        });
    }
}

#[cfg(test)]
mod tests {
    use core::net::{IpAddr, Ipv4Addr, SocketAddr};

    use super::*;
    use crate::tcp::Config;
    use crate::time::Instant;

    #[test]
    fn lists_at_most_max_connections_and_counts_them_all() {
        let mut t = Sockets::new(Config::default(), 1460, 7);
        let us = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        for port in 1..=3 {
            let peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), port);
            t.connect(Instant::ZERO, us, peer).unwrap();
        }
        let mut s = String::new();
        t.report(2, &mut Writer::new(&mut s));
        assert_eq!(s.matches("\"state\":\"SYN-SENT\"").count(), 2, "{s}");
        assert!(
            s.starts_with("{\"active_opens\":3,\"passive_opens\":0,"),
            "{s}"
        );
        assert!(s.ends_with("],\"listed\":2,\"total\":3}"), "{s}");
    }
}
