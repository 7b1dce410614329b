//! System test (root) in its own binary: it counts the process's file
//! descriptors and the host's links, which tests running in parallel in the
//! same process would disturb.

mod common;

use common::switch;
use rvs_datapath::Dpif;
use rvs_testbed::{have_root, run, Topo};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The host's links that this test (or the switch it drives) could have
/// made: their names carry this process's id (the start of every
/// [`tag`]). Other processes' links (a benchmark running alongside, say)
/// do not count.
fn links() -> Vec<String> {
    let pid = (std::process::id() % 100_000).to_string();
    let out = String::from_utf8(run(&["ip", "-o", "link", "show"]).stdout).unwrap();
    let mut v: Vec<String> = out
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .filter(|s| s.contains(&pid))
        .collect();
    v.sort();
    v
}

fn count_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

#[test]
fn ports_deleted_under_traffic_leave_nothing_behind() {
    if !have_root("ports_deleted_under_traffic_leave_nothing_behind") {
        return;
    }
    let mut t = Topo::new();
    let (a, _b, va, vb) = t.two_hosts(&["198.18.3.1/24"], &["198.18.3.2/24"]);
    let links_before = links();
    assert!(!links_before.is_empty(), "the test's own veths are counted");
    let fds = count_fds();
    let common::Switch { dp, hub, devs, reg } = switch(&[&va, &vb], &[]);
    drop(devs);
    assert!(t.ping(&a, "198.18.3.2", 56, 1));
    // A ping flood runs while port b comes and goes.
    let flood = Command::new("ip")
        .args(["netns", "exec", &a, "ping", "-f", "-w", "3", "198.18.3.2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..20 {
        let p = dp.port_query_by_name(&vb).unwrap().port_no;
        dp.port_del(p).unwrap();
        hub.ports.lock().unwrap().retain(|q| *q != p);
        let nd = reg.netdevs().open("system", &vb, &BTreeMap::new()).unwrap();
        let no = dp.port_add(nd, None).unwrap();
        hub.ports.lock().unwrap().push(no);
        // Flows of the old port number went with it; the hub's answers
        // change, so start from no flows.
        dp.flow_flush();
        std::thread::sleep(Duration::from_millis(50));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut flood = flood;
    while flood.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = flood.kill();
    let _ = flood.wait();
    assert!(t.ping(&a, "198.18.3.2", 56, 2), "forwarding goes on after the churn");
    drop(dp);
    drop(reg);
    assert_eq!(count_fds(), fds, "no file descriptor leaked");
    assert_eq!(links(), links_before, "the switch left no link behind");
}
