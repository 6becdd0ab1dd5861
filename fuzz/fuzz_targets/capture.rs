//! pcap and pcapng reading (`device::capture::CaptureReader`, what `tapstack replay` and
//! `tapstack dump` read).
//!
//! What must hold: no panic, no unbounded allocation (libFuzzer's RSS limit); records read are
//! no longer than the input; the frames read, written back in either format by our writer and
//! read again, come back the same (pcap refuses, with an error, timestamps past 2106).
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use tapstack::device::capture::{CaptureReader, CaptureWriter, Format};
use tapstack::device::Direction;

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = CaptureReader::new(Cursor::new(data)) else {
        return;
    };
    let mut frames = Vec::new();
    for record in reader.take(256) {
        let Ok(r) = record else { break };
        assert!(r.data.len() <= data.len(), "record longer than the file");
        frames.push(r);
    }
    for format in [Format::Pcap, Format::PcapNg] {
        let mut w = CaptureWriter::new(Vec::new(), format, "fuzz").expect("writer");
        let mut written = Vec::new();
        for r in &frames {
            let d = r.direction.unwrap_or(Direction::In);
            match w.write(r.timestamp, d, &r.data) {
                Ok(()) => written.push(r.data.clone()),
                // Classic pcap holds seconds in 32 bits: a later timestamp is refused with an
                // error (never a panic, never a wrapped time).
                Err(_) if format == Format::Pcap && r.timestamp.as_secs() > u64::from(u32::MAX) => {
                }
                Err(e) => panic!("{format:?} write: {e:?}"),
            }
        }
        let bytes = w.into_inner().expect("flush");
        let again: Vec<_> = CaptureReader::new(Cursor::new(&bytes[..]))
            .expect("our own capture refused")
            .map(|r| r.expect("our own record refused").data)
            .collect();
        assert_eq!(again, written, "{format:?} round trip");
    }
});
