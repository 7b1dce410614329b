//! `rvs-vsctl`: `ovs-vsctl`'s command syntax over OVSDB (RFC 7047).
//!
//! An invocation reads the schema (`get_schema`) and every table
//! (`select`), runs its commands (separated by `--`) against that local
//! copy, then sends every change in ONE `transact`, as `ovs-vsctl` does. A
//! failing command sends nothing. Unless `--no-wait`, the same transaction
//! increments `Open_vSwitch.next_cfg`, and the client then monitors
//! `cur_cfg` until the switch has caught up.

mod bridges;
mod commands;
mod format;
pub mod value;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rvs_jsonrpc::{Connection, Message, Stream};
use rvs_ovsdb::Schema;
use serde_json::{json, Value};

use value::{Atom, Datum};

/// The text of `--help`.
pub const USAGE: &str = "\
rvs-vsctl: configures rvs through its OVSDB database (ovs-vsctl's syntax)
usage: rvs-vsctl [OPTIONS] COMMAND [ARG...] [-- [OPTIONS] COMMAND [ARG...]]...

Options: --db=unix:PATH|tcp:IP:PORT (default unix:$RVS_RUNDIR/db.sock),
  --no-wait, --timeout=SECS; per command: --may-exist, --if-exists,
  --id=@NAME, --columns=COL,... (list, find)
Output of list and find: --format=list|table|csv|json|html,
  -d, --data=string|bare|json, --no-headings, --bare

Commands: init, show, add-br BR [PARENT VLAN], del-br BR, list-br,
  br-exists BR, br-to-vlan BR, br-to-parent BR,
  add-port BR PORT [COL[:KEY]=VALUE]..., del-port [BR] PORT, list-ports BR,
  port-to-br PORT, list-ifaces BR, iface-to-br IFACE,
  set-controller BR TARGET..., get-controller BR, del-controller BR,
  set-fail-mode BR standalone|secure, get-fail-mode BR, del-fail-mode BR,
  set-manager TARGET..., get-manager, del-manager,
  list TBL [REC...], find TBL [COL[:KEY]=VALUE]...,
  get TBL REC COL[:KEY]..., set TBL REC COL[:KEY]=VALUE...,
  add TBL REC COL VALUE..., remove TBL REC COL VALUE..., clear TBL REC COL...,
  create TBL COL[:KEY]=VALUE..., destroy TBL REC...
";

/// What an invocation printed and its exit code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Text for stdout.
    pub stdout: String,
    /// Text for stderr (without the `rvs-vsctl: ` prefix added by [`run`]).
    pub stderr: String,
    /// The exit code.
    pub code: i32,
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum VsctlError {
    /// A usage error or a command that cannot be carried out.
    #[error("{0}")]
    Command(String),
    /// The database could not be reached.
    #[error("{db}: database connection failed ({source})")]
    Connect {
        /// The `--db` value.
        db: String,
        /// Why.
        source: std::io::Error,
    },
    /// A JSON-RPC exchange failed.
    #[error("{db}: {source}")]
    Rpc {
        /// The `--db` value.
        db: String,
        /// Why.
        source: rvs_jsonrpc::Error,
    },
    /// The server refused the transaction.
    #[error("transaction error: {0}")]
    Transaction(String),
    /// The database changed between reading and committing.
    #[error("the database kept changing during the transaction; giving up")]
    TryAgain,
    /// Waiting for the switch to reconfigure timed out.
    #[error("timed out after {0} seconds waiting for the switch to apply the configuration")]
    Timeout(u64),
}

fn cmd_err(msg: impl Into<String>) -> VsctlError {
    VsctlError::Command(msg.into())
}

/// Global options of an invocation.
#[derive(Debug, Clone)]
struct Options {
    db: String,
    no_wait: bool,
    timeout: Option<u64>,
    style: format::Style,
}

/// One command with its own options.
#[derive(Debug, Clone, Default)]
pub(crate) struct Command {
    pub(crate) name: String,
    pub(crate) args: Vec<String>,
    pub(crate) may_exist: bool,
    pub(crate) if_exists: bool,
    pub(crate) id: Option<String>,
    /// `--columns=` of `list` and `find`.
    pub(crate) columns: Option<String>,
    /// `--real` and `--fake` of `list-br`.
    pub(crate) real: bool,
    pub(crate) fake: bool,
}

/// A row in the local copy: column name to value.
pub(crate) type Row = BTreeMap<String, Datum>;

/// The local copy of the database and the changes made to it.
pub(crate) struct Ctx {
    pub(crate) schema: Schema,
    pub(crate) tables: BTreeMap<String, BTreeMap<String, Row>>,
    /// Rows inserted by this transaction: name to table.
    pub(crate) new_rows: BTreeMap<String, String>,
    /// Columns written, per (table, row).
    pub(crate) dirty: BTreeMap<(String, String), BTreeSet<String>>,
    /// Rows destroyed.
    pub(crate) deleted: Vec<(String, String)>,
    /// `@name` symbols of `--id`.
    pub(crate) symbols: BTreeMap<String, String>,
    /// Symbols referred to before any `--id=@name create` made them (they
    /// must be made by the end of the transaction).
    pub(crate) forward: Vec<String>,
    /// `_version` of each row as read, for the transaction's `wait`s.
    versions: BTreeMap<(String, String), Value>,
    pub(crate) out: String,
    pub(crate) exit: i32,
    /// How `list` and `find` print.
    pub(crate) style: format::Style,
    pub(crate) next_row: usize,
}

fn parse_args(args: &[String]) -> Result<(Options, Vec<Command>), VsctlError> {
    let rundir = crate::appctl::rundir();
    let mut opts = Options {
        db: format!("unix:{}", rundir.join("db.sock").display()),
        no_wait: false,
        timeout: None,
        style: format::Style::default(),
    };
    let mut i = 0;
    // Global options.
    while i < args.len() && args[i].starts_with('-') && args[i] != "--" {
        let a = &args[i];
        let (name, val) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (a.as_str(), None),
        };
        let mut value = || -> Result<String, VsctlError> {
            if let Some(v) = &val {
                return Ok(v.clone());
            }
            i += 1;
            args.get(i).cloned().ok_or_else(|| cmd_err(format!("option {name} needs a value")))
        };
        match name {
            "--db" => opts.db = value()?,
            "--no-wait" => opts.no_wait = true,
            "--wait" => opts.no_wait = false,
            "--format" | "-f" => opts.style.set_format(&value()?)?,
            "--data" | "-d" => opts.style.set_data(&value()?)?,
            "--no-headings" => opts.style.headings = false,
            "--bare" => opts.style.set_bare(),
            "--pretty" => {}
            "--timeout" | "-t" => {
                let v = value()?;
                let secs = v
                    .parse::<u64>()
                    .map_err(|_| cmd_err(format!("--timeout value \"{v}\" is not a number")))?;
                opts.timeout = (secs > 0).then_some(secs);
            }
            // Per-command options before the first command.
            "--may-exist" | "--if-exists" | "--id" | "--columns" | "--real" | "--fake" => break,
            other => return Err(cmd_err(format!("unknown option \"{other}\""))),
        }
        i += 1;
    }
    let mut cmds = Vec::new();
    for group in args[i..].split(|a| a == "--") {
        if group.is_empty() {
            continue;
        }
        let mut c = Command::default();
        let mut it = group.iter().peekable();
        while let Some(a) = it.next_if(|a| a.starts_with("--")) {
            match a.split_once('=') {
                Some(("--id", v)) => c.id = Some(v.to_string()),
                Some(("--columns", v)) => c.columns = Some(v.to_string()),
                _ if a == "--may-exist" => c.may_exist = true,
                _ if a == "--if-exists" => c.if_exists = true,
                _ if a == "--real" => c.real = true,
                _ if a == "--fake" => c.fake = true,
                _ => return Err(cmd_err(format!("unknown command option \"{a}\""))),
            }
        }
        c.name = it.next().cloned().ok_or_else(|| cmd_err("missing command name"))?;
        c.args = it.cloned().collect();
        cmds.push(c);
    }
    if cmds.is_empty() {
        return Err(cmd_err("missing command name (use --help for help)"));
    }
    Ok((opts, cmds))
}

fn connect(db: &str) -> Result<Connection<Stream>, VsctlError> {
    if !Stream::is_remote(db) {
        return Err(cmd_err(format!(
            "database \"{db}\" is not supported (only unix:PATH and tcp:IP:PORT are)"
        )));
    }
    Stream::connect(db)
        .map(Connection::new)
        .map_err(|source| VsctlError::Connect { db: db.to_string(), source })
}

fn rpc(
    conn: &mut Connection<Stream>,
    db: &str,
    method: &str,
    params: Vec<Value>,
    deadline: Option<Instant>,
    timeout: Option<u64>,
) -> Result<Value, VsctlError> {
    let id = conn.next_id();
    let req = Message::request(method, params, id);
    let reply = match deadline {
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(VsctlError::Timeout(timeout.unwrap_or(0)));
            }
            conn.transact_timeout(req, left)
        }
        None => conn.transact(req),
    };
    match reply {
        Ok(Message::Reply { result, .. }) => Ok(result),
        Ok(Message::Error { error, .. }) => Err(VsctlError::Transaction(error.to_string())),
        Ok(other) => Err(VsctlError::Transaction(format!("unexpected answer {other}"))),
        Err(rvs_jsonrpc::Error::Timeout(_)) => Err(VsctlError::Timeout(timeout.unwrap_or(0))),
        Err(source) => Err(VsctlError::Rpc { db: db.to_string(), source }),
    }
}

impl Ctx {
    pub(crate) fn new_name(&mut self) -> String {
        self.next_row += 1;
        format!("row_{}", self.next_row)
    }

    /// The column type of `table.column`.
    pub(crate) fn col_type(&self, table: &str, column: &str) -> Option<rvs_ovsdb::Type> {
        self.schema.table(table)?.column(column).map(|c| c.ty().clone())
    }

    /// Inserts a new row of `table` with default values; returns its name.
    pub(crate) fn insert(&mut self, table: &str) -> String {
        let name = self.new_name();
        self.insert_named(table, name)
    }

    /// Inserts a row named `name` (a name from [`Ctx::new_name`]).
    pub(crate) fn insert_named(&mut self, table: &str, name: String) -> String {
        let mut row = Row::new();
        if let Some(ts) = self.schema.table(table) {
            for c in ts.user_columns() {
                row.insert(c.name().to_string(), Datum::default_of(c.ty()));
            }
        }
        self.tables.entry(table.to_string()).or_default().insert(name.clone(), row);
        self.new_rows.insert(name.clone(), table.to_string());
        self.dirty.entry((table.to_string(), name.clone())).or_default();
        name
    }

    /// Writes `value` into `table`/`uuid`/`column`.
    pub(crate) fn write(&mut self, table: &str, uuid: &str, column: &str, value: Datum) {
        if let Some(row) = self.tables.get_mut(table).and_then(|t| t.get_mut(uuid)) {
            row.insert(column.to_string(), value);
            self.dirty
                .entry((table.to_string(), uuid.to_string()))
                .or_default()
                .insert(column.to_string());
        }
    }

    /// The value of `table`/`uuid`/`column` (empty if missing).
    pub(crate) fn read(&self, table: &str, uuid: &str, column: &str) -> Datum {
        self.tables
            .get(table)
            .and_then(|t| t.get(uuid))
            .and_then(|r| r.get(column))
            .cloned()
            .unwrap_or_default()
    }

    /// Forgets a row that the server will garbage-collect.
    pub(crate) fn forget(&mut self, table: &str, uuid: &str) {
        if let Some(t) = self.tables.get_mut(table) {
            t.remove(uuid);
        }
        self.dirty.remove(&(table.to_string(), uuid.to_string()));
        self.new_rows.remove(uuid);
    }

    /// The string value of `column` (e.g. `name`) of a row.
    pub(crate) fn string(&self, table: &str, uuid: &str, column: &str) -> String {
        match self.read(table, uuid, column).0.first() {
            Some((Atom::Str(s), _)) => s.clone(),
            _ => String::new(),
        }
    }

    fn ops(&self) -> Vec<Value> {
        let is_new = |u: &str| self.new_rows.contains_key(u);
        let mut ops = Vec::new();
        for ((table, uuid), cols) in &self.dirty {
            let Some(row) = self.tables.get(table).and_then(|t| t.get(uuid)) else {
                continue;
            };
            let mut obj = serde_json::Map::new();
            for c in cols {
                if let (Some(v), Some(ty)) = (row.get(c), self.col_type(table, c)) {
                    obj.insert(c.clone(), v.to_json(&ty, &is_new));
                }
            }
            if self.new_rows.contains_key(uuid) {
                ops.push(json!({"op": "insert", "table": table, "row": obj, "uuid-name": uuid}));
            } else if !obj.is_empty() {
                // Fail (and retry) if another client changed the row since
                // it was read, as ovs-vsctl's verify does.
                if let Some(v) = self.versions.get(&(table.clone(), uuid.clone())) {
                    ops.push(json!({"op": "wait", "table": table, "timeout": 0,
                        "where": [["_uuid", "==", ["uuid", uuid]]], "columns": ["_version"],
                        "until": "==", "rows": [{"_version": v}]}));
                }
                ops.push(json!({"op": "update", "table": table,
                    "where": [["_uuid", "==", ["uuid", uuid]]], "row": obj}));
            }
        }
        for (table, uuid) in &self.deleted {
            if !self.new_rows.contains_key(uuid) {
                ops.push(json!({"op": "delete", "table": table,
                    "where": [["_uuid", "==", ["uuid", uuid]]]}));
            }
        }
        ops
    }
}

/// Runs one invocation of `rvs-vsctl` with `args` (without the program
/// name) and returns what it printed and its exit code.
pub fn run(args: &[String]) -> Output {
    if args.first().is_some_and(|a| a == "--help" || a == "-h") {
        return Output { stdout: USAGE.to_string(), stderr: String::new(), code: 0 };
    }
    // A transaction that lost a race with another client is redone on
    // fresh data, as ovs-vsctl does on TXN_TRY_AGAIN.
    let mut result = run_inner(args);
    for _ in 0..10 {
        if !matches!(result, Err(VsctlError::TryAgain)) {
            break;
        }
        result = run_inner(args);
    }
    match result {
        Ok(o) => o,
        Err(e) => Output {
            stdout: String::new(),
            stderr: format!("rvs-vsctl: {e}\n"),
            code: if matches!(e, VsctlError::Timeout(_)) { 142 } else { 1 },
        },
    }
}

fn run_inner(args: &[String]) -> Result<Output, VsctlError> {
    let (opts, cmds) = parse_args(args)?;
    let deadline = opts.timeout.map(|s| Instant::now() + Duration::from_secs(s));
    let db = opts.db.clone();
    let mut conn = connect(&db)?;
    let schema_json =
        rpc(&mut conn, &db, "get_schema", vec![json!("Open_vSwitch")], deadline, opts.timeout)?;
    let schema = Schema::from_json(&schema_json)
        .map_err(|e| VsctlError::Transaction(format!("bad schema from {db}: {e}")))?;
    let dbname = schema.name().to_string();

    // Read every table.
    let names: Vec<String> = schema.tables().map(|t| t.name().to_string()).collect();
    let mut params = vec![json!(dbname)];
    params.extend(names.iter().map(|t| json!({"op": "select", "table": t, "where": []})));
    let result = rpc(&mut conn, &db, "transact", params, deadline, opts.timeout)?;
    let mut tables = BTreeMap::new();
    let mut versions = BTreeMap::new();
    for (name, r) in names.iter().zip(result.as_array().into_iter().flatten()) {
        let mut rows = BTreeMap::new();
        for row in r.get("rows").and_then(Value::as_array).into_iter().flatten() {
            let Some(obj) = row.as_object() else { continue };
            let uuid = obj
                .get("_uuid")
                .and_then(|u| u.get(1))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if let Some(v) = obj.get("_version") {
                versions.insert((name.clone(), uuid.clone()), v.clone());
            }
            let cols = obj
                .iter()
                .filter(|(k, _)| !k.starts_with('_'))
                .map(|(k, v)| (k.clone(), Datum::from_json(v)))
                .collect();
            rows.insert(uuid, cols);
        }
        tables.insert(name.clone(), rows);
    }

    let mut ctx = Ctx {
        schema,
        tables,
        new_rows: BTreeMap::new(),
        dirty: BTreeMap::new(),
        deleted: Vec::new(),
        symbols: BTreeMap::new(),
        forward: Vec::new(),
        versions,
        out: String::new(),
        exit: 0,
        style: opts.style,
        next_row: 0,
    };
    for c in &cmds {
        commands::execute(&mut ctx, c)?;
    }
    if let Some(id) = ctx.forward.first() {
        return Err(cmd_err(format!(
            "row id \"{id}\" is referenced but never created (e.g. with \"-- --id={id} create ...\")"
        )));
    }

    let mut ops = ctx.ops();
    let changed = !ops.is_empty();
    let wait =
        changed && !opts.no_wait && ctx.tables.get("Open_vSwitch").is_some_and(|t| !t.is_empty());
    let n_cmd_ops = ops.len();
    if wait {
        ops.push(json!({"op": "mutate", "table": "Open_vSwitch", "where": [],
            "mutations": [["next_cfg", "+=", 1]]}));
        ops.push(json!({"op": "select", "table": "Open_vSwitch", "where": [],
            "columns": ["next_cfg"]}));
    }
    let mut next_cfg = None;
    if changed {
        let mut params = vec![json!(dbname)];
        params.extend(ops.iter().cloned());
        let result = rpc(&mut conn, &db, "transact", params, deadline, opts.timeout)?;
        let results = result.as_array().cloned().unwrap_or_default();
        let failed = |r: &Value| r.get("error").is_some_and(|e| !e.is_null());
        if ops.iter().zip(&results).any(|(op, r)| op["op"] == "wait" && failed(r)) {
            return Err(VsctlError::TryAgain);
        }
        if let Some(e) = results.iter().find(|r| failed(r)) {
            let msg = match (e.get("error"), e.get("details")) {
                (Some(Value::String(k)), Some(Value::String(d))) => format!("{k}: {d}"),
                (Some(k), _) => k.to_string(),
                _ => e.to_string(),
            };
            return Err(VsctlError::Transaction(msg));
        }
        // Real UUIDs of inserted rows replace their names in the output.
        for (op, r) in ops.iter().zip(&results).take(n_cmd_ops) {
            if let (Some(name), Some(uuid)) = (
                op.get("uuid-name").and_then(Value::as_str),
                r.get("uuid").and_then(|u| u.get(1)).and_then(Value::as_str),
            ) {
                ctx.out = ctx.out.replace(&format!("<{name}>"), uuid);
            }
        }
        if wait {
            next_cfg = results
                .get(n_cmd_ops + 1)
                .and_then(|r| r.pointer("/rows/0/next_cfg"))
                .and_then(Value::as_i64);
        }
    }
    if let Some(next) = next_cfg {
        wait_for_cur_cfg(&mut conn, &db, &dbname, next, deadline, opts.timeout)?;
    }
    Ok(Output { stdout: ctx.out, stderr: String::new(), code: ctx.exit })
}

fn wait_for_cur_cfg(
    conn: &mut Connection<Stream>,
    db: &str,
    dbname: &str,
    next: i64,
    deadline: Option<Instant>,
    timeout: Option<u64>,
) -> Result<(), VsctlError> {
    let reached = |v: &Value| -> bool {
        v.get("Open_vSwitch").and_then(Value::as_object).is_some_and(|rows| {
            rows.values().any(|r| {
                r.pointer("/new/cur_cfg").and_then(Value::as_i64).is_some_and(|c| c >= next)
            })
        })
    };
    let params =
        vec![json!(dbname), json!("cur_cfg"), json!({"Open_vSwitch": {"columns": ["cur_cfg"]}})];
    let initial = rpc(conn, db, "monitor", params, deadline, timeout)?;
    if reached(&initial) {
        return Ok(());
    }
    loop {
        let msg = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(VsctlError::Timeout(timeout.unwrap_or(0)));
                }
                conn.recv_timeout(left)
            }
            None => conn.recv(),
        };
        match msg {
            Ok(Message::Notification { method, params }) if method == "update" => {
                if params.get(1).is_some_and(reached) {
                    return Ok(());
                }
            }
            Ok(Message::Request { method, id, .. }) if method == "echo" => {
                let _ = conn.send(&Message::reply(json!([]), id));
            }
            Ok(_) => {}
            Err(rvs_jsonrpc::Error::Timeout(_)) => {
                return Err(VsctlError::Timeout(timeout.unwrap_or(0)))
            }
            Err(source) => return Err(VsctlError::Rpc { db: db.to_string(), source }),
        }
    }
}
