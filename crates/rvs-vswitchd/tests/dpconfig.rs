//! `Open_vSwitch:other_config`'s datapath settings reach the datapath:
//! `flow-limit` caps the datapath flows, `max-idle` expires idle ones, and
//! `n-pmd-threads` sets the poll threads of a daemon that starts with it,
//! `pmd-busy-poll-us` how long they poll before they sleep; a value that
//! is not valid leaves the running one alone.

mod common;

use common::*;
use std::time::Duration;

fn n_flows(d: &Daemon) -> usize {
    d.appctl_ok(&["dpctl/dump-flows"]).lines().filter(|l| l.contains("actions:")).count()
}

#[test]
fn flow_limit_and_max_idle_apply() {
    if !have_ovs_tools() {
        return;
    }
    let dir = tempdir("dpconfig");
    let mut d = Daemon::start(&dir);
    d.add_dummy_bridge(
        "br0",
        &["p1", "p2"],
        &[&["set", "open_vswitch", ".", "other_config:flow-limit=1"]],
    );
    for src in 1..=3 {
        d.appctl_ok(&["netdev-dummy/receive", "p1", &frame_hex(src, 9)]);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(n_flows(&d) <= 1, "flow-limit=1 kept to: {}", d.appctl_ok(&["dpctl/dump-flows"]));

    // A value that is not a number is refused and the limit stays: it does
    // not fall back to the default.
    d.vsctl_ok(&["set", "open_vswitch", ".", "other_config:flow-limit=lots"]);
    for src in 5..=7 {
        d.appctl_ok(&["netdev-dummy/receive", "p1", &frame_hex(src, 9)]);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        n_flows(&d) <= 1,
        "flow-limit=lots lifted the limit: {}",
        d.appctl_ok(&["dpctl/dump-flows"])
    );

    d.vsctl_ok(&[
        "set",
        "open_vswitch",
        ".",
        "other_config:flow-limit=1000",
        "other_config:max-idle=500",
    ]);
    d.appctl_ok(&["netdev-dummy/receive", "p1", &frame_hex(4, 9)]);
    wait_for(Duration::from_secs(5), "a datapath flow", || n_flows(&d) >= 1);
    wait_for(Duration::from_secs(10), "max-idle=500 to expire the flows", || n_flows(&d) == 0);

    // n-pmd-threads from the database applies at the next start.
    d.vsctl_ok(&["set", "open_vswitch", ".", "other_config:n-pmd-threads=2"]);
    d.kill9();
    let d = Daemon::start(&dir);
    let rxq = d.appctl_ok(&["dpif-netdev/pmd-stats-show"]);
    assert!(rxq.contains("pmd thread numa_id 0 core_id 2"), "{rxq}");
    drop(d);
}

/// Times the poll threads slept while ten frames came in on `p1`, 20 ms
/// apart: each wakes a sleeping thread.
fn sleeps_around_frames(d: &Daemon) -> u64 {
    let sum = || -> u64 {
        d.appctl_ok(&["dpif-netdev/pmd-stats-show"])
            .lines()
            .filter_map(|l| l.trim().strip_prefix("sleeps: "))
            .map(|n| n.parse::<u64>().unwrap())
            .sum()
    };
    let before = sum();
    for src in 1..=10 {
        d.appctl_ok(&["netdev-dummy/receive", "p1", &frame_hex(src, 9)]);
        std::thread::sleep(Duration::from_millis(20));
    }
    sum() - before
}

#[test]
fn the_busy_poll_window_applies_while_running() {
    if !have_ovs_tools() {
        return;
    }
    let dir = tempdir("busypoll");
    let d = Daemon::start(&dir);
    d.add_dummy_bridge("br0", &["p1"], &[]);
    // With the default window (200 µs) the thread sleeps after each frame
    // ...
    let default = sleeps_around_frames(&d);
    assert!(default >= 5, "the poll thread slept {default} times around 10 frames");
    // ... with a 1 s window it keeps polling between them.
    d.vsctl_ok(&["set", "open_vswitch", ".", "other_config:pmd-busy-poll-us=1000000"]);
    std::thread::sleep(Duration::from_millis(300));
    let long = sleeps_around_frames(&d);
    assert!(long <= 1, "with a 1 s window the thread slept {long} times around 10 frames");
    // A value that is refused keeps the running window.
    d.vsctl_ok(&["set", "open_vswitch", ".", "other_config:pmd-busy-poll-us=soon"]);
    std::thread::sleep(Duration::from_millis(300));
    let kept = sleeps_around_frames(&d);
    assert!(kept <= 1, "pmd-busy-poll-us=soon changed the window: {kept} sleeps");
    // Removing the key goes back to the default.
    d.vsctl_ok(&["remove", "open_vswitch", ".", "other_config", "pmd-busy-poll-us"]);
    wait_for(Duration::from_secs(5), "the default window again", || sleeps_around_frames(&d) >= 5);
    drop(d);
}

/// `(core_id, queue)` of each receive queue of `port`, from
/// `dpif-netdev/pmd-rxq-show`.
fn rxqs_of(d: &Daemon, port: &str) -> Vec<(usize, usize)> {
    let mut core = 0;
    let mut out = Vec::new();
    for l in d.appctl_ok(&["dpif-netdev/pmd-rxq-show"]).lines() {
        if let Some(c) = l.strip_prefix("pmd thread numa_id 0 core_id ") {
            core = c.trim_end_matches(':').parse().unwrap();
        } else if let Some(rest) = l.trim().strip_prefix("port: ") {
            let mut w = rest.split_whitespace();
            if w.next() == Some(port) {
                let q = w.nth(1).unwrap().parse().unwrap();
                out.push((core, q));
            }
        }
    }
    out.sort_by_key(|&(_, q)| q);
    out
}

#[test]
fn pmd_rxq_affinity_pins_queues_and_a_bad_value_moves_nothing() {
    if !have_ovs_tools() {
        return;
    }
    let dir = tempdir("rxqaffinity");
    let d = Daemon::start_with(&dir, true, &["--n-pmd-threads", "2"]);
    d.add_dummy_bridge("br0", &["p1"], &[&["set", "interface", "p1", "options:n_rxq=2"]]);
    wait_for(Duration::from_secs(5), "p1's two queues", || rxqs_of(&d, "p1").len() == 2);
    let pin = |v: &str| {
        d.vsctl_ok(&["set", "interface", "p1", &format!("other_config:pmd-rxq-affinity=\"{v}\"")])
    };
    pin("0:2,1:2");
    wait_for(Duration::from_secs(5), "both queues on thread 2", || {
        rxqs_of(&d, "p1") == vec![(2, 0), (2, 1)]
    });
    let show = d.appctl_ok(&["dpif-netdev/pmd-rxq-show"]);
    assert!(show.contains("core_id 2:\n  isolated : true"), "{show}");
    // A thread that does not exist: refused with a warning, nothing moves
    // (not even queue 0, whose half was valid).
    pin("0:1,1:7");
    wait_for(Duration::from_secs(5), "the warning", || {
        d.log().contains("pmd-rxq-affinity=\"0:1,1:7\"")
    });
    assert_eq!(rxqs_of(&d, "p1"), vec![(2, 0), (2, 1)]);
    pin("0:1,x");
    wait_for(Duration::from_secs(5), "the warning", || d.log().contains("\"x\""));
    assert_eq!(rxqs_of(&d, "p1"), vec![(2, 0), (2, 1)]);
    pin("0:1, 1:1");
    wait_for(Duration::from_secs(5), "both queues on thread 1", || {
        rxqs_of(&d, "p1") == vec![(1, 0), (1, 1)]
    });
    // Thread 1 is isolated now: a new port's queue goes to thread 2.
    d.vsctl_ok(&["add-port", "br0", "p2", "--", "set", "interface", "p2", "type=dummy"]);
    wait_for(Duration::from_secs(5), "p2's queue on thread 2", || rxqs_of(&d, "p2") == [(2, 0)]);
    // Frames still cross: p1's queues on thread 1 forward to p2.
    d.appctl_ok(&["netdev-dummy/receive", "p1", &frame_hex(1, 2)]);
    wait_for(Duration::from_secs(5), "a datapath flow from p1", || {
        d.appctl_ok(&["dpctl/dump-flows"]).contains("packets:1")
    });
    // -pmd clears one thread's counters only.
    let received = |core: &str| {
        let s = d.appctl_ok(&["dpif-netdev/pmd-stats-show", "-pmd", core]);
        s.lines().find_map(|l| l.trim().strip_prefix("packets received: ")?.parse::<u64>().ok())
    };
    wait_for(Duration::from_secs(5), "thread 1's count", || received("1") == Some(1));
    d.appctl_ok(&["dpif-netdev/pmd-stats-clear", "-pmd", "2"]);
    assert_eq!(received("1"), Some(1));
    d.appctl_ok(&["dpif-netdev/pmd-stats-clear", "-pmd", "1"]);
    assert_eq!(received("1"), Some(0));
    // Without the key nothing is pinned or isolated.
    d.vsctl_ok(&["remove", "interface", "p1", "other_config", "pmd-rxq-affinity"]);
    wait_for(Duration::from_secs(5), "no isolated thread", || {
        !d.appctl_ok(&["dpif-netdev/pmd-rxq-show"]).contains("isolated : true")
    });
    // A rebalance spreads the five queues (the datapath's own port's,
    // br0's, p1's two, p2's) three and two.
    let said = d.appctl_ok(&["dpif-netdev/pmd-rxq-rebalance"]);
    assert_eq!(said, "pmd rxq rebalance requested.\n");
    let show = d.appctl_ok(&["dpif-netdev/pmd-rxq-show"]);
    let per_core = |c: &str| {
        let block = show.split("pmd thread").find(|b| b.contains(&format!("core_id {c}:")));
        block.map_or(0, |b| b.matches("queue-id").count())
    };
    assert_eq!((per_core("1"), per_core("2")), (3, 2), "{show}");
    // -pmd narrows the output to one thread; the datapath may be named.
    let one = d.appctl_ok(&["dpif-netdev/pmd-rxq-show", "-pmd", "2", "ovs-netdev"]);
    assert!(one.contains("core_id 2:") && !one.contains("core_id 1:"), "{one}");
    let stats = d.appctl_ok(&["dpif-netdev/pmd-stats-show", "-pmd", "1"]);
    assert_eq!(stats.matches("pmd thread").count(), 1, "{stats}");
    let e = d.appctl_err(&["dpif-netdev/pmd-stats-show", "-pmd", "9"]);
    assert!(e.contains("-pmd 9"), "{e}");
    let e = d.appctl_err(&["dpif-netdev/pmd-rxq-rebalance", "system@nope"]);
    assert!(e.contains("system@nope"), "{e}");
    drop(d);
}

#[test]
fn mtu_request_and_mac_apply_and_internal_ports_follow_their_bridge() {
    if !have_ovs_tools() {
        return;
    }
    let dir = tempdir("mtu");
    let d = Daemon::start(&dir);
    let mtu_is = |iface: &str, want: &str| {
        wait_for(Duration::from_secs(12), &format!("{iface}'s MTU to be {want}"), || {
            d.vsctl_ok(&["get", "Interface", iface, "mtu"]).trim() == want
        });
    };
    d.add_dummy_bridge(
        "br0",
        &["p1", "p2"],
        &[
            &["set", "interface", "p1", "mtu_request=9000"],
            &["set", "interface", "p2", "mtu_request=9000"],
        ],
    );
    mtu_is("p1", "9000");
    // The bridge's own (internal) port follows its smallest other port.
    mtu_is("br0", "9000");
    d.vsctl_ok(&["set", "interface", "p2", "mtu_request=1600"]);
    mtu_is("p2", "1600");
    mtu_is("br0", "1600");
    // Out of range: refused by name and value, the MTU stays.
    d.vsctl_ok(&["set", "interface", "p1", "mtu_request=10"]);
    wait_for(Duration::from_secs(5), "the warning", || {
        d.log().contains("interface p1: mtu \"10\" (mtu_request)")
    });
    assert_eq!(d.vsctl_ok(&["get", "Interface", "p1", "mtu"]), "9000\n");
    // A request of its own wins over the bridge's.
    d.vsctl_ok(&["set", "interface", "br0", "mtu_request=2000"]);
    mtu_is("br0", "2000");

    // `mac` sets an internal port's address; other ports and bad values
    // are refused by name and value.
    d.vsctl_ok(&["set", "interface", "br0", "mac=\"02:00:00:00:00:aa\""]);
    wait_for(Duration::from_secs(12), "br0's new MAC", || {
        d.vsctl_ok(&["get", "Interface", "br0", "mac_in_use"]) == "\"02:00:00:00:00:aa\"\n"
    });
    d.vsctl_ok(&["set", "interface", "p1", "mac=\"02:00:00:00:00:bb\""]);
    d.vsctl_ok(&["set", "interface", "br0", "mac=\"02:zz\""]);
    wait_for(Duration::from_secs(5), "the two warnings", || {
        let log = d.log();
        log.contains("interface p1: mac \"02:00:00:00:00:bb\" (mac): only internal")
            && log.contains("interface br0: mac \"02:zz\" (mac)")
    });
    assert_eq!(d.vsctl_ok(&["get", "Interface", "br0", "mac_in_use"]), "\"02:00:00:00:00:aa\"\n");
    // Without its own `mac`, the bridge's port takes other_config:hwaddr.
    d.vsctl_ok(&[
        "clear",
        "interface",
        "br0",
        "mac",
        "--",
        "set",
        "bridge",
        "br0",
        "other_config:hwaddr=\"02:00:00:00:00:cc\"",
    ]);
    wait_for(Duration::from_secs(12), "br0's MAC from hwaddr", || {
        d.vsctl_ok(&["get", "Interface", "br0", "mac_in_use"]) == "\"02:00:00:00:00:cc\"\n"
    });
    drop(d);
}

#[test]
fn pmd_cpu_mask_places_poll_threads_at_the_next_start() {
    if !have_ovs_tools() {
        return;
    }
    let dir = tempdir("cpumask");
    let mut d = Daemon::start(&dir);
    d.add_dummy_bridge("br0", &["p1"], &[]);
    d.vsctl_ok(&["set", "open_vswitch", ".", "other_config:pmd-cpu-mask=0x1"]);
    wait_for(Duration::from_secs(5), "the restart warning", || {
        d.log().contains("pmd-cpu-mask=0x1") && d.log().contains("restarts")
    });
    d.kill9();
    let d = Daemon::start(&dir);
    // One thread, on CPU 0, shown as core 0.
    let show = d.appctl_ok(&["dpif-netdev/pmd-rxq-show"]);
    assert!(show.starts_with("pmd thread numa_id 0 core_id 0:\n"), "{show}");
    assert_eq!(show.matches("pmd thread").count(), 1, "{show}");
    let allowed: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", d.pid()))
        .unwrap()
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).unwrap_or_default().starts_with("pmd-")
        })
        .filter_map(|t| {
            let status = std::fs::read_to_string(t.path().join("status")).ok()?;
            let line = status.lines().find(|l| l.starts_with("Cpus_allowed_list:"))?;
            Some(line.split_whitespace().nth(1)?.to_string())
        })
        .collect();
    assert_eq!(allowed, ["0"]);
    // Cores name threads in -pmd and pmd-rxq-affinity.
    let stats = d.appctl_ok(&["dpif-netdev/pmd-stats-show", "-pmd", "0"]);
    assert!(stats.starts_with("pmd thread numa_id 0 core_id 0:"), "{stats}");
    d.vsctl_ok(&["set", "interface", "p1", "other_config:pmd-rxq-affinity=\"0:0\""]);
    wait_for(Duration::from_secs(5), "core 0 isolated", || {
        d.appctl_ok(&["dpif-netdev/pmd-rxq-show"]).contains("isolated : true")
    });
    d.vsctl_ok(&["set", "interface", "p1", "other_config:pmd-rxq-affinity=\"0:1\""]);
    wait_for(Duration::from_secs(5), "the warning", || {
        d.log().contains("has core 1, where no poll thread runs")
    });
    // A mask naming a CPU this process may not run on is refused at the
    // next start, by name and value: the threads run as without a mask.
    d.vsctl_ok(&["set", "open_vswitch", ".", "other_config:pmd-cpu-mask=0x8000000000000000"]);
    let mut d = d;
    d.kill9();
    let d = Daemon::start(&dir);
    let log = d.log();
    assert!(log.contains("pmd-cpu-mask=0x8000000000000000 names CPU 63"), "{log}");
    let show = d.appctl_ok(&["dpif-netdev/pmd-rxq-show"]);
    assert!(show.starts_with("pmd thread numa_id 0 core_id 1:\n"), "{show}");
    drop(d);
}

fn rx_counts(d: &Daemon, port: &str) -> (u64, u64) {
    d.port_counts(port, "RX")
}

/// Hands `n` frames to dummy port `port` in one command.
fn receive_frames(d: &Daemon, port: &str, n: u8) {
    let frames: Vec<String> = (0..n).map(|i| frame_hex(1 + i % 2, 9)).collect();
    let mut args = vec!["netdev-dummy/receive", port];
    args.extend(frames.iter().map(String::as_str));
    d.appctl_ok(&args);
}

#[test]
fn ingress_policing_drops_beyond_the_rate_and_shows_it() {
    if !have_ovs_tools() {
        return;
    }
    let dir = tempdir("policing");
    let d = Daemon::start(&dir);
    // 8 kb/s with an 8 kb burst: 1,000 bytes, 32 of these frames (31
    // bytes past the Ethernet header each).
    d.add_dummy_bridge(
        "br0",
        &["p1", "p2"],
        &[&["set", "interface", "p1", "ingress_policing_rate=8", "ingress_policing_burst=8"]],
    );
    let receive = |n| receive_frames(&d, "p1", n);
    receive(100);
    wait_for(Duration::from_secs(5), "p1's 100 frames", || rx_counts(&d, "p1").0 == 100);
    let (_, dropped) = rx_counts(&d, "p1");
    // The bucket refills 1,000 bytes a second: a frame or two may come
    // back while the frames are handed over.
    assert!((60..=68).contains(&dropped), "the policer dropped {dropped} of 100 frames");
    // The Interface row shows them, in rx_dropped and under OVS's name.
    wait_for(Duration::from_secs(12), "the policer's drops in p1's statistics", || {
        let get = |k: &str| {
            d.vsctl_ok(&["--if-exists", "get", "interface", "p1", &format!("statistics:{k}")])
        };
        get("ovs_rx_qos_drops").trim() == dropped.to_string()
            && get("rx_dropped").trim() == dropped.to_string()
    });
    assert_eq!(rx_counts(&d, "p2").1, 0, "p2 is not policed");

    // A rate of 0 turns policing off.
    d.vsctl_ok(&["set", "interface", "p1", "ingress_policing_rate=0"]);
    receive(100);
    wait_for(Duration::from_secs(5), "p1's next 100 frames", || rx_counts(&d, "p1").0 == 200);
    assert_eq!(rx_counts(&d, "p1").1, dropped, "no drop without a rate");

    // A patch port receives nothing to police: refused by name and value.
    d.vsctl_ok(&[
        "add-br",
        "br1",
        "--",
        "add-port",
        "br0",
        "patch0",
        "--",
        "set",
        "interface",
        "patch0",
        "type=patch",
        "options:peer=patch1",
        "ingress_policing_rate=100",
        "--",
        "add-port",
        "br1",
        "patch1",
        "--",
        "set",
        "interface",
        "patch1",
        "type=patch",
        "options:peer=patch0",
    ]);
    wait_for(Duration::from_secs(5), "the warning", || {
        d.log().contains(
            "interface patch0: ingress_policing_rate=100 ingress_policing_burst=0 \
             ingress_policing_kpkts_rate=0 ingress_policing_kpkts_burst=0: \
             a patch port receives nothing to police",
        )
    });
    drop(d);
}

#[test]
fn qos_egress_policer_drops_what_a_port_sends_beyond_its_rate() {
    if !have_ovs_tools() {
        return;
    }
    let dir = tempdir("qos");
    let d = Daemon::start(&dir);
    // 1,000 bytes a second and of burst: 32 frames of 31 bytes of IP.
    d.add_dummy_bridge(
        "br0",
        &["p1", "p2"],
        &[
            &["set", "port", "p2", "qos=@q"],
            &[
                "--id=@q",
                "create",
                "qos",
                "type=egress-policer",
                "other_config:cir=1000",
                "other_config:cbs=1000",
            ],
        ],
    );
    // As OVS's qos/show prints it.
    assert_eq!(d.appctl_ok(&["qos/show", "p2"]), "QoS: p2 egress-policer\ncbs: 1000\ncir: 1000\n");
    assert_eq!(d.appctl_ok(&["qos/show", "p1"]), "QoS not configured on p1\n");
    assert!(d.appctl_err(&["qos/show", "p9"]).contains("p9: unknown interface"));
    assert!(d.appctl_ok(&["qos/show-types", "p1"]).contains("\tegress-policer\n"));
    // Flooded from p1 to p2 (and br0).
    receive_frames(&d, "p1", 100);
    wait_for(Duration::from_secs(5), "p2's 100 frames", || {
        let (sent, dropped) = d.port_counts("p2", "TX");
        sent + dropped == 100
    });
    let (sent, dropped) = d.port_counts("p2", "TX");
    assert!((32..=34).contains(&sent), "p2 sent {sent} of 100 frames ({dropped} dropped)");
    assert_eq!(d.port_counts("p1", "TX").1, 0);
    wait_for(Duration::from_secs(12), "the drops in p2's statistics", || {
        let n =
            d.vsctl_ok(&["--if-exists", "get", "interface", "p2", "statistics:ovs_tx_qos_drops"]);
        n.trim() == dropped.to_string()
    });

    // Settings that cannot apply are refused by name and value, and the
    // policer stays.
    let qos = d.vsctl_ok(&["get", "port", "p2", "qos"]);
    let qos = qos.trim();
    d.vsctl_ok(&["set", "qos", qos, "other_config:cbs=0"]);
    d.vsctl_ok(&["set", "qos", qos, "type=linux-htb"]);
    wait_for(Duration::from_secs(5), "the two warnings", || {
        let log = d.log();
        log.contains(
            "interface p2: QoS type=\"egress-policer\" other_config:cbs=\"0\" \
             other_config:cir=\"1000\": other_config:cbs must be a positive number of bytes",
        ) && log.contains("QoS type \"linux-htb\" is not supported")
    });
    receive_frames(&d, "p1", 50);
    wait_for(Duration::from_secs(5), "p2's next 50 frames", || {
        let (s, dr) = d.port_counts("p2", "TX");
        s + dr == 150
    });
    assert!(d.port_counts("p2", "TX").1 > dropped, "the policer went away");

    // Without a QoS, nothing is dropped.
    d.vsctl_ok(&["clear", "port", "p2", "qos"]);
    let before = d.port_counts("p2", "TX").1;
    receive_frames(&d, "p1", 50);
    wait_for(Duration::from_secs(5), "p2's last 50 frames", || {
        let (s, dr) = d.port_counts("p2", "TX");
        s + dr == 200
    });
    assert_eq!(d.port_counts("p2", "TX").1, before);
    drop(d);
}
