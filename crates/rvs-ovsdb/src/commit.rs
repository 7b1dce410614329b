//! The checks at the end of a transaction (RFC 7047 section 4.1.3 and the
//! schema rules of section 3.2), run on the tentative database in OVS's
//! order:
//!
//! 1. strong references must point at existing rows: deleting a row that is
//!    still strongly referenced, or adding a reference to a row that does
//!    not exist, is a `referential integrity violation`;
//! 2. garbage collection: rows of non-root tables (`"isRoot": false`) with no
//!    strong reference left are deleted, repeatedly, since deleting one can
//!    orphan the rows it referred to (like OVS this counts references, so a
//!    cycle of unreachable rows survives);
//! 3. `maxRows`;
//! 4. weak references to rows that no longer exist are removed from their
//!    sets and maps; a column left with fewer elements than its `min` is a
//!    `constraint violation`;
//! 5. every index stays unique.
//!
//! Then the changes are summed up per row against the database as it was,
//! and every modified row gets a new `_version`.
//!
//! The checks scan every row of the database (cheap for a configuration
//! database of thousands of rows); a transaction that wrote nothing skips
//! them.

use std::collections::{BTreeMap, BTreeSet};

use crate::atom::Atom;
use crate::datum::Datum;
use crate::db::{Changes, Database, RowChange};
use crate::error::{ErrorKind, TxnError};
use crate::row::Row;
use crate::schema::TableSchema;
use crate::types::RefType;
use crate::uuid::Uuid;

/// Runs the commit checks on `work`, the tentative copy of `orig`, and
/// returns what changed.
pub(crate) fn commit(orig: &Database, work: &mut Database) -> Result<Changes, TxnError> {
    let names: Vec<String> = work.schema().tables().map(|t| t.name().to_string()).collect();
    if names.iter().all(|t| work.shares_table(orig, t)) {
        return Ok(Changes::default());
    }
    check_strong_refs(orig, work)?;
    collect_garbage(work);
    check_max_rows(work)?;
    clean_weak_refs(work)?;
    check_indexes(work)?;
    Ok(summarize(orig, work, &names))
}

/// Calls `f(column, referenced table, ref type, uuid)` for every reference
/// held in `row` of `ts`.
fn for_each_ref(ts: &TableSchema, row: &Row, mut f: impl FnMut(&str, &str, RefType, Uuid)) {
    for col in ts.user_columns() {
        let ty = col.ty();
        let key = ty.key().ref_table().zip(ty.key().ref_type());
        let value = ty.value().and_then(|v| v.ref_table().zip(v.ref_type()));
        if key.is_none() && value.is_none() {
            continue;
        }
        let Some(d) = row.get(col.name()) else { continue };
        let mut visit = |r: Option<(&str, RefType)>, a: &Atom| {
            if let (Some((t, rt)), Some(u)) = (r, a.as_uuid()) {
                f(col.name(), t, rt, u);
            }
        };
        match d {
            Datum::Set(s) => s.iter().for_each(|a| visit(key, a)),
            Datum::Map(m) => m.iter().for_each(|(k, v)| {
                visit(key, k);
                visit(value, v);
            }),
        }
    }
}

fn check_strong_refs(orig: &Database, work: &Database) -> Result<(), TxnError> {
    for ts in work.schema().tables() {
        for (uuid, row) in work.table(ts.name()).expect("schema table") {
            let mut err = None;
            for_each_ref(ts, row, |col, rt, kind, target| {
                if err.is_some() || kind != RefType::Strong || work.row(rt, &target).is_some() {
                    return;
                }
                let details = if orig.row(rt, &target).is_some() {
                    format!(
                        "cannot delete {rt} row {target} because of a remaining reference from \
                         column {col} of {} row {uuid}",
                        ts.name()
                    )
                } else {
                    format!(
                        "table {} column {col} row {uuid} references nonexistent row {target} \
                         in table {rt}",
                        ts.name()
                    )
                };
                err = Some(TxnError::new(ErrorKind::ReferentialIntegrity, details));
            });
            if let Some(e) = err {
                return Err(e);
            }
        }
    }
    Ok(())
}

fn collect_garbage(work: &mut Database) {
    let schema = work.schema_arc();
    let is_root = |t: &str| schema.table(t).is_some_and(TableSchema::is_root);
    let mut refs: BTreeMap<(String, Uuid), usize> = BTreeMap::new();
    for ts in schema.tables().filter(|t| !t.is_root()) {
        for u in work.table(ts.name()).expect("schema table").keys() {
            refs.insert((ts.name().to_string(), *u), 0);
        }
    }
    if refs.is_empty() {
        return;
    }
    for ts in schema.tables() {
        for row in work.table(ts.name()).expect("schema table").values() {
            for_each_ref(ts, row, |_, rt, kind, target| {
                if kind == RefType::Strong && !is_root(rt) {
                    if let Some(n) = refs.get_mut(&(rt.to_string(), target)) {
                        *n += 1;
                    }
                }
            });
        }
    }
    let mut doomed: Vec<(String, Uuid)> =
        refs.iter().filter(|(_, n)| **n == 0).map(|(k, _)| k.clone()).collect();
    while let Some((t, u)) = doomed.pop() {
        let Some(row) = work.table_mut(&t).expect("schema table").remove(&u) else { continue };
        let ts = schema.table(&t).expect("schema table");
        for_each_ref(ts, &row, |_, rt, kind, target| {
            if kind != RefType::Strong {
                return;
            }
            if let Some(n) = refs.get_mut(&(rt.to_string(), target)) {
                if *n > 0 {
                    *n -= 1;
                    if *n == 0 {
                        doomed.push((rt.to_string(), target));
                    }
                }
            }
        });
    }
}

fn check_max_rows(work: &Database) -> Result<(), TxnError> {
    for ts in work.schema().tables() {
        let n = work.table(ts.name()).expect("schema table").len();
        if let Some(max) = ts.max_rows() {
            if n as u64 > max {
                return Err(TxnError::constraint(format!(
                    "transaction causes table {} to contain {n} rows, more than the schema's \
                     maxRows {max}",
                    ts.name()
                )));
            }
        }
    }
    Ok(())
}

fn clean_weak_refs(work: &mut Database) -> Result<(), TxnError> {
    let schema = work.schema_arc();
    fn weak(b: Option<&crate::BaseType>) -> Option<&str> {
        b.and_then(|b| b.ref_table().filter(|_| b.ref_type() == Some(RefType::Weak)))
    }
    for ts in schema.tables() {
        let mut fixes: Vec<(Uuid, String, Datum)> = Vec::new();
        for (uuid, row) in work.table(ts.name()).expect("schema table") {
            for col in ts.user_columns() {
                let ty = col.ty();
                let (kt, vt) = (weak(Some(ty.key())), weak(ty.value()));
                if kt.is_none() && vt.is_none() {
                    continue;
                }
                let alive = |t: Option<&str>, a: &Atom| match (t, a.as_uuid()) {
                    (Some(t), Some(u)) => work.row(t, &u).is_some(),
                    _ => true,
                };
                let Some(d) = row.get(col.name()) else { continue };
                let cleaned = match d {
                    Datum::Set(s) => {
                        Datum::Set(s.iter().filter(|a| alive(kt, a)).cloned().collect())
                    }
                    Datum::Map(m) => Datum::Map(
                        m.iter()
                            .filter(|(k, v)| alive(kt, k) && alive(vt, v))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    ),
                };
                if cleaned.len() != d.len() {
                    cleaned.check_count(ty).map_err(|e| {
                        TxnError::constraint(format!(
                            "column {}.{} of row {uuid}: removing weak references to deleted \
                             rows leaves {e}",
                            ts.name(),
                            col.name()
                        ))
                    })?;
                    fixes.push((*uuid, col.name().to_string(), cleaned));
                }
            }
        }
        if !fixes.is_empty() {
            let rows = work.table_mut(ts.name()).expect("schema table");
            for (u, c, d) in fixes {
                rows.get_mut(&u).expect("row just read").set(c, d);
            }
        }
    }
    Ok(())
}

fn check_indexes(work: &Database) -> Result<(), TxnError> {
    for ts in work.schema().tables() {
        for index in ts.indexes() {
            let mut seen: BTreeMap<Vec<&Datum>, Uuid> = BTreeMap::new();
            for (uuid, row) in work.table(ts.name()).expect("schema table") {
                let key: Vec<&Datum> = index.iter().filter_map(|c| row.get(c)).collect();
                if let Some(first) = seen.insert(key.clone(), *uuid) {
                    let values: Vec<String> = key.iter().map(|d| d.to_json().to_string()).collect();
                    return Err(TxnError::constraint(format!(
                        "transaction causes rows {first} and {uuid} of table {} to have identical \
                         values ({}) for index on column(s) {}",
                        ts.name(),
                        values.join(", "),
                        index.join(", ")
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The per-row changes from `orig` to `work`; bumps `_version` of modified rows.
fn summarize(orig: &Database, work: &mut Database, names: &[String]) -> Changes {
    let mut changes = Changes::default();
    for t in names {
        if work.shares_table(orig, t) {
            continue;
        }
        let old = orig.table(t).expect("schema table");
        let new = work.table(t).expect("schema table");
        let uuids: BTreeSet<&Uuid> = old.keys().chain(new.keys()).collect();
        let mut rows = BTreeMap::new();
        for u in uuids {
            let change = match (old.get(u), new.get(u)) {
                (Some(o), None) => RowChange::Delete(o.clone()),
                (None, Some(n)) => RowChange::Insert(n.clone()),
                (Some(o), Some(n)) if o != n => {
                    let (mut oc, mut nc) = (Row::new(), Row::new());
                    for (c, d) in n.iter() {
                        if o.get(c) != Some(d) {
                            nc.set(c, d.clone());
                            if let Some(od) = o.get(c) {
                                oc.set(c, od.clone());
                            }
                        }
                    }
                    RowChange::Modify { old: oc, new: nc }
                }
                _ => continue,
            };
            rows.insert(*u, change);
        }
        let table = work.table_mut(t).expect("schema table");
        for (u, change) in rows.iter_mut() {
            if let RowChange::Modify { old, new } = change {
                let version = Datum::scalar(Uuid::new_v4());
                let row = table.get_mut(u).expect("modified row exists");
                if let Some(v) = row.set("_version", version.clone()) {
                    old.set("_version", v);
                }
                new.set("_version", version);
            }
        }
        if !rows.is_empty() {
            changes.tables.insert(t.clone(), rows);
        }
    }
    changes
}
