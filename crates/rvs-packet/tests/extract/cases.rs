//! Hand-built packets: what etherparse cannot build, or does not read the
//! way OVS does (ARP, ND, MPLS, LLC/SNAP, IGMP, fragments, malformed headers).

use super::*;

pub(super) const DST: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
pub(super) const SRC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

pub(super) fn eth(ty: u16) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&DST);
    v.extend_from_slice(&SRC);
    v.extend_from_slice(&ty.to_be_bytes());
    v
}

/// An IPv4 header (no options) with the given protocol, flags/fragment word
/// and payload length.
pub(super) fn ipv4(proto: u8, frag_word: u16, payload_len: usize) -> Vec<u8> {
    let tot = (20 + payload_len) as u16;
    let mut h = vec![0x45, 0xb8];
    h.extend_from_slice(&tot.to_be_bytes());
    h.extend_from_slice(&[0x12, 0x34]);
    h.extend_from_slice(&frag_word.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0]);
    h.extend_from_slice(&[198, 18, 0, 1]);
    h.extend_from_slice(&[198, 18, 0, 2]);
    h
}

pub(super) const V6_SRC: &str = "2001:db8::1";
pub(super) const V6_DST: &str = "2001:db8::2";

pub(super) fn ipv6(next: u8, payload_len: usize) -> Vec<u8> {
    let mut h = vec![0x6a, 0xb1, 0x23, 0x45]; // tc 0xab, label 0x12345
    h.extend_from_slice(&(payload_len as u16).to_be_bytes());
    h.extend_from_slice(&[next, 255]);
    h.extend_from_slice(&V6_SRC.parse::<Ipv6Addr>().unwrap().octets());
    h.extend_from_slice(&V6_DST.parse::<Ipv6Addr>().unwrap().octets());
    h
}

pub(super) fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

pub(super) fn udp(src: u16, dst: u16) -> Vec<u8> {
    cat(&[&src.to_be_bytes(), &dst.to_be_bytes(), &[0, 8, 0, 0]])
}

pub(super) fn tcp(src: u16, dst: u16, off_flags: u16) -> Vec<u8> {
    let mut t = cat(&[&src.to_be_bytes(), &dst.to_be_bytes(), &[0; 8], &off_flags.to_be_bytes()]);
    t.extend_from_slice(&[0; 6]);
    t
}

pub(super) fn arp(htype: u16, ptype: u16, op: u16) -> Vec<u8> {
    cat(&[
        &htype.to_be_bytes(),
        &ptype.to_be_bytes(),
        &[6, 4],
        &op.to_be_bytes(),
        &[0xaa, 0, 0, 0, 0, 1],
        &[198, 18, 0, 1],
        &[0xbb, 0, 0, 0, 0, 2],
        &[198, 18, 0, 2],
    ])
}

#[test]
fn metadata_and_tunnel_fields_are_copied() {
    let md = Metadata {
        in_port: OdpPort(3),
        recirc_id: 9,
        dp_hash: 0xdead_beef,
        skb_priority: 5,
        pkt_mark: 0x42,
        tunnel: TunnelMetadata {
            tun_id: 0x1234_5678_9abc,
            src: Some(IpAddr::V4(Ipv4Addr::new(198, 18, 1, 1))),
            dst: Some(IpAddr::V4(Ipv4Addr::new(198, 18, 1, 2))),
            tos: 0x10,
            ttl: 63,
            tp_src: 49152,
            tp_dst: 4789,
            flags: rvs_packet::flow::TNL_F_KEY | rvs_packet::flow::TNL_F_CSUM,
        },
        ..Metadata::default()
    };
    let (k, _) = run_md(&[], md);
    assert_eq!(k.in_port(), OdpPort(3));
    assert_eq!(k.recirc_id(), 9);
    assert_eq!(f(&k, Field::DpHash), 0xdead_beef);
    assert_eq!(f(&k, Field::SkbPriority), 5);
    assert_eq!(f(&k, Field::PktMark), 0x42);
    assert_eq!(f(&k, Field::TunId), 0x1234_5678_9abc);
    assert_eq!(f(&k, Field::TunIpv4Src), u32::from(Ipv4Addr::new(198, 18, 1, 1)).into());
    assert_eq!(f(&k, Field::TunIpv4Dst), u32::from(Ipv4Addr::new(198, 18, 1, 2)).into());
    assert_eq!(f(&k, Field::TunTos), 0x10);
    assert_eq!(f(&k, Field::TunTtl), 63);
    assert_eq!(f(&k, Field::TunTpSrc), 49152);
    assert_eq!(f(&k, Field::TunTpDst), 4789);
    assert_eq!(f(&k, Field::TunFlags), 6);
    assert_eq!(f(&k, Field::TunIpv6Src), 0);

    let v6 = TunnelMetadata {
        src: Some(IpAddr::V6("2001:db8::a".parse().unwrap())),
        dst: Some(IpAddr::V6("2001:db8::b".parse().unwrap())),
        ..md.tunnel
    };
    let (k, _) = run_md(&[], Metadata { tunnel: v6, ..md });
    assert_eq!(
        Ipv6Addr::from(f(&k, Field::TunIpv6Src)),
        "2001:db8::a".parse::<Ipv6Addr>().unwrap()
    );
    assert_eq!(
        Ipv6Addr::from(f(&k, Field::TunIpv6Dst)),
        "2001:db8::b".parse::<Ipv6Addr>().unwrap()
    );
    assert_eq!(f(&k, Field::TunIpv4Src), 0);

    // Without a tunnel destination the tunnel fields stay zero.
    let unset = TunnelMetadata { dst: None, ..md.tunnel };
    let (k, _) = run_md(&[], Metadata { tunnel: unset, ..md });
    assert_eq!(f(&k, Field::TunId), 0);
    assert_eq!(f(&k, Field::TunTtl), 0);
    assert_eq!(f(&k, Field::PktMark), 0x42);
}

#[test]
fn short_frame_sets_no_offsets_and_no_l2_fields() {
    let (k, md) = run(&eth(0x0800)[..13]);
    assert_eq!((md.l2_ofs, md.l3_ofs, md.l4_ofs), (NO_OFFSET, NO_OFFSET, NO_OFFSET));
    assert!(k.w[1..].iter().all(|&w| w == 0), "{k:?}");
    assert_eq!(k.eth_type(), 0);
}

#[test]
fn unknown_ethertype_sets_l3_offset_only() {
    let (k, md) = run(&cat(&[&eth(0x88cc), &[1, 2, 3]]));
    assert_eq!(k.eth_type(), 0x88cc);
    assert_eq!((md.l2_ofs, md.l3_ofs, md.l4_ofs), (0, 14, NO_OFFSET));
}

#[test]
fn arp_request_and_rarp() {
    for ty in [0x0806, 0x8035] {
        let (k, md) = run(&cat(&[&eth(ty), &arp(1, 0x0800, 1)]));
        assert_eq!(k.eth_type(), ty);
        assert_eq!(k.nw_src(), Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(k.nw_dst(), Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(k.nw_proto(), 1);
        assert_eq!(f(&k, Field::ArpSha), 0xaa00_0000_0001);
        assert_eq!(f(&k, Field::ArpTha), 0xbb00_0000_0002);
        assert_eq!((md.l3_ofs, md.l4_ofs), (14, NO_OFFSET));
        assert_eq!(f(&k, Field::NwTtl), 0);
    }
}

#[test]
fn arp_opcode_past_8_bits_and_non_ethernet_arp() {
    // Opcode 0x0102 does not fit in nw_proto: OVS leaves it out, keeps the rest.
    let (k, _) = run(&cat(&[&eth(0x0806), &arp(1, 0x0800, 0x0102)]));
    assert_eq!(k.nw_proto(), 0);
    assert_eq!(k.nw_src(), Ipv4Addr::new(198, 18, 0, 1));
    // Not Ethernet/IPv4: nothing from the ARP body.
    for body in [arp(6, 0x0800, 1), arp(1, 0x86dd, 1)] {
        let (k, _) = run(&cat(&[&eth(0x0806), &body]));
        assert_eq!((k.nw_src(), k.nw_proto(), f(&k, Field::ArpSha)), (Ipv4Addr::UNSPECIFIED, 0, 0));
    }
    // One byte short.
    let (k, _) = run(&cat(&[&eth(0x0806), &arp(1, 0x0800, 1)[..27]]));
    assert_eq!(k.nw_src(), Ipv4Addr::UNSPECIFIED);
}

#[test]
fn double_vlan_and_the_vlan_limit() {
    let ip = cat(&[&ipv4(17, 0, 8), &udp(1, 2)]);
    let qinq = cat(&[
        &DST,
        &SRC,
        &[0x88, 0xa8, 0x20, 0x0a], // 802.1ad, pcp 1, vid 10
        &[0x81, 0x00, 0x00, 0x00], // 802.1Q, vid 0
        &[0x08, 0x00],
        &ip,
    ]);
    let (k, md) = run(&qinq);
    assert_eq!(f(&k, Field::Vlan0Tpid), 0x88a8);
    assert_eq!(k.vlan0_tci(), 0x200a | VLAN_CFI);
    assert_eq!(f(&k, Field::Vlan1Tpid), 0x8100);
    assert_eq!(k.vlan1_tci(), VLAN_CFI, "VID 0 is still a present tag");
    assert_eq!(k.eth_type(), 0x0800);
    assert_eq!((md.l3_ofs, md.l4_ofs), (22, 42));
    assert_eq!(k.tp_dst(), 2);

    // A third tag is past the limit: its TPID is the eth_type.
    let triple =
        cat(&[&DST, &SRC, &[0x88, 0xa8, 0, 1, 0x81, 0, 0, 2, 0x81, 0, 0, 3, 0x08, 0], &ip]);
    let (k, md) = run(&triple);
    assert_eq!(k.eth_type(), 0x8100);
    assert_eq!(k.vlan1_tci(), 2 | VLAN_CFI);
    assert_eq!((md.l3_ofs, md.l4_ofs), (22, NO_OFFSET));
    assert_eq!(k.nw_proto(), 0);

    // A tag without the type after it is not taken.
    let (k, md) = run(&cat(&[&DST, &SRC, &[0x81, 0x00, 0x00, 0x05, 0x08]]));
    assert_eq!((k.eth_type(), k.vlan0_tci(), md.l3_ofs), (0x8100, 0, 14));
}

#[test]
fn llc_snap_and_plain_802_3() {
    let ip = cat(&[&ipv4(6, 0, 20), &tcp(80, 443, 0x5012)]);
    let snap = cat(&[&eth(ip.len() as u16 + 8), &[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00], &ip]);
    let (k, md) = run(&snap);
    assert_eq!(k.eth_type(), 0x0800);
    assert_eq!((md.l3_ofs, md.l4_ofs), (22, 42));
    assert_eq!((k.tp_src(), k.tp_dst(), k.tcp_flags()), (80, 443, 0x012));

    // LLC without SNAP (STP): FLOW_DL_TYPE_NONE, L3 right after the length.
    let stp = cat(&[&eth(38), &[0x42, 0x42, 0x03, 0, 0, 0, 0, 0]]);
    let (k, md) = run(&stp);
    assert_eq!((k.eth_type(), md.l3_ofs), (0x05ff, 14));
    // SNAP with a non-Ethernet OUI, and SNAP with a length-sized type.
    let (k, _) = run(&cat(&[&eth(30), &[0xaa, 0xaa, 0x03, 0, 0, 0x0c, 0x20, 0x00]]));
    assert_eq!(k.eth_type(), 0x05ff);
    let (k, md) = run(&cat(&[&eth(30), &[0xaa, 0xaa, 0x03, 0, 0, 0, 0x01, 0x00]]));
    assert_eq!((k.eth_type(), md.l3_ofs), (0x05ff, 22));
    // Too short for LLC/SNAP.
    let (k, md) = run(&cat(&[&eth(30), &[0xaa, 0xaa, 0x03]]));
    assert_eq!((k.eth_type(), md.l3_ofs), (0x05ff, 14));
}

#[test]
fn mpls_stack_keeps_three_entries_and_stops() {
    let lse = |label: u32, bos: bool, ttl: u8| {
        (label << 12 | u32::from(bos) << 8 | u32::from(ttl)).to_be_bytes()
    };
    let ip = cat(&[&ipv4(17, 0, 8), &udp(1, 2)]);
    let two = cat(&[&eth(0x8847), &lse(100, false, 64), &lse(200, true, 63), &ip]);
    let (k, md) = run(&two);
    assert_eq!(k.eth_type(), 0x8847);
    assert_eq!(f(&k, Field::MplsLse0), u32::from_be_bytes(lse(100, false, 64)).into());
    assert_eq!(f(&k, Field::MplsLse1), u32::from_be_bytes(lse(200, true, 63)).into());
    assert_eq!(f(&k, Field::MplsLse2), 0);
    assert_eq!((md.l3_ofs, md.l4_ofs), (22, NO_OFFSET));
    assert_eq!((k.nw_proto(), k.nw_src()), (0, Ipv4Addr::UNSPECIFIED), "no L3 under MPLS");

    let four = cat(&[
        &eth(0x8848),
        &lse(1, false, 1),
        &lse(2, false, 2),
        &lse(3, false, 3),
        &lse(4, true, 4),
        &ip,
    ]);
    let (k, md) = run(&four);
    assert_eq!(f(&k, Field::MplsLse2), u32::from_be_bytes(lse(3, false, 3)).into());
    assert_eq!(md.l3_ofs, 30, "L3 is after the whole stack");

    // No bottom of stack before the end: every label is consumed.
    let (k, md) = run(&cat(&[&eth(0x8847), &lse(7, false, 1), &[0, 0]]));
    assert_eq!(f(&k, Field::MplsLse0), u32::from_be_bytes(lse(7, false, 1)).into());
    assert_eq!(md.l3_ofs, 18);
}

#[test]
fn ipv4_fragments_first_and_later() {
    let body = udp(1000, 53);
    // First fragment: MF set, offset 0: L4 is read.
    let (k, md) = run(&cat(&[&eth(0x0800), &ipv4(17, 0x2000, 8), &body]));
    assert_eq!(k.nw_frag(), FRAG_ANY);
    assert_eq!((k.tp_src(), k.tp_dst()), (1000, 53));
    assert_eq!(md.l4_ofs, 34);
    // Later fragment: no L4, but the L4 offset and nw_proto are set.
    let (k, md) = run(&cat(&[&eth(0x0800), &ipv4(17, 0x00b9, 8), &body]));
    assert_eq!(k.nw_frag(), FRAG_ANY | FRAG_LATER);
    assert_eq!((k.nw_proto(), k.tp_src(), k.tp_dst()), (17, 0, 0));
    assert_eq!(md.l4_ofs, 34);
    // The top bit of the 13-bit offset alone still makes a later fragment.
    let (k, _) = run(&cat(&[&eth(0x0800), &ipv4(17, 0x1000, 8), &body]));
    assert_eq!(k.nw_frag(), FRAG_ANY | FRAG_LATER);
    // DF alone is not a fragment.
    let (k, _) = run(&cat(&[&eth(0x0800), &ipv4(17, 0x4000, 8), &body]));
    assert_eq!(k.nw_frag(), 0);
    assert_eq!(f(&k, Field::NwTos), 0xb8);
    assert_eq!(f(&k, Field::NwTtl), 64);
}

#[test]
fn ipv4_validation_follows_ovs() {
    let good = cat(&[&eth(0x0800), &ipv4(6, 0, 20), &tcp(1, 2, 0x5002)]);
    let check_bad = |bytes: &[u8], why: &str| {
        let (k, md) = run(bytes);
        assert_eq!((md.l3_ofs, md.l4_ofs), (14, NO_OFFSET), "{why}");
        assert_eq!((k.nw_src(), k.nw_proto(), k.tp_src()), (Ipv4Addr::UNSPECIFIED, 0, 0), "{why}");
        assert_eq!(k.eth_type(), 0x0800, "{why}");
    };
    let mut b = good.clone();
    b[14] = 0x44; // IHL 4
    check_bad(&b, "IHL < 5");
    let mut b = good.clone();
    b[16..18].copy_from_slice(&19u16.to_be_bytes());
    check_bad(&b, "total length shorter than the header");
    let mut b = good.clone();
    b[16..18].copy_from_slice(&41u16.to_be_bytes());
    check_bad(&b, "total length past the data");
    let mut b = good.clone();
    b[14] = 0x4f; // IHL 15 = 60 bytes > 40 available
    check_bad(&b, "options past the data");

    // Options are skipped via IHL.
    let mut opts = ipv4(6, 0, 28);
    opts[0] = 0x47;
    let b = cat(&[&eth(0x0800), &opts, &[1; 8], &tcp(7, 8, 0x5010)]);
    let (k, md) = run(&b);
    assert_eq!((md.l4_ofs, k.tp_src(), k.tp_dst()), (42, 7, 8));

    // Padding after the total length is not L4: a TCP header cut by the
    // total length is not read even though padding follows.
    let mut b = cat(&[&eth(0x0800), &ipv4(6, 0, 10), &tcp(1, 2, 0x5002)]);
    b.extend_from_slice(&[0; 10]);
    let (k, md) = run(&b);
    assert_eq!((md.l4_ofs, k.nw_proto(), k.tp_src()), (34, 6, 0));

    // As in OVS, the version nibble is not checked.
    let mut b = good.clone();
    b[14] = 0x55;
    assert_eq!(run(&b).0.tp_src(), 1);
}

#[test]
fn tcp_flags_take_12_bits() {
    // Data offset 5, the three reserved bits and NS set, plus SYN|ACK.
    let (k, _) = run(&cat(&[&eth(0x0800), &ipv4(6, 0, 20), &tcp(1, 2, 0x5f12)]));
    assert_eq!(k.tcp_flags(), 0xf12);
}

#[test]
fn igmp_sctp_icmp() {
    let igmp = [0x16, 0x00, 0xfa, 0x04, 239, 1, 2, 3];
    let (k, _) = run(&cat(&[&eth(0x0800), &ipv4(2, 0, 8), &igmp]));
    assert_eq!((k.tp_src(), k.tp_dst()), (0x16, 0));
    assert_eq!(f(&k, Field::IgmpGroup), u32::from(Ipv4Addr::new(239, 1, 2, 3)).into());
    let (k, _) = run(&cat(&[&eth(0x0800), &ipv4(2, 0, 7), &igmp[..7]]));
    assert_eq!((k.tp_src(), f(&k, Field::IgmpGroup)), (0, 0));

    let sctp = cat(&[&5000u16.to_be_bytes(), &6000u16.to_be_bytes(), &[0; 8]]);
    let (k, _) = run(&cat(&[&eth(0x0800), &ipv4(132, 0, 12), &sctp]));
    assert_eq!((k.tp_src(), k.tp_dst()), (5000, 6000));
    let (k, _) = run(&cat(&[&eth(0x0800), &ipv4(132, 0, 11), &sctp[..11]]));
    assert_eq!((k.tp_src(), k.tp_dst()), (0, 0));

    let (k, _) = run(&cat(&[&eth(0x0800), &ipv4(1, 0, 8), &[3, 4, 0, 0, 0, 0, 5, 0xdc]]));
    assert_eq!((k.tp_src(), k.tp_dst()), (3, 4));
}

/// An ICMPv6 ND message (type, code) with a target and options.
pub(super) fn nd(ty: u8, code: u8, target: &str, opts: &[&[u8]]) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0, 0x60, 0, 0, 0];
    m.extend_from_slice(&target.parse::<Ipv6Addr>().unwrap().octets());
    for o in opts {
        m.extend_from_slice(o);
    }
    cat(&[&eth(0x86dd), &ipv6(58, m.len()), &m])
}

pub(super) const SLL: [u8; 8] = [1, 1, 0x02, 0xaa, 0, 0, 0, 1];
pub(super) const TLL: [u8; 8] = [2, 1, 0x02, 0xbb, 0, 0, 0, 2];

#[test]
fn nd_solicit_and_advert_with_options() {
    let (k, md) = run(&nd(135, 0, "2001:db8::99", &[&SLL]));
    assert_eq!((k.tp_src(), k.tp_dst(), k.nw_proto()), (135, 0, 58));
    assert_eq!(Ipv6Addr::from(f(&k, Field::NdTarget)), "2001:db8::99".parse::<Ipv6Addr>().unwrap());
    assert_eq!(f(&k, Field::ArpSha), 0x02aa_0000_0001);
    assert_eq!(f(&k, Field::ArpTha), 0);
    assert_eq!(md.l4_ofs, 54);

    // An unknown 16-byte option is skipped.
    let other = [14u8, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let (k, _) = run(&nd(136, 0, "2001:db8::98", &[&other, &TLL]));
    assert_eq!(f(&k, Field::ArpTha), 0x02bb_0000_0002);
    assert_eq!(f(&k, Field::ArpSha), 0);
    assert_eq!(Ipv6Addr::from(f(&k, Field::NdTarget)), "2001:db8::98".parse::<Ipv6Addr>().unwrap());

    // OVS stores either option whichever the message.
    let (k, _) = run(&nd(136, 0, "2001:db8::98", &[&SLL, &TLL]));
    assert_eq!((f(&k, Field::ArpSha), f(&k, Field::ArpTha)), (0x02aa_0000_0001, 0x02bb_0000_0002));

    // Code != 0: not ND, only type and code.
    let (k, _) = run(&nd(135, 1, "2001:db8::99", &[&SLL]));
    assert_eq!(
        (k.tp_src(), k.tp_dst(), f(&k, Field::NdTarget), f(&k, Field::ArpSha)),
        (135, 1, 0, 0)
    );

    // Target cut short: type and code only.
    let m = nd(135, 0, "2001:db8::99", &[]);
    let mut short = m[..m.len() - 1].to_vec();
    short[18..20].copy_from_slice(&23u16.to_be_bytes());
    let (k, _) = run(&short);
    assert_eq!((k.tp_src(), f(&k, Field::NdTarget)), (135, 0));
}

#[test]
fn malformed_nd_options_follow_ovs() {
    // A duplicate link-layer option makes the message invalid: target and
    // addresses are zeroed, type and code kept.
    let (k, _) = run(&nd(135, 0, "2001:db8::99", &[&SLL, &SLL]));
    assert_eq!((k.tp_src(), f(&k, Field::NdTarget), f(&k, Field::ArpSha)), (135, 0, 0));
    // A zero-length option stops the walk, keeping what was found.
    let zero = [2u8, 0, 0, 0, 0, 0, 0, 0];
    let (k, _) = run(&nd(135, 0, "2001:db8::99", &[&SLL, &zero, &TLL]));
    assert_eq!((f(&k, Field::ArpSha), f(&k, Field::ArpTha)), (0x02aa_0000_0001, 0));
    assert_ne!(f(&k, Field::NdTarget), 0);
    // An option longer than what is left stops the walk too.
    let long = [2u8, 3, 0x02, 0xbb, 0, 0, 0, 2];
    let (k, _) = run(&nd(136, 0, "2001:db8::99", &[&long]));
    assert_eq!(f(&k, Field::ArpTha), 0);
    assert_ne!(f(&k, Field::NdTarget), 0);
    // A link-layer option of the wrong size is skipped, not stored.
    let sll16 = [1u8, 2, 0x02, 0xaa, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
    let (k, _) = run(&nd(135, 0, "2001:db8::99", &[&sll16, &TLL]));
    assert_eq!((f(&k, Field::ArpSha), f(&k, Field::ArpTha)), (0, 0x02bb_0000_0002));
}

/// A generic IPv6 extension header of `units` 8-byte units after the first.
pub(super) fn ext(next: u8, units: u8) -> Vec<u8> {
    let mut e = vec![next, units];
    e.resize(8 * (usize::from(units) + 1), 0x5a);
    e
}

#[test]
fn ipv6_extension_chain() {
    let l4 = udp(546, 547);
    // hop-by-hop(8) -> routing(8) -> dest opts(16) -> AH((1+2)*4 = 12) -> UDP
    let hop = ext(43, 0);
    let rt = ext(60, 0);
    let dst = ext(51, 1);
    let ah = [17u8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let body = cat(&[&hop, &rt, &dst, &ah, &l4]);
    let (k, md) = run(&cat(&[&eth(0x86dd), &ipv6(0, body.len()), &body]));
    assert_eq!(k.nw_proto(), 17);
    assert_eq!((k.tp_src(), k.tp_dst()), (546, 547));
    assert_eq!(md.l4_ofs, 14 + 40 + 8 + 8 + 16 + 12);
    assert_eq!(f(&k, Field::Ipv6Label), 0x12345);
    assert_eq!(f(&k, Field::NwTos), 0xab);
    assert_eq!(f(&k, Field::NwTtl), 255);
    assert_eq!(k.nw_frag(), 0);

    // An extension header that runs past the payload: addresses only, as OVS.
    let bad = cat(&[&ext(17, 2)[..16]]);
    let (k, md) = run(&cat(&[&eth(0x86dd), &ipv6(0, bad.len()), &bad]));
    assert_eq!(k.ipv6_src(), V6_SRC.parse::<Ipv6Addr>().unwrap());
    assert_eq!((k.nw_proto(), f(&k, Field::Ipv6Label), f(&k, Field::NwTtl)), (0, 0, 0));
    assert_eq!((md.l3_ofs, md.l4_ofs), (14, NO_OFFSET));

    // No next header (59): nothing to parse, proto 59.
    let (k, md) = run(&cat(&[&eth(0x86dd), &ipv6(59, 0)]));
    assert_eq!((k.nw_proto(), md.l4_ofs), (59, 54));

    // Payload length past the data: no L3 fields.
    let (k, md) = run(&cat(&[&eth(0x86dd), &ipv6(17, 9), &l4]));
    assert_eq!((k.ipv6_src(), md.l4_ofs), (Ipv6Addr::UNSPECIFIED, NO_OFFSET));
}

pub(super) fn frag6(next: u8, offset: u16, mf: bool) -> Vec<u8> {
    let offlg = offset << 3 | u16::from(mf);
    cat(&[&[next, 0], &offlg.to_be_bytes(), &[0, 0, 0, 1]])
}

#[test]
fn ipv6_fragments() {
    let l4 = tcp(22, 2222, 0x5002);
    // First fragment behind a hop-by-hop header: L4 read.
    let body = cat(&[&ext(44, 0), &frag6(6, 0, true), &l4]);
    let (k, md) = run(&cat(&[&eth(0x86dd), &ipv6(0, body.len()), &body]));
    assert_eq!(k.nw_frag(), FRAG_ANY);
    assert_eq!((k.nw_proto(), k.tp_src(), k.tcp_flags()), (6, 22, 0x002));
    assert_eq!(md.l4_ofs, 14 + 40 + 16);

    // Later fragment: OVS reports proto 44 and stops before L4.
    let body = cat(&[&frag6(6, 100, true), &l4]);
    let (k, md) = run(&cat(&[&eth(0x86dd), &ipv6(44, body.len()), &body]));
    assert_eq!(k.nw_frag(), FRAG_ANY | FRAG_LATER);
    assert_eq!((k.nw_proto(), k.tp_src()), (44, 0));
    assert_eq!(md.l4_ofs, 14 + 40 + 8);
    assert_eq!(f(&k, Field::Ipv6Label), 0x12345);

    // Atomic fragment (offset 0, no MF): not a fragment.
    let body = cat(&[&frag6(6, 0, false), &l4]);
    let (k, _) = run(&cat(&[&eth(0x86dd), &ipv6(44, body.len()), &body]));
    assert_eq!((k.nw_frag(), k.nw_proto(), k.tp_src()), (0, 6, 22));
}
