//! A port whose device is deleted under the switch, then made again (needs
//! root; skips out loud without it): the Interface shows the error and no
//! OpenFlow port while the device is gone, and forwarding comes back with
//! the device, as with OVS's kernel datapath. A test binary of its own: a
//! daemon with real devices owns the datapath's tap (`ovs-netdev`), so two
//! cannot run at once.
//!
//! Hosts use 198.18.0.0/15 only; every name carries the test's pid, and
//! everything is removed on drop, failure included.

mod common;

use common::*;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

fn pings(ns: &str, addr: &str) -> bool {
    sh(&["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", "-q", addr])
}

#[test]
fn a_port_whose_device_is_made_again_forwards_again() {
    let root = std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false);
    if !root || !have_ovs_tools() || !sh(&["ip", "link", "show", "dev", "lo"]) {
        eprintln!("SKIPPED: a_port_whose_device_is_made_again_forwards_again needs root and ip");
        return;
    }
    let tag = std::process::id() % 100_000;
    let n = |s: &str| format!("rV{tag}{s}");
    let br = format!("rv{tag}");
    let (ns_a, a, ap) = (n("na"), n("a"), n("ap"));
    let mut net = Net::default();
    net.host(&ns_a, &a, &ap, "198.18.8.1/24");
    net.host(&n("nb"), &n("b"), &n("bp"), "198.18.8.2/24");
    let dir = tempdir("vanish");
    let d = Daemon::start_with(&dir, false, &[]);
    d.vsctl_ok(&["add-br", &br, "--", "add-port", &br, &a, "--", "add-port", &br, &n("b")]);
    let ping_ok = |what: &str| {
        wait_for(Duration::from_secs(20), &format!("a ping from a to b {what}"), || {
            pings(&ns_a, "198.18.8.2")
        });
    };
    ping_ok("at first");
    let ofport = d.vsctl_ok(&["get", "interface", &a, "ofport"]);

    // The device goes: the Interface says so and has no OpenFlow port.
    must(&["ip", "link", "del", &a]);
    wait_for(Duration::from_secs(5), "the error on the interface", || {
        let err = d.vsctl_ok(&["get", "interface", &a, "error"]);
        err.contains("could not open network device")
            && d.vsctl_ok(&["get", "interface", &a, "ofport"]) == "-1\n"
    });
    assert!(d.log().contains(&format!("interface {a}: its device vanished")), "{}", d.log());
    assert!(!d.appctl_ok(&["dpif/show"]).contains(&format!(" {a} ")));

    // It comes back (a new device, with a new index): so does forwarding,
    // under the same OpenFlow port number.
    must(&["ip", "link", "add", &a, "type", "veth", "peer", "name", &ap]);
    must(&["ip", "link", "set", &ap, "netns", &ns_a]);
    must(&["ip", "-n", &ns_a, "addr", "add", "198.18.8.1/24", "dev", &ap]);
    must(&["ip", "-n", &ns_a, "link", "set", &ap, "up"]);
    must(&["ip", "link", "set", &a, "up"]);
    ping_ok("once the device is back");
    assert_eq!(d.vsctl_ok(&["get", "interface", &a, "error"]), "[]\n");
    assert_eq!(d.vsctl_ok(&["get", "interface", &a, "ofport"]), ofport);
    drop(d);
}
