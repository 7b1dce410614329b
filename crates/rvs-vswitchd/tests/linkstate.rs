//! An Interface's `link_state`, `admin_state` and `link_resets` follow its
//! device, its `duplex` and driver show, and `mtu_request` sets its MTU
//! (needs root; skips out loud without it): a port on a veth pair whose far
//! end, then itself, goes down and comes back. A test binary of its own: a
//! daemon with real devices owns the datapath's tap (`ovs-netdev`), so two
//! cannot run at once.
//!
//! The host uses 198.18.0.0/15 only; every name carries the test's pid,
//! and everything is removed on drop, failure included.

mod common;

use common::*;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

#[test]
fn link_and_admin_state_follow_the_device() {
    let root = std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false);
    if !root || !have_ovs_tools() || !sh(&["ip", "link", "show", "dev", "lo"]) {
        eprintln!("SKIPPED: link_and_admin_state_follow_the_device needs root and ip");
        return;
    }
    let tag = std::process::id() % 100_000;
    let n = |s: &str| format!("rL{tag}{s}");
    let (br, ns, host, peer) = (format!("rl{tag}"), n("n"), n("h"), n("p"));
    let mut net = Net::default();
    net.host(&ns, &host, &peer, "198.18.7.9/24");
    let dir = tempdir("linkstate");
    let d = Daemon::start_with(&dir, false, &[]);
    // Refresh every 5 s (OVS's minimum): each wait below spans two.
    d.vsctl_ok(&["add-br", &br, "--", "add-port", &br, &host]);
    let states = || {
        let get = |col: &str| d.vsctl_ok(&["get", "Interface", &host, col]).trim().to_string();
        (get("link_state"), get("admin_state"))
    };
    let expect = |link: &str, admin: &str, after: &str| {
        let want = (link.to_string(), admin.to_string());
        wait_for(Duration::from_secs(12), &format!("link {link}, admin {admin} {after}"), || {
            states() == want
        });
    };
    expect("up", "up", "once added");
    // The far end goes down: no carrier, but the port itself is still up.
    must(&["ip", "-n", &ns, "link", "set", &peer, "down"]);
    expect("down", "up", "with the peer down");
    // The port itself goes down.
    must(&["ip", "link", "set", &host, "down"]);
    expect("down", "down", "with the port down");
    must(&["ip", "link", "set", &host, "up"]);
    must(&["ip", "-n", &ns, "link", "set", &peer, "up"]);
    expect("up", "up", "with both up again");
    // Each loss and return of carrier counted since the switch took the
    // port: down with the peer, then up again with both.
    let resets = d.vsctl_ok(&["get", "Interface", &host, "link_resets"]);
    assert_eq!(resets, "2\n");
    assert_eq!(d.vsctl_ok(&["get", "Interface", &host, "duplex"]), "full\n");
    // The kernel's other counters, under OVS's names.
    let stats = d.vsctl_ok(&["get", "Interface", &host, "statistics"]);
    for key in ["collisions=0", "rx_crc_err=0", "rx_frame_err=0", "rx_over_err=0", "rx_missed"] {
        assert!(stats.contains(key), "{key} in {stats}");
    }
    let driver = d.vsctl_ok(&["get", "Interface", &host, "status:driver_name"]);
    assert_eq!(driver, "veth\n");
    // The bridge's own port is an internal device, up with the switch.
    assert_eq!(d.vsctl_ok(&["get", "Interface", &br, "link_state"]), "up\n");
    // mtu_request reaches the device, and the internal port follows.
    d.vsctl_ok(&["set", "Interface", &host, "mtu_request=9000"]);
    let kernel_mtu = |dev: &str| {
        std::fs::read_to_string(format!("/sys/class/net/{dev}/mtu")).unwrap().trim().to_string()
    };
    wait_for(Duration::from_secs(5), "the MTUs to be 9000", || {
        kernel_mtu(&host) == "9000" && kernel_mtu(&br) == "9000"
    });
    drop(d);
}
