//! OVSDB (RFC 7047) for rvs.
//!
//! This crate holds the data model that the embedded OVSDB server and its
//! clients share:
//!
//! - [`Uuid`]: row identities, parsed and printed in the usual 8-4-4-4-12 form;
//! - [`Atom`] and [`AtomicType`]: scalars (integer, real, boolean, string,
//!   uuid), with [`SymbolTable`] resolving a transaction's `["named-uuid", ..]`;
//! - [`BaseType`] and [`Type`]: column types with their constraints;
//! - [`Datum`]: a column value, a sorted set or map of atoms, read from and
//!   written to RFC 7047's JSON notation with every constraint checked;
//! - [`Schema`], [`TableSchema`], [`ColumnSchema`]: a database schema with its
//!   implicit `_uuid` and `_version` columns;
//! - [`Row`]: a map from column name to [`Datum`], the unit later layers
//!   (transactions, storage, monitors) move around;
//! - [`Database`]: a schema and its tables of rows, in memory;
//! - [`transact`]/[`transact_with`]: RFC 7047 transactions over a
//!   [`Database`], atomic, with [`Condition`]s, [`Mutation`]s and the commit
//!   checks of [`commit`] (referential integrity, garbage collection, weak
//!   references, `maxRows`, indexes), returning the RFC's result array and a
//!   [`Changes`] summary for monitors and storage;
//! - [`Storage`]: the database file, a log of committed transactions in
//!   OVS's format, replayed on open (a torn tail is cut off) and compacted;
//! - [`Server`]: the OVSDB server, JSON-RPC over Unix and TCP sockets, with
//!   [`monitor`]s and [`lock`]s, embeddable in a daemon or run on its own
//!   (`rvs-ovsdb-server`).
//!
//! Parsing never panics on bad input: every failure is an error that names the
//! offending thing and value, e.g. `value 70000 is out of range 1 to 65279`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod atom;
pub mod commit;
pub mod condition;
pub mod datum;
pub mod db;
pub mod error;
pub mod lock;
pub mod monitor;
pub mod mutation;
pub mod row;
pub mod schema;
pub mod server;
mod session;
mod sha1;
pub mod storage;
pub mod transaction;
pub mod types;
pub mod uuid;

pub use atom::{Atom, AtomError, AtomicType, Symbol, SymbolTable};
pub use condition::{Condition, Function};
pub use datum::{Datum, DatumError};
pub use db::{Changes, Database, RowChange, Table};
pub use error::{ErrorKind, TxnError};
pub use mutation::{Mutation, Mutator};
pub use row::{Row, RowError};
pub use schema::{ColumnSchema, Schema, SchemaError, TableSchema};
pub use server::{Server, ServerError};
pub use storage::{CompactPolicy, Storage, StorageError, Truncation};
pub use transaction::{transact, transact_with, Outcome};
pub use types::{BaseType, Constraints, Max, RefType, Type, TypeError};
pub use uuid::{Uuid, UuidParseError};
