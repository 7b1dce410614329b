//! System tests of the `tap` and `internal` netdevs. They need root (to
//! create taps and namespaces) and print "SKIPPED: needs root" without it.
//!
//! Every interface and namespace a test makes is registered in a [`Cleanup`]
//! guard declared before anything that could fail, so it is removed even
//! when an assertion fails. Addresses come from 198.18.0.0/15 only; no
//! interface the test did not create is touched.

use rvs_datapath::netdev::tap::TapNetdev;
use rvs_datapath::netdev::{Netdev, NetdevRegistry, NetdevRxq};
use rvs_packet::{Batch, GsoType, Packet};
use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

/// The MAC the test uses as "the host behind the switch".
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const PEER_IP: [u8; 4] = [198, 18, 0, 1];
const NS_IP: [u8; 4] = [198, 18, 0, 2];

fn is_root() -> bool {
    // SAFETY: geteuid takes no arguments and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `ip` with `args`; returns whether it succeeded and its output.
fn ip(args: &[&str]) -> (bool, String) {
    let out = Command::new("ip").args(args).output().expect("running ip");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// Runs `ip` with `args` and fails the test if it fails.
fn ip_ok(args: &[&str]) -> String {
    let (ok, text) = ip(args);
    assert!(ok, "ip {}: {text}", args.join(" "));
    text
}

/// Removes, on drop, the namespaces and links a test registered.
#[derive(Default)]
struct Cleanup {
    netns: Vec<String>,
    links: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for l in &self.links {
            let _ = ip(&["link", "del", l]);
        }
        for ns in &self.netns {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// Waits up to `timeout` for `cond`, checking every 10 ms.
fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Receives from `rxq` until a packet satisfies `pred` or `timeout`
/// passes. Packets received on the way that do not match wait in `pending`
/// for the next call, so a frame that arrived in the same batch as another
/// is not lost.
fn recv_matching(
    rxq: &mut dyn NetdevRxq,
    pending: &mut Vec<Packet>,
    timeout: Duration,
    mut pred: impl FnMut(&Packet) -> bool,
) -> Option<Packet> {
    let mut found = None;
    wait_for(timeout, || {
        let mut batch = Batch::new();
        rxq.recv(&mut batch).expect("recv");
        pending.append(&mut batch.pkts);
        if let Some(i) = pending.iter().position(&mut pred) {
            found = Some(pending.remove(i));
        }
        found.is_some()
    });
    found
}

/// The Internet checksum of `data`.
fn inet_csum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn arp_request(sha: [u8; 6], spa: [u8; 4], tpa: [u8; 4]) -> Packet {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&sha);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&tpa);
    Packet::from_bytes(&f)
}

fn icmp_echo(src_mac: [u8; 6], dst_mac: [u8; 6], src: [u8; 4], dst: [u8; 4], id: u16) -> Packet {
    let mut icmp = vec![8, 0, 0, 0];
    icmp.extend_from_slice(&id.to_be_bytes());
    icmp.extend_from_slice(&1u16.to_be_bytes());
    icmp.extend_from_slice(b"rvs tap test payload");
    let c = inet_csum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let total = (20 + icmp.len()) as u16;
    let mut iph = vec![0x45, 0];
    iph.extend_from_slice(&total.to_be_bytes());
    iph.extend_from_slice(&[0, 1, 0x40, 0, 64, 1, 0, 0]);
    iph.extend_from_slice(&src);
    iph.extend_from_slice(&dst);
    let c = inet_csum(&iph);
    iph[10..12].copy_from_slice(&c.to_be_bytes());
    let mut f = dst_mac.to_vec();
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&iph);
    f.extend_from_slice(&icmp);
    Packet::from_bytes(&f)
}

/// The frame's EtherType.
fn ethertype(p: &Packet) -> u16 {
    let d = p.data();
    if d.len() < 14 {
        return 0;
    }
    u16::from_be_bytes([d[12], d[13]])
}

/// The IPv4 protocol of an IPv4 frame to `dst`, if it is one.
fn ipv4_proto_to(p: &Packet, dst: [u8; 4]) -> Option<u8> {
    let d = p.data();
    (ethertype(p) == 0x0800 && d.len() >= 34 && d[30..34] == dst).then(|| d[23])
}

/// Runs `f` on a thread that has entered network namespace `ns`.
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let file = std::fs::File::open(format!("/run/netns/{ns}")).expect("opening the netns");
    std::thread::spawn(move || {
        // SAFETY: setns takes an fd we hold open for the call and a valid
        // namespace type; it only changes this (new) thread's namespace.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .expect("netns thread")
}

#[test]
fn registry_knows_tap_and_internal() {
    let types = NetdevRegistry::new().types();
    assert!(types.contains(&"tap") && types.contains(&"internal"), "{types:?}");
    let mut o = BTreeMap::new();
    o.insert("peer".to_string(), "x".to_string());
    let e =
        NetdevRegistry::new().open("internal", "rvs-unused", &o).expect_err("an option is refused");
    assert!(e.to_string().contains("peer"), "{e}");
}

#[test]
fn internal_port_serves_a_namespace_and_goes_away() {
    if !is_root() {
        println!("SKIPPED: needs root");
        return;
    }
    let pid = std::process::id();
    let name = format!("rvs-i{pid}");
    let ns = format!("rvs-t-{pid}");
    let mut cleanup = Cleanup::default();
    cleanup.links.push(name.clone());
    ip_ok(&["netns", "add", &ns]);
    cleanup.netns.push(ns.clone());

    let dev = TapNetdev::new(&name, true, &BTreeMap::new()).expect("opening the internal port");
    assert_eq!(dev.type_name(), "internal");
    assert!(dev.is_owned());
    let shown = ip_ok(&["link", "show", &name]);
    assert!(shown.contains(&name), "{shown}");
    assert_eq!(dev.ifindex(), Some(ifindex_of(&name)));
    assert!(dev.in_local_netns());
    let mtu = dev.mtu().unwrap();
    let mac = dev.mac().unwrap();
    let offloads = dev.tx_offloads();
    assert!(offloads.csum && offloads.tso, "{offloads:?}");

    // Into the namespace, as a container's only NIC.
    ip_ok(&["link", "set", &name, "netns", &ns]);
    let nsdev = ["-n", &ns, "link", "set"];
    ip_ok(&[&nsdev[..], &[&name, "up"]].concat());
    ip_ok(&[&nsdev[..], &["lo", "up"]].concat());
    ip_ok(&["-n", &ns, "addr", "add", "198.18.0.2/24", "dev", &name]);
    let addrs = ip_ok(&["-n", &ns, "addr", "show", "dev", &name]);
    assert!(addrs.contains("198.18.0.2/24"), "{addrs}");
    assert!(!ip(&["link", "show", &name]).0, "the interface left this netns");

    // Lookups by name no longer find it here: last-known values.
    assert!(!dev.in_local_netns());
    assert_eq!(dev.mtu().unwrap(), mtu);
    assert_eq!(dev.mac().unwrap(), mac);
    assert_eq!(dev.ifindex(), None);
    assert!(dev.carrier(), "the fd is still attached");
    assert_eq!(dev.status().get("netns").map(String::as_str), Some("other"));
    assert!(dev.set_mtu(1400).is_err());

    // An ARP request injected through the port is answered by the
    // namespace's kernel.
    let mut rxq = dev.rxq_open(0).unwrap();
    let mut pending = Vec::new();
    dev.send(0, &mut vec![arp_request(PEER_MAC, PEER_IP, NS_IP)]).unwrap();
    let reply = recv_matching(rxq.as_mut(), &mut pending, Duration::from_secs(5), |p| {
        let d = p.data();
        ethertype(p) == 0x0806 && d.len() >= 42 && d[20..22] == [0, 2] && d[28..32] == NS_IP
    })
    .expect("an ARP reply from the namespace");
    let d = reply.data();
    assert_eq!(d[0..6], PEER_MAC);
    let ns_mac: [u8; 6] = d[22..28].try_into().unwrap();
    assert_eq!(ns_mac, mac.0, "the reply comes from the internal port's MAC");

    // So is an ICMP echo (the ARP request taught it our address).
    dev.send(0, &mut vec![icmp_echo(PEER_MAC, ns_mac, PEER_IP, NS_IP, 0x7273)]).unwrap();
    let echo = recv_matching(rxq.as_mut(), &mut pending, Duration::from_secs(5), |p| {
        let d = p.data();
        ipv4_proto_to(p, PEER_IP) == Some(1)
            && d.len() >= 40
            && d[34] == 0
            && d[38..40] == [0x72, 0x73]
    });
    assert!(echo.is_some(), "an ICMP echo reply from the namespace");
    let st = dev.stats();
    assert!(st.tx_packets >= 2 && st.rx_packets >= 2, "{st:?}");
    assert_eq!(st.tx_dropped + st.tx_errors + st.rx_errors, 0, "{st:?}");

    // The MAC can still be changed, through the fd.
    let new_mac = rvs_packet::EthAddr([0x02, 0x72, 0x76, 0x73, 0, 0x02]);
    dev.set_mac(new_mac).unwrap();
    assert_eq!(dev.mac().unwrap(), new_mac);
    let shown = ip_ok(&["-n", &ns, "link", "show", &name]);
    assert!(shown.contains("02:72:76:73:00:02"), "{shown}");

    // Dropping the netdev removes the interface, wherever it is.
    drop(rxq);
    drop(dev);
    assert!(
        wait_for(Duration::from_secs(5), || !ip(&["-n", &ns, "link", "show", &name]).0),
        "the interface is gone from the namespace"
    );
}

fn ifindex_of(name: &str) -> u32 {
    std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn checksum_and_gso_offloads_reach_the_switch() {
    if !is_root() {
        println!("SKIPPED: needs root");
        return;
    }
    let pid = std::process::id();
    let name = format!("rvs-g{pid}");
    let ns = format!("rvs-tg-{pid}");
    let mut cleanup = Cleanup::default();
    cleanup.links.push(name.clone());
    ip_ok(&["netns", "add", &ns]);
    cleanup.netns.push(ns.clone());
    let dev = TapNetdev::new(&name, true, &BTreeMap::new()).expect("opening the internal port");
    let mut rxq = dev.rxq_open(0).unwrap();
    let mut pending = Vec::new();
    ip_ok(&["link", "set", &name, "netns", &ns]);
    ip_ok(&["-n", &ns, "link", "set", &name, "up"]);
    ip_ok(&["-n", &ns, "addr", "add", "198.18.0.2/24", "dev", &name]);
    // The peer is static so the kernel sends data at once, not ARP.
    ip_ok(&[
        "-n",
        &ns,
        "neigh",
        "add",
        "198.18.0.1",
        "lladdr",
        "02:00:00:00:00:01",
        "dev",
        &name,
        "nud",
        "permanent",
    ]);

    // A small UDP datagram and a TCP SYN leave checksum-partial.
    in_netns(&ns, || {
        let s = UdpSocket::bind("198.18.0.2:0").unwrap();
        s.send_to(&[0x55; 100], "198.18.0.1:9").unwrap();
        let to: SocketAddr = "198.18.0.1:9".parse().unwrap();
        let _ = TcpStream::connect_timeout(&to, Duration::from_millis(100));
    });
    let udp = recv_matching(rxq.as_mut(), &mut pending, Duration::from_secs(5), |p| {
        ipv4_proto_to(p, PEER_IP) == Some(17)
    })
    .expect("the UDP datagram");
    assert_eq!((udp.md.csum_start, udp.md.csum_offset), (Some(34), 6));
    let syn = recv_matching(rxq.as_mut(), &mut pending, Duration::from_secs(5), |p| {
        ipv4_proto_to(p, PEER_IP) == Some(6)
    })
    .expect("the TCP SYN");
    assert_eq!((syn.md.csum_start, syn.md.csum_offset), (Some(34), 16));

    // A UDP GSO send comes through as one super-frame when the kernel took
    // TUN_F_USO4/6, as checksum-partial segments otherwise.
    let uso = dev.tx_offloads().uso;
    println!("kernel took USO: {uso}");
    in_netns(&ns, || {
        let s = UdpSocket::bind("198.18.0.2:0").unwrap();
        let seg: libc::c_int = 1000;
        // SAFETY: UDP_SEGMENT reads one int from a live local whose size
        // we pass; the socket fd is open for the call.
        let rc = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_UDP,
                libc::UDP_SEGMENT,
                (&seg as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "UDP_SEGMENT: {}", std::io::Error::last_os_error());
        s.send_to(&[0xaa; 8000], "198.18.0.1:9").unwrap();
    });
    let first = recv_matching(rxq.as_mut(), &mut pending, Duration::from_secs(5), |p| {
        ipv4_proto_to(p, PEER_IP) == Some(17) && p.len() > 200
    })
    .expect("the UDP GSO send");
    assert_eq!(first.md.csum_start, Some(34));
    if uso {
        assert_eq!(first.md.gso_type, GsoType::Udp, "{:?}", first.md);
        assert_eq!(first.md.gso_size, 1000);
        assert!(first.len() > 1500, "one super-frame: {} bytes", first.len());
    } else {
        assert_eq!(first.md.gso_type, GsoType::None);
    }
    assert_eq!(dev.stats().rx_errors, 0);

    // Deleting the namespace destroys the interface in it: the netdev
    // notices (no carrier, receive fails) and neither panics nor blocks.
    ip_ok(&["netns", "del", &ns]);
    cleanup.netns.clear();
    assert!(
        wait_for(Duration::from_secs(5), || !dev.carrier()),
        "no carrier once the tap is destroyed"
    );
    assert!(rxq.recv(&mut Batch::new()).is_err());
    let before = dev.stats();
    dev.send(0, &mut vec![Packet::from_bytes(&[0u8; 60])]).unwrap();
    let after = dev.stats();
    assert_eq!(after.tx_packets, before.tx_packets);
    assert_eq!(after.tx_errors + after.tx_dropped, before.tx_errors + before.tx_dropped + 1);
}

#[test]
fn tap_attaches_to_a_persistent_tap_and_removes_only_its_own() {
    if !is_root() {
        println!("SKIPPED: needs root");
        return;
    }
    let pid = std::process::id();
    let persistent = format!("rvs-tp{pid}");
    let own = format!("rvs-to{pid}");
    let other_kind = format!("rvs-td{pid}");
    let other_peer = format!("rvs-te{pid}");
    let mut cleanup = Cleanup::default();
    cleanup.links.extend([persistent.clone(), own.clone(), other_kind.clone(), other_peer.clone()]);
    let registry = NetdevRegistry::new();
    let none = BTreeMap::new();

    // A tap made by someone else is used and left in place.
    ip_ok(&["tuntap", "add", "mode", "tap", "name", &persistent]);
    let dev = registry.open("tap", &persistent, &none).unwrap();
    assert_eq!(dev.type_name(), "tap");
    let tap = dev.as_any().downcast_ref::<TapNetdev>().unwrap();
    assert!(!tap.is_owned());
    assert_eq!(dev.status().get("owned").map(String::as_str), Some("false"));
    assert!(wait_for(Duration::from_secs(2), || dev.carrier()), "attached and up: carrier");
    drop(dev);
    assert!(ip(&["link", "show", &persistent]).0, "the persistent tap stays");

    // An internal port takes a persistent tap over and removes it.
    let dev = registry.open("internal", &persistent, &none).unwrap();
    assert!(dev.as_any().downcast_ref::<TapNetdev>().unwrap().is_owned());
    drop(dev);
    assert!(
        wait_for(Duration::from_secs(5), || !ip(&["link", "show", &persistent]).0),
        "the internal port removed the tap it took over"
    );

    // A tap it made itself goes away with it.
    assert!(!ip(&["link", "show", &own]).0);
    let dev = registry.open("tap", &own, &none).unwrap();
    assert!(dev.as_any().downcast_ref::<TapNetdev>().unwrap().is_owned());
    let shown = ip_ok(&["link", "show", &own]);
    assert!(shown.contains("UP"), "brought up: {shown}");
    drop(dev);
    assert!(
        wait_for(Duration::from_secs(5), || !ip(&["link", "show", &own]).0),
        "the tap it created is gone"
    );

    // An interface of another kind is not taken over.
    ip_ok(&["link", "add", &other_kind, "type", "veth", "peer", "name", &other_peer]);
    let e = registry.open("tap", &other_kind, &none).expect_err("refused");
    assert!(e.to_string().contains(&other_kind), "{e}");
}
