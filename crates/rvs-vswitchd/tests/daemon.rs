//! The daemon driven only through its clients: OVS's `ovs-vsctl` and
//! `ovs-appctl` (Debian's openvswitch-common, installed by CI), with every
//! device a dummy (`--enable-dummy`), in a temporary run dir.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

struct Daemon {
    dir: PathBuf,
    child: Option<Child>,
}

fn have(tool: &str) -> bool {
    Path::new(tool).exists()
}

impl Daemon {
    fn start(dir: &Path) -> Daemon {
        std::fs::create_dir_all(dir).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_rvs-vswitchd"))
            .arg("--enable-dummy")
            .arg(format!("--log-file={}", dir.join("file.log").display()))
            .env("RVS_RUNDIR", dir)
            .env("RVS_DBDIR", dir)
            .stderr(std::fs::File::create(dir.join("daemon.log")).unwrap())
            .spawn()
            .unwrap();
        let d = Daemon { dir: dir.to_path_buf(), child: Some(child) };
        let t = Instant::now();
        let up = |p: PathBuf| std::os::unix::net::UnixStream::connect(p).is_ok();
        while !(up(d.dir.join("rvs-vswitchd.ctl")) && up(d.dir.join("db.sock"))) {
            assert!(t.elapsed() < Duration::from_secs(10), "daemon did not start: {}", d.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }

    fn vsctl(&self, args: &[&str]) -> Output {
        Command::new("/usr/bin/ovs-vsctl")
            .arg(format!("--db=unix:{}", self.dir.join("db.sock").display()))
            .arg("--timeout=10")
            .args(args)
            .output()
            .unwrap()
    }

    fn vsctl_ok(&self, args: &[&str]) -> String {
        let o = self.vsctl(args);
        assert!(
            o.status.success(),
            "ovs-vsctl {args:?}: {}\n{}",
            String::from_utf8_lossy(&o.stderr),
            self.log()
        );
        String::from_utf8(o.stdout).unwrap()
    }

    fn appctl(&self, args: &[&str]) -> Output {
        Command::new("/usr/bin/ovs-appctl")
            .arg("-t")
            .arg(self.dir.join("rvs-vswitchd.ctl"))
            .args(args)
            .output()
            .unwrap()
    }

    fn appctl_ok(&self, args: &[&str]) -> String {
        let o = self.appctl(args);
        assert!(o.status.success(), "ovs-appctl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rvs-daemon-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// An Ethernet/IPv4/UDP frame in hex.
fn frame_hex(src: u8, dst: u8) -> String {
    let f = rvs_packet::wire::builder::PacketBuilder::ethernet(
        rvs_packet::EthAddr([2, 0, 0, 0, 0, src]),
        rvs_packet::EthAddr([2, 0, 0, 0, 0, dst]),
    )
    .ipv4(std::net::Ipv4Addr::new(198, 18, 0, src), std::net::Ipv4Addr::new(198, 18, 0, dst), 64)
    .udp(1000, 2000)
    .payload(b"rvs")
    .build();
    f.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn ovs_vsctl_and_ovs_appctl_drive_the_daemon() {
    if !have("/usr/bin/ovs-vsctl") || !have("/usr/bin/ovs-appctl") {
        eprintln!(
            "SKIPPED: ovs-vsctl/ovs-appctl not installed (apt-get install openvswitch-common)"
        );
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
    let _ = std::fs::remove_dir_all(&dir);
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
    let _ = std::fs::remove_dir_all(&dir);
}
