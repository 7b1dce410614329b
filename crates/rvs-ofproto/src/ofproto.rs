//! One bridge: its OpenFlow ports, flow tables, MAC table and the queues of
//! asynchronous messages (packet-ins, flow-removed) for the OpenFlow
//! transport to deliver.
//!
//! A [`Bridge`] is plain data; the [`crate::Backer`] that owns the bridges
//! of one datapath serialises changes and runs translation against it.

use crate::actions::OfAction;
use crate::cls::Classifier;
use crate::flow::OfMatch;
use crate::flow_mod::{FlowMod, FlowModCommand, FlowModFlags};
use crate::mac_learning::MacTable;
use crate::types::{Cookie, OfPort, TableId};
use rvs_packet::OdpPort;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// A counter that threads wait on: the OpenFlow transport sleeps on its
/// bridge's signal until a packet-in, flow-removed or port change arrives.
#[derive(Debug, Default)]
pub struct Signal {
    seq: Mutex<u64>,
    cv: Condvar,
}

impl Signal {
    /// Bumps the counter and wakes every waiter.
    pub fn notify(&self) {
        *self.seq.lock().unwrap() += 1;
        self.cv.notify_all();
    }

    /// The current count.
    pub fn seq(&self) -> u64 {
        *self.seq.lock().unwrap()
    }

    /// Waits until the count differs from `seen` or `timeout` passes;
    /// returns the count.
    pub fn wait(&self, seen: u64, timeout: Duration) -> u64 {
        let g = self.seq.lock().unwrap();
        let (g, _) = self.cv.wait_timeout_while(g, timeout, |s| *s == seen).unwrap();
        *g
    }
}

/// Most packet-ins queued per bridge before new ones are dropped (and
/// counted).
pub const PACKET_IN_QUEUE: usize = 4096;

/// What a bridge does with no controller (OVS's `fail_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FailMode {
    /// A new bridge gets a `priority=0,actions=NORMAL` rule: a learning
    /// switch until told otherwise.
    #[default]
    Standalone,
    /// A new bridge has no rules: it drops until rules are added.
    Secure,
}

impl std::str::FromStr for FailMode {
    type Err = OfprotoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "standalone" | "" => Ok(FailMode::Standalone),
            "secure" => Ok(FailMode::Secure),
            _ => Err(OfprotoError::BadFailMode(s.to_string())),
        }
    }
}

/// How a port treats VLANs in NORMAL switching (OVS's `vlan_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum VlanMode {
    /// Untagged frames only, in VLAN `tag`.
    Access,
    /// Tagged frames of the `trunks` VLANs (all when empty); untagged
    /// frames are VLAN 0.
    #[default]
    Trunk,
    /// Like trunk, but untagged frames are VLAN `tag`, which is sent tagged.
    NativeTagged,
    /// Like trunk, but untagged frames are VLAN `tag`, which is sent
    /// untagged.
    NativeUntagged,
}

impl std::str::FromStr for VlanMode {
    type Err = OfprotoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "access" => Ok(VlanMode::Access),
            "trunk" => Ok(VlanMode::Trunk),
            "native-tagged" => Ok(VlanMode::NativeTagged),
            "native-untagged" => Ok(VlanMode::NativeUntagged),
            _ => Err(OfprotoError::BadVlanMode(s.to_string())),
        }
    }
}

/// A port's VLAN configuration.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PortVlan {
    /// The mode; `None` picks OVS's default: access when `tag` is set,
    /// trunk otherwise.
    pub mode: Option<VlanMode>,
    /// The access or native VLAN.
    pub tag: Option<u16>,
    /// Trunked VLANs (empty = all).
    pub trunks: Vec<u16>,
}

impl PortVlan {
    /// The effective mode.
    pub fn mode(&self) -> VlanMode {
        self.mode.unwrap_or(if self.tag.is_some() { VlanMode::Access } else { VlanMode::Trunk })
    }

    /// The VLAN a frame with VID `vid` (0 = untagged or priority-tagged)
    /// belongs to on input, or `None` when the port must drop it.
    pub fn input_vlan(&self, vid: u16) -> Option<u16> {
        let vlan = match self.mode() {
            VlanMode::Access => {
                if vid != 0 {
                    return None;
                }
                self.tag.unwrap_or(0)
            }
            VlanMode::Trunk => vid,
            VlanMode::NativeTagged | VlanMode::NativeUntagged => {
                if vid == 0 {
                    self.tag.unwrap_or(0)
                } else {
                    vid
                }
            }
        };
        self.includes(vlan).then_some(vlan)
    }

    /// True when the port carries `vlan`.
    pub fn includes(&self, vlan: u16) -> bool {
        match self.mode() {
            VlanMode::Access => vlan == self.tag.unwrap_or(0),
            VlanMode::Trunk => self.trunks.is_empty() || self.trunks.contains(&vlan),
            VlanMode::NativeTagged | VlanMode::NativeUntagged => {
                Some(vlan) == self.tag || self.trunks.is_empty() || self.trunks.contains(&vlan)
            }
        }
    }

    /// The VID to send `vlan` with on this port (`None` = untagged).
    pub fn output_vid(&self, vlan: u16) -> Option<u16> {
        match self.mode() {
            VlanMode::Access => None,
            VlanMode::Trunk => (vlan != 0).then_some(vlan),
            VlanMode::NativeUntagged => (Some(vlan) != self.tag && vlan != 0).then_some(vlan),
            VlanMode::NativeTagged => (vlan != 0).then_some(vlan),
        }
    }
}

/// OpenFlow port config bits (OFPPC_*).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PortConfig {
    /// Administratively down.
    pub down: bool,
    /// Drop received packets.
    pub no_recv: bool,
    /// Leave out of floods.
    pub no_flood: bool,
    /// Drop packets sent to the port.
    pub no_fwd: bool,
    /// Don't send packet-ins for the port's packets.
    pub no_packet_in: bool,
}

/// A port mirror (OVS's `Mirror` table): copies of the packets it selects
/// go to its output.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Mirror {
    /// Name, for traces and logs.
    pub name: String,
    /// Every packet the bridge switches.
    pub select_all: bool,
    /// Packets received on these ports.
    pub select_src: BTreeSet<OfPort>,
    /// Packets sent to these ports.
    pub select_dst: BTreeSet<OfPort>,
    /// Only packets in these VLANs (empty: any).
    pub select_vlan: BTreeSet<u16>,
    /// Where the copies go.
    pub output: MirrorOutput,
    /// Copies are cut to this many bytes, when set.
    pub snaplen: Option<u32>,
}

/// Where a [`Mirror`]'s copies go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MirrorOutput {
    /// One port (SPAN). The port is the mirror's alone: it forwards nothing
    /// else, and what it receives is dropped.
    Port(OfPort),
    /// Every port that carries this VLAN, tagged with it (RSPAN).
    Vlan(u16),
}

impl Default for MirrorOutput {
    fn default() -> Self {
        MirrorOutput::Vlan(0)
    }
}

impl Mirror {
    /// Whether the mirror takes a packet of `vlan` received on `in_port`
    /// (`out_port` `None`), or sent to `out_port`.
    pub fn selects(&self, vlan: u16, in_port: OfPort, out_port: Option<OfPort>) -> bool {
        let port = match out_port {
            None => self.select_all || self.select_src.contains(&in_port),
            Some(p) => self.select_all || self.select_dst.contains(&p),
        };
        port && (self.select_vlan.is_empty() || self.select_vlan.contains(&vlan))
    }
}

/// What is behind an OpenFlow port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortKind {
    /// A datapath port.
    Datapath(OdpPort),
    /// A patch port to the port named `peer` (in another bridge).
    Patch {
        /// The peer port's name.
        peer: String,
    },
}

/// A bridge's port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    /// The OpenFlow number.
    pub ofport: OfPort,
    /// The name.
    pub name: String,
    /// Datapath port or patch.
    pub kind: PortKind,
    /// VLAN configuration for NORMAL.
    pub vlan: PortVlan,
    /// OpenFlow config bits.
    pub config: PortConfig,
    /// Why the port does not work, if it doesn't (a patch port whose peer
    /// is missing, say).
    pub error: Option<String>,
}

/// Counters of a rule, shared by the translations that used it.
#[derive(Debug, Default)]
pub struct RuleStats {
    /// Packets.
    pub packets: AtomicU64,
    /// Bytes.
    pub bytes: AtomicU64,
    /// Last use, clock nanoseconds (0 = never).
    pub used_ns: AtomicU64,
}

impl RuleStats {
    /// Credits `packets` and `bytes`, used at `now`.
    pub fn credit(&self, packets: u64, bytes: u64, now: Duration) {
        self.packets.fetch_add(packets, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.used_ns.fetch_max(now.as_nanos() as u64, Ordering::Relaxed);
    }
}

/// A flow table entry.
#[derive(Debug)]
pub struct Rule {
    /// The table.
    pub table: TableId,
    /// Priority.
    pub priority: u16,
    /// The match.
    pub match_: OfMatch,
    /// Cookie.
    pub cookie: Cookie,
    /// Idle timeout, seconds (0 = none).
    pub idle_timeout: u16,
    /// Hard timeout, seconds (0 = none).
    pub hard_timeout: u16,
    /// Importance.
    pub importance: u16,
    /// Flags.
    pub flags: FlowModFlags,
    /// The actions and instructions.
    pub actions: Arc<Vec<OfAction>>,
    /// When the rule was added.
    pub created: Duration,
    /// When it was last added or modified (hard timeouts count from here).
    pub modified: Duration,
    /// Counters.
    pub stats: Arc<RuleStats>,
}

impl Rule {
    /// Last use or, if never used, the time of the last change (idle
    /// timeouts count from here).
    pub fn last_active(&self) -> Duration {
        let used = Duration::from_nanos(self.stats.used_ns.load(Ordering::Relaxed));
        used.max(self.modified)
    }
}

/// A packet for the controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketIn {
    /// The frame, as it was when the controller action ran.
    pub packet: Vec<u8>,
    /// Its length before any truncation to `max_len`.
    pub total_len: usize,
    /// The OpenFlow input port.
    pub in_port: OfPort,
    /// Why.
    pub reason: crate::actions::PacketInReason,
    /// The table of the rule that sent it.
    pub table: TableId,
    /// That rule's cookie.
    pub cookie: Cookie,
    /// Controller connection id (0 = all).
    pub controller_id: u16,
    /// Opaque bytes from the action.
    pub userdata: Vec<u8>,
    /// The pipeline fields (metadata, registers) that were not zero when
    /// the controller action ran.
    pub pipeline: Vec<(crate::flow::Mf, u128)>,
}

/// Why a rule went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemovedReason {
    /// Its idle timeout.
    IdleTimeout,
    /// Its hard timeout.
    HardTimeout,
    /// A delete flow_mod.
    Delete,
}

/// A flow-removed message to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowRemoved {
    /// The rule's table.
    pub table: TableId,
    /// Its priority.
    pub priority: u16,
    /// Its match.
    pub match_: OfMatch,
    /// Its cookie.
    pub cookie: Cookie,
    /// Why it went.
    pub reason: RemovedReason,
    /// How long it lived.
    pub duration: Duration,
    /// Its idle timeout.
    pub idle_timeout: u16,
    /// Its hard timeout.
    pub hard_timeout: u16,
    /// Packets it counted.
    pub packets: u64,
    /// Bytes it counted.
    pub bytes: u64,
}

/// Errors of the ofproto layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfprotoError {
    /// No such bridge.
    #[error("no bridge named \"{0}\"")]
    NoSuchBridge(String),
    /// Bridge exists.
    #[error("a bridge named \"{0}\" already exists")]
    BridgeExists(String),
    /// No such port.
    #[error("bridge {bridge} has no port \"{port}\"")]
    NoSuchPort {
        /// The bridge.
        bridge: String,
        /// The port.
        port: String,
    },
    /// Port name taken.
    #[error("a port named \"{0}\" already exists")]
    PortExists(String),
    /// OpenFlow port number taken.
    #[error("OpenFlow port {port} is already in use by \"{by}\"")]
    OfPortBusy {
        /// The number.
        port: OfPort,
        /// Who has it.
        by: String,
    },
    /// OpenFlow port number out of range.
    #[error("OpenFlow port {0} is out of range (1 to 65279)")]
    OfPortRange(u32),
    /// Bad table.
    #[error("table {0} is not a valid table for this command (0 to 254)")]
    BadTable(u8),
    /// goto_table must go forward.
    #[error("goto_table:{to} in a rule of table {from}: goto_table must go to a later table")]
    BadGoto {
        /// The rule's table.
        from: u8,
        /// The target.
        to: u8,
    },
    /// check_overlap refused an add.
    #[error(
        "the new rule overlaps an existing rule of priority {0} in the same table (check_overlap)"
    )]
    Overlap(u16),
    /// A match field's prerequisite is missing.
    #[error("{field} requires {needs}")]
    Prereq {
        /// The field.
        field: String,
        /// What it needs.
        needs: String,
    },
    /// A field the action cannot write.
    #[error("field {0} cannot be written by set_field, load or move")]
    ReadOnly(String),
    /// Bad fail mode.
    #[error("\"{0}\" is not a fail mode (expected standalone or secure)")]
    BadFailMode(String),
    /// Bad VLAN mode.
    #[error(
        "\"{0}\" is not a VLAN mode (expected access, trunk, native-tagged or native-untagged)"
    )]
    BadVlanMode(String),
    /// A VLAN id out of range.
    #[error("VLAN {0} is out of range (0 to 4095)")]
    BadVlan(u32),
    /// A flow or packet that does not parse.
    #[error("{0}")]
    BadFlow(String),
    /// A datapath error.
    #[error("datapath: {0}")]
    Dpif(String),
    /// A mirror that cannot be set up.
    #[error("mirror {name}: {why}")]
    BadMirror {
        /// The mirror's name.
        name: String,
        /// What is wrong.
        why: String,
    },
}

/// What a flow_mod did.
#[derive(Debug, Default)]
pub struct FlowModOutcome {
    /// Rules added.
    pub added: usize,
    /// Rules modified.
    pub modified: usize,
    /// Rules deleted (with send_flow_rem ones queued as flow-removed).
    pub deleted: usize,
}

/// A bridge.
pub struct Bridge {
    /// Name.
    pub name: String,
    /// Small id used in datapath userdata.
    pub id: u32,
    /// Ports by OpenFlow number.
    pub ports: BTreeMap<OfPort, Port>,
    /// Flow tables 0-254.
    pub tables: Vec<Classifier<Arc<Rule>>>,
    /// Fail mode.
    pub fail_mode: FailMode,
    /// MAC learning.
    pub mac: Mutex<MacTable>,
    /// Packet-ins waiting for the OpenFlow transport.
    pub packet_ins: Mutex<VecDeque<PacketIn>>,
    /// Packet-ins dropped because the queue was full.
    pub packet_ins_dropped: AtomicU64,
    /// Flow-removed messages waiting.
    pub flow_removed: Mutex<VecDeque<FlowRemoved>>,
    /// Notified on every packet-in, flow-removed and change of the bridge.
    pub events: Arc<Signal>,
    /// Fail-open: no controller has been reachable for a while in
    /// standalone mode, so every packet goes to NORMAL, whatever the tables say.
    pub fail_open: bool,
    /// A table miss sends the packet to the controller (reason no_match),
    /// as OpenFlow 1.0-1.2 controllers expect; 1.3+ needs a table-miss rule.
    pub miss_to_controller: bool,
    /// Controllers are configured (the standalone default rule is then
    /// left out).
    pub controllers_configured: bool,
    /// Port mirrors (at most [`Bridge::MAX_MIRRORS`]).
    pub mirrors: Vec<Mirror>,
    /// Each mirror's counters (what its copies carried), by position in
    /// `mirrors`; a mirror keeps them across changes of its settings.
    pub mirror_stats: Vec<Arc<RuleStats>>,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge").field("name", &self.name).field("ports", &self.ports).finish()
    }
}

impl Bridge {
    /// An empty bridge (no ports, no rules).
    pub fn new(name: &str, id: u32, fail_mode: FailMode, mac: MacTable) -> Self {
        Bridge {
            name: name.to_string(),
            id,
            ports: BTreeMap::new(),
            tables: (0..TableId::N_TABLES).map(|_| Classifier::new()).collect(),
            fail_mode,
            mac: Mutex::new(mac),
            packet_ins: Mutex::new(VecDeque::new()),
            packet_ins_dropped: AtomicU64::new(0),
            flow_removed: Mutex::new(VecDeque::new()),
            events: Arc::new(Signal::default()),
            fail_open: false,
            miss_to_controller: false,
            controllers_configured: false,
            mirrors: Vec::new(),
            mirror_stats: Vec::new(),
        }
    }

    /// The most mirrors a bridge has (as in OVS).
    pub const MAX_MIRRORS: usize = 32;

    /// Whether `port` is a mirror's output port (reserved for mirroring).
    pub fn is_mirror_output(&self, port: OfPort) -> bool {
        self.mirrors.iter().any(|m| m.output == MirrorOutput::Port(port))
    }

    /// The port named `name`.
    pub fn port_by_name(&self, name: &str) -> Option<&Port> {
        self.ports.values().find(|p| p.name == name)
    }

    /// The lowest free OpenFlow port number.
    pub fn free_ofport(&self) -> Option<OfPort> {
        (1..OfPort::MAX.0).map(OfPort).find(|p| !self.ports.contains_key(p))
    }

    /// Number of rules in every table.
    pub fn n_rules(&self) -> usize {
        self.tables.iter().map(|t| t.len()).sum()
    }

    /// Every rule, for [`Bridge::restore_rules`].
    pub fn snapshot_rules(&self) -> Vec<Arc<Rule>> {
        self.tables.iter().flat_map(|t| t.iter().map(|(_, _, r)| r.clone())).collect()
    }

    /// Puts back the rules of a snapshot, dropping every other rule.
    pub fn restore_rules(&mut self, rules: Vec<Arc<Rule>>) {
        for t in &mut self.tables {
            t.retain(|_, _, _| false);
        }
        for r in rules {
            self.tables[usize::from(r.table.0)].insert(r.match_, r.priority, r);
        }
    }

    /// Queues a packet-in (or counts it dropped when the queue is full).
    pub fn queue_packet_in(&self, pi: PacketIn) {
        let mut q = self.packet_ins.lock().unwrap();
        if q.len() >= PACKET_IN_QUEUE {
            self.packet_ins_dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            q.push_back(pi);
            drop(q);
            self.events.notify();
        }
    }

    fn check_actions(table: TableId, actions: &[OfAction]) -> Result<(), OfprotoError> {
        for a in actions {
            match a {
                OfAction::GotoTable(t) if t.0 <= table.0 || t.0 == 255 => {
                    return Err(OfprotoError::BadGoto { from: table.0, to: t.0 })
                }
                OfAction::SetField { field, .. } if !field.spec().writable => {
                    return Err(OfprotoError::ReadOnly(field.name().to_string()))
                }
                OfAction::Move { dst, .. } if !dst.field.spec().writable => {
                    return Err(OfprotoError::ReadOnly(dst.field.name().to_string()))
                }
                OfAction::Clone(a) | OfAction::WriteActions(a) => Self::check_actions(table, a)?,
                _ => {}
            }
        }
        Ok(())
    }

    fn check_match(m: &OfMatch) -> Result<(), OfprotoError> {
        use crate::flow::Mf;
        // Fields that share bits (nw_proto and arp_op, tp_src and
        // icmp_type, ...) are fine when any field holding those bits has
        // its prerequisites met.
        let all = Mf::all();
        let overlap = |a: Mf, b: Mf| {
            let (a, b) = (a.spec(), b.spec());
            let span = |s: crate::flow::MfSpec| {
                let words = if s.bits > 64 { 2 } else { 1 };
                (s.word, s.word + words, s.shift, s.shift + s.bits.min(64))
            };
            let (aw0, aw1, ab0, ab1) = span(a);
            let (bw0, bw1, bb0, bb1) = span(b);
            aw0 < bw1 && bw0 < aw1 && (a.bits > 64 || b.bits > 64 || (ab0 < bb1 && bb0 < ab1))
        };
        for &f in &all {
            if m.wc.get(f) == 0 || f.spec().prereq.holds_in_match(m) {
                continue;
            }
            if !all.iter().any(|&g| overlap(f, g) && g.spec().prereq.holds_in_match(m)) {
                return Err(OfprotoError::Prereq {
                    field: f.name().to_string(),
                    needs: format!("{:?}", f.spec().prereq).to_lowercase(),
                });
            }
        }
        Ok(())
    }

    /// Applies a flow_mod at time `now`. A refused flow_mod changes nothing.
    pub fn flow_mod(
        &mut self,
        fm: &FlowMod,
        now: Duration,
    ) -> Result<FlowModOutcome, OfprotoError> {
        let mut out = FlowModOutcome::default();
        let all_tables = fm.table == TableId::ALL;
        match fm.command {
            FlowModCommand::Add => {
                if all_tables {
                    return Err(OfprotoError::BadTable(fm.table.0));
                }
                Self::check_match(&fm.match_)?;
                Self::check_actions(fm.table, &fm.actions)?;
                let cls = &mut self.tables[usize::from(fm.table.0)];
                if fm.flags.check_overlap && cls.overlaps(&fm.match_, fm.priority) {
                    return Err(OfprotoError::Overlap(fm.priority));
                }
                let rule = Arc::new(Rule {
                    table: fm.table,
                    priority: fm.priority,
                    match_: fm.match_,
                    cookie: fm.cookie,
                    idle_timeout: fm.idle_timeout,
                    hard_timeout: fm.hard_timeout,
                    importance: fm.importance,
                    flags: fm.flags,
                    actions: Arc::new(fm.actions.clone()),
                    created: now,
                    modified: now,
                    stats: Arc::new(RuleStats::default()),
                });
                cls.insert(fm.match_, fm.priority, rule);
                out.added = 1;
            }
            FlowModCommand::Modify | FlowModCommand::ModifyStrict => {
                let strict = fm.command == FlowModCommand::ModifyStrict;
                // Select first, check the new actions against the table of
                // every rule they would go into, then change: a refused
                // modify changes nothing.
                let mut targets: Vec<(usize, Vec<(OfMatch, u16)>)> = Vec::new();
                for t in self.table_range(fm.table)? {
                    let sel: Vec<(OfMatch, u16)> = self.tables[t]
                        .iter()
                        .filter(|(m, p, r)| selects(fm, strict, m, *p, r))
                        .map(|(m, p, _)| (*m, p))
                        .collect();
                    if !sel.is_empty() {
                        Self::check_actions(TableId(t as u8), &fm.actions)?;
                        targets.push((t, sel));
                    }
                }
                for (t, sel) in targets {
                    let cls = &mut self.tables[t];
                    for (m, p) in sel {
                        if let Some(slot) = cls.find_exact_mut(&m, p) {
                            let old = slot.clone();
                            *slot = Arc::new(Rule {
                                cookie: fm.new_cookie.unwrap_or(old.cookie),
                                actions: Arc::new(fm.actions.clone()),
                                modified: now,
                                stats: if fm.flags.reset_counts {
                                    Arc::new(RuleStats::default())
                                } else {
                                    old.stats.clone()
                                },
                                table: old.table,
                                priority: old.priority,
                                match_: old.match_,
                                idle_timeout: old.idle_timeout,
                                hard_timeout: old.hard_timeout,
                                importance: old.importance,
                                flags: old.flags,
                                created: old.created,
                            });
                            out.modified += 1;
                        }
                    }
                }
            }
            FlowModCommand::Delete | FlowModCommand::DeleteStrict => {
                let strict = fm.command == FlowModCommand::DeleteStrict;
                for t in self.table_range(fm.table)? {
                    let removed = self.tables[t].retain(|m, p, r| !selects(fm, strict, m, p, r));
                    out.deleted += removed.len();
                    for (_, _, r) in removed {
                        self.rule_removed(&r, RemovedReason::Delete, now);
                    }
                }
            }
        }
        Ok(out)
    }

    fn table_range(&self, t: TableId) -> Result<std::ops::Range<usize>, OfprotoError> {
        if t == TableId::ALL {
            Ok(0..TableId::N_TABLES)
        } else if usize::from(t.0) < TableId::N_TABLES {
            Ok(usize::from(t.0)..usize::from(t.0) + 1)
        } else {
            Err(OfprotoError::BadTable(t.0))
        }
    }

    /// Queues a flow-removed for `r` if it asked for one.
    pub fn rule_removed(&self, r: &Rule, reason: RemovedReason, now: Duration) {
        if !r.flags.send_flow_rem {
            return;
        }
        let mut q = self.flow_removed.lock().unwrap();
        if q.len() >= PACKET_IN_QUEUE {
            q.pop_front();
        }
        q.push_back(FlowRemoved {
            table: r.table,
            priority: r.priority,
            match_: r.match_,
            cookie: r.cookie,
            reason,
            duration: now.saturating_sub(r.created),
            idle_timeout: r.idle_timeout,
            hard_timeout: r.hard_timeout,
            packets: r.stats.packets.load(Ordering::Relaxed),
            bytes: r.stats.bytes.load(Ordering::Relaxed),
        });
        drop(q);
        self.events.notify();
    }

    /// Removes rules whose idle or hard timeout has passed; returns how many.
    pub fn expire_rules(&mut self, now: Duration) -> usize {
        let mut n = 0;
        for t in 0..self.tables.len() {
            if self.tables[t].is_empty() {
                continue;
            }
            let removed = self.tables[t].retain(|_, _, r| expiry(r, now).is_none());
            n += removed.len();
            for (_, _, r) in removed {
                let reason = expiry(&r, now).unwrap_or(RemovedReason::HardTimeout);
                self.rule_removed(&r, reason, now);
            }
        }
        n
    }
}

fn expiry(r: &Rule, now: Duration) -> Option<RemovedReason> {
    if r.hard_timeout != 0
        && now.saturating_sub(r.modified) >= Duration::from_secs(r.hard_timeout.into())
    {
        return Some(RemovedReason::HardTimeout);
    }
    if r.idle_timeout != 0
        && now.saturating_sub(r.last_active()) >= Duration::from_secs(r.idle_timeout.into())
    {
        return Some(RemovedReason::IdleTimeout);
    }
    None
}

/// True when a modify/delete flow_mod selects rule `r` (match `m`,
/// priority `p`).
fn selects(fm: &FlowMod, strict: bool, m: &OfMatch, p: u16, r: &Rule) -> bool {
    let by_match =
        if strict { *m == fm.match_ && p == fm.priority } else { m.is_subset_of(&fm.match_) };
    by_match
        && (r.cookie.0 & fm.cookie_mask) == (fm.cookie.0 & fm.cookie_mask)
        && (fm.out_port == OfPort::NONE || r.actions.iter().any(|a| a.outputs_to(fm.out_port)))
}
