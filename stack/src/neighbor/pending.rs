//! Packets waiting for their next hop to be resolved, bounded in count and bytes.

use std::collections::VecDeque;

/// A packet that can wait for resolution.
pub trait Queued {
    /// The protocol address of the neighbour being resolved.
    type Addr: Copy + PartialEq;

    /// The neighbour the packet waits for.
    fn next_hop(&self) -> Self::Addr;

    /// Bytes it holds, counted against the byte bound.
    fn size(&self) -> usize;
}

/// The queue of packets waiting for resolution, bounded in packets and bytes.
#[derive(Clone, Debug)]
pub struct Pending<P> {
    items: VecDeque<P>,
    bytes: usize,
    max_packets: usize,
    max_bytes: usize,
}

impl<P: Queued> Pending<P> {
    /// An empty queue with the given bounds.
    pub fn new(max_packets: usize, max_bytes: usize) -> Self {
        Pending {
            items: VecDeque::new(),
            bytes: 0,
            max_packets,
            max_bytes,
        }
    }

    /// Queues a packet. Returns it back when the queue is full (what ARP does).
    ///
    /// # Errors
    /// The packet itself when it does not fit.
    pub fn push(&mut self, p: P) -> Result<(), P> {
        if self.items.len() >= self.max_packets || self.bytes + p.size() > self.max_bytes {
            return Err(p);
        }
        self.bytes += p.size();
        self.items.push_back(p);
        Ok(())
    }

    /// Queues a packet; the oldest ones go when the queue is full (RFC 4861 7.2.2: "the oldest
    /// entries SHOULD be discarded"). Returns how many were dropped, 1 for a packet that never
    /// fits.
    pub fn push_replacing_oldest(&mut self, p: P) -> usize {
        if p.size() > self.max_bytes {
            return 1;
        }
        let mut dropped = 0;
        while self.items.len() >= self.max_packets || self.bytes + p.size() > self.max_bytes {
            let Some(old) = self.items.pop_front() else {
                break;
            };
            self.bytes -= old.size();
            dropped += 1;
        }
        self.bytes += p.size();
        self.items.push_back(p);
        dropped
    }

    /// Takes every packet waiting for `next_hop`, in the order they were queued.
    pub fn take_for(&mut self, next_hop: P::Addr) -> Vec<P> {
        let mut out = Vec::new();
        let mut keep = VecDeque::with_capacity(self.items.len());
        for p in self.items.drain(..) {
            if p.next_hop() == next_hop {
                self.bytes -= p.size();
                out.push(p);
            } else {
                keep.push_back(p);
            }
        }
        self.items = keep;
        out
    }

    /// Packets queued.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Packet(u8, usize);

    impl Queued for Packet {
        type Addr = u8;
        fn next_hop(&self) -> u8 {
            self.0
        }
        fn size(&self) -> usize {
            self.1
        }
    }

    #[test]
    fn refusing_keeps_what_is_queued() {
        let mut q = Pending::new(2, 25);
        assert!(q.push(Packet(1, 10)).is_ok());
        assert_eq!(q.push(Packet(1, 20)), Err(Packet(1, 20)), "byte bound");
        assert!(q.push(Packet(2, 10)).is_ok());
        assert_eq!(q.push(Packet(1, 1)), Err(Packet(1, 1)), "count bound");
        assert_eq!(q.take_for(1), [Packet(1, 10)]);
        assert_eq!((q.len(), q.bytes()), (1, 10));
    }

    #[test]
    fn replacing_drops_the_oldest() {
        let mut q = Pending::new(2, 100);
        assert_eq!(q.push_replacing_oldest(Packet(1, 10)), 0);
        assert_eq!(q.push_replacing_oldest(Packet(2, 10)), 0);
        assert_eq!(q.push_replacing_oldest(Packet(1, 20)), 1);
        assert_eq!(q.take_for(1), [Packet(1, 20)]);
        assert_eq!(q.take_for(2), [Packet(2, 10)]);
        assert_eq!(q.push_replacing_oldest(Packet(1, 101)), 1, "never fits");
        assert!(q.is_empty());
        assert_eq!(q.bytes(), 0);
    }
}
