//! An in-memory database: a schema and, per table, rows keyed by UUID.
//!
//! # Tentative copies
//!
//! A transaction runs against a clone of the [`Database`] and, if every
//! operation and the commit checks succeed, replaces the original with it;
//! otherwise the clone is dropped and the database is untouched, which is
//! what makes transactions atomic. Cloning is cheap: each table sits behind
//! an [`Arc`] and is copied (by [`Arc::make_mut`]) only when the transaction
//! first writes to it, so a transaction costs a copy of the tables it
//! touches, not of the whole database. Comparing the `Arc`s afterwards also
//! tells the commit which tables changed.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::row::Row;
use crate::schema::Schema;
use crate::uuid::Uuid;

/// The rows of one table, by `_uuid`. Every row has every column of its
/// table set, `_uuid` and `_version` included.
pub type Table = BTreeMap<Uuid, Row>;

/// A database: a schema and its tables' rows.
#[derive(Clone, Debug)]
pub struct Database {
    schema: Arc<Schema>,
    tables: BTreeMap<String, Arc<Table>>,
}

impl Database {
    /// An empty database with `schema`'s tables.
    pub fn new(schema: Schema) -> Database {
        let tables = schema.tables().map(|t| (t.name().to_string(), Arc::default())).collect();
        Database { schema: Arc::new(schema), tables }
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The schema, shared.
    pub(crate) fn schema_arc(&self) -> Arc<Schema> {
        self.schema.clone()
    }

    /// The rows of `table`, if the schema has it.
    pub fn table(&self, table: &str) -> Option<&Table> {
        self.tables.get(table).map(|t| &**t)
    }

    /// The row `uuid` of `table`.
    pub fn row(&self, table: &str, uuid: &Uuid) -> Option<&Row> {
        self.table(table)?.get(uuid)
    }

    /// The rows of `table` for writing, copying the table first if a clone
    /// of this database shares it.
    pub(crate) fn table_mut(&mut self, table: &str) -> Option<&mut Table> {
        self.tables.get_mut(table).map(Arc::make_mut)
    }

    /// Whether `table` is the same (shared, unwritten) table in both databases.
    pub(crate) fn shares_table(&self, other: &Database, table: &str) -> bool {
        match (self.tables.get(table), other.tables.get(table)) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// The whole database as JSON, `{"<table>": {"<uuid>": <row>, ...}, ...}`,
    /// tables and rows in sorted order, so two dumps compare byte for byte.
    pub fn to_json(&self) -> Value {
        let tables: Map<String, Value> = self
            .tables
            .iter()
            .map(|(name, rows)| {
                let rows: Map<String, Value> =
                    rows.iter().map(|(u, r)| (u.to_string(), r.to_json())).collect();
                (name.clone(), Value::Object(rows))
            })
            .collect();
        Value::Object(tables)
    }
}

/// What happened to one row in a committed transaction.
#[derive(Clone, Debug, PartialEq)]
pub enum RowChange {
    /// The row was inserted; all its columns.
    Insert(Row),
    /// The row was deleted (explicitly or as garbage); all its old columns.
    Delete(Row),
    /// The row was modified: the changed columns (`_version` included) with
    /// their old and new values.
    Modify {
        /// The old values of the changed columns.
        old: Row,
        /// The new values of the changed columns.
        new: Row,
    },
}

/// What a committed transaction changed, per table and row, for monitors
/// and storage. Tables without changes are absent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes {
    /// Table name to row UUID to change.
    pub tables: BTreeMap<String, BTreeMap<Uuid, RowChange>>,
}

impl Changes {
    /// Whether the transaction changed nothing.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// The change to row `uuid` of `table`, if any.
    pub fn row(&self, table: &str, uuid: &Uuid) -> Option<&RowChange> {
        self.tables.get(table)?.get(uuid)
    }
}
