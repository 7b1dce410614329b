//! `rvs-ofctl` against a running `rvs-vswitchd --enable-dummy` (and, when
//! Debian's `ovs-vswitchd` can start, a real OVS bridge), compared byte for
//! byte with the real `ovs-ofctl` run against the same switch.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

const OVS_OFCTL: &str = "/usr/bin/ovs-ofctl";

fn have(tool: &str) -> bool {
    Path::new(tool).exists()
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rvs-ofctl-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The daemon binary, next to this crate's binaries in the target dir.
fn vswitchd_bin() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_rvs-ofctl")).with_file_name("rvs-vswitchd")
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// rvs-vswitchd on a temporary run dir, killed on drop.
struct Rvs {
    dir: PathBuf,
    child: Child,
}

impl Rvs {
    fn start(name: &str) -> Option<Rvs> {
        let bin = vswitchd_bin();
        if !bin.exists() {
            println!("SKIPPED: {} not built (cargo build -p rvs-vswitchd)", bin.display());
            return None;
        }
        let dir = tempdir(name);
        let child = Command::new(bin)
            .arg("--enable-dummy")
            .env("RVS_RUNDIR", &dir)
            .env("RVS_DBDIR", &dir)
            .stderr(std::fs::File::create(dir.join("daemon.log")).unwrap())
            .spawn()
            .unwrap();
        let d = Rvs { dir, child };
        let up = |p: PathBuf| std::os::unix::net::UnixStream::connect(p).is_ok();
        wait_for("the daemon", || up(d.dir.join("db.sock")));
        let o = Command::new(env!("CARGO_BIN_EXE_rvs-vsctl"))
            .arg(format!("--db=unix:{}", d.dir.join("db.sock").display()))
            // --no-wait: the bridge's socket is waited for below.
            .args([
                "--no-wait",
                "add-br",
                "br0",
                "--",
                "add-port",
                "br0",
                "p1",
                "--",
                "set",
                "interface",
            ])
            .args(["p1", "type=dummy", "--", "add-port", "br0", "p2", "--", "set", "interface"])
            .args(["p2", "type=dummy"])
            .output()
            .unwrap();
        assert!(o.status.success(), "rvs-vsctl: {}", String::from_utf8_lossy(&o.stderr));
        wait_for("br0.mgmt", || up(d.dir.join("br0.mgmt")));
        let sw = d.mgmt();
        let t = Instant::now();
        loop {
            let o = rvs_ofctl(&d.dir, &["dump-ports-desc", &sw]);
            let out = String::from_utf8_lossy(&o.stdout);
            if out.contains("(p1)") && out.contains("(p2)") {
                break;
            }
            let log = std::fs::read_to_string(d.dir.join("daemon.log")).unwrap_or_default();
            assert!(t.elapsed() < Duration::from_secs(30), "no ports p1, p2: {out}\n{log}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(d)
    }

    fn mgmt(&self) -> String {
        format!("unix:{}", self.dir.join("br0.mgmt").display())
    }
}

impl Drop for Rvs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn rvs_ofctl(rundir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rvs-ofctl"))
        .env("RVS_RUNDIR", rundir)
        .args(args)
        .output()
        .unwrap()
}

fn ovs_ofctl(args: &[&str]) -> Output {
    Command::new(OVS_OFCTL).args(args).output().unwrap()
}

/// stdout, stderr (with ovs-ofctl's name) and exit code.
fn text(o: &Output) -> (String, String, Option<i32>) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).replace("rvs-ofctl:", "ovs-ofctl:"),
        o.status.code(),
    )
}

/// Replaces the numbers after `duration=`, `idle_age=` and `hard_age=`,
/// which differ between two runs.
fn no_times(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = ["duration=", "idle_age=", "hard_age="]
        .iter()
        .filter_map(|k| rest.find(k).map(|i| i + k.len()))
        .min()
    {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        out.push('T');
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Runs `args` through both tools and asserts the same output.
fn same(rundir: &Path, args: &[&str]) -> String {
    let a = text(&ovs_ofctl(args));
    let b = text(&rvs_ofctl(rundir, args));
    let norm = |t: (String, String, Option<i32>)| (no_times(&t.0), no_times(&t.1), t.2);
    assert_eq!(norm(a.clone()), norm(b), "ovs-ofctl vs rvs-ofctl {args:?}");
    a.0
}

fn ok(rundir: &Path, args: &[&str]) -> String {
    let o = rvs_ofctl(rundir, args);
    assert!(o.status.success(), "rvs-ofctl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// An Ethernet/IPv4/UDP frame in hex.
const FRAME: &str =
    "020000000002020000000001080045000020000000004011f2b5c6120001c612000203e807d0000c0000727673";

/// The `tx pkts=` count of port `port` in `dump-ports` output.
fn tx_packets(dump: &str) -> u64 {
    let line = dump.lines().find(|l| l.contains("tx pkts=")).expect("a tx line");
    let v = &line[line.find("tx pkts=").unwrap() + 8..];
    v[..v.find(',').unwrap()].parse().unwrap()
}

/// The checks shared by the rvs and the OVS switch.
fn compare_all(rundir: &Path, sw: &str, skip_match_dumps_13: bool) {
    let flows = rundir.join("flows.txt");
    std::fs::write(
        &flows,
        "# test flows\npriority=5,ip,nw_dst=198.18.0.5,actions=drop\n\n\
         table=1,priority=7,tcp,tp_dst=80,actions=output:1\n",
    )
    .unwrap();
    let replace = rundir.join("replace.txt");
    std::fs::write(
        &replace,
        "priority=5,ip,nw_dst=198.18.0.5,actions=output:2\npriority=0,actions=NORMAL\n\
         priority=9,arp,actions=NORMAL\n",
    )
    .unwrap();
    let flows = flows.to_str().unwrap();
    let replace = replace.to_str().unwrap();
    for v in ["OpenFlow10", "OpenFlow13"] {
        let o = ["-O", v];
        for cmd in [
            "show",
            "dump-ports",
            "dump-ports-desc",
            "dump-tables",
            "dump-desc",
            "get-frags",
            "probe",
        ] {
            same(rundir, &[&o[..], &[cmd, sw]].concat());
        }
        same(rundir, &[&o[..], &["dump-ports", sw, "2"]].concat());
        // Flow commands by rvs-ofctl, read back by both tools.
        ok(
            rundir,
            &[&o[..], &["add-flow", sw, "priority=10,ip,nw_dst=198.18.0.9,actions=output:1"]]
                .concat(),
        );
        ok(rundir, &[&o[..], &["add-flow", sw, "table=2,reg0=5,actions=output:2"]].concat());
        ok(rundir, &[&o[..], &["add-flows", sw, flows]].concat());
        let dump = same(rundir, &[&o[..], &["dump-flows", sw]].concat());
        assert!(dump.contains("priority=10,ip,nw_dst=198.18.0.9 actions=output:1"), "{dump}");
        assert!(dump.contains("table=2,") && dump.contains("reg0=0x5 actions=output:2"), "{dump}");
        assert!(dump.contains("table=1,") && dump.contains("tcp,tp_dst=80"), "{dump}");
        same(rundir, &[&o[..], &["--no-stats", "dump-flows", sw]].concat());
        same(rundir, &[&o[..], &["dump-aggregate", sw]].concat());
        if v == "OpenFlow10" || !skip_match_dumps_13 {
            same(rundir, &[&o[..], &["dump-flows", sw, "table=1"]].concat());
            same(rundir, &[&o[..], &["dump-aggregate", sw, "ip"]].concat());
        }
        {
            ok(
                rundir,
                &[&o[..], &["mod-flows", sw, "ip,nw_dst=198.18.0.9,actions=output:2"]].concat(),
            );
            let d = ok(rundir, &[&o[..], &["--no-stats", "dump-flows", sw]].concat());
            assert!(d.contains("priority=10,ip,nw_dst=198.18.0.9 actions=output:2"), "{d}");
        }
        ok(
            rundir,
            &[&o[..], &["--strict", "del-flows", sw, "priority=10,ip,nw_dst=198.18.0.9"]].concat(),
        );
        ok(rundir, &[&o[..], &["del-flows", sw, "table=2"]].concat());
        let d = ok(rundir, &[&o[..], &["--no-stats", "dump-flows", sw]].concat());
        assert!(!d.contains("198.18.0.9") && !d.contains("reg0"), "{d}");
        ok(rundir, &[&o[..], &["replace-flows", sw, replace]].concat());
        let d = same(rundir, &[&o[..], &["--no-stats", "--sort", "dump-flows", sw]].concat());
        // (OVS flags rules added over OpenFlow 1.0 with reset_counts.)
        assert_eq!(
            d.replace("reset_counts ", ""),
            " priority=0 actions=NORMAL\n priority=5,ip,nw_dst=198.18.0.5 actions=output:2\n \
             priority=9,arp actions=NORMAL\n",
            "after replace-flows"
        );
        same(rundir, &[&o[..], &["--no-stats", "--rsort", "dump-flows", sw]].concat());
        // A bad flow: one line naming the field, exit 1.
        let bad =
            rvs_ofctl(rundir, &[&o[..], &["add-flow", sw, "ip,nw_dsx=1,actions=drop"]].concat());
        assert_eq!(bad.status.code(), Some(1));
        let err = String::from_utf8_lossy(&bad.stderr);
        assert!(err.starts_with("rvs-ofctl: ") && err.contains("nw_dsx"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn rvs_ofctl_matches_ovs_ofctl_on_rvs() {
    if !have(OVS_OFCTL) {
        println!("SKIPPED: {OVS_OFCTL} not installed (apt-get install openvswitch-common)");
        return;
    }
    let Some(d) = Rvs::start("rvs") else { return };
    let sw = d.mgmt();
    // ovs-ofctl 3.1 refuses rvs's table-features reply, which it asks for
    // before parsing a match on OpenFlow 1.3: those dumps are compared on
    // 1.0 only.
    compare_all(&d.dir, &sw, true);
    // The bridge name resolves through RVS_RUNDIR.
    let by_name = ok(&d.dir, &["dump-desc", "br0"]);
    assert!(by_name.starts_with("OFPST_DESC reply (xid=0x2):\n"), "{by_name}");

    // Port and table names (OpenFlow 1.0: ovs-ofctl 3.1 refuses rvs's 1.3
    // table features).
    ok(&d.dir, &["add-flow", &sw, "table=1,in_port=p1,actions=output:p2,LOCAL"]);
    let named = same(&d.dir, &["--names", "--no-stats", "dump-flows", &sw]);
    assert!(named.contains(" table=table1, in_port=p1 actions=output:p2,LOCAL\n"), "{named}");
    same(&d.dir, &["--names", "dump-flows", &sw]);
    same(&d.dir, &["--sort", "dump-flows", &sw]);

    // Offering several versions negotiates the highest both speak.
    let desc = same(&d.dir, &["-O", "OpenFlow10,OpenFlow13", "dump-desc", &sw]);
    assert!(desc.starts_with("OFPST_DESC reply (OF1.3)"), "{desc}");

    // add-flows from stdin.
    let mut child = Command::new(env!("CARGO_BIN_EXE_rvs-ofctl"))
        .args(["add-flows", &sw, "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"priority=3,udp,tp_dst=53,actions=drop\n").unwrap();
    }
    assert!(child.wait().unwrap().success());
    let d2 = ok(&d.dir, &["--no-stats", "dump-flows", &sw, "udp"]);
    assert_eq!(d2, " priority=3,udp,tp_dst=53 actions=drop\n");

    // A flow_mod the switch refuses prints its OFPT_ERROR, exit 1.
    let o =
        rvs_ofctl(&d.dir, &["-O", "OpenFlow13", "add-flow", &sw, "table=1,actions=goto_table:1"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "OFPT_ERROR (OF1.3) (xid=0x6): OFPBIC_BAD_TABLE_ID\n\
         OFPT_FLOW_MOD (OF1.3) (xid=0x6): ADD table:1 actions=goto_table:1\n"
    );

    // packet-out, both syntaxes: the frame leaves through p2.
    for v in ["OpenFlow10", "OpenFlow13"] {
        let before = tx_packets(&ok(&d.dir, &["-O", v, "dump-ports", &sw, "2"]));
        ok(&d.dir, &["-O", v, "packet-out", &sw, "LOCAL", "output:2", FRAME]);
        let pkt = format!("in_port=LOCAL,packet={FRAME},actions=output:2");
        ok(&d.dir, &["-O", v, "packet-out", &sw, &pkt]);
        let after = tx_packets(&ok(&d.dir, &["-O", v, "dump-ports", &sw, "2"]));
        assert_eq!(after, before + 2, "packet-out over {v}");
    }

    // Connection errors look like ovs-ofctl's.
    let missing = d.dir.join("nope.mgmt");
    let m = format!("unix:{}", missing.display());
    same(&d.dir, &["show", &m]);
    same(&d.dir, &["show", "no-such-bridge"]);
}

/// Debian's ovsdb-server and ovs-vswitchd in a temporary directory, with a
/// userspace (netdev) bridge; killed on drop.
struct Ovs {
    dir: PathBuf,
    /// The bridge and its port: kernel tap devices, so named per process.
    br: String,
}

impl Ovs {
    fn start() -> Option<Ovs> {
        for tool in ["/usr/sbin/ovs-vswitchd", "/usr/sbin/ovsdb-server", "/usr/bin/ovsdb-tool"] {
            if !have(tool) {
                println!("SKIPPED: {tool} not installed");
                return None;
            }
        }
        let dir = tempdir("ovs");
        let n = std::process::id() % 100_000;
        let (br, port) = (format!("rvsofc{n}"), format!("rvsofp{n}"));
        let ovs = Ovs { dir: dir.clone(), br: br.clone() };
        let p = |n: &str| dir.join(n).display().to_string();
        let env = [
            ("OVS_RUNDIR", p("")),
            ("OVS_DBDIR", p("")),
            ("OVS_LOGDIR", p("")),
            ("OVS_SYSCONFDIR", p("")),
        ];
        let run = |cmd: &str, args: &[String]| {
            Command::new(cmd).args(args).envs(env.iter().cloned()).output().unwrap()
        };
        let s = |x: &str| x.to_string();
        let steps: Vec<(&str, Vec<String>)> = vec![
            (
                "/usr/bin/ovsdb-tool",
                vec![s("create"), p("conf.db"), s("/usr/share/openvswitch/vswitch.ovsschema")],
            ),
            (
                "/usr/sbin/ovsdb-server",
                vec![
                    s("--no-chdir"),
                    format!("--pidfile={}", p("ovsdb-server.pid")),
                    format!("--unixctl={}", p("ovsdb-server.ctl")),
                    format!("--remote=punix:{}", p("db.sock")),
                    format!("--log-file={}", p("ovsdb-server.log")),
                    s("--detach"),
                    p("conf.db"),
                ],
            ),
            (
                "/usr/bin/ovs-vsctl",
                vec![format!("--db=unix:{}", p("db.sock")), s("--no-wait"), s("init")],
            ),
            (
                "/usr/sbin/ovs-vswitchd",
                vec![
                    s("--no-chdir"),
                    format!("--pidfile={}", p("ovs-vswitchd.pid")),
                    format!("--unixctl={}", p("ovs-vswitchd.ctl")),
                    format!("--log-file={}", p("ovs-vswitchd.log")),
                    s("--detach"),
                    format!("unix:{}", p("db.sock")),
                ],
            ),
            (
                "/usr/bin/ovs-vsctl",
                [
                    format!("--db=unix:{}", p("db.sock")),
                    s("--timeout=10"),
                    s("add-br"),
                    br.clone(),
                    s("--"),
                    s("set"),
                    s("bridge"),
                    br.clone(),
                    s("datapath_type=netdev"),
                    s("--"),
                    s("add-port"),
                    br.clone(),
                    port.clone(),
                    s("--"),
                    s("set"),
                    s("interface"),
                    port.clone(),
                    s("type=internal"),
                ]
                .to_vec(),
            ),
        ];
        for (cmd, args) in steps {
            let o = run(cmd, &args);
            if !o.status.success() {
                println!(
                    "SKIPPED: OVS did not start: {cmd} failed: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                return None;
            }
        }
        let mgmt = dir.join(format!("{br}.mgmt"));
        wait_for("OVS's br0.mgmt", || std::os::unix::net::UnixStream::connect(&mgmt).is_ok());
        Some(ovs)
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        // Deleting the bridge first removes its tap devices.
        let _ = Command::new("/usr/bin/ovs-vsctl")
            .arg(format!("--db=unix:{}", self.dir.join("db.sock").display()))
            .args(["--timeout=5", "--if-exists", "del-br", &self.br])
            .output();
        for pidfile in ["ovs-vswitchd.pid", "ovsdb-server.pid"] {
            if let Ok(pid) = std::fs::read_to_string(self.dir.join(pidfile)) {
                let _ = Command::new("kill").arg(pid.trim()).status();
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn rvs_ofctl_matches_ovs_ofctl_on_ovs_vswitchd() {
    if !have(OVS_OFCTL) {
        println!("SKIPPED: {OVS_OFCTL} not installed");
        return;
    }
    let Some(ovs) = Ovs::start() else { return };
    let sw = format!("unix:{}", ovs.dir.join(format!("{}.mgmt", ovs.br)).display());
    compare_all(&ovs.dir, &sw, false);
}
