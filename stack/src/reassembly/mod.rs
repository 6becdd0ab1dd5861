//! Fragment reassembly for both families: IPv4 (RFC 791 3.2, with the hole bookkeeping of
//! RFC 815) and IPv6 (RFC 8200 4.5).
//!
//! One table, [`Reassembler`], generic over its key, serves both: [`ipv4`] keys it by source,
//! destination, protocol and identification, [`ipv6`] by source, destination and identification
//! and adds what IPv6 needs on top (the header chain of first fragments, the Next Header of the
//! offset-zero fragment, the data kept for Time Exceeded).
//!
//! Bounded three ways: datagrams at once, bytes over all buffers, and size of one datagram.
//! When the table is full, a new datagram still gets in: the oldest incomplete one is evicted
//! (RFC 8200 4.5 and RFC 791 leave the policy open; Linux evicts the oldest too), taken from the
//! new datagram's own source once that source holds its share ([`share`] of the table), so a
//! flood of incomplete trains from one source cannot keep others' datagrams out.
//! Overlapping fragments are treated as RFC 5722 treats them for IPv6: the whole datagram is
//! discarded, since overlap is how fragment attacks rewrite headers after filtering.
//! An exact duplicate of a fragment already held is ignored.

pub mod ipv4;
pub mod ipv6;

use std::collections::BTreeMap;

use core::net::IpAddr;
use core::time::Duration;

use crate::stats::DropReason;
use crate::time::Instant;

/// The limits the reassembler enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Datagrams in progress at once.
    pub datagrams: usize,
    /// Bytes over all buffers.
    pub bytes: usize,
    /// Largest payload of one datagram (IP header excluded).
    pub max_payload: usize,
    /// Fragments per datagram.
    pub max_fragments: usize,
    /// Time an incomplete datagram is kept.
    pub timeout: Duration,
}

#[derive(Debug)]
struct Datagram {
    buf: Vec<u8>,
    /// Received byte ranges `[start, end)`, sorted, adjacent ones merged.
    ranges: Vec<(usize, usize)>,
    fragments: usize,
    total: Option<usize>,
    deadline: Instant,
}

/// A reassembly key names the source its fragments came from (for the per-source share).
pub trait Source {
    /// The source address of the datagram.
    fn source(&self) -> IpAddr;
}

/// Datagrams one source may hold before its own oldest is evicted for its next one, when the
/// table is full: a quarter of the table, at least one.
pub fn share(datagrams: usize) -> usize {
    (datagrams / 4).max(1)
}

/// What happened to a fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Kept; the datagram is not complete yet.
    Held,
    /// The datagram is complete: here is its payload.
    Complete(Vec<u8>),
    /// The fragment was dropped (and with it, for some reasons, the datagram).
    Dropped(DropReason),
}

/// The reassembly table, keyed by `K` ([`ipv4::Key`] or [`ipv6::Key`]).
#[derive(Debug)]
pub struct Reassembler<K: Ord + Copy + Source> {
    table: BTreeMap<K, Datagram>,
    bytes: usize,
    bounds: Bounds,
    evictions: u64,
}

impl<K: Ord + Copy + Source> Reassembler<K> {
    /// An empty table with the given bounds.
    pub fn new(bounds: Bounds) -> Self {
        Reassembler {
            table: BTreeMap::new(),
            bytes: 0,
            bounds,
            evictions: 0,
        }
    }

    /// Incomplete datagrams evicted so far to make room for newer ones.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// The oldest datagram other than `except`, from `source` only when given.
    fn oldest(&self, source: Option<IpAddr>, except: &K) -> Option<K> {
        self.table
            .iter()
            .filter(|(k, _)| *k != except && source.is_none_or(|s| k.source() == s))
            .min_by_key(|(_, d)| d.deadline)
            .map(|(k, _)| *k)
    }

    /// Makes room for a new datagram `key` in a full table: evicts the oldest datagram of the
    /// same source once that source holds its share, else the oldest of all.
    fn evict_for(&mut self, key: &K) -> bool {
        let src = key.source();
        let held = self
            .table
            .keys()
            .filter(|k| *k != key && k.source() == src)
            .count();
        let victim = if held >= share(self.bounds.datagrams) {
            self.oldest(Some(src), key)
        } else {
            self.oldest(None, key)
        };
        match victim {
            Some(v) => {
                self.discard(&v);
                self.evictions += 1;
                true
            }
            None => false,
        }
    }

    /// Adds the fragment carrying `data` at byte `offset` of datagram `key`.
    pub fn add(&mut self, now: Instant, key: K, offset: usize, more: bool, data: &[u8]) -> Outcome {
        let end = offset + data.len();
        // RFC 791: every fragment but the last carries a multiple of 8 bytes.
        if more && (data.is_empty() || data.len() % 8 != 0) {
            return Outcome::Dropped(DropReason::FragmentInvalid);
        }
        if end > self.bounds.max_payload {
            self.discard(&key);
            return Outcome::Dropped(DropReason::FragmentTooBig);
        }
        if !self.table.contains_key(&key) {
            self.expire(now);
            while self.table.len() >= self.bounds.datagrams {
                if !self.evict_for(&key) {
                    return Outcome::Dropped(DropReason::ReassemblyFull);
                }
            }
            let d = Datagram {
                buf: Vec::new(),
                ranges: Vec::new(),
                fragments: 0,
                total: None,
                deadline: now + self.bounds.timeout,
            };
            self.table.insert(key, d);
        }
        let Some(d) = self.table.get_mut(&key) else {
            return Outcome::Dropped(DropReason::ReassemblyFull);
        };

        // Consistency of the end: only one last fragment, nothing beyond it.
        let beyond_end = match d.total {
            Some(total) => end > total || (!more && end != total),
            None => !more && d.ranges.last().is_some_and(|r| r.1 > end),
        };
        if beyond_end {
            self.discard(&key);
            return Outcome::Dropped(DropReason::FragmentInvalid);
        }
        // Overlap with what we hold: an exact duplicate is harmless, anything else kills the datagram.
        if !data.is_empty() {
            if let Some(&(s, e)) = d.ranges.iter().find(|&&(s, e)| offset < e && end > s) {
                let duplicate = s <= offset && end <= e && d.buf.get(offset..end) == Some(data);
                if duplicate {
                    if !more {
                        d.total = Some(end);
                    }
                    return Outcome::Dropped(DropReason::FragmentDuplicate);
                }
                self.discard(&key);
                return Outcome::Dropped(DropReason::FragmentOverlap);
            }
        }
        if d.fragments >= self.bounds.max_fragments {
            self.discard(&key);
            return Outcome::Dropped(DropReason::ReassemblyFull);
        }
        let grow = end.saturating_sub(d.buf.len());
        // Over the byte budget: older datagrams make room, as for a full table.
        while self.bytes + grow > self.bounds.bytes {
            if grow > self.bounds.bytes || !self.evict_for(&key) {
                return Outcome::Dropped(DropReason::ReassemblyFull);
            }
        }
        let Some(d) = self.table.get_mut(&key) else {
            return Outcome::Dropped(DropReason::ReassemblyFull);
        };
        if grow > 0 {
            d.buf.reserve_exact(grow);
            d.buf.resize(end, 0);
            self.bytes += grow;
        }
        if let Some(dst) = d.buf.get_mut(offset..end) {
            dst.copy_from_slice(data);
        }
        d.fragments += 1;
        if !more {
            d.total = Some(end);
        }
        if !data.is_empty() {
            insert_range(&mut d.ranges, offset, end);
        }
        let complete = match d.total {
            Some(0) => true,
            Some(total) => d.ranges.as_slice() == [(0, total)],
            None => false,
        };
        if complete {
            if let Some(d) = self.table.remove(&key) {
                self.bytes -= d.buf.len();
                return Outcome::Complete(d.buf);
            }
        }
        Outcome::Held
    }

    /// Discards datagrams past their deadline; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        self.expire_each(now, |_, _| {})
    }

    /// Discards datagrams past their deadline, handing each key to `gone` with the data held
    /// from offset 0 on (`None` when the first fragment never came: RFC 792 and RFC 8200 4.5
    /// send Time Exceeded only with it); returns how many.
    pub fn expire_each(&mut self, now: Instant, mut gone: impl FnMut(&K, Option<&[u8]>)) -> usize {
        let expired: Vec<K> = self
            .table
            .iter()
            .filter(|(_, d)| d.deadline <= now)
            .map(|(k, _)| *k)
            .collect();
        for k in &expired {
            if let Some(d) = self.table.get(k) {
                let first = d
                    .ranges
                    .first()
                    .filter(|r| r.0 == 0)
                    .and_then(|r| d.buf.get(..r.1));
                gone(k, first);
            }
            self.discard(k);
        }
        expired.len()
    }

    /// The earliest deadline.
    pub fn poll_at(&self) -> Option<Instant> {
        self.table.values().map(|d| d.deadline).min()
    }

    /// Bytes held in buffers.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Datagrams in progress.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when nothing is in progress.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    fn discard(&mut self, key: &K) {
        if let Some(d) = self.table.remove(key) {
            self.bytes -= d.buf.len();
        }
    }
}

/// Inserts `[s, e)` into sorted, non-overlapping `ranges`, merging neighbours that touch.
fn insert_range(ranges: &mut Vec<(usize, usize)>, s: usize, e: usize) {
    let pos = ranges.partition_point(|r| r.0 < s);
    ranges.insert(pos, (s, e));
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for &(s, e) in ranges.iter() {
        match merged.last_mut() {
            Some(last) if last.1 >= s => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    *ranges = merged;
}

#[cfg(test)]
mod tests {
    use super::ipv4::Key;
    use super::*;
    use core::net::Ipv4Addr;

    fn bounds() -> Bounds {
        Bounds {
            datagrams: 4,
            bytes: 20_000,
            max_payload: 65_515,
            max_fragments: 64,
            timeout: Duration::from_secs(30),
        }
    }

    fn key(ident: u16) -> Key {
        Key {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            protocol: 1,
            ident,
        }
    }

    fn payload(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    const T: Instant = Instant::from_secs(1);

    #[test]
    fn in_order() {
        let p = payload(3000);
        let mut r = Reassembler::<Key>::new(bounds());
        assert_eq!(r.add(T, key(1), 0, true, &p[..1480]), Outcome::Held);
        assert_eq!(r.add(T, key(1), 1480, true, &p[1480..2960]), Outcome::Held);
        assert_eq!(
            r.add(T, key(1), 2960, false, &p[2960..]),
            Outcome::Complete(p)
        );
        assert_eq!((r.len(), r.bytes()), (0, 0));
    }

    #[test]
    fn out_of_order_and_interleaved() {
        let p = payload(3000);
        let q = payload(100);
        let mut r = Reassembler::<Key>::new(bounds());
        assert_eq!(r.add(T, key(1), 2960, false, &p[2960..]), Outcome::Held);
        assert_eq!(r.add(T, key(2), 16, false, &q[16..]), Outcome::Held);
        assert_eq!(r.add(T, key(1), 0, true, &p[..1480]), Outcome::Held);
        assert_eq!(r.add(T, key(2), 0, true, &q[..16]), Outcome::Complete(q));
        assert_eq!(
            r.add(T, key(1), 1480, true, &p[1480..2960]),
            Outcome::Complete(p)
        );
        assert!(r.is_empty());
    }

    #[test]
    fn duplicate_is_ignored() {
        let p = payload(24);
        let mut r = Reassembler::<Key>::new(bounds());
        assert_eq!(r.add(T, key(1), 0, true, &p[..16]), Outcome::Held);
        assert_eq!(
            r.add(T, key(1), 0, true, &p[..16]),
            Outcome::Dropped(DropReason::FragmentDuplicate)
        );
        assert_eq!(r.add(T, key(1), 16, false, &p[16..]), Outcome::Complete(p));
    }

    #[test]
    fn overlap_discards_the_datagram() {
        let p = payload(48);
        let mut r = Reassembler::<Key>::new(bounds());
        assert_eq!(r.add(T, key(1), 0, true, &p[..24]), Outcome::Held);
        // Starts inside the first fragment with other bytes: a rewrite attempt.
        let evil = vec![0xaa; 16];
        assert_eq!(
            r.add(T, key(1), 16, true, &evil),
            Outcome::Dropped(DropReason::FragmentOverlap)
        );
        assert!(r.is_empty(), "whole datagram discarded");
        assert_eq!(r.bytes(), 0);
        // The rest alone never completes.
        assert_eq!(r.add(T, key(1), 24, false, &p[24..]), Outcome::Held);
        // Same bytes, but a different boundary is an overlap too.
        let mut r = Reassembler::<Key>::new(bounds());
        r.add(T, key(1), 0, true, &p[..16]);
        assert_eq!(
            r.add(T, key(1), 8, true, &p[8..24]),
            Outcome::Dropped(DropReason::FragmentOverlap)
        );
    }

    #[test]
    fn timeout_frees_memory() {
        let p = payload(100);
        let mut r = Reassembler::<Key>::new(bounds());
        r.add(T, key(1), 0, true, &p[..64]);
        assert_eq!(r.poll_at(), Some(T + Duration::from_secs(30)));
        assert_eq!(r.expire(T + Duration::from_secs(29)), 0);
        assert_eq!(r.expire(T + Duration::from_secs(30)), 1);
        assert_eq!((r.len(), r.bytes()), (0, 0));
        assert_eq!(
            r.add(T, key(1), 64, false, &p[64..]),
            Outcome::Held,
            "late tail starts afresh"
        );
    }

    #[test]
    fn limits() {
        let mut r = Reassembler::<Key>::new(bounds());
        // Over the per-datagram size.
        assert_eq!(
            r.add(T, key(1), 65_512, false, &[0; 8]),
            Outcome::Dropped(DropReason::FragmentTooBig)
        );
        // Over the datagram count: the oldest makes room (see `full_table_evicts_oldest`).
        for i in 0..4 {
            assert_eq!(r.add(T, key(i), 0, true, &[0; 8]), Outcome::Held);
        }
        assert_eq!(r.add(T, key(9), 0, true, &[0; 8]), Outcome::Held);
        assert_eq!((r.len(), r.evictions()), (4, 1));
        // Over the byte budget: a fragment far out would need 30 kB.
        assert_eq!(
            r.add(T, key(0), 30_000, true, &[0; 8]),
            Outcome::Dropped(DropReason::ReassemblyFull)
        );
        assert!(r.bytes() <= bounds().bytes);
        // Non-last fragment not a multiple of 8.
        assert_eq!(
            r.add(T, key(0), 8, true, &[0; 5]),
            Outcome::Dropped(DropReason::FragmentInvalid)
        );
        // Two different ends.
        assert_eq!(r.add(T, key(0), 16, false, &[0; 8]), Outcome::Held);
        assert_eq!(
            r.add(T, key(0), 32, false, &[0; 8]),
            Outcome::Dropped(DropReason::FragmentInvalid)
        );
    }

    #[test]
    fn fragment_count_bound() {
        let mut b = bounds();
        b.max_fragments = 3;
        let mut r = Reassembler::<Key>::new(b);
        // Every other 8-byte block so nothing merges and nothing completes.
        for i in 0..3 {
            assert_eq!(r.add(T, key(1), i * 16, true, &[1; 8]), Outcome::Held);
        }
        assert_eq!(
            r.add(T, key(1), 48, true, &[1; 8]),
            Outcome::Dropped(DropReason::ReassemblyFull)
        );
        assert!(r.is_empty());
    }

    fn key_from(src: u8, ident: u16) -> Key {
        Key {
            src: Ipv4Addr::new(10, 0, 0, src),
            ..key(ident)
        }
    }

    #[test]
    fn full_table_evicts_oldest() {
        // A full table of incomplete trains (a flood) no longer keeps a new datagram out: the
        // oldest train is evicted for it, and the new one completes.
        let mut r = Reassembler::<Key>::new(bounds());
        for i in 0..4u16 {
            let t = T + Duration::from_millis(u64::from(i));
            assert_eq!(r.add(t, key(i), 0, true, &[0; 8]), Outcome::Held);
        }
        let p = payload(24);
        let t = T + Duration::from_millis(10);
        assert_eq!(r.add(t, key(100), 0, true, &p[..16]), Outcome::Held);
        assert_eq!(r.evictions(), 1);
        assert_eq!(
            r.add(t, key(100), 16, false, &p[16..]),
            Outcome::Complete(p)
        );
        // The evicted one was the oldest (ident 0): its tail starts afresh; 1..3 are still held.
        assert_eq!(
            r.add(t, key(1), 8, false, &[0; 8]),
            Outcome::Complete(vec![0; 16])
        );
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn a_flooding_source_evicts_its_own_first() {
        let mut b = bounds();
        b.datagrams = 8;
        let mut r = Reassembler::<Key>::new(b);
        // Source 2 starts a datagram first; then source 1 fills the table, and goes on flooding.
        assert_eq!(r.add(T, key_from(2, 7), 0, true, &[2; 8]), Outcome::Held);
        for i in 0..100u16 {
            let t = T + Duration::from_millis(1 + u64::from(i));
            assert_eq!(r.add(t, key_from(1, i), 0, true, &[1; 8]), Outcome::Held);
        }
        assert_eq!(r.len(), 8);
        assert_eq!(r.evictions(), 93);
        // Source 2's older datagram was not taken: source 1 was past its share (2 of 8).
        assert_eq!(
            r.add(T, key_from(2, 7), 8, false, &[2; 8]),
            Outcome::Complete(vec![2; 16])
        );
        // Byte pressure evicts too: a datagram that needs most of the budget gets it.
        let mut r = Reassembler::<Key>::new(bounds());
        assert_eq!(r.add(T, key_from(1, 1), 0, true, &[0; 8000]), Outcome::Held);
        assert_eq!(r.add(T, key_from(1, 2), 0, true, &[0; 8000]), Outcome::Held);
        let t = T + Duration::from_millis(1);
        assert_eq!(
            r.add(t, key_from(3, 3), 0, true, &[0; 12_000]),
            Outcome::Held
        );
        assert!(r.bytes() <= bounds().bytes);
        assert_eq!(r.evictions(), 1);
    }

    #[test]
    fn ranges_merge() {
        let mut v = Vec::new();
        insert_range(&mut v, 16, 24);
        insert_range(&mut v, 0, 8);
        insert_range(&mut v, 8, 16);
        assert_eq!(v, [(0, 24)]);
        insert_range(&mut v, 40, 48);
        assert_eq!(v, [(0, 24), (40, 48)]);
    }
}
