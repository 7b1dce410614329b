//! The commands of `rvs-vsctl`, run against the local copy in [`Ctx`].

use super::value::{is_uuid, parse_atom, split_pair, Atom, Datum};
use super::{cmd_err, Command, Ctx, VsctlError};

type R<T> = Result<T, VsctlError>;

fn need(c: &Command, min: usize, max: usize) -> R<()> {
    if c.args.len() < min || c.args.len() > max {
        return Err(cmd_err(format!("'{}' command requires at least {min} arguments", c.name)));
    }
    Ok(())
}

fn uuid_datum(u: &str) -> Datum {
    Datum(vec![(Atom::Uuid(u.to_string()), None)])
}

fn str_datum(s: &str) -> Datum {
    Datum(vec![(Atom::Str(s.to_string()), None)])
}

impl Ctx {
    fn find_by_name(&self, table: &str, name: &str) -> Option<String> {
        self.tables.get(table)?.keys().find(|u| self.string(table, u, "name") == name).cloned()
    }

    fn root(&self) -> R<String> {
        self.tables
            .get("Open_vSwitch")
            .and_then(|t| t.keys().next().cloned())
            .ok_or_else(|| cmd_err("no Open_vSwitch row in the database (run \"init\" first)"))
    }

    fn bridge(&self, name: &str) -> R<String> {
        self.find_by_name("Bridge", name).ok_or_else(|| cmd_err(format!("no bridge named {name}")))
    }

    fn bridge_of_port(&self, port: &str) -> Option<String> {
        self.tables
            .get("Bridge")?
            .keys()
            .find(|b| self.read("Bridge", b, "ports").uuids().contains(&port.to_string()))
            .cloned()
    }

    fn table_name(&self, name: &str) -> R<String> {
        let all: Vec<&str> = self.schema.tables().map(|t| t.name()).collect();
        if let Some(t) = all.iter().find(|t| t.eq_ignore_ascii_case(name)) {
            return Ok(t.to_string());
        }
        let matches: Vec<&&str> = all
            .iter()
            .filter(|t| t.to_ascii_lowercase().starts_with(&name.to_ascii_lowercase()))
            .collect();
        match matches.as_slice() {
            [one] => Ok(one.to_string()),
            [] => Err(cmd_err(format!("unknown table \"{name}\""))),
            _ => Err(cmd_err(format!("multiple table names match \"{name}\""))),
        }
    }

    fn column_name(&self, table: &str, name: &str) -> R<String> {
        let ts = self
            .schema
            .table(table)
            .ok_or_else(|| cmd_err(format!("unknown table \"{table}\"")))?;
        if name == "_uuid" || ts.column(name).is_some() {
            return Ok(name.to_string());
        }
        let matches: Vec<&str> =
            ts.user_columns().map(|c| c.name()).filter(|c| c.starts_with(name)).collect();
        match matches.as_slice() {
            [one] => Ok(one.to_string()),
            [] => Err(cmd_err(format!(
                "{table} does not contain a column whose name matches \"{name}\""
            ))),
            _ => Err(cmd_err(format!(
                "{table} contains more than one column whose name matches \"{name}\""
            ))),
        }
    }

    /// Finds a record by UUID, `@name`, `.` (the only row) or name.
    fn record(&self, table: &str, id: &str) -> Option<String> {
        let rows = self.tables.get(table)?;
        if let Some(u) = self.symbols.get(id) {
            return rows.contains_key(u).then(|| u.clone());
        }
        if is_uuid(id) {
            let id = id.to_ascii_lowercase();
            return rows.contains_key(&id).then_some(id);
        }
        if id == "." && rows.len() == 1 {
            return rows.keys().next().cloned();
        }
        if self.schema.table(table).and_then(|t| t.column("name")).is_some() {
            return self.find_by_name(table, id);
        }
        None
    }

    fn need_record(&self, c: &Command, table: &str, id: &str) -> R<Option<String>> {
        match self.record(table, id) {
            Some(u) => Ok(Some(u)),
            None if c.if_exists => Ok(None),
            None => Err(cmd_err(format!("no row \"{id}\" in table {table}"))),
        }
    }

    fn parse_value(&mut self, table: &str, column: &str, text: &str) -> R<Datum> {
        let ty = self
            .col_type(table, column)
            .ok_or_else(|| cmd_err(format!("unknown column {column}")))?;
        let symbols = self.symbols.clone();
        let mut new = Vec::new();
        let mut sym = |s: &str| -> Option<String> {
            symbols.get(s).cloned().or_else(|| {
                new.push(s.to_string());
                None
            })
        };
        Datum::parse(text, &ty, &mut sym)
            .map_err(|e| cmd_err(format!("{table} column {column}: {e}")))
    }

    /// `COL[:KEY]=VALUE`, applied to a row.
    fn set_column(&mut self, table: &str, uuid: &str, setting: &str) -> R<()> {
        let (lhs, rhs) = split_pair(setting).map_err(|e| cmd_err(e.to_string()))?;
        let (col, key) = match lhs.split_once(':') {
            Some((c, k)) => (c.to_string(), Some(k.to_string())),
            None => (lhs.clone(), None),
        };
        let col = self.column_name(table, &col)?;
        let ty = self
            .col_type(table, &col)
            .ok_or_else(|| cmd_err(format!("cannot set column {col}")))?;
        let value = match key {
            Some(k) => {
                let vt = ty
                    .value()
                    .ok_or_else(|| {
                        cmd_err(format!("cannot specify key to set for non-map column {col}"))
                    })?
                    .clone();
                let mut none = |_: &str| None;
                let k = parse_atom(&k, ty.key(), &mut none).map_err(|e| cmd_err(e.to_string()))?;
                let v = parse_atom(&rhs, &vt, &mut none).map_err(|e| cmd_err(e.to_string()))?;
                let mut d = self.read(table, uuid, &col);
                d.0.retain(|(k2, _)| k2 != &k);
                d.0.push((k, Some(v)));
                d.normalize();
                d
            }
            None => self.parse_value(table, &col, &rhs)?,
        };
        self.write(table, uuid, &col, value);
        Ok(())
    }

    fn print_list(&mut self, table: &str, uuids: &[String]) {
        let Some(ts) = self.schema.table(table) else { return };
        let mut cols: Vec<(String, rvs_ovsdb::Type)> =
            ts.user_columns().map(|c| (c.name().to_string(), c.ty().clone())).collect();
        cols.sort_by(|a, b| a.0.cmp(&b.0));
        let mut s = String::new();
        for (i, u) in uuids.iter().enumerate() {
            if i > 0 {
                s.push('\n');
            }
            s.push_str(&format!("{:<20}: {}\n", "_uuid", self.shown_uuid(u)));
            for (c, ty) in &cols {
                s.push_str(&format!("{c:<20}: {}\n", self.read(table, u, c).to_text(ty)));
            }
        }
        self.out.push_str(&s);
    }

    fn shown_uuid(&self, u: &str) -> String {
        if self.new_rows.contains_key(u) {
            format!("<{u}>")
        } else {
            u.to_string()
        }
    }

    fn remove_bridge(&mut self, br: &str) -> R<()> {
        let root = self.root()?;
        let mut bridges = self.read("Open_vSwitch", &root, "bridges");
        bridges.0.retain(|(a, _)| a != &Atom::Uuid(br.to_string()));
        self.write("Open_vSwitch", &root, "bridges", bridges);
        for p in self.read("Bridge", br, "ports").uuids() {
            self.forget_port(&p);
        }
        self.forget("Bridge", br);
        Ok(())
    }

    fn forget_port(&mut self, p: &str) {
        for i in self.read("Port", p, "interfaces").uuids() {
            self.forget("Interface", &i);
        }
        self.forget("Port", p);
    }

    fn add_port_rows(&mut self, br: &str, name: &str, iface_type: Option<&str>) -> String {
        let iface = self.insert("Interface");
        self.write("Interface", &iface, "name", str_datum(name));
        if let Some(t) = iface_type {
            self.write("Interface", &iface, "type", str_datum(t));
        }
        let port = self.insert("Port");
        self.write("Port", &port, "name", str_datum(name));
        self.write("Port", &port, "interfaces", uuid_datum(&iface));
        let mut ports = self.read("Bridge", br, "ports");
        ports.union(&uuid_datum(&port));
        self.write("Bridge", br, "ports", ports);
        port
    }

    fn show(&mut self) -> R<()> {
        let mut s = String::new();
        let roots: Vec<String> = self
            .tables
            .get("Open_vSwitch")
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        for root in roots {
            s.push_str(&format!("{root}\n"));
            let mut bridges: Vec<(String, String)> = self
                .read("Open_vSwitch", &root, "bridges")
                .uuids()
                .into_iter()
                .map(|b| (self.string("Bridge", &b, "name"), b))
                .collect();
            bridges.sort();
            for (bname, b) in bridges {
                s.push_str(&format!("    Bridge {}\n", Atom::Str(bname).to_text()));
                for col in ["fail_mode", "datapath_type"] {
                    let d = self.read("Bridge", &b, col);
                    if let Some((a, _)) = d.0.first() {
                        if a != &Atom::Str(String::new()) {
                            s.push_str(&format!("        {col}: {}\n", a.to_text()));
                        }
                    }
                }
                let mut ports: Vec<(String, String)> = self
                    .read("Bridge", &b, "ports")
                    .uuids()
                    .into_iter()
                    .map(|p| (self.string("Port", &p, "name"), p))
                    .collect();
                ports.sort();
                for (pname, p) in ports {
                    s.push_str(&format!("        Port {}\n", Atom::Str(pname).to_text()));
                    for col in ["tag", "trunks"] {
                        let d = self.read("Port", &p, col);
                        if !d.0.is_empty() {
                            let ty = self.col_type("Port", col).expect("vswitch schema column");
                            s.push_str(&format!("            {col}: {}\n", d.to_text(&ty)));
                        }
                    }
                    let mut ifaces: Vec<(String, String)> = self
                        .read("Port", &p, "interfaces")
                        .uuids()
                        .into_iter()
                        .map(|i| (self.string("Interface", &i, "name"), i))
                        .collect();
                    ifaces.sort();
                    for (iname, i) in ifaces {
                        s.push_str(&format!(
                            "            Interface {}\n",
                            Atom::Str(iname).to_text()
                        ));
                        let t = self.string("Interface", &i, "type");
                        if !t.is_empty() {
                            s.push_str(&format!(
                                "                type: {}\n",
                                Atom::Str(t).to_text()
                            ));
                        }
                        let o = self.read("Interface", &i, "options");
                        if !o.0.is_empty() {
                            let ty = self
                                .col_type("Interface", "options")
                                .expect("vswitch schema column");
                            s.push_str(&format!("                options: {}\n", o.to_text(&ty)));
                        }
                    }
                }
            }
            let v = self.read("Open_vSwitch", &root, "ovs_version");
            if let Some((a, _)) = v.0.first() {
                s.push_str(&format!("    ovs_version: {}\n", a.to_text()));
            }
        }
        self.out.push_str(&s);
        Ok(())
    }
}

/// Runs one command.
pub(crate) fn execute(ctx: &mut Ctx, c: &Command) -> R<()> {
    let a = &c.args;
    match c.name.as_str() {
        "init" => {
            need(c, 0, 0)?;
            if ctx.root().is_err() {
                ctx.insert("Open_vSwitch");
            }
        }
        "show" => ctx.show()?,
        "add-br" => {
            need(c, 1, 3)?;
            if a.len() > 1 {
                return Err(cmd_err(format!(
                    "cannot create bridge {} with parent {}: fake bridges are not supported",
                    a[0], a[1]
                )));
            }
            let br = &a[0];
            if ctx.find_by_name("Bridge", br).is_some() {
                if c.may_exist {
                    return Ok(());
                }
                return Err(cmd_err(format!(
                    "cannot create a bridge named {br} because a bridge named {br} already exists"
                )));
            }
            if ctx.find_by_name("Port", br).is_some() {
                return Err(cmd_err(format!(
                    "cannot create a bridge named {br} because a port named {br} already exists"
                )));
            }
            let root = ctx.root()?;
            let b = ctx.insert("Bridge");
            ctx.write("Bridge", &b, "name", str_datum(br));
            ctx.add_port_rows(&b, br, Some("internal"));
            let mut bridges = ctx.read("Open_vSwitch", &root, "bridges");
            bridges.union(&uuid_datum(&b));
            ctx.write("Open_vSwitch", &root, "bridges", bridges);
        }
        "del-br" => {
            need(c, 1, 1)?;
            match ctx.find_by_name("Bridge", &a[0]) {
                Some(b) => ctx.remove_bridge(&b)?,
                None if c.if_exists => {}
                None => return Err(cmd_err(format!("no bridge named {}", a[0]))),
            }
        }
        "list-br" => {
            let mut names: Vec<String> = ctx
                .tables
                .get("Bridge")
                .map(|t| t.keys().map(|b| ctx.string("Bridge", b, "name")).collect())
                .unwrap_or_default();
            names.sort();
            for n in names {
                ctx.out.push_str(&format!("{n}\n"));
            }
        }
        "br-exists" => {
            need(c, 1, 1)?;
            if ctx.find_by_name("Bridge", &a[0]).is_none() {
                ctx.exit = 2;
            }
        }
        "add-port" => {
            need(c, 2, usize::MAX)?;
            let br = ctx.bridge(&a[0])?;
            if let Some(p) = ctx.find_by_name("Port", &a[1]) {
                let owner = ctx
                    .bridge_of_port(&p)
                    .map(|b| ctx.string("Bridge", &b, "name"))
                    .unwrap_or_default();
                if c.may_exist && owner == a[0] {
                    return Ok(());
                }
                return Err(cmd_err(format!("cannot create a port named {} because a port named {} already exists on bridge {owner}", a[1], a[1])));
            }
            let port = ctx.add_port_rows(&br, &a[1], None);
            for s in &a[2..] {
                ctx.set_column("Port", &port, s)?;
            }
        }
        "del-port" => {
            need(c, 1, 2)?;
            let pname = a.last().cloned().unwrap_or_default();
            let Some(p) = ctx.find_by_name("Port", &pname) else {
                if c.if_exists {
                    return Ok(());
                }
                return Err(cmd_err(format!("no port named {pname}")));
            };
            let owner = ctx.bridge_of_port(&p);
            if a.len() == 2 {
                let br = ctx.bridge(&a[0])?;
                if owner.as_deref() != Some(br.as_str()) {
                    return Err(cmd_err(format!("bridge {} does not have a port {pname}", a[0])));
                }
            }
            if let Some(b) = owner {
                let mut ports = ctx.read("Bridge", &b, "ports");
                ports.subtract(&uuid_datum(&p));
                ctx.write("Bridge", &b, "ports", ports);
            }
            ctx.forget_port(&p);
        }
        "list-ports" => {
            need(c, 1, 1)?;
            let br = ctx.bridge(&a[0])?;
            let mut names: Vec<String> = ctx
                .read("Bridge", &br, "ports")
                .uuids()
                .iter()
                .map(|p| ctx.string("Port", p, "name"))
                .filter(|n| n != &a[0])
                .collect();
            names.sort();
            for n in names {
                ctx.out.push_str(&format!("{n}\n"));
            }
        }
        "port-to-br" => {
            need(c, 1, 1)?;
            let p = ctx
                .find_by_name("Port", &a[0])
                .ok_or_else(|| cmd_err(format!("no port named {}", a[0])))?;
            let b = ctx
                .bridge_of_port(&p)
                .ok_or_else(|| cmd_err(format!("port {} is not on any bridge", a[0])))?;
            let name = ctx.string("Bridge", &b, "name");
            ctx.out.push_str(&format!("{name}\n"));
        }
        "list" => {
            need(c, 1, usize::MAX)?;
            let t = ctx.table_name(&a[0])?;
            let uuids = if a.len() == 1 {
                ctx.tables.get(&t).map(|r| r.keys().cloned().collect()).unwrap_or_default()
            } else {
                let mut v = Vec::new();
                for id in &a[1..] {
                    v.extend(ctx.need_record(c, &t, id)?);
                }
                v
            };
            ctx.print_list(&t, &uuids);
        }
        "find" => {
            need(c, 1, usize::MAX)?;
            let t = ctx.table_name(&a[0])?;
            let rows: Vec<String> =
                ctx.tables.get(&t).map(|r| r.keys().cloned().collect()).unwrap_or_default();
            let mut hits = Vec::new();
            'rows: for u in rows {
                for cond in &a[1..] {
                    let (lhs, rhs, negate) = match cond.split_once("!=") {
                        Some((l, r)) => (l.to_string(), r.to_string(), true),
                        None => {
                            let (l, r) = split_pair(cond).map_err(|e| cmd_err(e.to_string()))?;
                            (l, r, false)
                        }
                    };
                    let (col, key) = match lhs.split_once(':') {
                        Some((c, k)) => (c.to_string(), Some(k.to_string())),
                        None => (lhs.clone(), None),
                    };
                    let col = ctx.column_name(&t, &col)?;
                    let ty = ctx
                        .col_type(&t, &col)
                        .ok_or_else(|| cmd_err(format!("cannot match on column {col}")))?;
                    let have = ctx.read(&t, &u, &col);
                    let mut none = |_: &str| None;
                    let equal = match key {
                        Some(k) => {
                            let vt = ty
                                .value()
                                .ok_or_else(|| cmd_err(format!("column {col} is not a map")))?;
                            let k = parse_atom(&k, ty.key(), &mut none)
                                .map_err(|e| cmd_err(e.to_string()))?;
                            let v = parse_atom(&rhs, vt, &mut none)
                                .map_err(|e| cmd_err(e.to_string()))?;
                            have.get(&k) == Some(&v)
                        }
                        None => have == ctx.parse_value(&t, &col, &rhs)?,
                    };
                    if equal == negate {
                        continue 'rows;
                    }
                }
                hits.push(u);
            }
            ctx.print_list(&t, &hits);
        }
        "get" => {
            need(c, 2, usize::MAX)?;
            let t = ctx.table_name(&a[0])?;
            let Some(u) = ctx.need_record(c, &t, &a[1])? else { return Ok(()) };
            if let Some(id) = &c.id {
                ctx.symbols.insert(id.clone(), u.clone());
            }
            for spec in &a[2..] {
                let (col, key) = match spec.split_once(':') {
                    Some((c, k)) => (c.to_string(), Some(k.to_string())),
                    None => (spec.clone(), None),
                };
                let col = ctx.column_name(&t, &col)?;
                if col == "_uuid" {
                    let shown = ctx.shown_uuid(&u);
                    ctx.out.push_str(&format!("{shown}\n"));
                    continue;
                }
                let ty = ctx
                    .col_type(&t, &col)
                    .ok_or_else(|| cmd_err(format!("unknown column {col}")))?;
                let d = ctx.read(&t, &u, &col);
                match key {
                    Some(k) => {
                        let mut none = |_: &str| None;
                        let ka = parse_atom(&k, ty.key(), &mut none)
                            .map_err(|e| cmd_err(e.to_string()))?;
                        match d.get(&ka) {
                            Some(v) => ctx.out.push_str(&format!("{}\n", v.to_text())),
                            None if c.if_exists => {}
                            None => {
                                return Err(cmd_err(format!(
                                    "no key \"{k}\" in {t} record \"{}\" column {col}",
                                    a[1]
                                )))
                            }
                        }
                    }
                    None => ctx.out.push_str(&format!("{}\n", d.to_text(&ty))),
                }
            }
        }
        "set" => {
            need(c, 3, usize::MAX)?;
            let t = ctx.table_name(&a[0])?;
            let Some(u) = ctx.need_record(c, &t, &a[1])? else { return Ok(()) };
            for s in &a[2..] {
                ctx.set_column(&t, &u, s)?;
            }
        }
        "add" | "remove" => {
            need(c, 4, usize::MAX)?;
            let t = ctx.table_name(&a[0])?;
            let Some(u) = ctx.need_record(c, &t, &a[1])? else { return Ok(()) };
            let col = ctx.column_name(&t, &a[2])?;
            let ty =
                ctx.col_type(&t, &col).ok_or_else(|| cmd_err(format!("unknown column {col}")))?;
            let mut d = ctx.read(&t, &u, &col);
            for v in &a[3..] {
                let mut val = match ctx.parse_value(&t, &col, v) {
                    Ok(val) => val,
                    Err(_) if c.name == "remove" && ty.is_map() && !v.contains('=') => {
                        let mut none = |_: &str| None;
                        let k = parse_atom(v, ty.key(), &mut none)
                            .map_err(|e| cmd_err(e.to_string()))?;
                        Datum(vec![(k, None)])
                    }
                    Err(e) => return Err(e),
                };
                val.normalize();
                if c.name == "add" {
                    d.union(&val);
                } else {
                    d.subtract(&val);
                }
            }
            d.check(&a[3..].join(" "), &ty)
                .map_err(|e| cmd_err(format!("{t} column {col}: {e}")))?;
            ctx.write(&t, &u, &col, d);
        }
        "clear" => {
            need(c, 3, usize::MAX)?;
            let t = ctx.table_name(&a[0])?;
            let Some(u) = ctx.need_record(c, &t, &a[1])? else { return Ok(()) };
            for col in &a[2..] {
                let col = ctx.column_name(&t, col)?;
                let ty = ctx
                    .col_type(&t, &col)
                    .ok_or_else(|| cmd_err(format!("unknown column {col}")))?;
                if ty.min() > 0 {
                    return Err(cmd_err(format!("\"clear\" operation cannot be applied to column {col} of table {t}, which is not allowed to be empty")));
                }
                ctx.write(&t, &u, &col, Datum::default());
            }
        }
        "create" => {
            need(c, 1, usize::MAX)?;
            let t = ctx.table_name(&a[0])?;
            let u = ctx.insert(&t);
            if let Some(id) = &c.id {
                ctx.symbols.insert(id.clone(), u.clone());
            }
            for s in &a[1..] {
                ctx.set_column(&t, &u, s)?;
            }
            ctx.out.push_str(&format!("<{u}>\n"));
        }
        "destroy" => {
            need(c, 1, usize::MAX)?;
            let t = ctx.table_name(&a[0])?;
            for id in &a[1..] {
                if let Some(u) = ctx.need_record(c, &t, id)? {
                    ctx.deleted.push((t.clone(), u.clone()));
                    ctx.forget(&t, &u);
                }
            }
        }
        other => return Err(cmd_err(format!("unknown command '{other}'; use --help for help"))),
    }
    Ok(())
}
