//! DNS messages (RFC 1035, EDNS RFC 6891) through the server's request path: `respond` with the
//! catalog of a host plus a small zone, over UDP and TCP.
//!
//! What must hold: no panic; a reply carries the query's ID and QR set, parses as DNS, and fits
//! the transport (512 bytes over UDP without EDNS, the announced EDNS size with it, 65535 over
//! TCP), with TC set whenever something was cut.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tapstack::services::dns::zone::{HostIdentity, Name};
use tapstack::services::dns::{self, Catalog, Transport};
use tapstack::{Ipv4Cidr, Ipv6Cidr};

const ZONE: &str = "$ORIGIN example.test.\n$TTL 60\n\
@ IN SOA ns hostmaster 1 3600 600 86400 300\n\
@ IN NS ns\n\
ns IN A 10.77.0.2\n\
www IN CNAME web\n\
web IN A 10.77.0.2\n\
web IN AAAA fd77::2\n\
big IN TXT \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n\
loop IN CNAME loop\n\
*.wild IN A 10.77.0.9\n";

fn catalog() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(|| {
        let host = HostIdentity {
            name: Name::from_text("tapstack.test.").expect("name"),
            ipv4: Ipv4Cidr::new("10.77.0.2".parse().expect("ip"), 24),
            ipv6: Ipv6Cidr::new("fd77::2".parse().expect("ip"), 64)
                .into_iter()
                .collect(),
            ttl: 60,
        };
        let mut c = Catalog::for_host(&host);
        c.load_master(ZONE).expect("the zone loads");
        c
    })
}

fuzz_target!(|data: &[u8]| {
    let limits = dns::Limits::default();
    for transport in [Transport::Udp, Transport::Tcp] {
        let Some(reply) = dns::respond(data, transport, catalog(), &limits) else {
            continue;
        };
        let b = &reply.bytes;
        assert!(b.len() >= 12, "reply shorter than a header");
        assert_eq!(b[..2], data[..2], "reply ID");
        assert!(b[2] & 0x80 != 0, "QR not set");
        let max = match transport {
            Transport::Udp => usize::from(limits.udp_payload),
            Transport::Tcp => 65_535,
        };
        assert!(b.len() <= max, "{} bytes over {transport:?}", b.len());
        if transport == Transport::Udp && b.len() > 512 {
            // Only past 512 bytes when the query announced a larger EDNS size.
            assert!(data.len() > 12, "large reply to a header");
        }
        assert_eq!(
            reply.truncated,
            b[2] & 0x02 != 0,
            "TC bit and the truncated flag"
        );
        if let Err(e) = simple_dns::Packet::parse(b) {
            panic!("reply does not parse ({e:?}): {b:02x?}");
        }
    }
});
