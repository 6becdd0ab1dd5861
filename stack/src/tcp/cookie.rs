//! Initial sequence numbers (RFC 9293 3.4.1, RFC 6528) and SYN cookies (RFC 4987 3.6): both a
//! keyed hash over the address pair, keyed by a secret drawn from the stack's seed.
//!
//! Cookies are checked only while the listener has sent one recently ([`COOKIE_ACCEPT`], as
//! Linux's `tcp_synq_no_recent_overflow`): outside a SYN flood no ACK can open a connection by
//! guessing 24 bits of hash. When the peer's SYN carried timestamps, the SYN,ACK's TSval hides
//! the peer's window scale and SACK-permitted in its low 6 bits, as Linux does
//! (`cookie_init_timestamp`), and the ACK's TSecr gives them back, so a cookie connection keeps
//! window scaling, SACK and timestamps.

use core::hash::Hasher;
use core::net::{IpAddr, SocketAddr};

use core::time::Duration;

use siphasher::sip::SipHasher24;

use super::conn::scale_for;
use super::{segment, Control, Instant, Seq, Sockets, CONTROL_QUEUE};

/// MSS classes a SYN cookie can encode.
const COOKIE_MSS: [u16; 8] = [536, 1200, 1220, 1300, 1400, 1440, 1452, 1460];

/// How long after a listener last sent a cookie an ACK is still checked for one (Linux:
/// `TCP_SYNCOOKIE_VALID`, two minutes, the lifetime of a cookie's counter).
pub(super) const COOKIE_ACCEPT: Duration = Duration::from_secs(120);

/// Low bits of the cookie SYN,ACK's TSval that carry options: 4 bits of window scale (15: none)
/// and SACK-permitted.
const TS_OPTION_BITS: u32 = 0x3f;
const TS_NO_WSCALE: u32 = 0xf;
const TS_SACK: u32 = 0x10;

/// What a valid cookie gives back of the peer's SYN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct CookieSyn {
    /// The peer's SYN options as far as the cookie kept them: MSS (its class), and with
    /// timestamps, window scale and SACK-permitted; `timestamps` holds the ACK's TSval.
    pub(super) options: segment::Options,
    /// The connection's timestamp offset (the one the SYN,ACK's TSval used).
    pub(super) ts_offset: u32,
}

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
        let mut options = segment::Options {
            mss: Some(self.mss_for(&local)),
            ..Default::default()
        };
        // Window scale and SACK fit only in a timestamp (without one they are not offered).
        if let (true, Some((peer_tsval, _))) = (self.config.timestamps, syn.options.timestamps) {
            let wscale = syn
                .options
                .window_scale
                .filter(|_| self.config.window_scaling);
            let sack = self.config.sack && syn.options.sack_permitted;
            let bits = wscale.map_or(TS_NO_WSCALE, u32::from) | if sack { TS_SACK } else { 0 };
            let offset = self.isn(now, local, remote).ts_offset;
            let ts_now = (now.millis() as u32).wrapping_add(offset);
            let mut tsval = (ts_now & !TS_OPTION_BITS) | bits;
            // Never ahead of the clock (Linux does the same): step back one 64 ms period.
            if (tsval.wrapping_sub(ts_now) as i32) > 0 {
                tsval = tsval.wrapping_sub(TS_OPTION_BITS + 1);
            }
            options.timestamps = Some((tsval, peer_tsval));
            options.sack_permitted = sack;
            if wscale.is_some() {
                options.window_scale = Some(scale_for(self.config.rx_buffer));
            }
        }
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
            options,
            urgent: 0,
        };
        if self.control.len() < CONTROL_QUEUE {
            self.counters.syn_cookies_sent += 1;
            if let Some(l) = self.listeners.get_mut(&local.port()) {
                l.last_cookie = Some(now);
            }
            self.control.push_back(Control {
                local,
                remote,
                repr,
            });
        }
    }

    /// Checks the cookie an ACK returns (RFC 4987 3.6), only while the listener on `local` sent
    /// one within [`COOKIE_ACCEPT`]; gives back what the cookie kept of the peer's SYN.
    pub(super) fn check_cookie(
        &self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &segment::Repr,
    ) -> Option<CookieSyn> {
        let recent = self
            .listeners
            .get(&local.port())
            .and_then(|l| l.last_cookie)
            .is_some_and(|t| now < t + COOKIE_ACCEPT);
        if !recent {
            return None;
        }
        let cookie = Seq(seg.ack.0.wrapping_sub(1));
        let peer_isn = Seq(seg.seq.0.wrapping_sub(1));
        let class = (cookie.0 >> 24) & 0x7;
        let current = Self::cookie_counter(now);
        // Valid for the current and the previous 64-second period.
        let valid = [current, current.wrapping_sub(1)].into_iter().any(|c| {
            (c & 0x1f) == cookie.0 >> 27 && self.cookie(c, class, local, remote, peer_isn) == cookie
        });
        if !valid {
            return None;
        }
        let mut options = segment::Options {
            mss: Some(*COOKIE_MSS.get(class as usize)?),
            ..Default::default()
        };
        let mut ts_offset = 0;
        if let (true, Some((tsval, tsecr))) = (self.config.timestamps, seg.options.timestamps) {
            let wscale = tsecr & TS_NO_WSCALE;
            let sack = tsecr & TS_SACK != 0;
            // Options we would not have offered mean the echo was tampered with.
            if (wscale != TS_NO_WSCALE && (wscale > 14 || !self.config.window_scaling))
                || (sack && !self.config.sack)
            {
                return None;
            }
            options.window_scale = (wscale != TS_NO_WSCALE).then_some(wscale as u8);
            options.sack_permitted = sack;
            options.timestamps = Some((tsval, 0));
            ts_offset = self.isn(now, local, remote).ts_offset;
        }
        Some(CookieSyn { options, ts_offset })
    }
}
