//! Tests of [`PacketBuilder`]: it rebuilds captured frames byte for byte, and
//! `etherparse` reads what it builds with the fields it was given.

use super::*;
use crate::wire::captures::*;
use proptest::prelude::*;

fn mac(s: &str) -> EthAddr {
    s.parse().unwrap()
}

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

fn a6() -> Ipv6Addr {
    "2001:db8::1".parse().unwrap()
}
fn b6() -> Ipv6Addr {
    "2001:db8::2".parse().unwrap()
}

#[test]
fn rebuilds_captured_arp_request() {
    let f = PacketBuilder::ethernet(mac("02:00:5e:00:53:0a"), EthAddr::BROADCAST)
        .arp(ArpOperation::Request, mac("02:00:5e:00:53:0a"), A, EthAddr::ZERO, B)
        .build();
    assert_eq!(f, ARP_REQUEST);
}

#[test]
fn rebuilds_captured_icmp_echo_request() {
    let f = PacketBuilder::ethernet(mac("02:00:5e:00:53:0a"), mac("02:00:5e:00:53:0b"))
        .ipv4(A, B, 64)
        .ipv4_fragment(0x0765, true, false, 0)
        .icmpv4_echo(0x1234, 1)
        .payload(b"rvs-wire")
        .build();
    assert_eq!(f, ICMP4_ECHO_REQUEST);
}

#[test]
fn rebuilds_captured_igmp_report_with_router_alert() {
    let f = PacketBuilder::ethernet(mac("02:00:5e:00:53:0a"), mac("01:00:5e:01:02:03"))
        .ipv4(A, Ipv4Addr::new(239, 1, 2, 3), 1)
        .ipv4_fragment(0, true, false, 0)
        .ip_tos(0xc0)
        .ipv4_options(&[0x94, 4, 0, 0])
        .igmp(IgmpType::V2Report, Ipv4Addr::new(239, 1, 2, 3))
        .build();
    assert_eq!(f, IGMP2_REPORT);
}

#[test]
fn rebuilds_captured_neighbor_solicitation() {
    let f = PacketBuilder::ethernet(mac("02:00:5e:00:53:0a"), mac("33:33:ff:00:00:02"))
        .ipv6(a6(), "ff02::1:ff00:2".parse().unwrap(), 255)
        .nd_ns(b6(), Some(mac("02:00:5e:00:53:0a")))
        .build();
    assert_eq!(f, ND_NS);
}

#[test]
fn double_tag_and_mpls_stack() {
    let f = PacketBuilder::ethernet(EthAddr::from_u64(1), EthAddr::from_u64(2))
        .vlan(0x88a8, 20)
        .vlan(0x8100, 0x6000 | 30)
        .mpls(16, 5, 64)
        .mpls(1000, 0, 63)
        .ipv4(A, B, 64)
        .udp(1, 2)
        .build();
    let eth = ethernet::Packet::new_checked(&f[..]).unwrap();
    assert_eq!(eth.ethertype(), EtherType::QinQ);
    let mut tags = vlan::Tags::new(eth.ethertype(), eth.payload());
    let vids: Vec<_> = tags.by_ref().map(|t| t.unwrap().repr.vid).collect();
    assert_eq!(vids, [20, 30]);
    assert_eq!(tags.ethertype(), EtherType::MplsUnicast);
    let mut stack = mpls::Stack::new(&eth.payload()[tags.offset()..]);
    let labels: Vec<_> = stack.by_ref().map(|e| e.unwrap()).collect();
    assert_eq!((labels[0].label, labels[0].bottom), (16, false));
    assert_eq!((labels[1].label, labels[1].bottom), (1000, true));
    let ip = &eth.payload()[tags.offset() + stack.offset()..];
    let ip = ipv4::Packet::new_checked(ip).unwrap();
    assert!(ipv4::Repr::parse(&ip).is_ok());
    let u = udp::Packet::new_checked(ip.payload()).unwrap();
    assert!(u.verify_checksum(&PseudoHeader::V4(A, B)));
}

#[test]
fn sctp_and_ipv6_fragment() {
    let chunk = [0u8, 3, 0, 8, 0xaa, 0xbb, 0xcc, 0xdd]; // DATA-shaped chunk
    let f = PacketBuilder::ethernet(EthAddr::from_u64(1), EthAddr::from_u64(2))
        .ipv6(a6(), b6(), 64)
        .ipv6_fragment(7, true, 0)
        .sctp(5000, 6000, 0x01020304)
        .payload(&chunk)
        .build();
    let ip = ipv6::Packet::new_checked(&f[14..]).unwrap();
    let c = ipv6ext::Chain::walk(ip.next_header(), ip.payload()).unwrap();
    assert_eq!(c.protocol, IpProtocol::Sctp);
    assert_eq!(c.fragment.map(|f| (f.ident, f.more_frags)), Some((7, true)));
    let s = sctp::Packet::new_checked(&ip.payload()[c.offset..]).unwrap();
    let r = sctp::Repr::parse(&s).unwrap();
    assert_eq!((r.src_port, r.dst_port, r.verification_tag), (5000, 6000, 0x01020304));
}

#[test]
fn neighbor_advertisement() {
    let f = PacketBuilder::ethernet(EthAddr::from_u64(1), EthAddr::from_u64(2))
        .ipv6(b6(), a6(), 255)
        .nd_na(b6(), Some(EthAddr::from_u64(1)), (false, true, true))
        .build();
    let ip = ipv6::Packet::new_checked(&f[14..]).unwrap();
    let ph = PseudoHeader::V6(ip.src_addr(), ip.dst_addr());
    let p = icmpv6::Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(p.na_flags(), (false, true, true));
    let r = icmpv6::Repr::parse(&p, Some(&ph)).unwrap();
    assert_eq!(r.target_ll, Some(EthAddr::from_u64(1)));
}

#[test]
#[should_panic(expected = "a transport layer needs .ipv4() or .ipv6()")]
fn tcp_without_ip_panics() {
    PacketBuilder::ethernet(EthAddr::ZERO, EthAddr::ZERO).tcp(1, 2, TcpFlags::SYN).build();
}

#[test]
#[should_panic(expected = "icmpv6 needs .ipv6()")]
fn icmpv6_over_ipv4_panics() {
    PacketBuilder::ethernet(EthAddr::ZERO, EthAddr::ZERO).ipv4(A, B, 64).icmpv6_echo(1, 2).build();
}

#[derive(Debug, Clone)]
enum Net {
    V4(Ipv4Addr, Ipv4Addr),
    V6(Ipv6Addr, Ipv6Addr),
}

#[derive(Debug, Clone, Copy)]
enum Tp {
    Tcp(u16, u16, u16),
    Udp(u16, u16),
    Echo(u16, u16),
}

fn net() -> impl Strategy<Value = Net> {
    prop_oneof![
        (any::<u32>(), any::<u32>()).prop_map(|(a, b)| Net::V4(a.into(), b.into())),
        (any::<u128>(), any::<u128>()).prop_map(|(a, b)| Net::V6(a.into(), b.into())),
    ]
}

fn tp() -> impl Strategy<Value = Tp> {
    prop_oneof![
        (any::<u16>(), any::<u16>(), 0u16..0x200).prop_map(|(a, b, f)| Tp::Tcp(a, b, f)),
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| Tp::Udp(a, b)),
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| Tp::Echo(a, b)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// etherparse, an independent parser, reads back every field the
    /// builder was given, and agrees on the transport checksum.
    #[test]
    fn etherparse_reads_what_the_builder_wrote(
        src in any::<u64>(), dst in any::<u64>(),
        tags in proptest::collection::vec((prop_oneof![Just(0x8100u16), Just(0x88a8u16)], any::<u16>()), 0..=2),
        net in net(), ttl in any::<u8>(), tp in tp(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let (src, dst) = (EthAddr::from_u64(src), EthAddr::from_u64(dst));
        let mut b = PacketBuilder::ethernet(src, dst);
        for &(tpid, tci) in &tags {
            b = b.vlan(tpid, tci);
        }
        b = match net {
            Net::V4(s, d) => b.ipv4(s, d, ttl),
            Net::V6(s, d) => b.ipv6(s, d, ttl),
        };
        b = match (tp, &net) {
            (Tp::Tcp(s, d, f), _) => b.tcp(s, d, TcpFlags(f)),
            (Tp::Udp(s, d), _) => b.udp(s, d),
            (Tp::Echo(i, s), Net::V4(..)) => b.icmpv4_echo(i, s),
            (Tp::Echo(i, s), Net::V6(..)) => b.icmpv6_echo(i, s),
        };
        let frame = b.payload(&payload).build();

        let p = etherparse::SlicedPacket::from_ethernet(&frame).unwrap();
        match p.link {
            Some(etherparse::LinkSlice::Ethernet2(e)) => {
                prop_assert_eq!(e.source(), src.0);
                prop_assert_eq!(e.destination(), dst.0);
            }
            ref other => prop_assert!(false, "link {:?}", other),
        }
        let vids: Vec<u16> = p.link_exts.iter().map(|x| match x {
            etherparse::LinkExtSlice::Vlan(v) => v.vlan_identifier().value(),
            etherparse::LinkExtSlice::Macsec(_) => u16::MAX,
        }).collect();
        let want: Vec<u16> = tags.iter().map(|&(_, tci)| tci & 0xfff).collect();
        prop_assert_eq!(vids, want);
        let ip_payload_len = match (&p.net, &net) {
            (Some(etherparse::NetSlice::Ipv4(ip)), Net::V4(s, d)) => {
                let h = ip.header();
                prop_assert_eq!(h.source_addr(), *s);
                prop_assert_eq!(h.destination_addr(), *d);
                prop_assert_eq!(h.ttl(), ttl);
                prop_assert_eq!(h.header_checksum(), h.to_header().calc_header_checksum());
                ip.payload().payload.len()
            }
            (Some(etherparse::NetSlice::Ipv6(ip)), Net::V6(s, d)) => {
                let h = ip.header();
                prop_assert_eq!(h.source_addr(), *s);
                prop_assert_eq!(h.destination_addr(), *d);
                prop_assert_eq!(h.hop_limit(), ttl);
                ip.payload().payload.len()
            }
            (other, _) => {
                prop_assert!(false, "net {:?}", other);
                unreachable!()
            }
        };
        let (ips, ipd) = match net {
            Net::V4(s, d) => (s.octets().to_vec(), d.octets().to_vec()),
            Net::V6(s, d) => (s.octets().to_vec(), d.octets().to_vec()),
        };
        match (&p.transport, tp) {
            (Some(etherparse::TransportSlice::Tcp(t)), Tp::Tcp(s, d, f)) => {
                prop_assert_eq!((t.source_port(), t.destination_port()), (s, d));
                prop_assert_eq!(t.syn(), f & 2 != 0);
                prop_assert_eq!(t.ack(), f & 0x10 != 0);
                prop_assert_eq!(t.payload(), &payload[..]);
                let want = if ips.len() == 4 {
                    t.calc_checksum_ipv4(ips[..].try_into().unwrap(), ipd[..].try_into().unwrap())
                } else {
                    t.calc_checksum_ipv6(ips[..].try_into().unwrap(), ipd[..].try_into().unwrap())
                }.unwrap();
                prop_assert_eq!(t.checksum(), want);
                prop_assert_eq!(ip_payload_len, 20 + payload.len());
            }
            (Some(etherparse::TransportSlice::Udp(u)), Tp::Udp(s, d)) => {
                prop_assert_eq!((u.source_port(), u.destination_port()), (s, d));
                prop_assert_eq!(u.payload(), &payload[..]);
                let h = u.to_header();
                let want = if ips.len() == 4 {
                    h.calc_checksum_ipv4_raw(ips[..].try_into().unwrap(), ipd[..].try_into().unwrap(), &payload)
                } else {
                    h.calc_checksum_ipv6_raw(ips[..].try_into().unwrap(), ipd[..].try_into().unwrap(), &payload)
                }.unwrap();
                prop_assert_eq!(u.checksum(), want);
            }
            (Some(etherparse::TransportSlice::Icmpv4(i)), Tp::Echo(id, seq)) => {
                prop_assert_eq!(i.icmp_type(), etherparse::Icmpv4Type::EchoRequest(
                    etherparse::IcmpEchoHeader { id, seq }));
                prop_assert_eq!(i.payload(), &payload[..]);
                prop_assert!(i.header().checksum == i.header().icmp_type.calc_checksum(&payload));
            }
            (Some(etherparse::TransportSlice::Icmpv6(i)), Tp::Echo(id, seq)) => {
                prop_assert_eq!(i.icmp_type(), etherparse::Icmpv6Type::EchoRequest(
                    etherparse::IcmpEchoHeader { id, seq }));
                prop_assert_eq!(i.payload(), &payload[..]);
                let want = i.icmp_type().calc_checksum(
                    ips[..].try_into().unwrap(), ipd[..].try_into().unwrap(), &payload).unwrap();
                prop_assert_eq!(i.checksum(), want);
            }
            (other, _) => prop_assert!(false, "transport {:?}", other),
        }
    }
}
