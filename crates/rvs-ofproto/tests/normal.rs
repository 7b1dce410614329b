//! NORMAL: learning, flooding, VLAN modes, host moves, and megaflows that
//! match only what L2 switching examined.

mod support;

use rvs_ofproto::backer::{BridgeSettings, PortSettings};
use rvs_ofproto::{PortVlan, VlanMode};
use support::*;

fn access(tag: u16) -> PortSettings {
    PortSettings {
        vlan: PortVlan { mode: Some(VlanMode::Access), tag: Some(tag), trunks: vec![] },
        ..Default::default()
    }
}

#[test]
fn learning_switch_floods_unknown_then_forwards_to_learned_port() {
    let mut sw = Switch::new();
    sw.bridge("br0", BridgeSettings::default());
    for p in ["p1", "p2", "p3"] {
        sw.port("br0", p, PortSettings::default());
    }
    // Unknown destination: flooded everywhere but the input port.
    sw.send("p1", &frame(mac(1), mac(2), None));
    assert_eq!(sw.who_sent(&["p1", "p2", "p3", "br0"]), ["p2", "p3", "br0"]);
    // The reply goes only to where mac(1) was learned.
    sw.send("p2", &frame(mac(2), mac(1), None));
    assert_eq!(sw.who_sent(&["p1", "p2", "p3", "br0"]), ["p1"]);
    // And now mac(2) is known too.
    sw.backer.revalidate();
    sw.send("p1", &frame(mac(1), mac(2), None));
    assert_eq!(sw.who_sent(&["p1", "p2", "p3", "br0"]), ["p2"]);

    // Megaflows match L2 only: no IPv4 or UDP field is in any mask.
    let flows = sw.dp_flows();
    assert!(!flows.is_empty());
    for f in &flows {
        assert!(f.contains("eth(src=02:00:00:00:00:0"), "{f}");
        // The fragment kind is a datapath invariant; nothing else of L3/L4.
        let l3 = f.replace("ipv4(frag=no)", "");
        assert!(
            !l3.contains("ipv4(") && !l3.contains("udp("),
            "NORMAL megaflow matched L3/L4: {f}"
        );
    }
    let fdb = sw.backer.fdb_show("br0").unwrap();
    assert!(fdb.contains("    1     0  02:00:00:00:00:01"), "{fdb}");
    assert!(fdb.contains("    2     0  02:00:00:00:00:02"), "{fdb}");
}

#[test]
fn a_frame_to_its_own_port_is_dropped_and_broadcast_never_returns() {
    let mut sw = Switch::new();
    sw.bridge("br0", BridgeSettings::default());
    sw.port("br0", "p1", PortSettings::default());
    sw.port("br0", "p2", PortSettings::default());
    sw.send("p1", &frame(mac(1), rvs_packet::EthAddr::BROADCAST, None));
    assert_eq!(sw.who_sent(&["p1", "p2", "br0"]), ["p2", "br0"]);
    sw.send("p1", &frame(mac(3), mac(1), None)); // mac(1) is on p1
    assert!(sw.who_sent(&["p1", "p2", "br0"]).is_empty());
}

#[test]
fn a_host_that_moves_is_followed_after_revalidation() {
    let mut sw = Switch::new();
    sw.bridge("br0", BridgeSettings::default());
    for p in ["p1", "p2", "p3"] {
        sw.port("br0", p, PortSettings::default());
    }
    sw.send("p1", &frame(mac(1), mac(2), None));
    sw.send("p2", &frame(mac(2), mac(1), None));
    sw.sent("p1");
    sw.sent("p2");
    sw.sent("p3");
    // mac(1) moves to p3 and speaks.
    sw.send("p3", &frame(mac(1), mac(2), None));
    assert_eq!(sw.who_sent(&["p1", "p2", "p3"]), ["p2"]);
    sw.backer.revalidate();
    // The existing megaflow p2 -> mac(1) now leads to p3.
    sw.send("p2", &frame(mac(2), mac(1), None));
    assert_eq!(sw.who_sent(&["p1", "p2", "p3"]), ["p3"]);
}

#[test]
fn vlan_access_trunk_and_native_ports() {
    let mut sw = Switch::new();
    sw.bridge("br0", BridgeSettings::default());
    sw.port("br0", "a10", access(10));
    sw.port("br0", "a20", access(20));
    sw.port("br0", "trunk", PortSettings::default());
    let t_only_10 = PortVlan { mode: Some(VlanMode::Trunk), tag: None, trunks: vec![10] };
    sw.port("br0", "t10", PortSettings { vlan: t_only_10, ..Default::default() });
    let nu = PortVlan { mode: Some(VlanMode::NativeUntagged), tag: Some(10), trunks: vec![10, 20] };
    sw.port("br0", "nu", PortSettings { vlan: nu, ..Default::default() });
    let nt = PortVlan { mode: Some(VlanMode::NativeTagged), tag: Some(20), trunks: vec![] };
    sw.port("br0", "nt", PortSettings { vlan: nt, ..Default::default() });
    let all = ["a10", "a20", "trunk", "t10", "nu", "nt"];

    // Untagged from access VLAN 10: tagged 10 on trunks, untagged on the
    // native-untagged port of VLAN 10, tagged on native-tagged (trunks all).
    sw.send("a10", &frame(mac(1), mac(9), None));
    let got: Vec<(String, Option<u16>)> = all
        .iter()
        .flat_map(|p| sw.sent(p).into_iter().map(move |f| (p.to_string(), vid_of(&f))))
        .collect();
    assert_eq!(
        got,
        vec![
            ("trunk".into(), Some(10)),
            ("t10".into(), Some(10)),
            ("nu".into(), None),
            ("nt".into(), Some(10))
        ]
    );

    // Tagged 20 from the trunk: untagged on a20, tagged on nu and untagged... no:
    // nt's native VLAN is 20, sent tagged.
    sw.send("trunk", &frame(mac(2), mac(9), Some(20)));
    let got: Vec<(String, Option<u16>)> = all
        .iter()
        .flat_map(|p| sw.sent(p).into_iter().map(move |f| (p.to_string(), vid_of(&f))))
        .collect();
    assert_eq!(got, vec![("a20".into(), None), ("nu".into(), Some(20)), ("nt".into(), Some(20))]);

    // A tagged frame on an access port is dropped; a VLAN a trunk doesn't
    // carry is dropped.
    sw.send("a10", &frame(mac(3), mac(9), Some(10)));
    sw.send("t10", &frame(mac(4), mac(9), Some(20)));
    for p in all {
        assert!(sw.sent(p).is_empty(), "{p} sent a frame it should not have");
    }

    // Untagged on the native-untagged port is VLAN 10: reaches a10.
    sw.send("nu", &frame(mac(5), mac(1), None));
    assert_eq!(sw.who_sent(&all), ["a10"]);
    let fdb = sw.backer.fdb_show("br0").unwrap();
    assert!(fdb.contains("   10  02:00:00:00:00:05"), "{fdb}");
}

#[test]
fn fdb_commands_add_del_flush() {
    let mut sw = Switch::new();
    sw.bridge("br0", BridgeSettings::default());
    sw.port("br0", "p1", PortSettings::default());
    sw.port("br0", "p2", PortSettings::default());
    sw.backer.fdb_add("br0", "p2", 0, mac(7)).unwrap();
    sw.send("p1", &frame(mac(1), mac(7), None));
    assert_eq!(sw.who_sent(&["p1", "p2", "br0"]), ["p2"]);
    let show = sw.backer.fdb_show("br0").unwrap();
    assert!(show.contains("02:00:00:00:00:07  static"), "{show}");
    // A frame from mac(7) elsewhere does not move a static entry.
    sw.send("p1", &frame(mac(7), mac(1), None));
    assert!(sw.backer.fdb_show("br0").unwrap().contains("    2     0  02:00:00:00:00:07"));
    assert!(sw.backer.fdb_del("br0", 0, mac(7)).unwrap());
    assert!(!sw.backer.fdb_del("br0", 0, mac(7)).unwrap());
    sw.backer.fdb_flush(Some("br0")).unwrap();
    assert_eq!(sw.backer.fdb_show("br0").unwrap().lines().count(), 1);
    let e = sw.backer.fdb_add("br0", "nope", 0, mac(1)).unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
}

#[test]
fn mac_entries_age_out_unless_traffic_keeps_them() {
    let mut sw = Switch::new();
    let s = BridgeSettings {
        mac_aging: std::time::Duration::from_secs(30),
        ..BridgeSettings::default()
    };
    sw.bridge("br0", s);
    sw.port("br0", "p1", PortSettings::default());
    sw.port("br0", "p2", PortSettings::default());
    sw.send("p1", &frame(mac(1), mac(2), None));
    sw.send("p2", &frame(mac(2), mac(9), None));
    sw.backer.set_max_idle(std::time::Duration::from_secs(100));
    for _ in 0..4 {
        sw.advance(std::time::Duration::from_secs(10));
        sw.send("p1", &frame(mac(1), mac(2), None)); // keeps mac(1) alive through the megaflow
        sw.backer.run();
    }
    let show = sw.backer.fdb_show("br0").unwrap();
    assert!(show.contains("02:00:00:00:00:01"), "{show}");
    assert!(!show.contains("02:00:00:00:00:02"), "mac(2) was silent for 40 s: {show}");
}
