//! Interoperability with a real OVS peer: `ovs-appctl` talks to a tiny
//! unixctl server built on [`Connection`].

use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rvs_jsonrpc::{Connection, Message, Value};

const VERSION: &str = "rvs-vswitchd (rvs) 0.1.0 \"quoted\" {braces}";

/// A fresh directory for the socket, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("rvs-jsonrpc-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Serves `connections` unixctl clients: `version` gets [`VERSION`], any
/// other method an error as OVS words it.
fn serve(listener: UnixListener, connections: usize) -> thread::JoinHandle<Vec<Message>> {
    thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..connections {
            let (stream, _) = listener.accept().expect("accept");
            let mut conn = Connection::new(stream);
            let msg = conn.recv_timeout(Duration::from_secs(10)).expect("request from ovs-appctl");
            seen.push(msg.clone());
            let Message::Request { method, id, .. } = msg else {
                continue;
            };
            let reply = if method == "version" {
                Message::reply(VERSION, id)
            } else {
                Message::error(format!("\"{method}\" is not a valid command"), id)
            };
            conn.send(&reply).expect("send reply");
        }
        seen
    })
}

fn appctl(socket: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new("ovs-appctl")
        .arg("--timeout=10")
        .arg("-t")
        .arg(socket)
        .args(args)
        .output()
        .expect("run ovs-appctl")
}

fn have_ovs_appctl() -> bool {
    match Command::new("ovs-appctl").arg("--version").output() {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => panic!("running ovs-appctl: {e}"),
    }
}

#[test]
fn ovs_appctl_talks_to_connection() {
    if !have_ovs_appctl() {
        println!("SKIPPED: ovs-appctl not installed");
        return;
    }
    let dir = TempDir::new();
    let socket = dir.0.join("test.ctl");
    let server = serve(UnixListener::bind(&socket).expect("bind"), 2);

    let out = appctl(&socket, &["version"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ovs-appctl version failed: {stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), VERSION);

    // An error reply: ovs-appctl prints it on stderr and exits with 2.
    let out = appctl(&socket, &["no/such", "a b", "c"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("\"no/such\" is not a valid command"), "stderr: {stderr}");

    // What ovs-appctl sent, as our parser read it.
    let seen = server.join().expect("server thread");
    assert_eq!(seen[0], Message::request("version", vec![], Value::from(0)));
    let Message::Request { method, params, .. } = &seen[1] else {
        panic!("not a request: {:?}", seen[1]);
    };
    assert_eq!(method, "no/such");
    assert_eq!(params, &vec![Value::from("a b"), Value::from("c")]);
}
