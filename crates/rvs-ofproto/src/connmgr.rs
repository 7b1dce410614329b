//! The OpenFlow connection manager: every bridge's management socket,
//! passive listeners and active controller connections, the OpenFlow
//! session on each (hello and version negotiation, requests answered
//! against the [`Backer`], echo-based liveness) and the delivery of
//! asynchronous messages (packet-in, flow-removed, port-status) by role.
//!
//! Each connection has a thread that reads and answers requests; each
//! bridge has a dispatcher thread that sleeps on the bridge's
//! [`crate::ofproto::Signal`] and sends asynchronous messages. Writes to a
//! connection are serialised by a lock and bounded by a timeout, so a
//! stuck controller cannot stall the others.
//!
//! Fail mode: a standalone bridge whose controllers have all been
//! unreachable for three inactivity-probe intervals goes "fail-open" and
//! forwards as a learning switch until one comes back; a secure bridge
//! keeps its rules and waits.

use crate::backer::Backer;
use crate::flow::Mf;
use crate::ofp::flow::AggregateStats;
use crate::ofp::msg::{
    self, Desc, Features, Msg, PacketInMsg, PortDesc, PortReason, PortStats, Role, SwitchConfig,
    TableStats,
};
use crate::ofp::{FlowFormat, MsgType, OfpErr, Protocol, RawMsg, Version, NO_BUFFER};
use crate::ofproto::{OfprotoError, PortConfig, PortKind};
use crate::types::{OfPort, TableId};
use crate::OfMatch;
use rvs_packet::{EthAddr, Packet};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// OpenFlow's IANA port.
pub const DEFAULT_PORT: u16 = 6653;
/// Default inactivity probe interval (OVS's 5 s).
pub const DEFAULT_PROBE: Duration = Duration::from_secs(5);
/// Default maximum reconnection backoff (OVS's 8 s).
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(8);
/// Every version this switch speaks.
pub const ALL_VERSIONS: u32 = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6);
/// The versions a bridge allows unless its `protocols` column says
/// otherwise: every one, 1.0 to 1.5.
pub const DEFAULT_VERSIONS: u32 = ALL_VERSIONS;
/// Tables advertised (OVS's 254: 0 to 253).
pub const N_TABLES: u8 = 254;
/// Default `miss_send_len` of controller connections.
const DEFAULT_MISS_SEND_LEN: u16 = 128;
/// How long reads wait before the loop checks its flags and probes.
const READ_TICK: Duration = Duration::from_millis(200);
/// How long a write may block before the connection is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a connection goes or comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `tcp:IP[:PORT]`: connect to a controller.
    Tcp(SocketAddr),
    /// `unix:PATH`: connect to a controller on a Unix socket.
    Unix(PathBuf),
    /// `ptcp:[PORT][:IP]`: listen (loopback unless an address is given).
    PTcp(SocketAddr),
    /// `punix:PATH`: listen on a Unix socket.
    PUnix(PathBuf),
}

impl Target {
    /// Parses OVS's target syntax; SSL targets are refused.
    pub fn parse(s: &str) -> Result<Target, String> {
        let bad = |why: &str| format!("controller target \"{s}\": {why}");
        let (kind, rest) =
            s.split_once(':').ok_or_else(|| bad("expected tcp:, ptcp:, unix: or punix:"))?;
        let host_port = |r: &str, port_first: bool| -> Result<SocketAddr, String> {
            // tcp:IP[:PORT] or ptcp:[PORT][:IP]; IPv6 addresses in brackets.
            let (a, p) = if port_first {
                match r.split_once(':') {
                    Some((p, a)) => (a.to_string(), p.to_string()),
                    None => ("127.0.0.1".to_string(), r.to_string()),
                }
            } else if let Some(end) = r.strip_prefix('[').and_then(|x| x.split_once(']')) {
                (end.0.to_string(), end.1.trim_start_matches(':').to_string())
            } else {
                match r.rsplit_once(':') {
                    Some((a, p)) => (a.to_string(), p.to_string()),
                    None => (r.to_string(), String::new()),
                }
            };
            let a = a.trim_start_matches('[').trim_end_matches(']');
            let a = if a.is_empty() { "127.0.0.1" } else { a };
            let port: u16 = if p.is_empty() {
                DEFAULT_PORT
            } else {
                p.parse().map_err(|_| bad(&format!("\"{p}\" is not a port number")))?
            };
            let ip: std::net::IpAddr =
                a.parse().map_err(|_| bad(&format!("\"{a}\" is not an IP address")))?;
            Ok(SocketAddr::new(ip, port))
        };
        match kind {
            "tcp" => Ok(Target::Tcp(host_port(rest, false)?)),
            "ptcp" => Ok(Target::PTcp(host_port(rest, true)?)),
            "unix" if !rest.is_empty() => Ok(Target::Unix(PathBuf::from(rest))),
            "punix" if !rest.is_empty() => Ok(Target::PUnix(PathBuf::from(rest))),
            "ssl" | "pssl" => Err(bad("SSL connections are not supported")),
            _ => Err(bad("expected tcp:, ptcp:, unix: or punix:")),
        }
    }

    fn passive(&self) -> bool {
        matches!(self, Target::PTcp(_) | Target::PUnix(_))
    }
}

/// One controller (a row of the Controller table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerConfig {
    /// The target, in OVS's syntax.
    pub target: String,
    /// Inactivity probe interval (`None`: none).
    pub probe: Option<Duration>,
    /// Longest wait between reconnection attempts.
    pub max_backoff: Duration,
}

impl ControllerConfig {
    /// A controller at `target` with OVS's defaults.
    pub fn new(target: &str) -> Self {
        ControllerConfig {
            target: target.to_string(),
            probe: Some(DEFAULT_PROBE),
            max_backoff: DEFAULT_MAX_BACKOFF,
        }
    }
}

/// The OpenFlow configuration of one bridge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeOfConfig {
    /// The management socket (`<rundir>/<bridge>.mgmt`), if any.
    pub mgmt: Option<PathBuf>,
    /// Controllers.
    pub controllers: Vec<ControllerConfig>,
    /// Versions allowed (bit `v` for wire version `v`).
    pub versions: u32,
    /// Datapath id (`None`: from the bridge's MAC).
    pub datapath_id: Option<u64>,
}

impl Default for BridgeOfConfig {
    fn default() -> Self {
        BridgeOfConfig {
            mgmt: None,
            controllers: Vec::new(),
            versions: DEFAULT_VERSIONS,
            datapath_id: None,
        }
    }
}

/// A controller's state, for the Controller table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerStatus {
    /// The target.
    pub target: String,
    /// A session is up (for passive targets: at least one).
    pub is_connected: bool,
    /// The role of the (first) session.
    pub role: Role,
    /// `ACTIVE`, `CONNECTING`, `BACKOFF`, `LISTENING` or `VOID`.
    pub state: &'static str,
    /// The last connection error.
    pub last_error: Option<String>,
    /// Seconds since the session came up.
    pub sec_since_connect: Option<u64>,
    /// Seconds since the last session went down.
    pub sec_since_disconnect: Option<u64>,
}

enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
        })
    }
    fn set_timeouts(&self) -> io::Result<()> {
        match self {
            Stream::Unix(s) => {
                s.set_read_timeout(Some(READ_TICK))?;
                s.set_write_timeout(Some(WRITE_TIMEOUT))
            }
            Stream::Tcp(s) => {
                s.set_nodelay(true)?;
                s.set_read_timeout(Some(READ_TICK))?;
                s.set_write_timeout(Some(WRITE_TIMEOUT))
            }
        }
    }
    fn shutdown(&self) {
        let _ = match self {
            Stream::Unix(s) => s.shutdown(Shutdown::Both),
            Stream::Tcp(s) => s.shutdown(Shutdown::Both),
        };
    }
}

impl Read for Stream {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(b),
            Stream::Tcp(s) => s.read(b),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(b),
            Stream::Tcp(s) => s.write(b),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct ConnState {
    proto: Option<Protocol>,
    role: Role,
    controller_id: u16,
    config: SwitchConfig,
    /// `NXT_SET_PACKET_IN_FORMAT`: 0 standard, 1 `NXT_PACKET_IN`, 2 packet-in2.
    packet_in_format: u32,
}

/// One OpenFlow session.
struct Conn {
    endpoint: u64,
    /// A management-socket connection (OVS's "service" connection): no
    /// asynchronous messages unless it sets a miss_send_len.
    service: bool,
    writer: Mutex<Stream>,
    st: Mutex<ConnState>,
    alive: AtomicBool,
    since: Instant,
}

impl Conn {
    fn send(&self, bytes: &[u8]) {
        if !self.alive.load(Ordering::SeqCst) {
            return;
        }
        let mut w = self.writer.lock().unwrap();
        if let Err(e) = w.write_all(bytes) {
            tracing::info!("OpenFlow connection dropped on write: {e}");
            self.alive.store(false, Ordering::SeqCst);
            w.shutdown();
        }
    }

    fn close(&self) {
        self.alive.store(false, Ordering::SeqCst);
        self.writer.lock().unwrap().shutdown();
    }

    fn proto(&self) -> Option<Protocol> {
        self.st.lock().unwrap().proto
    }

    /// Whether this session gets asynchronous messages of this kind.
    fn wants(&self, kind: Async) -> bool {
        let st = self.st.lock().unwrap();
        if st.proto.is_none() || (self.service && st.config.miss_send_len == 0) {
            return false;
        }
        kind == Async::PortStatus || st.role != Role::Slave
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Async {
    PacketIn,
    FlowRemoved,
    PortStatus,
}

#[derive(Default)]
struct EpStatus {
    state: &'static str,
    last_error: Option<String>,
    connected: Option<Instant>,
    disconnected: Option<Instant>,
}

struct Endpoint {
    id: u64,
    cfg: ControllerConfig,
    service: bool,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    status: Arc<Mutex<EpStatus>>,
}

struct FailState {
    configured: bool,
    /// Since when no controller has been connected (or since they were configured).
    down_since: Instant,
    max_probe: Duration,
}

/// The OpenFlow side of one bridge.
struct BridgeConns {
    name: String,
    backer: Arc<Backer>,
    stop: AtomicBool,
    conns: Mutex<Vec<Arc<Conn>>>,
    endpoints: Mutex<Vec<Endpoint>>,
    /// Controllers that could not start: (target, why), shown in the status.
    refused: Mutex<Vec<(String, String)>>,
    cfg: Mutex<BridgeOfConfig>,
    master_gen: Mutex<Option<u64>>,
    next_id: AtomicU64,
    fail: Mutex<FailState>,
    dispatcher: Mutex<Option<JoinHandle<()>>>,
}

/// The OpenFlow connections of every bridge of one [`Backer`].
pub struct ConnMgr {
    backer: Arc<Backer>,
    bridges: Mutex<HashMap<String, Arc<BridgeConns>>>,
}

impl std::fmt::Debug for ConnMgr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnMgr").finish_non_exhaustive()
    }
}

impl ConnMgr {
    /// A manager with no bridges.
    pub fn new(backer: Arc<Backer>) -> Arc<ConnMgr> {
        Arc::new(ConnMgr { backer, bridges: Mutex::new(HashMap::new()) })
    }

    /// Applies `cfg` to `bridge` (which must exist in the backer): starts
    /// and stops listeners and controller connections so they match, and
    /// tells the bridge whether it has controllers. Targets that do not
    /// parse are returned as errors, one per target; the others still apply.
    pub fn set_bridge(&self, bridge: &str, cfg: &BridgeOfConfig) -> Vec<(String, String)> {
        let bc = {
            let mut map = self.bridges.lock().unwrap();
            map.entry(bridge.to_string())
                .or_insert_with(|| BridgeConns::start(bridge, self.backer.clone()))
                .clone()
        };
        bc.apply(cfg)
    }

    /// Closes every connection of `bridge` and forgets it.
    pub fn del_bridge(&self, bridge: &str) {
        let bc = self.bridges.lock().unwrap().remove(bridge);
        if let Some(bc) = bc {
            bc.shutdown();
        }
    }

    /// Bridges with OpenFlow state.
    pub fn bridges(&self) -> Vec<String> {
        self.bridges.lock().unwrap().keys().cloned().collect()
    }

    /// The state of `bridge`'s controllers (not its management socket).
    pub fn controller_status(&self, bridge: &str) -> Vec<ControllerStatus> {
        let bc = self.bridges.lock().unwrap().get(bridge).cloned();
        bc.map(|b| b.status()).unwrap_or_default()
    }

    /// The datapath id `bridge` reports in features replies.
    pub fn datapath_id(&self, bridge: &str) -> Option<u64> {
        let bc = self.bridges.lock().unwrap().get(bridge).cloned();
        bc.map(|b| b.datapath_id())
    }

    /// Number of OpenFlow sessions of `bridge` (management ones included).
    pub fn n_connections(&self, bridge: &str) -> usize {
        let bc = self.bridges.lock().unwrap().get(bridge).cloned();
        bc.map(|b| b.conns.lock().unwrap().len()).unwrap_or(0)
    }

    /// Closes everything.
    pub fn shutdown(&self) {
        let all: Vec<_> = self.bridges.lock().unwrap().drain().map(|(_, b)| b).collect();
        for b in all {
            b.shutdown();
        }
    }
}

impl Drop for ConnMgr {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl BridgeConns {
    fn start(name: &str, backer: Arc<Backer>) -> Arc<BridgeConns> {
        let bc = Arc::new(BridgeConns {
            name: name.to_string(),
            backer,
            stop: AtomicBool::new(false),
            conns: Mutex::new(Vec::new()),
            endpoints: Mutex::new(Vec::new()),
            refused: Mutex::new(Vec::new()),
            cfg: Mutex::new(BridgeOfConfig::default()),
            master_gen: Mutex::new(None),
            next_id: AtomicU64::new(1),
            fail: Mutex::new(FailState {
                configured: false,
                down_since: Instant::now(),
                max_probe: DEFAULT_PROBE,
            }),
            dispatcher: Mutex::new(None),
        });
        let weak = Arc::downgrade(&bc);
        // The ports as they are now: later changes become port-status
        // messages (a snapshot taken by the thread could miss the first).
        let ports = bc.port_descs();
        let h = std::thread::Builder::new()
            .name(format!("ofasync-{name}"))
            .spawn(move || dispatcher_main(weak, ports))
            .expect("spawn OpenFlow dispatcher");
        *bc.dispatcher.lock().unwrap() = Some(h);
        bc
    }

    fn apply(self: &Arc<Self>, cfg: &BridgeOfConfig) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        let mut want: Vec<(ControllerConfig, bool)> = Vec::new();
        if let Some(p) = &cfg.mgmt {
            want.push((
                ControllerConfig {
                    target: format!("punix:{}", p.display()),
                    probe: None,
                    max_backoff: DEFAULT_MAX_BACKOFF,
                },
                true,
            ));
        }
        for c in &cfg.controllers {
            match Target::parse(&c.target) {
                Ok(_) => want.push((c.clone(), false)),
                Err(e) => errors.push((c.target.clone(), e)),
            }
        }
        *self.cfg.lock().unwrap() = cfg.clone();
        let mut eps = self.endpoints.lock().unwrap();
        // Stop endpoints no longer wanted (or changed).
        let mut keep = Vec::new();
        for ep in eps.drain(..) {
            if want.iter().any(|(c, s)| *c == ep.cfg && *s == ep.service) {
                keep.push(ep);
            } else {
                self.stop_endpoint(ep);
            }
        }
        *eps = keep;
        for (c, service) in want {
            if eps.iter().any(|ep| ep.cfg == c && ep.service == service) {
                continue;
            }
            match self.start_endpoint(&c, service) {
                Ok(ep) => eps.push(ep),
                Err(e) => errors.push((c.target.clone(), e)),
            }
        }
        *self.refused.lock().unwrap() = errors.clone();
        let configured = eps.iter().any(|e| !e.service);
        let max_probe = eps
            .iter()
            .filter(|e| !e.service)
            .filter_map(|e| e.cfg.probe)
            .max()
            .unwrap_or(DEFAULT_PROBE);
        drop(eps);
        {
            let mut f = self.fail.lock().unwrap();
            if configured && !f.configured {
                f.down_since = Instant::now();
            }
            f.configured = configured;
            f.max_probe = max_probe;
        }
        self.update_fail_mode();
        errors
    }

    fn start_endpoint(
        self: &Arc<Self>,
        c: &ControllerConfig,
        service: bool,
    ) -> Result<Endpoint, String> {
        let target = Target::parse(&c.target)?;
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let stop = Arc::new(AtomicBool::new(false));
        let status = Arc::new(Mutex::new(EpStatus { state: "VOID", ..EpStatus::default() }));
        let weak = Arc::downgrade(self);
        let (stop2, status2, probe) = (stop.clone(), status.clone(), c.probe);
        let max_backoff = c.max_backoff;
        let thread = if target.passive() {
            let listener = match &target {
                Target::PTcp(a) => {
                    let l = TcpListener::bind(a)
                        .map_err(|e| format!("{}: cannot listen: {e}", c.target))?;
                    l.set_nonblocking(true).map_err(|e| e.to_string())?;
                    Listener::Tcp(l)
                }
                Target::PUnix(p) => {
                    let _ = std::fs::remove_file(p);
                    let l = UnixListener::bind(p)
                        .map_err(|e| format!("{}: cannot listen: {e}", p.display()))?;
                    let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700));
                    l.set_nonblocking(true).map_err(|e| e.to_string())?;
                    Listener::Unix(l, p.clone())
                }
                _ => unreachable!("passive targets only"),
            };
            status.lock().unwrap().state = "LISTENING";
            std::thread::Builder::new()
                .name(format!("oflisten-{}", self.name))
                .spawn(move || listen_main(weak, listener, id, service, probe, stop2, status2))
                .map_err(|e| e.to_string())?
        } else {
            std::thread::Builder::new()
                .name(format!("ofconnect-{}", self.name))
                .spawn(move || connect_main(weak, target, id, probe, max_backoff, stop2, status2))
                .map_err(|e| e.to_string())?
        };
        tracing::info!(bridge = %self.name, "OpenFlow endpoint {} started", c.target);
        Ok(Endpoint { id, cfg: c.clone(), service, stop, thread: Some(thread), status })
    }

    fn stop_endpoint(&self, mut ep: Endpoint) {
        ep.stop.store(true, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().iter().filter(|c| c.endpoint == ep.id) {
            c.close();
        }
        if let Some(h) = ep.thread.take() {
            let _ = h.join();
        }
        tracing::info!(bridge = %self.name, "OpenFlow endpoint {} stopped", ep.cfg.target);
    }

    fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let eps: Vec<Endpoint> = self.endpoints.lock().unwrap().drain(..).collect();
        for ep in eps {
            self.stop_endpoint(ep);
        }
        for c in self.conns.lock().unwrap().drain(..) {
            c.close();
        }
        if let Some(sig) = self.backer.events(&self.name) {
            sig.notify();
        }
        if let Some(h) = self.dispatcher.lock().unwrap().take() {
            let _ = h.join();
        }
    }

    fn status(&self) -> Vec<ControllerStatus> {
        let eps = self.endpoints.lock().unwrap();
        let conns = self.conns.lock().unwrap();
        eps.iter()
            .filter(|e| !e.service)
            .map(|e| {
                let st = e.status.lock().unwrap();
                let mine: Vec<&Arc<Conn>> = conns
                    .iter()
                    .filter(|c| {
                        c.endpoint == e.id && c.proto().is_some() && c.alive.load(Ordering::SeqCst)
                    })
                    .collect();
                let role = mine.first().map(|c| c.st.lock().unwrap().role).unwrap_or_default();
                ControllerStatus {
                    target: e.cfg.target.clone(),
                    is_connected: !mine.is_empty(),
                    role,
                    state: if mine.is_empty() { st.state } else { "ACTIVE" },
                    last_error: st.last_error.clone(),
                    sec_since_connect: mine.first().map(|c| c.since.elapsed().as_secs()),
                    sec_since_disconnect: if mine.is_empty() {
                        st.disconnected.map(|d| d.elapsed().as_secs())
                    } else {
                        None
                    },
                }
            })
            .chain(self.refused.lock().unwrap().iter().map(|(target, why)| ControllerStatus {
                target: target.clone(),
                is_connected: false,
                role: Role::Equal,
                state: "VOID",
                last_error: Some(why.clone()),
                sec_since_connect: None,
                sec_since_disconnect: None,
            }))
            .collect()
    }

    /// Recomputes fail-open and table-miss behaviour from the sessions.
    fn update_fail_mode(&self) {
        let conns: Vec<Arc<Conn>> = self.conns.lock().unwrap().clone();
        let primaries: Vec<Protocol> = conns
            .iter()
            .filter(|c| !c.service && c.alive.load(Ordering::SeqCst))
            .filter_map(|c| c.proto())
            .collect();
        let connected = !primaries.is_empty();
        let miss_to_controller = primaries.iter().any(|p| p.version < Version::V13);
        let (configured, fail_open) = {
            let mut f = self.fail.lock().unwrap();
            if connected {
                f.down_since = Instant::now();
            }
            (f.configured, f.configured && !connected && f.down_since.elapsed() >= f.max_probe * 3)
        };
        if let Err(e) =
            self.backer.set_controller_mode(&self.name, configured, fail_open, miss_to_controller)
        {
            tracing::debug!(bridge = %self.name, "controller mode: {e}");
        }
    }

    fn add_conn(
        self: &Arc<Self>,
        s: Stream,
        endpoint: u64,
        service: bool,
        probe: Option<Duration>,
    ) -> Option<JoinHandle<()>> {
        let (Ok(reader), Ok(())) = (s.try_clone(), s.set_timeouts()) else { return None };
        let conn = Arc::new(Conn {
            endpoint,
            service,
            writer: Mutex::new(s),
            st: Mutex::new(ConnState {
                proto: None,
                role: Role::Equal,
                controller_id: 0,
                packet_in_format: 0,
                config: SwitchConfig {
                    flags: 0,
                    miss_send_len: if service { 0 } else { DEFAULT_MISS_SEND_LEN },
                },
            }),
            alive: AtomicBool::new(true),
            since: Instant::now(),
        });
        self.conns.lock().unwrap().push(conn.clone());
        let versions = self.cfg.lock().unwrap().versions;
        conn.send(&msg::hello(versions, 0));
        let weak = Arc::downgrade(self);
        std::thread::Builder::new()
            .name(format!("ofconn-{}", self.name))
            .spawn(move || serve(weak, conn, reader, probe))
            .ok()
    }

    fn remove_conn(&self, conn: &Arc<Conn>) {
        conn.close();
        self.conns.lock().unwrap().retain(|c| !Arc::ptr_eq(c, conn));
        if !conn.service {
            self.update_fail_mode();
        }
    }

    fn datapath_id(&self) -> u64 {
        if let Some(d) = self.cfg.lock().unwrap().datapath_id {
            return d;
        }
        let mac = self.local_mac().unwrap_or_default();
        mac.0.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b))
    }

    fn local_mac(&self) -> Option<EthAddr> {
        let cfg = self.backer.read();
        let b = cfg.bridges.get(&self.name)?;
        match &b.ports.get(&OfPort::LOCAL)?.kind {
            PortKind::Datapath(odp) => self.backer.dpif().port_netdev(*odp)?.mac().ok(),
            PortKind::Patch { .. } => None,
        }
    }

    /// Every port's description.
    fn port_descs(&self) -> BTreeMap<OfPort, PortDesc> {
        let cfg = self.backer.read();
        let Some(b) = cfg.bridges.get(&self.name) else { return BTreeMap::new() };
        b.ports
            .values()
            .map(|p| {
                let mut config = 0;
                if p.config.down {
                    config |= msg::OFPPC_PORT_DOWN;
                }
                if p.config.no_recv {
                    config |= msg::OFPPC_NO_RECV;
                }
                if p.config.no_flood {
                    config |= msg::OFPPC_NO_FLOOD;
                }
                if p.config.no_fwd {
                    config |= msg::OFPPC_NO_FWD;
                }
                if p.config.no_packet_in {
                    config |= msg::OFPPC_NO_PACKET_IN;
                }
                let (mac, carrier) = match &p.kind {
                    PortKind::Datapath(odp) => match self.backer.dpif().port_netdev(*odp) {
                        Some(n) => (n.mac().unwrap_or_default(), n.carrier()),
                        None => (EthAddr::default(), false),
                    },
                    PortKind::Patch { .. } => (EthAddr::default(), p.error.is_none()),
                };
                let state = if carrier { msg::OFPPS_LIVE } else { msg::OFPPS_LINK_DOWN };
                // 10 Gb/s full duplex, copper: what OVS reports for virtual ports.
                let curr = if carrier { 0x40 | 0x800 } else { 0 };
                let desc = PortDesc {
                    port_no: p.ofport,
                    hw_addr: mac,
                    name: p.name.clone(),
                    config,
                    state,
                    curr,
                    advertised: 0,
                    supported: 0,
                    peer: 0,
                    curr_speed: if carrier { 10_000_000 } else { 0 },
                    max_speed: 0,
                };
                (p.ofport, desc)
            })
            .collect()
    }

    fn port_stats(&self, which: OfPort) -> Vec<PortStats> {
        let cfg = self.backer.read();
        let Some(b) = cfg.bridges.get(&self.name) else { return Vec::new() };
        b.ports
            .values()
            .filter(|p| which == OfPort::NONE || p.ofport == which)
            .map(|p| {
                let mut s = PortStats { port_no: p.ofport, ..PortStats::default() };
                if let PortKind::Datapath(odp) = &p.kind {
                    if let Ok(st) = self.backer.dpif().port_stats(*odp) {
                        let n = st.netdev;
                        s.rx_packets = n.rx_packets;
                        s.rx_bytes = n.rx_bytes;
                        s.rx_dropped = n.rx_dropped;
                        s.rx_errors = n.rx_errors;
                        s.tx_packets = n.tx_packets;
                        s.tx_bytes = n.tx_bytes;
                        s.tx_dropped = n.tx_dropped;
                        s.tx_errors = n.tx_errors;
                    }
                }
                s.duration = Some(Duration::ZERO);
                s
            })
            .collect()
    }
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

fn listen_main(
    bc: Weak<BridgeConns>,
    l: Listener,
    endpoint: u64,
    service: bool,
    probe: Option<Duration>,
    stop: Arc<AtomicBool>,
    status: Arc<Mutex<EpStatus>>,
) {
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let accepted = match &l {
            Listener::Tcp(t) => t.accept().map(|(s, _)| {
                let _ = s.set_nonblocking(false);
                Stream::Tcp(s)
            }),
            Listener::Unix(u, _) => u.accept().map(|(s, _)| {
                let _ = s.set_nonblocking(false);
                Stream::Unix(s)
            }),
        };
        match accepted {
            Ok(s) => {
                let Some(b) = bc.upgrade() else { break };
                if let Some(h) = b.add_conn(s, endpoint, service, probe) {
                    threads.push(h);
                }
                let mut st = status.lock().unwrap();
                st.connected = Some(Instant::now());
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => {
                status.lock().unwrap().last_error = Some(e.to_string());
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        threads.retain(|h| !h.is_finished());
    }
    for h in threads {
        let _ = h.join();
    }
    if let Listener::Unix(_, p) = &l {
        let _ = std::fs::remove_file(p);
    }
}

fn connect_main(
    bc: Weak<BridgeConns>,
    target: Target,
    endpoint: u64,
    probe: Option<Duration>,
    max_backoff: Duration,
    stop: Arc<AtomicBool>,
    status: Arc<Mutex<EpStatus>>,
) {
    let mut backoff = Duration::from_secs(1);
    while !stop.load(Ordering::SeqCst) {
        status.lock().unwrap().state = "CONNECTING";
        let s = match &target {
            Target::Tcp(a) => {
                TcpStream::connect_timeout(a, Duration::from_secs(5)).map(Stream::Tcp)
            }
            Target::Unix(p) => UnixStream::connect(p).map(Stream::Unix),
            _ => unreachable!("active targets only"),
        };
        match s {
            Ok(s) => {
                let Some(b) = bc.upgrade() else { break };
                {
                    let mut st = status.lock().unwrap();
                    st.state = "ACTIVE";
                    st.connected = Some(Instant::now());
                }
                let h = b.add_conn(s, endpoint, false, probe);
                drop(b);
                let began = Instant::now();
                if let Some(h) = h {
                    let _ = h.join();
                }
                let mut st = status.lock().unwrap();
                st.disconnected = Some(Instant::now());
                st.state = "BACKOFF";
                if began.elapsed() > max_backoff {
                    backoff = Duration::from_secs(1);
                }
            }
            Err(e) => {
                let mut st = status.lock().unwrap();
                st.last_error = Some(e.to_string());
                st.state = "BACKOFF";
                if st.disconnected.is_none() {
                    st.disconnected = Some(Instant::now());
                }
            }
        }
        let until = Instant::now() + backoff;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        backoff = (backoff * 2).min(max_backoff.max(Duration::from_secs(1)));
    }
}

/// Reads and answers one session until it ends.
fn serve(bc: Weak<BridgeConns>, conn: Arc<Conn>, mut rd: Stream, probe: Option<Duration>) {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut tmp = vec![0u8; 65536];
    let mut last_rx = Instant::now();
    let mut echo_sent = false;
    loop {
        if !conn.alive.load(Ordering::SeqCst) {
            break;
        }
        let Some(b) = bc.upgrade() else { break };
        if b.stop.load(Ordering::SeqCst) {
            break;
        }
        match rd.read(&mut tmp) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&tmp[..n]);
                last_rx = Instant::now();
                echo_sent = false;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => break,
        }
        let mut closed = false;
        while buf.len() >= 8 {
            let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
            if len < 8 {
                tracing::warn!(bridge = %b.name, "OpenFlow message with length {len} (below 8): closing the connection");
                closed = true;
                break;
            }
            if buf.len() < len {
                break;
            }
            let m: Vec<u8> = buf.drain(..len).collect();
            if let Err(e) = handle(&b, &conn, &m) {
                tracing::info!(bridge = %b.name, "closing OpenFlow connection: {e}");
                closed = true;
                break;
            }
        }
        if closed {
            break;
        }
        if let Some(p) = probe.filter(|p| !p.is_zero()) {
            let idle = last_rx.elapsed();
            if idle >= p * 2 {
                tracing::info!(bridge = %b.name, "OpenFlow peer silent for {idle:?}: disconnecting");
                break;
            }
            if idle >= p && !echo_sent {
                if let Some(pr) = conn.proto() {
                    conn.send(&msg::encode(&Msg::EchoRequest(Vec::new()), pr, 0));
                }
                echo_sent = true;
            }
        }
    }
    if let Some(b) = bc.upgrade() {
        b.remove_conn(&conn);
    } else {
        conn.close();
    }
}

fn of_error(e: &OfprotoError) -> OfpErr {
    match e {
        OfprotoError::BadTable(_) => OfpErr::FlowModBadTableId,
        OfprotoError::BadGoto { .. } => OfpErr::BadInstructionBadTableId,
        OfprotoError::Overlap(_) => OfpErr::FlowModOverlap,
        OfprotoError::Prereq { .. } => OfpErr::BadMatchBadPrereq,
        OfprotoError::ReadOnly(_) => OfpErr::BadActionBadSetType,
        OfprotoError::NoSuchPort { .. } | OfprotoError::OfPortRange(_) => OfpErr::BadRequestBadPort,
        OfprotoError::BadFlow(_) => OfpErr::BadRequestBadPacket,
        _ => OfpErr::FlowModEperm,
    }
}

/// Handles one whole message; an error closes the session.
fn handle(b: &Arc<BridgeConns>, conn: &Arc<Conn>, bytes: &[u8]) -> Result<(), String> {
    let proto = conn.proto();
    let reply_version =
        proto.map(|p| p.version).or_else(|| Version::from_wire(bytes[0])).unwrap_or(Version::V10);
    let xid = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    let raw = match RawMsg::parse(bytes) {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(bridge = %b.name, "bad OpenFlow message: {e}");
            conn.send(&msg::error_reply(reply_version, xid, e.code, bytes));
            return if proto.is_some() { Ok(()) } else { Err(e.to_string()) };
        }
    };
    let Some(p) = proto else {
        if raw.ty != MsgType::Hello {
            conn.send(&msg::error_reply(reply_version, xid, OfpErr::HelloIncompatible, bytes));
            return Err(format!("expected hello, received {:?}", raw.ty));
        }
        let Ok(Msg::Hello(theirs)) = msg::decode(&raw, Protocol::new(raw.version)) else {
            return Err("bad hello".into());
        };
        let ours = b.cfg.lock().unwrap().versions;
        return match msg::negotiate(ours, theirs) {
            Some(v) => {
                conn.st.lock().unwrap().proto = Some(Protocol::new(v));
                tracing::info!(bridge = %b.name, "OpenFlow session negotiated {v}");
                if !conn.service {
                    b.update_fail_mode();
                }
                Ok(())
            }
            None => {
                let mut e = msg::error_reply(
                    raw.version.min(Version::V13),
                    xid,
                    OfpErr::HelloIncompatible,
                    &[],
                );
                let text = format!(
                    "We support versions {ours:#x}, you support {theirs:#x}, no common versions."
                );
                e.extend_from_slice(text.as_bytes());
                let len = (e.len() as u16).to_be_bytes();
                e[2..4].copy_from_slice(&len);
                conn.send(&e);
                Err(format!("no common OpenFlow version (ours {ours:#x}, theirs {theirs:#x})"))
            }
        };
    };
    if raw.version != p.version {
        conn.send(&msg::error_reply(p.version, xid, OfpErr::BadRequestBadVersion, bytes));
        return Ok(());
    }
    let m = match msg::decode(&raw, p) {
        Ok(m) => m,
        Err(e) => {
            tracing::info!(bridge = %b.name, "refused OpenFlow request: {e}");
            conn.send(&msg::error_reply(p.version, xid, e.code, bytes));
            return Ok(());
        }
    };
    let err = |code: OfpErr, detail: String| -> Result<(), String> {
        tracing::info!(bridge = %b.name, "refused OpenFlow request: {code}: {detail}");
        conn.send(&msg::error_reply(p.version, xid, code, bytes));
        Ok(())
    };
    let reply = |m: Msg| conn.send(&msg::encode(&m, p, xid));
    let is_slave = conn.st.lock().unwrap().role == Role::Slave;
    let writes = matches!(m, Msg::FlowMod(_) | Msg::PacketOut(_) | Msg::PortMod(_));
    if writes && is_slave {
        return err(OfpErr::BadRequestIsSlave, "this connection's role is slave".into());
    }
    match m {
        Msg::Hello(_) | Msg::EchoReply(_) | Msg::BarrierReply => {}
        Msg::Error(e, _) => tracing::info!(bridge = %b.name, "OpenFlow peer sent error {e}"),
        Msg::EchoRequest(d) => reply(Msg::EchoReply(d)),
        Msg::FeaturesRequest => {
            let ports = if p.version <= Version::V12 {
                b.port_descs().into_values().collect()
            } else {
                Vec::new()
            };
            reply(Msg::FeaturesReply(Features {
                datapath_id: b.datapath_id(),
                n_buffers: 0,
                n_tables: N_TABLES,
                auxiliary_id: 0,
                capabilities: if p.version == Version::V10 { 0x87 } else { 0x47 },
                actions: if p.version == Version::V10 { 0xfff } else { 0 },
                ports,
            }))
        }
        Msg::GetConfigRequest => reply(Msg::GetConfigReply(conn.st.lock().unwrap().config)),
        Msg::SetConfig(c) => conn.st.lock().unwrap().config = c,
        Msg::FlowMod(fm) => {
            if let Err(e) = b.backer.flow_mod(&b.name, &fm) {
                return err(of_error(&e), e.to_string());
            }
        }
        Msg::PacketOut(po) => {
            if po.data.is_empty() {
                return err(OfpErr::BadRequestBadPacket, "packet-out without a packet".into());
            }
            if let Err(e) =
                b.backer.packet_out(&b.name, Packet::from_bytes(&po.data), po.in_port, po.actions)
            {
                return err(of_error(&e), e.to_string());
            }
        }
        Msg::PortMod(pm) => {
            let descs = b.port_descs();
            let Some(d) = descs.get(&pm.port_no) else {
                return err(OfpErr::PortModBadPort, format!("port {} does not exist", pm.port_no));
            };
            if d.hw_addr != pm.hw_addr {
                return err(
                    OfpErr::PortModBadHwAddr,
                    format!("port {} has address {}, not {}", pm.port_no, d.hw_addr, pm.hw_addr),
                );
            }
            let cur = (d.config & !pm.mask) | (pm.config & pm.mask);
            let config = PortConfig {
                down: cur & msg::OFPPC_PORT_DOWN != 0,
                no_recv: cur & msg::OFPPC_NO_RECV != 0,
                no_flood: cur & msg::OFPPC_NO_FLOOD != 0,
                no_fwd: cur & msg::OFPPC_NO_FWD != 0,
                no_packet_in: cur & msg::OFPPC_NO_PACKET_IN != 0,
            };
            if let Err(e) = b.backer.port_mod(&b.name, pm.port_no, config) {
                return err(OfpErr::PortModBadPort, e.to_string());
            }
        }
        Msg::BarrierRequest => reply(Msg::BarrierReply),
        Msg::RoleRequest(role, gen) => {
            if matches!(role, Role::Master | Role::Slave) && p.version >= Version::V12 {
                let mut g = b.master_gen.lock().unwrap();
                if let Some(cur) = *g {
                    if (gen.wrapping_sub(cur) as i64) < 0 {
                        drop(g);
                        return err(
                            OfpErr::RoleRequestStale,
                            format!("generation {gen} is older than {cur}"),
                        );
                    }
                }
                *g = Some(gen);
            }
            if role == Role::Master {
                for c in b.conns.lock().unwrap().iter() {
                    if !Arc::ptr_eq(c, conn) {
                        let mut st = c.st.lock().unwrap();
                        if st.role == Role::Master {
                            st.role = Role::Slave;
                        }
                    }
                }
            }
            let mut st = conn.st.lock().unwrap();
            if role != Role::NoChange {
                st.role = role;
            }
            let now = st.role;
            drop(st);
            let gen_now = b.master_gen.lock().unwrap().unwrap_or(0);
            reply(Msg::RoleReply(now, gen_now));
        }
        Msg::SetFlowFormat(f) => {
            if let Some(pp) = conn.st.lock().unwrap().proto.as_mut() {
                pp.flow_format = f;
            }
        }
        Msg::FlowModTableId(on) => {
            if let Some(pp) = conn.st.lock().unwrap().proto.as_mut() {
                pp.table_id = on;
            }
        }
        Msg::SetPacketInFormat(n) => conn.st.lock().unwrap().packet_in_format = n,
        Msg::SetControllerId(id) => conn.st.lock().unwrap().controller_id = id,
        Msg::DescRequest => reply(Msg::DescReply(Desc {
            mfr: "The rvs project".into(),
            hw: "rvs".into(),
            sw: env!("CARGO_PKG_VERSION").into(),
            serial: "None".into(),
            dp: b.name.clone(),
        })),
        Msg::FlowStatsRequest(req, agg) => {
            let table = (req.table != TableId::ALL).then_some(req.table);
            let filter: Option<&OfMatch> = Some(&req.match_);
            let lines = match b.backer.dump_flows(&b.name, filter, table) {
                Ok(l) => l,
                Err(e) => return err(OfpErr::BadRequestEperm, e.to_string()),
            };
            let lines: Vec<_> = lines
                .into_iter()
                .filter(|l| (l.cookie.0 & req.cookie_mask) == (req.cookie.0 & req.cookie_mask))
                .filter(|l| {
                    req.out_port == OfPort::NONE
                        || l.actions.iter().any(|a| a.outputs_to(req.out_port))
                })
                .collect();
            // Answer in the request's own format.
            let mut rp = p;
            if matches!(raw.ty, MsgType::VendorMultipartRequest(..)) {
                rp.flow_format = FlowFormat::Nxm;
            } else if p.version == Version::V10 {
                rp.flow_format = FlowFormat::OpenFlow10;
            }
            if agg {
                let a = AggregateStats {
                    packets: lines.iter().map(|l| l.n_packets).sum(),
                    bytes: lines.iter().map(|l| l.n_bytes).sum(),
                    flows: lines.len() as u32,
                };
                conn.send(&msg::encode(&Msg::AggregateReply(a), rp, xid));
            } else {
                conn.send(&msg::encode(&Msg::FlowStatsReply(lines), rp, xid));
            }
        }
        Msg::TableStatsRequest => {
            let counts: Vec<u32> = b
                .backer
                .with_bridge_read(&b.name, |br| br.tables.iter().map(|t| t.len() as u32).collect())
                .unwrap_or_default();
            let ts = (0..N_TABLES)
                .map(|t| TableStats {
                    table: TableId(t),
                    name: if t == 0 { "classifier".into() } else { format!("table{t}") },
                    active_count: counts.get(usize::from(t)).copied().unwrap_or(0),
                    max_entries: 1_000_000,
                    lookup_count: 0,
                    matched_count: 0,
                })
                .collect();
            reply(Msg::TableStatsReply(ts))
        }
        Msg::PortStatsRequest(port) => {
            let s = b.port_stats(port);
            if s.is_empty() && port != OfPort::NONE {
                return err(OfpErr::BadRequestBadPort, format!("port {port} does not exist"));
            }
            reply(Msg::PortStatsReply(s))
        }
        Msg::PortDescRequest => reply(Msg::PortDescReply(b.port_descs().into_values().collect())),
        Msg::TableFeaturesRequest(set) => {
            if set {
                return err(
                    OfpErr::BadRequestEperm,
                    "changing table features is not supported".into(),
                );
            }
            let ts = (0..N_TABLES)
                .map(|t| {
                    (
                        TableId(t),
                        if t == 0 { "classifier".to_string() } else { format!("table{t}") },
                        1_000_000,
                    )
                })
                .collect();
            reply(Msg::TableFeaturesReply(ts))
        }
        other @ (Msg::FeaturesReply(_)
        | Msg::GetConfigReply(_)
        | Msg::PacketIn(_)
        | Msg::FlowRemoved(_)
        | Msg::PortStatus(..)
        | Msg::RoleReply(..)
        | Msg::DescReply(_)
        | Msg::FlowStatsReply(_)
        | Msg::AggregateReply(_)
        | Msg::TableStatsReply(_)
        | Msg::PortStatsReply(_)
        | Msg::PortDescReply(_)
        | Msg::TableFeaturesReply(_)) => {
            return err(
                OfpErr::BadRequestBadType,
                format!("a switch does not take {}", variant_name(&other)),
            );
        }
    }
    Ok(())
}

fn variant_name(m: &Msg) -> String {
    let s = format!("{m:?}");
    s.split(['(', ' ', '{']).next().unwrap_or("").to_string()
}

fn dispatcher_main(bc: Weak<BridgeConns>, mut ports: BTreeMap<OfPort, PortDesc>) {
    let mut seen = 0;
    loop {
        let Some(b) = bc.upgrade() else { return };
        if b.stop.load(Ordering::SeqCst) {
            return;
        }
        let Some(sig) = b.backer.events(&b.name) else {
            drop(b);
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        drop(b);
        seen = sig.wait(seen, Duration::from_secs(1));
        let Some(b) = bc.upgrade() else { return };
        if b.stop.load(Ordering::SeqCst) {
            return;
        }
        b.update_fail_mode();
        let conns: Vec<Arc<Conn>> = b
            .conns
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.alive.load(Ordering::SeqCst))
            .cloned()
            .collect();
        for pi in b.backer.take_packet_ins(&b.name) {
            for c in &conns {
                if !c.wants(Async::PacketIn) {
                    continue;
                }
                let (p, id, miss_len, format) = {
                    let st = c.st.lock().unwrap();
                    (st.proto, st.controller_id, st.config.miss_send_len, st.packet_in_format)
                };
                let Some(p) = p else { continue };
                if pi.controller_id != id {
                    continue;
                }
                let mut data = pi.packet.clone();
                if pi.reason == crate::PacketInReason::NoMatch
                    && pi.total_len == data.len()
                    && miss_len != u16::MAX
                {
                    data.truncate(usize::from(miss_len));
                }
                let mut m = OfMatch::catchall();
                m.set(Mf::InPort, u128::from(pi.in_port.0));
                for (f, v) in &pi.pipeline {
                    m.set(*f, *v);
                }
                let pin = PacketInMsg {
                    buffer_id: NO_BUFFER,
                    total_len: pi.total_len.min(usize::from(u16::MAX)) as u16,
                    reason: pi.reason,
                    table: pi.table,
                    cookie: pi.cookie,
                    match_: m,
                    data,
                };
                c.send(&msg::encode_packet_in_format(&pin, p, 0, format));
            }
        }
        for fr in b.backer.take_flow_removed(&b.name) {
            for c in &conns {
                if let (true, Some(p)) = (c.wants(Async::FlowRemoved), c.proto()) {
                    c.send(&msg::encode(&Msg::FlowRemoved(fr.clone()), p, 0));
                }
            }
        }
        let now = b.port_descs();
        {
            let old = &ports;
            let mut events = Vec::new();
            for (n, d) in &now {
                match old.get(n) {
                    None => events.push((PortReason::Add, d.clone())),
                    Some(o) if o != d => events.push((PortReason::Modify, d.clone())),
                    _ => {}
                }
            }
            for (n, d) in old {
                if !now.contains_key(n) {
                    events.push((PortReason::Delete, d.clone()));
                }
            }
            for (reason, d) in events {
                for c in &conns {
                    if let (true, Some(p)) = (c.wants(Async::PortStatus), c.proto()) {
                        c.send(&msg::encode(&Msg::PortStatus(reason, d.clone()), p, 0));
                    }
                }
            }
        }
        ports = now;
    }
}
