//! Small TCP services for throughput and integrity tests: echo (RFC 862), discard (RFC 863) and
//! character generator (RFC 864).

use crate::iface::Interface;
use crate::services::Service;
use crate::tcp::{self, SocketError};
use crate::time::Instant;

/// Well-known ports.
pub const ECHO_PORT: u16 = 7;
/// Discard.
pub const DISCARD_PORT: u16 = 9;
/// Character generator.
pub const CHARGEN_PORT: u16 = 19;

/// What a server does with a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Send back everything received.
    Echo,
    /// Read and drop everything.
    Discard,
    /// Send the RFC 864 character pattern until the peer closes.
    Chargen,
}

#[derive(Debug)]
struct Conn {
    handle: tcp::Handle,
    /// Chargen: position in the pattern.
    offset: usize,
    /// Echo: bytes read that the send buffer did not take (the TCP memory budget may grant
    /// less than the room it showed); they go out before anything more is read.
    unsent: Vec<u8>,
}

/// A TCP server of one [`Kind`].
#[derive(Debug)]
pub struct Server {
    kind: Kind,
    listener: tcp::ListenHandle,
    conns: Vec<Conn>,
    max_conns: usize,
    buf: Vec<u8>,
    pattern: Vec<u8>,
    served: u64,
}

/// The RFC 864 pattern: 72 printable characters a line, each line starting one character later.
fn chargen_pattern() -> Vec<u8> {
    let chars: Vec<u8> = (b' '..=b'~').collect();
    let mut out = Vec::with_capacity(chars.len() * 74);
    for line in 0..chars.len() {
        for i in 0..72 {
            out.push(chars[(line + i) % chars.len()]);
        }
        out.extend_from_slice(b"\r\n");
    }
    out
}

impl Server {
    /// Listens on `port`.
    ///
    /// # Errors
    /// [`tcp::ListenError`] when the port has a listener.
    pub fn listen(
        iface: &mut Interface,
        kind: Kind,
        port: u16,
        max_conns: usize,
    ) -> Result<Self, tcp::ListenError> {
        let listener = iface.tcp_listen(port, 128)?;
        let pattern = if kind == Kind::Chargen {
            chargen_pattern()
        } else {
            Vec::new()
        };
        Ok(Server {
            kind,
            listener,
            conns: Vec::new(),
            max_conns,
            buf: vec![0; 64 * 1024],
            pattern,
            served: 0,
        })
    }

    /// Connections served so far.
    pub fn served(&self) -> u64 {
        self.served
    }

    /// Runs one connection; returns false when it is finished.
    fn run(&mut self, iface: &mut Interface, idx: usize) -> bool {
        let Some(c) = self.conns.get_mut(idx) else {
            return false;
        };
        let h = c.handle;
        match self.kind {
            Kind::Echo => loop {
                if !c.unsent.is_empty() {
                    match iface.tcp_send(h, &c.unsent) {
                        Ok(n) => {
                            c.unsent.drain(..n.min(c.unsent.len()));
                        }
                        Err(_) => {
                            iface.tcp_close(h);
                            return false;
                        }
                    }
                    if !c.unsent.is_empty() {
                        return true;
                    }
                    c.unsent = Vec::new();
                }
                let room = iface
                    .tcp_connection(h)
                    .map_or(0, tcp::Connection::send_capacity);
                // Urgent data comes back urgent: read up to the urgent mark, and send what
                // reaches it with the urgent pointer (RFC 9293 3.8.5).
                let mark = iface.tcp_urgent_mark(h);
                let want = room.min(self.buf.len()).min(mark.unwrap_or(usize::MAX));
                if want == 0 {
                    return true;
                }
                match iface.tcp_recv(h, self.buf.get_mut(..want).unwrap_or_default()) {
                    Ok(0) => return true,
                    Ok(n) => {
                        let data = self.buf.get(..n).unwrap_or_default();
                        let sent = if mark == Some(n) {
                            iface.tcp_send_urgent(h, data)
                        } else {
                            iface.tcp_send(h, data)
                        };
                        let sent = match sent {
                            Ok(sent) => sent,
                            Err(_) => {
                                iface.tcp_close(h);
                                return false;
                            }
                        };
                        if let Some(rest) = data.get(sent..).filter(|r| !r.is_empty()) {
                            c.unsent.extend_from_slice(rest);
                            return true;
                        }
                    }
                    Err(SocketError::Closed) => {
                        iface.tcp_close(h);
                        return false;
                    }
                    Err(_) => {
                        iface.tcp_close(h);
                        return false;
                    }
                }
            },
            Kind::Discard => loop {
                match iface.tcp_recv(h, &mut self.buf) {
                    Ok(0) => return true,
                    Ok(_) => {}
                    Err(_) => {
                        iface.tcp_close(h);
                        return false;
                    }
                }
            },
            Kind::Chargen => {
                // Input is read and dropped (RFC 864); the peer ends the stream by closing.
                loop {
                    match iface.tcp_recv(h, &mut self.buf) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(_) => {
                            iface.tcp_close(h);
                            return false;
                        }
                    }
                }
                let len = self.pattern.len();
                loop {
                    let start = c.offset % len;
                    let chunk = self.pattern.get(start..).unwrap_or_default();
                    match iface.tcp_send(h, chunk) {
                        Ok(0) => return true,
                        Ok(n) => c.offset = (start + n) % len,
                        Err(_) => {
                            iface.tcp_close(h);
                            return false;
                        }
                    }
                }
            }
        }
    }
}

impl Service for Server {
    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Echo => "tcp-echo",
            Kind::Discard => "tcp-discard",
            Kind::Chargen => "tcp-chargen",
        }
    }

    fn poll(&mut self, _now: Instant, iface: &mut Interface) {
        while self.conns.len() < self.max_conns {
            let Some(handle) = iface.tcp_accept(self.listener) else {
                break;
            };
            self.served += 1;
            self.conns.push(Conn {
                handle,
                offset: 0,
                unsent: Vec::new(),
            });
        }
        let mut i = 0;
        while i < self.conns.len() {
            if self.run(iface, i) {
                i += 1;
            } else {
                self.conns.swap_remove(i);
            }
        }
    }
}
