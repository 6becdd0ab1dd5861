//! The graph's series of one connection: data, retransmissions, ACK line, window, SACK blocks.

use super::capture::*;

/// A data segment: time, first and last relative sequence number.
pub(super) type Bar = (f64, f64, f64);

#[derive(Debug, Default)]
pub(super) struct Series {
    pub(super) data: Vec<Bar>,
    pub(super) retransmission: Vec<Bar>,
    pub(super) ack: Vec<(f64, f64)>,
    pub(super) window: Vec<(f64, f64)>,
    pub(super) sack: Vec<Bar>,
}

/// The relative offset of `seq` from `base` (sequence arithmetic: within 2 GiB either way).
pub(super) fn rel(seq: u32, base: u32) -> f64 {
    // Reading the difference as signed is the point: a byte just below the base is negative.
    #[allow(clippy::cast_possible_wrap)]
    let d = seq.wrapping_sub(base) as i32;
    f64::from(d)
}

pub(super) fn series(c: &Connection) -> Series {
    let sender = c.sender();
    let mut s = Series::default();
    let Some(first) = c.segments.iter().find(|g| g.src == sender) else {
        return s;
    };
    // The sender's ISN: its SYN's, or the first sequence number seen.
    let base = c
        .segments
        .iter()
        .find(|g| g.src == sender && g.syn)
        .map_or(first.seq, |g| g.seq.wrapping_add(1));
    let mut receiver_scale = 0u8;
    let mut both_scale = (false, false);
    for g in c.segments.iter().filter(|g| g.syn) {
        if g.src == sender {
            both_scale.0 = g.wscale.is_some();
        } else {
            both_scale.1 = g.wscale.is_some();
            receiver_scale = g.wscale.unwrap_or(0);
        }
    }
    // Window scaling applies only when both sides offered it (RFC 7323 2.2).
    let shift = if both_scale.0 && both_scale.1 {
        receiver_scale
    } else {
        0
    };
    let mut highest: Option<f64> = None;
    for g in &c.segments {
        if g.src == sender {
            if g.len == 0 {
                continue;
            }
            let from = rel(g.seq, base) + if g.syn { 1.0 } else { 0.0 };
            let to = from + f64::from(g.len);
            let bar = (g.t, from, to);
            if highest.is_some_and(|h| from < h) {
                s.retransmission.push(bar);
            } else {
                s.data.push(bar);
            }
            highest = Some(highest.map_or(to, |h: f64| h.max(to)));
        } else if let Some(ack) = g.ack {
            let a = rel(ack, base);
            s.ack.push((g.t, a));
            let win = if g.syn {
                f64::from(g.window)
            } else {
                f64::from(u32::from(g.window) << shift)
            };
            s.window.push((g.t, a + win));
            for &(l, r) in &g.sack {
                s.sack.push((g.t, rel(l, base), rel(r, base)));
            }
        }
    }
    s
}
