//! Database schemas (RFC 7047 section 3.2).
//!
//! A [`Schema`] names the database, its version and its tables; a
//! [`TableSchema`] its columns, `maxRows`, `isRoot` and `indexes`; a
//! [`ColumnSchema`] a column's [`Type`] and whether it is `ephemeral` (not
//! written to disk) and `mutable`. Every table also has the implicit columns
//! `_uuid` (the row's identity) and `_version` (changes on every update), both
//! immutable uuids; they are found by [`TableSchema::column`] but not written
//! by [`Schema::to_json`].
//!
//! Checks follow OVS's `ovsdb-server`: names are `<id>`s and may not start with
//! `_` (reserved), unknown members are rejected, a `refTable` must name a table
//! of the schema, an index lists existing, non-ephemeral columns, and if no
//! table says `"isRoot": true` every table is a root (the rule RFC 7047 keeps
//! for schemas written before `isRoot` existed).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use crate::atom::{is_id, AtomicType};
use crate::types::{BaseType, Type, TypeError};

/// Why a schema is invalid.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The schema file could not be read.
    #[error("cannot read schema {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not JSON.
    #[error("schema is not valid JSON: {0}")]
    Json(String),
    /// A member has the wrong JSON type.
    #[error("{what} must be {expected}, got {got}")]
    Syntax {
        /// What was being parsed.
        what: String,
        /// What was expected.
        expected: &'static str,
        /// The JSON text found.
        got: String,
    },
    /// A required member is missing.
    #[error("{what} is missing required member \"{member}\"")]
    MissingMember {
        /// What was being parsed.
        what: String,
        /// The member.
        member: &'static str,
    },
    /// A member that is not allowed here.
    #[error("member \"{member}\" is not allowed in {what}")]
    UnknownMember {
        /// What was being parsed.
        what: String,
        /// The member.
        member: String,
    },
    /// A name is not an `<id>`.
    #[error("{what} name \"{name}\" is not a valid identifier")]
    BadName {
        /// "database", "table" or "column".
        what: &'static str,
        /// The name.
        name: String,
    },
    /// A name starts with `_`, which is reserved.
    #[error("{what} name \"{name}\" is reserved (names beginning with \"_\" are)")]
    ReservedName {
        /// "table" or "column".
        what: &'static str,
        /// The name.
        name: String,
    },
    /// `version` is not `x.y.z`.
    #[error("schema version \"{0}\" is not in the format x.y.z")]
    BadVersion(String),
    /// A column's type is invalid.
    #[error("column {table}.{column}: {source}")]
    ColumnType {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// What is wrong with its type.
        source: Box<TypeError>,
    },
    /// A table has no columns.
    #[error("table {0} must have at least one column")]
    NoColumns(String),
    /// `maxRows` is not a positive integer.
    #[error("table {table}: maxRows {got} must be a positive integer")]
    BadMaxRows {
        /// The table.
        table: String,
        /// The JSON text found.
        got: String,
    },
    /// An index is malformed.
    #[error("table {table}: index {index}: {reason}")]
    BadIndex {
        /// The table.
        table: String,
        /// The index, as JSON.
        index: String,
        /// What is wrong.
        reason: String,
    },
    /// A `refTable` names a table the schema lacks.
    #[error("column {table}.{column} refers to undefined table {ref_table}")]
    UndefinedRefTable {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The missing table.
        ref_table: String,
    },
}

/// One column of a table.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnSchema {
    name: String,
    ty: Type,
    ephemeral: bool,
    mutable: bool,
}

impl ColumnSchema {
    /// A column; `ephemeral` columns are not persisted, immutable ones are
    /// set only by `insert`.
    pub fn new(name: impl Into<String>, ty: Type, ephemeral: bool, mutable: bool) -> ColumnSchema {
        ColumnSchema { name: name.into(), ty, ephemeral, mutable }
    }

    /// The column's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The column's type.
    pub fn ty(&self) -> &Type {
        &self.ty
    }

    /// Whether the column is not written to disk.
    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral
    }

    /// Whether `update` and `mutate` may change the column.
    pub fn is_mutable(&self) -> bool {
        self.mutable
    }

    /// Whether this is `_uuid` or `_version`.
    pub fn is_implicit(&self) -> bool {
        self.name.starts_with('_')
    }

    fn from_json(table: &str, name: &str, json: &Value) -> Result<ColumnSchema, SchemaError> {
        let what = || format!("column {table}.{name}");
        let obj = as_object(json, &what())?;
        check_members(obj, &["type", "ephemeral", "mutable"], &what())?;
        let ty_json = obj
            .get("type")
            .ok_or_else(|| SchemaError::MissingMember { what: what(), member: "type" })?;
        let ty = Type::from_json(ty_json).map_err(|source| SchemaError::ColumnType {
            table: table.into(),
            column: name.into(),
            source: Box::new(source),
        })?;
        Ok(ColumnSchema {
            name: name.into(),
            ty,
            ephemeral: get_bool(obj, "ephemeral", &what())?.unwrap_or(false),
            mutable: get_bool(obj, "mutable", &what())?.unwrap_or(true),
        })
    }

    /// The JSON form (`{"type": ..., "ephemeral": true, "mutable": false}`,
    /// defaults omitted).
    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("type".into(), self.ty.to_json());
        if self.ephemeral {
            obj.insert("ephemeral".into(), true.into());
        }
        if !self.mutable {
            obj.insert("mutable".into(), false.into());
        }
        Value::Object(obj)
    }
}

/// One table of a schema.
#[derive(Clone, Debug, PartialEq)]
pub struct TableSchema {
    name: String,
    columns: BTreeMap<String, ColumnSchema>,
    max_rows: Option<u64>,
    is_root: bool,
    indexes: Vec<Vec<String>>,
}

impl TableSchema {
    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The column called `name`, including `_uuid` and `_version`.
    pub fn column(&self, name: &str) -> Option<&ColumnSchema> {
        self.columns.get(name)
    }

    /// All columns by name, including `_uuid` and `_version`.
    pub fn columns(&self) -> impl Iterator<Item = &ColumnSchema> {
        self.columns.values()
    }

    /// The columns the schema declares (without `_uuid` and `_version`).
    pub fn user_columns(&self) -> impl Iterator<Item = &ColumnSchema> {
        self.columns.values().filter(|c| !c.is_implicit())
    }

    /// The most rows the table may hold, if limited.
    pub fn max_rows(&self) -> Option<u64> {
        self.max_rows
    }

    /// Whether rows live without being referenced (not garbage collected).
    pub fn is_root(&self) -> bool {
        self.is_root
    }

    /// The indexes: sets of columns whose values together are unique per row.
    pub fn indexes(&self) -> &[Vec<String>] {
        &self.indexes
    }

    fn from_json(name: &str, json: &Value) -> Result<TableSchema, SchemaError> {
        let what = format!("table {name}");
        check_name("table", name)?;
        let obj = as_object(json, &what)?;
        check_members(obj, &["columns", "maxRows", "isRoot", "indexes"], &what)?;
        let cols_json = obj
            .get("columns")
            .ok_or_else(|| SchemaError::MissingMember { what: what.clone(), member: "columns" })?;
        let cols_obj = as_object(cols_json, &format!("{what} columns"))?;
        if cols_obj.is_empty() {
            return Err(SchemaError::NoColumns(name.into()));
        }
        let mut columns = BTreeMap::new();
        for (cname, cjson) in cols_obj {
            check_name("column", cname)?;
            columns.insert(cname.clone(), ColumnSchema::from_json(name, cname, cjson)?);
        }
        let uuid = Type::scalar(BaseType::new(AtomicType::Uuid));
        for implicit in ["_uuid", "_version"] {
            columns
                .insert(implicit.into(), ColumnSchema::new(implicit, uuid.clone(), false, false));
        }
        let max_rows = match obj.get("maxRows") {
            None => None,
            Some(v) => Some(v.as_u64().filter(|&n| n >= 1).ok_or_else(|| {
                SchemaError::BadMaxRows { table: name.into(), got: v.to_string() }
            })?),
        };
        let is_root = get_bool(obj, "isRoot", &what)?.unwrap_or(false);
        let mut indexes = Vec::new();
        if let Some(ij) = obj.get("indexes") {
            let Value::Array(list) = ij else {
                return Err(SchemaError::Syntax {
                    what: format!("{what} indexes"),
                    expected: "an array",
                    got: ij.to_string(),
                });
            };
            for index in list {
                let bad = |reason: String| SchemaError::BadIndex {
                    table: name.into(),
                    index: index.to_string(),
                    reason,
                };
                let Value::Array(cols) = index else {
                    return Err(bad("must be an array of column names".into()));
                };
                if cols.is_empty() {
                    return Err(bad("must have at least one column".into()));
                }
                let mut names: Vec<String> = Vec::new();
                for c in cols {
                    let Value::String(c) = c else {
                        return Err(bad(format!("{c} is not a column name")));
                    };
                    match columns.get(c) {
                        None => return Err(bad(format!("no column {c} in table {name}"))),
                        Some(col) if col.ephemeral => {
                            return Err(bad(format!("ephemeral column {c} may not be indexed")))
                        }
                        Some(_) => {}
                    }
                    if names.contains(c) {
                        return Err(bad(format!("column {c} is listed twice")));
                    }
                    names.push(c.clone());
                }
                indexes.push(names);
            }
        }
        Ok(TableSchema { name: name.into(), columns, max_rows, is_root, indexes })
    }

    fn to_json(&self, default_is_root: bool) -> Value {
        let mut obj = Map::new();
        let cols: Map<String, Value> =
            self.user_columns().map(|c| (c.name.clone(), c.to_json())).collect();
        obj.insert("columns".into(), Value::Object(cols));
        if let Some(m) = self.max_rows {
            obj.insert("maxRows".into(), m.into());
        }
        if self.is_root != default_is_root {
            obj.insert("isRoot".into(), self.is_root.into());
        }
        if !self.indexes.is_empty() {
            obj.insert(
                "indexes".into(),
                Value::Array(
                    self.indexes
                        .iter()
                        .map(|i| Value::Array(i.iter().map(|c| c.clone().into()).collect()))
                        .collect(),
                ),
            );
        }
        Value::Object(obj)
    }
}

/// A database schema.
#[derive(Clone, Debug, PartialEq)]
pub struct Schema {
    name: String,
    version: Option<String>,
    cksum: Option<String>,
    tables: BTreeMap<String, TableSchema>,
}

impl Schema {
    /// The database's name, e.g. `Open_vSwitch`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The schema version `x.y.z`, if given.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The checksum the schema carries, if any (not verified: OVS does not
    /// either; it is a hint to schema authors).
    pub fn cksum(&self) -> Option<&str> {
        self.cksum.as_deref()
    }

    /// The table called `name`.
    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.tables.get(name)
    }

    /// All tables, by name.
    pub fn tables(&self) -> impl Iterator<Item = &TableSchema> {
        self.tables.values()
    }

    /// Reads and parses a schema file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Schema, SchemaError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|source| SchemaError::Io { path: path.display().to_string(), source })?;
        Schema::parse_str(&text)
    }

    /// Parses schema JSON text.
    pub fn parse_str(text: &str) -> Result<Schema, SchemaError> {
        let json: Value =
            serde_json::from_str(text).map_err(|e| SchemaError::Json(e.to_string()))?;
        Schema::from_json(&json)
    }

    /// Parses a `<database-schema>` JSON object.
    pub fn from_json(json: &Value) -> Result<Schema, SchemaError> {
        let what = "database schema";
        let obj = as_object(json, what)?;
        check_members(obj, &["name", "version", "cksum", "tables"], what)?;
        let name = get_str(obj, "name", what)?
            .ok_or_else(|| SchemaError::MissingMember { what: what.into(), member: "name" })?;
        if !is_id(&name) {
            return Err(SchemaError::BadName { what: "database", name });
        }
        let version = get_str(obj, "version", what)?;
        if let Some(v) = &version {
            if !is_version(v) {
                return Err(SchemaError::BadVersion(v.clone()));
            }
        }
        let cksum = get_str(obj, "cksum", what)?;
        let tables_json = obj
            .get("tables")
            .ok_or_else(|| SchemaError::MissingMember { what: what.into(), member: "tables" })?;
        let mut tables = BTreeMap::new();
        for (tname, tjson) in as_object(tables_json, "tables")? {
            tables.insert(tname.clone(), TableSchema::from_json(tname, tjson)?);
        }
        for t in tables.values() {
            for c in t.columns() {
                let bases = std::iter::once(c.ty.key()).chain(c.ty.value());
                for b in bases {
                    if let Some(r) = b.ref_table() {
                        if !tables.contains_key(r) {
                            return Err(SchemaError::UndefinedRefTable {
                                table: t.name.clone(),
                                column: c.name.clone(),
                                ref_table: r.into(),
                            });
                        }
                    }
                }
            }
        }
        if !tables.values().any(|t| t.is_root) {
            for t in tables.values_mut() {
                t.is_root = true;
            }
        }
        Ok(Schema { name, version, cksum, tables })
    }

    /// The JSON form (what `get_schema` returns).
    pub fn to_json(&self) -> Value {
        let default_is_root = self.tables.values().all(|t| t.is_root);
        let mut obj = Map::new();
        obj.insert("name".into(), self.name.clone().into());
        if let Some(v) = &self.version {
            obj.insert("version".into(), v.clone().into());
        }
        if let Some(c) = &self.cksum {
            obj.insert("cksum".into(), c.clone().into());
        }
        let tables: Map<String, Value> =
            self.tables.iter().map(|(n, t)| (n.clone(), t.to_json(default_is_root))).collect();
        obj.insert("tables".into(), Value::Object(tables));
        Value::Object(obj)
    }
}

fn is_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()))
}

fn check_name(what: &'static str, name: &str) -> Result<(), SchemaError> {
    if !is_id(name) {
        return Err(SchemaError::BadName { what, name: name.into() });
    }
    if name.starts_with('_') {
        return Err(SchemaError::ReservedName { what, name: name.into() });
    }
    Ok(())
}

fn as_object<'a>(json: &'a Value, what: &str) -> Result<&'a Map<String, Value>, SchemaError> {
    json.as_object().ok_or_else(|| SchemaError::Syntax {
        what: what.into(),
        expected: "an object",
        got: json.to_string(),
    })
}

fn check_members(
    obj: &Map<String, Value>,
    allowed: &[&str],
    what: &str,
) -> Result<(), SchemaError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(SchemaError::UnknownMember { what: what.into(), member: k.clone() }),
        None => Ok(()),
    }
}

fn get_bool(obj: &Map<String, Value>, key: &str, what: &str) -> Result<Option<bool>, SchemaError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(SchemaError::Syntax {
            what: format!("{what} {key}"),
            expected: "a boolean",
            got: v.to_string(),
        }),
    }
}

fn get_str(obj: &Map<String, Value>, key: &str, what: &str) -> Result<Option<String>, SchemaError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(SchemaError::Syntax {
            what: format!("{what} {key}"),
            expected: "a string",
            got: v.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests;
