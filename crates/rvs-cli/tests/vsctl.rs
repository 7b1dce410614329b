//! `rvs-vsctl` against the rvs OVSDB server with OVS's vswitch schema,
//! compared with the real `ovs-vsctl` where it is installed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rvs_cli::vsctl::{run, Output};
use rvs_ovsdb::Server;
use serde_json::json;

const VSWITCH_SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// A temp directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("rvs-vsctl-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server on a fresh database, listening on a socket in its own dir.
struct Db {
    server: Arc<Server>,
    sock: PathBuf,
    _dir: TempDir,
}

impl Drop for Db {
    fn drop(&mut self) {
        self.server.stop();
    }
}

impl Db {
    /// `None` (after saying so) when the schema is not installed.
    fn start() -> Option<Db> {
        if !Path::new(VSWITCH_SCHEMA).exists() {
            println!("SKIPPED: {VSWITCH_SCHEMA} is missing (install openvswitch-common)");
            return None;
        }
        let dir = TempDir::new();
        let server =
            Server::open(dir.0.join("conf.db"), Some(Path::new(VSWITCH_SCHEMA))).expect("open db");
        let sock = dir.0.join("db.sock");
        server.listen(&format!("punix:{}", sock.display())).expect("listen");
        Some(Db { server: Arc::new(server), sock, _dir: dir })
    }

    fn db_arg(&self) -> String {
        format!("--db=unix:{}", self.sock.display())
    }

    /// `rvs-vsctl --db=... --no-wait ARGS`.
    fn vsctl(&self, args: &[&str]) -> Output {
        let mut all = vec![self.db_arg(), "--no-wait".to_string()];
        all.extend(args.iter().map(|s| s.to_string()));
        run(&all)
    }

    /// Like [`Db::vsctl`], asserting success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.vsctl(args);
        assert_eq!(out.code, 0, "rvs-vsctl {args:?} failed: {}", out.stderr);
        out.stdout
    }

    /// `ovs-vsctl --db=... --no-wait ARGS`, if installed.
    fn ovs(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("ovs-vsctl")
            .arg(self.db_arg())
            .arg("--no-wait")
            .arg("--timeout=10")
            .args(args)
            .output()
            .ok()?;
        assert!(
            out.status.success(),
            "ovs-vsctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs ARGS with both tools (read-only commands) and checks the outputs match.
    fn same(&self, args: &[&str]) -> String {
        let ours = self.ok(args);
        match self.ovs(args) {
            Some(theirs) => assert_eq!(ours, theirs, "output of {args:?} differs from ovs-vsctl"),
            None => println!("ovs-vsctl not installed: not comparing {args:?}"),
        }
        ours
    }
}

#[test]
fn bridges_ports_and_generic_commands() {
    let Some(db) = Db::start() else { return };
    db.ok(&["init"]);
    db.ok(&["add-br", "br0"]);
    db.ok(&["add-port", "br0", "p1", "tag=10"]);
    db.ok(&["set", "Interface", "p1", "type=patch", "options:peer=p2", "ofport_request=5"]);
    assert_eq!(db.same(&["list-br"]), "br0\n");
    assert_eq!(db.same(&["list-ports", "br0"]), "p1\n");
    assert_eq!(db.same(&["port-to-br", "p1"]), "br0\n");
    assert_eq!(db.vsctl(&["br-exists", "br0"]).code, 0);
    assert_eq!(db.vsctl(&["br-exists", "br9"]).code, 2);

    assert_eq!(
        db.same(&["get", "Interface", "p1", "type", "options", "ofport_request"]),
        "patch\n{peer=p2}\n5\n"
    );
    assert_eq!(db.same(&["get", "Interface", "p1", "options:peer"]), "p2\n");
    assert_eq!(db.same(&["get", "Port", "p1", "tag"]), "10\n");
    db.ok(&["set", "Port", "p1", "trunks=10,20", "vlan_mode=trunk"]);
    assert_eq!(db.same(&["get", "Port", "p1", "trunks", "vlan_mode"]), "[10, 20]\ntrunk\n");
    db.ok(&["add", "Port", "p1", "trunks", "30"]);
    db.ok(&["remove", "Port", "p1", "trunks", "10"]);
    assert_eq!(db.same(&["get", "Port", "p1", "trunks"]), "[20, 30]\n");
    db.ok(&["clear", "Port", "p1", "trunks", "tag"]);
    assert_eq!(db.same(&["get", "Port", "p1", "trunks", "tag"]), "[]\n[]\n");
    db.ok(&["add", "Bridge", "br0", "external_ids", "a=b", "c=\"d e\""]);
    db.ok(&["remove", "Bridge", "br0", "external_ids", "a"]);
    assert_eq!(db.same(&["get", "Bridge", "br0", "external_ids"]), "{c=\"d e\"}\n");

    let found = db.same(&["find", "Interface", "type=patch"]);
    assert!(found.contains("name                : p1\n"), "{found}");
    assert!(found.contains("options             : {peer=p2}\n"), "{found}");
    assert_eq!(db.same(&["find", "Interface", "type=vxlan"]), "");
    db.same(&["list", "Interface", "p1"]);
    db.same(&["list", "Bridge"]);
    db.same(&["list", "Port", "br0", "p1"]);

    // show: compare with ovs-vsctl where installed; check the tree anyway.
    let shown = db.ok(&["show"]);
    assert!(shown.contains("    Bridge br0\n        Port br0\n            Interface br0\n                type: internal\n"), "{shown}");
    assert!(shown.contains("            Interface p1\n                type: patch\n                options: {peer=p2}\n"), "{shown}");
    // ovs-vsctl lists ports in hash order: compare the lines as sets.
    if let Some(theirs) = db.ovs(&["show"]) {
        let mut a: Vec<&str> = shown.lines().collect();
        let mut b: Vec<&str> = theirs.lines().collect();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b, "show differs from ovs-vsctl:\n{shown}\n{theirs}");
    }

    // create with --id and a reference, destroy.
    let out = db.ok(&[
        "--id=@m", "create", "Mirror", "name=m1", "--", "add", "Bridge", "br0", "mirrors", "@m",
    ]);
    let uuid = out.trim().to_string();
    assert_eq!(uuid.len(), 36, "{out}");
    assert_eq!(db.same(&["get", "Mirror", "m1", "_uuid"]), format!("{uuid}\n"));
    assert_eq!(db.same(&["get", "Bridge", "br0", "mirrors"]), format!("[{uuid}]\n"));
    db.ok(&["clear", "Bridge", "br0", "mirrors"]);
    assert_eq!(db.same(&["list", "Mirror"]), "");

    db.ok(&["del-port", "br0", "p1"]);
    assert_eq!(db.same(&["list-ports", "br0"]), "");
    assert_eq!(db.same(&["list", "Interface", "br0"]).matches("_uuid").count(), 1);
    db.ok(&["del-br", "br0"]);
    assert_eq!(db.same(&["list-br"]), "");
    assert_eq!(db.same(&["list", "Port"]), "");
}

#[test]
fn may_exist_if_exists_and_errors() {
    let Some(db) = Db::start() else { return };
    db.ok(&["init"]);
    db.ok(&["add-br", "br0"]);
    db.ok(&["--may-exist", "add-br", "br0"]);
    let out = db.vsctl(&["add-br", "br0"]);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        "rvs-vsctl: cannot create a bridge named br0 because a bridge named br0 already exists\n"
    );
    db.ok(&["--if-exists", "del-br", "br9"]);
    let out = db.vsctl(&["del-br", "br9"]);
    assert_eq!((out.code, out.stderr.as_str()), (1, "rvs-vsctl: no bridge named br9\n"));
    let out = db.vsctl(&["add-port", "br9", "p1"]);
    assert_eq!((out.code, out.stderr.as_str()), (1, "rvs-vsctl: no bridge named br9\n"));
    let out = db.vsctl(&["del-port", "p9"]);
    assert_eq!((out.code, out.stderr.as_str()), (1, "rvs-vsctl: no port named p9\n"));
    let out = db.vsctl(&["set", "Port", "br0", "tag=abc"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("\"abc\" is not a valid integer"), "{}", out.stderr);
    let out = db.vsctl(&["set", "Interface", "br0", "nosuchcolumn=1"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("nosuchcolumn"), "{}", out.stderr);
    let out = db.vsctl(&["frobnicate"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("unknown command 'frobnicate'"), "{}", out.stderr);

    // A failing command in a multi-command invocation changes nothing.
    let out = db.vsctl(&["add-br", "br1", "--", "add-port", "br1", "p1", "--", "del-br", "br9"]);
    assert_eq!(out.code, 1);
    assert_eq!(db.same(&["list-br"]), "br0\n");

    // The same without the failing command is one transaction that works,
    // and later commands see the earlier ones.
    let out = db.ok(&[
        "add-br",
        "br1",
        "--",
        "add-port",
        "br1",
        "p1",
        "--",
        "list-ports",
        "br1",
        "--",
        "port-to-br",
        "p1",
    ]);
    assert_eq!(out, "p1\nbr1\n");
    assert_eq!(db.same(&["list-br"]), "br0\nbr1\n");
    db.ok(&["--may-exist", "add-port", "br1", "p1"]);
    let out = db.vsctl(&["add-port", "br0", "p1"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("a port named p1 already exists on bridge br1"), "{}", out.stderr);

    // The binary: exit codes and stderr as the library reports them.
    let bin = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_rvs-vsctl"))
            .arg(db.db_arg())
            .arg("--no-wait")
            .args(args)
            .output()
            .expect("run rvs-vsctl")
    };
    assert_eq!(bin(&["br-exists", "br1"]).status.code(), Some(0));
    assert_eq!(bin(&["br-exists", "br9"]).status.code(), Some(2));
    let out = bin(&["del-br", "br9"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "rvs-vsctl: no bridge named br9\n");
    assert_eq!(String::from_utf8_lossy(&bin(&["list-br"]).stdout), "br0\nbr1\n");

    // No database.
    let out = run(&["--db=unix:/nonexistent/db.sock".to_string(), "list-br".to_string()]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("/nonexistent/db.sock"), "{}", out.stderr);
}

fn cfg(server: &Server) -> (i64, i64) {
    let r = server.transact(&json!([{"op": "select", "table": "Open_vSwitch", "where": [],
        "columns": ["next_cfg", "cur_cfg"]}]));
    let row = &r[0]["rows"][0];
    (row["next_cfg"].as_i64().unwrap_or(0), row["cur_cfg"].as_i64().unwrap_or(0))
}

#[test]
fn waits_for_cur_cfg() {
    let Some(db) = Db::start() else { return };
    db.ok(&["init"]);
    // A stand-in for the switch: copies next_cfg to cur_cfg on each commit.
    let server = db.server.clone();
    let (_, rx) = server.subscribe();
    let switch = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if rx.recv_timeout(Duration::from_millis(200)).is_err() {
                continue;
            }
            let (next, cur) = cfg(&server);
            if next > cur {
                server.transact(&json!([{"op": "update", "table": "Open_vSwitch", "where": [],
                    "row": {"cur_cfg": next}}]));
                return next;
            }
        }
        -1
    });
    let out = run(&[db.db_arg(), "--timeout=10".into(), "add-br".into(), "br0".into()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(switch.join().expect("switch thread"), 1);
    assert_eq!(cfg(&db.server), (1, 1));

    // Nobody answers this time: a clear timeout.
    let out = run(&[db.db_arg(), "--timeout=1".into(), "add-br".into(), "br1".into()]);
    assert_eq!(out.code, 142);
    assert!(out.stderr.contains("timed out after 1 seconds"), "{}", out.stderr);
}

impl Db {
    /// Runs a failing ARGS with both tools and checks the errors match
    /// (but for the program name); returns ours.
    fn same_err(&self, args: &[&str]) -> String {
        let ours = self.vsctl(args);
        assert_ne!(ours.code, 0, "rvs-vsctl {args:?} should fail");
        if let Ok(out) = Command::new("ovs-vsctl")
            .arg(self.db_arg())
            .arg("--no-wait")
            .arg("--timeout=10")
            .args(args)
            .output()
        {
            assert_eq!(out.status.code(), Some(ours.code), "exit code of {args:?}");
            let theirs = String::from_utf8_lossy(&out.stderr).replace("ovs-vsctl: ", "rvs-vsctl: ");
            assert_eq!(ours.stderr, theirs, "error of {args:?} differs from ovs-vsctl");
        }
        ours.stderr
    }
}

#[test]
fn table_formats_match_ovs_vsctl() {
    let Some(db) = Db::start() else { return };
    db.ok(&["init"]);
    db.ok(&["add-br", "br0", "--", "add-port", "br0", "p1", "tag=10"]);
    db.ok(&["set", "Bridge", "br0", "external_ids:a=b", "other_config:x=\"y z\""]);
    for format in ["table", "list", "csv", "json", "html"] {
        for data in ["string", "bare", "json"] {
            for headings in [true, false] {
                let f = format!("--format={format}");
                let mut args = vec![f.as_str(), "-d", data];
                if !headings {
                    args.push("--no-headings");
                }
                let mut list = args.clone();
                list.extend(["list", "Bridge", "br0"]);
                db.same(&list);
                let mut find = args.clone();
                find.extend(["--columns=name,external_ids,other_config,ports", "find", "Bridge"]);
                let out = db.same(&find);
                assert!(out.contains("br0"), "{out}");
                let mut empty = args.clone();
                empty.extend(["list", "Controller"]);
                db.same(&empty);
            }
        }
    }
    assert_eq!(db.same(&["--bare", "--columns=name,tag", "list", "Port", "p1"]), "p1\n10\n");
    assert_eq!(
        db.same(&["--format=table", "--columns=name,tag", "find", "Port", "name=p1"]),
        "name tag\n---- ---\np1   10\n"
    );
    assert_eq!(
        db.same(&["--format=json", "--columns=name,tag", "list", "Port", "p1"]),
        "{\"data\":[[\"p1\",10]],\"headings\":[\"name\",\"tag\"]}\n"
    );
    assert_eq!(
        db.same(&["--format=csv", "--columns=name,other_config", "list", "Bridge", "br0"]),
        "name,other_config\nbr0,\"{x=\"\"y z\"\"}\"\n"
    );
    db.same_err(&["--columns=nosuch", "list", "Bridge"]);
    db.same_err(&["--format=foo", "list", "Bridge"]);
    db.same_err(&["-d", "foo", "list", "Bridge"]);
    db.same_err(&["list-br", "--real"]);
}

#[test]
fn fake_bridges_match_ovs_vsctl() {
    let Some(db) = Db::start() else { return };
    db.ok(&["init"]);
    db.ok(&["add-br", "br0", "--", "add-port", "br0", "p1"]);
    db.ok(&["add-br", "fake0", "br0", "10", "--", "add-port", "fake0", "p2"]);
    assert_eq!(db.same(&["list-br"]), "br0\nfake0\n");
    assert_eq!(db.same(&["--real", "list-br"]), "br0\n");
    assert_eq!(db.same(&["--fake", "list-br"]), "fake0\n");
    assert_eq!(db.same(&["br-to-parent", "fake0"]), "br0\n");
    assert_eq!(db.same(&["br-to-parent", "br0"]), "br0\n");
    assert_eq!(db.same(&["br-to-vlan", "fake0"]), "10\n");
    assert_eq!(db.same(&["br-to-vlan", "br0"]), "0\n");
    assert_eq!(db.same(&["list-ports", "br0"]), "p1\n");
    assert_eq!(db.same(&["list-ports", "fake0"]), "p2\n");
    assert_eq!(db.same(&["list-ifaces", "br0"]), "p1\n");
    assert_eq!(db.same(&["list-ifaces", "fake0"]), "p2\n");
    assert_eq!(db.same(&["port-to-br", "p2"]), "fake0\n");
    assert_eq!(db.same(&["iface-to-br", "p2"]), "fake0\n");
    assert_eq!(db.same(&["iface-to-br", "p1"]), "br0\n");
    assert_eq!(db.same(&["get", "Port", "p2", "tag"]), "10\n");
    assert_eq!(db.same(&["get", "Port", "fake0", "fake_bridge", "tag"]), "true\n10\n");
    assert_eq!(db.same(&["get", "Interface", "fake0", "type"]), "internal\n");
    assert_eq!(db.vsctl(&["br-exists", "fake0"]).code, 0);
    db.ok(&["--may-exist", "add-br", "fake0", "br0", "10"]);

    db.same_err(&["add-br", "f2", "br0"]);
    db.same_err(&["add-br", "f2", "nope", "5"]);
    db.same_err(&["add-br", "f2", "fake0", "5"]);
    db.same_err(&["add-br", "f2", "br0", "5000"]);
    db.same_err(&["add-br", "x", "br0", "10"]);
    db.same_err(&["add-br", "p1"]);
    db.same_err(&["--may-exist", "add-br", "fake0", "br0", "11"]);
    db.same_err(&["--may-exist", "add-br", "fake0"]);
    db.same_err(&["--may-exist", "add-br", "br0", "br0", "3"]);
    db.same_err(&["--may-exist", "add-port", "br0", "p2"]);
    db.same_err(&["del-port", "br0", "p2"]);
    db.same_err(&["del-port", "fake0", "p1"]);
    db.same_err(&["del-port", "br0", "fake0"]);
    db.same_err(&["del-port", "br0"]);
    db.same_err(&["port-to-br", "fake0"]);
    db.same_err(&["iface-to-br", "fake0"]);
    db.same_err(&["br-to-vlan", "nope"]);
    db.same_err(&["set-fail-mode", "fake0", "secure"]);
    db.same_err(&["set-controller", "fake0", "tcp:1.2.3.4:6653"]);

    // Deleting the fake bridge takes its ports and leaves the parent's.
    db.ok(&["del-br", "fake0"]);
    assert_eq!(db.same(&["list-br"]), "br0\n");
    assert_eq!(db.same(&["list-ports", "br0"]), "p1\n");
    assert_eq!(db.same(&["find", "Port", "name=p2"]).len(), 0);
}

#[test]
fn controller_fail_mode_manager_match_ovs_vsctl() {
    let Some(db) = Db::start() else { return };
    db.ok(&["init"]);
    db.ok(&["add-br", "br0", "--", "add-br", "vlan5", "br0", "5"]);
    assert_eq!(db.same(&["get-controller", "br0"]), "");
    db.ok(&["set-controller", "br0", "unix:/x", "tcp:1.2.3.4:6653"]);
    assert_eq!(db.same(&["get-controller", "br0"]), "tcp:1.2.3.4:6653\nunix:/x\n");
    assert_eq!(db.same(&["get-controller", "vlan5"]), "tcp:1.2.3.4:6653\nunix:/x\n");
    db.ok(&["set-controller", "br0", "tcp:5.6.7.8:6653"]);
    assert_eq!(db.same(&["get-controller", "br0"]), "tcp:5.6.7.8:6653\n");
    assert_eq!(
        db.same(&["--columns=target", "list", "Controller"]),
        "target              : \"tcp:5.6.7.8:6653\"\n"
    );
    db.ok(&["del-controller", "br0"]);
    assert_eq!(db.same(&["get-controller", "br0"]), "");
    assert_eq!(db.same(&["list", "Controller"]), "");

    assert_eq!(db.same(&["get-fail-mode", "br0"]), "");
    db.ok(&["set-fail-mode", "br0", "secure"]);
    assert_eq!(db.same(&["get-fail-mode", "br0"]), "secure\n");
    assert_eq!(db.same(&["get-fail-mode", "vlan5"]), "secure\n");
    db.same_err(&["set-fail-mode", "br0", "bogus"]);
    db.same_err(&["set-fail-mode", "br0"]);
    db.ok(&["del-fail-mode", "br0"]);
    assert_eq!(db.same(&["get-fail-mode", "br0"]), "");

    assert_eq!(db.same(&["get-manager"]), "");
    db.ok(&["set-manager", "ptcp:6640"]);
    assert_eq!(db.same(&["get-manager"]), "ptcp:6640\n");
    // The same target again: the old row goes, so the index holds.
    db.ok(&["set-manager", "ptcp:6640", "ptcp:6641"]);
    assert_eq!(db.same(&["get-manager"]), "ptcp:6640\nptcp:6641\n");
    db.ok(&["del-manager"]);
    assert_eq!(db.same(&["get-manager"]), "");
    assert_eq!(db.same(&["list", "Manager"]), "");
}

#[test]
fn tcp_db() {
    let Some(db) = Db::start() else { return };
    let remote = db.server.listen("ptcp:0:127.0.0.1").expect("listen on tcp");
    assert!(remote.starts_with("tcp:127.0.0.1:"), "{remote}");
    let arg = format!("--db={remote}");
    let run_tcp = |args: &[&str]| {
        let mut all = vec![arg.clone(), "--no-wait".to_string()];
        all.extend(args.iter().map(|s| s.to_string()));
        run(&all)
    };
    assert_eq!(run_tcp(&["init"]).code, 0);
    assert_eq!(run_tcp(&["add-br", "br0"]).code, 0);
    assert_eq!(run_tcp(&["list-br"]).stdout, "br0\n");
    assert_eq!(db.same(&["list-br"]), "br0\n");
    if let Ok(out) = Command::new("ovs-vsctl").arg(&arg).arg("--no-wait").arg("list-br").output() {
        assert_eq!(String::from_utf8_lossy(&out.stdout), "br0\n");
    }
    let out = run(&["--db=ssl:1.2.3.4:6640".to_string(), "list-br".to_string()]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("ssl:1.2.3.4:6640"), "{}", out.stderr);
}

#[test]
fn forward_references_and_dashed_column_names_as_in_ovs_faq() {
    let Some(db) = Db::start() else { return };
    db.ok(&["init"]);
    db.ok(&["add-br", "br0", "--", "add-port", "br0", "p1", "--", "add-port", "br0", "p2"]);
    // OVS's QoS recipe: @q is used before the command that creates it.
    db.ok(&[
        "set",
        "port",
        "p1",
        "qos=@q",
        "--",
        "--id=@q",
        "create",
        "qos",
        "type=egress-policer",
        "other_config:cir=1000",
        "other_config:cbs=2000",
    ]);
    assert_eq!(
        db.same(&["--columns=type,other_config", "list", "qos"]),
        "type                : egress-policer\nother_config        : {cbs=\"2000\", cir=\"1000\"}\n"
    );
    // OVS's mirror recipe, with dashes for the columns' underscores.
    db.ok(&[
        "--",
        "set",
        "bridge",
        "br0",
        "mirrors=@m",
        "--",
        "--id=@p1",
        "get",
        "port",
        "p1",
        "--",
        "--id=@p2",
        "get",
        "port",
        "p2",
        "--",
        "--id=@m",
        "create",
        "mirror",
        "name=m0",
        "select-src-port=@p1",
        "select-dst-port=@p1",
        "output-port=@p2",
    ]);
    let p2 = db.ok(&["get", "port", "p2", "_uuid"]);
    assert_eq!(db.same(&["get", "mirror", "m0", "output-port"]), p2);
    assert_eq!(db.same(&["get", "bridge", "br0", "mirrors"]).len(), 39);
    // A symbol never created is an error, as in ovs-vsctl, and changes
    // nothing.
    db.same_err(&["set", "port", "p2", "qos=@nope"]);
    assert_eq!(db.same(&["get", "port", "p2", "qos"]), "[]\n");
}
