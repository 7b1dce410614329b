//! OpenFlow pipelines: multi-table with registers, patch ports between
//! bridges, rule timeouts, revalidation after rule changes, resubmit loops,
//! controller actions and fail modes.

mod support;

use rvs_datapath::Dpif;
use rvs_ofproto::backer::{BridgeSettings, PortSettings};
use rvs_ofproto::flow::eth_type;
use rvs_ofproto::{
    FailMode, FlowMod, FlowModCommand, Mf, OfAction, OfMatch, OfPort, SubField, TableId,
};
use std::time::Duration;
use support::*;

fn secure() -> BridgeSettings {
    BridgeSettings { fail_mode: FailMode::Secure, ..BridgeSettings::default() }
}

fn m_in_port(p: OfPort) -> OfMatch {
    let mut m = OfMatch::catchall();
    m.set(Mf::InPort, p.0.into());
    m
}

#[test]
fn secure_bridge_drops_until_rules_are_added_and_standalone_starts_with_normal() {
    let mut sw = Switch::new();
    sw.bridge("sec", secure());
    sw.port("sec", "s1", PortSettings::default());
    sw.port("sec", "s2", PortSettings::default());
    sw.send("s1", &frame(mac(1), mac(2), None));
    assert!(sw.who_sent(&["s1", "s2", "sec"]).is_empty());
    assert_eq!(sw.backer.with_bridge_read("sec", |b| b.n_rules()).unwrap(), 0);

    sw.bridge("std", BridgeSettings::default());
    let n = sw.backer.with_bridge_read("std", |b| b.n_rules()).unwrap();
    assert_eq!(n, 1, "a standalone bridge starts with priority=0,actions=NORMAL");
}

#[test]
fn multi_table_pipeline_with_registers_and_metadata() {
    let mut sw = Switch::new();
    sw.bridge("br0", secure());
    let p1 = sw.port("br0", "p1", PortSettings::default());
    let p2 = sw.port("br0", "p2", PortSettings::default());
    let p3 = sw.port("br0", "p3", PortSettings::default());
    // table 0: remember the input port in reg0, tag metadata, go on.
    sw.add(
        "br0",
        rule(
            0,
            100,
            m_in_port(p1),
            vec![
                OfAction::SetField {
                    field: Mf::Reg(0),
                    value: 7,
                    mask: u128::from(u32::MAX),
                    load: true,
                },
                OfAction::WriteMetadata { value: 0xab, mask: 0xff },
                OfAction::Resubmit { in_port: None, table: Some(TableId(1)) },
            ],
        ),
    );
    // table 1: copy reg0 into reg1's low byte, then by UDP port.
    sw.add(
        "br0",
        rule(
            1,
            100,
            {
                let mut m = OfMatch::catchall();
                m.set(Mf::Reg(0), 7);
                m
            },
            vec![
                OfAction::Move {
                    src: SubField { field: Mf::Reg(0), ofs: 0, n_bits: 8 },
                    dst: SubField { field: Mf::Reg(1), ofs: 0, n_bits: 8 },
                },
                OfAction::GotoTable(TableId(2)),
            ],
        ),
    );
    let mut to_p2 = OfMatch::catchall();
    to_p2.set(Mf::Reg(1), 7);
    to_p2.set_masked(Mf::Metadata, 0xab, 0xff);
    to_p2.set(Mf::DlType, eth_type::IPV4.into());
    to_p2.set(Mf::NwProto, 17);
    to_p2.set(Mf::UdpDst, 2000);
    sw.add("br0", rule(2, 100, to_p2, vec![OfAction::SetEthDst(mac(0x22)), OfAction::output(p2)]));
    sw.add("br0", rule(2, 50, OfMatch::catchall(), vec![OfAction::output(p3)]));

    sw.send("p1", &frame(mac(1), mac(2), None));
    let out = sw.sent("p2");
    assert_eq!(out.len(), 1);
    assert_eq!(&out[0][..6], &mac(0x22).0, "mod_dl_dst applied");
    assert!(sw.sent("p3").is_empty());
    // The megaflow matched the UDP port (table 2 looked at it) and sets the
    // destination MAC; registers and metadata never reach the datapath.
    let flows = sw.dp_flows();
    assert_eq!(flows.len(), 1, "{flows:?}");
    assert!(flows[0].contains(",udp(dst=2000),"), "{}", flows[0]);
    assert!(flows[0].contains("set(eth(dst=02:00:00:00:00:22))"), "{}", flows[0]);
    // p2's traffic (no rule in table 0) is dropped.
    sw.send("p2", &frame(mac(2), mac(1), None));
    assert!(sw.who_sent(&["p1", "p3"]).is_empty());
    // Rule counters get the datapath's statistics.
    sw.backer.run();
    let counts: Vec<u64> = sw
        .backer
        .with_bridge_read("br0", |b| {
            (0..3)
                .flat_map(|t| {
                    b.tables[t]
                        .iter()
                        .map(|(_, _, r)| r.stats.packets.load(std::sync::atomic::Ordering::Relaxed))
                        .collect::<Vec<_>>()
                })
                .collect()
        })
        .unwrap();
    assert_eq!(counts.iter().sum::<u64>(), 3, "one packet through three rules: {counts:?}");
}

#[test]
fn patch_ports_join_two_bridges_without_a_datapath_port() {
    let mut sw = Switch::new();
    sw.bridge("br0", BridgeSettings::default());
    sw.bridge("br1", BridgeSettings::default());
    sw.port("br0", "p1", PortSettings::default());
    sw.port("br1", "p2", PortSettings::default());
    sw.backer.add_patch_port("br0", "patch-br1", "patch-br0", &PortSettings::default()).unwrap();
    // Half a pair: an error on the port, no crash.
    let err = sw
        .backer
        .with_bridge_read("br0", |b| b.port_by_name("patch-br1").unwrap().error.clone())
        .unwrap();
    assert!(err.unwrap().contains("patch-br0"));
    sw.backer.add_patch_port("br1", "patch-br0", "patch-br1", &PortSettings::default()).unwrap();
    let err = sw
        .backer
        .with_bridge_read("br0", |b| b.port_by_name("patch-br1").unwrap().error.clone())
        .unwrap();
    assert_eq!(err, None);
    assert!(sw.dp.port_query_by_name("patch-br1").is_err(), "patch ports have no datapath port");

    sw.send("p1", &frame(mac(1), mac(2), None));
    assert_eq!(sw.who_sent(&["p1", "p2", "br0", "br1"]), ["p2", "br0", "br1"]);
    sw.send("p2", &frame(mac(2), mac(1), None));
    assert_eq!(sw.who_sent(&["p1", "p2", "br0", "br1"]), ["p1"]);
    // One datapath flow straight from p2 to p1.
    let p1 = sw.odp("p1");
    let p2 = sw.odp("p2");
    let flows = sw.dp_flows();
    assert!(
        flows.iter().any(|f| f.starts_with(&format!("recirc_id(0),in_port({p2}),"))
            && f.ends_with(&format!("actions:{p1}"))),
        "{flows:?}"
    );
    // Learning happened in both bridges.
    assert!(sw.backer.fdb_show("br0").unwrap().contains("02:00:00:00:00:02"));
    assert!(sw.backer.fdb_show("br1").unwrap().contains("02:00:00:00:00:01"));
}

#[test]
fn patch_loop_and_resubmit_loop_are_caught_not_followed() {
    let mut sw = Switch::new();
    sw.bridge("br0", secure());
    let p1 = sw.port("br0", "p1", PortSettings::default());
    sw.add(
        "br0",
        rule(
            0,
            10,
            OfMatch::catchall(),
            vec![OfAction::Resubmit { in_port: None, table: Some(TableId(0)) }],
        ),
    );
    sw.send("p1", &frame(mac(1), mac(2), None));
    let flows = sw.dp_flows();
    assert!(flows[0].contains("drop"), "{flows:?}");
    let t = sw
        .backer
        .trace("br0", &rvs_ofproto::Flow::from_key(&key(&frame(mac(1), mac(2), None)), p1))
        .unwrap();
    assert!(t.contains("over max translation depth 64"), "{t}");

    // Two bridges whose patch ports bounce every packet back.
    sw.bridge("a", secure());
    sw.bridge("b", secure());
    let pa = sw.backer.add_patch_port("a", "a-b", "b-a", &PortSettings::default()).unwrap();
    let pb = sw.backer.add_patch_port("b", "b-a", "a-b", &PortSettings::default()).unwrap();
    sw.add(
        "a",
        rule(
            0,
            1,
            OfMatch::catchall(),
            vec![OfAction::Output { port: pa, max_len: 0 }, OfAction::output(OfPort::IN_PORT)],
        ),
    );
    sw.add("b", rule(0, 1, OfMatch::catchall(), vec![OfAction::output(OfPort::IN_PORT)]));
    let _ = pb;
    let t = sw
        .backer
        .trace("a", &rvs_ofproto::Flow::from_key(&key(&frame(mac(1), mac(2), None)), OfPort::LOCAL))
        .unwrap();
    assert!(t.contains("Translation failed (over max translation depth 64)"), "{t}");
    assert!(t.ends_with("Datapath actions: drop\n"), "{t}");
}

fn key(f: &[u8]) -> rvs_packet::FlowKey {
    let mut p = rvs_packet::Packet::from_bytes(f);
    let mut k = rvs_packet::FlowKey::new();
    rvs_packet::flow::extract(&mut p, &mut k);
    k
}

#[test]
fn a_rule_change_moves_existing_megaflows_to_the_new_path() {
    let mut sw = Switch::new();
    sw.bridge("br0", secure());
    let p1 = sw.port("br0", "p1", PortSettings::default());
    let p2 = sw.port("br0", "p2", PortSettings::default());
    let p3 = sw.port("br0", "p3", PortSettings::default());
    sw.add("br0", rule(0, 10, m_in_port(p1), vec![OfAction::output(p2)]));
    sw.send("p1", &frame(mac(1), mac(2), None));
    assert_eq!(sw.who_sent(&["p2", "p3"]), ["p2"]);
    // Modify: same match, new output.
    sw.backer
        .flow_mod(
            "br0",
            &FlowMod {
                command: FlowModCommand::ModifyStrict,
                priority: 10,
                match_: m_in_port(p1),
                actions: vec![OfAction::output(p3)],
                ..FlowMod::default()
            },
        )
        .unwrap();
    sw.backer.revalidate();
    assert_eq!(sw.dp_flows().len(), 1, "the megaflow was fixed in place");
    sw.send("p1", &frame(mac(1), mac(2), None));
    assert_eq!(sw.who_sent(&["p2", "p3"]), ["p3"]);
    // A higher-priority rule on a field the megaflow doesn't match: the
    // megaflow must go (its mask is too wide now).
    let mut m = m_in_port(p1);
    m.set(Mf::DlType, eth_type::IPV4.into());
    m.set(Mf::NwProto, 17);
    m.set(Mf::UdpSrc, 9999);
    sw.add("br0", rule(0, 20, m, vec![]));
    sw.backer.revalidate();
    assert!(sw.dp_flows().is_empty(), "{:?}", sw.dp_flows());
    sw.send("p1", &frame(mac(1), mac(2), None));
    assert_eq!(sw.who_sent(&["p2", "p3"]), ["p3"]);
    // Delete everything: traffic stops.
    sw.backer
        .flow_mod(
            "br0",
            &FlowMod { command: FlowModCommand::Delete, table: TableId::ALL, ..FlowMod::default() },
        )
        .unwrap();
    sw.backer.revalidate();
    sw.send("p1", &frame(mac(1), mac(2), None));
    assert!(sw.who_sent(&["p2", "p3"]).is_empty());
}

#[test]
fn idle_and_hard_timeouts_expire_rules_and_queue_flow_removed() {
    let mut sw = Switch::new();
    sw.bridge("br0", secure());
    let p1 = sw.port("br0", "p1", PortSettings::default());
    let p2 = sw.port("br0", "p2", PortSettings::default());
    let mut idle = rule(0, 10, m_in_port(p1), vec![OfAction::output(p2)]);
    idle.idle_timeout = 5;
    idle.flags.send_flow_rem = true;
    let mut hard = rule(0, 10, m_in_port(p2), vec![OfAction::output(p1)]);
    hard.hard_timeout = 8;
    sw.add("br0", idle);
    sw.add("br0", hard);
    sw.backer.set_max_idle(Duration::from_secs(60));
    // Traffic every 3 s keeps the idle rule; the hard one goes at 8 s anyway.
    for _ in 0..3 {
        sw.send("p1", &frame(mac(1), mac(2), None));
        sw.send("p2", &frame(mac(2), mac(1), None));
        sw.advance(Duration::from_secs(3));
        sw.backer.run();
    }
    let n = sw.backer.with_bridge_read("br0", |b| b.n_rules()).unwrap();
    assert_eq!(n, 1, "the hard timeout passed, the idle one was kept busy");
    sw.advance(Duration::from_secs(6));
    sw.backer.run();
    assert_eq!(sw.backer.with_bridge_read("br0", |b| b.n_rules()).unwrap(), 0);
    let removed: Vec<_> = sw
        .backer
        .with_bridge_read("br0", |b| b.flow_removed.lock().unwrap().drain(..).collect::<Vec<_>>())
        .unwrap();
    assert_eq!(removed.len(), 1, "only the rule with send_flow_rem reports");
    assert_eq!(removed[0].reason, rvs_ofproto::ofproto::RemovedReason::IdleTimeout);
    assert_eq!(removed[0].packets, 3);
    // And the datapath no longer forwards.
    sw.sent("p2");
    sw.send("p1", &frame(mac(1), mac(2), None));
    assert!(sw.who_sent(&["p2"]).is_empty());
}

#[test]
fn controller_action_queues_packet_ins_and_dec_ttl_expiry_goes_to_controller() {
    let mut sw = Switch::new();
    sw.bridge("br0", secure());
    let p1 = sw.port("br0", "p1", PortSettings::default());
    let p2 = sw.port("br0", "p2", PortSettings::default());
    let mut r = rule(0, 10, m_in_port(p1), vec![OfAction::output(OfPort::CONTROLLER)]);
    r.cookie = rvs_ofproto::Cookie(0x42);
    sw.add("br0", r);
    sw.add("br0", rule(0, 10, m_in_port(p2), vec![OfAction::DecTtl(vec![]), OfAction::output(p1)]));
    let f = frame(mac(1), mac(2), None);
    sw.send("p1", &f);
    sw.send("p1", &f);
    let pis = sw.backer.take_packet_ins("br0");
    assert_eq!(
        pis.len(),
        2,
        "first packet (upcall) and second (megaflow) both reach the controller"
    );
    assert_eq!(pis[0].packet, f);
    assert_eq!(pis[0].in_port, p1);
    assert_eq!(pis[0].cookie, rvs_ofproto::Cookie(0x42));
    assert_eq!(pis[0].reason, rvs_ofproto::PacketInReason::Action);

    // TTL 64 is decremented; TTL 1 goes to the controller instead.
    sw.send("p2", &frame(mac(2), mac(1), None));
    let out = sw.sent("p1");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0][14 + 8], 63, "TTL decremented");
    let low_ttl = rvs_packet::wire::builder::PacketBuilder::ethernet(mac(2), mac(1))
        .ipv4(std::net::Ipv4Addr::new(198, 18, 0, 2), std::net::Ipv4Addr::new(198, 18, 0, 1), 1)
        .udp(1, 2)
        .build();
    sw.send("p2", &low_ttl);
    assert!(sw.sent("p1").is_empty());
    let pis = sw.backer.take_packet_ins("br0");
    assert_eq!(pis.len(), 1);
    assert_eq!(pis[0].reason, rvs_ofproto::PacketInReason::InvalidTtl);
}

#[test]
fn refused_flow_mods_change_nothing() {
    let mut sw = Switch::new();
    sw.bridge("br0", secure());
    sw.port("br0", "p1", PortSettings::default());
    let good = rule(0, 10, OfMatch::catchall(), vec![OfAction::output(OfPort(1))]);
    let bad = rule(3, 10, OfMatch::catchall(), vec![OfAction::GotoTable(TableId(2))]);
    let e = sw.backer.flow_mods("br0", &[good.clone(), bad]).unwrap_err();
    assert!(e.to_string().contains("goto_table:2"), "{e}");
    assert_eq!(sw.backer.with_bridge_read("br0", |b| b.n_rules()).unwrap(), 0);
    let mut m = OfMatch::catchall();
    m.set(Mf::NwDst, 1);
    let e = sw.backer.flow_mod("br0", &rule(0, 1, m, vec![])).unwrap_err();
    assert!(e.to_string().starts_with("nw_dst requires"), "{e}");
    let mut overlap = good.clone();
    sw.add("br0", good);
    overlap.flags.check_overlap = true;
    overlap.actions = vec![];
    let mut m = OfMatch::catchall();
    m.set(Mf::InPort, 1);
    overlap.match_ = m;
    assert!(sw.backer.flow_mod("br0", &overlap).is_err());
    assert_eq!(sw.backer.with_bridge_read("br0", |b| b.n_rules()).unwrap(), 1);
}

#[test]
fn trace_shows_tables_rules_actions_megaflow_and_datapath_actions() {
    let mut sw = Switch::new();
    sw.bridge("br0", secure());
    sw.port("br0", "p1", PortSettings::default());
    sw.port("br0", "p2", PortSettings::default());
    let fms = [
        "table=0,priority=100,in_port=p1,ip,nw_dst=198.18.0.0/24,actions=mod_dl_dst:02:00:00:00:00:01,resubmit(,1)",
        "table=1,priority=10,ip,actions=output:p2",
    ];
    for s in fms {
        let b = sw.backer.read();
        let fm =
            rvs_ofproto::text::parse_flow_mod(s, FlowModCommand::Add, &b.bridges["br0"]).unwrap();
        drop(b);
        sw.backer.flow_mod("br0", &fm).unwrap();
    }
    let t = sw
        .backer
        .trace_str("br0", "in_port=p1,tcp,nw_src=198.18.0.9,nw_dst=198.18.0.7,tp_dst=80", None)
        .unwrap();
    let p2 = sw.odp("p2");
    assert!(t.starts_with("Flow: "), "{t}");
    assert!(t.contains("bridge(\"br0\")\n-------------\n"), "{t}");
    assert!(t.contains(" 0. ip,in_port=p1,nw_dst=198.18.0.0/24, priority 100\n"), "{t}");
    assert!(t.contains("    mod_dl_dst:02:00:00:00:00:01\n    resubmit(,1)\n"), "{t}");
    assert!(t.contains(" 1. ip, priority 10\n"), "{t}");
    assert!(t.contains("output:p2"), "{t}");
    assert!(t.contains("Final flow: ") && t.contains("dl_dst=02:00:00:00:00:01"), "{t}");
    assert!(t.contains("Megaflow: recirc_id=0,"), "{t}");
    let mega = t.lines().find(|l| l.starts_with("Megaflow: ")).unwrap();
    assert_eq!(
        mega,
        "Megaflow: recirc_id=0,ip,in_port=p1,dl_dst=00:00:00:00:00:00,nw_dst=198.18.0.0/24"
    );
    assert!(t.contains("    resubmit(,1)\n 1. ip, priority 10\n    output:p2\n"), "{t}");
    assert!(
        t.ends_with(&format!("Datapath actions: set(eth(dst=02:00:00:00:00:01)),{p2}\n")),
        "{t}"
    );
    // A packet given in hex.
    let hex: String = frame(mac(1), mac(2), None).iter().map(|b| format!("{b:02x}")).collect();
    let t = sw.backer.trace_str("br0", "in_port=p2", Some(&hex)).unwrap();
    assert!(t.contains("No match"), "{t}");
    assert!(t.ends_with("Datapath actions: drop\n"), "{t}");
    let e = sw.backer.trace_str("br0", "in_port=p1,nw_dst=1.2.3.4", None).unwrap_err();
    assert!(e.to_string().contains("nw_dst"), "{e}");
}

#[test]
fn dump_flows_prints_rules_in_ovs_ofctl_format_with_counters() {
    let mut sw = Switch::new();
    sw.bridge("br0", BridgeSettings::default());
    sw.port("br0", "p1", PortSettings::default());
    sw.port("br0", "p2", PortSettings::default());
    let text = "table=0,priority=100,cookie=0x5,idle_timeout=60,in_port=1,ip,nw_dst=198.18.0.0/24,actions=output:2";
    let fm =
        rvs_ofproto::text::parse_flow_mod(text, FlowModCommand::Add, &rvs_ofproto::text::NoNames)
            .unwrap();
    sw.backer.flow_mod("br0", &fm).unwrap();
    sw.send("p1", &frame(mac(1), mac(2), None));
    sw.advance(Duration::from_millis(1500));
    sw.backer.run();
    let out = sw.backer.dump_flows_text("br0", false).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with(" cookie=0x5, duration=1.5"), "{out}");
    assert!(lines[0].contains("table=0, n_packets=1, n_bytes=45, idle_timeout=60,"), "{out}");
    assert!(
        lines[0].ends_with("priority=100,ip,in_port=1,nw_dst=198.18.0.0/24 actions=output:2"),
        "{out}"
    );
    assert!(lines[1].ends_with("priority=0 actions=NORMAL"), "{out}");
    let named = sw.backer.dump_flows_text("br0", true).unwrap();
    assert!(named.contains("in_port=p1") && named.contains("actions=output:p2"), "{named}");
}

#[test]
fn a_loose_modify_over_all_tables_checks_goto_against_each_rules_table() {
    let mut sw = Switch::new();
    sw.bridge("br0", secure());
    sw.port("br0", "p1", PortSettings::default());
    sw.add("br0", rule(0, 10, OfMatch::catchall(), vec![]));
    sw.add("br0", rule(1, 10, OfMatch::catchall(), vec![]));
    let to = |t: u8| FlowMod {
        command: FlowModCommand::Modify,
        table: TableId::ALL,
        actions: vec![OfAction::GotoTable(TableId(t))],
        ..FlowMod::default()
    };
    // goto_table:5 is fine for rules in tables 0 and 1.
    assert_eq!(sw.backer.flow_mod("br0", &to(5)).unwrap().modified, 2);
    // goto_table:1 is not, for the rule in table 1: refused whole.
    let e = sw.backer.flow_mod("br0", &to(1)).unwrap_err();
    assert!(e.to_string().contains("goto_table:1 in a rule of table 1"), "{e}");
    let actions = sw.backer.dump_flows("br0", None, None).unwrap();
    assert!(
        actions.iter().all(|l| l.actions == vec![OfAction::GotoTable(TableId(5))]),
        "{actions:?}"
    );
}
