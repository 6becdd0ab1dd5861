//! Zone files (RFC 1035 5, the subset `services::dns::zone` documents) and `NAME=ADDR`
//! assignments, then queries against what loaded.
//!
//! What must hold: no panic; the record count within `MAX_RECORDS`; every owner name written
//! as text reads back as the same name (RFC 1035 5.1 escapes); every loaded name answers a
//! query without panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapstack::services::dns::zone::{parse_master, Catalog, Name, MAX_RECORDS};
use tapstack::services::dns::{self, Transport};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let origin = Name::from_text("example.test.").expect("origin");
    if let Ok(records) = parse_master(&text, &origin, 300) {
        assert!(
            records.len() <= text.lines().count() + 1,
            "more records than lines"
        );
        for (_, r) in &records {
            let again = Name::from_text(&format!("{}", r.name));
            assert_eq!(again.as_ref(), Ok(&r.name), "owner name round trip");
        }
    }
    let mut catalog = Catalog::new(origin, 300);
    let _ = catalog.load_master(&text);
    for line in text.lines().take(16) {
        let _ = catalog.add_assignment(line);
    }
    assert!(catalog.records().len() <= MAX_RECORDS);
    let limits = dns::Limits::default();
    for r in catalog.records().iter().take(8) {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in r.name.labels() {
            q.push(label.len() as u8);
            q.extend_from_slice(label);
        }
        q.extend_from_slice(&[0, 0, 255, 0, 1]);
        let _ = dns::respond(&q, Transport::Udp, &catalog, &limits);
    }
});
