//! Round trips over a corpus of flows checked against ovs-ofctl, property
//! tests (format -> parse is the identity), error cases and the
//! `dump-flows` line format.

use super::*;
use crate::actions::{OfAction, PacketInReason, SubField};
use crate::flow::{Mf, OfMatch};
use crate::flow_mod::{FlowMod, FlowModCommand, FlowModFlags};
use crate::types::{Cookie, OfPort, TableId};
use proptest::prelude::*;
use rvs_packet::EthAddr;
use std::time::Duration;

/// Names ports 10-12 (so the corpus's numbered ports stay numbers).
struct TestNames;

impl PortNames for TestNames {
    fn port_by_name(&self, name: &str) -> Option<OfPort> {
        match name {
            "p1" => Some(OfPort(10)),
            "p2" => Some(OfPort(11)),
            "p-3" => Some(OfPort(12)),
            _ => None,
        }
    }
    fn port_name(&self, p: OfPort) -> Option<String> {
        match p.0 {
            10 => Some("p1".into()),
            11 => Some("p2".into()),
            12 => Some("p-3".into()),
            _ => None,
        }
    }
}

/// A flow_mod printed the way `ovs-ofctl parse-flow` shows the match and
/// actions: `MATCH actions=ACTIONS`.
fn show(fm: &FlowMod, ports: &dyn PortNames) -> String {
    let m = format_match(&fm.match_, fm.priority, ports);
    let a = format_actions(&fm.actions, ports);
    if m.is_empty() {
        format!("actions={a}")
    } else {
        format!("{m} actions={a}")
    }
}

/// (ovs-ofctl options to compare with, or None to skip the comparison;
/// input; canonical output). The canonical outputs of the entries with
/// options were captured from `ovs-ofctl parse-flow` 3.1.
#[rustfmt::skip]
const CORPUS: &[(Option<&[&str]>, &str, &str)] = &[
    (Some(&[]), r#"priority=100,in_port=1,ip,nw_dst=198.18.0.0/24,actions=mod_dl_dst:02:00:00:00:00:01,resubmit(,1)"#, r#"priority=100,ip,in_port=1,nw_dst=198.18.0.0/24 actions=mod_dl_dst:02:00:00:00:00:01,resubmit(,1)"#),
    (Some(&[]), r#"dl_vlan=10,actions=drop"#, r#"dl_vlan=10 actions=drop"#),
    (Some(&[]), r#"dl_vlan=0xffff,actions=drop"#, r#"vlan_tci=0x0000 actions=drop"#),
    (Some(&[]), r#"dl_vlan_pcp=3,actions=drop"#, r#"dl_vlan_pcp=3 actions=drop"#),
    (Some(&[]), r#"dl_vlan=10,dl_vlan_pcp=3,actions="#, r#"dl_vlan=10,dl_vlan_pcp=3 actions=drop"#),
    (Some(&[]), r#"vlan_tci=0x1064/0x1fff,actions=drop"#, r#"dl_vlan=100 actions=drop"#),
    (Some(&[]), r#"vlan_tci=0x1064,actions=drop"#, r#"dl_vlan=100,dl_vlan_pcp=0 actions=drop"#),
    (Some(&[]), r#"vlan_tci=0/0x1000,actions=drop"#, r#"vlan_tci=0x0000/0x1000 actions=drop"#),
    (Some(&[]), r#"vlan_tci=0x3064/0xf0ff,actions=drop"#, r#"vlan_tci=0x3064/0xf0ff actions=drop"#),
    (Some(&[]), r#"ip,nw_tos=16,actions=drop"#, r#"ip,nw_tos=16 actions=drop"#),
    (Some(&[]), r#"ip,ip_dscp=4,actions=drop"#, r#"ip,nw_tos=16 actions=drop"#),
    (Some(&[]), r#"ip,nw_ecn=3,nw_ttl=5,actions=drop"#, r#"ip,nw_ecn=3,nw_ttl=5 actions=drop"#),
    (Some(&[]), r#"ip,ip_frag=no,actions=drop"#, r#"ip,nw_frag=no actions=drop"#),
    (Some(&[]), r#"ip,ip_frag=yes,actions=drop"#, r#"ip,nw_frag=yes actions=drop"#),
    (Some(&[]), r#"ip,ip_frag=first,actions=drop"#, r#"ip,nw_frag=first actions=drop"#),
    (Some(&[]), r#"ip,ip_frag=later,actions=drop"#, r#"ip,nw_frag=later actions=drop"#),
    (Some(&[]), r#"ip,ip_frag=not_later,actions=drop"#, r#"ip,nw_frag=not_later actions=drop"#),
    (Some(&[]), r#"tcp,tcp_flags=+syn-ack,actions=drop"#, r#"tcp,tcp_flags=+syn-ack actions=drop"#),
    (Some(&[]), r#"tcp,tcp_flags=0x002/0x012,actions=drop"#, r#"tcp,tcp_flags=+syn-ack actions=drop"#),
    (Some(&[]), r#"tcp,tcp_flags=0x012,actions=drop"#, r#"tcp,tcp_flags=syn|ack actions=drop"#),
    (Some(&[]), r#"tcp,tcp_flags=0x800,actions=drop"#, r#"tcp,tcp_flags=[800] actions=drop"#),
    (Some(&[]), r#"tcp,tcp_flags=0x200/0x200,actions=drop"#, r#"tcp,tcp_flags=+[200] actions=drop"#),
    (Some(&[]), r#"tcp6,tp_src=80,tp_dst=0x100/0xff00,actions=drop"#, r#"tcp6,tp_src=80,tp_dst=0x100/0xff00 actions=drop"#),
    (Some(&[]), r#"udp,udp_src=53,udp_dst=5353,actions=drop"#, r#"udp,tp_src=53,tp_dst=5353 actions=drop"#),
    (Some(&[]), r#"sctp,sctp_src=80,sctp_dst=81,actions=drop"#, r#"sctp,tp_src=80,tp_dst=81 actions=drop"#),
    (Some(&[]), r#"tcp,tcp_src=1,tcp_dst=2,actions=drop"#, r#"tcp,tp_src=1,tp_dst=2 actions=drop"#),
    (Some(&[]), r#"icmp,icmp_type=8,icmp_code=0,actions=drop"#, r#"icmp,icmp_type=8,icmp_code=0 actions=drop"#),
    (Some(&[]), r#"icmp6,icmpv6_type=135,nd_target=2001:db8::1,nd_sll=00:00:00:00:00:01,actions=drop"#, r#"icmp6,icmp_type=135,nd_target=2001:db8::1,nd_sll=00:00:00:00:00:01 actions=drop"#),
    (Some(&[]), r#"icmp6,icmp_type=136,nd_target=2001:db8::/64,nd_tll=00:00:00:00:00:01,actions=drop"#, r#"icmp6,icmp_type=136,nd_target=2001:db8::/64,nd_tll=00:00:00:00:00:01 actions=drop"#),
    (Some(&[]), r#"ipv6,ipv6_src=2001:db8::/32,ipv6_dst=2001:db8::1,ipv6_label=0x5,nw_proto=47,actions=drop"#, r#"ipv6,ipv6_src=2001:db8::/32,ipv6_dst=2001:db8::1,ipv6_label=0x00005,nw_proto=47 actions=drop"#),
    (Some(&[]), r#"ipv6,ipv6_src=2001:db8::1/ffff::ff,actions=drop"#, r#"ipv6,ipv6_src=2001::1/ffff::ff actions=drop"#),
    (Some(&[]), r#"arp,arp_op=1,arp_spa=198.18.0.1,arp_tpa=198.18.0.0/24,arp_sha=00:00:00:00:00:01,arp_tha=00:00:00:00:00:02/ff:ff:ff:00:00:00,actions=drop"#, r#"arp,arp_spa=198.18.0.1,arp_tpa=198.18.0.0/24,arp_op=1,arp_sha=00:00:00:00:00:01,arp_tha=00:00:00:00:00:00/ff:ff:ff:00:00:00 actions=drop"#),
    (Some(&[]), r#"rarp,arp_op=3,actions=drop"#, r#"rarp,arp_op=3 actions=drop"#),
    (Some(&[]), r#"dl_type=0x1234,actions=drop"#, r#"dl_type=0x1234 actions=drop"#),
    (Some(&[]), r#"dl_type=0x0800,nw_proto=6,actions=drop"#, r#"tcp actions=drop"#),
    (Some(&[]), r#"ip,nw_proto=99,actions=drop"#, r#"ip,nw_proto=99 actions=drop"#),
    (Some(&[]), r#"ip,nw_src=198.18.0.0/255.255.0.255,nw_dst=198.18.1.1,actions=drop"#, r#"ip,nw_src=198.18.0.0/255.255.0.255,nw_dst=198.18.1.1 actions=drop"#),
    (Some(&[]), r#"dl_src=00:00:5e:00:53:01,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=drop"#, r#"dl_src=00:00:5e:00:53:01,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=drop"#),
    (Some(&[]), r#"eth_src=00:00:5e:00:53:01,eth_dst=ff:ff:ff:ff:ff:ff,eth_type=0x88cc,actions=drop"#, r#"dl_src=00:00:5e:00:53:01,dl_dst=ff:ff:ff:ff:ff:ff,dl_type=0x88cc actions=drop"#),
    (Some(&[]), r#"in_port=LOCAL,actions=drop"#, r#"in_port=LOCAL actions=drop"#),
    (Some(&[]), r#"reg0=5,reg1=0x5/0xff,reg15=0xffffffff,actions=drop"#, r#"reg0=0x5,reg1=0x5/0xff,reg15=0xffffffff actions=drop"#),
    (Some(&[]), r#"xreg0=0x100000005,actions=drop"#, r#"reg0=0x1,reg1=0x5 actions=drop"#),
    (Some(&[]), r#"xreg1=0x5/0xff,actions=drop"#, r#"reg3=0x5/0xff actions=drop"#),
    (Some(&[]), r#"xxreg0=0x5,actions=drop"#, r#"reg0=0,reg1=0,reg2=0,reg3=0x5 actions=drop"#),
    (Some(&[]), r#"metadata=0x5/0xff,pkt_mark=0x3/0xf,tun_id=0x5,actions=drop"#, r#"pkt_mark=0x3/0xf,tun_id=0x5,metadata=0x5/0xff actions=drop"#),
    (Some(&[]), r#"tun_id=0x5/0xff,tun_src=198.18.0.1,tun_dst=198.18.0.0/16,actions=drop"#, r#"tun_id=0x5/0xff,tun_src=198.18.0.1,tun_dst=198.18.0.0/16 actions=drop"#),
    (Some(&[]), r#"tun_ipv6_src=2001:db8::5,tun_ipv6_dst=2001:db8::/64,actions=drop"#, r#"tun_ipv6_src=2001:db8::5,tun_ipv6_dst=2001:db8::/64 actions=drop"#),
    (Some(&[]), r#"metadata=0,pkt_mark=0,reg0=0,tun_id=0,actions=drop"#, r#"pkt_mark=0,reg0=0,tun_id=0,metadata=0 actions=drop"#),
    (Some(&[]), r#"recirc_id=5,dp_hash=0x5/0xf,actions=drop"#, r#"recirc_id=0x5,dp_hash=0x5/0xf actions=drop"#),
    (Some(&[]), r#"priority=5,tcp,tcp_flags=+syn,tp_dst=80,tp_src=1,nw_ttl=3,nw_ecn=1,nw_tos=4,ip_frag=no,nw_dst=198.18.1.1,nw_src=198.18.2.0/24,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,dl_src=00:00:00:00:00:01,dl_vlan=3,metadata=0x5,reg3=0x7/0xf,reg0=1,in_port=3,tun_id=0x5,tun_src=198.18.0.1,tun_dst=198.18.0.2/16,pkt_mark=0x3/0xf,actions=drop"#, r#"priority=5,pkt_mark=0x3/0xf,tcp,reg0=0x1,reg3=0x7/0xf,tun_id=0x5,tun_src=198.18.0.1,tun_dst=198.18.0.0/16,metadata=0x5,in_port=3,dl_vlan=3,dl_src=00:00:00:00:00:01,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,nw_src=198.18.2.0/24,nw_dst=198.18.1.1,nw_tos=4,nw_ecn=1,nw_ttl=3,nw_frag=no,tp_src=1,tp_dst=80,tcp_flags=+syn actions=drop"#),
    (Some(&[]), r#"priority=0,actions=drop"#, r#"priority=0 actions=drop"#),
    (Some(&[]), r#"priority=65535 ip actions=drop"#, r#"priority=65535,ip actions=drop"#),
    (Some(&[]), r#"actions=output:2,3,in_port,local,normal,flood,all,controller,controller:100,output:LOCAL,output:NORMAL"#, r#"actions=output:2,output:3,IN_PORT,LOCAL,NORMAL,FLOOD,ALL,CONTROLLER:65535,CONTROLLER:100,LOCAL,NORMAL"#),
    (Some(&[]), r#"actions=controller(reason=no_match,max_len=100,id=3,userdata=01.02.03),controller(reason=invalid_ttl),controller(max_len=65535),controller(max_len=100),controller(id=3)"#, r#"actions=controller(reason=no_match,max_len=100,id=3,userdata=01.02.03),controller(reason=invalid_ttl),CONTROLLER:65535,CONTROLLER:100,controller(id=3)"#),
    (Some(&[]), r#"actions=resubmit:3,resubmit(4,5),resubmit(,6),resubmit(in_port,1),resubmit(3),resubmit(local,)"#, r#"actions=resubmit:3,resubmit(4,5),resubmit(,6),resubmit(,1),resubmit:3,resubmit:LOCAL"#),
    (Some(&[]), r#"actions=output(port=1,max_len=100)"#, r#"actions=output(port=1,max_len=100)"#),
    (Some(&[]), r#"ip,actions=load:0x5->NXM_NX_REG0[],load:0x5->NXM_NX_REG0[0..7],load:0x1->reg1[3],load:0x0102030405->NXM_OF_ETH_DST[],load:1->NXM_OF_IP_DST[],load:0->NXM_NX_REG2[]"#, r#"ip actions=load:0x5->NXM_NX_REG0[],load:0x5->NXM_NX_REG0[0..7],load:0x1->NXM_NX_REG1[3],load:0x102030405->NXM_OF_ETH_DST[],load:0x1->NXM_OF_IP_DST[],load:0->NXM_NX_REG2[]"#),
    (Some(&[]), r#"ip,actions=move:NXM_NX_REG0[]->NXM_NX_REG1[],move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],move:reg0[0..15]->reg1[16..31],move:xxreg0[]->xxreg1[],move:metadata[]->xreg0[],move:ip_dscp[]->reg0[0..5],move:pkt_mark[]->tun_id[0..31]"#, r#"ip actions=move:NXM_NX_REG0[]->NXM_NX_REG1[],move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],move:NXM_NX_REG0[0..15]->NXM_NX_REG1[16..31],move:NXM_NX_XXREG0[]->NXM_NX_XXREG1[],move:OXM_OF_METADATA[]->OXM_OF_PKT_REG0[],move:OXM_OF_IP_DSCP[]->NXM_NX_REG0[0..5],move:NXM_NX_PKT_MARK[]->NXM_NX_TUN_ID[0..31]"#),
    (Some(&[]), r#"ip,actions=mod_dl_src:02:00:00:00:00:01,mod_dl_dst:02:00:00:00:00:02,mod_nw_src:198.18.0.1,mod_nw_dst:198.18.0.2,mod_nw_tos:16"#, r#"ip actions=mod_dl_src:02:00:00:00:00:01,mod_dl_dst:02:00:00:00:00:02,mod_nw_src:198.18.0.1,mod_nw_dst:198.18.0.2,mod_nw_tos:16"#),
    (Some(&[]), r#"tcp,actions=mod_tp_src:1,mod_tp_dst:2,dec_ttl,dec_ttl(1,2),dec_ttl(0)"#, r#"tcp actions=mod_tp_src:1,mod_tp_dst:2,dec_ttl,dec_ttl(1,2),dec_ttl(0)"#),
    (Some(&[]), r#"actions=strip_vlan,mod_vlan_vid:10,mod_vlan_pcp:3"#, r#"actions=strip_vlan,mod_vlan_vid:10,mod_vlan_pcp:3"#),
    (Some(&[]), r#"actions=set_tunnel:0x5,set_tunnel64:0x5,set_tunnel:0x100000000,set_queue:3"#, r#"actions=set_tunnel:0x5,set_tunnel64:0x5,set_tunnel64:0x100000000,set_queue:3"#),
    (Some(&[]), r#"actions=clone(output:1,clone(output:2,resubmit(,3))),note:01.02.ab.cd.ef.00,exit"#, r#"actions=clone(output:1,clone(output:2,resubmit(,3))),note:01.02.ab.cd.ef.00,exit"#),
    (Some(&[]), r#"actions=drop"#, r#"actions=drop"#),
    (Some(&["-O", "OpenFlow11"]), r#"ip,actions=mod_nw_ecn:2,mod_nw_ttl:9"#, r#"ip actions=mod_nw_ecn:2,mod_nw_ttl:9"#),
    (Some(&["-O", "OpenFlow13"]), r#"actions=goto_table:3"#, r#"actions=goto_table:3"#),
    (Some(&["-O", "OpenFlow13"]), r#"actions=write_metadata:0x5/0xff,goto_table:1"#, r#"actions=write_metadata:0x5/0xff,goto_table:1"#),
    (Some(&["-O", "OpenFlow13"]), r#"actions=write_metadata:0x5"#, r#"actions=write_metadata:0x5"#),
    (Some(&["-O", "OpenFlow13"]), r#"actions=clear_actions,write_actions(output:1,set_field:0x5->reg0),goto_table:3"#, r#"actions=clear_actions,write_actions(output:1,set_field:0x5->reg0),goto_table:3"#),
    // OpenFlow 1.0 has no push_vlan and OpenFlow 1.3 turns mod_vlan_vid into set_field.
    (None, r#"actions=push_vlan:0x8100,mod_vlan_vid:10"#, r#"actions=push_vlan:0x8100,mod_vlan_vid:10"#),
    // OVS prints a masked set_field as load after a trip over the wire.
    (None, r#"ip,actions=set_field:198.18.0.0/255.255.255.0->ip_dst,set_field:0x5/0xff->reg0,set_field:02:00:00:00:00:01->eth_dst,set_field:5->nw_ttl"#, r#"ip actions=set_field:198.18.0.0/24->ip_dst,set_field:0x5/0xff->reg0,set_field:02:00:00:00:00:01->eth_dst,set_field:5->nw_ttl"#),
    (None, r#"actions=pop_vlan"#, r#"actions=strip_vlan"#),
    (None, r#"tun_tos=3,tun_ttl=64,skb_priority=0x5,actions=drop"#, r#"skb_priority=0x5,tun_tos=3,tun_ttl=64 actions=drop"#),
    (None, r#"in_port=p1,actions=output:p2,output:"p-3""#, r#"in_port=p1 actions=output:p2,output:"p-3""#),
];

#[test]
fn corpus_prints_canonically_and_round_trips() {
    for (_, input, expected) in CORPUS {
        let fm = parse_flow_mod(input, FlowModCommand::Add, &TestNames)
            .unwrap_or_else(|e| panic!("{input}: {e}"));
        let printed = show(&fm, &TestNames);
        assert_eq!(&printed, expected, "printing {input}");
        let again = parse_flow_mod(&printed, FlowModCommand::Add, &TestNames)
            .unwrap_or_else(|e| panic!("reparsing {printed}: {e}"));
        assert_eq!(again.match_, fm.match_, "{printed}");
        assert_eq!(again.priority, fm.priority, "{printed}");
        assert_eq!(again.actions, fm.actions, "{printed}");
        assert_eq!(show(&again, &TestNames), printed);
    }
}

/// The match and actions `ovs-ofctl parse-flow` printed, as `show` does.
fn ovs_parse_flow(opts: &[&str], flow: &str) -> Result<String, String> {
    let out = std::process::Command::new("ovs-ofctl")
        .args(opts)
        .arg("parse-flow")
        .arg(flow)
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.contains("FLOW_MOD")).ok_or_else(|| {
        format!("no FLOW_MOD line in {text:?} ({})", String::from_utf8_lossy(&out.stderr))
    })?;
    let rest = line.split_once(" ADD ").ok_or("no ADD")?.1;
    let rest = match rest.strip_prefix("table:") {
        Some(r) => r.split_once(' ').ok_or("table only")?.1,
        None => rest,
    };
    if let Some(a) = rest.strip_prefix("actions=") {
        return Ok(format!("actions={a}"));
    }
    let (m, tail) = rest.split_once(' ').ok_or("no actions")?;
    let a = tail.split_once("actions=").ok_or("no actions")?.1;
    Ok(format!("{m} actions={a}"))
}

#[test]
fn corpus_agrees_with_ovs_ofctl() {
    if std::process::Command::new("ovs-ofctl").arg("--version").output().is_err() {
        eprintln!("SKIPPED: ovs-ofctl is not installed, not comparing with OVS's parser");
        return;
    }
    let mut compared = 0;
    for (opts, input, _) in CORPUS {
        let Some(opts) = opts else { continue };
        let ovs =
            ovs_parse_flow(opts, input).unwrap_or_else(|e| panic!("ovs-ofctl on {input}: {e}"));
        let fm = parse_flow_mod(input, FlowModCommand::Add, &NoNames).unwrap();
        assert_eq!(show(&fm, &NoNames), ovs, "{input}");
        compared += 1;
    }
    assert!(compared > 60);
}

#[test]
fn flow_mod_keywords() {
    let fm = parse_flow_mod(
        "table=3,priority=100,cookie=0x1,idle_timeout=10,hard_timeout=20,importance=7,send_flow_rem,check_overlap,reset_counts,out_port=2,in_port=1,ip,nw_dst=198.18.0.0/24,actions=mod_dl_dst:02:00:00:00:00:01,resubmit(,1)",
        FlowModCommand::Add,
        &NoNames,
    )
    .unwrap();
    assert_eq!(fm.table, TableId(3));
    assert_eq!(fm.priority, 100);
    assert_eq!(fm.cookie, Cookie(1));
    assert_eq!((fm.idle_timeout, fm.hard_timeout, fm.importance), (10, 20, 7));
    assert_eq!(
        fm.flags,
        FlowModFlags {
            send_flow_rem: true,
            check_overlap: true,
            reset_counts: true,
            ..Default::default()
        }
    );
    assert_eq!(fm.out_port, OfPort(2));
    assert_eq!(fm.match_.get(Mf::NwDst), (0xc612_0000, 0xffff_ff00));
    assert_eq!(fm.match_.get(Mf::InPort), (1, 0xffff));
    assert_eq!(
        fm.actions,
        vec![
            OfAction::SetEthDst("02:00:00:00:00:01".parse().unwrap()),
            OfAction::Resubmit { in_port: None, table: Some(TableId(1)) }
        ]
    );

    // White space separates fields too.
    let ws = parse_flow_mod(
        "priority=100 ip  nw_dst=198.18.0.0/24 actions=drop",
        FlowModCommand::Add,
        &NoNames,
    )
    .unwrap();
    assert_eq!(ws.match_.get(Mf::NwDst), (0xc612_0000, 0xffff_ff00));
    assert!(ws.actions.is_empty());

    // Deletes need no actions, cover every table by default and match cookies under a mask.
    let del = parse_flow_mod("cookie=0x10/0xf0,tcp", FlowModCommand::Delete, &NoNames).unwrap();
    assert_eq!((del.cookie, del.cookie_mask, del.table), (Cookie(0x10), 0xf0, TableId::ALL));
    let del = parse_flow_mod("", FlowModCommand::DeleteStrict, &NoNames).unwrap();
    assert_eq!(del.match_, OfMatch::catchall());

    // Modify: cookie=V sets a new cookie, cookie=V/M selects.
    let m = parse_flow_mod("cookie=0x5,actions=NORMAL", FlowModCommand::Modify, &NoNames).unwrap();
    assert_eq!((m.new_cookie, m.cookie_mask), (Some(Cookie(5)), 0));
    let m = parse_flow_mod("cookie=0x5/-1,actions=NORMAL", FlowModCommand::ModifyStrict, &NoNames);
    assert!(m.is_err());
    let m =
        parse_flow_mod("cookie=0x5/0xff,actions=NORMAL", FlowModCommand::ModifyStrict, &NoNames)
            .unwrap();
    assert_eq!((m.cookie, m.cookie_mask, m.new_cookie), (Cookie(5), 0xff, None));

    // `actions=` only starts at a field boundary.
    let fm = parse_flow_mod("ip,actions=output:1", FlowModCommand::Add, &NoNames).unwrap();
    assert_eq!(fm.actions, vec![OfAction::output(OfPort(1))]);
}

#[test]
fn later_fields_override_and_vlan_fields_combine() {
    let m = parse_match("dl_vlan=10,dl_vlan_pcp=3", &NoNames).unwrap();
    assert_eq!(m.get(Mf::VlanTci), (0x700a, 0xffff));
    let m = parse_match("dl_vlan_pcp=3,vlan_tci=0x1000/0x1000", &NoNames).unwrap();
    assert_eq!(m.get(Mf::VlanTci), (0x1000, 0x1000));
    let m = parse_match("dl_vlan=0xffff", &NoNames).unwrap();
    assert_eq!(m.get(Mf::VlanTci), (0, 0xffff));
    let m = parse_match("ip,nw_tos=253", &NoNames).unwrap();
    assert_eq!(m.get(Mf::IpDscp), (63, 0x3f));
    let m = parse_match("nw_dst=198.18.0.1,ip", &NoNames).unwrap();
    assert_eq!(m.get(Mf::NwDst).0, 0xc612_0001);
}

fn err(s: &str) -> ParseError {
    match parse_flow_mod(s, FlowModCommand::Add, &NoNames) {
        Ok(fm) => panic!("{s} parsed as {fm:?}"),
        Err(e) => e,
    }
}

#[test]
fn bad_input_is_refused_with_the_field_and_value_named() {
    let cases: &[(&str, &str, &str)] = &[
        ("nw_dst=198.18.0.1,actions=drop", "nw_dst", "198.18.0.1"),
        ("tcp_dst=80,ip,actions=drop", "tcp_dst", "80"),
        ("icmp6,nd_sll=00:00:00:00:00:01,actions=drop", "nd_sll", "00:00:00:00:00:01"),
        ("arp_op=1,actions=drop", "arp_op", "1"),
        ("ip,nw_proto=300,actions=drop", "nw_proto", "300"),
        ("ip,nw_ttl=0x100,actions=drop", "nw_ttl", "0x100"),
        ("reg0=0x100000000,actions=drop", "reg0", "0x100000000"),
        ("tcp,tp_src=70000,actions=drop", "tp_src", "70000"),
        ("dl_vlan=4096,actions=drop", "dl_vlan", "4096"),
        ("dl_vlan_pcp=8,actions=drop", "dl_vlan_pcp", "8"),
        ("ip,nw_dst=198.18.0.300,actions=drop", "nw_dst", "198.18.0.300"),
        ("ip,nw_dst=198.18.0.0/33,actions=drop", "nw_dst", "198.18.0.0/33"),
        ("dl_dst=02:00:00:00:00,actions=drop", "dl_dst", "02:00:00:00:00"),
        ("ip,ip_frag=sometimes,actions=drop", "ip_frag", "sometimes"),
        ("tcp,tcp_flags=+syn-bogus,actions=drop", "tcp_flags", "+syn-bogus"),
        ("ip,nw_ttl=5/0xf,actions=drop", "nw_ttl", "5/0xf"),
        ("in_port=eth0,actions=drop", "in_port", "eth0"),
        ("bogus_field=1,actions=drop", "bogus_field", "1"),
        ("ip=5,actions=drop", "ip", "5"),
        ("priority=70000,actions=drop", "priority", "70000"),
        ("cookie=0x1/0xff,actions=drop", "cookie", "0x1/0xff"),
        ("in_port=1", "actions", "in_port=1"),
        ("actions=output:1,drop", "drop", "drop"),
        ("actions=frobnicate", "frobnicate", "frobnicate"),
        ("actions=output:eth9", "output", "eth9"),
        ("actions=resubmit(,255)", "resubmit", "255"),
        ("actions=load:0x100->NXM_NX_REG0[0..7]", "load", "0x100"),
        ("actions=load:1->NXM_NX_REG0[0..32]", "load", "NXM_NX_REG0[0..32]"),
        ("actions=load:1->NXM_NX_BOGUS[]", "load", "NXM_NX_BOGUS[]"),
        ("actions=load:1->NXM_OF_ETH_TYPE[]", "load", "1->NXM_OF_ETH_TYPE[]"),
        ("actions=move:reg0[0..3]->reg1[0..4]", "move", "reg0[0..3]->reg1[0..4]"),
        ("actions=set_field:1->bogus", "set_field", "bogus"),
        ("actions=set_field:300->nw_ttl", "set_field nw_ttl", "300"),
        ("actions=mod_dl_dst:zz:00:00:00:00:00", "mod_dl_dst", "zz:00:00:00:00:00"),
        ("actions=mod_nw_src:1.2.3", "mod_nw_src", "1.2.3"),
        ("actions=mod_nw_tos:17", "mod_nw_tos", "17"),
        ("actions=mod_nw_ecn:4", "mod_nw_ecn", "4"),
        ("actions=mod_vlan_vid:4096", "mod_vlan_vid", "4096"),
        ("actions=mod_vlan_pcp:8", "mod_vlan_pcp", "8"),
        ("actions=push_vlan:0x0800", "push_vlan", "0x0800"),
        ("actions=controller(reason=boredom)", "controller reason", "boredom"),
        ("actions=note:0g", "note", "0g"),
        ("actions=clone(output:1", "actions", "clone(output:1"),
        ("actions=output:1,,output:2", "actions", "output:1,,output:2"),
    ];
    for (input, field, value) in cases {
        let e = err(input);
        assert_eq!((e.field(), e.value()), (*field, *value), "{input}: {e}");
        let msg = e.to_string();
        assert!(msg.contains(field) && msg.contains(value), "{input}: {msg}");
    }
    // The prerequisite error says what is missing.
    let e = err("nw_dst=198.18.0.1,actions=drop");
    assert_eq!(
        e.to_string(),
        "nw_dst \"198.18.0.1\": nw_dst requires ip (dl_type=0x0800) to be matched too"
    );
    assert!(parse_flow_mod("cookie=0x1,tcp", FlowModCommand::Delete, &NoNames).is_err());
    assert!(parse_flow_mod("table=255,actions=drop", FlowModCommand::Add, &NoNames).is_err());
}

fn stats_line() -> FlowStatsLine {
    let fm = parse_flow_mod(
        "priority=100,ip,nw_dst=198.18.0.0/24,actions=mod_dl_dst:02:00:00:00:00:01,resubmit(,1)",
        FlowModCommand::Add,
        &NoNames,
    )
    .unwrap();
    FlowStatsLine {
        duration: Duration::from_millis(1234),
        idle_timeout: 10,
        priority: fm.priority,
        match_: fm.match_,
        actions: fm.actions,
        ..FlowStatsLine::default()
    }
}

#[test]
fn dump_flows_lines() {
    let l = stats_line();
    assert_eq!(
        format_flow_stats(&l, &NoNames),
        " cookie=0x0, duration=1.234s, table=0, n_packets=0, n_bytes=0, idle_timeout=10, priority=100,ip,nw_dst=198.18.0.0/24 actions=mod_dl_dst:02:00:00:00:00:01,resubmit(,1)"
    );
    assert_eq!(
        format_flow_no_stats(&l, &NoNames),
        " idle_timeout=10, priority=100,ip,nw_dst=198.18.0.0/24 actions=mod_dl_dst:02:00:00:00:00:01,resubmit(,1)"
    );
    let l = FlowStatsLine {
        cookie: Cookie(0x4e00004642a9bd),
        duration: Duration::new(1101005, 692_000_001),
        table: TableId(51),
        n_packets: 206,
        n_bytes: 20884,
        hard_timeout: 600,
        importance: 3,
        flags: FlowModFlags { send_flow_rem: true, check_overlap: true, ..Default::default() },
        idle_age: Some(Duration::from_secs(7)),
        hard_age: Some(Duration::from_secs(9)),
        priority: 0,
        ..FlowStatsLine::default()
    };
    assert_eq!(
        format_flow_stats(&l, &NoNames),
        " cookie=0x4e00004642a9bd, duration=1101005.692000001s, table=51, n_packets=206, n_bytes=20884, hard_timeout=600, send_flow_rem check_overlap importance=3, idle_age=7, hard_age=9, priority=0 actions=drop"
    );
    assert_eq!(
        format_flow_no_stats(&l, &NoNames),
        " cookie=0x4e00004642a9bd, table=51, hard_timeout=600, send_flow_rem check_overlap importance=3, priority=0 actions=drop"
    );
    // hard_age equal to the duration is left out; a default-priority catch-all has no match text.
    let l = FlowStatsLine {
        duration: Duration::from_secs(5),
        hard_age: Some(Duration::from_millis(5500)),
        priority: 32768,
        actions: vec![OfAction::output(OfPort::NORMAL)],
        ..FlowStatsLine::default()
    };
    assert_eq!(
        format_flow_stats(&l, &NoNames),
        " cookie=0x0, duration=5s, table=0, n_packets=0, n_bytes=0, actions=NORMAL"
    );
    assert_eq!(format_flow_no_stats(&l, &NoNames), " actions=NORMAL");
}

#[test]
fn port_names_are_used_only_when_known() {
    let fm = parse_flow_mod(
        "in_port=p1,actions=output:\"p-3\",resubmit:p2",
        FlowModCommand::Add,
        &TestNames,
    )
    .unwrap();
    assert_eq!(fm.match_.get(Mf::InPort).0, 10);
    assert_eq!(show(&fm, &TestNames), "in_port=p1 actions=output:\"p-3\",resubmit:p2");
    assert_eq!(show(&fm, &NoNames), "in_port=10 actions=output:12,resubmit:11");
}

// ---- property tests -------------------------------------------------------

/// Raw randomness for one field: present, value bits, mask bits, "masked".
type Raw = (bool, u128, u128, bool);

fn low(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1 << bits) - 1
    }
}

/// Sets `f` from `r` if present: an exact or (for maskable fields) masked value.
fn put(m: &mut OfMatch, f: Mf, r: &Raw) {
    let (on, v, mk, masked) = *r;
    if !on {
        return;
    }
    let full = low(f.bits());
    let mask = if masked && f.spec().maskable { mk & full } else { full };
    if mask != 0 {
        m.set_masked(f, v, mask);
    }
}

/// Builds a match of protocol `proto` with the fields `raw` turns on,
/// respecting prerequisites and the forms the text syntax can express.
fn build_match(proto: u8, raw: &[Raw]) -> OfMatch {
    let mut m = OfMatch::catchall();
    let mut r = raw.iter();
    let mut next = || *r.next().unwrap();
    for f in
        [Mf::PktMark, Mf::RecircId, Mf::DpHash, Mf::SkbPriority, Mf::TunId, Mf::TunSrc, Mf::TunDst]
            .into_iter()
            .chain([
                Mf::TunIpv6Src,
                Mf::TunIpv6Dst,
                Mf::TunTos,
                Mf::TunTtl,
                Mf::TunFlags,
                Mf::Metadata,
            ])
            .chain([Mf::DlSrc, Mf::DlDst])
    {
        put(&mut m, f, &next());
    }
    for i in 0..16 {
        let x = next();
        if x.1 % 4 == 0 {
            put(&mut m, Mf::Reg(i), &x);
        }
    }
    let x = next();
    if x.0 {
        let p = (x.1 % 0xff00) as u16;
        let p = if p == 0 { OfPort::LOCAL } else { OfPort(p) };
        m.set(Mf::InPort, u128::from(p.0));
    }
    let x = next();
    if x.0 {
        let tci = x.1 as u16;
        let mask = match x.2 % 4 {
            0 => 0x1fff,
            1 => 0xf000,
            2 => 0xffff,
            _ => (x.2 >> 8) as u16 | 1,
        };
        let tci = if x.2 % 4 < 3 { tci | 0x1000 } else { tci };
        m.set_masked(Mf::VlanTci, u128::from(tci), u128::from(mask));
    }
    let (dl, nw): (u16, Option<u8>) = match proto % 13 {
        0 => return m,
        1 => (0x0800, None),
        2 => (0x86dd, None),
        3 => (0x0800, Some(6)),
        4 => (0x86dd, Some(6)),
        5 => (0x0800, Some(17)),
        6 => (0x86dd, Some(132)),
        7 => (0x0800, Some(1)),
        8 => (0x86dd, Some(58)),
        9 => (0x0806, None),
        10 => (0x8035, None),
        11 => (0x88cc, None),
        _ => (0x0800, Some(99)),
    };
    m.set(Mf::DlType, u128::from(dl));
    if let Some(p) = nw {
        m.set(Mf::NwProto, u128::from(p));
    }
    let ip = dl == 0x0800 || dl == 0x86dd;
    if ip {
        let l3: &[Mf] = if dl == 0x0800 {
            &[Mf::NwSrc, Mf::NwDst]
        } else {
            &[Mf::Ipv6Src, Mf::Ipv6Dst, Mf::Ipv6Label]
        };
        for f in l3 {
            put(&mut m, *f, &next());
        }
        for f in [Mf::IpDscp, Mf::NwEcn, Mf::NwTtl] {
            put(&mut m, f, &next());
        }
        let x = next();
        if x.0 {
            let (v, mk) = [(0, 1), (1, 1), (1, 3), (3, 3), (0, 2)][(x.1 % 5) as usize];
            m.set_masked(Mf::IpFrag, v, mk);
        }
    }
    match (dl, nw) {
        (_, Some(6 | 17 | 132)) => {
            put(&mut m, Mf::TpSrc, &next());
            put(&mut m, Mf::TpDst, &next());
            if nw == Some(6) {
                put(&mut m, Mf::TcpFlags, &next());
            }
        }
        (_, Some(1)) => {
            put(&mut m, Mf::IcmpType, &next());
            put(&mut m, Mf::IcmpCode, &next());
        }
        (_, Some(58)) => {
            let x = next();
            put(&mut m, Mf::IcmpCode, &next());
            if x.0 {
                let t = [135u128, 136, 1][(x.1 % 3) as usize];
                m.set(Mf::Icmpv6Type, t);
                if t != 1 {
                    put(&mut m, Mf::NdTarget, &next());
                    put(&mut m, if t == 135 { Mf::NdSll } else { Mf::NdTll }, &next());
                }
            }
        }
        (0x0806 | 0x8035, _) => {
            for f in [Mf::ArpSpa, Mf::ArpTpa, Mf::ArpOp, Mf::ArpSha, Mf::ArpTha] {
                put(&mut m, f, &next());
            }
        }
        _ => {}
    }
    m
}

fn arb_raw() -> impl Strategy<Value = Raw> {
    (any::<u8>(), any::<u128>(), any::<u128>(), any::<bool>())
        .prop_map(|(on, v, m, k)| (on % 3 == 0, v, m, k))
}

fn arb_match() -> impl Strategy<Value = (OfMatch, u16)> {
    (any::<u8>(), prop::collection::vec(arb_raw(), 64), any::<u16>())
        .prop_map(|(p, raw, prio)| (build_match(p, &raw), prio))
}

fn arb_port() -> impl Strategy<Value = OfPort> {
    prop_oneof![
        (1u16..0xff00).prop_map(OfPort),
        Just(OfPort::IN_PORT),
        Just(OfPort::LOCAL),
        Just(OfPort::NORMAL),
        Just(OfPort::FLOOD),
        Just(OfPort::ALL),
    ]
}

/// Fields actions may write, with a value that fits a port for in_port.
fn writable_fields() -> Vec<Mf> {
    Mf::all().into_iter().filter(|f| f.spec().writable).collect()
}

fn arb_set_field() -> impl Strategy<Value = OfAction> {
    let fields = writable_fields();
    (0..fields.len(), any::<u128>(), any::<u128>(), any::<bool>(), any::<u8>(), any::<u8>())
        .prop_map(move |(i, v, mk, load, a, b)| {
            let field = fields[i];
            let full = low(field.bits());
            if field == Mf::InPort {
                return OfAction::SetField { field, value: v % 0xff00, mask: full, load: false };
            }
            if load {
                let bits = field.bits();
                let ofs = u32::from(a) % bits;
                let n = 1 + u32::from(b) % (bits - ofs);
                let sf = SubField { field, ofs, n_bits: n };
                OfAction::SetField { field, value: v & sf.mask(), mask: sf.mask(), load: true }
            } else {
                let mask = if field.spec().maskable && a % 2 == 0 { mk & full } else { full };
                OfAction::SetField { field, value: v & mask, mask, load: false }
            }
        })
}

fn arb_move() -> impl Strategy<Value = OfAction> {
    let all = Mf::all();
    let writable = writable_fields();
    (0..all.len(), 0..writable.len(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(
        move |(s, d, a, b, c)| {
            let (src, dst) = (all[s], writable[d]);
            let n = 1 + a % src.bits().min(dst.bits());
            let so = b % (src.bits() - n + 1);
            let dof = c % (dst.bits() - n + 1);
            OfAction::Move {
                src: SubField { field: src, ofs: so, n_bits: n },
                dst: SubField { field: dst, ofs: dof, n_bits: n },
            }
        },
    )
}

fn arb_leaf() -> impl Strategy<Value = OfAction> {
    let reason = prop_oneof![
        Just(PacketInReason::Action),
        Just(PacketInReason::NoMatch),
        Just(PacketInReason::InvalidTtl)
    ];
    prop_oneof![
        arb_port().prop_map(OfAction::output),
        (arb_port(), 1u16..).prop_map(|(port, max_len)| OfAction::Output { port, max_len }),
        (any::<u16>(), reason, any::<u16>(), prop::collection::vec(any::<u8>(), 0..4)).prop_map(
            |(max_len, reason, id, userdata)| OfAction::Controller {
                max_len,
                reason,
                id,
                userdata
            }
        ),
        (prop::option::of(arb_port()), prop::option::of(0u8..255)).prop_map(|(in_port, t)| {
            OfAction::Resubmit {
                in_port: in_port.filter(|p| *p != OfPort::IN_PORT),
                table: t.map(TableId),
            }
        }),
        (0u8..255).prop_map(|t| OfAction::GotoTable(TableId(t))),
        (any::<u64>(), any::<u64>())
            .prop_map(|(v, m)| OfAction::WriteMetadata { value: v & m, mask: m }),
        arb_set_field(),
        arb_move(),
        any::<[u8; 6]>().prop_map(|a| OfAction::SetEthSrc(EthAddr(a))),
        any::<[u8; 6]>().prop_map(|a| OfAction::SetEthDst(EthAddr(a))),
        any::<u32>().prop_map(|a| OfAction::SetIpv4Src(a.into())),
        any::<u32>().prop_map(|a| OfAction::SetIpv4Dst(a.into())),
        (0u8..64).prop_map(OfAction::SetIpDscp),
        (0u8..4).prop_map(OfAction::SetIpEcn),
        any::<u8>().prop_map(OfAction::SetIpTtl),
        any::<u16>().prop_map(OfAction::SetL4Src),
        any::<u16>().prop_map(OfAction::SetL4Dst),
        prop::collection::vec(any::<u16>(), 0..3).prop_map(OfAction::DecTtl),
        prop_oneof![Just(0x8100u16), Just(0x88a8)].prop_map(OfAction::PushVlan),
        Just(OfAction::PopVlan),
        (0u16..4096).prop_map(OfAction::SetVlanVid),
        (0u8..8).prop_map(OfAction::SetVlanPcp),
        (any::<u64>(), any::<bool>()).prop_map(|(id, wide)| OfAction::SetTunnel {
            id,
            wide: wide || id > u64::from(u32::MAX)
        }),
        any::<u32>().prop_map(OfAction::SetQueue),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(OfAction::Note),
        Just(OfAction::Exit),
        Just(OfAction::ClearActions),
    ]
}

fn arb_actions() -> impl Strategy<Value = Vec<OfAction>> {
    let nested = prop_oneof![
        4 => arb_leaf(),
        1 => prop::collection::vec(arb_leaf(), 0..4).prop_map(OfAction::Clone),
        1 => prop::collection::vec(arb_leaf(), 0..4).prop_map(OfAction::WriteActions),
    ];
    let deep = prop::collection::vec(nested, 1..4).prop_map(OfAction::Clone);
    prop::collection::vec(prop_oneof![6 => arb_leaf(), 1 => deep], 0..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn match_format_then_parse_is_identity((m, prio) in arb_match()) {
        let text = format_match(&m, prio, &NoNames);
        let fm = parse_flow_mod(&format!("{text} actions=drop"), FlowModCommand::Add, &NoNames)
            .map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(fm.match_, m, "{}", text);
        prop_assert_eq!(fm.priority, prio);
    }

    #[test]
    fn actions_format_then_parse_is_identity(a in arb_actions()) {
        let text = format_actions(&a, &NoNames);
        let back = parse_actions(&text, &NoNames).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(&back, &a, "{}", text);
        prop_assert_eq!(format_actions(&back, &NoNames), text);
    }
}
