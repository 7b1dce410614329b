//! The NORMAL action: an 802.1Q learning switch.
//!
//! It reads the input port, the Ethernet addresses and the VLAN tag (and,
//! for broadcast ARP, whether it is gratuitous) and nothing else, so the
//! megaflows it produces match no L3 or L4 field.

use super::{is_gratuitous_arp, is_reserved_multicast, Ctx, MacRef};
use crate::flow::{vlan, Mf};
use crate::mac_learning::Learned;
use crate::types::OfPort;
use rvs_packet::EthAddr;

pub(super) fn xlate_normal(ctx: &mut Ctx<'_>) {
    ctx.wc.unwildcard(Mf::DlSrc);
    ctx.wc.unwildcard(Mf::DlDst);
    ctx.wc.unwildcard(Mf::VlanTci);
    let flow = ctx.flow;
    let in_port = flow.in_port();
    let Some(input) = ctx.bridge.ports.get(&in_port) else {
        ctx.note(" no input port: dropping");
        return;
    };
    let dst = EthAddr::from_u64(flow.get(Mf::DlDst) as u64);
    let src = EthAddr::from_u64(flow.get(Mf::DlSrc) as u64);
    if is_reserved_multicast(dst) {
        ctx.note(format!(" {dst} is a reserved multicast address: dropping"));
        return;
    }
    let tci = flow.vlan_tci();
    let vid = if crate::flow::tci_present(tci) { tci & vlan::VID_MASK } else { 0 };
    let Some(vlan) = input.vlan.input_vlan(vid) else {
        ctx.note(format!(
            "    dropping VLAN {vid} packet received on port {} (not in its VLANs)",
            input.name
        ));
        return;
    };

    // Learn the source.
    if !src.is_multicast() {
        let grat = is_gratuitous_arp(&flow, &mut ctx.wc);
        if ctx.side_effects {
            let r = ctx.bridge.mac.lock().unwrap().learn(vlan, src, in_port, ctx.now, grat);
            ctx.out.mac_changed |= matches!(r, Learned::New | Learned::Moved(_));
            match r {
                Learned::New => ctx.note(format!(
                    "    -> learned that {src} is on port {} in VLAN {vlan}",
                    input.name
                )),
                Learned::Moved(old) => ctx.note(format!(
                    "    -> {src} moved from port {old} to port {} in VLAN {vlan}",
                    input.name
                )),
                _ => {}
            }
        }
        ctx.out.macs.push(MacRef {
            bridge: ctx.bridge.name.clone(),
            vlan,
            mac: src,
            port: in_port,
        });
    }

    // Forward.
    if dst.is_multicast() {
        ctx.note(" -> multicast or broadcast destination: flooding");
        return flood(ctx, vlan);
    }
    let learned = ctx.bridge.mac.lock().unwrap().lookup(vlan, dst, ctx.now);
    match learned {
        Some(p) if p == in_port => {
            ctx.note(" -> learned port is the input port: dropping");
        }
        Some(p) if ctx.bridge.ports.contains_key(&p) => {
            ctx.note(format!(" -> forwarding to learned port {p}"));
            output_normal(ctx, p, vlan);
        }
        _ => {
            ctx.note(" -> no learned MAC for destination, flooding");
            flood(ctx, vlan);
        }
    }
}

fn flood(ctx: &mut Ctx<'_>, vlan: u16) {
    let in_port = ctx.flow.in_port();
    let targets: Vec<OfPort> = ctx
        .bridge
        .ports
        .values()
        .filter(|p| p.ofport != in_port && !p.config.no_flood && p.vlan.includes(vlan))
        .map(|p| p.ofport)
        .collect();
    for p in targets {
        output_normal(ctx, p, vlan);
    }
}

/// Output to `port` of a packet of `vlan`, tagged as the port carries it.
pub(super) fn output_normal(ctx: &mut Ctx<'_>, port: OfPort, vlan: u16) {
    let Some(p) = ctx.bridge.ports.get(&port) else { return };
    if !p.vlan.includes(vlan) {
        return;
    }
    let old = ctx.flow.vlan_tci();
    let tci = match p.vlan.output_vid(vlan) {
        None => 0,
        Some(vid) => {
            let pcp = if crate::flow::tci_present(old) { old & vlan::PCP_MASK } else { 0 };
            pcp | vlan::CFI | vid
        }
    };
    ctx.flow.set(Mf::VlanTci, u128::from(tci));
    ctx.output_port(port, false);
    ctx.flow.set(Mf::VlanTci, u128::from(old));
}
