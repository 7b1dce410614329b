//! Translation ("xlate"): running a flow through a bridge's OpenFlow
//! pipeline to find the datapath actions for it, and the bits of the flow
//! that decided them.
//!
//! The result is an [`XlateOut`]: datapath actions, [`Wildcards`] holding
//! every bit translation examined (the classifier lookups' bits, the fields
//! NORMAL read, the fields actions read or modified), the rules and MAC
//! entries used (so datapath statistics can flow back to them), and, when
//! asked, a trace in the style of `ofproto/trace`.
//!
//! Limits: resubmits nest at most [`MAX_DEPTH`] deep and number at most
//! [`MAX_RESUBMITS`] per translation; patch-port crossings count as
//! resubmits, so patch loops hit the same limits. A translation that hits
//! a limit drops the packet and says why.

mod commit;
mod normal;

pub use commit::commit;

use crate::actions::{OfAction, PacketInReason};
use crate::backer::Config;
use crate::flow::{eth_type, vlan, Flow, Mf, Prereq, Wildcards};
use crate::ofproto::{Bridge, MirrorOutput, PortKind, RuleStats};
use crate::types::{Cookie, OfPort, TableId};
use rvs_datapath::odp::{OdpAction, UserspaceAction};
use rvs_packet::{EthAddr, OdpPort};
use std::sync::Arc;
use std::time::Duration;

/// Deepest resubmit nesting.
pub const MAX_DEPTH: u32 = 64;
/// Most resubmits (and patch crossings) in one translation.
pub const MAX_RESUBMITS: u32 = 4096;

/// Why a translation failed (the packet is dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum XlateError {
    /// Resubmits nested too deeply.
    #[error("over max translation depth {MAX_DEPTH}")]
    TooDeep,
    /// Too many resubmits in all.
    #[error("over {MAX_RESUBMITS} resubmit actions")]
    TooManyResubmits,
}

impl XlateError {
    /// The number used in the datapath's drop reason.
    pub fn code(self) -> u32 {
        match self {
            XlateError::TooDeep => 1,
            XlateError::TooManyResubmits => 2,
        }
    }
}

/// A MAC entry a translation relied on (refreshed by traffic).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MacRef {
    /// The bridge.
    pub bridge: String,
    /// The VLAN.
    pub vlan: u16,
    /// The source MAC.
    pub mac: EthAddr,
    /// The port it was learned on.
    pub port: OfPort,
}

/// The result of a translation.
#[derive(Debug, Default)]
pub struct XlateOut {
    /// Datapath actions (empty = drop).
    pub actions: Vec<OdpAction>,
    /// What was examined.
    pub wc: Wildcards,
    /// Rules whose counters the packets count towards.
    pub rules: Vec<Arc<RuleStats>>,
    /// MAC entries to refresh when the megaflow sees traffic.
    pub macs: Vec<MacRef>,
    /// The trace, when asked for.
    pub trace: Vec<String>,
    /// Set when translation failed.
    pub error: Option<XlateError>,
    /// The flow as it was at the end.
    pub final_flow: Flow,
    /// True when translation changed a MAC table (so other megaflows may
    /// need revalidating).
    pub mac_changed: bool,
}

/// What to translate.
#[derive(Debug, Clone)]
pub struct XlateIn {
    /// The bridge.
    pub bridge: String,
    /// The flow (in_port is the OpenFlow port).
    pub flow: Flow,
    /// Run these actions instead of the pipeline (packet-out).
    pub actions: Option<Vec<OfAction>>,
    /// Learn MACs and change state (false for revalidation and traces that
    /// must not disturb).
    pub side_effects: bool,
    /// Record a trace.
    pub trace: bool,
    /// The time.
    pub now: Duration,
}

/// Encodes the userdata of a controller action's datapath userspace action.
pub(crate) fn encode_controller(c: &ControllerCookie) -> Vec<u8> {
    let ControllerCookie {
        bridge_id,
        in_port,
        reason,
        table,
        cookie,
        max_len,
        controller_id,
        pipeline,
        userdata,
    } = c;
    let mut v = Vec::with_capacity(24 + userdata.len());
    v.push(1u8); // kind: controller
    v.extend_from_slice(&bridge_id.to_be_bytes());
    v.extend_from_slice(&in_port.0.to_be_bytes());
    v.push(match reason {
        PacketInReason::NoMatch => 0,
        PacketInReason::Action => 1,
        PacketInReason::InvalidTtl => 2,
    });
    v.push(table.0);
    v.extend_from_slice(&cookie.0.to_be_bytes());
    v.extend_from_slice(&max_len.to_be_bytes());
    v.extend_from_slice(&controller_id.to_be_bytes());
    // The pipeline fields that are not zero: metadata (index 0, 8 bytes)
    // and registers (index 1 + n, 4 bytes).
    v.push(pipeline.len() as u8);
    for (f, val) in pipeline {
        match f {
            Mf::Metadata => {
                v.push(0);
                v.extend_from_slice(&(*val as u64).to_be_bytes());
            }
            Mf::Reg(n) => {
                v.push(1 + n);
                v.extend_from_slice(&(*val as u32).to_be_bytes());
            }
            _ => {}
        }
    }
    v.extend_from_slice(userdata);
    v
}

/// A decoded controller userdata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ControllerCookie {
    pub bridge_id: u32,
    pub in_port: OfPort,
    pub reason: PacketInReason,
    pub table: TableId,
    pub cookie: Cookie,
    pub max_len: u16,
    pub controller_id: u16,
    pub pipeline: Vec<(Mf, u128)>,
    pub userdata: Vec<u8>,
}

pub(crate) fn decode_controller(v: &[u8]) -> Option<ControllerCookie> {
    if v.len() < 22 || v[0] != 1 {
        return None;
    }
    let mut at = 22;
    let mut pipeline = Vec::new();
    for _ in 0..v[21] {
        match *v.get(at)? {
            0 => {
                pipeline.push((
                    Mf::Metadata,
                    u128::from(u64::from_be_bytes(v.get(at + 1..at + 9)?.try_into().ok()?)),
                ));
                at += 9;
            }
            i @ 1..=16 => {
                pipeline.push((
                    Mf::Reg(i - 1),
                    u128::from(u32::from_be_bytes(v.get(at + 1..at + 5)?.try_into().ok()?)),
                ));
                at += 5;
            }
            _ => return None,
        }
    }
    let u32_at = |i: usize| u32::from_be_bytes([v[i], v[i + 1], v[i + 2], v[i + 3]]);
    let u16_at = |i: usize| u16::from_be_bytes([v[i], v[i + 1]]);
    Some(ControllerCookie {
        bridge_id: u32_at(1),
        in_port: OfPort(u16_at(5)),
        reason: match v[7] {
            0 => PacketInReason::NoMatch,
            2 => PacketInReason::InvalidTtl,
            _ => PacketInReason::Action,
        },
        table: TableId(v[8]),
        cookie: Cookie(u64::from_be_bytes(v[9..17].try_into().ok()?)),
        max_len: u16_at(17),
        controller_id: u16_at(19),
        pipeline,
        userdata: v[at..].to_vec(),
    })
}

struct Ctx<'a> {
    cfg: &'a Config,
    bridge: &'a Bridge,
    flow: Flow,
    base: Flow,
    wc: Wildcards,
    odp: Vec<OdpAction>,
    depth: u32,
    resubmits: u32,
    table: TableId,
    cookie: Cookie,
    action_set: Vec<OfAction>,
    exit: bool,
    out: XlateOut,
    side_effects: bool,
    trace: bool,
    indent: usize,
    now: Duration,
    /// The bridge's mirrors that have had their copy (bit per mirror).
    mirrored: u64,
    /// The packet's VLAN as the bridge's mirrors see it (`None`: no mirror
    /// takes it).
    mirror_vlan: Option<u16>,
    /// A mirror's copy is being sent (its output is exempt from the
    /// mirror-port rule and selects no further mirror).
    mirroring: bool,
    /// The snap length of the mirror copy being sent.
    trunc: Option<u32>,
}

/// Translates `xin` against `cfg`.
pub fn xlate(cfg: &Config, xin: &XlateIn) -> XlateOut {
    let Some(bridge) = cfg.bridges.get(&xin.bridge) else {
        return XlateOut { error: None, final_flow: xin.flow, ..XlateOut::default() };
    };
    let mut ctx = Ctx {
        cfg,
        bridge,
        flow: xin.flow,
        base: xin.flow,
        wc: Wildcards::none(),
        odp: Vec::new(),
        depth: 0,
        resubmits: 0,
        table: TableId(0),
        cookie: Cookie(0),
        action_set: Vec::new(),
        exit: false,
        out: XlateOut::default(),
        side_effects: xin.side_effects,
        trace: xin.trace,
        indent: 0,
        now: xin.now,
        mirrored: 0,
        mirror_vlan: None,
        mirroring: false,
        trunc: None,
    };
    // Always exact in a megaflow: the input port and the invariants the
    // datapath adds anyway.
    ctx.wc.unwildcard(Mf::InPort);
    ctx.wc.unwildcard(Mf::DlType);
    ctx.trace_header();
    let in_port = ctx.flow.in_port();
    let no_recv = bridge.ports.get(&in_port).is_some_and(|p| p.config.no_recv);
    let mirror_port = bridge.is_mirror_output(in_port);
    if !mirror_port {
        ctx.mirror_ingress();
    }
    match &xin.actions {
        Some(actions) => ctx.do_actions(actions),
        None if no_recv => ctx.note("port has no_recv set: dropping"),
        None if mirror_port => ctx.note("port is a mirror's output: dropping what it receives"),
        None if bridge.fail_open => {
            ctx.note("fail-open: no controller reachable, acting as a learning switch");
            ctx.output(OfPort::NORMAL, 0);
        }
        None => ctx.xlate_table(TableId(0)),
    }
    if !ctx.action_set.is_empty() && ctx.out.error.is_none() {
        let set = std::mem::take(&mut ctx.action_set);
        ctx.note("Executing the action set:");
        ctx.exit = false;
        ctx.do_actions(&order_action_set(set));
    }
    if ctx.out.error.is_some() {
        ctx.odp.clear();
    }
    let mut out = ctx.out;
    out.actions = ctx.odp;
    out.wc = ctx.wc;
    out.final_flow = ctx.flow;
    out
}

/// The action set in the order OpenFlow 1.3 executes it.
fn order_action_set(set: Vec<OfAction>) -> Vec<OfAction> {
    let rank = |a: &OfAction| match a {
        OfAction::PopVlan => 1,
        OfAction::PushVlan(_) => 2,
        OfAction::DecTtl(_) => 3,
        OfAction::Output { .. } | OfAction::Controller { .. } => 9,
        OfAction::SetQueue(_) => 8,
        _ => 5,
    };
    let mut v = set;
    v.sort_by_key(rank);
    v
}

impl<'a> Ctx<'a> {
    fn note(&mut self, s: impl AsRef<str>) {
        if self.trace {
            let pad = " ".repeat(self.indent);
            self.out.trace.push(format!("{pad}{}", s.as_ref()));
        }
    }

    fn trace_header(&mut self) {
        if self.trace {
            let b = self.bridge.name.clone();
            self.out.trace.push(String::new());
            self.out.trace.push(format!("bridge(\"{b}\")"));
            self.out.trace.push("-".repeat(b.len() + 10));
        }
    }

    fn fail(&mut self, e: XlateError) {
        if self.out.error.is_none() {
            self.note(format!(">>>> {e} <<<<"));
            self.out.error = Some(e);
        }
        self.exit = true;
    }

    /// Sets the packet's VLAN for the mirrors of the current bridge and
    /// sends the copies of those that select it on input.
    fn mirror_ingress(&mut self) {
        self.mirrored = 0;
        self.mirror_vlan = None;
        if self.bridge.mirrors.is_empty() {
            return;
        }
        self.wc.unwildcard(Mf::VlanTci);
        let tci = self.flow.vlan_tci();
        let vid = if crate::flow::tci_present(tci) { tci & vlan::VID_MASK } else { 0 };
        let in_port = self.flow.in_port();
        self.mirror_vlan = self.bridge.ports.get(&in_port).and_then(|p| p.vlan.input_vlan(vid));
        self.mirror(None);
    }

    /// Sends a copy of the packet to each mirror that selects it and has
    /// not had it yet: on input (`out` `None`) or on its output to `out`.
    fn mirror(&mut self, out: Option<OfPort>) {
        let Some(vlan) = self.mirror_vlan.filter(|_| !self.mirroring) else { return };
        let bridge = self.bridge;
        let in_port = self.flow.in_port();
        for (i, m) in bridge.mirrors.iter().enumerate().take(Bridge::MAX_MIRRORS) {
            if self.mirrored & (1 << i) != 0 || !m.selects(vlan, in_port, out) {
                continue;
            }
            self.mirrored |= 1 << i;
            self.note(format!("    mirror {}: sending a copy", m.name));
            if let Some(st) = bridge.mirror_stats.get(i) {
                self.out.rules.push(st.clone());
            }
            self.mirroring = true;
            self.trunc = m.snaplen;
            match m.output {
                MirrorOutput::Port(p) if p != in_port => normal::output_normal(self, p, vlan),
                MirrorOutput::Port(_) => {}
                MirrorOutput::Vlan(v) => {
                    let ports: Vec<OfPort> = bridge
                        .ports
                        .values()
                        .filter(|p| p.ofport != in_port && !bridge.is_mirror_output(p.ofport))
                        .map(|p| p.ofport)
                        .collect();
                    for p in ports {
                        normal::output_normal(self, p, v);
                    }
                }
            }
            self.trunc = None;
            self.mirroring = false;
        }
    }

    fn xlate_table(&mut self, table: TableId) {
        if usize::from(table.0) >= self.bridge.tables.len() {
            return;
        }
        let cls = &self.bridge.tables[usize::from(table.0)];
        let hit = cls.lookup(&self.flow, Some(&mut self.wc)).map(|(_, _, r)| r.clone());
        let saved = (self.table, self.cookie);
        self.table = table;
        match hit {
            Some(rule) => {
                self.out.rules.push(rule.stats.clone());
                self.cookie = rule.cookie;
                if self.trace {
                    let desc = crate::trace::describe_rule(&rule, self.bridge);
                    self.note(format!("{:>2}. {desc}", table.0));
                    self.indent += 4;
                }
                self.do_actions(&rule.actions);
                if self.trace {
                    self.indent -= 4;
                }
            }
            None if self.bridge.miss_to_controller && table.0 == 0 && self.depth == 0 => {
                self.note(format!("{:>2}. No match.", table.0));
                self.indent += 4;
                self.note("controller (table miss, reason no_match)");
                self.controller(PacketInReason::NoMatch, u16::MAX, 0, &[]);
                self.indent -= 4;
            }
            None => {
                self.note(format!("{:>2}. No match.", table.0));
                self.indent += 4;
                self.note("drop");
                self.indent -= 4;
            }
        }
        (self.table, self.cookie) = saved;
    }

    fn do_actions(&mut self, actions: &[OfAction]) {
        for a in actions {
            if self.exit {
                break;
            }
            if self.trace {
                let s = crate::trace::describe_action(a, self.bridge);
                self.note(s);
            }
            self.do_action(a);
        }
    }

    fn do_action(&mut self, a: &OfAction) {
        match a {
            OfAction::Output { port, max_len } => self.output(*port, *max_len),
            OfAction::Controller { max_len, reason, id, userdata } => {
                self.controller(*reason, *max_len, *id, userdata)
            }
            OfAction::Resubmit { in_port, table } => self.resubmit(*in_port, *table),
            OfAction::GotoTable(t) => {
                let indent = self.indent;
                self.indent = indent.saturating_sub(4);
                self.xlate_table(*t);
                self.indent = indent;
            }
            OfAction::WriteMetadata { value, mask } => {
                let m = u128::from(*mask);
                let old = self.flow.get(Mf::Metadata);
                self.flow.set(Mf::Metadata, (old & !m) | (u128::from(*value) & m));
            }
            OfAction::SetField { field, value, mask, .. } => self.set_field(*field, *value, *mask),
            OfAction::Move { src, dst } => {
                if !self.prereq(src.field) || !self.prereq(dst.field) {
                    return;
                }
                self.wc.or_field(src.field, src.mask());
                let v = (self.flow.get(src.field) & src.mask()) >> src.ofs;
                self.set_field(dst.field, v << dst.ofs, dst.mask());
            }
            OfAction::SetEthSrc(e) => self.set_field(Mf::DlSrc, e.to_u64().into(), u128::MAX),
            OfAction::SetEthDst(e) => self.set_field(Mf::DlDst, e.to_u64().into(), u128::MAX),
            OfAction::SetIpv4Src(a) => self.set_field(Mf::NwSrc, u32::from(*a).into(), u128::MAX),
            OfAction::SetIpv4Dst(a) => self.set_field(Mf::NwDst, u32::from(*a).into(), u128::MAX),
            OfAction::SetIpDscp(tos) => self.set_field(Mf::NwTos, u128::from(*tos & 0xfc), 0xfc),
            OfAction::SetIpEcn(ecn) => self.set_field(Mf::NwEcn, u128::from(*ecn & 3), 3),
            OfAction::SetIpTtl(t) => self.set_field(Mf::NwTtl, u128::from(*t), u128::MAX),
            OfAction::SetL4Src(p) => self.set_field(Mf::TpSrc, u128::from(*p), u128::MAX),
            OfAction::SetL4Dst(p) => self.set_field(Mf::TpDst, u128::from(*p), u128::MAX),
            OfAction::DecTtl(ids) => self.dec_ttl(ids),
            OfAction::PushVlan(_tpid) => {
                self.wc.unwildcard(Mf::VlanTci);
                if !crate::flow::tci_present(self.flow.vlan_tci()) {
                    self.flow.set(Mf::VlanTci, u128::from(vlan::CFI));
                }
            }
            OfAction::PopVlan => {
                self.wc.unwildcard(Mf::VlanTci);
                self.flow.set(Mf::VlanTci, 0);
            }
            OfAction::SetVlanVid(vid) => {
                self.wc.unwildcard(Mf::VlanTci);
                let tci = self.flow.vlan_tci();
                let pcp = if crate::flow::tci_present(tci) { tci & vlan::PCP_MASK } else { 0 };
                self.flow.set(Mf::VlanTci, u128::from(pcp | vlan::CFI | (vid & vlan::VID_MASK)));
            }
            OfAction::SetVlanPcp(pcp) => {
                self.wc.unwildcard(Mf::VlanTci);
                let tci = self.flow.vlan_tci();
                let vid = if crate::flow::tci_present(tci) { tci & vlan::VID_MASK } else { 0 };
                let pcp = (u16::from(*pcp) << vlan::PCP_SHIFT) & vlan::PCP_MASK;
                self.flow.set(Mf::VlanTci, u128::from(pcp | vlan::CFI | vid));
            }
            OfAction::SetTunnel { id, .. } => self.flow.set(Mf::TunId, u128::from(*id)),
            OfAction::SetQueue(q) => self.flow.set(Mf::SkbPriority, u128::from(*q)),
            OfAction::Clone(inner) => {
                let saved = (self.flow, self.action_set.clone());
                self.sub_translate(|ctx| ctx.do_actions(inner));
                (self.flow, self.action_set) = saved;
            }
            OfAction::Note(_) => {}
            OfAction::Exit => self.exit = true,
            OfAction::WriteActions(list) => {
                for a in list {
                    let same_kind = |b: &OfAction| match (a, b) {
                        (
                            OfAction::SetField { field: f1, .. },
                            OfAction::SetField { field: f2, .. },
                        ) => f1 == f2,
                        _ => std::mem::discriminant(a) == std::mem::discriminant(b),
                    };
                    self.action_set.retain(|b| !same_kind(b));
                    self.action_set.push(a.clone());
                }
            }
            OfAction::ClearActions => self.action_set.clear(),
        }
    }

    /// Runs `f` with its own copy of the datapath packet: the datapath
    /// actions it produces are wrapped in `clone()` when they modify the
    /// packet, so what follows sees the packet as it was.
    fn sub_translate(&mut self, f: impl FnOnce(&mut Self)) {
        let saved_base = self.base;
        let saved_odp = std::mem::take(&mut self.odp);
        f(self);
        let inner = std::mem::replace(&mut self.odp, saved_odp);
        if commit::modifies(&inner) {
            self.odp.push(OdpAction::Clone(inner));
        } else {
            self.odp.extend(inner);
        }
        self.base = saved_base;
    }

    fn prereq(&mut self, f: Mf) -> bool {
        f.spec().prereq.holds(&self.flow, Some(&mut self.wc))
    }

    fn set_field(&mut self, f: Mf, value: u128, mask: u128) {
        if !self.prereq(f) {
            self.note(format!("    (skipped: {f} does not apply to this packet)"));
            return;
        }
        match f {
            // A VLAN field on an untagged packet has nothing to write.
            Mf::DlVlan | Mf::DlVlanPcp => {
                self.wc.unwildcard(Mf::VlanTci);
                if !crate::flow::tci_present(self.flow.vlan_tci()) {
                    return;
                }
            }
            Mf::VlanTci => self.wc.unwildcard(Mf::VlanTci),
            _ => {}
        }
        // Whether the datapath needs a set depends on the old value.
        self.wc.or_field(f, mask);
        let old = self.flow.get(f);
        self.flow.set(f, (old & !mask) | (value & mask));
    }

    fn dec_ttl(&mut self, ids: &[u16]) {
        if !self.prereq(Mf::NwTtl) {
            return;
        }
        self.wc.unwildcard(Mf::NwTtl);
        let ttl = self.flow.get(Mf::NwTtl) as u8;
        if ttl <= 1 {
            self.note("    TTL expired: sending to the controller and stopping");
            let ids: Vec<u16> = if ids.is_empty() { vec![0] } else { ids.to_vec() };
            for id in ids {
                self.controller(PacketInReason::InvalidTtl, u16::MAX, id, &[]);
            }
            self.exit = true;
        } else {
            self.flow.set(Mf::NwTtl, u128::from(ttl - 1));
        }
    }

    fn resubmit(&mut self, in_port: Option<OfPort>, table: Option<TableId>) {
        if self.depth >= MAX_DEPTH {
            return self.fail(XlateError::TooDeep);
        }
        self.resubmits += 1;
        if self.resubmits > MAX_RESUBMITS {
            return self.fail(XlateError::TooManyResubmits);
        }
        let old_port = self.flow.in_port();
        if let Some(p) = in_port {
            if p != OfPort::IN_PORT {
                self.flow.set(Mf::InPort, u128::from(p.0));
            }
        }
        self.depth += 1;
        let t = table.unwrap_or(self.table);
        let saved_exit = self.exit;
        // Tables reached by resubmit print at the same level as the first.
        let indent = self.indent;
        self.indent = indent.saturating_sub(4);
        self.xlate_table(t);
        self.indent = indent;
        // `exit` stops everything, including the callers.
        self.exit |= saved_exit;
        self.depth -= 1;
        self.flow.set(Mf::InPort, u128::from(old_port.0));
    }

    fn controller(&mut self, reason: PacketInReason, max_len: u16, id: u16, userdata: &[u8]) {
        if self.bridge.ports.get(&self.flow.in_port()).is_some_and(|p| p.config.no_packet_in) {
            return;
        }
        commit(&mut self.base, &self.flow, &mut self.odp);
        let data = encode_controller(&ControllerCookie {
            bridge_id: self.bridge.id,
            in_port: self.flow.in_port(),
            reason,
            table: self.table,
            cookie: self.cookie,
            max_len,
            controller_id: id,
            pipeline: std::iter::once(Mf::Metadata)
                .chain((0..16).map(Mf::Reg))
                .map(|f| (f, self.flow.get(f)))
                .filter(|(_, v)| *v != 0)
                .collect(),
            userdata: userdata.to_vec(),
        });
        self.odp.push(OdpAction::Userspace(UserspaceAction {
            pid: 0,
            userdata: data,
            tunnel_out_port: None,
            actions: false,
        }));
    }

    /// Output to an OpenFlow port, reserved or not.
    fn output(&mut self, port: OfPort, max_len: u16) {
        let in_port = self.flow.in_port();
        match port {
            OfPort::IN_PORT => self.output_port(in_port, true),
            OfPort::NORMAL => normal::xlate_normal(self),
            OfPort::FLOOD | OfPort::ALL => {
                let ports: Vec<OfPort> = self
                    .bridge
                    .ports
                    .values()
                    .filter(|p| {
                        p.ofport != in_port && !(port == OfPort::FLOOD && p.config.no_flood)
                    })
                    .map(|p| p.ofport)
                    .collect();
                for p in ports {
                    self.output_port(p, false);
                }
            }
            OfPort::CONTROLLER => self.controller(PacketInReason::Action, max_len, 0, &[]),
            OfPort::TABLE | OfPort::NONE => self.note("    (output to TABLE or NONE ignored)"),
            p => self.output_port(p, false),
        }
    }

    /// Output to one bridge port (LOCAL included); `allow_in_port` for the
    /// IN_PORT action.
    fn output_port(&mut self, port: OfPort, allow_in_port: bool) {
        if port == self.flow.in_port() && !allow_in_port {
            self.note("    skipping output to input port");
            return;
        }
        let Some(p) = self.bridge.ports.get(&port) else {
            self.note(format!("    output to nonexistent port {port}"));
            return;
        };
        if p.config.no_fwd || p.config.down {
            self.note(format!("    {} is down or has no_fwd set: not sending", p.name));
            return;
        }
        if !self.mirroring && self.bridge.is_mirror_output(port) {
            self.note(format!("    {} is a mirror's output: not sending", p.name));
            return;
        }
        match &p.kind {
            PortKind::Datapath(odp) => {
                let odp: OdpPort = *odp;
                commit(&mut self.base, &self.flow, &mut self.odp);
                match self.trunc {
                    // Cut in a copy, so that later outputs get it whole.
                    Some(n) => self
                        .odp
                        .push(OdpAction::Clone(vec![OdpAction::Trunc(n), OdpAction::Output(odp)])),
                    None => self.odp.push(OdpAction::Output(odp)),
                }
            }
            PortKind::Patch { peer } => {
                let peer = peer.clone();
                let name = p.name.clone();
                self.patch_output(&name, &peer);
            }
        }
        self.mirror(Some(port));
    }

    fn patch_output(&mut self, name: &str, peer: &str) {
        let Some((peer_bridge, peer_port)) = self.cfg.patch_peer(&self.bridge.name, name, peer)
        else {
            self.note(format!(
                "    patch port {name}: peer {peer} does not exist or does not name {name} back"
            ));
            return;
        };
        if self.depth >= MAX_DEPTH {
            return self.fail(XlateError::TooDeep);
        }
        self.resubmits += 1;
        if self.resubmits > MAX_RESUBMITS {
            return self.fail(XlateError::TooManyResubmits);
        }
        let saved_bridge = self.bridge;
        let saved_flow = self.flow;
        let saved_set = std::mem::take(&mut self.action_set);
        let saved_table = self.table;
        let saved_mirrors = (self.mirrored, self.mirror_vlan, self.mirroring, self.trunc);
        self.bridge = peer_bridge;
        self.flow.clear_pipeline_fields();
        self.flow.set(Mf::InPort, u128::from(peer_port.0));
        self.depth += 1;
        // The peer bridge's mirrors see the packet come in on the peer
        // port (a mirror copy sent through a patch port is an ordinary
        // packet there).
        self.mirroring = false;
        self.trunc = None;
        self.mirror_ingress();
        if self.trace {
            let b = peer_bridge.name.clone();
            self.out.trace.push(String::new());
            self.out.trace.push(format!("{}bridge(\"{b}\")", " ".repeat(self.indent)));
            self.out.trace.push(format!("{}{}", " ".repeat(self.indent), "-".repeat(b.len() + 10)));
        }
        self.sub_translate(|ctx| {
            ctx.xlate_table(TableId(0));
            if !ctx.action_set.is_empty() {
                let set = std::mem::take(&mut ctx.action_set);
                ctx.do_actions(&order_action_set(set));
            }
        });
        self.depth -= 1;
        self.bridge = saved_bridge;
        self.flow = saved_flow;
        self.action_set = saved_set;
        self.table = saved_table;
        (self.mirrored, self.mirror_vlan, self.mirroring, self.trunc) = saved_mirrors;
        // `exit` in the peer bridge ends the peer's pipeline only.
        if self.out.error.is_none() {
            self.exit = false;
        }
    }
}

/// True for the IEEE reserved group addresses 01:80:c2:00:00:00-0f (STP,
/// LACP, ...), which bridges must not forward.
pub fn is_reserved_multicast(mac: EthAddr) -> bool {
    mac.0[..5] == [0x01, 0x80, 0xc2, 0, 0] && mac.0[5] & 0xf0 == 0
}

/// True for a gratuitous ARP: broadcast, ARP request or reply, sender
/// address equal to target address. Marks what it reads.
pub fn is_gratuitous_arp(flow: &Flow, wc: &mut Wildcards) -> bool {
    wc.unwildcard(Mf::DlType);
    if flow.dl_type() != eth_type::ARP {
        return false;
    }
    wc.unwildcard(Mf::DlDst);
    if EthAddr::from_u64(flow.get(Mf::DlDst) as u64) != EthAddr::BROADCAST {
        return false;
    }
    wc.unwildcard(Mf::ArpOp);
    let op = flow.get(Mf::ArpOp);
    if op != 1 && op != 2 {
        return false;
    }
    wc.unwildcard(Mf::ArpSpa);
    wc.unwildcard(Mf::ArpTpa);
    Prereq::Arp.holds(flow, None) && flow.get(Mf::ArpSpa) == flow.get(Mf::ArpTpa)
}
