//! TEMPORARY shim until the odpexec branch lands (replaced at merge).
#![allow(missing_docs, unused_variables)]
use super::{DropReason, HashAlg, SetField};
use rvs_packet::{FlowKey, Packet};

pub fn set_field(
    pkt: &mut Packet,
    key: &FlowKey,
    value: &SetField,
    mask: Option<&SetField>,
) -> Result<(), DropReason> {
    Ok(())
}
pub fn push_vlan(pkt: &mut Packet, tpid: u16, tci: u16) {
    if pkt.len() < 12 {
        return;
    }
    let t = pkt.insert_at(12, 4);
    t[..2].copy_from_slice(&tpid.to_be_bytes());
    t[2..].copy_from_slice(&(tci & !0x1000).to_be_bytes());
}
pub fn pop_vlan(pkt: &mut Packet) {
    if pkt.len() >= 18
        && matches!(
            u16::from_be_bytes([pkt.data()[12], pkt.data()[13]]),
            0x8100 | 0x88a8
        )
    {
        pkt.remove_at(12, 4);
    }
}
pub fn hash(key: &FlowKey, alg: HashAlg, basis: u32) -> u32 {
    key.hash() as u32 ^ basis
}
