//! rvs-vswitchd as a client of Open vSwitch's own `ovsdb-server`, with OVS's
//! full schema, driven by OVS's `ovs-vsctl` and `ovs-appctl`; every device
//! a dummy (`--enable-dummy`), everything in a temporary directory. Skips
//! (and says so) where OVS's tools are not installed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const OVSDB_SERVER: &str = "/usr/sbin/ovsdb-server";
const OVSDB_TOOL: &str = "/usr/bin/ovsdb-tool";
const VSCTL: &str = "/usr/bin/ovs-vsctl";
const APPCTL: &str = "/usr/bin/ovs-appctl";
const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

fn have_ovs() -> bool {
    let all = [OVSDB_SERVER, OVSDB_TOOL, VSCTL, APPCTL, SCHEMA];
    let missing: Vec<&str> = all.into_iter().filter(|p| !Path::new(p).exists()).collect();
    if !missing.is_empty() {
        eprintln!("SKIPPED: Open vSwitch's tools are not installed ({missing:?} missing)");
    }
    missing.is_empty()
}

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let p =
            std::env::temp_dir().join(format!("rvs-extdb-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process, killed on drop.
struct Proc(Option<Child>);

impl Proc {
    fn kill(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool, log: impl Fn() -> String) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < Duration::from_secs(20), "timed out waiting for {what}\n{}", log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// OVS's ovsdb-server with OVS's schema, on `db.sock` (and a TCP port).
fn start_ovsdb(dir: &Path, tcp_port: Option<u16>) -> Proc {
    let db = dir.join("conf.db");
    if !db.exists() {
        let o = Command::new(OVSDB_TOOL).arg("create").arg(&db).arg(SCHEMA).output().unwrap();
        assert!(o.status.success(), "ovsdb-tool create: {}", String::from_utf8_lossy(&o.stderr));
    }
    let mut cmd = Command::new(OVSDB_SERVER);
    cmd.arg(&db)
        .arg(format!("--remote=punix:{}", dir.join("db.sock").display()))
        .arg(format!("--unixctl={}", dir.join("ovsdb-server.ctl").display()))
        .arg(format!("--log-file={}", dir.join("ovsdb-server.log").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(p) = tcp_port {
        cmd.arg(format!("--remote=ptcp:{p}:127.0.0.1"));
    }
    let child = Proc(Some(cmd.spawn().unwrap()));
    let sock = dir.join("db.sock");
    wait_for(
        "ovsdb-server",
        || std::os::unix::net::UnixStream::connect(&sock).is_ok(),
        || std::fs::read_to_string(dir.join("ovsdb-server.log")).unwrap_or_default(),
    );
    child
}

/// rvs-vswitchd with run dir `rundir`, against `database`.
fn start_rvs(rundir: &Path, database: &str) -> Proc {
    std::fs::create_dir_all(rundir).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_rvs-vswitchd"))
        .arg("--enable-dummy")
        .arg(database)
        .env("RVS_RUNDIR", rundir)
        .env("RVS_DBDIR", rundir)
        .env("RVS_LOG", "info,rvs_vswitchd::extdb=debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(rundir.join("daemon.log")).unwrap())
        .spawn()
        .unwrap();
    let ctl = rundir.join("rvs-vswitchd.ctl");
    wait_for(
        "rvs-vswitchd's control socket",
        || std::os::unix::net::UnixStream::connect(&ctl).is_ok(),
        || log(rundir),
    );
    Proc(Some(child))
}

fn log(rundir: &Path) -> String {
    std::fs::read_to_string(rundir.join("daemon.log")).unwrap_or_default()
}

fn vsctl(db: &str, args: &[&str]) -> Output {
    Command::new(VSCTL).arg(format!("--db={db}")).arg("--timeout=10").args(args).output().unwrap()
}

fn vsctl_ok(db: &str, args: &[&str], rundir: &Path) -> String {
    let o = vsctl(db, args);
    assert!(
        o.status.success(),
        "ovs-vsctl {args:?}: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        log(rundir)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn appctl_ok(rundir: &Path, args: &[&str]) -> String {
    let o = Command::new(APPCTL)
        .arg("-t")
        .arg(rundir.join("rvs-vswitchd.ctl"))
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "ovs-appctl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn ovs_ovsdb_server_drives_rvs() {
    if !have_ovs() {
        return;
    }
    let tmp = TempDir::new("unix");
    let dir = &tmp.0;
    let rundir = dir.join("rvs");
    let mut ovsdb = start_ovsdb(dir, None);
    let db = format!("unix:{}", dir.join("db.sock").display());
    vsctl_ok(&db, &["--no-wait", "init"], &rundir);
    let _rvs = start_rvs(&rundir, &db);

    // ovs-vsctl waits for cur_cfg to reach next_cfg: it returns only if
    // rvs applied the change and said so.
    vsctl_ok(
        &db,
        &["add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev"],
        &rundir,
    );
    vsctl_ok(
        &db,
        &["add-port", "br0", "p1", "--", "set", "interface", "p1", "type=dummy"],
        &rundir,
    );
    vsctl_ok(
        &db,
        &[
            "add-port",
            "br0",
            "p2",
            "tag=10",
            "--",
            "set",
            "interface",
            "p2",
            "type=dummy",
            "ofport_request=7",
        ],
        &rundir,
    );
    assert_eq!(vsctl_ok(&db, &["get", "interface", "p1", "ofport"], &rundir), "1\n");
    assert_eq!(vsctl_ok(&db, &["get", "interface", "p2", "ofport"], &rundir), "7\n");
    assert_eq!(vsctl_ok(&db, &["get", "interface", "br0", "ofport"], &rundir), "65534\n");
    assert_eq!(vsctl_ok(&db, &["get", "interface", "p1", "link_state"], &rundir), "up\n");

    let dpif = appctl_ok(&rundir, &["dpif/show"]);
    assert!(dpif.contains("  br0:\n"), "{dpif}");
    assert!(dpif.contains("    p1 1/"), "{dpif}");
    assert!(dpif.contains("    p2 7/"), "{dpif}");
    // Frames in on p1 are learnt on port 1.
    appctl_ok(
        &rundir,
        &[
            "netdev-dummy/receive",
            "p1",
            "ffffffffffff020000000001080045000014000000004000000000000000000000000000",
        ],
    );
    let fdb = appctl_ok(&rundir, &["fdb/show", "br0"]);
    assert_eq!(fdb.lines().next(), Some(" port  VLAN  MAC                Age"), "{fdb}");

    // Settings in the Open_vSwitch and Interface rows reach the switch
    // too: a refused datapath setting is warned about, p2 takes its MTU,
    // and its policer (8 kb burst: 1,000 bytes, 27 of these frames'
    // 37 bytes past their Ethernet headers) drops the rest of a burst.
    vsctl_ok(
        &db,
        &[
            "set",
            "open_vswitch",
            ".",
            "other_config:pmd-busy-poll-us=soon",
            "--",
            "set",
            "interface",
            "p2",
            "mtu_request=2000",
            "ingress_policing_rate=8",
            "ingress_policing_burst=8",
        ],
        &rundir,
    );
    wait_for(
        "the warning about pmd-busy-poll-us",
        || log(&rundir).contains("other_config:pmd-busy-poll-us=\"soon\""),
        || log(&rundir),
    );
    wait_for(
        "p2's MTU",
        || vsctl_ok(&db, &["get", "interface", "p2", "mtu"], &rundir) == "2000\n",
        || log(&rundir),
    );
    let frame = "ffffffffffff0200000000020800450000250000400040110000c6120002c61200010000000000000000000000000000000000";
    let mut args = vec!["netdev-dummy/receive", "p2"];
    args.extend(std::iter::repeat_n(frame, 40));
    appctl_ok(&rundir, &args);
    wait_for(
        "the policer's drops",
        || {
            let show = appctl_ok(&rundir, &["dpctl/show", "-s"]);
            let p2 = show.split("p2 (dummy)").nth(1).unwrap_or("");
            let rx = p2.lines().nth(1).unwrap_or("");
            let dropped = rx.split_whitespace().find_map(|w| w.strip_prefix("dropped:"));
            rx.contains("packets:40 ")
                && dropped
                    .and_then(|d| d.parse::<u32>().ok())
                    .is_some_and(|d| (10..=13).contains(&d))
        },
        || appctl_ok(&rundir, &["dpctl/show", "-s"]),
    );

    // A bad interface type gets its error written back and the rest carries on.
    vsctl_ok(
        &db,
        &["add-port", "br0", "bad", "--", "set", "interface", "bad", "type=nonesuch"],
        &rundir,
    );
    let err = vsctl_ok(&db, &["get", "interface", "bad", "error"], &rundir);
    assert!(err.contains("nonesuch"), "{err}");
    vsctl_ok(&db, &["del-port", "br0", "bad"], &rundir);

    // A fake bridge is a tagged internal port of its parent, not a bridge
    // (VLAN 20: p2 is on VLAN 10 and would belong to a fake bridge there).
    vsctl_ok(&db, &["add-br", "vlan20", "br0", "20"], &rundir);
    vsctl_ok(
        &db,
        &["add-port", "vlan20", "p4", "--", "set", "interface", "p4", "type=dummy"],
        &rundir,
    );
    assert_eq!(vsctl_ok(&db, &["get", "port", "p4", "tag"], &rundir), "20\n");
    let dpif = appctl_ok(&rundir, &["dpif/show"]);
    assert!(dpif.contains("    vlan20 "), "{dpif}");
    assert!(dpif.contains("    p4 "), "{dpif}");
    assert!(!dpif.contains("  vlan20:"), "{dpif}");
    assert_ne!(vsctl_ok(&db, &["get", "interface", "vlan20", "ofport"], &rundir), "-1\n");
    vsctl_ok(&db, &["del-br", "vlan20"], &rundir);
    let dpif = appctl_ok(&rundir, &["dpif/show"]);
    assert!(!dpif.contains("vlan20") && !dpif.contains(" p4 "), "{dpif}");

    vsctl_ok(&db, &["del-port", "br0", "p1"], &rundir);
    let dpif = appctl_ok(&rundir, &["dpif/show"]);
    assert!(!dpif.contains(" p1 "), "{dpif}");
    assert!(dpif.contains("    p2 7/"), "{dpif}");

    // ovsdb-server goes away and comes back: rvs reconnects and carries on.
    ovsdb.kill();
    ovsdb = start_ovsdb(dir, None);
    vsctl_ok(
        &db,
        &["add-port", "br0", "p3", "--", "set", "interface", "p3", "type=dummy"],
        &rundir,
    );
    assert_eq!(vsctl_ok(&db, &["get", "interface", "p3", "ofport"], &rundir), "1\n");
    assert!(appctl_ok(&rundir, &["dpif/show"]).contains("    p3 1/"));
    assert!(log(&rundir).contains("reconnecting"), "{}", log(&rundir));

    vsctl_ok(&db, &["del-br", "br0"], &rundir);
    let dpif = appctl_ok(&rundir, &["dpif/show"]);
    assert!(!dpif.contains("br0"), "{dpif}");
    drop(ovsdb);
}

#[test]
fn tcp_remote_and_the_ovs_vswitchd_lock() {
    if !have_ovs() {
        return;
    }
    let tmp = TempDir::new("tcp");
    let dir = &tmp.0;
    let port = free_tcp_port();
    let _ovsdb = start_ovsdb(dir, Some(port));
    let db = format!("tcp:127.0.0.1:{port}");
    let first = dir.join("rvs1");
    let second = dir.join("rvs2");
    vsctl_ok(&db, &["--no-wait", "init"], &first);
    let mut rvs1 = start_rvs(&first, &db);
    vsctl_ok(&db, &["add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev"], &first);

    // A second switch on the same database waits for the lock and touches
    // nothing meanwhile.
    let _rvs2 = start_rvs(&second, &db);
    wait_for(
        "the second switch to wait",
        || log(&second).contains("waiting for lock"),
        || log(&second),
    );
    assert!(!appctl_ok(&second, &["dpif/show"]).contains("br0"));

    // When the first goes, the second gets the lock and takes over.
    rvs1.kill();
    wait_for(
        "the second switch to take over",
        || appctl_ok(&second, &["dpif/show"]).contains("  br0:"),
        || log(&second),
    );
    vsctl_ok(
        &db,
        &["add-port", "br0", "p1", "--", "set", "interface", "p1", "type=dummy"],
        &second,
    );
    assert_eq!(vsctl_ok(&db, &["get", "interface", "p1", "ofport"], &second), "1\n");

    // Over TCP ovsdb-server probes an idle client with "echo" (after 5 s)
    // and drops it if unanswered: rvs answers and stays connected.
    wait_for("an echo request", || log(&second).contains("answering echo"), || log(&second));
    assert!(!log(&second).contains("reconnecting"), "{}", log(&second));
}
