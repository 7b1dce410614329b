//! The `transact` method (RFC 7047 sections 4.1.3 and 5.2): a list of
//! operations run atomically against a [`Database`].
//!
//! [`transact`] takes the `params` of a `transact` request after the
//! database name, that is an array of operations, and returns the `result`
//! array: one object per operation, `{"uuid": ["uuid", ..]}` for insert,
//! `{"rows": [..]}` for select, `{"count": n}` for update, mutate and delete,
//! `{}` for the rest. The first operation that fails puts
//! `{"error": kind, "details": ..}` in its place and, as RFC 7047 says, the
//! operations after it are not attempted and get `null`. If every operation
//! succeeds but the commit checks fail (see [`crate::commit`]), the result
//! has one more element than there were operations: the commit's error.
//! Either way a failed transaction changes nothing.
//!
//! Blocking and durability live a layer up:
//! - `wait` here checks its condition once and fails with `timed out` if it
//!   does not hold, whatever its `timeout`; the [`crate::server`] retries a
//!   transaction that failed so after every commit until the timeout passes.
//! - `commit`'s `durable` flag is reported in [`Outcome`]; the server syncs
//!   every commit to its [`crate::storage`] file, durable or not.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::atom::{is_id, SymbolTable};
use crate::commit;
use crate::condition::Condition;
use crate::db::{Changes, Database};
use crate::error::{ErrorKind, TxnError};
use crate::mutation::Mutation;
use crate::row::Row;
use crate::schema::{Schema, TableSchema};
use crate::uuid::Uuid;

/// What a transaction did.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The `result` array to send back.
    pub result: Value,
    /// What changed, if the transaction committed (possibly nothing).
    pub changes: Option<Changes>,
    /// Whether a `commit` operation asked for a durable commit.
    pub durable: bool,
}

impl Outcome {
    /// Whether the transaction committed.
    pub fn committed(&self) -> bool {
        self.changes.is_some()
    }
}

/// Runs `ops` against `db` for a session that owns no locks, returning the
/// `result` array. See [`transact_with`].
pub fn transact(db: &mut Database, ops: &Value) -> Value {
    transact_with(db, ops, &|_| false).result
}

/// Runs `ops` (the `transact` params after the database name) against `db`.
/// `owns_lock` answers whether the session owns a lock, for `assert`.
/// On any failure `db` is left exactly as it was.
pub fn transact_with(db: &mut Database, ops: &Value, owns_lock: &dyn Fn(&str) -> bool) -> Outcome {
    let failed = |result| Outcome { result, changes: None, durable: false };
    let Value::Array(list) = ops else {
        let e = TxnError::syntax(format!("transaction must be an array of operations, got {ops}"));
        return failed(json!([e.to_json()]));
    };
    let mut work = db.clone();
    let schema = db.schema_arc();
    let mut x = Exec {
        orig: db,
        work: &mut work,
        schema,
        symbols: SymbolTable::new(),
        owns_lock,
        durable: false,
    };
    let mut results = Vec::with_capacity(list.len() + 1);
    for op in list {
        match x.execute(op) {
            Ok(v) => results.push(v),
            Err(e) => {
                results.push(e.to_json());
                results.resize(list.len(), Value::Null);
                return failed(Value::Array(results));
            }
        }
    }
    let durable = x.durable;
    match commit::commit(db, &mut work) {
        Ok(changes) => {
            *db = work;
            Outcome { result: Value::Array(results), changes: Some(changes), durable }
        }
        Err(e) => {
            results.push(e.to_json());
            failed(Value::Array(results))
        }
    }
}

/// One transaction in progress.
struct Exec<'a> {
    orig: &'a Database,
    work: &'a mut Database,
    schema: Arc<Schema>,
    symbols: SymbolTable,
    owns_lock: &'a dyn Fn(&str) -> bool,
    durable: bool,
}

type Obj = Map<String, Value>;

fn member<'v>(obj: &'v Obj, op: &str, name: &str) -> Result<&'v Value, TxnError> {
    obj.get(name).ok_or_else(|| TxnError::syntax(format!("\"{op}\" operation lacks \"{name}\"")))
}

fn string<'v>(obj: &'v Obj, op: &str, name: &str) -> Result<&'v str, TxnError> {
    let v = member(obj, op, name)?;
    v.as_str().ok_or_else(|| {
        TxnError::syntax(format!("\"{name}\" of \"{op}\" must be a string, got {v}"))
    })
}

impl Exec<'_> {
    fn execute(&mut self, op: &Value) -> Result<Value, TxnError> {
        let Value::Object(obj) = op else {
            return Err(TxnError::syntax(format!("operation must be an object, got {op}")));
        };
        let name = string(obj, "operation", "op")?;
        let allowed: &[&str] = match name {
            "insert" => &["table", "row", "uuid-name", "uuid"],
            "select" => &["table", "where", "columns"],
            "update" => &["table", "where", "row"],
            "mutate" => &["table", "where", "mutations"],
            "delete" => &["table", "where"],
            "wait" => &["table", "where", "columns", "until", "rows", "timeout"],
            "commit" => &["durable"],
            "abort" => &[],
            "comment" => &["comment"],
            "assert" => &["lock"],
            _ => {
                return Err(TxnError::new(
                    ErrorKind::UnknownOperation,
                    format!("no operation \"{name}\""),
                ))
            }
        };
        if let Some(k) = obj.keys().find(|k| *k != "op" && !allowed.contains(&k.as_str())) {
            return Err(TxnError::syntax(format!(
                "member \"{k}\" is not allowed in a \"{name}\" operation"
            )));
        }
        match name {
            "insert" => self.insert(obj),
            "select" => self.select(obj),
            "update" => self.update(obj),
            "mutate" => self.mutate(obj),
            "delete" => self.delete(obj),
            "wait" => self.wait(obj),
            "commit" => {
                let d = member(obj, name, "durable")?;
                self.durable |= d.as_bool().ok_or_else(|| {
                    TxnError::syntax(format!("\"durable\" must be a boolean, got {d}"))
                })?;
                Ok(json!({}))
            }
            "abort" => Err(TxnError::new(ErrorKind::Aborted, "aborted by request")),
            "comment" => string(obj, name, "comment").map(|_| json!({})),
            _ => {
                let lock = string(obj, name, "lock")?;
                if (self.owns_lock)(lock) {
                    Ok(json!({}))
                } else {
                    Err(TxnError::new(
                        ErrorKind::NotOwner,
                        format!("asserted lock \"{lock}\" is not held"),
                    ))
                }
            }
        }
    }

    fn table(&self, obj: &Obj, op: &str) -> Result<Arc<Schema>, TxnError> {
        let t = string(obj, op, "table")?;
        match self.schema.table(t) {
            Some(_) => Ok(self.schema.clone()),
            None => Err(TxnError::new(ErrorKind::UnknownTable, format!("no table {t}"))),
        }
    }

    fn conditions(
        &mut self,
        obj: &Obj,
        op: &str,
        ts: &TableSchema,
    ) -> Result<Vec<Condition>, TxnError> {
        Condition::parse_where(member(obj, op, "where")?, ts, &mut self.symbols)
    }

    /// The UUIDs of the rows of `table` matching `conds`.
    fn matching(&self, table: &str, conds: &[Condition]) -> Vec<Uuid> {
        let rows = self.work.table(table).expect("table exists");
        if let Some(u) = conds.iter().find_map(Condition::uuid_eq) {
            return rows
                .get(&u)
                .filter(|r| Condition::all_match(conds, r))
                .map(|_| vec![u])
                .unwrap_or_default();
        }
        rows.iter().filter(|(_, r)| Condition::all_match(conds, r)).map(|(u, _)| *u).collect()
    }

    fn parse_row(&mut self, json: &Value, ts: &TableSchema) -> Result<Row, TxnError> {
        let row =
            Row::from_json(json, ts, Some(&mut self.symbols)).map_err(|e| TxnError::row(&e))?;
        if let Some((c, _)) = row.iter().find(|(c, _)| c.starts_with('_')) {
            return Err(TxnError::constraint(format!(
                "column {}.{c} cannot be set by a transaction",
                ts.name()
            )));
        }
        Ok(row)
    }

    fn insert(&mut self, obj: &Obj) -> Result<Value, TxnError> {
        let schema = self.table(obj, "insert")?;
        let ts = schema.table(string(obj, "insert", "table")?).expect("checked");
        let tname = ts.name();
        let given = match obj.get("uuid") {
            None => None,
            Some(v) => Some(v.as_str().and_then(|s| Uuid::parse(s).ok()).ok_or_else(|| {
                TxnError::syntax(format!("\"uuid\" of \"insert\" must be a UUID string, got {v}"))
            })?),
        };
        let uuid = match obj.get("uuid-name") {
            None => given.unwrap_or_else(Uuid::new_v4),
            Some(v) => {
                let name = v.as_str().filter(|s| is_id(s)).ok_or_else(|| {
                    TxnError::syntax(format!("\"uuid-name\" must be an identifier, got {v}"))
                })?;
                let dup = || {
                    TxnError::new(
                        ErrorKind::DuplicateUuidName,
                        format!("uuid-name \"{name}\" appeared on an earlier insert or reference"),
                    )
                };
                match given {
                    Some(u) => {
                        if !self.symbols.declare_as(name, u) {
                            return Err(dup());
                        }
                        u
                    }
                    None => match self.symbols.declare(name) {
                        (_, true) => return Err(dup()),
                        (u, false) => u,
                    },
                }
            }
        };
        if self.work.row(tname, &uuid).is_some() || self.orig.row(tname, &uuid).is_some() {
            return Err(TxnError::new(
                ErrorKind::DuplicateUuid,
                format!("row {uuid} already exists in table {tname}"),
            ));
        }
        let given_row = match obj.get("row") {
            Some(r) => self.parse_row(r, ts)?,
            None => Row::new(),
        };
        let mut row = Row::default_for(ts);
        for (c, d) in given_row.iter() {
            row.set(c, d.clone());
        }
        row.set("_uuid", crate::Datum::scalar(uuid));
        row.set("_version", crate::Datum::scalar(Uuid::new_v4()));
        self.work.table_mut(tname).expect("checked").insert(uuid, row);
        Ok(json!({"uuid": ["uuid", uuid.to_string()]}))
    }

    fn select(&mut self, obj: &Obj) -> Result<Value, TxnError> {
        let schema = self.table(obj, "select")?;
        let ts = schema.table(string(obj, "select", "table")?).expect("checked");
        let conds = self.conditions(obj, "select", ts)?;
        let columns = parse_columns(obj.get("columns"), ts)?;
        let rows = self.work.table(ts.name()).expect("checked");
        let out: Vec<Value> = self
            .matching(ts.name(), &conds)
            .iter()
            .map(|u| project(&rows[u], columns.as_deref()).to_json())
            .collect();
        Ok(json!({"rows": out}))
    }

    fn update(&mut self, obj: &Obj) -> Result<Value, TxnError> {
        let schema = self.table(obj, "update")?;
        let ts = schema.table(string(obj, "update", "table")?).expect("checked");
        let conds = self.conditions(obj, "update", ts)?;
        let new = self.parse_row(member(obj, "update", "row")?, ts)?;
        for (c, _) in new.iter() {
            if !ts.column(c).is_some_and(|col| col.is_mutable()) {
                return Err(TxnError::constraint(format!(
                    "cannot update immutable column {}.{c}",
                    ts.name()
                )));
            }
        }
        let uuids = self.matching(ts.name(), &conds);
        let rows = self.work.table_mut(ts.name()).expect("checked");
        for u in &uuids {
            let row = rows.get_mut(u).expect("matched");
            for (c, d) in new.iter() {
                row.set(c, d.clone());
            }
        }
        Ok(json!({"count": uuids.len()}))
    }

    fn mutate(&mut self, obj: &Obj) -> Result<Value, TxnError> {
        let schema = self.table(obj, "mutate")?;
        let ts = schema.table(string(obj, "mutate", "table")?).expect("checked");
        let conds = self.conditions(obj, "mutate", ts)?;
        let muts =
            Mutation::parse_list(member(obj, "mutate", "mutations")?, ts, &mut self.symbols)?;
        let uuids = self.matching(ts.name(), &conds);
        let rows = self.work.table_mut(ts.name()).expect("checked");
        for u in &uuids {
            let row = rows.get_mut(u).expect("matched");
            for m in &muts {
                let col = ts.column(&m.column).expect("checked by parse");
                let old = row
                    .get(&m.column)
                    .cloned()
                    .unwrap_or_else(|| crate::Datum::default_for(col.ty()));
                let new = m.apply(&old, ts.name(), col)?;
                row.set(m.column.clone(), new);
            }
        }
        Ok(json!({"count": uuids.len()}))
    }

    fn delete(&mut self, obj: &Obj) -> Result<Value, TxnError> {
        let schema = self.table(obj, "delete")?;
        let ts = schema.table(string(obj, "delete", "table")?).expect("checked");
        let conds = self.conditions(obj, "delete", ts)?;
        let uuids = self.matching(ts.name(), &conds);
        let rows = self.work.table_mut(ts.name()).expect("checked");
        for u in &uuids {
            rows.remove(u);
        }
        Ok(json!({"count": uuids.len()}))
    }

    fn wait(&mut self, obj: &Obj) -> Result<Value, TxnError> {
        let schema = self.table(obj, "wait")?;
        let ts = schema.table(string(obj, "wait", "table")?).expect("checked");
        let conds = self.conditions(obj, "wait", ts)?;
        let columns = parse_columns(obj.get("columns"), ts)?
            .unwrap_or_else(|| ts.user_columns().map(|c| c.name().to_string()).collect());
        let until = string(obj, "wait", "until")?;
        if until != "==" && until != "!=" {
            return Err(TxnError::syntax(format!(
                "\"until\" must be \"==\" or \"!=\", got \"{until}\""
            )));
        }
        if let Some(t) = obj.get("timeout") {
            if !t.is_i64() {
                return Err(TxnError::syntax(format!("\"timeout\" must be an integer, got {t}")));
            }
        }
        let Value::Array(expected_json) = member(obj, "wait", "rows")? else {
            return Err(TxnError::syntax("\"rows\" of \"wait\" must be an array"));
        };
        let mut expected = Vec::new();
        for r in expected_json {
            let given =
                Row::from_json(r, ts, Some(&mut self.symbols)).map_err(|e| TxnError::row(&e))?;
            let mut row = Row::default_for(ts);
            for (c, d) in given.iter() {
                row.set(c, d.clone());
            }
            expected.push(project(&row, Some(&columns)));
        }
        let rows = self.work.table(ts.name()).expect("checked");
        let mut actual: Vec<Row> = self
            .matching(ts.name(), &conds)
            .iter()
            .map(|u| project(&rows[u], Some(&columns)))
            .collect();
        let key = |r: &Row| r.to_json().to_string();
        actual.sort_by_cached_key(key);
        expected.sort_by_cached_key(key);
        let equal = actual == expected;
        if equal == (until == "==") {
            Ok(json!({}))
        } else {
            Err(TxnError::new(
                ErrorKind::TimedOut,
                format!(
                    "\"wait\" on table {} until {until}: {} row(s) selected, condition does not hold",
                    ts.name(),
                    actual.len()
                ),
            ))
        }
    }
}

/// Parses an optional `"columns"` array of `ts`.
fn parse_columns(json: Option<&Value>, ts: &TableSchema) -> Result<Option<Vec<String>>, TxnError> {
    let Some(json) = json else { return Ok(None) };
    let Value::Array(list) = json else {
        return Err(TxnError::syntax(format!("\"columns\" must be an array, got {json}")));
    };
    let mut out = Vec::new();
    for c in list {
        let name =
            c.as_str().ok_or_else(|| TxnError::syntax(format!("{c} is not a column name")))?;
        if ts.column(name).is_none() {
            return Err(TxnError::new(
                ErrorKind::UnknownColumn,
                format!("no column {name} in table {}", ts.name()),
            ));
        }
        if !out.iter().any(|o| o == name) {
            out.push(name.to_string());
        }
    }
    Ok(Some(out))
}

/// `row` with only `columns` (all if `None`).
fn project(row: &Row, columns: Option<&[String]>) -> Row {
    let Some(columns) = columns else { return row.clone() };
    let mut out = Row::new();
    for c in columns {
        if let Some(d) = row.get(c) {
            out.set(c.clone(), d.clone());
        }
    }
    out
}
