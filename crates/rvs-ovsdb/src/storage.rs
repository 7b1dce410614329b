//! Durable storage: a database file that logs committed transactions.
//!
//! # Format
//!
//! The file is OVS's standalone database format (`ovsdb/log.c`,
//! `ovsdb/file.c`), so `ovsdb-tool` can read an rvs database and rvs can
//! read a standalone database that OVS wrote. It is a sequence of records,
//! each a header line followed by a JSON text:
//!
//! ```text
//! OVSDB JSON <length> <sha1>\n
//! <json>\n
//! ```
//!
//! `<length>` is the byte count of `<json>\n` (the newline included) in
//! decimal and `<sha1>` its SHA-1 in lowercase hex. The first record is the
//! schema ([`Schema::to_json`]). Every later record is one committed
//! transaction, an object from table name to an object from row UUID to:
//!
//! - `null`: the row was deleted;
//! - an object of columns: the row was inserted (the columns not at their
//!   default values) or modified (the new values of the changed columns).
//!
//! Members whose names start with `_` are metadata: `_date` (milliseconds
//! since the epoch) and `_comment`. Ephemeral columns, `_uuid` (the key) and
//! `_version` are not stored; replaying gives each row a fresh `_version`.
//!
//! # Durability
//!
//! [`Storage::append`] writes the record and `fdatasync`s the file before it
//! returns, so a transaction acknowledged after it survives a crash or power
//! loss. If the write fails, the file is cut back to where it was; if even
//! that fails, the storage refuses further writes until [`Storage::compact`]
//! rewrites the file.
//!
//! # Recovery
//!
//! A crash in the middle of an append leaves a partial last record.
//! [`Storage::open`] checks each record's header, length and checksum; at
//! the first record that fails them it stops, truncates the file there, logs
//! a warning and reports what it cut in [`Storage::truncation`]. The
//! transactions before it are all there. A record whose checksum is right
//! but whose content does not fit the schema is not a torn write but a bad
//! file: opening fails with [`StorageError::BadRecord`] rather than dropping
//! data silently.
//!
//! # Compaction
//!
//! [`Storage::compact`] writes the schema and the whole database as one
//! record to `<file>.tmp`, `fsync`s it, renames it over the file and
//! `fsync`s the directory, so at every instant either the old or the new file
//! is complete on disk. [`Storage::should_compact`] says when the log has
//! grown enough for that to pay off (see [`CompactPolicy`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::datum::Datum;
use crate::db::{Changes, Database, RowChange};
use crate::row::Row;
use crate::schema::{Schema, SchemaError, TableSchema};
use crate::sha1::sha1_hex;
use crate::uuid::Uuid;

/// The header magic of every record, as OVS writes it.
pub const MAGIC: &str = "OVSDB JSON";

/// The longest header line accepted: the magic, a length and a checksum.
const MAX_HEADER: usize = 128;

/// What can go wrong with a database file.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A system call on the file failed.
    #[error("cannot {action} database file {path}: {source}")]
    Io {
        /// What was being done, e.g. `append to`.
        action: &'static str,
        /// The file.
        path: String,
        /// The system's error.
        source: io::Error,
    },
    /// [`Storage::create`] found a file already there.
    #[error("database file {0} already exists")]
    Exists(String),
    /// The first record is missing or damaged, so there is no schema.
    #[error("database file {path} has no valid schema record: {reason}")]
    NoSchema {
        /// The file.
        path: String,
        /// What is wrong with the first record.
        reason: String,
    },
    /// The first record is not a valid schema.
    #[error("database file {path}: invalid schema in the first record: {source}")]
    Schema {
        /// The file.
        path: String,
        /// Why the schema is invalid.
        source: SchemaError,
    },
    /// A record is intact (its checksum matches) but does not fit the schema.
    #[error("database file {path}: record at byte {offset} cannot be applied: {reason}")]
    BadRecord {
        /// The file.
        path: String,
        /// Where the record starts.
        offset: u64,
        /// What does not fit.
        reason: String,
    },
    /// An earlier write failed and the file could not be cut back.
    #[error("database file {0} refuses writes after a failed write; compact or restart")]
    Poisoned(String),
    /// [`Storage::convert`] found data the new schema cannot hold.
    #[error("database file {path} cannot be converted to schema version {version}: {reason}")]
    Convert {
        /// The file.
        path: String,
        /// The new schema's version.
        version: String,
        /// What does not fit.
        reason: String,
    },
}

/// A damaged tail that [`Storage::open`] cut off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truncation {
    /// The file length kept: where the first damaged record started.
    pub offset: u64,
    /// How many bytes were cut.
    pub dropped: u64,
    /// What was wrong with the first damaged record.
    pub reason: String,
}

/// When [`Storage::should_compact`] says yes: once at least `min_records`
/// transactions were logged since the last snapshot and the file has grown
/// to `growth_factor` times the snapshot's size (OVS's rule of thumb).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompactPolicy {
    /// Transactions since the last snapshot.
    pub min_records: u64,
    /// File size over snapshot size.
    pub growth_factor: u64,
}

impl Default for CompactPolicy {
    fn default() -> Self {
        CompactPolicy { min_records: 100, growth_factor: 4 }
    }
}

/// An open database file, positioned to append.
#[derive(Debug)]
pub struct Storage {
    path: PathBuf,
    file: File,
    size: u64,
    snapshot_size: u64,
    records: u64,
    policy: CompactPolicy,
    truncation: Option<Truncation>,
    poisoned: bool,
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StorageError {
    let path = path.display().to_string();
    move |source| StorageError::Io { action, path, source }
}

/// One record: header line and JSON text.
pub fn encode_record(json: &Value) -> Vec<u8> {
    let mut body = json.to_string().into_bytes();
    body.push(b'\n');
    let mut out = format!("{MAGIC} {} {}\n", body.len(), sha1_hex(&body)).into_bytes();
    out.extend_from_slice(&body);
    out
}

/// Reads the record at `data[pos..]`: `Ok(None)` at the end of the data,
/// `Ok(Some((json, end)))` for an intact record, `Err(reason)` for a damaged one.
fn decode_record(data: &[u8], pos: usize) -> Result<Option<(Value, usize)>, String> {
    if pos == data.len() {
        return Ok(None);
    }
    let rest = &data[pos..];
    let window = &rest[..rest.len().min(MAX_HEADER)];
    let Some(nl) = window.iter().position(|&b| b == b'\n') else {
        return Err(format!("header line incomplete ({} bytes without a newline)", window.len()));
    };
    let header = std::str::from_utf8(&window[..nl]).map_err(|_| "header is not UTF-8")?;
    let fields = header
        .strip_prefix(MAGIC)
        .and_then(|h| h.strip_prefix(' '))
        .ok_or_else(|| format!("header {header:?} does not start with \"{MAGIC}\""))?;
    let (len, sum) = fields
        .split_once(' ')
        .and_then(|(l, s)| Some((l.parse::<usize>().ok()?, s)))
        .filter(|(_, s)| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| format!("header {header:?} lacks a length and a SHA-1"))?;
    let body_start = nl + 1;
    let avail = rest.len() - body_start;
    if len > avail {
        return Err(format!("record claims {len} bytes but only {avail} follow its header"));
    }
    let body = &rest[body_start..body_start + len];
    let actual = sha1_hex(body);
    if !actual.eq_ignore_ascii_case(sum) {
        return Err(format!("SHA-1 mismatch: header says {sum}, contents hash to {actual}"));
    }
    let json: Value =
        serde_json::from_slice(body).map_err(|e| format!("record is not valid JSON: {e}"))?;
    if !json.is_object() {
        return Err("record is not a JSON object".into());
    }
    Ok(Some((json, pos + body_start + len)))
}

/// Whether `column` of `ts` is written to the file.
fn persisted(ts: &TableSchema, column: &str) -> bool {
    ts.column(column).is_some_and(|c| !c.is_implicit() && !c.is_ephemeral())
}

/// The stored form of an inserted row: its persisted non-default columns.
fn insert_json(ts: &TableSchema, row: &Row) -> Value {
    let cols: Map<String, Value> = row
        .iter()
        .filter(|(c, d)| {
            persisted(ts, c) && ts.column(c).is_some_and(|col| **d != Datum::default_for(col.ty()))
        })
        .map(|(c, d)| (c.to_string(), d.to_json()))
        .collect();
    Value::Object(cols)
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The record of one committed transaction, or `None` if it changed nothing
/// that is stored (only ephemeral columns, say).
pub fn transaction_record(
    schema: &Schema,
    changes: &Changes,
    comment: Option<&str>,
) -> Option<Value> {
    let mut rec = Map::new();
    for (tname, rows) in &changes.tables {
        let Some(ts) = schema.table(tname) else { continue };
        let mut out = Map::new();
        for (uuid, change) in rows {
            let v = match change {
                RowChange::Insert(row) => insert_json(ts, row),
                RowChange::Delete(_) => Value::Null,
                RowChange::Modify { new, .. } => {
                    let cols: Map<String, Value> = new
                        .iter()
                        .filter(|(c, _)| persisted(ts, c))
                        .map(|(c, d)| (c.to_string(), d.to_json()))
                        .collect();
                    if cols.is_empty() {
                        continue;
                    }
                    Value::Object(cols)
                }
            };
            out.insert(uuid.to_string(), v);
        }
        if !out.is_empty() {
            rec.insert(tname.clone(), Value::Object(out));
        }
    }
    if rec.is_empty() {
        return None;
    }
    rec.insert("_date".into(), now_ms().into());
    if let Some(c) = comment {
        rec.insert("_comment".into(), c.into());
    }
    Some(Value::Object(rec))
}

/// The record holding all of `db`'s rows, as inserts.
fn snapshot_record(db: &Database) -> Value {
    let mut rec = Map::new();
    for ts in db.schema().tables() {
        let rows = db.table(ts.name()).expect("schema table");
        if rows.is_empty() {
            continue;
        }
        let out: Map<String, Value> =
            rows.iter().map(|(u, r)| (u.to_string(), insert_json(ts, r))).collect();
        rec.insert(ts.name().to_string(), Value::Object(out));
    }
    rec.insert("_date".into(), now_ms().into());
    rec.insert("_comment".into(), "compacted by rvs".into());
    Value::Object(rec)
}

/// Applies one transaction record to `db`.
pub(crate) fn apply_record(db: &mut Database, rec: &Value) -> Result<(), String> {
    let schema = db.schema_arc();
    let Value::Object(tables) = rec else { return Err("record is not an object".into()) };
    for (tname, rows) in tables.iter().filter(|(t, _)| !t.starts_with('_')) {
        let ts = schema.table(tname).ok_or_else(|| format!("no table {tname} in the schema"))?;
        let Value::Object(rows) = rows else {
            return Err(format!("rows of table {tname} are not an object"));
        };
        for (u, row_json) in rows {
            let uuid = Uuid::parse(u).map_err(|e| format!("table {tname}: {e}"))?;
            let table = db.table_mut(tname).expect("schema table");
            if row_json.is_null() {
                if table.remove(&uuid).is_none() {
                    return Err(format!(
                        "deletes row {uuid} of table {tname}, which does not exist"
                    ));
                }
                continue;
            }
            let given = Row::from_json(row_json, ts, None).map_err(|e| e.to_string())?;
            if let Some((c, _)) = given.iter().find(|(c, _)| c.starts_with('_')) {
                return Err(format!("row {uuid} of table {tname} sets column {c}"));
            }
            let row = table.entry(uuid).or_insert_with(|| {
                let mut r = Row::default_for(ts);
                r.set("_uuid", Datum::scalar(uuid));
                r
            });
            for (c, d) in given.iter() {
                row.set(c, d.clone());
            }
            row.set("_version", Datum::scalar(Uuid::new_v4()));
        }
    }
    Ok(())
}

/// `fsync`s the directory holding `path`, so a rename or create in it is durable.
fn sync_dir(path: &Path) -> Result<(), StorageError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err("sync the directory of", path))
}

/// Writes `bytes` to `<path>.tmp`, syncs it, renames it over `path` and
/// syncs the directory.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut f = File::create(&tmp).map_err(io_err("create", &tmp))?;
        f.write_all(bytes).map_err(io_err("write", &tmp))?;
        f.sync_all().map_err(io_err("sync", &tmp))?;
        fs::rename(&tmp, path).map_err(io_err("rename a new version over", path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    sync_dir(path)
}

impl Storage {
    /// Creates a database file at `path` holding `schema` and no rows, and
    /// returns it with the empty database. Fails if `path` exists.
    pub fn create(
        path: impl AsRef<Path>,
        schema: Schema,
    ) -> Result<(Storage, Database), StorageError> {
        let path = path.as_ref();
        if path.exists() {
            return Err(StorageError::Exists(path.display().to_string()));
        }
        let bytes = encode_record(&schema.to_json());
        write_atomically(path, &bytes)?;
        Storage::open(path)
    }

    /// Opens the database file at `path` and replays it. A damaged tail is
    /// cut off (see the module docs).
    pub fn open(path: impl AsRef<Path>) -> Result<(Storage, Database), StorageError> {
        Storage::open_with(path, CompactPolicy::default())
    }

    /// Like [`Storage::open`], compacting by `policy`.
    pub fn open_with(
        path: impl AsRef<Path>,
        policy: CompactPolicy,
    ) -> Result<(Storage, Database), StorageError> {
        let path = path.as_ref();
        let shown = || path.display().to_string();
        let data = fs::read(path).map_err(io_err("read", path))?;
        let (schema_json, mut pos) = match decode_record(&data, 0) {
            Ok(Some(r)) => r,
            Ok(None) => {
                return Err(StorageError::NoSchema {
                    path: shown(),
                    reason: "file is empty".into(),
                })
            }
            Err(reason) => return Err(StorageError::NoSchema { path: shown(), reason }),
        };
        let schema = Schema::from_json(&schema_json)
            .map_err(|source| StorageError::Schema { path: shown(), source })?;
        let mut db = Database::new(schema);
        let mut records: u64 = 0;
        let mut snapshot_size = pos as u64;
        let truncation = loop {
            match decode_record(&data, pos) {
                Ok(None) => break None,
                Ok(Some((rec, end))) => {
                    apply_record(&mut db, &rec).map_err(|reason| StorageError::BadRecord {
                        path: shown(),
                        offset: pos as u64,
                        reason,
                    })?;
                    if records == 0 {
                        snapshot_size = end as u64;
                    }
                    records += 1;
                    pos = end;
                }
                Err(reason) => {
                    break Some(Truncation {
                        offset: pos as u64,
                        dropped: (data.len() - pos) as u64,
                        reason,
                    })
                }
            }
        };
        let file = OpenOptions::new().append(true).open(path).map_err(io_err("open", path))?;
        if let Some(t) = &truncation {
            tracing::warn!(
                "database file {}: cutting {} damaged bytes at offset {} ({}); \
                 every transaction before them is kept",
                path.display(),
                t.dropped,
                t.offset,
                t.reason
            );
            file.set_len(t.offset).map_err(io_err("truncate", path))?;
            file.sync_all().map_err(io_err("sync", path))?;
        }
        let storage = Storage {
            path: path.to_path_buf(),
            file,
            size: pos as u64,
            snapshot_size,
            records: records.saturating_sub(1),
            policy,
            truncation,
            poisoned: false,
        };
        Ok((storage, db))
    }

    /// Converts the database file at `path` to `schema`, as `ovsdb-tool
    /// convert` does: rows of tables the new schema keeps are kept with the
    /// columns it keeps, columns it adds take their defaults, and what it
    /// drops goes. Returns whether the file changed (not when it already
    /// has `schema`). Data the new schema cannot hold (a value outside a
    /// column's new type) fails the conversion and leaves the file as it
    /// was.
    pub fn convert(path: impl AsRef<Path>, schema: &Schema) -> Result<bool, StorageError> {
        let path = path.as_ref();
        let (_, old) = Storage::open(path)?;
        if old.schema().to_json() == schema.to_json() {
            return Ok(false);
        }
        let fail = |reason: String| StorageError::Convert {
            path: path.display().to_string(),
            version: schema.version().unwrap_or("(none)").to_string(),
            reason,
        };
        let mut snapshot = snapshot_record(&old);
        if let Value::Object(tables) = &mut snapshot {
            tables.retain(|t, _| t.starts_with('_') || schema.table(t).is_some());
            for (t, rows) in tables.iter_mut().filter(|(t, _)| !t.starts_with('_')) {
                let ts = schema.table(t).expect("kept above");
                for row in rows.as_object_mut().into_iter().flat_map(|r| r.values_mut()) {
                    if let Value::Object(cols) = row {
                        cols.retain(|c, _| ts.column(c).is_some());
                    }
                }
            }
            tables.insert("_comment".into(), "converted by rvs".into());
        }
        let mut db = Database::new(schema.clone());
        apply_record(&mut db, &snapshot).map_err(fail)?;
        let mut bytes = encode_record(&schema.to_json());
        bytes.extend(encode_record(&snapshot_record(&db)));
        write_atomically(path, &bytes)?;
        Ok(true)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The damaged tail that opening cut off, if any.
    pub fn truncation(&self) -> Option<&Truncation> {
        self.truncation.as_ref()
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Transactions logged since the last snapshot.
    pub fn records_since_snapshot(&self) -> u64 {
        self.records
    }

    /// Logs the transaction that made `changes` to `schema`'s database and
    /// syncs it to disk. Writes nothing if nothing stored changed.
    pub fn append(
        &mut self,
        schema: &Schema,
        changes: &Changes,
        comment: Option<&str>,
    ) -> Result<(), StorageError> {
        let Some(rec) = transaction_record(schema, changes, comment) else { return Ok(()) };
        if self.poisoned {
            return Err(StorageError::Poisoned(self.path.display().to_string()));
        }
        let bytes = encode_record(&rec);
        let written = self.file.write_all(&bytes).and_then(|_| self.file.sync_data());
        if let Err(e) = written {
            let undone = self.file.set_len(self.size).and_then(|_| self.file.sync_data());
            if undone.is_err() {
                self.poisoned = true;
            }
            return Err(StorageError::Io {
                action: "append to",
                path: self.path.display().to_string(),
                source: e,
            });
        }
        self.size += bytes.len() as u64;
        self.records += 1;
        Ok(())
    }

    /// Whether the log has grown enough to compact (see [`CompactPolicy`]).
    pub fn should_compact(&self) -> bool {
        self.records >= self.policy.min_records
            && self.size >= self.snapshot_size.saturating_mul(self.policy.growth_factor)
    }

    /// Rewrites the file as the schema and one snapshot of `db`, atomically.
    pub fn compact(&mut self, db: &Database) -> Result<(), StorageError> {
        let mut bytes = encode_record(&db.schema().to_json());
        bytes.extend(encode_record(&snapshot_record(db)));
        write_atomically(&self.path, &bytes)?;
        self.file =
            OpenOptions::new().append(true).open(&self.path).map_err(io_err("open", &self.path))?;
        self.size = bytes.len() as u64;
        self.snapshot_size = self.size;
        self.records = 0;
        self.poisoned = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn record_format_matches_ovs() {
        let rec = encode_record(&json!({"a": 1}));
        // printf '{"a":1}\n' | sha1sum
        assert_eq!(
            String::from_utf8(rec.clone()).unwrap(),
            "OVSDB JSON 8 8a3d961f7fe8ef7b41d461059884a9461be85059\n{\"a\":1}\n"
        );
        assert_eq!(decode_record(&rec, 0).unwrap(), Some((json!({"a": 1}), rec.len())));
        assert_eq!(decode_record(&rec, rec.len()).unwrap(), None);
    }

    #[test]
    fn convert_keeps_what_the_new_schema_holds() {
        let dir = std::env::temp_dir().join(format!("rvs-convert-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db");
        let schema = |version: &str, tables: Value| {
            Schema::from_json(&json!({"name": "T", "version": version, "tables": tables})).unwrap()
        };
        let v1 = schema(
            "1.0.0",
            json!({"A": {"columns": {"x": {"type": "integer"}, "gone": {"type": "string"}}},
                   "Gone": {"columns": {"z": {"type": "integer"}}}}),
        );
        let u = "6f9c1e1e-5a4b-4c3d-8e2f-0a1b2c3d4e5f";
        let mut bytes = encode_record(&v1.to_json());
        bytes.extend(encode_record(&json!({"A": {u: {"x": 7, "gone": "g"}},
                                           "Gone": {u: {"z": 1}}})));
        fs::write(&path, &bytes).unwrap();

        let v2 = schema(
            "1.1.0",
            json!({"A": {"columns": {"x": {"type": "integer"}, "y": {"type": "string"}}},
                   "New": {"columns": {"n": {"type": "integer"}}}}),
        );
        assert!(Storage::convert(&path, &v2).unwrap());
        assert!(!Storage::convert(&path, &v2).unwrap(), "already converted");
        let (_, db) = Storage::open(&path).unwrap();
        assert_eq!(db.schema().version(), Some("1.1.0"));
        let row = db.row("A", &Uuid::parse(u).unwrap()).unwrap().to_json();
        assert_eq!((row["x"].clone(), row["y"].clone()), (json!(7), json!("")));
        assert!(row.get("gone").is_none());
        assert!(db.table("Gone").is_none() && db.table("New").unwrap().is_empty());

        // A value the new type cannot hold: refused, the file unchanged.
        let v3 = schema("2.0.0", json!({"A": {"columns": {"x": {"type": "string"}}}}));
        let before = fs::read(&path).unwrap();
        let e = Storage::convert(&path, &v3).unwrap_err().to_string();
        assert!(e.contains("cannot be converted to schema version 2.0.0"), "{e}");
        assert_eq!(fs::read(&path).unwrap(), before);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn damaged_records_are_named() {
        let rec = encode_record(&json!({"a": 1}));
        let cut = decode_record(&rec[..rec.len() - 1], 0).unwrap_err();
        assert!(cut.contains("claims 8 bytes but only 7"), "{cut}");
        let mut flipped = rec.clone();
        *flipped.last_mut().unwrap() = b' ';
        assert!(decode_record(&flipped, 0).unwrap_err().contains("SHA-1 mismatch"));
        assert!(decode_record(b"OVSDB JSON 8", 0).unwrap_err().contains("incomplete"));
        assert!(decode_record(b"garbage\n", 0).unwrap_err().contains("does not start"));
    }
}
