//! Turning the difference between what the datapath packet looks like
//! (`base`) and what translation wants it to look like (`flow`) into
//! datapath set/push/pop actions, at each point where the packet leaves
//! (an output, a controller action).
//!
//! Masked sets carry only the changed fields, so a megaflow needs to match
//! exactly only the fields the actions modified (which the modifying actions
//! mark as examined: whether a set is needed depends on the old value).

use crate::flow::{eth_type, Flow, Mf};
use rvs_datapath::odp::{OdpAction, SetField};
use rvs_packet::EthAddr;
use std::net::{Ipv4Addr, Ipv6Addr};

fn eth(f: &Flow, m: Mf) -> EthAddr {
    EthAddr::from_u64(f.get(m) as u64)
}

fn ones_if(changed: bool, bits: u32) -> u128 {
    if changed {
        if bits >= 128 {
            u128::MAX
        } else {
            (1u128 << bits) - 1
        }
    } else {
        0
    }
}

/// Appends to `out` the actions that turn `base` into `flow`, then makes
/// `base` equal to `flow` in every header field.
pub fn commit(base: &mut Flow, flow: &Flow, out: &mut Vec<OdpAction>) {
    let d = |m: Mf| base.get(m) != flow.get(m);

    // Metadata the datapath carries.
    if d(Mf::PktMark) {
        out.push(OdpAction::Set(SetField::Mark(flow.get(Mf::PktMark) as u32)));
    }
    if d(Mf::SkbPriority) {
        out.push(OdpAction::Set(SetField::Priority(flow.get(Mf::SkbPriority) as u32)));
    }

    // Ethernet addresses.
    if d(Mf::DlSrc) || d(Mf::DlDst) {
        let pick = |m: Mf| if d(m) { eth(flow, m) } else { EthAddr::ZERO };
        let value = SetField::Eth { src: pick(Mf::DlSrc), dst: pick(Mf::DlDst) };
        let mask = SetField::Eth {
            src: EthAddr::from_u64(ones_if(d(Mf::DlSrc), 48) as u64),
            dst: EthAddr::from_u64(ones_if(d(Mf::DlDst), 48) as u64),
        };
        out.push(OdpAction::SetMasked { value: Box::new(value), mask: Box::new(mask) });
    }

    // L3 and L4 (only for the protocol the packet has).
    let dl = flow.dl_type();
    if dl == eth_type::IPV4 && (d(Mf::NwSrc) || d(Mf::NwDst) || d(Mf::NwTos) || d(Mf::NwTtl)) {
        let tos_mask = (base.get(Mf::NwTos) ^ flow.get(Mf::NwTos)) as u8;
        let tos_mask =
            if tos_mask & 0xfc != 0 { 0xfc } else { 0 } | if tos_mask & 3 != 0 { 3 } else { 0 };
        let value = SetField::Ipv4 {
            src: Ipv4Addr::from(flow.get(Mf::NwSrc) as u32 & ones_if(d(Mf::NwSrc), 32) as u32),
            dst: Ipv4Addr::from(flow.get(Mf::NwDst) as u32 & ones_if(d(Mf::NwDst), 32) as u32),
            proto: 0,
            tos: flow.get(Mf::NwTos) as u8 & tos_mask,
            ttl: flow.get(Mf::NwTtl) as u8 & ones_if(d(Mf::NwTtl), 8) as u8,
            frag: 0,
        };
        let mask = SetField::Ipv4 {
            src: Ipv4Addr::from(ones_if(d(Mf::NwSrc), 32) as u32),
            dst: Ipv4Addr::from(ones_if(d(Mf::NwDst), 32) as u32),
            proto: 0,
            tos: tos_mask,
            ttl: ones_if(d(Mf::NwTtl), 8) as u8,
            frag: 0,
        };
        out.push(OdpAction::SetMasked { value: Box::new(value), mask: Box::new(mask) });
    }
    if dl == eth_type::IPV6
        && (d(Mf::Ipv6Src) || d(Mf::Ipv6Dst) || d(Mf::NwTos) || d(Mf::NwTtl) || d(Mf::Ipv6Label))
    {
        let tclass_mask = (base.get(Mf::NwTos) ^ flow.get(Mf::NwTos)) as u8;
        let value = SetField::Ipv6 {
            src: Ipv6Addr::from(flow.get(Mf::Ipv6Src) & ones_if(d(Mf::Ipv6Src), 128)),
            dst: Ipv6Addr::from(flow.get(Mf::Ipv6Dst) & ones_if(d(Mf::Ipv6Dst), 128)),
            label: (flow.get(Mf::Ipv6Label) & ones_if(d(Mf::Ipv6Label), 20)) as u32,
            proto: 0,
            tclass: flow.get(Mf::NwTos) as u8 & tclass_mask,
            hlimit: flow.get(Mf::NwTtl) as u8 & ones_if(d(Mf::NwTtl), 8) as u8,
            frag: 0,
        };
        let mask = SetField::Ipv6 {
            src: Ipv6Addr::from(ones_if(d(Mf::Ipv6Src), 128)),
            dst: Ipv6Addr::from(ones_if(d(Mf::Ipv6Dst), 128)),
            label: ones_if(d(Mf::Ipv6Label), 20) as u32,
            proto: 0,
            tclass: tclass_mask,
            hlimit: ones_if(d(Mf::NwTtl), 8) as u8,
            frag: 0,
        };
        out.push(OdpAction::SetMasked { value: Box::new(value), mask: Box::new(mask) });
    }
    if flow.is_ip() && (d(Mf::TpSrc) || d(Mf::TpDst)) {
        let (ms, md) = (ones_if(d(Mf::TpSrc), 16) as u16, ones_if(d(Mf::TpDst), 16) as u16);
        let (src, dst) = (flow.get(Mf::TpSrc) as u16 & ms, flow.get(Mf::TpDst) as u16 & md);
        let pair = match flow.nw_proto() {
            6 => Some((SetField::Tcp { src, dst }, SetField::Tcp { src: ms, dst: md })),
            17 => Some((SetField::Udp { src, dst }, SetField::Udp { src: ms, dst: md })),
            132 => Some((SetField::Sctp { src, dst }, SetField::Sctp { src: ms, dst: md })),
            _ => None,
        };
        if let Some((value, mask)) = pair {
            out.push(OdpAction::SetMasked { value: Box::new(value), mask: Box::new(mask) });
        }
    }

    // VLAN last on the way out: pop what must go, push what must come.
    if d(Mf::VlanTci) {
        let (old, new) = (base.vlan_tci(), flow.vlan_tci());
        if crate::flow::tci_present(old) {
            out.push(OdpAction::PopVlan);
        }
        if crate::flow::tci_present(new) {
            out.push(OdpAction::PushVlan { tpid: 0x8100, tci: new });
        }
    }

    // Only header words reach the datapath; pipeline fields stay as they are.
    let keep = base.w[crate::flow::W_METADATA..].to_vec();
    *base = *flow;
    base.w[crate::flow::W_METADATA..].copy_from_slice(&keep);
}

/// True when `actions` change the packet (so running them on the original
/// would be visible to later actions).
pub fn modifies(actions: &[OdpAction]) -> bool {
    actions.iter().any(|a| {
        matches!(
            a,
            OdpAction::Set(_)
                | OdpAction::SetMasked { .. }
                | OdpAction::PushVlan { .. }
                | OdpAction::PopVlan
        )
    })
}
