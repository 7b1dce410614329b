//! A real OpenFlow controller drives rvs: os-ken (from PyPI) running its
//! own `simple_switch_13` application learns MAC addresses through
//! packet-ins and installs flows with flow_mods and packet-outs, and two
//! namespaces ping each other through a bridge in secure mode, which
//! forwards nothing by itself. Needs root and an os-ken installation
//! (`RVS_OSKEN_PYTHON` names a Python that has `os_ken`; `.ci/run` makes
//! one); skips out loud without them.
//!
//! os-ken 1.4.1 is the last release that ships `simple_switch_13`; it
//! imports a name that newer eventlet releases dropped, so the launcher
//! below defines it before loading os-ken's own manager.
//!
//! Hosts use 198.18.0.0/15 only; names carry the test's pid; everything is
//! removed on drop, failure included.

mod common;

use common::*;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const LAUNCHER: &str = "import sys, eventlet.wsgi\n\
if not hasattr(eventlet.wsgi, 'ALREADY_HANDLED'):\n    eventlet.wsgi.ALREADY_HANDLED = object()\n\
from os_ken.cmd.manager import main\n\
sys.exit(main())\n";

/// The controller process, killed on drop.
struct Controller(Option<Child>);

impl Drop for Controller {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn osken_python() -> Option<PathBuf> {
    let p = PathBuf::from(std::env::var_os("RVS_OSKEN_PYTHON")?);
    let ok = Command::new(&p)
        .args([
            "-c",
            "import importlib.util, sys; \
             sys.exit(importlib.util.find_spec('os_ken.app.simple_switch_13') is None)",
        ])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(p)
}

fn ping(ns: &str, addr: &str, count: &str) -> bool {
    sh(&["ip", "netns", "exec", ns, "ping", "-c", count, "-W", "1", "-q", addr])
}

#[test]
fn os_ken_simple_switch_13_makes_ping_work_in_secure_mode() {
    let root = std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false);
    let Some(python) = osken_python() else {
        eprintln!(
            "SKIPPED: os_ken_simple_switch_13: set RVS_OSKEN_PYTHON to a Python with os-ken 1.4.1 \
             (.ci/run does: python3 -m venv V && V/bin/pip install os-ken==1.4.1)"
        );
        return;
    };
    if !root || !have_ovs_tools() {
        eprintln!("SKIPPED: os_ken_simple_switch_13 needs root, ip, ping and OVS's clients");
        return;
    }
    let tag = std::process::id() % 100_000;
    let n = |s: &str| format!("rC{tag}{s}");
    let br = format!("rc{tag}");
    let (ns_a, ns_b) = (n("na"), n("nb"));
    let mut net = Net::default();
    net.host(&ns_a, &n("a"), &n("ap"), "198.18.11.1/24");
    net.host(&ns_b, &n("b"), &n("bp"), "198.18.11.2/24");

    let dir = tempdir("controller");
    let d = Daemon::start_with(&dir, false, &[]);
    d.vsctl_ok(&[
        "add-br",
        &br,
        "--",
        "set",
        "bridge",
        &br,
        "fail_mode=secure",
        "protocols=OpenFlow13",
        "--",
        "add-port",
        &br,
        &n("a"),
        "--",
        "add-port",
        &br,
        &n("b"),
    ]);
    // Secure and without a controller: nothing gets through.
    assert!(!ping(&ns_a, "198.18.11.2", "1"), "a secure bridge forwarded without rules");

    // os-ken on a free loopback port.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log = std::fs::File::create(dir.join("osken.log")).unwrap();
    let _controller = Controller(Some(
        Command::new(&python)
            .args(["-c", LAUNCHER])
            .args(["--ofp-listen-host", "127.0.0.1", "--ofp-tcp-listen-port", &port.to_string()])
            .arg("os_ken.app.simple_switch_13")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    ));
    let osken_log = || std::fs::read_to_string(dir.join("osken.log")).unwrap_or_default();
    wait_for(Duration::from_secs(30), "os-ken to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    d.vsctl_ok(&["set-controller", &br, &format!("tcp:127.0.0.1:{port}")]);
    let connected =
        || d.vsctl(&["get", "controller", &br, "is_connected"]).stdout.starts_with(b"true");
    let mut tries = 0;
    while !connected() {
        tries += 1;
        assert!(tries < 300, "controller never connected\n{}\n{}", d.log(), osken_log());
        std::thread::sleep(Duration::from_millis(100));
    }
    // The first packets go through the controller; then flows carry them.
    let mut ok = false;
    for _ in 0..10 {
        if ping(&ns_a, "198.18.11.2", "1") {
            ok = true;
            break;
        }
    }
    assert!(ok, "no ping through os-ken\n{}\n{}", d.log(), osken_log());
    assert!(ping(&ns_b, "198.18.11.1", "3"), "no ping back\n{}", osken_log());
    // simple_switch_13 installed its table-miss rule and learned flows.
    let flows = Command::new("ovs-ofctl")
        .args(["-O", "OpenFlow13", "dump-flows"])
        .arg(format!("unix:{}", dir.join(format!("{br}.mgmt")).display()))
        .output()
        .unwrap();
    let flows = String::from_utf8_lossy(&flows.stdout).to_string();
    assert!(flows.contains("priority=0 actions=CONTROLLER:65535"), "{flows}");
    assert!(flows.contains("priority=1,in_port="), "{flows}");
    let role = d.vsctl_ok(&["get", "controller", &br, "role"]);
    assert_eq!(role.trim(), "other");
    drop(d);
    drop(net);
}
