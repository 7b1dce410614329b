//! A corpus of packets, each truncated at every length: no panic, and the
//! key is a sensible prefix of the whole packet's key.

use super::cases::*;
use super::*;

fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    let lse = |label: u32, bos: bool| (label << 12 | u32::from(bos) << 8 | 64).to_be_bytes();
    let v4_udp = cat(&[&ipv4(17, 0, 8), &udp(67, 68)]);
    let mut v4_opts = ipv4(17, 0, 16);
    v4_opts[0] = 0x47;
    let v6_chain = cat(&[&ext(60, 0), &ext(44, 0), &frag6(17, 0, true), &udp(5, 6)]);
    let igmp = [0x11u8, 0x64, 0, 0, 224, 0, 0, 1];
    vec![
        ("tcp4", cat(&[&eth(0x0800), &ipv4(6, 0, 20), &tcp(1234, 80, 0x5018), &[0; 6]])),
        ("udp4 options", cat(&[&eth(0x0800), &v4_opts, &[1; 8], &udp(53, 5353)])),
        ("icmp4", cat(&[&eth(0x0800), &ipv4(1, 0, 8), &[8, 0, 0, 0, 0, 1, 0, 1]])),
        ("igmp", cat(&[&eth(0x0800), &ipv4(2, 0, 8), &igmp])),
        ("sctp4", cat(&[&eth(0x0800), &ipv4(132, 0, 12), &[0, 9, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0]])),
        ("tcp6", cat(&[&eth(0x86dd), &ipv6(6, 20), &tcp(443, 50000, 0x5011)])),
        ("udp6 ext chain", cat(&[&eth(0x86dd), &ipv6(0, v6_chain.len()), &v6_chain])),
        ("ns with sll", nd(135, 0, "2001:db8::7", &[&SLL])),
        ("na with tll", nd(136, 0, "2001:db8::7", &[&TLL])),
        ("arp", cat(&[&eth(0x0806), &arp(1, 0x0800, 2)])),
        ("mpls", cat(&[&eth(0x8847), &lse(16, false), &lse(17, true), &v4_udp])),
        ("qinq udp4", cat(&[&DST, &SRC, &[0x88, 0xa8, 0, 10, 0x81, 0, 0, 20, 0x08, 0], &v4_udp])),
        ("snap udp4", cat(&[&eth(36), &[0xaa, 0xaa, 3, 0, 0, 0, 0x08, 0], &v4_udp])),
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
    let l4_fields =
        [Field::TpSrc, Field::TpDst, Field::TcpFlags, Field::IgmpGroup, Field::NdTarget];
    for (name, full) in corpus() {
        let md = Metadata { in_port: OdpPort(1), recirc_id: 2, ..Metadata::default() };
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
            assert_eq!((k.eth_src(), k.eth_dst()), (kf.eth_src(), kf.eth_dst()), "{ctx}");
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
                assert!(n >= usize::from(mdf.l4_ofs) + l4_need(kf.nw_proto()), "{ctx}");
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
