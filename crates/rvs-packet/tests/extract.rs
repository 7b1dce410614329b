//! Tests of one-pass flow extraction (`rvs_packet::flow::extract`):
//! property tests against `etherparse` as the oracle, hand-built packets for
//! what etherparse cannot build or read the way OVS does (ARP, ND, MPLS,
//! LLC/SNAP, IGMP, IPv6 fragments), and every packet of a corpus truncated at
//! every length.

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

// ---------------------------------------------------------------------------
// Property tests against etherparse.

#[derive(Debug, Clone)]
enum L4 {
    Tcp {
        src: u16,
        dst: u16,
        flags: u16,
    },
    Udp {
        src: u16,
        dst: u16,
    },
    Icmp {
        ty: u8,
        code: u8,
        rest: [u8; 4],
    },
    /// A protocol etherparse does not decode (SCTP, IGMP, GRE, ...), given as
    /// raw bytes.
    Raw {
        proto: u8,
        bytes: Vec<u8>,
    },
}

#[derive(Debug, Clone)]
struct V6Exts {
    hop: Option<usize>,
    dest: Option<usize>,
    routing: Option<usize>,
    /// (offset in 8-byte units, more fragments)
    frag: Option<(u16, bool)>,
    /// ICV length in 4-byte units.
    auth: Option<usize>,
}

#[derive(Debug, Clone)]
enum L3 {
    V4 {
        src: [u8; 4],
        dst: [u8; 4],
        dscp: u8,
        ecn: u8,
        ttl: u8,
        df: bool,
        mf: bool,
        frag_off: u16,
        /// Options length in 4-byte units.
        opts: usize,
    },
    V6 {
        src: [u8; 16],
        dst: [u8; 16],
        tc: u8,
        label: u32,
        hlim: u8,
        exts: V6Exts,
    },
}

#[derive(Debug, Clone)]
struct Spec {
    src: [u8; 6],
    dst: [u8; 6],
    /// (pcp, dei, vid) per tag, outer first.
    vlans: Vec<(u8, bool, u16)>,
    l3: L3,
    l4: L4,
    payload: Vec<u8>,
    padding: Vec<u8>,
    md: (u32, u32, u32, u32, u32),
}

fn l4_strategy() -> impl Strategy<Value = L4> {
    prop_oneof![
        (any::<u16>(), any::<u16>(), 0u16..0x200).prop_map(|(src, dst, flags)| L4::Tcp {
            src,
            dst,
            flags
        }),
        (any::<u16>(), any::<u16>()).prop_map(|(src, dst)| L4::Udp { src, dst }),
        (any::<u8>(), any::<u8>(), any::<[u8; 4]>())
            // ND messages are checked by hand: their fields are not ports.
            .prop_filter("not ND", |(t, c, _)| !(*c == 0 && (*t == 135 || *t == 136)))
            .prop_map(|(ty, code, rest)| L4::Icmp { ty, code, rest }),
        (
            prop::sample::select(vec![132u8, 2, 47, 89, 103, 255]),
            prop::collection::vec(any::<u8>(), 0..24)
        )
            .prop_map(|(proto, bytes)| L4::Raw { proto, bytes }),
    ]
}

fn l3_strategy() -> impl Strategy<Value = L3> {
    let v4 = (
        any::<[u8; 4]>(),
        any::<[u8; 4]>(),
        (0u8..64, 0u8..4, any::<u8>()),
        (
            any::<bool>(),
            prop::bool::weighted(0.2),
            prop::sample::select(vec![0u16, 0, 0, 1, 185, 0x1000, 0x1fff]),
        ),
        0usize..=10,
    )
        .prop_map(
            |(src, dst, (dscp, ecn, ttl), (df, mf, frag_off), opts)| L3::V4 {
                src,
                dst,
                dscp,
                ecn,
                ttl,
                df,
                mf,
                frag_off,
                opts,
            },
        );
    let ext_len = || prop::option::weighted(0.3, 0usize..3);
    let exts = (
        ext_len(),
        ext_len(),
        ext_len(),
        prop::option::weighted(
            0.3,
            (
                prop::sample::select(vec![0u16, 0, 1, 0x1fff]),
                any::<bool>(),
            ),
        ),
        prop::option::weighted(0.2, 1usize..4),
    )
        .prop_map(|(hop, dest, routing, frag, auth)| V6Exts {
            hop,
            dest,
            routing,
            frag,
            auth,
        });
    let v6 = (
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        (any::<u8>(), 0u32..=0xfffff, any::<u8>()),
        exts,
    )
        .prop_map(|(src, dst, (tc, label, hlim), exts)| L3::V6 {
            src,
            dst,
            tc,
            label,
            hlim,
            exts,
        });
    prop_oneof![v4, v6]
}

fn spec_strategy() -> impl Strategy<Value = Spec> {
    (
        (any::<[u8; 6]>(), any::<[u8; 6]>()),
        prop::collection::vec((0u8..8, any::<bool>(), 0u16..4096), 0..=2),
        l3_strategy(),
        l4_strategy(),
        prop::collection::vec(any::<u8>(), 0..32),
        prop::collection::vec(any::<u8>(), 0..20),
        any::<(u32, u32, u32, u32, u32)>(),
    )
        .prop_map(|((src, dst), vlans, l3, l4, payload, padding, md)| Spec {
            src,
            dst,
            vlans,
            l3,
            l4,
            payload,
            padding,
            md,
        })
}

fn raw_ext(len_units: usize, fill: u8) -> Ipv6RawExtHeader {
    let payload = vec![fill; 6 + 8 * len_units];
    Ipv6RawExtHeader::new_raw(IpNumber(59), &payload).unwrap()
}

fn vlan_tag(pcp: u8, dei: bool, vid: u16) -> SingleVlanHeader {
    SingleVlanHeader {
        pcp: VlanPcp::try_new(pcp).unwrap(),
        drop_eligible_indicator: dei,
        vlan_id: VlanId::try_new(vid).unwrap(),
        ether_type: 0.into(),
    }
}

/// Builds the packet `s` describes with etherparse's `PacketBuilder`.
fn build(s: &Spec) -> Vec<u8> {
    let ip = match &s.l3 {
        L3::V4 {
            src,
            dst,
            dscp,
            ecn,
            ttl,
            df,
            mf,
            frag_off,
            opts,
        } => {
            let mut h = Ipv4Header::new(0, *ttl, IpNumber(0), *src, *dst).unwrap();
            h.dscp = IpDscp::try_new(*dscp).unwrap();
            h.ecn = IpEcn::try_new(*ecn).unwrap();
            h.dont_fragment = *df;
            h.more_fragments = *mf;
            h.fragment_offset = IpFragOffset::try_new(*frag_off).unwrap();
            // NOP options: any content will do, only the length matters.
            h.options = Ipv4Options::try_from(&vec![1u8; 4 * opts][..]).unwrap();
            IpHeaders::Ipv4(h, Ipv4Extensions::default())
        }
        L3::V6 {
            src,
            dst,
            tc,
            label,
            hlim,
            exts,
        } => {
            let h = Ipv6Header {
                traffic_class: *tc,
                flow_label: Ipv6FlowLabel::try_new(*label).unwrap(),
                payload_length: 0,
                next_header: IpNumber(0),
                hop_limit: *hlim,
                source: *src,
                destination: *dst,
            };
            let icv = vec![0xab; 4 * exts.auth.unwrap_or(0)];
            let e = Ipv6Extensions {
                hop_by_hop_options: exts.hop.map(|n| raw_ext(n, 0x11)),
                destination_options: exts.dest.map(|n| raw_ext(n, 0x22)),
                routing: exts.routing.map(|n| Ipv6RoutingExtensions {
                    routing: raw_ext(n, 0x33),
                    final_destination_options: None,
                }),
                fragment: exts.frag.map(|(off, mf)| {
                    Ipv6FragmentHeader::new(
                        IpNumber(59),
                        IpFragOffset::try_new(off).unwrap(),
                        mf,
                        0x1234_5678,
                    )
                }),
                auth: exts
                    .auth
                    .map(|_| IpAuthHeader::new(IpNumber(59), 1, 2, &icv).unwrap()),
            };
            IpHeaders::Ipv6(h, e)
        }
    };
    let eth = PacketBuilder::ethernet2(s.src, s.dst);
    let step = match s.vlans.as_slice() {
        [] => eth.ip(ip),
        [(p, d, v)] => eth.vlan(VlanHeader::Single(vlan_tag(*p, *d, *v))).ip(ip),
        [(p0, d0, v0), (p1, d1, v1), ..] => eth
            .vlan(VlanHeader::Double(etherparse::DoubleVlanHeader {
                outer: vlan_tag(*p0, *d0, *v0),
                inner: vlan_tag(*p1, *d1, *v1),
            }))
            .ip(ip),
    };
    let is_v6 = matches!(s.l3, L3::V6 { .. });
    let mut out = Vec::new();
    match &s.l4 {
        L4::Tcp { src, dst, flags } => {
            let mut t = TcpHeader::new(*src, *dst, 1, 1000);
            t.fin = flags & 0x001 != 0;
            t.syn = flags & 0x002 != 0;
            t.rst = flags & 0x004 != 0;
            t.psh = flags & 0x008 != 0;
            t.ack = flags & 0x010 != 0;
            t.urg = flags & 0x020 != 0;
            t.ece = flags & 0x040 != 0;
            t.cwr = flags & 0x080 != 0;
            t.ns = flags & 0x100 != 0;
            step.tcp_header(t).write(&mut out, &s.payload).unwrap();
        }
        L4::Udp { src, dst } => step.udp(*src, *dst).write(&mut out, &s.payload).unwrap(),
        L4::Icmp { ty, code, rest } if is_v6 => step
            .icmpv6_raw(*ty, *code, *rest)
            .write(&mut out, &s.payload)
            .unwrap(),
        L4::Icmp { ty, code, rest } => step
            .icmpv4_raw(*ty, *code, *rest)
            .write(&mut out, &s.payload)
            .unwrap(),
        L4::Raw { proto, bytes } => step.write(&mut out, IpNumber(*proto), bytes).unwrap(),
    }
    if let L3::V6 {
        exts: V6Exts {
            frag: Some((off, mf)),
            ..
        },
        ..
    } = s.l3
    {
        // etherparse 0.19 writes the fragment offset and M flag at the wrong
        // bit positions (etherparse issue #150, fixed in 0.20): write them as
        // RFC 8200 section 4.5 has them, the offset in the top 13 bits of
        // bytes 2-3 and M in the lowest bit.
        let at = frag_header_offset(&out);
        out[at + 2..at + 4].copy_from_slice(&(off << 3 | u16::from(mf)).to_be_bytes());
    }
    out.extend_from_slice(&s.padding);
    out
}

/// Where etherparse finds the IPv6 fragment header in `bytes`.
fn frag_header_offset(bytes: &[u8]) -> usize {
    let sp = SlicedPacket::from_ethernet(bytes).unwrap();
    let Some(NetSlice::Ipv6(ip)) = &sp.net else {
        panic!("not IPv6")
    };
    for e in ip.extensions().clone() {
        if let etherparse::Ipv6ExtensionSlice::Fragment(fh) = e {
            return usize::from(offset_in(bytes, fh.slice()));
        }
    }
    panic!("no fragment header")
}

fn offset_in(base: &[u8], part: &[u8]) -> u16 {
    (part.as_ptr() as usize - base.as_ptr() as usize) as u16
}

/// What the key and offsets must be, as read by etherparse.
struct Expected {
    key: FlowKey,
    l3: u16,
    l4: u16,
}

/// Reads `bytes` with etherparse and fills the key OVS would build.
fn oracle(bytes: &[u8], md: &Metadata) -> Expected {
    let sp = SlicedPacket::from_ethernet(bytes).expect("etherparse reads the packet it built");
    let mut k = FlowKey::new();
    k.set_in_port(md.in_port);
    k.set_recirc_id(md.recirc_id);
    k.set(Field::DpHash, md.dp_hash.into());
    k.set(Field::SkbPriority, md.skb_priority.into());
    k.set(Field::PktMark, md.pkt_mark.into());

    let Some(LinkSlice::Ethernet2(eth)) = &sp.link else {
        panic!("no Ethernet header")
    };
    k.set_eth_dst(EthAddr(eth.destination()));
    k.set_eth_src(EthAddr(eth.source()));
    let mut ty = eth.ether_type().0;
    let mut l3 = 14u16;
    let tags = [
        (Field::Vlan0Tpid, Field::Vlan0Tci),
        (Field::Vlan1Tpid, Field::Vlan1Tci),
    ];
    for (ext, (tpid_f, tci_f)) in sp.link_exts.iter().zip(tags) {
        let LinkExtSlice::Vlan(v) = ext else {
            panic!("unexpected link extension")
        };
        let tci = u16::from(v.priority_code_point().value()) << 13
            | u16::from(v.drop_eligible_indicator()) << 12
            | v.vlan_identifier().value();
        k.set(tpid_f, ty.into());
        k.set(tci_f, (tci | VLAN_CFI).into());
        ty = v.ether_type().0;
        l3 += 4;
    }
    k.set_eth_type(ty);

    let (payload, proto, frag, l4) = match sp.net.as_ref().expect("an IP header") {
        NetSlice::Ipv4(ip) => {
            let h = ip.header();
            assert_eq!(offset_in(bytes, h.slice()), l3);
            k.set_nw_src(h.source_addr());
            k.set_nw_dst(h.destination_addr());
            let tos = h.dcp().value() << 2 | h.ecn().value();
            k.set(Field::NwTos, tos.into());
            k.set(Field::NwTtl, h.ttl().into());
            let off = h.fragments_offset().value();
            let frag = if off != 0 {
                FRAG_ANY | FRAG_LATER
            } else if h.more_fragments() {
                FRAG_ANY
            } else {
                0
            };
            let p = ip.payload();
            let proto = h.protocol().0;
            (p.payload, proto, frag, offset_in(bytes, p.payload))
        }
        NetSlice::Ipv6(ip) => {
            let h = ip.header();
            assert_eq!(offset_in(bytes, h.slice()), l3);
            k.set_ipv6_src(h.source_addr());
            k.set_ipv6_dst(h.destination_addr());
            k.set(Field::Ipv6Label, h.flow_label().value().into());
            k.set(Field::NwTos, h.traffic_class().into());
            k.set(Field::NwTtl, h.hop_limit().into());
            let p = ip.payload();
            let mut r = (p.payload, p.ip_number.0, 0u8, offset_in(bytes, p.payload));
            for e in ip.extensions().clone() {
                if let etherparse::Ipv6ExtensionSlice::Fragment(fh) = e {
                    // Read by hand: see `build` on etherparse 0.19's
                    // fragment header bit layout.
                    let offlg = u16::from_be_bytes([fh.slice()[2], fh.slice()[3]]);
                    if offlg != 0 {
                        r.2 = FRAG_ANY;
                        if offlg >> 3 != 0 {
                            // OVS stops at a later fragment's header and
                            // reports the fragment header as the protocol.
                            let end = offset_in(bytes, fh.slice()) + 8;
                            r = (&[][..], 44, FRAG_ANY | FRAG_LATER, end);
                        }
                    }
                    break;
                }
            }
            r
        }
        NetSlice::Arp(_) => panic!("ARP is checked by hand"),
    };
    k.set_nw_proto(proto);
    k.set_nw_frag(frag);

    if frag & FRAG_LATER == 0 {
        let ports = |a: u16, b: u16, k: &mut FlowKey| {
            k.set_tp_src(a);
            k.set_tp_dst(b);
        };
        match proto {
            6 => {
                let t = etherparse::TcpSlice::from_slice(payload).unwrap();
                ports(t.source_port(), t.destination_port(), &mut k);
                let flags = [
                    t.fin(),
                    t.syn(),
                    t.rst(),
                    t.psh(),
                    t.ack(),
                    t.urg(),
                    t.ece(),
                    t.cwr(),
                    t.ns(),
                ]
                .iter()
                .enumerate()
                .fold(0u16, |acc, (i, &b)| acc | u16::from(b) << i);
                k.set(Field::TcpFlags, flags.into());
            }
            17 => {
                let u = etherparse::UdpSlice::from_slice(payload).unwrap();
                ports(u.source_port(), u.destination_port(), &mut k);
            }
            1 => {
                let i = etherparse::Icmpv4Slice::from_slice(payload).unwrap();
                ports(i.type_u8().into(), i.code_u8().into(), &mut k);
            }
            58 => {
                let i = etherparse::Icmpv6Slice::from_slice(payload).unwrap();
                ports(i.type_u8().into(), i.code_u8().into(), &mut k);
            }
            // Not decoded by etherparse: its payload bytes, by RFC layout.
            132 if payload.len() >= 12 => {
                ports(
                    u16::from_be_bytes([payload[0], payload[1]]),
                    u16::from_be_bytes([payload[2], payload[3]]),
                    &mut k,
                );
            }
            2 if payload.len() >= 8 => {
                ports(payload[0].into(), payload[1].into(), &mut k);
                k.set(
                    Field::IgmpGroup,
                    u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]).into(),
                );
            }
            _ => {}
        }
    }
    Expected { key: k, l3, l4 }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn extract_agrees_with_etherparse(s in spec_strategy()) {
        let bytes = build(&s);
        let md = Metadata {
            in_port: OdpPort(s.md.0),
            recirc_id: s.md.1,
            dp_hash: s.md.2,
            skb_priority: s.md.3,
            pkt_mark: s.md.4,
            ..Metadata::default()
        };
        let want = oracle(&bytes, &md);
        let (key, got_md) = run_md(&bytes, md);
        prop_assert_eq!(key, want.key, "packet {:02x?}", bytes);
        prop_assert_eq!(got_md.l2_ofs, 0);
        prop_assert_eq!(got_md.l3_ofs, want.l3);
        prop_assert_eq!(got_md.l4_ofs, want.l4);
        // The offsets point at the headers themselves.
        let l3 = &bytes[got_md.l3_ofs as usize..];
        match s.l3 {
            L3::V4 { src, .. } => prop_assert_eq!(&l3[12..16], &src[..]),
            L3::V6 { src, .. } => prop_assert_eq!(&l3[8..24], &src[..]),
        }
        if key.nw_frag() & FRAG_LATER == 0 {
            let l4 = &bytes[got_md.l4_ofs as usize..];
            match s.l4 {
                L4::Tcp { src, .. } | L4::Udp { src, .. } => {
                    prop_assert_eq!(&l4[..2], &src.to_be_bytes()[..])
                }
                L4::Icmp { ty, .. } => prop_assert_eq!(l4[0], ty),
                L4::Raw { ref bytes, .. } => prop_assert!(l4.starts_with(bytes)),
            }
        }
    }

    /// Arbitrary bytes after an Ethernet header never panic, and whatever is
    /// found lies inside the packet.
    #[test]
    fn arbitrary_bytes_never_panic(
        ty in prop::sample::select(vec![0x0800u16, 0x86dd, 0x0806, 0x8100, 0x88a8, 0x8847, 0x0010, 0x1234]),
        body in prop::collection::vec(any::<u8>(), 0..160),
    ) {
        let mut bytes = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        bytes.extend_from_slice(&ty.to_be_bytes());
        bytes.extend_from_slice(&body);
        let (_, md) = run(&bytes);
        prop_assert_eq!(md.l2_ofs, 0);
        for o in [md.l3_ofs, md.l4_ofs] {
            prop_assert!(o == NO_OFFSET || (o as usize) <= bytes.len());
        }
    }
}

// ---------------------------------------------------------------------------
// Hand-built packets.

const DST: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const SRC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

fn eth(ty: u16) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&DST);
    v.extend_from_slice(&SRC);
    v.extend_from_slice(&ty.to_be_bytes());
    v
}

/// An IPv4 header (no options) with the given protocol, flags/fragment word
/// and payload length.
fn ipv4(proto: u8, frag_word: u16, payload_len: usize) -> Vec<u8> {
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

const V6_SRC: &str = "2001:db8::1";
const V6_DST: &str = "2001:db8::2";

fn ipv6(next: u8, payload_len: usize) -> Vec<u8> {
    let mut h = vec![0x6a, 0xb1, 0x23, 0x45]; // tc 0xab, label 0x12345
    h.extend_from_slice(&(payload_len as u16).to_be_bytes());
    h.extend_from_slice(&[next, 255]);
    h.extend_from_slice(&V6_SRC.parse::<Ipv6Addr>().unwrap().octets());
    h.extend_from_slice(&V6_DST.parse::<Ipv6Addr>().unwrap().octets());
    h
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn udp(src: u16, dst: u16) -> Vec<u8> {
    cat(&[&src.to_be_bytes(), &dst.to_be_bytes(), &[0, 8, 0, 0]])
}

fn tcp(src: u16, dst: u16, off_flags: u16) -> Vec<u8> {
    let mut t = cat(&[
        &src.to_be_bytes(),
        &dst.to_be_bytes(),
        &[0; 8],
        &off_flags.to_be_bytes(),
    ]);
    t.extend_from_slice(&[0; 6]);
    t
}

fn arp(htype: u16, ptype: u16, op: u16) -> Vec<u8> {
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
    assert_eq!(
        f(&k, Field::TunIpv4Src),
        u32::from(Ipv4Addr::new(198, 18, 1, 1)).into()
    );
    assert_eq!(
        f(&k, Field::TunIpv4Dst),
        u32::from(Ipv4Addr::new(198, 18, 1, 2)).into()
    );
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
    let unset = TunnelMetadata {
        dst: None,
        ..md.tunnel
    };
    let (k, _) = run_md(
        &[],
        Metadata {
            tunnel: unset,
            ..md
        },
    );
    assert_eq!(f(&k, Field::TunId), 0);
    assert_eq!(f(&k, Field::TunTtl), 0);
    assert_eq!(f(&k, Field::PktMark), 0x42);
}

#[test]
fn short_frame_sets_no_offsets_and_no_l2_fields() {
    let (k, md) = run(&eth(0x0800)[..13]);
    assert_eq!(
        (md.l2_ofs, md.l3_ofs, md.l4_ofs),
        (NO_OFFSET, NO_OFFSET, NO_OFFSET)
    );
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
        assert_eq!(
            (k.nw_src(), k.nw_proto(), f(&k, Field::ArpSha)),
            (Ipv4Addr::UNSPECIFIED, 0, 0)
        );
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
    let triple = cat(&[
        &DST,
        &SRC,
        &[0x88, 0xa8, 0, 1, 0x81, 0, 0, 2, 0x81, 0, 0, 3, 0x08, 0],
        &ip,
    ]);
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
    let snap = cat(&[
        &eth(ip.len() as u16 + 8),
        &[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00],
        &ip,
    ]);
    let (k, md) = run(&snap);
    assert_eq!(k.eth_type(), 0x0800);
    assert_eq!((md.l3_ofs, md.l4_ofs), (22, 42));
    assert_eq!((k.tp_src(), k.tp_dst(), k.tcp_flags()), (80, 443, 0x012));

    // LLC without SNAP (STP): FLOW_DL_TYPE_NONE, L3 right after the length.
    let stp = cat(&[&eth(38), &[0x42, 0x42, 0x03, 0, 0, 0, 0, 0]]);
    let (k, md) = run(&stp);
    assert_eq!((k.eth_type(), md.l3_ofs), (0x05ff, 14));
    // SNAP with a non-Ethernet OUI, and SNAP with a length-sized type.
    let (k, _) = run(&cat(&[
        &eth(30),
        &[0xaa, 0xaa, 0x03, 0, 0, 0x0c, 0x20, 0x00],
    ]));
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
    assert_eq!(
        f(&k, Field::MplsLse0),
        u32::from_be_bytes(lse(100, false, 64)).into()
    );
    assert_eq!(
        f(&k, Field::MplsLse1),
        u32::from_be_bytes(lse(200, true, 63)).into()
    );
    assert_eq!(f(&k, Field::MplsLse2), 0);
    assert_eq!((md.l3_ofs, md.l4_ofs), (22, NO_OFFSET));
    assert_eq!(
        (k.nw_proto(), k.nw_src()),
        (0, Ipv4Addr::UNSPECIFIED),
        "no L3 under MPLS"
    );

    let four = cat(&[
        &eth(0x8848),
        &lse(1, false, 1),
        &lse(2, false, 2),
        &lse(3, false, 3),
        &lse(4, true, 4),
        &ip,
    ]);
    let (k, md) = run(&four);
    assert_eq!(
        f(&k, Field::MplsLse2),
        u32::from_be_bytes(lse(3, false, 3)).into()
    );
    assert_eq!(md.l3_ofs, 30, "L3 is after the whole stack");

    // No bottom of stack before the end: every label is consumed.
    let (k, md) = run(&cat(&[&eth(0x8847), &lse(7, false, 1), &[0, 0]]));
    assert_eq!(
        f(&k, Field::MplsLse0),
        u32::from_be_bytes(lse(7, false, 1)).into()
    );
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
        assert_eq!(
            (k.nw_src(), k.nw_proto(), k.tp_src()),
            (Ipv4Addr::UNSPECIFIED, 0, 0),
            "{why}"
        );
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
    assert_eq!(
        f(&k, Field::IgmpGroup),
        u32::from(Ipv4Addr::new(239, 1, 2, 3)).into()
    );
    let (k, _) = run(&cat(&[&eth(0x0800), &ipv4(2, 0, 7), &igmp[..7]]));
    assert_eq!((k.tp_src(), f(&k, Field::IgmpGroup)), (0, 0));

    let sctp = cat(&[&5000u16.to_be_bytes(), &6000u16.to_be_bytes(), &[0; 8]]);
    let (k, _) = run(&cat(&[&eth(0x0800), &ipv4(132, 0, 12), &sctp]));
    assert_eq!((k.tp_src(), k.tp_dst()), (5000, 6000));
    let (k, _) = run(&cat(&[&eth(0x0800), &ipv4(132, 0, 11), &sctp[..11]]));
    assert_eq!((k.tp_src(), k.tp_dst()), (0, 0));

    let (k, _) = run(&cat(&[
        &eth(0x0800),
        &ipv4(1, 0, 8),
        &[3, 4, 0, 0, 0, 0, 5, 0xdc],
    ]));
    assert_eq!((k.tp_src(), k.tp_dst()), (3, 4));
}

/// An ICMPv6 ND message (type, code) with a target and options.
fn nd(ty: u8, code: u8, target: &str, opts: &[&[u8]]) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0, 0x60, 0, 0, 0];
    m.extend_from_slice(&target.parse::<Ipv6Addr>().unwrap().octets());
    for o in opts {
        m.extend_from_slice(o);
    }
    cat(&[&eth(0x86dd), &ipv6(58, m.len()), &m])
}

const SLL: [u8; 8] = [1, 1, 0x02, 0xaa, 0, 0, 0, 1];
const TLL: [u8; 8] = [2, 1, 0x02, 0xbb, 0, 0, 0, 2];

#[test]
fn nd_solicit_and_advert_with_options() {
    let (k, md) = run(&nd(135, 0, "2001:db8::99", &[&SLL]));
    assert_eq!((k.tp_src(), k.tp_dst(), k.nw_proto()), (135, 0, 58));
    assert_eq!(
        Ipv6Addr::from(f(&k, Field::NdTarget)),
        "2001:db8::99".parse::<Ipv6Addr>().unwrap()
    );
    assert_eq!(f(&k, Field::ArpSha), 0x02aa_0000_0001);
    assert_eq!(f(&k, Field::ArpTha), 0);
    assert_eq!(md.l4_ofs, 54);

    // An unknown 16-byte option is skipped.
    let other = [14u8, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let (k, _) = run(&nd(136, 0, "2001:db8::98", &[&other, &TLL]));
    assert_eq!(f(&k, Field::ArpTha), 0x02bb_0000_0002);
    assert_eq!(f(&k, Field::ArpSha), 0);
    assert_eq!(
        Ipv6Addr::from(f(&k, Field::NdTarget)),
        "2001:db8::98".parse::<Ipv6Addr>().unwrap()
    );

    // OVS stores either option whichever the message.
    let (k, _) = run(&nd(136, 0, "2001:db8::98", &[&SLL, &TLL]));
    assert_eq!(
        (f(&k, Field::ArpSha), f(&k, Field::ArpTha)),
        (0x02aa_0000_0001, 0x02bb_0000_0002)
    );

    // Code != 0: not ND, only type and code.
    let (k, _) = run(&nd(135, 1, "2001:db8::99", &[&SLL]));
    assert_eq!(
        (
            k.tp_src(),
            k.tp_dst(),
            f(&k, Field::NdTarget),
            f(&k, Field::ArpSha)
        ),
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
    assert_eq!(
        (k.tp_src(), f(&k, Field::NdTarget), f(&k, Field::ArpSha)),
        (135, 0, 0)
    );
    // A zero-length option stops the walk, keeping what was found.
    let zero = [2u8, 0, 0, 0, 0, 0, 0, 0];
    let (k, _) = run(&nd(135, 0, "2001:db8::99", &[&SLL, &zero, &TLL]));
    assert_eq!(
        (f(&k, Field::ArpSha), f(&k, Field::ArpTha)),
        (0x02aa_0000_0001, 0)
    );
    assert_ne!(f(&k, Field::NdTarget), 0);
    // An option longer than what is left stops the walk too.
    let long = [2u8, 3, 0x02, 0xbb, 0, 0, 0, 2];
    let (k, _) = run(&nd(136, 0, "2001:db8::99", &[&long]));
    assert_eq!(f(&k, Field::ArpTha), 0);
    assert_ne!(f(&k, Field::NdTarget), 0);
    // A link-layer option of the wrong size is skipped, not stored.
    let sll16 = [1u8, 2, 0x02, 0xaa, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
    let (k, _) = run(&nd(135, 0, "2001:db8::99", &[&sll16, &TLL]));
    assert_eq!(
        (f(&k, Field::ArpSha), f(&k, Field::ArpTha)),
        (0, 0x02bb_0000_0002)
    );
}

/// A generic IPv6 extension header of `units` 8-byte units after the first.
fn ext(next: u8, units: u8) -> Vec<u8> {
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
    assert_eq!(
        (k.nw_proto(), f(&k, Field::Ipv6Label), f(&k, Field::NwTtl)),
        (0, 0, 0)
    );
    assert_eq!((md.l3_ofs, md.l4_ofs), (14, NO_OFFSET));

    // No next header (59): nothing to parse, proto 59.
    let (k, md) = run(&cat(&[&eth(0x86dd), &ipv6(59, 0)]));
    assert_eq!((k.nw_proto(), md.l4_ofs), (59, 54));

    // Payload length past the data: no L3 fields.
    let (k, md) = run(&cat(&[&eth(0x86dd), &ipv6(17, 9), &l4]));
    assert_eq!(
        (k.ipv6_src(), md.l4_ofs),
        (Ipv6Addr::UNSPECIFIED, NO_OFFSET)
    );
}

fn frag6(next: u8, offset: u16, mf: bool) -> Vec<u8> {
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

// ---------------------------------------------------------------------------
// Truncation.

fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    let lse = |label: u32, bos: bool| (label << 12 | u32::from(bos) << 8 | 64).to_be_bytes();
    let v4_udp = cat(&[&ipv4(17, 0, 8), &udp(67, 68)]);
    let mut v4_opts = ipv4(17, 0, 16);
    v4_opts[0] = 0x47;
    let v6_chain = cat(&[&ext(60, 0), &ext(44, 0), &frag6(17, 0, true), &udp(5, 6)]);
    let igmp = [0x11u8, 0x64, 0, 0, 224, 0, 0, 1];
    vec![
        (
            "tcp4",
            cat(&[
                &eth(0x0800),
                &ipv4(6, 0, 20),
                &tcp(1234, 80, 0x5018),
                &[0; 6],
            ]),
        ),
        (
            "udp4 options",
            cat(&[&eth(0x0800), &v4_opts, &[1; 8], &udp(53, 5353)]),
        ),
        (
            "icmp4",
            cat(&[&eth(0x0800), &ipv4(1, 0, 8), &[8, 0, 0, 0, 0, 1, 0, 1]]),
        ),
        ("igmp", cat(&[&eth(0x0800), &ipv4(2, 0, 8), &igmp])),
        (
            "sctp4",
            cat(&[
                &eth(0x0800),
                &ipv4(132, 0, 12),
                &[0, 9, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0],
            ]),
        ),
        (
            "tcp6",
            cat(&[&eth(0x86dd), &ipv6(6, 20), &tcp(443, 50000, 0x5011)]),
        ),
        (
            "udp6 ext chain",
            cat(&[&eth(0x86dd), &ipv6(0, v6_chain.len()), &v6_chain]),
        ),
        ("ns with sll", nd(135, 0, "2001:db8::7", &[&SLL])),
        ("na with tll", nd(136, 0, "2001:db8::7", &[&TLL])),
        ("arp", cat(&[&eth(0x0806), &arp(1, 0x0800, 2)])),
        (
            "mpls",
            cat(&[&eth(0x8847), &lse(16, false), &lse(17, true), &v4_udp]),
        ),
        (
            "qinq udp4",
            cat(&[
                &DST,
                &SRC,
                &[0x88, 0xa8, 0, 10, 0x81, 0, 0, 20, 0x08, 0],
                &v4_udp,
            ]),
        ),
        (
            "snap udp4",
            cat(&[&eth(36), &[0xaa, 0xaa, 3, 0, 0, 0, 0x08, 0], &v4_udp]),
        ),
        (
            "vlan6 later frag",
            cat(&[
                &DST,
                &SRC,
                &[0x81, 0, 0, 5, 0x86, 0xdd],
                &ipv6(44, 16),
                &frag6(17, 3, false),
                &[0; 8],
            ]),
        ),
    ]
}

/// Bytes the fixed L4 header of `proto` needs.
fn l4_need(proto: u8) -> usize {
    match proto {
        6 => 20,
        132 => 12,
        17 | 1 | 2 | 58 => 8,
        _ => 0,
    }
}

#[test]
fn every_truncation_parses_a_sensible_prefix() {
    let l4_fields = [
        Field::TpSrc,
        Field::TpDst,
        Field::TcpFlags,
        Field::IgmpGroup,
        Field::NdTarget,
    ];
    for (name, full) in corpus() {
        let md = Metadata {
            in_port: OdpPort(1),
            recirc_id: 2,
            ..Metadata::default()
        };
        let (kf, mdf) = run_md(&full, md);
        assert_ne!(mdf.l3_ofs, NO_OFFSET, "{name}: corpus packet parses");
        for n in 0..=full.len() {
            let (k, m) = run_md(&full[..n], md);
            let ctx = format!("{name} cut at {n}: {k:?}");
            assert_eq!((k.in_port(), k.recirc_id()), (OdpPort(1), 2), "{ctx}");
            for o in [m.l2_ofs, m.l3_ofs, m.l4_ofs] {
                assert!(o == NO_OFFSET || usize::from(o) <= n, "{ctx}: offset {o}");
            }
            if n < 14 {
                assert!(k.w[1..].iter().all(|&w| w == 0), "{ctx}");
                assert_eq!(
                    (m.l2_ofs, m.l3_ofs, m.l4_ofs),
                    (NO_OFFSET, NO_OFFSET, NO_OFFSET),
                    "{ctx}"
                );
                continue;
            }
            assert_eq!(m.l2_ofs, 0, "{ctx}");
            assert_eq!(
                (k.eth_src(), k.eth_dst()),
                (kf.eth_src(), kf.eth_dst()),
                "{ctx}"
            );
            assert!(m.l3_ofs != NO_OFFSET && m.l3_ofs <= mdf.l3_ofs, "{ctx}");
            if n >= usize::from(mdf.l3_ofs) {
                for fl in [
                    Field::EthType,
                    Field::Vlan0Tci,
                    Field::Vlan1Tci,
                    Field::Vlan0Tpid,
                    Field::Vlan1Tpid,
                ] {
                    assert_eq!(f(&k, fl), f(&kf, fl), "{ctx}: {fl:?}");
                }
                assert_eq!(m.l3_ofs, mdf.l3_ofs, "{ctx}");
            }
            // Every field found is the field of the whole packet.
            for &fl in Field::ALL {
                let v = f(&k, fl);
                if fl != Field::EthType && v != 0 {
                    assert_eq!(v, f(&kf, fl), "{ctx}: {fl:?}");
                }
            }
            // No L4 field from an incomplete L4 header.
            let l4_present =
                k.w[25] != 0 || f(&k, Field::IgmpGroup) != 0 || f(&k, Field::NdTarget) != 0;
            if l4_present {
                assert_ne!(m.l4_ofs, NO_OFFSET, "{ctx}");
                assert!(
                    n >= usize::from(mdf.l4_ofs) + l4_need(kf.nw_proto()),
                    "{ctx}"
                );
            }
            if m.l4_ofs == NO_OFFSET {
                for fl in l4_fields {
                    assert_eq!(f(&k, fl), 0, "{ctx}: {fl:?}");
                }
            }
        }
        let (k, m) = run_md(&full, md);
        assert_eq!((k, m.l4_ofs), (kf, mdf.l4_ofs), "{name}: deterministic");
    }
}

#[test]
fn corpus_packets_have_their_l4_fields() {
    // Guards the truncation test: its packets must really reach L4.
    for (name, full) in corpus() {
        let (k, md) = run(&full);
        match name {
            "arp" => assert_eq!(k.nw_proto(), 2, "{name}"),
            "mpls" => assert_eq!(f(&k, Field::MplsLse1) & 0x100, 0x100, "{name}"),
            "vlan6 later frag" => assert_eq!((k.nw_frag(), md.l4_ofs), (3, 66), "{name}"),
            _ => assert_ne!(k.tp_src(), 0, "{name}: {k:?}"),
        }
    }
}
