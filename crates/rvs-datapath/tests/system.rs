//! System tests (root): namespaces joined by veth pairs through the userspace
//! datapath's AF_PACKET `system` ports, with the kernel's default offloads.

use rvs_datapath::dpif::{Upcall, UpcallError, UpcallReply};
use rvs_datapath::odp::OdpAction;
use rvs_datapath::{DatapathRegistry, DpClass, DpConfig, DpNetdev, Dpif, UpcallHandler};
use rvs_packet::{Mask, OdpPort};
use rvs_testbed::{have_root, tag, Topo};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Sends every miss out of every other port (a hub); the megaflow matches
/// only the invariants, so one flow per input port and ethertype.
struct Hub {
    ports: Mutex<Vec<OdpPort>>,
}

impl UpcallHandler for Hub {
    fn upcall(&self, u: &Upcall<'_>) -> Result<UpcallReply, UpcallError> {
        let inp = u.key.in_port();
        let actions = self
            .ports
            .lock()
            .unwrap()
            .iter()
            .filter(|p| **p != inp)
            .map(|p| OdpAction::Output(*p))
            .collect();
        Ok(UpcallReply { actions, mask: Mask::zero(), ufid: None, install: true })
    }
}

struct Switch {
    dp: Arc<DpNetdev>,
    hub: Arc<Hub>,
    _reg: DatapathRegistry,
}

fn switch(ports: &[&str]) -> Switch {
    let reg = DatapathRegistry::default();
    let dp = reg
        .create(
            &format!("rvs{}", tag()),
            DpClass::Dummy,
            DpConfig { n_threads: 1, ..DpConfig::default() },
        )
        .unwrap();
    let hub = Arc::new(Hub { ports: Mutex::new(Vec::new()) });
    for p in ports {
        let nd = reg.netdevs().open("system", p, &BTreeMap::new()).unwrap();
        let no = dp.port_add(nd, None).unwrap();
        hub.ports.lock().unwrap().push(no);
    }
    dp.register_upcall_handler(Some(hub.clone()));
    Switch { dp, hub, _reg: reg }
}

#[test]
fn ping_both_ways_v4_v6_fragments_and_jumbo() {
    if !have_root("ping_both_ways_v4_v6_fragments_and_jumbo") {
        return;
    }
    let mut t = Topo::new();
    let (a, b) = (t.netns("a"), t.netns("b"));
    let (va, vb) = (format!("rva{}", tag()), format!("rvb{}", tag()));
    t.veth(&a, &va, &["198.18.0.1/24", "2001:db8::1/64"]);
    t.veth(&b, &vb, &["198.18.0.2/24", "2001:db8::2/64"]);
    let sw = switch(&[&va, &vb]);
    assert!(t.ping(&a, "198.18.0.2", 56, 3), "IPv4 a -> b");
    assert!(t.ping(&b, "198.18.0.1", 56, 3), "IPv4 b -> a");
    assert!(t.ping(&a, "2001:db8::2", 56, 3), "IPv6 a -> b");
    assert!(t.ping(&b, "2001:db8::1", 56, 3), "IPv6 b -> a");
    assert!(t.ping(&a, "198.18.0.2", 1600, 2), "1,600-byte ping (fragments)");
    assert!(t.ping(&a, "198.18.0.2", 3200, 2), "3,200-byte ping (fragments)");
    assert!(t.ping(&b, "2001:db8::1", 3200, 2), "3,200-byte IPv6 ping (fragments)");
    t.set_mtu(&a, &va, 9000);
    t.set_mtu(&b, &vb, 9000);
    assert!(t.ping(&a, "198.18.0.2", 8972, 2), "9,000-byte MTU path, unfragmented");
    let st = sw.dp.stats();
    assert!(st.hits > 0 && st.flows > 0, "{st:?}");
    let ports = sw.hub.ports.lock().unwrap().clone();
    for p in ports {
        let s = sw.dp.port_stats(p).unwrap().netdev;
        assert!(s.rx_packets > 0 && s.tx_packets > 0, "port {p}: {s:?}");
    }
}

const PY_SERVER: &str = r#"
import socket, hashlib, sys
proto, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if proto == "tcp":
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port)); s.listen(1); s.settimeout(60)
    print("ready", flush=True)
    c, _ = s.accept(); c.settimeout(60)
    h = hashlib.sha256(); n = 0
    while True:
        d = c.recv(1 << 20)
        if not d:
            break
        h.update(d); n += len(d)
    print(n, h.hexdigest(), flush=True)
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port)); s.settimeout(3)
    print("ready", flush=True)
    n = 0; good = 0
    try:
        while True:
            d, _ = s.recvfrom(65535)
            n += 1
            good += d == bytes([n % 256]) * len(d) or d[:1] == d[-1:]
    except socket.timeout:
        pass
    print(n, good, flush=True)
"#;

const PY_CLIENT: &str = r#"
import socket, hashlib, sys, random, time
proto, addr, port, total = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if proto == "tcp":
    block = random.Random(7).randbytes(1 << 20)
    h = hashlib.sha256(); n = 0
    deadline = time.time() + 10
    while True:
        try:
            c = socket.create_connection((addr, port), timeout=5); break
        except OSError:
            if time.time() > deadline: raise
            time.sleep(0.1)
    while n < total:
        d = block[: min(len(block), total - n)]
        c.sendall(d); h.update(d); n += len(d)
    c.close()
    print(n, h.hexdigest(), flush=True)
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(1, total + 1):
        s.sendto(bytes([i % 256]) * 1000, (addr, port))
        if i % 100 == 0: time.sleep(0.001)
    print(total, flush=True)
"#;

fn python_in(t: &Topo, ns: &str, script: &str, args: &[&str]) -> std::process::Child {
    let _ = t;
    let mut v = vec!["netns", "exec", ns, "python3", "-c", script];
    v.extend_from_slice(args);
    Command::new("ip")
        .args(&v)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3")
}

fn wait_output(child: std::process::Child, limit: Duration) -> String {
    let start = Instant::now();
    let mut child = child;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    if !o.status.success() {
        eprintln!("stderr: {}", String::from_utf8_lossy(&o.stderr));
    }
    out
}

#[test]
fn a_100_mb_tcp_transfer_arrives_intact_and_udp_gets_through() {
    if !have_root("a_100_mb_tcp_transfer_arrives_intact_and_udp_gets_through") {
        return;
    }
    let mut t = Topo::new();
    let (a, b) = (t.netns("a"), t.netns("b"));
    let (va, vb) = (format!("rva{}", tag()), format!("rvb{}", tag()));
    t.veth(&a, &va, &["198.18.1.1/24"]);
    t.veth(&b, &vb, &["198.18.1.2/24"]);
    let sw = switch(&[&va, &vb]);
    assert!(t.ping(&a, "198.18.1.2", 56, 1));

    let server = python_in(&t, &b, PY_SERVER, &["tcp", "198.18.1.2", "5001"]);
    let client = python_in(&t, &a, PY_CLIENT, &["tcp", "198.18.1.2", "5001", "100000000"]);
    let sent = wait_output(client, Duration::from_secs(90));
    let got = wait_output(server, Duration::from_secs(10));
    let got_line = got.lines().last().unwrap_or("");
    assert!(sent.starts_with("100000000 "), "client: {sent}");
    assert_eq!(got_line, sent.trim(), "bytes and digest at the far end");

    let server = python_in(&t, &b, PY_SERVER, &["udp", "198.18.1.2", "5002"]);
    std::thread::sleep(Duration::from_millis(300));
    let client = python_in(&t, &a, PY_CLIENT, &["udp", "198.18.1.2", "5002", "2000"]);
    wait_output(client, Duration::from_secs(30));
    let got = wait_output(server, Duration::from_secs(10));
    let n: u64 = got
        .lines()
        .last()
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(n >= 1900, "UDP datagrams received: {got}");
    assert!(sw.dp.stats().hits > 1000);
}

#[test]
fn three_namespaces_on_one_switch() {
    if !have_root("three_namespaces_on_one_switch") {
        return;
    }
    let mut t = Topo::new();
    let names: Vec<String> = (0..3).map(|i| t.netns(&format!("h{i}"))).collect();
    let links: Vec<String> = (0..3).map(|i| format!("rv{i}{}", tag())).collect();
    for (i, (ns, l)) in names.iter().zip(&links).enumerate() {
        t.veth(ns, l, &[&format!("198.18.2.{}/24", i + 1)]);
    }
    let refs: Vec<&str> = links.iter().map(String::as_str).collect();
    let _sw = switch(&refs);
    for (i, ns) in names.iter().enumerate() {
        for j in 0..3 {
            if i != j {
                assert!(t.ping(ns, &format!("198.18.2.{}", j + 1), 56, 1), "{i} -> {j}");
            }
        }
    }
}

#[test]
fn v2_receive_rings_forward_too_and_bad_options_are_refused() {
    if !have_root("v2_receive_rings_forward_too_and_bad_options_are_refused") {
        return;
    }
    let mut t = Topo::new();
    let (a, b) = (t.netns("a"), t.netns("b"));
    let (va, vb) = (format!("rva{}", tag()), format!("rvb{}", tag()));
    t.veth(&a, &va, &["198.18.4.1/24"]);
    t.veth(&b, &vb, &["198.18.4.2/24"]);
    let reg = DatapathRegistry::default();
    let mut bad = BTreeMap::new();
    bad.insert("rx_ring".to_string(), "v9".to_string());
    let e = reg.netdevs().open("system", &va, &bad).unwrap_err();
    assert!(e.to_string().contains("rx_ring=v9"), "{e}");
    let e = reg.netdevs().open("system", "rvs-no-such-if", &BTreeMap::new()).unwrap_err();
    assert!(e.to_string().contains("rvs-no-such-if"), "{e}");

    let dp = reg
        .create(
            &format!("rvs{}", tag()),
            DpClass::Dummy,
            DpConfig { n_threads: 1, ..DpConfig::default() },
        )
        .unwrap();
    let hub = Arc::new(Hub { ports: Mutex::new(Vec::new()) });
    let mut v2 = BTreeMap::new();
    v2.insert("rx_ring".to_string(), "v2".to_string());
    for p in [&va, &vb] {
        let nd = reg.netdevs().open("system", p, &v2).unwrap();
        hub.ports.lock().unwrap().push(dp.port_add(nd, None).unwrap());
    }
    dp.register_upcall_handler(Some(hub.clone()));
    assert!(t.ping(&a, "198.18.4.2", 56, 3));
    assert!(t.ping(&b, "198.18.4.1", 3200, 2));
}
