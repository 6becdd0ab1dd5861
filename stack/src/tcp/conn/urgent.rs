//! Urgent data (RFC 9293 3.8.5, MUST-30..33 and MUST-62; RFC 6093): the urgent pointer names
//! the octet following the urgent data, in sequence space. Received, it moves the urgent mark,
//! RCV.UP, which the application asks for ([`Connection::urgent_mark`]: how many bytes before
//! the mark remain to be read); the data itself stays in line, as RFC 6093 recommends.
//! Sent ([`Connection::send_urgent`]), it sets SND.UP after the data, and every segment sent
//! while SND.UP lies beyond its sequence number carries URG and the pointer.

use super::{Connection, State};
use crate::tcp::segment::Flags;
use crate::tcp::seq::Seq;

/// The urgent pointers of a connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Urgent {
    /// RCV.UP: the octet following the urgent data received, while it is ahead of the reader.
    rcv_up: Option<Seq>,
    /// SND.UP: the octet following the urgent data to send, until it is acknowledged.
    snd_up: Option<Seq>,
}

impl Connection {
    /// "sixth, check the URG bit" (RFC 9293 3.10.7.4): in ESTABLISHED and FIN-WAIT-1/2, RCV.UP
    /// becomes max(RCV.UP, SEG.UP) and the application learns of it through
    /// [`Connection::urgent_mark`] (MUST-31). A zero pointer marks nothing.
    pub(super) fn on_urgent(&mut self, seq: Seq, pointer: u16) {
        if pointer == 0
            || !matches!(
                self.state,
                State::Established | State::FinWait1 | State::FinWait2
            )
        {
            return;
        }
        let up = seq + usize::from(pointer);
        // Only a pointer into what the window could hold (a forged one far ahead means nothing).
        if up.since(self.read_seq()) > self.rx.capacity() + usize::from(u16::MAX) {
            return;
        }
        if self.urgent.rcv_up.is_none_or(|old| up > old) && up > self.read_seq() {
            self.urgent.rcv_up = Some(up);
            self.counters.urgent_received += 1;
        }
    }

    /// The sequence number of the next byte the application will read.
    fn read_seq(&self) -> Seq {
        let fin = usize::from(self.rcv.fin_received);
        Seq(self.rcv.nxt.0.wrapping_sub((self.rx.len() + fin) as u32))
    }

    /// The urgent mark (MUST-32): `Some(n)` while urgent data is pending, `n` being how many
    /// bytes the application still has to read to reach the end of the urgent data (the last
    /// urgent byte is the `n`th; some of them may not have arrived yet). `None` when no urgent
    /// data is pending.
    pub fn urgent_mark(&self) -> Option<usize> {
        let up = self.urgent.rcv_up?;
        let read = self.read_seq();
        (up > read).then(|| up.since(read))
    }

    /// True while urgent data is pending (MUST-31: the application can ask at any time).
    pub fn urgent_pending(&self) -> bool {
        self.urgent_mark().is_some()
    }

    /// Queues `data` as urgent (MUST-30): SND.UP is set after its last byte, so the segments that
    /// carry it, and those before it, tell the peer. Returns how much fit; the pointer follows
    /// what fit.
    pub fn send_urgent(&mut self, data: &[u8]) -> usize {
        let n = self.send(data);
        if n > 0 {
            self.urgent.snd_up = Some(self.tx_base + self.tx.len());
        }
        n
    }

    /// The urgent pointer of a segment starting at `seq` (RFC 9293 3.8.5: while SND.UP >
    /// SEG.SEQ), at most 65535 ahead (RFC 6093 4); forgets SND.UP once it is acknowledged.
    pub(super) fn urgent_pointer(&mut self, seq: Seq, flags: Flags) -> Option<u16> {
        let up = self.urgent.snd_up?;
        if up <= self.snd.una {
            self.urgent.snd_up = None;
            return None;
        }
        if flags.syn || flags.rst || up <= seq {
            return None;
        }
        Some(up.since(seq).min(usize::from(u16::MAX)) as u16)
    }
}
