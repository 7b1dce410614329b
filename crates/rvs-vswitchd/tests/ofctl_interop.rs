//! OVS's own `ovs-ofctl` programs rvs bridges over their management
//! sockets, with OpenFlow 1.0 (and the Nicira extensions it negotiates for
//! registers) and OpenFlow 1.3: add-flow, dump-flows, dump-aggregate,
//! del-flows, show, dump-ports; a refused flow_mod comes back as an
//! OpenFlow error and changes nothing; a packet-out leaves by the port it
//! names. No root needed (dummy ports); skips out loud without ovs-ofctl.

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

fn have_ofctl() -> bool {
    let ok = Path::new("/usr/bin/ovs-ofctl").exists();
    if !ok {
        eprintln!("SKIPPED: ovs-ofctl not installed (apt-get install openvswitch-common)");
    }
    ok
}

fn ofctl(d: &Daemon, v: &str, args: &[&str]) -> Output {
    let (cmd, rest) = args.split_first().unwrap();
    Command::new("/usr/bin/ovs-ofctl")
        .args(["-O", v, "--timeout=10", cmd])
        .arg(format!("unix:{}", d.dir.join("br0.mgmt").display()))
        .args(rest)
        .output()
        .unwrap()
}

fn ofctl_ok(d: &Daemon, v: &str, args: &[&str]) -> String {
    let o = ofctl(d, v, args);
    assert!(
        o.status.success(),
        "ovs-ofctl -O {v} {args:?}: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        d.log()
    );
    String::from_utf8(o.stdout).unwrap()
}

/// The flow lines of a dump, without the volatile duration and age.
fn flows(dump: &str) -> Vec<String> {
    dump.lines()
        .skip(1)
        .map(|l| {
            l.split(", ")
                .filter(|f| !f.trim_start().starts_with("duration=") && !f.starts_with("idle_age="))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect()
}

#[test]
fn ovs_ofctl_programs_rvs_bridges() {
    if !have_ovs_tools() || !have_ofctl() {
        return;
    }
    let dir = tempdir("ofctl");
    let d = Daemon::start(&dir);
    d.vsctl_ok(&[
        "add-br",
        "br0",
        "--",
        "add-port",
        "br0",
        "p1",
        "--",
        "set",
        "interface",
        "p1",
        "type=dummy",
        "ofport_request=1",
        "--",
        "add-port",
        "br0",
        "p2",
        "--",
        "set",
        "interface",
        "p2",
        "type=dummy",
        "ofport_request=2",
    ]);
    wait_for(Duration::from_secs(10), "the management socket", || listening(&dir.join("br0.mgmt")));

    for v in ["OpenFlow10", "OpenFlow13"] {
        ofctl_ok(&d, v, &["del-flows"]);
        ofctl_ok(&d, v, &["add-flow", "priority=100,in_port=1,actions=output:2"]);
        ofctl_ok(
            &d,
            v,
            &["add-flow", "cookie=0x7,table=0,priority=200,tcp,tp_dst=80,actions=drop"],
        );
        ofctl_ok(
            &d,
            v,
            &["add-flow", "table=1,priority=5,reg0=0x5,actions=load:0x1->NXM_NX_REG1[],output:1"],
        );
        let dump = ofctl_ok(&d, v, &["dump-flows"]);
        let header = if v == "OpenFlow10" { "NXST_FLOW reply" } else { "OFPST_FLOW reply (OF1.3)" };
        assert!(dump.starts_with(header), "{dump}");
        let lines = flows(&dump);
        assert_eq!(lines.len(), 3, "{dump}");
        assert_eq!(
            lines[0],
            " cookie=0x7, table=0, n_packets=0, n_bytes=0, priority=200,tcp,tp_dst=80 actions=drop"
        );
        assert!(lines[1].ends_with("priority=100,in_port=1 actions=output:2"), "{dump}");
        // A load keeps its form in both versions, as with OVS.
        let reg = "load:0x1->NXM_NX_REG1[],output:1";
        assert!(lines[2].contains("table=1") && lines[2].ends_with(reg), "{dump}");
        // The daemon's own view agrees.
        let own = d.appctl_ok(&["bridge/dump-flows", "br0"]);
        assert!(own.contains("priority=200,tcp,tp_dst=80"), "{own}");

        let agg = ofctl_ok(&d, v, &["dump-aggregate"]);
        assert!(agg.contains("flow_count=3"), "{agg}");
        // A flow_mod the switch refuses: goto_table must go forward.
        let o = ofctl(&d, v, &["add-flow", "table=3,actions=goto_table:1"]);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("OFPT_ERROR") || err.contains("OFPBIC"), "{err}");
        assert_eq!(
            flows(&ofctl_ok(&d, v, &["dump-flows"])).len(),
            3,
            "a refused add changed nothing"
        );

        ofctl_ok(&d, v, &["del-flows", "tcp"]);
        let lines = flows(&ofctl_ok(&d, v, &["dump-flows"]));
        assert_eq!(lines.len(), 2);
        ofctl_ok(&d, v, &["del-flows", "--strict", "priority=100,in_port=1"]);
        assert_eq!(flows(&ofctl_ok(&d, v, &["dump-flows"])).len(), 1);

        let show = ofctl_ok(&d, v, &["show"]);
        assert!(show.contains(" 1(p1): addr:"), "{show}");
        assert!(show.contains(" 2(p2): addr:"), "{show}");
        assert!(show.contains(" LOCAL(br0): addr:"), "{show}");
        assert!(show.contains("n_tables:254"), "{show}");

        let ports = ofctl_ok(&d, v, &["dump-ports"]);
        assert!(ports.contains("3 ports"), "{ports}");
        assert!(ports.contains("port  1: rx pkts="), "{ports}");
    }

    // A packet-out leaves by port 2: the dummy port counts it.
    let before = ofctl_ok(&d, "OpenFlow13", &["dump-ports", "2"]);
    assert!(before.contains("tx pkts=0"), "{before}");
    let hex = frame_hex(1, 2);
    ofctl_ok(&d, "OpenFlow13", &["packet-out", "LOCAL", "output:2", &hex]);
    wait_for(Duration::from_secs(5), "the packet-out on p2", || {
        ofctl_ok(&d, "OpenFlow13", &["dump-ports", "2"]).contains("tx pkts=1")
    });

    // ovs-ofctl monitor asks for packet-in2 and gets the controller's packets.
    ofctl_ok(&d, "OpenFlow13", &["add-flow", "priority=300,in_port=1,actions=controller"]);
    for (opts, want) in
        [(&[][..], "NXT_PACKET_IN2"), (&["--packet-in-format=standard"][..], "OFPT_PACKET_IN")]
    {
        let mon = Command::new("/usr/bin/ovs-ofctl")
            .env("OVS_RUNDIR", &dir)
            .args(opts)
            .args(["-O", "OpenFlow13", "monitor"])
            .arg(format!("unix:{}", dir.join("br0.mgmt").display()))
            .arg("65534")
            .stdout(std::fs::File::create(dir.join("monitor.out")).unwrap())
            .stderr(std::fs::File::create(dir.join("monitor.err")).unwrap())
            .spawn()
            .unwrap();
        let mut mon = mon;
        // ovs-ofctl monitor prints what it receives on stdout or stderr
        // depending on its version: read both.
        let seen = || {
            ["monitor.out", "monitor.err"]
                .iter()
                .map(|f| std::fs::read_to_string(dir.join(f)).unwrap_or_default())
                .collect::<String>()
        };
        let mut n = 0;
        while !seen().contains(want) && n < 40 {
            // Until the monitor is set up, packet-ins go nowhere: keep sending.
            d.appctl_ok(&["netdev-dummy/receive", "p1", &hex]);
            std::thread::sleep(Duration::from_millis(250));
            n += 1;
        }
        kill(mon.id(), "TERM");
        let _ = mon.wait();
        let out = seen();
        assert!(
            out.contains(want) && out.contains("in_port=1 (via action)"),
            "{want}: {out}\n{}",
            d.log()
        );
    }
}

/// The Controller table shows each controller's state: a dead target
/// backs off with its error, a passive one reports its session.
#[test]
fn controller_rows_show_connection_state() {
    if !have_ovs_tools() {
        return;
    }
    let dir = tempdir("ctlstatus");
    let d = Daemon::start(&dir);
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ptcp = l.local_addr().unwrap().port();
    drop(l);
    d.vsctl_ok(&[
        "add-br",
        "br0",
        "--",
        "set-controller",
        "br0",
        &format!("tcp:127.0.0.1:{dead_port}"),
        &format!("ptcp:{ptcp}:127.0.0.1"),
        "ssl:127.0.0.1:6653",
    ]);
    let row = |target: &str, col: &str| {
        let o = d.vsctl(&[
            "--bare",
            "--columns",
            col,
            "find",
            "controller",
            &format!("target=\"{target}\""),
        ]);
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let dead_t = format!("tcp:127.0.0.1:{dead_port}");
    wait_for(Duration::from_secs(10), "the dead controller's error", || {
        row(&dead_t, "status").contains("last_error")
    });
    assert_eq!(row(&dead_t, "is_connected"), "false");
    // A target rvs cannot use says why in its row.
    wait_for(Duration::from_secs(10), "the SSL target's error", || {
        row("ssl:127.0.0.1:6653", "status").contains("SSL connections are not supported")
    });
    // A controller connects to the passive target.
    let mut s = None;
    for _ in 0..100 {
        if let Ok(c) = std::net::TcpStream::connect(("127.0.0.1", ptcp)) {
            s = Some(c);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut s = s.expect("the ptcp listener accepts");
    use std::io::Write;
    s.write_all(&[4, 0, 0, 8, 0, 0, 0, 1]).unwrap(); // an OpenFlow 1.3 hello
    let p_t = format!("ptcp:{ptcp}:127.0.0.1");
    wait_for(Duration::from_secs(10), "the passive controller's session", || {
        row(&p_t, "is_connected") == "true"
    });
    assert_eq!(row(&p_t, "role"), "other");
    assert!(row(&p_t, "status").contains("state=ACTIVE"), "{}", row(&p_t, "status"));
    drop(s);
    wait_for(Duration::from_secs(10), "the session to end", || {
        row(&p_t, "is_connected") == "false"
    });
}
