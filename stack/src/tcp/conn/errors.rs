//! Errors from outside and the application's view of them: ICMP errors count only for a
//! sequence number in flight (RFC 5927), a destination unreachable is hard during the handshake
//! and soft afterwards (RFC 5461), "fragmentation needed" shrinks the segments (RFC 1191), and
//! the user timeout (RFC 5482, RFC 9293 3.8.3 R2) and soft errors (MUST-47) reach the
//! application.

use core::fmt;
use core::time::Duration;

use super::{Connection, Error, State};
use crate::tcp::seq::Seq;

/// A problem the connection survives but the application may want to know of (RFC 9293
/// MUST-47, RFC 1122 4.2.3.5: "soft errors"): the latest is kept until read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoftError {
    /// An ICMP or ICMPv6 destination unreachable about data in flight (RFC 5461: soft in the
    /// synchronized states).
    Unreachable,
    /// A segment has been retransmitted R1 times (RFC 9293 3.8.3, MUST-20) without an ACK.
    Retransmitting,
}

impl fmt::Display for SoftError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SoftError::Unreachable => "destination unreachable",
            SoftError::Retransmitting => "retransmissions unanswered",
        })
    }
}

/// Retransmissions of one segment after which the application is told (RFC 9293 3.8.3 R1;
/// RFC 1122 4.2.3.5 recommends at least 3).
pub const R1_RETRANSMISSIONS: u32 = 3;

impl Connection {
    /// True when `seq`, the sequence number an ICMP error quotes, lies in SND.UNA..SND.NXT: only
    /// then can the error be about a segment we sent and still wait for (RFC 5927 4.1; a blind
    /// attacker has to guess it).
    pub fn quotes_in_flight(&self, seq: Seq) -> bool {
        seq.in_range(self.snd.una, self.snd.max)
    }

    /// An ICMP destination unreachable quoting sequence number `seq` (RFC 9293 3.9.2.4, RFC
    /// 5461): a hard error during the handshake aborts it, a soft error afterwards is kept for
    /// the application. Ignored unless `seq` is in flight (RFC 5927).
    pub fn on_icmp_unreachable(&mut self, seq: Seq) {
        if !self.quotes_in_flight(seq) {
            return;
        }
        if self.state == State::SynSent {
            self.close_with(Some(Error::Refused));
        } else if self.state != State::Closed {
            self.soft_error = Some(SoftError::Unreachable);
        }
    }

    /// ICMP "fragmentation needed" with the next-hop MTU (RFC 1191), quoting sequence number
    /// `seq`: segments shrink to fit. Ignored unless `seq` is in flight (RFC 5927 4.1).
    pub fn on_path_mtu(&mut self, mtu: u16, seq: Seq) {
        if !self.quotes_in_flight(seq) {
            return;
        }
        // 68 is the smallest MTU IPv4 allows (RFC 791); below 576 a router is lying or broken.
        let mtu = usize::from(mtu).max(576);
        let option_room = if self.ts.is_some() { 12 } else { 0 };
        let mss = mtu.saturating_sub(40 + option_room);
        if mss < self.mss {
            self.mss = mss;
        }
    }

    /// Sets the user timeout (RFC 5482 for the local setting, RFC 9293 3.8.3 R2): when data
    /// stays unacknowledged this long, through retransmissions, the connection is given up
    /// ([`Error::TimedOut`]). `None` goes back to the retransmission count of the stack.
    pub fn set_user_timeout(&mut self, timeout: Option<Duration>) {
        self.user_timeout = timeout;
    }

    /// The user timeout, when set.
    pub fn user_timeout(&self) -> Option<Duration> {
        self.user_timeout
    }

    /// The latest soft error (MUST-47), left in place.
    pub fn soft_error(&self) -> Option<SoftError> {
        self.soft_error
    }

    /// Reads and clears the latest soft error.
    pub fn take_soft_error(&mut self) -> Option<SoftError> {
        self.soft_error.take()
    }
}
