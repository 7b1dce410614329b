//! Applying the database to the switch: the rows of `Open_vSwitch`,
//! `Bridge`, `Port` and `Interface` become bridges, ports and netdevs,
//! changing only what changed, and status goes back into the rows
//! (`ofport`, `error`, `cur_cfg`).
//!
//! A bad interface (unknown type, a device that cannot be opened, a patch
//! port without a peer) gets an `error` and the rest carries on.
//!
//! The database comes as JSON, `{"<table>": {"<uuid>": <row>}}`: the
//! embedded server's dump, or the replica that `extdb` keeps of an external
//! server. Only the columns read here matter; others (OVS's schema has many
//! more) are ignored. A fake bridge is a Port of its parent with
//! `fake_bridge=true`, so it becomes a tagged internal port of the parent,
//! never a bridge of its own.

use rvs_datapath::netdev::dummy::DummyNetdev;
use rvs_datapath::netdev::{Netdev, NetdevRegistry};
use rvs_datapath::{EgressPolicer, IngressPolicing};
use rvs_ofproto::backer::{BridgeSettings, PortSettings};
use rvs_ofproto::connmgr::{BridgeOfConfig, ConnMgr, ControllerConfig};
use rvs_ofproto::ofp::Version;
use rvs_ofproto::ofproto::{Mirror, MirrorOutput, PortConfig, PortKind};
use rvs_ofproto::{Backer, FailMode, OfPort, PortVlan, VlanMode};
use rvs_packet::EthAddr;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Reads RFC 7047 datum notation.
pub(crate) mod datum {
    use serde_json::Value;
    use std::collections::BTreeMap;

    pub fn atoms(v: &Value) -> Vec<&Value> {
        match v.as_array() {
            Some(a) if a.len() == 2 && a[0] == "set" => {
                a[1].as_array().map(|x| x.iter().collect()).unwrap_or_default()
            }
            _ => vec![v],
        }
    }

    pub fn string(v: Option<&Value>) -> Option<String> {
        atoms(v?).first().and_then(|a| a.as_str()).map(str::to_string)
    }

    pub fn int(v: Option<&Value>) -> Option<i64> {
        atoms(v?).first().and_then(|a| a.as_i64())
    }

    pub fn ints(v: Option<&Value>) -> Vec<i64> {
        v.map(|v| atoms(v).into_iter().filter_map(|a| a.as_i64()).collect()).unwrap_or_default()
    }

    pub fn uuids(v: Option<&Value>) -> Vec<String> {
        v.map(|v| {
            atoms(v)
                .into_iter()
                .filter_map(|a| {
                    a.as_array()
                        .filter(|x| x.len() == 2 && x[0] == "uuid")
                        .and_then(|x| x[1].as_str())
                })
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
    }

    pub fn map(v: Option<&Value>) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if let Some(pairs) = v
            .and_then(|v| v.as_array())
            .filter(|a| a.len() == 2 && a[0] == "map")
            .and_then(|a| a[1].as_array())
        {
            for p in pairs {
                if let (Some(k), Some(val)) = (p.get(0).and_then(|x| x.as_str()), p.get(1)) {
                    let val = val.as_str().map(str::to_string).unwrap_or_else(|| val.to_string());
                    out.insert(k.to_string(), val);
                }
            }
        }
        out
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct IfaceWant {
    uuid: String,
    name: String,
    kind: String,
    options: BTreeMap<String, String>,
    ofport_request: Option<u16>,
    /// The number the interface had before (kept across restarts, as OVS
    /// does), used when nothing is requested.
    ofport_hint: Option<u16>,
    vlan: PortVlan,
    /// `other_config:pmd-rxq-affinity`, as written.
    rxq_affinity: Option<String>,
    /// `mtu_request`.
    mtu_request: Option<i64>,
    /// `mac`.
    mac: Option<String>,
    /// `ingress_policing_rate`, `_burst`, `_kpkts_rate`, `_kpkts_burst`.
    policing: IngressPolicing,
    /// Its port's QoS row: `type` and `other_config`.
    qos: Option<(String, BTreeMap<String, String>)>,
}

#[derive(Clone, Debug, PartialEq)]
struct BridgeWant {
    name: String,
    fail_mode: FailMode,
    mac_size: usize,
    mac_aging: Duration,
    ifaces: Vec<IfaceWant>,
    /// OpenFlow: controllers, versions, datapath id (the management
    /// socket is added when applied).
    of: BridgeOfConfig,
    /// Controller rows: (uuid, target).
    controllers: Vec<(String, String)>,
    /// `other_config:hwaddr`: the MAC of the bridge's own port (unless its
    /// Interface row sets `mac`).
    hwaddr: Option<String>,
    /// `mirrors`, with ports by name.
    mirrors: Vec<MirrorWant>,
}

/// A Mirror row, with its ports by name.
#[derive(Clone, Debug, PartialEq, Default)]
struct MirrorWant {
    name: String,
    select_all: bool,
    select_src: Vec<String>,
    select_dst: Vec<String>,
    select_vlan: Vec<i64>,
    output_port: Option<String>,
    output_vlan: Option<i64>,
    snaplen: Option<i64>,
}

/// What the database asks for.
#[derive(Debug, Default)]
struct Want {
    /// Configured features rvs does not have, each a warning to say.
    unsupported: Vec<String>,
    bridges: Vec<BridgeWant>,
    next_cfg: i64,
    root: Option<String>,
    /// The datapath settings of `Open_vSwitch:other_config`.
    dp: DpWant,
}

/// One datapath setting as the database has it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Setting<T> {
    /// The key is absent: the default applies.
    #[default]
    Unset,
    /// The key holds a valid value.
    Set(T),
    /// The key holds a value that is refused (with a warning that names
    /// the key and the value): the running value stays as it was.
    Invalid,
}

impl<T: Copy + PartialEq> Setting<T> {
    /// The value to apply when it differs from `cur`, the one applied
    /// last: `Some(None)` goes back to the default, `Some(Some(v))` applies
    /// `v`, `None` keeps what runs (unchanged or invalid).
    fn change_from(self, cur: Setting<T>) -> Option<Option<T>> {
        match self {
            Setting::Invalid => None,
            _ if self == cur => None,
            Setting::Set(v) => Some(Some(v)),
            Setting::Unset => Some(None),
        }
    }

    /// The setting with its value converted by `f`; invalid where `f`
    /// gives nothing.
    fn and_then<U>(self, f: impl FnOnce(T) -> Option<U>) -> Setting<U> {
        match self {
            Setting::Set(v) => f(v).map_or(Setting::Invalid, Setting::Set),
            Setting::Unset => Setting::Unset,
            Setting::Invalid => Setting::Invalid,
        }
    }

    /// The valid value, if any.
    pub fn value(self) -> Option<T> {
        match self {
            Setting::Set(v) => Some(v),
            _ => None,
        }
    }
}

/// `Open_vSwitch:other_config` keys for the datapath, as OVS reads them
/// (`max-idle` in ms, `flow-limit` in flows, `tx-flush-interval` in µs, at
/// most 1,000,000) plus `n-pmd-threads` and rvs's own
/// `userspace-gro-enable` (`true` unless set to `false`),
/// `pmd-busy-poll-us` (at most 1,000,000) and `pmd-idle-yield`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DpWant {
    /// How long an idle datapath flow lives, in ms.
    pub max_idle: Setting<u64>,
    /// Most datapath flows.
    pub flow_limit: Setting<usize>,
    /// Poll threads (applied when the datapath is created).
    pub n_pmd_threads: Setting<usize>,
    /// Software GRO on output (unset: the default, on).
    pub gro: Setting<bool>,
    /// Longest output may wait for more packets, µs: rvs holds only output
    /// that software GRO may still grow, while input flows
    /// ([`rvs_datapath::DpConfig::gro_hold`]).
    pub tx_flush_interval: Setting<u64>,
    /// How long an idle poll thread keeps polling before it sleeps, µs
    /// ([`rvs_datapath::DpConfig::busy_poll`]).
    pub busy_poll_us: Setting<u64>,
    /// Whether a busy-polling thread lets other threads run first
    /// ([`rvs_datapath::DpConfig::idle_yield`]).
    pub idle_yield: Setting<bool>,
    /// `pmd-cpu-mask`: one poll thread on each CPU of the mask (applied
    /// when the datapath is created; it then takes the place of
    /// `n-pmd-threads`).
    pub pmd_cpu_mask: Setting<u64>,
}

/// The CPUs of a `pmd-cpu-mask`, lowest first.
pub fn mask_cpus(mask: u64) -> Vec<usize> {
    (0..64).filter(|i| mask & (1 << i) != 0).collect()
}

/// Reads the datapath settings from the database (as JSON). A value that
/// does not parse or is out of range is warned about and read as
/// [`Setting::Invalid`], so that applying it changes nothing.
pub fn read_dp_want(db: &Value) -> DpWant {
    let root = db.get("Open_vSwitch").and_then(|t| t.as_object()).and_then(|t| t.values().next());
    let oc = datum::map(root.and_then(|r| r.get("other_config")));
    let read = |k: &str, parse: &dyn Fn(&str) -> Result<u64, &'static str>| -> Setting<u64> {
        let Some(v) = oc.get(k) else { return Setting::Unset };
        match parse(v) {
            Ok(n) => Setting::Set(n),
            Err(why) => {
                tracing::warn!("other_config:{k}=\"{v}\" {why}: ignored, the running value stays");
                Setting::Invalid
            }
        }
    };
    let number = |v: &str| v.parse::<u64>().map_err(|_| "is not a number");
    let micros = |v: &str| {
        let us = number(v)?;
        if us > 1_000_000 {
            return Err("is more than 1000000 µs");
        }
        Ok(us)
    };
    let boolean = |k: &str| {
        read(k, &|v| match v {
            "true" => Ok(1),
            "false" => Ok(0),
            _ => Err("is not true or false"),
        })
        .and_then(|n| Some(n == 1))
    };
    let usize_of = |s: Setting<u64>| s.and_then(|n| usize::try_from(n).ok());
    DpWant {
        max_idle: read("max-idle", &number),
        flow_limit: usize_of(read("flow-limit", &number)),
        n_pmd_threads: usize_of(read("n-pmd-threads", &number)),
        tx_flush_interval: read("tx-flush-interval", &micros),
        gro: boolean("userspace-gro-enable"),
        busy_poll_us: read("pmd-busy-poll-us", &micros),
        idle_yield: boolean("pmd-idle-yield"),
        pmd_cpu_mask: read("pmd-cpu-mask", &|v| {
            let hex = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")).unwrap_or(v);
            match u64::from_str_radix(hex, 16) {
                Ok(0) => Err("names no CPU"),
                Ok(m) => Ok(m),
                Err(_) => Err("is not a hexadecimal mask of at most 64 CPUs"),
            }
        }),
    }
}

fn read_want(db: &Value) -> Want {
    let t = |name: &str| db.get(name).and_then(|v| v.as_object()).cloned().unwrap_or_default();
    let (ovs, bridges, ports, ifaces) = (t("Open_vSwitch"), t("Bridge"), t("Port"), t("Interface"));
    let (qoses, mirrors) = (t("QoS"), t("Mirror"));
    let mut w = Want::default();
    let Some((root_uuid, root)) = ovs.iter().next() else { return w };
    w.root = Some(root_uuid.clone());
    w.next_cfg = datum::int(root.get("next_cfg")).unwrap_or(0);
    w.dp = read_dp_want(db);
    let set = |v: Option<&Value>| {
        v.is_some_and(|v| !datum::atoms(v).is_empty() && v != &json!(["map", []]))
    };
    if set(root.get("datapaths")) {
        w.unsupported.push(
            "datapaths (connection-tracking zones and timeout policies) are not supported by \
             rvs; ignored"
                .into(),
        );
    }
    for bu in datum::uuids(root.get("bridges")) {
        let Some(b) = bridges.get(&bu) else { continue };
        let name = datum::string(b.get("name")).unwrap_or_default();
        for col in ["netflow", "sflow", "ipfix", "auto_attach", "flow_tables"] {
            if set(b.get(col)) {
                w.unsupported
                    .push(format!("bridge {name}: {col} is not supported by rvs; ignored"));
            }
        }
        let oc = datum::map(b.get("other_config"));
        let fail_mode = match datum::string(b.get("fail_mode")).as_deref() {
            Some("secure") => FailMode::Secure,
            _ => FailMode::Standalone,
        };
        let mut bw = BridgeWant {
            name: name.clone(),
            fail_mode,
            mac_size: oc.get("mac-table-size").and_then(|s| s.parse().ok()).unwrap_or(8192),
            mac_aging: Duration::from_secs(
                oc.get("mac-aging-time").and_then(|s| s.parse().ok()).unwrap_or(300),
            ),
            ifaces: Vec::new(),
            of: BridgeOfConfig::default(),
            controllers: Vec::new(),
            hwaddr: oc.get("hwaddr").cloned(),
            mirrors: Vec::new(),
        };
        let port_name = |u: &String| ports.get(u).and_then(|p| datum::string(p.get("name")));
        let port_names =
            |v: Option<&Value>| datum::uuids(v).iter().filter_map(port_name).collect::<Vec<_>>();
        for mu in datum::uuids(b.get("mirrors")) {
            let Some(m) = mirrors.get(&mu) else { continue };
            bw.mirrors.push(MirrorWant {
                name: datum::string(m.get("name")).unwrap_or_default(),
                select_all: m.get("select_all").and_then(Value::as_bool).unwrap_or(false),
                select_src: port_names(m.get("select_src_port")),
                select_dst: port_names(m.get("select_dst_port")),
                select_vlan: datum::ints(m.get("select_vlan")),
                output_port: datum::uuids(m.get("output_port")).first().and_then(port_name),
                output_vlan: datum::int(m.get("output_vlan")),
                snaplen: datum::int(m.get("snaplen")),
            });
        }
        let protocols: Vec<String> = match b.get("protocols") {
            Some(v) => {
                datum::atoms(v).into_iter().filter_map(|a| a.as_str()).map(str::to_string).collect()
            }
            None => Vec::new(),
        };
        if !protocols.is_empty() {
            bw.of.versions = protocols
                .iter()
                .filter_map(|p| Version::from_name(p))
                .fold(0, |acc, v| acc | v.bit());
        }
        bw.of.datapath_id = oc
            .get("datapath-id")
            .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok());
        let ctls = t("Controller");
        for cu in datum::uuids(b.get("controller")) {
            let Some(c) = ctls.get(&cu) else { continue };
            let target = datum::string(c.get("target")).unwrap_or_default();
            let mut cc = ControllerConfig::new(&target);
            if let Some(ms) = datum::int(c.get("inactivity_probe")) {
                cc.probe = (ms > 0).then(|| Duration::from_millis(ms.max(1000) as u64));
            }
            if let Some(ms) = datum::int(c.get("max_backoff")) {
                cc.max_backoff = Duration::from_millis(ms.max(1000) as u64);
            }
            bw.of.controllers.push(cc);
            bw.controllers.push((cu.clone(), target));
        }
        for pu in datum::uuids(b.get("ports")) {
            let Some(p) = ports.get(&pu) else { continue };
            let mode = datum::string(p.get("vlan_mode")).and_then(|m| m.parse::<VlanMode>().ok());
            let vlan = PortVlan {
                mode,
                tag: datum::int(p.get("tag")).map(|t| t as u16),
                trunks: datum::ints(p.get("trunks")).into_iter().map(|t| t as u16).collect(),
            };
            let qos = datum::uuids(p.get("qos")).first().and_then(|u| qoses.get(u)).map(|q| {
                (
                    datum::string(q.get("type")).unwrap_or_default(),
                    datum::map(q.get("other_config")),
                )
            });
            let members = datum::uuids(p.get("interfaces"));
            if members.len() > 1 {
                let port = datum::string(p.get("name")).unwrap_or_default();
                w.unsupported.push(format!(
                    "bridge {name}: port {port} bonds {} interfaces, and rvs has no bonding: \
                     each is a port of its own",
                    members.len()
                ));
            }
            for iu in members {
                let Some(i) = ifaces.get(&iu) else { continue };
                bw.ifaces.push(IfaceWant {
                    uuid: iu.clone(),
                    name: datum::string(i.get("name")).unwrap_or_default(),
                    kind: datum::string(i.get("type")).unwrap_or_default(),
                    options: datum::map(i.get("options")),
                    ofport_request: datum::int(i.get("ofport_request")).map(|v| v as u16),
                    ofport_hint: datum::int(i.get("ofport"))
                        .filter(|v| (1..0xff00).contains(v))
                        .map(|v| v as u16),
                    vlan: vlan.clone(),
                    rxq_affinity: datum::map(i.get("other_config")).remove("pmd-rxq-affinity"),
                    mtu_request: datum::int(i.get("mtu_request")),
                    mac: datum::string(i.get("mac")),
                    policing: policing_of(i),
                    qos: qos.clone(),
                });
            }
        }
        // A deterministic order: ports added together get numbers by name.
        bw.ifaces.sort_by(|a, b| a.name.cmp(&b.name));
        w.bridges.push(bw);
    }
    w
}

/// A bridge's mirror rows as applied, and its ports (by name) then.
type MirrorsApplied = (Vec<MirrorWant>, BTreeMap<String, OfPort>);

/// A bridge as applied, with its interfaces by name.
type Applied = (BridgeWant, HashMap<String, IfaceWant>);

/// The reconciler and what it has applied.
pub struct Reconciler {
    backer: Arc<Backer>,
    netdevs: NetdevRegistry,
    /// `--enable-dummy`: every device is a dummy.
    dummy: bool,
    /// Dummy devices by name (for `netdev-dummy/receive`).
    pub dummies: Mutex<HashMap<String, Arc<DummyNetdev>>>,
    applied: Mutex<HashMap<String, Applied>>,
    errors: Mutex<HashMap<String, String>>,
    /// The MTU and MAC last asked of each interface, by bridge, interface
    /// and setting (`mtu`, `mac`): by its row or, for the MTU of an
    /// internal port without a request, by its bridge.
    device_settings: Mutex<HashMap<(String, String, &'static str), String>>,
    /// The warnings about unsupported features said so far (each once
    /// while it stays configured).
    unsupported_said: Mutex<std::collections::BTreeSet<String>>,
    /// The mirrors last applied to each bridge, with the bridge's ports
    /// they were resolved against.
    mirrors_applied: Mutex<HashMap<String, MirrorsApplied>>,
    /// Policing settings that could not apply, by bridge, interface and
    /// direction, so that each is warned about once.
    policing_refused: Mutex<HashMap<(String, String, &'static str), String>>,
    /// OpenFlow connections, and the run directory for management sockets.
    openflow: Option<(Arc<ConnMgr>, PathBuf)>,
    /// The datapath, for its own settings, and what was applied.
    datapath: Option<(Arc<rvs_datapath::DpNetdev>, Mutex<DpWant>)>,
}

impl Reconciler {
    /// A reconciler driving `backer`.
    pub fn new(backer: Arc<Backer>, dummy: bool) -> Self {
        Reconciler {
            backer,
            netdevs: NetdevRegistry::new(),
            dummy,
            dummies: Mutex::new(HashMap::new()),
            applied: Mutex::new(HashMap::new()),
            errors: Mutex::new(HashMap::new()),
            device_settings: Mutex::new(HashMap::new()),
            policing_refused: Mutex::new(HashMap::new()),
            mirrors_applied: Mutex::new(HashMap::new()),
            unsupported_said: Mutex::new(std::collections::BTreeSet::new()),
            openflow: None,
            datapath: None,
        }
    }

    /// Applies `Open_vSwitch:other_config`'s datapath settings to `dp`
    /// (`n_pmd_threads` is what it was created with).
    pub fn with_datapath(mut self, dp: Arc<rvs_datapath::DpNetdev>, n_pmd_threads: usize) -> Self {
        let cpus: Vec<usize> = (1..=n_pmd_threads).filter_map(|t| dp.thread_cpu(t)).collect();
        let mask = cpus.iter().fold(0u64, |m, c| m | (1 << c));
        let applied = DpWant {
            n_pmd_threads: Setting::Set(n_pmd_threads),
            pmd_cpu_mask: if mask == 0 { Setting::Unset } else { Setting::Set(mask) },
            ..DpWant::default()
        };
        self.datapath = Some((dp, Mutex::new(applied)));
        self
    }

    fn apply_dp(&self, want: &DpWant) {
        let Some((dp, applied)) = &self.datapath else { return };
        let mut cur = applied.lock().unwrap();
        if let Some(ms) = want.max_idle.change_from(cur.max_idle) {
            self.backer.set_max_idle(Duration::from_millis(ms.unwrap_or(10_000).max(100)));
            cur.max_idle = want.max_idle;
        }
        if let Some(n) = want.flow_limit.change_from(cur.flow_limit) {
            dp.set_flow_limit(n.unwrap_or(200_000));
            cur.flow_limit = want.flow_limit;
        }
        if let Some(on) = want.gro.change_from(cur.gro) {
            dp.set_gro(on.unwrap_or(true));
            cur.gro = want.gro;
        }
        if let Some(us) = want.tx_flush_interval.change_from(cur.tx_flush_interval) {
            let us = us.unwrap_or(rvs_datapath::dpif_netdev::DEFAULT_GRO_HOLD_US);
            dp.set_gro_hold(Duration::from_micros(us));
            cur.tx_flush_interval = want.tx_flush_interval;
        }
        let busy = want.busy_poll_us.change_from(cur.busy_poll_us);
        let yielding = want.idle_yield.change_from(cur.idle_yield);
        if busy.is_some() || yielding.is_some() {
            use rvs_datapath::dpif_netdev::{DEFAULT_BUSY_POLL_US, DEFAULT_IDLE_YIELD};
            if busy.is_some() {
                cur.busy_poll_us = want.busy_poll_us;
            }
            if yielding.is_some() {
                cur.idle_yield = want.idle_yield;
            }
            dp.set_busy_poll(
                Duration::from_micros(cur.busy_poll_us.value().unwrap_or(DEFAULT_BUSY_POLL_US)),
                cur.idle_yield.value().unwrap_or(DEFAULT_IDLE_YIELD),
            );
        }
        if let Setting::Set(m) = want.pmd_cpu_mask {
            if want.pmd_cpu_mask != cur.pmd_cpu_mask {
                tracing::warn!(
                    "other_config:pmd-cpu-mask={m:#x}: the poll threads run where they were \
                     started; the new mask applies when rvs-vswitchd restarts"
                );
                cur.pmd_cpu_mask = want.pmd_cpu_mask;
            }
        } else if let Setting::Set(n) = want.n_pmd_threads {
            if Setting::Set(n.max(1)) != cur.n_pmd_threads {
                tracing::warn!(
                    "other_config:n-pmd-threads={n}: the datapath runs {} poll threads; \
                     the new number applies when rvs-vswitchd restarts",
                    cur.n_pmd_threads.value().unwrap_or(1)
                );
                cur.n_pmd_threads = Setting::Set(n.max(1));
            }
        }
    }

    /// Pins the receive queues of `iface` to poll threads as its
    /// `other_config:pmd-rxq-affinity` asks (`<queue>:<core>,...`, the core
    /// being the `core_id` that `dpif-netdev/pmd-rxq-show` prints, see
    /// [`core_of`]); threads with pinned queues are isolated, as in OVS. A
    /// value that does not parse, or names a queue or a core without a poll
    /// thread, is warned about and changes nothing. Without the key nothing of the
    /// interface is pinned, and its queues stay where they are.
    fn apply_rxq_affinity(&self, iface: &IfaceWant) {
        let Some((dp, _)) = &self.datapath else { return };
        let value = iface.rxq_affinity.as_deref().unwrap_or("");
        let name = &iface.name;
        let refuse = |why: &dyn std::fmt::Display| {
            tracing::warn!(
                "interface {name}: other_config:pmd-rxq-affinity=\"{value}\" {why}: \
                 ignored, the queues stay where they are"
            );
        };
        let pins = match parse_rxq_affinity(value) {
            Ok(p) => p,
            Err(e) => return refuse(&e),
        };
        let mut threads = Vec::with_capacity(pins.len());
        for (q, core) in pins {
            match thread_on_core(dp, core) {
                Some(t) => threads.push((q, t)),
                None => return refuse(&format!("has core {core}, where no poll thread runs")),
            }
        }
        let pins = threads;
        let port = match rvs_datapath::Dpif::port_query_by_name(&**dp, name) {
            Ok(p) => p.port_no,
            Err(e) => return refuse(&e),
        };
        if let Err(e) = dp.set_rxq_affinity(port, &pins) {
            refuse(&e);
        }
    }

    /// Gives each of `bw`'s interfaces the ingress policing its row asks
    /// for (none when it sets no rate), and the egress policer its port's
    /// QoS asks for (type `egress-policer`; none without a QoS row). The
    /// datapath polices what a port receives, before any flow lookup, and
    /// what it sends, whatever the port's type. What cannot apply (policing
    /// a patch or tunnel port, another QoS type, a QoS setting that is not
    /// a positive number) is warned about once per value, naming the
    /// interface and the value, and the port keeps what it had.
    fn apply_policing(&self, bw: &BridgeWant) {
        let Some((dp, _)) = &self.datapath else { return };
        let kinds: HashMap<String, PortKind> = {
            let cfg = self.backer.read();
            let Some(b) = cfg.bridges.get(&bw.name) else { return };
            b.ports.values().map(|p| (p.name.clone(), p.kind.clone())).collect()
        };
        let mut refused = self.policing_refused.lock().unwrap();
        refused.retain(|(br, name, _), _| br != &bw.name || kinds.contains_key(name));
        for w in &bw.ifaces {
            let Some(kind) = kinds.get(&w.name) else { continue };
            let odp = match kind {
                PortKind::Datapath(odp) => Some(*odp),
                PortKind::Patch { .. } => None,
            };
            // Ingress policing.
            let p = w.policing;
            let what = || {
                format!(
                    "ingress_policing_rate={} ingress_policing_burst={} \
                     ingress_policing_kpkts_rate={} ingress_policing_kpkts_burst={}",
                    p.kbits_rate, p.kbits_burst, p.kpkts_rate, p.kpkts_burst
                )
            };
            let result = match odp {
                Some(odp) if dp.ingress_policing(odp).ok() == Some(p) => Ok(()),
                Some(odp) => dp.set_ingress_policing(odp, &p).map_err(|e| e.to_string()),
                None if p.is_on() => Err("a patch port receives nothing to police".to_string()),
                None => Ok(()),
            };
            warn_refused(&mut refused, (&bw.name, &w.name, "ingress"), what, result);
            // Egress: the port's QoS.
            let egress = match &w.qos {
                None => Ok(EgressPolicer::default()),
                Some((kind, oc)) => egress_policer(kind, oc),
            };
            let what = || match &w.qos {
                None => String::new(),
                Some((kind, oc)) => {
                    let shown: Vec<String> =
                        oc.iter().map(|(k, v)| format!(" other_config:{k}=\"{v}\"")).collect();
                    format!("QoS type=\"{kind}\"{}", shown.concat())
                }
            };
            let result = match (odp, egress) {
                (_, Err(e)) => Err(e),
                (Some(odp), Ok(e)) if dp.egress_policer(odp).ok() == Some(e) => Ok(()),
                (Some(odp), Ok(e)) => dp.set_egress_policer(odp, &e).map_err(|e| e.to_string()),
                (None, Ok(e)) if e.cir > 0 => Err("a patch port sends nothing to police".into()),
                (None, Ok(_)) => Ok(()),
            };
            warn_refused(&mut refused, (&bw.name, &w.name, "egress"), what, result);
        }
    }

    /// Gives the bridge the mirrors of its `mirrors` column, each with its
    /// ports resolved by name. As in OVS, a mirror must name exactly one of
    /// `output_port` (a port of the bridge) and `output_vlan`, and select
    /// something (`select_all`, or ports); one that does not is left out
    /// with a warning that names it and why, and the others apply.
    /// Selected ports not (yet) in the bridge are left out of the
    /// selection. Applied again when the rows or the bridge's ports change.
    fn apply_mirrors(&self, bw: &BridgeWant) {
        let ports: BTreeMap<String, OfPort> = match self.backer.with_bridge_read(&bw.name, |b| {
            b.ports.values().map(|p| (p.name.clone(), p.ofport)).collect()
        }) {
            Ok(p) => p,
            Err(_) => return,
        };
        let mut applied = self.mirrors_applied.lock().unwrap();
        let key = (bw.mirrors.clone(), ports);
        if applied.get(&bw.name) == Some(&key) {
            return;
        }
        let ports = &key.1;
        let mut mirrors = Vec::new();
        for w in &bw.mirrors {
            let warn = |why: &str| {
                tracing::warn!("bridge {}: mirror {}: {why}; left out", bw.name, w.name);
            };
            let output = match (&w.output_port, w.output_vlan) {
                (Some(p), None) => match ports.get(p) {
                    Some(o) => MirrorOutput::Port(*o),
                    None => {
                        warn(&format!("output_port {p} is not a port of the bridge"));
                        continue;
                    }
                },
                (None, Some(v)) => MirrorOutput::Vlan(v as u16),
                (Some(p), Some(v)) => {
                    warn(&format!("has both output_port {p} and output_vlan {v}; it takes one"));
                    continue;
                }
                (None, None) => {
                    warn("has neither output_port nor output_vlan");
                    continue;
                }
            };
            if !w.select_all && w.select_src.is_empty() && w.select_dst.is_empty() {
                warn("selects no packet (no select_all, select_src_port or select_dst_port)");
                continue;
            }
            let resolve =
                |names: &[String]| names.iter().filter_map(|n| ports.get(n)).copied().collect();
            mirrors.push(Mirror {
                name: w.name.clone(),
                select_all: w.select_all,
                select_src: resolve(&w.select_src),
                select_dst: resolve(&w.select_dst),
                select_vlan: w.select_vlan.iter().map(|v| *v as u16).collect(),
                output,
                snaplen: w.snaplen.map(|n| n as u32),
            });
        }
        if let Err(e) = self.backer.set_mirrors(&bw.name, mirrors) {
            tracing::warn!("bridge {}: {e}; its mirrors stay as they were", bw.name);
        }
        applied.insert(bw.name.clone(), key);
    }

    /// Sets the MTU and MAC address of each of `bw`'s interfaces as OVS
    /// does. The MTU: its `mtu_request` (68 to 65535) if it has one; else,
    /// for an internal port (the bridge's own included), the smallest MTU
    /// of the bridge's other ports, if it has any. The MAC: its `mac`
    /// column, for internal ports only; for the bridge's own port without
    /// one, the bridge's `other_config:hwaddr`. Each value is tried once:
    /// one that is refused (out of range, not a MAC, not an internal port,
    /// or by the device) is warned about, naming the interface and the
    /// value, and the device stays as it was.
    fn apply_device_settings(&self, bw: &BridgeWant) {
        let dpif = self.backer.dpif().clone();
        let netdevs: Vec<(String, Arc<dyn Netdev>)> = {
            let cfg = self.backer.read();
            let Some(b) = cfg.bridges.get(&bw.name) else { return };
            let dp_port = |p: &rvs_ofproto::ofproto::Port| match p.kind {
                PortKind::Datapath(odp) => dpif.port_netdev(odp).map(|n| (p.name.clone(), n)),
                PortKind::Patch { .. } => None,
            };
            b.ports.values().filter_map(dp_port).collect()
        };
        let internal = |n: &Arc<dyn Netdev>| matches!(n.type_name(), "internal" | "dummy-internal");
        let floor = netdevs
            .iter()
            .filter(|(_, n)| !internal(n))
            .filter_map(|(_, n)| n.mtu().ok())
            .min()
            .map(i64::from);
        let wants: HashMap<&str, &IfaceWant> =
            bw.ifaces.iter().map(|w| (w.name.as_str(), w)).collect();
        let mut tried = self.device_settings.lock().unwrap();
        tried.retain(|(br, name, _), _| br != &bw.name || netdevs.iter().any(|(n, _)| n == name));
        for (name, nd) in &netdevs {
            let w = wants.get(name.as_str());
            let request = w.and_then(|w| w.mtu_request);
            let mtu = match request {
                Some(m) => Some(m),
                None if internal(nd) => floor,
                None => None,
            };
            let mut mac = w.and_then(|w| w.mac.clone());
            if name == &bw.name && mac.is_none() {
                mac = bw.hwaddr.clone();
            }
            for (what, value) in [("mtu", mtu.map(|m| m.to_string())), ("mac", mac)] {
                let key = (bw.name.clone(), name.clone(), what);
                let Some(value) = value else {
                    tried.remove(&key);
                    continue;
                };
                if tried.insert(key, value.clone()).as_ref() == Some(&value) {
                    continue;
                }
                let result = match what {
                    "mtu" => set_mtu(nd.as_ref(), &value),
                    _ if !internal(nd) => Err("only internal interfaces take a MAC".to_string()),
                    _ => set_mac(nd.as_ref(), &value),
                };
                if let Err(e) = result {
                    let from = match what {
                        "mtu" if request.is_none() => "the smallest MTU of its bridge's ports",
                        "mtu" => "mtu_request",
                        _ if w.and_then(|w| w.mac.as_ref()).is_none() => "other_config:hwaddr",
                        _ => "mac",
                    };
                    tracing::warn!(
                        "interface {name}: {what} \"{value}\" ({from}): {e}; it stays as it was"
                    );
                }
            }
        }
    }

    /// Gives every bridge OpenFlow: a management socket
    /// `<rundir>/<bridge>.mgmt` and the controllers its rows name.
    pub fn with_openflow(mut self, connmgr: Arc<ConnMgr>, rundir: PathBuf) -> Self {
        self.openflow = Some((connmgr, rundir));
        self
    }

    fn open(
        &self,
        kind: &str,
        name: &str,
        options: &BTreeMap<String, String>,
    ) -> Result<Arc<dyn Netdev>, String> {
        let real = match kind {
            "" | "system" => "system",
            "internal" => "internal",
            "tap" => "tap",
            "dummy" => "dummy",
            "dummy-internal" => "dummy-internal",
            other => {
                return Err(format!(
                    "could not open network device {name} (Unknown interface type \"{other}\")"
                ))
            }
        };
        if self.dummy || real.starts_with("dummy") {
            let internal = real == "internal" || real == "dummy-internal";
            let d = DummyNetdev::new(name, internal, options).map_err(|e| e.to_string())?;
            self.dummies.lock().unwrap().insert(name.to_string(), d.clone());
            return Ok(d);
        }
        self.netdevs
            .open(real, name, options)
            .map_err(|e| format!("could not open network device {name} ({e})"))
    }

    /// Brings the switch in line with `db` (the database as JSON); returns
    /// the write-back transaction operations, if anything must change.
    pub fn reconcile(&self, db: &Value) -> Vec<Value> {
        let want = read_want(db);
        self.apply_dp(&want.dp);
        {
            let mut said = self.unsupported_said.lock().unwrap();
            said.retain(|s| want.unsupported.contains(s));
            for u in &want.unsupported {
                if said.insert(u.clone()) {
                    tracing::warn!("{u}");
                }
            }
        }
        let mut applied = self.applied.lock().unwrap();
        let mut errors = self.errors.lock().unwrap();
        // Bridges that went away.
        let gone: Vec<String> = applied
            .keys()
            .filter(|n| !want.bridges.iter().any(|b| &b.name == *n))
            .cloned()
            .collect();
        for name in gone {
            if let Some((cm, _)) = &self.openflow {
                cm.del_bridge(&name);
            }
            let _ = self.backer.del_bridge(&name);
            self.device_settings.lock().unwrap().retain(|(br, _, _), _| br != &name);
            self.mirrors_applied.lock().unwrap().remove(&name);
            applied.remove(&name);
        }
        for bw in &want.bridges {
            let settings = BridgeSettings {
                fail_mode: bw.fail_mode,
                mac_table_size: bw.mac_size,
                mac_aging: bw.mac_aging,
            };
            if !applied.contains_key(&bw.name) {
                let local = match self.open("internal", &bw.name, &BTreeMap::new()) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!("bridge {}: {e}", bw.name);
                        continue;
                    }
                };
                if let Err(e) = self.backer.add_bridge(&bw.name, &settings, local) {
                    tracing::warn!("bridge {}: {e}", bw.name);
                    continue;
                }
                applied.insert(bw.name.clone(), (bw.clone(), HashMap::new()));
            }
            let (old, ifaces) = applied.get_mut(&bw.name).expect("just inserted");
            if old.fail_mode != bw.fail_mode {
                let _ = self.backer.set_fail_mode(&bw.name, bw.fail_mode);
            }
            if old.mac_size != bw.mac_size || old.mac_aging != bw.mac_aging {
                let _ = self.backer.set_mac_table(&bw.name, bw.mac_size, bw.mac_aging);
            }
            *old = bw.clone();
            // Interfaces that went away or changed kind/options.
            let stale: Vec<String> = ifaces
                .iter()
                .filter(|(n, i)| {
                    !bw.ifaces.iter().any(|w| {
                        &w.name == *n
                            && w.kind == i.kind
                            && w.options == i.options
                            && w.ofport_request == i.ofport_request
                    })
                })
                .map(|(n, _)| n.clone())
                .collect();
            for n in stale {
                let _ = self.backer.del_port(&bw.name, &n);
                ifaces.remove(&n);
                self.dummies.lock().unwrap().remove(&n);
            }
            // System devices that vanished under their port, or were
            // deleted and made again (the port's sockets are bound to the
            // old one): the port goes, and comes back with the device, as
            // with OVS's kernel datapath.
            let dpif = self.backer.dpif().clone();
            let replaced: Vec<(String, String)> = ifaces
                .keys()
                .filter_map(|n| {
                    let kind = self
                        .backer
                        .with_bridge_read(&bw.name, |b| b.port_by_name(n).map(|p| p.kind.clone()))
                        .ok()
                        .flatten();
                    let Some(PortKind::Datapath(odp)) = kind else { return None };
                    let nd = dpif.port_netdev(odp).filter(|nd| nd.type_name() == "system")?;
                    let had = nd.ifindex()?;
                    match rvs_datapath::netdev::linux::ifindex(n) {
                        Ok(now) if now == had => None,
                        Ok(now) => {
                            Some((n.clone(), format!("was replaced (ifindex {had}, now {now})")))
                        }
                        Err(_) => Some((n.clone(), format!("vanished (ifindex {had})"))),
                    }
                })
                .collect();
            for (n, what) in replaced {
                tracing::warn!(
                    "interface {n}: its device {what}: the port is removed, and comes back with \
                     the device"
                );
                let _ = self.backer.del_port(&bw.name, &n);
                ifaces.remove(&n);
            }
            for w in &bw.ifaces {
                if w.name == bw.name {
                    // The bridge's own LOCAL port.
                    errors.remove(&w.uuid);
                    continue;
                }
                if let Some(cur) = ifaces.get(&w.name) {
                    if cur.rxq_affinity != w.rxq_affinity {
                        self.apply_rxq_affinity(w);
                    }
                    if cur.vlan != w.vlan {
                        // Keep the OpenFlow config bits a controller set.
                        let config = self
                            .backer
                            .with_bridge_read(&bw.name, |b| {
                                b.port_by_name(&w.name).map(|p| p.config)
                            })
                            .ok()
                            .flatten()
                            .unwrap_or_default();
                        let _ = self.backer.set_port(&bw.name, &w.name, w.vlan.clone(), config);
                    }
                    if cur.vlan != w.vlan || cur.rxq_affinity != w.rxq_affinity {
                        ifaces.insert(w.name.clone(), w.clone());
                    }
                    continue;
                }
                let mut s = PortSettings {
                    ofport_request: w.ofport_request.or(w.ofport_hint).map(OfPort),
                    vlan: w.vlan.clone(),
                    config: PortConfig::default(),
                };
                if w.ofport_request.is_none() {
                    // The old number is only a preference: if someone else
                    // has it now, take any.
                    let taken = self.backer.with_bridge_read(&bw.name, |b| {
                        s.ofport_request.is_some_and(|p| b.ports.contains_key(&p))
                    });
                    if taken.unwrap_or(false) {
                        s.ofport_request = None;
                    }
                }
                let r = if w.kind == "patch" {
                    match w.options.get("peer") {
                        Some(peer) => self
                            .backer
                            .add_patch_port(&bw.name, &w.name, peer, &s)
                            .map_err(|e| e.to_string()),
                        None => Err(format!("{}: patch port has no options:peer", w.name)),
                    }
                } else {
                    self.open(&w.kind, &w.name, &w.options).and_then(|nd| {
                        self.backer.add_port(&bw.name, nd, &s).map_err(|e| e.to_string())
                    })
                };
                match r {
                    Ok(_) => {
                        errors.remove(&w.uuid);
                        if w.rxq_affinity.is_some() {
                            self.apply_rxq_affinity(w);
                        }
                        ifaces.insert(w.name.clone(), w.clone());
                    }
                    Err(e) => {
                        // Tried again at every pass (a missing device may
                        // appear): said once, and again if it changes.
                        if errors.get(&w.uuid) != Some(&e) {
                            tracing::warn!("{e}");
                        }
                        errors.insert(w.uuid.clone(), e);
                    }
                }
            }
        }
        for bw in want.bridges.iter().filter(|b| applied.contains_key(&b.name)) {
            self.apply_device_settings(bw);
            self.apply_policing(bw);
            self.apply_mirrors(bw);
        }
        self.backer.update_patch_errors();
        if let Some((cm, rundir)) = &self.openflow {
            for bw in &want.bridges {
                if !applied.contains_key(&bw.name) {
                    continue;
                }
                let mut of = bw.of.clone();
                of.mgmt = Some(rundir.join(format!("{}.mgmt", bw.name)));
                for (target, e) in cm.set_bridge(&bw.name, &of) {
                    tracing::warn!("bridge {}: {target}: {e}", bw.name);
                }
            }
        }
        drop(applied);
        self.write_back(db, &want, &errors)
    }

    fn write_back(&self, db: &Value, want: &Want, errors: &HashMap<String, String>) -> Vec<Value> {
        let mut ops = Vec::new();
        let cfg = self.backer.read();
        let rows = db.get("Interface").and_then(|v| v.as_object()).cloned().unwrap_or_default();
        for bw in &want.bridges {
            let b = cfg.bridges.get(&bw.name);
            for w in &bw.ifaces {
                let port = b.and_then(|b| b.port_by_name(&w.name));
                let ofport: Value = match port {
                    Some(p) if p.ofport == OfPort::LOCAL => json!(65534),
                    Some(p) => json!(p.ofport.0),
                    None => json!(-1),
                };
                let err =
                    errors.get(&w.uuid).cloned().or_else(|| port.and_then(|p| p.error.clone()));
                let err_v = match &err {
                    Some(e) => json!(e),
                    None => json!(["set", []]),
                };
                // A datapath port's link and admin state come from its
                // device, with the status refresh (`status.rs`); a patch
                // port is up, and an interface that failed is down.
                let link = match port {
                    Some(p) if matches!(p.kind, PortKind::Patch { .. }) => Some("up"),
                    Some(_) => None,
                    None => Some("down"),
                };
                let row = rows.get(&w.uuid);
                let cur_ofport = row.and_then(|r| datum::int(r.get("ofport")));
                let cur_err = row.and_then(|r| datum::string(r.get("error")));
                let cur_link = row.and_then(|r| datum::string(r.get("link_state")));
                let want_ofport = ofport.as_i64();
                let link_changed = link.is_some_and(|l| cur_link.as_deref() != Some(l));
                if cur_ofport != want_ofport || cur_err != err || link_changed {
                    let mut r = json!({"ofport": ofport, "error": err_v});
                    if let Some(l) = link {
                        r["link_state"] = json!(l);
                        r["admin_state"] = json!(l);
                    }
                    ops.push(json!({
                        "op": "update", "table": "Interface",
                        "where": [["_uuid", "==", ["uuid", w.uuid]]],
                        "row": r
                    }));
                }
            }
        }
        // The OpenFlow side reads the switch itself: let go of the lock
        // first (a second read lock behind a waiting writer would deadlock).
        drop(cfg);
        if let Some((cm, _)) = &self.openflow {
            ops.extend(controller_write_back(db, want, cm));
        }
        if let Some(root) = &want.root {
            let cur = db
                .get("Open_vSwitch")
                .and_then(|t| t.get(root))
                .and_then(|r| datum::int(r.get("cur_cfg")))
                .unwrap_or(0);
            if cur != want.next_cfg {
                ops.push(json!({
                    "op": "update", "table": "Open_vSwitch",
                    "where": [["_uuid", "==", ["uuid", root]]],
                    "row": {"cur_cfg": want.next_cfg}
                }));
            }
        }
        ops
    }
}

/// Controller and Bridge status: `is_connected`, `role`, `status` of each
/// Controller row, and each Bridge's `datapath_id`; only what changed.
fn controller_write_back(db: &Value, want: &Want, cm: &ConnMgr) -> Vec<Value> {
    let mut ops = Vec::new();
    let rows = db.get("Controller").and_then(|v| v.as_object()).cloned().unwrap_or_default();
    let brows = db.get("Bridge").and_then(|v| v.as_object()).cloned().unwrap_or_default();
    for bw in &want.bridges {
        if let Some(dpid) = cm.datapath_id(&bw.name) {
            let hex = format!("{dpid:016x}");
            let cur = brows
                .iter()
                .find(|(_, r)| datum::string(r.get("name")).as_deref() == Some(bw.name.as_str()));
            if let Some((uuid, r)) = cur {
                if datum::string(r.get("datapath_id")).as_deref() != Some(hex.as_str()) {
                    ops.push(json!({
                        "op": "update", "table": "Bridge",
                        "where": [["_uuid", "==", ["uuid", uuid]]],
                        "row": {"datapath_id": hex}
                    }));
                }
            }
        }
        let status = cm.controller_status(&bw.name);
        for (uuid, target) in &bw.controllers {
            let Some(row) = rows.get(uuid) else { continue };
            let st = status.iter().find(|s| &s.target == target);
            let (connected, role, mut map) = match st {
                Some(s) => {
                    let mut m = BTreeMap::new();
                    m.insert("state".to_string(), s.state.to_string());
                    if let Some(e) = &s.last_error {
                        m.insert("last_error".to_string(), e.clone());
                    }
                    (s.is_connected, s.role.name(), m)
                }
                // Not started yet (the next pass writes its state).
                None => continue,
            };
            let cur_connected = row.get("is_connected").and_then(|v| v.as_bool()).unwrap_or(false);
            let cur_role = datum::string(row.get("role"));
            let mut cur_map = datum::map(row.get("status"));
            cur_map.retain(|k, _| k == "state" || k == "last_error");
            if cur_connected == connected && cur_role.as_deref() == Some(role) && cur_map == map {
                continue;
            }
            if let Some(s) = st {
                if let Some(t) = s.sec_since_connect {
                    map.insert("sec_since_connect".to_string(), t.to_string());
                }
                if let Some(t) = s.sec_since_disconnect {
                    map.insert("sec_since_disconnect".to_string(), t.to_string());
                }
            }
            let pairs: Vec<Value> = map.into_iter().map(|(k, v)| json!([k, v])).collect();
            ops.push(json!({
                "op": "update", "table": "Controller",
                "where": [["_uuid", "==", ["uuid", uuid]]],
                "row": {"is_connected": connected, "role": role, "status": ["map", pairs]}
            }));
        }
    }
    ops
}

/// The `core_id` that OVS's commands show for poll thread `thread`: its
/// CPU with `pmd-cpu-mask`, else the thread's own number (1, 2, ...).
pub fn core_of(dp: &rvs_datapath::DpNetdev, thread: usize) -> usize {
    dp.thread_cpu(thread).unwrap_or(thread)
}

/// The poll thread shown as `core` ([`core_of`]), if there is one.
pub fn thread_on_core(dp: &rvs_datapath::DpNetdev, core: usize) -> Option<usize> {
    dp.pmd_stats().iter().map(|p| p.id).find(|&t| t != 0 && core_of(dp, t) == core)
}

/// Sets `nd`'s MTU to `value` (68 to 65535) unless it has it already.
fn set_mtu(nd: &dyn Netdev, value: &str) -> Result<(), String> {
    let mtu = value
        .parse::<u32>()
        .ok()
        .filter(|m| (68..=65535).contains(m))
        .ok_or("is not from 68 to 65535")?;
    if nd.mtu().ok() == Some(mtu) {
        return Ok(());
    }
    nd.set_mtu(mtu).map_err(|e| e.to_string())
}

/// Sets `nd`'s MAC address to `value` unless it has it already.
fn set_mac(nd: &dyn Netdev, value: &str) -> Result<(), String> {
    let mac = value.parse::<EthAddr>().map_err(|e| e.to_string())?;
    if nd.mac().ok() == Some(mac) {
        return Ok(());
    }
    nd.set_mac(mac).map_err(|e| e.to_string())
}

/// Warns about a policing setting (described by `what`) that could not
/// apply (`result`), once for each value; forgets it once it applies.
fn warn_refused(
    refused: &mut HashMap<(String, String, &'static str), String>,
    (br, iface, dir): (&str, &str, &'static str),
    what: impl FnOnce() -> String,
    result: Result<(), String>,
) {
    match result {
        Ok(()) if refused.is_empty() => {}
        Ok(()) => {
            refused.remove(&(br.to_string(), iface.to_string(), dir));
        }
        Err(e) => {
            let what = what();
            let key = (br.to_string(), iface.to_string(), dir);
            if refused.insert(key, what.clone()).as_ref() != Some(&what) {
                tracing::warn!("interface {iface}: {what}: {e}; it keeps what it had");
            }
        }
    }
}

/// The egress policer a QoS row of type `kind` with `other_config` asks
/// for. rvs's datapath polices in software, so of OVS's QoS types it takes
/// `egress-policer` (`cir` in bytes of IP packets a second, `cbs` in bytes,
/// both positive, as OVS requires); the `linux-*` types shape with the
/// kernel's queueing disciplines, which the datapath's transmit bypasses.
fn egress_policer(
    kind: &str,
    other_config: &BTreeMap<String, String>,
) -> Result<EgressPolicer, String> {
    if kind != "egress-policer" {
        return Err(format!("QoS type \"{kind}\" is not supported (rvs has egress-policer)"));
    }
    let get = |k: &str| -> Result<u64, String> {
        let v = other_config.get(k).map(String::as_str).unwrap_or("");
        match v.parse::<u64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("other_config:{k} must be a positive number of bytes, not \"{v}\"")),
        }
    };
    Ok(EgressPolicer { cir: get("cir")?, cbs: get("cbs")? })
}

/// An Interface row's ingress policing columns. The schema keeps them at
/// 0 or more; like OVS, values past 32 bits are taken as the largest.
fn policing_of(row: &Value) -> IngressPolicing {
    let get = |col: &str| {
        datum::int(row.get(col)).map_or(0, |v| u32::try_from(v.max(0)).unwrap_or(u32::MAX))
    };
    IngressPolicing {
        kbits_rate: get("ingress_policing_rate"),
        kbits_burst: get("ingress_policing_burst"),
        kpkts_rate: get("ingress_policing_kpkts_rate"),
        kpkts_burst: get("ingress_policing_kpkts_burst"),
    }
}

/// Parses `pmd-rxq-affinity`: comma-separated `<queue>:<core>` pairs
/// (spaces allowed), each queue at most once.
fn parse_rxq_affinity(v: &str) -> Result<Vec<(usize, usize)>, String> {
    let mut pins: Vec<(usize, usize)> = Vec::new();
    for entry in v.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (q, t) = entry
            .split_once(':')
            .ok_or_else(|| format!("has \"{entry}\", which is not <queue>:<core>"))?;
        let num = |x: &str, what: &str| {
            x.trim()
                .parse::<usize>()
                .map_err(|_| format!("has {what} \"{}\", which is not a number", x.trim()))
        };
        let (q, t) = (num(q, "queue")?, num(t, "core")?);
        if pins.iter().any(|(pq, _)| *pq == q) {
            return Err(format!("names queue {q} twice"));
        }
        pins.push((q, t));
    }
    Ok(pins)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(other_config: &[(&str, &str)]) -> Value {
        let pairs: Vec<Value> = other_config.iter().map(|(k, v)| json!([k, v])).collect();
        json!({"Open_vSwitch": {"u1": {"other_config": ["map", pairs]}}})
    }

    #[test]
    fn datapath_settings_are_read_and_bad_values_marked_invalid() {
        let w = read_dp_want(&db(&[
            ("max-idle", "2500"),
            ("flow-limit", "1000"),
            ("n-pmd-threads", "2"),
            ("userspace-gro-enable", "false"),
            ("tx-flush-interval", "40"),
            ("pmd-busy-poll-us", "0"),
            ("pmd-idle-yield", "false"),
            ("pmd-cpu-mask", "0x6"),
        ]));
        let want = DpWant {
            max_idle: Setting::Set(2500),
            flow_limit: Setting::Set(1000),
            n_pmd_threads: Setting::Set(2),
            gro: Setting::Set(false),
            tx_flush_interval: Setting::Set(40),
            busy_poll_us: Setting::Set(0),
            idle_yield: Setting::Set(false),
            pmd_cpu_mask: Setting::Set(6),
        };
        assert_eq!(w, want);
        let w = read_dp_want(&db(&[
            ("max-idle", "soon"),
            ("flow-limit", "-1"),
            ("userspace-gro-enable", "maybe"),
            ("tx-flush-interval", "1000001"),
            ("pmd-busy-poll-us", "1000001"),
            ("pmd-idle-yield", "yes"),
            ("pmd-cpu-mask", "0"),
        ]));
        let invalid = DpWant {
            max_idle: Setting::Invalid,
            flow_limit: Setting::Invalid,
            n_pmd_threads: Setting::Unset,
            gro: Setting::Invalid,
            tx_flush_interval: Setting::Invalid,
            busy_poll_us: Setting::Invalid,
            idle_yield: Setting::Invalid,
            pmd_cpu_mask: Setting::Invalid,
        };
        assert_eq!(w, invalid);
        assert_eq!(read_dp_want(&json!({})), DpWant::default());
    }

    #[test]
    fn rxq_affinity_parses_and_bad_values_say_why() {
        assert_eq!(parse_rxq_affinity("0:2, 1:1 ,"), Ok(vec![(0, 2), (1, 1)]));
        assert_eq!(parse_rxq_affinity(""), Ok(vec![]));
        let e = parse_rxq_affinity("0:2,3").unwrap_err();
        assert!(e.contains("\"3\"") && e.contains("<queue>:<core>"), "{e}");
        let e = parse_rxq_affinity("0:x").unwrap_err();
        assert!(e.contains("core \"x\""), "{e}");
        let e = parse_rxq_affinity("-1:1").unwrap_err();
        assert!(e.contains("queue \"-1\""), "{e}");
        assert_eq!(parse_rxq_affinity("0:1,0:2"), Err("names queue 0 twice".to_string()));
    }

    #[test]
    fn an_invalid_setting_keeps_what_runs() {
        let set = Setting::Set(7u64);
        assert_eq!(Setting::Invalid.change_from(set), None);
        assert_eq!(Setting::<u64>::Invalid.change_from(Setting::Unset), None);
        assert_eq!(set.change_from(set), None);
        assert_eq!(Setting::Set(8).change_from(set), Some(Some(8)));
        assert_eq!(Setting::Unset.change_from(set), Some(None));
        assert_eq!(set.change_from(Setting::Unset), Some(Some(7)));
    }
}
