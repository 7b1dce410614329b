//! Tests of one-pass flow extraction (`rvs_packet::flow::extract`):
//! property tests against `etherparse` as the oracle, hand-built packets for
//! what etherparse cannot build or read the way OVS does (ARP, ND, MPLS,
//! LLC/SNAP, IGMP, IPv6 fragments), and every packet of a corpus truncated at
//! every length.

#[path = "extract/cases.rs"]
mod cases;
#[path = "extract/oracle.rs"]
mod oracle;
#[path = "extract/truncation.rs"]
mod truncation;

use etherparse::{
    IpAuthHeader, IpDscp, IpEcn, IpFragOffset, IpHeaders, IpNumber, Ipv4Extensions, Ipv4Header,
    Ipv4Options, Ipv6Extensions, Ipv6FlowLabel, Ipv6FragmentHeader, Ipv6Header, Ipv6RawExtHeader,
    Ipv6RoutingExtensions, LinkExtSlice, LinkSlice, NetSlice, PacketBuilder, SingleVlanHeader,
    SlicedPacket, TcpHeader, VlanHeader, VlanId, VlanPcp,
};
use proptest::prelude::*;
use rvs_packet::buffer::NO_OFFSET;
use rvs_packet::flow::{extract, Field, FlowKey, FRAG_ANY, FRAG_LATER, VLAN_CFI};
use rvs_packet::{EthAddr, Metadata, OdpPort, Packet, TunnelMetadata};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Extracts `bytes` with default metadata; returns the key and metadata.
fn run(bytes: &[u8]) -> (FlowKey, Metadata) {
    run_md(bytes, Metadata::default())
}

fn run_md(bytes: &[u8], md: Metadata) -> (FlowKey, Metadata) {
    let mut p = Packet::from_bytes(bytes);
    p.md = md;
    // Stale offsets and a dirty key must not leak into the result.
    p.md.l2_ofs = 7;
    p.md.l3_ofs = 7;
    p.md.l4_ofs = 7;
    let mut k = FlowKey::new();
    k.w = [u64::MAX; rvs_packet::flow::KEY_WORDS];
    extract(&mut p, &mut k);
    (k, p.md)
}

fn f(k: &FlowKey, field: Field) -> u128 {
    k.get(field)
}
