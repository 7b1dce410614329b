//! Shared by the daemon tests: a daemon in a temporary run dir, driven
//! with OVS's own `ovs-vsctl` and `ovs-appctl`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A running `rvs-vswitchd`, killed on drop.
pub struct Daemon {
    pub dir: PathBuf,
    pub child: Option<Child>,
}

/// True when OVS's clients are installed.
pub fn have_ovs_tools() -> bool {
    let ok = Path::new("/usr/bin/ovs-vsctl").exists() && Path::new("/usr/bin/ovs-appctl").exists();
    if !ok {
        eprintln!(
            "SKIPPED: ovs-vsctl/ovs-appctl not installed (apt-get install openvswitch-common)"
        );
    }
    ok
}

/// Waits until `f` holds, at most `limit`; panics with `what` otherwise.
pub fn wait_for(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A socket path accepts connections.
pub fn listening(p: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(p).is_ok()
}

impl Daemon {
    /// Starts the daemon with `extra` arguments (`--enable-dummy` unless
    /// `real` devices are wanted) and waits for its sockets.
    pub fn start_with(dir: &Path, dummy: bool, extra: &[&str]) -> Daemon {
        std::fs::create_dir_all(dir).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rvs-vswitchd"));
        if dummy {
            cmd.arg("--enable-dummy");
        }
        let child = cmd
            .arg(format!("--log-file={}", dir.join("file.log").display()))
            .args(extra)
            .env("RVS_RUNDIR", dir)
            .env("RVS_DBDIR", dir)
            .env_remove("RVS_LOG")
            .stderr(std::fs::File::create(dir.join("daemon.log")).unwrap())
            .spawn()
            .unwrap();
        let d = Daemon { dir: dir.to_path_buf(), child: Some(child) };
        let t = Instant::now();
        while !(listening(&d.dir.join("rvs-vswitchd.ctl")) && listening(&d.dir.join("db.sock"))) {
            assert!(t.elapsed() < Duration::from_secs(10), "daemon did not start: {}", d.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    /// A dummy-device daemon.
    pub fn start(dir: &Path) -> Daemon {
        Daemon::start_with(dir, true, &[])
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }

    pub fn vsctl(&self, args: &[&str]) -> Output {
        Command::new("/usr/bin/ovs-vsctl")
            .arg(format!("--db=unix:{}", self.dir.join("db.sock").display()))
            .arg("--timeout=10")
            .args(args)
            .output()
            .unwrap()
    }

    pub fn vsctl_ok(&self, args: &[&str]) -> String {
        let o = self.vsctl(args);
        assert!(
            o.status.success(),
            "ovs-vsctl {args:?}: {}\n{}",
            String::from_utf8_lossy(&o.stderr),
            self.log()
        );
        String::from_utf8(o.stdout).unwrap()
    }

    pub fn appctl(&self, args: &[&str]) -> Output {
        Command::new("/usr/bin/ovs-appctl")
            .arg("-t")
            .arg(self.dir.join("rvs-vswitchd.ctl"))
            .args(args)
            .output()
            .unwrap()
    }

    pub fn appctl_ok(&self, args: &[&str]) -> String {
        let o = self.appctl(args);
        assert!(o.status.success(), "ovs-appctl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    }

    /// Runs an appctl command that must fail; returns its error text.
    pub fn appctl_err(&self, args: &[&str]) -> String {
        let o = self.appctl(args);
        assert!(
            !o.status.success(),
            "ovs-appctl {args:?} succeeded: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8(o.stderr).unwrap()
    }

    /// Adds bridge `br` with a dummy port for each of `ports`, in one
    /// ovs-vsctl transaction, followed by `extra` (more ovs-vsctl
    /// commands, each after a `--`).
    pub fn add_dummy_bridge(&self, br: &str, ports: &[&str], extra: &[&[&str]]) {
        let mut args = vec!["add-br", br];
        for p in ports {
            let more = ["--", "add-port", br, p, "--", "set", "interface", p, "type=dummy"];
            args.extend_from_slice(&more);
        }
        for cmd in extra {
            args.push("--");
            args.extend_from_slice(cmd);
        }
        self.vsctl_ok(&args);
    }

    /// `(packets, dropped)` of `port` in `dpctl/show -s`, received (`RX`) or
    /// sent (`TX`).
    pub fn port_counts(&self, port: &str, dir: &str) -> (u64, u64) {
        let show = self.appctl_ok(&["dpctl/show", "-s"]);
        let mut lines = show.lines().skip_while(|l| !l.ends_with(&format!(": {port} (dummy)")));
        let line = lines.find(|l| l.trim_start().starts_with(dir));
        let line = line.unwrap_or_else(|| panic!("no {dir} line for port {port} in {show}"));
        let field = |k: &str| -> u64 {
            let v = line.split_whitespace().find_map(|w| w.strip_prefix(k));
            v.and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no {k} in {line:?}"))
        };
        (field("packets:"), field("dropped:"))
    }

    pub fn kill9(&mut self) {
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

/// A fresh temporary directory for one test, removed when dropped, so
/// also when the test fails. (Declared before the [`Daemon`] that uses
/// it, it outlives the daemon.)
pub fn tempdir(name: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("rvs-daemon-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    TempDir(d)
}

/// See [`tempdir`].
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for TempDir {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An Ethernet/IPv4/UDP frame in hex.
pub fn frame_hex(src: u8, dst: u8) -> String {
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

/// Sends SIGTERM (or another signal) to `pid`.
pub fn kill(pid: u32, sig: &str) {
    let ok = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().unwrap();
    assert!(ok.success(), "kill -{sig} {pid}");
}

/// Whether process `pid` exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

/// Namespaces and links a test made, removed on drop (failure included).
#[derive(Default)]
pub struct Net {
    /// Namespaces.
    pub netns: Vec<String>,
    /// Root-namespace links.
    pub links: Vec<String>,
}

/// Runs a command quietly; true if it succeeded.
pub fn sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs a command that must succeed.
pub fn must(args: &[&str]) {
    let o = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

impl Net {
    /// A namespace `ns` holding `peer` with `addr`, joined by a veth pair
    /// to `host` in the root namespace.
    pub fn host(&mut self, ns: &str, host: &str, peer: &str, addr: &str) {
        must(&["ip", "netns", "add", ns]);
        self.netns.push(ns.to_string());
        must(&["ip", "link", "add", host, "type", "veth", "peer", "name", peer]);
        self.links.push(host.to_string());
        must(&["ip", "link", "set", peer, "netns", ns]);
        must(&["ip", "-n", ns, "addr", "add", addr, "dev", peer]);
        must(&["ip", "-n", ns, "link", "set", peer, "up"]);
        must(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        must(&["ip", "link", "set", host, "up"]);
    }

    /// Removes a host made by [`Net::host`].
    pub fn remove_host(&mut self, ns: &str, host: &str) {
        sh(&["ip", "link", "del", host]);
        sh(&["ip", "netns", "del", ns]);
        self.links.retain(|l| l != host);
        self.netns.retain(|n| n != ns);
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for l in &self.links {
            sh(&["ip", "link", "del", l]);
        }
        for n in &self.netns {
            sh(&["ip", "netns", "del", n]);
        }
    }
}
