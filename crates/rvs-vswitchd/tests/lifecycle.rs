//! The daemon's life cycle and its control surface, driven through OVS's
//! clients with dummy devices (no root needed): vlog levels, datapath flow
//! commands, `--detach` with a pidfile and a clean exit on signals, the
//! Interface status refresh, and malformed JSON-RPC on the OVSDB socket.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::Duration;

#[test]
fn vlog_list_set_and_reopen_through_ovs_appctl() {
    if !have_ovs_tools() {
        return;
    }
    let dir = tempdir("vlog");
    let d = Daemon::start(&dir);
    let list = d.appctl_ok(&["vlog/list"]);
    assert!(
        list.starts_with(
            "                 console    syslog    file\n                 -------    ------    ------\n"
        ),
        "{list}"
    );
    assert!(list.contains("rvs_ofproto       INFO       INFO       INFO\n"), "{list}");

    d.appctl_ok(&["vlog/set", "rvs_ofproto:file:dbg"]);
    d.appctl_ok(&["vlog/set", "console:off"]);
    let list = d.appctl_ok(&["vlog/set"]).is_empty().then(|| d.appctl_ok(&["vlog/list"]));
    assert!(list.unwrap().contains("rvs_datapath       DBG        DBG        DBG\n"));
    d.appctl_ok(&["vlog/set", "ANY:ANY:info", "rvs_ofproto:file:dbg", "console:warn"]);
    let before = d.appctl_ok(&["vlog/list"]);
    assert!(before.contains("rvs_ofproto       WARN       INFO        DBG\n"), "{before}");
    assert!(before.contains("rvs_ovsdb         WARN       INFO       INFO\n"), "{before}");

    // Bad specs are refused with OVS's messages and change nothing, even
    // when an earlier spec of the same command was good.
    let e = d.appctl_err(&["vlog/set", "file:dbg", "nosuchmodule:dbg"]);
    assert!(e.contains("no destination, level, or module \"nosuchmodule\""), "{e}");
    let e = d.appctl_err(&["vlog/set", "console:file:dbg"]);
    assert!(e.contains("cannot specify more than one destination"), "{e}");
    let e = d.appctl_err(&["vlog/set", "rvs_ofproto:loud"]);
    assert!(e.contains("\"loud\""), "{e}");
    let e = d.appctl_err(&["vlog/set", "PATTERN:nowhere:%m"]);
    assert!(e.contains("unknown destination \"nowhere\""), "{e}");
    assert_eq!(d.appctl_ok(&["vlog/list"]), before);

    d.appctl_ok(&["vlog/set", "PATTERN:file:%c|%p|%m"]);
    let pat = d.appctl_ok(&["vlog/list-pattern"]);
    assert!(pat.contains("file     none                              %c|%p|%m\n"), "{pat}");
    assert!(
        pat.contains(
            "console  none                              %D{%Y-%m-%dT%H:%M:%SZ}|%05N|%c%T|%p|%m\n"
        ),
        "{pat}"
    );

    // logrotate: move the file away, reopen, and the next message lands in
    // a new file at the old path, with the new pattern.
    let log = dir.join("file.log");
    std::fs::rename(&log, dir.join("file.log.1")).unwrap();
    d.appctl_ok(&["vlog/reopen"]);
    d.vsctl_ok(&[
        "add-br",
        "br0",
        "--",
        "add-port",
        "br0",
        "bad0",
        "--",
        "set",
        "Interface",
        "bad0",
        "type=bogus",
    ]);
    wait_for(Duration::from_secs(10), "a warning in the reopened log", || {
        std::fs::read_to_string(&log).unwrap_or_default().contains("rvs_vswitchd|WARN|")
    });
    let old = std::fs::read_to_string(dir.join("file.log.1")).unwrap();
    assert!(old.contains("|00001|rvs_vswitchd|INFO|rvs-vswitchd ready"), "{old}");
    assert!(!old.contains("bogus"), "{old}");
    // Levels act: with the file at err, a warning is not written.
    d.appctl_ok(&["vlog/set", "file:err"]);
    d.vsctl_ok(&["add-port", "br0", "bad1", "--", "set", "Interface", "bad1", "type=bogus"]);
    d.vsctl_ok(&["add-port", "br0", "marker", "--", "set", "Interface", "marker", "type=dummy"]);
    assert!(!std::fs::read_to_string(&log).unwrap().contains("bad1"));
    drop(d);
}

#[test]
fn vlog_reopen_without_a_log_file_is_an_error() {
    if !have_ovs_tools() {
        return;
    }
    let dir = tempdir("nolog");
    std::fs::create_dir_all(&dir).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_rvs-vswitchd"))
        .arg("--enable-dummy")
        .arg("-vconsole:off")
        .env("RVS_RUNDIR", &dir)
        .env("RVS_DBDIR", &dir)
        .spawn()
        .unwrap();
    let d = Daemon { dir: dir.to_path_buf(), child: Some(child) };
    wait_for(Duration::from_secs(10), "the control socket", || {
        listening(&dir.join("rvs-vswitchd.ctl"))
    });
    let e = d.appctl_err(&["vlog/reopen"]);
    assert!(e.contains("Logging to file not configured"), "{e}");
    assert!(d.appctl_ok(&["vlog/list"]).contains("rvs_ovsdb          OFF       INFO       INFO\n"));
    drop(d);
}

/// Bridge `br0` with dummy ports `p1` and `p2`.
fn add_br0_with_dummies_p1_p2(d: &Daemon) {
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
    ]);
}

#[test]
fn dpctl_flow_commands_round_trip() {
    if !have_ovs_tools() {
        return;
    }
    let dir = tempdir("dpctl");
    let d = Daemon::start(&dir);
    add_br0_with_dummies_p1_p2(&d);
    let show = d.appctl_ok(&["dpctl/show"]);
    let odp = |name: &str| -> String {
        let l = show.lines().find(|l| l.contains(&format!(": {name} "))).unwrap();
        l.trim().strip_prefix("port ").unwrap().split(':').next().unwrap().to_string()
    };
    let (p1, p2) = (odp("p1"), odp("p2"));
    let key = format!(
        "in_port({p1}),eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),eth_type(0x0800),\
         ipv4(src=198.18.0.1,dst=198.18.0.2,proto=17,tos=0,ttl=64,frag=no)"
    );
    assert_eq!(d.appctl_ok(&["dpctl/add-flow", &key, &p2]), "");
    let e = d.appctl_err(&["dpctl/add-flow", &key, &p2]);
    assert!(e.contains("updating flow table") && e.contains("exists"), "{e}");
    let e = d.appctl_err(&["dpctl/add-flow", "in_port(1),bogus(1)", &p2]);
    assert!(e.contains("parsing flow key") && e.contains("bogus"), "{e}");
    let e = d.appctl_err(&["dpctl/add-flow", "nodp", &key, &p2]);
    assert!(e.contains("no datapath named \"nodp\""), "{e}");

    let dump = d.appctl_ok(&["dpctl/dump-flows", "-m"]);
    assert_eq!(dump.lines().count(), 1, "{dump}");
    let (ufid, rest) = dump.trim_end().split_once(", ").unwrap();
    assert!(ufid.starts_with("ufid:") && ufid.len() == 41, "{dump}");
    let line = format!(
        "recirc_id(0),in_port({p1}),eth(src=02:00:00:00:00:01,dst=02:00:00:00:00:02),eth_type(0x0800),\
         ipv4(src=198.18.0.1,dst=198.18.0.2,proto=17,tos=0,ttl=64,frag=no), packets:0, bytes:0, used:never, actions:{p2}"
    );
    assert_eq!(rest, line.replace(", actions:", ", dp:ovs, actions:"));
    assert_eq!(d.appctl_ok(&["dpctl/get-flow", ufid]), format!("{line}\n"));
    assert!(d.appctl_err(&["dpctl/dump-flows", "system@ovs-system"]).contains("no datapath named"));
    assert_eq!(d.appctl_ok(&["dpctl/dump-flows", "ovs-netdev"]), format!("{line}\n"));
    assert_eq!(d.appctl_ok(&["dpif/dump-flows", "br0"]), format!("{line}\n"));
    assert_eq!(d.appctl_ok(&["dpif/dump-flows", "-m", "br0"]), format!("{ufid} {line}\n"));
    assert!(d.appctl_err(&["dpif/dump-flows", "nobr"]).contains("nobr: unknown bridge"));

    // A frame that hits the flow counts.
    d.appctl_ok(&["netdev-dummy/receive", "p1", &frame_hex(1, 2)]);
    wait_for(Duration::from_secs(10), "the flow to be hit", || {
        d.appctl_ok(&["dpctl/get-flow", ufid]).contains("packets:1,")
    });
    let mod_out =
        d.appctl_ok(&["dpctl/mod-flow", "-s", &key, &format!("push_vlan(vid=10,pcp=0),{p2}")]);
    assert!(mod_out.starts_with("packets:1, bytes:"), "{mod_out}");
    let got = d.appctl_ok(&["dpctl/get-flow", ufid]);
    assert!(
        got.contains("packets:1,")
            && got.ends_with(&format!("actions:push_vlan(vid=10,pcp=0),{p2}\n")),
        "{got}"
    );
    d.appctl_ok(&["dpctl/mod-flow", "--clear", &key, &p2]);
    let got = d.appctl_ok(&["dpctl/get-flow", ufid]);
    assert!(got.contains("packets:0, bytes:0, used:never"), "{got}");
    let other = key.replace("198.18.0.2", "198.18.0.3");
    let e = d.appctl_err(&["dpctl/mod-flow", &other, &p2]);
    assert!(e.contains("updating flow table"), "{e}");
    d.appctl_ok(&["dpctl/mod-flow", "--may-create", &other, &p2]);
    assert_eq!(d.appctl_ok(&["dpctl/dump-flows"]).lines().count(), 2);

    // Delete by ufid and by key.
    assert_eq!(d.appctl_ok(&["dpctl/del-flow", "-s", ufid]), "packets:0, bytes:0, used:never\n");
    let e = d.appctl_err(&["dpctl/get-flow", ufid]);
    assert!(e.contains("getting flow") && e.contains(ufid), "{e}");
    let e = d.appctl_err(&["dpctl/del-flow", ufid]);
    assert!(e.contains("deleting flow"), "{e}");
    d.appctl_ok(&["dpctl/del-flow", &other]);
    assert_eq!(d.appctl_ok(&["dpctl/dump-flows"]), "");

    let show = d.appctl_ok(&["dpctl/show", "-s"]);
    assert!(show.contains("  masks: hit:"), "{show}");
    assert!(
        show.contains(&format!(
            "  port {p1}: p1 (dummy)\n    RX packets:1 errors:0 dropped:0 overruns:? frame:?\n"
        )),
        "{show}"
    );
    drop(d);
}

#[test]
fn detach_writes_a_pidfile_and_sigterm_exits_cleanly() {
    let dir = tempdir("detach");
    std::fs::create_dir_all(&dir).unwrap();
    let pidfile = dir.join("rvs-vswitchd.pid");
    let o = Command::new(env!("CARGO_BIN_EXE_rvs-vswitchd"))
        .args(["--enable-dummy", "--detach", "--no-chdir", "--pidfile"])
        .arg(format!("--log-file={}", dir.join("file.log").display()))
        .env("RVS_RUNDIR", &dir)
        .env("RVS_DBDIR", &dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The parent returned only once the daemon was ready.
    let pid: u32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    assert!(alive(pid));
    let (ctl, db) = (dir.join("rvs-vswitchd.ctl"), dir.join("db.sock"));
    let pid_ctl = dir.join(format!("rvs-vswitchd.{pid}.ctl"));
    assert!(listening(&ctl) && listening(&db) && listening(&pid_ctl));
    // A second detached daemon on the same run dir fails, and says so.
    let o = Command::new(env!("CARGO_BIN_EXE_rvs-vswitchd"))
        .args(["--enable-dummy", "--detach", "--pidfile"])
        .env("RVS_RUNDIR", &dir)
        .env("RVS_DBDIR", &dir)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("already running"));
    assert_eq!(std::fs::read_to_string(&pidfile).unwrap().trim(), pid.to_string());

    kill(pid, "TERM");
    wait_for(Duration::from_secs(10), "the daemon to exit", || !alive(pid));
    for p in [&pidfile, &ctl, &db, &pid_ctl] {
        assert!(!p.exists(), "{} is left behind", p.display());
    }
    let log = std::fs::read_to_string(dir.join("file.log")).unwrap();
    assert!(log.contains("SIGTERM received, exiting") && log.contains("exited cleanly"), "{log}");
}

#[test]
fn sigint_sigterm_and_exit_give_exit_code_zero() {
    for how in ["TERM", "INT", "exit", "exit --cleanup"] {
        let dir = tempdir(&format!("exit{}", how.len()));
        let mut d = Daemon::start_with(&dir, true, &["--pidfile"]);
        if have_ovs_tools() {
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
            ]);
        }
        match how {
            "TERM" | "INT" => kill(d.pid(), how),
            _ => {
                if !have_ovs_tools() {
                    continue;
                }
                let args: Vec<&str> = how.split(' ').collect();
                assert_eq!(d.appctl_ok(&args), "");
            }
        }
        let mut child = d.child.take().unwrap();
        let t = std::time::Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(t.elapsed() < Duration::from_secs(10), "{how}: the daemon did not exit");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{how}: {status:?}\n{}", d.log());
        for f in ["rvs-vswitchd.pid", "rvs-vswitchd.ctl", "db.sock"] {
            assert!(!dir.join(f).exists(), "{how}: {f} is left behind");
        }
    }
}

#[test]
fn interface_statistics_and_status_are_refreshed() {
    if !have_ovs_tools() {
        return;
    }
    let dir = tempdir("stats");
    let d = Daemon::start(&dir);
    add_br0_with_dummies_p1_p2(&d);
    // A new interface gets its status at once.
    wait_for(Duration::from_secs(10), "mtu and mac_in_use of p1", || {
        d.vsctl_ok(&["get", "Interface", "p1", "mtu"]) == "1500\n"
            && d.vsctl_ok(&["get", "Interface", "p1", "mac_in_use"]).len() == 20
    });
    assert_eq!(d.vsctl_ok(&["get", "Interface", "p1", "statistics:rx_packets"]), "0\n");
    let cfg = d.vsctl_ok(&["get", "Open_vSwitch", ".", "cur_cfg"]);
    for _ in 0..3 {
        d.appctl_ok(&["netdev-dummy/receive", "p1", &frame_hex(1, 2)]);
    }
    // Then on the 5 s timer.
    wait_for(Duration::from_secs(15), "statistics of p1 and p2", || {
        d.vsctl_ok(&["get", "Interface", "p1", "statistics:rx_packets"]) == "3\n"
            && d.vsctl_ok(&["get", "Interface", "p2", "statistics:tx_packets"]) == "3\n"
    });
    let bytes: u64 =
        d.vsctl_ok(&["get", "Interface", "p1", "statistics:rx_bytes"]).trim().parse().unwrap();
    assert_eq!(bytes, 3 * (frame_hex(1, 2).len() as u64 / 2));
    // The refresh never bumps cur_cfg, so `ovs-vsctl` waits are unaffected.
    assert_eq!(d.vsctl_ok(&["get", "Open_vSwitch", ".", "cur_cfg"]), cfg);
    assert_eq!(d.vsctl_ok(&["get", "Interface", "p1", "link_state"]), "up\n");
    drop(d);
}

/// What the server did with one request.
#[derive(Debug)]
enum Answer {
    Reply(Value),
    Closed,
}

fn send(s: &mut UnixStream, bytes: &[u8]) -> Answer {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    if s.write_all(bytes).is_err() {
        return Answer::Closed;
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Ok(v) = serde_json::from_slice::<Value>(&buf) {
            return Answer::Reply(v);
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) if buf.is_empty() => return Answer::Closed,
            Ok(0) => panic!("connection closed mid-reply: {}", String::from_utf8_lossy(&buf)),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => {
                panic!("no complete reply within 5 s ({e}): {}", String::from_utf8_lossy(&buf))
            }
        }
    }
}

/// An answer that is an error reply (non-null `error`) or a close.
fn is_error_or_close(a: &Answer) -> bool {
    match a {
        Answer::Closed => true,
        Answer::Reply(v) => v.get("error").is_some_and(|e| !e.is_null()),
    }
}

#[test]
fn malformed_json_rpc_on_the_ovsdb_socket_harms_nothing() {
    if !have_ovs_tools() {
        return;
    }
    let dir = tempdir("badrpc");
    let d = Daemon::start(&dir);
    let db = dir.join("db.sock");
    d.vsctl_ok(&["add-br", "br0"]);
    // A well-behaved client stays connected throughout.
    let mut good = UnixStream::connect(&db).unwrap();
    let echo = |s: &mut UnixStream, id: u64| match send(
        s,
        json!({"method": "echo", "params": [id], "id": id}).to_string().as_bytes(),
    ) {
        Answer::Reply(v) => assert_eq!(v["result"], json!([id]), "{v}"),
        Answer::Closed => panic!("the good connection was closed"),
    };
    echo(&mut good, 1);

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage bytes", b"\x00\xff}{ not json ]]".to_vec()),
        ("a non-object", b"[1, 2, 3]".to_vec()),
        ("a bare string", b"\"hello\"".to_vec()),
        ("an unknown method", json!({"method": "no_such_method", "params": [], "id": 7}).to_string().into_bytes()),
        ("params not an array", json!({"method": "transact", "params": "Open_vSwitch", "id": 8}).to_string().into_bytes()),
        ("list_dbs with junk params", json!({"method": "get_schema", "params": [42], "id": 9}).to_string().into_bytes()),
        ("an unknown database", json!({"method": "transact", "params": ["NoSuchDb", {"op": "select", "table": "Bridge", "where": []}], "id": 10}).to_string().into_bytes()),
        ("a huge nesting", "[".repeat(100_000).into_bytes()),
    ];
    for (what, bytes) in cases {
        let mut s = UnixStream::connect(&db).unwrap();
        let a = send(&mut s, &bytes);
        assert!(is_error_or_close(&a), "{what}: {a:?}");
        echo(&mut good, 2);
    }
    // A transact on an unknown table: a result with an error in it.
    let mut s = UnixStream::connect(&db).unwrap();
    let a = send(
        &mut s,
        json!({"method": "transact", "params": ["Open_vSwitch", {"op": "insert", "table": "NoSuchTable", "row": {}}], "id": 11})
            .to_string()
            .as_bytes(),
    );
    match &a {
        Answer::Reply(v) => {
            let text = v.to_string();
            assert!(text.contains("NoSuchTable") || text.contains("error"), "{text}");
            assert_eq!(v["id"], json!(11));
        }
        Answer::Closed => {}
    }
    // The same connection still answers after an error reply.
    if let Answer::Reply(_) = a {
        echo(&mut s, 3);
    }
    echo(&mut good, 4);
    // The database is intact and the daemon still applies changes.
    d.vsctl_ok(&["add-br", "br1"]);
    assert_eq!(d.vsctl_ok(&["list-br"]), "br0\nbr1\n");
    assert!(d.appctl_ok(&["dpif/show"]).contains("  br1:\n"));
    drop(d);
}

/// Update notifications seen on a monitor connection within `window`
/// (echo requests aside), returning at the first one if `first`.
fn updates_within(s: &mut UnixStream, window: Duration, first: bool) -> usize {
    let t = std::time::Instant::now();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let count = |buf: &[u8]| {
        serde_json::Deserializer::from_slice(buf)
            .into_iter::<Value>()
            .map_while(Result::ok)
            .filter(|v| v["method"] == "update")
            .count()
    };
    while t.elapsed() < window {
        s.set_read_timeout(Some((window - t.elapsed()).max(Duration::from_millis(10)))).unwrap();
        match s.read(&mut chunk) {
            Ok(0) => panic!("the monitor connection closed"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => break,
        }
        if first && count(&buf) > 0 {
            break;
        }
    }
    count(&buf)
}

#[test]
fn status_refresh_writes_nothing_when_nothing_changed() {
    if !have_ovs_tools() {
        return;
    }
    let dir = tempdir("churn");
    let d = Daemon::start(&dir);
    add_br0_with_dummies_p1_p2(&d);
    wait_for(Duration::from_secs(10), "the first refresh", || {
        d.vsctl_ok(&["get", "Interface", "p1", "mtu"]) == "1500\n"
    });
    let mut m = UnixStream::connect(dir.join("db.sock")).unwrap();
    let req = json!({"method": "monitor", "id": 1, "params": ["Open_vSwitch", null,
        {"Interface": {"columns": ["statistics", "mtu", "mac_in_use", "status", "link_state"]}}]});
    match send(&mut m, req.to_string().as_bytes()) {
        Answer::Reply(v) => assert!(v["error"].is_null(), "{v}"),
        Answer::Closed => panic!("monitor refused"),
    }
    // More than one refresh period without traffic: nothing is written.
    assert_eq!(updates_within(&mut m, Duration::from_millis(6000), false), 0);
    // Traffic: the next refresh writes the counters.
    d.appctl_ok(&["netdev-dummy/receive", "p1", &frame_hex(1, 2)]);
    assert!(updates_within(&mut m, Duration::from_secs(15), true) >= 1);
    assert_eq!(d.vsctl_ok(&["get", "Interface", "p1", "statistics:rx_packets"]), "1\n");
    drop(d);
}

#[test]
fn a_database_of_an_older_schema_is_converted_at_start() {
    if !have_ovs_tools() {
        return;
    }
    let dir = tempdir("convert");
    std::fs::create_dir_all(&dir).unwrap();
    // The schema before the QoS and Queue tables, with a bridge in it.
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/vswitch.ovsschema"));
    let mut old: Value = serde_json::from_str(&text.unwrap()).unwrap();
    let tables = old["tables"].as_object_mut().unwrap();
    tables.remove("QoS");
    tables.remove("Queue");
    tables["Port"]["columns"].as_object_mut().unwrap().remove("qos");
    let schema = rvs_ovsdb::Schema::from_json(&old).unwrap();
    let (_, _) = rvs_ovsdb::Storage::create(dir.join("conf.db"), schema).unwrap();
    let mut d = Daemon::start(&dir);
    d.add_dummy_bridge("br0", &["p1"], &[]);
    assert!(d.log().contains("converted to schema version 8.3.1"), "{}", d.log());
    d.vsctl_ok(&[
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
        "other_config:cbs=1000",
    ]);
    // Again (its log starts afresh): the rows stay, and there is nothing
    // left to convert.
    d.kill9();
    let d = Daemon::start(&dir);
    assert!(!d.log().contains("converted to schema"), "{}", d.log());
    let qos = d.vsctl_ok(&["get", "port", "p1", "qos"]);
    assert_eq!(d.vsctl_ok(&["get", "qos", qos.trim(), "type"]), "egress-policer\n");
    drop(d);
}
