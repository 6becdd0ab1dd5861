//! Send and receive buffers: a bounded ring of bytes, and sets of sequence ranges: the
//! out-of-order data of the receive side (which yields the SACK blocks of RFC 2018) and, on the
//! send side, the ranges the peer has SACKed (the scoreboard of RFC 6675).
//!
//! Storage is allocated when the first byte arrives and can be given back once the ring is empty,
//! so an idle connection holds no buffer memory.

use super::seq::Seq;

/// A byte ring with a fixed capacity.
#[derive(Debug, Default)]
pub struct Ring {
    buf: Vec<u8>,
    head: usize,
    len: usize,
    cap: usize,
}

impl Ring {
    /// An empty ring that will hold at most `cap` bytes.
    pub fn new(cap: usize) -> Self {
        Ring {
            buf: Vec::new(),
            head: 0,
            len: 0,
            cap: cap.max(1),
        }
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room left.
    pub fn free(&self) -> usize {
        self.cap - self.len
    }

    /// Capacity.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Bytes of storage allocated now.
    pub fn allocated(&self) -> usize {
        self.buf.capacity()
    }

    fn storage(&mut self) {
        if self.buf.is_empty() {
            self.buf = vec![0; self.cap];
            self.head = 0;
        }
    }

    /// Appends as much of `data` as fits; returns how much.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        if n == 0 {
            return 0;
        }
        let at = self.len;
        self.write_at(at, data.get(..n).unwrap_or_default());
        self.len += n;
        n
    }

    /// Writes `data` at `offset` bytes past the head without changing the length (for
    /// out-of-order data); what would pass the capacity is cut. Returns bytes written.
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> usize {
        if offset >= self.cap {
            return 0;
        }
        let n = data.len().min(self.cap - offset);
        if n == 0 {
            return 0;
        }
        self.storage();
        let start = (self.head + offset) % self.cap;
        let first = n.min(self.cap - start);
        if let (Some(dst), Some(src)) = (self.buf.get_mut(start..start + first), data.get(..first))
        {
            dst.copy_from_slice(src);
        }
        if let (Some(dst), Some(src)) = (self.buf.get_mut(..n - first), data.get(first..n)) {
            dst.copy_from_slice(src);
        }
        n
    }

    /// Counts `n` more bytes as held (after `write_at` filled them).
    pub fn commit(&mut self, n: usize) {
        self.len = (self.len + n).min(self.cap);
    }

    /// The bytes at `offset..offset + len` (clamped to what is held), in at most two pieces.
    pub fn peek(&self, offset: usize, len: usize) -> [&[u8]; 2] {
        if offset >= self.len || self.buf.is_empty() {
            return [&[], &[]];
        }
        let len = len.min(self.len - offset);
        let start = (self.head + offset) % self.cap;
        let first = len.min(self.cap - start);
        [
            self.buf.get(start..start + first).unwrap_or_default(),
            self.buf.get(..len - first).unwrap_or_default(),
        ]
    }

    /// Drops `n` bytes from the front.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        self.head = (self.head + n) % self.cap;
        self.len -= n;
    }

    /// Gives the storage back when nothing is held. The caller knows whether data written
    /// ahead with `write_at` is still wanted; this does not.
    pub fn shrink_if_empty(&mut self) {
        if self.len == 0 {
            self.buf = Vec::new();
            self.head = 0;
        }
    }

    /// Copies up to `out.len()` bytes from the front into `out` and drops them.
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let [a, b] = self.peek(0, out.len());
        let (na, nb) = (a.len(), b.len());
        if let Some(dst) = out.get_mut(..na) {
            dst.copy_from_slice(a);
        }
        if let Some(dst) = out.get_mut(na..na + nb) {
            dst.copy_from_slice(b);
        }
        self.consume(na + nb);
        na + nb
    }
}

/// Out-of-order ranges received beyond RCV.NXT, newest first for SACK.
#[derive(Debug, Default)]
pub struct Assembler {
    /// Sorted, non-overlapping `[start, end)` ranges.
    ranges: Vec<(Seq, Seq)>,
    /// The range most recently added to, reported first in SACK (RFC 2018 4).
    recent: Option<Seq>,
}

/// Most out-of-order ranges kept; a segment that would need more is dropped (and resent).
pub const MAX_RANGES: usize = 32;

impl Assembler {
    /// Records `[start, end)`. Returns false when it would need too many ranges.
    pub fn insert(&mut self, start: Seq, end: Seq) -> bool {
        if start >= end {
            return true;
        }
        let mut merged = (start, end);
        let mut out: Vec<(Seq, Seq)> = Vec::with_capacity(self.ranges.len() + 1);
        let mut placed = false;
        for &(s, e) in &self.ranges {
            if e < merged.0 {
                out.push((s, e));
            } else if merged.1 < s {
                if !placed {
                    out.push(merged);
                    placed = true;
                }
                out.push((s, e));
            } else {
                merged = (s.min(merged.0), e.max(merged.1));
            }
        }
        if !placed {
            out.push(merged);
        }
        if out.len() > MAX_RANGES {
            return false;
        }
        out.sort_by(|a, b| a.0.diff(b.0).cmp(&0));
        self.ranges = out;
        self.recent = Some(merged.0);
        true
    }

    /// If data now continues from `rcv_nxt`, removes that range and returns its end.
    pub fn take_contiguous(&mut self, rcv_nxt: Seq) -> Option<Seq> {
        // Drop what is entirely behind rcv_nxt, then look at the first range.
        self.ranges.retain(|&(_, e)| e > rcv_nxt);
        let &(s, e) = self.ranges.first()?;
        if s <= rcv_nxt {
            self.ranges.remove(0);
            if self.recent == Some(s) {
                self.recent = None;
            }
            Some(e)
        } else {
            None
        }
    }

    /// True when no out-of-order data is held.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The ranges, lowest first.
    pub fn ranges(&self) -> &[(Seq, Seq)] {
        &self.ranges
    }

    /// Forgets everything below `seq` (cutting a range that straddles it).
    pub fn remove_below(&mut self, seq: Seq) {
        self.ranges.retain(|&(_, e)| e > seq);
        if let Some(first) = self.ranges.first_mut() {
            first.0 = first.0.max(seq);
        }
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.ranges.clear();
        self.recent = None;
    }

    /// Bytes covered by all ranges.
    pub fn covered(&self) -> usize {
        self.ranges.iter().map(|&(s, e)| e.since(s)).sum()
    }

    /// Ranges held.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// SACK blocks: the most recently changed range first, then the others, highest first.
    pub fn sack_blocks(&self, max: usize) -> impl Iterator<Item = (Seq, Seq)> + '_ {
        let first = self
            .recent
            .and_then(|r| self.ranges.iter().find(|x| x.0 == r).copied());
        let rest = self
            .ranges
            .iter()
            .rev()
            .filter(move |x| Some(**x) != first)
            .copied();
        first.into_iter().chain(rest).take(max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_wraps_and_frees() {
        let mut r = Ring::new(8);
        assert_eq!(r.allocated(), 0);
        assert_eq!(r.push(b"abcdef"), 6);
        assert_eq!(r.push(b"ghij"), 2, "only 2 fit");
        let mut out = [0u8; 4];
        assert_eq!(r.read(&mut out), 4);
        assert_eq!(&out, b"abcd");
        assert_eq!(r.push(b"klmn"), 4);
        assert_eq!(r.peek(0, 8), [&b"efgh"[..], &b"klmn"[..]]);
        assert_eq!(r.peek(6, 8), [&b"mn"[..], &b""[..]]);
        let mut out = [0u8; 8];
        assert_eq!(r.read(&mut out), 8);
        assert_eq!(&out, b"efghklmn");
        assert_eq!(r.allocated(), 8, "kept until asked");
        r.shrink_if_empty();
        assert_eq!(r.allocated(), 0, "storage given back when empty");
    }

    #[test]
    fn ring_out_of_order_write() {
        let mut r = Ring::new(8);
        assert_eq!(r.write_at(4, b"efgh"), 4);
        assert_eq!(r.write_at(6, b"xyz"), 2, "cut at capacity");
        assert_eq!(r.len(), 0);
        assert_eq!(r.push(b"abcd"), 4);
        r.commit(4);
        let mut out = [0u8; 8];
        assert_eq!(r.read(&mut out), 8);
        assert_eq!(&out, b"abcdefxy");
    }

    #[test]
    fn assembler_merges_and_reports_sack() {
        let mut a = Assembler::default();
        assert!(a.insert(Seq(20), Seq(30)));
        assert!(a.insert(Seq(40), Seq(50)));
        assert!(a.insert(Seq(30), Seq(35)));
        assert_eq!(a.len(), 2);
        assert_eq!(
            a.sack_blocks(4).collect::<Vec<_>>(),
            [(Seq(20), Seq(35)), (Seq(40), Seq(50))]
        );
        assert_eq!(a.take_contiguous(Seq(10)), None);
        assert_eq!(a.take_contiguous(Seq(20)), Some(Seq(35)));
        assert_eq!(a.take_contiguous(Seq(35)), None);
        assert!(a.insert(Seq(35), Seq(40)));
        assert_eq!(a.take_contiguous(Seq(35)), Some(Seq(50)));
        assert!(a.is_empty());
    }

    #[test]
    fn assembler_is_bounded() {
        let mut a = Assembler::default();
        for i in 0..MAX_RANGES as u32 {
            assert!(a.insert(Seq(i * 10), Seq(i * 10 + 5)));
        }
        assert!(!a.insert(Seq(1000), Seq(1005)));
        assert!(a.insert(Seq(5), Seq(10)), "merging needs no new range");
    }

    #[test]
    fn assembler_across_wrap() {
        let mut a = Assembler::default();
        let base = Seq(u32::MAX - 5);
        assert!(a.insert(base + 10, base + 20));
        assert!(a.insert(base + 2, base + 8));
        assert_eq!(a.take_contiguous(base), None);
        assert_eq!(a.take_contiguous(base + 2), Some(base + 8));
    }
}
