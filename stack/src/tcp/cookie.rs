//! Initial sequence numbers (RFC 9293 3.4.1, RFC 6528) and SYN cookies (RFC 4987 3.6): both a
//! keyed hash over the address pair, keyed by a secret drawn from the stack's seed.

use core::hash::Hasher;
use core::net::{IpAddr, SocketAddr};

use siphasher::sip::SipHasher24;

use super::{segment, Control, Instant, Seq, Sockets, CONTROL_QUEUE};

/// MSS classes a SYN cookie can encode.
const COOKIE_MSS: [u16; 8] = [536, 1200, 1220, 1300, 1400, 1440, 1452, 1460];

/// What a new connection's numbers start from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Isn {
    /// The initial send sequence number.
    pub(super) iss: Seq,
    /// Added to the millisecond clock for the connection's TSval (RFC 7323 5.4).
    pub(super) ts_offset: u32,
}

impl Sockets {
    /// RFC 9293 3.4.1 (SHLD-1, RFC 6528): ISN = M + F(localip, localport, remoteip, remoteport,
    /// secretkey), M a 4-microsecond clock and F a keyed hash; the key comes from the seed.
    /// The same hash, salted differently, gives the connection's timestamp offset.
    pub(super) fn isn(&self, now: Instant, local: SocketAddr, remote: SocketAddr) -> Isn {
        let mut h = SipHasher24::new_with_keys(self.secret.k0, self.secret.k1);
        for a in [local, remote] {
            match a.ip() {
                IpAddr::V4(ip) => h.write(&ip.octets()),
                IpAddr::V6(ip) => h.write(&ip.octets()),
            }
            h.write_u16(a.port());
        }
        let f = h.finish();
        let m = (now.micros() / 4) as u32;
        Isn {
            iss: Seq(m.wrapping_add(f as u32)),
            ts_offset: (f >> 32) as u32,
        }
    }

    /// RFC 4987 3.6 SYN cookie: 5 bits of a 64-second counter, 3 bits of MSS class, and 24
    /// bits of a keyed hash over the 4-tuple, the counter and the peer's ISN.
    pub(super) fn cookie(
        &self,
        counter: u32,
        mss_class: u32,
        local: SocketAddr,
        remote: SocketAddr,
        peer_isn: Seq,
    ) -> Seq {
        let mut h = SipHasher24::new_with_keys(self.secret.k1, self.secret.k0);
        for a in [local, remote] {
            match a.ip() {
                IpAddr::V4(ip) => h.write(&ip.octets()),
                IpAddr::V6(ip) => h.write(&ip.octets()),
            }
            h.write_u16(a.port());
        }
        h.write_u32(counter);
        h.write_u32(peer_isn.0);
        h.write_u32(mss_class);
        let hash = (h.finish() as u32) & 0x00ff_ffff;
        Seq(((counter & 0x1f) << 27) | ((mss_class & 0x7) << 24) | hash)
    }

    pub(super) fn cookie_counter(now: Instant) -> u32 {
        (now.micros() / 64_000_000) as u32
    }

    /// Answers a SYN with a cookie SYN,ACK and keeps no state.
    pub(super) fn send_cookie(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        syn: &segment::Repr,
    ) {
        let peer_mss = syn.options.mss.unwrap_or(536);
        let class = COOKIE_MSS.iter().rposition(|&m| m <= peer_mss).unwrap_or(0);
        let iss = self.cookie(
            Self::cookie_counter(now),
            class as u32,
            local,
            remote,
            syn.seq,
        );
        let repr = segment::Repr {
            src_port: local.port(),
            dst_port: remote.port(),
            seq: iss,
            ack: syn.seq + 1,
            flags: segment::Flags {
                syn: true,
                ack: true,
                ..Default::default()
            },
            window: self.config.rx_buffer.min(65_535) as u16,
            options: segment::Options {
                mss: Some(self.mss_for(&local)),
                ..Default::default()
            },
        };
        if self.control.len() < CONTROL_QUEUE {
            self.counters.syn_cookies_sent += 1;
            self.control.push_back(Control {
                local,
                remote,
                repr,
            });
        }
    }

    /// Checks the cookie an ACK returns (RFC 4987 3.6); gives the peer's MSS when valid.
    pub(super) fn check_cookie(
        &self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &segment::Repr,
    ) -> Option<u16> {
        let cookie = Seq(seg.ack.0.wrapping_sub(1));
        let peer_isn = Seq(seg.seq.0.wrapping_sub(1));
        let class = (cookie.0 >> 24) & 0x7;
        let current = Self::cookie_counter(now);
        // Valid for the current and the previous 64-second period.
        let valid = [current, current.wrapping_sub(1)].into_iter().any(|c| {
            (c & 0x1f) == cookie.0 >> 27 && self.cookie(c, class, local, remote, peer_isn) == cookie
        });
        valid
            .then(|| COOKIE_MSS.get(class as usize).copied())
            .flatten()
    }
}
