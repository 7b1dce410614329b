//! The OpenFlow connection manager driven by a raw OpenFlow client over the
//! bridge's management socket and a passive TCP listener: negotiation,
//! requests, errors that leave the session (and others) working, roles,
//! asynchronous messages and fail-open.

mod support;

use rvs_datapath::netdev::Netdev;
use rvs_ofproto::backer::{BridgeSettings, PortSettings};
use rvs_ofproto::connmgr::{BridgeOfConfig, ConnMgr, ControllerConfig};
use rvs_ofproto::ofp::msg::{self, Msg, PortMod, PortReason, Role, SwitchConfig};
use rvs_ofproto::ofp::{finish_msg, start_msg, MsgType, OfpErr, Protocol, RawMsg, Version};
use rvs_ofproto::{FailMode, OfAction, OfMatch, OfPort, PacketInReason};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{frame, mac, rule, Switch};

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("rvs-connmgr-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A bare OpenFlow client.
struct Client {
    s: UnixStream,
    proto: Protocol,
    xid: u32,
    /// Asynchronous messages read while waiting for a reply.
    pending: std::collections::VecDeque<Msg>,
}

impl Client {
    /// Connects and negotiates, offering `versions`.
    fn connect(path: &Path, versions: u32) -> Result<Client, OfpErr> {
        let mut s = None;
        for _ in 0..100 {
            if let Ok(c) = UnixStream::connect(path) {
                s = Some(c);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let s = s.expect("management socket accepts");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut c =
            Client { s, proto: Protocol::new(Version::V10), xid: 100, pending: Default::default() };
        c.s.write_all(&msg::hello(versions, 1)).unwrap();
        let (raw, m) = c.recv_raw();
        let Msg::Hello(theirs) = m else { panic!("expected hello, got {m:?}") };
        let _ = raw;
        let v = msg::negotiate(versions, theirs).ok_or(OfpErr::HelloIncompatible)?;
        c.proto = Protocol::new(v);
        Ok(c)
    }

    fn send(&mut self, m: &Msg) -> u32 {
        self.xid += 1;
        self.s.write_all(&msg::encode(m, self.proto, self.xid)).unwrap();
        self.xid
    }

    fn send_raw(&mut self, b: &[u8]) {
        self.s.write_all(b).unwrap();
    }

    fn recv_raw(&mut self) -> (Vec<u8>, Msg) {
        let mut h = [0u8; 8];
        self.s.read_exact(&mut h).expect("a message within 5 s");
        let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        let mut b = h.to_vec();
        b.resize(len, 0);
        self.s.read_exact(&mut b[8..]).unwrap();
        let raw = RawMsg::parse(&b).unwrap();
        let m = msg::decode(&raw, self.proto).unwrap_or_else(|e| panic!("decoding {b:02x?}: {e}"));
        (b.clone(), m)
    }

    /// The next message that is not asynchronous (those are kept for
    /// [`Client::wait_for`]).
    fn reply(&mut self) -> Msg {
        loop {
            let (_, m) = self.recv_raw();
            if !matches!(m, Msg::PortStatus(..) | Msg::PacketIn(_) | Msg::FlowRemoved(_)) {
                return m;
            }
            self.pending.push_back(m);
        }
    }

    /// Waits for a message `f` accepts, skipping others, for at most `d`.
    fn wait_for(&mut self, d: Duration, f: impl Fn(&Msg) -> bool) -> Option<Msg> {
        while let Some(m) = self.pending.pop_front() {
            if f(&m) {
                return Some(m);
            }
        }
        let end = Instant::now() + d;
        self.s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let mut got = None;
        while Instant::now() < end {
            let mut h = [0u8; 8];
            match self.s.read_exact(&mut h) {
                Ok(()) => {
                    let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
                    let mut b = h.to_vec();
                    b.resize(len, 0);
                    self.s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    self.s.read_exact(&mut b[8..]).unwrap();
                    self.s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
                    let m = msg::decode(&RawMsg::parse(&b).unwrap(), self.proto).unwrap();
                    if f(&m) {
                        got = Some(m);
                        break;
                    }
                }
                Err(_) => continue,
            }
        }
        self.s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        got
    }

    /// True if the switch closed the session within 5 s.
    fn closed(&mut self) -> bool {
        let mut b = [0u8; 1024];
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            match self.s.read(&mut b) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => return true,
            }
        }
        false
    }
}

const V10: u32 = 1 << 1;
const V13: u32 = 1 << 4;

struct Rig {
    sw: Switch,
    cm: Arc<ConnMgr>,
    dir: TempDir,
}

impl Rig {
    fn new(tag: &str, mode: FailMode) -> Rig {
        let mut sw = Switch::new();
        sw.bridge("br0", BridgeSettings { fail_mode: mode, ..BridgeSettings::default() });
        sw.port("br0", "p1", PortSettings::default());
        sw.port("br0", "p2", PortSettings::default());
        let cm = ConnMgr::new(sw.backer.clone());
        let dir = TempDir::new(tag);
        let r = Rig { sw, cm, dir };
        r.apply(BridgeOfConfig::default());
        r
    }

    fn apply(&self, mut of: BridgeOfConfig) {
        of.mgmt = Some(self.mgmt());
        let errs = self.cm.set_bridge("br0", &of);
        assert!(errs.is_empty(), "{errs:?}");
    }

    fn mgmt(&self) -> PathBuf {
        self.dir.0.join("br0.mgmt")
    }

    fn client(&self, versions: u32) -> Client {
        Client::connect(&self.mgmt(), versions).unwrap()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.cm.shutdown();
    }
}

#[test]
fn negotiates_the_highest_common_version() {
    let rig = Rig::new("neg", FailMode::Standalone);
    assert_eq!(rig.client(V10 | V13).proto.version, Version::V13);
    assert_eq!(rig.client(V10).proto.version, Version::V10);
    // A bridge limited to 1.0 refuses a 1.3-only client with HELLO_FAILED.
    rig.apply(BridgeOfConfig { versions: V10, ..BridgeOfConfig::default() });
    let mut s = UnixStream::connect(rig.mgmt()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&msg::hello(V13, 1)).unwrap();
    let mut c =
        Client { s, proto: Protocol::new(Version::V13), xid: 1, pending: Default::default() };
    let (_, hello) = c.recv_raw();
    assert!(matches!(hello, Msg::Hello(_)));
    let (_, err) = c.recv_raw();
    assert!(matches!(err, Msg::Error(OfpErr::HelloIncompatible, _)), "{err:?}");
    assert!(c.closed());
}

#[test]
fn answers_requests() {
    let rig = Rig::new("req", FailMode::Standalone);
    for v in [V10, V13] {
        let mut c = rig.client(v);
        c.send(&Msg::EchoRequest(b"ping".to_vec()));
        assert_eq!(c.reply(), Msg::EchoReply(b"ping".to_vec()));
        let x = c.send(&Msg::BarrierRequest);
        assert!(x > 0);
        assert_eq!(c.reply(), Msg::BarrierReply);
        c.send(&Msg::FeaturesRequest);
        let Msg::FeaturesReply(f) = c.reply() else { panic!() };
        assert_eq!(f.n_tables, 254);
        assert_eq!(f.datapath_id, rig.cm.datapath_id("br0").unwrap());
        if v == V10 {
            let names: Vec<_> = f.ports.iter().map(|p| p.name.as_str()).collect();
            assert_eq!(names, ["p1", "p2", "br0"]);
        } else {
            c.send(&Msg::PortDescRequest);
            let Msg::PortDescReply(ps) = c.reply() else { panic!() };
            assert_eq!(ps.len(), 3);
            assert_eq!(ps[2].port_no, OfPort::LOCAL);
        }
        c.send(&Msg::SetConfig(SwitchConfig { flags: 0, miss_send_len: 200 }));
        c.send(&Msg::GetConfigRequest);
        assert_eq!(c.reply(), Msg::GetConfigReply(SwitchConfig { flags: 0, miss_send_len: 200 }));
        c.send(&Msg::TableStatsRequest);
        let Msg::TableStatsReply(ts) = c.reply() else { panic!() };
        assert_eq!(ts.len(), 254);
        assert_eq!(ts[0].active_count, 1, "the standalone NORMAL rule");
        c.send(&Msg::PortStatsRequest(OfPort(2)));
        let Msg::PortStatsReply(ps) = c.reply() else { panic!() };
        assert_eq!(ps.len(), 1);
        c.send(&Msg::PortStatsRequest(OfPort(99)));
        let r = c.reply();
        // OpenFlow 1.0 has no BAD_PORT: it travels as EPERM.
        let want = if v == V10 { OfpErr::BadRequestEperm } else { OfpErr::BadRequestBadPort };
        assert!(matches!(r, Msg::Error(e, _) if e == want), "{r:?}");
        c.send(&Msg::DescRequest);
        let Msg::DescReply(d) = c.reply() else { panic!() };
        assert_eq!(d.dp, "br0");
    }
}

#[test]
fn bad_messages_get_errors_and_the_session_goes_on() {
    let rig = Rig::new("bad", FailMode::Standalone);
    let mut other = rig.client(V13);
    let mut c = rig.client(V13);
    // An unknown type.
    let b = finish_msg(start_msg(Version::V13, MsgType::Unknown(99), 7).unwrap());
    c.send_raw(&b);
    let Msg::Error(e, data) = c.reply() else { panic!() };
    assert_eq!(e, OfpErr::BadRequestBadType);
    assert_eq!(data, b, "the error carries the request");
    // A version other than the session's.
    let b = finish_msg(start_msg(Version::V10, MsgType::EchoRequest, 8).unwrap());
    c.send_raw(&b);
    assert!(matches!(c.reply(), Msg::Error(OfpErr::BadRequestBadVersion, _)));
    // A truncated body.
    let mut b = start_msg(Version::V13, MsgType::RoleRequest, 9).unwrap();
    b.extend_from_slice(&[0, 0, 0, 2]);
    c.send_raw(&finish_msg(b));
    assert!(matches!(c.reply(), Msg::Error(OfpErr::BadRequestBadLen, _)));
    // A switch-to-controller message sent to the switch.
    c.send(&Msg::BarrierReply);
    c.send(&Msg::PortDescReply(Vec::new()));
    assert!(matches!(c.reply(), Msg::Error(OfpErr::BadRequestBadType, _)));
    // Still alive.
    c.send(&Msg::EchoRequest(vec![1]));
    assert_eq!(c.reply(), Msg::EchoReply(vec![1]));
    // A length below the header closes this session only.
    c.send_raw(&[4, 2, 0, 4, 0, 0, 0, 1]);
    assert!(c.closed());
    other.send(&Msg::EchoRequest(vec![2]));
    assert_eq!(other.reply(), Msg::EchoReply(vec![2]));
}

#[test]
fn roles_guard_writes_and_generations() {
    let rig = Rig::new("role", FailMode::Standalone);
    let mut a = rig.client(V13);
    let mut b = rig.client(V13);
    // Management sessions hear asynchronous messages once they ask.
    for c in [&mut a, &mut b] {
        c.send(&Msg::SetConfig(SwitchConfig { flags: 0, miss_send_len: 128 }));
    }
    a.send(&Msg::RoleRequest(Role::Master, 5));
    assert_eq!(a.reply(), Msg::RoleReply(Role::Master, 5));
    // An older generation is stale.
    b.send(&Msg::RoleRequest(Role::Master, 4));
    assert!(matches!(b.reply(), Msg::Error(OfpErr::RoleRequestStale, _)));
    b.send(&Msg::RoleRequest(Role::Master, 6));
    assert_eq!(b.reply(), Msg::RoleReply(Role::Master, 6));
    // A is now a slave and may not write.
    a.send(&Msg::RoleRequest(Role::NoChange, 0));
    assert_eq!(a.reply(), Msg::RoleReply(Role::Slave, 6));
    let pm = PortMod {
        port_no: OfPort(1),
        hw_addr: rig.sw.ports["p1"].mac().unwrap(),
        config: msg::OFPPC_NO_FLOOD,
        mask: msg::OFPPC_NO_FLOOD,
        advertise: 0,
    };
    a.send(&Msg::PortMod(pm.clone()));
    assert!(matches!(a.reply(), Msg::Error(OfpErr::BadRequestIsSlave, _)));
    // The master may; a wrong address is refused.
    b.send(&Msg::PortMod(PortMod { hw_addr: mac(0x77), ..pm.clone() }));
    assert!(matches!(b.reply(), Msg::Error(OfpErr::PortModBadHwAddr, _)));
    b.send(&Msg::PortMod(pm));
    b.send(&Msg::BarrierRequest);
    assert_eq!(b.reply(), Msg::BarrierReply);
    let no_flood =
        rig.sw.backer.with_bridge_read("br0", |br| br.ports[&OfPort(1)].config.no_flood).unwrap();
    assert!(no_flood);
    // Both sessions hear about the change, the slave included.
    for c in [&mut a, &mut b] {
        let m = c.wait_for(Duration::from_secs(5), |m| matches!(m, Msg::PortStatus(..)));
        let Some(Msg::PortStatus(PortReason::Modify, d)) = m else { panic!("{m:?}") };
        assert_eq!(d.config & msg::OFPPC_NO_FLOOD, msg::OFPPC_NO_FLOOD);
    }
}

#[test]
fn packet_ins_go_to_masters_and_equals_not_slaves_or_quiet_services() {
    let rig = Rig::new("pin", FailMode::Secure);
    let mut m = rig.client(V10);
    let mut s = rig.client(V10);
    let mut quiet = rig.client(V10);
    s.send(&Msg::RoleRequest(Role::Slave, 0));
    assert_eq!(s.reply(), Msg::RoleReply(Role::Slave, 0));
    // Management connections get packet-ins only with a miss_send_len.
    m.send(&Msg::SetConfig(SwitchConfig { flags: 0, miss_send_len: 0xffff }));
    s.send(&Msg::SetConfig(SwitchConfig { flags: 0, miss_send_len: 0xffff }));
    m.send(&Msg::BarrierRequest);
    assert_eq!(m.reply(), Msg::BarrierReply);
    rig.sw.add("br0", rule(0, 10, OfMatch::catchall(), vec![OfAction::output(OfPort::CONTROLLER)]));
    let f = frame(mac(1), mac(2), None);
    rig.sw.send("p1", &f);
    let got = m.wait_for(Duration::from_secs(5), |x| matches!(x, Msg::PacketIn(_)));
    let Some(Msg::PacketIn(pi)) = got else { panic!("no packet-in") };
    assert_eq!(pi.in_port(), OfPort(1));
    assert_eq!(pi.reason, PacketInReason::Action);
    assert_eq!(pi.data, f);
    assert!(s.wait_for(Duration::from_millis(600), |x| matches!(x, Msg::PacketIn(_))).is_none());
    assert!(quiet
        .wait_for(Duration::from_millis(300), |x| matches!(x, Msg::PacketIn(_)))
        .is_none());
}

#[test]
fn passive_tcp_controller_connects_and_standalone_fails_open() {
    let rig = Rig::new("tcp", FailMode::Standalone);
    // A controller that never answers: the default NORMAL rule goes, and
    // after three probe intervals the bridge fails open.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let ctl = ControllerConfig {
        target: format!("tcp:127.0.0.1:{port}"),
        probe: Some(Duration::from_secs(1)),
        max_backoff: Duration::from_secs(1),
    };
    rig.apply(BridgeOfConfig { controllers: vec![ctl], ..BridgeOfConfig::default() });
    let n_rules = rig.sw.backer.with_bridge_read("br0", |b| b.n_rules()).unwrap();
    assert_eq!(n_rules, 0, "configuring a controller removes the NORMAL rule");
    let f = frame(mac(1), mac(2), None);
    let end = Instant::now() + Duration::from_secs(10);
    let mut opened = false;
    while Instant::now() < end {
        if rig.sw.backer.with_bridge_read("br0", |b| b.fail_open).unwrap() {
            opened = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(opened, "standalone bridge fails open");
    rig.sw.send("p1", &f);
    assert_eq!(rig.sw.who_sent(&["p2"]), ["p2"], "fail-open floods like NORMAL");
    let st = rig.cm.controller_status("br0");
    assert_eq!(st.len(), 1);
    assert!(!st[0].is_connected);
    assert!(st[0].last_error.is_some(), "{st:?}");
    // A passive listener that a controller connects to.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let lport = l.local_addr().unwrap().port();
    drop(l);
    let ptcp = ControllerConfig::new(&format!("ptcp:{lport}:127.0.0.1"));
    rig.apply(BridgeOfConfig { controllers: vec![ptcp], ..BridgeOfConfig::default() });
    let mut s = None;
    for _ in 0..100 {
        if let Ok(c) = std::net::TcpStream::connect(("127.0.0.1", lport)) {
            s = Some(c);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut s = s.expect("ptcp listener accepts");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&msg::hello(V13, 1)).unwrap();
    let mut h = [0u8; 16];
    s.read_exact(&mut h).unwrap();
    assert_eq!(h[1], 0, "hello");
    let end = Instant::now() + Duration::from_secs(5);
    while !rig.cm.controller_status("br0")[0].is_connected && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    let st = rig.cm.controller_status("br0");
    assert!(st[0].is_connected, "{st:?}");
    assert_eq!(st[0].state, "ACTIVE");
    assert!(!rig.sw.backer.with_bridge_read("br0", |b| b.fail_open).unwrap());
    // Removing every controller puts the NORMAL rule back.
    rig.apply(BridgeOfConfig::default());
    assert_eq!(rig.sw.backer.with_bridge_read("br0", |b| b.n_rules()).unwrap(), 1);
}

#[test]
fn secure_bridge_never_fails_open() {
    let rig = Rig::new("secure", FailMode::Secure);
    let ctl = ControllerConfig {
        target: "tcp:127.0.0.1:1".into(),
        probe: Some(Duration::from_secs(1)),
        max_backoff: Duration::from_secs(1),
    };
    rig.apply(BridgeOfConfig { controllers: vec![ctl], ..BridgeOfConfig::default() });
    std::thread::sleep(Duration::from_millis(3500));
    assert!(!rig.sw.backer.with_bridge_read("br0", |b| b.fail_open).unwrap());
    rig.sw.send("p1", &frame(mac(1), mac(2), None));
    assert!(rig.sw.who_sent(&["p2"]).is_empty());
}

#[test]
fn bad_targets_are_reported_and_the_rest_applies() {
    let rig = Rig::new("target", FailMode::Standalone);
    let errs = rig.cm.set_bridge(
        "br0",
        &BridgeOfConfig {
            mgmt: Some(rig.mgmt()),
            controllers: vec![
                ControllerConfig::new("ssl:127.0.0.1:6653"),
                ControllerConfig::new("tcp:nonsense"),
            ],
            ..BridgeOfConfig::default()
        },
    );
    assert_eq!(errs.len(), 2);
    assert!(errs[0].1.contains("SSL"), "{errs:?}");
    assert!(errs[1].1.contains("nonsense"), "{errs:?}");
    // The status says why, target by target.
    let st = rig.cm.controller_status("br0");
    let bad = st.iter().find(|s| s.target == "tcp:nonsense").expect("a status for the bad target");
    assert!(!bad.is_connected);
    assert!(bad.last_error.as_deref().is_some_and(|e| e.contains("nonsense")), "{st:?}");
    let mut c = rig.client(V13);
    c.send(&Msg::EchoRequest(vec![]));
    assert_eq!(c.reply(), Msg::EchoReply(vec![]));
}

/// Random and mutated messages never panic the switch: each gets an error
/// reply or a closed session, and a session opened afterwards works.
#[test]
fn random_messages_never_panic() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static PANICKED: AtomicBool = AtomicBool::new(false);
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICKED.store(true, Ordering::SeqCst);
        prev(info);
    }));
    let rig = Rig::new("fuzz", FailMode::Standalone);
    rig.sw.add("br0", rule(0, 10, OfMatch::catchall(), vec![OfAction::output(OfPort(2))]));
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    // Valid messages to mutate.
    let p13 = Protocol::new(Version::V13);
    let seeds: Vec<Vec<u8>> = vec![
        msg::encode(&Msg::PortStatsRequest(OfPort::NONE), p13, 1),
        msg::encode(&Msg::RoleRequest(Role::Master, 1), p13, 1),
        msg::encode(&Msg::SetConfig(SwitchConfig::default()), p13, 1),
        msg::encode(&Msg::PortDescRequest, p13, 1),
        rvs_ofproto::ofp::flow::encode_flow_mod(
            &rule(0, 5, OfMatch::catchall(), vec![OfAction::output(OfPort(1))]),
            p13,
            1,
        ),
    ];
    let mut c = rig.client(V10 | V13);
    let mut reconnects = 0;
    for i in 0..600 {
        let mut m = if i % 2 == 0 {
            let mut b = seeds[(next() % seeds.len() as u64) as usize].clone();
            for _ in 0..1 + next() % 4 {
                let at = 8 + (next() as usize) % (b.len() - 8).max(1);
                if at < b.len() {
                    b[at] ^= 1 << (next() % 8);
                }
            }
            b
        } else {
            let len = 8 + (next() % 120) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            b[0] = c.proto.version.wire();
            b
        };
        let len = m.len() as u16;
        m[2..4].copy_from_slice(&len.to_be_bytes());
        // Drain the replies so the switch never blocks on us.
        let mut sink = [0u8; 65536];
        let gone = c.s.write_all(&m).is_err() || {
            c.s.set_read_timeout(Some(Duration::from_millis(2))).unwrap();
            let mut closed = false;
            loop {
                match c.s.read(&mut sink) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(_) => continue,
                    Err(_) => break,
                }
            }
            closed
        };
        if gone {
            c = rig.client(V10 | V13);
            reconnects += 1;
        }
    }
    // Everything sent got an answer or a close; a new session works.
    let mut fresh = rig.client(V13);
    fresh.send(&Msg::EchoRequest(b"alive".to_vec()));
    assert_eq!(fresh.reply(), Msg::EchoReply(b"alive".to_vec()));
    assert!(reconnects < 600);
    assert!(!PANICKED.load(Ordering::SeqCst), "a connection thread panicked");
}

/// An OpenFlow 1.0 controller gets table misses as packet-ins (reason
/// no_match, cut to its miss_send_len), as 1.0 defines; a 1.3 one does not.
#[test]
fn table_misses_go_to_openflow10_controllers() {
    let rig = Rig::new("miss", FailMode::Secure);
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    rig.apply(BridgeOfConfig {
        controllers: vec![ControllerConfig::new(&format!("ptcp:{port}:127.0.0.1"))],
        ..BridgeOfConfig::default()
    });
    let mut s = None;
    for _ in 0..100 {
        if let Ok(c) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            s = Some(c);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut s = s.expect("listener");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&msg::hello(V10, 1)).unwrap();
    let read_msg = |s: &mut std::net::TcpStream| -> Option<Vec<u8>> {
        let mut h = [0u8; 8];
        s.read_exact(&mut h).ok()?;
        let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        let mut b = h.to_vec();
        b.resize(len, 0);
        s.read_exact(&mut b[8..]).ok()?;
        Some(b)
    };
    assert_eq!(read_msg(&mut s).unwrap()[1], 0, "hello");
    let end = Instant::now() + Duration::from_secs(5);
    while !rig.sw.backer.with_bridge_read("br0", |b| b.miss_to_controller).unwrap() {
        assert!(Instant::now() < end, "the 1.0 session never counted");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut f = frame(mac(1), mac(2), None);
    f.resize(300, 0xab);
    rig.sw.send("p1", &f);
    let p10 = Protocol::new(Version::V10);
    let mut got = None;
    while let Some(b) = read_msg(&mut s) {
        if let Ok(Msg::PacketIn(pi)) = msg::decode(&RawMsg::parse(&b).unwrap(), p10) {
            got = Some(pi);
            break;
        }
    }
    let pi = got.expect("a packet-in for the table miss");
    assert_eq!(pi.reason, PacketInReason::NoMatch);
    assert_eq!(pi.in_port(), OfPort(1));
    assert_eq!(usize::from(pi.total_len), f.len());
    assert_eq!(pi.data, f[..128], "cut to the default miss_send_len");
}
