//! End-to-end tests of the userspace datapath with dummy ports: what a user
//! of the dpif API sees (ports, flows, packets out, counters).

use rvs_datapath::clock::ManualClock;
use rvs_datapath::dpif::{
    DpifError, FlowId, FlowPut, PortEvent, PutFlags, Upcall, UpcallError, UpcallReply,
};
use rvs_datapath::dpif_netdev::invariant_mask;
use rvs_datapath::netdev::dummy::DummyNetdev;
use rvs_datapath::odp::{DropReason, OdpAction, SetField};
use rvs_datapath::{
    DatapathRegistry, DpClass, DpConfig, DpNetdev, Dpif, IngressPolicing, UpcallHandler,
};
use rvs_packet::flow::{extract, Field, VLAN_CFI};
use rvs_packet::wire::builder::PacketBuilder;
use rvs_packet::wire::tcp::TcpFlags;
use rvs_packet::{EthAddr, FlowKey, Mask, OdpPort, Packet};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const A: EthAddr = EthAddr([0x02, 0, 0, 0, 0, 0x0a]);
const B: EthAddr = EthAddr([0x02, 0, 0, 0, 0, 0x0b]);
const WAIT: Duration = Duration::from_secs(5);

fn tcp(sport: u16, dport: u16) -> Vec<u8> {
    PacketBuilder::ethernet(A, B)
        .ipv4(Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2), 64)
        .tcp(sport, dport, TcpFlags::SYN)
        .payload(b"hello")
        .build()
}

fn dummy(name: &str) -> Arc<DummyNetdev> {
    DummyNetdev::new(name, false, &BTreeMap::new()).unwrap()
}

/// A datapath driven by the test (no poll threads), with `n` dummy ports
/// numbered 1..=n.
struct Rig {
    dp: Arc<DpNetdev>,
    ports: Vec<Arc<DummyNetdev>>,
}

fn rig_with(n: usize, config: DpConfig) -> Rig {
    let reg = DatapathRegistry::default();
    let dp = reg.create("dp0", DpClass::Dummy, config).unwrap();
    let ports: Vec<_> = (1..=n)
        .map(|i| {
            let d = dummy(&format!("p{i}"));
            assert_eq!(dp.port_add(d.clone(), None).unwrap(), OdpPort(i as u32));
            d
        })
        .collect();
    Rig { dp, ports }
}

fn rig(n: usize) -> Rig {
    rig_with(n, DpConfig { n_threads: 0, maintenance_thread: false, ..DpConfig::default() })
}

impl Rig {
    fn port(&self, i: u32) -> &Arc<DummyNetdev> {
        &self.ports[i as usize - 1]
    }

    /// Injects a frame on port `i` and runs the datapath until idle.
    fn inject(&self, i: u32, frame: &[u8]) {
        self.port(i).receive(Packet::from_bytes(frame));
        self.dp.poll_until_idle(10);
    }
}

/// The megaflow invariants of an untagged IPv4 packet.
fn invariants() -> Mask {
    invariant_mask(&key_of(&tcp(1, 2), 1))
}

fn key_of(frame: &[u8], in_port: u32) -> FlowKey {
    let mut p = Packet::from_bytes(frame);
    p.md.in_port = OdpPort(in_port);
    let mut k = FlowKey::new();
    extract(&mut p, &mut k);
    k
}

fn put(dp: &DpNetdev, key: FlowKey, mask: Mask, actions: Vec<OdpAction>) -> Result<(), DpifError> {
    dp.flow_put(FlowPut { ufid: None, key, mask, actions, flags: PutFlags::CREATE }).map(|_| ())
}

#[test]
fn port_numbers_follow_the_datapath_rules() {
    let r = rig(2);
    let events = r.dp.port_subscribe();
    let local = r.dp.port_query_by_number(OdpPort::LOCAL).unwrap();
    assert_eq!((local.name.as_str(), local.type_name.as_str()), ("dp0", "dummy-internal"));

    let before = r.dp.port_dump();
    let e = r.dp.port_add(dummy("p3"), Some(OdpPort(2))).unwrap_err();
    assert_eq!(e.to_string(), "port number 2 is already in use by \"p2\"");
    let e = r.dp.port_add(dummy("p3"), Some(OdpPort(70000))).unwrap_err();
    assert_eq!(e.to_string(), "port number 70000 is past the port limit 65535");
    assert!(matches!(
        r.dp.port_add(dummy("p3"), Some(OdpPort(65535))),
        Err(DpifError::PortTooBig { .. })
    ));
    let e = r.dp.port_add(dummy("p1"), None).unwrap_err();
    assert_eq!(e, DpifError::PortNameExists("p1".into()));
    let e = r.dp.port_del(OdpPort::LOCAL).unwrap_err();
    assert!(matches!(e, DpifError::LocalPort(_)), "{e}");
    assert_eq!(r.dp.port_dump(), before, "refused changes changed nothing");

    // The lowest free number is reused; a requested free number is granted.
    r.dp.port_del(OdpPort(1)).unwrap();
    assert_eq!(r.dp.port_add(dummy("p4"), None).unwrap(), OdpPort(1));
    assert_eq!(r.dp.port_add(dummy("p5"), Some(OdpPort(65534))).unwrap(), OdpPort(65534));
    assert_eq!(r.dp.port_add(dummy("p6"), None).unwrap(), OdpPort(3));
    assert_eq!(r.dp.port_query_by_name("p5").unwrap().port_no, OdpPort(65534));
    assert!(r.dp.port_del(OdpPort(9)).is_err());

    let got: Vec<PortEvent> = events.try_iter().collect();
    let names: Vec<String> = got
        .iter()
        .map(|e| match e {
            PortEvent::Added(p) => format!("+{}@{}", p.name, p.port_no),
            PortEvent::Deleted(p) => format!("-{}@{}", p.name, p.port_no),
        })
        .collect();
    assert_eq!(names, vec!["-p1@1", "+p4@1", "+p5@65534", "+p6@3"]);
}

#[test]
fn flows_are_put_got_modified_deleted_and_flushed() {
    let r = rig(3);
    let frame = tcp(1000, 80);
    let key = key_of(&frame, 1);

    // Breaking an invariant is refused and installs nothing.
    let mut bad = invariants();
    bad.set(Field::NwFrag, 0);
    let e = put(&r.dp, key, bad, vec![OdpAction::Output(OdpPort(2))]).unwrap_err();
    assert!(e.to_string().contains("nw_frag"), "{e}");
    assert!(r.dp.flow_dump().is_empty());

    put(&r.dp, key, invariants(), vec![OdpAction::Output(OdpPort(2))]).unwrap();
    // The same match again, even with a different key outside the mask.
    let other = key_of(&tcp(5, 6), 1);
    let e = put(&r.dp, other, invariants(), vec![]).unwrap_err();
    assert!(matches!(e, DpifError::FlowExists(_)), "{e}");
    assert_eq!(r.dp.flow_dump().len(), 1);

    r.inject(1, &frame);
    assert_eq!(r.port(2).take_sent().len(), 1);
    let f = r.dp.flow_get(&FlowId::Match(key, invariants())).unwrap();
    assert_eq!(f.stats.packets, 1);
    assert_eq!(f.stats.bytes, frame.len() as u64);
    assert_eq!(f.stats.tcp_flags, 0x02);
    assert_eq!(r.dp.flow_get(&FlowId::Ufid(f.ufid)).unwrap().key, f.key);

    // Modify: new actions, the old statistics come back.
    let old =
        r.dp.flow_put(FlowPut {
            ufid: None,
            key,
            mask: invariants(),
            actions: vec![OdpAction::Output(OdpPort(3))],
            flags: PutFlags::MODIFY,
        })
        .unwrap()
        .unwrap();
    assert_eq!(old.packets, 1);
    r.inject(1, &frame);
    assert_eq!(r.port(2).take_sent().len(), 0);
    assert_eq!(r.port(3).take_sent().len(), 1);

    let stats = r.dp.flow_del(&FlowId::Ufid(f.ufid)).unwrap();
    assert_eq!(stats.packets, 2);
    assert!(matches!(r.dp.flow_del(&FlowId::Ufid(f.ufid)), Err(DpifError::NoSuchFlow(_))));
    put(&r.dp, key, invariants(), vec![]).unwrap();
    r.dp.flow_flush();
    assert!(r.dp.flow_dump().is_empty());
    assert_eq!(r.dp.stats().flows, 0);
}

#[test]
fn actions_edit_and_output_packets_and_counters_say_so() {
    let r = rig(3);
    let frame = tcp(1000, 80);
    let new_dst = EthAddr([0x02, 0, 0, 0, 0, 0x0c]);
    let actions = vec![
        OdpAction::PushVlan { tpid: 0x8100, tci: VLAN_CFI | 10 },
        OdpAction::Output(OdpPort(2)),
        OdpAction::PopVlan,
        OdpAction::SetMasked {
            value: Box::new(SetField::Eth { src: EthAddr::ZERO, dst: new_dst }),
            mask: Box::new(SetField::Eth { src: EthAddr::ZERO, dst: EthAddr::BROADCAST }),
        },
        OdpAction::Output(OdpPort(3)),
    ];
    put(&r.dp, key_of(&frame, 1), invariants(), actions).unwrap();
    r.inject(1, &frame);
    let tagged = r.port(2).take_sent();
    assert_eq!(tagged.len(), 1);
    let t = tagged[0].data();
    assert_eq!(t.len(), frame.len() + 4);
    assert_eq!(&t[12..16], &[0x81, 0x00, 0x00, 0x0a]);
    assert_eq!(&t[16..], &frame[12..]);
    let edited = r.port(3).take_sent();
    assert_eq!(edited[0].data()[..6], new_dst.0);
    assert_eq!(&edited[0].data()[6..], &frame[6..]);

    let st = r.dp.stats();
    assert_eq!((st.hits, st.missed, st.flows), (1, 0, 1));
    let ps = r.dp.port_stats(OdpPort(3)).unwrap().netdev;
    assert_eq!((ps.tx_packets, ps.tx_bytes), (1, frame.len() as u64));
    assert_eq!(r.dp.port_stats(OdpPort(1)).unwrap().netdev.rx_packets, 1);
}

/// Answers misses with fixed actions and a mask, counting upcalls.
struct Handler {
    calls: AtomicUsize,
    actions: Vec<OdpAction>,
    extra: Mask,
}

impl UpcallHandler for Handler {
    fn upcall(&self, _u: &Upcall<'_>) -> Result<UpcallReply, UpcallError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(UpcallReply {
            actions: self.actions.clone(),
            mask: self.extra,
            ufid: None,
            install: true,
        })
    }
}

fn handler(actions: Vec<OdpAction>, extra: Mask) -> Arc<Handler> {
    Arc::new(Handler { calls: AtomicUsize::new(0), actions, extra })
}

#[test]
fn a_miss_is_upcalled_once_and_installed_as_a_megaflow() {
    let r = rig(2);
    let mut extra = Mask::zero();
    extra.set_exact(Field::EthDst);
    let h = handler(vec![OdpAction::Output(OdpPort(2))], extra);
    r.dp.register_upcall_handler(Some(h.clone()));
    // Ten connections, one destination MAC: one megaflow.
    for i in 0..10 {
        r.inject(1, &tcp(1000 + i, 80));
    }
    assert_eq!(h.calls.load(Ordering::SeqCst), 1);
    assert_eq!(r.port(2).take_sent().len(), 10);
    let flows = r.dp.flow_dump();
    assert_eq!(flows.len(), 1);
    let f = &flows[0];
    assert_eq!(f.mask, extra.union(&invariants()), "handler's mask plus the invariants");
    assert_eq!(f.key.eth_dst(), B);
    assert_eq!(f.stats.packets, 10);
    let st = r.dp.stats();
    assert_eq!((st.missed, st.hits, st.lost), (1, 9, 0));
}

#[test]
fn misses_without_a_handler_are_lost_and_counted() {
    let r = rig(2);
    r.inject(1, &tcp(1, 2));
    let st = r.dp.stats();
    assert_eq!((st.missed, st.lost, st.flows), (1, 1, 0));
    assert_eq!(r.dp.drop_stats(), vec![(DropReason::UpcallLost, 1)]);
}

#[test]
fn over_the_flow_limit_misses_are_executed_without_install() {
    let r = rig(2);
    r.dp.set_flow_limit(1);
    let mut extra = Mask::zero();
    extra.set_exact(Field::TpSrc);
    r.dp.register_upcall_handler(Some(handler(vec![OdpAction::Output(OdpPort(2))], extra)));
    r.inject(1, &tcp(1, 80));
    r.inject(1, &tcp(2, 80));
    assert_eq!(r.port(2).take_sent().len(), 2, "both packets forwarded");
    let st = r.dp.stats();
    assert_eq!((st.flows, st.no_install), (1, 1));
}

#[test]
fn idle_flows_expire_on_the_datapath_clock() {
    let clock = ManualClock::new();
    let r = rig_with(
        2,
        DpConfig {
            n_threads: 0,
            maintenance_thread: false,
            clock: clock.clone(),
            ..DpConfig::default()
        },
    );
    let busy = tcp(1, 80);
    let mut idle_key = key_of(&tcp(2, 80), 1);
    idle_key.set_eth_type(0x86dd);
    put(&r.dp, key_of(&busy, 1), invariants(), vec![OdpAction::Output(OdpPort(2))]).unwrap();
    put(&r.dp, idle_key, invariants(), vec![]).unwrap();
    clock.advance(Duration::from_secs(6));
    r.inject(1, &busy);
    assert_eq!(r.dp.expire_idle(), 0);
    clock.advance(Duration::from_secs(5));
    assert_eq!(r.dp.expire_idle(), 1, "only the flow idle for 11 s (> 10 s) goes");
    let left = r.dp.flow_dump();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].key.eth_type(), 0x0800);
    clock.advance(Duration::from_secs(11));
    assert_eq!(r.dp.expire_idle(), 1);
}

#[test]
fn the_exact_match_cache_never_serves_a_modified_or_deleted_flow() {
    let r = rig_with(
        3,
        DpConfig {
            n_threads: 0,
            maintenance_thread: false,
            emc_insert_inv_prob: 1,
            ..DpConfig::default()
        },
    );
    let frame = tcp(7, 80);
    let key = key_of(&frame, 1);
    put(&r.dp, key, invariants(), vec![OdpAction::Output(OdpPort(2))]).unwrap();
    r.inject(1, &frame);
    r.inject(1, &frame);
    assert_eq!(r.dp.stats().emc_hits, 1, "second packet hit the cache");
    assert_eq!(r.port(2).take_sent().len(), 2);
    r.dp.flow_put(FlowPut {
        ufid: None,
        key,
        mask: invariants(),
        actions: vec![OdpAction::Output(OdpPort(3))],
        flags: PutFlags::MODIFY,
    })
    .unwrap();
    r.inject(1, &frame);
    assert_eq!(r.port(3).take_sent().len(), 1, "modified actions apply at once");
    r.dp.flow_del(&FlowId::Match(key, invariants())).unwrap();
    r.inject(1, &frame);
    assert_eq!(r.port(2).take_sent().len() + r.port(3).take_sent().len(), 0);
    assert_eq!(r.dp.stats().lost, 1, "a deleted flow misses");
}

#[test]
fn recirculation_reaches_a_second_flow_and_stops_at_the_depth_limit() {
    let r = rig(2);
    let frame = tcp(9, 80);
    let key = key_of(&frame, 1);
    put(&r.dp, key, invariants(), vec![OdpAction::Recirc(5)]).unwrap();
    let mut k5 = key;
    k5.set_recirc_id(5);
    put(&r.dp, k5, invariants(), vec![OdpAction::Output(OdpPort(2))]).unwrap();
    r.inject(1, &frame);
    assert_eq!(r.port(2).take_sent().len(), 1);

    // A flow that recirculates into itself.
    let mut k6 = key;
    k6.set_recirc_id(6);
    r.dp.flow_flush();
    put(&r.dp, key, invariants(), vec![OdpAction::Recirc(6)]).unwrap();
    put(&r.dp, k6, invariants(), vec![OdpAction::Recirc(6)]).unwrap();
    r.inject(1, &frame);
    assert!(r.dp.drop_stats().contains(&(DropReason::RecircDepth, 1)), "{:?}", r.dp.drop_stats());
}

#[test]
fn clone_trunc_and_check_pkt_len_split_and_copy() {
    let r = rig(3);
    let small = tcp(1, 80);
    let big = PacketBuilder::ethernet(A, B)
        .ipv4(Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2), 64)
        .tcp(1, 80, TcpFlags::ACK)
        .payload(&[7u8; 500])
        .build();
    let actions = vec![
        OdpAction::Clone(vec![OdpAction::Trunc(20), OdpAction::Output(OdpPort(3))]),
        OdpAction::CheckPktLen {
            pkt_len: 200,
            gt: vec![OdpAction::Output(OdpPort(2))],
            le: vec![OdpAction::Output(OdpPort(3))],
        },
    ];
    let mut mask = invariants();
    mask.set(Field::TcpFlags, 0);
    put(&r.dp, key_of(&small, 1), mask, actions).unwrap();
    r.inject(1, &small);
    r.inject(1, &big);
    let to2: Vec<usize> = r.port(2).take_sent().iter().map(Packet::len).collect();
    let to3: Vec<usize> = r.port(3).take_sent().iter().map(Packet::len).collect();
    assert_eq!(to2, vec![big.len()]);
    assert_eq!(to3, vec![20, small.len(), 20]);
}

#[test]
fn malformed_and_truncated_packets_never_panic() {
    let r = rig(2);
    r.dp.register_upcall_handler(Some(handler(vec![OdpAction::Output(OdpPort(2))], Mask::zero())));
    let frame = tcp(1, 80);
    for len in 0..frame.len() {
        r.port(1).receive(Packet::from_bytes(&frame[..len]));
    }
    r.port(1).receive(Packet::from_bytes(&[0xff; 3000]));
    r.dp.poll_until_idle(20);
    assert_eq!(r.port(2).take_sent().len(), frame.len() + 1, "every packet was forwarded");
}

#[test]
fn poll_threads_forward_spread_queues_and_sleep_when_idle() {
    let reg = DatapathRegistry::default();
    let dp = reg
        .create("dp0", DpClass::Dummy, DpConfig { n_threads: 2, ..DpConfig::default() })
        .unwrap();
    let mut opts = BTreeMap::new();
    opts.insert("n_rxq".to_string(), "2".to_string());
    let p1 = DummyNetdev::new("p1", false, &opts).unwrap();
    let p2 = dummy("p2");
    dp.port_add(p1.clone(), None).unwrap();
    dp.port_add(p2.clone(), None).unwrap();
    let threads: std::collections::BTreeSet<usize> = dp
        .rxq_assignment()
        .iter()
        .filter(|(_, p, _)| *p == OdpPort(1))
        .map(|(t, _, _)| *t)
        .collect();
    assert_eq!(threads.len(), 2, "the two queues of p1 went to different threads");
    let mut extra = Mask::zero();
    extra.set_exact(Field::TpSrc);
    dp.register_upcall_handler(Some(handler(vec![OdpAction::Output(OdpPort(2))], extra)));
    for i in 0..200u16 {
        p1.receive_on((i % 2) as usize, Packet::from_bytes(&tcp(i % 8, 80)));
    }
    assert_eq!(p2.wait_sent(200, WAIT).len(), 200);
    let flows = dp.flow_dump();
    assert_eq!(flows.len(), 8);
    assert_eq!(flows.iter().map(|f| f.stats.packets).sum::<u64>(), 200);

    // Idle: the threads go to sleep instead of spinning.
    std::thread::sleep(Duration::from_millis(50));
    let it0: u64 = dp.pmd_stats().iter().map(|s| s.iterations).sum();
    std::thread::sleep(Duration::from_millis(300));
    let it1: u64 = dp.pmd_stats().iter().map(|s| s.iterations).sum();
    assert!(it1 - it0 < 100, "idle threads ran {} iterations in 300 ms", it1 - it0);
    assert!(dp.pmd_stats().iter().filter(|s| s.id != 0).all(|s| s.sleeps > 0));
}

#[test]
fn the_busy_poll_window_and_yielding_change_while_threads_run() {
    // A window longer than the test: the thread polls and never sleeps.
    let config = DpConfig {
        n_threads: 1,
        maintenance_thread: false,
        busy_poll: Duration::from_secs(600),
        ..DpConfig::default()
    };
    let Rig { dp, ports } = rig_with(2, config);
    dp.register_upcall_handler(Some(handler(vec![OdpAction::Output(OdpPort(2))], Mask::zero())));
    let sleeps = || dp.pmd_stats().iter().map(|s| s.sleeps).sum::<u64>();
    let iterations = || dp.pmd_stats().iter().map(|s| s.iterations).sum::<u64>();
    std::thread::sleep(Duration::from_millis(50));
    let (slept, it0) = (sleeps(), iterations());
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(sleeps(), slept, "the thread slept inside its busy-poll window");
    assert!(iterations() > it0, "the thread stopped polling");

    // Yielding while idle: still polling, still forwarding, still awake.
    dp.set_busy_poll(Duration::from_secs(600), true);
    std::thread::sleep(Duration::from_millis(50));
    ports[0].receive(Packet::from_bytes(&tcp(1, 80)));
    assert_eq!(ports[1].wait_sent(1, WAIT).len(), 1);
    assert_eq!(sleeps(), slept, "a yielding thread slept inside its window");

    // No window: the thread sleeps once it finds nothing, and a sleeping
    // thread still wakes for a packet.
    dp.set_busy_poll(Duration::ZERO, false);
    let deadline = std::time::Instant::now() + WAIT;
    while sleeps() == slept {
        assert!(std::time::Instant::now() < deadline, "the thread never slept without a window");
        std::thread::sleep(Duration::from_millis(5));
    }
    ports[0].receive(Packet::from_bytes(&tcp(2, 80)));
    assert_eq!(ports[1].wait_sent(1, WAIT).len(), 1);
}

#[test]
fn dummy_pcap_files_read_in_tshark() {
    let Ok(out) = std::process::Command::new("tshark").arg("--version").output() else {
        eprintln!("SKIPPED: tshark is not installed (CI installs it)");
        return;
    };
    assert!(out.status.success());
    let dir = std::env::temp_dir().join(format!("rvs-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("p2.pcap");
    let mut opts = BTreeMap::new();
    opts.insert("tx_pcap".to_string(), path.display().to_string());
    let r = rig(1);
    let p2 = DummyNetdev::new("p2", false, &opts).unwrap();
    r.dp.port_add(p2.clone(), Some(OdpPort(2))).unwrap();
    put(&r.dp, key_of(&tcp(1, 80), 1), invariants(), vec![OdpAction::Output(OdpPort(2))]).unwrap();
    r.inject(1, &tcp(1234, 80));
    let out = std::process::Command::new("tshark")
        .args([
            "-r",
            path.to_str().unwrap(),
            "-T",
            "fields",
            "-e",
            "eth.src",
            "-e",
            "ip.dst",
            "-e",
            "tcp.srcport",
        ])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "02:00:00:00:00:0a\t198.18.0.2\t1234");
}

#[test]
fn dumped_flows_print_in_ovs_dpctl_format() {
    let r = rig(2);
    let frame = tcp(1000, 80);
    let mut mask = invariants();
    mask.set_exact(Field::EthDst);
    put(&r.dp, key_of(&frame, 1), mask, vec![OdpAction::Output(OdpPort(2))]).unwrap();
    let f = &r.dp.flow_dump()[0];
    let line = rvs_datapath::dpif::format_flow(f, Duration::from_secs(100), false);
    assert_eq!(
        line,
        "recirc_id(0),in_port(1),eth(dst=02:00:00:00:00:0b),eth_type(0x0800),ipv4(frag=no), packets:0, bytes:0, used:never, actions:2"
    );
    r.inject(1, &frame);
    let f = &r.dp.flow_dump()[0];
    let line = rvs_datapath::dpif::format_flow(
        f,
        f.stats.used.unwrap() + Duration::from_millis(250),
        true,
    );
    assert!(line.starts_with(&format!("{}, recirc_id(0)", f.ufid)), "{line}");
    assert!(
        line.ends_with(&format!(
            "packets:1, bytes:{}, used:0.250s, flags:S, actions:2",
            frame.len()
        )),
        "{line}"
    );
    // The key text parses back to the same match.
    let key_text = rvs_datapath::odp::format_key(&f.key, Some(&f.mask));
    assert_eq!(rvs_datapath::odp::parse_key(&key_text).unwrap(), (f.key, f.mask));
}

/// Records what `userspace` actions send up.
#[derive(Default)]
struct Recorder {
    got: std::sync::Mutex<Vec<(u32, Vec<u8>, usize)>>,
}

impl UpcallHandler for Recorder {
    fn upcall(&self, _u: &Upcall<'_>) -> Result<UpcallReply, UpcallError> {
        Err(UpcallError("not used".into()))
    }
    fn action_upcall(&self, p: &Packet, _k: &FlowKey, a: &rvs_datapath::odp::UserspaceAction) {
        self.got.lock().unwrap().push((a.pid, a.userdata.clone(), p.len()));
    }
}

#[test]
fn userspace_hash_and_drop_actions_do_what_they_say() {
    let r = rig(2);
    let rec = Arc::new(Recorder::default());
    r.dp.register_upcall_handler(Some(rec.clone()));
    let frame = tcp(1, 80);
    let key = key_of(&frame, 1);
    let actions = rvs_datapath::odp::parse_actions(
        "userspace(pid=7,userdata(0a0b0c)),hash(l4(0)),recirc(0x2)",
    )
    .unwrap();
    put(&r.dp, key, invariants(), actions).unwrap();
    // The packet comes back after the hash with recirc_id 2.
    let mut k2 = key;
    k2.set_recirc_id(2);
    put(&r.dp, k2, invariants(), vec![OdpAction::Output(OdpPort(2))]).unwrap();
    r.inject(1, &frame);
    assert_eq!(*rec.got.lock().unwrap(), vec![(7, vec![0x0a, 0x0b, 0x0c], frame.len())]);
    let out = r.port(2).take_sent();
    assert_eq!(out.len(), 1);
    let want = rvs_datapath::odp::exec::hash(&key, rvs_datapath::odp::HashAlg::L4, 0);
    assert_eq!(out[0].md.dp_hash, want, "the hash action set dp_hash");
    assert_ne!(want, 0);

    // An explicit drop reason is counted under that reason.
    r.dp.flow_flush();
    put(&r.dp, key, invariants(), vec![OdpAction::Drop(DropReason::Xlate(3))]).unwrap();
    r.inject(1, &frame);
    r.inject(1, &frame);
    assert!(r.dp.drop_stats().contains(&(DropReason::Xlate(3), 2)), "{:?}", r.dp.drop_stats());
}

#[test]
fn datapaths_are_created_and_destroyed_by_name() {
    let reg = DatapathRegistry::default();
    let cfg = || DpConfig { n_threads: 0, maintenance_thread: false, ..DpConfig::default() };
    let dp = reg.create("br-a", DpClass::Dummy, cfg()).unwrap();
    assert!(matches!(reg.create("br-a", DpClass::Dummy, cfg()), Err(DpifError::DatapathExists(_))));
    reg.create("br-b", DpClass::Dummy, cfg()).unwrap();
    assert_eq!(reg.names(), vec!["br-a", "br-b"]);
    assert_eq!(reg.get("br-a").unwrap().name(), "br-a");
    let local = dp.port_netdev(OdpPort::LOCAL).unwrap();
    assert_eq!(local.name(), "br-a");
    reg.destroy("br-a").unwrap();
    assert_eq!(reg.get("br-a").unwrap_err().to_string(), "no datapath named \"br-a\"");
    assert!(reg.destroy("br-a").is_err());
    drop(dp);
    assert_eq!(Arc::strong_count(&local), 1, "destroying the datapath released its LOCAL port");
}

#[test]
fn super_frames_are_segmented_for_ports_without_offloads() {
    use rvs_packet::wire::{ipv4, tcp, PseudoHeader};
    let r = rig(2);
    // A 5,000-byte TCP super-frame as a veth hands it over: MSS 1,000, the
    // checksum field holding only the pseudo-header sum.
    let payload: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let frame = PacketBuilder::ethernet(A, B)
        .ipv4(Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2), 64)
        .tcp(1000, 80, TcpFlags::ACK | TcpFlags::PSH)
        .payload(&payload)
        .build();
    let mut p = Packet::from_bytes(&frame);
    let tcp_len = (frame.len() - 34) as u32;
    let pseudo = rvs_packet::checksum::pseudo_ipv4(
        Ipv4Addr::new(198, 18, 0, 1),
        Ipv4Addr::new(198, 18, 0, 2),
        6,
        tcp_len,
    );
    let partial = !rvs_packet::checksum::finish(pseudo);
    p.data_mut()[50..52].copy_from_slice(&partial.to_be_bytes());
    p.md.csum_start = Some(34);
    p.md.csum_offset = 16;
    p.md.gso_type = rvs_packet::GsoType::TcpV4;
    p.md.gso_size = 1000;
    put(&r.dp, key_of(&frame, 1), invariants(), vec![OdpAction::Output(OdpPort(2))]).unwrap();
    r.port(1).receive(p);
    r.dp.poll_until_idle(10);
    let segs = r.port(2).take_sent();
    assert_eq!(segs.len(), 5);
    let mut joined = Vec::new();
    for s in &segs {
        let ip = ipv4::Packet::new_checked(&s.data()[14..]).unwrap();
        assert!(ip.verify_checksum());
        let t = tcp::Packet::new_checked(&s.data()[34..]).unwrap();
        let ph = PseudoHeader::V4(Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
        assert!(t.verify_checksum(&ph), "segment checksum complete and right");
        assert!(s.md.csum_start.is_none() && s.md.gso_type == rvs_packet::GsoType::None);
        joined.extend_from_slice(t.payload());
    }
    assert_eq!(joined, payload);
}

#[test]
fn receive_queues_can_be_pinned_to_a_poll_thread() {
    let reg = DatapathRegistry::default();
    let dp = reg
        .create("dp0", DpClass::Dummy, DpConfig { n_threads: 2, ..DpConfig::default() })
        .unwrap();
    let mut opts = BTreeMap::new();
    opts.insert("n_rxq".to_string(), "2".to_string());
    let p1 = DummyNetdev::new("p1", false, &opts).unwrap();
    let p2 = dummy("p2");
    dp.port_add(p1.clone(), None).unwrap();
    dp.port_add(p2.clone(), None).unwrap();
    assert!(matches!(
        dp.pin_rxq(OdpPort(1), 0, 7),
        Err(DpifError::NoSuchThread { thread: 7, n: 2 })
    ));
    assert!(matches!(dp.pin_rxq(OdpPort(1), 5, 1), Err(DpifError::NoSuchQueue { .. })));
    // One bad pin of several: nothing moves.
    let before = dp.rxq_assignment();
    assert!(matches!(
        dp.set_rxq_affinity(OdpPort(1), &[(0, 2), (1, 9)]),
        Err(DpifError::NoSuchThread { thread: 9, n: 2 })
    ));
    assert!(matches!(
        dp.set_rxq_affinity(OdpPort(1), &[(0, 2), (3, 1)]),
        Err(DpifError::NoSuchQueue { .. })
    ));
    assert_eq!(dp.rxq_assignment(), before);
    dp.pin_rxq(OdpPort(1), 0, 2).unwrap();
    dp.pin_rxq(OdpPort(1), 1, 2).unwrap();
    let on: Vec<usize> = dp
        .rxq_assignment()
        .iter()
        .filter(|(_, p, _)| *p == OdpPort(1))
        .map(|(t, _, _)| *t)
        .collect();
    assert_eq!(on, vec![2, 2]);
    // Thread 2 is isolated: p2's queue, not pinned, is on thread 1, and so
    // is a new port's.
    assert_eq!(dp.isolated_threads(), vec![2]);
    let where_is = |port: u32| -> Vec<usize> {
        let a = dp.rxq_assignment();
        a.iter().filter(|(_, p, _)| *p == OdpPort(port)).map(|(t, _, _)| *t).collect()
    };
    assert_eq!(where_is(2), vec![1]);
    let p3 = dummy("p3");
    dp.port_add(p3.clone(), None).unwrap();
    assert_eq!(where_is(3), vec![1]);
    let mut extra = Mask::zero();
    extra.set_exact(Field::TpSrc);
    dp.register_upcall_handler(Some(handler(vec![OdpAction::Output(OdpPort(2))], extra)));
    for i in 0..100u16 {
        p1.receive_on((i % 2) as usize, Packet::from_bytes(&tcp(i % 4, 80)));
    }
    assert_eq!(p2.wait_sent(100, WAIT).len(), 100);
    // A thread adds to its counters at the end of an iteration, just after
    // its outputs went out: wait (bounded) for them.
    let by_thread =
        || -> Vec<(usize, u64)> { dp.pmd_stats().iter().map(|s| (s.id, s.packets)).collect() };
    let deadline = std::time::Instant::now() + WAIT;
    while !by_thread().contains(&(2, 100)) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let by_thread = by_thread();
    assert!(by_thread.contains(&(2, 100)), "thread 2 polled every packet: {by_thread:?}");
    assert!(by_thread.contains(&(1, 0)), "{by_thread:?}");

    // The affinity as a whole: queue 1 alone pinned, to thread 1. Queue 0
    // is no longer pinned; thread 1 is now isolated, thread 2 is not, so
    // the queues that are not pinned (p1's queue 0, p2, p3) go to thread 2.
    dp.set_rxq_affinity(OdpPort(1), &[(1, 1)]).unwrap();
    assert_eq!(dp.isolated_threads(), vec![1]);
    assert_eq!(where_is(1), vec![2, 1]);
    assert_eq!((where_is(2), where_is(3)), (vec![2], vec![2]));
    // No affinity: nothing pinned, nothing isolated, nothing moves.
    dp.set_rxq_affinity(OdpPort(1), &[]).unwrap();
    assert!(dp.isolated_threads().is_empty());
    assert_eq!(where_is(1), vec![2, 1]);
    for i in 0..10u16 {
        p1.receive_on((i % 2) as usize, Packet::from_bytes(&tcp(i % 4, 80)));
    }
    assert_eq!(p2.wait_sent(10, WAIT).len(), 10);
}

#[test]
fn rebalance_spreads_the_queues_that_are_not_pinned() {
    let reg = DatapathRegistry::default();
    let config = DpConfig { n_threads: 2, ..DpConfig::default() };
    let dp = reg.create("dp0", DpClass::Dummy, config).unwrap();
    let opts = BTreeMap::from([("n_rxq".to_string(), "4".to_string())]);
    let p1 = DummyNetdev::new("p1", false, &opts).unwrap();
    let p2 = dummy("p2");
    dp.port_add(p1.clone(), None).unwrap();
    dp.port_add(p2.clone(), None).unwrap();
    let threads_of = |port: u32| -> Vec<usize> {
        let a = dp.rxq_assignment();
        a.iter().filter(|(_, p, _)| *p == OdpPort(port)).map(|(t, _, _)| *t).collect()
    };
    // Everything on thread 1, pinned; unpinned, p1's queues leave thread
    // 1, which p2's pinned queue keeps isolated.
    dp.set_rxq_affinity(OdpPort(1), &[(0, 1), (1, 1), (2, 1), (3, 1)]).unwrap();
    dp.pin_rxq(OdpPort(2), 0, 1).unwrap();
    assert_eq!(threads_of(1), vec![1, 1, 1, 1]);
    dp.set_rxq_affinity(OdpPort(1), &[]).unwrap();
    assert_eq!(threads_of(1), vec![2, 2, 2, 2]);
    assert_eq!(dp.isolated_threads(), vec![1]);
    // Rebalancing keeps them off the isolated thread.
    dp.rebalance_rxqs().unwrap();
    assert_eq!(threads_of(1), vec![2, 2, 2, 2]);
    // Nothing pinned: nothing moves by itself, and a rebalance spreads
    // the queues evenly, in port and queue order: the LOCAL port's (0),
    // p1's four, p2's.
    dp.set_rxq_affinity(OdpPort(2), &[]).unwrap();
    assert_eq!((threads_of(1), threads_of(2)), (vec![2, 2, 2, 2], vec![1]));
    dp.rebalance_rxqs().unwrap();
    assert_eq!(threads_of(0), vec![1]);
    assert_eq!(threads_of(1), vec![2, 1, 2, 1]);
    assert_eq!(threads_of(2), vec![2]);
    dp.register_upcall_handler(Some(handler(vec![OdpAction::Output(OdpPort(2))], Mask::zero())));
    for q in 0..4 {
        p1.receive_on(q, Packet::from_bytes(&tcp(q as u16, 80)));
    }
    assert_eq!(p2.wait_sent(4, WAIT).len(), 4);
}

#[test]
fn poll_threads_run_on_the_cpus_they_are_given() {
    let reg = DatapathRegistry::default();
    let bad = DpConfig { n_threads: 2, cpus: vec![0], ..DpConfig::default() };
    let Err(e) = reg.create("cpuz", DpClass::Dummy, bad) else {
        panic!("a datapath with 1 CPU for 2 poll threads was made");
    };
    assert!(e.to_string().contains("1 CPUs given for 2 poll threads"), "{e}");
    let config = DpConfig { n_threads: 1, cpus: vec![0], ..DpConfig::default() };
    let dp = reg.create("cpu0", DpClass::Dummy, config).unwrap();
    assert_eq!((dp.thread_cpu(1), dp.thread_cpu(2), dp.thread_cpu(0)), (Some(0), None, None));
    // The thread pins itself as it starts: wait (bounded) for it.
    let allowed = || -> Option<String> {
        for t in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            if comm.trim() == "pmd-cpu0-1" {
                let status = std::fs::read_to_string(t.path().join("status")).ok()?;
                let line = status.lines().find(|l| l.starts_with("Cpus_allowed_list:"))?;
                return Some(line.split_whitespace().nth(1)?.to_string());
            }
        }
        None
    };
    let deadline = std::time::Instant::now() + WAIT;
    while allowed().as_deref() != Some("0") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(allowed().as_deref(), Some("0"));
}

/// `n` consecutive 500-byte TCP segments of one connection (ACK, no PSH,
/// complete checksums), as a sender without offloads would send them.
fn tcp_segments(n: usize) -> Vec<Packet> {
    let frame = PacketBuilder::ethernet(A, B)
        .ipv4(Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2), 64)
        .tcp(40000, 5201, TcpFlags::ACK)
        .payload(&vec![0x5a; 500 * n])
        .build();
    let mut p = Packet::from_bytes(&frame);
    p.md.gso_type = rvs_packet::GsoType::TcpV4;
    p.md.gso_size = 500;
    let mut segs = Vec::new();
    rvs_packet::gso::segment(p, &mut segs).unwrap();
    segs.iter_mut().for_each(|s| s.md = Default::default());
    assert_eq!(segs.len(), n);
    segs
}

/// The bytes of each packet.
fn data(pkts: Vec<Packet>) -> Vec<Vec<u8>> {
    pkts.iter().map(|p| p.data().to_vec()).collect()
}

#[test]
fn output_that_gro_may_grow_waits_while_input_flows() {
    let clock = ManualClock::new();
    let hold = Duration::from_millis(1);
    let config = DpConfig {
        n_threads: 1,
        maintenance_thread: false,
        // The thread keeps polling (it flushes everything before it sleeps).
        busy_poll: Duration::from_secs(30),
        gro_hold: hold,
        clock: clock.clone(),
        ..DpConfig::default()
    };
    let reg = DatapathRegistry::default();
    let dp = reg.create("dp0", DpClass::Dummy, config).unwrap();
    let p1 = dummy("p1");
    let all = BTreeMap::from([("tx_offloads".to_string(), "all".to_string())]);
    let p2 = DummyNetdev::new("p2", false, &all).unwrap();
    dp.port_add(p1.clone(), None).unwrap();
    dp.port_add(p2.clone(), None).unwrap();
    dp.register_upcall_handler(Some(handler(vec![OdpAction::Output(OdpPort(2))], Mask::zero())));
    let segs = tcp_segments(6);
    let quiet = Duration::from_millis(100);

    // Sparse input (nothing came in the last hold time): sent at once.
    p1.receive(segs[0].clone());
    assert_eq!(data(p2.wait_sent(1, WAIT)), data(vec![segs[0].clone()]));
    // Flowing input: segments wait for more of their connection ...
    clock.advance(Duration::from_micros(100));
    p1.receive(segs[1].clone());
    p1.receive(segs[2].clone());
    assert!(p2.wait_sent(1, quiet).is_empty(), "held while the hold time runs");
    // ... and leave as one super-frame once it has passed.
    clock.advance(hold);
    let sent = p2.wait_sent(1, WAIT);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].md.gso_type, rvs_packet::GsoType::TcpV4);
    assert_eq!(sent[0].len(), segs[1].len() + 500);

    // Input stopped for longer than the hold time: sparse again.
    clock.advance(Duration::from_micros(100));
    p1.receive(segs[3].clone());
    assert_eq!(data(p2.wait_sent(1, WAIT)), data(vec![segs[3].clone()]));

    // A packet GRO cannot grow (here a SYN) sends the queue at once, in order.
    clock.advance(Duration::from_micros(100));
    p1.receive(segs[4].clone());
    assert!(p2.wait_sent(1, quiet).is_empty());
    let syn = Packet::from_bytes(&tcp(1, 2));
    p1.receive(syn.clone());
    assert_eq!(data(p2.wait_sent(2, WAIT)), data(vec![segs[4].clone(), syn]));

    // A hold of zero (tx-flush-interval=0) sends every iteration's output.
    dp.set_gro_hold(Duration::ZERO);
    clock.advance(Duration::from_micros(100));
    p1.receive(segs[5].clone());
    assert_eq!(data(p2.wait_sent(1, WAIT)), data(vec![segs[5].clone()]));
    let gro = dp.pmd_stats().iter().map(|s| s.gro_merged).sum::<u64>();
    assert_eq!(gro, 1);
}

#[test]
fn ingress_policing_drops_what_exceeds_the_rate_and_counts_it() {
    let clock = ManualClock::new();
    let config = DpConfig {
        n_threads: 0,
        maintenance_thread: false,
        clock: clock.clone(),
        ..DpConfig::default()
    };
    let r = rig_with(2, config);
    let frame = tcp(1000, 80);
    put(&r.dp, key_of(&frame, 1), invariants(), vec![OdpAction::Output(OdpPort(2))]).unwrap();
    // 80 kb/s (10,000 bytes a second) with an 8 kb (1,000-byte) burst;
    // a frame costs its bytes past the Ethernet header.
    let cfg = IngressPolicing { kbits_rate: 80, kbits_burst: 8, ..IngressPolicing::OFF };
    r.dp.set_ingress_policing(OdpPort(1), &cfg).unwrap();
    assert_eq!(r.dp.ingress_policing(OdpPort(1)).unwrap(), cfg);
    let fit = 1000 / (frame.len() - 14);
    let send = |n: usize| {
        for _ in 0..n {
            r.inject(1, &frame);
        }
        r.port(2).take_sent().len()
    };
    assert_eq!(send(fit + 10), fit, "the burst passes, the rest is dropped");
    let st = r.dp.port_stats(OdpPort(1)).unwrap();
    assert_eq!((st.rx_qos_drops, st.netdev.rx_dropped), (10, 10));
    assert_eq!(st.netdev.rx_packets, (fit + 10) as u64);
    // Nothing comes back without time passing; 50 ms refills 500 bytes.
    assert_eq!(send(3), 0);
    clock.advance(Duration::from_millis(50));
    assert_eq!(send(fit), 500 / (frame.len() - 14));
    // The same settings again keep the (empty) bucket.
    r.dp.set_ingress_policing(OdpPort(1), &cfg).unwrap();
    assert_eq!(send(1), 0);
    // New settings start full; no rate turns policing off.
    let cfg2 = IngressPolicing { kbits_burst: 16, ..cfg };
    r.dp.set_ingress_policing(OdpPort(1), &cfg2).unwrap();
    assert_eq!(send(2 * fit + 5), 2 * fit);
    r.dp.set_ingress_policing(OdpPort(1), &IngressPolicing::OFF).unwrap();
    assert_eq!(r.dp.ingress_policing(OdpPort(1)).unwrap(), IngressPolicing::OFF);
    assert_eq!(send(50), 50);
    // The other port was never policed.
    assert_eq!(r.dp.port_stats(OdpPort(2)).unwrap().rx_qos_drops, 0);
    assert_eq!(r.dp.set_ingress_policing(OdpPort(9), &cfg), Err(DpifError::NoSuchPort(OdpPort(9))));
}
