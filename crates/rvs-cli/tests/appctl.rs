//! `rvs-appctl` against a tiny unixctl server, compared with `ovs-appctl`.

use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Duration;

use rvs_jsonrpc::{Connection, Message, Value};

/// Serves `n` connections: `echo` returns its arguments joined by spaces,
/// anything else an OVS-style error.
fn serve(listener: UnixListener, n: usize) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        for _ in 0..n {
            let (stream, _) = listener.accept().expect("accept");
            let mut conn = Connection::new(stream);
            let Ok(Message::Request { method, params, id }) =
                conn.recv_timeout(Duration::from_secs(10))
            else {
                continue;
            };
            let reply = if method == "echo" {
                let words: Vec<&str> = params.iter().filter_map(Value::as_str).collect();
                Message::reply(format!("{}\n", words.join(" ")), id)
            } else {
                Message::error(format!("\"{method}\" is not a valid command"), id)
            };
            let _ = conn.send(&reply);
        }
    })
}

fn run(bin: &str, sock: &Path, args: &[&str]) -> Option<std::process::Output> {
    Command::new(bin).arg("-t").arg(sock).args(args).output().ok()
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("rvs-appctl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn appctl_like_ovs_appctl() {
    let dir = tempdir();
    let sock = dir.join("test.ctl");
    let have_ovs = Path::new("/usr/bin/ovs-appctl").exists();
    let server = serve(UnixListener::bind(&sock).expect("bind"), if have_ovs { 4 } else { 2 });
    let ours = env!("CARGO_BIN_EXE_rvs-appctl");

    let ok = run(ours, &sock, &["echo", "a b", "c"]).expect("run rvs-appctl");
    assert!(ok.status.success());
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "a b c\n");
    let bad = run(ours, &sock, &["no/such"]).expect("run rvs-appctl");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("\"no/such\" is not a valid command"));

    if have_ovs {
        let theirs = run("ovs-appctl", &sock, &["echo", "a b", "c"]).expect("run ovs-appctl");
        assert_eq!(theirs.stdout, ok.stdout);
        let theirs = run("ovs-appctl", &sock, &["no/such"]).expect("run ovs-appctl");
        assert_eq!(theirs.status.code(), Some(2));
    } else {
        println!("ovs-appctl not installed: not comparing");
    }
    server.join().expect("server thread");

    // Nobody listening: exit 1, one line naming the socket.
    let gone = dir.join("gone.ctl");
    let out = run(ours, &gone, &["version"]).expect("run rvs-appctl");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&*gone.to_string_lossy()) && err.lines().count() == 1, "{err}");

    // A daemon name resolves under RVS_RUNDIR.
    assert_eq!(
        rvs_cli::appctl::target_socket("rvs-vswitchd", Path::new("/x")),
        Path::new("/x/rvs-vswitchd.ctl")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
