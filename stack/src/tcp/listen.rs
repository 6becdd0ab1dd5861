//! Listeners (RFC 9293 3.10.7.2, LISTEN): a SYN makes a half-open connection counted against the
//! listener's backlog until it is established and queued for `accept`; a full backlog answers
//! with a SYN cookie (RFC 4987) when allowed. Segments no connection or listener takes are
//! answered with a RST (RFC 9293 3.10.7.1, CLOSED).

use core::net::SocketAddr;
use std::collections::VecDeque;

use super::cookie::Isn;
use super::{
    segment, Connection, Handle, Instant, ListenError, ListenHandle, Listener, Outcome, Reset, Seq,
    Sockets, State,
};

impl Sockets {
    /// Opens a listener on `port` with room for `backlog` connections not yet accepted.
    ///
    /// # Errors
    /// [`ListenError`] when the port has a listener.
    pub fn listen(&mut self, port: u16, backlog: usize) -> Result<ListenHandle, ListenError> {
        if port == 0 {
            return Err(ListenError::Unaddressable);
        }
        if self.listeners.contains_key(&port) {
            return Err(ListenError::PortInUse(port));
        }
        self.generation = self.generation.wrapping_add(1);
        let generation = self.generation;
        self.listeners.insert(
            port,
            Listener {
                generation,
                backlog: backlog.max(1),
                queue: VecDeque::new(),
                half_open: 0,
                last_cookie: None,
            },
        );
        Ok(ListenHandle { port, generation })
    }

    /// The listeners: port, connections waiting for `accept`, and backlog; by port.
    pub fn listeners(&self) -> impl Iterator<Item = (u16, usize, usize)> + '_ {
        self.listeners
            .iter()
            .map(|(port, l)| (*port, l.queue.len(), l.backlog))
    }

    /// Takes the oldest established connection from a listener's queue.
    pub fn accept(&mut self, l: ListenHandle) -> Option<Handle> {
        let listener = self
            .listeners
            .get_mut(&l.port)
            .filter(|x| x.generation == l.generation)?;
        let index = listener.queue.pop_front()?;
        let slot = self.slots.get_mut(index)?.as_mut()?;
        slot.listener = None;
        slot.released = false;
        Some(Handle {
            index: index as u32,
            generation: slot.generation,
        })
    }

    /// Closes a listener; connections not yet accepted are reset.
    pub fn unlisten(&mut self, l: ListenHandle) {
        let Some(listener) = self
            .listeners
            .get(&l.port)
            .filter(|x| x.generation == l.generation)
        else {
            return;
        };
        let _ = listener;
        self.listeners.remove(&l.port);
        let orphans: Vec<usize> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().filter(|s| s.listener == Some(l.port)).map(|_| i))
            .collect();
        for i in orphans {
            if let Some(slot) = self.slots.get_mut(i).and_then(Option::as_mut) {
                slot.released = true;
                if let Some(rst) = slot.conn.abort() {
                    let (local, remote) = (slot.conn.local(), slot.conn.remote());
                    self.queue_reset(local, remote, rst);
                }
            }
            self.after_change(i, Instant::ZERO);
        }
    }

    /// A segment no connection matches: a listener's, or one to answer with RST.
    pub(super) fn on_segment_unmatched(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &segment::Repr,
        payload: &[u8],
    ) -> Outcome {
        let f = seg.flags;
        // A TIME-WAIT connection makes room if need be (see `insert`).
        let table_full = !self.has_room();
        if let Some(listener) = self.listeners.get(&local.port()) {
            // RFC 9293 3.10.7.2 LISTEN: ignore RST, answer ACK with RST, accept SYN.
            if f.rst {
                return Outcome::Ignored;
            }
            let backlog_full = listener.queue.len() + listener.half_open >= listener.backlog;
            let accept_room = listener.queue.len() < listener.backlog;
            if f.ack {
                // Perhaps the ACK of a SYN cookie (RFC 4987 3.6).
                if self.config.syn_cookies && !f.syn {
                    if let Some(cookie) = self.check_cookie(now, local, remote, seg) {
                        if table_full || !accept_room {
                            // Valid, but no room: drop it; the peer's retransmission (or its
                            // data) will carry the cookie again (as Linux does).
                            self.counters.backlog_drops += 1;
                            return Outcome::BacklogFull;
                        }
                        let iss = Seq(seg.ack.0.wrapping_sub(1));
                        let irs = Seq(seg.seq.0.wrapping_sub(1));
                        let conn = Connection::from_cookie(
                            local,
                            remote,
                            iss,
                            irs,
                            &cookie.options,
                            cookie.ts_offset,
                            self.params(&local),
                        );
                        self.counters.syn_cookies_accepted += 1;
                        self.counters.passive_opens += 1;
                        let index = self.insert(conn, Some(local.port()), now);
                        return self.on_segment_at(index, now, seg, payload);
                    }
                    self.counters.syn_cookies_rejected += 1;
                }
                self.queue_reset(
                    local,
                    remote,
                    Reset {
                        seq: seg.ack,
                        ack: None,
                    },
                );
                return Outcome::Ignored;
            }
            if !f.syn {
                return Outcome::Ignored;
            }
            if backlog_full {
                if self.config.syn_cookies && !table_full {
                    self.send_cookie(now, local, remote, seg);
                    return Outcome::Handled;
                }
                self.counters.backlog_drops += 1;
                return Outcome::BacklogFull;
            }
            if table_full {
                return Outcome::TableFull;
            }
            let Isn { iss, ts_offset } = self.isn(now, local, remote);
            let conn =
                Connection::accept(now, local, remote, iss, ts_offset, seg, self.params(&local));
            self.counters.passive_opens += 1;
            self.insert(conn, Some(local.port()), now);
            return Outcome::Handled;
        }
        // RFC 9293 3.10.7.1 CLOSED: "If the state is CLOSED ... a reset is sent in response to
        // any incoming segment except another reset."
        if f.rst {
            return Outcome::Ignored;
        }
        let rst = if f.ack {
            Reset {
                seq: seg.ack,
                ack: None,
            }
        } else {
            Reset {
                seq: Seq(0),
                ack: Some(seg.seq + seg.seq_len(payload.len())),
            }
        };
        self.queue_reset(local, remote, rst);
        Outcome::NoSocket
    }

    /// A connection a listener made has left SYN-RECEIVED: it joins the accept queue, or, if it
    /// failed, frees its place in the backlog.
    pub(super) fn settle_half_open(&mut self, index: usize) {
        let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        let state = slot.conn.state();
        if !slot.half_open || state == State::SynReceived {
            return;
        }
        slot.half_open = false;
        let Some(l) = slot.listener.and_then(|port| self.listeners.get_mut(&port)) else {
            return;
        };
        l.half_open = l.half_open.saturating_sub(1);
        if state != State::Closed {
            l.queue.push_back(index);
        }
    }
}
