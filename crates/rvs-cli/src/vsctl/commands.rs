//! The commands of `rvs-vsctl`, run against the local copy in [`Ctx`].

use super::value::{is_uuid, parse_atom, split_pair, Atom, Datum};
use super::{cmd_err, Command, Ctx, VsctlError};

pub(crate) type R<T> = Result<T, VsctlError>;

pub(crate) fn need(c: &Command, min: usize, max: usize) -> R<()> {
    if c.args.len() < min {
        return Err(cmd_err(format!("'{}' command requires at least {min} arguments", c.name)));
    }
    if c.args.len() > max {
        return Err(cmd_err(format!("'{}' command takes at most {max} arguments (note that options must precede command names and follow a \"--\" argument)", c.name)));
    }
    Ok(())
}

pub(crate) fn uuid_datum(u: &str) -> Datum {
    Datum(vec![(Atom::Uuid(u.to_string()), None)])
}

pub(crate) fn str_datum(s: &str) -> Datum {
    Datum(vec![(Atom::Str(s.to_string()), None)])
}

impl Ctx {
    pub(crate) fn find_by_name(&self, table: &str, name: &str) -> Option<String> {
        self.tables.get(table)?.keys().find(|u| self.string(table, u, "name") == name).cloned()
    }

    pub(crate) fn root(&self) -> R<String> {
        self.tables
            .get("Open_vSwitch")
            .and_then(|t| t.keys().next().cloned())
            .ok_or_else(|| cmd_err("no Open_vSwitch row in the database (run \"init\" first)"))
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

    pub(crate) fn column_name(&self, table: &str, name: &str) -> R<String> {
        let ts = self
            .schema
            .table(table)
            .ok_or_else(|| cmd_err(format!("unknown table \"{table}\"")))?;
        if name == "_uuid" || ts.column(name).is_some() {
            return Ok(name.to_string());
        }
        // As in ovs-vsctl: '-' and '_' are the same, and a unique prefix
        // names a column.
        let name = name.replace('-', "_");
        if ts.column(&name).is_some() {
            return Ok(name);
        }
        let matches: Vec<&str> =
            ts.user_columns().map(|c| c.name()).filter(|c| c.starts_with(&name)).collect();
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
    pub(crate) fn record(&self, table: &str, id: &str) -> Option<String> {
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

    pub(crate) fn need_record(&self, c: &Command, table: &str, id: &str) -> R<Option<String>> {
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
        // An `@name` not defined yet is a row a later `--id=@name create`
        // makes, as in ovs-vsctl: it gets its row name now.
        let mut symbols = std::mem::take(&mut self.symbols);
        let mut next = self.next_row;
        let mut forward = Vec::new();
        let parsed = {
            let mut sym = |s: &str| -> Option<String> {
                if let Some(u) = symbols.get(s) {
                    return Some(u.clone());
                }
                next += 1;
                let name = format!("row_{next}");
                symbols.insert(s.to_string(), name.clone());
                forward.push(s.to_string());
                Some(name)
            };
            Datum::parse(text, &ty, &mut sym)
        };
        self.next_row = next;
        self.symbols = symbols;
        self.forward.extend(forward);
        parsed.map_err(|e| cmd_err(format!("{table} column {column}: {e}")))
    }

    /// `COL[:KEY]=VALUE`, applied to a row.
    pub(crate) fn set_column(&mut self, table: &str, uuid: &str, setting: &str) -> R<()> {
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

    fn shown_uuid(&self, u: &str) -> String {
        if self.new_rows.contains_key(u) {
            format!("<{u}>")
        } else {
            u.to_string()
        }
    }

    pub(crate) fn remove_bridge(&mut self, br: &str) -> R<()> {
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

    pub(crate) fn forget_port(&mut self, p: &str) {
        for i in self.read("Port", p, "interfaces").uuids() {
            self.forget("Interface", &i);
        }
        self.forget("Port", p);
    }

    pub(crate) fn add_port_rows(
        &mut self,
        br: &str,
        name: &str,
        iface_type: Option<&str>,
    ) -> String {
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
    if super::bridges::execute(ctx, c)? {
        return Ok(());
    }
    let a = &c.args;
    match c.name.as_str() {
        "init" => {
            need(c, 0, 0)?;
            if ctx.root().is_err() {
                ctx.insert("Open_vSwitch");
            }
        }
        "show" => ctx.show()?,
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
            let cols = ctx.columns_of(&t, c.columns.as_deref())?;
            ctx.print_rows(&t, &uuids, &cols);
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
            let cols = ctx.columns_of(&t, c.columns.as_deref())?;
            ctx.print_rows(&t, &hits, &cols);
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
            // A row referred to before (`@name` in an earlier command)
            // takes the name it was given then.
            let earlier = c.id.as_ref().filter(|id| ctx.forward.contains(*id));
            let u = match earlier {
                Some(id) => {
                    ctx.forward.retain(|f| f != id);
                    let name = ctx.symbols[id].clone();
                    ctx.insert_named(&t, name)
                }
                None => ctx.insert(&t),
            };
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
