//! Send and receive buffers: a bounded ring of bytes, and sets of sequence ranges: the
//! out-of-order data of the receive side (which yields the SACK blocks of RFC 2018) and, on the
//! send side, the ranges the peer has SACKed (the scoreboard of RFC 6675).
//!
//! Storage grows on demand: a ring starts with none, takes [`FIRST_STORAGE`] bytes with its first
//! byte and doubles as data needs room, up to its capacity and to the limit the TCP memory
//! budget sets (see [`super::memory`]). It can be given back once the ring is empty, so an idle
//! connection holds no buffer memory.

use super::seq::Seq;

/// Storage a ring takes with its first byte; it doubles from there as data needs room.
pub const FIRST_STORAGE: usize = 4096;

/// A byte ring with a fixed capacity and storage that grows on demand.
///
/// Sizes are kept as `u32` (a ring holds at most 4 GiB; a TCP window is at most 1 GiB) and the
/// storage as a boxed slice, so that an idle ring costs 32 bytes.
#[derive(Debug, Default)]
pub struct Ring {
    /// The storage: its length is the ring's modulus, at most `cap`.
    buf: Box<[u8]>,
    head: u32,
    len: u32,
    cap: u32,
    /// Most storage the ring may take now (the memory budget's word); storage already taken
    /// is kept even when the limit falls below it.
    limit: u32,
}

/// `n` as a ring size (saturating at 4 GiB).
fn size32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Ring {
    /// An empty ring that will hold at most `cap` bytes.
    pub fn new(cap: usize) -> Self {
        let cap = size32(cap.max(1));
        Ring {
            buf: Box::default(),
            head: 0,
            len: 0,
            cap,
            limit: cap,
        }
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room left: up to the capacity, or to the storage the limit allows if that is less.
    pub fn free(&self) -> usize {
        self.room().saturating_sub(self.len())
    }

    /// Capacity.
    pub fn capacity(&self) -> usize {
        self.cap as usize
    }

    /// Bytes of storage allocated now.
    pub fn allocated(&self) -> usize {
        self.buf.len()
    }

    /// Sets the most storage the ring may take from now on.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = size32(limit);
    }

    fn head(&self) -> usize {
        self.head as usize
    }

    /// Bytes the ring may hold now: its capacity, cut to its storage limit (but never below
    /// the storage it has).
    fn room(&self) -> usize {
        self.capacity()
            .min((self.limit as usize).max(self.buf.len()))
    }

    /// Makes the storage at least `need` bytes (doubling, within the room); returns its size.
    /// The bytes keep their offsets from the head.
    fn grow(&mut self, need: usize) -> usize {
        let size = self.buf.len();
        if need <= size {
            return size;
        }
        let target = need
            .max(size.saturating_mul(2))
            .max(FIRST_STORAGE)
            .min(self.room());
        if target <= size {
            return size;
        }
        self.relocate(target, size);
        target
    }

    /// Moves the first `keep` bytes from the head (in ring order) into new storage of `size`
    /// bytes, with the head at 0.
    fn relocate(&mut self, size: usize, keep: usize) {
        let mut new = Vec::with_capacity(size);
        if !self.buf.is_empty() {
            let (front, back) = self.buf.split_at(self.head().min(self.buf.len()));
            let from_back = back.len().min(keep);
            new.extend_from_slice(back.get(..from_back).unwrap_or_default());
            new.extend_from_slice(front.get(..keep - from_back).unwrap_or_default());
        }
        new.resize(size, 0);
        self.buf = new.into_boxed_slice();
        self.head = 0;
    }

    /// Appends as much of `data` as fits; returns how much.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        if n == 0 {
            return 0;
        }
        let at = self.len();
        let n = self.write_at(at, data.get(..n).unwrap_or_default());
        self.len = size32(self.len() + n);
        n
    }

    /// Writes `data` at `offset` bytes past the head without changing the length (for
    /// out-of-order data); what would pass the room is cut. Returns bytes written.
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> usize {
        let room = self.room();
        if offset >= room {
            return 0;
        }
        let n = data.len().min(room - offset);
        if n == 0 {
            return 0;
        }
        let size = self.grow(offset + n);
        let n = n.min(size.saturating_sub(offset));
        if n == 0 {
            return 0;
        }
        let start = (self.head() + offset) % size;
        let first = n.min(size - start);
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
        self.len = size32((self.len() + n).min(self.buf.len()));
    }

    /// The bytes at `offset..offset + len` (clamped to what is held), in at most two pieces.
    pub fn peek(&self, offset: usize, len: usize) -> [&[u8]; 2] {
        let size = self.buf.len();
        if offset >= self.len() || size == 0 {
            return [&[], &[]];
        }
        let len = len.min(self.len() - offset);
        let start = (self.head() + offset) % size;
        let first = len.min(size - start);
        [
            self.buf.get(start..start + first).unwrap_or_default(),
            self.buf.get(..len - first).unwrap_or_default(),
        ]
    }

    /// Drops `n` bytes from the front.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len());
        if n == 0 {
            return;
        }
        self.head = size32((self.head() + n) % self.buf.len().max(1));
        self.len = size32(self.len() - n);
    }

    /// Gives the storage back when nothing is held. The caller knows whether data written
    /// ahead with `write_at` is still wanted; this does not.
    pub fn shrink_if_empty(&mut self) {
        if self.len == 0 {
            self.buf = Box::default();
            self.head = 0;
        }
    }

    /// Gives back the storage beyond what the held bytes need (data written ahead with
    /// `write_at` is lost). Returns the bytes of storage given back.
    pub fn shrink_to_held(&mut self) -> usize {
        let before = self.allocated();
        if self.len == 0 {
            self.shrink_if_empty();
        } else {
            let size = self
                .len()
                .next_power_of_two()
                .max(FIRST_STORAGE)
                .min(self.capacity());
            if size < self.buf.len() {
                self.relocate(size, self.len());
            }
        }
        before.saturating_sub(self.allocated())
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
    fn ring_storage_grows_on_demand_and_keeps_its_bytes() {
        let mut r = Ring::new(64 * 1024);
        assert_eq!(r.allocated(), 0);
        assert_eq!(r.push(b"ab"), 2);
        assert_eq!(
            r.allocated(),
            FIRST_STORAGE,
            "the first byte takes a small piece"
        );
        // Wrap the head, then grow past the first piece: the bytes keep their order.
        let mut out = [0u8; 2];
        r.read(&mut out);
        let data: Vec<u8> = (0..FIRST_STORAGE as u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(r.push(&data), FIRST_STORAGE);
        assert_eq!(r.allocated(), FIRST_STORAGE);
        assert_eq!(r.push(b"xyz"), 3);
        assert_eq!(r.allocated(), 2 * FIRST_STORAGE, "doubled");
        let mut all = vec![0u8; FIRST_STORAGE + 3];
        assert_eq!(r.read(&mut all), FIRST_STORAGE + 3);
        assert_eq!(&all[..FIRST_STORAGE], &data[..]);
        assert_eq!(&all[FIRST_STORAGE..], b"xyz");
    }

    #[test]
    fn ring_storage_keeps_to_its_limit() {
        let mut r = Ring::new(64 * 1024);
        r.set_limit(10_000);
        assert_eq!(r.free(), 10_000);
        let data = vec![7u8; 20_000];
        assert_eq!(r.push(&data), 10_000, "cut at the limit");
        assert_eq!(r.allocated(), 10_000);
        // Out-of-order data too.
        let mut r2 = Ring::new(64 * 1024);
        r2.set_limit(6000);
        assert_eq!(r2.write_at(5000, &data), 1000);
        assert_eq!(r2.allocated(), 6000);
        // A lower limit does not take storage away; a higher one lets it grow again.
        r.set_limit(100);
        assert_eq!(r.allocated(), 10_000);
        assert_eq!(r.free(), 0);
        let mut out = vec![0u8; 4000];
        r.read(&mut out);
        assert_eq!(r.free(), 4000, "room within the storage held");
        r.set_limit(64 * 1024);
        assert_eq!(r.push(&data), 20_000);
        assert_eq!(r.allocated(), 26_000, "what is needed, at least double");
    }

    #[test]
    fn ring_gives_back_storage_beyond_what_it_holds() {
        let mut r = Ring::new(64 * 1024);
        assert_eq!(r.push(&[1; 100]), 100);
        assert_eq!(r.write_at(40_000, &[2; 1000]), 1000);
        assert_eq!(r.allocated(), 41_000);
        assert_eq!(r.shrink_to_held(), 41_000 - FIRST_STORAGE);
        assert_eq!(r.allocated(), FIRST_STORAGE);
        let mut out = [0u8; 200];
        assert_eq!(r.read(&mut out), 100);
        assert_eq!(&out[..100], &[1; 100][..]);
        assert_eq!(r.shrink_to_held(), FIRST_STORAGE);
        assert_eq!(r.allocated(), 0);
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
