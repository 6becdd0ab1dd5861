//! What iperf3 puts on the wire: the control connection's state bytes, the cookie, the
//! length-prefixed JSON of the parameter and result exchanges, and the header of a UDP test
//! datagram. Read from iperf 3's behaviour (`iperf_api.h`, `iperf_udp.c`) and checked against
//! the iperf3 client Debian ships.

use serde_json::{json, Map, Value};

/// The cookie a client sends first on every connection of a test: 36 characters and a NUL.
pub const COOKIE_LEN: usize = 37;

/// The states the server announces on the control connection, one signed byte each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i8)]
pub enum State {
    /// Every stream is connected; the client starts its timers.
    TestStart = 1,
    /// Data may flow.
    TestRunning = 2,
    /// The client's test time is over (sent by the client).
    TestEnd = 4,
    /// The client is to send its parameters.
    ParamExchange = 9,
    /// The client is to open its data streams.
    CreateStreams = 10,
    /// The client gave up (sent by the client).
    ClientTerminate = 12,
    /// Results are exchanged: the client's first, then the server's.
    ExchangeResults = 13,
    /// The client prints the results.
    DisplayResults = 14,
    /// The client is done (sent by the client); the server closes the test.
    IperfDone = 16,
    /// Another test is running: the server is busy.
    AccessDenied = -1,
}

impl State {
    /// The byte on the wire.
    pub fn byte(self) -> u8 {
        self as i8 as u8
    }

    /// A state byte a client sends, or `None` for one it has no business sending.
    pub fn from_client(byte: u8) -> Option<State> {
        match byte {
            4 => Some(State::TestEnd),
            12 => Some(State::ClientTerminate),
            16 => Some(State::IperfDone),
            _ => None,
        }
    }
}

/// The datagram a UDP client sends to open a stream ("9876" on the wire: the value 0x36373839
/// written in the client's byte order, little endian on every machine iperf3 runs on), and the
/// older value 123456789.
pub const UDP_CONNECT: [[u8; 4]; 2] = [*b"9876", 123_456_789u32.to_le_bytes()];
/// The server's answer to [`UDP_CONNECT`] ("6789": 0x39383736 in the same order).
pub const UDP_CONNECT_REPLY: [u8; 4] = *b"6789";

/// The largest JSON object taken from a client (parameters or results).
pub const MAX_JSON: usize = 16 * 1024;
/// The most parallel streams a test may ask for.
pub const MAX_STREAMS: usize = 16;
/// The largest block (TCP write or UDP datagram) a test may ask for.
pub const MAX_BLOCK: usize = 1 << 20;

/// The protocol of a test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// TCP streams.
    Tcp,
    /// UDP streams.
    Udp,
}

/// The test a client asks for, from its parameter object.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// Streams (`-P`).
    pub parallel: usize,
    /// The server sends (`-R`).
    pub reverse: bool,
    /// Seconds of the test (`-t`), when neither bytes nor blocks bound it.
    pub time: u64,
    /// Seconds omitted at the start (`-O`): the sender runs that much longer.
    pub omit: u64,
    /// Bytes to send (`-n`), 0 for none.
    pub bytes: u64,
    /// Blocks to send (`-k`), 0 for none.
    pub blocks: u64,
    /// Bytes per write or datagram (`-l`).
    pub len: usize,
    /// Target rate in bit/s (`-b`), 0 for unlimited.
    pub bandwidth: u64,
    /// UDP packet counters are 64 bits wide.
    pub counters_64bit: bool,
}

/// Why a parameter object was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamsError {
    /// Not a JSON object.
    NotAnObject,
    /// A field has the wrong type or an impossible value.
    Field(&'static str),
    /// A mode this server does not run (bidirectional tests).
    Unsupported(&'static str),
}

impl core::fmt::Display for ParamsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ParamsError::NotAnObject => f.write_str("the parameters are not a JSON object"),
            ParamsError::Field(name) => write!(f, "parameter {name:?} is out of range"),
            ParamsError::Unsupported(what) => write!(f, "{what} tests are not supported"),
        }
    }
}

fn uint(o: &Map<String, Value>, name: &'static str, default: u64) -> Result<u64, ParamsError> {
    match o.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v.as_u64().ok_or(ParamsError::Field(name)),
    }
}

fn flag(o: &Map<String, Value>, name: &'static str) -> bool {
    match o.get(name) {
        Some(Value::Bool(b)) => *b,
        Some(v) => v.as_u64().is_some_and(|n| n != 0),
        None => false,
    }
}

impl Params {
    /// How long the sender runs when neither bytes nor blocks bound the test: the omitted
    /// seconds, then the test's own.
    pub fn length(&self) -> core::time::Duration {
        core::time::Duration::from_secs(self.time + self.omit)
    }

    /// Reads a parameter object.
    ///
    /// # Errors
    /// [`ParamsError`] for anything that is not a test this server runs within its limits.
    pub fn parse(json: &[u8]) -> Result<Params, ParamsError> {
        let value: Value = serde_json::from_slice(json).map_err(|_| ParamsError::NotAnObject)?;
        let o = value.as_object().ok_or(ParamsError::NotAnObject)?;
        if flag(o, "bidirectional") {
            return Err(ParamsError::Unsupported("bidirectional"));
        }
        let protocol = if flag(o, "udp") {
            Protocol::Udp
        } else if flag(o, "tcp") || !o.contains_key("sctp") {
            Protocol::Tcp
        } else {
            return Err(ParamsError::Unsupported("SCTP"));
        };
        let parallel = uint(o, "parallel", 1)?;
        let parallel = usize::try_from(parallel)
            .ok()
            .filter(|p| (1..=MAX_STREAMS).contains(p))
            .ok_or(ParamsError::Field("parallel"))?;
        let default_len = match protocol {
            Protocol::Tcp => 128 * 1024,
            Protocol::Udp => 1460,
        };
        let len = usize::try_from(uint(o, "len", default_len)?)
            .ok()
            .filter(|l| (16..=MAX_BLOCK).contains(l))
            .ok_or(ParamsError::Field("len"))?;
        let time = uint(o, "time", 10)?;
        let omit = uint(o, "omit", 0)?;
        // A day is more than any real test; the bound keeps deadlines far from overflow.
        if time > 86_400 || omit > 86_400 {
            return Err(ParamsError::Field("time"));
        }
        let default_rate = match protocol {
            Protocol::Tcp => 0,
            Protocol::Udp => 1_000_000,
        };
        Ok(Params {
            protocol,
            parallel,
            reverse: flag(o, "reverse"),
            time,
            omit,
            bytes: uint(o, "num", 0)?,
            blocks: uint(o, "blockcount", 0)?,
            len,
            bandwidth: uint(o, "bandwidth", default_rate)?,
            counters_64bit: flag(o, "udp_counters_64bit"),
        })
    }
}

/// One stream's figures in the server's results.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamResult {
    /// The stream's id, as the client numbers it.
    pub id: u32,
    /// Bytes sent or received.
    pub bytes: u64,
    /// Retransmissions, when the server sent over TCP.
    pub retransmits: Option<u64>,
    /// UDP receive jitter in seconds.
    pub jitter: f64,
    /// UDP datagrams lost.
    pub errors: u64,
    /// UDP datagrams sent or received.
    pub packets: u64,
    /// Seconds from the start of the test to the end of the stream.
    pub end_time: f64,
}

/// The server's results object. The CPU figures are zero: the stack does not measure its
/// process's CPU time.
pub fn results(sender_has_retransmits: bool, streams: &[StreamResult]) -> Vec<u8> {
    let streams: Vec<Value> = streams
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "bytes": s.bytes,
                "retransmits": s.retransmits.map_or(-1, |r| i64::try_from(r).unwrap_or(i64::MAX)),
                "jitter": s.jitter,
                "errors": s.errors,
                "omitted_errors": 0,
                "packets": s.packets,
                "omitted_packets": 0,
                "start_time": 0,
                "end_time": s.end_time,
            })
        })
        .collect();
    let value = json!({
        "cpu_util_total": 0,
        "cpu_util_user": 0,
        "cpu_util_system": 0,
        "sender_has_retransmits": if sender_has_retransmits { 1 } else { -1 },
        "streams": streams,
    });
    value.to_string().into_bytes()
}

/// The id iperf3 gives the stream at `index` (0-based) in the order the streams were opened:
/// 1 for the first, then 3, 4, 5, ... (iperf3 counts the first one twice).
pub fn stream_id(index: usize) -> u32 {
    let id = if index == 0 { 1 } else { index + 2 };
    u32::try_from(id).unwrap_or(u32::MAX)
}

/// The header of a UDP test datagram: send time (seconds, microseconds) and packet number,
/// all big endian; the packet number is 32 bits wide unless the client asked for 64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpHeader {
    /// Seconds of the send time.
    pub sec: u32,
    /// Microseconds of the send time.
    pub usec: u32,
    /// The packet number, from 1.
    pub count: u64,
}

impl UdpHeader {
    /// The header's length.
    pub fn len(counters_64bit: bool) -> usize {
        if counters_64bit {
            16
        } else {
            12
        }
    }

    /// Reads the header of `datagram`; `None` when it is too short.
    pub fn parse(datagram: &[u8], counters_64bit: bool) -> Option<UdpHeader> {
        let word = |at: usize| -> Option<u32> {
            let b = datagram.get(at..at + 4)?;
            Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        let count = if counters_64bit {
            u64::from(word(8)?) << 32 | u64::from(word(12)?)
        } else {
            u64::from(word(8)?)
        };
        Some(UdpHeader {
            sec: word(0)?,
            usec: word(4)?,
            count,
        })
    }

    /// Writes the header at the start of `datagram` (which is at least [`UdpHeader::len`] long).
    pub fn write(&self, datagram: &mut [u8], counters_64bit: bool) {
        let mut put = |at: usize, v: u32| {
            if let Some(b) = datagram.get_mut(at..at + 4) {
                b.copy_from_slice(&v.to_be_bytes());
            }
        };
        put(0, self.sec);
        put(4, self.usec);
        if counters_64bit {
            put(8, (self.count >> 32) as u32);
            put(12, self.count as u32);
        } else {
            put(8, self.count as u32);
        }
    }

    /// The send time in seconds.
    pub fn time(&self) -> f64 {
        f64::from(self.sec) + f64::from(self.usec) / 1e6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parameters_of_a_real_client_are_read() {
        let tcp = br#"{"tcp":true,"omit":0,"time":1,"num":0,"blockcount":0,"parallel":2,"reverse":true,"len":131072,"pacing_timer":1000,"client_version":"3.12"}"#;
        let p = Params::parse(tcp).unwrap();
        assert_eq!(p.protocol, Protocol::Tcp);
        assert_eq!(
            (p.parallel, p.reverse, p.time, p.len),
            (2, true, 1, 131_072)
        );
        let udp = br#"{"udp":true,"omit":0,"time":1,"num":0,"blockcount":0,"parallel":2,"len":32768,"bandwidth":10000000,"pacing_timer":1000,"client_version":"3.12"}"#;
        let p = Params::parse(udp).unwrap();
        assert_eq!(p.protocol, Protocol::Udp);
        assert_eq!((p.parallel, p.reverse, p.bandwidth), (2, false, 10_000_000));
    }

    #[test]
    fn impossible_or_unsupported_parameters_are_refused() {
        assert_eq!(Params::parse(b"[1]"), Err(ParamsError::NotAnObject));
        assert_eq!(Params::parse(b"{\"tcp\":tr"), Err(ParamsError::NotAnObject));
        assert_eq!(
            Params::parse(br#"{"tcp":true,"parallel":1000}"#),
            Err(ParamsError::Field("parallel"))
        );
        assert_eq!(
            Params::parse(br#"{"tcp":true,"parallel":0}"#),
            Err(ParamsError::Field("parallel"))
        );
        assert_eq!(
            Params::parse(br#"{"tcp":true,"len":"big"}"#),
            Err(ParamsError::Field("len"))
        );
        assert_eq!(
            Params::parse(br#"{"tcp":true,"bidirectional":true}"#),
            Err(ParamsError::Unsupported("bidirectional"))
        );
    }

    #[test]
    fn results_hold_every_field_the_client_requires() {
        let r = results(
            false,
            &[StreamResult {
                id: 1,
                bytes: 1000,
                ..StreamResult::default()
            }],
        );
        let v: Value = serde_json::from_slice(&r).unwrap();
        for key in [
            "cpu_util_total",
            "cpu_util_user",
            "cpu_util_system",
            "sender_has_retransmits",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        let s = &v["streams"][0];
        for key in ["id", "bytes", "retransmits", "jitter", "errors", "packets"] {
            assert!(s.get(key).is_some(), "{key}");
        }
        assert_eq!(s["retransmits"], -1);
        assert_eq!(s["bytes"], 1000);
    }

    #[test]
    fn stream_ids_follow_iperf3() {
        assert_eq!((0..4).map(stream_id).collect::<Vec<_>>(), vec![1, 3, 4, 5]);
    }

    #[test]
    fn udp_headers_round_trip_in_both_widths() {
        for wide in [false, true] {
            let h = UdpHeader {
                sec: 7,
                usec: 250_000,
                count: 42,
            };
            let mut d = vec![0u8; 64];
            h.write(&mut d, wide);
            assert_eq!(UdpHeader::parse(&d, wide), Some(h));
            assert!((h.time() - 7.25).abs() < 1e-9);
        }
        assert_eq!(UdpHeader::parse(&[0; 11], false), None);
        assert_eq!(UdpHeader::parse(&[0; 15], true), None);
    }

    #[test]
    fn state_bytes_are_signed() {
        assert_eq!(State::AccessDenied.byte(), 0xff);
        assert_eq!(State::ExchangeResults.byte(), 13);
        assert_eq!(State::from_client(4), Some(State::TestEnd));
        assert_eq!(State::from_client(9), None);
    }
}
