//! A CoAP datagram as the binding receives it (TS-0008): the message is
//! parsed, its oneM2M options are decoded (options.rs) and the request is
//! translated (inbound.rs), without a socket. Never panics.
#![no_main]

use coap_lite::Packet;
use libfuzzer_sys::fuzz_target;
use urbis_coap::{inbound, options};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::from_bytes(data) else {
        return;
    };
    let _ = options::unknown_critical(&packet);
    let _ = options::asks_for_proxy(&packet);
    // every option number a string or an unsigned integer may be asked for
    for (number, _) in packet.options() {
        let number = u16::from(*number);
        let _ = options::string(&packet, number, "fuzzed");
        let _ = options::uint(&packet, number, "fuzzed");
        let _ = options::all(&packet, number);
    }
    let _ = inbound::answer_format(&packet);
    let _ = inbound::to_request(&packet, &packet.payload);
});
