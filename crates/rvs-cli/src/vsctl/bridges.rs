//! Bridges as `ovs-vsctl` sees them, fake (VLAN) bridges included, and the
//! commands that work on that view: `add-br`, `del-br`, `list-br`,
//! `br-exists`, `br-to-vlan`, `br-to-parent`, `add-port`, `del-port`,
//! `list-ports`, `port-to-br`, `list-ifaces`, `iface-to-br`, and the
//! controller, fail-mode and manager commands.
//!
//! A fake bridge is not a `Bridge` row: it is a `Port` of its parent (a
//! real bridge) with `fake_bridge=true` and a `tag`, whose interface is an
//! internal one of the same name. A port of the parent whose `tag` is a
//! fake bridge's VLAN belongs to that fake bridge. A port named like its
//! bridge is the bridge's local port, hidden from the port commands. This
//! is OVS's `vsctl_context_populate_cache`.

use super::commands::{need, str_datum, uuid_datum, R};
use super::value::{Atom, Datum};
use super::{cmd_err, Command, Ctx};

/// A bridge, real or fake.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Br {
    pub(crate) name: String,
    /// The `Bridge` row (the parent's, for a fake bridge).
    pub(crate) row: String,
    /// The parent's name, for a fake bridge.
    pub(crate) parent: Option<String>,
    /// The VLAN of a fake bridge; 0 for a real one.
    pub(crate) vlan: i64,
}

/// A port and the bridge it belongs to.
#[derive(Debug, Clone)]
pub(crate) struct PortInfo {
    pub(crate) name: String,
    pub(crate) row: String,
    pub(crate) br: Br,
}

impl Ctx {
    fn tag(&self, port: &str) -> Option<i64> {
        match self.read("Port", port, "tag").0.first() {
            Some((Atom::Int(t), _)) => Some(*t),
            _ => None,
        }
    }

    fn is_fake_bridge_port(&self, port: &str) -> bool {
        self.read("Port", port, "fake_bridge").0.first() == Some(&(Atom::Bool(true), None))
            && self.tag(port).is_some_and(|t| (0..=4095).contains(&t))
    }

    fn real_bridge_rows(&self) -> Vec<String> {
        match self.root() {
            Ok(root) => self.read("Open_vSwitch", &root, "bridges").uuids(),
            Err(_) => Vec::new(),
        }
    }

    /// Every bridge, real ones and the fake ones in them.
    pub(crate) fn all_bridges(&self) -> Vec<Br> {
        let mut out: Vec<Br> = Vec::new();
        for b in self.real_bridge_rows() {
            let name = self.string("Bridge", &b, "name");
            if out.iter().any(|x| x.name == name) {
                continue;
            }
            out.push(Br { name: name.clone(), row: b.clone(), parent: None, vlan: 0 });
            for p in self.read("Bridge", &b, "ports").uuids() {
                let pname = self.string("Port", &p, "name");
                if self.is_fake_bridge_port(&p) && !out.iter().any(|x| x.name == pname) {
                    out.push(Br {
                        name: pname,
                        row: b.clone(),
                        parent: Some(name.clone()),
                        vlan: self.tag(&p).unwrap_or(0),
                    });
                }
            }
        }
        out
    }

    /// The bridge named `name`, real or fake.
    pub(crate) fn find_br(&self, name: &str) -> Option<Br> {
        self.all_bridges().into_iter().find(|b| b.name == name)
    }

    fn need_br(&self, name: &str) -> R<Br> {
        self.find_br(name).ok_or_else(|| cmd_err(format!("no bridge named {name}")))
    }

    fn need_real_br(&self, name: &str) -> R<Br> {
        let br = self.need_br(name)?;
        if br.parent.is_some() {
            return Err(cmd_err(format!("{name} is a fake bridge")));
        }
        Ok(br)
    }

    /// Every port with its bridge, bridges' local ports included.
    pub(crate) fn all_ports(&self) -> Vec<PortInfo> {
        let bridges = self.all_bridges();
        let mut out: Vec<PortInfo> = Vec::new();
        for br in bridges.iter().filter(|b| b.parent.is_none()) {
            for p in self.read("Bridge", &br.row, "ports").uuids() {
                let name = self.string("Port", &p, "name");
                if out.iter().any(|x| x.name == name) {
                    continue;
                }
                let owner = self
                    .tag(&p)
                    .filter(|t| (0..=4095).contains(t))
                    .and_then(|t| {
                        bridges.iter().find(|f| f.parent.as_ref() == Some(&br.name) && f.vlan == t)
                    })
                    .unwrap_or(br);
                out.push(PortInfo { name, row: p, br: owner.clone() });
            }
        }
        out
    }

    /// The port named `name`, unless it is a bridge's local port.
    fn find_port_info(&self, name: &str) -> Option<PortInfo> {
        self.all_ports().into_iter().find(|p| p.name == name && p.br.name != name)
    }

    /// Interfaces (name, row) of the ports of `br`, local port excluded.
    fn ifaces_of(&self, br: &Br) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for p in self.all_ports().into_iter().filter(|p| p.br == *br && p.name != br.name) {
            for i in self.read("Port", &p.row, "interfaces").uuids() {
                out.push((self.string("Interface", &i, "name"), i));
            }
        }
        out
    }

    /// OVS's `check_conflicts`: a new bridge, port or interface `name`
    /// must not clash with any of them.
    fn check_conflicts(&self, name: &str, what: &str) -> R<()> {
        if self.find_br(name).is_some() {
            return Err(cmd_err(format!("{what} because a bridge named {name} already exists")));
        }
        let ports = self.all_ports();
        if let Some(p) = ports.iter().find(|p| p.name == name) {
            return Err(cmd_err(format!(
                "{what} because a port named {name} already exists on bridge {}",
                p.br.name
            )));
        }
        for p in &ports {
            for i in self.read("Port", &p.row, "interfaces").uuids() {
                if self.string("Interface", &i, "name") == name {
                    return Err(cmd_err(format!(
                        "{what} because an interface named {name} already exists on bridge {}",
                        p.br.name
                    )));
                }
            }
        }
        Ok(())
    }

    fn add_br(&mut self, c: &Command) -> R<()> {
        let a = &c.args;
        if a.len() != 1 && a.len() != 3 {
            return Err(cmd_err("'add-br' command takes exactly 1 or 3 arguments"));
        }
        let name = &a[0];
        // atoi(), as ovs-vsctl reads it.
        let vlan: Option<i64> = a.get(2).map(|v| {
            let digits: String = v
                .trim_start()
                .chars()
                .enumerate()
                .take_while(|(i, ch)| {
                    ch.is_ascii_digit() || (*i == 0 && (*ch == '-' || *ch == '+'))
                })
                .map(|(_, ch)| ch)
                .collect();
            digits.parse().unwrap_or(0)
        });
        if let Some(v) = vlan {
            if !(0..=4095).contains(&v) {
                return Err(cmd_err("add-br: vlan must be between 0 and 4095"));
            }
        }
        let parent_name = a.get(1);
        if let Some(br) = self.find_br(name) {
            if !c.may_exist {
                return Err(cmd_err(format!(
                    "cannot create a bridge named {name} because a bridge named {name} already exists"
                )));
            }
            let cmd = format!("--may-exist add-br {}", a.join(" "));
            return match (parent_name, &br.parent) {
                (None, Some(_)) => Err(cmd_err(format!(
                    "\"{cmd}\" but {name} is a VLAN bridge for VLAN {}",
                    br.vlan
                ))),
                (None, None) => Ok(()),
                (Some(_), None) => {
                    Err(cmd_err(format!("\"{cmd}\" but {name} is not a VLAN bridge")))
                }
                (Some(p), Some(have)) if p != have => {
                    Err(cmd_err(format!("\"{cmd}\" but {name} has the wrong parent {have}")))
                }
                (Some(_), Some(_)) if vlan != Some(br.vlan) => Err(cmd_err(format!(
                    "\"{cmd}\" but {name} is a VLAN bridge for the wrong VLAN {}",
                    br.vlan
                ))),
                _ => Ok(()),
            };
        }
        self.check_conflicts(name, &format!("cannot create a bridge named {name}"))?;
        match parent_name {
            None => {
                let root = self.root()?;
                let b = self.insert("Bridge");
                self.write("Bridge", &b, "name", str_datum(name));
                self.add_port_rows(&b, name, Some("internal"));
                let mut bridges = self.read("Open_vSwitch", &root, "bridges");
                bridges.union(&uuid_datum(&b));
                self.write("Open_vSwitch", &root, "bridges", bridges);
            }
            Some(pn) => {
                let vlan = vlan.unwrap_or(0);
                let parent = match self.find_br(pn) {
                    None => return Err(cmd_err(format!("parent bridge {pn} does not exist"))),
                    Some(p) if p.parent.is_some() => {
                        return Err(cmd_err("cannot create bridge with fake bridge as parent"))
                    }
                    Some(p) => p,
                };
                if let Some(other) = self
                    .all_bridges()
                    .into_iter()
                    .find(|b| b.parent.as_deref() == Some(pn.as_str()) && b.vlan == vlan)
                {
                    return Err(cmd_err(format!(
                        "bridge {pn} already has a child VLAN bridge {} on VLAN {vlan}",
                        other.name
                    )));
                }
                let port = self.add_port_rows(&parent.row, name, Some("internal"));
                self.write("Port", &port, "fake_bridge", Datum(vec![(Atom::Bool(true), None)]));
                self.write("Port", &port, "tag", Datum(vec![(Atom::Int(vlan), None)]));
            }
        }
        Ok(())
    }

    fn del_port_row(&mut self, bridge_row: &str, port: &str) {
        let mut ports = self.read("Bridge", bridge_row, "ports");
        ports.subtract(&uuid_datum(port));
        self.write("Bridge", bridge_row, "ports", ports);
        self.forget_port(port);
    }

    fn del_br(&mut self, c: &Command) -> R<()> {
        need(c, 1, 1)?;
        let Some(br) = self.find_br(&c.args[0]) else {
            if c.if_exists {
                return Ok(());
            }
            return Err(cmd_err(format!("no bridge named {}", c.args[0])));
        };
        if br.parent.is_none() {
            return self.remove_bridge(&br.row);
        }
        // A fake bridge: its ports, its own port last.
        let ports: Vec<PortInfo> = self.all_ports().into_iter().filter(|p| p.br == br).collect();
        for p in ports {
            self.del_port_row(&br.row, &p.row);
        }
        Ok(())
    }

    fn add_port(&mut self, c: &Command) -> R<()> {
        need(c, 2, usize::MAX)?;
        let (brname, pname) = (&c.args[0], &c.args[1]);
        let br = self.need_br(brname)?;
        if c.may_exist {
            if let Some(p) = self.all_ports().into_iter().find(|p| &p.name == pname) {
                if p.br.name != *brname {
                    return Err(cmd_err(format!(
                        "\"--may-exist add-port {brname} {pname}\" but {pname} is actually attached to bridge {}",
                        p.br.name
                    )));
                }
                return Ok(());
            }
        }
        self.check_conflicts(pname, &format!("cannot create a port named {pname}"))?;
        let port = self.add_port_rows(&br.row, pname, None);
        if br.parent.is_some() {
            self.write("Port", &port, "tag", Datum(vec![(Atom::Int(br.vlan), None)]));
        }
        for s in &c.args[2..] {
            self.set_column("Port", &port, s)?;
        }
        Ok(())
    }

    fn del_port(&mut self, c: &Command) -> R<()> {
        need(c, 1, 2)?;
        let target = c.args.last().cloned().unwrap_or_default();
        let Some(p) = self.all_ports().into_iter().find(|p| p.name == target) else {
            if c.if_exists {
                return Ok(());
            }
            return Err(cmd_err(format!("no port named {target}")));
        };
        if p.br.name == p.name {
            return Err(cmd_err(format!("cannot delete port {target} because it is the local port for bridge {} (deleting this port requires deleting the entire bridge)", p.br.name)));
        }
        if c.args.len() == 2 {
            let br = self.need_br(&c.args[0])?;
            if p.br != br {
                if p.br.parent.as_deref() == Some(br.name.as_str()) {
                    return Err(cmd_err(format!(
                        "bridge {} does not have a port {target} (although its child bridge {} does)",
                        c.args[0], p.br.name
                    )));
                }
                return Err(cmd_err(format!("bridge {} does not have a port {target}", c.args[0])));
            }
        }
        self.del_port_row(&p.br.row, &p.row);
        Ok(())
    }

    fn print_sorted(&mut self, mut names: Vec<String>) {
        names.sort();
        for n in names {
            self.out.push_str(&format!("{n}\n"));
        }
    }

    fn targets(&self, table: &str, rows: &[String]) -> Vec<String> {
        rows.iter().map(|r| self.string(table, r, "target")).collect()
    }

    /// Replaces the rows `column` of `row` refers to with new ones of
    /// `table`, one per target (OVS deletes the old rows explicitly).
    fn set_targets(&mut self, owner: (&str, &str, &str), table: &str, targets: &[String]) {
        let (otable, orow, column) = owner;
        for old in self.read(otable, orow, column).uuids() {
            self.deleted.push((table.to_string(), old.clone()));
            self.forget(table, &old);
        }
        let mut refs = Datum::default();
        for t in targets {
            let r = self.insert(table);
            self.write(table, &r, "target", str_datum(t));
            refs.union(&uuid_datum(&r));
        }
        self.write(otable, orow, column, refs);
    }
}

/// Runs `c` if it is one of this module's commands; `Ok(false)` if not.
pub(crate) fn execute(ctx: &mut Ctx, c: &Command) -> R<bool> {
    let a = &c.args;
    match c.name.as_str() {
        "add-br" => ctx.add_br(c)?,
        "del-br" => ctx.del_br(c)?,
        "list-br" => {
            need(c, 0, 0)?;
            // --real: only real bridges; --fake: only fake ones; neither
            // (or both): all.
            let names = ctx
                .all_bridges()
                .into_iter()
                .filter(|b| c.real == c.fake || c.fake == b.parent.is_some())
                .map(|b| b.name)
                .collect();
            ctx.print_sorted(names);
        }
        "br-exists" => {
            need(c, 1, 1)?;
            if ctx.find_br(&a[0]).is_none() {
                ctx.exit = 2;
            }
        }
        "br-to-vlan" => {
            need(c, 1, 1)?;
            let br = ctx.need_br(&a[0])?;
            ctx.out.push_str(&format!("{}\n", br.vlan));
        }
        "br-to-parent" => {
            need(c, 1, 1)?;
            let br = ctx.need_br(&a[0])?;
            let p = br.parent.unwrap_or(br.name);
            ctx.out.push_str(&format!("{p}\n"));
        }
        "add-port" => ctx.add_port(c)?,
        "del-port" => ctx.del_port(c)?,
        "list-ports" => {
            need(c, 1, 1)?;
            let br = ctx.need_br(&a[0])?;
            let names = ctx
                .all_ports()
                .into_iter()
                .filter(|p| p.br == br && p.name != br.name)
                .map(|p| p.name)
                .collect();
            ctx.print_sorted(names);
        }
        "port-to-br" => {
            need(c, 1, 1)?;
            let p = ctx
                .find_port_info(&a[0])
                .ok_or_else(|| cmd_err(format!("no port named {}", a[0])))?;
            ctx.out.push_str(&format!("{}\n", p.br.name));
        }
        "list-ifaces" => {
            need(c, 1, 1)?;
            let br = ctx.need_br(&a[0])?;
            let names = ctx.ifaces_of(&br).into_iter().map(|(n, _)| n).collect();
            ctx.print_sorted(names);
        }
        "iface-to-br" => {
            need(c, 1, 1)?;
            let owner = ctx
                .all_bridges()
                .into_iter()
                .find(|b| ctx.ifaces_of(b).iter().any(|(n, _)| n == &a[0]));
            let br = owner.ok_or_else(|| cmd_err(format!("no interface named {}", a[0])))?;
            ctx.out.push_str(&format!("{}\n", br.name));
        }
        "get-controller" => {
            need(c, 1, 1)?;
            let br = ctx.need_br(&a[0])?;
            let rows = ctx.read("Bridge", &br.row, "controller").uuids();
            let t = ctx.targets("Controller", &rows);
            ctx.print_sorted(t);
        }
        "del-controller" => {
            need(c, 1, 1)?;
            let br = ctx.need_real_br(&a[0])?;
            ctx.set_targets(("Bridge", &br.row, "controller"), "Controller", &[]);
        }
        "set-controller" => {
            need(c, 1, usize::MAX)?;
            let br = ctx.need_real_br(&a[0])?;
            ctx.set_targets(("Bridge", &br.row, "controller"), "Controller", &a[1..]);
        }
        "get-fail-mode" => {
            need(c, 1, 1)?;
            let br = ctx.need_br(&a[0])?;
            let m = ctx.string("Bridge", &br.row, "fail_mode");
            if !m.is_empty() {
                ctx.out.push_str(&format!("{m}\n"));
            }
        }
        "del-fail-mode" => {
            need(c, 1, 1)?;
            let br = ctx.need_real_br(&a[0])?;
            ctx.write("Bridge", &br.row, "fail_mode", Datum::default());
        }
        "set-fail-mode" => {
            need(c, 2, 2)?;
            let br = ctx.need_real_br(&a[0])?;
            if a[1] != "standalone" && a[1] != "secure" {
                return Err(cmd_err("fail-mode must be \"standalone\" or \"secure\""));
            }
            ctx.write("Bridge", &br.row, "fail_mode", str_datum(&a[1]));
        }
        "get-manager" => {
            need(c, 0, 0)?;
            let root = ctx.root()?;
            let rows = ctx.read("Open_vSwitch", &root, "manager_options").uuids();
            let t = ctx.targets("Manager", &rows);
            ctx.print_sorted(t);
        }
        "del-manager" => {
            need(c, 0, 0)?;
            let root = ctx.root()?;
            ctx.set_targets(("Open_vSwitch", &root, "manager_options"), "Manager", &[]);
        }
        "set-manager" => {
            let root = ctx.root()?;
            ctx.set_targets(("Open_vSwitch", &root, "manager_options"), "Manager", a);
        }
        _ => return Ok(false),
    }
    Ok(true)
}
