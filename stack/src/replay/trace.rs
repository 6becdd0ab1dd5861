//! The stack's own view of its TCP connections over a replay: after every frame fed and every
//! timer poll, one [`Sample`] for each connection whose state, congestion window, RTT estimate,
//! bytes in flight or SACK scoreboard changed, with the congestion events since the sample
//! before (a fast retransmit, a retransmission timeout, a recovery undone as spurious).
//!
//! Bounded: at most [`Tracer::MAX_CONNECTIONS`] connections are followed and at most
//! [`Tracer::MAX_PENDING`] samples wait to be taken; what does not fit is counted.

use std::collections::VecDeque;

use core::net::SocketAddr;

use crate::report::Writer;
use crate::tcp::{Connection, Sockets};
use crate::time::Instant;

/// What changed a connection besides its figures, since its sample before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CongestionEvent {
    /// Loss recovery entered on duplicate ACKs or SACK (RFC 5681 3.2, RFC 6675).
    FastRetransmit,
    /// The retransmission timer expired (RFC 6298 5.5).
    Timeout,
    /// A recovery was undone: the retransmission was spurious (RFC 3522, or D-SACK).
    Undo,
    /// A tail loss probe went out (RFC 8985 7).
    Probe,
}

impl CongestionEvent {
    /// The name in the trace.
    pub fn name(self) -> &'static str {
        match self {
            CongestionEvent::FastRetransmit => "fast-retransmit",
            CongestionEvent::Timeout => "timeout",
            CongestionEvent::Undo => "undo",
            CongestionEvent::Probe => "tail-loss-probe",
        }
    }
}

/// The figures of one connection that a sample records.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Figures {
    state: &'static str,
    cwnd: usize,
    ssthresh: usize,
    srtt_us: Option<u128>,
    rttvar_us: u128,
    rto_us: u128,
    in_flight: usize,
    sack_ranges: usize,
    recovery: bool,
    fast_retransmits: u64,
    timeouts: u64,
    undos: u64,
    probes: u64,
}

impl Figures {
    fn of(c: &Connection) -> Figures {
        let k = c.counters();
        Figures {
            state: c.state().name(),
            cwnd: c.cwnd(),
            ssthresh: c.ssthresh(),
            srtt_us: c.srtt().map(|d| d.as_micros()),
            rttvar_us: c.rttvar().as_micros(),
            rto_us: c.rto().as_micros(),
            in_flight: c.bytes_in_flight(),
            sack_ranges: c.sack_ranges(),
            recovery: c.in_recovery(),
            fast_retransmits: k.fast_retransmits,
            timeouts: k.timeouts,
            undos: k.spurious_recoveries,
            probes: k.tail_loss_probes,
        }
    }
}

/// One connection at one instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Microseconds since the capture's first record.
    pub time_us: u64,
    /// The connection's number in the trace (1, 2, ... in the order they were first seen).
    pub conn: u32,
    /// The stack's address and port.
    pub local: SocketAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
    figures: Figures,
    /// What happened since the sample before.
    pub events: Vec<CongestionEvent>,
}

impl Sample {
    /// The congestion window in bytes.
    pub fn cwnd(&self) -> usize {
        self.figures.cwnd
    }

    /// The sample as one line of JSON (no newline).
    pub fn json(&self) -> String {
        let f = &self.figures;
        let mut s = String::new();
        let mut w = Writer::new(&mut s);
        w.object(|w| {
            w.key("time_us").number(self.time_us);
            w.key("conn").number(self.conn);
            w.key("local").display(self.local);
            w.key("remote").display(self.remote);
            w.key("state").str(f.state);
            w.key("cwnd").number(f.cwnd);
            // No threshold yet (slow start until the first loss): null.
            w.key("ssthresh")
                .number_or_null((f.ssthresh != usize::MAX).then_some(f.ssthresh));
            w.key("srtt_us").number_or_null(f.srtt_us);
            w.key("rttvar_us").number(f.rttvar_us);
            w.key("rto_us").number(f.rto_us);
            w.key("in_flight").number(f.in_flight);
            w.key("sack_ranges").number(f.sack_ranges);
            w.key("recovery").bool(f.recovery);
            w.key("retransmit_timeouts").number(f.timeouts);
            w.key("fast_retransmits").number(f.fast_retransmits);
            w.key("events").array(|w| {
                for e in &self.events {
                    w.str(e.name());
                }
            });
        });
        s
    }
}

/// A followed connection: its number and the figures of its last sample.
#[derive(Debug)]
struct Followed {
    local: SocketAddr,
    remote: SocketAddr,
    conn: u32,
    last: Figures,
    /// Seen in the latest look at the table.
    seen: bool,
}

/// Samples TCP connections when asked, keeping those that changed.
#[derive(Debug, Default)]
pub struct Tracer {
    followed: Vec<Followed>,
    next_conn: u32,
    pending: VecDeque<Sample>,
    /// Connections not followed because [`Tracer::MAX_CONNECTIONS`] were.
    pub connections_dropped: u64,
    /// Samples lost because [`Tracer::MAX_PENDING`] were waiting.
    pub samples_dropped: u64,
}

impl Tracer {
    /// Connections followed at once.
    pub const MAX_CONNECTIONS: usize = 4096;
    /// Samples waiting to be taken.
    pub const MAX_PENDING: usize = 1 << 16;

    /// A tracer that follows nothing yet.
    pub fn new() -> Self {
        Tracer::default()
    }

    /// Looks at every connection in `table` at `time_us`; a sample for each one that changed
    /// (or is new). Connections gone from the table are forgotten.
    pub fn sample(&mut self, time_us: u64, table: &Sockets) {
        for f in &mut self.followed {
            f.seen = false;
        }
        for c in table.iter() {
            let now = Figures::of(c);
            let (local, remote) = (c.local(), c.remote());
            let full = self.followed.len() >= Self::MAX_CONNECTIONS;
            let found = self
                .followed
                .iter_mut()
                .find(|f| f.local == local && f.remote == remote);
            let (conn, events) = match found {
                Some(f) => {
                    f.seen = true;
                    if f.last == now {
                        continue;
                    }
                    let mut events = Vec::new();
                    if now.fast_retransmits > f.last.fast_retransmits {
                        events.push(CongestionEvent::FastRetransmit);
                    }
                    if now.timeouts > f.last.timeouts {
                        events.push(CongestionEvent::Timeout);
                    }
                    if now.undos > f.last.undos {
                        events.push(CongestionEvent::Undo);
                    }
                    if now.probes > f.last.probes {
                        events.push(CongestionEvent::Probe);
                    }
                    f.last = now.clone();
                    (f.conn, events)
                }
                None if full => {
                    self.connections_dropped += 1;
                    continue;
                }
                None => {
                    self.next_conn = self.next_conn.saturating_add(1);
                    self.followed.push(Followed {
                        local,
                        remote,
                        conn: self.next_conn,
                        last: now.clone(),
                        seen: true,
                    });
                    (self.next_conn, Vec::new())
                }
            };
            if self.pending.len() >= Self::MAX_PENDING {
                self.samples_dropped += 1;
                continue;
            }
            self.pending.push_back(Sample {
                time_us,
                conn,
                local,
                remote,
                figures: now,
                events,
            });
        }
        self.followed.retain(|f| f.seen);
    }

    /// Takes the samples waiting, oldest first.
    pub fn take(&mut self) -> impl Iterator<Item = Sample> + '_ {
        self.pending.drain(..)
    }
}

/// Microseconds of `t` after `origin`, for a sample's time.
pub(super) fn micros_after(t: Instant, origin: Instant) -> u64 {
    t.saturating_duration_since(origin)
        .as_micros()
        .try_into()
        .unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use core::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::tcp::Config;

    #[test]
    fn a_connection_is_sampled_when_new_and_when_it_changes_only() {
        let mut t = Sockets::new(Config::default(), 1460, 7);
        let us = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 80);
        t.connect(Instant::ZERO, us, peer).unwrap();
        let mut tr = Tracer::new();
        tr.sample(0, &t);
        let first: Vec<Sample> = tr.take().collect();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].conn, 1);
        let line = first[0].json();
        assert!(line.starts_with("{\"time_us\":0,\"conn\":1,"), "{line}");
        assert!(line.contains("\"state\":\"SYN-SENT\""), "{line}");
        assert!(line.ends_with("\"events\":[]}"), "{line}");
        // Nothing changed: no sample.
        tr.sample(10, &t);
        assert_eq!(tr.take().count(), 0);
        assert_eq!((tr.samples_dropped, tr.connections_dropped), (0, 0));
    }
}
