//! The bridges that share one datapath, and the machinery between them and
//! it (OVS's `dpif_backer` and `ofproto-dpif-upcall`): the miss handler that
//! translates upcalls into megaflows, and the revalidator that keeps the
//! datapath's flows true to the tables.
//!
//! # Threads and locks
//! The configuration (bridges, ports, rules) sits behind one `RwLock`:
//! upcalls (in the datapath's poll threads) and the revalidator read it;
//! flow_mods and port changes write it briefly. MAC tables and message
//! queues have their own mutexes. Every change that can alter a translation
//! bumps a sequence number and wakes the revalidator, which re-translates
//! every datapath flow and fixes or deletes those whose actions or mask
//! changed; it also pushes flow statistics back to the rules and MAC
//! entries they came from, expires idle datapath flows and timed-out rules,
//! and ages the MAC tables.

use crate::actions::OfAction;
use crate::flow::Flow;
use crate::flow_mod::FlowMod;
use crate::mac_learning::MacTable;
use crate::ofproto::{
    Bridge, FailMode, FlowModOutcome, Mirror, MirrorOutput, OfprotoError, PacketIn, Port,
    PortConfig, PortKind, PortVlan, RuleStats,
};
use crate::types::OfPort;
use crate::xlate::{self, MacRef, XlateIn, XlateOut};
use rvs_datapath::clock::Clock;
use rvs_datapath::dpif::{
    Dpif, FlowId, FlowPut, PutFlags, Ufid, Upcall, UpcallError, UpcallHandler, UpcallReply,
};
use rvs_datapath::netdev::Netdev;
use rvs_datapath::odp::{DropReason, OdpAction, UserspaceAction};
use rvs_packet::{FlowKey, OdpPort, Packet};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The configuration translation reads.
#[derive(Debug, Default)]
pub struct Config {
    /// Bridges by name.
    pub bridges: BTreeMap<String, Bridge>,
    /// Datapath port to (bridge, OpenFlow port).
    pub odp_map: HashMap<OdpPort, (String, OfPort)>,
    next_id: u32,
}

impl Config {
    /// The bridge and port at the other end of patch port `name` of
    /// `bridge`, whose peer option says `peer`: the peer must exist, be a
    /// patch port and name `name` back.
    pub fn patch_peer(&self, bridge: &str, name: &str, peer: &str) -> Option<(&Bridge, OfPort)> {
        for b in self.bridges.values() {
            if let Some(p) = b.port_by_name(peer) {
                if b.name == bridge && p.name == name {
                    return None;
                }
                return match &p.kind {
                    PortKind::Patch { peer: back } if back == name => Some((b, p.ofport)),
                    _ => None,
                };
            }
        }
        None
    }

    fn bridge_by_id(&self, id: u32) -> Option<&Bridge> {
        self.bridges.values().find(|b| b.id == id)
    }

    fn port_name_taken(&self, name: &str) -> bool {
        self.bridges.values().any(|b| b.port_by_name(name).is_some())
    }
}

/// Per-bridge settings.
#[derive(Clone, Debug)]
pub struct BridgeSettings {
    /// Fail mode.
    pub fail_mode: FailMode,
    /// MAC table size.
    pub mac_table_size: usize,
    /// MAC aging time.
    pub mac_aging: Duration,
}

impl Default for BridgeSettings {
    fn default() -> Self {
        BridgeSettings {
            fail_mode: FailMode::Standalone,
            mac_table_size: crate::mac_learning::DEFAULT_MAX_ENTRIES,
            mac_aging: crate::mac_learning::DEFAULT_AGING,
        }
    }
}

/// Per-port settings.
#[derive(Clone, Debug, Default)]
pub struct PortSettings {
    /// Requested OpenFlow number.
    pub ofport_request: Option<OfPort>,
    /// VLAN configuration.
    pub vlan: PortVlan,
    /// OpenFlow config bits.
    pub config: PortConfig,
}

/// What the revalidator keeps per datapath flow it installed.
#[derive(Debug)]
struct Ukey {
    rules: Vec<Arc<crate::ofproto::RuleStats>>,
    macs: Vec<MacRef>,
    packets: u64,
    bytes: u64,
    seq: u64,
    created: Duration,
}

/// Counters of the upcall and revalidation machinery.
#[derive(Debug, Default)]
pub struct BackerStats {
    /// Upcalls translated.
    pub upcalls: AtomicU64,
    /// Revalidation passes.
    pub passes: AtomicU64,
    /// Datapath flows deleted by revalidation (mask no longer right).
    pub reval_deleted: AtomicU64,
    /// Datapath flows whose actions revalidation changed.
    pub reval_modified: AtomicU64,
    /// Datapath flows deleted because idle.
    pub idle_deleted: AtomicU64,
    /// Duration of the last revalidation pass, microseconds.
    pub last_pass_us: AtomicU64,
}

/// The bridges of one datapath.
pub struct Backer {
    dpif: Arc<dyn Dpif>,
    clock: Arc<dyn Clock>,
    cfg: RwLock<Config>,
    ukeys: Mutex<HashMap<Ufid, Ukey>>,
    seq: AtomicU64,
    wake: (Mutex<bool>, Condvar),
    stop: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
    max_idle_ms: AtomicU64,
    /// Counters.
    pub stats: BackerStats,
}

impl std::fmt::Debug for Backer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backer").field("dpif", &self.dpif.name()).finish()
    }
}

struct Handler(Weak<Backer>);

impl UpcallHandler for Handler {
    fn upcall(&self, up: &Upcall<'_>) -> Result<UpcallReply, UpcallError> {
        let b = self.0.upgrade().ok_or_else(|| UpcallError("switch is shutting down".into()))?;
        Ok(b.handle_upcall(up.key))
    }

    fn action_upcall(&self, packet: &Packet, _key: &FlowKey, action: &UserspaceAction) {
        if let Some(b) = self.0.upgrade() {
            b.handle_controller(packet, action);
        }
    }
}

/// How often the revalidator wakes with nothing to do (stats, timeouts).
const REVALIDATE_PERIOD: Duration = Duration::from_millis(500);

impl Backer {
    /// Takes over `dpif`'s misses. With `revalidator_thread`, a thread
    /// revalidates on every change and every 500 ms; without, the owner
    /// calls [`Backer::run`] (tests do, with a manual clock).
    pub fn new(
        dpif: Arc<dyn Dpif>,
        clock: Arc<dyn Clock>,
        revalidator_thread: bool,
    ) -> Arc<Backer> {
        let b = Arc::new(Backer {
            dpif: dpif.clone(),
            clock,
            cfg: RwLock::new(Config::default()),
            ukeys: Mutex::new(HashMap::new()),
            seq: AtomicU64::new(1),
            wake: (Mutex::new(false), Condvar::new()),
            stop: AtomicBool::new(false),
            thread: Mutex::new(None),
            max_idle_ms: AtomicU64::new(10_000),
            stats: BackerStats::default(),
        });
        dpif.register_upcall_handler(Some(Arc::new(Handler(Arc::downgrade(&b)))));
        if revalidator_thread {
            let weak = Arc::downgrade(&b);
            let h = std::thread::Builder::new()
                .name("revalidator".into())
                .spawn(move || revalidator_main(weak))
                .expect("spawn revalidator");
            *b.thread.lock().unwrap() = Some(h);
        }
        b
    }

    /// The datapath.
    pub fn dpif(&self) -> &Arc<dyn Dpif> {
        &self.dpif
    }

    /// The current time.
    pub fn now(&self) -> Duration {
        self.clock.now()
    }

    /// Sets how long an unused datapath flow lives (OVS's `max-idle`).
    pub fn set_max_idle(&self, d: Duration) {
        self.max_idle_ms.store(d.as_millis() as u64, Ordering::Relaxed);
    }

    /// Stops the revalidator and lets go of the datapath's upcalls.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.kick();
        if let Some(h) = self.thread.lock().unwrap().take() {
            let _ = h.join();
        }
        self.dpif.register_upcall_handler(None);
    }

    /// Read access to the configuration.
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, Config> {
        self.cfg.read().unwrap()
    }

    /// Marks every datapath flow for revalidation and wakes the revalidator.
    pub fn changed(&self) {
        self.seq.fetch_add(1, Ordering::SeqCst);
        self.kick();
    }

    fn kick(&self) {
        let (m, c) = &self.wake;
        *m.lock().unwrap() = true;
        c.notify_all();
    }

    fn with_bridge<R>(
        &self,
        bridge: &str,
        f: impl FnOnce(&mut Bridge, &mut HashMap<OdpPort, (String, OfPort)>) -> Result<R, OfprotoError>,
    ) -> Result<R, OfprotoError> {
        let mut guard = self.cfg.write().unwrap();
        let cfg = &mut *guard;
        let b = cfg
            .bridges
            .get_mut(bridge)
            .ok_or_else(|| OfprotoError::NoSuchBridge(bridge.to_string()))?;
        let r = f(b, &mut cfg.odp_map);
        if r.is_ok() {
            b.events.notify();
        }
        drop(guard);
        if r.is_ok() {
            self.changed();
        }
        r
    }

    /// Adds a bridge whose LOCAL port is `local` (an internal netdev named
    /// after the bridge) added to the datapath. A standalone bridge starts
    /// with the rule `priority=0,actions=NORMAL`, as OVS's do.
    pub fn add_bridge(
        &self,
        name: &str,
        settings: &BridgeSettings,
        local: Arc<dyn Netdev>,
    ) -> Result<(), OfprotoError> {
        {
            let cfg = self.cfg.read().unwrap();
            if cfg.bridges.contains_key(name) {
                return Err(OfprotoError::BridgeExists(name.to_string()));
            }
            if cfg.port_name_taken(name) {
                return Err(OfprotoError::PortExists(name.to_string()));
            }
        }
        let odp = self.dpif.port_add(local, None).map_err(|e| OfprotoError::Dpif(e.to_string()))?;
        let now = self.now();
        let mut cfg = self.cfg.write().unwrap();
        let id = cfg.next_id;
        cfg.next_id += 1;
        let mut b = Bridge::new(
            name,
            id,
            settings.fail_mode,
            MacTable::new(settings.mac_table_size, settings.mac_aging),
        );
        b.ports.insert(
            OfPort::LOCAL,
            Port {
                ofport: OfPort::LOCAL,
                name: name.to_string(),
                kind: PortKind::Datapath(odp),
                vlan: PortVlan::default(),
                config: PortConfig::default(),
                error: None,
            },
        );
        if settings.fail_mode == FailMode::Standalone {
            let fm = FlowMod {
                priority: 0,
                actions: vec![OfAction::output(OfPort::NORMAL)],
                ..FlowMod::default()
            };
            b.flow_mod(&fm, now)?;
        }
        cfg.odp_map.insert(odp, (name.to_string(), OfPort::LOCAL));
        cfg.bridges.insert(name.to_string(), b);
        drop(cfg);
        self.changed();
        Ok(())
    }

    /// Removes a bridge and its ports.
    pub fn del_bridge(&self, name: &str) -> Result<(), OfprotoError> {
        let b = {
            let mut cfg = self.cfg.write().unwrap();
            let b = cfg
                .bridges
                .remove(name)
                .ok_or_else(|| OfprotoError::NoSuchBridge(name.to_string()))?;
            cfg.odp_map.retain(|_, (br, _)| br != name);
            b
        };
        for p in b.ports.values() {
            if let PortKind::Datapath(odp) = p.kind {
                let _ = self.dpif.port_del(odp);
            }
        }
        self.changed();
        Ok(())
    }

    /// Changes a bridge's fail mode (rules stay as they are).
    pub fn set_fail_mode(&self, bridge: &str, mode: FailMode) -> Result<(), OfprotoError> {
        self.with_bridge(bridge, |b, _| {
            b.fail_mode = mode;
            Ok(())
        })
    }

    /// Changes a bridge's MAC table size and aging time.
    pub fn set_mac_table(
        &self,
        bridge: &str,
        size: usize,
        aging: Duration,
    ) -> Result<(), OfprotoError> {
        self.with_bridge(bridge, |b, _| {
            let mut t = b.mac.lock().unwrap();
            t.max_entries = size.max(1);
            t.aging = aging;
            Ok(())
        })
    }

    fn pick_ofport(b: &Bridge, name: &str, req: Option<OfPort>) -> Result<OfPort, OfprotoError> {
        if b.port_by_name(name).is_some() {
            return Err(OfprotoError::PortExists(name.to_string()));
        }
        match req {
            Some(p) if !p.is_physical() => Err(OfprotoError::OfPortRange(p.0.into())),
            Some(p) => match b.ports.get(&p) {
                Some(other) => Err(OfprotoError::OfPortBusy { port: p, by: other.name.clone() }),
                None => Ok(p),
            },
            None => b.free_ofport().ok_or(OfprotoError::OfPortRange(u32::from(OfPort::MAX.0))),
        }
    }

    /// Adds a datapath port backed by `netdev` to `bridge`; returns its
    /// OpenFlow number. Nothing changes if it fails.
    pub fn add_port(
        &self,
        bridge: &str,
        netdev: Arc<dyn Netdev>,
        s: &PortSettings,
    ) -> Result<OfPort, OfprotoError> {
        let name = netdev.name().to_string();
        {
            let cfg = self.cfg.read().unwrap();
            let b = cfg
                .bridges
                .get(bridge)
                .ok_or_else(|| OfprotoError::NoSuchBridge(bridge.to_string()))?;
            if cfg.port_name_taken(&name) {
                return Err(OfprotoError::PortExists(name));
            }
            Self::pick_ofport(b, &name, s.ofport_request)?;
        }
        let odp =
            self.dpif.port_add(netdev, None).map_err(|e| OfprotoError::Dpif(e.to_string()))?;
        let r = self.with_bridge(bridge, |b, map| {
            let ofport = Self::pick_ofport(b, &name, s.ofport_request)?;
            b.ports.insert(
                ofport,
                Port {
                    ofport,
                    name: name.clone(),
                    kind: PortKind::Datapath(odp),
                    vlan: s.vlan.clone(),
                    config: s.config,
                    error: None,
                },
            );
            map.insert(odp, (bridge.to_string(), ofport));
            Ok(ofport)
        });
        if r.is_err() {
            let _ = self.dpif.port_del(odp);
        }
        r
    }

    /// Adds patch port `name` to `bridge`, peered with the port `peer`.
    pub fn add_patch_port(
        &self,
        bridge: &str,
        name: &str,
        peer: &str,
        s: &PortSettings,
    ) -> Result<OfPort, OfprotoError> {
        if self.cfg.read().unwrap().port_name_taken(name) {
            return Err(OfprotoError::PortExists(name.to_string()));
        }
        self.with_bridge(bridge, |b, _| {
            let ofport = Self::pick_ofport(b, name, s.ofport_request)?;
            b.ports.insert(
                ofport,
                Port {
                    ofport,
                    name: name.to_string(),
                    kind: PortKind::Patch { peer: peer.to_string() },
                    vlan: s.vlan.clone(),
                    config: s.config,
                    error: None,
                },
            );
            Ok(ofport)
        })?;
        self.update_patch_errors();
        Ok(self.read().bridges[bridge].port_by_name(name).map(|p| p.ofport).unwrap_or(OfPort::NONE))
    }

    /// Recomputes the `error` of every patch port (a missing or mismatched
    /// peer).
    pub fn update_patch_errors(&self) {
        let mut cfg = self.cfg.write().unwrap();
        let mut errors = Vec::new();
        for b in cfg.bridges.values() {
            for p in b.ports.values() {
                if let PortKind::Patch { peer } = &p.kind {
                    let e = if cfg.patch_peer(&b.name, &p.name, peer).is_some() {
                        None
                    } else {
                        Some(format!("{}: could not open patch port: peer \"{peer}\" does not exist or is not a patch port whose peer is \"{}\"", p.name, p.name))
                    };
                    errors.push((b.name.clone(), p.ofport, e));
                }
            }
        }
        for (b, port, e) in errors {
            if let Some(p) = cfg.bridges.get_mut(&b).and_then(|b| b.ports.get_mut(&port)) {
                p.error = e;
            }
        }
    }

    /// Deletes port `name` from `bridge`.
    pub fn del_port(&self, bridge: &str, name: &str) -> Result<(), OfprotoError> {
        let kind = self.with_bridge(bridge, |b, map| {
            let port = b
                .port_by_name(name)
                .filter(|p| p.ofport != OfPort::LOCAL)
                .ok_or_else(|| OfprotoError::NoSuchPort {
                    bridge: bridge.to_string(),
                    port: name.to_string(),
                })?
                .clone();
            b.ports.remove(&port.ofport);
            b.mac.lock().unwrap().flush_port(port.ofport);
            if let PortKind::Datapath(odp) = port.kind {
                map.remove(&odp);
            }
            Ok(port.kind)
        })?;
        if let PortKind::Datapath(odp) = kind {
            let _ = self.dpif.port_del(odp);
        }
        self.update_patch_errors();
        Ok(())
    }

    /// Changes a port's VLAN configuration and OpenFlow config bits.
    pub fn set_port(
        &self,
        bridge: &str,
        name: &str,
        vlan: PortVlan,
        config: PortConfig,
    ) -> Result<(), OfprotoError> {
        if let Some(t) = vlan.tag.filter(|t| *t > 4095) {
            return Err(OfprotoError::BadVlan(t.into()));
        }
        if let Some(t) = vlan.trunks.iter().find(|t| **t > 4095) {
            return Err(OfprotoError::BadVlan((*t).into()));
        }
        self.with_bridge(bridge, |b, _| {
            let p = b.ports.values_mut().find(|p| p.name == name).ok_or_else(|| {
                OfprotoError::NoSuchPort { bridge: bridge.to_string(), port: name.to_string() }
            })?;
            p.vlan = vlan;
            p.config = config;
            Ok(())
        })
    }

    /// Replaces the mirrors of `bridge` (its flows are revalidated). Each
    /// is checked first: at most [`Bridge::MAX_MIRRORS`], VLANs in range,
    /// an output port the bridge has; if one is refused, the bridge keeps
    /// the mirrors it had.
    pub fn set_mirrors(&self, bridge: &str, mirrors: Vec<Mirror>) -> Result<(), OfprotoError> {
        self.with_bridge(bridge, |b, _| {
            let bad =
                |m: &Mirror, why: String| OfprotoError::BadMirror { name: m.name.clone(), why };
            if let Some(m) = mirrors.get(Bridge::MAX_MIRRORS) {
                return Err(bad(
                    m,
                    format!("a bridge has at most {} mirrors", Bridge::MAX_MIRRORS),
                ));
            }
            for m in &mirrors {
                if let Some(v) = m.select_vlan.iter().find(|v| **v > 4095) {
                    return Err(bad(m, format!("select_vlan {v} is out of range (0 to 4095)")));
                }
                match m.output {
                    MirrorOutput::Port(p) if !b.ports.contains_key(&p) => {
                        return Err(bad(m, format!("bridge {bridge} has no output port {p}")));
                    }
                    MirrorOutput::Vlan(v) if v > 4095 => {
                        return Err(bad(m, format!("output_vlan {v} is out of range (0 to 4095)")));
                    }
                    _ => {}
                }
            }
            // A mirror that stays (by name) keeps its counters.
            let old: HashMap<&str, &Arc<RuleStats>> =
                b.mirrors.iter().map(|m| m.name.as_str()).zip(&b.mirror_stats).collect();
            let stats: Vec<Arc<RuleStats>> = mirrors
                .iter()
                .map(|m| old.get(m.name.as_str()).map_or_else(Arc::default, |s| Arc::clone(s)))
                .collect();
            b.mirror_stats = stats;
            b.mirrors = mirrors;
            Ok(())
        })
    }

    /// Each mirror of `bridge` by name, with the packets and bytes its
    /// copies carried.
    pub fn mirror_stats(&self, bridge: &str) -> Result<Vec<(String, u64, u64)>, OfprotoError> {
        self.with_bridge_read(bridge, |b| {
            b.mirrors
                .iter()
                .zip(&b.mirror_stats)
                .map(|(m, s)| {
                    let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
                    (m.name.clone(), n(&s.packets), n(&s.bytes))
                })
                .collect()
        })
    }

    /// Applies one flow_mod.
    pub fn flow_mod(&self, bridge: &str, fm: &FlowMod) -> Result<FlowModOutcome, OfprotoError> {
        self.flow_mods(bridge, std::slice::from_ref(fm))
    }

    /// Applies flow_mods in order, all or nothing: if one is refused, the
    /// tables are as they were.
    pub fn flow_mods(&self, bridge: &str, fms: &[FlowMod]) -> Result<FlowModOutcome, OfprotoError> {
        let now = self.now();
        self.with_bridge(bridge, |b, _| {
            let mut total = FlowModOutcome::default();
            // A single flow_mod checks everything before it changes anything;
            // a batch keeps a copy of the tables to put back.
            let snapshot = (fms.len() > 1).then(|| b.snapshot_rules());
            for fm in fms {
                match b.flow_mod(fm, now) {
                    Ok(o) => {
                        total.added += o.added;
                        total.modified += o.modified;
                        total.deleted += o.deleted;
                    }
                    Err(e) => {
                        if let Some(s) = snapshot {
                            b.restore_rules(s);
                        }
                        return Err(e);
                    }
                }
            }
            Ok(total)
        })
    }

    /// Runs `f` on a bridge under the read lock.
    pub fn with_bridge_read<R>(
        &self,
        bridge: &str,
        f: impl FnOnce(&Bridge) -> R,
    ) -> Result<R, OfprotoError> {
        let cfg = self.cfg.read().unwrap();
        let b = cfg
            .bridges
            .get(bridge)
            .ok_or_else(|| OfprotoError::NoSuchBridge(bridge.to_string()))?;
        Ok(f(b))
    }

    /// The rules of `bridge` as `dump-flows` lines' data, by table, then
    /// priority (highest first). `filter` keeps rules within a match (the
    /// loose semantics of `ovs-ofctl dump-flows br0 MATCH`), `table` one
    /// table.
    pub fn dump_flows(
        &self,
        bridge: &str,
        filter: Option<&crate::OfMatch>,
        table: Option<crate::TableId>,
    ) -> Result<Vec<crate::text::FlowStatsLine>, OfprotoError> {
        let now = self.now();
        let ms = |d: Duration| Duration::from_millis(d.as_millis() as u64);
        self.with_bridge_read(bridge, |b| {
            let mut v = Vec::new();
            for (t, cls) in b.tables.iter().enumerate() {
                if table.is_some_and(|x| usize::from(x.0) != t) {
                    continue;
                }
                for (m, p, r) in cls.iter() {
                    if filter.is_some_and(|f| !m.is_subset_of(f)) {
                        continue;
                    }
                    let used = Duration::from_nanos(r.stats.used_ns.load(Ordering::Relaxed));
                    v.push(crate::text::FlowStatsLine {
                        cookie: r.cookie,
                        duration: ms(now.saturating_sub(r.created)),
                        table: r.table,
                        n_packets: r.stats.packets.load(Ordering::Relaxed),
                        n_bytes: r.stats.bytes.load(Ordering::Relaxed),
                        idle_timeout: r.idle_timeout,
                        hard_timeout: r.hard_timeout,
                        importance: r.importance,
                        flags: r.flags,
                        idle_age: Some(Duration::from_secs(
                            now.saturating_sub(r.last_active().max(used)).as_secs(),
                        )),
                        hard_age: Some(Duration::from_secs(
                            now.saturating_sub(r.modified).as_secs(),
                        )),
                        priority: p,
                        match_: *m,
                        actions: r.actions.as_ref().clone(),
                    });
                }
            }
            v.sort_by(|a, b| a.table.cmp(&b.table).then(b.priority.cmp(&a.priority)));
            v
        })
    }

    /// `ovs-ofctl dump-flows`'s text for `bridge` (port names when
    /// `names`), one line per rule.
    pub fn dump_flows_text(&self, bridge: &str, names: bool) -> Result<String, OfprotoError> {
        let lines = self.dump_flows(bridge, None, None)?;
        let cfg = self.read();
        let b = cfg
            .bridges
            .get(bridge)
            .ok_or_else(|| OfprotoError::NoSuchBridge(bridge.to_string()))?;
        let ports: &dyn crate::text::PortNames = if names { b } else { &crate::text::NoNames };
        Ok(lines.iter().map(|l| crate::text::format_flow_stats(l, ports) + "\n").collect())
    }

    /// `fdb/show`: the MAC table of `bridge`.
    pub fn fdb_show(&self, bridge: &str) -> Result<String, OfprotoError> {
        let now = self.now();
        self.with_bridge_read(bridge, |b| b.mac.lock().unwrap().format(now, &|p| p.to_string()))
    }

    /// `fdb/flush [bridge]`: forgets every learned entry (of one bridge or
    /// all).
    pub fn fdb_flush(&self, bridge: Option<&str>) -> Result<(), OfprotoError> {
        {
            let cfg = self.cfg.read().unwrap();
            match bridge {
                Some(name) => {
                    let b = cfg
                        .bridges
                        .get(name)
                        .ok_or_else(|| OfprotoError::NoSuchBridge(name.to_string()))?;
                    b.mac.lock().unwrap().flush();
                }
                None => cfg.bridges.values().for_each(|b| b.mac.lock().unwrap().flush()),
            }
        }
        self.changed();
        Ok(())
    }

    /// `fdb/add bridge port vlan mac`: a static entry.
    pub fn fdb_add(
        &self,
        bridge: &str,
        port: &str,
        vlan: u16,
        mac: rvs_packet::EthAddr,
    ) -> Result<(), OfprotoError> {
        if vlan > 4095 {
            return Err(OfprotoError::BadVlan(vlan.into()));
        }
        let now = self.now();
        self.with_bridge_read(bridge, |b| {
            let p = b.port_by_name(port).ok_or_else(|| OfprotoError::NoSuchPort {
                bridge: bridge.to_string(),
                port: port.to_string(),
            })?;
            b.mac.lock().unwrap().add_static(vlan, mac, p.ofport, now);
            Ok(())
        })??;
        self.changed();
        Ok(())
    }

    /// `fdb/del bridge vlan mac`: true if there was such an entry.
    pub fn fdb_del(
        &self,
        bridge: &str,
        vlan: u16,
        mac: rvs_packet::EthAddr,
    ) -> Result<bool, OfprotoError> {
        let had = self.with_bridge_read(bridge, |b| b.mac.lock().unwrap().delete(vlan, mac))?;
        if had {
            self.changed();
        }
        Ok(had)
    }

    /// Takes the queued flow-removed messages of `bridge`.
    pub fn take_flow_removed(&self, bridge: &str) -> Vec<crate::ofproto::FlowRemoved> {
        self.with_bridge_read(bridge, |b| b.flow_removed.lock().unwrap().drain(..).collect())
            .unwrap_or_default()
    }

    /// The signal `bridge` raises on packet-ins, flow-removed and changes.
    pub fn events(&self, bridge: &str) -> Option<Arc<crate::ofproto::Signal>> {
        self.with_bridge_read(bridge, |b| b.events.clone()).ok()
    }

    /// Sets the OpenFlow config bits of port `port` (an OpenFlow port_mod).
    pub fn port_mod(
        &self,
        bridge: &str,
        port: OfPort,
        config: PortConfig,
    ) -> Result<(), OfprotoError> {
        self.with_bridge(bridge, |b, _| {
            let p = b.ports.get_mut(&port).ok_or_else(|| OfprotoError::NoSuchPort {
                bridge: bridge.to_string(),
                port: port.to_string(),
            })?;
            p.config = config;
            Ok(())
        })
    }

    /// Tells `bridge` about its controllers: whether any is `configured`
    /// (a standalone bridge without controllers keeps the rule
    /// `priority=0,actions=NORMAL`; configuring one removes that rule, as
    /// OVS does), whether it is in `fail_open` (standalone, no controller
    /// reachable: act as a learning switch), and whether table misses go to
    /// the controller (`miss_to_controller`, for OpenFlow 1.0-1.2 controllers).
    pub fn set_controller_mode(
        &self,
        bridge: &str,
        configured: bool,
        fail_open: bool,
        miss_to_controller: bool,
    ) -> Result<(), OfprotoError> {
        let now = self.now();
        {
            // Most calls change nothing: check under the read lock first.
            let cfg = self.cfg.read().unwrap();
            let b = cfg
                .bridges
                .get(bridge)
                .ok_or_else(|| OfprotoError::NoSuchBridge(bridge.to_string()))?;
            let fail_open = fail_open && b.fail_mode == FailMode::Standalone;
            if b.fail_open == fail_open
                && b.miss_to_controller == miss_to_controller
                && b.controllers_configured == configured
            {
                return Ok(());
            }
        }
        let changed = {
            let mut cfg = self.cfg.write().unwrap();
            let b = cfg
                .bridges
                .get_mut(bridge)
                .ok_or_else(|| OfprotoError::NoSuchBridge(bridge.to_string()))?;
            let standalone = b.fail_mode == FailMode::Standalone;
            let fail_open = fail_open && standalone;
            let mut changed =
                b.fail_open != fail_open || b.miss_to_controller != miss_to_controller;
            b.fail_open = fail_open;
            b.miss_to_controller = miss_to_controller;
            if b.controllers_configured != configured {
                b.controllers_configured = configured;
                changed = true;
                if standalone {
                    let default_rule = FlowMod {
                        priority: 0,
                        actions: vec![OfAction::output(OfPort::NORMAL)],
                        ..FlowMod::default()
                    };
                    if configured {
                        let is_default = b.tables[0].iter().any(|(m, p, r)| {
                            p == 0 && m.wc.is_catchall() && *r.actions == default_rule.actions
                        });
                        if is_default {
                            let del = FlowMod {
                                command: crate::FlowModCommand::DeleteStrict,
                                ..default_rule
                            };
                            b.flow_mod(&del, now)?;
                        }
                    } else {
                        b.flow_mod(&default_rule, now)?;
                    }
                }
            }
            changed
        };
        if changed {
            self.changed();
        }
        Ok(())
    }

    /// Takes the queued packet-ins of `bridge`.
    pub fn take_packet_ins(&self, bridge: &str) -> Vec<PacketIn> {
        self.with_bridge_read(bridge, |b| b.packet_ins.lock().unwrap().drain(..).collect())
            .unwrap_or_default()
    }

    /// Translates a flow on `bridge` (for traces and packet-outs).
    pub fn translate(&self, xin: &XlateIn) -> XlateOut {
        xlate::xlate(&self.read(), xin)
    }

    /// `ofproto/trace` for `flow` on `bridge` (no side effects): the
    /// tables visited, rules matched, actions, and the final datapath
    /// actions and megaflow.
    pub fn trace(&self, bridge: &str, flow: &Flow) -> Result<String, OfprotoError> {
        let cfg = self.read();
        if !cfg.bridges.contains_key(bridge) {
            return Err(OfprotoError::NoSuchBridge(bridge.to_string()));
        }
        let out = xlate::xlate(
            &cfg,
            &XlateIn {
                bridge: bridge.to_string(),
                flow: *flow,
                actions: None,
                side_effects: false,
                trace: true,
                now: self.now(),
            },
        );
        Ok(crate::trace::render(&cfg, bridge, flow, &out))
    }

    /// `ofproto/trace BRIDGE FLOW [PACKET]` with the flow in ovs-ofctl's
    /// match syntax (`in_port=1,dl_src=...,tcp,tp_dst=80`) and, optionally,
    /// the packet in hex, whose headers then fill the flow (the flow's
    /// `in_port` still applies).
    pub fn trace_str(
        &self,
        bridge: &str,
        flow: &str,
        packet_hex: Option<&str>,
    ) -> Result<String, OfprotoError> {
        let parsed = {
            let cfg = self.read();
            let b = cfg
                .bridges
                .get(bridge)
                .ok_or_else(|| OfprotoError::NoSuchBridge(bridge.to_string()))?;
            crate::text::parse_match(flow, b).map_err(|e| OfprotoError::BadFlow(e.to_string()))?
        };
        let mut f = parsed.flow;
        if let Some(hex) = packet_hex {
            let bytes = crate::trace::parse_hex(hex).ok_or_else(|| {
                OfprotoError::BadFlow(format!("\"{hex}\" is not a packet in hex"))
            })?;
            let mut p = Packet::from_bytes(&bytes);
            let mut key = FlowKey::new();
            rvs_packet::flow::extract(&mut p, &mut key);
            let in_port = f.in_port();
            let pipeline = f.w[crate::flow::W_METADATA..].to_vec();
            f = Flow::from_key(&key, in_port);
            f.w[crate::flow::W_METADATA..].copy_from_slice(&pipeline);
        }
        self.trace(bridge, &f)
    }

    /// Sends `packet` through `actions` as if it came in on `in_port`
    /// (OpenFlow packet-out).
    pub fn packet_out(
        &self,
        bridge: &str,
        mut packet: Packet,
        in_port: OfPort,
        actions: Vec<OfAction>,
    ) -> Result<(), OfprotoError> {
        let mut key = FlowKey::new();
        rvs_packet::flow::extract(&mut packet, &mut key);
        let flow = Flow::from_key(&key, in_port);
        let out = self.translate(&XlateIn {
            bridge: bridge.to_string(),
            flow,
            actions: Some(actions),
            side_effects: true,
            trace: false,
            now: self.now(),
        });
        self.dpif.execute(packet, &out.actions).map_err(|e| OfprotoError::Dpif(e.to_string()))
    }

    fn handle_upcall(&self, key: &FlowKey) -> UpcallReply {
        self.stats.upcalls.fetch_add(1, Ordering::Relaxed);
        let now = self.now();
        let seq = self.seq.load(Ordering::SeqCst);
        let cfg = self.cfg.read().unwrap();
        let Some((bridge, ofport)) = cfg.odp_map.get(&key.in_port()).cloned() else {
            // A port no bridge knows (yet): drop, matching just the port.
            return UpcallReply {
                actions: Vec::new(),
                mask: rvs_packet::Mask::zero(),
                ufid: None,
                install: true,
            };
        };
        let flow = Flow::from_key(key, ofport);
        let out = xlate::xlate(
            &cfg,
            &XlateIn { bridge, flow, actions: None, side_effects: true, trace: false, now },
        );
        drop(cfg);
        if out.mac_changed {
            self.changed();
        }
        let mask = out.wc.to_dp_mask();
        let ufid = Ufid::from_match(key, &mask);
        let actions = match out.error {
            Some(e) => vec![OdpAction::Drop(DropReason::Xlate(e.code()))],
            None => out.actions,
        };
        self.ukeys.lock().unwrap().insert(
            ufid,
            Ukey { rules: out.rules, macs: out.macs, packets: 0, bytes: 0, seq, created: now },
        );
        UpcallReply { actions, mask, ufid: Some(ufid), install: true }
    }

    fn handle_controller(&self, packet: &Packet, action: &UserspaceAction) {
        let Some(c) = xlate::decode_controller(&action.userdata) else { return };
        let cfg = self.cfg.read().unwrap();
        let Some(b) = cfg.bridge_by_id(c.bridge_id) else { return };
        let data = packet.data();
        let max =
            if c.max_len == u16::MAX { data.len() } else { usize::from(c.max_len).min(data.len()) };
        b.queue_packet_in(PacketIn {
            packet: data[..max].to_vec(),
            total_len: data.len(),
            in_port: c.in_port,
            reason: c.reason,
            table: c.table,
            cookie: c.cookie,
            controller_id: c.controller_id,
            userdata: c.userdata,
            pipeline: c.pipeline,
        });
    }

    /// One round of maintenance: rule timeouts, MAC aging, then a
    /// revalidation pass over the datapath's flows (statistics, idle
    /// expiry, and re-translation if anything changed).
    pub fn run(&self) {
        let now = self.now();
        let mut changed = false;
        {
            let mut cfg = self.cfg.write().unwrap();
            for b in cfg.bridges.values_mut() {
                if b.expire_rules(now) > 0 {
                    changed = true;
                }
                let mut mac = b.mac.lock().unwrap();
                if mac.expire(now) > 0 {
                    changed = true;
                }
            }
        }
        if changed {
            self.seq.fetch_add(1, Ordering::SeqCst);
        }
        self.revalidate();
    }

    /// One revalidation pass.
    pub fn revalidate(&self) {
        let start = Instant::now();
        let now = self.now();
        let seq = self.seq.load(Ordering::SeqCst);
        let max_idle = Duration::from_millis(self.max_idle_ms.load(Ordering::Relaxed));
        let flows = self.dpif.flow_dump();
        let cfg = self.cfg.read().unwrap();
        let mut ukeys = self.ukeys.lock().unwrap();
        let mut live = std::collections::HashSet::with_capacity(flows.len());
        let mut deletes = Vec::new();
        let mut puts = Vec::new();
        for f in &flows {
            live.insert(f.ufid);
            let uk = ukeys.entry(f.ufid).or_insert_with(|| Ukey {
                rules: Vec::new(),
                macs: Vec::new(),
                packets: 0,
                bytes: 0,
                seq: 0,
                created: now,
            });
            // Statistics back to rules and MAC entries.
            let dp = f.stats.packets.saturating_sub(uk.packets);
            let db = f.stats.bytes.saturating_sub(uk.bytes);
            if dp > 0 {
                for r in &uk.rules {
                    r.credit(dp, db, now);
                }
                for m in &uk.macs {
                    if let Some(b) = cfg.bridges.get(&m.bridge) {
                        b.mac.lock().unwrap().refresh(m.vlan, m.mac, m.port, now);
                    }
                }
            }
            uk.packets = f.stats.packets;
            uk.bytes = f.stats.bytes;
            let used = f.stats.used.unwrap_or(uk.created).max(uk.created);
            if now.saturating_sub(used) >= max_idle {
                deletes.push(f.ufid);
                self.stats.idle_deleted.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if uk.seq == seq {
                continue;
            }
            // Re-translate.
            let Some((bridge, ofport)) = cfg.odp_map.get(&f.key.in_port()).cloned() else {
                deletes.push(f.ufid);
                continue;
            };
            let flow = Flow::from_key(&f.key, ofport);
            let out = xlate::xlate(
                &cfg,
                &XlateIn { bridge, flow, actions: None, side_effects: false, trace: false, now },
            );
            let need = out.wc.to_dp_mask();
            if !need.is_subset_of(&f.mask) {
                deletes.push(f.ufid);
                self.stats.reval_deleted.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let actions = match out.error {
                Some(e) => vec![OdpAction::Drop(DropReason::Xlate(e.code()))],
                None => out.actions,
            };
            if actions != f.actions {
                puts.push(FlowPut {
                    ufid: Some(f.ufid),
                    key: f.key,
                    mask: f.mask,
                    actions,
                    flags: PutFlags::MODIFY,
                });
                self.stats.reval_modified.fetch_add(1, Ordering::Relaxed);
            }
            uk.rules = out.rules;
            uk.macs = out.macs;
            uk.seq = seq;
        }
        ukeys.retain(|u, _| live.contains(u));
        drop(cfg);
        for u in &deletes {
            if let Ok(st) = self.dpif.flow_del(&FlowId::Ufid(*u)) {
                if let Some(uk) = ukeys.remove(u) {
                    let dp = st.packets.saturating_sub(uk.packets);
                    if dp > 0 {
                        let db = st.bytes.saturating_sub(uk.bytes);
                        uk.rules.iter().for_each(|r| r.credit(dp, db, now));
                    }
                }
            }
        }
        drop(ukeys);
        for p in puts {
            let _ = self.dpif.flow_put(p);
        }
        self.stats.passes.fetch_add(1, Ordering::Relaxed);
        self.stats.last_pass_us.store(start.elapsed().as_micros() as u64, Ordering::Relaxed);
    }
}

fn revalidator_main(weak: Weak<Backer>) {
    loop {
        let Some(b) = weak.upgrade() else { return };
        if b.stop.load(Ordering::SeqCst) {
            return;
        }
        b.run();
        let (m, c) = &b.wake;
        let mut woken = m.lock().unwrap();
        if !*woken {
            woken = c.wait_timeout(woken, REVALIDATE_PERIOD).unwrap().0;
        }
        *woken = false;
    }
}
