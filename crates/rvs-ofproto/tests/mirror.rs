//! Port mirrors: copies of the packets a mirror selects (by input port,
//! output port, all, and VLAN) go to its output port or VLAN; an output
//! port is the mirror's alone; copies can be cut short.

mod support;

use rvs_ofproto::backer::{BridgeSettings, PortSettings};
use rvs_ofproto::ofproto::{Mirror, MirrorOutput};
use rvs_ofproto::{OfPort, PortVlan, VlanMode};
use std::collections::BTreeSet;
use support::*;

const ALL: [&str; 5] = ["p1", "p2", "p3", "mon", "br0"];

/// br0 with p1, p2, p3 and `mon`, every port a trunk of all VLANs.
fn rig() -> (Switch, [OfPort; 4]) {
    let mut sw = Switch::new();
    sw.bridge("br0", BridgeSettings::default());
    let ports = ["p1", "p2", "p3", "mon"].map(|p| sw.port("br0", p, PortSettings::default()));
    (sw, ports)
}

fn set(ports: &[OfPort]) -> BTreeSet<OfPort> {
    ports.iter().copied().collect()
}

/// Gives br0 `mirrors` and brings its datapath flows up to date.
fn mirrors(sw: &Switch, mirrors: Vec<Mirror>) {
    sw.backer.set_mirrors("br0", mirrors).unwrap();
    sw.backer.revalidate();
}

#[test]
fn a_mirror_copies_what_it_selects_to_its_port_and_nothing_else_goes_there() {
    let (sw, [p1, p2, _, mon]) = rig();
    let m = Mirror {
        name: "m0".into(),
        select_src: set(&[p1]),
        output: MirrorOutput::Port(mon),
        ..Mirror::default()
    };
    mirrors(&sw, vec![m.clone()]);
    // From p1, flooded: mon gets one copy, as received.
    let f = frame(mac(1), mac(2), None);
    sw.send("p1", &f);
    assert_eq!(sw.sent("mon"), [f]);
    assert_eq!(sw.who_sent(&ALL), ["p2", "p3", "br0"]);
    // From p2 (not selected): flooded, but mon, reserved, gets nothing.
    sw.send("p2", &frame(mac(2), mac(9), None));
    assert_eq!(sw.who_sent(&ALL), ["p1", "p3", "br0"]);
    // What mon receives is dropped.
    sw.send("mon", &frame(mac(5), mac(9), None));
    assert!(sw.who_sent(&ALL).is_empty());

    // Selected on output: what goes to p1 (mac(1) was learned there).
    let m = Mirror { select_src: set(&[]), select_dst: set(&[p1]), ..m };
    mirrors(&sw, vec![m.clone()]);
    let to_p1 = frame(mac(2), mac(1), None);
    sw.send("p2", &to_p1);
    assert_eq!(sw.who_sent(&["p1", "p3", "br0"]), ["p1"]);
    assert_eq!(sw.sent("mon"), [to_p1]);
    sw.send("p1", &frame(mac(1), mac(2), None));
    assert_eq!(sw.who_sent(&ALL), ["p2"], "p2 gets it, and it was not sent to p1");

    // select_all, one copy however many ports the packet goes to.
    let m = Mirror { select_all: true, select_dst: set(&[]), ..m };
    mirrors(&sw, vec![m]);
    sw.send("p3", &frame(mac(3), mac(9), None));
    assert_eq!(sw.sent("mon").len(), 1);
    assert_eq!(sw.who_sent(&ALL), ["p1", "p2", "br0"]);

    // No mirror: mon is an ordinary port again.
    mirrors(&sw, vec![]);
    sw.send("p3", &frame(mac(3), mac(9), None));
    assert_eq!(sw.who_sent(&ALL), ["p1", "p2", "mon", "br0"]);
    assert_eq!(p2, OfPort(2));
}

#[test]
fn vlans_select_and_carry_copies_and_snaplen_cuts_them() {
    let (sw, [p1, _, p3, mon]) = rig();
    // Only VLAN 10 is mirrored, cut to 20 bytes.
    let m = Mirror {
        name: "m0".into(),
        select_src: set(&[p1]),
        select_vlan: [10].into_iter().collect(),
        output: MirrorOutput::Port(mon),
        snaplen: Some(20),
        ..Mirror::default()
    };
    mirrors(&sw, vec![m]);
    sw.send("p1", &frame(mac(1), mac(9), Some(20)));
    assert!(sw.sent("mon").is_empty(), "VLAN 20 is not selected");
    assert_eq!(sw.who_sent(&ALL), ["p2", "p3", "br0"]);
    let f = frame(mac(1), mac(9), Some(10));
    sw.send("p1", &f);
    assert_eq!(sw.sent("mon"), [f[..20].to_vec()]);
    // The flooded packets are whole.
    assert_eq!(sw.sent("p2"), [f]);
    assert_eq!(sw.who_sent(&ALL), ["p3", "br0"]);

    // RSPAN: copies flooded in VLAN 99 to the ports that carry it, tagged
    // 99 (p3 is an access port of VLAN 99: it gets them untagged).
    let access99 = PortVlan { mode: Some(VlanMode::Access), tag: Some(99), trunks: vec![] };
    sw.backer.set_port("br0", "p3", access99, Default::default()).unwrap();
    sw.backer.revalidate();
    let m = Mirror {
        name: "rspan".into(),
        select_src: set(&[p1]),
        output: MirrorOutput::Vlan(99),
        ..Mirror::default()
    };
    mirrors(&sw, vec![m]);
    let f = frame(mac(1), mac(8), Some(10));
    sw.send("p1", &f);
    let copies = sw.sent("p3");
    assert_eq!(copies.len(), 1, "p3 carries VLAN 99 only");
    assert_eq!(vid_of(&copies[0]), None);
    let mut mon: Vec<Option<u16>> = sw.sent("mon").iter().map(|g| vid_of(g)).collect();
    mon.sort();
    assert_eq!(mon, [Some(10), Some(99)], "mon: the packet in VLAN 10, the copy in 99");
    assert_eq!(p3, OfPort(3));
}

#[test]
fn bad_mirrors_are_refused_and_the_old_ones_stay() {
    let (sw, [p1, _, _, mon]) = rig();
    let good = Mirror {
        name: "good".into(),
        select_src: set(&[p1]),
        output: MirrorOutput::Port(mon),
        ..Mirror::default()
    };
    mirrors(&sw, vec![good]);
    let bad = Mirror {
        name: "bad".into(),
        select_all: true,
        output: MirrorOutput::Port(OfPort(77)),
        ..Mirror::default()
    };
    let e = sw.backer.set_mirrors("br0", vec![bad]).unwrap_err().to_string();
    assert_eq!(e, "mirror bad: bridge br0 has no output port 77");
    let f = frame(mac(1), mac(9), None);
    sw.send("p1", &f);
    assert_eq!(sw.sent("mon"), std::slice::from_ref(&f));
    // Its counters: the copy, credited from the datapath flow.
    sw.backer.revalidate();
    let len = f.len() as u64;
    assert_eq!(sw.backer.mirror_stats("br0").unwrap(), [("good".to_string(), 1, len)]);
}
