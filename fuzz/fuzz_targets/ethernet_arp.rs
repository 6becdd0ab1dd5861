//! Ethernet framing and ARP (RFC 826): our codec against etherparse and smoltcp's `wire::arp`.
//!
//! Both accept with the same fields, or both refuse. Our stricter refusals:
//! - opcodes other than request (1) and reply (2): RFC 826 defines only these two for us, and
//!   smoltcp keeps them as `Operation::Unknown` only to drop them later.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smoltcp::wire::{ArpOperation, ArpPacket, ArpRepr, EthernetFrame};
use tapstack::arp::{Operation, Repr};

fuzz_target!(|data: &[u8]| {
    // Ethernet: our header length and etherparse's agree on what is a header.
    let eth = etherparse::Ethernet2Slice::from_slice_without_fcs(data);
    let smol_eth = EthernetFrame::new_checked(data);
    assert_eq!(eth.is_ok(), smol_eth.is_ok(), "Ethernet verdicts differ");
    assert_eq!(eth.is_ok(), data.len() >= tapstack::ethernet::HEADER_LEN);
    let body = data.get(tapstack::ethernet::HEADER_LEN..).unwrap_or(data);

    let ours = Repr::parse(body);
    let smol = ArpPacket::new_checked(body).and_then(|p| ArpRepr::parse(&p));
    match (ours, smol) {
        (
            Ok(r),
            Ok(ArpRepr::EthernetIpv4 {
                operation,
                source_hardware_addr,
                source_protocol_addr,
                target_hardware_addr,
                target_protocol_addr,
            }),
        ) => {
            let op = match r.op {
                Operation::Request => ArpOperation::Request,
                Operation::Reply => ArpOperation::Reply,
            };
            assert_eq!(op, operation);
            assert_eq!(r.sender_mac.0, source_hardware_addr.0);
            assert_eq!(r.sender_ip, source_protocol_addr);
            assert_eq!(r.target_mac.0, target_hardware_addr.0);
            assert_eq!(r.target_ip, target_protocol_addr);
            // What we parse, we write back the same (up to the fixed fields).
            assert_eq!(Repr::parse(&r.to_bytes()), Ok(r));
            let e = etherparse::ArpPacketSlice::from_slice(body).expect("etherparse refuses");
            assert_eq!(e.sender_hw_addr(), &r.sender_mac.0);
            assert_eq!(e.target_protocol_addr(), &r.target_ip.octets());
        }
        (Ok(r), other) => panic!("we accept {r:?}, smoltcp says {other:?}"),
        (Err(_), Ok(ArpRepr::EthernetIpv4 { operation, .. })) => {
            // Refused by us only for an opcode we do not speak.
            assert!(
                matches!(operation, ArpOperation::Unknown(_)),
                "smoltcp accepts {operation:?} that we refuse"
            );
        }
        (Err(_), Ok(_)) | (Err(_), Err(_)) => {}
    }
});
