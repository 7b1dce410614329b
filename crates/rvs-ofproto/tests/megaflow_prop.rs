//! The megaflow property: for random rule sets and packets, every flow that
//! agrees with a translated flow on the bits translation examined gets the
//! same datapath actions from a full translation, so installing the
//! megaflow is correct.

mod support;

use proptest::prelude::*;
use rvs_ofproto::backer::{BridgeSettings, PortSettings};
use rvs_ofproto::flow::{eth_type, OF_WORDS};
use rvs_ofproto::xlate::XlateIn;
use rvs_ofproto::{FailMode, Flow, Mf, OfAction, OfMatch, OfPort, TableId};
use support::*;

/// A small universe of values so that rules and flows collide often.
fn field_value(f: Mf, i: u8) -> u128 {
    match f {
        Mf::InPort => u128::from(1 + i % 3),
        Mf::DlSrc | Mf::DlDst => 0x0200_0000_0000 + u128::from(i % 4),
        Mf::NwSrc | Mf::NwDst => 0xc612_0000 + u128::from(i % 4),
        Mf::TpSrc | Mf::TpDst => u128::from(80 + u16::from(i % 3)),
        Mf::NwTtl => u128::from(1 + i % 3),
        Mf::Reg(_) => u128::from(i % 3),
        Mf::Metadata => u128::from(i % 2),
        _ => u128::from(i),
    }
}

const MATCH_FIELDS: [Mf; 8] =
    [Mf::InPort, Mf::DlSrc, Mf::DlDst, Mf::NwSrc, Mf::NwDst, Mf::TpDst, Mf::Reg(0), Mf::Metadata];

fn arb_match() -> impl Strategy<Value = OfMatch> {
    (
        proptest::collection::vec((0usize..MATCH_FIELDS.len(), any::<u8>(), any::<bool>()), 0..4),
        any::<bool>(),
    )
        .prop_map(|(fields, ip)| {
            let mut m = OfMatch::catchall();
            let mut need_ip = false;
            for (fi, v, prefix) in fields {
                let f = MATCH_FIELDS[fi];
                let mask = if prefix && matches!(f, Mf::NwSrc | Mf::NwDst) {
                    0xffff_fffe
                } else {
                    u128::MAX
                };
                m.set_masked(f, field_value(f, v), mask);
                need_ip |= matches!(f, Mf::NwSrc | Mf::NwDst | Mf::TpDst);
            }
            if need_ip || ip {
                m.set(Mf::DlType, eth_type::IPV4.into());
            }
            if m.wc.get(Mf::TpDst) != 0 {
                m.set(Mf::NwProto, 17);
            }
            m
        })
}

fn arb_action(table: u8) -> impl Strategy<Value = OfAction> {
    let later = (table + 1)..5;
    prop_oneof![
        (1u16..4).prop_map(|p| OfAction::output(OfPort(p))),
        Just(OfAction::output(OfPort::NORMAL)),
        Just(OfAction::output(OfPort::FLOOD)),
        Just(OfAction::output(OfPort::IN_PORT)),
        later.clone().prop_map(|t| OfAction::Resubmit { in_port: None, table: Some(TableId(t)) }),
        (0u8..3).prop_map(|v| OfAction::SetField {
            field: Mf::Reg(0),
            value: v.into(),
            mask: 0xffff_ffff,
            load: true
        }),
        (0u8..2).prop_map(|v| OfAction::WriteMetadata { value: v.into(), mask: 1 }),
        (0u8..4).prop_map(|i| OfAction::SetEthDst(mac(i))),
        (0u8..4).prop_map(|i| OfAction::SetIpv4Dst(std::net::Ipv4Addr::new(198, 18, 0, i))),
        (80u16..83).prop_map(OfAction::SetL4Dst),
        Just(OfAction::DecTtl(vec![])),
        Just(OfAction::PopVlan),
        (1u16..4).prop_map(OfAction::SetVlanVid),
        Just(OfAction::Move {
            src: rvs_ofproto::SubField { field: Mf::DlDst, ofs: 0, n_bits: 8 },
            dst: rvs_ofproto::SubField { field: Mf::Reg(0), ofs: 0, n_bits: 8 },
        }),
        Just(OfAction::Clone(vec![OfAction::SetEthSrc(mac(9)), OfAction::output(OfPort(2))])),
    ]
}

fn arb_rules() -> impl Strategy<Value = Vec<(u8, u16, OfMatch, Vec<OfAction>)>> {
    proptest::collection::vec(
        (0u8..4).prop_flat_map(|t| {
            // Resubmits go forward (to tables up to 4) so rule sets terminate;
            // loops are tested elsewhere.
            (Just(t), 0u16..5, arb_match(), proptest::collection::vec(arb_action(t), 0..4))
        }),
        1..25,
    )
}

fn arb_flow() -> impl Strategy<Value = Flow> {
    (
        proptest::collection::vec(any::<u8>(), MATCH_FIELDS.len()),
        any::<bool>(),
        any::<u8>(),
        any::<bool>(),
    )
        .prop_map(|(vals, ip, ttl, tagged)| {
            let mut f = Flow::default();
            for (i, v) in vals.into_iter().enumerate() {
                let fld = MATCH_FIELDS[i];
                if !matches!(fld, Mf::Reg(_) | Mf::Metadata) {
                    f.set(fld, field_value(fld, v));
                }
            }
            if ip {
                f.set(Mf::DlType, eth_type::IPV4.into());
                f.set(Mf::NwProto, 17);
                f.set(Mf::NwTtl, field_value(Mf::NwTtl, ttl));
            } else {
                f.set(Mf::DlType, eth_type::ARP.into());
                f.set(Mf::TpDst, 0);
                f.set(Mf::NwSrc, 0);
                f.set(Mf::NwDst, 0);
            }
            if tagged {
                f.set(Mf::VlanTci, 0x1000 | u128::from(1 + ttl % 3));
            }
            f
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn megaflow_gives_every_matching_packet_the_same_actions(
        rules in arb_rules(),
        flow in arb_flow(),
        noise in proptest::collection::vec(any::<u64>(), OF_WORDS),
    ) {
        let mut sw = Switch::new();
        sw.bridge("br0", BridgeSettings { fail_mode: FailMode::Secure, ..BridgeSettings::default() });
        for p in ["p1", "p2", "p3"] {
            sw.port("br0", p, PortSettings::default());
        }
        // Some known MACs, so NORMAL's decisions depend on the destination.
        sw.backer.fdb_add("br0", "p1", 0, mac(0)).unwrap();
        sw.backer.fdb_add("br0", "p2", 0, mac(1)).unwrap();
        sw.backer.fdb_add("br0", "p3", 2, mac(2)).unwrap();
        for (t, prio, m, actions) in rules {
            sw.backer.flow_mod("br0", &rule(t, prio, m, actions)).unwrap();
        }
        let xin = |f: Flow| XlateIn { bridge: "br0".into(), flow: f, actions: None, side_effects: false, trace: false, now: sw.backer.now() };
        let a = sw.backer.translate(&xin(flow));
        // Another flow: the same on every examined bit, random elsewhere
        // (within the header words; metadata and registers start at zero).
        let mut other = flow;
        for (i, n) in noise.iter().enumerate().take(26) {
            other.w[i] = (flow.w[i] & a.wc.w[i]) | (n & !a.wc.w[i]);
        }
        // Keep it a packet the datapath could see: in_port valid, and the
        // datapath's invariants (eth_type, VLAN presence, fragment kind)
        // are exact in every megaflow anyway.
        other.set(Mf::InPort, flow.get(Mf::InPort));
        other.set(Mf::DlType, flow.get(Mf::DlType));
        other.set(Mf::VlanTci, flow.get(Mf::VlanTci));
        other.set(Mf::IpFrag, flow.get(Mf::IpFrag));
        other.set(Mf::NwProto, flow.get(Mf::NwProto));
        let b = sw.backer.translate(&xin(other));
        prop_assert_eq!(&a.actions, &b.actions, "wc {:?}\nflow {:?}\nother {:?}", a.wc, flow, other);
    }
}
