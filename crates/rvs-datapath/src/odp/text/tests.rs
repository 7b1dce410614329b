//! Tests: OVS's own strings, round-trip properties and bad input.

use super::*;
use crate::odp::{DropReason, HashAlg, OdpAction, SetField, UserspaceAction};
use proptest::prelude::*;
use rvs_packet::flow::{Field, FRAG_ANY, FRAG_LATER, TNL_F_KEY, VLAN_CFI};
use rvs_packet::{EthAddr, FlowKey, Mask, OdpPort};

fn key_rt(s: &str) {
    let (k, m) = parse_key(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(format_key(&k, Some(&m)), s);
}

fn act_rt(s: &str) {
    let a = parse_actions(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(format_actions(&a), s);
}

/// Keys from OVS's tests/odp.at (masked values within their masks).
#[test]
fn ovs_keys_round_trip() {
    let eth = "in_port(1),eth(src=00:01:02:03:04:05,dst=10:11:12:13:14:15)";
    for tail in [
        "",
        ",eth_type(0x1234)",
        ",eth_type(0x0800),ipv4(src=35.8.2.41,dst=172.16.0.20,proto=5,tos=0x80,ttl=128,frag=no)",
        ",eth_type(0x0800),ipv4(src=35.8.2.41,dst=172.16.0.20,proto=5,tos=0x81,ttl=128,frag=first)",
        ",eth_type(0x0800),ipv4(src=35.8.2.41,dst=172.16.0.20,proto=5,tos=0x80,ttl=128,frag=later)",
        ",eth_type(0x0800),ipv4(src=35.8.2.41,dst=172.16.0.20,proto=6,tos=0,ttl=128,frag=no),tcp(src=80,dst=8080)",
        ",eth_type(0x0800),ipv4(src=35.8.2.41,dst=172.16.0.20,proto=17,tos=0,ttl=128,frag=no),udp(src=81,dst=6632)",
        ",eth_type(0x0800),ipv4(src=35.8.2.41,dst=172.16.0.20,proto=1,tos=0,ttl=128,frag=no),icmp(type=1,code=2)",
        ",eth_type(0x86dd),ipv6(src=::1,dst=::2,label=0,proto=10,tclass=0x70,hlimit=128,frag=no)",
        ",eth_type(0x86dd),ipv6(src=::1,dst=::2,label=0,proto=6,tclass=0,hlimit=128,frag=no),tcp(src=80,dst=8080)",
        ",eth_type(0x86dd),ipv6(src=::1,dst=::2,label=0,proto=58,tclass=0,hlimit=128,frag=no),icmpv6(type=136,code=0),nd(target=::3,sll=00:05:06:07:08:09,tll=00:0a:0b:0c:0d:0e)",
        ",eth_type(0x0806),arp(sip=1.2.3.4,tip=5.6.7.8,op=1,sha=00:0f:10:11:12:13,tha=00:14:15:16:17:18)",
        ",eth_type(0x8847),mpls(label=100,tc=3,ttl=64,bos=1)",
        ",eth_type(0x8848),mpls(label=1000,tc=4,ttl=200,bos=1)",
        ",eth_type(0x8100),vlan(vid=99,pcp=7),encap(eth_type(0x0800),ipv4(src=35.8.2.41,dst=172.16.0.20,proto=6,tos=0,ttl=128,frag=no),tcp(src=80,dst=8080))",
        ",eth_type(0x0806),arp(sip=1.2.3.0/255.255.255.0,tip=5.6.7.0/255.255.255.0,op=16/0xf0,sha=00:0f:10:11:12:00/ff:ff:ff:ff:ff:00,tha=00:14:15:16:17:00/ff:ff:ff:ff:ff:00)",
        ",eth_type(0x0800),ipv4(src=35.8.2.41,dst=172.16.0.20,proto=6,tos=0,ttl=128,frag=no),tcp(src=0/0xff00,dst=144/0xff)",
        ",eth_type(0x8847),mpls(label=100/0xff,tc=7/7,ttl=64/0xff,bos=1/1)",
        ",eth_type(0x8100),vlan(vid=96/0xff0,pcp=6/0x6),encap(eth_type(0x1234))",
    ] {
        key_rt(&format!("{eth}{tail}"));
    }
    for pre in [
        "skb_priority(0x1234),tunnel(tun_id=0xfedcba9876543210,src=10.10.10.10,dst=20.20.20.20,tos=0x8,ttl=64,flags(key)),skb_mark(0x1234),recirc_id(0),dp_hash(0x5),",
        "tunnel(tun_id=0x54/0xff,src=10.10.10.0/255.255.255.0,dst=20.20.20.0/255.255.255.0,ttl=64,flags(-df+csum+key)),",
        "tunnel(tun_id=0x7f10354,src=10.10.10.10,dst=20.20.20.20,ttl=64,flags(oam|csum|key)),",
        "skb_mark(0x1230/0xfff0),",
        "skb_priority(0x34/0xff),",
    ] {
        key_rt(&format!("{pre}{eth}"));
    }
    key_rt("in_port(1/0xff),eth(src=00:01:02:03:04:00/ff:ff:ff:ff:ff:f0,dst=10:11:12:13:14:10/ff:ff:ff:ff:ff:f0)");
    key_rt("eth_type(0x1230/0xfff0)");
    key_rt("recirc_id(0x1),in_port(2),eth_type(0x86dd),ipv6(src=::/::ff00,frag=no)");
    key_rt("recirc_id(0),in_port(3),eth_type(0x0800),ipv4(proto=6,frag=no),tcp(dst=80),tcp_flags(+syn-ack)");
}

#[test]
fn brief_example_and_plain_forms() {
    let s = "recirc_id(0),in_port(1),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x0800),ipv4(src=198.18.0.1,dst=198.18.0.2,proto=6,tos=0,ttl=64,frag=no),tcp(src=1000,dst=80),tcp_flags(syn)";
    let (k, m) = parse_key(s).unwrap();
    assert_eq!(format_key(&k, Some(&m)), s);
    // Every attribute here is whole, so the implied mask prints the same.
    assert_eq!(format_key(&k, None), s);
    assert_eq!(m, implied_mask(&k));
    assert_eq!(k.tp_dst(), 80);
    assert_eq!(k.tcp_flags(), 2);

    let (k, m) = parse_key("in_port(1),eth_type(0x0800)").unwrap();
    assert_eq!(k.in_port(), OdpPort(1));
    assert!(m.is_exact(Field::EthType) && m.is_exact(Field::InPort));
    assert_eq!(m.get(Field::NwSrc), 0);

    // Masked values are masked on parse.
    let (k, _) = parse_key("eth_type(0x0800),ipv4(src=198.18.0.1/255.255.255.0)").unwrap();
    assert_eq!(k.nw_src(), std::net::Ipv4Addr::new(198, 18, 0, 0));
    // Spaces around items are fine.
    parse_key("in_port(1), eth_type(0x0800), ipv4(src=1.2.3.4, frag=no)").unwrap();
}

#[test]
fn two_vlan_tags() {
    let mut k = FlowKey::new();
    k.set_in_port(OdpPort(4));
    k.set(Field::Vlan0Tpid, 0x88a8);
    k.set(Field::Vlan0Tci, (VLAN_CFI | 100) as u128);
    k.set(Field::Vlan1Tpid, 0x8100);
    k.set(Field::Vlan1Tci, (VLAN_CFI | (3 << 13) | 10) as u128);
    k.set_eth_type(0x86dd);
    k.set_nw_proto(17);
    k.set(Field::NwTtl, 64);
    k.set_tp_src(5353);
    k.set_tp_dst(53);
    let s = format_key(&k, None);
    assert_eq!(
        s,
        "recirc_id(0),in_port(4),eth(src=00:00:00:00:00:00,dst=00:00:00:00:00:00),\
eth_type(0x88a8),vlan(vid=100,pcp=0),encap(eth_type(0x8100),vlan(vid=10,pcp=3),\
encap(eth_type(0x86dd),ipv6(src=::,dst=::,label=0,proto=17,tclass=0,hlimit=64,frag=no),udp(src=5353,dst=53)))"
    );
    let (pk, pm) = parse_key(&s).unwrap();
    assert_eq!((pk, pm), (k, implied_mask(&k)));
    // A third tag is refused.
    let e = parse_key("eth_type(0x8100),vlan(vid=1),encap(eth_type(0x8100),vlan(vid=2),encap(eth_type(0x8100),vlan(vid=3)))").unwrap_err();
    assert!(e.to_string().contains("two VLAN tags"), "{e}");
    // A tag without CFI and with no vid match.
    key_rt("eth_type(0x8100),vlan(cfi=0),encap()");
    key_rt("eth_type(0x8100),vlan(vid=5,cfi=0/0),encap()");
}

#[test]
fn ovs_actions_round_trip() {
    for s in [
        "1,2,3",
        "userspace(pid=1234567,userdata(0102030405060708090a0b0c0d0e0f),actions)",
        "userspace(pid=1234567,userdata(0102030405060708090a0b0c0d0e0f),tunnel_out_port=10)",
        "userspace(pid=9)",
        "set(eth(src=00:01:02:03:04:05,dst=10:11:12:13:14:15))",
        "set(eth(src=00:01:02:03:04:05,dst=10:11:12:13:14:15/ff:ff:ff:00:00:00))",
        "set(ipv4(src=35.8.2.41,dst=172.16.0.20,proto=5,tos=0x80,ttl=128,frag=no))",
        "set(ipv4(src=35.8.2.41,dst=172.16.0.20,proto=5,ttl=128,frag=no))",
        "set(ipv4(src=35.8.2.41/255.255.255.0,dst=172.16.0.20,proto=5,tos=0x80,ttl=128,frag=no))",
        "set(ipv4(src=35.8.2.41/255.255.255.0,tos=0x80,ttl=128,frag=no))",
        "set(ipv4(tos=0/0x3))",
        "set(ipv4(tos=0x80/0xfc))",
        "set(ipv4(ttl=128,frag=no))",
        "set(ipv4(frag=no))",
        "set(ipv4(dst=198.18.0.9))",
        "set(tcp(src=80,dst=8080))",
        "set(tcp(src=80/0xff00,dst=8080))",
        "set(tcp(src=80))",
        "set(tcp(dst=8080))",
        "set(udp(src=81,dst=6632))",
        "set(udp(dst=6633))",
        "set(sctp(src=82/0xff00,dst=6633))",
        "set(icmp(type=1,code=2))",
        "set(ipv6(src=::1,dst=::2,label=0,proto=10,tclass=0x70,hlimit=128,frag=no))",
        "set(ipv6(src=::1,dst=::2))",
        "set(ipv6(label=0,proto=10,tclass=0x70,hlimit=128,frag=no))",
        "set(ipv6(label=0/0xfff,proto=10,tclass=0x70/0x70))",
        "set(icmpv6(type=1,code=2))",
        "set(arp(sip=1.2.3.4,tip=5.6.7.8,op=2,sha=00:0f:10:11:12:13,tha=00:14:15:16:17:18))",
        "set(nd(target=::3,sll=00:05:06:07:08:09,tll=00:0a:0b:0c:0d:0e))",
        "set(skb_priority(0x10))",
        "set(skb_mark(0))",
        "set(skb_mark(0x1/0xff))",
        "push_vlan(vid=12,pcp=0)",
        "push_vlan(vid=13,pcp=5,cfi=0)",
        "push_vlan(tpid=0x9100,vid=13,pcp=5)",
        "push_vlan(tpid=0x88a8,vid=10,pcp=0)",
        "pop_vlan",
        "set(tunnel(tun_id=0xabcdef1234567890,src=1.1.1.1,dst=2.2.2.2,ttl=64,flags(df|csum|key)))",
        "set(tunnel(tun_id=0xabcdef1234567890,src=1.1.1.1,dst=2.2.2.2,ttl=64,flags(key)))",
        "set(tunnel(tun_id=0x1,dst=1.1.1.1,ttl=64,flags(df|key)))",
        "set(tunnel(ipv6_dst=2001:db8::1,ttl=64,tp_dst=4789,flags(0)))",
        "trunc(100)",
        "clone(1)",
        "clone(clone(push_vlan(vid=12,pcp=0),2),1)",
        "recirc(0x1)",
        "recirc(0)",
        "hash(l4(0))",
        "hash(sym_l4(7))",
        "check_pkt_len(size=200,gt(4),le(5))",
        "check_pkt_len(size=200,gt(drop),le(5))",
        "check_pkt_len(size=200,gt(check_pkt_len(size=100,gt(1),le(drop))),le(clone(2),3))",
        "drop",
        "1,drop",
        "drop(invalid_port)",
        "drop(xlate_error_5),2",
        "2,push_vlan(vid=10,pcp=0),3",
    ] {
        act_rt(s);
    }
}

#[test]
fn action_shapes() {
    assert_eq!(parse_actions("drop").unwrap(), vec![]);
    assert_eq!(format_actions(&[]), "drop");
    assert_eq!(
        parse_actions("1,drop").unwrap(),
        vec![OdpAction::Output(OdpPort(1)), OdpAction::Drop(DropReason::Action)]
    );
    assert_eq!(
        parse_actions("drop(xlate_error_5)").unwrap(),
        vec![OdpAction::Drop(DropReason::Xlate(5))]
    );
    assert!(matches!(
        parse_actions("set(ipv4(dst=198.18.0.9))").unwrap()[..],
        [OdpAction::SetMasked { .. }]
    ));
    assert!(matches!(
        parse_actions("set(tcp(src=1,dst=2))").unwrap()[..],
        [OdpAction::Set(SetField::Tcp { src: 1, dst: 2 })]
    ));
    assert_eq!(
        parse_actions("push_vlan(vid=10,pcp=0)").unwrap(),
        vec![OdpAction::PushVlan { tpid: 0x8100, tci: VLAN_CFI | 10 }]
    );
    let u = OdpAction::Userspace(UserspaceAction {
        pid: 1,
        userdata: vec![0x0a, 0x0b],
        tunnel_out_port: None,
        actions: true,
    });
    assert_eq!(u.to_string(), "userspace(pid=1,userdata(0a0b),actions)");
    assert_eq!(OdpAction::Hash { alg: HashAlg::SymL4, basis: 0 }.to_string(), "hash(sym_l4(0))");
    // A masked set with an exact mask is a set.
    let v = SetField::Tcp { src: 1, dst: 2 };
    let full = SetField::Tcp { src: 0xffff, dst: 0xffff };
    assert_eq!(normalize_set(&v, Some(&full)), OdpAction::Set(v));
    assert_eq!(
        format_actions(&[OdpAction::SetMasked { value: Box::new(v), mask: Box::new(full) }]),
        "set(tcp(src=1,dst=2))"
    );
    // [Drop(Action)] is the same as [].
    assert_eq!(normalize_actions(&[OdpAction::Drop(DropReason::Action)]), vec![]);
}

fn err_key(s: &str, want: &str) {
    let e = parse_key(s).expect_err(s).to_string();
    assert!(e.contains(want), "{s}: {e} (wanted {want})");
}

fn err_act(s: &str, want: &str) {
    let e = parse_actions(s).expect_err(s).to_string();
    assert!(e.contains(want), "{s}: {e} (wanted {want})");
}

#[test]
fn bad_input_names_the_problem() {
    err_key("foo(1)", "unknown key attribute \"foo\"");
    err_key("eth_type(0x0800),ipv4(ttl=300)", "ipv4 field ttl: 300 is out of range 0-255");
    err_key("eth_type(0x0800),ipv4(src=1.2.3)", "ipv4 field src: \"1.2.3\" is not an IPv4 address");
    err_key("eth_type(0x0800),ipv4(bogus=1)", "ipv4: unknown field \"bogus\"");
    err_key("eth_type(0x0800),ipv4(ttl=1,ttl=2)", "field ttl is given twice");
    err_key("in_port(1),in_port(2)", "key attribute in_port is given twice");
    err_key("in_port(1", "unbalanced");
    err_key("in_port(1))", "unbalanced");
    err_key("in_port(x)", "in_port field value: \"x\" is not a number");
    err_key("in_port(99999999999)", "out of range 0-4294967295");
    err_key("in_port", "name(...)");
    err_key("eth_type(0x86dd),ipv4(ttl=1)", "ipv4(...) needs eth_type(0x0800)");
    err_key("eth_type(0x0800),ipv4(proto=17),tcp(dst=1)", "tcp(...) needs an IP proto=6");
    err_key(
        "eth(src=00:00:00:00:00:0g)",
        "eth field src: \"00:00:00:00:00:0g\" is not an Ethernet address",
    );
    err_key("eth_type(0x0800),ipv4(frag=sometimes)", "ipv4 field frag");
    err_key(
        "eth_type(0x8847),mpls(label=1048576)",
        "mpls field label: 1048576 is out of range 0-1048575",
    );
    err_key("encap(in_port(1))", "encap(...) needs a vlan(...)");
    err_key(
        "eth_type(0x0800),ipv4(proto=6),tcp_flags(syn|bogus)",
        "tcp_flags field flags: \"bogus\"",
    );
    err_key("in_port(1),,eth()", "an item between commas");
    err_key(
        "eth_type(0x86dd),ipv6(label=0x100000)",
        "ipv6 field label: 0x100000 is out of range 0-1048575",
    );
    err_key("tunnel(flags(bogus))", "tunnel field flags");
    err_key("in_port(1)x", "nothing after");

    err_act("foo", "unknown action \"foo\"");
    err_act("", "expected actions");
    err_act("99999999999", "output field port: 99999999999 is out of range");
    err_act("push_vlan(vid=5000,pcp=0)", "push_vlan field vid: 5000 is out of range 0-4095");
    err_act("push_vlan(vid=5)", "push_vlan needs vid= and pcp=");
    err_act("hash(l3(0))", "hash field algorithm: \"l3\"");
    err_act("userspace(userdata(0a))", "userspace: field pid is missing");
    err_act("userspace(pid=1,userdata(0a0))", "userdata");
    err_act("set(ipv4(ttl=256))", "ipv4 field ttl: 256 is out of range 0-255");
    err_act("set(vlan(vid=5))", "a settable attribute");
    err_act("check_pkt_len(size=70000,gt(1),le(2))", "check_pkt_len field size: 70000");
    err_act("check_pkt_len(size=10,gt(1))", "check_pkt_len: field le is missing");
    err_act("drop(bogus)", "drop field reason: \"bogus\"");
    err_act("pop_vlan(1)", "no arguments");
    err_act("set(tunnel(src=1.1.1.1,ipv6_dst=::1))", "not both");
    let deep = format!("{}1{}", "clone(".repeat(40), ")".repeat(40));
    err_act(&deep, "deeper than 32");
    let deep_ok = format!("{}1{}", "clone(".repeat(32), ")".repeat(32));
    act_rt(&deep_ok);
}

// ---- property tests ----

fn arb_key() -> impl Strategy<Value = FlowKey> {
    (
        prop::array::uniform26(any::<u64>()),
        prop::sample::select(vec![0x0800u16, 0x86dd, 0x0806, 0x8035, 0x8847, 0x8848, 0x1234]),
        prop::sample::select(vec![6u8, 17, 132, 1, 58, 47]),
        0u8..4,
        prop::sample::select(vec![0u8, FRAG_ANY, FRAG_ANY | FRAG_LATER]),
        any::<bool>(),
        0u32..5,
    )
        .prop_map(|(w, et, proto, tags, frag, key_flag, nd)| {
            let mut k = FlowKey { w };
            k.set_eth_type(et);
            k.set_nw_proto(proto);
            k.set_nw_frag(frag);
            // Fields OVS's attributes hold in fewer bits than rvs's layout.
            k.set(Field::Ipv6Label, k.get(Field::Ipv6Label) & 0xfffff);
            if matches!(proto, 1 | 58) {
                k.set_tp_src(k.tp_src() & 0xff);
                k.set_tp_dst(k.tp_dst() & 0xff);
            }
            let tci0 = k.vlan0_tci() | VLAN_CFI;
            let tci1 = k.vlan1_tci() | VLAN_CFI;
            k.set(Field::Vlan0Tci, if tags >= 1 { tci0 } else { 0 }.into());
            k.set(Field::Vlan1Tci, if tags >= 2 { tci1 } else { 0 }.into());
            if et == 0x86dd && proto == 58 && nd > 0 {
                k.set_tp_src(if nd % 2 == 0 { 135 } else { 136 });
                k.set_tp_dst(0);
            }
            if key_flag {
                let f = k.get(Field::TunFlags) | TNL_F_KEY as u128;
                k.set(Field::TunFlags, f);
            }
            if k.get(Field::TunIpv4Dst) % 3 < 1 {
                // Untunnelled packets too.
                for f in
                    [Field::TunIpv4Src, Field::TunIpv4Dst, Field::TunIpv6Src, Field::TunIpv6Dst]
                {
                    k.set(f, 0);
                }
            }
            k
        })
}

/// A mask from the implied (whole-attribute) mask, with some fields
/// dropped and some narrowed to a prefix. Fields that select what the other
/// attributes mean (eth_type, the IP protocol, VLAN presence) stay exact.
fn arb_mask(k: &FlowKey) -> impl Strategy<Value = Mask> {
    let base = implied_mask(k);
    let fields: Vec<Field> = Field::ALL
        .iter()
        .copied()
        .filter(|&f| base.get(f) != 0)
        .filter(|&f| {
            !matches!(f, Field::EthType | Field::NwProto | Field::Vlan0Tci | Field::Vlan1Tci)
        })
        .collect();
    let n = fields.len();
    prop::collection::vec((0u8..4, 0u32..128), n).prop_map(move |choices| {
        let mut m = base;
        for (&f, (c, p)) in fields.iter().zip(choices) {
            let bits = f.spec().bits;
            match c {
                0 => m.set(f, 0),
                1 => {
                    let p = p % bits;
                    let v = if bits == 128 {
                        !(u128::MAX >> p)
                    } else {
                        ((1u128 << bits) - 1) & !((1u128 << (bits - p)) - 1)
                    };
                    m.set(f, v)
                }
                _ => {}
            }
        }
        m
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn key_whole_round_trip(k in arb_key()) {
        let m = implied_mask(&k);
        let s = format_key(&k, None);
        let (pk, pm) = parse_key(&s).map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
        prop_assert_eq!(pm, m, "{}", s);
        prop_assert_eq!(pk, k.masked(&m), "{}", s);
        prop_assert_eq!(format_key(&pk, Some(&pm)), s);
    }

    #[test]
    fn key_masked_round_trip((k, m) in arb_key().prop_flat_map(|k| (Just(k), arb_mask(&k)))) {
        let s = format_key(&k, Some(&m));
        let (pk, pm) = parse_key(&s).map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
        prop_assert_eq!(pm, m, "{}", s);
        prop_assert_eq!(pk, k.masked(&m), "{}", s);
    }

    #[test]
    fn actions_round_trip(a in prop::collection::vec(arb_action(), 0..6)) {
        let s = format_actions(&a);
        let n = normalize_actions(&a);
        let p = parse_actions(&s).map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
        prop_assert_eq!(&p, &n, "{}", s);
        prop_assert_eq!(format_actions(&n), s);
        prop_assert_eq!(normalize_actions(&n), n);
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,80}") {
        let _ = parse_key(&s);
        let _ = parse_actions(&s);
    }

    #[test]
    fn odp_like_text_never_panics(s in "[a-z_0-9(),=/:.+|x-]{0,60}") {
        let _ = parse_key(&s);
        let _ = parse_actions(&s);
    }
}

fn arb_set_field() -> impl Strategy<Value = SetField> {
    let mac = any::<[u8; 6]>().prop_map(EthAddr);
    let ip4 = any::<u32>().prop_map(std::net::Ipv4Addr::from);
    let ip6 = any::<u128>().prop_map(std::net::Ipv6Addr::from);
    prop_oneof![
        (mac.clone(), mac.clone()).prop_map(|(src, dst)| SetField::Eth { src, dst }),
        (ip4.clone(), ip4.clone(), any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()).prop_map(
            |(src, dst, proto, tos, ttl, frag)| SetField::Ipv4 { src, dst, proto, tos, ttl, frag }
        ),
        (
            ip6.clone(),
            ip6.clone(),
            any::<u32>(),
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            any::<u8>()
        )
            .prop_map(|(src, dst, label, proto, tclass, hlimit, frag)| SetField::Ipv6 {
                src,
                dst,
                label,
                proto,
                tclass,
                hlimit,
                frag
            }),
        (any::<u16>(), any::<u16>()).prop_map(|(src, dst)| SetField::Tcp { src, dst }),
        (any::<u16>(), any::<u16>()).prop_map(|(src, dst)| SetField::Udp { src, dst }),
        (any::<u16>(), any::<u16>()).prop_map(|(src, dst)| SetField::Sctp { src, dst }),
        (any::<u8>(), any::<u8>()).prop_map(|(typ, code)| SetField::Icmp { typ, code }),
        (any::<u8>(), any::<u8>()).prop_map(|(typ, code)| SetField::Icmpv6 { typ, code }),
        (ip4.clone(), ip4, any::<u16>(), mac.clone(), mac.clone())
            .prop_map(|(sip, tip, op, sha, tha)| SetField::Arp { sip, tip, op, sha, tha }),
        (ip6, mac.clone(), mac).prop_map(|(target, sll, tll)| SetField::Nd { target, sll, tll }),
        any::<u32>().prop_map(SetField::Priority),
        any::<u32>().prop_map(SetField::Mark),
        (
            any::<u64>(),
            any::<u128>(),
            any::<u128>(),
            any::<bool>(),
            any::<u8>(),
            any::<u8>(),
            any::<u16>(),
            any::<u16>(),
            any::<u16>(),
            0u8..3
        )
            .prop_map(
                |(tun_id, src, dst, ipv6, tos, ttl, tp_src, tp_dst, flags, zeros)| {
                    // Zero fields are printed differently; make them common.
                    let z = |v: u128| if zeros == 0 { 0 } else { v };
                    SetField::Tunnel {
                        tun_id: z(tun_id.into()) as u64,
                        src: z(src),
                        dst,
                        ipv6,
                        tos: z(tos.into()) as u8,
                        ttl,
                        tp_src: z(tp_src.into()) as u16,
                        tp_dst,
                        flags: flags & if zeros == 1 { 0 } else { 0xffff },
                    }
                }
            ),
    ]
}

/// A mask for `v`: the same variant with each field full, zero or random.
fn arb_set_mask(v: SetField) -> impl Strategy<Value = SetField> {
    (arb_set_field(), any::<u64>()).prop_map(move |(r, sel)| {
        // A random field of the same variant when the draw matches; else
        // the value itself, or a mismatched variant (which the normaliser
        // treats as an all-zero mask).
        if std::mem::discriminant(&r) == std::mem::discriminant(&v) {
            r
        } else if sel % 2 == 0 {
            v
        } else {
            r
        }
    })
}

fn arb_leaf_action() -> impl Strategy<Value = OdpAction> {
    prop_oneof![
        any::<u32>().prop_map(|p| OdpAction::Output(OdpPort(p))),
        (
            any::<u32>(),
            prop::collection::vec(any::<u8>(), 0..8),
            prop::option::of(any::<u32>()),
            any::<bool>()
        )
            .prop_map(|(pid, userdata, t, actions)| OdpAction::Userspace(
                UserspaceAction { pid, userdata, tunnel_out_port: t.map(OdpPort), actions }
            )),
        arb_set_field().prop_map(OdpAction::Set),
        arb_set_field().prop_flat_map(|v| (Just(v), arb_set_mask(v))).prop_map(|(value, mask)| {
            OdpAction::SetMasked { value: Box::new(value), mask: Box::new(mask) }
        }),
        (prop::sample::select(vec![0x8100u16, 0x88a8, 0x9100]), any::<u16>())
            .prop_map(|(tpid, tci)| OdpAction::PushVlan { tpid, tci }),
        Just(OdpAction::PopVlan),
        any::<u32>().prop_map(OdpAction::Recirc),
        (any::<bool>(), any::<u32>()).prop_map(|(s, basis)| OdpAction::Hash {
            alg: if s { HashAlg::SymL4 } else { HashAlg::L4 },
            basis
        }),
        any::<u32>().prop_map(OdpAction::Trunc),
        prop::sample::select(DropReason::NAMED.to_vec()).prop_map(OdpAction::Drop),
        any::<u32>().prop_map(|e| OdpAction::Drop(DropReason::Xlate(e))),
    ]
}

fn arb_action() -> impl Strategy<Value = OdpAction> {
    arb_leaf_action().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(OdpAction::Clone),
            (
                any::<u16>(),
                prop::collection::vec(inner.clone(), 0..3),
                prop::collection::vec(inner, 0..3)
            )
                .prop_map(|(pkt_len, gt, le)| OdpAction::CheckPktLen {
                    pkt_len,
                    gt,
                    le
                }),
        ]
    })
}
