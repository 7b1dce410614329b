//! The daemon driven only through its clients: OVS's `ovs-vsctl` and
//! `ovs-appctl` (Debian's openvswitch-common, installed by CI), with every
//! device a dummy (`--enable-dummy`), in a temporary run dir.

mod common;

use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn ovs_vsctl_and_ovs_appctl_drive_the_daemon() {
    if !have_ovs_tools() {
        return;
    }
    let dir = tempdir("drive");
    let mut d = Daemon::start(&dir);
    // Without --no-wait: ovs-vsctl waits until the daemon applied the change.
    d.vsctl_ok(&[
        "add-br",
        "br0",
        "--",
        "add-port",
        "br0",
        "p1",
        "--",
        "set",
        "Interface",
        "p1",
        "type=dummy",
        "--",
        "add-port",
        "br0",
        "p2",
        "--",
        "set",
        "Interface",
        "p2",
        "type=dummy",
        "ofport_request=7",
    ]);
    assert_eq!(d.vsctl_ok(&["list-br"]), "br0\n");
    assert_eq!(d.vsctl_ok(&["get", "Interface", "p1", "ofport"]), "1\n");
    assert_eq!(d.vsctl_ok(&["get", "Interface", "p2", "ofport"]), "7\n");
    // A bad interface is reported in its error column; the rest works.
    d.vsctl_ok(&["add-port", "br0", "bad0", "--", "set", "Interface", "bad0", "type=bogus"]);
    let err = d.vsctl_ok(&["get", "Interface", "bad0", "error"]);
    assert!(err.contains("bogus"), "{err}");
    // A patch port without its peer.
    d.vsctl_ok(&[
        "add-port",
        "br0",
        "patch0",
        "--",
        "set",
        "Interface",
        "patch0",
        "type=patch",
        "options:peer=nowhere",
    ]);
    assert!(d.vsctl_ok(&["get", "Interface", "patch0", "error"]).contains("nowhere"));

    let flows = d.appctl_ok(&["bridge/dump-flows", "br0"]);
    assert!(flows.contains("priority=0 actions=NORMAL"), "{flows}");
    d.appctl_ok(&["netdev-dummy/receive", "p1", &frame_hex(1, 2)]);
    d.appctl_ok(&["netdev-dummy/receive", "p2", &frame_hex(2, 1)]);
    let t = Instant::now();
    loop {
        let fdb = d.appctl_ok(&["fdb/show", "br0"]);
        if fdb.contains("    7     0  02:00:00:00:00:02") {
            assert!(fdb.contains("    1     0  02:00:00:00:00:01"), "{fdb}");
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "MACs not learned: {fdb}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let dp = d.appctl_ok(&["dpctl/dump-flows"]);
    assert!(dp.contains("eth(src=02:00:00:00:00:02,dst=02:00:00:00:00:01)"), "{dp}");
    let trace = d.appctl_ok(&[
        "ofproto/trace",
        "br0",
        "in_port=1,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02",
    ]);
    assert!(trace.contains("Datapath actions: "), "{trace}");
    let pmd = d.appctl_ok(&["dpif-netdev/pmd-stats-show"]);
    assert!(pmd.contains("miss with success upcall: 2"), "{pmd}");
    let cov = d.appctl_ok(&["coverage/show"]);
    assert!(cov.contains("datapath_missed                                     2"), "{cov}");
    let rxq = d.appctl_ok(&["dpif-netdev/pmd-rxq-show"]);
    assert!(rxq.contains("port: p1"), "{rxq}");
    let show = d.appctl_ok(&["dpif/show"]);
    assert!(show.contains("  br0:\n") && show.contains("    p2 7/"), "{show}");
    assert!(show.contains("patch0 ") && show.contains("(patch: peer=nowhere)"), "{show}");
    d.appctl_ok(&["dpctl/del-flows"]);
    assert_eq!(d.appctl_ok(&["dpctl/dump-flows"]), "");
    let o = d.appctl(&["no-such-command"]);
    assert!(!o.status.success());

    // kill -9, restart: the configuration and the OpenFlow port numbers are back.
    let log = std::fs::read_to_string(dir.join("file.log")).unwrap();
    assert!(log.contains("rvs-vswitchd ready"), "{log}");
    assert!(log.contains("bogus"), "the bad interface is logged too: {log}");
    d.kill9();
    let d2 = Daemon::start(&dir);
    assert_eq!(d2.vsctl_ok(&["list-ports", "br0"]), "bad0\np1\np2\npatch0\n");
    d2.vsctl_ok(&["del-port", "br0", "bad0"]);
    assert_eq!(d2.vsctl_ok(&["get", "Interface", "p2", "ofport"]), "7\n");
    assert_eq!(d2.vsctl_ok(&["get", "Interface", "p1", "ofport"]), "1\n");
    d2.vsctl_ok(&["del-br", "br0"]);
    assert_eq!(d2.vsctl_ok(&["list-br"]), "");
    // Schema-invalid input is refused and changes nothing.
    let o = d2.vsctl(&["add-br", "br1", "--", "set", "Bridge", "br1", "fail_mode=sideways"]);
    assert!(!o.status.success());
    assert_eq!(d2.vsctl_ok(&["list-br"]), "");
    drop(d2);
}

#[test]
fn a_second_daemon_on_the_same_run_dir_refuses_to_start() {
    let dir = tempdir("twice");
    let _d = Daemon::start(&dir);
    let o = Command::new(env!("CARGO_BIN_EXE_rvs-vswitchd"))
        .arg("--enable-dummy")
        .env("RVS_RUNDIR", &dir)
        .env("RVS_DBDIR", &dir)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("already running"), "{e}");
    drop(_d);
}

#[test]
fn the_schema_is_ovs_own_and_unsupported_features_are_named() {
    if !have_ovs_tools() {
        return;
    }
    let dir = tempdir("schema");
    let d = Daemon::start(&dir);
    d.add_dummy_bridge("br0", &["p1"], &[]);
    // OVS's clients find every table and column they know: no "database
    // needs upgrade" warning, whatever they list.
    for table in ["open_vswitch", "bridge", "port", "interface", "mirror", "qos", "netflow"] {
        let o = d.vsctl(&["list", table]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success() && err.is_empty(), "ovs-vsctl list {table}: {err}");
    }
    // A feature rvs does not have is said to be ignored, by name.
    d.vsctl_ok(&[
        "--",
        "set",
        "bridge",
        "br0",
        "netflow=@nf",
        "--",
        "--id=@nf",
        "create",
        "netflow",
        "targets=\"198.18.0.9:5566\"",
    ]);
    wait_for(Duration::from_secs(5), "the warning", || {
        d.log().contains("bridge br0: netflow is not supported by rvs; ignored")
    });
}

/// Packets `port` sent, from `dpctl/show -s`.
fn tx_packets(d: &Daemon, port: &str) -> u64 {
    d.port_counts(port, "TX").0
}

#[test]
fn a_mirror_made_with_ovs_vsctl_copies_to_its_port() {
    if !have_ovs_tools() {
        return;
    }
    let dir = tempdir("mirror");
    let d = Daemon::start(&dir);
    d.add_dummy_bridge("br0", &["p1", "p2", "mon"], &[]);
    // The classic recipe from OVS's FAQ.
    d.vsctl_ok(&[
        "--",
        "--id=@p1",
        "get",
        "port",
        "p1",
        "--",
        "--id=@mon",
        "get",
        "port",
        "mon",
        "--",
        "--id=@m",
        "create",
        "mirror",
        "name=m0",
        "select-src-port=@p1",
        "output-port=@mon",
        "--",
        "set",
        "bridge",
        "br0",
        "mirrors=@m",
    ]);
    let wait_tx = |port: &str, n: u64| {
        wait_for(Duration::from_secs(5), &format!("{port} to send {n}"), || {
            tx_packets(&d, port) == n
        });
    };
    d.appctl_ok(&["netdev-dummy/receive", "p1", &frame_hex(1, 9)]);
    wait_tx("p2", 1);
    wait_tx("mon", 1);
    // From p2: not selected, and mon forwards nothing else.
    d.appctl_ok(&["netdev-dummy/receive", "p2", &frame_hex(2, 9)]);
    wait_tx("p1", 1);
    assert_eq!(tx_packets(&d, "mon"), 1);
    // A mirror that cannot apply is named in a warning, and left out.
    d.vsctl_ok(&[
        "--",
        "--id=@m",
        "create",
        "mirror",
        "name=m1",
        "select_all=true",
        "--",
        "add",
        "bridge",
        "br0",
        "mirrors",
        "@m",
    ]);
    wait_for(Duration::from_secs(5), "the warning", || {
        d.log().contains("bridge br0: mirror m1: has neither output_port nor output_vlan")
    });
    d.appctl_ok(&["netdev-dummy/receive", "p1", &frame_hex(1, 9)]);
    wait_tx("mon", 2);
    // The mirror's row counts its copies (45-byte frames).
    wait_for(Duration::from_secs(12), "m0's statistics", || {
        let get = |k: &str| {
            let v = d.vsctl_ok(&["--if-exists", "get", "mirror", "m0", &format!("statistics:{k}")]);
            v.trim().to_string()
        };
        get("tx_packets") == "2" && get("tx_bytes") == "90"
    });
    // Cleared: mon is an ordinary port again, and floods reach it (once
    // the revalidator has redone the cached flow).
    d.vsctl_ok(&["clear", "bridge", "br0", "mirrors"]);
    wait_for(Duration::from_secs(5), "a flood from p2 to reach mon", || {
        d.appctl_ok(&["netdev-dummy/receive", "p2", &frame_hex(2, 9)]);
        std::thread::sleep(Duration::from_millis(50));
        tx_packets(&d, "mon") > 2
    });
}
