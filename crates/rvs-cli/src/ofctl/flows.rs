//! Flow commands: dumps, flow_mods, replace-flows, packet-out, and the
//! printing of an error the switch sends back.

use std::fmt::Write;

use rvs_ofproto::ofp::flow::FlowStatsRequest;
use rvs_ofproto::ofp::msg::{Msg, PacketOut};
use rvs_ofproto::ofp::{match10, FlowFormat, MsgType, Protocol, Version, NO_BUFFER};
use rvs_ofproto::text::{
    format_actions, format_flow_no_stats, format_flow_stats, format_match, parse_actions,
    parse_flow_mod, FlowStatsLine, NoNames, PortNames,
};
use rvs_ofproto::{FlowMod, FlowModCommand, OfPort, TableId};

use super::conn::{Owned, Session, Target};
use super::{fail, print, Ctx, OfctlError, PortMap, Sort};

/// The name ovs-ofctl prints for a message type, where rvs-ofctl prints it.
fn type_name(ty: MsgType) -> Option<&'static str> {
    Some(match ty {
        MsgType::FlowMod => "OFPT_FLOW_MOD",
        MsgType::PacketOut => "OFPT_PACKET_OUT",
        MsgType::BarrierRequest => "OFPT_BARRIER_REQUEST",
        MsgType::FeaturesRequest => "OFPT_FEATURES_REQUEST",
        MsgType::GetConfigRequest => "OFPT_GET_CONFIG_REQUEST",
        MsgType::EchoRequest => "OFPT_ECHO_REQUEST",
        _ => return None,
    })
}

fn command_name(c: FlowModCommand) -> &'static str {
    match c {
        FlowModCommand::Add => "ADD",
        FlowModCommand::Modify => "MOD",
        FlowModCommand::ModifyStrict => "MOD_STRICT",
        FlowModCommand::Delete => "DEL",
        FlowModCommand::DeleteStrict => "DEL_STRICT",
    }
}

/// A flow_mod as ovs-ofctl prints one (`ADD priority=10,ip actions=drop`).
fn format_flow_mod(fm: &FlowMod) -> String {
    let mut s = String::from(command_name(fm.command));
    if fm.table != TableId(0) && fm.table != TableId::ALL {
        let _ = write!(s, " table:{}", fm.table.0);
    }
    s.push(' ');
    s += &format_match(&fm.match_, fm.priority, &NoNames);
    if !s.ends_with(' ') {
        s.push(' ');
    }
    if let Some(c) = fm.new_cookie {
        let _ = write!(s, "cookie:{:#x} ", c.0);
    } else if fm.command == FlowModCommand::Add && fm.cookie.0 != 0 {
        let _ = write!(s, "cookie:{:#x} ", fm.cookie.0);
    }
    if fm.cookie_mask != 0 {
        let _ = write!(s, "cookie:{:#x}/{:#x} ", fm.cookie.0, fm.cookie_mask);
    }
    if fm.idle_timeout != 0 {
        let _ = write!(s, "idle:{} ", fm.idle_timeout);
    }
    if fm.hard_timeout != 0 {
        let _ = write!(s, "hard:{} ", fm.hard_timeout);
    }
    if fm.importance != 0 {
        let _ = write!(s, "importance:{} ", fm.importance);
    }
    if fm.out_port != OfPort::NONE {
        let _ = write!(s, "out_port:{} ", fm.out_port);
    }
    s += "actions=";
    s += &format_actions(&fm.actions, &NoNames);
    s
}

/// An error reply as ovs-ofctl prints it: the error, then the request it
/// answers (decoded when whole, else a hex dump of what came back).
pub fn format_error(r: &Owned, proto: Protocol) -> String {
    let raw = r.raw();
    let mut s = print::header("OFPT_ERROR", raw.version, raw.xid);
    let (code, data) = match rvs_ofproto::ofp::msg::decode(&raw, proto) {
        Ok(Msg::Error(code, data)) => (code.name(), data),
        _ => ("(unknown error)".to_string(), Vec::new()),
    };
    let _ = writeln!(s, " {code}");
    if data.len() >= 8 {
        let declared = usize::from(u16::from_be_bytes([data[2], data[3]]));
        let name = rvs_ofproto::ofp::RawMsg::parse(&data[..declared.min(data.len())])
            .ok()
            .and_then(|m| type_name(m.ty).map(|n| (n, m)));
        let xid = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
        let version = Version::from_wire(data[0]).unwrap_or(raw.version);
        let label = name.map(|(n, _)| n).unwrap_or("(unknown message)");
        s += &print::header(label, version, xid);
        if declared > data.len() {
            let _ = writeln!(s, "\n(***truncated to {} bytes from {declared}***)", data.len());
            s += &print::hex_dump(&data);
        } else if let Some((_, m)) = name.filter(|(_, m)| m.ty == MsgType::FlowMod) {
            match rvs_ofproto::ofp::flow::decode_flow_mod(&m, proto) {
                Ok(fm) => {
                    let _ = writeln!(s, " {}", format_flow_mod(&fm));
                }
                Err(_) => {
                    s.push('\n');
                    s += &print::hex_dump(&data);
                }
            }
        } else {
            s.push('\n');
            s += &print::hex_dump(&data);
        }
    }
    s
}

/// Whether an OpenFlow 1.0 session needs NXM for `fm`'s match.
fn needs_nxm(fm: &FlowMod) -> bool {
    !match10::can_express(&fm.match_)
}

/// Whether an OpenFlow 1.0 session needs table ids in flow_mods for `fm`.
fn needs_tid(fm: &FlowMod) -> bool {
    match fm.command {
        FlowModCommand::Add => fm.table != TableId(0),
        _ => fm.table != TableId::ALL,
    }
}

/// Reads FILE (`-` for stdin).
fn read_file(path: &str) -> Result<String, OfctlError> {
    if path == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| fail(format!("-: read failed ({e})")))?;
        Ok(s)
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| fail(format!("{path}: open failed ({})", super::conn::io_reason(&e))))
    }
}

/// Parses the flows of a file: one a line, `#` comments and blank lines
/// skipped, an optional leading `add`, `modify`, `modify_strict`, `delete`
/// or `delete_strict` choosing the command.
fn parse_flow_file(
    text: &str,
    default: FlowModCommand,
    ports: &dyn PortNames,
    path: &str,
) -> Result<Vec<FlowMod>, OfctlError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (cmd, rest) = match line.split_once(char::is_whitespace) {
            Some(("add", r)) => (FlowModCommand::Add, r),
            Some(("modify", r)) => (FlowModCommand::Modify, r),
            Some(("modify_strict", r)) => (FlowModCommand::ModifyStrict, r),
            Some(("delete", r)) => (FlowModCommand::Delete, r),
            Some(("delete_strict", r)) => (FlowModCommand::DeleteStrict, r),
            _ => (default, line),
        };
        let fm = parse_flow_mod(rest.trim(), cmd, ports)
            .map_err(|e| fail(format!("{path}:{}: {e}", i + 1)))?;
        out.push(fm);
    }
    Ok(out)
}

impl Ctx {
    /// `dump-flows` and `dump-aggregate`.
    pub(super) fn dump_flows(
        &mut self,
        target: &Target,
        text: &str,
        aggregate: bool,
    ) -> Result<(), OfctlError> {
        let ports =
            if text.is_empty() { PortMap(Vec::new()) } else { self.names_for_parsing(target)? };
        let fm = parse_flow_mod(text, FlowModCommand::Delete, &ports)
            .map_err(|e| fail(e.to_string()))?;
        let req = FlowStatsRequest {
            table: fm.table,
            out_port: fm.out_port,
            cookie: fm.cookie,
            cookie_mask: fm.cookie_mask,
            match_: fm.match_,
        };
        let names = !aggregate && self.show_names();
        let show_ports =
            if names && ports.0.is_empty() { PortMap(self.port_descs(target)?) } else { ports };
        let tables = if names { self.table_names(target)? } else { Vec::new() };
        let plain = !aggregate && (names || !self.stats || self.sort.is_some());
        let mut s = self.open(target)?;
        self.set_protocol(&mut s, true, false)?;
        let v = s.version();
        let nx = v == Version::V10 && s.proto.flow_format == FlowFormat::Nxm;
        let replies = self.transact(&mut s, &Msg::FlowStatsRequest(req, aggregate))?;
        let mut lines: Vec<FlowStatsLine> = Vec::new();
        for r in &replies {
            let xid = r.raw().xid;
            match Ctx::decode(&s, r)? {
                Msg::AggregateReply(a) => {
                    let name = if nx { "NXST_AGGREGATE reply" } else { "OFPST_AGGREGATE reply" };
                    self.out += &print::header(name, v, xid);
                    let _ = writeln!(
                        self.out,
                        " packet_count={} byte_count={} flow_count={}",
                        a.packets, a.bytes, a.flows
                    );
                }
                // ovs-ofctl decodes the flows it sorts or names without
                // Nicira's flow ages.
                Msg::FlowStatsReply(ls) if plain => {
                    lines.extend(ls.into_iter().map(|l| FlowStatsLine {
                        idle_age: None,
                        hard_age: None,
                        ..l
                    }))
                }
                Msg::FlowStatsReply(ls) => {
                    let name = if nx { "NXST_FLOW reply" } else { "OFPST_FLOW reply" };
                    self.out += &print::header(name, v, xid);
                    self.out.push('\n');
                    for l in &ls {
                        self.out += &format_flow_stats(l, &NoNames);
                        self.out.push('\n');
                    }
                }
                other => return Err(fail(format!("received unexpected reply {other:?}"))),
            }
        }
        if plain {
            match self.sort {
                Some(Sort::Asc) => lines.sort_by_key(|l| l.priority),
                Some(Sort::Desc) => lines.sort_by_key(|l| std::cmp::Reverse(l.priority)),
                None => {}
            }
            let pn: &dyn PortNames = if names { &show_ports } else { &NoNames };
            for l in &lines {
                let mut line =
                    if self.stats { format_flow_stats(l, pn) } else { format_flow_no_stats(l, pn) };
                if let Some((_, name)) = tables.iter().find(|(t, _)| *t == l.table) {
                    let num = format!("table={}, ", l.table);
                    let named = format!("table={name}, ");
                    if let Some(i) = line.find(&num) {
                        line.replace_range(i..i + num.len(), &named);
                    } else {
                        // Without stats table 0 goes unprinted, unless it
                        // has a name: then it comes after any cookie.
                        let at = if line.starts_with(" cookie=") {
                            line.find(", ").map_or(1, |i| i + 2)
                        } else {
                            1
                        };
                        line.insert_str(at, &named);
                    }
                }
                self.out += &line;
                self.out.push('\n');
            }
        }
        Ok(())
    }

    /// The switch's table names, for `--names`: from table statistics on
    /// OpenFlow 1.0, table features on 1.3 and later.
    fn table_names(&mut self, target: &Target) -> Result<Vec<(TableId, String)>, OfctlError> {
        let mut s = self.open(target)?;
        let req = if s.version() == Version::V10 {
            Msg::TableStatsRequest
        } else if s.version() >= Version::V13 {
            Msg::TableFeaturesRequest(false)
        } else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for r in self.transact(&mut s, &req)? {
            match Ctx::decode(&s, &r)? {
                Msg::TableStatsReply(ts) => {
                    out.extend(ts.into_iter().map(|t| (t.table, t.name)));
                }
                Msg::TableFeaturesReply(ts) => out.extend(ts.into_iter().map(|(t, n, _)| (t, n))),
                _ => {}
            }
        }
        out.retain(|(_, n)| !n.is_empty());
        Ok(out)
    }

    /// Sends flow_mods on a fresh session, switching OpenFlow 1.0 to NXM
    /// or table ids as the flows need, then a barrier.
    fn send_flow_mods(&mut self, target: &Target, fms: Vec<FlowMod>) -> Result<(), OfctlError> {
        let mut s = self.open(target)?;
        let nxm = fms.iter().any(needs_nxm);
        let tid = fms.iter().any(needs_tid);
        self.set_protocol(&mut s, nxm, tid)?;
        self.flow_mods_on(&mut s, fms)
    }

    fn flow_mods_on(&mut self, s: &mut Session, fms: Vec<FlowMod>) -> Result<(), OfctlError> {
        let v = s.version();
        let msgs: Vec<(Msg, u32)> = fms
            .into_iter()
            .map(|mut fm| {
                // From OpenFlow 1.1 on a modify names one table; ovs-ofctl
                // sends table 0 for "every table" (which OVS takes as all),
                // as only deletes may carry OFPTT_ALL.
                if v >= Version::V11
                    && fm.table == TableId::ALL
                    && matches!(fm.command, FlowModCommand::Modify | FlowModCommand::ModifyStrict)
                {
                    fm.table = TableId(0);
                }
                (Msg::FlowMod(fm), self.xids.alloc())
            })
            .collect();
        let errs = s.transact_noreply(&msgs, &mut self.xids)?;
        match errs.first() {
            Some(e) => Err(OfctlError::Refused(format_error(e, s.proto))),
            None => Ok(()),
        }
    }

    /// `add-flow`, `mod-flows`, `del-flows`.
    pub(super) fn flow_mod_cmd(
        &mut self,
        target: &Target,
        cmd: &str,
        text: Option<&str>,
    ) -> Result<(), OfctlError> {
        let command = match (cmd, self.strict) {
            ("add-flow", _) => FlowModCommand::Add,
            ("mod-flows", false) => FlowModCommand::Modify,
            ("mod-flows", true) => FlowModCommand::ModifyStrict,
            (_, false) => FlowModCommand::Delete,
            (_, true) => FlowModCommand::DeleteStrict,
        };
        if text == Some("-") && command == FlowModCommand::Add {
            return self.add_flows(target, "-");
        }
        let ports = self.names_for_parsing(target)?;
        let fm =
            parse_flow_mod(text.unwrap_or(""), command, &ports).map_err(|e| fail(e.to_string()))?;
        self.send_flow_mods(target, vec![fm])
    }

    /// `add-flows FILE`.
    pub(super) fn add_flows(&mut self, target: &Target, path: &str) -> Result<(), OfctlError> {
        let ports = self.names_for_parsing(target)?;
        let text = read_file(path)?;
        let fms = parse_flow_file(&text, FlowModCommand::Add, &ports, path)?;
        if fms.is_empty() {
            return Ok(());
        }
        self.send_flow_mods(target, fms)
    }

    /// `replace-flows FILE`: deletes the switch's flows that FILE lacks,
    /// adds those it lacks or holds differently (actions, cookie,
    /// timeouts), in one batch.
    pub(super) fn replace_flows(&mut self, target: &Target, path: &str) -> Result<(), OfctlError> {
        let ports = self.names_for_parsing(target)?;
        let text = read_file(path)?;
        let wanted = parse_flow_file(&text, FlowModCommand::Add, &ports, path)?;
        if let Some(fm) = wanted.iter().find(|f| f.command != FlowModCommand::Add) {
            return Err(fail(format!(
                "{path}: replace-flows takes only flows to add, not {}",
                command_name(fm.command)
            )));
        }
        let mut s = self.open(target)?;
        let nxm = true;
        let tid = true;
        self.set_protocol(&mut s, nxm, tid)?;
        let replies = self.transact(&mut s, &Msg::FlowStatsRequest(Default::default(), false))?;
        let mut have: Vec<FlowStatsLine> = Vec::new();
        for r in &replies {
            if let Msg::FlowStatsReply(ls) = Ctx::decode(&s, r)? {
                have.extend(ls);
            }
        }
        let same_rule = |fm: &FlowMod, l: &FlowStatsLine| {
            fm.table == l.table && fm.priority == l.priority && fm.match_ == l.match_
        };
        let mut mods = Vec::new();
        for l in &have {
            if !wanted.iter().any(|fm| same_rule(fm, l)) {
                mods.push(FlowMod {
                    command: FlowModCommand::DeleteStrict,
                    table: l.table,
                    priority: l.priority,
                    match_: l.match_,
                    ..FlowMod::default()
                });
            }
        }
        for fm in wanted {
            let old = have.iter().find(|l| same_rule(&fm, l));
            let same = old.is_some_and(|l| {
                l.actions == fm.actions
                    && l.cookie == fm.cookie
                    && l.idle_timeout == fm.idle_timeout
                    && l.hard_timeout == fm.hard_timeout
            });
            if !same {
                mods.push(fm);
            }
        }
        if mods.is_empty() {
            return Ok(());
        }
        self.flow_mods_on(&mut s, mods)
    }

    /// `packet-out SWITCH IN_PORT ACTIONS PACKET...` and
    /// `packet-out SWITCH "in_port=...,packet=...,actions=..."`.
    pub(super) fn packet_out(&mut self, target: &Target, args: &[&str]) -> Result<(), OfctlError> {
        let ports = if self.accept_names() {
            PortMap(self.port_descs(target).unwrap_or_default())
        } else {
            PortMap(Vec::new())
        };
        let port = |s: &str| -> Result<OfPort, OfctlError> {
            let unq = s.trim_matches('"');
            if unq.eq_ignore_ascii_case("none") {
                return Ok(OfPort::NONE);
            }
            if let Some(p) = ports.port_by_name(unq) {
                return Ok(p);
            }
            unq.parse::<OfPort>().map_err(|_| fail(format!("{s}: unknown port")))
        };
        let mut pos = Vec::new();
        if args.len() == 1 {
            let text = args[0];
            let (fields, actions) = match text.find("actions=") {
                Some(i) => (&text[..i], &text[i + "actions=".len()..]),
                None => return Err(fail("must specify an action")),
            };
            let mut in_port = OfPort::NONE;
            let mut packet = None;
            for item in fields.split(|c: char| c == ',' || c.is_whitespace()) {
                if item.is_empty() {
                    continue;
                }
                match item.split_once('=') {
                    Some(("in_port", v)) => in_port = port(v)?,
                    Some(("packet", v)) => packet = Some(parse_hex(v)?),
                    _ => return Err(fail(format!("unknown keyword {item}"))),
                }
            }
            let Some(packet) = packet else {
                return Err(fail("must specify packet"));
            };
            let acts = parse_actions(actions, &ports).map_err(|e| fail(e.to_string()))?;
            pos.push(PacketOut { buffer_id: NO_BUFFER, in_port, actions: acts, data: packet });
        } else {
            if args.len() < 3 {
                return Err(fail("'packet-out' command requires at least 4 arguments"));
            }
            let in_port = port(args[0])?;
            let acts = parse_actions(args[1], &ports).map_err(|e| fail(e.to_string()))?;
            for p in &args[2..] {
                pos.push(PacketOut {
                    buffer_id: NO_BUFFER,
                    in_port,
                    actions: acts.clone(),
                    data: parse_hex(p)?,
                });
            }
        }
        let mut s = self.open(target)?;
        let msgs: Vec<(Msg, u32)> =
            pos.into_iter().map(|po| (Msg::PacketOut(po), self.xids.alloc())).collect();
        let errs = s.transact_noreply(&msgs, &mut self.xids)?;
        match errs.first() {
            Some(e) => Err(OfctlError::Refused(format_error(e, s.proto))),
            None => Ok(()),
        }
    }
}

/// Hex digits (white space ignored) into bytes.
fn parse_hex(s: &str) -> Result<Vec<u8>, OfctlError> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err(fail(format!("{s}: hex string has an odd number of digits")));
    }
    digits
        .chunks(2)
        .map(|c| {
            std::str::from_utf8(c)
                .ok()
                .and_then(|x| u8::from_str_radix(x, 16).ok())
                .ok_or_else(|| fail(format!("{s}: trailing garbage in packet data")))
        })
        .collect()
}
