//! `rvs-ofctl`: ovs-ofctl's commands over OpenFlow.
//!
//! Each command opens one or more sessions with the switch (see
//! [`conn`]), sends requests and prints the replies as ovs-ofctl 3.1 does
//! ([`mod@print`]), including the transaction ids: ovs-ofctl numbers them from
//! one counter per invocation, hellos included, and looks up port names on
//! a connection of its own before it parses a flow, so rvs-ofctl spends
//! ids the same way and prints the same headers.
//!
//! Flow commands parse ovs-ofctl's flow syntax with
//! [`rvs_ofproto::text`]; on OpenFlow 1.0 a match the standard 1.0 match
//! cannot carry switches the session to NXM first, as ovs-ofctl does, and
//! flow dumps always ask for NXM. Flow_mods are followed by a barrier so
//! that an error the switch sends back is printed (as `OFPT_ERROR ...`) and
//! turns into exit code 1.

pub mod conn;
mod flows;
pub mod print;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use rvs_ofproto::ofp::msg::{Msg, PortDesc};
use rvs_ofproto::ofp::{FlowFormat, MsgType, Version};
use rvs_ofproto::text::PortNames;
use rvs_ofproto::OfPort;

use conn::{Owned, Session, Target, Xids};

/// The text of `--help`.
pub const USAGE: &str = "\
rvs-ofctl: OpenFlow switch management utility (ovs-ofctl's syntax)
usage: rvs-ofctl [OPTIONS] COMMAND [ARG...]

For OpenFlow switches:
  show SWITCH                 show OpenFlow information
  dump-desc SWITCH            print switch description
  dump-tables SWITCH          print table stats
  dump-ports SWITCH [PORT]    print port statistics
  dump-ports-desc SWITCH [PORT]  print port descriptions
  dump-flows SWITCH [FLOW]    print all flow entries (matching FLOW)
  dump-aggregate SWITCH [FLOW]  print aggregate flow statistics
  add-flow SWITCH FLOW        add flow described by FLOW
  add-flows SWITCH FILE       add flows from FILE (- for stdin)
  mod-flows SWITCH FLOW       modify actions of matching FLOWs
  del-flows SWITCH [FLOW]     delete matching FLOWs
  replace-flows SWITCH FILE   replace flows with those in FILE
  packet-out SWITCH IN_PORT ACTIONS PACKET...  execute ACTIONS on PACKET
  packet-out SWITCH \"in_port=...,packet=...,actions=...\"
  get-frags SWITCH            print fragment handling behavior
  probe TARGET                probe whether TARGET is up

SWITCH is a bridge name (unix:$RVS_RUNDIR/BRIDGE.mgmt), unix:PATH or
tcp:IP[:PORT] (port 6653 by default).

Options:
  -O, --protocols=LIST   OpenFlow versions to offer (default OpenFlow10)
  --strict               use strict match for mod-flows and del-flows
  -t, --timeout=SECS     give up after SECS seconds
  --no-stats             dump-flows: leave out the statistics
  --names, --no-names    dump-flows: show port names (default: on a terminal)
  --sort[=FIELD], --rsort[=FIELD]  dump-flows: sort by priority
  -h, --help             display this help message
  -V, --version          display version information
";

/// What an invocation printed and its exit code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Text for stdout.
    pub stdout: String,
    /// Text for stderr (complete lines, prefixes included).
    pub stderr: String,
    /// The exit code.
    pub code: i32,
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum OfctlError {
    /// A message printed as `rvs-ofctl: MESSAGE`, exit code 1.
    #[error("{0}")]
    Msg(String),
    /// The switch did not answer in time.
    #[error("timeout expired")]
    Timeout,
    /// The switch refused a request: the error message as ovs-ofctl
    /// prints it (already formatted), exit code 1.
    #[error("{0}")]
    Refused(String),
}

fn fail(s: impl Into<String>) -> OfctlError {
    OfctlError::Msg(s.into())
}

/// Sort order for `dump-flows`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    Asc,
    Desc,
}

/// Options and state of one invocation.
struct Ctx {
    versions: u32,
    timeout: Option<Duration>,
    strict: bool,
    stats: bool,
    names: Option<bool>,
    sort: Option<Sort>,
    xids: Xids,
    rundir: PathBuf,
    out: String,
    err: String,
}

/// Runs rvs-ofctl with `args` (without the program name).
pub fn run(args: &[String]) -> Output {
    let mut ctx = Ctx {
        versions: Version::V10.bit(),
        timeout: None,
        strict: false,
        stats: true,
        names: None,
        sort: None,
        xids: Xids::default(),
        rundir: crate::appctl::rundir(),
        out: String::new(),
        err: String::new(),
    };
    let code = match ctx.run(args) {
        Ok(()) => 0,
        Err(OfctlError::Refused(text)) => {
            ctx.err += &text;
            1
        }
        Err(e) => {
            ctx.err += &format!("rvs-ofctl: {e}\n");
            1
        }
    };
    Output { stdout: ctx.out, stderr: ctx.err, code }
}

fn parse_versions(list: &str) -> Result<u32, OfctlError> {
    let mut bits = 0;
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let v = Version::from_name(name)
            .ok_or_else(|| fail(format!("Unknown OpenFlow version: \"{name}\"")))?;
        bits |= v.bit();
    }
    if bits == 0 {
        return Err(fail(format!("{list}: no usable protocols")));
    }
    Ok(bits)
}

impl Ctx {
    fn run(&mut self, args: &[String]) -> Result<(), OfctlError> {
        let mut rest = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if a == "--" {
                rest.extend(it.by_ref().cloned());
                break;
            }
            if !a.starts_with('-') || a == "-" {
                rest.push(a.clone());
                continue;
            }
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) if a.starts_with("--") => (n.to_string(), Some(v.to_string())),
                _ if a.starts_with("-O") && a.len() > 2 => ("-O".into(), Some(a[2..].into())),
                _ if a.starts_with("-t") && a.len() > 2 => ("-t".into(), Some(a[2..].into())),
                _ => (a.clone(), None),
            };
            let value = |it: &mut std::slice::Iter<'_, String>| {
                inline
                    .clone()
                    .or_else(|| it.next().cloned())
                    .ok_or_else(|| fail(format!("option '{name}' requires an argument")))
            };
            match name.as_str() {
                "-O" | "--protocols" => self.versions = parse_versions(&value(&mut it)?)?,
                "-t" | "--timeout" => {
                    let v = value(&mut it)?;
                    let secs: u64 = v
                        .parse()
                        .map_err(|_| fail(format!("value {v} on -t or --timeout is invalid")))?;
                    self.timeout = (secs > 0).then(|| Duration::from_secs(secs));
                }
                "--strict" => self.strict = true,
                "--no-stats" => self.stats = false,
                "--stats" => self.stats = true,
                "--names" => self.names = Some(true),
                "--no-names" => self.names = Some(false),
                "--sort" => self.sort = Some(Sort::Asc),
                "--rsort" => self.sort = Some(Sort::Desc),
                "--readd" | "--bundle" | "-m" | "--more" | "--timestamp" | "--color"
                | "--no-color" => {}
                "-h" | "--help" => {
                    self.out += USAGE;
                    return Ok(());
                }
                "-V" | "--version" => {
                    self.out += &format!("rvs-ofctl (rvs) {}\n", env!("CARGO_PKG_VERSION"));
                    return Ok(());
                }
                _ => return Err(fail(format!("unrecognized option '{a}'"))),
            }
        }
        let Some((cmd, cargs)) = rest.split_first() else {
            return Err(fail("missing command name; use --help for help"));
        };
        let cargs: Vec<&str> = cargs.iter().map(String::as_str).collect();
        let (min, max) = match cmd.as_str() {
            "show" | "dump-desc" | "dump-tables" | "get-frags" | "probe" => (1, 1),
            "dump-ports" | "dump-ports-desc" | "dump-flows" | "dump-aggregate" | "del-flows" => {
                (1, 2)
            }
            "add-flow" | "add-flows" | "mod-flows" | "replace-flows" => (2, 2),
            "packet-out" => (2, usize::MAX),
            _ => return Err(fail(format!("unknown command '{cmd}'; use --help for help"))),
        };
        if cargs.len() < min {
            return Err(fail(format!("'{cmd}' command requires at least {min} arguments")));
        }
        if cargs.len() > max {
            return Err(fail(format!("'{cmd}' command takes at most {max} arguments")));
        }
        let target = Target::parse(cargs[0], &self.rundir)?;
        let arg = cargs.get(1).copied();
        match cmd.as_str() {
            "show" => self.show(&target),
            "dump-desc" => self.dump_simple(&target, &Msg::DescRequest),
            "dump-tables" => self.dump_simple(&target, &Msg::TableStatsRequest),
            "dump-ports" => {
                let port = match arg {
                    Some(p) => self.port_arg(&target, p)?,
                    None => OfPort::NONE,
                };
                self.dump_simple(&target, &Msg::PortStatsRequest(port))
            }
            "dump-ports-desc" => self.dump_ports_desc(&target, arg),
            "get-frags" => self.get_frags(&target),
            "probe" => self.probe(&target),
            "dump-flows" => self.dump_flows(&target, arg.unwrap_or(""), false),
            "dump-aggregate" => self.dump_flows(&target, arg.unwrap_or(""), true),
            "add-flow" | "mod-flows" | "del-flows" => self.flow_mod_cmd(&target, cmd, arg),
            "add-flows" => self.add_flows(&target, arg.unwrap_or("-")),
            "replace-flows" => self.replace_flows(&target, arg.unwrap_or("-")),
            "packet-out" => self.packet_out(&target, &cargs[1..]),
            _ => unreachable!("checked above"),
        }
    }

    fn open(&mut self, target: &Target) -> Result<Session, OfctlError> {
        Session::open(target, self.versions, self.timeout, &mut self.xids)
    }

    /// Sends a request and returns its replies, turning an error reply into
    /// [`OfctlError::Refused`].
    fn transact(&mut self, s: &mut Session, m: &Msg) -> Result<Vec<Owned>, OfctlError> {
        let xid = self.xids.alloc();
        let replies = s.transact(m, xid)?;
        for r in &replies {
            if r.raw().ty == MsgType::Error {
                return Err(OfctlError::Refused(flows::format_error(r, s.proto)));
            }
        }
        Ok(replies)
    }

    fn decode(s: &Session, r: &Owned) -> Result<Msg, OfctlError> {
        rvs_ofproto::ofp::msg::decode(&r.raw(), s.proto)
            .map_err(|e| fail(format!("received bad reply: {e}")))
    }

    fn show(&mut self, target: &Target) -> Result<(), OfctlError> {
        let mut s = self.open(target)?;
        let v = s.version();
        let replies = self.transact(&mut s, &Msg::FeaturesRequest)?;
        for r in &replies {
            if let Msg::FeaturesReply(f) = Self::decode(&s, r)? {
                self.out += &print::features(&f, v, r.raw().xid);
            }
        }
        if v >= Version::V13 {
            self.print_port_desc(&mut s)?;
        }
        drop(s);
        let mut s = self.open(target)?;
        for r in self.transact(&mut s, &Msg::GetConfigRequest)? {
            if let Msg::GetConfigReply(c) = Self::decode(&s, &r)? {
                self.out += &print::config(&c, s.version(), r.raw().xid);
            }
        }
        Ok(())
    }

    fn print_port_desc(&mut self, s: &mut Session) -> Result<(), OfctlError> {
        let v = s.version();
        for r in self.transact(s, &Msg::PortDescRequest)? {
            if let Msg::PortDescReply(ps) = Self::decode(s, &r)? {
                self.out += &print::header("OFPST_PORT_DESC reply", v, r.raw().xid);
                self.out.push('\n');
                self.out += &print::port_descs(&ps, v);
            }
        }
        Ok(())
    }

    fn port_descs(&mut self, target: &Target) -> Result<Vec<PortDesc>, OfctlError> {
        let mut s = self.open(target)?;
        let mut all = Vec::new();
        for r in self.transact(&mut s, &Msg::PortDescRequest)? {
            if let Msg::PortDescReply(ps) = Self::decode(&s, &r)? {
                all.extend(ps);
            }
        }
        Ok(all)
    }

    /// A port given on the command line: a number, a reserved name, or the
    /// name of one of the switch's ports.
    fn port_arg(&mut self, target: &Target, p: &str) -> Result<OfPort, OfctlError> {
        if let Ok(n) = p.parse::<OfPort>() {
            return Ok(n);
        }
        let ports = PortMap(self.port_descs(target)?);
        ports.port_by_name(p).ok_or_else(|| fail(format!("{p}: unknown port")))
    }

    fn dump_ports_desc(&mut self, target: &Target, port: Option<&str>) -> Result<(), OfctlError> {
        let filter = match port {
            Some(p) => Some(self.port_arg(target, p)?),
            None => None,
        };
        let mut s = self.open(target)?;
        let v = s.version();
        for r in self.transact(&mut s, &Msg::PortDescRequest)? {
            if let Msg::PortDescReply(mut ps) = Self::decode(&s, &r)? {
                // Only OpenFlow 1.5 asks the switch for one port; for the
                // others ovs-ofctl prints every port.
                if v >= Version::V15 {
                    if let Some(f) = filter {
                        ps.retain(|p| p.port_no == f);
                    }
                }
                self.out += &print::header("OFPST_PORT_DESC reply", v, r.raw().xid);
                self.out.push('\n');
                self.out += &print::port_descs(&ps, v);
            }
        }
        Ok(())
    }

    fn dump_simple(&mut self, target: &Target, req: &Msg) -> Result<(), OfctlError> {
        let mut s = self.open(target)?;
        let v = s.version();
        for r in self.transact(&mut s, req)? {
            let xid = r.raw().xid;
            match Self::decode(&s, &r)? {
                Msg::DescReply(d) => self.out += &print::desc(&d, v, xid),
                Msg::TableStatsReply(ts) => self.out += &print::table_stats(&ts, v, xid),
                Msg::PortStatsReply(ps) => self.out += &print::port_stats(&ps, v, xid),
                other => return Err(fail(format!("received unexpected reply {other:?}"))),
            }
        }
        Ok(())
    }

    fn get_frags(&mut self, target: &Target) -> Result<(), OfctlError> {
        let mut s = self.open(target)?;
        for r in self.transact(&mut s, &Msg::GetConfigRequest)? {
            if let Msg::GetConfigReply(c) = Self::decode(&s, &r)? {
                self.out += print::frag_name(c.flags);
                self.out.push('\n');
            }
        }
        Ok(())
    }

    fn probe(&mut self, target: &Target) -> Result<(), OfctlError> {
        let mut s = self.open(target)?;
        let replies = self.transact(&mut s, &Msg::EchoRequest(Vec::new()))?;
        if !replies.iter().any(|r| r.raw().ty == MsgType::EchoReply) {
            return Err(fail("not an echo reply"));
        }
        Ok(())
    }

    /// Whether names are shown: `--names`, `--no-names`, else on a terminal.
    fn show_names(&self) -> bool {
        self.names.unwrap_or_else(|| std::io::stdout().is_terminal())
    }

    /// Whether names are accepted in flows (all but `--no-names`).
    fn accept_names(&self) -> bool {
        self.names != Some(false)
    }

    /// The port names ovs-ofctl looks up before parsing a flow: a session
    /// of its own for the ports, and one for the table names (rvs has no
    /// table names, so that one only spends its ids).
    fn names_for_parsing(&mut self, target: &Target) -> Result<PortMap, OfctlError> {
        if !self.accept_names() {
            return Ok(PortMap(Vec::new()));
        }
        let ports = self.port_descs(target)?;
        self.xids.alloc();
        self.xids.alloc();
        Ok(PortMap(ports))
    }

    /// Moves an OpenFlow 1.0 session to NXM (and table ids in flow_mods)
    /// when `nxm`/`tid` ask for it; a no-op on later versions.
    fn set_protocol(&mut self, s: &mut Session, nxm: bool, tid: bool) -> Result<(), OfctlError> {
        if s.version() != Version::V10 {
            return Ok(());
        }
        if nxm && s.proto.flow_format != FlowFormat::Nxm {
            let xid = self.xids.alloc();
            let errs =
                s.transact_noreply(&[(Msg::SetFlowFormat(FlowFormat::Nxm), xid)], &mut self.xids)?;
            if let Some(e) = errs.first() {
                return Err(OfctlError::Refused(flows::format_error(e, s.proto)));
            }
            s.proto.flow_format = FlowFormat::Nxm;
        }
        if tid && !s.proto.table_id {
            let xid = self.xids.alloc();
            let errs = s.transact_noreply(&[(Msg::FlowModTableId(true), xid)], &mut self.xids)?;
            if let Some(e) = errs.first() {
                return Err(OfctlError::Refused(flows::format_error(e, s.proto)));
            }
            s.proto.table_id = true;
        }
        Ok(())
    }
}

/// Port names from the switch's port descriptions.
struct PortMap(Vec<PortDesc>);

impl PortNames for PortMap {
    fn port_by_name(&self, name: &str) -> Option<OfPort> {
        self.0.iter().find(|p| p.name == name).map(|p| p.port_no)
    }
    fn port_name(&self, p: OfPort) -> Option<String> {
        self.0.iter().find(|d| d.port_no == p).map(|d| d.name.clone())
    }
}
