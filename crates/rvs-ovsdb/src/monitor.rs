//! Monitors (RFC 7047 section 4.1.5, and OVS's `monitor_cond` and
//! `monitor_cond_since` extensions in `ovsdb-server(7)`): what a client
//! asked to watch, and the updates it gets.
//!
//! A [`Monitor`] is parsed from the `<monitor-requests>` of a request and
//! composes, in the format of its [`Version`]:
//!
//! - the initial contents, the reply to the request;
//! - per committed transaction, from its [`Changes`], the `<table-updates>`
//!   for the `update`, `update2` or `update3` notification, or nothing.
//!
//! Formats, per row:
//!
//! | event   | `update` (v1)                         | `update2`/`update3` (v2, v3)       |
//! |---------|---------------------------------------|------------------------------------|
//! | initial | `{"new": row}`                        | `{"initial": row}`                 |
//! | insert  | `{"new": row}`                        | `{"insert": row}`                  |
//! | delete  | `{"old": row}`                        | `{"delete": null}`                 |
//! | modify  | `{"old": changed, "new": row}`        | `{"modify": diff}`                 |
//!
//! A v1 `row` has every monitored column; a v2 `row` leaves out the columns
//! at their default value, as OVS does. A `diff` holds the changed columns:
//! a column that holds at most one value (`"max": 1`, optional or not) gets
//! its new value, as in OVS's `ovsdb_datum_diff`; for a set, the
//! symmetric difference of old and new; for a map, the pairs added, the
//! pairs removed and, for keys whose value changed, the new pair, which the
//! client applies by toggling each pair in or out.
//!
//! Conditions (`"where"`, v2 and v3) are a disjunction, as in OVS: a row is
//! visible if any clause holds (an empty list means every row). A modified
//! row that becomes visible is an insert, one that stops being visible a
//! delete.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::atom::SymbolTable;
use crate::condition::Condition;
use crate::datum::Datum;
use crate::db::{Changes, Database, RowChange};
use crate::error::TxnError;
use crate::row::Row;
use crate::schema::{Schema, TableSchema};

/// The protocol version of a monitor, by the method that created it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// `monitor`: `update` notifications.
    V1,
    /// `monitor_cond`: `update2` notifications.
    V2,
    /// `monitor_cond_since`: `update3` notifications.
    V3,
}

/// Which events a table monitor reports (`"select"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Select {
    initial: bool,
    insert: bool,
    delete: bool,
    modify: bool,
}

/// What one monitored table reports.
#[derive(Clone, Debug)]
struct TableMonitor {
    columns: Vec<String>,
    select: Select,
    /// `None`: every row (no `"where"`).
    conds: Option<Vec<Condition>>,
}

/// One monitor of one session.
#[derive(Clone, Debug)]
pub struct Monitor {
    version: Version,
    tables: BTreeMap<String, TableMonitor>,
}

fn syntax(msg: String) -> TxnError {
    TxnError::syntax(msg)
}

fn parse_select(json: Option<&Value>) -> Result<Select, TxnError> {
    let mut s = Select { initial: true, insert: true, delete: true, modify: true };
    let Some(json) = json else { return Ok(s) };
    let Value::Object(obj) = json else {
        return Err(syntax(format!("\"select\" must be an object, got {json}")));
    };
    for (k, v) in obj {
        let b = v
            .as_bool()
            .ok_or_else(|| syntax(format!("\"select\" member {k} must be a boolean, got {v}")))?;
        match k.as_str() {
            "initial" => s.initial = b,
            "insert" => s.insert = b,
            "delete" => s.delete = b,
            "modify" => s.modify = b,
            _ => return Err(syntax(format!("unknown \"select\" member {k}"))),
        }
    }
    Ok(s)
}

/// Parses a `"where"` list of monitor conditions.
fn parse_conds(json: &Value, ts: &TableSchema) -> Result<Vec<Condition>, TxnError> {
    let mut symbols = SymbolTable::new();
    Condition::parse_where(json, ts, &mut symbols)
}

fn parse_table(
    ts: &TableSchema,
    json: &Value,
    version: Version,
    into: &mut Option<TableMonitor>,
) -> Result<(), TxnError> {
    let Value::Object(obj) = json else {
        return Err(syntax(format!(
            "monitor request for table {} must be an object, got {json}",
            ts.name()
        )));
    };
    for k in obj.keys() {
        let ok =
            matches!(k.as_str(), "columns" | "select") || (k == "where" && version != Version::V1);
        if !ok {
            return Err(syntax(format!(
                "unknown member \"{k}\" in monitor request for table {}",
                ts.name()
            )));
        }
    }
    let columns: Vec<String> = match obj.get("columns") {
        None => ts.user_columns().map(|c| c.name().to_string()).collect(),
        Some(Value::Array(list)) => {
            let mut out = Vec::new();
            for c in list {
                let name = c.as_str().ok_or_else(|| syntax(format!("{c} is not a column name")))?;
                if ts.column(name).is_none() {
                    return Err(TxnError::new(
                        crate::ErrorKind::UnknownColumn,
                        format!("no column {name} in table {}", ts.name()),
                    ));
                }
                out.push(name.to_string());
            }
            out
        }
        Some(other) => return Err(syntax(format!("\"columns\" must be an array, got {other}"))),
    };
    let select = parse_select(obj.get("select"))?;
    let conds = obj.get("where").map(|w| parse_conds(w, ts)).transpose()?;
    match into {
        None => *into = Some(TableMonitor { columns, select, conds }),
        Some(tm) => {
            // Several requests for one table: watch the union.
            for c in columns {
                if !tm.columns.contains(&c) {
                    tm.columns.push(c);
                }
            }
            tm.select.initial |= select.initial;
            tm.select.insert |= select.insert;
            tm.select.delete |= select.delete;
            tm.select.modify |= select.modify;
            tm.conds = match (tm.conds.take(), conds) {
                (Some(mut a), Some(b)) => {
                    a.extend(b);
                    Some(a)
                }
                _ => None,
            };
        }
    }
    Ok(())
}

/// `row` restricted to `columns`, leaving out defaults if `skip_defaults`.
fn project(ts: &TableSchema, row: &Row, columns: &[String], skip_defaults: bool) -> Value {
    let mut out = Map::new();
    for c in columns {
        let Some(d) = row.get(c) else { continue };
        if skip_defaults {
            if let Some(col) = ts.column(c).filter(|col| !col.is_implicit()) {
                if *d == Datum::default_for(col.ty()) {
                    continue;
                }
            }
        }
        out.insert(c.clone(), d.to_json());
    }
    Value::Object(out)
}

/// The update2 diff of one column from `old` to `new`.
fn diff(ts: &TableSchema, column: &str, old: Option<&Datum>, new: &Datum) -> Datum {
    // OVS's ovsdb_datum_diff: only a column that can hold more than one
    // value ("composite") gets a diff; the others get their new value.
    let composite = ts
        .column(column)
        .is_some_and(|c| !matches!(c.ty().max(), crate::types::Max::Limited(n) if n <= 1));
    match (old, new) {
        _ if !composite => new.clone(),
        (Some(Datum::Set(o)), Datum::Set(n)) => {
            Datum::Set(o.symmetric_difference(n).cloned().collect())
        }
        (Some(Datum::Map(o)), Datum::Map(n)) => {
            let mut d = BTreeMap::new();
            for (k, v) in o {
                if !n.contains_key(k) {
                    d.insert(k.clone(), v.clone());
                }
            }
            for (k, v) in n {
                if o.get(k) != Some(v) {
                    d.insert(k.clone(), v.clone());
                }
            }
            Datum::Map(d)
        }
        _ => new.clone(),
    }
}

impl Monitor {
    /// Parses `<monitor-requests>`: table name to one request or an array of
    /// them, each with optional `"columns"`, `"select"` and (v2, v3) `"where"`.
    pub fn parse(schema: &Schema, json: &Value, version: Version) -> Result<Monitor, TxnError> {
        let Value::Object(obj) = json else {
            return Err(syntax(format!("monitor requests must be an object, got {json}")));
        };
        let mut tables = BTreeMap::new();
        for (t, req) in obj {
            let ts = schema.table(t).ok_or_else(|| {
                TxnError::new(crate::ErrorKind::UnknownTable, format!("no table {t}"))
            })?;
            let mut tm = None;
            match req {
                Value::Array(list) => {
                    for r in list {
                        parse_table(ts, r, version, &mut tm)?;
                    }
                }
                r => parse_table(ts, r, version, &mut tm)?,
            }
            if let Some(tm) = tm {
                tables.insert(t.clone(), tm);
            }
        }
        Ok(Monitor { version, tables })
    }

    /// The version this monitor speaks.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Replaces the conditions of the tables in `json` (the
    /// `monitor_cond_change` request's `{table: [{"where": ..}]}`) and
    /// returns the updates that bring the client from the old selection to
    /// the new one, if any.
    pub fn change_conditions(
        &mut self,
        db: &Database,
        json: &Value,
    ) -> Result<Option<Value>, TxnError> {
        let Value::Object(obj) = json else {
            return Err(syntax(format!("condition change must be an object, got {json}")));
        };
        let mut new_conds = BTreeMap::new();
        for (t, reqs) in obj {
            let ts = db.schema().table(t).ok_or_else(|| {
                TxnError::new(crate::ErrorKind::UnknownTable, format!("no table {t}"))
            })?;
            if !self.tables.contains_key(t) {
                return Err(syntax(format!("table {t} is not monitored")));
            }
            let list = match reqs {
                Value::Array(l) => l.clone(),
                r => vec![r.clone()],
            };
            let mut conds: Option<Vec<Condition>> = Some(Vec::new());
            for r in &list {
                match r.get("where") {
                    Some(w) => {
                        if let Some(c) = conds.as_mut() {
                            c.extend(parse_conds(w, ts)?);
                        }
                    }
                    None => conds = None,
                }
            }
            new_conds.insert(t.clone(), conds);
        }
        let mut out = Map::new();
        for (t, conds) in new_conds {
            let ts = db.schema().table(&t).expect("checked");
            let tm = self.tables.get_mut(&t).expect("checked");
            let old = std::mem::replace(&mut tm.conds, conds);
            let mut rows = Map::new();
            for (u, row) in db.table(&t).expect("schema table") {
                let was = visible(old.as_deref(), row);
                let is = visible(tm.conds.as_deref(), row);
                let ev = match (was, is) {
                    (false, true) => {
                        serde_json::json!({"insert": project(ts, row, &tm.columns, true)})
                    }
                    (true, false) => serde_json::json!({"delete": null}),
                    _ => continue,
                };
                rows.insert(u.to_string(), ev);
            }
            if !rows.is_empty() {
                out.insert(t, Value::Object(rows));
            }
        }
        Ok((!out.is_empty()).then_some(Value::Object(out)))
    }

    /// The initial contents: every visible row of each monitored table whose
    /// `"select"` has `initial`.
    pub fn initial(&self, db: &Database) -> Value {
        let mut out = Map::new();
        for (t, tm) in &self.tables {
            if !tm.select.initial {
                continue;
            }
            let ts = db.schema().table(t).expect("parsed against this schema");
            let mut rows = Map::new();
            for (u, row) in db.table(t).expect("schema table") {
                if !visible(tm.conds.as_deref(), row) {
                    continue;
                }
                let ev = match self.version {
                    Version::V1 => serde_json::json!({"new": project(ts, row, &tm.columns, false)}),
                    _ => serde_json::json!({"initial": project(ts, row, &tm.columns, true)}),
                };
                rows.insert(u.to_string(), ev);
            }
            if !rows.is_empty() {
                out.insert(t.clone(), Value::Object(rows));
            }
        }
        Value::Object(out)
    }

    /// The `<table-updates>` for a transaction that made `changes`, leaving
    /// `db`, or `None` if this monitor sees none of it.
    pub fn updates(&self, changes: &Changes, db: &Database) -> Option<Value> {
        let mut out = Map::new();
        for (t, tm) in &self.tables {
            let Some(rows) = changes.tables.get(t) else { continue };
            let ts = db.schema().table(t).expect("parsed against this schema");
            let mut upd = Map::new();
            for (u, change) in rows {
                if let Some(ev) = self.row_update(ts, tm, db, u, change) {
                    upd.insert(u.to_string(), ev);
                }
            }
            if !upd.is_empty() {
                out.insert(t.clone(), Value::Object(upd));
            }
        }
        (!out.is_empty()).then_some(Value::Object(out))
    }

    fn row_update(
        &self,
        ts: &TableSchema,
        tm: &TableMonitor,
        db: &Database,
        uuid: &crate::Uuid,
        change: &RowChange,
    ) -> Option<Value> {
        let v1 = self.version == Version::V1;
        let conds = tm.conds.as_deref();
        let insert = |row: &Row| {
            if v1 {
                serde_json::json!({"new": project(ts, row, &tm.columns, false)})
            } else {
                serde_json::json!({"insert": project(ts, row, &tm.columns, true)})
            }
        };
        let delete = |row: &Row| {
            if v1 {
                serde_json::json!({"old": project(ts, row, &tm.columns, false)})
            } else {
                serde_json::json!({"delete": null})
            }
        };
        match change {
            RowChange::Insert(row) => {
                (tm.select.insert && visible(conds, row)).then(|| insert(row))
            }
            RowChange::Delete(row) => {
                (tm.select.delete && visible(conds, row)).then(|| delete(row))
            }
            RowChange::Modify { old, new } => {
                let now = db.row(ts.name(), uuid)?;
                let mut before = now.clone();
                for (c, d) in old.iter() {
                    before.set(c, d.clone());
                }
                match (visible(conds, &before), visible(conds, now)) {
                    (false, false) => None,
                    (false, true) => tm.select.insert.then(|| insert(now)),
                    (true, false) => tm.select.delete.then(|| delete(&before)),
                    (true, true) => {
                        let changed: Vec<&String> =
                            tm.columns.iter().filter(|c| new.get(c).is_some()).collect();
                        if !tm.select.modify || changed.is_empty() {
                            return None;
                        }
                        if v1 {
                            let mut o = Map::new();
                            for c in &changed {
                                if let Some(d) = before.get(c) {
                                    o.insert((*c).clone(), d.to_json());
                                }
                            }
                            Some(serde_json::json!({
                                "old": Value::Object(o),
                                "new": project(ts, now, &tm.columns, false),
                            }))
                        } else {
                            let mut d = Map::new();
                            for c in changed {
                                let nd = now.get(c).expect("changed column is set");
                                d.insert(c.clone(), diff(ts, c, before.get(c), nd).to_json());
                            }
                            Some(serde_json::json!({"modify": Value::Object(d)}))
                        }
                    }
                }
            }
        }
    }
}

/// Whether `row` passes `conds` (any clause; no conditions or an empty list: yes).
fn visible(conds: Option<&[Condition]>, row: &Row) -> bool {
    match conds {
        None => true,
        Some([]) => true,
        Some(c) => c.iter().any(|c| c.matches(row)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transact_with;
    use serde_json::json;

    fn db() -> Database {
        let schema = Schema::from_json(&json!({
            "name": "T",
            "tables": {"R": {"columns": {
                "name": {"type": "string"},
                "n": {"type": "integer"},
                "o": {"type": {"key": "string", "min": 0, "max": 1}},
                "s": {"type": {"key": "string", "min": 0, "max": "unlimited"}},
                "m": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}}
            }}}
        }))
        .unwrap();
        Database::new(schema)
    }

    fn run(db: &mut Database, ops: Value) -> Changes {
        let out = transact_with(db, &ops, &|_| false);
        out.changes.unwrap_or_else(|| panic!("{}", out.result))
    }

    #[test]
    fn update2_modify_carries_the_diff() {
        let mut db = db();
        let ch = run(
            &mut db,
            json!([{"op": "insert", "table": "R", "row": {"name": "a", "s": ["set", ["x", "y"]],
                    "o": "p", "m": ["map", [["k1", "v1"], ["k2", "v2"]]]}}]),
        );
        let m = Monitor::parse(db.schema(), &json!({"R": {}}), Version::V2).unwrap();
        let u = m.updates(&ch, &db).unwrap();
        let (uuid, ev) = u["R"].as_object().unwrap().iter().next().unwrap();
        assert_eq!(
            ev,
            &json!({"insert": {"name": "a", "s": ["set", ["x", "y"]], "o": "p",
                                          "m": ["map", [["k1", "v1"], ["k2", "v2"]]]}})
        );
        let ch = run(
            &mut db,
            json!([{"op": "update", "table": "R", "where": [], "row": {"n": 5, "s": ["set", ["y", "z"]], "o": ["set", []],
                    "m": ["map", [["k1", "v1"], ["k2", "new"], ["k3", "v3"]]]}}]),
        );
        let u = m.updates(&ch, &db).unwrap();
        assert_eq!(
            u["R"][uuid],
            // The optional "o" gets its new (empty) value, not a diff.
            json!({"modify": {"n": 5, "s": ["set", ["x", "z"]], "o": ["set", []],
                              "m": ["map", [["k2", "new"], ["k3", "v3"]]]}})
        );
        let v1 =
            Monitor::parse(db.schema(), &json!({"R": {"columns": ["n", "name"]}}), Version::V1)
                .unwrap();
        let ch =
            run(&mut db, json!([{"op": "update", "table": "R", "where": [], "row": {"n": 6}}]));
        assert_eq!(
            v1.updates(&ch, &db).unwrap()["R"][uuid],
            json!({"old": {"n": 5}, "new": {"n": 6, "name": "a"}})
        );
        // A change to columns the v1 monitor does not watch is not reported.
        let ch =
            run(&mut db, json!([{"op": "update", "table": "R", "where": [], "row": {"s": "q"}}]));
        assert!(v1.updates(&ch, &db).is_none());
        let ch = run(&mut db, json!([{"op": "delete", "table": "R", "where": []}]));
        assert_eq!(m.updates(&ch, &db).unwrap()["R"][uuid], json!({"delete": null}));
        assert_eq!(v1.updates(&ch, &db).unwrap()["R"][uuid], json!({"old": {"n": 6, "name": "a"}}));
    }

    #[test]
    fn conditions_turn_modifies_into_inserts_and_deletes() {
        let mut db = db();
        run(
            &mut db,
            json!([{"op": "insert", "table": "R", "row": {"name": "a", "n": 1}},
                   {"op": "insert", "table": "R", "row": {"name": "b", "n": 2}}]),
        );
        let mut m = Monitor::parse(
            db.schema(),
            &json!({"R": [{"columns": ["n"], "where": [["n", "==", 1], ["n", "==", 3]]}]}),
            Version::V2,
        )
        .unwrap();
        let init = m.initial(&db);
        assert_eq!(init["R"].as_object().unwrap().len(), 1);
        assert_eq!(
            init["R"].as_object().unwrap().values().next().unwrap(),
            &json!({"initial": {"n": 1}})
        );
        let ch = run(
            &mut db,
            json!([{"op": "update", "table": "R", "where": [["name", "==", "b"]], "row": {"n": 3}}]),
        );
        let u = m.updates(&ch, &db).unwrap();
        assert_eq!(
            u["R"].as_object().unwrap().values().next().unwrap(),
            &json!({"insert": {"n": 3}})
        );
        let ch = run(
            &mut db,
            json!([{"op": "update", "table": "R", "where": [["name", "==", "a"]], "row": {"n": 9}}]),
        );
        let u = m.updates(&ch, &db).unwrap();
        assert_eq!(u["R"].as_object().unwrap().values().next().unwrap(), &json!({"delete": null}));
        // Changing the condition to n == 9 drops b and brings a back.
        let u = m
            .change_conditions(&db, &json!({"R": [{"where": [["n", "==", 9]]}]}))
            .unwrap()
            .unwrap();
        let mut evs: Vec<Value> = u["R"].as_object().unwrap().values().cloned().collect();
        evs.sort_by_key(|v| v.to_string());
        assert_eq!(evs, vec![json!({"delete": null}), json!({"insert": {"n": 9}})]);
    }

    #[test]
    fn bad_requests_are_refused() {
        let db = db();
        let s = db.schema();
        assert!(Monitor::parse(s, &json!({"Nope": {}}), Version::V1)
            .unwrap_err()
            .details
            .contains("Nope"));
        assert!(Monitor::parse(s, &json!({"R": {"columns": ["zz"]}}), Version::V2).is_err());
        assert!(Monitor::parse(s, &json!({"R": {"where": []}}), Version::V1).is_err());
        assert!(Monitor::parse(s, &json!({"R": {"select": {"initial": 1}}}), Version::V2).is_err());
        assert!(Monitor::parse(s, &json!([]), Version::V2).is_err());
    }
}
